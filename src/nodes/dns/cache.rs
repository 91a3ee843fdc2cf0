//! The resolver's cache: positive and negative answers kept for their TTL,
//! capped by the resolver's config. Free of I/O and of the clock (the
//! caller passes `now_ms`), so its rules are tested on their own.
//!
//! What is kept, and how long (from the time the answer arrived):
//!
//! | answer | kept for |
//! |---|---|
//! | NOERROR | its TTL, at most `max_ttl` |
//! | NXDOMAIN | its negative TTL (the zone's), at most `negative_ttl_max` (RFC 2308) |
//! | SERVFAIL, or no answer at all | `failure_ttl` (RFC 9520: resolution failures are cached too) |
//!
//! An entry is used while `now_ms` is before its expiry, and a newer
//! answer replaces it. At most [`ENTRIES_MAX`] names are kept; when full,
//! the entry that expires first goes.

use super::protocol::Rcode;
use std::collections::BTreeMap;

/// Most names a resolver's cache holds.
pub const ENTRIES_MAX: usize = 1024;

/// What a resolution gave: the hosts, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Hosts(Vec<String>),
    NxDomain,
    ServFail,
    /// No answer within the resolver's timeout, on every attempt.
    Timeout,
}

impl Outcome {
    /// The rcode as the history writes it (`timeout` for no answer).
    pub fn rcode(&self) -> &'static str {
        match self {
            Outcome::Hosts(_) => Rcode::NoError.as_str(),
            Outcome::NxDomain => Rcode::NxDomain.as_str(),
            Outcome::ServFail => Rcode::ServFail.as_str(),
            Outcome::Timeout => "timeout",
        }
    }
}

/// The caps a resolver puts on what it caches (from its config), in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub max_ttl_ms: u64,
    pub negative_ttl_max_ms: u64,
    pub failure_ttl_ms: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    outcome: Outcome,
    expires_ms: u64,
}

/// Answers by name.
#[derive(Debug, Default)]
pub struct Cache {
    entries: BTreeMap<String, Entry>,
}

impl Cache {
    /// The cached outcome for `name` and the ms it has left, if any.
    pub fn get(&mut self, name: &str, now_ms: u64) -> Option<(Outcome, u64)> {
        let entry = self.entries.get(name)?;
        if now_ms >= entry.expires_ms {
            self.entries.remove(name);
            return None;
        }
        Some((entry.outcome.clone(), entry.expires_ms - now_ms))
    }

    /// Keeps `outcome` for `name` for as long as the rules above say,
    /// given the answer's `ttl_ms` (ignored for failures); returns that
    /// time (0: not kept).
    pub fn put(
        &mut self,
        name: &str,
        outcome: Outcome,
        ttl_ms: u64,
        caps: Caps,
        now_ms: u64,
    ) -> u64 {
        let keep_ms = match outcome {
            Outcome::Hosts(_) => ttl_ms.min(caps.max_ttl_ms),
            Outcome::NxDomain => ttl_ms.min(caps.negative_ttl_max_ms),
            Outcome::ServFail | Outcome::Timeout => caps.failure_ttl_ms,
        };
        if keep_ms == 0 {
            self.entries.remove(name);
            return 0;
        }
        if !self.entries.contains_key(name) && self.entries.len() >= ENTRIES_MAX {
            let first = self
                .entries
                .iter()
                .min_by_key(|(n, e)| (e.expires_ms, n.as_str()))
                .map(|(n, _)| n.clone())
                .expect("a full cache has entries");
            self.entries.remove(&first);
        }
        self.entries.insert(
            name.to_string(),
            Entry {
                outcome,
                expires_ms: now_ms + keep_ms,
            },
        );
        keep_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps {
        max_ttl_ms: 60_000,
        negative_ttl_max_ms: 10_000,
        failure_ttl_ms: 2_000,
    };

    fn hosts() -> Outcome {
        Outcome::Hosts(vec!["lb-1".into()])
    }

    #[test]
    fn a_positive_answer_is_kept_for_its_ttl_then_dropped() {
        let mut c = Cache::default();
        assert_eq!(c.put("a.b", hosts(), 30_000, CAPS, 1_000), 30_000);
        assert_eq!(c.get("a.b", 30_999), Some((hosts(), 1)));
        assert_eq!(c.get("a.b", 31_000), None);
    }

    #[test]
    fn ttls_are_capped_by_kind() {
        let mut c = Cache::default();
        assert_eq!(c.put("a.b", hosts(), 600_000, CAPS, 0), 60_000);
        assert_eq!(c.put("n.b", Outcome::NxDomain, 300_000, CAPS, 0), 10_000);
        assert_eq!(c.put("s.b", Outcome::ServFail, 0, CAPS, 0), 2_000);
        assert_eq!(c.put("t.b", Outcome::Timeout, 99_000, CAPS, 0), 2_000);
        assert_eq!(c.get("n.b", 9_999), Some((Outcome::NxDomain, 1)));
        assert_eq!(c.get("n.b", 10_000), None);
    }

    #[test]
    fn a_zero_ttl_is_not_kept_and_forgets_the_old_entry() {
        let mut c = Cache::default();
        c.put("a.b", Outcome::NxDomain, 5_000, CAPS, 0);
        assert_eq!(c.put("a.b", hosts(), 0, CAPS, 1_000), 0);
        assert_eq!(c.get("a.b", 1_001), None);
    }

    #[test]
    fn a_full_cache_drops_the_entry_that_expires_first() {
        let mut c = Cache::default();
        for i in 0..ENTRIES_MAX {
            c.put(&format!("n{i}.b"), hosts(), 10_000 + i as u64, CAPS, 0);
        }
        c.put("new.b", hosts(), 50_000, CAPS, 0);
        assert_eq!(c.get("n0.b", 1), None);
        assert!(c.get("n1.b", 1).is_some());
        assert!(c.get("new.b", 1).is_some());
    }
}
