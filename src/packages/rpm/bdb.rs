//! Berkeley DB hash databases as rpm up to 4.15 wrote `/var/lib/rpm/Packages` (RHEL 7/8,
//! CentOS, Amazon Linux 2): the metadata page, bucket pages and overflow chains that rpm's own
//! read-only reader (`lib/backend/bdb_ro.cc`: `bdb_open`, `hash_next`, `ovfl_get`) walks.
//!
//! The file is in the byte order of the host that wrote it; the magic number tells which. Keys
//! are 4-byte header numbers in that order; values are header blobs, almost always longer than
//! a page and so stored on overflow pages.
//!
//! Layout read here (offsets in bytes):
//! - metadata page 0: magic @12, version @16, pagesize @20, last_pgno @32, max_bucket @72,
//!   high_mask @76, low_mask @80, spares[32] @96;
//! - every page: pgno @8, next_pgno @16, entries (u16) @20, hf_offset (u16) @22, type @25,
//!   item offsets (u16 each) from @26;
//! - hash items: type byte 1 (`H_KEYDATA`, bytes follow) or 3 (`H_OFFPAGE`: pgno @4, total
//!   length @8); overflow pages (type 7) hold `hf_offset` bytes from @26.

const HASH_MAGIC: u32 = 0x0006_1561;
const PAGE_HEADER: usize = 26;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;
/// A value longer than rpm's header limit is not a header.
const MAX_VALUE: usize =
    super::header::MAX_DATA as usize + 16 * super::header::MAX_ENTRIES as usize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BdbError {
    #[error("not a Berkeley DB hash database (magic {0:#x})")]
    NotHash(u32),
    #[error("unsupported Berkeley DB hash version {0}")]
    Version(u32),
    #[error("bad page size {0}")]
    PageSize(u32),
    #[error("file is {0} bytes, shorter than its metadata page")]
    Short(usize),
}

/// One problem met while walking: the page and what was wrong. The walk goes on past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageProblem {
    pub page: u32,
    pub what: String,
}

#[derive(Debug)]
pub struct HashDb<'a> {
    data: &'a [u8],
    big_endian: bool,
    pagesize: usize,
    /// The last page that exists in the file (at most what the header claims).
    last_page: u32,
    /// What the header claims: pages beyond the file up to it mean a truncated file.
    claimed_last: u32,
    max_bucket: u32,
    spares: [u32; 32],
}

impl<'a> HashDb<'a> {
    pub fn open(data: &'a [u8]) -> Result<HashDb<'a>, BdbError> {
        if data.len() < 512 {
            return Err(BdbError::Short(data.len()));
        }
        let le = u32::from_le_bytes([data[12], data[13], data[14], data[15]]);
        let big_endian = match le {
            HASH_MAGIC => false,
            m if m.swap_bytes() == HASH_MAGIC => true,
            m => return Err(BdbError::NotHash(m)),
        };
        let mut db = HashDb {
            data,
            big_endian,
            pagesize: 0,
            last_page: 0,
            claimed_last: 0,
            max_bucket: 0,
            spares: [0; 32],
        };
        let version = db.u32_at(data, 16);
        if !(8..=10).contains(&version) {
            return Err(BdbError::Version(version));
        }
        let pagesize = db.u32_at(data, 20);
        if !(512..=65536).contains(&pagesize) || !pagesize.is_power_of_two() {
            return Err(BdbError::PageSize(pagesize));
        }
        db.pagesize = pagesize as usize;
        // Pages past the end of the file cannot be read: the walk is bounded by the file, not
        // by what its header claims.
        let in_file = (data.len() / db.pagesize).saturating_sub(1) as u32;
        db.claimed_last = db.u32_at(data, 32);
        db.last_page = db.claimed_last.min(in_file);
        db.max_bucket = db.u32_at(data, 72);
        for i in 0..32 {
            db.spares[i] = db.u32_at(data, 96 + 4 * i);
        }
        Ok(db)
    }

    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let Some(s) = b.get(at..at + 4) else { return 0 };
        let a = [s[0], s[1], s[2], s[3]];
        if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }

