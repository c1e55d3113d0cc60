//! Will the boot start sshd, and can its program run at all: the binary and every library it
//! loads, the privilege-separation user and directory, the helper programs of 9.8+, and the
//! systemd (or SysV) wiring that starts it.

use std::path::Path;

use super::SshdFacts;
use crate::audit::{Rule, Settings};
use crate::guest::ldso::LibProblem;
use crate::guest::os_release::Family;
use crate::guest::systemd::Init;
use crate::report::{Category, Confidence, Finding, Severity};

pub static BIN_001: Rule = Rule {
    id: "SSHD-BIN-001",
    severity: Severity::Critical,
    category: Category::Libraries,
    summary: "the sshd program, or its dynamic loader, is missing or cannot be executed",
    doc: "Reads /usr/sbin/sshd's ELF header: it must exist, be a regular executable ELF file for \
the guest's architecture, not empty and not all NUL bytes, and its program interpreter \
(PT_INTERP, the dynamic loader) must be usable.\n\nWhy it matters: systemd cannot start a program \
that is missing, truncated by a crash, or built for another architecture: the unit fails with \
status 203/EXEC and nothing listens on port 22 (\"Connection refused\").\n\nFix: reinstall the \
package that owns the file from the recovery host (the finding gives the command).",
};

pub static LIB_001: Rule = Rule {
    id: "SSHD-LIB-001",
    severity: Severity::Critical,
    category: Category::Libraries,
    summary: "a shared library sshd needs is missing, empty, corrupt or of the wrong architecture",
    doc: "Resolves sshd's DT_NEEDED libraries recursively the way the guest's ld.so does \
(RUNPATH/RPATH with $ORIGIN, /etc/ld.so.conf and its includes, the architecture's default \
directories, usr-merge links) and checks each one is a usable ELF file for the right \
architecture.\n\nWhy it matters: one missing or truncated library (libcrypto after a failed \
upgrade, a crash during package installation) makes sshd die at exec with \"error while loading \
shared libraries\": the service fails and port 22 refuses connections.\n\nFix: reinstall the \
package that owns the library (named in the finding when the guest's package database knows it).",
};

pub static SESSION_001: Rule = Rule {
    id: "SSHD-BIN-002",
    severity: Severity::Critical,
    category: Category::SshdService,
    summary: "sshd-session or sshd-auth (OpenSSH 9.8+/10.0+) is missing",
    doc: "From OpenSSH 9.8 sshd re-executes a separate sshd-session program for every connection, \
and from 10.0 also sshd-auth. Checks they exist and are executable where the guest's build keeps \
them (/usr/lib/openssh on Debian/Ubuntu, /usr/libexec/openssh on the RHEL family).\n\nWhy it \
matters: sshd starts and listens, but every connection is dropped right after it is accepted. \
`sshd -t` and `sshd -T` do not notice.\n\nFix: reinstall openssh-server.",
};

pub static PRIV_001: Rule = Rule {
    id: "SSHD-PRIV-001",
    severity: Severity::Critical,
    category: Category::SshdService,
    summary: "the privilege-separation user or directory sshd requires is missing or unsafe",
    doc: "sshd refuses to start without its unprivileged user `sshd` (\"Privilege separation user \
sshd does not exist\") and without its privilege-separation directory: it must exist, be owned by \
root and not be group- or world-writable (\"Missing privilege separation directory\", \"… must be \
owned by root and not group or world-writable\"). The directory is /var/empty upstream, \
/usr/share/empty.sshd on the RHEL family, /var/lib/empty on SUSE; Debian's /run/sshd is created by \
the unit (RuntimeDirectory=sshd) at each start, so it is not expected on disk.\n\nFix: recreate the \
user or directory with the command in the finding.",
};

