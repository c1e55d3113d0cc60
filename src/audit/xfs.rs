//! XFS health: what the superblock, the allocation group headers and the log say about the
//! filesystem the guest boots from (read by `fs::xfs` when it opened the root), capacity as
//! `statfs` on XFS computes it, and features the guest's own kernel cannot mount.

use super::disk::{FS_030, FS_031, FULL_BYTES, guest_kernels, human, largest_dirs};
use super::{Rule, Settings};
use crate::fs::RootFs;
use crate::fs::xfs::log::LogState;
use crate::fs::xfs::superblock::{self as xsb, Superblock};
use crate::fs::xfs::walk::{self, WalkReport};
use crate::fs::xfs::{XfsHealth, XfsInfo};
use crate::inspect::Inspection;
use crate::report::{Category, Confidence, Finding, Severity};

pub static XFS_001: Rule = Rule {
    id: "XFS-001",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "an XFS filesystem could not be read",
    doc: "Every partition whose magic says XFS is opened natively: the primary superblock \
(geometry validated as the kernel validates it, its CRC on v5 filesystems), then the root \
directory inode.\n\nWhy it matters: a filesystem this reader cannot open is damaged or uses a \
format it does not know; if it is the root, the kernel may refuse to mount it too, and boot stops \
in emergency mode before sshd.\n\nFix: take a snapshot of the volume, then check it with \
`xfs_repair -n PARTITION` (read-only); repair with `xfs_repair PARTITION`.",
};

pub static XFS_010: Rule = Rule {
    id: "XFS-010",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "unclean shutdown: the XFS log holds changes that were not replayed",
    doc: "Finds the head of the internal log by its cycle numbers and reads the last record \
there: anything but an unmount record means the filesystem was not unmounted cleanly. This tool \
does not replay the log; it reads the filesystem as of its last checkpoint, like `mount -o \
ro,norecovery`.\n\nWhy it matters: the host crashed, lost power or was stopped without \
unmounting. Changes made shortly before (seconds to minutes of writes: a config edit, a package \
update) may not be visible in this report, and `xfs_repair` refuses to run until the log is \
replayed.\n\nFix: let the kernel replay the log: mount the filesystem once and unmount it \
(`mount PARTITION /mnt/rescue && umount /mnt/rescue`), then inspect again. Never run \
`xfs_repair -L` (it throws the log away) unless mounting fails.",
};

pub static XFS_011: Rule = Rule {
    id: "XFS-011",
    severity: Severity::Info,
    category: Category::Filesystem,
    summary: "the XFS log is on an external device: its state was not checked",
    doc: "The superblock says the log lives on another device (`logdev=`).\n\nWhy it matters: \
the filesystem cannot be mounted without that device, and whether it was unmounted cleanly \
cannot be read from this volume.\n\nFix: attach the log device too and mount with `-o \
logdev=DEVICE`.",
};

pub static XFS_020: Rule = Rule {
    id: "XFS-020",
    severity: Severity::Critical,
    category: Category::Boot,
    summary: "the XFS superblock is marked as needing repair: the kernel refuses to mount it",
    doc: "Checks the `needsrepair` incompatible feature flag, which `xfs_repair` sets while it \
works and clears when it finishes (and `xfs_admin` sets while upgrading features).\n\nWhy it \
matters: an interrupted repair leaves it set; the kernel then refuses to mount the filesystem \
(\"Filesystem needs repair\"), so boot stops in emergency mode.\n\nFix: run `xfs_repair \
PARTITION` to completion from the recovery host.",
};

pub static XFS_021: Rule = Rule {
    id: "XFS-021",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "XFS allocation group headers are damaged",
    doc: "Reads the superblock copy, AGF (free space), AGI (inodes) and AGFL (free list) of \
every allocation group and checks them as the kernel's verifiers do: magic, CRC (v5), version, \
AG number, length, btree levels and roots, free list indexes.\n\nWhy it matters: the kernel \
reads these headers when it allocates or frees space or inodes in that group; a bad one makes \
it report corruption and shut the filesystem down, which on a root means services failing and \
a read-only or hung system.\n\nFix: take a snapshot, then `xfs_repair -n PARTITION` to see the \
damage and `xfs_repair PARTITION` to rebuild the headers.",
};

