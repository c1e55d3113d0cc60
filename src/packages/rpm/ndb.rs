//! rpm's own "ndb" package store, `/var/lib/rpm/Packages.db` (SUSE since 15 SP3/Leap 15.3,
//! and any rpm ≥ 4.16 built with `_db_backend ndb`), as `lib/backend/ndb/rpmpkg.c` reads it
//! (`rpmpkgReadHeader`, `rpmpkgReadSlots`, `rpmpkgReadBlob`). All numbers little-endian.
//!
//! ```text
//! header (32 bytes): "RpmP" magic, version 0, generation, slot pages, next package index
//! slot pages (4096 bytes each, 16-byte slots after the header): "Slot", pkgidx, blkoff, blkcnt
//! blobs at blkoff × 16: "BlbS", pkgidx, generation, length, header blob,
//!                       then adler32, length, "BlbE"
//! ```

const MAGIC: u32 = u32::from_le_bytes(*b"RpmP");
const SLOT_MAGIC: u32 = u32::from_le_bytes(*b"Slot");
const BLOB_HEAD: u32 = u32::from_le_bytes(*b"BlbS");
const BLOB_TAIL: u32 = u32::from_le_bytes(*b"BlbE");
const PAGE: usize = 4096;
const SLOT: usize = 16;
const BLK: usize = 16;
const HEADER: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NdbError {
    #[error("not an rpm ndb package database (magic {0:#x})")]
    Magic(u32),
    #[error("unsupported ndb version {0}")]
    Version(u32),
    #[error("the slot area ({0} pages) does not fit in the file")]
    Slots(u32),
}

/// A slot or blob that could not be read; the others still are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobProblem {
    pub pkgidx: u32,
    pub what: String,
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

/// RFC 1950's Adler-32, as `update_adler32` computes it.
pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}

/// Header blobs as (package index, bytes), in slot order.
pub type Blobs<'a> = Vec<(u32, &'a [u8])>;

/// Every stored header blob, with the problems met.
pub fn blobs(data: &[u8]) -> Result<(Blobs<'_>, Vec<BlobProblem>), NdbError> {
    let magic = le32(data, 0);
    if magic != MAGIC {
        return Err(NdbError::Magic(magic));
    }
    let version = le32(data, 4);
    if version != 0 {
        return Err(NdbError::Version(version));
    }
    let slot_pages = le32(data, 12);
    let slot_end = (slot_pages as usize)
        .checked_mul(PAGE)
        .filter(|&e| e <= data.len() && e > 0)
        .ok_or(NdbError::Slots(slot_pages))?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut at = HEADER;
    while at + SLOT <= slot_end {
        let s = &data[at..at + SLOT];
        at += SLOT;
        if le32(s, 0) != SLOT_MAGIC {
            problems.push(BlobProblem {
                pkgidx: 0,
                what: format!("slot at byte {} has no slot magic", at - SLOT),
            });
            continue;
        }
        let (pkgidx, blkoff, blkcnt) = (le32(s, 4), le32(s, 8), le32(s, 12));
        if blkoff == 0 {
            continue; // a free slot
        }
        match blob(data, pkgidx, blkoff as usize, blkcnt as usize, slot_end) {
            Ok(b) => out.push((pkgidx, b)),
            Err(what) => problems.push(BlobProblem { pkgidx, what }),
        }
    }
    Ok((out, problems))
}

