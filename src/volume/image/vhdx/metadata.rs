//! The VHDX metadata region ([MS-VHDX] 2.6: "Metadata Region"): the table of items, and the
//! known items (file parameters, virtual disk size, logical sector size).

use crate::volume::image::bytes::{guid_le, le16, le32, le64, slice};
use crate::volume::image::{ImageError, read_meta};
use crate::volume::source::BlockSource;

const F: &str = "vhdx";

const FILE_PARAMETERS: &str = "CAA16737-FA36-4D43-B3B6-33F0AA44E76B";
const VIRTUAL_DISK_SIZE: &str = "2FA54224-CD1B-4876-B211-5DBED83BF4B8";
const PAGE83: &str = "BECA12AB-B2E6-4523-93EF-C309E000C746";
const LOGICAL_SECTOR: &str = "8141BF1D-A96F-4709-BA47-F233A8FAAB5F";
const PHYSICAL_SECTOR: &str = "CDA348C7-445D-4471-9CC9-E9885251C556";
const PARENT_LOCATOR: &str = "A8D35F2D-B30B-454D-ABF7-D3D84834AB0C";
const MAX_ENTRIES: u16 = 2047;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub block_size: u32,
    pub has_parent: bool,
    pub leave_blocks_allocated: bool,
    pub virtual_size: u64,
    pub logical_sector: u32,
}

pub fn parse(src: &dyn BlockSource, offset: u64, length: u32) -> Result<Metadata, ImageError> {
    let table = read_meta(src, F, "metadata table", offset, 65536.min(length as usize))?;
    if slice(&table, 0, 8) != b"metadata" {
        return Err(ImageError::corrupt(F, "bad metadata table signature"));
    }
    let n = le16(&table, 10);
    if n > MAX_ENTRIES {
        return Err(ImageError::corrupt(
            F,
            format!("{n} metadata entries (limit 2047)"),
        ));
    }
    let mut block_size = None;
    let mut flags = 0u32;
    let mut size = None;
    let mut logical = None;
    for i in 0..n as usize {
        let at = 32 + 32 * i;
        let id = guid_le(&table, at);
        let item_off = u64::from(le32(&table, at + 16));
        let item_len = le32(&table, at + 20);
        let required = le32(&table, at + 24) & 4 != 0;
        let item = |want: usize| -> Result<Vec<u8>, ImageError> {
            if (item_len as usize) < want || item_off + u64::from(item_len) > u64::from(length) {
                return Err(ImageError::corrupt(
                    F,
                    format!("metadata item {id} ({item_len} bytes at {item_off}) is malformed"),
                ));
            }
            read_meta(
                src,
                F,
                "metadata item",
                offset.saturating_add(item_off),
                want,
            )
        };
        match id.as_str() {
            FILE_PARAMETERS => {
                let b = item(8)?;
                block_size = Some(le32(&b, 0));
                flags = le32(&b, 4);
            }
            VIRTUAL_DISK_SIZE => size = Some(le64(&item(8)?, 0)),
            LOGICAL_SECTOR => logical = Some(le32(&item(4)?, 0)),
            PAGE83 | PHYSICAL_SECTOR | PARENT_LOCATOR => {}
            other if required => {
                return Err(ImageError::unsupported(
                    F,
                    format!("the required metadata item {other}"),
                ));
            }
            _ => {}
        }
    }
    let missing = |what: &str| ImageError::corrupt(F, format!("no {what} metadata item"));
    let block_size = block_size.ok_or_else(|| missing("file parameters"))?;
    let virtual_size = size.ok_or_else(|| missing("virtual disk size"))?;
    let logical_sector = logical.ok_or_else(|| missing("logical sector size"))?;
    // [MS-VHDX] 2.6.2.1: 1 MiB to 256 MiB, a power of two.
    if !block_size.is_power_of_two() || !(1 << 20..=256 << 20).contains(&block_size) {
        return Err(ImageError::corrupt(
            F,
            format!("block size {block_size} is not a power of two from 1 MiB to 256 MiB"),
        ));
    }
    if logical_sector != 512 && logical_sector != 4096 {
        return Err(ImageError::corrupt(
            F,
            format!("logical sector size {logical_sector} is neither 512 nor 4096"),
        ));
    }
    // [MS-VHDX] 2.6.2.2: at most 64 TiB.
    if virtual_size > 64 << 40 {
        return Err(ImageError::corrupt(
            F,
            format!("virtual disk size {virtual_size} is above the 64 TiB maximum"),
        ));
    }
    Ok(Metadata {
        block_size,
        has_parent: flags & 2 != 0,
        leave_blocks_allocated: flags & 1 != 0,
        virtual_size,
        logical_sector,
    })
}
