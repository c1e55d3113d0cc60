//! Base64 (RFC 4648, standard alphabet) as OpenSSH uses it: PEM bodies and public key lines
//! decode with it, SHA256 fingerprints print with it unpadded (`sshkey_fingerprint_b64`).
//! Written here because it is ~50 lines and the project needs nothing else from a crate.

/// Why a base64 text did not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    #[error("invalid base64 character {0:?} at offset {1}")]
    BadChar(char, usize),
    #[error("base64 data continues after the '=' padding")]
    AfterPadding,
    #[error("base64 length leaves a dangling 6-bit group")]
    BadLength,
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes base64, skipping ASCII whitespace (PEM bodies are wrapped at 64 or 70 columns).
/// Padding is optional but nothing may follow it.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Base64Error> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let (mut acc, mut bits, mut digits) = (0u32, 0u32, 0usize);
    let mut padded = false;
    for (i, &c) in text.iter().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padded = true;
            continue;
        }
        if padded {
            return Err(Base64Error::AfterPadding);
        }
        let v = value(c).ok_or(Base64Error::BadChar(char::from(c), i))?;
        acc = (acc << 6) | v;
        bits += 6;
        digits += 1;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if digits % 4 == 1 {
        return Err(Base64Error::BadLength);
    }
    Ok(out)
}

/// Encodes without `=` padding, as `ssh-keygen -l` prints SHA256 fingerprints.
pub fn encode_unpadded(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..=chunk.len() {
            s.push(char::from(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize]));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode_unpadded(plain.as_bytes()), enc);
            assert_eq!(decode(enc.as_bytes()).unwrap(), plain.as_bytes());
        }
        assert_eq!(decode(b"Zm9v\nYmE=").unwrap(), b"fooba");
        assert_eq!(decode(b"Zg==").unwrap(), b"f");
        assert_eq!(decode(b"Zg==Zg"), Err(Base64Error::AfterPadding));
        assert_eq!(decode(b"Zm9vY"), Err(Base64Error::BadLength));
        assert!(matches!(decode(b"Zm*v"), Err(Base64Error::BadChar('*', 2))));
    }
}
