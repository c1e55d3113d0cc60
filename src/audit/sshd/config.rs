//! sshd_config as the guest's sshd reads it: errors that stop sshd at start, options it ignores,
//! keywords this tool's table does not have.

use crate::audit::{Rule, Settings};
use crate::report::{Category, Confidence, Finding, Severity};
use crate::sshd::config::keywords::{self, State};
use crate::sshd::config::{Build, Level, Parsed, Problem, Vendor, options};

pub static CFG_001: Rule = Rule {
    id: "SSHD-CFG-001",
    severity: Severity::Critical,
    category: Category::SshdConfig,
    summary: "sshd's configuration has an error: sshd exits at start",
    doc: "Reads /etc/ssh/sshd_config and every file it Includes exactly as the guest's own sshd \
release reads them (OpenSSH's tokeniser, the keyword table of that release and distribution, \
first-value-wins, Include globs relative to /etc/ssh, Match blocks syntax-checked at start), and \
reports every message sshd would log before giving up: an unknown keyword (\"Bad configuration \
option\"), a bad value (\"unsupported option\", \"Badly formatted port number\", an unknown \
algorithm), a keyword that is not allowed inside Match, a bad Match condition, missing or extra \
arguments, unbalanced quotes.\n\nWhy it matters: sshd exits at once (or after reading the file, \
\"terminating, N bad configuration options\"); systemd gives up after a few restarts and nothing \
listens on port 22.\n\nFix: the finding names the file and line and gives the edit (the keyword's \
right spelling, or commenting the line out to fall back to the default). After booting, `sshd -t` \
confirms.",
};

pub static CFG_002: Rule = Rule {
    id: "SSHD-CFG-002",
    severity: Severity::Info,
    category: Category::SshdConfig,
    summary: "an sshd_config option is deprecated or unsupported and ignored",
    doc: "Options this OpenSSH release only logs and ignores (\"Deprecated option\", \"Unsupported \
option\"): UsePrivilegeSeparation, RSAAuthentication, Protocol, KerberosGetAFSToken in a build \
without AFS, …\n\nWhy it matters: sshd starts, but the line has no effect; whoever wrote it may \
rely on a behaviour that is not there.\n\nFix: remove the line.",
};

pub static CFG_003: Rule = Rule {
    id: "SSHD-CFG-003",
    severity: Severity::Warning,
    category: Category::SshdConfig,
    summary: "an sshd_config keyword is not in this tool's table (the guest's sshd knows it)",
    doc: "A keyword that is not in rescue-inspect's table for the guest's OpenSSH release and \
distribution, but that the guest's sshd program names in its own keyword table (a distribution \
patch or a newer release).\n\nWhy it matters: sshd accepts the line, but this tool did not \
evaluate what it does; verdicts that depend on it may be incomplete.\n\nFix: nothing to fix on \
the volume; check the keyword in the distribution's sshd_config(5).",
};

pub static RULES: &[&Rule] = &[&CFG_001, &CFG_002, &CFG_003];