pub static SVC_001: Rule = Rule {
    id: "SSHD-SVC-001",
    severity: Severity::Critical,
    category: Category::SshdService,
    summary: "nothing starts sshd at boot (service not enabled)",
    doc: "Follows the default target's dependencies in the guest's unit files (.wants/ and \
.requires/ links, Wants=/Requires=) to see whether ssh.service/sshd.service or ssh.socket is pulled \
in at boot; on guests without systemd, the SysV runlevel links.\n\nWhy it matters: a disabled \
service does not start after reboot: \"Connection refused\" on port 22 although everything else \
is healthy. An alias link (sshd.service) left alone makes `systemctl is-enabled` say enabled while \
nothing starts it.\n\nFix: `systemctl --root=/mnt/rescue enable ssh.service` (the unit name in the \
finding).",
};

pub static SVC_002: Rule = Rule {
    id: "SSHD-SVC-002",
    severity: Severity::Critical,
    category: Category::SshdService,
    summary: "the ssh service is masked",
    doc: "A unit is masked when its name in /etc/systemd/system is a symlink to /dev/null or an \
empty file.\n\nWhy it matters: systemd refuses to start a masked unit, at boot or by hand.\n\nFix: \
`systemctl --root=/mnt/rescue unmask ssh.service` (or remove the symlink named in the finding).",
};

pub static SVC_003: Rule = Rule {
    id: "SSHD-SVC-003",
    severity: Severity::Critical,
    category: Category::Boot,
    summary: "the default boot target is emergency or rescue mode",
    doc: "Reads /etc/systemd/system/default.target.\n\nWhy it matters: the emergency and rescue \
targets start a root shell on the console and neither the network nor sshd.\n\nFix: \
`systemctl --root=/mnt/rescue set-default multi-user.target`.",
};

pub static SVC_004: Rule = Rule {
    id: "SSHD-SVC-004",
    severity: Severity::Critical,
    category: Category::SshdService,
    summary: "no ssh service unit or init script exists",
    doc: "Looks for ssh.service, sshd.service, ssh.socket and sshd.socket in every unit \
directory, and /etc/init.d/ssh{,d} on SysV guests.\n\nWhy it matters: without a unit, nothing can \
start sshd.\n\nFix: reinstall openssh-server.",
};

pub static RULES: &[&Rule] = &[
    &BIN_001,
    &LIB_001,
    &SESSION_001,
    &PRIV_001,
    &SVC_001,
    &SVC_002,
    &SVC_003,
    &SVC_004,
];

/// The reinstall command for a package on this guest.
pub fn reinstall(family: Family, mp: &str, pkg: &str) -> String {
    match family {
        Family::Debian => format!("chroot {mp} apt-get install --reinstall {pkg}"),
        Family::Rhel => format!("chroot {mp} dnf reinstall -y {pkg}"),
        Family::Suse => format!("chroot {mp} zypper install -f {pkg}"),
        Family::Other => format!("reinstall {pkg} with the guest's package manager (chroot {mp})"),
    }
}

/// When the loader or libc itself is broken, nothing runs inside a chroot: the fix unpacks the
/// package from the recovery host instead.
fn unpack(family: Family, mp: &str, pkg: &str) -> String {
    match family {
        Family::Debian => format!(
            "apt-get download {pkg} && dpkg -x {pkg}_*.deb {mp}   # on a recovery host of the same release and architecture; then: {}",
            reinstall(family, mp, pkg)
        ),
        _ => format!(
            "dnf download {pkg} && rpm2cpio {pkg}-*.rpm | (cd {mp} && cpio -idmu)   # on a recovery host of the same release; then: {}",
            reinstall(family, mp, pkg)
        ),
    }
}

