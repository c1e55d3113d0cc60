//! Text logs written by syslog daemons (rsyslog, syslog-ng) and cloud-init: one line at a time,
//! streamed (a gzip-rotated file is decompressed as it is read), every line bounded.
//!
//! Line formats understood:
//! - RFC 3339 (rsyslog's high-precision format, Debian 12's default):
//!   `2024-01-02T03:04:05.123456+00:00 host sshd[812]: message`;
//! - RFC 3164 (traditional): `Jan  2 03:04:05 host sshd[812]: message` — local time without a
//!   year: the year comes from the file's modification time (a line dated after it belongs to
//!   the year before), the offset from the guest's `/etc/localtime`;
//! - cloud-init.log: `2024-01-02 03:04:05,123 - util.py[WARNING]: message` (UTC);
//! - cloud-init-output.log's `Cloud-init v. 23.1 running 'init' at Tue, 02 Jan 2024 03:04:05
//!   +0000. Up 5.3 seconds.` banners; other lines there carry no time and take the last one.

use std::io::{BufRead, Read};

use super::tz::Zone;

/// Longer lines are cut here (the rest up to the newline is skipped).
pub const MAX_LINE: usize = 16 * 1024;

/// One parsed line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Line {
    /// µs since the epoch (UTC).
    pub time: Option<i64>,
    pub host: Option<String>,
    pub ident: Option<String>,
    pub pid: Option<u32>,
    pub message: String,
    /// The kernel's `Linux version` banner: a boot starts here.
    pub boot_start: bool,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a UTC time in seconds.
pub fn civil(secs: i64) -> (i64, u32, u32) {
    let s = crate::time::format_utc(secs);
    let y = s.get(0..4).and_then(|v| v.parse().ok()).unwrap_or(1970);
    let m = s.get(5..7).and_then(|v| v.parse().ok()).unwrap_or(1);
    let d = s.get(8..10).and_then(|v| v.parse().ok()).unwrap_or(1);
    (y, m, d)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month(s: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == s).map(|i| i as u32 + 1)
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn hms(s: &str) -> Option<(u32, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, sec) = (num(&s[0..2])?, num(&s[3..5])?, num(&s[6..8])?);
    (h < 24 && m < 60 && sec <= 60).then_some((h, m, sec))
}

fn ymd(s: &str) -> Option<(i64, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(&s[0..4])?, num(&s[5..7])?, num(&s[8..10])?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((i64::from(y), m, d))
}

fn micros(days: i64, (h, m, s): (u32, u32, u32)) -> i64 {
    (days * 86_400 + i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s)) * 1_000_000
}

/// Fractional seconds `.123456` → µs.
fn frac_us(f: &str) -> Option<i64> {
    if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut us = 0i64;
    for (i, c) in f.bytes().take(6).enumerate() {
        us += i64::from(c - b'0') * 10i64.pow(5 - i as u32);
    }
    Some(us)
}

/// `2024-01-02T03:04:05.123456+00:00` → µs UTC.
fn rfc3339(s: &str) -> Option<i64> {
    let (date, rest) = (s.get(0..10)?, s.get(10..)?);
    let (y, mo, d) = ymd(date)?;
    let rest = rest.strip_prefix('T')?;
    let t = hms(rest.get(0..8)?)?;
    let mut rest = rest.get(8..)?;
    let mut us = 0;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        us = frac_us(&r[..n])?;
        rest = &r[n..];
    }
    let off = if rest == "Z" {
        0
    } else {
        let sign = match rest.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let b = rest.as_bytes();
        if b.len() != 6 || b[3] != b':' {
            return None;
        }
        sign * (i64::from(num(&rest[1..3])?) * 3600 + i64::from(num(&rest[4..6])?) * 60)
    };
    Some(micros(days_from_civil(y, mo, d), t) + us - off * 1_000_000)
}

/// How to date lines without a year.
#[derive(Clone, Debug)]
pub struct Dating {
    /// The file's modification time (UTC seconds).
    pub mtime: i64,
    pub zone: Zone,
}

impl Dating {
    /// The year of a `Mmm dd` date in a file last written at `mtime`.
    fn year_for(&self, m: u32, d: u32) -> i64 {
        let local = self.mtime + i64::from(self.zone.offset_hint(self.mtime));
        let (y, mm, md) = civil(local);
        // A date after the file's last write (with a day of slack) is from the year before.
        if (m, d) > (mm, md.saturating_add(1)) {
            y - 1
        } else {
            y
        }
    }
}

