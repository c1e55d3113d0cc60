//! The rules. Each rule has a stable id, a default severity, a category and a document; audits
//! are plain functions from what was read off the volume to findings. Audits never read raw
//! bytes of the device and never print.

mod boot;
mod damage;
mod disk;
mod files;
pub mod login;
mod logs;
mod network;
pub mod packages;
pub mod scan;
pub mod sshd;
mod volume;

pub use volume::DevNames;
pub mod xfs;

use crate::inspect::Inspection;
use crate::report::{Category, Confidence, Finding, Severity, Verdict};

/// A rule in the registry.
#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub category: Category,
    /// One line: what the rule finds.
    pub summary: &'static str,
    /// What it checks, why that breaks SSH, how to fix it.
    pub doc: &'static str,
}

impl Rule {
    /// A finding of this rule with its default severity, `certain` confidence.
    pub fn finding(&'static self, title: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding {
            id: self.id,
            severity: self.severity,
            category: self.category,
            title: title.into(),
            path: None,
            line: None,
            user: None,
            detail: detail.into(),
            confidence: Confidence::Certain,
            fix: None,
        }
    }
}

/// Every rule, in id order.
pub fn rules() -> Vec<&'static Rule> {
    let mut all: Vec<&'static Rule> = volume::RULES
        .iter()
        .chain(files::RULES.iter())
        .chain(disk::RULES.iter())
        .chain(damage::RULES.iter())
        .chain(scan::RULES.iter())
        .chain(boot::RULES.iter())
        .chain(login::RULES.iter())
        .chain(sshd::service::RULES.iter())
        .chain(sshd::hostkeys::RULES.iter())
        .chain(sshd::config::RULES.iter())
        .chain(sshd::crypto::RULES.iter())
        .chain(network::RULES.iter())
        .chain(packages::RULES.iter())
        .chain(xfs::RULES.iter())
        .chain(logs::RULES.iter())
        .copied()
        .collect();
    all.sort_by_key(|r| r.id);
    all
}

/// Looks a rule up by id, case-insensitively.
pub fn lookup(id: &str) -> Option<&'static Rule> {
    rules().into_iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// Which packages' files `check` verifies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PackageScope {
    /// The packages that own sshd, its libraries, its PAM modules and the login shells.
    #[default]
    Sshd,
    /// Every installed package.
    All,
    None,
}

/// Opens another view of the same guest filesystem (one per hashing thread).
pub type Reopen = std::sync::Arc<dyn Fn() -> Option<crate::fs::RootFs> + Send + Sync>;

/// Settings that shape findings, not what is found.
#[derive(Clone, Default)]
pub struct Settings {
    /// Where the operator mounts the volume; fix commands are written for it.
    pub mount_point: String,
    pub packages: PackageScope,
    /// How to open more views for parallel hashing; None: hash on this thread.
    pub reopen: Option<Reopen>,
    /// Show a progress line on stderr while hashing.
    pub progress: bool,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("mount_point", &self.mount_point)
            .field("packages", &self.packages)
            .field("parallel", &self.reopen.is_some())
            .field("progress", &self.progress)
            .finish()
    }
}

impl Settings {
    /// A guest path as seen under the mount point: `/mnt/rescue/etc/passwd`.
    pub fn host_path(&self, guest: &str) -> String {
        let mp = self.mount_point.trim_end_matches('/');
        if guest == "/" {
            if mp.is_empty() { "/".into() } else { mp.into() }
        } else {
            format!("{mp}{guest}")
        }
    }
}

/// The root's device name, for fix commands.
pub fn volume_root_device(insp: &Inspection) -> volume::DevNames {
    volume::root_device(insp)
}

/// Runs every audit on an inspection.
pub fn run(insp: &Inspection, settings: &Settings) -> (Vec<Finding>, Verdict) {
    let mut findings = Vec::new();
    volume::audit(insp, settings, &mut findings);
    disk::audit(insp, settings, &mut findings);
    xfs::audit(insp, settings, &mut findings);
    boot::audit(insp, settings, &mut findings);
    let mut outcome = sshd::Outcome::default();
    if let Some(root) = &insp.root {
        files::audit(root, settings, &mut findings);
        outcome = sshd::audit(root, settings, &mut findings);
        network::audit(
            &root.fs,
            &outcome.ports,
            outcome.libwrap,
            settings,
            &mut findings,
        );
        network::interfaces(&root.fs, settings, &mut findings);
        let family = root
            .os
            .as_ref()
            .map(|o| o.family())
            .unwrap_or(crate::guest::os_release::Family::Other);
        packages::audit(
            &root.fs,
            family,
            outcome.packages.take(),
            &outcome.sshd_packages,
            settings,
            &mut findings,
        );
        logs::audit(
            &root.fs,
            settings,
            &volume::root_device(insp),
            &mut findings,
        );
        // Last: what the reads above found damaged.
        damage::audit(&root.fs, &volume::root_device(insp), &mut findings);
    }
    let mut verdict = verdict(&findings);
    if verdict.sshd_starts.is_none() && outcome.start_evaluated {
        verdict.sshd_starts = Some(true);
    }
    verdict.logins = outcome.logins;
    verdict.sshd_listen = outcome.listen;
    (findings, verdict)
}

/// sshd cannot start when a critical finding of these categories stands, or when its
/// configuration file is missing. With no such finding, the audits of this build cannot tell.
fn verdict(findings: &[Finding]) -> Verdict {
    let stops = findings.iter().any(|f| {
        // A finding about one user's login (AUTH-001 is an sshd-config finding too) does not
        // stop the daemon.
        f.user.is_none()
            && f.severity == Severity::Critical
            && (matches!(
                f.category,
                Category::SshdConfig
                    | Category::SshdService
                    | Category::HostKeys
                    | Category::Libraries
            ) || files::stops_sshd(f))
    });
    Verdict {
        sshd_starts: if stops { Some(false) } else { None },
        ..Verdict::default()
    }
}

/// True if any finding was raised by rules that mean the target could not be inspected.
pub fn uninspectable(findings: &[Finding]) -> Option<&Finding> {
    findings
        .iter()
        .find(|f| volume::UNINSPECTABLE.contains(&f.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_ids_are_unique_and_documented() {
        let all = rules();
        for w in all.windows(2) {
            assert_ne!(w[0].id, w[1].id);
        }
        for r in &all {
            assert!(r.doc.len() > 80, "{} needs a real doc", r.id);
            assert!(r.doc.contains("Fix"), "{} doc must say how to fix", r.id);
        }
        assert!(lookup("file-001").is_some());
    }
}
