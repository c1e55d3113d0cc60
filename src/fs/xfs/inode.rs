//! The on-disk inode (`xfs_format.h: struct xfs_dinode`): core fields, the data and attribute
//! fork areas, and v3 self-description (CRC, inode number) as `xfs_inode_buf.c:
//! xfs_dinode_verify` checks them.

use super::be::{crc_ok, u8_at, u16_at, u32_at, u64_at};
use super::superblock::{INCOMPAT_BIGTIME, INCOMPAT_NREXT64, Superblock};
use crate::fs::{FileType, Time};

pub const MAGIC: u16 = 0x494e; // "IN"
/// Size of the v1/v2 inode core; v3 cores are `CORE_V3` bytes.
pub const CORE_V2: usize = 100;
pub const CORE_V3: usize = 176;
pub const CRC_OFF: usize = 100;

// di_format
pub const FMT_DEV: u8 = 0;
pub const FMT_LOCAL: u8 = 1;
pub const FMT_EXTENTS: u8 = 2;
pub const FMT_BTREE: u8 = 3;

// di_flags2
pub const FLAG2_BIGTIME: u64 = 1 << 3;
pub const FLAG2_NREXT64: u64 = 1 << 4;

/// Seconds between the bigtime epoch and the Unix epoch (`XFS_BIGTIME_EPOCH_OFFSET`).
const BIGTIME_EPOCH_OFFSET: i64 = 1 << 31;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InodeError {
    #[error("inode {0}: number outside the filesystem")]
    OutOfRange(u64),
    #[error("inode {ino}: bad magic 0x{magic:04x} (not an inode)")]
    Magic { ino: u64, magic: u16 },
    #[error("inode {ino}: version {version} is not valid here")]
    Version { ino: u64, version: u8 },
    #[error("inode {0}: checksum mismatch")]
    Checksum(u64),
    #[error("inode {ino}: records inode number {stored} (misplaced or stale inode)")]
    WrongNumber { ino: u64, stored: u64 },
    #[error("inode {ino}: {detail}")]
    Invalid { ino: u64, detail: String },
    #[error("inode {0}: is free (mode 0)")]
    Free(u64),
}

/// A parsed inode with its raw bytes, for the forks.
#[derive(Clone, Debug)]
pub struct Inode {
    pub ino: u64,
    pub mode: u16,
    pub version: u8,
    pub format: u8,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub atime: Time,
    pub mtime: Time,
    pub ctime: Time,
    pub crtime: Option<Time>,
    pub size: u64,
    pub nblocks: u64,
    /// Data fork extent count (64-bit with nrext64).
    pub nextents: u64,
    pub anextents: u32,
    pub forkoff: u8,
    pub aformat: u8,
    pub flags: u16,
    pub flags2: u64,
    pub next_unlinked: u32,
    raw: Vec<u8>,
    core: usize,
}

fn time(raw: u64, bigtime: bool) -> Time {
    if bigtime {
        let secs = (raw / 1_000_000_000) as i64 - BIGTIME_EPOCH_OFFSET;
        Time {
            secs,
            nanos: (raw % 1_000_000_000) as u32,
        }
    } else {
        Time {
            secs: i64::from((raw >> 32) as u32 as i32),
            nanos: ((raw & 0xffff_ffff) as u32).min(999_999_999),
        }
    }
}

