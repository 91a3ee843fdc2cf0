//! Clock skew and drift per host (`clock`, issue 17 item 7): a host's own
//! timers follow its clock, deadlines cross the network as budgets so an
//! offset on one host breaks none of them, bad clock faults are refused
//! with file, line and field, and the history keeps true sim time.

use callsim::history::History;
use callsim::scenario::Scenario;
use std::collections::BTreeMap;
use std::path::Path;

/// The demo (fixtures/scenarios/faults/clock.toml): the gateway's clock
/// runs 20% fast from 20s to 50s; nobody answers; ringing_timeout 10s,
/// dial_margin 1s.
const DEMO: &str = "fixtures/scenarios/faults/clock.toml";
const FAULT_AT_MS: u64 = 20_000;
const FAULT_UNTIL_MS: u64 = 50_000;

fn demo_text() -> String {
    std::fs::read_to_string(DEMO).expect("the demo")
}

/// The text without its `[[faults]]` entry (it is the last table but
/// `[oracles]`).
fn without_fault(text: &str) -> String {
    let from = text.find("[[faults]]").expect("a fault");
    let to = text.find("[oracles]").expect("oracles");
    format!("{}{}", &text[..from], &text[to..])
}

fn scenario(text: &str, name: &str) -> Scenario {
    Scenario::from_toml(text, Path::new(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Per call: (call.start t_ms, api.response t_ms, status).
fn api_times(history: &History) -> BTreeMap<String, (u64, u64, u64)> {
    let mut out = BTreeMap::new();
    for r in history.of_kind("call.start") {
        out.insert(r.call().expect("call").to_string(), (r.t_ms, 0, 0));
    }
    for r in history.of_kind("api.response") {
        let entry = out.get_mut(r.call().expect("call")).expect("started");
        entry.1 = r.t_ms;
        entry.2 = r.u64("status").expect("status");
    }
    out
}

#[test]
fn a_fast_gateway_clock_ends_sync_calls_early_in_true_time() {
    // Setup: the demo, and the same scenario without its clock fault.
    let with = scenario(&demo_text(), "clock.toml");
    let without = scenario(&without_fault(&demo_text()), "no-clock.toml");
    let with = crate::support::run(&with, 1);
    let without = crate::support::run(&without, 1);
    let (a, b) = (api_times(&with.history), api_times(&without.history));
    assert_eq!(a.len(), 40);
    // Expectation: every call gets 408 either way; a call placed while the
    // gateway's clock runs fast (its whole dial inside the fault) gets it
    // when the gateway's 11 s reach 11 / 1.2 = 9.17 s of true time, a
    // call without the fault when the SIP service's ringing timeout fires.
    let mut early = 0;
    for (call, (start, end, status)) in &a {
        let (start_b, end_b, status_b) = b[call];
        assert_eq!((*status, status_b, *start), (408, 408, start_b), "{call}");
        let (took, took_b) = (end - start, end_b - start_b);
        assert!((10_000..=10_200).contains(&took_b), "{call}: {took_b} ms");
        if *start >= FAULT_AT_MS && start + 11_000 <= FAULT_UNTIL_MS {
            assert!((9_150..9_250).contains(&took), "{call}: {took} ms");
            early += 1;
        } else if *start + 10_200 < FAULT_AT_MS || *start >= FAULT_UNTIL_MS {
            assert_eq!(took, took_b, "{call}: outside the fault");
        }
    }
    assert!(early >= 15, "only {early} calls inside the fault");
    eprintln!("clock drift: {early} sync calls ended after ~9.17 s instead of 10 s");
    // Expectation: ringing_timeout_respected (on by default) catches the
    // early ends, and only with the fault.
    let oracle = |r: &callsim::report::Report| {
        r.violations
            .iter()
            .filter(|v| v.oracle == "ringing_timeout_respected")
            .count()
    };
    assert!(oracle(&with) >= early, "{:?}", with.violations);
    assert_eq!(oracle(&without), 0, "{:?}", without.violations);
}

#[test]
fn the_history_keeps_true_time_under_a_skewed_clock() {
    let report = crate::support::run(&scenario(&demo_text(), "clock.toml"), 1);
    let starts = super::fault_events(&report.history, "fault.start");
    let ends = super::fault_events(&report.history, "fault.end");
    assert_eq!(
        starts,
        vec![(FAULT_AT_MS, 0, "clock".into(), "gateway".into())]
    );
    assert_eq!(
        ends,
        vec![(FAULT_UNTIL_MS, 0, "clock".into(), "gateway".into())]
    );
    // The agent places a call every second from the same offset whatever
    // the gateway's clock says: its call.start times stay one second apart
    // through the fault.
    let starts: Vec<u64> = report
        .history
        .of_kind("call.start")
        .map(|r| r.t_ms)
        .collect();
    assert!(starts.windows(2).all(|w| w[1] - w[0] == 1000), "{starts:?}");
}

/// Sync calls answered after 2 s, ringing_timeout 5 s, dial_margin 1 s:
/// the gateway's dial carries 6 s to the SIP pod (deadline propagation is
/// in the default stack). `fault` is appended.
const ANSWERED: &str = r#"[run]
seed = 1
duration = "40s"
tick = "10ms"

[nodes.gateway]
dial_margin = "1s"
[nodes.bus]
[nodes.agent]
[nodes.sip]
pods = 1
[nodes.carrier]
callees = [{ answer_after = "2s", hold = "3s" }]

[workload]
outbound = { calls = 20, rate_per_s = 1, arrivals = "fixed", wait_until_answered = true, ringing_timeout = "5s" }

[oracles]
ringing_timeout_respected = {}
"#;

#[test]
fn an_offset_on_one_host_breaks_no_deadline_now_that_budgets_are_relative() {
    // Setup: the SIP pod's clock 10 s ahead for the whole run. With the
    // absolute deadlines the wire used to carry, the pod would have read
    // every dial's deadline (6 s after the gateway's now) as 4 s past and
    // answered deadline_exceeded at once.
    let text = format!(
        "{ANSWERED}\n[[faults]]\nkind = \"clock\"\nnode = \"sip-1\"\noffset = \"+10s\"\nat = \"0s\"\n"
    );
    let report = crate::support::run(&scenario(&text, "sip-ahead.toml"), 1);
    // Expectation: the offset holds (the pod's own RPCs carry deadlines on
    // its clock, 10 s ahead of the history's true time)...
    let pod_deadline_ahead = report
        .history
        .of_kind("rpc.request")
        .filter(|r| &*r.host == "sip-1")
        .map(|r| r.u64("deadline_ms").expect("deadline_ms") as i64 - r.t_ms as i64)
        .min()
        .expect("the pod reports call ends");
    assert!(pod_deadline_ahead >= 10_000, "{pod_deadline_ahead}");
    // ...and yet every call is answered and no RPC misses its deadline.
    assert_eq!(
        report.calls.by_status.get("200"),
        Some(&20),
        "{:?}",
        report.calls
    );
    let missed = report
        .history
        .of_kind("rpc.response")
        .filter(|r| r.str("outcome") != Some("ok"))
        .count();
    assert_eq!(missed, 0);
    assert_eq!(report.violations, vec![]);
}

/// A small platform whose gateway acts on `clock`; `telemetry` does not.
/// Eleven lines; what a case appends starts at line 12.
const BASE: &str = r#"[run]
seed = 1
duration = "10s"
[nodes.gateway]
[nodes.bus]
[nodes.agent]
[nodes.sip]
[nodes.carrier]
[nodes.telemetry]
[workload]
outbound = { calls = 1, rate_per_s = 1.0 }
"#;

fn refused(extra: &str, field: &str, line: usize, says: &str) {
    let text = format!("{BASE}{extra}");
    let e = Scenario::from_toml(&text, Path::new("bad.toml")).expect_err(extra);
    assert_eq!(e.file, Path::new("bad.toml"));
    assert_eq!((e.field.as_str(), e.line), (field, line), "{e}");
    assert!(e.to_string().contains(says), "{e}");
}

fn clock(fields: &str) -> String {
    format!("[[faults]]\nkind = \"clock\"\nat = \"1s\"\n{fields}\n")
}

#[test]
fn bad_clock_faults_are_refused_with_file_line_and_field() {
    let gw = "node = \"gateway\"\n";
    refused(
        &clock(&format!("{gw}offset = \"-2h\"")),
        "faults[0].offset",
        16,
        "60m",
    );
    refused(
        &clock(&format!("{gw}drift_ppm = 600000")),
        "faults[0].drift_ppm",
        16,
        "500000",
    );
    refused(
        &clock(&format!("{gw}drift_ppm = -500001")),
        "faults[0].drift_ppm",
        16,
        "500000",
    );
    refused(
        &clock(&format!("{gw}offset = \"1500us\"")),
        "faults[0].offset",
        16,
        "whole number",
    );
    refused(
        &clock(&format!("{gw}offset = \"--2s\"")),
        "faults[0].offset",
        16,
        "two signs",
    );
    refused(&clock(gw), "faults[0].offset", 13, "needs a non-zero");
    refused(
        &clock(&format!("{gw}offset = \"0s\"\ndrift_ppm = 0")),
        "faults[0].offset",
        16,
        "needs a non-zero",
    );
    refused(
        &clock("node = \"telemetry\"\ndrift_ppm = 1000"),
        "faults[0].node",
        15,
        "does nothing",
    );
    refused(
        &clock("between = [\"gateway\", \"bus\"]\ndrift_ppm = 1000"),
        "faults[0].between",
        15,
        "does not apply",
    );
    refused(
        &clock("node = \"gateway\"\nprobability = 0.5"),
        "faults[0].probability",
        16,
        "does not apply",
    );
    refused(
        "[fault_settings.swarm.kinds]\nclock = { drift_ppm = [0, 900000] }\n",
        "fault_settings.swarm.kinds.clock.drift_ppm",
        13,
        "500000",
    );
    refused(
        "[fault_settings.swarm.kinds]\nclock = { offset = [\"5s\", \"-5s\"] }\n",
        "fault_settings.swarm.kinds.clock.offset",
        13,
        "above",
    );
}

#[test]
fn swarm_draws_a_clock_within_its_ranges() {
    let text = format!(
        "{BASE}[fault_settings.swarm]\nkind_probability = 1.0\n[fault_settings.swarm.kinds]\nclock = {{ offset = [\"-5s\", \"5s\"], drift_ppm = [-50000, 50000] }}\n"
    );
    let s = scenario(&text, "swarm-clock.toml");
    for seed in 1..=5 {
        let plan = callsim::faults::plan(&s.plan_inputs(), &s.topology(), seed);
        let clocks: Vec<_> = plan
            .faults
            .iter()
            .filter(|f| f.kind() == callsim::faults::FaultKind::Clock)
            .collect();
        assert_eq!(clocks.len(), 1, "seed {seed}: {:?}", plan.describe());
        let f = clocks[0];
        let offset = f.spec.offset.expect("drawn").as_millis();
        let drift = f.spec.drift_ppm.expect("drawn");
        assert!((-5000..=5000).contains(&offset) && drift.abs() <= 50_000);
        // Every host that acts on clocks, and none that does not.
        assert!(!f.hosts.contains(&"telemetry".to_string()), "{:?}", f.hosts);
        assert!(f.hosts.contains(&"gateway".to_string()), "{:?}", f.hosts);
    }
}
