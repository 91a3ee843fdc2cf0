//! Coverage of a sweep: which fault points fired, and which rare states the
//! runs reached, so a user can see what a sweep explored and what it never
//! did (a green sweep that never crossed a CANCEL with a 2xx proved nothing
//! about that race).
//!
//! Both are read from each run's history after the fact, so measuring
//! coverage never changes a run:
//! - **sites**: the `fault.point` events (field `site`) per fault point
//!   site, next to whether the run's plan activated it;
//! - **states**: sometimes-assertions in the style of Antithesis's
//!   `sometimes` and FoundationDB's `TEST()` macros: each [`State`] is a
//!   predicate over the history that a sweep should see true in some run.
//!
//! [`RunCoverage`] is one run's; [`SweepCoverage`] adds runs up and renders
//! the table `explore` prints (every site and state, reached or not).

use crate::history::{History, Record};
use crate::sim::topology::in_endpoint;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A rare state a sweep should reach: its name and what it means.
pub struct State {
    pub name: &'static str,
    pub meaning: &'static str,
    reached: fn(&History) -> bool,
}

/// Every state, in a fixed order.
pub const STATES: &[State] = &[
    State {
        name: "sip.retransmission",
        meaning: "a SIP message was retransmitted (a timer fired before its answer)",
        reached: |h| {
            h.of_kind("sip.send")
                .any(|r| r.bool("retransmission") == Some(true))
        },
    },
    State {
        name: "sip.2xx_crossed_cancel",
        meaning: "a host that sent CANCEL then received a 2xx to the INVITE",
        reached: two_xx_crossed_cancel,
    },
    State {
        name: "sip.487_sent",
        meaning: "an INVITE was answered 487 after a CANCEL",
        reached: |h| sent_status(h, "487"),
    },
    State {
        name: "sip.503_sent",
        meaning: "a SIP hop answered 503 (overload, no backend, gray)",
        reached: |h| sent_status(h, "503"),
    },
    State {
        name: "sip.408_sent",
        meaning: "a SIP hop gave up on its next hop (408)",
        reached: |h| sent_status(h, "408"),
    },
    State {
        name: "sip.bye_crossed_bye",
        meaning: "both ends of one Call-ID sent BYE (a hangup race)",
        reached: bye_crossed_bye,
    },
    State {
        name: "sip.session_refresh",
        meaning: "a session timer refreshed a dialog (UPDATE)",
        reached: |h| {
            h.of_kind("sip.send")
                .any(|r| r.str("start_line") == Some("UPDATE"))
        },
    },
    State {
        name: "call.session_expired",
        meaning: "a call ended because its session timer expired",
        reached: |h| {
            h.of_kind("call.end").any(|r| {
                r.str("reason")
                    .is_some_and(|s| s.contains("session expired"))
            })
        },
    },
    State {
        name: "call.cancelled",
        meaning: "a call ended cancelled (the caller gave up first)",
        reached: |h| {
            h.of_kind("call.end")
                .any(|r| r.str("outcome") == Some("cancelled"))
        },
    },
    State {
        name: "call.ringing_timeout",
        meaning: "a call ended 408 after ringing (nobody answered in time)",
        reached: |h| h.of_kind("call.end").any(|r| r.u64("status") == Some(408)),
    },
    State {
        name: "rpc.timeout",
        meaning: "an RPC client's own timeout fired",
        reached: |h| {
            h.of_kind("rpc.response")
                .any(|r| r.str("outcome") == Some("timeout"))
        },
    },
    State {
        name: "rpc.retry_exhausted",
        meaning: "an RPC was retried and its last attempt still failed",
        reached: rpc_retry_exhausted,
    },
    State {
        name: "health.backend_ejected",
        meaning: "a health checker marked a backend down",
        reached: |h| {
            h.of_kind("health.change")
                .any(|r| r.bool("healthy") == Some(false))
        },
    },
    State {
        name: "health.backend_restored",
        meaning: "a backend marked down was marked up again",
        reached: |h| {
            let mut down = BTreeSet::new();
            h.of_kind("health.change").any(|r| {
                let target = r.str("target").unwrap_or_default();
                if r.bool("healthy") == Some(false) {
                    down.insert(target);
                    false
                } else {
                    down.contains(target)
                }
            })
        },
    },
    State {
        name: "fault.restart_hit_call_in_setup",
        meaning: "a crash or restart hit a host while a call through it was being set up",
        reached: restart_hit_call_in_setup,
    },
    State {
        name: "node.self_exit",
        meaning: "a pod shut itself down (an exit_when trigger tripped)",
        reached: |h| h.of_kind("node.exit").next().is_some(),
    },
    State {
        name: "node.supervisor_restart",
        meaning: "a supervisor restarted a pod that had exited",
        reached: |h| h.of_kind("node.restart").next().is_some(),
    },
    State {
        name: "scale.pod_started",
        meaning: "an autoscaler had a dormant pod started",
        reached: |h| h.of_kind("scale.start").next().is_some(),
    },
    State {
        name: "scale.pod_stopped",
        meaning: "an autoscaler had an idle pod stopped (a scale-in)",
        reached: |h| h.of_kind("scale.stop").any(|r| r.t_ms > 0),
    },
    State {
        name: "session.child_ended_with_parent",
        meaning: "a child leg was ended because its session ended",
        reached: |h| {
            h.of_kind("call.end")
                .any(|r| r.str("parent").is_some() && r.str("reason") == Some("parent ended"))
        },
    },
    State {
        name: "dns.negative_answer_cached",
        meaning: "a resolver answered a setup from a cached NXDOMAIN or SERVFAIL",
        reached: |h| {
            h.of_kind("dns.answer")
                .any(|r| r.bool("cached") == Some(true) && r.str("rcode") != Some("NOERROR"))
        },
    },
    State {
        name: "worker.dropped",
        meaning:
            "a dispatcher dropped a worker's registration (expiry, lost connection, no answer)",
        reached: |h| h.of_kind("worker.expired").next().is_some(),
    },
    State {
        name: "worker.reregistered",
        meaning: "a call worker registered again after losing its registration",
        reached: |h| {
            h.of_kind("worker.register")
                .any(|r| r.u64("attempt").is_some_and(|n| n > 1))
                && h.of_kind("worker.registered").count()
                    > h.of_kind("worker.register")
                        .filter(|r| r.u64("attempt") == Some(1))
                        .count()
        },
    },
    State {
        name: "deploy.error",
        meaning: "a deploy step failed",
        reached: |h| h.of_kind("deploy.error").next().is_some(),
    },
    State {
        name: "telemetry.overflow",
        meaning: "a telemetry buffer overflowed and dropped records",
        reached: |h| h.of_kind("telemetry.overflow").next().is_some(),
    },
    State {
        name: "alert.fired",
        meaning: "an operator alarm fired",
        reached: |h| h.of_kind("alert.fire").next().is_some(),
    },
];

