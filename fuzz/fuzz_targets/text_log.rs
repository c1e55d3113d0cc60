//! Text log lines (syslog RFC 3339/3164, cloud-init) and TZif zones on arbitrary bytes: never
//! a panic; lines stay bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rescue_inspect::logs::text::{self, Dating, Lines};
use rescue_inspect::logs::tz::Zone;
use std::io::BufRead;

fuzz_target!(|data: &[u8]| {
    let zone = Zone::parse(data).unwrap_or_default();
    let _ = zone.local_to_utc(i64::from(data.first().copied().unwrap_or(0)) << 24);
    let dating = Dating { mtime: 1_700_000_000, zone };
    let mut lines = Lines::new(std::io::BufReader::with_capacity(64, data));
    while let Some(l) = lines.next_line() {
        assert!(l.len() <= text::MAX_LINE * 3);
        let _ = text::parse_line(&l, &dating);
    }
    let _ = text::reader(Box::new(data), true).fill_buf().map(|b| b.len());
});
