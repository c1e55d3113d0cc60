//! PAM stacks as libpam reads them (`pam_handlers.c: _pam_parse_conf_file`, `_pam_init_handlers`):
//! `/etc/pam.d/SERVICE` (else `other`), lines `type control module [args]`, `@include FILE`,
//! `include`/`substack` controls, a leading `-` on the type for modules that may be absent, and
//! bracket controls `[value=action …]`. Used to tell whether a module that is missing from the
//! guest makes a stack fail.

use std::path::{Path, PathBuf};

use crate::fs::RootFs;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    Required,
    Requisite,
    Sufficient,
    Optional,
    /// `[value=action …]`, lower-cased pairs.
    Bracket(Vec<(String, String)>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PamLine {
    pub file: PathBuf,
    pub line: usize,
    /// `auth`, `account`, `session`, `password`.
    pub kind: String,
    pub control: Control,
    pub module: String,
    pub args: Vec<String>,
    /// `-type`: a missing module is ignored silently.
    pub may_be_absent: bool,
}

impl PamLine {
    /// The module's base name (`pam_unix.so`).
    pub fn module_name(&self) -> &str {
        self.module.rsplit('/').next().unwrap_or(&self.module)
    }

    /// Whether this line makes the stack fail when its module cannot be loaded (libpam runs a
    /// faulty handler that returns PAM_MODULE_UNKNOWN).
    pub fn fails_when_missing(&self) -> bool {
        if self.may_be_absent {
            return false;
        }
        match &self.control {
            Control::Required | Control::Requisite => true,
            Control::Sufficient | Control::Optional => false,
            Control::Bracket(pairs) => {
                let action = pairs
                    .iter()
                    .find(|(k, _)| k == "module_unknown")
                    .or_else(|| pairs.iter().find(|(k, _)| k == "default"))
                    .map(|(_, a)| a.as_str());
                // An undefined action counts as `bad`; `ignore`, `reset` and jumps do not fail.
                let harmless = matches!(action, Some("ignore") | Some("reset"))
                    || action.is_some_and(|a| a.parse::<u32>().is_ok());
                !harmless
            }
        }
    }
}

/// Something wrong with the configuration itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PamProblem {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

/// A service's stack of one type, includes expanded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stack {
    /// The file the service came from (`/etc/pam.d/sshd`, or `other` when it is missing).
    pub service_file: PathBuf,
    pub lines: Vec<PamLine>,
    pub problems: Vec<PamProblem>,
}

const MAX_DEPTH: usize = 16;
const MAX_LINES: usize = 4096;

/// Loads `kind` lines of `service`.
pub fn stack(fs: &RootFs, service: &str, kind: &str) -> Stack {
    let mut service_file = PathBuf::from(format!("/etc/pam.d/{service}"));
    if !fs.metadata(&service_file).is_ok_and(|m| m.is_file()) {
        service_file = PathBuf::from("/etc/pam.d/other");
    }
    let mut st = Stack {
        service_file: service_file.clone(),
        ..Stack::default()
    };
    load(fs, &service_file, kind, 0, &mut st);
    st
}

