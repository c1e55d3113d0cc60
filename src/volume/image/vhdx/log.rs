//! The VHDX log ([MS-VHDX] 2.3: "Log"), replayed in memory. A VHDX left by a host that crashed
//! (the usual state of a detached Hyper-V disk) has a non-zero log GUID in its header and log
//! entries that must be applied before its metadata and BAT are consistent. Writing the
//! replay back, as Hyper-V and qemu do on a read-write open, is not an option here: the entries
//! are applied to an in-memory overlay of the file instead.
//!
//! The active sequence is found as the specification's "Log Replay" section describes (and as
//! qemu's `block/vhdx-log.c: vhdx_log_search` does): valid entries (signature, CRC-32C over the
//! whole entry, the header's log GUID) that follow one another with consecutive sequence
//! numbers; the one whose last entry has the highest sequence number, replayed from the entry
//! its tail names.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::checksum::crc32c;
use crate::volume::VolumeError;
use crate::volume::image::bytes::{guid_le, le32, le64, slice};
use crate::volume::image::{ImageError, read_meta};
use crate::volume::source::{BlockSource, check_range};

const F: &str = "vhdx";
const SECTOR: u64 = 4096;
/// Largest log replayed (Hyper-V and qemu make 1 MiB logs).
pub const MAX_LOG_BYTES: u64 = 16 * 1024 * 1024;

/// One valid log entry.
#[derive(Clone, Debug)]
struct Entry {
    /// Offset of the entry in the log.
    at: u64,
    len: u64,
    tail: u64,
    seq: u64,
    last_file_offset: u64,
    ops: Vec<Op>,
}

#[derive(Clone, Debug)]
enum Op {
    Data { offset: u64, bytes: Box<[u8]> },
    Zero { offset: u64, len: u64 },
}

/// `len` bytes of the circular log starting at `at`.
fn circular(log: &[u8], at: u64, len: u64) -> Option<Vec<u8>> {
    let n = log.len() as u64;
    if len > n || at >= n {
        return None;
    }
    let mut out = Vec::with_capacity(len as usize);
    let first = (n - at).min(len);
    out.extend_from_slice(log.get(at as usize..(at + first) as usize)?);
    out.extend_from_slice(log.get(..(len - first) as usize)?);
    Some(out)
}

/// The entry at `at` if it is valid for this log GUID.
fn entry_at(log: &[u8], at: u64, guid: &str) -> Option<Entry> {
    let head = circular(log, at, SECTOR)?;
    if slice(&head, 0, 4) != b"loge" {
        return None;
    }
    let len = u64::from(le32(&head, 8));
    let tail = u64::from(le32(&head, 12));
    let seq = le64(&head, 16);
    let count = u64::from(le32(&head, 24));
    if len == 0 || len % SECTOR != 0 || tail % SECTOR != 0 || seq == 0 || guid_le(&head, 32) != guid
    {
        return None;
    }
    let mut e = circular(log, at, len)?;
    let want = le32(&e, 4);
    e.get_mut(4..8)?.fill(0);
    if crc32c(&e) != want {
        return None;
    }
    let desc_sectors = (64 + 32 * count).div_ceil(SECTOR);
    let mut ops = Vec::new();
    let mut data_sector = desc_sectors;
    for i in 0..count {
        let d = slice(&e, (64 + 32 * i) as usize, 32);
        match slice(d, 0, 4) {
            b"zero" => {
                let len = le64(d, 8);
                let offset = le64(d, 16);
                if le64(d, 24) != seq || len % SECTOR != 0 || offset % SECTOR != 0 {
                    return None;
                }
                ops.push(Op::Zero { offset, len });
            }
            b"desc" => {
                let offset = le64(d, 16);
                if le64(d, 24) != seq || offset % SECTOR != 0 {
                    return None;
                }
                let s = slice(&e, (data_sector * SECTOR) as usize, SECTOR as usize);
                // A data sector: "data", the high and low halves of the sequence number around
                // 4084 bytes; its first 8 and last 4 bytes are kept in the descriptor.
                if s.len() != SECTOR as usize
                    || slice(s, 0, 4) != b"data"
                    || u64::from(le32(s, 4)) != seq >> 32
                    || u64::from(le32(s, 4092)) != seq & 0xffff_ffff
                {
                    return None;
                }
                let mut bytes = vec![0u8; SECTOR as usize].into_boxed_slice();
                bytes[..8].copy_from_slice(slice(d, 8, 8));
                bytes[8..4092].copy_from_slice(slice(s, 8, 4084));
                bytes[4092..].copy_from_slice(slice(d, 4, 4));
                ops.push(Op::Data { offset, bytes });
                data_sector += 1;
            }
            _ => return None,
        }
    }
    if data_sector * SECTOR != len {
        return None;
    }
    Some(Entry {
        at,
        len,
        tail,
        seq,
        last_file_offset: le64(&head, 56),
        ops,
    })
}

