//! Partition tables and probes on arbitrary bytes: never a panic, always an answer.
#![no_main]

use std::io::Write;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rescue_inspect::volume::{self, Device};

fuzz_target!(|data: &[u8]| {
    let (path, mut file) = tempfile_in_tmp();
    if file.write_all(data).is_err() {
        return;
    }
    if let Ok(dev) = Device::open(&path) {
        let _ = volume::discover(Arc::new(dev));
    }
    let _ = std::fs::remove_file(&path);
});

fn tempfile_in_tmp() -> (std::path::PathBuf, std::fs::File) {
    let p = std::env::temp_dir().join(format!("ri-fuzz-{}", std::process::id()));
    let f = std::fs::File::create(&p).expect("temp file");
    (p, f)
}
