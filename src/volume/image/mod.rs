//! Disk image container formats, read in place: qcow2, VMDK, VHD, VHDX (and raw).
//!
//! The format is detected from the bytes (`detect`), never from the file name. Each format is a
//! `BlockSource` over the image file's own `BlockSource`, so partitions, filesystems and audits
//! read the virtual disk unchanged.
//!
//! An image is untrusted input. Headers are checked before anything is sized from them; every
//! table is bounded (by the format's own limits and by the file's size); compressed clusters are
//! inflated into a buffer of exactly one cluster, so a decompression bomb stops there. An image
//! that names other host files (a qcow2 backing file or external data file, VMDK extent files
//! or a parent, a differencing VHD's parent) gets them opened only with `allow_backing`, and then
//! only inside the top image's own directory (after resolving symlinks and `..`): see
//! `companion.rs`.

pub mod cache;
pub mod companion;
pub mod compress;
pub mod ova;
pub mod qcow2;
pub mod vhd;
pub mod vhdx;
pub mod vmdk;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::VolumeError;
use super::source::{BlockSource, read_upto};
pub use companion::Opener;

/// How images may be opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageOptions {
    /// Open backing, extent and parent files an image names, when they are inside the image's
    /// own directory. Off by default: an image can name any host path.
    pub allow_backing: bool,
}

/// What a target turned out to be, for the report (`target.image`) and `partitions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// `raw`, `qcow2`, `vmdk`, `vhd` or `vhdx`.
    pub format: &'static str,
    /// `v2`/`v3` (qcow2), the VMDK create type, `fixed`/`dynamic` (VHD), `dynamic`/`fixed`
    /// (VHDX); `null` for raw.
    pub subformat: Option<String>,
    /// Size of the virtual disk in bytes.
    pub virtual_size: u64,
    /// The backing (or parent) file the image names, as written in it.
    pub backing_file: Option<String>,
    /// Internal snapshots (qcow2); the active layer is what is read.
    pub snapshots: Vec<Snapshot>,
    /// Facts about the container worth knowing (marked dirty, unclean shutdown, compression).
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub id: String,
    pub name: String,
    /// Guest disk size when the snapshot was taken (qcow2 v3 extra data), if recorded.
    pub virtual_size: Option<u64>,
    /// Seconds since the epoch.
    pub date: u64,
}

impl ImageInfo {
    pub fn raw(size: u64) -> ImageInfo {
        ImageInfo {
            format: "raw",
            virtual_size: size,
            ..ImageInfo::default()
        }
    }
}

/// Why an image could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{format} image is corrupt: {what}")]
    Corrupt { format: &'static str, what: String },
    #[error("{format} image uses {what}, which this build cannot read")]
    Unsupported { format: &'static str, what: String },
    #[error(
        "{format} image is encrypted ({method}): it cannot be read without its key (decrypt a copy first, e.g. qemu-img convert --object secret,id=sec0,file=KEYFILE --image-opts driver=qcow2,file.filename=IMAGE,encrypt.key-secret=sec0 -O raw decrypted.img)"
    )]
    Encrypted {
        format: &'static str,
        method: &'static str,
    },
    #[error(
        "the image names the {kind} \"{name}\"; it was not opened, because an image can name any file on this host. If that file belongs to the image, run again with --allow-backing (files inside {dir} only)"
    )]
    Refused {
        kind: &'static str,
        name: String,
        dir: PathBuf,
    },
    #[error(
        "the image names the {kind} \"{name}\", which resolves to {resolved}, outside the image's directory {dir}: refused even with --allow-backing"
    )]
    Outside {
        kind: &'static str,
        name: String,
        resolved: PathBuf,
        dir: PathBuf,
    },
    #[error("the image names the {kind} \"{name}\" ({path}): {source}")]
    Companion {
        kind: &'static str,
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the {kind} chain loops back to {0}", kind = "backing")]
    Loop(PathBuf),
    #[error("the backing chain is deeper than {0} images")]
    TooDeep(u32),
    #[error("{0}")]
    Read(Box<VolumeError>),
}

