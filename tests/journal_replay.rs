//! The in-memory jbd2 replay on real dirty journals, compared with e2fsck's and the kernel's.
//!
//! Journals are written by the kernel: an image is loop-mounted (`commit=300`, so only fsync
//! commits), changed, the changes fsync'ed (the kernel commits them to the journal), and the
//! image copied while still mounted — the copy is what a host that lost power at that moment
//! leaves: committed transactions in the journal, their blocks not yet written home. Journals
//! are also written by `debugfs -w` (`jo`/`jw`/`jc`, with revoke records). For each, a copy is
//! replayed for real with `e2fsck -E journal_only`, and every filesystem block read through
//! our replay of the dirty image must equal that copy's block (the superblock and the journal
//! superblock aside: e2fsck rewrites them); for the kernel-written journals also the block of a
//! copy the kernel replayed (a read-only mount on a writable loop device). Then the CLI's view
//! of the changed files is checked against debugfs on the replayed copy, `check` reports
//! FS-011 (not FS-010 or FS-014), and the metadata scan of the dirty image agrees with
//! `e2fsck -fn` on the replayed copy. Torn and corrupted journals stop where they should,
//! without a panic, and what the kernel and e2fsck do with each is checked against what the
//! report says they do (they differ: a commit block torn after its header is replayed by
//! Linux 6.x and dropped by e2fsck 1.47).

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use rescue_inspect::fs::ext4::{self, LoadNote, raw::BlockRead};
use rescue_inspect::volume::{Device, Slice};

fn debugfs_r(img: &Path, req: &str) -> String {
    let o = Command::new("debugfs")
        .arg("-R")
        .arg(req)
        .arg(img)
        .output()
        .expect("debugfs runs");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn debugfs_cat(img: &Path, path: &str) -> Option<Vec<u8>> {
    let o = Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat \"{path}\""))
        .arg(img)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    (!err.contains("not found")).then_some(o.stdout)
}

fn our_cat(img: &Path, path: &str) -> Option<Vec<u8>> {
    let o = bin().arg("cat").arg(img).arg(path).output().unwrap();
    o.status.success().then_some(o.stdout)
}

