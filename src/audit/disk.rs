//! Is the disk healthy underneath: the ext4 superblock's own record of errors, orphans and
//! forced checks, features the guest's own fsck or kernel would refuse, a filesystem larger than
//! its partition, and capacity (blocks and inodes).

use std::path::{Path, PathBuf};

use super::{Rule, Settings};
use crate::fs::RootFs;
use crate::fs::ext4::superblock::{self, Superblock};
use crate::guest::dpkg;
use crate::inspect::Inspection;
use crate::report::{Category, Confidence, Finding, Severity};
use crate::time::format_utc;

pub static FS_020: Rule = Rule {
    id: "FS-020",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "the kernel recorded filesystem errors in the superblock",
    doc: "Reads the ext4 superblock's state (\"with errors\"), error count, and the first and last \
error the kernel recorded (time, inode, block, function, line).\n\nWhy it matters: the kernel saw \
corruption while the host ran. At the next boot fsck runs a full check; if it cannot repair \
automatically, boot stops in emergency mode (\"UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY\") \
before the network and sshd. Files near the damaged inode may be unreadable.\n\nFix: take a \
snapshot of the volume, then repair it from the recovery host with `e2fsck -f PARTITION`.",
};

pub static FS_021: Rule = Rule {
    id: "FS-021",
    severity: Severity::Info,
    category: Category::Filesystem,
    summary: "orphan inodes are waiting to be cleaned up",
    doc: "Reads the superblock's orphan list head (s_last_orphan) and the orphan-file feature \
flag.\n\nWhy it matters: files deleted while still open when the host stopped. The kernel or fsck \
frees them at the next mount; their space is still counted as used until then.\n\nFix: nothing \
needed; `e2fsck -f PARTITION` frees them now.",
};

pub static FS_022: Rule = Rule {
    id: "FS-022",
    severity: Severity::Warning,
    category: Category::Boot,
    summary: "the next boot forces a full filesystem check",
    doc: "Compares the mount count with the maximum mount count, and the last check time with the \
check interval (tune2fs -c / -i).\n\nWhy it matters: a forced e2fsck of a large filesystem can \
take many minutes during boot, while SSH looks dead (\"Connection refused\" or timeouts).\n\nFix: \
wait for the check, or run it now from the recovery host: `e2fsck -f PARTITION`; disable \
count/interval checks with `tune2fs -c 0 -i 0 PARTITION`.",
};

pub static FS_023: Rule = Rule {
    id: "FS-023",
    severity: Severity::Critical,
    category: Category::Boot,
    summary: "the filesystem uses a feature the guest's own fsck or kernel does not support",
    doc: "Compares the filesystem's feature flags with the releases of e2fsprogs (from the \
guest's package database) and of the kernels installed in the guest (/lib/modules) that first \
supported them. A typical case: a root made or tuned by a newer mke2fs (orphan_file from \
e2fsprogs 1.47) attached to an older guest.\n\nWhy it matters: at boot the guest's e2fsck refuses \
a filesystem with unknown features (\"has unsupported feature(s)\"; \"Get a newer version of \
e2fsck!\"), and an older kernel refuses to mount it: boot stops in emergency mode.\n\nFix: remove \
the feature from the recovery host, e.g. `tune2fs -O ^orphan_file PARTITION` (after `e2fsck -f`), \
or upgrade e2fsprogs/the kernel in the guest.",
};

pub static FS_024: Rule = Rule {
    id: "FS-024",
    severity: Severity::Critical,
    category: Category::Filesystem,
    summary: "the filesystem is larger than its partition",
    doc: "Compares the superblock's block count × block size with the partition's size.\n\nWhy it \
matters: the kernel refuses to mount it (\"bad geometry: block count exceeds size of device\"); \
the tail of the filesystem is missing (a shrunk partition or a truncated image).\n\nFix: restore \
the partition to its former size (growpart / sgdisk), or the full image; never shrink a partition \
below its filesystem (`resize2fs` first).",
};

pub static FS_030: Rule = Rule {
    id: "FS-030",
    severity: Severity::Critical,
    category: Category::Filesystem,
    summary: "the root filesystem is full (no space even for root, or no free inodes)",
    doc: "Reads the free block and inode counts from the superblock, the blocks reserved for \
root (tune2fs -m) and the kernel's own reserve on extent filesystems (2% of the blocks or 4096, \
whichever is smaller, which not even root can allocate: a filesystem that returned \"No space \
left on device\" still shows them free). Full means less than 8 MiB and less than 1% of the filesystem usable by root.\n\nWhy it \
matters: with no free blocks or inodes, services fail at boot writing \
their state (journald, PID files, cloud-init), logins cannot record sessions, and editors cannot \
save fixes. Below the reserved blocks, only root can write.\n\nFix: delete or move what is large \
(the finding lists the largest directories under /var/log, /var/cache, /tmp, /home), e.g. \
`journalctl --directory=/mnt/rescue/var/log/journal --vacuum-size=100M`, `rm \
/mnt/rescue/var/cache/apt/archives/*.deb`.",
};

