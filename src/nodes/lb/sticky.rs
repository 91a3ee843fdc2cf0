//! The LB's memory of where transactions went: Call-ID -> the transactions
//! of that call it handled, each by its Via branch, with what became of it
//! (a backend, or a refusal the LB answered itself).
//!
//! A request whose branch names a remembered transaction (a retransmitted
//! INVITE, its CANCEL, the ACK of its non-2xx answer: RFC 3261 sections
//! 9.1 and 17.1.1.3 give them the INVITE's branch) belongs to that
//! transaction and goes where it went, whatever the backend's health now:
//! sending it elsewhere would start a second call, and answering it 503
//! would orphan the first backend's answer. Only a new transaction consults
//! health; it keeps its call's backend ([`Sticky::affinity`]) while that
//! one is usable.
//!
//! Entries expire `ttl` after the call's last new transaction, and the
//! table holds at most `max` calls (the oldest goes first). Iteration order
//! never matters: lookups are by key only.

use std::collections::{BTreeMap, VecDeque};

/// What became of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Forwarded to this backend (an index into the LB's backends).
    Backend(usize),
    /// Answered by the LB itself with this code; `retry_after` when the
    /// answer carried a Retry-After (a rate-limit refusal).
    Refused { code: u16, retry_after: bool },
}

/// Transactions remembered per call; the oldest goes first beyond this.
const TRANSACTIONS_MAX: usize = 8;

#[derive(Debug)]
struct Entry {
    expires_ms: u64,
    /// (branch, verdict), oldest first.
    transactions: Vec<(String, Verdict)>,
}

/// Call-ID -> remembered transactions, bounded and expiring.
#[derive(Debug)]
pub struct Sticky {
    ttl_ms: u64,
    max: usize,
    entries: BTreeMap<String, Entry>,
    /// Call-IDs in insertion order, for eviction.
    order: VecDeque<String>,
}

impl Sticky {
    pub fn new(ttl_ms: u64, max: usize) -> Sticky {
        Sticky {
            ttl_ms,
            max: max.max(1),
            entries: BTreeMap::new(),
            order: VecDeque::new(),
        }
    }

    fn live(&self, call_id: &str, now_ms: u64) -> Option<&Entry> {
        self.entries.get(call_id).filter(|e| e.expires_ms > now_ms)
    }

    /// Whether the LB remembers any transaction of `call_id`.
    pub fn knows(&self, call_id: &str, now_ms: u64) -> bool {
        self.live(call_id, now_ms).is_some()
    }

    /// Forgets every transaction of `call_id`.
    pub fn forget(&mut self, call_id: &str) {
        self.entries.remove(call_id);
        self.order.retain(|c| c != call_id);
    }

    /// The verdict of the transaction `branch` of `call_id`, when the LB
    /// still remembers it. An empty branch names no transaction.
    pub fn transaction(&self, call_id: &str, branch: &str, now_ms: u64) -> Option<Verdict> {
        if branch.is_empty() {
            return None;
        }
        self.live(call_id, now_ms)?
            .transactions
            .iter()
            .rev()
            .find(|(b, _)| b == branch)
            .map(|(_, v)| *v)
    }

    /// The backend the call's latest forwarded transaction went to.
    pub fn affinity(&self, call_id: &str, now_ms: u64) -> Option<usize> {
        self.live(call_id, now_ms)?
            .transactions
            .iter()
            .rev()
            .find_map(|(_, v)| match v {
                Verdict::Backend(i) => Some(*i),
                Verdict::Refused { .. } => None,
            })
    }

