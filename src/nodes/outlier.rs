//! Outlier ejection from the data plane, beside OPTIONS health checks: a
//! node that spreads new calls over next hops (the LB over its backends)
//! ejects a next hop after `consecutive_failures` failed setups in a row,
//! whatever its health checks say. A gray pod that answers OPTIONS 200 but
//! fails every call is caught this way, and only this way.
//!
//! A setup is a new INVITE the node forwarded; it failed when its final
//! response was a 5xx or when no response at all (not even a 100 Trying)
//! came within `setup_timeout`; once a provisional response came, only its
//! final response judges it (a callee may ring for a minute). Any other
//! final response (2xx, and a 3xx, 4xx or 6xx: the callee's answer, not
//! the next hop's failure) is a success and clears the run.
//!
//! A node that relays the call's media (an SBC pod anchoring it) can also
//! judge a setup by its media: with `no_media_within = T`, a 2xx is not a
//! success yet; the setup succeeds when the first media datagram from the
//! next hop's side arrives, and fails (`no_media`) when none came within T
//! of the 2xx. A pod that answers OPTIONS and calls but never sends media
//! is caught this way. A call that ends before T is not judged.
//!
//! An ejection lasts `base_ejection` times the next hop's ejections so far
//! (1, 2, 3, ..), capped at `max_ejection`; a success after its return
//! resets that count. At most `max_ejected_share` of the next hops are out
//! at once (at least one may be): a platform-wide failure must not eject
//! every path. Each ejection emits `outlier.ejected {target, reason,
//! failures, ejected_ms}` from the ejecting host.
//!
//! The detector is free of I/O: its owner tells it the setups it started
//! and how each ended, hands it the time, and asks it which hops are usable.

use crate::history::{emit, Event};
use crate::sim::check;
use crate::sim::{Dur, FieldError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most setups waiting for their final response that a detector tracks; a
/// setup beyond it is not judged.
pub const PENDING_MAX: usize = 65_536;

/// How long a setup that had a provisional response waits for its final
/// one before it is forgotten unjudged (longer than any ringing).
pub const PROCEEDING_MAX_MS: u64 = 600_000;

/// `outlier = { consecutive_failures = 5, setup_timeout = "8s", .. }`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutlierConfig {
    /// Failed setups in a row that eject a next hop. Default 5.
    #[serde(default = "default_consecutive_failures")]
    pub consecutive_failures: u32,
    /// A setup with no response at all (not even 100 Trying) this long
    /// after it was forwarded failed. Default 8s.
    #[serde(default = "default_setup_timeout")]
    pub setup_timeout: Dur,
    /// The first ejection's length; the n-th lasts n times it. Default 30s.
    #[serde(default = "default_base_ejection")]
    pub base_ejection: Dur,
    /// The longest ejection. Default 300s.
    #[serde(default = "default_max_ejection")]
    pub max_ejection: Dur,
    /// Most next hops out at once, as a share of them (at least one may
    /// be). Default 0.5.
    #[serde(default = "default_max_ejected_share")]
    pub max_ejected_share: f64,
    /// Judge answered setups by their media too: a 2xx with no media from
    /// the next hop's side within this long is a failure. Only where the
    /// node relays the media itself (an SBC anchoring on its signalling
    /// pod). Default off.
    #[serde(default)]
    pub no_media_within: Option<Dur>,
}

fn default_consecutive_failures() -> u32 {
    5
}
fn default_setup_timeout() -> Dur {
    Dur::from_secs(8)
}
fn default_base_ejection() -> Dur {
    Dur::from_secs(30)
}
fn default_max_ejection() -> Dur {
    Dur::from_secs(300)
}
fn default_max_ejected_share() -> f64 {
    0.5
}