pub static XFS_022: Rule = Rule {
    id: "XFS-022",
    severity: Severity::Critical,
    category: Category::Boot,
    summary: "the XFS filesystem uses a feature the guest's kernel cannot mount",
    doc: "Compares the filesystem's features (v5, bigtime, inobtcount, nrext64, exchange, \
parent pointers, metadir, reflink, rmapbt, sparse inodes, finobt) with the release of the \
newest kernel in the guest's /lib/modules, against the mainline release that first supported \
each; a v4 (non-CRC) filesystem with a RHEL 9 or later kernel (which dropped v4).\n\nWhy it \
matters: a root made or upgraded by a newer mkfs.xfs/xfs_admin (on the recovery host, or a \
newer image) cannot be mounted by the guest's own kernel: an unknown incompatible feature \
refuses the mount, an unknown read-only-compatible feature allows it read-only only, so boot \
stops in emergency mode or services fail to write. Vendor kernels (RHEL `el`, Amazon Linux \
`amzn`) backport features, so for them this is a possibility, not a certainty.\n\nFix: boot a \
newer kernel in the guest, or recreate the filesystem without the feature (features cannot be \
removed in place); copy the data with `xfsdump`/`rsync`.",
};

pub static XFS_030: Rule = Rule {
    id: "XFS-030",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "XFS metadata walk: an inode, directory, link count or extent is wrong",
    doc: "The metadata walk (`fsck`, `check --deep` on XFS) reads the inode btrees of every AG \
(sparse chunks honoured), verifies every allocated inode (magic, CRC, version, fork formats), \
reads every directory and checks each entry against the inode allocation and its file type, \
walks the tree from the root (disconnected inodes, directories reached twice), recounts link \
counts, and checks that every extent lies inside its AG and, without reflink, that no block is \
claimed twice, as `xfs_repair -n` does in its phases 2 to 7.\n\nWhy it matters: the kernel \
refuses a damaged inode or directory block (EFSCORRUPTED) and may shut the filesystem down; \
wrong link counts free inodes still in use; files under a damaged directory are unreachable.\n\n\
Fix: after a snapshot, `xfs_repair -n PARTITION` to see the same problems, then `xfs_repair \
PARTITION` (unmounted; mount once first if the log is dirty).",
};

pub static XFS_031: Rule = Rule {
    id: "XFS-031",
    severity: Severity::Info,
    category: Category::Filesystem,
    summary: "XFS metadata walk: the filesystem is consistent",
    doc: "The XFS metadata walk found every allocated inode valid, every entry pointing to an \
allocated inode of its type, every inode connected, every link count and extent right.\n\nWhy it \
matters: context: the filesystem metadata is not why SSH fails.\n\nFix: nothing needed.",
};

pub static RULES: &[&Rule] = &[
    &XFS_001, &XFS_010, &XFS_011, &XFS_020, &XFS_021, &XFS_022, &XFS_030, &XFS_031,
];

/// The XFS filesystem the metadata walk should look at: the root when it is XFS, or with no
/// root the first XFS on the volume; `None` when there is none (the ext4 scan applies).
pub fn scan_target(insp: &Inspection) -> Option<crate::volume::Slice> {
    let layout = insp.layout.as_ref()?;
    let entry = match &insp.root {
        Some(r) if r.xfs.is_some() => r.entry?,
        Some(_) => return None,
        None => {
            insp.candidates
                .iter()
                .find(|c| layout.entries[c.entry].probe.kind == crate::volume::FsKind::Xfs)?
                .entry
        }
    };
    Some(layout.entries[entry].slice.clone())
}

