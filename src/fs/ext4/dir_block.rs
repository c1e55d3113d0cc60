//! Directory blocks: linear entries (`struct ext2_dir_entry_2`), the checksum tail of leaf
//! blocks (`struct ext4_dir_entry_tail`) and htree nodes (`struct ext2_dx_root_info`,
//! `ext2_dx_countlimit`, `ext2_dx_tail`), checksummed as the kernel's `fs/ext4/namei.c`
//! (`ext4_dirblock_csum`, `ext4_dx_csum`) does.
//!
//! Lookups here scan every leaf block linearly and never use the hash: an htree interior block
//! starts with an empty entry spanning the whole block, so a linear scan skips it, and names
//! are found whatever hash (signed or unsigned) the filesystem was built with.

use crate::checksum::crc32c_raw;

/// Size of `struct ext4_dir_entry_tail`.
pub const TAIL_SIZE: usize = 12;
const TAIL_FT: u8 = 0xDE;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum DirBlockError {
    #[error("offset {offset}: entry length {rec_len} is invalid")]
    RecLen { offset: usize, rec_len: usize },
    #[error("offset {offset}: name length {name_len} does not fit entry length {rec_len}")]
    NameLen {
        offset: usize,
        name_len: usize,
        rec_len: usize,
    },
    #[error("leaf block has no checksum tail")]
    NoTail,
    #[error("checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("htree node is malformed: {0}")]
    Htree(&'static str),
}

/// One live entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub inode: u32,
    /// `EXT2_FT_*` from the entry (0 without the filetype feature).
    pub file_type: u8,
    pub name: Vec<u8>,
    /// Byte offset in the block.
    pub offset: usize,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// `ext4_rec_len_from_disk`: 65536-byte blocks store their full length as 0 or 65535.
fn rec_len_at(b: &[u8], o: usize) -> usize {
    let r = usize::from(u16_at(b, o));
    if b.len() >= 65536 && (r == 0 || r == 65535) {
        65536
    } else if b.len() >= 65536 {
        (r & 65532) | ((r & 3) << 16)
    } else {
        r
    }
}

/// What kind of block this is, for checksum purposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Leaf,
    /// Block 0 of an htree directory.
    DxRoot,
    /// An interior htree block.
    DxNode,
}

/// Tells an htree node from a leaf in an indexed directory: a node is one empty entry covering
/// the whole block (an empty leaf with metadata_csum ends at the tail instead).
pub fn kind(b: &[u8], block_index: u64, htree: bool) -> Kind {
    if !htree || b.len() < 12 {
        return Kind::Leaf;
    }
    if block_index == 0 {
        return Kind::DxRoot;
    }
    if u32_at(b, 0) == 0 && rec_len_at(b, 4) == b.len() && b[6] == 0 {
        Kind::DxNode
    } else {
        Kind::Leaf
    }
}

/// Whether the block ends with a checksum tail.
pub fn has_tail(b: &[u8]) -> bool {
    let n = b.len();
    n >= TAIL_SIZE
        && u32_at(b, n - 12) == 0
        && u16_at(b, n - 8) == 12
        && b[n - 6] == 0
        && b[n - 5] == TAIL_FT
}

/// Verifies a leaf block's tail checksum. `seed` is the directory inode's owner seed.
pub fn verify_leaf(b: &[u8], seed: u32) -> Result<(), DirBlockError> {
    if !has_tail(b) {
        return Err(DirBlockError::NoTail);
    }
    let n = b.len();
    let stored = u32_at(b, n - 4);
    let computed = crc32c_raw(seed, &b[..n - TAIL_SIZE]);
    if stored != computed {
        return Err(DirBlockError::Checksum { stored, computed });
    }
    Ok(())
}

/// Verifies an htree node's checksum (`ext4_dx_csum`): over the bytes up to the last used
/// entry, then the tail's reserved word, then a zero word for the checksum.
pub fn verify_dx(b: &[u8], kind: Kind, seed: u32) -> Result<(), DirBlockError> {
    let count_offset = match kind {
        Kind::DxRoot => {
            // "." (12 bytes), ".." with the root info at 0x18: info_length at 0x1D.
            if b.len() < 0x20 {
                return Err(DirBlockError::Htree("root block too short"));
            }
            0x18 + usize::from(b[0x1D])
        }
        Kind::DxNode => 8,
        Kind::Leaf => return verify_leaf(b, seed),
    };
    if count_offset + 4 > b.len() {
        return Err(DirBlockError::Htree("count/limit beyond the block"));
    }
    let limit = usize::from(u16_at(b, count_offset));
    let count = usize::from(u16_at(b, count_offset + 2));
    let tail = count_offset + limit * 8;
    if count > limit || tail + 8 > b.len() {
        return Err(DirBlockError::Htree(
            "count or limit does not fit the block",
        ));
    }
    let stored = u32_at(b, tail + 4);
    let c = crc32c_raw(seed, &b[..count_offset + count * 8]);
    let c = crc32c_raw(c, &b[tail..tail + 4]);
    // The checksum field itself counts as zero.
    let computed = crc32c_raw(c, &[0; 4]);
    if stored != computed {
        return Err(DirBlockError::Checksum { stored, computed });
    }
    Ok(())
}

