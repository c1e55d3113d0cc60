//! systemd journal files read natively (the format of systemd's JOURNAL_FILE_FORMAT and
//! `src/libsystemd/sd-journal/journal-def.h`; semantics of `journal-file.c`).
//!
//! Entries are listed as journalctl lists them: through the header's chain of ENTRY_ARRAY
//! objects, at most `n_entries` of them. Every offset is checked before it is read (alignment,
//! outside the header, inside the file), every object's type and size as
//! `journal-file.c: check_object_header`/`check_object` check them, and entry arrays must
//! chain to strictly higher offsets, so a crafted file cannot make the walk loop. A file cut
//! off mid-write (or with zeros or stale bytes after its last object) ends at the last entry
//! that reads; [`Entries::stop`] says where and why. An entry whose object is bad is skipped,
//! a field whose DATA object is bad is left out (both counted), as journalctl does.
//!
//! Reads go through a small page cache over a seekable reader (`RootFs::open_seekable`), so a
//! file is never read whole into memory; decompressed payloads are capped at
//! [`MAX_PAYLOAD`].

pub mod compress;
pub mod header;

use std::collections::HashMap;
use std::io::SeekFrom;
use std::rc::Rc;

use crate::fs::ReadSeek;
pub use header::{Header, State, id_hex};

/// The largest DATA payload read (compressed or not). journald itself refuses fields larger
/// than 64 MiB (`DATA_SIZE_MAX`); a larger one here is damage or a crafted file.
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;
/// The most items an entry may have. journald writes at most 1024 fields
/// (`ENTRY_FIELD_COUNT_MAX`); more is damage.
pub const MAX_ITEMS: u64 = 1 << 16;

const OBJECT_HEADER: u64 = 16;
const OBJECT_DATA: u8 = 1;
const OBJECT_ENTRY: u8 = 3;
const OBJECT_ENTRY_ARRAY: u8 = 6;
const TYPE_MAX: u8 = 8;
/// `offsetof(Object, entry.items)`.
const ENTRY_ITEMS: u64 = 64;
/// `offsetof(Object, entry_array.items)`.
const ARRAY_ITEMS: u64 = 24;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("not a journal file (no LPKSHHRH signature)")]
    NotJournal,
    #[error("unsupported journal file: {0}")]
    Unsupported(String),
    #[error("corrupt journal file: {0}")]
    Corrupt(String),
    #[error("read error: {0}")]
    Io(String),
}

/// `VALID_REALTIME`/`VALID_MONOTONIC` (time-util.h): below 2^55 µs.
fn valid_realtime(t: u64) -> bool {
    t > 0 && t < (1 << 55)
}
fn valid_monotonic(t: u64) -> bool {
    t < (1 << 55)
}

const PAGE: u64 = 64 * 1024;
const SLOTS: usize = 16;

/// A direct-mapped cache of 64 KiB pages (1 MiB per file: a merge keeps every file of a
/// journal directory open at once) over a seekable reader.
struct Pages<'a> {
    r: Box<dyn ReadSeek + 'a>,
    len: u64,
    slots: Vec<Option<(u64, Vec<u8>)>>,
}

