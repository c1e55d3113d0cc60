//! Disk image formats read in place, against `qemu-img` (qemu-utils): every format and
//! sub-format is made with `qemu-img convert` from a raw GPT fixture, and must give the raw
//! image's bytes and the raw image's `check` report. Backing files, encrypted, truncated and
//! damaged images get precise errors. Skipped (with a message) without qemu-img, unless
//! RESCUE_INSPECT_REQUIRE_PEERS=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use rescue_inspect::volume::{Device, ImageOptions};

fn required() -> bool {
    std::env::var("RESCUE_INSPECT_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

fn have_qemu_img() -> bool {
    let ok = Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !required(),
            "qemu-img is missing (apt-get install qemu-utils)"
        );
        eprintln!("skipped: qemu-img not installed (apt-get install qemu-utils)");
    }
    ok
}

fn qemu_img(args: &[&dyn AsRef<std::ffi::OsStr>]) {
    let o = Command::new("qemu-img")
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap();
    check(o, "qemu-img");
}

/// (name, qemu-img convert options, needs --allow-backing).
const VARIANTS: &[(&str, &[&str], bool)] = &[
    ("qcow2-v2", &["-O", "qcow2", "-o", "compat=0.10"], false),
    ("qcow2-v3", &["-O", "qcow2"], false),
    ("qcow2-zlib", &["-O", "qcow2", "-c"], false),
    (
        "qcow2-zstd",
        &["-O", "qcow2", "-c", "-o", "compression_type=zstd"],
        false,
    ),
    (
        "qcow2-extl2",
        &["-O", "qcow2", "-o", "extended_l2=on,cluster_size=128k"],
        false,
    ),
    (
        "qcow2-small-clusters",
        &["-O", "qcow2", "-o", "cluster_size=4096"],
        false,
    ),
    (
        "vmdk-monolithicSparse",
        &["-O", "vmdk", "-o", "subformat=monolithicSparse"],
        false,
    ),
    (
        "vmdk-streamOptimized",
        &["-O", "vmdk", "-o", "subformat=streamOptimized"],
        false,
    ),
    (
        "vmdk-monolithicFlat",
        &["-O", "vmdk", "-o", "subformat=monolithicFlat"],
        true,
    ),
    (
        "vmdk-twoGbMaxExtentSparse",
        &["-O", "vmdk", "-o", "subformat=twoGbMaxExtentSparse"],
        true,
    ),
    (
        "vhd-fixed",
        &["-O", "vpc", "-o", "subformat=fixed,force_size=on"],
        false,
    ),
    (
        "vhd-dynamic",
        &["-O", "vpc", "-o", "subformat=dynamic,force_size=on"],
        false,
    ),
    ("vhdx-dynamic", &["-O", "vhdx"], false),
    (
        "vhdx-fixed",
        &["-O", "vhdx", "-o", "subformat=fixed"],
        false,
    ),
];

/// A healthy Debian-like guest in a GPT disk, raw.
fn raw_fixture(dir: &Path) -> PathBuf {
    let fs = Guest::debian().ext4(dir, &dir.join("root.ext4"), 32, &[]);
    let raw = dir.join("disk.raw");
    disk(&fs, Disk::Gpt512, &raw);
    raw
}

fn convert(raw: &Path, out: &Path, opts: &[&str]) {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"convert", &"-f", &"raw"];
    for o in opts {
        args.push(o);
    }
    args.push(&raw);
    args.push(&out);
    qemu_img(&args);
}

fn allow(yes: bool) -> ImageOptions {
    ImageOptions { allow_backing: yes }
}

