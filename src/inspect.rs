//! From a target path to the guest's root filesystem: open the device or directory, read the
//! partition table, look at every filesystem, and choose the root.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fs::ext4::{self, LoadNote, Superblock};
use crate::fs::xfs::{self, XfsInfo};
use crate::fs::{self, FsError, RootFs};
use crate::guest::os_release::{self, OsRelease};
use crate::volume::{self, Device, FsKind, ImageOptions, Layout, PartType, VolumeError};

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}: no partition {index} (partitions here: {available})")]
    NoSuchPartition {
        path: PathBuf,
        index: u32,
        available: String,
    },
    #[error("--partition does not apply to a directory target")]
    PartitionOnDirectory,
}

/// What one partition (or the whole device) turned out to hold.
#[derive(Debug)]
pub enum Content {
    /// A readable ext2/3/4 filesystem.
    Ext {
        volume: Box<ext4::Ext4Volume>,
        os: Option<OsRelease>,
        root_score: u32,
    },
    /// A readable XFS filesystem.
    Xfs {
        volume: Box<xfs::XfsVolume>,
        os: Option<OsRelease>,
        root_score: u32,
    },
    /// An ext or XFS filesystem the reader could not load.
    Unreadable { reason: String },
    /// A filesystem or container this build cannot read (Btrfs, LVM2, LUKS).
    Unsupported,
    /// Swap, FAT, or nothing recognised.
    Other,
    /// The chosen root: its filesystem moved to `Inspection::root`.
    Root,
}

#[derive(Debug)]
pub struct Candidate {
    /// Index into `Layout::entries`.
    pub entry: usize,
    pub content: Content,
}

/// The chosen root filesystem.
pub struct Root {
    pub fs: RootFs,
    /// Index into `Layout::entries`; `None` for a directory target.
    pub entry: Option<usize>,
    pub superblock: Option<Superblock>,
    pub load_notes: Vec<LoadNote>,
    /// The XFS superblock and health checks, for an XFS root.
    pub xfs: Option<Box<XfsInfo>>,
    pub os: Option<OsRelease>,
    /// Why this one (several candidates, or `--partition`).
    pub why: String,
    /// More than one filesystem looked like a root.
    pub contested: bool,
    /// Chosen with `--partition`.
    pub forced: bool,
}

impl std::fmt::Debug for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Root")
            .field("entry", &self.entry)
            .field("why", &self.why)
            .finish()
    }
}

#[derive(Debug)]
pub struct Inspection {
    pub target: PathBuf,
    /// `None` for a directory target.
    pub layout: Option<Layout>,
    pub candidates: Vec<Candidate>,
    pub root: Option<Root>,
    /// Devices of the recovery host itself that carry the root filesystem's UUID.
    pub host_uuid_clash: Vec<PathBuf>,
    /// When the root is an LVM logical volume: this host's own device directory for a volume
    /// group of the same name (`/dev/rhel`), if it has one.
    pub host_vg_clash: Option<PathBuf>,
}

/// Block devices on this (recovery) host whose filesystem UUID is `uuid`, other than the target
/// and its partitions: when the rescue server was launched from the same image as the broken
/// host, both roots carry the same UUID, and mounting by UUID or rebooting with the volume
/// attached may pick the wrong one.
pub fn host_devices_with_uuid(uuid: &str, target: &Path) -> Vec<PathBuf> {
    devices_with_uuid_in(Path::new("/dev/disk/by-uuid"), uuid, target)
}

/// `host_devices_with_uuid` over a `by-uuid`-style directory of symlinks.
fn devices_with_uuid_in(by_uuid: &Path, uuid: &str, target: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(by_uuid) else {
        return Vec::new();
    };
    let target_real = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
    let target_name = target_real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    for e in rd.flatten() {
        if !e.file_name().to_string_lossy().eq_ignore_ascii_case(uuid) {
            continue;
        }
        let Ok(dev) = std::fs::canonicalize(e.path()) else {
            continue;
        };
        let name = dev
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The target itself, or one of its partitions (sysfs lists them under the disk).
        let is_target = dev == target_real
            || (!target_name.is_empty()
                && Path::new("/sys/class/block")
                    .join(&target_name)
                    .join(&name)
                    .exists());
        if !is_target {
            out.push(dev);
        }
    }
    out.sort();
    out
}

