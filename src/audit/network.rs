//! Will a connection reach sshd: the host firewalls that load at boot (ufw, iptables-persistent
//! or RHEL's iptables service, nftables, firewalld) and TCP wrappers, evaluated for a new TCP
//! connection from an unknown client to each port sshd listens on.

use super::{Rule, Settings};
use crate::fs::RootFs;
use crate::guest::firewall::{self, At, Outcome, firewalld, iptables, nftables, ufw};
use crate::guest::systemd;
use crate::guest::tcp_wrappers::{self, Access};
use crate::report::{Category, Confidence, Finding, Severity};

macro_rules! rule {
    ($name:ident, $id:literal, $sev:ident, $summary:literal, $doc:literal $(,)?) => {
        pub static $name: Rule = Rule {
            id: $id,
            severity: Severity::$sev,
            category: Category::Network,
            summary: $summary,
            doc: $doc,
        };
    };
}

rule!(
    NET_001,
    "NET-001",
    Critical,
    "the host firewall loaded at boot blocks new connections to sshd's port",
    "Evaluates the firewall configuration each enabled firewall service loads at boot, for a new \
TCP connection from an unknown client to every port sshd listens on: ufw (ENABLED=yes, \
/etc/default/ufw's DEFAULT_INPUT_POLICY, before/user/after.rules wired as ufw-init wires them), \
iptables-persistent (/etc/iptables/rules.v4) and RHEL's iptables service \
(/etc/sysconfig/iptables), nftables (/etc/nftables.conf and its includes: every input base \
chain), firewalld (the default zone's services, ports and target). The finding names the rule or \
policy that decides.\n\nWhy it matters: a dropped SYN gives \"Connection timed out\", a rejected \
one \"Connection refused\" or \"No route to host\", even though sshd runs.\n\nFix: the finding gives \
the line to add before the deciding rule (or disabling that firewall).",
);
rule!(
    NET_002,
    "NET-002",
    Info,
    "SSH is let through only for some clients or interfaces",
    "The same evaluation as NET-001, where the rule that lets SSH in names source addresses, \
interfaces or netgroups (or TCP wrappers list only some clients).\n\nWhy it matters: a client \
outside those sources times out or is refused; this is usually intended, and the finding says \
which rule decides.\n\nFix: connect from an allowed address, or widen the rule.",
);
rule!(
    NET_003,
    "NET-003",
    Critical,
    "TCP wrappers deny sshd for every client",
    "The guest's sshd links libwrap, so it consults /etc/hosts.allow and /etc/hosts.deny for \
daemon `sshd` (hosts_access(5): the first matching line of hosts.allow grants, then the first \
matching line of hosts.deny denies, otherwise access is granted; `ALL`, `EXCEPT` and \
allow/deny options understood).\n\nWhy it matters: sshd accepts the TCP connection and closes it \
at once: \"kex_exchange_identification: Connection closed by remote host\".\n\nFix: add \
`sshd: ALL` to /etc/hosts.allow (or a narrower client list), or remove the deny line.",
);

