//! ufw: `/etc/ufw/ufw.conf` (ENABLED), `/etc/default/ufw` (DEFAULT_INPUT_POLICY) and the rule
//! files ufw-init loads at boot (before.rules, after.rules, user.rules), wired the way ufw-init
//! wires them: INPUT → ufw-before-logging-input → ufw-before-input (which ends by jumping to
//! ufw-user-input) → ufw-after-input → … → the default policy.

use super::iptables::{self, Table};
use super::{At, Outcome};
use crate::fs::RootFs;

#[derive(Clone, Debug)]
pub struct Ufw {
    /// `ENABLED=yes` in ufw.conf, and where it says so.
    pub enabled: bool,
    pub enabled_at: Option<At>,
    /// DEFAULT_INPUT_POLICY (DROP, REJECT or ACCEPT) and where it is set.
    pub policy: String,
    pub policy_at: Option<At>,
    pub table: Table,
    /// The rule files that were read.
    pub files: Vec<String>,
}

fn shell_var(text: &str, file: &str, name: &str) -> Option<(String, At)> {
    text.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim();
        let v = t.strip_prefix(name)?.strip_prefix('=')?;
        Some((
            v.trim().trim_matches('"').trim_matches('\'').to_string(),
            At {
                file: file.to_string(),
                line: i + 1,
                text: t.to_string(),
            },
        ))
    })
}

/// The chains ufw-init creates before it loads the rule files.
const INIT: &str = "*filter
:INPUT - [0:0]
:ufw-before-logging-input - [0:0]
:ufw-before-input - [0:0]
:ufw-after-input - [0:0]
:ufw-after-logging-input - [0:0]
:ufw-reject-input - [0:0]
:ufw-track-input - [0:0]
:ufw-logging-deny - [0:0]
:ufw-logging-allow - [0:0]
-A INPUT -j ufw-before-logging-input
-A INPUT -j ufw-before-input
-A INPUT -j ufw-after-input
-A INPUT -j ufw-after-logging-input
-A INPUT -j ufw-reject-input
-A INPUT -j ufw-track-input
COMMIT
";

/// Reads ufw's configuration; None when ufw is not installed.
pub fn load(fs: &RootFs) -> Option<Ufw> {
    let conf = fs.read_to_string_lossy("/etc/ufw/ufw.conf").ok()?;
    let (enabled, enabled_at) = match shell_var(&conf, "/etc/ufw/ufw.conf", "ENABLED") {
        Some((v, at)) => (v.eq_ignore_ascii_case("yes"), Some(at)),
        None => (false, None),
    };
    let defaults = fs
        .read_to_string_lossy("/etc/default/ufw")
        .unwrap_or_default();
    let (policy, policy_at) = match shell_var(&defaults, "/etc/default/ufw", "DEFAULT_INPUT_POLICY")
    {
        Some((v, at)) => (v.to_ascii_uppercase(), Some(at)),
        None => ("DROP".to_string(), None),
    };
    let mut table = Table::default();
    table.load(INIT, "ufw-init");
    let mut files = Vec::new();
    for f in [
        "/etc/ufw/before.rules",
        "/etc/ufw/after.rules",
        "/etc/ufw/user.rules",
    ] {
        if let Ok(text) = fs.read_to_string_lossy(f) {
            table.load(&text, f);
            files.push(f.to_string());
        }
    }
    // ufw-init hooks the user chain in after loading the files, and makes the skip-to-policy
    // chain jump to the default policy.
    let hook = format!(
        "*filter\n-A ufw-before-input -j ufw-user-input\n:ufw-skip-to-policy-input - [0:0]\n-A ufw-skip-to-policy-input -j {policy}\nCOMMIT\n"
    );
    table.load(&hook, "ufw-init");
    Some(Ufw {
        enabled,
        enabled_at,
        policy,
        policy_at,
        table,
        files,
    })
}

impl Ufw {
    /// What a new TCP connection to `port` meets.
    pub fn evaluate(&self, port: u16, services: &dyn Fn(&str) -> Option<u16>) -> Outcome {
        let at = self.policy_at.clone();
        let fallback = match self.policy.as_str() {
            "ACCEPT" => Outcome::Accept(at),
            "REJECT" => Outcome::Reject(at),
            _ => Outcome::Drop(at),
        };
        let mut o = iptables::evaluate(&self.table, "INPUT", port, services, fallback.clone());
        // The skip-to-policy chain's rule was synthesised: name the policy line instead.
        fix_synthetic(&mut o, &fallback);
        o
    }
}

fn fix_synthetic(o: &mut Outcome, fallback: &Outcome) {
    match o {
        Outcome::Accept(a) | Outcome::Drop(a) | Outcome::Reject(a) => {
            if a.as_ref().is_some_and(|a| a.file == "ufw-init") {
                *a = fallback.at().cloned();
            }
        }
        Outcome::Depends { otherwise, .. } => fix_synthetic(otherwise, fallback),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::mem::MemFs;

    const BEFORE: &str = "*filter\n:ufw-before-input - [0:0]\n:ufw-not-local - [0:0]\n-A ufw-before-input -i lo -j ACCEPT\n-A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A ufw-before-input -m conntrack --ctstate INVALID -j DROP\n-A ufw-before-input -p icmp --icmp-type echo-request -j ACCEPT\n-A ufw-before-input -p udp --sport 67 --dport 68 -j ACCEPT\n-A ufw-before-input -j ufw-not-local\n-A ufw-not-local -m addrtype --dst-type LOCAL -j RETURN\n-A ufw-not-local -j DROP\nCOMMIT\n";
    const AFTER: &str = "*filter\n:ufw-after-input - [0:0]\n-A ufw-after-input -p tcp --dport 139 -j ufw-skip-to-policy-input\nCOMMIT\n";

    fn fs(user_rules: &str, enabled: &str) -> RootFs {
        let mut m = MemFs::new();
        let conf = format!("ENABLED={enabled}\nLOGLEVEL=low\n");
        m.file("/etc/ufw/ufw.conf", conf.as_bytes(), 0o644, 0, 0);
        m.file(
            "/etc/default/ufw",
            b"IPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\n",
            0o644,
            0,
            0,
        );
        m.file("/etc/ufw/before.rules", BEFORE.as_bytes(), 0o644, 0, 0);
        m.file("/etc/ufw/after.rules", AFTER.as_bytes(), 0o644, 0, 0);
        m.file("/etc/ufw/user.rules", user_rules.as_bytes(), 0o644, 0, 0);
        m.into_rootfs()
    }

    #[test]
    fn ufw_rules() {
        let s = super::super::services_of("ssh 22/tcp\n");
        let allow = "*filter\n:ufw-user-input - [0:0]\n### RULES ###\n\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 22 -j ACCEPT\n\n### END RULES ###\nCOMMIT\n";
        let u = load(&fs(allow, "yes")).unwrap();
        assert!(u.enabled);
        assert!(
            matches!(u.evaluate(22, &s), Outcome::Accept(Some(a)) if a.file == "/etc/ufw/user.rules" && a.line == 6)
        );
        match u.evaluate(2222, &s) {
            Outcome::Drop(Some(a)) => {
                assert_eq!((a.file.as_str(), a.line), ("/etc/default/ufw", 2))
            }
            o => panic!("{o:?}"),
        }
        let none = "*filter\n:ufw-user-input - [0:0]\n### RULES ###\n### END RULES ###\nCOMMIT\n";
        assert!(load(&fs(none, "yes")).unwrap().evaluate(22, &s).blocks());
        assert!(!load(&fs(none, "no")).unwrap().enabled);
    }
}