/// Runs the walk on the XFS target, if there is one.
pub fn scan(insp: &Inspection) -> Option<Result<WalkReport, String>> {
    let slice = scan_target(insp)?;
    Some(walk::check(&slice).map_err(|e| format!("cannot walk the XFS metadata: {e}")))
}

/// One finding per problem, or XFS-031 when the walk found none.
pub fn walk_findings(rep: &WalkReport, dev: &super::volume::DevNames) -> Vec<Finding> {
    let dev_ro = &dev.ro;
    let dev_rw = &dev.rw;
    if rep.problems.is_empty() {
        return vec![XFS_031.finding(
            "XFS metadata walk: no problems",
            format!(
                "{} allocated inodes ({} directories reached from the root): every inode, entry, link count and extent checks out.",
                rep.inodes, rep.directories
            ),
        )];
    }
    let mut out: Vec<Finding> = rep
        .problems
        .iter()
        .map(|p| {
            let subject = match (p.ino, &p.path) {
                (Some(i), Some(path)) => format!("inode {i} ({})", path.display()),
                (Some(i), None) => format!("inode {i}"),
                _ => "allocation group".into(),
            };
            let mut f = XFS_030
                .finding(
                    format!("{subject}: {}", p.detail),
                    format!("The XFS metadata walk found: {}.", p.detail),
                )
                .fix(format!("xfs_repair -n {dev_ro}   # the same check by xfsprogs; after a snapshot, repair with: xfs_repair {dev_rw}"));
            if let Some(path) = &p.path {
                f = f.at(path.display().to_string());
            }
            f
        })
        .collect();
    if rep.truncated {
        out.push(XFS_030.finding(
            "XFS metadata walk: more problems than listed",
            "The walk keeps a bounded number of problems; the filesystem is badly damaged.",
        ));
    }
    out
}

/// `rescue-inspect fsck` text output for XFS.
pub fn render_walk_text(rep: &WalkReport) -> String {
    let mut s = String::new();
    for p in &rep.problems {
        let who = match (p.ino, &p.path) {
            (Some(i), Some(path)) => format!("inode {i} ({})", path.display()),
            (Some(i), None) => format!("inode {i}"),
            _ => "AG".into(),
        };
        s.push_str(&format!("{who}: {}\n", p.detail));
    }
    s.push_str(&format!(
        "\n{} problem(s){}; {} allocated inodes, {} directories (XFS)\n",
        rep.problems.len(),
        if rep.truncated {
            " (more not kept)"
        } else {
            ""
        },
        rep.inodes,
        rep.directories
    ));
    s
}

/// The finding for an XFS candidate that could not be opened.
pub fn unreadable(what: &str, reason: &str, dev: &super::volume::DevNames) -> Finding {
    let dev_ro = &dev.ro;
    let dev_rw = &dev.rw;
    XFS_001
        .finding(format!("{what} cannot be read"), reason.to_string())
        .fix(format!("xfs_repair -n {dev_ro}   # read-only check; after a snapshot, repair with: xfs_repair {dev_rw}"
        ))
}

pub fn audit(insp: &Inspection, s: &Settings, out: &mut Vec<Finding>) {
    let Some(root) = &insp.root else { return };
    let Some(info) = &root.xfs else { return };
    let dev = super::volume::root_device(insp);
    let dev_rw = &dev.rw;
    let XfsInfo {
        superblock: sb,
        health,
    } = info.as_ref();
    log(health, &dev, &s.mount_point, out);
    if sb.needs_repair() {
        out.push(
            XFS_020
                .finding(
                    "the filesystem is marked as needing repair: the kernel will not mount it",
                    "The superblock has the needsrepair feature set: an xfs_repair run was interrupted (or xfs_admin did not finish upgrading a feature). Linux refuses to mount the filesystem until xfs_repair completes.",
                )
                .fix(format!("xfs_repair {dev_rw}   # from the recovery host, after a snapshot")),
        );
    }
    ag_headers(health, &dev, out);
    features(&root.fs, sb, out);
    super::disk::larger_than_partition(
        insp,
        sb.dblocks,
        u64::from(sb.blocksize),
        "last sector read failed\" / \"device too small",
        out,
    );
    capacity(&root.fs, sb, health, s, out);
}

