//! XFS read natively, checked against the kernel: images made by mkfs.xfs (protofile: exact
//! modes and owners without root) and populated through loop mounts (as root: every
//! directory form, btree-mapped files, preallocated and sparse files, remote symlinks,
//! attributes in short, leaf, node and remote form), then walked by the tool and by the
//! mounted kernel and compared entry for entry.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::xfs::*;
use common::*;
use rescue_inspect::fs::xfs as rxfs;
use rescue_inspect::fs::{FileType, RootFs};
use rescue_inspect::volume::{Device, Slice};

fn open_fs(img: &Path) -> rxfs::XfsVolume {
    let dev = Arc::new(Device::open(img).unwrap());
    rxfs::open(&Slice::whole(dev)).unwrap()
}

/// What one entry looks like, from either side.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    kind: FileType,
    perm: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, u32),
    ctime: (i64, u32),
    ino: u64,
    nlink: u64,
    link: Option<PathBuf>,
    sha: Option<String>,
    selinux: Option<Vec<u8>>,
    user_attr: Option<Vec<u8>>,
}

fn sha(r: &mut dyn Read) -> String {
    use std::fmt::Write;
    let mut h = Sha::default();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let mut s = String::new();
    for b in h.finish() {
        write!(s, "{b:02x}").unwrap();
    }
    s
}

/// FNV-1a over 64 bits with the length: enough to tell contents apart in a test.
#[derive(Default)]
struct Sha(u64, u64);
impl Sha {
    fn update(&mut self, d: &[u8]) {
        if self.0 == 0 {
            self.0 = 0xcbf2_9ce4_8422_2325;
        }
        for &b in d {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
        self.1 += d.len() as u64;
    }
    fn finish(&self) -> Vec<u8> {
        let mut v = self.0.to_be_bytes().to_vec();
        v.extend_from_slice(&self.1.to_be_bytes());
        v
    }
}

fn walk_tool(fs: &RootFs, p: &Path, out: &mut BTreeMap<PathBuf, Seen>) {
    let md = fs.symlink_metadata(p).unwrap();
    let link = md.is_symlink().then(|| fs.read_link(p).unwrap());
    let sha = md.is_file().then(|| sha(&mut fs.open(p).unwrap()));
    // xattrs of the entry itself (RootFs::xattr follows links; skip symlinks).
    let (selinux, user_attr) = if md.is_symlink() {
        (None, None)
    } else {
        (
            fs.xattr(p, "security.selinux").unwrap(),
            fs.xattr(p, "user.big").unwrap(),
        )
    };
    out.insert(
        p.to_path_buf(),
        Seen {
            kind: md.file_type,
            perm: md.perm,
            uid: md.uid,
            gid: md.gid,
            size: md.size,
            mtime: (md.mtime.secs, md.mtime.nanos),
            ctime: md.ctime.map(|t| (t.secs, t.nanos)).unwrap(),
            ino: md.inode.unwrap(),
            nlink: md.nlink.unwrap(),
            link,
            sha,
            selinux,
            user_attr,
        },
    );
    if md.is_dir() {
        for e in fs.read_dir(p).unwrap() {
            let c = p.join(&e.name);
            walk_tool(fs, &c, out);
            assert_eq!(out[&c].kind, e.file_type, "{}: entry type", c.display());
        }
    }
}

fn getxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let cp = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let cn = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 65536];
    // SAFETY: NUL-terminated strings and a buffer of the length passed, alive for the call.
    let n =
        unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

fn walk_kernel(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Seen>) {
    let host = root.join(rel.strip_prefix("/").unwrap());
    let md = std::fs::symlink_metadata(&host).unwrap();
    let kind = FileType::from_mode(md.mode());
    let link = (kind == FileType::Symlink).then(|| std::fs::read_link(&host).unwrap());
    let sha = (kind == FileType::Regular).then(|| sha(&mut std::fs::File::open(&host).unwrap()));
    let (selinux, user_attr) = if kind == FileType::Symlink {
        (None, None)
    } else {
        (
            getxattr(&host, "security.selinux"),
            getxattr(&host, "user.big"),
        )
    };
    out.insert(
        rel.to_path_buf(),
        Seen {
            kind,
            perm: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            size: md.size(),
            mtime: (md.mtime(), md.mtime_nsec() as u32),
            ctime: (md.ctime(), md.ctime_nsec() as u32),
            ino: md.ino(),
            nlink: md.nlink(),
            link,
            sha,
            selinux,
            user_attr,
        },
    );
    if kind == FileType::Directory {
        for e in std::fs::read_dir(&host).unwrap() {
            let e = e.unwrap();
            walk_kernel(root, &rel.join(e.file_name()), out);
        }
    }
}

