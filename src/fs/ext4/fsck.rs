//! A read-only metadata scan, in the passes e2fsck (`e2fsck/pass1.c` … `pass5.c`) uses:
//! 1. every inode of every initialized inode table, checksum verified; its block map (extent
//!    blocks verified) and xattr block marked in a per-group block bitmap;
//! 2. every directory block (leaf and htree checksums), every entry checked against the inode
//!    it names (in range, in use), link references counted;
//! 3. directories connected to the root;
//! 4. link counts against the references found;
//! 5. the on-disk block and inode bitmaps (with their checksums) against what passes 1–2 found,
//!    and the group descriptors' free counts against the bitmaps (not the superblock's: e2fsck
//!    does not count those as errors).
//!
//! Memory is bounded by the filesystem's geometry, not by what it contains: one bit per block
//! and per inode (allocated per group as the group is reached), one byte of state and two of
//! link count per inode, and a parent link per directory. Nothing is written.

use std::collections::{BTreeSet, HashMap};

use super::dir_block::Entry;
use super::group_desc::{BLOCK_UNINIT, INODE_UNINIT};
use super::inode::{FLAG_HUGE_FILE, Inode};
use super::raw::{ROOT_INO, RawError, RawFs};
use super::superblock::{self, RO_COMPAT_BIGALLOC};
use crate::checksum::crc32c_raw;

/// Problems kept per kind of problem, so a wrecked filesystem cannot exhaust memory.
const MAX_PROBLEMS: usize = 10_000;
/// Inodes read from a table at once.
const INODE_CHUNK: usize = 256;

/// What part of the metadata a problem is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    GroupDescriptor,
    Inode,
    Directory,
    Connectivity,
    LinkCount,
    Bitmap,
    FreeCount,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub area: Area,
    /// The inode the problem is about (for a directory entry: the directory).
    pub ino: Option<u32>,
    /// Its path, where the scan found a name for it.
    pub path: Option<String>,
    pub group: Option<u32>,
    /// What is wrong.
    pub detail: String,
    /// Other inode numbers named by the problem (the unused inode an entry points to).
    pub other_inodes: Vec<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Scan {
    pub problems: Vec<Problem>,
    pub inodes_in_use: u64,
    pub directories: u64,
    pub blocks_in_use: u64,
    pub groups: u32,
    /// Problems not kept past `MAX_PROBLEMS`.
    pub dropped: u64,
    /// How a journal that needed recovery was handled before the scan (set by the caller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
}

impl Scan {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Where the scan is, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub pass: u8,
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FsckError {
    #[error("{0}")]
    Unsupported(String),
}

/// One bit per item, in lazily allocated per-group chunks.
struct GroupBits {
    per_group: u64,
    groups: Vec<Option<Vec<u64>>>,
}

impl GroupBits {
    fn new(groups: u32, per_group: u32) -> GroupBits {
        GroupBits {
            per_group: u64::from(per_group),
            groups: vec![None; groups as usize],
        }
    }
    /// Sets bit `i`; returns whether it was set before. Out-of-range bits are ignored (false).
    fn set(&mut self, i: u64) -> bool {
        let g = (i / self.per_group) as usize;
        let o = i % self.per_group;
        let words = self.per_group.div_ceil(64) as usize;
        let Some(slot) = self.groups.get_mut(g) else {
            return false;
        };
        let v = slot.get_or_insert_with(|| vec![0; words]);
        let (w, b) = ((o / 64) as usize, o % 64);
        let was = v[w] >> b & 1 == 1;
        v[w] |= 1 << b;
        was
    }
    fn get(&self, i: u64) -> bool {
        let g = (i / self.per_group) as usize;
        let o = i % self.per_group;
        match self.groups.get(g) {
            Some(Some(v)) => v[(o / 64) as usize] >> (o % 64) & 1 == 1,
            _ => false,
        }
    }
}

/// Per-inode state found by pass 1.
const ST_UNUSED: u8 = 0;
const ST_FILE: u8 = 1;
const ST_DIR: u8 = 2;

struct Ctx<'a> {
    fs: &'a RawFs,
    scan: Scan,
    blocks: GroupBits,
    inodes: GroupBits,
    state: Vec<u8>,
    refs: Vec<u16>,
    /// Directory → (parent named by an entry, the entry's name).
    parent: HashMap<u32, (u32, Vec<u8>)>,
    /// Inodes with a problem, to give them a path once pass 2 has names.
    wanted: BTreeSet<u32>,
    names: HashMap<u32, (u32, Vec<u8>)>,
    xattr_blocks: BTreeSet<u64>,
    dup_reported: usize,
}

