//! Reads sshd_config the way sshd does (servconf.c: `process_server_config_line_depth`,
//! `parse_server_config_depth`, `match_cfg_line`), from the guest's files.
//!
//! sshd parses its configuration twice. At start, with no connection: global lines are applied,
//! `Match` blocks are only syntax-checked (a `Match all` block does apply), and any fatal error
//! ends the daemon. Per connection, the same text is parsed again into fresh options with the
//! connection's user, host and addresses: only lines inside matching `Match` blocks apply, and
//! what they set overrides the global values. This module mirrors both passes and records every
//! message sshd would log, with file and line.

use std::collections::HashMap;
use std::rc::Rc;

use super::algorithms::{self, Class, ListError};
use super::build::Build;
use super::keywords::{self, State};
use super::lexer;
use super::matching;
use super::options::{self, ListenSpec, Options, Origin};
use crate::fs::RootFs;
use crate::guest::accounts::{GroupEntry, PasswdEntry};

/// Where sshd reads its configuration.
pub const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";
/// Relative `Include` paths are relative to this directory (SSHDIR).
pub const SSHDIR: &str = "/etc/ssh";
/// SERVCONF_MAX_DEPTH.
const MAX_DEPTH: usize = 16;
/// Bounds on what one configuration may make us read.
const MAX_FILE: u64 = 4 << 20;
const MAX_INCLUDED_FILES: usize = 1024;

/// How bad a message is, as sshd logs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Logged at INFO or DEBUG; sshd carries on ("Deprecated option", "Unsupported option").
    Info,
    /// An error that counts towards "terminating, N bad configuration options".
    Error,
    /// sshd exits at once.
    Fatal,
}

/// One message sshd would log while reading its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub level: Level,
    pub file: String,
    pub line: usize,
    /// The keyword as written (empty for file-level messages).
    pub keyword: String,
    /// sshd's own wording, without the "file line N:" prefix.
    pub message: String,
    /// The whole line sshd prints (its file label is "reprocess config" for the main file
    /// during a per-connection parse, as sshd's is).
    pub text: String,
}

impl Problem {
    /// The message as sshd prints it.
    pub fn sshd_message(&self) -> String {
        self.text.clone()
    }
}

/// The connection `sshd -T -C` describes. Absent attributes never match (test mode).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conn {
    pub user: Option<String>,
    pub host: Option<String>,
    pub addr: Option<String>,
    pub laddr: Option<String>,
    pub lport: Option<u16>,
    pub rdomain: Option<String>,
    /// `-C invalid-user` (9.9+): the user does not exist (Match Invalid-User).
    pub invalid_user: bool,
}

/// What the guest's accounts say, for `Match Group` and `~` in paths.
#[derive(Debug, Clone, Copy)]
pub struct Accounts<'a> {
    pub users: &'a [PasswdEntry],
    pub groups: &'a [GroupEntry],
}

impl Accounts<'_> {
    /// The names of the user's groups, primary first (`ga_init`: getgrouplist).
    pub fn groups_of(&self, user: &str) -> Option<Vec<String>> {
        let pw = self.users.iter().find(|u| u.name == user)?;
        let mut out = Vec::new();
        if let Some(g) = self.groups.iter().find(|g| g.gid == pw.gid) {
            out.push(g.name.clone());
        }
        for g in self.groups {
            if g.members.iter().any(|m| m == user) && !out.contains(&g.name) {
                out.push(g.name.clone());
            }
        }
        Some(out)
    }
}

/// A `Match` line that could not be decided for lack of a connection attribute (its block
/// applies to some connections and not to others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecided {
    pub file: String,
    pub line: usize,
    /// The criteria, as written.
    pub criteria: String,
    /// The attributes it needed: "host", "addr", …
    pub needs: Vec<&'static str>,
}

/// One parse's result.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub options: Options,
    pub problems: Vec<Problem>,
    /// True when sshd would exit (a fatal message, or bad options counted at a file's end).
    pub fatal: bool,
    pub undecided: Vec<Undecided>,
    /// The Match lines that matched: (file, line).
    pub matched: Vec<(String, usize)>,
    /// Set during a per-connection parse (sshd then calls the main file "reprocess config").
    reprocess: bool,
    main_path: String,
}

#[derive(Debug, Clone)]
struct IncludeItem {
    selector: String,
    /// (path, contents) of one file the glob matched; None records "no match".
    file: Option<(String, Rc<Vec<String>>)>,
}

/// Signals that sshd would have exited (the message is already recorded).
struct Stop;

const NEVERMATCH: u8 = 0x04;
const MATCH_ONLY: u8 = 0x08;

/// The loaded configuration text: the main file's lines and the include cache, shared by the
/// start-up parse and every per-connection parse (as sshd keeps `cfg` and its include list).
pub struct Source<'a> {
    fs: &'a RootFs,
    pub build: Build,
    accounts: Accounts<'a>,
    /// The main file's lines; None when it could not be read.
    main: Option<Rc<Vec<String>>>,
    main_error: Option<String>,
    includes: Vec<IncludeItem>,
    services: Option<HashMap<String, u16>>,
    /// The guest's sshd program, read once when a keyword is not in the table: a vendor patch
    /// this tool does not know may still define it.
    binary: Option<Option<Vec<u8>>>,
    pub binary_path: String,
    included_files: usize,
    pub main_path: String,
}

/// `load_server_config`: blanks, tabs and CRs at a line's start are dropped; a NUL byte cuts the
/// line there and swallows its newline (the next line joins it), as C strings do.
fn load_lines(bytes: &[u8]) -> Vec<String> {
    let mut buf: Vec<u8> = Vec::with_capacity(bytes.len());
    for raw in bytes.split_inclusive(|b| *b == b'\n') {
        let start = raw
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\r'))
            .unwrap_or(raw.len());
        let line = &raw[start..];
        let cut = line.iter().position(|b| *b == 0).unwrap_or(line.len());
        buf.extend_from_slice(&line[..cut]);
    }
    let text = String::from_utf8_lossy(&buf);
    text.split('\n').map(str::to_string).collect()
}

