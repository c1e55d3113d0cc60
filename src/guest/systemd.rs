//! Will the boot start sshd? The guest's systemd units read offline: where a unit's file is,
//! whether it is masked or an alias, its drop-ins, whether the default target pulls it in (and
//! through which `.wants/` link or `Wants=` line), the default target itself, `[Install]` for
//! the fix, `Condition*` paths, and for socket activation the `ListenStream=` list. Guests
//! without systemd fall back to SysV runlevel links.
//!
//! Semantics mirrored (systemd v247–v256): unit file syntax of `src/shared/conf-parser.c:
//! config_parse` (sections, `#`/`;` comments, trailing-backslash continuation joined with a
//! space, an empty assignment resetting a list); search order and masking of
//! `src/basic/unit-file.c: unit_file_build_name_map` (the first directory holding the name
//! wins; a symlink to `/dev/null` or an empty file masks; a symlink to another name is an
//! alias); drop-ins of `src/core/load-dropin.c` (`NAME.d/*.conf` in every directory, one per
//! file name, the higher-priority directory winning, applied in file-name order; `.wants/` and
//! `.requires/` links). `/run` is a tmpfs and empty offline; generators do not run (see
//! [`ServiceState::socket_generator`]).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use crate::fs::{FileType, RootFs};

/// Unit directories in priority order, as a system manager sees them with `/run` empty.
/// Debian and Ubuntu build systemd with `/lib/systemd/system` before `/usr/lib/systemd/system`
/// (`systemd-analyze unit-paths`); on a merged-/usr guest they are one directory.
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// Units examined while walking dependencies from the default target (Debian boots ~150).
const MAX_UNITS: usize = 4096;
/// Unit files and drop-ins are small; larger ones are not read.
const MAX_UNIT_FILE: u64 = 1024 * 1024;
/// Drop-ins considered per unit.
const MAX_DROPINS: usize = 256;

/// The unit names an sshd may run under.
pub const SSH_UNITS: &[&str] = &["ssh.service", "sshd.service", "ssh.socket", "sshd.socket"];

/// One assignment in a unit file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub section: String,
    pub key: String,
    pub value: String,
    pub file: PathBuf,
    /// 1-based line of the assignment's first line.
    pub line: usize,
}

/// Parses unit file text (`config_parse`). Lines outside any section and lines without `=`
/// are skipped, as systemd does after logging them.
pub fn parse_unit(text: &str, file: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut cont: Option<(String, usize)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim();
        // Comment lines are dropped even inside a continuation.
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let (mut text, start) = match cont.take() {
            Some((mut acc, start)) => {
                acc.push_str(trimmed);
                (acc, start)
            }
            None => (trimmed.to_string(), line_no),
        };
        if text.ends_with('\\') && !text.ends_with("\\\\") {
            text.pop();
            text.push(' ');
            cont = Some((text, start));
            continue;
        }
        let l = text.trim();
        if l.is_empty() {
            continue;
        }
        if l.starts_with('[') {
            if let Some(name) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = name.to_string();
            }
            continue;
        }
        if section.is_empty() {
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            out.push(Entry {
                section: section.clone(),
                key: k.trim().to_string(),
                value: v.trim().to_string(),
                file: file.to_path_buf(),
                line: start,
            });
        }
    }
    if let Some((text, start)) = cont {
        // A continuation at end of file: systemd takes what it has.
        let mut more = parse_unit(&format!("[{section}]\n{text}"), file);
        for e in &mut more {
            e.line = start;
        }
        out.extend(more);
    }
    out
}

/// A unit's assignments: its file, then its drop-ins in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unit {
    pub entries: Vec<Entry>,
}

impl Unit {
    /// Every value of a list-valued key in order, an empty assignment clearing what came
    /// before (`Wants=`, `ListenStream=`, `WantedBy=`).
    pub fn list(&self, section: &str, key: &str) -> Vec<&Entry> {
        let mut out: Vec<&Entry> = Vec::new();
        for e in &self.entries {
            if e.section == section && e.key == key {
                if e.value.is_empty() {
                    out.clear();
                } else {
                    out.push(e);
                }
            }
        }
        out
    }

