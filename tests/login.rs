//! Will this user log in with this key: each classic breakage yields `blocked` with the right
//! rule, path and fix, and the healthy twin yields `allowed`.

mod common;

use common::*;

type Mutation = Box<dyn Fn(&mut Guest)>;

fn report(g: &Guest, name: &str) -> serde_json::Value {
    let t = tempdir();
    let img = g.ext4(t.path(), &t.path().join(format!("{name}.ext4")), 24, &[]);
    check_json(&img, &[]).1
}

fn finding<'a>(r: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {r}"))
}

#[test]
fn healthy_user_is_allowed() {
    let r = report(&Guest::debian(), "ok");
    assert_eq!(verdict(&r, "admin")["key_login"], "allowed", "{r}");
    assert_eq!(r["summary"]["critical"], 0, "{r}");
}

#[test]
fn each_classic_breakage_blocks_with_rule_path_and_fix() {
    const DSA: &str = "ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4EddRIpUt9KnC7s5Of2EbdSPO9EAMMeP4C2USZpRV1AIlH7WT2NWPq/xfW6MPbLm1Vs14E7gB00b/JmYLdrmVClpJ+f6AR7ECLCT7up1/63xhv4O1fnxqimFQ8E+4P208UewwI1VBNaFpEy9nXzrith1yrv8iIDGZ3RSAHHAAAAFQCXYFCPFSMLzLKSuYKi64QL8Fgc9QAAAIEA9+GghdabPd7LvKtcNrhXuXmUr7v6OuqC+VdMCz0HgmdRWVeOutRZT+ZxBxCBgLRJFnEj6EwoFhO3zwkyjMim4TwWeotUfI0o4KOuHiuzpnWRbqN/C/ohNWLx+2J6ASQ7zKTxvqhRkImog9/hWuWfBpKLZl6Ae1UlZAFMO/7PSSoAAACBAKKSU2PFl/qOLxIwmBZPPIcJshVe7bVUpFvyl3BbJDow8rXfskl8wO63OzP/qLmcJM0+JbcRU/53JjTuyk31drV2qxhIOsLDC9dGCWj47Y7TyhPdXh/0dthTRBy6bqGtRPxGa7gJov1xm/UuYYXPIUR/3x9MAZvZ5xvE0kYXO+rx dsa@old\n";
    let cases: Vec<(&str, Mutation, &str, &str, &str)> = vec![
        (
            "ssh-0777",
            Box::new(|g: &mut Guest| {
                g.dir("/home/admin/.ssh", 0o777, 1000, 1000);
            }),
            "PERM-001",
            "/home/admin/.ssh",
            "chmod 700 /mnt/rescue/home/admin/.ssh",
        ),
        (
            "keys-owned-by-other",
            Box::new(|g: &mut Guest| {
                let n = g
                    .nodes
                    .iter_mut()
                    .find(|n| n.path == "/home/admin/.ssh/authorized_keys")
                    .unwrap();
                n.uid = 1001;
            }),
            "PERM-001",
            "/home/admin/.ssh/authorized_keys",
            "chown 1000:1000 /mnt/rescue/home/admin/.ssh/authorized_keys",
        ),
        (
            "home-0777",
            Box::new(|g: &mut Guest| {
                g.dir("/home/admin", 0o777, 1000, 1000);
            }),
            "PERM-001",
            "/home/admin",
            "chmod go-w /mnt/rescue/home/admin",
        ),
        (
            "no-keys",
            Box::new(|g: &mut Guest| {
                g.remove("/home/admin/.ssh/authorized_keys");
            }),
            "AK-001",
            "/home/admin/.ssh/authorized_keys",
            "install -d -m 700 -o 1000 -g 1000 /mnt/rescue/home/admin/.ssh",
        ),
        (
            "no-home",
            Box::new(|g: &mut Guest| {
                g.remove("/home/admin");
            }),
            "ACC-003",
            "/home/admin",
            "mkdir -p /mnt/rescue/home/admin && chown 1000:1000",
        ),
        (
            "no-shell",
            Box::new(|g: &mut Guest| {
                g.text("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nadmin:x:1000:1000:Admin,,,:/home/admin:/bin/zsh\n");
            }),
            "ACC-002",
            "/etc/passwd",
            "usermod -s /bin/bash admin",
        ),
        (
            "nologin",
            Box::new(|g: &mut Guest| {
                g.file("/usr/sbin/nologin", FAKE_ELF, 0o755, 0, 0);
                g.text("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nadmin:x:1000:1000:Admin,,,:/home/admin:/usr/sbin/nologin\n");
            }),
            "ACC-002",
            "/etc/passwd",
            "usermod -s /bin/bash admin",
        ),
        (
            "expired",
            Box::new(|g: &mut Guest| {
                g.file("/etc/shadow", b"root:*:19000:0:99999:7:::\nsshd:!:19000::::::\nadmin:!:19000:0:99999:7::19001:\n", 0o640, 0, 42);
            }),
            "ACC-004",
            "/etc/shadow",
            "chage -E -1",
        ),
        (
            "only-dsa",
            Box::new(move |g: &mut Guest| {
                g.file(
                    "/home/admin/.ssh/authorized_keys",
                    DSA.as_bytes(),
                    0o600,
                    1000,
                    1000,
                );
            }),
            "AK-003",
            "/home/admin/.ssh/authorized_keys",
            "ssh-keygen -t ed25519",
        ),
        (
            "crlf-no-comment",
            Box::new(|g: &mut Guest| {
                g.file("/home/admin/.ssh/authorized_keys", b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRoaXMtaXMtYS10ZXN0LWtleS1mb3ItcmVzY3VlLW9r\r\n", 0o600, 1000, 1000);
            }),
            "AK-002",
            "/home/admin/.ssh/authorized_keys",
            "sed -i",
        ),
        (
            "pam-session-module",
            Box::new(|g: &mut Guest| {
                g.text(
                    "/etc/pam.d/sshd",
                    "account required pam_nologin.so\nsession required pam_limits.so\n",
                );
                let dir = std::fs::canonicalize("/lib/x86_64-linux-gnu")
                    .unwrap()
                    .join("security");
                g.file(
                    dir.join("pam_nologin.so").to_str().unwrap(),
                    FAKE_ELF,
                    0o644,
                    0,
                    0,
                );
            }),
            "PAM-001",
            "/etc/pam.d/sshd",
            "apt-get install --reinstall libpam-modules",
        ),
        (
            "nologin-file",
            Box::new(|g: &mut Guest| {
                g.text("/etc/pam.d/sshd", "account required pam_nologin.so\n");
                let dir = std::fs::canonicalize("/lib/x86_64-linux-gnu")
                    .unwrap()
                    .join("security");
                g.file(
                    dir.join("pam_nologin.so").to_str().unwrap(),
                    FAKE_ELF,
                    0o644,
                    0,
                    0,
                );
                g.text("/etc/nologin", "System is going down\n");
            }),
            "PAM-002",
            "/etc/nologin",
            "rm /mnt/rescue/etc/nologin",
        ),
        (
            "dangling-home-link",
            Box::new(|g: &mut Guest| {
                g.remove("/home");
                g.symlink("/home", "/srv/home");
            }),
            "ACC-003",
            "/home/admin",
            "mkdir -p /mnt/rescue/home/admin",
        ),
    ];
    for (name, mutate, id, path, fix) in cases {
        let mut g = Guest::debian();
        mutate(&mut g);
        let r = report(&g, name);
        assert_eq!(verdict(&r, "admin")["key_login"], "blocked", "{name}: {r}");
        let f = finding(&r, id);
        assert_eq!(f["user"], "admin", "{name}");
        assert_eq!(f["severity"], "critical", "{name}: {f}");
        assert_eq!(f["path"], path, "{name}: {f}");
        assert!(
            f["fix"].as_str().is_some_and(|x| x.contains(fix)),
            "{name}: {f}"
        );
        assert!(
            verdict(&r, "admin")["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == id),
            "{name}"
        );
        finding(&r, "LOGIN-001");
    }
}

#[test]
fn home_behind_an_absolute_symlink_is_followed_inside_the_guest() {
    let mut g = Guest::debian();
    g.remove("/home");
    g.dir("/srv/home/admin/.ssh", 0o700, 1000, 1000);
    g.dir("/srv/home/admin", 0o755, 1000, 1000);
    g.file(
        "/srv/home/admin/.ssh/authorized_keys",
        b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRoaXMtaXMtYS10ZXN0LWtleS1mb3ItcmVzY3VlLW9r admin\n",
        0o600,
        1000,
        1000,
    );
    g.symlink("/home", "/srv/home");
    let r = report(&g, "srv-home");
    assert_eq!(verdict(&r, "admin")["key_login"], "allowed", "{r}");
    // Broken behind the link: .ssh world-writable under /srv/home.
    g.dir("/srv/home/admin/.ssh", 0o777, 1000, 1000);
    let r = report(&g, "srv-home-bad");
    assert_eq!(verdict(&r, "admin")["key_login"], "blocked");
    assert_eq!(
        finding(&r, "PERM-001")["path"],
        "/srv/home/admin/.ssh",
        "the real path is named"
    );
}

#[test]
fn login_subcommand_checks_a_given_key() {
    let t = tempdir();
    let img = Guest::debian().ext4(t.path(), &t.path().join("k.ext4"), 24, &[]);
    let good = t.path().join("good.pub");
    std::fs::write(
        &good,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRoaXMtaXMtYS10ZXN0LWtleS1mb3ItcmVzY3VlLW9r me\n",
    )
    .unwrap();
    let (code, out, err) = run(&[&"login", &img, &"--user", &"admin", &"--key", &good]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("is authorized at /home/admin/.ssh/authorized_keys:1"),
        "{out}"
    );
    // A fresh key pair (private key given): not authorized; its fingerprint equals ssh-keygen's.
    let other = t.path().join("other");
    check(
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&other)
            .output()
            .unwrap(),
        "ssh-keygen",
    );
    let fp = String::from_utf8_lossy(
        &std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&other)
            .output()
            .unwrap()
            .stdout,
    )
    .split_whitespace()
    .nth(1)
    .unwrap()
    .to_string();
    let (code, out, _) = run(&[
        &"login",
        &img,
        &"--user",
        &"admin",
        &"--key",
        &other,
        &"--format",
        &"json",
    ]);
    assert_eq!(code, 1);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["key"]["fingerprint"], fp.as_str());
    assert!(j["key"]["authorized_at"].is_null());
    assert_eq!(j["key_login"], "allowed");
    // An unknown user.
    let (code, out, _) = run(&[&"login", &img, &"--user", &"nobody2"]);
    assert_eq!(code, 1);
    assert!(out.contains("ACC-001"), "{out}");
}

