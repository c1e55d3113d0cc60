//! The XFS superblock (`xfs_format.h: struct xfs_dsb`), parsed and validated the way
//! `xfs_sb.c: xfs_validate_sb_common` does before the kernel trusts the geometry: every field
//! that sizes a read or an address computation is range-checked here, once.

use super::be::{crc_at, crc_ok, u8_at, u16_at, u32_at, u64_at, uuid_string};

pub const MAGIC: &[u8; 4] = b"XFSB";
/// Offset of `sb_crc`.
pub const CRC_OFF: usize = 224;
/// Bytes the fields below span (through `sb_meta_uuid`).
pub const MIN_LEN: usize = 264;

// sb_versionnum
pub const VERSION_NUMBITS: u16 = 0x000f;
pub const VERSION_NLINKBIT: u16 = 0x0020;
pub const VERSION_MOREBITSBIT: u16 = 0x8000;
// sb_features2
pub const VERSION2_FTYPE: u32 = 0x0000_0200;
// sb_features_ro_compat
pub const RO_COMPAT_FINOBT: u32 = 1;
pub const RO_COMPAT_RMAPBT: u32 = 2;
pub const RO_COMPAT_REFLINK: u32 = 4;
pub const RO_COMPAT_INOBTCNT: u32 = 8;
// sb_features_incompat
pub const INCOMPAT_FTYPE: u32 = 1 << 0;
pub const INCOMPAT_SPINODES: u32 = 1 << 1;
pub const INCOMPAT_META_UUID: u32 = 1 << 2;
pub const INCOMPAT_BIGTIME: u32 = 1 << 3;
pub const INCOMPAT_NEEDSREPAIR: u32 = 1 << 4;
pub const INCOMPAT_NREXT64: u32 = 1 << 5;
pub const INCOMPAT_EXCHRANGE: u32 = 1 << 6;
pub const INCOMPAT_PARENT: u32 = 1 << 7;
pub const INCOMPAT_METADIR: u32 = 1 << 8;
/// Every incompatible feature this reader knows. The others change the on-disk format in ways
/// it would misread, so it refuses them (as an old kernel would).
pub const INCOMPAT_KNOWN: u32 = INCOMPAT_FTYPE
    | INCOMPAT_SPINODES
    | INCOMPAT_META_UUID
    | INCOMPAT_BIGTIME
    | INCOMPAT_NEEDSREPAIR
    | INCOMPAT_NREXT64
    | INCOMPAT_EXCHRANGE
    | INCOMPAT_PARENT
    | INCOMPAT_METADIR;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SuperblockError {
    #[error("superblock too short ({0} bytes)")]
    Short(usize),
    #[error("bad superblock magic {0:02x?} (expected \"XFSB\")")]
    Magic([u8; 4]),
    #[error("unsupported XFS version {0} (4 and 5 exist)")]
    Version(u16),
    #[error("invalid superblock geometry: {0}")]
    Geometry(String),
    #[error("superblock checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("the filesystem uses incompatible features this reader does not know (0x{0:x})")]
    UnknownIncompat(u32),
    #[error("mkfs.xfs did not finish making this filesystem (sb_inprogress is set)")]
    InProgress,
}

/// The fields the reader and the audits use. Names follow `struct xfs_dsb` without `sb_`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    pub blocksize: u32,
    pub dblocks: u64,
    pub rblocks: u64,
    pub uuid: [u8; 16],
    /// First block of the internal log (a filesystem block number); 0 with an external log.
    pub logstart: u64,
    pub rootino: u64,
    pub agblocks: u32,
    pub agcount: u32,
    pub logblocks: u32,
    pub versionnum: u16,
    pub sectsize: u16,
    pub inodesize: u16,
    pub inopblock: u16,
    pub fname: String,
    pub blocklog: u8,
    pub sectlog: u8,
    pub inodelog: u8,
    pub inopblog: u8,
    pub agblklog: u8,
    /// mkfs has not finished (set in the secondary copies, which mkfs never rewrites).
    pub inprogress: bool,
    pub imax_pct: u8,
    pub icount: u64,
    pub ifree: u64,
    pub fdblocks: u64,
    pub dirblklog: u8,
    pub logsectsize: u16,
    pub features2: u32,
    pub features_compat: u32,
    pub features_ro_compat: u32,
    pub features_incompat: u32,
    pub features_log_incompat: u32,
    pub crc: u32,
    pub lsn: u64,
}

