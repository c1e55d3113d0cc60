//! rescue-inspect: reads a broken Linux server's root volume read-only, in user space, and says
//! what stops SSH, where, and the command that fixes it.
//!
//! Data flows one way: `volume` (bytes, partitions) → `fs` (one confined view of a guest
//! filesystem) → `guest` (facts parsed from the guest's files) → `audit` (rules → findings) →
//! `report` (text, JSON). `cli` is the command line on top.

pub mod audit;
pub mod browse;
pub mod checksum;
pub mod cli;
pub mod fs;
pub mod guest;
pub mod inspect;
pub mod logs;
pub mod packages;
pub mod progress;
pub mod report;
pub mod sshd;
pub mod time;
pub mod volume;
