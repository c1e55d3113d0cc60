//! Findings and the report, and their renderers. Renderers never compute: everything they print
//! is in `Report`.

pub mod json;
pub mod junit;
pub mod partitions;
pub mod sarif;
pub mod text;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    SshdConfig,
    SshdService,
    HostKeys,
    AuthorizedKeys,
    Permissions,
    Accounts,
    Pam,
    CryptoCompat,
    Packages,
    Libraries,
    Filesystem,
    PartitionTable,
    Boot,
    Network,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::SshdConfig => "sshd-config",
            Category::SshdService => "sshd-service",
            Category::HostKeys => "host-keys",
            Category::AuthorizedKeys => "authorized-keys",
            Category::Permissions => "permissions",
            Category::Accounts => "accounts",
            Category::Pam => "pam",
            Category::CryptoCompat => "crypto-compat",
            Category::Packages => "packages",
            Category::Libraries => "libraries",
            Category::Filesystem => "filesystem",
            Category::PartitionTable => "partition-table",
            Category::Boot => "boot",
            Category::Network => "network",
        }
    }
}

/// How sure a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Read directly from the volume; the consequence follows from how the software works.
    Certain,
    /// Strong evidence, but something off the volume (a kernel, a network) could change it.
    Likely,
    /// A hint worth checking.
    Possible,
}

/// One finding: what, where, why, how sure, and the fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub category: Category,
    /// What is wrong, in one line.
    pub title: String,
    /// Path inside the guest, if the finding is about one.
    pub path: Option<String>,
    /// 1-based line in `path`.
    pub line: Option<usize>,
    pub user: Option<String>,
    /// Why: the evidence read from the volume and what it breaks.
    pub detail: String,
    pub confidence: Confidence,
    /// A command for a person who mounted the volume at the mount point.
    pub fix: Option<String>,
}

impl Finding {
    pub fn at(mut self, path: impl Into<String>) -> Finding {
        self.path = Some(path.into());
        self
    }
    pub fn line(mut self, line: usize) -> Finding {
        self.line = Some(line);
        self
    }
    pub fn user(mut self, user: impl Into<String>) -> Finding {
        self.user = Some(user.into());
        self
    }
    pub fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
    pub fn confidence(mut self, c: Confidence) -> Finding {
        self.confidence = c;
        self
    }
    pub fn severity(mut self, s: Severity) -> Finding {
        self.severity = s;
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionInfo {
    pub index: u32,
    pub scheme: &'static str,
    pub start: u64,
    pub size: u64,
    #[serde(rename = "type")]
    pub type_name: String,
    pub type_id: String,
    pub label: Option<String>,
    pub uuid: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FilesystemInfo {
    #[serde(rename = "type")]
    pub fs_type: String,
    pub uuid: Option<String>,
    pub label: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OsInfo {
    pub id: Option<String>,
    pub version_id: Option<String>,
    pub pretty_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    pub path: String,
    /// The container format of an image or device target (`null` for a directory).
    pub image: Option<crate::volume::ImageInfo>,
    pub partition: Option<PartitionInfo>,
    pub filesystem: Option<FilesystemInfo>,
    pub os: Option<OsInfo>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginState {
    Allowed,
    Blocked,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoginVerdict {
    pub user: String,
    pub key_login: LoginState,
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `false` when a finding shows sshd will not start; `null` when the audits that ran cannot
    /// tell.
    pub sshd_starts: Option<bool>,
    pub logins: Vec<LoginVerdict>,
    /// Where sshd listens after boot (`0.0.0.0:22`, `[::]:22`, or a socket unit's
    /// `ListenStream=` values); empty when sshd is not installed.
    pub sshd_listen: Vec<String>,
}

pub const SCHEMA: &str = "rescue-inspect/report/v1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub tool: Tool,
    pub target: Target,
    pub findings: Vec<Finding>,
    pub summary: Summary,
    pub verdict: Verdict,
}

impl Report {
    /// Builds a report: findings in a stable order (most severe first, then id, path, line), the
    /// summary counted from them.
    pub fn new(target: Target, mut findings: Vec<Finding>, verdict: Verdict) -> Report {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.id.cmp(b.id))
                .then_with(|| a.path.cmp(&b.path))
                .then_with(|| a.line.cmp(&b.line))
                .then_with(|| a.user.cmp(&b.user))
                .then_with(|| a.title.cmp(&b.title))
        });
        let mut summary = Summary::default();
        for f in &findings {
            match f.severity {
                Severity::Critical => summary.critical += 1,
                Severity::Warning => summary.warning += 1,
                Severity::Info => summary.info += 1,
            }
        }
        Report {
            schema: SCHEMA,
            tool: Tool {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            target,
            findings,
            summary,
            verdict,
        }
    }

    /// The most severe finding, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// A rule's registry entry, for renderers that list rules (SARIF, JUnit).
#[derive(Clone, Copy, Debug)]
pub struct RuleDoc {
    pub id: &'static str,
    pub severity: Severity,
    pub category: Category,
    pub summary: &'static str,
    pub doc: &'static str,
}