/// (inode, links, size) as debugfs `stat` prints them.
fn debugfs_stat(img: &Path, path: &str) -> (u64, u64, u64) {
    let s = debugfs_r(img, &format!("stat \"{path}\""));
    let after = |key: &str| -> u64 {
        let i = s.find(key).unwrap_or_else(|| panic!("{key} in {s}")) + key.len();
        s[i..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{key} in {s}"))
    };
    (after("Inode:"), after("Links:"), after("Size:"))
}

fn our_stat(img: &Path, path: &str) -> (u64, u64, u64) {
    let o = bin()
        .arg("stat")
        .arg(img)
        .arg(path)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    (
        v["inode"].as_u64().unwrap(),
        v["nlink"].as_u64().unwrap(),
        v["size"].as_u64().unwrap(),
    )
}

fn dumpe2fs_h(img: &Path) -> String {
    let o = Command::new("dumpe2fs")
        .arg("-h")
        .arg(img)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The journal features dumpe2fs lists.
fn journal_features(img: &Path) -> Vec<String> {
    dumpe2fs_h(img)
        .lines()
        .find_map(|l| l.strip_prefix("Journal features:"))
        .unwrap_or("")
        .split_whitespace()
        .filter(|w| *w != "(none)")
        .map(String::from)
        .collect()
}

/// A copy of `img` replayed by e2fsck (`-E journal_only`: replay, nothing else), and what
/// e2fsck printed.
fn e2fsck_replayed(img: &Path, to: &Path) -> String {
    sparse_copy(img, to);
    let o = Command::new("e2fsck")
        .args(["-y", "-E", "journal_only"])
        .arg(to)
        .output()
        .expect("e2fsck runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "e2fsck -E journal_only: {out}"
    );
    assert!(
        !dumpe2fs_h(to).contains("needs_recovery"),
        "e2fsck replayed {}: {out}",
        to.display()
    );
    out
}

fn state(img: &Path) -> ext4::State {
    let dev = Arc::new(Device::open(img).unwrap());
    ext4::state(&Slice::whole(dev)).unwrap()
}

/// The filesystem block holding journal block `n`.
fn journal_block(img: &Path, n: u64) -> u64 {
    debugfs_r(img, &format!("bmap <8> {n}"))
        .trim()
        .parse()
        .unwrap()
}

/// A copy of `img` replayed by the kernel: mounted read-only (the kernel still replays the
/// journal, writing the replayed blocks, and touches nothing else), then unmounted. `None`
/// when the kernel refuses to mount it, with what it logged.
fn kernel_replayed(img: &Path, to: &Path) -> Result<(), String> {
    sparse_copy(img, to);
    let mnt = to.with_extension("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    // A writable loop device (`mount -o ro,loop` would make it read-only, and the kernel then
    // refuses to recover): the read-only mount may write only for recovery.
    let o = Command::new("losetup")
        .args(["-f", "--show"])
        .arg(to)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "losetup: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dev = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let o = Command::new("mount")
        .args(["-o", "ro", &dev])
        .arg(&mnt)
        .output()
        .unwrap();
    let r = if o.status.success() {
        assert!(Command::new("umount").arg(&mnt).status().unwrap().success());
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let _ = Command::new("losetup").args(["-d", &dev]).status();
    r
}

/// Every block of `dirty` as our replay reads it equals the block of the `replayed` copy
/// (replayed by e2fsck or the kernel; the superblock's 1024 bytes and the journal superblock
/// aside: they rewrite them). Returns the number of blocks the replay changed.
fn same_blocks_as(dirty: &Path, replayed: &Path) -> usize {
    let st = state(dirty);
    let bs = u64::from(st.superblock.block_size);
    let jsb = journal_block(dirty, 0);
    let theirs = std::fs::File::open(replayed).unwrap();
    let disk = std::fs::File::open(dirty).unwrap();
    let (mut a, mut b, mut d) = (
        vec![0u8; bs as usize],
        vec![0u8; bs as usize],
        vec![0u8; bs as usize],
    );
    let mut differ = Vec::new();
    let mut changed = 0;
    for n in 0..st.superblock.blocks_count {
        if n == jsb {
            continue;
        }
        st.bytes.read_at(n * bs, &mut a).unwrap();
        theirs.read_exact_at(&mut b, n * bs).unwrap();
        disk.read_exact_at(&mut d, n * bs).unwrap();
        let start = n * bs;
        if start < 2048 && start + bs > 1024 {
            // The superblock's bytes within this block.
            let lo = 1024u64.saturating_sub(start) as usize;
            let hi = (2048 - start).min(bs) as usize;
            a[lo..hi].fill(0);
            b[lo..hi].fill(0);
            d[lo..hi].fill(0);
        }
        if a != b {
            differ.push(n);
        }
        if a != d {
            changed += 1;
        }
    }
    assert!(
        differ.is_empty(),
        "{} blocks differ from e2fsck's replay, first {:?}",
        differ.len(),
        &differ[..differ.len().min(20)]
    );
    // The superblock itself: the fields a replay can change.
    let mut sb = vec![0u8; 1024];
    theirs.read_exact_at(&mut sb, 1024).unwrap();
    let e = ext4::Superblock::parse(&sb).unwrap();
    let o = &st.superblock;
    assert_eq!(
        (o.blocks_count, o.inodes_count, o.last_orphan, o.uuid),
        (e.blocks_count, e.inodes_count, e.last_orphan, e.uuid)
    );
    assert_eq!(
        o.feature_incompat & !ext4::superblock::INCOMPAT_RECOVER,
        e.feature_incompat
    );
    changed
}

fn replayed_note(r: &serde_json::Value) -> serde_json::Value {
    let f = with("FS-011", r);
    assert_eq!(f.len(), 1, "{r:#}");
    f[0].clone()
}

fn loop_mount_or_skip(test: &str) -> bool {
    if !have("mount") || !have("losetup") {
        skip_or_fail(test, "mount/losetup missing");
        return false;
    }
    let t = tempdir();
    let img = t.path().join("probe.img");
    Guest::debian().ext4(t.path(), &img, 8, &[]);
    let mnt = t.path().join("m");
    std::fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-o", "loop"])
        .arg(&img)
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        assert!(Command::new("umount").arg(&mnt).status().unwrap().success());
        true
    } else {
        skip_or_fail(test, "loop mount unavailable (needs root and loop devices)");
        false
    }
}

/// An image loop-mounted by the kernel.
struct Mounted {
    img: PathBuf,
    mnt: PathBuf,
}

impl Mounted {
    fn new(img: &Path, opts: &str) -> Mounted {
        let mnt = img.with_extension("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        let mut o = String::from("loop,commit=300");
        if !opts.is_empty() {
            o.push(',');
            o.push_str(opts);
        }
        let out = Command::new("mount")
            .args(["-o", &o])
            .arg(img)
            .arg(&mnt)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount -o {o}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Mounted {
            img: img.to_path_buf(),
            mnt,
        }
    }

    fn at(&self, p: &str) -> PathBuf {
        self.mnt.join(p.trim_start_matches('/'))
    }

    /// Writes a file and fsyncs it and its directory: the kernel commits a transaction.
    fn write(&self, p: &str, data: &[u8]) {
        let path = self.at(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
        self.sync(p);
    }

    fn sync(&self, p: &str) {
        let path = self.at(p);
        std::fs::File::open(&path).unwrap().sync_all().unwrap();
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir).unwrap().sync_all().unwrap();
        }
    }

    fn remove(&self, p: &str) {
        let path = self.at(p);
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
        std::fs::File::open(path.parent().unwrap())
            .unwrap()
            .sync_all()
            .unwrap();
    }

    /// The image as a host that lost power now leaves it.
    fn crash_copy(&self, to: &Path) {
        sparse_copy(&self.img, to);
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
    }
}

/// Bytes whose every 1 KiB starts with the journal magic: escaped when journaled.
fn magic_bytes(len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    for c in v.chunks_mut(1024) {
        if c.len() >= 4 {
            c[..4].copy_from_slice(&0xC03B_3998u32.to_be_bytes());
        }
    }
    v
}

/// Makes the changes of each kernel fixture, one fsync at a time, and returns them as (path,
/// new content or None for deleted): a new sshd drop-in, an edited file, a line appended to
/// authorized_keys, a 600 KiB file whose every 1 KiB starts with the journal magic, a deleted
/// file, and a directory of 150 entries (htree).
fn make_changes(m: &Mounted) -> Vec<(&'static str, Option<Vec<u8>>)> {
    let mut keys = std::fs::read(m.at("/home/admin/.ssh/authorized_keys")).unwrap();
    keys.extend_from_slice(b"# added just before the crash\n");
    let out: Vec<(&'static str, Option<Vec<u8>>)> = vec![
        (
            "/etc/ssh/sshd_config.d/60-crash.conf",
            Some(b"PasswordAuthentication no\nPermitRootLogin prohibit-password\n".to_vec()),
        ),
        (
            "/etc/hostname",
            Some(b"renamed-before-the-crash\n".to_vec()),
        ),
        ("/home/admin/.ssh/authorized_keys", Some(keys)),
        ("/usr/lib/crash/big.bin", Some(magic_bytes(600 * 1024))),
        ("/etc/passwd-", None),
    ];
    for (p, c) in &out {
        match c {
            Some(data) => m.write(p, data),
            None => m.remove(p),
        }
    }
    for i in 0..150 {
        m.write(
            &format!("/var/lib/crash/entry-{i:03}"),
            format!("{i}\n").as_bytes(),
        );
    }
    out
}

/// Whether some tag of the journal has `JBD2_FLAG_ESCAPE` (debugfs `logdump -a`).
fn has_escaped_tag(img: &Path) -> bool {
    debugfs_r(img, "logdump -a")
        .split("(flags 0x")
        .skip(1)
        .any(|s| {
            let hex: String = s.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
            u32::from_str_radix(&hex, 16).is_ok_and(|f| f & 1 != 0)
        })
}

/// (name, mke2fs options, mount options, journal features expected, not expected)
type Case<'a> = (
    &'a str,
    &'a [&'a str],
    &'a str,
    &'a [&'a str],
    &'a [&'a str],
);