fn sh(script: &str) {
    check(
        Command::new("bash")
            .arg("-ec")
            .arg(script)
            .output()
            .unwrap(),
        script,
    );
}

/// Populates a mounted XFS with every structure the reader must handle.
fn populate(m: &Path) {
    let d = m.display();
    sh(&format!(
        r#"
cd {d}
mkdir -p etc dirs/empty dirs/sf dirs/block dirs/leaf dirs/node home/admin/.ssh
echo 'ID=rocky' > etc/os-release
printf 'root:x:0:0::/root:/bin/bash\n' > etc/passwd
for i in $(seq 1 4); do : > dirs/sf/f$i; done
for i in $(seq 1 40); do : > dirs/block/entry-with-a-longer-name-$i; done
for i in $(seq 1 400); do : > dirs/leaf/entry-with-a-longer-name-$i; done
for i in $(seq 1 6000); do : > dirs/node/entry-with-a-much-longer-name-to-fill-blocks-$i; done
mkdir dirs/node/sub; ln dirs/sf/f1 dirs/sf/hardlink
rm -f dirs/node/entry-with-a-much-longer-name-to-fill-blocks-1*
ln -s ../etc/passwd etc/rel-link
ln -s /etc/passwd etc/abs-link
ln -s "$(printf 'long/%.0s' $(seq 1 150))target" etc/remote-link
mkfifo dirs/fifo; mknod dirs/chr c 1 3; mknod dirs/blk b 7 0
dd if=/dev/urandom of=etc/random bs=1k count=300 status=none
fallocate -l 3M etc/prealloc; printf 'head' | dd of=etc/prealloc conv=notrunc status=none
truncate -s 20M etc/sparse; printf tail | dd of=etc/sparse bs=1 seek=15000000 conv=notrunc status=none
# A file of a few thousand extents: its block map is a btree.
python3 - <<'PY'
import os
fd = os.open('etc/fragmented', os.O_CREAT | os.O_WRONLY, 0o600)
for i in range(3000):
    os.pwrite(fd, bytes([i % 251]) * 4096, i * 8192)
os.close(fd)
PY
chown 1000:1000 home/admin home/admin/.ssh; chmod 700 home/admin/.ssh
echo 'ssh-ed25519 AAAA admin' > home/admin/.ssh/authorized_keys; chmod 600 home/admin/.ssh/authorized_keys
chown 1000:1000 home/admin/.ssh/authorized_keys; chmod 4755 etc/random; chmod 1777 dirs
python3 - <<'PY'
import os
os.setxattr('home/admin/.ssh/authorized_keys', 'security.selinux', b'unconfined_u:object_r:ssh_home_t:s0\0')
os.setxattr('etc/passwd', 'security.selinux', b'system_u:object_r:passwd_file_t:s0\0')
# Leaf form: attributes that no longer fit the inode.
for i in range(30):
    os.setxattr('etc/random', 'user.attr%d' % i, b'v' * 40)
os.setxattr('etc/random', 'security.selinux', b'system_u:object_r:bin_t:s0\0')
# A remote value (in its own blocks).
os.setxattr('etc/os-release', 'user.big', bytes(range(256)) * 40)
# Node form: a dabtree above several leaves.
for i in range(600):
    os.setxattr('dirs/leaf', 'user.many-attributes-%04d' % i, b'x' * 60)
os.setxattr('dirs/leaf', 'security.selinux', b'system_u:object_r:etc_t:s0\0')
PY
"#
    ));
}