    /// The effective value of a single-valued key: the last assignment.
    pub fn last(&self, section: &str, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.section == section && e.key == key)
    }

    /// Whitespace-separated unit names of list keys.
    pub fn names(&self, section: &str, key: &str) -> Vec<String> {
        self.list(section, key)
            .iter()
            .flat_map(|e| e.value.split_whitespace().map(str::to_string))
            .collect()
    }
}

/// Why a unit is masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mask {
    /// A symlink to `/dev/null` (`systemctl mask`).
    DevNull(PathBuf),
    /// An empty file.
    Empty(PathBuf),
}

impl Mask {
    pub fn path(&self) -> &Path {
        match self {
            Mask::DevNull(p) | Mask::Empty(p) => p,
        }
    }
}

/// Where a unit name's definition is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitFile {
    pub name: String,
    /// The entry in the unit directory that defines the name (a file or symlink).
    pub path: PathBuf,
    /// The name this one is an alias of (a symlink to a file of another name).
    pub alias_of: Option<String>,
    /// The real file read, `None` when masked.
    pub fragment: Option<PathBuf>,
    pub masked: Option<Mask>,
    /// Drop-in files applied, in order.
    pub dropins: Vec<PathBuf>,
    pub unit: Unit,
}

impl UnitFile {
    /// The unit's own name: the alias target, else the name.
    pub fn id(&self) -> &str {
        self.alias_of.as_deref().unwrap_or(&self.name)
    }
}

fn unit_dirs(fs: &RootFs) -> Vec<PathBuf> {
    // On a merged-/usr guest `/lib/systemd/system` is `/usr/lib/systemd/system`: once.
    let mut seen = HashSet::new();
    UNIT_DIRS
        .iter()
        .map(PathBuf::from)
        .filter(|d| {
            let real = fs.canonicalize(d).unwrap_or_else(|_| d.clone());
            fs.metadata(&real).map(|m| m.is_dir()).unwrap_or(false) && seen.insert(real)
        })
        .collect()
}

fn is_dev_null(fs: &RootFs, p: &Path) -> bool {
    fs.read_link(p).is_ok_and(|t| t == Path::new("/dev/null"))
        || fs
            .canonicalize(p)
            .is_ok_and(|c| c == Path::new("/dev/null"))
}

