//! The algorithm names each OpenSSH release knows and offers by default, for validating
//! `Ciphers`/`MACs`/`KexAlgorithms`/`*Algorithms` lines, expanding their `+`/`-`/`^` forms and
//! predicting what a client can negotiate. Read off myproposal.h, cipher.c, mac.c, kex.c and
//! sshkey.c of each release (see the notes in `../shared/notes/openssh.md`).

use super::build::{Build, Vendor};
use crate::fs::glob::fnmatch_plain;

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Cipher,
    Mac,
    Kex,
    /// Host key and public key algorithms (key types, certificates, signature-only names).
    Key,
    /// CASignatureAlgorithms: plain signature algorithms.
    Sig,
}

impl Class {
    /// What OpenSSH's client says when this list has nothing in common.
    pub fn no_match_error(self) -> &'static str {
        match self {
            Class::Cipher => "no matching cipher found",
            Class::Mac => "no matching MAC found",
            Class::Kex => "no matching key exchange method found",
            Class::Key | Class::Sig => "no matching host key type found",
        }
    }
}

fn v(b: &Build) -> u32 {
    b.version_code()
}

/// Every name this release accepts in a list of this class, in OpenSSH's own order.
pub fn supported(class: Class, b: &Build) -> Vec<&'static str> {
    let ver = v(b);
    match class {
        Class::Cipher => {
            let mut out = vec![
                "3des-cbc",
                "aes128-cbc",
                "aes192-cbc",
                "aes256-cbc",
                "aes128-ctr",
                "aes192-ctr",
                "aes256-ctr",
                "aes128-gcm@openssh.com",
                "aes256-gcm@openssh.com",
                "chacha20-poly1305@openssh.com",
            ];
            if ver < 706 {
                out.extend([
                    "blowfish-cbc",
                    "cast128-cbc",
                    "arcfour",
                    "arcfour128",
                    "arcfour256",
                    "rijndael-cbc@lysator.liu.se",
                ]);
            }
            out
        }
        Class::Mac => {
            let mut out = vec![
                "hmac-sha1",
                "hmac-sha1-96",
                "hmac-sha2-256",
                "hmac-sha2-512",
                "hmac-md5",
                "hmac-md5-96",
                "umac-64@openssh.com",
                "umac-128@openssh.com",
                "hmac-sha1-etm@openssh.com",
                "hmac-sha1-96-etm@openssh.com",
                "hmac-sha2-256-etm@openssh.com",
                "hmac-sha2-512-etm@openssh.com",
                "hmac-md5-etm@openssh.com",
                "hmac-md5-96-etm@openssh.com",
                "umac-64-etm@openssh.com",
                "umac-128-etm@openssh.com",
            ];
            if ver < 706 {
                out.extend([
                    "hmac-ripemd160",
                    "hmac-ripemd160@openssh.com",
                    "hmac-ripemd160-etm@openssh.com",
                ]);
            }
            out
        }
        Class::Kex => {
            let mut out = vec![
                "diffie-hellman-group1-sha1",
                "diffie-hellman-group14-sha1",
                "diffie-hellman-group14-sha256",
                "diffie-hellman-group16-sha512",
                "diffie-hellman-group18-sha512",
                "diffie-hellman-group-exchange-sha1",
                "diffie-hellman-group-exchange-sha256",
                "ecdh-sha2-nistp256",
                "ecdh-sha2-nistp384",
                "ecdh-sha2-nistp521",
            ];
            if ver >= 704 {
                out.push("curve25519-sha256");
            }
            out.push("curve25519-sha256@libssh.org");
            if (800..805).contains(&ver) {
                out.push("sntrup4591761x25519-sha512@tinyssh.org");
            }
            if ver >= 909 || (b.vendor == Vendor::Debian && ver == 902) {
                out.push("sntrup761x25519-sha512");
            }
            if ver >= 805 {
                out.push("sntrup761x25519-sha512@openssh.com");
            }
            if ver >= 909 {
                out.push("mlkem768x25519-sha256");
            }
            out
        }
        Class::Key | Class::Sig => {
            let mut out = vec![
                ("ssh-ed25519", true),
                ("ssh-ed25519-cert-v01@openssh.com", false),
            ];
            if ver >= 802 {
                out.extend([
                    ("sk-ssh-ed25519@openssh.com", true),
                    ("sk-ssh-ed25519-cert-v01@openssh.com", false),
                ]);
            }
            out.extend([
                ("ecdsa-sha2-nistp256", true),
                ("ecdsa-sha2-nistp256-cert-v01@openssh.com", false),
                ("ecdsa-sha2-nistp384", true),
                ("ecdsa-sha2-nistp384-cert-v01@openssh.com", false),
                ("ecdsa-sha2-nistp521", true),
                ("ecdsa-sha2-nistp521-cert-v01@openssh.com", false),
            ]);
            if ver >= 802 {
                out.extend([
                    ("sk-ecdsa-sha2-nistp256@openssh.com", true),
                    ("sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", false),
                ]);
            }
            if ver >= 803 {
                out.push(("webauthn-sk-ecdsa-sha2-nistp256@openssh.com", true));
            }
            if ver < 1000 {
                out.extend([("ssh-dss", true), ("ssh-dss-cert-v01@openssh.com", false)]);
            }
            out.extend([
                ("ssh-rsa", true),
                ("ssh-rsa-cert-v01@openssh.com", false),
                ("rsa-sha2-256", true),
            ]);
            if ver >= 800 {
                out.push(("rsa-sha2-256-cert-v01@openssh.com", false));
            }
            out.push(("rsa-sha2-512", true));
            if ver >= 800 {
                out.push(("rsa-sha2-512-cert-v01@openssh.com", false));
            }
            out.into_iter()
                .filter(|(_, plain)| class == Class::Key || *plain)
                .map(|(n, _)| n)
                .collect()
        }
    }
}

