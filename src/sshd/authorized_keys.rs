//! `authorized_keys` as sshd reads it (`auth2-pubkeyfile.c: auth_check_authkey_line`,
//! `auth-options.c: sshauthopt_parse`): blank and `#` lines skipped, a key with optional leading
//! options, and every line that does not parse skipped *silently* — which is why this module
//! says, line by line, what sshd will ignore and why.

use super::hostkey::{self, KeyType, PublicKey};

/// One option of a key line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyOption {
    /// Lower-cased name.
    pub name: String,
    /// The unquoted value of `name="value"` options.
    pub value: Option<String>,
}

/// A line sshd will use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLine {
    pub line: usize,
    pub options: Vec<KeyOption>,
    pub key: PublicKey,
}

impl KeyLine {
    pub fn option(&self, name: &str) -> Option<&KeyOption> {
        self.options.iter().find(|o| o.name == name)
    }
    /// A `cert-authority` line trusts certificates signed by the key, not the key itself.
    pub fn is_cert_authority(&self) -> bool {
        self.option("cert-authority").is_some()
    }
}

/// Why sshd ignores (or half-ignores) a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineIssue {
    /// The file starts with a UTF-8 byte-order mark: the first key's type is not recognised.
    Bom,
    /// CRLF line ending. `breaks` when the key has no comment, so the base64 ends in `\r`.
    Crlf { breaks: bool },
    /// A private key was pasted into the file.
    PrivateKey,
    /// The key continues on the next line (a copy-paste that wrapped).
    Wrapped,
    /// Options that sshd rejects ("bad key options: …").
    BadOptions(String),
    /// Not a key sshd can read: unknown type, bad base64, mismatched blob.
    BadKey(String),
}

impl LineIssue {
    /// Whether sshd skips the line because of it.
    pub fn skips_line(&self) -> bool {
        !matches!(self, LineIssue::Crlf { breaks: false })
    }
    pub fn describe(&self) -> String {
        match self {
            LineIssue::Bom => "the file starts with a UTF-8 byte-order mark (EF BB BF): sshd does not recognise the first key's type".into(),
            LineIssue::Crlf { breaks: true } => "Windows (CRLF) line ending and no comment: the key's base64 ends in \\r and sshd cannot decode it".into(),
            LineIssue::Crlf { breaks: false } => "Windows (CRLF) line ending (harmless here: the \\r ends up in the comment)".into(),
            LineIssue::PrivateKey => "a PRIVATE key was pasted here: sshd ignores it, and the secret is exposed to anyone who can read the file".into(),
            LineIssue::Wrapped => "the key is split over several lines: each part is unreadable on its own".into(),
            LineIssue::BadOptions(e) => format!("bad key options: {e}"),
            LineIssue::BadKey(e) => format!("not a key sshd can read: {e}"),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizedKeys {
    pub keys: Vec<KeyLine>,
    /// (line, issue), in line order.
    pub issues: Vec<(usize, LineIssue)>,
}

/// Option names sshd knows (`auth-options.c`), flag options and value options.
const FLAG_OPTIONS: &[&str] = &[
    "agent-forwarding",
    "cert-authority",
    "no-agent-forwarding",
    "no-port-forwarding",
    "no-pty",
    "no-user-rc",
    "no-x11-forwarding",
    "no-touch-required",
    "verify-required",
    "port-forwarding",
    "pty",
    "user-rc",
    "x11-forwarding",
    "restrict",
    "touch-required",
];
const VALUE_OPTIONS: &[&str] = &[
    "command",
    "environment",
    "expiry-time",
    "from",
    "permitopen",
    "permitlisten",
    "principals",
    "tunnel",
];

/// Parses an option string (`sshauthopt_parse`): comma separated, names case-insensitive,
/// values double-quoted with `\"` escapes. Returns the options and the rest of the line.
pub fn parse_options(s: &str) -> Result<(Vec<KeyOption>, &str), String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b'_') {
            i += 1;
        }
        let name = s[start..i].to_ascii_lowercase();
        if name.is_empty() {
            return Err(format!(
                "empty option at \"{}\"",
                &s[start..s.len().min(start + 20)]
            ));
        }
        let value = if b.get(i) == Some(&b'=') {
            i += 1;
            if b.get(i) != Some(&b'"') {
                return Err(format!("value of {name} is not in double quotes"));
            }
            i += 1;
            let mut v = String::new();
            loop {
                match b.get(i) {
                    None => return Err(format!("unterminated quote in {name}")),
                    Some(b'\\') if b.get(i + 1) == Some(&b'"') => {
                        v.push('"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(_) => {
                        // Multi-byte characters: copy the whole char.
                        let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
                        v.push(ch);
                        i += ch.len_utf8().max(1);
                    }
                }
            }
            if !VALUE_OPTIONS.contains(&name.as_str()) {
                return Err(format!("unsupported option \"{name}\""));
            }
            Some(v)
        } else {
            if !FLAG_OPTIONS.contains(&name.as_str()) {
                return Err(if VALUE_OPTIONS.contains(&name.as_str()) {
                    format!("option {name} needs a value")
                } else {
                    format!("unsupported option \"{name}\"")
                });
            }
            None
        };
        if value.is_some() && name == "from" && out.iter().any(|o: &KeyOption| o.name == "from") {
            return Err("multiple \"from\" clauses".into());
        }
        if name == "expiry-time" {
            if let Some(v) = &value {
                if parse_expiry(v).is_none() {
                    return Err(format!("invalid expiry time \"{v}\""));
                }
            }
        }
        out.push(KeyOption { name, value });
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b' ') | Some(b'\t') | None => break,
            Some(_) => {
                return Err(format!(
                    "unexpected character after option at \"{}\"",
                    &s[i..s.len().min(i + 20)]
                ));
            }
        }
    }
    Ok((out, s[i..].trim_start_matches([' ', '\t'])))
}

