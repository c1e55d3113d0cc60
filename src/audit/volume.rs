//! Rules about the volume itself: its partition table, which filesystem is the root, and how
//! that filesystem could be read.

use super::{Rule, Settings};
use crate::fs::ext4::LoadNote;
use crate::inspect::{Content, Inspection, describe_entry};
use crate::report::{Category, Finding, Severity};
use crate::volume::{DeviceKind, FsKind, Layout};

pub static VOL_001: Rule = Rule {
    id: "VOL-001",
    severity: Severity::Warning,
    category: Category::PartitionTable,
    summary: "partition table damaged, but readable from its other copy",
    doc: "Checks the GPT primary and backup headers and partition arrays (signature, CRC32 of \
header and array, header fields) and the protective MBR.\n\nWhy it matters: a GPT keeps two \
copies. When one is damaged the firmware and the kernel fall back to the other, so the server \
still boots, but the next damage to the remaining copy loses every partition.\n\nFix: restore the \
damaged copy from the good one: `gdisk DEVICE`, then `r` (recovery), `b` (use backup header) or \
`c` (load backup partition table), `v` to verify, `w` to write; after growing a disk, `sgdisk -e \
DEVICE` moves the backup to the end.",
};

pub static VOL_002: Rule = Rule {
    id: "VOL-002",
    severity: Severity::Critical,
    category: Category::PartitionTable,
    summary: "partition table unusable, or a partition runs past the end of the device",
    doc: "Checks that the partition table can be read and that every partition lies inside the \
device and does not overlap another.\n\nWhy it matters: a partition past the end of the device \
(a truncated image, a shrunk volume) holds a filesystem whose tail is missing: the kernel refuses \
to mount it or fails with I/O errors, and boot stops before the network and sshd.\n\nFix: attach \
the full-size volume (or copy the image again in full); if the volume was shrunk, grow it back \
to at least the end of the last partition; repair a broken table with `gdisk` (recovery menu) or \
`testdisk`.",
};

pub static ROOT_001: Rule = Rule {
    id: "ROOT-001",
    severity: Severity::Critical,
    category: Category::Filesystem,
    summary: "no root filesystem found",
    doc: "Looks at every partition (or the whole device) for a readable filesystem holding /etc \
with /etc/os-release or /etc/passwd.\n\nWhy it matters: without a root filesystem there is no \
operating system to boot, and nothing this tool can inspect: the volume may be the wrong one, \
blank, encrypted, or its filesystem damaged beyond what a reader can open.\n\nFix: check that the \
right volume is attached (`lsblk -f`); if a filesystem is listed as unreadable, take a snapshot \
and run `e2fsck -f` on that partition; then inspect again.",
};

pub static ROOT_002: Rule = Rule {
    id: "ROOT-002",
    severity: Severity::Critical,
    category: Category::Filesystem,
    summary: "root may be on a filesystem this build cannot read natively (Btrfs, LVM2, LUKS)",
    doc: "Names what is on the volume by its magic numbers when no readable ext2/3/4 or XFS root \
was found: Btrfs (Fedora, SUSE), an LVM2 physical volume, or a LUKS encrypted volume.\n\nWhy it \
matters: this build reads ext2/3/4 and XFS natively; other filesystems must be mounted read-only \
first, and an encrypted volume needs its key.\n\nFix: mount it read-only and \
inspect the directory: `mount -o ro,norecovery PARTITION /mnt/rescue && rescue-inspect check \
/mnt/rescue` (XFS also needs `nouuid` when the recovery host has the same UUID; LVM needs `vgchange \
-ay` first; LUKS needs `cryptsetup open --readonly` and the passphrase).",
};

pub static ROOT_003: Rule = Rule {
    id: "ROOT-003",
    severity: Severity::Info,
    category: Category::Filesystem,
    summary: "several filesystems look like a root: says which one was inspected and why",
    doc: "When more than one filesystem holds /etc with os-release or passwd (a dual install, an \
old root kept beside a new one), the one that looks most like a root is inspected: \
os-release, /etc/passwd, /etc/fstab, /usr/bin, the GPT root partition type, then size.\n\nWhy it \
matters: the findings are about the chosen filesystem only.\n\nFix: nothing to repair; pass \
`--partition N` to inspect another.",
};

