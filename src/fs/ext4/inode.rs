//! An inode from the inode table (`struct ext2_inode_large` in e2fsprogs
//! `lib/ext2fs/ext2_fs.h`), with its checksum as the kernel's `ext4_inode_csum` computes it.

use crate::checksum::crc32c_raw;

// i_flags
pub const FLAG_INDEX: u32 = 0x1000;
pub const FLAG_HUGE_FILE: u32 = 0x4_0000;
pub const FLAG_EXTENTS: u32 = 0x8_0000;
pub const FLAG_EA_INODE: u32 = 0x20_0000;
pub const FLAG_INLINE_DATA: u32 = 0x1000_0000;

/// Size of the fields every inode has (`EXT2_GOOD_OLD_INODE_SIZE`).
pub const BASE_SIZE: usize = 128;
/// Offset of `i_block`, 60 bytes: the extent tree root, block pointers or a fast symlink.
pub const OFF_BLOCK: usize = 0x28;
const OFF_CSUM_LO: usize = 0x7C;
const OFF_EXTRA_ISIZE: usize = 0x80;
const OFF_CSUM_HI: usize = 0x82;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum InodeError {
    #[error("inode {ino}: checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")]
    Checksum {
        ino: u32,
        stored: u32,
        computed: u32,
    },
    #[error("inode {ino}: extra size {extra} does not fit a {size}-byte inode")]
    ExtraSize { ino: u32, extra: u16, size: usize },
    #[error("inode {ino}: only {len} bytes")]
    Short { ino: u32, len: usize },
}

/// A timestamp as stored: seconds (with the two epoch bits of the `_extra` word) and
/// nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Stamp {
    pub secs: i64,
    pub nanos: u32,
}

