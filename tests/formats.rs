//! Report formats for CI: one `check` run writes text, JSON, SARIF and JUnit; SARIF validates
//! against the SARIF 2.1.0 schema (testdata/sarif) and, where installed, Microsoft's SARIF
//! multitool; JUnit parses with junitparser (Python) where installed; two runs are
//! byte-identical; completions and the man page come from the command-line definition.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn broken_image(dir: &Path) -> std::path::PathBuf {
    let mut g = Guest::debian();
    g.text(
        "/etc/ssh/sshd_config.d/20-x.conf",
        "PermitRootLogn no\nUsePrivilegeSeparation sandbox\n",
    );
    g.dir("/home/admin/.ssh", 0o777, 1000, 1000);
    g.ext4(dir, &dir.join("broken.ext4"), 24, &[])
}

fn required() -> bool {
    std::env::var("RESCUE_INSPECT_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

#[test]
fn one_run_writes_every_format() {
    let t = tempdir();
    let img = broken_image(t.path());
    let sarif = t.path().join("r.sarif");
    let junit = t.path().join("r.xml");
    let json = t.path().join("report.json");
    let (code, out, err) = run(&[
        &"check",
        &img,
        &"-o",
        &sarif,
        &"--output",
        &format!("junit={}", junit.display()),
        &"-o",
        &json,
        &"--fail-on",
        &"warning",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("[SSHD-CFG-001]"), "text on stdout: {out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["schema"], "rescue-inspect/report/v1");

    // SARIF against the OASIS schema.
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sarif/sarif-schema-2.1.0.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft4::new(&schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "SARIF schema errors: {errors:?}");
    let results = doc["runs"][0]["results"].as_array().unwrap();
    let cfg = results
        .iter()
        .find(|r| r["ruleId"] == "SSHD-CFG-001")
        .expect("SSHD-CFG-001 in SARIF");
    assert_eq!(cfg["level"], "error");
    let loc = &cfg["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        "etc/ssh/sshd_config.d/20-x.conf"
    );
    assert_eq!(loc["region"]["startLine"], 1);
    let rules = doc["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let i = cfg["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[i]["id"], "SSHD-CFG-001");

    // Microsoft's SARIF multitool, the validator GitHub's documentation points to.
    let multitool = std::env::var("RESCUE_INSPECT_SARIF_MULTITOOL").unwrap_or_else(|_| {
        "/var/cache/rescue-inspect/sarif-multitool/package/Sarif.Multitool".into()
    });
    if Path::new(&multitool).exists() {
        let log = t.path().join("validation.sarif");
        let o = Command::new(&multitool)
            .arg("validate")
            .arg(&sarif)
            .arg("-o")
            .arg(&log)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(o.status.success(), "{text}");
        assert!(!text.contains(": error "), "{text}");
    } else if required() {
        panic!("no SARIF multitool at {multitool} (scripts/fetch-ci-tools.sh)");
    } else {
        eprintln!("SKIPPED the SARIF multitool check: {multitool} not installed");
    }

    // JUnit: the structure, and a real consumer's parser.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml"));
    let failures = xml.matches("<failure ").count();
    assert!(failures >= 2, "{xml}");
    let py = "import sys\nfrom junitparser import JUnitXml\nx = JUnitXml.fromfile(sys.argv[1])\nfor s in x:\n    print(s.tests, s.failures)\n";
    match Command::new("python3")
        .args(["-c", py])
        .arg(&junit)
        .output()
    {
        Ok(o) if o.status.success() => {
            let s = String::from_utf8_lossy(&o.stdout);
            let mut it = s.split_whitespace();
            let tests: usize = it.next().unwrap().parse().unwrap();
            let failed: usize = it.next().unwrap().parse().unwrap();
            assert_eq!(tests, rules.len(), "one test case per rule");
            assert!(failed >= 2, "{s}");
        }
        Ok(o) if !required() => eprintln!(
            "SKIPPED the junitparser check: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        o => panic!("junitparser: {o:?}"),
    }
}

#[test]
fn quiet_and_byte_identical_runs() {
    let t = tempdir();
    let img = broken_image(t.path());
    let (code, out, _) = run(&[&"check", &img, &"--quiet"]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "{out}");
    for f in ["json", "sarif", "junit"] {
        let (_, a, _) = run(&[&"check", &img, &"--format", &f]);
        let (_, b, _) = run(&[&"check", &img, &"--format", &f]);
        assert_eq!(a, b, "{f} differs between runs");
        assert!(!a.is_empty());
    }
}

#[test]
fn completions_and_man_page() {
    let (code, bash, _) = run(&[&"completions", &"bash"]);
    assert_eq!(code, 0);
    assert!(bash.contains("sshd-config") && bash.contains("--fail-on"));
    let t = tempdir();
    let f = t.path().join("rescue-inspect.bash");
    std::fs::write(&f, &bash).unwrap();
    let ok = Command::new("bash").arg("-n").arg(&f).status().unwrap();
    assert!(ok.success(), "bash -n rejects the completion script");
    for shell in ["zsh", "fish"] {
        let (code, script, _) = run(&[&"completions", &shell]);
        assert_eq!(code, 0);
        assert!(script.contains("sshd-config"), "{shell}");
        let f = t.path().join(format!("c.{shell}"));
        std::fs::write(&f, &script).unwrap();
        match Command::new(shell).arg("-n").arg(&f).status() {
            Ok(s) => assert!(s.success(), "{shell} -n rejects the completion script"),
            Err(_) => eprintln!("note: {shell} not installed; syntax not checked"),
        }
    }
    let (code, man, _) = run(&[&"man"]);
    assert_eq!(code, 0);
    assert!(man.contains(".TH rescue-inspect"), "{man}");
    for sub in ["check", "sshd-config", "partitions", "login", "hostkeys"] {
        assert!(man.contains(&format!(".TH rescue-inspect-{sub}")), "{sub}");
    }
}
