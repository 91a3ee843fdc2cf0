//! Monitors: the alarms an operator runs, evaluated over the history in
//! windows. They are not oracles (a monitor firing or not never fails a
//! run); they answer "would production have noticed, and when?", which is
//! what the incident catalogue compares with the postmortems ("the 5xx
//! alarm stayed silent, call duration dropped").
//!
//! `[monitors]` names the monitors in force, each with a threshold and a
//! window; none is on by default:
//!
//! | monitor | reads | fires when |
//! |---|---|---|
//! | `api_5xx_rate` | `api.response` | share of 5xx in a window > `threshold` |
//! | `rpc_error_rate` | `rpc.response` | share of outcome != ok in a window > `threshold` |
//! | `call_duration` | `call.start`, `call.end` | mean duration of calls ended in a window < `threshold` x `baseline` (optionally of `calls` = inbound, outbound, sync or async only) |
//! | `inbound_success` | inbound `call.end` | share of calls whose `outcome` is `completed` in a window < `threshold` |
//! | `lb_health` | `health.change` | at least `threshold` targets unhealthy for a whole `window` |
//!
//! Windowed monitors use consecutive windows from t=0 and evaluate each at
//! its end (the moment a dashboard would show it); an alarm fires at the
//! end of the first breaching window of a run of breaching windows, so one
//! episode is one alert. A window with fewer than `samples_min` samples is
//! not judged and does not end an episode. Each firing becomes an
//! `alert.fire` record (host `monitor`, fields monitor, value, threshold)
//! merged into the history in time order, and a `report::Alert`.

use super::availability::{check_positive, check_ratio};
use super::params;
use crate::history::{History, Record, Value};
use crate::sim::{Dur, FieldError};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The host name alert records carry.
pub const HOST: &str = "monitor";

pub const API_5XX: &str = "api_5xx_rate";
pub const RPC_ERRORS: &str = "rpc_error_rate";
pub const CALL_DURATION: &str = "call_duration";
pub const INBOUND_SUCCESS: &str = "inbound_success";
pub const LB_HEALTH: &str = "lb_health";

/// The monitors this build knows.
pub const KNOWN: [&str; 5] = [
    API_5XX,
    RPC_ERRORS,
    CALL_DURATION,
    INBOUND_SUCCESS,
    LB_HEALTH,
];

/// One alarm that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub monitor: String,
    pub at_ms: u64,
    /// The measured value that crossed the threshold.
    pub value: f64,
    pub threshold: f64,
}

/// `api_5xx_rate` / `rpc_error_rate = { threshold = 0.05, window = "60s", samples_min = 1 }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorRate {
    /// Highest share of errors a window may show. Default 0.05.
    #[serde(default = "default_error_threshold")]
    pub threshold: f64,
    /// Default 60s.
    #[serde(default = "default_window")]
    pub window: Dur,
    /// Fewest samples for a window to be judged. Default 1.
    #[serde(default = "default_samples_min")]
    pub samples_min: u64,
}

/// `call_duration = { threshold = 0.5, baseline = "60s", window = "60s", samples_min = 1 }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallDuration {
    /// Fires when the window's mean is below `threshold` x `baseline`.
    /// Default 0.5.
    #[serde(default = "default_duration_threshold")]
    pub threshold: f64,
    /// The normal mean call duration. Absent: learned from the first
    /// judged window (which then cannot fire).
    #[serde(default)]
    pub baseline: Option<Dur>,
    /// Default 60s.
    #[serde(default = "default_window")]
    pub window: Dur,
    /// Fewest ended calls for a window to be judged. Default 1.
    #[serde(default = "default_samples_min")]
    pub samples_min: u64,
    /// Which calls the dashboard averages: `all` (default), `inbound`,
    /// `outbound`, `sync` or `async` (by their `call.start`).
    #[serde(default)]
    pub calls: CallFilter,
}

/// A selection of calls by their `call.start` fields.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CallFilter {
    #[default]
    All,
    Inbound,
    Outbound,
    Sync,
    Async,
}

