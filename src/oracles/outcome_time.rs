//! `time_to_outcome`: every call, or API request, reaches an outcome within
//! a bound from its start, and a refusal comes fast.
//!
//! A refusal is a status of 429 or 5xx: the platform said "not now". An
//! honest refusal that takes long is still a failure of the platform (a
//! caller held 30 s for a 503 could have tried elsewhere), so refusals
//! have a tighter bound of their own, `refused_bound`.
//!
//! Where it looks:
//! - **The client's view**, for calls with `client.*` events (client
//!   profiles, `nodes::clients`): the call starts at its first
//!   `client.attempt`; its outcome is its last `client.response` (no
//!   attempt after it) or its `client.gave_up`. It must come within
//!   `bound`. Each `client.response` with a refusal status must have come
//!   within `refused_bound` of its attempt's start (its `ms`).
//! - **The platform's view**, for other calls: each API request
//!   (`api.request`, per call and `attempt`) must get its `api.response`
//!   (or, when the client went away first, its `call.end`) within `bound`, and a refusal within `refused_bound`; an inbound call
//!   (`call.start` inbound) must be answered (`call.answered`) or end
//!   within `bound`, and a refusal (`call.end` 429 or 5xx, unanswered)
//!   within `refused_bound`.
//!
//! A start less than `bound` before the end of the run with no outcome yet
//! is not judged.

use super::{OracleKind, Violation};
use crate::history::{History, Record};
use crate::sim::{Dur, FieldError};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const NAME: &str = "time_to_outcome";

/// `time_to_outcome = { bound = "60s", refused_bound = "10s" }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Longest from a call's (or request's) start to its outcome. Default 60s.
    #[serde(default = "default_bound")]
    pub bound: Dur,
    /// Longest from a request's start to a refusal (429 or 5xx). Default
    /// 10s; must not exceed `bound`.
    #[serde(default = "default_refused_bound")]
    pub refused_bound: Dur,
}

fn default_bound() -> Dur {
    Dur::from_secs(60)
}
fn default_refused_bound() -> Dur {
    Dur::from_secs(10)
}

impl Params {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        super::availability::check_positive(self.bound, &format!("{field}.bound"))?;
        super::availability::check_positive(self.refused_bound, &format!("{field}.refused_bound"))?;
        if self.refused_bound > self.bound {
            return Err(FieldError::new(
                format!("{field}.refused_bound"),
                format!(
                    "{} is above bound {}: a refusal is an outcome, so its bound is the tighter one",
                    self.refused_bound, self.bound
                ),
            ));
        }
        Ok(())
    }
}

/// A status that refuses: 429 or 5xx.
pub fn is_refusal(status: u64) -> bool {
    status == 429 || (500..600).contains(&status)
}

pub fn check(history: &History, params: &Params, end_ms: u64) -> Vec<Violation> {
    let bound = params.bound.as_millis();
    let refused = params.refused_bound.as_millis();
    let with_client: std::collections::BTreeSet<&str> = history
        .records
        .iter()
        .filter(|r| r.kind().starts_with("client."))
        .filter_map(Record::call)
        .collect();
    let mut out = client_view(history, bound, refused, end_ms);
    out.extend(platform_view(history, bound, refused, end_ms, &with_client));
    out.sort_by_key(|v| v.at_ms);
    out
}

fn violation(at_ms: u64, call: &str, message: String) -> Violation {
    Violation::new(NAME, OracleKind::Safety, at_ms, Some(call), message)
}

