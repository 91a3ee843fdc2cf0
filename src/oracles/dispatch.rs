//! `dispatch_after_heal` (liveness): after the faults heal, every worker
//! that is up gets work again.
//!
//! The heal time is `recovery`'s ([`availability::heal_ms`]): `[fault_settings]
//! heal` when set, else the last `fault.end`. The workers are the hosts that
//! tried to register (`worker.register`) or that a dispatcher registered
//! (`worker.registered {worker}`). A worker is judged when it is up from
//! the heal to the end of the run: no `node.exit` without its
//! `node.restart`, no `scale.stop` without its `scale.start`, no `crash`
//! fault naming it (or its section) open, at any moment of that span. (A
//! worker stranded without keepalives emits nothing after the heal, so
//! "it emitted events" would miss exactly the workers this oracle is for;
//! being up is read from what takes hosts down instead.)
//!
//! Each judged worker must receive a dispatch (`dispatch.received` on its
//! host) within `within` of the heal, as long as the platform still
//! dispatches after that (a `dispatch.sent` or `dispatch.none` at or after
//! heal + `within`); a run whose dispatching stops earlier is not judged.
//! One violation per worker, at heal + `within`.

use super::availability;
use super::{OracleKind, Violation};
use crate::history::History;
use crate::sim::topology::in_endpoint;
use crate::sim::{Dur, FieldError};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

pub const NAME: &str = "dispatch_after_heal";

/// `dispatch_after_heal = { within = "30s" }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// How long after the heal each up worker has to receive a dispatch.
    /// Default 30s.
    #[serde(default = "default_within")]
    pub within: Dur,
}

fn default_within() -> Dur {
    Dur::from_secs(30)
}

impl Params {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        availability::check_positive(self.within, &format!("{field}.within"))
    }
}

/// The oracle over `history`, given the configured heal (if any).
pub fn check(
    history: &History,
    params: &Params,
    heal_configured: Option<u64>,
    end_ms: u64,
) -> Vec<Violation> {
    let heal = availability::heal_ms(history, heal_configured);
    let deadline = heal + params.within.as_millis();
    let dispatching_after = history
        .records
        .iter()
        .any(|r| (r.is("dispatch.sent") || r.is("dispatch.none")) && r.t_ms >= deadline);
    if !dispatching_after {
        return Vec::new();
    }
    let mut workers: BTreeSet<String> = BTreeSet::new();
    for r in &history.records {
        if r.is("worker.register") {
            workers.insert(r.host.to_string());
        } else if r.is("worker.registered") {
            if let Some(w) = r.str("worker") {
                workers.insert(w.to_string());
            }
        }
    }
    let down = down_spans(history, &workers);
    let mut out = Vec::new();
    for worker in &workers {
        let up = down
            .get(worker)
            .is_none_or(|spans| spans.iter().all(|(from, to)| *to < heal || *from > end_ms));
        if !up {
            continue;
        }
        let received = history.records.iter().any(|r| {
            r.is("dispatch.received")
                && &*r.host == worker.as_str()
                && (heal..=deadline).contains(&r.t_ms)
        });
        if received {
            continue;
        }
        let last = history
            .records
            .iter()
            .filter(|r| r.is("dispatch.received") && &*r.host == worker.as_str())
            .map(|r| r.t_ms)
            .max();
        let last = match last {
            Some(t) => format!("its last dispatch was at {t} ms"),
            None => "it never received one".to_string(),
        };
        out.push(Violation::new(
            NAME,
            OracleKind::Liveness,
            deadline,
            None,
            format!(
                "worker {worker} is up but received no dispatch within {} of the heal at {heal} ms ({last}) while calls were still dispatched",
                params.within
            ),
        ));
    }
    out
}

