//! The guest's logs read offline. Journal files are real: written by systemd-journal-remote
//! from export-format input (compact and regular files, zstd-compressed large fields, binary
//! and repeated fields, several boots and files), then compared with `journalctl --directory
//! -o json --all` entry for entry; truncated and corrupted copies must end cleanly (no crash, no
//! hang); text logs include a gzip-rotated file made by `gzip`. Needs systemd-journal-remote
//! and journalctl (skipped with a message otherwise; mandatory under
//! RESCUE_INSPECT_REQUIRE_PEERS=1).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const REMOTE: &str = "/lib/systemd/systemd-journal-remote";
const MACHINE: &str = "3d1219c7c4c5404aaa1f6d2a48adfda4";
pub const BOOT1: &str = "11111111111111111111111111111111";
pub const BOOT2: &str = "22222222222222222222222222222222";
pub const BOOT3: &str = "33333333333333333333333333333333";

fn required() -> bool {
    std::env::var("RESCUE_INSPECT_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

fn peers() -> bool {
    let ok = Path::new(REMOTE).exists()
        && Command::new("journalctl")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !required(),
            "systemd-journal-remote and journalctl are required (RESCUE_INSPECT_REQUIRE_PEERS=1)"
        );
        eprintln!("skipped: needs {REMOTE} (package systemd-journal-remote) and journalctl");
    }
    ok
}

/// One export-format entry.
pub struct Ent<'a> {
    pub usec: u64,
    pub mono: u64,
    pub boot: &'a str,
    pub fields: Vec<(&'a str, Vec<u8>)>,
}

pub fn export(entries: &[Ent]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(
            format!(
                "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID={}\n",
                e.usec, e.mono, e.boot
            )
            .as_bytes(),
        );
        for (k, v) in &e.fields {
            if v.contains(&b'\n') || v.iter().any(|b| *b < 0x20 && *b != b'\t') {
                // The export format's binary-safe form.
                out.extend_from_slice(k.as_bytes());
                out.push(b'\n');
                out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                out.extend_from_slice(v);
                out.push(b'\n');
            } else {
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                out.extend_from_slice(v);
                out.push(b'\n');
            }
        }
        out.push(b'\n');
    }
    out
}

/// A journal file written by systemd-journal-remote.
pub fn write_journal(out: &Path, entries: &[Ent], compact: bool) {
    let _ = std::fs::remove_file(out);
    let mut child = Command::new(REMOTE)
        .arg("-o")
        .arg(out)
        .arg("-")
        .env("SYSTEMD_JOURNAL_COMPACT", if compact { "1" } else { "0" })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-journal-remote runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&export(entries))
        .unwrap();
    check(child.wait_with_output().unwrap(), "systemd-journal-remote");
}

pub fn msg<'a>(usec: u64, mono: u64, boot: &'a str, ident: &'a str, text: &str) -> Ent<'a> {
    Ent {
        usec,
        mono,
        boot,
        fields: vec![
            ("_HOSTNAME", b"web1".to_vec()),
            ("SYSLOG_IDENTIFIER", ident.as_bytes().to_vec()),
            ("PRIORITY", b"6".to_vec()),
            ("MESSAGE", text.as_bytes().to_vec()),
        ],
    }
}

const T0: u64 = 1_700_000_000_000_000;

/// Two files: a compact one with boots 1 and 2, a regular one with boot 3 (big, binary and
/// repeated fields).
fn journal_dir(dir: &Path) -> PathBuf {
    let jdir = dir.join("var/log/journal").join(MACHINE);
    std::fs::create_dir_all(&jdir).unwrap();
    let mut a = Vec::new();
    for i in 0..300u64 {
        let boot = if i < 150 { BOOT1 } else { BOOT2 };
        let mut e = msg(
            T0 + i * 1_000_000,
            1_000 + i,
            boot,
            "app",
            &format!("line {i}"),
        );
        if i % 7 == 0 {
            e.fields.push(("_SYSTEMD_UNIT", b"ssh.service".to_vec()));
        }
        a.push(e);
    }
    write_journal(&jdir.join("system@aaaa.journal"), &a, true);
    let mut b = Vec::new();
    for i in 0..50u64 {
        let mut e = msg(
            T0 + 400_000_000 + i * 1_000_000,
            500 + i,
            BOOT3,
            "sshd",
            &format!("three {i}"),
        );
        if i == 3 {
            e.fields.push(("BIG", vec![b'x'; 20_000]));
        }
        if i == 4 {
            e.fields.push(("BIN", b"a\x01b\nc".to_vec()));
            e.fields.push(("TAG", b"one".to_vec()));
            e.fields.push(("TAG", b"two".to_vec()));
        }
        b.push(e);
    }
    write_journal(&jdir.join("system.journal"), &b, false);
    jdir
}

