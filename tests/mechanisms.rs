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
