//! LVM2 read natively, on volume groups made by the real tools: `pvcreate`/`vgcreate`/
//! `lvcreate` on loop devices over the partitions of a GPT disk image (as root; `--driverloaded
//! n` writes the metadata without device-mapper, which this kernel may lack). The LVs' bytes are
//! placed where `lvs` itself reports their extents (linear, and striped by the stripe size `lvs`
//! reports), then a RHEL-like XFS root on `rhel/root` is found and inspected end to end.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::xfs::*;
use common::*;
use rescue_inspect::volume::{self, Device};

fn lvm(args: &[&str], devs: &str) -> String {
    let o = Command::new(args[0])
        .args(&args[1..])
        .args(["--driverloaded", "n", "--devices", devs])
        // Leave no backup or archive of the test VG on this host.
        .args(["--config", "backup { backup = 0 archive = 0 }"])
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct Loops(Vec<String>);
impl Drop for Loops {
    fn drop(&mut self) {
        for l in &self.0 {
            let _ = Command::new("losetup").args(["-d", l]).status();
        }
    }
}

fn losetup(img: &Path, off: u64, size: u64) -> String {
    let o = check(
        Command::new("losetup")
            .args([
                "--show",
                "-f",
                "-o",
                &off.to_string(),
                "--sizelimit",
                &size.to_string(),
            ])
            .arg(img)
            .output()
            .unwrap(),
        "losetup",
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// `/dev/loop3:80-119` → (device, first extent, last extent).
fn pe_range(r: &str) -> (String, u64, u64) {
    let (dev, range) = r.rsplit_once(':').unwrap();
    let (a, b) = range.split_once('-').unwrap();
    (dev.to_string(), a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn rhel_like_xfs_root_on_lvm_is_found_and_inspected() {
    if !tools(&[
        "pvcreate", "vgcreate", "lvcreate", "lvs", "sgdisk", "mkfs.xfs", "losetup",
    ]) || !root()
    {
        return;
    }
    let t = tempdir();
    let img = t.path().join("rhel-lvm.img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(1200 * MIB).unwrap();
    drop(f);
    check(
        Command::new("sgdisk")
            .args([
                "-n",
                "1:2048:+200M",
                "-t",
                "1:ef00",
                "-n",
                "2:0:+500M",
                "-t",
                "2:8e00",
                "-n",
                "3:0:0",
                "-t",
                "3:8e00",
            ])
            .arg(&img)
            .output()
            .unwrap(),
        "sgdisk",
    );
    let dev = Arc::new(Device::open(&img).unwrap());
    let layout = volume::discover(dev).unwrap();
    let parts: Vec<(u64, u64)> = layout
        .table
        .partitions
        .iter()
        .map(|p| (p.start, p.size))
        .collect();
    let loops = Loops(vec![
        losetup(&img, parts[1].0, parts[1].1),
        losetup(&img, parts[2].0, parts[2].1),
    ]);
    let devs = loops.0.join(",");
    let (p2s, p3s) = (loops.0[0].clone(), loops.0[1].clone());
    let (p2, p3) = (p2s.as_str(), p3s.as_str());
    let vg = format!("rhel{}", std::process::id() % 1000);
    lvm(&["pvcreate", "-q", p2, p3], &devs);
    lvm(&["vgcreate", "-q", &vg, p2, p3], &devs);
    lvm(
        &[
            "lvcreate", "-q", "-an", "-Zn", "-n", "root", "-L", "320M", &vg, p2,
        ],
        &devs,
    );
    lvm(
        &[
            "lvcreate", "-q", "-an", "-Zn", "-n", "data", "-i", "2", "-I", "64k", "-L", "160M", &vg,
        ],
        &devs,
    );
    let report: serde_json::Value = serde_json::from_str(&lvm(
        &[
            "lvs",
            "--reportformat",
            "json",
            "--units",
            "b",
            "-o",
            "lv_name,seg_pe_ranges,stripe_size,vg_extent_size",
            &vg,
        ],
        &devs,
    ))
    .unwrap();
    let pe_start: u64 = lvm(
        &["pvs", "--noheadings", "--units", "b", "-o", "pe_start", p2],
        &devs,
    )
    .trim()
    .trim_end_matches('B')
    .parse()
    .unwrap();
    let lvs = report["report"][0]["lv"].as_array().unwrap().clone();
    let field = |lv: &str, k: &str| -> String {
        lvs.iter().find(|l| l["lv_name"] == lv).unwrap()[k]
            .as_str()
            .unwrap()
            .to_string()
    };
    let extent: u64 = field("root", "vg_extent_size")
        .trim_end_matches('B')
        .parse()
        .unwrap();
    let base_of = |loopdev: &str| {
        if loopdev == p2 {
            parts[1].0
        } else {
            parts[2].0
        }
    };
    drop(loops);

    // Where lvs says the extents are, write a Rocky XFS root (linear) and a pattern (striped).
    let fs = Guest::rocky().xfs(t.path(), &t.path().join("root.xfs"), 320, &[]);
    let (d, first, last) = pe_range(&field("root", "seg_pe_ranges"));
    assert_eq!((last - first + 1) * extent, 320 * MIB);
    use std::os::unix::fs::FileExt;
    let out = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    let bytes = std::fs::read(&fs).unwrap();
    out.write_all_at(&bytes, base_of(&d) + pe_start + first * extent)
        .unwrap();
    let stripe: u64 = field("data", "stripe_size")
        .trim_end_matches('B')
        .parse()
        .unwrap();
    let ranges: Vec<(String, u64, u64)> = field("data", "seg_pe_ranges")
        .split(' ')
        .map(pe_range)
        .collect();
    assert_eq!((ranges.len(), stripe), (2, 64 * 1024));
    let lv_len = 160 * MIB;
    for chunk in 0..lv_len / stripe {
        let (d, first, _) = &ranges[(chunk % 2) as usize];
        let at = base_of(d) + pe_start + first * extent + (chunk / 2) * stripe;
        let pat = vec![(chunk % 251) as u8; stripe as usize];
        out.write_all_at(&pat, at).unwrap();
    }
    drop(out);

    // The tool: partitions lists both LVs, reads the striped one right, and check picks the root LV.
    let dev = Arc::new(Device::open(&img).unwrap());
    let layout = volume::discover(dev).unwrap();
    let data = layout
        .entries
        .iter()
        .find(|e| e.lv.as_ref().is_some_and(|l| l.name == "data"))
        .unwrap();
    assert_eq!(data.slice.len(), lv_len);
    let mut buf = vec![0u8; 3 * stripe as usize];
    data.slice
        .read_exact_at(5 * stripe - 100, &mut buf)
        .unwrap();
    for (i, b) in buf.iter().enumerate() {
        let chunk = (5 * stripe - 100 + i as u64) / stripe;
        assert_eq!(*b, (chunk % 251) as u8, "byte {i}");
    }
    let (code, out, err) = run(&[&"partitions", &img]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("{vg}/root")) && out.contains(&format!("{vg}/data")),
        "{out}"
    );
    assert!(
        out.contains("LVM logical volume") && out.contains("xfs"),
        "{out}"
    );
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(ids(&r), Vec::<String>::new(), "{r}");
    assert_eq!(r["target"]["filesystem"]["type"], "xfs");
    assert_eq!(r["target"]["os"]["id"], "rocky");
    assert_eq!(verdict(&r, "admin")["key_login"], "allowed");
    let (code, out, _) = run(&[&"cat", &img, &"/etc/redhat-release"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "Rocky Linux release 9.4 (Blue Onyx)\n")
    );
    let (_, r) = check_json(&img, &["--deep"]);
    assert_eq!(ids(&r), vec!["XFS-031".to_string()], "{r}");

    // A recovery host with a volume group of the same name (what udev makes when it is active).
    struct Dir(std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let host_vg = Dir(Path::new("/dev").join(&vg));
    std::fs::create_dir(&host_vg.0).unwrap();
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 0, "a warning: {r}");
    let f = &with("VOL-004", &r)[0];
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .starts_with("vgimportclone --basevgname rescue_"),
        "{f}"
    );
    assert!(f["fix"].as_str().unwrap().contains("ro,nouuid"), "{f}");
    drop(host_vg);
}
