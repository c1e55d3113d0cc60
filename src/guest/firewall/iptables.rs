//! iptables-restore files (`/etc/iptables/rules.v4`, RHEL's `/etc/sysconfig/iptables`, ufw's
//! rule files): the `filter` table's chains, and what its INPUT chain does with a new TCP
//! connection to a port.

use std::collections::BTreeMap;

use super::{At, M, Outcome};

/// One `-A CHAIN …` rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub args: Vec<String>,
    pub at: At,
}

#[derive(Clone, Debug, Default)]
pub struct Chain {
    /// Built-in chains: ACCEPT or DROP, where it was set.
    pub policy: Option<(String, At)>,
    pub rules: Vec<Rule>,
}

/// The filter table, possibly assembled from several files.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub chains: BTreeMap<String, Chain>,
}

/// Splits a rule line like the shell iptables-save writes for: blanks separate, double quotes
/// group.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' | '\t' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            _ => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

impl Table {
    /// Adds the `*filter` part of an iptables-restore file.
    pub fn load(&mut self, text: &str, file: &str) {
        let mut in_filter = false;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let at = || At {
                file: file.to_string(),
                line: i + 1,
                text: line.to_string(),
            };
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(t) = line.strip_prefix('*') {
                in_filter = t.trim() == "filter";
                continue;
            }
            if line == "COMMIT" {
                in_filter = false;
                continue;
            }
            if !in_filter {
                continue;
            }
            if let Some(decl) = line.strip_prefix(':') {
                let mut it = decl.split_whitespace();
                let (Some(name), Some(policy)) = (it.next(), it.next()) else {
                    continue;
                };
                let c = self.chains.entry(name.to_string()).or_default();
                if policy != "-" {
                    c.policy = Some((policy.to_string(), at()));
                }
                continue;
            }
            let w = words(line);
            let (cmd, chain) = match (w.first(), w.get(1)) {
                (Some(c), Some(ch)) => (c.as_str(), ch.clone()),
                _ => continue,
            };
            let rule = Rule {
                args: w[2..].to_vec(),
                at: at(),
            };
            let c = self.chains.entry(chain).or_default();
            match cmd {
                "-A" | "--append" => c.rules.push(rule),
                "-I" | "--insert" => {
                    // `-I CHAIN [N]`
                    let (pos, args) = match rule.args.first().and_then(|n| n.parse::<usize>().ok())
                    {
                        Some(n) => (n.saturating_sub(1), rule.args[1..].to_vec()),
                        None => (0, rule.args.clone()),
                    };
                    let pos = pos.min(c.rules.len());
                    c.rules.insert(pos, Rule { args, at: rule.at });
                }
                _ => {}
            }
        }
    }
}

/// A terminal result of walking a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    Accept,
    Drop,
    Reject,
    /// Fell off the end of the chain (or RETURN).
    Return,
}

/// One way through the chains: where it ended, the deciding rule, and the first rule on the way
/// whose match could not be decided (taken as matching on this way).
#[derive(Clone, Debug)]
struct Way {
    term: Term,
    at: Option<At>,
    assumed: Option<At>,
}

const MAX_WAYS: usize = 64;
const MAX_DEPTH: usize = 32;

/// What a new TCP connection to `port` meets in the INPUT chain. `policy_override` stands in for
/// the INPUT chain's policy (ufw sets it from /etc/default/ufw).
pub fn evaluate(
    t: &Table,
    start: &str,
    port: u16,
    services: &dyn Fn(&str) -> Option<u16>,
    fallback: Outcome,
) -> Outcome {
    let ways = walk(t, start, 0, port, services, 0);
    let resolve = |w: &Way| -> Outcome {
        match w.term {
            Term::Accept => Outcome::Accept(w.at.clone()),
            Term::Drop => Outcome::Drop(w.at.clone()),
            Term::Reject => Outcome::Reject(w.at.clone()),
            Term::Return => match t.chains.get(start).and_then(|c| c.policy.as_ref()) {
                Some((p, at)) if p == "ACCEPT" => Outcome::Accept(Some(at.clone())),
                Some((p, at)) if p == "DROP" => Outcome::Drop(Some(at.clone())),
                _ => fallback.clone(),
            },
        }
    };
    let outcomes: Vec<(Outcome, &Way)> = ways.iter().map(|w| (resolve(w), w)).collect();
    // The way where every undecidable match failed: an arbitrary client on an arbitrary
    // interface.
    let Some((plain, _)) = outcomes.iter().find(|(_, w)| w.assumed.is_none()) else {
        return fallback;
    };
    let same = outcomes.iter().all(|(o, _)| o.blocks() == plain.blocks());
    if same {
        return plain.clone();
    }
    let at = outcomes.iter().find_map(|(o, w)| {
        (o.blocks() != plain.blocks())
            .then(|| w.assumed.clone())
            .flatten()
    });
    match at {
        Some(at) => Outcome::Depends {
            at,
            otherwise: Box::new(plain.clone()),
        },
        None => plain.clone(),
    }
}

