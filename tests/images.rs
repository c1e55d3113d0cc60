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

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn le64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// A VHDX as a crashed Hyper-V host leaves it: a log entry (written here from [MS-VHDX], not by
/// any tool) that rewrites a data page, a page of the BAT (block 2 becomes a zero block) and
/// zeroes a range, with the log GUID set in the headers. qemu refuses to read it read-only;
/// `qemu-img check -r all` replays the log on a copy; our in-memory replay of the original
/// must read what qemu reads from the repaired copy.
#[test]
fn vhdx_log_is_replayed_in_memory_like_qemu_replays_it() {
    if !have_qemu_img() {
        return;
    }
    let t = tempdir();
    let raw = raw_fixture(t.path());
    let img = t.path().join("dirty.vhdx");
    convert(&raw, &img, &["-O", "vhdx", "-o", "block_size=1M"]);
    let mut b = std::fs::read(&img).unwrap();
    let guid = [0x5Au8; 16];
    // Both headers: the log GUID, checksums recomputed.
    let (log_off, log_len) = (
        le64_at(&b, 65536 + 72),
        u32::from_le_bytes(b[65536 + 68..65536 + 72].try_into().unwrap()),
    );
    assert!(log_len >= 1 << 20);
    for h in [65536usize, 131072] {
        b[h + 48..h + 64].copy_from_slice(&guid);
        b[h + 4..h + 8].fill(0);
        let c = crc32c(&b[h..h + 4096]);
        b[h + 4..h + 8].copy_from_slice(&c.to_le_bytes());
    }
    // The BAT region: GUID 2DC27766-F623-4200-9D64-115E9BFD4A08 in the region table.
    let bat_guid = [
        0x66, 0x77, 0xC2, 0x2D, 0x23, 0xF6, 0x00, 0x42, 0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A,
        0x08,
    ];
    let rt = 196608usize;
    let n = u32::from_le_bytes(b[rt + 8..rt + 12].try_into().unwrap()) as usize;
    let bat_off = (0..n)
        .map(|i| rt + 16 + 32 * i)
        .find(|&e| b[e..e + 16] == bat_guid)
        .map(|e| le64_at(&b, e + 16))
        .unwrap();
    let block0 = (le64_at(&b, bat_off as usize) >> 20) << 20;
    assert_eq!(le64_at(&b, bat_off as usize) & 7, 6, "block 0 present");
    // New contents: a data page of block 0, and the BAT page with block 2 (where the
    // ext4 filesystem starts) set to ZERO (2).
    let data_page_off = block0 + 5 * 4096;
    let data_page = vec![0xC3u8; 4096];
    let mut bat_page = b[bat_off as usize..bat_off as usize + 4096].to_vec();
    bat_page[16..24].copy_from_slice(&2u64.to_le_bytes());
    let zero_off = block0 + 8 * 4096;
    let seq = 0x1_0000_0007u64;
    let mut e = vec![0u8; 3 * 4096];
    e[0..4].copy_from_slice(b"loge");
    e[8..12].copy_from_slice(&(3u32 * 4096).to_le_bytes());
    e[12..16].copy_from_slice(&0u32.to_le_bytes()); // tail: this entry
    e[16..24].copy_from_slice(&seq.to_le_bytes());
    e[24..28].copy_from_slice(&3u32.to_le_bytes());
    e[32..48].copy_from_slice(&guid);
    e[48..56].copy_from_slice(&(b.len() as u64).to_le_bytes());
    e[56..64].copy_from_slice(&(b.len() as u64).to_le_bytes());
    let mut d = 64;
    for (i, (off, page)) in [(data_page_off, &data_page), (bat_off, &bat_page)]
        .into_iter()
        .enumerate()
    {
        e[d..d + 4].copy_from_slice(b"desc");
        e[d + 4..d + 8].copy_from_slice(&page[4092..4096]);
        e[d + 8..d + 16].copy_from_slice(&page[0..8]);
        e[d + 16..d + 24].copy_from_slice(&off.to_le_bytes());
        e[d + 24..d + 32].copy_from_slice(&seq.to_le_bytes());
        d += 32;
        let s = 4096 * (1 + i);
        e[s..s + 4].copy_from_slice(b"data");
        e[s + 4..s + 8].copy_from_slice(&((seq >> 32) as u32).to_le_bytes());
        e[s + 8..s + 4092].copy_from_slice(&page[8..4092]);
        e[s + 4092..s + 4096].copy_from_slice(&(seq as u32).to_le_bytes());
    }
    e[d..d + 4].copy_from_slice(b"zero");
    e[d + 8..d + 16].copy_from_slice(&(16u64 * 4096).to_le_bytes());
    e[d + 16..d + 24].copy_from_slice(&zero_off.to_le_bytes());
    e[d + 24..d + 32].copy_from_slice(&seq.to_le_bytes());
    let c = crc32c(&e);
    e[4..8].copy_from_slice(&c.to_le_bytes());
    b[log_off as usize..log_off as usize + e.len()].copy_from_slice(&e);
    std::fs::write(&img, &b).unwrap();

    // qemu will not read it read-only; a repaired copy is what Hyper-V or qemu would see.
    let o = Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(&img)
        .arg(t.path().join("no.raw"))
        .output()
        .unwrap();
    assert!(!o.status.success(), "qemu-img read a dirty log read-only?");
    let copy = t.path().join("repaired.vhdx");
    std::fs::copy(&img, &copy).unwrap();
    let _ = Command::new("qemu-img")
        .args(["check", "-r", "all"])
        .arg(&copy)
        .output()
        .unwrap();
    let want = t.path().join("repaired.raw");
    qemu_img(&[&"convert", &"-O", &"raw", &copy, &want]);
    // All three changes are in qemu's view: the data page, the zeroed range, block 2 zero.
    let w = std::fs::read(&want).unwrap();
    assert!(w[5 * 4096..6 * 4096].iter().all(|&c| c == 0xC3));
    assert!(w[8 * 4096..24 * 4096].iter().all(|&c| c == 0));
    assert!(w[2 << 20..3 << 20].iter().all(|&c| c == 0));
    assert!(
        std::fs::read(&raw).unwrap()[2 << 20..3 << 20]
            .iter()
            .any(|&c| c != 0)
    );
    assert_ne!(w, std::fs::read(&raw).unwrap());
    assert_same_bytes(&want, &img, false);
    // The file itself was not replayed into.
    assert_eq!(std::fs::read(&img).unwrap(), b);
    let (code, out, err) = run(&[&"partitions", &img]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("log entries replayed in memory"), "{out}");
}

