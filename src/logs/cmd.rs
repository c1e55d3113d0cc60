//! `rescue-inspect logs`: filters and renderers over the merged stream.

use std::io::Write;

use regex::Regex;

use super::collect::{self, Boot, Merged, Record, SourceSel};
use crate::fs::RootFs;

/// What to show.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// `0`/`-1`… relative to the last boot, `1`/`2`… from the first, or a boot ID.
    pub boot: Option<String>,
    /// Unit names (`ssh` means `ssh.service`).
    pub units: Vec<String>,
    pub grep: Option<String>,
    /// µs since the epoch, inclusive.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub source: SourceSel,
    pub json: bool,
}

/// `2024-01-02`, `2024-01-02 03:04[:05]`, `2024-01-02T03:04:05[Z|+01:00]`, `@EPOCH` → µs (UTC
/// unless an offset is given).
pub fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "cannot read time {s:?}: write YYYY-MM-DD, 'YYYY-MM-DD HH:MM[:SS]' (UTC), an RFC 3339 time or @SECONDS"
        )
    };
    let s = s.trim();
    if let Some(e) = s.strip_prefix('@') {
        return e.parse::<i64>().map(|v| v * 1_000_000).map_err(|_| bad());
    }
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut it = date.split('-');
    let (y, m, d) = (
        it.next()
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(bad)?,
        it.next()
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(bad)?,
        it.next()
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(bad)?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || it.next().is_some() {
        return Err(bad());
    }
    let mut secs = super::text::days_from_civil(y, m, d) * 86_400;
    if let Some(t) = time {
        let (clock, off) = match t.find(['Z', '+', '-']) {
            Some(i) => (&t[..i], &t[i..]),
            None => (t, ""),
        };
        let parts: Vec<&str> = clock.split(':').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(bad());
        }
        let n = |v: &str| v.split('.').next().and_then(|x| x.parse::<i64>().ok());
        let (h, mi, se) = (
            n(parts[0]).ok_or_else(bad)?,
            n(parts[1]).ok_or_else(bad)?,
            parts
                .get(2)
                .map(|p| n(p).ok_or_else(bad))
                .transpose()?
                .unwrap_or(0),
        );
        if h > 23 || mi > 59 || se > 60 {
            return Err(bad());
        }
        secs += h * 3600 + mi * 60 + se;
        if !off.is_empty() && off != "Z" {
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let o = off[1..].replace(':', "");
            if o.len() != 4 || !o.is_ascii() {
                return Err(bad());
            }
            let oh: i64 = o[..2].parse().map_err(|_| bad())?;
            let om: i64 = o[2..].parse().map_err(|_| bad())?;
            secs -= sign * (oh * 3600 + om * 60);
        }
    }
    Ok(secs * 1_000_000)
}

/// The boot `sel` names.
pub fn pick_boot<'b>(boots: &'b [Boot], sel: &str) -> Result<&'b Boot, String> {
    let sel = sel.trim();
    if sel.len() == 32 && sel.bytes().all(|b| b.is_ascii_hexdigit()) {
        let low = sel.to_ascii_lowercase();
        return boots
            .iter()
            .find(|b| b.id.as_deref() == Some(low.as_str()))
            .ok_or_else(|| format!("no boot {sel} in the guest's logs"));
    }
    let n: i64 = sel
        .parse()
        .map_err(|_| format!("--boot takes 0, -1, -2… (0 is the last boot), 1, 2… (from the first) or a boot ID, not {sel:?}"))?;
    let found = if n <= 0 {
        boots.iter().find(|b| b.offset == n)
    } else {
        boots.get((n - 1) as usize)
    };
    found.ok_or_else(|| {
        format!(
            "no boot {n}: the logs hold {} boot{}",
            boots.len(),
            if boots.len() == 1 { "" } else { "s" }
        )
    })
}

fn unit_name(u: &str) -> String {
    if u.contains('.') {
        u.to_string()
    } else {
        format!("{u}.service")
    }
}

