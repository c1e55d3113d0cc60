//! The ext2/3/4 superblock, parsed by the project itself: `ext4-view` keeps its superblock
//! private, and the audits need state, error and feature fields it does not expose.
//! Layout: e2fsprogs `lib/ext2fs/ext2_fs.h`, `struct ext2_super_block`.

use crate::checksum::crc32c_raw;

/// Byte offset of the superblock in the filesystem.
pub const OFFSET: u64 = 1024;
/// Size of the on-disk superblock.
pub const SIZE: usize = 1024;
pub const MAGIC: u16 = 0xEF53;

// s_feature_compat
pub const COMPAT_HAS_JOURNAL: u32 = 0x4;
// s_feature_incompat
pub const INCOMPAT_FILETYPE: u32 = 0x2;
pub const INCOMPAT_RECOVER: u32 = 0x4;
pub const INCOMPAT_JOURNAL_DEV: u32 = 0x8;
pub const INCOMPAT_META_BG: u32 = 0x10;
pub const INCOMPAT_EXTENTS: u32 = 0x40;
pub const INCOMPAT_64BIT: u32 = 0x80;
pub const INCOMPAT_MMP: u32 = 0x100;
pub const INCOMPAT_FLEX_BG: u32 = 0x200;
pub const INCOMPAT_EA_INODE: u32 = 0x400;
pub const INCOMPAT_CSUM_SEED: u32 = 0x2000;
pub const INCOMPAT_LARGEDIR: u32 = 0x4000;
pub const INCOMPAT_INLINE_DATA: u32 = 0x8000;
pub const INCOMPAT_ENCRYPT: u32 = 0x10000;
pub const INCOMPAT_CASEFOLD: u32 = 0x20000;
// s_feature_ro_compat
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
pub const RO_COMPAT_HUGE_FILE: u32 = 0x8;
pub const RO_COMPAT_GDT_CSUM: u32 = 0x10;
pub const RO_COMPAT_BIGALLOC: u32 = 0x200;
pub const RO_COMPAT_METADATA_CSUM: u32 = 0x400;
// s_feature_compat
pub const COMPAT_RESIZE_INODE: u32 = 0x10;
pub const COMPAT_DIR_INDEX: u32 = 0x20;
pub const COMPAT_SPARSE_SUPER2: u32 = 0x200;
// s_flags
pub const FLAGS_UNSIGNED_HASH: u32 = 0x2;

// s_state
pub const STATE_VALID: u16 = 0x1;
pub const STATE_ERROR: u16 = 0x2;
pub const STATE_ORPHAN: u16 = 0x4;

/// Offset of `s_feature_incompat` inside the superblock.
const OFF_INCOMPAT: usize = 0x60;
/// Offset of `s_checksum`.
const OFF_CHECKSUM: usize = 0x3FC;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SuperblockError {
    #[error("superblock too short ({0} bytes)")]
    Short(usize),
    #[error("bad superblock magic 0x{0:04x} (expected 0xef53)")]
    Magic(u16),
    #[error("superblock checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("invalid block size exponent {0}")]
    BlockSize(u32),
}

