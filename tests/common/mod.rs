//! Fixture builder: a guest tree with exact modes and owners → an ext4 image made by
//! `mke2fs -d` (owners and modes then set with `debugfs -w`, so building needs no root) →
//! optionally inside a GPT (512- or 4096-byte sectors) or MBR disk image.
#![allow(dead_code)]

pub mod xfs;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[derive(Clone, Debug)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

#[derive(Clone, Debug)]
pub struct Node {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A guest tree, described exactly.
#[derive(Clone, Debug, Default)]
pub struct Guest {
    pub nodes: Vec<Node>,
}

/// An ELF-looking head, so "is this binary all NUL" tests see a real header.
pub const FAKE_ELF: &[u8] =
    b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x3e\x00fake binary for tests";

impl Guest {
    pub fn new() -> Guest {
        Guest::default()
    }

    fn put(&mut self, path: &str, kind: Kind, mode: u32, uid: u32, gid: u32) -> &mut Self {
        self.nodes.retain(|n| n.path != path);
        // Parents default to 0755 root:root.
        let mut cur = String::new();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        for p in &parts[..parts.len().saturating_sub(1)] {
            cur.push('/');
            cur.push_str(p);
            if !self.nodes.iter().any(|n| n.path == cur) {
                self.nodes.push(Node {
                    path: cur.clone(),
                    kind: Kind::Dir,
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                });
            }
        }
        self.nodes.push(Node {
            path: path.to_string(),
            kind,
            mode,
            uid,
            gid,
        });
        self
    }

    pub fn dir(&mut self, path: &str, mode: u32, uid: u32, gid: u32) -> &mut Self {
        if let Some(n) = self.nodes.iter_mut().find(|n| n.path == path) {
            n.mode = mode;
            n.uid = uid;
            n.gid = gid;
            return self;
        }
        self.put(path, Kind::Dir, mode, uid, gid)
    }

    pub fn file(&mut self, path: &str, data: &[u8], mode: u32, uid: u32, gid: u32) -> &mut Self {
        self.put(path, Kind::File(data.to_vec()), mode, uid, gid)
    }

    pub fn text(&mut self, path: &str, data: &str) -> &mut Self {
        self.file(path, data.as_bytes(), 0o644, 0, 0)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.put(path, Kind::Symlink(target.to_string()), 0o777, 0, 0)
    }

    /// Removes `path` and everything under it.
    pub fn remove(&mut self, path: &str) -> &mut Self {
        let prefix = format!("{path}/");
        self.nodes
            .retain(|n| n.path != path && !n.path.starts_with(&prefix));
        self
    }

    /// A small healthy Debian-12-like guest with user admin (1000) and a key.
    pub fn debian() -> Guest {
        let mut g = Guest::new();
        g.text(
            "/usr/lib/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n",
        );
        g.symlink("/etc/os-release", "../usr/lib/os-release");
        g.text(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nadmin:x:1000:1000:Admin,,,:/home/admin:/bin/bash\n",
        );
        g.file(
            "/etc/shadow",
            b"root:*:19000:0:99999:7:::\nsshd:!:19000::::::\nadmin:!:19000:0:99999:7:::\n",
            0o640,
            0,
            42,
        );
        g.text(
            "/etc/group",
            "root:x:0:\nshadow:x:42:\nsudo:x:27:admin\nadmin:x:1000:\n",
        );
        g.text(
            "/etc/passwd-",
            "root:x:0:0:root:/root:/bin/bash\nadmin:x:1000:1000:Admin,,,:/home/admin:/bin/bash\n",
        );
        g.text(
            "/etc/fstab",
            "UUID=2f5e3a46-7d0b-4bb5-9d3c-6b6e5e8f1a10 / ext4 errors=remount-ro 0 1\n",
        );
        g.text("/etc/hostname", "fixture\n");
        g.text("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nPrintMotd no\nAcceptEnv LANG LC_*\nSubsystem sftp /usr/lib/openssh/sftp-server\n");
        g.text(
            "/etc/ssh/sshd_config.d/50-cloud-init.conf",
            "PasswordAuthentication no\n",
        );
        g.text("/usr/share/openssh/sshd_config", "# pristine\nUsePAM yes\n");
        // A real dynamically linked program as sshd, with the real libraries it loads, so the
        // library-closure rules see real ELF files.
        g.host_program("/usr/bin/true", "/usr/sbin/sshd");
        g.file("/usr/lib/systemd/systemd", FAKE_ELF, 0o755, 0, 0);
        g.symlink("/usr/sbin/init", "/lib/systemd/systemd");
        g.text("/usr/lib/systemd/system/ssh.service", SSH_SERVICE);
        g.text("/usr/lib/systemd/system/ssh.socket", SSH_SOCKET);
        g.text(
            "/usr/lib/systemd/system/multi-user.target",
            "[Unit]\nDescription=Multi-User System\nRequires=basic.target\nAllowIsolate=yes\n",
        );
        g.text("/usr/lib/systemd/system/graphical.target", "[Unit]\nDescription=Graphical Interface\nRequires=multi-user.target\nWants=display-manager.service\nAllowIsolate=yes\n");
        g.text(
            "/usr/lib/systemd/system/basic.target",
            "[Unit]\nDescription=Basic System\n",
        );
        g.symlink(
            "/etc/systemd/system/multi-user.target.wants/ssh.service",
            "/lib/systemd/system/ssh.service",
        );
        // The network as Debian cloud images with classic names have it.
        g.text(
            "/usr/lib/systemd/system/networking.service",
            "[Unit]\nDescription=Raise network interfaces\n\n[Service]\nType=oneshot\nExecStart=/sbin/ifup -a --read-environment\n\n[Install]\nWantedBy=multi-user.target\n",
        );
        g.symlink(
            "/etc/systemd/system/multi-user.target.wants/networking.service",
            "/lib/systemd/system/networking.service",
        );
        g.text(
            "/etc/network/interfaces",
            "auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n",
        );
        g.text(
            "/etc/network/interfaces.d/eth0",
            "allow-hotplug eth0\niface eth0 inet dhcp\n",
        );
        g.text(
            "/etc/default/grub",
            "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"console=ttyS0 net.ifnames=0\"\n",
        );
        g.symlink(
            "/etc/systemd/system/sshd.service",
            "/lib/systemd/system/ssh.service",
        );
        g.text(
            "/var/lib/dpkg/status",
            "Package: openssh-server\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: 1:9.2p1-2+deb12u3\nDescription: secure shell (SSH) server\n more text\n\nPackage: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n\n",
        );
        g.text(
            "/var/lib/dpkg/info/openssh-server.list",
            "/.\n/usr\n/usr/sbin\n/usr/sbin/sshd\n/lib/systemd/system/ssh.service\n",
        );
        g.text(
            "/var/lib/dpkg/info/libc6:amd64.list",
            "/.\n/lib/x86_64-linux-gnu/libc.so.6\n/lib64/ld-linux-x86-64.so.2\n",
        );
        g.file("/usr/bin/dash", FAKE_ELF, 0o755, 0, 0);
        g.file("/usr/bin/bash", FAKE_ELF, 0o755, 0, 0);
        g.symlink("/bin", "usr/bin");
        g.symlink("/sbin", "usr/sbin");
        g.symlink("/lib", "usr/lib");
        g.symlink("/lib64", "usr/lib64");
        g.symlink("/usr/bin/sh", "dash");
        g.dir("/root", 0o700, 0, 0);
        g.dir("/home/admin", 0o755, 1000, 1000);
        g.dir("/home/admin/.ssh", 0o700, 1000, 1000);
        g.file(
            "/home/admin/.ssh/authorized_keys",
            b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRoaXMtaXMtYS10ZXN0LWtleS1mb3ItcmVzY3VlLW9r admin@test\n",
            0o600,
            1000,
            1000,
        );
        g.dir("/tmp", 0o1777, 0, 0);
        g.host_keys(0o600, 0);
        g
    }

    /// Real host keys (made once per test process by ssh-keygen) at the default paths with this
    /// mode and group; returns each key's `ssh-keygen -lf` line by guest path.
    pub fn host_keys(&mut self, mode: u32, gid: u32) -> Vec<(String, String)> {
        let mut lines = Vec::new();
        for (ty, private, public, line) in host_key_material() {
            let guest = format!("/etc/ssh/ssh_host_{ty}_key");
            self.file(&guest, private, mode, 0, gid);
            self.file(&format!("{guest}.pub"), public, 0o644, 0, 0);
            lines.push((guest, line.clone()));
        }
        lines
    }

    /// Copies a program of this (Debian) host into the guest at `guest_path`, with the libraries
    /// and loader `ldd` lists for it, each at its real (merged-/usr) path.
    pub fn host_program(&mut self, host_path: &str, guest_path: &str) -> &mut Self {
        let data = std::fs::read(host_path).expect("host program");
        self.file(guest_path, &data, 0o755, 0, 0);
        let out = Command::new("ldd")
            .arg(host_path)
            .output()
            .expect("ldd runs");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => line
                    .split_whitespace()
                    .next()
                    .filter(|p| p.starts_with('/')),
            };
            let Some(path) = path.filter(|p| p.starts_with('/')) else {
                continue;
            };
            let host = Path::new(path);
            let dir = std::fs::canonicalize(host.parent().unwrap()).unwrap();
            let real = dir.join(host.file_name().unwrap());
            let bytes = std::fs::read(&real).expect("library");
            self.file(real.to_str().unwrap(), &bytes, 0o755, 0, 0);
        }
        self
    }

    /// Writes the tree under `dir` (contents and modes; owners are applied in the image).
    pub fn write_tree(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let mut nodes = self.nodes.clone();
        nodes.sort_by(|a, b| a.path.cmp(&b.path));
        for n in &nodes {
            let p = dir.join(n.path.trim_start_matches('/'));
            match &n.kind {
                Kind::Dir => std::fs::create_dir_all(&p).unwrap(),
                Kind::File(d) => {
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    std::fs::write(&p, d).unwrap();
                }
                Kind::Symlink(t) => {
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    std::os::unix::fs::symlink(t, &p).unwrap();
                }
            }
        }
        // Modes after contents, deepest first, so a 0500 directory does not block its children.
        for n in nodes.iter().rev() {
            if matches!(n.kind, Kind::Symlink(_)) {
                continue;
            }
            use std::os::unix::fs::PermissionsExt;
            let p = dir.join(n.path.trim_start_matches('/'));
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(n.mode)).unwrap();
        }
    }

    /// Builds an ext4 image of `size_mb` MiB at `out` with exact owners and modes.
    pub fn ext4(&self, work: &Path, out: &Path, size_mb: u32, extra_mke2fs: &[&str]) -> PathBuf {
        let tree = work.join(format!(
            "tree-{}",
            out.file_name().unwrap().to_string_lossy()
        ));
        let _ = std::fs::remove_dir_all(&tree);
        self.write_tree(&tree);
        let _ = std::fs::remove_file(out);
        let mut cmd = Command::new("mke2fs");
        cmd.args(["-q", "-F"]);
        if !extra_mke2fs.contains(&"-t") {
            cmd.args(["-t", "ext4"]);
        }
        cmd.args([
            "-L",
            "fixture-root",
            "-U",
            "2f5e3a46-7d0b-4bb5-9d3c-6b6e5e8f1a10",
            "-E",
            "root_owner=0:0",
        ]);
        cmd.args(extra_mke2fs);
        cmd.arg("-d").arg(&tree).arg(out).arg(format!("{size_mb}M"));
        check(cmd.output().expect("mke2fs runs"), "mke2fs");
        let mut script = String::new();
        for n in &self.nodes {
            if matches!(n.kind, Kind::Symlink(_)) {
                continue;
            }
            let ty = match n.kind {
                Kind::Dir => 0o040000,
                _ => 0o100000,
            };
            script.push_str(&format!(
                "sif \"{0}\" uid {1}\nsif \"{0}\" gid {2}\nsif \"{0}\" mode 0{3:o}\n",
                n.path,
                n.uid,
                n.gid,
                ty | n.mode
            ));
        }
        debugfs_w(out, &script);
        let _ = std::fs::remove_dir_all(&tree);
        out.to_path_buf()
    }
}