#[test]
fn kernel_journals_of_every_format_replay_as_e2fsck_does() {
    if !loop_mount_or_skip("kernel_journals_of_every_format_replay_as_e2fsck_does") {
        return;
    }
    let cases: &[Case] = &[
        (
            "ext3",
            &["-t", "ext3"],
            "",
            &[],
            &["journal_64bit", "journal_checksum_v3"],
        ),
        (
            "ext4-nocsum",
            &["-O", "^metadata_csum"],
            "",
            &["journal_64bit"],
            &["journal_checksum", "journal_checksum_v3"],
        ),
        (
            "ext4-csum-v1",
            &["-O", "^metadata_csum"],
            "journal_checksum",
            &["journal_checksum"],
            &["journal_checksum_v3", "journal_async_commit"],
        ),
        (
            "ext4-async-commit",
            &["-O", "^metadata_csum"],
            // The kernel allows async commits only without ordered data.
            "journal_async_commit,data=writeback",
            &["journal_checksum", "journal_async_commit"],
            &["journal_checksum_v3"],
        ),
        (
            "ext4-csum-v3-async-commit",
            &[],
            "journal_async_commit,data=writeback",
            &["journal_checksum_v3", "journal_async_commit"],
            &[],
        ),
        (
            "ext4-csum-v3",
            &[],
            "",
            &["journal_64bit", "journal_checksum_v3"],
            &[],
        ),
        (
            "ext4-csum-v3-32bit-1k",
            &["-O", "^64bit", "-b", "1024"],
            "",
            &["journal_checksum_v3"],
            &["journal_64bit"],
        ),
        (
            "ext4-data-journal",
            &["-b", "1024"],
            "data=journal",
            &["journal_checksum_v3"],
            &[],
        ),
    ];
    for (name, mkfs, opts, has, hasnt) in cases {
        let t = tempdir();
        let img = Guest::debian().ext4(t.path(), &t.path().join(format!("{name}.img")), 48, mkfs);
        let dirty = t.path().join(format!("{name}-dirty.img"));
        let changes = {
            let m = Mounted::new(&img, opts);
            let c = make_changes(&m);
            m.crash_copy(&dirty);
            c
        };
        let dump = dumpe2fs_h(&dirty);
        assert!(dump.contains("needs_recovery"), "{name}: {dump}");
        let feats = journal_features(&dirty);
        for f in *has {
            assert!(feats.iter().any(|x| x == f), "{name}: {f} not in {feats:?}");
        }
        for f in *hasnt {
            assert!(!feats.iter().any(|x| x == f), "{name}: {f} in {feats:?}");
        }
        // The disk itself is stale: without the journal the new drop-in does not exist.
        assert!(
            debugfs_cat(&dirty, "/etc/ssh/sshd_config.d/60-crash.conf").is_none(),
            "{name}: the fixture is not stale on disk"
        );
        if *opts == "data=journal" {
            // File data went through the journal, its magic-led blocks escaped.
            assert!(has_escaped_tag(&dirty), "{name}");
        }

        let replayed = t.path().join(format!("{name}-e2fsck.img"));
        e2fsck_replayed(&dirty, &replayed);
        let changed = same_blocks_as(&dirty, &replayed);
        assert!(
            changed > 10,
            "{name}: the replay changed only {changed} blocks"
        );
        let by_kernel = t.path().join(format!("{name}-kernel.img"));
        kernel_replayed(&dirty, &by_kernel).unwrap();
        assert_eq!(same_blocks_as(&dirty, &by_kernel), changed, "{name}");
        eprintln!("{name}: the replay changed {changed} blocks, as e2fsck's and the kernel's did");

        for (p, c) in changes {
            assert_eq!(our_cat(&dirty, p), debugfs_cat(&replayed, p), "{name}: {p}");
            assert_eq!(our_cat(&dirty, p), c, "{name}: {p}");
            if c.is_some() {
                assert_eq!(
                    our_stat(&dirty, p),
                    debugfs_stat(&replayed, p),
                    "{name}: {p}"
                );
            }
        }
        let (_, ls, _) = run(&[&"ls", &dirty, &"/var/lib/crash"]);
        assert_eq!(
            ls.lines().filter(|l| l.contains(" entry-")).count(),
            150,
            "{name}: {ls}"
        );
        assert_eq!(
            our_cat(&dirty, "/var/lib/crash/entry-149").as_deref(),
            Some(&b"149\n"[..])
        );

        let (code, r) = check_json(&dirty, &[]);
        assert_eq!(code, 0, "{name}: {r:#}");
        let f = replayed_note(&r);
        assert_eq!(f["severity"], "info");
        assert!(
            f["title"].as_str().unwrap().contains("transaction(s)"),
            "{name}: {f}"
        );
        for id in ["FS-010", "FS-014", "FS-015"] {
            assert!(with(id, &r).is_empty(), "{name}: {id} in {r:#}");
        }
        assert_eq!(r["target"]["os"]["id"], "debian");

        // The scan reads the replayed state, as e2fsck checks after replaying.
        let o = bin()
            .arg("fsck")
            .arg(&dirty)
            .args(["--format", "json"])
            .output()
            .unwrap();
        let scan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(
            scan["journal"]
                .as_str()
                .unwrap()
                .contains("replayed in memory"),
            "{scan:#}"
        );
        let e = Command::new("e2fsck")
            .arg("-fn")
            .arg(&replayed)
            .output()
            .unwrap();
        assert_eq!(
            scan["problems"].as_array().unwrap().is_empty(),
            e.status.success(),
            "{name}: scan {scan:#} vs e2fsck -fn {}",
            String::from_utf8_lossy(&e.stdout)
        );
        assert!(
            e.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&e.stdout)
        );
    }
}

