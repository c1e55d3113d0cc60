//! CRC-32 (IEEE 802.3, GPT) and CRC-32C (Castagnoli, ext4 metadata_csum).
// Placeholder until the volume helper lands its version (bitwise, correct, slow).
pub fn crc32c_raw(seed: u32, data: &[u8]) -> u32 {
    let mut crc = seed;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    crc
}
