//! Will boot get past its mounts: every /etc/fstab and /etc/crypttab entry checked against the
//! filesystems on this volume. An entry systemd must mount at boot (no `nofail`, no `noauto`)
//! whose device never appears makes local-fs.target fail after the 90 s device timeout, and
//! boot drops to emergency mode — before the network and sshd.

use super::{Rule, Settings};
use crate::guest::fstab::{self, Source};
use crate::inspect::{Content, Inspection};
use crate::report::{Category, Confidence, Finding, Severity};

macro_rules! rule {
    ($name:ident, $id:literal, $sev:ident, $summary:literal, $doc:literal) => {
        pub static $name: Rule = Rule {
            id: $id,
            severity: Severity::$sev,
            category: Category::Boot,
            summary: $summary,
            doc: $doc,
        };
    };
}

rule!(
    BOOT_001,
    "BOOT-001",
    Critical,
    "an fstab entry boot must mount names a device that is not there: emergency mode",
    "Resolves each /etc/fstab source (UUID=, LABEL=, PARTUUID=, PARTLABEL=, /dev/disk/by-*) against \
the filesystems and partitions on this volume. An entry without `nofail` or `noauto` for a \
system mount point (/, /boot, /boot/efi, /usr, /var), or one whose filesystem type exists on the \
volume under another UUID (a re-created or cloned partition), will not be found at boot.\n\nWhy it \
matters: systemd waits 90 s for the device, fails local-fs.target and starts emergency mode: no \
network, no sshd (\"Connection timed out\").\n\nFix: correct the UUID (the finding gives the one \
present) or add `nofail` to the options."
);
rule!(
    BOOT_002,
    "BOOT-002",
    Warning,
    "an fstab entry names a device that is not on this volume (another disk?)",
    "The same resolution as BOOT-001 for other mount points: the device may be a separate data disk \
that is attached to the server but not to the recovery host.\n\nWhy it matters: if that disk is \
not attached (or was replaced) at boot, boot waits 90 s and drops to emergency mode.\n\nFix: make \
sure the disk is attached, or add `nofail` (and `x-systemd.device-timeout=10s`)."
);
rule!(
    BOOT_003,
    "BOOT-003",
    Warning,
    "an fstab or crypttab entry names a device by its kernel name",
    "Flags sources such as /dev/xvda1, /dev/sdb1, /dev/nvme1n1p1, /dev/vdb or /dev/disk/by-id, \
/dev/disk/by-path.\n\nWhy it matters: kernel names depend on the instance type and probe order: \
after a change of instance type /dev/xvda1 becomes /dev/nvme0n1p1 and the entry no longer \
matches — the classic cause of a server that stops booting after a resize.\n\nFix: use UUID= (the \
finding gives it when the filesystem is on this volume)."
);
rule!(
    BOOT_004,
    "BOOT-004",
    Warning,
    "/etc/fstab or /etc/crypttab has a malformed line",
    "Parses every line as libmount does.\n\nWhy it matters: a malformed line is skipped (its \
filesystem is not mounted) or, on older systems, stops fstab processing.\n\nFix: correct the line."
);
rule!(
    BOOT_005,
    "BOOT-005",
    Warning,
    "an fstab entry cannot work as written",
    "Checks a bind mount's source exists in the guest, the filesystem type is one Linux knows, no \
mount point is listed twice, and the / entry matches the root filesystem.\n\nWhy it matters: a \
failing entry without `nofail` stops boot in emergency mode; a wrong / entry keeps the root \
read-only.\n\nFix: as the finding says."
);
rule!(
    BOOT_006,
    "BOOT-006",
    Critical,
    "a crypttab entry waits for a passphrase on the console at boot",
    "An /etc/crypttab entry without a key file (`none`) and without `nofail`/`noauto` makes \
systemd-cryptsetup ask for a passphrase on the console, with no timeout by default.\n\nWhy it \
matters: on a cloud server nobody types it: boot waits forever, before the network and sshd.\n\n\
Fix: add `nofail` (and a key file, or `x-systemd.device-timeout=`), or unlock another way."
);

