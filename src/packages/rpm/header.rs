//! An rpm header blob as the package database stores it: the index/data layout of rpm's
//! `lib/header.cc` (`hdrblobInit`, `hdrblobVerifyInfo`), without the 8-byte magic that package
//! files carry.
//!
//! ```text
//! il: u32 BE   number of index entries
//! dl: u32 BE   length of the data store
//! il × { tag: i32 BE, type: u32 BE, offset: i32 BE, count: u32 BE }
//! dl bytes of data
//! ```
//! An installed header starts with a region entry (`HEADERIMMUTABLE`, tag 63) covering the
//! package's original tags; rpm appends "dribble" entries after it when installing (FILESTATES,
//! INSTALLTIME…), and those replace region entries of the same tag, so the last entry of a tag
//! wins here.

use std::collections::HashMap;

/// rpm's `HEADER_TAGS_MAX` and `HEADER_DATA_MAX`: larger headers are refused by rpm itself.
pub const MAX_ENTRIES: u32 = 0xffff;
pub const MAX_DATA: u32 = 0x0fff_ffff;

pub const TAG_NAME: u32 = 1000;
pub const TAG_VERSION: u32 = 1001;
pub const TAG_RELEASE: u32 = 1002;
pub const TAG_EPOCH: u32 = 1003;
pub const TAG_SIZE: u32 = 1009;
pub const TAG_ARCH: u32 = 1022;
pub const TAG_OLDFILENAMES: u32 = 1027;
pub const TAG_FILESIZES: u32 = 1028;
pub const TAG_FILESTATES: u32 = 1029;
pub const TAG_FILEMODES: u32 = 1030;
pub const TAG_FILERDEVS: u32 = 1033;
pub const TAG_FILEMTIMES: u32 = 1034;
pub const TAG_FILEDIGESTS: u32 = 1035;
pub const TAG_FILELINKTOS: u32 = 1036;
pub const TAG_FILEFLAGS: u32 = 1037;
pub const TAG_FILEUSERNAME: u32 = 1039;
pub const TAG_FILEGROUPNAME: u32 = 1040;
pub const TAG_FILEVERIFYFLAGS: u32 = 1045;
pub const TAG_DIRINDEXES: u32 = 1116;
pub const TAG_BASENAMES: u32 = 1117;
pub const TAG_DIRNAMES: u32 = 1118;
pub const TAG_LONGFILESIZES: u32 = 5008;
pub const TAG_FILEDIGESTALGO: u32 = 5011;

/// Entry types (`rpmTagType`).
const T_CHAR: u32 = 1;
const T_INT8: u32 = 2;
const T_INT16: u32 = 3;
const T_INT32: u32 = 4;
const T_INT64: u32 = 5;
const T_STRING: u32 = 6;
const T_BIN: u32 = 7;
const T_STRING_ARRAY: u32 = 8;
const T_I18NSTRING: u32 = 9;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("header blob is {0} bytes, too short for its index")]
    Short(usize),
    #[error("header has {0} index entries (rpm allows at most {MAX_ENTRIES})")]
    TooManyEntries(u32),
    #[error("header data store is {0} bytes (rpm allows at most {MAX_DATA})")]
    TooMuchData(u32),
    #[error("header blob is {have} bytes, its index and data need {need}")]
    Truncated { have: usize, need: usize },
    #[error("tag {tag}: data at offset {offset} (count {count}) runs outside the data store")]
    OutOfRange { tag: u32, offset: u32, count: u32 },
    #[error("tag {tag}: unknown type {kind}")]
    BadType { tag: u32, kind: u32 },
    #[error("tag {tag}: expected {expected}")]
    WrongType { tag: u32, expected: &'static str },
    #[error("tag {tag}: string is not NUL-terminated inside the data store")]
    Unterminated { tag: u32 },
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    kind: u32,
    offset: u32,
    count: u32,
}

/// A parsed header: its index, over the blob's bytes.
#[derive(Debug)]
pub struct Header<'a> {
    data: &'a [u8],
    entries: HashMap<u32, Entry>,
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