    fn u16_at(&self, b: &[u8], at: usize) -> usize {
        let Some(s) = b.get(at..at + 2) else { return 0 };
        let a = [s[0], s[1]];
        usize::from(if self.big_endian {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }

    fn page(&self, pgno: u32) -> Result<&'a [u8], String> {
        if pgno > self.last_page && pgno <= self.claimed_last {
            return Err(format!(
                "page {pgno} is beyond the end of the file (truncated)"
            ));
        }
        if pgno == 0 || pgno > self.last_page {
            return Err(format!(
                "page number {pgno} out of range 1..={}",
                self.claimed_last
            ));
        }
        let start = pgno as usize * self.pagesize;
        let p = self
            .data
            .get(start..start + self.pagesize)
            .ok_or_else(|| format!("page {pgno} is beyond the end of the file (truncated)"))?;
        if self.u32_at(p, 8) != pgno {
            return Err(format!("page {pgno} says it is page {}", self.u32_at(p, 8)));
        }
        Ok(p)
    }

    /// `hash_bucket_to_page`: bucket `b` lives at `b + spares[ceil(log2(b + 1))]`.
    fn bucket_page(&self, bucket: u32) -> u32 {
        let i = (32 - bucket.leading_zeros()) as usize;
        bucket.wrapping_add(self.spares.get(i).copied().unwrap_or(0))
    }

    /// An overflow chain's bytes.
    fn overflow(&self, mut pgno: u32, len: usize) -> Result<Vec<u8>, String> {
        if len == 0 || len > MAX_VALUE {
            return Err(format!("overflow item of {len} bytes"));
        }
        // Each page carries at least one byte, so a chain longer than the file is a cycle.
        let mut out = Vec::with_capacity(len.min(self.data.len()));
        let mut steps = 0u32;
        while out.len() < len {
            steps += 1;
            if steps > self.last_page.saturating_add(1) {
                return Err("overflow chain loops".into());
            }
            let p = self.page(pgno)?;
            if p[25] != P_OVERFLOW {
                return Err(format!(
                    "page {pgno} in an overflow chain has type {}",
                    p[25]
                ));
            }
            let n = self.u16_at(p, 22);
            if n == 0 || PAGE_HEADER + n > self.pagesize || out.len() + n > len {
                return Err(format!("overflow page {pgno} holds {n} bytes"));
            }
            out.extend_from_slice(&p[PAGE_HEADER..PAGE_HEADER + n]);
            pgno = self.u32_at(p, 16);
        }
        Ok(out)
    }

    fn item(
        &self,
        p: &'a [u8],
        off: usize,
        len: usize,
    ) -> Result<std::borrow::Cow<'a, [u8]>, String> {
        if len == 0 || off + len > self.pagesize {
            return Err(format!("item at {off} of {len} bytes"));
        }
        match p[off] {
            H_KEYDATA => Ok(std::borrow::Cow::Borrowed(&p[off + 1..off + len])),
            H_OFFPAGE if len == 12 => {
                let pg = self.u32_at(p, off + 4);
                let tlen = self.u32_at(p, off + 8) as usize;
                self.overflow(pg, tlen).map(std::borrow::Cow::Owned)
            }
            t => Err(format!("item type {t}")),
        }
    }

