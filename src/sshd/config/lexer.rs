//! sshd_config's tokenisers, mirroring OpenSSH's `strdelim()` (keyword and Match criteria) and
//! `argv_split()` (arguments, 8.7 and later) from misc.c.

/// A quote that is never closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid quotes")]
pub struct Unterminated;

/// The next token of a line, split on whitespace, a double-quoted string or one `=`; returns the
/// token and the rest (`None` for the rest when the line is used up). `Err` on an unterminated
/// quote. Mirrors `strdelim_internal(s, 1)`.
pub fn strdelim(s: &str) -> Result<(String, Option<&str>), Unterminated> {
    const WS: &[char] = &[' ', '\t', '\r', '\n'];
    let Some(pos) = s.find(|c: char| WS.contains(&c) || c == '"' || c == '=') else {
        return Ok((s.to_string(), None));
    };
    let bytes = s.as_bytes();
    if bytes[pos] == b'"' {
        // The token is what precedes the quote plus the quoted text; the closing quote ends it.
        let after = &s[pos + 1..];
        let Some(close) = after.find('"') else {
            return Err(Unterminated);
        };
        let token = format!("{}{}", &s[..pos], &after[..close]);
        let rest = after[close + 1..].trim_start_matches(WS);
        return Ok((token, Some(rest)));
    }
    let token = s[..pos].to_string();
    let was_equals = bytes[pos] == b'=';
    let mut rest = s[pos + 1..].trim_start_matches(WS);
    if !was_equals {
        if let Some(r) = rest.strip_prefix('=') {
            rest = r.trim_start_matches(WS);
        }
    }
    Ok((token, Some(rest)))
}

/// Splits arguments like OpenSSH's `argv_split(s, …, terminate_on_comment=1)`: blanks separate,
/// `"` and `'` quote, `\\`, `\"`, `\'` and (outside quotes) `\ ` escape, a `#` at the start of a
/// token ends the line. `Err` on an unterminated quote ("invalid quotes").
pub fn argv_split(s: &str) -> Result<Vec<String>, Unterminated> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ' ' || chars[i] == '\t' {
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            break;
        }
        let mut quote: Option<char> = None;
        let mut arg = String::new();
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                let next = chars.get(i + 1).copied();
                match next {
                    Some('\'') | Some('"') | Some('\\') => {
                        i += 1;
                        arg.push(chars[i]);
                    }
                    Some(' ') if quote.is_none() => {
                        i += 1;
                        arg.push(' ');
                    }
                    _ => arg.push('\\'),
                }
            } else if quote.is_none() && (c == ' ' || c == '\t') {
                break;
            } else if quote.is_none() && (c == '"' || c == '\'') {
                quote = Some(c);
            } else if quote == Some(c) {
                quote = None;
            } else {
                arg.push(c);
            }
            i += 1;
        }
        out.push(arg);
        if i >= chars.len() {
            if quote.is_some() {
                return Err(Unterminated);
            }
            break;
        }
    }
    Ok(out)
}

/// Before 8.7 each argument was taken with `strdelim()`: no single quotes or escapes, and the
/// rest of a line after the arguments a keyword needs was ignored.
pub fn strdelim_all(s: &str) -> Result<Vec<String>, Unterminated> {
    let mut out = Vec::new();
    let mut rest = Some(s);
    while let Some(r) = rest {
        if r.is_empty() {
            break;
        }
        let (tok, next) = strdelim(r)?;
        if tok.is_empty() && next.is_none() {
            break;
        }
        out.push(tok);
        rest = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strdelim_like_openssh() {
        assert_eq!(strdelim("Port 22").unwrap(), ("Port".into(), Some("22")));
        assert_eq!(strdelim("Port=22").unwrap(), ("Port".into(), Some("22")));
        assert_eq!(strdelim("Port = 22").unwrap(), ("Port".into(), Some("22")));
        assert_eq!(strdelim("Port==22").unwrap(), ("Port".into(), Some("=22")));
        assert_eq!(strdelim("Port").unwrap(), ("Port".into(), None));
        assert_eq!(
            strdelim("\"Po rt\" 22").unwrap(),
            ("Po rt".into(), Some("22"))
        );
        assert!(strdelim("\"Port 22").is_err());
        assert_eq!(strdelim("").unwrap(), ("".into(), None));
    }

    #[test]
    fn argv_split_like_openssh() {
        assert_eq!(argv_split("a b\tc").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(argv_split("\"a b\" 'c d'").unwrap(), vec!["a b", "c d"]);
        assert_eq!(argv_split("a\\ b").unwrap(), vec!["a b"]);
        assert_eq!(argv_split("a\\x").unwrap(), vec!["a\\x"]);
        assert_eq!(argv_split("a #b c").unwrap(), vec!["a"]);
        assert_eq!(argv_split("a#b").unwrap(), vec!["a#b"]);
        assert_eq!(argv_split("\"\"").unwrap(), vec![""]);
        assert!(argv_split("\"a").is_err());
        assert_eq!(argv_split("").unwrap(), Vec::<String>::new());
    }
}
