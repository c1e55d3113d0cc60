//! The VMDK text descriptor ("Virtual Disk Format 1.1", section 4; qemu's `block/vmdk.c:
//! vmdk_parse_extents`): `createType`, the parent link, and the extent lines
//! `ACCESS SECTORS TYPE "FILE" [OFFSET]`.

use crate::volume::image::ImageError;

const F: &str = "vmdk";

/// Most extents accepted in one descriptor (twoGbMaxExtent* of a 64 TiB disk has 32768).
pub const MAX_EXTENTS: usize = 65536;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Rw,
    RdOnly,
    NoAccess,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtentType {
    /// FLAT, VMFS, VMFSRAW, VMFSRDM: the bytes, at an offset in a file.
    Flat,
    /// A hosted sparse extent file (`KDMV` header).
    Sparse,
    Zero,
    /// VMFSSPARSE (`COWD`) and SESPARSE: ESXi formats this build does not read.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extent {
    pub access: Access,
    pub sectors: u64,
    pub kind: ExtentType,
    pub type_name: String,
    pub file: Option<String>,
    /// Offset in the file, in sectors (FLAT extents).
    pub offset: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Descriptor {
    pub create_type: Option<String>,
    pub parent_cid: Option<String>,
    pub parent_hint: Option<String>,
    pub extents: Vec<Extent>,
}

impl Descriptor {
    /// The parent file name, when the descriptor links to one (`parentCID` not `ffffffff`).
    pub fn parent(&self) -> Option<&str> {
        let linked = self
            .parent_cid
            .as_deref()
            .is_some_and(|c| !c.eq_ignore_ascii_case("ffffffff"));
        if linked {
            self.parent_hint.as_deref()
        } else {
            None
        }
    }
}

/// Does the start of a file look like a descriptor? Text only (no NUL before the end of the
/// text), with the descriptor comment or a `createType=` line near the top.
pub fn looks_like_descriptor(head: &[u8]) -> bool {
    let text_len = head.iter().position(|&c| c == 0).unwrap_or(head.len());
    let (text, rest) = head.split_at(text_len);
    if !rest.iter().all(|&c| c == 0) || text.is_empty() {
        return false;
    }
    if !text
        .iter()
        .all(|&c| c == b'\n' || c == b'\r' || c == b'\t' || (0x20..0x7f).contains(&c) || c >= 0x80)
    {
        return false;
    }
    let s = String::from_utf8_lossy(text);
    s.trim_start().starts_with("# Disk DescriptorFile")
        || s.lines().any(|l| {
            l.trim_start()
                .to_ascii_lowercase()
                .starts_with("createtype")
        })
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(s)
}

/// Splits an extent line into words, keeping a quoted file name (which may hold spaces) whole.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                if !quoted {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub fn parse(text: &str) -> Result<Descriptor, ImageError> {
    let mut d = Descriptor::default();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_matches(|c: char| c.is_whitespace() || c == '\0');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or("");
        let access = match first {
            "RW" => Some(Access::Rw),
            "RDONLY" => Some(Access::RdOnly),
            "NOACCESS" => Some(Access::NoAccess),
            _ => None,
        };
        if let Some(access) = access {
            if d.extents.len() >= MAX_EXTENTS {
                return Err(ImageError::corrupt(
                    F,
                    format!("the descriptor lists more than {MAX_EXTENTS} extents"),
                ));
            }
            let w = words(line);
            let bad = |why: &str| {
                ImageError::corrupt(F, format!("descriptor line {}: {why}: {line}", n + 1))
            };
            let sectors: u64 = w
                .get(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("bad extent size"))?;
            let type_name = w.get(2).cloned().ok_or_else(|| bad("no extent type"))?;
            let kind = match type_name.as_str() {
                "FLAT" | "VMFS" | "VMFSRAW" | "VMFSRDM" => ExtentType::Flat,
                "SPARSE" => ExtentType::Sparse,
                "ZERO" => ExtentType::Zero,
                "VMFSSPARSE" | "SESPARSE" => ExtentType::Other,
                _ => return Err(bad("unknown extent type")),
            };
            let file = w.get(3).cloned();
            if kind != ExtentType::Zero && file.is_none() {
                return Err(bad("no extent file"));
            }
            let offset = match w.get(4) {
                Some(o) => o.parse().map_err(|_| bad("bad extent offset"))?,
                None => 0,
            };
            d.extents.push(Extent {
                access,
                sectors,
                kind,
                type_name,
                file,
                offset,
            });
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = unquote(v).to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "createtype" => d.create_type = Some(v),
                "parentcid" => d.parent_cid = Some(v),
                "parentfilenamehint" => d.parent_hint = Some(v),
                _ => {}
            }
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAT: &str = "# Disk DescriptorFile\nversion=1\nCID=52d6e4d1\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\n# Extent description\nRW 2097152 FLAT \"my disk-flat.vmdk\" 0\nRDONLY 100 ZERO\n\nddb.virtualHWVersion = \"4\"\n";

    #[test]
    fn parses_extents_and_parent() {
        let d = parse(FLAT).unwrap();
        assert_eq!(d.create_type.as_deref(), Some("monolithicFlat"));
        assert_eq!(d.parent(), None);
        assert_eq!(d.extents.len(), 2);
        assert_eq!(d.extents[0].file.as_deref(), Some("my disk-flat.vmdk"));
        assert_eq!(d.extents[0].sectors, 2097152);
        assert_eq!(d.extents[1].kind, ExtentType::Zero);
        let child = parse("parentCID=1234abcd\nparentFileNameHint=\"base.vmdk\"\n").unwrap();
        assert_eq!(child.parent(), Some("base.vmdk"));
        assert!(parse("RW many FLAT \"x\"").is_err());
        assert!(parse("RW 1 WEIRD \"x\"").is_err());
        assert!(parse("RW 1 FLAT").is_err());
    }

    #[test]
    fn recognises_descriptors_only() {
        assert!(looks_like_descriptor(FLAT.as_bytes()));
        let mut padded = FLAT.as_bytes().to_vec();
        padded.resize(512, 0);
        assert!(looks_like_descriptor(&padded));
        assert!(!looks_like_descriptor(&[0u8; 512]));
        let mut mbr = vec![0u8; 512];
        mbr[0] = 0xEB;
        mbr[510] = 0x55;
        assert!(!looks_like_descriptor(&mbr));
        assert!(!looks_like_descriptor(b"hello world\n"));
    }
}
