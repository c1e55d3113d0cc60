//! The project's own read-only access to ext2/3/4 metadata: group descriptors, inodes by number,
//! block maps (extent trees with unwritten extents, and ext2/3 indirect blocks), directories,
//! symlinks and extended attributes — what `ext4-view` 1.0 hides or misreads (see the README's
//! dependency notes). Every checksum the filesystem carries is verified as it is read.
//!
//! Everything read off the volume is bounded before it sizes an allocation: the descriptor table
//! must lie inside the volume, directories above `MAX_DIR_BYTES` and block maps above `MAX_RUNS`
//! runs are refused with a precise error.

use std::io::Read;

use super::dir_block::{self, DirBlockError, Entry};
use super::extent::{self, ExtentError, Node};
use super::group_desc::{self, BadChecksum, GroupDesc, GroupDescError};
use super::inode::{self, Inode, InodeError};
use super::superblock::{self, Superblock};
use super::xattr::{self, XattrError};
use crate::volume::Slice;

/// Directories larger than this are refused (the kernel's own limit without large_dir is 2 GiB
/// of 4 KiB blocks in theory; real ones stay far below 16 MiB).
pub const MAX_DIR_BYTES: u64 = 256 * 1024 * 1024;
/// Runs (extents or contiguous block ranges) one file may map to.
pub const MAX_RUNS: usize = 1 << 20;
/// Symlink targets longer than a block are refused (`PATH_MAX` is 4096).
const MAX_LINK: u64 = 65536;

/// The root directory's inode.
pub const ROOT_INO: u32 = 2;

/// Where raw bytes come from: a partition, or memory (tests and fuzzing).
pub trait BlockRead {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), String>;
    fn size(&self) -> u64;
}

impl BlockRead for Slice {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        self.read_exact_at(offset, buf).map_err(|e| e.to_string())
    }
    fn size(&self) -> u64 {
        self.len()
    }
}

impl BlockRead for Vec<u8> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let start = usize::try_from(offset).map_err(|_| "offset too large".to_string())?;
        let end = start
            .checked_add(buf.len())
            .filter(|&e| e <= self.len())
            .ok_or_else(|| format!("read of {} bytes at {offset} is past the end", buf.len()))?;
        buf.copy_from_slice(&self[start..end]);
        Ok(())
    }
    fn size(&self) -> u64 {
        self.len() as u64
    }
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RawError {
    #[error("{0}")]
    Io(String),
    #[error("group descriptors: {0}")]
    GroupDesc(#[from] GroupDescError),
    #[error("{0}")]
    Inode(#[from] InodeError),
    #[error("inode {ino}: {err}{}", block.map(|b| format!(" (extent block {b})")).unwrap_or_default())]
    Extent {
        ino: u32,
        block: Option<u64>,
        err: ExtentError,
    },
    #[error("directory inode {ino}, block {block}: {err}")]
    Dir {
        ino: u32,
        block: u64,
        err: DirBlockError,
    },
    #[error("inode {ino}: {err}")]
    Xattr { ino: u32, err: XattrError },
    #[error("inode {ino}: {what}")]
    Corrupt { ino: u32, what: String },
    #[error("{0}")]
    Unsupported(String),
}

/// A contiguous run of a file: `len` blocks from logical block `logical` at `physical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub logical: u64,
    pub physical: u64,
    pub len: u64,
    /// Unwritten (fallocated): reads as zeros.
    pub uninit: bool,
}

/// Where a file's blocks are: data runs, and the blocks of the map itself (extent tree nodes or
/// indirect blocks), which a checker counts as in use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    pub runs: Vec<Run>,
    pub meta: Vec<u64>,
}

impl Mapping {
    /// True when some of the file's bytes below `size` are unwritten extents.
    pub fn has_uninit(&self) -> bool {
        self.runs.iter().any(|r| r.uninit)
    }
}

/// One directory block: its logical index and its entries, or why they could not be read.
pub type DirBlock = (u64, Result<Vec<Entry>, RawError>);

/// Read-only metadata access to one ext2/3/4 filesystem.
pub struct RawFs {
    src: Box<dyn BlockRead>,
    pub sb: Superblock,
    pub groups: Vec<GroupDesc>,
    /// Descriptors whose checksum did not match (their fields are used as they are).
    pub bad_groups: Vec<BadChecksum>,
    /// Corrected bytes for those descriptors: (byte offset in the filesystem, bytes).
    pub gd_patches: Vec<(u64, Vec<u8>)>,
    bs: u64,
    csum: bool,
}