impl<'a> Source<'a> {
    pub fn load(fs: &'a RootFs, build: Build, accounts: Accounts<'a>) -> Source<'a> {
        Source::load_path(fs, build, accounts, SSHD_CONFIG)
    }

    pub fn load_path(
        fs: &'a RootFs,
        build: Build,
        accounts: Accounts<'a>,
        path: &str,
    ) -> Source<'a> {
        let (main, main_error) = match fs.read_limited(path, MAX_FILE) {
            Ok(b) => (Some(Rc::new(load_lines(&b))), None),
            Err(e) => (None, Some(format!("{path}: {e}"))),
        };
        Source {
            fs,
            build,
            accounts,
            main,
            main_error,
            includes: Vec::new(),
            services: None,
            binary: None,
            binary_path: "/usr/sbin/sshd".into(),
            included_files: 0,
            main_path: path.to_string(),
        }
    }

    /// The main configuration file could not be read (sshd exits: "No such file").
    pub fn main_missing(&self) -> bool {
        self.main.is_none()
    }

    /// Every file read so far (the main file and included ones), in order.
    pub fn files(&self) -> Vec<String> {
        let mut out = vec![self.main_path.clone()];
        for i in &self.includes {
            if let Some((p, _)) = &i.file {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
        }
        out
    }

    /// The keywords (lower case) of the block a `Match` line at (file, line) opens: the lines up to
    /// the next `Match` or the end of that file.
    pub fn block_keywords(&self, file: &str, line: usize) -> Vec<String> {
        let lines = if file == self.main_path {
            self.main.clone()
        } else {
            self.includes
                .iter()
                .filter_map(|i| i.file.as_ref())
                .find(|(p, _)| p == file)
                .map(|(_, c)| c.clone())
        };
        let Some(lines) = lines else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for l in lines.iter().skip(line) {
            let Ok((kw, _)) = lexer::strdelim(l.trim_start()) else {
                continue;
            };
            let kw = kw.to_ascii_lowercase();
            if kw.is_empty() || kw.starts_with('#') {
                continue;
            }
            if kw == "match" {
                break;
            }
            out.push(kw);
        }
        out
    }

    /// The start-up parse plus OpenSSH's defaults: what sshd runs with before any connection.
    pub fn global(&mut self) -> Parsed {
        let mut p = Parsed {
            main_path: self.main_path.clone(),
            ..Parsed::default()
        };
        let Some(main) = self.main.clone() else {
            p.fatal = true;
            let message = self
                .main_error
                .clone()
                .unwrap_or_else(|| format!("{}: cannot read", self.main_path));
            p.problems.push(Problem {
                level: Level::Fatal,
                file: self.main_path.clone(),
                line: 0,
                keyword: String::new(),
                text: message.clone(),
                message,
            });
            p.options.fill_defaults(&self.build);
            return p;
        };
        let mut active = true;
        let main_path = self.main_path.clone();
        if self
            .parse_depth(&mut p, &main_path, &main, None, 0, &mut active, 0)
            .is_err()
        {
            p.fatal = true;
        }
        p.options.fill_defaults(&self.build);
        p
    }

    /// The configuration for one connection (`sshd -T -C …`): the global options overridden by
    /// every matching Match block.
    pub fn for_connection(&mut self, global: &Parsed, conn: &Conn) -> Parsed {
        let mut out = global.clone();
        if global.fatal {
            return out;
        }
        let Some(main) = self.main.clone() else {
            return out;
        };
        let mut m = Parsed {
            reprocess: true,
            main_path: self.main_path.clone(),
            ..Parsed::default()
        };
        let mut active = false;
        let main_path = self.main_path.clone();
        let r = self.parse_depth(
            &mut m,
            &main_path,
            &main,
            Some(conn),
            MATCH_ONLY,
            &mut active,
            0,
        );
        out.options.overlay(&m.options);
        out.problems.extend(m.problems);
        out.undecided = m.undecided;
        out.matched = m.matched;
        if r.is_err() {
            out.fatal = true;
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn parse_depth(
        &mut self,
        p: &mut Parsed,
        file: &str,
        lines: &Rc<Vec<String>>,
        conn: Option<&Conn>,
        mut flags: u8,
        active: &mut bool,
        depth: usize,
    ) -> Result<(), Stop> {
        if depth > MAX_DEPTH {
            return fatal(
                p,
                file,
                0,
                "",
                "Too many recursive configuration includes".into(),
            );
        }
        let mut bad = 0;
        for (i, line) in lines.iter().enumerate() {
            if !self.line(p, line, file, i + 1, active, conn, &mut flags, depth)? {
                bad += 1;
            }
        }
        if bad > 0 {
            return fatal(
                p,
                file,
                0,
                "",
                format!("{file}: terminating, {bad} bad configuration options"),
            );
        }
        Ok(())
    }

    fn port_number(&mut self, s: &str) -> Option<u16> {
        if let Ok(n) = s.parse::<u32>() {
            if !s.starts_with('+') {
                return u16::try_from(n).ok();
            }
        }
        if s.is_empty() {
            return None;
        }
        let fs = self.fs;
        let services = self.services.get_or_insert_with(|| {
            let mut m = HashMap::new();
            if let Ok(t) = fs.read_to_string_lossy("/etc/services") {
                for l in t.lines() {
                    let l = l.split('#').next().unwrap_or("");
                    let mut it = l.split_whitespace();
                    let (Some(name), Some(pp)) = (it.next(), it.next()) else {
                        continue;
                    };
                    let Some((port, proto)) = pp.split_once('/') else {
                        continue;
                    };
                    if proto != "tcp" {
                        continue;
                    }
                    let Ok(port) = port.parse::<u16>() else {
                        continue;
                    };
                    m.entry(name.to_string()).or_insert(port);
                    for alias in it {
                        m.entry(alias.to_string()).or_insert(port);
                    }
                }
            }
            m
        });
        services.get(s).copied()
    }

    /// `process_server_config_line_depth`. Ok(false): an error counted as a bad option.
    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        p: &mut Parsed,
        raw: &str,
        file: &str,
        lineno: usize,
        active: &mut bool,
        conn: Option<&Conn>,
        inc_flags: &mut u8,
        depth: usize,
    ) -> Result<bool, Stop> {
        let b = self.build;
        // Trailing whitespace and form feeds go (never the first character).
        let mut line = raw.to_string();
        while line.len() > 1 && line.ends_with([' ', '\t', '\r', '\n', '\x0c']) {
            line.pop();
        }
        let Ok((mut keyword, mut rest)) = lexer::strdelim(&line) else {
            return Ok(true);
        };
        if keyword.is_empty() {
            match rest.map(lexer::strdelim) {
                Some(Ok((k, r))) => {
                    keyword = k;
                    rest = r;
                }
                _ => return Ok(true),
            }
        }
        if keyword.is_empty() || keyword.starts_with('#') {
            return Ok(true);
        }
        let at: Origin = (file.to_string(), lineno);
        let str_rest = rest.unwrap_or("");
        if str_rest.is_empty() {
            error(
                p,
                file,
                lineno,
                &keyword,
                format!("no argument after keyword \"{keyword}\""),
            );
            return Ok(false);
        }
        let found = keywords::lookup(&keyword, &b);
        let mut vendor = false;
        let (canon, state) = match found {
            Some((k, s)) => (k.canon, s),
            None if self.binary_knows(&keyword) => {
                vendor = true;
                push(
                    p,
                    Level::Info,
                    file,
                    lineno,
                    &keyword,
                    format!(
                        "{keyword} is not in rescue-inspect's keyword table for {}, but the guest's sshd program names it (a distribution patch?): not evaluated",
                        b.describe()
                    ),
                );
                ("", State::A)
            }
            None => {
                error(
                    p,
                    file,
                    lineno,
                    &keyword,
                    format!("Bad configuration option: {keyword}"),
                );
                ("", State::Gone)
            }
        };
        let split = if b.at_least(8, 7) {
            lexer::argv_split(str_rest)
        } else {
            lexer::strdelim_all(str_rest)
        };
        let Ok(args) = split else {
            error(p, file, lineno, &keyword, "invalid quotes".into());
            return Ok(false);
        };
        // Deprecated keywords keep their table flags: these three were allowed inside Match.
        let allowed_in_match = matches!(state, State::A)
            || (state == State::Dep
                && matches!(
                    canon,
                    "rhostsrsaauthentication" | "rsaauthentication" | "authorizedkeysfile2"
                ));
        if !*active && !allowed_in_match {
            if conn.is_none() {
                return fatal(
                    p,
                    file,
                    lineno,
                    &keyword,
                    format!("Directive '{keyword}' is not allowed within a Match block"),
                );
            }
            return Ok(true);
        }
        if vendor {
            return Ok(true);
        }
        if found.is_none() {
            return Ok(false);
        }
        let mut av = Args::new(args);
        let act = *active;
        macro_rules! fatal_at {
            ($($t:tt)*) => { return fatal(p, file, lineno, &keyword, format!($($t)*)) };
        }
        match state {
            State::Dep | State::Uns | State::Ign => {
                if state != State::Ign {
                    let what = if state == State::Uns {
                        "Unsupported"
                    } else {
                        "Deprecated"
                    };
                    push(
                        p,
                        Level::Info,
                        file,
                        lineno,
                        &keyword,
                        format!("{what} option {keyword}"),
                    );
                }
                av.consume();
                return Ok(self.extra(p, &av, file, lineno, &keyword));
            }
            State::Gone => return Ok(false),
            State::G | State::A => {}
        }
        match canon {
            "port" => {
                let arg = av.next();
                let Some(arg) = arg.filter(|a| !a.is_empty()) else {
                    fatal_at!("missing port number.");
                };
                if p.options.ports.len() >= 256 {
                    fatal_at!("too many ports.");
                }
                match self.port_number(&arg) {
                    Some(n) if n > 0 => {
                        if p.options.ports.is_empty() {
                            p.options.origin.insert("port", at.clone());
                        }
                        p.options.ports.push(n);
                    }
                    _ => fatal_at!("Badly formatted port number."),
                }
            }
            "logingracetime" | "clientaliveinterval" => {
                let Some(v) = parse_time(av.next()) else {
                    fatal_at!("{}", time_error(&av));
                };
                if act {
                    p.options.set_int_first(canon, v, &at);
                }
            }
            "listenaddress" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("missing address");
                };
                let (host, port) = if !arg.contains('[')
                    && arg.find(':').is_some_and(|i| arg[i + 1..].contains(':'))
                {
                    (arg.clone(), 0u16)
                } else {
                    let Some((h, rest)) = hpdelim(&arg) else {
                        fatal_at!("bad address:port usage");
                    };
                    let h = cleanhostname(&h);
                    let port = match rest {
                        None => 0,
                        Some(r) => match self.port_number(&r) {
                            Some(n) if n > 0 => n,
                            _ => return fatal(p, file, lineno, &keyword, "bad port number".into()),
                        },
                    };
                    (h, port)
                };
                if let Some(a) = av.next() {
                    if a != "rdomain" || av.peek().is_none() {
                        fatal_at!("bad ListenAddress syntax");
                    }
                    // Linux sshd has no routing domains (valid_rdomain fails).
                    fatal_at!("bad routing domain");
                }
                if p.options.listen.is_empty() {
                    p.options.origin.insert("listenaddress", at.clone());
                }
                p.options.listen.push(ListenSpec {
                    host,
                    port,
                    rdomain: None,
                });
            }
            "hostkey" | "hostcertificate" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("missing file name.");
                };
                if act {
                    let v = derelativise(&arg, self.accounts);
                    p.options.push(canon, v, &at);
                }
            }
            "hostkeyagent" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("missing socket name.");
                };
                if act {
                    let v = if arg == "SSH_AUTH_SOCK" {
                        arg
                    } else {
                        derelativise(&arg, self.accounts)
                    };
                    p.options.set_str_first(canon, v, &at);
                }
            }
            "pidfile" | "modulifile" | "xauthlocation" | "banner" | "trustedusercakeys"
            | "revokedkeys" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("missing file name.");
                };
                if act {
                    let v = derelativise(&arg, self.accounts);
                    p.options.set_str_first(canon, v, &at);
                }
            }
            "addressfamily"
            | "permitrootlogin"
            | "ignorerhosts"
            | "compression"
            | "gatewayports"
            | "allowtcpforwarding"
            | "allowstreamlocalforwarding" => {
                let table = options::multistate_of(canon, &b).unwrap_or(options::FLAG);
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("missing argument.");
                };
                let Some(v) = table
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&arg))
                    .map(|(_, v)| *v)
                else {
                    fatal_at!("unsupported option \"{arg}\".");
                };
                if act {
                    p.options.set_int_first(canon, v, &at);
                }
            }
            "usepam"
            | "ignoreuserknownhosts"
            | "hostbasedauthentication"
            | "hostbasedusesnamefrompacketonly"
            | "pubkeyauthentication"
            | "kerberosauthentication"
            | "kerberosorlocalpasswd"
            | "kerberosticketcleanup"
            | "kerberosgetafstoken"
            | "gssapiauthentication"
            | "gssapicleanupcredentials"
            | "gssapistrictacceptorcheck"
            | "gssapidelegatecredentials"
            | "gssapikeyexchange"
            | "gssapistorecredentialsonrekey"
            | "gssapienablek5users"
            | "kerberosusekuserok"
            | "passwordauthentication"
            | "kbdinteractiveauthentication"
            | "printmotd"
            | "printlastlog"
            | "x11forwarding"
            | "x11uselocalhost"
            | "permittty"
            | "permituserrc"
            | "strictmodes"
            | "tcpkeepalive"
            | "permitemptypasswords"
            | "usedns"
            | "allowagentforwarding"
            | "disableforwarding"
            | "streamlocalbindunlink"
            | "exposeauthinfo"
            | "debianbanner"
            | "refuseconnection" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("missing argument.");
                };
                let v = if arg.eq_ignore_ascii_case("yes") {
                    1
                } else if arg.eq_ignore_ascii_case("no") {
                    0
                } else {
                    fatal_at!("unsupported option \"{arg}\".");
                };
                if act {
                    p.options.set_int_first(canon, v, &at);
                }
            }
            "x11displayoffset"
            | "maxauthtries"
            | "maxsessions"
            | "clientalivecountmax"
            | "requiredrsasize" => {
                let arg = av.next();
                let v = match atoi_err(arg.as_deref()) {
                    Ok(v) => v,
                    Err(e) => fatal_at!("{keyword} integer value {e}."),
                };
                if act {
                    p.options.set_int_first(canon, v, &at);
                }
            }
            "hostbasedacceptedalgorithms"
            | "hostkeyalgorithms"
            | "casignaturealgorithms"
            | "pubkeyacceptedalgorithms" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("Missing argument.");
                };
                let class = if canon == "casignaturealgorithms" {
                    Class::Sig
                } else {
                    Class::Key
                };
                if algorithms::validate(class, &arg, &b).is_err() {
                    fatal_at!("Bad key types '{arg}'.");
                }
                if act {
                    p.options.set_str_first(canon, arg, &at);
                }
            }
            "ciphers" | "macs" | "kexalgorithms" | "gssapikexalgorithms" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                let (class, what) = match canon {
                    "ciphers" => (Some(Class::Cipher), "Bad SSH2 cipher spec"),
                    "macs" => (Some(Class::Mac), "Bad SSH2 mac spec"),
                    "kexalgorithms" => (Some(Class::Kex), "Bad SSH2 KexAlgorithms"),
                    _ => (None, ""),
                };
                if let Some(class) = class {
                    match algorithms::validate(class, &arg, &b) {
                        Ok(()) => {}
                        Err(ListError::Unknown(_)) | Err(ListError::Empty) => {
                            fatal_at!("{what} '{arg}'.")
                        }
                    }
                }
                // No activep check in OpenSSH: these are global-only, first wins.
                p.options.set_str_first(canon, arg, &at);
            }
            "pubkeyauthoptions" => {
                let mut v = 0;
                while let Some(arg) = av.next() {
                    if arg.eq_ignore_ascii_case("none") {
                        continue;
                    } else if arg.eq_ignore_ascii_case("touch-required") {
                        v |= 1;
                    } else if arg.eq_ignore_ascii_case("verify-required") {
                        v |= 2;
                    } else {
                        error(
                            p,
                            file,
                            lineno,
                            &keyword,
                            format!("unsupported {keyword} option {arg}"),
                        );
                        return Ok(false);
                    }
                }
                if act {
                    p.options.set_int_first(canon, v, &at);
                }
            }
            "permituserenvironment" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                if act && !p.options.ints.contains_key(canon) {
                    let v = match arg.as_str() {
                        "yes" => 1,
                        "no" => 0,
                        _ => {
                            p.options.strs.insert(canon, arg.clone());
                            1
                        }
                    };
                    p.options.set_int_first(canon, v, &at);
                }
            }
            "rekeylimit" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                let v = if arg == "default" {
                    0
                } else {
                    match scan_scaled(&arg) {
                        Some(v) if v == 0 || v >= 16 => v,
                        Some(_) => fatal_at!("{keyword} too small"),
                        None => fatal_at!("Bad {keyword} number '{arg}': Invalid argument"),
                    }
                };
                if act && p.options.rekey_limit.is_none() {
                    p.options.rekey_limit = Some(v);
                    p.options.origin.insert("rekeylimit", at.clone());
                }
                if av.remaining() > 0 {
                    if av.peek() == Some("none") {
                        av.next();
                    } else {
                        let Some(t) = parse_time(av.next()) else {
                            fatal_at!("invalid time value.");
                        };
                        if act && p.options.rekey_interval.is_none() {
                            p.options.rekey_interval = Some(t);
                        }
                    }
                }
            }
            "syslogfacility" => {
                let arg = av.next().unwrap_or_default();
                let Some(v) = FACILITIES.iter().position(|f| f.eq_ignore_ascii_case(&arg)) else {
                    fatal_at!("unsupported log facility '{arg}'");
                };
                p.options.set_int_first(canon, v as i64, &at);
            }
            "loglevel" => {
                let arg = av.next().unwrap_or_default();
                let Some(v) = level_number(&arg) else {
                    fatal_at!("unsupported log level '{arg}'");
                };
                if act {
                    p.options.set_int_first(canon, v, &at);
                }
            }
            "logverbose" | "channeltimeout" => {
                let first = p.options.list(canon).is_empty();
                let mut i = 0;
                let mut items = Vec::new();
                while let Some(arg) = av.next() {
                    if canon == "logverbose" && arg.is_empty() {
                        error(
                            p,
                            file,
                            lineno,
                            &keyword,
                            format!("keyword {keyword} empty argument"),
                        );
                        return Ok(false);
                    }
                    if arg.eq_ignore_ascii_case("none") {
                        if i > 0 || av.remaining() > 0 {
                            error(
                                p,
                                file,
                                lineno,
                                &keyword,
                                format!("keyword {keyword} \"none\" argument must appear alone."),
                            );
                            return Ok(false);
                        }
                    } else if canon == "channeltimeout" && !valid_timeout(&arg) {
                        fatal_at!("invalid channel timeout {arg}");
                    }
                    i += 1;
                    items.push(arg);
                }
                if items.is_empty() && b.at_least(9, 7) {
                    fatal_at!("no {keyword} specified");
                }
                if first && act {
                    for a in items {
                        p.options.push(canon, a, &at);
                    }
                }
            }
            "allowusers" | "denyusers" => {
                let mut any = false;
                while let Some(arg) = av.next() {
                    if arg.is_empty() || !matching::user_pattern_valid(&arg) {
                        fatal_at!("invalid {keyword} pattern: \"{arg}\"");
                    }
                    any = true;
                    if act {
                        p.options.push(canon, arg, &at);
                    }
                }
                if !any && b.at_least(9, 7) {
                    fatal_at!("no {keyword} specified");
                }
            }
            "allowgroups" | "denygroups" => {
                let mut any = false;
                while let Some(arg) = av.next() {
                    if arg.is_empty() {
                        fatal_at!("empty {keyword} pattern");
                    }
                    any = true;
                    if act {
                        p.options.push(canon, arg, &at);
                    }
                }
                if !any && b.at_least(9, 7) {
                    fatal_at!("no {keyword} specified");
                }
            }
            "subsystem" => {
                if !b.at_least(9, 5) && p.options.subsystems.len() >= 256 {
                    fatal_at!("too many subsystems defined.");
                }
                let Some(name) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                if !act {
                    // 9.5+ consume the line; before, one more word was taken (the rest then
                    // fails the extra-arguments check, as in OpenSSH).
                    if b.at_least(9, 5) {
                        av.consume();
                    } else {
                        av.next();
                    }
                } else if p.options.subsystems.iter().any(|(n, _, _)| *n == name) {
                    if !b.at_least(9, 5) {
                        fatal_at!("Subsystem '{name}' already defined.");
                    }
                    // 9.5+: logged at debug level and ignored.
                    av.consume();
                } else {
                    let Some(cmd) = av.next().filter(|a| !a.is_empty()) else {
                        fatal_at!("Missing subsystem command.");
                    };
                    let rest: Vec<String> = std::iter::from_fn(|| av.next()).collect();
                    let full = if b.at_least(9, 5) {
                        // argv_assemble: the command and its arguments re-quoted.
                        let head = argv_assemble(std::slice::from_ref(&cmd));
                        let tail = argv_assemble(&rest);
                        if tail.is_empty() {
                            head
                        } else {
                            format!("{head} {tail}")
                        }
                    } else {
                        std::iter::once(cmd.clone())
                            .chain(rest)
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    p.options.subsystems.push((name, cmd, full));
                }
            }
            "maxstartups" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                let nums = scanf_ints(&arg, 3);
                let (begin, rate, full) = match nums.as_slice() {
                    [a, r, f] => {
                        if a > f || *r > 100 || *r < 1 {
                            fatal_at!("Invalid {keyword} spec.");
                        }
                        (*a, *r, *f)
                    }
                    [a] => {
                        let (_, r, _) = p.options.max_startups.unwrap_or((-1, -1, -1));
                        (*a, r, *a)
                    }
                    _ => fatal_at!("Invalid {keyword} spec."),
                };
                if full <= 0 || begin <= 0 {
                    fatal_at!("Invalid {keyword} spec.");
                }
                let rate = if rate == -1 { 30 } else { rate };
                p.options.max_startups = Some((begin, rate, full));
                p.options.origin.insert("maxstartups", at.clone());
            }
            "persourcenetblocksize" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                let nums = scanf_ints(&arg, 2);
                let ok = match nums.as_slice() {
                    [a, c] => (0..=32).contains(a) && (0..=128).contains(c),
                    [a] => (0..=32).contains(a),
                    _ => false,
                };
                if !ok {
                    fatal_at!("Invalid {keyword} spec.");
                }
                if act {
                    // With one number OpenSSH stores an uninitialised second value; Debian 12's
                    // sshd prints 0 there (checked by the sshd -T differential test).
                    let v6 = nums.get(1).copied().unwrap_or(0);
                    p.options.per_source_netblock = Some((nums[0], v6));
                }
            }
            "persourcemaxstartups" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                let v = if arg == "none" {
                    i64::from(i32::MAX)
                } else {
                    match atoi_err(Some(&arg)) {
                        Ok(v) => v,
                        Err(e) => fatal_at!("{keyword} integer value {e}."),
                    }
                };
                if act {
                    if b.at_least(9, 5) {
                        p.options.set_int_first(canon, v, &at);
                    } else {
                        p.options.set_int_last(canon, v, &at);
                    }
                }
            }
            "persourcepenaltyexemptlist" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("missing argument.");
                };
                if matching::addr_list(None, &arg) != 0 {
                    fatal_at!("keyword {keyword} invalid address argument.");
                }
                if act {
                    p.options.set_str_first(canon, arg, &at);
                }
            }
            "persourcepenalties" => {
                let mut any = false;
                while let Some(arg) = av.next() {
                    any = true;
                    let lower = arg.to_ascii_lowercase();
                    if lower == "no" || lower == "yes" {
                        if av.remaining() > 0 {
                            fatal_at!("keyword {keyword} \"{arg}\" argument must appear alone.");
                        }
                        if act && p.options.penalties.enabled.is_none() {
                            p.options.penalties.enabled = Some(lower == "yes");
                        }
                        continue;
                    }
                    let (field, value) = match penalty_item(&arg, b) {
                        Ok(x) => x,
                        Err(msg) => {
                            return fatal(p, file, lineno, &keyword, msg.replace("{kw}", &keyword));
                        }
                    };
                    if act && !p.options.penalties.values.contains_key(field) {
                        p.options.penalties.values.insert(field, value);
                        p.options.penalties.enabled = Some(true);
                    }
                }
                if !any {
                    fatal_at!("no {keyword} specified");
                }
            }
            "authorizedkeysfile" => {
                let first = p.options.list(canon).is_empty();
                let mut items = Vec::new();
                while let Some(arg) = av.next() {
                    if arg.is_empty() {
                        error(
                            p,
                            file,
                            lineno,
                            &keyword,
                            format!("keyword {keyword} empty argument"),
                        );
                        return Ok(false);
                    }
                    items.push(tilde_expand(&arg, self.accounts));
                }
                if items.is_empty() && b.at_least(9, 7) {
                    fatal_at!("no {keyword} specified");
                }
                if act && first {
                    for a in items {
                        p.options.push(canon, a, &at);
                    }
                }
            }
            "authorizedprincipalsfile" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                if act {
                    let v = tilde_expand(&arg, self.accounts);
                    p.options.set_str_first(canon, v, &at);
                }
            }
            "acceptenv" => {
                let mut any = false;
                while let Some(arg) = av.next() {
                    if arg.is_empty() || arg.contains('=') {
                        fatal_at!("Invalid environment name.");
                    }
                    any = true;
                    if act {
                        p.options.push(canon, arg, &at);
                    }
                }
                if !any && b.at_least(9, 7) {
                    fatal_at!("no {keyword} specified");
                }
            }
            "setenv" => {
                let first = p.options.list(canon).is_empty();
                let mut items: Vec<String> = Vec::new();
                while let Some(arg) = av.next() {
                    if arg.is_empty() || !arg.contains('=') {
                        fatal_at!("Invalid environment.");
                    }
                    let name = arg.split('=').next().unwrap_or("");
                    if items
                        .iter()
                        .any(|i| i.split('=').next().unwrap_or("") == name)
                    {
                        continue;
                    }
                    items.push(arg);
                }
                if items.is_empty() && b.at_least(9, 7) {
                    fatal_at!("no {keyword} specified");
                }
                if act && first {
                    for a in items {
                        p.options.push(canon, a, &at);
                    }
                }
            }
            "permittunnel" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                let Some(v) = options::PERMIT_TUNNEL
                    .iter()
                    .find(|(k, _)| *k == arg)
                    .map(|(_, v)| *v)
                else {
                    fatal_at!("bad {keyword} argument {arg}");
                };
                if act {
                    p.options.set_int_first(canon, v, &at);
                }
            }
            "include" => {
                let mut n = 0;
                while let Some(arg2) = av.next() {
                    if arg2.is_empty() {
                        error(
                            p,
                            file,
                            lineno,
                            &keyword,
                            format!("keyword {keyword} empty argument"),
                        );
                        return Ok(false);
                    }
                    n += 1;
                    let selector = if arg2.starts_with('/') || arg2.starts_with('~') {
                        arg2.clone()
                    } else {
                        format!("{SSHDIR}/{arg2}")
                    };
                    let oactive = *active;
                    let child_flags = if *inc_flags & MATCH_ONLY != 0 {
                        MATCH_ONLY
                    } else if oactive {
                        0
                    } else {
                        NEVERMATCH
                    };
                    let cached: Vec<IncludeItem> = self
                        .includes
                        .iter()
                        .filter(|i| i.selector == selector)
                        .cloned()
                        .collect();
                    if !cached.is_empty() {
                        for item in cached {
                            if let Some((path, contents)) = item.file {
                                self.parse_depth(
                                    p,
                                    &path,
                                    &contents,
                                    conn,
                                    child_flags,
                                    active,
                                    depth + 1,
                                )?;
                            }
                            *active = oactive;
                        }
                        continue;
                    }
                    let matches = self.glob(&selector);
                    if matches.is_empty() {
                        self.includes.push(IncludeItem {
                            selector: selector.clone(),
                            file: None,
                        });
                    }
                    for path in matches {
                        self.included_files += 1;
                        if self.included_files > MAX_INCLUDED_FILES {
                            fatal_at!("include \"{selector}\" glob failed");
                        }
                        let contents = match self.fs.read_limited(&path, MAX_FILE) {
                            Ok(bytes) => Rc::new(load_lines(&bytes)),
                            Err(e) => {
                                // load_server_config: perror(filename); exit(1).
                                return fatal(p, &path, 0, "", format!("{path}: {e}"));
                            }
                        };
                        self.parse_depth(
                            p,
                            &path,
                            &contents,
                            conn,
                            child_flags,
                            active,
                            depth + 1,
                        )?;
                        *active = oactive;
                        self.includes.push(IncludeItem {
                            selector: selector.clone(),
                            file: Some((path, contents)),
                        });
                    }
                }
                if n == 0 {
                    fatal_at!("{keyword} missing filename argument");
                }
            }
            "match" => {
                let nevermatch = *inc_flags & NEVERMATCH != 0;
                let ci = if nevermatch { None } else { conn };
                let value = match self.match_line(p, str_rest, file, lineno, ci) {
                    Ok(v) => v,
                    Err(()) => fatal_at!("Bad Match condition"),
                };
                *active = if nevermatch { false } else { value };
                if value && !nevermatch && conn.is_some() {
                    p.matched.push((file.to_string(), lineno));
                }
                *inc_flags &= !MATCH_ONLY;
                av.consume();
            }
            "permitopen" | "permitlisten" => {
                let Some(first_arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                let unset = p.options.list(canon).is_empty();
                if first_arg == "any" || first_arg == "none" {
                    if act && unset {
                        p.options.push(canon, first_arg, &at);
                    }
                } else {
                    let mut arg = Some(first_arg);
                    let mut items = Vec::new();
                    while let Some(a) = arg.filter(|a| !a.is_empty()) {
                        let (whole, port) = if canon == "permitlisten" && !a.contains(':') {
                            (format!("*:{a}"), Some(a.clone()))
                        } else {
                            let Some((_h, rest)) = hpdelim(&a) else {
                                fatal_at!("{keyword} missing host");
                            };
                            (a.clone(), rest)
                        };
                        match port {
                            Some(pt) if permitopen_port(&pt) => {}
                            _ => fatal_at!("{keyword} bad port number"),
                        }
                        items.push(whole);
                        arg = av.next();
                    }
                    if act && unset {
                        for i in items {
                            p.options.push(canon, i, &at);
                        }
                    }
                }
            }
            "forcecommand"
            | "versionaddendum"
            | "authorizedkeyscommand"
            | "authorizedprincipalscommand" => {
                let text = str_rest.trim_start_matches([' ', '\t', '\r', '\n']);
                if canon == "versionaddendum" && text.contains('\r') {
                    fatal_at!("Invalid {keyword} argument");
                }
                if (canon == "authorizedkeyscommand" || canon == "authorizedprincipalscommand")
                    && !text.starts_with('/')
                    && !text.eq_ignore_ascii_case("none")
                {
                    fatal_at!("{keyword} must be an absolute path");
                }
                let value = if canon == "versionaddendum" {
                    // The comment is stripped from the line after the value was taken: the
                    // value keeps it (OpenSSH's order of operations).
                    if text.eq_ignore_ascii_case("none") {
                        String::new()
                    } else {
                        text.to_string()
                    }
                } else {
                    text.to_string()
                };
                // OpenSSH checks authorized_keys_command for both command keywords (a bug it
                // has): the principals command is only set while no keys command is.
                let gate = if canon == "authorizedprincipalscommand" {
                    !p.options.strs.contains_key("authorizedkeyscommand")
                } else {
                    !p.options.strs.contains_key(canon)
                };
                if act && gate {
                    p.options.strs.insert(canon, value);
                    p.options.origin.insert(canon, at.clone());
                }
                av.consume();
            }
            "chrootdirectory"
            | "authorizedkeyscommanduser"
            | "authorizedprincipalscommanduser"
            | "pamservicename"
            | "sshdsessionpath"
            | "sshdauthpath" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                if act {
                    p.options.set_str_first(canon, arg, &at);
                }
            }
            "securitykeyprovider" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                if act {
                    let v = if arg.eq_ignore_ascii_case("internal") {
                        arg
                    } else {
                        derelativise(&arg, self.accounts)
                    };
                    p.options.set_str_first(canon, v, &at);
                }
            }
            "ipqos" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                let Some(v1) = parse_ipqos(&arg) else {
                    fatal_at!("Bad {keyword} value: {arg}");
                };
                let v2 = match av.next() {
                    None => v1,
                    Some(a) => match parse_ipqos(&a) {
                        Some(v) => v,
                        None => fatal_at!("Bad {keyword} value: {a}"),
                    },
                };
                if act {
                    p.options.ip_qos = Some((v1, v2));
                    p.options.origin.insert("ipqos", at.clone());
                }
            }
            "authenticationmethods" => {
                let first = p.options.list(canon).is_empty();
                let mut seen_any = false;
                let mut parsed = false;
                let mut items = Vec::new();
                while let Some(arg) = av.next() {
                    if arg == "any" {
                        // Up to 9.6 "any" also clashed with a list set by an earlier line.
                        let earlier = !b.at_least(9, 7) && !p.options.list(canon).is_empty();
                        if earlier || !items.is_empty() {
                            fatal_at!("\"any\" must appear alone in {keyword}");
                        }
                        seen_any = true;
                    } else if seen_any {
                        fatal_at!("\"any\" must appear alone in {keyword}");
                    } else if let Err(bad) = auth_methods_valid(&arg) {
                        // auth2_methods_valid logs the method first, without a file name.
                        push_raw(
                            p,
                            file,
                            lineno,
                            &keyword,
                            format!("Unknown authentication method \"{bad}\" in list"),
                        );
                        fatal_at!("invalid {keyword} method list.");
                    }
                    parsed = true;
                    items.push(arg);
                }
                if !parsed {
                    fatal_at!("no {keyword} specified");
                }
                if first && act {
                    for a in items {
                        p.options.push(canon, a, &at);
                    }
                }
            }
            "streamlocalbindmask" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                let Some(v) = strtol_octal(&arg).filter(|v| (0..=0o777).contains(v)) else {
                    fatal_at!("Invalid {keyword}.");
                };
                if act {
                    p.options.set_int_last(canon, v, &at);
                }
            }
            "fingerprinthash" => {
                let Some(arg) = av.next().filter(|a| !a.is_empty()) else {
                    fatal_at!("{keyword} missing argument.");
                };
                let Some(v) = DIGESTS.iter().position(|d| d.eq_ignore_ascii_case(&arg)) else {
                    fatal_at!("Invalid {keyword} algorithm \"{arg}\".");
                };
                if act {
                    p.options.set_int_last(canon, v as i64, &at);
                }
            }
            "rdomain" => {
                // Linux builds have no routing-domain support.
                fatal_at!("setting RDomain not supported on this platform.");
            }
            "unusedconnectiontimeout" => {
                if av.peek().is_some_and(|a| a.eq_ignore_ascii_case("none")) {
                    av.next();
                    if act {
                        p.options.set_int_first(canon, 0, &at);
                    }
                } else {
                    let Some(v) = parse_time(av.next()) else {
                        fatal_at!("{}", time_error(&av));
                    };
                    if act {
                        p.options.set_int_first(canon, v, &at);
                    }
                }
            }
            _ => {
                // A keyword of a newer release or a vendor's patch that this model does not
                // interpret (e.g. PerSourcePenalties): its arguments are taken as they are.
                let rest: Vec<String> = std::iter::from_fn(|| av.next()).collect();
                if act && !rest.is_empty() {
                    p.options.set_str_first(canon, rest.join(" "), &at);
                }
            }
        }
        Ok(self.extra(p, &av, file, lineno, &keyword))
    }

    /// Whether the guest's sshd program holds the keyword as a string of its own (keyword tables
    /// are NUL-terminated lower-case strings in the binary).
    fn binary_knows(&mut self, keyword: &str) -> bool {
        let fs = self.fs;
        let path = self.binary_path.clone();
        let bytes = self
            .binary
            .get_or_insert_with(|| fs.read_limited(&path, 32 << 20).ok());
        let Some(bytes) = bytes else {
            return false;
        };
        let mut needle = vec![0u8];
        needle.extend(keyword.to_ascii_lowercase().bytes());
        needle.push(0);
        needle.len() > 4 && bytes.windows(needle.len()).any(|w| w == needle.as_slice())
    }

    /// The extra-arguments check (8.7 and later).
    fn extra(&self, p: &mut Parsed, av: &Args, file: &str, lineno: usize, kw: &str) -> bool {
        if (av.remaining() > 0 || av.extra) && self.build.at_least(8, 7) {
            error(
                p,
                file,
                lineno,
                kw,
                format!("keyword {kw} extra arguments at end of line"),
            );
            return false;
        }
        true
    }

    /// glob(3) over the guest, sorted like the C locale.
    fn glob(&self, pattern: &str) -> Vec<String> {
        let mut out: Vec<String> = match crate::fs::glob::glob(self.fs, pattern) {
            Ok(v) => v
                .into_iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        out.sort();
        out
    }

    /// `match_cfg_line`: whether the criteria match; Err on a bad condition. Up to 9.8 the
    /// criteria are split with `strdelim` (so `User=alice` splits at the `=`); from 9.9 with
    /// `argv_split`, and 10.0 accepts `user=alice` style criteria explicitly.
    fn match_line(
        &self,
        p: &mut Parsed,
        criteria: &str,
        file: &str,
        lineno: usize,
        ci: Option<&Conn>,
    ) -> Result<bool, ()> {
        let b = self.build;
        let tokens: Vec<String> = if b.at_least(9, 9) {
            lexer::argv_split(criteria).unwrap_or_default()
        } else {
            lexer::strdelim_all(criteria).unwrap_or_default()
        };
        let mut toks = tokens.into_iter();
        let mut result = true;
        let mut attributes = 0;
        let mut needs: Vec<&'static str> = Vec::new();
        let err = |p: &mut Parsed, msg: String| {
            // match_cfg_line's errors carry no file name.
            p.problems.push(Problem {
                level: Level::Error,
                file: file.to_string(),
                line: lineno,
                keyword: "Match".into(),
                text: msg.clone(),
                message: msg,
            });
        };
        while let Some(attrib) = toks.next() {
            if attrib.is_empty() {
                break;
            }
            if attrib.starts_with('#') {
                break;
            }
            attributes += 1;
            let lower = attrib.to_ascii_lowercase();
            if lower == "all" {
                let arg = toks.next();
                if attributes > 1
                    || arg
                        .as_ref()
                        .is_some_and(|a| !a.is_empty() && !a.starts_with('#'))
                {
                    err(
                        p,
                        "'all' cannot be combined with other Match attributes".into(),
                    );
                    return Err(());
                }
                return Ok(true);
            }
            if lower == "invalid-user" && b.at_least(9, 9) {
                // Matches a user who does not exist (sshd -T: only with "invalid-user" in -C).
                if !ci.is_some_and(|c| c.invalid_user) {
                    result = false;
                }
                continue;
            }
            const KEYED: &[&str] = &[
                "user=",
                "group=",
                "host=",
                "address=",
                "localaddress=",
                "localport=",
                "rdomain=",
                "version=",
            ];
            let (attrib, lower, arg) = match KEYED.iter().find(|k| lower.starts_with(**k)) {
                Some(k) if b.at_least(10, 0) => {
                    let (a, v) = attrib.split_at(k.len() - 1);
                    (
                        a.to_string(),
                        a.to_ascii_lowercase(),
                        Some(v[1..].to_string()),
                    )
                }
                _ => (attrib.clone(), lower, toks.next()),
            };
            let arg = match arg {
                Some(a) if !a.is_empty() && !a.starts_with('#') => a,
                _ => {
                    err(p, format!("Missing Match criteria for {attrib}"));
                    return Err(());
                }
            };
            match lower.as_str() {
                "user" => match ci.and_then(|c| c.user.as_deref()) {
                    Some(u) => {
                        if matching::pattern_list(u, &arg, false) != 1 {
                            result = false;
                        }
                    }
                    None => {
                        if ci.is_some() {
                            needs.push("user");
                        }
                        result = false;
                    }
                },
                "group" => match ci.and_then(|c| c.user.as_deref()) {
                    Some(u) => {
                        let ok = self.accounts.groups_of(u).is_some_and(|groups| {
                            let mut found = false;
                            for g in &groups {
                                match matching::pattern_list(g, &arg, false) {
                                    -1 => return false,
                                    1 => found = true,
                                    _ => {}
                                }
                            }
                            found
                        });
                        if !ok {
                            result = false;
                        }
                    }
                    None => {
                        if ci.is_some() {
                            needs.push("user");
                        }
                        result = false;
                    }
                },
                "host" => match ci.and_then(|c| c.host.as_deref()) {
                    Some(h) => {
                        if matching::hostname(h, &arg) != 1 {
                            result = false;
                        }
                    }
                    None => {
                        if ci.is_some() {
                            needs.push("host");
                        }
                        result = false;
                    }
                },
                "address" | "localaddress" => {
                    let (a, what) = if lower == "address" {
                        (ci.and_then(|c| c.addr.as_deref()), "addr")
                    } else {
                        (ci.and_then(|c| c.laddr.as_deref()), "laddr")
                    };
                    match a {
                        None => {
                            if matching::addr_list(None, &arg) != 0 {
                                err(
                                    p,
                                    format!(
                                        "Invalid Match {} argument '{arg}' at line {lineno}",
                                        if what == "addr" {
                                            "address"
                                        } else {
                                            "localaddress"
                                        }
                                    ),
                                );
                                return Err(());
                            }
                            if ci.is_some() {
                                needs.push(what);
                            }
                            result = false;
                        }
                        Some(a) => match matching::addr_list(Some(a), &arg) {
                            1 => {}
                            -2 => return Err(()),
                            _ => result = false,
                        },
                    }
                }
                "localport" => {
                    let port = arg.parse::<u16>().ok().filter(|_| !arg.starts_with('+'));
                    let Some(port) = port else {
                        err(p, format!("Invalid LocalPort '{arg}' on Match line"));
                        return Err(());
                    };
                    match ci.and_then(|c| c.lport) {
                        Some(l) => {
                            if l != port {
                                result = false;
                            }
                        }
                        None => {
                            if ci.is_some() {
                                needs.push("lport");
                            }
                            result = false;
                        }
                    }
                }
                "rdomain" => match ci.and_then(|c| c.rdomain.as_deref()) {
                    Some(r) => {
                        if matching::pattern_list(r, &arg, false) != 1 {
                            result = false;
                        }
                    }
                    None => {
                        if ci.is_some() {
                            needs.push("rdomain");
                        }
                        result = false;
                    }
                },
                "version" if b.at_least(10, 0) => {
                    let ver = format!("OpenSSH_{}.{}", b.major, b.minor);
                    if matching::pattern_list(&ver, &arg, false) != 1 {
                        result = false;
                    }
                }
                _ => {
                    err(p, format!("Unsupported Match attribute {attrib}"));
                    return Err(());
                }
            }
        }
        if attributes == 0 {
            err(p, "One or more attributes required for Match".into());
            return Err(());
        }
        // A block that failed only for lack of an attribute could match a real connection.
        if !needs.is_empty() {
            needs.sort();
            needs.dedup();
            p.undecided.push(Undecided {
                file: file.to_string(),
                line: lineno,
                criteria: criteria.to_string(),
                needs,
            });
        }
        Ok(result)
    }
}

