//! SELinux as the guest boots it: the mode from `/etc/selinux/config` (overridden by
//! `selinux=0` or `enforcing=0` on the kernel command line), and a pending full relabel.

use crate::fs::RootFs;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selinux {
    /// enforcing | permissive | disabled
    pub mode: String,
    /// Where the mode is set (line in /etc/selinux/config).
    pub line: Option<usize>,
    /// `/.autorelabel` exists: the first boot relabels every file, then reboots.
    pub autorelabel: bool,
}

impl Selinux {
    pub fn enforcing(&self) -> bool {
        self.mode == "enforcing"
    }
}

/// None when the guest has no SELinux configuration.
pub fn read(fs: &RootFs) -> Option<Selinux> {
    let text = fs.read_to_string_lossy("/etc/selinux/config").ok()?;
    let mut mode = "disabled".to_string();
    let mut line = None;
    for (i, l) in text.lines().enumerate() {
        if let Some(v) = l.trim().strip_prefix("SELINUX=") {
            mode = v.trim().to_ascii_lowercase();
            line = Some(i + 1);
        }
    }
    let mut cmdline = String::new();
    for f in ["/etc/default/grub", "/etc/kernel/cmdline"] {
        cmdline.push_str(&fs.read_to_string_lossy(f).unwrap_or_default());
    }
    for f in fs.glob("/boot/loader/entries/*.conf").unwrap_or_default() {
        cmdline.push_str(&fs.read_to_string_lossy(&f).unwrap_or_default());
    }
    if cmdline.contains("selinux=0") {
        mode = "disabled".into();
    } else if cmdline.contains("enforcing=0") && mode == "enforcing" {
        mode = "permissive".into();
    }
    Some(Selinux {
        mode,
        line,
        autorelabel: fs.symlink_metadata("/.autorelabel").is_ok(),
    })
}

/// The type field of a context `system_u:object_r:ssh_home_t:s0`.
pub fn context_type(ctx: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(ctx);
    s.trim_end_matches('\0')
        .split(':')
        .nth(2)
        .map(str::to_string)
}
