//! The LVM2 physical volume label and PV header (`lib/format_text/layout.h`: `label_header`,
//! `pv_header`, `disk_locn`) and the metadata area header (`mda_header`, `raw_locn`), read and
//! checksummed as `lib/label/label.c` and `lib/format_text/format-text.c` do.

use crate::checksum::crc32_raw;

/// `INITIAL_CRC` of LVM2's `calc_crc`.
pub const INITIAL_CRC: u32 = 0xf597_a6cf;
const LABEL_ID: &[u8; 8] = b"LABELONE";
const LVM2_TYPE: &[u8; 8] = b"LVM2 001";
const FMTT_MAGIC: &[u8; 16] = b"\x20\x4c\x56\x4d\x32\x20\x78\x5b\x35\x41\x25\x72\x30\x4e\x2a\x3e";
/// Disk locations listed in a PV header, at most (a crafted list cannot run on).
const MAX_LOCNS: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LabelError {
    #[error("no LVM2 label in the first four sectors")]
    NoLabel,
    #[error("LVM2 label checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")]
    LabelChecksum { stored: u32, computed: u32 },
    #[error("LVM2 PV header: {0}")]
    PvHeader(String),
    #[error("LVM2 metadata area header at offset {offset}: {detail}")]
    MdaHeader { offset: u64, detail: String },
}

pub fn lvm_crc(data: &[u8]) -> u32 {
    crc32_raw(INITIAL_CRC, data)
}

fn u32le(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}
fn u64le(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8)
        .map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_le_bytes(a)
        })
        .unwrap_or(0)
}

/// An area on the PV: byte offset from the PV's start and size (0 = to the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskLocn {
    pub offset: u64,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PvLabel {
    /// Sector of the label (0..=3).
    pub sector: u64,
    /// The PV UUID as stored: 32 characters, no dashes.
    pub uuid: String,
    pub device_size: u64,
    pub data_areas: Vec<DiskLocn>,
    pub metadata_areas: Vec<DiskLocn>,
}

/// Finds and parses the label in `head` (the PV's first 2048 bytes).
pub fn parse_label(head: &[u8]) -> Result<PvLabel, LabelError> {
    for sector in 0..4usize {
        let Some(s) = head.get(sector * 512..sector * 512 + 512) else {
            break;
        };
        if &s[0..8] != LABEL_ID || &s[24..32] != LVM2_TYPE {
            continue;
        }
        let stored = u32le(s, 16);
        let computed = lvm_crc(&s[20..512]);
        if stored != computed {
            return Err(LabelError::LabelChecksum { stored, computed });
        }
        let off = u32le(s, 20) as usize;
        if !(32..=448).contains(&off) {
            return Err(LabelError::PvHeader(format!("header offset {off}")));
        }
        let h = &s[off..];
        let uuid = String::from_utf8_lossy(h.get(0..32).unwrap_or(&[])).into_owned();
        let device_size = u64le(h, 32);
        let mut at = 40;
        let mut lists = [Vec::new(), Vec::new()];
        for list in &mut lists {
            loop {
                if at + 16 > h.len() || list.len() > MAX_LOCNS {
                    return Err(LabelError::PvHeader("unterminated area list".into()));
                }
                let l = DiskLocn {
                    offset: u64le(h, at),
                    size: u64le(h, at + 8),
                };
                at += 16;
                if l.offset == 0 && l.size == 0 {
                    break;
                }
                list.push(l);
            }
        }
        let [data_areas, metadata_areas] = lists;
        return Ok(PvLabel {
            sector: sector as u64,
            uuid,
            device_size,
            data_areas,
            metadata_areas,
        });
    }
    Err(LabelError::NoLabel)
}

/// Where the current metadata text of an area is: one or two byte ranges (the text may wrap
/// around the end of the circular buffer), relative to the PV start, and its checksum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataText {
    pub ranges: Vec<(u64, u64)>,
    pub checksum: u32,
}

/// Parses the 512-byte `mda_header` of the area at `area`; `None` when it holds no metadata.
pub fn parse_mda_header(b: &[u8], area: DiskLocn) -> Result<Option<MetadataText>, LabelError> {
    let bad = |d: String| LabelError::MdaHeader {
        offset: area.offset,
        detail: d,
    };
    if b.len() < 512 {
        return Err(bad("short".into()));
    }
    let stored = u32le(b, 0);
    let computed = lvm_crc(&b[4..512]);
    if stored != computed {
        return Err(bad(format!(
            "checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})"
        )));
    }
    if &b[4..20] != FMTT_MAGIC {
        return Err(bad("bad magic".into()));
    }
    if u32le(b, 20) != 1 {
        return Err(bad(format!("version {}", u32le(b, 20))));
    }
    let start = u64le(b, 24);
    let size = u64le(b, 32);
    if start != area.offset || size < 1024 || (area.size != 0 && size > area.size) {
        return Err(bad(format!("area at {start} of {size} bytes")));
    }
    // raw_locns[0]: offset (from the area start), size, checksum, flags.
    let offset = u64le(b, 40);
    let len = u64le(b, 48);
    let checksum = u32le(b, 56);
    if offset == 0 && len == 0 {
        return Ok(None);
    }
    if offset < 512 || offset >= size || len == 0 || len > size - 512 || len > 64 << 20 {
        return Err(bad(format!("metadata text at {offset}, {len} bytes")));
    }
    let mut ranges = Vec::new();
    let first = len.min(size - offset);
    ranges.push((start + offset, first));
    if first < len {
        // Wrapped: the rest follows the header at the start of the buffer.
        ranges.push((start + 512, len - first));
    }
    Ok(Some(MetadataText { ranges, checksum }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_round_trip() {
        let mut head = vec![0u8; 2048];
        let s = &mut head[512..1024];
        s[0..8].copy_from_slice(LABEL_ID);
        s[8..16].copy_from_slice(&1u64.to_le_bytes());
        s[20..24].copy_from_slice(&32u32.to_le_bytes());
        s[24..32].copy_from_slice(LVM2_TYPE);
        s[32..64].copy_from_slice(b"abcdefABCDEF0123456789ghijklmnop");
        s[64..72].copy_from_slice(&(100u64 << 20).to_le_bytes());
        s[72..80].copy_from_slice(&(1u64 << 20).to_le_bytes()); // data at 1 MiB, size 0
        // data list ends at 88..104; metadata at 4 KiB, 1020 KiB long.
        s[104..112].copy_from_slice(&4096u64.to_le_bytes());
        s[112..120].copy_from_slice(&(1044480u64).to_le_bytes());
        let crc = lvm_crc(&s[20..512]);
        s[16..20].copy_from_slice(&crc.to_le_bytes());
        let l = parse_label(&head).unwrap();
        assert_eq!(l.sector, 1);
        assert_eq!(
            l.data_areas,
            vec![DiskLocn {
                offset: 1 << 20,
                size: 0
            }]
        );
        assert_eq!(l.metadata_areas.len(), 1);
        head[512 + 100] ^= 1;
        assert!(matches!(
            parse_label(&head),
            Err(LabelError::LabelChecksum { .. })
        ));
        assert_eq!(parse_label(&[0u8; 2048]), Err(LabelError::NoLabel));
    }
}
