//! The server options one parse produces (OpenSSH's `ServerOptions`), the defaults sshd fills
//! in (`fill_default_server_options`) and how a matching `Match` block overrides them
//! (`copy_set_server_options`).

use std::collections::BTreeMap;

use super::algorithms::{self, Class};
use super::build::{Build, Vendor};

/// Where an option was set: (guest file, line).
pub type Origin = (String, usize);

/// A `ListenAddress` line, resolved once every `Port` is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    pub host: String,
    /// 0 = every `Port`.
    pub port: u16,
    pub rdomain: Option<String>,
}

/// One parse's options. Integer-like options (flags, multistate values, numbers, times) are in
/// `ints`, strings in `strs`, lists in `lists`, each keyed by the option's canonical keyword;
/// absent = not set (OpenSSH's -1 or NULL).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub ints: BTreeMap<&'static str, i64>,
    pub strs: BTreeMap<&'static str, String>,
    pub lists: BTreeMap<&'static str, Vec<String>>,
    pub ports: Vec<u16>,
    pub listen: Vec<ListenSpec>,
    /// (name, command, command with arguments).
    pub subsystems: Vec<(String, String, String)>,
    /// begin:rate:full
    pub max_startups: Option<(i64, i64, i64)>,
    pub per_source_netblock: Option<(i64, i64)>,
    pub ip_qos: Option<(i64, i64)>,
    pub rekey_limit: Option<i64>,
    pub rekey_interval: Option<i64>,
    /// Where each option was (first) set.
    pub origin: BTreeMap<&'static str, Origin>,
    /// Where each entry of a list option was set, parallel to `lists`.
    pub list_origin: BTreeMap<&'static str, Vec<Origin>>,
    /// PerSourcePenalties (9.8+).
    pub penalties: Penalties,
}

/// `PerSourcePenalties`: on/off and the items set (`crash`, `authfail`, `noauth`,
/// `grace-exceeded`, `refuseconnection`, `max`, `min`, `max-sources4`, `max-sources6`,
/// `overflow`, `overflow6`; overflow values 1 deny-all, 2 permissive).
#[derive(Debug, Clone, Default)]
pub struct Penalties {
    pub enabled: Option<bool>,
    pub values: BTreeMap<&'static str, i64>,
}

impl Penalties {
    /// The release's defaults for what was not set.
    pub fn filled(&self, b: &Build) -> (bool, BTreeMap<&'static str, i64>) {
        let mut v = self.values.clone();
        let grace = if b.at_least(9, 9) { 10 } else { 20 };
        let mut defaults: Vec<(&'static str, i64)> = vec![
            ("crash", 90),
            ("authfail", 5),
            ("noauth", 1),
            ("grace-exceeded", grace),
            ("max", 600),
            ("min", 15),
            ("max-sources4", 65536),
            ("max-sources6", 65536),
            ("overflow", 2),
        ];
        if b.at_least(9, 9) {
            defaults.push(("refuseconnection", 10));
        }
        for (k, d) in defaults {
            v.entry(k).or_insert(d);
        }
        let o = v.get("overflow").copied().unwrap_or(2);
        v.entry("overflow6").or_insert(o);
        (self.enabled.unwrap_or(true), v)
    }
}

/// A multistate keyword's words and values, in OpenSSH's order (the first word with a value is
/// how `sshd -T` prints it).
pub type Multistate = &'static [(&'static str, i64)];

pub const FLAG: Multistate = &[("yes", 1), ("no", 0)];
pub const IGNORE_RHOSTS: Multistate = &[("yes", 1), ("no", 0), ("shosts-only", 2)];
pub const ADDRESS_FAMILY: Multistate = &[("inet", 2), ("inet6", 10), ("any", 0)];
pub const PERMIT_ROOT_LOGIN: Multistate = &[
    ("without-password", 2),
    ("prohibit-password", 2),
    ("forced-commands-only", 1),
    ("yes", 3),
    ("no", 0),
];
/// 10.1 and later print `prohibit-password` first.
pub const PERMIT_ROOT_LOGIN_NEW: Multistate = &[
    ("prohibit-password", 2),
    ("without-password", 2),
    ("forced-commands-only", 1),
    ("yes", 3),
    ("no", 0),
];
pub const COMPRESSION: Multistate = &[("yes", 2), ("delayed", 2), ("no", 0)];
pub const GATEWAY_PORTS: Multistate = &[("clientspecified", 2), ("yes", 1), ("no", 0)];
pub const TCP_FORWARDING: Multistate = &[
    ("yes", 3),
    ("all", 3),
    ("no", 0),
    ("remote", 2),
    ("local", 1),
];
pub const PERMIT_TUNNEL: Multistate = &[
    ("no", 0),
    ("point-to-point", 1),
    ("ethernet", 2),
    ("yes", 3),
];

