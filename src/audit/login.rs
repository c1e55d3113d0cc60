//! Will this user log in with a key: the whole path sshd and PAM take, offline — the account,
//! its shell, home, lock and expiry; AllowUsers/DenyUsers/AllowGroups/DenyGroups and
//! PermitRootLogin; PubkeyAuthentication and AuthenticationMethods; every AuthorizedKeysFile
//! with its tokens, StrictModes and each line's content; and the PAM account and session
//! stacks. Each step is recorded, so `login` can print the chain and `check` can give a verdict.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Rule, Settings};
use crate::fs::{FsError, RootFs};
use crate::guest::accounts::{self, GroupEntry, PasswdEntry, ShadowEntry};
use crate::guest::os_release::Family;
use crate::guest::pam;
use crate::report::{Category, Confidence, Finding, LoginState, LoginVerdict, Severity};
use crate::sshd::authorized_keys::{self, LineIssue};
use crate::sshd::config::{Build, Parsed, Source};
use crate::sshd::hostkey::PublicKey;
use crate::sshd::strict_modes;

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
    ACC_001,
    "ACC-001",
    Critical,
    Accounts,
    "the user does not exist",
    "Looks the user up in the guest's /etc/passwd. Users from LDAP or SSSD (nsswitch.conf) cannot be \
checked offline and are reported as unknown, not missing.\n\nWhy it matters: sshd refuses an \
unknown user (\"Invalid user\").\n\nFix: create the user (`chroot /mnt/rescue useradd -m USER`) or \
log in as an existing one."
);
rule!(
    ACC_002,
    "ACC-002",
    Critical,
    Accounts,
    "the user's login shell is missing, not executable, or refuses logins",
    "sshd (auth.c: allowed_user) requires the shell (empty means /bin/sh) to exist as an executable \
regular file, unless ChrootDirectory applies; nologin and false accept the connection and end it \
at once (\"This account is currently not available\").\n\nWhy it matters: key authentication \
succeeds and the session closes immediately, or sshd refuses the user.\n\nFix: install the shell or \
set an existing one: `chroot /mnt/rescue usermod -s /bin/bash USER`."
);
rule!(
    ACC_003,
    "ACC-003",
    Critical,
    Accounts,
    "the user's home directory is missing",
    "Checks the home directory from /etc/passwd exists inside the guest (through symlinks such as \
/home -> /srv/home).\n\nWhy it matters: authorized_keys lives there by default; without it no key \
is found (sshd then starts the session in /, when a password is used).\n\nFix: restore the home \
directory, or recreate it: `mkdir -p /mnt/rescue/home/USER && chown UID:GID …`."
);
rule!(
    ACC_004,
    "ACC-004",
    Critical,
    Accounts,
    "the account is expired, or locked where sshd checks locks",
    "Reads /etc/shadow: an account whose expiry date (field 8) has passed, or whose password expired \
longer ago than its inactivity period, is refused by PAM's account stack (pam_unix) with UsePAM \
yes, and by sshd itself with UsePAM no. With UsePAM no only, a password starting with `!` (passwd \
-l) also refuses key logins; with UsePAM yes (Debian, Ubuntu, RHEL defaults) it does not — cloud \
images rely on that.\n\nFix: `chroot /mnt/rescue chage -E -1 USER` (remove the expiry), `chage -d \
$(date +%Y-%m-%d) USER`, or `usermod -U USER`."
);
rule!(
    ACC_005,
    "ACC-005",
    Warning,
    Accounts,
    "passwd, shadow or group has malformed or duplicate entries",
    "Parses /etc/passwd, /etc/shadow and /etc/group: lines with the wrong number of fields or \
non-numeric ids, duplicate user names or uids.\n\nWhy it matters: malformed lines are skipped by \
the C library, so the user on them does not exist; a duplicate name resolves to the first entry; \
a duplicate uid 0 is a backdoor.\n\nFix: edit the file with `vipw`/`vigr` semantics (`chroot \
/mnt/rescue pwck; grpck`)."
);
rule!(
    AUTH_001,
    "AUTH-001",
    Critical,
    SshdConfig,
    "sshd's configuration does not allow this user to log in with a key",
    "Evaluates, as sshd does for this user: DenyUsers, AllowUsers, DenyGroups, AllowGroups (in that \
order, patterns with optional @host), PermitRootLogin for root, PubkeyAuthentication and \
AuthenticationMethods, with Match blocks for the user applied. NOTE: this build has no \
sshd_config model yet; it assumes OpenSSH's defaults and, when the guest's configuration sets any \
of these keywords, reports the login as `unknown` and lists the lines instead of this finding.\n\nWhy it matters: sshd refuses the \
login before looking at keys (\"User X from Y not allowed because not listed in AllowUsers\"), or \
never offers publickey.\n\nFix: edit the configuration line named in the finding."
);
rule!(
    AUTH_002,
    "AUTH-002",
    Info,
    SshdConfig,
    "root key login is disabled on purpose",
    "PermitRootLogin no, or a root authorized_keys line whose command= only prints a message (cloud \
images: \"Please login as the user ubuntu\"). Evaluated from sshd_config once its model lands \
(see AUTH-001).\n\nWhy it matters: context; root cannot log in with \
a key, by design.\n\nFix: log in as the image's default user."
);
rule!(
    AK_001,
    "AK-001",
    Critical,
    AuthorizedKeys,
    "no authorized_keys file sshd reads exists for the user",
    "Expands every AuthorizedKeysFile (%h, %u, %U, %%; relative paths are under the home directory) \
and looks for the files.\n\nWhy it matters: with no file there is no key to accept: \"Permission \
denied (publickey)\". A changed AuthorizedKeysFile pointing elsewhere is a classic cause.\n\nFix: \
put the key where sshd looks (the finding names the path), or correct AuthorizedKeysFile."
);
rule!(
    AK_002,
    "AK-002",
    Warning,
    AuthorizedKeys,
    "authorized_keys lines sshd ignores",
    "Parses each line as sshd does and names the lines it skips silently: a byte-order mark, CRLF \
line endings that break the key, a key split over several lines, a private key pasted in, bad \
options, unknown key types or bad base64.\n\nWhy it matters: the key on that line does not work; \
if it was the only one, nobody gets in. (Critical when no usable key remains.)\n\nFix: rewrite the \
line as one `TYPE BASE64 COMMENT` line with Unix line endings (`dos2unix`, `ssh-keygen -y -f \
private_key` prints the right public line)."
);
rule!(
    AK_003,
    "AK-003",
    Warning,
    CryptoCompat,
    "keys the guest's OpenSSH no longer accepts",
    "Checks each key against the guest's OpenSSH: DSA (ssh-dss) is off by default since 7.0 and \
gone in 10.0, RSA keys below RequiredRSASize (1024) are refused, PubkeyAcceptedAlgorithms must \
list the key's algorithm, and an expiry-time option in the past refuses the key. (Critical when no \
usable key remains.)\n\nFix: generate a current key (`ssh-keygen -t ed25519`) and add its public \
line."
);
rule!(
    PERM_001,
    "PERM-001",
    Critical,
    Permissions,
    "StrictModes: sshd refuses the authorized_keys file because of its owner or mode",
    "Checks the authorized_keys file and every directory above it up to the home directory (or up \
to / when outside it): each must be owned by root or the user and not be group- or \
world-writable; the file must be a regular file (misc.c: safe_path). Debian and Ubuntu also allow \
a group-writable item when its group has the owner as its only member.\n\nWhy it matters: sshd \
logs \"Authentication refused: bad ownership or modes\" and ignores every key in the file.\n\nFix: \
the chmod/chown in the finding (on SELinux guests also relabel)."
);
rule!(
    PERM_002,
    "PERM-002",
    Critical,
    Permissions,
    "SELinux: the authorized_keys file does not have the ssh_home_t label",
    "On a guest with SELINUX=enforcing, reads the security.selinux label of each authorized_keys \
file sshd would use (from a mounted directory; ext4 images: not readable by this build, said in \
the login steps).\n\nWhy it matters: the policy lets sshd read only ssh_home_t files there; a \
file copied in from elsewhere (admin_home_t, user_home_t, unlabeled) is denied and every key in \
it is ignored.\n\nFix: `touch /.autorelabel` on the volume (the next boot relabels), or \
`restorecon -Rv ~/.ssh` once logged in another way."
);
rule!(
    PAM_001,
    "PAM-001",
    Critical,
    Pam,
    "a PAM module the sshd stack requires is missing",
    "With UsePAM yes, sshd runs PAM's account and session stacks for every login, key logins \
included. Expands /etc/pam.d/sshd (or `other`) with its includes and checks each module of those \
stacks exists in the guest's security directory; a missing module under `required`/`requisite` \
(or a bracket control whose action for module_unknown is not ignore) fails the stack.\n\nWhy it \
matters: every login is refused after authentication (\"PAM unable to dlopen\").\n\nFix: reinstall \
the package that ships the module, or remove the line."
);
rule!(
    PAM_002,
    "PAM-002",
    Critical,
    Pam,
    "/etc/nologin exists: only root can log in",
    "pam_nologin (in sshd's account stack on most distributions) and sshd itself with UsePAM no \
refuse every user but root while /etc/nologin exists. Shutdown leaves it behind when it is \
interrupted.\n\nFix: `rm /mnt/rescue/etc/nologin`."
);
rule!(
    PAM_003,
    "PAM-003",
    Critical,
    Pam,
    "pam_access denies the user",
    "When sshd's PAM account stack runs pam_access (required or requisite), the rules in \
/etc/security/access.conf (or its accessfile=) are evaluated like pam_access does: the first line \
whose users (names, (groups), ALL, EXCEPT) and origins match decides, `+` allows and `-` denies, \
no match allows. Offline the client's address is not known: a deciding line that names hosts, \
networks or netgroups makes the verdict unknown.\n\nWhy it matters: the key is accepted, then \
\"Access denied for user by PAM account configuration\" ends the login.\n\nFix: edit the line \
the finding names (add the user, or an EXCEPT), or remove pam_access from /etc/pam.d/sshd."
);
rule!(
    LOGIN_001,
    "LOGIN-001",
    Critical,
    Accounts,
    "no user can log in with a key",
    "Combines the per-user verdicts: root and every user with a login shell and an authorized key \
are evaluated.\n\nWhy it matters: with nobody able to log in, the server is unreachable over SSH \
even when sshd runs.\n\nFix: fix the findings that block the intended user."
);

