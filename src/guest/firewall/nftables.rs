//! nftables: `/etc/nftables.conf` (what nftables.service loads at boot) with its `include`s and
//! `define`s, as tables of chains; the base chains on the `input` hook are evaluated in priority
//! order for a new TCP connection to a port (each must accept it).

use std::collections::BTreeMap;

use super::{At, M, Outcome};
use crate::fs::RootFs;

const MAX_INCLUDES: usize = 64;
const MAX_FILE: u64 = 4 << 20;

#[derive(Clone, Debug, Default)]
pub struct Chain {
    /// `hook input`, its priority and policy (accept when not given).
    pub hook: Option<String>,
    pub priority: i64,
    pub policy: Option<(String, At)>,
    pub rules: Vec<(Vec<String>, At)>,
}

#[derive(Clone, Debug, Default)]
pub struct Ruleset {
    /// (family, table) → chains.
    pub tables: BTreeMap<(String, String), BTreeMap<String, Chain>>,
    pub files: Vec<String>,
    /// Statements this reader does not understand, with where (they are ignored).
    pub skipped: Vec<At>,
}

/// One logical line of nftables input: its words (anonymous sets and quoted strings kept
/// whole), and where it started.
#[derive(Clone, Debug)]
struct Stmt {
    words: Vec<String>,
    line: usize,
    text: String,
}

/// Splits nft syntax into statements: `;` and newlines end one, `{`/`}` open and close blocks
/// (reported as their own words), `{…}` after a rule word is a set.
fn statements(text: &str) -> Vec<Stmt> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut start_line = 1;
    let mut line = 1;
    let mut line_text = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let flush_word = |cur: &mut String, words: &mut Vec<String>| {
        if !cur.is_empty() {
            words.push(std::mem::take(cur));
        }
    };
    let flush_stmt = |words: &mut Vec<String>, out: &mut Vec<Stmt>, l: usize, t: &mut String| {
        if !words.is_empty() {
            out.push(Stmt {
                words: std::mem::take(words),
                line: l,
                text: t.trim().to_string(),
            });
        }
        t.clear();
    };
    while i < chars.len() {
        let c = chars[i];
        if words.is_empty() && cur.is_empty() && !c.is_whitespace() {
            start_line = line;
        }
        match c {
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '\\' if chars.get(i + 1) == Some(&'\n') => {
                i += 2;
                line += 1;
                continue;
            }
            '"' => {
                let mut j = i + 1;
                while j < chars.len() && chars[j] != '"' {
                    j += 1;
                }
                cur.push_str(&chars[i + 1..j.min(chars.len())].iter().collect::<String>());
                line_text.push_str(
                    &chars[i..(j + 1).min(chars.len())]
                        .iter()
                        .collect::<String>(),
                );
                i = j + 1;
                continue;
            }
            '\n' | ';' => {
                flush_word(&mut cur, &mut words);
                flush_stmt(&mut words, &mut out, start_line, &mut line_text);
                if c == '\n' {
                    line += 1;
                }
                i += 1;
                continue;
            }
            '{' => {
                flush_word(&mut cur, &mut words);
                // A set inside a rule or after `elements =`: read to the matching brace.
                let is_set = words.last().is_some_and(|w| {
                    !matches!(w.as_str(), "table" | "chain" | "set" | "map" | "flowtable")
                }) && words.len() >= 2
                    && !matches!(
                        words[0].as_str(),
                        "table" | "chain" | "set" | "map" | "flowtable" | "add" | "create"
                    );
                let is_set = is_set || words.last().is_some_and(|w| w == "=");
                if is_set {
                    let mut depth = 0;
                    let mut j = i;
                    let mut set = String::new();
                    while j < chars.len() {
                        match chars[j] {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            '\n' => line += 1,
                            _ => {}
                        }
                        set.push(chars[j]);
                        j += 1;
                    }
                    set.push('}');
                    line_text.push_str(&set);
                    words.push(set);
                    i = j + 1;
                    continue;
                }
                words.push("{".into());
                flush_stmt(&mut words, &mut out, start_line, &mut line_text);
                i += 1;
                continue;
            }
            '}' => {
                flush_word(&mut cur, &mut words);
                flush_stmt(&mut words, &mut out, start_line, &mut line_text);
                out.push(Stmt {
                    words: vec!["}".into()],
                    line,
                    text: "}".into(),
                });
                i += 1;
                continue;
            }
            c if c.is_whitespace() => {
                flush_word(&mut cur, &mut words);
                line_text.push(c);
            }
            c => {
                cur.push(c);
                line_text.push(c);
            }
        }
        i += 1;
    }
    flush_word(&mut cur, &mut words);
    flush_stmt(&mut words, &mut out, start_line, &mut line_text);
    out
}

