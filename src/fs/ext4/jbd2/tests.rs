//! Replay on journals built here block by block (the real-journal tests, made by the kernel
//! and debugfs and checked against e2fsck, are in `tests/journal_replay.rs`).

use super::descriptor::{FLAG_ESCAPE, FLAG_LAST_TAG, FLAG_SAME_UUID};
use super::superblock::*;
use super::*;
use crate::checksum::crc32c_raw;

const BS: usize = 1024;

/// A journal under construction: block 0 is the superblock, the log is blocks 1..n.
struct J {
    blocks: Vec<Vec<u8>>,
    incompat: u32,
    compat: u32,
    start: u32,
    first_seq: u32,
    seq: u32,
    pos: usize,
    seed: u32,
}

fn put_be32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_be_bytes());
}

impl J {
    fn new(n: usize, incompat: u32, compat: u32, start: u32, seq: u32) -> J {
        J {
            blocks: vec![vec![0u8; BS]; n],
            incompat,
            compat,
            start,
            first_seq: seq,
            seq,
            pos: start as usize,
            seed: crc32c_raw(!0, b"0123456789abcdef"),
        }
    }

    fn v23(&self) -> bool {
        self.incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) != 0
    }

    fn header(&self, t: u32) -> Vec<u8> {
        let mut b = vec![0u8; BS];
        put_be32(&mut b, 0, MAGIC);
        put_be32(&mut b, 4, t);
        put_be32(&mut b, 8, self.seq);
        b
    }

    fn tail(&self, b: &mut [u8]) {
        if self.v23() {
            let c = crc32c_raw(crc32c_raw(self.seed, &b[..BS - 4]), &[0; 4]);
            put_be32(b, BS - 4, c);
        }
    }

    /// Writes block `b` at the log position, wrapping at the end of the journal.
    fn put(&mut self, b: Vec<u8>) -> usize {
        let at = self.pos;
        self.blocks[at] = b;
        self.pos += 1;
        if self.pos >= self.blocks.len() {
            self.pos = 1;
        }
        at
    }

    fn revoke(&mut self, blocks: &[u64]) {
        let mut b = self.header(REVOKE_BLOCK);
        let is64 = self.incompat & INCOMPAT_64BIT != 0;
        let mut o = 16;
        for &x in blocks {
            if is64 {
                b[o..o + 8].copy_from_slice(&x.to_be_bytes());
                o += 8;
            } else {
                put_be32(&mut b, o, x as u32);
                o += 4;
            }
        }
        put_be32(&mut b, 12, o as u32);
        self.tail(&mut b);
        self.put(b);
    }

    /// A descriptor with one tag per (block, data); returns the journal blocks of the copies.
    fn descriptor(&mut self, writes: &[(u64, Vec<u8>)]) -> (Vec<usize>, u32) {
        let f = TagFormat::of(&self.sb());
        let mut d = self.header(DESCRIPTOR_BLOCK);
        let mut p = 12;
        let mut crc = crate::checksum::crc32_be(!0, &[]);
        let mut datas = Vec::new();
        for (i, (block, data)) in writes.iter().enumerate() {
            let mut data = data.clone();
            let mut flags = if i > 0 { FLAG_SAME_UUID } else { 0 };
            if data[..4] == MAGIC.to_be_bytes() {
                data[..4].fill(0);
                flags |= FLAG_ESCAPE;
            }
            if i + 1 == writes.len() {
                flags |= FLAG_LAST_TAG;
            }
            let t = &mut d[p..p + f.bytes];
            put_be32(t, 0, *block as u32);
            if f.is64 {
                put_be32(t, 8, (*block >> 32) as u32);
            }
            t[6..8].copy_from_slice(&flags.to_be_bytes());
            let c = crc32c_raw(crc32c_raw(self.seed, &self.seq.to_be_bytes()), &data);
            match f.csum {
                Csum::V3 => put_be32(t, 12, c),
                Csum::V2 => t[4..6].copy_from_slice(&(c as u16).to_be_bytes()),
                _ => {}
            }
            p += f.bytes + if i == 0 { 16 } else { 0 };
            datas.push(data);
        }
        self.tail(&mut d);
        crc = crate::checksum::crc32_be(crc, &d);
        self.put(d);
        let mut at = Vec::new();
        for data in datas {
            crc = crate::checksum::crc32_be(crc, &data);
            at.push(self.put(data));
        }
        (at, crc)
    }

    fn commit(&mut self, crc: u32, time: u64) -> usize {
        let mut c = self.header(COMMIT_BLOCK);
        c[48..56].copy_from_slice(&time.to_be_bytes());
        if self.compat & COMPAT_CHECKSUM != 0 {
            c[12] = commit::CHKSUM_TYPE_CRC32;
            c[13] = commit::CHKSUM_SIZE_CRC32;
            put_be32(&mut c, 16, crc);
        }
        if self.v23() {
            let x = crc32c_raw(
                crc32c_raw(crc32c_raw(self.seed, &c[..16]), &[0; 4]),
                &c[20..],
            );
            put_be32(&mut c, 16, x);
        }
        self.seq += 1;
        self.put(c)
    }

    /// A whole transaction: revoke records, one descriptor, its copies, the commit.
    fn txn(&mut self, writes: &[(u64, Vec<u8>)], revokes: &[u64], time: u64) -> Vec<usize> {
        if !revokes.is_empty() {
            self.revoke(revokes);
        }
        let (at, crc) = self.descriptor(writes);
        self.commit(crc, time);
        at
    }

    fn sb(&self) -> JournalSuperblock {
        JournalSuperblock::parse(&self.sb_bytes()).unwrap()
    }

    fn sb_bytes(&self) -> Vec<u8> {
        let mut b = super::superblock::tests::sb_bytes(
            self.incompat,
            self.compat,
            self.start,
            self.start_seq(),
        );
        b[0xC..0x10].copy_from_slice(&(BS as u32).to_be_bytes());
        b[0x10..0x14].copy_from_slice(&(self.blocks.len() as u32).to_be_bytes());
        if self.v23() {
            let c = checksum(&b);
            b[0xFC..0x100].copy_from_slice(&c.to_be_bytes());
        }
        b
    }

    fn start_seq(&self) -> u32 {
        self.first_seq
    }

    fn image(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut sb = self.sb_bytes();
        sb.resize(BS, 0);
        out.extend_from_slice(&sb);
        for b in &self.blocks[1..] {
            out.extend_from_slice(b);
        }
        out
    }
}

