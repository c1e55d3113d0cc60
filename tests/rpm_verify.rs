//! rpm databases and verification against the real rpm:
//! - the committed databases (testdata/rpm, made by scripts/rpm-fixtures.sh with rpmbuild, rpm
//!   and db5.3_load) in every form: Berkeley DB little- and big-endian, sqlite with a package
//!   that lives only in the write-ahead log;
//! - `rpm -Va --root` against `rescue-inspect verify` on a root that rpm itself installed, healthy
//!   and then broken in every way rpm -V reports, as a directory and as an ext4 image.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rpm")
}

/// `rescue-inspect verify TARGET --format json`.
fn verify_json(target: &Path) -> (i32, serde_json::Value) {
    let (code, out, err) = run(&[&"verify", &target, &"--format", &"json"]);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, v)
}

/// Package names of `rpm -qa` lines (`name-version-release.arch`).
fn names(qa: &str) -> BTreeSet<String> {
    qa.lines()
        .filter_map(|l| {
            let mut parts: Vec<&str> = l.rsplitn(3, '-').collect();
            parts.pop().map(str::to_string)
        })
        .collect()
}

/// The packages a verify report names (every file of these fixtures is missing from a guest
/// that holds only the database, so every package shows up).
fn packages_in(r: &serde_json::Value) -> BTreeSet<String> {
    r["deviations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["package"].as_str().unwrap().to_string())
        .collect()
}

fn guest_with(dir: &Path, form: &str, files: &[&str]) -> PathBuf {
    let g = dir.join(form);
    let db = g.join("var/lib/rpm");
    std::fs::create_dir_all(&db).unwrap();
    // An RHEL-family os-release makes the image's filesystem a root.
    std::fs::create_dir_all(g.join("etc")).unwrap();
    std::fs::write(
        g.join("etc/os-release"),
        "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n",
    )
    .unwrap();
    for f in files {
        std::fs::copy(testdata().join(form).join(f), db.join(f)).unwrap();
    }
    g
}

#[test]
fn rpm_databases_in_every_form() {
    let t = tempdir();
    let want = names(&std::fs::read_to_string(testdata().join("rpm-qa.txt")).unwrap());
    assert_eq!(want.len(), 3);
    for (form, files, db) in [
        ("bdb-le", &["Packages"][..], "/var/lib/rpm/Packages"),
        ("bdb-be", &["Packages"][..], "/var/lib/rpm/Packages"),
        (
            "wal",
            &["rpmdb.sqlite", "rpmdb.sqlite-wal"][..],
            "/var/lib/rpm/rpmdb.sqlite",
        ),
    ] {
        let g = guest_with(t.path(), form, files);
        let (code, r) = verify_json(&g);
        assert_eq!(code, 1, "{form}: {r}");
        assert_eq!(r["database"]["path"], db, "{form}");
        assert_eq!(r["database"]["kind"], "rpm", "{form}");
        assert_eq!(r["totals"]["packages"], 3, "{form}: {r}");
        assert_eq!(r["damaged"].as_array().unwrap().len(), 0, "{form}: {r}");
        assert_eq!(packages_in(&r), want, "{form}");
        // The same database inside an ext4 image.
        let img = t.path().join(format!("{form}.img"));
        let o = Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-d"])
            .arg(&g)
            .arg(&img)
            .arg("16M")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let (_, ri) = verify_json(&img);
        assert_eq!(ri["totals"], r["totals"], "{form} image");
        assert_eq!(ri["deviations"], r["deviations"], "{form} image");
    }
    // Without its write-ahead log the sqlite database lacks the last package: the log is read.
    let g = guest_with(t.path(), "wal-only-main", &[]);
    std::fs::copy(
        testdata().join("wal/rpmdb.sqlite"),
        g.join("var/lib/rpm/rpmdb.sqlite"),
    )
    .unwrap();
    let (_, r) = verify_json(&g);
    assert_eq!(r["totals"]["packages"], 2, "{r}");
    assert!(!packages_in(&r).contains("rescue-late"));
}

#[test]
fn rpm_databases_damaged() {
    let t = tempdir();
    // A Berkeley DB file cut in half: the packages on the pages that remain are read, the rest
    // is reported as damaged, nothing panics.
    let g = guest_with(t.path(), "bdb-le", &["Packages"]);
    let p = g.join("var/lib/rpm/Packages");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let (code, r) = verify_json(&g);
    assert_eq!(code, 1, "{r}");
    assert!(!r["damaged"].as_array().unwrap().is_empty(), "{r}");
    // Garbage where the database should be: exit 2 with a reason, or a damaged-database
    // report; never a crash.
    for (form, file) in [("junk-bdb", "Packages"), ("junk-sqlite", "rpmdb.sqlite")] {
        let g = t.path().join(form).join("var/lib/rpm");
        std::fs::create_dir_all(&g).unwrap();
        std::fs::write(g.join(file), vec![0x5au8; 8192]).unwrap();
        let (code, _, err) = run(&[&"verify", &t.path().join(form)]);
        assert_eq!(code, 2, "{form}: {err}");
        assert!(err.contains(file), "{form}: {err}");
    }
}

/// `rpm -Va` lines as (flags, config, path).
fn parse_rpm_v(out: &str) -> BTreeSet<(String, bool, String)> {
    out.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                [flags, "c", path] => Some((flags.to_string(), true, path.to_string())),
                [flags, path] => Some((flags.to_string(), false, path.to_string())),
                _ => None,
            }
        })
        .collect()
}

