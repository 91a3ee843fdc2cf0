//! Worker registration (issue 18, `nodes::call_worker`, `nodes::dispatcher`,
//! `nodes::registration`): call workers that register with a dispatcher
//! over a persistent connection, keepalives that notice a connection a
//! partition broke in silence, reconnects with backoff, and
//! `dispatch_after_heal`, which catches workers stranded after a heal.
//!
//! Each test runs real scenarios (separate turmoil hosts, TCP between
//! them) and reads the history: `worker.register` / `worker.lost` on the
//! workers, `worker.registered` / `worker.expired` / `dispatch.sent` /
//! `dispatch.none` on the dispatcher, `dispatch.received` on the workers.

use crate::support;
use callsim::history::History;
use callsim::scenario::Scenario;
use std::collections::BTreeMap;
use std::path::Path;

const FAILING: &str = "fixtures/scenarios/mechanisms/stranded-workers-failing.toml";
const PASSING: &str = "fixtures/scenarios/mechanisms/stranded-workers-passing.toml";
const WORKERS: [&str; 3] = ["call-worker-1", "call-worker-2", "call-worker-3"];
/// The demo pair's partition ends here.
const HEAL_MS: u64 = 40_000;

fn load(path: &str) -> Scenario {
    Scenario::load(Path::new(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Dispatches each worker received at or after `from_ms` (the figure).
fn received_from(h: &History, from_ms: u64) -> BTreeMap<String, usize> {
    let mut out: BTreeMap<String, usize> = WORKERS.iter().map(|w| (w.to_string(), 0)).collect();
    for r in h.of_kind("dispatch.received").filter(|r| r.t_ms >= from_ms) {
        *out.entry(r.host.to_string()).or_default() += 1;
    }
    out
}

/// `(time, attempt)` of each registration attempt of `worker`.
fn attempts(h: &History, worker: &str) -> Vec<(u64, u64)> {
    h.of_kind("worker.register")
        .filter(|r| r.host.as_ref() == worker)
        .map(|r| (r.t_ms, r.u64("attempt").expect("attempt")))
        .collect()
}

/// Times the dispatcher registered `worker`.
fn registered(h: &History, worker: &str) -> Vec<u64> {
    h.of_kind("worker.registered")
        .filter(|r| r.str("worker") == Some(worker))
        .map(|r| r.t_ms)
        .collect()
}

#[test]
fn workers_without_keepalives_stay_stranded_after_a_heal_and_dispatch_after_heal_says_so() {
    let failing = load(FAILING);
    let passing = load(PASSING);
    for seed in 1..=3 {
        let f = support::run(&failing, seed);
        let p = support::run(&passing, seed);
        let lines =
            |r: &callsim::report::Report| r.violations.iter().map(|v| v.line()).collect::<Vec<_>>();
        // A liveness violation only: exit 3, one per stranded worker.
        assert_eq!(f.exit_code(), 3, "seed {seed}: {:?}", lines(&f));
        let named: Vec<&str> = f
            .violations
            .iter()
            .map(|v| {
                assert_eq!(v.oracle, "dispatch_after_heal", "seed {seed}: {}", v.line());
                if v.message.contains("call-worker-2") {
                    "call-worker-2"
                } else if v.message.contains("call-worker-3") {
                    "call-worker-3"
                } else {
                    "other"
                }
            })
            .collect();
        assert_eq!(named, ["call-worker-2", "call-worker-3"], "seed {seed}");
        assert_eq!(p.exit_code(), 0, "seed {seed}: {:?}", lines(&p));

        // The figure: dispatches per worker from the heal on.
        let f_after = received_from(&f.history, HEAL_MS);
        let p_after = received_from(&p.history, HEAL_MS);
        eprintln!(
            "seed {seed}: dispatches after the heal: failing {f_after:?}, passing {p_after:?}"
        );
        assert_eq!(f_after["call-worker-2"], 0, "seed {seed}: {f_after:?}");
        assert_eq!(f_after["call-worker-3"], 0, "seed {seed}: {f_after:?}");
        assert!(f_after["call-worker-1"] >= 60, "seed {seed}: {f_after:?}");
        for w in WORKERS {
            assert!(p_after[w] >= 20, "seed {seed} {w}: {p_after:?}");
        }

        // Failing: the dispatcher dropped both cut-off workers during the
        // partition, and neither ever tried to register again.
        for w in ["call-worker-2", "call-worker-3"] {
            let expired: Vec<(u64, &str)> = f
                .history
                .of_kind("worker.expired")
                .filter(|r| r.str("worker") == Some(w))
                .map(|r| (r.t_ms, r.str("reason").expect("reason")))
                .collect();
            assert_eq!(expired.len(), 1, "seed {seed} {w}: {expired:?}");
            assert!((20_000..HEAL_MS).contains(&expired[0].0), "{expired:?}");
            assert_eq!(expired[0].1, "no answer", "seed {seed} {w}");
            assert_eq!(attempts(&f.history, w).len(), 1, "seed {seed} {w}");
            assert_eq!(registered(&f.history, w).len(), 1, "seed {seed} {w}");
        }
        // Passing: each cut-off worker noticed (an unacked keepalive),
        // registered again after the heal, within its backoff's max (4 s)
        // and a connect.
        for w in ["call-worker-2", "call-worker-3"] {
            let lost = p
                .history
                .of_kind("worker.lost")
                .find(|r| r.host.as_ref() == w)
                .map(|r| (r.t_ms, r.str("reason").expect("reason")))
                .expect("the worker noticed");
            assert_eq!(lost.1, "keepalive timeout", "seed {seed} {w}");
            assert!(
                (20_000..24_000).contains(&lost.0),
                "seed {seed} {w}: {lost:?}"
            );
            let again: Vec<u64> = registered(&p.history, w)
                .into_iter()
                .filter(|t| *t >= HEAL_MS)
                .collect();
            assert_eq!(again.len(), 1, "seed {seed} {w}: {again:?}");
            assert!(
                again[0] <= HEAL_MS + 4_000 + 1_000,
                "seed {seed} {w}: {again:?}"
            );
        }
        // The sweep's coverage sees it: a worker dropped in both, one
        // registered again only with keepalives.
        let reached = |h: &History, name: &str| {
            callsim::faults::coverage::RunCoverage::of(h, Vec::new())
                .states
                .contains(name)
        };
        assert!(reached(&f.history, "worker.dropped"));
        assert!(reached(&p.history, "worker.dropped"));
        assert!(!reached(&f.history, "worker.reregistered"), "seed {seed}");
        assert!(reached(&p.history, "worker.reregistered"), "seed {seed}");
        // Both variants answer every call: the dispatcher moves a call
        // from a silent worker to the next.
        for (r, name) in [(&f, "failing"), (&p, "passing")] {
            let answered = r
                .history
                .of_kind("call.end")
                .filter(|e| e.host.as_ref() == "carrier" && e.u64("status") == Some(200))
                .count();
            assert_eq!(answered, 200, "{name} seed {seed}");
        }
    }
}

/// One worker cut off from its dispatcher for 60 s: its reconnects.
const LONG_CUT: &str = r#"
[run]
seed = 1
duration = "130s"
tick = "10ms"

[nodes.gateway]
agent = "dispatcher"
[nodes.bus]
[nodes.sip]
pods = 1
[nodes.lb]
pods = 1
backends = ["sip"]
[nodes.carrier]
inbound_entry = ["lb"]
[nodes.dispatcher]
[nodes.call-worker]
pods = 2
keepalive = { interval = "2s", timeout = "1s" }
reconnect = { backoff = "500ms", factor = 3.0, max = "10s" }
connect_timeout = "1s"

[workload]
inbound = { calls = 120, rate_per_s = 1, hold = "2s" }

[[faults]]
kind = "partition"
between = ["dispatcher", "call-worker-2"]
at = "10s"
until = "70s"

[oracles]
dispatch_after_heal = { within = "15s" }
"#;

#[test]
fn reconnects_back_off_by_their_factor_up_to_max_and_never_without_a_policy() {
    let h = support::history_of(LONG_CUT, "long-cut.toml");
    let w = "call-worker-2";
    // Each attempt after the first follows the previous loss by the
    // policy's wait: 500 ms after the registered session ended, then x3
    // for each attempt in a row that failed, at most 10 s.
    let lost: Vec<(u64, String)> = h
        .of_kind("worker.lost")
        .filter(|r| r.host.as_ref() == w)
        .map(|r| (r.t_ms, r.str("reason").expect("reason").to_string()))
        .collect();
    let tries = attempts(&h, w);
    assert!(tries.len() >= 8, "{tries:?}");
    assert_eq!(lost[0].1, "keepalive timeout", "{lost:?}");
    let expected = [500, 1_500, 4_500, 10_000, 10_000, 10_000];
    for (i, want) in expected.iter().enumerate() {
        let (t_lost, _) = lost[i];
        let (t_next, attempt) = tries[i + 1];
        assert_eq!(attempt, i as u64 + 2);
        assert_eq!(
            t_next - t_lost,
            *want,
            "attempt {attempt}: {tries:?} {lost:?}"
        );
    }
    // The cut heals at 70 s: the next attempt (at most 10 s later)
    // registers, and the worker takes calls again.
    let back = registered(&h, w);
    assert_eq!(back.len(), 2, "{back:?}");
    assert!((70_000..=81_000).contains(&back[1]), "{back:?}");
    assert!(received_from(&h, back[1])[w] > 0);

    // The same cut with `reconnect = false`: one loss, no attempt after
    // it, and dispatch_after_heal says the worker is stranded.
    let text = LONG_CUT.replace(
        "reconnect = { backoff = \"500ms\", factor = 3.0, max = \"10s\" }",
        "reconnect = false",
    );
    assert_ne!(text, LONG_CUT);
    let scenario = Scenario::from_toml(&text, Path::new("no-reconnect.toml")).expect("valid");
    let report = support::run(&scenario, 1);
    assert_eq!(attempts(&report.history, w).len(), 1);
    assert_eq!(
        report
            .history
            .of_kind("worker.lost")
            .filter(|r| r.host.as_ref() == w)
            .count(),
        1
    );
    assert_eq!(report.exit_code(), 3);
    assert!(
        report
            .violations
            .iter()
            .all(|v| v.oracle == "dispatch_after_heal" && v.message.contains(w)),
        "{:?}",
        report
            .violations
            .iter()
            .map(|v| v.line())
            .collect::<Vec<_>>()
    );
}

#[test]
fn with_no_worker_registered_the_dispatcher_refuses_and_the_call_fails_480() {
    // Every worker cut off from 10 s to 30 s: calls in the cut find no
    // registered worker once the dispatcher has dropped them.
    let text = LONG_CUT
        .replace(
            "between = [\"dispatcher\", \"call-worker-2\"]",
            "between = [\"dispatcher\", \"call-worker\"]",
        )
        .replace("until = \"70s\"", "until = \"30s\"");
    let h = support::history_of(&text, "all-cut.toml");
    // The workers come back with their backoff (at most 10 s) after 30 s.
    let back = h
        .of_kind("worker.registered")
        .map(|r| r.t_ms)
        .find(|t| *t >= 30_000)
        .expect("a worker registers again");
    assert!(back <= 30_000 + 10_000 + 1_000, "{back}");
    let none: Vec<(u64, &str)> = h
        .of_kind("dispatch.none")
        .map(|r| (r.t_ms, r.call().expect("call")))
        .collect();
    assert!(none.len() >= 10, "{none:?}");
    for (t, call) in &none {
        assert!((10_000..=back).contains(t), "{t} {call} (back at {back})");
        let status = h
            .of_call(call)
            .find(|r| r.is("call.end") && r.host.as_ref() == "carrier")
            .and_then(|r| r.u64("status"));
        assert_eq!(status, Some(480), "{call}");
    }
    // Before the cut and once a worker is back, calls are answered.
    let starts: BTreeMap<&str, u64> = h
        .of_kind("call.start")
        .filter(|r| r.host.as_ref() == "carrier")
        .filter_map(|r| Some((r.call()?, r.t_ms)))
        .collect();
    for (call, t) in starts {
        if t + 3_000 < 10_000 || t > back {
            let status = h
                .of_call(call)
                .find(|r| r.is("call.end") && r.host.as_ref() == "carrier")
                .and_then(|r| r.u64("status"));
            assert_eq!(status, Some(200), "{call} started at {t}");
        }
    }
}

#[test]
fn bad_registration_settings_name_their_line_and_field() {
    let base = std::fs::read_to_string(FAILING).expect("the demo scenario");
    let worker = "connect_timeout = \"1s\"";
    let cases = [
        ("pods = 3", "pods = 0", "nodes.call-worker.pods"),
        (
            "keepalive = false",
            "keepalive = { interval = \"0s\" }",
            "nodes.call-worker.keepalive.interval",
        ),
        (
            "keepalive = false",
            "keepalive = { interval = \"1s\", timeout = \"2s\" }",
            "nodes.call-worker.keepalive.timeout",
        ),
        (
            "keepalive = false",
            "keepalive = { intervl = \"1s\" }",
            "nodes.call-worker.keepalive.intervl",
        ),
        (
            "keepalive = false",
            "keepalive = \"off\"",
            "nodes.call-worker.keepalive",
        ),
        (
            "reconnect = { backoff = \"1s\", factor = 2.0, max = \"4s\" }",
            "reconnect = { backoff = \"0s\", factor = 2.0, max = \"4s\" }",
            "nodes.call-worker.reconnect.backoff",
        ),
        (
            "reconnect = { backoff = \"1s\", factor = 2.0, max = \"4s\" }",
            "reconnect = { backoff = \"1s\", factor = 0.5, max = \"4s\" }",
            "nodes.call-worker.reconnect.factor",
        ),
        (
            "reconnect = { backoff = \"1s\", factor = 2.0, max = \"4s\" }",
            "reconnect = { backoff = \"1s\", factor = 2.0, max = \"500ms\" }",
            "nodes.call-worker.reconnect.max",
        ),
        (
            "reconnect = { backoff = \"1s\", factor = 2.0, max = \"4s\" }",
            "reconnect = { backoff = \"1s\", factr = 2.0 }",
            "nodes.call-worker.reconnect.factr",
        ),
        (
            worker,
            "connect_timeout = \"0s\"",
            "nodes.call-worker.connect_timeout",
        ),
        (
            worker,
            "dispatcher = \"gateway\"",
            "nodes.call-worker.dispatcher",
        ),
        (
            worker,
            "dispatcher = \"nowhere\"",
            "nodes.call-worker.dispatcher",
        ),
        (
            worker,
            "reject_share = 1.5",
            "nodes.call-worker.reject_share",
        ),
        (worker, "reject_code = 200", "nodes.call-worker.reject_code"),
        (
            "expiry = \"6s\"",
            "expiry = \"0s\"",
            "nodes.dispatcher.expiry",
        ),
        (
            "worker_timeout = \"2s\"",
            "worker_timeout = \"0s\"",
            "nodes.dispatcher.worker_timeout",
        ),
        (
            "dispatch_after_heal = { within = \"20s\" }",
            "dispatch_after_heal = { within = \"0s\" }",
            "oracles.dispatch_after_heal.within",
        ),
        (
            "dispatch_after_heal = { within = \"20s\" }",
            "dispatch_after_heal = { withn = \"20s\" }",
            "oracles.dispatch_after_heal.withn",
        ),
    ];
    for (from, to, field) in cases {
        // The first line that is `from` (the header's comments mention
        // some of these settings too).
        let text = replace_line(&base, from, to);
        assert_ne!(text, base, "{from}");
        let e = Scenario::from_toml(&text, Path::new("bad.toml")).expect_err(to);
        assert_eq!(e.field, field, "{to}: {e}");
        let line = text.lines().position(|l| l.contains(to)).expect("the line") + 1;
        assert_eq!(e.line, line, "{to}: {e}");
        assert!(e.to_string().contains("bad.toml"), "{e}");
    }
    // `true` is the defaults; both variants of the pair load.
    let on = replace_line(&base, "keepalive = false", "keepalive = true");
    assert_ne!(on, base);
    Scenario::from_toml(&on, Path::new("on.toml")).expect("keepalive = true loads");
    load(PASSING);
}

/// `text` with its first line equal to `from` replaced by `to`.
fn replace_line(text: &str, from: &str, to: &str) -> String {
    let mut done = false;
    let mut out: Vec<&str> = Vec::new();
    for line in text.lines() {
        if !done && line == from {
            out.push(to);
            done = true;
        } else {
            out.push(line);
        }
    }
    out.join("\n") + "\n"
}
