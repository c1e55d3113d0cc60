//! Read-only, in-memory replay of an ext3/ext4 (jbd2) journal: the project's own, because
//! `ext4-view` 1.0 replays only journals with the 64bit and checksum-v3 features (see the
//! README's dependency notes).
//!
//! The semantics are those of the kernel's `fs/jbd2/recovery.c` (`jbd2_journal_recover`,
//! `do_one_pass`, `scan_revoke_records`; e2fsprogs carries the same file as
//! `e2fsck/recovery.c`): starting at `s_start` with sequence `s_sequence`, the log is walked
//! transaction by transaction — descriptor blocks (whose tags name the filesystem block each
//! following log block replaces), revoke blocks, and the commit block that makes a
//! transaction count — wrapping around the end of the log, until a block is not the next one
//! of the expected transaction. Three passes, as the kernel's:
//! 1. scan: find where the log ends and verify every checksum the journal carries (v1's
//!    crc32_be per transaction, v2/v3's crc32c of descriptor, revoke and commit blocks, and of
//!    every data block against its tag);
//! 2. replay: for every tag of the transactions found, remember which log block holds the
//!    newest copy of its filesystem block (a block's last copy wins, as the kernel's writes in
//!    log order leave it);
//! 3. revoke: drop a block whose newest copy is not newer than a revoke record for it (the
//!    kernel skips a tag of transaction T when a revoke record of a transaction >= T names its
//!    block, so the block keeps its last unrevoked copy; since revocation ranges over all
//!    replayed transactions, the last copy is unrevoked exactly when every copy before it is
//!    superseded anyway). Doing replay before revoke keeps memory bounded by the blocks the
//!    log rewrites, however many revoke records it holds.
//!
//! Nothing is written: the result is an [`Overlay`] mapping each replayed filesystem block to
//! the filesystem block of its log copy, read through by both ext4 readers.
//!
//! Where the kernel and we differ, deliberately: the kernel checks a data block against its
//! tag only while replaying, and then skips just that block and fails the recovery (the
//! mount fails); we check every tag during the scan and stop before the first transaction
//! that fails any check, so what is shown is always the state after a whole number of
//! transactions. With async_commit the kernel may carry on past a transaction whose commit
//! checksum fails; we stop there too. A v2/v3 commit block whose full checksum fails but whose
//! header's holds (written only in part: the power went while it was written) is accepted, as
//! Linux 6.x accepts it (`jbd2_commit_block_csum_verify_partial`); e2fsck 1.47 does not, and
//! the result says so ([`Replay::partial_commits`]). The log wraps at `j_last` also with fast commits (the
//! commit code never writes the log past it); fast commits themselves (ext4's logical
//! records after the last full commit) are not replayed: their presence is reported.

pub mod commit;
pub mod descriptor;
pub mod overlay;
pub mod revoke;
pub mod superblock;

use descriptor::{Tag, TagFormat};
pub use overlay::Overlay;
use superblock::{Csum, JournalSbError, JournalSuperblock};

use super::raw::{BlockRead, RawFs, Run};
use crate::checksum::crc32_be;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum JournalError {
    #[error("needs_recovery is set but the filesystem has no journal")]
    NoJournal,
    #[error(
        "the journal is on an external device (journal UUID {0}); reading an external journal is not supported"
    )]
    External(String),
    #[error("journal inode {ino}: {what}")]
    Inode { ino: u32, what: String },
    #[error("{0}")]
    Superblock(#[from] JournalSbError),
    #[error("journal block size {journal} differs from the filesystem's {fs}")]
    BlockSize { journal: u32, fs: u64 },
    #[error("journal superblock says {maxlen} blocks but the journal inode holds only {blocks}")]
    TooShort { maxlen: u32, blocks: u64 },
    #[error("journal's first log block {first} is outside its {len} blocks")]
    BadFirst { first: u32, len: u64 },
    #[error("journal log starts at block {start}, outside the log (blocks {first}..{last})")]
    BadStart { start: u32, first: u64, last: u64 },
    #[error("journal of {maxlen} blocks leaves too few for the log beside {fc} fast-commit blocks")]
    FastCommitArea { maxlen: u32, fc: u32 },
    #[error("journal block {0} is not mapped by the journal inode")]
    Unmapped(u64),
    #[error("journal block {block} is in an unwritten extent")]
    Unwritten { block: u64 },
    #[error("journal block {block} maps to filesystem block {physical}, beyond the filesystem")]
    Beyond { block: u64, physical: u64 },
    #[error("journal block {block} is beyond the end of the journal ({len} blocks)")]
    PastEnd { block: u64, len: u64 },
    #[error("reading journal block {block}: {err}")]
    Io { block: u64, err: String },
    #[error("the journal changed between passes at block {0}")]
    Inconsistent(u64),
}

