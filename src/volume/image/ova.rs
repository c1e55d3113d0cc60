//! OVA: a tar archive (POSIX ustar, as the OVF specification requires) holding an `.ovf`
//! descriptor and the disks, usually streamOptimized VMDKs. The first disk member is read in
//! place through a window of the archive, so an OVA needs no unpacking.

use std::sync::Arc;

use super::bytes::slice;
use super::{ImageError, ImageInfo, Opener, read_meta};
use crate::volume::VolumeError;
use crate::volume::source::{BlockSource, check_range};

const F: &str = "ova";
const BLOCK: u64 = 512;
/// Most archive members looked at.
const MAX_MEMBERS: usize = 4096;

/// `len` bytes of another source from `start`.
#[derive(Debug)]
pub struct Window {
    inner: Arc<dyn BlockSource>,
    start: u64,
    len: u64,
}

impl BlockSource for Window {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        check_range(offset, buf.len(), self.len)?;
        self.inner.read_exact_at(self.start + offset, buf)
    }
}

/// Does a 512-byte block look like a ustar header?
pub fn is_tar_header(b: &[u8]) -> bool {
    slice(b, 257, 5) == b"ustar"
}

fn octal(b: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(b).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// (name, data offset, size) of the archive's regular-file members.
fn members(src: &dyn BlockSource) -> Result<Vec<(String, u64, u64)>, ImageError> {
    let mut out = Vec::new();
    let mut at = 0u64;
    let mut long_name: Option<String> = None;
    for _ in 0..MAX_MEMBERS {
        if at + BLOCK > src.size() {
            break;
        }
        let h = read_meta(src, F, "tar header", at, BLOCK as usize)?;
        if h.iter().all(|&c| c == 0) {
            break;
        }
        if !is_tar_header(&h) {
            return Err(ImageError::corrupt(
                F,
                format!("no tar header at offset {at}"),
            ));
        }
        let size = octal(slice(&h, 124, 12))
            .ok_or_else(|| ImageError::corrupt(F, format!("bad member size at offset {at}")))?;
        let data = at + BLOCK;
        let mut name = cstr(slice(&h, 0, 100));
        let prefix = cstr(slice(&h, 345, 155));
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        match h[156] {
            // GNU long name, and pax extended headers: the next member's real name.
            b'L' | b'x' if size <= 64 * 1024 => {
                let d = read_meta(src, F, "tar extended header", data, size as usize)?;
                let text = String::from_utf8_lossy(&d).into_owned();
                long_name = if h[156] == b'L' {
                    Some(cstr(&d))
                } else {
                    text.lines()
                        .find_map(|l| l.split_once(" path=").map(|(_, p)| p.to_string()))
                };
            }
            b'0' | 0 => {
                let n = long_name.take().unwrap_or(name);
                if data.checked_add(size).is_none_or(|e| e > src.size()) {
                    return Err(ImageError::corrupt(
                        F,
                        format!(
                            "member \"{n}\" ({size} bytes) runs past the end of the archive: truncated"
                        ),
                    ));
                }
                out.push((n, data, size));
            }
            _ => long_name = None,
        }
        at = data
            .checked_add(size.div_ceil(BLOCK) * BLOCK)
            .ok_or_else(|| ImageError::corrupt(F, "member sizes overflow"))?;
    }
    Ok(out)
}

/// Opens the first disk (`.vmdk`, or any member in a disk format) of the OVA in `file`.
pub fn open(
    file: Arc<dyn BlockSource>,
    _opener: &Opener,
) -> Result<(Arc<dyn BlockSource>, ImageInfo), ImageError> {
    let ms = members(file.as_ref())?;
    let disks: Vec<&(String, u64, u64)> = ms
        .iter()
        .filter(|(n, _, _)| {
            let l = n.to_ascii_lowercase();
            l.ends_with(".vmdk")
                || l.ends_with(".qcow2")
                || l.ends_with(".vhd")
                || l.ends_with(".vhdx")
        })
        .collect();
    let Some((name, start, len)) = disks.first().map(|d| (*d).clone()) else {
        return Err(ImageError::unsupported(
            F,
            "a tar archive without a disk member (.vmdk)",
        ));
    };
    let w: Arc<dyn BlockSource> = Arc::new(Window {
        inner: file,
        start,
        len,
    });
    let format = super::detect(w.as_ref())?;
    if matches!(format, super::Format::Ova | super::Format::VmdkDescriptor) {
        return Err(ImageError::unsupported(
            F,
            format!("the member \"{name}\" is not a self-contained disk"),
        ));
    }
    // Companions of a member would be other members, not host files: refuse them all.
    let (src, mut info) = super::open_as(w, format, &Opener::memory()).map_err(|e| match e {
        ImageError::Refused { kind, name: n, .. } => {
            ImageError::unsupported(F, format!("the member \"{name}\" names a {kind} \"{n}\""))
        }
        other => other,
    })?;
    info.notes
        .push(format!("disk \"{name}\" of an OVA archive"));
    if disks.len() > 1 {
        let others: Vec<&str> = disks[1..].iter().map(|d| d.0.as_str()).collect();
        info.notes.push(format!(
            "other disks in the archive, not read: {}",
            others.join(", ")
        ));
    }
    Ok((src, info))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::source::MemSource;

    fn header(name: &str, size: u64, ty: u8) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let s = format!("{size:011o}\0");
        h[124..136].copy_from_slice(s.as_bytes());
        h[156] = ty;
        h[257..263].copy_from_slice(b"ustar\0");
        h
    }

    #[test]
    fn finds_members_and_refuses_truncation() {
        let mut a = header("disk.ovf", 3, b'0');
        a.extend_from_slice(&[b'x'; 512]);
        a.extend(header("disk1.vmdk", 1024, b'0'));
        a.extend_from_slice(&[7u8; 1024]);
        a.extend_from_slice(&[0u8; 1024]);
        let m = members(&MemSource::new(a.clone())).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1], ("disk1.vmdk".to_string(), 1536, 1024));
        a.truncate(2000);
        assert!(members(&MemSource::new(a)).is_err());
        // A raw "disk" inside: opens as raw, read through the window.
        let mut b = header("d.vmdk", 512, b'0');
        b.extend_from_slice(&[9u8; 512]);
        let (src, info) = open(Arc::new(MemSource::new(b)), &Opener::memory()).unwrap();
        assert_eq!(src.size(), 512);
        assert_eq!(info.format, "raw");
    }
}
