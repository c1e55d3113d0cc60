//! The journal file header (systemd `journal-def.h`: `struct Header`; documented in
//! systemd's JOURNAL_FILE_FORMAT). All integers are little-endian.

use super::JournalError;

pub const SIGNATURE: &[u8; 8] = b"LPKSHHRH";

/// `HEADER_INCOMPATIBLE_*`.
pub const INCOMPAT_XZ: u32 = 1 << 0;
pub const INCOMPAT_LZ4: u32 = 1 << 1;
pub const INCOMPAT_KEYED_HASH: u32 = 1 << 2;
pub const INCOMPAT_ZSTD: u32 = 1 << 3;
pub const INCOMPAT_COMPACT: u32 = 1 << 4;
/// Every incompatible flag this reader understands; a file with another one is refused, as
/// journalctl refuses it.
pub const INCOMPAT_SUPPORTED: u32 =
    INCOMPAT_XZ | INCOMPAT_LZ4 | INCOMPAT_KEYED_HASH | INCOMPAT_ZSTD | INCOMPAT_COMPACT;

/// `HEADER_COMPATIBLE_SEALED`.
pub const COMPAT_SEALED: u32 = 1 << 0;

/// Fields up to `n_data` exist in every revision of the format; later ones are checked for by
/// `header_size` (journal-file.c: `HEADER_SIZE_MIN`, `JOURNAL_HEADER_CONTAINS`).
pub const HEADER_SIZE_MIN: u64 = 208;

/// How the file was left: `STATE_OFFLINE` (closed cleanly), `STATE_ONLINE` (open for writing:
/// the writer died, or the volume was detached while it ran) or `STATE_ARCHIVED` (rotated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Offline,
    Online,
    Archived,
    Unknown,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Offline => "offline",
            State::Online => "online",
            State::Archived => "archived",
            State::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub compatible_flags: u32,
    pub incompatible_flags: u32,
    pub state: State,
    pub file_id: [u8; 16],
    pub machine_id: [u8; 16],
    pub tail_entry_boot_id: [u8; 16],
    pub seqnum_id: [u8; 16],
    pub header_size: u64,
    pub arena_size: u64,
    pub tail_object_offset: u64,
    pub n_objects: u64,
    pub n_entries: u64,
    pub tail_entry_seqnum: u64,
    pub head_entry_seqnum: u64,
    pub entry_array_offset: u64,
    pub head_entry_realtime: u64,
    pub tail_entry_realtime: u64,
    pub tail_entry_monotonic: u64,
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

fn id(b: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    if let Some(s) = b.get(at..at + 16) {
        a.copy_from_slice(s);
    }
    a
}

impl Header {
    /// Parses the first `HEADER_SIZE_MIN` (or more) bytes of a file of `file_len` bytes.
    pub fn parse(b: &[u8], file_len: u64) -> Result<Header, JournalError> {
        if b.len() < HEADER_SIZE_MIN as usize {
            return Err(JournalError::Corrupt(format!(
                "file of {file_len} bytes is shorter than a journal header ({HEADER_SIZE_MIN} bytes)"
            )));
        }
        if &b[0..8] != SIGNATURE {
            return Err(JournalError::NotJournal);
        }
        let h = Header {
            compatible_flags: le32(b, 8),
            incompatible_flags: le32(b, 12),
            state: match b[16] {
                0 => State::Offline,
                1 => State::Online,
                2 => State::Archived,
                _ => State::Unknown,
            },
            file_id: id(b, 24),
            machine_id: id(b, 40),
            tail_entry_boot_id: id(b, 56),
            seqnum_id: id(b, 72),
            header_size: le64(b, 88),
            arena_size: le64(b, 96),
            tail_object_offset: le64(b, 136),
            n_objects: le64(b, 144),
            n_entries: le64(b, 152),
            tail_entry_seqnum: le64(b, 160),
            head_entry_seqnum: le64(b, 168),
            entry_array_offset: le64(b, 176),
            head_entry_realtime: le64(b, 184),
            tail_entry_realtime: le64(b, 192),
            tail_entry_monotonic: le64(b, 200),
        };
        let unknown = h.incompatible_flags & !INCOMPAT_SUPPORTED;
        if unknown != 0 {
            return Err(JournalError::Unsupported(format!(
                "incompatible header flags 0x{unknown:x} (written by a newer systemd)"
            )));
        }
        if h.header_size < HEADER_SIZE_MIN || h.header_size % 8 != 0 {
            return Err(JournalError::Corrupt(format!(
                "header size {} is invalid",
                h.header_size
            )));
        }
        if h.header_size > file_len {
            return Err(JournalError::Corrupt(format!(
                "header size {} is beyond the end of the {file_len}-byte file",
                h.header_size
            )));
        }
        if h.incompatible_flags & INCOMPAT_COMPACT != 0 && file_len > u64::from(u32::MAX) {
            // Compact files keep 32-bit offsets (journal-file.c: JOURNAL_COMPACT_SIZE_MAX).
            return Err(JournalError::Corrupt(format!(
                "compact journal file of {file_len} bytes is larger than 4 GiB"
            )));
        }
        Ok(h)
    }