/// The live entries of a leaf block (entries with inode 0 and the tail are skipped). Each
/// entry must stay inside the block, as `ext4_check_dir_entry` requires.
pub fn entries(b: &[u8]) -> Result<Vec<Entry>, DirBlockError> {
    let mut out = Vec::new();
    let mut o = 0;
    while o < b.len() {
        if o + 8 > b.len() {
            return Err(DirBlockError::RecLen {
                offset: o,
                rec_len: b.len() - o,
            });
        }
        let rec_len = rec_len_at(b, o + 4);
        if rec_len < 8 || rec_len % 4 != 0 || o + rec_len > b.len() {
            return Err(DirBlockError::RecLen { offset: o, rec_len });
        }
        let inode = u32_at(b, o);
        let name_len = usize::from(b[o + 6]);
        if 8 + name_len > rec_len {
            return Err(DirBlockError::NameLen {
                offset: o,
                name_len,
                rec_len,
            });
        }
        if inode != 0 && name_len > 0 {
            out.push(Entry {
                inode,
                file_type: b[o + 7],
                name: b[o + 8..o + 8 + name_len].to_vec(),
                offset: o,
            });
        }
        o += rec_len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirent(b: &mut Vec<u8>, ino: u32, name: &[u8], rec_len: usize) {
        b.extend_from_slice(&ino.to_le_bytes());
        b.extend_from_slice(&(rec_len as u16).to_le_bytes());
        b.push(name.len() as u8);
        b.push(1);
        b.extend_from_slice(name);
        b.resize(b.len() + rec_len - 8 - name.len(), 0);
    }

    fn leaf(csum: Option<u32>) -> Vec<u8> {
        let mut b = Vec::new();
        dirent(&mut b, 2, b".", 12);
        dirent(&mut b, 2, b"..", 12);
        let rest = 1024 - 24 - if csum.is_some() { TAIL_SIZE } else { 0 };
        dirent(&mut b, 12, "caf\u{e9}".as_bytes(), rest);
        if let Some(seed) = csum {
            let c = crc32c_raw(seed, &b);
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&12u16.to_le_bytes());
            b.extend_from_slice(&[0, TAIL_FT]);
            b.extend_from_slice(&c.to_le_bytes());
        }
        b
    }

    #[test]
    fn leaf_entries_and_tail() {
        let b = leaf(Some(3));
        let e = entries(&b).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[2].name, "caf\u{e9}".as_bytes());
        assert_eq!(verify_leaf(&b, 3), Ok(()));
        assert!(matches!(
            verify_leaf(&b, 4),
            Err(DirBlockError::Checksum { .. })
        ));
        assert_eq!(verify_leaf(&leaf(None), 3), Err(DirBlockError::NoTail));
        assert_eq!(kind(&b, 1, true), Kind::Leaf);
    }

    #[test]
    fn malformed_entries() {
        let mut b = leaf(None);
        b[16..18].copy_from_slice(&3u16.to_le_bytes());
        assert!(matches!(entries(&b), Err(DirBlockError::RecLen { .. })));
        let mut b = leaf(None);
        b[6] = 200;
        assert!(matches!(entries(&b), Err(DirBlockError::NameLen { .. })));
    }

    #[test]
    fn dx_node_checksum() {
        let mut b = vec![0u8; 1024];
        b[4..6].copy_from_slice(&1024u16.to_le_bytes());
        let limit = (1024 - 8 - 8) / 8;
        b[8..10].copy_from_slice(&(limit as u16).to_le_bytes());
        b[10..12].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(kind(&b, 3, true), Kind::DxNode);
        let tail = 8 + limit * 8;
        let c = crc32c_raw(
            crc32c_raw(crc32c_raw(5, &b[..16]), &b[tail..tail + 4]),
            &[0; 4],
        );
        b[tail + 4..tail + 8].copy_from_slice(&c.to_le_bytes());
        assert_eq!(verify_dx(&b, Kind::DxNode, 5), Ok(()));
        b[12] = 1;
        assert!(verify_dx(&b, Kind::DxNode, 5).is_err());
        assert!(entries(&b).unwrap().is_empty(), "a node reads as empty");
    }
}
