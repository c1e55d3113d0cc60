//! Host keys: which ones sshd will load, with each one's type and fingerprint, and whether any
//! is left (none: "no hostkeys available -- exiting").

use serde::Serialize;

use super::SshdFacts;
use crate::audit::{Rule, Settings};
use crate::fs::FsError;
use crate::guest::os_release::Family;
use crate::report::{Category, Finding, Severity};
use crate::sshd::hostkey::{self, KeyType};

pub static KEY_001: Rule = Rule {
    id: "SSHD-KEY-001",
    severity: Severity::Critical,
    category: Category::HostKeys,
    summary: "no usable host key: sshd exits at start",
    doc: "Checks each HostKey sshd would load (the configured ones, or by default \
/etc/ssh/ssh_host_{rsa,ecdsa,ed25519}_key): it exists, is a readable private key file that is \
not passphrase-protected, its .pub (if any) matches it, its type is still supported by the \
guest's OpenSSH (DSA is gone in 10.0), RSA keys are at least 1024 bits, and its mode is not open \
to group or others when owned by root (OpenSSH's sshkey_perm_ok; the RHEL family also accepts \
root:ssh_keys 0640).\n\nWhy it matters: sshd skips every unusable key; with none left it logs \
\"no hostkeys available -- exiting\" and port 22 refuses connections.\n\nFix: `chmod 600` the key \
files, or generate fresh default keys with `ssh-keygen -A -f /mnt/rescue` (clients will then see \
a changed host key: compare fingerprints with `rescue-inspect hostkeys`).",
};

pub static KEY_002: Rule = Rule {
    id: "SSHD-KEY-002",
    severity: Severity::Warning,
    category: Category::HostKeys,
    summary: "a host key sshd should load is unusable (others remain)",
    doc: "The same checks as SSHD-KEY-001, for a key that is skipped while other keys still \
load.\n\nWhy it matters: sshd starts, but clients that know this host by the skipped key type see \
a different host key (\"REMOTE HOST IDENTIFICATION HAS CHANGED\" or a new-key prompt), and clients \
that only accept that algorithm cannot connect.\n\nFix: repair the key's mode or file as the \
finding says, or remove it from HostKey.",
};

pub static RULES: &[&Rule] = &[&KEY_001, &KEY_002];

/// One host key as sshd would see it.
#[derive(Clone, Debug, Serialize)]
pub struct HostKeyStatus {
    pub path: String,
    /// Where it was configured (`file:line`), `None` for the compiled-in defaults.
    pub configured_at: Option<(String, usize)>,
    #[serde(rename = "type")]
    pub key_type: Option<String>,
    pub bits: Option<u32>,
    pub fingerprint: Option<String>,
    /// `ssh-keygen -l` style line.
    pub keygen_line: Option<String>,
    pub mode: Option<String>,
    pub owner: Option<(u32, u32)>,
    /// `None` when sshd will load it; else why not.
    pub problem: Option<String>,
    /// The problem is a missing file (a default key never generated is not unusual).
    #[serde(skip)]
    pub missing: bool,
    /// The problem is the file's mode.
    #[serde(skip)]
    pub bad_mode: bool,
}

/// The default HostKey list (`servconf.c: fill_default_server_options`, 8.0 onwards).
pub const DEFAULT_HOST_KEYS: &[&str] = &[
    "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ed25519_key",
];

/// Evaluates each host key (path, where configured).
pub fn evaluate(f: &SshdFacts, keys: &[(String, Option<(String, usize)>)]) -> Vec<HostKeyStatus> {
    let ssh_keys_gid = f
        .groups
        .iter()
        .find(|g| g.name == "ssh_keys")
        .map(|g| g.gid);
    let rhel = f.family == Family::Rhel;
    keys.iter()
        .map(|(path, at)| {
            let mut st = HostKeyStatus {
                path: path.clone(),
                configured_at: at.clone(),
                key_type: None,
                bits: None,
                fingerprint: None,
                keygen_line: None,
                mode: None,
                owner: None,
                problem: None,
                missing: false,
                bad_mode: false,
            };
            let file = match hostkey::read_host_key(f.fs, std::path::Path::new(path)) {
                Ok(file) => file,
                Err(FsError::NotFound(_)) => {
                    st.problem = Some(format!("{path} does not exist"));
                    st.missing = true;
                    return st;
                }
                Err(e) => {
                    st.problem = Some(e.to_string());
                    return st;
                }
            };
            st.mode = Some(crate::fs::mode_string(file.metadata.file_type, file.metadata.perm));
            st.owner = Some((file.metadata.uid, file.metadata.gid));
            let info = match &file.key {
                Ok(info) => info,
                Err(e) => {
                    st.problem = Some(format!("not a usable private key: {e}"));
                    return st;
                }
            };
            st.key_type = Some(info.key_type.label().to_string());
            st.bits = info.key_type.bits();
            let pub_blob = file.public.as_ref().and_then(|p| p.as_ref().ok()).map(|p| p.blob.clone());
            let blob = info.public_blob.clone().or(pub_blob.clone());
            st.fingerprint = blob.as_deref().map(hostkey::sha256_fingerprint);
            st.keygen_line = st
                .fingerprint
                .as_deref()
                .map(|fp| hostkey::keygen_line(&info.key_type, fp, info.comment.as_deref()));
            if let Err(msg) = hostkey::host_key_mode_ok(std::path::Path::new(path), &file.metadata, rhel, ssh_keys_gid) {
                st.problem = Some(msg);
                st.bad_mode = true;
                return st;
            }
            if info.encrypted {
                st.problem = Some(format!(
                    "the key is passphrase-protected ({}): sshd cannot load it at start",
                    info.cipher.as_deref().unwrap_or("encrypted")
                ));
                return st;
            }
            if let (Some(a), Some(b)) = (&info.public_blob, &pub_blob) {
                if a != b {
                    st.problem = Some(format!("{path}.pub does not match the private key: sshd skips the key (\"Public key for {path} does not match private key\")"));
                    return st;
                }
            }
            let v = f.version.unwrap_or((0, 0));
            match info.key_type {
                KeyType::Dsa { .. } if v >= (10, 0) => {
                    st.problem = Some("DSA keys are not supported by OpenSSH 10.0 and later".into());
                }
                KeyType::Dsa { .. } if v >= (9, 8) => {
                    st.problem = Some("DSA support is disabled by default from OpenSSH 9.8".into());
                }
                KeyType::Rsa { bits: Some(b) } if b < 1024 && v >= (9, 1) => {
                    st.problem = Some(format!("a {b}-bit RSA key is below RequiredRSASize (1024)"));
                }
                KeyType::Unknown(ref n) => {
                    st.problem = Some(format!("unsupported key type {n}"));
                }
                _ => {}
            }
            st
        })
        .collect()
}

