//! sshd_config's keywords per OpenSSH release, and the distributions' additions.
//!
//! The upstream part was read off servconf.c of every portable release from 7.0 to 10.5 by
//! `scripts/sshd-keywords.py` (run it against an openssh-portable clone to check this table after
//! a release), with the #ifdefs a Linux distribution build sets (PAM, GSSAPI, Kerberos on; AFS
//! off). Each keyword has a history: from which release it is a real option (and whether it is
//! allowed inside `Match`), deprecated (logged at INFO and ignored), ignored silently,
//! unsupported in such a build (logged, ignored) or gone ("Bad configuration option": fatal).

use super::build::{Build, Vendor};

/// A keyword's state in one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A real option, allowed only outside `Match`.
    G,
    /// A real option, allowed outside and inside `Match`.
    A,
    /// "Deprecated option": logged at INFO, ignored.
    Dep,
    /// Ignored without a word (e.g. `Protocol` since 7.4).
    Ign,
    /// "Unsupported option": logged at INFO, ignored.
    Uns,
    /// Not known: "Bad configuration option".
    Gone,
}
use State::*;

/// One spelling of a keyword.
pub struct Keyword {
    /// The spelling (lower case).
    pub name: &'static str,
    /// The option it sets: the first spelling of that option in OpenSSH's table, which is also
    /// the name `sshd -T` prints.
    pub canon: &'static str,
    /// (first release as major*100+minor, state from that release on), oldest first.
    pub history: &'static [(u32, State)],
}

const fn kw(name: &'static str, canon: &'static str, history: &'static [(u32, State)]) -> Keyword {
    Keyword {
        name,
        canon,
        history,
    }
}