/// For each worker, the spans `[from, to]` it was down (`to` = `u64::MAX`
/// when it never came back).
fn down_spans(history: &History, workers: &BTreeSet<String>) -> BTreeMap<String, Vec<(u64, u64)>> {
    let mut spans: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    // Open downs: (host, cause) -> since.
    let mut open: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut crashes: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut close =
        |open: &mut BTreeMap<(String, String), u64>, host: &str, cause: &str, t: u64| {
            if let Some(since) = open.remove(&(host.to_string(), cause.to_string())) {
                spans.entry(host.to_string()).or_default().push((since, t));
            }
        };
    for r in &history.records {
        match r.kind() {
            "node.exit" => {
                open.entry((r.host.to_string(), "exit".into()))
                    .or_insert(r.t_ms);
            }
            "node.restart" => close(
                &mut open,
                r.str("target").unwrap_or_default(),
                "exit",
                r.t_ms,
            ),
            "scale.stop" => {
                let host = r.str("target").unwrap_or_default().to_string();
                open.entry((host, "scale".into())).or_insert(r.t_ms);
            }
            "scale.start" => close(
                &mut open,
                r.str("target").unwrap_or_default(),
                "scale",
                r.t_ms,
            ),
            "fault.start" if r.str("fault_kind") == Some("crash") => {
                let target = r.str("target").unwrap_or_default();
                let hit: Vec<String> = workers
                    .iter()
                    .filter(|w| in_endpoint(w, target))
                    .cloned()
                    .collect();
                for h in &hit {
                    open.entry((h.clone(), format!("crash {}", r.u64("fault").unwrap_or(0))))
                        .or_insert(r.t_ms);
                }
                crashes.insert(r.u64("fault").unwrap_or(0), hit);
            }
            "fault.end" if r.str("fault_kind") == Some("crash") => {
                let index = r.u64("fault").unwrap_or(0);
                for h in crashes.remove(&index).unwrap_or_default() {
                    close(&mut open, &h, &format!("crash {index}"), r.t_ms);
                }
            }
            _ => {}
        }
    }
    for ((host, _), since) in open {
        spans.entry(host).or_default().push((since, u64::MAX));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    fn params(within_s: u64) -> Params {
        Params {
            within: Dur::from_secs(within_s),
        }
    }

    /// Two workers registered at 0; a fault from 10 s to 20 s.
    fn base() -> Script {
        let mut s = Script::new();
        for w in ["call-worker-1", "call-worker-2"] {
            s.at(
                0,
                w,
                Event::WorkerRegister {
                    dispatcher: "dispatcher",
                    attempt: 1,
                },
            );
            s.at(5, "dispatcher", Event::WorkerRegistered { worker: w });
        }
        s.at(
            10_000,
            "dispatcher",
            Event::FaultStart {
                fault: 0,
                kind: "partition",
                target: "dispatcher<->call-worker-2",
            },
        );
        s.at(
            20_000,
            "dispatcher",
            Event::FaultEnd {
                fault: 0,
                kind: "partition",
                target: "dispatcher<->call-worker-2",
            },
        );
        s
    }

    fn dispatch(s: &mut Script, t: u64, call: &str, worker: &str) {
        s.at(t, "dispatcher", Event::DispatchSent { call, worker });
        s.at(t + 2, worker, Event::DispatchReceived { call });
    }

    fn messages(s: &Script, within_s: u64) -> Vec<String> {
        check(&s.history(), &params(within_s), None, 120_000)
            .into_iter()
            .map(|v| {
                assert_eq!(v.kind, OracleKind::Liveness);
                v.message
            })
            .collect()
    }

    #[test]
    fn a_worker_that_gets_no_work_after_the_heal_is_a_violation() {
        let mut s = base();
        dispatch(&mut s, 1_000, "in-1", "call-worker-2");
        for (i, t) in [21_000, 25_000, 40_000, 60_000].into_iter().enumerate() {
            dispatch(&mut s, t, &format!("in-{}", i + 2), "call-worker-1");
        }
        let v = messages(&s, 30);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("worker call-worker-2 is up"), "{}", v[0]);
        assert!(v[0].contains("heal at 20000 ms"), "{}", v[0]);
        assert!(v[0].contains("last dispatch was at 1002 ms"), "{}", v[0]);
        let at = check(&s.history(), &params(30), None, 120_000)[0].at_ms;
        assert_eq!(at, 50_000);
    }

    #[test]
    fn every_worker_served_again_within_the_bound_passes() {
        let mut s = base();
        dispatch(&mut s, 21_000, "in-1", "call-worker-1");
        dispatch(&mut s, 45_000, "in-2", "call-worker-2");
        dispatch(&mut s, 60_000, "in-3", "call-worker-1");
        assert_eq!(messages(&s, 30), Vec::<String>::new());
        // The same history with a tighter bound: worker 2 came 25 s late.
        assert_eq!(messages(&s, 20).len(), 1);
    }

    #[test]
    fn no_dispatching_after_the_bound_judges_nothing() {
        let mut s = base();
        dispatch(&mut s, 21_000, "in-1", "call-worker-1");
        assert_eq!(messages(&s, 30), Vec::<String>::new());
        // A refused dispatch after the bound is dispatching too.
        s.at(55_000, "dispatcher", Event::DispatchNone { call: "in-2" });
        assert_eq!(messages(&s, 30).len(), 1);
    }

    #[test]
    fn a_worker_that_is_down_after_the_heal_is_not_judged() {
        let mut s = base();
        dispatch(&mut s, 21_000, "in-1", "call-worker-1");
        dispatch(&mut s, 60_000, "in-2", "call-worker-1");
        s.at(15_000, "call-worker-2", Event::NodeExit { reason: "test" });
        assert_eq!(messages(&s, 30), Vec::<String>::new());
        // Back before the heal: judged again.
        s.at(
            18_000,
            "testbed",
            Event::NodeRestart {
                target: "call-worker-2",
                restarts: 1,
                down_ms: 3_000,
            },
        );
        assert_eq!(messages(&s, 30).len(), 1);
    }

    #[test]
    fn a_crash_of_the_section_without_end_excludes_its_workers() {
        let mut s = base();
        dispatch(&mut s, 21_000, "in-1", "call-worker-1");
        dispatch(&mut s, 60_000, "in-2", "call-worker-1");
        s.at(
            30_000,
            "testbed",
            Event::FaultStart {
                fault: 1,
                kind: "crash",
                target: "call-worker-2",
            },
        );
        assert_eq!(messages(&s, 30), Vec::<String>::new());
    }

    #[test]
    fn the_configured_heal_wins() {
        let mut s = base();
        dispatch(&mut s, 21_000, "in-1", "call-worker-1");
        dispatch(&mut s, 21_500, "in-2", "call-worker-2");
        dispatch(&mut s, 60_000, "in-3", "call-worker-1");
        dispatch(&mut s, 90_000, "in-4", "call-worker-1");
        assert!(check(&s.history(), &params(30), None, 120_000).is_empty());
        let v = check(&s.history(), &params(30), Some(50_000), 120_000);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("call-worker-2"), "{}", v[0].message);
    }
}
