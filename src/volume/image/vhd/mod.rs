//! VHD (Virtual PC / Hyper-V / Azure), read in place: fixed disks (the bytes, then a footer)
//! and dynamic disks (a block allocation table of blocks, each a sector bitmap then data).
//! Differencing disks are recognised and refused with their parent's name.

pub mod dynamic;
pub mod footer;

use std::path::PathBuf;
use std::sync::Arc;

use footer::{DIFFERENCING, DYNAMIC, FIXED, FOOTER, Footer};

use super::cache::Cache;
use super::{ImageError, ImageInfo, Opener, read_error, read_meta};
use crate::volume::VolumeError;
use crate::volume::source::{BlockSource, check_range};

const F: &str = "vhd";

/// Largest block allocation table read (4 bytes per block: 16 Mi blocks).
const MAX_BAT_BYTES: u64 = 64 * 1024 * 1024;
const BITMAP_CACHE: usize = 1024;

#[derive(Debug)]
enum Layout {
    Fixed,
    Dynamic {
        bat: Vec<u32>,
        block_size: u64,
        bitmap_size: u64,
        bitmaps: Cache<Vec<u8>>,
    },
}

#[derive(Debug)]
pub struct Vhd {
    file: Arc<dyn BlockSource>,
    path: PathBuf,
    size: u64,
    layout: Layout,
}

/// Reads the footer: the copy at the end; for dynamic disks the copy at offset 0 when the end
/// one is damaged (or missing, as in a disk still being written).
fn read_footer(file: &dyn BlockSource, notes: &mut Vec<String>) -> Result<Footer, ImageError> {
    let size = file.size();
    let tail = if size >= FOOTER {
        footer::parse(&read_meta(
            file,
            F,
            "footer",
            size - FOOTER,
            FOOTER as usize,
        )?)
        .ok()
    } else {
        None
    };
    let head = footer::parse(&read_meta(
        file,
        F,
        "footer copy",
        0,
        FOOTER.min(size) as usize,
    )?)
    .ok();
    let f = match (tail, head) {
        (Some(t), _) if t.checksum_ok => t,
        (_, Some(h)) if h.checksum_ok && h.disk_type != FIXED => {
            notes.push("the footer at the end is damaged; its copy at the start was used".into());
            h
        }
        (Some(t), _) => {
            notes.push("the footer checksum does not match".into());
            t
        }
        (None, Some(h)) if h.disk_type != FIXED => {
            notes.push("the footer at the end is missing; its copy at the start was used (damaged checksum)".into());
            h
        }
        _ => return Err(ImageError::corrupt(F, "no readable footer")),
    };
    Ok(f)
}

pub fn open(
    file: Arc<dyn BlockSource>,
    opener: &Opener,
) -> Result<(Arc<dyn BlockSource>, ImageInfo), ImageError> {
    let mut notes = Vec::new();
    let f = read_footer(file.as_ref(), &mut notes)?;
    if f.saved_state {
        notes.push("holds a saved state (the VM was suspended, not shut down)".into());
    }
    let size = f.virtual_size();
    let (sub, layout) = match f.disk_type {
        FIXED => {
            let data = file.size().saturating_sub(FOOTER);
            if size > data {
                return Err(ImageError::corrupt(
                    F,
                    format!(
                        "the footer gives a {size}-byte disk, but the file holds {data} bytes of data: truncated"
                    ),
                ));
            }
            ("fixed", Layout::Fixed)
        }
        DYNAMIC | DIFFERENCING => {
            let h = dynamic::parse(file.as_ref(), f.data_offset)?;
            if f.disk_type == DIFFERENCING {
                return Err(ImageError::unsupported(
                    F,
                    format!(
                        "differencing disks (this one's parent is \"{}\"; merge it first, e.g. qemu-img convert -O vpc, or read the parent)",
                        h.parent_name
                    ),
                ));
            }
            let block_size = u64::from(h.block_size);
            let blocks = size.div_ceil(block_size);
            if blocks > u64::from(h.max_table_entries) {
                return Err(ImageError::corrupt(
                    F,
                    format!(
                        "the block table has {} entries, fewer than the {blocks} a {size}-byte disk needs",
                        h.max_table_entries
                    ),
                ));
            }
            if blocks * 4 > MAX_BAT_BYTES {
                return Err(ImageError::corrupt(
                    F,
                    format!("a block table of {blocks} entries is larger than 64 MiB"),
                ));
            }
            let b = read_meta(
                file.as_ref(),
                F,
                "block allocation table",
                h.table_offset,
                (blocks * 4) as usize,
            )?;
            let bat = b
                .chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            // One bit per sector, padded to whole sectors.
            let bitmap_size = (block_size / 512).div_ceil(8).div_ceil(512) * 512;
            (
                "dynamic",
                Layout::Dynamic {
                    bat,
                    block_size,
                    bitmap_size,
                    bitmaps: Cache::new(BITMAP_CACHE),
                },
            )
        }
        t => return Err(ImageError::unsupported(F, format!("disk type {t}"))),
    };
    let info = ImageInfo {
        format: F,
        subformat: Some(sub.into()),
        virtual_size: size,
        notes,
        ..ImageInfo::default()
    };
    let v = Vhd {
        file,
        path: opener.path(),
        size,
        layout,
    };
    Ok((Arc::new(v), info))
}