/// Upstream OpenSSH portable.
pub static UPSTREAM: &[Keyword] = &[
    kw("acceptenv", "acceptenv", &[(700, A)]),
    kw("addressfamily", "addressfamily", &[(700, G)]),
    kw(
        "afstokenpassing",
        "afstokenpassing",
        &[(700, Uns), (1004, Dep)],
    ),
    kw("allowagentforwarding", "allowagentforwarding", &[(700, A)]),
    kw("allowgroups", "allowgroups", &[(700, A)]),
    kw(
        "allowstreamlocalforwarding",
        "allowstreamlocalforwarding",
        &[(700, A)],
    ),
    kw("allowtcpforwarding", "allowtcpforwarding", &[(700, A)]),
    kw("allowusers", "allowusers", &[(700, A)]),
    kw(
        "authenticationmethods",
        "authenticationmethods",
        &[(700, A)],
    ),
    kw(
        "authorizedkeyscommand",
        "authorizedkeyscommand",
        &[(700, A)],
    ),
    kw(
        "authorizedkeyscommanduser",
        "authorizedkeyscommanduser",
        &[(700, A)],
    ),
    kw("authorizedkeysfile", "authorizedkeysfile", &[(700, A)]),
    kw("authorizedkeysfile2", "authorizedkeysfile2", &[(700, Dep)]),
    kw(
        "authorizedprincipalscommand",
        "authorizedprincipalscommand",
        &[(700, A)],
    ),
    kw(
        "authorizedprincipalscommanduser",
        "authorizedprincipalscommanduser",
        &[(700, A)],
    ),
    kw(
        "authorizedprincipalsfile",
        "authorizedprincipalsfile",
        &[(700, A)],
    ),
    kw("banner", "banner", &[(700, A)]),
    kw(
        "casignaturealgorithms",
        "casignaturealgorithms",
        &[(709, A)],
    ),
    kw(
        "challengeresponseauthentication",
        "kbdinteractiveauthentication",
        &[(700, G), (807, A)],
    ),
    kw("channeltimeout", "channeltimeout", &[(902, A)]),
    kw("checkmail", "checkmail", &[(700, Dep)]),
    kw("chrootdirectory", "chrootdirectory", &[(700, A)]),
    kw("ciphers", "ciphers", &[(700, G)]),
    kw(
        "clientalivecountmax",
        "clientalivecountmax",
        &[(700, G), (704, A)],
    ),
    kw(
        "clientaliveinterval",
        "clientaliveinterval",
        &[(700, G), (704, A)],
    ),
    kw("compression", "compression", &[(700, G)]),
    kw("denygroups", "denygroups", &[(700, A)]),
    kw("denyusers", "denyusers", &[(700, A)]),
    kw("disableforwarding", "disableforwarding", &[(704, A)]),
    kw("dsaauthentication", "pubkeyauthentication", &[(700, G)]),
    kw("exposeauthinfo", "exposeauthinfo", &[(706, A)]),
    kw("fingerprinthash", "fingerprinthash", &[(700, G)]),
    kw("forcecommand", "forcecommand", &[(700, A)]),
    kw("gatewayports", "gatewayports", &[(700, A)]),
    kw("gssapiauthentication", "gssapiauthentication", &[(700, A)]),
    kw(
        "gssapicleanupcredentials",
        "gssapicleanupcredentials",
        &[(700, G)],
    ),
    kw(
        "gssapidelegatecredentials",
        "gssapidelegatecredentials",
        &[(1003, G)],
    ),
    kw(
        "gssapistrictacceptorcheck",
        "gssapistrictacceptorcheck",
        &[(700, G)],
    ),
    kw(
        "hostbasedacceptedalgorithms",
        "hostbasedacceptedalgorithms",
        &[(805, A)],
    ),
    kw(
        "hostbasedacceptedkeytypes",
        "hostbasedacceptedalgorithms",
        &[(700, A)],
    ),
    kw(
        "hostbasedauthentication",
        "hostbasedauthentication",
        &[(700, A)],
    ),
    kw(
        "hostbasedusesnamefrompacketonly",
        "hostbasedusesnamefrompacketonly",
        &[(700, A)],
    ),
    kw("hostcertificate", "hostcertificate", &[(700, G)]),
    kw("hostdsakey", "hostkey", &[(700, G)]),
    kw("hostkey", "hostkey", &[(700, G)]),
    kw("hostkeyagent", "hostkeyagent", &[(700, G)]),
    kw("hostkeyalgorithms", "hostkeyalgorithms", &[(700, G)]),
    kw("ignorerhosts", "ignorerhosts", &[(700, G), (803, A)]),
    kw("ignoreuserknownhosts", "ignoreuserknownhosts", &[(700, G)]),
    kw("include", "include", &[(802, A)]),
    kw("ipqos", "ipqos", &[(700, A)]),
    kw(
        "kbdinteractiveauthentication",
        "kbdinteractiveauthentication",
        &[(700, A)],
    ),
    kw("keepalive", "tcpkeepalive", &[(700, G)]),
    kw(
        "kerberosauthentication",
        "kerberosauthentication",
        &[(700, A)],
    ),
    kw("kerberosgetafstoken", "kerberosgetafstoken", &[(700, Uns)]),
    kw(
        "kerberosorlocalpasswd",
        "kerberosorlocalpasswd",
        &[(700, G)],
    ),
    kw(
        "kerberostgtpassing",
        "kerberostgtpassing",
        &[(700, Uns), (1004, Dep)],
    ),
    kw(
        "kerberosticketcleanup",
        "kerberosticketcleanup",
        &[(700, G)],
    ),
    kw("kexalgorithms", "kexalgorithms", &[(700, G)]),
    kw(
        "keyregenerationinterval",
        "keyregenerationinterval",
        &[(700, G), (704, Dep)],
    ),
    kw("listenaddress", "listenaddress", &[(700, G)]),
    kw("logingracetime", "logingracetime", &[(700, G)]),
    kw("loglevel", "loglevel", &[(700, G), (706, A)]),
    kw("logverbose", "logverbose", &[(805, A)]),
    kw("macs", "macs", &[(700, G)]),
    kw("match", "match", &[(700, A)]),
    kw("maxauthtries", "maxauthtries", &[(700, A)]),
    kw("maxsessions", "maxsessions", &[(700, A)]),
    kw("maxstartups", "maxstartups", &[(700, G)]),
    kw("modulifile", "modulifile", &[(806, G)]),
    kw(
        "pamauthenticationviakbdint",
        "pamauthenticationviakbdint",
        &[(700, Dep), (1004, Gone)],
    ),
    kw("pamservicename", "pamservicename", &[(908, A)]),
    kw(
        "passwordauthentication",
        "passwordauthentication",
        &[(700, A)],
    ),
    kw("permitemptypasswords", "permitemptypasswords", &[(700, A)]),
    kw("permitlisten", "permitlisten", &[(708, A)]),
    kw("permitopen", "permitopen", &[(700, A)]),
    kw("permitrootlogin", "permitrootlogin", &[(700, A)]),
    kw("permittty", "permittty", &[(700, A)]),
    kw("permittunnel", "permittunnel", &[(700, A)]),
    kw(
        "permituserenvironment",
        "permituserenvironment",
        &[(700, G)],
    ),
    kw("permituserrc", "permituserrc", &[(700, A)]),
    kw("persourcemaxstartups", "persourcemaxstartups", &[(805, G)]),
    kw(
        "persourcenetblocksize",
        "persourcenetblocksize",
        &[(805, G)],
    ),
    kw("persourcepenalties", "persourcepenalties", &[(908, G)]),
    kw(
        "persourcepenaltyexemptlist",
        "persourcepenaltyexemptlist",
        &[(908, G)],
    ),
    kw("pidfile", "pidfile", &[(700, G)]),
    kw("port", "port", &[(700, G)]),
    kw("printlastlog", "printlastlog", &[(700, G)]),
    kw("printmotd", "printmotd", &[(700, G)]),
    kw("protocol", "protocol", &[(700, G), (704, Ign)]),
    kw(
        "pubkeyacceptedalgorithms",
        "pubkeyacceptedalgorithms",
        &[(805, A)],
    ),
    kw(
        "pubkeyacceptedkeytypes",
        "pubkeyacceptedalgorithms",
        &[(700, A)],
    ),
    kw("pubkeyauthentication", "pubkeyauthentication", &[(700, A)]),
    kw("pubkeyauthoptions", "pubkeyauthoptions", &[(802, A)]),
    kw("rdomain", "rdomain", &[(707, A)]),
    kw("refuseconnection", "refuseconnection", &[(909, A)]),
    kw("rekeylimit", "rekeylimit", &[(700, A)]),
    kw("requiredrsasize", "requiredrsasize", &[(901, A)]),
    kw("reversemappingcheck", "reversemappingcheck", &[(700, Dep)]),
    kw("revokedkeys", "revokedkeys", &[(700, A)]),
    kw(
        "rhostsauthentication",
        "rhostsauthentication",
        &[(700, Dep)],
    ),
    kw(
        "rhostsrsaauthentication",
        "rhostsrsaauthentication",
        &[(700, A), (704, Dep)],
    ),
    kw(
        "rsaauthentication",
        "rsaauthentication",
        &[(700, A), (704, Dep)],
    ),
    kw("securitykeyprovider", "securitykeyprovider", &[(802, G)]),
    kw("serverkeybits", "serverkeybits", &[(700, G), (704, Dep)]),
    kw("setenv", "setenv", &[(708, A)]),
    kw(
        "skeyauthentication",
        "kbdinteractiveauthentication",
        &[(700, G), (708, Dep), (807, A)],
    ),
    kw("sshdauthpath", "sshdauthpath", &[(1000, G)]),
    kw("sshdsessionpath", "sshdsessionpath", &[(908, G)]),
    kw("streamlocalbindmask", "streamlocalbindmask", &[(700, A)]),
    kw(
        "streamlocalbindunlink",
        "streamlocalbindunlink",
        &[(700, A)],
    ),
    kw("strictmodes", "strictmodes", &[(700, G)]),
    kw("subsystem", "subsystem", &[(700, G), (905, A)]),
    kw("syslogfacility", "syslogfacility", &[(700, G)]),
    kw("tcpkeepalive", "tcpkeepalive", &[(700, G)]),
    kw("trustedusercakeys", "trustedusercakeys", &[(700, A)]),
    kw(
        "unusedconnectiontimeout",
        "unusedconnectiontimeout",
        &[(902, A)],
    ),
    kw("usedns", "usedns", &[(700, G)]),
    kw("uselogin", "uselogin", &[(700, G), (704, Dep)]),
    kw("usepam", "usepam", &[(700, G)]),
    kw(
        "useprivilegeseparation",
        "useprivilegeseparation",
        &[(700, G), (705, Dep)],
    ),
    kw(
        "verifyreversemapping",
        "verifyreversemapping",
        &[(700, Dep)],
    ),
    kw("versionaddendum", "versionaddendum", &[(700, G)]),
    kw("x11displayoffset", "x11displayoffset", &[(700, A)]),
    kw("x11forwarding", "x11forwarding", &[(700, A)]),
    kw("x11uselocalhost", "x11uselocalhost", &[(700, A)]),
    kw("xauthlocation", "xauthlocation", &[(700, G)]),
];

