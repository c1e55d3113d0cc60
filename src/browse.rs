//! Looking inside a guest without mounting it: `ls`, `stat`, `cat`. Owners and groups are named
//! through the guest's own `/etc/passwd` and `/etc/group`, never the recovery host's.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::fs::{FsError, Metadata, RootFs};
use crate::guest::accounts;

/// uid → name and gid → name from the guest.
#[derive(Debug, Default)]
pub struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    pub fn load(fs: &RootFs) -> Names {
        let mut n = Names::default();
        if let Ok(t) = fs.read_to_string_lossy("/etc/passwd") {
            for e in accounts::parse_passwd(&t).0 {
                n.users.entry(e.uid).or_insert(e.name);
            }
        }
        if let Ok(t) = fs.read_to_string_lossy("/etc/group") {
            for e in accounts::parse_group(&t).0 {
                n.groups.entry(e.gid).or_insert(e.name);
            }
        }
        n
    }
    pub fn user(&self, uid: u32) -> String {
        self.users
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
    }
    pub fn group(&self, gid: u32) -> String {
        self.groups
            .get(&gid)
            .cloned()
            .unwrap_or_else(|| gid.to_string())
    }
}

/// One `ls -l` row.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub path: String,
    pub mode: String,
    pub perm: String,
    #[serde(rename = "type")]
    pub file_type: crate::fs::FileType,
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    pub group: String,
    pub size: u64,
    pub mtime: i64,
    pub symlink_target: Option<String>,
    /// Set when the entry's metadata could not be read (damaged inode).
    pub error: Option<String>,
}

fn entry(fs: &RootFs, names: &Names, path: &Path, md: &Metadata) -> Entry {
    let symlink_target = if md.is_symlink() {
        fs.read_link(path).ok().map(|t| t.display().to_string())
    } else {
        None
    };
    Entry {
        path: path.display().to_string(),
        mode: md.mode_string(),
        perm: format!("{:04o}", md.perm),
        file_type: md.file_type,
        uid: md.uid,
        gid: md.gid,
        user: names.user(md.uid),
        group: names.group(md.gid),
        size: md.size,
        mtime: md.mtime.secs,
        symlink_target,
        error: None,
    }
}

/// A listed argument: a directory with its entries, or a single entry.
#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    pub path: String,
    pub is_dir: bool,
    pub entries: Vec<Entry>,
}

/// Lists `pattern` (a guest path, globs allowed): a directory's entries, like `ls -la`.
pub fn ls(fs: &RootFs, pattern: &str) -> Result<Vec<Listed>, FsError> {
    let names = Names::load(fs);
    let paths: Vec<PathBuf> = if crate::fs::glob::has_magic(pattern) {
        let v = fs.glob(pattern)?;
        if v.is_empty() {
            return Err(FsError::NotFound(PathBuf::from(pattern)));
        }
        v
    } else {
        vec![crate::fs::normalize(Path::new(pattern))]
    };
    let mut out = Vec::new();
    for p in paths {
        let lmd = fs.symlink_metadata(&p)?;
        // Like ls: a symlink to a directory given by name is listed as the directory.
        let md = if lmd.is_symlink() {
            fs.metadata(&p).unwrap_or(lmd.clone())
        } else {
            lmd.clone()
        };
        if md.is_dir() {
            let mut entries = vec![entry(fs, &names, &p, &md)];
            entries[0].path = ".".into();
            for de in fs.read_dir(&p)? {
                let child = p.join(&de.name);
                match fs.symlink_metadata(&child) {
                    Ok(cmd) => {
                        let mut e = entry(fs, &names, &child, &cmd);
                        e.path = de.name.to_string_lossy().into_owned();
                        entries.push(e);
                    }
                    Err(err) => entries.push(Entry {
                        path: de.name.to_string_lossy().into_owned(),
                        mode: "??????????".into(),
                        perm: "????".into(),
                        file_type: de.file_type,
                        uid: 0,
                        gid: 0,
                        user: "?".into(),
                        group: "?".into(),
                        size: 0,
                        mtime: 0,
                        symlink_target: None,
                        error: Some(err.to_string()),
                    }),
                }
            }
            out.push(Listed {
                path: p.display().to_string(),
                is_dir: true,
                entries,
            });
        } else {
            out.push(Listed {
                path: p.display().to_string(),
                is_dir: false,
                entries: vec![entry(fs, &names, &p, &lmd)],
            });
        }
    }
    Ok(out)
}