    /// Remembers a new transaction of `call_id` and renews the call's
    /// entry.
    pub fn remember(&mut self, call_id: &str, branch: &str, verdict: Verdict, now_ms: u64) {
        let expires_ms = now_ms + self.ttl_ms;
        match self.entries.get_mut(call_id) {
            Some(entry) => {
                if entry.expires_ms <= now_ms {
                    entry.transactions.clear();
                }
                entry.expires_ms = expires_ms;
                entry.transactions.retain(|(b, _)| b != branch);
                entry.transactions.push((branch.to_string(), verdict));
                if entry.transactions.len() > TRANSACTIONS_MAX {
                    entry.transactions.remove(0);
                }
            }
            None => {
                self.entries.insert(
                    call_id.to_string(),
                    Entry {
                        expires_ms,
                        transactions: vec![(branch.to_string(), verdict)],
                    },
                );
                self.order.push_back(call_id.to_string());
            }
        }
        // Forget expired entries from the front, and the oldest beyond the
        // bound. A renewed entry keeps its place and outlives the ones
        // behind it only until it reaches the front.
        while let Some(oldest) = self.order.front() {
            let expired = self
                .entries
                .get(oldest)
                .is_none_or(|e| e.expires_ms <= now_ms);
            if expired || self.entries.len() > self.max {
                let oldest = self.order.pop_front().expect("front exists");
                self.entries.remove(&oldest);
            } else {
                break;
            }
        }
    }

    /// Calls remembered now (expired ones not yet swept included).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFUSED: Verdict = Verdict::Refused {
        code: 503,
        retry_after: false,
    };

    #[test]
    fn a_transaction_is_found_by_its_branch_until_it_expires() {
        let mut s = Sticky::new(32_000, 16);
        s.remember("c1", "z9hG4bKa", Verdict::Backend(1), 0);
        assert_eq!(
            s.transaction("c1", "z9hG4bKa", 31_999),
            Some(Verdict::Backend(1))
        );
        assert_eq!(
            s.transaction("c1", "z9hG4bKb", 1_000),
            None,
            "another branch"
        );
        assert_eq!(s.transaction("c2", "z9hG4bKa", 1_000), None, "another call");
        assert_eq!(s.transaction("c1", "", 1_000), None, "no branch");
        assert_eq!(s.transaction("c1", "z9hG4bKa", 32_000), None, "expired");
        assert_eq!(s.affinity("c1", 1_000), Some(1));
        assert_eq!(s.affinity("c1", 32_000), None);
    }

    #[test]
    fn a_call_keeps_each_transactions_verdict_and_the_latest_backend() {
        let mut s = Sticky::new(32_000, 16);
        s.remember("c1", "a", Verdict::Backend(0), 0);
        s.remember("c1", "b", REFUSED, 10);
        assert_eq!(s.affinity("c1", 20), Some(0), "refusals name no backend");
        s.remember("c1", "c", Verdict::Backend(2), 30);
        assert_eq!(s.transaction("c1", "a", 40), Some(Verdict::Backend(0)));
        assert_eq!(s.transaction("c1", "b", 40), Some(REFUSED));
        assert_eq!(s.affinity("c1", 40), Some(2));
        // A new transaction renews the call's entry.
        assert_eq!(s.transaction("c1", "a", 32_020), Some(Verdict::Backend(0)));
    }

    #[test]
    fn the_table_is_bounded_oldest_first() {
        let mut s = Sticky::new(32_000, 2);
        s.remember("c1", "a", Verdict::Backend(0), 0);
        s.remember("c2", "a", Verdict::Backend(1), 1);
        s.remember("c3", "a", Verdict::Backend(0), 2);
        assert_eq!(s.len(), 2);
        assert_eq!(s.affinity("c1", 3), None);
        assert_eq!(s.affinity("c3", 3), Some(0));
        // Expired entries go when the next one comes.
        s.remember("c4", "a", Verdict::Backend(1), 40_000);
        assert_eq!(s.len(), 1);
        for n in 0..20 {
            s.remember("c4", &format!("b{n}"), Verdict::Backend(1), 40_000);
        }
        assert_eq!(
            s.transaction("c4", "a", 40_000),
            None,
            "oldest transaction gone"
        );
        assert_eq!(
            s.transaction("c4", "b19", 40_000),
            Some(Verdict::Backend(1))
        );
    }
}
