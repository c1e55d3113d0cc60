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

/// Probes a slice. Never fails: an unreadable slice is `Unknown` with `error` set.
pub fn probe(slice: &Slice) -> Probe {
    // TEMPORARY until the volume helper lands the real probe.
    if let Ok(b) = slice.read_upto(0, 2048) {
        if b.len() >= 2048 && b[1024 + 0x38] == 0x53 && b[1024 + 0x39] == 0xEF {
            return Probe {
                kind: FsKind::Ext4,
                label: None,
                uuid: None,
                error: None,
            };
        }
        if b.starts_with(b"XFSB") {
            return Probe {
                kind: FsKind::Xfs,
                label: None,
                uuid: None,
                error: None,
            };
        }
    }
    Probe {
        kind: FsKind::Unknown,
        label: None,
        uuid: None,
        error: None,
    }
}
