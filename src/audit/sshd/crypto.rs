//! Can a client negotiate with this server? The effective KexAlgorithms, Ciphers, MACs and
//! HostKeyAlgorithms (with `+`/`-`/`^` applied to the release's defaults) and the host keys sshd
//! loads, against the default offers of today's OpenSSH client and of an old one (7.4).

use super::hostkeys::HostKeyStatus;
use crate::audit::{Rule, Settings};
use crate::report::{Category, Confidence, Finding, Severity};
use crate::sshd::config::algorithms::{self, CLIENTS, Class, Client};
use crate::sshd::config::options::algo_keyword;
use crate::sshd::config::{Build, Parsed};

pub static CRYPTO_001: Rule = Rule {
    id: "SSHD-CRYPTO-001",
    severity: Severity::Critical,
    category: Category::CryptoCompat,
    summary: "a current OpenSSH client cannot negotiate with this sshd (no common algorithm)",
    doc: "Computes the server's effective key exchange, cipher, MAC and host key algorithm lists \
the way the guest's OpenSSH does (its release's defaults with the configured list, `+` appends, \
`-` removes, `^` prepends; host key algorithms only for keys sshd actually loads) and checks \
that an OpenSSH 9.x client with its default settings has at least one algorithm in common for \
each.\n\nWhy it matters: the client stops before authentication with \"Unable to negotiate with \
HOST port 22: no matching key exchange method found\" (or host key type, cipher, MAC).\n\nFix: \
the finding names the line; removing it restores the release's defaults, or add one of the \
client's algorithms to the list.",
};

pub static CRYPTO_002: Rule = Rule {
    id: "SSHD-CRYPTO-002",
    severity: Severity::Warning,
    category: Category::CryptoCompat,
    summary: "an older OpenSSH client (7.4, RHEL/CentOS 7) cannot negotiate with this sshd",
    doc: "The same computation as SSHD-CRYPTO-001 against OpenSSH 7.4's client defaults (still \
common on old jump hosts and CI runners).\n\nWhy it matters: those clients fail with \"no \
matching … found\" even though current clients connect.\n\nFix: add one of the old client's \
algorithms named in the finding to the list, or upgrade the client.",
};

pub static RULES: &[&Rule] = &[&CRYPTO_001, &CRYPTO_002];

/// The signature algorithms a loaded host key lets sshd offer.
fn key_algorithms(key_type: &str, bits: Option<u32>) -> Vec<&'static str> {
    match key_type {
        "ED25519" => vec!["ssh-ed25519"],
        "ECDSA" => match bits {
            Some(384) => vec!["ecdsa-sha2-nistp384"],
            Some(521) => vec!["ecdsa-sha2-nistp521"],
            _ => vec!["ecdsa-sha2-nistp256"],
        },
        "RSA" => vec!["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
        "DSA" => vec!["ssh-dss"],
        "ED25519-SK" => vec!["sk-ssh-ed25519@openssh.com"],
        "ECDSA-SK" => vec!["sk-ecdsa-sha2-nistp256@openssh.com"],
        _ => Vec::new(),
    }
}

/// The server's offer of one class (host keys: only algorithms of keys that load).
pub fn server_offer(
    global: &Parsed,
    class: Class,
    b: &Build,
    keys: &[HostKeyStatus],
) -> Result<Vec<String>, String> {
    let list = global.options.algorithms(class, b)?;
    if class != Class::Key {
        return Ok(list);
    }
    let loaded: Vec<&'static str> = keys
        .iter()
        .filter(|k| k.problem.is_none())
        .flat_map(|k| key_algorithms(k.key_type.as_deref().unwrap_or(""), k.bits))
        .collect();
    Ok(list
        .into_iter()
        .filter(|a| loaded.contains(&a.as_str()))
        .collect())
}

/// The first class a client cannot agree on: (class, server offer).
pub fn first_failure(
    client: &Client,
    offers: &[(Class, Vec<String>)],
) -> Option<(Class, Vec<String>)> {
    for (class, offer) in offers {
        let want = algorithms::client_default(*class, &client.build);
        if algorithms::negotiate(&want, offer).is_none() {
            return Some((*class, offer.clone()));
        }
    }
    None
}

pub fn audit(
    global: &Parsed,
    b: &Build,
    keys: &[HostKeyStatus],
    s: &Settings,
    out: &mut Vec<Finding>,
) {
    if global.fatal || !keys.iter().any(|k| k.problem.is_none()) {
        // sshd does not start at all: SSHD-CFG-001 / SSHD-KEY-001 say so.
        return;
    }
    let mut offers = Vec::new();
    for class in [Class::Kex, Class::Key, Class::Cipher, Class::Mac] {
        match server_offer(global, class, b, keys) {
            Ok(o) => offers.push((class, o)),
            Err(_) => return,
        }
    }
    for (i, client) in CLIENTS.iter().enumerate() {
        let Some((class, offer)) = first_failure(client, &offers) else {
            continue;
        };
        let rule = if i == 0 { &CRYPTO_001 } else { &CRYPTO_002 };
        let kw = algo_keyword(class);
        let want = algorithms::client_default(class, &client.build);
        let supported = algorithms::supported(class, b);
        let server_can: Vec<&str> = want
            .iter()
            .filter(|a| supported.contains(a))
            .copied()
            .collect();
        let origin = global.options.origin.get(kw).cloned();
        let what = match class {
            Class::Kex => "key exchange",
            Class::Key | Class::Sig => "host key",
            Class::Cipher => "cipher",
            Class::Mac => "MAC",
        };
        let detail = format!(
            "The {} offers {what} algorithms: {}.\nsshd offers: {}.\nThe client stops with \"Unable to negotiate with HOST port 22: {}. Their offer: {}\".",
            client.name,
            want.join(","),
            if offer.is_empty() {
                "(none)".into()
            } else {
                offer.join(",")
            },
            class.no_match_error(),
            offer.join(",")
        );
        // Prefer an algorithm both the current and the old client offer: one change for both.
        let old = algorithms::client_default(class, &CLIENTS[1].build);
        let add = server_can
            .iter()
            .find(|a| old.contains(a))
            .or(server_can.first())
            .copied()
            .unwrap_or("");
        let kw_shown = super::config::display_case(kw);
        let mut f = rule.finding(
            format!("{} cannot connect: {}", client.name, class.no_match_error()),
            detail,
        );
        let fix = match (&origin, class) {
            (Some((file, line)), _) => {
                f = f.at(file.clone()).line(*line);
                format!(
                    "edit {}:{line}: append ,{add} to the {kw_shown} list (or remove the line to use {}'s defaults)",
                    s.host_path(file),
                    b.describe()
                )
            }
            (None, Class::Key) => format!(
                "ssh-keygen -q -N '' -t ed25519 -f {}   # a host key type current clients accept",
                s.host_path("/etc/ssh/ssh_host_ed25519_key")
            ),
            (None, _) => format!("add \"{kw_shown} +{add}\" to /etc/ssh/sshd_config"),
        };
        f = f.fix(fix).confidence(if b.version_known {
            Confidence::Likely
        } else {
            Confidence::Possible
        });
        out.push(f);
    }
}
