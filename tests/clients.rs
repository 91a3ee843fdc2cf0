//! API client profiles (`[nodes.agent] clients`, `nodes::clients`): each
//! attempt of a call is recorded from the client's side (`client.*`) and
//! at the gateway under the same call id with its `attempt` number; a
//! retried request is served again downstream; the profile a call gets
//! and the jitter of its retries come from the seed; bad profiles are
//! refused naming file, line and field.

use crate::support::history_of;
use callsim::history::History;
use callsim::scenario::Scenario;
use std::path::Path;

/// A gateway that refuses (503) all but 2 requests a second for the first
/// 10 s, and two profiles: one retries 503s with backoff and jitter, one
/// never retries.
const RETRYING: &str = r#"
[run]
seed = 1
duration = "60s"
tick = "10ms"
[nodes.gateway]
[nodes.bus]
[nodes.sip]
[nodes.carrier]
callees = [{ weight = 1.0, outcome = "answer", answer_after = "1s", hold = "3s" }]
[nodes.agent]
clients = [
  { name = "retrying", share = 0.5, connect_timeout = "2s", request_timeout = "20s", retry = { count_max = 4, backoff = "500ms", jitter = 0.5 } },
  { name = "once", share = 0.5, connect_timeout = "2s", request_timeout = "20s" },
]
[workload]
outbound = { calls = 30, rate_per_s = 4.0, arrivals = "fixed", wait_until_answered = false }
[[faults]]
kind = "rate_limit"
node = "gateway"
per_s = 2
code = 503
at = "0s"
until = "10s"
[oracles]
every_call_terminates = { bound = "60s" }
"#;

/// (call, host, kind, attempt) of every record that carries an attempt.
fn attempts(h: &History) -> Vec<(String, String, String, u64)> {
    h.records
        .iter()
        .filter_map(|r| {
            Some((
                r.call()?.to_string(),
                r.host.to_string(),
                r.kind().to_string(),
                r.u64("attempt")?,
            ))
        })
        .collect()
}

fn client_of(h: &History, call: &str) -> String {
    h.of_kind("client.attempt")
        .find(|r| r.call() == Some(call))
        .and_then(|r| r.str("client"))
        .expect("the call has a first attempt")
        .to_string()
}

#[test]
fn retried_attempts_keep_the_call_id_and_are_served_again() {
    let h = history_of(RETRYING, "retrying.toml");
    let seen = attempts(&h);
    // Some call of the retrying profile got a 503 and came back as attempt 2.
    let retried: Vec<&str> = seen
        .iter()
        .filter(|(_, host, kind, n)| host == "gateway" && kind == "api.request" && *n == 2)
        .map(|(c, ..)| c.as_str())
        .collect();
    assert!(!retried.is_empty(), "no second attempt reached the gateway");
    for call in &retried {
        assert_eq!(client_of(&h, call), "retrying", "{call}");
        // The first attempt was refused at the gateway, under the same id.
        let first = h
            .of_kind("api.response")
            .find(|r| r.call() == Some(call) && r.u64("attempt") == Some(1))
            .expect("attempt 1 answered");
        assert_eq!(first.u64("status"), Some(503), "{call}");
        // Each attempt has its own call.start and call.end at the gateway.
        for kind in ["call.start", "call.end"] {
            let n = seen
                .iter()
                .filter(|(c, _, k, _)| c == call && k == kind)
                .count();
            assert!(n >= 2, "{call}: {n} {kind}");
        }
    }
    // A retried request is served again: a dial (and a leg) for an
    // attempt after the first.
    let served_again = retried.iter().any(|call| {
        h.of_kind("call.end").any(|r| {
            r.call() == Some(call) && r.u64("attempt") >= Some(2) && r.u64("status") == Some(200)
        })
    });
    assert!(served_again, "no retried attempt was dialled through");
    // The profile that never retries has exactly one attempt per call.
    for r in h.of_kind("client.attempt") {
        if r.str("client") == Some("once") {
            assert_eq!(r.u64("attempt"), Some(1));
        }
    }
}

#[test]
fn every_client_call_reaches_an_outcome_the_client_saw() {
    let h = history_of(RETRYING, "retrying.toml");
    let calls: std::collections::BTreeSet<&str> = h
        .of_kind("client.attempt")
        .filter_map(|r| r.call())
        .collect();
    assert_eq!(calls.len(), 30);
    for call in calls {
        let last = h
            .records
            .iter()
            .rev()
            .find(|r| r.call() == Some(call) && r.kind().starts_with("client."))
            .expect("client records");
        assert!(
            matches!(last.kind(), "client.response" | "client.gave_up"),
            "{call} ends on {}",
            last.kind()
        );
        assert_eq!(last.host.to_string(), "agent");
    }
}