impl From<VolumeError> for ImageError {
    fn from(e: VolumeError) -> ImageError {
        ImageError::Read(Box::new(e))
    }
}

impl ImageError {
    pub fn corrupt(format: &'static str, what: impl Into<String>) -> ImageError {
        ImageError::Corrupt {
            format,
            what: what.into(),
        }
    }

    pub fn unsupported(format: &'static str, what: impl Into<String>) -> ImageError {
        ImageError::Unsupported {
            format,
            what: what.into(),
        }
    }
}

/// A read error of a format reader while serving the guest (not while opening).
pub fn read_error(path: &Path, e: ImageError) -> VolumeError {
    match e {
        ImageError::Read(inner) => *inner,
        other => VolumeError::Image {
            path: path.to_path_buf(),
            source: Box::new(other),
        },
    }
}

/// Reads exactly `len` bytes of on-disk metadata; running past the end of the file is a
/// corruption ("truncated") that names the structure.
pub fn read_meta(
    src: &dyn BlockSource,
    format: &'static str,
    what: &str,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>, ImageError> {
    let size = src.size();
    if offset.checked_add(len as u64).is_none_or(|end| end > size) {
        return Err(ImageError::corrupt(
            format,
            format!(
                "the {what} at offset {offset} ({len} bytes) runs past the end of the file ({size} bytes): the image is truncated or the offset is wrong"
            ),
        ));
    }
    let mut buf = vec![0u8; len];
    src.read_exact_at(offset, &mut buf)?;
    Ok(buf)
}

/// The container format, from the first and last bytes of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Raw,
    Qcow2,
    /// A VMDK sparse extent (monolithicSparse, streamOptimized): binary header `KDMV`.
    VmdkSparse,
    /// A VMDK text descriptor (monolithicFlat, twoGbMaxExtent*, …) naming extent files.
    VmdkDescriptor,
    Vhd,
    Vhdx,
    /// A tar archive (OVA) holding a disk.
    Ova,
}

/// Largest text descriptor accepted as a VMDK descriptor file (VMware's are a few hundred
/// bytes; qemu reads at most 10 MiB… we bound lower since we hold it in memory).
pub const VMDK_DESCRIPTOR_MAX: u64 = 1024 * 1024;

/// Detects the format by magic numbers: qcow2 `QFI\xfb`, VMDK `KDMV` or a `# Disk
/// DescriptorFile` text, VHDX `vhdxfile`, VHD `conectix` at the start (dynamic) or in the last
/// sector (fixed), a tar header (OVA). Anything else is raw. Errors only when the file cannot be read.
pub fn detect(src: &dyn BlockSource) -> Result<Format, VolumeError> {
    let head = read_upto(src, 0, 512)?;
    if head.starts_with(b"QFI\xfb") {
        return Ok(Format::Qcow2);
    }
    if head.starts_with(b"KDMV") {
        return Ok(Format::VmdkSparse);
    }
    if head.starts_with(b"vhdxfile") {
        return Ok(Format::Vhdx);
    }
    if head.starts_with(b"conectix") {
        return Ok(Format::Vhd);
    }
    if src.size() <= VMDK_DESCRIPTOR_MAX && vmdk::descriptor::looks_like_descriptor(&head) {
        return Ok(Format::VmdkDescriptor);
    }
    if ova::is_tar_header(&head) {
        return Ok(Format::Ova);
    }
    let size = src.size();
    if size >= 1024 && size % 512 == 0 {
        let tail = read_upto(src, size - 512, 512)?;
        if tail.starts_with(b"conectix") {
            return Ok(Format::Vhd);
        }
    }
    Ok(Format::Raw)
}

/// Opens the virtual disk in `file` (an image or a raw disk). `opener` decides what companion
/// files may be opened.
pub fn open(
    file: Arc<dyn BlockSource>,
    opener: &Opener,
) -> Result<(Arc<dyn BlockSource>, ImageInfo), ImageError> {
    let format = detect(file.as_ref())?;
    open_as(file, format, opener)
}

