//! StrictModes: the ownership and mode check sshd applies to an authorized keys file and every
//! directory above it (`misc.c: safe_path`, called through `auth.c: auth_secure_path`), with
//! Debian's patch that tolerates a group-writable item whose group has the owner as its only
//! member (`user-group-modes.patch`, carried by Debian and Ubuntu).

use std::path::{Path, PathBuf};

use crate::fs::{FsError, Metadata, RootFs};
use crate::guest::accounts::{GroupEntry, PasswdEntry};

/// Why sshd refuses the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The first offending component (the file itself, or a directory above it).
    pub path: PathBuf,
    /// What is wrong, as sshd logs it ("bad ownership or modes for directory /home/admin").
    pub message: String,
    pub metadata: Option<Metadata>,
    /// The owner is wrong (else the mode is).
    pub bad_owner: bool,
}

/// The user database sshd would consult for Debian's group rule.
pub struct Users<'a> {
    pub passwd: &'a [PasswdEntry],
    pub groups: &'a [GroupEntry],
}

/// Debian's `secure_permissions`: owner root or `uid`; not world-writable; group-writable only
/// when the group has exactly one member, the owner (as primary group or listed member).
fn debian_permissions_ok(md: &Metadata, uid: u32, users: &Users) -> bool {
    if md.uid != 0 && md.uid != uid {
        return false;
    }
    if md.perm & 0o002 != 0 {
        return false;
    }
    if md.perm & 0o020 != 0 {
        let Some(group) = users.groups.iter().find(|g| g.gid == md.gid) else {
            return false;
        };
        let mut members = 0;
        for p in users.passwd.iter().filter(|p| p.gid == group.gid) {
            members += 1;
            if p.uid != uid {
                return false;
            }
        }
        let Some(owner) = users.passwd.iter().find(|p| p.uid == md.uid) else {
            return false;
        };
        if let Some(first) = group.members.first() {
            members += 1;
            if *first != owner.name || group.members.len() > 1 {
                return false;
            }
        }
        if members == 0 {
            return false;
        }
    }
    true
}

fn upstream_permissions_ok(md: &Metadata, uid: u32) -> bool {
    (md.uid == 0 || md.uid == uid) && md.perm & 0o022 == 0
}

/// Checks `file` for user `uid` with home `home` the way sshd does. `debian` selects the
/// Debian/Ubuntu group rule. `Ok(None)`: passes; `Ok(Some(v))`: sshd refuses the file;
/// `Err`: the file cannot be examined (missing — sshd then has no keys from it).
pub fn check(
    fs: &RootFs,
    file: &Path,
    uid: u32,
    home: &Path,
    debian: bool,
    users: &Users,
) -> Result<Option<Violation>, FsError> {
    let ok = |md: &Metadata| {
        if debian {
            debian_permissions_ok(md, uid, users)
        } else {
            upstream_permissions_ok(md, uid)
        }
    };
    // realpath(): symlinks resolved, inside the guest.
    let real = fs.canonicalize(file)?;
    let md = fs.metadata(&real)?;
    if !md.is_file() {
        return Ok(Some(Violation {
            path: real.clone(),
            message: format!("{} is not a regular file", real.display()),
            metadata: Some(md),
            bad_owner: false,
        }));
    }
    if !ok(&md) {
        let bad_owner = md.uid != 0 && md.uid != uid;
        return Ok(Some(Violation {
            path: real.clone(),
            message: format!("bad ownership or modes for file {}", real.display()),
            metadata: Some(md),
            bad_owner,
        }));
    }
    // The home directory as realpath() gives it; if it does not resolve, walk up to /.
    let home_real = fs.canonicalize(home).ok();
    let mut dir = real.clone();
    while let Some(parent) = dir.parent().map(Path::to_path_buf) {
        dir = parent;
        let md = fs.metadata(&dir)?;
        if !ok(&md) {
            let bad_owner = md.uid != 0 && md.uid != uid;
            return Ok(Some(Violation {
                path: dir.clone(),
                message: format!("bad ownership or modes for directory {}", dir.display()),
                metadata: Some(md),
                bad_owner,
            }));
        }
        if home_real.as_deref() == Some(dir.as_path()) || dir == Path::new("/") {
            break;
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::mem::MemFs;
    use crate::guest::accounts::{parse_group, parse_passwd};

    fn setup(home_mode: u32, ssh_mode: u32, key_mode: u32, key_uid: u32) -> RootFs {
        let mut m = MemFs::new();
        m.dir("/home", 0o755, 0, 0);
        m.dir("/home/admin", home_mode, 1000, 1000);
        m.dir("/home/admin/.ssh", ssh_mode, 1000, 1000);
        m.file(
            "/home/admin/.ssh/authorized_keys",
            b"k",
            key_mode,
            key_uid,
            1000,
        );
        m.dir("/etc/ssh/keys", 0o755, 0, 0);
        m.file("/etc/ssh/keys/admin", b"k", 0o644, 0, 0);
        m.dir("/srv", 0o777, 0, 0);
        m.into_rootfs()
    }

    fn run(fs: &RootFs, file: &str, debian: bool, group: &str) -> Option<String> {
        let (passwd, _) = parse_passwd(
            "root:x:0:0::/root:/bin/sh\nadmin:x:1000:1000::/home/admin:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n",
        );
        let (groups, _) = parse_group(group);
        let users = Users {
            passwd: &passwd,
            groups: &groups,
        };
        check(
            fs,
            Path::new(file),
            1000,
            Path::new("/home/admin"),
            debian,
            &users,
        )
        .unwrap()
        .map(|v| v.message)
    }

    #[test]
    fn healthy_and_each_offender() {
        let g = "admin:x:1000:\n";
        let key = "/home/admin/.ssh/authorized_keys";
        assert_eq!(run(&setup(0o755, 0o700, 0o600, 1000), key, false, g), None);
        assert_eq!(
            run(&setup(0o755, 0o777, 0o600, 1000), key, false, g).as_deref(),
            Some("bad ownership or modes for directory /home/admin/.ssh")
        );
        assert_eq!(
            run(&setup(0o777, 0o700, 0o600, 1000), key, false, g).as_deref(),
            Some("bad ownership or modes for directory /home/admin")
        );
        assert_eq!(
            run(&setup(0o755, 0o700, 0o600, 1001), key, false, g).as_deref(),
            Some("bad ownership or modes for file /home/admin/.ssh/authorized_keys")
        );
        assert_eq!(
            run(&setup(0o755, 0o700, 0o664, 1000), key, false, g).as_deref(),
            Some("bad ownership or modes for file /home/admin/.ssh/authorized_keys")
        );
        // Outside home: checked up to /, a world-writable /srv would not matter here.
        assert_eq!(
            run(
                &setup(0o755, 0o700, 0o600, 1000),
                "/etc/ssh/keys/admin",
                false,
                g
            ),
            None
        );
    }

    #[test]
    fn debian_allows_a_private_group() {
        let key = "/home/admin/.ssh/authorized_keys";
        // Group-writable home, group admin has only admin: fine on Debian, refused upstream.
        let fs = setup(0o775, 0o700, 0o600, 1000);
        assert_eq!(run(&fs, key, true, "admin:x:1000:\n"), None);
        assert!(run(&fs, key, false, "admin:x:1000:\n").is_some());
        // Another member in the group: refused on Debian too.
        assert!(run(&fs, key, true, "admin:x:1000:bob\n").is_some());
    }
}
