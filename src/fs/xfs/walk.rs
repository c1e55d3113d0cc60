//! A read-only metadata walk, in the spirit of `xfs_repair -n` (phases 2 to 7): the inode
//! btrees of every AG give the allocated inodes (sparse chunks honoured), every allocated
//! inode is read and verified, directories are read and their entries checked against the
//! allocation, the tree is walked from the root for connectivity, link counts are recounted,
//! and every extent must lie inside its AG (and, without reflink, be claimed once).
//! Structures: `xfs_format.h: xfs_inobt_rec`, short-format btree blocks ("IABT"/"IAB3").
//!
//! Bounds: `MAX_INODES` inodes, `MAX_PROBLEMS` problems listed; btree levels must descend by
//! one and blocks are visited once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;

use super::be::{crc_ok, u16_at, u32_at, u64_at};
use super::disk::Disk;
use super::inode::Inode;
use super::superblock::{RO_COMPAT_REFLINK, Superblock};
use super::{XfsBackend, XfsError};
use crate::fs::FileType;
use crate::volume::Slice;

pub const MAX_INODES: usize = 20_000_000;
pub const MAX_PROBLEMS: usize = 1000;
/// Inode btree blocks visited per AG at most (a real AG of 10 million inodes has ~700).
const MAX_INOBT_BLOCKS: usize = 262_144;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub ino: Option<u64>,
    /// A guest path of the inode, when the walk reached it.
    pub path: Option<PathBuf>,
    pub detail: String,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct WalkReport {
    pub inodes: u64,
    pub directories: u64,
    pub problems: Vec<Problem>,
    /// More problems were found than are listed.
    pub truncated: bool,
}

impl WalkReport {
    fn push(&mut self, ino: Option<u64>, path: Option<PathBuf>, detail: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem { ino, path, detail });
        } else {
            self.truncated = true;
        }
    }
}

/// Walks the XFS filesystem on `slice`.
pub fn check(slice: &Slice) -> Result<WalkReport, XfsError> {
    let sb = super::read_superblock(slice)?;
    let backend = XfsBackend {
        disk: Disk::new(slice.clone(), sb.clone()),
        dirs: Default::default(),
        dir_entries: Default::default(),
    };
    let mut rep = WalkReport::default();
    let allocated = allocated_inodes(&backend.disk, &mut rep)?;
    walk(&backend, &sb, &allocated, &mut rep);
    Ok(rep)
}