/// Renders listings; `headers` prints each directory's path above its entries (always done when
/// several were listed).
pub fn render_ls(listed: &[Listed], headers: bool) -> String {
    let mut out = String::new();
    let many = headers || listed.len() > 1;
    for (i, l) in listed.iter().enumerate() {
        if l.is_dir && many {
            if i > 0 {
                out.push('\n');
            }
            let _ = writeln!(out, "{}:", l.path);
        }
        let wu = l.entries.iter().map(|e| e.user.len()).max().unwrap_or(0);
        let wg = l.entries.iter().map(|e| e.group.len()).max().unwrap_or(0);
        let ws = l
            .entries
            .iter()
            .map(|e| e.size.to_string().len())
            .max()
            .unwrap_or(0);
        for e in &l.entries {
            let mut name = e.path.clone();
            if let Some(t) = &e.symlink_target {
                let _ = write!(name, " -> {t}");
            }
            if let Some(err) = &e.error {
                let _ = write!(name, "  (unreadable: {err})");
            }
            let _ = writeln!(
                out,
                "{} {:<wu$} {:<wg$} {:>ws$} {} {}",
                e.mode,
                e.user,
                e.group,
                e.size,
                &crate::time::format_utc(e.mtime)[..16],
                name
            );
        }
    }
    out
}

#[derive(Clone, Debug, Serialize)]
pub struct Stat {
    /// The path with every symlink resolved inside the guest (when it differs).
    pub resolved: Option<String>,
    #[serde(flatten)]
    pub entry: Entry,
    pub atime: i64,
    pub ctime: Option<i64>,
    pub inode: Option<u64>,
    pub nlink: Option<u64>,
}

/// `stat` of a guest path (the path itself, not a symlink's target).
pub fn stat(fs: &RootFs, path: &str) -> Result<Stat, FsError> {
    let names = Names::load(fs);
    let p = crate::fs::normalize(Path::new(path));
    let md = fs.symlink_metadata(&p)?;
    let resolved = fs.canonicalize(&p).ok().map(|r| r.display().to_string());
    Ok(Stat {
        resolved: resolved.filter(|r| *r != p.display().to_string()),
        entry: entry(fs, &names, &p, &md),
        atime: md.atime.secs,
        ctime: md.ctime.map(|t| t.secs),
        inode: md.inode,
        nlink: md.nlink,
    })
}

pub fn render_stat(s: &Stat) -> String {
    let e = &s.entry;
    let mut out = String::new();
    let mut file = s.entry.path.clone();
    if let Some(t) = &e.symlink_target {
        let _ = write!(file, " -> {t}");
    }
    let _ = writeln!(out, "  File: {file}");
    if let Some(r) = &s.resolved {
        let _ = writeln!(out, "  Real: {r}");
    }
    let _ = writeln!(out, "  Type: {}", e.file_type.describe());
    let _ = writeln!(out, "  Size: {}", e.size);
    let _ = writeln!(
        out,
        "Access: ({}/{})  Uid: ({} / {})  Gid: ({} / {})",
        e.perm, e.mode, e.uid, e.user, e.gid, e.group
    );
    if let Some(i) = s.inode {
        let _ = writeln!(
            out,
            " Inode: {i}  Links: {}",
            s.nlink.map(|n| n.to_string()).unwrap_or_default()
        );
    }
    let _ = writeln!(out, "Modify: {} UTC", crate::time::format_utc(e.mtime));
    let _ = writeln!(out, "Access: {} UTC", crate::time::format_utc(s.atime));
    if let Some(c) = s.ctime {
        let _ = writeln!(out, "Change: {} UTC", crate::time::format_utc(c));
    }
    out
}

