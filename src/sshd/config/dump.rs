//! The effective configuration printed like `sshd -T` (servconf.c `dump_config`): same key
//! names, order and value formatting as the guest's release; checked line for line against
//! Debian 12's sshd 9.2p1 by tests/sshd_config_diff.rs.

use std::fmt::Write;
use std::net::IpAddr;

use super::algorithms::Class;
use super::build::{Build, Vendor};
use super::options::{self, Options};
use super::parse::{DIGESTS, facility_name, iptos_name, level_name};

/// GSSAPIKexAlgorithms' default in the Debian and RHEL patch sets.
const GSS_KEX_DEFAULT: &str = "gss-group14-sha256-,gss-group16-sha512-,gss-nistp256-sha256-,gss-curve25519-sha256-,gss-group14-sha1-,gss-gex-sha1-";

/// The `listenaddress` lines: every ListenAddress (or the wildcard) on every port it applies
/// to, in sshd's order. Host names that are not numeric addresses are printed as written
/// (sshd would resolve them).
pub fn listen_lines(o: &Options) -> Vec<String> {
    let family = o.int("addressfamily").unwrap_or(0);
    let mut out = Vec::new();
    for spec in &o.listen {
        let ports: Vec<u16> = if spec.port > 0 {
            vec![spec.port]
        } else {
            o.ports.clone()
        };
        for port in ports {
            if spec.host.is_empty() {
                // getaddrinfo(NULL, AI_PASSIVE) gives 0.0.0.0 then ::; sshd prints the list
                // reversed.
                if family != 2 {
                    out.push(format!("[::]:{port}"));
                }
                if family != 10 {
                    out.push(format!("0.0.0.0:{port}"));
                }
                continue;
            }
            match spec.host.parse::<IpAddr>() {
                Ok(IpAddr::V6(a)) => out.push(format!("[{a}]:{port}")),
                Ok(IpAddr::V4(a)) => out.push(format!("{a}:{port}")),
                Err(_) => out.push(format!("{}:{port}", spec.host)),
            }
        }
    }
    out
}

fn flag(v: Option<i64>) -> &'static str {
    match v {
        Some(1) => "yes",
        Some(0) => "no",
        None => "unset",
        _ => "UNKNOWN",
    }
}

fn multi(o: &Options, k: &str, b: &Build) -> String {
    let v = o.int(k);
    let Some(v) = v else {
        return "unset".into();
    };
    match options::multistate_of(k, b) {
        Some(table) => table
            .iter()
            .find(|(_, n)| *n == v)
            .map(|(s, _)| s.to_string())
            .unwrap_or_else(|| "UNKNOWN".into()),
        None => flag(Some(v)).into(),
    }
}