impl Zone {
    fn offset_hint(&self, utc: i64) -> i32 {
        (utc - self.local_to_utc(utc)) as i32
    }
}

/// `sshd[812]: message` → (ident, pid, message).
fn tag(s: &str) -> (Option<String>, Option<u32>, String) {
    let Some(colon) = s.find(": ") else {
        if let Some(t) = s.strip_suffix(':') {
            return split_ident(t)
                .map(|(i, p)| (Some(i), p, String::new()))
                .unwrap_or((None, None, s.to_string()));
        }
        return (None, None, s.to_string());
    };
    let (t, msg) = (&s[..colon], &s[colon + 2..]);
    match split_ident(t) {
        Some((i, p)) => (Some(i), p, msg.to_string()),
        None => (None, None, s.to_string()),
    }
}

fn split_ident(t: &str) -> Option<(String, Option<u32>)> {
    if t.is_empty() || t.len() > 128 || t.contains(' ') {
        return None;
    }
    if let Some(open) = t.find('[') {
        let pid = t[open + 1..].strip_suffix(']').and_then(num)?;
        return Some((t[..open].to_string(), Some(pid)));
    }
    Some((t.to_string(), None))
}

/// `Linux version 6.1.0-18-amd64 (...)`, with or without the `[    0.000000] ` printk time.
fn is_kernel_banner(ident: Option<&str>, msg: &str) -> bool {
    if ident != Some("kernel") {
        return false;
    }
    let m = match msg.strip_prefix('[') {
        Some(r) => r.split_once("] ").map(|x| x.1).unwrap_or(r),
        None => msg,
    };
    m.starts_with("Linux version ")
}

/// `host tag: message` after a timestamp.
fn syslog_rest(time: Option<i64>, rest: &str) -> Line {
    let (host, after) = match rest.split_once(' ') {
        Some((h, a)) => (Some(h.to_string()), a),
        None => (None, rest),
    };
    let (ident, pid, message) = tag(after);
    let boot_start = is_kernel_banner(ident.as_deref(), &message);
    Line {
        time,
        host,
        ident,
        pid,
        message,
        boot_start,
    }
}

/// `Tue, 02 Jan 2024 03:04:05 +0000` → µs UTC.
fn rfc2822(s: &str) -> Option<i64> {
    let s = s.split_once(", ").map(|x| x.1).unwrap_or(s);
    let mut it = s.split_whitespace();
    let d = num(it.next()?)?;
    let m = month(it.next()?)?;
    let y = num(it.next()?)?;
    let t = hms(it.next()?)?;
    let z = it.next().unwrap_or("+0000").trim_end_matches('.');
    let off = if z.len() == 5 && z.is_ascii() {
        let sign = if z.starts_with('-') { -1 } else { 1 };
        sign * (i64::from(num(&z[1..3])?) * 3600 + i64::from(num(&z[3..5])?) * 60)
    } else {
        0
    };
    Some(micros(days_from_civil(i64::from(y), m, d), t) - off * 1_000_000)
}

/// Parses one line (without its newline).
pub fn parse_line(line: &str, dating: &Dating) -> Line {
    // RFC 3339.
    if line.len() > 20 && line.as_bytes().get(10) == Some(&b'T') {
        if let Some((ts, rest)) = line.split_once(' ') {
            if let Some(t) = rfc3339(ts) {
                return syslog_rest(Some(t), rest);
            }
        }
    }
    // cloud-init.log: `2024-01-02 03:04:05,123 - util.py[WARNING]: message`.
    if line.len() > 26 && line.as_bytes().get(10) == Some(&b' ') {
        if let (Some(date), Some(t)) = (
            line.get(0..10).and_then(ymd),
            line.get(11..19).and_then(hms),
        ) {
            let mut rest = &line[19..];
            let mut us = 0;
            if let Some(r) = rest.strip_prefix(',').or_else(|| rest.strip_prefix('.')) {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                us = frac_us(&r[..n]).unwrap_or(0);
                rest = &r[n..];
            }
            let time = micros(days_from_civil(date.0, date.1, date.2), t) + us;
            let message = rest.strip_prefix(" - ").unwrap_or(rest).to_string();
            return Line {
                time: Some(time),
                ident: Some("cloud-init".into()),
                message,
                ..Line::default()
            };
        }
    }
    // RFC 3164: `Jan  2 03:04:05 host tag: msg`.
    if let (Some(m), Some(d), Some(t)) = (
        line.get(0..3).and_then(month),
        line.get(4..6).and_then(|d| num(d.trim_start())),
        line.get(7..15).and_then(hms),
    ) {
        if line.as_bytes().get(3) == Some(&b' ')
            && line.as_bytes().get(6) == Some(&b' ')
            && (1..=31).contains(&d)
        {
            let y = dating.year_for(m, d);
            let local = micros(days_from_civil(y, m, d), t) / 1_000_000;
            let utc = dating.zone.local_to_utc(local) * 1_000_000;
            let rest = line.get(16..).unwrap_or("");
            return syslog_rest(Some(utc), rest);
        }
    }
    // cloud-init-output.log banner.
    if let Some(r) = line.strip_prefix("Cloud-init v. ") {
        let time = r.split_once(" at ").and_then(|(_, d)| {
            let d = d.split(". Up ").next().unwrap_or(d);
            rfc2822(d)
        });
        return Line {
            time,
            ident: Some("cloud-init".into()),
            message: line.to_string(),
            ..Line::default()
        };
    }
    Line {
        message: line.to_string(),
        ..Line::default()
    }
}