pub static FS_001: Rule = Rule {
    id: "FS-001",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "an ext2/3/4 filesystem could not be read",
    doc: "Every partition whose magic says ext2/3/4 is opened: superblock (with its checksum), \
group descriptors, journal.\n\nWhy it matters: a filesystem the reader cannot open is damaged or \
uses features the reader lacks; if it is the root, the kernel may refuse to mount it and boot \
stops in emergency mode, before sshd.\n\nFix: take a snapshot of the volume, then check it with \
`e2fsck -fn PARTITION` (read-only) and repair with `e2fsck -f PARTITION`.",
};

pub static FS_010: Rule = Rule {
    id: "FS-010",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "unclean shutdown: journal holds transactions that were not replayed",
    doc: "Checks the superblock's needs_recovery flag and replays the journal in memory (every \
jbd2 format: ext3 and ext4, 32/64-bit, no checksums or checksum v1/v2/v3, revoke records, a log \
that wraps). This finding says what could not be replayed and why: a journal that cannot be \
read (an external journal device, a damaged journal superblock or inode), a committed \
transaction that fails its checksum (replay stops before it; the finding says what the kernel \
and e2fsck do with it, which differs by kind), ext4 fast commits (not replayed), or a commit \
block written only in part, which the kernel replays and e2fsck would not.\n\nWhy it matters: the host stopped without unmounting. What this \
report shows predates the changes in those transactions (seconds to minutes of writes before the \
crash). A corrupt transaction also makes the kernel refuse to mount the filesystem until e2fsck \
has run: boot stops in emergency mode, before sshd.\n\nFix: let e2fsck replay the journal: \
`e2fsck -f PARTITION` after a snapshot (it replays what can be replayed, then checks); note that \
even `mount -o ro` replays the journal (use `-o ro,noload` to look without writing).",
};

pub static FS_011: Rule = Rule {
    id: "FS-011",
    severity: Severity::Info,
    category: Category::Filesystem,
    summary: "unclean shutdown: journal replayed in memory",
    doc: "Checks the superblock's needs_recovery flag; the journal's committed transactions were \
replayed in memory (nothing was written to the volume), as the kernel replays them at the next \
mount: the finding gives the number of transactions and blocks, and how the log ended (a last \
transaction cut off before its commit block is discarded, as the kernel does).\n\nWhy it \
matters: the host stopped without unmounting (crash, power loss, forced stop); this is context \
for what happened. Everything else in the report reads the replayed state.\n\nFix: nothing \
needed for inspection; the kernel replays the journal at the next mount.",
};

pub static VOL_003: Rule = Rule {
    id: "VOL-003",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "the root filesystem's UUID is also used by a disk of this recovery host",
    doc: "Compares the root filesystem's UUID with the filesystems of the host running the tool (/dev/disk/by-uuid), leaving out the target and its partitions.

Why it matters: a recovery server launched from the same image as the broken host has a root with the same UUID. Mounting `UUID=…`, or rebooting the recovery server with the volume attached, can pick the wrong filesystem: edits land on the wrong disk, or the recovery server boots the broken root. XFS refuses to mount a second filesystem with the same UUID.

Fix: mount the volume by its device path, never by UUID (XFS: add `-o nouuid`), and detach it before rebooting the recovery server.",
};

pub static VOL_004: Rule = Rule {
    id: "VOL-004",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "the root's LVM volume group has the same name as one of this recovery host",
    doc: "When the root is an LVM logical volume, looks for a volume group of the same name on \
the host running the tool (/dev/VG, or its LVs in /dev/mapper).\n\nWhy it matters: a recovery \
server launched from the same image as the broken host has the same VG (rhel, cl, ubuntu-vg). \
LVM refuses to activate a second VG of that name, /dev/VG/LV names the host's own volume, and \
rebooting with the volume attached can boot the wrong root.\n\nFix: inspect without \
activating (this tool needs no activation); to mount, activate the attached PVs under a new \
name without touching the host's VG: `vgimportclone --basevgname rescue_vg PV...` (this \
rewrites the attached volume's VG name and UUIDs: rename it back before returning the volume), \
and detach the volume before rebooting the recovery server.",
};