pub fn check(o: Output, what: &str) -> Output {
    assert!(
        o.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Runs a `debugfs -w` script on an image.
pub fn debugfs_w(img: &Path, script: &str) {
    let mut child = Command::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg("-")
        .arg(img)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("debugfs runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    // debugfs prints its banner on stderr; real failures name the command.
    assert!(
        o.status.success() && !err.contains(": File not found") && !err.contains("Usage"),
        "debugfs failed: {err}"
    );
}

/// (type, private key, public key, `ssh-keygen -lf` line), generated once per process.
type KeyMaterial = Vec<(&'static str, Vec<u8>, Vec<u8>, String)>;

fn host_key_material() -> &'static KeyMaterial {
    static KEYS: std::sync::OnceLock<KeyMaterial> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let t = tempdir();
        ["rsa", "ecdsa", "ed25519"]
            .into_iter()
            .map(|ty| {
                let p = t.path().join(format!("ssh_host_{ty}_key"));
                check(
                    Command::new("ssh-keygen")
                        .args(["-q", "-t", ty, "-N", "", "-C", "root@fixture", "-f"])
                        .arg(&p)
                        .output()
                        .expect("ssh-keygen (openssh-client) runs"),
                    "ssh-keygen",
                );
                let l = Command::new("ssh-keygen")
                    .arg("-lf")
                    .arg(&p)
                    .output()
                    .unwrap();
                (
                    ty,
                    std::fs::read(&p).unwrap(),
                    std::fs::read(p.with_extension("pub")).unwrap(),
                    String::from_utf8_lossy(&l.stdout).trim().to_string(),
                )
            })
            .collect()
    })
}

/// Debian 12's ssh.service, as shipped.
pub const SSH_SERVICE: &str = "[Unit]\nDescription=OpenBSD Secure Shell server\nDocumentation=man:sshd(8) man:sshd_config(5)\nAfter=network.target auditd.service\nConditionPathExists=!/etc/ssh/sshd_not_to_be_run\n\n[Service]\nEnvironmentFile=-/etc/default/ssh\nExecStartPre=/usr/sbin/sshd -t\nExecStart=/usr/sbin/sshd -D $SSHD_OPTS\nExecReload=/usr/sbin/sshd -t\nExecReload=/bin/kill -HUP $MAINPID\nKillMode=process\nRestart=on-failure\nRestartPreventExitStatus=255\nType=notify\nRuntimeDirectory=sshd\nRuntimeDirectoryMode=0755\n\n[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n";

/// Debian 12's ssh.socket, as shipped.
pub const SSH_SOCKET: &str = "[Unit]\nDescription=OpenBSD Secure Shell server socket\nBefore=sockets.target\nConditionPathExists=!/etc/ssh/sshd_not_to_be_run\n\n[Socket]\nListenStream=22\nAccept=yes\n\n[Install]\nWantedBy=sockets.target\n";

/// How the filesystem image is laid on a disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disk {
    Bare,
    /// GPT with 512-byte sectors (sgdisk): 1 BIOS boot, 2 root.
    Gpt512,
    /// GPT with 4096-byte sectors (written by `write_gpt` here): 1 ESP-typed empty, 2 root.
    Gpt4096,
    /// MBR (sfdisk): 1 primary root.
    Mbr,
    /// MBR (sfdisk): 1 primary swap-typed, 2 extended, 5 logical empty, 6 logical root.
    MbrLogical,
}