/// The journal's blocks: journal block `n` (an index into the journal file) and where it is.
pub trait Log {
    /// Blocks of the journal file.
    fn blocks(&self) -> u64;
    /// The filesystem block holding journal block `n`.
    fn physical(&self, n: u64) -> Result<u64, JournalError>;
    /// Reads journal block `n` (one filesystem block) into `buf`.
    fn read(&self, n: u64, buf: &mut [u8]) -> Result<(), JournalError>;
}

/// A journal file mapped by its inode's block map onto the filesystem's bytes.
pub struct MappedLog<'a> {
    src: &'a dyn BlockRead,
    bs: u64,
    /// Sorted by logical block.
    runs: Vec<Run>,
    blocks: u64,
    fs_blocks: u64,
}

impl<'a> MappedLog<'a> {
    pub fn new(
        src: &'a dyn BlockRead,
        bs: u64,
        mut runs: Vec<Run>,
        blocks: u64,
        fs_blocks: u64,
    ) -> MappedLog<'a> {
        runs.sort_by_key(|r| r.logical);
        MappedLog {
            src,
            bs,
            runs,
            blocks,
            fs_blocks,
        }
    }

    /// The whole source as the journal, block `n` at byte `n * bs` (tests and fuzzing).
    pub fn identity(src: &'a dyn BlockRead, bs: u64) -> MappedLog<'a> {
        let blocks = src.size() / bs.max(1);
        let runs = vec![Run {
            logical: 0,
            physical: 0,
            len: blocks,
            uninit: false,
        }];
        MappedLog::new(src, bs, runs, blocks, blocks)
    }
}

impl Log for MappedLog<'_> {
    fn blocks(&self) -> u64 {
        self.blocks
    }

    fn physical(&self, n: u64) -> Result<u64, JournalError> {
        let i = self.runs.partition_point(|r| r.logical + r.len <= n);
        let r = self
            .runs
            .get(i)
            .filter(|r| r.logical <= n)
            .ok_or(JournalError::Unmapped(n))?;
        if r.uninit {
            return Err(JournalError::Unwritten { block: n });
        }
        let physical = r.physical.saturating_add(n - r.logical);
        if physical >= self.fs_blocks {
            return Err(JournalError::Beyond { block: n, physical });
        }
        Ok(physical)
    }

    fn read(&self, n: u64, buf: &mut [u8]) -> Result<(), JournalError> {
        let p = self.physical(n)?;
        let off = p.checked_mul(self.bs).ok_or(JournalError::Beyond {
            block: n,
            physical: p,
        })?;
        self.src
            .read_at(off, buf)
            .map_err(|err| JournalError::Io { block: n, err })
    }
}

/// How the walk of the log ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEnd {
    /// `s_start` is 0: the journal holds nothing to replay.
    Empty,
    /// The block after the last complete transaction is not part of the log (`why`): the
    /// normal end.
    End { tid: u32, block: u64, why: String },
    /// Transaction `tid` was being written when the host stopped: its blocks are in the log
    /// but its commit block is not (`why` says what is there instead). The kernel and e2fsck
    /// discard it the same way.
    Incomplete { tid: u32, block: u64, why: String },
    /// A checksum failed on a transaction older than the one before it: blocks left from an
    /// earlier pass over the log, which the kernel takes as the end of the log.
    Stale { tid: u32, block: u64 },
    /// Committed transaction `tid` fails a check (`what`, at journal block `block`): replay
    /// stopped before it. What the kernel and e2fsck do then depends on the `kind`.
    Corrupt {
        tid: u32,
        block: u64,
        what: String,
        kind: Corruption,
    },
}

