//! Is the disk healthy underneath: superblock state, features, geometry and capacity, checked
//! against what `dumpe2fs -h` says of the same image.

mod common;

use common::*;

#[test]
fn superblock_errors_forced_check_and_capacity() {
    let t = tempdir();
    let mut g = Guest::debian();
    g.file("/var/log/big.log", &vec![b'x'; 3 << 20], 0o640, 0, 4);
    let img = g.ext4(t.path(), &t.path().join("sb.ext4"), 24, &[]);
    let (code, r) = check_json(&img, &[]);
    assert_eq!(
        (
            code,
            r["summary"]["critical"].as_u64(),
            r["summary"]["warning"].as_u64()
        ),
        (0, Some(0), Some(0)),
        "{r}"
    );

    debugfs_w(
        &img,
        "ssv state 3\nssv error_count 3\nssv first_error_time 20260101120000\nssv first_error_ino 12\nssv first_error_func ext4_lookup\nssv first_error_line 1789\nssv max_mnt_count 5\nssv mnt_count 9\nssv free_blocks_count 0\n",
    );
    let dump = String::from_utf8_lossy(
        &std::process::Command::new("dumpe2fs")
            .arg("-h")
            .arg(&img)
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        dump.contains("clean with errors") && dump.contains("FS Error count:           3"),
        "{dump}"
    );
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 1, "{r}");
    let e = &with("FS-020", &r)[0];
    assert_eq!(e["title"], "the kernel recorded 3 filesystem error(s)");
    let d = e["detail"].as_str().unwrap();
    assert!(
        d.contains("2026-01-01 12:00:00 UTC in ext4_lookup:1789, inode 12"),
        "{d}"
    );
    assert!(
        with("FS-022", &r)[0]["title"]
            .as_str()
            .unwrap()
            .contains("mounted 9 times, maximum 5")
    );
    let full = &with("FS-030", &r)[0];
    assert_eq!(full["severity"], "critical");
    assert!(
        full["detail"].as_str().unwrap().contains("/var/log"),
        "{full}"
    );
}

#[test]
fn features_unknown_to_the_guest_break_boot() {
    let t = tempdir();
    let mut g = Guest::debian();
    // An older guest: e2fsprogs 1.46.5 and a 5.10 kernel, with a root made by mke2fs 1.47.
    g.text(
        "/var/lib/dpkg/status",
        "Package: openssh-server\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:8.4p1-5\n\nPackage: e2fsprogs\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.46.5-2\n\n",
    );
    g.dir("/usr/lib/modules/5.10.0-28-amd64", 0o755, 0, 0);
    let img = g.ext4(
        t.path(),
        &t.path().join("feat.ext4"),
        24,
        &["-O", "orphan_file"],
    );
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 1, "{r}");
    let f = with("FS-023", &r);
    assert_eq!(f.len(), 2, "e2fsck and kernel: {r}");
    assert!(f.iter().all(|f| {
        f["fix"]
            .as_str()
            .unwrap()
            .contains("tune2fs -O ^orphan_file")
    }));
    assert!(
        f.iter()
            .any(|f| f["title"].as_str().unwrap().contains("e2fsck 1.46.5"))
    );
    assert!(
        f.iter()
            .any(|f| f["title"].as_str().unwrap().contains("5.10.0-28-amd64"))
    );

    // The same filesystem on a guest that knows the feature: nothing to say.
    let mut ok = Guest::debian();
    ok.text("/var/lib/dpkg/status", "Package: e2fsprogs\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.47.0-2\n\n");
    ok.dir("/usr/lib/modules/6.1.0-18-amd64", 0o755, 0, 0);
    let img = ok.ext4(
        t.path(),
        &t.path().join("feat-ok.ext4"),
        24,
        &["-O", "orphan_file"],
    );
    assert!(with("FS-023", &check_json(&img, &[]).1).is_empty());
}

#[test]
fn filesystem_larger_than_its_partition() {
    let t = tempdir();
    let fs = Guest::debian().ext4(t.path(), &t.path().join("root.ext4"), 24, &[]);
    let img = t.path().join("small-part.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(40 * MIB)
        .unwrap();
    // Partition 1 holds only 20 MiB of the 24 MiB filesystem.
    check(
        std::process::Command::new("sgdisk")
            .args(["-n", "1:2048:+20M"])
            .arg(&img)
            .output()
            .unwrap(),
        "sgdisk",
    );
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.write_all_at(&std::fs::read(&fs).unwrap()[..20 << 20], MIB)
        .unwrap();
    drop(f);
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 1, "{r}");
    let f = &with("FS-024", &r)[0];
    assert!(
        f["title"].as_str().unwrap().contains("24.0 MiB")
            && f["title"].as_str().unwrap().contains("20.0 MiB"),
        "{f}"
    );
}

#[test]
fn zeroed_boot_and_login_files() {
    let t = tempdir();
    let mut g = Guest::debian();
    g.text(
        "/etc/pam.d/sshd",
        "@include common-auth\naccount required pam_nologin.so\n",
    );
    g.file("/etc/pam.d/common-auth", &[0u8; 1200], 0o644, 0, 0);
    g.text("/etc/fstab", "");
    g.text("/etc/ssh/sshd_config.d/empty.conf", "");
    let img = g.ext4(t.path(), &t.path().join("zero.ext4"), 24, &[]);
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 1, "{r}");
    let f = with("FILE-005", &r);
    assert_eq!(f.len(), 2, "{r}");
    let pam = f
        .iter()
        .find(|f| f["path"] == "/etc/pam.d/common-auth")
        .unwrap();
    assert_eq!(pam["severity"], "critical");
    assert!(
        pam["fix"]
            .as_str()
            .unwrap()
            .contains("--reinstall -o Dpkg::Options::=--force-confmiss libpam-runtime")
    );
    let fstab = f.iter().find(|f| f["path"] == "/etc/fstab").unwrap();
    assert_eq!(fstab["severity"], "warning");
}
