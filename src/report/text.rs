//! The report for people: grouped by severity, each finding with where, why and the fix.

use std::fmt::Write;

use super::{Confidence, Finding, LoginState, Report, Severity};

/// ANSI styling, off when colour is not wanted.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn dim(self, s: &str) -> String {
        self.paint("2", s)
    }
    pub fn severity(self, sev: Severity, s: &str) -> String {
        match sev {
            Severity::Critical => self.paint("1;31", s),
            Severity::Warning => self.paint("1;33", s),
            Severity::Info => self.paint("1;36", s),
        }
    }
}

pub fn render(report: &Report, style: Style) -> String {
    let mut out = String::new();
    let t = &report.target;
    let _ = writeln!(out, "{} {}", style.bold("Target:"), t.path);
    if let Some(i) = t.image.as_ref().filter(|i| i.format != "raw") {
        let _ = writeln!(
            out,
            "  image {}",
            crate::report::partitions::image_summary(i)
        );
    }
    if let Some(p) = &t.partition {
        let label = p
            .label
            .as_deref()
            .map(|l| format!(" \"{l}\""))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  partition {} ({}, {}{label}), {} bytes at offset {}",
            p.index, p.scheme, p.type_name, p.size, p.start
        );
    }
    if let Some(fs) = &t.filesystem {
        let mut line = format!("  filesystem {}", fs.fs_type);
        if let Some(u) = &fs.uuid {
            let _ = write!(line, " UUID={u}");
        }
        if let Some(l) = &fs.label {
            let _ = write!(line, " LABEL={l}");
        }
        let _ = writeln!(out, "{line}");
    }
    if let Some(os) = &t.os {
        let name = os
            .pretty_name
            .clone()
            .or_else(|| os.id.clone())
            .unwrap_or_else(|| "unknown".into());
        let _ = writeln!(out, "  os {name}");
    }
    out.push('\n');

    for sev in [Severity::Critical, Severity::Warning, Severity::Info] {
        let group: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.severity == sev)
            .collect();
        if group.is_empty() {
            continue;
        }
        let head = format!("{} ({})", sev.as_str().to_uppercase(), group.len());
        let _ = writeln!(out, "{}", style.severity(sev, &head));
        for f in group {
            render_finding(&mut out, f, style);
        }
        out.push('\n');
    }
    if report.findings.is_empty() {
        let _ = writeln!(out, "No findings.\n");
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "{} {} critical, {} warning, {} info",
        style.bold("Summary:"),
        s.critical,
        s.warning,
        s.info
    );
    let starts = match report.verdict.sshd_starts {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "not determined",
    };
    let _ = writeln!(out, "{} {starts}", style.bold("sshd starts:"));
    for l in &report.verdict.logins {
        let state = match l.key_login {
            LoginState::Allowed => "allowed",
            LoginState::Blocked => "BLOCKED",
            LoginState::Unknown => "unknown",
        };
        let reasons = if l.reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", l.reasons.join(", "))
        };
        let _ = writeln!(
            out,
            "{} {}: {state}{reasons}",
            style.bold("key login"),
            l.user
        );
    }
    out
}

fn render_finding(out: &mut String, f: &Finding, style: Style) {
    let _ = writeln!(
        out,
        "  {} {}",
        style.severity(f.severity, &format!("[{}]", f.id)),
        f.title
    );
    let mut place = String::new();
    if let Some(p) = &f.path {
        place.push_str(p);
        if let Some(l) = f.line {
            let _ = write!(place, ":{l}");
        }
    }
    if let Some(u) = &f.user {
        if !place.is_empty() {
            place.push_str("  ");
        }
        let _ = write!(place, "user {u}");
    }
    if !place.is_empty() {
        let _ = writeln!(out, "    {} {place}", style.dim("where:"));
    }
    for (i, line) in f.detail.lines().enumerate() {
        let label = if i == 0 { "why:  " } else { "      " };
        let _ = writeln!(out, "    {} {line}", style.dim(label));
    }
    let sure = match f.confidence {
        Confidence::Certain => "certain",
        Confidence::Likely => "likely",
        Confidence::Possible => "possible",
    };
    let _ = writeln!(out, "    {} {sure}", style.dim("sure: "));
    if let Some(fix) = &f.fix {
        for (i, line) in fix.lines().enumerate() {
            let label = if i == 0 { "fix:  " } else { "      " };
            let _ = writeln!(out, "    {} {}", style.dim(label), style.bold(line));
        }
    }
}