/// What is wrong with a corrupt transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// Its commit block fails its checksum (v1 transaction crc32, v2/v3 crc32c).
    Commit,
    /// One of its descriptor or revoke blocks fails its checksum.
    Metadata,
    /// A data block's journal copy fails its tag checksum.
    Data,
    /// A revoke block claims more records than it holds.
    Revoke,
    /// A block of the log cannot be read.
    Unreadable,
    /// The log never ends.
    Endless,
}

impl Corruption {
    /// What the kernel and e2fsck 1.47 do with such a journal (`fs/jbd2/recovery.c`,
    /// `e2fsck/journal.c`), tested on real journals in `tests/journal_replay.rs`.
    pub fn peers(&self) -> &'static str {
        match self {
            Corruption::Commit => {
                "the kernel refuses to mount the filesystem (\"journal transaction is corrupt\"); e2fsck replays the transactions before it, as this inspection does (\"Journal transaction was corrupt, replay was aborted\"), and marks the filesystem with errors"
            }
            Corruption::Metadata => {
                "the kernel refuses to mount the filesystem (journal recovery fails with a checksum error); e2fsck replays none of the journal (\"Journal checksum error found\"), so after it even the transactions before this one are lost"
            }
            Corruption::Data => {
                "the kernel and e2fsck replay every other block of the journal and skip this one, which can leave the metadata inconsistent (the kernel then refuses to mount; e2fsck goes on to check and repair); this inspection shows the consistent state before the transaction"
            }
            Corruption::Revoke | Corruption::Unreadable | Corruption::Endless => {
                "the kernel refuses to mount the filesystem (journal recovery fails); e2fsck reports the journal as corrupt"
            }
        }
    }
}

impl LogEnd {
    /// True when the replay stopped before transactions the journal holds as committed.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, LogEnd::Corrupt { .. })
    }

    /// The end, in words.
    pub fn describe(&self) -> String {
        match self {
            LogEnd::Empty => "the journal is empty (s_start is 0)".into(),
            LogEnd::End { tid, block, why } => {
                format!(
                    "the log ends at journal block {block} ({why}, where transaction {tid} would begin)"
                )
            }
            LogEnd::Incomplete { tid, block, why } => format!(
                "transaction {tid} was cut off before its commit block (journal block {block}: {why}) and was discarded, as the kernel does"
            ),
            LogEnd::Stale { tid, block } => format!(
                "journal block {block} fails its checksum but predates the last commit: left from an earlier pass over the log, where transaction {tid} would begin"
            ),
            LogEnd::Corrupt {
                tid, block, what, ..
            } => {
                format!("transaction {tid} is corrupt ({what}, journal block {block})")
            }
        }
    }
}

/// A replayed journal.
#[derive(Debug)]
pub struct Replay {
    pub journal: JournalSuperblock,
    /// Transactions `first_tid..end_tid` were replayed.
    pub first_tid: u32,
    pub end_tid: u32,
    pub transactions: u32,
    /// Tags of those transactions (copies written by the kernel's replay, `nr_replays`).
    pub writes: u64,
    /// Revoke records in those transactions, and blocks they kept from being replayed.
    pub revoke_records: u64,
    pub revoked_blocks: u64,
    /// The replayed transactions run past the end of the journal and wrap to its start.
    pub wrapped: bool,
    pub end: LogEnd,
    /// Fast commits for transaction `end_tid` follow in the fast-commit area; they are not
    /// replayed.
    pub fast_commits: Option<u32>,
    /// Replayed transactions whose commit block was written only in part (its header's
    /// checksum holds, the full block's does not): Linux 6.x replays them, e2fsck 1.47 stops
    /// at the first.
    pub partial_commits: Vec<u32>,
    pub overlay: Overlay,
}

