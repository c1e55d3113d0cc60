//! ext2/3/4 through the `ext4-view` crate, read-only, from a partition of a device.
//!
//! Work-arounds for `ext4-view` 1.0 live here, not in a fork (see the README):
//! - it replays only journals with the 64bit and checksum-v3 features and refuses to load the
//!   others; a volume detached from a crashed host usually has such a journal. The project
//!   replays the journal itself (`jbd2`: every jbd2 format, in memory), and both readers read
//!   the filesystem through the result; `ext4-view` is shown the superblock with
//!   `needs_recovery` cleared (checksum recomputed) so it never replays anything itself. When
//!   the journal cannot be replayed, the report says why and that the view predates it.
//! - it keeps its superblock private, so `superblock` parses the fields the audits need.
//! - one bad group-descriptor checksum makes it refuse the whole filesystem: `raw` reads the
//!   descriptor table itself, and the reader presents the bad descriptors with corrected
//!   checksums; the report names each group (stored and computed checksum).
//! - it reads unwritten (fallocated) extents as stale disk bytes, hides inode numbers, ctime,
//!   link counts and xattrs, and fails lookups of non-ASCII names in directories hashed with
//!   `unsigned_directory_hash`: lookups, metadata, reads, symlinks and xattrs go through the
//!   project's own parsers (`raw`: linear directory scans, extent trees with the unwritten bit,
//!   every checksum verified), and `ext4-view` only validates the filesystem at load time. When
//!   the own reader cannot be used, everything goes through `ext4-view` (with a linear
//!   `read_dir` fallback for failed lookups on unsigned-hash filesystems).

pub mod dir_block;
pub mod extent;
pub mod fsck;
pub mod group_desc;
pub mod inode;
pub mod jbd2;
pub mod raw;
pub mod superblock;
pub mod xattr;

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use ext4_view::{Ext4, Ext4Error, Ext4Read};
use jbd2::overlay::{Overlay, Replayed};

use super::{Backend, Damage, DirEntry, FileType, FsError, FsInfo, Metadata, RootFs, Time};
use crate::volume::Slice;
pub use superblock::Superblock;

/// How the filesystem was loaded, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadNote {
    /// The filesystem needed recovery; its journal was replayed in memory (nothing written).
    JournalReplayed {
        /// Transactions replayed, and their IDs (`first_tid..end_tid`).
        transactions: u32,
        first_tid: u32,
        end_tid: u32,
        /// Distinct filesystem blocks replaced, tags read, and blocks kept from replay by
        /// revoke records.
        blocks: usize,
        writes: u64,
        revoke_records: u64,
        revoked: u64,
        /// The replayed part of the log runs past the end of the journal.
        wrapped: bool,
        /// How the log ended, in words.
        end: String,
        /// The journal's features, as dumpe2fs names them.
        features: Vec<&'static str>,
        /// `s_errno` of the journal: the kernel aborted it (non-zero).
        errno: i32,
    },
    /// The journal could not be replayed (the reason); the view is the state before it.
    JournalNotReplayed { reason: String },
    /// Part of the journal could not be replayed (the reason): committed transactions that
    /// fail a check, or fast commits; the view is the state after the transactions before.
    JournalPartlyReplayed { reason: String },
    /// The journal was replayed as the kernel replays it, but e2fsck would replay less of it
    /// (the reason, with the transactions it would drop).
    JournalReplayDiffers { reason: String },
    /// A group descriptor's checksum did not match; the descriptor was used as it is.
    GroupDescriptorChecksum {
        group: u32,
        stored: u16,
        computed: u16,
        /// First block and first inode of the group, and how many of each it holds.
        first_block: u64,
        blocks: u32,
        first_inode: u64,
        inodes: u32,
    },
    /// The filesystem hashes directory names with unsigned chars; names are looked up by a
    /// linear scan of the directory.
    UnsignedDirectoryHash,
    /// The project's own metadata reader could not be used (the reason); inode numbers,
    /// ctime, link counts, xattrs and zeros for unwritten extents are not available.
    OwnReaderUnavailable { reason: String },
}

