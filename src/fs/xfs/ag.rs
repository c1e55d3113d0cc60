//! Allocation group headers: the superblock copy, AGF (free space), AGI (inodes) and AGFL (free
//! list) of every AG (`xfs_format.h: xfs_agf`, `xfs_agi`, `xfs_agfl`), checked as the
//! kernel's verifiers check them (`xfs_alloc.c: xfs_agf_verify`, `xfs_ialloc.c:
//! xfs_agi_verify`, `xfs_alloc.c: xfs_agfl_verify`), and the free counts summed from them (as
//! `xfs_initialize_perag_data` does at mount).

use super::be::{crc_ok, u32_at};
use super::disk::Disk;
use super::superblock::Superblock;

const AGF_CRC_OFF: usize = 216;
const AGI_CRC_OFF: usize = 312;
const AGFL_CRC_OFF: usize = 32;
/// `XFS_BTREE_MAXLEVELS`-style bound on the AG btrees' heights.
const MAX_AG_LEVELS: u32 = 9;
/// AGs checked at most (each costs four sector reads).
pub const MAX_AGS_CHECKED: u32 = 100_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgProblem {
    pub agno: u32,
    /// `superblock copy`, `AGF`, `AGI`, `AGFL`.
    pub header: &'static str,
    pub detail: String,
}

/// Free space and inode counts summed over the AGs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Free data blocks: free extents, the free lists and the free-space btrees' own blocks
    /// (what the kernel calls `fdblocks`).
    pub free_blocks: u64,
    /// Inodes allocated (in inode chunks) and, of them, free.
    pub icount: u64,
    pub ifree: u64,
}

fn sector(disk: &Disk, agno: u32, n: u64) -> Result<Vec<u8>, String> {
    let sb = disk.sb();
    let ss = u64::from(sb.sectsize);
    disk.read_bytes(sb.ag_offset(agno) + n * ss, ss as usize)
        .map_err(|e| e.to_string())
}

/// The length AG `agno` must have: `agblocks`, the last one what is left.
fn ag_length(sb: &Superblock, agno: u32) -> u64 {
    let start = u64::from(agno) * u64::from(sb.agblocks);
    (sb.dblocks - start).min(u64::from(sb.agblocks))
}

/// Number of AGFL slots (`xfs_agfl_size`).
fn agfl_size(sb: &Superblock) -> u32 {
    let hdr = if sb.is_v5() { 36 } else { 0 };
    (u32::from(sb.sectsize) - hdr) / 4
}

fn check_agf(sb: &Superblock, agno: u32, b: &[u8]) -> Result<(), String> {
    if b.get(0..4) != Some(&b"XAGF"[..]) {
        return Err("bad magic".into());
    }
    if sb.is_v5() && !crc_ok(b, AGF_CRC_OFF) {
        return Err("checksum mismatch".into());
    }
    if u32_at(b, 4) != 1 {
        return Err(format!("version {}", u32_at(b, 4)));
    }
    if u32_at(b, 8) != agno {
        return Err(format!("records AG number {}", u32_at(b, 8)));
    }
    let length = u64::from(u32_at(b, 12));
    if length != ag_length(sb, agno) {
        return Err(format!(
            "length {length} blocks, expected {}",
            ag_length(sb, agno)
        ));
    }
    for (i, name) in ["free-space (by block)", "free-space (by size)"]
        .iter()
        .enumerate()
    {
        let level = u32_at(b, 28 + 4 * i);
        if level == 0 || level > MAX_AG_LEVELS {
            return Err(format!("{name} btree level {level}"));
        }
        let root = u64::from(u32_at(b, 16 + 4 * i));
        if root == 0 || root >= length {
            return Err(format!("{name} btree root {root} outside the AG"));
        }
    }
    let size = agfl_size(sb);
    let (first, last, count) = (u32_at(b, 40), u32_at(b, 44), u32_at(b, 48));
    if first >= size || last >= size || count > size {
        return Err(format!(
            "free list first {first}, last {last}, count {count} with {size} slots"
        ));
    }
    let free = u64::from(u32_at(b, 52));
    if free > length {
        return Err(format!("{free} free blocks in an AG of {length}"));
    }
    if sb.is_v5()
        && b.get(64..80) != Some(&sb.uuid[..])
        && !sb.has_incompat(super::superblock::INCOMPAT_META_UUID)
    {
        return Err("UUID differs from the superblock's".into());
    }
    Ok(())
}

