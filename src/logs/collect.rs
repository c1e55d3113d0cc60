//! Finding the guest's logs and reading them as one stream of records in time order.
//!
//! Journal files are merged as journalctl merges them (sd-journal.c / journal-file.c:
//! `journal_file_compare_locations`: same sequence-number source → by seqnum, same boot → by
//! monotonic time, else by wall-clock time, then by the xor hash; identical entries in two
//! files are shown once). Text logs are merged by time, and with the journal by wall-clock
//! time. Everything streams: at any moment only one entry per open file is held.

use std::cmp::Ordering;
use std::path::Path;
use std::rc::Rc;

use super::journal::{self, Entries, Entry, JournalFile, Stop, id_hex};
use super::text::{self, Dating, Lines};
use super::tz::Zone;
use crate::fs::RootFs;

/// Directories journald writes (the persistent one; the volatile one is normally absent on a
/// detached volume but is read when present).
pub const JOURNAL_DIRS: &[&str] = &["/var/log/journal", "/run/log/journal"];

/// Text logs read, by base name (rotations `NAME.1`, `NAME.2.gz`, `NAME-20240101[.gz]` too).
pub const TEXT_LOGS: &[&str] = &[
    "syslog",
    "messages",
    "auth.log",
    "secure",
    "kern.log",
    "daemon.log",
    "cloud-init.log",
    "cloud-init-output.log",
];

/// Text logs written by cloud-init itself, not fed from syslog (never duplicates of the
/// journal).
fn is_syslog_fed(base: &str) -> bool {
    !base.starts_with("cloud-init")
}

#[derive(Clone, Debug)]
pub struct JournalSource {
    pub path: String,
    pub size: u64,
    /// Wall-clock range the header says the file covers (µs), when it has entries.
    pub range: Option<(u64, u64)>,
    pub state: Option<journal::State>,
    /// Why the file cannot be read at all.
    pub error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct TextSource {
    pub path: String,
    pub base: &'static str,
    pub gz: bool,
    pub size: u64,
    pub mtime: i64,
    /// 0 for the live file, N for `.N`; dated rotations sort by date.
    pub rotation: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub journals: Vec<JournalSource>,
    pub texts: Vec<TextSource>,
    pub zone: Zone,
}

/// `NAME`, `NAME.N`, `NAME.N.gz`, `NAME-YYYYMMDD`, `NAME-YYYYMMDD.gz` → (rotation, gz).
fn rotation_of(base: &str, name: &str) -> Option<(u64, bool)> {
    let rest = name.strip_prefix(base)?;
    let (rest, gz) = match rest.strip_suffix(".gz") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    if rest.is_empty() {
        return (!gz).then_some((0, false));
    }
    let digits = |s: &str| !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(n) = rest.strip_prefix('.').filter(|s| digits(s)) {
        return Some((n.parse().ok()?, gz));
    }
    if let Some(d) = rest.strip_prefix('-').filter(|s| digits(s) && s.len() == 8) {
        // Dated: newer dates are smaller rotations; 99999999 - date keeps the order.
        return Some((99_999_999 - d.parse::<u64>().ok()?, gz));
    }
    None
}

/// Finds every journal file and text log in the guest.
pub fn discover(fs: &RootFs) -> Sources {
    let mut s = Sources {
        zone: fs
            .read_limited("/etc/localtime", 1 << 20)
            .ok()
            .and_then(|b| Zone::parse(&b))
            .unwrap_or_default(),
        ..Sources::default()
    };
    for dir in JOURNAL_DIRS {
        let mut dirs = vec![dir.to_string()];
        for e in fs.read_dir(dir).unwrap_or_default() {
            if e.file_type == crate::fs::FileType::Directory {
                dirs.push(format!("{dir}/{}", e.name.to_string_lossy()));
            }
        }
        for d in dirs {
            for e in fs.read_dir(&d).unwrap_or_default() {
                let name = e.name.to_string_lossy();
                if !(name.ends_with(".journal") || name.ends_with(".journal~")) {
                    continue;
                }
                let path = format!("{d}/{name}");
                let Ok(md) = fs.metadata(&path) else { continue };
                if !md.is_file() {
                    continue;
                }
                let mut src = JournalSource {
                    path: path.clone(),
                    size: md.size,
                    range: None,
                    state: None,
                    error: None,
                };
                match open_journal(fs, &path, md.size) {
                    Ok(j) => {
                        let h = &j.header;
                        src.state = Some(h.state);
                        if h.n_entries > 0 && h.head_entry_realtime > 0 {
                            src.range = Some((h.head_entry_realtime, h.tail_entry_realtime));
                        }
                    }
                    Err(e) => src.error = Some(e),
                }
                s.journals.push(src);
            }
        }
    }
    let names: Vec<String> = fs
        .read_dir("/var/log")
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.file_type == crate::fs::FileType::Regular)
        .map(|e| e.name.to_string_lossy().into_owned())
        .collect();
    for base in TEXT_LOGS {
        for name in &names {
            let Some((rotation, gz)) = rotation_of(base, name) else {
                continue;
            };
            let path = format!("/var/log/{name}");
            let Ok(md) = fs.metadata(&path) else { continue };
            s.texts.push(TextSource {
                path,
                base,
                gz,
                size: md.size,
                mtime: md.mtime.secs,
                rotation,
            });
        }
    }
    s
}