/// The `login` subcommand's result.
#[derive(Clone, Debug, Serialize)]
pub struct LoginOutput {
    pub user: String,
    pub key_login: crate::report::LoginState,
    pub steps: Vec<crate::audit::login::Step>,
    pub findings: Vec<crate::report::Finding>,
    pub key: Option<KeyCheck>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KeyCheck {
    pub fingerprint: String,
    #[serde(rename = "type")]
    pub key_type: String,
    /// `file:line` of the authorized_keys entry that accepts it, `null` if none does.
    pub authorized_at: Option<String>,
}

/// Reads a key given on the command line: a public key line, an authorized_keys line (options
/// first), or a private key whose public half it carries (OpenSSH format, PEM RSA/EC).
pub fn read_key_file(path: &Path) -> Result<crate::sshd::hostkey::PublicKey, String> {
    use crate::sshd::hostkey;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.windows(11).any(|w| w == b"PRIVATE KEY") {
        let info =
            hostkey::parse_private_key(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        if info.encrypted && info.public_blob.is_none() {
            return Err(format!(
                "{}: the key is passphrase-protected and its public half is not readable; pass the .pub file",
                path.display()
            ));
        }
        let blob = info
            .public_blob
            .ok_or_else(|| format!("{}: this private key format does not carry its public key; pass the .pub file (ssh-keygen -y -f KEY)", path.display()))?;
        return Ok(hostkey::PublicKey {
            key_type: info.key_type,
            blob,
            comment: info.comment,
        });
    }
    let text = String::from_utf8_lossy(&bytes);
    let parsed = crate::sshd::authorized_keys::parse(text.as_bytes());
    parsed
        .keys
        .into_iter()
        .next()
        .map(|k| k.key)
        .ok_or_else(|| {
            format!(
                "{}: no public key found (expected `TYPE BASE64 [COMMENT]`)",
                path.display()
            )
        })
}

pub fn render_login(o: &LoginOutput, style: crate::report::text::Style) -> String {
    use crate::report::{LoginState, Severity};
    let mut out = String::new();
    let _ = writeln!(out, "{} {}", style.bold("Login path for"), o.user);
    for st in &o.steps {
        let mark = match st.passed {
            Some(true) => style.severity(Severity::Info, "  ok  "),
            Some(false) => style.severity(Severity::Critical, " FAIL "),
            None => style.severity(Severity::Warning, "  ?   "),
        };
        let _ = writeln!(out, "[{mark}] {}: {}", st.step, st.evidence);
    }
    out.push('\n');
    for f in &o.findings {
        let _ = writeln!(
            out,
            "{} {}",
            style.severity(f.severity, &format!("[{}]", f.id)),
            f.title
        );
        if let Some(p) = &f.path {
            let _ = writeln!(
                out,
                "    where: {p}{}",
                f.line.map(|l| format!(":{l}")).unwrap_or_default()
            );
        }
        let _ = writeln!(out, "    why:   {}", f.detail);
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "    fix:   {}", style.bold(fix));
        }
    }
    let state = match o.key_login {
        LoginState::Allowed => "allowed",
        LoginState::Blocked => "BLOCKED",
        LoginState::Unknown => "unknown",
    };
    let _ = writeln!(out, "{} {state}", style.bold("Key login:"));
    if let Some(k) = &o.key {
        match &k.authorized_at {
            Some(at) => {
                let _ = writeln!(
                    out,
                    "{} {} ({}) is authorized at {at}",
                    style.bold("Key:"),
                    k.fingerprint,
                    k.key_type
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{} {} ({}) is NOT among the keys sshd accepts for {}",
                    style.bold("Key:"),
                    k.fingerprint,
                    k.key_type,
                    o.user
                );
            }
        }
    }
    out
}

/// `sshd-config`'s JSON form.
#[derive(Debug, Serialize)]
pub struct SshdConfigOutput {
    /// "OpenSSH 9.2 (Debian/Ubuntu build)".
    pub sshd: String,
    /// The files read, main file first.
    pub files: Vec<String>,
    /// True when sshd would not start with this configuration.
    pub fatal: bool,
    pub problems: Vec<SshdConfigProblem>,
    /// The Match lines that matched this connection.
    pub matched: Vec<String>,
    /// Match lines that could not be decided without more connection attributes.
    pub undecided: Vec<String>,
    /// `sshd -T` lines as [keyword, value].
    pub options: Vec<(String, String)>,
}

#[derive(Debug, Serialize)]
pub struct SshdConfigProblem {
    /// fatal | error | info
    pub level: &'static str,
    pub file: String,
    pub line: usize,
    /// sshd's own message.
    pub message: String,
}

impl SshdConfigOutput {
    pub fn new(
        build: &crate::sshd::config::Build,
        files: &[String],
        p: &crate::sshd::config::Parsed,
    ) -> SshdConfigOutput {
        use crate::sshd::config::Level;
        let dump = if p.fatal {
            String::new()
        } else {
            crate::sshd::config::dump::dump(&p.options, build)
        };
        SshdConfigOutput {
            sshd: build.describe(),
            files: files.to_vec(),
            fatal: p.fatal,
            problems: p
                .problems
                .iter()
                .map(|x| SshdConfigProblem {
                    level: match x.level {
                        Level::Fatal => "fatal",
                        Level::Error => "error",
                        Level::Info => "info",
                    },
                    file: x.file.clone(),
                    line: x.line,
                    message: x.sshd_message(),
                })
                .collect(),
            matched: p.matched.iter().map(|(f, l)| format!("{f}:{l}")).collect(),
            undecided: p
                .undecided
                .iter()
                .map(|u| {
                    format!(
                        "{}:{}: Match {} (needs {})",
                        u.file,
                        u.line,
                        u.criteria,
                        u.needs.join(", ")
                    )
                })
                .collect(),
            options: dump
                .lines()
                .map(|l| match l.split_once(' ') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (l.to_string(), String::new()),
                })
                .collect(),
        }
    }
}
