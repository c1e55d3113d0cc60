//! Naming what a volume holds from its magic numbers, so an unsupported volume gets a precise
//! message (XFS, Btrfs, LVM2, LUKS) instead of "not a filesystem".

use super::Slice;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsKind {
    Ext2,
    Ext3,
    Ext4,
    Xfs,
    Btrfs,
    Lvm2Pv,
    Luks1,
    Luks2,
    Swap,
    Vfat,
    Unknown,
}

impl FsKind {
    /// The name `blkid` uses (`ext4`, `xfs`, `LVM2_member`, `crypto_LUKS`, `swap`, `vfat`).
    pub fn as_str(self) -> &'static str {
        match self {
            FsKind::Ext2 => "ext2",
            FsKind::Ext3 => "ext3",
            FsKind::Ext4 => "ext4",
            FsKind::Xfs => "xfs",
            FsKind::Btrfs => "btrfs",
            FsKind::Lvm2Pv => "LVM2_member",
            FsKind::Luks1 | FsKind::Luks2 => "crypto_LUKS",
            FsKind::Swap => "swap",
            FsKind::Vfat => "vfat",
            FsKind::Unknown => "unknown",
        }
    }

    pub fn is_ext(self) -> bool {
        matches!(self, FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub kind: FsKind,
    pub label: Option<String>,
    /// Lower-case canonical UUID (`2f5e3a46-…`), or the FAT volume id (`ABCD-1234`), as `blkid`
    /// prints it.
    pub uuid: Option<String>,
    /// Why a read failed while probing (a truncated image), if it did.
    pub error: Option<String>,
}

fn cstr(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]).trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn uuid(b: &[u8]) -> Option<String> {
    if b.len() < 16 || b[..16].iter().all(|&c| c == 0) {
        return None;
    }
    let h: String = b[..16].iter().map(|c| format!("{c:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

fn u32le(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Bytes read once from the start of the slice: enough for every probe (Btrfs's superblock is
/// at 64 KiB, swap's signature at the end of a page of up to 64 KiB).
const PROBE_LEN: usize = 0x10000 + 4096;

/// Probes a slice. Never fails: an unreadable slice is `Unknown` with `error` set.
pub fn probe(slice: &Slice) -> Probe {
    let b = match slice.read_upto(0, PROBE_LEN) {
        Ok(b) => b,
        Err(e) => {
            return Probe {
                kind: FsKind::Unknown,
                label: None,
                uuid: None,
                error: Some(e.to_string()),
            };
        }
    };
    probe_bytes(&b)
}

/// The same, on bytes already read (the start of a volume).
pub fn probe_bytes(b: &[u8]) -> Probe {
    let has = |off: usize, magic: &[u8]| {
        b.len() >= off + magic.len() && &b[off..off + magic.len()] == magic
    };
    let p = |kind, label, uuid| Probe {
        kind,
        label,
        uuid,
        error: None,
    };
    if has(0, b"LUKS\xba\xbe") && b.len() >= 208 {
        let v = u16::from_be_bytes([b[6], b[7]]);
        let id = cstr(&b[168..208]);
        return if v == 2 {
            p(FsKind::Luks2, cstr(&b[24..72]), id)
        } else {
            p(FsKind::Luks1, None, id)
        };
    }
    for s in 0..4 {
        let o = s * 512;
        if has(o, b"LABELONE") && has(o + 24, b"LVM2 001") && b.len() >= o + 64 {
            let raw = String::from_utf8_lossy(&b[o + 32..o + 64]).into_owned();
            let id = if raw.len() == 32 {
                format!(
                    "{}-{}-{}-{}-{}-{}-{}",
                    &raw[0..6],
                    &raw[6..10],
                    &raw[10..14],
                    &raw[14..18],
                    &raw[18..22],
                    &raw[22..26],
                    &raw[26..32]
                )
            } else {
                raw
            };
            return p(FsKind::Lvm2Pv, None, Some(id));
        }
    }
    if has(0, b"XFSB") && b.len() >= 120 {
        return p(FsKind::Xfs, cstr(&b[108..120]), uuid(&b[32..48]));
    }
    if b.len() >= 2048 && b[1024 + 0x38] == 0x53 && b[1024 + 0x39] == 0xEF {
        let sb = &b[1024..2048];
        let (compat, incompat, ro) = (u32le(sb, 0x5C), u32le(sb, 0x60), u32le(sb, 0x64));
        let label = cstr(&sb[0x78..0x88]);
        let id = uuid(&sb[0x68..0x78]);
        if incompat & 0x8 != 0 {
            // An external journal device, not a filesystem.
            return p(FsKind::Unknown, label, id);
        }
        let ext4 = incompat & !0x7 != 0 || ro & !0x7 != 0;
        let kind = if ext4 {
            FsKind::Ext4
        } else if compat & 0x4 != 0 || incompat & 0x4 != 0 {
            FsKind::Ext3
        } else {
            FsKind::Ext2
        };
        return p(kind, label, id);
    }
    if has(0x10040, b"_BHRfS_M") && b.len() >= 0x1012b + 256 {
        return p(
            FsKind::Btrfs,
            cstr(&b[0x1012b..0x1012b + 256]),
            uuid(&b[0x10020..0x10030]),
        );
    }
    for page in [4096usize, 8192, 16384, 65536] {
        if has(page - 10, b"SWAPSPACE2") || has(page - 10, b"SWAP-SPACE") {
            return p(
                FsKind::Swap,
                cstr(&b[1024 + 28..1024 + 44]),
                uuid(&b[1024 + 12..1024 + 28]),
            );
        }
    }
    if b.len() >= 512 && b[510] == 0x55 && b[511] == 0xAA {
        let vol = |label_at: usize, id_at: usize| {
            let label = cstr(&b[label_at..label_at + 11]).filter(|l| l != "NO NAME");
            let id = u32le(b, id_at);
            p(
                FsKind::Vfat,
                label,
                Some(format!("{:04X}-{:04X}", id >> 16, id & 0xFFFF)),
            )
        };
        if has(82, b"FAT32   ") {
            return vol(71, 67);
        }
        if has(54, b"FAT12   ") || has(54, b"FAT16   ") {
            return vol(43, 39);
        }
    }
    p(FsKind::Unknown, None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers() {
        let mut b = vec![0u8; PROBE_LEN];
        b[0..4].copy_from_slice(b"XFSB");
        b[108..112].copy_from_slice(b"root");
        let x = probe_bytes(&b);
        assert_eq!((x.kind, x.label.as_deref()), (FsKind::Xfs, Some("root")));
        let mut b = vec![0u8; PROBE_LEN];
        b[0..6].copy_from_slice(b"LUKS\xba\xbe");
        b[7] = 2;
        assert_eq!(probe_bytes(&b).kind, FsKind::Luks2);
        let mut b = vec![0u8; PROBE_LEN];
        b[512..520].copy_from_slice(b"LABELONE");
        b[536..544].copy_from_slice(b"LVM2 001");
        assert_eq!(probe_bytes(&b).kind, FsKind::Lvm2Pv);
        let mut b = vec![0u8; PROBE_LEN];
        b[4086..4096].copy_from_slice(b"SWAPSPACE2");
        assert_eq!(probe_bytes(&b).kind, FsKind::Swap);
        let mut b = vec![0u8; PROBE_LEN];
        b[0x10040..0x10048].copy_from_slice(b"_BHRfS_M");
        assert_eq!(probe_bytes(&b).kind, FsKind::Btrfs);
        let mut b = vec![0u8; PROBE_LEN];
        b[0] = 0xEB;
        b[2] = 0x90;
        b[82..90].copy_from_slice(b"FAT32   ");
        b[67..71].copy_from_slice(&0x1234_ABCDu32.to_le_bytes());
        b[510] = 0x55;
        b[511] = 0xAA;
        let v = probe_bytes(&b);
        assert_eq!(
            (v.kind, v.uuid.as_deref()),
            (FsKind::Vfat, Some("1234-ABCD"))
        );
        assert_eq!(probe_bytes(&[0u8; 100]).kind, FsKind::Unknown);
    }
}