pub static RULES: &[&Rule] = &[
    &ACC_001, &ACC_002, &ACC_003, &ACC_004, &ACC_005, &AUTH_001, &AUTH_002, &AK_001, &AK_002,
    &AK_003, &PERM_001, &PERM_002, &PAM_001, &PAM_002, &PAM_003, &LOGIN_001,
];

/// What sshd's effective configuration says for one user's connection.
/// sshd_config keywords that change whether a key login works.
pub const LOGIN_KEYWORDS: &[&str] = &[
    "allowusers",
    "denyusers",
    "allowgroups",
    "denygroups",
    "permitrootlogin",
    "pubkeyauthentication",
    "authorizedkeysfile",
    "authorizedkeyscommand",
    "authenticationmethods",
    "match",
    "strictmodes",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "requiredrsasize",
    "chrootdirectory",
    "usepam",
    "revokedkeys",
    "include",
];

#[derive(Clone, Debug)]
pub struct LoginConfig {
    pub use_pam: bool,
    pub pubkey_authentication: bool,
    /// yes | no | prohibit-password | without-password | forced-commands-only
    pub permit_root_login: String,
    pub authorized_keys_files: Vec<String>,
    pub authorized_keys_command: Option<String>,
    pub strict_modes: bool,
    pub allow_users: Vec<String>,
    pub deny_users: Vec<String>,
    pub allow_groups: Vec<String>,
    pub deny_groups: Vec<String>,
    /// `None` = `any`.
    pub authentication_methods: Option<Vec<String>>,
    /// `None` = the version's default list.
    pub pubkey_accepted_algorithms: Option<Vec<String>>,
    pub required_rsa_size: u32,
    pub chroot_directory: Option<String>,
    /// keyword (lower case) → where it was set, for findings.
    pub origin: Vec<(String, String, usize)>,
    /// Lines of the guest's sshd configuration that change key logins but were not evaluated
    /// (this build has no sshd_config model yet): (file, line, text). A verdict that would be
    /// `allowed` becomes `unknown` when there are any.
    pub unevaluated: Vec<(String, usize, String)>,
}

impl LoginConfig {
    /// OpenSSH's compiled-in defaults, with the distribution's shipped sshd_config choices that
    /// matter here (UsePAM yes on Debian, Ubuntu, the RHEL family and SUSE).
    pub fn defaults(family: Family) -> LoginConfig {
        LoginConfig {
            use_pam: family != Family::Other,
            pubkey_authentication: true,
            permit_root_login: "prohibit-password".into(),
            authorized_keys_files: vec![
                ".ssh/authorized_keys".into(),
                ".ssh/authorized_keys2".into(),
            ],
            authorized_keys_command: None,
            strict_modes: true,
            allow_users: Vec::new(),
            deny_users: Vec::new(),
            allow_groups: Vec::new(),
            deny_groups: Vec::new(),
            authentication_methods: None,
            pubkey_accepted_algorithms: None,
            required_rsa_size: 1024,
            chroot_directory: None,
            origin: Vec::new(),
            unevaluated: Vec::new(),
        }
    }

    /// The defaults, with the guest's sshd_config and drop-ins scanned for keywords that would
    /// change a key login (see `unevaluated`).
    pub fn from_guest(fs: &RootFs, family: Family) -> LoginConfig {
        const KEYWORDS: &[&str] = LOGIN_KEYWORDS;
        let mut cfg = LoginConfig::defaults(family);
        let mut files = vec![PathBuf::from("/etc/ssh/sshd_config")];
        files.extend(fs.glob("/etc/ssh/sshd_config.d/*.conf").unwrap_or_default());
        for f in files {
            let Ok(text) = fs.read_to_string_lossy(&f) else {
                continue;
            };
            for (i, line) in text.lines().enumerate() {
                let l = line.trim();
                let kw = l
                    .split(|c: char| c.is_whitespace() || c == '=')
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if l.starts_with('#') || !KEYWORDS.contains(&kw.as_str()) {
                    continue;
                }
                // The distributions' own setting, which the defaults above already assume.
                if kw == "usepam" && cfg.use_pam && l.to_ascii_lowercase().ends_with("yes") {
                    continue;
                }
                cfg.unevaluated
                    .push((f.display().to_string(), i + 1, l.to_string()));
            }
        }
        cfg
    }

