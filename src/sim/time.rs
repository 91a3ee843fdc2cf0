//! Time for node code: what the running host's own clock reads, and
//! sleeping by it.
//!
//! Every host reads sim time (`turmoil::sim_elapsed()`, milliseconds since
//! the run started) unless a `clock` fault skews it. A skewed host's clock
//! reads `true time + offset + drift accumulated since the fault started`
//! ([`ClockSkew::local_ms`]); [`sleep_until_ms`] waits until the host's
//! clock reaches a deadline (a fast clock gets there early in true time)
//! and [`sleep`] lasts `d / (1 + drift)` in true time, as a monotonic
//! timer running at the host's rate does. An offset is a step of the
//! wall clock: it moves deadlines read from [`now_ms`], never a [`sleep`].
//!
//! Because hosts may disagree, nothing that crosses the network carries a
//! time on the sender's clock: RPC deadlines travel as relative budgets
//! (`rpc::wire`), turned into a local deadline on arrival.
//!
//! The host is found as `buggify::here` finds it (`sim::ambient`): the
//! hosts' control handles, installed by the test-bed for clocks only when
//! the run's plan may have a `clock` fault, and the `host{name}` span. A run without one pays one
//! thread-local read per call and reads true time, so its history is the
//! same byte for byte. The history's own timestamps never come from here:
//! the recorder stamps true sim time.
//!
//! Code that reads `tokio::time` directly (the SIP user agent's timers,
//! media streams, telemetry, the deployer) keeps true time; see
//! ARCHITECTURE.md.

use super::ControlHandle;
use std::time::Duration;

/// Parts per million in one: a drift of `PPM` runs a clock twice as fast.
pub const PPM: i64 = 1_000_000;

/// One host's clock error while a `clock` fault holds: a step of
/// `offset_ms` and a rate of `1 + drift_ppm / 1e6` from true time
/// `since_ms` on. Validation keeps `|drift_ppm| < PPM`, so the clock
/// always moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockSkew {
    pub offset_ms: i64,
    pub drift_ppm: i64,
    /// True sim time (ms) when the fault started: drift accumulates from
    /// here.
    pub since_ms: u64,
}

impl ClockSkew {
    /// The host's clock at true time `true_ms` (>= `since_ms`): true time,
    /// plus the offset, plus the drift accumulated since `since_ms`
    /// (rounded down), never below 0.
    pub fn local_ms(&self, true_ms: u64) -> u64 {
        let x = true_ms as i128 - self.since_ms as i128;
        let drift = (x * self.drift_ppm as i128).div_euclid(PPM as i128);
        let local = true_ms as i128 + self.offset_ms as i128 + drift;
        local.clamp(0, u64::MAX as i128) as u64
    }

    /// The earliest true time (at or after `since_ms`) at which the clock
    /// reads `local_ms` or more.
    pub fn true_ms_at(&self, local_ms: u64) -> u64 {
        debug_assert!(self.drift_ppm.abs() < PPM, "a clock must move forward");
        // local = since + x + offset + floor(x * ppm / PPM)
        //       = since + offset + floor(x * (PPM + ppm) / PPM), x = t - since;
        // the least x with floor(..) >= target is ceil(target * PPM / rate).
        let target = local_ms as i128 - self.offset_ms as i128 - self.since_ms as i128;
        if target <= 0 {
            return self.since_ms;
        }
        let rate = (PPM + self.drift_ppm) as i128;
        let x = (target * PPM as i128 + rate - 1) / rate;
        (self.since_ms as i128 + x).clamp(0, u64::MAX as i128) as u64
    }

    /// How long `d` on the host's clock lasts in true time (rounded up
    /// to the nanosecond).
    pub fn true_duration(&self, d: Duration) -> Duration {
        let rate = (PPM + self.drift_ppm) as u128;
        let nanos = (d.as_nanos() * PPM as u128).div_ceil(rate);
        Duration::from_nanos(nanos.min(u64::MAX as u128) as u64)
    }
}

/// The control handle of the host running now, when the run may skew
/// clocks (`sim::ambient`).
fn current_control() -> Option<ControlHandle> {
    super::ambient::current_control(super::ambient::Use::Clocks)
}

