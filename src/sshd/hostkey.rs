//! Host key files as sshd loads them: what key a private key file holds, whether OpenSSH can
//! load it unattended (an encrypted host key cannot: sshd passes an empty passphrase,
//! `sshd.c: main` → `sshkey_load_private(file, "", …)`), its SHA256 fingerprint exactly as
//! `ssh-keygen -lf` prints it, and the file-mode rule of `authfile.c: sshkey_perm_ok`.
//!
//! Formats: OpenSSH's own (`openssh-key-v1`, PROTOCOL.key: the public key is stored in clear
//! even when the private part is encrypted), PEM PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE
//! KEY`, `DSA PRIVATE KEY`, PKCS#8 `PRIVATE KEY` and `ENCRYPTED PRIVATE KEY`, and legacy PEM
//! encryption (`Proc-Type: 4,ENCRYPTED`). Nothing here decrypts or validates key math; the
//! parsers only read structure, with every length checked against the input.

pub mod base64;
mod der;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::fs::{FsError, Metadata, RootFs};
use der::{Der, DerError};

/// Key files are a few KiB; anything this large is not a key and is not read whole.
pub const MAX_KEY_FILE: u64 = 1024 * 1024;

/// Why a key file or public key line did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("empty file")]
    Empty,
    #[error("not a private key file: no \"-----BEGIN … PRIVATE KEY-----\" line")]
    NoArmor,
    #[error("unsupported key file format: {0}")]
    UnsupportedFormat(String),
    #[error("no \"-----END {0}-----\" line")]
    NoEnd(String),
    #[error(
        "OpenSSH cannot read this key file: {0} (sshkey.c: private2_uudecode wants \"-----BEGIN OPENSSH PRIVATE KEY-----\\n\" at the first byte and \"-----END OPENSSH PRIVATE KEY-----\\n\" at the start of a line, newline included)"
    )]
    OpenSshArmor(&'static str),
    #[error("{0}")]
    Base64(#[from] base64::Base64Error),
    #[error("{0}")]
    Der(#[from] DerError),
    #[error("openssh-key-v1: {0}")]
    OpenSsh(String),
    #[error("public key blob: {0}")]
    Blob(String),
    #[error("unsupported private key algorithm (OID {0})")]
    UnknownOid(String),
    #[error("not a public key line: {0}")]
    PublicLine(String),
}

/// The NIST curves OpenSSH supports (`sshkey.c: sshkey_curve_name_to_nid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum EcCurve {
    Nistp256,
    Nistp384,
    Nistp521,
}

impl EcCurve {
    pub fn name(self) -> &'static str {
        match self {
            EcCurve::Nistp256 => "nistp256",
            EcCurve::Nistp384 => "nistp384",
            EcCurve::Nistp521 => "nistp521",
        }
    }
    pub fn bits(self) -> u32 {
        match self {
            EcCurve::Nistp256 => 256,
            EcCurve::Nistp384 => 384,
            EcCurve::Nistp521 => 521,
        }
    }
    pub fn from_name(name: &[u8]) -> Option<EcCurve> {
        match name {
            b"nistp256" => Some(EcCurve::Nistp256),
            b"nistp384" => Some(EcCurve::Nistp384),
            b"nistp521" => Some(EcCurve::Nistp521),
            _ => None,
        }
    }
    /// From the named-curve OID (RFC 5480: secp256r1, secp384r1, secp521r1).
    pub fn from_oid(oid: &str) -> Option<EcCurve> {
        match oid {
            "1.2.840.10045.3.1.7" => Some(EcCurve::Nistp256),
            "1.3.132.0.34" => Some(EcCurve::Nistp384),
            "1.3.132.0.35" => Some(EcCurve::Nistp521),
            _ => None,
        }
    }
}

/// The kind of key. Sizes are `None` only where an encrypted container hides them (a
/// legacy-encrypted PEM file without its `.pub`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum KeyType {
    Rsa {
        bits: Option<u32>,
    },
    Dsa {
        bits: Option<u32>,
    },
    Ecdsa {
        curve: Option<EcCurve>,
    },
    Ed25519,
    EcdsaSk,
    Ed25519Sk,
    /// A key type OpenSSH names but this tool does not model (certificates, XMSS), or one an
    /// encrypted PKCS#8 container hides: the name says which.
    Unknown(String),
}