    /// From sshd's effective options for a connection (the global configuration with the
    /// matching Match blocks applied). Match blocks that need the client's host or address to
    /// decide, and that set login keywords, are listed in `unevaluated`: a verdict that would be
    /// `allowed` is then `unknown`.
    pub fn from_parsed(p: &Parsed, src: &Source, b: &Build) -> LoginConfig {
        let o = &p.options;
        let prl = match o.int("permitrootlogin") {
            Some(3) => "yes",
            Some(1) => "forced-commands-only",
            Some(0) => "no",
            _ => "prohibit-password",
        };
        let akc = o
            .str("authorizedkeyscommand")
            .filter(|c| !c.eq_ignore_ascii_case("none"))
            .map(str::to_string);
        let methods = o.list("authenticationmethods");
        let pubkey_algos = o.str("pubkeyacceptedalgorithms").and_then(|_| {
            crate::sshd::config::algorithms::assemble(
                crate::sshd::config::algorithms::Class::Key,
                o.str("pubkeyacceptedalgorithms"),
                b,
            )
            .ok()
        });
        let mut unevaluated = Vec::new();
        for u in &p.undecided {
            // The user is known here; only blocks that need the client side are uncertain.
            if u.needs.iter().all(|n| *n == "user") {
                continue;
            }
            let kws = src.block_keywords(&u.file, u.line);
            if kws.iter().any(|k| LOGIN_KEYWORDS.contains(&k.as_str())) {
                unevaluated.push((
                    u.file.clone(),
                    u.line,
                    format!(
                        "Match {} (depends on the client's {}): sets {}",
                        u.criteria.trim(),
                        u.needs.join(", "),
                        kws.join(", ")
                    ),
                ));
            }
        }
        LoginConfig {
            use_pam: o.int("usepam") == Some(1),
            pubkey_authentication: o.int("pubkeyauthentication") != Some(0),
            permit_root_login: prl.into(),
            authorized_keys_files: o.list("authorizedkeysfile").to_vec(),
            authorized_keys_command: akc,
            strict_modes: o.int("strictmodes") != Some(0),
            allow_users: o.list("allowusers").to_vec(),
            deny_users: o.list("denyusers").to_vec(),
            allow_groups: o.list("allowgroups").to_vec(),
            deny_groups: o.list("denygroups").to_vec(),
            authentication_methods: if methods.is_empty() {
                None
            } else {
                Some(methods.to_vec())
            },
            pubkey_accepted_algorithms: pubkey_algos,
            required_rsa_size: o
                .int("requiredrsasize")
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(1024),
            chroot_directory: o
                .str("chrootdirectory")
                .filter(|c| !c.eq_ignore_ascii_case("none"))
                .map(str::to_string),
            origin: o
                .origin
                .iter()
                .map(|(k, (f, l))| (k.to_string(), f.clone(), *l))
                .collect(),
            unevaluated,
        }
    }

    fn origin(&self, keyword: &str) -> Option<(String, usize)> {
        self.origin
            .iter()
            .find(|(k, ..)| k == keyword)
            .map(|(_, f, l)| (f.clone(), *l))
    }
}

/// The guest's account databases.
pub struct Accounts {
    pub passwd: Vec<PasswdEntry>,
    pub shadow: Vec<ShadowEntry>,
    pub groups: Vec<GroupEntry>,
    /// nsswitch's passwd line names a network source (ldap, sss, nis, winbind…).
    pub network_users: bool,
}

impl Accounts {
    pub fn read(fs: &RootFs) -> Accounts {
        let text = |p: &str| fs.read_to_string_lossy(p).unwrap_or_default();
        let network_users = text("/etc/nsswitch.conf").lines().any(|l| {
            let l = l.split('#').next().unwrap_or("").trim();
            l.starts_with("passwd:")
                && ["ldap", "sss", "nis", "winbind", "systemd-homed", "compat"]
                    .iter()
                    .any(|s| l.split_whitespace().skip(1).any(|w| w == *s))
        });
        Accounts {
            passwd: accounts::parse_passwd(&text("/etc/passwd")).0,
            shadow: accounts::parse_shadow(&text("/etc/shadow")).0,
            groups: accounts::parse_group(&text("/etc/group")).0,
            network_users,
        }
    }

    /// Group names the user is in: primary group and listed memberships.
    pub fn groups_of(&self, user: &PasswdEntry) -> Vec<String> {
        let mut out: Vec<String> = self
            .groups
            .iter()
            .filter(|g| g.gid == user.gid || g.members.contains(&user.name))
            .map(|g| g.name.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// One step of the login chain.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub step: String,
    pub passed: Option<bool>,
    pub evidence: String,
}

/// The result for one user.
#[derive(Clone, Debug)]
pub struct UserLogin {
    pub user: String,
    pub state: LoginState,
    pub steps: Vec<Step>,
    pub findings: Vec<Finding>,
    /// Keys sshd would accept for this user.
    pub usable_keys: Vec<(PathBuf, usize, PublicKey)>,
}

fn today() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64 / 86_400)
        .unwrap_or(0)
}

fn now_secs() -> i64 {
    today() * 86_400
}

/// sshd's `match_pattern` (`*`, `?`), case-sensitive for users and groups.
fn match_pattern(s: &str, pat: &str) -> bool {
    crate::fs::glob::fnmatch_plain(pat.as_bytes(), s.as_bytes())
}

/// Expands AuthorizedKeysFile tokens (`servconf.c`/`auth.c: expand_authorized_keys`).
pub fn expand_tokens(spec: &str, user: &PasswdEntry) -> String {
    let mut out = String::new();
    let mut it = spec.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('h') => out.push_str(&user.home),
            Some('u') => out.push_str(&user.name),
            Some('U') => out.push_str(&user.uid.to_string()),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    if out.starts_with('/') {
        out
    } else {
        format!("{}/{out}", user.home.trim_end_matches('/'))
    }
}

