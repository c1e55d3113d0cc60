//! Big-endian field reads for XFS structures (XFS stores everything big-endian, except the
//! little-endian CRC32C fields). Every read is bounds-checked and yields 0 past the end: parsers
//! check a structure's length before reading it, so a 0 here never stands for real data, and a
//! crafted length can never make a read panic.

pub(crate) fn u8_at(b: &[u8], o: usize) -> u8 {
    b.get(o).copied().unwrap_or(0)
}

pub(crate) fn u16_at(b: &[u8], o: usize) -> u16 {
    match b.get(o..o.saturating_add(2)) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

pub(crate) fn u32_at(b: &[u8], o: usize) -> u32 {
    match b.get(o..o.saturating_add(4)) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

pub(crate) fn u64_at(b: &[u8], o: usize) -> u64 {
    match b.get(o..o.saturating_add(8)) {
        Some(s) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_be_bytes(a)
        }
        None => 0,
    }
}

/// The little-endian CRC field of a v5 structure.
pub(crate) fn crc_at(b: &[u8], o: usize) -> u32 {
    match b.get(o..o.saturating_add(4)) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

/// XFS's metadata checksum (`xfs_cksum.h: xfs_start_cksum_safe/xfs_end_cksum`): CRC32C of the
/// whole buffer with the 4-byte checksum field taken as zero, stored little-endian.
pub(crate) fn xfs_crc(b: &[u8], crc_off: usize) -> u32 {
    use crate::checksum::crc32c_raw;
    let Some(head) = b.get(..crc_off) else {
        return 0;
    };
    let crc = crc32c_raw(!0, head);
    let crc = crc32c_raw(crc, &[0u8; 4]);
    let crc = crc32c_raw(crc, b.get(crc_off.saturating_add(4)..).unwrap_or(&[]));
    !crc
}

/// Whether the checksum stored at `crc_off` matches the buffer. Under `cargo fuzz` every
/// checksum passes, so mutated images reach the parsers behind the CRC gates.
pub(crate) fn crc_ok(b: &[u8], crc_off: usize) -> bool {
    if cfg!(fuzzing) {
        return b.len() >= crc_off + 4;
    }
    b.len() >= crc_off + 4 && crc_at(b, crc_off) == xfs_crc(b, crc_off)
}

/// `{:08x}-…` form of 16 UUID bytes, as `blkid` and `xfs_db` print it.
pub(crate) fn uuid_string(u: &[u8]) -> String {
    let h: String = u.iter().take(16).map(|c| format!("{c:02x}")).collect();
    if h.len() < 32 {
        return h;
    }
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
