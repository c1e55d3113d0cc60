//! Are the installed packages' files intact: the package database's records (dpkg or rpm)
//! checked against the files on the volume, hashed in parallel with bounded memory.
//!
//! - `dpkg` and `rpm` turn their databases into [`Record`]s: what a packaged file should be.
//! - `verify` checks records against the filesystem, with rpm's rules (`lib/verify.cc:
//!   rpmfilesVerify`) for which attributes apply, and reports [`Deviation`]s.
//! - `db` is the one view the audits use: which database the guest has, its packages, and who
//!   owns a path.

pub mod db;
pub mod dpkg;
pub mod md5x;
pub mod rpm;
pub mod verify;

use std::sync::Arc;

use serde::Serialize;

use crate::fs::FileType;

/// Attribute bits, rpm's `rpmVerifyAttrs` values, so results compare with `rpm -V`.
pub mod attr {
    pub const DIGEST: u32 = 1 << 0;
    pub const SIZE: u32 = 1 << 1;
    pub const LINK: u32 = 1 << 2;
    pub const USER: u32 = 1 << 3;
    pub const GROUP: u32 = 1 << 4;
    pub const MTIME: u32 = 1 << 5;
    pub const MODE: u32 = 1 << 6;
    pub const RDEV: u32 = 1 << 7;
    /// Not an rpm bit: the file type alone (dpkg records, which carry no mode).
    pub const TYPE: u32 = 1 << 20;
    pub const ALL: u32 = DIGEST | SIZE | LINK | USER | GROUP | MTIME | MODE | RDEV;
}

/// A file digest algorithm, by rpm's `FILEDIGESTALGO` numbers (PGP hash ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestAlgo {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgo {
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgo::Md5 => "md5",
            DigestAlgo::Sha1 => "sha1",
            DigestAlgo::Sha224 => "sha224",
            DigestAlgo::Sha256 => "sha256",
            DigestAlgo::Sha384 => "sha384",
            DigestAlgo::Sha512 => "sha512",
        }
    }

    pub fn from_rpm(n: u64) -> Option<DigestAlgo> {
        Some(match n {
            1 => DigestAlgo::Md5,
            2 => DigestAlgo::Sha1,
            8 => DigestAlgo::Sha256,
            9 => DigestAlgo::Sha384,
            10 => DigestAlgo::Sha512,
            11 => DigestAlgo::Sha224,
            _ => return None,
        })
    }
}

/// rpm's per-file install state (`FILESTATES`); dpkg files are all `Normal`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileState {
    #[default]
    Normal,
    /// Another package's copy took its place: only its existence is checked.
    Replaced,
    /// Not installed on purpose (`--excludedocs`, `%_install_langs`, a path-exclude rule).
    NotInstalled,
    NetShared,
    /// A multilib file of the other architecture: content checks do not apply.
    WrongColor,
}

/// What one packaged file should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    pub file_type: FileType,
    /// Permission bits with setuid/setgid/sticky, where the database records them.
    pub perm: Option<u32>,
    pub size: Option<u64>,
    /// Lowercase hex digest; `None` where none is recorded.
    pub digest: Option<(DigestAlgo, String)>,
    pub link: Option<String>,
    pub user: Option<(String, u32)>,
    pub group: Option<(String, u32)>,
    pub mtime: Option<i64>,
    /// Which `attr` bits apply (rpm's FILEVERIFYFLAGS, or what dpkg records).
    pub verify: u32,
    pub state: FileState,
    /// `%ghost`: created at run time; content is not checked, absence is fine.
    pub ghost: bool,
    /// `%config(missingok)`: absence is fine.
    pub missing_ok: bool,
    /// Look through a final symlink (dpkg, like `debsums`); rpm checks the link itself.
    pub follow: bool,
}

/// One file to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub package: Arc<str>,
    /// The path the package installs it at.
    pub path: String,
    /// Where it really is when diverted (`dpkg-divert`).
    pub diverted_to: Option<String>,
    pub expect: Expect,
    /// A configuration file: local changes are expected.
    pub config: bool,
}

impl Record {
    pub fn real_path(&self) -> &str {
        self.diverted_to.as_deref().unwrap_or(&self.path)
    }
}

/// One difference between a file and its package's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Problem {
    Missing,
    /// Could not be read (a corrupt inode, an I/O error).
    Unreadable {
        error: String,
    },
    /// A different kind of file stands there (a directory, a symlink).
    Type {
        expected: String,
        actual: String,
    },
    Size {
        expected: u64,
        actual: u64,
    },
    /// The content's digest differs; `actual` is absent when the size already proved it.
    Digest {
        algo: DigestAlgo,
        expected: String,
        actual: Option<String>,
    },
    Mode {
        expected: u32,
        actual: u32,
    },
    Link {
        expected: String,
        actual: String,
    },
    User {
        expected: String,
        actual: u32,
    },
    Group {
        expected: String,
        actual: u32,
    },
    Mtime {
        expected: i64,
        actual: i64,
    },
    /// Device type differs (device numbers are not readable from every backend).
    Rdev,
}

/// One file that does not match its package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deviation {
    pub package: String,
    pub path: String,
    /// Where it really is when diverted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diverted_to: Option<String>,
    pub config: bool,
    pub problems: Vec<Problem>,
    /// The file's modification time on the volume (when it exists): when it was changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtime: Option<i64>,
}

impl Deviation {
    pub fn real_path(&self) -> &str {
        self.diverted_to.as_deref().unwrap_or(&self.path)
    }

    pub fn is_missing(&self) -> bool {
        self.problems.contains(&Problem::Missing)
    }