/// FS-011's detail: what the replay did.
#[allow(clippy::too_many_arguments)]
fn journal_detail(
    transactions: u32,
    first_tid: u32,
    end_tid: u32,
    blocks: usize,
    writes: u64,
    revoked: u64,
    wrapped: bool,
    end: &str,
    features: &[&str],
    errno: i32,
) -> String {
    let mut d = String::from(
        "The superblock has needs_recovery set: the host crashed, lost power or was stopped without unmounting. ",
    );
    let features = if features.is_empty() {
        "no features".to_string()
    } else {
        features.join(", ")
    };
    if transactions == 0 {
        d.push_str(&format!(
            "The journal ({features}) holds no committed transaction: nothing to replay"
        ));
    } else {
        d.push_str(&format!(
            "The journal ({features}) held {transactions} committed transaction(s) (IDs {first_tid}..{}), {writes} block copies replacing {blocks} filesystem block(s)",
            end_tid.wrapping_sub(1)
        ));
        if revoked > 0 {
            d.push_str(&format!(
                ", {revoked} more left as they are by revoke records"
            ));
        }
        if wrapped {
            d.push_str("; the log wraps around the end of the journal");
        }
        d.push_str(". They were applied in memory for this inspection, as the kernel applies them at the next mount; the volume was not written");
    }
    d.push_str(&format!(". How the log ends: {end}."));
    if errno != 0 {
        d.push_str(&format!(" The journal records error {errno} (the kernel aborted it): the next mount marks the filesystem as having errors, and the boot-time fsck checks it fully."));
    }
    d
}

pub static RULES: &[&Rule] = &[
    &VOL_001, &VOL_002, &VOL_003, &VOL_004, &ROOT_001, &ROOT_002, &ROOT_003, &FS_001, &FS_010,
    &FS_011,
];

/// Findings of these rules mean the target could not be inspected (exit code 2).
pub const UNINSPECTABLE: &[&str] = &["ROOT-001", "ROOT-002"];

/// The kernel's name for partition `index` of `layout`'s device, for commands: `/dev/xvdf1`,
/// `/dev/nvme1n1p2`; for an image file, a read-only loop device set up by the command itself.
/// A device name for fix commands, two ways: attached read-only, for commands that only look
/// (`e2fsck -n`, `mount -o ro`), and writable, for repairs. The same name for a block device;
/// for an image file they differ in `losetup -r` / `qemu-nbd --read-only`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevNames {
    pub ro: String,
    pub rw: String,
}

impl DevNames {
    pub fn same(name: impl Into<String>) -> DevNames {
        let name = name.into();
        DevNames {
            ro: name.clone(),
            rw: name,
        }
    }
}

fn partition_device(layout: &Layout, index: Option<u32>) -> DevNames {
    let dev = layout.device.path().display().to_string();
    // A disk image in a container format (qcow2, VMDK, VHD, VHDX): a loop device would show
    // the container's bytes, so the commands attach the virtual disk with qemu-nbd, with the
    // format named (never probed).
    let image = layout.device.image();
    if image.format != "raw" {
        let format = match image.format {
            "vhd" => "vpc",
            f => f,
        };
        let nbd = |ro: &str| {
            let d = format!(
                "$(modprobe nbd max_part=16 && qemu-nbd{ro} --format={format} --connect=/dev/nbd0 {dev} >/dev/null && udevadm settle && echo /dev/nbd0)"
            );
            match index {
                None => d,
                Some(i) => format!("{d}p{i}"),
            }
        };
        return DevNames {
            ro: nbd(" --read-only"),
            rw: nbd(""),
        };
    }
    match (layout.device.kind(), index) {
        (DeviceKind::BlockDevice, None) => DevNames::same(dev),
        (DeviceKind::BlockDevice, Some(i)) => {
            DevNames::same(if dev.ends_with(|c: char| c.is_ascii_digit()) {
                format!("{dev}p{i}")
            } else {
                format!("{dev}{i}")
            })
        }
        (DeviceKind::ImageFile, None) => DevNames {
            ro: format!("$(losetup -r --show -f {dev})"),
            rw: format!("$(losetup --show -f {dev})"),
        },
        (DeviceKind::ImageFile, Some(i)) => DevNames {
            ro: format!("$(losetup -r -P --show -f {dev})p{i}"),
            rw: format!("$(losetup -P --show -f {dev})p{i}"),
        },
    }
}

