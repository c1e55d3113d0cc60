use super::*;
use crate::fs::mem::MemFs;
use crate::fs::{FileType, Time};
use std::process::Command;

/// Made by `ssh-keygen -t ed25519 -N "" -C root@vm`; `ssh-keygen -lf` prints
/// `256 SHA256:1dJ+2O0stymrIxPWxjI5bcQbdqIWkSyw3LAo4xJhrFU root@vm (ED25519)`.
const KEY: &[u8] = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDWOG3yTTpaIbd0OzLho4/RmwGXkqBRfuedn7h9SDmsSwAAAJBjtX4mY7V+\nJgAAAAtzc2gtZWQyNTUxOQAAACDWOG3yTTpaIbd0OzLho4/RmwGXkqBRfuedn7h9SDmsSw\nAAAEDr0APXgyB78ABwSImzVdDQC6EOpYwv1OQuQHTm5hhh89Y4bfJNOloht3Q7MuGjj9Gb\nAZeSoFF+552fuH1IOaxLAAAAB3Jvb3RAdm0BAgMEBQY=\n-----END OPENSSH PRIVATE KEY-----\n";

fn meta(perm: u32, uid: u32, gid: u32) -> Metadata {
    Metadata {
        file_type: FileType::Regular,
        perm,
        uid,
        gid,
        size: 0,
        mtime: Time { secs: 0, nanos: 0 },
        atime: Time { secs: 0, nanos: 0 },
        ctime: None,
        inode: None,
        nlink: None,
    }
}

#[test]
fn mode_rule_mirrors_sshkey_perm_ok() {
    let p = Path::new("/etc/ssh/ssh_host_rsa_key");
    assert!(host_key_mode_ok(p, &meta(0o600, 0, 0), false, None).is_ok());
    assert!(host_key_mode_ok(p, &meta(0o400, 0, 0), false, None).is_ok());
    let e = host_key_mode_ok(p, &meta(0o644, 0, 0), false, None).unwrap_err();
    assert!(
        e.contains("UNPROTECTED PRIVATE KEY FILE")
            && e.contains("Permissions 0644 for '/etc/ssh/ssh_host_rsa_key' are too open."),
        "{e}"
    );
    // Owned by someone else: not checked by sshkey_perm_ok.
    assert!(host_key_mode_ok(p, &meta(0o644, 1000, 0), false, None).is_ok());
    // RHEL: root:ssh_keys 0640 passes, only with the patch and only that group.
    assert!(host_key_mode_ok(p, &meta(0o640, 0, 993), true, Some(993)).is_ok());
    assert!(host_key_mode_ok(p, &meta(0o640, 0, 993), false, Some(993)).is_err());
    assert!(host_key_mode_ok(p, &meta(0o640, 0, 0), true, Some(993)).is_err());
    assert!(host_key_mode_ok(p, &meta(0o640, 0, 993), true, None).is_err());
    let e = host_key_mode_ok(p, &meta(0o660, 0, 993), true, Some(993)).unwrap_err();
    // The patch clears g+r before the check, and sshd prints the cleared mode.
    assert!(e.contains("Permissions 0620"), "{e}");
}

#[test]
fn public_lines() {
    let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINY4bfJNOloht3Q7MuGjj9GbAZeSoFF+552fuH1IOaxL root@vm\n";
    let k = parse_public_line(line).unwrap();
    assert_eq!(k.key_type, KeyType::Ed25519);
    assert_eq!(k.comment.as_deref(), Some("root@vm"));
    assert!(k.fingerprint().starts_with("SHA256:"));
    assert!(matches!(
        parse_public_line(
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAINY4bfJNOloht3Q7MuGjj9GbAZeSoFF+552fuH1IOaxL"
        ),
        Err(KeyError::PublicLine(_))
    ));
    assert!(parse_public_line("ssh-ed25519").is_err());
    assert!(parse_public_line("ssh-ed25519 !!!!").is_err());
}