fn priority(words: &[String]) -> i64 {
    let base = |w: &str| -> i64 {
        match w {
            "raw" => -300,
            "mangle" => -150,
            "dstnat" => -100,
            "filter" => 0,
            "security" => 50,
            "srcnat" => 100,
            _ => w.parse().unwrap_or(0),
        }
    };
    let Some(i) = words.iter().position(|w| w == "priority") else {
        return 0;
    };
    let mut p = words.get(i + 1).map(|w| base(w)).unwrap_or(0);
    if let (Some(op), Some(n)) = (words.get(i + 2), words.get(i + 3)) {
        let n: i64 = n.parse().unwrap_or(0);
        match op.as_str() {
            "+" => p += n,
            "-" => p -= n,
            _ => {}
        }
    }
    p
}

impl Ruleset {
    /// Loads /etc/nftables.conf (or another main file) and its includes.
    pub fn load(fs: &RootFs, main: &str) -> Option<Ruleset> {
        let mut rs = Ruleset::default();
        let mut defines = BTreeMap::new();
        let mut budget = MAX_INCLUDES;
        rs.load_file(fs, main, &mut defines, &mut budget)?;
        Some(rs)
    }

    fn load_file(
        &mut self,
        fs: &RootFs,
        path: &str,
        defines: &mut BTreeMap<String, String>,
        budget: &mut usize,
    ) -> Option<()> {
        if *budget == 0 {
            return Some(());
        }
        *budget -= 1;
        let text = String::from_utf8_lossy(&fs.read_limited(path, MAX_FILE).ok()?).into_owned();
        self.files.push(path.to_string());
        let stmts = statements(&text);
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("/etc");
        // Block context: (family, table), chain.
        let mut table: Option<(String, String)> = None;
        let mut chain: Option<String> = None;
        let mut depth_other = 0usize;
        for st in stmts {
            // `$name` takes the value of an earlier `define`.
            let w: Vec<String> = st
                .words
                .iter()
                .map(|x| match x.strip_prefix('$').and_then(|n| defines.get(n)) {
                    Some(v) => v.clone(),
                    None => x.clone(),
                })
                .collect();
            let w = &w;
            let at = At {
                file: path.to_string(),
                line: st.line,
                text: st.text.clone(),
            };
            if depth_other > 0 {
                if w[0] == "}" {
                    depth_other -= 1;
                } else if w.last().is_some_and(|x| x == "{") {
                    depth_other += 1;
                }
                continue;
            }
            match w[0].as_str() {
                "}" => {
                    if chain.is_some() {
                        chain = None;
                    } else {
                        table = None;
                    }
                }
                "define" => {
                    if let (Some(n), Some(v)) = (w.get(1), w.get(3)) {
                        defines.insert(n.clone(), v.clone());
                    }
                }
                "flush" if w.get(1).is_some_and(|x| x == "ruleset") => {
                    self.tables.clear();
                }
                "include" => {
                    if let Some(p) = w.get(1) {
                        let full = if p.starts_with('/') {
                            p.clone()
                        } else {
                            format!("{dir}/{p}")
                        };
                        let mut matches: Vec<String> = crate::fs::glob::glob(fs, &full)
                            .map(|v| {
                                v.into_iter()
                                    .map(|p| p.to_string_lossy().into_owned())
                                    .collect()
                            })
                            .unwrap_or_default();
                        matches.sort();
                        for m in matches {
                            let _ = self.load_file(fs, &m, defines, budget);
                        }
                    }
                }
                "table" if w.len() >= 3 && table.is_none() => {
                    let (fam, name) = if w.len() >= 4 && w[3] == "{" || w.len() == 4 {
                        (w[1].clone(), w[2].clone())
                    } else {
                        ("ip".to_string(), w[1].clone())
                    };
                    self.tables.entry((fam.clone(), name.clone())).or_default();
                    if w.last().is_some_and(|x| x == "{") {
                        table = Some((fam, name));
                    }
                }
                "chain" if table.is_some() && chain.is_none() => {
                    let name = w[1].clone();
                    if let Some(t) = &table {
                        self.tables
                            .entry(t.clone())
                            .or_default()
                            .entry(name.clone())
                            .or_default();
                    }
                    chain = Some(name);
                }
                "set" | "map" | "flowtable" | "counter" | "quota" | "ct" | "limit" | "secmark"
                    if chain.is_none() && w.last().is_some_and(|x| x == "{") =>
                {
                    depth_other = 1;
                }
                "add" | "create" | "insert" => {
                    self.command(w, &at);
                }
                _ => {
                    let (Some(t), Some(c)) = (&table, &chain) else {
                        if table.is_some() && w.last().is_some_and(|x| x == "{") {
                            depth_other = 1;
                        } else {
                            self.skipped.push(at);
                        }
                        continue;
                    };
                    let ch = self
                        .tables
                        .entry(t.clone())
                        .or_default()
                        .entry(c.clone())
                        .or_default();
                    chain_statement(ch, w, at);
                }
            }
        }
        Some(())
    }