/// `tid_gt`: transaction IDs compare modulo 2^32.
fn tid_gt(x: u32, y: u32) -> bool {
    (x.wrapping_sub(y) as i32) > 0
}

/// Journal geometry and checksum settings, shared by the passes.
struct Walk<'a> {
    log: &'a dyn Log,
    sb: &'a JournalSuperblock,
    fmt: TagFormat,
    seed: u32,
    bs: usize,
    /// The log is blocks `first..last` of the journal.
    first: u64,
    last: u64,
    /// Journal blocks usable (`j_total_len`).
    len: u64,
}

impl Walk<'_> {
    /// The kernel's `wrap()`: one subtraction, so a crafted position stays out of range and
    /// fails its read.
    fn wrap(&self, n: u64) -> u64 {
        if n >= self.last {
            n - (self.last - self.first)
        } else {
            n
        }
    }

    /// `jread`: refuses blocks past the journal.
    fn read(&self, n: u64, buf: &mut [u8]) -> Result<(), JournalError> {
        if n >= self.len {
            return Err(JournalError::PastEnd {
                block: n,
                len: self.len,
            });
        }
        self.log.read(n, buf)
    }

    fn log_len(&self) -> u64 {
        self.last - self.first
    }
}

struct Scanned {
    end_tid: u32,
    transactions: u32,
    end: LogEnd,
    wrapped: bool,
    partial_commits: Vec<u32>,
}