impl std::fmt::Debug for RawFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawFs")
            .field("groups", &self.groups.len())
            .field("bad_groups", &self.bad_groups)
            .finish()
    }
}

fn read(src: &dyn BlockRead, off: u64, len: usize) -> Result<Vec<u8>, RawError> {
    if off.checked_add(len as u64).is_none_or(|e| e > src.size()) {
        return Err(RawError::Io(format!(
            "read of {len} bytes at byte {off} is beyond the end of the filesystem ({} bytes)",
            src.size()
        )));
    }
    let mut b = vec![0u8; len];
    src.read_at(off, &mut b).map_err(RawError::Io)?;
    Ok(b)
}

impl RawFs {
    /// Reads the group descriptor table; checksum mismatches are recorded, not fatal.
    pub fn open(src: Box<dyn BlockRead>, sb: Superblock) -> Result<RawFs, RawError> {
        if sb.feature_incompat & superblock::INCOMPAT_META_BG != 0 {
            return Err(RawError::Unsupported(
                "meta_bg group descriptor layout is not supported".into(),
            ));
        }
        let dsize = group_desc::check_desc_size(&sb)?;
        let count = sb.group_count().ok_or_else(|| {
            RawError::Unsupported(format!(
                "impossible geometry: {} blocks, {} per group, first data block {}",
                sb.blocks_count, sb.blocks_per_group, sb.first_data_block
            ))
        })?;
        let bs = u64::from(sb.block_size);
        if usize::from(sb.inode_size) < inode::BASE_SIZE
            || u64::from(sb.inode_size) > bs
            || !sb.inode_size.is_power_of_two()
        {
            return Err(RawError::Unsupported(format!(
                "inode size {} is invalid",
                sb.inode_size
            )));
        }
        let table_len = u64::from(count) * dsize as u64;
        // The table must fit the volume before it sizes an allocation.
        if table_len > src.size() {
            return Err(RawError::Io(format!(
                "{count} group descriptors ({table_len} bytes) do not fit the volume"
            )));
        }
        // The table follows the superblock's block (block 1 with 1 KiB blocks, else block 0
        // holds the superblock at byte 1024 and the table starts at block 1).
        let table_off = (u64::from(sb.first_data_block) + 1) * bs;
        let table = read(&*src, table_off, table_len as usize)?;
        let mut groups = Vec::with_capacity(count as usize);
        let mut bad_groups = Vec::new();
        let mut gd_patches = Vec::new();
        for (g, b) in table.chunks_exact(dsize).enumerate() {
            let g = g as u32;
            groups.push(GroupDesc::parse(b, g)?);
            if let Some(computed) = group_desc::checksum(&sb, g, b) {
                let stored = u16::from_le_bytes([b[0x1E], b[0x1F]]);
                if stored != computed {
                    bad_groups.push(BadChecksum {
                        group: g,
                        stored,
                        computed,
                    });
                    gd_patches.push((
                        table_off + u64::from(g) * dsize as u64,
                        group_desc::with_checksum(b, computed),
                    ));
                }
            }
        }
        let csum = sb.has_metadata_csum();
        Ok(RawFs {
            src,
            sb,
            groups,
            bad_groups,
            gd_patches,
            bs,
            csum,
        })
    }

    pub fn block_size(&self) -> u64 {
        self.bs
    }

    /// Where the bytes come from.
    pub fn source(&self) -> &dyn BlockRead {
        &*self.src
    }

    /// Bytes readable from the volume.
    pub fn volume_size(&self) -> u64 {
        self.src.size()
    }

    fn seed(&self) -> Option<u32> {
        self.csum.then_some(self.sb.csum_seed)
    }

    /// Reads `len` bytes at byte `off` of the filesystem.
    pub fn read_bytes(&self, off: u64, len: usize) -> Result<Vec<u8>, RawError> {
        read(&*self.src, off, len)
    }

    /// Reads block `n`.
    pub fn read_block(&self, n: u64) -> Result<Vec<u8>, RawError> {
        if n >= self.sb.blocks_count {
            return Err(RawError::Io(format!(
                "block {n} is beyond the filesystem's {} blocks",
                self.sb.blocks_count
            )));
        }
        self.read_bytes(n * self.bs, self.bs as usize)
    }

