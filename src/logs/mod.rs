//! The guest's own logs, read offline: systemd journal files and text logs (syslog, auth.log,
//! kern.log, cloud-init...), merged in time order with boot boundaries.

pub mod cmd;
pub mod collect;
pub mod journal;
pub mod text;
pub mod tz;