impl KeyType {
    /// The size `ssh-keygen -l` prints (`sshkey.c: sshkey_size`).
    pub fn bits(&self) -> Option<u32> {
        match self {
            KeyType::Rsa { bits } | KeyType::Dsa { bits } => *bits,
            KeyType::Ecdsa { curve } => curve.map(EcCurve::bits),
            KeyType::Ed25519 | KeyType::EcdsaSk | KeyType::Ed25519Sk => Some(256),
            KeyType::Unknown(_) => None,
        }
    }

    /// The short name `ssh-keygen -l` prints in parentheses (`sshkey.c: sshkey_type`).
    pub fn label(&self) -> &'static str {
        match self {
            KeyType::Rsa { .. } => "RSA",
            KeyType::Dsa { .. } => "DSA",
            KeyType::Ecdsa { .. } => "ECDSA",
            KeyType::Ed25519 => "ED25519",
            KeyType::EcdsaSk => "ECDSA-SK",
            KeyType::Ed25519Sk => "ED25519-SK",
            KeyType::Unknown(_) => "unknown",
        }
    }

    /// The SSH protocol name (`ssh-ed25519`, `ecdsa-sha2-nistp256`), as `HostKeyAlgorithms`
    /// and `.pub` files spell it; `None` where the curve is hidden or the type unknown.
    pub fn ssh_name(&self) -> Option<String> {
        Some(match self {
            KeyType::Rsa { .. } => "ssh-rsa".into(),
            KeyType::Dsa { .. } => "ssh-dss".into(),
            KeyType::Ecdsa { curve } => format!("ecdsa-sha2-{}", curve.as_ref()?.name()),
            KeyType::Ed25519 => "ssh-ed25519".into(),
            KeyType::EcdsaSk => "sk-ecdsa-sha2-nistp256@openssh.com".into(),
            KeyType::Ed25519Sk => "sk-ssh-ed25519@openssh.com".into(),
            KeyType::Unknown(_) => return None,
        })
    }
}

/// The container a private key came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyFormat {
    /// `-----BEGIN OPENSSH PRIVATE KEY-----` (openssh-key-v1).
    OpenSsh,
    /// `RSA PRIVATE KEY`, `EC PRIVATE KEY`, `DSA PRIVATE KEY`: OpenSSL's traditional PEM.
    Pem,
    /// `PRIVATE KEY` or `ENCRYPTED PRIVATE KEY`.
    Pkcs8,
}

/// What a private key file holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HostKeyInfo {
    pub format: KeyFormat,
    pub key_type: KeyType,
    /// Passphrase-protected: sshd cannot load it at start.
    pub encrypted: bool,
    /// The cipher protecting it (`aes256-ctr`, `AES-128-CBC`, `PBES2`), when encrypted.
    pub cipher: Option<String>,
    /// The public key in SSH wire format, when the file carries it in clear.
    #[serde(skip)]
    pub public_blob: Option<Vec<u8>>,
    /// The comment stored in an unencrypted OpenSSH-format key.
    pub comment: Option<String>,
}

impl HostKeyInfo {
    pub fn fingerprint(&self) -> Option<String> {
        self.public_blob.as_deref().map(sha256_fingerprint)
    }

    /// The line `ssh-keygen -lf FILE` prints when no `FILE.pub` exists (`ssh-keygen.c:
    /// fingerprint_private` → `fingerprint_one_key`).
    pub fn keygen_line(&self) -> Option<String> {
        let fp = self.fingerprint()?;
        Some(keygen_line(&self.key_type, &fp, self.comment.as_deref()))
    }
}

/// `SHA256:` and the unpadded base64 of the SHA-256 of the wire-format public key
/// (`sshkey.c: sshkey_fingerprint` with `SSH_FP_DEFAULT`).
pub fn sha256_fingerprint(blob: &[u8]) -> String {
    let digest = Sha256::digest(blob);
    format!("SHA256:{}", base64::encode_unpadded(digest.as_slice()))
}

