//! The LUKS header, enough to say exactly what is there (cryptsetup's `luks1.h`
//! `struct luks_phdr`; LUKS2's binary header and its JSON metadata area, `luks2.h`): version,
//! UUID, label, cipher and key size, and how many key slots are in use. Nothing is decrypted.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LuksInfo {
    pub version: u16,
    pub uuid: String,
    /// LUKS2 only.
    pub label: Option<String>,
    /// `aes-xts-plain64`.
    pub cipher: String,
    pub key_bits: Option<u32>,
    pub keyslots: usize,
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).trim().to_string()
}

/// Parses the header from the volume's first bytes (LUKS2 needs its JSON area too: the first
/// `hdr_size` bytes, at most 4 MiB).
pub fn parse(b: &[u8]) -> Option<LuksInfo> {
    if b.len() < 592 || &b[0..6] != b"LUKS\xba\xbe" {
        return None;
    }
    let version = u16::from_be_bytes([b[6], b[7]]);
    if version == 1 {
        let key_bytes = u32::from_be_bytes([b[108], b[109], b[110], b[111]]);
        // Eight key slots of 48 bytes from offset 208; active = 0x00AC71F3.
        let keyslots = (0..8)
            .filter(|i| {
                let o = 208 + i * 48;
                b.get(o..o + 4) == Some(&[0x00, 0xAC, 0x71, 0xF3][..])
            })
            .count();
        return Some(LuksInfo {
            version,
            uuid: cstr(&b[168..208]),
            label: None,
            cipher: format!("{}-{}", cstr(&b[8..40]), cstr(&b[40..72])),
            key_bits: Some(key_bytes.saturating_mul(8)),
            keyslots,
        });
    }
    if version != 2 {
        return None;
    }
    let hdr_size = u64::from_be_bytes(b[8..16].try_into().ok()?);
    let json_end = usize::try_from(hdr_size).ok()?.min(b.len());
    let json = b.get(4096..json_end).unwrap_or(&[]);
    let json = &json[..json.iter().position(|&c| c == 0).unwrap_or(json.len())];
    let v: serde_json::Value = serde_json::from_slice(json).unwrap_or_default();
    let cipher = v["segments"]
        .as_object()
        .and_then(|s| s.values().find_map(|seg| seg["encryption"].as_str()))
        .unwrap_or("unknown")
        .to_string();
    let key_bits = v["keyslots"]
        .as_object()
        .and_then(|k| k.values().find_map(|s| s["key_size"].as_u64()))
        .map(|n| (n * 8) as u32);
    let label = Some(cstr(&b[24..72])).filter(|l| !l.is_empty());
    Some(LuksInfo {
        version,
        uuid: cstr(&b[168..208]),
        label,
        cipher,
        key_bits,
        keyslots: v["keyslots"].as_object().map(|k| k.len()).unwrap_or(0),
    })
}

impl LuksInfo {
    pub fn describe(&self) -> String {
        let mut s = format!("LUKS{} UUID {}", self.version, self.uuid);
        if let Some(l) = &self.label {
            s.push_str(&format!(", label \"{l}\""));
        }
        s.push_str(&format!(", cipher {}", self.cipher));
        if let Some(k) = self.key_bits {
            s.push_str(&format!(" ({k}-bit key)"));
        }
        s.push_str(&format!(", {} key slot(s) in use", self.keyslots));
        s
    }
}
