//! A short-lived cache of verified credentials, so a request does not pay a database round trip
//! for its key when the same key was looked up a moment ago. Entries live [`KEY_CACHE_TTL`]: a
//! key revoked on another api replica stops working there within that time; the replica that
//! revokes it forgets every entry at once ([`KeyCache::clear`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a looked-up key is trusted without asking the database again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(2);
/// Most entries kept; past it the cache starts over (memory stays bounded whatever the load).
const MAX_ENTRIES: usize = 10_000;

pub struct KeyCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
    /// Bumped by every [`KeyCache::clear`]: a row read from the database before a revocation
    /// must not be stored after it.
    generation: AtomicU64,
}

/// When a lookup began, for [`KeyCache::put`].
#[derive(Clone, Copy)]
pub struct Generation(u64);

impl<K: Eq + Hash, V: Clone> KeyCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// Taken before reading a key from the database, and given to [`KeyCache::put`].
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::SeqCst))
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

    /// Stores `value` unless the cache was cleared since `read_at` (the row may predate a
    /// revocation).
    pub fn put(&self, read_at: Generation, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::SeqCst) != read_at.0 {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// Forgets everything (a key was revoked), and refuses rows read before now.
    pub fn clear(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_clear() {
        let cache = KeyCache::new(Duration::from_millis(50));
        cache.put(cache.generation(), 1, "a");
        assert_eq!(cache.get(&1), Some("a"));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&1), None);
        cache.put(cache.generation(), 2, "b");
        cache.clear();
        assert_eq!(cache.get(&2), None);
        let off = KeyCache::new(Duration::ZERO);
        off.put(off.generation(), 1, "a");
        assert_eq!(off.get(&1), None);
    }

    #[test]
    fn a_row_read_before_a_clear_is_not_stored_after_it() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let read_at = cache.generation();
        cache.clear();
        cache.put(read_at, 1, "revoked meanwhile");
        assert_eq!(cache.get(&1), None);
        cache.put(cache.generation(), 1, "read after");
        assert_eq!(cache.get(&1), Some("read after"));
    }

    #[test]
    fn stays_bounded() {
        let cache = KeyCache::new(Duration::from_secs(60));
        for i in 0..(MAX_ENTRIES + 10) {
            cache.put(cache.generation(), i, i);
        }
        assert!(cache.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
