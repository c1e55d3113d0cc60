//! firewalld: the default zone (`/etc/firewalld/firewalld.conf`), its zone file (an
//! `/etc/firewalld/zones` copy overrides `/usr/lib/firewalld/zones`), and the services and ports
//! it opens (service definitions from `/etc/firewalld/services` over `/usr/lib`).

use super::{At, Outcome};
use crate::fs::RootFs;

/// One XML element's name, attributes and line.
#[derive(Debug, Clone)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
    line: usize,
    text: String,
    closing: bool,
}

impl Tag {
    fn attr(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
}

/// The start and end tags of a small XML file (firewalld's zone and service files).
fn tags(text: &str) -> Vec<Tag> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find('<') {
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        let inner = &rest[start + 1..start + end];
        let line = text[..offset + start].matches('\n').count() + 1;
        if !inner.starts_with('?') && !inner.starts_with('!') {
            let closing = inner.starts_with('/');
            let body = inner.trim_start_matches('/').trim_end_matches('/');
            let mut parts = body.splitn(2, char::is_whitespace);
            let name = parts.next().unwrap_or("").to_string();
            let mut attrs = Vec::new();
            let mut a = parts.next().unwrap_or("");
            while let Some(eq) = a.find('=') {
                let key = a[..eq].trim().to_string();
                let after = a[eq + 1..].trim_start();
                let q = after.chars().next().unwrap_or('"');
                let Some(close) = after[1..].find(q) else {
                    break;
                };
                attrs.push((key, after[1..1 + close].to_string()));
                a = &after[close + 2..];
            }
            out.push(Tag {
                name,
                attrs,
                line,
                text: format!("<{inner}>"),
                closing,
            });
        }
        offset += start + end + 1;
        rest = &rest[start + end + 1..];
    }
    out
}

fn read_first(fs: &RootFs, paths: &[String]) -> Option<(String, String)> {
    paths
        .iter()
        .find_map(|p| fs.read_to_string_lossy(p).ok().map(|t| (p.clone(), t)))
}

/// firewalld's configuration as it loads at boot.
#[derive(Clone, Debug)]
pub struct Firewalld {
    pub zone: String,
    /// The zone file used, and its text.
    pub zone_file: Option<(String, String)>,
    /// Where DefaultZone is set.
    pub zone_at: Option<At>,
}

/// Reads firewalld's configuration; None when firewalld is not installed.
pub fn load(fs: &RootFs) -> Option<Firewalld> {
    let conf = fs
        .read_to_string_lossy("/etc/firewalld/firewalld.conf")
        .ok();
    let installed = conf.is_some() || fs.exists("/usr/lib/firewalld/zones").unwrap_or(false);
    if !installed {
        return None;
    }
    let mut zone = "public".to_string();
    let mut zone_at = None;
    if let Some(c) = &conf {
        for (i, l) in c.lines().enumerate() {
            if let Some(v) = l.trim().strip_prefix("DefaultZone=") {
                zone = v.trim().to_string();
                zone_at = Some(At {
                    file: "/etc/firewalld/firewalld.conf".into(),
                    line: i + 1,
                    text: l.trim().to_string(),
                });
            }
        }
    }
    let zone_file = read_first(
        fs,
        &[
            format!("/etc/firewalld/zones/{zone}.xml"),
            format!("/usr/lib/firewalld/zones/{zone}.xml"),
        ],
    );
    Some(Firewalld {
        zone,
        zone_file,
        zone_at,
    })
}

/// Whether a service definition opens tcp `port`.
fn service_opens(
    fs: &RootFs,
    name: &str,
    port: u16,
    services: &dyn Fn(&str) -> Option<u16>,
) -> Option<bool> {
    let (_, text) = read_first(
        fs,
        &[
            format!("/etc/firewalld/services/{name}.xml"),
            format!("/usr/lib/firewalld/services/{name}.xml"),
        ],
    )?;
    Some(tags(&text).iter().any(|t| {
        t.name == "port"
            && t.attr("protocol") == Some("tcp")
            && t.attr("port")
                .is_some_and(|p| super::port_in(p, port, services) == super::M::Yes)
    }))
}