impl Vhd {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), ImageError> {
        let Layout::Dynamic {
            bat,
            block_size,
            bitmap_size,
            bitmaps,
        } = &self.layout
        else {
            self.file.read_exact_at(offset, buf)?;
            return Ok(());
        };
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let block = pos / block_size;
            let in_block = pos % block_size;
            // Sector by sector within the block, runs of equal bitmap bits at a time.
            let n_block = ((block_size - in_block) as usize).min(buf.len() - done);
            let entry = bat.get(block as usize).copied().unwrap_or(u32::MAX);
            if entry == u32::MAX {
                buf[done..done + n_block].fill(0);
                done += n_block;
                continue;
            }
            let base = u64::from(entry) * 512;
            let data_start = base + bitmap_size;
            if data_start
                .checked_add(*block_size)
                .is_none_or(|e| e > self.file.size().saturating_sub(FOOTER))
            {
                // The last block may end at the footer; anything further is out of the file.
                let end = data_start.saturating_add(in_block + n_block as u64);
                if end > self.file.size() {
                    return Err(ImageError::corrupt(
                        F,
                        format!(
                            "block {block} at offset {base} lies beyond the end of the file ({} bytes)",
                            self.file.size()
                        ),
                    ));
                }
            }
            let bitmap = bitmaps.get_or_load(block, || {
                read_meta(
                    self.file.as_ref(),
                    F,
                    "sector bitmap",
                    base,
                    *bitmap_size as usize,
                )
            })?;
            let bit = |sector: u64| {
                bitmap
                    .get((sector / 8) as usize)
                    .is_some_and(|b| b & (0x80 >> (sector % 8)) != 0)
            };
            // Runs of sectors with the same bitmap bit, one read (or fill) each.
            let mut i = 0usize;
            while i < n_block {
                let first = (in_block + i as u64) / 512;
                let used = bit(first);
                let mut last = first;
                let end_sector = (in_block + n_block as u64 - 1) / 512;
                while last < end_sector && bit(last + 1) == used {
                    last += 1;
                }
                let run_end = (((last + 1) * 512 - in_block) as usize).min(n_block);
                let dst = &mut buf[done + i..done + run_end];
                if used {
                    self.file
                        .read_exact_at(data_start + in_block + i as u64, dst)?;
                } else {
                    // A clear bit: the sector holds no data (the spec: reads as zeros).
                    dst.fill(0);
                }
                i = run_end;
            }
            done += n_block;
        }
        Ok(())
    }
}

impl BlockSource for Vhd {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        check_range(offset, buf.len(), self.size)?;
        self.read(offset, buf)
            .map_err(|e| read_error(&self.path, e))
    }
}
