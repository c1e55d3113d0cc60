//! The rpm package database in its three current forms, and its headers turned into records.
//!
//! | file | format | who writes it |
//! |---|---|---|
//! | `rpmdb.sqlite` (+ `-wal`) | SQLite, table `Packages(hnum, blob)` | rpm ≥ 4.16 default: Fedora 33+, RHEL 9, Amazon Linux 2023 |
//! | `Packages.db` | rpm's ndb | SUSE (Leap 15.3+, SLES 15 SP3+) |
//! | `Packages` | Berkeley DB hash | rpm ≤ 4.15: RHEL/CentOS 7 and 8, Amazon Linux 2 |
//!
//! In `/usr/lib/sysimage/rpm` (Fedora 36+, SUSE; `/var/lib/rpm` links there) or `/var/lib/rpm`.

pub mod bdb;
pub mod header;
pub mod ndb;

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use header::*;

use super::{DigestAlgo, Expect, FileState, Record, attr};
use crate::fs::{FileType, FsError, RootFs};

pub const DB_DIRS: [&str; 2] = ["/usr/lib/sysimage/rpm", "/var/lib/rpm"];
/// A package database larger than this is refused (a real one is a few hundred MiB at most).
pub const MAX_DB: u64 = 2 << 30;
/// Berkeley DB and ndb files are read whole; sqlite files are copied.
pub const MAX_IN_MEMORY: u64 = 1 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Sqlite,
    Ndb,
    Bdb,
}

impl Format {
    fn file(self) -> &'static str {
        match self {
            Format::Sqlite => "rpmdb.sqlite",
            Format::Ndb => "Packages.db",
            Format::Bdb => "Packages",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RpmError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}: {detail}")]
    Sqlite { path: String, detail: String },
    #[error("{path}: {source}")]
    Bdb {
        path: String,
        #[source]
        source: bdb::BdbError,
    },
    #[error("{path}: {source}")]
    Ndb {
        path: String,
        #[source]
        source: ndb::NdbError,
    },
    #[error("cannot make a temporary copy of {path}: {detail}")]
    Copy { path: String, detail: String },
}

enum Store {
    Bytes(Vec<u8>),
    /// A host copy of the database (and its write-ahead log) in a private temporary directory:
    /// SQLite reads files, and recent transactions live in `-wal` until checkpointed.
    Sqlite {
        _dir: tempfile::TempDir,
        file: PathBuf,
    },
}

/// An opened rpm database.
pub struct RpmDb {
    /// Guest path of the database file.
    pub path: String,
    pub format: Format,
    store: Store,
}

impl std::fmt::Debug for RpmDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpmDb")
            .field("path", &self.path)
            .field("format", &self.format)
            .finish()
    }
}

/// The configured backend, from rpm's macro files (`%_db_backend sqlite`), when it says.
fn configured_backend(fs: &RootFs) -> Option<Format> {
    let mut found = None;
    for f in [
        "/usr/lib/rpm/macros",
        "/usr/lib/rpm/macros.d/macros.rpmdb",
        "/etc/rpm/macros",
    ] {
        let Ok(text) = fs.read_to_string_lossy(f) else {
            continue;
        };
        for l in text.lines() {
            let mut w = l.split_whitespace();
            if w.next() == Some("%_db_backend") {
                found = match w.next() {
                    Some("sqlite") => Some(Format::Sqlite),
                    Some("ndb") => Some(Format::Ndb),
                    Some("bdb" | "bdb_ro") => Some(Format::Bdb),
                    _ => found,
                };
            }
        }
    }
    found
}

/// Where the guest's rpm database is, if it has one. When several formats are present (a
/// database converted by `rpmdb --rebuilddb` leaves the old one), the configured backend
/// wins, else the newest format.
pub fn locate(fs: &RootFs) -> Option<(String, Format)> {
    let mut present = Vec::new();
    for dir in DB_DIRS {
        for f in [Format::Sqlite, Format::Ndb, Format::Bdb] {
            let p = format!("{dir}/{}", f.file());
            if fs.metadata(&p).is_ok_and(|m| m.is_file()) {
                // /var/lib/rpm is usually a link to /usr/lib/sysimage/rpm: one file.
                let real = fs.canonicalize(&p).ok();
                if !present
                    .iter()
                    .any(|(_, _, r): &(String, Format, Option<PathBuf>)| *r == real)
                {
                    present.push((p, f, real));
                }
            }
        }
    }
    let want = configured_backend(fs);
    present
        .iter()
        .find(|(_, f, _)| Some(*f) == want)
        .or_else(|| present.first())
        .map(|(p, f, _)| (p.clone(), *f))
}

