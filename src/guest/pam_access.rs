//! `pam_access` rules (`/etc/security/access.conf`, access.conf(5)) for an SSH login: the first
//! line whose users and origins match decides; no match allows.
//!
//! Offline, the client's host or address is not known: a line that could decide only for some
//! origins makes the answer `Depends`.

/// What the rules say for a user connecting over SSH from an unknown client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No line matches (or the first that does allows): (line that allowed, if any).
    Allow(Option<usize>),
    /// The first matching line denies: (line, the line's text).
    Deny(usize, String),
    /// A line before any decision depends on the client's origin or a netgroup: (line, text).
    Depends(usize, String),
}

/// Options of the pam_access line that change matching.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub fieldsep: Option<char>,
    pub listsep: Option<String>,
    /// `nodefgroup`: a plain token is a user name only, groups need parentheses.
    pub nodefgroup: bool,
}

impl Options {
    pub fn from_args(args: &[String]) -> Options {
        let mut o = Options::default();
        for a in args {
            if let Some(v) = a.strip_prefix("fieldsep=") {
                o.fieldsep = v.chars().next();
            } else if let Some(v) = a.strip_prefix("listsep=") {
                o.listsep = Some(v.to_string());
            } else if a == "nodefgroup" {
                o.nodefgroup = true;
            }
        }
        o
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum M {
    Yes,
    No,
    Unknown,
}

/// `list_match`: tokens up to `EXCEPT` matched by `item`; a match is cancelled by a match in the
/// EXCEPT part (which may nest).
fn list_match(tokens: &[&str], item: &dyn Fn(&str) -> M) -> M {
    let mut i = 0;
    let mut result = M::No;
    while i < tokens.len() {
        if tokens[i].eq_ignore_ascii_case("EXCEPT") {
            break;
        }
        match item(tokens[i]) {
            M::Yes => {
                result = M::Yes;
                break;
            }
            M::Unknown => result = M::Unknown,
            M::No => {}
        }
        i += 1;
    }
    if result == M::No {
        return M::No;
    }
    // Skip to the EXCEPT part.
    let Some(ex) = tokens.iter().position(|t| t.eq_ignore_ascii_case("EXCEPT")) else {
        return result;
    };
    match list_match(&tokens[ex + 1..], item) {
        M::Yes => M::No,
        M::Unknown => M::Unknown,
        M::No => result,
    }
}

/// Evaluates the rules text for `user` (with its group names) coming in over SSH.
pub fn decide(text: &str, user: &str, groups: &[String], opts: &Options) -> Decision {
    let fieldsep = opts.fieldsep.unwrap_or(':');
    let listsep: &str = opts.listsep.as_deref().unwrap_or(", \t");
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.splitn(3, fieldsep).collect();
        if fields.len() != 3 {
            // pam_access logs a syntax error and denies access.
            return Decision::Deny(i + 1, format!("{line} (malformed: pam_access denies)"));
        }
        let perm = fields[0].trim();
        let split = |f: &str| -> Vec<String> {
            f.split(|c: char| listsep.contains(c))
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        };
        let users = split(fields[1]);
        let origins = split(fields[2]);
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        let origins: Vec<&str> = origins.iter().map(String::as_str).collect();
        let user_item = |t: &str| -> M {
            if t.eq_ignore_ascii_case("ALL") {
                return M::Yes;
            }
            if t.starts_with('@') {
                return M::Unknown;
            }
            if let Some(g) = t.strip_prefix('(').and_then(|g| g.strip_suffix(')')) {
                return if groups.iter().any(|x| x == g) {
                    M::Yes
                } else {
                    M::No
                };
            }
            if t.eq_ignore_ascii_case(user) {
                return M::Yes;
            }
            if !opts.nodefgroup && groups.iter().any(|x| x == t) {
                return M::Yes;
            }
            M::No
        };
        // The origin of an SSH login is the client's host name or address (PAM_RHOST).
        let origin_item = |t: &str| -> M {
            if t.eq_ignore_ascii_case("ALL") {
                M::Yes
            } else if t.eq_ignore_ascii_case("LOCAL") {
                // LOCAL matches names without a dot; a client's address has dots or colons.
                M::No
            } else {
                M::Unknown
            }
        };
        let um = list_match(&users, &user_item);
        if um == M::No {
            continue;
        }
        let om = list_match(&origins, &origin_item);
        if om == M::No {
            continue;
        }
        if um == M::Unknown || om == M::Unknown {
            return Decision::Depends(i + 1, line.to_string());
        }
        return if perm.starts_with('+') {
            Decision::Allow(Some(i + 1))
        } else {
            Decision::Deny(i + 1, line.to_string())
        };
    }
    Decision::Allow(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str, user: &str, groups: &[&str]) -> Decision {
        let g: Vec<String> = groups.iter().map(|s| s.to_string()).collect();
        decide(text, user, &g, &Options::default())
    }

    #[test]
    fn first_match_decides() {
        let t = "# comment\n+:root:ALL\n-:ALL EXCEPT (wheel) admin:ALL\n";
        assert_eq!(d(t, "root", &[]), Decision::Allow(Some(2)));
        assert_eq!(d(t, "admin", &[]), Decision::Allow(None));
        assert_eq!(d(t, "eve", &["wheel"]), Decision::Allow(None));
        assert!(matches!(d(t, "bob", &["users"]), Decision::Deny(3, _)));
        assert_eq!(d("", "bob", &[]), Decision::Allow(None));
    }

    #[test]
    fn origins_and_netgroups_depend_on_the_client() {
        assert!(matches!(
            d("-:bob:10.0.0.0/8\n", "bob", &[]),
            Decision::Depends(1, _)
        ));
        assert_eq!(d("-:bob:LOCAL\n", "bob", &[]), Decision::Allow(None));
        assert!(matches!(
            d("-:@ops:ALL\n", "bob", &[]),
            Decision::Depends(1, _)
        ));
        assert!(matches!(
            d("-:ALL:ALL EXCEPT 10.0.0.1\n", "bob", &[]),
            Decision::Depends(1, _)
        ));
        assert!(matches!(
            d("garbage line\n", "bob", &[]),
            Decision::Deny(1, _)
        ));
        // A plain token also names a group unless nodefgroup.
        assert!(matches!(
            d("-:staff:ALL\n", "bob", &["staff"]),
            Decision::Deny(1, _)
        ));
        let o = Options {
            nodefgroup: true,
            ..Options::default()
        };
        assert_eq!(
            decide("-:staff:ALL\n", "bob", &["staff".into()], &o),
            Decision::Allow(None)
        );
    }
}