/// Evaluates one user. `version` is the guest's OpenSSH (major, minor).
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    fs: &RootFs,
    acc: &Accounts,
    cfg: &LoginConfig,
    family: Family,
    version: Option<(u32, u32)>,
    user: &str,
    s: &Settings,
) -> UserLogin {
    let mut r = UserLogin {
        user: user.to_string(),
        state: LoginState::Allowed,
        steps: Vec::new(),
        findings: Vec::new(),
        usable_keys: Vec::new(),
    };
    let mp = s.mount_point.trim_end_matches('/');

    // 1. The account.
    let Some(pw) = acc.passwd.iter().find(|p| p.name == user) else {
        if acc.network_users {
            step(
                &mut r,
                "account",
                None,
                format!(
                    "{user} is not in /etc/passwd; nsswitch.conf also uses a network source, which cannot be read offline"
                ),
            );
            r.state = LoginState::Unknown;
        } else {
            step(
                &mut r,
                "account",
                Some(false),
                format!("{user} is not in /etc/passwd"),
            );
            let f = ACC_001
                .finding(
                    format!("user {user} does not exist"),
                    format!(
                        "/etc/passwd has no entry for {user}; sshd logs \"Invalid user {user}\"."
                    ),
                )
                .at("/etc/passwd")
                .fix(format!("chroot {mp} useradd -m -s /bin/bash {user}"));
            block(&mut r, f);
        }
        return r;
    };
    step(
        &mut r,
        "account",
        Some(true),
        format!(
            "/etc/passwd:{}: uid {} gid {} home {} shell {}",
            pw.line,
            pw.uid,
            pw.gid,
            pw.home,
            if pw.shell.is_empty() {
                "(empty: /bin/sh)"
            } else {
                &pw.shell
            }
        ),
    );
    let is_root = pw.uid == 0;

    // 2. Shell (auth.c: allowed_user).
    let shell = if pw.shell.is_empty() {
        "/bin/sh".to_string()
    } else {
        pw.shell.clone()
    };
    let shell_base = shell.rsplit('/').next().unwrap_or("");
    if cfg.chroot_directory.is_none() {
        match fs.metadata(&shell) {
            Ok(m) if m.is_file() && m.perm & 0o111 != 0 => {
                if matches!(shell_base, "nologin" | "false") {
                    step(
                        &mut r,
                        "shell",
                        Some(false),
                        format!("{shell} refuses interactive logins"),
                    );
                    let f = ACC_002.finding(format!("{user}'s shell is {shell}: logins end at once"), format!("/etc/passwd:{} sets {shell}; the session prints \"This account is currently not available\" and closes.", pw.line)).at("/etc/passwd").line(pw.line).fix(format!("chroot {mp} usermod -s /bin/bash {user}"));
                    block(&mut r, f);
                } else {
                    step(
                        &mut r,
                        "shell",
                        Some(true),
                        format!("{shell} is an executable file"),
                    );
                }
            }
            Ok(m) => {
                step(
                    &mut r,
                    "shell",
                    Some(false),
                    format!("{shell} is not executable"),
                );
                let f = ACC_002.finding(format!("{user}'s shell {shell} is not executable"), format!("{shell} is a {} with mode {:04o}; sshd refuses the user (\"User {user} not allowed because shell {shell} is not executable\").", m.file_type.describe(), m.perm)).at(shell.clone()).fix(format!("chmod 755 {}", s.host_path(&shell)));
                block(&mut r, f);
            }
            Err(_) => {
                step(
                    &mut r,
                    "shell",
                    Some(false),
                    format!("{shell} does not exist"),
                );
                let f = ACC_002.finding(format!("{user}'s shell {shell} does not exist"), format!("/etc/passwd:{} names {shell}, which is not in the guest; sshd refuses the user (\"User {user} not allowed because shell {shell} does not exist\").", pw.line)).at("/etc/passwd").line(pw.line).fix(format!("chroot {mp} usermod -s /bin/bash {user}   # or install the package that provides {shell}"));
                block(&mut r, f);
            }
        }
    }

    // 3. Lock and expiry.
    if let Some(sh) = acc.shadow.iter().find(|e| e.name == user) {
        let t = today();
        if sh.account_expired(t) || sh.password_inactive(t) {
            let why = if sh.account_expired(t) {
                format!(
                    "the account expired on {}",
                    crate::time::format_utc(sh.expire.unwrap_or(0) * 86_400)
                        .split(' ')
                        .next()
                        .unwrap_or("")
                )
            } else {
                "the password expired and its inactivity period is over".to_string()
            };
            step(&mut r, "expiry", Some(false), why.clone());
            let f = ACC_004
                .finding(
                    format!("{user}'s account is expired: {why}"),
                    format!(
                        "/etc/shadow:{}: {why}; {} refuses the login after the key is accepted.",
                        sh.line,
                        if cfg.use_pam {
                            "PAM's account stack (pam_unix)"
                        } else {
                            "sshd"
                        }
                    ),
                )
                .at("/etc/shadow")
                .line(sh.line)
                .fix(format!(
                    "chroot {mp} chage -E -1 -I -1 -d $(date +%F) {user}"
                ));
            block(&mut r, f);
        } else if !cfg.use_pam && sh.locked() {
            step(
                &mut r,
                "lock",
                Some(false),
                "the password field starts with '!' and UsePAM is no".into(),
            );
            let f = ACC_004.finding(format!("{user} is locked and UsePAM is no: key logins are refused too"), format!("/etc/shadow:{}: the password field starts with '!'; with UsePAM no, sshd refuses locked accounts for every method.", sh.line)).at("/etc/shadow").line(sh.line).fix(format!("chroot {mp} usermod -p '*' {user}   # unlock without a password"));
            block(&mut r, f);
        } else {
            step(
                &mut r,
                "expiry",
                Some(true),
                if sh.locked() {
                    "password locked ('!'), which does not block key logins with UsePAM yes".into()
                } else {
                    "not expired".into()
                },
            );
        }
    }

    // 4. Allow/Deny (auth.c: allowed_user order), PermitRootLogin.
    let groups = acc.groups_of(pw);
    let mut host_dependent = false;
    let user_part = |pat: &str| -> (String, bool) {
        match pat.split_once('@') {
            Some((u, _)) => (u.to_string(), true),
            None => (pat.to_string(), false),
        }
    };
    let mut deny: Option<String> = None;
    for p in &cfg.deny_users {
        let (u, host) = user_part(p);
        if match_pattern(user, &u) {
            if host {
                host_dependent = true;
            } else {
                deny = Some(format!("listed in DenyUsers ({p})"));
            }
        }
    }
    if deny.is_none() && !cfg.allow_users.is_empty() {
        let mut found = false;
        for p in &cfg.allow_users {
            let (u, host) = user_part(p);
            if match_pattern(user, &u) {
                if host {
                    host_dependent = true;
                }
                found = true;
            }
        }
        if !found {
            deny = Some("not listed in AllowUsers".into());
        }
    }
    if deny.is_none()
        && groups
            .iter()
            .any(|g| cfg.deny_groups.iter().any(|p| match_pattern(g, p)))
    {
        deny = Some("a group of the user is listed in DenyGroups".into());
    }
    if deny.is_none()
        && !cfg.allow_groups.is_empty()
        && !groups
            .iter()
            .any(|g| cfg.allow_groups.iter().any(|p| match_pattern(g, p)))
    {
        deny = Some("none of the user's groups is listed in AllowGroups".into());
    }
    if let Some(why) = deny {
        step(
            &mut r,
            "AllowUsers/DenyUsers/AllowGroups/DenyGroups",
            Some(false),
            why.clone(),
        );
        let kw = if why.contains("AllowUsers") {
            "allowusers"
        } else if why.contains("DenyUsers") {
            "denyusers"
        } else if why.contains("AllowGroups") {
            "allowgroups"
        } else {
            "denygroups"
        };
        let mut f = AUTH_001.finding(
            format!("sshd refuses {user}: {why}"),
            format!(
                "sshd logs \"User {user} from … not allowed because {why}\" (groups: {}).",
                groups.join(", ")
            ),
        );
        if let Some((file, line)) = cfg.origin(kw) {
            f = f.at(file.clone()).line(line).fix(format!(
                "edit {}:{line}: add {user} to the list (or remove the line)",
                s.host_path(&file)
            ));
        }
        block(&mut r, f);
    } else {
        step(
            &mut r,
            "AllowUsers/DenyUsers/AllowGroups/DenyGroups",
            if host_dependent { None } else { Some(true) },
            if host_dependent {
                "a matching pattern names a client host: depends on where the client connects from"
                    .into()
            } else {
                "not excluded".into()
            },
        );
    }
    if is_root {
        match cfg.permit_root_login.as_str() {
            "no" => {
                step(
                    &mut r,
                    "PermitRootLogin",
                    Some(false),
                    "PermitRootLogin no".into(),
                );
                let mut f = AUTH_002.finding(
                    "root login is disabled (PermitRootLogin no)",
                    "sshd refuses every root login by configuration.",
                );
                if let Some((file, line)) = cfg.origin("permitrootlogin") {
                    f = f.at(file).line(line);
                }
                block(&mut r, f);
            }
            other => step(
                &mut r,
                "PermitRootLogin",
                Some(true),
                format!("PermitRootLogin {other} allows key logins"),
            ),
        }
    }

    // 5. Publickey allowed at all.
    if !cfg.pubkey_authentication {
        step(
            &mut r,
            "PubkeyAuthentication",
            Some(false),
            "PubkeyAuthentication no".into(),
        );
        let mut f = AUTH_001.finding(
            format!("PubkeyAuthentication is off for {user}"),
            "sshd does not offer publickey: \"Permission denied (password)\" or similar.",
        );
        if let Some((file, line)) = cfg.origin("pubkeyauthentication") {
            f = f.at(file.clone()).line(line).fix(format!(
                "edit {}:{line}: PubkeyAuthentication yes",
                s.host_path(&file)
            ));
        }
        block(&mut r, f);
    }
    if let Some(lists) = &cfg.authentication_methods {
        if !lists.iter().any(|l| l.split(',').all(|m| m == "publickey")) {
            step(
                &mut r,
                "AuthenticationMethods",
                Some(false),
                format!(
                    "AuthenticationMethods {} needs more than a key",
                    lists.join(" ")
                ),
            );
            let mut f = AUTH_001.finding(format!("a key alone is not enough for {user}: AuthenticationMethods {}", lists.join(" ")), "Every method list needs a method besides publickey (a password, keyboard-interactive): key-only clients are refused after the key is accepted (\"Authenticated with partial success\").");
            if let Some((file, line)) = cfg.origin("authenticationmethods") {
                f = f
                    .at(file.clone())
                    .line(line)
                    .fix(format!("edit {}:{line}", s.host_path(&file)));
            }
            block(&mut r, f);
        }
    }

    // 6. Home.
    let home_ok = fs.metadata(&pw.home).is_ok_and(|m| m.is_dir());
    if !home_ok {
        step(
            &mut r,
            "home",
            Some(false),
            format!("{} does not exist", pw.home),
        );
        let why = match fs.read_link(&pw.home).ok().or_else(|| {
            // A symlink higher up (/home -> /srv/home) whose target is gone.
            Path::new(&pw.home)
                .ancestors()
                .skip(1)
                .find_map(|a| fs.read_link(a).ok())
        }) {
            Some(t) => format!("; the path goes through a symlink to {}", t.display()),
            None => String::new(),
        };
        let f = ACC_003.finding(format!("{user}'s home directory {} is missing", pw.home), format!("/etc/passwd:{} names {}, which does not exist in the guest{why}: no authorized_keys can be found under it.", pw.line, pw.home)).at(pw.home.clone()).fix(format!("mkdir -p {0} && chown {1}:{2} {0} && chmod 755 {0}   # then restore ~/.ssh/authorized_keys", s.host_path(&pw.home), pw.uid, pw.gid));
        block(&mut r, f);
    } else {
        step(&mut r, "home", Some(true), format!("{} exists", pw.home));
    }

    if !cfg.unevaluated.is_empty() {
        let lines: Vec<String> = cfg
            .unevaluated
            .iter()
            .take(8)
            .map(|(f, l, t)| format!("{f}:{l}: {t}"))
            .collect();
        step(
            &mut r,
            "sshd_config",
            None,
            format!(
                "not evaluated by this build (OpenSSH defaults assumed); these lines may change the result: {}",
                lines.join("; ")
            ),
        );
    }

    // 7. Keys.
    if let Some(cmd) = &cfg.authorized_keys_command {
        step(
            &mut r,
            "AuthorizedKeysCommand",
            None,
            format!("keys also come from `{cmd}`, which cannot run offline"),
        );
    }
    let debian = family == Family::Debian;
    let users = strict_modes::Users {
        passwd: &acc.passwd,
        groups: &acc.groups,
    };
    let mut any_file = false;
    let mut refused_keys = Vec::new();
    let mut skipped_lines = Vec::new();
    for spec in &cfg.authorized_keys_files {
        if spec == "none" {
            continue;
        }
        let path = expand_tokens(spec, pw);
        let paths: Vec<PathBuf> =
            if crate::fs::glob::has_magic(&path) && version.is_some_and(|v| v >= (10, 0)) {
                fs.glob(&path).unwrap_or_default()
            } else {
                vec![PathBuf::from(&path)]
            };
        for p in paths {
            let md = match fs.metadata(&p) {
                Ok(md) => md,
                // Present but unreadable (damaged metadata): sshd cannot read it either.
                Err(e @ (FsError::Corrupt { .. } | FsError::Io { .. })) => {
                    any_file = true;
                    step(
                        &mut r,
                        "authorized keys file",
                        Some(false),
                        format!("{} cannot be read: {e}", p.display()),
                    );
                    // The device is filled in by the damage audit, which knows it.
                    let f = super::damage::unreadable(
                        &p,
                        &e,
                        &super::volume::DevNames::same(super::damage::DEV_PLACEHOLDER),
                    )
                    .severity(Severity::Critical);
                    block(&mut r, f);
                    continue;
                }
                Err(_) => {
                    step(
                        &mut r,
                        "authorized keys file",
                        None,
                        format!("{} does not exist", p.display()),
                    );
                    continue;
                }
            };
            any_file = true;
            let shown = p.display().to_string();
            if cfg.strict_modes {
                match strict_modes::check(fs, &p, pw.uid, Path::new(&pw.home), debian, &users) {
                    Ok(Some(v)) => {
                        step(&mut r, "StrictModes", Some(false), v.message.clone());
                        let vp = v.path.display().to_string();
                        let (desc, fix) = match &v.metadata {
                            Some(m) if v.bad_owner => (
                                format!("owned by uid {} gid {}", m.uid, m.gid),
                                format!("chown {}:{} {}", pw.uid, pw.gid, s.host_path(&vp)),
                            ),
                            Some(m) if !m.is_file() && !m.is_dir() => (
                                format!("a {}", m.file_type.describe()),
                                format!(
                                    "rm {0} && install -m 600 -o {1} -g {2} /dev/null {0}   # then put the key back",
                                    s.host_path(&vp),
                                    pw.uid,
                                    pw.gid
                                ),
                            ),
                            Some(m) => {
                                let want = if m.is_dir() {
                                    if vp == pw.home || Path::new(&vp) == Path::new(&pw.home) {
                                        "go-w".to_string()
                                    } else if vp.ends_with("/.ssh") {
                                        "700".into()
                                    } else {
                                        "go-w".into()
                                    }
                                } else {
                                    "600".into()
                                };
                                (
                                    format!("mode {}", crate::fs::mode_string(m.file_type, m.perm)),
                                    format!("chmod {want} {}", s.host_path(&vp)),
                                )
                            }
                            None => ("unusable".into(), format!("ls -ld {}", s.host_path(&vp))),
                        };
                        let f = PERM_001.finding(format!("{vp} is {desc}: sshd ignores {user}'s keys in {shown}"), format!("StrictModes: sshd logs \"Authentication refused: {}\": every item from {shown} up to {} must be owned by root or {user} (uid {}) and not group- or world-writable.", v.message, if p.starts_with(&pw.home) { pw.home.as_str() } else { "/" }, pw.uid)).at(vp).fix(relabel(fs, fix, mp));
                        block(&mut r, f);
                        continue;
                    }
                    Ok(None) => step(
                        &mut r,
                        "StrictModes",
                        Some(true),
                        format!("{shown} and its directories are safe"),
                    ),
                    Err(e) => {
                        step(&mut r, "StrictModes", None, e.to_string());
                        continue;
                    }
                }
            } else if !md.is_file() {
                continue;
            }
            let bytes = match fs.read_limited(&p, 4 << 20) {
                Ok(b) => b,
                Err(e) => {
                    step(&mut r, "authorized keys file", Some(false), e.to_string());
                    continue;
                }
            };
            let parsed = authorized_keys::parse(&bytes);
            for (line, issue) in &parsed.issues {
                if issue.skips_line() {
                    skipped_lines.push((shown.clone(), *line, issue.clone()));
                }
            }
            for k in &parsed.keys {
                if k.is_cert_authority() {
                    continue;
                }
                if let Some(why) = authorized_keys::key_refused(
                    &k.key.key_type,
                    version,
                    cfg.pubkey_accepted_algorithms.as_deref(),
                    cfg.required_rsa_size,
                ) {
                    refused_keys.push((shown.clone(), k.line, why));
                    continue;
                }
                if let Some(exp) = k
                    .option("expiry-time")
                    .and_then(|o| o.value.as_deref())
                    .and_then(authorized_keys::parse_expiry)
                {
                    if exp <= now_secs() {
                        refused_keys.push((
                            shown.clone(),
                            k.line,
                            format!("expiry-time {} has passed", crate::time::format_utc(exp)),
                        ));
                        continue;
                    }
                }
                r.usable_keys.push((p.clone(), k.line, k.key.clone()));
            }
            step(
                &mut r,
                "authorized keys",
                Some(!parsed.keys.is_empty()),
                format!(
                    "{shown}: {} key line(s) sshd reads, {} line(s) it skips",
                    parsed.keys.len(),
                    parsed.issues.iter().filter(|(_, i)| i.skips_line()).count()
                ),
            );
        }
    }
    let no_usable = r.usable_keys.is_empty() && cfg.authorized_keys_command.is_none();
    let sev = if no_usable {
        Severity::Critical
    } else {
        Severity::Warning
    };
    for (file, line, issue) in &skipped_lines {
        let f = AK_002.finding(format!("{file}:{line}: sshd ignores this line: {}", short(issue)), issue.describe()).at(file.clone()).line(*line).severity(sev).fix(match issue {
            LineIssue::Crlf { .. } | LineIssue::Bom => format!("sed -i -e 's/\\r$//' -e '1s/^\\xEF\\xBB\\xBF//' {}", s.host_path(file)),
            LineIssue::PrivateKey => format!("remove the private key from {} (and replace that key pair: it is exposed)", s.host_path(file)),
            _ => format!("rewrite line {line} of {} as one line: TYPE BASE64 COMMENT (ssh-keygen -y -f PRIVATE_KEY prints it)", s.host_path(file)),
        });
        block(&mut r, f);
    }
    for (file, line, why) in &refused_keys {
        let f = AK_003
            .finding(
                format!("{file}:{line}: the key is refused: {why}"),
                format!("{why}: sshd does not accept this key for {user}."),
            )
            .at(file.clone())
            .line(*line)
            .severity(sev)
            .fix(format!(
                "ssh-keygen -t ed25519   # on the client; add the new .pub line to {}",
                s.host_path(file)
            ));
        block(&mut r, f);
    }
    if !any_file && cfg.authorized_keys_command.is_none() && home_ok {
        let places: Vec<String> = cfg
            .authorized_keys_files
            .iter()
            .map(|sp| expand_tokens(sp, pw))
            .collect();
        let mut f = AK_001.finding(format!("no authorized_keys for {user}: sshd looks in {}", places.join(", ")), format!("None of {} exists: no key can be accepted (\"Permission denied (publickey)\").", places.join(", "))).at(places.first().cloned().unwrap_or_default());
        if let Some((file, line)) = cfg.origin("authorizedkeysfile") {
            f.detail
                .push_str(&format!(" AuthorizedKeysFile is set at {file}:{line}."));
        }
        let ssh_dir = format!("{}/.ssh", pw.home.trim_end_matches('/'));
        let f = f.fix(format!("install -d -m 700 -o {1} -g {2} {0} && install -m 600 -o {1} -g {2} /dev/null {0}/authorized_keys   # then paste the public key into it", s.host_path(&ssh_dir), pw.uid, pw.gid));
        block(&mut r, f);
    } else if no_usable && r.state != LoginState::Blocked && cfg.authorized_keys_command.is_none() {
        r.state = LoginState::Blocked;
    }
    let keys_elsewhere = cfg.authorized_keys_command.is_some() && r.usable_keys.is_empty();
    if (keys_elsewhere || !cfg.unevaluated.is_empty()) && r.state == LoginState::Allowed {
        r.state = LoginState::Unknown;
    }

    // 7b. SELinux: in enforcing mode sshd reads authorized_keys only when its label is
    // ssh_home_t (the policy's type for ~/.ssh).
    if let Some(se) = crate::guest::selinux::read(fs).filter(|x| x.enforcing()) {
        let mut files: Vec<PathBuf> = r.usable_keys.iter().map(|(p, _, _)| p.clone()).collect();
        files.dedup();
        for f in files {
            match fs.xattr(&f, "security.selinux") {
                Ok(label) => {
                    let t = label
                        .as_deref()
                        .and_then(crate::guest::selinux::context_type)
                        .unwrap_or_else(|| "unlabeled_t".into());
                    if t == "ssh_home_t" {
                        step(
                            &mut r,
                            "SELinux label",
                            Some(true),
                            format!("{} is ssh_home_t", f.display()),
                        );
                    } else {
                        step(
                            &mut r,
                            "SELinux label",
                            Some(false),
                            format!("{} is {t}", f.display()),
                        );
                        let finding = PERM_002
                            .finding(
                                format!("SELinux: {} is labelled {t}, sshd may not read it", f.display()),
                                format!(
                                    "SELINUX=enforcing (/etc/selinux/config:{}); sshd reads authorized_keys only with type ssh_home_t, and {} has {t}: every key in it is ignored (\"Permission denied (publickey)\"; the audit log shows an AVC denial).",
                                    se.line.unwrap_or(0),
                                    f.display()
                                ),
                            )
                            .at(f.display().to_string())
                            .fix(format!(
                                "touch {}   # relabels everything at the next boot; or after boot: restorecon -R -v {}",
                                s.host_path("/.autorelabel"),
                                f.parent().map(|p| p.display().to_string()).unwrap_or_default()
                            ));
                        block(&mut r, finding);
                    }
                }
                Err(FsError::Unsupported(_)) => step(
                    &mut r,
                    "SELinux label",
                    None,
                    format!(
                        "SELINUX=enforcing; the label of {} is not readable from this target (mount the volume and inspect the mount point to check it)",
                        f.display()
                    ),
                ),
                Err(_) => {}
            }
        }
    }

    // 8. PAM and nologin.
    let nologin = fs.metadata("/etc/nologin").is_ok();
    if cfg.use_pam {
        let mut has_nologin = false;
        for kind in ["account", "session"] {
            let st = pam::stack(fs, "sshd", kind);
            for l in &st.lines {
                if l.module_name() == "pam_nologin.so" {
                    has_nologin = true;
                }
                if kind == "account"
                    && l.module_name() == "pam_access.so"
                    && pam::find_module(fs, &l.module).is_some()
                {
                    pam_access_step(fs, &mut r, l, user, &groups, s);
                }
                if pam::find_module(fs, &l.module).is_none() && l.fails_when_missing() {
                    step(
                        &mut r,
                        &format!("PAM {kind}"),
                        Some(false),
                        format!("{} is missing", l.module),
                    );
                    let file = l.file.display().to_string();
                    let f = PAM_001.finding(format!("PAM module {} is missing: every login fails in the {kind} stack", l.module), format!("{file}:{} `{kind} {} {}` needs {}, which is not in {}; sshd logs \"PAM unable to dlopen({})\" and refuses the login after the key is accepted.", l.line, control_str(&l.control), l.module, l.module, pam::SECURITY_DIRS.join(", "), l.module)).at(file.clone()).line(l.line).fix(format!("{}   # or comment out {}:{}", super::sshd::service::reinstall(family, mp, pam_package(family, l.module_name())), s.host_path(&file), l.line));
                    block(&mut r, f);
                }
            }
            for p in &st.problems {
                if p.message.contains("does not exist") {
                    step(
                        &mut r,
                        &format!("PAM {kind}"),
                        Some(false),
                        p.message.clone(),
                    );
                    let file = p.file.display().to_string();
                    let mut f = PAM_001.finding(format!("PAM configuration broken: {}", p.message), format!("{file}: {}; libpam fails to initialise the sshd service, so every login is refused.", p.message)).at(file.clone()).fix(super::sshd::service::reinstall(family, mp, if family == Family::Rhel { "pam" } else { "libpam-runtime" }));
                    if let Some(l) = p.line {
                        f = f.line(l);
                    }
                    block(&mut r, f);
                }
            }
        }
        if !r.steps.iter().any(|s| s.step.starts_with("PAM")) {
            step(
                &mut r,
                "PAM account and session",
                Some(true),
                "every module of sshd's account and session stacks is present".into(),
            );
        }
        if nologin && has_nologin && !is_root {
            let f = PAM_002.finding(format!("/etc/nologin exists: {user} is refused (only root may log in)"), "pam_nologin in sshd's account stack refuses every non-root user while /etc/nologin exists.").at("/etc/nologin").fix(format!("rm {}", s.host_path("/etc/nologin")));
            block(&mut r, f);
        }
    } else if nologin && !is_root {
        let f = PAM_002
            .finding(
                format!("/etc/nologin exists: {user} is refused (only root may log in)"),
                "With UsePAM no, sshd itself refuses non-root users while /etc/nologin exists.",
            )
            .at("/etc/nologin")
            .fix(format!("rm {}", s.host_path("/etc/nologin")));
        block(&mut r, f);
    }
    r
}