impl Ctx<'_> {
    fn problem(&mut self, p: Problem) {
        if self.scan.problems.len() >= MAX_PROBLEMS {
            self.scan.dropped += 1;
            return;
        }
        if let Some(i) = p.ino {
            self.wanted.insert(i);
        }
        self.scan.problems.push(p);
    }

    fn inode_problem(&mut self, area: Area, ino: u32, detail: String) {
        self.problem(Problem {
            area,
            ino: Some(ino),
            path: None,
            group: None,
            detail,
            other_inodes: Vec::new(),
        });
    }

    /// Marks blocks used by inode `ino`; reports blocks outside the filesystem and blocks
    /// claimed twice.
    fn mark(&mut self, ino: u32, start: u64, len: u64) {
        let total = self.fs.sb.blocks_count;
        if start < u64::from(self.fs.sb.first_data_block)
            || start.checked_add(len).is_none_or(|e| e > total)
        {
            self.inode_problem(
                Area::Inode,
                ino,
                format!(
                    "blocks {start}..{} are outside the filesystem (blocks {}..{})",
                    start.saturating_add(len).saturating_sub(1),
                    self.fs.sb.first_data_block,
                    total.saturating_sub(1)
                ),
            );
            return;
        }
        let mut dup = None;
        for b in start..start + len {
            if self.blocks.set(b) && dup.is_none() {
                dup = Some(b);
            }
        }
        if let Some(b) = dup {
            if self.dup_reported < 1000 {
                self.dup_reported += 1;
                self.inode_problem(
                    Area::Inode,
                    ino,
                    format!("block {b} is claimed by another inode or by filesystem metadata"),
                );
            }
        }
    }
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Whether group `g` holds a superblock backup (sparse_super: 0, 1 and powers of 3, 5, 7).
fn has_super(sb: &superblock::Superblock, g: u32, sparse2: Option<(u32, u32)>) -> bool {
    if let Some((a, b)) = sparse2 {
        return g == 0 || g == a || g == b;
    }
    if sb.feature_ro_compat & superblock::RO_COMPAT_SPARSE_SUPER == 0 || g <= 1 {
        return true;
    }
    if g % 2 == 0 {
        return false;
    }
    [3u32, 5, 7].iter().any(|&base| {
        let mut n = base;
        while n < g {
            match n.checked_mul(base) {
                Some(m) => n = m,
                None => return false,
            }
        }
        n == g
    })
}

/// Runs the scan. `progress` is called now and then.
pub fn scan(fs: &RawFs, progress: &mut dyn FnMut(Progress)) -> Result<Scan, FsckError> {
    let sb = &fs.sb;
    if sb.feature_ro_compat & RO_COMPAT_BIGALLOC != 0 {
        return Err(FsckError::Unsupported(
            "bigalloc (cluster bitmaps) is not supported by the metadata scan".into(),
        ));
    }
    if sb.feature_incompat & superblock::INCOMPAT_INLINE_DATA != 0 {
        return Err(FsckError::Unsupported(
            "inline_data is not supported by the metadata scan".into(),
        ));
    }
    let bs = fs.block_size();
    if u64::from(sb.blocks_per_group) > 8 * bs || u64::from(sb.inodes_per_group) > 8 * bs {
        return Err(FsckError::Unsupported(format!(
            "impossible geometry: {} blocks and {} inodes per group with {bs}-byte blocks",
            sb.blocks_per_group, sb.inodes_per_group
        )));
    }
    // Per-inode state is sized by the inode count: it must be one the volume can hold.
    if u64::from(sb.inodes_count) * u64::from(sb.inode_size) > fs.volume_size() {
        return Err(FsckError::Unsupported(format!(
            "{} inodes of {} bytes do not fit the volume",
            sb.inodes_count, sb.inode_size
        )));
    }
    let ngroups = fs.groups.len() as u32;
    let mut c = Ctx {
        fs,
        scan: Scan {
            groups: ngroups,
            ..Scan::default()
        },
        blocks: GroupBits::new(ngroups, sb.blocks_per_group),
        inodes: GroupBits::new(ngroups, sb.inodes_per_group),
        state: vec![ST_UNUSED; sb.inodes_count as usize + 1],
        refs: vec![0; sb.inodes_count as usize + 1],
        parent: HashMap::new(),
        wanted: BTreeSet::new(),
        names: HashMap::new(),
        xattr_blocks: BTreeSet::new(),
        dup_reported: 0,
    };
    for b in &fs.bad_groups {
        c.problem(Problem {
            area: Area::GroupDescriptor,
            ino: None,
            path: None,
            group: Some(b.group),
            detail: format!(
                "group descriptor {} checksum is 0x{:04x}, should be 0x{:04x}",
                b.group, b.stored, b.computed
            ),
            other_inodes: Vec::new(),
        });
    }
    mark_metadata(&mut c);
    pass1(&mut c, progress);
    pass2(&mut c, progress);
    pass3_4(&mut c);
    pass5(&mut c, progress);
    collect_names(&mut c);
    name_problems(&mut c);
    Ok(c.scan)
}

