//! The command line: arguments in, exit code out. Everything else lives in the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::audit::{self, Settings};
use crate::inspect::{self, Inspection};
use crate::report::{self, Report, Severity, text::Style};

/// Exit code: nothing at or above --fail-on.
pub const EXIT_OK: u8 = 0;
/// Exit code: findings at or above --fail-on.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: the target could not be inspected.
pub const EXIT_ERROR: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "rescue-inspect",
    version,
    about = "Read a Linux server's root volume offline (read-only, no mount) and say what stops SSH, where, and how to fix it",
    after_help = "TARGET is a disk image, a block device (/dev/xvdf, /dev/nvme1n1, a loop device), a bare filesystem image, or a directory where a volume is mounted.\n\nExit codes: 0 nothing at or above --fail-on; 1 findings at or above it; 2 the target could not be inspected."
)]
pub struct Cli {
    /// When to colour text output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// Open the backing, extent or parent files a disk image names (qcow2 backing file, VMDK
    /// extents, differencing VHD parent), only inside the image's own directory. Refused by
    /// default: an image can name any file on this host.
    #[arg(long, global = true)]
    pub allow_backing: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Report formats of `check`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    /// SARIF 2.1.0 (code-scanning views).
    Sarif,
    /// JUnit XML (test-report views).
    Junit,
}

impl ReportFormat {
    fn from_name(s: &str) -> Option<ReportFormat> {
        match s {
            "text" | "txt" => Some(ReportFormat::Text),
            "json" => Some(ReportFormat::Json),
            "sarif" => Some(ReportFormat::Sarif),
            "junit" | "xml" => Some(ReportFormat::Junit),
            _ => None,
        }
    }
}

/// `--output [FORMAT=]FILE`: the format named, or guessed from the file name.
#[derive(Clone, Debug)]
pub struct OutputSpec {
    pub format: ReportFormat,
    pub path: PathBuf,
}

