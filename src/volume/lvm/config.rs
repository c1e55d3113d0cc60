//! LVM2's metadata text format (`lib/config/config.c`: sections `name { ... }`, assignments
//! `key = value` with strings, integers, floats and `[ ... ]` arrays, `#` comments), parsed into
//! a small tree. Bounded: nesting depth `MAX_DEPTH`; the text itself is bounded by the caller.

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Array(Vec<Value>),
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Section {
    pub values: Vec<(String, Value)>,
    pub sections: Vec<(String, Section)>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn section(&self, key: &str) -> Option<&Section> {
        self.sections.iter().find(|(k, _)| k == key).map(|(_, s)| s)
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// A string array (`status = ["READ", "WRITE"]`).
    pub fn strings(&self, key: &str) -> Vec<&str> {
        match self.get(key) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| match v {
                    Value::Str(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

const MAX_DEPTH: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("LVM metadata line {line}: {detail}")]
pub struct ParseError {
    pub line: usize,
    pub detail: String,
}

struct Lexer<'a> {
    b: &'a [u8],
    i: usize,
    line: usize,
}

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Punct(u8),
    End,
}

impl Lexer<'_> {
    fn err(&self, d: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            detail: d.into(),
        }
    }

    fn next(&mut self) -> Result<Tok, ParseError> {
        loop {
            match self.b.get(self.i) {
                None => return Ok(Tok::End),
                Some(b'\n') => {
                    self.line += 1;
                    self.i += 1;
                }
                Some(c) if c.is_ascii_whitespace() => self.i += 1,
                Some(b'#') => {
                    while self.b.get(self.i).is_some_and(|&c| c != b'\n') {
                        self.i += 1;
                    }
                }
                Some(_) => break,
            }
        }
        let c = self.b[self.i];
        match c {
            b'{' | b'}' | b'[' | b']' | b'=' | b',' => {
                self.i += 1;
                Ok(Tok::Punct(c))
            }
            b'"' => {
                self.i += 1;
                let mut s = Vec::new();
                loop {
                    match self.b.get(self.i) {
                        None => return Err(self.err("unterminated string")),
                        Some(b'"') => {
                            self.i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            if let Some(&n) = self.b.get(self.i + 1) {
                                s.push(n);
                            }
                            self.i += 2;
                        }
                        Some(&ch) => {
                            if ch == b'\n' {
                                self.line += 1;
                            }
                            s.push(ch);
                            self.i += 1;
                        }
                    }
                }
                Ok(Tok::Str(String::from_utf8_lossy(&s).into_owned()))
            }
            _ => {
                let start = self.i;
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|&c| !c.is_ascii_whitespace() && !b"{}[]=,#\"".contains(&c))
                {
                    self.i += 1;
                }
                Ok(Tok::Word(
                    String::from_utf8_lossy(&self.b[start..self.i]).into_owned(),
                ))
            }
        }
    }
}

fn scalar(lx: &Lexer, t: Tok) -> Result<Value, ParseError> {
    match t {
        Tok::Str(s) => Ok(Value::Str(s)),
        Tok::Word(w) => {
            if let Ok(i) = w.parse::<i64>() {
                Ok(Value::Int(i))
            } else if let Ok(f) = w.parse::<f64>() {
                Ok(Value::Float(f))
            } else {
                Err(lx.err(format!("bad value {w:?}")))
            }
        }
        other => Err(lx.err(format!("unexpected {other:?}"))),
    }
}

fn section(lx: &mut Lexer, depth: usize, top: bool) -> Result<Section, ParseError> {
    if depth > MAX_DEPTH {
        return Err(lx.err("sections nested too deeply"));
    }
    let mut s = Section::default();
    loop {
        let name = match lx.next()? {
            Tok::End if top => return Ok(s),
            Tok::End => return Err(lx.err("unterminated section")),
            Tok::Punct(b'}') if !top => return Ok(s),
            Tok::Word(w) => w,
            other => return Err(lx.err(format!("expected a name, found {other:?}"))),
        };
        match lx.next()? {
            Tok::Punct(b'{') => {
                let sub = section(lx, depth + 1, false)?;
                s.sections.push((name, sub));
            }
            Tok::Punct(b'=') => {
                let v = match lx.next()? {
                    Tok::Punct(b'[') => {
                        let mut items = Vec::new();
                        loop {
                            match lx.next()? {
                                Tok::Punct(b']') => break,
                                Tok::Punct(b',') => continue,
                                t => items.push(scalar(lx, t)?),
                            }
                        }
                        Value::Array(items)
                    }
                    t => scalar(lx, t)?,
                };
                s.values.push((name, v));
            }
            other => {
                return Err(lx.err(format!(
                    "expected '{{' or '=' after {name}, found {other:?}"
                )));
            }
        }
    }
}

/// Parses metadata text (NUL bytes at the end, as stored, are ignored).
pub fn parse(text: &[u8]) -> Result<Section, ParseError> {
    let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
    let mut lx = Lexer {
        b: &text[..end],
        i: 0,
        line: 1,
    };
    section(&mut lx, 0, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vg_text() {
        let t = br#"rhel {
id = "abc-def"
seqno = 3
status = ["RESIZEABLE", "READ", "WRITE"] # comment
extent_size = 8192
logical_volumes {
root {
segment1 {
stripes = [
"pv0", 0
]
}
}
}
}
contents = "Text Format Volume Group"
"#;
        let s = parse(t).unwrap();
        let vg = s.section("rhel").unwrap();
        assert_eq!(vg.int("extent_size"), Some(8192));
        assert_eq!(vg.strings("status"), vec!["RESIZEABLE", "READ", "WRITE"]);
        let seg = vg
            .section("logical_volumes")
            .and_then(|l| l.section("root"))
            .and_then(|r| r.section("segment1"))
            .unwrap();
        assert_eq!(
            seg.get("stripes"),
            Some(&Value::Array(vec![Value::Str("pv0".into()), Value::Int(0)]))
        );
        assert!(parse(b"a { b = ").is_err());
        assert!(parse(b"a { b = 1").is_err());
        assert!(parse(&b"x {".repeat(100)).is_err());
    }
}