impl Firewalld {
    /// A new TCP connection to `port` on an interface in the default zone.
    pub fn evaluate(
        &self,
        fs: &RootFs,
        port: u16,
        services: &dyn Fn(&str) -> Option<u16>,
    ) -> Outcome {
        let Some((file, text)) = &self.zone_file else {
            // firewalld falls back to its built-in default zone (public: ssh open).
            return Outcome::Accept(None);
        };
        let all = tags(text);
        let at = |t: &Tag| At {
            file: file.clone(),
            line: t.line,
            text: t.text.clone(),
        };
        let zone_tag = all.iter().find(|t| t.name == "zone" && !t.closing);
        let target = zone_tag
            .and_then(|t| t.attr("target"))
            .unwrap_or("default")
            .to_string();
        if target == "ACCEPT" {
            return Outcome::Accept(zone_tag.map(at));
        }
        // Services and ports directly under <zone> (not inside a rich <rule>).
        let mut depth_rule = 0;
        let mut rich: Option<At> = None;
        for t in &all {
            if t.name == "rule" {
                if t.closing {
                    depth_rule -= 1;
                } else if !t.text.ends_with("/>") {
                    depth_rule += 1;
                }
                continue;
            }
            let opens = match t.name.as_str() {
                "service" if !t.closing => t
                    .attr("name")
                    .and_then(|n| service_opens(fs, n, port, services))
                    .unwrap_or(false),
                "port" if !t.closing => {
                    t.attr("protocol") == Some("tcp")
                        && t.attr("port")
                            .is_some_and(|p| super::port_in(p, port, services) == super::M::Yes)
                }
                _ => false,
            };
            if opens {
                if depth_rule == 0 {
                    return Outcome::Accept(Some(at(t)));
                }
                rich.get_or_insert_with(|| at(t));
            }
        }
        let closed = if target == "DROP" {
            Outcome::Drop(zone_tag.map(at))
        } else {
            Outcome::Reject(zone_tag.map(at))
        };
        match rich {
            Some(r) => Outcome::Depends {
                at: r,
                otherwise: Box::new(closed),
            },
            None => closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::mem::MemFs;

    const SSH: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<service>\n  <short>SSH</short>\n  <port protocol=\"tcp\" port=\"22\"/>\n</service>\n";

    fn fw(zone_xml: &str) -> (RootFs, Firewalld) {
        let mut m = MemFs::new();
        m.file(
            "/etc/firewalld/firewalld.conf",
            b"DefaultZone=public\n",
            0o644,
            0,
            0,
        );
        m.file(
            "/usr/lib/firewalld/services/ssh.xml",
            SSH.as_bytes(),
            0o644,
            0,
            0,
        );
        m.file(
            "/usr/lib/firewalld/zones/public.xml",
            b"<?xml version=\"1.0\"?>\n<zone>\n  <service name=\"ssh\"/>\n</zone>\n",
            0o644,
            0,
            0,
        );
        if !zone_xml.is_empty() {
            m.file(
                "/etc/firewalld/zones/public.xml",
                zone_xml.as_bytes(),
                0o644,
                0,
                0,
            );
        }
        let fs = m.into_rootfs();
        let f = load(&fs).unwrap();
        (fs, f)
    }

    #[test]
    fn zones() {
        let s = super::super::services_of("");
        let (fs, f) = fw("");
        assert!(
            matches!(f.evaluate(&fs, 22, &s), Outcome::Accept(Some(a)) if a.file == "/usr/lib/firewalld/zones/public.xml" && a.line == 3)
        );
        assert!(matches!(f.evaluate(&fs, 2222, &s), Outcome::Reject(_)));
        let (fs, f) = fw(
            "<?xml version=\"1.0\"?>\n<zone>\n  <service name=\"dhcpv6-client\"/>\n  <port protocol=\"tcp\" port=\"2200-2300\"/>\n</zone>\n",
        );
        assert!(
            matches!(f.evaluate(&fs, 22, &s), Outcome::Reject(Some(a)) if a.file == "/etc/firewalld/zones/public.xml")
        );
        assert!(matches!(f.evaluate(&fs, 2222, &s), Outcome::Accept(_)));
        let (fs, f) = fw(
            "<zone target=\"DROP\">\n<rule family=\"ipv4\">\n<source address=\"10.0.0.0/8\"/>\n<service name=\"ssh\"/>\n<accept/>\n</rule>\n</zone>\n",
        );
        match f.evaluate(&fs, 22, &s) {
            Outcome::Depends { at, otherwise } => {
                assert_eq!(at.line, 4);
                assert!(matches!(*otherwise, Outcome::Drop(_)));
            }
            o => panic!("{o:?}"),
        }
    }
}