impl RpmDb {
    /// Opens the guest's rpm database; `Ok(None)` when there is none.
    pub fn open(fs: &RootFs) -> Result<Option<RpmDb>, RpmError> {
        let Some((path, format)) = locate(fs) else {
            return Ok(None);
        };
        let store = match format {
            Format::Sqlite => copy_sqlite(fs, &path)?,
            Format::Ndb | Format::Bdb => Store::Bytes(fs.read_limited(&path, MAX_IN_MEMORY)?),
        };
        Ok(Some(RpmDb {
            path,
            format,
            store,
        }))
    }

    /// Calls `f` with every header blob; returns the damaged records it could not read.
    pub fn for_each_blob(&self, f: &mut dyn FnMut(&[u8])) -> Result<Vec<String>, RpmError> {
        match (&self.store, self.format) {
            (Store::Bytes(b), Format::Bdb) => {
                let db = bdb::HashDb::open(b).map_err(|source| RpmError::Bdb {
                    path: self.path.clone(),
                    source,
                })?;
                let problems = db.for_each(|k, v| {
                    // Record 0 holds rpm's next instance number, not a header.
                    if db.key_number(k).is_some_and(|n| n != 0) && v.len() >= 8 {
                        f(v)
                    }
                });
                Ok(problems
                    .into_iter()
                    .map(|p| format!("page {}: {}", p.page, p.what))
                    .collect())
            }
            (Store::Bytes(b), _) => {
                let (blobs, problems) = ndb::blobs(b).map_err(|source| RpmError::Ndb {
                    path: self.path.clone(),
                    source,
                })?;
                for (_, blob) in blobs {
                    f(blob);
                }
                Ok(problems
                    .into_iter()
                    .map(|p| format!("package {}: {}", p.pkgidx, p.what))
                    .collect())
            }
            (Store::Sqlite { file, .. }, _) => {
                let err = |e: rusqlite::Error| RpmError::Sqlite {
                    path: self.path.clone(),
                    detail: e.to_string(),
                };
                let conn = rusqlite::Connection::open_with_flags(
                    file,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(err)?;
                let mut stmt = conn
                    .prepare("SELECT blob FROM Packages ORDER BY hnum")
                    .map_err(err)?;
                let mut rows = stmt.query([]).map_err(err)?;
                let mut problems = Vec::new();
                loop {
                    match rows.next() {
                        Ok(Some(row)) => match row.get_ref(0).map(|v| v.as_blob()) {
                            Ok(Ok(b)) => f(b),
                            _ => problems.push("a Packages row without a header blob".into()),
                        },
                        Ok(None) => break,
                        // A corrupt page ends the scan: what was read stands.
                        Err(e) => {
                            problems.push(e.to_string());
                            break;
                        }
                    }
                }
                Ok(problems)
            }
        }
    }
}

fn copy_sqlite(fs: &RootFs, path: &str) -> Result<Store, RpmError> {
    let copy_err = |detail: String| RpmError::Copy {
        path: path.to_string(),
        detail,
    };
    let dir = tempfile::Builder::new()
        .prefix("rescue-inspect-rpmdb")
        .tempdir()
        .map_err(|e| copy_err(e.to_string()))?;
    let file = dir.path().join("rpmdb.sqlite");
    for (suffix, required) in [("", true), ("-wal", false)] {
        let from = format!("{path}{suffix}");
        let md = match fs.metadata(&from) {
            Ok(m) => m,
            Err(FsError::NotFound(_)) if !required => continue,
            Err(e) => return Err(e.into()),
        };
        if md.size > MAX_DB {
            return Err(FsError::TooLarge {
                path: from.into(),
                size: md.size,
                limit: MAX_DB,
            }
            .into());
        }
        let r = fs.open(&from)?;
        let to = dir.path().join(format!("rpmdb.sqlite{suffix}"));
        let mut w = std::fs::File::create(&to).map_err(|e| copy_err(e.to_string()))?;
        // `take` bounds the copy even when the size field lies.
        std::io::copy(&mut r.take(MAX_DB + 1), &mut w)
            .map_err(|e| copy_err(format!("{from}: {e}")))?;
    }
    Ok(Store::Sqlite { _dir: dir, file })
}

/// One installed package, from its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpmPackage {
    pub name: String,
    pub epoch: Option<u64>,
    pub version: String,
    pub release: String,
    pub arch: Option<String>,
    /// Sum of file sizes (`SIZE`).
    pub size: u64,
}

impl RpmPackage {
    /// `[epoch:]version-release`, as `rpm -q --qf '%{EVR}'` prints it.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }
    /// `name-version-release.arch`, what `rpm -qa` prints.
    pub fn nvra(&self) -> String {
        match &self.arch {
            Some(a) => format!("{}-{}-{}.{a}", self.name, self.version, self.release),
            None => format!("{}-{}-{}", self.name, self.version, self.release),
        }
    }
}

