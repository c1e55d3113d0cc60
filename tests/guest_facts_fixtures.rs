//! Guest facts read through the ext4 backend from fixture images, compared with real tools:
//! `systemctl --root` on the same tree (unit state, default target) and `ldd` on the host
//! (a real program and its real libraries copied into the image).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use rescue_inspect::fs::RootFs;
use rescue_inspect::guest::systemd::{self, ServiceState, UnitState};
use rescue_inspect::volume::{Device, Slice};

fn ext4_fs(g: &Guest, work: &Path, name: &str, size_mb: u32) -> RootFs {
    let img = g.ext4(work, &work.join(name), size_mb, &[]);
    let dev = Arc::new(Device::open(&img).unwrap());
    rescue_inspect::fs::ext4::open(&Slice::whole(dev))
        .unwrap()
        .fs
}

const SSH_SERVICE: &str = "[Unit]\nDescription=OpenBSD Secure Shell server\nAfter=network.target auditd.service\nConditionPathExists=!/etc/ssh/sshd_not_to_be_run\n\n[Service]\nExecStartPre=/usr/sbin/sshd -t\nExecStart=/usr/sbin/sshd -D $SSHD_OPTS\nType=notify\nRuntimeDirectory=sshd\n\n[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n";
const SSH_SOCKET: &str = "[Unit]\nDescription=OpenBSD Secure Shell server socket\nBefore=sockets.target\n\n[Socket]\nListenStream=22\nAccept=no\n\n[Install]\nWantedBy=sockets.target\n";

/// Debian 12's systemd layout for ssh (as `systemctl enable ssh` leaves it).
fn debian_systemd() -> Guest {
    let mut g = Guest::debian();
    g.symlink("/lib", "usr/lib");
    g.file("/usr/lib/systemd/systemd", FAKE_ELF, 0o755, 0, 0);
    g.symlink("/usr/sbin/init", "/lib/systemd/systemd");
    let u = "/usr/lib/systemd/system";
    g.symlink(&format!("{u}/default.target"), "graphical.target");
    for (name, body) in [
        (
            "graphical.target",
            "[Unit]\nDescription=Graphical Interface\nRequires=multi-user.target\nWants=display-manager.service\nAllowIsolate=yes\n",
        ),
        (
            "multi-user.target",
            "[Unit]\nDescription=Multi-User System\nRequires=basic.target\nAllowIsolate=yes\n",
        ),
        (
            "basic.target",
            "[Unit]\nDescription=Basic System\nRequires=sysinit.target\nWants=sockets.target timers.target paths.target slices.target\n",
        ),
        ("sockets.target", "[Unit]\nDescription=Sockets\n"),
        (
            "sysinit.target",
            "[Unit]\nDescription=System Initialization\n",
        ),
        (
            "rescue.target",
            "[Unit]\nDescription=Rescue Mode\nRequires=sysinit.target rescue.service\nAllowIsolate=yes\n",
        ),
        ("ssh.service", SSH_SERVICE),
        ("ssh.socket", SSH_SOCKET),
    ] {
        g.text(&format!("{u}/{name}"), body);
    }
    g.symlink(
        "/etc/systemd/system/sshd.service",
        "/lib/systemd/system/ssh.service",
    );
    g.symlink(
        "/etc/systemd/system/multi-user.target.wants/ssh.service",
        "/lib/systemd/system/ssh.service",
    );
    g
}

/// What `systemctl is-enabled` would say, from our facts.
fn is_enabled(u: &UnitState) -> &'static str {
    let Some(f) = &u.file else {
        return "not-found";
    };
    if f.masked.is_some() {
        "masked"
    } else if f.alias_of.is_some() {
        "alias"
    } else if !u.install_links.is_empty() || !u.alias_links.is_empty() {
        "enabled"
    } else if u.wanted_by.is_empty() && u.aliases.is_empty() {
        "static"
    } else {
        "disabled"
    }
}

