//! ext2/3/4 through the `ext4-view` crate, read-only, from a partition of a device.
//!
//! Work-arounds for `ext4-view` 1.0 live here, not in a fork (see the README):
//! - it replays only journals with the 64bit and checksum-v3 features and refuses to load the
//!   others; a volume detached from a crashed host usually has such a journal. When loading
//!   fails on a filesystem that needs recovery, it is loaded again through a reader that shows
//!   the superblock with `needs_recovery` cleared (checksum recomputed), and the report says the
//!   view predates the unreplayed transactions.
//! - it keeps its superblock private, so `superblock` parses the fields the audits need.

pub mod superblock;

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ext4_view::{Ext4, Ext4Error, Ext4Read};

use super::{Backend, DirEntry, FileType, FsError, FsInfo, Metadata, RootFs, Time};
use crate::volume::Slice;
pub use superblock::Superblock;

/// How the filesystem was loaded, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadNote {
    /// The journal held committed transactions; they were replayed in memory (nothing written).
    JournalReplayed,
    /// The journal held transactions the reader cannot replay; the view is the state before
    /// them.
    JournalNotReplayed { reason: String },
}

/// An opened ext2/3/4 filesystem.
pub struct Ext4Volume {
    pub fs: RootFs,
    pub superblock: Superblock,
    pub notes: Vec<LoadNote>,
}

impl std::fmt::Debug for Ext4Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ext4Volume")
            .field("superblock", &self.superblock)
            .field("notes", &self.notes)
            .finish()
    }
}

/// Presents a slice to `ext4-view`, with optional byte ranges replaced (`patches`).
struct SliceReader {
    slice: Slice,
    patches: Vec<(u64, Vec<u8>)>,
}

impl Ext4Read for SliceReader {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        self.slice.read_exact_at(start_byte, dst)?;
        let end = start_byte.saturating_add(dst.len() as u64);
        for (off, bytes) in &self.patches {
            let pend = off.saturating_add(bytes.len() as u64);
            if *off < end && pend > start_byte {
                let from = (*off).max(start_byte);
                let to = pend.min(end);
                let d = (from - start_byte) as usize..(to - start_byte) as usize;
                let s = (from - off) as usize..(to - off) as usize;
                dst[d].copy_from_slice(&bytes[s]);
            }
        }
        Ok(())
    }
}

/// Reads the superblock bytes of a slice.
pub fn read_superblock_bytes(slice: &Slice) -> Result<Vec<u8>, FsError> {
    let mut b = vec![0u8; superblock::SIZE];
    slice
        .read_exact_at(superblock::OFFSET, &mut b)
        .map_err(|e| FsError::Load(format!("cannot read the ext4 superblock: {e}")))?;
    Ok(b)
}

/// Opens an ext2/3/4 filesystem on `slice`.
pub fn open(slice: &Slice) -> Result<Ext4Volume, FsError> {
    let raw = read_superblock_bytes(slice)?;
    let sb = Superblock::parse(&raw)
        .map_err(|e| FsError::Load(format!("ext4 superblock is corrupt: {e}")))?;
    let mut notes = Vec::new();
    let first = Ext4::load(Box::new(SliceReader {
        slice: slice.clone(),
        patches: Vec::new(),
    }));
    let fs = match first {
        Ok(fs) => {
            if sb.needs_recovery() {
                notes.push(LoadNote::JournalReplayed);
            }
            fs
        }
        Err(e) if sb.needs_recovery() => {
            let masked = superblock::mask_needs_recovery(&raw);
            let fs = Ext4::load(Box::new(SliceReader {
                slice: slice.clone(),
                patches: vec![(superblock::OFFSET, masked)],
            }))
            .map_err(|e2| load_error(&e2))?;
            notes.push(LoadNote::JournalNotReplayed {
                reason: e.to_string(),
            });
            fs
        }
        Err(e) => return Err(load_error(&e)),
    };
    let label = (!sb.volume_name.is_empty()).then(|| sb.volume_name.clone());
    let info = FsInfo {
        fs_type: sb.flavour().to_string(),
        uuid: Some(sb.uuid_string()),
        label,
    };
    Ok(Ext4Volume {
        fs: RootFs::new(
            Box::new(Ext4Backend {
                fs,
                stat_cache: Default::default(),
            }),
            info,
        ),
        superblock: sb,
        notes,
    })
}

fn load_error(e: &Ext4Error) -> FsError {
    match e {
        Ext4Error::Incompatible(i) => FsError::Load(format!(
            "the ext4 reader does not support this filesystem: {i}"
        )),
        Ext4Error::Corrupt(c) => FsError::Load(format!("ext4 metadata is corrupt: {c}")),
        other => FsError::Load(format!("cannot load ext4: {other}")),
    }
}