pub fn audit(f: &SshdFacts, s: &Settings, out: &mut Vec<Finding>) {
    let mp = s.mount_point.trim_end_matches('/');
    let family = f.family;
    let owner = |path: &str| -> String {
        f.owner_of(path)
            .unwrap_or_else(|| "openssh-server".to_string())
    };

    // The program and its interpreter.
    if let Err(p) = &f.closure.program {
        let path = f.closure.binary.display().to_string();
        out.push(
            BIN_001
                .finding(
                    format!("{path} cannot be executed: {p}"),
                    format!("sshd cannot start: {p}."),
                )
                .at(path.clone())
                .fix(reinstall(family, mp, &owner(&path))),
        );
    }
    if let Some(Err(p)) = &f.closure.interpreter {
        let path = p
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let pkg = f.owner_of(&path).unwrap_or_else(|| "libc6".into());
        out.push(
            BIN_001
                .finding(
                    format!("sshd's dynamic loader is unusable: {p}"),
                    format!("The program interpreter named in {} cannot be loaded ({p}): sshd, and every other dynamically linked program, fails at exec.", f.closure.binary.display()),
                )
                .at(path)
                .fix(unpack(family, mp, &pkg)),
        );
    }
    for lib in &f.closure.libs {
        let Some(p) = &lib.problem else { continue };
        let found = lib
            .resolved
            .as_ref()
            .map(|r| r.display().to_string())
            .or_else(|| p.path().map(|p| p.display().to_string()));
        let by_name = f.owner_of_basename(&lib.soname);
        let pkg = found
            .as_deref()
            .and_then(|p| f.owner_of(p))
            .or_else(|| by_name.as_ref().map(|(pkg, _)| pkg.clone()));
        // Where: the file that is there, else where its package puts it, else the program that
        // needs it.
        let path = found
            .or_else(|| by_name.map(|(_, p)| p))
            .unwrap_or_else(|| lib.needed_by.display().to_string());
        let what = match p {
            LibProblem::NotFound { .. } => "missing",
            LibProblem::Empty { .. } => "empty",
            LibProblem::AllNul { .. } => "filled with NUL bytes",
            LibProblem::WrongArch { .. } => "built for another architecture",
            _ => "unusable",
        };
        let detail = format!(
            "{} needs {} ({p}); sshd fails at exec with \"error while loading shared libraries: {}\"{}.",
            lib.needed_by.display(),
            lib.soname,
            lib.soname,
            pkg.as_deref()
                .map(|p| format!("; it belongs to package {p}"))
                .unwrap_or_default()
        );
        let fix = match &pkg {
            Some(pkg) if lib.soname.starts_with("libc.so") => unpack(family, mp, pkg),
            Some(pkg) => reinstall(family, mp, pkg),
            None => format!(
                "restore {} from the package that ships it (run `dpkg -S {}` on a healthy host of the same release)",
                lib.soname, lib.soname
            ),
        };
        out.push(
            LIB_001
                .finding(format!("sshd's library {} is {what}", lib.soname), detail)
                .at(path)
                .fix(fix),
        );
    }

    // Helper programs of 9.8+ / 10.0+.
    if let Some(v) = f.version {
        let mut helpers = Vec::new();
        if v >= (9, 8) {
            helpers.push("sshd-session");
        }
        if v >= (10, 0) {
            helpers.push("sshd-auth");
        }
        for h in helpers {
            let dirs = [
                "/usr/lib/openssh",
                "/usr/libexec/openssh",
                "/usr/libexec",
                "/usr/lib/ssh",
                "/usr/libexec/ssh",
            ];
            let found = dirs.iter().any(|d| {
                f.fs.metadata(format!("{d}/{h}"))
                    .is_ok_and(|m| m.is_file() && m.perm & 0o111 != 0 && m.size > 0)
            });
            if !found {
                let expected = match family {
                    Family::Debian => "/usr/lib/openssh",
                    _ => "/usr/libexec/openssh",
                };
                out.push(
                    SESSION_001
                        .finding(
                            format!("{h} is missing: sshd {}.{} accepts connections and then drops them", v.0, v.1),
                            format!("OpenSSH {}.{} runs {h} for every connection; no executable {h} was found in {}.", v.0, v.1, dirs.join(", ")),
                        )
                        .at(format!("{expected}/{h}"))
                        .confidence(Confidence::Likely)
                        .fix(reinstall(family, mp, "openssh-server")),
                );
            }
        }
    }

    privsep(f, s, out);
    service(f, s, out);
}