/// `sshd -T`'s output for these options.
pub fn dump(o: &Options, b: &Build) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: &str| {
        let _ = writeln!(s, "{k} {v}");
    };
    for p in &o.ports {
        line("port", &p.to_string());
    }
    line("addressfamily", &multi(o, "addressfamily", b));
    for l in listen_lines(o) {
        line("listenaddress", &l);
    }
    line("usepam", flag(o.int("usepam")));
    if b.at_least(9, 8) {
        line("pamservicename", o.str("pamservicename").unwrap_or("sshd"));
    }
    for k in [
        "logingracetime",
        "x11displayoffset",
        "maxauthtries",
        "maxsessions",
        "clientaliveinterval",
        "clientalivecountmax",
    ] {
        line(k, &o.int(k).unwrap_or(-1).to_string());
    }
    if b.at_least(9, 1) {
        line(
            "requiredrsasize",
            &o.int("requiredrsasize").unwrap_or(-1).to_string(),
        );
    }
    line(
        "streamlocalbindmask",
        &format!("0{:o}", o.int("streamlocalbindmask").unwrap_or(0)),
    );
    if b.at_least(9, 2) {
        match o.int("unusedconnectiontimeout") {
            Some(0) | None => line("unusedconnectiontimeout", "none"),
            Some(v) => line("unusedconnectiontimeout", &v.to_string()),
        }
    }
    line("permitrootlogin", &multi(o, "permitrootlogin", b));
    line("ignorerhosts", &multi(o, "ignorerhosts", b));
    for k in [
        "ignoreuserknownhosts",
        "hostbasedauthentication",
        "hostbasedusesnamefrompacketonly",
        "pubkeyauthentication",
        "kerberosauthentication",
        "kerberosorlocalpasswd",
        "kerberosticketcleanup",
        "gssapiauthentication",
        "gssapicleanupcredentials",
    ] {
        line(k, flag(o.int(k)));
    }
    let gss_kex = matches!(b.vendor, Vendor::Debian | Vendor::Rhel | Vendor::Suse);
    if gss_kex {
        line("gssapikeyexchange", flag(o.int("gssapikeyexchange")));
    }
    line(
        "gssapistrictacceptorcheck",
        flag(o.int("gssapistrictacceptorcheck")),
    );
    if gss_kex {
        line(
            "gssapistorecredentialsonrekey",
            flag(o.int("gssapistorecredentialsonrekey")),
        );
        line(
            "gssapikexalgorithms",
            o.str("gssapikexalgorithms").unwrap_or(GSS_KEX_DEFAULT),
        );
    }
    for k in [
        "passwordauthentication",
        "kbdinteractiveauthentication",
        "printmotd",
        "printlastlog",
        "x11forwarding",
        "x11uselocalhost",
        "permittty",
        "permituserrc",
        "strictmodes",
        "tcpkeepalive",
        "permitemptypasswords",
    ] {
        line(k, flag(o.int(k)));
    }
    line("compression", &multi(o, "compression", b));
    line("gatewayports", &multi(o, "gatewayports", b));
    line("usedns", flag(o.int("usedns")));
    line("allowtcpforwarding", &multi(o, "allowtcpforwarding", b));
    line("allowagentforwarding", flag(o.int("allowagentforwarding")));
    line("disableforwarding", flag(o.int("disableforwarding")));
    line(
        "allowstreamlocalforwarding",
        &multi(o, "allowstreamlocalforwarding", b),
    );
    line(
        "streamlocalbindunlink",
        flag(o.int("streamlocalbindunlink")),
    );
    line(
        "fingerprinthash",
        o.int("fingerprinthash")
            .and_then(|v| usize::try_from(v).ok())
            .and_then(|i| DIGESTS.get(i))
            .copied()
            .unwrap_or("UNKNOWN"),
    );
    line("exposeauthinfo", flag(o.int("exposeauthinfo")));
    if b.at_least(9, 9) {
        line(
            "refuseconnection",
            flag(Some(o.int("refuseconnection").unwrap_or(0))),
        );
    }
    // Debian 13's patch prints DebianBanner (Debian 12's does not).
    if b.vendor == Vendor::Debian && b.at_least(10, 0) {
        line("debianbanner", flag(o.int("debianbanner")));
    }
    let st = |k: &str| {
        o.str(k)
            .map(str::to_string)
            .unwrap_or_else(|| "none".into())
    };
    for k in ["pidfile", "modulifile", "xauthlocation"] {
        line(k, &st(k));
    }
    let algos = |class: Class| {
        o.algorithms(class, b)
            .map(|v| v.join(","))
            .unwrap_or_else(|_| "none".into())
    };
    line("ciphers", &algos(Class::Cipher));
    line("macs", &algos(Class::Mac));
    for k in [
        "banner",
        "forcecommand",
        "chrootdirectory",
        "trustedusercakeys",
        "revokedkeys",
        "securitykeyprovider",
        "authorizedprincipalsfile",
    ] {
        line(k, &st(k));
    }
    line(
        "versionaddendum",
        match o.str("versionaddendum") {
            None | Some("") => "none",
            Some(v) => v,
        },
    );
    for k in [
        "authorizedkeyscommand",
        "authorizedkeyscommanduser",
        "authorizedprincipalscommand",
        "authorizedprincipalscommanduser",
        "hostkeyagent",
    ] {
        line(k, &st(k));
    }
    line("kexalgorithms", &algos(Class::Kex));
    line("casignaturealgorithms", &algos(Class::Sig));
    let key_list = |k: &str| {
        super::algorithms::assemble(Class::Key, o.str(k), b)
            .map(|v| v.join(","))
            .unwrap_or_else(|_| "none".into())
    };
    line(
        "hostbasedacceptedalgorithms",
        &key_list("hostbasedacceptedalgorithms"),
    );
    line("hostkeyalgorithms", &key_list("hostkeyalgorithms"));
    line(
        "pubkeyacceptedalgorithms",
        &key_list("pubkeyacceptedalgorithms"),
    );
    if b.at_least(9, 8) {
        line(
            "sshdsessionpath",
            o.str("sshdsessionpath")
                .unwrap_or("/usr/lib/openssh/sshd-session"),
        );
    }
    if b.at_least(10, 0) {
        line(
            "sshdauthpath",
            o.str("sshdauthpath")
                .unwrap_or("/usr/lib/openssh/sshd-auth"),
        );
    }
    if b.at_least(9, 8) {
        line(
            "persourcepenaltyexemptlist",
            o.str("persourcepenaltyexemptlist").unwrap_or("none"),
        );
    }
    line("loglevel", level_name(o.int("loglevel").unwrap_or(-1)));
    line(
        "syslogfacility",
        facility_name(o.int("syslogfacility").unwrap_or(-1)),
    );
    let akf = o.list("authorizedkeysfile");
    if !akf.is_empty() {
        line("authorizedkeysfile", &akf.join(" "));
    }
    for k in [
        "hostkey",
        "hostcertificate",
        "allowusers",
        "denyusers",
        "allowgroups",
        "denygroups",
        "acceptenv",
        "setenv",
    ] {
        for v in o.list(k) {
            line(k, v);
        }
    }
    let am = o.list("authenticationmethods");
    line(
        "authenticationmethods",
        &if am.is_empty() {
            "any".into()
        } else {
            am.join(" ")
        },
    );
    let lv = o.list("logverbose");
    if !lv.is_empty() {
        line("logverbose", &lv.join(" "));
    }
    let ct = o.list("channeltimeout");
    if !ct.is_empty() {
        line("channeltimeout", &ct.join(" "));
    } else if b.at_least(9, 3) {
        line("channeltimeout", "none");
    }
    for (name, _, args) in &o.subsystems {
        line("subsystem", &format!("{name} {args}"));
    }
    let (a, r, f) = o.max_startups.unwrap_or((10, 30, 100));
    line("maxstartups", &format!("{a}:{r}:{f}"));
    match o.int("persourcemaxstartups") {
        Some(v) if v == i64::from(i32::MAX) => line("persourcemaxstartups", "none"),
        Some(v) => line("persourcemaxstartups", &v.to_string()),
        None => line("persourcemaxstartups", "none"),
    }
    let (n4, n6) = o.per_source_netblock.unwrap_or((32, 128));
    line("persourcenetblocksize", &format!("{n4}:{n6}"));
    line(
        "permittunnel",
        options::PERMIT_TUNNEL
            .iter()
            .find(|(_, v)| Some(*v) == o.int("permittunnel"))
            .map(|(s, _)| *s)
            .unwrap_or("none"),
    );
    let (qi, qb) = o.ip_qos.unwrap_or((0x48, 0x20));
    line("ipqos", &format!("{} {}", iptos_name(qi), iptos_name(qb)));
    line(
        "rekeylimit",
        &format!(
            "{} {}",
            o.rekey_limit.unwrap_or(0),
            o.rekey_interval.unwrap_or(0)
        ),
    );
    for k in ["permitopen", "permitlisten"] {
        let l = o.list(k);
        line(
            k,
            &if l.is_empty() {
                "any".into()
            } else {
                l.join(" ")
            },
        );
    }
    match o.str("permituserenvironment") {
        Some(list) => line("permituserenvironment", list),
        None => line(
            "permituserenvironment",
            flag(o.int("permituserenvironment")),
        ),
    }
    let pao = o.int("pubkeyauthoptions").unwrap_or(0);
    let mut v = String::new();
    if pao == 0 {
        v.push_str(" none");
    }
    if pao & 1 != 0 {
        v.push_str(" touch-required");
    }
    if pao & 2 != 0 {
        v.push_str(" verify-required");
    }
    line("pubkeyauthoptions", v.trim_start());
    if b.at_least(9, 8) {
        let (on, p) = o.penalties.filled(b);
        if on {
            let g = |k: &str| p.get(k).copied().unwrap_or(0);
            let mode = |k: &str| if g(k) == 1 { "deny-all" } else { "permissive" };
            let refuse = if b.at_least(9, 9) {
                format!(" refuseconnection:{}", g("refuseconnection"))
            } else {
                String::new()
            };
            line(
                "persourcepenalties",
                &format!(
                    "crash:{} authfail:{} noauth:{} grace-exceeded:{}{refuse} max:{} min:{} max-sources4:{} max-sources6:{} overflow:{} overflow6:{}",
                    g("crash"),
                    g("authfail"),
                    g("noauth"),
                    g("grace-exceeded"),
                    g("max"),
                    g("min"),
                    g("max-sources4"),
                    g("max-sources6"),
                    mode("overflow"),
                    mode("overflow6")
                ),
            );
        } else {
            line("persourcepenalties", "no");
        }
    }
    s
}
