//! jbd2 commit blocks (`struct commit_header` in e2fsprogs `lib/ext2fs/kernel-jbd.h`): the
//! record that makes a transaction count, with its checksums as the kernel's `do_one_pass`
//! (`fs/jbd2/recovery.c`) checks them.

use crate::checksum::crc32c_raw;

/// `JBD2_CRC32_CHKSUM` and its size: checksum v1.
pub const CHKSUM_TYPE_CRC32: u8 = 1;
pub const CHKSUM_SIZE_CRC32: u8 = 4;

/// Bytes of the commit header this reader uses (through `h_commit_nsec`).
pub const SIZE: usize = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commit {
    pub chksum_type: u8,
    pub chksum_size: u8,
    /// `h_chksum[0]`.
    pub chksum: u32,
    /// When the transaction committed (seconds since the epoch).
    pub commit_sec: u64,
    pub commit_nsec: u32,
}

/// The commit header of a block (the magic and type are the caller's); `None` when too short.
pub fn parse(b: &[u8]) -> Option<Commit> {
    if b.len() < SIZE {
        return None;
    }
    let mut sec = [0u8; 8];
    sec.copy_from_slice(&b[48..56]);
    Some(Commit {
        chksum_type: b[12],
        chksum_size: b[13],
        chksum: u32::from_be_bytes([b[16], b[17], b[18], b[19]]),
        commit_sec: u64::from_be_bytes(sec),
        commit_nsec: u32::from_be_bytes([b[56], b[57], b[58], b[59]]),
    })
}

impl Commit {
    /// Checksum v1: `crc32_sum` of the transaction's descriptor and data blocks matches, or the
    /// commit block says no checksum was computed (all zero), as the kernel accepts both.
    pub fn v1_ok(&self, crc32_sum: u32) -> bool {
        (self.chksum == crc32_sum
            && self.chksum_type == CHKSUM_TYPE_CRC32
            && self.chksum_size == CHKSUM_SIZE_CRC32)
            || (self.chksum_type == 0 && self.chksum_size == 0 && self.chksum == 0)
    }
}

/// `jbd2_commit_block_csum_verify` (v2/v3): crc32c over the whole block with `h_chksum[0]`
/// zeroed, seeded with the journal's seed.
pub fn v23_ok(b: &[u8], seed: u32) -> bool {
    if b.len() < SIZE {
        return false;
    }
    let c = crc32c_raw(seed, &b[..16]);
    let c = crc32c_raw(c, &[0; 4]);
    let c = crc32c_raw(c, &b[20..]);
    u32::from_be_bytes([b[16], b[17], b[18], b[19]]) == c
}

/// `sizeof(struct commit_header)`: 60 bytes of fields, padded to 64 by `h_commit_sec`'s
/// alignment.
pub const HEADER_BYTES: usize = 64;

/// The kernel's `jbd2_commit_block_csum_verify_partial` (Linux 6.x): the checksum of a block
/// holding only the commit header, the rest zero — what the kernel wrote. A commit block whose
/// later sectors never reached the disk (a power cut while writing it) passes this check and
/// fails the full one; the kernel then accepts the commit ("JBD2: Find incomplete commit block"),
/// e2fsck 1.47 does not.
pub fn v23_header_ok(b: &[u8], seed: u32) -> bool {
    if b.len() < HEADER_BYTES {
        return false;
    }
    let c = crc32c_raw(seed, &b[..16]);
    let c = crc32c_raw(c, &[0; 4]);
    let mut c = crc32c_raw(c, &b[20..HEADER_BYTES]);
    let zeros = [0u8; 256];
    let mut left = b.len() - HEADER_BYTES;
    while left > 0 {
        let n = left.min(zeros.len());
        c = crc32c_raw(c, &zeros[..n]);
        left -= n;
    }
    u32::from_be_bytes([b[16], b[17], b[18], b[19]]) == c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let mut b = vec![0u8; 1024];
        b[12] = CHKSUM_TYPE_CRC32;
        b[13] = CHKSUM_SIZE_CRC32;
        b[16..20].copy_from_slice(&0xDEAD_BEEFu32.to_be_bytes());
        b[48..56].copy_from_slice(&1_700_000_000u64.to_be_bytes());
        let c = parse(&b).unwrap();
        assert_eq!(c.commit_sec, 1_700_000_000);
        assert!(c.v1_ok(0xDEAD_BEEF));
        assert!(!c.v1_ok(1));
        let zero = parse(&[0u8; 64]).unwrap();
        assert!(zero.v1_ok(12345), "an unused checksum is accepted");
        assert!(parse(&b[..40]).is_none());

        let mut b = vec![3u8; 1024];
        let c = crc32c_raw(crc32c_raw(crc32c_raw(9, &b[..16]), &[0; 4]), &b[20..]);
        b[16..20].copy_from_slice(&c.to_be_bytes());
        assert!(v23_ok(&b, 9));
        b[100] ^= 1;
        assert!(!v23_ok(&b, 9));

        // A commit block as the kernel writes it, its tail then overwritten (a torn write).
        let mut b = vec![0u8; 1024];
        b[48..56].copy_from_slice(&5u64.to_be_bytes());
        let c = crc32c_raw(crc32c_raw(crc32c_raw(9, &b[..16]), &[0; 4]), &b[20..]);
        b[16..20].copy_from_slice(&c.to_be_bytes());
        assert!(v23_ok(&b, 9) && v23_header_ok(&b, 9));
        b[500..].fill(0xAB);
        assert!(!v23_ok(&b, 9));
        assert!(v23_header_ok(&b, 9));
        b[40] ^= 1;
        assert!(!v23_header_ok(&b, 9), "the header itself is covered");
    }
}
