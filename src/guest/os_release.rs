//! `os-release(5)`: `/etc/os-release`, falling back to `/usr/lib/os-release`.

use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OsRelease {
    pub id: Option<String>,
    pub version_id: Option<String>,
    pub pretty_name: Option<String>,
    /// `ID_LIKE`, split on spaces (`rhel centos fedora`).
    #[serde(skip)]
    pub id_like: Vec<String>,
    #[serde(skip)]
    pub fields: BTreeMap<String, String>,
}

/// The family a distribution's packaging and defaults come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Debian, Ubuntu and derivatives: dpkg/apt.
    Debian,
    /// RHEL, CentOS, Rocky, Alma, Fedora, Amazon Linux, Oracle: rpm/dnf (yum).
    Rhel,
    /// SUSE: rpm/zypper.
    Suse,
    Other,
}

impl OsRelease {
    pub fn family(&self) -> Family {
        if self.is_like("debian") || self.is_like("ubuntu") {
            Family::Debian
        } else if [
            "rhel",
            "fedora",
            "centos",
            "amzn",
            "rocky",
            "almalinux",
            "ol",
        ]
        .iter()
        .any(|id| self.is_like(id))
        {
            Family::Rhel
        } else if self.is_like("suse") || self.is_like("opensuse") || self.is_like("sles") {
            Family::Suse
        } else {
            Family::Other
        }
    }

    /// Whether the OS is `id` or says it is like it (`ID_LIKE`).
    pub fn is_like(&self, id: &str) -> bool {
        self.id.as_deref() == Some(id) || self.id_like.iter().any(|l| l == id)
    }

    /// A one-line name: `PRETTY_NAME`, else `ID VERSION_ID`.
    pub fn display_name(&self) -> String {
        if let Some(p) = &self.pretty_name {
            return p.clone();
        }
        match (&self.id, &self.version_id) {
            (Some(i), Some(v)) => format!("{i} {v}"),
            (Some(i), None) => i.clone(),
            _ => "unknown".into(),
        }
    }
}

/// Parses os-release text. Unparseable lines are ignored, as systemd does.
pub fn parse(text: &str) -> OsRelease {
    let mut fields = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        fields.insert(k.to_string(), unquote(v.trim()));
    }
    OsRelease {
        id: fields.get("ID").cloned().filter(|s| !s.is_empty()),
        version_id: fields.get("VERSION_ID").cloned().filter(|s| !s.is_empty()),
        pretty_name: fields.get("PRETTY_NAME").cloned().filter(|s| !s.is_empty()),
        id_like: fields
            .get("ID_LIKE")
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
        fields,
    }
}

/// Shell-style value: `"..."` with backslash escapes, `'...'` literal, or bare.
fn unquote(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"') | (None, '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            (None, '#') => break,
            (None, c) if c.is_whitespace() => break,
            (_, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_12() {
        let t = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";
        let o = parse(t);
        assert_eq!(o.id.as_deref(), Some("debian"));
        assert_eq!(o.version_id.as_deref(), Some("12"));
        assert_eq!(o.display_name(), "Debian GNU/Linux 12 (bookworm)");
    }

    #[test]
    fn rhel_like_and_quotes() {
        let o = parse(
            "ID='rocky'\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n# c\nbad line\nX=\"a\\\"b\"\n",
        );
        assert!(o.is_like("rhel"));
        assert_eq!(o.fields["X"], "a\"b");
        assert_eq!(o.display_name(), "rocky 9.3");
    }
}