/// Blocks the filesystem itself uses: superblocks and descriptor tables (with reserved
/// descriptor blocks), bitmaps and inode tables.
fn mark_metadata(c: &mut Ctx) {
    let fs = c.fs;
    let sb = &fs.sb;
    let bs = fs.block_size();
    let desc_blocks = (u64::from(c.scan.groups) * u64::from(sb.desc_size)).div_ceil(bs);
    let itable_blocks = (u64::from(sb.inodes_per_group) * u64::from(sb.inode_size)).div_ceil(bs);
    let sparse2 = (sb.feature_compat & superblock::COMPAT_SPARSE_SUPER2 != 0)
        .then(|| fs.read_bytes(superblock::OFFSET + 0x264, 8).ok())
        .flatten()
        .map(|b| (u32_at(&b, 0), u32_at(&b, 4)));
    for g in 0..c.scan.groups {
        let first = u64::from(sb.first_data_block) + u64::from(g) * u64::from(sb.blocks_per_group);
        if has_super(sb, g, sparse2) {
            let n = 1 + desc_blocks + u64::from(sb.reserved_gdt_blocks);
            // Block 0 of a 1 KiB-block filesystem holds the boot sector, before the group.
            let n = n.min(sb.blocks_count.saturating_sub(first));
            for b in first..first + n {
                c.blocks.set(b);
            }
        }
        let gd = fs.groups[g as usize].clone();
        for (what, start, len) in [
            ("block bitmap", gd.block_bitmap, 1),
            ("inode bitmap", gd.inode_bitmap, 1),
            ("inode table", gd.inode_table, itable_blocks),
        ] {
            if start < u64::from(sb.first_data_block) || start.saturating_add(len) > sb.blocks_count
            {
                c.problem(Problem {
                    area: Area::GroupDescriptor,
                    ino: None,
                    path: None,
                    group: Some(g),
                    detail: format!(
                        "group {g}'s {what} at block {start} is outside the filesystem"
                    ),
                    other_inodes: Vec::new(),
                });
                continue;
            }
            for b in start..start + len {
                c.blocks.set(b);
            }
        }
    }
}

