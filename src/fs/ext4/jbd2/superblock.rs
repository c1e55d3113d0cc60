//! The jbd2 journal superblock (`journal_superblock_t` in e2fsprogs `lib/ext2fs/kernel-jbd.h`),
//! with the checks the kernel's `journal_get_superblock`/`journal_load_superblock`
//! (`fs/jbd2/journal.c`) make before recovery. Everything in the journal is big-endian.

use crate::checksum::crc32c_raw;

pub const MAGIC: u32 = 0xC03B_3998;
/// Size of the superblock at the start of the journal's first block.
pub const SIZE: usize = 1024;

// h_blocktype
pub const DESCRIPTOR_BLOCK: u32 = 1;
pub const COMMIT_BLOCK: u32 = 2;
pub const SUPERBLOCK_V1: u32 = 3;
pub const SUPERBLOCK_V2: u32 = 4;
pub const REVOKE_BLOCK: u32 = 5;

// s_feature_compat
pub const COMPAT_CHECKSUM: u32 = 0x1;
// s_feature_incompat
pub const INCOMPAT_REVOKE: u32 = 0x1;
pub const INCOMPAT_64BIT: u32 = 0x2;
pub const INCOMPAT_ASYNC_COMMIT: u32 = 0x4;
pub const INCOMPAT_CSUM_V2: u32 = 0x8;
pub const INCOMPAT_CSUM_V3: u32 = 0x10;
pub const INCOMPAT_FAST_COMMIT: u32 = 0x20;
/// `JBD2_KNOWN_INCOMPAT_FEATURES`.
pub const KNOWN_INCOMPAT: u32 = INCOMPAT_REVOKE
    | INCOMPAT_64BIT
    | INCOMPAT_ASYNC_COMMIT
    | INCOMPAT_CSUM_V2
    | INCOMPAT_CSUM_V3
    | INCOMPAT_FAST_COMMIT;

/// `JBD2_CRC32C_CHKSUM`: the only checksum type of checksum v2/v3 journals.
pub const CHECKSUM_TYPE_CRC32C: u8 = 4;
/// `JBD2_DEFAULT_FAST_COMMIT_BLOCKS`, when `s_num_fc_blks` is 0.
pub const DEFAULT_FAST_COMMIT_BLOCKS: u32 = 256;
/// `JBD2_MIN_JOURNAL_BLOCKS`.
pub const MIN_JOURNAL_BLOCKS: u32 = 1024;

const OFF_CHECKSUM: usize = 0xFC;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum JournalSbError {
    #[error("journal superblock too short ({0} bytes)")]
    Short(usize),
    #[error("bad journal superblock magic 0x{0:08x} (expected 0xc03b3998)")]
    Magic(u32),
    #[error("journal superblock has block type {0} (expected 3 or 4)")]
    Type(u32),
    #[error("journal has unknown incompatible features 0x{0:x}")]
    UnknownFeatures(u32),
    #[error("journal has both checksum v2 and v3")]
    BothV2V3,
    #[error("journal has checksum v1 together with v2/v3")]
    V1WithV23,
    #[error("journal checksum type {0} is unknown (expected 4, crc32c)")]
    ChecksumType(u8),
    #[error(
        "journal superblock checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})"
    )]
    Checksum { stored: u32, computed: u32 },
}

/// Which checksums the journal's blocks carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Csum {
    None,
    /// `COMPAT_CHECKSUM`: one crc32_be over each transaction's descriptor and data blocks,
    /// stored in its commit block.
    V1,
    /// crc32c in every descriptor, revoke and commit block; 16-bit tag checksums.
    V2,
    /// As v2, with 32-bit tag checksums (`journal_block_tag3_t`).
    V3,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalSuperblock {
    /// 1 or 2; a version-1 superblock has no feature words.
    pub version: u8,
    pub block_size: u32,
    /// Blocks in the journal (`s_maxlen`).
    pub maxlen: u32,
    /// First block of the log (`s_first`).
    pub first: u32,
    /// First transaction ID expected in the log (`s_sequence`).
    pub sequence: u32,
    /// Block where the log starts; 0 when the journal is empty (`s_start`).
    pub start: u32,
    /// Error recorded by `jbd2_journal_abort` (`s_errno`).
    pub errno: i32,
    pub feature_compat: u32,
    pub feature_incompat: u32,
    pub feature_ro_compat: u32,
    pub uuid: [u8; 16],
    pub checksum_type: u8,
    /// `s_num_fc_blks`: blocks kept for fast commits at the end of the journal.
    pub num_fc_blocks: u32,
}

fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// `jbd2_superblock_csum`: crc32c seeded with ~0 over the 1024 bytes, `s_checksum` zeroed.
pub fn checksum(b: &[u8]) -> u32 {
    let c = crc32c_raw(!0, &b[..OFF_CHECKSUM]);
    let c = crc32c_raw(c, &[0; 4]);
    crc32c_raw(c, &b[OFF_CHECKSUM + 4..SIZE])
}

impl JournalSuperblock {
    pub fn parse(b: &[u8]) -> Result<JournalSuperblock, JournalSbError> {
        if b.len() < SIZE {
            return Err(JournalSbError::Short(b.len()));
        }
        let magic = be32(b, 0);
        if magic != MAGIC {
            return Err(JournalSbError::Magic(magic));
        }
        let version = match be32(b, 4) {
            SUPERBLOCK_V1 => 1,
            SUPERBLOCK_V2 => 2,
            t => return Err(JournalSbError::Type(t)),
        };
        // The feature words are only valid in a version-2 superblock
        // (`JBD2_HAS_INCOMPAT_FEATURE` checks `j_format_version >= 2`).
        let word = |o| if version >= 2 { be32(b, o) } else { 0 };
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[0x30..0x40]);
        let sb = JournalSuperblock {
            version,
            block_size: be32(b, 0xC),
            maxlen: be32(b, 0x10),
            first: be32(b, 0x14),
            sequence: be32(b, 0x18),
            start: be32(b, 0x1C),
            errno: be32(b, 0x20) as i32,
            feature_compat: word(0x24),
            feature_incompat: word(0x28),
            feature_ro_compat: word(0x2C),
            uuid,
            checksum_type: b[0x50],
            num_fc_blocks: be32(b, 0x54),
        };
        let unknown = sb.feature_incompat & !KNOWN_INCOMPAT;
        if unknown != 0 {
            return Err(JournalSbError::UnknownFeatures(unknown));
        }
        let v2 = sb.feature_incompat & INCOMPAT_CSUM_V2 != 0;
        let v3 = sb.feature_incompat & INCOMPAT_CSUM_V3 != 0;
        if v2 && v3 {
            return Err(JournalSbError::BothV2V3);
        }
        if (v2 || v3) && sb.feature_compat & COMPAT_CHECKSUM != 0 {
            return Err(JournalSbError::V1WithV23);
        }
        if v2 || v3 {
            if sb.checksum_type != CHECKSUM_TYPE_CRC32C {
                return Err(JournalSbError::ChecksumType(sb.checksum_type));
            }
            let stored = be32(b, OFF_CHECKSUM);
            let computed = checksum(b);
            if stored != computed {
                return Err(JournalSbError::Checksum { stored, computed });
            }
        }
        Ok(sb)
    }

    pub fn csum(&self) -> Csum {
        if self.feature_incompat & INCOMPAT_CSUM_V3 != 0 {
            Csum::V3
        } else if self.feature_incompat & INCOMPAT_CSUM_V2 != 0 {
            Csum::V2
        } else if self.feature_compat & COMPAT_CHECKSUM != 0 {
            Csum::V1
        } else {
            Csum::None
        }
    }

    pub fn is_64bit(&self) -> bool {
        self.feature_incompat & INCOMPAT_64BIT != 0
    }

    pub fn async_commit(&self) -> bool {
        self.feature_incompat & INCOMPAT_ASYNC_COMMIT != 0
    }

    pub fn fast_commit(&self) -> bool {
        self.feature_incompat & INCOMPAT_FAST_COMMIT != 0
    }

    /// `j_csum_seed`: crc32c seeded with ~0 over the journal's UUID.
    pub fn csum_seed(&self) -> u32 {
        crc32c_raw(!0, &self.uuid)
    }

    /// The features by name, as `dumpe2fs` prints them.
    pub fn feature_names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.feature_compat & COMPAT_CHECKSUM != 0 {
            v.push("journal_checksum");
        }
        for (bit, name) in [
            (INCOMPAT_REVOKE, "journal_incompat_revoke"),
            (INCOMPAT_64BIT, "journal_64bit"),
            (INCOMPAT_ASYNC_COMMIT, "journal_async_commit"),
            (INCOMPAT_CSUM_V2, "journal_checksum_v2"),
            (INCOMPAT_CSUM_V3, "journal_checksum_v3"),
            (INCOMPAT_FAST_COMMIT, "fast_commit"),
        ] {
            if self.feature_incompat & bit != 0 {
                v.push(name);
            }
        }
        v
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A version-2 superblock (4 KiB blocks, 1024 blocks, log from block 1).
    pub fn sb_bytes(incompat: u32, compat: u32, start: u32, sequence: u32) -> Vec<u8> {
        let mut b = vec![0u8; SIZE];
        b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&SUPERBLOCK_V2.to_be_bytes());
        b[0xC..0x10].copy_from_slice(&4096u32.to_be_bytes());
        b[0x10..0x14].copy_from_slice(&1024u32.to_be_bytes());
        b[0x14..0x18].copy_from_slice(&1u32.to_be_bytes());
        b[0x18..0x1C].copy_from_slice(&sequence.to_be_bytes());
        b[0x1C..0x20].copy_from_slice(&start.to_be_bytes());
        b[0x24..0x28].copy_from_slice(&compat.to_be_bytes());
        b[0x28..0x2C].copy_from_slice(&incompat.to_be_bytes());
        b[0x30..0x40].copy_from_slice(b"0123456789abcdef");
        if incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) != 0 {
            b[0x50] = CHECKSUM_TYPE_CRC32C;
            let c = checksum(&b);
            b[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&c.to_be_bytes());
        }
        b
    }

    #[test]
    fn parses_and_checks() {
        let b = sb_bytes(INCOMPAT_REVOKE | INCOMPAT_64BIT | INCOMPAT_CSUM_V3, 0, 1, 7);
        let sb = JournalSuperblock::parse(&b).unwrap();
        assert_eq!(sb.csum(), Csum::V3);
        assert!(sb.is_64bit());
        assert_eq!((sb.start, sb.sequence, sb.maxlen), (1, 7, 1024));
        assert_eq!(
            sb.feature_names(),
            [
                "journal_incompat_revoke",
                "journal_64bit",
                "journal_checksum_v3"
            ]
        );
        let mut bad = b.clone();
        bad[0x200] ^= 1;
        assert!(matches!(
            JournalSuperblock::parse(&bad),
            Err(JournalSbError::Checksum { .. })
        ));
        let both = sb_bytes(INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3, 0, 1, 7);
        assert_eq!(
            JournalSuperblock::parse(&both),
            Err(JournalSbError::BothV2V3)
        );
        let v1 = sb_bytes(INCOMPAT_CSUM_V2, COMPAT_CHECKSUM, 1, 7);
        assert_eq!(
            JournalSuperblock::parse(&v1),
            Err(JournalSbError::V1WithV23)
        );
        let unknown = sb_bytes(0x100, 0, 1, 7);
        assert_eq!(
            JournalSuperblock::parse(&unknown),
            Err(JournalSbError::UnknownFeatures(0x100))
        );
        assert_eq!(
            JournalSuperblock::parse(&[0u8; SIZE]),
            Err(JournalSbError::Magic(0))
        );
        assert_eq!(
            JournalSuperblock::parse(&[0u8; 12]),
            Err(JournalSbError::Short(12))
        );
    }

    #[test]
    fn version_1_has_no_features() {
        let mut b = sb_bytes(INCOMPAT_64BIT, COMPAT_CHECKSUM, 1, 7);
        b[4..8].copy_from_slice(&SUPERBLOCK_V1.to_be_bytes());
        let sb = JournalSuperblock::parse(&b).unwrap();
        assert_eq!(sb.version, 1);
        assert_eq!(sb.csum(), Csum::None);
        assert!(!sb.is_64bit());
    }
}
