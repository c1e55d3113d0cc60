//! Block group descriptors (`struct ext4_group_desc` in e2fsprogs `lib/ext2fs/ext2_fs.h`), with
//! their checksums: crc32c (metadata_csum) or crc16 (gdt_csum), as `ext4_group_desc_csum` in the
//! kernel's `fs/ext4/super.c` computes them.

use super::superblock::Superblock;
use crate::checksum::{crc16, crc32c_raw};

/// Offset of `bg_checksum` in a descriptor.
pub const OFF_CHECKSUM: usize = 0x1E;

// bg_flags
pub const INODE_UNINIT: u16 = 0x1;
pub const BLOCK_UNINIT: u16 = 0x2;
pub const INODE_ZEROED: u16 = 0x4;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum GroupDescError {
    #[error("group descriptor size {0} is invalid (32, or a power of two from 64 to 1024)")]
    Size(u16),
    #[error("group descriptor {group}: only {len} bytes")]
    Short { group: u32, len: usize },
}

/// One descriptor; `_hi` halves are merged in when the descriptor is 64 bytes or more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDesc {
    pub block_bitmap: u64,
    pub inode_bitmap: u64,
    pub inode_table: u64,
    pub free_blocks: u32,
    pub free_inodes: u32,
    pub used_dirs: u32,
    pub flags: u16,
    pub itable_unused: u32,
    /// Stored bitmap checksums (crc32c of the bitmap, lower 16 bits only in 32-byte
    /// descriptors).
    pub block_bitmap_csum: u32,
    pub inode_bitmap_csum: u32,
    /// The descriptor holds the upper halves of the bitmap checksums.
    pub bitmap_csum_hi: bool,
    pub checksum: u16,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Checks that the superblock's descriptor size is one the kernel accepts.
pub fn check_desc_size(sb: &Superblock) -> Result<usize, GroupDescError> {
    let n = sb.desc_size;
    let ok = if sb.is_64bit() {
        (64..=1024).contains(&n) && n.is_power_of_two()
    } else {
        n == 32
    };
    if ok {
        Ok(usize::from(n))
    } else {
        Err(GroupDescError::Size(n))
    }
}

impl GroupDesc {
    /// Parses descriptor `group` from its bytes (`desc_size` of them).
    pub fn parse(b: &[u8], group: u32) -> Result<GroupDesc, GroupDescError> {
        if b.len() < 32 {
            return Err(GroupDescError::Short {
                group,
                len: b.len(),
            });
        }
        let wide = b.len() >= 64;
        let hi32 = |o: usize| {
            if wide {
                u64::from(u32_at(b, o)) << 32
            } else {
                0
            }
        };
        let hi16 = |o: usize| {
            if wide {
                u32::from(u16_at(b, o)) << 16
            } else {
                0
            }
        };
        Ok(GroupDesc {
            block_bitmap: u64::from(u32_at(b, 0x0)) | hi32(0x20),
            inode_bitmap: u64::from(u32_at(b, 0x4)) | hi32(0x24),
            inode_table: u64::from(u32_at(b, 0x8)) | hi32(0x28),
            free_blocks: u32::from(u16_at(b, 0xC)) | hi16(0x2C),
            free_inodes: u32::from(u16_at(b, 0xE)) | hi16(0x2E),
            used_dirs: u32::from(u16_at(b, 0x10)) | hi16(0x30),
            flags: u16_at(b, 0x12),
            itable_unused: u32::from(u16_at(b, 0x1C)) | hi16(0x32),
            block_bitmap_csum: u32::from(u16_at(b, 0x18)) | hi16(0x38),
            inode_bitmap_csum: u32::from(u16_at(b, 0x1A)) | hi16(0x3A),
            bitmap_csum_hi: wide,
            checksum: u16_at(b, OFF_CHECKSUM),
        })
    }
}

/// The checksum descriptor `group` should carry, or `None` when the filesystem has no group
/// checksums. `b` is the whole descriptor (`desc_size` bytes).
pub fn checksum(sb: &Superblock, group: u32, b: &[u8]) -> Option<u16> {
    if b.len() < 32 {
        return None;
    }
    let g = group.to_le_bytes();
    if sb.has_metadata_csum() {
        let mut c = crc32c_raw(sb.csum_seed, &g);
        c = crc32c_raw(c, &b[..OFF_CHECKSUM]);
        c = crc32c_raw(c, &[0, 0]);
        if b.len() > 32 {
            c = crc32c_raw(c, &b[32..]);
        }
        Some((c & 0xFFFF) as u16)
    } else if sb.feature_ro_compat & super::superblock::RO_COMPAT_GDT_CSUM != 0 {
        let mut c = crc16(!0, &sb.uuid);
        c = crc16(c, &g);
        c = crc16(c, &b[..OFF_CHECKSUM]);
        // gdt_csum covers the bytes past the checksum only in 64-byte descriptors.
        if b.len() > 32 {
            c = crc16(c, &b[32..]);
        }
        Some(c)
    } else {
        None
    }
}

/// A descriptor whose stored checksum does not match its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadChecksum {
    pub group: u32,
    pub stored: u16,
    pub computed: u16,
}

/// The descriptor bytes with the checksum replaced by `computed`.
pub fn with_checksum(b: &[u8], computed: u16) -> Vec<u8> {
    let mut out = b.to_vec();
    if out.len() >= 32 {
        out[OFF_CHECKSUM..OFF_CHECKSUM + 2].copy_from_slice(&computed.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wide_and_narrow() {
        let mut b = vec![0u8; 64];
        b[0..4].copy_from_slice(&10u32.to_le_bytes());
        b[0x20..0x24].copy_from_slice(&1u32.to_le_bytes());
        b[0xC..0xE].copy_from_slice(&7u16.to_le_bytes());
        b[0x2C..0x2E].copy_from_slice(&1u16.to_le_bytes());
        let d = GroupDesc::parse(&b, 0).unwrap();
        assert_eq!(d.block_bitmap, (1 << 32) | 10);
        assert_eq!(d.free_blocks, (1 << 16) | 7);
        let d = GroupDesc::parse(&b[..32], 0).unwrap();
        assert_eq!(d.block_bitmap, 10);
        assert_eq!(d.free_blocks, 7);
        assert!(GroupDesc::parse(&b[..31], 3).is_err());
    }

    #[test]
    fn replacing_the_checksum() {
        let b = vec![0u8; 32];
        let fixed = with_checksum(&b, 0xBEEF);
        assert_eq!(GroupDesc::parse(&fixed, 0).unwrap().checksum, 0xBEEF);
        assert_eq!(with_checksum(&b[..4], 1), b[..4].to_vec());
    }
}
