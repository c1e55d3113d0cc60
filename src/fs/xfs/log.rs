//! Is the internal log clean? The log is a ring of 512-byte basic blocks, each stamped with
//! the cycle (pass) number it was written in; records start with an `xlog_rec_header`
//! (magic 0xFEEDBABE). As in `xfs_log_recover.c: xlog_find_head`/`xlog_find_tail`, the head
//! is where the cycle number drops, the last record before it tells whether the filesystem
//! was unmounted (`xlog_check_unmount_rec`: one operation, flagged `XLOG_UNMOUNT_TRANS`).
//! Anything else means transactions the kernel would replay at the next mount; this reader
//! does not replay them and says so.

use super::be::{u32_at, u64_at};
use super::disk::Disk;

const BB: u64 = 512;
const HEADER_MAGIC: u32 = 0xFEED_BABE;
const UNMOUNT_TRANS: u8 = 0x20;
/// How far back from the head the last record header is looked for: a record is at most 256
/// KiB of data plus its headers, padded to a log stripe unit of at most 256 KiB.
const MAX_BACK: u64 = 2048;
/// `XLOG_HEADER_CYCLE_SIZE`: each extra header block covers this much record data.
const HEADER_CYCLE_SIZE: u64 = 32 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogState {
    /// The last record is an unmount record (or the log is zeroed): nothing to replay.
    Clean,
    /// The log holds records after the last unmount: the filesystem was not unmounted
    /// cleanly, and what is read here predates them.
    Dirty {
        /// Byte offset of the last record in the log, its LSN (cycle, block) and how many
        /// operations it holds.
        head_block: u64,
        cycle: u32,
        detail: String,
    },
    /// The log is on another device (`logdev=`): not on this volume.
    External,
    /// The log could not be read or makes no sense.
    Unreadable(String),
}

struct Log<'a> {
    disk: &'a Disk,
    start: u64,
    bbs: u64,
}

impl Log<'_> {
    fn bb(&self, n: u64) -> Result<Vec<u8>, String> {
        self.disk
            .read_bytes(self.start + (n % self.bbs) * BB, BB as usize)
            .map_err(|e| e.to_string())
    }
    /// `xlog_get_cycle`: the cycle stamp of a block (in a record header, `h_cycle`).
    fn cycle(&self, n: u64) -> Result<u32, String> {
        let b = self.bb(n)?;
        Ok(if u32_at(&b, 0) == HEADER_MAGIC {
            u32_at(&b, 4)
        } else {
            u32_at(&b, 0)
        })
    }
}

/// The state of the filesystem's internal log.
pub fn state(disk: &Disk) -> LogState {
    let sb = disk.sb();
    if sb.logstart == 0 {
        return LogState::External;
    }
    let Some(block) = sb.fsb_to_block(sb.logstart) else {
        return LogState::Unreadable(format!(
            "log start block {} is outside the filesystem",
            sb.logstart
        ));
    };
    let bbs = u64::from(sb.logblocks) * u64::from(sb.blocksize) / BB;
    if bbs < 64 || block + u64::from(sb.logblocks) > sb.dblocks {
        return LogState::Unreadable(format!(
            "log of {} blocks at block {block} does not fit the filesystem",
            sb.logblocks
        ));
    }
    let log = Log {
        disk,
        start: block * u64::from(sb.blocksize),
        bbs,
    };
    match find(&log) {
        Ok(s) => s,
        Err(e) => LogState::Unreadable(e),
    }
}

fn find(log: &Log) -> Result<LogState, String> {
    let first = log.cycle(0)?;
    if first == 0 {
        // Zeroed by xfs_repair -L or mkfs -K: nothing to replay.
        return Ok(LogState::Clean);
    }
    let last = log.cycle(log.bbs - 1)?;
    // The head: the first block of the older cycle (`xlog_find_cycle_start`); when the whole
    // log carries one cycle, the head is at the wrap point.
    let head = if first == last {
        log.bbs
    } else {
        let (mut lo, mut hi) = (0u64, log.bbs - 1);
        // Invariant: cycle(lo) == first, cycle(hi) == last.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if log.cycle(mid)? == first {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    };
    // The last record header before the head, in the head's cycle.
    let mut found = None;
    for back in 1..=MAX_BACK.min(log.bbs) {
        let n = (head + log.bbs - back) % log.bbs;
        let b = log.bb(n)?;
        if u32_at(&b, 0) == HEADER_MAGIC {
            found = Some((n, b));
            break;
        }
    }
    let Some((n, hdr)) = found else {
        return Err(format!(
            "no record header within {MAX_BACK} blocks before the log head at block {head}"
        ));
    };
    let cycle = u32_at(&hdr, 4);
    let version = u32_at(&hdr, 8);
    let num_logops = u32_at(&hdr, 40);
    let h_size = u64::from(u32_at(&hdr, 320));
    let lsn = u64_at(&hdr, 16);
    let tail = u64_at(&hdr, 24);
    let hblks = if version & 2 != 0 && h_size > HEADER_CYCLE_SIZE {
        h_size.div_ceil(HEADER_CYCLE_SIZE)
    } else {
        1
    };
    let data = log.bb(n + hblks)?;
    let flags = data.get(9).copied().unwrap_or(0);
    if num_logops == 1 && flags & UNMOUNT_TRANS != 0 {
        return Ok(LogState::Clean);
    }
    Ok(LogState::Dirty {
        head_block: n,
        cycle,
        detail: format!(
            "the last log record (block {n}, cycle {cycle}, lsn {}/{}, tail {}/{}) holds {num_logops} operation(s) and is not an unmount record",
            lsn >> 32,
            lsn & 0xffff_ffff,
            tail >> 32,
            tail & 0xffff_ffff
        ),
    })
}
