//! Where a device's bytes come from: the one seam between "a file of bytes" and "a disk".
//!
//! `BlockSource` is deliberately small: a size and a positioned read. A raw image or block
//! device is one (`RawFile`); a container format (qcow2, VMDK, VHD, VHDX in `image/`) is one
//! that maps virtual offsets onto the bytes of another source; an LVM logical volume can be one
//! built from segments over physical-volume slices. Everything above `Device` (partition
//! tables, filesystems, audits) sees only virtual offsets.
//!
//! Implementations must be `Send + Sync`: package verification reads one device from several
//! threads at once, so any cache inside a source needs interior locking that does not
//! serialize all reads.

use std::fmt::Debug;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::VolumeError;

/// A read-only, random-access run of bytes of a known size.
pub trait BlockSource: Send + Sync + Debug {
    /// Size in bytes (for a container format: the virtual disk size).
    fn size(&self) -> u64;

    /// Fills `buf` with the bytes at `offset`. A read that does not fit inside `size()` fails
    /// with `VolumeError::BeyondEnd`; a read the format cannot satisfy fails with an error that
    /// says why (a corrupt table, a truncated file) instead of returning short or wrong data.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError>;
}

/// `offset..offset+len` must lie inside `0..size`.
pub fn check_range(offset: u64, len: usize, size: u64) -> Result<(), VolumeError> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= size => Ok(()),
        _ => Err(VolumeError::BeyondEnd {
            offset,
            len: len as u64,
            size,
        }),
    }
}

/// An opened file or block device read as it is.
#[derive(Debug)]
pub struct RawFile {
    file: File,
    path: PathBuf,
    size: u64,
}

impl RawFile {
    /// Wraps an already opened (read-only) file whose size is known.
    pub fn new(file: File, path: &Path, size: u64) -> RawFile {
        RawFile {
            file,
            path: path.to_path_buf(),
            size,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl BlockSource for RawFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        check_range(offset, buf.len(), self.size)?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| VolumeError::io(&self.path, e))
    }
}

/// Bytes in memory: for tests and fuzzing the image parsers without files.
#[derive(Debug, Clone, Default)]
pub struct MemSource {
    data: Vec<u8>,
}

impl MemSource {
    pub fn new(data: Vec<u8>) -> MemSource {
        MemSource { data }
    }
}

impl BlockSource for MemSource {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        check_range(offset, buf.len(), self.size())?;
        // In range: offset + len <= data.len(), checked above.
        let start = offset as usize;
        match self.data.get(start..start + buf.len()) {
            Some(s) => {
                buf.copy_from_slice(s);
                Ok(())
            }
            None => Err(VolumeError::BeyondEnd {
                offset,
                len: buf.len() as u64,
                size: self.size(),
            }),
        }
    }
}

/// Reads up to `len` bytes at `offset`, fewer at the end of the source (for probing headers).
pub fn read_upto(src: &dyn BlockSource, offset: u64, len: usize) -> Result<Vec<u8>, VolumeError> {
    let size = src.size();
    if offset >= size {
        return Ok(Vec::new());
    }
    let n = (size - offset).min(len as u64) as usize;
    let mut buf = vec![0u8; n];
    src.read_exact_at(offset, &mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_source_bounds() {
        let m = MemSource::new(vec![1, 2, 3, 4]);
        let mut b = [0u8; 2];
        m.read_exact_at(2, &mut b).unwrap();
        assert_eq!(b, [3, 4]);
        assert!(matches!(
            m.read_exact_at(3, &mut b),
            Err(VolumeError::BeyondEnd { .. })
        ));
        assert!(m.read_exact_at(u64::MAX, &mut b).is_err());
        assert_eq!(read_upto(&m, 3, 10).unwrap(), vec![4]);
        assert!(read_upto(&m, 9, 10).unwrap().is_empty());
    }
}