pub static RULES: &[&Rule] = &[
    &BOOT_001, &BOOT_002, &BOOT_003, &BOOT_004, &BOOT_005, &BOOT_006, &BOOT_007, &BOOT_008,
];

rule!(
    BOOT_007,
    "BOOT-007",
    Info,
    "SELinux relabels the whole filesystem at the next boot",
    "/.autorelabel exists and SELinux is not disabled: the first boot relabels every file and \
reboots once more.\n\nWhy it matters: on a large filesystem that boot takes minutes before sshd \
starts; wait for it before concluding that the server is dead.\n\nFix: nothing; remove \
/.autorelabel only if labels are known to be right."
);
rule!(
    BOOT_008,
    "BOOT-008",
    Critical,
    "SELinux is enforcing but its policy is missing: boot stops",
    "With SELINUX=enforcing (or permissive) in /etc/selinux/config, systemd loads the policy of \
SELINUXTYPE from /etc/selinux/<type>/policy/ at boot. When that directory holds no policy file, \
an enforcing system halts (\"Failed to load SELinux policy. Freezing.\").\n\nWhy it matters: \
nothing after it runs, sshd included.\n\nFix: reinstall the policy package \
(selinux-policy-targeted) or set SELINUX=permissive until it is back."
);

/// SELinux at boot: a pending relabel, a missing policy.
fn selinux(fs: &crate::fs::RootFs, s: &Settings, out: &mut Vec<Finding>) {
    let Some(se) = crate::guest::selinux::read(fs) else {
        return;
    };
    if se.mode == "disabled" {
        return;
    }
    if se.autorelabel {
        out.push(
            BOOT_007
                .finding(
                    "a full SELinux relabel runs at the next boot",
                    "/.autorelabel exists: the first boot relabels every file and reboots; sshd starts only after that.",
                )
                .at("/.autorelabel"),
        );
    }
    let text = fs
        .read_to_string_lossy("/etc/selinux/config")
        .unwrap_or_default();
    let kind = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("SELINUXTYPE=")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "targeted".into());
    let dir = format!("/etc/selinux/{kind}/policy");
    let has_policy = fs.read_dir(&dir).is_ok_and(|e| {
        e.iter()
            .any(|x| x.name.to_string_lossy().starts_with("policy."))
    });
    if !has_policy && se.enforcing() {
        let mut f = BOOT_008
            .finding(
                format!("SELinux is enforcing but {dir} has no policy: boot stops"),
                format!("/etc/selinux/config sets SELINUX=enforcing and SELINUXTYPE={kind}; {dir}/policy.* does not exist, so systemd cannot load a policy and halts."),
            )
            .at("/etc/selinux/config")
            .fix(format!(
                "sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' {}   # then reinstall selinux-policy-{kind} and set it back",
                s.host_path("/etc/selinux/config")
            ));
        if let Some(l) = se.line {
            f = f.line(l);
        }
        out.push(f);
    }
}

/// What is on the volume, to resolve fstab sources against.
struct Known {
    /// (uuid, fs type)
    uuids: Vec<(String, String)>,
    labels: Vec<(String, String)>,
    partuuids: Vec<String>,
    partlabels: Vec<String>,
}

