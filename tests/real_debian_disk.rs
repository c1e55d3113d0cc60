//! The disk-health part of the real Debian 12 end-to-end run (scripts/e2e-debian.sh): the
//! healthy image is clean for the metadata scan and e2fsck -fn alike; a superblock marked with
//! errors, an inode with a bad checksum and a cleared inode still named in its directory are
//! each reported precisely, by `check` and by `fsck`, on the inodes e2fsck names.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn e2fsck_n(img: &Path) -> (bool, String) {
    let o = Command::new("e2fsck").arg("-fn").arg(img).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

fn fsck_json(img: &Path) -> serde_json::Value {
    let o = bin()
        .arg("fsck")
        .arg(img)
        .args(["--format", "json"])
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap()
}

fn ino(img: &Path, path: &str) -> u64 {
    let o = Command::new("debugfs")
        .arg("-R")
        .arg(format!("stat {path}"))
        .arg(img)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn real_debian_12_disk_damage() {
    let Some(dir) = debian_cache() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    let t = tempdir();
    let img = t.path().join("ext4.img");
    sparse_copy(&dir.join("ext4.img"), &img);

    // Healthy: clean for both, and for check --deep.
    assert!(e2fsck_n(&img).0);
    let r = fsck_json(&img);
    assert_eq!(r["problems"].as_array().unwrap().len(), 0, "{r:#}");
    assert!(r["inodes_in_use"].as_u64().unwrap() > 10_000);
    let (code, rep) = check_json(&img, &["--deep"]);
    assert_eq!(
        (code, &rep["summary"]["critical"]),
        (0, &serde_json::json!(0)),
        "{rep}"
    );
    assert_eq!(with("FS-044", &rep).len(), 1);

    // An inode with a bad checksum (a file sshd reads) and a cleared inode still named in its
    // directory (a PAM file login reads).
    let bad = ino(&img, "/etc/ssh/moduli");
    let cleared = ino(&img, "/etc/pam.d/sshd");
    debugfs_w(
        &img,
        &format!("sif <{bad}> checksum 0x1234\nclri <{cleared}>\n"),
    );
    let (clean, out) = e2fsck_n(&img);
    assert!(!clean);
    assert!(
        out.contains(&format!(
            "Inode {bad} passes checks, but checksum does not match inode"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("has deleted/unused inode {cleared}")),
        "{out}"
    );
    let r = fsck_json(&img);
    let problems = r["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["ino"].as_u64() == Some(bad)
            && p["path"] == "/etc/ssh/moduli"
            && p["detail"].as_str().unwrap().contains("checksum mismatch")),
        "{r:#}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p["path"] == "/etc/pam.d" && p["other_inodes"][0].as_u64() == Some(cleared)),
        "{r:#}"
    );
    let (_, rep) = check_json(&img, &[]);
    let f = with("FS-015", &rep);
    assert!(
        f.iter().any(|f| f["title"]
            .as_str()
            .unwrap()
            .contains(&format!("/etc/ssh/moduli: inode {bad}: checksum mismatch"))),
        "{rep}"
    );
    assert!(f.iter().any(|f| f["title"].as_str().unwrap().contains(&format!("/etc/pam.d/sshd: inode {cleared}: unused (cleared) but still named in its directory"))), "{rep}");
    assert_eq!(rep["target"]["os"]["id"], "debian");

    // The kernel's record of errors, with the first error's inode.
    let img2 = t.path().join("errors.img");
    sparse_copy(&dir.join("ext4.img"), &img2);
    debugfs_w(
        &img2,
        "ssv state 3\nssv error_count 2\nssv first_error_time 20261201100000\nssv first_error_ino 131\nssv first_error_func ext4_lookup\nssv first_error_line 1850\n",
    );
    let (code, rep) = check_json(&img2, &[]);
    assert_eq!(code, 0, "{rep}");
    let f = &with("FS-020", &rep)[0];
    assert!(
        f["detail"]
            .as_str()
            .unwrap()
            .contains("ext4_lookup:1850, inode 131"),
        "{f}"
    );
}

/// The rest of the disk-health "done when" on the real image: the superblock's first error
/// named by path, `needs_recovery` set (an unclean shutdown), a filesystem filled to the last
/// block by writes through the kernel, and a damaged primary GPT header.
#[test]
fn real_debian_12_disk_states() {
    let Some(dir) = debian_cache() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    let t = tempdir();

    // The first error's inode, named by its path.
    let img = t.path().join("errors.img");
    sparse_copy(&dir.join("ext4.img"), &img);
    let n = ino(&img, "/etc/ssh/sshd_config");
    debugfs_w(
        &img,
        &format!(
            "ssv state 3\nssv error_count 1\nssv first_error_time 20261130231500\nssv first_error_ino {n}\nssv first_error_func ext4_find_entry\nssv first_error_line 1603\n"
        ),
    );
    let (_, rep) = check_json(&img, &[]);
    let f = &with("FS-020", &rep)[0];
    assert!(
        f["detail"].as_str().unwrap().contains(&format!(
            "ext4_find_entry:1603, inode {n} (/etc/ssh/sshd_config)"
        )),
        "{f}"
    );

    // needs_recovery: the journal of an unclean shutdown.
    let img = t.path().join("dirty.img");
    sparse_copy(&dir.join("ext4.img"), &img);
    let o = Command::new("debugfs")
        .args(["-w", "-R", "feature needs_recovery"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(o.status.success());
    let (_, rep) = check_json(&img, &[]);
    let f: Vec<_> = rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "FS-010" || f["id"] == "FS-011")
        .collect();
    assert_eq!(f.len(), 1, "{rep}");
    assert!(
        f[0]["title"].as_str().unwrap().contains("unclean shutdown"),
        "{}",
        f[0]
    );
    assert_eq!(rep["target"]["os"]["id"], "debian", "still inspected");

    // Full: written to the last block through the kernel (root writes into the reserved
    // blocks too), under /var/log.
    if have("mount") {
        let img = t.path().join("full.img");
        sparse_copy(&dir.join("ext4.img"), &img);
        let mnt = t.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let mounted = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            // Allocate (without writing) in shrinking chunks until the kernel says ENOSPC.
            let mut i = 0;
            for size in ["256M", "16M", "1M", "64K", "4K"] {
                while Command::new("fallocate")
                    .args(["-l", size])
                    .arg(mnt.join(format!("var/log/runaway.{i}.log")))
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
                {
                    i += 1;
                }
                i += 1;
            }
            assert!(Command::new("umount").arg(&mnt).status().unwrap().success());
            let (code, rep) = check_json(&img, &[]);
            assert_eq!(code, 1, "{rep}");
            let f = &with("FS-030", &rep)[0];
            assert_eq!(f["severity"], "critical");
            assert!(f["detail"].as_str().unwrap().contains("/var/log"), "{f}");
        } else {
            skip_or_fail("full filesystem on the real image", "loop mount failed");
        }
    }

    // A damaged primary GPT header: read from the backup, reported with the repair.
    let img = t.path().join("gpt.img");
    sparse_copy(&dir.join("gpt.img"), &img);
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::options().write(true).open(&img).unwrap();
        f.seek(SeekFrom::Start(512 + 16)).unwrap();
        f.write_all(&[0xde, 0xad, 0xbe, 0xef]).unwrap(); // the header CRC
    }
    let (_, rep) = check_json(&img, &[]);
    let f = &with("VOL-001", &rep)[0];
    assert_eq!(f["severity"], "warning");
    assert!(f["fix"].as_str().unwrap().contains("gdisk"), "{f}");
    assert_eq!(
        rep["target"]["os"]["id"], "debian",
        "root found from the backup table"
    );
}
