//! Path resolution on an in-memory guest built from the input: whatever the links, resolution
//! ends (no hang), never panics, and any result is an absolute, normalized guest path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rescue_inspect::fs::mem::MemFs;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let mut m = MemFs::new();
    // Lines before an empty line define the tree: `d PATH`, `f PATH`, `l PATH TARGET`.
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let mut parts = line.splitn(3, ' ');
        let (Some(kind), Some(path)) = (parts.next(), parts.next()) else { continue };
        if !path.starts_with('/') || path.len() > 200 || path.contains("/../") || path.ends_with("/..") {
            continue;
        }
        let path = rescue_inspect::fs::normalize(std::path::Path::new(path));
        let Some(path) = path.to_str() else { continue };
        if path == "/" {
            continue;
        }
        match kind {
            "d" => {
                m.dir(path, 0o755, 0, 0);
            }
            "f" => {
                m.file(path, b"x", 0o644, 0, 0);
            }
            "l" => {
                m.symlink(path, parts.next().unwrap_or(""));
            }
            _ => {}
        }
    }
    let fs = m.into_rootfs();
    // The remaining lines are paths to resolve.
    for query in lines.take(16) {
        if let Ok(p) = fs.canonicalize(query) {
            assert!(p.is_absolute());
            assert!(p.components().all(|c| !matches!(c, std::path::Component::ParentDir | std::path::Component::CurDir)));
        }
        let _ = fs.symlink_metadata(query);
        let _ = fs.glob(query);
    }
});
