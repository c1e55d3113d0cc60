use super::*;
use crate::fs::mem::MemFs;

/// A minimal valid ELF64 little-endian shared object or executable: one PT_LOAD covering the
/// file at vaddr 0, optional PT_INTERP, a PT_DYNAMIC with the given entries.
pub(crate) fn mk_elf(
    machine: u16,
    interp: Option<&str>,
    needed: &[&str],
    runpath: Option<&str>,
    rpath: Option<&str>,
    soname: Option<&str>,
) -> Vec<u8> {
    let phnum = if interp.is_some() { 3 } else { 2 };
    let mut out = vec![0u8; 64 + 56 * phnum];
    let interp_off = out.len();
    if let Some(i) = interp {
        out.extend_from_slice(i.as_bytes());
        out.push(0);
    }
    let interp_len = out.len() - interp_off;
    let str_off = out.len();
    let mut strs = vec![0u8];
    let mut add = |s: &str| {
        let at = strs.len() as u64;
        strs.extend_from_slice(s.as_bytes());
        strs.push(0);
        at
    };
    let mut dyns: Vec<(u64, u64)> = needed.iter().map(|n| (1, add(n))).collect();
    if let Some(r) = runpath {
        dyns.push((29, add(r)));
    }
    if let Some(r) = rpath {
        dyns.push((15, add(r)));
    }
    if let Some(s) = soname {
        dyns.push((14, add(s)));
    }
    dyns.push((5, str_off as u64));
    dyns.push((10, strs.len() as u64));
    dyns.push((0, 0));
    out.extend_from_slice(&strs);
    while out.len() % 8 != 0 {
        out.push(0);
    }
    let dyn_off = out.len();
    for (t, v) in &dyns {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    let total = out.len() as u64;
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 2;
    out[5] = 1;
    out[6] = 1;
    out[16..18].copy_from_slice(&3u16.to_le_bytes());
    out[18..20].copy_from_slice(&machine.to_le_bytes());
    out[32..40].copy_from_slice(&64u64.to_le_bytes());
    out[54..56].copy_from_slice(&56u16.to_le_bytes());
    out[56..58].copy_from_slice(&(phnum as u16).to_le_bytes());
    let mut ph = |i: usize, kind: u32, off: u64, len: u64| {
        let p = 64 + 56 * i;
        out[p..p + 4].copy_from_slice(&kind.to_le_bytes());
        out[p + 8..p + 16].copy_from_slice(&off.to_le_bytes());
        out[p + 16..p + 24].copy_from_slice(&off.to_le_bytes());
        out[p + 32..p + 40].copy_from_slice(&len.to_le_bytes());
        out[p + 40..p + 48].copy_from_slice(&len.to_le_bytes());
    };
    ph(0, 1, 0, total);
    ph(1, 2, dyn_off as u64, total - dyn_off as u64);
    if interp.is_some() {
        ph(2, 3, interp_off as u64, interp_len as u64);
    }
    out
}

const X86: u16 = 62;
const ARM64: u16 = 183;
const LD: &str = "/lib64/ld-linux-x86-64.so.2";

/// A Debian-shaped guest: usr-merge symlinks, ld.so.conf with an include, libc and the loader.
fn guest() -> MemFs {
    let mut m = MemFs::new();
    m.symlink("/lib", "usr/lib");
    m.symlink("/lib64", "usr/lib64");
    m.symlink("/bin", "usr/bin");
    m.file(
        "/etc/ld.so.conf",
        b"include /etc/ld.so.conf.d/*.conf\n",
        0o644,
        0,
        0,
    );
    m.file(
        "/etc/ld.so.conf.d/x86_64-linux-gnu.conf",
        b"# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n",
        0o644,
        0,
        0,
    );
    let ld = mk_elf(X86, None, &[], None, None, Some("ld-linux-x86-64.so.2"));
    m.file(
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        &ld,
        0o755,
        0,
        0,
    );
    m.symlink(
        "/usr/lib64/ld-linux-x86-64.so.2",
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    );
    let libc = mk_elf(
        X86,
        Some(LD),
        &["ld-linux-x86-64.so.2"],
        None,
        None,
        Some("libc.so.6"),
    );
    m.file("/usr/lib/x86_64-linux-gnu/libc.so.6", &libc, 0o755, 0, 0);
    m.file(
        "/usr/bin/sh",
        &mk_elf(X86, Some(LD), &["libc.so.6"], None, None, None),
        0o755,
        0,
        0,
    );
    m
}

fn lib<'a>(c: &'a Closure, name: &str) -> &'a Lib {
    c.libs
        .iter()
        .find(|l| l.soname == name)
        .unwrap_or_else(|| panic!("{name} not in {:?}", c.libs))
}