/// Records a message; `label` is how sshd names the file in it.
fn push(p: &mut Parsed, level: Level, file: &str, line: usize, kw: &str, message: String) {
    let label = if p.reprocess && file == p.main_path {
        "reprocess config"
    } else {
        file
    };
    let text = if line == 0 {
        message.clone()
    } else if message.starts_with("Bad configuration option") {
        // parse_token's error has a colon after the file name.
        format!("{label}: line {line}: {message}")
    } else {
        format!("{label} line {line}: {message}")
    };
    p.problems.push(Problem {
        level,
        file: file.to_string(),
        line,
        keyword: kw.to_string(),
        message,
        text,
    });
}

/// A message sshd logs without a file name (from helpers such as auth2_methods_valid).
fn push_raw(p: &mut Parsed, file: &str, line: usize, kw: &str, message: String) {
    p.problems.push(Problem {
        level: Level::Error,
        file: file.to_string(),
        line,
        keyword: kw.to_string(),
        text: message.clone(),
        message,
    });
}

fn error(p: &mut Parsed, file: &str, line: usize, kw: &str, message: String) {
    push(p, Level::Error, file, line, kw, message);
}

fn fatal<T>(p: &mut Parsed, file: &str, line: usize, kw: &str, message: String) -> Result<T, Stop> {
    push(p, Level::Fatal, file, line, kw, message);
    p.fatal = true;
    Err(Stop)
}