fn systemctl(root: &Path, args: &[&str]) -> Option<String> {
    let o = Command::new("systemctl")
        .arg(format!("--root={}", root.display()))
        .args(args)
        .output()
        .ok()?;
    // is-enabled exits 1 for disabled/masked; the word on stdout is what counts.
    let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn check_against_systemctl(g: &Guest, work: &Path, name: &str) -> ServiceState {
    let fs = ext4_fs(g, work, &format!("{name}.img"), 16);
    let state = systemd::service_state(&fs, systemd::SSH_UNITS);
    let tree = work.join(format!("systemctl-{name}"));
    g.write_tree(&tree);
    if systemctl(&tree, &["--version"]).is_none() {
        eprintln!("note: systemctl not installed; {name} not compared");
        return state;
    }
    for unit in ["ssh.service", "sshd.service", "ssh.socket"] {
        // A unit with no file: systemctl prints its error on stderr only.
        let expected =
            systemctl(&tree, &["is-enabled", unit]).unwrap_or_else(|| "not-found".into());
        let mine = is_enabled(state.unit(unit).unwrap());
        assert_eq!(mine, expected, "{name}: {unit}");
    }
    let default = systemctl(&tree, &["get-default"]).unwrap_or_default();
    assert_eq!(
        state.default_target.as_ref().unwrap().name,
        default,
        "{name}"
    );
    state
}

#[test]
fn systemd_states_match_systemctl() {
    let work = tempdir();
    let w = work.path();

    let s = check_against_systemctl(&debian_systemd(), w, "enabled");
    let ssh = s.unit("ssh.service").unwrap();
    assert!(ssh.starts_at_boot());
    assert_eq!(
        ssh.pulled_in.as_ref().unwrap().via,
        PathBuf::from("/etc/systemd/system/multi-user.target.wants/ssh.service")
    );

    let mut g = debian_systemd();
    g.remove("/etc/systemd/system/multi-user.target.wants/ssh.service");
    let s = check_against_systemctl(&g, w, "disabled");
    // systemctl says "enabled" (the alias link remains), yet the boot does not start it.
    assert!(!s.unit("ssh.service").unwrap().starts_at_boot());
    g.remove("/etc/systemd/system/sshd.service");
    let s = check_against_systemctl(&g, w, "disabled-fully");
    assert!(s.unit("ssh.service").unwrap().alias_links.is_empty());

    let mut g = debian_systemd();
    g.symlink("/etc/systemd/system/ssh.service", "/dev/null");
    let s = check_against_systemctl(&g, w, "masked");
    assert!(s.unit("ssh.service").unwrap().masked().is_some());

    let mut g = debian_systemd();
    g.symlink(
        "/etc/systemd/system/default.target",
        "/lib/systemd/system/rescue.target",
    );
    let s = check_against_systemctl(&g, w, "rescue");
    assert!(s.default_target.as_ref().unwrap().is_rescue);
    assert!(s.unit("ssh.service").unwrap().pulled_in.is_none());

    let mut g = debian_systemd();
    g.symlink(
        "/etc/systemd/system/sockets.target.wants/ssh.socket",
        "/lib/systemd/system/ssh.socket",
    );
    g.text(
        "/etc/systemd/system/ssh.socket.d/port.conf",
        "[Socket]\nListenStream=\nListenStream=2222\n",
    );
    let s = check_against_systemctl(&g, w, "socket");
    let sock = s.unit("ssh.socket").unwrap();
    assert!(sock.starts_at_boot());
    assert_eq!(
        sock.listen.iter().map(|l| l.port).collect::<Vec<_>>(),
        [Some(2222)]
    );
}

/// A real program and the libraries `ldd` lists, copied into an ext4 image at the same paths
/// with the host's ld.so.conf: the closure read through ext4 equals ldd's.
#[test]
fn closure_through_ext4_matches_ldd() {
    use rescue_inspect::guest::ldso;
    let Some(bin) = ["/usr/bin/ssh", "/bin/ls"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("skipped: no host program");
        return;
    };
    let Some(out) = Command::new("ldd")
        .arg(bin)
        .output()
        .ok()
        .filter(|o| o.status.success())
    else {
        eprintln!("skipped: ldd unavailable");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut expected = std::collections::BTreeMap::new();
    let mut files = vec![PathBuf::from(bin)];
    for line in text.lines().map(str::trim) {
        if let Some((name, rest)) = line.split_once(" => ") {
            let p = PathBuf::from(rest.split(" (").next().unwrap());
            expected.insert(name.to_string(), p.clone());
            files.push(p);
        } else if line.starts_with('/') {
            files.push(PathBuf::from(line.split(" (").next().unwrap()));
        }
    }
    let mut g = Guest::new();
    let mut total = 0u64;
    for f in &files {
        // Host paths may run through usr-merge symlinks; the guest gets real directories.
        let bytes = std::fs::read(f).unwrap();
        total += bytes.len() as u64;
        g.file(&f.to_string_lossy(), &bytes, 0o755, 0, 0);
    }
    for conf in std::iter::once(PathBuf::from("/etc/ld.so.conf")).chain(
        std::fs::read_dir("/etc/ld.so.conf.d")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path()),
    ) {
        if let Ok(b) = std::fs::read(&conf) {
            g.file(&conf.to_string_lossy(), &b, 0o644, 0, 0);
        }
    }
    let work = tempdir();
    let size = (total / (1024 * 1024)) as u32 * 2 + 16;
    let fs = ext4_fs(&g, work.path(), "closure.img", size);
    let c = ldso::resolve_closure(&fs, Path::new(bin));
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    let got: std::collections::BTreeMap<String, PathBuf> = c
        .libs
        .iter()
        .map(|l| (l.soname.clone(), l.resolved.clone().unwrap()))
        .collect();
    assert_eq!(got, expected);
}

/// Host keys with real modes and owners in an ext4 image: the mode rule sees what sshd's
/// fstat would, and fingerprints equal `ssh-keygen -lf` on the same bytes.
#[test]
fn host_key_modes_through_ext4() {
    use rescue_inspect::sshd::hostkey;
    let work = tempdir();
    let key = work.path().join("k");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "root@fixture", "-f"])
        .arg(&key)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!("skipped: ssh-keygen not installed");
        return;
    }
    let bytes = std::fs::read(&key).unwrap();
    let expected = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&key)
        .output()
        .unwrap();
    let expected = String::from_utf8_lossy(&expected.stdout).trim().to_string();
    let mut g = Guest::debian();
    g.text("/etc/group", "root:x:0:\nssh_keys:x:993:\n");
    g.file("/etc/ssh/ssh_host_ed25519_key", &bytes, 0o600, 0, 0);
    g.file("/etc/ssh/open_key", &bytes, 0o644, 0, 0);
    g.file("/etc/ssh/rhel_key", &bytes, 0o640, 0, 993);
    g.file("/etc/ssh/user_key", &bytes, 0o644, 1000, 1000);
    let fs = ext4_fs(&g, work.path(), "keys.img", 16);
    let check = |p: &str, rhel: bool| {
        let f = hostkey::read_host_key(&fs, Path::new(p)).unwrap();
        assert_eq!(f.key.as_ref().unwrap().keygen_line().unwrap(), expected);
        hostkey::host_key_mode_ok(&f.path, &f.metadata, rhel, Some(993))
    };
    assert!(check("/etc/ssh/ssh_host_ed25519_key", false).is_ok());
    let e = check("/etc/ssh/open_key", false).unwrap_err();
    assert!(
        e.contains("Permissions 0644 for '/etc/ssh/open_key' are too open"),
        "{e}"
    );
    assert!(check("/etc/ssh/rhel_key", true).is_ok());
    assert!(check("/etc/ssh/rhel_key", false).is_err());
    assert!(check("/etc/ssh/user_key", false).is_ok());
}
