//! XFS health in `check`, against `xfs_repair -n`: a log left dirty by a forced shutdown (and
//! clean again after the kernel replays it), AG headers damaged by `xfs_db -x`, the
//! needsrepair flag, a full filesystem, features the guest's kernel cannot mount.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::xfs::*;
use common::*;
use rescue_inspect::fs::xfs as rxfs;
use rescue_inspect::fs::xfs::log::LogState;
use rescue_inspect::volume::{Device, Slice};

fn open_fs(img: &Path) -> rxfs::XfsVolume {
    let dev = Arc::new(Device::open(img).unwrap());
    rxfs::open(&Slice::whole(dev)).unwrap()
}

fn rocky_image(t: &Path, name: &str) -> std::path::PathBuf {
    Guest::rocky().xfs(t, &t.join(name), 320, &[])
}

#[test]
fn dirty_log_after_a_forced_shutdown_then_clean_after_replay() {
    if !tools(&["mkfs.xfs", "xfs_db", "xfs_io", "xfs_repair"]) || !root() {
        return;
    }
    let t = tempdir();
    let img = rocky_image(t.path(), "dirty.img");
    assert_eq!(open_fs(&img).info.health.log, LogState::Clean, "fresh mkfs");
    let (code, out) = xfs_repair_n(&img);
    assert_eq!(code, 0, "{out}");
    {
        let m = Mount::new(&img, &t.path().join("m"), "rw");
        std::fs::write(m.dir.join("etc/motd"), b"written before the crash\n").unwrap();
        check(
            Command::new("xfs_io")
                .args(["-x", "-c", "shutdown -f"])
                .arg(&m.dir)
                .output()
                .unwrap(),
            "xfs_io shutdown",
        );
    }
    // The peer: xfs_repair refuses a dirty log.
    let (code, out) = xfs_repair_n(&img);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("log"), "{out}");
    let v = open_fs(&img);
    assert!(
        matches!(v.info.health.log, LogState::Dirty { .. }),
        "{:?}",
        v.info.health.log
    );
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 0, "a warning only: {r}");
    let f = &with("XFS-010", &r)[0];
    assert_eq!(f["severity"], "warning");
    assert!(f["fix"].as_str().unwrap().contains("norecovery"), "{f}");
    assert!(
        f["detail"]
            .as_str()
            .unwrap()
            .contains("not an unmount record"),
        "{f}"
    );

    // The kernel replays the log at mount; unmounted cleanly, both agree it is clean.
    drop(Mount::new(&img, &t.path().join("m2"), "rw"));
    assert_eq!(open_fs(&img).info.health.log, LogState::Clean);
    let (code, out) = xfs_repair_n(&img);
    assert_eq!(code, 0, "{out}");
    let (_, r) = check_json(&img, &[]);
    assert!(with("XFS-010", &r).is_empty(), "{r}");
}

#[test]
fn damaged_ag_headers_are_found_like_xfs_repair_finds_them() {
    if !tools(&["mkfs.xfs", "xfs_db", "xfs_repair"]) {
        return;
    }
    let t = tempdir();
    let img = rocky_image(t.path(), "ag.img");
    let (code, r) = check_json(&img, &[]);
    assert_eq!((code, ids(&r)), (0, Vec::<String>::new()), "{r}");
    // One bad CRC each in AG 1's AGF and AG 2's AGI, and a wrong magic in AG 3's AGFL.
    xfs_db_x(&img, &["agf 1".into(), "write -c freeblks 12".into()]);
    xfs_db_x(&img, &["agi 2".into(), "write -c freecount 3".into()]);
    xfs_db_x(&img, &["agfl 3".into(), "write -d magicnum 0".into()]);
    let (code, out) = xfs_repair_n(&img);
    assert_ne!(code, 0);
    for want in [
        "agf has bad CRC for ag 1",
        "agi has bad CRC for ag 2",
        "xfs_agfl block",
    ] {
        assert!(out.contains(want), "xfs_repair -n says {want}: {out}");
    }
    let v = open_fs(&img);
    let got: Vec<(u32, &str, &str)> = v
        .info
        .health
        .ag_problems
        .iter()
        .map(|p| (p.agno, p.header, p.detail.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "AGF", "checksum mismatch"),
            (2, "AGI", "checksum mismatch"),
            (3, "AGFL", "bad magic")
        ]
    );
    let (_, r) = check_json(&img, &[]);
    let f = &with("XFS-021", &r)[0];
    assert_eq!(f["severity"], "warning");
    assert!(f["title"].as_str().unwrap().contains("AG 1 AGF"), "{f}");
    assert!(
        f["fix"].as_str().unwrap().starts_with("xfs_repair -n "),
        "{f}"
    );
}

#[test]
fn needsrepair_stops_the_mount() {
    if !tools(&["mkfs.xfs", "xfs_db"]) {
        return;
    }
    let t = tempdir();
    let img = rocky_image(t.path(), "nr.img");
    let v = open_fs(&img);
    let incompat = v.info.superblock.features_incompat;
    xfs_db_x(
        &img,
        &[
            "sb 0".into(),
            format!("write features_incompat {}", incompat | 0x10),
        ],
    );
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 1, "{r}");
    let f = &with("XFS-020", &r)[0];
    assert_eq!(f["severity"], "critical");
    assert!(f["fix"].as_str().unwrap().starts_with("xfs_repair "), "{f}");
}

