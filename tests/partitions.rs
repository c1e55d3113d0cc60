//! Partition tables against real peers: sgdisk (GPT, 512-byte sectors), the `gpt` crate (GPT
//! with 4096-byte sectors written by the test code), sfdisk (MBR with logical partitions), and
//! damaged copies.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn listing(img: &Path) -> serde_json::Value {
    let (code, out, err) = run(&[&"partitions", &img, &"--format", &"json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn sgdisk_info(img: &Path, n: u32) -> (u64, u64, String, String, String) {
    let o = String::from_utf8_lossy(
        &Command::new("sgdisk")
            .args(["-i", &n.to_string()])
            .arg(img)
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    let field = |k: &str| {
        o.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap()
            .trim()
            .to_string()
    };
    let first: u64 = field("First sector:")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let last: u64 = field("Last sector:")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let ty = field("Partition GUID code:")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let uuid = field("Partition unique GUID:").to_ascii_lowercase();
    let name = field("Partition name:").trim_matches('\'').to_string();
    (first * 512, (last - first + 1) * 512, ty, uuid, name)
}

fn gpt512(dir: &Path) -> std::path::PathBuf {
    let img = dir.join("g.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(64 * MIB)
        .unwrap();
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
                "2:0:+20M",
                "-t",
                "2:8300",
                "-c",
                "2:root",
                "-n",
                "3:0:+8M",
                "-t",
                "3:8200",
                "-c",
                "3:swap space",
                "-n",
                "5:0:0",
                "-t",
                "5:8e00",
            ])
            .arg(&img)
            .output()
            .unwrap(),
        "sgdisk",
    );
    img
}

#[test]
fn gpt_512_matches_sgdisk() {
    let t = tempdir();
    let img = gpt512(t.path());
    let l = listing(&img);
    let parts = l["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 4);
    for p in parts {
        let n = p["index"].as_u64().unwrap() as u32;
        let (start, size, ty, uuid, name) = sgdisk_info(&img, n);
        assert_eq!(p["start"], start, "partition {n}");
        assert_eq!(p["size"], size);
        assert_eq!(p["type"]["id"], ty.as_str());
        assert_eq!(p["uuid"], uuid.as_str());
        assert_eq!(p["name"].as_str().unwrap_or(""), name);
    }
    assert!(l["table"]["problems"].as_array().unwrap().is_empty(), "{l}");
}

#[test]
fn gpt_4096_matches_the_gpt_crate() {
    let t = tempdir();
    let img = t.path().join("g4k.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(32 * MIB)
        .unwrap();
    write_gpt(
        &img,
        4096,
        &[
            (256, 511, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "esp"),
            (512, 4000, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "root"),
        ],
    );
    let l = listing(&img);
    assert_eq!(l["table"]["sector_size"], 4096);
    let disk = gpt::GptConfig::new()
        .writable(false)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb4096)
        .open(&img)
        .unwrap();
    let theirs = disk.partitions();
    let ours = l["partitions"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len());
    for p in ours {
        let q = &theirs[&(p["index"].as_u64().unwrap() as u32)];
        assert_eq!(p["start"], q.first_lba * 4096);
        assert_eq!(p["size"], (q.last_lba - q.first_lba + 1) * 4096);
        assert_eq!(p["name"], q.name.as_str());
        assert_eq!(
            p["type"]["id"].as_str().unwrap(),
            q.part_type_guid.guid.to_string().to_uppercase()
        );
        assert_eq!(p["uuid"].as_str().unwrap(), q.part_guid.to_string());
    }
}

#[test]
fn damaged_gpt_copies() {
    let t = tempdir();
    let img = gpt512(t.path());
    let good = listing(&img)["partitions"].clone();
    let bytes = std::fs::read(&img).unwrap();
    // Primary array damaged (LBA 2): the backup array is used, with a warning.
    let mut b = bytes.clone();
    b[1024 + 200] ^= 0xff;
    std::fs::write(&img, &b).unwrap();
    let l = listing(&img);
    assert_eq!(l["partitions"], good);
    let p = &l["table"]["problems"][0];
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .contains("partition array CRC mismatch")
            && p["serious"] == false,
        "{p}"
    );
    // Both headers damaged: nothing to trust, said so.
    let mut b = bytes.clone();
    b[512 + 40] ^= 0xff;
    let end = b.len() - 512;
    b[end + 40] ^= 0xff;
    std::fs::write(&img, &b).unwrap();
    let l = listing(&img);
    assert!(l["partitions"].as_array().unwrap().is_empty());
    assert_eq!(l["table"]["problems"][0]["serious"], true);
    // Backup only damaged: the primary is used, and the loss of redundancy is a warning.
    let mut b = bytes.clone();
    let end = b.len() - 512;
    b[end + 40] ^= 0xff;
    std::fs::write(&img, &b).unwrap();
    let l = listing(&img);
    assert_eq!(l["partitions"], good);
    assert!(
        l["table"]["problems"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("backup GPT header")
    );
}

#[test]
fn mbr_logical_partitions_match_sfdisk() {
    let t = tempdir();
    let fs = Guest::debian().ext4(t.path(), &t.path().join("r.ext4"), 24, &[]);
    let img = t.path().join("m.img");
    disk(&fs, Disk::MbrLogical, &img);
    let j: serde_json::Value = serde_json::from_slice(
        &Command::new("sfdisk")
            .arg("-J")
            .arg(&img)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let theirs = j["partitiontable"]["partitions"].as_array().unwrap();
    let l = listing(&img);
    let ours = l["partitions"].as_array().unwrap();
    // sfdisk lists the extended container too; we list filesystems only.
    let theirs: Vec<&serde_json::Value> = theirs.iter().filter(|p| p["type"] != "5").collect();
    assert_eq!(ours.len(), theirs.len(), "{l}\n{j}");
    for (o, t) in ours.iter().zip(theirs) {
        assert_eq!(o["start"], t["start"].as_u64().unwrap() * 512);
        assert_eq!(o["size"], t["size"].as_u64().unwrap() * 512);
        assert!(
            t["node"]
                .as_str()
                .unwrap()
                .ends_with(&o["index"].to_string())
        );
    }
}

#[test]
fn ebr_loop_terminates_with_a_problem() {
    let t = tempdir();
    let img = t.path().join("loop.img");
    let mut b = vec![0u8; 4 * MIB as usize];
    let entry = |b: &mut Vec<u8>, sector: usize, i: usize, kind: u8, start: u32, count: u32| {
        let o = sector * 512 + 446 + 16 * i;
        b[o + 4] = kind;
        b[o + 8..o + 12].copy_from_slice(&start.to_le_bytes());
        b[o + 12..o + 16].copy_from_slice(&count.to_le_bytes());
        b[sector * 512 + 510] = 0x55;
        b[sector * 512 + 511] = 0xAA;
    };
    entry(&mut b, 0, 0, 0x05, 2048, 4096);
    entry(&mut b, 2048, 0, 0x83, 63, 100);
    // The EBR links to itself.
    entry(&mut b, 2048, 1, 0x05, 0, 4096);
    std::fs::write(&img, &b).unwrap();
    let l = listing(&img);
    assert_eq!(l["partitions"].as_array().unwrap().len(), 1, "{l}");
    assert!(
        l["table"]["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("loops")
    );
}