/// An opened ext2/3/4 filesystem.
pub struct Ext4Volume {
    pub fs: RootFs,
    /// The filesystem's slice, for a metadata scan (`fsck`).
    pub slice: Slice,
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

/// The filesystem's bytes as both readers see them: the slice, through the in-memory journal
/// replay (an empty overlay when there is nothing to replay).
pub type FsBytes = Replayed<Slice>;

/// Presents the filesystem to `ext4-view`, with optional byte ranges replaced (`patches`).
struct SliceReader {
    bytes: FsBytes,
    patches: Vec<(u64, Vec<u8>)>,
}

impl Ext4Read for SliceReader {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        raw::BlockRead::read_at(&self.bytes, start_byte, dst)?;
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

/// The filesystem as both readers see it.
pub struct State {
    pub bytes: FsBytes,
    /// Its superblock (after the replay: the journal's copy when it holds one).
    pub superblock: Superblock,
    /// The superblock bytes to show `ext4-view`: `needs_recovery` cleared when set, so the
    /// library never replays the journal itself.
    pub presented: Option<Vec<u8>>,
    pub notes: Vec<LoadNote>,
}

/// Reads the superblock and, when it needs recovery, replays the journal in memory.
pub fn state(slice: &Slice) -> Result<State, FsError> {
    let raw_sb = read_superblock_bytes(slice)?;
    let sb = Superblock::parse(&raw_sb)
        .map_err(|e| FsError::Load(format!("ext4 superblock is corrupt: {e}")))?;
    let plain = |sb: Superblock, notes| State {
        bytes: Replayed {
            inner: slice.clone(),
            overlay: Arc::new(Overlay::new(u64::from(sb.block_size))),
        },
        presented: sb
            .needs_recovery()
            .then(|| superblock::mask_needs_recovery(&raw_sb)),
        superblock: sb,
        notes,
    };
    if !sb.needs_recovery() {
        return Ok(plain(sb, Vec::new()));
    }
    let not_replayed = |reason: String| vec![LoadNote::JournalNotReplayed { reason }];
    // The journal is read from the disk as it is (the kernel finds it the same way).
    let disk = match raw::RawFs::open(Box::new(slice.clone()), sb.clone()) {
        Ok(d) => d,
        Err(e) => {
            let n = not_replayed(format!("the journal inode cannot be read: {e}"));
            return Ok(plain(sb, n));
        }
    };
    let r = match jbd2::replay_fs(&disk) {
        Ok(r) => r,
        Err(e) => return Ok(plain(sb, not_replayed(e.to_string()))),
    };
    let mut notes = vec![LoadNote::JournalReplayed {
        transactions: r.transactions,
        first_tid: r.first_tid,
        end_tid: r.end_tid,
        blocks: r.overlay.len(),
        writes: r.writes,
        revoke_records: r.revoke_records,
        revoked: r.revoked_blocks,
        wrapped: r.wrapped,
        end: r.end.describe(),
        features: r.journal.feature_names(),
        errno: r.journal.errno,
    }];
    if let jbd2::LogEnd::Corrupt { kind, .. } = &r.end {
        notes.push(LoadNote::JournalPartlyReplayed {
            reason: format!(
                "{}; the {} transaction(s) before it were replayed, it and any after it were not. What the peers do: {}",
                r.end.describe(),
                r.transactions,
                kind.peers()
            ),
        });
    }
    if let Some(&first) = r.partial_commits.first() {
        notes.push(LoadNote::JournalReplayDiffers {
            reason: format!(
                "the commit block of transaction {first}{} was written only in part (the checksum of its header holds, that of the whole block does not: the power went while it was written). Linux 6.x accepts such a commit (\"JBD2: Find incomplete commit block\") and replays it, as this inspection did; e2fsck 1.47 stops the replay there (\"Journal transaction {first} was corrupt, replay was aborted\"), so if e2fsck replays the journal first (a boot-time fsck does), transaction {first} and the {} after it are lost and the filesystem is marked with errors",
                if r.partial_commits.len() > 1 {
                    format!(" (and {} more)", r.partial_commits.len() - 1)
                } else {
                    String::new()
                },
                r.end_tid.wrapping_sub(first).wrapping_sub(1)
            ),
        });
    }
    if let Some(tid) = r.fast_commits {
        notes.push(LoadNote::JournalPartlyReplayed {
            reason: format!(
                "the journal's fast-commit area holds fast commits for transaction {tid} (ext4's logical journal records, fast_commit feature), which this reader does not replay: changes synced in the last moments before the crash are missing"
            ),
        });
    }
    let bytes = Replayed {
        inner: slice.clone(),
        overlay: Arc::new(r.overlay),
    };
    let mut new_raw = vec![0u8; superblock::SIZE];
    let replayed_sb = raw::BlockRead::read_at(&bytes, superblock::OFFSET, &mut new_raw)
        .map_err(|e| e.to_string())
        .and_then(|()| Superblock::parse(&new_raw).map_err(|e| e.to_string()));
    match replayed_sb {
        Ok(new_sb) => Ok(State {
            bytes,
            presented: Some(superblock::mask_needs_recovery(&new_raw)),
            superblock: new_sb,
            notes,
        }),
        Err(e) => Ok(plain(
            sb,
            not_replayed(format!(
                "the journal replaces the superblock with an invalid one ({e})"
            )),
        )),
    }
}

/// Opens an ext2/3/4 filesystem on `slice`.
pub fn open(slice: &Slice) -> Result<Ext4Volume, FsError> {
    let State {
        bytes,
        superblock: sb,
        presented,
        mut notes,
    } = state(slice)?;
    let own = match raw::RawFs::open(Box::new(bytes.clone()), sb.clone()) {
        Ok(r) => Some(r),
        Err(e) => {
            notes.push(LoadNote::OwnReaderUnavailable {
                reason: e.to_string(),
            });
            None
        }
    };
    // Descriptors with a bad checksum are shown to the library with a corrected one.
    let mut patches = Vec::new();
    if let Some(r) = &own {
        patches.extend(r.gd_patches.iter().cloned());
        for b in &r.bad_groups {
            let first_block = u64::from(sb.first_data_block)
                + u64::from(b.group) * u64::from(sb.blocks_per_group);
            let blocks = sb
                .blocks_count
                .saturating_sub(first_block)
                .min(u64::from(sb.blocks_per_group)) as u32;
            notes.push(LoadNote::GroupDescriptorChecksum {
                group: b.group,
                stored: b.stored,
                computed: b.computed,
                first_block,
                blocks,
                first_inode: u64::from(b.group) * u64::from(sb.inodes_per_group) + 1,
                inodes: sb.inodes_per_group,
            });
        }
    }
    if let Some(p) = presented {
        patches.push((superblock::OFFSET, p));
    }
    let fs = Ext4::load(Box::new(SliceReader { bytes, patches })).map_err(|e| load_error(&e))?;
    if sb.unsigned_hash() && sb.feature_compat & superblock::COMPAT_DIR_INDEX != 0 {
        notes.push(LoadNote::UnsignedDirectoryHash);
    }
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
                raw: own,
                unsigned_hash: sb.unsigned_hash(),
                stat_cache: Default::default(),
                dir_cache: Default::default(),
                damage: Default::default(),
            }),
            info,
        ),
        slice: slice.clone(),
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
    /// The own reader (through the same replayed bytes as the library).
    raw: Option<raw::RawFs>,
    unsigned_hash: bool,
    /// Names of recently looked-up directories (inode → name → inode), so resolving many
    /// paths in one directory scans it once. Bounded by `DIR_CACHE_MAX_NAMES`.
    dir_cache: std::cell::RefCell<DirCache>,
    /// Damage met by the own reader: problem → paths it cost (bounded).
    damage:
        std::cell::RefCell<std::collections::BTreeMap<String, std::collections::BTreeSet<PathBuf>>>,
    /// `lstat` answers by path. `ext4-view` resolves every path from `/` again, and `RootFs`
    /// resolves component by component, so the same prefixes are looked up over and over; the
    /// volume is read-only, so answers never go stale. Cleared when it grows past
    /// `STAT_CACHE_MAX` to bound memory.
    stat_cache: std::cell::RefCell<std::collections::HashMap<PathBuf, Metadata>>,
}

