//! How the guest configures its network interfaces at boot, read from every system that may do
//! it: netplan (`/etc/netplan`, `/lib/netplan`), ifupdown (`/etc/network/interfaces` and what
//! it sources), systemd-networkd (`.network` files), NetworkManager keyfiles and RHEL `ifcfg-*`
//! files; and whether cloud-init regenerates that configuration on a new instance.

use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

use crate::fs::RootFs;

const MAX_FILE: u64 = 1 << 20;

/// How an interface is selected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// An exact kernel name (`eth0`, `ens5`).
    Name(String),
    /// A name pattern (`en*`, `eth*`) or a driver: matches whatever the hardware is called.
    Pattern(String),
    /// A MAC address: only that NIC.
    Mac(String),
}

/// One configured interface.
#[derive(Clone, Debug)]
pub struct Iface {
    pub system: &'static str,
    pub file: String,
    pub line: usize,
    pub selector: Selector,
    /// The name written in the file (for the finding), when there is one.
    pub name: Option<String>,
    pub dhcp: bool,
    pub static_address: bool,
    pub mtu: Option<u32>,
}

impl Iface {
    pub fn gets_address(&self) -> bool {
        self.dhcp || self.static_address
    }
}

/// Everything found.
#[derive(Clone, Debug, Default)]
pub struct NetConfig {
    pub ifaces: Vec<Iface>,
    /// cloud-init is installed and its network configuration is not disabled: it writes the
    /// configuration for the instance it boots on.
    pub cloud_init: bool,
    /// `net.ifnames=0` (or the udev/systemd links that disable predictable names): interfaces
    /// are called eth0, eth1, …
    pub classic_names: bool,
    /// The files read.
    pub files: Vec<String>,
}