pub fn open_journal<'a>(fs: &'a RootFs, path: &str, size: u64) -> Result<JournalFile<'a>, String> {
    let r = fs.open_seekable(path).map_err(|e| e.to_string())?;
    JournalFile::open(r, size).map_err(|e| e.to_string())
}

/// Where a record came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    Journal { file: String, cursor: String },
    Text { file: String, line: usize },
}

impl Origin {
    pub fn file(&self) -> &str {
        match self {
            Origin::Journal { file, .. } | Origin::Text { file, .. } => file,
        }
    }
    /// `FILE:LINE` or `FILE (cursor …)`.
    pub fn describe(&self) -> String {
        match self {
            Origin::Journal { file, cursor } => format!("{file}, entry {cursor}"),
            Origin::Text { file, line: 0 } => format!("{file} (near its end)"),
            Origin::Text { file, line } => format!("{file}:{line}"),
        }
    }
}

/// One log record, from either kind of log.
#[derive(Clone, Debug)]
pub struct Record {
    /// µs since the epoch (UTC); 0 when unknown.
    pub time: i64,
    pub boot_id: Option<[u8; 16]>,
    pub monotonic: Option<u64>,
    pub host: Option<String>,
    pub ident: Option<String>,
    pub pid: Option<u32>,
    pub unit: Option<String>,
    pub priority: Option<u8>,
    pub message: String,
    /// The kernel's `Linux version` banner.
    pub boot_start: bool,
    pub origin: Origin,
    /// Every field of a journal entry (`NAME=value`), for JSON output.
    pub fields: Vec<Rc<[u8]>>,
}

impl Record {
    pub fn from_entry(e: Entry, file: &str, seqnum_id: &[u8; 16]) -> Record {
        let s = |n: &str| e.field_str(n);
        let message = s("MESSAGE").unwrap_or_default();
        let transport = e.field("_TRANSPORT");
        let ident = s("SYSLOG_IDENTIFIER")
            .or_else(|| s("_COMM"))
            .or_else(|| (transport == Some(b"kernel")).then(|| "kernel".to_string()));
        let boot_start = transport == Some(b"kernel") && message.starts_with("Linux version ");
        Record {
            time: e.realtime as i64,
            boot_id: Some(e.boot_id),
            monotonic: Some(e.monotonic),
            host: s("_HOSTNAME"),
            ident,
            pid: s("_PID")
                .or_else(|| s("SYSLOG_PID"))
                .and_then(|p| p.parse().ok()),
            unit: s("_SYSTEMD_UNIT"),
            priority: s("PRIORITY").and_then(|p| p.parse().ok()),
            message,
            boot_start,
            origin: Origin::Journal {
                file: file.to_string(),
                cursor: e.cursor(seqnum_id),
            },
            fields: e.fields,
        }
    }

