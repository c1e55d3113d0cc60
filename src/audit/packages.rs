//! Are the packages SSH depends on intact: the package database's file records (dpkg or rpm)
//! against the volume (PKG-001, PKG-002, PKG-005), packages left half-installed by an
//! interrupted upgrade (PKG-003), locally changed configuration files (PKG-004), and a
//! database that cannot be fully read (PKG-006).

use std::collections::HashSet;

use super::sshd::service::reinstall;
use super::{PackageScope, Rule, Settings};
use crate::fs::RootFs;
use crate::guest::os_release::Family;
use crate::packages::db::{DbError, Kind, PackageDb};
use crate::packages::{Deviation, Verification, verify_packages};
use crate::report::{Category, Confidence, Finding, Severity};

macro_rules! rule {
    ($name:ident, $id:literal, $sev:ident, $summary:literal, $doc:literal $(,)?) => {
        pub static $name: Rule = Rule {
            id: $id,
            severity: Severity::$sev,
            category: Category::Packages,
            summary: $summary,
            doc: $doc,
        };
    };
}

rule!(
    PKG_001,
    "PKG-001",
    Critical,
    "a file of a package SSH depends on is missing or differs from the package",
    "Verifies every file of the packages that own sshd (and sshd-session/sshd-auth), the \
libraries it loads, the PAM modules its stacks use and the login shells, like `dpkg --verify` / \
`debsums` and `rpm -V`: dpkg's MD5s from /var/lib/dpkg/info/PKG.md5sums (through diversions, \
skipping what path-exclude rules keep off minimised images, files another package took over, and \
treating /bin and /usr/bin as one place after the usr-merge), or rpm's recorded digest, size, \
type and link target from the rpm database (rpmdb.sqlite with its write-ahead log, Packages.db, \
or Berkeley DB Packages). `--packages all` verifies every package, `--packages none` none.\n\n\
Why it matters: a truncated or overwritten sshd, libc, libcrypto or PAM module (a crash during an \
upgrade, a disk error, tampering) stops sshd or makes it fail at the first connection.\n\nFix: \
reinstall the package from inside the guest (the finding gives the command), or restore the one \
file from the package on the recovery host.",
);
rule!(
    PKG_002,
    "PKG-002",
    Warning,
    "a file of another package is missing or differs from the package",
    "The same verification as PKG-001 for packages SSH does not depend on (with `--packages \
all`).\n\nWhy it matters: damage elsewhere may explain other failures and shows how far a disk \
or filesystem problem reached.\n\nFix: reinstall the package.",
);
rule!(
    PKG_003,
    "PKG-003",
    Critical,
    "a package is not fully installed (an interrupted install or upgrade)",
    "Reads every stanza of /var/lib/dpkg/status: a package left half-installed, unpacked, \
half-configured, marked reinst-required, or with triggers that have not run; on rpm guests, two \
versions of one package (other than kernels) installed at once, what an interrupted \
transaction leaves. Critical when SSH depends on it, a warning otherwise.\n\nWhy it matters: its maintainer scripts did not finish; files may be from two \
versions, and what it should have set up (the privilege separation user, host keys, links, the \
service) may be missing.\n\nFix: finish the configuration inside the guest (`dpkg --configure \
-a` in a chroot; rpm: `dnf remove --duplicates`), then reinstall what stays broken.",
);
rule!(
    PKG_004,
    "PKG-004",
    Info,
    "a configuration file differs from the packaged version",
    "Configuration files (dpkg conffiles, rpm %config) of the packages SSH depends on whose \
content differs from what the package installed.\n\nWhy it matters: usually a deliberate local \
change, but it is where a bad edit hides (PAM stacks, /etc/default/ssh, /etc/ssh/moduli).\n\nFix: \
compare with the packaged version and restore it if the change is not wanted (the finding says \
how to get the original).",
);
rule!(
    PKG_005,
    "PKG-005",
    Warning,
    "a packaged file's mode or owner differs from the package",
    "rpm records each file's mode, owner and group; compares them with the volume for the \
packages SSH depends on (all packages with `--packages all`). dpkg records no modes, so this \
applies to rpm guests.\n\nWhy it matters: a library or helper that lost its execute or read bits, \
or a directory that became group-writable, breaks logins or makes sshd refuse to run.\n\nFix: \
`rpm --setperms PKG` and `rpm --setugids PKG` inside the guest (the finding gives the command).",
);
rule!(
    PKG_006,
    "PKG-006",
    Warning,
    "the package database cannot be read (completely): packages were not verified",
    "The dpkg status file or the rpm database (rpmdb.sqlite, Packages.db, Packages) is \
missing records, has damaged pages or headers, or cannot be opened at all; the packages \
concerned were not verified.\n\nWhy it matters: a damaged package database is itself a sign of \
filesystem damage, and the package manager inside the guest may refuse to work until it is \
repaired.\n\nFix: `rpmdb --rebuilddb` (rpm) or restore /var/lib/dpkg/status from \
/var/lib/dpkg/status-old or /var/backups/dpkg.status.* (dpkg), inside the guest.",
);