/// journalctl `-u`: the unit's own processes, systemd's messages about it, its core dumps.
/// Text lines match by program name (`ssh` also matches `sshd`) or systemd's lines naming it.
fn unit_matches(r: &Record, units: &[String]) -> bool {
    units.iter().any(|u| {
        let full = unit_name(u);
        let base = full.rsplit_once('.').map(|x| x.0).unwrap_or(&full);
        if !r.fields.is_empty() {
            let f = |n: &str| r.field(n) == Some(full.as_bytes());
            return f("_SYSTEMD_UNIT")
                || f("COREDUMP_UNIT")
                || (r.field("_PID") == Some(b"1") && f("UNIT"))
                || (r.field("_UID") == Some(b"0") && f("OBJECT_SYSTEMD_UNIT"));
        }
        match r.ident.as_deref() {
            Some(i) if i == base || i.strip_suffix('d') == Some(base) => true,
            Some("systemd") => r.message.contains(&full),
            _ => false,
        }
    })
}

/// `--grep`: case-insensitive when the pattern has no upper-case letter (journalctl's rule).
pub fn grep_regex(p: &str) -> Result<Regex, String> {
    let insensitive = !p.chars().any(char::is_uppercase);
    regex::RegexBuilder::new(p)
        .case_insensitive(insensitive)
        .size_limit(1 << 22)
        .build()
        .map_err(|e| format!("--grep: {e}"))
}

fn json_value(v: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(v) {
        Ok(s) if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => s.into(),
        _ => v.iter().map(|&b| serde_json::Value::from(b)).collect(),
    }
}

fn record_json(r: &Record, boot: Option<&Boot>) -> serde_json::Value {
    // Field order as stored; a field with several values becomes an array of them.
    let mut order: Vec<String> = Vec::new();
    let mut values: std::collections::HashMap<String, Vec<serde_json::Value>> = Default::default();
    for f in &r.fields {
        let Some(i) = f.iter().position(|&b| b == b'=') else {
            continue;
        };
        let name = String::from_utf8_lossy(&f[..i]).into_owned();
        let v = json_value(&f[i + 1..]);
        values
            .entry(name.clone())
            .or_insert_with(|| {
                order.push(name);
                Vec::new()
            })
            .push(v);
    }
    let mut fields = serde_json::Map::new();
    for name in order {
        let mut v = values.remove(&name).unwrap_or_default();
        let one = if v.len() == 1 {
            v.pop().unwrap_or_default()
        } else {
            serde_json::Value::Array(v)
        };
        fields.insert(name, one);
    }
    serde_json::json!({
        "time": (r.time != 0).then(|| crate::time::format_utc(r.time.div_euclid(1_000_000))),
        "realtime_usec": r.time,
        "monotonic_usec": r.monotonic,
        "boot_id": r.boot_id.map(|b| super::journal::id_hex(&b)),
        "boot": boot.map(|b| b.offset),
        "host": r.host,
        "ident": r.ident,
        "pid": r.pid,
        "unit": r.unit,
        "priority": r.priority,
        "message": r.message,
        "source": r.origin,
        "fields": if r.fields.is_empty() { serde_json::Value::Null } else { fields.into() },
    })
}

fn record_text(r: &Record) -> String {
    let secs = r.time.div_euclid(1_000_000);
    let mut s = if r.time == 0 {
        "(time unknown)     ".to_string()
    } else {
        crate::time::format_utc(secs)
    };
    s.push(' ');
    s.push_str(r.host.as_deref().unwrap_or("-"));
    s.push(' ');
    s.push_str(r.ident.as_deref().unwrap_or("-"));
    if let Some(p) = r.pid {
        s.push_str(&format!("[{p}]"));
    }
    s.push_str(": ");
    s.push_str(&r.message.replace('\n', "\n    "));
    s.push('\n');
    s
}

