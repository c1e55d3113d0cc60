//! Volumes: getting at bytes read-only, partition tables, and what each partition holds.
//!
//! `Device` opens a target; `table::read_table` finds its partitions (GPT with 512- or
//! 4096-byte sectors, MBR with extended/logical partitions, or none); `probe::probe` names the
//! filesystem or container on each by its magic numbers. Nothing here interprets files.

pub mod btrfs;
pub mod device;
pub mod gpt;
pub mod image;
pub mod luks;
pub mod lvm;
pub mod mbr;
pub mod probe;
pub mod source;
pub mod table;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use device::{Device, DeviceKind, Slice};
pub use image::{ImageInfo, ImageOptions};
pub use probe::{FsKind, Probe};
pub use source::BlockSource;
pub use table::{PartType, Partition, PartitionTable, Scheme, TableProblem};

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{0}: no such file or device")]
    NotFound(PathBuf),
    #[error("{0}: permission denied (a block device needs root: run with sudo)")]
    PermissionDenied(PathBuf),
    #[error("{0}: is a directory (inspect it as a mounted volume with `check`)")]
    IsDirectory(PathBuf),
    #[error("{0}: not an image file or block device")]
    NotAVolume(PathBuf),
    #[error(
        "read of {len} bytes at offset {offset} is beyond the end of the volume ({size} bytes): the image is truncated or a partition runs past the end of the device"
    )]
    BeyondEnd { offset: u64, len: u64, size: u64 },
    #[error("{path}: {source}")]
    Image {
        path: PathBuf,
        #[source]
        source: Box<image::ImageError>,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl VolumeError {
    pub fn io(path: &Path, source: std::io::Error) -> VolumeError {
        VolumeError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One place a filesystem may live: a partition, or the whole device when there is no table.
#[derive(Clone, Debug)]
pub struct VolumeEntry {
    /// `None` for a whole device without a partition table.
    pub partition: Option<Partition>,
    pub slice: Slice,
    pub probe: Probe,
    /// An LVM logical volume (on PVs listed as other entries), not a partition.
    pub lv: Option<lvm::LvInfo>,
}

/// The target's layout: its partition table and what each partition holds.
#[derive(Debug)]
pub struct Layout {
    pub device: Arc<Device>,
    pub table: PartitionTable,
    pub entries: Vec<VolumeEntry>,
}

/// Reads the partition table and probes every partition (or the whole device).
pub fn discover(device: Arc<Device>) -> Result<Layout, VolumeError> {
    let table = table::read_table(&device)?;
    let mut entries = Vec::new();
    if table.scheme == Scheme::None {
        let slice = Slice::whole(device.clone());
        let probe = probe::probe(&slice);
        entries.push(VolumeEntry {
            partition: None,
            slice,
            probe,
            lv: None,
        });
    } else {
        for p in &table.partitions {
            if p.is_container() {
                // An extended partition holds logical partitions, listed on their own.
                continue;
            }
            let slice = Slice::new(device.clone(), p.start, p.size);
            let probe = probe::probe(&slice);
            entries.push(VolumeEntry {
                partition: Some(p.clone()),
                slice,
                probe,
                lv: None,
            });
        }
    }
    // Logical volumes of the volume groups whose PVs are here, after the PVs.
    let pvs: Vec<Slice> = entries
        .iter()
        .filter(|e| e.probe.kind == FsKind::Lvm2Pv)
        .map(|e| e.slice.clone())
        .collect();
    if !pvs.is_empty() {
        for (info, map) in lvm::logical_volumes(&pvs) {
            let (slice, probe) = match map {
                Some(m) => {
                    let slice = Slice::logical(device.clone(), m);
                    let probe = probe::probe(&slice);
                    (slice, probe)
                }
                None => (
                    Slice::new(device.clone(), 0, 0),
                    Probe {
                        kind: FsKind::Unknown,
                        label: None,
                        uuid: None,
                        error: info.unsupported.clone(),
                    },
                ),
            };
            entries.push(VolumeEntry {
                partition: None,
                slice,
                probe,
                lv: Some(info),
            });
        }
    }
    Ok(Layout {
        device,
        table,
        entries,
    })
}