#[test]
fn retry_timing_and_profiles_follow_the_seed() {
    let a = history_of(RETRYING, "retrying.toml");
    let b = history_of(RETRYING, "retrying.toml");
    assert_eq!(a.hash(), b.hash());
    let other = RETRYING.replace("seed = 1", "seed = 2");
    let c = history_of(&other, "retrying.toml");
    let times = |h: &History| -> Vec<(String, u64)> {
        h.of_kind("client.attempt")
            .map(|r| (r.call().unwrap_or("").to_string(), r.t_ms))
            .collect()
    };
    assert_ne!(
        times(&a),
        times(&c),
        "another seed draws other profiles or jitter"
    );
}

const BASE: &str = r#"[run]
seed = 1
duration = "10s"
[nodes.gateway]
[nodes.bus]
[nodes.sip]
[nodes.carrier]
[nodes.agent]
#AGENT
[workload]
outbound = { calls = 1, rate_per_s = 1 }
"#;

/// The agent line is line 9 of BASE.
fn refused(line: &str, field: &str) {
    let text = BASE.replace("#AGENT", line);
    let e = Scenario::from_toml(&text, Path::new("bad.toml")).expect_err(line);
    assert_eq!((e.field.as_str(), e.line), (field, 9), "{line}: {e}");
}

#[test]
fn bad_profiles_are_refused_by_field() {
    Scenario::from_toml(
        &BASE.replace("#AGENT", r#"clients = [{ name = "a", share = 1.0 }]"#),
        Path::new("ok.toml"),
    )
    .expect("valid");
    refused(
        r#"clients = [{ name = "a", share = 0.5 }]"#,
        "nodes.agent.clients",
    );
    refused(
        r#"clients = [{ name = "a", share = 0.5 }, { name = "a", share = 0.5 }]"#,
        "nodes.agent.clients[1].name",
    );
    refused(
        r#"clients = [{ name = "a", share = 1.0, connect_timeout = "0s" }]"#,
        "nodes.agent.clients[0].connect_timeout",
    );
    refused(
        r#"clients = [{ name = "a", share = 1.0, request_timeout = "0s" }]"#,
        "nodes.agent.clients[0].request_timeout",
    );
    refused(
        r#"clients = [{ name = "a", share = 1.0, abandon_after = "0s" }]"#,
        "nodes.agent.clients[0].abandon_after",
    );
    refused(
        r#"clients = [{ name = "a", share = 1.0, retry = { jitter = 1.5 } }]"#,
        "nodes.agent.clients[0].retry.jitter",
    );
    refused(
        r#"clients = [{ name = "a", share = 1.0, retry = { count_max = 1000 } }]"#,
        "nodes.agent.clients[0].retry.count_max",
    );
    refused(
        r#"clients = [{ name = "a", share = 1.0, retry = { backoff_factor = 0.5 } }]"#,
        "nodes.agent.clients[0].retry.backoff_factor",
    );
    refused(
        r#"clients = [{ name = "a", share = 1.0, retry = { statuses = [999] } }]"#,
        "nodes.agent.clients[0].retry.statuses",
    );
    refused(
        r#"clients = [{ name = "a", share = 1.0, retry = { backoff = "5s", backoff_max = "1s" } }]"#,
        "nodes.agent.clients[0].retry.backoff_max",
    );
    refused(
        r#"clients = [{ name = "a", share = 1.0, color = "red" }]"#,
        // serde names the unknown field without the index; the line is right.
        "nodes.agent.clients.color",
    );
}

#[test]
fn the_client_oracles_take_their_parameters_by_field() {
    let with = |oracles: &str| {
        let text = format!("{}[oracles]\n{oracles}\n", BASE.replace("#AGENT", ""));
        Scenario::from_toml(&text, Path::new("o.toml"))
    };
    with("time_to_outcome = true\nretry_amplification = true").expect("defaults do");
    let e = with(r#"time_to_outcome = { bound = "10s", refused_bound = "20s" }"#)
        .expect_err("refusal bound above the bound");
    assert_eq!(
        (e.field.as_str(), e.line),
        ("oracles.time_to_outcome.refused_bound", 13)
    );
    let e = with("retry_amplification = { attempts_per_call_max = 0 }").expect_err("0");
    assert_eq!(
        e.field.as_str(),
        "oracles.retry_amplification.attempts_per_call_max"
    );
}
