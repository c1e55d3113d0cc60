//! `/etc/passwd` and `/etc/group` (passwd(5), group(5)).

/// One `/etc/passwd` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub passwd: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
    /// 1-based line number in the file.
    pub line: usize,
}

/// One `/etc/group` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
    pub line: usize,
}

/// A line that did not parse: line number and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

/// Parses passwd text. Blank lines and NIS `+`/`-` lines are skipped; malformed lines are
/// returned separately so an audit can report them with their line numbers.
pub fn parse_passwd(text: &str) -> (Vec<PasswdEntry>, Vec<BadLine>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() || line.starts_with('+') || line.starts_with('-') {
            continue;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() != 7 {
            bad.push(BadLine {
                line: n,
                reason: format!("{} fields instead of 7", f.len()),
            });
            continue;
        }
        let (Ok(uid), Ok(gid)) = (f[2].parse::<u32>(), f[3].parse::<u32>()) else {
            bad.push(BadLine {
                line: n,
                reason: format!("uid '{}' or gid '{}' is not a number", f[2], f[3]),
            });
            continue;
        };
        if f[0].is_empty() {
            bad.push(BadLine {
                line: n,
                reason: "empty user name".into(),
            });
            continue;
        }
        ok.push(PasswdEntry {
            name: f[0].into(),
            passwd: f[1].into(),
            uid,
            gid,
            gecos: f[4].into(),
            home: f[5].into(),
            shell: f[6].into(),
            line: n,
        });
    }
    (ok, bad)
}

/// Parses group text, like `parse_passwd`.
pub fn parse_group(text: &str) -> (Vec<GroupEntry>, Vec<BadLine>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() || line.starts_with('+') || line.starts_with('-') {
            continue;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() != 4 {
            bad.push(BadLine {
                line: n,
                reason: format!("{} fields instead of 4", f.len()),
            });
            continue;
        }
        let Ok(gid) = f[2].parse::<u32>() else {
            bad.push(BadLine {
                line: n,
                reason: format!("gid '{}' is not a number", f[2]),
            });
            continue;
        };
        ok.push(GroupEntry {
            name: f[0].into(),
            gid,
            members: f[3]
                .split(',')
                .filter(|m| !m.is_empty())
                .map(String::from)
                .collect(),
            line: n,
        });
    }
    (ok, bad)
}

/// One `/etc/shadow` entry (shadow(5)); day counts are days since 1970-01-01, empty = `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowEntry {
    pub name: String,
    pub passwd: String,
    pub lastchg: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub warn: Option<i64>,
    pub inactive: Option<i64>,
    pub expire: Option<i64>,
    pub line: usize,
}

impl ShadowEntry {
    /// The account expired (field 8) on or before `today` (days since the epoch): pam_unix's
    /// account check and sshd's own check with `UsePAM no` refuse it.
    pub fn account_expired(&self, today: i64) -> bool {
        self.expire.is_some_and(|e| e > 0 && today >= e)
    }

    /// The password expired and its inactivity period is over: pam_unix refuses the account
    /// ("account expired due to inactive password").
    pub fn password_inactive(&self, today: i64) -> bool {
        match (self.lastchg, self.max, self.inactive) {
            (Some(l), Some(m), Some(i)) if l > 0 && (0..99_999).contains(&m) => today > l + m + i,
            _ => false,
        }
    }

    /// Locked in the sense of `UsePAM no` (`auth.c: allowed_user` / `platform_locked_account`):
    /// the password field starts with `!` (`passwd -l`), or is `*LK*`.
    pub fn locked(&self) -> bool {
        self.passwd.starts_with('!') || self.passwd.starts_with("*LK*")
    }
}

/// Parses shadow text; malformed lines are returned with their numbers.
pub fn parse_shadow(text: &str) -> (Vec<ShadowEntry>, Vec<BadLine>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() || line.starts_with('+') || line.starts_with('-') {
            continue;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 8 || f.len() > 9 || f[0].is_empty() {
            bad.push(BadLine {
                line: n,
                reason: format!("{} fields instead of 9", f.len()),
            });
            continue;
        }
        let num = |s: &str| -> Result<Option<i64>, ()> {
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse::<i64>().map(Some).map_err(|_| ())
            }
        };
        let parsed: Result<Vec<Option<i64>>, ()> = f[2..8].iter().map(|s| num(s)).collect();
        let Ok(v) = parsed else {
            bad.push(BadLine {
                line: n,
                reason: "a date or day-count field is not a number".into(),
            });
            continue;
        };
        ok.push(ShadowEntry {
            name: f[0].into(),
            passwd: f[1].into(),
            lastchg: v[0],
            min: v[1],
            max: v[2],
            warn: v[3],
            inactive: v[4],
            expire: v[5],
            line: n,
        });
    }
    (ok, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_lines() {
        let (ok, bad) = parse_shadow(
            "root:*:19000:0:99999:7:::
admin:!:19000:0:99999:7::19500:
old:$6$x:10000:0:90:7:30::
broken:x
",
        );
        assert_eq!(bad.len(), 1);
        assert!(ok[1].account_expired(19500) && !ok[1].account_expired(19499));
        assert!(ok[1].locked() && !ok[0].locked());
        assert!(ok[2].password_inactive(10121) && !ok[2].password_inactive(10120));
        assert!(!ok[0].password_inactive(50000));
    }

    #[test]
    fn passwd_lines() {
        let (ok, bad) = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\n\nadmin:x:1000:1000:,,,:/home/admin:/bin/bash\nbroken:x:1\n+nis\nx:x:a:0::/:/bin/sh\n",
        );
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].name, "admin");
        assert_eq!(ok[1].line, 3);
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![4, 6]);
    }

    #[test]
    fn group_lines() {
        let (ok, bad) = parse_group("sudo:x:27:admin,ops\nusers:x:100:\nbad\n");
        assert_eq!(ok[0].members, vec!["admin", "ops"]);
        assert!(ok[1].members.is_empty());
        assert_eq!(bad.len(), 1);
    }
}