/// This host's device directory for volume group `vg` (`/dev/rhel`, made by udev when the VG
/// is active), or an active LV of it in `/dev/mapper` (`rhel-root`; dashes in names doubled).
/// A rescue server launched from the same image as the broken host has the same VG name.
fn host_vg_dir(dev: &Path, vg: &str) -> Option<PathBuf> {
    if vg.is_empty() || vg.contains('/') {
        return None;
    }
    let dir = dev.join(vg);
    if dir.is_dir() {
        return Some(dir);
    }
    let prefix = format!("{}-", vg.replace('-', "--"));
    std::fs::read_dir(dev.join("mapper"))
        .ok()?
        .flatten()
        .find(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix) && !n[prefix.len()..].starts_with('-'))
        })
        .map(|e| e.path())
}

/// Reads os-release the way systemd does: `/etc/os-release`, else `/usr/lib/os-release`.
pub fn read_os_release(fs: &RootFs) -> Option<OsRelease> {
    for p in ["/etc/os-release", "/usr/lib/os-release"] {
        if let Ok(bytes) = fs.read_limited(p, 64 * 1024) {
            let os = os_release::parse(&String::from_utf8_lossy(&bytes));
            if os.id.is_some() || os.pretty_name.is_some() {
                return Some(os);
            }
        }
    }
    None
}

/// How much a filesystem looks like a Linux root; 0 when it does not (no `/etc`, or neither
/// os-release nor passwd in it).
pub fn root_score(fs: &RootFs, os: Option<&OsRelease>) -> u32 {
    let is_dir = |p: &str| fs.metadata(p).map(|m| m.is_dir()).unwrap_or(false);
    let exists = |p: &str| fs.symlink_metadata(p).is_ok();
    if !is_dir("/etc") {
        return 0;
    }
    let has_passwd = exists("/etc/passwd");
    if os.is_none() && !has_passwd {
        return 0;
    }
    let mut score = 0;
    if os.is_some() {
        score += 4;
    }
    if has_passwd {
        score += 4;
    }
    if exists("/etc/fstab") {
        score += 1;
    }
    if is_dir("/usr/bin") || is_dir("/bin") {
        score += 1;
    }
    score
}

/// GPT types that say "this is a root" (discoverable partitions spec).
fn is_root_type(t: &PartType) -> bool {
    matches!(t, PartType::Gpt { guid, .. } if [
        "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", // x86-64
        "B921B045-1DF0-41C3-AF44-4C6F280D3FAE", // aarch64
        "44479540-F297-41B2-9AF7-D131D5F0458A", // x86
    ].contains(&guid.as_str()))
}

/// LV names installers give the root (`rhel/root`, `cl/root`, `ubuntu-vg/ubuntu-lv`,
/// `VolGroup00/LogVol00`): like the GPT root type, a hint among root-like candidates.
fn is_root_lv(name: &str) -> bool {
    matches!(
        name,
        "root" | "lv_root" | "rootlv" | "ubuntu-lv" | "LogVol00"
    )
}

/// Examines one volume entry.
/// How much a filesystem looks like the root, with a bonus when its partition type or logical
/// volume name says root.
fn entry_root_score(e: &volume::VolumeEntry, fs: &RootFs, os: Option<&OsRelease>) -> u32 {
    let mut score = root_score(fs, os);
    if score > 0
        && e.partition
            .as_ref()
            .is_some_and(|p| is_root_type(&p.part_type))
    {
        score += 2;
    }
    if score > 0 && e.lv.as_ref().is_some_and(|l| is_root_lv(&l.name)) {
        score += 2;
    }
    score
}

fn examine(layout: &Layout, i: usize) -> Content {
    let e = &layout.entries[i];
    match e.probe.kind {
        k if k.is_ext() => match ext4::open(&e.slice) {
            Ok(volume) => {
                let os = read_os_release(&volume.fs);
                let root_score = entry_root_score(e, &volume.fs, os.as_ref());
                Content::Ext {
                    volume: Box::new(volume),
                    os,
                    root_score,
                }
            }
            Err(err) => Content::Unreadable {
                reason: err.to_string(),
            },
        },
        FsKind::Xfs => match xfs::open(&e.slice) {
            Ok(volume) => {
                let os = read_os_release(&volume.fs);
                let root_score = entry_root_score(e, &volume.fs, os.as_ref());
                Content::Xfs {
                    volume: Box::new(volume),
                    os,
                    root_score,
                }
            }
            Err(err) => Content::Unreadable {
                reason: err.to_string(),
            },
        },
        FsKind::Btrfs | FsKind::Lvm2Pv | FsKind::Luks1 | FsKind::Luks2 => Content::Unsupported,
        _ => Content::Other,
    }
}

