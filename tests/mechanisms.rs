//! The platform mechanisms of issue 18, each shown by a pair of scenarios
//! in fixtures/scenarios/mechanisms/ that differ only in config: the
//! failing one shows the mechanism's failure mode and a generic oracle
//! catches it (exit 1), the passing one keeps every property (exit 0).
//! Each test runs its pair and checks the verdicts, which oracle fired, and
//! the figure that shows the mechanism.

use crate::support;
use callsim::history::History;
use callsim::report::Report;
use callsim::scenario::Scenario;
use std::collections::BTreeSet;
use std::path::Path;

fn run(name: &str) -> Report {
    let path = format!("fixtures/scenarios/mechanisms/{name}.toml");
    let scenario = Scenario::load(Path::new(&path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    support::run(&scenario, scenario.run.seed)
}

/// The names of the oracles that fired.
fn fired(report: &Report) -> BTreeSet<&str> {
    report
        .violations
        .iter()
        .map(|v| v.oracle.as_str())
        .collect()
}

/// Checks a pair: the failing one exits 1 with only `oracle` firing, the
/// passing one exits 0. Returns both reports.
fn pair(mechanism: &str, oracle: &str) -> (Report, Report) {
    let failing = run(&format!("{mechanism}-failing"));
    let passing = run(&format!("{mechanism}-passing"));
    assert_eq!(failing.exit_code(), 1, "{mechanism}-failing");
    assert_eq!(
        fired(&failing),
        BTreeSet::from([oracle]),
        "{mechanism}-failing"
    );
    assert_eq!(
        passing.exit_code(),
        0,
        "{mechanism}-passing: {:?}",
        passing
            .violations
            .iter()
            .map(|v| v.line())
            .collect::<Vec<_>>()
    );
    (failing, passing)
}

/// Most slots held and most calls queued, over the run.
fn slot_peaks(h: &History) -> (u64, u64, u64) {
    let mut peak = (0, 0, 0);
    for r in h.of_kind("slot.occupancy") {
        let in_use = r.u64("in_use").expect("in_use");
        let capacity = r.u64("capacity").expect("capacity");
        assert!(in_use <= capacity, "{in_use} slots of {capacity} held");
        peak.0 = peak.0.max(in_use);
        peak.1 = peak.1.max(r.u64("queued").expect("queued"));
        peak.2 = capacity;
    }
    peak
}

#[test]
fn call_slots_that_queue_refuse_late_and_reject_fast_refuses_at_once() {
    let (failing, passing) = pair("call-slots-queue", "time_to_outcome");
    // Both fill every slot; only the queueing one makes calls wait.
    let (held, queued, capacity) = slot_peaks(&failing.history);
    assert_eq!((held, capacity), (4, 4));
    assert!(queued > 0);
    let (held, queued, _) = slot_peaks(&passing.history);
    assert_eq!((held, queued), (4, 0));
    // Every refusal the failing one caught came after its queue timeout.
    for v in &failing.violations {
        assert!(v.message.contains("refused with 503 20"), "{}", v.message);
    }
    // The passing one's refusals reach the client at once.
    let slowest_refusal = passing
        .history
        .of_kind("client.response")
        .filter(|r| r.u64("status") == Some(503))
        .map(|r| r.u64("ms").expect("ms"))
        .max()
        .expect("some calls are refused");
    assert!(slowest_refusal < 1000, "{slowest_refusal} ms");
}

/// Inbound: a pod whose one slot is held refuses the next INVITE with 503
/// at once (with `Retry-After`), and takes calls again once it is free.
#[test]
fn an_inbound_call_finding_the_slots_full_gets_503() {
    let text = r#"
[run]
seed = 1
duration = "40s"
tick = "10ms"
[nodes.gateway]
[nodes.bus]
[nodes.agent]
[nodes.sip]
slots = { capacity = 1 }
[nodes.carrier]
[workload]
inbound = { calls = 4, rate_per_s = 1, arrivals = "fixed", hold = "1500ms" }
[oracles]
every_call_terminates = { bound = "40s" }
"#;
    let h = support::history_of(text, "inbound-slots.toml");
    let finals: Vec<(String, String)> = h
        .of_kind("sip.recv")
        .filter(|r| r.host.to_string() == "carrier")
        .filter(|r| r.str("cseq").is_some_and(|c| c.ends_with("INVITE")))
        .filter(|r| {
            r.str("start_line")
                .is_some_and(|s| s.starts_with(['2', '5']))
        })
        .filter(|r| !r.bool("retransmission").unwrap_or(false))
        .map(|r| {
            (
                r.call().unwrap_or("").to_string(),
                r.str("start_line").unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(finals.iter().any(|(_, s)| s == "503"), "{finals:?}");
    assert!(finals.iter().any(|(_, s)| s == "200"), "{finals:?}");
}

#[test]
fn bad_slots_are_refused_by_field() {
    let text = |slots: &str| {
        format!(
            "[run]\nseed = 1\nduration = \"10s\"\n[nodes.gateway]\n[nodes.bus]\n[nodes.agent]\n[nodes.sip]\n{slots}\n[nodes.carrier]\n"
        )
    };
    for (slots, field) in [
        ("slots = { capacity = 0 }", "nodes.sip.slots.capacity"),
        (
            r#"slots = { capacity = 1, queue_timeout = "0s" }"#,
            "nodes.sip.slots.queue_timeout",
        ),
        (
            r#"slots = { capacity = 1, retry_after = "500ms" }"#,
            "nodes.sip.slots.retry_after",
        ),
        (
            r#"slots = { capacity = 1, when_full = "drop" }"#,
            "nodes.sip.slots.when_full",
        ),
        (
            "slots = { capacity = 1, queue_max = 0 }",
            "nodes.sip.slots.queue_max",
        ),
    ] {
        let e = Scenario::from_toml(&text(slots), Path::new("bad.toml")).expect_err(slots);
        assert_eq!((e.field.as_str(), e.line), (field, 8), "{slots}: {e}");
    }
}

/// Per call: (first attempt, attempts, last client record time, its kind).
fn client_calls(h: &History) -> std::collections::BTreeMap<String, (u64, u64, u64, String)> {
    let mut out = std::collections::BTreeMap::new();
    for r in h.records.iter().filter(|r| r.kind().starts_with("client.")) {
        let call = r.call().expect("client events name their call").to_string();
        let e = out.entry(call).or_insert((r.t_ms, 0, 0, String::new()));
        if r.is("client.attempt") {
            e.1 += 1;
        }
        e.2 = r.t_ms;
        e.3 = r.kind().to_string();
    }
    out
}

#[test]
fn a_client_without_timeouts_hangs_on_a_black_hole_and_one_with_them_gives_up() {
    let (failing, passing) = pair("client-hung", "time_to_outcome");
    let slowest = |h: &History| {
        client_calls(h)
            .values()
            .map(|(start, _, last, _)| last - start)
            .max()
            .expect("calls")
    };
    // The hung client waits out the black hole (up to its 60 s).
    assert!(
        slowest(&failing.history) > 40_000,
        "{}",
        slowest(&failing.history)
    );
    assert_eq!(failing.history.of_kind("client.gave_up").count(), 0);
    // The patient-but-bounded one gives up within its 25 s, and some calls
    // do give up.
    assert!(
        slowest(&passing.history) <= 25_000,
        "{}",
        slowest(&passing.history)
    );
    let gave_up = passing.history.of_kind("client.gave_up").count();
    assert!(gave_up > 0);
    // Every call of the passing twin ends on an outcome the client saw.
    for (call, (_, _, _, kind)) in client_calls(&passing.history) {
        assert!(
            kind == "client.response" || kind == "client.gave_up",
            "{call} ends on {kind}"
        );
    }
}

#[test]
fn retries_without_backoff_storm_and_backoff_with_jitter_does_not() {
    let (failing, passing) = pair("client-retry-storm", "retry_amplification");
    let most = |h: &History| {
        client_calls(h)
            .values()
            .map(|(_, attempts, ..)| *attempts)
            .max()
            .expect("calls")
    };
    let served = |h: &History| {
        h.of_kind("client.response")
            .filter(|r| r.u64("status") == Some(200))
            .count()
    };
    assert_eq!(most(&failing.history), 11);
    assert!(most(&passing.history) <= 4);
    // The storm itself costs calls: fewer are served than with backoff.
    assert!(
        served(&failing.history) < served(&passing.history),
        "{} vs {}",
        served(&failing.history),
        served(&passing.history)
    );
    // Retried attempts are served again: attempts after the first reach the
    // gateway as requests of their own.
    assert!(failing
        .history
        .of_kind("api.request")
        .any(|r| r.u64("attempt") >= Some(5)));
}

#[test]
fn a_black_holed_edge_hangs_a_client_without_timeouts_and_one_with_them_gives_up() {
    let (failing, passing) = pair("edge-black-hole", "time_to_outcome");
    // The failing client's calls in the window never end, even after the
    // edge serves again; the passing client's give up and later calls go
    // through the edge.
    let open = |h: &History| {
        client_calls(h)
            .values()
            .filter(|(.., kind)| kind != "client.response" && kind != "client.gave_up")
            .count()
    };
    assert!(open(&failing.history) > 0);
    assert_eq!(open(&passing.history), 0);
    assert!(passing.history.of_kind("client.gave_up").count() > 0);
    // The edge black-holes: no request of the window reached the gateway.
    let reached = |h: &History| h.of_kind("api.request").count();
    assert!(
        reached(&failing.history) < 30,
        "{}",
        reached(&failing.history)
    );
}

/// The edge's own statuses: 524 when the origin is slower than
/// `origin_timeout`, 503 past `connections_max`, 502 when the origin
/// refuses the connection.
#[test]
fn the_edge_answers_with_statuses_of_its_own() {
    let text = |edge: &str, fault: &str| {
        format!(
            r#"
[run]
seed = 1
duration = "40s"
tick = "10ms"
[nodes.api-edge]
{edge}
[nodes.gateway]
[nodes.bus]
[nodes.sip]
[nodes.carrier]
callees = [{{ weight = 1.0, outcome = "answer", answer_after = "5s", hold = "2s" }}]
[nodes.agent]
gateway = "api-edge"
clients = [{{ name = "sdk", share = 1.0, request_timeout = "20s" }}]
[workload]
outbound = {{ calls = 4, rate_per_s = 4.0, arrivals = "fixed", wait_until_answered = true, ringing_timeout = "30s" }}
{fault}
"#
        )
    };
    let statuses = |h: &History| -> Vec<(u64, u64)> {
        h.of_kind("client.response")
            .map(|r| (r.u64("status").expect("status"), r.u64("ms").expect("ms")))
            .collect()
    };
    // The origin answers after about 5 s; the edge waits 2 s.
    let h = support::history_of(&text(r#"origin_timeout = "2s""#, ""), "edge.toml");
    let seen = statuses(&h);
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(
        seen.iter()
            .all(|(s, ms)| *s == 524 && (2000..2200).contains(ms)),
        "{seen:?}"
    );
    // Served through: the callee's answer comes back as 200.
    let h = support::history_of(&text("", ""), "edge.toml");
    assert!(
        statuses(&h).iter().all(|(s, _)| *s == 200),
        "{:?}",
        statuses(&h)
    );
    // One connection at a time: the other three are refused at once.
    let h = support::history_of(&text("connections_max = 1", ""), "edge.toml");
    let seen = statuses(&h);
    assert_eq!(
        seen.iter().filter(|(s, _)| *s == 503).count(),
        3,
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|(s, _)| *s == 200).count(),
        1,
        "{seen:?}"
    );
    // The origin cut off: the edge's connection is refused.
    let cut =
        "[[faults]]\nkind = \"partition\"\nbetween = [\"api-edge\", \"gateway\"]\nat = \"0s\"";
    let h = support::history_of(&text("", cut), "edge.toml");
    assert!(
        statuses(&h).iter().all(|(s, _)| *s == 502),
        "{:?}",
        statuses(&h)
    );
}

#[test]
fn bad_edge_configs_are_refused_by_field() {
    let text = |line: &str| {
        format!("[run]\nseed = 1\nduration = \"10s\"\n[nodes.api-edge]\n{line}\n[nodes.gateway]\n[nodes.bus]\n[nodes.agent]\n[nodes.sip]\n[nodes.carrier]\n")
    };
    Scenario::from_toml(&text(""), Path::new("ok.toml")).expect("valid");
    for (line, field) in [
        (r#"origin = "nowhere""#, "nodes.api-edge.origin"),
        (
            r#"connect_timeout = "0s""#,
            "nodes.api-edge.connect_timeout",
        ),
        (r#"origin_timeout = "0s""#, "nodes.api-edge.origin_timeout"),
        ("connections_max = 0", "nodes.api-edge.connections_max"),
        (r#"mode = "sleep""#, "nodes.api-edge.mode"),
    ] {
        let e = Scenario::from_toml(&text(line), Path::new("bad.toml")).expect_err(line);
        assert_eq!((e.field.as_str(), e.line), (field, 5), "{line}: {e}");
    }
}

/// The gateway's slots: each outbound call holds one from its API request
/// to its end; a request finding them full is answered 503 at once, and a
/// slot freed by an ended call serves the next request.
#[test]
fn gateway_slots_hold_for_the_call_and_refuse_fast_when_full() {
    let text = r#"
[run]
seed = 1
duration = "60s"
tick = "10ms"
[nodes.gateway]
slots = { capacity = 2, retry_after = "3s" }
[nodes.bus]
[nodes.sip]
[nodes.carrier]
callees = [{ weight = 1.0, outcome = "answer", answer_after = "1s", hold = "10s" }]
[nodes.agent]
clients = [{ name = "sdk", share = 1.0, request_timeout = "20s" }]
[workload]
outbound = { calls = 6, rate_per_s = 1.0, arrivals = "fixed", wait_until_answered = false, start = "0s" }
[oracles]
every_call_terminates = { bound = "60s" }
time_to_outcome = { bound = "30s", refused_bound = "1s" }
"#;
    let scenario = Scenario::from_toml(text, Path::new("gateway-slots.toml")).expect("valid");
    let report = support::run(&scenario, 1);
    assert_eq!(report.exit_code(), 0, "{:?}", report.violations);
    let h = &report.history;
    // Calls 1 and 2 hold both slots for their ~12 s; calls 3-6, at 1 s
    // apart, find them full.
    let by_call: Vec<(String, u64)> = h
        .of_kind("client.response")
        .map(|r| {
            (
                r.call().expect("call").to_string(),
                r.u64("status").expect("status"),
            )
        })
        .collect();
    let refused: Vec<&str> = by_call
        .iter()
        .filter(|(_, s)| *s == 503)
        .map(|(c, _)| c.as_str())
        .collect();
    assert_eq!(refused, ["out-3", "out-4", "out-5", "out-6"], "{by_call:?}");
    let message = h
        .of_kind("call.end")
        .find(|r| r.call() == Some("out-3"))
        .and_then(|r| r.str("reason"))
        .expect("out-3 ended at the gateway");
    assert_eq!(message, "call slots full; retry after 3s");
    let (held, queued, capacity) = slot_peaks(h);
    assert_eq!((held, queued, capacity), (2, 0, 2));
    // Both slots are free again once the calls end.
    let last = h.of_kind("slot.occupancy").last().expect("occupancy");
    assert_eq!(last.u64("in_use"), Some(0));
    assert_eq!(last.host.to_string(), "gateway");
}

#[test]
fn bad_gateway_slots_are_refused_by_field() {
    let text = "[run]\nseed = 1\nduration = \"10s\"\n[nodes.gateway]\nslots = { capacity = 1, retry_after = \"0s\" }\n[nodes.bus]\n[nodes.agent]\n[nodes.sip]\n[nodes.carrier]\n";
    let e = Scenario::from_toml(text, Path::new("bad.toml")).expect_err("retry_after 0s");
    assert_eq!(
        (e.field.as_str(), e.line),
        ("nodes.gateway.slots.retry_after", 5)
    );
}