fn read_unit_text(fs: &RootFs, p: &Path) -> Option<String> {
    fs.read_limited(p, MAX_UNIT_FILE)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Finds and loads a unit by name: its file (or the template's, for `name@instance.type`),
/// masking, alias, drop-ins. `None` when no directory has it.
pub fn find_unit(fs: &RootFs, name: &str) -> Option<UnitFile> {
    let dirs = unit_dirs(fs);
    find_unit_in(fs, &dirs, name)
}

fn find_unit_in(fs: &RootFs, dirs: &[PathBuf], name: &str) -> Option<UnitFile> {
    find_unit_depth(fs, dirs, name, &[], 0)
}

/// Alias chains followed at most this deep.
const MAX_ALIAS_DEPTH: usize = 8;

/// `also`: names that alias this unit, whose drop-ins apply too.
fn find_unit_depth(
    fs: &RootFs,
    dirs: &[PathBuf],
    name: &str,
    also: &[String],
    depth: usize,
) -> Option<UnitFile> {
    let mut names = vec![name.to_string()];
    if let Some(t) = template_of(name) {
        names.push(t);
    }
    let (path, lookup) = names.iter().find_map(|n| {
        dirs.iter()
            .map(|d| d.join(n))
            .find(|p| fs.symlink_metadata(p).is_ok())
            .map(|p| (p, n.clone()))
    })?;
    let mut uf = UnitFile {
        name: name.to_string(),
        path: path.clone(),
        alias_of: None,
        fragment: None,
        masked: None,
        dropins: Vec::new(),
        unit: Unit::default(),
    };
    if is_dev_null(fs, &path) {
        uf.masked = Some(Mask::DevNull(path));
        return Some(uf);
    }
    let Ok(real) = fs.canonicalize(&path) else {
        // A dangling symlink: systemd reports the unit as not found.
        return None;
    };
    if let Some(target) = real.file_name().map(|n| n.to_string_lossy().into_owned()) {
        if target != lookup && fs.symlink_metadata(&path).is_ok_and(|m| m.is_symlink()) {
            // An alias is the same unit as its target, loaded under the target's name: a mask
            // of the target (in a higher-priority directory) masks the alias too.
            if depth < MAX_ALIAS_DEPTH {
                let mut also = also.to_vec();
                also.push(name.to_string());
                if let Some(mut t) = find_unit_depth(fs, dirs, &target, &also, depth + 1) {
                    t.alias_of = Some(t.alias_of.take().unwrap_or(target));
                    t.name = name.to_string();
                    t.path = path;
                    return Some(t);
                }
            }
            uf.alias_of = Some(target);
        }
    }
    match fs.metadata(&real) {
        Ok(m) if m.file_type == FileType::Regular && m.size == 0 => {
            uf.masked = Some(Mask::Empty(path));
            return Some(uf);
        }
        Ok(m) if m.file_type == FileType::Regular => {}
        _ => return None,
    }
    let text = read_unit_text(fs, &real).unwrap_or_default();
    uf.unit.entries = parse_unit(&text, &real);
    uf.fragment = Some(real);
    // Drop-ins for every name the unit answers to, and the template's.
    let mut dropin_names: Vec<String> = vec![name.to_string()];
    for n in [Some(lookup), uf.alias_of.clone(), template_of(name)]
        .into_iter()
        .flatten()
        .chain(also.iter().cloned())
    {
        if !dropin_names.contains(&n) {
            dropin_names.push(n);
        }
    }
    let mut by_file: BTreeMap<String, PathBuf> = BTreeMap::new();
    for d in dirs {
        for n in &dropin_names {
            let dd = d.join(format!("{n}.d"));
            let Ok(entries) = fs.read_dir(&dd) else {
                continue;
            };
            for e in entries {
                let f = e.name.to_string_lossy().into_owned();
                if f.ends_with(".conf") && by_file.len() < MAX_DROPINS {
                    by_file.entry(f).or_insert_with(|| dd.join(&e.name));
                }
            }
        }
    }
    for p in by_file.into_values() {
        if is_dev_null(fs, &p) {
            continue;
        }
        if let Some(text) = read_unit_text(fs, &p) {
            uf.unit.entries.extend(parse_unit(&text, &p));
            uf.dropins.push(p);
        }
    }
    Some(uf)
}

/// `getty@tty1.service` → `getty@.service`.
fn template_of(name: &str) -> Option<String> {
    let (prefix, rest) = name.split_once('@')?;
    let (instance, suffix) = rest.rsplit_once('.')?;
    (!instance.is_empty()).then(|| format!("{prefix}@.{suffix}"))
}

/// How a unit got pulled into the boot transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PulledIn {
    /// The unit that wants or requires it.
    pub by: String,
    /// The `.wants/`/`.requires/` symlink, or the unit file (or drop-in) with the line.
    pub via: PathBuf,
    pub line: Option<usize>,
}

/// The default target and whether it boots to a state where sshd can run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultTarget {
    pub name: String,
    /// `default.target` as found (usually a symlink), `None` when falling back to the distro
    /// default `graphical.target`.
    pub link: Option<PathBuf>,
    /// `emergency.target`, `rescue.target` (and their aliases): boot stops short of sshd.
    pub is_rescue: bool,
}

/// One listening socket of a socket unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    /// The raw `ListenStream=` value: `22`, `0.0.0.0:2222`, `[::]:22`, `/run/x.sock`.
    pub value: String,
    /// The TCP port, when the value names one.
    pub port: Option<u16>,
    /// The address part, when given (`0.0.0.0`, `::`).
    pub address: Option<String>,
    pub file: PathBuf,
    pub line: usize,
}

/// `ListenStream=` syntax of systemd.socket(5) for the TCP forms.
pub fn parse_listen(value: &str) -> (Option<String>, Option<u16>) {
    if value.starts_with('/') || value.starts_with('@') || value.starts_with("vsock:") {
        return (None, None);
    }
    if let Ok(p) = value.parse::<u16>() {
        return (None, Some(p));
    }
    if let Some(rest) = value.strip_prefix('[') {
        if let Some((addr, port)) = rest.split_once("]:") {
            return (Some(addr.to_string()), port.parse().ok());
        }
    }
    match value.rsplit_once(':') {
        Some((addr, port)) => (Some(addr.to_string()), port.parse().ok()),
        None => (None, None),
    }
}

/// A `Condition…Path…=` check and its outcome in the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub key: String,
    pub value: String,
    pub file: PathBuf,
    pub line: usize,
    /// `Some(false)`: the unit is skipped at boot. `None`: not evaluated offline.
    pub holds: Option<bool>,
}

