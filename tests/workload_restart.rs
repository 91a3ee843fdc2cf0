//! A workload generator that restarts (the agent, the customer's client;
//! the carrier) does not replay the calls whose time passed: no burst of
//! overdue calls in one tick (which overflowed turmoil's 64-SYN listen
//! backlog at the gateway and panicked the run, found by a swarm sweep),
//! and no call id used twice.

use callsim::scenario::Scenario;
use std::collections::BTreeMap;

const RESTARTED_AGENT: &str = r#"
[run]
seed = 1
duration = "40s"
tick = "10ms"

[nodes.gateway]
[nodes.bus]
[nodes.sip]
[nodes.carrier]
callees = [{ weight = 1.0, outcome = "answer", answer_after = "1s", hold = "2s" }]
[nodes.agent]

[workload]
outbound = { calls = 600, rate_per_s = 20.0, wait_until_answered = true, ringing_timeout = "30s" }

[[faults]]
kind = "crash"
node = "agent"
at = "5s"
until = "15s"
"#;

#[test]
fn a_restarted_agent_places_no_overdue_call_and_reuses_no_id() {
    let scenario = Scenario::from_toml(RESTARTED_AGENT, "restart.toml".as_ref()).expect("valid");
    let output = callsim::testbed::run(&scenario, 1).expect("the run completes (no panic)");
    let mut starts: BTreeMap<String, u32> = BTreeMap::new();
    let mut per_tick: BTreeMap<u64, u32> = BTreeMap::new();
    for r in output.history.of_kind("api.request") {
        *starts
            .entry(r.call().unwrap_or_default().to_string())
            .or_default() += 1;
        *per_tick.entry(r.t_ms / 10).or_default() += 1;
    }
    let reused: Vec<_> = starts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(reused.is_empty(), "call ids placed twice: {reused:?}");
    let burst = per_tick.values().max().copied().unwrap_or(0);
    assert!(burst <= 8, "{burst} calls placed in one 10 ms tick");
    // Calls due while the agent was down (5-15 s, about 200) are not placed.
    let placed = starts.len();
    assert!(
        (350..=450).contains(&placed),
        "{placed} calls placed of 600"
    );
}

/// An instant restart (no downtime) is where a redrawn schedule would
/// collide: ids placed just before it fall just after it in a new draw.
/// Each incarnation draws the one script of the first, and the probe goes
/// on with its next number.
const INSTANT_RESTARTS: &str = r#"
[run]
seed = 1
duration = "40s"
tick = "10ms"

[nodes.gateway]
[nodes.bus]
[nodes.sip]
[nodes.carrier]
callees = [{ weight = 1.0, outcome = "answer", answer_after = "1s", hold = "2s" }]
[nodes.agent]
probe = { interval = "2s", start = "1s" }

[workload]
outbound = { calls = 300, rate_per_s = 10.0, sync_share = 0.5, ringing_timeout = "30s" }

[[faults]]
kind = "restart"
node = "agent"
at = "10s"

[[faults]]
kind = "restart"
node = "agent"
at = "20s"
"#;

#[test]
fn an_instantly_restarted_agent_reuses_no_call_id_nor_probe_number() {
    let scenario = Scenario::from_toml(INSTANT_RESTARTS, "restart.toml".as_ref()).expect("valid");
    for seed in 1..=5 {
        let output = callsim::testbed::run(&scenario, seed).expect("the run completes");
        let mut starts: BTreeMap<String, u32> = BTreeMap::new();
        for r in output.history.of_kind("api.request") {
            *starts
                .entry(r.call().unwrap_or_default().to_string())
                .or_default() += 1;
        }
        let reused: Vec<_> = starts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            reused.is_empty(),
            "seed {seed}: ids placed twice: {reused:?}"
        );
        let probes = starts.keys().filter(|c| c.starts_with("probe-")).count();
        // One every 2 s from 1 s over 40 s: 20, give or take the restarts.
        assert!((17..=21).contains(&probes), "seed {seed}: {probes} probes");
    }
}
