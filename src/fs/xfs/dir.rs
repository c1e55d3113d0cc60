//! Directories (version 2/3 format, `xfs_da_format.h`): short form in the inode
//! (`xfs_dir2_sf_hdr` + entries), and the data blocks of block, leaf, node and btree
//! directories (`xfs_dir2_data_hdr`/`xfs_dir3_data_hdr` + entries and unused regions). Entries
//! are listed from the data blocks alone, like `xfs_dir2_readdir.c`; the hash index (leaf and
//! free blocks above `XFS_DIR2_LEAF_OFFSET`) is not needed to list or to look up by scanning.

use super::be::{crc_ok, u8_at, u16_at, u32_at, u64_at};
use super::error::XfsError;
use crate::fs::FileType;

/// `XFS_DIR2_LEAF_OFFSET`: data blocks live below 32 GiB of directory offset.
pub const LEAF_OFFSET: u64 = 32 << 30;

const XD2B: &[u8; 4] = b"XD2B";
const XDB3: &[u8; 4] = b"XDB3";
const XD2D: &[u8; 4] = b"XD2D";
const XDD3: &[u8; 4] = b"XDD3";
const DATA_HDR_V4: usize = 16;
const DATA_HDR_V5: usize = 64;
const DIR3_CRC_OFF: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub ino: u64,
    /// `XFS_DIR3_FT_*`, 0 without the ftype feature.
    pub ftype: u8,
}

/// The file type a directory entry records (`xfs_dir3_ft_*`), `None` when it does not.
pub fn ftype_to_type(ft: u8) -> Option<FileType> {
    Some(match ft {
        1 => FileType::Regular,
        2 => FileType::Directory,
        3 => FileType::CharDevice,
        4 => FileType::BlockDevice,
        5 => FileType::Fifo,
        6 => FileType::Socket,
        7 => FileType::Symlink,
        _ => return None,
    })
}

fn check_name(name: &[u8], ino: u64, what: &'static str) -> Result<(), XfsError> {
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(XfsError::corrupt(
            what,
            ino,
            format!("invalid entry name {:?}", String::from_utf8_lossy(name)),
        ));
    }
    Ok(())
}

/// A short-form directory (in the inode's data fork): the parent and the entries.
pub fn shortform(
    fork: &[u8],
    size: u64,
    ftype: bool,
    ino: u64,
) -> Result<(u64, Vec<Entry>), XfsError> {
    const WHAT: &str = "short-form directory";
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size > fork.len() || size < 6 {
        return Err(XfsError::corrupt(
            WHAT,
            ino,
            format!("size {size} does not fit the {}-byte fork", fork.len()),
        ));
    }
    let b = &fork[..size];
    let count = usize::from(u8_at(b, 0));
    let i8count = u8_at(b, 1);
    let wide = i8count != 0;
    let ino_len = if wide { 8 } else { 4 };
    let get_ino = |o: usize| {
        if wide {
            u64_at(b, o)
        } else {
            u64::from(u32_at(b, o))
        }
    };
    let parent = get_ino(2);
    let mut off = 2 + ino_len;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let namelen = usize::from(u8_at(b, off));
        let name_at = off + 3;
        let ft_len = usize::from(ftype);
        let end = name_at + namelen + ft_len + ino_len;
        if namelen == 0 || end > b.len() {
            return Err(XfsError::corrupt(
                WHAT,
                ino,
                format!("entry {i} of {count} runs past the directory's {size} bytes"),
            ));
        }
        let name = b[name_at..name_at + namelen].to_vec();
        check_name(&name, ino, WHAT)?;
        let ft = if ftype {
            u8_at(b, name_at + namelen)
        } else {
            0
        };
        out.push(Entry {
            name,
            ino: get_ino(name_at + namelen + ft_len),
            ftype: ft,
        });
        off = end;
    }
    Ok((parent, out))
}

