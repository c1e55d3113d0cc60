//! A small bounded cache shared by the threads reading one image: L2 tables, grain tables,
//! inflated clusters. Sharded by key so concurrent readers of different tables do not contend on
//! one lock; each shard evicts its least recently used entry when full. Values are `Arc`s, so a
//! reader holds no lock while it uses one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const SHARDS: usize = 16;

#[derive(Debug)]
pub struct Cache<V> {
    shards: Vec<Mutex<Shard<V>>>,
    per_shard: usize,
}

#[derive(Debug)]
struct Shard<V> {
    map: HashMap<u64, (Arc<V>, u64)>,
    tick: u64,
}

impl<V> Cache<V> {
    /// A cache of at most `capacity` entries (at least one per shard).
    pub fn new(capacity: usize) -> Cache<V> {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Cache {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        tick: 0,
                    })
                })
                .collect(),
            per_shard,
        }
    }

    fn shard(&self, key: u64) -> &Mutex<Shard<V>> {
        // Keys are table indexes or offsets: mix the bits so neighbours spread over shards.
        let h = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59;
        &self.shards[(h as usize) % SHARDS]
    }

    pub fn get(&self, key: u64) -> Option<Arc<V>> {
        let mut s = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        s.tick += 1;
        let t = s.tick;
        s.map.get_mut(&key).map(|e| {
            e.1 = t;
            e.0.clone()
        })
    }

    pub fn insert(&self, key: u64, value: Arc<V>) {
        let mut s = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        s.tick += 1;
        let t = s.tick;
        if s.map.len() >= self.per_shard && !s.map.contains_key(&key) {
            if let Some(old) = s.map.iter().min_by_key(|(_, v)| v.1).map(|(k, _)| *k) {
                s.map.remove(&old);
            }
        }
        s.map.insert(key, (value, t));
    }

    /// The cached value for `key`, or `load()`'s (cached on success).
    pub fn get_or_load<E>(
        &self,
        key: u64,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        let v = Arc::new(load()?);
        self.insert(key, v.clone());
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_lru() {
        let c: Cache<u64> = Cache::new(16);
        for k in 0..1000u64 {
            c.insert(k, Arc::new(k));
        }
        let held: usize = c.shards.iter().map(|s| s.lock().unwrap().map.len()).sum();
        assert!(held <= 16, "{held}");
        assert_eq!(*c.get_or_load::<()>(5000, || Ok(7)).unwrap(), 7);
        assert_eq!(*c.get_or_load::<()>(5000, || Ok(8)).unwrap(), 7);
        assert!(c.get_or_load(1, || Err("bad")).is_err());
    }

    #[test]
    fn shared_between_threads() {
        let c: Arc<Cache<u64>> = Arc::new(Cache::new(64));
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for k in 0..500u64 {
                        let v = c.get_or_load::<()>(k % 100, || Ok(k % 100)).unwrap();
                        assert_eq!(*v, k % 100, "thread {t}");
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    }
}