fn pass1(c: &mut Ctx, progress: &mut dyn FnMut(Progress)) {
    let fs = c.fs;
    let sb = &fs.sb;
    let isize = usize::from(sb.inode_size);
    let csum = sb.has_group_csum();
    let total = u64::from(sb.inodes_count);
    for g in 0..c.scan.groups {
        progress(Progress {
            pass: 1,
            done: u64::from(g) * u64::from(sb.inodes_per_group),
            total,
        });
        let gd = fs.groups[g as usize].clone();
        if csum && gd.flags & INODE_UNINIT != 0 {
            continue;
        }
        // Inodes past the used part of the table (itable_unused) were never written.
        let used = if csum {
            sb.inodes_per_group.saturating_sub(gd.itable_unused)
        } else {
            sb.inodes_per_group
        };
        let first_ino = g * sb.inodes_per_group + 1;
        let mut i = 0u32;
        while i < used {
            let n = (used - i).min(INODE_CHUNK as u32);
            let off = match fs.inode_offset(first_ino + i) {
                Ok(o) => o,
                Err(e) => {
                    c.problem(Problem {
                        area: Area::GroupDescriptor,
                        ino: None,
                        path: None,
                        group: Some(g),
                        detail: e.to_string(),
                        other_inodes: Vec::new(),
                    });
                    break;
                }
            };
            let chunk = match fs.read_bytes(off, n as usize * isize) {
                Ok(b) => b,
                Err(e) => {
                    c.problem(Problem {
                        area: Area::Inode,
                        ino: Some(first_ino + i),
                        path: None,
                        group: Some(g),
                        detail: format!("inode table unreadable: {e}"),
                        other_inodes: Vec::new(),
                    });
                    i += n;
                    continue;
                }
            };
            for (k, b) in chunk.chunks_exact(isize).enumerate() {
                check_inode(c, first_ino + i + k as u32, b);
            }
            i += n;
        }
    }
}

fn check_inode(c: &mut Ctx, ino: u32, b: &[u8]) {
    let fs = c.fs;
    let sb = &fs.sb;
    let seed = sb.has_metadata_csum().then_some(sb.csum_seed);
    // Quick test before parsing: an inode never used is all zeros.
    let links = u16::from_le_bytes([b[0x1A], b[0x1B]]);
    let mode = u16::from_le_bytes([b[0], b[1]]);
    if links == 0 || mode == 0 {
        return;
    }
    let inode = match Inode::parse(b, ino, seed) {
        Ok(i) => i,
        Err(e) => {
            c.inode_problem(Area::Inode, ino, e.to_string());
            // Go on with the fields as they are, as e2fsck -n does.
            match Inode::parse(b, ino, None) {
                Ok(i) => i,
                Err(_) => return,
            }
        }
    };
    c.scan.inodes_in_use += 1;
    c.inodes.set(u64::from(ino - 1));
    let is_dir = inode.file_type() == crate::fs::FileType::Directory;
    c.state[ino as usize] = if is_dir { ST_DIR } else { ST_FILE };
    if is_dir {
        c.scan.directories += 1;
    }
    // The resize inode maps the reserved descriptor blocks (marked with the metadata) through
    // its double-indirect block; only that block is its own.
    if ino == 7 {
        let dind = u32_at(&inode.block, 13 * 4);
        if dind != 0 {
            c.mark(ino, u64::from(dind), 1);
        }
        return;
    }
    let mut counted = 0u64;
    if inode.file_acl != 0 {
        let blk = inode.file_acl;
        // Attribute blocks are shared (refcounted): count each once.
        if c.xattr_blocks.insert(blk) {
            c.mark(ino, blk, 1);
            if let Some(seed) = seed {
                match fs.read_block(blk) {
                    Ok(bytes) => {
                        if let Err(e) = super::xattr::verify_block(&bytes, blk, seed) {
                            c.inode_problem(Area::Inode, ino, format!("xattr block {blk}: {e}"));
                        }
                    }
                    Err(e) => c.inode_problem(Area::Inode, ino, format!("xattr block {blk}: {e}")),
                }
            }
        }
        counted += 1;
    }
    if inode.has_inline_data() {
        return;
    }
    match fs.map(&inode) {
        Ok(m) => {
            for r in &m.runs {
                c.mark(ino, r.physical, r.len);
                counted += r.len;
            }
            for &b in &m.meta {
                c.mark(ino, b, 1);
                counted += 1;
            }
        }
        Err(e) => {
            c.inode_problem(Area::Inode, ino, e.to_string());
            return;
        }
    }
    // i_blocks counts 512-byte sectors (filesystem blocks with huge_file and its flag).
    let unit = if sb.feature_ro_compat & superblock::RO_COMPAT_HUGE_FILE != 0
        && inode.flags & FLAG_HUGE_FILE != 0
    {
        1
    } else {
        fs.block_size() / 512
    };
    let want = counted * unit;
    if want != inode.blocks {
        c.inode_problem(
            Area::Inode,
            ino,
            format!("i_blocks is {}, should be {want}", inode.blocks),
        );
    }
}

