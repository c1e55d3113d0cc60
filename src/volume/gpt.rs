//! GPT, read by the project itself (UEFI spec 2.10, §5.3): both logical sector sizes, primary
//! and backup headers and partition arrays each validated (signature, header CRC32, fields,
//! array CRC32), the good copy used when the other is damaged, and every problem reported.
//! The `gpt` crate treats a bad primary array as fatal, panics on an entry size other than 128
//! and needs a writable device, which is why it is only a test oracle here.

use super::{Device, PartType, Partition, PartitionTable, Scheme, TableProblem, VolumeError};
use crate::checksum::crc32;

/// Refused above this, to bound memory on a crafted header (real tables have 128).
const MAX_ENTRIES: u32 = 65_536;
const MAX_ENTRY_SIZE: u32 = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Header {
    my_lba: u64,
    alternate_lba: u64,
    first_usable: u64,
    last_usable: u64,
    disk_guid: [u8; 16],
    entries_lba: u64,
    num_entries: u32,
    entry_size: u32,
    entries_crc: u32,
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from(u32_at(b, o)) | (u64::from(u32_at(b, o + 4)) << 32)
}

/// A GUID in its mixed-endian on-disk form, upper case.
pub fn guid_string(g: &[u8; 16]) -> String {
    format!(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        g[3],
        g[2],
        g[1],
        g[0],
        g[5],
        g[4],
        g[7],
        g[6],
        g[8],
        g[9],
        g[10],
        g[11],
        g[12],
        g[13],
        g[14],
        g[15]
    )
}

/// Parses and checks a header sector read at `lba` (§5.3.2).
fn parse_header(sector: &[u8], lba: u64, last_lba: u64) -> Result<Header, String> {
    if sector.len() < 92 || &sector[0..8] != b"EFI PART" {
        return Err("no \"EFI PART\" signature".into());
    }
    let size = u32_at(sector, 12) as usize;
    if size < 92 || size > sector.len() {
        return Err(format!("header size {size} out of range"));
    }
    let stored = u32_at(sector, 16);
    let mut copy = sector[..size].to_vec();
    copy[16..20].fill(0);
    let computed = crc32(&copy);
    if stored != computed {
        return Err(format!(
            "header CRC mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})"
        ));
    }
    let mut disk_guid = [0u8; 16];
    disk_guid.copy_from_slice(&sector[56..72]);
    let h = Header {
        my_lba: u64_at(sector, 24),
        alternate_lba: u64_at(sector, 32),
        first_usable: u64_at(sector, 40),
        last_usable: u64_at(sector, 48),
        disk_guid,
        entries_lba: u64_at(sector, 72),
        num_entries: u32_at(sector, 80),
        entry_size: u32_at(sector, 84),
        entries_crc: u32_at(sector, 88),
    };
    if h.my_lba != lba {
        return Err(format!(
            "header says it is at LBA {} but was read at LBA {lba}",
            h.my_lba
        ));
    }
    // A usable range past the end of the device is a truncated image, reported through the
    // partitions that run past it, not a reason to distrust the header.
    if h.first_usable > h.last_usable {
        return Err(format!(
            "usable range {}..{} is empty",
            h.first_usable, h.last_usable
        ));
    }
    if h.num_entries == 0 || h.num_entries > MAX_ENTRIES {
        return Err(format!("{} partition entries", h.num_entries));
    }
    if h.entry_size < 128 || h.entry_size % 8 != 0 || h.entry_size > MAX_ENTRY_SIZE {
        return Err(format!("partition entry size {}", h.entry_size));
    }
    if h.entries_lba > last_lba {
        return Err(format!(
            "partition array at LBA {} is beyond the device",
            h.entries_lba
        ));
    }
    Ok(h)
}

/// Reads the partition array a header points to and checks its CRC.
fn read_array(dev: &Device, h: &Header, sector: u64) -> Result<Vec<u8>, String> {
    let len = u64::from(h.num_entries) * u64::from(h.entry_size);
    let mut buf = vec![0u8; len as usize];
    let off = h
        .entries_lba
        .checked_mul(sector)
        .ok_or("array offset overflows")?;
    dev.read_exact_at(off, &mut buf)
        .map_err(|e| e.to_string())?;
    let computed = crc32(&buf);
    if computed != h.entries_crc {
        return Err(format!(
            "partition array CRC mismatch (stored 0x{:08x}, computed 0x{computed:08x})",
            h.entries_crc
        ));
    }
    Ok(buf)
}

fn read_sector(dev: &Device, lba: u64, sector: u64) -> Option<Vec<u8>> {
    let mut b = vec![0u8; sector as usize];
    dev.read_exact_at(lba.checked_mul(sector)?, &mut b).ok()?;
    Some(b)
}

