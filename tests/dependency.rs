//! The shared dependency (`nodes::dependency`): its latency emerges from
//! its queueing model (one slot and fixed service times serve back to
//! back, so the k-th of a burst waits about k service times), a caller
//! pod never has more than `pool` requests in flight, timeouts and
//! retries follow the caller's config to the millisecond, a `saturate`
//! fault stretches service times by its factor, every new field is
//! validated, and the demo pair `mechanisms/dependency-cascade` shows a
//! slowness that outlasts its fault against one that heals with it.
//!
//! Every figure is read from the history (`dep.request` at the caller,
//! `dep.serve` at the dependency) and asserted against the scenario's
//! config.

use crate::support;
use callsim::history::{History, Record};
use std::collections::BTreeMap;

/// A carrier sending `calls` inbound calls `gap_ms` apart straight to one
/// SIP pod, whose setup makes one lookup on the dependency; `dependency`
/// and `client` are the two configs' fields, `extra` more TOML (faults).
fn scenario(calls: u32, gap_ms: u64, dependency: &str, client: &str, extra: &str) -> String {
    let rate = 1000.0 / gap_ms as f64;
    format!(
        r#"[run]
seed = 1
duration = "30s"
tick = "1ms"

[nodes.gateway]
[nodes.bus]
[nodes.agent]
answer_after = "100ms"
[nodes.carrier]
entry_timeout = "20s"
[nodes.sip]
dependency = {{ {client} }}
[nodes.dependency]
{dependency}

[workload]
inbound = {{ calls = {calls}, rate_per_s = {rate:?}, arrivals = "fixed", hold = "1s", start = "1s" }}
{extra}
"#
    )
}

fn history(text: &str) -> History {
    support::history_of(text, "dependency-test.toml")
}

/// The dependency's records, in the order it finished them.
fn served(h: &History) -> Vec<&Record> {
    h.of_kind("dep.serve").collect()
}

fn field(r: &Record, name: &str) -> u64 {
    r.u64(name)
        .unwrap_or_else(|| panic!("{} has no {name}: {r:?}", r.kind()))
}

/// When a served request took its slot: its end less its service time.
fn slot_taken_ms(r: &Record) -> u64 {
    r.t_ms - field(r, "service_ms")
}

/// When it reached the dependency.
fn arrived_ms(r: &Record) -> u64 {
    slot_taken_ms(r) - field(r, "queued_ms")
}

/// One slot, a fixed 100 ms per request, calls 10 ms apart: the
/// dependency serves them back to back in arrival order, each one taking
/// the slot when the one before leaves it (or on arrival, when it is
/// free), so the k-th of the burst waits about k * (100 - 10) ms.
#[test]
fn with_one_slot_the_kth_request_waits_k_service_times() {
    let (service_ms, gap_ms, calls) = (100, 10, 8u64);
    let h = history(&scenario(
        calls as u32,
        gap_ms,
        &format!("workers = 1\nservice_time = \"{service_ms}ms\""),
        "timeout = \"5s\"",
        "",
    ));
    let served = served(&h);
    assert_eq!(served.len() as u64, calls);
    let mut previous_end = 0;
    for (k, r) in served.iter().enumerate() {
        assert_eq!(r.str("outcome"), Some("ok"), "{r:?}");
        assert_eq!(field(r, "service_ms"), service_ms, "{r:?}");
        // All arrive within the first service time: the k-th finds the
        // first in service and k - 1 waiting.
        assert_eq!(field(r, "depth"), (k as u64).saturating_sub(1), "{r:?}");
        // FIFO, work-conserving: the slot is taken the moment it frees.
        assert_eq!(slot_taken_ms(r), arrived_ms(r).max(previous_end), "{r:?}");
        previous_end = r.t_ms;
    }
    // The burst queues: the k-th waits k service times less the k gaps
    // it arrived later (network jitter: a few ms either way).
    for (k, r) in served.iter().enumerate() {
        let want = k as u64 * (service_ms - gap_ms);
        let waited = field(r, "queued_ms");
        assert!(
            waited + 5 * k as u64 >= want && waited <= want + 5 * k as u64,
            "request {k} waited {waited} ms, about {want} expected"
        );
    }
    // And the callers saw it: the last lookup took about 8 service
    // times less its late start.
    let slowest = h
        .of_kind("dep.request")
        .map(|r| field(r, "ms"))
        .max()
        .expect("lookups");
    assert!(
        slowest >= calls * service_ms - (calls - 1) * gap_ms - 10,
        "{slowest}"
    );
}