/// The argument vector with OpenSSH's `argv_next` / `argv_consume`.
struct Args {
    items: Vec<String>,
    pos: usize,
    /// Set when words remain that argv does not count (a Match line's leftovers).
    extra: bool,
}

impl Args {
    fn new(items: Vec<String>) -> Args {
        Args {
            items,
            pos: 0,
            extra: false,
        }
    }

    fn next(&mut self) -> Option<String> {
        let v = self.items.get(self.pos).cloned();
        if v.is_some() {
            self.pos += 1;
        }
        v
    }

    fn peek(&self) -> Option<&str> {
        self.items.get(self.pos).map(String::as_str)
    }

    fn remaining(&self) -> usize {
        self.items.len() - self.pos
    }

    fn consume(&mut self) {
        self.pos = self.items.len();
    }
}

fn time_error(_av: &Args) -> String {
    "invalid time value.".into()
}

/// `convtime`: `90`, `90s`, `1h30m`, …; None when invalid (or missing).
pub fn parse_time(s: Option<String>) -> Option<i64> {
    let s = s?;
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let mut total: i64 = 0;
    let mut i = 0;
    while i < b.len() {
        // strtol: optional blanks and sign, then digits.
        let start = i;
        let mut j = i;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let digits = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == digits {
            return None;
        }
        let secs: i64 = std::str::from_utf8(&b[start..j])
            .ok()?
            .trim()
            .parse()
            .ok()?;
        if secs < 0 || secs >= i64::from(i32::MAX) {
            return None;
        }
        let mult = match b.get(j) {
            None => 1,
            Some(b's' | b'S') => {
                j += 1;
                1
            }
            Some(b'm' | b'M') => {
                j += 1;
                60
            }
            Some(b'h' | b'H') => {
                j += 1;
                3600
            }
            Some(b'd' | b'D') => {
                j += 1;
                86400
            }
            Some(b'w' | b'W') => {
                j += 1;
                604800
            }
            _ => return None,
        };
        if secs > i64::from(i32::MAX) / mult {
            return None;
        }
        total += secs * mult;
        if total > i64::from(i32::MAX) {
            return None;
        }
        i = j;
    }
    Some(total)
}

