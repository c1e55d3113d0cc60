//! Facts parsed from the guest's own files. Parsers here are pure functions from bytes to typed
//! values; reading the files is the caller's business.

pub mod accounts;
pub mod dpkg;
pub mod elf;
pub mod firewall;
pub mod fstab;
pub mod ldso;
pub mod network_config;
pub mod os_release;
pub mod pam;
pub mod pam_access;
pub mod selinux;
pub mod systemd;
pub mod tcp_wrappers;