const STAT_CACHE_MAX: usize = 16_384;
const DIR_CACHE_MAX_NAMES: usize = 262_144;
/// Distinct problems, and paths per problem, kept for the report.
const DAMAGE_MAX: usize = 1024;
const DAMAGE_MAX_PATHS: usize = 32;

/// One directory's names; `bad` lists the blocks that could not be read (a name not found may
/// be in one of them).
struct DirNames {
    names: std::collections::HashMap<Vec<u8>, u32>,
    bad: Vec<raw::RawError>,
}

#[derive(Default)]
struct DirCache {
    dirs: std::collections::HashMap<u32, std::rc::Rc<DirNames>>,
    names: usize,
}

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
        let md = match &self.raw {
            Some(r) => self.lstat_raw(r, path)?,
            None => self.lstat_uncached(path)?,
        };
        let mut cache = self.stat_cache.borrow_mut();
        if cache.len() >= STAT_CACHE_MAX {
            cache.clear();
        }
        cache.insert(path.to_path_buf(), md.clone());
        Ok(md)
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf, FsError> {
        match &self.raw {
            Some(r) => {
                let ino = self.raw_inode(r, path)?;
                let t = r.read_link(&ino).map_err(|e| self.fail(path, e))?;
                Ok(PathBuf::from(OsStr::from_bytes(&t)))
            }
            None => self.read_link_impl(path),
        }
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<DirEntry>, FsError> {
        match &self.raw {
            Some(r) => self.read_dir_raw(r, path),
            None => self.read_dir_impl(path),
        }
    }

    fn open(&self, path: &Path) -> Result<Box<dyn Read + '_>, FsError> {
        match &self.raw {
            Some(r) => {
                let ino = self.raw_inode(r, path)?;
                let f = r.reader(&ino).map_err(|e| self.fail(path, e))?;
                Ok(Box::new(TrackedReader {
                    inner: f,
                    backend: self,
                    path: path.to_path_buf(),
                }))
            }
            None => self.open_impl(path),
        }
    }

    fn open_seekable(&self, path: &Path) -> Result<Box<dyn crate::fs::ReadSeek + '_>, FsError> {
        match &self.raw {
            Some(r) => {
                let ino = self.raw_inode(r, path)?;
                let f = r.reader(&ino).map_err(|e| self.fail(path, e))?;
                Ok(Box::new(TrackedReader {
                    inner: f,
                    backend: self,
                    path: path.to_path_buf(),
                }))
            }
            None => {
                let f = self
                    .fs
                    .open(path.as_os_str().as_bytes())
                    .map_err(|e| map_err(path, e))?;
                Ok(Box::new(f))
            }
        }
    }

    fn xattr(&self, path: &Path, name: &str) -> Result<Option<Vec<u8>>, FsError> {
        match &self.raw {
            Some(r) => {
                let ino = self.raw_inode(r, path)?;
                r.xattr(&ino, name).map_err(|e| self.fail(path, e))
            }
            None => Err(FsError::Unsupported(format!(
                "{}: extended attributes are not readable without the project's own metadata reader",
                path.display()
            ))),
        }
    }

    fn damage(&self) -> Vec<Damage> {
        self.damage
            .borrow()
            .iter()
            .map(|(detail, paths)| Damage {
                detail: detail.clone(),
                paths: paths.iter().cloned().collect(),
            })
            .collect()
    }
}