#[test]
fn a_full_xfs_root_is_full() {
    if !tools(&["mkfs.xfs"]) || !root() {
        return;
    }
    let t = tempdir();
    let img = rocky_image(t.path(), "full.img");
    {
        let m = Mount::new(&img, &t.path().join("m"), "rw");
        std::fs::create_dir_all(m.dir.join("var/log")).unwrap();
        // dd until ENOSPC, as a runaway log would.
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=1M", "status=none"])
            .arg(format!("of={}", m.dir.join("var/log/huge.log").display()))
            .status();
    }
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 1, "{r}");
    let f = &with("FS-030", &r)[0];
    assert!(f["detail"].as_str().unwrap().contains("/var/log"), "{f}");
    assert!(
        f["detail"].as_str().unwrap().contains("reserve pool"),
        "{f}"
    );
}

#[test]
fn features_newer_than_the_guest_kernel() {
    if !tools(&["mkfs.xfs"]) {
        return;
    }
    let t = tempdir();
    let mut g = Guest::rocky();
    g.dir("/usr/lib/modules/5.4.0-150-generic", 0o755, 0, 0);
    g.symlink("/lib", "usr/lib");
    let img = g.xfs(
        t.path(),
        &t.path().join("k.img"),
        320,
        &["-m", "bigtime=1,inobtcount=1"],
    );
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 1, "{r}");
    let f: Vec<_> = with("XFS-022", &r);
    let titles: Vec<&str> = f.iter().map(|f| f["title"].as_str().unwrap()).collect();
    assert!(
        titles
            .iter()
            .any(|t| t.contains("bigtime needs Linux 5.10+")),
        "{titles:?}"
    );
    assert!(
        titles.iter().any(|t| t.contains("inobtcount")),
        "{titles:?}"
    );
    assert_eq!(f[0]["severity"], "critical");

    // A RHEL kernel backports: a possibility, a warning.
    let mut g = Guest::rocky();
    g.dir("/usr/lib/modules/4.18.0-513.el8.x86_64", 0o755, 0, 0);
    g.symlink("/lib", "usr/lib");
    let img = g.xfs(
        t.path(),
        &t.path().join("k8.img"),
        320,
        &["-m", "bigtime=1"],
    );
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 0, "{r}");
    let f = &with("XFS-022", &r)[0];
    assert_eq!(
        (f["severity"].as_str(), f["confidence"].as_str()),
        (Some("warning"), Some("possible"))
    );
}

/// The metadata walk and `xfs_repair -n` agree: silent on a healthy filesystem, and each
/// damage made by `xfs_db -x` is found by both, naming the same inode.
#[test]
fn metadata_walk_agrees_with_xfs_repair_n() {
    if !tools(&["mkfs.xfs", "xfs_db", "xfs_repair"]) {
        return;
    }
    let t = tempdir();
    let clean = rocky_image(t.path(), "walk.img");
    let walk = |img: &Path| {
        let dev = Arc::new(Device::open(img).unwrap());
        rxfs::walk::check(&Slice::whole(dev)).unwrap()
    };
    let (code, out) = xfs_repair_n(&clean);
    assert_eq!(code, 0, "{out}");
    let rep = walk(&clean);
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert!(rep.inodes > 50 && rep.directories > 20, "{rep:?}");

    let ino_of = |img: &Path, p: &str| -> u64 {
        let o = Command::new("xfs_db")
            .args(["-r", "-c", &format!("path {p}"), "-c", "inode"])
            .arg(img)
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&o.stdout).into_owned();
        s.trim()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("{s}"))
    };
    // (path, xfs_db write, what xfs_repair -n says, what the walk says)
    let cases = [
        (
            "/etc/hostname",
            "write core.nlinkv2 7",
            "would have reset inode {} nlinks from 7 to 1",
            "has link count 7, should be 1",
        ),
        (
            "/etc/passwd",
            "write -d core.magic 0",
            "bad magic number 0x0 on inode {}",
            "bad magic",
        ),
        (
            "/etc/group",
            "write u3.bmx[0].startblock 99999999",
            "inode {} - bad extent starting block number 99999999",
            "outside",
        ),
    ];
    for (path, write, theirs, ours) in cases {
        let img = t.path().join("damaged.img");
        std::fs::copy(&clean, &img).unwrap();
        let ino = ino_of(&img, path);
        xfs_db_x(&img, &[format!("path {path}"), write.to_string()]);
        let (code, out) = xfs_repair_n(&img);
        assert_eq!(code, 1, "{path}: {out}");
        let theirs = theirs.replace("{}", &ino.to_string());
        assert!(
            out.contains(&theirs),
            "xfs_repair -n: want {theirs:?} in {out}"
        );
        let rep = walk(&img);
        assert!(
            rep.problems
                .iter()
                .any(|p| p.ino == Some(ino) && p.detail.contains(ours)),
            "{path} ({write}): {:?}",
            rep.problems
        );
    }
}

#[test]
fn fsck_and_check_deep_walk_xfs() {
    if !tools(&["mkfs.xfs", "xfs_db"]) {
        return;
    }
    let t = tempdir();
    let img = rocky_image(t.path(), "fsck.img");
    let (code, out, err) = run(&[&"fsck", &img]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("0 problem(s)") && out.contains("(XFS)"),
        "{out}"
    );
    let (code, r) = check_json(&img, &["--deep"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(ids(&r), vec!["XFS-031".to_string()], "{r}");
    xfs_db_x(
        &img,
        &["path /etc/hostname".into(), "write core.nlinkv2 3".into()],
    );
    let (code, out, _) = run(&[&"fsck", &img, &"--format", &"json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["problems"][0]["path"], "/etc/hostname", "{v}");
    let (_, r) = check_json(&img, &["--deep"]);
    let f = &with("XFS-030", &r)[0];
    assert_eq!(f["path"], "/etc/hostname");
    assert!(
        f["title"]
            .as_str()
            .unwrap()
            .contains("link count 3, should be 1"),
        "{f}"
    );
}
