//! The jbd2 block header (`journal_header_t`) and descriptor blocks: the tags
//! (`journal_block_tag_t`, `journal_block_tag3_t` in e2fsprogs `lib/ext2fs/kernel-jbd.h`) that
//! name the filesystem block each following log block replaces, and the block tail checksum
//! (`struct jbd2_journal_block_tail`) of descriptor and revoke blocks. Layout and walk as the
//! kernel's `count_tags`/`do_one_pass` (`fs/jbd2/recovery.c`) read them.

use super::superblock::{Csum, JournalSuperblock, MAGIC};
use crate::checksum::crc32c_raw;

/// `sizeof(journal_header_t)`.
pub const HEADER_SIZE: usize = 12;
/// `sizeof(struct jbd2_journal_block_tail)`.
pub const TAIL_SIZE: usize = 4;

// t_flags
/// The block's first four bytes were the journal magic and are stored zeroed.
pub const FLAG_ESCAPE: u16 = 1;
/// No 16-byte UUID follows the tag.
pub const FLAG_SAME_UUID: u16 = 2;
pub const FLAG_LAST_TAG: u16 = 8;

fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}

/// The header every journal metadata block starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub block_type: u32,
    pub sequence: u32,
}

/// The header of a block, or `None` when it does not carry the journal magic.
pub fn header(b: &[u8]) -> Option<Header> {
    if b.len() < HEADER_SIZE || be32(b, 0) != MAGIC {
        return None;
    }
    Some(Header {
        block_type: be32(b, 4),
        sequence: be32(b, 8),
    })
}

/// How tags are laid out in this journal (`journal_tag_bytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagFormat {
    pub bytes: usize,
    pub is64: bool,
    pub csum: Csum,
}

impl TagFormat {
    pub fn of(sb: &JournalSuperblock) -> TagFormat {
        let csum = sb.csum();
        let is64 = sb.is_64bit();
        let bytes = match csum {
            Csum::V3 => 16,
            _ => {
                // journal_block_tag_t is 12 bytes; csum v2 adds 2, no 64bit drops t_blocknr_high.
                let sz = 12 + if csum == Csum::V2 { 2 } else { 0 };
                if is64 { sz } else { sz - 4 }
            }
        };
        TagFormat { bytes, is64, csum }
    }

    /// Bytes at the end of descriptor and revoke blocks taken by the tail checksum.
    pub fn tail(&self) -> usize {
        match self.csum {
            Csum::V2 | Csum::V3 => TAIL_SIZE,
            _ => 0,
        }
    }
}

/// One tag: the filesystem block the next log block replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    pub block: u64,
    pub flags: u16,
    /// The data block's checksum: 32 bits with csum v3, 16 with v2 (0 otherwise).
    pub checksum: u32,
}

impl Tag {
    pub fn escaped(&self) -> bool {
        self.flags & FLAG_ESCAPE != 0
    }
}

/// The tags of a descriptor block, in order. As the kernel walks them: a tag is read while it
/// fits before the tail, a 16-byte UUID follows unless `SAME_UUID`, `LAST_TAG` ends the list.
/// At most `(block size - 12) / tag bytes` tags.
pub fn tags(b: &[u8], f: &TagFormat) -> Vec<Tag> {
    let limit = b.len().saturating_sub(f.tail());
    let mut out = Vec::new();
    let mut p = HEADER_SIZE;
    while p + f.bytes <= limit {
        let t = &b[p..p + f.bytes];
        // journal_block_tag_t: t_blocknr, t_checksum (be16), t_flags (be16), t_blocknr_high;
        // journal_block_tag3_t: t_blocknr, t_flags (be32), t_blocknr_high, t_checksum. The kernel
        // reads the flags as the be16 at offset 6 in both: the low half of tag3's be32 flags.
        let flags = be16(t, 6);
        let mut block = u64::from(be32(t, 0));
        if f.is64 {
            block |= u64::from(be32(t, 8)) << 32;
        }
        let checksum = match f.csum {
            Csum::V3 => be32(t, 12),
            Csum::V2 => u32::from(be16(t, 4)),
            _ => 0,
        };
        out.push(Tag {
            block,
            flags,
            checksum,
        });
        p += f.bytes;
        if flags & FLAG_SAME_UUID == 0 {
            p += 16;
        }
        if flags & FLAG_LAST_TAG != 0 {
            break;
        }
    }
    out
}

