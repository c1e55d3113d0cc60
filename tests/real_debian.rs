//! End-to-end on a real debootstrapped Debian 12 root (built once and cached by
//! `scripts/debian-root.sh`; run through `scripts/e2e-debian.sh`). Skipped, with a message, when
//! `RESCUE_INSPECT_DEBIAN` does not point at that cache.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

fn cache() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("RESCUE_INSPECT_DEBIAN")?);
    dir.join("ext4.img").exists().then_some(dir)
}

/// A sparse copy of the cached image, to break one way.
fn sparse_copy(from: &std::path::Path, to: &std::path::Path) {
    let ok = Command::new("cp")
        .arg("--sparse=always")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn real_debian_12_in_every_packing() {
    let Some(dir) = cache() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    let mut targets = vec![
        (dir.join("ext4.img"), None),
        (dir.join("gpt.img"), Some(2)),
        (dir.join("mbr.img"), Some(1)),
        (dir.join("root"), None),
    ];
    // Loop-mounted as a directory, when the machine allows it.
    let mnt = tempdir();
    let mounted = Command::new("mount")
        .args(["-o", "ro,loop,noload"])
        .arg(dir.join("ext4.img"))
        .arg(mnt.path())
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        targets.push((mnt.path().to_path_buf(), None));
    } else {
        eprintln!(
            "note: loop mount unavailable; the mounted-directory case uses the debootstrap tree only"
        );
    }
    // As a block device: a read-only loop device over the GPT image.
    let loopdev = Command::new("losetup")
        .args(["-r", "-f", "--show"])
        .arg(dir.join("gpt.img"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match &loopdev {
        Some(dev) => targets.push((PathBuf::from(dev), Some(2))),
        None => eprintln!("note: loop devices unavailable; block-device case skipped"),
    }
    for (t, index) in &targets {
        let (code, r) = check_json(t, &[]);
        assert_eq!(code, 0, "{}: {r}", t.display());
        assert_eq!(r["summary"]["critical"], 0, "{}: {r}", t.display());
        assert_eq!(r["target"]["os"]["id"], "debian");
        assert_eq!(r["target"]["os"]["version_id"], "12");
        if let Some(i) = index {
            assert_eq!(r["target"]["partition"]["index"], *i);
        }
        let (code, out, err) = run(&[&"ls", t, &"/home/*/.ssh"]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.lines()
                .nth(1)
                .unwrap()
                .starts_with("drwx------ admin admin"),
            "{out}"
        );
        assert!(out.contains("-rw------- admin admin"), "{out}");
        let (code, out, _) = run(&[&"ls", t, &"/etc/ssh"]);
        assert_eq!(code, 0);
        assert!(
            out.contains("-rw------- root root") && out.contains("ssh_host_ed25519_key"),
            "{out}"
        );
    }
    for (t, _) in &targets[..3] {
        let (code, out, err) = run(&[&"partitions", t, &"--format", &"json"]);
        assert_eq!(code, 0, "{err}");
        let l: serde_json::Value = serde_json::from_str(&out).unwrap();
        let root: Vec<_> = l["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["root"] == true)
            .collect();
        assert_eq!(root.len(), 1);
        assert_eq!(
            root[0]["os"]["pretty_name"],
            "Debian GNU/Linux 12 (bookworm)"
        );
    }
    if mounted {
        let _ = Command::new("umount").arg(mnt.path()).status();
    }
    if let Some(dev) = loopdev {
        let _ = Command::new("losetup").arg("-d").arg(dev).status();
    }
}

/// Real Debian 12 broken in the classic ways, one copy each (debugfs -w on a sparse copy).
#[test]
fn real_debian_12_breakages_are_found() {
    let Some(dir) = cache() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    let t = tempdir();
    let cases: [(&str, &str, &str, &str); 7] = [
        (
            "no-host-keys",
            "rm /etc/ssh/ssh_host_rsa_key\nrm /etc/ssh/ssh_host_ecdsa_key\nrm /etc/ssh/ssh_host_ed25519_key\n",
            "SSHD-KEY-001",
            "no usable host key",
        ),
        (
            "libcrypto",
            "rm /usr/lib/x86_64-linux-gnu/libcrypto.so.3\n",
            "SSHD-LIB-001",
            "libcrypto.so.3",
        ),
        (
            "disabled",
            "rm /etc/systemd/system/multi-user.target.wants/ssh.service\n",
            "SSHD-SVC-001",
            "ssh.service",
        ),
        (
            "masked",
            "rm /etc/systemd/system/sshd.service\nsymlink /etc/systemd/system/ssh.service /dev/null\n",
            "SSHD-SVC-002",
            "masked",
        ),
        (
            "keys-0644",
            "sif /etc/ssh/ssh_host_rsa_key mode 0100644\nsif /etc/ssh/ssh_host_ecdsa_key mode 0100644\nsif /etc/ssh/ssh_host_ed25519_key mode 0100644\n",
            "SSHD-KEY-001",
            "no usable host key",
        ),
        (
            "no-config",
            "rm /etc/ssh/sshd_config\n",
            "FILE-001",
            "sshd_config",
        ),
        (
            "ssh-0777",
            "sif /home/admin/.ssh mode 040777\n",
            "PERM-001",
            "/home/admin/.ssh",
        ),
    ];
    for (name, script, id, word) in cases {
        let img = t.path().join(format!("{name}.img"));
        sparse_copy(&dir.join("ext4.img"), &img);
        debugfs_w(&img, script);
        let (code, r) = check_json(&img, &[]);
        assert_eq!(code, 1, "{name}: {r}");
        let f = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("{name}: no {id}: {r}"));
        assert_eq!(f["severity"], "critical", "{name}");
        assert!(
            f["title"].as_str().unwrap().contains(word)
                || f["path"].as_str().unwrap_or("").contains(word),
            "{name}: {f}"
        );
        assert!(f["fix"].as_str().is_some(), "{name}");
        let _ = std::fs::remove_file(&img);
    }
}

/// Real Debian 12 with its sshd_config broken: each finding names the file and line that sshd
/// itself would name.
#[test]
fn real_debian_12_sshd_config_breakages_are_found() {
    let Some(dir) = cache() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    let t = tempdir();
    let original = std::fs::read_to_string(dir.join("root/etc/ssh/sshd_config")).unwrap();
    let main_lines = original.lines().count();
    // (name, guest file, its new content, rule, line, word in the title)
    let cases: Vec<(&str, &str, String, &str, usize, &str)> = vec![
        (
            "misspelled",
            "/etc/ssh/sshd_config",
            format!("{original}PermitRootLogn no\n"),
            "SSHD-CFG-001",
            main_lines + 1,
            "PermitRootLogn",
        ),
        (
            "misspelled-drop-in",
            "/etc/ssh/sshd_config.d/50-hardening.conf",
            "# hardening\nPasswordAuthenticaton no\n".into(),
            "SSHD-CFG-001",
            2,
            "PasswordAuthenticaton",
        ),
        (
            "bad-value",
            "/etc/ssh/sshd_config",
            format!("{original}PermitRootLogin maybe\n"),
            "SSHD-CFG-001",
            main_lines + 1,
            "maybe",
        ),
        (
            "legacy-kex",
            "/etc/ssh/sshd_config",
            format!("{original}KexAlgorithms diffie-hellman-group1-sha1\n"),
            "SSHD-CRYPTO-001",
            main_lines + 1,
            "key exchange",
        ),
    ];
    for (name, guest, content, id, line, word) in cases {
        let img = t.path().join(format!("{name}.img"));
        sparse_copy(&dir.join("ext4.img"), &img);
        let host = t.path().join(format!("{name}.conf"));
        std::fs::write(&host, content).unwrap();
        let (parent, base) = guest.rsplit_once('/').unwrap();
        let rm = if dir.join("root").join(&guest[1..]).exists() {
            format!("rm {base}\n")
        } else {
            String::new()
        };
        debugfs_w(
            &img,
            &format!(
                "cd {parent}\n{rm}write {} {base}\nsif {base} uid 0\nsif {base} gid 0\nsif {base} mode 0100644\n",
                host.display()
            ),
        );
        let (code, r) = check_json(&img, &[]);
        assert_eq!(code, 1, "{name}: {r}");
        let f = with(id, &r);
        assert!(!f.is_empty(), "{name}: no {id}: {r}");
        assert_eq!(f[0]["severity"], "critical", "{name}");
        assert_eq!(f[0]["path"], guest, "{name}: {r}");
        assert_eq!(f[0]["line"], line, "{name}: {r}");
        assert!(
            f[0]["title"].as_str().unwrap().contains(word),
            "{name}: {}",
            f[0]
        );
        assert!(f[0]["fix"].as_str().is_some(), "{name}");
        if id == "SSHD-CFG-001" {
            assert_eq!(r["verdict"]["sshd_starts"], false, "{name}");
        }
        let _ = std::fs::remove_file(&img);
    }
}
