//! Values read from the store and trusted for a short while: a merchant's terms and status, a
//! terminal's state, whether an operator may take payments. They change at human speed, and
//! reading them on every request would cost a read per sale; a change is seen within the ttl.

use std::collections::HashMap;
use std::sync::Mutex;

/// The most entries kept; past it the cache starts over (a bound, not an eviction policy: the
/// working set of a process is far smaller).
const ENTRIES_MAX: usize = 100_000;

/// A small time-bounded cache, by string key.
#[derive(Debug)]
pub(crate) struct Recent<V> {
    ttl_ns: u64,
    entries: Mutex<HashMap<String, (u64, V)>>,
}

impl<V: Clone> Recent<V> {
    /// Entries are trusted for `ttl_ns`.
    pub fn new(ttl_ns: u64) -> Recent<V> {
        Recent { ttl_ns, entries: Mutex::new(HashMap::new()) }
    }

    /// The value stored under `key` less than the ttl before `now_ns`.
    pub fn get(&self, key: &str, now_ns: u64) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key).filter(|(at, _)| now_ns.saturating_sub(*at) < self.ttl_ns).map(|(_, v)| v.clone())
    }

    /// Remembers `value`, read at `now_ns`.
    pub fn put(&self, key: &str, value: V, now_ns: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= ENTRIES_MAX {
            entries.clear();
        }
        entries.insert(key.to_owned(), (now_ns, value));
    }
}

#[cfg(test)]
mod tests {
    use super::Recent;

    #[test]
    fn a_value_is_trusted_for_its_ttl_only() {
        let recent = Recent::new(10);
        assert_eq!(recent.get("a", 0), None);
        recent.put("a", 1, 100);
        assert_eq!(recent.get("a", 109), Some(1));
        assert_eq!(recent.get("a", 110), None, "stale at the ttl");
        recent.put("a", 2, 110);
        assert_eq!(recent.get("a", 111), Some(2));
    }
}
