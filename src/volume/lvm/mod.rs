//! LVM2 read natively: physical volume labels and metadata areas (`label`), the metadata text
//! (`config`), the volume group it describes (`vg`), and logical volumes mapped onto the PVs'
//! slices (`LvMap`): linear and striped segments, `zero` segments; thin, RAID, mirror,
//! snapshot, cache and the other segment types are reported by name as unsupported.
//!
//! An LV has the shape of a block source (a size and `read_exact_at`); `Slice::logical` wraps
//! one, so partitions' consumers (probing, filesystems, audits) read an LV like a partition.

pub mod config;
pub mod label;
pub mod vg;

use std::collections::HashMap;
use std::sync::Arc;

use super::{Slice, VolumeError};
use label::{DiskLocn, PvLabel, lvm_crc};
pub use vg::{Lv, SegKind, Vg};

/// Metadata text read at most (real VGs hold kilobytes; the area is usually 1 MiB).
const MAX_TEXT: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum LvmError {
    #[error(transparent)]
    Label(#[from] label::LabelError),
    #[error("reading the PV: {0}")]
    Io(#[from] VolumeError),
    #[error(
        "LVM metadata text checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})"
    )]
    TextChecksum { stored: u32, computed: u32 },
    #[error(transparent)]
    Parse(#[from] config::ParseError),
    #[error("LVM metadata: {0}")]
    Metadata(String),
    #[error("the PV has no metadata area with a volume group (metadata kept on other PVs only)")]
    NoMetadata,
}

/// A PV: its label and the VG its metadata describes.
#[derive(Clone, Debug)]
pub struct PvInfo {
    pub label: PvLabel,
    pub vg: Vg,
}

/// Reads a PV's label and the newest VG metadata of its metadata areas.
pub fn read_pv(slice: &Slice) -> Result<PvInfo, LvmError> {
    let head = slice.read_upto(0, 2048)?;
    let label = label::parse_label(&head)?;
    let mut best: Option<Vg> = None;
    let mut last_err = None;
    for area in &label.metadata_areas {
        match read_area(slice, *area) {
            Ok(Some(vg)) => {
                if best.as_ref().is_none_or(|b| vg.seqno > b.seqno) {
                    best = Some(vg);
                }
            }
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
    }
    match (best, last_err) {
        (Some(vg), _) => Ok(PvInfo { label, vg }),
        (None, Some(e)) => Err(e),
        (None, None) => Err(LvmError::NoMetadata),
    }
}

fn read_area(slice: &Slice, area: DiskLocn) -> Result<Option<Vg>, LvmError> {
    let mut hdr = vec![0u8; 512];
    slice.read_exact_at(area.offset, &mut hdr)?;
    let Some(text) = label::parse_mda_header(&hdr, area)? else {
        return Ok(None);
    };
    let total: u64 = text.ranges.iter().map(|r| r.1).sum();
    if total > MAX_TEXT {
        return Err(LvmError::Metadata(format!(
            "{total} bytes of metadata text"
        )));
    }
    let mut buf = Vec::with_capacity(total as usize);
    for (off, len) in &text.ranges {
        let mut part = vec![0u8; *len as usize];
        slice.read_exact_at(*off, &mut part)?;
        buf.extend_from_slice(&part);
    }
    let computed = lvm_crc(&buf);
    if computed != text.checksum {
        return Err(LvmError::TextChecksum {
            stored: text.checksum,
            computed,
        });
    }
    let root = config::parse(&buf)?;
    vg::from_config(&root).map(Some).map_err(LvmError::Metadata)
}

/// `abcdef...` (32 characters, the label's form) from an id with dashes.
pub fn bare_id(id: &str) -> String {
    id.chars().filter(|c| *c != '-').collect()
}

#[derive(Debug)]
enum Mapped {
    /// Stripes: each (PV slice, byte offset of the stripe's area on it); one stripe is linear.
    Striped {
        stripe_size: u64,
        stripes: Vec<(Slice, u64)>,
    },
    Zero,
}

#[derive(Debug)]
struct MappedSeg {
    start: u64,
    len: u64,
    map: Mapped,
}

/// A logical volume mapped onto physical volume slices.
#[derive(Debug)]
pub struct LvMap {
    pub vg: String,
    pub name: String,
    size: u64,
    segs: Vec<MappedSeg>,
}

impl LvMap {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Fills `buf` from `offset` of the LV.
    pub fn read_exact_at(&self, offset: u64, mut buf: &mut [u8]) -> Result<(), VolumeError> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > self.size) {
            return Err(VolumeError::BeyondEnd {
                offset,
                len: buf.len() as u64,
                size: self.size,
            });
        }
        let mut pos = offset;
        while !buf.is_empty() {
            let i = self
                .segs
                .partition_point(|s| s.start.saturating_add(s.len) <= pos);
            let Some(seg) = self.segs.get(i).filter(|s| s.start <= pos) else {
                return Err(VolumeError::BeyondEnd {
                    offset: pos,
                    len: buf.len() as u64,
                    size: self.size,
                });
            };
            let in_seg = pos - seg.start;
            let mut n = (seg.len - in_seg).min(buf.len() as u64);
            match &seg.map {
                Mapped::Zero => buf[..n as usize].fill(0),
                Mapped::Striped {
                    stripe_size,
                    stripes,
                } => {
                    let k = stripes.len() as u64;
                    let (slice, at) = match stripes.as_slice() {
                        [] => {
                            return Err(VolumeError::BeyondEnd {
                                offset: pos,
                                len: buf.len() as u64,
                                size: self.size,
                            });
                        }
                        [(s, base)] => (s, base.saturating_add(in_seg)),
                        _ => {
                            let chunk = in_seg / stripe_size;
                            let within = in_seg % stripe_size;
                            n = n.min(stripe_size - within);
                            let (s, base) = &stripes[(chunk % k) as usize];
                            (
                                s,
                                base.saturating_add((chunk / k).saturating_mul(*stripe_size))
                                    .saturating_add(within),
                            )
                        }
                    };
                    slice.read_exact_at(at, &mut buf[..n as usize])?;
                }
            }
            pos += n;
            buf = &mut buf[n as usize..];
        }
        Ok(())
    }
}

