//! The VMDK hosted sparse extent header (VMware "Virtual Disk Format 1.1", `SparseExtentHeader`;
//! qemu's `block/vmdk.c: vmdk_open_vmdk4` is the reference for what is accepted), including the
//! footer copy that streamOptimized images carry at the end of the file.

use crate::volume::image::bytes::{le16, le32, le64, slice};
use crate::volume::image::{ImageError, read_meta};
use crate::volume::source::BlockSource;

const F: &str = "vmdk";
pub const SECTOR: u64 = 512;

/// `gdOffset` of a streamOptimized header: the grain directory is found through the footer.
pub const GD_AT_END: u64 = u64::MAX;

pub const FLAG_ZERO_GRAIN: u32 = 1 << 2;
pub const FLAG_COMPRESSED: u32 = 1 << 16;
pub const FLAG_MARKERS: u32 = 1 << 17;

/// Largest grain accepted (VMware writes 64 KiB grains; qemu allows up to 2^16 sectors, we keep
/// one inflated grain per cache slot, so the bound is lower).
pub const MAX_GRAIN_SECTORS: u64 = 2048;
/// Largest grain directory accepted, in bytes.
pub const MAX_GD_BYTES: u64 = 32 * 1024 * 1024;
/// Largest embedded descriptor read.
pub const MAX_DESCRIPTOR_BYTES: u64 = 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SparseHeader {
    pub version: u32,
    pub flags: u32,
    /// Capacity in sectors.
    pub capacity: u64,
    /// Grain size in sectors.
    pub grain: u64,
    pub descriptor_offset: u64,
    pub descriptor_size: u64,
    pub gtes_per_gt: u32,
    /// Grain directory offset, in sectors.
    pub gd_offset: u64,
    pub unclean_shutdown: bool,
    pub compress_algorithm: u16,
}

impl SparseHeader {
    pub fn compressed(&self) -> bool {
        self.flags & FLAG_COMPRESSED != 0
    }

    pub fn markers(&self) -> bool {
        self.flags & FLAG_MARKERS != 0
    }

    /// Number of grain directory entries the capacity needs.
    pub fn gd_entries(&self) -> u64 {
        let per_gt = self.grain * u64::from(self.gtes_per_gt);
        self.capacity.div_ceil(per_gt)
    }
}

/// Decodes a 512-byte header sector (magic included).
fn decode(b: &[u8]) -> Result<SparseHeader, ImageError> {
    if slice(b, 0, 4) != b"KDMV" {
        return Err(ImageError::corrupt(F, "bad sparse extent magic"));
    }
    Ok(SparseHeader {
        version: le32(b, 4),
        flags: le32(b, 8),
        capacity: le64(b, 12),
        grain: le64(b, 20),
        descriptor_offset: le64(b, 28),
        descriptor_size: le64(b, 36),
        gtes_per_gt: le32(b, 44),
        gd_offset: le64(b, 56),
        unclean_shutdown: b.get(72).is_some_and(|&c| c != 0),
        compress_algorithm: le16(b, 77),
    })
}

/// Reads the header of the sparse extent in `src`; for a streamOptimized extent whose header
/// defers the grain directory to the end, the footer's copy is used (`vmdk_open_vmdk4`).
pub fn parse(src: &dyn BlockSource) -> Result<SparseHeader, ImageError> {
    let b = read_meta(src, F, "sparse extent header", 0, 512)?;
    let mut h = decode(&b)?;
    if h.gd_offset == GD_AT_END {
        let size = src.size();
        if size < 1536 + 512 {
            return Err(ImageError::corrupt(
                F,
                "the grain directory is in a footer, but the file is too short to have one",
            ));
        }
        let end = (size / SECTOR) * SECTOR;
        let tail = read_meta(src, F, "footer", end - 1536, 1536)?;
        // Footer marker (type 3), footer header, end-of-stream marker (type 0).
        // (The footer marker's value is the footer's sector count; qemu does not check it.)
        let marker_ok = le32(&tail, 8) == 0 && le32(&tail, 12) == 3;
        let eos_ok = le64(&tail, 1024) == 0 && le32(&tail, 1032) == 0 && le32(&tail, 1036) == 0;
        if !marker_ok || !eos_ok {
            return Err(ImageError::corrupt(
                F,
                "streamOptimized image without its footer and end-of-stream markers: it was not written to the end (truncated or still being exported)",
            ));
        }
        h = decode(slice(&tail, 512, 512))?;
        if h.gd_offset == GD_AT_END {
            return Err(ImageError::corrupt(
                F,
                "the footer does not say where the grain directory is",
            ));
        }
    }
    check(&h)?;
    Ok(h)
}