/// A file's reader that records damage met while reading it.
struct TrackedReader<'a> {
    inner: raw::FileReader<'a>,
    backend: &'a Ext4Backend,
    path: PathBuf,
}

impl Read for TrackedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.fill(buf).map_err(|e| {
            let msg = e.to_string();
            self.backend.fail(&self.path, e);
            std::io::Error::other(msg)
        })
    }
}

impl std::io::Seek for TrackedReader<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(to)
    }
}

/// Maps an own-reader error to ours, naming the guest path.
fn raw_err(path: &Path, e: raw::RawError) -> FsError {
    match e {
        raw::RawError::Io(d) => FsError::Io {
            path: path.to_path_buf(),
            detail: d,
        },
        raw::RawError::Unsupported(d) => FsError::Unsupported(format!("{}: {d}", path.display())),
        other => FsError::Corrupt {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

fn stamp_time(t: inode::Stamp) -> Time {
    Time {
        secs: t.secs,
        nanos: t.nanos,
    }
}

fn inode_metadata(i: &inode::Inode) -> Metadata {
    Metadata {
        file_type: i.file_type(),
        perm: u32::from(i.mode) & 0o7777,
        uid: i.uid,
        gid: i.gid,
        size: i.size,
        mtime: stamp_time(i.mtime),
        atime: stamp_time(i.atime),
        ctime: Some(stamp_time(i.ctime)),
        inode: Some(u64::from(i.ino)),
        nlink: Some(u64::from(i.links_count)),
    }
}

/// `EXT2_FT_*` to a file type.
fn dirent_type(ft: u8) -> FileType {
    match ft {
        1 => FileType::Regular,
        2 => FileType::Directory,
        3 => FileType::CharDevice,
        4 => FileType::BlockDevice,
        5 => FileType::Fifo,
        6 => FileType::Socket,
        7 => FileType::Symlink,
        _ => FileType::Unknown,
    }
}

impl Ext4Backend {
    /// Records damage the own reader met at `path` and maps the error to ours.
    fn fail(&self, path: &Path, e: raw::RawError) -> FsError {
        if !matches!(e, raw::RawError::Unsupported(_)) {
            let mut d = self.damage.borrow_mut();
            let detail = e.to_string();
            if d.len() < DAMAGE_MAX || d.contains_key(&detail) {
                let paths = d.entry(detail).or_default();
                if paths.len() < DAMAGE_MAX_PATHS {
                    paths.insert(path.to_path_buf());
                }
            }
        }
        raw_err(path, e)
    }

    /// The inode number of `path` (whose parents `RootFs` resolved), through the own reader.
    fn raw_ino(&self, r: &raw::RawFs, path: &Path) -> Result<u32, FsError> {
        if path == Path::new("/") {
            return Ok(raw::ROOT_INO);
        }
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(FsError::NotFound(path.to_path_buf()));
        };
        let pmd = self.lstat(parent)?;
        if !pmd.is_dir() {
            return Err(FsError::NotADirectory(parent.to_path_buf()));
        }
        let pino = pmd.inode.unwrap_or(0) as u32;
        let names = self.dir_names(r, pino, parent)?;
        match names.names.get(name.as_bytes()) {
            Some(&ino) => Ok(ino),
            None => match names.bad.first() {
                // The name may have been in a block that could not be read.
                Some(e) => Err(self.fail(path, e.clone())),
                None => Err(FsError::NotFound(path.to_path_buf())),
            },
        }
    }

    fn raw_inode(&self, r: &raw::RawFs, path: &Path) -> Result<inode::Inode, FsError> {
        let ino = self.raw_ino(r, path)?;
        let i = r.inode(ino).map_err(|e| self.fail(path, e))?;
        if i.mode == 0 {
            return Err(self.fail(
                path,
                raw::RawError::Corrupt {
                    ino,
                    what: "unused (cleared) but still named in its directory".into(),
                },
            ));
        }
        Ok(i)
    }

    fn lstat_raw(&self, r: &raw::RawFs, path: &Path) -> Result<Metadata, FsError> {
        Ok(inode_metadata(&self.raw_inode(r, path)?))
    }

    fn dir_names(
        &self,
        r: &raw::RawFs,
        ino: u32,
        path: &Path,
    ) -> Result<std::rc::Rc<DirNames>, FsError> {
        if let Some(d) = self.dir_cache.borrow().dirs.get(&ino) {
            return Ok(d.clone());
        }
        let dir = r.inode(ino).map_err(|e| self.fail(path, e))?;
        let blocks = r.dir_blocks(&dir).map_err(|e| self.fail(path, e))?;
        let mut names = std::collections::HashMap::new();
        let mut bad = Vec::new();
        for (_, b) in blocks {
            match b {
                Ok(entries) => {
                    for e in entries {
                        names.entry(e.name).or_insert(e.inode);
                    }
                }
                Err(e) => bad.push(e),
            }
        }
        let d = std::rc::Rc::new(DirNames { names, bad });
        let mut cache = self.dir_cache.borrow_mut();
        if cache.names + d.names.len() > DIR_CACHE_MAX_NAMES {
            cache.dirs.clear();
            cache.names = 0;
        }
        cache.names += d.names.len();
        cache.dirs.insert(ino, d.clone());
        Ok(d)
    }

    fn read_dir_raw(&self, r: &raw::RawFs, path: &Path) -> Result<Vec<DirEntry>, FsError> {
        let dir = self.raw_inode(r, path)?;
        let entries = r.dir_entries(&dir).map_err(|e| self.fail(path, e))?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            if e.name == b"." || e.name == b".." {
                continue;
            }
            let mut file_type = dirent_type(e.file_type);
            if file_type == FileType::Unknown {
                if let Ok(i) = r.inode(e.inode) {
                    file_type = i.file_type();
                }
            }
            out.push(DirEntry {
                name: OsStr::from_bytes(&e.name).to_os_string(),
                file_type,
            });
        }
        Ok(out)
    }

    fn lstat_uncached(&self, path: &Path) -> Result<Metadata, FsError> {
        let md = match self.fs.symlink_metadata(path.as_os_str().as_bytes()) {
            Ok(md) => md,
            Err(Ext4Error::NotFound) if self.unsigned_hash => self.linear_lookup(path)?,
            Err(e) => return Err(map_err(path, e)),
        };
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

    /// A hashed lookup failed on an unsigned-hash filesystem: the library hashes names with
    /// signed chars, so non-ASCII names are missed; scan the parent's entries instead.
    fn linear_lookup(&self, path: &Path) -> Result<ext4_view::Metadata, FsError> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(FsError::NotFound(path.to_path_buf()));
        };
        let rd = self
            .fs
            .read_dir(parent.as_os_str().as_bytes())
            .map_err(|e| map_err(parent, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| map_err(parent, e))?;
            let n = entry.file_name();
            if n.as_ref() == name.as_bytes() {
                return entry.metadata().map_err(|e| map_err(path, e));
            }
        }
        Err(FsError::NotFound(path.to_path_buf()))
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