/// One of the sshd unit names, as the boot would see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitState {
    pub name: String,
    pub file: Option<UnitFile>,
    /// Pulled in by the default target (`Some`, with the first link of the chain), or not.
    pub pulled_in: Option<PulledIn>,
    /// The chain of units from the default target to this one.
    pub chain: Vec<String>,
    /// `.wants/`/`.requires/` symlinks naming it anywhere, reached or not.
    pub install_links: Vec<PathBuf>,
    /// `[Install] WantedBy=` and `RequiredBy=`: where `systemctl enable` links it.
    pub wanted_by: Vec<String>,
    /// `[Install] Alias=`.
    pub aliases: Vec<String>,
    /// Alias symlinks `systemctl enable` made (`/etc/systemd/system/sshd.service`).
    /// `systemctl is-enabled` reports "enabled" when these exist even with no `.wants/` link,
    /// although nothing then pulls the unit in at boot: use [`UnitState::pulled_in`].
    pub alias_links: Vec<PathBuf>,
    pub conditions: Vec<Condition>,
    /// Socket units: the effective `ListenStream=` list.
    pub listen: Vec<Listen>,
    /// Socket units: `Accept=yes` (one `ssh@.service` per connection).
    pub accept: Option<bool>,
}

impl UnitState {
    pub fn masked(&self) -> Option<&Mask> {
        self.file.as_ref()?.masked.as_ref()
    }
    /// Pulled in at boot, not masked, every path condition holding.
    pub fn starts_at_boot(&self) -> bool {
        self.file.is_some()
            && self.masked().is_none()
            && self.pulled_in.is_some()
            && self.conditions.iter().all(|c| c.holds != Some(false))
    }
}

/// SysV init: the default runlevel and its start links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysV {
    /// From `/etc/inittab` `id:N:initdefault:`; 2 (Debian's default) when absent.
    pub runlevel: char,
    pub inittab_line: Option<usize>,
    /// `/etc/rcN.d/S??ssh*` links.
    pub start_links: Vec<PathBuf>,
    /// `/etc/init.d/ssh` or `sshd`.
    pub init_scripts: Vec<PathBuf>,
}

/// What runs as PID 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Init {
    /// `/sbin/init` resolves to systemd.
    Systemd(PathBuf),
    /// Another init (sysvinit, busybox, upstart): the SysV view applies.
    Other(PathBuf),
    /// No `/sbin/init`: the kernel falls back to `/etc/init`, `/bin/init`, `/bin/sh`.
    Missing,
}

/// Everything that decides whether the boot starts an sshd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceState {
    pub init: Init,
    /// `None` without systemd.
    pub default_target: Option<DefaultTarget>,
    pub units: Vec<UnitState>,
    pub sysv: Option<SysV>,
    /// Ubuntu's `sshd-socket-generator`: at boot it writes `ssh.socket` drop-ins from
    /// `sshd_config`'s `Port`/`ListenAddress` into `/run`, which offline does not exist.
    pub socket_generator: Option<PathBuf>,
    /// The walk from the default target stopped at [`MAX_UNITS`].
    pub truncated: bool,
}

impl ServiceState {
    pub fn unit(&self, name: &str) -> Option<&UnitState> {
        self.units.iter().find(|u| u.name == name)
    }
}

/// Decides, for each of `names`, whether the guest's boot starts it.
pub fn service_state(fs: &RootFs, names: &[&str]) -> ServiceState {
    let init = match fs.canonicalize("/sbin/init") {
        Ok(p) if p.to_string_lossy().contains("systemd") => Init::Systemd(p),
        Ok(p) => Init::Other(p),
        Err(_) => Init::Missing,
    };
    let dirs = unit_dirs(fs);
    let socket_generator = [
        "/usr/lib/systemd/system-generators/sshd-socket-generator",
        "/lib/systemd/system-generators/sshd-socket-generator",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| fs.exists(p).unwrap_or(false));
    let mut state = ServiceState {
        init: init.clone(),
        default_target: None,
        units: Vec::new(),
        sysv: None,
        socket_generator,
        truncated: false,
    };
    let systemd = matches!(init, Init::Systemd(_));
    let mut parents: HashMap<String, (String, PathBuf, Option<usize>)> = HashMap::new();
    if systemd {
        let def = find_unit_in(fs, &dirs, "default.target");
        let (name, link) = match &def {
            Some(u) => (u.id().to_string(), Some(u.path.clone())),
            None => ("graphical.target".to_string(), None),
        };
        let is_rescue = matches!(
            name.as_str(),
            "emergency.target" | "rescue.target" | "runlevel1.target"
        );
        state.default_target = Some(DefaultTarget {
            name: name.clone(),
            link,
            is_rescue,
        });
        state.truncated = walk(fs, &dirs, &name, &mut parents);
    } else {
        state.sysv = Some(sysv(fs));
    }
    for &n in names {
        state.units.push(unit_state(
            fs,
            &dirs,
            n,
            &parents,
            state.default_target.as_ref(),
        ));
    }
    state
}