pub const PERMIT_NO_PASSWD: i64 = 2;

/// The multistate table of a keyword (None: a plain yes/no flag or not multistate).
pub fn multistate_of(canon: &str, build: &Build) -> Option<Multistate> {
    Some(match canon {
        "ignorerhosts" => IGNORE_RHOSTS,
        "addressfamily" => ADDRESS_FAMILY,
        "permitrootlogin" if build.at_least(10, 1) => PERMIT_ROOT_LOGIN_NEW,
        "permitrootlogin" => PERMIT_ROOT_LOGIN,
        "compression" => COMPRESSION,
        "gatewayports" => GATEWAY_PORTS,
        "allowtcpforwarding" | "allowstreamlocalforwarding" => TCP_FORWARDING,
        _ => return None,
    })
}

/// Integer-like options a matching `Match` block copies over the global value
/// (`M_CP_INTOPT` in copy_set_server_options).
pub const MATCH_INTS: &[&str] = &[
    "passwordauthentication",
    "gssapiauthentication",
    "pubkeyauthentication",
    "pubkeyauthoptions",
    "kerberosauthentication",
    "hostbasedauthentication",
    "hostbasedusesnamefrompacketonly",
    "kbdinteractiveauthentication",
    "permitrootlogin",
    "permitemptypasswords",
    "ignorerhosts",
    "allowtcpforwarding",
    "allowstreamlocalforwarding",
    "allowagentforwarding",
    "disableforwarding",
    "exposeauthinfo",
    "permittunnel",
    "gatewayports",
    "streamlocalbindunlink",
    "x11displayoffset",
    "x11forwarding",
    "x11uselocalhost",
    "permittty",
    "permituserrc",
    "maxsessions",
    "maxauthtries",
    "clientalivecountmax",
    "clientaliveinterval",
    "loglevel",
    "requiredrsasize",
    "unusedconnectiontimeout",
    "streamlocalbindmask",
    "refuseconnection",
];

/// String options a `Match` block copies (`COPY_MATCH_STRING_OPTS` and the post-auth ones).
pub const MATCH_STRS: &[&str] = &[
    "banner",
    "trustedusercakeys",
    "revokedkeys",
    "authorizedkeyscommand",
    "authorizedkeyscommanduser",
    "authorizedprincipalsfile",
    "authorizedprincipalscommand",
    "authorizedprincipalscommanduser",
    "hostbasedacceptedalgorithms",
    "pubkeyacceptedalgorithms",
    "casignaturealgorithms",
    "rdomain",
    "permituserenvironment",
    "forcecommand",
    "chrootdirectory",
    "pamservicename",
];

/// List options a `Match` block replaces as a whole.
pub const MATCH_LISTS: &[&str] = &[
    "authorizedkeysfile",
    "allowusers",
    "denyusers",
    "allowgroups",
    "denygroups",
    "acceptenv",
    "setenv",
    "authenticationmethods",
    "permitopen",
    "permitlisten",
    "channeltimeout",
    "logverbose",
];

impl Options {
    pub fn int(&self, k: &str) -> Option<i64> {
        self.ints.get(k).copied()
    }

    pub fn str(&self, k: &str) -> Option<&str> {
        self.strs.get(k).map(String::as_str)
    }