#[test]
fn healthy_closure() {
    let mut m = guest();
    m.file(
        "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
        &mk_elf(
            X86,
            None,
            &["libc.so.6"],
            None,
            None,
            Some("libcrypto.so.3"),
        ),
        0o644,
        0,
        0,
    );
    m.file(
        "/usr/sbin/sshd",
        &mk_elf(
            X86,
            Some(LD),
            &["libcrypto.so.3", "libc.so.6"],
            None,
            None,
            None,
        ),
        0o755,
        0,
        0,
    );
    let fs = m.into_rootfs();
    let c = resolve_closure(&fs, Path::new("/usr/sbin/sshd"));
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    assert_eq!(c.interpreter, Some(Ok(PathBuf::from(LD))));
    assert_eq!(
        lib(&c, "libcrypto.so.3").resolved.as_deref(),
        Some(Path::new("/lib/x86_64-linux-gnu/libcrypto.so.3"))
    );
    assert_eq!(
        lib(&c, "libcrypto.so.3").needed_by,
        Path::new("/usr/sbin/sshd")
    );
    // The loader, needed by libc, is not searched again.
    assert_eq!(c.libs.len(), 2);
}

#[test]
fn broken_libraries() {
    let mut m = guest();
    m.file("/usr/lib/x86_64-linux-gnu/libcrypto.so.3", b"", 0o644, 0, 0);
    m.file(
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        &[0u8; 1000],
        0o644,
        0,
        0,
    );
    m.file(
        "/usr/lib/x86_64-linux-gnu/libtext.so.1",
        b"INPUT(-lfoo)\n",
        0o644,
        0,
        0,
    );
    // Wrong arch first in the search order, then the right one: skipped like ld.so does.
    m.file(
        "/usr/local/lib/x86_64-linux-gnu/libpam.so.0",
        &mk_elf(ARM64, None, &[], None, None, None),
        0o644,
        0,
        0,
    );
    m.file(
        "/usr/lib/x86_64-linux-gnu/libpam.so.0",
        &mk_elf(X86, None, &[], None, None, None),
        0o644,
        0,
        0,
    );
    // Only a wrong-arch candidate.
    m.file(
        "/usr/lib/x86_64-linux-gnu/libwrap.so.0",
        &mk_elf(ARM64, None, &[], None, None, None),
        0o644,
        0,
        0,
    );
    // A dangling symlink counts as absent.
    m.symlink("/usr/lib/x86_64-linux-gnu/libgone.so.1", "libgone.so.1.2.3");
    m.file(
        "/usr/sbin/sshd",
        &mk_elf(
            X86,
            Some(LD),
            &[
                "libcrypto.so.3",
                "libz.so.1",
                "libtext.so.1",
                "libpam.so.0",
                "libwrap.so.0",
                "libgone.so.1",
                "libc.so.6",
            ],
            None,
            None,
            None,
        ),
        0o755,
        0,
        0,
    );
    let fs = m.into_rootfs();
    let c = resolve_closure(&fs, Path::new("/usr/sbin/sshd"));
    assert!(matches!(
        lib(&c, "libcrypto.so.3").problem,
        Some(LibProblem::Empty { .. })
    ));
    assert!(matches!(
        lib(&c, "libz.so.1").problem,
        Some(LibProblem::AllNul { size: 1000, .. })
    ));
    assert!(matches!(
        lib(&c, "libtext.so.1").problem,
        Some(LibProblem::NotElf { .. })
    ));
    assert_eq!(lib(&c, "libpam.so.0").problem, None);
    assert_eq!(
        lib(&c, "libpam.so.0").resolved.as_deref(),
        Some(Path::new("/lib/x86_64-linux-gnu/libpam.so.0"))
    );
    match &lib(&c, "libwrap.so.0").problem {
        Some(LibProblem::WrongArch {
            path,
            found,
            expected,
        }) => {
            assert_eq!(path, Path::new("/lib/x86_64-linux-gnu/libwrap.so.0"));
            assert_eq!(found, "aarch64 64-bit");
            assert_eq!(expected, "x86_64 64-bit");
        }
        other => panic!("{other:?}"),
    }
    match &lib(&c, "libgone.so.1").problem {
        Some(LibProblem::NotFound { searched }) => {
            assert_eq!(
                searched,
                &[
                    "/usr/local/lib/x86_64-linux-gnu",
                    "/lib/x86_64-linux-gnu",
                    "/usr/lib/x86_64-linux-gnu",
                    "/lib64",
                    "/usr/lib64",
                    "/lib",
                    "/usr/lib"
                ]
                .map(PathBuf::from)
            );
            let msg = lib(&c, "libgone.so.1")
                .problem
                .as_ref()
                .unwrap()
                .to_string();
            assert!(
                msg.starts_with("not found in /usr/local/lib/x86_64-linux-gnu, "),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.problems().len(), 5);
}

#[test]
fn runpath_rpath_origin() {
    let mut m = guest();
    m.file(
        "/opt/app/lib/libfoo.so.1",
        &mk_elf(X86, None, &["libbar.so.1"], None, None, None),
        0o644,
        0,
        0,
    );
    // libbar is found through the executable's RPATH, inherited down the loader chain
    // (libfoo has neither RPATH nor RUNPATH).
    m.file(
        "/opt/app/lib/libbar.so.1",
        &mk_elf(X86, None, &[], None, None, None),
        0o644,
        0,
        0,
    );
    m.file(
        "/opt/app/bin/app",
        &mk_elf(
            X86,
            Some(LD),
            &["libfoo.so.1", "libc.so.6"],
            None,
            Some("$ORIGIN/../lib"),
            None,
        ),
        0o755,
        0,
        0,
    );
    // With RUNPATH, its RPATH is ignored, and RUNPATH is not inherited.
    m.file(
        "/opt/two/bin/app",
        &mk_elf(
            X86,
            Some(LD),
            &["libfoo.so.1"],
            Some("${ORIGIN}/../../app/lib"),
            Some("/nowhere"),
            None,
        ),
        0o755,
        0,
        0,
    );
    let fs = m.into_rootfs();
    let c = resolve_closure(&fs, Path::new("/opt/app/bin/app"));
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    assert_eq!(
        lib(&c, "libbar.so.1").resolved.as_deref(),
        Some(Path::new("/opt/app/lib/libbar.so.1"))
    );
    let c = resolve_closure(&fs, Path::new("/opt/two/bin/app"));
    assert_eq!(
        lib(&c, "libfoo.so.1").resolved.as_deref(),
        Some(Path::new("/opt/app/lib/libfoo.so.1"))
    );
    match &lib(&c, "libbar.so.1").problem {
        Some(LibProblem::NotFound { searched }) => {
            assert!(!searched.contains(&PathBuf::from("/opt/app/lib")));
            assert!(!searched.contains(&PathBuf::from("/nowhere")));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn broken_program_and_loader() {
    let mut m = guest();
    m.file("/usr/sbin/empty", b"", 0o755, 0, 0);
    m.file("/usr/sbin/script", b"#!/bin/sh\n", 0o755, 0, 0);
    m.file(
        "/usr/sbin/arm",
        &mk_elf(ARM64, Some(LD), &[], None, None, None),
        0o755,
        0,
        0,
    );
    m.file(
        "/usr/sbin/noloader",
        &mk_elf(X86, Some("/lib64/ld-missing.so.2"), &[], None, None, None),
        0o755,
        0,
        0,
    );
    let fs = m.into_rootfs();
    let c = resolve_closure(&fs, Path::new("/usr/sbin/sshd"));
    assert!(matches!(c.program, Err(LibProblem::NotFound { .. })));
    let c = resolve_closure(&fs, Path::new("/usr/sbin/empty"));
    assert!(matches!(c.program, Err(LibProblem::Empty { .. })));
    let c = resolve_closure(&fs, Path::new("/usr/sbin/script"));
    assert!(matches!(c.program, Err(LibProblem::NotElf { .. })));
    let c = resolve_closure(&fs, Path::new("/usr/sbin/arm"));
    assert!(
        matches!(&c.program, Err(LibProblem::WrongArch { found, .. }) if found == "aarch64 64-bit")
    );
    let c = resolve_closure(&fs, Path::new("/usr/sbin/noloader"));
    assert!(matches!(
        c.interpreter,
        Some(Err(LibProblem::NotFound { .. }))
    ));
}

#[test]
fn ld_so_conf_lines() {
    assert_eq!(
        parse_ld_so_conf(
            "# c\ninclude ld.so.conf.d/*.conf /etc/extra.conf\nhwcap 1 x\n/usr/local/lib/ \n/opt/x=libc6 # y\n"
        ),
        vec![
            ConfLine::Include(vec!["ld.so.conf.d/*.conf".into(), "/etc/extra.conf".into()]),
            ConfLine::Dir("/usr/local/lib".into()),
            ConfLine::Dir("/opt/x".into()),
        ]
    );
    // Relative include, include loop: bounded, no panic.
    let mut m = MemFs::new();
    m.file(
        "/etc/ld.so.conf",
        b"include ld.so.conf.d/*.conf\n",
        0o644,
        0,
        0,
    );
    m.file(
        "/etc/ld.so.conf.d/a.conf",
        b"/a\ninclude /etc/ld.so.conf\n",
        0o644,
        0,
        0,
    );
    let fs = m.into_rootfs();
    assert_eq!(conf_dirs(&fs), vec![PathBuf::from("/a")]);
}

/// Differential test against `ldd`: a host program and the libraries ldd lists, copied into a
/// guest at the paths ldd printed, with the host's ld.so.conf; the closures must agree.
#[test]
fn differential_ldd() {
    let bin = ["/usr/bin/ssh", "/usr/sbin/sshd", "/bin/ls"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(bin) = bin else {
        eprintln!("skipped: no host binary");
        return;
    };
    let Ok(out) = std::process::Command::new("ldd").arg(bin).output() else {
        eprintln!("skipped: ldd not installed");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut expected = BTreeMap::new();
    let mut interp = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some((name, rest)) = line.split_once(" => ") {
            let path = rest.split(" (").next().unwrap_or("").to_string();
            expected.insert(name.to_string(), PathBuf::from(path));
        } else if line.starts_with('/') {
            interp = Some(PathBuf::from(line.split(" (").next().unwrap_or("")));
        }
    }
    assert!(!expected.is_empty(), "{text}");
    let mut m = MemFs::new();
    let copy = |m: &mut MemFs, p: &Path| {
        let bytes = std::fs::read(p).unwrap();
        m.file(&p.to_string_lossy(), &bytes, 0o755, 0, 0);
    };
    copy(&mut m, Path::new(bin));
    for p in expected.values().chain(interp.iter()) {
        copy(&mut m, p);
    }
    for conf in std::iter::once(PathBuf::from("/etc/ld.so.conf")).chain(
        std::fs::read_dir("/etc/ld.so.conf.d")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path()),
    ) {
        if let Ok(b) = std::fs::read(&conf) {
            m.file(&conf.to_string_lossy(), &b, 0o644, 0, 0);
        }
    }
    let fs = m.into_rootfs();
    let c = resolve_closure(&fs, Path::new(bin));
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    assert_eq!(c.interpreter, interp.map(Ok));
    let got: BTreeMap<String, PathBuf> = c
        .libs
        .iter()
        .filter_map(|l| Some((l.soname.clone(), l.resolved.clone()?)))
        .collect();
    assert_eq!(got, expected);
}