#[test]
fn hostile_bytes_do_not_panic() {
    let good = KEY;
    let k = parse_private_key(good).unwrap();
    assert_eq!(
        k.keygen_line().unwrap(),
        "256 SHA256:1dJ+2O0stymrIxPWxjI5bcQbdqIWkSyw3LAo4xJhrFU root@vm (ED25519)"
    );
    assert_eq!(k.key_type, KeyType::Ed25519);
    assert_eq!(k.comment.as_deref(), Some("root@vm"));
    assert!(!k.encrypted);
    // Every truncation and every single-byte corruption of the decoded body parses or errs.
    let pem = find_pem(good).unwrap();
    let body = base64::decode(pem.body).unwrap();
    for cut in 0..body.len() {
        let _ = parse_openssh(&body[..cut]);
    }
    for i in 0..body.len() {
        for v in [0u8, 0x7f, 0xff] {
            let mut b = body.clone();
            b[i] = v;
            let _ = parse_openssh(&b);
        }
    }
    for cut in 0..good.len() {
        let _ = parse_private_key(&good[..cut]);
    }
    assert_eq!(parse_private_key(b""), Err(KeyError::Empty));
    assert_eq!(parse_private_key(&[0u8; 64]), Err(KeyError::NoArmor));
    // OpenSSH-format quirks sshd refuses.
    let crlf = String::from_utf8_lossy(good).replace('\n', "\r\n");
    assert!(matches!(
        parse_private_key(crlf.as_bytes()),
        Err(KeyError::OpenSshArmor("CRLF line endings"))
    ));
    assert!(matches!(
        parse_private_key(&good[..good.len() - 1]),
        Err(KeyError::OpenSshArmor(_))
    ));
    let mut lead = b"\n".to_vec();
    lead.extend_from_slice(good);
    assert!(matches!(
        parse_private_key(&lead),
        Err(KeyError::OpenSshArmor(_))
    ));
    // DER hostile inputs.
    for der in [
        &[0x30u8, 0x84, 0x7f, 0xff, 0xff, 0xff][..],
        &[0x30, 0x03, 0x02, 0x05, 0x00],
        &[0x30],
        &[],
    ] {
        assert!(rsa_pkcs1_blob(der).is_err());
        assert!(sec1_blob(der, None).is_err());
        assert!(parse_pkcs8(der).is_err());
        assert!(dsa_blob(der).is_err());
    }
}

#[test]
fn proc_type_encrypted_pem() {
    let pem = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    let k = parse_private_key(pem).unwrap();
    assert!(k.encrypted);
    assert_eq!(k.cipher.as_deref(), Some("AES-128-CBC"));
    assert_eq!(k.key_type, KeyType::Rsa { bits: None });
    assert_eq!(k.public_blob, None);
}