#[test]
fn a_log_that_wraps_with_revoke_records() {
    if !loop_mount_or_skip("a_log_that_wraps_with_revoke_records") {
        return;
    }
    // ext3: indirect blocks are metadata, freed with revoke records when a file is deleted;
    // the smallest journal (1024 blocks of 1 KiB) wraps after a few hundred transactions.
    let t = tempdir();
    let img = Guest::debian().ext4(
        t.path(),
        &t.path().join("wrap.img"),
        32,
        &["-t", "ext3", "-b", "1024", "-J", "size=1"],
    );
    let dirty = t.path().join("wrap-dirty.img");
    let m = Mounted::new(&img, "");
    let mut wrapped = None;
    for round in 0..40 {
        for i in 0..25 {
            let n = round * 25 + i;
            // 20 blocks: one indirect block; the previous file's is freed and revoked.
            m.write(
                &format!("/var/spool/w/{n}"),
                &vec![b'a' + (n % 26) as u8; 20 * 1024],
            );
            if n > 0 {
                m.remove(&format!("/var/spool/w/{}", n - 1));
            }
        }
        m.crash_copy(&dirty);
        let st = state(&dirty);
        if let Some(LoadNote::JournalReplayed {
            wrapped: true,
            revoke_records,
            transactions,
            ..
        }) = st.notes.first()
        {
            if *revoke_records > 0 {
                wrapped = Some((round, *transactions, *revoke_records));
                break;
            }
        }
    }
    drop(m);
    let (round, transactions, revokes) =
        wrapped.expect("the log wrapped with revoke records within 1000 transactions");
    eprintln!("wrapped after round {round}: {transactions} transactions, {revokes} revoke records");
    let log = debugfs_r(&dirty, "logdump");
    assert!(log.contains("revoke table"), "{log}");
    let replayed = t.path().join("wrap-e2fsck.img");
    e2fsck_replayed(&dirty, &replayed);
    let changed = same_blocks_as(&dirty, &replayed);
    let by_kernel = t.path().join("wrap-kernel.img");
    kernel_replayed(&dirty, &by_kernel).unwrap();
    assert_eq!(same_blocks_as(&dirty, &by_kernel), changed);
    let (_, ls, _) = run(&[&"ls", &dirty, &"/var/spool/w"]);
    let names: Vec<&str> = ls.lines().filter(|l| !l.ends_with(" .")).collect();
    assert_eq!(names.len(), 1, "{ls}");
    assert!(
        names[0].ends_with(" 999") || names[0].contains(" 20480 "),
        "{ls}"
    );
    let r = check_json(&dirty, &[]).1;
    let f = replayed_note(&r);
    assert!(
        f["detail"]
            .as_str()
            .unwrap()
            .contains("wraps around the end"),
        "{f}"
    );
}