pub const MIB: u64 = 1024 * 1024;

/// Copies `fs` into a disk image at `out` with the given layout; returns the root's byte offset.
pub fn disk(fs: &Path, layout: Disk, out: &Path) -> u64 {
    let fs_len = std::fs::metadata(fs).unwrap().len();
    let _ = std::fs::remove_file(out);
    let offset = match layout {
        Disk::Bare => {
            std::fs::copy(fs, out).unwrap();
            return 0;
        }
        Disk::Gpt512 => {
            let total = fs_len + 4 * MIB;
            truncate(out, total);
            check(
                Command::new("sgdisk")
                    .args([
                        "-n",
                        "1:2048:+1M",
                        "-t",
                        "1:ef02",
                        "-c",
                        "1:bios",
                        "-n",
                        "2:4096:0",
                        "-t",
                        "2:8300",
                        "-c",
                        "2:fixture-root",
                    ])
                    .arg(out)
                    .output()
                    .unwrap(),
                "sgdisk",
            );
            2 * MIB
        }
        Disk::Gpt4096 => {
            let total = fs_len + 4 * MIB;
            truncate(out, total);
            let sectors = total / 4096;
            write_gpt(
                out,
                4096,
                &[
                    (256, 511, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "esp"),
                    (
                        512,
                        sectors - 7,
                        "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
                        "fixture-root",
                    ),
                ],
            );
            2 * MIB
        }
        Disk::Mbr => {
            truncate(out, fs_len + 2 * MIB);
            sfdisk(
                out,
                &format!(
                    "label: dos\nstart=2048, size={}, type=83, bootable\n",
                    fs_len / 512
                ),
            );
            MIB
        }
        Disk::MbrLogical => {
            truncate(out, fs_len + 8 * MIB);
            sfdisk(
                out,
                &format!(
                    "label: dos\nstart=2048, size=2048, type=82\nstart=4096, type=5\nstart=6144, size=2048, type=83\nstart=10240, size={}, type=83\n",
                    fs_len / 512
                ),
            );
            10240 * 512
        }
    };
    let mut f = std::fs::OpenOptions::new().write(true).open(out).unwrap();
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut src = std::fs::File::open(fs).unwrap();
    std::io::copy(&mut src, &mut f).unwrap();
    offset
}