fn stamp(lo: u32, extra: Option<u32>) -> Stamp {
    // ext4_decode_extra_time: the low two bits extend the signed 32-bit seconds past 2038.
    let base = i64::from(lo as i32);
    match extra {
        Some(x) => Stamp {
            secs: base + (i64::from(x & 3) << 32),
            nanos: (x >> 2).min(999_999_999),
        },
        None => Stamp {
            secs: base,
            nanos: 0,
        },
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inode {
    pub ino: u32,
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime: Stamp,
    pub ctime: Stamp,
    pub mtime: Stamp,
    pub crtime: Option<Stamp>,
    pub dtime: u32,
    pub links_count: u16,
    /// `i_blocks` in 512-byte units (or filesystem blocks with huge_file and its flag).
    pub blocks: u64,
    pub flags: u32,
    pub generation: u32,
    pub file_acl: u64,
    /// `i_block`, 60 bytes.
    pub block: [u8; 60],
    pub extra_isize: u16,
    /// The in-inode extended attribute area (after `i_extra_isize`), possibly empty.
    pub xattr_area: Vec<u8>,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Seed of the checksums of everything an inode owns (itself, extent blocks, directory
/// blocks): crc32c over the inode number, then the generation.
pub fn owner_seed(csum_seed: u32, ino: u32, generation: u32) -> u32 {
    let c = crc32c_raw(csum_seed, &ino.to_le_bytes());
    crc32c_raw(c, &generation.to_le_bytes())
}

/// `ext4_inode_csum`: crc32c over the whole on-disk inode with the checksum fields zeroed.
/// Returns (stored, computed); both 16-bit when the inode has no `i_checksum_hi`.
pub fn checksum(csum_seed: u32, ino: u32, b: &[u8]) -> (u32, u32) {
    if b.len() < BASE_SIZE || (b.len() > BASE_SIZE && b.len() < OFF_CSUM_HI + 2) {
        // Not an inode size the format allows: never matches.
        return (0, 1);
    }
    let generation = u32_at(b, 0x64);
    let mut c = owner_seed(csum_seed, ino, generation);
    let has_hi = b.len() > BASE_SIZE && usize::from(u16_at(b, OFF_EXTRA_ISIZE)) >= 4;
    c = crc32c_raw(c, &b[..OFF_CSUM_LO]);
    c = crc32c_raw(c, &[0, 0]);
    c = crc32c_raw(c, &b[OFF_CSUM_LO + 2..BASE_SIZE]);
    if b.len() > BASE_SIZE {
        if has_hi {
            c = crc32c_raw(c, &b[BASE_SIZE..OFF_CSUM_HI]);
            c = crc32c_raw(c, &[0, 0]);
            c = crc32c_raw(c, &b[OFF_CSUM_HI + 2..]);
        } else {
            c = crc32c_raw(c, &b[BASE_SIZE..]);
        }
    }
    let lo = u32::from(u16_at(b, OFF_CSUM_LO));
    if has_hi {
        (lo | (u32::from(u16_at(b, OFF_CSUM_HI)) << 16), c)
    } else {
        (lo, c & 0xFFFF)
    }
}

impl Inode {
    /// Parses inode `ino` from its `inode_size` bytes; verifies its checksum when `csum_seed`
    /// is given (metadata_csum).
    pub fn parse(b: &[u8], ino: u32, csum_seed: Option<u32>) -> Result<Inode, InodeError> {
        // 128 bytes, or enough for i_extra_isize and i_checksum_hi.
        if b.len() < BASE_SIZE || (b.len() > BASE_SIZE && b.len() < OFF_CSUM_HI + 2) {
            return Err(InodeError::Short { ino, len: b.len() });
        }
        let extra_isize = if b.len() > BASE_SIZE {
            u16_at(b, OFF_EXTRA_ISIZE)
        } else {
            0
        };
        let extra_end = BASE_SIZE + usize::from(extra_isize);
        if extra_end > b.len() || (b.len() > BASE_SIZE && extra_isize % 4 != 0) {
            return Err(InodeError::ExtraSize {
                ino,
                extra: extra_isize,
                size: b.len(),
            });
        }
        if let Some(seed) = csum_seed {
            let (stored, computed) = checksum(seed, ino, b);
            if stored != computed {
                return Err(InodeError::Checksum {
                    ino,
                    stored,
                    computed,
                });
            }
        }
        // An `_extra` field exists when i_extra_isize covers it.
        let extra = |o: usize| (o + 4 <= extra_end).then(|| u32_at(b, o));
        let flags = u32_at(b, 0x20);
        let blocks_lo = u64::from(u32_at(b, 0x1C));
        let blocks = blocks_lo | (u64::from(u16_at(b, 0x74)) << 32);
        let mut block = [0u8; 60];
        block.copy_from_slice(&b[OFF_BLOCK..OFF_BLOCK + 60]);
        Ok(Inode {
            ino,
            mode: u16_at(b, 0x0),
            uid: u32::from(u16_at(b, 0x2)) | (u32::from(u16_at(b, 0x78)) << 16),
            gid: u32::from(u16_at(b, 0x18)) | (u32::from(u16_at(b, 0x7A)) << 16),
            size: u64::from(u32_at(b, 0x4)) | (u64::from(u32_at(b, 0x6C)) << 32),
            atime: stamp(u32_at(b, 0x8), extra(0x8C)),
            ctime: stamp(u32_at(b, 0xC), extra(0x84)),
            mtime: stamp(u32_at(b, 0x10), extra(0x88)),
            crtime: extra(0x90).map(|lo| stamp(lo, extra(0x94))),
            dtime: u32_at(b, 0x14),
            links_count: u16_at(b, 0x1A),
            blocks,
            flags,
            generation: u32_at(b, 0x64),
            file_acl: u64::from(u32_at(b, 0x68)) | (u64::from(u16_at(b, 0x76)) << 32),
            block,
            extra_isize,
            xattr_area: b[extra_end..].to_vec(),
        })
    }

    pub fn file_type(&self) -> crate::fs::FileType {
        crate::fs::FileType::from_mode(u32::from(self.mode))
    }
    pub fn has_extents(&self) -> bool {
        self.flags & FLAG_EXTENTS != 0
    }
    pub fn has_inline_data(&self) -> bool {
        self.flags & FLAG_INLINE_DATA != 0
    }
    pub fn is_htree(&self) -> bool {
        self.flags & FLAG_INDEX != 0
    }
    /// A symlink whose target lives in `i_block` (no data blocks).
    /// Like `ext4_inode_is_fast_symlink`: no data blocks besides an xattr block.
    pub fn is_fast_symlink(&self) -> bool {
        self.file_type() == crate::fs::FileType::Symlink
            && !self.has_inline_data()
            && !self.has_extents()
            && self.size < 60
            && (self.blocks == 0 || self.file_acl != 0)
    }
    /// An inode that is in use: mode set and links, or not yet deleted.
    pub fn in_use(&self) -> bool {
        self.mode != 0 && self.links_count > 0 && self.dtime == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(size: usize) -> Vec<u8> {
        let mut b = vec![0u8; size];
        b[0..2].copy_from_slice(&0o100644u16.to_le_bytes());
        b[0x4..0x8].copy_from_slice(&1234u32.to_le_bytes());
        b[0x1A..0x1C].copy_from_slice(&1u16.to_le_bytes());
        if size > 128 {
            b[0x80..0x82].copy_from_slice(&32u16.to_le_bytes());
            // ctime_extra: epoch bit 1 and 5 ns.
            b[0x84..0x88].copy_from_slice(&((5u32 << 2) | 1).to_le_bytes());
        }
        b
    }

    fn seal(b: &mut [u8], seed: u32, ino: u32) {
        let (_, c) = checksum(seed, ino, b);
        b[OFF_CSUM_LO..OFF_CSUM_LO + 2].copy_from_slice(&(c as u16).to_le_bytes());
        if b.len() > 128 {
            b[OFF_CSUM_HI..OFF_CSUM_HI + 2].copy_from_slice(&((c >> 16) as u16).to_le_bytes());
        }
    }

    #[test]
    fn parses_large_inode_and_checks_checksum() {
        let mut b = raw(256);
        seal(&mut b, 7, 12);
        let i = Inode::parse(&b, 12, Some(7)).unwrap();
        assert_eq!(i.size, 1234);
        assert_eq!(i.ctime.secs, 1 << 32);
        assert_eq!(i.ctime.nanos, 5);
        assert_eq!(i.xattr_area.len(), 256 - 160);
        assert!(
            Inode::parse(&b, 13, Some(7)).is_err(),
            "inode number is seeded"
        );
        b[0x10] ^= 1;
        assert!(matches!(
            Inode::parse(&b, 12, Some(7)),
            Err(InodeError::Checksum { ino: 12, .. })
        ));
        assert!(Inode::parse(&b, 12, None).is_ok());
    }

    #[test]
    fn small_inode_and_bad_extra() {
        let mut b = raw(128);
        seal(&mut b, 1, 5);
        assert_eq!(Inode::parse(&b, 5, Some(1)).unwrap().crtime, None);
        let mut b = raw(256);
        b[0x80..0x82].copy_from_slice(&200u16.to_le_bytes());
        assert!(matches!(
            Inode::parse(&b, 5, None),
            Err(InodeError::ExtraSize { .. })
        ));
        assert!(Inode::parse(&b[..100], 5, None).is_err());
        // Found by fuzzing: a length between 128 and 132 bytes.
        assert!(Inode::parse(&b[..129], 5, Some(1)).is_err());
        assert_eq!(checksum(1, 5, &b[..129]), (0, 1));
    }
}