fn data(c: u8) -> Vec<u8> {
    vec![c; BS]
}

fn run(img: &[u8]) -> Result<Replay, JournalError> {
    let v = img.to_vec();
    let log = MappedLog::identity(&v, BS as u64);
    replay(&log, BS as u64)
}

fn from(r: &Replay, block: u64) -> Option<u64> {
    r.overlay.get(block).map(|c| c.from)
}

#[test]
fn replays_committed_transactions_and_drops_the_torn_one() {
    for (incompat, compat) in [
        (0, 0),
        (INCOMPAT_64BIT | INCOMPAT_REVOKE, 0),
        (0, COMPAT_CHECKSUM),
        (INCOMPAT_CSUM_V2, 0),
        (INCOMPAT_CSUM_V2 | INCOMPAT_64BIT, 0),
        (INCOMPAT_CSUM_V3 | INCOMPAT_64BIT, 0),
        (INCOMPAT_CSUM_V3, 0),
    ] {
        let mut j = J::new(64, incompat, compat, 1, 100);
        let a = j.txn(&[(500, data(1)), (501, data(2))], &[], 10);
        let b = j.txn(&[(500, data(3))], &[], 11);
        // Cut off: a descriptor and its data, no commit block.
        j.descriptor(&[(502, data(4))]);
        let r = run(&j.image()).unwrap();
        let what = format!("{incompat:#x}/{compat:#x}");
        assert_eq!(r.transactions, 2, "{what}: {:?}", r.end);
        assert_eq!((r.first_tid, r.end_tid), (100, 102));
        assert!(
            matches!(r.end, LogEnd::Incomplete { tid: 102, .. }),
            "{what}: {:?}",
            r.end
        );
        assert_eq!(
            from(&r, 500),
            Some(b[0] as u64),
            "{what}: the last copy wins"
        );
        assert_eq!(from(&r, 501), Some(a[1] as u64));
        assert_eq!(from(&r, 502), None, "{what}: uncommitted");
        assert_eq!(r.writes, 3);
        assert!(!r.wrapped);
    }
}

#[test]
fn empty_journal_replays_nothing() {
    let j = J::new(64, 0, 0, 0, 100);
    let r = run(&j.image()).unwrap();
    assert_eq!(r.end, LogEnd::Empty);
    assert!(r.overlay.is_empty());
}

