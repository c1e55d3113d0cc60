//! The Btrfs superblock (`ctree.h: struct btrfs_super_block`, at 64 KiB), enough to say what
//! is there: label, filesystem UUID, how many devices it spans, generation. Subvolume names
//! live in the root tree behind the chunk tree; this tool does not read them.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BtrfsInfo {
    pub uuid: String,
    pub label: Option<String>,
    pub num_devices: u64,
    pub generation: u64,
}

const SB: usize = 0x10000;

pub fn parse(b: &[u8]) -> Option<BtrfsInfo> {
    let sb = b.get(SB..SB + 0x22b)?;
    if &sb[0x40..0x48] != b"_BHRfS_M" {
        return None;
    }
    let u64le = |o: usize| u64::from_le_bytes(sb[o..o + 8].try_into().unwrap_or([0; 8]));
    let h: String = sb[0x20..0x30].iter().map(|c| format!("{c:02x}")).collect();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    let raw = &sb[0x12b..0x22b];
    let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    let label = Some(String::from_utf8_lossy(&raw[..end]).into_owned()).filter(|l| !l.is_empty());
    Some(BtrfsInfo {
        uuid,
        label,
        num_devices: u64le(0x88),
        generation: u64le(0x48),
    })
}