/// The entries of one directory data block (`dirblksize` bytes), block-form or data-form.
/// `.` and `..` are left out.
pub fn data_block(
    block: &[u8],
    v5: bool,
    ftype: bool,
    ino: u64,
    out: &mut Vec<Entry>,
) -> Result<(), XfsError> {
    const WHAT: &str = "directory block";
    let magic = block.get(0..4).unwrap_or(&[]);
    let (is_block_form, ok) = if v5 {
        (magic == XDB3, magic == XDB3 || magic == XDD3)
    } else {
        (magic == XD2B, magic == XD2B || magic == XD2D)
    };
    if !ok {
        return Err(XfsError::corrupt(
            WHAT,
            ino,
            format!("bad magic {magic:02x?}"),
        ));
    }
    if v5 {
        if !crc_ok(block, DIR3_CRC_OFF) {
            return Err(XfsError::corrupt(WHAT, ino, "checksum mismatch"));
        }
        let owner = u64_at(block, 40);
        if owner != ino {
            return Err(XfsError::corrupt(
                WHAT,
                ino,
                format!("block owned by inode {owner}"),
            ));
        }
    }
    let hdr = if v5 { DATA_HDR_V5 } else { DATA_HDR_V4 };
    let end = if is_block_form {
        // xfs_dir2_block_tail: leaf count and stale count in the last 8 bytes, the leaf
        // entries (8 bytes each) before them.
        let count = u64::from(u32_at(block, block.len().saturating_sub(8)));
        let tail = 8 + count.saturating_mul(8);
        let data_end = (block.len() as u64).saturating_sub(tail) as usize;
        if data_end < hdr {
            return Err(XfsError::corrupt(
                WHAT,
                ino,
                format!("block tail of {count} leaf entries leaves no room for data"),
            ));
        }
        data_end
    } else {
        block.len()
    };
    let mut off = hdr;
    while off < end {
        if u16_at(block, off) == 0xffff {
            // An unused region: freetag, length (a multiple of 8).
            let len = usize::from(u16_at(block, off + 2));
            if len < 8 || len % 8 != 0 || off + len > end {
                return Err(XfsError::corrupt(
                    WHAT,
                    ino,
                    format!("free region of {len} bytes at offset {off}"),
                ));
            }
            off += len;
            continue;
        }
        let entino = u64_at(block, off);
        let namelen = usize::from(u8_at(block, off + 8));
        // xfs_dir2_data_entsize: inumber, namelen, name, [ftype], tag; 8-byte aligned.
        let size = (8 + 1 + namelen + usize::from(ftype) + 2).next_multiple_of(8);
        if namelen == 0 || off + size > end {
            return Err(XfsError::corrupt(
                WHAT,
                ino,
                format!("entry at offset {off} (name length {namelen}) runs past the data"),
            ));
        }
        let name = &block[off + 9..off + 9 + namelen];
        let ft = if ftype {
            u8_at(block, off + 9 + namelen)
        } else {
            0
        };
        let tag = usize::from(u16_at(block, off + size - 2));
        if tag != off {
            return Err(XfsError::corrupt(
                WHAT,
                ino,
                format!("entry at offset {off} has tag {tag}"),
            ));
        }
        if name != b"." && name != b".." {
            check_name(name, ino, WHAT)?;
            out.push(Entry {
                name: name.to_vec(),
                ino: entino,
                ftype: ft,
            });
        }
        off += size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortform_entries() {
        // count 2, i8count 0, parent 128; "a" ftype 1 ino 131; "bb" ftype 2 ino 132.
        let mut b = vec![2u8, 0, 0, 0, 0, 128];
        b.extend_from_slice(&[1, 0, 0x60, b'a', 1, 0, 0, 0, 131]);
        b.extend_from_slice(&[2, 0, 0x70, b'b', b'b', 2, 0, 0, 0, 132]);
        let size = b.len() as u64;
        b.resize(64, 0);
        let (parent, e) = shortform(&b, size, true, 128).unwrap();
        assert_eq!(parent, 128);
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[1].name.as_slice(), e[1].ino, e[1].ftype),
            (&b"bb"[..], 132, 2)
        );
        assert!(shortform(&b, size - 1, true, 128).is_err());
        assert!(shortform(&b, 200, true, 128).is_err());
    }

    #[test]
    fn data_block_v4() {
        let mut blk = vec![0u8; 4096];
        blk[0..4].copy_from_slice(XD2D);
        let mut off = DATA_HDR_V4;
        for (name, ino) in [(&b"."[..], 128u64), (b"..", 128), (b"passwd", 140)] {
            blk[off..off + 8].copy_from_slice(&ino.to_be_bytes());
            blk[off + 8] = name.len() as u8;
            blk[off + 9..off + 9 + name.len()].copy_from_slice(name);
            blk[off + 9 + name.len()] = 1;
            let size = (12 + name.len()).next_multiple_of(8);
            blk[off + size - 2..off + size].copy_from_slice(&(off as u16).to_be_bytes());
            off += size;
        }
        blk[off..off + 2].copy_from_slice(&0xffffu16.to_be_bytes());
        blk[off + 2..off + 4].copy_from_slice(&((4096 - off) as u16).to_be_bytes());
        let mut out = Vec::new();
        data_block(&blk, false, true, 128, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].name.as_slice(), out[0].ino), (&b"passwd"[..], 140));
        blk[off + 2] = 0x7f;
        assert!(data_block(&blk, false, true, 128, &mut Vec::new()).is_err());
    }
}