fn parse_output(s: &str) -> Result<OutputSpec, String> {
    if let Some((f, p)) = s.split_once('=') {
        if let Some(format) = ReportFormat::from_name(f) {
            return Ok(OutputSpec {
                format,
                path: PathBuf::from(p),
            });
        }
    }
    let lower = s.to_ascii_lowercase();
    let format = if lower.ends_with(".sarif") || lower.ends_with(".sarif.json") {
        ReportFormat::Sarif
    } else if lower.ends_with(".xml") {
        ReportFormat::Junit
    } else if lower.ends_with(".json") {
        ReportFormat::Json
    } else if lower.ends_with(".txt") {
        ReportFormat::Text
    } else {
        return Err(format!(
            "cannot tell the format of {s}: write FORMAT=FILE (text, json, sarif, junit) or use .txt/.json/.sarif/.xml"
        ));
    };
    Ok(OutputSpec {
        format,
        path: PathBuf::from(s),
    })
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Packages {
    Sshd,
    All,
    None,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogSource {
    Auto,
    Journal,
    Text,
    All,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Critical,
    Warning,
    Info,
    Never,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Critical => Some(Severity::Critical),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Info => Some(Severity::Info),
            FailOn::Never => None,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List partitions with their filesystem, label, UUID and the OS found on them.
    Partitions {
        target: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Inspect the root filesystem and report what stops SSH.
    Check {
        target: PathBuf,
        /// Inspect partition N instead of the automatically chosen root.
        #[arg(long, value_name = "N")]
        partition: Option<u32>,
        /// The report printed on standard output.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Also write a report to a file, as FORMAT=FILE (text, json, sarif, junit) or FILE with
        /// a .txt/.json/.sarif/.xml name; repeatable, so one inspection gives every artefact.
        #[arg(long, short = 'o', value_name = "[FORMAT=]FILE", value_parser = parse_output)]
        output: Vec<OutputSpec>,
        /// Print nothing on standard output: only the exit code (and errors on stderr).
        #[arg(long, short = 'q')]
        quiet: bool,
        /// Which packages' files to verify: those SSH depends on (default), all, or none.
        #[arg(long, value_enum, default_value_t = Packages::Sshd)]
        packages: Packages,
        /// Exit 1 when a finding is at or above this severity.
        #[arg(long, value_enum, default_value_t = FailOn::Critical)]
        fail_on: FailOn,
        /// Where the operator mounts the volume: fix commands are written for it.
        #[arg(long, value_name = "DIR", default_value = "/mnt/rescue")]
        mount_point: String,
        /// Also run the read-only metadata scan (as `fsck` does) and report its problems.
        #[arg(long)]
        deep: bool,
    },
    /// Read-only metadata scan of the ext2/3/4 or XFS root: every inode, directory block, bitmap
    /// and count checked, with checksums; each problem with inode, path and what is wrong.
    Fsck {
        target: PathBuf,
        #[arg(long, value_name = "N")]
        partition: Option<u32>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List a guest directory (or glob, e.g. '/home/*/.ssh') like `ls -la`.
    Ls {
        target: PathBuf,
        path: String,
        #[arg(long, value_name = "N")]
        partition: Option<u32>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print a guest file.
    Cat {
        target: PathBuf,
        path: String,
        #[arg(long, value_name = "N")]
        partition: Option<u32>,
    },
    /// Show a guest path's metadata.
    Stat {
        target: PathBuf,
        path: String,
        #[arg(long, value_name = "N")]
        partition: Option<u32>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Walk one user's login path step by step; with --key, say whether that key is accepted.
    Login {
        target: PathBuf,
        #[arg(long)]
        user: String,
        /// A public key, an authorized_keys line, or an unencrypted private key (OpenSSH or PEM).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        #[arg(long, value_name = "N")]
        partition: Option<u32>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[arg(long, value_name = "DIR", default_value = "/mnt/rescue")]
        mount_point: String,
    },
    /// Host keys sshd would load: type, size, SHA256 fingerprint (compare with known_hosts), and
    /// whether sshd can use each.
    Hostkeys {
        target: PathBuf,
        #[arg(long, value_name = "N")]
        partition: Option<u32>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Verify installed packages' files against the package database (dpkg or rpm; every
    /// package, or the ones named) and list every deviation, flagged like `rpm -V`
    /// (S size, M mode/type, 5 digest, D device, L link, U user, G group, T mtime; c: a
    /// configuration file). Exit 1 when a file deviates.
    Verify {
        target: PathBuf,
        /// Package names (default: every installed package).
        packages: Vec<String>,
        #[arg(long, value_name = "N")]
        partition: Option<u32>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Leave out configuration files (dpkg conffiles, rpm %config), which are often
        /// changed on purpose.
        #[arg(long)]
        no_config: bool,
        /// Threads that read and hash files (default: one per core).
        #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
        jobs: Option<u16>,
    },
    /// The effective sshd configuration for a connection, printed like `sshd -T -C …`, as the
    /// guest's own sshd release reads it; configuration errors go to stderr with file and line.
    SshdConfig {
        target: PathBuf,
        #[arg(long, value_name = "N")]
        partition: Option<u32>,
        /// The connecting user (Match User/Group).
        #[arg(long)]
        user: Option<String>,
        /// The client's host name (Match Host).
        #[arg(long)]
        host: Option<String>,
        /// The client's address (Match Address).
        #[arg(long)]
        addr: Option<String>,
        /// The server address connected to (Match LocalAddress).
        #[arg(long)]
        laddr: Option<String>,
        /// The server port connected to (Match LocalPort).
        #[arg(long)]
        lport: Option<u16>,
        /// The routing domain (Match RDomain).
        #[arg(long)]
        rdomain: Option<String>,
        /// The user does not exist (Match Invalid-User, OpenSSH 9.9+).
        #[arg(long)]
        invalid_user: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The guest's logs read offline: journal files and text logs (syslog, auth.log, kern.log,
    /// cloud-init...) merged in time order with boot boundaries. Times are UTC.
    Logs {
        target: PathBuf,
        #[arg(long, value_name = "N")]
        partition: Option<u32>,
        /// Only one boot: 0 (or nothing) the last, -1 the one before…, 1 the first…, or a boot ID.
        #[arg(long, short = 'b', value_name = "BOOT", num_args = 0..=1, default_missing_value = "0", allow_hyphen_values = true)]
        boot: Option<String>,
        /// Only this unit's messages (ssh = ssh.service); repeatable.
        #[arg(long, short = 'u', value_name = "UNIT")]
        unit: Vec<String>,
        /// Only messages matching this regular expression (case-insensitive when all lower-case).
        #[arg(long, short = 'g', value_name = "RE")]
        grep: Option<String>,
        /// From this time: YYYY-MM-DD, 'YYYY-MM-DD HH:MM[:SS]' (UTC), RFC 3339, @SECONDS.
        #[arg(long, short = 'S', value_name = "TIME")]
        since: Option<String>,
        /// Up to this time.
        #[arg(long, short = 'U', value_name = "TIME")]
        until: Option<String>,
        /// Which logs: auto (the journal, plus text lines it does not hold), journal, text, all.
        #[arg(long, value_enum, default_value_t = LogSource::Auto)]
        source: LogSource,
        /// List the boots the logs show instead of entries.
        #[arg(long)]
        list_boots: bool,
        /// text, or json (one JSON object per line).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print a rule's documentation.
    Explain {
        /// Rule id, e.g. FILE-001.
        rule: String,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff) to standard output.
    Man,
    /// List every rule.
    Rules,
}

/// An error for the user: one line on stderr, exit 2.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Inspect(#[from] inspect::InspectError),
    #[error(transparent)]
    Fs(#[from] crate::fs::FsError),
    #[error("{0}")]
    Message(String),
}

/// Writes to stdout; a closed pipe (`| head`) ends output quietly.
fn emit(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes()).and_then(|_| out.flush());
}

fn style(choice: ColorChoice) -> Style {
    let color = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    };
    Style { color }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("rescue-inspect: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Opens the same target's root filesystem again (one view per hashing thread).
fn reopen(
    target: &std::path::Path,
    partition: Option<u32>,
    images: &crate::volume::ImageOptions,
) -> audit::Reopen {
    let target = target.to_path_buf();
    // The same image options as the first open: a worker must see the same disk.
    let images = images.clone();
    std::sync::Arc::new(move || {
        inspect::inspect_with(&target, partition, &images)
            .ok()
            .and_then(|i| i.root)
            .map(|r| r.fs)
    })
}

/// The root of an inspection, or an error saying why there is none.
fn root_of(insp: &Inspection) -> Result<&inspect::Root, CliError> {
    insp.root.as_ref().ok_or_else(|| {
        let (findings, _) = audit::run(
            insp,
            &Settings {
                mount_point: "/mnt/rescue".into(),
                packages: audit::PackageScope::None,
                ..Settings::default()
            },
        );
        let why = audit::uninspectable(&findings)
            .map(|f| f.title.clone())
            .unwrap_or_else(|| "no root filesystem found".into());
        CliError::Message(format!(
            "{}: {why} (run `rescue-inspect check` for details)",
            insp.target.display()
        ))
    })
}

fn run(cli: Cli) -> Result<u8, CliError> {
    let style = style(cli.color);
    let images = crate::volume::ImageOptions {
        allow_backing: cli.allow_backing,
    };
    match cli.command {
        Command::Partitions { target, format } => {
            let insp = inspect::inspect_with(&target, None, &images)?;
            let listing = report::partitions::listing(&insp).ok_or_else(|| {
                CliError::Message(format!(
                    "{}: a directory has no partition table",
                    target.display()
                ))
            })?;
            match format {
                Format::Text => emit(&report::partitions::render_text(&listing, style)),
                Format::Json => {
                    emit(&(serde_json::to_string_pretty(&listing).unwrap_or_default() + "\n"))
                }
            }
            Ok(EXIT_OK)
        }
        Command::Check {
            target,
            partition,
            format,
            output,
            quiet,
            packages,
            fail_on,
            mount_point,
            deep,
        } => {
            let insp = inspect::inspect_with(&target, partition, &images)?;
            let settings = Settings {
                mount_point,
                packages: match packages {
                    Packages::Sshd => audit::PackageScope::Sshd,
                    Packages::All => audit::PackageScope::All,
                    Packages::None => audit::PackageScope::None,
                },
                reopen: Some(reopen(&target, insp.root_partition(), &images)),
                progress: !quiet && format == ReportFormat::Text,
            };
            let (mut findings, verdict) = audit::run(&insp, &settings);
            if deep {
                let dev = audit::volume_root_device(&insp);
                if let Some(walked) = audit::xfs::scan(&insp) {
                    match walked {
                        Ok(rep) => findings.extend(audit::xfs::walk_findings(&rep, &dev)),
                        Err(e) => eprintln!("rescue-inspect: metadata scan skipped: {e}"),
                    }
                } else {
                    match audit::scan::run(&insp) {
                        Ok(scan) => findings.extend(audit::scan::findings(&scan, &dev)),
                        Err(e) => eprintln!("rescue-inspect: metadata scan skipped: {e}"),
                    }
                }
            }
            let report = Report::new(insp.report_target(), findings, verdict);
            let docs: Vec<report::RuleDoc> = audit::rules()
                .into_iter()
                .map(|r| report::RuleDoc {
                    id: r.id,
                    severity: r.severity,
                    category: r.category,
                    summary: r.summary,
                    doc: r.doc,
                })
                .collect();
            let render = |f: ReportFormat, style: Style| -> String {
                match f {
                    ReportFormat::Text => report::text::render(&report, style),
                    ReportFormat::Json => report::json::render(&report),
                    ReportFormat::Sarif => report::sarif::render(&report, &docs),
                    ReportFormat::Junit => {
                        report::junit::render(&report, &docs, fail_on.threshold())
                    }
                }
            };
            for o in &output {
                std::fs::write(&o.path, render(o.format, Style { color: false })).map_err(|e| {
                    CliError::Message(format!("{}: cannot write: {e}", o.path.display()))
                })?;
            }
            if !quiet {
                emit(&render(format, style));
            }
            if let Some(f) = audit::uninspectable(&report.findings) {
                eprintln!(
                    "rescue-inspect: {}: cannot inspect: {}",
                    target.display(),
                    f.title
                );
                return Ok(EXIT_ERROR);
            }
            let failed = fail_on
                .threshold()
                .is_some_and(|t| report.worst().is_some_and(|w| w >= t));
            Ok(if failed { EXIT_FINDINGS } else { EXIT_OK })
        }
        Command::Fsck {
            target,
            partition,
            format,
        } => {
            let insp = inspect::inspect_with(&target, partition, &images)?;
            if let Some(walked) = audit::xfs::scan(&insp) {
                let rep = walked.map_err(CliError::Message)?;
                match format {
                    Format::Text => emit(&audit::xfs::render_walk_text(&rep)),
                    Format::Json => {
                        emit(&(serde_json::to_string_pretty(&rep).unwrap_or_default() + "\n"))
                    }
                }
                return Ok(if rep.problems.is_empty() {
                    EXIT_OK
                } else {
                    EXIT_FINDINGS
                });
            }
            let scan = audit::scan::run(&insp).map_err(CliError::Message)?;
            match format {
                Format::Text => emit(&audit::scan::render_text(&scan)),
                Format::Json => {
                    emit(&(serde_json::to_string_pretty(&scan).unwrap_or_default() + "\n"))
                }
            }
            Ok(if scan.is_clean() {
                EXIT_OK
            } else {
                EXIT_FINDINGS
            })
        }
        Command::Ls {
            target,
            path,
            partition,
            format,
        } => {
            let insp = inspect::inspect_with(&target, partition, &images)?;
            let root = root_of(&insp)?;
            let listed = crate::browse::ls(&root.fs, &path)?;
            match format {
                Format::Text => emit(&crate::browse::render_ls(
                    &listed,
                    crate::fs::glob::has_magic(&path),
                )),
                Format::Json => {
                    emit(&(serde_json::to_string_pretty(&listed).unwrap_or_default() + "\n"))
                }
            }
            Ok(EXIT_OK)
        }
        Command::Cat {
            target,
            path,
            partition,
        } => {
            let insp = inspect::inspect_with(&target, partition, &images)?;
            let root = root_of(&insp)?;
            let mut reader = root.fs.open(&path)?;
            let mut out = std::io::stdout().lock();
            match std::io::copy(&mut reader, &mut out) {
                Ok(_) => Ok(EXIT_OK),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(EXIT_OK),
                Err(e) => Err(CliError::Message(format!("{path}: {e}"))),
            }
        }
        Command::Stat {
            target,
            path,
            partition,
            format,
        } => {
            let insp = inspect::inspect_with(&target, partition, &images)?;
            let root = root_of(&insp)?;
            let st = crate::browse::stat(&root.fs, &path)?;
            match format {
                Format::Text => emit(&crate::browse::render_stat(&st)),
                Format::Json => {
                    emit(&(serde_json::to_string_pretty(&st).unwrap_or_default() + "\n"))
                }
            }
            Ok(EXIT_OK)
        }
        Command::Login {
            target,
            user,
            key,
            partition,
            format,
            mount_point,
        } => {
            let insp = inspect::inspect_with(&target, partition, &images)?;
            let root = root_of(&insp)?;
            let key = match &key {
                Some(k) => Some(crate::browse::read_key_file(k).map_err(CliError::Message)?),
                None => None,
            };
            let settings = Settings {
                mount_point,
                ..Settings::default()
            };
            let facts = audit::sshd::SshdFacts::gather(root);
            let cfg = audit::sshd::login_config(&facts, &user);
            let acc = audit::login::Accounts::read(&root.fs);
            let r = audit::login::evaluate(
                &root.fs,
                &acc,
                &cfg,
                facts.family,
                facts.version,
                &user,
                &settings,
            );
            let matched = key.as_ref().map(|k| {
                r.usable_keys
                    .iter()
                    .find(|(_, _, u)| u.blob == k.blob)
                    .map(|(p, l, _)| format!("{}:{l}", p.display()))
            });
            let out = crate::browse::LoginOutput {
                user: user.clone(),
                key_login: r.state,
                steps: r.steps.clone(),
                findings: r.findings.clone(),
                key: key.as_ref().map(|k| crate::browse::KeyCheck {
                    fingerprint: k.fingerprint(),
                    key_type: k.key_type.label().to_string(),
                    authorized_at: matched.clone().flatten(),
                }),
            };
            match format {
                Format::Json => {
                    emit(&(serde_json::to_string_pretty(&out).unwrap_or_default() + "\n"))
                }
                Format::Text => emit(&crate::browse::render_login(&out, style)),
            }
            let blocked = r.state == report::LoginState::Blocked || matches!(matched, Some(None));
            Ok(if blocked { EXIT_FINDINGS } else { EXIT_OK })
        }
        Command::Hostkeys {
            target,
            partition,
            format,
        } => {
            let insp = inspect::inspect_with(&target, partition, &images)?;
            let root = root_of(&insp)?;
            let facts = audit::sshd::SshdFacts::gather(root);
            let global = facts.config_source().global();
            let keys = audit::sshd::host_key_paths(&global);
            let statuses = audit::sshd::hostkeys::evaluate(&facts, &keys);
            match format {
                Format::Json => {
                    emit(&(serde_json::to_string_pretty(&statuses).unwrap_or_default() + "\n"))
                }
                Format::Text => {
                    let mut s = String::new();
                    for k in &statuses {
                        let what = k
                            .keygen_line
                            .clone()
                            .or_else(|| k.key_type.clone())
                            .unwrap_or_else(|| "-".into());
                        s.push_str(&format!("{}\n  {what}\n", k.path));
                        if let Some(m) = &k.mode {
                            let (u, g) = k.owner.unwrap_or_default();
                            s.push_str(&format!("  {m} uid {u} gid {g}\n"));
                        }
                        match &k.problem {
                            None => s.push_str("  sshd loads it\n"),
                            Some(p) => s.push_str(&format!(
                                "  {} {p}\n",
                                style.severity(Severity::Warning, "skipped:")
                            )),
                        }
                    }
                    emit(&s);
                }
            }
            Ok(EXIT_OK)
        }
        Command::Verify {
            target,
            packages,
            partition,
            format,
            no_config,
            jobs,
        } => {
            let insp = inspect::inspect_with(&target, partition, &images)?;
            let root = root_of(&insp)?;
            let db = match crate::packages::db::PackageDb::open(&root.fs) {
                Ok(Some(db)) => db,
                Ok(None) => {
                    return Err(CliError::Message(format!(
                        "{}: no package database in the guest (neither /var/lib/dpkg/status nor an rpm database)",
                        target.display()
                    )));
                }
                Err(e) => return Err(CliError::Message(format!("{}: {e}", target.display()))),
            };
            let unknown: Vec<&String> = packages
                .iter()
                .filter(|p| db.package(p).is_none())
                .collect();
            if !unknown.is_empty() {
                return Err(CliError::Message(format!(
                    "{}: not installed in the guest: {}",
                    target.display(),
                    unknown
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let only: Option<std::collections::HashSet<String>> =
                (!packages.is_empty()).then(|| packages.iter().cloned().collect());
            let open = reopen(&target, insp.root_partition(), &images);
            let mut v = crate::packages::verify_packages(
                &root.fs,
                &db,
                only.as_ref(),
                Some(open.as_ref()),
                jobs.map(usize::from),
                format == Format::Text,
            );
            if no_config {
                v.deviations.retain(|d| !d.config);
            }
            match format {
                Format::Json => {
                    let devs: Vec<serde_json::Value> = v
                        .deviations
                        .iter()
                        .map(|d| {
                            let mut j = serde_json::to_value(d).unwrap_or_default();
                            j["flags"] = d.rpm_flags().into();
                            j["summary"] = d.describe().into();
                            j
                        })
                        .collect();
                    emit(
                        &(serde_json::to_string_pretty(&serde_json::json!({
                            "schema": "rescue-inspect/verify/v1",
                            "tool": {"name": "rescue-inspect", "version": env!("CARGO_PKG_VERSION")},
                            "target": insp.report_target(),
                            "database": {"kind": db.kind, "path": db.path},
                            "totals": v.totals,
                            "damaged": v.damaged,
                            "deviations": devs,
                        }))
                        .unwrap_or_default()
                            + "\n"),
                    )
                }
                Format::Text => {
                    let mut s = String::new();
                    for d in &v.deviations {
                        s.push_str(&format!(
                            "{:<9}  {} {}  ({})\n",
                            d.rpm_flags(),
                            if d.config { 'c' } else { ' ' },
                            d.path,
                            d.package
                        ));
                    }
                    for d in &v.damaged {
                        s.push_str(&format!("damaged record: {d}\n"));
                    }
                    let t = &v.totals;
                    s.push_str(&format!(
                        "{} packages, {} files ({} MiB read) verified against {}: {} deviation{}; {} not on disk on purpose (path-exclude, not installed), {} taken over by other packages\n",
                        t.packages,
                        t.files,
                        t.bytes / 1_048_576,
                        db.path,
                        v.deviations.len(),
                        if v.deviations.len() == 1 { "" } else { "s" },
                        t.excluded,
                        t.replaced,
                    ));
                    emit(&s);
                }
            }
            Ok(if v.deviations.is_empty() && v.damaged.is_empty() {
                EXIT_OK
            } else {
                EXIT_FINDINGS
            })
        }
        Command::SshdConfig {
            target,
            partition,
            user,
            host,
            addr,
            laddr,
            lport,
            rdomain,
            invalid_user,
            format,
        } => {
            let insp = inspect::inspect_with(&target, partition, &images)?;
            let root = root_of(&insp)?;
            let facts = audit::sshd::SshdFacts::gather(root);
            let build = facts.build();
            let mut src = facts.config_source();
            let global = src.global();
            let conn = crate::sshd::config::Conn {
                user,
                host,
                addr,
                laddr,
                lport,
                rdomain,
                invalid_user,
            };
            let eff = src.for_connection(&global, &conn);
            let out = crate::browse::SshdConfigOutput::new(&build, &src.files(), &eff);
            match format {
                Format::Json => {
                    emit(&(serde_json::to_string_pretty(&out).unwrap_or_default() + "\n"))
                }
                Format::Text => {
                    let mut err = std::io::stderr().lock();
                    for p in &out.problems {
                        let _ = writeln!(err, "{}", p.message);
                    }
                    if eff.fatal {
                        let _ = writeln!(
                            err,
                            "sshd ({}) would exit here: it does not start with this configuration",
                            build.describe()
                        );
                    } else {
                        emit(&crate::sshd::config::dump::dump(&eff.options, &build));
                    }
                }
            }
            Ok(if eff.fatal { EXIT_FINDINGS } else { EXIT_OK })
        }
        Command::Logs {
            target,
            partition,
            boot,
            unit,
            grep,
            since,
            until,
            source,
            list_boots,
            format,
        } => {
            use crate::logs::collect::SourceSel;
            let insp = inspect::inspect(&target, partition)?;
            let root = root_of(&insp)?;
            let source = match source {
                LogSource::Auto => SourceSel::Auto,
                LogSource::Journal => SourceSel::Journal,
                LogSource::Text => SourceSel::Text,
                LogSource::All => SourceSel::All,
            };
            if list_boots {
                emit(&crate::logs::cmd::list_boots(
                    &root.fs,
                    source,
                    format == Format::Json,
                ));
                return Ok(EXIT_OK);
            }
            let time = |t: Option<String>| {
                t.map(|t| crate::logs::cmd::parse_time(&t))
                    .transpose()
                    .map_err(CliError::Message)
            };
            let q = crate::logs::cmd::Query {
                boot,
                units: unit,
                grep,
                since: time(since)?,
                until: time(until)?,
                source,
                json: format == Format::Json,
            };
            let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
            let mut err = std::io::stderr().lock();
            crate::logs::cmd::run(&root.fs, &q, &mut out, &mut err)
                .map_err(|e| CliError::Message(format!("{}: {e}", target.display())))?;
            let _ = out.flush();
            Ok(EXIT_OK)
        }
        Command::Explain { rule } => {
            let r = audit::lookup(&rule).ok_or_else(|| {
                CliError::Message(format!("no rule {rule} (see `rescue-inspect rules`)"))
            })?;
            emit(&format!(
                "{} ({}, {}): {}\n\n{}\n",
                r.id,
                r.severity.as_str(),
                r.category.as_str(),
                r.summary,
                r.doc
            ));
            Ok(EXIT_OK)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "rescue-inspect", &mut buf);
            emit(&String::from_utf8_lossy(&buf));
            Ok(EXIT_OK)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .map_err(|e| CliError::Message(format!("man page: {e}")))?;
            // The subcommands, each with its options, after the main page.
            for sub in <Cli as clap::CommandFactory>::command().get_subcommands() {
                let name: &'static str =
                    Box::leak(format!("rescue-inspect-{}", sub.get_name()).into_boxed_str());
                let _ = clap_mangen::Man::new(sub.clone().name(name)).render(&mut buf);
            }
            emit(&String::from_utf8_lossy(&buf));
            Ok(EXIT_OK)
        }
        Command::Rules => {
            let mut s = String::new();
            for r in audit::rules() {
                s.push_str(&format!(
                    "{:<13} {:<8} {:<16} {}\n",
                    r.id,
                    r.severity.as_str(),
                    r.category.as_str(),
                    r.summary
                ));
            }
            emit(&s);
            Ok(EXIT_OK)
        }
    }
}