/// Requests in flight from one caller pod, from the dependency's side:
/// for each peer, the most requests between arrival and end at once.
fn in_flight_max(h: &History) -> BTreeMap<String, u64> {
    let mut edges: BTreeMap<String, Vec<(u64, i64)>> = BTreeMap::new();
    for r in h.of_kind("dep.serve") {
        let peer = r.str("peer").expect("peer").to_string();
        let e = edges.entry(peer).or_default();
        e.push((arrived_ms(r), 1));
        e.push((r.t_ms, -1));
    }
    edges
        .into_iter()
        .map(|(peer, mut e)| {
            // Ends before arrivals at one instant.
            e.sort();
            let (mut now, mut max) = (0i64, 0i64);
            for (_, d) in e {
                now += d;
                max = max.max(now);
            }
            (peer, max as u64)
        })
        .collect()
}

/// Twelve calls 5 ms apart on a dependency with 16 slots and 200 ms per
/// request: with a pool of 3, the pod never has more than 3 lookups at
/// the dependency at once (and does reach 3); with a pool of 12, all 12
/// are there together. No timeout fires, so nothing is left at the server
/// after its caller gave up.
#[test]
fn a_caller_pod_never_has_more_than_its_pool_in_flight() {
    for pool in [3u64, 12] {
        let h = history(&scenario(
            12,
            5,
            "workers = 16\nservice_time = \"200ms\"",
            &format!("timeout = \"10s\", pool = {pool}"),
            "",
        ));
        let max = in_flight_max(&h);
        assert_eq!(max.get("sip-1"), Some(&pool), "pool {pool}: {max:?}");
        assert!(
            h.of_kind("dep.request")
                .all(|r| r.str("outcome") == Some("ok")),
            "pool {pool}"
        );
    }
}

/// A dependency that takes 1 s a request behind callers that give each
/// attempt 200 ms, retry twice 100 ms apart and answer 480 when every
/// attempt failed: each call makes exactly 3 attempts, each ends at its
/// timeout, the next starts after the backoff, and the call is rejected
/// with the configured code.
#[test]
fn timeouts_and_retries_follow_the_callers_config() {
    let h = history(&scenario(
        4,
        2000,
        "workers = 1\nservice_time = \"1s\"",
        "timeout = \"200ms\", retries = 2, retry_backoff = \"100ms\", failure_code = 480",
        "",
    ));
    let mut attempts: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in h.of_kind("dep.request") {
        attempts.entry(r.call().expect("call")).or_default().push(r);
    }
    assert_eq!(attempts.len(), 4);
    for (call, rs) in &attempts {
        let numbers: Vec<u64> = rs.iter().map(|r| field(r, "attempt")).collect();
        assert_eq!(numbers, vec![1, 2, 3], "{call}");
        for r in rs {
            assert_eq!(r.str("outcome"), Some("timeout"), "{r:?}");
            assert_eq!(field(r, "ms"), 200, "{r:?}");
        }
        for pair in rs.windows(2) {
            // The next attempt ends a backoff and a timeout later.
            assert_eq!(pair[1].t_ms - pair[0].t_ms, 100 + 200, "{call}");
        }
        let end = h
            .of_kind("call.end")
            .find(|r| r.call() == Some(*call) && &*r.host == "carrier")
            .expect("the call ends");
        assert_eq!(end.u64("status"), Some(480), "{call}");
    }
}

/// A `saturate` fault with `service_time_factor = 3` from 2 s to 4 s:
/// every request that takes its slot inside the window is served in
/// 300 ms, every other one in 100 ms.
#[test]
fn a_saturate_fault_stretches_service_times_by_its_factor() {
    let fault = r#"
[[faults]]
kind = "saturate"
node = "dependency"
service_time_factor = 3.0
at = "2s"
until = "4s"
"#;
    let h = history(&scenario(
        30,
        200,
        "workers = 4\nservice_time = \"100ms\"",
        "timeout = \"5s\"",
        fault,
    ));
    let (mut slow, mut normal) = (0, 0);
    for r in served(&h) {
        let inside = (2000..4000).contains(&slot_taken_ms(r));
        let want = if inside { 300 } else { 100 };
        assert_eq!(field(r, "service_ms"), want, "{r:?}");
        if inside {
            slow += 1;
        } else {
            normal += 1;
        }
    }
    assert!(slow >= 8 && normal >= 20, "{slow} slow, {normal} normal");
}

