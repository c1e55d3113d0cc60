//! Critical files: present, a regular file, not empty, not filled with NUL bytes (what a crash
//! leaves when data blocks were never written), and the OS identified.

use std::io::Read;

use super::{Rule, Settings};
use crate::fs::{FsError, RootFs};
use crate::guest::os_release::Family;
use crate::inspect::Root;
use crate::report::{Category, Finding, Severity};

pub static OS_001: Rule = Rule {
    id: "OS-001",
    severity: Severity::Warning,
    category: Category::Boot,
    summary: "the operating system cannot be identified (no usable os-release)",
    doc: "Reads /etc/os-release, then /usr/lib/os-release, as systemd does, for ID and \
VERSION_ID.\n\nWhy it matters: os-release names the distribution whose defaults (OpenSSH patches, \
package manager, host-key rules) the other audits apply; without it they fall back to upstream \
behaviour, and tools in the guest that read it (systemd, cloud-init, package managers) misbehave.\n\n\
Fix: restore it from the package that owns it (`base-files` on Debian/Ubuntu, `*-release` on the \
RHEL family), or link /etc/os-release to ../usr/lib/os-release when that file exists.",
};

pub static FILE_001: Rule = Rule {
    id: "FILE-001",
    severity: Severity::Critical,
    category: Category::Filesystem,
    summary: "a file sshd or login needs is missing",
    doc: "Checks /etc/passwd, /etc/shadow, /etc/ssh/sshd_config and /bin/sh (following symlinks \
inside the guest).\n\nWhy it matters: without sshd_config, sshd exits at start; without passwd or \
shadow, no user can be looked up or authenticated; without /bin/sh, boot scripts, sshd's command \
execution and every user with an empty shell field fail.\n\nFix: restore the file from its backup \
(`/etc/passwd-`, `/etc/shadow-` are kept by shadow-utils), from the distribution's pristine copy, \
or by reinstalling the owning package from the recovery host; the finding gives the command.",
};

pub static FILE_002: Rule = Rule {
    id: "FILE-002",
    severity: Severity::Critical,
    category: Category::Filesystem,
    summary: "a file sshd or login needs is empty",
    doc: "Checks that /etc/passwd, /etc/shadow, /etc/ssh/sshd_config and /bin/sh are not zero \
bytes long.\n\nWhy it matters: a crash between creating a file and writing it (an editor or \
package manager that replaces files, with delayed allocation) leaves it empty. An empty passwd \
means no users; an empty sshd_config makes sshd run on defaults that may not match what was \
intended; an empty /bin/sh cannot execute.\n\nFix: restore from the backup copy or reinstall the \
owning package; the finding gives the command.",
};

pub static FILE_003: Rule = Rule {
    id: "FILE-003",
    severity: Severity::Critical,
    category: Category::Filesystem,
    summary: "a file sshd or login needs is filled with NUL bytes",
    doc: "Checks whether the contents of /etc/passwd, /etc/shadow, /etc/ssh/sshd_config and \
/bin/sh are all NUL bytes.\n\nWhy it matters: after a crash, a file whose size was recorded but \
whose data blocks were never written reads back as zeros. The file looks present with the right \
size and is useless: no users, a config sshd rejects, a shell that cannot run.\n\nFix: restore from \
the backup copy or reinstall the owning package; the finding gives the command.",
};

pub static FILE_004: Rule = Rule {
    id: "FILE-004",
    severity: Severity::Critical,
    category: Category::Filesystem,
    summary: "a file sshd or login needs is not a regular file or cannot be read",
    doc: "Checks that /etc/passwd, /etc/shadow, /etc/ssh/sshd_config and /bin/sh's target are \
regular files whose data can be read.\n\nWhy it matters: a directory or device in their place, or \
an inode whose metadata is corrupt, is as good as missing for sshd and login.\n\nFix: move the \
wrong object aside and restore the file (backup copy or package reinstall); a read error on a \
damaged filesystem needs `e2fsck -f` first.",
};