/// Describes an entry for messages: `partition 2 (ext4, "cloudimg-rootfs")`.
pub fn describe_entry(layout: &Layout, i: usize) -> String {
    let e = &layout.entries[i];
    let mut s = match (&e.partition, &e.lv) {
        (Some(p), _) => format!("partition {}", p.index),
        (None, Some(lv)) => format!("logical volume {}/{}", lv.vg, lv.name),
        (None, None) => "the whole device".to_string(),
    };
    s.push_str(&format!(" ({}", e.probe.kind.as_str()));
    if let Some(l) = &e.probe.label {
        s.push_str(&format!(", label \"{l}\""));
    }
    s.push(')');
    s
}

/// Opens a target and chooses its root filesystem. `partition` forces the choice. Backing and
/// extent files named by an image are refused.
pub fn inspect(target: &Path, partition: Option<u32>) -> Result<Inspection, InspectError> {
    inspect_with(target, partition, &ImageOptions::default())
}

/// `inspect` with image options (`--allow-backing`).
pub fn inspect_with(
    target: &Path,
    partition: Option<u32>,
    options: &ImageOptions,
) -> Result<Inspection, InspectError> {
    let md = std::fs::metadata(target).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => VolumeError::NotFound(target.to_path_buf()),
        std::io::ErrorKind::PermissionDenied => VolumeError::PermissionDenied(target.to_path_buf()),
        _ => VolumeError::io(target, e),
    })?;
    if md.is_dir() {
        if partition.is_some() {
            return Err(InspectError::PartitionOnDirectory);
        }
        let fs = fs::dir::open(target)?;
        let os = read_os_release(&fs);
        return Ok(Inspection {
            target: target.to_path_buf(),
            layout: None,
            candidates: Vec::new(),
            root: Some(Root {
                fs,
                entry: None,
                superblock: None,
                load_notes: Vec::new(),
                xfs: None,
                os,
                why: "a mounted directory".into(),
                contested: false,
                forced: false,
            }),
            host_uuid_clash: Vec::new(),
            host_vg_clash: None,
        });
    }

    let device = Arc::new(Device::open_with(target, options)?);
    let layout = volume::discover(device)?;

    let wanted: Vec<usize> = match partition {
        Some(n) => {
            let i = layout
                .entries
                .iter()
                .position(|e| e.partition.as_ref().map(|p| p.index) == Some(n))
                .ok_or_else(|| InspectError::NoSuchPartition {
                    path: target.to_path_buf(),
                    index: n,
                    available: available(&layout),
                })?;
            vec![i]
        }
        None => (0..layout.entries.len()).collect(),
    };
    let mut candidates: Vec<Candidate> = wanted
        .iter()
        .map(|&i| Candidate {
            entry: i,
            content: examine(&layout, i),
        })
        .collect();

    let root = choose_root(&layout, &mut candidates, partition.is_some());
    let host_uuid_clash = root
        .as_ref()
        .and_then(|r| r.fs.info().uuid.clone())
        .map(|u| host_devices_with_uuid(&u, target))
        .unwrap_or_default();
    let host_vg_clash = root
        .as_ref()
        .and_then(|r| r.entry)
        .and_then(|i| layout.entries[i].lv.as_ref())
        .and_then(|lv| host_vg_dir(Path::new("/dev"), &lv.vg));
    Ok(Inspection {
        target: target.to_path_buf(),
        layout: Some(layout),
        candidates,
        root,
        host_uuid_clash,
        host_vg_clash,
    })
}

fn available(layout: &Layout) -> String {
    let v: Vec<String> = layout
        .entries
        .iter()
        .filter_map(|e| e.partition.as_ref().map(|p| p.index.to_string()))
        .collect();
    if v.is_empty() {
        "none: the filesystem starts at offset 0".into()
    } else {
        v.join(", ")
    }
}

