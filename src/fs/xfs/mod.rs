//! XFS, read natively: v4 and v5 (CRC) filesystems, every directory form, extent lists and
//! block-map btrees, inline and remote symlinks, inode metadata (with bigtime and nrext64),
//! and extended attributes (short form, leaf and node blocks) for `security.selinux`.
//!
//! Written in the `ext4-view` style (one on-disk structure per file, precise errors, no
//! `unsafe`) from the format as `fs/xfs/libxfs/xfs_format.h` and `xfs_da_format.h` define it:
//! the XFS crates on crates.io did not fit (see the README's dependency notes). Nothing is
//! ever written; the log is not replayed: a dirty log is reported (`log`) and the filesystem
//! is read as of its last checkpoint, like `mount -o ro,norecovery`.

pub mod ag;
pub mod attr;
mod be;
pub mod bmap;
pub mod dir;
pub mod disk;
pub mod error;
pub mod inode;
pub mod log;
pub mod superblock;
pub mod walk;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::{Backend, DirEntry, FileType, FsError, FsInfo, Metadata, RootFs};
use crate::volume::Slice;
use bmap::Extent;
use disk::Disk;
pub use error::XfsError;
use inode::{FMT_BTREE, FMT_EXTENTS, FMT_LOCAL, Inode};
pub use superblock::Superblock;

/// Entries of one directory this reader holds at most (a crafted directory cannot exhaust
/// memory; real roots stay far below).
pub const MAX_DIR_ENTRIES: usize = 2_000_000;
/// Directory data read at most for one directory (2 million entries fit in far less), so a
/// crafted block map cannot make a listing read for minutes.
const MAX_DIR_BYTES: u64 = 256 << 20;
/// Directory entries cached across directories before the cache is dropped.
const DIR_CACHE_ENTRIES: usize = 500_000;
/// `XFS_SYMLINK_MAXLEN`.
const SYMLINK_MAXLEN: u64 = 1024;

/// What was found on opening, for the health audits.
#[derive(Clone, Debug)]
pub struct XfsHealth {
    pub log: log::LogState,
    /// AG headers (AGF, AGI, AGFL) that fail their magic, CRC or geometry checks.
    pub ag_problems: Vec<ag::AgProblem>,
    /// Free space and inodes summed from the AG headers (what the kernel computes at mount),
    /// when every header could be read.
    pub counts: Option<ag::Counts>,
}

/// What the audits read about an XFS filesystem besides its files.
#[derive(Clone, Debug)]
pub struct XfsInfo {
    pub superblock: Superblock,
    pub health: XfsHealth,
}

/// An opened XFS filesystem.
pub struct XfsVolume {
    pub fs: RootFs,
    pub info: XfsInfo,
}

impl std::fmt::Debug for XfsVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XfsVolume")
            .field("info", &self.info)
            .finish()
    }
}

/// Reads and validates the primary superblock of `slice`.
pub fn read_superblock(slice: &Slice) -> Result<Superblock, XfsError> {
    let first = slice
        .read_upto(0, 4096)
        .map_err(|e| XfsError::Io(e.to_string()))?;
    let sect = usize::from(be::u16_at(&first, 102));
    let bytes = if sect > first.len() && sect <= 32768 {
        slice
            .read_upto(0, sect)
            .map_err(|e| XfsError::Io(e.to_string()))?
    } else {
        first
    };
    Ok(Superblock::parse_primary(&bytes)?)
}

/// Opens the XFS filesystem on `slice`.
pub fn open(slice: &Slice) -> Result<XfsVolume, FsError> {
    let sb = read_superblock(slice)
        .map_err(|e| FsError::Load(format!("XFS superblock is unusable: {e}")))?;
    let disk = Disk::new(slice.clone(), sb.clone());
    let health = XfsHealth {
        log: log::state(&disk),
        ag_problems: ag::check_all(&disk),
        counts: ag::counts(&disk).ok(),
    };
    let backend = XfsBackend {
        disk,
        dirs: RefCell::new(HashMap::new()),
        dir_entries: std::cell::Cell::new(0),
    };
    let root = backend
        .inode(sb.rootino)
        .map_err(|e| FsError::Load(format!("XFS root directory is unreadable: {e}")))?;
    if root.file_type() != FileType::Directory {
        return Err(FsError::Load(format!(
            "XFS root inode {} is not a directory",
            sb.rootino
        )));
    }
    let info = FsInfo {
        fs_type: "xfs".into(),
        uuid: Some(sb.uuid_string()),
        label: (!sb.fname.is_empty()).then(|| sb.fname.clone()),
    };
    Ok(XfsVolume {
        fs: RootFs::new(Box::new(backend), info),
        info: XfsInfo {
            superblock: sb,
            health,
        },
    })
}