fn differential(mkfs: &[&str], name: &str) {
    if !tools(&["mkfs.xfs", "xfs_db", "python3"]) || !root() {
        return;
    }
    let t = tempdir();
    let img = t.path().join(format!("{name}.img"));
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(400 << 20).unwrap();
    drop(f);
    let mut c = Command::new("mkfs.xfs");
    c.args(["-q", "-f"]).args(mkfs).arg(&img);
    check(c.output().unwrap(), "mkfs.xfs");
    {
        let m = Mount::new(&img, &t.path().join("rw"), "rw");
        populate(&m.dir);
    }
    let v = open_fs(&img);
    assert_eq!(v.info.health.log, rxfs::log::LogState::Clean);
    assert!(
        v.info.health.ag_problems.is_empty(),
        "{:?}",
        v.info.health.ag_problems
    );
    // Unmounted cleanly, the superblock's counters were written back: the sums of the AG
    // headers must equal them.
    let c = v.info.health.counts.unwrap();
    let sb = &v.info.superblock;
    assert_eq!(
        (c.free_blocks, c.icount, c.ifree),
        (sb.fdblocks, sb.icount, sb.ifree)
    );
    // The metadata walk finds nothing wrong on what the kernel wrote.
    let dev = Arc::new(Device::open(&img).unwrap());
    let walk = rxfs::walk::check(&Slice::whole(dev)).unwrap();
    assert!(walk.problems.is_empty(), "{:?}", walk.problems);
    let mut ours = BTreeMap::new();
    walk_tool(&v.fs, Path::new("/"), &mut ours);
    let mut theirs = BTreeMap::new();
    {
        let m = Mount::new(&img, &t.path().join("ro"), "ro,norecovery");
        walk_kernel(&m.dir, Path::new("/"), &mut theirs);
    }
    assert!(ours.len() > 5000, "{} entries", ours.len());
    let keys: Vec<_> = ours.keys().collect();
    let tkeys: Vec<_> = theirs.keys().collect();
    assert_eq!(keys, tkeys, "same entries");
    for (p, s) in &ours {
        assert_eq!(s, &theirs[p], "{}", p.display());
    }
    // The structures were really exercised.
    let out = |cmds: &[&str]| {
        let mut c = Command::new("xfs_db");
        c.arg("-r");
        for x in cmds {
            c.arg("-c").arg(x);
        }
        String::from_utf8_lossy(&c.arg(&img).output().unwrap().stdout).into_owned()
    };
    assert!(out(&["path /etc/fragmented", "p core.format"]).contains("btree"));
    assert!(
        out(&["path /dirs/node", "p core.format"]).contains("btree")
            || out(&["path /dirs/node", "p core.format"]).contains("extents")
    );
    assert!(out(&["path /dirs/sf", "p core.format"]).contains("local"));
    assert!(out(&["path /dirs/leaf", "p core.aformat"]).contains("extents"));
    let ak = &ours[Path::new("/home/admin/.ssh/authorized_keys")];
    assert_eq!(
        ak.selinux.as_deref(),
        Some(&b"unconfined_u:object_r:ssh_home_t:s0\0"[..])
    );
}

#[test]
fn v5_with_every_structure_matches_the_kernel() {
    differential(&["-m", "crc=1,bigtime=1", "-i", "sparse=1"], "v5");
}

#[test]
fn v5_nrext64_matches_the_kernel() {
    differential(
        &["-m", "crc=1,bigtime=1", "-i", "nrext64=1", "-n", "size=16k"],
        "nrext64",
    );
}