#[test]
fn revoke_records_hide_older_copies_only() {
    let mut j = J::new(64, INCOMPAT_REVOKE | INCOMPAT_CSUM_V3, 0, 1, 100);
    j.txn(&[(700, data(1)), (701, data(2))], &[], 1);
    j.txn(&[(702, data(3))], &[700], 2);
    let c = j.txn(&[(701, data(4))], &[701], 3);
    let r = run(&j.image()).unwrap();
    assert_eq!(r.transactions, 3);
    assert!(matches!(r.end, LogEnd::End { tid: 103, .. }), "{:?}", r.end);
    assert_eq!(from(&r, 700), None, "revoked by a later transaction");
    assert_eq!(
        from(&r, 701),
        None,
        "a revoke in the same transaction covers its own copy (kernel: tag tid <= revoke tid)"
    );
    assert!(from(&r, 702).is_some());
    assert_eq!((r.revoke_records, r.revoked_blocks), (2, 2));
    let _ = c;

    // A copy newer than the revoke stays.
    let mut j = J::new(64, INCOMPAT_REVOKE | INCOMPAT_64BIT, 0, 1, 100);
    j.txn(&[(1 << 33, data(1))], &[], 1);
    j.txn(&[(9, data(2))], &[1 << 33], 2);
    let at = j.txn(&[(1 << 33, data(3))], &[], 3);
    let r = run(&j.image()).unwrap();
    assert_eq!(from(&r, 1 << 33), Some(at[0] as u64));
}

#[test]
fn escaped_blocks_are_flagged() {
    let mut j = J::new(64, INCOMPAT_CSUM_V3, 0, 1, 100);
    let mut d = data(9);
    d[..4].copy_from_slice(&MAGIC.to_be_bytes());
    j.txn(&[(40, d)], &[], 1);
    let r = run(&j.image()).unwrap();
    assert_eq!(r.transactions, 1, "{:?}", r.end);
    assert!(r.overlay.get(40).unwrap().escaped);
}

#[test]
fn the_log_wraps_around_the_end() {
    let mut j = J::new(16, INCOMPAT_CSUM_V3, 0, 12, 100);
    j.txn(&[(30, data(1)), (31, data(2))], &[], 1); // blocks 12..=15
    let at = j.txn(&[(32, data(3)), (30, data(4))], &[], 2); // blocks 1..=4, wrapped
    let r = run(&j.image()).unwrap();
    assert_eq!(r.transactions, 2, "{:?}", r.end);
    assert!(r.wrapped);
    assert_eq!(at, [2, 3]);
    assert_eq!(from(&r, 30), Some(3));
    assert_eq!(from(&r, 32), Some(2));
}

#[test]
fn checksum_failures_stop_the_replay() {
    // v3: a data block changed after its tag was written.
    let mut j = J::new(64, INCOMPAT_CSUM_V3, 0, 1, 100);
    j.txn(&[(10, data(1))], &[], 1);
    let at = j.txn(&[(11, data(2))], &[], 2);
    j.txn(&[(12, data(3))], &[], 3);
    j.blocks[at[0]][100] ^= 1;
    let r = run(&j.image()).unwrap();
    assert_eq!(r.transactions, 1);
    assert!(
        matches!(&r.end, LogEnd::Corrupt { tid: 101, what, .. } if what.contains("block 11")),
        "{:?}",
        r.end
    );
    assert!(r.end.is_corrupt());
    assert!(from(&r, 11).is_none() && from(&r, 12).is_none());

    // v1: the transaction's crc32_be in the commit block no longer matches.
    let mut j = J::new(64, 0, COMPAT_CHECKSUM, 1, 100);
    j.txn(&[(10, data(1))], &[], 1);
    let at = j.txn(&[(11, data(2))], &[], 2);
    j.blocks[at[0]][0] ^= 1;
    let r = run(&j.image()).unwrap();
    assert_eq!(r.transactions, 1);
    assert!(
        matches!(&r.end, LogEnd::Corrupt { tid: 101, what, .. } if what.contains("commit")),
        "{:?}",
        r.end
    );

    // v2/v3: a descriptor that fails its tail checksum in a transaction committed later than
    // the one before is corruption; committed earlier, it is a stale leftover: the end.
    for (time, corrupt) in [(5, true), (0, false)] {
        let mut j = J::new(64, INCOMPAT_CSUM_V2, 0, 1, 100);
        j.txn(&[(10, data(1))], &[], 3);
        let d = j.pos;
        j.txn(&[(11, data(2))], &[], time);
        j.blocks[d][200] ^= 1;
        let r = run(&j.image()).unwrap();
        assert_eq!(r.transactions, 1);
        assert_eq!(r.end.is_corrupt(), corrupt, "{:?}", r.end);
        if !corrupt {
            assert!(
                matches!(r.end, LogEnd::Stale { tid: 101, .. }),
                "{:?}",
                r.end
            );
        }
    }

    // A commit block that fails its own checksum (in its header: a torn tail alone is
    // accepted, see below).
    let mut j = J::new(64, INCOMPAT_CSUM_V3, 0, 1, 100);
    j.txn(&[(10, data(1))], &[], 1);
    j.txn(&[(11, data(2))], &[], 2);
    let last = j.pos - 1;
    j.blocks[last][40] ^= 1;
    let r = run(&j.image()).unwrap();
    assert_eq!(r.transactions, 1);
    assert!(r.end.is_corrupt(), "{:?}", r.end);
}