pub static FILE_005: Rule = Rule {
    id: "FILE-005",
    severity: Severity::Critical,
    category: Category::Filesystem,
    summary: "a file that boot or login reads is empty or filled with NUL bytes",
    doc: "Checks, where they exist, the files boot and login read: /etc/fstab, /etc/pam.d/*, /etc/nsswitch.conf, /etc/ssh/* (configuration, drop-ins, host keys, moduli), /etc/group, /etc/ld.so.cache and /etc/ld.so.conf. A crash after a file was replaced but before its data was written leaves it empty or zero-filled.

Why it matters: an empty or zeroed PAM file denies every login through that stack; a zeroed sshd drop-in is a config sshd rejects; a zeroed fstab or nsswitch.conf breaks mounts and user lookups at boot. (Critical for PAM and sshd files; a warning for files whose loss degrades but does not stop SSH, such as ld.so.cache.)

Fix: restore the file from the package that owns it (the finding gives the command) or from a backup.",
};

pub static RULES: &[&Rule] = &[
    &OS_001, &FILE_001, &FILE_002, &FILE_003, &FILE_004, &FILE_005,
];

/// Files boot and login read, checked for damage (not for presence): (glob, severity, what
/// their loss breaks, owning package on Debian / RHEL).
const BOOT_FILES: &[(&str, Severity, &str, &str, &str)] = &[
    (
        "/etc/pam.d/*",
        Severity::Critical,
        "PAM denies every login through this stack",
        "libpam-runtime",
        "pam",
    ),
    (
        "/etc/ssh/sshd_config.d/*",
        Severity::Critical,
        "sshd rejects its configuration and exits",
        "openssh-server",
        "openssh-server",
    ),
    (
        "/etc/ssh/ssh_host_*",
        Severity::Warning,
        "sshd skips this host key",
        "openssh-server",
        "openssh-server",
    ),
    (
        "/etc/ssh/moduli",
        Severity::Warning,
        "diffie-hellman-group-exchange key exchange fails",
        "openssh-server",
        "openssh",
    ),
    (
        "/etc/nsswitch.conf",
        Severity::Critical,
        "user and group lookups fail (no login can resolve its user)",
        "base-files",
        "glibc",
    ),
    (
        "/etc/fstab",
        Severity::Warning,
        "boot cannot mount filesystems or remount / read-write",
        "base-files",
        "setup",
    ),
    (
        "/etc/group",
        Severity::Critical,
        "group lookups fail: sshd's AllowGroups and PAM checks misbehave",
        "base-passwd",
        "setup",
    ),
    (
        "/etc/ld.so.cache",
        Severity::Warning,
        "the dynamic loader falls back to searching directories (slower, may pick wrong libraries)",
        "libc-bin",
        "glibc",
    ),
    (
        "/etc/ld.so.conf",
        Severity::Warning,
        "libraries in non-default directories are not found",
        "libc-bin",
        "glibc",
    ),
];

const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";

/// Whether a finding of these rules stops sshd from starting.
pub fn stops_sshd(f: &Finding) -> bool {
    f.id.starts_with("FILE-") && f.path.as_deref() == Some(SSHD_CONFIG)
}

/// What was wrong with one file.
enum Damage {
    Missing(String),
    NotRegular(String),
    Unreadable(String),
    Empty,
    AllNul(u64),
}

/// Bytes checked for the all-NUL test: a config file whole, a binary's head (an ELF header is
/// never zero).
const NUL_PROBE: u64 = 64 * 1024;

fn examine(fs: &RootFs, path: &str) -> Result<(), Damage> {
    let md = match fs.metadata(path) {
        Ok(md) => md,
        Err(FsError::NotFound(_)) => {
            let how = match fs.read_link(path) {
                Ok(t) => format!(
                    "{path} is a symlink to {}, which does not exist in the guest",
                    t.display()
                ),
                Err(_) => format!("{path} does not exist"),
            };
            return Err(Damage::Missing(how));
        }
        Err(e) => return Err(Damage::Unreadable(e.to_string())),
    };
    if !md.is_file() {
        return Err(Damage::NotRegular(format!(
            "{path} is a {}",
            md.file_type.describe()
        )));
    }
    if md.size == 0 {
        return Err(Damage::Empty);
    }
    let mut head = Vec::new();
    let r = fs.open(path).and_then(|r| {
        r.take(NUL_PROBE)
            .read_to_end(&mut head)
            .map_err(|e| crate::fs::io_error(std::path::Path::new(path), e))
    });
    if let Err(e) = r {
        return Err(Damage::Unreadable(e.to_string()));
    }
    if !head.is_empty() && head.iter().all(|&b| b == 0) {
        return Err(Damage::AllNul(head.len() as u64));
    }
    Ok(())
}