    /// The byte offset of inode `ino` in the inode table.
    pub fn inode_offset(&self, ino: u32) -> Result<u64, RawError> {
        if ino == 0 || ino > self.sb.inodes_count {
            return Err(RawError::Corrupt {
                ino,
                what: format!("inode number out of range (1..={})", self.sb.inodes_count),
            });
        }
        let ipg = self.sb.inodes_per_group;
        let g = (ino - 1) / ipg;
        let idx = u64::from((ino - 1) % ipg);
        let gd = self
            .groups
            .get(g as usize)
            .ok_or_else(|| RawError::Corrupt {
                ino,
                what: format!("its group {g} does not exist"),
            })?;
        gd.inode_table
            .checked_mul(self.bs)
            .and_then(|t| t.checked_add(idx * u64::from(self.sb.inode_size)))
            .ok_or_else(|| RawError::Corrupt {
                ino,
                what: format!("group {g}'s inode table address is out of range"),
            })
    }

    /// The raw bytes of inode `ino`.
    pub fn inode_bytes(&self, ino: u32) -> Result<Vec<u8>, RawError> {
        let off = self.inode_offset(ino)?;
        self.read_bytes(off, usize::from(self.sb.inode_size))
    }

    /// Inode `ino`, checksum verified.
    pub fn inode(&self, ino: u32) -> Result<Inode, RawError> {
        let b = self.inode_bytes(ino)?;
        Ok(Inode::parse(&b, ino, self.seed())?)
    }

    fn owner_seed(&self, ino: &Inode) -> Option<u32> {
        self.seed()
            .map(|s| inode::owner_seed(s, ino.ino, ino.generation))
    }

    /// Number of blocks needed for `size` bytes.
    fn blocks_for(&self, size: u64) -> u64 {
        size.div_ceil(self.bs)
    }

    /// Where the inode's blocks are.
    pub fn map(&self, ino: &Inode) -> Result<Mapping, RawError> {
        let mut m = Mapping::default();
        if ino.has_inline_data() {
            return Err(RawError::Unsupported(format!(
                "inode {}: inline data is not supported",
                ino.ino
            )));
        }
        if ino.is_fast_symlink() {
            return Ok(m);
        }
        if ino.has_extents() {
            let mut visits = 0usize;
            self.walk_extents(ino, &ino.block, None, None, &mut m, &mut visits)?;
            m.runs.sort_by_key(|r| r.logical);
        } else {
            self.walk_indirect(ino, &mut m)?;
        }
        Ok(m)
    }

    fn walk_extents(
        &self,
        ino: &Inode,
        node: &[u8],
        block: Option<u64>,
        expect_depth: Option<u16>,
        m: &mut Mapping,
        visits: &mut usize,
    ) -> Result<(), RawError> {
        *visits += 1;
        let err = |err| RawError::Extent {
            ino: ino.ino,
            block,
            err,
        };
        if *visits > MAX_RUNS {
            return Err(RawError::Corrupt {
                ino: ino.ino,
                what: format!("extent tree has more than {MAX_RUNS} nodes"),
            });
        }
        let seed = if block.is_some() {
            self.owner_seed(ino)
        } else {
            None
        };
        let parsed = extent::parse(node, seed).map_err(err)?;
        match parsed {
            Node::Leaf(v) => {
                if expect_depth.is_some_and(|d| d != 0) {
                    return Err(RawError::Corrupt {
                        ino: ino.ino,
                        what: format!("extent block {block:?} has the wrong depth"),
                    });
                }
                for e in v {
                    if e.len == 0 {
                        continue;
                    }
                    if m.runs.len() >= MAX_RUNS {
                        return Err(RawError::Corrupt {
                            ino: ino.ino,
                            what: format!("more than {MAX_RUNS} extents"),
                        });
                    }
                    m.runs.push(Run {
                        logical: u64::from(e.logical),
                        physical: e.physical,
                        len: u64::from(e.len),
                        uninit: e.uninit,
                    });
                }
            }
            Node::Interior { depth, children } => {
                if expect_depth.is_some_and(|d| d != depth) {
                    return Err(RawError::Corrupt {
                        ino: ino.ino,
                        what: format!(
                            "extent block {} has depth {depth}, expected {}",
                            block.unwrap_or(0),
                            expect_depth.unwrap_or(0)
                        ),
                    });
                }
                for c in children {
                    m.meta.push(c.child);
                    let b = self.read_block(c.child).map_err(|e| RawError::Corrupt {
                        ino: ino.ino,
                        what: format!("extent block {}: {e}", c.child),
                    })?;
                    self.walk_extents(ino, &b, Some(c.child), Some(depth - 1), m, visits)?;
                }
            }
        }
        Ok(())
    }