#[test]
fn a_bad_revoke_count_matters_only_when_committed() {
    let mut j = J::new(64, INCOMPAT_REVOKE, 0, 1, 100);
    j.txn(&[(10, data(1))], &[], 1);
    let rv = j.pos;
    j.txn(&[(11, data(2))], &[10], 2);
    put_be32(&mut j.blocks[rv], 12, 5000);
    let r = run(&j.image()).unwrap();
    assert_eq!(r.transactions, 1);
    assert!(
        matches!(&r.end, LogEnd::Corrupt { tid: 101, what, .. } if what.contains("revoke")),
        "{:?}",
        r.end
    );
    // The same block in the transaction being written when the host stopped.
    let mut j = J::new(64, INCOMPAT_REVOKE, 0, 1, 100);
    j.txn(&[(10, data(1))], &[], 1);
    let rv = j.pos;
    j.revoke(&[10]);
    put_be32(&mut j.blocks[rv], 12, 5000);
    let r = run(&j.image()).unwrap();
    assert_eq!(r.transactions, 1);
    assert!(
        matches!(r.end, LogEnd::Incomplete { tid: 101, .. }),
        "{:?}",
        r.end
    );
    assert!(from(&r, 10).is_some());
}

#[test]
fn sequence_and_type_end_the_log() {
    let mut j = J::new(64, 0, 0, 1, 100);
    j.txn(&[(10, data(1))], &[], 1);
    // A block of an older pass of the log: its sequence is not the expected one.
    j.seq = 50;
    j.txn(&[(11, data(2))], &[], 2);
    let r = run(&j.image()).unwrap();
    assert_eq!(r.transactions, 1);
    assert!(
        matches!(&r.end, LogEnd::End { tid: 101, why, .. } if why.contains("transaction 50")),
        "{:?}",
        r.end
    );
    // An unknown block type after a commit ends the log too.
    let mut j = J::new(64, 0, 0, 1, 100);
    j.txn(&[(10, data(1))], &[], 1);
    let b = j.header(6);
    j.put(b);
    let r = run(&j.image()).unwrap();
    assert!(
        matches!(&r.end, LogEnd::End { why, .. } if why.contains("unknown type 6")),
        "{:?}",
        r.end
    );
}

#[test]
fn a_log_that_never_ends_is_corrupt_not_a_hang() {
    // Every block a descriptor of the same transaction with one tag: no commit ever.
    let mut j = J::new(32, 0, 0, 1, 100);
    for i in 1..32 {
        let mut d = j.header(DESCRIPTOR_BLOCK);
        d[18..20].copy_from_slice(&(FLAG_LAST_TAG | FLAG_SAME_UUID).to_be_bytes());
        j.blocks[i] = d;
    }
    let r = run(&j.image()).unwrap();
    assert_eq!(r.transactions, 0);
    assert!(r.end.is_corrupt(), "{:?}", r.end);
}

