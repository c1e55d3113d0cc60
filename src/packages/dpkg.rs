//! dpkg's records as `dpkg --verify` and `debsums` read them, with their blind spots closed:
//!
//! - every entry of `/var/lib/dpkg/info/PKG[:ARCH].md5sums` is a file to check, unless the
//!   package no longer owns it (it is not in the package's `.list`: another package took it
//!   over; `debsums` reports those as changed);
//! - conffiles are checked against the status file's `Conffiles:` hashes and marked as
//!   configuration (local changes are expected); `obsolete`, `remove-on-upgrade` and
//!   `newconffile` entries are not checked;
//! - diversions (`/var/lib/dpkg/diversions`) send the check to where the file really is;
//! - `path-exclude`/`path-include` rules (minimised cloud images drop docs and man pages on
//!   purpose) keep excluded files out, where `dpkg --verify` calls them missing;
//! - paths resolve inside the guest (an absolute symlink such as `/bin -> /usr/bin` stays in
//!   it, unlike `dpkg --verify --root`), and after verification a content mismatch is dropped
//!   when another package's record for the same real file (the other usr-merge spelling)
//!   matches what is on disk.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{Deviation, DigestAlgo, Expect, FileState, Problem, Record, Totals, attr};
use crate::fs::{FileType, RootFs};
use crate::guest::dpkg::Package;

const INFO_DIR: &str = "/var/lib/dpkg/info";
/// Per-package lists are refused beyond this (the largest real ones are a few MiB).
const MAX_LIST: u64 = 64 << 20;

/// `dpkg-divert` records: diverted path → (new path, diverting package, or `:` for local).
pub fn diversions(fs: &RootFs) -> HashMap<String, (String, String)> {
    let text = fs
        .read_to_string_lossy("/var/lib/dpkg/diversions")
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = HashMap::new();
    for c in lines.chunks(3) {
        if let [from, to, pkg] = c {
            out.insert(from.to_string(), (to.to_string(), pkg.to_string()));
        }
    }
    out
}

/// dpkg reads only files named with letters, digits, `_` and `-` from a `.d` directory
/// (`lib/dpkg/options.c: valid_config_filename`): `excludes` counts, `excludes.dpkg-old`
/// does not.
fn valid_config_filename(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// dpkg's `path-exclude=`/`path-include=` filters in the order dpkg loads them: the files of
/// `/etc/dpkg/dpkg.cfg.d` in name order, then `/etc/dpkg/dpkg.cfg`.
pub fn path_filters(fs: &RootFs) -> Vec<(bool, String)> {
    let mut files: Vec<String> = fs
        .read_dir("/etc/dpkg/dpkg.cfg.d")
        .map(|v| {
            v.into_iter()
                .map(|e| e.name.to_string_lossy().into_owned())
                .filter(|n| valid_config_filename(n))
                .map(|n| format!("/etc/dpkg/dpkg.cfg.d/{n}"))
                .collect()
        })
        .unwrap_or_default();
    files.push("/etc/dpkg/dpkg.cfg".into());
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = fs.read_to_string_lossy(&f) else {
            continue;
        };
        for l in text.lines() {
            let l = l.trim();
            for (key, exclude) in [("path-exclude", true), ("path-include", false)] {
                if let Some(rest) = l.strip_prefix(key) {
                    if !rest.starts_with(['=', ' ', '\t']) {
                        continue;
                    }
                    let v = rest.trim_start_matches(['=', ' ', '\t']).trim();
                    if !v.is_empty() {
                        out.push((exclude, v.to_string()));
                    }
                }
            }
        }
    }
    out
}

/// `src/main/filters.c: filter_should_skip`: the last filter whose pattern matches decides;
/// patterns are fnmatch(3) without `FNM_PATHNAME` (`*` crosses `/`).
pub fn excluded(filters: &[(bool, String)], path: &str) -> bool {
    filters
        .iter()
        .rev()
        .find(|(_, g)| crate::fs::glob::fnmatch_plain(g.as_bytes(), path.as_bytes()))
        .is_some_and(|(ex, _)| *ex)
}

