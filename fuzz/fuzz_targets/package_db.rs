//! Package databases on arbitrary bytes: rpm header blobs (down to file records), Berkeley DB
//! hash files, ndb files, and dpkg's status and md5sums through a guest in memory. Never a
//! panic, bounded work.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rescue_inspect::fs::mem::MemFs;
use rescue_inspect::packages::rpm::{self, bdb, header::Header, ndb};

fn header(blob: &[u8]) {
    if let Ok(h) = Header::parse(blob) {
        let _ = rpm::package(&h);
        let ids = rpm::Ids {
            users: Default::default(),
            groups: Default::default(),
        };
        let _ = rpm::records(&h, &Arc::from("p"), &ids);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 4 {
        0 => header(rest),
        1 => {
            if let Ok(db) = bdb::HashDb::open(rest) {
                let _ = db.for_each(|_, v| header(v));
            }
        }
        2 => {
            if let Ok((blobs, _)) = ndb::blobs(rest) {
                for (_, b) in blobs {
                    header(b);
                }
            }
        }
        _ => {
            // dpkg: the first half as the status file, the rest as a package's md5sums.
            let mid = rest.len() / 2;
            let mut m = MemFs::new();
            m.file("/var/lib/dpkg/status", &rest[..mid], 0o644, 0, 0);
            m.file("/var/lib/dpkg/info/p.md5sums", &rest[mid..], 0o644, 0, 0);
            m.file("/var/lib/dpkg/info/p.list", &rest[mid..], 0o644, 0, 0);
            let fs = m.into_rootfs();
            if let Ok(Some(db)) = rescue_inspect::packages::db::PackageDb::open(&fs) {
                let mut n = 0usize;
                let mut damaged = Vec::new();
                let _ = db.records(&fs, None, &mut |_| n += 1, &mut damaged);
            }
        }
    }
});
