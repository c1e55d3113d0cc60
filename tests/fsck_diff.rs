//! The metadata scan against e2fsck -fn on images damaged with debugfs -w and dd: every inode
//! e2fsck names, the scan names too; a clean image is clean for both.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;

/// e2fsck -fn's output and the inode numbers it names ("Inode 12 …", "… unused inode 14").
fn e2fsck(img: &Path) -> (bool, String, BTreeSet<u64>) {
    let o = Command::new("e2fsck").arg("-fn").arg(img).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    let mut inodes = BTreeSet::new();
    let words: Vec<&str> = out.split_whitespace().collect();
    for w in words.windows(2) {
        if w[0].eq_ignore_ascii_case("inode") {
            if let Ok(n) = w[1].trim_end_matches([',', '.', ':']).parse::<u64>() {
                inodes.insert(n);
            }
        }
    }
    (o.status.success(), out, inodes)
}

/// `rescue-inspect fsck --format json`: (clean, inode numbers named, the report).
fn scan(img: &Path) -> (bool, BTreeSet<u64>, serde_json::Value) {
    let o = bin()
        .arg("fsck")
        .arg(img)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    let mut inodes = BTreeSet::new();
    for p in r["problems"].as_array().unwrap() {
        if let Some(i) = p["ino"].as_u64() {
            inodes.insert(i);
        }
        for i in p["other_inodes"].as_array().unwrap() {
            inodes.insert(i.as_u64().unwrap());
        }
    }
    assert_eq!(
        o.status.code(),
        Some(
            if inodes.is_empty() && r["problems"].as_array().unwrap().is_empty() {
                0
            } else {
                1
            }
        )
    );
    (r["problems"].as_array().unwrap().is_empty(), inodes, r)
}

fn debugfs_r(img: &Path, req: &str) -> String {
    let o = Command::new("debugfs")
        .arg("-R")
        .arg(req)
        .arg(img)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ino(img: &Path, path: &str) -> u64 {
    debugfs_r(img, &format!("stat \"{path}\""))
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap()
}

fn first_block(img: &Path, path: &str) -> u64 {
    debugfs_r(img, &format!("blocks \"{path}\""))
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Compares both on one image; returns the scan's report.
fn compare(img: &Path, what: &str) -> serde_json::Value {
    let (e2_clean, e2_out, e2_inodes) = e2fsck(img);
    let (clean, inodes, r) = scan(img);
    assert_eq!(
        clean, e2_clean,
        "{what}: clean for one only\ne2fsck: {e2_out}\nscan: {r:#}"
    );
    let missing: Vec<&u64> = e2_inodes.difference(&inodes).collect();
    assert!(
        missing.is_empty(),
        "{what}: e2fsck names inodes {missing:?} the scan does not\ne2fsck: {e2_out}\nscan: {r:#}"
    );
    r
}

fn fixture(t: &Path, name: &str, opts: &[&str]) -> std::path::PathBuf {
    let mut g = Guest::debian();
    for i in 0..200 {
        g.text(&format!("/var/lib/app/item-{i}"), &format!("{i}\n"));
    }
    g.ext4(t, &t.join(name), 32, opts)
}

#[test]
fn clean_images_are_clean_for_both() {
    let t = tempdir();
    for (name, opts) in [
        ("ext4.img", &["-b", "4096"][..]),
        ("ext4-1k.img", &["-b", "1024", "-g", "2048"][..]),
        ("nocsum.img", &["-O", "^metadata_csum"][..]),
        ("ext3.img", &["-t", "ext3"][..]),
        ("ext2.img", &["-t", "ext2"][..]),
    ] {
        let img = fixture(t.path(), name, opts);
        let r = compare(&img, name);
        assert!(r["inodes_in_use"].as_u64().unwrap() > 200, "{name}: {r}");
    }
}

#[test]
fn damaged_images_name_the_same_inodes() {
    let t = tempdir();
    let base = fixture(t.path(), "base.img", &["-b", "4096", "-g", "4096"]);
    let damaged = |name: &str| {
        let p = t.path().join(name);
        std::fs::copy(&base, &p).unwrap();
        p
    };
    // An inode checksum.
    let img = damaged("sif.img");
    let n = ino(&img, "/etc/passwd");
    debugfs_w(&img, &format!("sif <{n}> checksum 0xbad\n"));
    let r = compare(&img, "sif checksum");
    let p = &r["problems"][0];
    assert_eq!(
        (p["ino"].as_u64(), p["path"].as_str()),
        (Some(n), Some("/etc/passwd")),
        "{r:#}"
    );

    // A cleared inode still named in its directory.
    let img = damaged("clri.img");
    let n = ino(&img, "/var/lib/app/item-7");
    debugfs_w(&img, "clri /var/lib/app/item-7\n");
    let r = compare(&img, "clri");
    assert!(
        r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["path"] == "/var/lib/app"
                && p["other_inodes"][0].as_u64() == Some(n)
                && p["detail"].as_str().unwrap().contains("'item-7'")),
        "{r:#}"
    );

    // A group descriptor checksum.
    let img = damaged("setbg.img");
    debugfs_w(&img, "set_bg 1 checksum 0x4321\n");
    let r = compare(&img, "set_bg checksum");
    assert!(
        r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["group"] == 1 && p["area"] == "group-descriptor"),
        "{r:#}"
    );

    // A group descriptor's free count.
    let img = damaged("setbg-free.img");
    debugfs_w(
        &img,
        "set_bg 0 free_blocks_count 17\nset_bg 0 checksum calc\n",
    );
    let r = compare(&img, "set_bg free_blocks_count");
    assert!(
        r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["group"] == 0 && p["area"] == "free-count"),
        "{r:#}"
    );

    // Garbage over a directory block.
    let img = damaged("dd.img");
    let n = ino(&img, "/var/lib/app");
    let b = first_block(&img, "/var/lib/app");
    let ok = Command::new("dd")
        .args(["if=/dev/urandom", "bs=1", "count=200", "conv=notrunc"])
        .arg(format!("of={}", img.display()))
        .arg(format!("seek={}", b * 4096 + 100))
        .status()
        .unwrap();
    assert!(ok.success());
    let r = compare(&img, "dd over a directory block");
    assert!(
        r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["ino"].as_u64() == Some(n) && p["area"] == "directory"),
        "{r:#}"
    );
}

#[test]
fn check_deep_reports_scan_findings() {
    let t = tempdir();
    let img = fixture(t.path(), "deep.img", &["-b", "4096"]);
    let (code, r) = check_json(&img, &["--deep"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(with("FS-044", &r).len(), 1, "{r}");
    let n = ino(&img, "/etc/hostname");
    debugfs_w(&img, &format!("sif <{n}> checksum 0x1\n"));
    let (_, r) = check_json(&img, &["--deep"]);
    let f = with("FS-040", &r);
    assert_eq!(f.len(), 1, "{r}");
    assert_eq!(f[0]["path"], "/etc/hostname");
    assert!(f[0]["title"].as_str().unwrap().starts_with(&format!(
        "inode {n} (/etc/hostname): inode {n}: checksum mismatch"
    )));
}