pub static RULES: &[&Rule] = &[&PKG_001, &PKG_002, &PKG_003, &PKG_004, &PKG_005, &PKG_006];

/// How the package manager of this database and distribution reinstalls.
fn family_of(kind: Kind, family: Family) -> Family {
    match (kind, family) {
        (Kind::Dpkg, _) => Family::Debian,
        (Kind::Rpm, Family::Suse) => Family::Suse,
        (Kind::Rpm, _) => Family::Rhel,
    }
}

/// Restoring just the damaged files from the package, on the recovery host.
fn restore_files(kind: Kind, mp: &str, pkg: &str, version: &str, paths: &[&str]) -> String {
    let list: Vec<String> = paths.iter().take(8).map(|p| format!(".{p}")).collect();
    let list = list.join(" ");
    match kind {
        Kind::Dpkg => format!(
            "apt-get download {pkg}={version} && dpkg-deb --fsys-tarfile {pkg}_*.deb | tar -xC {mp} {list}"
        ),
        Kind::Rpm => format!(
            "dnf download {pkg}-{version} && rpm2cpio {pkg}-*.rpm | (cd {mp} && cpio -idmu {list})"
        ),
    }
}

/// Runs the package audits. `db` is the database the sshd audits opened (None: open it here).
pub fn audit(
    fs: &RootFs,
    family: Family,
    db: Option<Result<Option<PackageDb>, DbError>>,
    sshd_pkgs: &[String],
    s: &Settings,
    out: &mut Vec<Finding>,
) {
    if s.packages == PackageScope::None {
        return;
    }
    let db = match db.unwrap_or_else(|| PackageDb::open(fs)) {
        Ok(Some(db)) => db,
        Ok(None) => return,
        Err(e) => {
            out.push(
                PKG_006
                    .finding(
                        "the package database cannot be read: no package was verified",
                        format!("{e}."),
                    )
                    .fix("inside the guest: rpmdb --rebuilddb (rpm), or restore /var/lib/dpkg/status from /var/lib/dpkg/status-old (dpkg)"),
            );
            return;
        }
    };
    let mp = s.mount_point.trim_end_matches('/');
    let fam = family_of(db.kind, family);
    let on_path: HashSet<&str> = sshd_pkgs.iter().map(String::as_str).collect();
    for p in &db.packages {
        let Some(why) = &p.interrupted else { continue };
        let crit = on_path.contains(p.name.as_str());
        let line = p.line.unwrap_or(0);
        let fix = match db.kind {
            Kind::Dpkg => format!(
                "for d in dev proc sys; do mount --bind /$d {mp}/$d; done; chroot {mp} dpkg --configure -a"
            ),
            Kind::Rpm => format!(
                "chroot {mp} dnf remove --duplicates   # RHEL/CentOS 7: chroot {mp} package-cleanup --cleandupes"
            ),
        };
        let mut f = PKG_003
            .finding(
                format!("{} is {why}", p.name),
                format!(
                    "{}{} records {} {} as {why}: the install or upgrade did not complete{}.",
                    db.path,
                    if line > 0 {
                        format!(":{line}")
                    } else {
                        String::new()
                    },
                    p.name,
                    p.version,
                    if crit {
                        "; SSH depends on this package"
                    } else {
                        ""
                    }
                ),
            )
            .severity(if crit {
                Severity::Critical
            } else {
                Severity::Warning
            })
            .at(db.path.clone())
            .fix(fix);
        if line > 0 {
            f = f.line(line);
        }
        out.push(f);
    }
    let only: Option<HashSet<String>> = match s.packages {
        PackageScope::Sshd => Some(sshd_pkgs.iter().cloned().collect()),
        _ => None,
    };
    if only.as_ref().is_some_and(|o| o.is_empty()) {
        return;
    }
    let open = s
        .reopen
        .as_ref()
        .map(|r| r.as_ref() as &(dyn Fn() -> Option<RootFs> + Sync));
    let v: Verification = verify_packages(fs, &db, only.as_ref(), open, None, s.progress);
    if !v.damaged.is_empty() {
        let n = v.damaged.len();
        out.push(
            PKG_006
                .finding(
                    format!(
                        "{}: {n} damaged record{} (those packages were not verified)",
                        db.path,
                        if n == 1 { "" } else { "s" }
                    ),
                    format!(
                        "{}{}.",
                        v.damaged
                            .iter()
                            .take(10)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join("; "),
                        if n > 10 {
                            format!("; and {} more", n - 10)
                        } else {
                            String::new()
                        }
                    ),
                )
                .at(db.path.clone())
                .fix(match db.kind {
                    Kind::Rpm => format!("chroot {mp} rpmdb --rebuilddb"),
                    Kind::Dpkg => format!(
                        "cp {mp}/var/lib/dpkg/status-old {mp}/var/lib/dpkg/status   # after checking that status-old is intact"
                    ),
                }),
        );
    }
    findings_for(&db, fam, &on_path, &v.deviations, mp, out);
}

