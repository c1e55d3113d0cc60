//! A minimal DER reader for the PEM key formats (PKCS#1, SEC1, PKCS#8, DSA): definite lengths,
//! single-byte tags, every length checked against what remains. Written here (~80 lines)
//! rather than pulling an ASN.1 crate: the key formats use six universal types.

/// Why DER bytes did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    #[error("DER truncated at offset {0}")]
    Truncated(usize),
    #[error("DER: expected tag 0x{expected:02x}, found 0x{found:02x} at offset {at}")]
    Tag { expected: u8, found: u8, at: usize },
    #[error("DER: unsupported length form at offset {0}")]
    Length(usize),
    #[error("DER: malformed object identifier")]
    Oid,
}

pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;
/// `[0]` and `[1]` explicit, constructed (SEC1 parameters and public key).
pub const CONTEXT_0: u8 = 0xa0;
pub const CONTEXT_1: u8 = 0xa1;

/// A cursor over DER elements. `base` is the offset of `buf` in the outer input, for messages.
pub struct Der<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Der<'a> {
    pub fn new(buf: &'a [u8]) -> Der<'a> {
        Der {
            buf,
            pos: 0,
            base: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn byte(&mut self) -> Result<u8, DerError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(DerError::Truncated(self.base + self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    /// The next element: its tag and a reader over its content.
    pub fn any(&mut self) -> Result<(u8, Der<'a>), DerError> {
        let tag = self.byte()?;
        if tag & 0x1f == 0x1f {
            return Err(DerError::Length(self.base + self.pos - 1));
        }
        let first = self.byte()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            // Four length bytes are far beyond any key; 0x80 (indefinite) is BER, not DER.
            if n == 0 || n > 4 {
                return Err(DerError::Length(self.base + self.pos - 1));
            }
            let mut len = 0usize;
            for _ in 0..n {
                len = (len << 8) | usize::from(self.byte()?);
            }
            len
        };
        let start = self.pos;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= self.buf.len())
            .ok_or(DerError::Truncated(self.base + self.buf.len()))?;
        self.pos = end;
        Ok((
            tag,
            Der {
                buf: &self.buf[start..end],
                pos: 0,
                base: self.base + start,
            },
        ))
    }

    /// The next element, which must have tag `expected`.
    pub fn expect(&mut self, expected: u8) -> Result<Der<'a>, DerError> {
        let at = self.base + self.pos;
        let (found, inner) = self.any()?;
        if found != expected {
            return Err(DerError::Tag {
                expected,
                found,
                at,
            });
        }
        Ok(inner)
    }

    /// The content bytes of the next element with tag `expected`.
    pub fn bytes(&mut self, expected: u8) -> Result<&'a [u8], DerError> {
        Ok(self.expect(expected)?.rest())
    }

    /// An INTEGER's magnitude, big-endian, without the sign-padding zero bytes.
    pub fn uint(&mut self) -> Result<&'a [u8], DerError> {
        let b = self.bytes(INTEGER)?;
        let skip = b.iter().take_while(|&&x| x == 0).count();
        Ok(&b[skip..])
    }

    /// An OBJECT IDENTIFIER in dotted form.
    pub fn oid(&mut self) -> Result<String, DerError> {
        oid_string(self.bytes(OID)?)
    }

    /// What is left unread.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos.min(self.buf.len())..]
    }
}

/// Dotted form of an encoded OID (X.690 8.19).
pub fn oid_string(b: &[u8]) -> Result<String, DerError> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    let mut in_arc = false;
    for &c in b {
        v = v
            .checked_mul(128)
            .and_then(|x| x.checked_add(u64::from(c & 0x7f)))
            .ok_or(DerError::Oid)?;
        in_arc = c & 0x80 != 0;
        if !in_arc {
            if arcs.is_empty() {
                let first = (v / 40).min(2);
                arcs.push(first);
                arcs.push(v - first * 40);
            } else {
                arcs.push(v);
            }
            v = 0;
        }
    }
    if in_arc || arcs.is_empty() {
        return Err(DerError::Oid);
    }
    Ok(arcs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_and_lengths() {
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]).unwrap(),
            "1.2.840.10045.3.1.7"
        );
        assert_eq!(oid_string(&[0x2b, 0x65, 0x70]).unwrap(), "1.3.101.112");
        assert_eq!(oid_string(&[0x2a, 0x86]), Err(DerError::Oid));
        let mut d = Der::new(&[0x30, 0x81, 0x03, 0x02, 0x01, 0x00]);
        let mut s = d.expect(SEQUENCE).unwrap();
        assert_eq!(s.uint().unwrap(), &[] as &[u8]);
        assert!(s.is_empty() && d.is_empty());
        assert!(matches!(
            Der::new(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).any(),
            Err(DerError::Truncated(_))
        ));
        assert!(matches!(
            Der::new(&[0x30, 0x80]).any(),
            Err(DerError::Length(1))
        ));
    }
}