/// Breadth-first from the default target over `Wants=`, `Requires=`, `BindsTo=`, `Upholds=`
/// and `.wants/`/`.requires/` links, recording for each unit reached who pulled it in.
/// Returns whether the walk was cut short.
fn walk(
    fs: &RootFs,
    dirs: &[PathBuf],
    start: &str,
    parents: &mut HashMap<String, (String, PathBuf, Option<usize>)>,
) -> bool {
    let mut queue = VecDeque::from([start.to_string()]);
    let mut seen: HashSet<String> = HashSet::from([start.to_string()]);
    while let Some(name) = queue.pop_front() {
        let uf = find_unit_in(fs, dirs, &name);
        if uf.as_ref().is_some_and(|u| u.masked.is_some()) {
            continue;
        }
        let mut deps: Vec<(String, PathBuf, Option<usize>)> = Vec::new();
        let mut names = vec![name.clone()];
        if name == start {
            // `default.target.wants/` counts for whatever default.target aliases.
            names.push("default.target".to_string());
        }
        if let Some(u) = &uf {
            for key in ["Wants", "Requires", "BindsTo", "Upholds"] {
                for e in u.unit.list("Unit", key) {
                    for d in e.value.split_whitespace() {
                        deps.push((d.to_string(), e.file.clone(), Some(e.line)));
                    }
                }
            }
            if let Some(a) = &u.alias_of {
                names.push(a.clone());
            }
        }
        for d in dirs {
            for n in &names {
                for kind in ["wants", "requires"] {
                    let wd = d.join(format!("{n}.{kind}"));
                    for e in fs.read_dir(&wd).unwrap_or_default() {
                        let dep = e.name.to_string_lossy().into_owned();
                        deps.push((dep, wd.join(&e.name), None));
                    }
                }
            }
        }
        for (dep, via, line) in deps {
            if seen.len() >= MAX_UNITS {
                return true;
            }
            if seen.insert(dep.clone()) {
                parents.insert(dep.clone(), (name.clone(), via, line));
                queue.push_back(dep);
            }
        }
    }
    false
}

