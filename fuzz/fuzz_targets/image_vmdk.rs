//! The VMDK sparse header, footer, embedded descriptor, grain directory/tables and compressed
//! grains; descriptor files; OVA (tar) archives, on arbitrary bytes (the input is the whole image
//! file, in memory): opening never panics, hangs or allocates without bound, and reads of the
//! virtual disk either succeed or fail with an error. Companion files are never opened (in-memory
//! images refuse them).
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rescue_inspect::volume::BlockSource;
use rescue_inspect::volume::image::{self, Format, Opener};
use rescue_inspect::volume::source::MemSource;

fuzz_target!(|data: &[u8]| {
    for format in [Format::VmdkSparse, Format::VmdkDescriptor, Format::Ova] {
        let file: Arc<dyn BlockSource> = Arc::new(MemSource::new(data.to_vec()));
        let Ok((disk, _info)) = image::open_as(file, format, &Opener::memory()) else {
            continue;
        };
        let size = disk.size();
        let mut buf = vec![0u8; 64 * 1024];
        // The start, the end, and offsets taken from the input (to reach mapped clusters).
        let mut offsets = vec![0, size.saturating_sub(buf.len() as u64)];
        for c in data.chunks_exact(8).take(16) {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            offsets.push(u64::from_le_bytes(a) % size.max(1));
        }
        for off in offsets {
            let n = (size.saturating_sub(off)).min(buf.len() as u64) as usize;
            let _ = disk.read_exact_at(off, &mut buf[..n]);
        }
    }
});
