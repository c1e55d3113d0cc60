//! End-to-end on the real debootstrapped Debian 12 root (`scripts/debian-root.sh`, run through
//! `scripts/e2e-debian.sh`) in the image formats clouds and CI pipelines produce: its GPT disk
//! converted by `qemu-img` to compressed qcow2 (zlib and zstd), streamOptimized VMDK, VHDX and
//! fixed VHD gives the same report as the raw disk. Skipped, with a message, when
//! `RESCUE_INSPECT_DEBIAN` does not point at that cache.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn cache() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("RESCUE_INSPECT_DEBIAN")?);
    dir.join("gpt.img").exists().then_some(dir)
}

/// `qemu-img convert` of the raw GPT disk, cached next to it (remade when the disk is newer).
pub fn converted(dir: &Path, name: &str, opts: &[&str]) -> PathBuf {
    let raw = dir.join("gpt.img");
    let out_dir = dir.join("images");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join(name);
    let fresh = |p: &Path| {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        matches!((m(p), m(&raw)), (Some(a), Some(b)) if a >= b)
    };
    if !fresh(&out) {
        let tmp = out.with_extension("tmp");
        let o = Command::new("qemu-img")
            .args(["convert", "-f", "raw"])
            .args(opts)
            .arg(&raw)
            .arg(&tmp)
            .output()
            .expect("qemu-img (qemu-utils) runs");
        check(o, "qemu-img convert");
        std::fs::rename(&tmp, &out).unwrap();
    }
    out
}

#[test]
fn real_debian_12_in_every_image_format() {
    let Some(dir) = cache() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    let raw = dir.join("gpt.img");
    let (code, want) = check_json(&raw, &[]);
    assert_eq!(code, 0, "{want}");
    let (_, want_passwd, _) = run(&[&"cat", &raw, &"/etc/passwd"]);
    let images = [
        (
            "qcow2",
            converted(&dir, "debian12-zlib.qcow2", &["-O", "qcow2", "-c"]),
        ),
        (
            "qcow2",
            converted(
                &dir,
                "debian12-zstd.qcow2",
                &["-O", "qcow2", "-c", "-o", "compression_type=zstd"],
            ),
        ),
        ("qcow2", converted(&dir, "debian12.qcow2", &["-O", "qcow2"])),
        (
            "vmdk",
            converted(
                &dir,
                "debian12-stream.vmdk",
                &["-O", "vmdk", "-o", "subformat=streamOptimized"],
            ),
        ),
        ("vhdx", converted(&dir, "debian12.vhdx", &["-O", "vhdx"])),
        (
            "vhd",
            converted(
                &dir,
                "debian12-fixed.vhd",
                &["-O", "vpc", "-o", "subformat=fixed,force_size=on"],
            ),
        ),
    ];
    for (format, img) in &images {
        let (code, got) = check_json(img, &[]);
        assert_eq!(code, 0, "{}: {got}", img.display());
        assert_eq!(got["findings"], want["findings"], "{}", img.display());
        assert_eq!(got["verdict"], want["verdict"], "{}", img.display());
        assert_eq!(got["summary"], want["summary"], "{}", img.display());
        assert_eq!(got["target"]["partition"], want["target"]["partition"]);
        assert_eq!(got["target"]["os"], want["target"]["os"]);
        assert_eq!(got["target"]["image"]["format"], *format);
        let (code, passwd, err) = run(&[&"cat", img, &"/etc/passwd"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(passwd, want_passwd);
        let (code, out, err) = run(&[&"ls", img, &"/home/*/.ssh"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("-rw------- admin admin"), "{out}");
    }
}
