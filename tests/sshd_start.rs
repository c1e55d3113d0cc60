//! Will sshd start: binary, libraries, helpers, privilege separation and the service wiring, on
//! fixture volumes with a real ELF program as sshd.

mod common;

use common::*;

type Mutation = Box<dyn Fn(&mut Guest)>;

fn findings_of(g: &Guest, name: &str) -> serde_json::Value {
    let t = tempdir();
    let img = g.ext4(t.path(), &t.path().join(format!("{name}.ext4")), 24, &[]);
    check_json(&img, &[]).1
}

#[test]
fn healthy_fixture_starts() {
    let r = findings_of(&Guest::debian(), "healthy");
    assert_eq!(r["summary"]["critical"], 0, "{r}");
    assert_eq!(r["summary"]["warning"], 0, "{r}");
}

#[test]
fn each_breakage_is_found_with_path_and_fix() {
    let libc = std::fs::canonicalize("/lib/x86_64-linux-gnu")
        .unwrap()
        .join("libc.so.6");
    let libc = libc.to_str().unwrap().to_string();
    let cases: Vec<(&str, Mutation, &str, &str, &str)> = vec![
        (
            "no-libc",
            Box::new(move |g: &mut Guest| {
                g.remove(&libc);
            }),
            "SSHD-LIB-001",
            "libc.so.6",
            "dpkg -x libc6_*.deb /mnt/rescue",
        ),
        (
            "empty-sshd",
            Box::new(|g: &mut Guest| {
                g.file("/usr/sbin/sshd", b"", 0o755, 0, 0);
            }),
            "SSHD-BIN-001",
            "/usr/sbin/sshd",
            "apt-get install --reinstall openssh-server",
        ),
        (
            "disabled",
            Box::new(|g: &mut Guest| {
                g.remove("/etc/systemd/system/multi-user.target.wants/ssh.service");
            }),
            "SSHD-SVC-001",
            "/usr/lib/systemd/system/ssh.service",
            "systemctl --root=/mnt/rescue enable ssh.service",
        ),
        (
            "masked",
            Box::new(|g: &mut Guest| {
                g.symlink("/etc/systemd/system/ssh.service", "/dev/null");
            }),
            "SSHD-SVC-002",
            "/etc/systemd/system/ssh.service",
            "systemctl --root=/mnt/rescue unmask ssh.service",
        ),
        (
            "emergency",
            Box::new(|g: &mut Guest| {
                g.text(
                    "/usr/lib/systemd/system/emergency.target",
                    "[Unit]\nDescription=Emergency Mode\n",
                );
                g.symlink(
                    "/etc/systemd/system/default.target",
                    "/lib/systemd/system/emergency.target",
                );
            }),
            "SSHD-SVC-003",
            "/etc/systemd/system/default.target",
            "systemctl --root=/mnt/rescue set-default multi-user.target",
        ),
        (
            "no-units",
            Box::new(|g: &mut Guest| {
                g.remove("/usr/lib/systemd/system/ssh.service")
                    .remove("/usr/lib/systemd/system/ssh.socket")
                    .remove("/etc/systemd/system/sshd.service")
                    .remove("/etc/systemd/system/multi-user.target.wants/ssh.service");
            }),
            "SSHD-SVC-004",
            "/lib/systemd/system/ssh.service",
            "apt-get install --reinstall openssh-server",
        ),
        (
            "no-sshd-user",
            Box::new(|g: &mut Guest| {
                g.text("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nadmin:x:1000:1000:Admin,,,:/home/admin:/bin/bash\n");
            }),
            "SSHD-PRIV-001",
            "/etc/passwd",
            "useradd -r -d /run/sshd -s /usr/sbin/nologin sshd",
        ),
        (
            "no-sshd-session",
            Box::new(|g: &mut Guest| {
                g.text("/var/lib/dpkg/status", "Package: openssh-server\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:9.9p1-3\n\n");
            }),
            "SSHD-BIN-002",
            "/usr/lib/openssh/sshd-session",
            "apt-get install --reinstall openssh-server",
        ),
    ];
    for (name, mutate, id, path, fix) in cases {
        let mut g = Guest::debian();
        mutate(&mut g);
        let r = findings_of(&g, name);
        let f = with(id, &r);
        assert_eq!(f.len(), 1, "{name}: expected one {id}: {r}");
        let f = &f[0];
        assert_eq!(f["severity"], "critical", "{name}");
        assert!(
            f["path"].as_str().is_some_and(|p| p.ends_with(path)),
            "{name}: {f}"
        );
        assert!(f["fix"].as_str().unwrap().contains(fix), "{name}: {f}");
        assert_eq!(r["verdict"]["sshd_starts"], false, "{name}: {r}");
    }
}