/// `256 SHA256:… comment (ED25519)`: bits, fingerprint, comment or `no comment`, type.
pub fn keygen_line(key_type: &KeyType, fingerprint: &str, comment: Option<&str>) -> String {
    let bits = key_type.bits().unwrap_or(0);
    let comment = comment.filter(|c| !c.is_empty()).unwrap_or("no comment");
    format!("{bits} {fingerprint} {comment} ({})", key_type.label())
}

/// A reader of SSH wire-format fields (RFC 4251 §5): big-endian `uint32`, length-prefixed
/// `string`. Every length is checked against what remains.
struct Wire<'a> {
    buf: &'a [u8],
}

impl<'a> Wire<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.buf.split_first_chunk::<4>()?;
        self.buf = rest;
        Some(u32::from_be_bytes(*head))
    }
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        if len > self.buf.len() {
            return None;
        }
        let (s, rest) = self.buf.split_at(len);
        self.buf = rest;
        Some(s)
    }
}

/// Appends an SSH `string`.
fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    // Key material here comes from files bounded by MAX_KEY_FILE, far below u32::MAX.
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// Appends an SSH `mpint` from a non-negative big-endian magnitude.
fn put_mpint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let skip = magnitude.iter().take_while(|&&b| b == 0).count();
    let m = &magnitude[skip..];
    if m.first().is_some_and(|&b| b & 0x80 != 0) {
        out.extend_from_slice(&((m.len() + 1) as u32).to_be_bytes());
        out.push(0);
        out.extend_from_slice(m);
    } else {
        put_string(out, m);
    }
}

/// Bit length of a big-endian magnitude (`BN_num_bits`).
fn bit_length(magnitude: &[u8]) -> u32 {
    let skip = magnitude.iter().take_while(|&&b| b == 0).count();
    match magnitude.get(skip) {
        None => 0,
        Some(&top) => {
            let rest = (magnitude.len() - skip - 1) as u32;
            rest.saturating_mul(8)
                .saturating_add(8 - top.leading_zeros())
        }
    }
}

/// The key type of a wire-format public key blob (`sshkey.c: sshkey_from_blob_internal`).
pub fn parse_public_blob(blob: &[u8]) -> Result<KeyType, KeyError> {
    let bad = |what: &str| KeyError::Blob(what.to_string());
    let mut w = Wire { buf: blob };
    let name = w.string().ok_or_else(|| bad("truncated key type name"))?;
    let name_s = String::from_utf8_lossy(name).into_owned();
    let kt = match name {
        b"ssh-rsa" => {
            let _e = w.string().ok_or_else(|| bad("truncated RSA exponent"))?;
            let n = w.string().ok_or_else(|| bad("truncated RSA modulus"))?;
            KeyType::Rsa {
                bits: Some(bit_length(n)),
            }
        }
        b"ssh-dss" => {
            let p = w.string().ok_or_else(|| bad("truncated DSA p"))?;
            for _ in 0..3 {
                w.string().ok_or_else(|| bad("truncated DSA parameters"))?;
            }
            KeyType::Dsa {
                bits: Some(bit_length(p)),
            }
        }
        b"ecdsa-sha2-nistp256" | b"ecdsa-sha2-nistp384" | b"ecdsa-sha2-nistp521" => {
            let curve = w.string().ok_or_else(|| bad("truncated curve name"))?;
            let c = EcCurve::from_name(curve).ok_or_else(|| bad("unknown curve"))?;
            if name[11..] != *curve {
                return Err(bad("curve name does not match the key type"));
            }
            w.string().ok_or_else(|| bad("truncated EC point"))?;
            KeyType::Ecdsa { curve: Some(c) }
        }
        b"ssh-ed25519" => {
            let pk = w.string().ok_or_else(|| bad("truncated Ed25519 key"))?;
            if pk.len() != 32 {
                return Err(bad("Ed25519 public key is not 32 bytes"));
            }
            KeyType::Ed25519
        }
        b"sk-ecdsa-sha2-nistp256@openssh.com" => {
            for _ in 0..3 {
                w.string().ok_or_else(|| bad("truncated security key"))?;
            }
            KeyType::EcdsaSk
        }
        b"sk-ssh-ed25519@openssh.com" => {
            for _ in 0..2 {
                w.string().ok_or_else(|| bad("truncated security key"))?;
            }
            KeyType::Ed25519Sk
        }
        _ => {
            if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
                return Err(bad("key type name is not printable"));
            }
            return Ok(KeyType::Unknown(name_s));
        }
    };
    if !w.buf.is_empty() {
        return Err(bad("trailing bytes after the key"));
    }
    Ok(kt)
}

