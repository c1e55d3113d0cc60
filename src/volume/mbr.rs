//! MBR with extended/logical partitions.
use super::{Device, PartitionTable, VolumeError};
pub fn read_mbr(_dev: &Device) -> Result<Option<PartitionTable>, VolumeError> {
    Ok(None)
}
