//! The metadata scan (`rescue-inspect fsck`, `check --deep`): runs `fs::ext4::fsck` on the
//! root's (or a chosen) ext filesystem and turns its problems into findings, one per problem,
//! each with the inode number, the path where one was found, and what is wrong.

use std::io::{IsTerminal, Write};

use super::Rule;
use crate::fs::ext4::fsck::{self, Area, Problem, Progress, Scan};
use crate::fs::ext4::raw::RawFs;
use crate::fs::ext4::{self, LoadNote};
use crate::inspect::{Content, Inspection};
use crate::report::{Category, Finding, Severity};

pub static FS_040: Rule = Rule {
    id: "FS-040",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "metadata scan: an inode is damaged (checksum, block map, xattr block, block count)",
    doc: "The metadata scan (`fsck`, `check --deep`) reads every inode of every initialized inode \
table and verifies its checksum, its extent tree (node checksums, depth) or indirect blocks, its \
xattr block, that its blocks lie inside the filesystem and belong to nobody else, and its block \
count.\n\nWhy it matters: the kernel refuses to read a damaged inode (EFSBADCRC, EIO) and marks \
the filesystem with errors; with errors=remount-ro the root turns read-only, with errors=panic \
the host reboots; the next boot runs a full fsck that may stop in emergency mode.\n\nFix: after a \
snapshot, `e2fsck -f PARTITION` (it asks before each repair); restore what it clears from \
packages or backups.",
};

pub static FS_041: Rule = Rule {
    id: "FS-041",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "metadata scan: a directory is damaged or names an unused inode",
    doc: "Reads every directory block of every directory (leaf checksums, htree node checksums, \
entry lengths) and checks each entry against the inode it names: in range and in use (a cleared \
inode still named is what `clri` or a lost write leaves).\n\nWhy it matters: names in a damaged \
block cannot be looked up; an entry naming an unused inode gives ENOENT or EIO, and the files \
under a damaged directory are unreachable.\n\nFix: after a snapshot, `e2fsck -f PARTITION`; it \
removes dangling entries and moves unreachable files to /lost+found.",
};

pub static FS_042: Rule = Rule {
    id: "FS-042",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "metadata scan: a link count is wrong or a directory is disconnected",
    doc: "Counts the directory entries that name each inode and compares the count with the \
inode's link count; walks every directory's parent chain up to the root.\n\nWhy it matters: a \
link count above the real one leaks the inode; one below frees it while names still point to it \
(later, another file's data appears under the old name). A disconnected directory's files are \
invisible.\n\nFix: after a snapshot, `e2fsck -f PARTITION`.",
};

pub static FS_043: Rule = Rule {
    id: "FS-043",
    severity: Severity::Warning,
    category: Category::Filesystem,
    summary: "metadata scan: bitmaps or free counts disagree with what is in use",
    doc: "Compares each group's block and inode bitmaps (and their checksums) with the blocks and \
inodes the scan found in use, and the group descriptors' free counts with the \
bitmaps.\n\nWhy it matters: a block in use but marked free will be handed to another file \
(silent corruption on the next write); wrong free counts make df lie and may let the filesystem \
fill unexpectedly.\n\nFix: after a snapshot, `e2fsck -f PARTITION` rebuilds the bitmaps and \
counts.",
};

pub static FS_044: Rule = Rule {
    id: "FS-044",
    severity: Severity::Info,
    category: Category::Filesystem,
    summary: "metadata scan: the filesystem is consistent",
    doc: "The metadata scan found every checksum valid, every entry pointing to an inode in use, \
every link count and bitmap in agreement.\n\nWhy it matters: context: the filesystem is not why \
SSH fails (file contents may still be wrong: the scan checks metadata, not data).\n\nFix: nothing \
needed.",
};

pub static RULES: &[&Rule] = &[&FS_040, &FS_041, &FS_042, &FS_043, &FS_044];

/// The filesystem to scan: the chosen root, or with no root (it could not be loaded, or its
/// /etc is unreadable) the first ext filesystem. A journal that needs recovery is replayed in
/// memory first, as e2fsck replays it before checking; the state says how.
fn target(insp: &Inspection) -> Result<ext4::State, String> {
    let layout = insp
        .layout
        .as_ref()
        .ok_or("the metadata scan needs a device or image, not a mounted directory")?;
    let entry = match &insp.root {
        Some(r) => r.entry,
        None => insp
            .candidates
            .iter()
            .find(|c| matches!(c.content, Content::Unreadable { .. } | Content::Ext { .. }))
            .map(|c| c.entry),
    }
    .ok_or("no ext2/3/4 filesystem to scan")?;
    ext4::state(&layout.entries[entry].slice).map_err(|e| e.to_string())
}

