//! The driver's pending deadlines: transaction timers and user-agent timers (ringing
//! timeout, CANCEL guard), ordered by deadline, each replaceable and cancellable by key.
//!
//! The driver sleeps until [`TimerWheel::next_deadline`] and then pops what is due, so it
//! wakes only when something is due: no periodic polling. Ties are broken by insertion
//! order, which keeps a run deterministic.

use std::collections::BTreeMap;

use tokio::time::Instant;

use crate::sip::transaction::Timer;

/// Identifies a transaction inside one driver.
pub(crate) type TxId = u64;

/// What a deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// An RFC 3261 timer of a transaction.
    Tx(TxId, Timer),
    /// An outgoing call's ringing timeout: time to CANCEL.
    Ringing(u64),
    /// 64*T1 after a CANCEL: stop waiting for the INVITE's final response (section 9.1).
    CancelGuard(u64),
    /// A dialog's session timer (RFC 4028), by its session number: time to refresh
    /// (we are the refresher) or to give up (we are not).
    Session(u64),
    /// Time to send (again) our pending re-INVITE number `n`: after a 491 (section
    /// 14.1), or once the dialog's other INVITE has ended.
    Reoffer(u64),
}

#[derive(Default)]
pub(crate) struct TimerWheel {
    by_deadline: BTreeMap<(Instant, u64), TimerKey>,
    by_key: BTreeMap<TimerKey, (Instant, u64)>,
    seq: u64,
}

impl TimerWheel {
    /// Arms `key` at `deadline`, replacing an earlier arming of the same key.
    pub(crate) fn set(&mut self, key: TimerKey, deadline: Instant) {
        self.clear(key);
        self.seq += 1;
        self.by_deadline.insert((deadline, self.seq), key);
        self.by_key.insert(key, (deadline, self.seq));
    }

    pub(crate) fn clear(&mut self, key: TimerKey) {
        if let Some(slot) = self.by_key.remove(&key) {
            self.by_deadline.remove(&slot);
        }
    }

    /// Disarms every timer of one transaction.
    pub(crate) fn clear_tx(&mut self, tx: TxId) {
        let keys: Vec<TimerKey> = self
            .by_key
            .range(TimerKey::Tx(tx, Timer::A)..=TimerKey::Tx(tx, Timer::K))
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.clear(key);
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.keys().next().map(|(d, _)| *d)
    }

    /// Removes and returns the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerKey> {
        let (&slot, &key) = self.by_deadline.iter().next()?;
        if slot.0 > now {
            return None;
        }
        self.by_deadline.remove(&slot);
        self.by_key.remove(&key);
        Some(key)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_and_replaces_by_key() {
        let t0 = Instant::now();
        let mut w = TimerWheel::default();
        w.set(TimerKey::Tx(1, Timer::A), t0 + Duration::from_millis(500));
        w.set(TimerKey::Tx(1, Timer::B), t0 + Duration::from_secs(32));
        w.set(TimerKey::Ringing(7), t0 + Duration::from_millis(100));
        w.set(TimerKey::Tx(1, Timer::A), t0 + Duration::from_secs(1));
        assert_eq!(w.len(), 3);
        assert_eq!(w.next_deadline(), Some(t0 + Duration::from_millis(100)));
        let later = t0 + Duration::from_secs(2);
        assert_eq!(w.pop_due(later), Some(TimerKey::Ringing(7)));
        assert_eq!(w.pop_due(later), Some(TimerKey::Tx(1, Timer::A)));
        assert_eq!(w.pop_due(later), None);
        w.clear_tx(1);
        assert_eq!(w.len(), 0);
    }
}
