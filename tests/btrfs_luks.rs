//! Btrfs and LUKS are reported exactly as they are (made by mkfs.btrfs and cryptsetup
//! luksFormat on image files): label, UUID, device count; LUKS version, UUID, cipher and key
//! size, and that nothing can be inspected without the key.

mod common;

use std::process::{Command, Stdio};

use common::xfs::tools;
use common::*;

#[test]
fn btrfs_is_named_with_its_superblock() {
    if !tools(&["mkfs.btrfs"]) {
        return;
    }
    let t = tempdir();
    let img = t.path().join("b.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(300 * MIB)
        .unwrap();
    let uuid = "0d2c8f3e-1111-4222-8333-444455556666";
    check(
        Command::new("mkfs.btrfs")
            .args(["-q", "-f", "-L", "fedora", "-U", uuid])
            .arg(&img)
            .output()
            .unwrap(),
        "mkfs.btrfs",
    );
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 2, "{r}");
    let f = &with("ROOT-002", &r)[0];
    let d = f["detail"].as_str().unwrap();
    assert!(
        d.contains(&format!("UUID {uuid}, label \"fedora\"")) && d.contains("1 device(s)"),
        "{d}"
    );
    assert!(f["fix"].as_str().unwrap().contains("mount -o ro"), "{f}");
}

#[test]
fn luks_is_named_with_cipher_and_key_size() {
    if !tools(&["cryptsetup"]) {
        return;
    }
    let t = tempdir();
    for (ty, want) in [("luks2", "LUKS2"), ("luks1", "LUKS1")] {
        let img = t.path().join(format!("{ty}.img"));
        std::fs::File::create(&img)
            .unwrap()
            .set_len(40 * MIB)
            .unwrap();
        let mut c = Command::new("cryptsetup")
            .args([
                "luksFormat",
                "-q",
                "--type",
                ty,
                "--cipher",
                "aes-xts-plain64",
                "--key-size",
                "512",
            ])
            .args([
                "--pbkdf-force-iterations",
                "1000",
                "--uuid",
                "12345678-aaaa-bbbb-cccc-1234567890ab",
            ])
            .args(if ty == "luks2" {
                vec!["--pbkdf", "pbkdf2", "--label", "cryptroot"]
            } else {
                vec![]
            })
            .arg(&img)
            .arg("--key-file=-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(b"secret").unwrap();
        check(c.wait_with_output().unwrap(), "cryptsetup luksFormat");
        let (code, r) = check_json(&img, &[]);
        assert_eq!(code, 2, "{r}");
        let f = &with("ROOT-002", &r)[0];
        let d = f["detail"].as_str().unwrap();
        assert!(
            d.contains(&format!("{want} UUID 12345678-aaaa-bbbb-cccc-1234567890ab"))
                && d.contains("cipher aes-xts-plain64 (512-bit key)")
                && d.contains("1 key slot(s) in use")
                && d.contains("nothing on it can be inspected without the passphrase"),
            "{d}"
        );
        if ty == "luks2" {
            assert!(d.contains("label \"cryptroot\""), "{d}");
        }
    }
}