/// `atoi_err`: 0..=INT_MAX, decimal, with strtonum's wording on failure.
fn atoi_err(s: Option<&str>) -> Result<i64, &'static str> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Err("missing");
    };
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    match t.parse::<i64>() {
        Ok(v) if v < 0 => Err("too small"),
        Ok(v) if v > i64::from(i32::MAX) => Err("too large"),
        Ok(v) => Ok(v),
        Err(_) => {
            let digits = t.trim_start_matches(['+', '-']);
            if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
                if t.starts_with('-') {
                    Err("too small")
                } else {
                    Err("too large")
                }
            } else {
                Err("invalid")
            }
        }
    }
}

/// sscanf("%d:%d:%d"): as many leading integers as parse.
fn scanf_ints(s: &str, max: usize) -> Vec<i64> {
    let mut out = Vec::new();
    for part in s.splitn(max, ':') {
        let t = part.trim_start();
        let end = t
            .char_indices()
            .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+'))))
            .map(|(i, _)| i)
            .unwrap_or(t.len());
        match t[..end].parse::<i64>() {
            Ok(v) => out.push(v),
            Err(_) => break,
        }
        if end != t.len() {
            break;
        }
    }
    out
}

/// `scan_scaled`: a number with an optional K/M/G/T/P/E suffix (powers of 1024).
fn scan_scaled(s: &str) -> Option<i64> {
    let (num, mult) = match s.chars().last()? {
        c if c.is_ascii_digit() => (s, 1i64),
        c => {
            let m = match c.to_ascii_uppercase() {
                'B' => 1,
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                'P' => 1 << 50,
                'E' => 1 << 60,
                _ => return None,
            };
            (&s[..s.len() - 1], m)
        }
    };
    if let Some((whole, frac)) = num.split_once('.') {
        let w: i64 = whole.parse().ok()?;
        let f: f64 = format!("0.{frac}").parse().ok()?;
        return w.checked_mul(mult).map(|v| v + (f * mult as f64) as i64);
    }
    num.parse::<i64>().ok()?.checked_mul(mult)
}

