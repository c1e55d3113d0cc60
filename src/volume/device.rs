//! Getting at the bytes of a target, read-only.
//!
//! A target is an image file or a block device. Both are opened `O_RDONLY`; nothing in this
//! module (or anywhere in the crate) opens a target for writing. A block device reports a
//! length of 0 through `stat`, so its size is taken from the device itself by seeking to its
//! end, which Linux answers with the device size.
//!
//! The bytes of the file are then read through its container format (`image::open`: raw,
//! qcow2, VMDK, VHD, VHDX, detected from the header): a `Device` is the virtual disk, and its
//! `size()` is the virtual size.

use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::VolumeError;
use super::image::{self, ImageInfo, ImageOptions, Opener};
use super::source::{BlockSource, RawFile, check_range};

/// What kind of thing the target path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    ImageFile,
    BlockDevice,
}

/// An opened target: an image file or a block device, read-only, seen through its container
/// format.
#[derive(Debug)]
pub struct Device {
    source: Arc<dyn BlockSource>,
    path: PathBuf,
    size: u64,
    kind: DeviceKind,
    image: ImageInfo,
}

impl Device {
    /// Opens `path` read-only, refusing backing and extent files an image names. A permission
    /// error on a block device says to run as root.
    pub fn open(path: &Path) -> Result<Device, VolumeError> {
        Device::open_with(path, &ImageOptions::default())
    }

    /// Opens `path` read-only with these image options.
    pub fn open_with(path: &Path, options: &ImageOptions) -> Result<Device, VolumeError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            // O_NONBLOCK: opening a FIFO given by mistake must not hang.
            .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| open_error(path, e))?;
        let meta = file.metadata().map_err(|e| VolumeError::io(path, e))?;
        let ft = meta.file_type();
        let (kind, size) = if ft.is_block_device() {
            let mut f = &file;
            let size = f
                .seek(SeekFrom::End(0))
                .map_err(|e| VolumeError::io(path, e))?;
            (DeviceKind::BlockDevice, size)
        } else if ft.is_file() {
            (DeviceKind::ImageFile, meta.len())
        } else if ft.is_dir() {
            return Err(VolumeError::IsDirectory(path.to_path_buf()));
        } else {
            return Err(VolumeError::NotAVolume(path.to_path_buf()));
        };
        let raw: Arc<dyn BlockSource> = Arc::new(RawFile::new(file, path, size));
        let (source, image) =
            image::open(raw, &Opener::new(path, options)).map_err(|e| match e {
                image::ImageError::Read(inner) => *inner,
                other => VolumeError::Image {
                    path: path.to_path_buf(),
                    source: Box::new(other),
                },
            })?;
        Ok(Device::from_source(path, kind, source, image))
    }

    /// A device over any source (an LVM logical volume, bytes in memory).
    pub fn from_source(
        path: &Path,
        kind: DeviceKind,
        source: Arc<dyn BlockSource>,
        image: ImageInfo,
    ) -> Device {
        Device {
            size: source.size(),
            source,
            path: path.to_path_buf(),
            kind,
            image,
        }
    }

    /// The container format and what it says about the virtual disk.
    pub fn image(&self) -> &ImageInfo {
        &self.image
    }

    pub fn source(&self) -> &Arc<dyn BlockSource> {
        &self.source
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size in bytes of the virtual disk: the file length or block device size for raw, the
    /// virtual size of an image format.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn kind(&self) -> DeviceKind {
        self.kind
    }

    /// Fills `buf` from `offset`. Reading past the end is an error that names the offset, so a
    /// truncated image gives a precise message instead of silently short data.
    pub fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        check_range(offset, buf.len(), self.size)?;
        self.source.read_exact_at(offset, buf)
    }
}

fn open_error(path: &Path, e: std::io::Error) -> VolumeError {
    match e.kind() {
        std::io::ErrorKind::NotFound => VolumeError::NotFound(path.to_path_buf()),
        std::io::ErrorKind::PermissionDenied => VolumeError::PermissionDenied(path.to_path_buf()),
        _ => VolumeError::io(path, e),
    }
}

/// A window of a device: a partition, or the whole device. Cheap to clone; bounds-checked.
#[derive(Clone, Debug)]
pub struct Slice {
    dev: Arc<Device>,
    start: u64,
    len: u64,
    /// An LVM logical volume: reads go through its segment map (onto slices of `dev`).
    lv: Option<Arc<super::lvm::LvMap>>,
}

impl Slice {
    /// The whole device.
    pub fn whole(dev: Arc<Device>) -> Slice {
        let len = dev.size();
        Slice {
            dev,
            start: 0,
            len,
            lv: None,
        }
    }

    /// `len` bytes from `start`, clipped to the end of the device: a partition that runs past the
    /// end of a truncated image can still be probed; reads past the clip fail with `BeyondEnd`.
    pub fn new(dev: Arc<Device>, start: u64, len: u64) -> Slice {
        let avail = dev.size().saturating_sub(start);
        Slice {
            dev,
            start,
            len: len.min(avail),
            lv: None,
        }
    }

    /// A logical volume on `dev`'s physical volumes.
    pub fn logical(dev: Arc<Device>, lv: Arc<super::lvm::LvMap>) -> Slice {
        Slice {
            dev,
            start: 0,
            len: lv.size(),
            lv: Some(lv),
        }
    }

    /// The logical volume this slice reads, if it is one.
    pub fn lv(&self) -> Option<&Arc<super::lvm::LvMap>> {
        self.lv.as_ref()
    }

    pub fn device(&self) -> &Arc<Device> {
        &self.dev
    }

    /// Offset of the slice on its device, in bytes.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Readable length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        let end = offset.checked_add(buf.len() as u64);
        match end {
            Some(end) if end <= self.len => match &self.lv {
                Some(lv) => lv.read_exact_at(offset, buf),
                None => self.dev.read_exact_at(self.start + offset, buf),
            },
            _ => Err(VolumeError::BeyondEnd {
                offset: self.start.saturating_add(offset),
                len: buf.len() as u64,
                size: self.start + self.len,
            }),
        }
    }

    /// Reads up to `len` bytes from `offset`, fewer at the end of the slice (for probing).
    pub fn read_upto(&self, offset: u64, len: usize) -> Result<Vec<u8>, VolumeError> {
        if offset >= self.len {
            return Ok(Vec::new());
        }
        let n = (self.len - offset).min(len as u64) as usize;
        let mut buf = vec![0u8; n];
        self.read_exact_at(offset, &mut buf)?;
        Ok(buf)
    }
}