/// The name of a GPT partition type.
pub fn type_name(guid: &str) -> &'static str {
    match guid {
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4" => "Linux filesystem",
        "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709" => "Linux root (x86-64)",
        "B921B045-1DF0-41C3-AF44-4C6F280D3FAE" => "Linux root (ARM-64)",
        "44479540-F297-41B2-9AF7-D131D5F0458A" => "Linux root (x86)",
        "8484680C-9521-48C6-9C11-B0720656F69E" => "Linux /usr (x86-64)",
        "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F" => "Linux swap",
        "E6D6D379-F507-44C2-A23C-238F2A3DF928" => "Linux LVM",
        "A19D880F-05FC-4D3B-A006-743F0F84911E" => "Linux RAID",
        "933AC7E1-2EB4-4F13-B844-0E14E2AEF915" => "Linux /home",
        "CA7D7CCB-63ED-4C53-861C-1742536059CC" => "Linux LUKS",
        "BC13C2FF-59E6-4262-A352-B275FD6F7172" => "Linux extended boot",
        "3B8F8425-20E0-4F3B-907F-1A25A76F98E8" => "Linux /srv",
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" => "EFI System",
        "21686148-6449-6E6F-744E-656564454649" => "BIOS boot",
        "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" => "Microsoft basic data",
        "E3C9E316-0B5C-4DB8-817D-F92DF00215AE" => "Microsoft reserved",
        "9E1A2D38-C612-4316-AA26-8B49521E5A8B" => "PowerPC PReP boot",
        "6A898CC3-1DD2-11B2-99A6-080020736631" => "ZFS",
        "516E7CBA-6ECF-11D6-8FF8-00022D09712B" => "FreeBSD ZFS",
        _ => "unknown",
    }
}

/// Decodes the entries of a valid array.
fn entries(
    array: &[u8],
    h: &Header,
    sector: u64,
    dev_size: u64,
    problems: &mut Vec<TableProblem>,
) -> Vec<Partition> {
    let mut out = Vec::new();
    for (i, e) in array.chunks_exact(h.entry_size as usize).enumerate() {
        if e[0..16].iter().all(|&b| b == 0) {
            continue;
        }
        let mut t = [0u8; 16];
        t.copy_from_slice(&e[0..16]);
        let mut u = [0u8; 16];
        u.copy_from_slice(&e[16..32]);
        let (first, last) = (u64_at(e, 32), u64_at(e, 40));
        let index = i as u32 + 1;
        let (Some(start), Some(end)) = (
            first.checked_mul(sector),
            last.checked_add(1).and_then(|l| l.checked_mul(sector)),
        ) else {
            problems.push(TableProblem {
                message: format!("partition {index}: LBA range {first}..{last} overflows"),
                fix: None,
                serious: true,
            });
            continue;
        };
        if first > last {
            problems.push(TableProblem {
                message: format!(
                    "partition {index}: first LBA {first} is after last LBA {last}; skipped"
                ),
                fix: None,
                serious: true,
            });
            continue;
        }
        let name: Vec<u16> = e[56..128]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&c| c != 0)
            .collect();
        let guid = guid_string(&t);
        let beyond_end = end > dev_size;
        if beyond_end {
            problems.push(TableProblem {
                message: format!("partition {index} (bytes {start}..{end}) runs past the end of the device ({dev_size} bytes): the image is truncated or the volume was shrunk"),
                fix: Some("attach or copy the full-size volume; never shrink a volume below its last partition".into()),
                serious: true,
            });
        }
        out.push(Partition {
            index,
            scheme: Scheme::Gpt,
            start,
            size: end - start,
            part_type: PartType::Gpt {
                name: type_name(&guid),
                guid,
            },
            name: Some(String::from_utf16_lossy(&name)).filter(|n| !n.is_empty()),
            uuid: Some(guid_string(&u).to_ascii_lowercase()),
            bootable: u64_at(e, 48) & 0x4 != 0,
            beyond_end,
        });
    }
    let mut sorted: Vec<&Partition> = out.iter().collect();
    sorted.sort_by_key(|p| p.start);
    for w in sorted.windows(2) {
        if w[0].start + w[0].size > w[1].start {
            problems.push(TableProblem {
                message: format!("partitions {} and {} overlap", w[0].index, w[1].index),
                fix: Some("repair the table with gdisk (verify with `v`)".into()),
                serious: true,
            });
        }
    }
    out
}

