//! End-to-end on a real debootstrapped Debian 12 root (built once and cached by
//! `scripts/debian-root.sh`; run through `scripts/e2e-debian.sh`). Skipped, with a message, when
//! `RESCUE_INSPECT_DEBIAN` does not point at that cache.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

/// A sparse copy of the cached image, to break one way.

#[test]
fn real_debian_12_in_every_packing() {
    let Some(dir) = debian_cache() else {
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
    let Some(dir) = debian_cache() else {
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
    let Some(dir) = debian_cache() else {
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

/// Writes a file into an image with debugfs (replacing it when it exists), owned by root, 0644.
fn put(
    img: &std::path::Path,
    cache_root: &std::path::Path,
    guest: &str,
    content: &str,
    work: &std::path::Path,
) {
    let host = work.join(guest.replace('/', "_"));
    std::fs::write(&host, content).unwrap();
    let (parent, base) = guest.rsplit_once('/').unwrap();
    let rm = if cache_root.join(&guest[1..]).exists() {
        format!("rm {base}\n")
    } else {
        String::new()
    };
    debugfs_w(
        img,
        &format!(
            "cd {parent}\n{rm}write {} {base}\nsif {base} uid 0\nsif {base} gid 0\nsif {base} mode 0100644\n",
            host.display()
        ),
    );
}

/// The login path on real Debian 12 (user admin with a key): each classic breakage blocks with
/// the right rule and path, and the healthy image (also with /home moved behind an absolute
/// symlink) is allowed.
#[test]
fn real_debian_12_login_breakages_block_admin() {
    let Some(dir) = debian_cache() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    let t = tempdir();
    let root = dir.join("root");
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let shadow = std::fs::read_to_string(root.join("etc/shadow")).unwrap();
    let with_admin = |text: &str, f: &dyn Fn(&mut Vec<String>)| -> String {
        text.lines()
            .map(|l| {
                if l.starts_with("admin:") {
                    let mut fields: Vec<String> = l.split(':').map(str::to_string).collect();
                    f(&mut fields);
                    fields.join(":")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    let dsa = t.path().join("dsa");
    check(
        Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-t", "dsa", "-f"])
            .arg(&dsa)
            .output()
            .unwrap(),
        "ssh-keygen -t dsa",
    );
    let dsa_pub = std::fs::read_to_string(dsa.with_extension("pub")).unwrap();
    // (name, debugfs script, files to write, rule, path it names)
    type Case = (
        &'static str,
        String,
        Vec<(&'static str, String)>,
        &'static str,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        ("ssh-0777", "sif /home/admin/.ssh mode 040777\n".into(), vec![], "PERM-001", "/home/admin/.ssh"),
        ("keys-other-owner", "sif /home/admin/.ssh/authorized_keys uid 1001\n".into(), vec![], "PERM-001", "/home/admin/.ssh/authorized_keys"),
        ("keys-missing", "rm /home/admin/.ssh/authorized_keys\n".into(), vec![], "AK-001", "/home/admin/.ssh/authorized_keys"),
        ("home-missing", String::new(), vec![("/etc/passwd", with_admin(&passwd, &|f| f[5] = "/home/gone".into()))], "ACC-003", "/home/gone"),
        ("shell-missing", String::new(), vec![("/etc/passwd", with_admin(&passwd, &|f| f[6] = "/bin/fish".into()))], "ACC-002", "/etc/passwd"),
        ("nologin", String::new(), vec![("/etc/passwd", with_admin(&passwd, &|f| f[6] = "/usr/sbin/nologin".into()))], "ACC-002", "/etc/passwd"),
        ("expired", String::new(), vec![("/etc/shadow", with_admin(&shadow, &|f| f[7] = "1".into()))], "ACC-004", "/etc/shadow"),
        ("allowusers", String::new(), vec![("/etc/ssh/sshd_config.d/10-users.conf", "AllowUsers deploy\n".into())], "AUTH-001", "/etc/ssh/sshd_config.d/10-users.conf"),
        ("match-no-pubkey", String::new(), vec![("/etc/ssh/sshd_config.d/10-match.conf", "Match User admin\n    PubkeyAuthentication no\n".into())], "AUTH-001", "/etc/ssh/sshd_config.d/10-match.conf"),
        ("keys-file-elsewhere", String::new(), vec![("/etc/ssh/sshd_config.d/10-keys.conf", "AuthorizedKeysFile /etc/ssh/authorized_keys/%u\n".into())], "AK-001", "/etc/ssh/authorized_keys/admin"),
        ("only-dsa", "sif /home/admin/.ssh/authorized_keys uid 1000\nsif /home/admin/.ssh/authorized_keys gid 1000\nsif /home/admin/.ssh/authorized_keys mode 0100600\n".into(), vec![("/home/admin/.ssh/authorized_keys", dsa_pub.clone())], "AK-003", "/home/admin/.ssh/authorized_keys"),
        ("pam-session-module", "rm /usr/lib/x86_64-linux-gnu/security/pam_loginuid.so\n".into(), vec![], "PAM-001", "/etc/pam.d/sshd"),
    ];
    for (name, script, files, id, path) in cases {
        let img = t.path().join(format!("{name}.img"));
        sparse_copy(&dir.join("ext4.img"), &img);
        for (guest, content) in &files {
            put(&img, &root, guest, content, t.path());
        }
        if !script.is_empty() {
            debugfs_w(&img, &script);
        }
        let (code, r) = check_json(&img, &[]);
        assert_eq!(code, 1, "{name}: {r}");
        assert_eq!(verdict(&r, "admin")["key_login"], "blocked", "{name}: {r}");
        let f = with(id, &r);
        assert!(!f.is_empty(), "{name}: no {id}: {r}");
        assert_eq!(f[0]["path"], path, "{name}: {}", f[0]);
        assert!(f[0]["fix"].as_str().is_some(), "{name}: {}", f[0]);
        let _ = std::fs::remove_file(&img);
    }

    // /home moved to /srv/home behind an absolute symlink: still allowed; broken behind the
    // link: the finding names the real directory.
    for broken in [false, true] {
        let img = t.path().join(format!("symlinked-home-{broken}.img"));
        sparse_copy(&dir.join("ext4.img"), &img);
        let mut script = String::from(
            "mkdir /srv/home\nlink /home/admin /srv/home/admin\nunlink /home/admin\nrmdir /home\nsymlink /home /srv/home\n",
        );
        if broken {
            script.push_str("sif /srv/home/admin/.ssh mode 040777\n");
        }
        debugfs_w(&img, &script);
        let (code, r) = check_json(&img, &[]);
        let admin = verdict(&r, "admin").clone();
        if broken {
            assert_eq!(code, 1, "{r}");
            assert_eq!(admin["key_login"], "blocked", "{r}");
            let f = with("PERM-001", &r);
            assert_eq!(f[0]["path"], "/srv/home/admin/.ssh", "{r}");
        } else {
            assert_eq!(code, 0, "{r}");
            assert_eq!(admin["key_login"], "allowed", "{r}");
        }
    }
}

/// Real Debian 12's sshd links libwrap: hosts.deny applies. And a firewall enabled at boot.
#[test]
fn real_debian_12_network_path() {
    let Some(dir) = debian_cache() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    let t = tempdir();
    let root = dir.join("root");
    let unit = "[Unit]\nDescription=netfilter persistent configuration\n\n[Service]\nType=oneshot\nExecStart=/usr/sbin/netfilter-persistent start\n\n[Install]\nWantedBy=multi-user.target\n";
    type Case = (
        &'static str,
        Vec<(&'static str, String)>,
        &'static str,
        Option<(&'static str, &'static str, usize)>,
    );
    let cases: Vec<Case> = vec![
        ("hosts-deny", vec![("/etc/hosts.deny", "# deny everything\nALL: ALL\n".into())], "", Some(("NET-003", "/etc/hosts.deny", 2))),
        ("hosts-allow-sshd", vec![("/etc/hosts.deny", "ALL: ALL\n".into()), ("/etc/hosts.allow", "sshd: ALL\n".into())], "", None),
        (
            "iptables-drop",
            vec![
                ("/usr/lib/systemd/system/netfilter-persistent.service", unit.into()),
                ("/etc/iptables/rules.v4", "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp --dport 80 -j ACCEPT\nCOMMIT\n".into()),
            ],
            "mkdir /etc/iptables\nsymlink /etc/systemd/system/multi-user.target.wants/netfilter-persistent.service /lib/systemd/system/netfilter-persistent.service\n",
            Some(("NET-001", "/etc/iptables/rules.v4", 2)),
        ),
    ];
    for (name, files, script, want) in cases {
        let img = t.path().join(format!("{name}.img"));
        sparse_copy(&dir.join("ext4.img"), &img);
        if !script.is_empty() {
            debugfs_w(&img, script);
        }
        for (guest, content) in &files {
            put(&img, &root, guest, content, t.path());
        }
        let (code, r) = check_json(&img, &[]);
        match want {
            Some((id, path, line)) => {
                assert_eq!(code, 1, "{name}: {r}");
                let f = with(id, &r);
                assert_eq!(f.len(), 1, "{name}: {r}");
                assert_eq!(f[0]["path"], path, "{name}");
                assert_eq!(f[0]["line"], line, "{name}");
            }
            None => assert_eq!(r["summary"]["critical"], 0, "{name}: {r}"),
        }
    }
}

/// Debian 12's own ufw and nftables packages, enabled at boot: stock configuration, the
/// rules `ufw allow` writes, a strict nftables ruleset.
#[test]
fn real_debian_12_ufw_and_nftables() {
    let Some(dir) = debian_cache() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    let root = dir.join("root");
    if !root.join("etc/ufw/ufw.conf").exists() || !root.join("etc/nftables.conf").exists() {
        eprintln!(
            "skipped: the cached Debian root predates ufw/nftables (rebuild with scripts/debian-root.sh)"
        );
        return;
    }
    let t = tempdir();
    let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/ufw");
    let ufw_conf = std::fs::read_to_string(root.join("etc/ufw/ufw.conf"))
        .unwrap()
        .replace("ENABLED=no", "ENABLED=yes");
    let policy_line = std::fs::read_to_string(root.join("etc/default/ufw"))
        .unwrap()
        .lines()
        .position(|l| l.starts_with("DEFAULT_INPUT_POLICY"))
        .unwrap()
        + 1;
    let allow = std::fs::read_to_string(testdata.join("user.rules.allow-22")).unwrap();
    let from10 = std::fs::read_to_string(testdata.join("user.rules.allow-22-from-10")).unwrap();
    let strict = "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tiif lo accept\n\t\tct state established,related accept\n\t\ttcp dport { 80, 443 } accept\n\t}\n}\n";
    let nft_on = "symlink /etc/systemd/system/multi-user.target.wants/nftables.service /lib/systemd/system/nftables.service\n";
    // (name, files, debugfs script, rule and where, or None for clean)
    type Case = (
        &'static str,
        Vec<(&'static str, String)>,
        &'static str,
        Option<(&'static str, &'static str, usize)>,
    );
    let cases: Vec<Case> = vec![
        (
            "ufw-enabled-stock",
            vec![("/etc/ufw/ufw.conf", ufw_conf.clone())],
            "",
            Some(("NET-001", "/etc/default/ufw", policy_line)),
        ),
        (
            "ufw-allow-22",
            vec![
                ("/etc/ufw/ufw.conf", ufw_conf.clone()),
                ("/etc/ufw/user.rules", allow),
            ],
            "",
            None,
        ),
        (
            "ufw-from-10",
            vec![
                ("/etc/ufw/ufw.conf", ufw_conf.clone()),
                ("/etc/ufw/user.rules", from10),
            ],
            "",
            Some(("NET-002", "/etc/ufw/user.rules", 21)),
        ),
        ("nft-stock", vec![], nft_on, None),
        (
            "nft-strict",
            vec![("/etc/nftables.conf", strict.into())],
            nft_on,
            Some(("NET-001", "/etc/nftables.conf", 7)),
        ),
    ];
    for (name, files, script, want) in cases {
        let img = t.path().join(format!("{name}.img"));
        sparse_copy(&dir.join("ext4.img"), &img);
        if !script.is_empty() {
            debugfs_w(&img, script);
        }
        for (guest, content) in &files {
            put(&img, &root, guest, content, t.path());
        }
        let (_, r) = check_json(&img, &[]);
        let net: Vec<String> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"].as_str().unwrap().starts_with("NET-"))
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        match want {
            None => {
                assert!(net.is_empty(), "{name}: {r}");
                assert_eq!(r["summary"]["critical"], 0, "{name}: {r}");
            }
            Some((id, path, line)) => {
                assert_eq!(net, vec![id.to_string()], "{name}: {r}");
                let f = with(id, &r);
                assert_eq!(f[0]["path"], path, "{name}: {}", f[0]);
                assert_eq!(f[0]["line"], line, "{name}: {}", f[0]);
            }
        }
    }
}