    fn walk_indirect(&self, ino: &Inode, m: &mut Mapping) -> Result<(), RawError> {
        let nblocks = self.blocks_for(ino.size);
        let ptr = |i: usize| {
            u32::from_le_bytes([
                ino.block[i * 4],
                ino.block[i * 4 + 1],
                ino.block[i * 4 + 2],
                ino.block[i * 4 + 3],
            ])
        };
        let per = self.bs / 4;
        let mut logical = 0u64;
        for i in 0..12 {
            if logical >= nblocks {
                return Ok(());
            }
            self.push_block(ino, m, logical, ptr(i))?;
            logical += 1;
        }
        for (level, i) in [(1u32, 12usize), (2, 13), (3, 14)] {
            if logical >= nblocks {
                return Ok(());
            }
            let span = per.pow(level);
            let p = ptr(i);
            if p == 0 {
                logical += span;
                continue;
            }
            self.walk_indirect_block(ino, m, u64::from(p), level, &mut logical, nblocks)?;
        }
        Ok(())
    }

    fn walk_indirect_block(
        &self,
        ino: &Inode,
        m: &mut Mapping,
        block: u64,
        level: u32,
        logical: &mut u64,
        nblocks: u64,
    ) -> Result<(), RawError> {
        let per = self.bs / 4;
        if m.meta.len() >= MAX_RUNS {
            return Err(RawError::Corrupt {
                ino: ino.ino,
                what: format!("more than {MAX_RUNS} indirect blocks"),
            });
        }
        m.meta.push(block);
        let b = self.read_block(block).map_err(|e| RawError::Corrupt {
            ino: ino.ino,
            what: format!("indirect block {block}: {e}"),
        })?;
        for w in b.chunks_exact(4) {
            if *logical >= nblocks {
                break;
            }
            let p = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            if level == 1 {
                self.push_block(ino, m, *logical, p)?;
                *logical += 1;
            } else if p == 0 {
                *logical += per.pow(level - 1);
            } else {
                self.walk_indirect_block(ino, m, u64::from(p), level - 1, logical, nblocks)?;
            }
        }
        Ok(())
    }

    fn push_block(
        &self,
        ino: &Inode,
        m: &mut Mapping,
        logical: u64,
        p: u32,
    ) -> Result<(), RawError> {
        if p == 0 {
            return Ok(());
        }
        let p = u64::from(p);
        if let Some(last) = m.runs.last_mut() {
            if last.logical + last.len == logical && last.physical + last.len == p {
                last.len += 1;
                return Ok(());
            }
        }
        if m.runs.len() >= MAX_RUNS {
            return Err(RawError::Corrupt {
                ino: ino.ino,
                what: format!("more than {MAX_RUNS} block runs"),
            });
        }
        m.runs.push(Run {
            logical,
            physical: p,
            len: 1,
            uninit: false,
        });
        Ok(())
    }

