//! Self-shutdown and supervision (issue 18, `nodes::lifecycle` and
//! `testbed::supervisor`): pods that exit on their own when a trigger
//! trips, a supervisor that restarts them with backoff, and
//! `restarts_bounded`, which catches a section going down at once.
//!
//! Each test runs real scenarios and reads the history: `node.exit` on the
//! pod, `node.restart` from the supervisor, and what the calls saw.

use crate::support;
use callsim::history::History;

/// `(time, host)` of every `node.exit`.
fn exits(h: &History) -> Vec<(u64, String)> {
    h.of_kind("node.exit")
        .map(|r| (r.t_ms, r.host.to_string()))
        .collect()
}

/// `(time, target, restarts, down_ms)` of every `node.restart`.
fn restarts(h: &History) -> Vec<(u64, String, u64, u64)> {
    h.of_kind("node.restart")
        .map(|r| {
            (
                r.t_ms,
                r.str("target").expect("target").to_string(),
                r.u64("restarts").expect("restarts"),
                r.u64("down_ms").expect("down_ms"),
            )
        })
        .collect()
}

/// Inbound calls the carrier placed in `[from_ms, to_ms)` and how many of
/// them were answered.
fn answered_between(h: &History, from_ms: u64, to_ms: u64) -> (usize, usize) {
    let placed: Vec<&str> = h
        .of_kind("call.start")
        .filter(|r| r.host.as_ref() == "carrier" && (from_ms..to_ms).contains(&r.t_ms))
        .filter_map(|r| r.call())
        .collect();
    let answered = placed
        .iter()
        .filter(|c| h.of_call(c).any(|r| r.is("call.answered")))
        .count();
    (placed.len(), answered)
}

#[test]
fn a_dependency_blip_takes_every_self_exiting_pod_down_at_once_and_restarts_bounded_says_so() {
    let failing = support::mechanism("self-shutdown-failing");
    let passing = support::mechanism("self-shutdown-passing");
    for seed in 1..=3 {
        let (f, p) = support::demo_pair(&failing, &passing, seed, "restarts_bounded");
        assert!(f
            .violations
            .iter()
            .any(|v| v.message.contains("pods of sip down at once")));
        // All three pods trip during the 10 s partition and come back 20 s
        // later, each once.
        let exited = exits(&f.history);
        assert_eq!(exited.len(), 3, "seed {seed}: {exited:?}");
        assert!(exited.iter().all(|(t, _)| (20_000..30_000).contains(t)));
        let back = restarts(&f.history);
        assert_eq!(back.len(), 3, "seed {seed}: {back:?}");
        assert!(back
            .iter()
            .all(|(_, _, n, down)| *n == 1 && *down == 20_000));
        assert!(exits(&p.history).is_empty() && restarts(&p.history).is_empty());
        // The figure: calls placed after the gateway is back but before
        // the pods are. None is answered while every pod is down; the
        // passing twin answers them.
        let last_exit = exited.iter().map(|(t, _)| *t).max().expect("3 exits");
        let first_back = back.iter().map(|(t, ..)| *t).min().expect("3 restarts");
        let (placed, answered) = answered_between(&f.history, last_exit + 1000, first_back);
        assert!(placed >= 10, "seed {seed}: {placed} calls in the gap");
        assert_eq!(answered, 0, "seed {seed}");
        let (placed, answered) = answered_between(&p.history, last_exit + 6000, first_back);
        assert!(
            answered * 10 >= placed * 9,
            "seed {seed}: {answered}/{placed}"
        );
    }
}

const CRASH_LOOP: &str = r#"
[run]
seed = 1
duration = "150s"
tick = "10ms"

[nodes.gateway]
[nodes.bus]
[nodes.agent]
[nodes.sip]
pods = 1
dispatch_timeout = "2s"
exit_when = { dependency_failures = 2 }
supervisor = { restart_after = "4s", backoff = 2.0, max_delay = "16s", reset_after = "60s" }
[nodes.lb]
pods = 1
backends = ["sip"]
[nodes.carrier]
inbound_entry = ["lb"]

[workload]
inbound = { calls = 280, rate_per_s = 2, hold = "2s" }

[[faults]]
kind = "partition"
between = ["sip", "gateway"]
at = "10s"
until = "90s"

[oracles]
every_call_terminates = false
"#;

#[test]
fn a_pod_that_keeps_exiting_is_restarted_with_growing_delays_up_to_the_cap() {
    let h = support::history_of(CRASH_LOOP, "crash-loop.toml");
    let back = restarts(&h);
    let delays: Vec<u64> = back.iter().map(|(_, _, _, down)| *down).collect();
    // 4 s, then doubled per quick re-exit, capped at 16 s.
    assert!(delays.len() >= 5, "{back:?}");
    assert_eq!(&delays[..4], &[4000, 8000, 16_000, 16_000], "{back:?}");
    let numbers: Vec<u64> = back.iter().map(|(_, _, n, _)| *n).collect();
    assert_eq!(numbers, (1..=back.len() as u64).collect::<Vec<_>>());
    // Every restart but possibly the last is followed by a new exit while
    // the partition lasts; none after the dependency is back for good.
    let exited = exits(&h);
    assert_eq!(exited.len(), back.len(), "{exited:?} {back:?}");
    assert!(
        exited.iter().all(|(t, _)| *t < 90_000 + 2 * 2000),
        "{exited:?}"
    );
    // After the last restart the pod serves calls again.
    let (t_last, ..) = back.last().expect("restarts");
    let (placed, answered) = answered_between(&h, t_last + 2000, 140_000);
    assert!(
        placed > 0 && answered * 10 >= placed * 9,
        "{answered}/{placed}"
    );
}