/// The allocated inodes of every AG, from the inode btrees.
fn allocated_inodes(disk: &Disk, rep: &mut WalkReport) -> Result<HashSet<u64>, XfsError> {
    let sb = disk.sb();
    let mut out = HashSet::new();
    for agno in 0..sb.agcount.min(super::ag::MAX_AGS_CHECKED) {
        let ss = u64::from(sb.sectsize);
        let agi = match disk.read_bytes(sb.ag_offset(agno) + 2 * ss, ss as usize) {
            Ok(b) if b.get(0..4) == Some(&b"XAGI"[..]) => b,
            _ => {
                rep.push(
                    None,
                    None,
                    format!("AG {agno}: AGI unreadable or bad magic"),
                );
                continue;
            }
        };
        let root = u32_at(&agi, 20);
        let level = u32_at(&agi, 24);
        if level == 0 || level > 9 || root == 0 || root >= sb.agblocks {
            rep.push(
                None,
                None,
                format!("AG {agno}: inode btree root {root} level {level}"),
            );
            continue;
        }
        let mut seen = HashSet::new();
        inobt(disk, agno, root, level - 1, &mut seen, &mut out, rep)?;
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn inobt(
    disk: &Disk,
    agno: u32,
    agbno: u32,
    level: u32,
    seen: &mut HashSet<u32>,
    out: &mut HashSet<u64>,
    rep: &mut WalkReport,
) -> Result<(), XfsError> {
    let sb = disk.sb();
    let here = format!("AG {agno} inode btree block {agbno}");
    if agbno >= sb.agblocks || !seen.insert(agbno) {
        rep.push(
            None,
            None,
            format!("{here}: outside the AG or referenced twice"),
        );
        return Ok(());
    }
    if seen.len() > MAX_INOBT_BLOCKS {
        rep.push(
            None,
            None,
            format!("AG {agno}: inode btree of more than {MAX_INOBT_BLOCKS} blocks"),
        );
        return Ok(());
    }
    let block = u64::from(agno) * u64::from(sb.agblocks) + u64::from(agbno);
    let b = match disk.read_block(block) {
        Ok(b) => b,
        Err(e) => {
            rep.push(None, None, format!("{here}: {e}"));
            return Ok(());
        }
    };
    let v5 = sb.is_v5();
    let (magic, hdr) = if v5 {
        (&b"IAB3"[..], 56)
    } else {
        (&b"IABT"[..], 16)
    };
    if b.get(0..4) != Some(magic) {
        rep.push(None, None, format!("{here}: bad magic"));
        return Ok(());
    }
    if v5 && !crc_ok(&b, 52) {
        rep.push(None, None, format!("{here}: checksum mismatch"));
        return Ok(());
    }
    let blevel = u32::from(u16_at(&b, 4));
    let numrecs = usize::from(u16_at(&b, 6));
    if blevel != level {
        rep.push(
            None,
            None,
            format!("{here}: level {blevel}, expected {level}"),
        );
        return Ok(());
    }
    let space = b.len() - hdr;
    if level == 0 {
        if numrecs > space / 16 {
            rep.push(None, None, format!("{here}: {numrecs} records"));
            return Ok(());
        }
        let sparse = sb.has_incompat(super::superblock::INCOMPAT_SPINODES);
        let agino_bits = u32::from(sb.agblklog) + u32::from(sb.inopblog);
        for r in 0..numrecs {
            let o = hdr + r * 16;
            let start = u64::from(u32_at(&b, o));
            let holemask = if sparse { u16_at(&b, o + 4) } else { 0 };
            let free = u64_at(&b, o + 8);
            for i in 0..64u64 {
                if holemask & (1 << (i / 4)) != 0 || free & (1 << i) != 0 {
                    continue;
                }
                if out.len() >= MAX_INODES {
                    return Err(XfsError::Limit {
                        ino: 0,
                        detail: format!("more than {MAX_INODES} inodes to walk"),
                    });
                }
                out.insert((u64::from(agno) << agino_bits) | (start + i));
            }
        }
        return Ok(());
    }
    let maxrecs = space / 8;
    if numrecs == 0 || numrecs > maxrecs {
        rep.push(None, None, format!("{here}: {numrecs} node records"));
        return Ok(());
    }
    for r in 0..numrecs {
        let ptr = u32_at(&b, hdr + maxrecs * 4 + r * 4);
        inobt(disk, agno, ptr, level - 1, seen, out, rep)?;
    }
    Ok(())
}

/// Inodes the superblock points at that are not in the directory tree.
fn metadata_inodes(disk: &Disk) -> HashSet<u64> {
    let sb = disk.sb();
    let mut b = vec![0u8; 264];
    let _ = disk.slice().read_exact_at(0, &mut b);
    // sb_rbmino, sb_rsumino, sb_uquotino, sb_gquotino, sb_pquotino, sb_metadirino.
    [64usize, 72, 160, 168, 232]
        .iter()
        .map(|&o| u64_at(&b, o))
        .chain(std::iter::once(sb.rootino))
        .filter(|&i| i != 0 && i != u64::MAX)
        .collect()
}

fn walk(backend: &XfsBackend, sb: &Superblock, allocated: &HashSet<u64>, rep: &mut WalkReport) {
    let reflink = sb.has_ro_compat(RO_COMPAT_REFLINK);
    // One bit per block (at most 32 MiB for 2^28 blocks); reflinked blocks may be shared.
    let track_claims = !reflink && sb.dblocks <= 1 << 28;
    let mut claimed: Vec<u64> = if track_claims {
        vec![0; sb.dblocks.div_ceil(64) as usize]
    } else {
        Vec::new()
    };
    let mut parsed: HashMap<u64, (FileType, u32)> = HashMap::new();
    let mut inos: Vec<u64> = allocated.iter().copied().collect();
    inos.sort_unstable();
    for &ino in &inos {
        rep.inodes += 1;
        let ip = match backend.inode(ino) {
            Ok(ip) => ip,
            Err(e) => {
                rep.push(
                    Some(ino),
                    None,
                    format!("allocated inode {ino} is bad: {e}"),
                );
                continue;
            }
        };
        parsed.insert(ino, (ip.file_type(), ip.nlink));
        extents(backend, &ip, track_claims, &mut claimed, rep);
    }
    // The tree from the root: reachability, entries, link counts.
    let mut refs: HashMap<u64, u32> = HashMap::new();
    let mut subdirs: HashMap<u64, u32> = HashMap::new();
    let mut paths: HashMap<u64, PathBuf> = HashMap::new();
    let mut queue = VecDeque::from([(sb.rootino, PathBuf::from("/"))]);
    let mut visited = HashSet::new();
    while let Some((dino, path)) = queue.pop_front() {
        if !visited.insert(dino) {
            rep.push(
                Some(dino),
                Some(path),
                format!(
                    "directory inode {dino} is reached twice (a directory hard link or a loop)"
                ),
            );
            continue;
        }
        paths.insert(dino, path.clone());
        let Some(ip) = backend.inode(dino).ok() else {
            continue;
        };
        rep.directories += 1;
        let entries = match backend.read_directory(&ip) {
            Ok(e) => e,
            Err(e) => {
                rep.push(Some(dino), Some(path), format!("directory unreadable: {e}"));
                continue;
            }
        };
        for e in entries {
            let child = path.join(std::ffi::OsStr::new(
                std::str::from_utf8(&e.name).unwrap_or("?"),
            ));
            if !allocated.contains(&e.ino) {
                rep.push(Some(e.ino), Some(child), format!("entry in directory inode {dino} points to inode {}, which is not allocated", e.ino));
                continue;
            }
            let Some(&(ft, _)) = parsed.get(&e.ino) else {
                rep.push(
                    Some(e.ino),
                    Some(child),
                    format!(
                        "entry in directory inode {dino} points to bad inode {}",
                        e.ino
                    ),
                );
                continue;
            };
            if sb.has_ftype() {
                if let Some(eft) = super::dir::ftype_to_type(e.ftype) {
                    if eft != ft {
                        rep.push(
                            Some(e.ino),
                            Some(child.clone()),
                            format!(
                                "entry type {} but inode {} is a {}",
                                eft.describe(),
                                e.ino,
                                ft.describe()
                            ),
                        );
                    }
                }
            }
            *refs.entry(e.ino).or_default() += 1;
            paths.entry(e.ino).or_insert_with(|| child.clone());
            if ft == FileType::Directory {
                *subdirs.entry(dino).or_default() += 1;
                queue.push_back((e.ino, child));
            }
        }
    }
    let meta = metadata_inodes(&backend.disk);
    for &ino in &inos {
        let Some(&(ft, nlink)) = parsed.get(&ino) else {
            continue;
        };
        let path = paths.get(&ino).cloned();
        if meta.contains(&ino) && ino != sb.rootino {
            continue;
        }
        let r = refs.get(&ino).copied().unwrap_or(0);
        if r == 0 && ino != sb.rootino {
            rep.push(
                Some(ino),
                None,
                format!("inode {ino} is allocated but no directory entry names it (disconnected)"),
            );
            continue;
        }
        let want = if ft == FileType::Directory {
            2 + subdirs.get(&ino).copied().unwrap_or(0)
        } else {
            r
        };
        if nlink != want {
            rep.push(
                Some(ino),
                path,
                format!("inode {ino} has link count {nlink}, should be {want}"),
            );
        }
    }
}

fn extents(
    backend: &XfsBackend,
    ip: &Inode,
    track: bool,
    claimed: &mut [u64],
    rep: &mut WalkReport,
) {
    let sb = backend.disk.sb();
    let exts = match ip.format {
        super::inode::FMT_EXTENTS | super::inode::FMT_BTREE => match backend.data_extents(ip) {
            Ok(e) => e,
            Err(e) => {
                rep.push(
                    Some(ip.ino),
                    None,
                    format!("data fork of inode {}: {e}", ip.ino),
                );
                return;
            }
        },
        _ => return,
    };
    let agmask = (1u64 << sb.agblklog) - 1;
    for e in exts {
        let agbno = e.fsb & agmask;
        if sb.fsb_to_block(e.fsb).is_none() || agbno + e.count > u64::from(sb.agblocks) {
            rep.push(
                Some(ip.ino),
                None,
                format!(
                    "inode {} maps {} blocks at block {} outside its allocation group",
                    ip.ino, e.count, e.fsb
                ),
            );
            continue;
        }
        if track {
            let Some(first) = sb.fsb_to_block(e.fsb) else {
                continue;
            };
            for b in first..first + e.count {
                let (w, bit) = ((b / 64) as usize, 1u64 << (b % 64));
                let Some(word) = claimed.get_mut(w) else {
                    break;
                };
                if *word & bit != 0 {
                    rep.push(
                        Some(ip.ino),
                        None,
                        format!(
                            "inode {} claims block {b}, which another extent already uses",
                            ip.ino
                        ),
                    );
                    break;
                }
                *word |= bit;
            }
        }
    }
}
