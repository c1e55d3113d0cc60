//! What can go wrong reading XFS, precisely enough to say where.

use super::inode::InodeError;
use super::superblock::SuperblockError;

#[derive(Debug, thiserror::Error)]
pub enum XfsError {
    #[error("read failed: {0}")]
    Io(String),
    #[error("superblock: {0}")]
    Superblock(#[from] SuperblockError),
    #[error("{0}")]
    Inode(#[from] InodeError),
    /// Metadata that contradicts the format: what structure, where, and how.
    #[error("{what} (inode {ino}): {detail}")]
    Corrupt {
        what: &'static str,
        ino: u64,
        detail: String,
    },
    /// A bound this reader keeps so a crafted volume cannot exhaust memory or time.
    #[error("inode {ino}: {detail}")]
    Limit { ino: u64, detail: String },
    #[error("{0}")]
    Unsupported(String),
}

impl XfsError {
    pub(crate) fn corrupt(what: &'static str, ino: u64, detail: impl Into<String>) -> XfsError {
        XfsError::Corrupt {
            what,
            ino,
            detail: detail.into(),
        }
    }
}