fn check_agi(sb: &Superblock, agno: u32, b: &[u8]) -> Result<(), String> {
    if b.get(0..4) != Some(&b"XAGI"[..]) {
        return Err("bad magic".into());
    }
    if sb.is_v5() && !crc_ok(b, AGI_CRC_OFF) {
        return Err("checksum mismatch".into());
    }
    if u32_at(b, 4) != 1 {
        return Err(format!("version {}", u32_at(b, 4)));
    }
    if u32_at(b, 8) != agno {
        return Err(format!("records AG number {}", u32_at(b, 8)));
    }
    let length = u64::from(u32_at(b, 12));
    if length != ag_length(sb, agno) {
        return Err(format!(
            "length {length} blocks, expected {}",
            ag_length(sb, agno)
        ));
    }
    let level = u32_at(b, 24);
    if level == 0 || level > MAX_AG_LEVELS {
        return Err(format!("inode btree level {level}"));
    }
    let (count, free) = (u32_at(b, 16), u32_at(b, 28));
    if free > count {
        return Err(format!("{free} free inodes of {count}"));
    }
    Ok(())
}

fn check_agfl(sb: &Superblock, agno: u32, b: &[u8]) -> Result<(), String> {
    if !sb.is_v5() {
        // v4 free lists have no header to check.
        return Ok(());
    }
    if b.get(0..4) != Some(&b"XAFL"[..]) {
        return Err("bad magic".into());
    }
    if !crc_ok(b, AGFL_CRC_OFF) {
        return Err("checksum mismatch".into());
    }
    if u32_at(b, 4) != agno {
        return Err(format!("records AG number {}", u32_at(b, 4)));
    }
    Ok(())
}

fn check_sb_copy(sb: &Superblock, b: &[u8]) -> Result<(), String> {
    let copy = Superblock::parse(b).map_err(|e| e.to_string())?;
    if copy.uuid != sb.uuid
        || copy.blocksize != sb.blocksize
        || copy.agblocks != sb.agblocks
        || copy.versionnum & 0xf != sb.versionnum & 0xf
    {
        return Err("geometry or UUID differs from the primary superblock".into());
    }
    Ok(())
}

/// Checks every AG's headers (and the superblock copies of AGs 1 and up).
pub fn check_all(disk: &Disk) -> Vec<AgProblem> {
    let sb = disk.sb();
    let mut out = Vec::new();
    for agno in 0..sb.agcount.min(MAX_AGS_CHECKED) {
        let mut push = |header, detail: String| {
            out.push(AgProblem {
                agno,
                header,
                detail,
            })
        };
        if agno > 0 {
            match sector(disk, agno, 0) {
                Ok(b) => {
                    if let Err(d) = check_sb_copy(sb, &b) {
                        push("superblock copy", d);
                    }
                }
                Err(e) => push("superblock copy", e),
            }
        }
        type Check = fn(&Superblock, u32, &[u8]) -> Result<(), String>;
        let checks: [(&'static str, u64, Check); 3] = [
            ("AGF", 1, check_agf),
            ("AGI", 2, check_agi),
            ("AGFL", 3, check_agfl),
        ];
        for (name, n, check) in checks {
            match sector(disk, agno, n) {
                Ok(b) => {
                    if let Err(d) = check(sb, agno, &b) {
                        push(name, d);
                    }
                }
                Err(e) => push(name, e),
            }
        }
    }
    out
}

/// Free blocks and inodes from the AGF and AGI of every AG; an error when one is unusable.
pub fn counts(disk: &Disk) -> Result<Counts, String> {
    let sb = disk.sb();
    if sb.agcount > MAX_AGS_CHECKED {
        return Err(format!("{} AGs", sb.agcount));
    }
    let mut c = Counts {
        free_blocks: 0,
        icount: 0,
        ifree: 0,
    };
    for agno in 0..sb.agcount {
        let agf = sector(disk, agno, 1)?;
        check_agf(sb, agno, &agf)?;
        let agi = sector(disk, agno, 2)?;
        check_agi(sb, agno, &agi)?;
        c.free_blocks +=
            u64::from(u32_at(&agf, 52)) + u64::from(u32_at(&agf, 48)) + u64::from(u32_at(&agf, 60));
        c.icount += u64::from(u32_at(&agi, 16));
        c.ifree += u64::from(u32_at(&agi, 28));
    }
    Ok(c)
}
