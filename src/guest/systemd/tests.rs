use super::*;
use crate::fs::mem::MemFs;

const SSH_SERVICE: &str = "[Unit]
Description=OpenBSD Secure Shell server
Documentation=man:sshd(8) man:sshd_config(5)
After=network.target auditd.service
ConditionPathExists=!/etc/ssh/sshd_not_to_be_run

[Service]
EnvironmentFile=-/etc/default/ssh
ExecStartPre=/usr/sbin/sshd -t
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
ExecReload=/usr/sbin/sshd -t
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RestartPreventExitStatus=255
Type=notify
RuntimeDirectory=sshd
RuntimeDirectoryMode=0755

[Install]
WantedBy=multi-user.target
Alias=sshd.service
";

const SSH_SOCKET: &str = "[Unit]
Description=OpenBSD Secure Shell server socket
Before=sockets.target
ConditionPathExists=!/etc/ssh/sshd_not_to_be_run

[Socket]
ListenStream=22
Accept=no

[Install]
WantedBy=sockets.target
";

/// Debian 12's layout: merged /usr, units in /lib/systemd/system, the alias and the enable
/// link in /etc/systemd/system, exactly as `systemctl enable ssh` leaves them.
fn debian12() -> MemFs {
    debian12_with(true)
}

fn debian12_with(enabled: bool) -> MemFs {
    let mut m = MemFs::new();
    m.symlink("/lib", "usr/lib");
    m.symlink("/sbin", "usr/sbin");
    m.file("/usr/lib/systemd/systemd", b"\x7fELF", 0o755, 0, 0);
    m.symlink("/usr/sbin/init", "/lib/systemd/systemd");
    let u = "/usr/lib/systemd/system";
    m.symlink(&format!("{u}/default.target"), "graphical.target");
    let t = |req: &str| format!("[Unit]\nDescription=x\n{req}\n");
    for (name, body) in [
        (
            "graphical.target",
            t("Requires=multi-user.target\nWants=display-manager.service"),
        ),
        ("multi-user.target", t("Requires=basic.target")),
        (
            "basic.target",
            t(
                "Requires=sysinit.target\nWants=sockets.target timers.target paths.target slices.target",
            ),
        ),
        ("sockets.target", t("")),
        ("sysinit.target", t("")),
        ("rescue.target", t("Requires=sysinit.target rescue.service")),
        ("emergency.target", t("Requires=emergency.service")),
        ("ssh.service", SSH_SERVICE.to_string()),
        ("ssh.socket", SSH_SOCKET.to_string()),
        (
            "ssh@.service",
            "[Service]\nExecStart=-/usr/sbin/sshd -i\n".to_string(),
        ),
    ] {
        m.file(&format!("{u}/{name}"), body.as_bytes(), 0o644, 0, 0);
    }
    m.symlink(
        &format!("{u}/sockets.target.wants/systemd-journald.socket"),
        "../systemd-journald.socket",
    );
    m.symlink(
        "/etc/systemd/system/sshd.service",
        "/lib/systemd/system/ssh.service",
    );
    if enabled {
        m.symlink(
            "/etc/systemd/system/multi-user.target.wants/ssh.service",
            "/lib/systemd/system/ssh.service",
        );
    }
    m
}