impl CallFilter {
    fn keeps(self, start: &Record) -> bool {
        match self {
            CallFilter::All => true,
            CallFilter::Inbound => start.str("direction") == Some("inbound"),
            CallFilter::Outbound => start.str("direction") == Some("outbound"),
            CallFilter::Sync => start.str("mode") == Some("sync"),
            CallFilter::Async => start.str("mode") == Some("async"),
        }
    }
}

/// `inbound_success = { threshold = 0.95, window = "60s", samples_min = 1 }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundSuccess {
    /// Least share of inbound calls ending 2xx. Default 0.95.
    #[serde(default = "default_success_threshold")]
    pub threshold: f64,
    /// Default 60s.
    #[serde(default = "default_window")]
    pub window: Dur,
    /// Fewest ended inbound calls for a window to be judged. Default 1.
    #[serde(default = "default_samples_min")]
    pub samples_min: u64,
}

/// `lb_health = { threshold = 1, window = "30s", targets = [] }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LbHealth {
    /// Fewest unhealthy targets that make the alarm. Default 1.
    #[serde(default = "default_unhealthy_min")]
    pub threshold: u64,
    /// How long they must stay unhealthy. Default 30s.
    #[serde(default = "default_health_window")]
    pub window: Dur,
    /// Targets (hosts, or sections such as `lb`) to watch; empty: all.
    #[serde(default)]
    pub targets: Vec<String>,
}

fn default_error_threshold() -> f64 {
    0.05
}
fn default_duration_threshold() -> f64 {
    0.5
}
fn default_success_threshold() -> f64 {
    0.95
}
fn default_window() -> Dur {
    Dur::from_secs(60)
}
fn default_health_window() -> Dur {
    Dur::from_secs(30)
}
fn default_samples_min() -> u64 {
    1
}
fn default_unhealthy_min() -> u64 {
    1
}

/// Checks `[monitors]`: known names and valid parameters.
pub fn validate_config(configured: &BTreeMap<String, toml::Value>) -> Result<(), FieldError> {
    for (name, value) in configured {
        let f = format!("monitors.{name}");
        if let toml::Value::Boolean(false) = value {
            continue;
        }
        match name.as_str() {
            API_5XX | RPC_ERRORS => {
                let p: ErrorRate = params(value, &f)?;
                check_ratio(p.threshold, &format!("{f}.threshold"))?;
                check_positive(p.window, &format!("{f}.window"))?;
            }
            CALL_DURATION => {
                let p: CallDuration = params(value, &f)?;
                check_ratio(p.threshold, &format!("{f}.threshold"))?;
                check_positive(p.window, &format!("{f}.window"))?;
                if p.baseline.is_some_and(|b| b.is_zero()) {
                    return Err(FieldError::new(format!("{f}.baseline"), "must be > 0"));
                }
            }
            INBOUND_SUCCESS => {
                let p: InboundSuccess = params(value, &f)?;
                check_ratio(p.threshold, &format!("{f}.threshold"))?;
                check_positive(p.window, &format!("{f}.window"))?;
            }
            LB_HEALTH => {
                let p: LbHealth = params(value, &f)?;
                if p.threshold == 0 {
                    return Err(FieldError::new(format!("{f}.threshold"), "must be >= 1"));
                }
            }
            _ => {
                return Err(FieldError::new(
                    f,
                    format!("unknown monitor; known: {}", KNOWN.join(", ")),
                ))
            }
        }
    }
    Ok(())
}

