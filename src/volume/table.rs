//! The partition table of a device, whatever its scheme.

use super::{Device, VolumeError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Gpt,
    Mbr,
    /// No partition table: a filesystem (or nothing) at offset 0.
    None,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Gpt => "gpt",
            Scheme::Mbr => "mbr",
            Scheme::None => "none",
        }
    }
}

/// A partition's type: a GPT type GUID or an MBR type code, with a human name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartType {
    /// Upper-case GUID string, e.g. `0FC63DAF-8483-4772-8E79-3D69D8477DE4`, and its name
    /// (`"Linux filesystem"`), or `"unknown"`.
    Gpt { guid: String, name: &'static str },
    /// MBR type byte (0x83) and its name (`"Linux"`).
    Mbr { code: u8, name: &'static str },
}

impl PartType {
    pub fn name(&self) -> &'static str {
        match self {
            PartType::Gpt { name, .. } | PartType::Mbr { name, .. } => name,
        }
    }
    /// `0FC63DAF-...` or `0x83`.
    pub fn code(&self) -> String {
        match self {
            PartType::Gpt { guid, .. } => guid.clone(),
            PartType::Mbr { code, .. } => format!("0x{code:02x}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// 1-based, as the kernel numbers them (`xvdf1`); MBR logical partitions start at 5.
    pub index: u32,
    pub scheme: Scheme,
    /// Byte offset on the device.
    pub start: u64,
    /// Size in bytes, as the table says (may run past the end of a truncated image).
    pub size: u64,
    pub part_type: PartType,
    /// GPT partition name (e.g. `cloudimg-rootfs`); `None` on MBR.
    pub name: Option<String>,
    /// GPT unique partition GUID (what `PARTUUID=` names); for MBR the kernel's
    /// `DISKSIG-NN` form.
    pub uuid: Option<String>,
    /// MBR active flag / GPT legacy BIOS bootable attribute.
    pub bootable: bool,
    /// True when the partition extends past the end of the device.
    pub beyond_end: bool,
}

impl Partition {
    /// An MBR extended partition: a container of logical partitions, not a filesystem.
    pub fn is_container(&self) -> bool {
        matches!(
            self.part_type,
            PartType::Mbr {
                code: 0x05 | 0x0f | 0x85,
                ..
            }
        )
    }
}

/// Something wrong with the table that did not stop reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableProblem {
    /// One line: what is wrong, with numbers (`primary GPT header CRC mismatch: stored 0x…,
    /// computed 0x…`).
    pub message: String,
    /// The command that repairs it, if there is one (`sgdisk -e`, gdisk recovery).
    pub fix: Option<String>,
    /// True when the problem means data may be unreachable (a partition beyond the end), false
    /// for redundancy lost (primary bad, backup good).
    pub serious: bool,
}

#[derive(Clone, Debug)]
pub struct PartitionTable {
    pub scheme: Scheme,
    /// Logical sector size the table was found with (512 or 4096); 512 for `None`.
    pub sector_size: u32,
    /// GPT disk GUID or MBR disk signature (`0x1234abcd`).
    pub disk_id: Option<String>,
    pub partitions: Vec<Partition>,
    pub problems: Vec<TableProblem>,
}

/// Finds the table: GPT (512, then 4096-byte sectors; primary, then backup), MBR, or none.
///
/// A protective MBR is not listed as a partition. A device whose first sector is a filesystem
/// boot sector (FAT has 0x55AA too) is `Scheme::None`.
pub fn read_table(dev: &Device) -> Result<PartitionTable, VolumeError> {
    if let Some(gpt) = super::gpt::read_gpt(dev)? {
        return Ok(gpt);
    }
    if let Some(mbr) = super::mbr::read_mbr(dev)? {
        return Ok(mbr);
    }
    Ok(PartitionTable {
        scheme: Scheme::None,
        sector_size: 512,
        disk_id: None,
        partitions: Vec::new(),
        problems: Vec::new(),
    })
}