    /// The record's first value of a journal field.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        let n = name.as_bytes();
        self.fields.iter().find_map(|f| {
            (f.len() > n.len() && f.starts_with(n) && f[n.len()] == b'=').then(|| &f[n.len() + 1..])
        })
    }
}

/// One journal file being read.
struct JournalStream<'a> {
    path: String,
    seqnum_id: [u8; 16],
    entries: Entries<'a>,
    head: Option<Entry>,
}

/// `journal_file_compare_locations`.
fn compare(a: &Entry, a_sid: &[u8; 16], b: &Entry, b_sid: &[u8; 16]) -> Ordering {
    if a_sid == b_sid {
        let c = a.seqnum.cmp(&b.seqnum);
        if c != Ordering::Equal {
            return c;
        }
    }
    if a.boot_id == b.boot_id {
        let c = a.monotonic.cmp(&b.monotonic);
        if c != Ordering::Equal {
            return c;
        }
    }
    a.realtime
        .cmp(&b.realtime)
        .then(a.xor_hash.cmp(&b.xor_hash))
}

fn identical(a: &Entry, a_sid: &[u8; 16], b: &Entry, b_sid: &[u8; 16]) -> bool {
    a_sid == b_sid
        && a.seqnum == b.seqnum
        && a.boot_id == b.boot_id
        && a.monotonic == b.monotonic
        && a.realtime == b.realtime
        && a.xor_hash == b.xor_hash
}

/// What reading a file ran into.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FileReport {
    pub path: String,
    pub entries: u64,
    pub stop: Option<Stop>,
    pub skipped_entries: u64,
    pub first_skip: Option<String>,
    pub error: Option<String>,
    pub nul_bytes: u64,
    pub first_nul_line: Option<usize>,
}

/// Every journal file merged (journalctl's order).
pub struct JournalMerge<'a> {
    streams: Vec<JournalStream<'a>>,
    pub reports: Vec<FileReport>,
    heads_only: bool,
}

impl<'a> JournalMerge<'a> {
    /// Opens every readable file; `heads_only` reads entry headers without fields (boot
    /// listing).
    pub fn open(fs: &'a RootFs, sources: &[JournalSource], heads_only: bool) -> JournalMerge<'a> {
        let mut m = JournalMerge {
            streams: Vec::new(),
            reports: Vec::new(),
            heads_only,
        };
        for s in sources {
            match open_journal(fs, &s.path, s.size) {
                Ok(j) => {
                    let seqnum_id = j.header.seqnum_id;
                    let mut entries = j.entries();
                    let head = if heads_only {
                        entries.next_head()
                    } else {
                        entries.next()
                    };
                    m.reports.push(FileReport {
                        path: s.path.clone(),
                        entries: u64::from(head.is_some()),
                        ..FileReport::default()
                    });
                    m.streams.push(JournalStream {
                        path: s.path.clone(),
                        seqnum_id,
                        entries,
                        head,
                    });
                    let last = m.streams.len() - 1;
                    m.sync(last, false);
                }
                Err(e) => m.reports.push(FileReport {
                    path: s.path.clone(),
                    error: Some(e),
                    ..FileReport::default()
                }),
            }
        }
        m
    }

    fn report(&mut self, path: &str) -> Option<&mut FileReport> {
        self.reports.iter_mut().find(|r| r.path == path)
    }

    fn advance(&mut self, i: usize) {
        let heads_only = self.heads_only;
        let s = &mut self.streams[i];
        s.head = if heads_only {
            s.entries.next_head()
        } else {
            s.entries.next()
        };
        self.sync(i, true);
    }

    /// Copies a stream's progress into its report.
    fn sync(&mut self, i: usize, count: bool) {
        let s = &self.streams[i];
        let (path, got) = (s.path.clone(), s.head.is_some() && count);
        let stop = s.entries.stop().cloned();
        let (skipped, first_skip) = (s.entries.skipped, s.entries.first_skip.clone());
        if let Some(r) = self.report(&path) {
            r.entries += u64::from(got);
            r.stop = stop;
            r.skipped_entries = skipped;
            r.first_skip = first_skip;
        }
    }

    /// The next entry of the merged stream with its file and seqnum id.
    pub fn next_entry(&mut self) -> Option<(Entry, String, [u8; 16])> {
        let mut best: Option<usize> = None;
        for (i, s) in self.streams.iter().enumerate() {
            let Some(h) = &s.head else { continue };
            best = match best {
                None => Some(i),
                Some(b) => {
                    let bs = &self.streams[b];
                    let bh = bs.head.as_ref()?;
                    if compare(h, &s.seqnum_id, bh, &bs.seqnum_id) == Ordering::Less {
                        Some(i)
                    } else {
                        Some(b)
                    }
                }
            };
        }
        let b = best?;
        let entry = self.streams[b].head.take()?;
        let sid = self.streams[b].seqnum_id;
        let path = self.streams[b].path.clone();
        self.advance(b);
        // The same entry in other files (a copied or duplicated file) is shown once.
        for i in 0..self.streams.len() {
            while let Some(h) = &self.streams[i].head {
                if identical(h, &self.streams[i].seqnum_id, &entry, &sid) {
                    self.advance(i);
                } else {
                    break;
                }
            }
        }
        Some((entry, path, sid))
    }
}

/// One text log being read.
pub struct TextStream<'a> {
    pub src: TextSource,
    lines: Lines<Box<dyn std::io::BufRead + 'a>>,
    dating: Dating,
    last_time: i64,
    /// Lines before this byte offset's first newline were skipped (tail reading).
    skip_first: bool,
    tailed: bool,
}