/// Calls with `client.*` events, judged as the customer saw them.
fn client_view(history: &History, bound: u64, refused: u64, end_ms: u64) -> Vec<Violation> {
    // call -> (start, outcome time and what it was)
    type Outcome = Option<(u64, String)>;
    let mut calls: BTreeMap<&str, (u64, Outcome)> = BTreeMap::new();
    let mut out = Vec::new();
    for r in &history.records {
        let Some(call) = r.call() else { continue };
        match r.kind() {
            "client.attempt" => {
                let entry = calls.entry(call).or_insert((r.t_ms, None));
                entry.1 = None;
            }
            "client.response" => {
                let status = r.u64("status").unwrap_or(0);
                let ms = r.u64("ms").unwrap_or(0);
                if is_refusal(status) && ms > refused {
                    out.push(violation(
                        r.t_ms,
                        call,
                        format!(
                            "attempt {} was refused with {status} {ms} ms after it started, more than the refusal bound {refused} ms",
                            r.u64("attempt").unwrap_or(0)
                        ),
                    ));
                }
                if let Some(entry) = calls.get_mut(call) {
                    entry.1 = Some((r.t_ms, format!("a {status}")));
                }
            }
            "client.gave_up" => {
                if let Some(entry) = calls.get_mut(call) {
                    let reason = r.str("reason").unwrap_or("?");
                    entry.1 = Some((r.t_ms, format!("giving up ({reason})")));
                }
            }
            _ => {}
        }
    }
    for (call, (start, outcome)) in calls {
        match outcome {
            Some((t, what)) if t - start > bound => out.push(violation(
                t,
                call,
                format!(
                    "the client reached its outcome, {what}, {} ms after the call's first attempt, more than the bound {bound} ms",
                    t - start
                ),
            )),
            Some(_) => {}
            None if start + bound <= end_ms => out.push(violation(
                start + bound,
                call,
                format!(
                    "the client started the call at {start} ms and had no outcome (no final response, never gave up) {bound} ms later"
                ),
            )),
            None => {}
        }
    }
    out
}