impl<'a> Header<'a> {
    /// Parses the index. Entries are checked lazily when read: a header with one bad tag still
    /// gives its name and version.
    pub fn parse(blob: &'a [u8]) -> Result<Header<'a>, HeaderError> {
        if blob.len() < 8 {
            return Err(HeaderError::Short(blob.len()));
        }
        let il = be32(blob, 0);
        let dl = be32(blob, 4);
        if il > MAX_ENTRIES {
            return Err(HeaderError::TooManyEntries(il));
        }
        if dl > MAX_DATA {
            return Err(HeaderError::TooMuchData(dl));
        }
        let index_end = 8 + il as usize * 16;
        let need = index_end + dl as usize;
        if blob.len() < need {
            return Err(HeaderError::Truncated {
                have: blob.len(),
                need,
            });
        }
        let data = &blob[index_end..need];
        let mut entries = HashMap::with_capacity(il as usize);
        for i in 0..il as usize {
            let at = 8 + i * 16;
            let tag = be32(blob, at);
            let e = Entry {
                kind: be32(blob, at + 4),
                offset: be32(blob, at + 8),
                count: be32(blob, at + 12),
            };
            // Region tags (61-63) describe the immutable part, not package data.
            if (61..=63).contains(&tag) {
                continue;
            }
            entries.insert(tag, e);
        }
        Ok(Header { data, entries })
    }

    pub fn has(&self, tag: u32) -> bool {
        self.entries.contains_key(&tag)
    }

    fn range(&self, tag: u32, e: &Entry, width: usize) -> Result<&'a [u8], HeaderError> {
        let bad = || HeaderError::OutOfRange {
            tag,
            offset: e.offset,
            count: e.count,
        };
        let start = e.offset as usize;
        let len = (e.count as usize).checked_mul(width).ok_or_else(bad)?;
        let end = start.checked_add(len).ok_or_else(bad)?;
        self.data.get(start..end).ok_or_else(bad)
    }

    /// NUL-terminated strings from the entry's offset, `count` of them.
    fn strings_of(&self, tag: u32, e: &Entry) -> Result<Vec<&'a str>, HeaderError> {
        let mut rest = self
            .data
            .get(e.offset as usize..)
            .ok_or(HeaderError::OutOfRange {
                tag,
                offset: e.offset,
                count: e.count,
            })?;
        // Each string takes at least one byte: a count beyond the store cannot be honest.
        if e.count as usize > rest.len() {
            return Err(HeaderError::OutOfRange {
                tag,
                offset: e.offset,
                count: e.count,
            });
        }
        let mut out = Vec::with_capacity(e.count as usize);
        for _ in 0..e.count {
            let nul = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or(HeaderError::Unterminated { tag })?;
            // Names in the database are bytes; rpm itself treats them as UTF-8 where it can.
            out.push(std::str::from_utf8(&rest[..nul]).unwrap_or("\u{fffd}"));
            rest = &rest[nul + 1..];
        }
        Ok(out)
    }

    /// A single string (STRING, or the first of an I18NSTRING/STRING_ARRAY).
    pub fn string(&self, tag: u32) -> Result<Option<&'a str>, HeaderError> {
        let Some(e) = self.entries.get(&tag) else {
            return Ok(None);
        };
        match e.kind {
            T_STRING | T_I18NSTRING | T_STRING_ARRAY => {
                let one = Entry { count: 1, ..*e };
                Ok(self.strings_of(tag, &one)?.into_iter().next())
            }
            _ => Err(HeaderError::WrongType {
                tag,
                expected: "a string",
            }),
        }
    }

    /// A string array (or a single string as an array of one).
    pub fn strings(&self, tag: u32) -> Result<Vec<&'a str>, HeaderError> {
        let Some(e) = self.entries.get(&tag) else {
            return Ok(Vec::new());
        };
        match e.kind {
            T_STRING_ARRAY | T_I18NSTRING => self.strings_of(tag, e),
            T_STRING => self.strings_of(tag, &Entry { count: 1, ..*e }),
            _ => Err(HeaderError::WrongType {
                tag,
                expected: "a string array",
            }),
        }
    }

    /// An integer array of any width, widened to u64 (INT64 for LONGFILESIZES).
    pub fn ints(&self, tag: u32) -> Result<Vec<u64>, HeaderError> {
        let Some(e) = self.entries.get(&tag) else {
            return Ok(Vec::new());
        };
        let width = match e.kind {
            T_CHAR | T_INT8 | T_BIN => 1,
            T_INT16 => 2,
            T_INT32 => 4,
            T_INT64 => 8,
            T_STRING | T_STRING_ARRAY | T_I18NSTRING => {
                return Err(HeaderError::WrongType {
                    tag,
                    expected: "integers",
                });
            }
            kind => return Err(HeaderError::BadType { tag, kind }),
        };
        let b = self.range(tag, e, width)?;
        Ok(b.chunks_exact(width)
            .map(|c| c.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
            .collect())
    }

    pub fn int(&self, tag: u32) -> Result<Option<u64>, HeaderError> {
        Ok(self.ints(tag)?.first().copied())
    }
}