impl<'a> TextStream<'a> {
    /// Opens a text log; with `tail`, only its last `tail` bytes (uncompressed files only).
    pub fn open(
        fs: &'a RootFs,
        src: &TextSource,
        zone: &Zone,
        tail: Option<u64>,
    ) -> Result<TextStream<'a>, String> {
        let mut skip_first = false;
        let r: Box<dyn std::io::Read + 'a> = match tail {
            Some(t) if !src.gz && src.size > t => {
                let mut r = fs.open_seekable(&src.path).map_err(|e| e.to_string())?;
                r.seek(std::io::SeekFrom::Start(src.size - t))
                    .map_err(|e| format!("{}: {e}", src.path))?;
                skip_first = true;
                Box::new(r)
            }
            _ => fs.open(&src.path).map_err(|e| e.to_string())?,
        };
        Ok(TextStream {
            src: src.clone(),
            lines: Lines::new(text::reader(r, src.gz)),
            dating: Dating {
                mtime: src.mtime,
                zone: zone.clone(),
            },
            last_time: 0,
            skip_first,
            tailed: skip_first,
        })
    }

    pub fn report(&self) -> FileReport {
        FileReport {
            path: self.src.path.clone(),
            entries: self.lines.line_no as u64,
            error: self.lines.error.clone(),
            nul_bytes: if self.lines.text_after_nul {
                self.lines.nul_bytes
            } else {
                0
            },
            first_nul_line: self.lines.first_nul_line,
            ..FileReport::default()
        }
    }

    pub fn next_record(&mut self) -> Option<Record> {
        if self.skip_first {
            self.skip_first = false;
            self.lines.next_line()?;
        }
        loop {
            let line = self.lines.next_line()?;
            if line.trim().is_empty() {
                continue;
            }
            let l = text::parse_line(&line, &self.dating);
            let time = match l.time {
                Some(t) => {
                    self.last_time = t;
                    t
                }
                None => self.last_time,
            };
            // Line numbers are only known when reading from the start (0: read from the tail).
            let line_no = if self.tailed { 0 } else { self.lines.line_no };
            return Some(Record {
                time,
                boot_id: None,
                monotonic: None,
                host: l.host,
                ident: l.ident,
                pid: l.pid,
                unit: None,
                priority: None,
                message: l.message,
                boot_start: l.boot_start,
                origin: Origin::Text {
                    file: self.src.path.clone(),
                    line: line_no,
                },
                fields: Vec::new(),
            });
        }
    }
}

