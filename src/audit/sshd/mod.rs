//! Will sshd start: the facts about the guest's OpenSSH server, gathered once, and the rules
//! over them.

pub mod config;
pub mod crypto;
pub mod hostkeys;
pub mod service;

use std::cell::OnceCell;
use std::path::Path;

use crate::fs::RootFs;
use crate::guest::accounts::{self, GroupEntry, PasswdEntry};
use crate::guest::ldso::{self, Closure};
use crate::guest::os_release::Family;
use crate::guest::systemd::{self, ServiceState};
use crate::inspect::Root;
use crate::packages::db::{DbError, PackageDb};
use crate::report::{Finding, LoginVerdict};
use crate::sshd::config::{Build, Conn, Parsed, Source};

use super::Settings;

/// Where sshd lives on every distribution this tool knows.
pub const SSHD_BINARY: &str = "/usr/sbin/sshd";

/// What the sshd audits read, gathered once.
pub struct SshdFacts<'a> {
    pub fs: &'a RootFs,
    pub family: Family,
    /// OpenSSH (major, minor), from the package database or the binary's version string.
    pub version: Option<(u32, u32)>,
    pub closure: Closure,
    pub service: ServiceState,
    pub users: Vec<PasswdEntry>,
    /// False when /etc/passwd could not be read or holds no entry (FILE-00x report that).
    pub users_readable: bool,
    pub groups: Vec<GroupEntry>,
    /// The package database (dpkg or rpm), opened once.
    pub packages: Result<Option<PackageDb>, DbError>,
    /// dpkg's file lists, read on first use when there is no readable package database.
    dpkg_files: OnceCell<crate::packages::db::OwnerIndex>,
}

impl<'a> SshdFacts<'a> {
    pub fn gather(root: &'a Root) -> SshdFacts<'a> {
        let fs = &root.fs;
        let family = root
            .os
            .as_ref()
            .map(|o| o.family())
            .unwrap_or(Family::Other);
        let users = fs
            .read_to_string_lossy("/etc/passwd")
            .map(|t| accounts::parse_passwd(&t).0)
            .unwrap_or_default();
        // An unreadable, empty or zeroed passwd is FILE-00x's finding; rules that look users up
        // stay quiet rather than repeat it.
        let users_readable = !users.is_empty();
        let groups = fs
            .read_to_string_lossy("/etc/group")
            .map(|t| accounts::parse_group(&t).0)
            .unwrap_or_default();
        let packages = PackageDb::open(fs);
        SshdFacts {
            fs,
            family,
            version: detect_version(fs, packages.as_ref().ok().and_then(|d| d.as_ref())),
            packages,
            closure: ldso::resolve_closure(fs, Path::new(SSHD_BINARY)),
            service: systemd::service_state(fs, systemd::SSH_UNITS),
            users,
            users_readable,
            groups,
            dpkg_files: OnceCell::new(),
        }
    }

    /// Whether an OpenSSH server is installed at all (binary, unit or package).
    pub fn installed(&self) -> bool {
        // A program that cannot be read (a damaged inode or directory block) is not a missing
        // one: the audits run and say what they could not read.
        let gone = matches!(
            self.fs.symlink_metadata(SSHD_BINARY),
            Err(crate::fs::FsError::NotFound(_) | crate::fs::FsError::NotADirectory(_))
        );
        !gone
            || self.service.units.iter().any(|u| u.file.is_some())
            || self
                .package_db()
                .is_some_and(|d| d.version_of("openssh-server").is_some())
    }

    /// The package database, when the guest has one that could be read.
    pub fn package_db(&self) -> Option<&PackageDb> {
        self.packages.as_ref().ok().and_then(|d| d.as_ref())
    }

    /// The guest's OpenSSH build (release and distribution patch set).
    pub fn build(&self) -> crate::sshd::config::Build {
        crate::sshd::config::Build::for_guest(self.version, self.family)
    }

    /// The guest's sshd_config, loaded (Include files are read as the parses need them).
    pub fn config_source(&self) -> crate::sshd::config::Source<'_> {
        crate::sshd::config::Source::load(
            self.fs,
            self.build(),
            crate::sshd::config::Accounts {
                users: &self.users,
                groups: &self.groups,
            },
        )
    }

