//! The dpkg database's `/var/lib/dpkg/status`: which packages are installed, at which version,
//! in which state, with which conffiles.
//!
//! Syntax as dpkg's `lib/dpkg/parse.c: parse_stanza` reads it: stanzas separated by blank
//! lines, `Field: value` with case-insensitive field names, continuation lines starting with a
//! space or tab (folded into the value with a newline).

use crate::fs::{FsError, RootFs};

pub const STATUS_PATH: &str = "/var/lib/dpkg/status";

/// The three words of `Status:` (`install ok installed`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// `unknown`, `install`, `hold`, `deinstall`, `purge`.
    pub want: String,
    /// `ok`, `reinstreq`.
    pub flag: String,
    /// `not-installed`, `config-files`, `half-installed`, `unpacked`, `half-configured`,
    /// `triggers-awaited`, `triggers-pending`, `installed`.
    pub state: String,
}

impl Status {
    /// Configured and usable: `installed`, or `triggers-*` (configured, triggers pending).
    pub fn is_installed(&self) -> bool {
        matches!(
            self.state.as_str(),
            "installed" | "triggers-awaited" | "triggers-pending"
        )
    }
    /// Files on disk, but not (fully) configured: an interrupted upgrade.
    pub fn is_half_done(&self) -> bool {
        matches!(
            self.state.as_str(),
            "half-installed" | "unpacked" | "half-configured"
        ) || self.flag == "reinstreq"
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Package {
    pub name: String,
    pub arch: Option<String>,
    pub version: Option<String>,
    pub status: Status,
    /// 1-based line of the stanza's first line in the status file.
    pub line: usize,
    /// `Installed-Size:` in KiB.
    pub installed_size: Option<u64>,
    /// `Conffiles:` entries: (path, md5 or `newconffile`, `obsolete`).
    pub conffiles: Vec<Conffile>,
}

/// One `Conffiles:` line.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Conffile {
    pub path: String,
    pub md5: String,
    pub obsolete: bool,
}

/// A stanza that could not be used: its first line and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadStanza {
    pub line: usize,
    pub reason: String,
}

/// One stanza's fields in order, names as written, values with continuation lines folded.
pub fn parse_stanzas(text: &str) -> Vec<(usize, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut start = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !fields.is_empty() {
                out.push((start, std::mem::take(&mut fields)));
            }
            continue;
        }
        if fields.is_empty() {
            start = i + 1;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            // A continuation before any field: dpkg rejects the stanza; it is dropped here
            // when no field follows.
            continue;
        }
        match line.split_once(':') {
            Some((k, v)) => fields.push((k.trim().to_string(), v.trim().to_string())),
            None => fields.push((line.trim().to_string(), String::new())),
        }
    }
    if !fields.is_empty() {
        out.push((start, fields));
    }
    out
}

/// Parses the status file into packages; stanzas without `Package` or a three-word `Status`
/// are returned separately.
pub fn parse_status(text: &str) -> (Vec<Package>, Vec<BadStanza>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (line, fields) in parse_stanzas(text) {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let Some(name) = get("Package").filter(|n| !n.is_empty()) else {
            bad.push(BadStanza {
                line,
                reason: "no Package field".into(),
            });
            continue;
        };
        let status = get("Status").unwrap_or_default();
        let words: Vec<&str> = status.split_whitespace().collect();
        let [want, flag, state] = words[..] else {
            bad.push(BadStanza {
                line,
                reason: format!("{name}: Status \"{status}\" is not three words"),
            });
            continue;
        };
        let conffiles = get("Conffiles")
            .map(|v| {
                v.lines()
                    .filter_map(|l| {
                        let w: Vec<&str> = l.split_whitespace().collect();
                        match w.as_slice() {
                            [p, h, rest @ ..] => Some(Conffile {
                                path: p.to_string(),
                                md5: h.to_string(),
                                // `remove-on-upgrade` (dpkg 1.20.6+) marks a conffile
                                // the next upgrade deletes: like obsolete, not verified.
                                obsolete: rest
                                    .iter()
                                    .any(|f| *f == "obsolete" || *f == "remove-on-upgrade"),
                            }),
                            _ => None,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        ok.push(Package {
            name,
            arch: get("Architecture"),
            version: get("Version"),
            installed_size: get("Installed-Size").and_then(|s| s.trim().parse().ok()),
            conffiles,
            status: Status {
                want: want.into(),
                flag: flag.into(),
                state: state.into(),
            },
            line,
        });
    }
    (ok, bad)
}

/// Reads the guest's dpkg status file.
pub fn read_status(fs: &RootFs) -> Result<(Vec<Package>, Vec<BadStanza>), FsError> {
    Ok(parse_status(&fs.read_to_string_lossy(STATUS_PATH)?))
}

/// The installed version of `name` (any architecture), if dpkg has it configured.
pub fn installed_version(fs: &RootFs, name: &str) -> Result<Option<String>, FsError> {
    let (pkgs, _) = read_status(fs)?;
    Ok(pkgs
        .into_iter()
        .find(|p| p.name == name && p.status.is_installed())
        .and_then(|p| p.version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::mem::MemFs;

    const STATUS: &str = "Package: openssh-server
Status: install ok installed
Priority: optional
Section: net
Installed-Size: 1927
Maintainer: Debian OpenSSH Maintainers <debian-ssh@lists.debian.org>
Architecture: amd64
Multi-Arch: foreign
Source: openssh
Version: 1:9.2p1-2+deb12u6
Conffiles:
 /etc/default/ssh 500e3cf069fe9a7b9936108eb9d9c035
 /etc/init.d/ssh 3649a6fe8c18ad1d5245fd91737de507
Description: secure shell (SSH) server, for secure access from remote machines
 This is the portable version of OpenSSH.
 .
 More text.

Package: libssl3
status: install ok half-configured
Architecture: amd64
Version: 3.0.15-1~deb12u1

Package: openssh-client
Status: deinstall ok config-files
Version: 1:9.2p1-2

Status: install ok installed
Version: 1
";

    #[test]
    fn stanzas_and_status() {
        let (p, bad) = parse_status(STATUS);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].name, "openssh-server");
        assert_eq!(p[0].version.as_deref(), Some("1:9.2p1-2+deb12u6"));
        assert_eq!(p[0].arch.as_deref(), Some("amd64"));
        assert!(p[0].status.is_installed());
        assert_eq!(p[1].line, 19);
        assert!(p[1].status.is_half_done());
        assert_eq!(p[2].status.state, "config-files");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 28);
        let st = parse_stanzas(STATUS);
        let conffiles = &st[0].1.iter().find(|(k, _)| k == "Conffiles").unwrap().1;
        assert_eq!(conffiles.lines().count(), 3);
    }

    #[test]
    fn installed_version_in_guest() {
        let mut m = MemFs::new();
        m.file(STATUS_PATH, STATUS.as_bytes(), 0o644, 0, 0);
        let fs = m.into_rootfs();
        assert_eq!(
            installed_version(&fs, "openssh-server").unwrap().as_deref(),
            Some("1:9.2p1-2+deb12u6")
        );
        assert_eq!(installed_version(&fs, "openssh-client").unwrap(), None);
        assert_eq!(installed_version(&fs, "libssl3").unwrap(), None);
        let empty = MemFs::new().into_rootfs();
        assert!(installed_version(&empty, "x").unwrap_err().is_not_found());
    }
}