/// Every firing of the configured monitors over `history` (a run that
/// lasted `end_ms`), in time order.
pub fn evaluate_with(
    monitors: &BTreeMap<String, toml::Value>,
    history: &History,
    end_ms: u64,
) -> Vec<Firing> {
    let history = &*super::time_ordered(history);
    let mut out = Vec::new();
    for (name, value) in monitors {
        if let toml::Value::Boolean(false) = value {
            continue;
        }
        let f = format!("monitors.{name}");
        match name.as_str() {
            API_5XX => {
                let p: ErrorRate = valid(value, &f);
                let samples = history.of_kind("api.response").map(|r| {
                    (
                        r.t_ms,
                        r.u64("status").is_some_and(|s| (500..600).contains(&s)),
                    )
                });
                out.extend(error_rate(name, &p, samples, end_ms));
            }
            RPC_ERRORS => {
                let p: ErrorRate = valid(value, &f);
                let samples = history
                    .of_kind("rpc.response")
                    .map(|r| (r.t_ms, r.str("outcome") != Some("ok")));
                out.extend(error_rate(name, &p, samples, end_ms));
            }
            CALL_DURATION => {
                let p: CallDuration = valid(value, &f);
                out.extend(call_duration(&p, history, end_ms));
            }
            INBOUND_SUCCESS => {
                let p: InboundSuccess = valid(value, &f);
                out.extend(inbound_success(&p, history, end_ms));
            }
            LB_HEALTH => {
                let p: LbHealth = valid(value, &f);
                out.extend(lb_health(&p, history, end_ms));
            }
            _ => {}
        }
    }
    out.sort_by(|a, b| (a.at_ms, &a.monitor).cmp(&(b.at_ms, &b.monitor)));
    out
}

fn valid<T: serde::de::DeserializeOwned>(value: &toml::Value, field: &str) -> T {
    params(value, field).expect("monitors are validated when the scenario loads")
}

/// Windowed evaluation shared by the rate monitors: `judge` gets a
/// window's samples and says (breach, value) or `None` (not judged).
fn windows<S>(
    monitor: &str,
    threshold: f64,
    window: Dur,
    end_ms: u64,
    samples: impl Iterator<Item = (u64, S)>,
    mut judge: impl FnMut(&[S]) -> Option<(bool, f64)>,
) -> Vec<Firing> {
    let window_ms = window.as_millis().max(1);
    let mut buckets: BTreeMap<u64, Vec<S>> = BTreeMap::new();
    for (t, s) in samples {
        buckets.entry(t / window_ms).or_default().push(s);
    }
    let mut out = Vec::new();
    let mut in_breach = false;
    let last = end_ms.saturating_sub(1) / window_ms;
    for index in 0..=last {
        let Some(samples) = buckets.get(&index) else {
            continue;
        };
        let Some((breach, value)) = judge(samples) else {
            continue;
        };
        if breach && !in_breach {
            out.push(Firing {
                monitor: monitor.to_string(),
                at_ms: ((index + 1) * window_ms).min(end_ms),
                value,
                threshold,
            });
        }
        in_breach = breach;
    }
    out
}

fn error_rate(
    monitor: &str,
    p: &ErrorRate,
    samples: impl Iterator<Item = (u64, bool)>,
    end_ms: u64,
) -> Vec<Firing> {
    windows(monitor, p.threshold, p.window, end_ms, samples, |s| {
        if (s.len() as u64) < p.samples_min.max(1) {
            return None;
        }
        let rate = s.iter().filter(|e| **e).count() as f64 / s.len() as f64;
        Some((rate > p.threshold, rate))
    })
}

fn call_duration(p: &CallDuration, history: &History, end_ms: u64) -> Vec<Firing> {
    let mut starts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut samples = Vec::new();
    for r in &history.records {
        let Some(call) = r.call() else { continue };
        if r.is("call.start") {
            if p.calls.keeps(r) {
                starts.entry(call).or_insert(r.t_ms);
            }
        } else if r.is("call.end") {
            if let Some(start) = starts.remove(call) {
                samples.push((r.t_ms, (r.t_ms - start) as f64));
            }
        }
    }
    let mut baseline_ms = p.baseline.map(|b| b.as_millis() as f64);
    let mut firings = windows(
        CALL_DURATION,
        p.threshold,
        p.window,
        end_ms,
        samples.into_iter(),
        |s| {
            if (s.len() as u64) < p.samples_min.max(1) {
                return None;
            }
            let mean = s.iter().sum::<f64>() / s.len() as f64;
            match baseline_ms {
                None => {
                    baseline_ms = Some(mean);
                    Some((false, mean))
                }
                Some(base) => Some((mean < p.threshold * base, mean)),
            }
        },
    );
    // Report the threshold in ms, as the value is.
    let base = baseline_ms.unwrap_or(0.0);
    for f in &mut firings {
        f.threshold = p.threshold * base;
    }
    firings
}