/// Fix commands that name the device attach a container image with qemu-nbd (the format
/// named), not with losetup, which would show the container's bytes: read-only for commands
/// that look, writable for repairs.
#[test]
fn fixes_attach_container_images_with_qemu_nbd() {
    if !have_qemu_img() {
        return;
    }
    let t = tempdir();
    let fs = Guest::debian().ext4(t.path(), &t.path().join("root.ext4"), 32, &[]);
    debugfs_w(&fs, "ssv state 3\nssv error_count 2\n");
    let raw = t.path().join("disk.raw");
    disk(&fs, Disk::Gpt512, &raw);
    let fix = |img: &Path| {
        let (_, r) = check_json(img, &[]);
        with("FS-020", &r)[0]["fix"].as_str().unwrap().to_string()
    };
    // Looking attaches read-only; repairing must attach writable, or it cannot write.
    assert!(
        fix(&raw).contains("e2fsck -fn $(losetup -r -P --show -f")
            && fix(&raw).contains("repair with: e2fsck -f $(losetup -P --show -f"),
        "{}",
        fix(&raw)
    );
    for (name, opts, format) in [
        ("d.qcow2", &["-O", "qcow2"][..], "qcow2"),
        (
            "d.vhd",
            &["-O", "vpc", "-o", "subformat=fixed,force_size=on"][..],
            "vpc",
        ),
    ] {
        let img = t.path().join(name);
        convert(&raw, &img, opts);
        let f = fix(&img);
        assert!(
            f.contains(&format!(
                "qemu-nbd --read-only --format={format} --connect=/dev/nbd0 {}",
                img.display()
            )) && f.contains("/dev/nbd0)p2"),
            "{f}"
        );
        assert!(
            f.contains(&format!(
                "repair with: e2fsck -f $(modprobe nbd max_part=16 && qemu-nbd --format={format} --connect=/dev/nbd0 {}",
                img.display()
            )),
            "{f}"
        );
        assert!(!f.contains("losetup"), "{f}");
    }
}

/// An OVA (tar of an .ovf and a streamOptimized VMDK, as VMware exports) is read in place,
/// through the archive: ustar as the OVF specification requires, and GNU tar's default.
#[test]
fn ova_archives_are_read_in_place() {
    if !have_qemu_img() {
        return;
    }
    let t = tempdir();
    let raw = raw_fixture(t.path());
    let (_, want) = check_json(&raw, &[]);
    let d = t.path().join("export");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("vm.ovf"), "<?xml version=\"1.0\"?><Envelope/>\n").unwrap();
    convert(
        &raw,
        &d.join("vm-disk1.vmdk"),
        &["-O", "vmdk", "-o", "subformat=streamOptimized"],
    );
    for tar_format in ["ustar", "gnu"] {
        let ova = t.path().join(format!("vm-{tar_format}.ova"));
        let o = Command::new("tar")
            .arg(format!("--format={tar_format}"))
            .arg("-cf")
            .arg(&ova)
            .arg("-C")
            .arg(&d)
            .args(["vm.ovf", "vm-disk1.vmdk"])
            .output()
            .unwrap();
        check(o, "tar");
        assert_same_bytes(&raw, &ova, false);
        let (code, got) = check_json(&ova, &[]);
        assert_eq!(code, 0, "{got}");
        assert_eq!(got["findings"], want["findings"]);
        assert_eq!(got["target"]["image"]["format"], "vmdk");
        assert_eq!(got["target"]["image"]["subformat"], "streamOptimized");
        let notes = got["target"]["image"]["notes"].to_string();
        assert!(notes.contains("vm-disk1.vmdk"), "{notes}");
    }
    // A tar without a disk in it.
    let empty = t.path().join("nodisk.ova");
    check(
        Command::new("tar")
            .args(["--format=ustar", "-cf"])
            .arg(&empty)
            .arg("-C")
            .arg(&d)
            .arg("vm.ovf")
            .output()
            .unwrap(),
        "tar",
    );
    let (code, _, err) = run(&[&"check", &empty]);
    assert_eq!(code, 2);
    assert!(err.contains("without a disk member"), "{err}");
}