/// Builds a header blob (for tests and fixtures): entries of (tag, value).
#[cfg(test)]
pub(crate) mod build {
    pub enum V<'a> {
        S(&'a str),
        Sa(Vec<&'a str>),
        I32(Vec<u32>),
        I16(Vec<u16>),
        I8(Vec<u8>),
    }

    pub fn blob(entries: &[(u32, V)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data: Vec<u8> = Vec::new();
        for (tag, v) in entries {
            let (kind, align, count, bytes): (u32, usize, usize, Vec<u8>) = match v {
                V::S(s) => (6, 1, 1, [s.as_bytes(), &[0]].concat()),
                V::Sa(a) => (
                    8,
                    1,
                    a.len(),
                    a.iter()
                        .flat_map(|s| [s.as_bytes(), &[0]].concat())
                        .collect(),
                ),
                V::I32(a) => (
                    4,
                    4,
                    a.len(),
                    a.iter().flat_map(|x| x.to_be_bytes()).collect(),
                ),
                V::I16(a) => (
                    3,
                    2,
                    a.len(),
                    a.iter().flat_map(|x| x.to_be_bytes()).collect(),
                ),
                V::I8(a) => (2, 1, a.len(), a.clone()),
            };
            while data.len() % align != 0 {
                data.push(0);
            }
            index.extend(tag.to_be_bytes());
            index.extend(kind.to_be_bytes());
            index.extend((data.len() as u32).to_be_bytes());
            index.extend((count as u32).to_be_bytes());
            data.extend(bytes);
        }
        let mut out = Vec::new();
        out.extend((entries.len() as u32).to_be_bytes());
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::build::{V, blob};
    use super::*;

    #[test]
    fn reads_typed_entries() {
        let b = blob(&[
            (TAG_NAME, V::S("openssh-server")),
            (TAG_BASENAMES, V::Sa(vec!["sshd", "sshd_config"])),
            (TAG_FILEMODES, V::I16(vec![0o100755, 0o100600])),
            (TAG_FILESIZES, V::I32(vec![900_000, 3_667])),
            (TAG_FILESTATES, V::I8(vec![0, 2])),
        ]);
        let h = Header::parse(&b).unwrap();
        assert_eq!(h.string(TAG_NAME).unwrap(), Some("openssh-server"));
        assert_eq!(
            h.strings(TAG_BASENAMES).unwrap(),
            vec!["sshd", "sshd_config"]
        );
        assert_eq!(h.ints(TAG_FILEMODES).unwrap(), vec![0o100755, 0o100600]);
        assert_eq!(h.ints(TAG_FILESIZES).unwrap(), vec![900_000, 3_667]);
        assert_eq!(h.ints(TAG_FILESTATES).unwrap(), vec![0, 2]);
        assert_eq!(h.string(TAG_VERSION).unwrap(), None);
        assert!(h.ints(TAG_NAME).is_err());
    }

    #[test]
    fn hostile_headers_are_errors() {
        assert!(matches!(Header::parse(&[0; 4]), Err(HeaderError::Short(4))));
        let mut b = vec![0, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(
            Header::parse(&b),
            Err(HeaderError::TooManyEntries(_))
        ));
        b = vec![0, 0, 0, 1, 0, 0, 0, 0];
        assert!(matches!(
            Header::parse(&b),
            Err(HeaderError::Truncated { .. })
        ));
        // A string array whose count exceeds the store; an unterminated string.
        let mut b = blob(&[(TAG_BASENAMES, V::Sa(vec!["a"]))]);
        b[8 + 12..8 + 16].copy_from_slice(&u32::MAX.to_be_bytes());
        let h = Header::parse(&b).unwrap();
        assert!(h.strings(TAG_BASENAMES).is_err());
        let mut b = blob(&[(TAG_NAME, V::S("abc"))]);
        let last = b.len() - 1;
        b[last] = b'x';
        assert!(matches!(
            Header::parse(&b).unwrap().string(TAG_NAME),
            Err(HeaderError::Unterminated { .. })
        ));
        // An integer array running past the store.
        let mut b = blob(&[(TAG_FILESIZES, V::I32(vec![1]))]);
        b[8 + 8..8 + 12].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        assert!(Header::parse(&b).unwrap().ints(TAG_FILESIZES).is_err());
    }
}
