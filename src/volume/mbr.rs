//! MBR partition tables with extended and logical partitions (the EBR chain), read by the
//! project itself.

use std::collections::HashSet;

use super::{Device, PartType, Partition, PartitionTable, Scheme, TableProblem, VolumeError};

/// More logical partitions than this is a crafted or looping chain.
const MAX_LOGICAL: usize = 256;

pub fn type_name(code: u8) -> &'static str {
    match code {
        0x01 => "FAT12",
        0x05 => "Extended",
        0x06 => "FAT16",
        0x07 => "HPFS/NTFS/exFAT",
        0x0b => "W95 FAT32",
        0x0c => "W95 FAT32 (LBA)",
        0x0e => "W95 FAT16 (LBA)",
        0x0f => "W95 Ext'd (LBA)",
        0x82 => "Linux swap / Solaris",
        0x83 => "Linux",
        0x85 => "Linux extended",
        0x8e => "Linux LVM",
        0xa5 => "FreeBSD",
        0xa6 => "OpenBSD",
        0xee => "GPT",
        0xef => "EFI (FAT-12/16/32)",
        0xfd => "Linux raid autodetect",
        _ => "unknown",
    }
}

/// A FAT/NTFS/exFAT boot sector also ends in 0x55AA: such a device holds a filesystem, not a
/// partition table.
fn is_fs_boot_sector(s: &[u8]) -> bool {
    let jump = s[0] == 0xEB && s[2] == 0x90 || s[0] == 0xE9;
    jump && (&s[54..62] == b"FAT12   "
        || &s[54..62] == b"FAT16   "
        || &s[82..90] == b"FAT32   "
        || &s[3..11] == b"NTFS    "
        || &s[3..11] == b"EXFAT   ")
}

struct Raw {
    status: u8,
    kind: u8,
    start: u32,
    count: u32,
}

fn raw_entries(s: &[u8]) -> [Raw; 4] {
    let e = |i: usize| {
        let o = 446 + 16 * i;
        Raw {
            status: s[o],
            kind: s[o + 4],
            start: u32::from_le_bytes([s[o + 8], s[o + 9], s[o + 10], s[o + 11]]),
            count: u32::from_le_bytes([s[o + 12], s[o + 13], s[o + 14], s[o + 15]]),
        }
    };
    [e(0), e(1), e(2), e(3)]
}

fn is_extended(kind: u8) -> bool {
    matches!(kind, 0x05 | 0x0f | 0x85)
}

pub fn read_mbr(dev: &Device) -> Result<Option<PartitionTable>, VolumeError> {
    if dev.size() < 512 {
        return Ok(None);
    }
    let mut s = vec![0u8; 512];
    dev.read_exact_at(0, &mut s)?;
    if s[510] != 0x55 || s[511] != 0xAA || is_fs_boot_sector(&s) {
        return Ok(None);
    }
    let entries = raw_entries(&s);
    if entries.iter().any(|e| e.status != 0 && e.status != 0x80) {
        return Ok(None);
    }
    let size = dev.size();
    let sig = u32::from_le_bytes([s[440], s[441], s[442], s[443]]);
    let mut parts = Vec::new();
    let mut problems = Vec::new();
    let make = |index: u32,
                kind: u8,
                start_lba: u64,
                count: u64,
                bootable: bool,
                problems: &mut Vec<TableProblem>| {
        let start = start_lba * 512;
        let len = count * 512;
        let beyond_end = start + len > size;
        if beyond_end {
            problems.push(TableProblem {
                message: format!("partition {index} (bytes {start}..{}) runs past the end of the device ({size} bytes): the image is truncated or the volume was shrunk", start + len),
                fix: Some("attach or copy the full-size volume; never shrink a volume below its last partition".into()),
                serious: true,
            });
        }
        Partition {
            index,
            scheme: Scheme::Mbr,
            start,
            size: len,
            part_type: PartType::Mbr {
                code: kind,
                name: type_name(kind),
            },
            name: None,
            uuid: Some(format!("{sig:08x}-{index:02x}")),
            bootable,
            beyond_end,
        }
    };
    let only_protective = entries.iter().all(|e| e.kind == 0 || e.kind == 0xEE)
        && entries.iter().any(|e| e.kind == 0xEE);
    if only_protective {
        problems.push(TableProblem {
            message: "protective MBR (type 0xEE) but no valid GPT behind it".into(),
            fix: Some(format!("gdisk {}   # recovery menu", dev.path().display())),
            serious: true,
        });
        return Ok(Some(PartitionTable {
            scheme: Scheme::Mbr,
            sector_size: 512,
            disk_id: Some(format!("0x{sig:08x}")),
            partitions: Vec::new(),
            problems,
        }));
    }
    let mut extended: Option<(u64, u64)> = None;
    for (i, e) in entries.iter().enumerate() {
        if e.kind == 0 || e.count == 0 {
            continue;
        }
        let p = make(
            i as u32 + 1,
            e.kind,
            u64::from(e.start),
            u64::from(e.count),
            e.status == 0x80,
            &mut problems,
        );
        if is_extended(e.kind) && extended.is_none() {
            extended = Some((u64::from(e.start), u64::from(e.count)));
        }
        parts.push(p);
    }
    // The EBR chain: each EBR's first entry is a logical partition relative to that EBR, its
    // second links to the next EBR relative to the start of the extended partition.
    if let Some((ext_start, ext_len)) = extended {
        let mut ebr = ext_start;
        let mut seen = HashSet::new();
        let mut index = 5u32;
        loop {
            if !seen.insert(ebr) || seen.len() > MAX_LOGICAL {
                problems.push(TableProblem { message: format!("the extended partition's EBR chain loops or is too long (at LBA {ebr}); logical partitions after it are not listed"), fix: None, serious: true });
                break;
            }
            if ebr < ext_start || ebr >= ext_start + ext_len {
                problems.push(TableProblem {
                    message: format!(
                        "an EBR link points outside the extended partition (LBA {ebr})"
                    ),
                    fix: None,
                    serious: true,
                });
                break;
            }
            let mut b = vec![0u8; 512];
            if dev.read_exact_at(ebr * 512, &mut b).is_err() || b[510] != 0x55 || b[511] != 0xAA {
                problems.push(TableProblem { message: format!("the EBR at LBA {ebr} is unreadable or has no 0x55AA signature; logical partitions from here on are lost"), fix: Some("testdisk can rebuild the chain".into()), serious: true });
                break;
            }
            let le = raw_entries(&b);
            if le[0].kind != 0 && le[0].count != 0 {
                parts.push(make(
                    index,
                    le[0].kind,
                    ebr + u64::from(le[0].start),
                    u64::from(le[0].count),
                    le[0].status == 0x80,
                    &mut problems,
                ));
                index += 1;
            }
            if !is_extended(le[1].kind) || le[1].count == 0 {
                break;
            }
            ebr = ext_start + u64::from(le[1].start);
        }
    }
    Ok(Some(PartitionTable {
        scheme: Scheme::Mbr,
        sector_size: 512,
        disk_id: Some(format!("0x{sig:08x}")),
        partitions: parts,
        problems,
    }))
}
