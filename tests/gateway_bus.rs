//! The API path without a SIP service: the agent's calls reach the gateway,
//! the gateway dials through the bus, and the bus finds no backend that
//! accepts a connection. Every call must end at the API with 503, once, at
//! about the time of its request, and the bus must eject the backend.

use callsim::history::History;

/// The bus's backends point at a host that serves no RPC (the agent), so
/// every connection is refused.
const NO_SIP_SERVICE: &str = r#"
[run]
seed = 3
duration = "20s"

[nodes.gateway]
[nodes.bus]
backends = "agent"
[nodes.agent]

[workload]
outbound = { calls = 10, rate_per_s = 2, sync_share = 0.5, trunk = "gateway" }
"#;

fn run(text: &str) -> History {
    crate::support::history_of(text, "no-sip.toml")
}

#[test]
fn with_no_sip_service_every_call_ends_503_at_the_api() {
    let history = run(NO_SIP_SERVICE);
    let starts: Vec<_> = history.of_kind("call.start").collect();
    let ends: Vec<_> = history.of_kind("call.end").collect();
    assert_eq!(starts.len(), 10);
    assert_eq!(ends.len(), 10);
    for (start, end) in starts.iter().zip(&ends) {
        assert_eq!(start.call(), end.call());
        assert_eq!(end.u64("status"), Some(503), "{}", History::describe(end));
        // Refused connections and a short backoff: well under a second.
        assert!(end.t_ms - start.t_ms < 1000, "{}", History::describe(end));
    }
    let ids: Vec<&str> = starts.iter().filter_map(|r| r.call()).collect();
    let expected: Vec<String> = (1..=10).map(|n| format!("out-{n}")).collect();
    assert_eq!(ids, expected);
    // Both modes were drawn.
    let modes: std::collections::BTreeSet<&str> =
        starts.iter().filter_map(|r| r.str("mode")).collect();
    assert_eq!(modes.len(), 2, "{modes:?}");
    // The bus ejected its only backend, once, with the call that found out.
    let health: Vec<_> = history.of_kind("health.change").collect();
    assert!(!health.is_empty());
    assert_eq!(health[0].str("target"), Some("agent"));
    assert_eq!(health[0].bool("healthy"), Some(false));
    // Each API request gets exactly one response.
    assert_eq!(history.of_kind("api.response").count(), 10);
}

#[test]
fn the_same_seed_gives_the_same_history() {
    assert_eq!(run(NO_SIP_SERVICE).hash(), run(NO_SIP_SERVICE).hash());
}
