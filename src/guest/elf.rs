//! The head of an ELF file: class, byte order, machine, type, the dynamic loader
//! (`PT_INTERP`) and the dynamic section's `DT_NEEDED`, `DT_RUNPATH`, `DT_RPATH`, `DT_SONAME`
//! (System V gABI, "Program Header" and "Dynamic Section"; `elf.h` for the constants).
//!
//! Own parser rather than `goblin` or `object`: the job is ~250 lines, and this one reads only
//! the ranges it needs from a file prefix, reports a truncated or zeroed file (what a crash
//! leaves behind) as a precise error instead of a generic one, and never allocates more than
//! the bounded sizes below from numbers a hostile file supplies.

use std::io::Read;
use std::path::Path;

use crate::fs::{FsError, RootFs};

/// Program headers read at most (real binaries have ~13).
const MAX_PHNUM: usize = 4096;
/// Largest `PT_INTERP`, `PT_DYNAMIC` and `.dynstr` read.
const MAX_INTERP: u64 = 4096;
const MAX_DYNAMIC: u64 = 1024 * 1024;
const MAX_DYNSTR: u64 = 8 * 1024 * 1024;
/// `DT_NEEDED`/`RPATH`/`RUNPATH`/`SONAME` entries kept, and the length of each (PATH_MAX).
const MAX_DYN_STRINGS: usize = 1024;
const MAX_DYN_STRING: usize = 4096;
/// The prefix read first; most binaries need a second read for `PT_DYNAMIC` near their end.
const FIRST_READ: u64 = 256 * 1024;
/// No file is read beyond this offset (the largest shared libraries are ~200 MiB).
const MAX_FILE_READ: u64 = 1024 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("all NUL bytes ({0} bytes): the contents were lost")]
    AllNul(u64),
    #[error("not an ELF file (starts with {0})")]
    NotElf(String),
    #[error("truncated at byte {at}: {what} needs bytes up to {needed}")]
    Truncated {
        at: u64,
        what: &'static str,
        needed: u64,
    },
    #[error("bad ELF header: {0}")]
    BadHeader(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Class {
    Elf32,
    Elf64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Endian {
    Little,
    Big,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ElfType {
    Relocatable,
    Executable,
    /// Shared object or position-independent executable.
    Dynamic,
    Core,
    Other(u16),
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ElfInfo {
    pub class: Class,
    pub endian: Endian,
    /// `e_machine`.
    pub machine: u16,
    pub elf_type: ElfType,
    /// `PT_INTERP`: the dynamic loader a program asks for.
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    pub runpath: Option<String>,
    pub rpath: Option<String>,
    pub soname: Option<String>,
}

impl ElfInfo {
    /// The architecture name distributions use (`uname -m` style).
    pub fn arch(&self) -> String {
        machine_name(self.machine, self.class, self.endian)
    }

    /// Whether ld.so would load `lib` into this object's process: same class, byte order and
    /// machine (glibc `elf/dl-load.c: open_verify` skips mismatches and keeps searching).
    pub fn compatible(&self, lib: &ElfInfo) -> bool {
        self.class == lib.class && self.endian == lib.endian && self.machine == lib.machine
    }
}

/// `e_machine` (and class, byte order) → `x86_64`, `aarch64`, `i386`, `arm`, `ppc64le`, ….
pub fn machine_name(machine: u16, class: Class, endian: Endian) -> String {
    let s = match (machine, class, endian) {
        (3, ..) => "i386",
        (62, ..) => "x86_64",
        (183, ..) => "aarch64",
        (40, ..) => "arm",
        (21, _, Endian::Little) => "ppc64le",
        (21, _, Endian::Big) => "ppc64",
        (20, ..) => "ppc",
        (22, Class::Elf64, _) => "s390x",
        (22, Class::Elf32, _) => "s390",
        (243, Class::Elf64, _) => "riscv64",
        (243, Class::Elf32, _) => "riscv32",
        (8, _, Endian::Little) => "mipsel",
        (8, _, Endian::Big) => "mips",
        (258, ..) => "loongarch64",
        _ => return format!("machine {machine}"),
    };
    s.to_string()
}

/// Why a parse stopped: an error, or a prefix too short for what the file says is there.
enum Stop {
    Error(ElfError),
    NeedMore(u64),
}

impl From<ElfError> for Stop {
    fn from(e: ElfError) -> Stop {
        Stop::Error(e)
    }
}

/// A prefix of a file of `size` bytes.
struct Prefix<'a> {
    b: &'a [u8],
    size: u64,
    endian: Endian,
}

impl Prefix<'_> {
    fn range(&self, off: u64, len: u64, what: &'static str) -> Result<&[u8], Stop> {
        let end = off.checked_add(len).ok_or(ElfError::Truncated {
            at: self.size,
            what,
            needed: u64::MAX,
        })?;
        if end > self.size {
            return Err(ElfError::Truncated {
                at: self.size,
                what,
                needed: end,
            }
            .into());
        }
        if end > self.b.len() as u64 {
            return Err(Stop::NeedMore(end));
        }
        Ok(&self.b[off as usize..end as usize])
    }

    fn uint(&self, off: u64, width: u64, what: &'static str) -> Result<u64, Stop> {
        let r = self.range(off, width, what)?;
        let mut v = 0u64;
        for i in 0..r.len() {
            let byte = match self.endian {
                Endian::Little => r[r.len() - 1 - i],
                Endian::Big => r[i],
            };
            v = (v << 8) | u64::from(byte);
        }
        Ok(v)
    }
}

/// Parses a whole ELF file held in memory.
pub fn parse(bytes: &[u8]) -> Result<ElfInfo, ElfError> {
    match parse_prefix(bytes, bytes.len() as u64) {
        Ok(i) => Ok(i),
        Err(Stop::Error(e)) => Err(e),
        // Unreachable with the whole file, but never panic on a parser path.
        Err(Stop::NeedMore(n)) => Err(ElfError::Truncated {
            at: bytes.len() as u64,
            what: "data",
            needed: n,
        }),
    }
}

struct Phdr {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

fn parse_prefix(b: &[u8], size: u64) -> Result<ElfInfo, Stop> {
    if size == 0 {
        return Err(ElfError::Empty.into());
    }
    if !b.starts_with(b"\x7fELF") {
        if b.len() as u64 == size && b.iter().all(|&x| x == 0) {
            return Err(ElfError::AllNul(size).into());
        }
        if b.len() < 4 && (b.len() as u64) < size {
            return Err(Stop::NeedMore(4));
        }
        if b.len() >= 4 && b[..4] == [0; 4] {
            // Zeroed at the start: all-NUL only if the rest is too.
            if (b.len() as u64) < size {
                return Err(Stop::NeedMore(size));
            }
        }
        let head: String = b.iter().take(8).map(|c| format!("{c:02x}")).collect();
        let shown = if b.starts_with(b"#!") {
            format!("\"#!\": a script, {head}")
        } else {
            head
        };
        return Err(ElfError::NotElf(shown).into());
    }
    let ident = Prefix {
        b,
        size,
        endian: Endian::Little,
    };
    let id = ident.range(0, 16, "the ELF identification")?;
    let class = match id[4] {
        1 => Class::Elf32,
        2 => Class::Elf64,
        c => return Err(ElfError::BadHeader(format!("class byte {c}")).into()),
    };
    let endian = match id[5] {
        1 => Endian::Little,
        2 => Endian::Big,
        d => return Err(ElfError::BadHeader(format!("byte-order byte {d}")).into()),
    };
    let f = Prefix { b, size, endian };
    let is64 = class == Class::Elf64;
    let hdr = if is64 { 64 } else { 52 };
    f.range(0, hdr, "the ELF header")?;
    let elf_type = match f.uint(16, 2, "e_type")? {
        1 => ElfType::Relocatable,
        2 => ElfType::Executable,
        3 => ElfType::Dynamic,
        4 => ElfType::Core,
        t => ElfType::Other(t as u16),
    };
    let machine = f.uint(18, 2, "e_machine")? as u16;
    let (phoff, phentsize, phnum) = if is64 {
        (f.uint(32, 8, "")?, f.uint(54, 2, "")?, f.uint(56, 2, "")?)
    } else {
        (f.uint(28, 4, "")?, f.uint(42, 2, "")?, f.uint(44, 2, "")?)
    };
    let min_ent = if is64 { 56 } else { 32 };
    let mut info = ElfInfo {
        class,
        endian,
        machine,
        elf_type,
        interpreter: None,
        needed: Vec::new(),
        runpath: None,
        rpath: None,
        soname: None,
    };
    if phnum == 0 {
        return Ok(info);
    }
    if phentsize < min_ent || phnum as usize > MAX_PHNUM {
        return Err(
            ElfError::BadHeader(format!("{phnum} program headers of {phentsize} bytes")).into(),
        );
    }
    f.range(phoff, phentsize * phnum, "the program headers")?;
    let mut phdrs = Vec::new();
    for i in 0..phnum {
        let p = phoff + i * phentsize;
        let ph = if is64 {
            Phdr {
                kind: f.uint(p, 4, "")? as u32,
                offset: f.uint(p + 8, 8, "")?,
                vaddr: f.uint(p + 16, 8, "")?,
                filesz: f.uint(p + 32, 8, "")?,
            }
        } else {
            Phdr {
                kind: f.uint(p, 4, "")? as u32,
                offset: f.uint(p + 4, 4, "")?,
                vaddr: f.uint(p + 8, 4, "")?,
                filesz: f.uint(p + 16, 4, "")?,
            }
        };
        phdrs.push(ph);
    }
    const PT_LOAD: u32 = 1;
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    if matches!(elf_type, ElfType::Executable | ElfType::Dynamic)
        && !phdrs.iter().any(|p| p.kind == PT_LOAD)
    {
        // glibc `elf/dl-load.c`: "object file has no loadable segments".
        return Err(ElfError::BadHeader("no loadable (PT_LOAD) segments".into()).into());
    }
    if let Some(ph) = phdrs.iter().find(|p| p.kind == PT_INTERP) {
        let r = f.range(ph.offset, ph.filesz.min(MAX_INTERP), "PT_INTERP")?;
        info.interpreter = Some(c_string(r));
    }
    let Some(dynamic) = phdrs.iter().find(|p| p.kind == PT_DYNAMIC) else {
        return Ok(info);
    };
    let ent = if is64 { 16 } else { 8 };
    let w = ent / 2;
    let d = dynamic.filesz.min(MAX_DYNAMIC);
    f.range(dynamic.offset, d, "PT_DYNAMIC")?;
    let (mut strtab, mut strsz) = (None, None);
    let mut refs: Vec<(u64, u64)> = Vec::new();
    for i in 0..d / ent {
        let p = dynamic.offset + i * ent;
        let tag = f.uint(p, w, "")?;
        let val = f.uint(p + w, w, "")?;
        match tag {
            0 => break,
            5 => strtab = Some(val),
            10 => strsz = Some(val),
            1 | 14 | 15 | 29 if refs.len() < MAX_DYN_STRINGS => refs.push((tag, val)),
            _ => {}
        }
    }
    if refs.is_empty() {
        return Ok(info);
    }
    let strtab = strtab.ok_or_else(|| ElfError::BadHeader("DT_NEEDED without DT_STRTAB".into()))?;
    // DT_STRTAB is a virtual address: map it through the PT_LOAD segment that holds it.
    let seg = phdrs
        .iter()
        .find(|p| p.kind == PT_LOAD && p.vaddr <= strtab && strtab - p.vaddr < p.filesz)
        .ok_or_else(|| {
            ElfError::BadHeader(format!("DT_STRTAB 0x{strtab:x} is in no PT_LOAD segment"))
        })?;
    let str_off = seg
        .offset
        .checked_add(strtab - seg.vaddr)
        .ok_or_else(|| ElfError::BadHeader("DT_STRTAB maps beyond any file offset".into()))?;
    let seg_left = seg.filesz - (strtab - seg.vaddr);
    let len = strsz.unwrap_or(seg_left).min(seg_left).min(MAX_DYNSTR);
    let strs = f.range(str_off, len, ".dynstr")?;
    for (tag, val) in refs {
        let s = usize::try_from(val)
            .ok()
            .and_then(|v| strs.get(v..))
            .map(|t| c_string(&t[..t.len().min(MAX_DYN_STRING)]))
            .ok_or_else(|| ElfError::BadHeader(format!("string offset {val} beyond .dynstr")))?;
        match tag {
            1 => info.needed.push(s),
            14 => info.soname = Some(s),
            15 => info.rpath = Some(s),
            _ => info.runpath = Some(s),
        }
    }
    Ok(info)
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Why an ELF file in the guest could not be examined.
#[derive(Debug, thiserror::Error)]
pub enum ReadElfError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{}: {err}", path.display())]
    Elf {
        path: std::path::PathBuf,
        err: ElfError,
    },
}

impl ReadElfError {
    pub fn elf(&self) -> Option<&ElfError> {
        match self {
            ReadElfError::Elf { err, .. } => Some(err),
            ReadElfError::Fs(_) => None,
        }
    }
}

/// Reads and parses an ELF file in the guest, reading only as far into it as the headers
/// point (the prefix first, then up to the furthest range needed).
pub fn read_elf(fs: &RootFs, path: &Path) -> Result<ElfInfo, ReadElfError> {
    let size = fs.metadata(path)?.size;
    let mut want = FIRST_READ.min(size);
    loop {
        let mut buf = Vec::new();
        fs.open(path)?
            .take(want)
            .read_to_end(&mut buf)
            .map_err(|e| crate::fs::io_error(path, e))?;
        // A file shorter than its metadata says is truncated where the read stopped.
        let real = if (buf.len() as u64) < want {
            buf.len() as u64
        } else {
            size
        };
        match parse_prefix(&buf, real) {
            Ok(i) => return Ok(i),
            Err(Stop::Error(err)) => {
                return Err(ReadElfError::Elf {
                    path: path.to_path_buf(),
                    err,
                });
            }
            Err(Stop::NeedMore(n)) if n > want && n <= MAX_FILE_READ => want = n.min(size),
            Err(Stop::NeedMore(n)) => {
                return Err(ReadElfError::Elf {
                    path: path.to_path_buf(),
                    err: ElfError::Truncated {
                        at: want,
                        what: "data beyond the read limit",
                        needed: n,
                    },
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_elf(path: &str) -> Option<Vec<u8>> {
        std::fs::read(path).ok()
    }

    /// Compares with `readelf -d` / `-l` on the machine's own binaries.
    #[test]
    fn differential_readelf() {
        let Some(ls) = host_elf("/bin/ls") else {
            eprintln!("skipped: no /bin/ls");
            return;
        };
        let info = parse(&ls).unwrap();
        let Ok(o) = std::process::Command::new("readelf")
            .args(["-W", "-d", "-l", "/bin/ls"])
            .output()
        else {
            eprintln!("skipped: readelf not installed");
            return;
        };
        let text = String::from_utf8_lossy(&o.stdout);
        let needed: Vec<String> = text
            .lines()
            .filter(|l| l.contains("(NEEDED)"))
            .filter_map(|l| Some(l.split('[').nth(1)?.trim_end_matches(']').to_string()))
            .collect();
        assert_eq!(info.needed, needed);
        assert!(!needed.is_empty());
        let interp = text
            .lines()
            .find_map(|l| l.split("[Requesting program interpreter: ").nth(1))
            .map(|s| s.trim_end_matches(']').to_string());
        assert_eq!(info.interpreter, interp);
        assert_eq!(info.class, Class::Elf64);
        assert_eq!(info.arch(), std::env::consts::ARCH);
        // And through a guest, read in pieces.
        let mut m = crate::fs::mem::MemFs::new();
        m.file("/bin/ls", &ls, 0o755, 0, 0);
        let fs = m.into_rootfs();
        assert_eq!(read_elf(&fs, Path::new("/bin/ls")).unwrap(), info);
    }

    #[test]
    fn broken_files() {
        assert_eq!(parse(b""), Err(ElfError::Empty));
        assert_eq!(parse(&[0; 4096]), Err(ElfError::AllNul(4096)));
        assert!(matches!(parse(b"#!/bin/sh\n"), Err(ElfError::NotElf(s)) if s.contains("script")));
        let Some(ls) = host_elf("/bin/ls") else {
            return;
        };
        // Every prefix of a real binary errs cleanly (or parses when long enough).
        for cut in (0..ls.len()).step_by(97).chain(0..200) {
            let _ = parse(&ls[..cut]);
        }
        assert!(matches!(parse(&ls[..100]), Err(ElfError::Truncated { .. })));
        // Single-byte corruption in the headers never panics.
        for i in 0..ls.len().min(2048) {
            let mut b = ls.clone();
            b[i] ^= 0xff;
            let _ = parse(&b);
        }
        // A zeroed tail after a real head: truncated data, not all-NUL.
        let mut z = ls[..64].to_vec();
        z.resize(ls.len(), 0);
        assert_eq!(
            parse(&z),
            Err(ElfError::BadHeader("no loadable (PT_LOAD) segments".into()))
        );
    }

    #[test]
    fn synthetic_32bit_big_endian() {
        // ELF32 MSB, s390 (22) executable, one PT_INTERP.
        let mut b = vec![0u8; 52 + 32 + 16];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 1;
        b[5] = 2;
        b[16..18].copy_from_slice(&2u16.to_be_bytes());
        b[18..20].copy_from_slice(&22u16.to_be_bytes());
        b[28..32].copy_from_slice(&52u32.to_be_bytes());
        b[42..44].copy_from_slice(&32u16.to_be_bytes());
        b[44..46].copy_from_slice(&1u16.to_be_bytes());
        b[52..56].copy_from_slice(&3u32.to_be_bytes());
        b[56..60].copy_from_slice(&84u32.to_be_bytes());
        b[68..72].copy_from_slice(&12u32.to_be_bytes());
        // No PT_LOAD: a relocatable object, so that is allowed.
        b[16..18].copy_from_slice(&1u16.to_be_bytes());
        b[84..96].copy_from_slice(b"/lib/ld.so1\0");
        let i = parse(&b).unwrap();
        assert_eq!(i.endian, Endian::Big);
        assert_eq!(i.arch(), "s390");
        assert_eq!(i.interpreter.as_deref(), Some("/lib/ld.so1"));
        assert_eq!(i.elf_type, ElfType::Relocatable);
    }
}
