//! XFS on mutated real images: seeds from scripts/xfs-fuzz-seed.sh (v5 and v4, every
//! directory, block-map, symlink and attribute form), patched by the input at their non-zero
//! blocks (superblock, AG headers, inodes, btrees, directory and attribute blocks, the log),
//! then opened and walked whole. Checksums pass under cfg(fuzzing). Never a panic, a hang or an
//! unbounded allocation. Seeds: $RI_XFS_SEEDS (default /tmp/xfs-seeds).
#![no_main]

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use rescue_inspect::fs::RootFs;
use rescue_inspect::fs::xfs;
use rescue_inspect::volume::{Device, Slice};

struct Seed {
    path: PathBuf,
    file: std::fs::File,
    /// Byte offsets of the 4 KiB blocks that are not all zero.
    blocks: Vec<u64>,
}

fn seeds() -> &'static Vec<Seed> {
    static S: OnceLock<Vec<Seed>> = OnceLock::new();
    S.get_or_init(|| {
        let dir = std::env::var("RI_XFS_SEEDS").unwrap_or_else(|_| "/tmp/xfs-seeds".into());
        ["xfs-v5.img", "xfs-v4.img"]
            .iter()
            .map(|n| {
                let src = Path::new(&dir).join(n);
                let path = std::env::temp_dir().join(format!("ri-fuzz-xfs-{}-{n}", std::process::id()));
                std::fs::copy(&src, &path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/xfs-fuzz-seed.sh {dir})", src.display()));
                let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
                let len = file.metadata().unwrap().len();
                let mut blocks = Vec::new();
                let mut buf = vec![0u8; 4096];
                let mut off = 0;
                while off + 4096 <= len {
                    file.read_exact_at(&mut buf, off).unwrap();
                    if buf.iter().any(|&b| b != 0) {
                        blocks.push(off);
                    }
                    off += 4096;
                }
                Seed { path, file, blocks }
            })
            .collect()
    })
}

fn walk(fs: &RootFs, p: &Path, budget: &mut u32, depth: u32) {
    if *budget == 0 || depth > 40 {
        return;
    }
    *budget -= 1;
    let Ok(md) = fs.symlink_metadata(p) else { return };
    let _ = fs.xattr(p, "security.selinux");
    let _ = fs.xattr(p, "user.big");
    if md.is_symlink() {
        let _ = fs.read_link(p);
        let _ = fs.metadata(p);
    } else if md.is_file() {
        let _ = fs.read_limited(p, 1 << 20);
    } else if md.is_dir() {
        if let Ok(entries) = fs.read_dir(p) {
            for e in entries.iter().take(200) {
                walk(fs, &p.join(&e.name), budget, depth + 1);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, mut rest)) = data.split_first() else { return };
    let seed = &seeds()[usize::from(which & 1)];
    if seed.blocks.is_empty() {
        return;
    }
    // Records: block index (u16), offset in the block (u16), length (u8), bytes.
    let mut undo: Vec<(u64, Vec<u8>)> = Vec::new();
    while rest.len() >= 5 {
        let bi = usize::from(u16::from_be_bytes([rest[0], rest[1]])) % seed.blocks.len();
        let off = u64::from(u16::from_be_bytes([rest[2], rest[3]]) % 4096);
        let len = usize::from(rest[4]).min(rest.len() - 5);
        let bytes = &rest[5..5 + len];
        rest = &rest[5 + len..];
        let at = seed.blocks[bi] + off;
        let mut old = vec![0u8; bytes.len()];
        if seed.file.read_exact_at(&mut old, at).is_ok() && seed.file.write_all_at(bytes, at).is_ok() {
            undo.push((at, old));
        }
    }
    if let Ok(dev) = Device::open(&seed.path) {
        if let Ok(v) = xfs::open(&Slice::whole(Arc::new(dev))) {
            let mut budget = 3000;
            walk(&v.fs, Path::new("/"), &mut budget, 0);
        }
    }
    for (at, old) in undo.iter().rev() {
        seed.file.write_all_at(old, *at).unwrap();
    }
});