pub fn package(h: &Header) -> Result<RpmPackage, HeaderError> {
    Ok(RpmPackage {
        name: h.string(TAG_NAME)?.unwrap_or("").to_string(),
        epoch: h.int(TAG_EPOCH)?,
        version: h.string(TAG_VERSION)?.unwrap_or("").to_string(),
        release: h.string(TAG_RELEASE)?.unwrap_or("").to_string(),
        arch: h.string(TAG_ARCH)?.map(str::to_string),
        size: h.int(TAG_SIZE)?.unwrap_or(0),
    })
}

/// rpm's `rpmfileAttrs` bits used here.
const RPMFILE_CONFIG: u64 = 1 << 0;
const RPMFILE_MISSINGOK: u64 = 1 << 3;
const RPMFILE_GHOST: u64 = 1 << 6;

/// The file paths of a header: `DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]` (or the old
/// `OLDFILENAMES`).
pub fn file_paths(h: &Header) -> Result<Vec<String>, HeaderError> {
    let base = h.strings(TAG_BASENAMES)?;
    if base.is_empty() {
        return Ok(h
            .strings(TAG_OLDFILENAMES)?
            .into_iter()
            .map(str::to_string)
            .collect());
    }
    let dirs = h.strings(TAG_DIRNAMES)?;
    let idx = h.ints(TAG_DIRINDEXES)?;
    if idx.len() != base.len() {
        return Err(HeaderError::WrongType {
            tag: TAG_DIRINDEXES,
            expected: "one directory index per file",
        });
    }
    base.iter()
        .zip(idx)
        .map(|(b, i)| {
            let d = dirs.get(i as usize).ok_or(HeaderError::WrongType {
                tag: TAG_DIRINDEXES,
                expected: "indexes into DIRNAMES",
            })?;
            Ok(format!("{d}{b}"))
        })
        .collect()
}

/// Names to ids, from the guest's passwd and group: rpm (run with `--root`) looks them up
/// there and uses root for a name it cannot find.
pub struct Ids {
    pub users: std::collections::HashMap<String, u32>,
    pub groups: std::collections::HashMap<String, u32>,
}

impl Ids {
    pub fn read(fs: &RootFs) -> Ids {
        use crate::guest::accounts;
        let users = fs
            .read_to_string_lossy("/etc/passwd")
            .map(|t| accounts::parse_passwd(&t).0)
            .unwrap_or_default()
            .into_iter()
            .map(|u| (u.name, u.uid))
            .collect();
        let groups = fs
            .read_to_string_lossy("/etc/group")
            .map(|t| accounts::parse_group(&t).0)
            .unwrap_or_default()
            .into_iter()
            .map(|g| (g.name, g.gid))
            .collect();
        Ids { users, groups }
    }
}

