//! The journal file reader on arbitrary bytes: every entry forwards and backwards, every field
//! decompressed (xz/lz4/zstd, capped), never a panic, a hang or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rescue_inspect::logs::journal::JournalFile;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    if let Ok(j) = JournalFile::open(Box::new(std::io::Cursor::new(data.to_vec())), len) {
        let sid = j.header.seqnum_id;
        let mut it = j.entries();
        for e in &mut it {
            let _ = e.cursor(&sid);
            let _ = e.field("MESSAGE");
        }
        let _ = it.stop();
    }
    if let Ok(j) = JournalFile::open(Box::new(std::io::Cursor::new(data.to_vec())), len) {
        for _ in j.entries_rev() {}
    }
    for flags in [1u8, 2, 4] {
        let _ = rescue_inspect::logs::journal::compress::decompress(flags, data, 1 << 20);
    }
});