fn walk(
    t: &Table,
    chain: &str,
    from: usize,
    port: u16,
    services: &dyn Fn(&str) -> Option<u16>,
    depth: usize,
) -> Vec<Way> {
    let ret = || {
        vec![Way {
            term: Term::Return,
            at: None,
            assumed: None,
        }]
    };
    if depth > MAX_DEPTH {
        return ret();
    }
    let Some(c) = t.chains.get(chain) else {
        return ret();
    };
    for (i, r) in c.rules.iter().enumerate().skip(from) {
        let (m, target) = rule_match(&r.args, port, services);
        if m == M::No {
            continue;
        }
        let Some(target) = target else { continue };
        let taken: Vec<Way> = match target.as_str() {
            "ACCEPT" => vec![Way {
                term: Term::Accept,
                at: Some(r.at.clone()),
                assumed: None,
            }],
            "DROP" => vec![Way {
                term: Term::Drop,
                at: Some(r.at.clone()),
                assumed: None,
            }],
            "REJECT" => vec![Way {
                term: Term::Reject,
                at: Some(r.at.clone()),
                assumed: None,
            }],
            "RETURN" => vec![Way {
                term: Term::Return,
                at: Some(r.at.clone()),
                assumed: None,
            }],
            "LOG" | "NFLOG" | "ULOG" | "MARK" | "CONNMARK" | "CT" | "TRACE" | "AUDIT" => continue,
            sub if t.chains.contains_key(sub) => {
                // A jump: what the sub-chain decides, or on from the next rule when it returns.
                let mut out = Vec::new();
                for w in walk(t, sub, 0, port, services, depth + 1) {
                    if w.term == Term::Return {
                        for mut rest in walk(t, chain, i + 1, port, services, depth) {
                            rest.assumed = w.assumed.clone().or(rest.assumed);
                            out.push(rest);
                        }
                    } else {
                        out.push(w);
                    }
                    if out.len() > MAX_WAYS {
                        break;
                    }
                }
                out
            }
            // An unknown target (a chain another tool creates at run time): cannot tell.
            _ => continue,
        };
        if m == M::Yes {
            return taken;
        }
        // Undecidable: both ways.
        let mut out: Vec<Way> = taken
            .into_iter()
            .map(|mut w| {
                w.assumed.get_or_insert_with(|| r.at.clone());
                w
            })
            .collect();
        out.extend(walk(t, chain, i + 1, port, services, depth));
        out.truncate(MAX_WAYS);
        return out;
    }
    ret()
}