/// `YYYYMMDD[HHMM[SS]]` (optionally `Z` for UTC) as seconds since the epoch, read as UTC (sshd
/// uses local time unless `Z`; offline the guest's zone is not known, so this is within a day).
pub fn parse_expiry(v: &str) -> Option<i64> {
    let v = v.strip_suffix(['Z', 'z']).unwrap_or(v);
    if !v.bytes().all(|c| c.is_ascii_digit()) || !matches!(v.len(), 8 | 12 | 14) {
        return None;
    }
    let n = |a: usize, b: usize| v[a..b].parse::<i64>().ok();
    let (y, m, d) = (n(0, 4)?, n(4, 6)?, n(6, 8)?);
    let (hh, mm, ss) = if v.len() >= 12 {
        (
            n(8, 10)?,
            n(10, 12)?,
            if v.len() == 14 { n(12, 14)? } else { 0 },
        )
    } else {
        (0, 0, 0)
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn looks_like_base64_tail(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty()
        && !t.contains([' ', '\t'])
        && t.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
}

/// Reads the key at the start of `text` the way `sshkey_read` does: type token, base64 token up
/// to a space or tab (a `\r` stays in it), comment.
fn read_key(text: &str) -> Result<PublicKey, String> {
    let (ty, rest) = text
        .split_once([' ', '\t'])
        .ok_or("no base64 field after the key type")?;
    let rest = rest.trim_start_matches([' ', '\t']);
    let b64_end = rest.find([' ', '\t']).unwrap_or(rest.len());
    let b64 = &rest[..b64_end];
    if b64.contains('\r') {
        return Err("the base64 ends in a carriage return".into());
    }
    let line = format!("{ty} {rest}");
    hostkey::parse_public_line(&line).map_err(|e| e.to_string())
}

/// Parses authorized_keys bytes.
pub fn parse(bytes: &[u8]) -> AuthorizedKeys {
    let mut out = AuthorizedKeys::default();
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let n = i + 1;
        let raw = lines[i];
        i += 1;
        let mut l = raw;
        if n == 1 && l.starts_with('\u{feff}') {
            out.issues.push((n, LineIssue::Bom));
            continue;
        }
        let crlf = l.ends_with('\r');
        let body = l.trim_start_matches([' ', '\t']);
        if body.trim_end_matches('\r').is_empty() || body.starts_with('#') {
            continue;
        }
        if body.starts_with("-----BEGIN") && body.contains("PRIVATE KEY") {
            out.issues.push((n, LineIssue::PrivateKey));
            // Skip the rest of the armoured block.
            while i < lines.len() && !lines[i - 1].starts_with("-----END") {
                i += 1;
            }
            continue;
        }
        l = body;
        // sshd first tries a key at the start of the line, then options followed by a key.
        let parsed = match read_key(l) {
            Ok(k) => Ok((Vec::new(), k)),
            Err(first) => match parse_options(l) {
                Ok((opts, rest)) => match read_key(rest) {
                    Ok(k) => Ok((opts, k)),
                    Err(e) => Err(LineIssue::BadKey(if rest.is_empty() { first } else { e })),
                },
                Err(e) => {
                    // A line that starts with a known key type is a broken key, not options.
                    if l.split([' ', '\t']).next().is_some_and(|t| {
                        t.starts_with("ssh-") || t.starts_with("ecdsa-") || t.starts_with("sk-")
                    }) {
                        Err(LineIssue::BadKey(first))
                    } else {
                        Err(LineIssue::BadOptions(e))
                    }
                }
            },
        };
        match parsed {
            Ok((options, key)) => {
                if crlf {
                    out.issues.push((n, LineIssue::Crlf { breaks: false }));
                }
                out.keys.push(KeyLine {
                    line: n,
                    options,
                    key,
                });
            }
            Err(issue) => {
                let wrapped = i < lines.len()
                    && looks_like_base64_tail(lines[i])
                    && !matches!(issue, LineIssue::BadOptions(_));
                let issue = if wrapped {
                    LineIssue::Wrapped
                } else if crlf
                    && matches!(issue, LineIssue::BadKey(ref e) if e.contains("carriage return"))
                {
                    LineIssue::Crlf { breaks: true }
                } else {
                    issue
                };
                out.issues.push((n, issue));
                if wrapped {
                    while i < lines.len() && looks_like_base64_tail(lines[i]) {
                        i += 1;
                    }
                }
            }
        }
    }
    out
}

/// Whether this OpenSSH version accepts a user key of this type at all, by default (`None`) or
/// why not. `accepted` is the effective PubkeyAcceptedAlgorithms list when known.
pub fn key_refused(
    kt: &KeyType,
    version: Option<(u32, u32)>,
    accepted: Option<&[String]>,
    required_rsa: u32,
) -> Option<String> {
    let v = version.unwrap_or((9, 0));
    match kt {
        KeyType::Dsa { .. } if v >= (10, 0) => {
            return Some(
                "DSA (ssh-dss) keys are not supported at all by OpenSSH 10.0 and later".into(),
            );
        }
        KeyType::Rsa { bits: Some(b) } if *b < required_rsa => {
            return Some(format!(
                "the RSA key has {b} bits, below RequiredRSASize {required_rsa}"
            ));
        }
        _ => {}
    }
    // Algorithm names this key can sign with.
    let names: Vec<String> = match kt {
        KeyType::Rsa { .. } => vec![
            "rsa-sha2-512".into(),
            "rsa-sha2-256".into(),
            "ssh-rsa".into(),
        ],
        other => other.ssh_name().into_iter().collect(),
    };
    let default_dss_off = v >= (7, 0);
    match accepted {
        Some(list) => {
            if !names.iter().any(|n| list.iter().any(|a| a == n)) {
                return Some(format!(
                    "PubkeyAcceptedAlgorithms does not include {}",
                    names.join(" / ")
                ));
            }
        }
        None => {
            if matches!(kt, KeyType::Dsa { .. }) && default_dss_off {
                return Some(
                    "ssh-dss is not in the default PubkeyAcceptedAlgorithms since OpenSSH 7.0"
                        .into(),
                );
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRoaXMtaXMtYS10ZXN0LWtleS1mb3ItcmVzY3VlLW9r";

    #[test]
    fn options_like_sshauthopt_parse() {
        let (o, rest) = parse_options("from=\"10.0.0.0/8,!10.1.2.3\",command=\"echo \\\"hi\\\" there\",no-pty ssh-ed25519 AAAA").unwrap();
        assert_eq!(o.len(), 3);
        assert_eq!(o[1].value.as_deref(), Some("echo \"hi\" there"));
        assert_eq!(rest, "ssh-ed25519 AAAA");
        assert!(
            parse_options("bogus ssh-ed25519 A")
                .unwrap_err()
                .contains("unsupported option")
        );
        assert!(
            parse_options("from=\"a\",from=\"b\" k")
                .unwrap_err()
                .contains("multiple")
        );
        assert!(parse_options("command=unquoted k").is_err());
        assert!(parse_options("expiry-time=\"2020\" k").is_err());
        assert!(parse_options("RESTRICT,Pty k").is_ok());
    }

    #[test]
    fn lines_sshd_skips() {
        let text = format!(
            "\u{feff}{ED} first\n# comment\n\n{ED}\r\n{ED} ok\r\nbogus-opt {ED}\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh0aXMt\naXMtYS10ZXN0LWtleS1mb3ItcmVzY3Vl\nexpiry-time=\"20200101\",restrict {ED} old\ncert-authority {ED} ca\n"
        );
        let a = parse(text.as_bytes());
        let issues: Vec<(usize, &LineIssue)> = a.issues.iter().map(|(n, i)| (*n, i)).collect();
        assert_eq!(issues[0], (1, &LineIssue::Bom));
        assert_eq!(issues[1], (4, &LineIssue::Crlf { breaks: true }));
        assert_eq!(issues[2], (5, &LineIssue::Crlf { breaks: false }));
        assert!(matches!(issues[3], (6, LineIssue::BadOptions(_))));
        assert_eq!(issues[4], (7, &LineIssue::PrivateKey));
        assert_eq!(issues[5], (10, &LineIssue::Wrapped));
        assert_eq!(
            a.keys.iter().map(|k| k.line).collect::<Vec<_>>(),
            vec![5, 12, 13]
        );
        assert_eq!(
            a.keys[1]
                .option("expiry-time")
                .and_then(|o| o.value.clone()),
            Some("20200101".into())
        );
        assert!(a.keys[2].is_cert_authority());
    }

    #[test]
    fn expiry_times() {
        assert_eq!(parse_expiry("19700102"), Some(86_400));
        assert_eq!(parse_expiry("202601011200Z"), Some(1_767_268_800));
        assert_eq!(parse_expiry("20261301"), None);
    }
}