/// Reads lines of at most `MAX_LINE` bytes from a stream.
pub struct Lines<R: BufRead> {
    r: R,
    pub line_no: usize,
    /// NUL bytes seen (a file extended but never written: a crash or power loss).
    pub nul_bytes: u64,
    /// Text follows a run of NULs: the log went on after the hole (the classic trace of a
    /// crash: the old boot's last blocks never written, the new boot's lines after them). A
    /// NUL-only tail (a preallocated or unwritten end) is not counted as such.
    pub text_after_nul: bool,
    /// The line where NUL bytes were first seen.
    pub first_nul_line: Option<usize>,
    /// A read error that ended the stream.
    pub error: Option<String>,
}

impl<R: BufRead> Lines<R> {
    pub fn new(r: R) -> Lines<R> {
        Lines {
            r,
            line_no: 0,
            nul_bytes: 0,
            text_after_nul: false,
            first_nul_line: None,
            error: None,
        }
    }

    /// The next line, lossily decoded, NUL bytes removed; `None` at the end.
    pub fn next_line(&mut self) -> Option<String> {
        let mut buf: Vec<u8> = Vec::new();
        let mut any = false;
        loop {
            let avail = match self.r.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.error = Some(e.to_string());
                    break;
                }
            };
            if avail.is_empty() {
                break;
            }
            any = true;
            let (chunk, used, end) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (&avail[..i], i + 1, true),
                None => (avail, avail.len(), false),
            };
            let nuls = chunk.iter().filter(|&&b| b == 0).count();
            if !self.text_after_nul {
                // Text after a run of NULs: the log went on after the hole.
                let from = if self.nul_bytes > 0 {
                    Some(0)
                } else {
                    chunk.iter().position(|&b| b == 0)
                };
                if from.is_some_and(|f| chunk[f..].iter().any(|&b| b != 0)) {
                    self.text_after_nul = true;
                }
            }
            if nuls > 0 {
                self.nul_bytes += nuls as u64;
                if self.first_nul_line.is_none() {
                    self.first_nul_line = Some(self.line_no + 1);
                }
            }
            let room = MAX_LINE.saturating_sub(buf.len());
            buf.extend(chunk.iter().filter(|&&b| b != 0).take(room));
            self.r.consume(used);
            if end {
                break;
            }
        }
        if !any {
            return None;
        }
        self.line_no += 1;
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Some(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// A reader over a text log, gunzipped when its name ends in `.gz`.
pub fn reader<'a>(r: Box<dyn Read + 'a>, gz: bool) -> Box<dyn BufRead + 'a> {
    if gz {
        Box::new(std::io::BufReader::with_capacity(
            64 * 1024,
            flate2::read::MultiGzDecoder::new(std::io::BufReader::new(r)),
        ))
    } else {
        Box::new(std::io::BufReader::with_capacity(64 * 1024, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dating() -> Dating {
        // 2024-03-01 12:00:00 UTC
        Dating {
            mtime: 1_709_294_400,
            zone: Zone::utc(),
        }
    }

    #[test]
    fn civil_round_trip() {
        for secs in [0i64, 951_782_400, 1_709_294_400, 1_795_000_000] {
            let (y, m, d) = civil(secs);
            assert_eq!(days_from_civil(y, m, d), secs.div_euclid(86_400));
        }
    }

    #[test]
    fn formats() {
        let l = parse_line(
            "2024-02-29T23:59:58.500000+01:00 web1 sshd[812]: error: Bind to port 22 on 0.0.0.0 failed: Address already in use.",
            &dating(),
        );
        assert_eq!(l.host.as_deref(), Some("web1"));
        assert_eq!(l.ident.as_deref(), Some("sshd"));
        assert_eq!(l.pid, Some(812));
        assert!(l.message.starts_with("error: Bind"));
        assert_eq!(
            l.time,
            Some(
                (days_from_civil(2024, 2, 29) * 86_400 + 22 * 3600 + 59 * 60 + 58) * 1_000_000
                    + 500_000
            )
        );
        let l = parse_line(
            "Feb 29 10:00:00 web1 kernel: [    0.000000] Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)",
            &dating(),
        );
        assert!(l.boot_start);
        assert_eq!(
            l.time,
            Some((days_from_civil(2024, 2, 29) * 86_400 + 36_000) * 1_000_000)
        );
        // December lines in a file written in March are from the year before.
        let l = parse_line("Dec  5 01:02:03 web1 CRON[5]: (root) CMD (true)", &dating());
        assert_eq!(
            l.time,
            Some((days_from_civil(2023, 12, 5) * 86_400 + 3723) * 1_000_000)
        );
        assert_eq!(l.ident.as_deref(), Some("CRON"));
        let l = parse_line(
            "2024-02-29 10:00:01,250 - util.py[WARNING]: Failed running /var/lib/cloud/scripts",
            &dating(),
        );
        assert_eq!(l.ident.as_deref(), Some("cloud-init"));
        assert_eq!(
            l.message,
            "util.py[WARNING]: Failed running /var/lib/cloud/scripts"
        );
        assert_eq!(
            l.time,
            Some((days_from_civil(2024, 2, 29) * 86_400 + 36_001) * 1_000_000 + 250_000)
        );
        let l = parse_line(
            "Cloud-init v. 23.1.1 running 'init' at Thu, 29 Feb 2024 10:00:05 +0000. Up 5.30 seconds.",
            &dating(),
        );
        assert_eq!(
            l.time,
            Some((days_from_civil(2024, 2, 29) * 86_400 + 36_005) * 1_000_000)
        );
        let l = parse_line("just text", &dating());
        assert_eq!(l.time, None);
        assert_eq!(l.message, "just text");
        for junk in [
            "",
            "Jan",
            "2024-13-01T00:00:00Z x y",
            "Feb 30 99:00:00 x",
            "\u{feff}é",
        ] {
            let _ = parse_line(junk, &dating());
        }
    }

    #[test]
    fn nul_tail_is_not_a_hole() {
        let mut data = b"one\n".to_vec();
        data.extend(std::iter::repeat_n(0u8, 50_000));
        let mut l = Lines::new(std::io::BufReader::with_capacity(1000, &data[..]));
        while l.next_line().is_some() {}
        assert_eq!(l.nul_bytes, 50_000);
        assert!(!l.text_after_nul);
        // NULs then text within one buffer, and across buffers.
        for cap in [100_000, 1000, 7] {
            let mut data = b"one\n".to_vec();
            data.extend(std::iter::repeat_n(0u8, 5_000));
            data.extend_from_slice(b"Dec  1 10:05:00 host kernel: Linux version 6.1\n");
            let mut l = Lines::new(std::io::BufReader::with_capacity(cap, &data[..]));
            while l.next_line().is_some() {}
            assert!(l.text_after_nul, "{cap}");
        }
    }

    #[test]
    fn bounded_lines_and_nuls() {
        let mut data = b"one\r\n".to_vec();
        data.extend(std::iter::repeat_n(0u8, 100_000));
        data.extend_from_slice(b"two\n");
        data.extend(std::iter::repeat_n(b'x', MAX_LINE * 3));
        let mut l = Lines::new(std::io::BufReader::with_capacity(1000, &data[..]));
        assert_eq!(l.next_line().as_deref(), Some("one"));
        assert_eq!(l.next_line().as_deref(), Some("two"));
        assert_eq!(l.nul_bytes, 100_000);
        assert_eq!(l.first_nul_line, Some(2));
        assert!(l.text_after_nul);
        assert_eq!(l.next_line().map(|s| s.len()), Some(MAX_LINE));
        assert_eq!(l.next_line(), None);
    }
}