/// A directory's entries with an index by name.
struct Dir {
    entries: Vec<dir::Entry>,
    by_name: HashMap<Vec<u8>, usize>,
}

pub(crate) struct XfsBackend {
    disk: Disk,
    dirs: RefCell<HashMap<u64, Rc<Dir>>>,
    dir_entries: std::cell::Cell<usize>,
}

fn corrupt(path: &Path, e: XfsError) -> FsError {
    match e {
        XfsError::Io(d) => FsError::Io {
            path: path.to_path_buf(),
            detail: d,
        },
        XfsError::Unsupported(d) => FsError::Unsupported(format!("{}: {d}", path.display())),
        other => FsError::Corrupt {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

impl XfsBackend {
    fn inode(&self, ino: u64) -> Result<Inode, XfsError> {
        let raw = self.disk.read_inode_bytes(ino)?;
        Ok(Inode::parse(self.disk.sb(), ino, raw)?)
    }

    /// The data fork's extents (extent list or btree).
    fn data_extents(&self, ip: &Inode) -> Result<Vec<Extent>, XfsError> {
        match ip.format {
            FMT_EXTENTS => bmap::extent_list(ip.data_fork(), ip.nextents, ip.ino),
            FMT_BTREE => bmap::btree(&self.disk, ip.data_fork(), ip.ino, ip.nextents),
            f => Err(XfsError::corrupt(
                "data fork",
                ip.ino,
                format!("format {f} has no extents"),
            )),
        }
    }

    fn read_directory(&self, ip: &Inode) -> Result<Vec<dir::Entry>, XfsError> {
        let sb = self.disk.sb();
        if ip.format == FMT_LOCAL {
            return Ok(dir::shortform(ip.data_fork(), ip.size, sb.has_ftype(), ip.ino)?.1);
        }
        let exts = self.data_extents(ip)?;
        let bs = u64::from(sb.blocksize);
        let per = 1u64 << sb.dirblklog;
        let leaf_blk = dir::LEAF_OFFSET / bs;
        let max_blocks = MAX_DIR_BYTES / u64::from(sb.dirblksize());
        // The directory blocks (in fs-block units, aligned to `per`) that hold data.
        let mut starts: Vec<u64> = Vec::new();
        for e in &exts {
            if e.offset >= leaf_blk {
                break;
            }
            let end = e.offset.saturating_add(e.count).min(leaf_blk);
            let mut db = e.offset - e.offset % per;
            while db < end {
                if starts.last() != Some(&db) {
                    starts.push(db);
                }
                if starts.len() as u64 > max_blocks {
                    return Err(XfsError::Limit {
                        ino: ip.ino,
                        detail: format!(
                            "directory maps more than {} MiB of data blocks",
                            MAX_DIR_BYTES >> 20
                        ),
                    });
                }
                db += per;
            }
        }
        let mut out = Vec::new();
        for db in starts {
            let block = self.read_mapped(&exts, db, per, ip.ino)?;
            dir::data_block(&block, sb.is_v5(), sb.has_ftype(), ip.ino, &mut out)?;
            if out.len() > MAX_DIR_ENTRIES {
                return Err(XfsError::Limit {
                    ino: ip.ino,
                    detail: format!("more than {MAX_DIR_ENTRIES} directory entries"),
                });
            }
        }
        Ok(out)
    }

    /// `count` file blocks from file block `start`, which must all be mapped and written.
    fn read_mapped(
        &self,
        exts: &[Extent],
        start: u64,
        count: u64,
        ino: u64,
    ) -> Result<Vec<u8>, XfsError> {
        let bs = self.disk.sb().blocksize as usize;
        let mut out = Vec::with_capacity(bs * count as usize);
        let mut b = start;
        while b < start + count {
            let Some(e) = find_extent(exts, b) else {
                return Err(XfsError::corrupt(
                    "directory",
                    ino,
                    format!("block {b} of a directory block is not mapped"),
                ));
            };
            let n = (e.offset + e.count - b).min(start + count - b);
            let data = self.disk.read_fsb(e.fsb + (b - e.offset), n)?;
            out.extend_from_slice(&data);
            b += n;
        }
        Ok(out)
    }

    fn dir(&self, ino: u64, path: &Path) -> Result<Rc<Dir>, FsError> {
        if let Some(d) = self.dirs.borrow().get(&ino) {
            return Ok(d.clone());
        }
        let ip = self.inode(ino).map_err(|e| corrupt(path, e))?;
        if ip.file_type() != FileType::Directory {
            return Err(FsError::NotADirectory(path.to_path_buf()));
        }
        let entries = self.read_directory(&ip).map_err(|e| corrupt(path, e))?;
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        let d = Rc::new(Dir { entries, by_name });
        let n = self.dir_entries.get() + d.entries.len();
        let mut dirs = self.dirs.borrow_mut();
        if n > DIR_CACHE_ENTRIES {
            dirs.clear();
            self.dir_entries.set(d.entries.len());
        } else {
            self.dir_entries.set(n);
        }
        dirs.insert(ino, d.clone());
        Ok(d)
    }

    /// The inode number of a resolved guest path.
    fn lookup(&self, path: &Path) -> Result<u64, FsError> {
        let mut ino = self.disk.sb().rootino;
        let mut cur = PathBuf::from("/");
        for c in path.components() {
            let std::path::Component::Normal(name) = c else {
                continue;
            };
            let d = self.dir(ino, &cur)?;
            cur.push(name);
            match d.by_name.get(name.as_bytes()) {
                Some(&i) => ino = d.entries[i].ino,
                None => return Err(FsError::NotFound(cur)),
            }
        }
        Ok(ino)
    }

    fn inode_at(&self, path: &Path) -> Result<Inode, FsError> {
        let ino = self.lookup(path)?;
        self.inode(ino).map_err(|e| corrupt(path, e))
    }

    fn symlink_target(&self, ip: &Inode) -> Result<Vec<u8>, XfsError> {
        const WHAT: &str = "symbolic link";
        if ip.size == 0 || ip.size > SYMLINK_MAXLEN {
            return Err(XfsError::corrupt(
                WHAT,
                ip.ino,
                format!("target length {}", ip.size),
            ));
        }
        let len = ip.size as usize;
        if ip.format == FMT_LOCAL {
            return ip
                .data_fork()
                .get(..len)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| {
                    XfsError::corrupt(WHAT, ip.ino, "inline target longer than the fork")
                });
        }
        // Remote: v5 blocks start with an "XSLM" header (`xfs_dsymlink_hdr`).
        let sb = self.disk.sb();
        let exts = self.data_extents(ip)?;
        let hdr = if sb.is_v5() { 56 } else { 0 };
        let per = sb.blocksize as usize - hdr;
        let mut out = Vec::with_capacity(len);
        let mut lblk = 0u64;
        while out.len() < len {
            let Some(e) = find_extent(&exts, lblk).filter(|e| !e.unwritten) else {
                return Err(XfsError::corrupt(
                    WHAT,
                    ip.ino,
                    format!("block {lblk} is not mapped"),
                ));
            };
            let b = self.disk.read_fsb(e.fsb + (lblk - e.offset), 1)?;
            if sb.is_v5()
                && (b.get(0..4) != Some(&b"XSLM"[..])
                    || !be::crc_ok(&b, 12)
                    || be::u64_at(&b, 32) != ip.ino)
            {
                return Err(XfsError::corrupt(
                    WHAT,
                    ip.ino,
                    format!("block {lblk}: bad header, owner or checksum"),
                ));
            }
            let want = (len - out.len()).min(per);
            out.extend_from_slice(b.get(hdr..hdr + want).unwrap_or(&[]));
            lblk += 1;
        }
        Ok(out)
    }
}

/// The extent holding file block `b`.
fn find_extent(exts: &[Extent], b: u64) -> Option<&Extent> {
    let i = exts.partition_point(|e| e.offset.saturating_add(e.count) <= b);
    exts.get(i).filter(|e| e.offset <= b)
}

fn metadata(ip: &Inode) -> Metadata {
    Metadata {
        file_type: ip.file_type(),
        perm: u32::from(ip.mode) & 0o7777,
        uid: ip.uid,
        gid: ip.gid,
        size: ip.size,
        mtime: ip.mtime,
        atime: ip.atime,
        ctime: Some(ip.ctime),
        inode: Some(ip.ino),
        nlink: Some(u64::from(ip.nlink)),
    }
}

impl Backend for XfsBackend {
    fn lstat(&self, path: &Path) -> Result<Metadata, FsError> {
        Ok(metadata(&self.inode_at(path)?))
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf, FsError> {
        let ip = self.inode_at(path)?;
        if ip.file_type() != FileType::Symlink {
            return Err(FsError::NotASymlink(path.to_path_buf()));
        }
        let t = self.symlink_target(&ip).map_err(|e| corrupt(path, e))?;
        Ok(PathBuf::from(OsStr::from_bytes(&t)))
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<DirEntry>, FsError> {
        let ino = self.lookup(path)?;
        let d = self.dir(ino, path)?;
        let ftype = self.disk.sb().has_ftype();
        Ok(d.entries
            .iter()
            .map(|e| {
                let file_type = dir::ftype_to_type(e.ftype)
                    .filter(|_| ftype)
                    .or_else(|| self.inode(e.ino).ok().map(|ip| ip.file_type()))
                    .unwrap_or(FileType::Unknown);
                DirEntry {
                    name: OsStr::from_bytes(&e.name).to_os_string(),
                    file_type,
                }
            })
            .collect())
    }

    fn open(&self, path: &Path) -> Result<Box<dyn Read + '_>, FsError> {
        let ip = self.inode_at(path)?;
        if ip.file_type() != FileType::Regular {
            return Err(FsError::NotRegular(path.to_path_buf(), ip.file_type()));
        }
        let exts = self.data_extents(&ip).map_err(|e| corrupt(path, e))?;
        Ok(Box::new(FileReader {
            disk: &self.disk,
            exts,
            size: ip.size,
            pos: 0,
        }))
    }

    fn xattr(&self, path: &Path, name: &str) -> Result<Option<Vec<u8>>, FsError> {
        let ip = self.inode_at(path)?;
        let Some((ns, key)) = attr::split_name(name) else {
            return Err(FsError::Unsupported(format!(
                "{}: attribute {name} is not readable from XFS by this tool",
                path.display()
            )));
        };
        let Some(fork) = ip.attr_fork() else {
            return Ok(None);
        };
        let r = match ip.aformat {
            FMT_LOCAL => attr::shortform(fork, ns, key, ip.ino),
            FMT_EXTENTS => bmap::extent_list(fork, u64::from(ip.anextents), ip.ino)
                .and_then(|exts| attr::blocks(&self.disk, &exts, ns, key, ip.ino)),
            FMT_BTREE => bmap::btree(&self.disk, fork, ip.ino, u64::from(ip.anextents))
                .and_then(|exts| attr::blocks(&self.disk, &exts, ns, key, ip.ino)),
            f => Err(XfsError::corrupt(
                "attribute fork",
                ip.ino,
                format!("format {f}"),
            )),
        };
        r.map_err(|e| corrupt(path, e))
    }
}

/// Streams a regular file: holes and unwritten (preallocated) extents read as zeros, as the
/// kernel returns them.
struct FileReader<'a> {
    disk: &'a Disk,
    exts: Vec<Extent>,
    size: u64,
    pos: u64,
}

/// The most read from the device in one call.
const READ_CHUNK: u64 = 1 << 20;

impl Read for FileReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let bs = u64::from(self.disk.sb().blocksize);
        let blk = self.pos / bs;
        let in_blk = self.pos % bs;
        let left = (self.size - self.pos).min(buf.len() as u64).min(READ_CHUNK);
        let i = self
            .exts
            .partition_point(|e| e.offset.saturating_add(e.count) <= blk);
        let n = match self.exts.get(i) {
            Some(e) if e.offset <= blk => {
                let run = (e.offset + e.count - blk) * bs - in_blk;
                let n = left.min(run) as usize;
                if e.unwritten {
                    buf[..n].fill(0);
                } else {
                    let fsb = e.fsb + (blk - e.offset);
                    let block = self.disk.sb().fsb_to_block(fsb).ok_or_else(|| {
                        std::io::Error::other(format!(
                            "extent block {fsb} is outside the filesystem"
                        ))
                    })?;
                    let off = block * bs + in_blk;
                    self.disk
                        .slice()
                        .read_exact_at(off, &mut buf[..n])
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                }
                n
            }
            next => {
                // A hole up to the next extent (or the end of the file).
                let hole_end = next
                    .map(|e| e.offset.saturating_mul(bs))
                    .unwrap_or(u64::MAX);
                let n = left.min(hole_end - self.pos) as usize;
                buf[..n].fill(0);
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}