pub static FS_031: Rule = Rule {
    id: "FS-031",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "the root filesystem is nearly full",
    doc: "No free blocks left for users other than root (what `df` shows as 100%: all that is \
left is the root reserve), or fewer than 1% of inodes free.\n\nWhy it matters: ordinary users and services not running as root can no \
longer write; a few more writes fill it completely.\n\nFix: free space as the finding suggests.",
};

pub static RULES: &[&Rule] = &[
    &FS_020, &FS_021, &FS_022, &FS_023, &FS_024, &FS_030, &FS_031,
];

/// `1.47.0-2` → (1, 47, 0).
fn version3(v: &str) -> Option<(u32, u32, u32)> {
    let v = v.split_once(':').map(|x| x.1).unwrap_or(v);
    let mut it = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next().and_then(|p| p.parse().ok()).unwrap_or(0),
    ))
}

/// Kernel releases installed in the guest (`/lib/modules/6.1.0-18-amd64`), newest first.
pub(super) fn guest_kernels(fs: &RootFs) -> Vec<(String, (u32, u32))> {
    let mut out: Vec<(String, (u32, u32))> = fs
        .read_dir("/lib/modules")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let name = e.name.to_string_lossy().into_owned();
            let mut it = name.split(|c: char| !c.is_ascii_digit());
            let v = (it.next()?.parse().ok()?, it.next()?.parse().ok()?);
            Some((name, v))
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    out
}

/// Sizes of the largest directories below `roots`, for the "disk full" finding. Bounded: at most
/// `budget` entries are looked at in all.
pub(super) fn largest_dirs(fs: &RootFs, roots: &[&str], budget: usize) -> Vec<(PathBuf, u64)> {
    let mut left = budget;
    let mut sizes = Vec::new();
    for r in roots {
        let Ok(children) = fs.read_dir(r) else {
            continue;
        };
        for c in children {
            let p = Path::new(r).join(&c.name);
            let size = du(fs, &p, &mut left, 0);
            sizes.push((p, size));
        }
    }
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    sizes.truncate(8);
    sizes
}

fn du(fs: &RootFs, p: &Path, left: &mut usize, depth: usize) -> u64 {
    if *left == 0 || depth > 32 {
        return 0;
    }
    *left -= 1;
    let Ok(md) = fs.symlink_metadata(p) else {
        return 0;
    };
    if !md.is_dir() {
        return md.size;
    }
    let Ok(children) = fs.read_dir(p) else {
        return 0;
    };
    children
        .iter()
        .map(|c| du(fs, &p.join(&c.name), left, depth + 1))
        .sum()
}

pub(super) fn human(n: u64) -> String {
    crate::report::partitions::human_size(n)
}

pub fn audit(insp: &Inspection, s: &Settings, out: &mut Vec<Finding>) {
    let Some(root) = &insp.root else { return };
    let Some(sb) = &root.superblock else { return };
    let dev = super::volume::root_device(insp);
    let fs = &root.fs;
    errors(sb, fs, &dev, out);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    forced_check(sb, &dev, now, out);
    features(fs, sb, &dev, out);
    larger_than_partition(
        insp,
        sb.blocks_count,
        u64::from(sb.block_size),
        "bad geometry: block count exceeds size of device",
        out,
    );
    capacity(fs, sb, s, out);
}

/// FS-024: the filesystem's own size (blocks × block size) beyond its partition or logical
/// volume — a truncated image, or a partition shrunk under the filesystem. `kernel_says` is
/// the mount error of that filesystem type.
pub(super) fn larger_than_partition(
    insp: &Inspection,
    blocks: u64,
    block_size: u64,
    kernel_says: &str,
    out: &mut Vec<Finding>,
) {
    let (Some(layout), Some(i)) = (&insp.layout, insp.root.as_ref().and_then(|r| r.entry)) else {
        return;
    };
    let part = &layout.entries[i];
    let fs_bytes = blocks.saturating_mul(block_size);
    let part_bytes = part
        .partition
        .as_ref()
        .map(|p| p.size)
        .unwrap_or(part.slice.len());
    if fs_bytes > part_bytes {
        out.push(
            FS_024
                .finding(
                    format!("the filesystem ({}) is larger than its partition ({})", human(fs_bytes), human(part_bytes)),
                    format!("{blocks} blocks of {block_size} bytes = {fs_bytes} bytes, but the partition holds {part_bytes} bytes: the kernel refuses to mount it (\"{kernel_says}\")."),
                )
                .fix(format!("grow the partition back to at least {fs_bytes} bytes (e.g. growpart), or restore the full image")),
        );
    }
}