fn pass2(c: &mut Ctx, progress: &mut dyn FnMut(Progress)) {
    let fs = c.fs;
    let total = c.scan.directories;
    let mut done = 0u64;
    let max = fs.sb.inodes_count;
    for ino in 1..=max {
        if c.state[ino as usize] != ST_DIR {
            continue;
        }
        done += 1;
        if done % 256 == 0 {
            progress(Progress {
                pass: 2,
                done,
                total,
            });
        }
        // Checksums were reported by pass 1; read the fields as they are.
        let Ok(b) = fs.inode_bytes(ino) else { continue };
        let Ok(dir) = Inode::parse(&b, ino, None) else {
            continue;
        };
        let blocks = match fs.dir_blocks(&dir) {
            Ok(v) => v,
            Err(e) => {
                c.inode_problem(Area::Directory, ino, e.to_string());
                continue;
            }
        };
        let mut seen_dot = false;
        for (lb, res) in blocks {
            match res {
                Ok(entries) => {
                    for e in entries {
                        entry(c, ino, lb, &e, &mut seen_dot);
                    }
                }
                Err(e) => {
                    let detail = match e {
                        RawError::Dir { block, err, .. } => format!("block {block}: {err}"),
                        other => other.to_string(),
                    };
                    c.inode_problem(Area::Directory, ino, detail);
                }
            }
        }
        if !seen_dot {
            c.inode_problem(Area::Directory, ino, "has no '.' entry".into());
        }
    }
}

fn entry(c: &mut Ctx, dir: u32, lb: u64, e: &Entry, seen_dot: &mut bool) {
    let max = c.fs.sb.inodes_count;
    let shown = String::from_utf8_lossy(&e.name).into_owned();
    if e.inode > max {
        c.problem(Problem {
            area: Area::Directory,
            ino: Some(dir),
            path: None,
            group: None,
            detail: format!(
                "entry '{shown}' (block {lb}) names inode {}, beyond the last inode {max}",
                e.inode
            ),
            other_inodes: Vec::new(),
        });
        return;
    }
    if e.name == b"." {
        *seen_dot = true;
        if e.inode != dir {
            c.inode_problem(
                Area::Directory,
                dir,
                format!("'.' names inode {}, not the directory itself", e.inode),
            );
        }
    }
    let target = e.inode as usize;
    if c.state[target] == ST_UNUSED {
        c.problem(Problem {
            area: Area::Directory,
            ino: Some(dir),
            path: None,
            group: None,
            detail: format!(
                "entry '{shown}' (block {lb}) names deleted/unused inode {}",
                e.inode
            ),
            other_inodes: vec![e.inode],
        });
        return;
    }
    c.refs[target] = c.refs[target].saturating_add(1);
    if e.name == b"." || e.name == b".." {
        return;
    }
    if c.state[target] == ST_DIR {
        if let Some((p, _)) = c.parent.get(&e.inode) {
            let p = *p;
            c.inode_problem(
                Area::Directory,
                e.inode,
                format!("directory is named in both directory {p} and directory {dir}"),
            );
        } else {
            c.parent.insert(e.inode, (dir, e.name.clone()));
        }
    } else if c.wanted.contains(&e.inode) {
        // A name for every file would cost memory per inode: keep one only where a problem
        // needs it (pass 1's are known now; `collect_names` finds the later ones').
        c.names.entry(e.inode).or_insert((dir, e.name.clone()));
    }
}

fn pass3_4(c: &mut Ctx) {
    let max = c.fs.sb.inodes_count;
    let first = c.fs.sb.first_ino;
    for ino in 1..=max {
        let st = c.state[ino as usize];
        if st == ST_UNUSED {
            continue;
        }
        if st == ST_DIR && ino != ROOT_INO && ino >= first {
            // Walk up to the root; a cycle or a missing parent means it is cut off.
            let mut cur = ino;
            let mut steps = 0;
            let connected = loop {
                if cur == ROOT_INO {
                    break true;
                }
                match c.parent.get(&cur) {
                    Some((p, _)) if steps < 4096 => {
                        cur = *p;
                        steps += 1;
                    }
                    _ => break false,
                }
            };
            if !connected {
                c.inode_problem(
                    Area::Connectivity,
                    ino,
                    "directory is not connected to the root".into(),
                );
            }
        }
        if ino < first && ino != ROOT_INO {
            continue;
        }
        let Ok(b) = c.fs.inode_bytes(ino) else {
            continue;
        };
        let links = u16::from_le_bytes([b[0x1A], b[0x1B]]);
        let refs = c.refs[ino as usize];
        // dir_nlink: a directory with more than 65000 subdirectories stores 1.
        let ok = links == refs || (st == ST_DIR && links == 1 && refs > 65000);
        if !ok {
            let detail = if refs == 0 {
                format!("inode is in use (links {links}) but no directory entry names it")
            } else {
                format!("link count is {links}, should be {refs}")
            };
            c.inode_problem(Area::LinkCount, ino, detail);
        }
    }
}