/// `jbd2_descriptor_block_csum_verify`: crc32c over the block with the tail zeroed, seeded with
/// the journal's seed (descriptor and revoke blocks of csum v2/v3 journals).
pub fn tail_ok(b: &[u8], seed: u32) -> bool {
    if b.len() < TAIL_SIZE {
        return false;
    }
    let t = b.len() - TAIL_SIZE;
    let c = crc32c_raw(seed, &b[..t]);
    let c = crc32c_raw(c, &[0; TAIL_SIZE]);
    be32(b, t) == c
}

/// `jbd2_block_tag_csum_verify`: crc32c over the transaction's sequence (big-endian) and the
/// log copy of the block, truncated to 16 bits for v2.
pub fn tag_ok(tag: &Tag, data: &[u8], sequence: u32, seed: u32, csum: Csum) -> bool {
    let c = crc32c_raw(seed, &sequence.to_be_bytes());
    let c = crc32c_raw(c, data);
    match csum {
        Csum::V3 => tag.checksum == c,
        Csum::V2 => tag.checksum == c & 0xFFFF,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::superblock::{self as jsb, JournalSuperblock};
    use super::*;

    fn fmt(incompat: u32) -> TagFormat {
        TagFormat::of(&JournalSuperblock::parse(&jsb::tests::sb_bytes(incompat, 0, 1, 1)).unwrap())
    }

    #[test]
    fn tag_sizes_follow_journal_tag_bytes() {
        assert_eq!(fmt(0).bytes, 8);
        assert_eq!(fmt(jsb::INCOMPAT_64BIT).bytes, 12);
        assert_eq!(fmt(jsb::INCOMPAT_CSUM_V2).bytes, 10);
        assert_eq!(fmt(jsb::INCOMPAT_CSUM_V2 | jsb::INCOMPAT_64BIT).bytes, 14);
        assert_eq!(fmt(jsb::INCOMPAT_CSUM_V3).bytes, 16);
        assert_eq!(fmt(jsb::INCOMPAT_CSUM_V3).tail(), 4);
        assert_eq!(fmt(0).tail(), 0);
    }

    #[test]
    fn walks_tags_with_and_without_uuid() {
        let f = fmt(jsb::INCOMPAT_64BIT);
        let mut b = vec![0u8; 4096];
        b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&1u32.to_be_bytes());
        b[8..12].copy_from_slice(&9u32.to_be_bytes());
        // First tag with a UUID, escaped; second same UUID, 64-bit number, last.
        b[12..16].copy_from_slice(&100u32.to_be_bytes());
        b[18..20].copy_from_slice(&FLAG_ESCAPE.to_be_bytes());
        let p = 12 + 12 + 16;
        b[p..p + 4].copy_from_slice(&5u32.to_be_bytes());
        b[p + 6..p + 8].copy_from_slice(&(FLAG_SAME_UUID | FLAG_LAST_TAG).to_be_bytes());
        b[p + 8..p + 12].copy_from_slice(&1u32.to_be_bytes());
        // Garbage after the last tag is not read.
        b[p + 12] = 0xFF;
        assert_eq!(
            header(&b),
            Some(Header {
                block_type: 1,
                sequence: 9
            })
        );
        let t = tags(&b, &f);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].block, t[0].escaped()), (100, true));
        assert_eq!((t[1].block, t[1].escaped()), ((1 << 32) | 5, false));
    }

    #[test]
    fn unterminated_tags_stop_at_the_block_end() {
        let f = fmt(jsb::INCOMPAT_CSUM_V3);
        let mut b = vec![0u8; 1024];
        b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        for t in b[12..].chunks_exact_mut(16) {
            t[6..8].copy_from_slice(&FLAG_SAME_UUID.to_be_bytes());
        }
        // (1024 - 4 tail - 12 header) / 16 tags fit.
        assert_eq!(tags(&b, &f).len(), (1024 - 4 - 12) / 16);
        assert!(tags(&b[..20], &f).is_empty());
        assert!(header(&b[..4]).is_none());
    }

    #[test]
    fn tail_checksum() {
        let mut b = vec![7u8; 1024];
        let c = crc32c_raw(crc32c_raw(3, &b[..1020]), &[0; 4]);
        b[1020..].copy_from_slice(&c.to_be_bytes());
        assert!(tail_ok(&b, 3));
        b[5] ^= 1;
        assert!(!tail_ok(&b, 3));
    }
}
