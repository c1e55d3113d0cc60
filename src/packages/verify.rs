//! Checking records against the filesystem, in parallel, in bounded memory.
//!
//! The caller produces records on its own thread (reading the package database needs its
//! filesystem view); they flow in batches through a bounded channel to workers, each with its
//! own view of the same volume: `ext4-view` keeps an `Rc` inside, so one view cannot be shared
//! between threads. Memory is a few batches plus one read buffer per worker, whatever the
//! number of files. Deviations come back in the order records were produced.
//!
//! Which attributes apply to which file follows rpm's `lib/verify.cc: rpmfilesVerify`, so a
//! result can be compared with `rpm -V` flag for flag.

use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use super::{Deviation, DigestAlgo, FileState, Problem, Record, attr};
use crate::fs::{FileType, FsError, Metadata, RootFs};

/// Read buffer per worker: with the channel, the memory bound of hashing.
const CHUNK: usize = 256 << 10;
const BATCH: usize = 64;

pub use crate::progress::Counters as Progress;

/// Calls its argument once per record (the database reader, on the caller's thread).
pub type Produce<'a> = &'a mut dyn FnMut(&mut dyn FnMut(Record));

/// Opens another view of the same guest filesystem (one per worker thread).
pub type Open<'a> = &'a (dyn Fn() -> Option<RootFs> + Sync);