/// Edit distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Keyword spellings in OpenSSH's mixed case, for suggestions.
pub fn display_case(lower: &str) -> String {
    const WORDS: &[&str] = &[
        "Accepted",
        "Accept",
        "Address",
        "Agent",
        "Algorithms",
        "Allow",
        "Authentication",
        "Authorized",
        "Auth",
        "Banner",
        "Bind",
        "Bulk",
        "CA",
        "Challenge",
        "Channel",
        "Check",
        "Chroot",
        "Cleanup",
        "Client",
        "Command",
        "Compression",
        "Count",
        "Credentials",
        "Debian",
        "Delegate",
        "Deny",
        "Directory",
        "Disable",
        "DNS",
        "Empty",
        "Env",
        "Environment",
        "Expose",
        "Facility",
        "Family",
        "File",
        "Fingerprint",
        "Force",
        "Forwarding",
        "Gateway",
        "GSSAPI",
        "Grace",
        "Group",
        "Groups",
        "Hash",
        "Host",
        "Hostbased",
        "Ignore",
        "Include",
        "Info",
        "Interval",
        "IPQoS",
        "Kbd",
        "Interactive",
        "Keep",
        "Kerberos",
        "Kex",
        "Key",
        "Keys",
        "Known",
        "Last",
        "Level",
        "Limit",
        "Listen",
        "Local",
        "Localhost",
        "Log",
        "Login",
        "MACs",
        "Mask",
        "Match",
        "Max",
        "Methods",
        "Modes",
        "Moduli",
        "Motd",
        "Name",
        "Net",
        "No",
        "Offset",
        "Open",
        "Options",
        "PAM",
        "Password",
        "Passwords",
        "Path",
        "Per",
        "Permit",
        "Pid",
        "Port",
        "Principals",
        "Print",
        "Provider",
        "Pubkey",
        "RC",
        "RDomain",
        "Rekey",
        "Required",
        "Response",
        "Revoked",
        "Rhosts",
        "Root",
        "RSA",
        "Security",
        "Session",
        "Sessions",
        "Set",
        "Size",
        "Source",
        "Startups",
        "Stream",
        "Strict",
        "Subsystem",
        "Syslog",
        "TCP",
        "Timeout",
        "Trusted",
        "TTY",
        "Tunnel",
        "Unlink",
        "Unused",
        "Use",
        "User",
        "Users",
        "Uses",
        "Verbose",
        "Version",
        "X11",
        "XAuth",
        "Ciphers",
        "Addendum",
        "Alive",
        "Block",
        "Connection",
        "Display",
        "Exemptlist",
        "Penalties",
        "Acceptor",
        "From",
        "Packet",
        "Only",
        "Cert",
        "Certificate",
        "Type",
        "Types",
        "Location",
        "Algorithms",
    ];
    let mut out = String::new();
    let mut rest = lower;
    'outer: while !rest.is_empty() {
        let mut best: Option<&str> = None;
        for w in WORDS {
            let wl = w.to_ascii_lowercase();
            if rest.starts_with(&wl) && best.is_none_or(|b| b.len() < w.len()) {
                best = Some(w);
            }
        }
        match best {
            Some(w) => {
                out.push_str(w);
                rest = &rest[w.len()..];
            }
            None => {
                out.push_str(rest);
                break 'outer;
            }
        }
    }
    out
}

/// The closest keyword this build knows to a misspelled one.
pub fn suggest(keyword: &str, b: &Build) -> Option<String> {
    let lower = keyword.to_ascii_lowercase();
    let vendor: &[keywords::Keyword] = match b.vendor {
        Vendor::Debian => keywords::DEBIAN,
        Vendor::Rhel => keywords::RHEL,
        Vendor::Suse => keywords::SUSE,
        Vendor::Upstream => &[],
    };
    keywords::UPSTREAM
        .iter()
        .chain(vendor.iter())
        .filter(|k| {
            matches!(keywords::state_at(k, b.version_code()), State::A | State::G)
                && k.name == k.canon
        })
        .map(|k| (distance(&lower, k.name), k.name))
        .filter(|(d, n)| *d <= 3.max(n.len() / 6) && *d < n.len() / 2)
        .min()
        .map(|(_, n)| display_case(n))
}

/// The valid words of a multistate keyword, for "unsupported option" messages.
fn valid_values(canon_lower: &str, b: &Build) -> Option<String> {
    if let Some(t) = options::multistate_of(canon_lower, b) {
        return Some(t.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", "));
    }
    None
}

fn sed_comment(file: &str, line: usize, s: &Settings) -> String {
    format!("sed -i '{line}s/^/#/' {}", s.host_path(file))
}