/// API requests and inbound calls of calls without client events.
fn platform_view(
    history: &History,
    bound: u64,
    refused: u64,
    end_ms: u64,
    skip: &std::collections::BTreeSet<&str>,
) -> Vec<Violation> {
    // (call, attempt) -> request time
    let mut requests: BTreeMap<(&str, u64), u64> = BTreeMap::new();
    // inbound call -> start time
    let mut inbound: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for r in &history.records {
        let Some(call) = r.call() else { continue };
        if skip.contains(call) {
            continue;
        }
        let attempt = r.u64("attempt").unwrap_or(0);
        // Judges an outcome at this record, of what started at `start`.
        let mut outcome_of = |start: u64, what: &str| {
            let status = r.u64("status").unwrap_or(0);
            judge(&mut out, call, start, r.t_ms, status, bound, refused, what);
        };
        match r.kind() {
            "api.request" => {
                requests.entry((call, attempt)).or_insert(r.t_ms);
            }
            "api.response" => {
                if let Some(start) = requests.remove(&(call, attempt)) {
                    outcome_of(start, "API request");
                }
            }
            "call.start" if r.str("direction") == Some("inbound") => {
                inbound.entry(call).or_insert(r.t_ms);
            }
            "call.answered" => {
                inbound.remove(call);
            }
            "call.end" => {
                // A request the platform never answered ends with its call
                // (the client went away: 499).
                if let Some(start) = requests.remove(&(call, attempt)) {
                    outcome_of(start, "API request");
                }
                if let Some(start) = inbound.remove(call) {
                    outcome_of(start, "inbound call");
                }
            }
            _ => {}
        }
    }
    let open = requests
        .into_iter()
        .map(|((call, _), start)| (call, start, "API request"))
        .chain(
            inbound
                .into_iter()
                .map(|(call, start)| (call, start, "inbound call")),
        );
    for (call, start, what) in open {
        if start + bound <= end_ms {
            out.push(violation(
                start + bound,
                call,
                format!("the {what} started at {start} ms had no outcome {bound} ms later"),
            ));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn judge(
    out: &mut Vec<Violation>,
    call: &str,
    start: u64,
    t: u64,
    status: u64,
    bound: u64,
    refused: u64,
    what: &str,
) {
    let took = t - start;
    if is_refusal(status) && took > refused {
        out.push(violation(
            t,
            call,
            format!("the {what} was refused with {status} {took} ms after it started, more than the refusal bound {refused} ms"),
        ));
    } else if took > bound {
        out.push(violation(
            t,
            call,
            format!("the {what} got its outcome ({status}) {took} ms after it started, more than the bound {bound} ms"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::Mode;
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    fn p(bound_s: u64, refused_s: u64) -> Params {
        Params {
            bound: Dur::from_secs(bound_s),
            refused_bound: Dur::from_secs(refused_s),
        }
    }

    fn attempt(s: &mut Script, t: u64, call: &'static str, attempt: u32) {
        s.at(
            t,
            "agent",
            Event::ClientAttempt {
                call,
                client: "c",
                attempt,
            },
        );
    }

    fn response(s: &mut Script, t: u64, call: &'static str, attempt: u32, status: u16, ms: u64) {
        s.at(
            t,
            "agent",
            Event::ClientResponse {
                call,
                attempt,
                status,
                ms,
            },
        );
    }

    fn api(s: &mut Script, t0: u64, t1: u64, call: &'static str, status: u16) {
        let method = "CreateSIPParticipant";
        s.at(t0, "gateway", Event::ApiRequest { call, method });
        s.api_response(t1, call, status);
    }

    #[test]
    fn fast_outcomes_are_quiet() {
        let mut s = Script::new();
        attempt(&mut s, 0, "out-1", 1);
        response(&mut s, 300, "out-1", 1, 503, 300);
        attempt(&mut s, 1300, "out-1", 2);
        response(&mut s, 5000, "out-1", 2, 200, 3700);
        api(&mut s, 0, 2000, "out-2", 503);
        assert_eq!(check(&s.history(), &p(60, 10), 120_000), vec![]);
    }

    #[test]
    fn a_slow_refusal_fires_even_when_honest() {
        let mut s = Script::new();
        attempt(&mut s, 0, "out-1", 1);
        response(&mut s, 30_000, "out-1", 1, 503, 30_000);
        let v = check(&s.history(), &p(60, 10), 120_000);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("refusal bound"), "{}", v[0].message);
        // A slow success under the general bound is fine.
        let mut s = Script::new();
        attempt(&mut s, 0, "out-1", 1);
        response(&mut s, 30_000, "out-1", 1, 200, 30_000);
        assert_eq!(check(&s.history(), &p(60, 10), 120_000), vec![]);
    }

    #[test]
    fn a_slow_platform_refusal_fires_without_client_events() {
        let mut s = Script::new();
        api(&mut s, 0, 25_000, "out-1", 503);
        let v = check(&s.history(), &p(60, 10), 120_000);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].at_ms, 25_000);
    }

    #[test]
    fn a_hung_client_fires_at_the_bound() {
        let mut s = Script::new();
        attempt(&mut s, 1000, "out-1", 1);
        s.at(
            1010,
            "agent",
            Event::ClientConnected {
                call: "out-1",
                attempt: 1,
            },
        );
        let v = check(&s.history(), &p(60, 10), 120_000);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].at_ms, 61_000);
        // Too recent to judge.
        assert_eq!(check(&s.history(), &p(60, 10), 50_000), vec![]);
    }

    #[test]
    fn a_retry_reopens_the_call_and_giving_up_is_an_outcome() {
        let mut s = Script::new();
        attempt(&mut s, 0, "out-1", 1);
        response(&mut s, 100, "out-1", 1, 503, 100);
        attempt(&mut s, 1000, "out-1", 2);
        // The retry never answers: the call is open again.
        assert_eq!(check(&s.history(), &p(60, 10), 120_000).len(), 1);
        s.at(
            20_000,
            "agent",
            Event::ClientGaveUp {
                call: "out-1",
                attempt: 2,
                reason: "abandoned",
            },
        );
        assert_eq!(check(&s.history(), &p(60, 10), 120_000), vec![]);
        // Giving up late is late.
        assert_eq!(check(&s.history(), &p(15, 10), 120_000).len(), 1);
    }

    #[test]
    fn an_inbound_refusal_is_judged_by_its_end() {
        let mut s = Script::new();
        s.at(
            0,
            "sip-1",
            Event::CallStart {
                call: "in-1",
                direction: crate::history::event::Direction::Inbound,
                mode: Mode::Sync,
                ringing_timeout_ms: 0,
            },
        );
        s.at(
            12_000,
            "sip-1",
            Event::CallEnd {
                call: "in-1",
                status: 503,
                reason: "queue timeout",
                outcome: crate::history::EndOutcome::Failed,
            },
        );
        assert_eq!(check(&s.history(), &p(60, 10), 120_000).len(), 1);
        assert_eq!(check(&s.history(), &p(60, 15), 120_000), vec![]);
    }

    #[test]
    fn the_refusal_bound_must_be_the_tighter() {
        assert!(p(60, 10).validate("oracles.time_to_outcome").is_ok());
        let e = p(10, 60)
            .validate("oracles.time_to_outcome")
            .expect_err("refused > bound");
        assert_eq!(e.field, "oracles.time_to_outcome.refused_bound");
    }
}