    /// (package, path) of every packaged file: the database's index, or dpkg's file lists
    /// read directly when the status file could not be.
    fn files(&self) -> &crate::packages::db::OwnerIndex {
        match self.package_db() {
            Some(db) => db.file_index(self.fs),
            None => self.dpkg_files.get_or_init(|| {
                crate::packages::db::OwnerIndex::new(crate::packages::dpkg::file_index(self.fs))
            }),
        }
    }

    /// The package owning a guest path, like `dpkg -S` or `rpm -qf` (usr-merge spellings are
    /// one file).
    pub fn owner_of(&self, path: &str) -> Option<String> {
        self.files().owner_of(path)
    }

    /// The package shipping a file of this name anywhere, and where (for a library that is
    /// gone).
    pub fn owner_of_basename(&self, name: &str) -> Option<(String, String)> {
        self.files().owner_of_basename(name)
    }
}

/// OpenSSH's version: the openssh-server package (`1:9.2p1-2+deb12u3`, `8.7p1-38.el9`), else
/// the `OpenSSH_9.2p1` string inside the sshd binary.
pub fn detect_version(fs: &RootFs, db: Option<&PackageDb>) -> Option<(u32, u32)> {
    if let Some(v) = db.and_then(|d| d.version_of("openssh-server")) {
        if let Some(mm) = major_minor(v.split_once(':').map(|x| x.1).unwrap_or(v)) {
            return Some(mm);
        }
    }
    let bytes = fs.read_limited(SSHD_BINARY, 16 << 20).ok()?;
    let needle = b"OpenSSH_";
    let pos = bytes.windows(needle.len()).position(|w| w == needle)?;
    let tail = &bytes[pos + needle.len()..bytes.len().min(pos + needle.len() + 16)];
    major_minor(&String::from_utf8_lossy(tail))
}