    pub fn list(&self, k: &str) -> &[String] {
        self.lists.get(k).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A list option's entries with where each was set (None: a compiled-in default).
    pub fn list_with_origin(&self, k: &str) -> Vec<(String, Option<Origin>)> {
        let origins = self.list_origin.get(k);
        self.list(k)
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), origins.and_then(|o| o.get(i)).cloned()))
            .collect()
    }

    /// Sets an integer option unless already set (OpenSSH's "first value wins").
    pub fn set_int_first(&mut self, k: &'static str, v: i64, at: &Origin) {
        if !self.ints.contains_key(k) {
            self.ints.insert(k, v);
            self.origin.insert(k, at.clone());
        }
    }

    pub fn set_str_first(&mut self, k: &'static str, v: String, at: &Origin) {
        if !self.strs.contains_key(k) {
            self.strs.insert(k, v);
            self.origin.insert(k, at.clone());
        }
    }

    /// Overwrites (the options where the last line wins).
    pub fn set_int_last(&mut self, k: &'static str, v: i64, at: &Origin) {
        self.ints.insert(k, v);
        self.origin.insert(k, at.clone());
    }

    pub fn push(&mut self, k: &'static str, v: String, at: &Origin) {
        let l = self.lists.entry(k).or_default();
        if l.is_empty() {
            self.origin.insert(k, at.clone());
        }
        l.push(v);
        self.list_origin.entry(k).or_default().push(at.clone());
    }

    /// `fill_default_server_options`: OpenSSH's compiled-in defaults for everything unset.
    pub fn fill_defaults(&mut self, b: &Build) {
        if self.lists.get("hostkey").is_none_or(Vec::is_empty) {
            let mut keys = vec!["/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key"];
            keys.push("/etc/ssh/ssh_host_ed25519_key");
            if !b.at_least(7, 0) {
                keys.insert(1, "/etc/ssh/ssh_host_dsa_key");
            }
            self.lists
                .insert("hostkey", keys.into_iter().map(String::from).collect());
        }
        if self.ports.is_empty() {
            self.ports.push(22);
        }
        let ints: &[(&'static str, i64)] = &[
            ("usepam", 0),
            ("addressfamily", 0),
            ("logingracetime", 120),
            ("permitrootlogin", PERMIT_NO_PASSWD),
            ("ignorerhosts", 1),
            ("ignoreuserknownhosts", 0),
            ("printmotd", 1),
            ("printlastlog", 1),
            ("x11forwarding", 0),
            ("x11displayoffset", 10),
            ("x11uselocalhost", 1),
            ("permittty", 1),
            ("permituserrc", 1),
            ("strictmodes", 1),
            ("tcpkeepalive", 1),
            ("hostbasedauthentication", 0),
            ("hostbasedusesnamefrompacketonly", 0),
            ("pubkeyauthentication", 1),
            ("pubkeyauthoptions", 0),
            ("kerberosauthentication", 0),
            ("kerberosorlocalpasswd", 1),
            ("kerberosticketcleanup", 1),
            ("kerberosgetafstoken", 0),
            ("gssapiauthentication", 0),
            ("gssapicleanupcredentials", 1),
            ("gssapistrictacceptorcheck", 1),
            ("gssapikeyexchange", 0),
            ("gssapistorecredentialsonrekey", 0),
            ("passwordauthentication", 1),
            ("kbdinteractiveauthentication", 1),
            ("permitemptypasswords", 0),
            ("permituserenvironment", 0),
            ("compression", 2),
            ("allowtcpforwarding", 3),
            ("allowstreamlocalforwarding", 3),
            ("allowagentforwarding", 1),
            ("gatewayports", 0),
            ("persourcemaxstartups", i64::from(i32::MAX)),
            ("maxauthtries", 6),
            ("maxsessions", 10),
            ("usedns", 0),
            ("clientaliveinterval", 0),
            ("clientalivecountmax", 3),
            ("permittunnel", 0),
            ("streamlocalbindmask", 0o177),
            ("streamlocalbindunlink", 0),
            ("fingerprinthash", 2),
            ("disableforwarding", 0),
            ("exposeauthinfo", 0),
            ("requiredrsasize", 1024),
            ("unusedconnectiontimeout", 0),
            ("loglevel", 3),
            ("syslogfacility", 2),
            ("debianbanner", 1),
        ];
        for (k, v) in ints {
            self.ints.entry(k).or_insert(*v);
        }
        if self.max_startups.is_none() {
            self.max_startups = Some((10, 30, 100));
        }
        if self.per_source_netblock.is_none() {
            self.per_source_netblock = Some((32, 128));
        }
        if self.ip_qos.is_none() {
            // Before 7.8 the TOS values; 7.8 to 10.0 AF21/CS1; 10.1 EF/CS1. Debian 12 kept the
            // TOS values (a VMware NAT bug, Debian #923879); Debian 13's 10.0 has EF/CS1.
            self.ip_qos = Some(if b.vendor == Vendor::Debian && b.at_least(10, 0) {
                (0xb8, 0x20)
            } else if b.vendor == Vendor::Debian || !b.at_least(7, 8) {
                (0x10, 0x08)
            } else if b.at_least(10, 1) {
                (0xb8, 0x20)
            } else {
                (0x48, 0x20)
            });
        }
        self.rekey_limit.get_or_insert(0);
        self.rekey_interval.get_or_insert(0);
        let strs: &[(&'static str, &str)] = &[
            ("pidfile", "/run/sshd.pid"),
            ("modulifile", "/etc/ssh/moduli"),
            ("xauthlocation", "/usr/bin/xauth"),
            ("versionaddendum", ""),
            ("securitykeyprovider", "internal"),
        ];
        for (k, v) in strs {
            self.strs.entry(k).or_insert_with(|| v.to_string());
        }
        if b.vendor == Vendor::Rhel {
            self.strs.entry("pidfile").and_modify(|p| {
                if p == "/run/sshd.pid" {
                    *p = "/var/run/sshd.pid".into()
                }
            });
        }
        if self
            .lists
            .get("authorizedkeysfile")
            .is_none_or(Vec::is_empty)
        {
            self.lists.insert(
                "authorizedkeysfile",
                vec![
                    ".ssh/authorized_keys".into(),
                    ".ssh/authorized_keys2".into(),
                ],
            );
        }
        // "none" clears these (CLEAR_ON_NONE).
        for k in [
            "pidfile",
            "xauthlocation",
            "banner",
            "trustedusercakeys",
            "revokedkeys",
            "securitykeyprovider",
            "authorizedprincipalsfile",
            "forcecommand",
            "chrootdirectory",
            "rdomain",
            "hostkeyagent",
        ] {
            if self
                .strs
                .get(k)
                .is_some_and(|v| v.eq_ignore_ascii_case("none"))
            {
                self.strs.remove(k);
            }
        }
        for k in ["hostkey", "hostcertificate"] {
            if let Some(l) = self.lists.get_mut(k) {
                l.retain(|p| !p.eq_ignore_ascii_case("none"));
            }
        }
        if self.list("channeltimeout") == ["none"] {
            self.lists.remove("channeltimeout");
        }
        if self.list("authenticationmethods") == ["any"] {
            self.lists.remove("authenticationmethods");
        }
        if self.listen.is_empty() {
            self.listen.push(ListenSpec {
                host: String::new(),
                port: 0,
                rdomain: None,
            });
        }
    }

    /// `copy_set_server_options(dst=self, src=m, preauth=0)`: what a matching Match block set
    /// replaces the global value.
    pub fn overlay(&mut self, m: &Options) {
        for k in MATCH_INTS {
            if let Some(v) = m.ints.get(k) {
                self.ints.insert(k, *v);
                if let Some(o) = m.origin.get(k) {
                    self.origin.insert(k, o.clone());
                }
            }
        }
        if m.ip_qos.is_some() {
            self.ip_qos = m.ip_qos;
        }
        if m.rekey_limit.is_some() {
            self.rekey_limit = m.rekey_limit;
        }
        if m.rekey_interval.is_some() {
            self.rekey_interval = m.rekey_interval;
        }
        for k in MATCH_STRS {
            if let Some(v) = m.strs.get(k) {
                self.strs.insert(k, v.clone());
                if let Some(o) = m.origin.get(k) {
                    self.origin.insert(k, o.clone());
                }
            }
        }
        for k in MATCH_LISTS {
            if let Some(v) = m.lists.get(k).filter(|l| !l.is_empty()) {
                self.lists.insert(k, v.clone());
                if let Some(o) = m.list_origin.get(k) {
                    self.list_origin.insert(k, o.clone());
                }
                if let Some(o) = m.origin.get(k) {
                    self.origin.insert(k, o.clone());
                }
            }
        }
        if !m.subsystems.is_empty() {
            self.subsystems = m.subsystems.clone();
        }
        for k in ["forcecommand", "chrootdirectory"] {
            if self
                .strs
                .get(k)
                .is_some_and(|v| v.eq_ignore_ascii_case("none"))
            {
                self.strs.remove(k);
            }
        }
    }

    /// The effective algorithm list of a class (`assemble_algorithms`).
    pub fn algorithms(&self, class: Class, b: &Build) -> Result<Vec<String>, String> {
        let k = algo_keyword(class);
        algorithms::assemble(class, self.str(k), b)
    }
}

/// The keyword holding a class's list (pubkey uses its own, see `pubkey_algorithms`).
pub fn algo_keyword(class: Class) -> &'static str {
    match class {
        Class::Cipher => "ciphers",
        Class::Mac => "macs",
        Class::Kex => "kexalgorithms",
        Class::Key => "hostkeyalgorithms",
        Class::Sig => "casignaturealgorithms",
    }
}
