//! `children_end_with_parent`: every child leg reaches a terminal state
//! within `within` after its parent ends.
//!
//! A child is a call whose `call.start` carries `parent` (see
//! `nodes::sip::children`). Its parent ends at the parent call id's first
//! `call.end` (on any host). A child must then have its own `call.end` no
//! later than `within` after that; one that ends later, or never (by the
//! end of the run), outlived its session. A child started after its parent
//! ended is reported too: a session that is over owns no new calls.

use super::{OracleKind, Violation};
use crate::history::History;
use crate::sim::{Dur, FieldError};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const NAME: &str = "children_end_with_parent";

/// `children_end_with_parent = { within = "5s" }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Longest a child may outlive its parent. Default 5s.
    #[serde(default = "default_within")]
    pub within: Dur,
}

fn default_within() -> Dur {
    Dur::from_secs(5)
}

impl Params {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if self.within.is_zero() {
            return Err(FieldError::new(format!("{field}.within"), "must be > 0"));
        }
        Ok(())
    }
}

pub fn check(history: &History, params: &Params, end_ms: u64) -> Vec<Violation> {
    // child -> (parent, start)
    let mut children: BTreeMap<&str, (&str, u64)> = BTreeMap::new();
    let mut ends: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &history.records {
        let Some(call) = r.call() else { continue };
        if r.is("call.start") {
            if let Some(parent) = r.str("parent") {
                children.entry(call).or_insert((parent, r.t_ms));
            }
        } else if r.is("call.end") {
            ends.entry(call).or_insert(r.t_ms);
        }
    }
    let within = params.within.as_millis();
    let mut out = Vec::new();
    for (child, (parent, started)) in children {
        let Some(&parent_end) = ends.get(parent) else {
            continue;
        };
        let violation = |at: u64, message: String| {
            Violation::new(NAME, OracleKind::Safety, at, Some(child), message)
        };
        if started > parent_end {
            out.push(violation(
                started,
                format!(
                    "started at {started} ms, after its parent {parent} ended at {parent_end} ms"
                ),
            ));
            continue;
        }
        let deadline = parent_end + within;
        match ends.get(child) {
            Some(&end) if end <= deadline => {}
            Some(&end) => out.push(violation(
                deadline,
                format!(
                    "ended at {end} ms, {} ms after its parent {parent} ended at {parent_end} ms (bound {within} ms)",
                    end - parent_end
                ),
            )),
            None if deadline < end_ms => out.push(violation(
                deadline,
                format!(
                    "never ended; its parent {parent} ended at {parent_end} ms (bound {within} ms)"
                ),
            )),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::{Direction, Mode};
    use crate::history::{EndOutcome, Event};
    use crate::oracles::testkit::Script;

    fn start(s: &mut Script, t: u64, call: &str, parent: Option<&str>) {
        let event = Event::CallStart {
            call,
            direction: Direction::Outbound,
            mode: Mode::Async,
            ringing_timeout_ms: 30_000,
        };
        let event = match parent {
            Some(parent) => Event::Child {
                parent,
                event: Box::new(event),
            },
            None => event,
        };
        s.at(t, "sip-1", event);
    }

    fn end(s: &mut Script, t: u64, call: &str) {
        let event = Event::CallEnd {
            call,
            status: 200,
            reason: "completed",
            outcome: EndOutcome::Completed,
        };
        s.at(t, "sip-1", event);
    }

    fn params(within_s: u64) -> Params {
        Params {
            within: Dur::from_secs(within_s),
        }
    }

    #[test]
    fn children_ending_with_their_parent_pass_and_late_or_never_ending_ones_fail() {
        let mut s = Script::new();
        start(&mut s, 0, "in-1", None);
        start(&mut s, 1000, "in-1.child-1", Some("in-1"));
        start(&mut s, 1000, "in-1.child-2", Some("in-1"));
        end(&mut s, 10_000, "in-1");
        end(&mut s, 10_100, "in-1.child-1");
        end(&mut s, 12_000, "in-1.child-2");
        assert_eq!(check(&s.history(), &params(5), 60_000), vec![]);
        let v = check(&s.history(), &params(1), 60_000);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].call.as_deref(), Some("in-1.child-2"));
        assert_eq!(v[0].at_ms, 11_000);

        start(&mut s, 2000, "in-1.child-3", Some("in-1"));
        let v = check(&s.history(), &params(5), 60_000);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("never ended"));
        // Judged only once the bound has passed within the run.
        assert_eq!(check(&s.history(), &params(5), 14_000), vec![]);
    }

    #[test]
    fn a_child_started_after_its_parent_ended_is_reported_and_a_live_parent_judges_nothing() {
        let mut s = Script::new();
        start(&mut s, 0, "in-2", None);
        end(&mut s, 5000, "in-2");
        start(&mut s, 6000, "in-2.child-1", Some("in-2"));
        end(&mut s, 6500, "in-2.child-1");
        let v = check(&s.history(), &params(5), 60_000);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("after its parent in-2 ended"));

        let mut s = Script::new();
        start(&mut s, 0, "in-3", None);
        start(&mut s, 1000, "in-3.child-1", Some("in-3"));
        assert_eq!(check(&s.history(), &params(5), 60_000), vec![]);
    }
}