#[test]
fn superblock_geometry_is_checked() {
    let j = J::new(64, 0, 0, 1, 100);
    let img = j.image();
    let v = img.clone();
    // A filesystem block size other than the journal's.
    let log = MappedLog::identity(&v, 2048);
    assert!(matches!(
        replay(&log, 2048),
        Err(JournalError::BlockSize { journal: 1024, .. })
    ));
    // s_maxlen beyond the journal file.
    let short = img[..32 * BS].to_vec();
    assert!(matches!(run(&short), Err(JournalError::TooShort { .. })));
    // s_first 0, s_start outside the log.
    let mut bad = img.clone();
    put_be32(&mut bad, 0x14, 0);
    assert!(matches!(run(&bad), Err(JournalError::BadFirst { .. })));
    let mut bad = img.clone();
    put_be32(&mut bad, 0x1C, 64);
    assert!(matches!(run(&bad), Err(JournalError::BadStart { .. })));
    let mut bad = img;
    bad[0] = 0;
    assert!(matches!(
        run(&bad),
        Err(JournalError::Superblock(JournalSbError::Magic(_)))
    ));
    assert!(run(&[]).is_err());
}

#[test]
fn fast_commits_after_the_last_commit_are_reported() {
    let n = 1024 + 256 + 8;
    let mut j = J::new(n, INCOMPAT_FAST_COMMIT, 0, 1, 100);
    j.txn(&[(10, data(1))], &[], 1);
    let fc_first = n - 256 + 1;
    let b = &mut j.blocks[fc_first];
    b[0..2].copy_from_slice(&9u16.to_le_bytes());
    b[2..4].copy_from_slice(&8u16.to_le_bytes());
    b[8..12].copy_from_slice(&101u32.to_le_bytes());
    let r = run(&j.image()).unwrap();
    assert_eq!(r.transactions, 1);
    assert_eq!(r.fast_commits, Some(101));
    // Too small a journal for its fast-commit area.
    let j = J::new(300, INCOMPAT_FAST_COMMIT, 0, 1, 100);
    assert!(matches!(
        run(&j.image()),
        Err(JournalError::FastCommitArea { .. })
    ));
}

#[test]
fn mapping_errors_are_precise() {
    let v = vec![0u8; 8 * BS];
    let log = MappedLog::new(
        &v,
        BS as u64,
        vec![
            Run {
                logical: 0,
                physical: 2,
                len: 2,
                uninit: false,
            },
            Run {
                logical: 3,
                physical: 6,
                len: 1,
                uninit: true,
            },
            Run {
                logical: 4,
                physical: 7,
                len: 4,
                uninit: false,
            },
        ],
        8,
        8,
    );
    assert_eq!(log.physical(1), Ok(3));
    assert_eq!(log.physical(2), Err(JournalError::Unmapped(2)));
    assert_eq!(log.physical(3), Err(JournalError::Unwritten { block: 3 }));
    assert!(matches!(
        log.physical(5),
        Err(JournalError::Beyond { block: 5, .. })
    ));
    assert_eq!(log.physical(100), Err(JournalError::Unmapped(100)));
}

#[test]
fn version_1_journals_replay() {
    let mut j = J::new(64, 0, 0, 1, 100);
    let at = j.txn(&[(77, data(5))], &[], 1);
    let mut img = j.image();
    put_be32(&mut img, 4, SUPERBLOCK_V1);
    let r = run(&img).unwrap();
    assert_eq!(r.journal.version, 1);
    assert_eq!(r.transactions, 1, "{:?}", r.end);
    assert_eq!(from(&r, 77), Some(at[0] as u64));
}

#[test]
fn a_commit_block_written_in_part_is_accepted_as_linux_does() {
    let mut j = J::new(64, INCOMPAT_CSUM_V3, 0, 1, 100);
    j.txn(&[(10, data(1))], &[], 1);
    j.txn(&[(11, data(2))], &[], 2);
    let torn = j.pos - 1;
    j.txn(&[(12, data(3))], &[], 3);
    // The sectors after the header hold older bytes.
    j.blocks[torn][512..].fill(0x5A);
    let r = run(&j.image()).unwrap();
    assert_eq!(r.transactions, 3, "{:?}", r.end);
    assert_eq!(r.partial_commits, [101]);
    assert!(from(&r, 12).is_some());
    // A damaged header is corruption.
    j.blocks[torn][30] ^= 1;
    let r = run(&j.image()).unwrap();
    assert_eq!(r.transactions, 1);
    assert!(r.end.is_corrupt(), "{:?}", r.end);
    assert!(r.partial_commits.is_empty());
}
