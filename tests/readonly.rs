//! The read-only guarantee, and the block-device path.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::*;
use sha2::{Digest, Sha256};

fn fingerprint(p: &Path) -> (String, std::time::SystemTime) {
    let bytes = std::fs::read(p).unwrap();
    let h = Sha256::digest(&bytes);
    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
    (hex, std::fs::metadata(p).unwrap().modified().unwrap())
}

fn every_subcommand(img: &Path) -> Vec<Vec<String>> {
    let i = img.display().to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        s(&["partitions", &i]),
        s(&["partitions", &i, "--format", "json"]),
        s(&["check", &i]),
        s(&["check", &i, "--format", "json"]),
        s(&["ls", &i, "/home/*/.ssh"]),
        s(&["cat", &i, "/etc/passwd"]),
        s(&["stat", &i, "/bin/sh"]),
    ]
}

#[test]
fn no_subcommand_changes_the_image_even_with_a_dirty_journal() {
    let t = tempdir();
    let fs = Guest::debian().ext4(t.path(), &t.path().join("root.ext4"), 16, &[]);
    // A dirty journal is where a careless reader would replay by writing.
    let blk = t.path().join("blk");
    std::fs::write(&blk, vec![0x5a; 4096]).unwrap();
    debugfs_w(&fs, &format!("jo -c\njw -b 333 {}\njc\n", blk.display()));
    let img = t.path().join("disk.img");
    disk(&fs, Disk::Gpt512, &img);
    let before = fingerprint(&img);
    for args in every_subcommand(&img) {
        let o = bin().args(&args).output().unwrap();
        assert!(
            o.status.code().unwrap() <= 1,
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(fingerprint(&img), before);
}

/// Runs the binary as `nobody` on a read-only image: no root needed for an image file.
#[test]
fn works_as_an_unprivileged_user_on_a_read_only_image() {
    if !nix_is_root() {
        eprintln!("skipped: needs root to switch to an unprivileged user");
        return;
    }
    let t = tempdir();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let fs = Guest::debian().ext4(t.path(), &t.path().join("root.ext4"), 16, &[]);
    let img = t.path().join("disk.img");
    disk(&fs, Disk::Mbr, &img);
    std::fs::set_permissions(&img, std::fs::Permissions::from_mode(0o444)).unwrap();
    // The test binary may live under a directory nobody cannot enter: copy it.
    let exe = t.path().join("rescue-inspect");
    std::fs::copy(env!("CARGO_BIN_EXE_rescue-inspect"), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = fingerprint(&img);
    for args in every_subcommand(&img) {
        let o = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            o.status.code() == Some(0),
            "{args:?} as nobody: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(fingerprint(&img), before);
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

/// The block-device path: a read-only loop device over a GPT image.
#[test]
fn reads_a_block_device() {
    let t = tempdir();
    let fs = Guest::debian().ext4(t.path(), &t.path().join("root.ext4"), 16, &[]);
    let img = t.path().join("disk.img");
    disk(&fs, Disk::Gpt512, &img);
    let o = Command::new("losetup")
        .args(["-r", "-f", "--show"])
        .arg(&img)
        .output();
    let dev = match o {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(o) => {
            eprintln!(
                "skipped: loop devices unavailable here: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("skipped: losetup not available: {e}");
            return;
        }
    };
    struct Detach(String);
    impl Drop for Detach {
        fn drop(&mut self) {
            let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
        }
    }
    let _guard = Detach(dev.clone());
    let before = fingerprint(&img);
    let (code, out, err) = run(&[&"partitions", &dev, &"--format", &"json"]);
    assert_eq!(code, 0, "{err}");
    let l: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(l["device"]["kind"], "block-device");
    assert_eq!(
        l["device"]["size"],
        std::fs::metadata(&img).unwrap().len(),
        "size comes from the device"
    );
    let (code, r) = check_json(Path::new(&dev), &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["target"]["os"]["id"], "debian");
    assert_eq!(r["target"]["partition"]["index"], 2);
    drop(_guard);
    assert_eq!(fingerprint(&img), before);
}