impl<'a> Pages<'a> {
    fn new(r: Box<dyn ReadSeek + 'a>, len: u64) -> Pages<'a> {
        Pages {
            r,
            len,
            slots: (0..SLOTS).map(|_| None).collect(),
        }
    }

    fn page(&mut self, index: u64) -> Result<&[u8], JournalError> {
        let slot = (index % SLOTS as u64) as usize;
        let hit = matches!(&self.slots[slot], Some((i, _)) if *i == index);
        if !hit {
            let start = index * PAGE;
            let n = PAGE.min(self.len.saturating_sub(start)) as usize;
            let mut buf = match self.slots[slot].take() {
                Some((_, mut b)) => {
                    b.resize(n, 0);
                    b
                }
                None => vec![0u8; n],
            };
            self.r
                .seek(SeekFrom::Start(start))
                .and_then(|_| self.r.read_exact(&mut buf))
                .map_err(|e| JournalError::Io(format!("at offset {start}: {e}")))?;
            self.slots[slot] = Some((index, buf));
        }
        match &self.slots[slot] {
            Some((_, b)) => Ok(b),
            None => Err(JournalError::Io("page cache".into())),
        }
    }

    /// Fills `buf` from `off`; the range must lie inside the file.
    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> Result<(), JournalError> {
        let end = off
            .checked_add(buf.len() as u64)
            .filter(|e| *e <= self.len)
            .ok_or_else(|| {
                JournalError::Corrupt(format!(
                    "{} bytes at offset {off} are beyond the end of the {}-byte file",
                    buf.len(),
                    self.len
                ))
            })?;
        let mut pos = off;
        let mut done = 0usize;
        while pos < end {
            let page = self.page(pos / PAGE)?;
            let within = (pos % PAGE) as usize;
            let n = (page.len().saturating_sub(within)).min((end - pos) as usize);
            if n == 0 {
                return Err(JournalError::Io(format!("short read at offset {pos}")));
            }
            buf[done..done + n].copy_from_slice(&page[within..within + n]);
            done += n;
            pos += n as u64;
        }
        Ok(())
    }

    fn le64(&mut self, off: u64) -> Result<u64, JournalError> {
        let mut b = [0u8; 8];
        self.read_at(off, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn le32(&mut self, off: u64) -> Result<u32, JournalError> {
        let mut b = [0u8; 4];
        self.read_at(off, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
}

/// One journal entry: its header fields and its `NAME=value` fields in item order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub offset: u64,
    pub seqnum: u64,
    /// µs since the epoch.
    pub realtime: u64,
    /// µs since boot.
    pub monotonic: u64,
    pub boot_id: [u8; 16],
    pub xor_hash: u64,
    pub fields: Vec<Rc<[u8]>>,
    /// Items whose DATA object could not be read.
    pub bad_fields: usize,
}

impl Entry {
    /// The first value of field `name` (`MESSAGE`, `_SYSTEMD_UNIT`...).
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        let n = name.as_bytes();
        self.fields.iter().find_map(|f| {
            (f.len() > n.len() && f.starts_with(n) && f[n.len()] == b'=').then(|| &f[n.len() + 1..])
        })
    }

    pub fn field_str(&self, name: &str) -> Option<String> {
        self.field(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// journalctl's cursor: `s=SEQNUM_ID;i=SEQNUM;b=BOOT_ID;m=MONOTONIC;t=REALTIME;x=XOR_HASH`
    /// (sd-journal.c: `sd_journal_get_cursor`).
    pub fn cursor(&self, seqnum_id: &[u8; 16]) -> String {
        let mut s = String::with_capacity(128);
        s.push_str("s=");
        header::push_hex(&mut s, seqnum_id);
        s.push_str(";i=");
        header::push_hex_u64(&mut s, self.seqnum);
        s.push_str(";b=");
        header::push_hex(&mut s, &self.boot_id);
        s.push_str(";m=");
        header::push_hex_u64(&mut s, self.monotonic);
        s.push_str(";t=");
        header::push_hex_u64(&mut s, self.realtime);
        s.push_str(";x=");
        header::push_hex_u64(&mut s, self.xor_hash);
        s
    }
}

/// Where and why reading a file ended before its header's `n_entries`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Stop {
    /// Entries read before the stop.
    pub after_entries: u64,
    /// The byte offset of what could not be read.
    pub offset: u64,
    pub reason: String,
}

/// An open journal file.
pub struct JournalFile<'a> {
    pages: Pages<'a>,
    pub header: Header,
    pub len: u64,
    /// Decoded DATA objects shared by several entries (`_HOSTNAME=`, `_BOOT_ID=`...), by offset.
    shared: HashMap<u64, Rc<[u8]>>,
    shared_bytes: usize,
}

const SHARED_MAX_BYTES: usize = 1024 * 1024;
const SHARED_MAX_ONE: usize = 4096;

impl<'a> JournalFile<'a> {
    /// Opens a journal file of `len` bytes (its size from metadata).
    pub fn open(r: Box<dyn ReadSeek + 'a>, len: u64) -> Result<JournalFile<'a>, JournalError> {
        let mut pages = Pages::new(r, len);
        let n = (header::HEADER_SIZE_MIN).min(len) as usize;
        let mut b = vec![0u8; n];
        pages.read_at(0, &mut b)?;
        let header = Header::parse(&b, len)?;
        Ok(JournalFile {
            pages,
            header,
            len,
            shared: HashMap::new(),
            shared_bytes: 0,
        })
    }

    fn compact(&self) -> bool {
        self.header.compact()
    }

    /// `journal_file_move_to_object` + `check_object_header`: the type and size of the object at
    /// `off`, checked to lie inside the file.
    fn object(&mut self, off: u64, want: u8) -> Result<(u8, u64), JournalError> {
        let bad = |what: String| JournalError::Corrupt(format!("object at offset {off}: {what}"));
        if off % 8 != 0 {
            return Err(bad("not 64-bit aligned".into()));
        }
        if off < self.header.header_size {
            return Err(bad("inside the file header".into()));
        }
        let mut h = [0u8; 16];
        self.pages.read_at(off, &mut h)?;
        let ty = h[0];
        let flags = h[1];
        let size = u64::from_le_bytes(h[8..16].try_into().unwrap_or([0; 8]));
        if size == 0 {
            return Err(bad("uninitialized (size 0)".into()));
        }
        if size < OBJECT_HEADER {
            return Err(bad(format!("size {size} is shorter than an object header")));
        }
        if ty == 0 || ty >= TYPE_MAX {
            return Err(bad(format!("invalid type {ty}")));
        }
        if ty != want {
            return Err(bad(format!(
                "{} object where {} was expected",
                type_name(ty),
                type_name(want)
            )));
        }
        if off.checked_add(size).is_none_or(|e| e > self.len) {
            return Err(bad(format!(
                "its {size} bytes run past the end of the {}-byte file",
                self.len
            )));
        }
        Ok((flags, size))
    }

    fn data_payload_offset(&self) -> u64 {
        if self.compact() { 72 } else { 64 }
    }

    /// The payload of the DATA object at `off`, decompressed.
    fn data(&mut self, off: u64) -> Result<Rc<[u8]>, JournalError> {
        if let Some(d) = self.shared.get(&off) {
            return Ok(d.clone());
        }
        let (flags, size) = self.object(off, OBJECT_DATA)?;
        let pay = self.data_payload_offset();
        if size <= pay {
            return Err(JournalError::Corrupt(format!(
                "data object at offset {off}: size {size} leaves no payload"
            )));
        }
        let entry_offset = self.pages.le64(off + 40)?;
        let n_entries = self.pages.le64(off + 56)?;
        if (entry_offset == 0) != (n_entries == 0) {
            return Err(JournalError::Corrupt(format!(
                "data object at offset {off}: bad n_entries {n_entries}"
            )));
        }
        let len = size - pay;
        if len > MAX_PAYLOAD as u64 {
            return Err(JournalError::Corrupt(format!(
                "data object at offset {off}: {len}-byte payload is larger than the {MAX_PAYLOAD}-byte limit"
            )));
        }
        let mut raw = vec![0u8; len as usize];
        self.pages.read_at(off + pay, &mut raw)?;
        let payload: Rc<[u8]> = if flags & 0x7 == 0 {
            raw.into()
        } else {
            compress::decompress(flags, &raw, MAX_PAYLOAD)
                .map_err(|e| JournalError::Corrupt(format!("data object at offset {off}: {e}")))?
                .into()
        };
        if n_entries > 1 && payload.len() <= SHARED_MAX_ONE {
            if self.shared_bytes + payload.len() > SHARED_MAX_BYTES {
                self.shared.clear();
                self.shared_bytes = 0;
            }
            self.shared_bytes += payload.len();
            self.shared.insert(off, payload.clone());
        }
        Ok(payload)
    }

    /// The ENTRY object at `off` with its fields (`check_object`'s entry rules).
    pub fn entry(&mut self, off: u64) -> Result<Entry, JournalError> {
        self.entry_impl(off, true)
    }

    /// The ENTRY object at `off` without reading its fields.
    pub fn entry_head(&mut self, off: u64) -> Result<Entry, JournalError> {
        self.entry_impl(off, false)
    }

    fn entry_impl(&mut self, off: u64, with_fields: bool) -> Result<Entry, JournalError> {
        let (_, size) = self.object(off, OBJECT_ENTRY)?;
        let bad = |what: String| JournalError::Corrupt(format!("entry at offset {off}: {what}"));
        let item = if self.compact() { 4 } else { 16 };
        if size < ENTRY_ITEMS || (size - ENTRY_ITEMS) % item != 0 {
            return Err(bad(format!("bad size {size}")));
        }
        let n = (size - ENTRY_ITEMS) / item;
        if n == 0 {
            return Err(bad("no items".into()));
        }
        if n > MAX_ITEMS {
            return Err(bad(format!("{n} items, more than the {MAX_ITEMS} limit")));
        }
        let mut head = [0u8; 48];
        self.pages.read_at(off + 16, &mut head)?;
        let word = |i: usize| u64::from_le_bytes(head[i..i + 8].try_into().unwrap_or([0; 8]));
        let seqnum = word(0);
        let realtime = word(8);
        let monotonic = word(16);
        let mut boot_id = [0u8; 16];
        boot_id.copy_from_slice(&head[24..40]);
        let xor_hash = word(40);
        if seqnum == 0 {
            return Err(bad("seqnum 0".into()));
        }
        if !valid_realtime(realtime) {
            return Err(bad(format!("invalid realtime {realtime}")));
        }
        if !valid_monotonic(monotonic) {
            return Err(bad(format!("invalid monotonic {monotonic}")));
        }
        let mut fields = Vec::new();
        let mut bad_fields = 0;
        let mut items = Vec::new();
        if with_fields {
            items = vec![0u8; (n * item) as usize];
            self.pages.read_at(off + ENTRY_ITEMS, &mut items)?;
            fields.reserve(n as usize);
        }
        for chunk in items.chunks_exact(item as usize) {
            let p = if item == 4 {
                u64::from(u32::from_le_bytes(chunk[..4].try_into().unwrap_or([0; 4])))
            } else {
                u64::from_le_bytes(chunk[..8].try_into().unwrap_or([0; 8]))
            };
            match self.data(p) {
                Ok(d) => fields.push(d),
                Err(_) => bad_fields += 1,
            }
        }
        Ok(Entry {
            offset: off,
            seqnum,
            realtime,
            monotonic,
            boot_id,
            xor_hash,
            fields,
            bad_fields,
        })
    }

    /// The ENTRY_ARRAY at `off`: (number of item slots, next array offset).
    fn array(&mut self, off: u64) -> Result<(u64, u64), JournalError> {
        let (_, size) = self.object(off, OBJECT_ENTRY_ARRAY)?;
        let item = if self.compact() { 4 } else { 8 };
        if size < ARRAY_ITEMS || (size - ARRAY_ITEMS) % item != 0 || size == ARRAY_ITEMS {
            return Err(JournalError::Corrupt(format!(
                "entry array at offset {off}: bad size {size}"
            )));
        }
        let next = self.pages.le64(off + 16)?;
        if next % 8 != 0 || (next > 0 && next <= off) {
            return Err(JournalError::Corrupt(format!(
                "entry array at offset {off}: next array offset {next} does not lie after it"
            )));
        }
        Ok(((size - ARRAY_ITEMS) / item, next))
    }

    fn array_item(&mut self, array: u64, i: u64) -> Result<u64, JournalError> {
        if self.compact() {
            Ok(u64::from(self.pages.le32(array + ARRAY_ITEMS + 4 * i)?))
        } else {
            self.pages.le64(array + ARRAY_ITEMS + 8 * i)
        }
    }

    /// Every entry array of the main chain: (offset, item slots). Bounded: offsets strictly
    /// increase, and at most `n_entries` slots are collected.
    fn chain(&mut self) -> (Vec<(u64, u64)>, Option<Stop>) {
        let mut out = Vec::new();
        let mut off = self.header.entry_array_offset;
        let mut slots = 0u64;
        while off != 0 && slots < self.header.n_entries {
            match self.array(off) {
                Ok((n, next)) => {
                    out.push((off, n));
                    slots = slots.saturating_add(n);
                    off = next;
                }
                Err(e) => {
                    return (
                        out,
                        Some(Stop {
                            after_entries: slots.min(self.header.n_entries),
                            offset: off,
                            reason: e.to_string(),
                        }),
                    );
                }
            }
        }
        (out, None)
    }

    /// The entries in file order.
    pub fn entries(mut self) -> Entries<'a> {
        let (chain, chain_stop) = self.chain();
        Entries {
            file: self,
            chain,
            chain_stop,
            array: 0,
            index: 0,
            seen: 0,
            skipped: 0,
            first_skip: None,
            stop: None,
            reverse: false,
            started: false,
        }
    }

    /// The entries from the last one backwards (to find the last boot without reading the
    /// whole file).
    pub fn entries_rev(self) -> Entries<'a> {
        let mut it = self.entries();
        it.reverse = true;
        it
    }
}

fn type_name(t: u8) -> &'static str {
    match t {
        1 => "data",
        2 => "field",
        3 => "entry",
        4 => "data hash table",
        5 => "field hash table",
        6 => "entry array",
        7 => "tag",
        _ => "unknown",
    }
}

/// Iterates a file's entries (see the module documentation for what is checked).
pub struct Entries<'a> {
    file: JournalFile<'a>,
    chain: Vec<(u64, u64)>,
    chain_stop: Option<Stop>,
    /// Position: index into `chain`, index inside that array.
    array: usize,
    index: u64,
    seen: u64,
    pub skipped: u64,
    pub first_skip: Option<String>,
    stop: Option<Stop>,
    reverse: bool,
    started: bool,
}

