//! Damage the ext4 backend worked around while loading the filesystem: group descriptors with
//! bad checksums (shown to the library corrected), an unsigned directory hash (names looked up
//! by linear scan), and the own metadata reader being unavailable.

use super::Rule;
use crate::fs::ext4::LoadNote;
use crate::report::{Category, Confidence, Finding, Severity};

pub static FS_012: Rule = Rule {
    id: "FS-012",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "a block group descriptor's checksum does not match",
    doc: "Reads the group descriptor table and verifies each descriptor's checksum (crc32c with \
metadata_csum, crc16 with gdt_csum), as the kernel does at mount.\n\nWhy it matters: the kernel \
refuses to mount a filesystem whose descriptors fail their checksum (\"ext4_check_descriptors: \
Checksum for group N failed\"), so boot stops in emergency mode before sshd. The descriptor says \
where the group's bitmaps and inode table are: if more than its checksum is damaged, files whose \
inodes or blocks are in that group may read wrongly. This inspection used the descriptor's fields \
as they are, with the checksum corrected in memory; the volume was not written.\n\nFix: after a \
snapshot, `e2fsck -f PARTITION` rewrites the descriptor (and checks the group's bitmaps).",
};

pub static FS_013: Rule = Rule {
    id: "FS-013",
    severity: Severity::Info,
    category: Category::Filesystem,
    summary: "directory names are hashed with unsigned chars (made on a non-x86 host)",
    doc: "Reads the superblock flag that says directory-index hashes were computed with unsigned \
chars (filesystems created on ARM, PowerPC and other hosts where `char` is unsigned).\n\nWhy it \
matters: readers that assume signed hashing miss non-ASCII names in large directories. This \
inspection looks names up by scanning directories linearly, so it finds them; the Linux kernel \
follows the flag and is not affected.\n\nFix: nothing needed.",
};

pub static FS_014: Rule = Rule {
    id: "FS-014",
    severity: Severity::Info,
    category: Category::Filesystem,
    summary: "inode numbers, xattrs and unwritten extents cannot be read on this filesystem",
    doc: "The project's own metadata reader (inode numbers, ctime, link counts, extended \
attributes such as SELinux labels, zeros for unwritten extents) was not used, for the reason the \
finding gives (group descriptors or an inode geometry it cannot read).\n\nWhy it matters: SELinux label checks are skipped, and fallocated files may read as \
stale bytes (hash mismatches on them are not proof of corruption).\n\nFix: nothing to repair; \
inspect a loop mount of the volume (`mount -o ro,noload PARTITION /mnt/rescue && rescue-inspect \
check /mnt/rescue`) for labels and exact contents.",
};

pub static FS_015: Rule = Rule {
    id: "FS-015",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "files could not be read: their inode or directory block is damaged",
    doc: "Collects the metadata the reads of this inspection found damaged (an inode or directory \
block failing its checksum, a malformed extent tree, a directory entry naming a cleared inode), \
with the guest paths each one cost. The other audits ran on everything else.\n\nWhy it matters: \
the kernel returns EIO or EFSBADCRC for these files: the service or login that needs them fails \
as if they were missing, and the kernel marks the filesystem with errors (a forced fsck at the \
next boot). (Critical when a login depends on the file.)\n\nFix: after a snapshot, `e2fsck -f \
PARTITION` repairs or clears the damaged metadata (files it cannot save land in /lost+found); \
then restore the lost files from their package or a backup.",
};

pub static RULES: &[&Rule] = &[&FS_012, &FS_013, &FS_014, &FS_015];

/// Stands for the root's device in fixes written by audits that do not know it.
pub const DEV_PLACEHOLDER: &str = "ROOT_DEVICE";

/// The finding for one file an audit needed and could not read.
pub fn unreadable(
    path: &std::path::Path,
    e: &crate::fs::FsError,
    dev: &super::volume::DevNames,
) -> Finding {
    let dev_rw = &dev.rw;
    let detail = match e {
        crate::fs::FsError::Corrupt { detail, .. } | crate::fs::FsError::Io { detail, .. } => {
            detail.clone()
        }
        other => other.to_string(),
    };
    FS_015
        .finding(
            format!("could not read {}: {detail}", path.display()),
            format!(
                "{detail}. The kernel fails reads of {} with an I/O or checksum error, as if it were missing.",
                path.display()
            ),
        )
        .at(path.display().to_string())
        .fix(format!("e2fsck -f {dev_rw}   # after a snapshot; then restore the file from its package or a backup"))
}

