//! What the guest's own logs say about its last boot: sshd failing at start, refused keys, PAM
//! errors, OOM kills, a full disk, filesystem and I/O errors, panics and hung tasks, emergency
//! mode, failed units, cloud-init failures, and where the log stops.
//!
//! Bounded, so `check` stays fast on big logs: the journal is read backwards from its newest
//! entry through the last boot only, at most [`JOURNAL_BUDGET`] entries; text logs (the live
//! file and `.1`) only their last [`TEXT_TAIL`] bytes, from their last kernel `Linux version`
//! banner on. Syslog lines the journal also holds (inside the time its files cover) are not
//! counted twice. Every finding quotes the line, its file (line number or journal cursor) and
//! time; `rescue-inspect logs TARGET` shows everything.

use std::collections::BTreeMap;

use regex::Regex;

use super::{Rule, Settings};
use crate::fs::RootFs;
use crate::logs::collect::{self, Origin, Record, TextStream};
use crate::logs::journal::id_hex;
use crate::report::{Category, Confidence, Finding, Severity};
use crate::time::format_utc;

/// The most journal entries `check` reads (newest first).
pub const JOURNAL_BUDGET: u64 = 200_000;
/// How much of the end of each text log `check` reads.
pub const TEXT_TAIL: u64 = 16 * 1024 * 1024;

macro_rules! rule {
    ($name:ident, $id:literal, $sev:ident, $cat:ident, $summary:literal, $doc:literal) => {
        pub static $name: Rule = Rule {
            id: $id,
            severity: Severity::$sev,
            category: Category::$cat,
            summary: $summary,
            doc: $doc,
        };
    };
}