fn truncate(p: &Path, len: u64) {
    let f = std::fs::File::create(p).unwrap();
    f.set_len(len).unwrap();
}

fn sfdisk(img: &Path, script: &str) {
    let mut child = Command::new("sfdisk")
        .arg("-q")
        .arg(img)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    check(child.wait_with_output().unwrap(), "sfdisk");
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn guid_bytes(s: &str) -> [u8; 16] {
    let h: Vec<u8> = s
        .replace('-', "")
        .as_bytes()
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect();
    let mut b = [0u8; 16];
    b[0..4].copy_from_slice(&[h[3], h[2], h[1], h[0]]);
    b[4..6].copy_from_slice(&[h[5], h[4]]);
    b[6..8].copy_from_slice(&[h[7], h[6]]);
    b[8..16].copy_from_slice(&h[8..16]);
    b
}

/// Writes a GPT (protective MBR, primary and backup headers and arrays) with `sector`-byte
/// sectors; parts are (first LBA, last LBA, type GUID, name). Independent of the crate's code.
pub fn write_gpt(img: &Path, sector: u64, parts: &[(u64, u64, &str, &str)]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(img)
        .unwrap();
    let total = f.metadata().unwrap().len() / sector;
    let last = total - 1;
    let entries = 128u64;
    let array_sectors = (entries * 128).div_ceil(sector);
    let mut array = vec![0u8; (entries * 128) as usize];
    for (i, (first, lastlba, ty, name)) in parts.iter().enumerate() {
        let e = &mut array[i * 128..(i + 1) * 128];
        e[0..16].copy_from_slice(&guid_bytes(ty));
        e[16..32].copy_from_slice(&guid_bytes(&format!(
            "11111111-2222-3333-4444-{:012X}",
            i + 1
        )));
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&lastlba.to_le_bytes());
        for (j, u) in name.encode_utf16().enumerate() {
            e[56 + 2 * j..58 + 2 * j].copy_from_slice(&u.to_le_bytes());
        }
    }
    let array_crc = crc32(&array);
    let header = |my: u64, alt: u64, array_lba: u64| {
        let mut h = vec![0u8; 92];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&my.to_le_bytes());
        h[32..40].copy_from_slice(&alt.to_le_bytes());
        h[40..48].copy_from_slice(&(2 + array_sectors).to_le_bytes());
        h[48..56].copy_from_slice(&(last - 1 - array_sectors).to_le_bytes());
        h[56..72].copy_from_slice(&guid_bytes("AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"));
        h[72..80].copy_from_slice(&array_lba.to_le_bytes());
        h[80..84].copy_from_slice(&(entries as u32).to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&array_crc.to_le_bytes());
        let c = crc32(&h);
        h[16..20].copy_from_slice(&c.to_le_bytes());
        h
    };
    let mut mbr = vec![0u8; 512];
    mbr[446 + 4] = 0xEE;
    mbr[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
    mbr[446 + 12..446 + 16]
        .copy_from_slice(&(total.min(u64::from(u32::MAX)) as u32 - 1).to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    f.write_all_at(&mbr, 0).unwrap();
    f.write_all_at(&header(1, last, 2), sector).unwrap();
    f.write_all_at(&array, 2 * sector).unwrap();
    f.write_all_at(&array, (last - array_sectors) * sector)
        .unwrap();
    f.write_all_at(&header(last, 1, last - array_sectors), last * sector)
        .unwrap();
}

/// The binary under test.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rescue-inspect"));
    c.env_remove("NO_COLOR");
    c
}