fn strtol_octal(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let end = t
        .char_indices()
        .find(|(_, c)| !('0'..='7').contains(c))
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    if end == 0 {
        return None;
    }
    i64::from_str_radix(&t[..end], 8).ok()
}

/// One `PerSourcePenalties` item: (field, value), or sshd's message ({kw} = the keyword).
fn penalty_item(arg: &str, b: Build) -> Result<(&'static str, i64), String> {
    const TIMES: &[(&str, &str)] = &[
        ("crash:", "crash"),
        ("authfail:", "authfail"),
        ("noauth:", "noauth"),
        ("grace-exceeded:", "grace-exceeded"),
        ("refuseconnection:", "refuseconnection"),
        ("max:", "max"),
        ("min:", "min"),
    ];
    for (prefix, field) in TIMES {
        if *field == "refuseconnection" && !b.at_least(9, 9) {
            continue;
        }
        if let Some(t) = arg.strip_prefix(prefix) {
            return parse_time(Some(t.to_string()))
                .map(|v| (*field, v))
                .ok_or_else(|| "invalid {kw} time value.".to_string());
        }
    }
    for (prefix, field) in [
        ("max-sources4:", "max-sources4"),
        ("max-sources6:", "max-sources6"),
    ] {
        if let Some(t) = arg.strip_prefix(prefix) {
            return atoi_err(Some(t))
                .map(|v| (field, v))
                .map_err(|e| format!("{{kw}} value {e}."));
        }
    }
    match arg {
        "overflow:deny-all" => Ok(("overflow", 1)),
        "overflow:permissive" => Ok(("overflow", 2)),
        "overflow6:deny-all" => Ok(("overflow6", 1)),
        "overflow6:permissive" => Ok(("overflow6", 2)),
        _ => Err(format!("unsupported {{kw}} keyword {arg}")),
    }
}