    /// `add table …`, `add chain f t c { … }`, `add rule f t c …`, `insert rule …`.
    fn command(&mut self, w: &[String], at: &At) {
        let kind = w.get(1).map(String::as_str).unwrap_or("");
        let (fam, table, rest) = match (w.get(2), w.get(3)) {
            (Some(f), Some(t))
                if matches!(
                    f.as_str(),
                    "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev"
                ) =>
            {
                (f.clone(), t.clone(), &w[4.min(w.len())..])
            }
            (Some(t), _) => ("ip".to_string(), t.clone(), &w[3.min(w.len())..]),
            _ => return,
        };
        let tables = self.tables.entry((fam, table)).or_default();
        match kind {
            "chain" => {
                if let Some(name) = rest.first() {
                    let ch = tables.entry(name.clone()).or_default();
                    // The block arrives as following statements only in the block form; the
                    // one-line form carries `{ type … ; policy …; }` as a set word.
                    if let Some(body) = rest.get(1).filter(|b| b.starts_with('{')) {
                        for part in body.trim_matches(|c| c == '{' || c == '}').split(';') {
                            let ws: Vec<String> =
                                part.split_whitespace().map(str::to_string).collect();
                            if !ws.is_empty() {
                                chain_statement(ch, &ws, at.clone());
                            }
                        }
                    }
                }
            }
            "rule" => {
                if let Some(name) = rest.first() {
                    let ch = tables.entry(name.clone()).or_default();
                    let words = rest[1..].to_vec();
                    if w[0] == "insert" {
                        ch.rules.insert(0, (words, at.clone()));
                    } else {
                        ch.rules.push((words, at.clone()));
                    }
                }
            }
            _ => {}
        }
    }
}

fn chain_statement(ch: &mut Chain, w: &[String], at: At) {
    match w[0].as_str() {
        "type" => {
            if let Some(i) = w.iter().position(|x| x == "hook") {
                ch.hook = w.get(i + 1).cloned();
            }
            ch.priority = priority(w);
            if let Some(i) = w.iter().position(|x| x == "policy") {
                if let Some(p) = w.get(i + 1) {
                    ch.policy = Some((p.trim_end_matches(';').to_string(), at));
                }
            }
        }
        "policy" => {
            if let Some(p) = w.get(1) {
                ch.policy = Some((p.trim_end_matches(';').to_string(), at));
            }
        }
        "comment" | "devices" => {}
        _ => ch.rules.push((w.to_vec(), at)),
    }
}