rule!(
    LOG_001,
    "LOG-001",
    Warning,
    SshdService,
    "the logs show sshd failing at start in the last boot",
    "Looks for sshd's fatal start errors in the last boot: `Bad configuration option`, \
`terminating, N bad configuration options`, `no hostkeys available`, `Missing privilege \
separation directory`, bind failures (`Address already in use`, `Cannot assign requested \
address`), other `fatal:` lines, and systemd giving up on ssh.service.\n\nWhy it matters: it is \
what sshd itself said when it stopped; the other rules say whether the cause is still on the \
volume.\n\nFix: the command the finding gives for that error (test the configuration with \
`chroot /mnt/rescue /usr/sbin/sshd -t`, regenerate host keys with `ssh-keygen -A`, free the \
port, remove a ListenAddress the host no longer has)."
);
rule!(
    LOG_002,
    "LOG-002",
    Warning,
    Permissions,
    "the logs show sshd refusing keys because of ownership or modes",
    "Looks for `Authentication refused: bad ownership or modes for file|directory PATH` from sshd \
in the last boot.\n\nWhy it matters: StrictModes made sshd ignore the user's authorized_keys: key \
logins fail with \"Permission denied (publickey)\".\n\nFix: `chmod go-w` the path it names (and \
`chown` it to the user), as the finding gives."
);
rule!(
    LOG_003,
    "LOG-003",
    Warning,
    Pam,
    "the logs show PAM errors",
    "Looks for PAM failures in the last boot: `PAM unable to dlopen`, `PAM adding faulty module`, \
`error: PAM:` from sshd, `Module is unknown`, account expiry from pam_unix.\n\nWhy it matters: a \
broken PAM stack refuses every login through it, even with a good key.\n\nFix: restore the \
module or remove the line naming it from /etc/pam.d (the finding quotes it)."
);
rule!(
    LOG_010,
    "LOG-010",
    Warning,
    SshdService,
    "the kernel's OOM killer killed processes (memory exhausted)",
    "Counts `Out of memory: Killed process N (NAME)` and `Memory cgroup out of memory` kills in \
the last boot, by process name, and memory-pressure messages (`invoked oom-killer`, `page \
allocation failure`).\n\nWhy it matters: with memory exhausted sshd cannot fork a session (the \
connection hangs or closes at once), and the OOM killer may kill sshd itself.\n\nFix: find what \
used the memory (the finding names the killed processes), limit it (`MemoryMax=` in its unit) or \
add swap; protect sshd with `OOMScoreAdjust=-1000` in a drop-in, as the finding gives."
);
rule!(
    LOG_020,
    "LOG-020",
    Warning,
    Filesystem,
    "the logs show writes failing with \"No space left on device\"",
    "Looks for `No space left on device` (ENOSPC) in any message of the last boot.\n\nWhy it \
matters: a full filesystem makes services fail at start (journald, sshd's PID file, cloud-init) \
and logins fail to record sessions.\n\nFix: free space (FS-030 lists the largest directories): \
`journalctl --directory=/mnt/rescue/var/log/journal --vacuum-size=100M`, remove old logs and \
caches."
);
rule!(
    LOG_021,
    "LOG-021",
    Warning,
    Filesystem,
    "the kernel logged filesystem errors or corruption",
    "Looks for `EXT4-fs error`, `XFS … Corruption`/`Metadata corruption`, `BTRFS error`, \
filesystems remounted read-only or shut down, in the last boot.\n\nWhy it matters: the kernel \
saw on-disk damage; it may have remounted the root read-only (services fail to write) or fsck \
stops the next boot.\n\nFix: repair from the recovery host with the filesystem's checker \
(`e2fsck -f DEVICE`, `xfs_repair DEVICE`) after taking a snapshot."
);
rule!(
    LOG_022,
    "LOG-022",
    Warning,
    Filesystem,
    "the kernel logged I/O errors or device resets (failing disk or storage path)",
    "Looks for `I/O error, dev …`, `Buffer I/O error`, `blk_update_request`, ATA/SCSI/NVMe \
resets, timeouts and medium errors in the last boot.\n\nWhy it matters: the disk under the \
guest failed to read or write: processes hang in I/O (sshd accepts but never answers) and data \
may be lost: the seed's \"hardware failure\".\n\nFix: copy the data off the volume first (a \
snapshot, or `ddrescue`), then replace the disk or move the volume to healthy storage."
);
rule!(
    LOG_030,
    "LOG-030",
    Warning,
    Boot,
    "the kernel panicked, oopsed, or reported hung tasks or soft lockups",
    "Looks for `Kernel panic - not syncing`, `BUG:`, `Oops`, `task … blocked for more than N \
seconds`, `soft lockup` and `rcu_sched self-detected stall` in the last boot.\n\nWhy it matters: \
a panic stops the host (it answers nothing until reset); hung tasks and lockups freeze the \
processes involved, sshd included.\n\nFix: read the kernel log around the time given; boot the \
previous kernel if a new one panics (`grub-reboot` from a chroot), or fix the storage behind the \
hung tasks."
);
rule!(
    LOG_031,
    "LOG-031",
    Warning,
    Boot,
    "the last boot entered emergency or rescue mode",
    "Looks for systemd reaching `Emergency Mode` or `Rescue Mode`, `You are in emergency mode`, \
and `Dependency failed for` local filesystems or `Timed out waiting for device` in the last \
boot.\n\nWhy it matters: emergency mode starts neither the network nor sshd: every connection \
times out.\n\nFix: correct or add `nofail` to the fstab entry that failed (BOOT-001 names it) \
and check the device the timeout names."
);
rule!(
    LOG_032,
    "LOG-032",
    Warning,
    Boot,
    "units failed in the last boot",
    "Collects the units systemd reported as failed in the last boot (`Failed to start …`, \
`UNIT: Failed with result …`).\n\nWhy it matters: a failed network, cloud-init or ssh unit \
explains an unreachable host; others are context.\n\nFix: read that unit's messages with the \
command the finding gives and fix what they name."
);
rule!(
    LOG_033,
    "LOG-033",
    Warning,
    Boot,
    "cloud-init reported errors in the last boot",
    "Looks for errors and tracebacks in /var/log/cloud-init.log and cloud-init-output.log (and \
cloud-init's journal messages) in the last boot.\n\nWhy it matters: cloud-init writes the \
network configuration, users and their authorized_keys at boot; when a module fails, keys or \
network may be missing.\n\nFix: read the lines around it; correct the user-data or datasource \
configuration it names."
);
rule!(
    LOG_040,
    "LOG-040",
    Info,
    Boot,
    "where the log stops: the last message of the last boot",
    "Gives the last message in the guest's logs, its time and source, and whether a shutdown was \
logged before it (journald's `Journal stopped`, systemd reaching shutdown targets).\n\nWhy it \
matters: a log that stops without a shutdown marks when the host crashed, lost power or hung; \
the messages just before it are where to look.\n\nFix: read the last minutes with the command \
given."
);
rule!(
    LOG_041,
    "LOG-041",
    Info,
    Filesystem,
    "a log file is cut off, damaged, or holds a run of NUL bytes",
    "Reports journal files that end before the entries their header counts (read up to the last \
valid entry), with damaged entries skipped, left `online` (never closed: the writer died), or \
that cannot be read; and text logs with a run of NUL bytes followed by later lines (blocks \
allocated but never written when the host crashed or lost power, then the next boot's lines; a \
NUL-only tail, as preallocation leaves, is not reported).\n\nWhy it matters: the host stopped uncleanly; the \
newest messages may be missing.\n\nFix: nothing to repair for SSH; `journalctl --file=FILE \
--verify` from the recovery host shows the damage."
);