/// The entries of the active sequence, oldest first; empty when there is none.
fn active_sequence(log: &[u8], guid: &str) -> Vec<Entry> {
    let n = log.len() as u64;
    let slots = n / SECTOR;
    let parsed: Vec<Option<Entry>> = (0..slots)
        .map(|s| entry_at(log, s * SECTOR, guid))
        .collect();
    let get = |slot: usize| parsed.get(slot).and_then(|e| e.as_ref());
    // Slots of the best sequence so far, oldest first, and its head's sequence number.
    let mut best: (Vec<usize>, u64) = (Vec::new(), 0);
    for start in 0..slots as usize {
        let Some(first) = get(start) else { continue };
        let mut chain = vec![start];
        let mut last = first;
        while chain.len() < slots as usize {
            let next_at = (last.at + last.len) % n;
            let slot = (next_at / SECTOR) as usize;
            match get(slot) {
                Some(e) if e.seq == last.seq + 1 && slot != start => {
                    chain.push(slot);
                    last = e;
                }
                _ => break,
            }
        }
        // The head's tail must name an entry of the sequence: replay starts there.
        let Some(from) = chain
            .iter()
            .position(|&s| get(s).is_some_and(|e| e.at == last.tail))
        else {
            continue;
        };
        if best.0.is_empty() || last.seq > best.1 {
            best = (chain.split_off(from), last.seq);
        }
    }
    best.0.into_iter().filter_map(|s| get(s).cloned()).collect()
}

/// The image file with the active log sequence applied, in memory.
#[derive(Debug)]
pub struct Replayed {
    base: Arc<dyn BlockSource>,
    size: u64,
    pages: BTreeMap<u64, Box<[u8]>>,
    zeros: Vec<(u64, u64)>,
    /// Entries applied, for the report.
    pub entries: usize,
}

/// Reads the log at `offset` (`length` bytes) and replays the active sequence for `guid`.
pub fn replay(
    base: Arc<dyn BlockSource>,
    offset: u64,
    length: u32,
    guid: &str,
) -> Result<Replayed, ImageError> {
    let length = u64::from(length);
    if length == 0 || length % (1 << 20) != 0 || length > MAX_LOG_BYTES {
        return Err(ImageError::unsupported(
            F,
            format!("a log of {length} bytes (not a multiple of 1 MiB up to 16 MiB)"),
        ));
    }
    let log = read_meta(base.as_ref(), F, "log", offset, length as usize)?;
    let seq = active_sequence(&log, guid);
    if seq.is_empty() {
        return Err(ImageError::corrupt(
            F,
            "the header says the log must be replayed, but the log holds no valid sequence of entries",
        ));
    }
    let mut r = Replayed {
        size: base.size(),
        base,
        pages: BTreeMap::new(),
        zeros: Vec::new(),
        entries: seq.len(),
    };
    for e in seq {
        for op in e.ops {
            match op {
                Op::Data { offset, bytes } => {
                    r.size = r.size.max(offset.saturating_add(SECTOR));
                    r.pages.insert(offset, bytes);
                }
                Op::Zero { offset, len } => {
                    let end = offset.saturating_add(len);
                    let inside: Vec<u64> = r.pages.range(offset..end).map(|(k, _)| *k).collect();
                    for k in inside {
                        r.pages.remove(&k);
                    }
                    r.zeros.push((offset, end));
                    r.size = r.size.max(end);
                }
            }
        }
        r.size = r.size.max(e.last_file_offset);
    }
    Ok(r)
}

impl Replayed {
    fn read_page_part(&self, pos: u64, dst: &mut [u8]) -> Result<(), VolumeError> {
        let page = pos - pos % SECTOR;
        let inner = (pos - page) as usize;
        if let Some(p) = self.pages.get(&page) {
            if let Some(s) = p.get(inner..inner + dst.len()) {
                dst.copy_from_slice(s);
                return Ok(());
            }
        }
        if self.zeros.iter().any(|&(a, b)| pos >= a && pos < b) {
            dst.fill(0);
            return Ok(());
        }
        // The base file, and zeros where the log extended it.
        let have = self.base.size().saturating_sub(pos).min(dst.len() as u64) as usize;
        if have > 0 {
            self.base.read_exact_at(pos, &mut dst[..have])?;
        }
        dst[have..].fill(0);
        Ok(())
    }
}

