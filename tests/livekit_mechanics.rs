//! The mechanics behind the LiveKit ringing-timeout incident, end to end
//! through agent, gateway, bus, SIP service and carrier: the gateway's RPC
//! client stack is the only thing that changes.
//!
//! - `middleware = ["tracing"]` with `tracing_default_timeout = "3s"`: a
//!   sync call whose callee answers at 10 s gets 408 at 3 s (within a tick
//!   plus path latency), and the SIP leg is cancelled (the callee records
//!   `cancelled`).
//! - Adding `deadline_propagation`: the same calls get 200.
//! - A callee that answers at 1 s is fine either way (why the e2e bot
//!   stayed green).
//! - Moving the knob to 5 s moves the 408 to 5 s.
//!
//! Nothing in the code knows about the incident: these are settings.

use callsim::history::{History, Record};
use callsim::scenario::Scenario;
use std::collections::BTreeMap;
use std::path::Path;

const CALLS: usize = 6;
/// Path latency allowed beyond the timeout: one tick (10 ms) plus the
/// gateway's own 1 ms of work and a hop.
const SLACK_MS: u64 = 20;

fn scenario(middleware: &str, tracing_timeout: &str, answer_after: &str) -> Scenario {
    let text = format!(
        r#"
[run]
seed = 11
duration = "90s"

[nodes.gateway]
rpc_client = {{ middleware = {middleware}, tracing_default_timeout = "{tracing_timeout}" }}
[nodes.bus]
[nodes.agent]
[nodes.sip]
pods = 2
[nodes.carrier]
callees = [{{ answer_after = "{answer_after}", hold = "5s" }}]

[workload]
outbound = {{ calls = {CALLS}, rate_per_s = 1, wait_until_answered = true, ringing_timeout = "30s" }}

[oracles]
ringing_timeout_respected = {{}}
"#
    );
    Scenario::from_toml(&text, Path::new("livekit-mechanics.toml")).expect("valid scenario")
}

struct Run {
    history: History,
    violations: Vec<String>,
}

fn run(middleware: &str, tracing_timeout: &str, answer_after: &str) -> Run {
    let scenario = scenario(middleware, tracing_timeout, answer_after);
    let output = callsim::testbed::run(&scenario, scenario.run.seed).expect("run completes");
    let violations = callsim::oracles::evaluate(
        &scenario.oracles,
        &scenario.oracle_context(),
        &output.history,
    )
    .into_iter()
    .map(|v| v.oracle)
    .collect();
    Run {
        history: output.history,
        violations,
    }
}

/// (status, ms from call.start to api.response) per call.
fn responses(history: &History) -> BTreeMap<String, (u64, u64)> {
    let starts: BTreeMap<&str, u64> = history
        .of_kind("call.start")
        .map(|r| (r.call().expect("call"), r.t_ms))
        .collect();
    history
        .of_kind("api.response")
        .map(|r: &Record| {
            let call = r.call().expect("call");
            let status = r.u64("status").expect("status");
            (call.to_string(), (status, r.t_ms - starts[call]))
        })
        .collect()
}

fn callee_outcomes(history: &History) -> Vec<String> {
    history
        .of_kind("callee.outcome")
        .map(|r| r.str("outcome").expect("outcome").to_string())
        .collect()
}

#[test]
fn a_tracing_default_timeout_cuts_sync_calls_at_3s() {
    let run = run(r#"["tracing"]"#, "3s", "10s");
    let responses = responses(&run.history);
    assert_eq!(responses.len(), CALLS);
    for (call, (status, after_ms)) in &responses {
        assert_eq!(*status, 408, "{call}");
        assert!(
            (3000..=3000 + SLACK_MS).contains(after_ms),
            "{call}: 408 after {after_ms} ms"
        );
    }
    // The API gave up, so the leg was cancelled: the callee never answered.
    assert_eq!(callee_outcomes(&run.history), vec!["cancelled"; CALLS]);
    // Each call ended once, with the API's status.
    let ends: Vec<u64> = run
        .history
        .of_kind("call.end")
        .map(|r| r.u64("status").expect("status"))
        .collect();
    assert_eq!(ends, vec![408; CALLS]);
    assert!(run
        .violations
        .iter()
        .any(|v| v == "ringing_timeout_respected"));
}

#[test]
fn deadline_propagation_lets_them_ring_until_answered() {
    let run = run(r#"["tracing", "deadline_propagation"]"#, "3s", "10s");
    for (call, (status, after_ms)) in responses(&run.history) {
        assert_eq!(status, 200, "{call}");
        assert!(
            (10_000..10_000 + 200).contains(&after_ms),
            "{call}: 200 after {after_ms} ms"
        );
    }
    assert_eq!(callee_outcomes(&run.history), vec!["answered"; CALLS]);
    assert_eq!(run.violations, Vec::<String>::new());
}

#[test]
fn a_fast_callee_hides_the_bug() {
    for middleware in [r#"["tracing"]"#, r#"["tracing", "deadline_propagation"]"#] {
        let run = run(middleware, "3s", "1s");
        let statuses: Vec<u64> = responses(&run.history).values().map(|r| r.0).collect();
        assert_eq!(statuses, vec![200; CALLS], "{middleware}");
        assert_eq!(run.violations, Vec::<String>::new(), "{middleware}");
    }
}

#[test]
fn the_408_follows_the_knob() {
    let run = run(r#"["tracing"]"#, "5s", "10s");
    for (call, (status, after_ms)) in responses(&run.history) {
        assert_eq!(status, 408, "{call}");
        assert!(
            (5000..=5000 + SLACK_MS).contains(&after_ms),
            "{call}: 408 after {after_ms} ms"
        );
    }
}