#[test]
fn a_supervisor_leaves_a_pod_the_fault_plan_holds_down_to_the_fault() {
    // The pod exits at ~13 s; its restart would be due at ~28 s, inside a
    // crash fault from 20 s to 60 s: the supervisor skips it and the
    // crash's end brings the pod back.
    let text = CRASH_LOOP
        .replace("until = \"90s\"", "until = \"40s\"")
        .replace("restart_after = \"4s\"", "restart_after = \"15s\"")
        + r#"
[[faults]]
kind = "crash"
node = "sip-1"
at = "20s"
until = "60s"
"#;
    let h = support::history_of(&text, "held-down.toml");
    let exited = exits(&h);
    assert_eq!(exited.len(), 1, "{exited:?}");
    assert!(exited[0].0 < 20_000, "{exited:?}");
    assert_eq!(restarts(&h), vec![], "the supervisor must not restart it");
    let (placed, answered) = answered_between(&h, 65_000, 140_000);
    assert!(
        placed > 0 && answered * 10 >= placed * 9,
        "{answered}/{placed}"
    );
    // Nothing from sip-1 while the crash holds it down.
    assert!(!h
        .records
        .iter()
        .any(|r| r.host.as_ref() == "sip-1" && (21_000..60_000).contains(&r.t_ms)));
}

const QUEUE_EXIT: &str = r#"
[run]
seed = 1
duration = "90s"
tick = "10ms"

[nodes.gateway]
[nodes.bus]
[nodes.agent]
answer_after = "500ms"
[nodes.sip]
pods = 2
slots = { capacity = 3, when_full = "queue", queue_max = 50, queue_timeout = "30s" }
exit_when = { queue_over = 4, queue_for = "5s" }
[nodes.lb]
pods = 1
backends = ["sip"]
[nodes.carrier]
inbound_entry = ["lb"]

[workload]
inbound = { calls = 120, rate_per_s = 2, hold = "20s" }

[oracles]
every_call_terminates = false
"#;

#[test]
fn a_pod_whose_slot_queue_stays_over_its_bound_exits_and_without_a_supervisor_stays_down() {
    let h = support::history_of(QUEUE_EXIT, "queue-exit.toml");
    let exited: Vec<_> = h
        .of_kind("node.exit")
        .map(|r| {
            (
                r.t_ms,
                r.host.to_string(),
                r.str("reason").map(str::to_string),
            )
        })
        .collect();
    assert!(!exited.is_empty());
    for (t, host, reason) in &exited {
        assert_eq!(reason.as_deref(), Some("more than 4 calls queued for 5s"));
        // The queue was over 4 for the 5 s before the exit, without a break.
        let over_since = h
            .of_kind("slot.occupancy")
            .filter(|r| r.host.as_ref() == host && r.t_ms <= *t)
            .fold(None, |since, r| {
                match (r.u64("queued").expect("queued") > 4, since) {
                    (true, None) => Some(r.t_ms),
                    (true, s) => s,
                    (false, _) => None,
                }
            })
            .expect("the queue was over its bound at the exit");
        assert!(
            t - over_since >= 5000,
            "{host} exited {}ms after going over",
            t - over_since
        );
        // No supervisor: the pod emits nothing after its exit.
        assert!(!h
            .records
            .iter()
            .any(|r| r.host.as_ref() == host && r.t_ms > *t + 20));
    }
    assert!(restarts(&h).is_empty());
}

#[test]
fn bad_exit_and_supervisor_settings_name_their_line_and_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "exit_when = { dependency_failures = 3 }",
            "exit_when = { dependency_failures = 0 }",
            "nodes.sip.exit_when.dependency_failures",
        ),
        (
            "exit_when = { dependency_failures = 3 }",
            "exit_when = {}",
            "nodes.sip.exit_when",
        ),
        (
            "exit_when = { dependency_failures = 3 }",
            "exit_when = { queue_over = 3 }",
            "nodes.sip.exit_when.queue_over",
        ),
        (
            "backoff = 2.0",
            "backoff = 0.5",
            "nodes.sip.supervisor.backoff",
        ),
        (
            "max_delay = \"60s\"",
            "max_delay = \"1s\"",
            "nodes.sip.supervisor.max_delay",
        ),
        (
            "backoff = 2.0",
            "backof = 2.0",
            "nodes.sip.supervisor.backof",
        ),
    ];
    support::assert_field_errors(
        "fixtures/scenarios/mechanisms/self-shutdown-failing.toml",
        cases,
    );
}