/// `9.2p1…` → (9, 2).
fn major_minor(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// The host keys sshd would load: the configured HostKey lines (with where each was set), else
/// the defaults.
pub fn host_key_paths(global: &Parsed) -> Vec<(String, Option<(String, usize)>)> {
    let keys = global.options.list_with_origin("hostkey");
    if keys.is_empty() {
        return hostkeys::default_keys();
    }
    keys
}

/// What the sshd audits conclude beyond their findings.
#[derive(Debug, Default)]
pub struct Outcome {
    pub logins: Vec<LoginVerdict>,
    /// Every precondition of a start was evaluated (installed, configuration read without
    /// error, host keys looked at): with no critical finding, sshd starts.
    pub start_evaluated: bool,
    /// Where sshd will listen: `address:port` (from sshd_config, or from the ssh.socket unit
    /// under socket activation).
    pub listen: Vec<String>,
    /// The TCP ports among those.
    pub ports: Vec<u16>,
    /// sshd links libwrap (TCP wrappers apply).
    pub libwrap: bool,
    /// The packages that own sshd, its libraries, its PAM modules and the login shells.
    pub sshd_packages: Vec<String>,
    /// The package database the sshd audits opened (None when sshd is not installed).
    pub packages: Option<Result<Option<PackageDb>, DbError>>,
}

/// The sshd audits and the login verdicts.
pub fn audit(root: &Root, s: &Settings, out: &mut Vec<Finding>) -> Outcome {
    let facts = SshdFacts::gather(root);
    if !facts.installed() {
        // FILE-001 says the server is not installed; nothing more to say here.
        return Outcome::default();
    }
    service::audit(&facts, s, out);
    let build = facts.build();
    let mut src = facts.config_source();
    let global = src.global();
    config::audit(&global, &build, s, out);
    let statuses = hostkeys::audit(&facts, &host_key_paths(&global), s, out);
    crypto::audit(&global, &build, &statuses, s, out);
    // Without an sshd_config sshd does not start (FILE-001); the logins are judged as the
    // distribution's shipped configuration would allow them once it is restored.
    let missing = src.main_missing();
    let global_cfg = if missing {
        super::login::LoginConfig::defaults(facts.family)
    } else {
        super::login::LoginConfig::from_parsed(&global, &src, &build)
    };
    let mut per_user = |user: &str| user_config(&mut src, &global, &build, facts.family, user);
    let logins = super::login::audit(
        facts.fs,
        &global_cfg,
        &mut per_user,
        facts.family,
        facts.version,
        s,
        out,
    );
    let listen = listen_addresses(&facts, &global);
    let mut ports: Vec<u16> = listen
        .iter()
        .filter_map(|l| l.rsplit(':').next().and_then(|p| p.parse().ok()))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    // Only what will be verified needs its owners looked up.
    let sshd_packages = match s.packages {
        super::PackageScope::Sshd => sshd_packages(&facts),
        _ => Vec::new(),
    };
    let libwrap = facts
        .closure
        .libs
        .iter()
        .any(|l| l.soname.starts_with("libwrap.so"));
    Outcome {
        sshd_packages,
        packages: Some(facts.packages),
        logins,
        start_evaluated: !global.fatal,
        listen,
        ports,
        libwrap,
    }
}

/// The packages whose files decide whether SSH works: owners of sshd (and sshd-session,
/// sshd-auth), of every library in its closure (also those that are gone, by name), of the
/// PAM modules sshd's stacks load, and of the login shells.
pub fn sshd_packages(facts: &SshdFacts) -> Vec<String> {
    let mut paths: Vec<String> = vec![SSHD_BINARY.to_string()];
    for dir in ["/usr/lib/openssh", "/usr/libexec/openssh"] {
        for name in ["sshd-session", "sshd-auth"] {
            let p = format!("{dir}/{name}");
            if facts.fs.exists(&p).unwrap_or(false) {
                paths.push(p);
            }
        }
    }
    if let Some(Ok(i)) = &facts.closure.interpreter {
        paths.push(i.to_string_lossy().into_owned());
    }
    let mut out: Vec<String> = Vec::new();
    for l in &facts.closure.libs {
        match &l.resolved {
            Some(r) => paths.push(r.to_string_lossy().into_owned()),
            None => {
                if let Some((pkg, _)) = facts.owner_of_basename(&l.soname) {
                    out.push(pkg);
                }
            }
        }
    }
    for kind in ["auth", "account", "session"] {
        for l in crate::guest::pam::stack(facts.fs, "sshd", kind).lines {
            if let Some(p) = crate::guest::pam::find_module(facts.fs, &l.module) {
                paths.push(p.to_string_lossy().into_owned());
            }
        }
    }
    for u in &facts.users {
        if !u.shell.is_empty() {
            paths.push(u.shell.clone());
        }
    }
    // The owner of the path as written, else of where it leads (usr-merge links).
    let canonical: Vec<String> = paths
        .iter()
        .filter_map(|p| facts.fs.canonicalize(p).ok())
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    paths.extend(canonical);
    out.extend(paths.iter().filter_map(|p| facts.owner_of(p)));
    out.sort();
    out.dedup();
    out
}

/// Where sshd listens after boot.
pub fn listen_addresses(facts: &SshdFacts, global: &Parsed) -> Vec<String> {
    let socket = facts
        .service
        .units
        .iter()
        .find(|u| u.name.ends_with(".socket") && u.starts_at_boot());
    match socket {
        // Ubuntu's generator turns Port/ListenAddress into the socket's addresses at boot.
        Some(u) if facts.service.socket_generator.is_none() => {
            u.listen.iter().map(|l| l.value.clone()).collect()
        }
        _ => crate::sshd::config::dump::listen_lines(&global.options),
    }
}

/// The login-relevant configuration for one user's connection: the global configuration with
/// that user's Match blocks applied. Without an sshd_config (FILE-001), the distribution's
/// shipped configuration is assumed, as it will be once restored.
fn user_config(
    src: &mut Source,
    global: &Parsed,
    build: &Build,
    family: Family,
    user: &str,
) -> super::login::LoginConfig {
    if src.main_missing() {
        return super::login::LoginConfig::defaults(family);
    }
    let p = src.for_connection(
        global,
        &Conn {
            user: Some(user.to_string()),
            ..Conn::default()
        },
    );
    super::login::LoginConfig::from_parsed(&p, src, build)
}

/// The login-relevant configuration for one user's connection (for `login`).
pub fn login_config(facts: &SshdFacts, user: &str) -> super::login::LoginConfig {
    let build = facts.build();
    let mut src = facts.config_source();
    let global = src.global();
    user_config(&mut src, &global, &build, facts.family, user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::db::unmerged;

    #[test]
    fn versions() {
        assert_eq!(major_minor("9.2p1-2+deb12u3"), Some((9, 2)));
        assert_eq!(major_minor("10.0p2"), Some((10, 0)));
        assert_eq!(major_minor("x"), None);
        assert_eq!(
            unmerged("/usr/lib/x86_64-linux-gnu/libc.so.6"),
            "/lib/x86_64-linux-gnu/libc.so.6"
        );
        assert_eq!(unmerged("/usr/share/doc"), "/usr/share/doc");
    }
}
