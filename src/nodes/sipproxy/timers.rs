//! A timer queue for a proxy's event loop: deadlines in sim milliseconds,
//! fired in (deadline, insertion) order. The loop sleeps until
//! [`TimerQueue::next_deadline_ms`], so an idle proxy never wakes.

use std::collections::BTreeMap;

/// Identifies a timer, to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerId(u64, u64);

/// Timers carrying a `T` each.
#[derive(Debug)]
pub struct TimerQueue<T> {
    timers: BTreeMap<TimerId, T>,
    seq: u64,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue {
            timers: BTreeMap::new(),
            seq: 0,
        }
    }
}

impl<T> TimerQueue<T> {
    pub fn push(&mut self, at_ms: u64, value: T) -> TimerId {
        self.seq += 1;
        let id = TimerId(at_ms, self.seq);
        self.timers.insert(id, value);
        id
    }

    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        self.timers.remove(&id)
    }

    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.timers.keys().next().map(|id| id.0)
    }

    /// Removes and returns the first timer due at `now_ms`, if any.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<T> {
        let first = *self.timers.keys().next()?;
        if first.0 > now_ms {
            return None;
        }
        self.timers.remove(&first)
    }

    pub fn len(&self) -> usize {
        self.timers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_then_insertion_order() {
        let mut q = TimerQueue::default();
        q.push(20, "b");
        let a = q.push(10, "a");
        q.push(20, "c");
        q.push(30, "d");
        assert_eq!(q.next_deadline_ms(), Some(10));
        assert_eq!(q.cancel(a), Some("a"));
        assert_eq!(q.pop_due(19), None);
        assert_eq!(q.pop_due(25), Some("b"));
        assert_eq!(q.pop_due(25), Some("c"));
        assert_eq!(q.pop_due(25), None);
        assert_eq!(q.len(), 1);
    }
}