fn cfg_001(p: &Problem, all: &[Problem], b: &Build, s: &Settings) -> Finding {
    let conf = if b.version_known {
        Confidence::Certain
    } else {
        Confidence::Likely
    };
    let mut detail = format!("{} reads {} and logs: \"{}\"", b.describe(), p.file, p.text);
    if p.level == Level::Error {
        if let Some(t) = all
            .iter()
            .find(|q| q.level == Level::Fatal && q.line == 0 && q.file == p.file)
        {
            detail.push_str(&format!(", then \"{}\"", t.text));
        }
    }
    detail.push_str(": sshd exits and nothing listens for SSH.");
    let comment_out = sed_comment(&p.file, p.line, s);
    let fix = if let Some(kw) = p.message.strip_prefix("Bad configuration option: ") {
        match suggest(kw, b) {
            Some(good) => format!(
                "sed -i '{}s/{kw}/{good}/' {}   # the keyword is spelled {good}",
                p.line,
                s.host_path(&p.file)
            ),
            None => format!(
                "{comment_out}   # {kw} is not an option of {}",
                b.describe()
            ),
        }
    } else if p.message.starts_with("unsupported option") {
        let canon = keywords::lookup(&p.keyword, b).map(|(k, _)| k.canon);
        match canon.and_then(|c| valid_values(c, b)) {
            Some(v) => format!(
                "{comment_out}   # back to the default; {} takes one of: {v}",
                p.keyword
            ),
            None => format!(
                "{comment_out}   # back to the default; {} takes yes or no",
                p.keyword
            ),
        }
    } else if p.message.contains("is not allowed within a Match block") {
        format!(
            "move line {} of {} above the first Match line (or comment it out: {comment_out})",
            p.line, p.file
        )
    } else {
        format!("{comment_out}   # or correct the value; then `sshd -t` after boot")
    };
    let title = if p.line > 0 {
        format!("sshd will not start: {}:{}: {}", p.file, p.line, p.message)
    } else {
        format!("sshd will not start: {}", p.message)
    };
    let mut f = CFG_001
        .finding(title, detail)
        .at(p.file.clone())
        .confidence(conf)
        .fix(fix);
    if p.line > 0 {
        f = f.line(p.line);
    }
    f
}

/// SSHD-CFG-001..003 from the start-up parse.
pub fn audit(global: &Parsed, b: &Build, s: &Settings, out: &mut Vec<Finding>) {
    // The main file missing or unreadable is FILE-001/FILE-004's finding.
    if global.problems.len() == 1 && global.problems[0].line == 0 && global.fatal {
        return;
    }
    let mut seen: Vec<(String, usize, String)> = Vec::new();
    for p in &global.problems {
        let key = (p.file.clone(), p.line, p.message.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        match p.level {
            Level::Fatal | Level::Error => {
                // "terminating, N bad configuration options" is said with the errors.
                if p.line == 0 && p.message.contains("terminating") {
                    continue;
                }
                // auth2_methods_valid's own line precedes the fatal on the same line.
                if p.text == p.message && p.line > 0 && p.keyword != "Match" {
                    continue;
                }
                // match_cfg_line's reason precedes "Bad Match condition": keep the reason.
                if p.message == "Bad Match condition" {
                    continue;
                }
                out.push(cfg_001(p, &global.problems, b, s));
            }
            Level::Info => {
                if p.message.contains("not in rescue-inspect's keyword table") {
                    out.push(
                        CFG_003
                            .finding(
                                format!(
                                    "{}:{}: {} is not evaluated by this tool",
                                    p.file, p.line, p.keyword
                                ),
                                p.message.clone(),
                            )
                            .at(p.file.clone())
                            .line(p.line),
                    );
                } else {
                    out.push(
                        CFG_002
                            .finding(
                                format!("{}:{}: {} (ignored)", p.file, p.line, p.message),
                                format!(
                                    "{} logs \"{}\" and carries on without it.",
                                    b.describe(),
                                    p.text
                                ),
                            )
                            .at(p.file.clone())
                            .line(p.line)
                            .fix(sed_comment(&p.file, p.line, s)),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let b = Build::new(9, 2, Vendor::Debian);
        assert_eq!(
            suggest("PermitRootLogn", &b).as_deref(),
            Some("PermitRootLogin")
        );
        assert_eq!(
            suggest("PasswordAuthenticaton", &b).as_deref(),
            Some("PasswordAuthentication")
        );
        assert_eq!(suggest("Frobnicate", &b), None);
        assert_eq!(display_case("pubkeyauthentication"), "PubkeyAuthentication");
    }
}