/// Debian and Ubuntu's patch set (GSSAPI key exchange, DebianBanner, old Debian-only options).
pub static DEBIAN: &[Keyword] = &[
    kw("debianbanner", "debianbanner", &[(700, G)]),
    kw("gssapikeyexchange", "gssapikeyexchange", &[(700, G)]),
    kw(
        "gssapistorecredentialsonrekey",
        "gssapistorecredentialsonrekey",
        &[(700, G)],
    ),
    kw("gssapikexalgorithms", "gssapikexalgorithms", &[(700, G)]),
    kw(
        "gssapicleanupcreds",
        "gssapicleanupcredentials",
        &[(700, G)],
    ),
    kw(
        "gssapiusesessioncredcache",
        "gssapiusesessioncredcache",
        &[(700, Uns)],
    ),
    kw("gssusesessionccache", "gssusesessionccache", &[(700, Uns)]),
    kw(
        "permitblacklistedkeys",
        "permitblacklistedkeys",
        &[(700, Dep)],
    ),
];

/// The RHEL family's (Fedora, CentOS, Rocky, Alma) patch set.
pub static RHEL: &[Keyword] = &[
    kw("gssapikeyexchange", "gssapikeyexchange", &[(700, G)]),
    kw(
        "gssapistorecredentialsonrekey",
        "gssapistorecredentialsonrekey",
        &[(700, G)],
    ),
    kw("gssapikexalgorithms", "gssapikexalgorithms", &[(700, G)]),
    kw("gssapienablek5users", "gssapienablek5users", &[(700, A)]),
    kw("kerberosusekuserok", "kerberosusekuserok", &[(700, A)]),
];