/// A public key line (`.pub` file, `known_hosts`-style without host field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub key_type: KeyType,
    pub blob: Vec<u8>,
    pub comment: Option<String>,
}

impl PublicKey {
    pub fn fingerprint(&self) -> String {
        sha256_fingerprint(&self.blob)
    }
}

/// Parses `TYPE BASE64 [COMMENT]` (`sshkey.c: sshkey_read`): the blob's own type name must
/// equal the text one.
pub fn parse_public_line(line: &str) -> Result<PublicKey, KeyError> {
    let line = line.trim_start_matches([' ', '\t']);
    let line = line.trim_end_matches(['\r', '\n']);
    let bad = |what: &str| KeyError::PublicLine(what.to_string());
    let (name, rest) = line
        .split_once([' ', '\t'])
        .ok_or_else(|| bad("no base64 field after the key type"))?;
    let rest = rest.trim_start_matches([' ', '\t']);
    let (b64, comment) = match rest.split_once([' ', '\t']) {
        Some((b, c)) => (b, Some(c.trim_matches([' ', '\t']).to_string())),
        None => (rest, None),
    };
    let blob = base64::decode(b64.as_bytes())?;
    let mut w = Wire { buf: &blob };
    let inner = w.string().ok_or_else(|| bad("blob too short"))?;
    if inner != name.as_bytes() {
        return Err(bad(
            "the key type before the base64 differs from the one inside it",
        ));
    }
    let key_type = parse_public_blob(&blob)?;
    Ok(PublicKey {
        key_type,
        blob,
        comment: comment.filter(|c| !c.is_empty()),
    })
}

/// Parses a private key file's bytes.
pub fn parse_private_key(bytes: &[u8]) -> Result<HostKeyInfo, KeyError> {
    if bytes.is_empty() {
        return Err(KeyError::Empty);
    }
    if bytes.starts_with(b"SSH PRIVATE KEY FILE FORMAT 1.1\n") {
        return Err(KeyError::UnsupportedFormat(
            "SSH protocol 1 RSA key (removed in OpenSSH 7.4)".into(),
        ));
    }
    if bytes.starts_with(b"PuTTY-User-Key-File-") {
        return Err(KeyError::UnsupportedFormat(
            "PuTTY .ppk key (convert with puttygen -O private-openssh)".into(),
        ));
    }
    let pem = find_pem(bytes)?;
    match pem.label.as_str() {
        "OPENSSH PRIVATE KEY" => {
            // sshd reads this format only when the marker starts the file and every marker
            // line ends with "\n" (a CRLF copy or a file cut before its last newline fails).
            if !bytes.starts_with(b"-----BEGIN OPENSSH PRIVATE KEY-----\n") {
                return Err(KeyError::OpenSshArmor(
                    if bytes.starts_with(b"-----BEGIN OPENSSH PRIVATE KEY-----\r\n") {
                        "CRLF line endings"
                    } else {
                        "text before the BEGIN line"
                    },
                ));
            }
            if !pem.end_newline {
                return Err(KeyError::OpenSshArmor(
                    "no newline after the END line (file truncated or edited)",
                ));
            }
            parse_openssh(&base64::decode(pem.body)?)
        }
        "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "DSA PRIVATE KEY" => {
            let alg = &pem.label[..pem.label.len() - " PRIVATE KEY".len()];
            if let Some(cipher) = pem.encrypted {
                let key_type = match alg {
                    "RSA" => KeyType::Rsa { bits: None },
                    "EC" => KeyType::Ecdsa { curve: None },
                    _ => KeyType::Dsa { bits: None },
                };
                return Ok(HostKeyInfo {
                    format: KeyFormat::Pem,
                    key_type,
                    encrypted: true,
                    cipher: Some(cipher),
                    public_blob: None,
                    comment: None,
                });
            }
            let der = base64::decode(pem.body)?;
            let blob = match alg {
                "RSA" => rsa_pkcs1_blob(&der)?,
                "EC" => sec1_blob(&der, None)?,
                _ => dsa_blob(&der)?,
            };
            from_blob(KeyFormat::Pem, blob)
        }
        "PRIVATE KEY" => {
            let der = base64::decode(pem.body)?;
            parse_pkcs8(&der)
        }
        "ENCRYPTED PRIVATE KEY" => {
            let der = base64::decode(pem.body)?;
            // EncryptedPrivateKeyInfo ::= SEQUENCE { AlgorithmIdentifier, OCTET STRING }: the
            // key's algorithm is inside the ciphertext.
            let mut outer = Der::new(&der).expect(der::SEQUENCE)?;
            let mut alg = outer.expect(der::SEQUENCE)?;
            let oid = alg.oid()?;
            let cipher = match oid.as_str() {
                "1.2.840.113549.1.5.13" => "PBES2".to_string(),
                other => format!("OID {other}"),
            };
            Ok(HostKeyInfo {
                format: KeyFormat::Pkcs8,
                key_type: KeyType::Unknown("hidden by PKCS#8 encryption".into()),
                encrypted: true,
                cipher: Some(cipher),
                public_blob: None,
                comment: None,
            })
        }
        other => Err(KeyError::UnsupportedFormat(format!("PEM \"{other}\""))),
    }
}

