//! Oracles: properties checked over a run's history. They only observe.
//!
//! Each oracle is fed the finished history and returns its violations.
//! Safety oracles must hold at every moment; liveness oracles are judged
//! after the faults heal. `[oracles]` in a scenario switches oracles on
//! (`name = { params }`) or, for the defaults of CONTRACTS.md, off
//! (`name = false`).

use crate::history::{ladder::ladder, History};
use crate::scenario::{Dur, FieldError, Scenario, DEFAULT_ORACLES};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Safety (must hold at every moment) or liveness (must hold after heal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OracleKind {
    Safety,
    Liveness,
}

/// One broken property.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub oracle: String,
    pub kind: OracleKind,
    pub at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    pub message: String,
    /// The ladder diagram of the offending call (empty for non-call
    /// properties).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ladder: String,
}

impl Violation {
    fn new(
        oracle: &str,
        kind: OracleKind,
        at_ms: u64,
        call: Option<&str>,
        message: String,
    ) -> Violation {
        Violation {
            oracle: oracle.to_string(),
            kind,
            at_ms,
            call: call.map(str::to_string),
            message,
            ladder: String::new(),
        }
    }
}

/// `every_call_terminates = { bound = "120s" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EveryCallTerminates {
    /// Longest a call may last from `call.start` to `call.end`. A call that
    /// started less than `bound` before the end of the run is not judged.
    #[serde(default = "default_bound")]
    pub bound: Dur,
}

fn default_bound() -> Dur {
    Dur::from_secs(300)
}

/// `datagrams_answered = { ratio_min = 0.95 }` (harness self-test): the
/// share of pinger datagrams whose echo came back.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatagramsAnswered {
    pub ratio_min: f64,
}

/// The names this build knows.
pub const KNOWN: [&str; 4] = [
    "every_call_terminates",
    "honest_status",
    "sip_conformance",
    "datagrams_answered",
];

/// The oracles in force: the defaults unless switched off, plus those named.
pub fn active(scenario: &Scenario) -> BTreeMap<String, toml::Value> {
    let mut out = BTreeMap::new();
    for name in DEFAULT_ORACLES {
        out.insert(name.to_string(), toml::Value::Table(Default::default()));
    }
    for (name, value) in &scenario.oracles {
        match value {
            toml::Value::Boolean(false) => {
                out.remove(name);
            }
            toml::Value::Boolean(true) => {
                out.insert(name.clone(), toml::Value::Table(Default::default()));
            }
            other => {
                out.insert(name.clone(), other.clone());
            }
        }
    }
    out
}

/// Checks `[oracles]`: known names, valid parameters, at least one oracle.
pub fn validate_config(scenario: &Scenario) -> Result<(), FieldError> {
    for (name, value) in &scenario.oracles {
        let field = format!("oracles.{name}");
        if !KNOWN.contains(&name.as_str()) {
            return Err(FieldError::new(
                field,
                format!("unknown oracle; known: {}", KNOWN.join(", ")),
            ));
        }
        if let toml::Value::Boolean(_) = value {
            continue;
        }
        let result = match name.as_str() {
            "every_call_terminates" => value.clone().try_into::<EveryCallTerminates>().map(|_| ()),
            "datagrams_answered" => value.clone().try_into::<DatagramsAnswered>().map(|_| ()),
            _ => Ok(()),
        };
        result.map_err(|e| FieldError::new(field, e.message().to_string()))?;
    }
    if active(scenario).is_empty() {
        return Err(FieldError::new(
            "oracles",
            "every oracle is switched off; a scenario must check at least one property",
        ));
    }
    Ok(())
}

/// Runs every active oracle over the history.
pub fn evaluate(scenario: &Scenario, history: &History) -> Vec<Violation> {
    let end_ms = scenario.run.duration.as_millis();
    let mut violations = Vec::new();
    for (name, params) in active(scenario) {
        match name.as_str() {
            "every_call_terminates" => {
                let p: EveryCallTerminates = params.try_into().expect("validated");
                violations.extend(every_call_terminates(history, p.bound.as_millis(), end_ms));
            }
            "datagrams_answered" => {
                let p: DatagramsAnswered = params.try_into().expect("validated");
                violations.extend(datagrams_answered(history, p.ratio_min));
            }
            _ => {}
        }
    }
    for v in &mut violations {
        if let Some(call) = &v.call {
            v.ladder = ladder(history, call);
        }
    }
    violations.sort_by(|a, b| (a.at_ms, &a.oracle).cmp(&(b.at_ms, &b.oracle)));
    violations
}

/// Every `call.start` has a `call.end` within `bound_ms`.
pub fn every_call_terminates(history: &History, bound_ms: u64, end_ms: u64) -> Vec<Violation> {
    let mut open: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for r in &history.records {
        let Some(call) = r.call() else { continue };
        if r.is("call.start") {
            open.insert(call, r.t_ms);
        } else if r.is("call.end") {
            if let Some(start) = open.remove(call) {
                if r.t_ms - start > bound_ms {
                    out.push(Violation::new(
                        "every_call_terminates",
                        OracleKind::Safety,
                        r.t_ms,
                        Some(call),
                        format!(
                            "call lasted {} ms, more than the bound {bound_ms} ms",
                            r.t_ms - start
                        ),
                    ));
                }
            }
        }
    }
    for (call, start) in open {
        if start + bound_ms <= end_ms {
            out.push(Violation::new(
                "every_call_terminates",
                OracleKind::Safety,
                start + bound_ms,
                Some(call),
                format!("call started at {start} ms and had not ended {bound_ms} ms later"),
            ));
        }
    }
    out
}

/// The share of datagrams the pinger sent whose echo came back.
pub fn datagrams_answered(history: &History, ratio_min: f64) -> Vec<Violation> {
    let sent = history
        .of_kind("net.datagram")
        .filter(|r| r.str("dir") == Some("send"))
        .count();
    let received = history
        .of_kind("net.datagram")
        .filter(|r| r.str("dir") == Some("recv"))
        .count();
    if sent == 0 {
        return vec![Violation::new(
            "datagrams_answered",
            OracleKind::Liveness,
            0,
            None,
            "no datagram was sent".into(),
        )];
    }
    let ratio = received as f64 / sent as f64;
    if ratio < ratio_min {
        let at_ms = history.records.last().map(|r| r.t_ms).unwrap_or(0);
        return vec![Violation::new(
            "datagrams_answered",
            OracleKind::Liveness,
            at_ms,
            None,
            format!("{received} of {sent} datagrams answered ({ratio:.3}), below {ratio_min}"),
        )];
    }
    Vec::new()
}