/// A JSON value as journalctl and we print it → the list of byte values.
fn values(v: &serde_json::Value) -> Vec<Vec<u8>> {
    let one = |v: &serde_json::Value| -> Vec<u8> {
        match v {
            serde_json::Value::String(s) => s.as_bytes().to_vec(),
            serde_json::Value::Array(a) => a.iter().map(|n| n.as_u64().unwrap() as u8).collect(),
            other => panic!("unexpected value {other}"),
        }
    };
    match v {
        serde_json::Value::Array(a) if a.first().is_some_and(|x| !x.is_number()) => {
            let mut out: Vec<Vec<u8>> = a.iter().map(one).collect();
            out.sort();
            out
        }
        other => vec![one(other)],
    }
}

type Norm = (
    String,
    u64,
    std::collections::BTreeMap<String, Vec<Vec<u8>>>,
);

fn journalctl_entries(dir: &Path) -> Vec<Norm> {
    let o = check(
        Command::new("journalctl")
            .arg("--directory")
            .arg(dir)
            .args(["-o", "json", "--all", "--no-pager"])
            .output()
            .unwrap(),
        "journalctl",
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let m = v.as_object().unwrap();
            let fields = m
                .iter()
                .filter(|(k, _)| !k.starts_with("__") && *k != "_BOOT_ID")
                .map(|(k, v)| (k.clone(), values(v)))
                .collect();
            (
                m["__CURSOR"].as_str().unwrap().to_string(),
                m["__REALTIME_TIMESTAMP"].as_str().unwrap().parse().unwrap(),
                fields,
            )
        })
        .collect()
}

fn our_entries(target: &Path, extra: &[&str]) -> (Vec<Norm>, String) {
    let (code, out, err) = run_bounded(
        &[
            &"logs",
            &target,
            &"--source",
            &"journal",
            &"--format",
            &"json",
        ],
        extra,
    );
    assert_eq!(code, 0, "{err}");
    let v = out
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let fields = v["fields"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| *k != "_BOOT_ID")
                .map(|(k, v)| (k.clone(), values(v)))
                .collect();
            (
                v["source"]["cursor"].as_str().unwrap().to_string(),
                v["realtime_usec"].as_u64().unwrap(),
                fields,
            )
        })
        .collect();
    (v, err)
}

/// Runs the binary with a 60 s limit: a hang fails the test instead of stalling it.
fn run_bounded(args: &[&dyn AsRef<std::ffi::OsStr>], extra: &[&str]) -> (i32, String, String) {
    let mut child = bin()
        .args(args.iter().map(|a| a.as_ref()))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut s).ok();
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut s).ok();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("rescue-inspect hung: {:?}", extra);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
    )
}

fn image_of(tree: &Path, img: &Path) {
    std::fs::write(tree.join("etc/os-release"), "ID=debian\nVERSION_ID=12\n").unwrap();
    let _ = std::fs::remove_file(img);
    check(
        Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-d"])
            .arg(tree)
            .arg(img)
            .arg("64M")
            .output()
            .unwrap(),
        "mke2fs",
    );
}

#[test]
fn journal_matches_journalctl_entry_for_entry() {
    if !peers() {
        return;
    }
    let t = tempdir();
    let tree = t.path().join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    let jdir = journal_dir(&tree);
    let img = t.path().join("logs.img");
    image_of(&tree, &img);
    let theirs = journalctl_entries(&jdir);
    assert_eq!(theirs.len(), 350);
    // From the ext4 image (own reader) and from a directory target.
    for target in [img.as_path(), tree.as_path()] {
        let (ours, err) = our_entries(target, &[]);
        assert!(err.is_empty(), "{err}");
        assert_eq!(ours.len(), theirs.len());
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a, b);
        }
    }
    // The big field was compressed (zstd in Debian 12's build) and read back.
    let big = theirs.iter().find(|e| e.2.contains_key("BIG")).unwrap();
    assert_eq!(big.2["BIG"][0].len(), 20_000);
    // --boot, --unit and --grep select what journalctl selects.
    for (ours_args, theirs_args) in [
        (vec!["-b", "-1"], vec!["-b", "-1"]),
        (vec!["-b", "1"], vec!["-b", "1"]),
        (vec!["-b", BOOT2], vec!["-b", BOOT2]),
        (vec!["-u", "ssh"], vec!["-u", "ssh"]),
        (vec!["-g", "line 1[0-9]$"], vec!["-g", "line 1[0-9]$"]),
    ] {
        let (ours, _) = our_entries(&img, &ours_args);
        let o = check(
            Command::new("journalctl")
                .arg("--directory")
                .arg(&jdir)
                .args(["-o", "json", "--all", "--no-pager"])
                .args(&theirs_args)
                .output()
                .unwrap(),
            "journalctl",
        );
        let cursors: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["__CURSOR"].as_str().unwrap().to_string()
            })
            .collect();
        let mine: Vec<String> = ours.iter().map(|e| e.0.clone()).collect();
        assert!(!mine.is_empty(), "{ours_args:?}");
        assert_eq!(mine, cursors, "{ours_args:?}");
    }
    let (code, out, _) = run(&[&"logs", &img, &"--list-boots"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.lines().last().unwrap().contains(BOOT3), "{out}");
}