/// SUSE's patch set.
pub static SUSE: &[Keyword] = &[
    kw("gssapikeyexchange", "gssapikeyexchange", &[(700, G)]),
    kw(
        "gssapistorecredentialsonrekey",
        "gssapistorecredentialsonrekey",
        &[(700, G)],
    ),
    kw("gssapikexalgorithms", "gssapikexalgorithms", &[(700, G)]),
];

/// A keyword as this build of sshd knows it: its spelling entry and its state.
pub fn lookup(name: &str, build: &Build) -> Option<(&'static Keyword, State)> {
    let lower = name.to_ascii_lowercase();
    let vendor: &[Keyword] = match build.vendor {
        Vendor::Debian => DEBIAN,
        Vendor::Rhel => RHEL,
        Vendor::Suse => SUSE,
        Vendor::Upstream => &[],
    };
    let k = UPSTREAM
        .iter()
        .chain(vendor.iter())
        .find(|k| k.name == lower)?;
    let state = state_at(k, build.version_code());
    if state == Gone {
        return None;
    }
    Some((k, state))
}

/// The keyword's state in a release.
pub fn state_at(k: &Keyword, version: u32) -> State {
    k.history
        .iter()
        .rev()
        .find(|(v, _)| *v <= version)
        .map(|(_, s)| *s)
        .unwrap_or(Gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history() {
        let b92 = Build::upstream(9, 2);
        assert_eq!(lookup("Port", &b92).map(|x| x.1), Some(G));
        assert_eq!(lookup("PermitRootLogin", &b92).map(|x| x.1), Some(A));
        assert_eq!(
            lookup("UsePrivilegeSeparation", &b92).map(|x| x.1),
            Some(Dep)
        );
        assert!(lookup("PerSourcePenalties", &b92).is_none());
        assert!(lookup("PerSourcePenalties", &Build::upstream(9, 8)).is_some());
        assert!(lookup("Include", &Build::upstream(8, 1)).is_none());
        assert!(lookup("DebianBanner", &b92).is_none());
        let deb = Build::new(9, 2, Vendor::Debian);
        assert_eq!(lookup("DebianBanner", &deb).map(|x| x.1), Some(G));
        assert_eq!(
            lookup("pubkeyacceptedkeytypes", &b92).map(|x| x.0.canon),
            Some("pubkeyacceptedalgorithms")
        );
        // The table is sorted and has no duplicate spellings.
        for w in UPSTREAM.windows(2) {
            assert!(w[0].name < w[1].name, "{} {}", w[0].name, w[1].name);
        }
    }
}
