//! One view of a guest filesystem, whatever holds it.
//!
//! `RootFs` gives metadata, reads, directory listings and symlink targets by guest path. Every
//! path is resolved here, component by component, with the guest's root as `/`: an absolute
//! symlink restarts at the guest root, `..` stops at it, and at most [`MAX_SYMLINKS`] links are
//! followed. Backends (`ext4`, a mounted `dir`) only answer questions about paths whose parent
//! components are already resolved real directories, so the confinement rule lives in one place
//! for every backend.

pub mod dir;
pub mod ext4;
pub mod glob;
pub mod mem;
mod resolve;
pub mod xfs;

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use resolve::{MAX_SYMLINKS, normalize};

/// Files read whole (configuration, account databases) are refused beyond this size, so a
/// crafted volume cannot make the tool allocate without bound.
pub const DEFAULT_READ_LIMIT: u64 = 64 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    BlockDevice,
    CharDevice,
    Fifo,
    Socket,
    Unknown,
}

impl FileType {
    /// The character `ls -l` prints.
    pub fn ls_char(self) -> char {
        match self {
            FileType::Regular => '-',
            FileType::Directory => 'd',
            FileType::Symlink => 'l',
            FileType::BlockDevice => 'b',
            FileType::CharDevice => 'c',
            FileType::Fifo => 'p',
            FileType::Socket => 's',
            FileType::Unknown => '?',
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            FileType::Regular => "regular file",
            FileType::Directory => "directory",
            FileType::Symlink => "symbolic link",
            FileType::BlockDevice => "block device",
            FileType::CharDevice => "character device",
            FileType::Fifo => "fifo",
            FileType::Socket => "socket",
            FileType::Unknown => "unknown file type",
        }
    }

    /// From the `S_IFMT` bits of a mode.
    pub fn from_mode(mode: u32) -> FileType {
        match mode & 0o170000 {
            0o100000 => FileType::Regular,
            0o040000 => FileType::Directory,
            0o120000 => FileType::Symlink,
            0o060000 => FileType::BlockDevice,
            0o020000 => FileType::CharDevice,
            0o010000 => FileType::Fifo,
            0o140000 => FileType::Socket,
            _ => FileType::Unknown,
        }
    }
}

/// A timestamp: seconds since the epoch and nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Time {
    pub secs: i64,
    pub nanos: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub file_type: FileType,
    /// Permission bits with setuid/setgid/sticky (`mode & 0o7777`).
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: Time,
    pub atime: Time,
    /// Not every backend exposes these (`ext4-view` 1.0 does not).
    pub ctime: Option<Time>,
    pub inode: Option<u64>,
    pub nlink: Option<u64>,
}

impl Metadata {
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }
    pub fn is_file(&self) -> bool {
        self.file_type == FileType::Regular
    }
    pub fn is_symlink(&self) -> bool {
        self.file_type == FileType::Symlink
    }
    /// `-rwxr-xr-x`, with s/S/t/T as `ls` prints them.
    pub fn mode_string(&self) -> String {
        mode_string(self.file_type, self.perm)
    }
}

pub fn mode_string(file_type: FileType, perm: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(file_type.ls_char());
    let bit = |b: u32, c: char| if perm & b != 0 { c } else { '-' };
    let special = |x: u32, sp: u32, lower: char, upper: char| match (perm & x != 0, perm & sp != 0)
    {
        (true, true) => lower,
        (false, true) => upper,
        (true, false) => 'x',
        (false, false) => '-',
    };
    s.push(bit(0o400, 'r'));
    s.push(bit(0o200, 'w'));
    s.push(special(0o100, 0o4000, 's', 'S'));
    s.push(bit(0o040, 'r'));
    s.push(bit(0o020, 'w'));
    s.push(special(0o010, 0o2000, 's', 'S'));
    s.push(bit(0o004, 'r'));
    s.push(bit(0o002, 'w'));
    s.push(special(0o001, 0o1000, 't', 'T'));
    s
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The name as stored (guest names need not be UTF-8).
    pub name: OsString,
    /// From the directory entry where the backend has it, else from the inode.
    pub file_type: FileType,
}

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{}: no such file or directory in the guest", .0.display())]
    NotFound(PathBuf),
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{}: is a directory", .0.display())]
    IsADirectory(PathBuf),
    #[error("{}: not a symbolic link", .0.display())]
    NotASymlink(PathBuf),
    #[error("{}: not a regular file ({})", .0.display(), .1.describe())]
    NotRegular(PathBuf, FileType),
    #[error("{}: too many levels of symbolic links (a symlink loop, or more than {MAX_SYMLINKS} links)", .0.display())]
    TooManySymlinks(PathBuf),
    #[error("{}: path too long", .0.display())]
    PathTooLong(PathBuf),
    #[error("{}: {size} bytes, more than the {limit}-byte limit for files read whole", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{}: file contents are encrypted", .0.display())]
    Encrypted(PathBuf),
    #[error("{}: filesystem corrupt: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("{}: {detail}", path.display())]
    Io { path: PathBuf, detail: String },
    #[error("cannot read the filesystem: {0}")]
    Load(String),
    #[error("{0}")]
    Unsupported(String),
}

