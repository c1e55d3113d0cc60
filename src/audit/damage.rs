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
finding gives: typically a journal replayed in memory, whose view the on-disk metadata \
predates.\n\nWhy it matters: SELinux label checks are skipped, and fallocated files may read as \
stale bytes (hash mismatches on them are not proof of corruption).\n\nFix: replay the journal \
(`e2fsck -f PARTITION` after a snapshot, or mount the volume once) and inspect again.",
};

pub static RULES: &[&Rule] = &[&FS_012, &FS_013, &FS_014];

/// The finding for a load note that `volume` does not handle itself.
pub fn load_note(note: &LoadNote, dev: &str) -> Option<Finding> {
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
                .fix(format!("e2fsck -f {dev}   # after a snapshot; rewrites the group descriptor")),
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
        LoadNote::JournalReplayed | LoadNote::JournalNotReplayed { .. } => None,
    }
}