impl Superblock {
    /// The primary superblock: validated, and mkfs must have finished.
    pub fn parse_primary(b: &[u8]) -> Result<Superblock, SuperblockError> {
        let sb = Superblock::parse(b)?;
        if sb.inprogress {
            return Err(SuperblockError::InProgress);
        }
        Ok(sb)
    }

    /// Parses and validates a superblock: the first `sectsize` bytes of AG 0 (or of another AG,
    /// for a secondary copy). On v5 filesystems the CRC is verified.
    pub fn parse(b: &[u8]) -> Result<Superblock, SuperblockError> {
        if b.len() < MIN_LEN {
            return Err(SuperblockError::Short(b.len()));
        }
        if &b[0..4] != MAGIC {
            return Err(SuperblockError::Magic([b[0], b[1], b[2], b[3]]));
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[32..48]);
        let fname = {
            let raw = &b[108..120];
            let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
            String::from_utf8_lossy(&raw[..end]).trim().to_string()
        };
        let sb = Superblock {
            blocksize: u32_at(b, 4),
            dblocks: u64_at(b, 8),
            rblocks: u64_at(b, 16),
            uuid,
            logstart: u64_at(b, 48),
            rootino: u64_at(b, 56),
            agblocks: u32_at(b, 84),
            agcount: u32_at(b, 88),
            logblocks: u32_at(b, 96),
            versionnum: u16_at(b, 100),
            sectsize: u16_at(b, 102),
            inodesize: u16_at(b, 104),
            inopblock: u16_at(b, 106),
            fname,
            blocklog: u8_at(b, 120),
            sectlog: u8_at(b, 121),
            inodelog: u8_at(b, 122),
            inopblog: u8_at(b, 123),
            agblklog: u8_at(b, 124),
            inprogress: u8_at(b, 126) != 0,
            imax_pct: u8_at(b, 127),
            icount: u64_at(b, 128),
            ifree: u64_at(b, 136),
            fdblocks: u64_at(b, 144),
            dirblklog: u8_at(b, 192),
            logsectsize: u16_at(b, 194),
            features2: u32_at(b, 200),
            features_compat: u32_at(b, 208),
            features_ro_compat: u32_at(b, 212),
            features_incompat: u32_at(b, 216),
            features_log_incompat: u32_at(b, 220),
            crc: crc_at(b, CRC_OFF),
            lsn: u64_at(b, 240),
        };
        let version = sb.versionnum & VERSION_NUMBITS;
        if version != 4 && version != 5 {
            return Err(SuperblockError::Version(version));
        }
        sb.validate_geometry()?;
        if sb.is_v5() {
            let sect = usize::from(sb.sectsize);
            let Some(sector) = b.get(..sect) else {
                return Err(SuperblockError::Short(b.len()));
            };
            if !crc_ok(sector, CRC_OFF) {
                return Err(SuperblockError::Checksum {
                    stored: sb.crc,
                    computed: super::be::xfs_crc(sector, CRC_OFF),
                });
            }
            let unknown = sb.features_incompat & !INCOMPAT_KNOWN;
            if unknown != 0 {
                return Err(SuperblockError::UnknownIncompat(unknown));
            }
        }
        Ok(sb)
    }