/// Entries looked at when naming an inode from the superblock's error record.
const FIND_INODE_BUDGET: usize = 500_000;

/// What an inode number in the superblock's error record is.
fn inode_name(fs: &RootFs, ino: u32) -> String {
    match ino {
        2 => "inode 2 (/)".into(),
        8 => "inode 8 (the journal)".into(),
        1..=10 => format!("inode {ino} (reserved)"),
        _ => match fs.find_inode(u64::from(ino), FIND_INODE_BUDGET) {
            Some(p) => format!("inode {ino} ({p})"),
            None => format!("inode {ino}"),
        },
    }
}

fn errors(sb: &Superblock, fs: &RootFs, dev: &super::volume::DevNames, out: &mut Vec<Finding>) {
    let dev_ro = &dev.ro;
    let dev_rw = &dev.rw;
    if sb.state & superblock::STATE_ERROR != 0 || sb.error_count > 0 {
        let mut detail = format!(
            "The superblock's state is \"{}\" and it counts {} error(s).",
            if sb.state & superblock::STATE_ERROR != 0 {
                "with errors"
            } else {
                "clean"
            },
            sb.error_count
        );
        for (which, time, ino, func, line) in [
            (
                "First",
                sb.first_error_time,
                sb.first_error_ino,
                &sb.first_error_func,
                sb.first_error_line,
            ),
            (
                "Last",
                sb.last_error_time,
                sb.last_error_ino,
                &sb.last_error_func,
                sb.last_error_line,
            ),
        ] {
            if time != 0 {
                detail.push_str(&format!(
                    "\n{which} error: {} UTC in {func}:{line}{}",
                    format_utc(i64::from(time)),
                    if ino != 0 {
                        format!(", {}", inode_name(fs, ino))
                    } else {
                        String::new()
                    }
                ));
            }
        }
        out.push(
            FS_020
                .finding(format!("the kernel recorded {} filesystem error(s)", sb.error_count.max(1)), detail)
                .confidence(Confidence::Likely)
                .fix(format!("e2fsck -fn {dev_ro}   # read-only look; after a snapshot, repair with: e2fsck -f {dev_rw}")),
        );
    }
    if sb.last_orphan != 0 || sb.feature_ro_compat & 0x10000 != 0 {
        out.push(FS_021.finding(
            "orphan inodes (files deleted while open) are waiting to be freed",
            format!("The superblock's orphan list starts at inode {} (or the orphan file is marked non-empty): the host stopped while deleted files were still open.", sb.last_orphan),
        ));
    }
}

fn forced_check(sb: &Superblock, dev: &super::volume::DevNames, now: i64, out: &mut Vec<Finding>) {
    let dev_rw = &dev.rw;
    let by_count = sb.max_mnt_count > 0 && i32::from(sb.mnt_count) >= i32::from(sb.max_mnt_count);
    let due = i64::from(sb.lastcheck) + i64::from(sb.checkinterval);
    let by_time = sb.checkinterval > 0 && now > due;
    if by_count || by_time {
        let why = if by_count {
            format!(
                "mounted {} times, maximum {}",
                sb.mnt_count, sb.max_mnt_count
            )
        } else {
            format!(
                "last checked {} UTC, interval {} days",
                format_utc(i64::from(sb.lastcheck)),
                sb.checkinterval / 86_400
            )
        };
        out.push(
            FS_022
                .finding(format!("the next boot runs a full fsck ({why})"), format!("The filesystem is due for a check ({why}); a boot-time e2fsck of {} blocks can keep SSH down for minutes.", sb.blocks_count))
                .confidence(Confidence::Likely)
                .fix(format!("e2fsck -f {dev_rw}   # now, from the recovery host; or stop count/time checks: tune2fs -c 0 -i 0 {dev_rw}")),
        );
    }
}