fn log(health: &XfsHealth, dev: &super::volume::DevNames, mp: &str, out: &mut Vec<Finding>) {
    let dev_ro = &dev.ro;
    let dev_rw = &dev.rw;
    match &health.log {
        LogState::Clean => {}
        LogState::Dirty { detail, .. } => out.push(
            XFS_010
                .finding(
                    "unclean shutdown: the XFS log was not replayed, so recent changes are not visible",
                    format!("The filesystem was not unmounted cleanly: {detail}. The kernel replays these changes at the next mount; this report reads the filesystem as of its last checkpoint (like mount -o ro,norecovery), so changes made shortly before the stop may be missing from it. xfs_repair refuses to run until the log is replayed."),
                )
                .fix(format!("mount {dev_rw} {mp} && umount {mp}   # the kernel replays the log (writes to the volume); then inspect again. To look without writing: mount -o ro,norecovery {dev_ro} {mp}")),
        ),
        LogState::External => out.push(XFS_011.finding(
            "the XFS log is on another device: the filesystem needs it to mount",
            "The superblock's log start is 0: the log is on an external device (mounted with -o logdev=). Whether the filesystem was unmounted cleanly cannot be read from this volume.",
        )),
        LogState::Unreadable(why) => out.push(
            XFS_010
                .finding(
                    "the XFS log could not be read: whether it holds unreplayed changes is unknown",
                    format!("The internal log could not be examined: {why}. If it holds changes, this report predates them; if it is damaged, the kernel may refuse to mount the filesystem."),
                )
                .confidence(Confidence::Possible)
                .fix(format!("xfs_repair -n {dev_ro}   # read-only check of the log and metadata")),
        ),
    }
}

