//! `restarts_bounded`: at most k pods of a section are down (exited, or
//! restarting) at once.
//!
//! A pod is down from its `node.exit` (it shut itself down, see
//! `nodes::lifecycle`) until the supervisor's `node.restart` for it, or the
//! end of the run. Pods of one section are the hosts named `<section>-N`
//! (CONTRACTS.md's host names). When more than `max_down` pods of a section
//! are down at one moment, that is one violation, at the moment it first
//! happens in each such stretch, naming the pods.
//!
//! The fault plan's own `crash` and `restart` faults are what the scenario
//! asked for, so by the registry's excuse rule they are not counted unless
//! `count_faults = true`: then a crash holds its hosts down from its
//! `fault.start` to its `fault.end`, and a restart counts as down for the
//! instant it happens. A fault naming a whole section takes every pod of
//! that section seen in the history.

use super::{OracleKind, Violation};
use crate::history::History;
use crate::sim::topology::section_of;
use crate::sim::FieldError;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

pub const NAME: &str = "restarts_bounded";

/// `restarts_bounded = { max_down = 1, sections = ["sip"], count_faults = false }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Most pods of one section down at once (>= 1). Default 1.
    #[serde(default = "default_max_down")]
    pub max_down: u32,
    /// The sections judged. Default: every section with pods.
    #[serde(default)]
    pub sections: Vec<String>,
    /// Count the plan's crash and restart faults too. Default false.
    #[serde(default)]
    pub count_faults: bool,
}

fn default_max_down() -> u32 {
    1
}

impl Params {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if self.max_down == 0 {
            return Err(FieldError::new(format!("{field}.max_down"), "must be >= 1"));
        }
        Ok(())
    }
}

/// A host going down or coming back. Steps are taken in history order,
/// so a restart fault (down, then up, at one instant) overlaps whatever
/// else is down at that moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Down,
    Up,
}