/// Which logs `read` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SourceSel {
    /// The journal, plus text lines the journal does not hold (outside the time its files
    /// cover, or from cloud-init's own logs).
    #[default]
    Auto,
    Journal,
    Text,
    All,
}

/// The wall-clock ranges the journal files cover (µs), for dropping syslog duplicates.
pub fn journal_coverage(sources: &Sources) -> Vec<(i64, i64)> {
    sources
        .journals
        .iter()
        .filter_map(|j| j.range)
        .map(|(a, b)| (a as i64 - 2_000_000, b as i64 + 2_000_000))
        .collect()
}

pub fn covered(cov: &[(i64, i64)], t: i64) -> bool {
    cov.iter().any(|(a, b)| (*a..=*b).contains(&t))
}

/// Every record in time order.
pub struct Merged<'a> {
    journal: Option<JournalMerge<'a>>,
    jhead: Option<Record>,
    texts: Vec<(TextStream<'a>, Option<Record>)>,
    coverage: Vec<(i64, i64)>,
    dedup: bool,
    pub text_errors: Vec<FileReport>,
}

impl<'a> Merged<'a> {
    pub fn open(fs: &'a RootFs, sources: &Sources, sel: SourceSel) -> Merged<'a> {
        let use_journal = sel != SourceSel::Text;
        let use_text = sel != SourceSel::Journal;
        let mut journal = use_journal.then(|| JournalMerge::open(fs, &sources.journals, false));
        let jhead = journal.as_mut().and_then(next_journal_record);
        let mut texts = Vec::new();
        let mut text_errors = Vec::new();
        if use_text {
            for t in &sources.texts {
                match TextStream::open(fs, t, &sources.zone, None) {
                    Ok(mut s) => {
                        let head = s.next_record();
                        texts.push((s, head));
                    }
                    Err(e) => text_errors.push(FileReport {
                        path: t.path.clone(),
                        error: Some(e),
                        ..FileReport::default()
                    }),
                }
            }
        }
        let coverage = if sel == SourceSel::Auto {
            journal_coverage(sources)
        } else {
            Vec::new()
        };
        let mut m = Merged {
            journal,
            jhead,
            texts,
            coverage,
            dedup: sel == SourceSel::Auto,
            text_errors,
        };
        for i in 0..m.texts.len() {
            m.skip_dups(i);
        }
        m
    }

    fn skip_dups(&mut self, i: usize) {
        if !self.dedup {
            return;
        }
        let (s, head) = &mut self.texts[i];
        while let Some(r) = head {
            if is_syslog_fed(s.src.base) && covered(&self.coverage, r.time) {
                *head = s.next_record();
            } else {
                break;
            }
        }
    }

    /// What each file ran into (after the stream is consumed).
    pub fn reports(&self) -> Vec<FileReport> {
        let mut v: Vec<FileReport> = self
            .journal
            .as_ref()
            .map(|j| j.reports.clone())
            .unwrap_or_default();
        v.extend(self.texts.iter().map(|(s, _)| s.report()));
        v.extend(self.text_errors.iter().cloned());
        v
    }
}

fn next_journal_record(j: &mut JournalMerge<'_>) -> Option<Record> {
    let (e, path, sid) = j.next_entry()?;
    Some(Record::from_entry(e, &path, &sid))
}

impl Iterator for Merged<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let mut best: Option<(usize, i64)> = None;
        for (i, (s, h)) in self.texts.iter().enumerate() {
            if let Some(r) = h {
                // Older rotations first at equal times.
                let key = r.time;
                if best.is_none_or(|(b, t)| {
                    key < t || (key == t && s.src.rotation > self.texts[b].0.src.rotation)
                }) {
                    best = Some((i, key));
                }
            }
        }
        let take_journal = match (&self.jhead, best) {
            (Some(j), Some((_, t))) => j.time <= t,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if take_journal {
            let r = self.jhead.take();
            self.jhead = self.journal.as_mut().and_then(next_journal_record);
            return r;
        }
        let (i, _) = best?;
        let r = self.texts[i].1.take();
        self.texts[i].1 = self.texts[i].0.next_record();
        self.skip_dups(i);
        r
    }
}