/// A tiny deterministic generator for corruption offsets.
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn truncated_and_corrupted_journals_end_cleanly() {
    if !peers() {
        return;
    }
    let t = tempdir();
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("etc")).unwrap();
    let jdir = journal_dir(&src);
    let full = std::fs::read(jdir.join("system@aaaa.journal")).unwrap();
    let (all, _) = our_entries(&src, &[]);
    // Where the objects end (tail object offset + its size), to cut inside them.
    let tail = u64::from_le_bytes(full[136..144].try_into().unwrap()) as usize;
    let mut seed = 7u64;
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for k in 1..=12 {
        let cut = 300 + (tail - 300) * k / 12;
        cases.push((format!("cut at {cut}"), full[..cut].to_vec()));
    }
    for k in 0..24 {
        let mut b = full.clone();
        for _ in 0..(1 + k % 5) {
            let at = 100 + (lcg(&mut seed) as usize) % (tail + 64 - 100);
            b[at] ^= (lcg(&mut seed) as u8) | 1;
        }
        cases.push((format!("corrupt {k}"), b));
    }
    // Garbage after the last object (stale bytes where the file was preallocated).
    let mut stale = full.clone();
    for (i, b) in stale.iter_mut().enumerate().skip(tail + 200) {
        *b = (i * 7 % 251) as u8;
    }
    cases.push(("stale tail".into(), stale));
    for (what, bytes) in &cases {
        let d = t.path().join("case");
        let _ = std::fs::remove_dir_all(&d);
        let j = d.join("var/log/journal").join(MACHINE);
        std::fs::create_dir_all(&j).unwrap();
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(j.join("system@aaaa.journal"), bytes).unwrap();
        let (code, out, err) = run_bounded(
            &[&"logs", &d, &"--source", &"journal", &"--format", &"json"],
            &[],
        );
        assert!(code == 0 || code == 2, "{what}: exit {code}: {err}");
        if what.starts_with("cut") {
            // A file cut off reads up to the last entry that is there, and says where it stopped.
            let n = out.lines().count();
            let prefix: Vec<&String> = all.iter().take(n).map(|e| &e.0).collect();
            let got: Vec<String> = out
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["source"]["cursor"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            assert_eq!(got.iter().collect::<Vec<_>>(), prefix, "{what}");
            if n < 300 {
                assert!(
                    err.contains("stopped") || err.contains("skipped") || err.contains("not read"),
                    "{what}: {err}"
                );
            }
        }
        // check reads the same logs without failing.
        let (code, _, err) = run_bounded(&[&"check", &d, &"--format", &"json"], &[]);
        assert!(code == 0 || code == 1, "{what}: check exit {code}: {err}");
    }
}