pub fn check(history: &History, params: &Params) -> Vec<Violation> {
    let pods: BTreeSet<&str> = history
        .records
        .iter()
        .map(|r| &*r.host)
        .filter(|h| section_of(h) != *h)
        .collect();
    // (time, step, host), per section.
    let mut steps: BTreeMap<String, Vec<(u64, Step, String)>> = BTreeMap::new();
    let mut push = |t: u64, step: Step, host: &str| {
        let section = section_of(host);
        if section == host {
            return;
        }
        steps
            .entry(section.to_string())
            .or_default()
            .push((t, step, host.to_string()));
    };
    let hosts_of = |target: &str| -> Vec<&str> {
        pods.iter()
            .copied()
            .filter(|h| *h == target || section_of(h) == target)
            .collect()
    };
    let mut crashes: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    let mut open: BTreeSet<&str> = BTreeSet::new();
    for r in &history.records {
        match r.kind() {
            "node.exit" if open.insert(&r.host) => push(r.t_ms, Step::Down, &r.host),
            "node.restart" => {
                let host = r.str("target").unwrap_or_default();
                if open.remove(host) {
                    push(r.t_ms, Step::Up, host);
                }
            }
            "fault.start" if params.count_faults => {
                let target = r.str("target").unwrap_or_default();
                match r.str("fault_kind") {
                    Some("crash") => {
                        let hosts = hosts_of(target);
                        for h in &hosts {
                            push(r.t_ms, Step::Down, h);
                        }
                        crashes.insert(r.u64("fault").unwrap_or(u64::MAX), hosts);
                    }
                    Some("restart") => {
                        for h in hosts_of(target) {
                            push(r.t_ms, Step::Down, h);
                            push(r.t_ms, Step::Up, h);
                        }
                    }
                    _ => {}
                }
            }
            "fault.end" if params.count_faults && r.str("fault_kind") == Some("crash") => {
                let index = r.u64("fault").unwrap_or(u64::MAX);
                for h in crashes.remove(&index).unwrap_or_default() {
                    push(r.t_ms, Step::Up, h);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (section, steps) in steps {
        if !params.sections.is_empty() && !params.sections.contains(&section) {
            continue;
        }
        // Each host may be down for several reasons at once (an exit and a
        // crash): count reasons per host.
        let mut down: BTreeMap<&str, u32> = BTreeMap::new();
        let mut over = false;
        for (t, step, host) in &steps {
            match step {
                Step::Down => *down.entry(host).or_default() += 1,
                Step::Up => {
                    if let Some(n) = down.get_mut(host.as_str()) {
                        *n -= 1;
                        if *n == 0 {
                            down.remove(host.as_str());
                        }
                    }
                }
            }
            let now_over = down.len() > params.max_down as usize;
            if now_over && !over {
                let names: Vec<&str> = down.keys().copied().collect();
                out.push(Violation::new(
                    NAME,
                    OracleKind::Safety,
                    *t,
                    None,
                    format!(
                        "{} pods of {section} down at once ({}), more than {}",
                        names.len(),
                        names.join(", "),
                        params.max_down
                    ),
                ));
            }
            over = now_over;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    fn params(max_down: u32, count_faults: bool) -> Params {
        Params {
            max_down,
            sections: Vec::new(),
            count_faults,
        }
    }

    fn exit(s: &mut Script, t: u64, host: &str) {
        s.at(t, host, Event::NodeExit { reason: "test" });
    }

    fn restart(s: &mut Script, t: u64, host: &str) {
        s.at(
            t,
            "testbed",
            Event::NodeRestart {
                target: host,
                restarts: 1,
                down_ms: 0,
            },
        );
    }

    #[test]
    fn staggered_exits_keep_the_bound_and_overlapping_ones_break_it() {
        let mut s = Script::new();
        exit(&mut s, 1000, "sip-1");
        restart(&mut s, 6000, "sip-1");
        exit(&mut s, 6000, "sip-2");
        restart(&mut s, 11_000, "sip-2");
        assert_eq!(check(&s.history(), &params(1, false)), vec![]);

        exit(&mut s, 10_000, "sip-3");
        let v = check(&s.history(), &params(1, false));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].at_ms, 10_000);
        assert!(v[0]
            .message
            .contains("2 pods of sip down at once (sip-2, sip-3)"));
        assert!(check(&s.history(), &params(2, false)).is_empty());
    }

    #[test]
    fn a_pod_never_restarted_stays_down() {
        let mut s = Script::new();
        exit(&mut s, 1000, "sbc-1");
        exit(&mut s, 90_000, "sbc-2");
        let v = check(&s.history(), &params(1, false));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].at_ms, 90_000);
    }

    #[test]
    fn fault_crashes_count_only_when_asked() {
        let mut s = Script::new();
        s.at(0, "sip-1", Event::CallAnswered { call: "c" });
        s.at(0, "sip-2", Event::CallAnswered { call: "c" });
        let crash = Event::FaultStart {
            fault: 0,
            kind: "crash",
            target: "sip",
        };
        s.at(5000, "testbed", crash);
        let end = Event::FaultEnd {
            fault: 0,
            kind: "crash",
            target: "sip",
        };
        s.at(9000, "testbed", end);
        assert!(check(&s.history(), &params(1, false)).is_empty());
        let v = check(&s.history(), &params(1, true));
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("(sip-1, sip-2)"));
        // After the crash ends, one exit alone is within the bound.
        exit(&mut s, 9000, "sip-1");
        assert_eq!(check(&s.history(), &params(1, true)).len(), 1);
    }

    #[test]
    fn sections_filter_what_is_judged() {
        let mut s = Script::new();
        exit(&mut s, 1000, "sip-1");
        exit(&mut s, 1000, "sip-2");
        let mut p = params(1, false);
        p.sections = vec!["sbc".into()];
        assert!(check(&s.history(), &p).is_empty());
        p.sections = vec!["sip".into()];
        assert_eq!(check(&s.history(), &p).len(), 1);
    }
}
