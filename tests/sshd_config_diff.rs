//! Differential test: `rescue-inspect sshd-config` against a real `sshd -T`.
//!
//! The references are Debian 12's sshd (OpenSSH 9.2p1) and Debian 13's (OpenSSH 10.0p1), each
//! with Debian's patches and the libraries it loads, unpacked from the package registry by
//! scripts/fetch-openssh-server.sh. For each of them and every case under testdata/sshd_config/
//! a guest tree is made: that unpacked tree, os-release and a package database naming the
//! release, passwd/group with the cases' users, three host keys, /run/sshd, and the case's files
//! under /etc/ssh. Then, for every connection spec the case lists, `chroot TREE sshd -T -C spec` and
//! `rescue-inspect sshd-config TREE --user … --format json` must agree: the same printed
//! configuration line for line when sshd accepts it, and the same messages (same file, line
//! and wording) on stderr when it does not.
//!
//! chroot needs root. Without root or without the unpacked sshd the test says so and passes,
//! unless RESCUE_INSPECT_REQUIRE_PEERS=1 (set by .ci/run), where it fails.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const DEFAULT_SSHD_DIR: &str = "/var/cache/rescue-inspect/openssh-server";

fn required() -> bool {
    std::env::var("RESCUE_INSPECT_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

fn skip(why: &str) {
    if required() {
        panic!("sshd -T differential test cannot run: {why}");
    }
    eprintln!("SKIPPED sshd -T differential test: {why}");
}

/// (suite, Debian release, unpacked root, openssh-server version) of every fetched sshd.
fn references() -> Vec<(String, &'static str, PathBuf, String)> {
    let dir = std::env::var("RESCUE_INSPECT_SSHD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(DEFAULT_SSHD_DIR));
    let mut out = Vec::new();
    for (suite, release) in [("bookworm", "12"), ("trixie", "13")] {
        let root = dir.join(suite).join("root");
        let version = fs::read_to_string(dir.join(suite).join("version")).unwrap_or_default();
        if root.join("usr/sbin/sshd").exists() && !version.trim().is_empty() {
            out.push((suite.to_string(), release, root, version.trim().to_string()));
        }
    }
    out
}

/// The guest tree every case of one reference starts from: the unpacked packages, accounts,
/// host keys, and what tells the tool which release this is.
fn base_tree(tree: &Path, sshd_root: &Path, release: &str, version: &str) {
    common::check(
        Command::new("cp")
            .arg("-a")
            .arg(sshd_root)
            .arg(tree)
            .output()
            .expect("cp -a"),
        "cp -a",
    );
    for d in [
        "run/sshd",
        "etc/ssh",
        "root",
        "home/alice",
        "home/bob",
        "tmp",
        "dev",
    ] {
        fs::create_dir_all(tree.join(d)).unwrap();
    }
    fs::set_permissions(tree.join("run/sshd"), fs::Permissions::from_mode(0o755)).unwrap();
    // sshd reopens stdin on /dev/null at start.
    common::check(
        Command::new("mknod")
            .arg(tree.join("dev/null"))
            .args(["c", "1", "3"])
            .output()
            .expect("mknod"),
        "mknod /dev/null",
    );
    fs::set_permissions(tree.join("dev/null"), fs::Permissions::from_mode(0o666)).unwrap();
    fs::write(
        tree.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\n\
         sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n\
         alice:x:1000:1000:Alice:/home/alice:/bin/bash\n\
         bob:x:1001:1001:Bob:/home/bob:/bin/bash\n\
         carol:x:1002:100:Carol:/home/carol:/bin/bash\n\
         nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    )
    .unwrap();
    fs::write(
        tree.join("etc/group"),
        "root:x:0:\nusers:x:100:\nsudo:x:27:alice\nalice:x:1000:\nbob:x:1001:\n\
         sftponly:x:2000:bob,carol\nadmins:x:2001:alice\nnogroup:x:65534:\n",
    )
    .unwrap();
    fs::write(
        tree.join("etc/os-release"),
        format!("PRETTY_NAME=\"Debian GNU/Linux {release}\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"{release}\"\nID=debian\n"),
    )
    .unwrap();
    fs::create_dir_all(tree.join("var/lib/dpkg")).unwrap();
    fs::write(
        tree.join("var/lib/dpkg/status"),
        format!("Package: openssh-server\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n\n"),
    )
    .unwrap();
    if Path::new("/etc/services").exists() {
        fs::copy("/etc/services", tree.join("etc/services")).unwrap();
    }
    for t in ["rsa", "ecdsa", "ed25519"] {
        let key = tree.join(format!("etc/ssh/ssh_host_{t}_key"));
        let _ = fs::remove_file(&key);
        let mut c = Command::new("ssh-keygen");
        c.args(["-q", "-N", "", "-t", t, "-f"]).arg(&key);
        if t == "rsa" {
            c.args(["-b", "2048"]);
        }
        common::check(c.output().expect("ssh-keygen"), "ssh-keygen");
    }
}

/// Removes the previous case's configuration and writes this one's.
fn install_case(tree: &Path, case: &Path) {
    let etc = tree.join("etc/ssh");
    let _ = fs::remove_file(etc.join("sshd_config"));
    let _ = fs::remove_dir_all(etc.join("sshd_config.d"));
    let _ = fs::remove_dir_all(etc.join("extra"));
    for entry in walk(case) {
        let rel = entry.strip_prefix(case).unwrap();
        if rel == Path::new("specs") || rel == Path::new("README") {
            continue;
        }
        let dest = etc.join(rel);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(&entry, &dest).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// "user=alice,addr=10.0.0.1" → our flags.
fn our_flags(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    for kv in spec.split(',').filter(|s| !s.is_empty()) {
        if kv == "invalid-user" {
            out.push("--invalid-user".into());
            continue;
        }
        let (k, v) = kv.split_once('=').expect("spec key=value");
        out.push(format!("--{k}"));
        out.push(v.to_string());
    }
    out
}

struct Outcome {
    ok: bool,
    stdout: Vec<String>,
    messages: Vec<String>,
}

fn real(tree: &Path, spec: &str) -> Outcome {
    let mut c = Command::new("chroot");
    c.arg(tree)
        .args(["/usr/sbin/sshd", "-T", "-f", "/etc/ssh/sshd_config"]);
    if !spec.is_empty() {
        c.args(["-C", spec]);
    }
    let out = c
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .expect("chroot sshd -T");
    Outcome {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
        // Messages from loading host keys and contacting a HostKeyAgent come after the
        // configuration is read; `rescue-inspect hostkeys` covers the keys.
        messages: String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| {
                !l.starts_with("Unable to load host key")
                    && !l.starts_with("Could not connect to agent")
            })
            .map(str::to_string)
            .collect(),
    }
}

fn ours(tree: &Path, spec: &str) -> Outcome {
    let mut args: Vec<String> = vec![
        "sshd-config".into(),
        tree.display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(our_flags(spec));
    let out = common::bin().args(&args).output().expect("rescue-inspect");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("json: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    let stdout = v["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| format!("{} {}", kv[0].as_str().unwrap(), kv[1].as_str().unwrap()))
        .collect();
    let messages = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].as_str().unwrap().to_string())
        .collect();
    Outcome {
        ok: !v["fatal"].as_bool().unwrap(),
        stdout,
        messages,
    }
}

#[test]
fn sshd_t_agrees_over_the_corpus() {
    if !nix_root() {
        return skip("chroot needs root");
    }
    let refs = references();
    if refs.is_empty() {
        return skip("no unpacked openssh-server: run scripts/fetch-openssh-server.sh");
    }
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sshd_config");
    let mut cases: Vec<PathBuf> = fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (suite, release, root, version) in &refs {
        let work = common::tempdir();
        let tree = work.path().join("guest");
        base_tree(&tree, root, release, version);
        let mut compared = 0;
        for case in &cases {
            install_case(&tree, case);
            let specs = fs::read_to_string(case.join("specs")).unwrap_or_default();
            let mut specs: Vec<&str> = specs.lines().map(str::trim).collect();
            if specs.is_empty() {
                specs.push("");
            }
            for spec in specs {
                let name = format!(
                    "{suite} {} [{}]",
                    case.file_name().unwrap().to_string_lossy(),
                    spec
                );
                let r = real(&tree, spec);
                // A -C key this release does not know (invalid-user before 9.9) tests nothing
                // about the configuration.
                if r.messages
                    .iter()
                    .any(|m| m.starts_with("Invalid test mode specification"))
                {
                    continue;
                }
                compared += 1;
                compare(&name, &r, &ours(&tree, spec), &mut failures);
            }
        }
        eprintln!(
            "{suite} (openssh-server {version}): compared {compared} connection specs over {} configs",
            cases.len()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn compare(name: &str, r: &Outcome, o: &Outcome, failures: &mut Vec<String>) {
    if r.ok != o.ok {
        failures.push(format!(
            "{name}: sshd {} but we say {}\n  sshd: {:?}\n  ours: {:?}",
            if r.ok { "accepts" } else { "exits" },
            if o.ok { "it accepts" } else { "it exits" },
            r.messages,
            o.messages
        ));
        return;
    }
    if r.messages != o.messages {
        failures.push(format!(
            "{name}: messages differ\n  sshd: {:?}\n  ours: {:?}",
            r.messages, o.messages
        ));
    }
    if r.ok && r.stdout != o.stdout {
        let mut d = String::new();
        for l in r.stdout.iter().filter(|l| !o.stdout.contains(l)) {
            d.push_str(&format!("\n  - {l}"));
        }
        for l in o.stdout.iter().filter(|l| !r.stdout.contains(l)) {
            d.push_str(&format!("\n  + {l}"));
        }
        if d.is_empty() {
            d = "\n  (same lines, different order)".into();
        }
        failures.push(format!(
            "{name}: sshd -T output differs (- sshd, + ours):{d}"
        ));
    }
}

fn nix_root() -> bool {
    // SAFETY-free: the effective uid via /proc, no libc call needed.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