impl FsError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, FsError::NotFound(_))
    }
}

/// A reader that can also seek: journal files are read by offset, big text logs from their tail.
pub trait ReadSeek: Read + std::io::Seek {}
impl<T: Read + std::io::Seek> ReadSeek for T {}

/// What a backend answers. Every `path` it receives is absolute and normalized, and all of its
/// parent components are real directories (no symlinks): `RootFs` resolved them.
pub trait Backend {
    /// `lstat`: the entry itself, not what a symlink points to.
    fn lstat(&self, path: &Path) -> Result<Metadata, FsError>;
    /// The raw target of a symlink.
    fn read_link(&self, path: &Path) -> Result<PathBuf, FsError>;
    /// Entries of a directory, without `.` and `..`.
    fn read_dir(&self, path: &Path) -> Result<Vec<DirEntry>, FsError>;
    /// A reader over a regular file's contents.
    fn open(&self, path: &Path) -> Result<Box<dyn Read + '_>, FsError>;
    /// A seekable reader over a regular file. Backends that can only stream say so.
    fn open_seekable(&self, path: &Path) -> Result<Box<dyn ReadSeek + '_>, FsError> {
        Err(FsError::Unsupported(format!(
            "{}: this kind of target cannot read a file at an offset",
            path.display()
        )))
    }
    /// An extended attribute of the entry itself (`security.selinux`): `None` when it has none,
    /// `Unsupported` when this backend cannot read attributes.
    fn xattr(&self, path: &Path, _name: &str) -> Result<Option<Vec<u8>>, FsError> {
        Err(FsError::Unsupported(format!(
            "{}: extended attributes are not readable from this kind of target",
            path.display()
        )))
    }
    /// Damaged metadata met so far (only backends that verify metadata record it).
    fn damage(&self) -> Vec<Damage> {
        Vec::new()
    }
}

/// Metadata the backend found damaged while answering: one entry per distinct problem, with
/// the guest paths that could not be read because of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// What is wrong, e.g. "inode 14: checksum mismatch (stored 0x…, computed 0x…)".
    pub detail: String,
    pub paths: Vec<PathBuf>,
}

/// What the filesystem is, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FsInfo {
    /// `ext4`, `ext3`, `ext2`, `directory`.
    pub fs_type: String,
    pub uuid: Option<String>,
    pub label: Option<String>,
}

/// A guest filesystem, confined to itself.
pub struct RootFs {
    backend: Box<dyn Backend>,
    info: FsInfo,
}

impl std::fmt::Debug for RootFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootFs").field("info", &self.info).finish()
    }
}

impl RootFs {
    pub fn new(backend: Box<dyn Backend>, info: FsInfo) -> RootFs {
        RootFs { backend, info }
    }

    pub fn info(&self) -> &FsInfo {
        &self.info
    }

    /// Damaged metadata the reads so far ran into (see `Damage`).
    pub fn damage(&self) -> Vec<Damage> {
        self.backend.damage()
    }

    /// The real path of `path` inside the guest, following every symlink.
    pub fn canonicalize(&self, path: impl AsRef<Path>) -> Result<PathBuf, FsError> {
        resolve::resolve(&*self.backend, path.as_ref(), true)
    }

    /// Metadata of what `path` names, following symlinks.
    pub fn metadata(&self, path: impl AsRef<Path>) -> Result<Metadata, FsError> {
        let real = self.canonicalize(path)?;
        self.backend.lstat(&real)
    }

    /// Metadata of `path` itself (a symlink is not followed).
    pub fn symlink_metadata(&self, path: impl AsRef<Path>) -> Result<Metadata, FsError> {
        let p = resolve::resolve(&*self.backend, path.as_ref(), false)?;
        self.backend.lstat(&p)
    }

    /// An extended attribute of what `path` names (symlinks followed).
    pub fn xattr(&self, path: impl AsRef<Path>, name: &str) -> Result<Option<Vec<u8>>, FsError> {
        let real = self.canonicalize(path)?;
        self.backend.xattr(&real, name)
    }