/// The device name of the chosen root, for commands.
pub fn root_device(insp: &Inspection) -> DevNames {
    if let (Some(layout), Some(i)) = (&insp.layout, insp.root.as_ref().and_then(|r| r.entry)) {
        if let Some(lv) = &layout.entries[i].lv {
            // Activated on the recovery host (vgchange -ay VG).
            return DevNames::same(lv.dev_path());
        }
    }
    match (&insp.layout, &insp.root) {
        (Some(layout), Some(root)) => partition_device(
            layout,
            root.entry
                .and_then(|i| layout.entries[i].partition.as_ref().map(|p| p.index)),
        ),
        _ => DevNames::same("PARTITION"),
    }
}

pub fn audit(insp: &Inspection, settings: &Settings, out: &mut Vec<Finding>) {
    let Some(layout) = &insp.layout else {
        return;
    };
    for p in &layout.table.problems {
        let rule = if p.serious { &VOL_002 } else { &VOL_001 };
        let mut f = rule.finding(
            format!(
                "{} partition table: {}",
                layout.table.scheme.as_str().to_uppercase(),
                first_clause(&p.message)
            ),
            p.message.clone(),
        );
        if let Some(fix) = &p.fix {
            f = f.fix(fix.clone());
        }
        out.push(f);
    }

    let mp = &settings.mount_point;
    if !insp.host_uuid_clash.is_empty() {
        let uuid = insp
            .root
            .as_ref()
            .and_then(|r| r.fs.info().uuid.clone())
            .unwrap_or_default();
        let devs: Vec<String> = insp
            .host_uuid_clash
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        let dev = partition_device(
            layout,
            insp.root
                .as_ref()
                .and_then(|r| r.entry)
                .and_then(|i| layout.entries[i].partition.as_ref().map(|p| p.index)),
        );
        let dev_ro = &dev.ro;
        out.push(
            VOL_003
                .finding(
                    format!("filesystem UUID {uuid} is also used by {} on this recovery host", devs.join(", ")),
                    format!("The target's root filesystem and {} share UUID {uuid}: mounting by UUID or rebooting with the volume attached may use the wrong filesystem.", devs.join(", ")),
                )
                .fix(format!("mount -o ro {dev_ro} {mp}   # by device path, never UUID=; detach the volume before rebooting this host")),
        );
    }
    if let Some(dir) = &insp.host_vg_clash {
        let lv = insp
            .root
            .as_ref()
            .and_then(|r| r.entry)
            .and_then(|i| layout.entries[i].lv.clone());
        if let Some(lv) = lv {
            let opts = if insp
                .root
                .as_ref()
                .is_some_and(|r| r.fs.info().fs_type == "xfs")
            {
                "ro,nouuid"
            } else {
                "ro"
            };
            out.push(
                VOL_004
                    .finding(
                        format!("volume group {} is also the name of a volume group on this recovery host", lv.vg),
                        format!("The root is logical volume {}/{}; this host has {} already: activating the attached volume group fails or {} names the host's own volume.", lv.vg, lv.name, dir.display(), lv.dev_path()),
                    )
                    .fix(format!("vgimportclone --basevgname rescue_{} PV_DEVICES   # renames the attached VG (rename it back before returning the volume); then vgchange -ay rescue_{} && mount -o {opts} /dev/rescue_{}/{} {mp}", lv.vg, lv.vg, lv.vg, lv.name)),
            );
        }
    }
    let mut unreadable = Vec::new();
    let mut unsupported = Vec::new();
    for c in &insp.candidates {
        let e = &layout.entries[c.entry];
        let index = e.partition.as_ref().map(|p| p.index);
        match &c.content {
            Content::Unreadable { reason } => {
                let what = describe_entry(layout, c.entry);
                let dev = partition_device(layout, index);
                let dev_ro = &dev.ro;
                let dev_rw = &dev.rw;
                unreadable.push(format!("{what}: {reason}"));
                if e.probe.kind == FsKind::Xfs {
                    out.push(super::xfs::unreadable(&what, reason, &dev));
                    continue;
                }
                out.push(
                    FS_001
                        .finding(format!("{what} cannot be read"), reason.clone())
                        .fix(format!("e2fsck -fn {dev_ro}   # read-only check; after a snapshot, repair with: e2fsck -f {dev_rw}")),
                );
            }
            Content::Unsupported => unsupported.push((c.entry, e.probe.kind, index)),
            _ => {}
        }
    }

    match &insp.root {
        Some(root) => {
            if root.contested || root.forced {
                out.push(
                    ROOT_003.finding("root filesystem chosen among several", root.why.clone()),
                );
            }
            let dev = partition_device(
                layout,
                root.entry
                    .and_then(|i| layout.entries[i].partition.as_ref().map(|p| p.index)),
            );
            let dev_ro = &dev.ro;
            let dev_rw = &dev.rw;
            for note in &root.load_notes {
                match note {
                    LoadNote::JournalReplayed {
                        transactions,
                        first_tid,
                        end_tid,
                        blocks,
                        writes,
                        revoked,
                        wrapped,
                        end,
                        features,
                        errno,
                        ..
                    } => out.push(FS_011.finding(
                        if *transactions == 0 {
                            "unclean shutdown: the journal held no committed transactions to replay".to_string()
                        } else {
                            format!("unclean shutdown: the journal was replayed in memory ({transactions} transaction(s), {blocks} block(s))")
                        },
                        journal_detail(*transactions, *first_tid, *end_tid, *blocks, *writes, *revoked, *wrapped, end, features, *errno),
                    )),
                    LoadNote::JournalNotReplayed { reason } => out.push(
                        FS_010
                            .finding(
                                "unclean shutdown: the journal was not replayed, so recent changes are not visible",
                                format!("The superblock has needs_recovery set, and the journal could not be replayed: {reason}. This report reads the filesystem as of its last checkpoint: changes made shortly before the crash are missing from it."),
                            )
                            .fix(format!("e2fsck -f {dev_rw}   # replays the journal (writes to the volume); or look without writing: mount -o ro,noload {dev_ro} {mp}")),
                    ),
                    LoadNote::JournalReplayDiffers { reason } => out.push(
                        FS_010
                            .finding(
                                "unclean shutdown: e2fsck would replay less of the journal than the kernel",
                                format!("The superblock has needs_recovery set and the journal was replayed in memory as the kernel replays it, but e2fsck disagrees: {reason}."),
                            )
                            .fix(format!("mount -o ro {dev_rw} {mp} && umount {mp}   # the kernel replays the whole journal, even for a read-only mount (this writes the replayed blocks); run e2fsck -f {dev_rw} only after that")),
                    ),
                    LoadNote::JournalPartlyReplayed { reason } => out.push(
                        FS_010
                            .finding(
                                "unclean shutdown: part of the journal could not be replayed, so its last changes are not visible",
                                format!("The superblock has needs_recovery set and the journal was replayed in memory, but not all of it: {reason}."),
                            )
                            .fix(format!("e2fsck -f {dev_rw}   # after a snapshot: replays what can be replayed, then checks the filesystem")),
                    ),
                    other => out.extend(super::damage::load_note(other, &dev)),
                }
            }
        }
        None if !unsupported.is_empty() => {
            for (entry, kind, index) in unsupported {
                let what = describe_entry(layout, entry);
                let dev = partition_device(layout, index);
                let (title, mut detail, fix) = unsupported_advice(kind, &what, &dev, mp);
                if matches!(kind, FsKind::Luks1 | FsKind::Luks2 | FsKind::Btrfs) {
                    let head = layout.entries[entry]
                        .slice
                        .read_upto(0, 4 << 20)
                        .unwrap_or_default();
                    if let Some(l) = crate::volume::luks::parse(&head) {
                        detail.push_str(&format!("\nHeader: {}. Encrypted: nothing on it can be inspected without the passphrase or a key file.", l.describe()));
                    }
                    if let Some(b) = crate::volume::btrfs::parse(&head) {
                        detail.push_str(&format!(
                            "\nSuperblock: UUID {}{}, generation {}, {} device(s){}.",
                            b.uuid,
                            b.label
                                .as_deref()
                                .map(|l| format!(", label \"{l}\""))
                                .unwrap_or_default(),
                            b.generation,
                            b.num_devices,
                            if b.num_devices > 1 {
                                " (every device must be attached to mount it)"
                            } else {
                                ""
                            }
                        ));
                    }
                }
                if kind == FsKind::Lvm2Pv {
                    // What the native LVM reader made of the volume groups.
                    let lvs: Vec<String> = layout
                        .entries
                        .iter()
                        .filter_map(|e| {
                            let lv = e.lv.as_ref()?;
                            Some(match &lv.unsupported {
                                Some(why) => format!("{}/{}: {why}", lv.vg, lv.name),
                                None => format!(
                                    "{}/{}: {}, no root on it",
                                    lv.vg,
                                    lv.name,
                                    e.probe.kind.as_str()
                                ),
                            })
                        })
                        .collect();
                    if !lvs.is_empty() {
                        detail.push_str(&format!("\nLogical volumes: {}.", lvs.join("; ")));
                    }
                }
                out.push(
                    ROOT_002
                        .finding(title, detail)
                        .fix(fix)
                        .confidence(crate::report::Confidence::Likely),
                );
            }
        }
        None => {
            let mut detail = String::from(
                "No readable filesystem holds /etc with /etc/os-release or /etc/passwd.",
            );
            if layout.entries.is_empty() {
                detail.push_str(" The partition table lists no partitions.");
            }
            let seen: Vec<String> = (0..layout.entries.len())
                .map(|i| describe_entry(layout, i))
                .collect();
            if !seen.is_empty() {
                detail.push_str(&format!("\nFound: {}.", seen.join("; ")));
            }
            for u in &unreadable {
                detail.push_str(&format!("\nUnreadable: {u}."));
            }
            out.push(
                ROOT_001
                    .finding("no root filesystem found on the volume", detail)
                    .fix("lsblk -f   # check that the right volume is attached; see FS-001 findings for damaged filesystems"),
            );
        }
    }
}

