//! Which sshd the guest runs: OpenSSH release and the distribution's patch set, which together
//! decide the keyword table, the defaults and the algorithms.

use crate::guest::os_release::Family;

/// Whose patches the guest's OpenSSH carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// Debian and Ubuntu.
    Debian,
    /// Fedora, RHEL, CentOS, Rocky, Alma, Amazon Linux.
    Rhel,
    Suse,
    Upstream,
}

impl Vendor {
    pub fn from_family(f: Family) -> Vendor {
        match f {
            Family::Debian => Vendor::Debian,
            Family::Rhel => Vendor::Rhel,
            Family::Suse => Vendor::Suse,
            Family::Other => Vendor::Upstream,
        }
    }
}

/// An OpenSSH server build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Build {
    pub major: u32,
    pub minor: u32,
    pub vendor: Vendor,
    /// False when the release was not found and this is an assumption (findings that depend on
    /// the release are then less sure).
    pub version_known: bool,
}

impl Build {
    pub fn new(major: u32, minor: u32, vendor: Vendor) -> Build {
        Build {
            major,
            minor,
            vendor,
            version_known: true,
        }
    }

    pub fn upstream(major: u32, minor: u32) -> Build {
        Build::new(major, minor, Vendor::Upstream)
    }

    /// The guest's build: its release when known, else 9.2 (neutral for most rules; the
    /// findings then say the release is unknown).
    pub fn for_guest(version: Option<(u32, u32)>, family: Family) -> Build {
        let vendor = Vendor::from_family(family);
        match version {
            Some((a, b)) => Build::new(a, b, vendor),
            None => Build {
                version_known: false,
                ..Build::new(9, 2, vendor)
            },
        }
    }

    /// major*100+minor: 9.2 → 902.
    pub fn version_code(&self) -> u32 {
        self.major * 100 + self.minor
    }

    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        self.version_code() >= major * 100 + minor
    }

    /// "OpenSSH 9.2 (Debian)".
    pub fn describe(&self) -> String {
        let v = match self.vendor {
            Vendor::Debian => " (Debian/Ubuntu build)",
            Vendor::Rhel => " (RHEL-family build)",
            Vendor::Suse => " (SUSE build)",
            Vendor::Upstream => "",
        };
        let guess = if self.version_known {
            ""
        } else {
            ", release not found: assumed"
        };
        format!("OpenSSH {}.{}{v}{guess}", self.major, self.minor)
    }
}