fn ours(r: &serde_json::Value) -> BTreeSet<(String, bool, String)> {
    r["deviations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["flags"].as_str().unwrap().to_string(),
                d["config"].as_bool().unwrap(),
                d["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn rpm_va(root: &Path) -> String {
    let o = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", "/var/lib/rpm", "-Va"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn rpm_verify_matches_rpm_v() {
    const TEST: &str = "rpm -V differential test";
    if !have("rpmbuild") || !have("rpm") {
        return skip_or_fail(
            TEST,
            "rpm and rpmbuild are not installed (apt-get install rpm)",
        );
    }
    if unsafe_uid() != 0 {
        return skip_or_fail(TEST, "rpm --root sets file owners: needs root");
    }
    let t = tempdir();
    let fx = t.path().join("fx");
    let o = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/rpm-fixtures.sh"))
        .arg(&fx)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let root = fx.join("root");
    // Healthy: both clean.
    assert_eq!(rpm_va(&root), "");
    let (code, r) = verify_json(&root);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["totals"]["packages"], 3);
    assert_eq!(
        r["totals"]["excluded"], 1,
        "the %doc file installed with --excludedocs"
    );

    // Broken in every way rpm -V reports.
    use std::os::unix::fs::PermissionsExt;
    let p = |s: &str| root.join(s.trim_start_matches('/'));
    let sshd = p("/usr/sbin/sshd");
    let mtime = std::fs::metadata(&sshd).unwrap().modified().unwrap();
    let mut b = std::fs::read(&sshd).unwrap();
    b[12] ^= 0x20; // same size, different content
    std::fs::write(&sshd, &b).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&sshd)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let perm = |path: &str, mode: u32| {
        std::fs::set_permissions(p(path), std::fs::Permissions::from_mode(mode)).unwrap()
    };
    perm("/usr/libexec/openssh/sshd-session", 0o644);
    perm("/var/empty/sshd", 0o777);
    std::fs::remove_file(p("/usr/lib64/librescue.so.1")).unwrap();
    let mut cfg = std::fs::read_to_string(p("/etc/ssh/sshd_config")).unwrap();
    cfg.push_str("PasswordAuthentication no\n");
    std::fs::write(p("/etc/ssh/sshd_config"), cfg).unwrap();
    std::fs::remove_file(p("/usr/sbin/sshd-link")).unwrap();
    std::os::unix::fs::symlink("other", p("/usr/sbin/sshd-link")).unwrap();
    std::os::unix::fs::chown(p("/etc/rescue.keys"), Some(0), Some(0)).unwrap();
    std::os::unix::fs::chown(p("/usr/bin/late"), Some(1), None).unwrap();
    // %verify(not md5 size mtime): an edit rpm does not report.
    std::fs::write(p("/etc/ssh/moduli"), "moduli v2, longer\n").unwrap();

    let want = parse_rpm_v(&rpm_va(&root));
    assert!(want.len() >= 8, "{want:?}");
    let (code, r) = verify_json(&root);
    assert_eq!(code, 1);
    assert_eq!(ours(&r), want, "directory target");

    // The same tree as an ext4 image (mke2fs -d keeps owners, modes and times when run as
    // root).
    let img = t.path().join("rpm.img");
    let o = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&root)
        .arg(&img)
        .arg("32M")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, ri) = verify_json(&img);
    assert_eq!(ours(&ri), want, "ext4 image");
}

fn unsafe_uid() -> u32 {
    // The test's own uid, from /proc (no libc dependency in tests).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|u| u.parse().ok())
        .unwrap_or(u32::MAX)
}