fn from_blob(format: KeyFormat, blob: Vec<u8>) -> Result<HostKeyInfo, KeyError> {
    Ok(HostKeyInfo {
        format,
        key_type: parse_public_blob(&blob)?,
        encrypted: false,
        cipher: None,
        public_blob: Some(blob),
        comment: None,
    })
}

struct Pem<'a> {
    label: String,
    /// `DEK-Info` cipher when `Proc-Type: 4,ENCRYPTED`.
    encrypted: Option<String>,
    body: &'a [u8],
    /// Whether the END line is followed by a newline.
    end_newline: bool,
}

/// Finds the first `-----BEGIN X-----` … `-----END X-----` block, as OpenSSL's `PEM_read_bio`
/// does (text before it is skipped), with RFC 1421 headers before a blank line.
fn find_pem(bytes: &[u8]) -> Result<Pem<'_>, KeyError> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let start = find(bytes, BEGIN).ok_or(KeyError::NoArmor)?;
    let after = &bytes[start + BEGIN.len()..];
    let eol = after
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(KeyError::NoArmor)?;
    let first = trim_cr(&after[..eol]);
    let label = first
        .strip_suffix(b"-----")
        .ok_or(KeyError::NoArmor)?
        .to_vec();
    let label = String::from_utf8_lossy(&label).into_owned();
    let mut body_all = &after[eol + 1..];
    let end_marker = format!("-----END {label}-----");
    let end =
        find(body_all, end_marker.as_bytes()).ok_or_else(|| KeyError::NoEnd(label.clone()))?;
    let end_newline = matches!(body_all.get(end + end_marker.len()), Some(b'\n'))
        || body_all.get(end + end_marker.len()..end + end_marker.len() + 2) == Some(b"\r\n");
    body_all = &body_all[..end];
    // Headers: `Name: value` lines up to a blank line.
    let mut encrypted = None;
    let mut body = body_all;
    if find(first_line(body_all), b":").is_some() {
        let mut rest = body_all;
        let mut proc_encrypted = false;
        let mut dek = None;
        loop {
            let line = first_line(rest);
            let next = &rest[(line.len() + 1).min(rest.len())..];
            let l = trim_cr(line);
            if l.is_empty() {
                rest = next;
                break;
            }
            if let Some(v) = l.strip_prefix(b"Proc-Type:") {
                proc_encrypted = String::from_utf8_lossy(v).contains("ENCRYPTED");
            } else if let Some(v) = l.strip_prefix(b"DEK-Info:") {
                let v = String::from_utf8_lossy(v);
                dek = Some(v.trim().split(',').next().unwrap_or("").to_string());
            } else if find(l, b":").is_none() {
                break;
            }
            rest = next;
            if rest.is_empty() {
                break;
            }
        }
        if proc_encrypted {
            encrypted = Some(dek.unwrap_or_else(|| "unknown cipher".into()));
        }
        body = rest;
    }
    Ok(Pem {
        label,
        encrypted,
        body,
        end_newline,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn first_line(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == b'\n').unwrap_or(b.len())]
}