/// The server's default list of this class in this release.
pub fn server_default(class: Class, b: &Build) -> Vec<&'static str> {
    let ver = v(b);
    match class {
        Class::Cipher => {
            if ver >= 1000 {
                vec![
                    "chacha20-poly1305@openssh.com",
                    "aes128-gcm@openssh.com",
                    "aes256-gcm@openssh.com",
                    "aes128-ctr",
                    "aes192-ctr",
                    "aes256-ctr",
                ]
            } else {
                vec![
                    "chacha20-poly1305@openssh.com",
                    "aes128-ctr",
                    "aes192-ctr",
                    "aes256-ctr",
                    "aes128-gcm@openssh.com",
                    "aes256-gcm@openssh.com",
                ]
            }
        }
        Class::Mac => vec![
            "umac-64-etm@openssh.com",
            "umac-128-etm@openssh.com",
            "hmac-sha2-256-etm@openssh.com",
            "hmac-sha2-512-etm@openssh.com",
            "hmac-sha1-etm@openssh.com",
            "umac-64@openssh.com",
            "umac-128@openssh.com",
            "hmac-sha2-256",
            "hmac-sha2-512",
            "hmac-sha1",
        ],
        Class::Kex => kex_default(b, false),
        Class::Key => pk_default(ver),
        Class::Sig => {
            let mut out = vec![
                "ssh-ed25519",
                "ecdsa-sha2-nistp256",
                "ecdsa-sha2-nistp384",
                "ecdsa-sha2-nistp521",
            ];
            if ver >= 802 {
                out.extend([
                    "sk-ssh-ed25519@openssh.com",
                    "sk-ecdsa-sha2-nistp256@openssh.com",
                ]);
            }
            if ver >= 1003 {
                out.push("webauthn-sk-ecdsa-sha2-nistp256@openssh.com");
            }
            out.extend(["rsa-sha2-512", "rsa-sha2-256"]);
            if ver < 802 {
                out.push("ssh-rsa");
            }
            out
        }
    }
}

fn kex_default(b: &Build, client: bool) -> Vec<&'static str> {
    let ver = v(b);
    let dh = [
        "diffie-hellman-group-exchange-sha256",
        "diffie-hellman-group16-sha512",
        "diffie-hellman-group18-sha512",
    ];
    let ecdh = [
        "ecdh-sha2-nistp256",
        "ecdh-sha2-nistp384",
        "ecdh-sha2-nistp521",
    ];
    let curve = ["curve25519-sha256", "curve25519-sha256@libssh.org"];
    let mut out: Vec<&'static str> = Vec::new();
    if ver >= 1000 {
        out.extend([
            "mlkem768x25519-sha256",
            "sntrup761x25519-sha512",
            "sntrup761x25519-sha512@openssh.com",
        ]);
        out.extend(curve);
        out.extend(ecdh);
        if client {
            out.extend(dh);
            out.push("diffie-hellman-group14-sha256");
        }
        return out;
    }
    if ver >= 909 {
        out.extend([
            "sntrup761x25519-sha512",
            "sntrup761x25519-sha512@openssh.com",
            "mlkem768x25519-sha256",
        ]);
    } else if ver >= 900 {
        if b.vendor == Vendor::Debian && ver == 902 {
            out.push("sntrup761x25519-sha512");
        }
        out.push("sntrup761x25519-sha512@openssh.com");
    }
    if ver >= 704 {
        out.push("curve25519-sha256");
    }
    out.push("curve25519-sha256@libssh.org");
    out.extend(ecdh);
    if (809..900).contains(&ver) {
        out.push("sntrup761x25519-sha512@openssh.com");
    }
    out.extend(dh);
    if client && ver < 802 {
        out.push("diffie-hellman-group-exchange-sha1");
    }
    out.push("diffie-hellman-group14-sha256");
    if ver < 802 {
        out.push("diffie-hellman-group14-sha1");
    }
    out
}