/// Maps `lv` of `vg` onto the PVs found (`pvs`: bare PV id → slice).
pub fn map_lv(vg: &Vg, lv: &Lv, pvs: &HashMap<String, Slice>) -> Result<LvMap, String> {
    if let Some(t) = lv.unsupported() {
        return Err(format!(
            "logical volume {}/{} uses {t} segments, which this tool does not read (activate it with vgchange -ay and inspect the mounted filesystem)",
            vg.name, lv.name
        ));
    }
    let es = vg.extent_size;
    let mut segs = Vec::new();
    let mut next = 0u64;
    for s in &lv.segments {
        if s.start_extent != next {
            return Err(format!(
                "{}/{}: segment at extent {} leaves a gap after {next}",
                vg.name, lv.name, s.start_extent
            ));
        }
        next = s.start_extent.saturating_add(s.extent_count);
        let len = s.extent_count.saturating_mul(es);
        let map = match &s.kind {
            SegKind::Zero => Mapped::Zero,
            SegKind::Unsupported(t) => {
                return Err(format!("{}/{}: {t} segment", vg.name, lv.name));
            }
            SegKind::Striped {
                stripe_size,
                stripes,
            } => {
                let k = stripes.len() as u64;
                if s.extent_count % k != 0 {
                    return Err(format!(
                        "{}/{}: {} extents over {k} stripes",
                        vg.name, lv.name, s.extent_count
                    ));
                }
                let per = s.extent_count / k;
                let mut out = Vec::new();
                for (pvname, pe) in stripes {
                    let pv =
                        vg.pvs.iter().find(|p| &p.name == pvname).ok_or_else(|| {
                            format!("{}/{}: unknown PV {pvname}", vg.name, lv.name)
                        })?;
                    if pe.saturating_add(per) > pv.pe_count {
                        return Err(format!(
                            "{}/{}: extents {pe}..{} past the {} of {pvname}",
                            vg.name,
                            lv.name,
                            pe + per,
                            pv.pe_count
                        ));
                    }
                    let slice = pvs.get(&bare_id(&pv.id)).ok_or_else(|| {
                        format!(
                            "{}/{}: physical volume {} ({pvname}) is not on this device",
                            vg.name, lv.name, pv.id
                        )
                    })?;
                    out.push((
                        slice.clone(),
                        pv.pe_start.saturating_add(pe.saturating_mul(es)),
                    ));
                }
                Mapped::Striped {
                    stripe_size: *stripe_size,
                    stripes: out,
                }
            }
        };
        segs.push(MappedSeg {
            start: s.start_extent.saturating_mul(es),
            len,
            map,
        });
    }
    Ok(LvMap {
        vg: vg.name.clone(),
        name: lv.name.clone(),
        size: next.saturating_mul(es),
        segs,
    })
}