/// A restore command for `path`, from what the guest holds.
fn restore_fix(fs: &RootFs, family: Family, path: &str, s: &Settings) -> String {
    let mp = s.mount_point.trim_end_matches('/');
    let backup = format!("{path}-");
    let backup_ok = matches!(path, "/etc/passwd" | "/etc/shadow" | "/etc/group")
        && examine(fs, &backup).is_ok();
    match path {
        _ if backup_ok => format!(
            "cp -a {} {}   # shadow-utils' copy from before the last change: check it first",
            s.host_path(&backup),
            s.host_path(path)
        ),
        "/etc/passwd" | "/etc/shadow" => match path {
            "/etc/shadow" => format!(
                "chroot {mp} pwconv   # rebuilds /etc/shadow from /etc/passwd; then set passwords again"
            ),
            _ => format!(
                "restore {} from a snapshot or backup of the volume (no /etc/passwd- copy in the guest)",
                s.host_path(path)
            ),
        },
        SSHD_CONFIG => {
            if fs
                .metadata("/usr/share/openssh/sshd_config")
                .map(|m| m.is_file() && m.size > 0)
                .unwrap_or(false)
            {
                format!(
                    "cp {} {}   # Debian's pristine sshd_config",
                    s.host_path("/usr/share/openssh/sshd_config"),
                    s.host_path(path)
                )
            } else {
                reinstall(family, mp, "openssh-server")
            }
        }
        "/bin/sh" => {
            let shell = ["dash", "bash"]
                .into_iter()
                .find(|sh| examine(fs, &format!("/bin/{sh}")).is_ok());
            match shell {
                Some(sh) => format!("ln -sfn {sh} {}", s.host_path("/bin/sh")),
                None => match family {
                    Family::Debian => format!(
                        "apt-get download dash && dpkg -x dash_*.deb {mp}   # on a recovery host of the same release"
                    ),
                    _ => format!(
                        "dnf download bash && rpm2cpio bash-*.rpm | (cd {mp} && cpio -idmu)   # on a recovery host of the same release"
                    ),
                },
            }
        }
        _ => format!("restore {} from a snapshot or backup", s.host_path(path)),
    }
}

fn reinstall(family: Family, mp: &str, pkg: &str) -> String {
    match family {
        // --force-confmiss: dpkg does not restore a deleted conffile otherwise.
        Family::Debian => format!(
            "chroot {mp} apt-get install --reinstall -o Dpkg::Options::=--force-confmiss {pkg}"
        ),
        Family::Rhel => format!("chroot {mp} dnf reinstall -y {pkg}"),
        Family::Suse => format!("chroot {mp} zypper install -f {pkg}"),
        Family::Other => format!("reinstall {pkg} with the guest's package manager (chroot {mp})"),
    }
}

