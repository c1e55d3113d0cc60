//! `/etc/fstab` (fstab(5), as libmount and systemd-fstab-generator read it) and `/etc/crypttab`
//! (crypttab(5)).

/// How an entry names its device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Uuid(String),
    Label(String),
    PartUuid(String),
    PartLabel(String),
    /// `/dev/…` (kernel names, `/dev/disk/by-*`, `/dev/mapper/…`).
    Device(String),
    /// Anything else: `tmpfs`, `proc`, a path for a bind mount, `server:/export`.
    Other(String),
}

impl Source {
    pub fn parse(spec: &str) -> Source {
        let unq = |s: &str| s.trim_matches('"').to_string();
        if let Some(v) = spec.strip_prefix("UUID=") {
            Source::Uuid(unq(v).to_ascii_lowercase())
        } else if let Some(v) = spec.strip_prefix("LABEL=") {
            Source::Label(unq(v))
        } else if let Some(v) = spec.strip_prefix("PARTUUID=") {
            Source::PartUuid(unq(v).to_ascii_lowercase())
        } else if let Some(v) = spec.strip_prefix("PARTLABEL=") {
            Source::PartLabel(unq(v))
        } else if let Some(v) = spec.strip_prefix("/dev/disk/by-uuid/") {
            Source::Uuid(v.to_ascii_lowercase())
        } else if let Some(v) = spec.strip_prefix("/dev/disk/by-label/") {
            Source::Label(v.to_string())
        } else if let Some(v) = spec.strip_prefix("/dev/disk/by-partuuid/") {
            Source::PartUuid(v.to_ascii_lowercase())
        } else if let Some(v) = spec.strip_prefix("/dev/disk/by-partlabel/") {
            Source::PartLabel(v.to_string())
        } else if spec.starts_with("/dev/") {
            Source::Device(spec.to_string())
        } else {
            Source::Other(spec.to_string())
        }
    }
}

/// One fstab line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FstabEntry {
    pub line: usize,
    pub spec: String,
    pub source: Source,
    pub target: String,
    pub fstype: String,
    pub options: Vec<String>,
    pub passno: u32,
}

impl FstabEntry {
    pub fn has_option(&self, name: &str) -> bool {
        self.options
            .iter()
            .any(|o| o == name || o.starts_with(&format!("{name}=")))
    }
    /// Boot waits for this entry and fails if it cannot be mounted.
    pub fn required_at_boot(&self) -> bool {
        !self.has_option("noauto") && !self.has_option("nofail")
    }
    pub fn is_swap(&self) -> bool {
        self.fstype == "swap"
    }
    pub fn is_bind(&self) -> bool {
        self.has_option("bind") || self.has_option("rbind")
    }
    /// Pseudo and network filesystems: no local device to find.
    pub fn is_virtual(&self) -> bool {
        matches!(
            self.fstype.as_str(),
            "proc"
                | "sysfs"
                | "tmpfs"
                | "devpts"
                | "devtmpfs"
                | "cgroup"
                | "cgroup2"
                | "securityfs"
                | "debugfs"
                | "hugetlbfs"
                | "mqueue"
                | "pstore"
                | "efivarfs"
                | "configfs"
                | "fusectl"
                | "binfmt_misc"
                | "overlay"
                | "nfs"
                | "nfs4"
                | "cifs"
                | "smb3"
                | "9p"
                | "virtiofs"
                | "sshfs"
                | "glusterfs"
                | "ceph"
        ) || self.fstype.starts_with("fuse")
            || self.has_option("_netdev")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// Octal escapes (`\040` for a space) as fstab(5) allows.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && b.len() >= i + 4
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v.min(255) as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses fstab text; malformed lines are returned separately (libmount skips them).
pub fn parse_fstab(text: &str) -> (Vec<FstabEntry>, Vec<BadLine>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        let fail = |reason: String| BadLine {
            line: n,
            text: raw.to_string(),
            reason,
        };
        if f.len() < 3 {
            bad.push(fail(format!(
                "{} fields; at least device, mount point and type are needed",
                f.len()
            )));
            continue;
        }
        if f.len() > 6 {
            bad.push(fail(format!(
                "{} fields; at most 6 (a space in a path must be written \\040)",
                f.len()
            )));
            continue;
        }
        let target = unescape(f[1]);
        if !(target.starts_with('/') || target == "none" || target == "swap") {
            bad.push(fail(format!(
                "mount point \"{target}\" is not an absolute path"
            )));
            continue;
        }
        let num = |s: Option<&&str>| -> Result<u32, String> {
            s.map(|v| {
                v.parse::<u32>()
                    .map_err(|_| format!("\"{v}\" is not a number"))
            })
            .unwrap_or(Ok(0))
        };
        if let Err(e) = num(f.get(4)) {
            bad.push(fail(format!("dump field: {e}")));
            continue;
        }
        let passno = match num(f.get(5)) {
            Ok(p) => p,
            Err(e) => {
                bad.push(fail(format!("pass field: {e}")));
                continue;
            }
        };
        let spec = unescape(f[0]);
        ok.push(FstabEntry {
            line: n,
            source: Source::parse(&spec),
            spec,
            target,
            fstype: f[2].to_string(),
            options: f
                .get(3)
                .map(|o| o.split(',').map(String::from).collect())
                .unwrap_or_else(|| vec!["defaults".into()]),
            passno,
        });
    }
    (ok, bad)
}

/// One crypttab line: name, device, key file, options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrypttabEntry {
    pub line: usize,
    pub name: String,
    pub source: Source,
    pub spec: String,
    pub key: Option<String>,
    pub options: Vec<String>,
}