/// A guest tree written by mkfs.xfs from a protofile reads back exactly: owners, modes
/// (setuid, sticky), contents, symlinks (inline and remote), every directory size.
fn protofile_round_trip(mkfs: &[&str], name: &str) {
    if !tools(&["mkfs.xfs", "xfs_db"]) {
        return;
    }
    let t = tempdir();
    let mut g = Guest::rocky();
    for n in [3usize, 30, 300, 3000] {
        for i in 0..n {
            g.file(
                &format!("/srv/d{n}/a-file-name-of-some-length-{i:05}"),
                format!("{i}\n").as_bytes(),
                0o640,
                1000 + (i % 3) as u32,
                100,
            );
        }
    }
    g.file("/usr/bin/passwd", FAKE_ELF, 0o4755, 0, 0);
    g.dir("/tmp", 0o1777, 0, 0);
    g.file(
        "/srv/big",
        &(0..3_000_000u32)
            .map(|i| (i % 253) as u8)
            .collect::<Vec<_>>(),
        0o600,
        7,
        8,
    );
    if mkfs.contains(&"crc=0") {
        // mkfs.xfs 6.1 writes a protofile's remote symlink without the v5 block header
        // (xfs_repair -n: "Metadata CRC error detected ... xfs_symlink", "would junk entry"), so
        // v5 remote symlinks are tested on kernel-made images (the differential tests).
        g.symlink("/srv/remote-link", &"long/".repeat(180));
    }
    let img = g.xfs(t.path(), &t.path().join(format!("{name}.img")), 320, mkfs);
    let v = open_fs(&img);
    assert_eq!(v.info.health.log, rxfs::log::LogState::Clean);
    assert!(
        v.info.health.ag_problems.is_empty(),
        "{:?}",
        v.info.health.ag_problems
    );
    let fs = &v.fs;
    for n in &g.nodes {
        let md = fs
            .symlink_metadata(&n.path)
            .unwrap_or_else(|e| panic!("{}: {e}", n.path));
        assert_eq!((md.uid, md.gid), (n.uid, n.gid), "{}", n.path);
        match &n.kind {
            Kind::Dir => {
                assert!(md.is_dir());
                assert_eq!(md.perm, n.mode, "{}", n.path);
                let want: usize = g
                    .nodes
                    .iter()
                    .filter(|c| Path::new(&c.path).parent() == Some(Path::new(&n.path)))
                    .count();
                assert_eq!(fs.read_dir(&n.path).unwrap().len(), want, "{}", n.path);
            }
            Kind::File(d) => {
                assert!(md.is_file());
                assert_eq!(md.perm, n.mode, "{}", n.path);
                assert_eq!(&fs.read(&n.path).unwrap(), d, "{}", n.path);
            }
            Kind::Symlink(target) => {
                assert!(md.is_symlink());
                assert_eq!(fs.read_link(&n.path).unwrap(), PathBuf::from(target));
            }
        }
    }
    // Directory entries name the same inodes as xfs_db does.
    let ino = fs
        .symlink_metadata("/srv/d3000/a-file-name-of-some-length-02999")
        .unwrap()
        .inode
        .unwrap();
    let o = Command::new("xfs_db")
        .args([
            "-r",
            "-c",
            "path /srv/d3000/a-file-name-of-some-length-02999",
            "-c",
            "inode",
        ])
        .arg(&img)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("current inode number is {ino}")),
        "{out}"
    );
}

#[test]
fn v4_without_ftype_reads_back_a_protofile_tree() {
    protofile_round_trip(
        &[
            "-m",
            "crc=0",
            "-n",
            "ftype=0",
            "-i",
            "size=256",
            "-b",
            "size=1024",
        ],
        "v4",
    );
}

#[test]
fn v5_reads_back_a_protofile_tree() {
    protofile_round_trip(&[], "v5p");
}