/// The first clause of a problem message, for a title.
fn first_clause(msg: &str) -> &str {
    msg.split([';', '(']).next().unwrap_or(msg).trim()
}

fn unsupported_advice(
    kind: FsKind,
    what: &str,
    dev: &DevNames,
    mp: &str,
) -> (String, String, String) {
    let dev_ro = &dev.ro;
    match kind {
        FsKind::Xfs => (
            format!("{what} is XFS: not read natively by this build"),
            "The volume holds an XFS filesystem (the default root of Amazon Linux and the RHEL family). This build reads ext2/3/4 natively; mount the XFS filesystem read-only and inspect the mounted directory. `norecovery` avoids replaying the log (a write); `nouuid` lets it mount when the recovery host has the same filesystem UUID.".into(),
            format!("mkdir -p {mp} && mount -o ro,norecovery,nouuid {dev_ro} {mp} && rescue-inspect check {mp}"),
        ),
        FsKind::Btrfs => (
            format!("{what} is Btrfs: not read natively by this build"),
            "The volume holds a Btrfs filesystem (Fedora and SUSE default). This build reads ext2/3/4 natively; mount it read-only and inspect the directory. The root may be a subvolume (`@`, `root`): list them with `btrfs subvolume list`.".into(),
            format!("mkdir -p {mp} && mount -o ro {dev_ro} {mp} && rescue-inspect check {mp}"),
        ),
        FsKind::Lvm2Pv => (
            format!("{what} is an LVM2 physical volume, and no readable root is on its logical volumes"),
            "The root is likely a logical volume (rhel-root, cl-root, ubuntu-vg/ubuntu-lv). This build reads linear and striped LVs natively; thin, RAID, mirror, snapshot and cache LVs (or a PV missing from this device) need the kernel: activate the volume group and mount the root LV read-only. When the recovery host has a volume group of the same name, activate only this device (LVM 2.03.12+: `--devices`).".into(),
            format!("pvs {dev_ro}; vgchange -ay --devices {dev_ro} VGNAME && mount -o ro /dev/VGNAME/ROOTLV {mp} && rescue-inspect check {mp}"),
        ),
        FsKind::Luks1 | FsKind::Luks2 => (
            format!("{what} is LUKS-encrypted: cannot be inspected without its key"),
            "The volume is encrypted with LUKS. Nothing on it can be read without the passphrase or key file; open it read-only, then inspect the decrypted filesystem.".into(),
            format!("cryptsetup open --readonly {dev_ro} rescue_root && mount -o ro /dev/mapper/rescue_root {mp} && rescue-inspect check {mp}"),
        ),
        _ => (
            format!("{what} cannot be read natively"),
            "Mount it read-only and inspect the mounted directory.".into(),
            format!("mount -o ro {dev_ro} {mp} && rescue-inspect check {mp}"),
        ),
    }
}
