//! Block mapping of a fork: extent records (`xfs_format.h: xfs_bmbt_rec`, 128 bits) in the
//! inode or in a block-map btree (`xfs_bmdr_block` root in the inode, `xfs_btree_block` long
//! format blocks below it, "BMAP"/"BMA3"), as `xfs_bmap.c: xfs_bmap_read_extents` and
//! `xfs_iext_*` read them.
//!
//! Bounds for hostile volumes: at most `MAX_EXTENTS` records per fork; btree levels must
//! descend by exactly one per step (so no pointer cycle can loop) and never exceed
//! `MAX_LEVELS`; a block visited twice is corruption; extents must not overlap.

use std::collections::HashSet;

use super::be::{crc_ok, u16_at, u64_at};
use super::disk::Disk;
use super::error::XfsError;

/// More extents than any real fork this tool needs to read; a crafted count beyond it is
/// refused rather than allocated.
pub const MAX_EXTENTS: usize = 1 << 21;
/// `XFS_BM_MAXLEVELS` is 9 for 64-bit extent counts.
pub const MAX_LEVELS: u16 = 9;

const BMAP_MAGIC: &[u8; 4] = b"BMAP";
const BMA3_MAGIC: &[u8; 4] = b"BMA3";
/// Long-format btree block header sizes (`XFS_BTREE_LBLOCK_LEN`, `XFS_BTREE_LBLOCK_CRC_LEN`).
const LBLOCK_LEN: usize = 24;
const LBLOCK_CRC_LEN: usize = 72;
const LBLOCK_CRC_OFF: usize = 64;

/// One mapping: `count` blocks of the file from block `offset` are at filesystem block `fsb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub fsb: u64,
    pub count: u64,
    /// Allocated but never written (preallocated): reads as zeros.
    pub unwritten: bool,
}

impl Extent {
    /// Unpacks a 16-byte record: 1 bit unwritten flag, 54 bits file offset, 52 bits start
    /// block, 21 bits length.
    pub fn unpack(rec: &[u8]) -> Extent {
        let l0 = u64_at(rec, 0);
        let l1 = u64_at(rec, 8);
        Extent {
            unwritten: l0 >> 63 != 0,
            offset: (l0 & ((1u64 << 63) - 1)) >> 9,
            fsb: ((l0 & 0x1ff) << 43) | (l1 >> 21),
            count: l1 & ((1u64 << 21) - 1),
        }
    }
}

/// Which fork of the inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    Data,
    Attr,
}

/// Reads the extent list of a fork in extents format: `n` records in `fork`.
pub fn extent_list(fork: &[u8], n: u64, ino: u64) -> Result<Vec<Extent>, XfsError> {
    let fit = (fork.len() / 16) as u64;
    if n > fit {
        return Err(XfsError::corrupt(
            "extent list",
            ino,
            format!("{n} extents do not fit the {}-byte fork", fork.len()),
        ));
    }
    let exts: Vec<Extent> = fork
        .chunks_exact(16)
        .take(n as usize)
        .map(Extent::unpack)
        .collect();
    check_sorted(exts, ino)
}

/// Reads every extent of a fork in btree format, whose root (`xfs_bmdr_block`) is `root`.
pub fn btree(disk: &Disk, root: &[u8], ino: u64, expected: u64) -> Result<Vec<Extent>, XfsError> {
    let level = u16_at(root, 0);
    let numrecs = usize::from(u16_at(root, 2));
    if level == 0 || level > MAX_LEVELS {
        return Err(XfsError::corrupt(
            "block map btree root",
            ino,
            format!("level {level} (1..={MAX_LEVELS} allowed in an inode root)"),
        ));
    }
    // xfs_bmdr_maxrecs: keys and pointers share the space after the 4-byte header.
    let maxrecs = root.len().saturating_sub(4) / 16;
    if numrecs == 0 || numrecs > maxrecs {
        return Err(XfsError::corrupt(
            "block map btree root",
            ino,
            format!("{numrecs} records (at most {maxrecs} fit)"),
        ));
    }
    if expected > MAX_EXTENTS as u64 {
        return Err(XfsError::Limit {
            ino,
            detail: format!(
                "{expected} extents: more than the {MAX_EXTENTS} this reader maps per file"
            ),
        });
    }
    let ptr_at = 4 + maxrecs * 8;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for i in 0..numrecs {
        let ptr = u64_at(root, ptr_at + i * 8);
        walk(disk, ptr, level - 1, ino, &mut seen, &mut out)?;
    }
    check_sorted(out, ino)
}