/// An info file of a package: `PKG:ARCH.EXT` (multi-arch same), else `PKG.EXT`.
fn info_file(fs: &RootFs, p: &Package, ext: &str) -> Option<String> {
    let mut names = vec![format!("{INFO_DIR}/{}.{ext}", p.name)];
    if let Some(a) = &p.arch {
        names.insert(0, format!("{INFO_DIR}/{}:{a}.{ext}", p.name));
    }
    names.into_iter().find_map(|n| {
        fs.read_limited(&n, MAX_LIST)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    })
}

/// `md5sums` lines: (md5, absolute path).
fn md5sums(text: &str) -> impl Iterator<Item = (&str, String)> {
    text.lines().filter_map(|l| {
        let (sum, rel) = l.split_once(char::is_whitespace)?;
        let rel = rel
            .trim_start()
            .trim_start_matches("./")
            .trim_start_matches('/');
        (sum.len() == 32 && !rel.is_empty()).then(|| (sum, format!("/{rel}")))
    })
}

/// Whether the package's files are on disk: installed, or part-way through an install.
fn has_files(p: &Package) -> bool {
    matches!(
        p.status.state.as_str(),
        "installed"
            | "triggers-awaited"
            | "triggers-pending"
            | "half-configured"
            | "unpacked"
            | "half-installed"
    )
}

/// What dpkg knows about the guest's files, loaded once.
pub struct DpkgFiles<'a> {
    fs: &'a RootFs,
    diversions: HashMap<String, (String, String)>,
    filters: Vec<(bool, String)>,
}