/// Journal block numbers of the last transaction's descriptor and commit blocks, from
/// debugfs logdump.
fn last_transaction(img: &Path) -> (u64, u64, u64) {
    let log = debugfs_r(img, "logdump");
    let mut desc = None;
    let mut commit = None;
    let mut seq = 0;
    for l in log.lines() {
        // "Found expected sequence 3, type 1 (descriptor block) at block 10"
        let Some(rest) = l.strip_prefix("Found expected sequence ") else {
            continue;
        };
        let s: u64 = rest.split(',').next().unwrap().parse().unwrap();
        let b: u64 = l.rsplit(' ').next().unwrap().parse().unwrap();
        if l.contains("(descriptor block)") && s != seq {
            desc = Some(b);
            seq = s;
        }
        if l.contains("(commit block)") {
            commit = Some(b);
        }
    }
    (seq, desc.unwrap(), commit.unwrap())
}

fn flip(img: &Path, byte: u64) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .open(img)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, byte).unwrap();
    b[0] ^= 0x55;
    f.write_all_at(&b, byte).unwrap();
}

#[test]
fn torn_and_corrupt_journals_stop_where_they_should() {
    if !loop_mount_or_skip("torn_and_corrupt_journals_stop_where_they_should") {
        return;
    }
    for (name, mkfs) in [("v3", &[][..]), ("ext3", &["-t", "ext3"][..])] {
        let t = tempdir();
        let img = Guest::debian().ext4(t.path(), &t.path().join("t.img"), 32, mkfs);
        let dirty = t.path().join("dirty.img");
        {
            let m = Mounted::new(&img, "");
            m.write("/etc/first", b"first transaction\n");
            m.write("/etc/second", b"second transaction\n");
            m.crash_copy(&dirty);
        }
        let bs = u64::from(state(&dirty).superblock.block_size);
        let (seq, desc, commit) = last_transaction(&dirty);
        let at = |jb: u64| journal_block(&dirty, jb) * bs;

        // Torn: the last commit block never reached the disk. Both drop that transaction.
        let torn = t.path().join("torn.img");
        sparse_copy(&dirty, &torn);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&torn)
            .unwrap()
            .write_all_at(&vec![0u8; bs as usize], at(commit))
            .unwrap();
        let rep = t.path().join("torn-e2fsck.img");
        e2fsck_replayed(&torn, &rep);
        same_blocks_as(&torn, &rep);
        assert_eq!(
            our_cat(&torn, "/etc/first").as_deref(),
            Some(&b"first transaction\n"[..])
        );
        assert_eq!(our_cat(&torn, "/etc/second"), None, "{name}");
        let (code, r) = check_json(&torn, &[]);
        assert_eq!(code, 0, "{name}: {r:#}");
        let f = replayed_note(&r);
        assert!(
            f["detail"].as_str().unwrap().contains(&format!(
                "transaction {seq} was cut off before its commit block"
            )),
            "{name}: {f}"
        );
        assert!(with("FS-010", &r).is_empty(), "{name}: {r:#}");

        // The last descriptor destroyed (its magic): on a journal without checksums the log
        // just ends before it, for e2fsck too.
        if name == "ext3" {
            let bad = t.path().join("desc.img");
            sparse_copy(&dirty, &bad);
            flip(&bad, at(desc));
            let rep = t.path().join("desc-e2fsck.img");
            e2fsck_replayed(&bad, &rep);
            same_blocks_as(&bad, &rep);
            assert_eq!(our_cat(&bad, "/etc/second"), None);
            continue;
        }

        // Checksum v3: a flipped byte in the last commit block's header, its descriptor, or
        // a data block. Replay stops before that transaction and says so; what the peers do
        // differs by kind (each checked here) and is said too.
        for (what, byte, ours, e2fsck) in [
            (
                "commit",
                at(commit) + 40,
                "its commit block fails its checksum",
                "was corrupt, replay was aborted",
            ),
            (
                "descriptor",
                at(desc) + 900,
                "a descriptor or revoke block fails its checksum",
                "Journal checksum error",
            ),
            (
                "data",
                at(desc + 1) + 100,
                "fails its checksum",
                "Invalid checksum recovering data block",
            ),
        ] {
            let bad = t.path().join(format!("{what}.img"));
            sparse_copy(&dirty, &bad);
            flip(&bad, byte);
            let rep = t.path().join(format!("{what}-e2fsck.img"));
            let out = e2fsck_replayed(&bad, &rep);
            assert!(out.contains(e2fsck), "{what}: {out}");
            if what == "commit" {
                // e2fsck replays the transactions before it, as we do.
                same_blocks_as(&bad, &rep);
            }
            let k = kernel_replayed(&bad, &t.path().join(format!("{what}-kernel.img")));
            // The kernel refuses to mount it (its journal recovery fails).
            assert!(k.is_err(), "{what}: the kernel mounted it");
            assert_eq!(
                our_cat(&bad, "/etc/first").as_deref(),
                Some(&b"first transaction\n"[..]),
                "{what}"
            );
            assert_eq!(our_cat(&bad, "/etc/second"), None, "{what}");
            let (code, r) = check_json(&bad, &[]);
            assert_eq!(code, 0, "{what}: {r:#}");
            let f = with("FS-010", &r);
            assert_eq!(f.len(), 1, "{what}: {r:#}");
            let d = f[0]["detail"].as_str().unwrap();
            assert!(
                d.contains(&format!("transaction {seq} is corrupt")),
                "{what}: {d}"
            );
            assert!(d.contains(ours), "{what}: {d}");
            assert!(d.contains("What the peers do"), "{what}: {d}");
            assert!(f[0]["fix"].as_str().unwrap().contains("e2fsck -f"));
            replayed_note(&r);
        }

        // The commit block's tail torn (its header intact, the rest older bytes): Linux 6.x
        // accepts the commit and replays it, e2fsck 1.47 aborts there. We replay as the kernel
        // does, block for block, and warn that e2fsck would not.
        let tail = t.path().join("tail.img");
        sparse_copy(&dirty, &tail);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&tail)
            .unwrap()
            .write_all_at(&vec![0x5Au8; bs as usize / 2], at(commit) + bs / 2)
            .unwrap();
        let by_kernel = t.path().join("tail-kernel.img");
        kernel_replayed(&tail, &by_kernel).unwrap();
        same_blocks_as(&tail, &by_kernel);
        assert_eq!(
            our_cat(&tail, "/etc/second").as_deref(),
            Some(&b"second transaction\n"[..])
        );
        let out = e2fsck_replayed(&tail, &t.path().join("tail-e2fsck.img"));
        assert!(out.contains("was corrupt, replay was aborted"), "{out}");
        let (code, r) = check_json(&tail, &[]);
        assert_eq!(code, 0, "{r:#}");
        let f = with("FS-010", &r);
        assert_eq!(f.len(), 1, "{r:#}");
        assert!(
            f[0]["title"]
                .as_str()
                .unwrap()
                .contains("e2fsck would replay less"),
            "{}",
            f[0]
        );
        assert!(
            f[0]["detail"].as_str().unwrap().contains(&format!(
                "commit block of transaction {seq} was written only in part"
            )),
            "{}",
            f[0]
        );
    }
}

