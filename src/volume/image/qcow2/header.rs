//! The qcow2 header and its extensions (qemu `docs/interop/qcow2.txt`; qemu's `block/qcow2.c:
//! qcow2_do_open` and `qcow2_read_extensions` are the reference for what is accepted).

use crate::volume::image::bytes::{be32, be64, slice};
use crate::volume::image::{ImageError, read_meta};
use crate::volume::source::BlockSource;

const F: &str = "qcow2";

/// qemu's limits (`block/qcow2.h`): cluster sizes 512 B to 2 MiB, an L1 table of at most 32 MiB,
/// backing file names of at most 1023 bytes.
pub const MIN_CLUSTER_BITS: u32 = 9;
pub const MAX_CLUSTER_BITS: u32 = 21;
pub const MAX_L1_BYTES: u64 = 32 * 1024 * 1024;
pub const MAX_BACKING_NAME: u32 = 1023;

/// Incompatible feature bits.
pub const INCOMPAT_DIRTY: u64 = 1 << 0;
pub const INCOMPAT_CORRUPT: u64 = 1 << 1;
pub const INCOMPAT_DATA_FILE: u64 = 1 << 2;
pub const INCOMPAT_COMPRESSION: u64 = 1 << 3;
pub const INCOMPAT_EXTL2: u64 = 1 << 4;
const INCOMPAT_KNOWN: u64 = 0x1f;

/// Header extension types.
const EXT_END: u32 = 0;
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXT_FEATURE_TABLE: u32 = 0x6803_f857;
const EXT_CRYPTO: u32 = 0x0537_be77;
const EXT_DATA_FILE: u32 = 0x4441_5441;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Zlib,
    Zstd,
}

#[derive(Clone, Debug)]
pub struct Header {
    pub version: u32,
    pub cluster_bits: u32,
    /// Virtual disk size in bytes.
    pub size: u64,
    pub crypt_method: u32,
    pub l1_size: u32,
    pub l1_table_offset: u64,
    pub nb_snapshots: u32,
    pub snapshots_offset: u64,
    pub incompatible: u64,
    pub compression: Compression,
    pub backing_file: Option<String>,
    pub backing_format: Option<String>,
    pub data_file: Option<String>,
    /// (type, bit, name) from the feature name table, to name unknown features.
    pub feature_names: Vec<(u8, u8, String)>,
}

impl Header {
    pub fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    pub fn extended_l2(&self) -> bool {
        self.incompatible & INCOMPAT_EXTL2 != 0
    }

