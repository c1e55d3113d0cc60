//! The VHD dynamic disk header ("Dynamic Disk Header Format") that dynamic and differencing
//! disks carry at the footer's `data_offset`.

use crate::volume::image::bytes::{be32, be64, slice};
use crate::volume::image::{ImageError, read_meta};
use crate::volume::source::BlockSource;

const F: &str = "vhd";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicHeader {
    /// Byte offset of the block allocation table.
    pub table_offset: u64,
    pub max_table_entries: u32,
    pub block_size: u32,
    /// The parent's file name (differencing disks), from the UTF-16 name field.
    pub parent_name: String,
}

pub fn parse(src: &dyn BlockSource, offset: u64) -> Result<DynamicHeader, ImageError> {
    let b = read_meta(src, F, "dynamic disk header", offset, 1024)?;
    if slice(&b, 0, 8) != b"cxsparse" {
        return Err(ImageError::corrupt(
            F,
            format!("no dynamic disk header (cookie \"cxsparse\") at offset {offset}"),
        ));
    }
    let block_size = be32(&b, 32);
    if !block_size.is_power_of_two() || block_size < 512 {
        return Err(ImageError::corrupt(
            F,
            format!("block size {block_size} is not a power of two of at least 512"),
        ));
    }
    let units: Vec<u16> = slice(&b, 64, 512)
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    Ok(DynamicHeader {
        table_offset: be64(&b, 16),
        max_table_entries: be32(&b, 28),
        block_size,
        parent_name: String::from_utf16_lossy(&units),
    })
}