/// The running host's clock skew, if a `clock` fault holds on it.
pub fn current_skew() -> Option<ClockSkew> {
    current_control()?.clock()
}

/// True sim time in ms since the run started (0 outside a simulation).
/// For the test-bed and the wire's own bookkeeping; node code reads
/// [`now_ms`].
pub fn true_now_ms() -> u64 {
    turmoil::sim_elapsed()
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The running host's clock in ms: sim time since the run started, skewed
/// by a `clock` fault on the host. Outside a simulated host (which node
/// code never is) it reads true time, 0 outside a simulation.
pub fn now_ms() -> u64 {
    let t = true_now_ms();
    match current_skew() {
        Some(skew) => skew.local_ms(t),
        None => t,
    }
}

/// Sleeps until the running host's clock reads `at_ms` (returns at once if
/// it has passed). On a skewed host the wait in true time follows the
/// host's current rate, and is worked out again whenever the host's clock
/// fault starts or ends.
pub async fn sleep_until_ms(at_ms: u64) {
    let Some(control) = current_control() else {
        let now = true_now_ms();
        if at_ms > now {
            tokio::time::sleep(Duration::from_millis(at_ms - now)).await;
        }
        return;
    };
    let mut changes = control.clock_changes();
    loop {
        let skew = *changes.borrow_and_update();
        let t = true_now_ms();
        let wake_ms = match skew {
            Some(skew) if skew.local_ms(t) >= at_ms => return,
            Some(skew) => skew.true_ms_at(at_ms),
            None if t >= at_ms => return,
            None => at_ms,
        };
        // At least one ms: a zero sleep in a loop would never let sim time
        // move.
        let wait = Duration::from_millis(wake_ms.saturating_sub(t).max(1));
        tokio::select! {
            biased;
            _ = tokio::time::sleep(wait) => {}
            changed = changes.changed() => {
                if changed.is_err() {
                    // The test-bed is gone: keep the last clock.
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// Sleeps for `d` on the running host's clock: `d / (1 + drift)` in true
/// time on a drifting host, `d` otherwise. An offset does not move it.
pub async fn sleep(d: Duration) {
    if d.is_zero() {
        return;
    }
    let d = match current_skew() {
        Some(skew) => skew.true_duration(d),
        None => d,
    };
    tokio::time::sleep(d).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skew(offset_ms: i64, drift_ppm: i64, since_ms: u64) -> ClockSkew {
        ClockSkew {
            offset_ms,
            drift_ppm,
            since_ms,
        }
    }

    #[test]
    fn a_skewed_clock_reads_offset_plus_drift_since_the_start() {
        let s = skew(-2000, 50_000, 10_000);
        assert_eq!(s.local_ms(10_000), 8_000);
        assert_eq!(s.local_ms(20_000), 18_500);
        // Never below zero.
        assert_eq!(skew(-5000, 0, 1000).local_ms(1000), 0);
        // A slow clock.
        assert_eq!(skew(0, -500_000, 0).local_ms(1001), 500);
    }

    #[test]
    fn true_ms_at_is_the_first_true_time_the_clock_reaches_a_reading() {
        for s in [
            skew(0, 200_000, 1000),
            skew(1500, -300_000, 0),
            skew(-2000, 1, 10_000),
            skew(7, 499_999, 3),
        ] {
            for local in [s.local_ms(s.since_ms) + 1, 12_345, 99_999] {
                let t = s.true_ms_at(local);
                assert!(s.local_ms(t) >= local, "{s:?} {local}: {t}");
                assert!(
                    t == s.since_ms || s.local_ms(t - 1) < local,
                    "{s:?} {local}: {t} is not the first"
                );
            }
        }
    }

    #[test]
    fn a_drifting_sleep_lasts_d_over_the_rate() {
        let fast = skew(0, 250_000, 0);
        assert_eq!(
            fast.true_duration(Duration::from_secs(10)),
            Duration::from_secs(8)
        );
        let slow = skew(-1000, -500_000, 0);
        assert_eq!(
            slow.true_duration(Duration::from_secs(1)),
            Duration::from_secs(2)
        );
    }
}
