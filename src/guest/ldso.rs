//! Shared-library resolution as the guest's glibc `ld.so` would do it at exec time, offline.
//!
//! Mirrors glibc `elf/dl-load.c: _dl_map_object` (search order) and `open_verify` (what is
//! skipped and what is fatal):
//! 1. a name with a `/` is a path;
//! 2. when the requesting object has no `DT_RUNPATH`: the `DT_RPATH` of the requester, then of
//!    each object up the chain that loaded it, then of the executable (an object's `DT_RPATH`
//!    is ignored when it also has `DT_RUNPATH`, `elf/get-dynamic-info.h`);
//! 3. (`LD_LIBRARY_PATH`: not set at boot);
//! 4. the requester's own `DT_RUNPATH`;
//! 5. `/etc/ld.so.cache`: approximated by the directories of `/etc/ld.so.conf` and its
//!    `include`s, which is what `ldconfig` builds the cache from;
//! 6. the default directories of the architecture.
//!
//! A candidate of the wrong class or machine is skipped and the search goes on (as
//! `open_verify` does with `found_other_class`); a candidate that exists but is empty, zeroed
//! or not ELF stops the load ("file too short", "invalid ELF header"): that is the problem
//! reported for it. `$ORIGIN`, `$LIB` and `$PLATFORM` expand in RPATH/RUNPATH. Paths are guest
//! paths; usr-merge symlinks resolve through `RootFs`.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use super::elf::{self, Class, ElfError, ElfInfo, ReadElfError};
use crate::fs::{FsError, RootFs};

/// At most this many libraries are resolved for one binary (sshd needs ~25).
pub const MAX_LIBS: usize = 512;
/// `include` nesting in ld.so.conf.
const MAX_CONF_DEPTH: usize = 16;
/// Entries of one RPATH/RUNPATH used (real ones have 1–3).
const MAX_PATH_ENTRIES: usize = 64;
/// Candidate directories kept from configuration (guards against a generated huge conf).
const MAX_DIRS: usize = 4096;

/// Why a library (or the binary, or its interpreter) is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LibProblem {
    #[error("not found in {}", join(searched))]
    NotFound { searched: Vec<PathBuf> },
    #[error("{}: empty file (0 bytes)", path.display())]
    Empty { path: PathBuf },
    #[error("{}: all NUL bytes ({size} bytes)", path.display())]
    AllNul { path: PathBuf, size: u64 },
    #[error("{}: not an ELF file: {detail}", path.display())]
    NotElf { path: PathBuf, detail: String },
    #[error("{}: damaged ELF file: {detail}", path.display())]
    Damaged { path: PathBuf, detail: String },
    #[error("{}: built for {found}, the program is {expected}", path.display())]
    WrongArch {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{}: {detail}", path.display())]
    Unreadable { path: PathBuf, detail: String },
}

fn join(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl LibProblem {
    /// The guest path the problem is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            LibProblem::NotFound { .. } => None,
            LibProblem::Empty { path }
            | LibProblem::AllNul { path, .. }
            | LibProblem::NotElf { path, .. }
            | LibProblem::Damaged { path, .. }
            | LibProblem::WrongArch { path, .. }
            | LibProblem::Unreadable { path, .. } => Some(path),
        }
    }

    fn from_read(path: &Path, e: ReadElfError) -> LibProblem {
        let path = path.to_path_buf();
        match e {
            ReadElfError::Elf { err, .. } => match err {
                ElfError::Empty => LibProblem::Empty { path },
                ElfError::AllNul(size) => LibProblem::AllNul { path, size },
                ElfError::NotElf(d) => LibProblem::NotElf { path, detail: d },
                other => LibProblem::Damaged {
                    path,
                    detail: other.to_string(),
                },
            },
            ReadElfError::Fs(e) => LibProblem::Unreadable {
                path,
                detail: e.to_string(),
            },
        }
    }
}

/// One `DT_NEEDED` entry of the closure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lib {
    pub soname: String,
    /// The first object that asked for it.
    pub needed_by: PathBuf,
    /// Where ld.so would load it from (also set when what is there is unusable).
    pub resolved: Option<PathBuf>,
    pub problem: Option<LibProblem>,
}