/// SSHD-KEY-001/002; returns each key's status.
pub fn audit(
    f: &SshdFacts,
    keys: &[(String, Option<(String, usize)>)],
    s: &Settings,
    out: &mut Vec<Finding>,
) -> Vec<HostKeyStatus> {
    let statuses = evaluate(f, keys);
    report(f, keys, &statuses, s, out);
    statuses
}

fn report(
    f: &SshdFacts,
    keys: &[(String, Option<(String, usize)>)],
    statuses: &[HostKeyStatus],
    s: &Settings,
    out: &mut Vec<Finding>,
) {
    let usable = statuses.iter().filter(|k| k.problem.is_none()).count();
    let explicit = keys.iter().any(|(_, at)| at.is_some());
    let mp = s.mount_point.trim_end_matches('/');
    let fix_for = |k: &HostKeyStatus| -> String {
        if k.bad_mode {
            if f.family == Family::Rhel {
                format!(
                    "chown root:ssh_keys {0} && chmod 640 {0}",
                    s.host_path(&k.path)
                )
            } else {
                format!("chown root:root {0} && chmod 600 {0}", s.host_path(&k.path))
            }
        } else {
            format!(
                "mv {0} {0}.broken; rm -f {0}.pub; ssh-keygen -A -f {mp}   # generates missing default keys; clients will see a new host key",
                s.host_path(&k.path)
            )
        }
    };
    if usable == 0 {
        let mut detail = String::from("sshd logs \"no hostkeys available -- exiting\":");
        for k in statuses {
            detail.push_str(&format!(
                "\n{}: {}",
                k.path,
                k.problem.as_deref().unwrap_or("usable")
            ));
        }
        let all_mode = statuses.iter().all(|k| k.bad_mode);
        let fix = if all_mode {
            let paths: Vec<String> = statuses.iter().map(|k| s.host_path(&k.path)).collect();
            if f.family == Family::Rhel {
                format!("chown root:ssh_keys {0} && chmod 640 {0}", paths.join(" "))
            } else {
                format!("chown root:root {0} && chmod 600 {0}", paths.join(" "))
            }
        } else {
            format!(
                "ssh-keygen -A -f {mp}   # creates the default host keys that are missing; clients will see a new host key"
            )
        };
        let path = statuses
            .first()
            .map(|k| k.path.clone())
            .unwrap_or_else(|| "/etc/ssh".into());
        let mut finding = KEY_001
            .finding("no usable host key: sshd will not start", detail)
            .at(path)
            .fix(fix);
        if let Some((file, line)) = statuses.first().and_then(|k| k.configured_at.clone()) {
            if file != statuses[0].path {
                finding
                    .detail
                    .push_str(&format!("\n(HostKey configured at {file}:{line})"));
            }
        }
        out.push(finding);
        return;
    }
    for k in statuses {
        let Some(problem) = &k.problem else { continue };
        // A default key that was never generated is normal (sshd skips it quietly); a
        // configured one that is missing is logged as an error at every start.
        if k.missing && !explicit {
            continue;
        }
        let mut finding = KEY_002
            .finding(
                format!("host key {} is skipped by sshd", k.path),
                problem.clone(),
            )
            .at(k.path.clone())
            .fix(fix_for(k));
        if let Some((file, line)) = &k.configured_at {
            finding = finding.at(file.clone()).line(*line);
            finding.detail = format!("HostKey {}: {problem}", k.path);
        }
        out.push(finding);
    }
}

/// Paths of host keys for the `hostkeys` listing when the configuration is not known.
pub fn default_keys() -> Vec<(String, Option<(String, usize)>)> {
    DEFAULT_HOST_KEYS
        .iter()
        .map(|p| (p.to_string(), None))
        .collect()
}