/// Ranges of set bits in a sorted list, as "a..b".
fn ranges(v: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() && out.len() < 16 {
        let s = v[i];
        let mut e = s;
        while i + 1 < v.len() && v[i + 1] == e + 1 {
            i += 1;
            e = v[i];
        }
        out.push(if s == e {
            s.to_string()
        } else {
            format!("{s}..{e}")
        });
        i += 1;
    }
    if i < v.len() {
        out.push("…".into());
    }
    out.join(", ")
}

fn pass5(c: &mut Ctx, progress: &mut dyn FnMut(Progress)) {
    let fs = c.fs;
    let sb = &fs.sb;
    let seed = sb.has_metadata_csum().then_some(sb.csum_seed);
    let csum = sb.has_group_csum();
    let bpg = u64::from(sb.blocks_per_group);
    let ipg = u64::from(sb.inodes_per_group);
    for g in 0..c.scan.groups {
        progress(Progress {
            pass: 5,
            done: u64::from(g),
            total: u64::from(c.scan.groups),
        });
        let gd = fs.groups[g as usize].clone();
        let first = u64::from(sb.first_data_block) + u64::from(g) * bpg;
        let nblocks = sb.blocks_count.saturating_sub(first).min(bpg);
        let group_problem = |c: &mut Ctx, area: Area, detail: String, inodes: Vec<u32>| {
            c.problem(Problem {
                area,
                ino: None,
                path: None,
                group: Some(g),
                detail,
                other_inodes: inodes,
            })
        };
        // Block bitmap.
        let used_found = (first..first + nblocks)
            .filter(|&b| c.blocks.get(b))
            .count() as u64;
        c.scan.blocks_in_use += used_found;
        if csum && gd.flags & BLOCK_UNINIT != 0 {
            let used_desc = nblocks.saturating_sub(u64::from(gd.free_blocks));
            if used_desc != used_found {
                group_problem(
                    c,
                    Area::FreeCount,
                    format!(
                        "block bitmap uninitialized: {} blocks free, counted {}",
                        gd.free_blocks,
                        nblocks - used_found.min(nblocks)
                    ),
                    Vec::new(),
                );
            }
        } else {
            match fs.read_block(gd.block_bitmap) {
                Ok(bm) => {
                    if let Some(seed) = seed {
                        let n = (bpg / 8) as usize;
                        let comp = crc32c_raw(seed, &bm[..n.min(bm.len())]);
                        let (stored, computed) = if gd.bitmap_csum_hi {
                            (gd.block_bitmap_csum, comp)
                        } else {
                            (gd.block_bitmap_csum & 0xFFFF, comp & 0xFFFF)
                        };
                        if stored != computed {
                            group_problem(
                                c,
                                Area::Bitmap,
                                format!(
                                    "block bitmap checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})"
                                ),
                                Vec::new(),
                            );
                        }
                    }
                    let bit = |i: u64| {
                        bm.get((i / 8) as usize)
                            .is_some_and(|x| x >> (i % 8) & 1 == 1)
                    };
                    let mut plus = Vec::new();
                    let mut minus = Vec::new();
                    let mut free = 0u64;
                    for i in 0..nblocks {
                        let on_disk = bit(i);
                        if !on_disk {
                            free += 1;
                        }
                        match (c.blocks.get(first + i), on_disk) {
                            (true, false) => plus.push(first + i),
                            (false, true) => minus.push(first + i),
                            _ => {}
                        }
                    }
                    if !plus.is_empty() {
                        group_problem(
                            c,
                            Area::Bitmap,
                            format!(
                                "blocks in use but marked free in the block bitmap: {}",
                                ranges(&plus)
                            ),
                            Vec::new(),
                        );
                    }
                    if !minus.is_empty() {
                        group_problem(
                            c,
                            Area::Bitmap,
                            format!(
                                "blocks marked in use in the block bitmap but used by nothing: {}",
                                ranges(&minus)
                            ),
                            Vec::new(),
                        );
                    }
                    if free != u64::from(gd.free_blocks) {
                        group_problem(
                            c,
                            Area::FreeCount,
                            format!(
                                "free blocks count is {}, bitmap says {free}",
                                gd.free_blocks
                            ),
                            Vec::new(),
                        );
                    }
                }
                Err(e) => group_problem(
                    c,
                    Area::Bitmap,
                    format!("block bitmap unreadable: {e}"),
                    Vec::new(),
                ),
            }
        }
        // Inode bitmap.
        let first_ino = u64::from(g) * ipg;
        let used_inodes = (first_ino..first_ino + ipg)
            .filter(|&i| c.inodes.get(i))
            .count() as u64;
        let dirs_found = (first_ino..first_ino + ipg)
            .filter(|&i| c.state.get(i as usize + 1) == Some(&ST_DIR))
            .count() as u64;
        if csum && gd.flags & INODE_UNINIT != 0 {
            if used_inodes != 0 {
                group_problem(
                    c,
                    Area::Bitmap,
                    format!("inode bitmap uninitialized but {used_inodes} inodes are in use"),
                    Vec::new(),
                );
            }
        } else {
            match fs.read_block(gd.inode_bitmap) {
                Ok(bm) => {
                    if let Some(seed) = seed {
                        let n = (ipg / 8) as usize;
                        let comp = crc32c_raw(seed, &bm[..n.min(bm.len())]);
                        let (stored, computed) = if gd.bitmap_csum_hi {
                            (gd.inode_bitmap_csum, comp)
                        } else {
                            (gd.inode_bitmap_csum & 0xFFFF, comp & 0xFFFF)
                        };
                        if stored != computed {
                            group_problem(
                                c,
                                Area::Bitmap,
                                format!(
                                    "inode bitmap checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})"
                                ),
                                Vec::new(),
                            );
                        }
                    }
                    let bit = |i: u64| {
                        bm.get((i / 8) as usize)
                            .is_some_and(|x| x >> (i % 8) & 1 == 1)
                    };
                    let mut plus = Vec::new();
                    let mut minus = Vec::new();
                    let mut free = 0u64;
                    for i in 0..ipg {
                        let on_disk = bit(i);
                        if !on_disk {
                            free += 1;
                        }
                        let ino = (first_ino + i + 1) as u32;
                        // Reserved inodes below s_first_ino are always marked.
                        let found = c.inodes.get(first_ino + i) || (ino < sb.first_ino);
                        match (found, on_disk) {
                            (true, false) => plus.push(u64::from(ino)),
                            (false, true) => minus.push(u64::from(ino)),
                            _ => {}
                        }
                    }
                    if !plus.is_empty() {
                        let v: Vec<u32> = plus.iter().map(|&i| i as u32).take(64).collect();
                        group_problem(
                            c,
                            Area::Bitmap,
                            format!(
                                "inodes in use but marked free in the inode bitmap: {}",
                                ranges(&plus)
                            ),
                            v,
                        );
                    }
                    if !minus.is_empty() {
                        let v: Vec<u32> = minus.iter().map(|&i| i as u32).take(64).collect();
                        group_problem(
                            c,
                            Area::Bitmap,
                            format!(
                                "inodes marked in use in the inode bitmap but not in use: {}",
                                ranges(&minus)
                            ),
                            v,
                        );
                    }
                    if free != u64::from(gd.free_inodes) {
                        group_problem(
                            c,
                            Area::FreeCount,
                            format!(
                                "free inodes count is {}, bitmap says {free}",
                                gd.free_inodes
                            ),
                            Vec::new(),
                        );
                    }
                }
                Err(e) => group_problem(
                    c,
                    Area::Bitmap,
                    format!("inode bitmap unreadable: {e}"),
                    Vec::new(),
                ),
            }
        }
        if dirs_found != u64::from(gd.used_dirs) {
            group_problem(
                c,
                Area::FreeCount,
                format!(
                    "directories count is {}, counted {dirs_found}",
                    gd.used_dirs
                ),
                Vec::new(),
            );
        }
    }
    // The superblock's own free counts are not compared: the kernel does not keep them exact
    // (it recomputes them from the group descriptors at mount, and a journal replay restores
    // the superblock as it was last journaled, not as the groups are), and e2fsck treats a
    // mismatch as harmless (`PR_5_FREE_BLOCK_COUNT`/`PR_5_FREE_INODE_COUNT` carry `PR_NO_OK`:
    // `e2fsck -n` prints them and still exits 0). Every filesystem that crashed would
    // otherwise be reported damaged.
}