impl Inode {
    /// Parses the `inodesize` bytes of inode `ino`.
    pub fn parse(sb: &Superblock, ino: u64, raw: Vec<u8>) -> Result<Inode, InodeError> {
        let b = &raw[..];
        if b.len() < usize::from(sb.inodesize) || b.len() < CORE_V3 {
            return Err(InodeError::Invalid {
                ino,
                detail: format!("only {} bytes", b.len()),
            });
        }
        let magic = u16_at(b, 0);
        if magic != MAGIC {
            return Err(InodeError::Magic { ino, magic });
        }
        let version = u8_at(b, 4);
        let ok_version = if sb.is_v5() {
            version == 3
        } else {
            version == 1 || version == 2
        };
        if !ok_version {
            return Err(InodeError::Version { ino, version });
        }
        let core = if version == 3 { CORE_V3 } else { CORE_V2 };
        if version == 3 {
            if !crc_ok(&b[..usize::from(sb.inodesize)], CRC_OFF) {
                return Err(InodeError::Checksum(ino));
            }
            let stored = u64_at(b, 152);
            if stored != ino {
                return Err(InodeError::WrongNumber { ino, stored });
            }
        }
        let mode = u16_at(b, 2);
        if mode == 0 {
            return Err(InodeError::Free(ino));
        }
        let flags2 = if version == 3 { u64_at(b, 120) } else { 0 };
        let bigtime = flags2 & FLAG2_BIGTIME != 0;
        if bigtime && !sb.has_incompat(INCOMPAT_BIGTIME) {
            return Err(InodeError::Invalid {
                ino,
                detail: "bigtime timestamps on a filesystem without the bigtime feature".into(),
            });
        }
        let nrext64 = flags2 & FLAG2_NREXT64 != 0;
        if nrext64 && !sb.has_incompat(INCOMPAT_NREXT64) {
            return Err(InodeError::Invalid {
                ino,
                detail: "large extent counts on a filesystem without nrext64".into(),
            });
        }
        let (nextents, anextents) = if nrext64 {
            (u64_at(b, 24), u32_at(b, 76))
        } else {
            (u64::from(u32_at(b, 76)), u32::from(u16_at(b, 80)))
        };
        let forkoff = u8_at(b, 82);
        let lit = usize::from(sb.inodesize) - core;
        if usize::from(forkoff) * 8 >= lit {
            return Err(InodeError::Invalid {
                ino,
                detail: format!(
                    "attribute fork offset {} past the {lit}-byte literal area",
                    usize::from(forkoff) * 8
                ),
            });
        }
        let format = u8_at(b, 5);
        let ft = FileType::from_mode(u32::from(mode));
        let format_ok = match ft {
            FileType::CharDevice | FileType::BlockDevice | FileType::Fifo | FileType::Socket => {
                format == FMT_DEV
            }
            FileType::Regular => format == FMT_EXTENTS || format == FMT_BTREE,
            FileType::Directory | FileType::Symlink => {
                matches!(format, FMT_LOCAL | FMT_EXTENTS | FMT_BTREE)
            }
            _ => false,
        };
        if !format_ok {
            return Err(InodeError::Invalid {
                ino,
                detail: format!(
                    "data fork format {format} for a {} (mode 0{mode:o})",
                    ft.describe()
                ),
            });
        }
        let nlink = if version == 1 {
            u32::from(u16_at(b, 6))
        } else {
            u32_at(b, 16)
        };
        Ok(Inode {
            ino,
            mode,
            version,
            format,
            uid: u32_at(b, 8),
            gid: u32_at(b, 12),
            nlink,
            atime: time(u64_at(b, 32), bigtime),
            mtime: time(u64_at(b, 40), bigtime),
            ctime: time(u64_at(b, 48), bigtime),
            crtime: (version == 3).then(|| time(u64_at(b, 144), bigtime)),
            size: u64_at(b, 56),
            nblocks: u64_at(b, 64),
            nextents,
            anextents,
            forkoff,
            aformat: u8_at(b, 83),
            flags: u16_at(b, 90),
            flags2,
            next_unlinked: u32_at(b, 96),
            raw,
            core,
        })
    }

    pub fn file_type(&self) -> FileType {
        FileType::from_mode(u32::from(self.mode))
    }

    /// The data fork's bytes in the inode (inline data, extent records or a btree root).
    pub fn data_fork(&self) -> &[u8] {
        let end = if self.forkoff == 0 {
            self.raw.len()
        } else {
            self.core + usize::from(self.forkoff) * 8
        };
        self.raw.get(self.core..end).unwrap_or(&[])
    }

    /// The attribute fork's bytes, when the inode has one.
    pub fn attr_fork(&self) -> Option<&[u8]> {
        if self.forkoff == 0 {
            return None;
        }
        self.raw.get(self.core + usize::from(self.forkoff) * 8..)
    }

    /// Device number of a device inode (`xfs_dinode_get_rdev`, Linux's new encoding).
    pub fn rdev(&self) -> u32 {
        u32_at(self.data_fork(), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        // Classic: seconds and nanoseconds.
        let t = time((1_700_000_000u64 << 32) | 5, false);
        assert_eq!((t.secs, t.nanos), (1_700_000_000, 5));
        let t = time(0xffff_ffffu64 << 32, false);
        assert_eq!(t.secs, -1);
        // Bigtime: nanoseconds since 1901-12-13T20:45:52Z.
        let raw = (1_700_000_000u64 + (1 << 31)) * 1_000_000_000 + 7;
        let t = time(raw, true);
        assert_eq!((t.secs, t.nanos), (1_700_000_000, 7));
    }
}