#[test]
fn rhel_family_needs_its_privsep_directory() {
    let mut g = Guest::debian();
    g.text(
        "/usr/lib/os-release",
        "NAME=\"Rocky Linux\"\nVERSION_ID=\"9.3\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n",
    );
    let r = findings_of(&g, "rocky");
    let f = with("SSHD-PRIV-001", &r);
    assert_eq!(f.len(), 1, "{r}");
    assert_eq!(f[0]["path"], "/usr/share/empty.sshd");
    assert_eq!(
        f[0]["fix"],
        "install -d -m 755 -o root -g root /mnt/rescue/usr/share/empty.sshd"
    );
    g.dir("/usr/share/empty.sshd", 0o711, 0, 0);
    let r = findings_of(&g, "rocky-ok");
    assert!(with("SSHD-PRIV-001", &r).is_empty(), "{r}");
    g.dir("/usr/share/empty.sshd", 0o777, 0, 0);
    let r = findings_of(&g, "rocky-ww");
    assert!(
        with("SSHD-PRIV-001", &r)[0]["title"]
            .as_str()
            .unwrap()
            .contains("must be owned by root")
    );
}

#[test]
fn host_keys_fingerprints_and_modes() {
    let t = tempdir();
    let mut g = Guest::debian();
    let lines = g.host_keys(0o600, 0);
    let img = g.ext4(t.path(), &t.path().join("keys.ext4"), 24, &[]);
    let (code, out, err) = run(&[&"hostkeys", &img, &"--format", &"json"]);
    assert_eq!(code, 0, "{err}");
    let keys: serde_json::Value = serde_json::from_str(&out).unwrap();
    for (path, line) in &lines {
        let k = keys
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["path"] == path.as_str())
            .unwrap();
        assert_eq!(
            k["keygen_line"],
            line.as_str(),
            "the same line as ssh-keygen -lf"
        );
        assert!(k["problem"].is_null());
    }
    assert_eq!(check_json(&img, &[]).1["summary"]["critical"], 0);

    // All keys 0644: sshd refuses every one of them.
    let mut bad = Guest::debian();
    bad.host_keys(0o644, 0);
    let img = bad.ext4(t.path(), &t.path().join("open.ext4"), 24, &[]);
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 1);
    let f = with("SSHD-KEY-001", &r);
    assert_eq!(f.len(), 1, "{r}");
    assert!(
        f[0]["detail"]
            .as_str()
            .unwrap()
            .contains("Permissions 0644"),
        "{}",
        f[0]
    );
    assert!(
        f[0]["fix"]
            .as_str()
            .unwrap()
            .starts_with("chown root:root /mnt/rescue/etc/ssh/ssh_host_rsa_key"),
        "{}",
        f[0]
    );
    assert_eq!(r["verdict"]["sshd_starts"], false);

    // One key 0644, the others fine: a warning on that key only.
    let mut one = Guest::debian();
    one.host_keys(0o600, 0);
    if let Some(n) = one
        .nodes
        .iter_mut()
        .find(|n| n.path == "/etc/ssh/ssh_host_rsa_key")
    {
        n.mode = 0o644;
    }
    let img = one.ext4(t.path(), &t.path().join("one.ext4"), 24, &[]);
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 0, "{r}");
    let f = with("SSHD-KEY-002", &r);
    assert_eq!(f.len(), 1, "{r}");
    assert_eq!(f[0]["path"], "/etc/ssh/ssh_host_rsa_key");

    // No host keys at all.
    let mut none = Guest::debian();
    none.remove("/etc/ssh/ssh_host_rsa_key")
        .remove("/etc/ssh/ssh_host_ecdsa_key")
        .remove("/etc/ssh/ssh_host_ed25519_key");
    let img = none.ext4(t.path(), &t.path().join("nokeys.ext4"), 24, &[]);
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 1);
    assert!(
        with("SSHD-KEY-001", &r)[0]["fix"]
            .as_str()
            .unwrap()
            .starts_with("ssh-keygen -A -f /mnt/rescue")
    );

    // RHEL family: root:ssh_keys 0640 is accepted (Fedora's keyperm patch).
    let mut rh = Guest::debian();
    rh.text(
        "/usr/lib/os-release",
        "NAME=\"Rocky Linux\"\nVERSION_ID=\"9.3\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n",
    );
    rh.text("/etc/group", "root:x:0:\nssh_keys:x:997:\nadmin:x:1000:\n");
    rh.dir("/usr/share/empty.sshd", 0o711, 0, 0);
    rh.host_keys(0o640, 997);
    let img = rh.ext4(t.path(), &t.path().join("rocky.ext4"), 24, &[]);
    let (_, r) = check_json(&img, &[]);
    assert!(
        with("SSHD-KEY-001", &r).is_empty() && with("SSHD-KEY-002", &r).is_empty(),
        "{r}"
    );
}

