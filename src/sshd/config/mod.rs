//! sshd's configuration as the guest's own sshd reads it: keyword tables per release and
//! distribution, OpenSSH's tokenisers, `Include` and `Match` semantics, defaults, the effective
//! options for a connection, and `sshd -T`'s output format.

pub mod algorithms;
pub mod build;
pub mod dump;
pub mod keywords;
pub mod lexer;
pub mod matching;
pub mod options;
pub mod parse;

pub use build::{Build, Vendor};
pub use options::Options;
pub use parse::{Accounts, Conn, Level, Parsed, Problem, SSHD_CONFIG, Source, Undecided};
