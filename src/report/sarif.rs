//! `--format sarif`: SARIF 2.1.0, one run, for CI code-scanning views (GitHub code scanning,
//! GitLab, Azure DevOps). Rules come from the registry; each finding is a result whose location
//! is the guest path, relative to the `GUEST_ROOT` base (the root of the inspected filesystem).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Report, RuleDoc, Severity};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// The first paragraph of a rule's document.
fn first_paragraph(doc: &str) -> &str {
    doc.split("\n\n").next().unwrap_or(doc)
}

pub fn render(report: &Report, rules: &[RuleDoc]) -> String {
    let rule_objs: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id.replace('-', ""),
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": first_paragraph(r.doc)},
                "help": {"text": r.doc},
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {"tags": [r.category.as_str()], "severity": r.severity.as_str()}
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut text = f.title.clone();
            if !f.detail.is_empty() {
                text.push('\n');
                text.push_str(&f.detail);
            }
            if let Some(fix) = &f.fix {
                text.push_str("\nFix: ");
                text.push_str(fix);
            }
            let mut result = json!({
                "ruleId": f.id,
                "level": level(f.severity),
                "message": {"text": text},
                "properties": {
                    "severity": f.severity.as_str(),
                    "category": f.category.as_str(),
                    "confidence": f.confidence,
                }
            });
            if let Some(i) = rules.iter().position(|r| r.id == f.id) {
                result["ruleIndex"] = json!(i);
            }
            if let Some(u) = &f.user {
                result["properties"]["user"] = json!(u);
            }
            if let Some(fix) = &f.fix {
                result["properties"]["fix"] = json!(fix);
            }
            if let Some(p) = &f.path {
                let uri = p.trim_start_matches('/');
                let mut loc = json!({
                    "physicalLocation": {
                        "artifactLocation": {"uri": if uri.is_empty() { "." } else { uri }, "uriBaseId": "GUEST_ROOT"}
                    }
                });
                if let Some(l) = f.line.filter(|l| *l > 0) {
                    loc["physicalLocation"]["region"] = json!({"startLine": l});
                }
                result["locations"] = json!([loc]);
            }
            // A stable identity across runs, so CI views track a finding rather than a line.
            let mut h = Sha256::new();
            h.update(format!(
                "{}\0{}\0{}\0{}",
                f.id,
                f.path.as_deref().unwrap_or(""),
                f.user.as_deref().unwrap_or(""),
                f.title
            ));
            let digest: String = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
            result["partialFingerprints"] = json!({"rescueInspectFinding/v1": digest});
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": report.tool.name,
                "version": report.tool.version,
                "semanticVersion": report.tool.version,
                "informationUri": "https://github.com/rescue-inspect/rescue-inspect",
                "rules": rule_objs,
            }},
            "originalUriBaseIds": {
                "GUEST_ROOT": {
                    "uri": "file:///",
                    "description": {"text": "The root of the inspected guest filesystem"}
                }
            },
            "invocations": [{"executionSuccessful": true}],
            "results": results,
            "properties": {
                "target": report.target,
                "verdict": report.verdict,
                "summary": report.summary,
            }
        }]
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