#[test]
fn every_new_field_is_validated() {
    support::assert_field_errors(
        "fixtures/scenarios/mechanisms/dependency-cascade-passing.toml",
        &[
            ("workers = 2", "workers = 0", "nodes.dependency.workers"),
            (
                "queue_max = 1000",
                "queue_max = 1000000",
                "nodes.dependency.queue_max",
            ),
            (
                "service_time = { uniform = [\"60ms\", \"140ms\"] }",
                "service_time = { uniform = [\"140ms\", \"60ms\"] }",
                "nodes.dependency.service_time",
            ),
            (
                "service_time = { uniform = [\"60ms\", \"140ms\"] }",
                "service_time = \"0s\"",
                "nodes.dependency.service_time",
            ),
            (
                "contention = 0.5",
                "contention = -0.5",
                "nodes.dependency.contention",
            ),
            (
                "abandoned = \"drop\"",
                "abandoned = \"sometimes\"",
                "nodes.dependency.abandoned",
            ),
            (
                "target = \"dependency\"",
                "target = \"gateway\"",
                "nodes.sip.dependency.target",
            ),
            (
                "target = \"dependency\"",
                "target = \"db\"",
                "nodes.sip.dependency.target",
            ),
            (
                "timeout = \"800ms\"",
                "timeout = \"0s\"",
                "nodes.sip.dependency.timeout",
            ),
            (
                "retries = 1,",
                "retries = 1000,",
                "nodes.sip.dependency.retries",
            ),
            ("pool = 4", "pool = 0", "nodes.sip.dependency.pool"),
            (
                "pool = 4",
                "pool = 4, lookups = 0",
                "nodes.sip.dependency.lookups",
            ),
            (
                "pool = 4",
                "pool = 4, failure_code = 200",
                "nodes.sip.dependency.failure_code",
            ),
        ],
    );
}

/// Per window of 10 s: (calls started, calls answered) at the carrier.
fn answered_by_window(h: &History) -> BTreeMap<u64, (u64, u64)> {
    let starts: BTreeMap<&str, u64> = h
        .of_kind("call.start")
        .filter(|r| &*r.host == "carrier")
        .filter_map(|r| Some((r.call()?, r.t_ms)))
        .collect();
    let mut out: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for r in h.of_kind("call.end").filter(|r| &*r.host == "carrier") {
        let Some(start) = r.call().and_then(|c| starts.get(c)) else {
            continue;
        };
        let w = out.entry(start / 10_000).or_default();
        w.0 += 1;
        if r.u64("status") == Some(200) {
            w.1 += 1;
        }
    }
    out
}

/// The demo pair on two seeds: a 10 s saturation of the dependency
/// (30-40 s). Failing: 1 s timeouts, 3 immediate retries and a dependency
/// that serves abandoned requests; the queue fills with dead requests and
/// calls keep failing long after the fault (`inbound_availability`,
/// exit 1). Passing: 800 ms timeouts, one retry after 500 ms, a pool of 4
/// and a dependency that drops abandoned requests: every window after
/// the fault's is whole again, exit 0.
#[test]
fn the_cascade_outlasts_its_fault_unless_timeouts_and_retries_contain_it() {
    let failing = support::mechanism("dependency-cascade-failing");
    let passing = support::mechanism("dependency-cascade-passing");
    for seed in 1..=2 {
        let (f, p) = support::demo_pair(&failing, &passing, seed, "inbound_availability");
        let (fw, pw) = (
            answered_by_window(&f.history),
            answered_by_window(&p.history),
        );
        // Before the fault, both answer every call.
        for w in 0..3 {
            assert_eq!(fw[&w].0, fw[&w].1, "seed {seed} failing window {w}: {fw:?}");
            assert_eq!(pw[&w].0, pw[&w].1, "seed {seed} passing window {w}: {pw:?}");
        }
        // From 50 s to 90 s, well after the fault: the failing one
        // answers almost nothing, the passing one everything.
        for w in 5..9 {
            assert!(
                fw[&w].1 * 10 < fw[&w].0,
                "seed {seed} failing window {w}: {fw:?}"
            );
            assert_eq!(pw[&w].0, pw[&w].1, "seed {seed} passing window {w}: {pw:?}");
        }
        // The failing dependency spends its time on requests nobody
        // waits for; the passing one drops them.
        let outcomes = |h: &History, o: &str| {
            h.of_kind("dep.serve")
                .filter(|r| r.str("outcome") == Some(o))
                .count()
        };
        assert!(
            outcomes(&f.history, "abandoned") > 5 * outcomes(&f.history, "ok"),
            "seed {seed}"
        );
        assert_eq!(outcomes(&f.history, "dropped"), 0, "seed {seed}");
        assert!(outcomes(&p.history, "dropped") > 0, "seed {seed}");
        // Retries amplify the load: the failing callers sent about four
        // attempts per failed lookup, the passing ones at most two.
        let attempts_max = |h: &History| {
            h.of_kind("dep.request")
                .map(|r| field(r, "attempt"))
                .max()
                .unwrap_or(0)
        };
        assert_eq!(attempts_max(&f.history), 4, "seed {seed}");
        assert_eq!(attempts_max(&p.history), 2, "seed {seed}");
    }
}
