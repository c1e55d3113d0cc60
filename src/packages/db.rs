//! The guest's package database, whichever it is: dpkg's status file or an rpm database. The
//! audits ask it which packages are installed (at which version, in which state), who owns a
//! path, and for the records to verify.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::rpm::{self, RpmDb, RpmError, header::Header};
use super::{Deviation, Record, Totals};
use crate::fs::{FsError, RootFs};
use crate::guest::dpkg::{self, Package};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Dpkg,
    Rpm,
}

/// One installed package, whatever the database.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Installed {
    pub name: String,
    /// dpkg's `Version:`, or rpm's `[epoch:]version-release`.
    pub version: String,
    pub arch: Option<String>,
    /// dpkg's state word (`installed`, `half-configured`…); `installed` for rpm.
    pub state: String,
    /// Why the package looks like an interrupted install or upgrade: dpkg's state
    /// (half-installed, unpacked, half-configured, reinst-required, triggers not run), or rpm's
    /// sign of one (two versions of a package that is not installed in several versions).
    pub interrupted: Option<String>,
    /// Where the package's record is (dpkg: its status stanza's first line).
    pub line: Option<usize>,
    /// Expected bytes of its files, for progress estimates.
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{path}: {source}")]
    Dpkg {
        path: String,
        #[source]
        source: FsError,
    },
    #[error(transparent)]
    Rpm(#[from] RpmError),
}

enum Store {
    Dpkg(Vec<Package>),
    Rpm(RpmDb),
}

/// An opened package database.
pub struct PackageDb {
    pub kind: Kind,
    /// Guest path of the database (`/var/lib/dpkg/status`, `/var/lib/rpm/rpmdb.sqlite`…).
    pub path: String,
    pub packages: Vec<Installed>,
    /// Records that could not be read (a damaged stanza, page or header): (where, why).
    pub damaged: Vec<String>,
    store: Store,
    /// Who owns what, built on first use.
    files: std::cell::OnceCell<OwnerIndex>,
}

impl std::fmt::Debug for PackageDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackageDb")
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("packages", &self.packages.len())
            .finish()
    }
}

/// `/usr/lib/x` and `/lib/x` are one file on a merged-/usr system, and a database may list
/// either spelling.
pub fn unmerged(p: &str) -> &str {
    p.strip_prefix("/usr")
        .filter(|r| {
            ["/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin"]
                .iter()
                .any(|d| r.strip_prefix(d).is_some_and(|rest| rest.starts_with('/')))
        })
        .unwrap_or(p)
}

/// Who owns what: (package, path) of every packaged file, looked up by path (either usr-merge
/// spelling) in constant time.
#[derive(Debug, Default)]
pub struct OwnerIndex {
    files: Vec<(String, String)>,
    /// Unmerged path → index into `files` (the first package listing it).
    by_path: HashMap<String, usize>,
}

impl OwnerIndex {
    pub fn new(files: Vec<(String, String)>) -> OwnerIndex {
        let mut by_path = HashMap::with_capacity(files.len());
        for (i, (_, p)) in files.iter().enumerate() {
            by_path.entry(unmerged(p).to_string()).or_insert(i);
        }
        OwnerIndex { files, by_path }
    }

    /// The package owning `path`, like `dpkg -S` or `rpm -qf`.
    pub fn owner_of(&self, path: &str) -> Option<String> {
        let i = *self.by_path.get(unmerged(path))?;
        self.files.get(i).map(|(pkg, _)| pkg.clone())
    }

    /// The package shipping a file of this name anywhere, and where.
    pub fn owner_of_basename(&self, name: &str) -> Option<(String, String)> {
        let suffix = format!("/{name}");
        self.files
            .iter()
            .find(|(_, p)| p.ends_with(&suffix))
            .cloned()
    }
}

fn dpkg_interrupted(s: &dpkg::Status) -> Option<String> {
    if s.flag == "reinstreq" {
        return Some(format!("{} and marked reinst-required", s.state));
    }
    match s.state.as_str() {
        "half-installed" | "unpacked" | "half-configured" => Some(s.state.clone()),
        "triggers-awaited" | "triggers-pending" => Some(format!(
            "{} (configured, but its triggers have not run)",
            s.state
        )),
        _ => None,
    }
}

/// Packages rpm installs in several versions on purpose (dnf's `installonlypkgs`).
fn install_only(name: &str) -> bool {
    name.starts_with("kernel") || name == "gpg-pubkey" || name.starts_with("installonlypkg")
}

