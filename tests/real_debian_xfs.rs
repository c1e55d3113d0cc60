//! A real Debian 12 root (scripts/debian-root.sh) on XFS:
//! copied onto a fresh mkfs.xfs through a loop mount (as root), it gives the same report as
//! the ext4 image of the same tree (no findings), xfs_repair -n and the metadata walk find it
//! clean, and every file, link and directory reads back as the kernel shows it.
//! Run by scripts/e2e-debian.sh (RESCUE_INSPECT_DEBIAN=cache dir).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::xfs::*;
use common::*;

fn cache() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("RESCUE_INSPECT_DEBIAN")?);
    dir.join("root/.debootstrap-done").exists().then_some(dir)
}

#[test]
fn real_debian_root_on_xfs_reads_like_ext4() {
    let Some(cache) = cache() else {
        eprintln!("skipped: RESCUE_INSPECT_DEBIAN not set (scripts/e2e-debian.sh sets it)");
        return;
    };
    if !tools(&["mkfs.xfs", "xfs_repair"]) || !root() {
        return;
    }
    let t = tempdir();
    let img = t.path().join("debian.xfs");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    // The ext4 image's UUID, which the guest's fstab names.
    check(
        Command::new("mkfs.xfs")
            .args([
                "-q",
                "-f",
                "-m",
                "uuid=2f5e3a46-7d0b-4bb5-9d3c-6b6e5e8f1a10",
            ])
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
                .arg(cache.join("root/."))
                .arg(&m.dir)
                .output()
                .unwrap(),
            "cp -a",
        );
    }
    let (code, xfs) = check_json(&img, &[]);
    let (_, ext4) = check_json(&cache.join("ext4.img"), &[]);
    assert_eq!(code, 0, "{xfs}");
    assert_eq!(ids(&xfs), ids(&ext4), "same findings as ext4: {xfs}");
    assert_eq!(xfs["verdict"], ext4["verdict"]);
    assert_eq!(xfs["target"]["os"], ext4["target"]["os"]);
    let (code, out) = xfs_repair_n(&img);
    assert_eq!(code, 0, "{out}");
    let (code, out, err) = run(&[&"fsck", &img]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 problem(s)"), "{out}");

    // Every entry against the kernel: type, mode, owner, size, target, contents.
    let m = Mount::new(&img, &t.path().join("ro"), "ro,norecovery");
    let o = Command::new("find")
        .arg(".")
        .args(["-printf", "%y %m %U %G %s %P\\n"])
        .current_dir(&m.dir)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&o.stdout).into_owned();
    let dev = std::sync::Arc::new(rescue_inspect::volume::Device::open(&img).unwrap());
    let v = rescue_inspect::fs::xfs::open(&rescue_inspect::volume::Slice::whole(dev)).unwrap();
    let mut n = 0;
    for line in listing.lines() {
        let mut it = line.splitn(6, ' ');
        let (ty, mode, uid, gid, size, rel) = (
            it.next().unwrap(),
            it.next().unwrap(),
            it.next().unwrap(),
            it.next().unwrap(),
            it.next().unwrap(),
            it.next().unwrap_or(""),
        );
        let p = format!("/{rel}");
        let md =
            v.fs.symlink_metadata(&p)
                .unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(
            md.file_type.ls_char().to_string().replace('-', "f"),
            ty,
            "{p}"
        );
        assert_eq!(format!("{:o}", md.perm), mode, "{p}");
        assert_eq!(
            (md.uid.to_string(), md.gid.to_string()),
            (uid.to_string(), gid.to_string()),
            "{p}"
        );
        if ty != "d" {
            assert_eq!(md.size.to_string(), size, "{p}");
        }
        if ty == "f" {
            let ours = v.fs.read_limited(&p, 1 << 30).unwrap();
            let theirs = std::fs::read(m.dir.join(rel)).unwrap();
            assert!(ours == theirs, "{p}: contents differ");
        } else if ty == "l" {
            assert_eq!(
                v.fs.read_link(&p).unwrap(),
                std::fs::read_link(m.dir.join(rel)).unwrap(),
                "{p}"
            );
        }
        n += 1;
    }
    assert!(n > 5000, "{n} entries compared");
}