    /// Every (key, value) pair, bucket by bucket as `hash_next` visits them. Damaged pages are
    /// reported and skipped; the walk visits each page at most once.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) -> Vec<PageProblem> {
        let mut problems = Vec::new();
        let mut seen = vec![false; self.last_page as usize + 1];
        // Every bucket has a page of its own: more buckets than pages cannot be honest.
        for bucket in 0..=self.max_bucket.min(self.last_page) {
            let mut pgno = self.bucket_page(bucket);
            while pgno != 0 {
                let Some(slot) = seen.get_mut(pgno as usize) else {
                    problems.push(PageProblem {
                        page: pgno,
                        what: format!("bucket {bucket} points past the last page"),
                    });
                    break;
                };
                if *slot {
                    problems.push(PageProblem {
                        page: pgno,
                        what: "page reached twice (a loop in the bucket chain)".into(),
                    });
                    break;
                }
                *slot = true;
                let p = match self.page(pgno) {
                    Ok(p) => p,
                    Err(what) => {
                        problems.push(PageProblem { page: pgno, what });
                        break;
                    }
                };
                match p[25] {
                    P_HASH | P_HASH_UNSORTED => {}
                    // An empty bucket left as a metadata-typed page carries no items.
                    P_HASHMETA => break,
                    t => {
                        problems.push(PageProblem {
                            page: pgno,
                            what: format!("bucket page has type {t}"),
                        });
                        break;
                    }
                }
                let n = self.u16_at(p, 20).min((self.pagesize - PAGE_HEADER) / 2);
                let mut idx = 0;
                while idx + 1 < n {
                    let koff = self.u16_at(p, PAGE_HEADER + 2 * idx);
                    let voff = self.u16_at(p, PAGE_HEADER + 2 * idx + 2);
                    let kend = if idx == 0 {
                        self.pagesize
                    } else {
                        self.u16_at(p, PAGE_HEADER + 2 * idx - 2)
                    };
                    idx += 2;
                    if koff >= self.pagesize || voff >= koff || kend < koff {
                        problems.push(PageProblem {
                            page: pgno,
                            what: format!("item offsets {koff}/{voff} out of order"),
                        });
                        continue;
                    }
                    let kv = self
                        .item(p, koff, kend - koff)
                        .and_then(|k| self.item(p, voff, koff - voff).map(|v| (k, v)));
                    match kv {
                        Ok((k, v)) => f(&k, &v),
                        Err(what) => problems.push(PageProblem { page: pgno, what }),
                    }
                }
                pgno = self.u32_at(p, 16);
            }
        }
        problems
    }

    /// A key as the header number it is (in the file's byte order).
    pub fn key_number(&self, key: &[u8]) -> Option<u32> {
        (key.len() == 4).then(|| self.u32_at(key, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian hash database with one bucket: one small item and one on overflow pages.
    fn tiny(big_endian: bool) -> Vec<u8> {
        let ps = 512usize;
        let mut f = vec![0u8; ps * 4];
        let put32 = |f: &mut Vec<u8>, at: usize, v: u32| {
            let b = if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            f[at..at + 4].copy_from_slice(&b);
        };
        let put16 = |f: &mut Vec<u8>, at: usize, v: u16| {
            let b = if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            f[at..at + 2].copy_from_slice(&b);
        };
        put32(&mut f, 12, HASH_MAGIC);
        put32(&mut f, 16, 9);
        put32(&mut f, 20, ps as u32);
        put32(&mut f, 32, 3); // last page
        put32(&mut f, 72, 0); // max bucket
        put32(&mut f, 96, 1); // spares[0]: bucket 0 at page 1
        // Page 1: a hash page with two pairs.
        let p = ps;
        put32(&mut f, p + 8, 1);
        f[p + 25] = P_HASH;
        put16(&mut f, p + 20, 4);
        // Pair 1: key "\x01\0\0\0" at 507..512, value "hello" at 501..507.
        let k1 = ps - 5;
        f[p + k1] = H_KEYDATA;
        put32(&mut f, p + k1 + 1, 1);
        let v1 = k1 - 6;
        f[p + v1] = H_KEYDATA;
        f[p + v1 + 1..p + v1 + 6].copy_from_slice(b"hello");
        // Pair 2: key 2, value on overflow pages 2 and 3 (600 bytes).
        let k2 = v1 - 5;
        f[p + k2] = H_KEYDATA;
        put32(&mut f, p + k2 + 1, 2);
        let v2 = k2 - 12;
        f[p + v2] = H_OFFPAGE;
        put32(&mut f, p + v2 + 4, 2);
        put32(&mut f, p + v2 + 8, 600);
        put16(&mut f, p + 26, k1 as u16);
        put16(&mut f, p + 28, v1 as u16);
        put16(&mut f, p + 30, k2 as u16);
        put16(&mut f, p + 32, v2 as u16);
        for (pg, next, n, byte) in [(2usize, 3u32, 486u16, b'a'), (3, 0, 114, b'b')] {
            let o = pg * ps;
            put32(&mut f, o + 8, pg as u32);
            put32(&mut f, o + 16, next);
            put16(&mut f, o + 22, n);
            f[o + 25] = P_OVERFLOW;
            for b in &mut f[o + 26..o + 26 + n as usize] {
                *b = byte;
            }
        }
        f
    }

    #[test]
    fn walks_items_and_overflow_in_both_byte_orders() {
        for be in [false, true] {
            let f = tiny(be);
            let db = HashDb::open(&f).unwrap();
            let mut got = Vec::new();
            let problems = db.for_each(|k, v| got.push((db.key_number(k).unwrap(), v.to_vec())));
            assert!(problems.is_empty(), "{problems:?}");
            assert_eq!(got.len(), 2);
            assert_eq!(got[0], (1, b"hello".to_vec()));
            assert_eq!(got[1].0, 2);
            assert_eq!(got[1].1.len(), 600);
            assert!(got[1].1[..486].iter().all(|&b| b == b'a'));
            assert!(got[1].1[486..].iter().all(|&b| b == b'b'));
        }
    }

    #[test]
    fn damage_is_reported_not_fatal() {
        // An overflow chain that loops back on itself.
        let mut f = tiny(false);
        f[3 * 512 + 16..3 * 512 + 20].copy_from_slice(&2u32.to_le_bytes());
        f[3 * 512 + 22..3 * 512 + 24].copy_from_slice(&486u16.to_le_bytes());
        let db = HashDb::open(&f).unwrap();
        let mut n = 0;
        let problems = db.for_each(|_, _| n += 1);
        assert_eq!(n, 1);
        assert_eq!(problems.len(), 1, "{problems:?}");
        // Truncated file: the bucket page is gone.
        let short = &f[..600];
        let db = HashDb::open(short).unwrap();
        assert_eq!(db.for_each(|_, _| {}).len(), 1);
        assert!(matches!(
            HashDb::open(&[0u8; 100]),
            Err(BdbError::Short(100))
        ));
        assert!(matches!(
            HashDb::open(&[0u8; 600]),
            Err(BdbError::NotHash(0))
        ));
    }
}

#[cfg(test)]
mod hostile {
    use super::*;

    /// Header fields claiming 4 G pages and buckets in a two-page file: bounded work and memory.
    #[test]
    fn claims_beyond_the_file_are_bounded() {
        let mut f = vec![0u8; 1024];
        f[12..16].copy_from_slice(&HASH_MAGIC.to_le_bytes());
        f[16..20].copy_from_slice(&9u32.to_le_bytes());
        f[20..24].copy_from_slice(&512u32.to_le_bytes());
        f[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        f[72..76].copy_from_slice(&u32::MAX.to_le_bytes());
        let db = HashDb::open(&f).unwrap();
        let problems = db.for_each(|_, _| {});
        assert!(problems.len() <= 2, "{problems:?}");
    }
}