    fn validate_geometry(&self) -> Result<(), SuperblockError> {
        let bad = |m: String| Err(SuperblockError::Geometry(m));
        let pow2 = |v: u64, log: u8| log < 32 && v == 1u64 << log;
        if !(512..=65536).contains(&self.blocksize) || !pow2(self.blocksize.into(), self.blocklog) {
            return bad(format!(
                "block size {} with log {}",
                self.blocksize, self.blocklog
            ));
        }
        if !(512..=32768).contains(&self.sectsize) || !pow2(self.sectsize.into(), self.sectlog) {
            return bad(format!(
                "sector size {} with log {}",
                self.sectsize, self.sectlog
            ));
        }
        if u32::from(self.sectsize) > self.blocksize {
            return bad(format!(
                "sector size {} exceeds block size {}",
                self.sectsize, self.blocksize
            ));
        }
        let min_inode = if self.is_v5() { 512 } else { 256 };
        if !(min_inode..=2048).contains(&self.inodesize)
            || !pow2(self.inodesize.into(), self.inodelog)
        {
            return bad(format!(
                "inode size {} with log {}",
                self.inodesize, self.inodelog
            ));
        }
        if u32::from(self.inodesize) > self.blocksize
            || u32::from(self.inopblock) != self.blocksize / u32::from(self.inodesize)
            || !pow2(self.inopblock.into(), self.inopblog)
        {
            return bad(format!(
                "{} inodes of {} bytes per {}-byte block (log {})",
                self.inopblock, self.inodesize, self.blocksize, self.inopblog
            ));
        }
        if self.agcount == 0 || self.agblocks < 16 {
            return bad(format!(
                "{} allocation groups of {} blocks",
                self.agcount, self.agblocks
            ));
        }
        // agblklog is log2 of agblocks rounded up (xfs_highbit32(agblocks - 1) + 1).
        let want_log = 32 - (self.agblocks - 1).leading_zeros();
        if u32::from(self.agblklog) != want_log {
            return bad(format!(
                "AG size {} blocks with log {}",
                self.agblocks, self.agblklog
            ));
        }
        if u32::from(self.agblklog) + u32::from(self.inopblog) > 32 {
            return bad("inode numbers wider than 32 bits per AG".into());
        }
        let max = u64::from(self.agcount) * u64::from(self.agblocks);
        let min = u64::from(self.agcount - 1) * u64::from(self.agblocks);
        if self.dblocks > max || self.dblocks <= min {
            return bad(format!(
                "{} data blocks do not fit {} AGs of {} blocks",
                self.dblocks, self.agcount, self.agblocks
            ));
        }
        if u32::from(self.blocklog) + u32::from(self.dirblklog) > 16 {
            return bad(format!(
                "directory blocks of 2^{} bytes",
                u32::from(self.blocklog) + u32::from(self.dirblklog)
            ));
        }
        if self.rootino == 0 {
            return bad("no root inode".into());
        }
        Ok(())
    }

