//! Extent tree nodes (`struct ext3_extent_header`, `ext3_extent`, `ext3_extent_idx` in
//! e2fsprogs `lib/ext2fs/ext3_extents.h`), with the tail checksum of non-root nodes
//! (`ext4_extent_block_csum` in the kernel's `fs/ext4/extents.c`). A leaf extent whose length
//! is above 32768 is unwritten (fallocated): it reads as zeros whatever the disk holds.

use crate::checksum::crc32c_raw;

pub const MAGIC: u16 = 0xF30A;
/// Longest initialized extent; longer lengths mark unwritten extents.
pub const MAX_INIT_LEN: u16 = 32768;
/// Deepest tree the kernel builds (`EXT4_MAX_EXTENT_DEPTH`).
pub const MAX_DEPTH: u16 = 5;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExtentError {
    #[error("extent node too short ({0} bytes)")]
    Short(usize),
    #[error("bad extent header magic 0x{0:04x}")]
    Magic(u16),
    #[error("extent node has {entries} entries, room for {room} (max {max})")]
    Entries { entries: u16, max: u16, room: usize },
    #[error("extent tree depth {0} is beyond the maximum of 5")]
    Depth(u16),
    #[error("extent block checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")]
    Checksum { stored: u32, computed: u32 },
}

/// A run of file blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// First logical block.
    pub logical: u32,
    pub len: u16,
    pub physical: u64,
    /// Unwritten: reads as zeros.
    pub uninit: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Index {
    pub logical: u32,
    pub child: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Leaf(Vec<Extent>),
    Interior { depth: u16, children: Vec<Index> },
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Parses a node: the 60-byte root in `i_block`, or a whole tree block. `owner_seed` (see
/// `inode::owner_seed`) verifies a tree block's checksum; `None` for the root or without
/// metadata_csum.
pub fn parse(b: &[u8], owner_seed: Option<u32>) -> Result<Node, ExtentError> {
    if b.len() < 12 {
        return Err(ExtentError::Short(b.len()));
    }
    let magic = u16_at(b, 0);
    if magic != MAGIC {
        return Err(ExtentError::Magic(magic));
    }
    let entries = u16_at(b, 2);
    let max = u16_at(b, 4);
    let depth = u16_at(b, 6);
    let room = (b.len() - 12) / 12;
    if entries > max || usize::from(max) > room {
        return Err(ExtentError::Entries { entries, max, room });
    }
    if depth > MAX_DEPTH {
        return Err(ExtentError::Depth(depth));
    }
    if let Some(seed) = owner_seed {
        // struct ext4_extent_tail follows the `max` entries.
        let tail = 12 + 12 * usize::from(max);
        if tail + 4 > b.len() {
            return Err(ExtentError::Short(b.len()));
        }
        let stored = u32_at(b, tail);
        let computed = crc32c_raw(seed, &b[..tail]);
        if stored != computed {
            return Err(ExtentError::Checksum { stored, computed });
        }
    }
    let at = |i: usize| 12 + 12 * i;
    if depth == 0 {
        let v = (0..usize::from(entries))
            .map(|i| {
                let o = at(i);
                let raw_len = u16_at(b, o + 4);
                let (len, uninit) = if raw_len > MAX_INIT_LEN {
                    (raw_len - MAX_INIT_LEN, true)
                } else {
                    (raw_len, false)
                };
                Extent {
                    logical: u32_at(b, o),
                    len,
                    physical: (u64::from(u16_at(b, o + 6)) << 32) | u64::from(u32_at(b, o + 8)),
                    uninit,
                }
            })
            .collect();
        Ok(Node::Leaf(v))
    } else {
        let v = (0..usize::from(entries))
            .map(|i| {
                let o = at(i);
                Index {
                    logical: u32_at(b, o),
                    child: (u64::from(u16_at(b, o + 8)) << 32) | u64::from(u32_at(b, o + 4)),
                }
            })
            .collect();
        Ok(Node::Interior { depth, children: v })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(entries: u16, max: u16, depth: u16) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC.to_le_bytes());
        b.extend_from_slice(&entries.to_le_bytes());
        b.extend_from_slice(&max.to_le_bytes());
        b.extend_from_slice(&depth.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b
    }

    #[test]
    fn leaf_with_unwritten_extent() {
        let mut b = header(2, 4, 0);
        for (l, len, p) in [(0u32, 8u16, 100u32), (8, MAX_INIT_LEN + 3, 200)] {
            b.extend_from_slice(&l.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes());
            b.extend_from_slice(&p.to_le_bytes());
        }
        b.resize(60, 0);
        let Node::Leaf(v) = parse(&b, None).unwrap() else {
            panic!()
        };
        assert_eq!(v[0].len, 8);
        assert!(!v[0].uninit);
        assert_eq!((v[1].len, v[1].uninit, v[1].physical), (3, true, 200));
    }

    #[test]
    fn tree_block_checksum() {
        let mut b = header(1, 2, 1);
        b.extend_from_slice(&5u32.to_le_bytes());
        b.extend_from_slice(&77u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.resize(12 + 24, 0);
        let c = crc32c_raw(9, &b);
        b.extend_from_slice(&c.to_le_bytes());
        let Node::Interior { depth, children } = parse(&b, Some(9)).unwrap() else {
            panic!()
        };
        assert_eq!((depth, children[0].child), (1, (1 << 32) | 77));
        b[20] ^= 1;
        assert!(matches!(
            parse(&b, Some(9)),
            Err(ExtentError::Checksum { .. })
        ));
    }

    #[test]
    fn rejects_bad_headers() {
        assert_eq!(parse(&[0; 4], None), Err(ExtentError::Short(4)));
        assert!(matches!(parse(&[0; 60], None), Err(ExtentError::Magic(0))));
        let mut b = header(5, 4, 0);
        b.resize(60, 0);
        assert!(matches!(parse(&b, None), Err(ExtentError::Entries { .. })));
        let mut b = header(0, 4, 9);
        b.resize(60, 0);
        assert_eq!(parse(&b, None), Err(ExtentError::Depth(9)));
    }
}