fn pk_default(ver: u32) -> Vec<&'static str> {
    let ecdsa_cert = [
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    ];
    let ecdsa = [
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    ];
    let mut out: Vec<&'static str> = Vec::new();
    if ver < 805 {
        out.extend(ecdsa_cert);
        if ver >= 802 {
            out.push("sk-ecdsa-sha2-nistp256-cert-v01@openssh.com");
        }
        out.push("ssh-ed25519-cert-v01@openssh.com");
        if ver >= 802 {
            out.push("sk-ssh-ed25519-cert-v01@openssh.com");
        }
        if ver >= 800 {
            out.extend([
                "rsa-sha2-512-cert-v01@openssh.com",
                "rsa-sha2-256-cert-v01@openssh.com",
            ]);
        }
        out.push("ssh-rsa-cert-v01@openssh.com");
        out.extend(ecdsa);
        if ver >= 802 {
            out.push("sk-ecdsa-sha2-nistp256@openssh.com");
        }
        out.push("ssh-ed25519");
        if ver >= 802 {
            out.push("sk-ssh-ed25519@openssh.com");
        }
        out.extend(["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
        return out;
    }
    out.push("ssh-ed25519-cert-v01@openssh.com");
    out.extend(ecdsa_cert);
    out.extend([
        "sk-ssh-ed25519-cert-v01@openssh.com",
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    ]);
    if ver >= 1003 {
        out.push("webauthn-sk-ecdsa-sha2-nistp256-cert-v01@openssh.com");
    }
    out.extend([
        "rsa-sha2-512-cert-v01@openssh.com",
        "rsa-sha2-256-cert-v01@openssh.com",
    ]);
    if ver < 808 {
        out.push("ssh-rsa-cert-v01@openssh.com");
    }
    out.push("ssh-ed25519");
    out.extend(ecdsa);
    out.extend([
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ]);
    if ver >= 1003 {
        out.push("webauthn-sk-ecdsa-sha2-nistp256@openssh.com");
    }
    out.extend(["rsa-sha2-512", "rsa-sha2-256"]);
    if ver < 808 {
        out.push("ssh-rsa");
    }
    out
}

/// A client whose defaults the compatibility check uses.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub name: &'static str,
    pub build: Build,
}

/// Today's OpenSSH client (9.x defaults) and an old but common one (7.4, RHEL/CentOS 7).
pub const CLIENTS: [Client; 2] = [
    Client {
        name: "OpenSSH 9.x client",
        build: Build {
            major: 9,
            minor: 6,
            vendor: Vendor::Upstream,
            version_known: true,
        },
    },
    Client {
        name: "OpenSSH 7.4 client (RHEL/CentOS 7)",
        build: Build {
            major: 7,
            minor: 4,
            vendor: Vendor::Upstream,
            version_known: true,
        },
    },
];

/// What a client of this release offers by default.
pub fn client_default(class: Class, b: &Build) -> Vec<&'static str> {
    match class {
        Class::Kex => kex_default(b, true),
        Class::Cipher if b.version_code() < 800 => {
            let mut out = server_default(Class::Cipher, b);
            out.extend(["aes128-cbc", "aes192-cbc", "aes256-cbc"]);
            out
        }
        _ => server_default(class, b),
    }
}

/// Why an algorithm list line is bad, as sshd says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListError {
    /// A name this release does not know (sshd: "Bad SSH2 cipher spec", "Bad key types", …).
    Unknown(String),
    Empty,
}