fn trim_cr(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// openssh-key-v1 (PROTOCOL.key; `sshkey.c: sshkey_parse_private2`).
fn parse_openssh(data: &[u8]) -> Result<HostKeyInfo, KeyError> {
    let bad = |what: &str| KeyError::OpenSsh(what.to_string());
    let rest = data
        .strip_prefix(b"openssh-key-v1\0")
        .ok_or_else(|| bad("bad magic (not \"openssh-key-v1\")"))?;
    let mut w = Wire { buf: rest };
    let cipher = w.string().ok_or_else(|| bad("truncated cipher name"))?;
    let kdf = w.string().ok_or_else(|| bad("truncated KDF name"))?;
    let _kdf_options = w.string().ok_or_else(|| bad("truncated KDF options"))?;
    let nkeys = w.u32().ok_or_else(|| bad("truncated key count"))?;
    if nkeys != 1 {
        // sshkey_parse_private2: "only one key supported at present".
        return Err(bad(&format!(
            "{nkeys} keys in one file (OpenSSH reads exactly 1)"
        )));
    }
    let blob = w
        .string()
        .ok_or_else(|| bad("truncated public key"))?
        .to_vec();
    let private = w.string().ok_or_else(|| bad("truncated private section"))?;
    let cipher = String::from_utf8_lossy(cipher).into_owned();
    let encrypted = cipher != "none";
    if !encrypted && kdf != b"none" {
        return Err(bad("KDF set on an unencrypted key"));
    }
    let key_type = parse_public_blob(&blob)?;
    let comment = if encrypted {
        None
    } else {
        Some(openssh_private_comment(private, &blob)?)
    };
    Ok(HostKeyInfo {
        format: KeyFormat::OpenSsh,
        key_type,
        encrypted,
        cipher: encrypted.then_some(cipher),
        public_blob: Some(blob),
        comment,
    })
}

/// Walks the clear private section: check integers, the key (its fields skipped by type), the
/// comment, then the 1, 2, 3… padding (`private2_check_padding`).
fn openssh_private_comment(private: &[u8], blob: &[u8]) -> Result<String, KeyError> {
    let bad = |what: &str| KeyError::OpenSsh(what.to_string());
    let mut w = Wire { buf: private };
    let (c1, c2) = (
        w.u32().ok_or_else(|| bad("truncated check bytes"))?,
        w.u32().ok_or_else(|| bad("truncated check bytes"))?,
    );
    if c1 != c2 {
        return Err(bad("check bytes differ: the private part is corrupt"));
    }
    let name = w
        .string()
        .ok_or_else(|| bad("truncated private key type"))?;
    let mut outer = Wire { buf: blob };
    if outer.string() != Some(name) {
        return Err(bad("private key type differs from the public key's"));
    }
    // Fields after the type name (`*_deserialize_private` in ssh-rsa.c, ssh-dss.c,
    // ssh-ecdsa.c, ssh-ed25519.c, ssh-ecdsa-sk.c, ssh-ed25519-sk.c): strings, then for
    // security keys a flags byte and two more strings.
    let (strings, sk) = match name {
        b"ssh-rsa" => (6, false),
        b"ssh-dss" => (5, false),
        b"ssh-ed25519" => (2, false),
        n if n.starts_with(b"ecdsa-sha2-") => (3, false),
        b"sk-ecdsa-sha2-nistp256@openssh.com" => (3, true),
        b"sk-ssh-ed25519@openssh.com" => (2, true),
        _ => return Ok(String::new()),
    };
    for _ in 0..strings {
        w.string().ok_or_else(|| bad("truncated private key"))?;
    }
    if sk {
        w.u8().ok_or_else(|| bad("truncated security key flags"))?;
        w.string().ok_or_else(|| bad("truncated key handle"))?;
        w.string().ok_or_else(|| bad("truncated security key"))?;
    }
    let comment = w.string().ok_or_else(|| bad("truncated comment"))?;
    for (i, &p) in w.buf.iter().enumerate() {
        if usize::from(p) != (i + 1) & 0xff {
            return Err(bad("bad padding after the comment"));
        }
    }
    Ok(String::from_utf8_lossy(comment).into_owned())
}

/// PKCS#1 RSAPrivateKey (RFC 8017 A.1.2) → `ssh-rsa` blob (e, n).
fn rsa_pkcs1_blob(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let mut seq = Der::new(der).expect(der::SEQUENCE)?;
    let _version = seq.uint()?;
    let n = seq.uint()?;
    let e = seq.uint()?;
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-rsa");
    put_mpint(&mut blob, e);
    put_mpint(&mut blob, n);
    Ok(blob)
}

/// OpenSSL's DSA private key: SEQUENCE { version, p, q, g, y, x } → `ssh-dss` blob.
fn dsa_blob(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let mut seq = Der::new(der).expect(der::SEQUENCE)?;
    let _version = seq.uint()?;
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-dss");
    for _ in 0..4 {
        let v = seq.uint()?;
        put_mpint(&mut blob, v);
    }
    Ok(blob)
}

/// SEC1 ECPrivateKey (RFC 5915) → `ecdsa-sha2-*` blob. The curve comes from `[0]` or, inside
/// PKCS#8, from the algorithm parameters; the public point from `[1]`.
fn sec1_blob(der: &[u8], outer_curve: Option<EcCurve>) -> Result<Vec<u8>, KeyError> {
    let mut seq = Der::new(der).expect(der::SEQUENCE)?;
    let _version = seq.uint()?;
    let _d = seq.bytes(der::OCTET_STRING)?;
    let mut curve = outer_curve;
    let mut point = None;
    while !seq.is_empty() {
        let (tag, mut inner) = seq.any()?;
        match tag {
            der::CONTEXT_0 => {
                let oid = inner.oid()?;
                curve = Some(EcCurve::from_oid(&oid).ok_or(KeyError::UnknownOid(oid))?);
            }
            der::CONTEXT_1 => {
                let bits = inner.bytes(der::BIT_STRING)?;
                // First byte: unused bits, 0 for a point.
                point = Some(bits.get(1..).unwrap_or(&[]).to_vec());
            }
            _ => {}
        }
    }
    let curve =
        curve.ok_or_else(|| KeyError::UnsupportedFormat("EC key without a curve".into()))?;
    let point = point.ok_or_else(|| {
        KeyError::UnsupportedFormat(
            "EC private key without its public point (cannot derive it here)".into(),
        )
    })?;
    let mut blob = Vec::new();
    put_string(&mut blob, format!("ecdsa-sha2-{}", curve.name()).as_bytes());
    put_string(&mut blob, curve.name().as_bytes());
    put_string(&mut blob, &point);
    Ok(blob)
}

/// PKCS#8 PrivateKeyInfo / OneAsymmetricKey (RFC 5208, RFC 5958).
fn parse_pkcs8(der: &[u8]) -> Result<HostKeyInfo, KeyError> {
    let mut seq = Der::new(der).expect(der::SEQUENCE)?;
    let _version = seq.uint()?;
    let mut alg = seq.expect(der::SEQUENCE)?;
    let oid = alg.oid()?;
    let private = seq.bytes(der::OCTET_STRING)?;
    match oid.as_str() {
        // rsaEncryption
        "1.2.840.113549.1.1.1" => from_blob(KeyFormat::Pkcs8, rsa_pkcs1_blob(private)?),
        // id-ecPublicKey, parameters = namedCurve
        "1.2.840.10045.2.1" => {
            let curve_oid = alg.oid()?;
            let curve = EcCurve::from_oid(&curve_oid).ok_or(KeyError::UnknownOid(curve_oid))?;
            from_blob(KeyFormat::Pkcs8, sec1_blob(private, Some(curve))?)
        }
        // id-Ed25519 (RFC 8410): the public key is present only in a v2 OneAsymmetricKey
        // (`[1] publicKey`); deriving it from the seed needs curve arithmetic, left out.
        "1.3.101.112" => {
            let mut public_blob = None;
            while !seq.is_empty() {
                let (tag, inner) = seq.any()?;
                // [1] IMPLICIT BIT STRING: primitive 0x81.
                if tag == 0x81 {
                    if let Some(pk) = inner.rest().get(1..).filter(|p| p.len() == 32) {
                        let mut blob = Vec::new();
                        put_string(&mut blob, b"ssh-ed25519");
                        put_string(&mut blob, pk);
                        public_blob = Some(blob);
                    }
                }
            }
            Ok(HostKeyInfo {
                format: KeyFormat::Pkcs8,
                key_type: KeyType::Ed25519,
                encrypted: false,
                cipher: None,
                public_blob,
                comment: None,
            })
        }
        // id-dsa: y = g^x mod p is not stored; the type is known, the public key is not.
        "1.2.840.10040.4.1" => Ok(HostKeyInfo {
            format: KeyFormat::Pkcs8,
            key_type: KeyType::Dsa {
                bits: alg
                    .expect(der::SEQUENCE)
                    .and_then(|mut p| p.uint())
                    .ok()
                    .map(bit_length),
            },
            encrypted: false,
            cipher: None,
            public_blob: None,
            comment: None,
        }),
        other => Err(KeyError::UnknownOid(other.to_string())),
    }
}

/// The uid sshd runs as when it loads host keys.
const SSHD_UID: u32 = 0;

/// Whether sshd accepts the private key file's mode, mirroring `authfile.c: sshkey_perm_ok`
/// (openssh-portable V_9_2_P1 and V_10_0_P1 alike): a key owned by the uid sshd runs as (root)
/// with any group or other permission bit is refused with "UNPROTECTED PRIVATE KEY FILE"; a key
/// owned by another uid is not checked there. RHEL-family builds (Fedora's
/// `openssh-6.6p1-keyperm.patch`, carried by RHEL 7–9 and Amazon Linux 2) first clear the
/// group-read bit when the file's group is `ssh_keys`, so `root:ssh_keys 0640` passes.
/// `ssh_keys_gid` is that group's gid in the guest's `/etc/group`, if it exists. The error is
/// the message sshd logs.
pub fn host_key_mode_ok(
    path: &Path,
    meta: &Metadata,
    distro_allows_ssh_keys_group: bool,
    ssh_keys_gid: Option<u32>,
) -> Result<(), String> {
    let mut mode = meta.perm;
    if distro_allows_ssh_keys_group && mode & 0o040 != 0 && ssh_keys_gid == Some(meta.gid) {
        mode &= !0o040;
    }
    if meta.uid == SSHD_UID && mode & 0o077 != 0 {
        return Err(format!(
            "WARNING: UNPROTECTED PRIVATE KEY FILE! Permissions 0{:03o} for '{}' are too open. \
             It is required that your private key files are NOT accessible by others. \
             This private key will be ignored.",
            mode & 0o777,
            path.display()
        ));
    }
    Ok(())
}

/// A host key file as found in the guest.
#[derive(Debug)]
pub struct HostKeyFile {
    pub path: PathBuf,
    /// Metadata of the file itself (symlinks followed, as `open(2)` does).
    pub metadata: Metadata,
    pub key: Result<HostKeyInfo, KeyError>,
    /// `PATH.pub`, when present: sshd loads it too and compares (`sshd.c: main`), and
    /// `ssh-keygen -l` prefers its comment.
    pub public: Option<Result<PublicKey, KeyError>>,
}

/// Reads a host key file and its `.pub` from the guest. The error is for the private file
/// only (missing, unreadable, too large).
pub fn read_host_key(fs: &RootFs, path: &Path) -> Result<HostKeyFile, FsError> {
    let metadata = fs.metadata(path)?;
    let bytes = fs.read_limited(path, MAX_KEY_FILE)?;
    let key = parse_private_key(&bytes);
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    let public = match fs.read_limited(&pub_path, MAX_KEY_FILE) {
        Ok(b) => Some(
            // The first line that is not blank or a comment (authfile.c:
            // sshkey_try_load_public).
            String::from_utf8_lossy(&b)
                .lines()
                .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map(parse_public_line)
                .unwrap_or(Err(KeyError::Empty)),
        ),
        Err(_) => None,
    };
    Ok(HostKeyFile {
        path: path.to_path_buf(),
        metadata,
        key,
        public,
    })
}

#[cfg(test)]
mod tests;