fn privsep(f: &SshdFacts, s: &Settings, out: &mut Vec<Finding>) {
    let mp = s.mount_point.trim_end_matches('/');
    if f.closure.program.is_err() {
        return;
    }
    if !f.users.iter().any(|u| u.name == "sshd") && f.users_readable {
        let cmd = match f.family {
            Family::Rhel => format!(
                "chroot {mp} useradd -r -u 74 -d /usr/share/empty.sshd -s /sbin/nologin -c 'Privilege-separated SSH' sshd"
            ),
            _ => format!("chroot {mp} useradd -r -d /run/sshd -s /usr/sbin/nologin sshd"),
        };
        out.push(
            PRIV_001
                .finding(
                    "privilege separation user sshd does not exist: sshd will not start",
                    "/etc/passwd has no user sshd; sshd exits at start with \"Privilege separation user sshd does not exist\".",
                )
                .at("/etc/passwd")
                .fix(cmd),
        );
    }
    // Debian's unit creates /run/sshd at start (RuntimeDirectory=sshd); elsewhere the
    // directory must be on disk.
    let dir = match f.family {
        Family::Debian => return,
        Family::Rhel => "/usr/share/empty.sshd",
        Family::Suse => "/var/lib/empty",
        Family::Other => "/var/empty",
    };
    match f.fs.metadata(dir) {
        Ok(m) if m.is_dir() && m.uid == 0 && m.perm & 0o022 == 0 => {}
        Ok(m) if m.is_dir() => out.push(
            PRIV_001
                .finding(
                    format!("{dir} must be owned by root and not group or world-writable: sshd will not start"),
                    format!("{dir} is {} owned by uid {}; sshd exits with \"{dir} must be owned by root and not group or world-writable.\"", crate::fs::mode_string(m.file_type, m.perm), m.uid),
                )
                .at(dir)
                .fix(format!("chown root:root {0} && chmod 755 {0}", s.host_path(dir))),
        ),
        _ => out.push(
            PRIV_001
                .finding(
                    format!("privilege separation directory {dir} is missing: sshd will not start"),
                    format!("sshd exits with \"Missing privilege separation directory: {dir}\"."),
                )
                .at(dir)
                .confidence(Confidence::Likely)
                .fix(format!("install -d -m 755 -o root -g root {}", s.host_path(dir))),
        ),
    }
}