/// The fields the project reads. Names follow `struct ext2_super_block` without `s_`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    pub inodes_count: u32,
    pub blocks_count: u64,
    pub r_blocks_count: u64,
    pub free_blocks_count: u64,
    pub free_inodes_count: u32,
    pub block_size: u32,
    pub mtime: u32,
    pub wtime: u32,
    pub mnt_count: u16,
    pub max_mnt_count: i16,
    pub state: u16,
    pub errors: u16,
    pub lastcheck: u32,
    pub checkinterval: u32,
    pub rev_level: u32,
    pub feature_compat: u32,
    pub feature_incompat: u32,
    pub feature_ro_compat: u32,
    pub uuid: [u8; 16],
    pub volume_name: String,
    pub last_mounted: String,
    pub journal_inum: u32,
    /// `s_journal_uuid`: the external journal device's UUID (no journal inode).
    pub journal_uuid: [u8; 16],
    pub last_orphan: u32,
    pub checksum_type: u8,
    pub error_count: u32,
    pub first_error_time: u32,
    pub first_error_ino: u32,
    pub first_error_func: String,
    pub first_error_line: u32,
    pub last_error_time: u32,
    pub last_error_ino: u32,
    pub last_error_func: String,
    pub last_error_line: u32,
    pub checksum: u32,
    // Geometry, for the project's own metadata reads (`raw`).
    pub first_data_block: u32,
    pub blocks_per_group: u32,
    pub inodes_per_group: u32,
    /// `s_inode_size` (128 on revision 0).
    pub inode_size: u16,
    /// First non-reserved inode (`s_first_ino`; 11 on revision 0).
    pub first_ino: u32,
    /// Bytes per group descriptor: `s_desc_size` with the 64bit feature, else 32.
    pub desc_size: u16,
    pub reserved_gdt_blocks: u16,
    /// `s_flags`: signed/unsigned directory hash, test filesystem.
    pub flags: u32,
    /// Seed of every metadata checksum but the superblock's (`s_checksum_seed` with
    /// csum_seed, else crc32c over the UUID).
    pub csum_seed: u32,
    /// `s_log_groups_per_flex`.
    pub log_groups_per_flex: u8,
    pub creator_os: u32,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

impl Superblock {
    /// Parses the 1024 superblock bytes. The checksum is verified when `metadata_csum` is set.
    pub fn parse(b: &[u8]) -> Result<Superblock, SuperblockError> {
        if b.len() < SIZE {
            return Err(SuperblockError::Short(b.len()));
        }
        let magic = u16_at(b, 0x38);
        if magic != MAGIC {
            return Err(SuperblockError::Magic(magic));
        }
        let incompat = u32_at(b, OFF_INCOMPAT);
        let is64 = incompat & INCOMPAT_64BIT != 0;
        let hi = |o: usize| {
            if is64 {
                u64::from(u32_at(b, o)) << 32
            } else {
                0
            }
        };
        let log_block_size = u32_at(b, 0x18);
        // ext4 allows 1 KiB to 64 KiB blocks.
        if log_block_size > 6 {
            return Err(SuperblockError::BlockSize(log_block_size));
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[0x68..0x78]);
        let mut journal_uuid = [0u8; 16];
        journal_uuid.copy_from_slice(&b[0xD0..0xE0]);
        let sb = Superblock {
            inodes_count: u32_at(b, 0x0),
            blocks_count: u64::from(u32_at(b, 0x4)) | hi(0x150),
            r_blocks_count: u64::from(u32_at(b, 0x8)) | hi(0x154),
            free_blocks_count: u64::from(u32_at(b, 0xC)) | hi(0x158),
            free_inodes_count: u32_at(b, 0x10),
            block_size: 1024 << log_block_size,
            mtime: u32_at(b, 0x2C),
            wtime: u32_at(b, 0x30),
            mnt_count: u16_at(b, 0x34),
            max_mnt_count: u16_at(b, 0x36) as i16,
            state: u16_at(b, 0x3A),
            errors: u16_at(b, 0x3C),
            lastcheck: u32_at(b, 0x40),
            checkinterval: u32_at(b, 0x44),
            rev_level: u32_at(b, 0x4C),
            feature_compat: u32_at(b, 0x5C),
            feature_incompat: incompat,
            feature_ro_compat: u32_at(b, 0x64),
            uuid,
            volume_name: cstr(&b[0x78..0x88]),
            last_mounted: cstr(&b[0x88..0xC8]),
            journal_inum: u32_at(b, 0xE0),
            journal_uuid,
            last_orphan: u32_at(b, 0xE8),
            checksum_type: b[0x175],
            error_count: u32_at(b, 0x194),
            first_error_time: u32_at(b, 0x198),
            first_error_ino: u32_at(b, 0x19C),
            first_error_func: cstr(&b[0x1A8..0x1C8]),
            first_error_line: u32_at(b, 0x1C8),
            last_error_time: u32_at(b, 0x1CC),
            last_error_ino: u32_at(b, 0x1D0),
            last_error_line: u32_at(b, 0x1D4),
            last_error_func: cstr(&b[0x1E0..0x200]),
            checksum: u32_at(b, OFF_CHECKSUM),
            first_data_block: u32_at(b, 0x14),
            blocks_per_group: u32_at(b, 0x20),
            inodes_per_group: u32_at(b, 0x28),
            inode_size: if u32_at(b, 0x4C) == 0 {
                128
            } else {
                u16_at(b, 0x58)
            },
            first_ino: if u32_at(b, 0x4C) == 0 {
                11
            } else {
                u32_at(b, 0x54)
            },
            desc_size: if is64 { u16_at(b, 0xFE) } else { 32 },
            reserved_gdt_blocks: u16_at(b, 0xCE),
            flags: u32_at(b, 0x160),
            csum_seed: if incompat & INCOMPAT_CSUM_SEED != 0 {
                u32_at(b, 0x270)
            } else {
                crc32c_raw(!0, &b[0x68..0x78])
            },
            log_groups_per_flex: b[0x174],
            creator_os: u32_at(b, 0x48),
        };
        if sb.has_metadata_csum() {
            let computed = checksum(b);
            if computed != sb.checksum {
                return Err(SuperblockError::Checksum {
                    stored: sb.checksum,
                    computed,
                });
            }
        }
        Ok(sb)
    }

