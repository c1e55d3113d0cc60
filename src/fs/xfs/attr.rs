//! Extended attributes (`xfs_da_format.h`): the short form in the inode's attribute fork
//! (`xfs_attr_shortform`), leaf blocks (`xfs_attr_leafblock`/`xfs_attr3_leafblock`, local and
//! remote values) and the dabtree node blocks above them (`xfs_da_intnode`), as
//! `xfs_attr_leaf.c` and `xfs_attr_remote.c` read them. Lookups scan every entry instead of
//! following the name hash, so no hash function is needed and a wrong hash cannot hide one.

use std::collections::HashSet;

use super::be::{crc_ok, u8_at, u16_at, u32_at, u64_at};
use super::bmap::Extent;
use super::disk::Disk;
use super::error::XfsError;

// Entry flags.
const ATTR_LOCAL: u8 = 1 << 0;
pub const ATTR_ROOT: u8 = 1 << 1;
pub const ATTR_SECURE: u8 = 1 << 2;
const ATTR_PARENT: u8 = 1 << 3;
const ATTR_INCOMPLETE: u8 = 1 << 7;
const ATTR_NSP: u8 = ATTR_ROOT | ATTR_SECURE | ATTR_PARENT;

const LEAF_MAGIC: u16 = 0xfbee;
const LEAF3_MAGIC: u16 = 0x3bee;
const NODE_MAGIC: u16 = 0xfebe;
const NODE3_MAGIC: u16 = 0x3ebe;
const DA3_CRC_OFF: usize = 12;
/// Linux's `XATTR_SIZE_MAX`.
const MAX_VALUE: u32 = 65536;
/// Attribute blocks read at most for one lookup (real forks hold a handful).
const MAX_BLOCKS: usize = 4096;
/// dabtree depth bound (`XFS_DA_NODE_MAXDEPTH`).
const MAX_DEPTH: u16 = 5;

/// The namespace flags and on-disk name of a Linux attribute name (`security.selinux` →
/// (`ATTR_SECURE`, `selinux`)); `None` for namespaces XFS stores differently (POSIX ACLs).
pub fn split_name(name: &str) -> Option<(u8, &[u8])> {
    let (ns, rest) = name.split_once('.')?;
    let flags = match ns {
        "user" => 0,
        "trusted" => ATTR_ROOT,
        "security" => ATTR_SECURE,
        _ => return None,
    };
    (!rest.is_empty()).then_some((flags, rest.as_bytes()))
}

/// Looks `name` up in a short-form attribute fork.
pub fn shortform(fork: &[u8], ns: u8, name: &[u8], ino: u64) -> Result<Option<Vec<u8>>, XfsError> {
    const WHAT: &str = "short-form attributes";
    let totsize = usize::from(u16_at(fork, 0));
    if totsize < 4 || totsize > fork.len() {
        return Err(XfsError::corrupt(
            WHAT,
            ino,
            format!("size {totsize} does not fit the {}-byte fork", fork.len()),
        ));
    }
    let b = &fork[..totsize];
    let count = usize::from(u8_at(b, 2));
    let mut off = 4;
    for i in 0..count {
        let namelen = usize::from(u8_at(b, off));
        let valuelen = usize::from(u8_at(b, off + 1));
        let flags = u8_at(b, off + 2);
        let end = off + 3 + namelen + valuelen;
        if end > b.len() {
            return Err(XfsError::corrupt(
                WHAT,
                ino,
                format!("entry {i} of {count} runs past {totsize} bytes"),
            ));
        }
        let n = &b[off + 3..off + 3 + namelen];
        if flags & ATTR_NSP == ns && flags & ATTR_INCOMPLETE == 0 && n == name {
            return Ok(Some(b[off + 3 + namelen..end].to_vec()));
        }
        off = end;
    }
    Ok(None)
}

/// Looks `name` up in an attribute fork held in blocks, mapped by `extents`.
pub fn blocks(
    disk: &Disk,
    extents: &[Extent],
    ns: u8,
    name: &[u8],
    ino: u64,
) -> Result<Option<Vec<u8>>, XfsError> {
    if extents.is_empty() {
        // An attribute fork emptied of blocks (every attribute removed) holds nothing.
        return Ok(None);
    }
    let mut seen = HashSet::new();
    lookup_block(disk, extents, 0, MAX_DEPTH + 1, ns, name, ino, &mut seen)
}