/// Every file of a header as a record. `Err` when the header's file arrays are inconsistent.
pub fn records(h: &Header, pkg: &Arc<str>, ids: &Ids) -> Result<Vec<Record>, HeaderError> {
    let paths = file_paths(h)?;
    let n = paths.len();
    // Optional arrays must have one entry per file when present.
    let per_file = |tag: u32, v: Vec<u64>| -> Result<Vec<u64>, HeaderError> {
        if v.is_empty() || v.len() == n {
            Ok(v)
        } else {
            Err(HeaderError::WrongType {
                tag,
                expected: "one value per file",
            })
        }
    };
    let per_file_s = |tag: u32, v: Vec<&str>| -> Result<Vec<String>, HeaderError> {
        if v.is_empty() || v.len() == n {
            Ok(v.into_iter().map(str::to_string).collect())
        } else {
            Err(HeaderError::WrongType {
                tag,
                expected: "one string per file",
            })
        }
    };
    let modes = per_file(TAG_FILEMODES, h.ints(TAG_FILEMODES)?)?;
    let sizes = if h.has(TAG_LONGFILESIZES) {
        per_file(TAG_LONGFILESIZES, h.ints(TAG_LONGFILESIZES)?)?
    } else {
        per_file(TAG_FILESIZES, h.ints(TAG_FILESIZES)?)?
    };
    let states = per_file(TAG_FILESTATES, h.ints(TAG_FILESTATES)?)?;
    let mtimes = per_file(TAG_FILEMTIMES, h.ints(TAG_FILEMTIMES)?)?;
    let flags = per_file(TAG_FILEFLAGS, h.ints(TAG_FILEFLAGS)?)?;
    let vflags = per_file(TAG_FILEVERIFYFLAGS, h.ints(TAG_FILEVERIFYFLAGS)?)?;
    let digests = per_file_s(TAG_FILEDIGESTS, h.strings(TAG_FILEDIGESTS)?)?;
    let links = per_file_s(TAG_FILELINKTOS, h.strings(TAG_FILELINKTOS)?)?;
    let users = per_file_s(TAG_FILEUSERNAME, h.strings(TAG_FILEUSERNAME)?)?;
    let groups = per_file_s(TAG_FILEGROUPNAME, h.strings(TAG_FILEGROUPNAME)?)?;
    let algo = h
        .int(TAG_FILEDIGESTALGO)?
        .map(|a| DigestAlgo::from_rpm(a).unwrap_or(DigestAlgo::Md5))
        .unwrap_or(DigestAlgo::Md5);
    let mut out = Vec::with_capacity(n);
    for (i, path) in paths.into_iter().enumerate() {
        let mode = modes.get(i).copied().unwrap_or(0) as u32;
        let fl = flags.get(i).copied().unwrap_or(0);
        let state = match states.get(i) {
            Some(1) => FileState::Replaced,
            Some(2) => FileState::NotInstalled,
            Some(3) => FileState::NetShared,
            Some(4) => FileState::WrongColor,
            _ => FileState::Normal,
        };
        let name_id = |names: &Vec<String>, map: &std::collections::HashMap<String, u32>| {
            names
                .get(i)
                .map(|n| (n.clone(), map.get(n).copied().unwrap_or(0)))
        };
        let digest = digests
            .get(i)
            .filter(|d| !d.is_empty())
            .map(|d| (algo, d.to_ascii_lowercase()));
        out.push(Record {
            package: pkg.clone(),
            path,
            diverted_to: None,
            config: fl & RPMFILE_CONFIG != 0,
            expect: Expect {
                file_type: FileType::from_mode(mode),
                perm: (!modes.is_empty()).then_some(mode & 0o7777),
                size: sizes.get(i).copied(),
                digest,
                link: links.get(i).cloned(),
                user: name_id(&users, &ids.users),
                group: name_id(&groups, &ids.groups),
                mtime: mtimes.get(i).map(|&t| t as i64),
                verify: vflags
                    .get(i)
                    .map(|&v| v as u32 & attr::ALL)
                    .unwrap_or(attr::ALL),
                state,
                ghost: fl & RPMFILE_GHOST != 0,
                missing_ok: fl & RPMFILE_MISSINGOK != 0,
                follow: false,
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::header::build::{V, blob};
    use super::*;

    #[test]
    fn header_to_records() {
        let b = blob(&[
            (TAG_NAME, V::S("openssh-server")),
            (TAG_VERSION, V::S("8.7p1")),
            (TAG_RELEASE, V::S("38.el9")),
            (TAG_ARCH, V::S("x86_64")),
            (TAG_DIRNAMES, V::Sa(vec!["/etc/ssh/", "/usr/sbin/"])),
            (TAG_BASENAMES, V::Sa(vec!["sshd_config", "sshd"])),
            (TAG_DIRINDEXES, V::I32(vec![0, 1])),
            (TAG_FILEMODES, V::I16(vec![0o100600, 0o100755])),
            (TAG_FILESIZES, V::I32(vec![3667, 950_000])),
            (TAG_FILEFLAGS, V::I32(vec![1 | 16, 0])),
            (TAG_FILEDIGESTS, V::Sa(vec!["AB", "cd"])),
            (TAG_FILEDIGESTALGO, V::I32(vec![8])),
            (TAG_FILEUSERNAME, V::Sa(vec!["root", "root"])),
            (TAG_FILEGROUPNAME, V::Sa(vec!["root", "ssh_keys"])),
            (TAG_FILESTATES, V::I8(vec![0, 0])),
        ]);
        let h = Header::parse(&b).unwrap();
        let p = package(&h).unwrap();
        assert_eq!(p.nvra(), "openssh-server-8.7p1-38.el9.x86_64");
        assert_eq!(p.evr(), "8.7p1-38.el9");
        let ids = Ids {
            users: [("root".to_string(), 0)].into(),
            groups: [("root".to_string(), 0), ("ssh_keys".to_string(), 993)].into(),
        };
        let r = records(&h, &Arc::from("openssh-server"), &ids).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].path, "/etc/ssh/sshd_config");
        assert!(r[0].config);
        assert_eq!(r[0].expect.perm, Some(0o600));
        assert_eq!(r[0].expect.digest, Some((DigestAlgo::Sha256, "ab".into())));
        assert_eq!(r[1].path, "/usr/sbin/sshd");
        assert_eq!(r[1].expect.group, Some(("ssh_keys".into(), 993)));
        assert_eq!(r[1].expect.size, Some(950_000));
        // Inconsistent arrays are an error for this package, not a panic.
        let bad = blob(&[
            (TAG_BASENAMES, V::Sa(vec!["a", "b"])),
            (TAG_DIRNAMES, V::Sa(vec!["/"])),
            (TAG_DIRINDEXES, V::I32(vec![0, 7])),
        ]);
        assert!(records(&Header::parse(&bad).unwrap(), &Arc::from("x"), &ids).is_err());
    }
}