/// Opens `file` as `format`.
pub fn open_as(
    file: Arc<dyn BlockSource>,
    format: Format,
    opener: &Opener,
) -> Result<(Arc<dyn BlockSource>, ImageInfo), ImageError> {
    match format {
        Format::Raw => {
            let info = ImageInfo::raw(file.size());
            Ok((file, info))
        }
        Format::Qcow2 => qcow2::open(file, opener),
        Format::VmdkSparse => vmdk::open_sparse(file, opener),
        Format::VmdkDescriptor => vmdk::open_descriptor(file, opener),
        Format::Vhd => vhd::open(file, opener),
        Format::Vhdx => vhdx::open(file, opener),
        Format::Ova => ova::open(file, opener),
    }
}

/// Big-endian and little-endian field readers over a header already read in full; a field
/// outside the buffer reads as 0 (callers read buffers of the structure's full size first).
pub(crate) mod bytes {
    pub fn be16(b: &[u8], o: usize) -> u16 {
        b.get(o..o + 2)
            .map(|s| u16::from_be_bytes([s[0], s[1]]))
            .unwrap_or(0)
    }
    pub fn be32(b: &[u8], o: usize) -> u32 {
        b.get(o..o + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
            .unwrap_or(0)
    }
    pub fn be64(b: &[u8], o: usize) -> u64 {
        b.get(o..o + 8)
            .map(|s| {
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                u64::from_be_bytes(a)
            })
            .unwrap_or(0)
    }
    pub fn le16(b: &[u8], o: usize) -> u16 {
        b.get(o..o + 2)
            .map(|s| u16::from_le_bytes([s[0], s[1]]))
            .unwrap_or(0)
    }
    pub fn le32(b: &[u8], o: usize) -> u32 {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            .unwrap_or(0)
    }
    pub fn le64(b: &[u8], o: usize) -> u64 {
        b.get(o..o + 8)
            .map(|s| {
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                u64::from_le_bytes(a)
            })
            .unwrap_or(0)
    }
    pub fn slice(b: &[u8], o: usize, n: usize) -> &[u8] {
        b.get(o..o.saturating_add(n)).unwrap_or(&[])
    }
    /// A GUID as it is stored on disk by Microsoft formats (first three fields little-endian),
    /// in its usual text form.
    pub fn guid_le(b: &[u8], o: usize) -> String {
        let g = slice(b, o, 16);
        if g.len() < 16 {
            return String::new();
        }
        format!(
            "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
            u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
            u16::from_le_bytes([g[4], g[5]]),
            u16::from_le_bytes([g[6], g[7]]),
            g[8],
            g[9],
            g[10],
            g[11],
            g[12],
            g[13],
            g[14],
            g[15]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::source::MemSource;

    #[test]
    fn detects_by_magic_not_name() {
        let mut v = vec![0u8; 4096];
        assert_eq!(detect(&MemSource::new(v.clone())).unwrap(), Format::Raw);
        v[..4].copy_from_slice(b"QFI\xfb");
        assert_eq!(detect(&MemSource::new(v.clone())).unwrap(), Format::Qcow2);
        v[..8].copy_from_slice(b"vhdxfile");
        assert_eq!(detect(&MemSource::new(v.clone())).unwrap(), Format::Vhdx);
        v[..8].copy_from_slice(&[0; 8]);
        v[4096 - 512..4096 - 504].copy_from_slice(b"conectix");
        assert_eq!(detect(&MemSource::new(v.clone())).unwrap(), Format::Vhd);
        let d = b"# Disk DescriptorFile\nversion=1\n".to_vec();
        assert_eq!(detect(&MemSource::new(d)).unwrap(), Format::VmdkDescriptor);
        assert_eq!(detect(&MemSource::new(Vec::new())).unwrap(), Format::Raw);
    }

    #[test]
    fn meta_reads_past_the_end_are_named() {
        let m = MemSource::new(vec![0; 100]);
        let e = read_meta(&m, "qcow2", "L1 table", 90, 20).unwrap_err();
        assert!(e.to_string().contains("L1 table at offset 90"), "{e}");
        assert!(read_meta(&m, "qcow2", "x", u64::MAX, 2).is_err());
    }
}