    pub fn has_metadata_csum(&self) -> bool {
        self.feature_ro_compat & RO_COMPAT_METADATA_CSUM != 0
    }
    /// Group descriptors carry a checksum (crc32c with metadata_csum, crc16 with gdt_csum).
    pub fn has_group_csum(&self) -> bool {
        self.feature_ro_compat & (RO_COMPAT_METADATA_CSUM | RO_COMPAT_GDT_CSUM) != 0
    }
    pub fn is_64bit(&self) -> bool {
        self.feature_incompat & INCOMPAT_64BIT != 0
    }
    /// Directory hashes were computed with unsigned chars (filesystems made on some non-x86
    /// hosts).
    pub fn unsigned_hash(&self) -> bool {
        self.flags & FLAGS_UNSIGNED_HASH != 0
    }
    /// Number of block groups; `None` when the geometry fields are impossible.
    pub fn group_count(&self) -> Option<u32> {
        if self.blocks_per_group == 0 || self.inodes_per_group == 0 {
            return None;
        }
        let data = self
            .blocks_count
            .checked_sub(u64::from(self.first_data_block))?;
        let n = data.div_ceil(u64::from(self.blocks_per_group));
        u32::try_from(n).ok().filter(|&n| n > 0)
    }
    pub fn has_journal(&self) -> bool {
        self.feature_compat & COMPAT_HAS_JOURNAL != 0
    }
    /// The journal holds transactions not yet written to their home blocks: the filesystem was
    /// not unmounted cleanly.
    pub fn needs_recovery(&self) -> bool {
        self.feature_incompat & INCOMPAT_RECOVER != 0
    }
    pub fn uuid_string(&self) -> String {
        format_uuid(&self.uuid)
    }
    /// `ext4` / `ext3` / `ext2`, as `blkid` tells them apart.
    pub fn flavour(&self) -> &'static str {
        const EXT4_INCOMPAT: u32 = INCOMPAT_EXTENTS
            | INCOMPAT_64BIT
            | INCOMPAT_FLEX_BG
            | INCOMPAT_MMP
            | INCOMPAT_META_BG
            | INCOMPAT_EA_INODE
            | INCOMPAT_LARGEDIR
            | INCOMPAT_INLINE_DATA
            | INCOMPAT_ENCRYPT
            | INCOMPAT_CASEFOLD
            | INCOMPAT_CSUM_SEED;
        // huge_file, gdt_csum, dir_nlink, extra_isize, metadata_csum and later.
        const EXT4_RO_COMPAT: u32 = !0x7;
        if self.feature_incompat & EXT4_INCOMPAT != 0
            || self.feature_ro_compat & EXT4_RO_COMPAT != 0
        {
            "ext4"
        } else if self.has_journal() {
            "ext3"
        } else {
            "ext2"
        }
    }
}

