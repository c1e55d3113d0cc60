//! VHDX headers and region table ([MS-VHDX] 2.2: "Header Section"): the file type identifier,
//! two headers (the valid one with the higher sequence number is current) and two region
//! table copies, each with a CRC-32C.

use crate::checksum::crc32c;
use crate::volume::image::bytes::{guid_le, le16, le32, le64, slice};
use crate::volume::image::{ImageError, read_meta};
use crate::volume::source::BlockSource;

const F: &str = "vhdx";
const KIB: u64 = 1024;

pub const BAT_GUID: &str = "2DC27766-F623-4200-9D64-115E9BFD4A08";
pub const METADATA_GUID: &str = "8B7CA206-4790-4B9A-B8FE-575F050F886E";
const MAX_REGIONS: u32 = 2047;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub sequence: u64,
    pub log_guid: String,
    pub log_offset: u64,
    pub log_length: u32,
    pub version: u16,
}

impl Header {
    /// A non-zero log GUID: the log holds entries that must be replayed before the image is
    /// consistent.
    pub fn log_pending(&self) -> bool {
        self.log_guid != "00000000-0000-0000-0000-000000000000"
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub guid: String,
    pub offset: u64,
    pub length: u32,
    pub required: bool,
}

/// A CRC-32C over `b` with its 4-byte checksum field at `at` taken as zero.
fn crc_with_zeroed_field(b: &[u8], at: usize) -> u32 {
    let mut c = b.to_vec();
    if let Some(f) = c.get_mut(at..at + 4) {
        f.fill(0);
    }
    crc32c(&c)
}

fn parse_header(b: &[u8]) -> Option<Header> {
    if slice(b, 0, 4) != b"head" || crc_with_zeroed_field(b, 4) != le32(b, 4) {
        return None;
    }
    Some(Header {
        sequence: le64(b, 8),
        log_guid: guid_le(b, 48),
        version: le16(b, 66),
        log_length: le32(b, 68),
        log_offset: le64(b, 72),
    })
}

/// The current header: the valid one of the two with the higher sequence number.
pub fn current_header(src: &dyn BlockSource) -> Result<Header, ImageError> {
    let id = read_meta(src, F, "file type identifier", 0, 8)?;
    if id != b"vhdxfile" {
        return Err(ImageError::corrupt(F, "bad file type identifier"));
    }
    let a = parse_header(&read_meta(src, F, "header 1", 64 * KIB, 4096)?);
    let b = parse_header(&read_meta(src, F, "header 2", 128 * KIB, 4096)?);
    let h = match (a, b) {
        (Some(a), Some(b)) => {
            if b.sequence > a.sequence {
                b
            } else {
                a
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => {
            return Err(ImageError::corrupt(
                F,
                "neither header has a valid signature and checksum",
            ));
        }
    };
    if h.version != 1 {
        return Err(ImageError::unsupported(
            F,
            format!("header version {}", h.version),
        ));
    }
    Ok(h)
}

fn parse_regions(b: &[u8]) -> Option<Vec<Region>> {
    if slice(b, 0, 4) != b"regi" || crc_with_zeroed_field(b, 4) != le32(b, 4) {
        return None;
    }
    let n = le32(b, 8);
    if n > MAX_REGIONS {
        return None;
    }
    Some(
        (0..n as usize)
            .map(|i| {
                let at = 16 + 32 * i;
                Region {
                    guid: guid_le(b, at),
                    offset: le64(b, at + 16),
                    length: le32(b, at + 24),
                    required: le32(b, at + 28) & 1 != 0,
                }
            })
            .collect(),
    )
}

/// The region table (its copy when the first is damaged).
pub fn regions(src: &dyn BlockSource) -> Result<Vec<Region>, ImageError> {
    let first = parse_regions(&read_meta(src, F, "region table", 192 * KIB, 64 * 1024)?);
    if let Some(r) = first {
        return Ok(r);
    }
    parse_regions(&read_meta(
        src,
        F,
        "region table copy",
        256 * KIB,
        64 * 1024,
    )?)
    .ok_or_else(|| {
        ImageError::corrupt(F, "neither region table has a valid signature and checksum")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::source::MemSource;

    fn with_crc(mut b: Vec<u8>) -> Vec<u8> {
        let c = crc_with_zeroed_field(&b, 4);
        b[4..8].copy_from_slice(&c.to_le_bytes());
        b
    }

    #[test]
    fn newest_valid_header_wins() {
        let mut img = vec![0u8; 320 * 1024];
        img[..8].copy_from_slice(b"vhdxfile");
        let header = |seq: u64| {
            let mut h = vec![0u8; 4096];
            h[..4].copy_from_slice(b"head");
            h[8..16].copy_from_slice(&seq.to_le_bytes());
            h[66..68].copy_from_slice(&1u16.to_le_bytes());
            with_crc(h)
        };
        img[65536..65536 + 4096].copy_from_slice(&header(5));
        img[131072..131072 + 4096].copy_from_slice(&header(7));
        assert_eq!(
            current_header(&MemSource::new(img.clone()))
                .unwrap()
                .sequence,
            7
        );
        img[131072 + 100] ^= 1; // damage the newer one
        assert_eq!(
            current_header(&MemSource::new(img.clone()))
                .unwrap()
                .sequence,
            5
        );
        img[65536 + 100] ^= 1;
        assert!(current_header(&MemSource::new(img.clone())).is_err());
        // Region table: the copy is used when the first is damaged.
        let mut r = vec![0u8; 65536];
        r[..4].copy_from_slice(b"regi");
        r[8..12].copy_from_slice(&1u32.to_le_bytes());
        r[16 + 16..16 + 24].copy_from_slice(&(1u64 << 20).to_le_bytes());
        let r = with_crc(r);
        img[262144..262144 + 65536].copy_from_slice(&r);
        let got = regions(&MemSource::new(img.clone())).unwrap();
        assert_eq!(got[0].offset, 1 << 20);
        img[262144 + 9] = 0xff;
        assert!(regions(&MemSource::new(img)).is_err());
    }
}