    /// A reader over the inode's contents: holes and unwritten extents read as zeros.
    pub fn reader(&self, ino: &Inode) -> Result<FileReader<'_>, RawError> {
        let mapping = self.map(ino)?;
        Ok(FileReader {
            fs: self,
            ino: ino.ino,
            runs: mapping.runs,
            size: ino.size,
            pos: 0,
        })
    }

    /// The blocks of a directory, each with its logical index, checksums verified. A block
    /// that fails is returned as an error in its place, so one bad block costs only its
    /// entries.
    pub fn dir_blocks(&self, dir: &Inode) -> Result<Vec<DirBlock>, RawError> {
        if dir.size > MAX_DIR_BYTES {
            return Err(RawError::Corrupt {
                ino: dir.ino,
                what: format!(
                    "directory of {} bytes is larger than the {MAX_DIR_BYTES}-byte limit",
                    dir.size
                ),
            });
        }
        let mapping = self.map(dir)?;
        let nblocks = self.blocks_for(dir.size);
        let seed = self.owner_seed(dir);
        let mut out = Vec::new();
        for r in &mapping.runs {
            for i in 0..r.len {
                let lb = r.logical + i;
                if lb >= nblocks {
                    break;
                }
                if r.uninit {
                    continue;
                }
                let res = self
                    .read_block(r.physical + i)
                    .and_then(|b| self.dir_block(dir, lb, &b, seed));
                out.push((lb, res));
            }
        }
        Ok(out)
    }

    fn dir_block(
        &self,
        dir: &Inode,
        lb: u64,
        b: &[u8],
        seed: Option<u32>,
    ) -> Result<Vec<Entry>, RawError> {
        let err = |err| RawError::Dir {
            ino: dir.ino,
            block: lb,
            err,
        };
        let kind = dir_block::kind(b, lb, dir.is_htree());
        if let Some(seed) = seed {
            match kind {
                dir_block::Kind::Leaf => dir_block::verify_leaf(b, seed).map_err(err)?,
                k => dir_block::verify_dx(b, k, seed).map_err(err)?,
            }
        }
        match kind {
            dir_block::Kind::DxNode => Ok(Vec::new()),
            _ => dir_block::entries(b).map_err(err),
        }
    }

    /// Every live entry of a directory; the first bad block fails the listing.
    pub fn dir_entries(&self, dir: &Inode) -> Result<Vec<Entry>, RawError> {
        let mut out = Vec::new();
        for (_, r) in self.dir_blocks(dir)? {
            out.extend(r?);
        }
        Ok(out)
    }

    /// A symlink's target.
    pub fn read_link(&self, ino: &Inode) -> Result<Vec<u8>, RawError> {
        if ino.size > MAX_LINK {
            return Err(RawError::Corrupt {
                ino: ino.ino,
                what: format!("symlink target of {} bytes", ino.size),
            });
        }
        if ino.is_fast_symlink() {
            return Ok(ino.block[..ino.size as usize].to_vec());
        }
        let mut out = Vec::with_capacity(ino.size as usize);
        self.reader(ino)?
            .read_to_end(&mut out)
            .map_err(|e| RawError::Corrupt {
                ino: ino.ino,
                what: format!("symlink target: {e}"),
            })?;
        Ok(out)
    }

    /// An extended attribute of the inode: the in-inode area first, then the attribute block.
    pub fn xattr(&self, ino: &Inode, name: &str) -> Result<Option<Vec<u8>>, RawError> {
        let Some((index, short)) = xattr::split_name(name) else {
            return Ok(None);
        };
        let err = |err| RawError::Xattr { ino: ino.ino, err };
        if let Some(v) =
            xattr::find_in_inode(&ino.xattr_area, index, short.as_bytes()).map_err(err)?
        {
            return Ok(Some(v));
        }
        if ino.file_acl == 0 {
            return Ok(None);
        }
        let b = self.read_block(ino.file_acl)?;
        if self.csum {
            xattr::verify_block(&b, ino.file_acl, self.sb.csum_seed).map_err(err)?;
        }
        xattr::find_in_block(&b, index, short.as_bytes()).map_err(err)
    }
}

/// Reads a file through its block map.
pub struct FileReader<'a> {
    fs: &'a RawFs,
    ino: u32,
    runs: Vec<Run>,
    size: u64,
    pos: u64,
}

impl FileReader<'_> {
    /// Fills `buf` from the current position; 0 at the end of the file.
    pub fn fill(&mut self, buf: &mut [u8]) -> Result<usize, RawError> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let bs = self.fs.bs;
        let want = (self.size - self.pos).min(buf.len() as u64);
        let lb = self.pos / bs;
        let i = self.runs.partition_point(|r| r.logical + r.len <= lb);
        let (n, src) = match self.runs.get(i) {
            Some(r) if r.logical <= lb => {
                let run_end = (r.logical + r.len).saturating_mul(bs);
                let n = want.min(run_end - self.pos);
                if r.uninit {
                    (n, None)
                } else {
                    let off = r
                        .physical
                        .checked_mul(bs)
                        .and_then(|p| p.checked_add(self.pos - r.logical * bs))
                        .ok_or_else(|| RawError::Corrupt {
                            ino: self.ino,
                            what: format!("block {} is out of range", r.physical),
                        })?;
                    if r.physical + r.len > self.fs.sb.blocks_count {
                        return Err(RawError::Corrupt {
                            ino: self.ino,
                            what: format!(
                                "data blocks {}..{} are beyond the filesystem's {} blocks",
                                r.physical,
                                r.physical + r.len,
                                self.fs.sb.blocks_count
                            ),
                        });
                    }
                    (n, Some(off))
                }
            }
            Some(r) => (want.min(r.logical.saturating_mul(bs) - self.pos), None),
            None => (want, None),
        };
        let n = n as usize;
        match src {
            Some(off) => self
                .fs
                .src
                .read_at(off, &mut buf[..n])
                .map_err(RawError::Io)?,
            // A hole or an unwritten extent.
            None => buf[..n].fill(0),
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Read for FileReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.fill(buf).map_err(std::io::Error::other)
    }
}

impl std::io::Seek for FileReader<'_> {
    /// Like a file: seeking past the end is allowed (reads there return 0), before the start
    /// is an error.
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let base = match to {
            std::io::SeekFrom::Start(n) => {
                self.pos = n;
                return Ok(n);
            }
            std::io::SeekFrom::End(d) => (self.size, d),
            std::io::SeekFrom::Current(d) => (self.pos, d),
        };
        let new = base.0.checked_add_signed(base.1).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        self.pos = new;
        Ok(new)
    }
}