/// `ext4_superblock_csum`: crc32c seeded with ~0 over the bytes before `s_checksum`, without the
/// final inversion.
pub fn checksum(b: &[u8]) -> u32 {
    crc32c_raw(!0, &b[..OFF_CHECKSUM])
}

/// The superblock bytes with `needs_recovery` cleared and the checksum recomputed, so a reader
/// loads the last checkpointed state without replaying the journal.
pub fn mask_needs_recovery(b: &[u8]) -> Vec<u8> {
    let mut out = b.to_vec();
    if out.len() < SIZE {
        return out;
    }
    let incompat = u32_at(&out, OFF_INCOMPAT) & !INCOMPAT_RECOVER;
    out[OFF_INCOMPAT..OFF_INCOMPAT + 4].copy_from_slice(&incompat.to_le_bytes());
    let ro = u32_at(&out, 0x64);
    if ro & RO_COMPAT_METADATA_CSUM != 0 {
        let c = checksum(&out);
        out[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&c.to_le_bytes());
    }
    out
}

/// Which feature word a flag lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureWord {
    Compat,
    Incompat,
    RoCompat,
}

/// An on-disk feature and the first e2fsprogs and Linux releases that understand it (e2fsprogs
/// release notes; the kernel's fs/ext4 history). A boot-time fsck by an older e2fsck refuses the
/// filesystem ("has unsupported feature(s)"); an older kernel refuses to mount it (incompat) or
/// mounts it read-only (ro_compat).
#[derive(Clone, Copy, Debug)]
pub struct Feature {
    pub word: FeatureWord,
    pub mask: u32,
    pub name: &'static str,
    pub e2fsprogs: (u32, u32, u32),
    pub kernel: (u32, u32),
}

pub const FEATURES: &[Feature] = &[
    Feature {
        word: FeatureWord::Compat,
        mask: 0x200,
        name: "sparse_super2",
        e2fsprogs: (1, 42, 9),
        kernel: (3, 16),
    },
    Feature {
        word: FeatureWord::Compat,
        mask: 0x400,
        name: "fast_commit",
        e2fsprogs: (1, 46, 0),
        kernel: (5, 10),
    },
    Feature {
        word: FeatureWord::Compat,
        mask: 0x800,
        name: "stable_inodes",
        e2fsprogs: (1, 45, 6),
        kernel: (5, 5),
    },
    Feature {
        word: FeatureWord::Compat,
        mask: 0x1000,
        name: "orphan_file",
        e2fsprogs: (1, 47, 0),
        kernel: (5, 15),
    },
    Feature {
        word: FeatureWord::Incompat,
        mask: 0x80,
        name: "64bit",
        e2fsprogs: (1, 42, 0),
        kernel: (2, 6),
    },
    Feature {
        word: FeatureWord::Incompat,
        mask: 0x100,
        name: "mmp",
        e2fsprogs: (1, 42, 0),
        kernel: (3, 0),
    },
    Feature {
        word: FeatureWord::Incompat,
        mask: 0x400,
        name: "ea_inode",
        e2fsprogs: (1, 44, 0),
        kernel: (4, 13),
    },
    Feature {
        word: FeatureWord::Incompat,
        mask: 0x2000,
        name: "metadata_csum_seed",
        e2fsprogs: (1, 43, 0),
        kernel: (4, 4),
    },
    Feature {
        word: FeatureWord::Incompat,
        mask: 0x4000,
        name: "large_dir",
        e2fsprogs: (1, 44, 0),
        kernel: (4, 13),
    },
    Feature {
        word: FeatureWord::Incompat,
        mask: 0x8000,
        name: "inline_data",
        e2fsprogs: (1, 43, 0),
        kernel: (3, 8),
    },
    Feature {
        word: FeatureWord::Incompat,
        mask: 0x10000,
        name: "encrypt",
        e2fsprogs: (1, 43, 0),
        kernel: (4, 1),
    },
    Feature {
        word: FeatureWord::Incompat,
        mask: 0x20000,
        name: "casefold",
        e2fsprogs: (1, 45, 0),
        kernel: (5, 2),
    },
    Feature {
        word: FeatureWord::RoCompat,
        mask: 0x100,
        name: "quota",
        e2fsprogs: (1, 42, 0),
        kernel: (3, 6),
    },
    Feature {
        word: FeatureWord::RoCompat,
        mask: 0x200,
        name: "bigalloc",
        e2fsprogs: (1, 42, 0),
        kernel: (3, 2),
    },
    Feature {
        word: FeatureWord::RoCompat,
        mask: 0x400,
        name: "metadata_csum",
        e2fsprogs: (1, 43, 0),
        kernel: (3, 18),
    },
    Feature {
        word: FeatureWord::RoCompat,
        mask: 0x2000,
        name: "project",
        e2fsprogs: (1, 43, 0),
        kernel: (4, 5),
    },
    Feature {
        word: FeatureWord::RoCompat,
        mask: 0x8000,
        name: "verity",
        e2fsprogs: (1, 45, 5),
        kernel: (5, 4),
    },
    Feature {
        word: FeatureWord::RoCompat,
        mask: 0x10000,
        name: "orphan_present",
        e2fsprogs: (1, 47, 0),
        kernel: (5, 15),
    },
];