fn blob(
    data: &[u8],
    pkgidx: u32,
    blkoff: usize,
    blkcnt: usize,
    slot_end: usize,
) -> Result<&[u8], String> {
    let start = blkoff.checked_mul(BLK).ok_or("block offset overflows")?;
    let len = blkcnt.checked_mul(BLK).ok_or("block count overflows")?;
    if start < slot_end {
        return Err(format!("blob at block {blkoff} overlaps the slot pages"));
    }
    let area = start
        .checked_add(len)
        .and_then(|end| data.get(start..end))
        .ok_or_else(|| {
            format!("blob at block {blkoff} (+{blkcnt}) is beyond the end of the file")
        })?;
    if area.len() < 16 + 12 {
        return Err("blob area too small".into());
    }
    if le32(area, 0) != BLOB_HEAD || le32(area, 4) != pkgidx {
        return Err("blob header does not match its slot".into());
    }
    let bloblen = le32(area, 12) as usize;
    let need = (16 + bloblen + 12).div_ceil(BLK) * BLK;
    if need != len {
        return Err(format!(
            "blob of {bloblen} bytes does not fill its {blkcnt} blocks"
        ));
    }
    let tail = len - 12;
    if le32(area, tail + 4) as usize != bloblen || le32(area, tail + 8) != BLOB_TAIL {
        return Err("blob trailer is damaged".into());
    }
    // The checksum covers the blob head, the data and the padding up to the trailer.
    if adler32(&area[..tail]) != le32(area, tail) {
        return Err("blob checksum (adler32) mismatch".into());
    }
    Ok(&area[16..16 + bloblen])
}

/// Writes an ndb file from header blobs, the way `rpmpkgPut` lays them out (for tests).
#[cfg(test)]
pub(crate) fn write(blobs: &[&[u8]]) -> Vec<u8> {
    let mut f = vec![0u8; PAGE];
    f[0..4].copy_from_slice(b"RpmP");
    f[12..16].copy_from_slice(&1u32.to_le_bytes());
    f[16..20].copy_from_slice(&(blobs.len() as u32 + 1).to_le_bytes());
    for i in 0..(PAGE - HEADER) / SLOT {
        f[HEADER + i * SLOT..HEADER + i * SLOT + 4].copy_from_slice(b"Slot");
    }
    for (i, b) in blobs.iter().enumerate() {
        let pkgidx = i as u32 + 1;
        let start = f.len();
        let mut area = Vec::new();
        area.extend(b"BlbS");
        area.extend(pkgidx.to_le_bytes());
        area.extend(1u32.to_le_bytes());
        area.extend((b.len() as u32).to_le_bytes());
        area.extend(*b);
        while (area.len() + 12) % BLK != 0 {
            area.push(0);
        }
        let sum = adler32(&area);
        area.extend(sum.to_le_bytes());
        area.extend((b.len() as u32).to_le_bytes());
        area.extend(b"BlbE");
        let s = HEADER + i * SLOT;
        f[s + 4..s + 8].copy_from_slice(&pkgidx.to_le_bytes());
        f[s + 8..s + 12].copy_from_slice(&((start / BLK) as u32).to_le_bytes());
        f[s + 12..s + 16].copy_from_slice(&((area.len() / BLK) as u32).to_le_bytes());
        f.extend(area);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_known_value() {
        // RFC 1950 / zlib: adler32("Wikipedia") = 0x11E60398.
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(&vec![0xffu8; 100_000]), {
            let (mut a, mut b) = (1u64, 0u64);
            for _ in 0..100_000 {
                a = (a + 255) % 65521;
                b = (b + a) % 65521;
            }
            ((b << 16) | a) as u32
        });
    }

    #[test]
    fn reads_blobs_and_reports_damage() {
        let f = write(&[b"first header", b"second"]);
        let (got, problems) = blobs(&f).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(got, vec![(1, &b"first header"[..]), (2, &b"second"[..])]);
        let mut bad = f.clone();
        let last = bad.len() - 20;
        bad[last] ^= 1;
        let (got, problems) = blobs(&bad).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].pkgidx, 2);
        let (got, problems) = blobs(&f[..f.len() - 8]).unwrap();
        assert_eq!((got.len(), problems.len()), (1, 1));
        assert!(matches!(blobs(b"RpmQ"), Err(NdbError::Magic(_))));
        let mut huge = f.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(blobs(&huge), Err(NdbError::Slots(_))));
    }
}