/// Every byte of the virtual disk equals the raw image's (past the raw size: zeros).
fn assert_same_bytes(raw: &Path, img: &Path, allow_backing: bool) {
    let raw_bytes = std::fs::read(raw).unwrap();
    let dev = Device::open_with(img, &allow(allow_backing))
        .unwrap_or_else(|e| panic!("{}: {e}", img.display()));
    assert!(
        dev.size() >= raw_bytes.len() as u64,
        "{}: virtual size {} < {}",
        img.display(),
        dev.size(),
        raw_bytes.len()
    );
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    while off < dev.size() {
        let n = (dev.size() - off).min(buf.len() as u64) as usize;
        dev.read_exact_at(off, &mut buf[..n]).unwrap();
        let want: Vec<u8> = (0..n)
            .map(|i| raw_bytes.get(off as usize + i).copied().unwrap_or(0))
            .collect();
        if buf[..n] != want[..] {
            let at = (0..n).find(|&i| buf[i] != want[i]).unwrap();
            panic!("{}: differs at byte {}", img.display(), off + at as u64);
        }
        off += n as u64;
    }
    // Unaligned small reads across cluster boundaries.
    for &(o, l) in &[(65535u64, 3usize), (1 << 20, 4097), (3 * 65536 - 7, 70000)] {
        let mut b = vec![0u8; l];
        dev.read_exact_at(o, &mut b).unwrap();
        assert_eq!(
            b[..],
            raw_bytes[o as usize..o as usize + l],
            "{}",
            img.display()
        );
    }
    assert!(dev.read_exact_at(dev.size() - 1, &mut [0u8; 2]).is_err());
}

/// Every byte of the virtual disk equals what `qemu-img convert -O raw` makes of it.
fn assert_same_as_qemu(img: &Path, work: &Path) {
    let out = work.join("qemu-view.raw");
    qemu_img(&[&"convert", &"-O", &"raw", &img, &out]);
    assert_same_bytes(&out, img, true);
    std::fs::remove_file(out).unwrap();
}

#[test]
fn every_format_reads_like_the_raw_image() {
    if !have_qemu_img() {
        return;
    }
    let t = tempdir();
    let raw = raw_fixture(t.path());
    let (code, want) = check_json(&raw, &[]);
    assert_eq!(code, 0, "{want}");
    assert_eq!(want["target"]["image"]["format"], "raw");
    for (name, opts, needs_allow) in VARIANTS {
        let dir = t.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let img = dir.join(format!("{name}.img"));
        convert(&raw, &img, opts);
        assert_same_bytes(&raw, &img, *needs_allow);
        let extra: &[&str] = if *needs_allow {
            &["--allow-backing"]
        } else {
            &[]
        };
        let (code, got) = check_json(&img, extra);
        assert_eq!(code, 0, "{name}: {got}");
        assert_eq!(got["findings"], want["findings"], "{name}");
        assert_eq!(got["verdict"], want["verdict"], "{name}");
        assert_eq!(
            got["target"]["partition"], want["target"]["partition"],
            "{name}"
        );
        assert_eq!(
            got["target"]["filesystem"], want["target"]["filesystem"],
            "{name}"
        );
        let format = name.split('-').next().unwrap();
        assert_eq!(got["target"]["image"]["format"], format, "{name}: {got}");
        assert!(
            got["target"]["image"]["virtual_size"].as_u64().unwrap()
                >= std::fs::metadata(&raw).unwrap().len(),
            "{name}"
        );
        // The text report and the partition listing name the format.
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"check", &img];
        if *needs_allow {
            args.push(&"--allow-backing");
        }
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(out.contains(&format!("image {format}")), "{name}: {out}");
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"partitions", &img];
        if *needs_allow {
            args.push(&"--allow-backing");
        }
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(out.contains(&format!("Image: {format}")), "{name}: {out}");
        if *needs_allow {
            // Without --allow-backing: refused, naming the extent file.
            let (code, _, err) = run(&[&"check", &img]);
            assert_eq!(code, 2, "{name}");
            assert!(
                err.contains("extent file") && err.contains("--allow-backing"),
                "{name}: {err}"
            );
        }
    }
}