fn inbound_success(p: &InboundSuccess, history: &History, end_ms: u64) -> Vec<Firing> {
    let inbound: std::collections::BTreeSet<&str> = history
        .of_kind("call.start")
        .filter(|r| r.str("direction") == Some("inbound"))
        .filter_map(Record::call)
        .collect();
    let samples = history
        .of_kind("call.end")
        .filter(|r| r.call().is_some_and(|c| inbound.contains(c)))
        .map(|r| {
            (
                r.t_ms,
                crate::history::EndOutcome::of_record(r) == crate::history::EndOutcome::Completed,
            )
        });
    windows(
        INBOUND_SUCCESS,
        p.threshold,
        p.window,
        end_ms,
        samples,
        |s| {
            if (s.len() as u64) < p.samples_min.max(1) {
                return None;
            }
            let ratio = s.iter().filter(|ok| **ok).count() as f64 / s.len() as f64;
            Some((ratio < p.threshold, ratio))
        },
    )
}

fn watched(target: &str, targets: &[String]) -> bool {
    targets.is_empty()
        || targets.iter().any(|t| {
            target == t
                || target
                    .strip_prefix(t.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
}

fn lb_health(p: &LbHealth, history: &History, end_ms: u64) -> Vec<Firing> {
    let window_ms = p.window.as_millis();
    let mut health: BTreeMap<(&str, &str), bool> = BTreeMap::new();
    // Changes of the unhealthy count, in time order.
    let mut counts: Vec<(u64, u64)> = Vec::new();
    for r in history.of_kind("health.change") {
        let (Some(target), Some(healthy)) = (r.str("target"), r.bool("healthy")) else {
            continue;
        };
        if !watched(target, &p.targets) {
            continue;
        }
        health.insert((&r.host, target), healthy);
        counts.push((r.t_ms, health.values().filter(|h| !**h).count() as u64));
    }
    let mut out = Vec::new();
    let mut above_since: Option<(u64, u64)> = None;
    let mut fired = false;
    let check = |since: Option<(u64, u64)>, until: u64, fired: &mut bool, out: &mut Vec<Firing>| {
        if let Some((from, count)) = since {
            if !*fired && from + window_ms <= until.min(end_ms) {
                out.push(Firing {
                    monitor: LB_HEALTH.into(),
                    at_ms: from + window_ms,
                    value: count as f64,
                    threshold: p.threshold as f64,
                });
                *fired = true;
            }
        }
    };
    for (t, count) in counts {
        let above = count >= p.threshold;
        match (above, above_since) {
            (true, None) => {
                above_since = Some((t, count));
                fired = false;
            }
            (true, Some((from, old))) => above_since = Some((from, old.max(count))),
            (false, Some(_)) => {
                check(above_since, t, &mut fired, &mut out);
                above_since = None;
            }
            (false, None) => {}
        }
    }
    check(above_since, end_ms, &mut fired, &mut out);
    out
}

/// The `alert.fire` record of a firing.
pub fn record(firing: &Firing) -> Record {
    Record::new(
        firing.at_ms,
        HOST,
        "alert.fire",
        vec![
            ("monitor", Value::Str(firing.monitor.as_str().into())),
            ("value", Value::F64(firing.value)),
            ("threshold", Value::F64(firing.threshold)),
        ],
    )
}

/// Merges the firings' `alert.fire` records into the history in time order
/// (after every event of the same millisecond).
pub fn merge(history: &mut History, firings: &[Firing]) {
    if firings.is_empty() {
        return;
    }
    let mut merged = Vec::with_capacity(history.records.len() + firings.len());
    let mut pending = firings.iter().peekable();
    for r in history.records.drain(..) {
        while let Some(f) = pending.next_if(|f| f.at_ms < r.t_ms) {
            merged.push(record(f));
        }
        merged.push(r);
    }
    merged.extend(pending.map(record));
    history.records = merged;
}

/// The JSON Schema of `[monitors]`: one property per monitor in [`KNOWN`],
/// each `true` (its defaults), `false` (off) or its parameters table, the
/// same readings as [`validate_config`]'s.
pub fn config_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    use schemars::JsonSchema;
    let mut properties = serde_json::Map::new();
    for name in KNOWN {
        let params = match name {
            API_5XX | RPC_ERRORS => ErrorRate::json_schema(generator),
            CALL_DURATION => CallDuration::json_schema(generator),
            INBOUND_SUCCESS => InboundSuccess::json_schema(generator),
            LB_HEALTH => LbHealth::json_schema(generator),
            other => unreachable!("monitor {other} has no parameters type"),
        };
        properties.insert(
            name.to_string(),
            serde_json::json!({
                "description": format!("`{name}`: `true` for its defaults, `false` off, a table sets its parameters."),
                "anyOf": [ { "type": "boolean" }, params.to_value() ],
            }),
        );
    }
    schemars::json_schema!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::{Direction, Mode};
    use crate::history::Event;
    use crate::oracles::testkit::Script;
    use crate::scenario::Scenario;

    fn monitors(text: &str) -> BTreeMap<String, toml::Value> {
        toml::from_str(text).expect("toml")
    }

    /// One API response per second for 120 s; those in [from, to) are 503.
    fn api(from: u64, to: u64) -> History {
        let mut s = Script::new();
        for i in 0..120u64 {
            let t = i * 1000;
            let status = if (from..to).contains(&t) { 503 } else { 200 };
            s.api_response(t, "out-1", status);
        }
        s.history()
    }

    #[test]
    fn api_5xx_rate_fires_at_the_end_of_the_breaching_window() {
        let m = monitors("api_5xx_rate = { threshold = 0.05, window = \"60s\" }");
        let f = evaluate_with(&m, &api(70_000, 80_000), 120_000);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].at_ms, 120_000);
        assert!((f[0].value - 10.0 / 60.0).abs() < 1e-9);
        assert_eq!(f[0].threshold, 0.05);
    }

    #[test]
    fn api_5xx_rate_below_threshold_is_silent() {
        let m = monitors("api_5xx_rate = { threshold = 0.05, window = \"60s\" }");
        assert_eq!(evaluate_with(&m, &api(70_000, 72_000), 120_000), vec![]);
        assert_eq!(evaluate_with(&m, &api(0, 0), 120_000), vec![]);
    }

    #[test]
    fn one_alert_per_episode() {
        let m = monitors("api_5xx_rate = { threshold = 0.05, window = \"10s\" }");
        // Breach over 30 s (three windows), then recovery, then again.
        let mut s = Script::new();
        for i in 0..120u64 {
            let t = i * 1000;
            let bad = (20_000..50_000).contains(&t) || (90_000..95_000).contains(&t);
            s.at(
                t,
                "gateway",
                Event::ApiResponse {
                    call: "out-1",
                    method: "m",
                    status: if bad { 500 } else { 200 },
                },
            );
        }
        let f = evaluate_with(&m, &s.history(), 120_000);
        assert_eq!(
            f.iter().map(|f| f.at_ms).collect::<Vec<_>>(),
            vec![30_000, 100_000]
        );
    }

    #[test]
    fn rpc_error_rate_counts_outcomes_other_than_ok() {
        let m = monitors("rpc_error_rate = { threshold = 0.1, window = \"60s\" }");
        let history = |bad: u64| {
            let mut s = Script::new();
            for i in 0..10u64 {
                let outcome = if i < bad { "timeout" } else { "ok" };
                s.at(
                    i * 100,
                    "gateway",
                    Event::RpcResponse {
                        call: "out-1",
                        method: "Dial",
                        deadline_ms: 0,
                        outcome,
                    },
                );
            }
            s.history()
        };
        assert_eq!(evaluate_with(&m, &history(1), 60_000), vec![]);
        let f = evaluate_with(&m, &history(2), 60_000);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].monitor, "rpc_error_rate");
    }

    /// Calls of `duration_ms` each, started every 5 s from `t0` to `t1`.
    fn durations(s: &mut Script, ids: &mut u64, t0: u64, t1: u64, duration_ms: u64) {
        let mut t = t0;
        while t < t1 {
            *ids += 1;
            let call: &'static str = Box::leak(format!("out-{ids}").into_boxed_str());
            s.outbound_start(t, call, Mode::Sync, 30_000);
            s.at(
                t + duration_ms,
                "gateway",
                Event::CallEnd {
                    call,
                    status: 200,
                    reason: "",
                    outcome: crate::history::EndOutcome::of_status(200),
                },
            );
            t += 5000;
        }
    }

    #[test]
    fn call_duration_fires_when_the_mean_drops() {
        let m =
            monitors("call_duration = { threshold = 0.5, baseline = \"40s\", window = \"60s\" }");
        let mut ids = 0;
        let mut s = Script::new();
        durations(&mut s, &mut ids, 0, 5000, 40_000);
        let normal = s.history();
        assert_eq!(evaluate_with(&m, &normal, 180_000), vec![]);
        let mut s = Script::new();
        durations(&mut s, &mut ids, 0, 5000, 40_000);
        durations(&mut s, &mut ids, 60_000, 115_000, 3000);
        let dropped = s.history();
        let f = evaluate_with(&m, &dropped, 180_000);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].at_ms, 120_000);
        assert_eq!(f[0].value, 3000.0);
        assert_eq!(f[0].threshold, 20_000.0);
    }

    #[test]
    fn call_duration_can_average_one_kind_of_call() {
        let m = monitors(
            "call_duration = { threshold = 0.5, baseline = \"40s\", window = \"60s\", calls = \"async\" }",
        );
        let mut ids = 0;
        let mut s = Script::new();
        durations(&mut s, &mut ids, 60_000, 115_000, 3000);
        // The short calls are sync: an async-only dashboard sees nothing.
        assert_eq!(evaluate_with(&m, &s.history(), 180_000), vec![]);
        let m = monitors(
            "call_duration = { threshold = 0.5, baseline = \"40s\", window = \"60s\", calls = \"sync\" }",
        );
        assert_eq!(evaluate_with(&m, &s.history(), 180_000).len(), 1);
    }

    #[test]
    fn call_duration_learns_its_baseline() {
        let m = monitors("call_duration = { threshold = 0.5, window = \"60s\" }");
        let mut ids = 0;
        let mut s = Script::new();
        durations(&mut s, &mut ids, 0, 20_000, 30_000);
        durations(&mut s, &mut ids, 60_000, 100_000, 5000);
        let f = evaluate_with(&m, &s.history(), 180_000);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].threshold, 15_000.0);
    }

    #[test]
    fn inbound_success_fires_below_threshold() {
        let m = monitors("inbound_success = { threshold = 0.9, window = \"60s\" }");
        let history = |failed: usize| {
            let mut s = Script::new();
            const IDS: [&str; 10] = [
                "in-1", "in-2", "in-3", "in-4", "in-5", "in-6", "in-7", "in-8", "in-9", "in-10",
            ];
            for (i, call) in IDS.iter().enumerate() {
                let t = i as u64 * 1000;
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
                s.at(
                    t + 10,
                    "carrier",
                    Event::CallEnd {
                        call,
                        status: if i < failed { 503 } else { 200 },
                        reason: "",
                        outcome: crate::history::EndOutcome::of_status(if i < failed {
                            503
                        } else {
                            200
                        }),
                    },
                );
            }
            s.history()
        };
        assert_eq!(evaluate_with(&m, &history(1), 60_000), vec![]);
        let f = evaluate_with(&m, &history(2), 60_000);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].at_ms, 60_000);
    }

    #[test]
    fn lb_health_fires_after_the_window_and_not_for_blips() {
        let m = monitors("lb_health = { threshold = 1, window = \"30s\", targets = [\"lb\"] }");
        let mut s = Script::new();
        s.at(
            10_000,
            "prober",
            Event::HealthChange {
                target: "lb-1",
                healthy: false,
            },
        );
        s.at(
            20_000,
            "prober",
            Event::HealthChange {
                target: "lb-1",
                healthy: true,
            },
        );
        s.at(
            30_000,
            "lb-1",
            Event::HealthChange {
                target: "sip-1",
                healthy: false,
            },
        );
        assert_eq!(evaluate_with(&m, &s.history(), 120_000), vec![]);
        s.at(
            50_000,
            "prober",
            Event::HealthChange {
                target: "lb-2",
                healthy: false,
            },
        );
        let f = evaluate_with(&m, &s.history(), 120_000);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].at_ms, 80_000);
        assert_eq!(evaluate_with(&m, &s.history(), 70_000), vec![]);
    }

    #[test]
    fn merge_keeps_time_order() {
        let mut h = api(0, 0);
        let firings = [
            Firing {
                monitor: "a".into(),
                at_ms: 0,
                value: 1.0,
                threshold: 0.5,
            },
            Firing {
                monitor: "b".into(),
                at_ms: 60_500,
                value: 1.0,
                threshold: 0.5,
            },
            Firing {
                monitor: "c".into(),
                at_ms: 500_000,
                value: 1.0,
                threshold: 0.5,
            },
        ];
        merge(&mut h, &firings);
        assert_eq!(h.len(), 123);
        assert!(h.records.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
        let alerts: Vec<_> = h
            .of_kind("alert.fire")
            .map(|r| (r.t_ms, r.str("monitor").unwrap_or("")))
            .collect();
        assert_eq!(alerts, vec![(0, "a"), (60_500, "b"), (500_000, "c")]);
        assert_eq!(h.records[1].kind(), "alert.fire");
        assert_eq!(&*h.of_kind("alert.fire").next().expect("one").host, HOST);
    }

    #[test]
    fn report_build_fills_alerts_and_merges_alert_records() {
        let text = "[run]\nduration = \"120s\"\n[nodes.pinger]\n[nodes.echo]\n[oracles]\ndatagrams_answered = { ratio_min = 0.0 }\n[monitors]\napi_5xx_rate = { threshold = 0.05, window = \"60s\" }\n";
        let scenario = Scenario::from_toml(text, "t.toml".as_ref()).expect("valid");
        let mut history = api(70_000, 80_000);
        // datagrams_answered needs one datagram to judge.
        history.records.insert(
            0,
            crate::history::Record::new(
                0,
                "pinger",
                "net.datagram",
                vec![("dir", Value::Str("send".into()))],
            ),
        );
        let output = crate::testbed::RunOutput {
            history,
            seed: 1,
            sim_ms: 120_000,
            hosts: 2,
            tick_ms: 10,
            applied: Vec::new(),
        };
        let report = crate::report::Report::build(&scenario, output, 0);
        assert_eq!(
            report.alerts,
            vec![crate::report::Alert {
                monitor: "api_5xx_rate".into(),
                at_ms: 120_000
            }]
        );
        let fired: Vec<_> = report.history.of_kind("alert.fire").collect();
        assert_eq!(fired.len(), 1);
        assert_eq!(&*fired[0].host, HOST);
        assert_eq!(fired[0].f64("threshold"), Some(0.05));
        assert_eq!(report.violations, vec![]);
    }

    #[test]
    fn bad_monitor_config_names_its_field() {
        let load = |m: &str| {
            let text = format!("[run]\nduration = \"5s\"\n[nodes.pinger]\n[nodes.echo]\n[oracles]\ndatagrams_answered = {{ ratio_min = 0.5 }}\n[monitors]\n{m}\n");
            Scenario::from_toml(&text, "t.toml".as_ref())
        };
        assert!(load("api_5xx_rate = { threshold = 0.05 }").is_ok());
        assert_eq!(
            load("api_5xx = {}").expect_err("x").field,
            "monitors.api_5xx"
        );
        assert_eq!(
            load("api_5xx_rate = { treshold = 0.05 }")
                .expect_err("x")
                .field,
            "monitors.api_5xx_rate.treshold"
        );
        assert_eq!(
            load("call_duration = { baseline = \"0s\" }")
                .expect_err("x")
                .field,
            "monitors.call_duration.baseline"
        );
        assert_eq!(
            load("inbound_success = { threshold = 2.0 }")
                .expect_err("x")
                .field,
            "monitors.inbound_success.threshold"
        );
    }
}