#[test]
fn debian12_ssh_enabled() {
    let fs = debian12().into_rootfs();
    let s = service_state(&fs, SSH_UNITS);
    assert!(matches!(s.init, Init::Systemd(_)));
    let d = s.default_target.as_ref().unwrap();
    assert_eq!(d.name, "graphical.target");
    assert_eq!(
        d.link.as_deref(),
        Some(Path::new("/lib/systemd/system/default.target"))
    );
    assert!(!d.is_rescue);
    let ssh = s.unit("ssh.service").unwrap();
    assert!(ssh.starts_at_boot(), "{ssh:?}");
    let p = ssh.pulled_in.as_ref().unwrap();
    assert_eq!(p.by, "multi-user.target");
    assert_eq!(
        p.via,
        Path::new("/etc/systemd/system/multi-user.target.wants/ssh.service")
    );
    assert_eq!(
        ssh.chain,
        ["graphical.target", "multi-user.target", "ssh.service"]
    );
    assert_eq!(ssh.wanted_by, ["multi-user.target"]);
    assert_eq!(ssh.aliases, ["sshd.service"]);
    assert_eq!(ssh.conditions.len(), 1);
    assert_eq!(ssh.conditions[0].holds, Some(true));
    assert_eq!(ssh.conditions[0].line, 5);
    let f = ssh.file.as_ref().unwrap();
    assert_eq!(f.path, Path::new("/lib/systemd/system/ssh.service"));
    assert_eq!(
        f.fragment.as_deref(),
        Some(Path::new("/usr/lib/systemd/system/ssh.service"))
    );
    // The alias resolves to the same unit, reached through it.
    let sshd = s.unit("sshd.service").unwrap();
    assert_eq!(
        sshd.file.as_ref().unwrap().alias_of.as_deref(),
        Some("ssh.service")
    );
    assert!(sshd.starts_at_boot());
    // The socket exists but nothing pulls it in.
    let sock = s.unit("ssh.socket").unwrap();
    assert!(sock.file.is_some() && sock.pulled_in.is_none());
    assert_eq!(sock.listen.len(), 1);
    assert_eq!(sock.listen[0].port, Some(22));
    assert_eq!(sock.accept, Some(false));
    assert!(s.unit("sshd.socket").unwrap().file.is_none());
}

#[test]
fn disabled_masked_rescue_condition() {
    // Disabled: the wants link removed (systemctl disable).
    let fs = debian12_with(false).into_rootfs();
    let s = service_state(&fs, &["ssh.service"]);
    let u = s.unit("ssh.service").unwrap();
    assert!(u.pulled_in.is_none() && u.install_links.is_empty());
    assert!(!u.starts_at_boot());

    // Masked: symlink to /dev/null in /etc.
    let mut m = debian12();
    m.symlink("/etc/systemd/system/ssh.service", "/dev/null");
    let fs = m.into_rootfs();
    let s = service_state(&fs, &["ssh.service"]);
    let u = s.unit("ssh.service").unwrap();
    assert_eq!(
        u.masked(),
        Some(&Mask::DevNull("/etc/systemd/system/ssh.service".into()))
    );
    assert!(!u.starts_at_boot());
    assert_eq!(
        u.install_links,
        [PathBuf::from(
            "/etc/systemd/system/multi-user.target.wants/ssh.service"
        )]
    );

    // Masked by an empty file.
    let mut m = debian12();
    m.file("/etc/systemd/system/ssh.service", b"", 0o644, 0, 0);
    let fs = m.into_rootfs();
    let s = service_state(&fs, &["ssh.service"]);
    assert!(matches!(
        s.unit("ssh.service").unwrap().masked(),
        Some(Mask::Empty(_))
    ));

    // Default target set to rescue: sshd is never reached.
    let mut m = debian12();
    m.symlink(
        "/etc/systemd/system/default.target",
        "/lib/systemd/system/rescue.target",
    );
    let fs = m.into_rootfs();
    let s = service_state(&fs, &["ssh.service"]);
    let d = s.default_target.as_ref().unwrap();
    assert_eq!(d.name, "rescue.target");
    assert!(d.is_rescue);
    assert!(s.unit("ssh.service").unwrap().pulled_in.is_none());

    // Debian's off switch.
    let mut m = debian12();
    m.file("/etc/ssh/sshd_not_to_be_run", b"", 0o644, 0, 0);
    let fs = m.into_rootfs();
    let s = service_state(&fs, &["ssh.service"]);
    let u = s.unit("ssh.service").unwrap();
    assert_eq!(u.conditions[0].holds, Some(false));
    assert!(!u.starts_at_boot());
}