fn ag_headers(health: &XfsHealth, dev: &super::volume::DevNames, out: &mut Vec<Finding>) {
    let dev_ro = &dev.ro;
    let dev_rw = &dev.rw;
    if health.ag_problems.is_empty() {
        return;
    }
    let mut detail = format!(
        "{} allocation group header(s) fail the kernel's checks:",
        health.ag_problems.len()
    );
    for p in health.ag_problems.iter().take(20) {
        detail.push_str(&format!("\n  AG {} {}: {}", p.agno, p.header, p.detail));
    }
    if health.ag_problems.len() > 20 {
        detail.push_str(&format!("\n  … and {} more", health.ag_problems.len() - 20));
    }
    let only_copies = health
        .ag_problems
        .iter()
        .all(|p| p.header == "superblock copy");
    let mut f = XFS_021
        .finding(
            format!(
                "{} XFS allocation group header(s) are damaged ({})",
                health.ag_problems.len(),
                health
                    .ag_problems
                    .iter()
                    .map(|p| format!("AG {} {}", p.agno, p.header))
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            detail,
        )
        .fix(format!("xfs_repair -n {dev_ro}   # read-only look; after a snapshot, repair with: xfs_repair {dev_rw}"
        ));
    if only_copies {
        // The kernel never reads the copies at mount; xfs_repair uses them to recover.
        f = f.severity(Severity::Info);
    }
    out.push(f);
}

/// Mainline kernel releases that first mounted each feature read-write.
fn needed_kernels(sb: &Superblock) -> Vec<(&'static str, (u32, u32))> {
    let mut v = Vec::new();
    if sb.is_v5() {
        v.push(("v5 (crc)", (3, 10)));
    }
    for (bit, name, k) in [
        (xsb::INCOMPAT_SPINODES, "sparse inodes", (4, 2)),
        (xsb::INCOMPAT_BIGTIME, "bigtime", (5, 10)),
        (xsb::INCOMPAT_NREXT64, "nrext64", (5, 19)),
        (xsb::INCOMPAT_EXCHRANGE, "exchange-range", (6, 10)),
        (xsb::INCOMPAT_PARENT, "parent pointers", (6, 12)),
        (xsb::INCOMPAT_METADIR, "metadir", (6, 13)),
    ] {
        if sb.has_incompat(bit) {
            v.push((name, k));
        }
    }
    for (bit, name, k) in [
        (xsb::RO_COMPAT_FINOBT, "finobt", (3, 16)),
        (xsb::RO_COMPAT_RMAPBT, "rmapbt", (4, 8)),
        (xsb::RO_COMPAT_REFLINK, "reflink", (4, 9)),
        (xsb::RO_COMPAT_INOBTCNT, "inobtcount", (5, 10)),
    ] {
        if sb.has_ro_compat(bit) {
            v.push((name, k));
        }
    }
    v
}

fn features(fs: &RootFs, sb: &Superblock, out: &mut Vec<Finding>) {
    let kernels = guest_kernels(fs);
    let Some((name, kv)) = kernels.first() else {
        return;
    };
    let vendor = name.contains(".el") || name.contains("amzn");
    let path = format!("/lib/modules/{name}");
    if !sb.is_v5() {
        // RHEL 9 builds its kernels without CONFIG_XFS_SUPPORT_V4.
        if name.contains(".el") && *kv >= (5, 14) {
            out.push(
                XFS_022
                    .finding(
                        format!("a v4 (non-CRC) XFS filesystem cannot be mounted by the guest's kernel {name}"),
                        format!("The filesystem is XFS v4; RHEL 9 and later kernels are built without v4 support (\"Deprecated V4 format (crc=0) not supported by kernel\"). The newest kernel in /lib/modules is {name}."),
                    )
                    .at(path.clone())
                    .confidence(Confidence::Likely)
                    .fix("boot an older (RHEL 8) kernel, or copy the data to a new v5 filesystem (mkfs.xfs, then xfsdump/xfsrestore or rsync)"),
            );
        }
        return;
    }
    for (feat, k) in needed_kernels(sb) {
        if *kv >= k {
            continue;
        }
        let mut f = XFS_022
            .finding(
                format!("XFS feature {feat} needs Linux {}.{}+, the guest's newest kernel is {name}", k.0, k.1),
                format!("The filesystem has {feat}, which mainline Linux mounts from {}.{}; the newest kernel in /lib/modules is {name}: it refuses to mount the filesystem (or mounts it read-only only){}.", k.0, k.1, if vendor { ". Vendor kernels backport XFS features, so it may support it" } else { "" }),
            )
            .at(path.clone())
            .confidence(if vendor { Confidence::Possible } else { Confidence::Likely })
            .fix(format!("boot a kernel of Linux {}.{} or newer in the guest, or copy the data to a filesystem made without {feat}", k.0, k.1));
        if vendor {
            f = f.severity(Severity::Warning);
        }
        out.push(f);
    }
}

/// Capacity as XFS's `statfs` computes it (`xfs_super.c: xfs_fs_statfs`): free blocks less the
/// reserve pool (`xfs_reserve_blocks`: 5% or 8192 blocks, whichever is smaller), the per-AG
/// set-aside and the per-AG metadata reservations, which no file can use, root's or not (XFS
/// has no root reserve); inodes: those allocated plus what free space could hold, capped by
/// imaxpct. Full, as for ext4: under 8 MiB and under 1% usable.
fn capacity(
    fs: &RootFs,
    sb: &Superblock,
    health: &XfsHealth,
    s: &Settings,
    out: &mut Vec<Finding>,
) {
    let (free, icount, ifree) = match health.counts {
        Some(c) => (c.free_blocks, c.icount, c.ifree),
        None => (sb.fdblocks, sb.icount, sb.ifree),
    };
    let bs = u64::from(sb.blocksize);
    let log = if sb.logstart != 0 {
        u64::from(sb.logblocks)
    } else {
        0
    };
    let blocks = sb.dblocks.saturating_sub(log);
    let resblks = (sb.dblocks / 20).min(8192);
    let set_aside = u64::from(sb.agcount) * 8;
    // Per-AG metadata reservations (`xfs_ag_resv`) taken out of free space at mount: the
    // refcount and reverse-map btrees may grow to a fraction of the AG, the free-inode btree
    // far less. An estimate on the high side, so "full" means what df shows as 100%.
    let agb = u64::from(sb.agblocks);
    let per_ag =
        if sb.has_ro_compat(xsb::RO_COMPAT_REFLINK) || sb.has_ro_compat(xsb::RO_COMPAT_RMAPBT) {
            agb / 128
        } else {
            0
        } + if sb.has_ro_compat(xsb::RO_COMPAT_FINOBT) {
            agb / 1024
        } else {
            0
        };
    let ag_resv = per_ag * u64::from(sb.agcount);
    let held = resblks + set_aside + ag_resv;
    let usable = free.saturating_sub(held);
    let inopblock = u64::from(sb.inopblock);
    let maxicount = sb.dblocks / 100 * u64::from(sb.imax_pct) * inopblock;
    let mut files = icount.saturating_add(usable.saturating_mul(inopblock));
    if maxicount > 0 {
        files = files.min(maxicount);
    }
    let files = files.max(icount);
    let free_inodes = files - (icount - ifree.min(icount));
    let no_blocks = usable.saturating_mul(bs) < FULL_BYTES && usable.saturating_mul(100) < blocks;
    let no_inodes = free_inodes == 0;
    let low_blocks = usable.saturating_mul(100) < blocks;
    let low_inodes = free_inodes.saturating_mul(100) < files;
    if !(no_blocks || no_inodes || low_blocks || low_inodes) {
        return;
    }
    let roots = [
        "/var/log",
        "/var/cache",
        "/var/lib",
        "/tmp",
        "/var/tmp",
        "/home",
        "/root",
    ];
    let big = largest_dirs(fs, &roots, 200_000);
    let mut detail = format!(
        "{free} of {blocks} blocks free, of which about {held} are held back by XFS (not allocatable, even by root: {resblks} in the reserve pool, {set_aside} set aside for the allocator, ~{ag_resv} reserved for per-AG metadata btrees): {} usable; {free_inodes} of {files} inodes free.",
        human(usable * bs)
    );
    if !big.is_empty() {
        detail.push_str("\nLargest directories:");
        for (p, n) in &big {
            detail.push_str(&format!("\n  {:>10}  {}", human(*n), p.display()));
        }
    }
    let fix = match big.first() {
        Some((p, _)) => format!(
            "du -xsh {}/* | sort -h   # then delete or move what is not needed, starting with {}",
            s.host_path("/var"),
            s.host_path(&p.display().to_string())
        ),
        None => format!(
            "du -xsh {}/* | sort -h",
            s.mount_point.trim_end_matches('/')
        ),
    };
    let (rule, title) = if no_blocks || no_inodes {
        (
            &FS_030,
            if no_blocks {
                format!(
                    "the root filesystem is full: {} usable (writes fail with \"No space left on device\")",
                    human(usable * bs)
                )
            } else {
                "the root filesystem has no free inodes".to_string()
            },
        )
    } else {
        (
            &FS_031,
            if low_blocks {
                format!(
                    "the root filesystem is nearly full: {} usable, under 1%",
                    human(usable * bs)
                )
            } else {
                format!("fewer than 1% of inodes are free ({free_inodes})")
            },
        )
    };
    out.push(
        rule.finding(title, detail)
            .confidence(Confidence::Likely)
            .fix(fix),
    );
}
