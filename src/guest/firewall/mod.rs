//! Host firewalls as they load at boot, evaluated for one packet: a TCP SYN from an unknown
//! client to a port sshd listens on. Each backend reads its own files (iptables-restore files,
//! ufw's rule files, nftables.conf, firewalld zones) and says whether that packet is accepted,
//! dropped, rejected, or whether it depends on what is not known offline (the client's address,
//! the interface it arrives on).

pub mod firewalld;
pub mod iptables;
pub mod nftables;
pub mod ufw;

/// Where a rule or policy came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At {
    pub file: String,
    pub line: usize,
    /// The rule or policy as written.
    pub text: String,
}

/// What happens to the packet, and which rule decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accept(Option<At>),
    /// Silently dropped: the client sees "Connection timed out".
    Drop(Option<At>),
    /// Refused: the client sees "Connection refused" (or "No route to host").
    Reject(Option<At>),
    /// Accepted for some clients or interfaces and not for others: the rule that depends, and
    /// what happens otherwise.
    Depends {
        at: At,
        otherwise: Box<Outcome>,
    },
}

impl Outcome {
    pub fn at(&self) -> Option<&At> {
        match self {
            Outcome::Accept(a) | Outcome::Drop(a) | Outcome::Reject(a) => a.as_ref(),
            Outcome::Depends { at, .. } => Some(at),
        }
    }

    pub fn blocks(&self) -> bool {
        matches!(self, Outcome::Drop(_) | Outcome::Reject(_))
    }
}

/// Three-valued match result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum M {
    Yes,
    No,
    Unknown,
}

impl M {
    pub fn and(self, o: M) -> M {
        match (self, o) {
            (M::No, _) | (_, M::No) => M::No,
            (M::Yes, M::Yes) => M::Yes,
            _ => M::Unknown,
        }
    }

    pub fn negate(self) -> M {
        match self {
            M::Yes => M::No,
            M::No => M::Yes,
            M::Unknown => M::Unknown,
        }
    }
}

/// A port list or range written as `22`, `22:25`, `22-25`, `ssh` (the guest's /etc/services).
pub fn port_in(spec: &str, port: u16, services: &dyn Fn(&str) -> Option<u16>) -> M {
    let mut any_unknown = false;
    for part in spec.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (a, b) = match part.split_once([':', '-']) {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let num = |s: &str| -> Option<u16> {
            if s.is_empty() {
                return None;
            }
            s.parse().ok().or_else(|| services(s))
        };
        let lo = if a.is_empty() { Some(0) } else { num(a) };
        let hi = if b.is_empty() { Some(u16::MAX) } else { num(b) };
        match (lo, hi) {
            (Some(lo), Some(hi)) => {
                if (lo..=hi).contains(&port) {
                    return M::Yes;
                }
            }
            _ => any_unknown = true,
        }
    }
    if any_unknown { M::Unknown } else { M::No }
}

/// The guest's /etc/services as a lookup (tcp).
pub fn services_of(text: &str) -> impl Fn(&str) -> Option<u16> + '_ {
    move |name: &str| {
        for l in text.lines() {
            let l = l.split('#').next().unwrap_or("");
            let mut it = l.split_whitespace();
            let (Some(n), Some(pp)) = (it.next(), it.next()) else {
                continue;
            };
            let Some((p, proto)) = pp.split_once('/') else {
                continue;
            };
            if proto == "tcp" && (n == name || it.any(|a| a == name)) {
                return p.parse().ok();
            }
        }
        // The few names rules use, when /etc/services is gone.
        match name {
            "ssh" => Some(22),
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        let s = services_of("ssh 22/tcp\nsmtp 25/tcp mail\n");
        assert_eq!(port_in("22", 22, &s), M::Yes);
        assert_eq!(port_in("20:25", 22, &s), M::Yes);
        assert_eq!(port_in("80,443", 22, &s), M::No);
        assert_eq!(port_in("ssh", 22, &s), M::Yes);
        assert_eq!(port_in("mail", 25, &s), M::Yes);
        assert_eq!(port_in("nosuch", 22, &s), M::Unknown);
        assert_eq!(port_in(":1024", 22, &s), M::Yes);
    }
}
