//! MD5 of many files at once. MD5 is the cost of dpkg verification (dpkg records only MD5), and
//! one MD5 stream cannot use more than one ALU at a time: every step depends on the one before.
//! Hashing eight independent files in the eight 32-bit lanes of an AVX2 register does eight
//! streams' work in roughly the time of one (RFC 1321's algorithm, unchanged, per lane).
//!
//! - `compress` is scalar MD5 (the `md-5` crate's block function): the fallback and the tail
//!   path (padding).
//! - `compress8` (AVX2, chosen at run time) runs one 64-byte block of each of eight lanes, with
//!   RFC 1321's constants, tested against the `md-5` crate.
//! - `hash_many` feeds lanes from readers, each lane a different file: when a lane's file ends,
//!   its last bytes are finished with the scalar code and the lane takes the next file. Each
//!   lane reads through a fixed buffer, so memory is `LANES × LANE_BUF` whatever the file
//!   sizes.

use std::io::Read;

pub const LANES: usize = 8;
/// Bytes buffered per lane.
const LANE_BUF: usize = 64 << 10;

const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// Per-step additive constants, `floor(abs(sin(i + 1)) × 2^32)` (RFC 1321 §3.4).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];
/// Per-step left rotations.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// Which message word step `i` reads.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const fn word(i: usize) -> usize {
    match i / 16 {
        0 => i,
        1 => (5 * i + 1) % 16,
        2 => (3 * i + 5) % 16,
        _ => (7 * i) % 16,
    }
}

/// One 64-byte block into `state`: the `md-5` crate's compression function (RFC 1321 §3.4),
/// for single streams and final blocks.
pub fn compress(state: &mut [u32; 4], block: &[u8; 64]) {
    md5::block_api::compress(state, std::slice::from_ref(block));
}

/// The padding of a message whose last `tail.len() < 64` bytes are `tail` and whose length is
/// `total` bytes, into `state`; returns the digest.
pub fn finish(mut state: [u32; 4], tail: &[u8], total: u64) -> [u8; 16] {
    let mut last = [0u8; 128];
    let n = tail.len().min(63);
    last[..n].copy_from_slice(&tail[..n]);
    last[n] = 0x80;
    let blocks = if n < 56 { 1 } else { 2 };
    let end = blocks * 64;
    last[end - 8..end].copy_from_slice(&total.wrapping_mul(8).to_le_bytes());
    for b in last[..end].chunks_exact(64) {
        if let Ok(b) = b.try_into() {
            compress(&mut state, b);
        }
    }
    let mut out = [0u8; 16];
    for (i, w) in state.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// MD5 of a byte string (the scalar path end to end).
pub fn digest(data: &[u8]) -> [u8; 16] {
    let mut st = INIT;
    let mut blocks = data.chunks_exact(64);
    for b in &mut blocks {
        if let Ok(b) = b.try_into() {
            compress(&mut st, b);
        }
    }
    finish(st, blocks.remainder(), data.len() as u64)
}

/// Whether the eight-lane code can run on this CPU.
pub fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{K, LANES, S, word};
    use std::arch::x86_64::*;

    /// One block of each lane. `blocks[l]` is lane `l`'s block; a lane without work gets any
    /// block and its state is ignored by the caller.
    ///
    /// # Safety
    /// The CPU must support AVX2 (`simd_available`).
    #[target_feature(enable = "avx2")]
    pub unsafe fn compress8(states: &mut [[u32; 4]; LANES], blocks: &[&[u8; 64]; LANES]) {
        // Transpose: m[w] holds word w of every lane.
        let mut m = [_mm256_setzero_si256(); 16];
        for (w, mw) in m.iter_mut().enumerate() {
            let lane = |l: usize| {
                let b: &[u8; 64] = blocks[l];
                i32::from_le_bytes([b[4 * w], b[4 * w + 1], b[4 * w + 2], b[4 * w + 3]])
            };
            *mw = _mm256_setr_epi32(
                lane(0),
                lane(1),
                lane(2),
                lane(3),
                lane(4),
                lane(5),
                lane(6),
                lane(7),
            );
        }
        let col = |i: usize| {
            _mm256_setr_epi32(
                states[0][i] as i32,
                states[1][i] as i32,
                states[2][i] as i32,
                states[3][i] as i32,
                states[4][i] as i32,
                states[5][i] as i32,
                states[6][i] as i32,
                states[7][i] as i32,
            )
        };
        let (a0, b0, c0, d0) = (col(0), col(1), col(2), col(3));
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        let ones = _mm256_set1_epi32(-1);
        for i in 0..64 {
            let f = match i / 16 {
                // (b & c) | (!b & d)
                0 => _mm256_or_si256(_mm256_and_si256(b, c), _mm256_andnot_si256(b, d)),
                // (d & b) | (!d & c)
                1 => _mm256_or_si256(_mm256_and_si256(d, b), _mm256_andnot_si256(d, c)),
                2 => _mm256_xor_si256(_mm256_xor_si256(b, c), d),
                // c ^ (b | !d)
                _ => _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones))),
            };
            let t = _mm256_add_epi32(
                _mm256_add_epi32(a, f),
                _mm256_add_epi32(_mm256_set1_epi32(K[i] as i32), m[word(i)]),
            );
            let s = _mm_cvtsi32_si128(S[i] as i32);
            let r = _mm_cvtsi32_si128(32 - S[i] as i32);
            let t = _mm256_or_si256(_mm256_sll_epi32(t, s), _mm256_srl_epi32(t, r));
            a = d;
            d = c;
            c = b;
            b = _mm256_add_epi32(b, t);
        }
        let mut out = [[0u32; LANES]; 4];
        for (v, o) in [
            _mm256_add_epi32(a, a0),
            _mm256_add_epi32(b, b0),
            _mm256_add_epi32(c, c0),
            _mm256_add_epi32(d, d0),
        ]
        .iter()
        .zip(out.iter_mut())
        {
            // SAFETY: `o` is 8 × u32 = 32 bytes; storeu has no alignment requirement.
            unsafe { _mm256_storeu_si256(o.as_mut_ptr().cast(), *v) };
        }
        for (l, st) in states.iter_mut().enumerate() {
            *st = [out[0][l], out[1][l], out[2][l], out[3][l]];
        }
    }
}

