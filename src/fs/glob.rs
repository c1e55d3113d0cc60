//! Shell-style globbing inside the guest, as glob(3) does it without flags: `*`, `?` and
//! bracket expressions per path component, a leading `.` matched only explicitly, results in
//! lexical order. OpenSSH's `Include` uses glob(3) this way; `ls` uses it for `/home/*/.ssh`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::{FsError, RootFs};

/// More matches than this is refused: a crafted directory must not exhaust memory.
const MAX_MATCHES: usize = 100_000;

/// True if `s` has a glob metacharacter.
pub fn has_magic(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// Matches one name against one pattern component (fnmatch(3) with FNM_PERIOD semantics for a
/// leading dot).
pub fn fnmatch(pattern: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pattern.first() != Some(&b'.') {
        return false;
    }
    match_from(pattern, name)
}

/// Matches with `*` and `?` only, no bracket expressions and no special leading dot: the
/// wildcard language of OpenSSH's `match_pattern` (match.c).
pub fn fnmatch_plain(pattern: &[u8], name: &[u8]) -> bool {
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < name.len() {
        match pattern.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some(&c) if c == b'?' || c == name[ni] => {
                pi += 1;
                ni += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pattern[pi..].iter().all(|&c| c == b'*')
}

fn match_from(p: &[u8], n: &[u8]) -> bool {
    // Iterative matcher with single-star backtracking: linear in practice, no recursion depth
    // for a hostile pattern.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = bracket(&p[pi..], n[ni]) {
                        if matched {
                            pi += next;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == b'[' {
                        // An unclosed `[` is a literal.
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                b'\\' if pi + 1 < p.len() => {
                    if p[pi + 1] == n[ni] {
                        pi += 2;
                        ni += 1;
                        continue;
                    }
                }
                c => {
                    if c == n[ni] {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Evaluates a bracket expression at the start of `p` against `c`: `Some((matched, length))`,
/// or `None` when the bracket is not closed.
fn bracket(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = p[i + 2];
            if lo <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
}

/// Expands `pattern` (absolute, or taken from `/`) against the guest. Only existing paths are
/// returned; symlinked directories are followed inside the guest.
pub fn glob(fs: &RootFs, pattern: &str) -> Result<Vec<PathBuf>, FsError> {
    let parts: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let mut current: Vec<PathBuf> = vec![PathBuf::from("/")];
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for base in &current {
            if has_magic(part) {
                let entries = match fs.read_dir(base) {
                    Ok(e) => e,
                    Err(FsError::NotFound(_)) | Err(FsError::NotADirectory(_)) => continue,
                    Err(e) => return Err(e),
                };
                for e in entries {
                    if fnmatch(part.as_bytes(), e.name.as_bytes()) {
                        next.push(base.join(OsString::from(&e.name)));
                        if next.len() > MAX_MATCHES {
                            return Err(FsError::Io {
                                path: PathBuf::from(pattern),
                                detail: format!("more than {MAX_MATCHES} matches"),
                            });
                        }
                    }
                }
            } else {
                next.push(base.join(part));
            }
        }
        if !last {
            // Keep only what can be descended into.
            next.retain(|p| fs.metadata(p).map(|m| m.is_dir()).unwrap_or(false));
        }
        current = next;
    }
    // Literal components were not checked: keep what exists (a dangling symlink counts, as
    // glob(3) lists it).
    current.retain(|p| fs.symlink_metadata(p).is_ok());
    current.sort();
    current.dedup();
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::mem::MemFs;

    #[test]
    fn fnmatch_basics() {
        assert!(fnmatch(b"*.conf", b"50-cloud-init.conf"));
        assert!(!fnmatch(b"*.conf", b".hidden.conf"));
        assert!(fnmatch(b".*", b".ssh"));
        assert!(fnmatch(b"a?c", b"abc"));
        assert!(fnmatch(b"[a-c]x", b"bx"));
        assert!(!fnmatch(b"[!a-c]x", b"bx"));
        assert!(fnmatch(b"[]]", b"]"));
        assert!(fnmatch(b"[", b"["));
        assert!(fnmatch(b"*a*b*c", b"xxaxxbxxc"));
        assert!(!fnmatch(b"*a*b*c", b"xxaxxbxx"));
        assert!(fnmatch(b"\\*", b"*"));
        assert!(fnmatch_plain(b"adm*", b"admin") && fnmatch_plain(b"?dmin", b"admin"));
        assert!(!fnmatch_plain(b"[a]dmin", b"admin") && fnmatch_plain(b"*", b".x"));
    }

    #[test]
    fn glob_in_guest() {
        let mut m = MemFs::new();
        m.dir("/srv/home/a/.ssh", 0o700, 1000, 1000);
        m.dir("/srv/home/b/.ssh", 0o700, 1001, 1001);
        m.dir("/srv/home/c", 0o700, 1002, 1002);
        m.symlink("/home", "/srv/home");
        m.file(
            "/etc/ssh/sshd_config.d/50-cloud-init.conf",
            b"",
            0o644,
            0,
            0,
        );
        m.file("/etc/ssh/sshd_config.d/10-x.conf", b"", 0o644, 0, 0);
        m.file("/etc/ssh/sshd_config.d/x.conf.bak", b"", 0o644, 0, 0);
        let fs = m.into_rootfs();
        assert_eq!(
            fs.glob("/home/*/.ssh").unwrap(),
            vec![PathBuf::from("/home/a/.ssh"), PathBuf::from("/home/b/.ssh")]
        );
        assert_eq!(
            fs.glob("/etc/ssh/sshd_config.d/*.conf").unwrap(),
            vec![
                PathBuf::from("/etc/ssh/sshd_config.d/10-x.conf"),
                PathBuf::from("/etc/ssh/sshd_config.d/50-cloud-init.conf")
            ]
        );
        assert!(fs.glob("/nope/*").unwrap().is_empty());
        assert_eq!(fs.glob("/home").unwrap(), vec![PathBuf::from("/home")]);
    }
}
