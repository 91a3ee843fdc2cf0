//! Availability oracles: `inbound_availability` (safety: each window keeps
//! its success ratio while a healthy path exists) and `recovery` (liveness:
//! after the faults heal, the success ratio comes back within a bound).
//!
//! Whether a call succeeded is [`super::calls::succeeded`]: 2xx, or a
//! faithfully reported callee rejection, or a 408 no earlier than the
//! ringing_timeout; inbound calls only with 2xx. Calls without a
//! `call.end` are not judged here (`every_call_terminates` judges them).

use super::calls::{calls, succeeded, CallView};
use super::{OracleKind, Violation};
use crate::history::History;
use crate::sim::{Dur, FieldError};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const INBOUND: &str = "inbound_availability";
pub const RECOVERY: &str = "recovery";

/// `inbound_availability = { ratio_min = 0.99, window = "60s", calls_min = 1, excused_faults = [] }`.
///
/// Windows are consecutive, `window` long from t=0; a call belongs to the
/// window of its `call.start`. A window is not judged when it has fewer
/// than `calls_min` judged calls, or when no healthy path existed at some
/// moment in it: every target that `health.change` ever reported was
/// unhealthy, or a fault whose plan index is in `excused_faults` (a fault
/// that leaves no path by design, such as cutting the carrier off) was
/// active.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundParams {
    /// Least share of inbound calls that succeed per window. Default 0.99.
    #[serde(default = "default_inbound_ratio")]
    pub ratio_min: f64,
    /// Window length. Default 60s.
    #[serde(default = "default_window")]
    pub window: Dur,
    /// Fewest judged calls for a window to be judged. Default 1.
    #[serde(default = "default_calls_min")]
    pub calls_min: u64,
    /// Plan indices of faults during which no healthy path exists.
    #[serde(default)]
    pub excused_faults: Vec<u64>,
}

impl Default for InboundParams {
    fn default() -> InboundParams {
        InboundParams {
            ratio_min: default_inbound_ratio(),
            window: default_window(),
            calls_min: default_calls_min(),
            excused_faults: Vec::new(),
        }
    }
}

fn default_inbound_ratio() -> f64 {
    0.99
}
fn default_window() -> Dur {
    Dur::from_secs(60)
}
fn default_calls_min() -> u64 {
    1
}

impl InboundParams {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        check_ratio(self.ratio_min, &format!("{field}.ratio_min"))?;
        check_positive(self.window, &format!("{field}.window"))
    }
}

pub(crate) fn check_ratio(value: f64, field: &str) -> Result<(), FieldError> {
    if !(0.0..=1.0).contains(&value) {
        return Err(FieldError::new(
            field,
            format!("{value} is not a ratio in [0, 1]"),
        ));
    }
    Ok(())
}

pub(crate) fn check_positive(value: Dur, field: &str) -> Result<(), FieldError> {
    if value.is_zero() {
        return Err(FieldError::new(field, "must be > 0, e.g. \"60s\""));
    }
    Ok(())
}

pub fn check_inbound(history: &History, params: &InboundParams, end_ms: u64) -> Vec<Violation> {
    let window_ms = params.window.as_millis().max(1);
    let no_path = no_path_spans(history, &params.excused_faults, end_ms);
    let mut windows: BTreeMap<u64, (u64, u64, Option<&str>)> = BTreeMap::new();
    let all = calls(history);
    for call in all.values().filter(|c| c.is_inbound()) {
        let (Some(start), Some(ok)) = (call.start_ms(), succeeded(call)) else {
            continue;
        };
        let w = windows.entry(start / window_ms).or_insert((0, 0, None));
        w.0 += 1;
        if ok {
            w.1 += 1;
        } else if w.2.is_none() {
            w.2 = Some(call.id);
        }
    }
    let mut out = Vec::new();
    for (index, (judged, ok, first_failed)) in windows {
        let (from, to) = (index * window_ms, ((index + 1) * window_ms).min(end_ms));
        if judged < params.calls_min || judged == 0 {
            continue;
        }
        // Spans are half-open: one that ends exactly at the window's start
        // does not reach into it.
        if no_path.iter().any(|&(a, b)| a < to && b > from) {
            continue;
        }
        let ratio = ok as f64 / judged as f64;
        if ratio < params.ratio_min {
            out.push(Violation::new(
                INBOUND,
                OracleKind::Safety,
                to,
                first_failed,
                format!(
                    "{ok} of {judged} inbound calls started in [{from}, {to}) ms succeeded ({:.1}%), below {:.1}% while a healthy path existed",
                    ratio * 100.0,
                    params.ratio_min * 100.0
                ),
            ));
        }
    }
    out
}