/// Records one step of a user's login path.
fn step(r: &mut UserLogin, name: &str, passed: Option<bool>, evidence: String) {
    r.steps.push(Step {
        step: name.into(),
        passed,
        evidence,
    });
}

/// Records a finding about the user; a critical one (or AUTH-002) blocks the login.
fn block(r: &mut UserLogin, f: Finding) {
    if f.severity == Severity::Critical || f.id == "AUTH-002" {
        r.state = LoginState::Blocked;
    }
    let user = r.user.clone();
    r.findings.push(f.user(user));
}

/// pam_access in the account stack: the user's fate under its rules.
fn pam_access_step(
    fs: &RootFs,
    r: &mut UserLogin,
    l: &pam::PamLine,
    user: &str,
    groups: &[String],
    s: &Settings,
) {
    use crate::guest::pam_access::{self, Decision};
    let file = l
        .args
        .iter()
        .find_map(|a| a.strip_prefix("accessfile="))
        .unwrap_or("/etc/security/access.conf")
        .to_string();
    let text = fs.read_to_string_lossy(&file).unwrap_or_default();
    let opts = pam_access::Options::from_args(&l.args);
    let blocks = matches!(l.control, pam::Control::Required | pam::Control::Requisite);
    match pam_access::decide(&text, user, groups, &opts) {
        Decision::Allow(at) => step(
            r,
            "pam_access",
            Some(true),
            match at {
                Some(n) => format!("{file}:{n} allows {user}"),
                None => format!("no line of {file} denies {user}"),
            },
        ),
        Decision::Deny(n, text) if blocks => {
            step(r, "pam_access", Some(false), format!("{file}:{n}: {text}"));
            let f = PAM_003
                .finding(
                    format!("pam_access denies {user}: {file}:{n}"),
                    format!(
                        "{}:{} runs pam_access; {file} line {n} `{text}` is the first line matching {user} (groups: {}) from any client, and it denies. sshd logs \"Access denied for user {user} by PAM account configuration\".",
                        l.file.display(),
                        l.line,
                        groups.join(", ")
                    ),
                )
                .at(file.clone())
                .line(n)
                .fix(format!(
                    "edit {}:{n}: exclude {user} (e.g. add `EXCEPT {user}` to its users field) or put `+:{user}:ALL` above it",
                    s.host_path(&file)
                ));
            block(r, f);
        }
        Decision::Deny(n, text) => step(
            r,
            "pam_access",
            None,
            format!("{file}:{n} `{text}` denies, but pam_access is not required in the stack"),
        ),
        Decision::Depends(n, text) => {
            step(
                r,
                "pam_access",
                None,
                format!("{file}:{n} `{text}`: depends on the client's host or address"),
            );
            if r.state == LoginState::Allowed {
                r.state = LoginState::Unknown;
            }
        }
    }
}