#[test]
fn debugfs_journals_with_revoke_records() {
    let t = tempdir();
    let blk = t.path().join("blocks");
    std::fs::write(&blk, magic_bytes(4 * 4096)).unwrap();
    for (name, mkfs, open) in [
        ("ext4", &["-b", "4096"][..], "jo"),
        ("ext4-csum", &["-b", "4096"][..], "jo -c"),
        ("ext3", &["-t", "ext3", "-b", "4096"][..], "jo"),
    ] {
        let img = Guest::debian().ext4(t.path(), &t.path().join(format!("{name}.img")), 32, mkfs);
        // Three transactions: blocks 7000..7003, a revoke of 7000, block 7001 again.
        debugfs_w(
            &img,
            &format!(
                "{open}\njw -b 7000,7001,7002,7003 {b}\njw -r 7000\njw -b 7001 {b}\njc\n",
                b = blk.display()
            ),
        );
        let log = debugfs_r(&img, "logdump");
        assert!(log.contains("revoke table"), "{name}: {log}");
        let st = state(&img);
        let Some(LoadNote::JournalReplayed {
            transactions,
            blocks,
            revoke_records,
            revoked,
            ..
        }) = st.notes.first()
        else {
            panic!("{name}: {:?}", st.notes)
        };
        assert_eq!(
            (*transactions, *blocks, *revoke_records, *revoked),
            (3, 3, 1, 1),
            "{name}"
        );
        let replayed = t.path().join(format!("{name}-e2fsck.img"));
        e2fsck_replayed(&img, &replayed);
        assert_eq!(same_blocks_as(&img, &replayed), 3, "{name}");
        let (code, r) = check_json(&img, &[]);
        assert_eq!(code, 0, "{name}: {r:#}");
        replayed_note(&r);
    }
}