fn known(insp: &Inspection) -> Option<Known> {
    let layout = insp.layout.as_ref()?;
    let mut k = Known {
        uuids: Vec::new(),
        labels: Vec::new(),
        partuuids: Vec::new(),
        partlabels: Vec::new(),
    };
    for (i, e) in layout.entries.iter().enumerate() {
        let mut kind = e.probe.kind.as_str().to_string();
        let mut uuid = e.probe.uuid.clone();
        let mut label = e.probe.label.clone();
        let info = match insp
            .candidates
            .iter()
            .find(|c| c.entry == i)
            .map(|c| &c.content)
        {
            Some(Content::Ext { volume, .. }) => Some(volume.fs.info().clone()),
            Some(Content::Xfs { volume, .. }) => Some(volume.fs.info().clone()),
            Some(Content::Root) => insp.root.as_ref().map(|r| r.fs.info().clone()),
            _ => None,
        };
        if let Some(info) = info {
            kind = info.fs_type;
            uuid = info.uuid.or(uuid);
            label = info.label.or(label);
        }
        if let Some(u) = uuid {
            k.uuids.push((u.to_ascii_lowercase(), kind.clone()));
        }
        if let Some(l) = label {
            k.labels.push((l, kind.clone()));
        }
        if let Some(p) = &e.partition {
            if let Some(u) = &p.uuid {
                k.partuuids.push(u.to_ascii_lowercase());
            }
            if let Some(n) = &p.name {
                k.partlabels.push(n.clone());
            }
        }
    }
    Some(k)
}

/// `ext4` and `ext3`/`ext2` are one family for "same type elsewhere" hints; `auto` matches all.
fn same_type(a: &str, b: &str) -> bool {
    fn fam(t: &str) -> &str {
        if t.starts_with("ext") {
            "ext"
        } else if t == "vfat" || t == "msdos" {
            "vfat"
        } else {
            t
        }
    }
    a == "auto" || fam(a) == fam(b)
}

fn is_kernel_name(dev: &str) -> bool {
    let name = dev.trim_start_matches("/dev/");
    ["sd", "xvd", "vd", "hd", "nvme", "mmcblk"]
        .iter()
        .any(|p| name.starts_with(p))
        || dev.starts_with("/dev/disk/by-id/")
        || dev.starts_with("/dev/disk/by-path/")
}

const SYSTEM_MOUNTS: &[&str] = &["/", "/boot", "/boot/efi", "/efi", "/usr", "/var"];

const KNOWN_TYPES: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "msdos", "exfat", "ntfs", "ntfs3", "iso9660",
    "udf", "squashfs", "erofs", "f2fs", "jfs", "reiserfs", "zfs", "swap", "auto", "none", "bind",
];