/// What the scan read, when the filesystem needed recovery.
fn journal_state(notes: &[LoadNote]) -> Option<String> {
    let mut parts = Vec::new();
    for n in notes {
        match n {
            LoadNote::JournalReplayed {
                transactions,
                blocks,
                end,
                ..
            } => parts.push(format!(
                "the journal was replayed in memory first ({transactions} transaction(s), {blocks} block(s); {end}), as e2fsck replays it before checking"
            )),
            LoadNote::JournalNotReplayed { reason } => parts.push(format!(
                "the journal needs recovery but could not be replayed ({reason}): the scan read the state before it, so it may report problems that replaying the journal would fix (as e2fsck -fn does)"
            )),
            LoadNote::JournalPartlyReplayed { reason } => {
                parts.push(format!("not all of the journal was replayed: {reason}"))
            }
            LoadNote::JournalReplayDiffers { reason } => parts.push(format!(
                "e2fsck -fn compares with e2fsck's replay, which differs: {reason}"
            )),
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Runs the scan with a progress line on stderr when it is a terminal.
pub fn run(insp: &Inspection) -> Result<Scan, String> {
    let st = target(insp)?;
    let journal = journal_state(&st.notes);
    let fs =
        RawFs::open(Box::new(st.bytes), st.superblock).map_err(|e| format!("cannot scan: {e}"))?;
    let tty = std::io::stderr().is_terminal();
    let mut last = (0u8, u64::MAX);
    let mut progress = |p: Progress| {
        if !tty || p.total == 0 {
            return;
        }
        let pct = p.done.min(p.total) * 100 / p.total;
        if (p.pass, pct) != last {
            last = (p.pass, pct);
            let what = match p.pass {
                1 => "inodes",
                2 => "directories",
                _ => "bitmaps",
            };
            let bar = "#".repeat((pct / 5) as usize);
            eprint!("\rscanning {what:<11} [{bar:<20}] {pct:>3}%");
            let _ = std::io::stderr().flush();
        }
    };
    let r = fsck::scan(&fs, &mut progress).map_err(|e| e.to_string());
    if tty {
        eprint!("\r{:60}\r", "");
    }
    r.map(|mut s| {
        s.journal = journal;
        s
    })
}

fn rule_of(a: Area) -> &'static Rule {
    match a {
        Area::Inode | Area::GroupDescriptor => &FS_040,
        Area::Directory => &FS_041,
        Area::Connectivity | Area::LinkCount => &FS_042,
        Area::Bitmap | Area::FreeCount => &FS_043,
    }
}

/// What a problem is about, for titles: "inode 12 (/etc/passwd)", "group 3".
pub fn subject(p: &Problem) -> String {
    match (p.ino, &p.path, p.group) {
        (Some(i), Some(path), _) => format!("inode {i} ({path})"),
        (Some(i), None, _) => format!("inode {i}"),
        (None, _, Some(g)) => format!("group {g}"),
        _ => "superblock".into(),
    }
}

/// One finding per problem (or FS-044 when clean).
pub fn findings(scan: &Scan, dev: &super::volume::DevNames) -> Vec<Finding> {
    let dev_rw = &dev.rw;
    if scan.is_clean() {
        return vec![FS_044.finding(
            "metadata scan: no problems",
            format!(
                "{} inodes in use ({} directories), {} blocks in use in {} groups: every checksum, entry, link count and bitmap agrees.",
                scan.inodes_in_use, scan.directories, scan.blocks_in_use, scan.groups
            ),
        )];
    }
    let mut out: Vec<Finding> = scan
        .problems
        .iter()
        .map(|p| {
            let mut f = rule_of(p.area)
                .finding(
                    format!("{}: {}", subject(p), p.detail),
                    format!(
                        "The metadata scan found: {}{}.",
                        p.detail,
                        if p.other_inodes.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " (inodes {})",
                                p.other_inodes
                                    .iter()
                                    .map(|i| i.to_string())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    ),
                )
                .fix(format!("e2fsck -f {dev_rw}   # after a snapshot; -n first to see the same problems without writing"));
            if let Some(path) = &p.path {
                f = f.at(path.clone());
            }
            f
        })
        .collect();
    if scan.dropped > 0 {
        out.push(FS_043.finding(
            format!("metadata scan: {} more problems not listed", scan.dropped),
            "The scan keeps a bounded number of problems; the filesystem is badly damaged.",
        ));
    }
    out
}

/// `rescue-inspect fsck` text output.
pub fn render_text(scan: &Scan) -> String {
    let mut s = String::new();
    if let Some(j) = &scan.journal {
        s.push_str(&format!("journal: {j}\n\n"));
    }
    for p in &scan.problems {
        s.push_str(&format!(
            "{:<16} {}: {}\n",
            format!("{:?}", p.area),
            subject(p),
            p.detail
        ));
    }
    s.push_str(&format!(
        "\n{} problem(s){}; {} inodes in use ({} directories), {} blocks in use, {} groups\n",
        scan.problems.len(),
        if scan.dropped > 0 {
            format!(" (and {} not kept)", scan.dropped)
        } else {
            String::new()
        },
        scan.inodes_in_use,
        scan.directories,
        scan.blocks_in_use,
        scan.groups
    ));
    s
}
