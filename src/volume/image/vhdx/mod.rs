//! VHDX (Hyper-V), read in place ([MS-VHDX]): current header, region table, metadata, and the
//! block allocation table (payload entries interleaved with sector bitmap entries every
//! "chunk ratio" blocks), loaded in pages on demand. A log left by an unclean shutdown is
//! replayed in memory (`log.rs`); differencing images are refused with the reason.

pub mod header;
pub mod log;
pub mod metadata;

use std::path::PathBuf;
use std::sync::Arc;

use super::cache::Cache;
use super::{ImageError, ImageInfo, Opener, read_error, read_meta};
use crate::volume::VolumeError;
use crate::volume::source::{BlockSource, check_range};

const F: &str = "vhdx";

/// BAT entries per cached page (32 KiB).
const PAGE_ENTRIES: u64 = 4096;
const PAGE_CACHE: usize = 256;

/// Payload block states ([MS-VHDX] 2.5.1.1).
const NOT_PRESENT: u64 = 0;
const UNDEFINED: u64 = 1;
const ZERO: u64 = 2;
const UNMAPPED: u64 = 3;
const FULLY_PRESENT: u64 = 6;
const PARTIALLY_PRESENT: u64 = 7;

#[derive(Debug)]
pub struct Vhdx {
    file: Arc<dyn BlockSource>,
    path: PathBuf,
    size: u64,
    block_size: u64,
    chunk_ratio: u64,
    bat_offset: u64,
    bat_entries: u64,
    pages: Cache<Vec<u64>>,
}

pub fn open(
    file: Arc<dyn BlockSource>,
    opener: &Opener,
) -> Result<(Arc<dyn BlockSource>, ImageInfo), ImageError> {
    let h = header::current_header(file.as_ref())?;
    let mut notes = Vec::new();
    let file: Arc<dyn BlockSource> = if h.log_pending() {
        let r = log::replay(file, h.log_offset, h.log_length, &h.log_guid)?;
        notes.push(format!(
            "not closed cleanly: {} log entries replayed in memory (the file is unchanged)",
            r.entries
        ));
        Arc::new(r)
    } else {
        file
    };
    let regions = header::regions(file.as_ref())?;
    let mut bat = None;
    let mut meta = None;
    for r in &regions {
        match r.guid.as_str() {
            header::BAT_GUID => bat = Some(r.clone()),
            header::METADATA_GUID => meta = Some(r.clone()),
            other if r.required => {
                return Err(ImageError::unsupported(
                    F,
                    format!("the required region {other}"),
                ));
            }
            _ => {}
        }
    }
    let (Some(bat), Some(meta)) = (bat, meta) else {
        return Err(ImageError::corrupt(
            F,
            "the region table lacks the block allocation table or the metadata region",
        ));
    };
    let m = metadata::parse(file.as_ref(), meta.offset, meta.length)?;
    if m.has_parent {
        return Err(ImageError::unsupported(
            F,
            "differencing disks (this one has a parent; merge it first, e.g. qemu-img convert -O vhdx)",
        ));
    }
    let block_size = u64::from(m.block_size);
    let chunk_ratio = ((1u64 << 23) * u64::from(m.logical_sector)) / block_size;
    let blocks = m.virtual_size.div_ceil(block_size);
    let bat_entries = if blocks == 0 {
        0
    } else {
        blocks + (blocks - 1) / chunk_ratio
    };
    if bat_entries * 8 > u64::from(bat.length) {
        return Err(ImageError::corrupt(
            F,
            format!(
                "the block allocation table region ({} bytes) is too small for {bat_entries} entries",
                bat.length
            ),
        ));
    }
    if bat
        .offset
        .checked_add(bat_entries * 8)
        .is_none_or(|e| e > file.size())
    {
        return Err(ImageError::corrupt(
            F,
            format!(
                "the block allocation table at offset {} runs past the end of the file ({} bytes): truncated",
                bat.offset,
                file.size()
            ),
        ));
    }
    let info = ImageInfo {
        format: F,
        subformat: Some(
            if m.leave_blocks_allocated {
                "fixed"
            } else {
                "dynamic"
            }
            .into(),
        ),
        virtual_size: m.virtual_size,
        notes,
        ..ImageInfo::default()
    };
    let v = Vhdx {
        file,
        path: opener.path(),
        size: m.virtual_size,
        block_size,
        chunk_ratio,
        bat_offset: bat.offset,
        bat_entries,
        pages: Cache::new(PAGE_CACHE),
    };
    Ok((Arc::new(v), info))
}

impl Vhdx {
    fn entry(&self, index: u64) -> Result<u64, ImageError> {
        let page = index / PAGE_ENTRIES;
        let table = self.pages.get_or_load(page, || {
            let first = page * PAGE_ENTRIES;
            let n = (self.bat_entries - first).min(PAGE_ENTRIES);
            let b = read_meta(
                self.file.as_ref(),
                F,
                "block allocation table",
                self.bat_offset + first * 8,
                (n * 8) as usize,
            )?;
            Ok::<_, ImageError>(
                b.chunks_exact(8)
                    .map(|c| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(c);
                        u64::from_le_bytes(a)
                    })
                    .collect(),
            )
        })?;
        table
            .get((index % PAGE_ENTRIES) as usize)
            .copied()
            .ok_or_else(|| ImageError::corrupt(F, format!("no BAT entry {index}")))
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), ImageError> {
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let block = pos / self.block_size;
            let in_block = pos % self.block_size;
            let n = ((self.block_size - in_block) as usize).min(buf.len() - done);
            let dst = &mut buf[done..done + n];
            let e = self.entry(block + block / self.chunk_ratio)?;
            match e & 7 {
                NOT_PRESENT | UNDEFINED | ZERO | UNMAPPED => dst.fill(0),
                FULLY_PRESENT => {
                    let at = ((e >> 20) << 20).saturating_add(in_block);
                    if at
                        .checked_add(n as u64)
                        .is_none_or(|x| x > self.file.size())
                    {
                        return Err(ImageError::corrupt(
                            F,
                            format!(
                                "block {block} at offset {} lies beyond the end of the file ({} bytes)",
                                (e >> 20) << 20,
                                self.file.size()
                            ),
                        ));
                    }
                    self.file.read_exact_at(at, dst)?;
                }
                PARTIALLY_PRESENT => {
                    return Err(ImageError::corrupt(
                        F,
                        format!(
                            "block {block} is partially present, which only differencing disks may be"
                        ),
                    ));
                }
                s => {
                    return Err(ImageError::corrupt(
                        F,
                        format!("block {block} has the invalid state {s}"),
                    ));
                }
            }
            done += n;
        }
        Ok(())
    }
}

impl BlockSource for Vhdx {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        check_range(offset, buf.len(), self.size)?;
        self.read(offset, buf)
            .map_err(|e| read_error(&self.path, e))
    }
}