impl CrypttabEntry {
    pub fn has_option(&self, name: &str) -> bool {
        self.options
            .iter()
            .any(|o| o == name || o.starts_with(&format!("{name}=")))
    }
    /// No key file: systemd-cryptsetup asks for a passphrase on the console at boot.
    pub fn asks_passphrase(&self) -> bool {
        matches!(
            self.key.as_deref(),
            None | Some("none") | Some("-") | Some("")
        )
    }
}

pub fn parse_crypttab(text: &str) -> (Vec<CrypttabEntry>, Vec<BadLine>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 2 || f.len() > 4 {
            bad.push(BadLine {
                line: i + 1,
                text: raw.to_string(),
                reason: format!("{} fields instead of 2 to 4", f.len()),
            });
            continue;
        }
        ok.push(CrypttabEntry {
            line: i + 1,
            name: f[0].to_string(),
            source: Source::parse(f[1]),
            spec: f[1].to_string(),
            key: f.get(2).map(|s| s.to_string()),
            options: f
                .get(3)
                .map(|o| o.split(',').map(String::from).collect())
                .unwrap_or_default(),
        });
    }
    (ok, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstab_lines() {
        let (ok, bad) = parse_fstab(
            "# c\nUUID=ABCD-1234 /boot/efi vfat umask=0077 0 1\nLABEL=data /srv/my\\040data ext4 defaults,nofail 0 2\n/dev/xvdb1 /data xfs defaults 0 0\ntmpfs /tmp tmpfs defaults\nbroken-line\n/dev/x relative ext4 d 0 0\nUUID=x / ext4 d 0 z\n",
        );
        assert_eq!(
            bad.iter().map(|b| b.line).collect::<Vec<_>>(),
            vec![6, 7, 8]
        );
        assert_eq!(ok[0].source, Source::Uuid("abcd-1234".into()));
        assert_eq!(ok[1].target, "/srv/my data");
        assert!(!ok[1].required_at_boot());
        assert_eq!(ok[2].source, Source::Device("/dev/xvdb1".into()));
        assert!(ok[3].is_virtual());
    }

    #[test]
    fn crypttab_lines() {
        let (ok, _) = parse_crypttab(
            "data UUID=1111 none luks\nswap /dev/sdb2 /dev/urandom swap,cipher=aes\n",
        );
        assert!(ok[0].asks_passphrase() && !ok[1].asks_passphrase());
    }
}