/// Everything a dynamically linked program needs loaded before `main`.
#[derive(Clone, Debug)]
pub struct Closure {
    pub binary: PathBuf,
    /// The program itself: its ELF facts, or why it cannot be executed.
    pub program: Result<ElfInfo, LibProblem>,
    /// `PT_INTERP` and whether it is usable; `None` for a static program (or when the program
    /// is unusable).
    pub interpreter: Option<Result<PathBuf, LibProblem>>,
    /// In load order (breadth first, as ld.so maps them).
    pub libs: Vec<Lib>,
    /// More than [`MAX_LIBS`] libraries: the rest were not examined.
    pub truncated: bool,
}

impl Closure {
    /// Every problem, with the soname it concerns (`None` for the program and interpreter).
    pub fn problems(&self) -> Vec<(Option<&str>, &LibProblem)> {
        let mut out = Vec::new();
        if let Err(p) = &self.program {
            out.push((None, p));
        }
        if let Some(Err(p)) = &self.interpreter {
            out.push((None, p));
        }
        for l in &self.libs {
            if let Some(p) = &l.problem {
                out.push((Some(l.soname.as_str()), p));
            }
        }
        out
    }
}

/// One line of `ld.so.conf` (`ldconfig.c: parse_conf`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfLine {
    Dir(String),
    /// Glob patterns; relative ones are relative to the including file's directory.
    Include(Vec<String>),
}

/// Parses `ld.so.conf` text: `#` comments, `include PATTERN…`, `hwcap` lines (ignored), one
/// directory per other line (trailing `/` removed; the old `dir=TYPE` suffix dropped).
pub fn parse_ld_so_conf(text: &str) -> Vec<ConfLine> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if first == "include" {
            out.push(ConfLine::Include(words.map(str::to_string).collect()));
        } else if first.eq_ignore_ascii_case("hwcap") {
            continue;
        } else {
            let dir = line.split('=').next().unwrap_or(line).trim_end();
            let dir = dir.trim_end_matches('/');
            out.push(ConfLine::Dir(if dir.is_empty() {
                "/".into()
            } else {
                dir.into()
            }));
        }
    }
    out
}

/// The directories `/etc/ld.so.conf` names, includes expanded in glob order. A missing file
/// gives no directories.
pub fn conf_dirs(fs: &RootFs) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    conf_file(fs, Path::new("/etc/ld.so.conf"), 0, &mut dirs);
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

fn conf_file(fs: &RootFs, path: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > MAX_CONF_DEPTH || out.len() > MAX_DIRS {
        return;
    }
    let Ok(text) = fs.read_to_string_lossy(path) else {
        return;
    };
    let base = path.parent().unwrap_or(Path::new("/"));
    for line in parse_ld_so_conf(&text) {
        match line {
            ConfLine::Dir(d) => out.push(PathBuf::from(d)),
            ConfLine::Include(patterns) => {
                for p in patterns {
                    let pat = if p.starts_with('/') {
                        p
                    } else {
                        base.join(&p).to_string_lossy().into_owned()
                    };
                    for f in fs.glob(&pat).unwrap_or_default() {
                        conf_file(fs, &f, depth + 1, out);
                    }
                }
            }
        }
    }
}

/// The multiarch triplet Debian and Ubuntu use for this architecture.
fn triplet(info: &ElfInfo) -> Option<&'static str> {
    Some(match (info.arch().as_str(), info.class) {
        ("x86_64", Class::Elf64) => "x86_64-linux-gnu",
        ("x86_64", Class::Elf32) => "x86_64-linux-gnux32",
        ("i386", _) => "i386-linux-gnu",
        ("aarch64", _) => "aarch64-linux-gnu",
        ("arm", _) => "arm-linux-gnueabihf",
        ("ppc64le", _) => "powerpc64le-linux-gnu",
        ("s390x", _) => "s390x-linux-gnu",
        ("riscv64", _) => "riscv64-linux-gnu",
        _ => return None,
    })
}

/// Default directories: the multiarch ones (Debian's glibc is built with them as system
/// directories), then `lib64` for 64-bit (RHEL, SUSE), then `lib`.
pub fn default_dirs(info: &ElfInfo) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(t) = triplet(info) {
        v.push(PathBuf::from(format!("/lib/{t}")));
        v.push(PathBuf::from(format!("/usr/lib/{t}")));
    }
    if info.class == Class::Elf64 {
        v.push("/lib64".into());
        v.push("/usr/lib64".into());
    }
    v.push("/lib".into());
    v.push("/usr/lib".into());
    v
}