/// A boot as the logs show it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Boot {
    /// journalctl's numbering: 0 the last boot, -1 the one before...
    pub offset: i64,
    /// The journal's boot ID (none for a boot seen only in text logs).
    pub id: Option<String>,
    /// µs since the epoch.
    pub first: i64,
    pub last: i64,
    pub entries: u64,
    #[serde(skip)]
    pub raw: Option<[u8; 16]>,
}

/// Lists boots: journal boots by `_BOOT_ID` (entry headers only), text-log boots by the
/// kernel's `Linux version` banner where no journal boot starts within five minutes of it.
pub fn boots(fs: &RootFs, sources: &Sources, sel: SourceSel) -> Vec<Boot> {
    let mut list: Vec<Boot> = Vec::new();
    if sel != SourceSel::Text {
        let mut j = JournalMerge::open(fs, &sources.journals, true);
        let mut index: std::collections::HashMap<[u8; 16], usize> = Default::default();
        while let Some((e, _, _)) = j.next_entry() {
            let t = e.realtime as i64;
            match index.get(&e.boot_id) {
                Some(&i) => {
                    let b = &mut list[i];
                    b.first = b.first.min(t);
                    b.last = b.last.max(t);
                    b.entries += 1;
                }
                None => {
                    index.insert(e.boot_id, list.len());
                    list.push(Boot {
                        offset: 0,
                        id: Some(id_hex(&e.boot_id)),
                        first: t,
                        last: t,
                        entries: 1,
                        raw: Some(e.boot_id),
                    });
                }
            }
        }
    }
    if sel != SourceSel::Journal {
        const NEAR: i64 = 300_000_000;
        for t in &sources.texts {
            let Ok(mut s) = TextStream::open(fs, t, &sources.zone, None) else {
                continue;
            };
            while let Some(r) = s.next_record() {
                if !r.boot_start || r.time == 0 {
                    continue;
                }
                let known = list.iter().any(|b| {
                    (r.time - b.first).abs() <= NEAR || (b.first..=b.last).contains(&r.time)
                });
                if !known {
                    list.push(Boot {
                        offset: 0,
                        id: None,
                        first: r.time,
                        last: r.time,
                        entries: 0,
                        raw: None,
                    });
                }
            }
        }
    }
    list.sort_by_key(|b| b.first);
    let n = list.len() as i64;
    for (i, b) in list.iter_mut().enumerate() {
        b.offset = i as i64 - (n - 1);
    }
    // A text-only boot lasts until the next one starts.
    for i in 0..list.len() {
        if list[i].id.is_none() {
            list[i].last = list.get(i + 1).map(|b| b.first - 1).unwrap_or(i64::MAX);
        }
    }
    list
}

/// The boot a record belongs to: its journal boot ID, else the last boot started by its time.
pub fn boot_of(boots: &[Boot], r: &Record) -> Option<usize> {
    if let Some(id) = r.boot_id {
        return boots.iter().rposition(|b| b.raw == Some(id));
    }
    if r.time == 0 {
        return None;
    }
    boots.iter().rposition(|b| b.first <= r.time + 1_000_000)
}

/// A guest path's file name.
pub fn file_name(p: &str) -> &str {
    Path::new(p)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotations() {
        assert_eq!(rotation_of("syslog", "syslog"), Some((0, false)));
        assert_eq!(rotation_of("syslog", "syslog.1"), Some((1, false)));
        assert_eq!(rotation_of("syslog", "syslog.4.gz"), Some((4, true)));
        assert_eq!(rotation_of("syslog", "syslog.gz"), None);
        assert_eq!(rotation_of("syslog", "syslog.bak"), None);
        assert_eq!(
            rotation_of("messages", "messages-20240101.gz").map(|x| x.1),
            Some(true)
        );
        assert!(
            rotation_of("messages", "messages-20240102").unwrap().0
                < rotation_of("messages", "messages-20240101").unwrap().0
        );
        assert_eq!(rotation_of("auth.log", "auth.log.1"), Some((1, false)));
    }
}