rule!(
    NET_010,
    "NET-010",
    Warning,
    "the network is configured for an interface name the NIC will not have",
    "Reads every network configuration system the guest starts at boot (netplan, ifupdown, \
systemd-networkd, NetworkManager, RHEL ifcfg) and the kernel command line. An interface \
configured only as `ethN` while predictable interface names are on (no `net.ifnames=0`, no \
disabled 99-default.link), with no wildcard or driver match to catch the NIC and no cloud-init \
to rewrite the configuration, is never brought up: the NIC is called ens5 or enp0s3.\n\nWhy it \
matters: the server boots without an address: \"Connection timed out\".\n\nFix: add \
`net.ifnames=0` to GRUB_CMDLINE_LINUX in /etc/default/grub and run update-grub in a chroot, or \
configure the interface by a match (`en*`).",
);
rule!(
    NET_011,
    "NET-011",
    Warning,
    "the network configuration matches one MAC address only",
    "An interface configuration that selects its NIC by MAC address (netplan `match: macaddress`, \
ifcfg `HWADDR=`, networkd `MACAddress=`, NetworkManager `mac-address=`), with nothing else \
configured to catch a different NIC and no cloud-init to rewrite it.\n\nWhy it matters: a \
volume moved to a new instance (or a replaced NIC) gets a new MAC; the configuration no longer \
applies and the server has no address.\n\nFix: remove the MAC match (match by name pattern), \
as the finding says.",
);
rule!(
    NET_012,
    "NET-012",
    Warning,
    "no network interface gets an address at boot",
    "None of the network configuration systems that start at boot configures DHCP or a static \
address on any interface, cloud-init is not there to do it, and NetworkManager (which connects \
wired NICs with DHCP by default) is not running.\n\nWhy it matters: the server comes up \
without an address: \"Connection timed out\".\n\nFix: configure the NIC, e.g. for ifupdown \
`printf 'allow-hotplug eth0\\niface eth0 inet dhcp\\n' > /etc/network/interfaces.d/eth0` (with \
net.ifnames=0) or a systemd-networkd `[Match] Name=en*` / `[Network] DHCP=yes` file.",
);
rule!(
    NET_013,
    "NET-013",
    Info,
    "an interface has a fixed MTU",
    "Lists interfaces whose configuration sets an MTU.\n\nWhy it matters: an MTU larger than the \
path allows (9001 moved off AWS, 1500 inside a tunnel) lets the TCP handshake through and then \
hangs the SSH key exchange: \"Connection reset\" or a stall after \"SSH2_MSG_KEXINIT sent\".\n\n\
Fix: remove the MTU setting or set the value the new network needs.",
);

pub static RULES: &[&Rule] = &[
    &NET_001, &NET_002, &NET_003, &NET_010, &NET_011, &NET_012, &NET_013,
];

