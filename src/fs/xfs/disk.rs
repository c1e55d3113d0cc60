//! Reads of an XFS filesystem's blocks from its slice of the device, with a small cache of
//! single blocks (inode clusters, btree blocks and directory blocks are read again and again
//! while paths resolve).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::error::XfsError;
use super::superblock::Superblock;
use crate::volume::Slice;

/// Blocks kept; the cache is dropped whole when it fills (the volume never changes, so what it
/// holds never goes stale).
const CACHE_BLOCKS: usize = 1024;
/// The largest multi-block read (a 64 KiB directory block is 16 blocks of 4 KiB).
const MAX_READ: u64 = 1 << 20;

pub struct Disk {
    slice: Slice,
    sb: Superblock,
    cache: RefCell<HashMap<u64, Rc<Vec<u8>>>>,
}

impl Disk {
    pub fn new(slice: Slice, sb: Superblock) -> Disk {
        Disk {
            slice,
            sb,
            cache: RefCell::new(HashMap::new()),
        }
    }

    pub fn sb(&self) -> &Superblock {
        &self.sb
    }

    pub fn slice(&self) -> &Slice {
        &self.slice
    }

    /// `len` bytes at byte `offset` of the filesystem.
    pub fn read_bytes(&self, offset: u64, len: usize) -> Result<Vec<u8>, XfsError> {
        if len as u64 > MAX_READ {
            return Err(XfsError::Io(format!("a read of {len} bytes is too large")));
        }
        let mut buf = vec![0u8; len];
        self.slice
            .read_exact_at(offset, &mut buf)
            .map_err(|e| XfsError::Io(e.to_string()))?;
        Ok(buf)
    }

    /// One linear block (AG-relative numbers already resolved), cached.
    pub fn read_block(&self, block: u64) -> Result<Rc<Vec<u8>>, XfsError> {
        if let Some(b) = self.cache.borrow().get(&block) {
            return Ok(b.clone());
        }
        if block >= self.sb.dblocks {
            return Err(XfsError::Io(format!(
                "block {block} is past the end of the filesystem ({} blocks)",
                self.sb.dblocks
            )));
        }
        let bs = u64::from(self.sb.blocksize);
        let data = Rc::new(self.read_bytes(block * bs, bs as usize)?);
        let mut cache = self.cache.borrow_mut();
        if cache.len() >= CACHE_BLOCKS {
            cache.clear();
        }
        cache.insert(block, data.clone());
        Ok(data)
    }

    /// `count` blocks from filesystem block number `fsb` (AG number in the high bits).
    pub fn read_fsb(&self, fsb: u64, count: u64) -> Result<Vec<u8>, XfsError> {
        let block = self
            .sb
            .fsb_to_block(fsb)
            .ok_or_else(|| XfsError::Io(format!("block number {fsb} is outside the filesystem")))?;
        if count == 1 {
            return Ok(self.read_block(block)?.as_ref().clone());
        }
        let last = block.saturating_add(count);
        if count == 0 || last > self.sb.dblocks {
            return Err(XfsError::Io(format!(
                "{count} blocks at {fsb} run past the end of the filesystem"
            )));
        }
        let bs = u64::from(self.sb.blocksize);
        self.read_bytes(
            block * bs,
            count.saturating_mul(bs).min(MAX_READ + 1) as usize,
        )
    }

    /// The raw bytes of inode `ino`.
    pub fn read_inode_bytes(&self, ino: u64) -> Result<Vec<u8>, XfsError> {
        let off = self
            .sb
            .inode_offset(ino)
            .ok_or(super::inode::InodeError::OutOfRange(ino))?;
        let bs = u64::from(self.sb.blocksize);
        let block = self.read_block(off / bs)?;
        let start = (off % bs) as usize;
        let end = start + usize::from(self.sb.inodesize);
        block
            .get(start..end)
            .map(<[u8]>::to_vec)
            .ok_or(XfsError::Inode(super::inode::InodeError::OutOfRange(ino)))
    }
}