fn unit_state(
    fs: &RootFs,
    dirs: &[PathBuf],
    name: &str,
    parents: &HashMap<String, (String, PathBuf, Option<usize>)>,
    default_target: Option<&DefaultTarget>,
) -> UnitState {
    let file = find_unit_in(fs, dirs, name);
    let mut ids = vec![name.to_string()];
    if let Some(a) = file.as_ref().and_then(|f| f.alias_of.clone()) {
        ids.push(a);
    }
    // Reached under its own name, or under an alias of the same file.
    let reached = ids
        .iter()
        .find(|n| parents.contains_key(*n) || default_target.is_some_and(|t| &t.name == *n));
    let pulled_in = reached.and_then(|n| {
        parents.get(n).map(|(by, via, line)| PulledIn {
            by: by.clone(),
            via: via.clone(),
            line: *line,
        })
    });
    let mut chain = Vec::new();
    if let Some(n) = reached {
        let mut cur = n.clone();
        chain.push(cur.clone());
        while let Some((by, ..)) = parents.get(&cur) {
            if chain.len() > MAX_UNITS || chain.contains(by) {
                break;
            }
            chain.push(by.clone());
            cur = by.clone();
        }
        chain.reverse();
    }
    let mut install_links = Vec::new();
    for d in dirs {
        for e in fs.read_dir(d).unwrap_or_default() {
            let n = e.name.to_string_lossy();
            if e.file_type == FileType::Directory
                && (n.ends_with(".wants") || n.ends_with(".requires"))
            {
                for id in &ids {
                    let l = d.join(&*n).join(id);
                    if fs.symlink_metadata(&l).is_ok() {
                        install_links.push(l);
                    }
                }
            }
        }
    }
    let (mut wanted_by, mut aliases, mut alias_links) = (Vec::new(), Vec::new(), Vec::new());
    let (mut conditions, mut listen, mut accept) = (Vec::new(), Vec::new(), None);
    if let Some(u) = file.as_ref().filter(|u| u.masked.is_none()) {
        wanted_by = u.unit.names("Install", "WantedBy");
        wanted_by.extend(u.unit.names("Install", "RequiredBy"));
        aliases = u.unit.names("Install", "Alias");
        for a in &aliases {
            for d in dirs {
                let l = d.join(a);
                if fs.symlink_metadata(&l).is_ok_and(|m| m.is_symlink())
                    && fs.canonicalize(&l).ok() == u.fragment
                {
                    alias_links.push(l);
                }
            }
        }
        conditions = conditions_of(fs, &u.unit);
        for e in u.unit.list("Socket", "ListenStream") {
            let (address, port) = parse_listen(&e.value);
            listen.push(Listen {
                value: e.value.clone(),
                port,
                address,
                file: e.file.clone(),
                line: e.line,
            });
        }
        accept = u.unit.last("Socket", "Accept").map(|e| {
            matches!(
                e.value.to_ascii_lowercase().as_str(),
                "yes" | "true" | "1" | "on"
            )
        });
    }
    UnitState {
        name: name.to_string(),
        file,
        pulled_in,
        chain,
        install_links,
        wanted_by,
        aliases,
        alias_links,
        conditions,
        listen,
        accept,
    }
}

/// `ConditionPathExists=`, `ConditionPathIsDirectory=`, `ConditionFileNotEmpty=` (and their
/// `Assert` twins) evaluated in the guest; other conditions are listed unevaluated.
fn conditions_of(fs: &RootFs, unit: &Unit) -> Vec<Condition> {
    let mut out = Vec::new();
    for e in &unit.entries {
        if e.section != "Unit" || !(e.key.starts_with("Condition") || e.key.starts_with("Assert")) {
            continue;
        }
        let kind = e
            .key
            .trim_start_matches("Condition")
            .trim_start_matches("Assert");
        let v = e.value.trim_start_matches('|');
        let (negate, path) = match v.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, v),
        };
        let holds = match kind {
            "PathExists" => Some(fs.exists(path).unwrap_or(false)),
            "PathIsDirectory" => Some(fs.metadata(path).is_ok_and(|m| m.is_dir())),
            "FileNotEmpty" => Some(fs.metadata(path).is_ok_and(|m| m.is_file() && m.size > 0)),
            _ => None,
        }
        .map(|h| h != negate);
        // A `|` (triggering) condition alone does not decide; leave it unevaluated.
        let holds = if e.value.starts_with('|') {
            None
        } else {
            holds
        };
        out.push(Condition {
            key: e.key.clone(),
            value: e.value.clone(),
            file: e.file.clone(),
            line: e.line,
            holds,
        });
    }
    out
}

/// The SysV view: default runlevel from `/etc/inittab`, then `/etc/rcN.d/S??ssh*`.
pub fn sysv(fs: &RootFs) -> SysV {
    let mut runlevel = '2';
    let mut inittab_line = None;
    if let Ok(text) = fs.read_to_string_lossy("/etc/inittab") {
        for (i, line) in text.lines().enumerate() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 3 && f[2].trim() == "initdefault" && !line.trim_start().starts_with('#') {
                if let Some(c) = f[1].trim().chars().next() {
                    runlevel = c;
                    inittab_line = Some(i + 1);
                }
            }
        }
    }
    let start_links = fs
        .glob(&format!("/etc/rc{runlevel}.d/S[0-9][0-9]ssh*"))
        .unwrap_or_default();
    let init_scripts = ["/etc/init.d/ssh", "/etc/init.d/sshd"]
        .iter()
        .map(PathBuf::from)
        .filter(|p| fs.exists(p).unwrap_or(false))
        .collect();
    SysV {
        runlevel,
        inittab_line,
        start_links,
        init_scripts,
    }
}

#[cfg(test)]
mod tests;
