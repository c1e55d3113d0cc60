//! A guest already mounted on the recovery host (`/mnt/rescue`), read through `std::fs` and
//! confined to its root.
//!
//! `RootFs` resolves every symlink itself, so this backend only ever `lstat`s host paths under
//! the root whose parents are real directories. Files are opened with `O_NOFOLLOW` (a symlink
//! swapped in after resolution is refused, not followed out of the guest) and `O_NONBLOCK` (a
//! FIFO in the guest must not hang the tool).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{Backend, DirEntry, FileType, FsError, FsInfo, Metadata, RootFs, Time};

pub struct DirBackend {
    root: PathBuf,
}

/// Opens a mounted guest at `root`.
pub fn open(root: &Path) -> Result<RootFs, FsError> {
    let md =
        std::fs::metadata(root).map_err(|e| FsError::Load(format!("{}: {e}", root.display())))?;
    if !md.is_dir() {
        return Err(FsError::Load(format!(
            "{}: not a directory",
            root.display()
        )));
    }
    let root = std::fs::canonicalize(root)
        .map_err(|e| FsError::Load(format!("{}: {e}", root.display())))?;
    Ok(RootFs::new(
        Box::new(DirBackend { root }),
        FsInfo {
            fs_type: "directory".into(),
            uuid: None,
            label: None,
        },
    ))
}

impl DirBackend {
    /// The host path of a resolved guest path. Guest paths are absolute and normalized, so
    /// stripping `/` and joining cannot leave `root`.
    fn host(&self, guest: &Path) -> PathBuf {
        let rel = guest.strip_prefix("/").unwrap_or(guest);
        if rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    fn err(guest: &Path, e: std::io::Error) -> FsError {
        match e.kind() {
            std::io::ErrorKind::NotFound => FsError::NotFound(guest.to_path_buf()),
            _ if e.raw_os_error() == Some(libc::ENOTDIR) => {
                FsError::NotADirectory(guest.to_path_buf())
            }
            _ if e.raw_os_error() == Some(libc::ELOOP) => {
                FsError::TooManySymlinks(guest.to_path_buf())
            }
            _ => FsError::Io {
                path: guest.to_path_buf(),
                detail: e.to_string(),
            },
        }
    }
}

fn metadata_from_std(md: &std::fs::Metadata) -> Metadata {
    let mode = md.mode();
    Metadata {
        file_type: FileType::from_mode(mode),
        perm: mode & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        size: md.size(),
        mtime: Time {
            secs: md.mtime(),
            nanos: md.mtime_nsec().clamp(0, 999_999_999) as u32,
        },
        atime: Time {
            secs: md.atime(),
            nanos: md.atime_nsec().clamp(0, 999_999_999) as u32,
        },
        ctime: Some(Time {
            secs: md.ctime(),
            nanos: md.ctime_nsec().clamp(0, 999_999_999) as u32,
        }),
        inode: Some(md.ino()),
        nlink: Some(md.nlink()),
    }
}

impl Backend for DirBackend {
    fn lstat(&self, path: &Path) -> Result<Metadata, FsError> {
        let md = std::fs::symlink_metadata(self.host(path)).map_err(|e| Self::err(path, e))?;
        Ok(metadata_from_std(&md))
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf, FsError> {
        std::fs::read_link(self.host(path)).map_err(|e| Self::err(path, e))
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<DirEntry>, FsError> {
        let rd = std::fs::read_dir(self.host(path)).map_err(|e| Self::err(path, e))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Self::err(path, e))?;
            let file_type = match entry.file_type() {
                Ok(ft) => {
                    use std::os::unix::fs::FileTypeExt;
                    if ft.is_symlink() {
                        FileType::Symlink
                    } else if ft.is_dir() {
                        FileType::Directory
                    } else if ft.is_file() {
                        FileType::Regular
                    } else if ft.is_block_device() {
                        FileType::BlockDevice
                    } else if ft.is_char_device() {
                        FileType::CharDevice
                    } else if ft.is_fifo() {
                        FileType::Fifo
                    } else if ft.is_socket() {
                        FileType::Socket
                    } else {
                        FileType::Unknown
                    }
                }
                Err(_) => FileType::Unknown,
            };
            out.push(DirEntry {
                name: entry.file_name(),
                file_type,
            });
        }
        Ok(out)
    }

    fn xattr(&self, path: &Path, name: &str) -> Result<Option<Vec<u8>>, FsError> {
        use std::os::unix::ffi::OsStrExt;
        let host = self.host(path);
        let (Ok(cpath), Ok(cname)) = (
            std::ffi::CString::new(host.as_os_str().as_bytes()),
            std::ffi::CString::new(name),
        ) else {
            return Ok(None);
        };
        let mut buf = vec![0u8; 4096];
        // SAFETY: both strings are NUL-terminated and live for the call; the buffer's length is
        // passed with it. lgetxattr does not follow a final symlink (the path is resolved).
        let n = unsafe {
            libc::lgetxattr(
                cpath.as_ptr(),
                cname.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENODATA) => Ok(None),
                Some(libc::ENOTSUP) => Err(FsError::Unsupported(format!(
                    "{}: the mounted filesystem has no extended attributes",
                    path.display()
                ))),
                _ => Err(Self::err(path, e)),
            };
        }
        buf.truncate(usize::try_from(n).unwrap_or(0));
        Ok(Some(buf))
    }

    fn open(&self, path: &Path) -> Result<Box<dyn Read + '_>, FsError> {
        Ok(Box::new(self.open_seekable(path)?))
    }

    fn open_seekable(&self, path: &Path) -> Result<Box<dyn crate::fs::ReadSeek + '_>, FsError> {
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(self.host(path))
            .map_err(|e| Self::err(path, e))?;
        let md = file.metadata().map_err(|e| Self::err(path, e))?;
        if !md.is_file() {
            return Err(FsError::NotRegular(
                path.to_path_buf(),
                FileType::from_mode(md.mode()),
            ));
        }
        Ok(Box::new(file))
    }
}
