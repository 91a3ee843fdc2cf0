//! `established_calls_survive` (opt-in): a fault that only affects call
//! setup (a name server failing, by default) must leave the calls already
//! connected when it started connected through it.
//!
//! It reads `fault.start` / `fault.end` (the windows of the faults whose
//! kind is in `kinds`, each to its `fault.end`, or to the end of the run)
//! and the calls' `call.answered` and `call.end`. A call answered before a
//! window starts and still up then is *established*; if its `call.end`
//! falls inside the window or within `grace` after it with outcome
//! `failed` (a 200 the platform tore down, a BYE that got no answer,
//! silence, session expiry), that is a violation: a setup-only fault
//! reached a call past its setup. Calls that end `completed`, `rejected`
//! or `cancelled` (someone hung up), and calls answered during the window,
//! are not judged here. Calls a state-losing fault hit are excused before
//! any oracle sees the history (`oracles::excuse`).

use super::calls::calls;
use super::{OracleKind, Violation};
use crate::history::{EndOutcome, History};
use crate::sim::{Dur, FieldError};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const NAME: &str = "established_calls_survive";

/// `established_calls_survive = { kinds = ["dns"], grace = "10s" }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Fault kinds (as `[[faults]]` names them) that only affect setup.
    /// Default `["dns"]`.
    #[serde(default = "default_kinds")]
    pub kinds: Vec<String>,
    /// How long after a window a failed end is still laid at its door.
    /// Default 10s.
    #[serde(default = "default_grace")]
    pub grace: Dur,
}

fn default_kinds() -> Vec<String> {
    vec!["dns".to_string()]
}
fn default_grace() -> Dur {
    Dur::from_secs(10)
}

impl Default for Params {
    fn default() -> Params {
        Params {
            kinds: default_kinds(),
            grace: default_grace(),
        }
    }
}

impl Params {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if self.kinds.is_empty() {
            return Err(FieldError::new(
                format!("{field}.kinds"),
                "names no fault kind; e.g. [\"dns\"]",
            ));
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            if crate::faults::FaultKind::parse(kind).is_none() {
                return Err(FieldError::new(
                    format!("{field}.kinds[{i}]"),
                    format!("{kind:?} is not a fault kind"),
                ));
            }
        }
        Ok(())
    }
}

/// One setup-only fault's window: (start, end, kind, target).
struct Window<'h> {
    start_ms: u64,
    end_ms: u64,
    kind: &'h str,
    target: &'h str,
}

fn windows<'h>(history: &'h History, params: &Params, end_ms: u64) -> Vec<Window<'h>> {
    let mut ends: BTreeMap<u64, u64> = BTreeMap::new();
    for r in history.of_kind("fault.end") {
        if let Some(i) = r.u64("fault") {
            ends.entry(i).or_insert(r.t_ms);
        }
    }
    history
        .of_kind("fault.start")
        .filter_map(|r| {
            let kind = r.str("fault_kind")?;
            if !params.kinds.iter().any(|k| k == kind) {
                return None;
            }
            let end = r.u64("fault").and_then(|i| ends.get(&i).copied());
            Some(Window {
                start_ms: r.t_ms,
                end_ms: end.unwrap_or(end_ms).max(r.t_ms),
                kind,
                target: r.str("target").unwrap_or(""),
            })
        })
        .collect()
}