impl<'a> Entries<'a> {
    pub fn file(&self) -> &JournalFile<'a> {
        &self.file
    }

    /// The next entry's position and header only (seqnum, times, boot), without its fields:
    /// enough to list boots cheaply.
    pub fn next_head(&mut self) -> Option<Entry> {
        loop {
            let off = self.next_offset()?;
            match self.file.entry_head(off) {
                Ok(e) => return Some(e),
                Err(e) => {
                    self.skipped += 1;
                    if self.first_skip.is_none() {
                        self.first_skip = Some(e.to_string());
                    }
                }
            }
        }
    }

    /// Why reading ended before `n_entries` (a file cut off, a bad entry array), if it did.
    pub fn stop(&self) -> Option<&Stop> {
        self.stop.as_ref()
    }

    /// The offsets of the entries, in order, bounded by `n_entries`.
    fn next_offset(&mut self) -> Option<u64> {
        let n_entries = self.file.header.n_entries;
        if !self.reverse {
            loop {
                if self.seen >= n_entries {
                    return None;
                }
                let Some(&(arr, slots)) = self.chain.get(self.array) else {
                    if self.stop.is_none() {
                        self.stop = self.chain_stop.clone().or(Some(Stop {
                            after_entries: self.seen,
                            offset: self.file.header.entry_array_offset,
                            reason: format!(
                                "no entry array holds the {n_entries} entries the header counts"
                            ),
                        }));
                    }
                    return None;
                };
                if self.index >= slots {
                    self.array += 1;
                    self.index = 0;
                    if self.array >= self.chain.len() {
                        if self.stop.is_none() {
                            self.stop = self.chain_stop.clone().or(Some(Stop {
                                after_entries: self.seen,
                                offset: arr,
                                reason: format!(
                                    "the entry array chain ends after {} of the {n_entries} entries the header counts",
                                    self.seen
                                ),
                            }));
                        }
                        return None;
                    }
                    continue;
                }
                let i = self.index;
                self.index += 1;
                match self.file.array_item(arr, i) {
                    Ok(0) => {
                        self.stop = Some(Stop {
                            after_entries: self.seen,
                            offset: arr,
                            reason: format!(
                                "the entry array is not filled beyond {} of the {n_entries} entries the header counts",
                                self.seen
                            ),
                        });
                        return None;
                    }
                    Ok(p) => {
                        self.seen += 1;
                        return Some(p);
                    }
                    Err(e) => {
                        self.stop = Some(Stop {
                            after_entries: self.seen,
                            offset: arr,
                            reason: e.to_string(),
                        });
                        return None;
                    }
                }
            }
        }
        // Backwards: the arrays are few (they double in size); items are read from the last
        // filled slot down, bounded by n_entries.
        if !self.started {
            self.started = true;
            let mut total = 0u64;
            let mut last = None;
            for (i, (_, slots)) in self.chain.iter().enumerate() {
                let take = (*slots).min(n_entries.saturating_sub(total));
                if take == 0 {
                    break;
                }
                total += take;
                last = Some((i, take));
            }
            let (a, idx) = last?;
            self.array = a;
            self.index = idx;
        }
        loop {
            if self.index == 0 {
                if self.array == 0 {
                    return None;
                }
                self.array -= 1;
                self.index = self.chain.get(self.array)?.1;
                continue;
            }
            self.index -= 1;
            let arr = self.chain.get(self.array)?.0;
            match self.file.array_item(arr, self.index) {
                Ok(0) => continue,
                Ok(p) => {
                    self.seen += 1;
                    return Some(p);
                }
                Err(_) => continue,
            }
        }
    }
}

impl Iterator for Entries<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            let off = self.next_offset()?;
            match self.file.entry(off) {
                Ok(e) => return Some(e),
                Err(e) => {
                    self.skipped += 1;
                    if self.first_skip.is_none() {
                        self.first_skip = Some(e.to_string());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for data in [
            vec![],
            vec![0u8; 10],
            b"LPKSHHRH".to_vec(),
            vec![0xffu8; 4096],
        ] {
            let len = data.len() as u64;
            let _ = JournalFile::open(Box::new(std::io::Cursor::new(data)), len);
        }
    }

    #[test]
    fn entry_field_lookup() {
        let e = Entry {
            offset: 0,
            seqnum: 1,
            realtime: 1,
            monotonic: 0,
            boot_id: [0; 16],
            xor_hash: 0,
            fields: vec![
                Rc::from(&b"MESSAGE=hello"[..]),
                Rc::from(&b"MESSAGE_ID=x"[..]),
            ],
            bad_fields: 0,
        };
        assert_eq!(e.field("MESSAGE"), Some(&b"hello"[..]));
        assert_eq!(e.field("MESSAGE_ID"), Some(&b"x"[..]));
        assert_eq!(e.field("MESS"), None);
    }
}