fn service(f: &SshdFacts, s: &Settings, out: &mut Vec<Finding>) {
    let mp = s.mount_point.trim_end_matches('/');
    let st = &f.service;
    match &st.init {
        Init::Systemd(_) => {}
        Init::Other(_) | Init::Missing => {
            if let Some(sysv) = &st.sysv {
                if sysv.init_scripts.is_empty() {
                    out.push(
                        SVC_004
                            .finding(
                                "no /etc/init.d/ssh script: nothing starts sshd",
                                "The guest does not boot with systemd and has no ssh init script.",
                            )
                            .at("/etc/init.d/ssh")
                            .fix(reinstall(f.family, mp, "openssh-server")),
                    );
                } else if sysv.start_links.is_empty() {
                    let script = sysv.init_scripts[0].display().to_string();
                    let name = Path::new(&script)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    out.push(
                        SVC_001
                            .finding(
                                format!("{script} is not started in runlevel {}", sysv.runlevel),
                                format!("/etc/rc{}.d has no S??{name} link: the boot does not start sshd.", sysv.runlevel),
                            )
                            .at(format!("/etc/rc{}.d", sysv.runlevel))
                            .fix(format!("chroot {mp} update-rc.d {name} enable")),
                    );
                }
            }
            return;
        }
    }
    if let Some(dt) = &st.default_target {
        if dt.is_rescue {
            out.push(
                SVC_003
                    .finding(
                        format!(
                            "the default boot target is {}: boot stops before the network and sshd",
                            dt.name
                        ),
                        format!("/etc/systemd/system/default.target points to {}.", dt.name),
                    )
                    .at("/etc/systemd/system/default.target")
                    .fix(format!(
                        "systemctl --root={mp} set-default multi-user.target"
                    )),
            );
        }
    }
    let present: Vec<_> = st.units.iter().filter(|u| u.file.is_some()).collect();
    if present.is_empty() {
        out.push(
            SVC_004
                .finding("no ssh.service, sshd.service or ssh.socket unit: nothing starts sshd", "None of the ssh unit names exists in /etc/systemd/system, /lib/systemd/system or /usr/lib/systemd/system.")
                .at("/lib/systemd/system/ssh.service")
                .fix(reinstall(f.family, mp, "openssh-server")),
        );
        return;
    }
    if st.units.iter().any(|u| u.starts_at_boot()) {
        return;
    }
    // A masked service: unmasking is the fix (enabling a masked unit fails). An alias shares
    // its target's mask: one finding per mask file.
    let mut masks: Vec<(String, Vec<&str>)> = Vec::new();
    for u in present.iter().filter(|u| u.name.ends_with(".service")) {
        if let Some(m) = u.masked() {
            let p = m.path().display().to_string();
            match masks.iter_mut().find(|(mp, _)| *mp == p) {
                Some((_, names)) => names.push(&u.name),
                None => masks.push((p, vec![&u.name])),
            }
        }
    }
    for (m, names) in &masks {
        out.push(
            SVC_002
                .finding(
                    format!(
                        "{} is masked: systemd will not start sshd",
                        names.join(" / ")
                    ),
                    format!(
                        "{m} is a link to /dev/null or an empty file: it masks {}.",
                        names.join(" and ")
                    ),
                )
                .at(m.clone())
                .fix(format!("systemctl --root={mp} unmask {}", names[0])),
        );
    }
    if !masks.is_empty() {
        return;
    }
    // The main service name: the real unit of ssh.service / sshd.service.
    let main = present
        .iter()
        .filter(|u| u.masked().is_none() && u.name.ends_with(".service"))
        .map(|u| {
            u.file
                .as_ref()
                .map(|f| f.id().to_string())
                .unwrap_or_else(|| u.name.clone())
        })
        .next()
        .unwrap_or_else(|| "ssh.service".into());
    let path = present
        .iter()
        .find_map(|u| {
            u.file
                .as_ref()
                .filter(|f| f.id() == main)
                .and_then(|f| f.fragment.clone())
        })
        .map(|p| p.display().to_string());
    let mut detail = format!(
        "No .wants/ or .requires/ link and no Wants=/Requires= of a target reached from the default target pulls in {main} or ssh.socket."
    );
    if let Some(u) = present.iter().find(|u| !u.alias_links.is_empty()) {
        detail.push_str(&format!(
            " Only the alias link {} is left, so `systemctl is-enabled` may still say \"enabled\".",
            u.alias_links[0].display()
        ));
    }
    // Ubuntu 22.10+ starts sshd through ssh.socket, with a generator that turns sshd_config's
    // Port/ListenAddress into the socket's addresses: restore that default.
    let socket_default = present.iter().any(|u| u.name == "ssh.socket")
        && f.fs
            .exists("/usr/lib/systemd/system-generators/sshd-socket-generator")
            .unwrap_or(false);
    let (title, fix) = if socket_default {
        (
            "neither ssh.socket nor ssh.service is enabled: sshd does not start at boot"
                .to_string(),
            format!(
                "systemctl --root={mp} enable ssh.socket   # this release's default (socket activation); enabling {main} instead works too"
            ),
        )
    } else {
        (
            format!("{main} is not enabled: sshd does not start at boot"),
            format!("systemctl --root={mp} enable {main}"),
        )
    };
    let mut finding = SVC_001.finding(title, detail).fix(fix);
    if let Some(p) = path {
        finding = finding.at(p);
    }
    out.push(finding);
}