#[test]
fn read_from_guest() {
    let mut m = MemFs::new();
    let key = KEY;
    m.file("/etc/ssh/ssh_host_ed25519_key", key, 0o644, 0, 0);
    m.file(
        "/etc/ssh/ssh_host_ed25519_key.pub",
        b"# comment line\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINY4bfJNOloht3Q7MuGjj9GbAZeSoFF+552fuH1IOaxL root@vm\n",
        0o644,
        0,
        0,
    );
    let fs = m.into_rootfs();
    let f = read_host_key(&fs, Path::new("/etc/ssh/ssh_host_ed25519_key")).unwrap();
    let k = f.key.unwrap();
    let p = f.public.unwrap().unwrap();
    assert_eq!(Some(p.blob), k.public_blob);
    assert!(host_key_mode_ok(&f.path, &f.metadata, false, None).is_err());
    assert!(read_host_key(&fs, Path::new("/etc/ssh/ssh_host_rsa_key")).is_err());
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("-?")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

fn keygen_l(path: &Path) -> String {
    let o = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Differential test against `ssh-keygen -lf`: every key type and size, each container format
/// ssh-keygen writes, and a passphrase-protected key.
#[test]
fn differential_ssh_keygen() {
    if !have("ssh-keygen") {
        eprintln!("skipped: ssh-keygen not installed (apt-get install -y openssh-client)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        ("ed25519", "", &[]),
        ("rsa", "1024", &[]),
        ("rsa", "2048", &[]),
        ("rsa", "3072", &[]),
        ("rsa", "4096", &[]),
        ("ecdsa", "256", &[]),
        ("ecdsa", "384", &[]),
        ("ecdsa", "521", &[]),
        ("dsa", "1024", &[]),
        ("rsa", "2048", &["-m", "PEM"]),
        ("ecdsa", "256", &["-m", "PEM"]),
        ("ecdsa", "384", &["-m", "PEM"]),
        ("ecdsa", "521", &["-m", "PEM"]),
        ("dsa", "1024", &["-m", "PEM"]),
        ("rsa", "3072", &["-m", "PKCS8"]),
        ("ecdsa", "256", &["-m", "PKCS8"]),
        ("ecdsa", "521", &["-m", "PKCS8"]),
    ];
    let mut checked = 0;
    for (i, (t, bits, extra)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("k{i}_{t}"));
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-t", t, "-N", "", "-C", &format!("c{i}@test")])
            .arg("-f")
            .arg(&path)
            .args(*extra);
        if !bits.is_empty() {
            cmd.args(["-b", bits]);
        }
        let o = cmd.output().unwrap();
        if !o.status.success() {
            // A key type this ssh-keygen no longer makes (DSA in 10.x).
            eprintln!(
                "note: ssh-keygen -t {t} {extra:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            continue;
        }
        let pub_line = std::fs::read_to_string(path.with_extension("pub")).unwrap_or_default();
        let mut pubp = path.as_os_str().to_owned();
        pubp.push(".pub");
        let pub_line = if pub_line.is_empty() {
            std::fs::read_to_string(&pubp).unwrap()
        } else {
            pub_line
        };
        // Without the .pub, ssh-keygen -l reads the private file itself.
        std::fs::remove_file(&pubp).unwrap();
        let expected = keygen_l(&path);
        let bytes = std::fs::read(&path).unwrap();
        let k = parse_private_key(&bytes).unwrap_or_else(|e| panic!("{t} {extra:?}: {e}"));
        assert!(!k.encrypted);
        let line = k.keygen_line().unwrap();
        if k.format == KeyFormat::OpenSsh {
            assert_eq!(line, expected, "{t} {bits} {extra:?}");
        } else {
            // The comment of a PEM key is not stored in it; compare the rest.
            let strip = |s: &str| {
                let f: Vec<&str> = s.split(' ').collect();
                (
                    f[0].to_string(),
                    f[1].to_string(),
                    f[f.len() - 1].to_string(),
                )
            };
            assert_eq!(strip(&line), strip(&expected), "{t} {bits} {extra:?}");
        }
        let p = parse_public_line(&pub_line).unwrap();
        assert_eq!(Some(&p.blob), k.public_blob.as_ref(), "{t} {extra:?}");
        assert_eq!(p.key_type, k.key_type);
        assert_eq!(p.comment.as_deref(), Some(format!("c{i}@test").as_str()));
        checked += 1;
    }
    assert!(checked >= 14, "only {checked} key formats checked");

    // A passphrase-protected OpenSSH key: public part and fingerprint without the passphrase.
    let path = dir.path().join("enc");
    let o = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "secret pass",
            "-C",
            "enc@test",
            "-f",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success());
    let mut pubp = path.as_os_str().to_owned();
    pubp.push(".pub");
    std::fs::remove_file(&pubp).unwrap();
    let expected = keygen_l(&path);
    let k = parse_private_key(&std::fs::read(&path).unwrap()).unwrap();
    assert!(k.encrypted);
    assert_eq!(k.cipher.as_deref(), Some("aes256-ctr"));
    assert_eq!(k.keygen_line().unwrap(), expected);

    // Passphrase-protected PEM: encrypted, type from the label.
    let path = dir.path().join("encpem");
    let o = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "rsa",
            "-b",
            "2048",
            "-m",
            "PEM",
            "-N",
            "secret pass",
            "-f",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success());
    let k = parse_private_key(&std::fs::read(&path).unwrap()).unwrap();
    assert!(k.encrypted, "{k:?}");
    assert!(matches!(k.key_type, KeyType::Rsa { .. }));

    // Passphrase-protected PKCS#8 (ENCRYPTED PRIVATE KEY).
    let path = dir.path().join("encp8");
    let o = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ecdsa",
            "-m",
            "PKCS8",
            "-N",
            "secret pass",
            "-f",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success());
    let k = parse_private_key(&std::fs::read(&path).unwrap()).unwrap();
    assert!(k.encrypted, "{k:?}");
    assert_eq!(k.format, KeyFormat::Pkcs8);
}

/// OpenSSL's own PKCS#8 Ed25519 (v1: no public key stored) and traditional formats.
#[test]
fn openssl_pkcs8() {
    if !have("openssl") {
        eprintln!("skipped: openssl not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ed");
    let o = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&path)
        .output()
        .unwrap();
    if !o.status.success() {
        eprintln!("note: openssl cannot make ed25519 keys here");
        return;
    }
    let k = parse_private_key(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(k.key_type, KeyType::Ed25519);
    assert_eq!(k.format, KeyFormat::Pkcs8);
    assert!(!k.encrypted);
}
