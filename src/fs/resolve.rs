//! Path resolution confined to the guest, as the kernel would resolve it with the guest's root
//! as `/` (namei with a chroot): absolute symlink targets restart at the guest root, `..` at the
//! root stays at the root, and more than `MAX_SYMLINKS` links is an error (Linux: 40, ELOOP).
//! No host path is ever consulted, whatever the backend.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::{Backend, FsError};

/// Linux's `MAXSYMLINKS`.
pub const MAX_SYMLINKS: u32 = 40;
/// Linux's `PATH_MAX`: a longer path, or a longer expansion while resolving, is refused.
pub const MAX_PATH: usize = 4096;

/// Resolves `path` to a guest path whose every component is a real entry. With `follow_last`
/// false, the last component is not followed if it is a symlink (and need not exist... it must
/// exist for the callers, who `lstat` it next). A relative `path` is taken from `/`.
pub(crate) fn resolve(
    backend: &dyn Backend,
    path: &Path,
    follow_last: bool,
) -> Result<PathBuf, FsError> {
    if path.as_os_str().len() > MAX_PATH {
        return Err(FsError::PathTooLong(path.to_path_buf()));
    }
    let mut done: Vec<OsString> = Vec::new();
    let mut todo: VecDeque<OsString> = components(path);
    let mut links = 0u32;
    let mut pending_len: usize = path.as_os_str().len();

    while let Some(name) = todo.pop_front() {
        pending_len = pending_len.saturating_sub(name.len() + 1);
        match name.as_bytes() {
            b"" | b"." => continue,
            b".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let is_last = todo.is_empty();
        let candidate = join(&done, &name);
        if is_last && !follow_last {
            done.push(name);
            break;
        }
        let md = backend.lstat(&candidate)?;
        if md.is_symlink() {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(FsError::TooManySymlinks(path.to_path_buf()));
            }
            let target = backend.read_link(&candidate)?;
            if target.as_os_str().is_empty() {
                // Linux: an empty symlink target is ENOENT.
                return Err(FsError::NotFound(candidate));
            }
            pending_len += target.as_os_str().len() + 1;
            if pending_len > MAX_PATH {
                return Err(FsError::PathTooLong(path.to_path_buf()));
            }
            if target.is_absolute() {
                done.clear();
            }
            for c in components(&target).into_iter().rev() {
                todo.push_front(c);
            }
        } else {
            if !is_last && !md.is_dir() {
                return Err(FsError::NotADirectory(candidate));
            }
            done.push(name);
        }
    }
    Ok(join_all(&done))
}

/// The components of a path as names; `RootDir` and `CurDir` dropped, `..` kept as `..`.
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

fn join(done: &[OsString], name: &OsString) -> PathBuf {
    let mut p = join_all(done);
    p.push(name);
    p
}

fn join_all(done: &[OsString]) -> PathBuf {
    let mut p = PathBuf::from("/");
    for c in done {
        p.push(c);
    }
    p
}

/// Lexically normalizes a guest path: absolute, no `.`, `..` applied (clamped at `/`), no
/// trailing slash. Used for display and for joining, never in place of `resolve`.
pub fn normalize(path: &Path) -> PathBuf {
    let mut done: Vec<OsString> = Vec::new();
    for c in components(path) {
        if c == ".." {
            done.pop();
        } else {
            done.push(c);
        }
    }
    join_all(&done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::RootFs;
    use crate::fs::mem::MemFs;

    fn fs() -> RootFs {
        let mut m = MemFs::new();
        m.dir("/etc", 0o755, 0, 0);
        m.file("/etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644, 0, 0);
        m.dir("/srv/home/admin", 0o755, 1000, 1000);
        m.file("/srv/home/admin/key", b"k", 0o600, 1000, 1000);
        m.symlink("/home", "/srv/home");
        m.symlink("/etc/alt", "../../../../../etc/passwd");
        m.symlink("/etc/abs", "/etc/passwd");
        m.symlink("/loop1", "/loop2");
        m.symlink("/loop2", "loop1");
        m.symlink("/empty", "");
        m.symlink("/dangling", "/nowhere");
        m.symlink("/srv/up", "..");
        m.into_rootfs()
    }

    #[test]
    fn absolute_symlinks_resolve_inside_the_guest() {
        let fs = fs();
        assert_eq!(
            fs.canonicalize("/home/admin/key").unwrap(),
            PathBuf::from("/srv/home/admin/key")
        );
        assert_eq!(
            fs.canonicalize("/etc/abs").unwrap(),
            PathBuf::from("/etc/passwd")
        );
    }

    #[test]
    fn dotdot_cannot_climb_out() {
        let fs = fs();
        assert_eq!(
            fs.canonicalize("/etc/alt").unwrap(),
            PathBuf::from("/etc/passwd")
        );
        assert_eq!(
            fs.canonicalize("/../../etc").unwrap(),
            PathBuf::from("/etc")
        );
        assert_eq!(
            fs.canonicalize("/srv/up/srv/up/etc").unwrap(),
            PathBuf::from("/etc")
        );
        assert!(
            fs.canonicalize("/srv/up/up").is_err(),
            "/srv/up is /, which has no up"
        );
        assert_eq!(fs.canonicalize("/home/..").unwrap(), PathBuf::from("/srv"));
    }

    #[test]
    fn loops_and_dangling_links_are_errors() {
        let fs = fs();
        assert!(matches!(
            fs.canonicalize("/loop1"),
            Err(FsError::TooManySymlinks(_))
        ));
        assert!(matches!(
            fs.canonicalize("/empty"),
            Err(FsError::NotFound(_))
        ));
        assert!(matches!(
            fs.canonicalize("/dangling"),
            Err(FsError::NotFound(_))
        ));
        assert!(!fs.exists("/dangling").unwrap());
        assert!(fs.symlink_metadata("/dangling").unwrap().is_symlink());
        assert!(matches!(
            fs.canonicalize("/etc/passwd/x"),
            Err(FsError::NotADirectory(_))
        ));
    }

    #[test]
    fn last_component_not_followed_for_lstat() {
        let fs = fs();
        assert!(fs.symlink_metadata("/home").unwrap().is_symlink());
        assert!(fs.metadata("/home").unwrap().is_dir());
        assert_eq!(fs.read_link("/home").unwrap(), PathBuf::from("/srv/home"));
    }

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(normalize(Path::new("a/./b/../c/")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../..")), PathBuf::from("/"));
    }
}
