//! XFS fixtures: a `Guest` tree made into an XFS image by `mkfs.xfs -p PROTOFILE` (exact
//! modes and owners, no root needed), with the bits a protofile cannot say (sticky) set
//! afterwards by `xfs_db -x`; and helpers for tests that need root (loop mounts).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Guest, Kind, check};

pub const FIXTURE_UUID: &str = "6a1e0c2b-9f4d-4a57-8e1f-0b2c3d4e5f60";

/// Whether a program is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool} >/dev/null"))
        .status()
        .is_ok_and(|s| s.success())
}

fn required() -> bool {
    std::env::var("RESCUE_INSPECT_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// True when the tools are present; otherwise skips (prints why) or, under
/// RESCUE_INSPECT_REQUIRE_PEERS=1, fails.
pub fn tools(names: &[&str]) -> bool {
    let missing: Vec<&str> = names.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !required(),
        "missing {missing:?} (install xfsprogs/lvm2/...; .ci/run does)"
    );
    eprintln!("skipped: {missing:?} not installed");
    false
}

/// True when running as root (loop mounts); otherwise skips, or fails when peers are required.
pub fn root() -> bool {
    // SAFETY-free check: the effective uid from /proc.
    let euid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        })
        .unwrap_or_default();
    if euid == "0" {
        return true;
    }
    assert!(!required(), "this test needs root for loop mounts");
    eprintln!("skipped: needs root for a loop mount");
    false
}

fn proto_mode(kind: &Kind, mode: u32) -> String {
    let t = match kind {
        Kind::Dir => 'd',
        Kind::File(_) => '-',
        Kind::Symlink(_) => 'l',
    };
    format!(
        "{t}{}{}{:03o}",
        if mode & 0o4000 != 0 { 'u' } else { '-' },
        if mode & 0o2000 != 0 { 'g' } else { '-' },
        mode & 0o777
    )
}