pub static RULES: &[&Rule] = &[
    &LOG_001, &LOG_002, &LOG_003, &LOG_010, &LOG_020, &LOG_021, &LOG_022, &LOG_030, &LOG_031,
    &LOG_032, &LOG_033, &LOG_040, &LOG_041,
];

/// One occurrence.
#[derive(Clone, Debug)]
struct Hit {
    time: i64,
    origin: Origin,
    message: String,
}

#[derive(Clone, Debug)]
struct Group {
    count: u64,
    first: i64,
    latest: Hit,
}

/// The patterns, compiled once.
struct Patterns {
    sshd_fatal: Regex,
    ssh_unit_failed: Regex,
    bad_modes: Regex,
    pam: Regex,
    oom_kill: Regex,
    mem_pressure: Regex,
    enospc: Regex,
    fs_error: Regex,
    io_error: Regex,
    panic: Regex,
    emergency: Regex,
    unit_failed: Regex,
    cloud_init: Regex,
    shutdown: Regex,
}

fn re(p: &str) -> Regex {
    // The patterns are constants; a typo is a bug caught by the unit tests.
    Regex::new(p).unwrap_or_else(|_| Regex::new("$^").expect("empty regex"))
}

impl Patterns {
    fn new() -> Patterns {
        Patterns {
            sshd_fatal: re(
                r"(?:Bad configuration option|terminating, \d+ bad configuration options|no hostkeys available|Missing privilege separation directory|Address already in use|Cannot assign requested address|^fatal: |^error: Bind to port|Unsupported option|sshd: no hostkeys)",
            ),
            ssh_unit_failed: re(
                r"^(?:Failed to start (?:OpenBSD Secure Shell server|OpenSSH server daemon|ssh\.service|sshd\.service)|(?:ssh|sshd)\.service: (?:Failed with result|Main process exited, code=exited, status=255|Start request repeated too quickly))",
            ),
            bad_modes: re(
                r"Authentication refused: bad ownership or modes for (?:file|directory) (\S+)",
            ),
            pam: re(
                r"(?:PAM unable to dlopen|PAM adding faulty module|^error: PAM: |PAM: Module is unknown|Module is unknown|pam_unix\([^)]*\): account \S+ has expired)",
            ),
            oom_kill: re(
                r"(?:Out of memory|Memory cgroup out of memory): Kill(?:ed)? process (\d+) \(([^)]*)\)",
            ),
            mem_pressure: re(
                r"(?:invoked oom-killer|page allocation failure|oom-kill:|Out of memory and no killable processes)",
            ),
            enospc: re(r"No space left on device"),
            fs_error: re(
                r"(?:EXT[234]-fs error|EXT[234]-fs \([^)]*\): (?:Remounting filesystem read-only|error count)|XFS \([^)]*\): (?:.*Corruption|Metadata corruption|Filesystem has been shut down|Corruption of in-memory data)|BTRFS (?:error|critical)|Remounting filesystem read-only)",
            ),
            io_error: re(
                r"(?:I/O error, dev |Buffer I/O error|blk_update_request: (?:I/O|critical)|end_request: I/O error|critical medium error|ata\d+(?:\.\d+)?: (?:hard resetting link|failed command|SError)|nvme\d+\S*: (?:I/O \d+ QID \d+ timeout|controller is down|Removing after probe failure)|SCSI error|rejecting I/O to offline device|Medium Error)",
            ),
            panic: re(
                r"(?:Kernel panic - not syncing|^BUG: |Oops: |task \S+ blocked for more than \d+ seconds|soft lockup - CPU|self-detected stall|hung_task_timeout)",
            ),
            emergency: re(
                r"(?:Reached target (?:Emergency Mode|Rescue Mode|emergency\.target|rescue\.target)|You are in emergency mode|You are in rescue mode|Started Emergency Shell|Dependency failed for (?:Local File Systems|/)|Timed out waiting for device)",
            ),
            unit_failed: re(
                r"^(?:Failed to start (.+?)\.?$|(\S+\.(?:service|mount|socket|target|device)): Failed with result)",
            ),
            cloud_init: re(
                r"(?:\[ERROR\]|\[CRITICAL\]|Traceback \(most recent call last\)|\[WARNING\]: (?:Failed|Running module \S+ .* failed)|failed with exception)",
            ),
            shutdown: re(
                r"(?:Journal stopped|Reached target (?:System Power Off|System Reboot|System Halt|Power-Off|Reboot|Shutdown)|systemd-shutdown|Shutting down\.|Stopped target Multi-User System)",
            ),
        }
    }
}