#[test]
fn unreadable_journals_are_reported_precisely() {
    let t = tempdir();
    let blk = t.path().join("blocks");
    std::fs::write(&blk, vec![1u8; 4096]).unwrap();
    // An external journal: the superblock names a journal device, not an inode.
    let img = Guest::debian().ext4(t.path(), &t.path().join("ext.img"), 16, &[]);
    debugfs_w(
        &img,
        "feature needs_recovery\nssv journal_inum 0\nssv journal_uuid 8c3a0d5e-3b1f-4d41-9a4e-2f1d5b6c7a80\n",
    );
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 0, "{r:#}");
    let f = with("FS-010", &r);
    assert_eq!(f.len(), 1, "{r:#}");
    assert!(
        f[0]["detail"]
            .as_str()
            .unwrap()
            .contains("external device (journal UUID 8c3a0d5e-3b1f-4d41-9a4e-2f1d5b6c7a80)"),
        "{}",
        f[0]
    );
    // A journal superblock without its magic.
    let img = Guest::debian().ext4(t.path(), &t.path().join("magic.img"), 16, &["-b", "4096"]);
    debugfs_w(&img, &format!("jo\njw -b 3000 {}\njc\n", blk.display()));
    let at = journal_block(&img, 0) * 4096;
    flip(&img, at);
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 0, "{r:#}");
    let f = with("FS-010", &r);
    assert_eq!(f.len(), 1, "{r:#}");
    assert!(
        f[0]["detail"]
            .as_str()
            .unwrap()
            .contains("bad journal superblock magic"),
        "{}",
        f[0]
    );
    assert!(with("FS-011", &r).is_empty());
    // needs_recovery on an empty journal: nothing to replay, said as such.
    let img = Guest::debian().ext4(t.path(), &t.path().join("empty.img"), 16, &[]);
    debugfs_w(&img, "feature needs_recovery\n");
    let r = check_json(&img, &[]).1;
    let f = replayed_note(&r);
    assert!(
        f["title"]
            .as_str()
            .unwrap()
            .contains("no committed transactions"),
        "{f}"
    );
}