/// Spans `[from, to)` in which no healthy path existed.
fn no_path_spans(history: &History, excused: &[u64], end_ms: u64) -> Vec<(u64, u64)> {
    let mut spans = Vec::new();
    // Excused faults, from their fault.start to their fault.end.
    let mut open: BTreeMap<u64, u64> = BTreeMap::new();
    for r in &history.records {
        let Some(index) = r.u64("fault") else {
            continue;
        };
        if !excused.contains(&index) {
            continue;
        }
        if r.is("fault.start") {
            open.insert(index, r.t_ms);
        } else if r.is("fault.end") {
            if let Some(from) = open.remove(&index) {
                spans.push((from, r.t_ms));
            }
        }
    }
    spans.extend(open.into_values().map(|from| (from, end_ms)));
    // Moments when every target health checks know of was unhealthy. A
    // checker knows a target from its first ping (an out-of-dialog
    // OPTIONS it sends), and takes it as healthy until it says otherwise:
    // a target that never changed is a path, even when every target that
    // did change is down (a backend section whose spare pods start down).
    let checkers: std::collections::BTreeSet<&str> =
        history.of_kind("health.change").map(|r| &*r.host).collect();
    let mut health: BTreeMap<(&str, &str), bool> = BTreeMap::new();
    for r in history.of_kind("sip.send") {
        if r.str("start_line") == Some("OPTIONS") && checkers.contains(&*r.host) {
            if let Some(peer) = r.str("peer") {
                health.entry((&r.host, peer)).or_insert(true);
            }
        }
    }
    let mut down_since: Option<u64> = None;
    for r in history.of_kind("health.change") {
        let (Some(target), Some(healthy)) = (r.str("target"), r.bool("healthy")) else {
            continue;
        };
        health.insert((&r.host, target), healthy);
        let all_down = health.values().all(|h| !h);
        match (all_down, down_since) {
            (true, None) => down_since = Some(r.t_ms),
            (false, Some(from)) => {
                spans.push((from, r.t_ms));
                down_since = None;
            }
            _ => {}
        }
    }
    if let Some(from) = down_since {
        spans.push((from, end_ms));
    }
    spans
}

/// Which calls `recovery` counts.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Which {
    #[default]
    All,
    Inbound,
    Outbound,
}

/// `recovery = { ratio_min = 0.95, within = "30s", calls_min = 1, calls = "all" }`.
///
/// The heal time is `[fault_settings] heal`, or else the last `fault.end`
/// of the history, or else 0. The calls started from `heal + within` to
/// the end of the run that ended must succeed at `ratio_min` at least; if
/// fewer than `calls_min` such calls exist, recovery cannot be shown and
/// that is a violation too.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryParams {
    /// Least success ratio after recovery. Default 0.95.
    #[serde(default = "default_recovery_ratio")]
    pub ratio_min: f64,
    /// Longest time after heal before the ratio must be back. Default 30s.
    #[serde(default = "default_within")]
    pub within: Dur,
    /// Fewest calls to judge recovery on. Default 1.
    #[serde(default = "default_calls_min")]
    pub calls_min: u64,
    /// `all`, `inbound` or `outbound`. Default all.
    #[serde(default)]
    pub calls: Which,
}

impl Default for RecoveryParams {
    fn default() -> RecoveryParams {
        RecoveryParams {
            ratio_min: default_recovery_ratio(),
            within: default_within(),
            calls_min: default_calls_min(),
            calls: Which::All,
        }
    }
}

fn default_recovery_ratio() -> f64 {
    0.95
}
fn default_within() -> Dur {
    Dur::from_secs(30)
}

impl RecoveryParams {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        check_ratio(self.ratio_min, &format!("{field}.ratio_min"))
    }
}

/// The heal time: the scenario's, else the last `fault.end`, else 0.
pub fn heal_ms(history: &History, configured: Option<u64>) -> u64 {
    configured.unwrap_or_else(|| {
        history
            .of_kind("fault.end")
            .map(|r| r.t_ms)
            .max()
            .unwrap_or(0)
    })
}

