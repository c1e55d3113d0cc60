//! CRC-32 (IEEE 802.3, as GPT uses it) and CRC-32C (Castagnoli, ext4 metadata_csum), table
//! driven with tables built at compile time.

const fn table(poly: u32) -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ poly } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// CRC-16 (ANSI, polynomial 0x8005 reflected), as the kernel's `lib/crc16.c` and e2fsprogs'
/// `ext2fs_crc16` compute it for ext4's older `gdt_csum` group-descriptor checksums.
const fn table16() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u16;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xA001
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC16_TABLE: [u16; 256] = table16();

/// CRC-16 seeded with `crc`, without inversions (`crc16(crc, data, len)` in the kernel).
pub fn crc16(mut crc: u16, data: &[u8]) -> u16 {
    for &b in data {
        crc = (crc >> 8) ^ CRC16_TABLE[((crc ^ u16::from(b)) & 0xFF) as usize];
    }
    crc
}

static CRC32_TABLE: [u32; 256] = table(0xEDB8_8320);
static CRC32C_TABLE: [u32; 256] = table(0x82F6_3B78);

fn update(table: &[u32; 256], mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = table[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

/// CRC-32 as the UEFI spec uses it for GPT headers and partition arrays.
pub fn crc32(data: &[u8]) -> u32 {
    !update(&CRC32_TABLE, !0, data)
}

/// CRC-32 (the IEEE polynomial, reflected) from `seed`, without the final inversion: LVM2's
/// `calc_crc` with its initial value 0xf597a6cf.
pub fn crc32_raw(seed: u32, data: &[u8]) -> u32 {
    update(&CRC32_TABLE, seed, data)
}

/// CRC-32C seeded with `seed`, without the final inversion: how ext4 computes its metadata
/// checksums (`ext4_chksum`); the superblock's is `crc32c_raw(!0, &sb[..0x3FC])`.
pub fn crc32c_raw(seed: u32, data: &[u8]) -> u32 {
    update(&CRC32C_TABLE, seed, data)
}

/// Standard CRC-32C.
pub fn crc32c(data: &[u8]) -> u32 {
    !crc32c_raw(!0, data)
}

/// Table for the big-endian (MSB-first, unreflected) CRC-32 with polynomial 0x04C11DB7.
const fn table_be() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04C1_1DB7
            } else {
                c << 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC32_BE_TABLE: [u32; 256] = table_be();

/// The kernel's `crc32_be(crc, data, len)`: MSB-first CRC-32, seeded with `crc`, without
/// inversions. jbd2's checksum v1 (`JBD2_FEATURE_COMPAT_CHECKSUM`) sums a transaction's
/// descriptor and data blocks with it, seeded with ~0.
pub fn crc32_be(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = (crc << 8) ^ CRC32_BE_TABLE[((crc >> 24) ^ u32::from(b)) as usize];
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32(b""), 0);
        // CRC-16/ARC check value.
        assert_eq!(crc16(0, b"123456789"), 0xBB3D);
        // CRC-32/BZIP2 (MSB-first, init and final xor ~0) check value.
        assert_eq!(!crc32_be(!0, b"123456789"), 0xFC89_1918);
        // CRC-32/MPEG-2 (no final xor).
        assert_eq!(crc32_be(!0, b"123456789"), 0x0376_E6E7);
    }
}