struct Ext4Backend {
    fs: Ext4,
    /// `lstat` answers by path. `ext4-view` resolves every path from `/` again, and `RootFs`
    /// resolves component by component, so the same prefixes are looked up over and over; the
    /// volume is read-only, so answers never go stale. Cleared when it grows past
    /// `STAT_CACHE_MAX` to bound memory.
    stat_cache: std::cell::RefCell<std::collections::HashMap<PathBuf, Metadata>>,
}

const STAT_CACHE_MAX: usize = 16_384;

/// Maps a library error to ours, naming the guest path.
fn map_err(path: &Path, e: Ext4Error) -> FsError {
    let p = path.to_path_buf();
    match e {
        Ext4Error::NotFound => FsError::NotFound(p),
        Ext4Error::NotADirectory => FsError::NotADirectory(p),
        Ext4Error::IsADirectory => FsError::IsADirectory(p),
        Ext4Error::NotASymlink => FsError::NotASymlink(p),
        Ext4Error::TooManySymlinks => FsError::TooManySymlinks(p),
        Ext4Error::PathTooLong => FsError::PathTooLong(p),
        Ext4Error::Encrypted => FsError::Encrypted(p),
        Ext4Error::IsASpecialFile => FsError::NotRegular(p, FileType::Unknown),
        Ext4Error::Corrupt(c) => FsError::Corrupt {
            path: p,
            detail: c.to_string(),
        },
        other => FsError::Io {
            path: p,
            detail: other.to_string(),
        },
    }
}

fn convert_type(t: ext4_view::FileType) -> FileType {
    use ext4_view::FileType as T;
    match t {
        T::Regular => FileType::Regular,
        T::Directory => FileType::Directory,
        T::Symlink => FileType::Symlink,
        T::BlockDevice => FileType::BlockDevice,
        T::CharacterDevice => FileType::CharDevice,
        T::Fifo => FileType::Fifo,
        T::Socket => FileType::Socket,
    }
}

fn convert_time(t: ext4_view::Timestamp) -> Time {
    Time {
        secs: t.seconds(),
        nanos: t.nanoseconds(),
    }
}

impl Backend for Ext4Backend {
    fn lstat(&self, path: &Path) -> Result<Metadata, FsError> {
        if let Some(md) = self.stat_cache.borrow().get(path) {
            return Ok(md.clone());
        }
        let md = self.lstat_uncached(path)?;
        let mut cache = self.stat_cache.borrow_mut();
        if cache.len() >= STAT_CACHE_MAX {
            cache.clear();
        }
        cache.insert(path.to_path_buf(), md.clone());
        Ok(md)
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf, FsError> {
        self.read_link_impl(path)
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<DirEntry>, FsError> {
        self.read_dir_impl(path)
    }

    fn open(&self, path: &Path) -> Result<Box<dyn Read + '_>, FsError> {
        self.open_impl(path)
    }
}

impl Ext4Backend {
    fn lstat_uncached(&self, path: &Path) -> Result<Metadata, FsError> {
        let md = self
            .fs
            .symlink_metadata(path.as_os_str().as_bytes())
            .map_err(|e| map_err(path, e))?;
        Ok(Metadata {
            file_type: convert_type(md.file_type()),
            perm: u32::from(md.mode()),
            uid: md.uid(),
            gid: md.gid(),
            size: md.len(),
            mtime: convert_time(md.modified()),
            atime: convert_time(md.accessed()),
            ctime: None,
            inode: None,
            nlink: None,
        })
    }

    fn read_link_impl(&self, path: &Path) -> Result<PathBuf, FsError> {
        let t = self
            .fs
            .read_link(path.as_os_str().as_bytes())
            .map_err(|e| map_err(path, e))?;
        Ok(PathBuf::from(OsStr::from_bytes(t.as_ref())))
    }

    fn read_dir_impl(&self, path: &Path) -> Result<Vec<DirEntry>, FsError> {
        let rd = self
            .fs
            .read_dir(path.as_os_str().as_bytes())
            .map_err(|e| map_err(path, e))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| map_err(path, e))?;
            let name = entry.file_name();
            let name: &[u8] = name.as_ref();
            if name == b"." || name == b".." {
                continue;
            }
            let file_type = entry
                .file_type()
                .map(convert_type)
                .unwrap_or(FileType::Unknown);
            out.push(DirEntry {
                name: OsStr::from_bytes(name).to_os_string(),
                file_type,
            });
        }
        Ok(out)
    }

    fn open_impl(&self, path: &Path) -> Result<Box<dyn Read + '_>, FsError> {
        let f = self
            .fs
            .open(path.as_os_str().as_bytes())
            .map_err(|e| map_err(path, e))?;
        Ok(Box::new(f))
    }
}
