//! The VHD footer ("Virtual Hard Disk Image Format Specification", Microsoft, 2006: "Hard Disk
//! Footer Format"), and how its size fields are read (qemu `block/vpc.c: vpc_open` explains
//! which creators size the disk by CHS geometry and which by `current_size`).

use crate::volume::image::ImageError;
use crate::volume::image::bytes::{be16, be32, be64, slice};

const F: &str = "vhd";
pub const FOOTER: u64 = 512;

/// Disk types.
pub const FIXED: u32 = 2;
pub const DYNAMIC: u32 = 3;
pub const DIFFERENCING: u32 = 4;

/// The largest CHS geometry (65535 cylinders, 16 heads, 255 sectors): a disk sized to it is
/// sized by `current_size` instead.
const MAX_CHS_SECTORS: u64 = 65535 * 16 * 255;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Footer {
    pub data_offset: u64,
    pub creator_app: [u8; 4],
    pub current_size: u64,
    pub chs_sectors: u64,
    pub disk_type: u32,
    pub checksum_ok: bool,
    pub saved_state: bool,
}

impl Footer {
    /// The virtual disk size: by CHS geometry for Virtual PC and old qemu, by `current_size`
    /// for Hyper-V, Disk2vhd, XenServer, XenConverter and qemu's `force_size` images.
    pub fn virtual_size(&self) -> u64 {
        let by_size = matches!(
            &self.creator_app,
            b"win " | b"qem2" | b"d2v " | b"CTXS" | b"tap\0"
        );
        if by_size || self.chs_sectors == MAX_CHS_SECTORS {
            self.current_size
        } else {
            self.chs_sectors * 512
        }
    }
}

/// The footer's checksum: the one's complement of the byte sum, checksum field excluded.
pub fn checksum(b: &[u8]) -> u32 {
    let sum = b
        .iter()
        .enumerate()
        .filter(|(i, _)| !(64..68).contains(i))
        .fold(0u32, |s, (_, &c)| s.wrapping_add(u32::from(c)));
    !sum
}

/// Decodes a 512-byte footer (a dynamic disk's copy at offset 0 has the same layout).
pub fn parse(b: &[u8]) -> Result<Footer, ImageError> {
    if slice(b, 0, 8) != b"conectix" || b.len() < 512 {
        return Err(ImageError::corrupt(F, "no footer (cookie \"conectix\")"));
    }
    let mut app = [0u8; 4];
    app.copy_from_slice(slice(b, 28, 4));
    let f = Footer {
        data_offset: be64(b, 16),
        creator_app: app,
        current_size: be64(b, 48),
        chs_sectors: u64::from(be16(b, 56)) * u64::from(b[58]) * u64::from(b[59]),
        disk_type: be32(b, 60),
        checksum_ok: checksum(&b[..512]) == be32(b, 64),
        saved_state: b[84] != 0,
    };
    Ok(f)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn footer(size: u64, disk_type: u32, app: &[u8; 4], data_offset: u64) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[0..8].copy_from_slice(b"conectix");
        b[8..12].copy_from_slice(&2u32.to_be_bytes());
        b[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        b[16..24].copy_from_slice(&data_offset.to_be_bytes());
        b[28..32].copy_from_slice(app);
        b[40..48].copy_from_slice(&size.to_be_bytes());
        b[48..56].copy_from_slice(&size.to_be_bytes());
        b[56..58].copy_from_slice(&100u16.to_be_bytes());
        b[58] = 4;
        b[59] = 17;
        b[60..64].copy_from_slice(&disk_type.to_be_bytes());
        let c = checksum(&b);
        b[64..68].copy_from_slice(&c.to_be_bytes());
        b
    }

    #[test]
    fn sizes_and_checksum() {
        let f = parse(&footer(1 << 20, FIXED, b"qem2", u64::MAX)).unwrap();
        assert!(f.checksum_ok);
        assert_eq!(f.virtual_size(), 1 << 20);
        let f = parse(&footer(1 << 20, FIXED, b"vpc ", u64::MAX)).unwrap();
        assert_eq!(f.virtual_size(), 100 * 4 * 17 * 512);
        let mut b = footer(1 << 20, FIXED, b"win ", u64::MAX);
        b[100] ^= 1;
        assert!(!parse(&b).unwrap().checksum_ok);
        assert!(parse(&[0u8; 512]).is_err());
        assert!(parse(b"conectix").is_err());
    }
}