    pub fn compact(&self) -> bool {
        self.incompatible_flags & INCOMPAT_COMPACT != 0
    }

    /// The flag names `journalctl --header` prints.
    pub fn incompatible_names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (bit, name) in [
            (INCOMPAT_XZ, "COMPRESSED-XZ"),
            (INCOMPAT_LZ4, "COMPRESSED-LZ4"),
            (INCOMPAT_ZSTD, "COMPRESSED-ZSTD"),
            (INCOMPAT_KEYED_HASH, "KEYED-HASH"),
            (INCOMPAT_COMPACT, "COMPACT"),
        ] {
            if self.incompatible_flags & bit != 0 {
                v.push(name);
            }
        }
        v
    }
}

/// `0123456789abcdef…` as journalctl prints 128-bit ids.
pub fn id_hex(id: &[u8; 16]) -> String {
    let mut s = String::with_capacity(32);
    push_hex(&mut s, id);
    s
}

/// Appends bytes as lower-case hex (no formatting machinery: this runs for every entry).
pub fn push_hex(s: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
}

/// Appends a number as lower-case hex without leading zeros, as `%llx` prints it.
pub fn push_hex_u64(s: &mut String, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if v == 0 {
        s.push('0');
        return;
    }
    let digits = (64 - v.leading_zeros()).div_ceil(4);
    for i in (0..digits).rev() {
        s.push(HEX[((v >> (i * 4)) & 15) as usize] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut b = vec![0u8; 272];
        b[0..8].copy_from_slice(SIGNATURE);
        b[12..16].copy_from_slice(&(INCOMPAT_ZSTD | INCOMPAT_COMPACT).to_le_bytes());
        b[16] = 1;
        b[88..96].copy_from_slice(&264u64.to_le_bytes());
        b[152..160].copy_from_slice(&5u64.to_le_bytes());
        b
    }

    #[test]
    fn hex() {
        let mut s = String::new();
        for v in [0u64, 1, 0xf, 0x10, 0x60a24181e4000, u64::MAX] {
            s.clear();
            push_hex_u64(&mut s, v);
            assert_eq!(s, format!("{v:x}"));
        }
        assert_eq!(id_hex(&[0xab; 16]), "ab".repeat(16));
    }

    #[test]
    fn parses_and_refuses() {
        let h = Header::parse(&sample(), 8 << 20).unwrap();
        assert_eq!(h.state, State::Online);
        assert!(h.compact());
        assert_eq!(h.n_entries, 5);
        assert_eq!(h.incompatible_names(), ["COMPRESSED-ZSTD", "COMPACT"]);
        let mut b = sample();
        b[0] = b'X';
        assert!(matches!(
            Header::parse(&b, 1 << 20),
            Err(JournalError::NotJournal)
        ));
        let mut b = sample();
        b[12] = 0x40;
        assert!(matches!(
            Header::parse(&b, 1 << 20),
            Err(JournalError::Unsupported(_))
        ));
        let mut b = sample();
        b[88..96].copy_from_slice(&100u64.to_le_bytes());
        assert!(Header::parse(&b, 1 << 20).is_err());
        assert!(Header::parse(&sample()[..100], 100).is_err());
        assert!(Header::parse(&sample(), 200).is_err());
    }
}
