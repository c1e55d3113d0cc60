//! End-to-end on the real Debian 12 root (scripts/e2e-debian.sh): a journal file holding an
//! sshd start failure, OOM kills and a full disk, written by systemd-journal-remote and put
//! into a copy of the image with `debugfs -w` at /var/log/journal/<the guest's machine-id>/.
//! `check` reports each with the quoted line and time; `logs` matches `journalctl
//! --directory` on the same file entry for entry. Skipped without RESCUE_INSPECT_DEBIAN.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;

fn cache() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("RESCUE_INSPECT_DEBIAN")?);
    dir.join("ext4.img").exists().then_some(dir)
}

const T0: u64 = 1_732_000_000_000_000;

fn entry(out: &mut String, usec: u64, boot: &str, ident: &str, unit: Option<&str>, msg: &str) {
    out.push_str(&format!(
        "__REALTIME_TIMESTAMP={usec}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID={boot}\n_HOSTNAME=debian12\nSYSLOG_IDENTIFIER={ident}\nPRIORITY=3\nMESSAGE={msg}\n",
        usec - T0 + 1
    ));
    if let Some(u) = unit {
        out.push_str(&format!("_SYSTEMD_UNIT={u}\n"));
    }
    out.push('\n');
}

#[test]
fn real_debian_12_logs_sshd_failure_oom_and_full_disk() {
    let Some(dir) = cache() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    let remote = "/lib/systemd/systemd-journal-remote";
    if !std::path::Path::new(remote).exists() {
        assert!(
            std::env::var("RESCUE_INSPECT_REQUIRE_PEERS").is_err(),
            "systemd-journal-remote required"
        );
        eprintln!("skipped: needs systemd-journal-remote");
        return;
    }
    let mid = std::fs::read_to_string(dir.join("root/etc/machine-id"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| s.len() == 32)
        .unwrap_or_else(|| "3d1219c7c4c5404aaa1f6d2a48adfda4".into());
    let (b1, b2) = (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    );
    let mut ex = String::new();
    entry(
        &mut ex,
        T0,
        b1,
        "kernel",
        None,
        "Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org)",
    );
    entry(
        &mut ex,
        T0 + 5_000_000,
        b1,
        "sshd",
        Some("ssh.service"),
        "Server listening on 0.0.0.0 port 22.",
    );
    entry(
        &mut ex,
        T0 + 90_000_000,
        b1,
        "systemd-journald",
        None,
        "Journal stopped",
    );
    let t = T0 + 3_600_000_000;
    entry(
        &mut ex,
        t,
        b2,
        "kernel",
        None,
        "Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org)",
    );
    entry(
        &mut ex,
        t + 4_000_000,
        b2,
        "sshd",
        Some("ssh.service"),
        "error: Bind to port 22 on 0.0.0.0 failed: Address already in use.",
    );
    entry(
        &mut ex,
        t + 4_000_100,
        b2,
        "sshd",
        Some("ssh.service"),
        "fatal: Cannot bind any address.",
    );
    entry(
        &mut ex,
        t + 4_100_000,
        b2,
        "systemd",
        None,
        "ssh.service: Main process exited, code=exited, status=255/EXCEPTION",
    );
    entry(
        &mut ex,
        t + 600_000_000,
        b2,
        "kernel",
        None,
        "Out of memory: Killed process 4242 (python3) total-vm:9000000kB, anon-rss:8000000kB, file-rss:0kB",
    );
    entry(
        &mut ex,
        t + 660_000_000,
        b2,
        "kernel",
        None,
        "Out of memory: Killed process 4300 (python3) total-vm:9000000kB, anon-rss:8000000kB, file-rss:0kB",
    );
    entry(
        &mut ex,
        t + 700_000_000,
        b2,
        "systemd-journald",
        None,
        "Failed to write entry (22 items, 700 bytes), ignoring: No space left on device",
    );
    let t_dir = tempdir();
    let jdir = t_dir.path().join("journal").join(&mid);
    std::fs::create_dir_all(&jdir).unwrap();
    let jfile = jdir.join("system.journal");
    let mut child = Command::new(remote)
        .arg("-o")
        .arg(&jfile)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ex.as_bytes())
        .unwrap();
    check(child.wait_with_output().unwrap(), "systemd-journal-remote");

    let img = t_dir.path().join("debian.img");
    assert!(
        Command::new("cp")
            .arg("--sparse=always")
            .arg(dir.join("ext4.img"))
            .arg(&img)
            .status()
            .unwrap()
            .success()
    );
    debugfs_w(
        &img,
        &format!(
            "mkdir /var/log/journal/{mid}\nwrite {} /var/log/journal/{mid}/system.journal\n",
            jfile.display()
        ),
    );
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["summary"]["critical"], 0, "{r}");
    let sshd = with("LOG-001", &r);
    let d: Vec<&str> = sshd.iter().map(|f| f["detail"].as_str().unwrap()).collect();
    assert!(
        d.iter().any(|d| d
            .contains("\"error: Bind to port 22 on 0.0.0.0 failed: Address already in use.\"")
            && d.contains("2024-11-19 08:06:44 UTC")),
        "{d:?}"
    );
    assert!(d.iter().all(|d| d.contains(&format!("b={b2}"))), "{d:?}");
    let oom = &with("LOG-010", &r)[0];
    assert!(
        oom["title"]
            .as_str()
            .unwrap()
            .contains("killed 2 processes"),
        "{oom}"
    );
    assert!(
        oom["detail"]
            .as_str()
            .unwrap()
            .contains("\"Out of memory: Killed process 4300 (python3)"),
        "{oom}"
    );
    assert!(
        oom["detail"]
            .as_str()
            .unwrap()
            .contains("2024-11-19 08:17:40 UTC"),
        "{oom}"
    );
    let full = &with("LOG-020", &r)[0];
    assert!(
        full["detail"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{full}"
    );
    assert!(
        full["detail"]
            .as_str()
            .unwrap()
            .contains("2024-11-19 08:18:20 UTC"),
        "{full}"
    );
    // Nothing from the boot before.
    assert!(!r.to_string().contains("Server listening"), "{r}");
    let stop = &with("LOG-040", &r)[0];
    assert!(
        stop["title"]
            .as_str()
            .unwrap()
            .contains("no shutdown logged"),
        "{stop}"
    );

    // logs against journalctl on the same file, entry for entry.
    let (code, ours, err) = run(&[&"logs", &img, &"--source", &"journal", &"--format", &"json"]);
    assert_eq!(code, 0, "{err}");
    let o = check(
        Command::new("journalctl")
            .arg("--directory")
            .arg(&jdir)
            .args(["-o", "json", "--all", "--no-pager"])
            .output()
            .unwrap(),
        "journalctl",
    );
    let theirs: Vec<(String, String)> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["__CURSOR"].as_str().unwrap().into(),
                v["MESSAGE"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mine: Vec<(String, String)> = ours
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["source"]["cursor"].as_str().unwrap().into(),
                v["message"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(theirs.len(), 10);
    assert_eq!(mine, theirs);
    let (_, out, _) = run(&[&"logs", &img, &"-b", &"-1"]);
    assert_eq!(out.lines().count(), 4, "{out}");
}