    pub fn version(&self) -> u16 {
        self.versionnum & VERSION_NUMBITS
    }
    /// A v5 (CRC, self-describing metadata) filesystem.
    pub fn is_v5(&self) -> bool {
        self.version() == 5
    }
    /// Directory entries carry the file type.
    pub fn has_ftype(&self) -> bool {
        if self.is_v5() {
            self.features_incompat & INCOMPAT_FTYPE != 0
        } else {
            self.versionnum & VERSION_MOREBITSBIT != 0 && self.features2 & VERSION2_FTYPE != 0
        }
    }
    pub fn has_incompat(&self, bit: u32) -> bool {
        self.is_v5() && self.features_incompat & bit != 0
    }
    pub fn has_ro_compat(&self, bit: u32) -> bool {
        self.is_v5() && self.features_ro_compat & bit != 0
    }
    /// `xfs_repair` was interrupted (or `xfs_admin` upgraded features): the kernel refuses to
    /// mount until `xfs_repair` runs.
    pub fn needs_repair(&self) -> bool {
        self.has_incompat(INCOMPAT_NEEDSREPAIR)
    }
    pub fn uuid_string(&self) -> String {
        uuid_string(&self.uuid)
    }
    /// Size of a directory block in bytes.
    pub fn dirblksize(&self) -> u32 {
        self.blocksize << self.dirblklog
    }
    /// The names of the features that matter to readers and to older kernels.
    pub fn feature_names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.is_v5() {
            v.push("crc");
        }
        if self.has_ftype() {
            v.push("ftype");
        }
        for (bit, name) in [
            (INCOMPAT_SPINODES, "sparse"),
            (INCOMPAT_BIGTIME, "bigtime"),
            (INCOMPAT_NREXT64, "nrext64"),
            (INCOMPAT_EXCHRANGE, "exchange"),
            (INCOMPAT_PARENT, "parent"),
            (INCOMPAT_METADIR, "metadir"),
            (INCOMPAT_NEEDSREPAIR, "needsrepair"),
        ] {
            if self.has_incompat(bit) {
                v.push(name);
            }
        }
        for (bit, name) in [
            (RO_COMPAT_FINOBT, "finobt"),
            (RO_COMPAT_RMAPBT, "rmapbt"),
            (RO_COMPAT_REFLINK, "reflink"),
            (RO_COMPAT_INOBTCNT, "inobtcount"),
        ] {
            if self.has_ro_compat(bit) {
                v.push(name);
            }
        }
        v
    }

    // Address arithmetic (xfs_format.h: XFS_INO_TO_AGNO, XFS_FSB_TO_AGNO, ...).

    /// Byte offset of inode `ino` in the filesystem, or `None` when the number points outside it.
    pub fn inode_offset(&self, ino: u64) -> Option<u64> {
        let agino_bits = u32::from(self.agblklog) + u32::from(self.inopblog);
        let agno = ino.checked_shr(agino_bits)?;
        let agbno = (ino >> self.inopblog) & ((1u64 << self.agblklog) - 1);
        let off = ino & ((1u64 << self.inopblog) - 1);
        if agno >= u64::from(self.agcount) || agbno >= u64::from(self.agblocks) {
            return None;
        }
        let block = agno * u64::from(self.agblocks) + agbno;
        if block >= self.dblocks {
            return None;
        }
        Some(block * u64::from(self.blocksize) + off * u64::from(self.inodesize))
    }

    /// The linear block number of a filesystem block number (AG number in the high bits), or
    /// `None` outside the data device.
    pub fn fsb_to_block(&self, fsb: u64) -> Option<u64> {
        let agno = fsb.checked_shr(u32::from(self.agblklog))?;
        let agbno = fsb & ((1u64 << self.agblklog) - 1);
        if agno >= u64::from(self.agcount) || agbno >= u64::from(self.agblocks) {
            return None;
        }
        let block = agno * u64::from(self.agblocks) + agbno;
        (block < self.dblocks).then_some(block)
    }

    /// Byte offset of AG `agno`'s first block.
    pub fn ag_offset(&self, agno: u32) -> u64 {
        u64::from(agno) * u64::from(self.agblocks) * u64::from(self.blocksize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid v4 superblock: 4 KiB blocks, 512-byte sectors and inodes.
    pub(crate) fn v4() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[0..4].copy_from_slice(MAGIC);
        b[4..8].copy_from_slice(&4096u32.to_be_bytes());
        b[8..16].copy_from_slice(&4096u64.to_be_bytes());
        b[56..64].copy_from_slice(&128u64.to_be_bytes());
        b[84..88].copy_from_slice(&1024u32.to_be_bytes());
        b[88..92].copy_from_slice(&4u32.to_be_bytes());
        b[100..102].copy_from_slice(&(4u16 | VERSION_NLINKBIT).to_be_bytes());
        b[102..104].copy_from_slice(&512u16.to_be_bytes());
        b[104..106].copy_from_slice(&512u16.to_be_bytes());
        b[106..108].copy_from_slice(&8u16.to_be_bytes());
        b[108..112].copy_from_slice(b"root");
        b[120] = 12;
        b[121] = 9;
        b[122] = 9;
        b[123] = 3;
        b[124] = 10;
        b
    }

    #[test]
    fn parses_and_addresses() {
        let sb = Superblock::parse(&v4()).unwrap();
        assert_eq!(sb.fname, "root");
        assert!(!sb.is_v5() && !sb.has_ftype());
        // ino 128: AG 0, block 16, slot 0.
        assert_eq!(sb.inode_offset(128), Some(16 * 4096));
        // AG 1 block 3 = fsb (1 << 10) | 3.
        assert_eq!(sb.fsb_to_block((1 << 10) | 3), Some(1027));
        assert_eq!(sb.fsb_to_block(4 << 10), None);
        assert_eq!(sb.inode_offset(u64::MAX), None);
    }

    #[test]
    fn rejects_bad_geometry() {
        let mut b = v4();
        b[124] = 11;
        assert!(matches!(
            Superblock::parse(&b),
            Err(SuperblockError::Geometry(_))
        ));
        let mut b = v4();
        b[4..8].copy_from_slice(&3000u32.to_be_bytes());
        assert!(Superblock::parse(&b).is_err());
        let mut b = v4();
        b[100..102].copy_from_slice(&5u16.to_be_bytes());
        // v5 needs 512-byte inodes (ok) and a CRC (missing).
        assert!(matches!(
            Superblock::parse(&b),
            Err(SuperblockError::Checksum { .. })
        ));
        assert!(matches!(
            Superblock::parse(&b[..100]),
            Err(SuperblockError::Short(100))
        ));
        let mut b = v4();
        b[0] = b'Y';
        assert!(matches!(
            Superblock::parse(&b),
            Err(SuperblockError::Magic(_))
        ));
    }
}