    /// log2 of the number of entries in one L2 table.
    pub fn l2_bits(&self) -> u32 {
        // 8-byte entries, or 16-byte ones with extended L2.
        self.cluster_bits - if self.extended_l2() { 4 } else { 3 }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Reads and checks the header at the start of `src`.
pub fn parse(src: &dyn BlockSource) -> Result<Header, ImageError> {
    let b = read_meta(src, F, "header", 0, 72)?;
    if slice(&b, 0, 4) != b"QFI\xfb" {
        return Err(ImageError::corrupt(F, "bad magic"));
    }
    let version = be32(&b, 4);
    if version == 1 {
        return Err(ImageError::unsupported(
            F,
            "version 1 (the old qcow format)",
        ));
    }
    if version != 2 && version != 3 {
        return Err(ImageError::unsupported(F, format!("version {version}")));
    }
    let cluster_bits = be32(&b, 20);
    if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&cluster_bits) {
        return Err(ImageError::corrupt(
            F,
            format!("cluster_bits {cluster_bits} is outside 9..=21"),
        ));
    }
    let cluster_size = 1u64 << cluster_bits;
    let mut h = Header {
        version,
        cluster_bits,
        size: be64(&b, 24),
        crypt_method: be32(&b, 32),
        l1_size: be32(&b, 36),
        l1_table_offset: be64(&b, 40),
        nb_snapshots: be32(&b, 60),
        snapshots_offset: be64(&b, 64),
        incompatible: 0,
        compression: Compression::Zlib,
        backing_file: None,
        backing_format: None,
        data_file: None,
        feature_names: Vec::new(),
    };
    let backing_offset = be64(&b, 8);
    let backing_size = be32(&b, 16);

    let mut header_length = 72u64;
    let mut compression_type = 0u8;
    if version == 3 {
        let v3 = read_meta(src, F, "version 3 header", 0, 104)?;
        h.incompatible = be64(&v3, 72);
        let refcount_order = be32(&v3, 96);
        header_length = u64::from(be32(&v3, 100));
        if header_length < 104 || header_length > cluster_size {
            return Err(ImageError::corrupt(
                F,
                format!("header_length {header_length} is outside 104..={cluster_size}"),
            ));
        }
        if refcount_order > 6 {
            return Err(ImageError::corrupt(
                F,
                format!("refcount_order {refcount_order} is above 6"),
            ));
        }
        if header_length > 104 {
            compression_type = read_meta(src, F, "compression type", 104, 1)?[0];
        }
    }

    // Extensions: between the header and the backing file name (or the end of cluster 0).
    let ext_end = if backing_offset != 0 {
        backing_offset.min(cluster_size)
    } else {
        cluster_size
    }
    .min(src.size());
    if ext_end > header_length {
        let ext = read_meta(src, F, "header extensions", 0, ext_end as usize)?;
        let mut at = header_length as usize;
        loop {
            if at + 8 > ext.len() {
                break;
            }
            let ty = be32(&ext, at);
            let len = be32(&ext, at + 4) as usize;
            if ty == EXT_END {
                break;
            }
            let start = at + 8;
            let Some(data) = ext.get(start..start.saturating_add(len)) else {
                return Err(ImageError::corrupt(
                    F,
                    format!(
                        "header extension {ty:#x} at offset {at} ({len} bytes) runs past the header cluster"
                    ),
                ));
            };
            match ty {
                EXT_BACKING_FORMAT => h.backing_format = Some(text(data)),
                EXT_DATA_FILE => h.data_file = Some(text(data)),
                EXT_FEATURE_TABLE => {
                    for e in data.chunks_exact(48) {
                        let name = slice(e, 2, 46);
                        let name = name.split(|&c| c == 0).next().unwrap_or(&[]);
                        h.feature_names.push((e[0], e[1], text(name)));
                    }
                }
                EXT_CRYPTO => {}
                _ => {}
            }
            at = start + len.div_ceil(8) * 8;
        }
    }

    if h.crypt_method != 0 {
        return Err(ImageError::Encrypted {
            format: F,
            method: match h.crypt_method {
                1 => "legacy AES",
                2 => "LUKS",
                _ => "unknown method",
            },
        });
    }
    let unknown = h.incompatible & !INCOMPAT_KNOWN;
    if unknown != 0 {
        let names: Vec<String> = (0..64)
            .filter(|bit| unknown & (1u64 << bit) != 0)
            .map(|bit| {
                h.feature_names
                    .iter()
                    .find(|(t, b, _)| *t == 0 && u32::from(*b) == bit)
                    .map(|(_, _, n)| format!("\"{n}\" (bit {bit})"))
                    .unwrap_or_else(|| format!("bit {bit}"))
            })
            .collect();
        return Err(ImageError::unsupported(
            F,
            format!("incompatible feature {}", names.join(", ")),
        ));
    }
    h.compression = if h.incompatible & INCOMPAT_COMPRESSION != 0 {
        match compression_type {
            0 => Compression::Zlib,
            1 => Compression::Zstd,
            t => {
                return Err(ImageError::unsupported(F, format!("compression type {t}")));
            }
        }
    } else if compression_type != 0 {
        return Err(ImageError::corrupt(
            F,
            format!(
                "compression type {compression_type} is set without the compression-type feature bit"
            ),
        ));
    } else {
        Compression::Zlib
    };
    if h.incompatible & INCOMPAT_DATA_FILE != 0 && h.data_file.is_none() {
        return Err(ImageError::unsupported(
            F,
            "an external data file whose name is not recorded in the image",
        ));
    }

    if backing_offset != 0 {
        if backing_size > MAX_BACKING_NAME
            || backing_offset
                .checked_add(u64::from(backing_size))
                .is_none_or(|e| e > cluster_size)
        {
            return Err(ImageError::corrupt(
                F,
                format!(
                    "backing file name ({backing_size} bytes at offset {backing_offset}) is too long or outside the header cluster"
                ),
            ));
        }
        let name = read_meta(
            src,
            F,
            "backing file name",
            backing_offset,
            backing_size as usize,
        )?;
        h.backing_file = Some(text(&name));
    }

    // The L1 table must cover the virtual size and fit qemu's limit and the file.
    let l2_entries_bits = h.l2_bits();
    let per_l1 = 1u128 << (l2_entries_bits + cluster_bits);
    let needed = u128::from(h.size).div_ceil(per_l1);
    if u128::from(h.l1_size) < needed {
        return Err(ImageError::corrupt(
            F,
            format!(
                "the L1 table has {} entries, fewer than the {needed} a {}-byte disk needs",
                h.l1_size, h.size
            ),
        ));
    }
    let l1_bytes = u64::from(h.l1_size) * 8;
    if l1_bytes > MAX_L1_BYTES {
        return Err(ImageError::corrupt(
            F,
            format!("the L1 table ({l1_bytes} bytes) is larger than qemu's limit of 32 MiB"),
        ));
    }
    if h.l1_size > 0 && h.l1_table_offset % cluster_size != 0 {
        return Err(ImageError::corrupt(
            F,
            format!(
                "the L1 table offset {} is not cluster aligned",
                h.l1_table_offset
            ),
        ));
    }
    Ok(h)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::volume::source::MemSource;

    /// A minimal v3 header: 64 KiB clusters, `size` bytes, L1 at cluster 3.
    pub fn v3_header(size: u64) -> Vec<u8> {
        let mut b = vec![0u8; 65536 * 4];
        b[0..4].copy_from_slice(b"QFI\xfb");
        b[4..8].copy_from_slice(&3u32.to_be_bytes());
        b[20..24].copy_from_slice(&16u32.to_be_bytes());
        b[24..32].copy_from_slice(&size.to_be_bytes());
        let l1 = size.div_ceil(8192 * 65536).max(1) as u32;
        b[36..40].copy_from_slice(&l1.to_be_bytes());
        b[40..48].copy_from_slice(&(3 * 65536u64).to_be_bytes());
        b[96..100].copy_from_slice(&4u32.to_be_bytes());
        b[100..104].copy_from_slice(&112u32.to_be_bytes());
        b
    }

    #[test]
    fn parses_a_minimal_header() {
        let h = parse(&MemSource::new(v3_header(1 << 30))).unwrap();
        assert_eq!(h.version, 3);
        assert_eq!(h.cluster_size(), 65536);
        assert_eq!(h.l1_size, 2);
        assert_eq!(h.compression, Compression::Zlib);
    }

    #[test]
    fn hostile_headers_get_precise_errors() {
        let set = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = v3_header(1 << 30);
            f(&mut b);
            parse(&MemSource::new(b)).unwrap_err().to_string()
        };
        assert!(set(&|b| b[20..24].copy_from_slice(&40u32.to_be_bytes())).contains("cluster_bits"));
        assert!(set(&|b| b[36..40].copy_from_slice(&u32::MAX.to_be_bytes())).contains("32 MiB"));
        assert!(set(&|b| b[36..40].copy_from_slice(&1u32.to_be_bytes())).contains("fewer"));
        assert!(set(&|b| b[32..36].copy_from_slice(&2u32.to_be_bytes())).contains("LUKS"));
        assert!(
            set(&|b| b[72..80].copy_from_slice(&(1u64 << 40).to_be_bytes())).contains("bit 40")
        );
        assert!(
            set(&|b| b[100..104].copy_from_slice(&8u32.to_be_bytes())).contains("header_length")
        );
        assert!(
            set(&|b| {
                b[8..16].copy_from_slice(&65500u64.to_be_bytes());
                b[16..20].copy_from_slice(&100u32.to_be_bytes());
            })
            .contains("backing file name")
        );
        assert!(
            set(&|b| {
                b[104] = 1;
            })
            .contains("without the compression-type feature bit")
        );
        // An extension running past the cluster.
        assert!(
            set(&|b| {
                b[112..116].copy_from_slice(&EXT_BACKING_FORMAT.to_be_bytes());
                b[116..120].copy_from_slice(&u32::MAX.to_be_bytes());
            })
            .contains("header extension")
        );
        let e = parse(&MemSource::new(b"QFI\xfb\0\0\0\x03".to_vec())).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }
}