pub fn audit(root: &Root, s: &Settings, out: &mut Vec<Finding>) {
    let fs = &root.fs;
    let family = root
        .os
        .as_ref()
        .map(|o| o.family())
        .unwrap_or(Family::Other);
    if root.os.is_none() {
        let fix = if fs.metadata("/usr/lib/os-release").is_ok() {
            format!(
                "ln -sfn ../usr/lib/os-release {}",
                s.host_path("/etc/os-release")
            )
        } else {
            "reinstall the package that owns /etc/os-release (base-files on Debian/Ubuntu, *-release on RHEL family)".into()
        };
        out.push(
            OS_001
                .finding(
                    "the operating system cannot be identified",
                    "Neither /etc/os-release nor /usr/lib/os-release exists with an ID or PRETTY_NAME; distribution-specific rules fall back to upstream behaviour.",
                )
                .at("/etc/os-release")
                .fix(fix),
        );
    }

    boot_files(fs, family, s, out);

    let sshd_installed = fs.metadata("/usr/sbin/sshd").is_ok();
    for path in ["/etc/passwd", "/etc/shadow", SSHD_CONFIG, "/bin/sh"] {
        let Err(damage) = examine(fs, path) else {
            continue;
        };
        // Report the file that is damaged: /bin/sh's target, not the link.
        let real = fs
            .canonicalize(path)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.to_string());
        let shown = if real != path {
            format!("{path} (-> {real})")
        } else {
            path.to_string()
        };
        let what = match path {
            "/etc/passwd" => "no user can be looked up: every login fails",
            "/etc/shadow" => {
                "passwords and account expiry cannot be read: PAM's account check fails for every user"
            }
            SSHD_CONFIG => "sshd exits at start",
            _ => "boot scripts, sshd's command execution and users with an empty shell field fail",
        };
        let fix = restore_fix(fs, family, path, s);
        let f = match damage {
            Damage::Missing(how) if path == SSHD_CONFIG && !sshd_installed => FILE_001
                .finding(
                    "OpenSSH server is not installed (no /usr/sbin/sshd, no /etc/ssh/sshd_config)",
                    format!("{how}, and /usr/sbin/sshd is absent: there is no SSH server on this volume."),
                )
                .fix(reinstall(family, s.mount_point.trim_end_matches('/'), "openssh-server")),
            Damage::Missing(how) => FILE_001
                .finding(format!("{path} is missing: {what}"), format!("{how}."))
                .fix(fix),
            Damage::NotRegular(how) => FILE_004
                .finding(format!("{shown} is not a regular file: {what}"), format!("{how}."))
                .fix(format!("mv {0} {0}.broken && {fix}", s.host_path(&real))),
            Damage::Unreadable(e) => FILE_004
                .finding(format!("{shown} cannot be read: {what}"), e)
                .fix(fix),
            Damage::Empty => FILE_002
                .finding(format!("{shown} is empty: {what}"), format!("{real} is 0 bytes long (typical of a crash right after the file was replaced)."))
                .fix(fix),
            Damage::AllNul(n) => FILE_003
                .finding(
                    format!("{shown} is filled with NUL bytes: {what}"),
                    format!("The first {n} bytes of {real} are all zero: its data blocks were never written before the host stopped."),
                )
                .fix(fix),
        };
        out.push(f.at(real));
    }
}

/// Empty or zeroed files among [`BOOT_FILES`] (missing ones are not this rule's business).
fn boot_files(fs: &RootFs, family: Family, s: &Settings, out: &mut Vec<Finding>) {
    let mp = s.mount_point.trim_end_matches('/');
    for (pattern, severity, what, deb, rpm) in BOOT_FILES {
        let paths = fs.glob(pattern).unwrap_or_default();
        for p in paths {
            let path = p.display().to_string();
            // Public host keys and directories are not what this rule reads.
            if !fs.metadata(&p).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let damage = match examine(fs, &path) {
                Err(Damage::Empty) => "is empty".to_string(),
                Err(Damage::AllNul(n)) => format!("is filled with NUL bytes (first {n} bytes)"),
                _ => continue,
            };
            // An empty /etc/ssh/sshd_config.d/*.conf is a valid (empty) configuration; zeros
            // are not.
            if damage == "is empty" && path.starts_with("/etc/ssh/sshd_config.d/") {
                continue;
            }
            let pkg = if family == Family::Rhel { rpm } else { deb };
            let fix = match family {
                Family::Debian => format!(
                    "chroot {mp} apt-get install --reinstall -o Dpkg::Options::=--force-confmiss {pkg}   # or restore {path} from a backup"
                ),
                _ => format!(
                    "chroot {mp} dnf reinstall -y {pkg}   # or restore {path} from a backup"
                ),
            };
            out.push(
                FILE_005
                    .finding(
                        format!("{path} {damage}: {what}"),
                        format!("{path} {damage}; {what}."),
                    )
                    .severity(*severity)
                    .at(path)
                    .fix(fix),
            );
        }
    }
}
