//! The project's own ext4 metadata parsers on arbitrary bytes: the structures one by one, then
//! the bytes as a whole filesystem (superblock checksum fixed up so the fuzzer gets past it):
//! lookups, reads, symlinks, xattrs and the full metadata scan. Never a panic, never a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rescue_inspect::fs::ext4::{dir_block, extent, fsck, inode, jbd2, raw, superblock, xattr};

fuzz_target!(|data: &[u8]| {
    // Structures alone.
    let _ = inode::Inode::parse(data, 12, Some(7));
    let _ = extent::parse(data, Some(1));
    let _ = extent::parse(data, None);
    let _ = dir_block::entries(data);
    for k in [dir_block::Kind::DxRoot, dir_block::Kind::DxNode, dir_block::Kind::Leaf] {
        let _ = dir_block::verify_dx(data, k, 3);
    }
    let _ = xattr::find_in_inode(data, 6, b"selinux");
    let _ = xattr::find_in_block(data, 6, b"selinux");

    // The bytes as a filesystem.
    if data.len() < 2048 {
        return;
    }
    let mut img = data.to_vec();
    let c = superblock::checksum(&img[1024..2048]);
    img[1024 + 0x3FC..1024 + 0x400].copy_from_slice(&c.to_le_bytes());
    let Ok(sb) = superblock::Superblock::parse(&img[1024..2048]) else {
        return;
    };
    let Ok(fs) = raw::RawFs::open(Box::new(img), sb) else {
        return;
    };
    if let Ok(root) = fs.inode(raw::ROOT_INO) {
        if let Ok(entries) = fs.dir_entries(&root) {
            for e in entries.iter().take(16) {
                if let Ok(i) = fs.inode(e.inode) {
                    let _ = fs.read_link(&i);
                    let _ = fs.xattr(&i, "security.selinux");
                    if let Ok(mut r) = fs.reader(&i) {
                        let mut buf = [0u8; 4096];
                        // Bounded: a crafted size may be huge.
                        for _ in 0..64 {
                            match r.fill(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(_) => {}
                            }
                        }
                    }
                }
            }
        }
    }
    let _ = fsck::scan(&fs, &mut |_| {});
    // The journal inode, mapped and replayed.
    let _ = jbd2::replay_fs(&fs);
});