/// One finding per damaged piece of metadata the audits' reads ran into, unless an audit
/// already reported the same path.
pub fn audit(fs: &crate::fs::RootFs, dev: &super::volume::DevNames, out: &mut Vec<Finding>) {
    let dev_rw = &dev.rw;
    for f in out.iter_mut().filter(|f| f.id == FS_015.id) {
        if let Some(fix) = &mut f.fix {
            *fix = fix.replace(DEV_PLACEHOLDER, dev_rw);
        }
    }
    let reported: std::collections::BTreeSet<String> = out
        .iter()
        .filter(|f| f.id == FS_015.id)
        .filter_map(|f| f.path.clone())
        .collect();
    for d in fs.damage() {
        if d.paths
            .iter()
            .all(|p| reported.contains(&p.display().to_string()))
        {
            continue;
        }
        let Some(first) = d.paths.first() else {
            continue;
        };
        let paths: Vec<String> = d.paths.iter().map(|p| p.display().to_string()).collect();
        let more = if paths.len() > 1 {
            format!(" (and {} more)", paths.len() - 1)
        } else {
            String::new()
        };
        out.push(
            FS_015
                .finding(
                    format!("could not read {}{more}: {}", first.display(), d.detail),
                    format!(
                        "{}. Paths that could not be read because of it: {}. The kernel fails reads of them with an I/O or checksum error.",
                        d.detail,
                        paths.join(", ")
                    ),
                )
                .at(first.display().to_string())
                .fix(format!("e2fsck -f {dev_rw}   # after a snapshot; then restore the files from their package or a backup")),
        );
    }
}

/// The finding for a load note that `volume` does not handle itself.
pub fn load_note(note: &LoadNote, dev: &super::volume::DevNames) -> Option<Finding> {
    let dev_rw = &dev.rw;
    match note {
        LoadNote::GroupDescriptorChecksum {
            group,
            stored,
            computed,
            first_block,
            blocks,
            first_inode,
            inodes,
        } => Some(
            FS_012
                .finding(
                    format!("block group {group}: descriptor checksum mismatch (stored 0x{stored:04x}, computed 0x{computed:04x})"),
                    format!(
                        "Group descriptor {group} stores checksum 0x{stored:04x}, but its bytes checksum to 0x{computed:04x}. The kernel refuses to mount the filesystem until it is repaired. This inspection read the descriptor as it is; data in the group (blocks {first_block}..{}, inodes {first_inode}..{}) is suspect if more than the checksum is damaged.",
                        first_block + u64::from(*blocks).saturating_sub(1),
                        first_inode + u64::from(*inodes).saturating_sub(1)
                    ),
                )
                .fix(format!("e2fsck -f {dev_rw}   # after a snapshot; rewrites the group descriptor")),
        ),
        LoadNote::UnsignedDirectoryHash => Some(FS_013.finding(
            "directory names are hashed with unsigned chars; names are looked up by linear scan",
            "The superblock's s_flags has EXT2_FLAGS_UNSIGNED_HASH (a filesystem made on a host where char is unsigned). Hashed directory lookups that assume signed chars miss non-ASCII names; this inspection scans directories linearly instead.",
        )),
        LoadNote::OwnReaderUnavailable { reason } => Some(
            FS_014
                .finding(
                    "inode numbers, SELinux labels and unwritten extents are not available",
                    format!("The project's own metadata reader was not used: {reason}. Metadata and contents come from the ext4 library alone; unwritten (fallocated) extents may read as stale bytes."),
                )
                .confidence(Confidence::Likely),
        ),
        LoadNote::JournalReplayed { .. }
        | LoadNote::JournalNotReplayed { .. }
        | LoadNote::JournalPartlyReplayed { .. }
        | LoadNote::JournalReplayDiffers { .. } => None,
    }
}