fn walk(
    disk: &Disk,
    fsb: u64,
    level: u16,
    ino: u64,
    seen: &mut HashSet<u64>,
    out: &mut Vec<Extent>,
) -> Result<(), XfsError> {
    let sb = disk.sb();
    if !seen.insert(fsb) {
        return Err(XfsError::corrupt(
            "block map btree",
            ino,
            format!("block {fsb} is referenced twice (a cycle or a shared block)"),
        ));
    }
    let block = disk
        .read_fsb(fsb, 1)
        .map_err(|e| XfsError::corrupt("block map btree", ino, format!("block {fsb}: {e}")))?;
    let v5 = sb.is_v5();
    let (magic, hdr) = if v5 {
        (BMA3_MAGIC, LBLOCK_CRC_LEN)
    } else {
        (BMAP_MAGIC, LBLOCK_LEN)
    };
    let bad = |d: String| XfsError::corrupt("block map btree", ino, format!("block {fsb}: {d}"));
    if block.get(0..4) != Some(&magic[..]) {
        return Err(bad(format!(
            "bad magic {:02x?}",
            block.get(0..4).unwrap_or(&[])
        )));
    }
    if v5 {
        if !crc_ok(&block, LBLOCK_CRC_OFF) {
            return Err(bad("checksum mismatch".into()));
        }
        let owner = u64_at(&block, 56);
        if owner != ino {
            return Err(bad(format!("owned by inode {owner}")));
        }
    }
    let blevel = u16_at(&block, 4);
    if blevel != level {
        return Err(bad(format!("level {blevel}, expected {level}")));
    }
    let numrecs = usize::from(u16_at(&block, 6));
    let space = block.len() - hdr;
    if level == 0 {
        if numrecs == 0 || numrecs > space / 16 {
            return Err(bad(format!("{numrecs} leaf records")));
        }
        if out.len() + numrecs > MAX_EXTENTS {
            return Err(XfsError::Limit {
                ino,
                detail: format!("more than {MAX_EXTENTS} extents"),
            });
        }
        out.extend(
            block[hdr..hdr + numrecs * 16]
                .chunks_exact(16)
                .map(Extent::unpack),
        );
        return Ok(());
    }
    let maxrecs = space / 16;
    if numrecs == 0 || numrecs > maxrecs {
        return Err(bad(format!("{numrecs} node records (at most {maxrecs})")));
    }
    let ptr_at = hdr + maxrecs * 8;
    for i in 0..numrecs {
        let ptr = u64_at(&block, ptr_at + i * 8);
        walk(disk, ptr, level - 1, ino, seen, out)?;
    }
    Ok(())
}

/// Extents must be in file order and must not overlap (`xfs_bmap_validate_extent`).
fn check_sorted(exts: Vec<Extent>, ino: u64) -> Result<Vec<Extent>, XfsError> {
    let mut end = 0u64;
    for (i, e) in exts.iter().enumerate() {
        if e.count == 0 {
            return Err(XfsError::corrupt(
                "extent",
                ino,
                format!("extent {i} has length 0"),
            ));
        }
        if i > 0 && e.offset < end {
            return Err(XfsError::corrupt(
                "extent",
                ino,
                format!(
                    "extent {i} at file block {} overlaps the previous one",
                    e.offset
                ),
            ));
        }
        end = e.offset.saturating_add(e.count);
    }
    Ok(exts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(e: Extent) -> [u8; 16] {
        let l0 = (u64::from(e.unwritten) << 63) | (e.offset << 9) | (e.fsb >> 43);
        let l1 = (e.fsb << 21) | e.count;
        let mut r = [0u8; 16];
        r[..8].copy_from_slice(&l0.to_be_bytes());
        r[8..].copy_from_slice(&l1.to_be_bytes());
        r
    }

    #[test]
    fn records_round_trip() {
        let e = Extent {
            offset: (1 << 54) - 1,
            fsb: (1 << 52) - 3,
            count: (1 << 21) - 1,
            unwritten: true,
        };
        assert_eq!(Extent::unpack(&pack(e)), e);
        let e = Extent {
            offset: 7,
            fsb: 1234,
            count: 3,
            unwritten: false,
        };
        assert_eq!(Extent::unpack(&pack(e)), e);
    }

    #[test]
    fn list_is_bounded_and_ordered() {
        let a = pack(Extent {
            offset: 0,
            fsb: 10,
            count: 4,
            unwritten: false,
        });
        let b = pack(Extent {
            offset: 2,
            fsb: 20,
            count: 1,
            unwritten: false,
        });
        let mut fork = a.to_vec();
        fork.extend_from_slice(&b);
        assert!(extent_list(&fork, 1, 5).is_ok());
        assert!(extent_list(&fork, 2, 5).is_err(), "overlap");
        assert!(extent_list(&fork, 3, 5).is_err(), "does not fit");
    }
}