/// `argv_assemble`: words joined by spaces; a word with blanks is double-quoted, and `\`, `'`
/// and `"` are escaped with a backslash.
fn argv_assemble(words: &[String]) -> String {
    let mut out = Vec::new();
    for w in words {
        let mut a = String::new();
        let mut ws = false;
        for c in w.chars() {
            match c {
                ' ' | '\t' => {
                    ws = true;
                    a.push(c);
                }
                '\\' | '\'' | '"' => {
                    a.push('\\');
                    a.push(c);
                }
                _ => a.push(c),
            }
        }
        out.push(if ws { format!("\"{a}\"") } else { a });
    }
    out.join(" ")
}

/// `hpdelim`: host and the rest after a `:` (brackets protect IPv6); None for a `/` delimiter
/// or an unclosed bracket.
fn hpdelim(s: &str) -> Option<(String, Option<String>)> {
    let (end, delim_at) = if s.starts_with('[') {
        let close = s.find(']')?;
        let after = close + 1;
        (after, after)
    } else {
        let i = s.find([':', '/']).unwrap_or(s.len());
        (i, i)
    };
    match s.as_bytes().get(delim_at) {
        None => Some((s[..end].to_string(), None)),
        Some(b':') => Some((s[..end].to_string(), Some(s[delim_at + 1..].to_string()))),
        _ => None,
    }
}