/// Names for files whose problems were found after pass 2 (link counts): one more walk over
/// the directories, only when there are such files.
fn collect_names(c: &mut Ctx) {
    let missing: BTreeSet<u32> = c
        .wanted
        .iter()
        .copied()
        .filter(|&i| c.state.get(i as usize) == Some(&ST_FILE) && !c.names.contains_key(&i))
        .collect();
    if missing.is_empty() {
        return;
    }
    let fs = c.fs;
    for dir in 1..=fs.sb.inodes_count {
        if c.state[dir as usize] != ST_DIR {
            continue;
        }
        let Ok(b) = fs.inode_bytes(dir) else { continue };
        let Ok(d) = Inode::parse(&b, dir, None) else {
            continue;
        };
        let Ok(blocks) = fs.dir_blocks(&d) else {
            continue;
        };
        for e in blocks.into_iter().filter_map(|(_, r)| r.ok()).flatten() {
            if missing.contains(&e.inode) {
                c.names.entry(e.inode).or_insert((dir, e.name));
            }
        }
    }
}

/// The path of a directory from the parent links, when it reaches the root.
fn dir_path(c: &Ctx, ino: u32) -> Option<String> {
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut cur = ino;
    while cur != ROOT_INO {
        let (p, name) = c.parent.get(&cur)?;
        parts.push(name);
        cur = *p;
        if parts.len() > 4096 {
            return None;
        }
    }
    let mut s = String::new();
    for p in parts.iter().rev() {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(p));
    }
    Some(if s.is_empty() { "/".into() } else { s })
}