    pub fn read_link(&self, path: impl AsRef<Path>) -> Result<PathBuf, FsError> {
        let p = resolve::resolve(&*self.backend, path.as_ref(), false)?;
        let md = self.backend.lstat(&p)?;
        if !md.is_symlink() {
            return Err(FsError::NotASymlink(p));
        }
        self.backend.read_link(&p)
    }

    /// Whether `path` exists (following symlinks; a dangling link does not exist).
    pub fn exists(&self, path: impl AsRef<Path>) -> Result<bool, FsError> {
        match self.metadata(path) {
            Ok(_) => Ok(true),
            Err(FsError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Directory entries, sorted by name for stable output.
    pub fn read_dir(&self, path: impl AsRef<Path>) -> Result<Vec<DirEntry>, FsError> {
        let real = self.canonicalize(path)?;
        let md = self.backend.lstat(&real)?;
        if !md.is_dir() {
            return Err(FsError::NotADirectory(real));
        }
        let mut entries = self.backend.read_dir(&real)?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// A reader over a regular file (following symlinks).
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Box<dyn Read + '_>, FsError> {
        let real = self.canonicalize(path)?;
        let md = self.backend.lstat(&real)?;
        match md.file_type {
            FileType::Regular => self.backend.open(&real),
            FileType::Directory => Err(FsError::IsADirectory(real)),
            other => Err(FsError::NotRegular(real, other)),
        }
    }

    /// A seekable reader over a regular file (following symlinks).
    pub fn open_seekable(&self, path: impl AsRef<Path>) -> Result<Box<dyn ReadSeek + '_>, FsError> {
        let real = self.canonicalize(path)?;
        let md = self.backend.lstat(&real)?;
        match md.file_type {
            FileType::Regular => self.backend.open_seekable(&real),
            FileType::Directory => Err(FsError::IsADirectory(real)),
            other => Err(FsError::NotRegular(real, other)),
        }
    }

    /// The whole file, refused above `limit` bytes.
    pub fn read_limited(&self, path: impl AsRef<Path>, limit: u64) -> Result<Vec<u8>, FsError> {
        let real = self.canonicalize(path)?;
        let md = self.backend.lstat(&real)?;
        match md.file_type {
            FileType::Regular => {}
            FileType::Directory => return Err(FsError::IsADirectory(real)),
            other => return Err(FsError::NotRegular(real, other)),
        }
        if md.size > limit {
            return Err(FsError::TooLarge {
                path: real,
                size: md.size,
                limit,
            });
        }
        let mut out = Vec::with_capacity(md.size as usize);
        let reader = self.backend.open(&real)?;
        // `take` guards against a size field that lies.
        reader
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| io_error(&real, e))?;
        if out.len() as u64 > limit {
            return Err(FsError::TooLarge {
                path: real,
                size: out.len() as u64,
                limit,
            });
        }
        Ok(out)
    }

    /// The whole file with the default limit.
    pub fn read(&self, path: impl AsRef<Path>) -> Result<Vec<u8>, FsError> {
        self.read_limited(path, DEFAULT_READ_LIMIT)
    }

    /// A text file, lossily decoded (guest configuration is not always valid UTF-8).
    pub fn read_to_string_lossy(&self, path: impl AsRef<Path>) -> Result<String, FsError> {
        let bytes = self.read(path)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The path of the entry with inode number `ino`, found by a breadth-first walk from `/`
    /// that looks at no more than `budget` entries (`None` when not found within it, or when
    /// the backend has no inode numbers). For naming an inode a superblock or a log mentions.
    pub fn find_inode(&self, ino: u64, budget: usize) -> Option<String> {
        let root = self.symlink_metadata("/").ok()?;
        if root.inode? == ino {
            return Some("/".into());
        }
        let mut queue = std::collections::VecDeque::from([PathBuf::from("/")]);
        let mut seen = 0usize;
        while let Some(dir) = queue.pop_front() {
            let Ok(entries) = self.read_dir(&dir) else {
                continue;
            };
            for e in entries {
                seen += 1;
                if seen > budget {
                    return None;
                }
                let p = dir.join(&e.name);
                let Ok(md) = self.symlink_metadata(&p) else {
                    continue;
                };
                if md.inode == Some(ino) {
                    return Some(p.to_string_lossy().into_owned());
                }
                if md.is_dir() {
                    queue.push_back(p);
                }
            }
        }
        None
    }

    /// Guest paths matching a glob pattern (`*`, `?`, `[...]` per component), sorted.
    pub fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, FsError> {
        glob::glob(self, pattern)
    }
}

/// Turns an I/O error from reading contents into an `FsError` that names the guest path. The
/// ext4 backend wraps library errors in `io::Error`; their text is kept.
pub(crate) fn io_error(path: &Path, e: std::io::Error) -> FsError {
    FsError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}