impl Guest {
    /// Builds an XFS image of `size_mb` MiB at `out` with exact owners and modes; `mkfs` are
    /// extra `mkfs.xfs` options (`-m crc=0`, `-n ftype=0`, `-i nrext64=1`, ...).
    pub fn xfs(&self, work: &Path, out: &Path, size_mb: u32, mkfs: &[&str]) -> PathBuf {
        let name = out.file_name().unwrap().to_string_lossy().into_owned();
        let src = work.join(format!("xfs-src-{name}"));
        let _ = std::fs::remove_dir_all(&src);
        std::fs::create_dir_all(&src).unwrap();
        // Children by parent path; "/" is the root.
        let mut children: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let parent = match n.path.rfind('/') {
                Some(0) => "/".to_string(),
                Some(p) => n.path[..p].to_string(),
                None => "/".to_string(),
            };
            children.entry(parent).or_default().push(i);
        }
        let root_mode = self
            .nodes
            .iter()
            .find(|n| n.path == "/")
            .map(|n| (n.mode, n.uid, n.gid))
            .unwrap_or((0o755, 0, 0));
        let mut proto = format!(
            "/dev/null\n0 0\nd{}{:03o} {} {}\n",
            "--",
            root_mode.0 & 0o777,
            root_mode.1,
            root_mode.2
        );
        fn emit(
            g: &Guest,
            dir: &str,
            children: &BTreeMap<String, Vec<usize>>,
            src: &Path,
            proto: &mut String,
        ) {
            for &i in children.get(dir).map(|v| v.as_slice()).unwrap_or(&[]) {
                let n = &g.nodes[i];
                if n.path == "/" {
                    continue;
                }
                let base = n.path.rsplit('/').next().unwrap();
                let m = proto_mode(&n.kind, n.mode);
                match &n.kind {
                    Kind::Dir => {
                        proto.push_str(&format!("{base} {m} {} {}\n", n.uid, n.gid));
                        emit(g, &n.path, children, src, proto);
                        proto.push_str("$\n");
                    }
                    Kind::File(data) => {
                        let f = src.join(format!("{i}"));
                        std::fs::write(&f, data).unwrap();
                        proto.push_str(&format!(
                            "{base} {m} {} {} {}\n",
                            n.uid,
                            n.gid,
                            f.display()
                        ));
                    }
                    Kind::Symlink(t) => {
                        proto.push_str(&format!("{base} {m} {} {} {t}\n", n.uid, n.gid));
                    }
                }
            }
        }
        emit(self, "/", &children, &src, &mut proto);
        proto.push_str("$\n");
        let pf = src.join("protofile");
        std::fs::write(&pf, &proto).unwrap();
        let _ = std::fs::remove_file(out);
        let f = std::fs::File::create(out).unwrap();
        f.set_len(u64::from(size_mb) << 20).unwrap();
        drop(f);
        let mut cmd = Command::new("mkfs.xfs");
        cmd.args(["-q", "-f"]);
        if !mkfs.contains(&"-L") {
            cmd.args(["-L", "fixture-root"]);
        }
        if !mkfs.iter().any(|a| a.contains("crc=0")) {
            cmd.args(["-m", &format!("uuid={FIXTURE_UUID}")]);
        }
        cmd.args(mkfs);
        cmd.arg("-p").arg(&pf).arg(out);
        check(cmd.output().expect("mkfs.xfs runs"), "mkfs.xfs");
        // What a protofile cannot express: the sticky bit.
        let mut db = Vec::new();
        for n in &self.nodes {
            if n.mode & 0o1000 != 0 && !matches!(n.kind, Kind::Symlink(_)) {
                let ty = if matches!(n.kind, Kind::Dir) {
                    0o040000
                } else {
                    0o100000
                };
                db.push(format!("path {}", n.path));
                db.push(format!("write core.mode 0{:o}", ty | n.mode));
            }
        }
        if !db.is_empty() {
            xfs_db_x(out, &db);
        }
        let _ = std::fs::remove_dir_all(&src);
        out.to_path_buf()
    }

    /// A small healthy RHEL-9-like guest (Rocky Linux 9): merged /usr, PAM modules in
    /// /usr/lib64/security, sshd at /usr/sbin/sshd with its libraries, sshd.service enabled,
    /// an rpm database directory, host keys root:ssh_keys 0640, user admin with a key.
    pub fn rocky() -> Guest {
        let mut g = Guest::debian();
        for p in [
            "/var/lib/dpkg",
            "/usr/share/openssh",
            "/etc/network",
            "/usr/lib/systemd/system/networking.service",
            "/etc/systemd/system/multi-user.target.wants/networking.service",
            "/usr/lib/systemd/system/ssh.service",
            "/usr/lib/systemd/system/ssh.socket",
            "/etc/systemd/system/sshd.service",
            "/etc/systemd/system/multi-user.target.wants/ssh.service",
            "/usr/bin/sh",
            "/etc/os-release",
            "/usr/lib/os-release",
            "/etc/default/grub",
        ] {
            g.remove(p);
        }
        g.text(
            "/usr/lib/os-release",
            "NAME=\"Rocky Linux\"\nVERSION=\"9.4 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nPLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"Rocky Linux 9.4 (Blue Onyx)\"\n",
        );
        g.symlink("/etc/os-release", "../usr/lib/os-release");
        g.text(
            "/etc/redhat-release",
            "Rocky Linux release 9.4 (Blue Onyx)\n",
        );
        g.text(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nsshd:x:74:74:Privilege-separated SSH:/usr/share/empty.sshd:/sbin/nologin\nadmin:x:1000:1000:Admin:/home/admin:/bin/bash\n",
        );
        g.file(
            "/etc/shadow",
            b"root:*:19000:0:99999:7:::\nsshd:!!:19000::::::\nadmin:!!:19000:0:99999:7:::\n",
            0o000,
            0,
            0,
        );
        g.text(
            "/etc/group",
            "root:x:0:\nwheel:x:10:admin\nssh_keys:x:997:\nsshd:x:74:\nadmin:x:1000:\n",
        );
        g.text(
            "/etc/fstab",
            &format!("UUID={FIXTURE_UUID} /                       xfs     defaults        0 0\n"),
        );
        g.dir("/usr/share/empty.sshd", 0o711, 0, 0);
        g.text(
            "/etc/ssh/sshd_config",
            "Include /etc/ssh/sshd_config.d/*.conf\nAuthorizedKeysFile\t.ssh/authorized_keys\nSubsystem\tsftp\t/usr/libexec/openssh/sftp-server\n",
        );
        g.text(
            "/etc/ssh/sshd_config.d/50-redhat.conf",
            "SyslogFacility AUTHPRIV\nChallengeResponseAuthentication no\nGSSAPIAuthentication yes\nGSSAPICleanupCredentials no\nUsePAM yes\nX11Forwarding yes\nPrintMotd no\n",
        );
        g.host_keys(0o640, 997);
        g.text(
            "/usr/lib/systemd/system/sshd.service",
            "[Unit]\nDescription=OpenSSH server daemon\nAfter=network.target sshd-keygen.target\n\n[Service]\nType=notify\nEnvironmentFile=-/etc/sysconfig/sshd\nExecStart=/usr/sbin/sshd -D $OPTIONS\nExecReload=/bin/kill -HUP $MAINPID\nKillMode=process\nRestart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n",
        );
        g.symlink(
            "/etc/systemd/system/multi-user.target.wants/sshd.service",
            "/usr/lib/systemd/system/sshd.service",
        );
        g.text(
            "/etc/pam.d/sshd",
            "#%PAM-1.0\nauth       substack     password-auth\naccount    required     pam_nologin.so\naccount    include      password-auth\npassword   include      password-auth\nsession    required     pam_selinux.so close\nsession    required     pam_loginuid.so\nsession    required     pam_selinux.so open env_params\nsession    optional     pam_keyinit.so force revoke\nsession    include      password-auth\n",
        );
        g.text(
            "/etc/pam.d/password-auth",
            "auth        required      pam_env.so\nauth        sufficient    pam_unix.so try_first_pass nullok\nauth        required      pam_deny.so\naccount     required      pam_unix.so\npassword    sufficient    pam_unix.so sha512 shadow nullok use_authtok\npassword    required      pam_deny.so\nsession     optional      pam_keyinit.so revoke\nsession     required      pam_limits.so\nsession     required      pam_unix.so\n",
        );
        for m in [
            "pam_nologin.so",
            "pam_selinux.so",
            "pam_loginuid.so",
            "pam_keyinit.so",
            "pam_env.so",
            "pam_unix.so",
            "pam_deny.so",
            "pam_limits.so",
        ] {
            g.file(
                &format!("/usr/lib64/security/{m}"),
                super::FAKE_ELF,
                0o755,
                0,
                0,
            );
        }
        // The rpm database directory, empty: the package audits are tested with real
        // databases elsewhere; here the filesystem is under test.
        g.dir("/var/lib/rpm", 0o755, 0, 0);
        g.text(
            "/etc/NetworkManager/system-connections/cloud-init-eth0.nmconnection",
            "[connection]\nid=cloud-init eth0\ntype=ethernet\ninterface-name=eth0\n\n[ipv4]\nmethod=auto\n",
        );
        g.text(
            "/usr/lib/systemd/system/NetworkManager.service",
            "[Unit]\nDescription=Network Manager\n\n[Service]\nType=dbus\nBusName=org.freedesktop.NetworkManager\nExecStart=/usr/sbin/NetworkManager --no-daemon\n\n[Install]\nWantedBy=multi-user.target\n",
        );
        g.symlink(
            "/etc/systemd/system/multi-user.target.wants/NetworkManager.service",
            "/usr/lib/systemd/system/NetworkManager.service",
        );
        g.file("/usr/sbin/NetworkManager", super::FAKE_ELF, 0o755, 0, 0);
        g.text(
            "/etc/default/grub",
            "GRUB_TIMEOUT=1\nGRUB_CMDLINE_LINUX=\"console=tty0 console=ttyS0,115200n8 no_timer_check net.ifnames=0\"\nGRUB_ENABLE_BLSCFG=true\n",
        );
        g.text(
            "/etc/selinux/config",
            "SELINUX=disabled\nSELINUXTYPE=targeted\n",
        );
        g.symlink("/usr/bin/sh", "bash");
        g.dir("/root", 0o550, 0, 0);
        g
    }
}

/// Runs `xfs_db -x` commands on an unmounted image (expert mode writes; fixtures only).
pub fn xfs_db_x(img: &Path, cmds: &[String]) -> String {
    let mut c = Command::new("xfs_db");
    c.arg("-x");
    for x in cmds {
        c.arg("-c").arg(x);
    }
    let o = check(c.arg(img).output().expect("xfs_db runs"), "xfs_db");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `xfs_repair -n` on an image: (exit code, stdout + stderr).
pub fn xfs_repair_n(img: &Path) -> (i32, String) {
    let o = Command::new("xfs_repair")
        .args(["-n", "-f"])
        .arg(img)
        .output()
        .expect("xfs_repair runs");
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// A loop mount of an image, unmounted on drop.
pub struct Mount {
    pub dir: PathBuf,
}

impl Mount {
    pub fn new(img: &Path, dir: &Path, opts: &str) -> Mount {
        std::fs::create_dir_all(dir).unwrap();
        check(
            Command::new("mount")
                // nouuid: fixtures share a UUID, and tests mount them side by side.
                .args(["-t", "xfs", "-o", &format!("loop,nouuid,{opts}")])
                .arg(img)
                .arg(dir)
                .output()
                .unwrap(),
            "mount",
        );
        Mount {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}