pub fn check_recovery(
    history: &History,
    params: &RecoveryParams,
    heal_ms: u64,
    end_ms: u64,
) -> Vec<Violation> {
    let from = heal_ms + params.within.as_millis();
    let wanted = |c: &CallView<'_>| match params.calls {
        Which::All => true,
        Which::Inbound => c.is_inbound(),
        Which::Outbound => c.direction() == Some("outbound"),
    };
    let (mut judged, mut ok, mut first_failed) = (0u64, 0u64, None);
    for call in calls(history).values() {
        if !wanted(call) || call.start_ms().is_none_or(|t| t < from) {
            continue;
        }
        let Some(success) = succeeded(call) else {
            continue;
        };
        judged += 1;
        if success {
            ok += 1;
        } else if first_failed.is_none() {
            first_failed = Some(call.id);
        }
    }
    let at_ms = from.min(end_ms);
    if judged < params.calls_min.max(1) {
        return vec![Violation::new(
            RECOVERY,
            OracleKind::Liveness,
            at_ms,
            None,
            format!(
                "recovery cannot be shown: {judged} calls started after heal ({heal_ms} ms) + {} and ended, fewer than {}",
                params.within,
                params.calls_min.max(1)
            ),
        )];
    }
    let ratio = ok as f64 / judged as f64;
    if ratio < params.ratio_min {
        return vec![Violation::new(
            RECOVERY,
            OracleKind::Liveness,
            at_ms,
            first_failed,
            format!(
                "not recovered: {ok} of {judged} calls started from {from} ms (heal {heal_ms} ms + {}) succeeded ({:.1}%), below {:.1}%",
                params.within,
                ratio * 100.0,
                params.ratio_min * 100.0
            ),
        )];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::{Direction, Mode};
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    const IDS: [&str; 10] = [
        "in-1", "in-2", "in-3", "in-4", "in-5", "in-6", "in-7", "in-8", "in-9", "in-10",
    ];

    /// Ten inbound calls started 1 s apart from `t0`; the `failed` first of
    /// them end 503, the others 200.
    fn inbound_calls(s: &mut Script, t0: u64, failed: usize) {
        inbound_calls_ending(s, t0, |i| {
            let status = if i < failed { 503 } else { 200 };
            (status, crate::history::EndOutcome::of_status(status))
        })
    }

    /// Ten inbound calls started 1 s apart from `t0`, the `i`th ending with
    /// `end(i)`'s status and outcome.
    fn inbound_calls_ending(
        s: &mut Script,
        t0: u64,
        end: impl Fn(usize) -> (u16, crate::history::EndOutcome),
    ) {
        for (i, call) in IDS.iter().enumerate() {
            let t = t0 + i as u64 * 1000;
            s.at(
                t,
                "carrier",
                Event::CallStart {
                    call,
                    direction: Direction::Inbound,
                    mode: Mode::Async,
                    ringing_timeout_ms: 0,
                },
            );
            let (status, outcome) = end(i);
            s.at(
                t + 500,
                "carrier",
                Event::CallEnd {
                    call,
                    status,
                    reason: "",
                    outcome,
                },
            );
        }
    }

    #[test]
    fn inbound_all_good_is_quiet() {
        let mut s = Script::new();
        inbound_calls(&mut s, 0, 0);
        assert_eq!(
            check_inbound(&s.history(), &InboundParams::default(), 60_000),
            vec![]
        );
    }

    #[test]
    fn inbound_failures_fire_per_window() {
        let mut s = Script::new();
        inbound_calls(&mut s, 0, 2);
        let v = check_inbound(&s.history(), &InboundParams::default(), 60_000);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].call.as_deref(), Some("in-1"));
        assert!(v[0].message.contains("8 of 10"), "{}", v[0].message);
        let lenient = InboundParams {
            ratio_min: 0.8,
            ..InboundParams::default()
        };
        assert_eq!(check_inbound(&s.history(), &lenient, 60_000), vec![]);
    }

    #[test]
    fn inbound_failures_without_a_healthy_path_are_excused() {
        let mut s = Script::new();
        s.at(
            0,
            "lb-1",
            Event::HealthChange {
                target: "sip-1",
                healthy: false,
            },
        );
        inbound_calls(&mut s, 0, 10);
        assert_eq!(
            check_inbound(&s.history(), &InboundParams::default(), 60_000),
            vec![]
        );
        let mut s = Script::new();
        s.at(
            0,
            "testbed",
            Event::FaultStart {
                fault: 0,
                kind: "partition",
                target: "carrier<->sbc-edge-1",
            },
        );
        inbound_calls(&mut s, 0, 10);
        let excused = InboundParams {
            excused_faults: vec![0],
            ..InboundParams::default()
        };
        assert_eq!(check_inbound(&s.history(), &excused, 60_000), vec![]);
        assert_eq!(
            check_inbound(&s.history(), &InboundParams::default(), 60_000).len(),
            1
        );
    }

    #[test]
    fn a_pinged_target_that_never_changed_is_a_healthy_path() {
        use crate::history::event::SipFields;
        let ping = |peer| {
            Event::SipSend(SipFields {
                call: "",
                sip_call_id: "p",
                start_line: "OPTIONS",
                cseq: "1 OPTIONS",
                peer,
                retransmission: false,
                from_tag: None,
                to_tag: None,
                sdp: None,
            })
        };
        let mut s = Script::new();
        s.at(0, "lb-1", ping("sip-1"));
        s.at(0, "lb-1", ping("sip-2"));
        s.at(
            100,
            "lb-1",
            Event::HealthChange {
                target: "sip-2",
                healthy: false,
            },
        );
        inbound_calls(&mut s, 1000, 10);
        // sip-1 never changed, so it was a path: the failures are judged.
        assert_eq!(
            check_inbound(&s.history(), &InboundParams::default(), 60_000).len(),
            1
        );
        s.at(
            200,
            "lb-1",
            Event::HealthChange {
                target: "sip-1",
                healthy: false,
            },
        );
        assert_eq!(
            check_inbound(&s.history(), &InboundParams::default(), 60_000),
            vec![]
        );
    }

    #[test]
    fn an_excused_fault_ending_at_a_windows_start_does_not_excuse_that_window() {
        // Excused fault over [0, 60s); failures in [60s, 120s) are judged.
        let mut s = Script::new();
        s.at(
            0,
            "testbed",
            Event::FaultStart {
                fault: 0,
                kind: "partition",
                target: "carrier<->sbc-edge-1",
            },
        );
        s.at(
            60_000,
            "testbed",
            Event::FaultEnd {
                fault: 0,
                kind: "partition",
                target: "carrier<->sbc-edge-1",
            },
        );
        inbound_calls(&mut s, 60_000, 10);
        let excused = InboundParams {
            excused_faults: vec![0],
            ..InboundParams::default()
        };
        let found = check_inbound(&s.history(), &excused, 120_000);
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn a_200_the_platform_tore_down_is_not_a_success() {
        let mut s = Script::new();
        inbound_calls_ending(&mut s, 0, |_| (200, crate::history::EndOutcome::Failed));
        let found = check_inbound(&s.history(), &InboundParams::default(), 60_000);
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn recovered_after_heal_is_quiet_and_not_recovered_fires() {
        let mut s = Script::new();
        inbound_calls(&mut s, 0, 10);
        s.at(
            20_000,
            "testbed",
            Event::FaultEnd {
                fault: 0,
                kind: "partition",
                target: "x",
            },
        );
        let p = RecoveryParams {
            within: Dur::from_secs(5),
            ..RecoveryParams::default()
        };
        // Nothing after heal: cannot be shown.
        let v = check_recovery(&s.history(), &p, heal_ms(&s.history(), None), 120_000);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].kind, OracleKind::Liveness);
        assert_eq!(v[0].at_ms, 25_000);
        // The same failures, but before heal: recovered.
        let mut ok = Script::new();
        ok.at(
            0,
            "testbed",
            Event::FaultEnd {
                fault: 0,
                kind: "partition",
                target: "x",
            },
        );
        inbound_calls(&mut ok, 30_000, 0);
        assert_eq!(
            check_recovery(&ok.history(), &p, heal_ms(&ok.history(), None), 120_000),
            vec![]
        );
        let mut bad = Script::new();
        inbound_calls(&mut bad, 30_000, 3);
        let v = check_recovery(&bad.history(), &p, 20_000, 120_000);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("7 of 10"), "{}", v[0].message);
    }
}