/// NET-010..013: the interface configuration of the systems that start at boot.
pub fn interfaces(fs: &RootFs, s: &Settings, out: &mut Vec<Finding>) {
    use crate::guest::network_config::{self, Selector};
    let units = [
        "networking.service",
        "systemd-networkd.service",
        "NetworkManager.service",
        "network.service",
    ];
    let state = systemd::service_state(fs, &units);
    let on = |u: &str| state.unit(u).is_some_and(|x| x.starts_at_boot());
    let netplan = fs.exists("/usr/sbin/netplan").unwrap_or(false)
        || fs
            .exists("/lib/systemd/system-generators/netplan")
            .unwrap_or(false)
        || fs
            .exists("/usr/lib/systemd/system-generators/netplan")
            .unwrap_or(false);
    let nm = on("NetworkManager.service");
    let cfg = network_config::read_config(fs);
    let active: Vec<&network_config::Iface> = cfg
        .ifaces
        .iter()
        .filter(|i| match i.system {
            "netplan" => netplan,
            "ifupdown" => on("networking.service"),
            "systemd-networkd" => on("systemd-networkd.service") || netplan,
            "NetworkManager" => nm,
            "ifcfg" => nm || on("network.service"),
            _ => false,
        })
        .collect();
    for i in &active {
        if let Some(mtu) = i.mtu {
            out.push(
                NET_013
                    .finding(
                        format!(
                            "{} sets MTU {mtu} on {}",
                            i.system,
                            i.name.as_deref().unwrap_or("an interface")
                        ),
                        format!("{}:{} configures MTU {mtu}.", i.file, i.line),
                    )
                    .at(i.file.clone())
                    .line(i.line),
            );
        }
    }
    if cfg.cloud_init {
        // cloud-init writes the configuration for the instance it boots on.
        return;
    }
    let catch_all = active
        .iter()
        .any(|i| matches!(i.selector, Selector::Pattern(_)) && i.gets_address());
    let addressed: Vec<&&network_config::Iface> =
        active.iter().filter(|i| i.gets_address()).collect();
    if addressed.is_empty() {
        if !nm && matches!(state.init, systemd::Init::Systemd(_)) {
            let files = if cfg.files.is_empty() {
                "no network configuration file".to_string()
            } else {
                cfg.files.join(", ")
            };
            out.push(
                NET_012
                    .finding(
                        "no network interface gets an address at boot",
                        format!(
                            "Read {files}: no interface is configured with DHCP or an address by a system that starts at boot, and neither cloud-init nor NetworkManager is there to do it."
                        ),
                    )
                    .confidence(Confidence::Likely)
                    .fix(format!(
                        "printf 'allow-hotplug eth0\\niface eth0 inet dhcp\\n' > {}   # with net.ifnames=0 on the kernel command line",
                        s.host_path("/etc/network/interfaces.d/eth0")
                    )),
            );
        }
        return;
    }
    if catch_all {
        return;
    }
    let by_eth_name = addressed.iter().all(|i| {
        matches!(&i.selector, Selector::Name(n) if n.starts_with("eth") && n[3..].chars().all(|c| c.is_ascii_digit()))
    });
    if by_eth_name && !cfg.classic_names {
        let i = addressed[0];
        out.push(
            NET_010
                .finding(
                    format!(
                        "{} configures only {}, but the NIC will have a predictable name (ens5, enp0s3)",
                        i.system,
                        i.name.as_deref().unwrap_or("eth0")
                    ),
                    format!(
                        "{}:{} configures {}; the kernel command line does not set net.ifnames=0, so systemd names the NIC after its slot and this configuration never applies.",
                        i.file,
                        i.line,
                        i.name.as_deref().unwrap_or("eth0")
                    ),
                )
                .at(i.file.clone())
                .line(i.line)
                .confidence(Confidence::Likely)
                .fix(format!(
                    "sed -i 's/^GRUB_CMDLINE_LINUX=\"/GRUB_CMDLINE_LINUX=\"net.ifnames=0 /' {} && chroot {} update-grub",
                    s.host_path("/etc/default/grub"),
                    s.mount_point.trim_end_matches('/')
                )),
        );
    }
    if addressed
        .iter()
        .all(|i| matches!(i.selector, Selector::Mac(_)))
    {
        let i = addressed[0];
        let Selector::Mac(mac) = &i.selector else {
            return;
        };
        out.push(
            NET_011
                .finding(
                    format!("{} applies only to the NIC with MAC {mac}", i.system),
                    format!(
                        "{}:{} selects the interface by MAC address {mac}; a NIC with another address (a new instance, a replaced card) gets no configuration.",
                        i.file, i.line
                    ),
                )
                .at(i.file.clone())
                .line(i.line)
                .confidence(Confidence::Likely)
                .fix(format!("edit {}: remove the MAC address match", s.host_path(&i.file))),
        );
    }
}

/// Firewall units that load rules at boot.
const UNITS: &[&str] = &[
    "ufw.service",
    "netfilter-persistent.service",
    "iptables.service",
    "nftables.service",
    "firewalld.service",
];

fn outcome_at(o: &Outcome) -> Option<&At> {
    o.at()
}

fn line_of(text: &str, pred: impl Fn(&str) -> bool) -> Option<usize> {
    text.lines().position(|l| pred(l.trim())).map(|i| i + 1)
}

/// The fix for an iptables-restore file: insert an ACCEPT before the deciding rule, or before the
/// filter table's COMMIT when the policy decides.
fn iptables_fix(
    fs: &RootFs,
    at: Option<&At>,
    file: &str,
    chain: &str,
    port: u16,
    s: &Settings,
) -> String {
    let text = fs.read_to_string_lossy(file).unwrap_or_default();
    let rule = format!("-A {chain} -p tcp --dport {port} -j ACCEPT");
    let line = match at {
        Some(a) if a.file == file && a.text.starts_with("-A") => Some(a.line),
        _ => {
            let filter = line_of(&text, |l| l == "*filter").unwrap_or(0);
            text.lines()
                .enumerate()
                .skip(filter)
                .find(|(_, l)| l.trim() == "COMMIT")
                .map(|(i, _)| i + 1)
        }
    };
    match line {
        Some(n) => format!("sed -i '{n}i {rule}' {}", s.host_path(file)),
        None => format!("add `{rule}` to the *filter table of {}", s.host_path(file)),
    }
}

