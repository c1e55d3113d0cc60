//! The jbd2 journal parsers and the replay on arbitrary bytes: the first byte picks the block
//! size, the rest is the journal (block n at byte n * block size). A journal superblock with
//! the magic gets its checksum fixed up so the fuzzer gets past it; replayed blocks are then read
//! back through the overlay. Never a panic, never a hang, memory bounded by the input.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rescue_inspect::fs::ext4::jbd2::{self, commit, descriptor, overlay, revoke, superblock};
use rescue_inspect::fs::ext4::raw::BlockRead;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let bs = 1024u64 << (sel % 3);
    let mut blob = rest.to_vec();

    // Structures alone.
    let _ = superblock::JournalSuperblock::parse(&blob);
    let _ = descriptor::header(&blob);
    let _ = commit::parse(&blob);
    let _ = commit::v23_ok(&blob, 7);
    let _ = descriptor::tail_ok(&blob, 7);
    for is64 in [false, true] {
        let _ = revoke::records(&blob, is64, 4);
    }

    // The bytes as a journal.
    if blob.len() >= superblock::SIZE && blob[..4] == superblock::MAGIC.to_be_bytes() {
        let c = superblock::checksum(&blob[..superblock::SIZE]);
        blob[0xFC..0x100].copy_from_slice(&c.to_be_bytes());
    }
    if let Ok(sb) = superblock::JournalSuperblock::parse(&blob) {
        let f = descriptor::TagFormat::of(&sb);
        if let Some(b) = blob.get(bs as usize..2 * bs as usize) {
            let _ = descriptor::tags(b, &f);
        }
    }
    let log = jbd2::MappedLog::identity(&blob, bs);
    if let Ok(r) = jbd2::replay(&log, bs) {
        let _ = r.end.describe();
        let o = Arc::new(r.overlay);
        let rd = overlay::Replayed {
            inner: blob.clone(),
            overlay: o.clone(),
        };
        let mut buf = vec![0u8; 3000];
        for (b, _) in o.iter().take(16) {
            let _ = rd.read_at(b.saturating_mul(bs).saturating_sub(100), &mut buf);
        }
    }
});