/// Two versions of the same package (name and architecture) are what an interrupted rpm
/// transaction leaves (`rpm -qa --dupes`; yum's `package-cleanup --cleandupes`).
fn mark_rpm_duplicates(pkgs: &mut [Installed]) {
    let mut seen: HashMap<(String, Option<String>), Vec<usize>> = HashMap::new();
    for (i, p) in pkgs.iter().enumerate() {
        if !install_only(&p.name) {
            seen.entry((p.name.clone(), p.arch.clone()))
                .or_default()
                .push(i);
        }
    }
    for idx in seen.values().filter(|v| v.len() > 1) {
        let versions: Vec<String> = idx.iter().map(|&i| pkgs[i].version.clone()).collect();
        pkgs[idx[0]].interrupted = Some(format!(
            "installed twice ({}): an rpm transaction did not finish",
            versions.join(" and ")
        ));
    }
}

impl PackageDb {
    /// Opens the guest's package database: dpkg's when `/var/lib/dpkg/status` exists, else
    /// rpm's. `Ok(None)` when the guest has neither.
    pub fn open(fs: &RootFs) -> Result<Option<PackageDb>, DbError> {
        match dpkg::read_status(fs) {
            Ok((pkgs, bad)) => {
                let packages = pkgs
                    .iter()
                    .filter(|p| p.status.state != "not-installed")
                    .map(|p| Installed {
                        name: p.name.clone(),
                        version: p.version.clone().unwrap_or_default(),
                        arch: p.arch.clone(),
                        state: p.status.state.clone(),
                        interrupted: dpkg_interrupted(&p.status),
                        line: Some(p.line),
                        size: p.installed_size.unwrap_or(0) * 1024,
                    })
                    .collect();
                return Ok(Some(PackageDb {
                    kind: Kind::Dpkg,
                    path: dpkg::STATUS_PATH.into(),
                    packages,
                    damaged: bad
                        .into_iter()
                        .map(|b| format!("{}:{}: {}", dpkg::STATUS_PATH, b.line, b.reason))
                        .collect(),
                    store: Store::Dpkg(pkgs),
                    files: Default::default(),
                }));
            }
            Err(FsError::NotFound(_)) => {}
            Err(source) => {
                return Err(DbError::Dpkg {
                    path: dpkg::STATUS_PATH.into(),
                    source,
                });
            }
        }
        let Some(db) = RpmDb::open(fs)? else {
            return Ok(None);
        };
        let mut packages = Vec::new();
        let mut damaged = Vec::new();
        let problems = db.for_each_blob(&mut |blob| match Header::parse(blob)
            .and_then(|h| rpm::package(&h))
        {
            Ok(p) if p.name == "gpg-pubkey" => {}
            Ok(p) => packages.push(Installed {
                version: p.evr(),
                name: p.name,
                arch: p.arch,
                state: "installed".into(),
                interrupted: None,
                line: None,
                size: p.size,
            }),
            Err(e) => damaged.push(format!("a header: {e}")),
        })?;
        damaged.extend(problems);
        mark_rpm_duplicates(&mut packages);
        Ok(Some(PackageDb {
            kind: Kind::Rpm,
            path: db.path.clone(),
            packages,
            damaged,
            store: Store::Rpm(db),
            files: Default::default(),
        }))
    }

    /// The installed version of a package (`1:9.2p1-2+deb12u3`, `8.7p1-38.el9`).
    pub fn version_of(&self, name: &str) -> Option<&str> {
        self.packages
            .iter()
            .find(|p| p.name == name && (p.state == "installed" || p.state.starts_with("triggers")))
            .map(|p| p.version.as_str())
    }

    pub fn package(&self, name: &str) -> Option<&Installed> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// (package, path) of every packaged file, like the data `dpkg -S` and `rpm -qf` search:
    /// dpkg's file lists, or every header's file names (read once, on first use).
    pub fn file_index(&self, fs: &RootFs) -> &OwnerIndex {
        self.files.get_or_init(|| {
            OwnerIndex::new(match &self.store {
                Store::Dpkg(_) => super::dpkg::file_index(fs),
                Store::Rpm(db) => {
                    let mut out = Vec::new();
                    let _ = db.for_each_blob(&mut |blob| {
                        let Ok(h) = Header::parse(blob) else { return };
                        let (Ok(pkg), Ok(paths)) = (rpm::package(&h), rpm::file_paths(&h)) else {
                            return;
                        };
                        out.extend(paths.into_iter().map(|p| (pkg.name.clone(), p)));
                    });
                    out
                }
            })
        })
    }