fn cleanhostname(h: &str) -> String {
    if h.len() >= 2 && h.starts_with('[') && h.ends_with(']') {
        h[1..h.len() - 1].to_string()
    } else {
        h.to_string()
    }
}

fn permitopen_port(s: &str) -> bool {
    s == "*" || (s.parse::<u32>().is_ok_and(|n| n > 0 && n <= 65535) && !s.starts_with('+'))
}

fn valid_timeout(s: &str) -> bool {
    match s.split_once('=') {
        Some((t, v)) if !t.is_empty() => parse_time(Some(v.to_string())).is_some(),
        _ => false,
    }
}

/// Ok, or the first unknown method.
fn auth_methods_valid(list: &str) -> Result<(), String> {
    const METHODS: &[&str] = &[
        "none",
        "publickey",
        "gssapi-with-mic",
        "password",
        "keyboard-interactive",
        "hostbased",
    ];
    if list.is_empty() {
        return Err(String::new());
    }
    for m in list.split(',') {
        let name = m.split(':').next().unwrap_or(m);
        if !METHODS.contains(&name) {
            return Err(name.to_string());
        }
    }
    Ok(())
}

/// `tilde_expand_filename(path, getuid())`: `~` and `~/…` are root's home (sshd runs as root),
/// `~user/…` that user's.
fn tilde_expand(path: &str, acc: Accounts) -> String {
    let Some(rest) = path.strip_prefix('~') else {
        return path.to_string();
    };
    let (user, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let home = if user.is_empty() {
        acc.users
            .iter()
            .find(|u| u.uid == 0)
            .map(|u| u.home.clone())
            .unwrap_or_else(|| "/root".into())
    } else {
        match acc.users.iter().find(|u| u.name == user) {
            Some(u) => u.home.clone(),
            None => return path.to_string(),
        }
    };
    let home = home.trim_end_matches('/');
    if tail.is_empty() {
        home.to_string()
    } else {
        format!("{home}{tail}")
    }
}

/// `derelativise_path`: `none` stays, `~` expands, a relative path is taken from sshd's working
/// directory, which is `/` for a daemon started by init.
fn derelativise(path: &str, acc: Accounts) -> String {
    if path.eq_ignore_ascii_case("none") {
        return "none".into();
    }
    let e = tilde_expand(path, acc);
    if e.starts_with('/') {
        e
    } else {
        format!("//{e}")
    }
}

const FACILITIES: &[&str] = &[
    "DAEMON", "USER", "AUTH", "AUTHPRIV", "LOCAL0", "LOCAL1", "LOCAL2", "LOCAL3", "LOCAL4",
    "LOCAL5", "LOCAL6", "LOCAL7",
];

/// Log level names: QUIET 0 … DEBUG3 7; DEBUG is DEBUG1.
pub const LEVELS: &[(&str, i64)] = &[
    ("QUIET", 0),
    ("FATAL", 1),
    ("ERROR", 2),
    ("INFO", 3),
    ("VERBOSE", 4),
    ("DEBUG", 5),
    ("DEBUG1", 5),
    ("DEBUG2", 6),
    ("DEBUG3", 7),
];

fn level_number(s: &str) -> Option<i64> {
    LEVELS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, v)| *v)
}

pub fn facility_name(v: i64) -> &'static str {
    usize::try_from(v)
        .ok()
        .and_then(|i| FACILITIES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

pub fn level_name(v: i64) -> &'static str {
    LEVELS
        .iter()
        .find(|(_, n)| *n == v)
        .map(|(s, _)| *s)
        .unwrap_or("UNKNOWN")
}

pub const DIGESTS: &[&str] = &["MD5", "SHA1", "SHA256", "SHA384", "SHA512"];

/// IPQoS names and values (misc.c `ipqos[]`); "none" is INT_MAX.
pub const IPQOS: &[(&str, i64)] = &[
    ("none", i32::MAX as i64),
    ("af11", 0x28),
    ("af12", 0x30),
    ("af13", 0x38),
    ("af21", 0x48),
    ("af22", 0x50),
    ("af23", 0x58),
    ("af31", 0x68),
    ("af32", 0x70),
    ("af33", 0x78),
    ("af41", 0x88),
    ("af42", 0x90),
    ("af43", 0x98),
    ("cs0", 0x00),
    ("cs1", 0x20),
    ("cs2", 0x40),
    ("cs3", 0x60),
    ("cs4", 0x80),
    ("cs5", 0xa0),
    ("cs6", 0xc0),
    ("cs7", 0xe0),
    ("ef", 0xb8),
    ("le", 0x04),
    ("lowdelay", 0x10),
    ("throughput", 0x08),
    ("reliability", 0x04),
];

fn parse_ipqos(s: &str) -> Option<i64> {
    if let Some((_, v)) = IPQOS.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Some(*v);
    }
    // strtol(cp, &ep, 0): decimal, 0x hex or 0 octal.
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        i64::from_str_radix(&s[1..], 8).ok()?
    } else {
        s.parse().ok()?
    };
    (0..=255).contains(&v).then_some(v)
}

pub fn iptos_name(v: i64) -> String {
    IPQOS
        .iter()
        .find(|(_, n)| *n == v)
        .map(|(s, _)| s.to_string())
        .unwrap_or_else(|| format!("0x{v:02x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time(Some("90".into())), Some(90));
        assert_eq!(parse_time(Some("1h30m".into())), Some(5400));
        assert_eq!(parse_time(Some("2x".into())), None);
        assert_eq!(parse_time(Some("".into())), None);
        assert_eq!(parse_time(Some("-1".into())), None);
    }

    #[test]
    fn small_parsers() {
        assert_eq!(atoi_err(Some("6")), Ok(6));
        assert_eq!(atoi_err(Some("x")), Err("invalid"));
        assert_eq!(atoi_err(Some("-1")), Err("too small"));
        assert_eq!(scanf_ints("10:30:100", 3), vec![10, 30, 100]);
        assert_eq!(scanf_ints("10", 3), vec![10]);
        assert_eq!(scan_scaled("1G"), Some(1 << 30));
        assert_eq!(
            hpdelim("[::1]:22"),
            Some(("[::1]".into(), Some("22".into())))
        );
        assert_eq!(hpdelim("host"), Some(("host".into(), None)));
        assert_eq!(hpdelim("a/b"), None);
        assert_eq!(parse_ipqos("af21"), Some(0x48));
        assert_eq!(parse_ipqos("0x10"), Some(0x10));
        assert_eq!(iptos_name(0x10), "lowdelay");
        assert!(auth_methods_valid("publickey,keyboard-interactive:pam").is_ok());
        assert_eq!(auth_methods_valid("publickey,foo"), Err("foo".into()));
    }

    #[test]
    fn nul_cuts_and_joins_lines() {
        let l = load_lines(b"  Port 22\nPermitRootLogin no\0junk\nPasswordAuthentication no\n");
        assert_eq!(l[0], "Port 22");
        assert_eq!(l[1], "PermitRootLogin noPasswordAuthentication no");
    }
}
