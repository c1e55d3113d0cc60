//! Decompressing DATA object payloads (systemd `compress.c`: `decompress_blob_xz`,
//! `decompress_blob_lz4`, `decompress_blob_zstd`), each bounded: a crafted object cannot make
//! the reader allocate more than `limit` bytes.

use std::io::{Read, Write};

/// `OBJECT_COMPRESSED_*` (the object header's flags).
pub const OBJECT_XZ: u8 = 1 << 0;
pub const OBJECT_LZ4: u8 = 1 << 1;
pub const OBJECT_ZSTD: u8 = 1 << 2;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecompressError {
    #[error("more than one compression flag (0x{0:x})")]
    Flags(u8),
    #[error("{algo}-compressed payload does not decompress: {detail}")]
    Bad { algo: &'static str, detail: String },
    #[error("{algo}-compressed payload decompresses to more than {limit} bytes")]
    TooLarge { algo: &'static str, limit: usize },
}

/// A writer that refuses to grow past `limit`.
struct Capped {
    out: Vec<u8>,
    limit: usize,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + buf.len() > self.limit {
            self.over = true;
            return Err(std::io::Error::other("decompressed size limit"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The payload as stored when `flags` has no compression bit, else decompressed.
pub fn decompress(flags: u8, payload: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let algo = flags & (OBJECT_XZ | OBJECT_LZ4 | OBJECT_ZSTD);
    match algo {
        0 => Ok(payload.to_vec()),
        OBJECT_XZ => xz(payload, limit),
        OBJECT_LZ4 => lz4(payload, limit),
        OBJECT_ZSTD => zstd(payload, limit),
        other => Err(DecompressError::Flags(other)),
    }
}

fn xz(payload: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let mut w = Capped {
        out: Vec::new(),
        limit,
        over: false,
    };
    let mut input = payload;
    match lzma_rs::xz_decompress(&mut input, &mut w) {
        Ok(()) => Ok(w.out),
        Err(_) if w.over => Err(DecompressError::TooLarge { algo: "xz", limit }),
        Err(e) => Err(DecompressError::Bad {
            algo: "xz",
            detail: e.to_string(),
        }),
    }
}

/// systemd's LZ4 blobs are a little-endian 64-bit uncompressed size, then one LZ4 block.
fn lz4(payload: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let bad = |detail: String| DecompressError::Bad {
        algo: "lz4",
        detail,
    };
    let (size, block) = payload
        .split_first_chunk::<8>()
        .ok_or_else(|| bad("shorter than its 8-byte size prefix".into()))?;
    let size = u64::from_le_bytes(*size);
    // An LZ4 block expands at most 255 times (one token byte per 255 bytes of match length):
    // a larger prefix is a lie, refused before allocating.
    if size > (block.len() as u64).saturating_mul(255).saturating_add(16) {
        return Err(bad(format!(
            "size prefix {size} is more than a {}-byte block can hold",
            block.len()
        )));
    }
    if size > limit as u64 {
        return Err(DecompressError::TooLarge { algo: "lz4", limit });
    }
    let mut out = vec![0u8; size as usize];
    let n = lz4_flex::block::decompress_into(block, &mut out).map_err(|e| bad(e.to_string()))?;
    if n != out.len() {
        return Err(bad(format!(
            "decompressed to {n} bytes, its prefix says {size}"
        )));
    }
    Ok(out)
}

fn zstd(payload: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let bad = |detail: String| DecompressError::Bad {
        algo: "zstd",
        detail,
    };
    // ruzstd reserves the frame's window up front (up to 100 MiB): refuse a window larger
    // than what may come out.
    if let Some(w) = zstd_window(payload) {
        if w > limit as u64 {
            return Err(DecompressError::TooLarge {
                algo: "zstd",
                limit,
            });
        }
    }
    let dec = ruzstd::decoding::StreamingDecoder::new(payload).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    dec.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| bad(e.to_string()))?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge {
            algo: "zstd",
            limit,
        });
    }
    Ok(out)
}

/// The window size a zstd frame header declares (RFC 8878, 3.1.1.1: Frame_Header_Descriptor,
/// Window_Descriptor, Frame_Content_Size for single-segment frames).
fn zstd_window(b: &[u8]) -> Option<u64> {
    if b.get(0..4)? != [0x28, 0xb5, 0x2f, 0xfd] {
        return None;
    }
    let fhd = *b.get(4)?;
    let single = fhd & 0x20 != 0;
    if !single {
        let wd = *b.get(5)?;
        let log = 10 + u32::from(wd >> 3);
        let base = 1u64.checked_shl(log)?;
        return Some(base + (base / 8) * u64::from(wd & 7));
    }
    // Single segment: the window is the content size.
    let did = [0usize, 1, 2, 4][usize::from(fhd & 3)];
    let fcs_len = [1usize, 2, 4, 8][usize::from(fhd >> 6)];
    let at = 5 + did;
    let f = b.get(at..at + fcs_len)?;
    let mut v = [0u8; 8];
    v[..fcs_len].copy_from_slice(f);
    let n = u64::from_le_bytes(v);
    Some(if fcs_len == 2 { n + 256 } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_bad() {
        assert_eq!(decompress(0, b"A=b", 10).unwrap(), b"A=b");
        assert_eq!(
            decompress(OBJECT_XZ | OBJECT_LZ4, b"", 10),
            Err(DecompressError::Flags(3))
        );
        assert!(decompress(OBJECT_XZ, b"garbage", 10).is_err());
        assert!(decompress(OBJECT_ZSTD, b"garbage", 10).is_err());
        assert!(decompress(OBJECT_LZ4, b"short", 10).is_err());
        // A size prefix beyond what the block can hold is refused before allocating.
        let mut b = u64::MAX.to_le_bytes().to_vec();
        b.extend_from_slice(b"\x10x");
        assert!(decompress(OBJECT_LZ4, &b, 1 << 20).is_err());
    }

    #[test]
    fn zstd_windows() {
        // Not single segment, window descriptor 0x58: 2^(10+11) = 2 MiB.
        assert_eq!(
            zstd_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58]),
            Some(2 << 20)
        );
        // Single segment with a 1-byte content size of 100.
        assert_eq!(zstd_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x20, 100]), Some(100));
        assert_eq!(zstd_window(b"nope"), None);
        // A declared 3.75 TiB window is refused before ruzstd sees it.
        let huge = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xff, 0, 0, 0];
        assert!(matches!(
            decompress(OBJECT_ZSTD, &huge, 1 << 20),
            Err(DecompressError::TooLarge { .. })
        ));
    }

    #[test]
    fn lz4_block_with_size_prefix() {
        // A literal-only LZ4 block: token 0x50 (5 literals, no match), then the bytes.
        let mut b = 5u64.to_le_bytes().to_vec();
        b.push(0x50);
        b.extend_from_slice(b"A=xyz");
        assert_eq!(decompress(OBJECT_LZ4, &b, 100).unwrap(), b"A=xyz");
        assert!(matches!(
            decompress(OBJECT_LZ4, &b, 3),
            Err(DecompressError::TooLarge { .. })
        ));
    }
}