/// Whether a rule's matches hold for a new TCP connection to `port` from an unknown client
/// arriving on a non-loopback interface; and its target (`-j`/`-g`).
pub fn rule_match(
    args: &[String],
    port: u16,
    services: &dyn Fn(&str) -> Option<u16>,
) -> (M, Option<String>) {
    let mut m = M::Yes;
    let mut target = None;
    let mut proto_tcp = M::Unknown;
    let mut i = 0;
    while i < args.len() {
        let mut neg = false;
        if args[i] == "!" {
            neg = true;
            i += 1;
        }
        let Some(opt) = args.get(i) else { break };
        let val = args.get(i + 1).map(String::as_str).unwrap_or("");
        let inv = |x: M| if neg { x.negate() } else { x };
        let mut take = 2;
        let r = match opt.as_str() {
            "-j" | "--jump" | "-g" | "--goto" => {
                target = Some(val.to_string());
                // Target options follow (--reject-with, --log-prefix): skip them.
                i += 2;
                while i < args.len() && args[i].starts_with("--") {
                    i += 2;
                }
                continue;
            }
            "-p" | "--protocol" => {
                let v = val.to_ascii_lowercase();
                let x = match v.as_str() {
                    "tcp" | "6" | "all" | "0" => M::Yes,
                    _ => M::No,
                };
                proto_tcp = inv(x);
                proto_tcp
            }
            "-m" | "--match" => M::Yes,
            "--dport" | "--destination-port" | "--dports" | "--destination-ports" | "--ports" => {
                inv(super::port_in(val, port, services))
            }
            "--sport" | "--source-port" | "--sports" | "--source-ports" => M::Unknown,
            "-s" | "--source" | "--src-range" => {
                if val == "0.0.0.0/0" || val == "::/0" {
                    inv(M::Yes)
                } else {
                    M::Unknown
                }
            }
            "-d" | "--destination" | "--dst-range" => {
                let first = val.split('.').next().and_then(|o| o.parse::<u8>().ok());
                if val == "0.0.0.0/0" || val == "::/0" {
                    inv(M::Yes)
                } else if matches!(first, Some(224..=239))
                    || val.starts_with("255.255.255.255")
                    || val.starts_with("ff")
                {
                    // Multicast or broadcast destinations: not a connection to sshd.
                    inv(M::No)
                } else {
                    M::Unknown
                }
            }
            "-i" | "--in-interface" => {
                if val == "lo" {
                    inv(M::No)
                } else if val == "+" {
                    inv(M::Yes)
                } else {
                    M::Unknown
                }
            }
            "-o" | "--out-interface" => inv(M::No),
            "--state" | "--ctstate" => {
                let has_new = val
                    .split(',')
                    .any(|s| s.eq_ignore_ascii_case("NEW") || s.eq_ignore_ascii_case("UNTRACKED"));
                inv(if has_new { M::Yes } else { M::No })
            }
            "--syn" => {
                take = 1;
                inv(M::Yes)
            }
            "--tcp-flags" => {
                // --tcp-flags MASK COMP: a SYN has SYN set, ACK/FIN/RST clear.
                let comp = args.get(i + 2).map(String::as_str).unwrap_or("");
                take = 3;
                let mask: Vec<&str> = val.split(',').collect();
                let set: Vec<&str> = comp.split(',').collect();
                let syn_like = mask.iter().all(|f| {
                    let is_set = *f == "SYN";
                    set.contains(f) == is_set || *f == "ALL" || *f == "NONE"
                });
                inv(if syn_like { M::Yes } else { M::No })
            }
            "--dst-type" => inv(if val == "LOCAL" { M::Yes } else { M::No }),
            "--src-type" => M::Unknown,
            "--icmp-type" | "--icmpv6-type" => inv(M::No),
            "--comment" | "--limit" | "--limit-burst" | "--set" | "--name" | "--rsource"
            | "--mask" | "--log-prefix" | "--log-level" => {
                // Informational, or a rate that a single new connection does not exceed.
                if opt == "--set" || opt == "--rsource" {
                    take = 1;
                }
                M::Yes
            }
            "--update" | "--rcheck" => {
                // `recent --update --seconds N --hitcount K`: the first connection is not over
                // the count.
                take = 1;
                inv(M::No)
            }
            "--seconds" | "--hitcount" | "--rttl" => M::Yes,
            "--uid-owner" | "--gid-owner" => inv(M::No),
            _ => {
                if opt.starts_with('-') {
                    M::Unknown
                } else {
                    take = 1;
                    M::Yes
                }
            }
        };
        m = m.and(r);
        i += take;
    }
    let _ = proto_tcp;
    (m, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(rules: &str, port: u16) -> Outcome {
        let mut t = Table::default();
        t.load(rules, "/etc/iptables/rules.v4");
        let s = super::super::services_of("ssh 22/tcp\n");
        evaluate(&t, "INPUT", port, &s, Outcome::Accept(None))
    }

    #[test]
    fn policy_and_rules() {
        let base = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n";
        let open = format!("{base}-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n");
        assert!(matches!(eval(&open, 22), Outcome::Accept(Some(a)) if a.line == 7));
        assert!(matches!(eval(&open, 2222), Outcome::Drop(Some(a)) if a.line == 2));
        let shut = format!("{base}-A INPUT -p tcp --dport 80 -j ACCEPT\nCOMMIT\n");
        assert!(eval(&shut, 22).blocks());
        let reject =
            format!("{base}-A INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset\nCOMMIT\n");
        assert!(matches!(eval(&reject, 22), Outcome::Reject(_)));
        let from_office =
            format!("{base}-A INPUT -s 10.0.0.0/8 -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
        match eval(&from_office, 22) {
            Outcome::Depends { at, otherwise } => {
                assert_eq!(at.line, 7);
                assert!(otherwise.blocks());
            }
            o => panic!("{o:?}"),
        }
        let multiport = format!(
            "{base}-A INPUT -p tcp -m multiport --dports 80,443,20:25 -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n"
        );
        assert!(matches!(eval(&multiport, 22), Outcome::Accept(_)));
        // A user chain, returning.
        let chains = "*filter\n:INPUT ACCEPT [0:0]\n:SSH - [0:0]\n-A INPUT -p tcp --dport 22 -j SSH\n-A SSH -p tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 -j DROP\n-A SSH -j RETURN\n-A INPUT -j DROP\nCOMMIT\n";
        assert!(matches!(eval(chains, 22), Outcome::Drop(Some(a)) if a.line == 7));
        assert!(matches!(eval("", 22), Outcome::Accept(None)));
    }
}