/// What the last boot's records add up to.
#[derive(Default)]
struct Acc {
    groups: BTreeMap<(&'static str, String), Group>,
    last: Option<Hit>,
    last_shutdown: Option<i64>,
    seen: u64,
}

impl Acc {
    fn add(&mut self, rule: &'static str, key: String, r: &Record) {
        let hit = Hit {
            time: r.time,
            origin: r.origin.clone(),
            message: r.message.chars().take(400).collect(),
        };
        match self.groups.get_mut(&(rule, key.clone())) {
            Some(g) => {
                g.count += 1;
                g.first = g.first.min(r.time);
                if r.time >= g.latest.time {
                    g.latest = hit;
                }
            }
            None => {
                self.groups.insert(
                    (rule, key),
                    Group {
                        count: 1,
                        first: r.time,
                        latest: hit,
                    },
                );
            }
        }
    }

    fn observe(&mut self, p: &Patterns, r: &Record) {
        self.seen += 1;
        if r.time != 0 && self.last.as_ref().is_none_or(|l| r.time >= l.time) {
            self.last = Some(Hit {
                time: r.time,
                origin: r.origin.clone(),
                message: r.message.chars().take(400).collect(),
            });
        }
        let m = r.message.as_str();
        let ident = r.ident.as_deref().unwrap_or("");
        let sshd = ident == "sshd"
            || r.unit
                .as_deref()
                .is_some_and(|u| u == "ssh.service" || u == "sshd.service");
        if p.shutdown.is_match(m) {
            self.last_shutdown = Some(self.last_shutdown.map_or(r.time, |t| t.max(r.time)));
        }
        if sshd && p.sshd_fatal.is_match(m) {
            self.add("LOG-001", normalize(m), r);
        }
        if ident == "systemd" && p.ssh_unit_failed.is_match(m) {
            self.add("LOG-001", normalize(m), r);
        }
        if let Some(c) = p.bad_modes.captures(m) {
            self.add("LOG-002", c[1].to_string(), r);
        }
        if p.pam.is_match(m) {
            self.add("LOG-003", normalize(m), r);
        }
        if let Some(c) = p.oom_kill.captures(m) {
            self.add("LOG-010", c[2].to_string(), r);
        } else if p.mem_pressure.is_match(m) {
            self.add("LOG-010", String::new(), r);
        }
        if p.enospc.is_match(m) {
            self.add("LOG-020", String::new(), r);
        }
        if p.fs_error.is_match(m) {
            self.add("LOG-021", String::new(), r);
        }
        if p.io_error.is_match(m) {
            self.add("LOG-022", String::new(), r);
        }
        if p.panic.is_match(m) {
            self.add("LOG-030", String::new(), r);
        }
        if matches!(ident, "systemd" | "systemd-fsck" | "kernel") && p.emergency.is_match(m) {
            self.add("LOG-031", String::new(), r);
        }
        if ident == "systemd" {
            if let Some(c) = p.unit_failed.captures(m) {
                let unit = c.get(2).or(c.get(1)).map(|x| x.as_str()).unwrap_or("");
                self.add("LOG-032", unit.to_string(), r);
            }
        }
        if (ident.starts_with("cloud-init") || r.origin.file().contains("cloud-init"))
            && p.cloud_init.is_match(m)
        {
            self.add("LOG-033", String::new(), r);
        }
    }
}

/// Numbers and hex ids out, so repeated messages group together.
fn normalize(m: &str) -> String {
    let mut out = String::with_capacity(m.len());
    let mut digit = false;
    for c in m.chars().take(200) {
        if c.is_ascii_digit() {
            if !digit {
                out.push('#');
            }
            digit = true;
        } else {
            digit = false;
            out.push(c);
        }
    }
    out
}

/// The last boot of the journal, read newest first: (boot id, earliest time seen, entries,
/// stopped by the budget).
fn journal_last_boot(
    fs: &RootFs,
    sources: &collect::Sources,
    mut f: impl FnMut(&Record),
) -> Option<([u8; 16], i64, u64, bool)> {
    // The newest entry of every file says which boot is the last.
    let mut tails: Vec<(u64, [u8; 16], usize)> = Vec::new();
    for (i, s) in sources.journals.iter().enumerate() {
        let Ok(j) = collect::open_journal(fs, &s.path, s.size) else {
            continue;
        };
        if let Some(e) = j.entries_rev().next_head() {
            tails.push((e.realtime, e.boot_id, i));
        }
    }
    let (_, boot, _) = *tails.iter().max_by_key(|t| t.0)?;
    let mut start = i64::MAX;
    let mut n = 0u64;
    let mut budget_hit = false;
    tails.sort_by_key(|t| std::cmp::Reverse(t.0));
    for (_, tail_boot, i) in &tails {
        if *tail_boot != boot {
            continue;
        }
        let s = &sources.journals[*i];
        let Ok(j) = collect::open_journal(fs, &s.path, s.size) else {
            continue;
        };
        let sid = j.header.seqnum_id;
        for e in j.entries_rev() {
            if e.boot_id != boot {
                break;
            }
            if n >= JOURNAL_BUDGET {
                budget_hit = true;
                break;
            }
            n += 1;
            let r = Record::from_entry(e, &s.path, &sid);
            start = start.min(r.time);
            f(&r);
        }
    }
    Some((boot, start, n, budget_hit))
}

fn at(r: &Hit) -> String {
    format!(
        "{} UTC, {}",
        format_utc(r.time.div_euclid(1_000_000)),
        r.origin.describe()
    )
}

fn with_origin(f: Finding, h: &Hit) -> Finding {
    let f = f.at(h.origin.file().to_string());
    match &h.origin {
        Origin::Text { line, .. } if *line > 0 => f.line(*line),
        _ => f,
    }
}

/// Runs the LOG rules on the guest's logs.
pub fn audit(
    fs: &RootFs,
    settings: &Settings,
    dev: &super::volume::DevNames,
    out: &mut Vec<Finding>,
) {
    // Repairs write; copying the data off only reads.
    let (device_rw, device_ro) = (&dev.rw, &dev.ro);
    let sources = collect::discover(fs);
    if sources.journals.is_empty() && sources.texts.is_empty() {
        return;
    }
    let p = Patterns::new();
    let mut acc = Acc::default();
    let journal = journal_last_boot(fs, &sources, |r| acc.observe(&p, r));
    let coverage = collect::journal_coverage(&sources);
    let journal_start = journal.map(|j| j.1).filter(|t| *t != i64::MAX);
    // Text logs: the live file and `.1`, their tails, from the last boot banner on.
    let mut text_boot: Option<i64> = None;
    let tails: Vec<&collect::TextSource> = sources
        .texts
        .iter()
        .filter(|t| t.rotation <= 1 && !t.gz)
        .collect();
    for t in &tails {
        let Ok(mut s) = TextStream::open(fs, t, &sources.zone, Some(TEXT_TAIL)) else {
            continue;
        };
        while let Some(r) = s.next_record() {
            if r.boot_start && r.time != 0 {
                text_boot = Some(text_boot.map_or(r.time, |b| b.max(r.time)));
            }
        }
    }
    let boot_start = match (journal_start, text_boot) {
        (Some(j), Some(t)) => Some(j.max(t)),
        (a, b) => a.or(b),
    };
    let mut nul_reports = Vec::new();
    for t in &tails {
        let Ok(mut s) = TextStream::open(fs, t, &sources.zone, Some(TEXT_TAIL)) else {
            continue;
        };
        let fed = !t.base.starts_with("cloud-init");
        while let Some(r) = s.next_record() {
            if boot_start.is_some_and(|b| r.time < b - 1_000_000) {
                continue;
            }
            if fed && journal.is_some() && collect::covered(&coverage, r.time) {
                continue;
            }
            acc.observe(&p, &r);
        }
        let rep = s.report();
        if rep.nul_bytes > 0 {
            nul_reports.push(rep);
        }
    }
    let boot_desc = match (&journal, boot_start) {
        (Some((id, ..)), Some(b)) => format!(
            "the last boot ({}, from {} UTC)",
            id_hex(id),
            format_utc(b.div_euclid(1_000_000))
        ),
        (None, Some(b)) => format!(
            "the last boot (from {} UTC, by the kernel's banner in the text logs)",
            format_utc(b.div_euclid(1_000_000))
        ),
        _ => "the end of the text logs (no boot banner found)".to_string(),
    };
    let budget = if journal.is_some_and(|j| j.3) {
        format!(" Only the newest {JOURNAL_BUDGET} journal entries were read.")
    } else {
        String::new()
    };
    let jdir = format!(
        "{}/var/log/journal",
        settings.mount_point.trim_end_matches('/')
    );
    let read_cmd = |extra: &str| -> String {
        if journal.is_some() {
            format!("journalctl --directory={jdir} -b 0 {extra}")
        } else {
            format!("grep -n -- '' {}", settings.host_path("/var/log/syslog"))
        }
    };
    let groups = std::mem::take(&mut acc.groups);
    let mut by_rule: BTreeMap<&'static str, Vec<(String, Group)>> = BTreeMap::new();
    for ((rule, key), g) in groups {
        by_rule.entry(rule).or_default().push((key, g));
    }
    let count_text = |g: &Group| {
        if g.count == 1 {
            String::new()
        } else {
            format!(
                " ({} times from {} UTC)",
                g.count,
                format_utc(g.first.div_euclid(1_000_000))
            )
        }
    };
    for (rule, mut list) in by_rule {
        list.sort_by_key(|g| std::cmp::Reverse(g.1.latest.time));
        match rule {
            "LOG-001" => {
                for (_, g) in list.iter().take(5) {
                    let m = &g.latest.message;
                    let fix = if m.contains("no hostkeys") {
                        format!("chroot {} ssh-keygen -A", settings.mount_point)
                    } else if m.contains("privilege separation directory") {
                        format!(
                            "echo 'd /run/sshd 0755 root root' > {}",
                            settings.host_path("/etc/tmpfiles.d/sshd.conf")
                        )
                    } else if m.contains("Address already in use") {
                        format!(
                            "grep -rn -e '^ *Port' -e '^ *ListenAddress' -e 'ListenStream' {} {} {}",
                            settings.host_path("/etc/ssh/sshd_config"),
                            settings.host_path("/etc/ssh/sshd_config.d"),
                            settings.host_path("/etc/systemd/system")
                        )
                    } else if m.contains("Cannot assign requested address") {
                        format!(
                            "grep -rn ListenAddress {} {}   # remove the address the host no longer has",
                            settings.host_path("/etc/ssh/sshd_config"),
                            settings.host_path("/etc/ssh/sshd_config.d")
                        )
                    } else if m.contains("Bad configuration option")
                        || m.contains("bad configuration options")
                        || m.contains("Unsupported option")
                    {
                        format!("chroot {} /usr/sbin/sshd -t", settings.mount_point)
                    } else {
                        read_cmd("-u ssh")
                    };
                    out.push(
                        with_origin(
                            LOG_001.finding(
                                format!("sshd failed at start in the last boot: {}", trim(m, 120)),
                                format!(
                                    "\"{m}\" at {}{}. In {boot_desc}.{budget}",
                                    at(&g.latest),
                                    count_text(g)
                                ),
                            ),
                            &g.latest,
                        )
                        .fix(fix)
                        .confidence(Confidence::Likely),
                    );
                }
            }
            "LOG-002" => {
                for (path, g) in list.iter().take(5) {
                    out.push(
                        with_origin(
                            LOG_002.finding(
                                format!("sshd refused keys: bad ownership or modes for {path}"),
                                format!(
                                    "\"{}\" at {}{}. In {boot_desc}.",
                                    g.latest.message,
                                    at(&g.latest),
                                    count_text(g)
                                ),
                            ),
                            &g.latest,
                        )
                        .fix(format!("chmod go-w {}", settings.host_path(path))),
                    );
                }
            }
            "LOG-003" => {
                for (_, g) in list.iter().take(5) {
                    out.push(
                        with_origin(
                            LOG_003.finding(
                                format!(
                                    "PAM error in the last boot: {}",
                                    trim(&g.latest.message, 120)
                                ),
                                format!(
                                    "\"{}\" at {}{}. In {boot_desc}.",
                                    g.latest.message,
                                    at(&g.latest),
                                    count_text(g)
                                ),
                            ),
                            &g.latest,
                        )
                        .fix(format!(
                            "grep -rn '' {}",
                            settings.host_path("/etc/pam.d/sshd")
                        )),
                    );
                }
            }
            "LOG-010" => {
                let kills: Vec<&(String, Group)> =
                    list.iter().filter(|(k, _)| !k.is_empty()).collect();
                let total: u64 = kills.iter().map(|(_, g)| g.count).sum();
                let latest = list
                    .iter()
                    .max_by_key(|(_, g)| g.latest.time)
                    .map(|(_, g)| g.latest.clone());
                let Some(latest) = latest else { continue };
                let names = kills
                    .iter()
                    .map(|(k, g)| format!("{k} ×{}", g.count))
                    .collect::<Vec<_>>()
                    .join(", ");
                let title = if total > 0 {
                    format!(
                        "the OOM killer killed {total} process{} in the last boot ({names})",
                        if total == 1 { "" } else { "es" }
                    )
                } else {
                    "memory pressure in the last boot (the kernel invoked the OOM killer)".into()
                };
                let sshd_killed = kills.iter().any(|(k, _)| k == "sshd");
                out.push(
                    with_origin(
                        LOG_010.finding(
                            title,
                            format!(
                                "Last: \"{}\" at {}.{} In {boot_desc}.{budget}",
                                latest.message,
                                at(&latest),
                                if sshd_killed { " sshd itself was killed." } else { "" }
                            ),
                        ),
                        &latest,
                    )
                    .fix(format!(
                        "mkdir -p {0} && printf '[Service]\\nOOMScoreAdjust=-1000\\n' > {0}/oom.conf",
                        settings.host_path("/etc/systemd/system/ssh.service.d")
                    )),
                );
            }
            "LOG-020" | "LOG-021" | "LOG-022" | "LOG-030" | "LOG-031" | "LOG-033" => {
                let Some((_, g)) = list.first() else { continue };
                let (r, title, fix): (&'static Rule, String, String) = match rule {
                    "LOG-020" => (
                        &LOG_020,
                        "writes failed with \"No space left on device\" in the last boot".into(),
                        format!(
                            "du -xsh {} {} {} | sort -h | tail; journalctl --directory={jdir} --vacuum-size=100M",
                            settings.host_path("/var/log/*"),
                            settings.host_path("/var/cache/*"),
                            settings.host_path("/tmp")
                        ),
                    ),
                    "LOG-021" => (
                        &LOG_021,
                        format!(
                            "filesystem errors in the last boot: {}",
                            trim(&g.latest.message, 100)
                        ),
                        format!(
                            "e2fsck -f {device_rw}   # xfs_repair {device_rw} for XFS; snapshot the volume first"
                        ),
                    ),
                    "LOG-022" => (
                        &LOG_022,
                        format!(
                            "I/O errors in the last boot: {}",
                            trim(&g.latest.message, 100)
                        ),
                        format!(
                            "ddrescue -n {device_ro} /path/to/rescued.img   # copy the data off before anything else"
                        ),
                    ),
                    "LOG-030" => (
                        &LOG_030,
                        format!("the kernel reported: {}", trim(&g.latest.message, 100)),
                        read_cmd("-k"),
                    ),
                    "LOG-031" => (
                        &LOG_031,
                        "the last boot entered emergency mode".into(),
                        format!(
                            "grep -v '^#' {}   # add nofail to the entry that failed (see BOOT-001)",
                            settings.host_path("/etc/fstab")
                        ),
                    ),
                    _ => (
                        &LOG_033,
                        format!(
                            "cloud-init reported errors: {}",
                            trim(&g.latest.message, 100)
                        ),
                        format!(
                            "grep -n -B2 -A8 -e ERROR -e Traceback -e WARNING {}",
                            settings.host_path("/var/log/cloud-init.log")
                        ),
                    ),
                };
                out.push(
                    with_origin(
                        r.finding(
                            title,
                            format!(
                                "\"{}\" at {}{}. In {boot_desc}.{budget}",
                                g.latest.message,
                                at(&g.latest),
                                count_text(g)
                            ),
                        ),
                        &g.latest,
                    )
                    .fix(fix),
                );
            }
            "LOG-032" => {
                let units: Vec<String> = list.iter().map(|(u, _)| u.clone()).take(20).collect();
                let Some((first_unit, g)) = list.first() else {
                    continue;
                };
                let u = first_unit
                    .split_whitespace()
                    .next()
                    .unwrap_or(first_unit)
                    .to_string();
                out.push(
                    with_origin(
                        LOG_032.finding(
                            format!(
                                "{} unit{} failed in the last boot: {}",
                                list.len(),
                                if list.len() == 1 { "" } else { "s" },
                                units.join(", ")
                            ),
                            format!(
                                "Last: \"{}\" at {}. In {boot_desc}.{budget}",
                                g.latest.message,
                                at(&g.latest)
                            ),
                        ),
                        &g.latest,
                    )
                    .fix(read_cmd(&format!("-u '{u}'"))),
                );
            }
            _ => {}
        }
    }
    if let Some(last) = &acc.last {
        let clean = acc
            .last_shutdown
            .is_some_and(|s| last.time - s <= 120_000_000);
        out.push(
            with_origin(
                LOG_040.finding(
                    format!(
                        "the log stops at {} UTC{}",
                        format_utc(last.time.div_euclid(1_000_000)),
                        if clean {
                            " after a clean shutdown"
                        } else {
                            " with no shutdown logged (crash, power loss, hang or forced stop)"
                        }
                    ),
                    format!(
                        "Last message: \"{}\" at {}. {} records of {boot_desc} read.{budget}",
                        last.message,
                        at(last),
                        acc.seen
                    ),
                ),
                last,
            )
            .fix(read_cmd("-n 100")),
        );
    }
    // Damaged or unclosed journal files, NUL runs in text logs.
    let mut damaged = Vec::new();
    for s in &sources.journals {
        if let Some(e) = &s.error {
            damaged.push((s.path.clone(), format!("cannot be read: {e}")));
        } else if s.state == Some(crate::logs::journal::State::Online) && !s.path.ends_with('~') {
            damaged.push((
                s.path.clone(),
                "was left online (open for writing): journald did not close it".into(),
            ));
        }
    }
    for rep in &nul_reports {
        damaged.push((
            rep.path.clone(),
            format!(
                "holds {} NUL bytes from line {} (written while the host crashed or lost power)",
                rep.nul_bytes,
                rep.first_nul_line.unwrap_or(0)
            ),
        ));
    }
    for (path, what) in damaged.iter().take(10) {
        out.push(
            LOG_041
                .finding(format!("{path} {what}"), format!("{path} {what}."))
                .at(path.clone())
                .fix(format!(
                    "journalctl --file={} --verify",
                    settings.host_path(path)
                )),
        );
    }
}

fn trim(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ident: &str, msg: &str) -> Record {
        Record {
            time: 1_700_000_000_000_000,
            boot_id: None,
            monotonic: None,
            host: None,
            ident: Some(ident.into()),
            pid: None,
            unit: None,
            priority: None,
            message: msg.into(),
            boot_start: false,
            origin: Origin::Text {
                file: "/var/log/syslog".into(),
                line: 3,
            },
            fields: Vec::new(),
        }
    }