impl Default for OutlierConfig {
    fn default() -> OutlierConfig {
        OutlierConfig {
            consecutive_failures: default_consecutive_failures(),
            setup_timeout: default_setup_timeout(),
            base_ejection: default_base_ejection(),
            max_ejection: default_max_ejection(),
            max_ejected_share: default_max_ejected_share(),
            no_media_within: None,
        }
    }
}

impl OutlierConfig {
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        check::at_least_one(prefix, "consecutive_failures", self.consecutive_failures)?;
        check::positive(prefix, "setup_timeout", self.setup_timeout)?;
        check::positive(prefix, "base_ejection", self.base_ejection)?;
        if self.max_ejection < self.base_ejection {
            return Err(FieldError::new(
                check::field(prefix, "max_ejection"),
                format!(
                    "{} is shorter than base_ejection {}",
                    self.max_ejection, self.base_ejection
                ),
            ));
        }
        let share = self.max_ejected_share;
        if !(share.is_finite() && share > 0.0 && share <= 1.0) {
            return Err(FieldError::new(
                check::field(prefix, "max_ejected_share"),
                format!("{share} is not a share in (0, 1]"),
            ));
        }
        if let Some(within) = self.no_media_within {
            check::positive(prefix, "no_media_within", within)?;
        }
        Ok(())
    }
}

/// Why a setup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A 5xx final response.
    ServerError,
    /// No final response within `setup_timeout`.
    Timeout,
    /// A 2xx, then no media from the next hop within `no_media_within`.
    NoMedia,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::ServerError => "5xx",
            Failure::Timeout => "timeout",
            Failure::NoMedia => "no_media",
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Hop {
    failures_in_a_row: u32,
    ejections: u32,
    ejected_until_ms: Option<u64>,
}

/// One node's outlier detector over its next hops.
#[derive(Debug, Clone)]
pub struct OutlierDetector {
    config: OutlierConfig,
    hops: BTreeMap<String, Hop>,
    /// Setups waiting for their final response, by key.
    pending: BTreeMap<String, Pending>,
    /// Answered setups waiting for their first media (with
    /// `no_media_within`): media key -> (hop, deadline ms).
    awaiting_media: BTreeMap<String, (String, u64)>,
}

/// A setup waiting for its final response.
#[derive(Debug, Clone)]
struct Pending {
    hop: String,
    deadline_ms: u64,
    /// Whether a provisional response came.
    progressed: bool,
    /// The call's media key, when its media can judge it.
    media_key: Option<String>,
}

impl OutlierDetector {
    pub fn new(config: OutlierConfig, hops: impl IntoIterator<Item = String>) -> OutlierDetector {
        OutlierDetector {
            config,
            hops: hops.into_iter().map(|h| (h, Hop::default())).collect(),
            pending: BTreeMap::new(),
            awaiting_media: BTreeMap::new(),
        }
    }

    /// Whether answered setups are judged by their media.
    pub fn judges_media(&self) -> bool {
        self.config.no_media_within.is_some()
    }

    /// Whether `hop` may take a new call at `now_ms` (not ejected).
    pub fn usable(&self, hop: &str, now_ms: u64) -> bool {
        self.hops
            .get(hop)
            .and_then(|h| h.ejected_until_ms)
            .is_none_or(|until| now_ms >= until)
    }

    /// A new setup, by a key unique to it (the forwarded INVITE's branch),
    /// went to `hop` at `now_ms`. `media_key` names the call's media when
    /// this node relays it (see [`OutlierDetector::media_arrived`]).
    pub fn setup_started(&mut self, key: &str, hop: &str, media_key: Option<&str>, now_ms: u64) {
        if self.pending.len() >= PENDING_MAX || !self.hops.contains_key(hop) {
            return;
        }
        let pending = Pending {
            hop: hop.to_string(),
            deadline_ms: now_ms + self.config.setup_timeout.as_millis(),
            progressed: false,
            media_key: media_key.map(str::to_string),
        };
        self.pending.insert(key.to_string(), pending);
    }