enum Hasher {
    Md5(Md5),
    Sha1(Sha1),
    Sha224(Sha224),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    fn new(a: DigestAlgo) -> Hasher {
        match a {
            DigestAlgo::Md5 => Hasher::Md5(Md5::new()),
            DigestAlgo::Sha1 => Hasher::Sha1(Sha1::new()),
            DigestAlgo::Sha224 => Hasher::Sha224(Sha224::new()),
            DigestAlgo::Sha256 => Hasher::Sha256(Sha256::new()),
            DigestAlgo::Sha384 => Hasher::Sha384(Sha384::new()),
            DigestAlgo::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }
    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(b),
            Hasher::Sha1(h) => h.update(b),
            Hasher::Sha224(h) => h.update(b),
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha384(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }
    fn hex(self) -> String {
        let bytes: Vec<u8> = match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha224(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The digest of a guest file's content.
fn digest_of(
    fs: &RootFs,
    path: &str,
    algo: DigestAlgo,
    buf: &mut [u8],
    progress: &Progress,
) -> Result<String, FsError> {
    let mut r = fs.open(path)?;
    let mut h = Hasher::new(algo);
    loop {
        match r.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
                progress.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(crate::fs::io_error(std::path::Path::new(path), e)),
        }
    }
    Ok(h.hex())
}

fn full_mode(md: &Metadata) -> u32 {
    let t = match md.file_type {
        FileType::Regular => 0o100000,
        FileType::Directory => 0o040000,
        FileType::Symlink => 0o120000,
        FileType::BlockDevice => 0o060000,
        FileType::CharDevice => 0o020000,
        FileType::Fifo => 0o010000,
        FileType::Socket => 0o140000,
        FileType::Unknown => 0,
    };
    t | md.perm
}

fn type_bits(t: FileType) -> u32 {
    full_mode(&Metadata {
        file_type: t,
        perm: 0,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: crate::fs::Time { secs: 0, nanos: 0 },
        atime: crate::fs::Time { secs: 0, nanos: 0 },
        ctime: None,
        inode: None,
        nlink: None,
    })
}

/// A record whose metadata has been checked; its content may still have to be hashed.
pub struct Pending {
    /// Found before the digest check (type), and after it (link, size, mode, owner, time): the
    /// order `describe` lists them in.
    before: Vec<Problem>,
    after: Vec<Problem>,
    /// The digest to compare with, when the content must be hashed.
    digest: Option<(DigestAlgo, String)>,
    mtime: i64,
}

fn deviation(rec: &Record, problems: Vec<Problem>, mtime: Option<i64>) -> Deviation {
    Deviation {
        package: rec.package.to_string(),
        path: rec.path.clone(),
        diverted_to: rec.diverted_to.clone(),
        config: rec.config,
        problems,
        mtime,
    }
}

/// Checks everything but the content of one record: `Err(done)` when nothing is left to read.
pub fn inspect(fs: &RootFs, rec: &Record) -> Result<Pending, Option<Deviation>> {
    let e = &rec.expect;
    let mut flags = e.verify;
    match e.state {
        FileState::NotInstalled | FileState::NetShared => return Err(None),
        FileState::Replaced => flags = 0,
        FileState::WrongColor => flags &= !(attr::DIGEST | attr::SIZE | attr::MTIME | attr::RDEV),
        FileState::Normal => {}
    }
    let path = rec.real_path();
    let stat = if e.follow {
        fs.metadata(path)
    } else {
        fs.symlink_metadata(path)
    };
    let mut md = match stat {
        Ok(m) => m,
        Err(FsError::NotFound(_)) | Err(FsError::NotADirectory(_)) => {
            if e.ghost || e.missing_ok {
                return Err(None);
            }
            return Err(Some(deviation(rec, vec![Problem::Missing], None)));
        }
        Err(err) => {
            return Err(Some(deviation(
                rec,
                vec![Problem::Unreadable {
                    error: err.to_string(),
                }],
                None,
            )));
        }
    };
    // A directory replaced by a symlink to a directory (usr-merge, /var/run -> /run) counts as
    // the directory, when the link is root's or its target's owner's.
    if e.file_type == FileType::Directory && md.is_symlink() {
        if let Ok(target) = fs.metadata(path) {
            if target.is_dir() && (md.uid == 0 || md.uid == target.uid) {
                md = target;
            }
        }
    }
    if md.is_symlink() {
        flags &= !attr::MODE;
    } else {
        flags &= !attr::LINK;
    }
    if !md.is_file() {
        flags &= !(attr::DIGEST | attr::SIZE | attr::MTIME);
    }
    if e.ghost {
        flags &= !(attr::DIGEST | attr::SIZE | attr::MTIME | attr::LINK);
    }
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut digest = None;
    if flags & attr::TYPE != 0 && md.file_type != e.file_type {
        before.push(Problem::Type {
            expected: e.file_type.describe().into(),
            actual: md.file_type.describe().into(),
        });
    }
    if flags & attr::DIGEST != 0 {
        match &e.digest {
            // A different size already proves the content differs: skip reading it.
            Some((algo, want)) if !want.is_empty() && e.size.is_some_and(|s| s != md.size) => {
                before.push(Problem::Digest {
                    algo: *algo,
                    expected: want.clone(),
                    actual: None,
                })
            }
            Some((algo, want)) if !want.is_empty() => digest = Some((*algo, want.clone())),
            // rpm: a regular file without a recorded digest fails the digest check (dpkg
            // records always carry one).
            _ => before.push(Problem::Digest {
                algo: DigestAlgo::Md5,
                expected: String::new(),
                actual: None,
            }),
        }
    }
    if flags & attr::LINK != 0 {
        let want = e.link.clone().unwrap_or_default();
        match fs.read_link(path) {
            Ok(t) => {
                let got = t.to_string_lossy().into_owned();
                if got != want {
                    after.push(Problem::Link {
                        expected: want,
                        actual: got,
                    });
                }
            }
            Err(err) => after.push(Problem::Unreadable {
                error: err.to_string(),
            }),
        }
    }
    if flags & attr::SIZE != 0 {
        if let Some(s) = e.size {
            if s != md.size {
                after.push(Problem::Size {
                    expected: s,
                    actual: md.size,
                });
            }
        }
    }
    if flags & attr::MODE != 0 {
        if let Some(perm) = e.perm {
            let mut want = type_bits(e.file_type) | perm;
            let mut got = full_mode(&md);
            if e.ghost {
                want &= 0o7777;
                got &= 0o7777;
            }
            if want != got {
                after.push(Problem::Mode {
                    expected: want,
                    actual: got,
                });
            }
        }
    }
    if flags & attr::RDEV != 0 {
        let is_chr = |t: FileType| t == FileType::CharDevice;
        let is_blk = |t: FileType| t == FileType::BlockDevice;
        if is_chr(e.file_type) != is_chr(md.file_type)
            || is_blk(e.file_type) != is_blk(md.file_type)
        {
            after.push(Problem::Rdev);
        }
    }
    if flags & attr::MTIME != 0 {
        if let Some(t) = e.mtime {
            if t != md.mtime.secs {
                after.push(Problem::Mtime {
                    expected: t,
                    actual: md.mtime.secs,
                });
            }
        }
    }
    if flags & attr::USER != 0 {
        if let Some((name, uid)) = &e.user {
            if *uid != md.uid {
                after.push(Problem::User {
                    expected: name.clone(),
                    actual: md.uid,
                });
            }
        }
    }
    if flags & attr::GROUP != 0 {
        if let Some((name, gid)) = &e.group {
            if *gid != md.gid {
                after.push(Problem::Group {
                    expected: name.clone(),
                    actual: md.gid,
                });
            }
        }
    }
    Ok(Pending {
        before,
        after,
        digest,
        mtime: md.mtime.secs,
    })
}

/// Completes a record with the digest of its content (when one was due).
pub fn finish(
    rec: &Record,
    p: Pending,
    content: Option<Result<String, String>>,
) -> Option<Deviation> {
    let mut problems = p.before;
    if let (Some((algo, want)), Some(got)) = (p.digest, content) {
        match got {
            Ok(got) if got == want => {}
            Ok(got) => problems.push(Problem::Digest {
                algo,
                expected: want,
                actual: Some(got),
            }),
            Err(error) => problems.push(Problem::Unreadable { error }),
        }
    }
    problems.extend(p.after);
    (!problems.is_empty()).then(|| deviation(rec, problems, Some(p.mtime)))
}

/// Checks one record; `None` when it matches.
pub fn check_one(
    fs: &RootFs,
    rec: &Record,
    buf: &mut [u8],
    progress: &Progress,
) -> Option<Deviation> {
    match inspect(fs, rec) {
        Err(done) => done,
        Ok(p) => {
            let content = p.digest.as_ref().map(|(algo, _)| {
                digest_of(fs, rec.real_path(), *algo, buf, progress).map_err(|e| e.to_string())
            });
            finish(rec, p, content)
        }
    }
}

/// A reader that fails at once (a file that could not be opened, for the lane hasher).
struct Failed(Option<String>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other(self.0.take().unwrap_or_default()))
    }
}

/// Checks a batch of records, hashing the MD5 ones eight files at a time (`md5x`) when the
/// CPU can; deviations are pushed with their sequence numbers.
fn check_batch(
    fs: &RootFs,
    batch: Vec<(usize, Record)>,
    buf: &mut [u8],
    progress: &Progress,
    out: &mut Vec<(usize, Deviation)>,
) {
    let simd = super::md5x::simd_available();
    let mut queued: Vec<(usize, Record, Pending)> = Vec::new();
    for (seq, rec) in batch {
        match inspect(fs, &rec) {
            Err(done) => {
                out.extend(done.map(|d| (seq, d)));
                progress.items.fetch_add(1, Ordering::Relaxed);
            }
            Ok(p) if simd && matches!(p.digest, Some((DigestAlgo::Md5, _))) => {
                queued.push((seq, rec, p))
            }
            Ok(p) => {
                let content = p.digest.as_ref().map(|(algo, _)| {
                    digest_of(fs, rec.real_path(), *algo, buf, progress).map_err(|e| e.to_string())
                });
                out.extend(finish(&rec, p, content).map(|d| (seq, d)));
                progress.items.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    if queued.is_empty() {
        return;
    }
    let mut digests: Vec<Option<Result<String, String>>> = vec![None; queued.len()];
    // Files are opened as lanes free up: at most eight are open at once.
    let jobs = queued.iter().enumerate().map(|(i, (_, rec, _))| {
        let r: Box<dyn Read + '_> = match fs.open(rec.real_path()) {
            Ok(r) => r,
            Err(e) => Box::new(Failed(Some(e.to_string()))),
        };
        (i, r)
    });
    super::md5x::hash_many(
        jobs,
        |i, r| {
            if let Some(slot) = digests.get_mut(i) {
                *slot = Some(r.map(|d| super::md5x::hex(&d)).map_err(|e| e.to_string()));
            }
        },
        |n| {
            progress.bytes.fetch_add(n, Ordering::Relaxed);
        },
    );
    for ((seq, rec, p), content) in queued.into_iter().zip(digests) {
        out.extend(finish(&rec, p, content).map(|d| (seq, d)));
        progress.items.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs `produce` (which calls its argument once per record) and checks every record, on
/// `workers` threads each over its own view from `open`, or on this thread over `fs` when no
/// worker can open a view. Deviations come back in production order.
pub fn run(
    fs: &RootFs,
    produce: Produce<'_>,
    open: Option<Open<'_>>,
    workers: usize,
    progress: &Progress,
) -> Vec<Deviation> {
    let workers = workers.clamp(1, 64);
    match open {
        Some(open) if workers > 1 => parallel(fs, produce, open, workers, progress),
        _ => local(fs, produce, progress),
    }
}

fn local(fs: &RootFs, produce: Produce<'_>, progress: &Progress) -> Vec<Deviation> {
    let mut buf = vec![0u8; CHUNK];
    let mut out = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut seq = 0;
    produce(&mut |rec| {
        batch.push((seq, rec));
        seq += 1;
        if batch.len() == BATCH {
            check_batch(fs, std::mem::take(&mut batch), &mut buf, progress, &mut out);
        }
    });
    check_batch(fs, batch, &mut buf, progress, &mut out);
    // Hashed records finish after the others of their batch.
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, d)| d).collect()
}

type Batch = Vec<(usize, Record)>;

fn parallel(
    fs: &RootFs,
    produce: Produce<'_>,
    open: Open<'_>,
    workers: usize,
    progress: &Progress,
) -> Vec<Deviation> {
    let (tx, rx) = sync_channel::<Batch>(workers * 2);
    let rx: Arc<Mutex<Receiver<Batch>>> = Arc::new(Mutex::new(rx));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<bool>();
    let found: Mutex<Vec<(usize, Deviation)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            let rx = rx.clone();
            let ready = ready_tx.clone();
            let found = &found;
            s.spawn(move || {
                let view = open();
                let _ = ready.send(view.is_some());
                // The producer counts ready workers until every sender is gone.
                drop(ready);
                let Some(view) = view else { return };
                let mut buf = vec![0u8; CHUNK];
                let mut mine = Vec::new();
                loop {
                    // Hold the lock only to take a batch.
                    let batch = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => break,
                    };
                    let Ok(batch) = batch else { break };
                    check_batch(&view, batch, &mut buf, progress, &mut mine);
                }
                if let Ok(mut f) = found.lock() {
                    f.extend(mine);
                }
            });
        }
        drop(ready_tx);
        let started = ready_rx.iter().filter(|ok| *ok).count();
        let mut seq = 0usize;
        let mut batch: Batch = Vec::with_capacity(BATCH);
        let mut buf = Vec::new();
        let mut mine = Vec::new();
        let tx = tx;
        produce(&mut |rec| {
            batch.push((seq, rec));
            seq += 1;
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if started == 0 {
                    // No worker could open a view: check here.
                    if buf.is_empty() {
                        buf = vec![0u8; CHUNK];
                    }
                    check_batch(fs, full, &mut buf, progress, &mut mine);
                } else {
                    let _ = tx.send(full);
                }
            }
        });
        if started == 0 {
            if buf.is_empty() {
                buf = vec![0u8; CHUNK];
            }
            check_batch(fs, batch, &mut buf, progress, &mut mine);
        } else if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        if let Ok(mut f) = found.lock() {
            f.extend(mine);
        }
    });
    let mut all = found.into_inner().unwrap_or_default();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, d)| d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::mem::MemFs;
    use crate::packages::Expect;

    fn tree() -> MemFs {
        let mut m = MemFs::new();
        m.file("/usr/bin/ok", b"hello", 0o755, 0, 0);
        m.file("/usr/bin/changed", b"hellO", 0o755, 0, 0);
        m.file("/usr/bin/longer", b"hello!", 0o755, 0, 0);
        m.file("/usr/bin/wrongmode", b"hello", 0o644, 0, 0);
        m.file("/usr/bin/wrongowner", b"hello", 0o755, 1000, 0);
        m.symlink("/usr/bin/link", "ok");
        m.dir("/usr/bin/adir", 0o755, 0, 0);
        m.symlink("/bin", "usr/bin");
        m
    }

    const HELLO_MD5: &str = "5d41402abc4b2a76b9719d911017c592";

    fn rpm_file(path: &str) -> Record {
        Record {
            package: Arc::from("p"),
            path: path.into(),
            diverted_to: None,
            config: false,
            expect: Expect {
                file_type: FileType::Regular,
                perm: Some(0o755),
                size: Some(5),
                digest: Some((DigestAlgo::Md5, HELLO_MD5.into())),
                link: None,
                user: Some(("root".into(), 0)),
                group: Some(("root".into(), 0)),
                mtime: None,
                verify: attr::ALL,
                state: FileState::Normal,
                ghost: false,
                missing_ok: false,
                follow: false,
            },
        }
    }

    fn flags(fs: &RootFs, r: &Record) -> String {
        let mut buf = vec![0u8; 4096];
        check_one(fs, r, &mut buf, &Progress::default())
            .map(|d| d.rpm_flags())
            .unwrap_or_else(|| "ok".into())
    }

    #[test]
    fn rpm_rules_per_attribute() {
        let fs = tree().into_rootfs();
        assert_eq!(flags(&fs, &rpm_file("/usr/bin/ok")), "ok");
        assert_eq!(flags(&fs, &rpm_file("/bin/ok")), "ok");
        assert_eq!(flags(&fs, &rpm_file("/usr/bin/changed")), "..5......");
        assert_eq!(flags(&fs, &rpm_file("/usr/bin/longer")), "S.5......");
        assert_eq!(flags(&fs, &rpm_file("/usr/bin/wrongmode")), ".M.......");
        assert_eq!(flags(&fs, &rpm_file("/usr/bin/wrongowner")), ".....U...");
        assert_eq!(flags(&fs, &rpm_file("/usr/bin/gone")), "missing");
        // A symlink where a file should be: rpm clears the mode and content checks and
        // reports the link target.
        assert_eq!(flags(&fs, &rpm_file("/usr/bin/link")), "....L....");
        assert_eq!(flags(&fs, &rpm_file("/usr/bin/adir")), ".M.......");
        let mut ghost = rpm_file("/usr/bin/gone");
        ghost.expect.ghost = true;
        assert_eq!(flags(&fs, &ghost), "ok");
        let mut ghost = rpm_file("/usr/bin/longer");
        ghost.expect.ghost = true;
        assert_eq!(flags(&fs, &ghost), "ok");
        let mut not_installed = rpm_file("/usr/bin/gone");
        not_installed.expect.state = FileState::NotInstalled;
        assert_eq!(flags(&fs, &not_installed), "ok");
        let mut replaced = rpm_file("/usr/bin/changed");
        replaced.expect.state = FileState::Replaced;
        assert_eq!(flags(&fs, &replaced), "ok");
        let mut link = rpm_file("/usr/bin/link");
        link.expect.file_type = FileType::Symlink;
        link.expect.perm = Some(0o777);
        link.expect.link = Some("ok".into());
        assert_eq!(flags(&fs, &link), "ok");
        link.expect.link = Some("other".into());
        assert_eq!(flags(&fs, &link), "....L....");
        // Verify flags off: not checked.
        let mut nomd5 = rpm_file("/usr/bin/changed");
        nomd5.expect.verify = attr::ALL & !attr::DIGEST;
        assert_eq!(flags(&fs, &nomd5), "ok");
    }

    #[test]
    fn dpkg_follows_links_and_checks_type() {
        let fs = tree().into_rootfs();
        let mut r = rpm_file("/usr/bin/link");
        r.expect = Expect {
            perm: None,
            size: None,
            user: None,
            group: None,
            verify: attr::DIGEST | attr::TYPE,
            follow: true,
            ..r.expect
        };
        assert_eq!(flags(&fs, &r), "ok");
        r.path = "/usr/bin/adir".into();
        assert_eq!(flags(&fs, &r), ".M.......");
    }

    #[test]
    fn parallel_matches_local_in_order() {
        let paths = [
            "/usr/bin/ok",
            "/usr/bin/changed",
            "/usr/bin/gone",
            "/usr/bin/longer",
        ];
        let recs: Vec<Record> = (0..500).map(|i| rpm_file(paths[i % paths.len()])).collect();
        let fs = tree().into_rootfs();
        let p = Progress::default();
        let local = run(
            &fs,
            &mut |emit| recs.iter().cloned().for_each(&mut *emit),
            None,
            1,
            &p,
        );
        let p2 = Progress::default();
        let open = || Some(tree().into_rootfs());
        let par = run(
            &fs,
            &mut |emit| recs.iter().cloned().for_each(&mut *emit),
            Some(&open),
            3,
            &p2,
        );
        assert_eq!(local.len(), 375);
        assert_eq!(local, par);
        assert_eq!(p2.items.load(Ordering::Relaxed), 500);
        // No worker can open a view: the caller's thread does the work.
        let none = || None;
        let fallback = run(
            &fs,
            &mut |emit| recs.iter().cloned().for_each(&mut *emit),
            Some(&none),
            2,
            &Progress::default(),
        );
        assert_eq!(fallback, local);
    }
}