pub fn check(history: &History, params: &Params, end_ms: u64) -> Vec<Violation> {
    let windows = windows(history, params, end_ms);
    if windows.is_empty() {
        return Vec::new();
    }
    let grace = params.grace.as_millis();
    let mut out = Vec::new();
    for call in calls(history).values() {
        let (Some(answered), Some(end)) = (call.answered, call.end) else {
            continue;
        };
        if EndOutcome::of_record(end) != EndOutcome::Failed {
            continue;
        }
        let hit = windows.iter().find(|w| {
            answered.t_ms < w.start_ms
                && end.t_ms >= w.start_ms
                && end.t_ms <= w.end_ms.saturating_add(grace)
        });
        if let Some(w) = hit {
            out.push(Violation::new(
                NAME,
                OracleKind::Safety,
                end.t_ms,
                Some(call.id),
                format!(
                    "connected at {} ms, before the {} fault on {} ({}..{} ms) that only affects setup, and ended failed at {} ms ({})",
                    answered.t_ms,
                    w.kind,
                    w.target,
                    w.start_ms,
                    w.end_ms,
                    end.t_ms,
                    end.str("reason").unwrap_or("no reason")
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::{Direction, Mode};
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    /// An inbound call `id` answered at `answered_ms`, ended at `end_ms`
    /// with `outcome`.
    fn call(s: &mut Script, id: &str, answered_ms: u64, end_ms: u64, outcome: EndOutcome) {
        s.at(
            answered_ms.saturating_sub(500),
            "carrier",
            Event::CallStart {
                call: id,
                direction: Direction::Inbound,
                mode: Mode::Sync,
                ringing_timeout_ms: 60_000,
            },
        );
        s.at(answered_ms, "sip-1", Event::CallAnswered { call: id });
        s.at(
            end_ms,
            "carrier",
            Event::CallEnd {
                call: id,
                status: 200,
                reason: "platform hung up",
                outcome,
            },
        );
    }

    fn fault(s: &mut Script, kind: &str, from_ms: u64, to_ms: Option<u64>) {
        s.at(
            from_ms,
            "testbed",
            Event::FaultStart {
                fault: 0,
                kind,
                target: "dns",
            },
        );
        if let Some(to) = to_ms {
            s.at(
                to,
                "testbed",
                Event::FaultEnd {
                    fault: 0,
                    kind,
                    target: "dns",
                },
            );
        }
    }

    fn judge(s: &Script) -> Vec<Violation> {
        check(&s.history(), &Params::default(), 120_000)
    }

    #[test]
    fn an_established_call_that_fails_during_a_dns_fault_is_a_violation() {
        let mut s = Script::new();
        fault(&mut s, "dns", 20_000, Some(40_000));
        call(&mut s, "in-1", 10_000, 30_000, EndOutcome::Failed);
        let v = judge(&s);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].call.as_deref(), Some("in-1"));
        assert!(
            v[0].message.contains("connected at 10000 ms"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn a_failed_end_within_grace_after_the_window_counts_and_later_does_not() {
        let mut s = Script::new();
        fault(&mut s, "dns", 20_000, Some(40_000));
        call(&mut s, "in-1", 10_000, 49_000, EndOutcome::Failed);
        call(&mut s, "in-2", 10_000, 51_000, EndOutcome::Failed);
        let v = judge(&s);
        assert_eq!(
            v.iter().map(|v| v.call.as_deref()).collect::<Vec<_>>(),
            [Some("in-1")]
        );
    }

    #[test]
    fn completed_calls_and_calls_set_up_during_the_window_are_not_judged() {
        let mut s = Script::new();
        fault(&mut s, "dns", 20_000, Some(40_000));
        call(&mut s, "in-1", 10_000, 30_000, EndOutcome::Completed);
        call(&mut s, "in-2", 25_000, 30_000, EndOutcome::Failed);
        call(&mut s, "in-3", 5_000, 15_000, EndOutcome::Failed);
        assert_eq!(judge(&s), vec![]);
    }

    #[test]
    fn only_the_named_kinds_make_windows_and_an_open_window_lasts_to_the_end() {
        let mut s = Script::new();
        fault(&mut s, "partition", 20_000, Some(40_000));
        call(&mut s, "in-1", 10_000, 30_000, EndOutcome::Failed);
        assert_eq!(judge(&s), vec![]);
        let mut s = Script::new();
        fault(&mut s, "dns", 20_000, None);
        call(&mut s, "in-1", 10_000, 100_000, EndOutcome::Failed);
        assert_eq!(judge(&s).len(), 1);
    }

    #[test]
    fn params_are_validated() {
        let p = Params {
            kinds: vec!["dnz".into()],
            ..Params::default()
        };
        assert_eq!(
            p.validate("oracles.x").unwrap_err().field,
            "oracles.x.kinds[0]"
        );
        let p = Params {
            kinds: vec![],
            ..Params::default()
        };
        assert_eq!(
            p.validate("oracles.x").unwrap_err().field,
            "oracles.x.kinds"
        );
    }
}