#[test]
fn socket_activation_with_dropins() {
    let mut m = debian12();
    m.symlink(
        "/etc/systemd/system/sockets.target.wants/ssh.socket",
        "/lib/systemd/system/ssh.socket",
    );
    m.file(
        "/etc/systemd/system/ssh.socket.d/10-port.conf",
        b"[Socket]\nListenStream=\nListenStream=2222\n",
        0o644,
        0,
        0,
    );
    m.file(
        "/usr/lib/systemd/system/ssh.socket.d/20-more.conf",
        b"[Socket]\nListenStream=[::]:2223\nListenStream=0.0.0.0:2224\n",
        0o644,
        0,
        0,
    );
    // Same file name in /usr/lib is overridden by /etc's.
    m.file(
        "/usr/lib/systemd/system/ssh.socket.d/10-port.conf",
        b"[Socket]\nListenStream=9999\n",
        0o644,
        0,
        0,
    );
    let fs = m.into_rootfs();
    let s = service_state(&fs, SSH_UNITS);
    let sock = s.unit("ssh.socket").unwrap();
    assert!(sock.starts_at_boot());
    assert_eq!(
        sock.chain,
        [
            "graphical.target",
            "multi-user.target",
            "basic.target",
            "sockets.target",
            "ssh.socket"
        ]
    );
    let l: Vec<(Option<&str>, Option<u16>)> = sock
        .listen
        .iter()
        .map(|l| (l.address.as_deref(), l.port))
        .collect();
    assert_eq!(
        l,
        [
            (None, Some(2222)),
            (Some("::"), Some(2223)),
            (Some("0.0.0.0"), Some(2224))
        ]
    );
    assert_eq!(
        sock.listen[0].file,
        Path::new("/etc/systemd/system/ssh.socket.d/10-port.conf")
    );
    assert_eq!(sock.file.as_ref().unwrap().dropins.len(), 2);
}

#[test]
fn unit_syntax() {
    let text = "# c\n[Unit]\nWants=a.service \\\n  b.service\n; comment\nWants=c.service\\\n# inside\n d.service\n\nRequires = e.target \n[Install]\nWantedBy=multi-user.target\nWantedBy=\nWantedBy=x.target\nnot an assignment\n";
    let entries = parse_unit(text, Path::new("/u"));
    let u = Unit { entries };
    assert_eq!(
        u.names("Unit", "Wants"),
        ["a.service", "b.service", "c.service", "d.service"]
    );
    assert_eq!(u.list("Unit", "Wants")[1].line, 6);
    assert_eq!(u.names("Unit", "Requires"), ["e.target"]);
    assert_eq!(u.names("Install", "WantedBy"), ["x.target"]);
    assert_eq!(parse_listen("/run/ssh.sock"), (None, None));
    assert_eq!(
        parse_listen("192.168.1.1:22"),
        (Some("192.168.1.1".into()), Some(22))
    );
    assert_eq!(
        template_of("getty@tty1.service").as_deref(),
        Some("getty@.service")
    );
    assert_eq!(template_of("ssh@.service"), None);
}

#[test]
fn sysv_guest() {
    let mut m = MemFs::new();
    m.file("/sbin/init", b"\x7fELF", 0o755, 0, 0);
    m.file(
        "/etc/inittab",
        b"# x\nid:3:initdefault:\nsi::sysinit:/etc/rc.d/rc.sysinit\n",
        0o644,
        0,
        0,
    );
    m.file("/etc/init.d/sshd", b"#!/bin/sh\n", 0o755, 0, 0);
    m.symlink("/etc/rc3.d/S55sshd", "../init.d/sshd");
    m.symlink("/etc/rc2.d/S55sshd", "../init.d/sshd");
    m.symlink("/etc/rc3.d/K25other", "../init.d/other");
    let fs = m.into_rootfs();
    let s = service_state(&fs, SSH_UNITS);
    assert!(matches!(s.init, Init::Other(_)));
    assert!(s.default_target.is_none());
    let v = s.sysv.unwrap();
    assert_eq!(v.runlevel, '3');
    assert_eq!(v.inittab_line, Some(2));
    assert_eq!(v.start_links, [PathBuf::from("/etc/rc3.d/S55sshd")]);
    assert_eq!(v.init_scripts, [PathBuf::from("/etc/init.d/sshd")]);
}

/// Deterministic junk (xorshift) over the characters the grammar cares about: no panic.
#[test]
fn hostile_unit_text() {
    let alphabet = b"[]=\\\n\n #;abcK\t\r|!";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        let mut t = Vec::new();
        for _ in 0..(x % 200) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t.push(alphabet[(x % alphabet.len() as u64) as usize]);
        }
        let text = String::from_utf8_lossy(&t);
        let u = Unit {
            entries: parse_unit(&text, Path::new("/x")),
        };
        let _ = u.names("a", "K");
        let _ = crate::guest::dpkg::parse_status(&text);
        let _ = crate::guest::ldso::parse_ld_so_conf(&text);
        let _ = parse_listen(&text);
        let _ = crate::sshd::hostkey::parse_public_line(&text);
    }
}
