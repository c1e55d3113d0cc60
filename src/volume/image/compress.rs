//! Inflating compressed clusters and grains into a buffer of exactly one cluster.
//!
//! The output buffer is the bound: a stream that would inflate past it stops there, so a
//! compressed cluster built to expand without end costs one cluster of memory and the time to
//! fill it. A stream that ends before filling what the format promises is an error, not data
//! padded with zeros.

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};

/// Largest zstd window accepted. qemu's clusters are at most 2 MiB and it compresses each one
/// as a single frame, so real windows are at most that; the decoder reserves the window up front,
/// so a frame header claiming more is refused before any allocation.
pub const ZSTD_MAX_WINDOW: u64 = 8 * 1024 * 1024;

/// Inflates a DEFLATE stream (`zlib_header`: RFC 1950 wrapper, as VMDK writes; else raw RFC
/// 1951, as qcow2 writes) into `out`; returns the number of bytes written. Stops when `out` is
/// full.
pub fn inflate(input: &[u8], out: &mut [u8], zlib_header: bool) -> Result<usize, String> {
    let mut d = Box::<DecompressorOxide>::default();
    let mut flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
        | inflate_flags::TINFL_FLAG_IGNORE_ADLER32;
    if zlib_header {
        flags |= inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER;
    }
    let (status, _, written) = decompress(&mut d, input, out, 0, flags);
    match status {
        TINFLStatus::Done | TINFLStatus::HasMoreOutput => Ok(written),
        TINFLStatus::NeedsMoreInput | TINFLStatus::FailedCannotMakeProgress => Err(format!(
            "the compressed data ends after {written} of {} bytes",
            out.len()
        )),
        other => Err(format!("invalid deflate data ({other:?})")),
    }
}

/// Inflates a DEFLATE stream that must fill `out` entirely (a qcow2 compressed cluster).
pub fn inflate_exact(input: &[u8], out: &mut [u8], zlib_header: bool) -> Result<(), String> {
    let n = inflate(input, out, zlib_header)?;
    if n < out.len() {
        return Err(format!(
            "the compressed data inflates to {n} bytes, not the {} of a cluster",
            out.len()
        ));
    }
    Ok(())
}

/// The window a zstd frame header asks for (RFC 8878 3.1.1.1), or an error for a frame that
/// is not one.
fn zstd_window(input: &[u8]) -> Result<u64, String> {
    if input.len() < 6 || input[..4] != [0x28, 0xB5, 0x2F, 0xFD] {
        return Err("not a zstd frame (bad magic)".into());
    }
    let fhd = input[4];
    let single_segment = fhd & 0x20 != 0;
    let fcs_flag = fhd >> 6;
    let did_flag = fhd & 3;
    if !single_segment {
        let wd = input[5];
        let log = 10 + u64::from(wd >> 3);
        let base = 1u64 << log;
        return Ok(base + (base / 8) * u64::from(wd & 7));
    }
    // Single segment: the window is the frame content size.
    let did_len = [0usize, 1, 2, 4][did_flag as usize];
    let fcs_len = [1usize, 2, 4, 8][fcs_flag as usize];
    let at = 5 + did_len;
    let f = input
        .get(at..at + fcs_len)
        .ok_or("truncated zstd frame header")?;
    let mut v = 0u64;
    for (i, b) in f.iter().enumerate() {
        v |= u64::from(*b) << (8 * i);
    }
    if fcs_len == 2 {
        v += 256;
    }
    Ok(v)
}

/// Decodes zstd frames into `out`, which must be filled entirely (a qcow2 compressed cluster).
pub fn zstd_exact(input: &[u8], out: &mut [u8]) -> Result<(), String> {
    use std::io::Read;
    let mut rest = input;
    let mut filled = 0;
    while filled < out.len() {
        let window = zstd_window(rest)?;
        if window > ZSTD_MAX_WINDOW {
            return Err(format!(
                "zstd frame asks for a {window}-byte window (more than {ZSTD_MAX_WINDOW})"
            ));
        }
        let mut src = rest;
        let mut dec = ruzstd::decoding::StreamingDecoder::new(&mut src)
            .map_err(|e| format!("invalid zstd frame: {e}"))?;
        let before = filled;
        while filled < out.len() {
            let n = dec
                .read(&mut out[filled..])
                .map_err(|e| format!("invalid zstd data: {e}"))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        drop(dec);
        if filled == out.len() {
            break;
        }
        if filled == before || src.is_empty() || src.len() == rest.len() {
            return Err(format!(
                "the compressed data ends after {filled} of {} bytes",
                out.len()
            ));
        }
        rest = src;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored (uncompressed) deflate block holding `data`.
    fn stored(data: &[u8]) -> Vec<u8> {
        let mut v = vec![0x01];
        let n = data.len() as u16;
        v.extend_from_slice(&n.to_le_bytes());
        v.extend_from_slice(&(!n).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn deflate_fills_exactly_or_fails() {
        let s = stored(b"abcdefgh");
        let mut out = [0u8; 8];
        inflate_exact(&s, &mut out, false).unwrap();
        assert_eq!(&out, b"abcdefgh");
        // Longer output than the buffer: capped, not an error.
        let mut small = [0u8; 4];
        inflate_exact(&s, &mut small, false).unwrap();
        assert_eq!(&small, b"abcd");
        // Shorter: an error.
        let mut big = [0u8; 16];
        assert!(inflate_exact(&s, &mut big, false).is_err());
        assert!(inflate(&[0xff, 0xff, 0xff], &mut big, false).is_err());
        assert!(inflate(&[], &mut big, true).is_err());
    }

    #[test]
    fn zstd_headers_are_checked_before_decoding() {
        let mut out = [0u8; 16];
        assert!(zstd_exact(b"nope nope", &mut out).is_err());
        // Window descriptor 0xF8: 2^41 bytes.
        let e = zstd_exact(&[0x28, 0xB5, 0x2F, 0xFD, 0x00, 0xF8, 0, 0], &mut out).unwrap_err();
        assert!(e.contains("window"), "{e}");
        assert!(zstd_exact(&[0x28, 0xB5, 0x2F, 0xFD, 0x20], &mut out).is_err());
    }
}