pub fn audit(insp: &Inspection, s: &Settings, out: &mut Vec<Finding>) {
    let Some(root) = &insp.root else { return };
    let fs = &root.fs;
    selinux(fs, s, out);
    let Ok(text) = fs.read_to_string_lossy("/etc/fstab") else {
        return;
    };
    let (entries, bad) = fstab::parse_fstab(&text);
    let fstab_host = s.host_path("/etc/fstab");
    for b in &bad {
        out.push(
            BOOT_004
                .finding(
                    format!(
                        "/etc/fstab:{}: malformed line, skipped: {}",
                        b.line, b.reason
                    ),
                    format!("`{}`: {}.", b.text.trim(), b.reason),
                )
                .at("/etc/fstab")
                .line(b.line)
                .fix(format!("edit line {} of {fstab_host}", b.line)),
        );
    }
    let known = known(insp);
    let root_uuid = root.fs.info().uuid.clone().map(|u| u.to_ascii_lowercase());
    let referenced: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.source {
            Source::Uuid(u) => Some(u.clone()),
            _ => None,
        })
        .collect();
    let mut seen_targets: Vec<(&str, usize)> = Vec::new();
    for e in &entries {
        let at = |f: Finding| f.at("/etc/fstab").line(e.line);
        if !e.is_swap() && e.target != "none" {
            if let Some((_, first)) = seen_targets.iter().find(|(t, _)| *t == e.target) {
                out.push(at(BOOT_005
                    .finding(
                        format!(
                            "/etc/fstab:{}: {} is mounted twice (first at line {first})",
                            e.line, e.target
                        ),
                        "Two entries mount the same directory: the second hides the first."
                            .to_string(),
                    )
                    .confidence(Confidence::Likely)
                    .fix(format!(
                        "remove one of lines {first} and {} of {fstab_host}",
                        e.line
                    ))));
            }
            seen_targets.push((&e.target, e.line));
        }
        if e.is_virtual() {
            continue;
        }
        if e.is_bind() {
            if e.required_at_boot() && fs.metadata(&e.spec).is_err() {
                out.push(at(BOOT_005.finding(format!("/etc/fstab:{}: bind source {} does not exist", e.line, e.spec), format!("The bind mount of {} onto {} fails at boot; without nofail boot stops in emergency mode.", e.spec, e.target)).severity(Severity::Critical).fix(format!("mkdir -p {}   # or add nofail to line {} of {fstab_host}", s.host_path(&e.spec), e.line))));
            }
            continue;
        }
        if !KNOWN_TYPES.contains(&e.fstype.as_str()) {
            out.push(at(BOOT_005
                .finding(
                    format!(
                        "/etc/fstab:{}: unknown filesystem type \"{}\"",
                        e.line, e.fstype
                    ),
                    format!(
                        "{} is not a filesystem type Linux provides; mounting {} fails.",
                        e.fstype, e.target
                    ),
                )
                .confidence(Confidence::Possible)
                .fix(format!(
                    "correct the type on line {} of {fstab_host}",
                    e.line
                ))));
        }
        // The / entry describes the filesystem we are reading.
        if e.target == "/" {
            if let (Source::Uuid(u), Some(ru)) = (&e.source, &root_uuid) {
                if u != ru {
                    out.push(at(BOOT_005.finding(format!("/etc/fstab:{}: / is UUID={u}, but the root filesystem's UUID is {ru}", e.line), "systemd-remount-fs cannot find the / entry's device: the root stays read-only and services that write fail.".to_string()).confidence(Confidence::Likely).fix(format!("sed -i '{}s/{u}/{ru}/' {fstab_host}", e.line))));
                }
            }
            continue;
        }
        let Some(k) = &known else { continue };
        let found = match &e.source {
            Source::Uuid(u) => Some(k.uuids.iter().any(|(x, _)| x == u)),
            Source::Label(l) => Some(k.labels.iter().any(|(x, _)| x == l)),
            Source::PartUuid(u) => Some(k.partuuids.iter().any(|x| x == u)),
            Source::PartLabel(l) => Some(k.partlabels.contains(l)),
            Source::Device(d) => {
                if is_kernel_name(d) {
                    out.push(at(BOOT_003.finding(format!("/etc/fstab:{}: {} is named by its kernel device name {d}", e.line, e.target), format!("Kernel names change with the instance type and probe order ({d} may be /dev/nvme1n1p1 or /dev/sdb1 elsewhere): this entry breaks when the name moves.")).confidence(Confidence::Likely).fix(format!("blkid {d}   # on the running host; then use UUID=… on line {} of {fstab_host}{}", e.line, if e.required_at_boot() { " and consider nofail" } else { "" }))));
                }
                None
            }
            Source::Other(_) => None,
        };
        if found != Some(false) || !e.required_at_boot() {
            continue;
        }
        if e.is_swap() {
            out.push(at(BOOT_002.finding(format!("/etc/fstab:{}: swap device {} is not on this volume", e.line, e.spec), "If it is missing at boot, systemd waits 90 s for it, then continues without swap.".to_string()).confidence(Confidence::Possible).fix(format!("add nofail to line {} of {fstab_host}", e.line))));
            continue;
        }
        // Another filesystem of the same type on this volume that no line mounts: the entry
        // most likely meant it (a re-created partition, a cloned disk with new UUIDs).
        let alternative = match &e.source {
            Source::Uuid(_) => k
                .uuids
                .iter()
                .find(|(u, t)| {
                    same_type(&e.fstype, t)
                        && !referenced.contains(u)
                        && Some(u) != root_uuid.as_ref()
                })
                .map(|(u, _)| u.clone()),
            _ => None,
        };
        let system = SYSTEM_MOUNTS.contains(&e.target.as_str());
        let detail = format!(
            "{} is not among the filesystems on this volume; the entry has no nofail, so systemd waits 90 s for it at boot, fails local-fs.target and starts emergency mode (no network, no sshd).",
            e.spec
        );
        match (alternative, system) {
            (Some(alt), _) => out.push(at(BOOT_001.finding(format!("/etc/fstab:{}: {} needs {}, which is not on the volume; a {} filesystem with UUID {alt} is", e.line, e.target, e.spec, e.fstype), format!("{detail} The volume has an unreferenced {} filesystem UUID={alt}.", e.fstype)).confidence(Confidence::Likely).fix(format!("sed -i '{}s/{}/UUID={alt}/' {fstab_host}   # or add nofail to the options", e.line, e.spec)))),
            (None, true) => out.push(at(BOOT_001.finding(format!("/etc/fstab:{}: {} needs {}, which is not on this volume: boot stops in emergency mode", e.line, e.target, e.spec), detail).confidence(Confidence::Likely).fix(format!("correct the source on line {} of {fstab_host} (blkid lists what exists), or add nofail", e.line)))),
            (None, false) => out.push(at(BOOT_002.finding(format!("/etc/fstab:{}: {} needs {}, which is not on this volume", e.line, e.target, e.spec), format!("{detail} It may be a separate disk of the server: then it must be attached at boot.")).confidence(Confidence::Possible).fix(format!("sed -i '{}s/\\({}\\)\\(\\s\\+\\S\\+\\s\\+\\S\\+\\s\\+\\)\\(\\S\\+\\)/\\1\\2\\3,nofail/' {fstab_host}   # adds nofail", e.line, regex_escape(&e.spec))))),
        }
    }
    crypttab(insp, s, out);
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if "/.[]*^$\\".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn crypttab(insp: &Inspection, s: &Settings, out: &mut Vec<Finding>) {
    let Some(root) = &insp.root else { return };
    let Ok(text) = root.fs.read_to_string_lossy("/etc/crypttab") else {
        return;
    };
    let (entries, bad) = fstab::parse_crypttab(&text);
    let host = s.host_path("/etc/crypttab");
    for b in &bad {
        out.push(
            BOOT_004
                .finding(
                    format!("/etc/crypttab:{}: malformed line: {}", b.line, b.reason),
                    format!("`{}`", b.text.trim()),
                )
                .at("/etc/crypttab")
                .line(b.line)
                .fix(format!("edit line {} of {host}", b.line)),
        );
    }
    for e in &entries {
        if e.asks_passphrase()
            && !e.has_option("nofail")
            && !e.has_option("noauto")
            && !e.has_option("swap")
            && !e.has_option("tmp")
        {
            out.push(
                BOOT_006
                    .finding(format!("/etc/crypttab:{}: {} asks for a passphrase on the console at boot", e.line, e.name), format!("`{}` has no key file and no nofail: systemd-cryptsetup waits for a passphrase that nobody can type on a cloud console, and boot does not reach sshd.", e.name))
                    .at("/etc/crypttab")
                    .line(e.line)
                    .confidence(Confidence::Likely)
                    .fix(format!("add nofail (and a keyfile) to line {} of {host}", e.line)),
            );
        }
        if let Source::Device(d) = &e.source {
            if is_kernel_name(d) {
                out.push(
                    BOOT_003
                        .finding(
                            format!(
                                "/etc/crypttab:{}: {} names its device by kernel name {d}",
                                e.line, e.name
                            ),
                            "Kernel names change with the instance type and probe order."
                                .to_string(),
                        )
                        .at("/etc/crypttab")
                        .line(e.line)
                        .confidence(Confidence::Likely)
                        .fix(format!("use UUID=… on line {} of {host}", e.line)),
                );
            }
        }
    }
}
