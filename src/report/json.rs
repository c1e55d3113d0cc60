//! `--format json`: report contract v1 (see the README).

use super::Report;

pub fn render(report: &Report) -> String {
    // Serializing plain structs of strings and numbers cannot fail.
    let mut s = serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"schema\":\"{}\",\"error\":\"{e}\"}}", super::SCHEMA));
    s.push('\n');
    s
}
