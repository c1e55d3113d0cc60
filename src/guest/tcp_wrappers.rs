//! TCP wrappers (hosts_access(5)) for daemon `sshd` and a client whose address is not known:
//! `/etc/hosts.allow` first (a match grants), then `/etc/hosts.deny` (a match denies), else
//! access is granted. Only sshd builds linked with libwrap read these files.

use crate::fs::RootFs;
use crate::guest::firewall::At;

/// The answer for sshd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Granted: by this rule (or by no rule at all).
    Granted(Option<At>),
    /// Denied for every client by this rule.
    Denied(At),
    /// A rule that applies to some clients only decides: the rule, and what happens to the rest.
    Depends { at: At, otherwise: Box<Access> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum M {
    Yes,
    No,
    Unknown,
}

/// The logical lines of a hosts file (backslash continues a line), with the first line number.
fn rules(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if cur.is_empty() {
            start = i + 1;
        }
        let line = raw.trim_end();
        if let Some(l) = line.strip_suffix('\\') {
            cur.push_str(l);
            cur.push(' ');
            continue;
        }
        cur.push_str(line);
        let t = cur.trim().to_string();
        cur.clear();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        out.push((start, t));
    }
    out
}

/// `list_match` with EXCEPT, over blanks/commas.
fn list_match(list: &str, item: &dyn Fn(&str) -> M) -> M {
    let tokens: Vec<&str> = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    let ex = tokens
        .iter()
        .position(|t| t.eq_ignore_ascii_case("EXCEPT"))
        .unwrap_or(tokens.len());
    let mut r = M::No;
    for t in &tokens[..ex] {
        match item(t) {
            M::Yes => {
                r = M::Yes;
                break;
            }
            M::Unknown => r = M::Unknown,
            M::No => {}
        }
    }
    if r == M::No || ex >= tokens.len() {
        return r;
    }
    match list_match(&tokens[ex + 1..].join(" "), item) {
        M::Yes => M::No,
        M::Unknown => M::Unknown,
        M::No => r,
    }
}

fn daemon(t: &str) -> M {
    let name = t.split('@').next().unwrap_or(t);
    if t.eq_ignore_ascii_case("ALL") || name == "sshd" {
        if t.contains('@') {
            // `sshd@192.168.1.1`: depends on the server address used.
            M::Unknown
        } else {
            M::Yes
        }
    } else {
        M::No
    }
}

fn client(t: &str) -> M {
    if t.eq_ignore_ascii_case("ALL") {
        M::Yes
    } else {
        // LOCAL, KNOWN, UNKNOWN, PARANOID, addresses, domains, netgroups: depends on the client.
        M::Unknown
    }
}

/// One file's verdict for sshd: (Some(true)=matches and grants, Some(false)=matches and denies,
/// None=no rule matches every client), the deciding rule, and the first client-dependent rule.
fn scan(text: &str, file: &str, grant: bool) -> (Option<(bool, At)>, Option<At>) {
    let mut first_unknown: Option<At> = None;
    for (line, r) in rules(text) {
        let fields: Vec<&str> = r.splitn(3, ':').collect();
        if fields.len() < 2 {
            continue;
        }
        let at = At {
            file: file.to_string(),
            line,
            text: r.clone(),
        };
        let dm = list_match(fields[0], &daemon);
        if dm == M::No {
            continue;
        }
        let cm = list_match(fields[1], &client);
        if cm == M::No {
            continue;
        }
        // Options: a trailing `allow` or `deny` overrides the file's meaning.
        let mut verdict = grant;
        if let Some(opts) = fields.get(2) {
            for o in opts.split(':') {
                match o.trim() {
                    "allow" => verdict = true,
                    "deny" => verdict = false,
                    _ => {}
                }
            }
        }
        if dm == M::Yes && cm == M::Yes {
            return (Some((verdict, at)), first_unknown);
        }
        first_unknown.get_or_insert(at);
    }
    (None, first_unknown)
}

/// sshd's access under /etc/hosts.allow and /etc/hosts.deny.
pub fn sshd_access(fs: &RootFs) -> Access {
    let allow = fs
        .read_to_string_lossy("/etc/hosts.allow")
        .unwrap_or_default();
    let deny = fs
        .read_to_string_lossy("/etc/hosts.deny")
        .unwrap_or_default();
    let (a, a_unknown) = scan(&allow, "/etc/hosts.allow", true);
    let decided = |v: bool, at: At| {
        if v {
            Access::Granted(Some(at))
        } else {
            Access::Denied(at)
        }
    };
    let after_allow = if let Some((v, at)) = a {
        decided(v, at)
    } else {
        let (d, d_unknown) = scan(&deny, "/etc/hosts.deny", false);
        let base = match d {
            Some((v, at)) => decided(v, at),
            None => Access::Granted(None),
        };
        match (d_unknown, &base) {
            (Some(u), Access::Granted(_)) => Access::Depends {
                at: u,
                otherwise: Box::new(base),
            },
            _ => base,
        }
    };
    match (a_unknown, &after_allow) {
        (Some(u), Access::Denied(_)) => Access::Depends {
            at: u,
            otherwise: Box::new(after_allow),
        },
        _ => after_allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::mem::MemFs;

    fn access(allow: &str, deny: &str) -> Access {
        let mut m = MemFs::new();
        m.file("/etc/hosts.allow", allow.as_bytes(), 0o644, 0, 0);
        m.file("/etc/hosts.deny", deny.as_bytes(), 0o644, 0, 0);
        sshd_access(&m.into_rootfs())
    }

    #[test]
    fn hosts_access() {
        let debian = "# /etc/hosts.allow: list of hosts that are allowed to access the system.\n";
        assert_eq!(access(debian, "# nothing\n"), Access::Granted(None));
        assert!(matches!(access("", "ALL: ALL\n"), Access::Denied(a) if a.line == 1));
        assert!(matches!(access("", "sshd: ALL\n"), Access::Denied(_)));
        assert!(matches!(access("", "vsftpd: ALL\n"), Access::Granted(None)));
        assert!(matches!(
            access("sshd: ALL\n", "ALL: ALL\n"),
            Access::Granted(Some(_))
        ));
        match access("sshd: 10.0.0.0/255.0.0.0 .example.com\n", "ALL: ALL\n") {
            Access::Depends { at, otherwise } => {
                assert_eq!(at.file, "/etc/hosts.allow");
                assert!(matches!(*otherwise, Access::Denied(_)));
            }
            o => panic!("{o:?}"),
        }
        assert!(matches!(
            access("", "ALL EXCEPT sshd: ALL\n"),
            Access::Granted(None)
        ));
        assert!(matches!(access("ALL: ALL : deny\n", ""), Access::Denied(_)));
        assert!(matches!(access("", "sshd: \\\n  ALL\n"), Access::Denied(a) if a.line == 1));
    }
}
