//! Package verification on the real Debian 12 root (scripts/e2e-debian.sh): the healthy image
//! verifies clean with every package; a byte flipped inside /usr/sbin/sshd (same size), a
//! deleted library and openssh-server left half-configured are each reported with package,
//! path and fix; and `debsums` on the same filesystem loop-mounted finds exactly the changed and
//! missing files `verify` finds.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;

/// The physical byte offset of a file's first block in an ext4 image (debugfs `bmap`).
fn first_block_offset(img: &Path, path: &str) -> u64 {
    let o = Command::new("debugfs")
        .arg("-R")
        .arg(format!("bmap {path} 0"))
        .arg(img)
        .output()
        .unwrap();
    let block: u64 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    assert!(block > 0, "{path} has no first block");
    block * 4096
}

fn flip_byte(img: &Path, offset: u64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::File::options()
        .read(true)
        .write(true)
        .open(img)
        .unwrap();
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.read_exact(&mut b).unwrap();
    b[0] ^= 0x01;
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&b).unwrap();
}

fn verify_json(target: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"verify", &target, &"--format", &"json"];
    for e in extra {
        args.push(e);
    }
    let (code, out, err) = run(&args);
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}")),
    )
}

/// (path, changed|missing) of a verify report, as debsums words it.
fn ours(r: &serde_json::Value) -> BTreeSet<(String, String)> {
    r["deviations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let kind = if d["flags"] == "missing" {
                "missing"
            } else {
                "changed"
            };
            (d["path"].as_str().unwrap().to_string(), kind.to_string())
        })
        .collect()
}

/// `debsums -s --root MNT` lines: `debsums: changed file /x (from p package)`.
fn debsums(mnt: &Path) -> BTreeSet<(String, String)> {
    let o = Command::new("debsums")
        .arg("-s")
        .arg("--root")
        .arg(mnt)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("debsums: ")?;
            let (kind, rest) = rest.split_once(" file ")?;
            let path = rest.split(" (from ").next()?;
            // debsums prints the path under --root.
            let path = path.strip_prefix(mnt.to_str()?).unwrap_or(path);
            Some((path.to_string(), kind.to_string()))
        })
        .collect()
}

/// Loop-mounts an image read-only (no journal replay) for the time of `f`.
fn with_mount<T>(img: &Path, f: impl FnOnce(&Path) -> T) -> T {
    let mnt = tempdir();
    let ok = Command::new("mount")
        .args(["-o", "loop,ro,noload"])
        .arg(img)
        .arg(mnt.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount {}", img.display());
    let out = f(mnt.path());
    assert!(
        Command::new("umount")
            .arg(mnt.path())
            .status()
            .unwrap()
            .success()
    );
    out
}

#[test]
fn real_debian_12_packages() {
    let Some(dir) = debian_cache() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    let t = tempdir();
    let healthy = dir.join("ext4.img");

    // Healthy: every package verifies clean, on the image and on the tree; check has no
    // package finding, by default and with --packages all.
    let (code, r) = verify_json(&healthy, &[]);
    assert_eq!(code, 0, "{r}");
    assert!(r["totals"]["packages"].as_u64().unwrap() > 100, "{r}");
    assert!(r["totals"]["files"].as_u64().unwrap() > 5000, "{r}");
    let (code, r) = verify_json(&dir.join("root"), &[]);
    assert_eq!(code, 0, "{}", r["deviations"]);
    for extra in [&[][..], &["--packages", "all"][..]] {
        let (_, r) = check_json(&healthy, extra);
        let pkg: Vec<_> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["category"] == "packages")
            .collect();
        assert!(pkg.is_empty(), "{extra:?}: {pkg:?}");
    }

    // Broken three ways.
    let img = t.path().join("broken.img");
    sparse_copy(&healthy, &img);
    flip_byte(&img, first_block_offset(&img, "/usr/sbin/sshd") + 200);
    let status = std::fs::read_to_string(dir.join("root/var/lib/dpkg/status")).unwrap();
    let half = status.replacen(
        "Package: openssh-server\nStatus: install ok installed",
        "Package: openssh-server\nStatus: install ok half-configured",
        1,
    );
    assert_ne!(half, status);
    let line = status
        .lines()
        .position(|l| l == "Package: openssh-server")
        .unwrap()
        + 1;
    let host = t.path().join("status");
    std::fs::write(&host, half).unwrap();
    debugfs_w(
        &img,
        &format!(
            "rm /usr/lib/x86_64-linux-gnu/libz.so.1.2.13\ncd /var/lib/dpkg\nrm status\nwrite {} status\nsif status mode 0100644\n",
            host.display()
        ),
    );
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 1);
    let find = |id: &str, path: &str| -> serde_json::Value {
        with(id, &r)
            .into_iter()
            .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with(path)))
            .unwrap_or_else(|| panic!("no {id} for {path}: {r}"))
    };
    let sshd = find("PKG-001", "/usr/sbin/sshd");
    assert_eq!(sshd["severity"], "critical");
    assert!(
        sshd["title"]
            .as_str()
            .unwrap()
            .starts_with("openssh-server:"),
        "{sshd}"
    );
    assert!(sshd["detail"].as_str().unwrap().contains("md5"), "{sshd}");
    assert!(
        sshd["fix"]
            .as_str()
            .unwrap()
            .contains("apt-get install --reinstall openssh-server"),
        "{sshd}"
    );
    let zlib = find("PKG-001", "libz.so.1.2.13");
    assert!(
        zlib["title"].as_str().unwrap().starts_with("zlib1g:"),
        "{zlib}"
    );
    assert!(
        zlib["title"].as_str().unwrap().contains("is missing"),
        "{zlib}"
    );
    assert!(
        zlib["fix"].as_str().unwrap().contains("--reinstall zlib1g"),
        "{zlib}"
    );
    let half = find("PKG-003", "/var/lib/dpkg/status");
    assert_eq!(half["severity"], "critical");
    assert_eq!(half["line"], line);
    assert!(
        half["title"]
            .as_str()
            .unwrap()
            .contains("openssh-server is half-configured")
    );
    assert!(
        half["fix"]
            .as_str()
            .unwrap()
            .contains("dpkg --configure -a")
    );

    // The same findings as debsums on the same filesystem, and nothing where debsums sees
    // nothing.
    if !have("debsums") || !have("mount") {
        return skip_or_fail("debsums differential test", "debsums is not installed");
    }
    let (_, v) = verify_json(&img, &["--no-config"]);
    let want = with_mount(&img, debsums);
    assert_eq!(
        want,
        BTreeSet::from([
            ("/usr/sbin/sshd".to_string(), "changed".to_string()),
            (
                "/lib/x86_64-linux-gnu/libz.so.1.2.13".to_string(),
                "missing".to_string()
            ),
        ]),
        "debsums"
    );
    assert_eq!(ours(&v), want);
    assert!(with_mount(&healthy, debsums).is_empty());
}
