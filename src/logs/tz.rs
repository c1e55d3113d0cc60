//! The guest's time zone from its `/etc/localtime` (TZif, RFC 8536), to turn the local
//! timestamps of classic syslog lines into UTC. Only the transition table is used (no POSIX
//! TZ footer rule): times after the last transition keep its offset.

/// UTC offsets in force from each transition time on (seconds).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Zone {
    /// (transition time UTC, offset east of UTC in seconds), sorted.
    transitions: Vec<(i64, i32)>,
    /// The offset before the first transition (or always, without transitions).
    initial: i32,
}

/// More transitions than any real zone has (about 250 in the largest tzdata zones).
const MAX_TRANSITIONS: usize = 4096;
const MAX_TYPES: usize = 256;

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl Zone {
    pub fn utc() -> Zone {
        Zone::default()
    }

    /// Parses a TZif file; `None` when it is not one.
    pub fn parse(b: &[u8]) -> Option<Zone> {
        if b.get(0..4)? != b"TZif" {
            return None;
        }
        let version = *b.get(4)?;
        let counts = |at: usize| -> Option<[usize; 6]> {
            let mut c = [0usize; 6];
            for (i, v) in c.iter_mut().enumerate() {
                *v = be32(b, at + 20 + 4 * i)? as usize;
            }
            Some(c)
        };
        // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
        let c1 = counts(0)?;
        let (mut at, time_size, c) = if version >= b'2' {
            let v1_len = c1[3] * 5 + c1[4] * 6 + c1[5] + c1[2] * 8 + c1[1] + c1[0];
            let second = 44 + v1_len;
            if b.get(second..second + 4)? != b"TZif" {
                return None;
            }
            (second + 44, 8usize, counts(second)?)
        } else {
            (44, 4usize, c1)
        };
        let (timecnt, typecnt) = (c[3], c[4]);
        if timecnt > MAX_TRANSITIONS || typecnt == 0 || typecnt > MAX_TYPES {
            return None;
        }
        let mut times = Vec::with_capacity(timecnt);
        for i in 0..timecnt {
            let p = at + i * time_size;
            let t = if time_size == 8 {
                i64::from_be_bytes(b.get(p..p + 8)?.try_into().ok()?)
            } else {
                i64::from(be32(b, p)? as i32)
            };
            times.push(t);
        }
        at += timecnt * time_size;
        let idx: Vec<usize> = b
            .get(at..at + timecnt)?
            .iter()
            .map(|&i| i as usize)
            .collect();
        at += timecnt;
        let mut types = Vec::with_capacity(typecnt);
        for i in 0..typecnt {
            let p = at + i * 6;
            types.push(be32(b, p)? as i32);
        }
        let mut transitions = Vec::with_capacity(timecnt);
        for (t, i) in times.into_iter().zip(idx) {
            transitions.push((t, *types.get(i)?));
        }
        transitions.sort_by_key(|x| x.0);
        Some(Zone {
            transitions,
            initial: types[0],
        })
    }

    fn offset_at_utc(&self, utc: i64) -> i32 {
        let i = self.transitions.partition_point(|(t, _)| *t <= utc);
        match i {
            0 => self.initial,
            n => self.transitions[n - 1].1,
        }
    }

    /// A local wall-clock time (seconds as if it were UTC) to UTC seconds. In a repeated hour
    /// the first reading is taken.
    pub fn local_to_utc(&self, local: i64) -> i64 {
        let guess = local - i64::from(self.offset_at_utc(local));
        local - i64::from(self.offset_at_utc(guess))
    }

    pub fn is_utc(&self) -> bool {
        self.transitions.iter().all(|t| t.1 == 0) && self.initial == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1 TZif with one transition at 1000 from +0 to +3600.
    fn tzif() -> Vec<u8> {
        let mut b = b"TZif".to_vec();
        b.push(0);
        b.extend_from_slice(&[0; 15]);
        for c in [0u32, 0, 0, 1, 2, 8] {
            b.extend_from_slice(&c.to_be_bytes());
        }
        b.extend_from_slice(&1000i32.to_be_bytes());
        b.push(1);
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&3600i32.to_be_bytes());
        b.extend_from_slice(&[0, 4]);
        b.extend_from_slice(b"UTC\0CET\0");
        b
    }

    #[test]
    fn local_times() {
        let z = Zone::parse(&tzif()).unwrap();
        assert_eq!(z.local_to_utc(500), 500);
        assert_eq!(z.local_to_utc(10_000), 10_000 - 3600);
        assert!(!z.is_utc());
        assert!(Zone::parse(b"nope").is_none());
        assert!(Zone::parse(&tzif()[..30]).is_none());
        assert!(Zone::utc().is_utc());
    }
}