impl BlockSource for Replayed {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        check_range(offset, buf.len(), self.size)?;
        let end = offset + buf.len() as u64;
        let first_page = offset - offset % SECTOR;
        let touched = self.pages.range(first_page..end).next().is_some()
            || self.zeros.iter().any(|&(a, b)| a < end && b > offset)
            || end > self.base.size();
        if !touched {
            return self.base.read_exact_at(offset, buf);
        }
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let n = ((SECTOR - pos % SECTOR) as usize).min(buf.len() - done);
            self.read_page_part(pos, &mut buf[done..done + n])?;
            done += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::source::MemSource;

    const GUID: [u8; 16] = [7; 16];

    /// One entry at `at` holding one data page (`fill` at `page`) and optionally a zero range.
    fn entry(seq: u64, tail: u32, page: u64, fill: u8, zero: Option<(u64, u64)>) -> Vec<u8> {
        let count = 1 + u32::from(zero.is_some());
        let mut e = vec![0u8; 2 * 4096];
        e[0..4].copy_from_slice(b"loge");
        e[8..12].copy_from_slice(&(2u32 * 4096).to_le_bytes());
        e[12..16].copy_from_slice(&tail.to_le_bytes());
        e[16..24].copy_from_slice(&seq.to_le_bytes());
        e[24..28].copy_from_slice(&count.to_le_bytes());
        e[32..48].copy_from_slice(&GUID);
        e[64..68].copy_from_slice(b"desc");
        e[68..72].copy_from_slice(&[fill; 4]);
        e[72..80].copy_from_slice(&[fill; 8]);
        e[80..88].copy_from_slice(&page.to_le_bytes());
        e[88..96].copy_from_slice(&seq.to_le_bytes());
        if let Some((off, len)) = zero {
            e[96..100].copy_from_slice(b"zero");
            e[104..112].copy_from_slice(&len.to_le_bytes());
            e[112..120].copy_from_slice(&off.to_le_bytes());
            e[120..128].copy_from_slice(&seq.to_le_bytes());
        }
        e[4096..4100].copy_from_slice(b"data");
        e[4100..4104].copy_from_slice(&((seq >> 32) as u32).to_le_bytes());
        e[4104..8188].fill(fill);
        e[8188..8192].copy_from_slice(&(seq as u32).to_le_bytes());
        let c = crc32c(&e);
        e[4..8].copy_from_slice(&c.to_le_bytes());
        e
    }

    #[test]
    fn replays_the_newest_sequence_from_its_tail() {
        let log_at = 1u64 << 20;
        let mut file = vec![0x11u8; 3 << 20];
        let guid = guid_le(&GUID, 0);
        let mut put = |at: usize, e: Vec<u8>| {
            file[log_at as usize + at..log_at as usize + at + e.len()].copy_from_slice(&e)
        };
        // The active sequence 10, 11 (the head's tail names entry 10), and a stale entry 3.
        put(0, entry(10, 0, 0, 0xAA, None));
        put(8192, entry(11, 0, 0, 0xBB, Some((8192, 4096))));
        put(65536, entry(3, 65536, 4096, 0xEE, None));
        let base: Arc<dyn BlockSource> = Arc::new(MemSource::new(file));
        let r = replay(base.clone(), log_at, 1 << 20, &guid).unwrap();
        assert_eq!(r.entries, 2);
        let mut b = vec![0u8; 3 * 4096];
        r.read_exact_at(0, &mut b).unwrap();
        assert!(b[..4096].iter().all(|&c| c == 0xBB), "the newer write wins");
        assert!(
            b[4096..8192].iter().all(|&c| c == 0x11),
            "the stale entry is not applied"
        );
        assert!(b[8192..].iter().all(|&c| c == 0), "the zero descriptor");
        // A damaged checksum drops entry 11: only 10 applies.
        let mut damaged = vec![0x11u8; 3 << 20];
        let e10 = entry(10, 0, 0, 0xAA, None);
        let mut e11 = entry(11, 0, 0, 0xBB, None);
        e11[5000] ^= 1;
        damaged[1 << 20..(1 << 20) + 8192].copy_from_slice(&e10);
        damaged[(1 << 20) + 8192..(1 << 20) + 16384].copy_from_slice(&e11);
        let r = replay(Arc::new(MemSource::new(damaged)), log_at, 1 << 20, &guid).unwrap();
        let mut p = vec![0u8; 4096];
        r.read_exact_at(0, &mut p).unwrap();
        assert!(p.iter().all(|&c| c == 0xAA));
        // The wrong GUID: no sequence at all.
        assert!(
            replay(
                base,
                log_at,
                1 << 20,
                "00000000-0000-0000-0000-000000000001"
            )
            .is_err()
        );
    }
}