fn load(fs: &RootFs, file: &Path, kind: &str, depth: usize, st: &mut Stack) {
    if depth > MAX_DEPTH {
        st.problems.push(PamProblem {
            file: file.to_path_buf(),
            line: None,
            message: "include nesting too deep".into(),
        });
        return;
    }
    let text = match fs.read_limited(file, 1 << 20) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            st.problems.push(PamProblem {
                file: file.to_path_buf(),
                line: None,
                message: format!("cannot read {}: {e}", file.display()),
            });
            return;
        }
    };
    // Continuation lines end in a backslash.
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let no_comment = raw.split('#').next().unwrap_or("");
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        if let Some(stripped) = no_comment.strip_suffix('\\') {
            acc.push_str(stripped);
            acc.push(' ');
            pending = Some((start, acc));
            continue;
        }
        acc.push_str(no_comment);
        logical.push((start, acc));
    }
    if let Some(p) = pending {
        logical.push(p);
    }
    for (n, l) in logical {
        if st.lines.len() >= MAX_LINES {
            return;
        }
        let l = l.trim();
        if l.is_empty() {
            continue;
        }
        if let Some(inc) = l.strip_prefix("@include") {
            let inc = inc.trim();
            let path = include_path(inc);
            if !fs.metadata(&path).is_ok_and(|m| m.is_file()) {
                st.problems.push(PamProblem {
                    file: file.to_path_buf(),
                    line: Some(n),
                    message: format!("@include {inc}: {} does not exist", path.display()),
                });
                continue;
            }
            load(fs, &path, kind, depth + 1, st);
            continue;
        }
        let mut toks = tokens(l).into_iter();
        let (Some(ty), Some(control)) = (toks.next(), toks.next()) else {
            st.problems.push(PamProblem {
                file: file.to_path_buf(),
                line: Some(n),
                message: format!("malformed line: {l}"),
            });
            continue;
        };
        let (may_be_absent, ty) = match ty.strip_prefix('-') {
            Some(t) => (true, t.to_ascii_lowercase()),
            None => (false, ty.to_ascii_lowercase()),
        };
        if !["auth", "account", "session", "password"].contains(&ty.as_str()) {
            st.problems.push(PamProblem {
                file: file.to_path_buf(),
                line: Some(n),
                message: format!("unknown type \"{ty}\""),
            });
            continue;
        }
        if ty != kind {
            continue;
        }
        let control_lc = control.to_ascii_lowercase();
        if control_lc == "include" || control_lc == "substack" {
            let Some(target) = toks.next() else {
                st.problems.push(PamProblem {
                    file: file.to_path_buf(),
                    line: Some(n),
                    message: format!("{control_lc} without a file"),
                });
                continue;
            };
            let path = include_path(&target);
            if !fs.metadata(&path).is_ok_and(|m| m.is_file()) {
                st.problems.push(PamProblem {
                    file: file.to_path_buf(),
                    line: Some(n),
                    message: format!("{control_lc} {target}: {} does not exist", path.display()),
                });
                continue;
            }
            load(fs, &path, kind, depth + 1, st);
            continue;
        }
        let control = match control_lc.as_str() {
            "required" => Control::Required,
            "requisite" => Control::Requisite,
            "sufficient" => Control::Sufficient,
            "optional" => Control::Optional,
            c if c.starts_with('[') => Control::Bracket(
                c.trim_matches(['[', ']'])
                    .split_whitespace()
                    .filter_map(|p| p.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            other => {
                st.problems.push(PamProblem {
                    file: file.to_path_buf(),
                    line: Some(n),
                    message: format!("unknown control \"{other}\""),
                });
                continue;
            }
        };
        let Some(module) = toks.next() else {
            st.problems.push(PamProblem {
                file: file.to_path_buf(),
                line: Some(n),
                message: "no module".into(),
            });
            continue;
        };
        st.lines.push(PamLine {
            file: file.to_path_buf(),
            line: n,
            kind: ty,
            control,
            module,
            args: toks.collect(),
            may_be_absent,
        });
    }
}

/// Tokens, with a bracketed control kept whole and `[...]` arguments kept whole.
fn tokens(l: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in l.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            c if c.is_whitespace() && depth <= 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn include_path(name: &str) -> PathBuf {
    if name.starts_with('/') {
        PathBuf::from(name)
    } else {
        Path::new("/etc/pam.d").join(name)
    }
}

/// Where libpam looks for a module given by name (multiarch Debian, RHEL lib64, others).
pub const SECURITY_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu/security",
    "/usr/lib/x86_64-linux-gnu/security",
    "/lib/aarch64-linux-gnu/security",
    "/usr/lib/aarch64-linux-gnu/security",
    "/lib64/security",
    "/usr/lib64/security",
    "/lib/security",
    "/usr/lib/security",
];

/// The module's file in the guest, if it is there (and not empty).
pub fn find_module(fs: &RootFs, module: &str) -> Option<PathBuf> {
    let ok = |p: &Path| fs.metadata(p).is_ok_and(|m| m.is_file() && m.size > 0);
    if module.starts_with('/') {
        let p = PathBuf::from(module);
        return ok(&p).then_some(p);
    }
    SECURITY_DIRS
        .iter()
        .map(|d| Path::new(d).join(module))
        .find(|p| ok(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::mem::MemFs;

    #[test]
    fn debian_sshd_stack() {
        let mut m = MemFs::new();
        m.file("/etc/pam.d/sshd", b"@include common-auth\naccount    required     pam_nologin.so\n@include common-account\nsession [success=ok ignore=ignore module_unknown=ignore default=bad] pam_selinux.so close\nsession required pam_limits.so\n-session optional pam_systemd.so\nsession include common-session\n", 0o644, 0, 0);
        m.file("/etc/pam.d/common-account", b"account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so \naccount\trequisite\t\t\tpam_deny.so\naccount required pam_permit.so # x\n", 0o644, 0, 0);
        m.file(
            "/etc/pam.d/common-session",
            b"session required pam_unix.so\n",
            0o644,
            0,
            0,
        );
        m.file(
            "/lib/x86_64-linux-gnu/security/pam_unix.so",
            b"x",
            0o644,
            0,
            0,
        );
        let fs = m.into_rootfs();
        let acc = stack(&fs, "sshd", "account");
        assert_eq!(
            acc.lines
                .iter()
                .map(|l| l.module.as_str())
                .collect::<Vec<_>>(),
            vec![
                "pam_nologin.so",
                "pam_unix.so",
                "pam_deny.so",
                "pam_permit.so"
            ]
        );
        assert_eq!(acc.problems.len(), 1, "{:?}", acc.problems); // common-auth missing
        let ses = stack(&fs, "sshd", "session");
        let missing: Vec<&str> = ses
            .lines
            .iter()
            .filter(|l| find_module(&fs, &l.module).is_none() && l.fails_when_missing())
            .map(|l| l.module.as_str())
            .collect();
        assert_eq!(
            missing,
            vec!["pam_limits.so"],
            "selinux (module_unknown=ignore) and -pam_systemd may be absent"
        );
        assert!(find_module(&fs, "pam_unix.so").is_some());
    }

    #[test]
    fn missing_service_falls_back_to_other() {
        let mut m = MemFs::new();
        m.file(
            "/etc/pam.d/other",
            b"account required pam_deny.so\n",
            0o644,
            0,
            0,
        );
        let st = stack(&m.into_rootfs(), "sshd", "account");
        assert_eq!(st.service_file, PathBuf::from("/etc/pam.d/other"));
        assert_eq!(st.lines[0].module, "pam_deny.so");
    }
}
