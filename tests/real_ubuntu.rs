//! A real Ubuntu 24.04 root (scripts/e2e-ubuntu.sh builds it with scripts/ubuntu-root.sh and sets
//! RESCUE_INSPECT_UBUNTU): no finding at all on the healthy cloud-like root, as a directory, a
//! bare ext4 image and a GPT disk; every package verifies; the minimised variant (dpkg
//! path-exclude, files gone) verifies clean where `dpkg --verify` calls every excluded file
//! missing; ssh.socket activation and Ubuntu's sshd-socket-generator decide where sshd listens;
//! the socket disabled is found.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

fn cache() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("RESCUE_INSPECT_UBUNTU")?);
    dir.join("ext4.img").exists().then_some(dir)
}

fn verify_totals(target: &std::path::Path) -> (i32, serde_json::Value) {
    let (code, out, err) = run(&[&"verify", &target, &"--format", &"json"]);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(
        v["deviations"].as_array().unwrap().len(),
        0,
        "{}",
        v["deviations"]
    );
    (code, v["totals"].clone())
}

#[test]
fn real_ubuntu_24_04() {
    let Some(dir) = cache() else {
        eprintln!("skipped: set RESCUE_INSPECT_UBUNTU (scripts/e2e-ubuntu.sh does)");
        return;
    };
    for target in [dir.join("root"), dir.join("ext4.img"), dir.join("gpt.img")] {
        let (code, r) = check_json(&target, &["--packages", "all"]);
        assert_eq!(code, 0, "{}: {r}", target.display());
        assert_eq!(
            r["findings"].as_array().unwrap().len(),
            0,
            "{}: {}",
            target.display(),
            r["findings"]
        );
        assert_eq!(r["target"]["os"]["id"], "ubuntu");
        assert_eq!(r["verdict"]["sshd_starts"], true);
        assert_eq!(verdict(&r, "ubuntu")["key_login"], "allowed");
        // ssh.socket (socket activation) listens, on the port sshd_config gives.
        assert_eq!(
            r["verdict"]["sshd_listen"],
            serde_json::json!(["[::]:22", "0.0.0.0:22"]),
            "{}",
            target.display()
        );
    }

    // Every package, every file.
    let (code, t) = verify_totals(&dir.join("ext4.img"));
    assert_eq!(code, 0);
    assert!(t["packages"].as_u64().unwrap() > 150, "{t}");
    assert_eq!(t["excluded"], 0);

    // Minimised: clean, with the excluded files counted; dpkg --verify reports each as missing.
    let (code, t) = verify_totals(&dir.join("minimal"));
    assert_eq!(code, 0);
    let excluded = t["excluded"].as_u64().unwrap();
    assert!(excluded > 1000, "{t}");
    if have("dpkg") {
        let o = Command::new("dpkg")
            .arg(format!("--root={}", dir.join("minimal").display()))
            .arg("--verify")
            .output()
            .unwrap();
        let missing = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with("missing"))
            .count() as u64;
        assert_eq!(
            missing, excluded,
            "dpkg --verify's false alarms are what we exclude"
        );
    }

    // Port 2222 in a drop-in: Ubuntu's generator moves ssh.socket there at boot.
    let t = tempdir();
    let img = t.path().join("port.img");
    sparse_copy(&dir.join("ext4.img"), &img);
    let conf = t.path().join("10-port.conf");
    std::fs::write(&conf, "Port 2222\n").unwrap();
    debugfs_w(
        &img,
        &format!(
            "cd /etc/ssh/sshd_config.d\nwrite {} 10-port.conf\nsif 10-port.conf uid 0\nsif 10-port.conf gid 0\nsif 10-port.conf mode 0100644\n",
            conf.display()
        ),
    );
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        r["verdict"]["sshd_listen"],
        serde_json::json!(["[::]:2222", "0.0.0.0:2222"])
    );

    // ssh.socket disabled (and ssh.service not enabled, as on Ubuntu 24.04): nothing starts sshd.
    let img = t.path().join("nosocket.img");
    sparse_copy(&dir.join("ext4.img"), &img);
    debugfs_w(
        &img,
        "rm /etc/systemd/system/sockets.target.wants/ssh.socket\n",
    );
    let (code, r) = check_json(&img, &[]);
    assert_eq!(code, 1, "{r}");
    let f = with("SSHD-SVC-001", &r);
    assert_eq!(f.len(), 1, "{r}");
    assert!(
        f[0]["fix"].as_str().unwrap().contains("ssh.socket"),
        "{}",
        f[0]
    );
    assert_eq!(r["verdict"]["sshd_starts"], false);
}
