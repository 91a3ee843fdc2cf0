//! The media proxy's cache: a bounded LRU of fetched URLs and their sizes.

use std::collections::BTreeMap;

/// At most `capacity` entries; the least recently used goes first.
#[derive(Debug)]
pub struct Cache {
    capacity: usize,
    /// url -> (size_bytes, last use stamp).
    entries: BTreeMap<String, (u64, u64)>,
    stamp: u64,
}

impl Cache {
    pub fn new(capacity: usize) -> Cache {
        assert!(capacity > 0, "a cache holds at least one entry");
        Cache {
            capacity,
            entries: BTreeMap::new(),
            stamp: 0,
        }
    }

    /// The size of a cached URL, marking it used.
    pub fn get(&mut self, url: &str) -> Option<u64> {
        self.stamp += 1;
        let stamp = self.stamp;
        self.entries.get_mut(url).map(|e| {
            e.1 = stamp;
            e.0
        })
    }

    pub fn insert(&mut self, url: &str, size_bytes: u64) {
        self.stamp += 1;
        if !self.entries.contains_key(url) && self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
                .expect("a full cache is not empty");
            self.entries.remove(&oldest);
        }
        self.entries
            .insert(url.to_string(), (size_bytes, self.stamp));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used() {
        let mut c = Cache::new(2);
        c.insert("a", 1);
        c.insert("b", 2);
        assert_eq!(c.get("a"), Some(1));
        c.insert("c", 3);
        assert_eq!(c.get("b"), None);
        assert_eq!(c.get("a"), Some(1));
        assert_eq!(c.get("c"), Some(3));
        assert_eq!(c.len(), 2);
    }
}