struct Verdict {
    what: &'static str,
    outcome: Outcome,
    fix: String,
    disable: String,
}

fn evaluate_all(fs: &RootFs, ports: &[u16], s: &Settings) -> Vec<(u16, Verdict)> {
    let state = systemd::service_state(fs, UNITS);
    let active = |name: &str| state.unit(name).is_some_and(|u| u.starts_at_boot());
    let services_text = fs.read_to_string_lossy("/etc/services").unwrap_or_default();
    let services = firewall::services_of(&services_text);
    let mut out = Vec::new();
    let mp = s.mount_point.trim_end_matches('/');
    for &port in ports {
        if active("ufw.service") {
            if let Some(u) = ufw::load(fs).filter(|u| u.enabled) {
                let o = u.evaluate(port, &services);
                out.push((
                    port,
                    Verdict {
                        what: "ufw",
                        outcome: o,
                        fix: format!(
                            "sed -i '/^### RULES ###/a ### tuple ### allow tcp {port} 0.0.0.0/0 any 0.0.0.0/0 in\\n-A ufw-user-input -p tcp --dport {port} -j ACCEPT' {mp}/etc/ufw/user.rules"
                        ),
                        disable: format!("sed -i 's/^ENABLED=yes/ENABLED=no/' {mp}/etc/ufw/ufw.conf"),
                    },
                ));
            }
        }
        for (unit, file) in [
            ("netfilter-persistent.service", "/etc/iptables/rules.v4"),
            ("iptables.service", "/etc/sysconfig/iptables"),
        ] {
            if !active(unit) {
                continue;
            }
            let Ok(text) = fs.read_to_string_lossy(file) else {
                continue;
            };
            let mut t = iptables::Table::default();
            t.load(&text, file);
            let o = iptables::evaluate(&t, "INPUT", port, &services, Outcome::Accept(None));
            let fix = iptables_fix(fs, outcome_at(&o), file, "INPUT", port, s);
            out.push((
                port,
                Verdict {
                    what: if unit.starts_with("netfilter") {
                        "iptables-persistent"
                    } else {
                        "iptables service"
                    },
                    outcome: o,
                    fix,
                    disable: format!("chroot {mp} systemctl disable {unit}"),
                },
            ));
        }
        if active("nftables.service") {
            if let Some(rs) = nftables::Ruleset::load(fs, "/etc/nftables.conf") {
                let o = rs.evaluate(port, &services);
                let fix = match outcome_at(&o) {
                    Some(a) if a.text.starts_with("policy") || a.text.starts_with("type") => {
                        format!(
                            "sed -i '{}a tcp dport {port} accept' {}",
                            a.line,
                            s.host_path(&a.file)
                        )
                    }
                    Some(a) => format!(
                        "sed -i '{}i tcp dport {port} accept' {}",
                        a.line,
                        s.host_path(&a.file)
                    ),
                    None => format!(
                        "add `tcp dport {port} accept` to the input chain of {mp}/etc/nftables.conf"
                    ),
                };
                out.push((
                    port,
                    Verdict {
                        what: "nftables",
                        outcome: o,
                        fix,
                        disable: format!("chroot {mp} systemctl disable nftables.service"),
                    },
                ));
            }
        }
        if active("firewalld.service") {
            if let Some(f) = firewalld::load(fs) {
                let o = f.evaluate(fs, port, &services);
                let zone = f.zone.clone();
                let etc = format!("{mp}/etc/firewalld/zones/{zone}.xml");
                let copy = match &f.zone_file {
                    Some((p, _)) if p.starts_with("/usr/lib") => {
                        format!("cp {mp}{p} {etc} && ")
                    }
                    _ => String::new(),
                };
                let add = if port == 22 {
                    "<service name=\"ssh\"/>".to_string()
                } else {
                    format!("<port protocol=\"tcp\" port=\"{port}\"/>")
                };
                out.push((
                    port,
                    Verdict {
                        what: "firewalld",
                        outcome: o,
                        fix: format!("{copy}sed -i 's|</zone>|  {add}\\n</zone>|' {etc}"),
                        disable: format!("chroot {mp} systemctl disable firewalld.service"),
                    },
                ));
            }
        }
    }
    out
}