    /// The setup `key` got a provisional response at `now_ms`: the next
    /// hop is alive, and only the final response judges the setup now.
    pub fn setup_progressed(&mut self, key: &str, now_ms: u64) {
        if let Some(entry) = self.pending.get_mut(key) {
            if !entry.progressed {
                entry.deadline_ms = now_ms + PROCEEDING_MAX_MS;
                entry.progressed = true;
            }
        }
    }

    /// The setup `key` got its final response `code` at `now_ms`. Unknown
    /// keys (a retransmitted final, a setup already judged) are ignored.
    pub fn setup_finished(&mut self, key: &str, code: u16, now_ms: u64) {
        let Some(pending) = self.pending.remove(key) else {
            return;
        };
        if let (true, Some(within), Some(media_key)) = (
            (200..300).contains(&code),
            self.config.no_media_within,
            pending.media_key,
        ) {
            if self.awaiting_media.len() < PENDING_MAX {
                let deadline = now_ms + within.as_millis();
                self.awaiting_media
                    .insert(media_key, (pending.hop, deadline));
            }
            return;
        }
        let failure = (code >= 500).then_some(Failure::ServerError);
        self.record(&pending.hop, failure, now_ms);
    }

    /// Whether the call with `media_key` was answered and its media is
    /// still awaited.
    pub fn awaits_media(&self, media_key: &str) -> bool {
        self.awaiting_media.contains_key(media_key)
    }

    /// Media from the next hop's side of the call `media_key` arrived: an
    /// answered setup awaiting it succeeded.
    pub fn media_arrived(&mut self, media_key: &str, now_ms: u64) {
        if let Some((hop, _)) = self.awaiting_media.remove(media_key) {
            self.record(&hop, None, now_ms);
        }
    }

    /// The call `media_key` ended: if its media was still awaited, it is
    /// forgotten unjudged (a call shorter than `no_media_within`).
    pub fn call_ended(&mut self, media_key: &str) {
        self.awaiting_media.remove(media_key);
    }