/// Pass 1: where the log ends, every checksum verified.
fn scan(w: &Walk) -> Scanned {
    let csum = w.fmt.csum;
    let v23 = matches!(csum, Csum::V2 | Csum::V3);
    let mut id = w.sb.sequence;
    let mut pos = u64::from(w.sb.start);
    let mut consumed = 0u64;
    let mut transactions = 0u32;
    let mut in_txn = false;
    let mut wrapped = false;
    let mut wrapped_committed = false;
    // A descriptor or revoke block failed its checksum (`need_check_commit_time`): decided at
    // the commit block by its time.
    let mut bad_meta: Option<u64> = None;
    // A revoke block with an impossible record count (the kernel fails in its revoke pass).
    let mut bad_revoke: Option<(u64, String)> = None;
    let mut last_time = 0u64;
    let mut crc = !0u32;
    let mut partial_commits = Vec::new();
    let mut buf = vec![0u8; w.bs];
    let mut data = vec![0u8; w.bs];
    let end_of_log = |in_txn: bool, id: u32, block: u64, why: String| {
        if in_txn {
            LogEnd::Incomplete {
                tid: id,
                block,
                why,
            }
        } else {
            LogEnd::End {
                tid: id,
                block,
                why,
            }
        }
    };
    let advance = |pos: &mut u64, consumed: &mut u64, wrapped: &mut bool| {
        let next = w.wrap(*pos + 1);
        if next <= *pos {
            *wrapped = true;
        }
        *pos = next;
        *consumed += 1;
    };
    let end = 'walk: loop {
        if consumed >= w.log_len() {
            break LogEnd::Corrupt {
                tid: id,
                block: pos,
                what: "the log runs all the way around the journal without ending".into(),
                kind: Corruption::Endless,
            };
        }
        let here = pos;
        if let Err(e) = w.read(here, &mut buf) {
            break LogEnd::Corrupt {
                tid: id,
                block: here,
                what: e.to_string(),
                kind: Corruption::Unreadable,
            };
        }
        advance(&mut pos, &mut consumed, &mut wrapped);
        let Some(h) = descriptor::header(&buf) else {
            break end_of_log(in_txn, id, here, "no journal magic".into());
        };
        if h.sequence != id {
            break end_of_log(
                in_txn,
                id,
                here,
                format!("a block of transaction {}", h.sequence),
            );
        }
        match h.block_type {
            superblock::DESCRIPTOR_BLOCK => {
                in_txn = true;
                if v23 && bad_meta.is_none() && !descriptor::tail_ok(&buf, w.seed) {
                    bad_meta = Some(here);
                }
                let tags = descriptor::tags(&buf, &w.fmt);
                let check = bad_meta.is_none() && csum != Csum::None;
                if check && csum == Csum::V1 {
                    crc = crc32_be(crc, &buf);
                }
                for t in &tags {
                    let q = pos;
                    advance(&mut pos, &mut consumed, &mut wrapped);
                    if !check {
                        continue;
                    }
                    if let Err(e) = w.read(q, &mut data) {
                        break 'walk LogEnd::Corrupt {
                            tid: id,
                            block: q,
                            what: e.to_string(),
                            kind: Corruption::Unreadable,
                        };
                    }
                    if csum == Csum::V1 {
                        crc = crc32_be(crc, &data);
                    } else if !descriptor::tag_ok(t, &data, id, w.seed, csum) {
                        break 'walk LogEnd::Corrupt {
                            tid: id,
                            block: q,
                            what: format!(
                                "the journal copy of filesystem block {} fails its checksum",
                                t.block
                            ),
                            kind: Corruption::Data,
                        };
                    }
                }
            }
            superblock::COMMIT_BLOCK => {
                let Some(c) = commit::parse(&buf) else {
                    break end_of_log(in_txn, id, here, "a short commit block".into());
                };
                if let Some(b) = bad_meta {
                    if c.commit_sec >= last_time {
                        break LogEnd::Corrupt {
                            tid: id,
                            block: b,
                            what: "a descriptor or revoke block fails its checksum".into(),
                            kind: Corruption::Metadata,
                        };
                    }
                    break LogEnd::Stale { tid: id, block: b };
                }
                let ok = match csum {
                    Csum::V1 => c.v1_ok(crc),
                    Csum::V2 | Csum::V3 => {
                        commit::v23_ok(&buf, w.seed) || {
                            // Written only in part: accepted, as Linux 6.x accepts it.
                            let partial = commit::v23_header_ok(&buf, w.seed);
                            if partial {
                                partial_commits.push(id);
                            }
                            partial
                        }
                    }
                    Csum::None => true,
                };
                if !ok {
                    if c.commit_sec < last_time {
                        break LogEnd::Stale {
                            tid: id,
                            block: here,
                        };
                    }
                    break LogEnd::Corrupt {
                        tid: id,
                        block: here,
                        what: "its commit block fails its checksum".into(),
                        kind: Corruption::Commit,
                    };
                }
                if let Some((b, e)) = bad_revoke.take() {
                    break LogEnd::Corrupt {
                        tid: id,
                        block: b,
                        what: e,
                        kind: Corruption::Revoke,
                    };
                }
                crc = !0;
                last_time = c.commit_sec;
                id = id.wrapping_add(1);
                transactions += 1;
                in_txn = false;
                wrapped_committed = wrapped;
            }
            superblock::REVOKE_BLOCK => {
                in_txn = true;
                if v23 && bad_meta.is_none() && !descriptor::tail_ok(&buf, w.seed) {
                    bad_meta = Some(here);
                }
                if let Err(e) = revoke::records(&buf, w.fmt.is64, w.fmt.tail()) {
                    bad_revoke.get_or_insert((here, e.to_string()));
                }
            }
            t => break end_of_log(in_txn, id, here, format!("a block of unknown type {t}")),
        }
    };
    // A partly written commit that the scan then stopped at is not replayed either.
    partial_commits.retain(|&t| tid_gt(id, t));
    Scanned {
        end_tid: id,
        transactions,
        end,
        wrapped: wrapped_committed,
        partial_commits,
    }
}