fn short(i: &LineIssue) -> &'static str {
    match i {
        LineIssue::Bom => "byte-order mark",
        LineIssue::Crlf { .. } => "CRLF line ending",
        LineIssue::PrivateKey => "a private key",
        LineIssue::Wrapped => "key split over lines",
        LineIssue::BadOptions(_) => "bad options",
        LineIssue::BadKey(_) => "not a readable key",
    }
}

fn control_str(c: &pam::Control) -> String {
    match c {
        pam::Control::Required => "required".into(),
        pam::Control::Requisite => "requisite".into(),
        pam::Control::Sufficient => "sufficient".into(),
        pam::Control::Optional => "optional".into(),
        pam::Control::Bracket(p) => format!(
            "[{}]",
            p.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// The package shipping a PAM module, on Debian and the RHEL family.
fn pam_package(family: Family, module: &str) -> &'static str {
    match (family, module) {
        (Family::Debian, "pam_systemd.so") => "libpam-systemd",
        (Family::Debian, "pam_cap.so") => "libpam-cap",
        (Family::Debian, "pam_google_authenticator.so") => "libpam-google-authenticator",
        (Family::Debian, "pam_sss.so") => "libpam-sss",
        (Family::Debian, _) => "libpam-modules",
        (_, "pam_systemd.so") => "systemd-pam",
        (_, "pam_sss.so") => "sssd-client",
        _ => "pam",
    }
}

/// On an SELinux guest, files changed from the recovery host lose their labels (ssh_home_t):
/// the fix includes a relabel at next boot.
fn relabel(fs: &RootFs, fix: String, mp: &str) -> String {
    let enforcing = fs
        .read_to_string_lossy("/etc/selinux/config")
        .is_ok_and(|t| {
            t.lines().any(|l| {
                let l = l.trim();
                l.starts_with("SELINUX=") && !l.ends_with("disabled")
            })
        });
    if enforcing {
        format!(
            "{fix} && touch {mp}/.autorelabel   # SELinux: relabel at next boot (or restorecon -R ~/.ssh after boot)"
        )
    } else {
        fix
    }
}

/// Users `check` evaluates: root, every user with a key file where sshd (or the default) looks,
/// and ordinary users (uid 1000–59999, a login shell) with an ~/.ssh directory or whose home
/// directory is gone — the key file cannot be seen, but the user was clearly meant to log in.
pub fn candidates(fs: &RootFs, acc: &Accounts, cfg: &LoginConfig) -> Vec<String> {
    let mut out = Vec::new();
    for pw in &acc.passwd {
        let mut specs: Vec<String> = cfg.authorized_keys_files.clone();
        specs.push(".ssh/authorized_keys".into());
        let has_key = specs
            .iter()
            .filter(|sp| *sp != "none")
            .any(|sp| fs.metadata(expand_tokens(sp, pw)).is_ok_and(|m| m.size > 0));
        let shell_base = pw.shell.rsplit('/').next().unwrap_or("");
        let login_shell = !matches!(
            shell_base,
            "nologin" | "false" | "sync" | "halt" | "shutdown"
        );
        let ordinary = (1000..60000).contains(&pw.uid) && login_shell;
        let lost_home = ordinary && pw.home.starts_with("/home/") && fs.metadata(&pw.home).is_err();
        // An ~/.ssh directory says the user logs in with keys, even when the file is gone.
        // Not when it holds the user's own client keys (id_*): that is someone who ssh-es out
        // from here, not a login account.
        let ssh_dir = format!("{}/.ssh", pw.home.trim_end_matches('/'));
        let has_ssh_dir = ordinary
            && fs.read_dir(&ssh_dir).is_ok_and(|entries| {
                !entries
                    .iter()
                    .any(|e| e.name.to_string_lossy().starts_with("id_"))
            });
        if pw.uid == 0 || has_key || lost_home || has_ssh_dir {
            out.push(pw.name.clone());
        }
    }
    out
}

/// Malformed lines and duplicates in the account databases (ACC-005).
fn account_files(fs: &RootFs, s: &Settings, out: &mut Vec<Finding>) {
    let mp = s.mount_point.trim_end_matches('/');
    let text = |p: &str| fs.read_to_string_lossy(p).unwrap_or_default();
    let mut bad: Vec<(&str, accounts::BadLine)> = Vec::new();
    let (passwd, b) = accounts::parse_passwd(&text("/etc/passwd"));
    bad.extend(b.into_iter().map(|b| ("/etc/passwd", b)));
    bad.extend(
        accounts::parse_shadow(&text("/etc/shadow"))
            .1
            .into_iter()
            .map(|b| ("/etc/shadow", b)),
    );
    let (groups, b) = accounts::parse_group(&text("/etc/group"));
    bad.extend(b.into_iter().map(|b| ("/etc/group", b)));
    for (file, b) in bad {
        out.push(ACC_005.finding(format!("{file}:{}: malformed line ({}); the C library skips it", b.line, b.reason), format!("{file} line {} does not parse ({}): the account or group on it does not exist for sshd and PAM.", b.line, b.reason)).at(file).line(b.line).fix(format!("chroot {mp} {}", if file == "/etc/group" { "grpck" } else { "pwck" })));
    }
    for (i, p) in passwd.iter().enumerate() {
        if let Some(first) = passwd[..i].iter().find(|q| q.name == p.name) {
            out.push(
                ACC_005
                    .finding(
                        format!(
                            "/etc/passwd:{}: user {} is defined twice (first at line {})",
                            p.line, p.name, first.line
                        ),
                        "Lookups by name return the first entry; the second is ignored."
                            .to_string(),
                    )
                    .at("/etc/passwd")
                    .line(p.line)
                    .fix(format!("chroot {mp} pwck")),
            );
        } else if p.uid == 0 && p.name != "root" {
            out.push(ACC_005.finding(format!("/etc/passwd:{}: {} has uid 0 (a second root account)", p.line, p.name), "A non-root name with uid 0 has every root privilege; often a leftover or a backdoor.".to_string()).at("/etc/passwd").line(p.line).confidence(Confidence::Likely).fix(format!("chroot {mp} usermod -u NEWUID {}   # or remove the account", p.name)));
        }
    }
    for (i, g) in groups.iter().enumerate() {
        if let Some(first) = groups[..i].iter().find(|q| q.name == g.name) {
            out.push(
                ACC_005
                    .finding(
                        format!(
                            "/etc/group:{}: group {} is defined twice (first at line {})",
                            g.line, g.name, first.line
                        ),
                        "Lookups by name return the first entry.".to_string(),
                    )
                    .at("/etc/group")
                    .line(g.line)
                    .fix(format!("chroot {mp} grpck")),
            );
        }
    }
}

/// The audit for `check`: every candidate's verdict and findings; LOGIN-001 when nobody can log
/// in.
pub fn audit(
    fs: &RootFs,
    cfg: &LoginConfig,
    cfg_for: &mut dyn FnMut(&str) -> LoginConfig,
    family: Family,
    version: Option<(u32, u32)>,
    s: &Settings,
    out: &mut Vec<Finding>,
) -> Vec<LoginVerdict> {
    let acc = Accounts::read(fs);
    if acc.passwd.is_empty() {
        return Vec::new();
    }
    account_files(fs, s, out);
    let mut verdicts = Vec::new();
    let mut any_allowed = false;
    for user in candidates(fs, &acc, cfg) {
        let ucfg = cfg_for(&user);
        let r = evaluate(fs, &acc, &ucfg, family, version, &user, s);
        // Root's account with no key file at all is not a problem on its own.
        // Root with no key file at all is not a key-login account: whatever else sshd's
        // configuration says about root is not a problem then.
        let root_without_keys = user == "root"
            && r.findings.iter().any(|f| f.id == "AK-001")
            && r.usable_keys.is_empty();
        if r.state == LoginState::Allowed || r.state == LoginState::Unknown {
            any_allowed = true;
        }
        let mut reasons: Vec<String> = r
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning || f.id == "AUTH-002")
            .map(|f| f.id.to_string())
            .collect();
        reasons.dedup();
        for f in r.findings {
            if root_without_keys {
                continue;
            }
            out.push(f);
        }
        if root_without_keys && r.state == LoginState::Blocked && r.usable_keys.is_empty() {
            continue;
        }
        verdicts.push(LoginVerdict {
            user,
            key_login: r.state,
            reasons,
        });
    }
    if !any_allowed && !verdicts.is_empty() {
        let names: Vec<String> = verdicts
            .iter()
            .map(|v| format!("{} ({})", v.user, v.reasons.join(", ")))
            .collect();
        out.push(
            LOGIN_001
                .finding(
                    "no user can log in with a key",
                    format!("Every candidate is blocked: {}.", names.join("; ")),
                )
                .confidence(Confidence::Likely),
        );
    }
    verdicts
}