fn read(fs: &RootFs, p: &str) -> Option<String> {
    fs.read_limited(p, MAX_FILE)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn sorted_glob(fs: &RootFs, pattern: &str) -> Vec<String> {
    let mut v: Vec<String> = crate::fs::glob::glob(fs, pattern)
        .map(|v| {
            v.into_iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Files named `*.ext` in these directories, later directories overriding earlier ones by file
/// name (how netplan and systemd merge /lib and /etc), sorted by name within each.
fn overlay(fs: &RootFs, dirs: &[&str], ext: &str) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for dir in dirs {
        for f in sorted_glob(fs, &format!("{dir}/*.{ext}")) {
            let base = f.rsplit('/').next().unwrap_or("").to_string();
            files.retain(|x| !x.ends_with(&format!("/{base}")));
            files.push(f);
        }
    }
    files
}

fn is_pattern(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or(1)
}

/// netplan's ethernets (and bonds/vlans, which carry addresses too).
fn netplan(fs: &RootFs, out: &mut NetConfig) {
    // /etc overrides /lib and /run by file name; /run does not exist offline.
    for f in overlay(fs, &["/lib/netplan", "/etc/netplan"], "yaml") {
        let Some(text) = read(fs, &f) else { continue };
        out.files.push(f.clone());
        let Ok(docs) = YamlLoader::load_from_str(&text) else {
            continue;
        };
        for doc in docs {
            let net = &doc["network"];
            for kind in ["ethernets", "bonds", "vlans", "bridges", "wifis"] {
                let Yaml::Hash(h) = &net[kind] else { continue };
                for (k, v) in h {
                    let id = k.as_str().unwrap_or("").to_string();
                    let m = &v["match"];
                    let selector = if let Some(mac) = m["macaddress"].as_str() {
                        Selector::Mac(mac.to_string())
                    } else if let Some(n) = m["name"].as_str() {
                        if is_pattern(n) {
                            Selector::Pattern(n.to_string())
                        } else {
                            Selector::Name(n.to_string())
                        }
                    } else if m["driver"].as_str().is_some() {
                        Selector::Pattern(format!("driver {}", m["driver"].as_str().unwrap_or("")))
                    } else if kind == "ethernets" {
                        Selector::Name(id.clone())
                    } else {
                        // A bond or bridge is created by name.
                        Selector::Pattern(id.clone())
                    };
                    let truthy = |y: &Yaml| {
                        matches!(y, Yaml::Boolean(true))
                            || matches!(y.as_str(), Some("true" | "yes" | "on"))
                    };
                    let addresses = matches!(&v["addresses"], Yaml::Array(a) if !a.is_empty());
                    out.ifaces.push(Iface {
                        system: "netplan",
                        file: f.clone(),
                        line: line_of(&text, &format!("{id}:")),
                        selector,
                        name: Some(id),
                        dhcp: truthy(&v["dhcp4"]) || truthy(&v["dhcp6"]),
                        static_address: addresses,
                        mtu: v["mtu"].as_i64().and_then(|m| u32::try_from(m).ok()),
                    });
                }
            }
        }
    }
}

/// `/etc/network/interfaces` with `source`/`source-directory`.
fn ifupdown(fs: &RootFs, out: &mut NetConfig) {
    let mut queue = vec!["/etc/network/interfaces".to_string()];
    let mut seen = 0;
    while let Some(f) = queue.pop() {
        seen += 1;
        if seen > 64 {
            break;
        }
        let Some(text) = read(fs, &f) else { continue };
        out.files.push(f.clone());
        let base = Path::new(&f)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut current: Option<usize> = None;
        for (i, raw) in text.lines().enumerate() {
            let l = raw.trim();
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.first().copied() {
                Some("source") => {
                    for p in &w[1..] {
                        let full = if p.starts_with('/') {
                            p.to_string()
                        } else {
                            format!("{base}/{p}")
                        };
                        queue.extend(sorted_glob(fs, &full));
                    }
                }
                Some("source-directory") => {
                    if let Some(p) = w.get(1) {
                        let full = if p.starts_with('/') {
                            p.to_string()
                        } else {
                            format!("{base}/{p}")
                        };
                        queue.extend(sorted_glob(fs, &format!("{full}/*")).into_iter().filter(
                            |x| {
                                x.rsplit('/').next().is_some_and(|b| {
                                    b.chars()
                                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                                })
                            },
                        ));
                    }
                }
                Some("iface") if w.len() >= 4 => {
                    let name = w[1].to_string();
                    if name == "lo" {
                        current = None;
                        continue;
                    }
                    out.ifaces.push(Iface {
                        system: "ifupdown",
                        file: f.clone(),
                        line: i + 1,
                        selector: if is_pattern(&name) {
                            Selector::Pattern(name.clone())
                        } else {
                            Selector::Name(name.clone())
                        },
                        name: Some(name),
                        dhcp: w[3] == "dhcp" || w[3] == "auto",
                        static_address: w[3] == "static",
                        mtu: None,
                    });
                    current = Some(out.ifaces.len() - 1);
                }
                Some("mtu") => {
                    if let (Some(c), Some(v)) = (current, w.get(1)) {
                        out.ifaces[c].mtu = v.parse().ok();
                    }
                }
                Some("hwaddress") => {}
                _ => {}
            }
        }
    }
}

/// systemd-networkd `.network` files (/etc over /lib by name).
fn networkd(fs: &RootFs, out: &mut NetConfig) {
    let dirs = [
        "/usr/lib/systemd/network",
        "/lib/systemd/network",
        "/etc/systemd/network",
    ];
    for f in overlay(fs, &dirs, "network") {
        let Some(text) = read(fs, &f) else { continue };
        if text.trim().is_empty() {
            continue;
        }
        out.files.push(f.clone());
        let mut section = String::new();
        let mut names: Vec<String> = Vec::new();
        let mut mac: Option<String> = None;
        let mut other_match = false;
        let mut dhcp = false;
        let mut addr = false;
        let mut mtu = None;
        let mut match_line = 1;
        for (i, raw) in text.lines().enumerate() {
            let l = raw.trim();
            if l.starts_with('[') {
                section = l.to_string();
                if section == "[Match]" {
                    match_line = i + 1;
                }
                continue;
            }
            let Some((k, v)) = l.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            match (section.as_str(), k) {
                ("[Match]", "Name") => names.extend(v.split_whitespace().map(str::to_string)),
                ("[Match]", "MACAddress" | "PermanentMACAddress") => mac = Some(v.to_string()),
                ("[Match]", _) => other_match = true,
                ("[Network]", "DHCP") => dhcp = v != "no" && v != "false",
                ("[Network]", "Address") | ("[Address]", "Address") => addr = true,
                ("[Link]", "MTUBytes") => mtu = v.parse().ok(),
                _ => {}
            }
        }
        // Files that only match loopback or virtual devices are not about the NIC.
        if names.iter().all(|n| {
            n == "lo" || n.starts_with("veth") || n.starts_with("docker") || n.starts_with("br-")
        }) && !names.is_empty()
        {
            continue;
        }
        let selector = if let Some(m) = mac {
            Selector::Mac(m)
        } else if names.len() == 1 && !is_pattern(&names[0]) && !other_match {
            Selector::Name(names[0].clone())
        } else {
            Selector::Pattern(if names.is_empty() {
                "any".into()
            } else {
                names.join(" ")
            })
        };
        out.ifaces.push(Iface {
            system: "systemd-networkd",
            file: f.clone(),
            line: match_line,
            selector,
            name: names.first().cloned(),
            dhcp,
            static_address: addr,
            mtu,
        });
    }
}

/// NetworkManager keyfiles.
fn network_manager(fs: &RootFs, out: &mut NetConfig) {
    for f in sorted_glob(fs, "/etc/NetworkManager/system-connections/*") {
        let Some(text) = read(fs, &f) else { continue };
        out.files.push(f.clone());
        let mut section = String::new();
        let mut name = None;
        let mut mac = None;
        let mut method4 = String::from("auto");
        let mut mtu = None;
        let mut kind = String::new();
        for raw in text.lines() {
            let l = raw.trim();
            if l.starts_with('[') {
                section = l.to_string();
                continue;
            }
            let Some((k, v)) = l.split_once('=') else {
                continue;
            };
            match (section.as_str(), k.trim()) {
                ("[connection]", "interface-name") => name = Some(v.trim().to_string()),
                ("[connection]", "type") => kind = v.trim().to_string(),
                ("[ethernet]" | "[802-3-ethernet]", "mac-address") => {
                    mac = Some(v.trim().to_string())
                }
                ("[ethernet]" | "[802-3-ethernet]", "mtu") => mtu = v.trim().parse().ok(),
                ("[ipv4]", "method") => method4 = v.trim().to_string(),
                _ => {}
            }
        }
        if kind == "loopback" {
            continue;
        }
        let selector = match (&mac, &name) {
            (Some(m), _) => Selector::Mac(m.clone()),
            (None, Some(n)) => Selector::Name(n.clone()),
            (None, None) => Selector::Pattern("any".into()),
        };
        out.ifaces.push(Iface {
            system: "NetworkManager",
            file: f.clone(),
            line: 1,
            selector,
            name,
            dhcp: method4 == "auto",
            static_address: method4 == "manual",
            mtu,
        });
    }
}

/// RHEL `ifcfg-*` files.
fn ifcfg(fs: &RootFs, out: &mut NetConfig) {
    for f in sorted_glob(fs, "/etc/sysconfig/network-scripts/ifcfg-*") {
        if f.ends_with("ifcfg-lo") {
            continue;
        }
        let Some(text) = read(fs, &f) else { continue };
        out.files.push(f.clone());
        let var = |k: &str| -> Option<String> {
            text.lines().find_map(|l| {
                l.trim()
                    .strip_prefix(k)?
                    .strip_prefix('=')
                    .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
            })
        };
        let device = var("DEVICE").or_else(|| f.rsplit("ifcfg-").next().map(str::to_string));
        let proto = var("BOOTPROTO").unwrap_or_default().to_ascii_lowercase();
        let selector = match (var("HWADDR"), &device) {
            (Some(m), _) => Selector::Mac(m),
            (None, Some(d)) => Selector::Name(d.clone()),
            (None, None) => Selector::Pattern("any".into()),
        };
        out.ifaces.push(Iface {
            system: "ifcfg",
            file: f.clone(),
            line: 1,
            selector,
            name: device,
            dhcp: proto == "dhcp",
            static_address: var("IPADDR").is_some()
                || proto == "static"
                || proto == "none" && var("IPADDR").is_some(),
            mtu: var("MTU").and_then(|m| m.parse().ok()),
        });
    }
}

/// Kernel command lines the guest boots with (grub defaults and generated config).
fn classic_names(fs: &RootFs) -> bool {
    let mut cmdlines = String::new();
    for f in [
        "/etc/default/grub",
        "/boot/grub/grub.cfg",
        "/boot/grub2/grub.cfg",
        "/etc/kernel/cmdline",
    ] {
        if let Some(t) = read(fs, f) {
            cmdlines.push_str(&t);
        }
    }
    for f in sorted_glob(fs, "/etc/default/grub.d/*.cfg") {
        if let Some(t) = read(fs, &f) {
            cmdlines.push_str(&t);
        }
    }
    for f in sorted_glob(fs, "/boot/loader/entries/*.conf") {
        if let Some(t) = read(fs, &f) {
            cmdlines.push_str(&t);
        }
    }
    let disabled_link = |p: &str| {
        fs.read_link(p)
            .is_ok_and(|t| t.to_string_lossy() == "/dev/null")
    };
    cmdlines.contains("net.ifnames=0")
        || disabled_link("/etc/systemd/network/99-default.link")
        || disabled_link("/etc/udev/rules.d/80-net-setup-link.rules")
}

/// cloud-init installed with its network configuration enabled.
fn cloud_init(fs: &RootFs) -> bool {
    let installed = fs.exists("/usr/bin/cloud-init").unwrap_or(false)
        || fs.exists("/etc/cloud/cloud.cfg").unwrap_or(false);
    if !installed || fs.exists("/etc/cloud/cloud-init.disabled").unwrap_or(false) {
        return false;
    }
    let mut texts = Vec::new();
    if let Some(t) = read(fs, "/etc/cloud/cloud.cfg") {
        texts.push(t);
    }
    for f in sorted_glob(fs, "/etc/cloud/cloud.cfg.d/*.cfg") {
        if let Some(t) = read(fs, &f) {
            texts.push(t);
        }
    }
    !texts.iter().any(|t| {
        let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
        compact.contains("network:{config:disabled}") || {
            // network:\n  config: disabled
            let lines: Vec<&str> = t.lines().collect();
            lines.windows(2).any(|w| {
                w[0].trim_start().starts_with("network:") && w[1].trim() == "config: disabled"
            })
        }
    })
}

/// Reads every network configuration system's files.
pub fn read_config(fs: &RootFs) -> NetConfig {
    let mut out = NetConfig::default();
    netplan(fs, &mut out);
    ifupdown(fs, &mut out);
    networkd(fs, &mut out);
    network_manager(fs, &mut out);
    ifcfg(fs, &mut out);
    out.cloud_init = cloud_init(fs);
    out.classic_names = classic_names(fs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::mem::MemFs;

    #[test]
    fn each_system() {
        let mut m = MemFs::new();
        m.file(
            "/etc/netplan/50-cloud-init.yaml",
            b"network:\n  version: 2\n  ethernets:\n    ens5:\n      dhcp4: true\n      match:\n        macaddress: 02:11:22:33:44:55\n      set-name: ens5\n      mtu: 9001\n",
            0o600,
            0,
            0,
        );
        m.file(
            "/etc/network/interfaces",
            b"auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n",
            0o644,
            0,
            0,
        );
        m.file(
            "/etc/network/interfaces.d/eth0",
            b"auto eth0\niface eth0 inet static\n  address 10.0.0.5/24\n  mtu 1450\n",
            0o644,
            0,
            0,
        );
        m.file(
            "/etc/systemd/network/10-en.network",
            b"[Match]\nName=en*\n\n[Network]\nDHCP=yes\n",
            0o644,
            0,
            0,
        );
        m.file(
            "/etc/sysconfig/network-scripts/ifcfg-eth0",
            b"DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\nHWADDR=52:54:00:12:34:56\n",
            0o644,
            0,
            0,
        );
        m.file(
            "/etc/default/grub",
            b"GRUB_CMDLINE_LINUX=\"console=ttyS0 net.ifnames=0\"\n",
            0o644,
            0,
            0,
        );
        let c = read_config(&m.into_rootfs());
        assert_eq!(c.ifaces.len(), 4, "{c:?}");
        let np = &c.ifaces[0];
        assert_eq!(np.selector, Selector::Mac("02:11:22:33:44:55".into()));
        assert!(np.dhcp && np.mtu == Some(9001) && np.line == 4);
        let eth = &c.ifaces[1];
        assert_eq!(eth.selector, Selector::Name("eth0".into()));
        assert!(eth.static_address && eth.mtu == Some(1450));
        assert_eq!(eth.file, "/etc/network/interfaces.d/eth0");
        assert_eq!(c.ifaces[2].selector, Selector::Pattern("en*".into()));
        assert_eq!(
            c.ifaces[3].selector,
            Selector::Mac("52:54:00:12:34:56".into())
        );
        assert!(c.classic_names);
        assert!(!c.cloud_init);
    }
}