/// Walks the blocks of transactions `sequence..end_tid` again (passes 2 and 3), handing each
/// descriptor's tags (with the journal block of each copy) or revoke block's records to `f`.
fn walk_committed(
    w: &Walk,
    end_tid: u32,
    f: &mut dyn FnMut(u32, Block) -> Result<(), JournalError>,
) -> Result<(), JournalError> {
    let mut id = w.sb.sequence;
    let mut pos = u64::from(w.sb.start);
    let mut consumed = 0u64;
    let mut buf = vec![0u8; w.bs];
    while tid_gt(end_tid, id) {
        if consumed >= w.log_len() {
            return Err(JournalError::Inconsistent(pos));
        }
        let here = pos;
        w.read(here, &mut buf)?;
        pos = w.wrap(pos + 1);
        consumed += 1;
        let h = descriptor::header(&buf)
            .filter(|h| h.sequence == id)
            .ok_or(JournalError::Inconsistent(here))?;
        match h.block_type {
            superblock::DESCRIPTOR_BLOCK => {
                let tags = descriptor::tags(&buf, &w.fmt);
                let mut copies = Vec::with_capacity(tags.len());
                for t in tags {
                    copies.push((t, pos));
                    pos = w.wrap(pos + 1);
                    consumed += 1;
                }
                f(id, Block::Tags(copies))?;
            }
            superblock::COMMIT_BLOCK => id = id.wrapping_add(1),
            superblock::REVOKE_BLOCK => {
                let r = revoke::records(&buf, w.fmt.is64, w.fmt.tail())
                    .map_err(|_| JournalError::Inconsistent(here))?;
                f(id, Block::Revoke(r))?;
            }
            _ => return Err(JournalError::Inconsistent(here)),
        }
    }
    Ok(())
}

enum Block {
    /// Each tag with the journal block holding its copy.
    Tags(Vec<(Tag, u64)>),
    Revoke(Vec<u64>),
}

/// Fast commits for `tid` in the fast-commit area: its first block starts with ext4's
/// `EXT4_FC_TAG_HEAD` record (`struct ext4_fc_tl` then `struct ext4_fc_head`, little-endian)
/// naming that transaction, as `ext4_fc_replay_scan` requires.
fn fast_commits(w: &Walk, fc_first: u64, tid: u32) -> bool {
    let mut b = vec![0u8; w.bs];
    if w.read(fc_first, &mut b).is_err() {
        return false;
    }
    let tag = u16::from_le_bytes([b[0], b[1]]);
    let len = u16::from_le_bytes([b[2], b[3]]);
    let fc_tid = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
    tag == 9 && len >= 8 && fc_tid == tid
}