/// One block of each of eight lanes, with SIMD when `simd`, else one by one.
fn compress_lanes(simd: bool, states: &mut [[u32; 4]; LANES], blocks: &[&[u8; 64]; LANES]) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is only true when `simd_available()` said AVX2 is present.
        unsafe { avx2::compress8(states, blocks) };
        return;
    }
    let _ = simd;
    for (st, b) in states.iter_mut().zip(blocks.iter()) {
        compress(st, b);
    }
}

struct Lane<'a, K> {
    key: K,
    reader: Box<dyn Read + 'a>,
    buf: Vec<u8>,
    /// Unhashed bytes are `buf[pos..len]`.
    pos: usize,
    len: usize,
    total: u64,
    eof: bool,
    state: [u32; 4],
}

impl<K> Lane<'_, K> {
    fn available(&self) -> usize {
        self.len - self.pos
    }

    /// Reads until at least one block is buffered or the file ends.
    fn fill(&mut self, bytes: &mut u64) -> std::io::Result<()> {
        while !self.eof && self.available() < 64 {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.len, 0);
                self.len -= self.pos;
                self.pos = 0;
            }
            match self.reader.read(&mut self.buf[self.len..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.len += n;
                    self.total += n as u64;
                    *bytes += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn block(&self, i: usize) -> &[u8; 64] {
        let s = self.pos + 64 * i;
        self.buf[s..s + 64].try_into().unwrap_or(&ZERO_BLOCK)
    }
}

static ZERO_BLOCK: [u8; 64] = [0; 64];

/// Hashes every `(key, reader)` of `jobs`, up to eight at a time, calling `done(key, result)`
/// as each finishes (not in input order). `progress` gets the bytes read.
pub fn hash_many<'a, K>(
    jobs: impl IntoIterator<Item = (K, Box<dyn Read + 'a>)>,
    mut done: impl FnMut(K, std::io::Result<[u8; 16]>),
    mut progress: impl FnMut(u64),
) {
    let simd = simd_available();
    let mut jobs = jobs.into_iter();
    let mut lanes: Vec<Lane<'a, K>> = Vec::with_capacity(LANES);
    let mut spare: Vec<Vec<u8>> = Vec::new();
    loop {
        // Keep every lane busy while there are files.
        while lanes.len() < LANES {
            let Some((key, reader)) = jobs.next() else {
                break;
            };
            lanes.push(Lane {
                key,
                reader,
                buf: spare.pop().unwrap_or_else(|| vec![0u8; LANE_BUF]),
                pos: 0,
                len: 0,
                total: 0,
                eof: false,
                state: INIT,
            });
        }
        if lanes.is_empty() {
            return;
        }
        let mut bytes = 0u64;
        let mut i = 0;
        while i < lanes.len() {
            let l = &mut lanes[i];
            let res = l.fill(&mut bytes);
            if res.is_err() || (l.eof && l.available() < 64) {
                let lane = lanes.swap_remove(i);
                let r = res.map(|()| finish(lane.state, &lane.buf[lane.pos..lane.len], lane.total));
                spare.push(lane.buf);
                done(lane.key, r);
            } else {
                i += 1;
            }
        }
        progress(bytes);
        if lanes.is_empty() {
            continue;
        }
        // Every lane has at least one block: run as many as the shortest lane has.
        let n = lanes.iter().map(|l| l.available() / 64).min().unwrap_or(0);
        if lanes.len() == 1 || !simd {
            for l in lanes.iter_mut() {
                for b in 0..n {
                    let block = *l.block(b);
                    compress(&mut l.state, &block);
                }
                l.pos += 64 * n;
            }
            continue;
        }
        let mut states = [INIT; LANES];
        for (s, l) in states.iter_mut().zip(&lanes) {
            *s = l.state;
        }
        for b in 0..n {
            let blocks: [&[u8; 64]; LANES] =
                std::array::from_fn(|k| lanes.get(k).map(|l| l.block(b)).unwrap_or(&ZERO_BLOCK));
            compress_lanes(simd, &mut states, &blocks);
        }
        for (l, s) in lanes.iter_mut().zip(states) {
            l.state = s;
            l.pos += 64 * n;
        }
    }
}

pub fn hex(d: &[u8; 16]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    fn reference(data: &[u8]) -> [u8; 16] {
        Md5::digest(data).into()
    }

    #[test]
    fn single_stream_matches_rfc_1321_and_md5_crate() {
        // RFC 1321 appendix A.5 test suite.
        for (msg, want) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            assert_eq!(hex(&digest(msg.as_bytes())), want, "{msg:?}");
        }
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for len in (0..200).chain([511, 512, 513, 4095, 4096, 4999]) {
            assert_eq!(digest(&data[..len]), reference(&data[..len]), "len {len}");
        }
    }

    /// A reader that returns short reads, to exercise lane refills.
    struct Dribble<'a>(&'a [u8], usize);
    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(self.1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn many_streams_match_one_by_one() {
        // Files of every length class (empty, < 1 block, around the 56-byte padding edge,
        // multiples of 64, larger than a lane buffer), in numbers that leave lanes idle and
        // refill them at different times.
        let mut files: Vec<Vec<u8>> = Vec::new();
        let mut x = 0x1234_5678u32;
        for len in [
            0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 4096, 70_000, 200_003, 3, 0, 64,
        ] {
            files.push(
                (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        x as u8
                    })
                    .collect(),
            );
        }
        for chunk in [usize::MAX, 7, 100] {
            let mut got = vec![None; files.len()];
            let mut read = 0;
            hash_many(
                files
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (i, Box::new(Dribble(f, chunk)) as Box<dyn Read>)),
                |i, r| got[i] = Some(r.unwrap()),
                |b| read += b,
            );
            for (i, f) in files.iter().enumerate() {
                assert_eq!(
                    got[i],
                    Some(reference(f)),
                    "file {i} ({} bytes), chunk {chunk}",
                    f.len()
                );
            }
            assert_eq!(read, files.iter().map(|f| f.len() as u64).sum::<u64>());
        }
    }

    #[test]
    fn read_errors_are_per_file() {
        struct Fails;
        impl Read for Fails {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("bad block"))
            }
        }
        let ok = vec![7u8; 1000];
        let mut got: Vec<(usize, bool)> = Vec::new();
        hash_many(
            [
                (0, Box::new(&ok[..]) as Box<dyn Read>),
                (1, Box::new(Fails)),
                (2, Box::new(&ok[..])),
            ],
            |i, r| {
                if let Ok(d) = &r {
                    assert_eq!(*d, reference(&ok));
                }
                got.push((i, r.is_ok()))
            },
            |_| {},
        );
        got.sort();
        assert_eq!(got, vec![(0, true), (1, false), (2, true)]);
    }
}