/// Validates a list's names the way sshd does when it reads the line: `-` lists are not
/// checked; `+`/`^` lists and plain lists must name known algorithms (key lists may use
/// wildcards that match at least one known key type).
pub fn validate(class: Class, arg: &str, b: &Build) -> Result<(), ListError> {
    if arg.starts_with('-') {
        return Ok(());
    }
    let body = arg.strip_prefix(['+', '^']).unwrap_or(arg);
    if body.is_empty() {
        return Err(ListError::Empty);
    }
    let known = supported(class, b);
    for name in body.split(',') {
        if name.is_empty() {
            break;
        }
        if known.contains(&name) {
            continue;
        }
        if matches!(class, Class::Key | Class::Sig)
            && known
                .iter()
                .any(|k| crate::sshd::config::matching::pattern_list(k, name, false) != 0)
        {
            continue;
        }
        return Err(ListError::Unknown(name.to_string()));
    }
    Ok(())
}

/// `kex_assemble_names`: the effective list from a configured value (`None`: the default).
pub fn assemble(class: Class, configured: Option<&str>, b: &Build) -> Result<Vec<String>, String> {
    let def = server_default(class, b);
    let all = supported(class, b);
    let Some(list) = configured.filter(|l| !l.is_empty()) else {
        return Ok(def.iter().map(|s| s.to_string()).collect());
    };
    let list: Vec<String> = if let Some(rest) = list.strip_prefix('+') {
        cat(&def.iter().map(|s| s.to_string()).collect::<Vec<_>>(), rest)
    } else if let Some(rest) = list.strip_prefix('-') {
        return Ok(def
            .iter()
            .filter(|d| crate::sshd::config::matching::pattern_list(d, rest, false) != 1)
            .map(|s| s.to_string())
            .collect());
    } else if let Some(rest) = list.strip_prefix('^') {
        let head: Vec<String> = rest.split(',').map(str::to_string).collect();
        cat(&head, &def.join(","))
    } else {
        list.split(',').map(str::to_string).collect()
    };
    let mut out: Vec<String> = Vec::new();
    for pat in &list {
        if pat.starts_with('!') {
            return Err(format!("negated name {pat:?} is not allowed here"));
        }
        for name in all
            .iter()
            .filter(|n| fnmatch_plain(pat.as_bytes(), n.as_bytes()))
        {
            if !out.iter().any(|o| o == name) {
                out.push(name.to_string());
            }
        }
    }
    if out.is_empty() {
        return Err("the list is empty".into());
    }
    Ok(out)
}

/// `kex_names_cat`: a's names, then b's names not already present.
fn cat(a: &[String], b: &str) -> Vec<String> {
    let mut out: Vec<String> = a.iter().filter(|s| !s.is_empty()).cloned().collect();
    for n in b.split(',') {
        if !n.is_empty() && !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    }
    out
}

/// The first of the client's algorithms the server also offers (SSH's negotiation rule).
pub fn negotiate<'a>(client: &[&'a str], server: &[String]) -> Option<&'a str> {
    client
        .iter()
        .find(|c| server.iter().any(|s| s == *c))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assemble_like_openssh() {
        let b = Build::new(9, 2, Vendor::Debian);
        let ciphers = assemble(Class::Cipher, Some("+aes128-cbc"), &b).unwrap();
        assert_eq!(ciphers.last().map(String::as_str), Some("aes128-cbc"));
        let ciphers = assemble(Class::Cipher, Some("-aes*-ctr"), &b).unwrap();
        assert!(!ciphers.iter().any(|c| c.ends_with("-ctr")));
        let ciphers = assemble(Class::Cipher, Some("^aes256-ctr"), &b).unwrap();
        assert_eq!(ciphers[0], "aes256-ctr");
        assert_eq!(ciphers.len(), 6);
        let kex = assemble(Class::Kex, Some("diffie-hellman-group1-sha1"), &b).unwrap();
        assert_eq!(kex, vec!["diffie-hellman-group1-sha1"]);
        assert_eq!(
            validate(Class::Cipher, "+arcfour", &b),
            Err(ListError::Unknown("arcfour".into()))
        );
        assert!(validate(Class::Cipher, "+arcfour", &Build::upstream(7, 4)).is_ok());
        assert!(validate(Class::Key, "+ssh-rsa*", &b).is_ok());
        assert!(validate(Class::Key, "+ssh-foo", &b).is_err());
    }

    #[test]
    fn negotiation() {
        let b = Build::new(9, 2, Vendor::Debian);
        let server = assemble(Class::Kex, Some("diffie-hellman-group1-sha1"), &b).unwrap();
        let client = client_default(Class::Kex, &CLIENTS[0].build);
        assert_eq!(negotiate(&client, &server), None);
        let server = assemble(Class::Kex, None, &b).unwrap();
        assert_eq!(
            negotiate(&client, &server),
            Some("sntrup761x25519-sha512@openssh.com")
        );
    }
}
