//! Will boot get past its mounts: fstab and crypttab against the filesystems on the volume.

mod common;

use common::*;

fn report_with_fstab(fstab: &str, crypttab: Option<&str>) -> serde_json::Value {
    let t = tempdir();
    let mut g = Guest::debian();
    g.text("/etc/fstab", fstab);
    if let Some(c) = crypttab {
        g.text("/etc/crypttab", c);
    }
    let img = g.ext4(t.path(), &t.path().join("f.ext4"), 24, &[]);
    check_json(&img, &[]).1
}

const ROOT: &str = "UUID=2f5e3a46-7d0b-4bb5-9d3c-6b6e5e8f1a10 / ext4 errors=remount-ro 0 1\n";

#[test]
fn healthy_fstab_is_quiet() {
    let r = report_with_fstab(
        &format!(
            "{ROOT}tmpfs /tmp tmpfs defaults 0 0\nUUID=1234-5678 /data ext4 defaults,nofail 0 2\nserver:/export /mnt/nfs nfs defaults,_netdev 0 0\n"
        ),
        None,
    );
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| !f["id"].as_str().unwrap().starts_with("BOOT")),
        "{r}"
    );
}

#[test]
fn each_fstab_breakage() {
    let r = report_with_fstab(
        &format!(
            "{ROOT}UUID=0b0b0b0b-1111-2222-3333-444444444444 /boot ext4 defaults 0 2\nUUID=5e5e5e5e-1111-2222-3333-444444444444 /srv/data ext4 defaults 0 2\n/dev/xvdb1 /scratch ext4 defaults,nofail 0 0\nthis line is broken badly with seven fields\n"
        ),
        Some("secret UUID=77777777-1111-2222-3333-444444444444 none luks\n"),
    );
    let b1 = with("BOOT-001", &r);
    assert_eq!(b1.len(), 1, "{r}");
    assert_eq!(
        (
            b1[0]["path"].as_str(),
            b1[0]["line"].as_u64(),
            b1[0]["severity"].as_str()
        ),
        (Some("/etc/fstab"), Some(2), Some("critical"))
    );
    let b2 = with("BOOT-002", &r);
    assert_eq!(b2.len(), 1);
    assert_eq!(b2[0]["line"], 3);
    assert!(
        b2[0]["fix"].as_str().unwrap().contains("nofail"),
        "{}",
        b2[0]
    );
    assert_eq!(with("BOOT-003", &r)[0]["line"], 4);
    assert_eq!(with("BOOT-004", &r)[0]["line"], 5);
    let b6 = &with("BOOT-006", &r)[0];
    assert_eq!(
        (b6["path"].as_str(), b6["line"].as_u64()),
        (Some("/etc/crypttab"), Some(1))
    );

    // The / entry with another UUID.
    let r = report_with_fstab(
        "UUID=99999999-1111-2222-3333-444444444444 / ext4 defaults 0 1\n",
        None,
    );
    let f = &with("BOOT-005", &r)[0];
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("2f5e3a46-7d0b-4bb5-9d3c-6b6e5e8f1a10"),
        "{f}"
    );
}

#[test]
fn a_recreated_partition_gets_the_uuid_that_is_present() {
    let t = tempdir();
    let root = Guest::debian();
    let mut g = root.clone();
    g.text(
        "/etc/fstab",
        &format!("{ROOT}UUID=5e5e5e5e-1111-2222-3333-444444444444 /srv ext4 defaults 0 2\n"),
    );
    let rootfs = g.ext4(t.path(), &t.path().join("root.ext4"), 24, &[]);
    let data = t.path().join("data.ext4");
    check(
        std::process::Command::new("mke2fs")
            .args([
                "-q",
                "-F",
                "-t",
                "ext4",
                "-U",
                "abcdabcd-0000-1111-2222-333333333333",
            ])
            .arg(&data)
            .arg("4M")
            .output()
            .unwrap(),
        "mke2fs",
    );
    let img = t.path().join("two.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(40 * MIB)
        .unwrap();
    check(
        std::process::Command::new("sgdisk")
            .args(["-n", "1:2048:+24M", "-n", "2:0:+4M"])
            .arg(&img)
            .output()
            .unwrap(),
        "sgdisk",
    );
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.write_all_at(&std::fs::read(&rootfs).unwrap(), MIB)
        .unwrap();
    f.write_all_at(&std::fs::read(&data).unwrap(), 25 * MIB)
        .unwrap();
    drop(f);
    let (_, r) = check_json(&img, &[]);
    let b = with("BOOT-001", &r);
    assert_eq!(b.len(), 1, "{r}");
    assert!(
        b[0]["fix"]
            .as_str()
            .unwrap()
            .contains("UUID=abcdabcd-0000-1111-2222-333333333333"),
        "{}",
        b[0]
    );
}