#[test]
fn text_logs_rotated_and_checked() {
    let t = tempdir();
    let d = t.path().join("guest");
    std::fs::create_dir_all(d.join("var/log")).unwrap();
    std::fs::create_dir_all(d.join("etc")).unwrap();
    std::fs::write(d.join("etc/os-release"), "ID=debian\nVERSION_ID=12\n").unwrap();
    let log = d.join("var/log");
    std::fs::write(
        log.join("syslog.2"),
        "2023-11-10T08:00:00.000000+00:00 web1 kernel: [    0.000000] Linux version 6.1.0-13-amd64\n2023-11-10T08:00:05.000000+00:00 web1 sshd[400]: Server listening on 0.0.0.0 port 22.\n",
    )
    .unwrap();
    check(
        Command::new("gzip")
            .arg(log.join("syslog.2"))
            .output()
            .expect("gzip runs"),
        "gzip",
    );
    std::fs::write(
        log.join("syslog.1"),
        "2023-11-14T09:00:00.000000+00:00 web1 kernel: [    0.000000] Linux version 6.1.0-13-amd64\n2023-11-14T09:00:10.000000+00:00 web1 systemd[1]: Starting ssh.service - OpenBSD Secure Shell server...\n",
    )
    .unwrap();
    std::fs::write(
        log.join("syslog"),
        "2023-11-14T09:00:11.000000+00:00 web1 sshd[512]: /etc/ssh/sshd_config: line 7: Bad configuration option: PermitRootLogn\n\
2023-11-14T09:00:11.000000+00:00 web1 sshd[512]: /etc/ssh/sshd_config: terminating, 1 bad configuration options\n\
2023-11-14T09:00:11.500000+00:00 web1 systemd[1]: ssh.service: Main process exited, code=exited, status=255/EXCEPTION\n\
2023-11-14T09:00:11.500000+00:00 web1 systemd[1]: ssh.service: Failed with result 'exit-code'.\n\
2023-11-14T09:00:11.600000+00:00 web1 systemd[1]: Failed to start ssh.service - OpenBSD Secure Shell server.\n\
2023-11-14T09:30:00.000000+00:00 web1 kernel: [ 1800.1] Out of memory: Killed process 2211 (java) total-vm:8000000kB, anon-rss:7000000kB\n\
2023-11-14T09:31:00.000000+00:00 web1 kernel: [ 1860.1] Out of memory: Killed process 2300 (java) total-vm:8000000kB, anon-rss:7000000kB\n\
2023-11-14T09:40:00.000000+00:00 web1 rsyslogd: file '/var/log/syslog': write error - OS error: No space left on device\n\
2023-11-14T09:41:00.000000+00:00 web1 kernel: [ 2460.1] EXT4-fs error (device vda1): ext4_lookup:1855: inode #2: comm ls: deleted inode referenced: 12\n\
2023-11-14T09:42:00.000000+00:00 web1 kernel: [ 2520.1] blk_update_request: I/O error, dev vda, sector 12345 op 0x0:(READ) flags 0x0\n",
    )
    .unwrap();
    std::fs::write(
        log.join("auth.log"),
        "Nov 14 09:20:00 web1 sshd[900]: Authentication refused: bad ownership or modes for directory /home/admin/.ssh\n",
    )
    .unwrap();
    std::fs::write(
        log.join("cloud-init.log"),
        "2023-11-14 09:00:20,100 - util.py[WARNING]: Failed running /var/lib/cloud/scripts/per-boot/setup.sh [1]\n",
    )
    .unwrap();
    // Written on Nov 14 2023 (the auth.log line has no year).
    for f in ["syslog", "auth.log"] {
        check(
            Command::new("touch")
                .args(["-d", "2023-11-14 10:00:00 UTC"])
                .arg(log.join(f))
                .output()
                .unwrap(),
            "touch",
        );
    }
    let (code, out, err) = run(&[&"logs", &d]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // Rotations in order, the gzip-rotated one first, with boot boundaries.
    assert!(
        lines[0].starts_with("-- Boot (text logs) (-1), from 2023-11-10 08:00:00"),
        "{out}"
    );
    assert!(lines[2].contains("Server listening"), "{out}");
    assert!(
        lines[3].starts_with("-- Boot (text logs) (0), from 2023-11-14 09:00:00"),
        "{out}"
    );
    let ix = |s: &str| {
        lines
            .iter()
            .position(|l| l.contains(s))
            .unwrap_or_else(|| panic!("{s}: {out}"))
    };
    assert!(ix("Bad configuration option") < ix("setup.sh"));
    assert!(ix("setup.sh") < ix("Authentication refused"));
    assert!(ix("Authentication refused") < ix("Killed process 2211"));
    let (_, out, _) = run(&[&"logs", &d, &"-b", &"-1"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    let (_, out, _) = run(&[
        &"logs",
        &d,
        &"-u",
        &"ssh",
        &"--since",
        &"2023-11-14 09:00:11",
    ]);
    // sshd's own lines (auth.log's too) and systemd's about ssh.service.
    assert_eq!(
        out.lines().filter(|l| !l.starts_with("--")).count(),
        6,
        "{out}"
    );

    let (_, r) = check_json(&d, &[]);
    let one = |id: &str| {
        let f = with(id, &r);
        assert!(!f.is_empty(), "{id} missing: {r}");
        f[0].clone()
    };
    let f = one("LOG-001");
    assert_eq!(f["path"], "/var/log/syslog");
    assert!(
        f["detail"].as_str().unwrap().contains("2023-11-14 09:00:1"),
        "{f}"
    );
    assert!(
        with("LOG-001", &r)
            .iter()
            .any(|f| f["fix"].as_str().unwrap().contains("sshd -t")),
        "{r}"
    );
    let f = one("LOG-002");
    assert_eq!(f["path"], "/var/log/auth.log");
    assert_eq!(f["line"], 1);
    assert_eq!(f["fix"], "chmod go-w /mnt/rescue/home/admin/.ssh");
    assert!(
        f["detail"]
            .as_str()
            .unwrap()
            .contains("2023-11-14 09:20:00 UTC"),
        "{f}"
    );
    let f = one("LOG-010");
    assert!(
        f["title"].as_str().unwrap().contains("killed 2 processes"),
        "{f}"
    );
    assert!(f["title"].as_str().unwrap().contains("java ×2"), "{f}");
    assert!(
        f["detail"]
            .as_str()
            .unwrap()
            .contains("Killed process 2300 (java)"),
        "{f}"
    );
    assert_eq!(f["line"], 7);
    let f = one("LOG-020");
    assert!(
        f["detail"]
            .as_str()
            .unwrap()
            .contains("2023-11-14 09:40:00 UTC, /var/log/syslog:8"),
        "{f}"
    );
    one("LOG-021");
    one("LOG-022");
    one("LOG-032");
    let f = one("LOG-033");
    assert_eq!(f["path"], "/var/log/cloud-init.log");
    let f = one("LOG-040");
    assert!(
        f["title"].as_str().unwrap().contains("2023-11-14 09:42:00"),
        "{f}"
    );
    assert!(f["title"].as_str().unwrap().contains("no shutdown"), "{f}");
    // Nothing from the earlier boot, and none of it is critical.
    assert!(!r.to_string().contains("2023-11-10"), "{r}");
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"].as_str().unwrap().starts_with("LOG"))
            .all(|f| f["severity"] != "critical")
    );
}

#[test]
fn journal_findings_quote_entry_and_cursor() {
    if !peers() {
        return;
    }
    let t = tempdir();
    let tree = t.path().join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    let jdir = tree.join("var/log/journal").join(MACHINE);
    std::fs::create_dir_all(&jdir).unwrap();
    let mut e = vec![
        msg(T0, 10, BOOT1, "kernel", "Linux version 6.1.0-13-amd64"),
        msg(
            T0 + 1_000_000,
            20,
            BOOT1,
            "sshd",
            "Server listening on 0.0.0.0 port 22.",
        ),
        msg(
            T0 + 100_000_000,
            5,
            BOOT2,
            "kernel",
            "Linux version 6.1.0-13-amd64",
        ),
        msg(
            T0 + 101_000_000,
            6,
            BOOT2,
            "sshd",
            "sshd: no hostkeys available -- exiting.",
        ),
        msg(
            T0 + 102_000_000,
            7,
            BOOT2,
            "kernel",
            "Out of memory: Killed process 77 (postgres) total-vm:1kB",
        ),
        msg(
            T0 + 103_000_000,
            8,
            BOOT2,
            "systemd-journald",
            "Failed to write entry (9 items, 412 bytes), ignoring: No space left on device",
        ),
    ];
    e[3].fields.push(("_SYSTEMD_UNIT", b"ssh.service".to_vec()));
    write_journal(&jdir.join("system.journal"), &e, true);
    let img = t.path().join("j.img");
    image_of(&tree, &img);
    let (_, r) = check_json(&img, &[]);
    let f = with("LOG-001", &r);
    assert_eq!(f.len(), 1, "{r}");
    let d = f[0]["detail"].as_str().unwrap();
    assert!(
        d.contains("\"sshd: no hostkeys available -- exiting.\""),
        "{d}"
    );
    assert!(d.contains("2023-11-14 22:15:01 UTC"), "{d}");
    assert!(d.contains(&format!("b={BOOT2}")), "{d}");
    assert!(d.contains(&format!("last boot ({BOOT2}")), "{d}");
    assert_eq!(f[0]["fix"], "chroot /mnt/rescue ssh-keygen -A");
    assert!(f[0]["path"].as_str().unwrap().ends_with("/system.journal"));
    assert!(
        with("LOG-010", &r)[0]["title"]
            .as_str()
            .unwrap()
            .contains("postgres ×1")
    );
    assert!(!with("LOG-020", &r).is_empty());
    assert!(
        with("LOG-040", &r)[0]["detail"]
            .as_str()
            .unwrap()
            .contains("No space left")
    );
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Rewrites the zstd-compressed DATA object of a regular (non-compact) journal file as an xz or
/// LZ4 one: the payload is decompressed with `zstd -d`, compressed again (`xz`, or an LZ4 block
/// with systemd's 8-byte size prefix), written as a new object after the last one, and the
/// entry items pointing at the old object are pointed at the new one; the header gets the
/// algorithm's incompatible flag. journalctl then reads the same entry through the other
/// decompressor.
fn recompress(path: &Path, algo: &str) {
    let mut b = std::fs::read(path).unwrap();
    let header_size = le64(&b, 88) as usize;
    let tail = le64(&b, 136) as usize;
    // Walk the objects in file order.
    let (mut off, mut found) = (header_size, None);
    while off <= tail {
        let (ty, flags, size) = (b[off], b[off + 1], le64(&b, off + 8) as usize);
        if ty == 1 && flags & 4 != 0 {
            found = Some((off, size));
        }
        off += size.div_ceil(8) * 8;
    }
    let end = off;
    let (old, size) = found.expect("a zstd-compressed data object");
    let mut child = Command::new("zstd")
        .args(["-d", "-c", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("zstd runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&b[old + 64..old + size])
        .unwrap();
    let plain = check(child.wait_with_output().unwrap(), "zstd").stdout;
    let (flag, header_flag, payload) = match algo {
        "xz" => {
            let mut c = Command::new("xz")
                .args(["--format=xz", "-c"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("xz runs");
            c.stdin.take().unwrap().write_all(&plain).unwrap();
            (1u8, 1u32, check(c.wait_with_output().unwrap(), "xz").stdout)
        }
        _ => {
            let mut p = (plain.len() as u64).to_le_bytes().to_vec();
            p.extend(lz4_flex::block::compress(&plain));
            (2u8, 2u32, p)
        }
    };
    let mut obj = b[old..old + 64].to_vec();
    obj[1] = flag;
    obj[8..16].copy_from_slice(&((64 + payload.len()) as u64).to_le_bytes());
    obj.extend_from_slice(&payload);
    assert!(end + obj.len() < b.len(), "room after the last object");
    b[end..end + obj.len()].copy_from_slice(&obj);
    // Entry items (offset, hash) naming the old object.
    let mut off = header_size;
    let mut patched = 0;
    while off <= tail {
        let (ty, size) = (b[off], le64(&b, off + 8) as usize);
        if ty == 3 {
            let mut i = off + 64;
            while i + 16 <= off + size {
                if le64(&b, i) == old as u64 {
                    b[i..i + 8].copy_from_slice(&(end as u64).to_le_bytes());
                    patched += 1;
                }
                i += 16;
            }
        }
        off += size.div_ceil(8) * 8;
    }
    assert_eq!(patched, 1);
    let inc = u32::from_le_bytes(b[12..16].try_into().unwrap()) | header_flag;
    b[12..16].copy_from_slice(&inc.to_le_bytes());
    std::fs::write(path, b).unwrap();
}

#[test]
fn xz_and_lz4_fields_read_like_journalctl() {
    if !peers() {
        return;
    }
    for algo in ["xz", "lz4"] {
        let t = tempdir();
        let tree = t.path().join("tree");
        std::fs::create_dir_all(tree.join("etc")).unwrap();
        let jdir = tree.join("var/log/journal").join(MACHINE);
        std::fs::create_dir_all(&jdir).unwrap();
        let mut e = vec![
            msg(T0, 1, BOOT1, "app", "before"),
            msg(T0 + 1, 2, BOOT1, "app", "big"),
        ];
        let big: Vec<u8> = (0..30_000u32)
            .map(|i| b"abcdefgh"[(i % 7) as usize])
            .collect();
        e[1].fields.push(("BIG", big.clone()));
        let f = jdir.join("system.journal");
        write_journal(&f, &e, false);
        recompress(&f, algo);
        let theirs = journalctl_entries(&jdir);
        assert_eq!(theirs[1].2["BIG"][0], big, "{algo}: journalctl reads it");
        let (ours, err) = our_entries(&tree, &[]);
        assert!(err.is_empty(), "{algo}: {err}");
        assert_eq!(ours, theirs, "{algo}");
    }
}