fn features(fs: &RootFs, sb: &Superblock, dev: &super::volume::DevNames, out: &mut Vec<Finding>) {
    let dev_rw = &dev.rw;
    let e2fsprogs = dpkg::installed_version(fs, "e2fsprogs").ok().flatten();
    let e2v = e2fsprogs.as_deref().and_then(version3);
    let kernels = guest_kernels(fs);
    for f in sb.notable_features() {
        if let (Some(v), Some(ver)) = (e2v, e2fsprogs.as_deref()) {
            if v < f.e2fsprogs {
                out.push(
                    FS_023
                        .finding(
                            format!("feature {} is unknown to the guest's e2fsck {ver}: boot-time fsck fails", f.name),
                            format!("The filesystem has {} (e2fsprogs {}.{}.{}+), the guest's e2fsprogs is {ver}: its boot-time e2fsck stops with \"has unsupported feature(s): {}\" and boot drops to emergency mode.", f.name, f.e2fsprogs.0, f.e2fsprogs.1, f.e2fsprogs.2, f.name),
                        )
                        .at("/var/lib/dpkg/status")
                        .fix(format!("e2fsck -f {dev_rw} && tune2fs -O ^{} {dev_rw}   # from the recovery host; or upgrade e2fsprogs in the guest", f.name)),
                );
            }
        }
        if let Some((name, kv)) = kernels.first() {
            if *kv < f.kernel {
                out.push(
                    FS_023
                        .finding(
                            format!("feature {} needs Linux {}.{}+, the guest's newest kernel is {name}", f.name, f.kernel.0, f.kernel.1),
                            format!("The filesystem has {}, which Linux supports from {}.{}; the newest kernel in /lib/modules is {name}: it will not mount the root read-write.", f.name, f.kernel.0, f.kernel.1),
                        )
                        .at(format!("/lib/modules/{name}"))
                        .confidence(Confidence::Likely)
                        .fix(format!("e2fsck -f {dev_rw} && tune2fs -O ^{} {dev_rw}   # from the recovery host, if the feature can be removed", f.name)),
                );
            }
        }
    }
}

/// Blocks the kernel keeps back on an extent filesystem even from root, for metadata and
/// unwritten-extent conversion: 2% of the blocks or 4096, whichever is smaller
/// (`fs/ext4/super.c: ext4_calculate_resv_clusters`). A filesystem that returned ENOSPC to
/// root still shows these as free in its superblock.
fn kernel_reserve(sb: &Superblock) -> u64 {
    if sb.feature_incompat & superblock::INCOMPAT_EXTENTS == 0 {
        return 0;
    }
    (sb.blocks_count / 50).min(4096)
}

/// Below this much space usable by root (and below 1% of the filesystem), it is full in
/// practice: logs, package managers and sshd's own writes fail.
pub(super) const FULL_BYTES: u64 = 8 << 20;

fn capacity(fs: &RootFs, sb: &Superblock, s: &Settings, out: &mut Vec<Finding>) {
    let bs = u64::from(sb.block_size);
    let kernel = kernel_reserve(sb);
    // As `ext4_has_free_clusters` decides: root may allocate above the kernel's reserve,
    // everyone else above that and the root reserve too.
    let for_root = sb.free_blocks_count.saturating_sub(kernel);
    let for_users = for_root.saturating_sub(sb.r_blocks_count);
    let no_blocks =
        for_root.saturating_mul(bs) < FULL_BYTES && for_root.saturating_mul(100) < sb.blocks_count;
    let no_inodes = sb.free_inodes_count == 0;
    let low_blocks = for_users == 0;
    let low_inodes = u64::from(sb.free_inodes_count) * 100 < u64::from(sb.inodes_count);
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
        "{} of {} blocks free, of which {kernel} are the kernel's own reserve (not allocatable, even by root) and {} are reserved for root: {} usable by root, {} by other users; {} of {} inodes free.",
        sb.free_blocks_count,
        sb.blocks_count,
        sb.r_blocks_count,
        human(for_root * bs),
        human(for_users * bs),
        sb.free_inodes_count,
        sb.inodes_count
    );
    if !big.is_empty() {
        detail.push_str("\nLargest directories:");
        for (p, n) in &big {
            detail.push_str(&format!("\n  {:>10}  {}", human(*n), p.display()));
        }
    }
    let first = big
        .first()
        .map(|(p, _)| s.host_path(&p.display().to_string()));
    let fix = match first {
        Some(p) => format!(
            "du -xsh {}/* | sort -h   # then delete or move what is not needed, starting with {p}",
            s.host_path("/var")
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
                    "the root filesystem is full: {} usable even by root (writes fail with \"No space left on device\")",
                    human(for_root * bs)
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
                    "the root filesystem is full for every user but root: {} left, all of it in the root reserve",
                    human(for_root * bs)
                )
            } else {
                format!(
                    "fewer than 1% of inodes are free ({})",
                    sb.free_inodes_count
                )
            },
        )
    };
    out.push(
        rule.finding(title, detail)
            .confidence(Confidence::Likely)
            .fix(fix),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(version3("1.47.0-2"), Some((1, 47, 0)));
        assert_eq!(version3("1.46.5-2ubuntu1.1"), Some((1, 46, 5)));
        assert_eq!(version3("1:1.42"), Some((1, 42, 0)));
    }
}