/// Splits a DT_RPATH/DT_RUNPATH value and expands `$ORIGIN`, `$LIB`, `$PLATFORM`
/// (`elf/dl-load.c: fillin_rpath`, `_dl_dst_substitute`). Empty elements (the current
/// directory at run time) are dropped: there is no meaningful one offline.
pub fn expand_path_list(list: &str, origin: &Path, info: &ElfInfo) -> Vec<PathBuf> {
    // glibc's $LIB is a build setting (`lib64` on RHEL and SUSE x86_64, the multiarch
    // `lib/x86_64-linux-gnu` on Debian); `lib64`/`lib` by class is the common case.
    let lib = if info.class == Class::Elf64 {
        "lib64"
    } else {
        "lib"
    };
    let platform = info.arch();
    let origin = origin.to_string_lossy();
    list.split(':')
        .filter(|s| !s.is_empty())
        .take(MAX_PATH_ENTRIES)
        .map(|s| {
            let s = s
                .replace("${ORIGIN}", &origin)
                .replace("$ORIGIN", &origin)
                .replace("${LIB}", lib)
                .replace("$LIB", lib)
                .replace("${PLATFORM}", &platform)
                .replace("$PLATFORM", &platform);
            crate::fs::normalize(Path::new(&s))
        })
        .collect()
}

/// The architecture of the guest: the first of a few always-present programs that parses.
pub fn guest_elf(fs: &RootFs) -> Option<ElfInfo> {
    [
        "/bin/sh",
        "/usr/bin/env",
        "/sbin/init",
        "/bin/ls",
        "/usr/bin/ls",
    ]
    .iter()
    .find_map(|p| elf::read_elf(fs, Path::new(p)).ok())
}

/// An object loaded so far: its path, facts and the index of the object that loaded it.
struct Loaded {
    path: PathBuf,
    info: ElfInfo,
    loader: Option<usize>,
}

/// Resolves the program's interpreter and its `DT_NEEDED` closure in the guest.
pub fn resolve_closure(fs: &RootFs, binary: &Path) -> Closure {
    let reference = guest_elf(fs);
    let mut closure = Closure {
        binary: binary.to_path_buf(),
        program: Err(LibProblem::NotFound { searched: vec![] }),
        interpreter: None,
        libs: Vec::new(),
        truncated: false,
    };
    let program = match elf::read_elf(fs, binary) {
        Ok(i) => i,
        Err(ReadElfError::Fs(FsError::NotFound(_))) => {
            closure.program = Err(LibProblem::NotFound {
                searched: vec![binary.to_path_buf()],
            });
            return closure;
        }
        Err(e) => {
            closure.program = Err(LibProblem::from_read(binary, e));
            return closure;
        }
    };
    if let Some(r) = &reference {
        if !r.compatible(&program) {
            closure.program = Err(LibProblem::WrongArch {
                path: binary.to_path_buf(),
                found: describe(&program),
                expected: format!("{} (as /bin/sh in the guest)", describe(r)),
            });
            return closure;
        }
    }
    closure.program = Ok(program.clone());
    let mut loaded = vec![Loaded {
        path: binary.to_path_buf(),
        info: program.clone(),
        loader: None,
    }];
    // soname → index in closure.libs: ld.so maps each soname once.
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    if let Some(interp) = program.interpreter.clone() {
        let p = PathBuf::from(&interp);
        let r = match elf::read_elf(fs, &p) {
            Ok(i) if !program.compatible(&i) => Err(LibProblem::WrongArch {
                path: p.clone(),
                found: describe(&i),
                expected: describe(&program),
            }),
            Ok(i) => {
                // libc names the loader in its DT_NEEDED; ld.so matches that to itself.
                if let Some(so) = &i.soname {
                    by_name.insert(so.clone(), usize::MAX);
                }
                let base = p.file_name().map(|n| n.to_string_lossy().into_owned());
                if let Some(b) = base {
                    by_name.insert(b, usize::MAX);
                }
                Ok(p.clone())
            }
            Err(ReadElfError::Fs(FsError::NotFound(_))) => {
                Err(LibProblem::NotFound { searched: vec![p] })
            }
            Err(e) => Err(LibProblem::from_read(&p, e)),
        };
        closure.interpreter = Some(r);
    }
    let conf = conf_dirs(fs);
    let defaults = default_dirs(&program);
    let mut queue: VecDeque<usize> = VecDeque::from([0]);
    while let Some(obj) = queue.pop_front() {
        let needed = loaded[obj].info.needed.clone();
        for soname in needed {
            if by_name.contains_key(&soname) {
                continue;
            }
            if closure.libs.len() >= MAX_LIBS {
                closure.truncated = true;
                return closure;
            }
            let dirs = search_dirs(&loaded, obj, &conf, &defaults);
            let (resolved, problem, info) = find_lib(fs, &soname, &dirs, &program);
            by_name.insert(soname.clone(), closure.libs.len());
            if let (Some(path), Some(info)) = (&resolved, info) {
                loaded.push(Loaded {
                    path: path.clone(),
                    info,
                    loader: Some(obj),
                });
                queue.push_back(loaded.len() - 1);
            }
            closure.libs.push(Lib {
                soname,
                needed_by: loaded[obj].path.clone(),
                resolved,
                problem,
            });
        }
    }
    closure
}