impl Superblock {
    /// The features of [`FEATURES`] this filesystem has.
    pub fn notable_features(&self) -> Vec<&'static Feature> {
        FEATURES
            .iter()
            .filter(|f| {
                let word = match f.word {
                    FeatureWord::Compat => self.feature_compat,
                    FeatureWord::Incompat => self.feature_incompat,
                    FeatureWord::RoCompat => self.feature_ro_compat,
                };
                word & f.mask != 0
            })
            .collect()
    }
}

pub fn format_uuid(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Vec<u8> {
        let mut b = vec![0u8; SIZE];
        b[0x38..0x3A].copy_from_slice(&MAGIC.to_le_bytes());
        b[0x18] = 2; // 4 KiB blocks
        b[0x78..0x7C].copy_from_slice(b"root");
        b
    }

    #[test]
    fn parses_and_checks_checksum() {
        let mut b = minimal();
        b[0x64..0x68].copy_from_slice(&RO_COMPAT_METADATA_CSUM.to_le_bytes());
        let c = checksum(&b);
        b[OFF_CHECKSUM..].copy_from_slice(&c.to_le_bytes());
        let sb = Superblock::parse(&b).unwrap();
        assert_eq!(sb.block_size, 4096);
        assert_eq!(sb.volume_name, "root");
        b[0x100] ^= 1;
        assert!(matches!(
            Superblock::parse(&b),
            Err(SuperblockError::Checksum { .. })
        ));
    }

    #[test]
    fn masking_keeps_checksum_valid() {
        let mut b = minimal();
        b[0x64..0x68].copy_from_slice(&RO_COMPAT_METADATA_CSUM.to_le_bytes());
        b[0x60..0x64].copy_from_slice(&(INCOMPAT_RECOVER | INCOMPAT_EXTENTS).to_le_bytes());
        let c = checksum(&b);
        b[OFF_CHECKSUM..].copy_from_slice(&c.to_le_bytes());
        assert!(Superblock::parse(&b).unwrap().needs_recovery());
        let masked = mask_needs_recovery(&b);
        let sb = Superblock::parse(&masked).unwrap();
        assert!(!sb.needs_recovery());
        assert_eq!(sb.feature_incompat, INCOMPAT_EXTENTS);
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            Superblock::parse(&[0u8; 10]),
            Err(SuperblockError::Short(10))
        ));
        assert!(matches!(
            Superblock::parse(&[0u8; SIZE]),
            Err(SuperblockError::Magic(0))
        ));
    }
}