fn describe(o: &Outcome) -> &'static str {
    match o {
        Outcome::Drop(_) => "drops",
        Outcome::Reject(_) => "rejects",
        Outcome::Accept(_) => "accepts",
        Outcome::Depends { .. } => "decides per client for",
    }
}

fn client_error(o: &Outcome) -> &'static str {
    match o {
        Outcome::Reject(_) => "\"Connection refused\" (or \"No route to host\")",
        _ => "\"Connection timed out\"",
    }
}

/// NET-001..003 for the ports sshd listens on.
pub fn audit(fs: &RootFs, ports: &[u16], libwrap: bool, s: &Settings, out: &mut Vec<Finding>) {
    for (port, v) in evaluate_all(fs, ports, s) {
        match &v.outcome {
            Outcome::Accept(_) => {}
            o @ (Outcome::Drop(at) | Outcome::Reject(at)) => {
                let mut f = NET_001.finding(
                    format!("{} {} new connections to sshd's port {port}", v.what, describe(o)),
                    format!(
                        "{} is enabled at boot; a new TCP connection to port {port} from any client reaches {}{}. Clients see {}.",
                        v.what,
                        match at {
                            Some(a) => format!("{}:{} `{}`", a.file, a.line, a.text),
                            None => "the default policy".into(),
                        },
                        if matches!(o, Outcome::Drop(_)) { ", which drops it" } else { ", which rejects it" },
                        client_error(o)
                    ),
                );
                if let Some(a) = at {
                    if a.file.starts_with('/') {
                        f = f.at(a.file.clone()).line(a.line);
                    }
                }
                out.push(f.fix(format!("{}   # or: {}", v.fix, v.disable)));
            }
            Outcome::Depends { at, otherwise } => {
                let f = NET_002
                    .finding(
                        format!(
                            "{}: port {port} is open only to the clients or interfaces {}:{} names",
                            v.what, at.file, at.line
                        ),
                        format!(
                            "{}:{} `{}` lets some connections to port {port} in; for others {} {}.",
                            at.file,
                            at.line,
                            at.text,
                            v.what,
                            describe(otherwise)
                        ),
                    )
                    .at(at.file.clone())
                    .line(at.line)
                    .confidence(Confidence::Likely);
                out.push(f);
            }
        }
    }
    if libwrap {
        match tcp_wrappers::sshd_access(fs) {
            Access::Granted(_) => {}
            Access::Denied(at) => out.push(
                NET_003
                    .finding(
                        format!("TCP wrappers deny sshd: {}:{}", at.file, at.line),
                        format!(
                            "The guest's sshd links libwrap; {}:{} `{}` denies daemon sshd for every client and no line of /etc/hosts.allow grants it. sshd closes each connection: \"kex_exchange_identification: Connection closed by remote host\".",
                            at.file, at.line, at.text
                        ),
                    )
                    .at(at.file.clone())
                    .line(at.line)
                    .fix(format!(
                        "echo 'sshd: ALL' >> {}   # or remove line {} of {}",
                        s.host_path("/etc/hosts.allow"),
                        at.line,
                        s.host_path(&at.file)
                    )),
            ),
            Access::Depends { at, otherwise } if matches!(*otherwise, Access::Denied(_)) => out.push(
                NET_002
                    .finding(
                        format!("TCP wrappers let sshd accept only the clients {}:{} names", at.file, at.line),
                        format!("{}:{} `{}` decides for some clients; the others are denied.", at.file, at.line, at.text),
                    )
                    .at(at.file.clone())
                    .line(at.line)
                    .confidence(Confidence::Likely),
            ),
            Access::Depends { .. } => {}
        }
    }
}
