//! OpenSSH's pattern matching (match.c, addrmatch.c): `*`/`?` wildcards, comma lists with `!`
//! negation, host names case-insensitively, addresses by CIDR.

use std::net::IpAddr;

/// `match_pattern`: `*` and `?` wildcards over the whole string.
pub fn pattern(s: &str, pat: &str) -> bool {
    crate::fs::glob::fnmatch_plain(pat.as_bytes(), s.as_bytes())
}

/// `match_pattern_list`: 1 when a positive sub-pattern matches and no negated one does, -1 when
/// a negated one matches, 0 otherwise. `lower` folds the patterns to lower case (host names).
pub fn pattern_list(s: &str, list: &str, lower: bool) -> i32 {
    let mut positive = false;
    for sub in list.split(',') {
        let (neg, p) = match sub.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, sub),
        };
        // OpenSSH gives up (no match) on a sub-pattern of 1023 bytes or more.
        if p.len() >= 1023 {
            return 0;
        }
        let p = if lower {
            p.to_ascii_lowercase()
        } else {
            p.to_string()
        };
        if pattern(s, &p) {
            if neg {
                return -1;
            }
            positive = true;
        }
    }
    i32::from(positive)
}

/// `match_hostname`: the host name folded to lower case against a lower-cased pattern list.
pub fn hostname(host: &str, list: &str) -> i32 {
    pattern_list(&host.to_ascii_lowercase(), list, true)
}

/// A parsed `addr/len`.
fn parse_cidr(s: &str) -> Result<Option<(IpAddr, u32)>, ()> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let Ok(addr) = a.parse::<IpAddr>() else {
        return Ok(None);
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u32>() {
            Ok(n) if n <= max && !l.starts_with('+') => n,
            _ => return Ok(None),
        },
    };
    // addr_pton_cidr: host bits set below the mask are "inconsistent" (-2).
    if !host_bits_clear(addr, len) {
        return Err(());
    }
    Ok(Some((addr, len)))
}

fn bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)) << 96,
        IpAddr::V6(v) => u128::from(v),
    }
}

/// IPv4 addresses sit in the top 32 bits of `bits`, so a prefix of `len` bits is the top `len`
/// bits for both families.
fn host_bits_clear(a: IpAddr, len: u32) -> bool {
    if len >= 128 {
        return true;
    }
    bits(a) & (u128::MAX >> len) == 0
}

fn net_match(a: IpAddr, net: IpAddr, len: u32) -> bool {
    if a.is_ipv4() != net.is_ipv4() {
        return false;
    }
    if len == 0 {
        return true;
    }
    let mask = if len >= 128 {
        u128::MAX
    } else {
        !(u128::MAX >> len)
    };
    bits(a) & mask == bits(net) & mask
}

/// `addr_match_list`: 1 match, 0 no match, -1 negated match, -2 a bad entry (an empty one or a
/// network with host bits set). `addr` None checks the list's syntax only.
pub fn addr_list(addr: Option<&str>, list: &str) -> i32 {
    let try_addr = match addr {
        Some(a) => match a.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => return 0,
        },
        None => None,
    };
    let mut ret = 0;
    for entry in list.split(',') {
        let (neg, e) = match entry.strip_prefix('!') {
            Some(e) => (true, e),
            None => (false, entry),
        };
        if e.is_empty() {
            return -2;
        }
        let found = match parse_cidr(e) {
            Err(()) => return -2,
            Ok(Some((net, len))) => try_addr.is_some_and(|a| net_match(a, net, len)),
            Ok(None) => addr.is_some_and(|a| pattern(a, e)),
        };
        if found {
            if neg {
                return -1;
            }
            ret = 1;
        }
    }
    ret
}

/// `match_user` in test mode (no connection): -1 when a `user@host` pattern's host part is a bad
/// address list, else 0.
pub fn user_pattern_valid(pat: &str) -> bool {
    match pat.split_once('@') {
        Some((_, host)) => {
            // match_host_and_ip(NULL, NULL, host): addr_match_list(NULL, host) == -2 is fatal.
            addr_list(None, host) != -2
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(pattern_list("alice", "a*", false), 1);
        assert_eq!(pattern_list("alice", "*,!alice", false), -1);
        assert_eq!(pattern_list("bob", "!alice", false), 0);
        assert_eq!(pattern_list("Alice", "alice", false), 0);
        assert_eq!(hostname("Web1.Example.com", "*.EXAMPLE.com"), 1);
    }

    #[test]
    fn addresses() {
        assert_eq!(addr_list(Some("10.1.2.3"), "10.0.0.0/8"), 1);
        assert_eq!(
            addr_list(Some("10.1.2.3"), "192.168.0.0/16,!10.0.0.0/8"),
            -1
        );
        assert_eq!(addr_list(Some("10.1.2.3"), "10.1.2.*"), 1);
        assert_eq!(addr_list(Some("10.1.2.3"), "10.0.0.1/8"), -2);
        assert_eq!(addr_list(None, "10.0.0.0/8"), 0);
        assert_eq!(addr_list(None, "10.0.0.0/8,"), -2);
        assert_eq!(addr_list(Some("2001:db8::1"), "2001:db8::/32"), 1);
        assert_eq!(addr_list(Some("2001:db8::1"), "10.0.0.0/8"), 0);
        assert_eq!(addr_list(Some("1.2.3.4"), "0.0.0.0/0"), 1);
    }
}
