//! A one-line progress display on stderr for long scans (package hashing, metadata walks):
//! items, bytes, rate and an ETA, redrawn a few times a second. Shown only when stderr is a
//! terminal and the caller asked for it (text output, not `--quiet`); JSON runs and pipes get
//! nothing.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters the work updates and the display reads.
#[derive(Debug, Default)]
pub struct Counters {
    pub items: AtomicU64,
    pub bytes: AtomicU64,
    /// Expected total bytes, for the ETA; 0 when unknown.
    pub expected_bytes: AtomicU64,
}

fn human(b: f64) -> String {
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.0} MiB", b / (1024.0 * 1024.0))
    }
}

/// The line for a state of the counters.
pub fn line(what: &str, items: u64, bytes: u64, expected: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = bytes as f64 / secs;
    let mut s = format!(
        "{what}: {items} files, {} at {}/s",
        human(bytes as f64),
        human(rate)
    );
    if expected > bytes && rate > 0.0 {
        let left = (expected - bytes) as f64 / rate;
        s.push_str(&format!(
            " ({:.0}%, ETA {}s)",
            100.0 * bytes as f64 / expected as f64,
            left.ceil()
        ));
    }
    s
}

/// Runs `work` while a display thread redraws the line, when `show` and stderr is a terminal.
pub fn with_progress<T>(
    what: &str,
    show: bool,
    counters: &Counters,
    work: impl FnOnce() -> T,
) -> T {
    let show = show && std::io::stderr().is_terminal();
    if !show {
        return work();
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let start = Instant::now();
            let mut err = std::io::stderr();
            let mut width = 0;
            // Quiet for the first half second: short runs draw nothing.
            let mut next = Duration::from_millis(500);
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                if start.elapsed() < next {
                    continue;
                }
                next = start.elapsed() + Duration::from_millis(200);
                let l = line(
                    what,
                    counters.items.load(Ordering::Relaxed),
                    counters.bytes.load(Ordering::Relaxed),
                    counters.expected_bytes.load(Ordering::Relaxed),
                    start.elapsed(),
                );
                width = width.max(l.len());
                let _ = write!(err, "\r{l:width$}");
                let _ = err.flush();
            }
            if width > 0 {
                let _ = write!(err, "\r{:width$}\r", "");
                let _ = err.flush();
            }
        });
        let out = work();
        done.store(true, Ordering::Relaxed);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_rate_and_eta() {
        let l = line("verifying", 10, 512 << 20, 1 << 30, Duration::from_secs(1));
        assert_eq!(l, "verifying: 10 files, 512 MiB at 512 MiB/s (50%, ETA 1s)");
        let l = line("verifying", 1, 2 << 30, 0, Duration::from_secs(2));
        assert_eq!(l, "verifying: 1 files, 2.0 GiB at 1.0 GiB/s");
    }
}