#[test]
fn concurrent_readers_see_the_same_bytes() {
    if !have_qemu_img() {
        return;
    }
    let t = tempdir();
    let raw = raw_fixture(t.path());
    let raw_bytes = Arc::new(std::fs::read(&raw).unwrap());
    for (name, opts) in [
        ("z.qcow2", &["-O", "qcow2", "-c"][..]),
        (
            "s.vmdk",
            &["-O", "vmdk", "-o", "subformat=streamOptimized"][..],
        ),
        ("d.vhdx", &["-O", "vhdx"][..]),
    ] {
        let img = t.path().join(name);
        convert(&raw, &img, opts);
        let dev = Arc::new(Device::open(&img).unwrap());
        let hs: Vec<_> = (0..4u64)
            .map(|k| {
                let dev = dev.clone();
                let raw_bytes = raw_bytes.clone();
                std::thread::spawn(move || {
                    let mut b = vec![0u8; 4096];
                    for i in 0..2000u64 {
                        let off = (i * 7919 + k * 104_729) * 512 % (raw_bytes.len() as u64 - 4096);
                        dev.read_exact_at(off, &mut b).unwrap();
                        assert_eq!(b[..], raw_bytes[off as usize..off as usize + 4096]);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    }
}

#[test]
fn backing_files_are_refused_unless_allowed_and_inside_the_directory() {
    if !have_qemu_img() {
        return;
    }
    let t = tempdir();
    let raw = raw_fixture(t.path());
    let (_, want) = check_json(&raw, &[]);
    let top = t.path().join("top.qcow2");
    qemu_img(&[
        &"create",
        &"-f",
        &"qcow2",
        &"-b",
        &"disk.raw",
        &"-F",
        &"raw",
        &top,
    ]);

    let (code, out, err) = run(&[&"check", &top]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("backing file \"disk.raw\"") && err.contains("--allow-backing"),
        "{err}"
    );
    let (code, _, err) = run(&[&"partitions", &top]);
    assert_eq!(code, 2);
    assert!(err.contains("disk.raw"), "{err}");

    let before = (std::fs::read(&top).unwrap(), std::fs::read(&raw).unwrap());
    let (code, got) = check_json(&top, &["--allow-backing"]);
    assert_eq!(code, 0, "{got}");
    // Read-only: neither the image nor its backing file changed.
    assert!(before == (std::fs::read(&top).unwrap(), std::fs::read(&raw).unwrap()));
    assert_eq!(got["findings"], want["findings"]);
    assert_eq!(got["target"]["image"]["backing_file"], "disk.raw");
    assert_same_bytes(&raw, &top, true);

    // A chain: top2 -> top -> disk.raw, all in the directory.
    let top2 = t.path().join("top2.qcow2");
    qemu_img(&[
        &"create",
        &"-f",
        &"qcow2",
        &"-b",
        &"top.qcow2",
        &"-F",
        &"qcow2",
        &top2,
    ]);
    assert_same_bytes(&raw, &top2, true);

    // Differential against qemu with writes in the top layers: a qcow2 over a qcow2, and a VMDK
    // delta disk over a VMDK (parentFileNameHint), each read like qemu-img reads it.
    qemu_img(&[
        &"create",
        &"-q",
        &"-f",
        &"qcow2",
        &"-b",
        &"top.qcow2",
        &"-F",
        &"qcow2",
        &top2,
    ]);
    let base_vmdk = t.path().join("base.vmdk");
    convert(&raw, &base_vmdk, &["-O", "vmdk"]);
    let child = t.path().join("child.vmdk");
    qemu_img(&[
        &"create",
        &"-q",
        &"-f",
        &"vmdk",
        &"-b",
        &"base.vmdk",
        &"-F",
        &"vmdk",
        &child,
    ]);
    for img in [&top2, &child] {
        let o = Command::new("qemu-io")
            .args([
                "-c",
                "write -P 0x5a 1048576 65536",
                "-c",
                "write -P 0xa5 3000000 5000",
            ])
            .arg(img)
            .output()
            .unwrap();
        check(o, "qemu-io");
        let (code, _, err) = run(&[&"partitions", img]);
        assert_eq!(code, 2, "{err}");
        assert_same_as_qemu(img, t.path());
    }

    // Outside the directory: an absolute path, `..`, and a symlink out; refused even when
    // allowed, and the outside file is never opened.
    let sub = t.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", sub.join("innocent.raw")).unwrap();
    for (name, backing) in [
        ("abs.qcow2", "/etc/passwd"),
        ("dotdot.qcow2", "../disk.raw"),
        ("link.qcow2", "innocent.raw"),
    ] {
        let img = sub.join(name);
        qemu_img(&[
            &"create", &"-f", &"qcow2", &"-u", &"-b", &backing, &"-F", &"raw", &img, &"64M",
        ]);
        let (code, _, err) = run(&[&"check", &img, &"--allow-backing"]);
        assert_eq!(code, 2, "{name}");
        assert!(
            err.contains("outside the image's directory"),
            "{name}: {err}"
        );
    }
    // A loop: an image naming itself.
    let selfish = t.path().join("self.qcow2");
    qemu_img(&[
        &"create",
        &"-f",
        &"qcow2",
        &"-u",
        &"-b",
        &"self.qcow2",
        &"-F",
        &"qcow2",
        &selfish,
        &"64M",
    ]);
    let (code, _, err) = run(&[&"check", &selfish, &"--allow-backing"]);
    assert_eq!(code, 2);
    assert!(err.contains("loops"), "{err}");
}

#[test]
fn encrypted_qcow2_is_reported_as_encrypted() {
    if !have_qemu_img() {
        return;
    }
    let t = tempdir();
    let img = t.path().join("enc.qcow2");
    qemu_img(&[
        &"create",
        &"-f",
        &"qcow2",
        &"--object",
        &"secret,id=sec0,data=hunter2",
        &"-o",
        &"encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10",
        &img,
        &"16M",
    ]);
    let (code, _, err) = run(&[&"check", &img]);
    assert_eq!(code, 2);
    assert!(err.contains("encrypted (LUKS)"), "{err}");
}

#[test]
fn snapshots_are_listed_and_the_active_layer_read() {
    if !have_qemu_img() {
        return;
    }
    let t = tempdir();
    let raw = raw_fixture(t.path());
    let img = t.path().join("s.qcow2");
    convert(&raw, &img, &["-O", "qcow2"]);
    qemu_img(&[&"snapshot", &"-c", &"before-upgrade", &img]);
    let (code, out, err) = run(&[&"partitions", &img, &"--format", &"json"]);
    assert_eq!(code, 0, "{err}");
    let l: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        l["device"]["image"]["snapshots"][0]["name"],
        "before-upgrade"
    );
    let (_, out, _) = run(&[&"partitions", &img]);
    assert!(out.contains("before-upgrade"), "{out}");
    assert_same_bytes(&raw, &img, false);
}

#[test]
fn truncated_and_damaged_images_give_errors() {
    if !have_qemu_img() {
        return;
    }
    let t = tempdir();
    let raw = raw_fixture(t.path());
    let cases: &[(&str, &[&str])] = &[
        ("q.qcow2", &["-O", "qcow2"]),
        ("z.qcow2", &["-O", "qcow2", "-c"]),
        ("s.vmdk", &["-O", "vmdk"]),
        ("o.vmdk", &["-O", "vmdk", "-o", "subformat=streamOptimized"]),
        ("d.vhd", &["-O", "vpc"]),
        ("x.vhdx", &["-O", "vhdx"]),
    ];
    for (name, opts) in cases {
        let img = t.path().join(name);
        convert(&raw, &img, opts);
        let len = std::fs::metadata(&img).unwrap().len();
        // Cut to a quarter: data or tables are missing; never a panic, a clear error or findings.
        let cut = t.path().join(format!("cut-{name}"));
        std::fs::copy(&img, &cut).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&cut)
            .unwrap()
            .set_len(len / 4)
            .unwrap();
        let (code, out, err) = run(&[&"check", &cut]);
        assert!(code == 2 || code == 1, "{name}: {code} {out} {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        // Cut inside the header.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&cut)
            .unwrap()
            .set_len(100)
            .unwrap();
        let (code, _, err) = run(&[&"check", &cut]);
        assert_eq!(code, 2, "{name}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}