#[test]
fn rocky_xfs_root_is_inspected_end_to_end() {
    if !tools(&["mkfs.xfs", "xfs_db", "sgdisk"]) {
        return;
    }
    let t = tempdir();
    let g = Guest::rocky();
    let fs = g.xfs(t.path(), &t.path().join("rocky.xfs"), 320, &[]);
    let disk = t.path().join("rocky.img");
    common::disk(&fs, Disk::Gpt512, &disk);
    let (code, r) = check_json(&disk, &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        ids(&r),
        Vec::<String>::new(),
        "a healthy RHEL-like root: no findings"
    );
    assert_eq!(r["target"]["filesystem"]["type"], "xfs");
    assert_eq!(r["target"]["filesystem"]["uuid"], FIXTURE_UUID);
    assert_eq!(r["target"]["os"]["id"], "rocky");
    assert_eq!(r["summary"]["critical"], 0, "{r}");
    assert_eq!(r["verdict"]["sshd_starts"], true, "{r}");
    assert_eq!(verdict(&r, "admin")["key_login"], "allowed", "{r}");

    let (code, out, err) = run(&[&"ls", &disk, &"/etc/ssh"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("-rw-r----- root ssh_keys") && out.contains("ssh_host_ed25519_key"),
        "{out}"
    );
    let (code, out, _) = run(&[&"cat", &disk, &"/etc/os-release"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("PRETTY_NAME=\"Rocky Linux 9.4 (Blue Onyx)\""),
        "{out}"
    );
    let (code, out, err) = run(&[&"stat", &disk, &"/home/admin/.ssh/authorized_keys"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("(0600/-rw-------)") && out.contains("Uid: (1000 / admin)"),
        "{out}"
    );
    assert!(out.contains("Inode: ") && out.contains("Change: "), "{out}");
}

#[test]
fn amazon_linux_like_xfs_root_is_inspected_end_to_end() {
    if !tools(&["mkfs.xfs", "xfs_db", "sgdisk"]) {
        return;
    }
    let t = tempdir();
    let mut g = Guest::rocky();
    g.remove("/usr/lib/os-release");
    g.remove("/etc/redhat-release");
    g.text(
        "/usr/lib/os-release",
        "NAME=\"Amazon Linux\"\nVERSION=\"2023\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"2023\"\nPLATFORM_ID=\"platform:al2023\"\nPRETTY_NAME=\"Amazon Linux 2023.6.20241212\"\n",
    );
    g.text(
        "/etc/system-release",
        "Amazon Linux release 2023.6.20241212 (Amazon Linux)\n",
    );
    g.text(
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nsshd:x:74:74:Privilege-separated SSH:/usr/share/empty.sshd:/sbin/nologin\nec2-user:x:1000:1000:EC2 Default User:/home/ec2-user:/bin/bash\n",
    );
    g.file(
        "/etc/shadow",
        b"root:*LOCK*:14600::::::\nsshd:!!:19000::::::\nec2-user:!!:19000:0:99999:7:::\n",
        0o000,
        0,
        0,
    );
    g.text(
        "/etc/group",
        "root:x:0:\nwheel:x:10:ec2-user\nssh_keys:x:997:\nsshd:x:74:\nec2-user:x:1000:\n",
    );
    g.remove("/home/admin");
    g.dir("/home/ec2-user", 0o700, 1000, 1000);
    g.dir("/home/ec2-user/.ssh", 0o700, 1000, 1000);
    g.file(
        "/home/ec2-user/.ssh/authorized_keys",
        b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRoaXMtaXMtYS10ZXN0LWtleS1mb3ItcmVzY3VlLW9r my-key\n",
        0o600,
        1000,
        1000,
    );
    let fs = g.xfs(t.path(), &t.path().join("al.xfs"), 320, &["-L", "/"]);
    let disk = t.path().join("al.img");
    common::disk(&fs, Disk::Gpt512, &disk);
    let (code, r) = check_json(&disk, &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(ids(&r), Vec::<String>::new(), "{r}");
    assert_eq!(r["target"]["os"]["id"], "amzn");
    assert_eq!(r["target"]["filesystem"]["label"], "/");
    assert_eq!(verdict(&r, "ec2-user")["key_login"], "allowed", "{r}");
}

/// Package verification through the XFS reader: a root with real rpm packages (built by
/// rpmbuild, installed by rpm --root: scripts/rpm-fixtures.sh), some of them then damaged,
/// copied onto XFS through a loop mount, verifies exactly as the directory does (which
/// tests/rpm_verify.rs holds against `rpm -Va`).
#[test]
fn rpm_verification_on_xfs_equals_the_directory() {
    if !tools(&["rpmbuild", "rpm", "mkfs.xfs"]) || !root() {
        return;
    }
    let t = tempdir();
    let fx = t.path().join("fx");
    let o = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/rpm-fixtures.sh"))
        .arg(&fx)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let root_dir = fx.join("root");
    let p = |s: &str| root_dir.join(s.trim_start_matches('/'));
    let mut b = std::fs::read(p("/usr/sbin/sshd")).unwrap();
    b[12] ^= 0x20;
    std::fs::write(p("/usr/sbin/sshd"), &b).unwrap();
    std::fs::remove_file(p("/usr/lib64/librescue.so.1")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p("/var/empty/sshd"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let verify = |target: &Path| {
        let o = bin()
            .arg("verify")
            .arg(target)
            .args(["--format", "json"])
            .output()
            .unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        v.as_object_mut().unwrap().remove("target");
        (o.status.code(), v)
    };
    let (dcode, dir) = verify(&root_dir);
    assert_eq!(dcode, Some(1), "{dir}");
    let img = t.path().join("rpm.xfs");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(320 << 20)
        .unwrap();
    check(
        Command::new("mkfs.xfs")
            .args(["-q", "-f"])
            .arg(&img)
            .output()
            .unwrap(),
        "mkfs.xfs",
    );
    {
        let m = Mount::new(&img, &t.path().join("m"), "rw");
        check(
            Command::new("cp")
                .arg("-a")
                .arg(root_dir.join("."))
                .arg(&m.dir)
                .output()
                .unwrap(),
            "cp -a",
        );
    }
    let (xcode, xfs) = verify(&img);
    assert_eq!((xcode, &xfs), (dcode, &dir));
}