/// Picks the best-scoring root; moves its volume out of `candidates`.
fn choose_root(layout: &Layout, candidates: &mut [Candidate], forced: bool) -> Option<Root> {
    let scored: Vec<(usize, u32, u64)> = candidates
        .iter()
        .enumerate()
        .filter_map(|(ci, c)| match &c.content {
            Content::Ext { root_score, .. } | Content::Xfs { root_score, .. }
                if *root_score > 0 || forced =>
            {
                Some((ci, *root_score, layout.entries[c.entry].slice.len()))
            }
            _ => None,
        })
        .collect();
    // Highest score, then largest, then first.
    let best = scored
        .iter()
        .copied()
        .max_by(|a, b| a.1.cmp(&b.1).then(a.2.cmp(&b.2)).then(b.0.cmp(&a.0)))?;
    let contested = scored.len() > 1;
    let entry = candidates[best.0].entry;
    let why = if forced {
        format!(
            "{} was chosen with --partition",
            describe_entry(layout, entry)
        )
    } else if contested {
        let others: Vec<String> = scored
            .iter()
            .filter(|s| s.0 != best.0)
            .map(|s| describe_entry(layout, candidates[s.0].entry))
            .collect();
        format!(
            "{} looks most like a root filesystem (os-release, /etc/passwd, /etc/fstab, /usr/bin, GPT root type; then size); also root-like: {}. Use --partition N to inspect another.",
            describe_entry(layout, entry),
            others.join(", ")
        )
    } else {
        format!(
            "{} holds /etc with os-release or passwd",
            describe_entry(layout, entry)
        )
    };
    let taken = std::mem::replace(&mut candidates[best.0].content, Content::Root);
    match taken {
        Content::Ext { volume, os, .. } => {
            let v = *volume;
            Some(Root {
                fs: v.fs,
                entry: Some(entry),
                superblock: Some(v.superblock),
                load_notes: v.notes,
                xfs: None,
                os,
                why,
                contested,
                forced,
            })
        }
        Content::Xfs { volume, os, .. } => {
            let v = *volume;
            Some(Root {
                fs: v.fs,
                entry: Some(entry),
                superblock: None,
                load_notes: Vec::new(),
                xfs: Some(Box::new(v.info)),
                os,
                why,
                contested,
                forced,
            })
        }
        other => {
            candidates[best.0].content = other;
            None
        }
    }
}

impl Inspection {
    /// The partition index the root was found on (to open the same root again).
    pub fn root_partition(&self) -> Option<u32> {
        let entry = self.root.as_ref()?.entry?;
        self.layout
            .as_ref()?
            .entries
            .get(entry)?
            .partition
            .as_ref()
            .map(|p| p.index)
    }

    /// The `target` object of the report.
    pub fn report_target(&self) -> crate::report::Target {
        use crate::report::{FilesystemInfo, OsInfo, PartitionInfo, Target};
        let mut t = Target {
            path: self.target.display().to_string(),
            image: self.layout.as_ref().map(|l| l.device.image().clone()),
            partition: None,
            filesystem: None,
            os: None,
        };
        let Some(root) = &self.root else {
            return t;
        };
        if let (Some(layout), Some(i)) = (&self.layout, root.entry) {
            if let Some(p) = &layout.entries[i].partition {
                t.partition = Some(PartitionInfo {
                    index: p.index,
                    scheme: p.scheme.as_str(),
                    start: p.start,
                    size: p.size,
                    type_name: p.part_type.name().to_string(),
                    type_id: p.part_type.code(),
                    label: p.name.clone(),
                    uuid: p.uuid.clone(),
                });
            }
        }
        let info = root.fs.info();
        t.filesystem = Some(FilesystemInfo {
            fs_type: info.fs_type.clone(),
            uuid: info.uuid.clone(),
            label: info.label.clone(),
        });
        t.os = root.os.as_ref().map(|o| OsInfo {
            id: o.id.clone(),
            version_id: o.version_id.clone(),
            pretty_name: o.pretty_name.clone(),
        });
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vg_name_clash_with_the_host() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("mapper")).unwrap();
        std::fs::write(t.path().join("mapper/rhel-root"), b"").unwrap();
        std::fs::write(t.path().join("mapper/my--vg-lv"), b"").unwrap();
        assert!(host_vg_dir(t.path(), "rhel").is_some());
        assert!(host_vg_dir(t.path(), "my-vg").is_some());
        assert!(host_vg_dir(t.path(), "my").is_none());
        assert!(host_vg_dir(t.path(), "cl").is_none());
        std::fs::create_dir(t.path().join("cl")).unwrap();
        assert_eq!(host_vg_dir(t.path(), "cl"), Some(t.path().join("cl")));
    }

    #[test]
    fn uuid_clash_ignores_the_target_itself() {
        let t = tempfile::tempdir().unwrap();
        let by = t.path().join("by-uuid");
        std::fs::create_dir(&by).unwrap();
        let host_root = t.path().join("nvme0n1p1");
        let target = t.path().join("xvdf.img");
        std::fs::write(&host_root, b"").unwrap();
        std::fs::write(&target, b"").unwrap();
        let u = "2f5e3a46-7d0b-4bb5-9d3c-6b6e5e8f1a10";
        std::os::unix::fs::symlink(&host_root, by.join(u)).unwrap();
        std::os::unix::fs::symlink(&target, by.join("0000-1111")).unwrap();
        assert_eq!(
            devices_with_uuid_in(&by, &u.to_uppercase(), &target),
            vec![host_root.clone()]
        );
        assert!(devices_with_uuid_in(&by, "0000-1111", &target).is_empty());
        assert!(devices_with_uuid_in(&t.path().join("none"), u, &target).is_empty());
    }
}
