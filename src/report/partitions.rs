//! The `partitions` listing: one row per partition with what it holds.

use std::fmt::Write;

use serde::Serialize;

use crate::inspect::{Content, Inspection};
use crate::report::text::Style;

#[derive(Clone, Debug, Serialize)]
pub struct Listing {
    pub schema: &'static str,
    pub device: DeviceInfo,
    pub table: TableInfo,
    pub partitions: Vec<Row>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeviceInfo {
    pub path: String,
    /// `image-file` or `block-device`.
    pub kind: &'static str,
    pub size: u64,
    /// The container format (`raw`, `qcow2`, `vmdk`, `vhd`, `vhdx`), its virtual size, backing
    /// file and snapshots.
    pub image: crate::volume::ImageInfo,
}

#[derive(Clone, Debug, Serialize)]
pub struct TableInfo {
    pub scheme: &'static str,
    pub sector_size: u32,
    pub disk_id: Option<String>,
    pub problems: Vec<Problem>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    pub message: String,
    pub serious: bool,
    pub fix: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TypeInfo {
    pub name: &'static str,
    pub id: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct FsRow {
    #[serde(rename = "type")]
    pub fs_type: String,
    pub label: Option<String>,
    pub uuid: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct OsRow {
    pub id: Option<String>,
    pub version_id: Option<String>,
    pub pretty_name: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `null` for a whole device without a partition table.
    pub index: Option<u32>,
    pub scheme: &'static str,
    pub start: u64,
    pub size: u64,
    #[serde(rename = "type")]
    pub part_type: Option<TypeInfo>,
    /// GPT partition name.
    pub name: Option<String>,
    /// GPT unique GUID / MBR `PARTUUID`.
    pub uuid: Option<String>,
    pub bootable: bool,
    pub beyond_end: bool,
    pub filesystem: FsRow,
    pub os: Option<OsRow>,
    /// The filesystem `check` would inspect.
    pub root: bool,
    /// Why the filesystem could not be read, if it could not.
    pub error: Option<String>,
    /// `VG/LV` for an LVM logical volume (then `index` is null and `name` is the same).
    pub lv: Option<String>,
}

/// What the filesystem reader itself says (more precise than the magic-number probe).
fn fs_row(info: &crate::fs::FsInfo) -> FsRow {
    FsRow {
        fs_type: info.fs_type.clone(),
        label: info.label.clone(),
        uuid: info.uuid.clone(),
    }
}

pub const SCHEMA: &str = "rescue-inspect/partitions/v1";

/// Builds the listing from an inspection of a device (not a directory).
pub fn listing(insp: &Inspection) -> Option<Listing> {
    let layout = insp.layout.as_ref()?;
    let dev = &layout.device;
    let mut rows = Vec::new();
    for c in &insp.candidates {
        let e = &layout.entries[c.entry];
        let is_root = insp.root.as_ref().and_then(|r| r.entry) == Some(c.entry);
        let mut fs = FsRow {
            fs_type: e.probe.kind.as_str().to_string(),
            label: e.probe.label.clone(),
            uuid: e.probe.uuid.clone(),
        };
        let mut os = None;
        let mut error = e.probe.error.clone();
        match &c.content {
            Content::Ext { volume, os: o, .. } => {
                fs = fs_row(volume.fs.info());
                os = o.as_ref();
            }
            Content::Xfs { volume, os: o, .. } => {
                fs = fs_row(volume.fs.info());
                os = o.as_ref();
            }
            Content::Root => {
                if let Some(r) = &insp.root {
                    fs = fs_row(r.fs.info());
                    os = r.os.as_ref();
                }
            }
            Content::Unreadable { reason } => error = Some(reason.clone()),
            Content::Unsupported | Content::Other => {}
        }
        let p = e.partition.as_ref();
        rows.push(Row {
            index: p.map(|p| p.index),
            scheme: layout.table.scheme.as_str(),
            start: e.slice.start(),
            size: p.map(|p| p.size).unwrap_or(e.slice.len()),
            part_type: p.map(|p| TypeInfo {
                name: p.part_type.name(),
                id: p.part_type.code(),
            }),
            name: p
                .and_then(|p| p.name.clone())
                .or_else(|| e.lv.as_ref().map(|l| format!("{}/{}", l.vg, l.name))),
            uuid: p.and_then(|p| p.uuid.clone()),
            bootable: p.is_some_and(|p| p.bootable),
            beyond_end: p.is_some_and(|p| p.beyond_end),
            filesystem: fs,
            os: os.map(|o| OsRow {
                id: o.id.clone(),
                version_id: o.version_id.clone(),
                pretty_name: o.pretty_name.clone(),
            }),
            root: is_root,
            error,
            lv: e.lv.as_ref().map(|l| format!("{}/{}", l.vg, l.name)),
        });
    }
    Some(Listing {
        schema: SCHEMA,
        device: DeviceInfo {
            path: dev.path().display().to_string(),
            kind: match dev.kind() {
                crate::volume::DeviceKind::ImageFile => "image-file",
                crate::volume::DeviceKind::BlockDevice => "block-device",
            },
            size: dev.size(),
            image: dev.image().clone(),
        },
        table: TableInfo {
            scheme: layout.table.scheme.as_str(),
            sector_size: layout.table.sector_size,
            disk_id: layout.table.disk_id.clone(),
            problems: layout
                .table
                .problems
                .iter()
                .map(|p| Problem {
                    message: p.message.clone(),
                    serious: p.serious,
                    fix: p.fix.clone(),
                })
                .collect(),
        },
        partitions: rows,
    })
}

/// `qcow2 v3, virtual size 68157440 bytes (65.0 MiB), backing file "base.raw"`.
pub fn image_summary(i: &crate::volume::ImageInfo) -> String {
    let mut s = i.format.to_string();
    if let Some(sub) = &i.subformat {
        let _ = write!(s, " {sub}");
    }
    let _ = write!(
        s,
        ", virtual size {} bytes ({})",
        i.virtual_size,
        human_size(i.virtual_size)
    );
    if let Some(b) = &i.backing_file {
        let _ = write!(s, ", backing file \"{b}\"");
    }
    if !i.snapshots.is_empty() {
        let _ = write!(s, ", {} internal snapshot(s)", i.snapshots.len());
    }
    s
}

/// `1.3 GiB`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub fn render_text(l: &Listing, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} ({}, {} bytes, {})",
        style.bold("Device:"),
        l.device.path,
        l.device.kind,
        l.device.size,
        human_size(l.device.size)
    );
    if l.device.image.format != "raw" {
        let i = &l.device.image;
        let _ = writeln!(out, "{} {}", style.bold("Image:"), image_summary(i));
        for sn in &i.snapshots {
            let _ = write!(out, "  snapshot {} \"{}\"", sn.id, sn.name);
            if let Some(v) = sn.virtual_size {
                let _ = write!(out, ", disk {} bytes", v);
            }
            let _ = writeln!(
                out,
                ", taken at {} (not read: the active layer is)",
                crate::time::format_utc(sn.date as i64)
            );
        }
        for n in &i.notes {
            let _ = writeln!(out, "  note: {n}");
        }
    }
    let mut table = l.table.scheme.to_string();
    if l.table.scheme != "none" {
        let _ = write!(table, ", {}-byte sectors", l.table.sector_size);
    }
    if let Some(id) = &l.table.disk_id {
        let _ = write!(table, ", disk id {id}");
    }
    let _ = writeln!(out, "{} {table}", style.bold("Table:"));
    let headers = [
        "#", "START", "SIZE", "TYPE", "NAME", "FS", "LABEL", "UUID", "OS",
    ];
    let rows: Vec<[String; 9]> = l
        .partitions
        .iter()
        .map(|r| {
            let mut os =
                r.os.as_ref()
                    .and_then(|o| o.pretty_name.clone().or_else(|| o.id.clone()))
                    .unwrap_or_else(|| "-".into());
            if r.root {
                os.push_str(" [root]");
            }
            if let Some(e) = &r.error {
                os = format!("unreadable: {e}");
            }
            let mut size = human_size(r.size);
            if r.beyond_end {
                size.push_str(" (past end!)");
            }
            [
                r.index.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
                r.start.to_string(),
                size,
                r.part_type
                    .as_ref()
                    .map(|t| format!("{} ({})", t.name, t.id))
                    .or_else(|| r.lv.as_ref().map(|_| "LVM logical volume".into()))
                    .unwrap_or_else(|| "-".into()),
                r.name.clone().unwrap_or_else(|| "-".into()),
                r.filesystem.fs_type.clone(),
                r.filesystem.label.clone().unwrap_or_else(|| "-".into()),
                r.filesystem.uuid.clone().unwrap_or_else(|| "-".into()),
                os,
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                let _ = write!(s, "{c:<w$}  ", w = widths[i]);
            }
        }
        s.trim_end().to_string()
    };
    let head: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let _ = writeln!(out, "{}", style.bold(&line(&head)));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r));
    }
    if rows.is_empty() {
        let _ = writeln!(out, "(no partitions)");
    }
    for p in &l.table.problems {
        let sev = if p.serious {
            crate::report::Severity::Critical
        } else {
            crate::report::Severity::Warning
        };
        let _ = writeln!(out, "{} {}", style.severity(sev, "problem:"), p.message);
        if let Some(f) = &p.fix {
            let _ = writeln!(out, "  fix: {f}");
        }
    }
    out
}