fn sent_status(history: &History, code: &str) -> bool {
    history
        .of_kind("sip.send")
        .any(|r| r.str("start_line") == Some(code))
}

fn is_invite_cseq(r: &Record) -> bool {
    r.str("cseq").is_some_and(|c| c.ends_with("INVITE"))
}

fn two_xx_crossed_cancel(history: &History) -> bool {
    let mut cancelled: BTreeSet<(&str, &str)> = BTreeSet::new();
    for r in &history.records {
        let Some(call_id) = r.str("sip_call_id") else {
            continue;
        };
        let line = r.str("start_line").unwrap_or_default();
        if r.is("sip.send") && line == "CANCEL" {
            cancelled.insert((&r.host, call_id));
        } else if r.is("sip.recv")
            && line.starts_with('2')
            && is_invite_cseq(r)
            && cancelled.contains(&(&*r.host, call_id))
        {
            return true;
        }
    }
    false
}

fn bye_crossed_bye(history: &History) -> bool {
    let mut senders: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in history.of_kind("sip.send") {
        if r.str("start_line") == Some("BYE") && r.bool("retransmission") != Some(true) {
            let call_id = r.str("sip_call_id").unwrap_or_default();
            let hosts = senders.entry(call_id).or_default();
            hosts.insert(&r.host);
            if hosts.len() > 1 {
                return true;
            }
        }
    }
    false
}

fn rpc_retry_exhausted(history: &History) -> bool {
    // (host, call, method) -> (attempts, last outcome ok)
    let mut attempts: BTreeMap<(&str, &str, &str), (u32, bool)> = BTreeMap::new();
    for r in history.of_kind("rpc.response") {
        let key = (
            &*r.host,
            r.str("call").unwrap_or_default(),
            r.str("method").unwrap_or_default(),
        );
        let entry = attempts.entry(key).or_insert((0, true));
        entry.0 += 1;
        entry.1 = r.str("outcome") == Some("ok");
    }
    attempts.values().any(|&(n, ok)| n > 1 && !ok)
}