    /// Content or identity changed (missing, other type, size, digest, link, unreadable), as
    /// opposed to only metadata (mode, owner, time).
    pub fn content_changed(&self) -> bool {
        self.problems.iter().any(|p| {
            matches!(
                p,
                Problem::Missing
                    | Problem::Unreadable { .. }
                    | Problem::Type { .. }
                    | Problem::Size { .. }
                    | Problem::Digest { .. }
                    | Problem::Link { .. }
                    | Problem::Rdev
            )
        })
    }

    /// Only the modification time differs: not worth a finding.
    pub fn only_mtime(&self) -> bool {
        self.problems
            .iter()
            .all(|p| matches!(p, Problem::Mtime { .. }))
    }

    /// The flags column `rpm -V` prints (`S.5....T.`, or `missing`).
    pub fn rpm_flags(&self) -> String {
        if self.is_missing() {
            return "missing".into();
        }
        let has = |f: &dyn Fn(&Problem) -> bool| self.problems.iter().any(f);
        let col = |c: char, on: bool| if on { c } else { '.' };
        [
            col(
                'S',
                has(&|p| matches!(p, Problem::Size { .. } | Problem::Unreadable { .. })),
            ),
            col(
                'M',
                has(&|p| matches!(p, Problem::Mode { .. } | Problem::Type { .. })),
            ),
            col(
                '5',
                has(&|p| matches!(p, Problem::Digest { .. } | Problem::Unreadable { .. })),
            ),
            col('D', has(&|p| matches!(p, Problem::Rdev))),
            col('L', has(&|p| matches!(p, Problem::Link { .. }))),
            col('U', has(&|p| matches!(p, Problem::User { .. }))),
            col('G', has(&|p| matches!(p, Problem::Group { .. }))),
            col('T', has(&|p| matches!(p, Problem::Mtime { .. }))),
            '.',
        ]
        .iter()
        .collect()
    }

    /// One line for a person: what differs.
    pub fn describe(&self) -> String {
        let place = match &self.diverted_to {
            Some(d) => format!("{} (diverted to {d})", self.path),
            None => self.path.clone(),
        };
        let parts: Vec<String> = self
            .problems
            .iter()
            .map(|p| match p {
                Problem::Missing => "is missing".into(),
                Problem::Unreadable { error } => format!("cannot be read ({error})"),
                Problem::Type { expected, actual } => {
                    format!("is a {actual}, the package installs a {expected}")
                }
                Problem::Size { expected, actual } => {
                    format!("is {actual} bytes, the package's is {expected}")
                }
                Problem::Digest {
                    algo,
                    expected,
                    actual,
                } => match actual {
                    Some(a) => format!(
                        "content differs ({} {a}, the package's is {expected})",
                        algo.name()
                    ),
                    None => "content differs".into(),
                },
                Problem::Mode { expected, actual } => {
                    format!(
                        "mode {:04o}, the package's is {:04o}",
                        actual & 0o7777,
                        expected & 0o7777
                    )
                }
                Problem::Link { expected, actual } => {
                    format!("links to {actual:?}, the package's links to {expected:?}")
                }
                Problem::User { expected, actual } => {
                    format!("owned by uid {actual}, the package says {expected}")
                }
                Problem::Group { expected, actual } => {
                    format!("group gid {actual}, the package says {expected}")
                }
                Problem::Mtime { .. } => "modification time differs".into(),
                Problem::Rdev => "device type differs".into(),
            })
            .collect();
        format!("{place} {}", parts.join(", "))
    }
}

/// Counts for the report and the benchmark.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub packages: usize,
    pub files: usize,
    pub bytes: u64,
    /// Files not on the disk on purpose: dpkg path-exclude rules, rpm's not-installed state.
    pub excluded: usize,
    /// dpkg md5sums entries another package has taken over (not in this package's list).
    pub replaced: usize,
}

/// The outcome of verifying a database's packages.
#[derive(Debug, Default)]
pub struct Verification {
    pub deviations: Vec<Deviation>,
    pub totals: Totals,
    /// Package records that could not be read.
    pub damaged: Vec<String>,
    /// Mismatches explained by another package's record of the same file (usr-merge).
    pub reconciled: usize,
}

/// Verifies the packages named in `only` (all when `None`): records from the database,
/// checked on `jobs` threads (default: one per core), each over its own view from `open`, with
/// a progress line on a terminal when `show_progress`.
pub fn verify_packages(
    fs: &crate::fs::RootFs,
    db: &db::PackageDb,
    only: Option<&std::collections::HashSet<String>>,
    open: Option<verify::Open<'_>>,
    jobs: Option<usize>,
    show_progress: bool,
) -> Verification {
    let counters = verify::Progress::default();
    let expected: u64 = db
        .packages
        .iter()
        .filter(|p| only.is_none_or(|o| o.contains(&p.name)))
        .map(|p| p.size)
        .sum();
    counters
        .expected_bytes
        .store(expected, std::sync::atomic::Ordering::Relaxed);
    let workers = jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let mut totals = Totals::default();
    let mut damaged = Vec::new();
    let mut deviations =
        crate::progress::with_progress("verifying package files", show_progress, &counters, || {
            verify::run(
                fs,
                &mut |emit| totals = db.records(fs, only, emit, &mut damaged),
                open,
                workers,
                &counters,
            )
        });
    let reconciled = db.reconcile(fs, &mut deviations);
    totals.bytes = counters.bytes.load(std::sync::atomic::Ordering::Relaxed);
    Verification {
        deviations,
        totals,
        damaged,
        reconciled,
    }
}