    /// The earliest setup or media deadline, if any is pending.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        let setups = self.pending.values().map(|p| p.deadline_ms);
        let media = self.awaiting_media.values().map(|(_, at)| *at);
        setups.chain(media).min()
    }

    /// Judges every setup whose deadline has passed as timed out.
    pub fn on_timer(&mut self, now_ms: u64) {
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline_ms <= now_ms)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            // A setup that rang past any bound is forgotten, not judged.
            if let Some(p) = self.pending.remove(&key).filter(|p| !p.progressed) {
                self.record(&p.hop, Some(Failure::Timeout), now_ms);
            }
        }
        let silent: Vec<String> = self
            .awaiting_media
            .iter()
            .filter(|(_, (_, at))| *at <= now_ms)
            .map(|(key, _)| key.clone())
            .collect();
        for key in silent {
            if let Some((hop, _)) = self.awaiting_media.remove(&key) {
                self.record(&hop, Some(Failure::NoMedia), now_ms);
            }
        }
    }

    fn ejected_now(&self, now_ms: u64) -> usize {
        self.hops
            .values()
            .filter(|h| h.ejected_until_ms.is_some_and(|until| now_ms < until))
            .count()
    }

    fn record(&mut self, hop: &str, failure: Option<Failure>, now_ms: u64) {
        let cap =
            ((self.hops.len() as f64 * self.config.max_ejected_share).floor() as usize).max(1);
        let ejected_now = self.ejected_now(now_ms);
        let config = self.config;
        let Some(state) = self.hops.get_mut(hop) else {
            return;
        };
        let Some(failure) = failure else {
            state.failures_in_a_row = 0;
            if state.ejected_until_ms.is_some_and(|until| now_ms >= until) {
                state.ejected_until_ms = None;
                state.ejections = 0;
            }
            return;
        };
        state.failures_in_a_row += 1;
        let out_now = state.ejected_until_ms.is_some_and(|until| now_ms < until);
        if out_now || state.failures_in_a_row < config.consecutive_failures || ejected_now >= cap {
            return;
        }
        state.ejections += 1;
        let length = config
            .base_ejection
            .0
            .saturating_mul(state.ejections)
            .min(config.max_ejection.0);
        let length_ms = length.as_millis() as u64;
        state.ejected_until_ms = Some(now_ms + length_ms);
        let failures = state.failures_in_a_row;
        state.failures_in_a_row = 0;
        emit(Event::OutlierEjected {
            target: hop,
            reason: failure.as_str(),
            failures: failures as u64,
            ejected_ms: length_ms,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector(share: f64) -> OutlierDetector {
        let config = OutlierConfig {
            consecutive_failures: 3,
            setup_timeout: Dur::from_secs(8),
            base_ejection: Dur::from_secs(30),
            max_ejection: Dur::from_secs(50),
            max_ejected_share: share,
            no_media_within: None,
        };
        OutlierDetector::new(config, ["sip-1".to_string(), "sip-2".to_string()])
    }

    fn fail(d: &mut OutlierDetector, hop: &str, n: u32, at: u64) {
        for i in 0..n {
            let key = format!("{hop}-{at}-{i}");
            d.setup_started(&key, hop, None, at);
            d.setup_finished(&key, 503, at);
        }
    }

    #[test]
    fn consecutive_failures_eject_for_a_growing_capped_time() {
        let mut d = detector(0.5);
        fail(&mut d, "sip-1", 2, 1_000);
        assert!(d.usable("sip-1", 1_000), "two failures are not enough");
        fail(&mut d, "sip-1", 1, 1_000);
        assert!(!d.usable("sip-1", 1_000));
        assert!(!d.usable("sip-1", 30_999));
        assert!(d.usable("sip-1", 31_000), "the first ejection lasts 30 s");
        // Back, it fails again: 60 s, capped at 50 s.
        fail(&mut d, "sip-1", 3, 31_000);
        assert!(!d.usable("sip-1", 80_999));
        assert!(d.usable("sip-1", 81_000));
        assert!(d.usable("sip-2", 1_000));
    }

    #[test]
    fn a_success_clears_the_run_and_other_answers_are_successes() {
        let mut d = detector(0.5);
        fail(&mut d, "sip-1", 2, 0);
        for (i, code) in [200u16, 486, 603, 404].into_iter().enumerate() {
            let key = format!("ok-{i}");
            d.setup_started(&key, "sip-1", None, 0);
            d.setup_finished(&key, code, 0);
        }
        fail(&mut d, "sip-1", 2, 0);
        assert!(d.usable("sip-1", 0), "runs of 2 with successes between");
    }

    #[test]
    fn a_setup_without_a_final_response_times_out_as_a_failure() {
        let mut d = detector(0.5);
        for i in 0..3 {
            d.setup_started(&format!("k{i}"), "sip-1", None, 100);
        }
        assert_eq!(d.next_deadline_ms(), Some(8_100));
        d.on_timer(8_099);
        assert!(d.usable("sip-1", 8_099));
        d.on_timer(8_100);
        assert!(!d.usable("sip-1", 8_100));
        assert_eq!(d.next_deadline_ms(), None);
        // A late final for a judged setup changes nothing.
        d.setup_finished("k0", 200, 9_000);
        assert!(!d.usable("sip-1", 9_000));
    }

    #[test]
    fn a_setup_that_rings_is_judged_by_its_final_response_only() {
        let mut d = detector(0.5);
        for i in 0..3 {
            d.setup_started(&format!("k{i}"), "sip-1", None, 0);
            d.setup_progressed(&format!("k{i}"), 10);
        }
        d.on_timer(60_000);
        assert!(
            d.usable("sip-1", 60_000),
            "ringing for a minute is no failure"
        );
        for i in 0..3 {
            d.setup_finished(&format!("k{i}"), 503, 61_000);
        }
        assert!(!d.usable("sip-1", 61_000), "a 503 after a 100 still counts");
    }

    /// A detector judging media within 3 s; answers `n` setups to `hop`
    /// 200 at `at`, with media keys `{hop}-{at}-{i}`.
    fn answered(d: &mut OutlierDetector, hop: &str, n: u32, at: u64) -> Vec<String> {
        (0..n)
            .map(|i| {
                let key = format!("{hop}-{at}-{i}");
                d.setup_started(&key, hop, Some(&key), at);
                d.setup_finished(&key, 200, at);
                key
            })
            .collect()
    }

    fn media_detector() -> OutlierDetector {
        let mut d = detector(0.5);
        d.config.no_media_within = Some(Dur::from_secs(3));
        d
    }

    #[test]
    fn answered_calls_without_media_eject_and_media_clears_the_run() {
        let mut d = media_detector();
        let keys = answered(&mut d, "sip-1", 3, 1_000);
        assert!(keys.iter().all(|k| d.awaits_media(k)));
        assert_eq!(d.next_deadline_ms(), Some(4_000));
        d.on_timer(3_999);
        assert!(d.usable("sip-1", 3_999), "the 2xx alone is no verdict");
        d.on_timer(4_000);
        assert!(!d.usable("sip-1", 4_000), "three silent calls eject");
        assert!(d.usable("sip-1", 34_000), "for base_ejection");
        // Media on two of three calls: never three silent in a row.
        let keys = answered(&mut d, "sip-2", 3, 0);
        d.media_arrived(&keys[1], 500);
        d.on_timer(3_000);
        assert!(d.usable("sip-2", 3_000));
        assert!(!d.awaits_media(&keys[0]));
    }

    #[test]
    fn a_call_ended_before_its_media_deadline_is_not_judged() {
        let mut d = media_detector();
        let keys = answered(&mut d, "sip-1", 3, 0);
        for key in &keys {
            d.call_ended(key);
        }
        d.on_timer(10_000);
        assert!(d.usable("sip-1", 10_000));
        assert_eq!(d.next_deadline_ms(), None);
        // Without a media key (a call anchored elsewhere) a 2xx succeeds
        // at once, as without media judging.
        d.setup_started("x", "sip-1", None, 0);
        d.setup_finished("x", 200, 0);
        assert_eq!(d.next_deadline_ms(), None);
    }

    #[test]
    fn at_most_the_share_is_ejected_but_always_one() {
        let mut d = detector(0.1);
        fail(&mut d, "sip-1", 3, 0);
        fail(&mut d, "sip-2", 3, 0);
        assert!(!d.usable("sip-1", 0), "one may always be ejected");
        assert!(d.usable("sip-2", 0), "the cap keeps the other");
    }

    #[test]
    fn validation_names_the_field() {
        let prefix = "nodes.lb.outlier";
        let bad = OutlierConfig {
            max_ejection: Dur::from_secs(1),
            ..OutlierConfig::default()
        };
        let err = bad.validate(prefix).expect_err("max below base");
        assert_eq!(err.field, "nodes.lb.outlier.max_ejection");
        let bad = OutlierConfig {
            max_ejected_share: 0.0,
            ..OutlierConfig::default()
        };
        assert!(bad.validate(prefix).is_err());
        let bad = OutlierConfig {
            consecutive_failures: 0,
            ..OutlierConfig::default()
        };
        assert!(bad.validate(prefix).is_err());
        let bad = OutlierConfig {
            no_media_within: Some(Dur::from_millis(0)),
            ..OutlierConfig::default()
        };
        let err = bad.validate(prefix).expect_err("zero media window");
        assert_eq!(err.field, "nodes.lb.outlier.no_media_within");
        assert!(OutlierConfig::default().validate(prefix).is_ok());
    }
}