fn check(h: &SparseHeader) -> Result<(), ImageError> {
    if !(1..=3).contains(&h.version) {
        return Err(ImageError::unsupported(
            F,
            format!("sparse extent version {}", h.version),
        ));
    }
    if h.grain == 0 || !h.grain.is_power_of_two() || h.grain > MAX_GRAIN_SECTORS {
        return Err(ImageError::corrupt(
            F,
            format!(
                "grain size {} sectors is not a power of two up to {MAX_GRAIN_SECTORS}",
                h.grain
            ),
        ));
    }
    if h.gtes_per_gt != 512 {
        return Err(ImageError::unsupported(
            F,
            format!("{} grain table entries per table (not 512)", h.gtes_per_gt),
        ));
    }
    if h.capacity > u64::MAX / SECTOR {
        return Err(ImageError::corrupt(
            F,
            format!("capacity {} sectors overflows", h.capacity),
        ));
    }
    if h.gd_entries() * 4 > MAX_GD_BYTES {
        return Err(ImageError::corrupt(
            F,
            format!(
                "a grain directory of {} entries is larger than 32 MiB",
                h.gd_entries()
            ),
        ));
    }
    if h.compressed() && h.compress_algorithm != 1 {
        return Err(ImageError::unsupported(
            F,
            format!("compression algorithm {}", h.compress_algorithm),
        ));
    }
    if h.compressed() && !h.markers() {
        return Err(ImageError::unsupported(
            F,
            "compressed grains without grain markers",
        ));
    }
    if h.descriptor_size > MAX_DESCRIPTOR_BYTES / SECTOR {
        return Err(ImageError::corrupt(
            F,
            format!(
                "an embedded descriptor of {} sectors is larger than 1 MiB",
                h.descriptor_size
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::volume::source::MemSource;

    pub fn header(capacity: u64, gd_offset: u64) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[0..4].copy_from_slice(b"KDMV");
        b[4..8].copy_from_slice(&1u32.to_le_bytes());
        b[12..20].copy_from_slice(&capacity.to_le_bytes());
        b[20..28].copy_from_slice(&128u64.to_le_bytes());
        b[44..48].copy_from_slice(&512u32.to_le_bytes());
        b[56..64].copy_from_slice(&gd_offset.to_le_bytes());
        b
    }

    #[test]
    fn header_checks() {
        let h = parse(&MemSource::new(header(2048, 1))).unwrap();
        assert_eq!(h.gd_entries(), 1);
        let bad = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = header(2048, 1);
            f(&mut b);
            parse(&MemSource::new(b)).unwrap_err().to_string()
        };
        assert!(bad(&|b| b[20..28].copy_from_slice(&3u64.to_le_bytes())).contains("grain size"));
        assert!(bad(&|b| b[44..48].copy_from_slice(&7u32.to_le_bytes())).contains("not 512"));
        assert!(bad(&|b| b[12..20].copy_from_slice(&u64::MAX.to_le_bytes())).contains("overflows"));
        assert!(
            bad(&|b| b[12..20].copy_from_slice(&(1u64 << 50).to_le_bytes())).contains("32 MiB")
        );
        assert!(bad(&|b| b[4..8].copy_from_slice(&9u32.to_le_bytes())).contains("version 9"));
        // streamOptimized without a footer.
        let mut b = header(2048, GD_AT_END);
        b.resize(4096, 0);
        let e = parse(&MemSource::new(b)).unwrap_err().to_string();
        assert!(e.contains("footer"), "{e}");
    }
}