fn describe(i: &ElfInfo) -> String {
    let bits = match i.class {
        Class::Elf32 => "32-bit",
        Class::Elf64 => "64-bit",
    };
    format!("{} {bits}", i.arch())
}

/// The directories searched for a name needed by `loaded[obj]`, in order.
fn search_dirs(
    loaded: &[Loaded],
    obj: usize,
    conf: &[PathBuf],
    defaults: &[PathBuf],
) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let me = &loaded[obj];
    let origin_of = |l: &Loaded| l.path.parent().unwrap_or(Path::new("/")).to_path_buf();
    if me.info.runpath.is_none() {
        // RPATH of the requester, then up the loader chain (bounded by the chain's length,
        // which only points backwards).
        let mut cur = Some(obj);
        let mut steps = 0;
        while let Some(i) = cur {
            let l = &loaded[i];
            if l.info.runpath.is_none() {
                if let Some(rp) = &l.info.rpath {
                    dirs.extend(expand_path_list(rp, &origin_of(l), &l.info));
                }
            }
            cur = l.loader;
            steps += 1;
            if steps > loaded.len() {
                break;
            }
        }
    }
    if let Some(rp) = &me.info.runpath {
        dirs.extend(expand_path_list(rp, &origin_of(me), &me.info));
    }
    dirs.extend(conf.iter().cloned());
    dirs.extend(defaults.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// Looks `soname` up in `dirs` as `open_verify` would: wrong-arch candidates are skipped,
/// an unusable first match stops the search.
fn find_lib(
    fs: &RootFs,
    soname: &str,
    dirs: &[PathBuf],
    program: &ElfInfo,
) -> (Option<PathBuf>, Option<LibProblem>, Option<ElfInfo>) {
    let candidates: Vec<PathBuf> = if soname.contains('/') {
        vec![PathBuf::from(soname)]
    } else {
        dirs.iter().map(|d| d.join(soname)).collect()
    };
    let mut wrong: Option<LibProblem> = None;
    for path in candidates {
        match elf::read_elf(fs, &path) {
            Ok(info) if program.compatible(&info) => return (Some(path), None, Some(info)),
            Ok(info) => {
                wrong.get_or_insert(LibProblem::WrongArch {
                    path,
                    found: describe(&info),
                    expected: describe(program),
                });
            }
            // Missing, a dangling link, a path through a non-directory: open fails, go on.
            Err(ReadElfError::Fs(FsError::NotFound(_) | FsError::NotADirectory(_))) => {}
            Err(e) => {
                let p = LibProblem::from_read(&path, e);
                return (Some(path), Some(p), None);
            }
        }
    }
    match wrong {
        Some(w) => (None, Some(w), None),
        None => (
            None,
            Some(LibProblem::NotFound {
                searched: if soname.contains('/') {
                    vec![PathBuf::from(soname)]
                } else {
                    dirs.to_vec()
                },
            }),
            None,
        ),
    }
}

#[cfg(test)]
mod tests;
