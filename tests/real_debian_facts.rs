//! Guest facts (host keys, sshd's library closure, the ssh unit, the package database) on the
//! real debootstrapped Debian 12 root cached by `scripts/debian-root.sh`, compared with the
//! real tools where one exists: `ssh-keygen -lf` on the same key files, the guest's own `ldd`
//! run in a chroot. Skipped, with a message, when `RESCUE_INSPECT_DEBIAN` is not set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rescue_inspect::fs::RootFs;

fn root() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("RESCUE_INSPECT_DEBIAN")?).join("root");
    dir.join("etc/os-release").exists().then_some(dir)
}

fn open(root: &Path) -> RootFs {
    rescue_inspect::fs::dir::open(root).unwrap()
}

#[test]
fn host_keys_match_ssh_keygen() {
    use rescue_inspect::sshd::hostkey;
    let Some(root) = root() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    let fs = open(&root);
    let keys = fs.glob("/etc/ssh/ssh_host_*_key").unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for k in keys {
        let f = hostkey::read_host_key(&fs, &k).unwrap();
        let info = f.key.as_ref().unwrap();
        assert!(!info.encrypted);
        hostkey::host_key_mode_ok(&f.path, &f.metadata, false, None).unwrap();
        let public = f.public.as_ref().unwrap().as_ref().unwrap();
        assert_eq!(Some(&public.blob), info.public_blob.as_ref());
        // ssh-keygen prefers the .pub comment, as read_host_key's caller does.
        let mine = hostkey::keygen_line(
            &info.key_type,
            &info.fingerprint().unwrap(),
            public.comment.as_deref().or(info.comment.as_deref()),
        );
        let host_path = root.join(k.strip_prefix("/").unwrap());
        match Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&host_path)
            .output()
        {
            Ok(o) if o.status.success() => {
                assert_eq!(mine, String::from_utf8_lossy(&o.stdout).trim());
            }
            _ => eprintln!("note: ssh-keygen unavailable, {mine} not compared"),
        }
    }
}

#[test]
fn sshd_closure_matches_guest_ldd() {
    use rescue_inspect::guest::ldso;
    let Some(root) = root() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN");
        return;
    };
    let fs = open(&root);
    let c = ldso::resolve_closure(&fs, Path::new("/usr/sbin/sshd"));
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    assert!(!c.truncated);
    assert_eq!(
        c.interpreter,
        Some(Ok(PathBuf::from("/lib64/ld-linux-x86-64.so.2")))
    );
    let got: BTreeMap<String, PathBuf> = c
        .libs
        .iter()
        .map(|l| (l.soname.clone(), l.resolved.clone().unwrap()))
        .collect();
    assert!(got.contains_key("libcrypto.so.3"), "{got:?}");
    // The guest's own loader, run in a chroot, as the oracle.
    let out = Command::new("chroot")
        .arg(&root)
        .args(["/usr/bin/ldd", "/usr/sbin/sshd"])
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        eprintln!("note: chroot ldd unavailable; closure not compared");
        return;
    };
    let expected: BTreeMap<String, PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.trim().split_once(" => ")?;
            Some((name.to_string(), PathBuf::from(rest.split(" (").next()?)))
        })
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn ssh_unit_enabled_as_systemctl_says() {
    use rescue_inspect::guest::systemd;
    let Some(root) = root() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN");
        return;
    };
    let fs = open(&root);
    let s = systemd::service_state(&fs, systemd::SSH_UNITS);
    assert!(matches!(s.init, systemd::Init::Systemd(_)));
    assert_eq!(s.default_target.as_ref().unwrap().name, "graphical.target");
    let ssh = s.unit("ssh.service").unwrap();
    assert!(ssh.starts_at_boot(), "{ssh:?}");
    assert_eq!(
        ssh.pulled_in.as_ref().unwrap().via,
        Path::new("/etc/systemd/system/multi-user.target.wants/ssh.service")
    );
    assert_eq!(
        ssh.file.as_ref().unwrap().path,
        Path::new("/lib/systemd/system/ssh.service")
    );
    assert_eq!(ssh.wanted_by, ["multi-user.target"]);
    let sshd = s.unit("sshd.service").unwrap();
    assert_eq!(
        sshd.file.as_ref().unwrap().alias_of.as_deref(),
        Some("ssh.service")
    );
    let sock = s.unit("ssh.socket").unwrap();
    assert!(sock.pulled_in.is_none());
    assert_eq!(sock.listen.len(), 1);
    assert_eq!(sock.listen[0].port, Some(22));
    // systemctl's offline view of the same root.
    let q = |args: &[&str]| {
        Command::new("systemctl")
            .arg(format!("--root={}", root.display()))
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match q(&["is-enabled", "ssh.service", "ssh.socket", "sshd.service"]) {
        Some(out) if !out.is_empty() => assert_eq!(out, "enabled\ndisabled\nalias"),
        _ => eprintln!("note: systemctl unavailable; not compared"),
    }
    if let Some(d) = q(&["get-default"]).filter(|d| !d.is_empty()) {
        assert_eq!(d, s.default_target.as_ref().unwrap().name);
    }
}

#[test]
fn openssh_server_version_from_dpkg() {
    use rescue_inspect::guest::dpkg;
    let Some(root) = root() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN");
        return;
    };
    let fs = open(&root);
    let v = dpkg::installed_version(&fs, "openssh-server")
        .unwrap()
        .unwrap();
    // dpkg-query on the same database is the oracle.
    let out = Command::new("dpkg-query")
        .arg(format!("--admindir={}/var/lib/dpkg", root.display()))
        .args(["-W", "-f=${Version}", "openssh-server"])
        .output();
    match out {
        Ok(o) if o.status.success() => assert_eq!(v, String::from_utf8_lossy(&o.stdout)),
        _ => assert!(v.starts_with("1:9.2p1-"), "{v}"),
    }
    let (pkgs, bad) = dpkg::read_status(&fs).unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    assert!(pkgs.iter().filter(|p| p.status.is_installed()).count() > 100);
}