fn restart_hit_call_in_setup(history: &History) -> bool {
    let hits: Vec<(u64, &str)> = history
        .of_kind("fault.start")
        .filter(|r| matches!(r.str("fault_kind"), Some("crash" | "restart" | "operator")))
        .map(|r| (r.t_ms, r.str("target").unwrap_or_default()))
        .collect();
    if hits.is_empty() {
        return false;
    }
    // Per call: the hosts its SIP crossed, when its setup began, and when
    // it was answered or ended (the end of setup).
    let mut setup: BTreeMap<&str, (u64, u64, BTreeSet<&str>)> = BTreeMap::new();
    for r in &history.records {
        let Some(call) = r.call() else { continue };
        let entry = setup
            .entry(call)
            .or_insert((u64::MAX, u64::MAX, BTreeSet::new()));
        if r.is("call.start") {
            entry.0 = entry.0.min(r.t_ms);
        } else if r.is("call.answered") || r.is("call.end") {
            entry.1 = entry.1.min(r.t_ms);
        } else if r.is("sip.send") || r.is("sip.recv") {
            entry.0 = entry.0.min(r.t_ms);
            entry.2.insert(&r.host);
        }
    }
    setup.values().any(|(start, done, hosts)| {
        hits.iter().any(|(at, target)| {
            start <= at && at < done && hosts.iter().any(|h| in_endpoint(h, target))
        })
    })
}

/// What one run covered.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunCoverage {
    /// Fault point sites the run's plan activated.
    pub active_sites: BTreeSet<String>,
    /// Firings per site.
    pub fired: BTreeMap<String, u64>,
    /// The states the run reached.
    pub states: BTreeSet<&'static str>,
}

impl RunCoverage {
    /// Reads a finished run's history; `active_sites` are the sites its
    /// plan activated (`faults::buggify::activate`).
    pub fn of(history: &History, active_sites: impl IntoIterator<Item = String>) -> RunCoverage {
        let mut fired = BTreeMap::new();
        for r in history.of_kind("fault.point") {
            *fired
                .entry(r.str("site").unwrap_or_default().to_string())
                .or_insert(0) += 1;
        }
        RunCoverage {
            active_sites: active_sites.into_iter().collect(),
            fired,
            states: STATES
                .iter()
                .filter(|s| (s.reached)(history))
                .map(|s| s.name)
                .collect(),
        }
    }
}

/// One site's line in a sweep: in how many runs it was active and fired,
/// and how often it fired in all.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SiteCount {
    pub runs_active: u64,
    pub runs_fired: u64,
    pub firings: u64,
}

/// A sweep's coverage: every site and state, with the runs that reached it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SweepCoverage {
    pub runs: u64,
    pub sites: BTreeMap<String, SiteCount>,
    pub states: BTreeMap<String, u64>,
}

impl SweepCoverage {
    /// An empty sweep that lists every site and state at zero.
    pub fn new() -> SweepCoverage {
        SweepCoverage {
            runs: 0,
            sites: crate::sim::buggify::SITES
                .iter()
                .map(|s| (s.to_string(), SiteCount::default()))
                .collect(),
            states: STATES.iter().map(|s| (s.name.to_string(), 0)).collect(),
        }
    }

    pub fn add(&mut self, run: &RunCoverage) {
        self.runs += 1;
        for site in &run.active_sites {
            self.sites.entry(site.clone()).or_default().runs_active += 1;
        }
        for (site, n) in &run.fired {
            let count = self.sites.entry(site.clone()).or_default();
            count.runs_fired += 1;
            count.firings += n;
        }
        for state in &run.states {
            *self.states.entry(state.to_string()).or_insert(0) += 1;
        }
    }