/// The real Debian 12 image (scripts/e2e-debian.sh sets RESCUE_INSPECT_DEBIAN): a broken sshd
/// drop-in and an "upgraded" sshd (written beside, renamed over) committed to the journal just
/// before the power went. Read without the journal, sshd would look fine.
#[test]
fn real_debian_12_crash_with_a_broken_sshd_config_in_the_journal() {
    let Some(dir) = debian_cache() else {
        eprintln!("skipped: set RESCUE_INSPECT_DEBIAN (scripts/e2e-debian.sh does)");
        return;
    };
    if !loop_mount_or_skip("real_debian_12_crash_with_a_broken_sshd_config_in_the_journal") {
        return;
    }
    let t = tempdir();
    let img = t.path().join("ext4.img");
    sparse_copy(&dir.join("ext4.img"), &img);
    let dirty = t.path().join("dirty.img");
    let drop_in = "/etc/ssh/sshd_config.d/99-crash.conf";
    {
        let m = Mounted::new(&img, "");
        m.write(drop_in, b"PermitRootLogin maybe\n");
        let sshd = std::fs::read(m.at("/usr/sbin/sshd")).unwrap();
        m.write("/usr/sbin/sshd.dpkg-new", &sshd);
        std::fs::rename(m.at("/usr/sbin/sshd.dpkg-new"), m.at("/usr/sbin/sshd")).unwrap();
        m.sync("/usr/sbin/sshd");
        for i in 0..300 {
            m.write(
                &format!("/var/cache/crash/{i}"),
                format!("{i}\n").as_bytes(),
            );
        }
        m.crash_copy(&dirty);
    }
    assert!(dumpe2fs_h(&dirty).contains("needs_recovery"));
    assert!(debugfs_cat(&dirty, drop_in).is_none(), "stale on disk");

    let (code, r) = check_json(&dirty, &[]);
    assert_eq!(code, 1, "{r:#}");
    replayed_note(&r);
    for id in ["FS-010", "FS-014", "FS-015", "PKG-001"] {
        assert!(with(id, &r).is_empty(), "{id}: {r:#}");
    }
    let cfg = with("SSHD-CFG-001", &r);
    assert_eq!(cfg.len(), 1, "{r:#}");
    assert_eq!(cfg[0]["path"], drop_in, "{}", cfg[0]);

    let replayed = t.path().join("e2fsck.img");
    e2fsck_replayed(&dirty, &replayed);
    let changed = same_blocks_as(&dirty, &replayed);
    assert!(changed > 10, "{changed}");
    assert_eq!(our_cat(&dirty, drop_in), debugfs_cat(&replayed, drop_in));
    assert_eq!(
        our_stat(&dirty, "/usr/sbin/sshd"),
        debugfs_stat(&replayed, "/usr/sbin/sshd")
    );
    let o = bin()
        .arg("fsck")
        .arg(&dirty)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let scan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(scan["problems"].as_array().unwrap().is_empty(), "{scan:#}");
    let e = Command::new("e2fsck")
        .arg("-fn")
        .arg(&replayed)
        .output()
        .unwrap();
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stdout));
}
