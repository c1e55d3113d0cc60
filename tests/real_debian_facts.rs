//! Guest facts (host keys, sshd's library closure, the ssh unit, the package database) on the
//! real debootstrapped Debian 12 root cached by `scripts/debian-root.sh`, compared with the
//! real tools where one exists: `ssh-keygen -lf` on the same key files, the guest's own `ldd`
//! run in a chroot. Skipped, with a message, when `RESCUE_INSPECT_DEBIAN` is not set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rescue_inspect::fs::RootFs;

fn root() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("RESCUE_INSPECT_DEBIAN")?).join("root");
    dir.join("etc/os-release").exists().then_some(dir)
}

fn open(root: &Path) -> RootFs {
    rescue_inspect::fs::dir::open(root).unwrap()
}

#[test]
fn host_keys_match_ssh_keygen() {
    use rescue_inspect::sshd::hostkey;
    let Some(root) = root() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    let fs = open(&root);
    let keys = fs.glob("/etc/ssh/ssh_host_*_key").unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for k in keys {
        let f = hostkey::read_host_key(&fs, &k).unwrap();
        let info = f.key.as_ref().unwrap();
        assert!(!info.encrypted);
        hostkey::host_key_mode_ok(&f.path, &f.metadata, false, None).unwrap();
        let public = f.public.as_ref().unwrap().as_ref().unwrap();
        assert_eq!(Some(&public.blob), info.public_blob.as_ref());
        // ssh-keygen prefers the .pub comment, as read_host_key's caller does.
        let mine = hostkey::keygen_line(
            &info.key_type,
            &info.fingerprint().unwrap(),
            public.comment.as_deref().or(info.comment.as_deref()),
        );
        let host_path = root.join(k.strip_prefix("/").unwrap());
        match Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&host_path)
            .output()
        {
            Ok(o) if o.status.success() => {
                assert_eq!(mine, String::from_utf8_lossy(&o.stdout).trim());
            }
            _ => eprintln!("note: ssh-keygen unavailable, {mine} not compared"),
        }
    }
}

#[test]
fn sshd_closure_matches_guest_ldd() {
    use rescue_inspect::guest::ldso;
    let Some(root) = root() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN");
        return;
    };
    let fs = open(&root);
    let c = ldso::resolve_closure(&fs, Path::new("/usr/sbin/sshd"));
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    assert!(!c.truncated);
    assert_eq!(
        c.interpreter,
        Some(Ok(PathBuf::from("/lib64/ld-linux-x86-64.so.2")))
    );
    let got: BTreeMap<String, PathBuf> = c
        .libs
        .iter()
        .map(|l| (l.soname.clone(), l.resolved.clone().unwrap()))
        .collect();
    assert!(got.contains_key("libcrypto.so.3"), "{got:?}");
    // The guest's own loader, run in a chroot, as the oracle.
    let out = Command::new("chroot")
        .arg(&root)
        .args(["/usr/bin/ldd", "/usr/sbin/sshd"])
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        eprintln!("note: chroot ldd unavailable; closure not compared");
        return;
    };
    let expected: BTreeMap<String, PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.trim().split_once(" => ")?;
            Some((name.to_string(), PathBuf::from(rest.split(" (").next()?)))
        })
        .collect();
    assert_eq!(got, expected);
}