/// Finds and reads a GPT: `None` when the device has none.
pub fn read_gpt(dev: &Device) -> Result<Option<PartitionTable>, VolumeError> {
    let size = dev.size();
    let path = dev.path().display().to_string();
    let mbr = read_sector(dev, 0, 512);
    let protective = mbr.as_ref().is_some_and(|m| {
        m[510] == 0x55 && m[511] == 0xAA && (0..4).any(|i| m[446 + 16 * i + 4] == 0xEE)
    });
    for sector in [512u64, 4096] {
        if size < sector * 3 {
            continue;
        }
        let last_lba = size / sector - 1;
        let primary_raw = read_sector(dev, 1, sector);
        let signed = primary_raw
            .as_ref()
            .is_some_and(|p| &p[0..8] == b"EFI PART");
        let backup_raw = read_sector(dev, last_lba, sector);
        let backup_signed = backup_raw.as_ref().is_some_and(|p| &p[0..8] == b"EFI PART");
        if !(signed || protective && backup_signed) {
            continue;
        }
        let mut problems = Vec::new();
        let primary = primary_raw
            .as_deref()
            .map(|p| parse_header(p, 1, last_lba))
            .unwrap_or(Err("unreadable".into()));
        let primary_array = primary.as_ref().ok().map(|h| read_array(dev, h, sector));
        // The backup is where the primary says, else at the last LBA.
        let backup_lba = primary
            .as_ref()
            .ok()
            .map(|h| h.alternate_lba)
            .filter(|&l| l <= last_lba)
            .unwrap_or(last_lba);
        let backup = read_sector(dev, backup_lba, sector)
            .map(|b| parse_header(&b, backup_lba, last_lba))
            .unwrap_or(Err("unreadable".into()));
        let backup_array = backup.as_ref().ok().map(|h| read_array(dev, h, sector));
        if let Ok(h) = &primary {
            if h.alternate_lba != last_lba {
                problems.push(TableProblem {
                    message: format!("the backup GPT header is expected at LBA {} but the device ends at LBA {last_lba} (disk grown or image truncated)", h.alternate_lba),
                    fix: Some(format!("sgdisk -e {path}   # moves the backup GPT to the end of the disk")),
                    serious: false,
                });
            }
        }
        let recover = format!(
            "gdisk {path}   # then r (recovery), b (use backup header) / c (load backup partition table), v, w"
        );
        let (header, array) = match (&primary, primary_array, &backup, backup_array) {
            (Ok(h), Some(Ok(a)), b, ba) => {
                match (b, ba) {
                    (Ok(_), Some(Ok(_))) => {}
                    (Err(e), _) => problems.push(TableProblem {
                        message: format!(
                            "backup GPT header at LBA {backup_lba}: {e}; the primary is intact"
                        ),
                        fix: Some(format!(
                            "sgdisk -e {path}   # rewrites the backup from the primary"
                        )),
                        serious: false,
                    }),
                    (_, Some(Err(e))) => problems.push(TableProblem {
                        message: format!("backup GPT {e}; the primary is intact"),
                        fix: Some(format!("sgdisk -e {path}")),
                        serious: false,
                    }),
                    _ => {}
                }
                (h.clone(), a)
            }
            (p, pa, Ok(bh), Some(Ok(ba))) => {
                let why = match (p, pa) {
                    (Err(e), _) => format!("primary GPT header: {e}"),
                    (Ok(_), Some(Err(e))) => format!("primary GPT {e}"),
                    _ => "primary GPT unreadable".into(),
                };
                problems.push(TableProblem {
                    message: format!("{why}; using the backup header at LBA {backup_lba}"),
                    fix: Some(recover),
                    serious: false,
                });
                (bh.clone(), ba)
            }
            (Ok(h), Some(Err(pe)), _, _) if backup.is_ok() => {
                // Primary header fine, its array bad; backup header fine but its array bad too.
                problems.push(TableProblem { message: format!("primary GPT {pe}, and the backup array is damaged too: no partitions can be trusted"), fix: Some(recover), serious: true });
                let _ = h;
                return Ok(Some(PartitionTable {
                    scheme: Scheme::Gpt,
                    sector_size: sector as u32,
                    disk_id: None,
                    partitions: Vec::new(),
                    problems,
                }));
            }
            (p, _, b, _) => {
                let pe = p
                    .as_ref()
                    .err()
                    .cloned()
                    .unwrap_or_else(|| "partition array damaged".into());
                let be = b
                    .as_ref()
                    .err()
                    .cloned()
                    .unwrap_or_else(|| "partition array damaged".into());
                problems.push(TableProblem {
                    message: format!("no usable GPT: primary: {pe}; backup: {be}"),
                    fix: Some(format!(
                        "testdisk {path}   # or restore the table from a copy"
                    )),
                    serious: true,
                });
                return Ok(Some(PartitionTable {
                    scheme: Scheme::Gpt,
                    sector_size: sector as u32,
                    disk_id: None,
                    partitions: Vec::new(),
                    problems,
                }));
            }
        };
        if !protective {
            problems.push(TableProblem { message: "the protective MBR is missing or damaged (no 0x55AA signature or no 0xEE entry)".into(), fix: Some(format!("gdisk {path}   # then x, n (new protective MBR), w")), serious: false });
        }
        let parts = entries(&array, &header, sector, size, &mut problems);
        return Ok(Some(PartitionTable {
            scheme: Scheme::Gpt,
            sector_size: sector as u32,
            disk_id: Some(guid_string(&header.disk_guid).to_ascii_lowercase()),
            partitions: parts,
            problems,
        }));
    }
    Ok(None)
}