/// One finding per package and kind of deviation (content, configuration, metadata).
fn findings_for(
    db: &PackageDb,
    fam: Family,
    on_path: &HashSet<&str>,
    devs: &[Deviation],
    mp: &str,
    out: &mut Vec<Finding>,
) {
    #[derive(PartialEq, Clone, Copy)]
    enum Group {
        Content,
        Config,
        Meta,
    }
    let mut groups: Vec<(String, Group, Vec<&Deviation>)> = Vec::new();
    for d in devs.iter().filter(|d| !d.only_mtime()) {
        let g = if d.config {
            Group::Config
        } else if d.content_changed() {
            Group::Content
        } else {
            Group::Meta
        };
        match groups
            .iter_mut()
            .find(|(p, k, _)| *p == d.package && *k == g)
        {
            Some((_, _, v)) => v.push(d),
            None => groups.push((d.package.clone(), g, vec![d])),
        }
    }
    for (name, group, list) in groups {
        let crit = on_path.contains(name.as_str());
        let version = db
            .package(&name)
            .map(|p| p.version.clone())
            .unwrap_or_default();
        let (rule, sev) = match (group, crit) {
            (Group::Config, false) => continue,
            (Group::Config, true) => (&PKG_004, Severity::Info),
            (Group::Content, true) => (&PKG_001, Severity::Critical),
            (Group::Content, false) => (&PKG_002, Severity::Warning),
            (Group::Meta, _) => (&PKG_005, Severity::Warning),
        };
        let first = list[0];
        let mut detail: Vec<String> = list.iter().take(20).map(|d| d.describe()).collect();
        if list.len() > 20 {
            detail.push(format!("and {} more", list.len() - 20));
        }
        let title = if list.len() == 1 {
            format!("{name}: {}", first.describe())
        } else {
            format!(
                "{name}: {} (and {} more file{})",
                first.describe(),
                list.len() - 1,
                if list.len() == 2 { "" } else { "s" }
            )
        };
        let why = match group {
            Group::Content if crit => "; SSH depends on this package",
            _ => "",
        };
        let paths: Vec<&str> = list.iter().map(|d| d.real_path()).collect();
        let fix = match group {
            Group::Meta => {
                format!("chroot {mp} rpm --setperms {name} && chroot {mp} rpm --setugids {name}")
            }
            Group::Config => format!(
                "mkdir -p /tmp/orig && {} && diff -u /tmp/orig{p} {mp}{p}   # the packaged original beside the guest's",
                restore_files(db.kind, "/tmp/orig", &name, &version, &paths),
                p = first.real_path()
            ),
            Group::Content => format!(
                "{}   # or, without network in the guest: {}",
                reinstall(fam, mp, &name),
                restore_files(db.kind, mp, &name, &version, &paths)
            ),
        };
        out.push(
            rule.finding(
                title,
                format!(
                    "{} {} ({}, {}): {}{why}.",
                    name,
                    version,
                    match db.kind {
                        Kind::Dpkg => "dpkg",
                        Kind::Rpm => "rpm",
                    },
                    db.path,
                    detail.join("; ")
                ),
            )
            .severity(sev)
            .confidence(if group == Group::Content {
                Confidence::Certain
            } else {
                Confidence::Likely
            })
            .at(first.real_path().to_string())
            .fix(fix),
        );
    }
}