    /// Produces the records of the packages named in `only` (every package when `None`) and
    /// returns what was produced. Unreadable package headers are added to `damaged`.
    pub fn records(
        &self,
        fs: &RootFs,
        only: Option<&HashSet<String>>,
        emit: &mut dyn FnMut(Record),
        damaged: &mut Vec<String>,
    ) -> Totals {
        let mut totals = Totals::default();
        let chosen = |name: &str| only.is_none_or(|o| o.contains(name));
        match &self.store {
            Store::Dpkg(pkgs) => {
                let files = super::dpkg::DpkgFiles::new(fs);
                let sel: Vec<&Package> = pkgs.iter().filter(|p| chosen(&p.name)).collect();
                files.records(&sel, &mut totals, emit);
            }
            Store::Rpm(db) => {
                let ids = rpm::Ids::read(fs);
                let res = db.for_each_blob(&mut |blob| {
                    let h = match Header::parse(blob) {
                        Ok(h) => h,
                        Err(e) => return damaged.push(format!("a header: {e}")),
                    };
                    let Ok(pkg) = rpm::package(&h) else { return };
                    if !chosen(&pkg.name) || pkg.name == "gpg-pubkey" {
                        return;
                    }
                    let name: Arc<str> = Arc::from(pkg.name.as_str());
                    match rpm::records(&h, &name, &ids) {
                        Ok(recs) => {
                            totals.packages += 1;
                            for r in recs {
                                if r.expect.state == super::FileState::NotInstalled {
                                    totals.excluded += 1;
                                    continue;
                                }
                                totals.files += 1;
                                emit(r);
                            }
                        }
                        Err(e) => damaged.push(format!("{}: {e}", pkg.nvra())),
                    }
                });
                match res {
                    // Pages, slots or rows the walk could not read: their packages are unknown.
                    Ok(problems) => {
                        damaged.extend(problems.into_iter().map(|p| format!("{}: {p}", db.path)))
                    }
                    Err(e) => damaged.push(e.to_string()),
                }
            }
        }
        totals
    }

    /// Database-specific clean-up of the deviations (dpkg: usr-merge aliases).
    pub fn reconcile(&self, fs: &RootFs, devs: &mut Vec<Deviation>) -> usize {
        match &self.store {
            Store::Dpkg(pkgs) => super::dpkg::DpkgFiles::new(fs).reconcile(pkgs, devs),
            Store::Rpm(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str) -> Installed {
        Installed {
            name: name.into(),
            version: version.into(),
            arch: Some("x86_64".into()),
            state: "installed".into(),
            interrupted: None,
            line: None,
            size: 0,
        }
    }

    #[test]
    fn interrupted_installs() {
        let st = |state: &str, flag: &str| dpkg::Status {
            want: "install".into(),
            flag: flag.into(),
            state: state.into(),
        };
        assert_eq!(dpkg_interrupted(&st("installed", "ok")), None);
        assert_eq!(
            dpkg_interrupted(&st("half-configured", "ok")).as_deref(),
            Some("half-configured")
        );
        assert!(
            dpkg_interrupted(&st("triggers-pending", "ok"))
                .unwrap()
                .contains("triggers have not run")
        );
        assert!(
            dpkg_interrupted(&st("installed", "reinstreq"))
                .unwrap()
                .contains("reinst-required")
        );
        let mut p = vec![
            pkg("openssh-server", "8.7p1-38.el9"),
            pkg("kernel-core", "5.14.0-427"),
            pkg("kernel-core", "5.14.0-503"),
            pkg("openssh-server", "8.7p1-43.el9"),
            pkg("bash", "5.1.8-9.el9"),
        ];
        mark_rpm_duplicates(&mut p);
        let marked: Vec<(&str, &str)> = p
            .iter()
            .filter_map(|p| p.interrupted.as_deref().map(|w| (p.name.as_str(), w)))
            .collect();
        assert_eq!(
            marked,
            [(
                "openssh-server",
                "installed twice (8.7p1-38.el9 and 8.7p1-43.el9): an rpm transaction did not finish"
            )]
        );
    }
}
