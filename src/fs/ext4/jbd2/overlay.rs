//! The result of a journal replay: which filesystem blocks read from which log copy. Nothing is
//! copied: a replayed block is read from the journal block that holds it, when it is read.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::superblock::MAGIC;
use crate::fs::ext4::raw::BlockRead;

/// Where a replayed block's content is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copy {
    /// The filesystem block of the journal holding it.
    pub from: u64,
    /// Its first four bytes were the journal magic, stored zeroed in the log (`JBD2_FLAG_ESCAPE`).
    pub escaped: bool,
    /// The transaction it came from.
    pub tid: u32,
}

/// Filesystem block → its replayed copy. One entry per block the log rewrites, so it is bounded
/// by the log's length.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overlay {
    bs: u64,
    map: BTreeMap<u64, Copy>,
}

impl Overlay {
    pub fn new(bs: u64) -> Overlay {
        Overlay {
            bs,
            map: BTreeMap::new(),
        }
    }

    pub fn block_size(&self) -> u64 {
        self.bs
    }

    /// Records a later copy of `block` (it replaces any earlier one).
    pub fn insert(&mut self, block: u64, from: u64, escaped: bool, tid: u32) {
        self.map.insert(block, Copy { from, escaped, tid });
    }

    /// A revoke record of transaction `tid` for `block`: drops the block's copy when it is not
    /// newer (the kernel's `jbd2_journal_test_revoke`). True when a copy was dropped.
    pub fn revoke(&mut self, block: u64, tid: u32) -> bool {
        match self.map.get(&block) {
            Some(c) if (c.tid.wrapping_sub(tid) as i32) <= 0 => {
                self.map.remove(&block);
                true
            }
            _ => false,
        }
    }

    pub fn get(&self, block: u64) -> Option<&Copy> {
        self.map.get(&block)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The replayed blocks in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Copy)> {
        self.map.iter().map(|(b, c)| (*b, c))
    }

    /// Replaces, in `buf` (the bytes at byte `offset` of the filesystem as `src` holds them),
    /// the parts of replayed blocks with their copies from the log.
    pub fn patch(&self, src: &dyn BlockRead, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        if self.map.is_empty() || buf.is_empty() || self.bs == 0 {
            return Ok(());
        }
        let end = offset.saturating_add(buf.len() as u64);
        let first = offset / self.bs;
        let last = (end - 1) / self.bs;
        let mut block = Vec::new();
        for (&b, c) in self.map.range(first..=last) {
            if block.is_empty() {
                block = vec![0u8; self.bs as usize];
            }
            let from = c
                .from
                .checked_mul(self.bs)
                .ok_or_else(|| format!("journal copy of block {b} is out of range"))?;
            src.read_at(from, &mut block)?;
            if c.escaped {
                block[..4].copy_from_slice(&MAGIC.to_be_bytes());
            }
            let bstart = b * self.bs;
            let lo = bstart.max(offset);
            let hi = (bstart + self.bs).min(end);
            buf[(lo - offset) as usize..(hi - offset) as usize]
                .copy_from_slice(&block[(lo - bstart) as usize..(hi - bstart) as usize]);
        }
        Ok(())
    }
}

/// A filesystem's bytes as they are after the replay: the source, with the overlay applied.
#[derive(Clone)]
pub struct Replayed<S> {
    pub inner: S,
    pub overlay: Arc<Overlay>,
}

impl<S: BlockRead> BlockRead for Replayed<S> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        self.inner.read_at(offset, buf)?;
        self.overlay.patch(&self.inner, offset, buf)
    }
    fn size(&self) -> u64 {
        self.inner.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_through_copies() {
        // Four 1 KiB blocks: 0 and 1 are the filesystem, 2 and 3 the journal's copies.
        let mut disk = vec![0u8; 4096];
        disk[..2048].fill(b'o');
        disk[2048..3072].fill(b'n');
        disk[3072..].fill(b'e');
        disk[3072..3076].fill(0);
        let mut o = Overlay::new(1024);
        o.insert(0, 2, false, 5);
        o.insert(1, 3, true, 5);
        let r = Replayed {
            inner: disk,
            overlay: Arc::new(o),
        };
        let mut buf = vec![0u8; 20];
        r.read_at(1020, &mut buf).unwrap();
        assert_eq!(&buf[..4], b"nnnn");
        assert_eq!(&buf[4..8], &MAGIC.to_be_bytes(), "escape undone");
        assert_eq!(&buf[8..], b"eeeeeeeeeeee");
    }

    #[test]
    fn revoke_follows_transaction_order() {
        let mut o = Overlay::new(1024);
        o.insert(7, 100, false, 10);
        assert!(
            !o.revoke(7, 9),
            "an older revoke does not cancel a newer copy"
        );
        assert!(o.revoke(7, 10), "a revoke in the same transaction does");
        o.insert(8, 101, false, u32::MAX);
        assert!(o.revoke(8, 2), "transaction IDs wrap");
        assert!(o.is_empty());
    }
}