#[test]
fn malformed_and_duplicate_accounts() {
    let mut g = Guest::debian();
    g.text("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nadmin:x:1000:1000:Admin,,,:/home/admin:/bin/bash\nbroken:x:1001\ntoor:x:0:0::/root:/bin/bash\nadmin:x:1002:1002::/home/x:/bin/sh\n");
    let r = report(&g, "acc");
    let f: Vec<&serde_json::Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "ACC-005")
        .collect();
    let lines: Vec<u64> = f.iter().map(|f| f["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![4, 5, 6], "{r}");
    assert_eq!(verdict(&r, "admin")["key_login"], "allowed");
}

#[test]
fn sshd_config_allow_users_in_a_drop_in_blocks_with_file_and_line() {
    let mut g = Guest::debian();
    g.text(
        "/etc/ssh/sshd_config.d/10-users.conf",
        "AllowUsers deploy\n",
    );
    let r = report(&g, "allowusers");
    assert_eq!(verdict(&r, "admin")["key_login"], "blocked", "{r}");
    let f = with("AUTH-001", &r);
    assert_eq!(f.len(), 1, "{r}");
    assert_eq!(f[0]["path"], "/etc/ssh/sshd_config.d/10-users.conf");
    assert_eq!(f[0]["line"], 1);
    assert!(
        f[0]["title"]
            .as_str()
            .unwrap()
            .contains("not listed in AllowUsers")
    );
}

#[test]
fn match_blocks_apply_per_user_and_client_dependent_ones_make_the_verdict_unknown() {
    // Match User: decided for each user.
    let mut g = Guest::debian();
    g.text(
        "/etc/ssh/sshd_config.d/10-match.conf",
        "Match User admin\n  PubkeyAuthentication no\n",
    );
    let r = report(&g, "matchuser");
    assert_eq!(verdict(&r, "admin")["key_login"], "blocked", "{r}");
    let f = with("AUTH-001", &r);
    assert_eq!(f[0]["path"], "/etc/ssh/sshd_config.d/10-match.conf", "{r}");
    assert_eq!(f[0]["line"], 2, "{r}");

    // Match Address: depends on where the client connects from.
    let mut g = Guest::debian();
    g.text(
        "/etc/ssh/sshd_config.d/10-match.conf",
        "Match Address 10.0.0.0/8\n  PubkeyAuthentication no\n",
    );
    let r = report(&g, "matchaddr");
    assert_eq!(verdict(&r, "admin")["key_login"], "unknown", "{r}");
    let t = tempdir();
    let img = g.ext4(t.path(), &t.path().join("a.ext4"), 24, &[]);
    let (_, out, _) = run(&[&"login", &img, &"--user", &"admin"]);
    assert!(
        out.contains("/etc/ssh/sshd_config.d/10-match.conf:1: Match Address 10.0.0.0/8"),
        "{out}"
    );
}

#[test]
fn a_client_only_ssh_dir_is_not_a_login_account() {
    let mut g = Guest::debian();
    g.text("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nadmin:x:1000:1000:Admin,,,:/home/admin:/bin/bash\ndev:x:1001:1001::/home/dev:/bin/bash\n");
    g.dir("/home/dev", 0o755, 1001, 1001);
    g.file(
        "/home/dev/.ssh/id_ed25519",
        b"-----BEGIN OPENSSH PRIVATE KEY-----\n",
        0o600,
        1001,
        1001,
    );
    let r = report(&g, "client");
    assert!(
        r["verdict"]["logins"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["user"] != "dev"),
        "{r}"
    );
    assert_eq!(r["summary"]["critical"], 0, "{r}");
}

#[test]
fn pam_access_rules_decide_like_pam_access() {
    let dir = std::fs::canonicalize("/lib/x86_64-linux-gnu")
        .unwrap()
        .join("security");
    // (access.conf, expected verdict for admin, PAM-003 line)
    let cases: [(&str, &str, Option<usize>); 4] = [
        ("# only root\n-:ALL EXCEPT root:ALL\n", "blocked", Some(2)),
        ("+:admin:ALL\n-:ALL:ALL\n", "allowed", None),
        ("-:(sudo):ALL\n", "blocked", Some(1)),
        ("-:admin:10.0.0.0/8\n", "unknown", None),
    ];
    for (i, (rules, want, line)) in cases.into_iter().enumerate() {
        let mut g = Guest::debian();
        g.text(
            "/etc/pam.d/sshd",
            "account required pam_access.so\naccount required pam_nologin.so\n",
        );
        for m in ["pam_access.so", "pam_nologin.so"] {
            g.file(dir.join(m).to_str().unwrap(), FAKE_ELF, 0o644, 0, 0);
        }
        g.text("/etc/security/access.conf", rules);
        let r = report(&g, &format!("access{i}"));
        assert_eq!(verdict(&r, "admin")["key_login"], want, "{rules}: {r}");
        let f = with("PAM-003", &r);
        match line {
            Some(n) => {
                assert_eq!(f[0]["path"], "/etc/security/access.conf", "{r}");
                assert_eq!(f[0]["line"], n, "{r}");
            }
            None => assert!(f.is_empty(), "{r}"),
        }
    }
}

/// SELinux enforcing, on a mounted directory (labels are readable there): an authorized_keys
/// file with the wrong label blocks, ssh_home_t passes; a missing policy stops boot.
#[test]
fn selinux_labels_on_a_mounted_directory() {
    let set_label = |path: &std::path::Path, label: &str| -> bool {
        use std::os::unix::ffi::OsStrExt;
        let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        let n = std::ffi::CString::new("security.selinux").unwrap();
        let v = format!("{label}\0");
        // SAFETY: NUL-terminated strings and a buffer with its length, valid for the call.
        unsafe { libc::setxattr(p.as_ptr(), n.as_ptr(), v.as_ptr().cast(), v.len(), 0) == 0 }
    };
    for (label, want) in [
        ("unconfined_u:object_r:user_home_t:s0", "blocked"),
        ("unconfined_u:object_r:ssh_home_t:s0", "allowed"),
    ] {
        let t = tempdir();
        let mut g = Guest::debian();
        g.text(
            "/etc/selinux/config",
            "SELINUX=enforcing\nSELINUXTYPE=targeted\n",
        );
        g.text("/etc/selinux/targeted/policy/policy.33", "policy");
        let dir = t.path().join("guest");
        g.write_tree(&dir);
        if !set_label(&dir.join("home/admin/.ssh/authorized_keys"), label) {
            eprintln!("SKIPPED: cannot set security.selinux here (needs root and xattr support)");
            return;
        }
        let (_, r) = check_json(&dir, &[]);
        assert_eq!(verdict(&r, "admin")["key_login"], want, "{label}: {r}");
        assert_eq!(with("PERM-002", &r).is_empty(), want == "allowed", "{r}");
    }
    // Enforcing without a policy: boot halts.
    let mut g = Guest::debian();
    g.text(
        "/etc/selinux/config",
        "# config\nSELINUX=enforcing\nSELINUXTYPE=targeted\n",
    );
    let r = report(&g, "nopolicy");
    let f = with("BOOT-008", &r);
    assert_eq!(f.len(), 1, "{r}");
    assert_eq!(f[0]["line"], 2);
}