/// What an LV entry of the layout is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LvInfo {
    pub vg: String,
    pub name: String,
    /// Why it cannot be read, when it cannot.
    pub unsupported: Option<String>,
}

impl LvInfo {
    /// `/dev/VG/LV`, as udev names it once the VG is active.
    pub fn dev_path(&self) -> String {
        format!("/dev/{}/{}", self.vg, self.name)
    }
}

/// The LVs of every VG whose PVs are among `pvs` (entries probed as LVM2 PVs): one
/// (info, slice) per visible LV; an LV that cannot be mapped gets an empty slice and the reason.
pub fn logical_volumes(pvs: &[Slice]) -> Vec<(LvInfo, Option<Arc<LvMap>>)> {
    let mut by_id: HashMap<String, Slice> = HashMap::new();
    let mut vgs: HashMap<String, Vg> = HashMap::new();
    for s in pvs {
        if let Ok(info) = read_pv(s) {
            by_id.insert(info.label.uuid.clone(), s.clone());
            let key = info.vg.id.clone();
            if vgs.get(&key).is_none_or(|v| info.vg.seqno > v.seqno) {
                vgs.insert(key, info.vg);
            }
        }
    }
    let mut names: Vec<&Vg> = vgs.values().collect();
    names.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::new();
    for vg in names {
        for lv in vg.lvs.iter().filter(|l| l.visible) {
            let mut info = LvInfo {
                vg: vg.name.clone(),
                name: lv.name.clone(),
                unsupported: None,
            };
            match map_lv(vg, lv, &by_id) {
                Ok(m) => out.push((info, Some(Arc::new(m)))),
                Err(why) => {
                    info.unsupported = Some(why);
                    out.push((info, None));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"rhel {
id = "vgid"
seqno = 7
extent_size = 8192
physical_volumes {
pv0 {
id = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg"
pe_start = 2048
pe_count = 100
}
}
logical_volumes {
root {
id = "r"
status = ["READ", "WRITE", "VISIBLE"]
segment_count = 1
segment1 {
start_extent = 0
extent_count = 10
type = "striped"
stripe_count = 1
stripes = ["pv0", 5]
}
}
pool {
id = "p"
status = ["READ", "WRITE", "VISIBLE"]
segment1 {
start_extent = 0
extent_count = 4
type = "thin-pool"
}
}
big {
id = "b"
status = ["READ", "WRITE", "VISIBLE"]
segment1 {
start_extent = 0
extent_count = 200
type = "striped"
stripe_count = 1
stripes = ["pv0", 0]
}
}
}
}
"#;

    #[test]
    fn segments_are_checked_and_unsupported_types_named() {
        let vg = vg::from_config(&config::parse(TEXT.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            (vg.name.as_str(), vg.seqno, vg.extent_size),
            ("rhel", 7, 4 << 20)
        );
        assert_eq!(vg.pvs[0].pe_start, 1 << 20);
        let lv = |n: &str| vg.lvs.iter().find(|l| l.name == n).unwrap();
        assert_eq!(lv("pool").unsupported().as_deref(), Some("thin-pool"));
        let pvs = HashMap::new();
        let e = map_lv(&vg, lv("pool"), &pvs).unwrap_err();
        assert!(e.contains("thin-pool segments"), "{e}");
        let e = map_lv(&vg, lv("root"), &pvs).unwrap_err();
        assert!(e.contains("is not on this device"), "{e}");
        let e = map_lv(&vg, lv("big"), &pvs).unwrap_err();
        assert!(e.contains("past the 100"), "{e}");
    }
}
