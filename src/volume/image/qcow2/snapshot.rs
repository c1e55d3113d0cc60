//! The qcow2 internal snapshot table (`qcow2.txt`, "Snapshots"; qemu `block/qcow2-snapshot.c:
//! qcow2_read_snapshots`). Snapshots are listed; the active layer is what is read.

use crate::volume::image::bytes::{be16, be32, be64};
use crate::volume::image::{ImageError, Snapshot, read_meta};
use crate::volume::source::BlockSource;

const F: &str = "qcow2";

/// qemu's limits: at most 65536 snapshots, a table of at most 64 MiB, 1 KiB of extra data each.
pub const MAX_SNAPSHOTS: u32 = 65536;
pub const MAX_TABLE_BYTES: u64 = 64 * 1024 * 1024;
const MAX_EXTRA: u32 = 1024;

/// Reads `count` snapshot headers from `offset`.
pub fn parse(
    src: &dyn BlockSource,
    offset: u64,
    count: u32,
    cluster_size: u64,
) -> Result<Vec<Snapshot>, ImageError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if count > MAX_SNAPSHOTS {
        return Err(ImageError::corrupt(
            F,
            format!("{count} snapshots (qemu's limit is {MAX_SNAPSHOTS})"),
        ));
    }
    if offset % cluster_size != 0 {
        return Err(ImageError::corrupt(
            F,
            format!("the snapshot table offset {offset} is not cluster aligned"),
        ));
    }
    let mut out = Vec::new();
    let mut at = offset;
    for i in 0..count {
        if at - offset > MAX_TABLE_BYTES {
            return Err(ImageError::corrupt(
                F,
                "the snapshot table is larger than qemu's limit of 64 MiB",
            ));
        }
        let h = read_meta(src, F, &format!("snapshot {i} header"), at, 40)?;
        let id_len = be16(&h, 12) as usize;
        let name_len = be16(&h, 14) as usize;
        let date = u64::from(be32(&h, 16));
        let extra_len = be32(&h, 36);
        if extra_len > MAX_EXTRA {
            return Err(ImageError::corrupt(
                F,
                format!("snapshot {i} has {extra_len} bytes of extra data (limit {MAX_EXTRA})"),
            ));
        }
        let rest_len = extra_len as usize + id_len + name_len;
        let rest = read_meta(
            src,
            F,
            &format!("snapshot {i}"),
            at.saturating_add(40),
            rest_len,
        )?;
        let extra = &rest[..extra_len as usize];
        // Extra data: vm_state_size_large, then the disk size at the time of the snapshot.
        let virtual_size = (extra.len() >= 16).then(|| be64(extra, 8));
        let id = &rest[extra_len as usize..extra_len as usize + id_len];
        let name = &rest[extra_len as usize + id_len..];
        out.push(Snapshot {
            id: String::from_utf8_lossy(id).into_owned(),
            name: String::from_utf8_lossy(name).into_owned(),
            virtual_size,
            date,
        });
        let len = (40 + rest_len as u64).div_ceil(8) * 8;
        at = at.saturating_add(len);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::source::MemSource;

    fn entry(id: &str, name: &str, extra: &[u8]) -> Vec<u8> {
        let mut e = vec![0u8; 40];
        e[12..14].copy_from_slice(&(id.len() as u16).to_be_bytes());
        e[14..16].copy_from_slice(&(name.len() as u16).to_be_bytes());
        e[16..20].copy_from_slice(&1_700_000_000u32.to_be_bytes());
        e[36..40].copy_from_slice(&(extra.len() as u32).to_be_bytes());
        e.extend_from_slice(extra);
        e.extend_from_slice(id.as_bytes());
        e.extend_from_slice(name.as_bytes());
        while e.len() % 8 != 0 {
            e.push(0);
        }
        e
    }

    #[test]
    fn lists_snapshots_and_bounds_them() {
        let mut img = vec![0u8; 512];
        let mut extra = vec![0u8; 16];
        extra[8..16].copy_from_slice(&(1u64 << 30).to_be_bytes());
        img.extend(entry("1", "before-upgrade", &extra));
        img.extend(entry("2", "x", &[]));
        let m = MemSource::new(img);
        let s = parse(&m, 512, 2, 512).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "before-upgrade");
        assert_eq!(s[0].virtual_size, Some(1 << 30));
        assert_eq!(s[1].id, "2");
        assert!(parse(&m, 512, 3, 512).is_err());
        assert!(parse(&m, 512, 70000, 512).is_err());
        assert!(parse(&m, 100, 1, 512).is_err());
    }
}