/// Runs the query, writing to `out`; notes about damaged files go to `err`. Returns the number
/// of records written.
pub fn run(
    fs: &RootFs,
    q: &Query,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u64, String> {
    let sources = collect::discover(fs);
    if sources.journals.is_empty() && sources.texts.is_empty() {
        return Err(
            "no logs in the guest: neither /var/log/journal nor text logs in /var/log".into(),
        );
    }
    let grep = q.grep.as_deref().map(grep_regex).transpose()?;
    // The boot list costs one pass over entry headers and the text logs.
    let boots = collect::boots(fs, &sources, q.source);
    let only = match &q.boot {
        Some(sel) => Some(pick_boot(&boots, sel)?.clone()),
        None => None,
    };
    let mut n = 0u64;
    let mut shown_boot: Option<usize> = None;
    let mut merged = Merged::open(fs, &sources, q.source);
    for r in &mut merged {
        if q.since.is_some_and(|s| r.time < s) || q.until.is_some_and(|u| r.time > u) {
            continue;
        }
        let bi = collect::boot_of(&boots, &r);
        if let Some(b) = &only {
            if bi.and_then(|i| boots.get(i)) != Some(b) {
                continue;
            }
        }
        if !q.units.is_empty() && !unit_matches(&r, &q.units) {
            continue;
        }
        if let Some(g) = &grep {
            if !g.is_match(&r.message) {
                continue;
            }
        }
        let boot = bi.and_then(|i| boots.get(i));
        let line = if q.json {
            let mut s = serde_json::to_string(&record_json(&r, boot)).unwrap_or_default();
            s.push('\n');
            s
        } else {
            let mut s = String::new();
            if bi.is_some() && bi != shown_boot {
                if let Some(b) = boot {
                    s.push_str(&format!(
                        "-- Boot {} ({}), from {} --\n",
                        b.id.as_deref().unwrap_or("(text logs)"),
                        b.offset,
                        crate::time::format_utc(b.first.div_euclid(1_000_000))
                    ));
                }
                shown_boot = bi;
            }
            s.push_str(&record_text(&r));
            s
        };
        if out.write_all(line.as_bytes()).is_err() {
            // A closed pipe (`| head`).
            return Ok(n);
        }
        n += 1;
    }
    for rep in merged.reports() {
        notes(&rep, err);
    }
    Ok(n)
}

/// One line on stderr per problem a file had.
pub fn notes(rep: &collect::FileReport, err: &mut dyn Write) {
    if let Some(e) = &rep.error {
        let _ = writeln!(err, "note: {}: not read: {e}", rep.path);
    }
    if let Some(s) = &rep.stop {
        let _ = writeln!(
            err,
            "note: {}: read {} entries, stopped at offset {}: {}",
            rep.path, s.after_entries, s.offset, s.reason
        );
    }
    if rep.skipped_entries > 0 {
        let _ = writeln!(
            err,
            "note: {}: skipped {} damaged entr{} (first: {})",
            rep.path,
            rep.skipped_entries,
            if rep.skipped_entries == 1 { "y" } else { "ies" },
            rep.first_skip.as_deref().unwrap_or("?")
        );
    }
    if rep.nul_bytes > 0 {
        let _ = writeln!(
            err,
            "note: {}: {} NUL bytes from line {} (written while the host lost power or crashed)",
            rep.path,
            rep.nul_bytes,
            rep.first_nul_line.unwrap_or(0)
        );
    }
}

/// `--list-boots`, like journalctl's.
pub fn list_boots(fs: &RootFs, source: SourceSel, json: bool) -> String {
    let sources = collect::discover(fs);
    let boots = collect::boots(fs, &sources, source);
    if json {
        return serde_json::to_string_pretty(&boots).unwrap_or_default() + "\n";
    }
    let mut s = String::new();
    for b in &boots {
        s.push_str(&format!(
            "{:>4} {:<32} {} — {}\n",
            b.offset,
            b.id.as_deref().unwrap_or("(text logs only)"),
            crate::time::format_utc(b.first.div_euclid(1_000_000)),
            if b.last == i64::MAX {
                "…".to_string()
            } else {
                crate::time::format_utc(b.last.div_euclid(1_000_000))
            }
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("@10").unwrap(), 10_000_000);
        assert_eq!(parse_time("1970-01-02").unwrap(), 86_400_000_000);
        assert_eq!(parse_time("1970-01-01 01:00").unwrap(), 3_600_000_000);
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00").unwrap(), 0);
        assert_eq!(parse_time("1970-01-01T01:00:00Z").unwrap(), 3_600_000_000);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2024-13-01").is_err());
    }

    #[test]
    fn boots_by_offset() {
        let b = |o: i64, id: &str| Boot {
            offset: o,
            id: Some(id.repeat(32)),
            first: 0,
            last: 0,
            entries: 1,
            raw: None,
        };
        let boots = vec![b(-1, "a"), b(0, "b")];
        assert_eq!(pick_boot(&boots, "0").unwrap().offset, 0);
        assert_eq!(pick_boot(&boots, "-1").unwrap().offset, -1);
        assert_eq!(pick_boot(&boots, "1").unwrap().offset, -1);
        assert!(pick_boot(&boots, "-2").is_err());
        assert_eq!(pick_boot(&boots, &"B".repeat(32)).unwrap().offset, 0);
        assert!(pick_boot(&boots, "x").is_err());
    }
}