/// sshd_config problems as the guest's sshd (Debian 12's 9.2, from the fixture's package
/// database) reads them; each with file, line and rule.
#[test]
fn sshd_config_errors_crypto_and_vendor_keywords() {
    // (name, drop-in content, rule, line, severity)
    let cases: [(&str, &str, &str, usize, &str); 7] = [
        (
            "typo",
            "# x\nPasswordAuthenticaton no\n",
            "SSHD-CFG-001",
            2,
            "critical",
        ),
        (
            "match-port",
            "Match User admin\n  Port 2222\n",
            "SSHD-CFG-001",
            2,
            "critical",
        ),
        (
            "bad-match",
            "Match Usr admin\n",
            "SSHD-CFG-001",
            1,
            "critical",
        ),
        (
            "deprecated",
            "UsePrivilegeSeparation sandbox\n",
            "SSHD-CFG-002",
            1,
            "info",
        ),
        (
            "legacy-kex",
            "KexAlgorithms diffie-hellman-group1-sha1\n",
            "SSHD-CRYPTO-001",
            1,
            "critical",
        ),
        (
            "pq-only",
            "KexAlgorithms sntrup761x25519-sha512@openssh.com\n",
            "SSHD-CRYPTO-002",
            1,
            "warning",
        ),
        (
            "macs-gone",
            "MACs hmac-ripemd160\n",
            "SSHD-CFG-001",
            1,
            "critical",
        ),
    ];
    for (name, text, id, line, severity) in cases {
        let mut g = Guest::debian();
        g.text("/etc/ssh/sshd_config.d/20-test.conf", text);
        let r = findings_of(&g, name);
        let f = with(id, &r);
        assert_eq!(f.len(), 1, "{name}: {r}");
        assert_eq!(
            f[0]["path"], "/etc/ssh/sshd_config.d/20-test.conf",
            "{name}"
        );
        assert_eq!(f[0]["line"], line, "{name}: {}", f[0]);
        assert_eq!(f[0]["severity"], severity, "{name}");
        assert!(f[0]["fix"].as_str().is_some(), "{name}");
        let starts = r["verdict"]["sshd_starts"].as_bool();
        assert_eq!(starts, Some(id != "SSHD-CFG-001"), "{name}: {r}");
    }

    // A keyword not in the table but named by the guest's own sshd program (a vendor patch):
    // no critical finding, SSHD-CFG-003 says it was not evaluated.
    let mut g = Guest::debian();
    let mut sshd = std::fs::read("/usr/bin/true").unwrap();
    sshd.extend_from_slice(b"\0usevendorthing\0");
    g.file("/usr/sbin/sshd", &sshd, 0o755, 0, 0);
    g.text(
        "/etc/ssh/sshd_config.d/20-test.conf",
        "UseVendorThing yes\n",
    );
    let r = findings_of(&g, "vendor");
    assert_eq!(r["summary"]["critical"], 0, "{r}");
    assert_eq!(with("SSHD-CFG-003", &r).len(), 1, "{r}");
    assert_eq!(r["verdict"]["sshd_starts"], true);

    // sshd-config prints the effective configuration for a user like sshd -T.
    let mut g = Guest::debian();
    g.text(
        "/etc/ssh/sshd_config.d/20-test.conf",
        "Port 2222\nMatch User admin\n  MaxSessions 3\n",
    );
    let t = tempdir();
    let img = g.ext4(t.path(), &t.path().join("dump.ext4"), 24, &[]);
    let (code, out, _) = run(&[&"sshd-config", &img, &"--user", &"admin"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.contains(&"port 2222") && lines.contains(&"maxsessions 3"),
        "{out}"
    );
    let (_, out, _) = run(&[&"sshd-config", &img]);
    assert!(out.lines().any(|l| l == "maxsessions 10"), "{out}");
    let r = findings_of(&g, "listen");
    assert_eq!(
        r["verdict"]["sshd_listen"],
        serde_json::json!(["[::]:2222", "0.0.0.0:2222"])
    );
}