/// Replays the journal `log` of a filesystem with `fs_block_size`-byte blocks, in memory.
/// Errors mean no replay at all; a replay that stopped early says so in [`Replay::end`].
pub fn replay(log: &dyn Log, fs_block_size: u64) -> Result<Replay, JournalError> {
    let bs = usize::try_from(fs_block_size).unwrap_or(usize::MAX);
    if !(superblock::SIZE..=65536).contains(&bs) {
        return Err(JournalError::BlockSize {
            journal: 0,
            fs: fs_block_size,
        });
    }
    let mut first_block = vec![0u8; bs];
    if log.blocks() == 0 {
        return Err(JournalError::TooShort {
            maxlen: 0,
            blocks: 0,
        });
    }
    log.read(0, &mut first_block)?;
    let sb = JournalSuperblock::parse(&first_block)?;
    // journal_get_superblock / journal_load_superblock.
    if u64::from(sb.block_size) != fs_block_size {
        return Err(JournalError::BlockSize {
            journal: sb.block_size,
            fs: fs_block_size,
        });
    }
    if u64::from(sb.maxlen) > log.blocks() {
        return Err(JournalError::TooShort {
            maxlen: sb.maxlen,
            blocks: log.blocks(),
        });
    }
    let len = u64::from(sb.maxlen);
    if sb.first == 0 || u64::from(sb.first) >= len {
        return Err(JournalError::BadFirst {
            first: sb.first,
            len,
        });
    }
    let mut last = len;
    let mut fc_first = None;
    if sb.fast_commit() {
        let fc = if sb.num_fc_blocks == 0 {
            superblock::DEFAULT_FAST_COMMIT_BLOCKS
        } else {
            sb.num_fc_blocks
        };
        // e2fsck's e2fsck_journal_load refuses a log shorter than JBD2_MIN_JOURNAL_BLOCKS.
        if sb.maxlen.saturating_sub(fc) < superblock::MIN_JOURNAL_BLOCKS
            || u64::from(sb.maxlen - fc) <= u64::from(sb.first)
        {
            return Err(JournalError::FastCommitArea {
                maxlen: sb.maxlen,
                fc,
            });
        }
        last = u64::from(sb.maxlen - fc);
        fc_first = Some(last + 1);
    }
    let w = Walk {
        log,
        sb: &sb,
        fmt: TagFormat::of(&sb),
        seed: sb.csum_seed(),
        bs,
        first: u64::from(sb.first),
        last,
        len,
    };
    let mut r = Replay {
        journal: sb.clone(),
        first_tid: sb.sequence,
        end_tid: sb.sequence,
        transactions: 0,
        writes: 0,
        revoke_records: 0,
        revoked_blocks: 0,
        wrapped: false,
        end: LogEnd::Empty,
        fast_commits: None,
        partial_commits: Vec::new(),
        overlay: Overlay::new(fs_block_size),
    };
    if sb.start == 0 {
        return Ok(r);
    }
    if u64::from(sb.start) < w.first || u64::from(sb.start) >= w.last {
        return Err(JournalError::BadStart {
            start: sb.start,
            first: w.first,
            last: w.last,
        });
    }
    let s = scan(&w);
    r.end_tid = s.end_tid;
    r.transactions = s.transactions;
    r.end = s.end;
    r.wrapped = s.wrapped;
    r.partial_commits = s.partial_commits;
    // Pass 2: the newest copy of every block.
    let overlay = &mut r.overlay;
    let writes = &mut r.writes;
    walk_committed(&w, s.end_tid, &mut |tid, b| {
        if let Block::Tags(copies) = b {
            for (t, q) in copies {
                overlay.insert(t.block, log.physical(q)?, t.escaped(), tid);
                *writes += 1;
            }
        }
        Ok(())
    })?;
    // Pass 3: revoke records.
    let (records, revoked) = (&mut r.revoke_records, &mut r.revoked_blocks);
    walk_committed(&w, s.end_tid, &mut |tid, b| {
        if let Block::Revoke(blocks) = b {
            for block in blocks {
                *records += 1;
                if overlay.revoke(block, tid) {
                    *revoked += 1;
                }
            }
        }
        Ok(())
    })?;
    if let Some(fc) = fc_first {
        if !r.end.is_corrupt() && fast_commits(&w, fc, r.end_tid) {
            r.fast_commits = Some(r.end_tid);
        }
    }
    Ok(r)
}

/// Replays the internal journal of the filesystem `fs` reads (its on-disk state), in memory.
pub fn replay_fs(fs: &RawFs) -> Result<Replay, JournalError> {
    let sb = &fs.sb;
    if !sb.has_journal() {
        return Err(JournalError::NoJournal);
    }
    let ino = sb.journal_inum;
    if ino == 0 {
        return Err(JournalError::External(super::superblock::format_uuid(
            &sb.journal_uuid,
        )));
    }
    let err = |what: String| JournalError::Inode { ino, what };
    let inode = fs.inode(ino).map_err(|e| err(e.to_string()))?;
    // ext4_get_journal_inode: a deleted journal inode is refused.
    if inode.mode == 0 || inode.links_count == 0 {
        return Err(err("it is not in use".into()));
    }
    if inode.file_type() != crate::fs::FileType::Regular {
        return Err(err("it is not a regular file".into()));
    }
    let mapping = fs.map(&inode).map_err(|e| err(e.to_string()))?;
    // Each journal block must have a filesystem block of its own (e2fsck flags shared blocks):
    // then walking the whole log reads each block of the volume at most once, however long
    // the journal claims to be.
    let mut by_physical: Vec<&Run> = mapping.runs.iter().collect();
    by_physical.sort_by_key(|r| r.physical);
    for w in by_physical.windows(2) {
        if w[0].physical.saturating_add(w[0].len) > w[1].physical {
            return Err(err(format!(
                "its block map uses filesystem block {} twice",
                w[1].physical
            )));
        }
    }
    let bs = fs.block_size();
    let log = MappedLog::new(
        fs.source(),
        bs,
        mapping.runs,
        inode.size / bs,
        sb.blocks_count,
    );
    replay(&log, bs)
}

#[cfg(test)]
mod tests;