impl<'a> DpkgFiles<'a> {
    pub fn new(fs: &'a RootFs) -> DpkgFiles<'a> {
        DpkgFiles {
            fs,
            diversions: diversions(fs),
            filters: path_filters(fs),
        }
    }

    fn divert(&self, path: &str, pkg: &str) -> Option<String> {
        match self.diversions.get(path) {
            // A package's own diversion leaves its own file in place.
            Some((to, by)) if by != pkg => Some(to.clone()),
            _ => None,
        }
    }

    /// Produces the records of `pkgs` (those with files on disk) through `emit`.
    pub fn records(&self, pkgs: &[&Package], totals: &mut Totals, emit: &mut dyn FnMut(Record)) {
        for p in pkgs.iter().filter(|p| has_files(p)) {
            totals.packages += 1;
            let name: Arc<str> = Arc::from(p.name.as_str());
            let conffiles: HashSet<&str> = p.conffiles.iter().map(|c| c.path.as_str()).collect();
            let owned: Option<HashSet<String>> =
                info_file(self.fs, p, "list").map(|t| t.lines().map(str::to_string).collect());
            if let Some(text) = info_file(self.fs, p, "md5sums") {
                for (sum, path) in md5sums(&text) {
                    if conffiles.contains(path.as_str()) {
                        continue;
                    }
                    if excluded(&self.filters, &path) {
                        totals.excluded += 1;
                        continue;
                    }
                    if owned.as_ref().is_some_and(|o| !o.contains(&path)) {
                        totals.replaced += 1;
                        continue;
                    }
                    totals.files += 1;
                    emit(self.record(&name, &path, sum, false));
                }
            }
            if p.status.state == "config-files" {
                continue;
            }
            for c in &p.conffiles {
                if c.obsolete || c.md5 == "newconffile" || excluded(&self.filters, &c.path) {
                    continue;
                }
                totals.files += 1;
                emit(self.record(&name, &c.path, &c.md5, true));
            }
        }
    }

    fn record(&self, pkg: &Arc<str>, path: &str, md5: &str, config: bool) -> Record {
        Record {
            package: pkg.clone(),
            path: path.to_string(),
            diverted_to: self.divert(path, pkg),
            config,
            expect: Expect {
                file_type: FileType::Regular,
                perm: None,
                size: None,
                digest: Some((DigestAlgo::Md5, md5.to_ascii_lowercase())),
                link: None,
                user: None,
                group: None,
                mtime: None,
                verify: attr::DIGEST | attr::TYPE,
                state: FileState::Normal,
                ghost: false,
                missing_ok: false,
                follow: true,
            },
        }
    }

    /// Drops content mismatches that another package's record for the same real file explains:
    /// after the usr-merge, `/bin/x` of one package and `/usr/bin/x` of another are one file,
    /// and it can match only one of them.
    pub fn reconcile(&self, all: &[Package], devs: &mut Vec<Deviation>) -> usize {
        let mut wanted: HashMap<String, Vec<(usize, String)>> = HashMap::new();
        for (i, d) in devs.iter().enumerate() {
            for p in &d.problems {
                if let Problem::Digest {
                    actual: Some(a), ..
                } = p
                {
                    if let Ok(c) = self.fs.canonicalize(d.real_path()) {
                        wanted
                            .entry(c.to_string_lossy().into_owned())
                            .or_default()
                            .push((i, a.clone()));
                    }
                }
            }
        }
        if wanted.is_empty() {
            return 0;
        }
        let basenames: HashSet<&str> = wanted.keys().filter_map(|k| k.rsplit('/').next()).collect();
        let mut explained: HashSet<usize> = HashSet::new();
        for p in all.iter().filter(|p| has_files(p)) {
            let Some(text) = info_file(self.fs, p, "md5sums") else {
                continue;
            };
            for (sum, path) in md5sums(&text) {
                let base = path.rsplit('/').next().unwrap_or("");
                if !basenames.contains(base) {
                    continue;
                }
                let real = self.divert(&path, &p.name).unwrap_or_else(|| path.clone());
                let Ok(c) = self.fs.canonicalize(&real) else {
                    continue;
                };
                if let Some(list) = wanted.get(c.to_string_lossy().as_ref()) {
                    for (i, actual) in list {
                        if devs.get(*i).is_some_and(|d| d.package != p.name)
                            && sum.eq_ignore_ascii_case(actual)
                        {
                            explained.insert(*i);
                        }
                    }
                }
            }
        }
        let before = devs.len();
        let mut i = 0;
        devs.retain(|_| {
            i += 1;
            !explained.contains(&(i - 1))
        });
        before - devs.len()
    }
}

/// Every (package, path) from /var/lib/dpkg/info/*.list. Bounded: only files under 4 MiB, at
/// most 200k lines in all.
pub fn file_index(fs: &RootFs) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = fs.read_dir("/var/lib/dpkg/info") else {
        return out;
    };
    for e in entries {
        let name = e.name.to_string_lossy();
        let Some(pkg) = name.strip_suffix(".list") else {
            continue;
        };
        let pkg = pkg.split(':').next().unwrap_or(pkg).to_string();
        let Ok(bytes) = fs.read_limited(std::path::Path::new(INFO_DIR).join(&e.name), 4 << 20)
        else {
            continue;
        };
        for line in String::from_utf8_lossy(&bytes).lines() {
            if out.len() >= 200_000 {
                return out;
            }
            out.push((pkg.clone(), line.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::mem::MemFs;
    use crate::packages::verify::{self, Progress};

    // md5("hello") and md5("other").
    const HELLO: &str = "5d41402abc4b2a76b9719d911017c592";
    const OTHER: &str = "795f3202b17cb6bc3d4b771d8c6c9eaf";

    fn guest() -> MemFs {
        let mut m = MemFs::new();
        m.file(
            "/var/lib/dpkg/status",
            format!(
                "Package: foo\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\nInstalled-Size: 4\nConffiles:\n /etc/foo.conf {HELLO}\n /etc/old.conf 00000000000000000000000000000000 obsolete\n\nPackage: bar\nStatus: install ok installed\nVersion: 2\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n"
            )
            .as_bytes(),
            0o644,
            0,
            0,
        );
        m.file(
            "/var/lib/dpkg/info/foo.md5sums",
            format!(
                "{HELLO}  usr/bin/foo\n{HELLO}  usr/bin/gone\n{HELLO}  usr/bin/changed\n{HELLO}  usr/share/doc/foo/README\n{HELLO}  usr/bin/diverted\n{HELLO}  usr/bin/takenover\n{HELLO}  bin/merged\n"
            )
            .as_bytes(),
            0o644,
            0,
            0,
        );
        m.file(
            "/var/lib/dpkg/info/foo.list",
            b"/usr\n/usr/bin\n/usr/bin/foo\n/usr/bin/gone\n/usr/bin/changed\n/usr/share/doc/foo/README\n/usr/bin/diverted\n/bin/merged\n/etc/foo.conf\n",
            0o644,
            0,
            0,
        );
        // bar lists the other spelling of foo's /bin/merged, with the content on disk.
        m.file(
            "/var/lib/dpkg/info/bar.md5sums",
            format!("{OTHER}  usr/bin/merged\n").as_bytes(),
            0o644,
            0,
            0,
        );
        m.file(
            "/var/lib/dpkg/info/bar.list",
            b"/usr/bin/merged\n",
            0o644,
            0,
            0,
        );
        m.symlink("/bin", "usr/bin");
        m.file("/usr/bin/foo", b"hello", 0o755, 0, 0);
        m.file("/usr/bin/changed", b"hellO", 0o755, 0, 0);
        m.file("/usr/bin/diverted.distrib", b"hello", 0o755, 0, 0);
        m.file("/usr/bin/diverted", b"local", 0o755, 0, 0);
        m.file("/usr/bin/takenover", b"new owner", 0o755, 0, 0);
        m.file("/usr/bin/merged", b"other", 0o755, 0, 0);
        m.file("/etc/foo.conf", b"edited", 0o644, 0, 0);
        m.file(
            "/var/lib/dpkg/diversions",
            b"/usr/bin/diverted\n/usr/bin/diverted.distrib\n:\n",
            0o644,
            0,
            0,
        );
        m.file(
            "/etc/dpkg/dpkg.cfg.d/excludes",
            b"# minimised\npath-exclude=/usr/share/doc/*\n",
            0o644,
            0,
            0,
        );
        m.file(
            "/etc/dpkg/dpkg.cfg.d/excludes.dpkg-old",
            b"path-exclude=/usr/bin/*\n",
            0o644,
            0,
            0,
        );
        m
    }

    #[test]
    fn records_and_deviations_like_debsums_but_better() {
        let fs = guest().into_rootfs();
        let pkgs = crate::guest::dpkg::read_status(&fs).unwrap().0;
        let files = DpkgFiles::new(&fs);
        let mut totals = Totals::default();
        let mut recs = Vec::new();
        let refs: Vec<&Package> = pkgs.iter().collect();
        files.records(&refs, &mut totals, &mut |r| recs.push(r));
        assert_eq!(totals.packages, 2);
        assert_eq!(totals.excluded, 1, "README under path-exclude");
        assert_eq!(totals.replaced, 1, "takenover is not in foo.list");
        let paths: Vec<&str> = recs.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/usr/bin/foo",
                "/usr/bin/gone",
                "/usr/bin/changed",
                "/usr/bin/diverted",
                "/bin/merged",
                "/etc/foo.conf",
                "/usr/bin/merged"
            ]
        );
        assert_eq!(
            recs[3].diverted_to.as_deref(),
            Some("/usr/bin/diverted.distrib")
        );
        let mut devs = verify::run(
            &fs,
            &mut |emit| recs.iter().cloned().for_each(&mut *emit),
            None,
            1,
            &Progress::default(),
        );
        let got: Vec<(&str, String)> = devs
            .iter()
            .map(|d| (d.path.as_str(), d.rpm_flags()))
            .collect();
        assert_eq!(
            got,
            [
                ("/usr/bin/gone", "missing".to_string()),
                ("/usr/bin/changed", "..5......".to_string()),
                ("/bin/merged", "..5......".to_string()),
                ("/etc/foo.conf", "..5......".to_string()),
            ]
        );
        assert!(devs[3].config);
        // /bin/merged is /usr/bin/merged, which bar's record explains.
        assert_eq!(files.reconcile(&pkgs, &mut devs), 1);
        assert!(devs.iter().all(|d| d.path != "/bin/merged"));
    }

    #[test]
    fn config_file_names_dpkg_reads() {
        assert!(valid_config_filename("excludes"));
        assert!(valid_config_filename("01_no-docs"));
        assert!(!valid_config_filename("excludes.dpkg-old"));
        assert!(!valid_config_filename(".hidden"));
        let f = vec![
            (true, "/usr/share/doc/*".to_string()),
            (false, "/usr/share/doc/*/copyright".to_string()),
        ];
        assert!(excluded(&f, "/usr/share/doc/foo/README"));
        assert!(!excluded(&f, "/usr/share/doc/foo/copyright"));
        assert!(excluded(&f, "/usr/share/doc/foo/sub/dir/x"));
        assert!(!excluded(&f, "/usr/bin/foo"));
    }
}