/// A set word `{ 22, 80-90 }` or a single value, as a list for port matching.
fn list_of(w: &str) -> String {
    w.trim_matches(|c| c == '{' || c == '}')
        .split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

fn has_new(w: &str) -> bool {
    list_of(w)
        .split(',')
        .any(|s| s == "new" || s == "untracked")
}

#[derive(Clone, Debug, PartialEq)]
enum Verdict {
    Accept,
    Drop,
    Reject,
    Jump(String),
    Goto(String),
    Return,
    /// No verdict: evaluation continues.
    None,
}

/// A rule's match for a new IPv4 TCP connection to `port`, and its verdict.
fn rule(words: &[String], port: u16, services: &dyn Fn(&str) -> Option<u16>) -> (M, Verdict) {
    let mut m = M::Yes;
    let mut verdict = Verdict::None;
    let mut i = 0;
    let get = |k: usize| words.get(k).map(String::as_str).unwrap_or("");
    while i < words.len() {
        let w = get(i);
        // An optional `!=`/`==` after a selector.
        let (neg, val_at) = match get(i + 2) {
            "!=" => (true, i + 3),
            "==" | "eq" => (false, i + 3),
            _ => (false, i + 2),
        };
        let inv = |x: M| if neg { x.negate() } else { x };
        let val = get(val_at);
        let mut step = val_at + 1;
        let r = match (w, get(i + 1)) {
            ("accept", _) => {
                verdict = Verdict::Accept;
                step = i + 1;
                M::Yes
            }
            ("drop", _) => {
                verdict = Verdict::Drop;
                step = i + 1;
                M::Yes
            }
            ("reject", _) => {
                verdict = Verdict::Reject;
                // `reject with tcp reset` / `with icmpx type …`
                step = words.len();
                M::Yes
            }
            ("return", _) => {
                verdict = Verdict::Return;
                step = i + 1;
                M::Yes
            }
            ("jump", t) => {
                verdict = Verdict::Jump(t.to_string());
                step = i + 2;
                M::Yes
            }
            ("goto", t) => {
                verdict = Verdict::Goto(t.to_string());
                step = i + 2;
                M::Yes
            }
            ("continue", _) | ("counter", _) | ("notrack", _) => {
                step = i + 1;
                M::Yes
            }
            ("log", _) | ("comment", _) | ("limit", _) => {
                // Skip the statement's arguments up to a verdict word.
                let mut j = i + 1;
                while j < words.len()
                    && !matches!(
                        get(j),
                        "accept" | "drop" | "reject" | "jump" | "goto" | "return" | "counter"
                    )
                {
                    j += 1;
                }
                step = j;
                M::Yes
            }
            ("iif" | "iifname", _) => {
                let v = get(i + 1 + usize::from(matches!(get(i + 1), "!=" | "==")));
                step = i + 2 + usize::from(matches!(get(i + 1), "!=" | "=="));
                let neg = get(i + 1) == "!=";
                let x = if v == "lo" || v == "\"lo\"" {
                    M::No
                } else {
                    M::Unknown
                };
                if neg { x.negate() } else { x }
            }
            ("oif" | "oifname", _) => {
                step = i + 2 + usize::from(matches!(get(i + 1), "!=" | "=="));
                M::No
            }
            ("ct", "state") => inv(if has_new(val) { M::Yes } else { M::No }),
            ("ct", _) => M::Unknown,
            ("meta", "l4proto") | ("ip", "protocol") | ("ip6", "nexthdr") => {
                let x = if list_of(val).split(',').any(|p| p == "tcp" || p == "6") {
                    M::Yes
                } else {
                    M::No
                };
                let x = if w == "ip6" { M::No } else { x };
                inv(x)
            }
            ("meta", "nfproto") => inv(if list_of(val).split(',').any(|p| p == "ipv4") {
                M::Yes
            } else {
                M::No
            }),
            ("meta", "pkttype") => inv(if list_of(val).split(',').any(|p| p == "host") {
                M::Yes
            } else {
                M::No
            }),
            ("tcp" | "th", "dport") => inv(super::port_in(&list_of(val), port, services)),
            ("tcp" | "th", "sport") => M::Unknown,
            ("tcp", "flags") => {
                // `tcp flags syn`, `tcp flags & (fin|syn|rst|ack) == syn`: a SYN.
                let mut j = i + 2;
                let mut text = String::new();
                while j < words.len()
                    && !matches!(
                        get(j),
                        "accept"
                            | "drop"
                            | "reject"
                            | "jump"
                            | "goto"
                            | "return"
                            | "counter"
                            | "ct"
                            | "tcp"
                            | "log"
                            | "limit"
                    )
                {
                    text.push_str(get(j));
                    text.push(' ');
                    j += 1;
                }
                step = j;
                let t = text.trim();
                let tail = t.rsplit("==").next().unwrap_or(t).trim();
                if t.starts_with("!=") {
                    M::Unknown
                } else if tail == "syn" {
                    M::Yes
                } else {
                    M::Unknown
                }
            }
            ("udp" | "icmp" | "icmpv6" | "sctp" | "udplite" | "esp" | "ah" | "igmp", _) => M::No,
            ("ip6", _) => M::No,
            ("ip", "saddr") => {
                if val == "0.0.0.0/0" {
                    inv(M::Yes)
                } else {
                    M::Unknown
                }
            }
            ("ip", "daddr") => {
                let first = val.split('.').next().and_then(|o| o.parse::<u8>().ok());
                if matches!(first, Some(224..=239)) || val.starts_with("255.") {
                    inv(M::No)
                } else {
                    M::Unknown
                }
            }
            ("fib", "daddr") => {
                // `fib daddr type local` / `{ broadcast, multicast }`
                let v = get(i + 3);
                step = i + 4;
                if get(i + 2) == "type" {
                    if list_of(v).split(',').any(|t| t == "local") {
                        M::Yes
                    } else {
                        M::No
                    }
                } else {
                    M::Unknown
                }
            }
            _ => {
                step = i + 1;
                M::Unknown
            }
        };
        m = m.and(r);
        i = step.max(i + 1);
    }
    (m, verdict)
}

#[derive(Clone, Debug)]
enum Term {
    Accept(At),
    Drop(At),
    Reject(At),
    /// Off the end of the chain.
    End,
}

#[derive(Clone, Debug)]
struct Way {
    term: Term,
    assumed: Option<At>,
}

const MAX_WAYS: usize = 64;

fn walk(
    chains: &BTreeMap<String, Chain>,
    name: &str,
    from: usize,
    port: u16,
    services: &dyn Fn(&str) -> Option<u16>,
    depth: usize,
) -> Vec<Way> {
    let end = || {
        vec![Way {
            term: Term::End,
            assumed: None,
        }]
    };
    let Some(c) = chains.get(name).filter(|_| depth < 32) else {
        return end();
    };
    for (i, (words, at)) in c.rules.iter().enumerate().skip(from) {
        let (m, v) = rule(words, port, services);
        if m == M::No || v == Verdict::None {
            continue;
        }
        let taken: Vec<Way> = match &v {
            Verdict::Accept => vec![Way {
                term: Term::Accept(at.clone()),
                assumed: None,
            }],
            Verdict::Drop => vec![Way {
                term: Term::Drop(at.clone()),
                assumed: None,
            }],
            Verdict::Reject => vec![Way {
                term: Term::Reject(at.clone()),
                assumed: None,
            }],
            Verdict::Return => end(),
            Verdict::Jump(t) | Verdict::Goto(t) => {
                let mut out = Vec::new();
                for w in walk(chains, t, 0, port, services, depth + 1) {
                    if matches!(w.term, Term::End) && matches!(v, Verdict::Jump(_)) {
                        for mut rest in walk(chains, name, i + 1, port, services, depth) {
                            rest.assumed = w.assumed.clone().or(rest.assumed);
                            out.push(rest);
                        }
                    } else {
                        out.push(w);
                    }
                    out.truncate(MAX_WAYS);
                }
                out
            }
            Verdict::None => continue,
        };
        if m == M::Yes {
            return taken;
        }
        let mut out: Vec<Way> = taken
            .into_iter()
            .map(|mut w| {
                w.assumed.get_or_insert_with(|| at.clone());
                w
            })
            .collect();
        out.extend(walk(chains, name, i + 1, port, services, depth));
        out.truncate(MAX_WAYS);
        return out;
    }
    end()
}

impl Ruleset {
    /// A new IPv4 TCP connection to `port` through every `input` base chain of the `inet` and
    /// `ip` tables, in priority order.
    pub fn evaluate(&self, port: u16, services: &dyn Fn(&str) -> Option<u16>) -> Outcome {
        let mut bases: Vec<(&BTreeMap<String, Chain>, &String, &Chain)> = Vec::new();
        for ((fam, _), chains) in &self.tables {
            if fam != "inet" && fam != "ip" {
                continue;
            }
            for (name, c) in chains {
                if c.hook.as_deref() == Some("input") {
                    bases.push((chains, name, c));
                }
            }
        }
        bases.sort_by_key(|(_, _, c)| c.priority);
        let mut last_accept: Option<At> = None;
        let mut depends: Option<(At, Outcome)> = None;
        for (chains, name, c) in bases {
            let ways = walk(chains, name, 0, port, services, 0);
            let resolve = |w: &Way| -> Outcome {
                match &w.term {
                    Term::Accept(a) => Outcome::Accept(Some(a.clone())),
                    Term::Drop(a) => Outcome::Drop(Some(a.clone())),
                    Term::Reject(a) => Outcome::Reject(Some(a.clone())),
                    Term::End => match &c.policy {
                        Some((p, at)) if p == "drop" => Outcome::Drop(Some(at.clone())),
                        Some((_, at)) => Outcome::Accept(Some(at.clone())),
                        None => Outcome::Accept(None),
                    },
                }
            };
            let Some(plain_way) = ways.iter().find(|w| w.assumed.is_none()) else {
                continue;
            };
            let plain = resolve(plain_way);
            if depends.is_none() {
                if let Some(w) = ways.iter().find(|w| resolve(w).blocks() != plain.blocks()) {
                    if let Some(a) = &w.assumed {
                        depends = Some((a.clone(), plain.clone()));
                    }
                }
            }
            if plain.blocks() {
                return match depends {
                    Some((at, _)) => Outcome::Depends {
                        at,
                        otherwise: Box::new(plain),
                    },
                    None => plain,
                };
            }
            if let Outcome::Accept(a) = plain {
                last_accept = a.or(last_accept);
            }
        }
        match depends {
            Some((at, otherwise)) => Outcome::Depends {
                at,
                otherwise: Box::new(otherwise),
            },
            None => Outcome::Accept(last_accept),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::mem::MemFs;

    fn eval(conf: &str, port: u16) -> Outcome {
        let mut m = MemFs::new();
        m.file("/etc/nftables.conf", conf.as_bytes(), 0o644, 0, 0);
        m.file(
            "/etc/nftables.d/ssh.nft",
            b"add rule inet filter input tcp dport 2200 accept\n",
            0o644,
            0,
            0,
        );
        let fs = m.into_rootfs();
        let rs = Ruleset::load(&fs, "/etc/nftables.conf").unwrap();
        let s = super::super::services_of("ssh 22/tcp\n");
        rs.evaluate(port, &s)
    }

    const STRICT: &str = "#!/usr/sbin/nft -f\nflush ruleset\ndefine SSH_PORTS = { 22, 2222 }\n\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tiif lo accept\n\t\tct state established,related accept\n\t\tct state invalid drop\n\t\tip protocol icmp accept\n\t\ttcp dport $SSH_PORTS ct state new accept\n\t\ttcp dport { 80, 443 } accept\n\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}\ninclude \"/etc/nftables.d/*.nft\"\n";

    #[test]
    fn debian_default_accepts() {
        let conf = "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter;\n\t}\n\tchain output {\n\t\ttype filter hook output priority filter;\n\t}\n}\n";
        assert!(matches!(eval(conf, 22), Outcome::Accept(_)));
    }

    #[test]
    fn strict_ruleset() {
        let o = eval(STRICT, 22);
        assert!(
            matches!(&o, Outcome::Accept(Some(a)) if a.line == 12),
            "{o:?}"
        );
        assert!(matches!(eval(STRICT, 2222), Outcome::Accept(_)));
        assert!(
            matches!(eval(STRICT, 2200), Outcome::Accept(Some(a)) if a.file == "/etc/nftables.d/ssh.nft")
        );
        match eval(STRICT, 2022) {
            Outcome::Drop(Some(a)) => assert_eq!(a.line, 7),
            o => panic!("{o:?}"),
        }
        let from = "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  ip saddr 10.0.0.0/8 tcp dport 22 accept\n }\n}\n";
        assert!(matches!(eval(from, 22), Outcome::Depends { .. }));
        let two = "table ip a {\n chain in { type filter hook input priority -10; tcp dport 22 accept; }\n}\ntable ip b {\n chain in { type filter hook input priority 10; policy drop; }\n}\n";
        assert!(
            eval(two, 22).blocks(),
            "an accept in one base chain does not bypass another"
        );
        let jump = "table inet f {\n chain ssh { tcp dport 22 reject with tcp reset }\n chain input {\n  type filter hook input priority 0;\n  jump ssh\n }\n}\n";
        assert!(matches!(eval(jump, 22), Outcome::Reject(_)));
    }
}
