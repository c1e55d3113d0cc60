//! A volume group as its metadata text describes it (`lib/format_text/import_vsn1.c`): the
//! physical volumes with their extent start, the logical volumes with their segments. Linear
//! and striped segments (and `zero`) are mapped; every other segment type (thin, thin-pool,
//! raid*, mirror, snapshot, cache, vdo, writecache, integrity) is named and left unsupported.

use super::config::{Section, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pv {
    /// The name segments refer to (`pv0`).
    pub name: String,
    /// The PV UUID with dashes.
    pub id: String,
    /// Where extents start on the PV, in bytes.
    pub pe_start: u64,
    pub pe_count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegKind {
    /// `striped` with one stripe is linear. `stripes`: (PV name, first extent on it).
    Striped {
        stripe_size: u64,
        stripes: Vec<(String, u64)>,
    },
    Zero,
    Unsupported(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start_extent: u64,
    pub extent_count: u64,
    pub kind: SegKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lv {
    pub name: String,
    pub id: String,
    pub visible: bool,
    pub segments: Vec<Segment>,
}

impl Lv {
    /// Why this LV cannot be read natively, if it cannot: the unsupported segment types.
    pub fn unsupported(&self) -> Option<String> {
        let mut types: Vec<&str> = self
            .segments
            .iter()
            .filter_map(|s| match &s.kind {
                SegKind::Unsupported(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        types.dedup();
        (!types.is_empty()).then(|| types.join(", "))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vg {
    pub name: String,
    pub id: String,
    pub seqno: u64,
    /// Extent size in bytes.
    pub extent_size: u64,
    pub pvs: Vec<Pv>,
    pub lvs: Vec<Lv>,
}

/// LVs and segments read per VG at most.
const MAX_LVS: usize = 4096;
const MAX_SEGMENTS: usize = 65536;

fn uint(s: &Section, key: &str, what: &str) -> Result<u64, String> {
    s.int(key)
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| format!("{what}: missing or bad {key}"))
}

/// The VG described by a parsed metadata text (its one top-level section).
pub fn from_config(root: &Section) -> Result<Vg, String> {
    let (name, vg) = root
        .sections
        .first()
        .ok_or("metadata text holds no volume group")?;
    let extent_sectors = uint(vg, "extent_size", "volume group")?;
    if extent_sectors == 0 || extent_sectors > 1 << 32 {
        return Err(format!("extent size of {extent_sectors} sectors"));
    }
    let mut pvs = Vec::new();
    for (pname, p) in vg
        .section("physical_volumes")
        .map(|s| s.sections.as_slice())
        .unwrap_or(&[])
    {
        let what = format!("physical volume {pname}");
        pvs.push(Pv {
            name: pname.clone(),
            id: p.str("id").unwrap_or_default().to_string(),
            pe_start: uint(p, "pe_start", &what)?.saturating_mul(512),
            pe_count: uint(p, "pe_count", &what)?,
        });
    }
    let mut lvs = Vec::new();
    let mut nsegs = 0usize;
    for (lname, l) in vg
        .section("logical_volumes")
        .map(|s| s.sections.as_slice())
        .unwrap_or(&[])
    {
        if lvs.len() >= MAX_LVS {
            return Err(format!("more than {MAX_LVS} logical volumes"));
        }
        let mut segments = Vec::new();
        for (sname, s) in &l.sections {
            if !sname.starts_with("segment") {
                continue;
            }
            nsegs += 1;
            if nsegs > MAX_SEGMENTS {
                return Err(format!("more than {MAX_SEGMENTS} segments"));
            }
            let what = format!("logical volume {lname} {sname}");
            let ty = s.str("type").unwrap_or("striped");
            let kind = match ty {
                "striped" => {
                    let n = uint(s, "stripe_count", &what)?;
                    let list = match s.get("stripes") {
                        Some(Value::Array(a)) => a,
                        _ => return Err(format!("{what}: no stripes")),
                    };
                    let mut stripes = Vec::new();
                    for pair in list.chunks(2) {
                        match pair {
                            [Value::Str(pv), Value::Int(pe)] if *pe >= 0 => {
                                stripes.push((pv.clone(), *pe as u64))
                            }
                            _ => return Err(format!("{what}: bad stripes list")),
                        }
                    }
                    if n == 0 || stripes.len() as u64 != n {
                        return Err(format!(
                            "{what}: stripe_count {n} with {} stripes",
                            stripes.len()
                        ));
                    }
                    let stripe_size = if n > 1 {
                        let ss = uint(s, "stripe_size", &what)?.saturating_mul(512);
                        if ss == 0 || !ss.is_power_of_two() {
                            return Err(format!("{what}: stripe size {ss}"));
                        }
                        ss
                    } else {
                        0
                    };
                    SegKind::Striped {
                        stripe_size,
                        stripes,
                    }
                }
                "zero" => SegKind::Zero,
                other => SegKind::Unsupported(other.to_string()),
            };
            segments.push(Segment {
                start_extent: uint(s, "start_extent", &what)?,
                extent_count: uint(s, "extent_count", &what)?,
                kind,
            });
        }
        segments.sort_by_key(|s| s.start_extent);
        lvs.push(Lv {
            name: lname.clone(),
            id: l.str("id").unwrap_or_default().to_string(),
            visible: l.strings("status").contains(&"VISIBLE"),
            segments,
        });
    }
    Ok(Vg {
        name: name.clone(),
        id: vg.str("id").unwrap_or_default().to_string(),
        seqno: vg
            .int("seqno")
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0),
        extent_size: extent_sectors * 512,
        pvs,
        lvs,
    })
}