    #[test]
    fn patterns_match_real_messages() {
        let p = Patterns::new();
        let mut a = Acc::default();
        for (k, (ident, msg)) in [
            ("sshd", "/etc/ssh/sshd_config: line 3: Bad configuration option: Foo"),
            ("sshd", "sshd: no hostkeys available -- exiting."),
            ("sshd", "Missing privilege separation directory: /run/sshd"),
            ("sshd", "error: Bind to port 22 on 0.0.0.0 failed: Address already in use."),
            ("systemd", "ssh.service: Main process exited, code=exited, status=255/EXCEPTION"),
            ("sshd", "Authentication refused: bad ownership or modes for directory /home/admin/.ssh"),
            ("sshd", "PAM unable to dlopen(pam_foo.so): /lib/security/pam_foo.so: cannot open shared object file"),
            ("kernel", "Out of memory: Killed process 1234 (java) total-vm:1234kB, anon-rss:100kB"),
            ("kernel", "Memory cgroup out of memory: Killed process 99 (sshd) total-vm:1kB"),
            ("rsyslogd", "file '/var/log/syslog': write error - see https://www.rsyslog.com/solving-rsyslog-write-errors/ for help OS error: No space left on device"),
            ("kernel", "EXT4-fs error (device vda1): ext4_lookup:1855: inode #2: comm ls: deleted inode referenced: 12"),
            ("kernel", "XFS (vdb1): Metadata corruption detected at xfs_da3_node_read_verify+0x10/0x20"),
            ("kernel", "blk_update_request: I/O error, dev vda, sector 12345 op 0x0:(READ)"),
            ("kernel", "INFO: task jbd2/vda1-8:250 blocked for more than 120 seconds."),
            ("kernel", "Kernel panic - not syncing: Fatal exception"),
            ("systemd", "Reached target Emergency Mode."),
            ("systemd", "Failed to start Raise network interfaces."),
            ("systemd", "networking.service: Failed with result 'exit-code'."),
            ("cloud-init", "util.py[WARNING]: Failed running /var/lib/cloud/scripts/per-boot/x.sh [1]"),
        ]
        .iter()
        .enumerate()
        {
            let mut r = rec(ident, msg);
            r.time += k as i64;
            a.observe(&p, &r);
        }
        let rules: std::collections::BTreeSet<&str> = a.groups.keys().map(|k| k.0).collect();
        for id in [
            "LOG-001", "LOG-002", "LOG-003", "LOG-010", "LOG-020", "LOG-021", "LOG-022", "LOG-030",
            "LOG-031", "LOG-032", "LOG-033",
        ] {
            assert!(rules.contains(id), "{id} not matched: {rules:?}");
        }
        assert_eq!(a.groups[&("LOG-010", "java".to_string())].count, 1);
        assert!(a.groups.contains_key(&("LOG-010", "sshd".to_string())));
        assert!(
            a.groups
                .contains_key(&("LOG-002", "/home/admin/.ssh".to_string()))
        );
        // Ordinary messages match nothing.
        let mut b = Acc::default();
        for m in [
            "Server listening on 0.0.0.0 port 22.",
            "Accepted publickey for admin from 10.0.0.1 port 5000 ssh2",
            "Started OpenBSD Secure Shell server.",
            "EXT4-fs (vda1): mounted filesystem with ordered data mode.",
        ] {
            b.observe(&p, &rec("sshd", m));
            b.observe(&p, &rec("systemd", m));
            b.observe(&p, &rec("kernel", m));
        }
        assert!(b.groups.is_empty(), "{:?}", b.groups.keys());
    }

    #[test]
    fn patterns_compile() {
        let p = Patterns::new();
        for r in [
            &p.sshd_fatal,
            &p.oom_kill,
            &p.io_error,
            &p.cloud_init,
            &p.shutdown,
        ] {
            assert_ne!(r.as_str(), "$^");
        }
    }
}
