//! Extended attributes: the in-inode area after `i_extra_isize` (`struct ext2_ext_attr_header`
//! magic then entries) and the attribute block named by `i_file_acl` (a 32-byte header, then
//! entries), as e2fsprogs `lib/ext2fs/ext2_ext_attr.h` lays them out. The block's checksum is
//! `ext4_xattr_block_csum` (crc32c over the block number, then the block with its checksum
//! zeroed).

use crate::checksum::crc32c_raw;

pub const MAGIC: u32 = 0xEA02_0000;
const BLOCK_HEADER: usize = 32;
const OFF_BLOCK_CSUM: usize = 0x10;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum XattrError {
    #[error("bad extended attribute magic 0x{0:08x}")]
    Magic(u32),
    #[error("extended attribute entry at offset {0} runs past its area")]
    Entry(usize),
    #[error("extended attribute value at offset {0} runs past its area")]
    Value(usize),
    #[error("extended attribute value lives in inode {0} (ea_inode), which is not read")]
    EaInode(u32),
    #[error(
        "extended attribute block checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})"
    )]
    Checksum { stored: u32, computed: u32 },
}

/// `security.selinux` → (6, "selinux"): the name-index prefixes of `ext2_ext_attr.c`.
pub fn split_name(name: &str) -> Option<(u8, &str)> {
    const PREFIXES: [(&str, u8); 5] = [
        ("user.", 1),
        ("trusted.", 4),
        ("security.", 6),
        ("system.", 7),
        ("system.richacl", 8),
    ];
    match name {
        "system.posix_acl_access" => return Some((2, "")),
        "system.posix_acl_default" => return Some((3, "")),
        "system.richacl" => return Some((8, "")),
        _ => {}
    }
    PREFIXES
        .iter()
        .find_map(|(p, i)| name.strip_prefix(p).map(|rest| (*i, rest)))
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Finds `(index, name)` among entries starting at `first` in `area`; value offsets are
/// relative to `value_base`.
fn find_in(
    area: &[u8],
    first: usize,
    value_base: usize,
    index: u8,
    name: &[u8],
) -> Result<Option<Vec<u8>>, XattrError> {
    let mut o = first;
    loop {
        // The entry list ends with a zero word (or the end of the area).
        if o + 4 > area.len() || u32_at(area, o) == 0 {
            return Ok(None);
        }
        if o + 16 > area.len() {
            return Err(XattrError::Entry(o));
        }
        let name_len = usize::from(area[o]);
        let name_index = area[o + 1];
        let value_offs = usize::from(u16_at(area, o + 2));
        let value_inum = u32_at(area, o + 4);
        let value_size = u32_at(area, o + 8) as usize;
        let end = o + 16 + name_len;
        if end > area.len() {
            return Err(XattrError::Entry(o));
        }
        if name_index == index && &area[o + 16..end] == name {
            if value_inum != 0 {
                return Err(XattrError::EaInode(value_inum));
            }
            let from = value_base + value_offs;
            let to = from.checked_add(value_size).ok_or(XattrError::Value(o))?;
            if to > area.len() {
                return Err(XattrError::Value(o));
            }
            return Ok(Some(area[from..to].to_vec()));
        }
        // EXT2_EXT_ATTR_LEN: entries are padded to 4 bytes.
        o = (end + 3) & !3;
    }
}

/// Looks an attribute up in the in-inode area (what follows `i_extra_isize`).
pub fn find_in_inode(area: &[u8], index: u8, name: &[u8]) -> Result<Option<Vec<u8>>, XattrError> {
    if area.len() < 4 || u32_at(area, 0) != MAGIC {
        // No in-inode attributes at all is normal.
        return Ok(None);
    }
    // Entries and value offsets both count from just after the magic.
    find_in(&area[4..], 0, 0, index, name)
}

/// Verifies an attribute block's checksum; `block_nr` is its block number.
pub fn verify_block(b: &[u8], block_nr: u64, csum_seed: u32) -> Result<(), XattrError> {
    if b.len() < BLOCK_HEADER {
        return Err(XattrError::Entry(0));
    }
    let stored = u32_at(b, OFF_BLOCK_CSUM);
    let mut c = crc32c_raw(csum_seed, &block_nr.to_le_bytes());
    c = crc32c_raw(c, &b[..OFF_BLOCK_CSUM]);
    c = crc32c_raw(c, &[0; 4]);
    c = crc32c_raw(c, &b[OFF_BLOCK_CSUM + 4..]);
    if stored != c {
        return Err(XattrError::Checksum {
            stored,
            computed: c,
        });
    }
    Ok(())
}

/// Looks an attribute up in an attribute block.
pub fn find_in_block(b: &[u8], index: u8, name: &[u8]) -> Result<Option<Vec<u8>>, XattrError> {
    if b.len() < BLOCK_HEADER {
        return Err(XattrError::Entry(0));
    }
    let magic = u32_at(b, 0);
    if magic != MAGIC {
        return Err(XattrError::Magic(magic));
    }
    find_in(b, BLOCK_HEADER, 0, index, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(out: &mut Vec<u8>, index: u8, name: &[u8], value_offs: u16, size: u32) {
        out.push(name.len() as u8);
        out.push(index);
        out.extend_from_slice(&value_offs.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(name);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }

    #[test]
    fn in_inode_selinux_label() {
        let label = b"system_u:object_r:ssh_home_t:s0\0";
        let mut a = MAGIC.to_le_bytes().to_vec();
        let mut entries = Vec::new();
        entry(&mut entries, 1, b"x", 0, 0);
        entry(&mut entries, 6, b"selinux", 64, label.len() as u32);
        entries.extend_from_slice(&[0; 4]);
        entries.resize(64, 0);
        entries.extend_from_slice(label);
        a.extend_from_slice(&entries);
        assert_eq!(split_name("security.selinux"), Some((6, "selinux")));
        assert_eq!(
            find_in_inode(&a, 6, b"selinux").unwrap().as_deref(),
            Some(&label[..])
        );
        assert_eq!(find_in_inode(&a, 6, b"ima").unwrap(), None);
        assert_eq!(find_in_inode(&[0; 8], 6, b"selinux").unwrap(), None);
        let mut bad = a.clone();
        bad[4 + 16 + 4 + 8..4 + 16 + 4 + 12].copy_from_slice(&9999u32.to_le_bytes());
        assert!(find_in_inode(&bad, 6, b"selinux").is_err());
    }

    #[test]
    fn block_checksum_and_lookup() {
        let mut b = vec![0u8; 1024];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        let mut e = Vec::new();
        entry(&mut e, 6, b"selinux", 1000, 4);
        b[32..32 + e.len()].copy_from_slice(&e);
        b[1000..1004].copy_from_slice(b"abc\0");
        let mut c = crc32c_raw(1, &77u64.to_le_bytes());
        c = crc32c_raw(c, &b);
        b[0x10..0x14].copy_from_slice(&c.to_le_bytes());
        assert_eq!(verify_block(&b, 77, 1), Ok(()));
        assert!(verify_block(&b, 78, 1).is_err());
        assert_eq!(
            find_in_block(&b, 6, b"selinux").unwrap().as_deref(),
            Some(&b"abc\0"[..])
        );
    }
}