fn name_problems(c: &mut Ctx) {
    let mut paths: Vec<Option<String>> = Vec::with_capacity(c.scan.problems.len());
    for p in &c.scan.problems {
        let path = p.ino.and_then(|ino| {
            if c.state.get(ino as usize) == Some(&ST_DIR) || ino == ROOT_INO {
                dir_path(c, ino)
            } else {
                let (d, name) = c.names.get(&ino)?;
                let dp = dir_path(c, *d)?;
                Some(format!(
                    "{}/{}",
                    dp.trim_end_matches('/'),
                    String::from_utf8_lossy(name)
                ))
            }
        });
        paths.push(path);
    }
    for (p, path) in c.scan.problems.iter_mut().zip(paths) {
        p.path = path;
    }
    // In a stable order: by area, then inode, then group.
    c.scan.problems.sort_by_key(|p| (p.area, p.ino, p.group));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superblock_backups() {
        let mut b = vec![0u8; 1024];
        b[0x38..0x3A].copy_from_slice(&superblock::MAGIC.to_le_bytes());
        b[0x64..0x68].copy_from_slice(&superblock::RO_COMPAT_SPARSE_SUPER.to_le_bytes());
        let sb = superblock::Superblock::parse(&b).unwrap();
        let with: Vec<u32> = (0..100).filter(|&g| has_super(&sb, g, None)).collect();
        assert_eq!(with, vec![0, 1, 3, 5, 7, 9, 25, 27, 49, 81]);
        assert!(has_super(&sb, 5, Some((1, 5))));
        assert!(!has_super(&sb, 3, Some((1, 5))));
    }

    #[test]
    fn bits_and_ranges() {
        let mut b = GroupBits::new(2, 100);
        assert!(!b.set(150));
        assert!(b.set(150));
        assert!(b.get(150) && !b.get(149));
        assert!(!b.set(10_000), "out of range is ignored");
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), "1..3, 7, 9..10");
    }
}
