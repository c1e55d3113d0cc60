//! jbd2 revoke blocks (`jbd2_journal_revoke_header_t` in e2fsprogs `lib/ext2fs/kernel-jbd.h`):
//! filesystem blocks whose earlier log copies must not be replayed, read as the kernel's
//! `scan_revoke_records` (`fs/jbd2/recovery.c`) reads them.

/// Offset of the first record: the header and `r_count`.
pub const RECORDS_OFFSET: usize = 16;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RevokeError {
    #[error("revoke block claims {count} bytes of records, more than the {max} it can hold")]
    Count { count: u32, max: usize },
}

/// The revoked block numbers: 8-byte records with the 64bit feature, else 4-byte, from byte 16
/// up to `r_count` (which counts the header), which must leave room for the tail checksum.
pub fn records(b: &[u8], is64: bool, tail: usize) -> Result<Vec<u64>, RevokeError> {
    if b.len() < RECORDS_OFFSET {
        return Ok(Vec::new());
    }
    let count = u32::from_be_bytes([b[12], b[13], b[14], b[15]]);
    let max = b.len().saturating_sub(tail);
    if count as usize > max {
        return Err(RevokeError::Count { count, max });
    }
    let len = if is64 { 8 } else { 4 };
    let end = count as usize;
    let mut out = Vec::new();
    let mut o = RECORDS_OFFSET;
    while o + len <= end {
        let r = &b[o..o + len];
        out.push(if is64 {
            u64::from_be_bytes([r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]])
        } else {
            u64::from(u32::from_be_bytes([r[0], r[1], r[2], r[3]]))
        });
        o += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records() {
        let mut b = vec![0u8; 1024];
        b[12..16].copy_from_slice(&(16u32 + 12).to_be_bytes());
        b[16..20].copy_from_slice(&7u32.to_be_bytes());
        b[20..24].copy_from_slice(&8u32.to_be_bytes());
        b[24..28].copy_from_slice(&9u32.to_be_bytes());
        assert_eq!(records(&b, false, 0).unwrap(), [7, 8, 9]);
        // As 64-bit records only one whole record fits in 12 bytes.
        assert_eq!(records(&b, true, 0).unwrap(), [(7 << 32) | 8]);
        b[12..16].copy_from_slice(&1022u32.to_be_bytes());
        assert!(records(&b, false, 4).is_err());
        assert!(records(&b, false, 0).is_ok());
    }
}