/// The filesystem block of attribute-fork block `lblk`.
fn map(extents: &[Extent], lblk: u64) -> Option<(u64, bool)> {
    let i = extents.partition_point(|e| e.offset.saturating_add(e.count) <= lblk);
    let e = extents.get(i)?;
    (e.offset <= lblk).then(|| (e.fsb + (lblk - e.offset), e.unwritten))
}

fn read_lblk(disk: &Disk, extents: &[Extent], lblk: u64, ino: u64) -> Result<Vec<u8>, XfsError> {
    match map(extents, lblk) {
        Some((fsb, false)) => disk.read_fsb(fsb, 1),
        _ => Err(XfsError::corrupt(
            "attribute fork",
            ino,
            format!("block {lblk} is not mapped"),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn lookup_block(
    disk: &Disk,
    extents: &[Extent],
    lblk: u64,
    max_level: u16,
    ns: u8,
    name: &[u8],
    ino: u64,
    seen: &mut HashSet<u64>,
) -> Result<Option<Vec<u8>>, XfsError> {
    const WHAT: &str = "attribute block";
    if !seen.insert(lblk) {
        return Err(XfsError::corrupt(
            WHAT,
            ino,
            format!("block {lblk} is referenced twice"),
        ));
    }
    if seen.len() > MAX_BLOCKS {
        return Err(XfsError::Limit {
            ino,
            detail: format!("attribute tree of more than {MAX_BLOCKS} blocks"),
        });
    }
    let v5 = disk.sb().is_v5();
    let b = read_lblk(disk, extents, lblk, ino)?;
    let magic = u16_at(&b, 8);
    let (leaf, node) = if v5 {
        (LEAF3_MAGIC, NODE3_MAGIC)
    } else {
        (LEAF_MAGIC, NODE_MAGIC)
    };
    if magic != leaf && magic != node {
        return Err(XfsError::corrupt(
            WHAT,
            ino,
            format!("block {lblk}: bad magic 0x{magic:04x}"),
        ));
    }
    if v5 {
        if !crc_ok(&b, DA3_CRC_OFF) {
            return Err(XfsError::corrupt(
                WHAT,
                ino,
                format!("block {lblk}: checksum mismatch"),
            ));
        }
        let owner = u64_at(&b, 48);
        if owner != ino {
            return Err(XfsError::corrupt(
                WHAT,
                ino,
                format!("block {lblk}: owned by inode {owner}"),
            ));
        }
    }
    if magic == node {
        let (hdr, count, level) = if v5 {
            (64, u16_at(&b, 56), u16_at(&b, 58))
        } else {
            (16, u16_at(&b, 12), u16_at(&b, 14))
        };
        if level == 0 || level >= max_level {
            return Err(XfsError::corrupt(
                WHAT,
                ino,
                format!("block {lblk}: node level {level}"),
            ));
        }
        let count = usize::from(count);
        if count == 0 || hdr + count * 8 > b.len() {
            return Err(XfsError::corrupt(
                WHAT,
                ino,
                format!("block {lblk}: {count} node entries"),
            ));
        }
        for i in 0..count {
            let before = u64::from(u32_at(&b, hdr + i * 8 + 4));
            if let Some(v) = lookup_block(disk, extents, before, level, ns, name, ino, seen)? {
                return Ok(Some(v));
            }
        }
        return Ok(None);
    }
    let (hdr, count) = if v5 {
        (80, u16_at(&b, 56))
    } else {
        (32, u16_at(&b, 12))
    };
    let count = usize::from(count);
    if hdr + count * 8 > b.len() {
        return Err(XfsError::corrupt(
            WHAT,
            ino,
            format!("block {lblk}: {count} leaf entries"),
        ));
    }
    for i in 0..count {
        let e = hdr + i * 8;
        let nameidx = usize::from(u16_at(&b, e + 4));
        let flags = u8_at(&b, e + 6);
        if flags & ATTR_NSP != ns || flags & ATTR_INCOMPLETE != 0 {
            continue;
        }
        if nameidx < hdr || nameidx >= b.len() {
            return Err(XfsError::corrupt(
                WHAT,
                ino,
                format!("block {lblk}: name offset {nameidx}"),
            ));
        }
        if flags & ATTR_LOCAL != 0 {
            // xfs_attr_leaf_name_local: valuelen, namelen, name, value.
            let valuelen = usize::from(u16_at(&b, nameidx));
            let namelen = usize::from(u8_at(&b, nameidx + 2));
            let start = nameidx + 3;
            let end = start + namelen + valuelen;
            if end > b.len() {
                return Err(XfsError::corrupt(
                    WHAT,
                    ino,
                    format!("block {lblk}: local entry {i} runs past the block"),
                ));
            }
            if &b[start..start + namelen] == name {
                return Ok(Some(b[start + namelen..end].to_vec()));
            }
        } else {
            // xfs_attr_leaf_name_remote: valueblk, valuelen, namelen, name.
            let valueblk = u64::from(u32_at(&b, nameidx));
            let valuelen = u32_at(&b, nameidx + 4);
            let namelen = usize::from(u8_at(&b, nameidx + 8));
            let start = nameidx + 9;
            if start + namelen > b.len() {
                return Err(XfsError::corrupt(
                    WHAT,
                    ino,
                    format!("block {lblk}: remote entry {i} runs past the block"),
                ));
            }
            if &b[start..start + namelen] == name {
                return remote_value(disk, extents, valueblk, valuelen, ino).map(Some);
            }
        }
    }
    Ok(None)
}

/// A value stored in its own blocks (`xfs_attr_rmtval_get`); v5 blocks carry an "XARM" header.
fn remote_value(
    disk: &Disk,
    extents: &[Extent],
    first: u64,
    len: u32,
    ino: u64,
) -> Result<Vec<u8>, XfsError> {
    const WHAT: &str = "remote attribute value";
    if len > MAX_VALUE {
        return Err(XfsError::corrupt(
            WHAT,
            ino,
            format!("{len} bytes (at most {MAX_VALUE})"),
        ));
    }
    let v5 = disk.sb().is_v5();
    let bs = disk.sb().blocksize as usize;
    let per = if v5 { bs - 56 } else { bs };
    let mut out = Vec::with_capacity(len as usize);
    let mut lblk = first;
    while out.len() < len as usize {
        let b = read_lblk(disk, extents, lblk, ino)?;
        let want = (len as usize - out.len()).min(per);
        let data = if v5 {
            if b.get(0..4) != Some(&b"XARM"[..]) || !crc_ok(&b, 12) {
                return Err(XfsError::corrupt(
                    WHAT,
                    ino,
                    format!("block {lblk}: bad header or checksum"),
                ));
            }
            let bytes = u32_at(&b, 8) as usize;
            b.get(56..56 + bytes.min(want)).unwrap_or(&[])
        } else {
            b.get(..want).unwrap_or(&[])
        };
        if data.is_empty() {
            return Err(XfsError::corrupt(
                WHAT,
                ino,
                format!("block {lblk} holds no value bytes"),
            ));
        }
        out.extend_from_slice(data);
        lblk += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_shortform() {
        assert_eq!(
            split_name("security.selinux"),
            Some((ATTR_SECURE, &b"selinux"[..]))
        );
        assert_eq!(split_name("user.x"), Some((0, &b"x"[..])));
        assert_eq!(split_name("system.posix_acl_access"), None);
        let label = b"system_u:object_r:ssh_home_t:s0\0";
        let mut f = vec![0u8, 0, 2, 0];
        f.extend_from_slice(&[1, 1, 0, b'a', b'b']);
        f.extend_from_slice(&[7, label.len() as u8, ATTR_SECURE]);
        f.extend_from_slice(b"selinux");
        f.extend_from_slice(label);
        let tot = f.len() as u16;
        f[0..2].copy_from_slice(&tot.to_be_bytes());
        f.resize(200, 0);
        assert_eq!(
            shortform(&f, ATTR_SECURE, b"selinux", 1)
                .unwrap()
                .as_deref(),
            Some(&label[..])
        );
        assert_eq!(shortform(&f, 0, b"selinux", 1).unwrap(), None);
        f[0..2].copy_from_slice(&500u16.to_be_bytes());
        assert!(shortform(&f, 0, b"a", 1).is_err());
    }
}