    /// The table `explore` prints: states first (each with the runs that
    /// reached it, `never` when none did), then the fault point sites
    /// (only when some run activated one).
    pub fn render(&self) -> String {
        let mut out = format!("coverage over {} runs:\n  states reached:\n", self.runs);
        for state in STATES {
            let n = self.states.get(state.name).copied().unwrap_or(0);
            let runs = if n == 0 {
                "never".to_string()
            } else {
                format!("{n} runs")
            };
            out.push_str(&format!(
                "    {:<34} {:>10}  {}\n",
                state.name, runs, state.meaning
            ));
        }
        if self.sites.values().any(|c| c.runs_active > 0) {
            out.push_str("  fault points (active in / fired in runs, firings):\n");
            for (site, c) in &self.sites {
                if c.runs_active == 0 && c.firings == 0 {
                    continue;
                }
                out.push_str(&format!(
                    "    {site:<34} {:>5} / {:<5} {:>7}{}\n",
                    c.runs_active,
                    c.runs_fired,
                    c.firings,
                    if c.runs_fired == 0 {
                        "  (active, never reached)"
                    } else {
                        ""
                    }
                ));
            }
            let idle: Vec<&str> = self
                .sites
                .iter()
                .filter(|(_, c)| c.runs_active == 0)
                .map(|(s, _)| s.as_str())
                .collect();
            if !idle.is_empty() {
                out.push_str(&format!("    never activated: {}\n", idle.join(", ")));
            }
        } else {
            out.push_str("  fault points: none active (enable [fault_settings] buggify)\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Value;

    fn rec(t: u64, host: &str, kind: &str, fields: Vec<(&'static str, Value)>) -> Record {
        Record::new(t, host, kind, fields)
    }

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    fn sip(t: u64, host: &str, kind: &str, line: &str, cseq: &str) -> Record {
        rec(
            t,
            host,
            kind,
            vec![
                ("call", s("c1")),
                ("sip_call_id", s("x1")),
                ("start_line", s(line)),
                ("cseq", s(cseq)),
                ("retransmission", Value::Bool(false)),
            ],
        )
    }

    fn history(records: Vec<Record>) -> History {
        History { records }
    }

    fn reached(h: &History) -> BTreeSet<&'static str> {
        RunCoverage::of(h, []).states
    }

    #[test]
    fn a_2xx_after_our_cancel_is_a_crossing_and_one_before_it_is_not() {
        let crossed = history(vec![
            sip(0, "sip-1", "sip.send", "INVITE", "1 INVITE"),
            sip(10, "sip-1", "sip.send", "CANCEL", "1 CANCEL"),
            sip(12, "sip-1", "sip.recv", "200", "1 INVITE"),
        ]);
        assert!(reached(&crossed).contains("sip.2xx_crossed_cancel"));
        let ordered = history(vec![
            sip(0, "sip-1", "sip.send", "INVITE", "1 INVITE"),
            sip(12, "sip-1", "sip.recv", "200", "1 INVITE"),
            sip(20, "sip-1", "sip.send", "CANCEL", "1 CANCEL"),
            sip(22, "sip-1", "sip.recv", "200", "1 CANCEL"),
        ]);
        assert!(!reached(&ordered).contains("sip.2xx_crossed_cancel"));
    }

    #[test]
    fn a_retry_is_exhausted_only_when_its_last_attempt_fails() {
        let rpc = |t, outcome: &str| {
            rec(
                t,
                "gateway",
                "rpc.response",
                vec![
                    ("call", s("c1")),
                    ("method", s("Dial")),
                    ("outcome", s(outcome)),
                ],
            )
        };
        let failed = history(vec![rpc(1, "timeout"), rpc(2, "unavailable")]);
        assert!(reached(&failed).contains("rpc.retry_exhausted"));
        let recovered = history(vec![rpc(1, "timeout"), rpc(2, "ok")]);
        assert!(!reached(&recovered).contains("rpc.retry_exhausted"));
        let single = history(vec![rpc(1, "timeout")]);
        assert!(!reached(&single).contains("rpc.retry_exhausted"));
    }

    #[test]
    fn a_restart_hits_a_call_in_setup_only_on_a_host_it_crossed() {
        let fault = |target: &str| {
            rec(
                50,
                "testbed",
                "fault.start",
                vec![("fault_kind", s("restart")), ("target", s(target))],
            )
        };
        let start = rec(0, "gateway", "call.start", vec![("call", s("c1"))]);
        let answered = rec(100, "gateway", "call.answered", vec![("call", s("c1"))]);
        let invite = sip(10, "sip-2", "sip.send", "INVITE", "1 INVITE");
        let hit = history(vec![
            start.clone(),
            invite.clone(),
            fault("sip"),
            answered.clone(),
        ]);
        assert!(reached(&hit).contains("fault.restart_hit_call_in_setup"));
        let elsewhere = history(vec![start, invite, fault("lb"), answered]);
        assert!(!reached(&elsewhere).contains("fault.restart_hit_call_in_setup"));
    }

    #[test]
    fn a_sweep_lists_what_it_never_reached() {
        let mut sweep = SweepCoverage::new();
        let mut run = RunCoverage::of(
            &history(vec![rec(
                1,
                "echo",
                "fault.point",
                vec![("site", s("harness.echo_drop"))],
            )]),
            ["harness.echo_drop".to_string(), "sip.drop_180".to_string()],
        );
        sweep.add(&run);
        run.fired.clear();
        sweep.add(&run);
        assert_eq!(sweep.runs, 2);
        let echo = &sweep.sites["harness.echo_drop"];
        assert_eq!((echo.runs_active, echo.runs_fired, echo.firings), (2, 1, 1));
        let text = sweep.render();
        assert!(text.contains("sip.drop_180"), "{text}");
        assert!(text.contains("(active, never reached)"), "{text}");
        assert!(
            text.contains("sip.2xx_crossed_cancel") && text.contains("never"),
            "{text}"
        );
    }
}