/// Runs the binary; returns (exit code, stdout, stderr).
pub fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (i32, String, String) {
    let o = bin()
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `check --format json` parsed.
pub fn check_json(target: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut cmd = bin();
    cmd.arg("check")
        .arg(target)
        .args(["--format", "json"])
        .args(extra);
    let o = cmd.output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "bad json ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code().unwrap_or(-1), v)
}

/// Ids of the findings in a JSON report.
pub fn ids(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

/// Findings of one rule in a JSON report.
pub fn with(id: &str, r: &serde_json::Value) -> Vec<serde_json::Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .cloned()
        .collect()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rescue-inspect-test")
        .tempdir()
        .unwrap()
}

/// The login verdict of one user in a report.
pub fn verdict<'a>(r: &'a serde_json::Value, user: &str) -> &'a serde_json::Value {
    r["verdict"]["logins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["user"] == user)
        .unwrap_or_else(|| panic!("no verdict for {user}: {r}"))
}

/// Whether tests that need a real peer (a tool from the package registry, root, loop devices)
/// must run rather than skip: `.ci/run` sets RESCUE_INSPECT_REQUIRE_PEERS=1 as root.
pub fn peers_required() -> bool {
    std::env::var("RESCUE_INSPECT_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Skips a test that cannot run here with a message, or fails it where peers are required.
pub fn skip_or_fail(test: &str, why: &str) {
    if peers_required() {
        panic!("{test} cannot run: {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The cached real Debian 12 root (`scripts/e2e-debian.sh` sets RESCUE_INSPECT_DEBIAN): a
/// directory with `root/` and `ext4.img`, `gpt.img`, `mbr.img`.
pub fn debian_cache() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("RESCUE_INSPECT_DEBIAN")?);
    dir.join("ext4.img").exists().then_some(dir)
}

/// Copies an image keeping it sparse.
pub fn sparse_copy(from: &Path, to: &Path) {
    assert!(
        Command::new("cp")
            .arg("--sparse=always")
            .arg(from)
            .arg(to)
            .status()
            .unwrap()
            .success()
    );
}
