//! `retry_amplification`: retries do not multiply the load.
//!
//! Two bounds, over the whole run:
//! - **attempts per call**: no call id is tried more than
//!   `attempts_per_call_max` times;
//! - **offered per successful load**: all attempts, divided by the
//!   attempts that got a 2xx, stay at most `offered_per_success_max` (a run
//!   where retries fire into an overloaded platform offers it many times
//!   the work it gets done).
//!
//! Attempts are counted where the customer made them, `client.attempt`
//! (client profiles, `nodes::clients`), and successes by `client.response`
//! 2xx; a history without client events is judged at the gateway instead
//! (`api.request` per call, `api.response` 2xx). The ratio is judged only
//! once at least `attempts_min` attempts were made, so that a handful of
//! calls cannot trip it by chance.

use super::{OracleKind, Violation};
use crate::history::History;
use crate::sim::FieldError;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const NAME: &str = "retry_amplification";

/// `retry_amplification = { attempts_per_call_max = 3,
/// offered_per_success_max = 2.0, attempts_min = 20 }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Most attempts of one call id (>= 1). Default 3.
    #[serde(default = "default_attempts_per_call_max")]
    pub attempts_per_call_max: u32,
    /// Most attempts per successful (2xx) attempt (>= 1). Default 2.
    #[serde(default = "default_offered_per_success_max")]
    pub offered_per_success_max: f64,
    /// Fewest attempts for the ratio to be judged. Default 20.
    #[serde(default = "default_attempts_min")]
    pub attempts_min: u32,
}

fn default_attempts_per_call_max() -> u32 {
    3
}
fn default_offered_per_success_max() -> f64 {
    2.0
}
fn default_attempts_min() -> u32 {
    20
}

impl Params {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if self.attempts_per_call_max == 0 {
            return Err(FieldError::new(
                format!("{field}.attempts_per_call_max"),
                "must be >= 1",
            ));
        }
        if !(self.offered_per_success_max >= 1.0 && self.offered_per_success_max.is_finite()) {
            return Err(FieldError::new(
                format!("{field}.offered_per_success_max"),
                format!("{} is below 1", self.offered_per_success_max),
            ));
        }
        Ok(())
    }
}

pub fn check(history: &History, params: &Params) -> Vec<Violation> {
    let client = history.records.iter().any(|r| r.is("client.attempt"));
    let (attempt_kind, response_kind) = if client {
        ("client.attempt", "client.response")
    } else {
        ("api.request", "api.response")
    };
    // call -> (attempts, time of the first attempt over the bound)
    let mut per_call: BTreeMap<&str, (u32, Option<u64>)> = BTreeMap::new();
    let mut offered = 0u64;
    let mut succeeded = 0u64;
    let mut last_ms = 0;
    for r in &history.records {
        let Some(call) = r.call() else { continue };
        if r.is(attempt_kind) {
            offered += 1;
            last_ms = r.t_ms;
            let entry = per_call.entry(call).or_insert((0, None));
            entry.0 += 1;
            if entry.0 > params.attempts_per_call_max && entry.1.is_none() {
                entry.1 = Some(r.t_ms);
            }
        } else if r.is(response_kind) && r.u64("status").is_some_and(|s| (200..300).contains(&s)) {
            succeeded += 1;
        }
    }
    let mut out = Vec::new();
    for (call, (attempts, over_at)) in &per_call {
        if let Some(at) = over_at {
            out.push(Violation::new(
                NAME,
                OracleKind::Safety,
                *at,
                Some(call),
                format!(
                    "{attempts} attempts of one call, more than {}",
                    params.attempts_per_call_max
                ),
            ));
        }
    }
    if offered >= params.attempts_min as u64 {
        let ratio = offered as f64 / succeeded.max(1) as f64;
        if succeeded == 0 || ratio > params.offered_per_success_max {
            out.push(Violation::new(
                NAME,
                OracleKind::Safety,
                last_ms,
                None,
                format!(
                    "{offered} attempts for {} calls offered {ratio:.2} times the successful load ({succeeded} attempts got a 2xx), more than {}",
                    per_call.len(),
                    params.offered_per_success_max
                ),
            ));
        }
    }
    out.sort_by_key(|v| v.at_ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    fn p(per_call: u32, ratio: f64, min: u32) -> Params {
        Params {
            attempts_per_call_max: per_call,
            offered_per_success_max: ratio,
            attempts_min: min,
        }
    }

    /// `call` tried `n` times by a client, the last attempt answered `last`.
    fn tried(s: &mut Script, t: u64, call: &'static str, n: u32, last: u16) {
        for a in 1..=n {
            let at = t + a as u64 * 10;
            s.at(
                at,
                "agent",
                Event::ClientAttempt {
                    call,
                    client: "c",
                    attempt: a,
                },
            );
            let status = if a == n { last } else { 503 };
            s.at(
                at + 5,
                "agent",
                Event::ClientResponse {
                    call,
                    attempt: a,
                    status,
                    ms: 5,
                },
            );
        }
    }

    #[test]
    fn few_retries_are_quiet() {
        let mut s = Script::new();
        tried(&mut s, 0, "out-1", 1, 200);
        tried(&mut s, 100, "out-2", 2, 200);
        tried(&mut s, 200, "out-3", 3, 200);
        assert_eq!(check(&s.history(), &p(3, 2.0, 1)), vec![]);
    }

    #[test]
    fn a_call_tried_too_often_fires_once_at_the_attempt_over() {
        let mut s = Script::new();
        tried(&mut s, 0, "out-1", 6, 200);
        let v = check(&s.history(), &p(3, 10.0, 1));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].at_ms, 40);
        assert_eq!(v[0].call.as_deref(), Some("out-1"));
    }

    #[test]
    fn offered_load_over_successes_fires_past_the_minimum() {
        let mut s = Script::new();
        tried(&mut s, 0, "out-1", 3, 200);
        tried(&mut s, 100, "out-2", 3, 503);
        // 6 attempts, 1 success: ratio 6.
        let v = check(&s.history(), &p(3, 2.0, 1));
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("6.00 times"), "{}", v[0].message);
        // Under the minimum, not judged.
        assert_eq!(check(&s.history(), &p(3, 2.0, 7)), vec![]);
    }

    #[test]
    fn without_client_events_the_gateway_counts() {
        let mut s = Script::new();
        for a in 1..=4u32 {
            let t = a as u64 * 100;
            s.at(
                t,
                "gateway",
                Event::Attempted {
                    attempt: a,
                    event: Box::new(Event::ApiRequest {
                        call: "out-1",
                        method: "CreateSIPParticipant",
                    }),
                },
            );
            s.api_response(t + 1, "out-1", 503);
        }
        let v = check(&s.history(), &p(3, 100.0, 100));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].at_ms, 400);
    }

    #[test]
    fn bad_params_name_their_field() {
        let e = p(0, 2.0, 1)
            .validate("oracles.retry_amplification")
            .expect_err("0");
        assert_eq!(e.field, "oracles.retry_amplification.attempts_per_call_max");
        let e = p(3, 0.5, 1)
            .validate("oracles.retry_amplification")
            .expect_err("0.5");
        assert_eq!(
            e.field,
            "oracles.retry_amplification.offered_per_success_max"
        );
    }
}
