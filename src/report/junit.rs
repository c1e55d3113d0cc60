//! `--format junit`: one test suite, one test case per rule that ran; a rule with findings at or
//! above `--fail-on` fails (one <failure> per finding), lower ones are listed in its system-out.
//! Jenkins, GitLab and Azure DevOps render it.

use std::fmt::Write;

use super::{Report, RuleDoc, Severity};

/// XML text and attribute escaping.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// `threshold`: findings at or above it are failures; None: none are.
pub fn render(report: &Report, rules: &[RuleDoc], threshold: Option<Severity>) -> String {
    let fails = |s: Severity| threshold.is_some_and(|t| s >= t);
    let failing_rules = rules
        .iter()
        .filter(|r| {
            report
                .findings
                .iter()
                .any(|f| f.id == r.id && fails(f.severity))
        })
        .count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = format!("rescue-inspect {}", report.target.path);
    let _ = writeln!(
        x,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{failing_rules}\" errors=\"0\">",
        esc(&suite),
        rules.len()
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failing_rules}\" errors=\"0\" skipped=\"0\">",
        esc(&suite),
        rules.len()
    );
    for r in rules {
        let mine: Vec<_> = report.findings.iter().filter(|f| f.id == r.id).collect();
        let _ = write!(
            x,
            "    <testcase classname=\"rescue-inspect.{}\" name=\"{} {}\"",
            esc(r.category.as_str()),
            esc(r.id),
            esc(r.summary)
        );
        if mine.is_empty() {
            x.push_str("/>\n");
            continue;
        }
        x.push_str(">\n");
        let mut out_lines = String::new();
        for f in &mine {
            let mut body = f.detail.clone();
            if let Some(p) = &f.path {
                let _ = write!(body, "\nwhere: {p}");
                if let Some(l) = f.line {
                    let _ = write!(body, ":{l}");
                }
            }
            if let Some(u) = &f.user {
                let _ = write!(body, "\nuser: {u}");
            }
            if let Some(fix) = &f.fix {
                let _ = write!(body, "\nfix: {fix}");
            }
            if fails(f.severity) {
                let _ = writeln!(
                    x,
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                    esc(&f.title),
                    f.severity.as_str(),
                    esc(&body)
                );
            } else {
                let _ = writeln!(out_lines, "[{}] {}\n{}", f.severity.as_str(), f.title, body);
            }
        }
        if !out_lines.is_empty() {
            let _ = writeln!(x, "      <system-out>{}</system-out>", esc(&out_lines));
        }
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
