//! A short-lived cache of verified credentials, so a request does not pay a database round trip
//! for its key when the same key was looked up a moment ago. Entries live [`KEY_CACHE_TTL`]: a
//! key revoked on another api replica stops working there within that time; the replica that
//! revokes it forgets every entry at once ([`KeyCache::clear`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a looked-up key is trusted without asking the database again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(2);
/// Most entries kept; past it the cache starts over (memory stays bounded whatever the load).
const MAX_ENTRIES: usize = 10_000;

pub struct KeyCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> KeyCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// Forgets everything (a key was revoked).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_clear() {
        let cache = KeyCache::new(Duration::from_millis(50));
        cache.put(1, "a");
        assert_eq!(cache.get(&1), Some("a"));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&1), None);
        cache.put(2, "b");
        cache.clear();
        assert_eq!(cache.get(&2), None);
        let off = KeyCache::new(Duration::ZERO);
        off.put(1, "a");
        assert_eq!(off.get(&1), None);
    }

    #[test]
    fn stays_bounded() {
        let cache = KeyCache::new(Duration::from_secs(60));
        for i in 0..(MAX_ENTRIES + 10) {
            cache.put(i, i);
        }
        assert!(cache.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
