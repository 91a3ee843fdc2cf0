//! `timeouts_ordered` (opt-in, safety): along every request path, each
//! hop waits for its callee less long than its own caller waits for it.
//!
//! When a caller gives up before its callee does, the callee's work goes
//! on for nobody (a call set up after the API already failed the request)
//! or the caller's error hides the callee's real answer. The check reads
//! the *effective* timeouts, not the history: the scenario's config as
//! drawn for the seed, then again at each start and end of a `set` fault
//! of the expanded plan, as the hosts would see it. Each pair of adjacent
//! hops whose order is wrong is one violation, at the first time it is
//! wrong, naming the path, both timeouts and the fields they come from.
//!
//! The paths (each only when all its sections are configured):
//! - **outbound API**: client profile (`request_timeout`, when set) ->
//!   API front (`api-edge`'s `origin_timeout`, when the agent's `gateway`
//!   names it) -> gateway's dial of a sync call (the least of
//!   `ringing_timeout + dial_margin`, the `tracing` middleware's
//!   `tracing_default_timeout` and the `timeout` middleware's `timeout`,
//!   the last two only without `deadline_propagation`)
//!   -> the SIP service's ringing of it (`workload.outbound.ringing_timeout`).
//!   Async dials are answered once the INVITE is sent and have no such
//!   edge;
//! - **inbound**: the carrier ringing (`inbound_ringing_timeout`) -> the
//!   SIP service waiting for the dispatch (`dispatch_timeout`) -> the
//!   gateway waiting for the agent's decision (`agent_timeout`);
//! - **lookups**, when the SIP service looks calls up in a `dependency`:
//!   its whole lookup budget (`lookups x ((retries + 1) x timeout +
//!   retries x retry_backoff)`) under the carrier's `entry_timeout` (it
//!   waits that long for ringing or a final answer, and lookups come
//!   first) and under the gateway's `async_dial_timeout` for async dials
//!   (answered once the INVITE is sent, after the lookups).
//!
//! A callee's timeout must be shorter than its caller's by more than
//! `margin` (default 0: strictly shorter; equal timeouts race).

use super::{Context, OracleKind, Violation};
use crate::nodes::workload::Workload;
use crate::nodes::NodesConfig;
use crate::rpc::config::Middleware;
use crate::sim::{Dur, FieldError};
use serde::Deserialize;
use std::collections::BTreeSet;

pub const NAME: &str = "timeouts_ordered";

/// `timeouts_ordered = { margin = "0s" }`.
#[derive(Debug, Clone, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// How much shorter a callee's timeout must be than its caller's.
    /// Default 0 (strictly shorter).
    #[serde(default)]
    pub margin: Dur,
}

impl Params {
    pub fn validate(&self, _field: &str) -> Result<(), FieldError> {
        Ok(())
    }
}

/// One hop of a path: `caller` waits at most `ms` for `callee`, as
/// `source` (the config fields) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub caller: String,
    pub callee: String,
    pub ms: u64,
    pub source: String,
}

/// A request path, first caller first.
pub type Path = Vec<Edge>;

/// The paths in effect from `at_ms` on, and why they changed then.
#[derive(Debug, Clone)]
pub struct Epoch {
    pub at_ms: u64,
    pub why: String,
    pub paths: Vec<Path>,
}

fn edge(caller: &str, callee: &str, ms: u64, source: impl Into<String>) -> Edge {
    Edge {
        caller: caller.into(),
        callee: callee.into(),
        ms,
        source: source.into(),
    }
}

/// The request paths of a config, with their effective timeouts.
pub fn paths(nodes: &NodesConfig, workload: &Workload) -> Vec<Path> {
    let mut out = Vec::new();
    if let (Some(gateway), Some(_sip), Some(outbound)) =
        (&nodes.gateway, &nodes.sip, &workload.outbound)
    {
        // Only sync dials wait for the ringing (the workload's own rule).
        if outbound.sync_share() > 0.0 {
            let ringing = outbound.ringing_timeout.as_millis();
            let mut dial = edge(
                "gateway",
                "sip",
                ringing + gateway.dial_margin.as_millis(),
                "workload.outbound.ringing_timeout + nodes.gateway.dial_margin",
            );
            let rpc = &gateway.rpc_client;
            // With `deadline_propagation` every client-side timeout derives
            // from the dial's own deadline (see `crate::rpc::config`).
            let propagates = rpc.middleware.contains(&Middleware::DeadlinePropagation);
            let mut cap = |ms: u64, source: &str| {
                if ms < dial.ms {
                    dial.ms = ms;
                    dial.source = source.to_string();
                }
            };
            if let (true, false, Some(t)) = (
                rpc.middleware.contains(&Middleware::Tracing),
                propagates,
                rpc.tracing_default_timeout,
            ) {
                cap(
                    t.as_millis(),
                    "nodes.gateway.rpc_client.tracing_default_timeout",
                );
            }
            if rpc.middleware.contains(&Middleware::Timeout) && !propagates {
                cap(rpc.timeout.as_millis(), "nodes.gateway.rpc_client.timeout");
            }
            let ring = edge(
                "sip",
                "carrier",
                ringing,
                "workload.outbound.ringing_timeout",
            );
            let via_edge = match (&nodes.agent, &nodes.api_edge) {
                (Some(agent), Some(api_edge)) if agent.gateway == "api-edge" => Some(edge(
                    "api-edge",
                    "gateway",
                    api_edge.origin_timeout.as_millis(),
                    "nodes.api-edge.origin_timeout",
                )),
                _ => None,
            };
            let api = if via_edge.is_some() {
                "api-edge"
            } else {
                "gateway"
            };
            // From the API on; each client profile with a request timeout
            // is a path of its own in front of it.
            let mut platform: Path = via_edge.into_iter().collect();
            platform.extend([dial, ring]);
            let clients: Vec<Edge> = nodes
                .agent
                .iter()
                .flat_map(|a| &a.clients)
                .filter_map(|p| {
                    let source = format!("nodes.agent.clients[{}].request_timeout", p.name);
                    Some(edge("agent", api, p.request_timeout?.as_millis(), source))
                })
                .collect();
            if clients.is_empty() {
                out.push(platform);
            } else {
                for client in clients {
                    let mut path = vec![client];
                    path.extend(platform.iter().cloned());
                    out.push(path);
                }
            }
        }
    }
    let lookups = nodes.sip.as_ref().and_then(|s| s.dependency.as_ref());
    if let (Some(_), Some(lookups)) = (&nodes.dependency, lookups) {
        let attempts = u64::from(lookups.retries) + 1;
        let budget = u64::from(lookups.lookups)
            * (attempts * lookups.timeout.as_millis()
                + u64::from(lookups.retries) * lookups.retry_backoff.as_millis());
        let lookup = edge(
            "sip",
            "dependency",
            budget,
            "nodes.sip.dependency: lookups x ((retries + 1) x timeout + retries x retry_backoff)",
        );
        if let (Some(carrier), Some(_)) = (&nodes.carrier, &workload.inbound) {
            out.push(vec![
                edge(
                    "carrier",
                    "sip",
                    carrier.entry_timeout.as_millis(),
                    "nodes.carrier.entry_timeout (until ringing or a final answer)",
                ),
                lookup.clone(),
            ]);
        }
        if let (Some(gateway), Some(outbound)) = (&nodes.gateway, &workload.outbound) {
            // Some dials are async (the workload's own rule).
            if outbound.sync_share() < 1.0 {
                out.push(vec![
                    edge(
                        "gateway",
                        "sip",
                        gateway.async_dial_timeout.as_millis(),
                        "nodes.gateway.async_dial_timeout (an async dial is answered once the INVITE is sent)",
                    ),
                    lookup,
                ]);
            }
        }
    }
    if let (Some(carrier), Some(sip), Some(gateway), Some(_)) = (
        &nodes.carrier,
        &nodes.sip,
        &nodes.gateway,
        &workload.inbound,
    ) {
        out.push(vec![
            edge(
                "carrier",
                "sip",
                carrier.inbound_ringing_timeout.as_millis(),
                "nodes.carrier.inbound_ringing_timeout",
            ),
            edge(
                "sip",
                "gateway",
                sip.dispatch_timeout.as_millis(),
                "nodes.sip.dispatch_timeout",
            ),
            edge(
                "gateway",
                "agent",
                gateway.agent_timeout.as_millis(),
                "nodes.gateway.agent_timeout",
            ),
        ]);
    }
    out
}

fn route(path: &Path) -> String {
    let mut hops: Vec<&str> = path.iter().map(|e| e.caller.as_str()).collect();
    hops.extend(path.last().map(|e| e.callee.as_str()));
    hops.join(" -> ")
}

fn ms_text(ms: u64) -> String {
    Dur::from_millis(ms).to_string()
}

pub fn check(params: &Params, context: &Context) -> Vec<Violation> {
    let margin = params.margin.as_millis();
    let mut seen: BTreeSet<(String, String, u64, u64)> = BTreeSet::new();
    let mut out = Vec::new();
    for epoch in context.timeouts.iter() {
        for path in &epoch.paths {
            for pair in path.windows(2) {
                let (outer, inner) = (&pair[0], &pair[1]);
                if inner.ms + margin < outer.ms {
                    continue;
                }
                let key = (route(path), inner.caller.clone(), outer.ms, inner.ms);
                if !seen.insert(key) {
                    continue;
                }
                out.push(Violation::new(
                    NAME,
                    OracleKind::Safety,
                    epoch.at_ms,
                    None,
                    format!(
                        "on {}: {} waits {} for {} ({}), not less than {} waits for it ({}, {}){}{}",
                        route(path),
                        inner.caller,
                        ms_text(inner.ms),
                        inner.callee,
                        inner.source,
                        outer.caller,
                        ms_text(outer.ms),
                        outer.source,
                        if margin > 0 {
                            format!(", less {}", ms_text(margin))
                        } else {
                            String::new()
                        },
                        if epoch.at_ms > 0 {
                            format!("; from {} ms ({})", epoch.at_ms, epoch.why)
                        } else {
                            String::new()
                        },
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(extra: &str) -> crate::scenario::Scenario {
        let text = format!(
            r#"
[run]
duration = "60s"
[nodes.gateway]
{extra}
[nodes.bus]
[nodes.agent]
[nodes.sip]
[nodes.carrier]
[workload]
outbound = {{ calls = 1, rate_per_s = 1, wait_until_answered = true, ringing_timeout = "30s" }}
inbound = {{ calls = 1, rate_per_s = 1 }}
[oracles]
timeouts_ordered = true
"#
        );
        crate::scenario::Scenario::from_toml(&text, "t.toml".as_ref()).expect("valid")
    }

    fn judge(s: &crate::scenario::Scenario) -> Vec<Violation> {
        check(&Params::default(), &s.oracle_context_for(1))
    }

    #[test]
    fn a_dial_cut_below_the_ringing_timeout_is_a_violation() {
        let v = judge(&scenario(
            "rpc_client = { tracing_default_timeout = \"3s\", middleware = [\"tracing\", \"retry\"] }\nagent_timeout = \"8s\"",
        ));
        let dial: Vec<_> = v
            .iter()
            .filter(|v| v.message.starts_with("on gateway -> sip -> carrier"))
            .collect();
        assert_eq!((dial.len(), v.len()), (1, 1), "{v:#?}");
        let propagated = judge(&scenario(
            "rpc_client = { tracing_default_timeout = \"3s\", middleware = [\"tracing\", \"deadline_propagation\", \"retry\"] }\nagent_timeout = \"8s\"",
        ));
        assert!(
            propagated.is_empty(),
            "the dial's deadline rules: {propagated:#?}"
        );
        assert!(
            dial[0].message.contains("sip waits 30s for carrier")
                && dial[0].message.contains("gateway waits for it (3s")
                && dial[0]
                    .message
                    .contains("nodes.gateway.rpc_client.tracing_default_timeout"),
            "{}",
            dial[0].message
        );
    }

    #[test]
    fn ordered_timeouts_pass_and_equal_ones_race() {
        let s = scenario(r#"agent_timeout = "8s""#);
        assert!(judge(&s).is_empty(), "{:#?}", judge(&s));
        // The defaults wait 10 s at both the SIP service and the gateway.
        let v = judge(&scenario(""));
        assert_eq!(v.len(), 1, "{v:#?}");
        assert!(v[0]
            .message
            .starts_with("on carrier -> sip -> gateway -> agent"));
        // A margin asks for more room.
        let v = check(
            &Params {
                margin: Dur::from_secs(5),
            },
            &s.oracle_context_for(1),
        );
        assert!(v.iter().any(|v| v.message.contains("less 5s")), "{v:#?}");
    }

    #[test]
    fn a_set_fault_that_breaks_the_order_is_reported_from_its_start() {
        let text = r#"
[run]
duration = "60s"
[nodes.gateway]
rpc_client = { tracing_default_timeout = "3s" }
[nodes.bus]
[nodes.agent]
[nodes.sip]
[nodes.carrier]
[workload]
outbound = { calls = 1, rate_per_s = 1, wait_until_answered = true }
[oracles]
timeouts_ordered = true
[[faults]]
kind = "set"
node = "gateway"
field = "rpc_client.middleware"
value = ["tracing", "retry"]
at = "20s"
until = "40s"
"#;
        let s = crate::scenario::Scenario::from_toml(text, "t.toml".as_ref()).expect("valid");
        let v = judge(&s);
        assert_eq!(v.len(), 1, "{v:#?}");
        assert_eq!(v[0].at_ms, 20_000);
        assert!(
            v[0].message.contains("from 20000 ms (set fault #0"),
            "{}",
            v[0].message
        );
    }

    /// The seed incident's pair, read statically: the buggy deploy drops
    /// deadline propagation, so the gateway's 3 s tracing timeout cuts a
    /// 30 s ringing; the fixed one keeps it.
    #[test]
    fn the_ringing_timeout_pair_is_told_apart_without_running_it() {
        let verdict = |variant: &str| {
            let path = format!("fixtures/scenarios/livekit-ringing-timeout-{variant}.toml");
            let mut s = crate::scenario::Scenario::load(path.as_ref()).expect("fixture");
            s.oracles.insert(NAME.into(), toml::Value::Boolean(true));
            check(&Params::default(), &s.oracle_context_for(1))
        };
        let buggy = verdict("buggy");
        assert_eq!(buggy.len(), 1, "{buggy:#?}");
        assert_eq!(buggy[0].at_ms, 300_000, "the deploy's set faults start");
        assert!(verdict("fixed").is_empty());
    }

    #[test]
    fn a_lookup_budget_over_the_callers_wait_is_a_violation() {
        let text = |timeout: &str| {
            format!(
                r#"
[run]
duration = "60s"
[nodes.gateway]
agent_timeout = "8s"
[nodes.bus]
[nodes.agent]
[nodes.sip]
dependency = {{ timeout = "{timeout}", retries = 2, retry_backoff = "100ms" }}
[nodes.dependency]
[nodes.carrier]
[workload]
inbound = {{ calls = 1, rate_per_s = 1 }}
outbound = {{ calls = 1, rate_per_s = 1 }}
[oracles]
timeouts_ordered = true
"#
            )
        };
        let judge_text = |t: &str| {
            let s = crate::scenario::Scenario::from_toml(t, "t.toml".as_ref()).expect("valid");
            judge(&s)
        };
        // 3 x 500ms + 2 x 100ms = 1.7s: under the carrier's 2 s and the
        // gateway's 5 s.
        assert_eq!(judge_text(&text("500ms")), vec![]);
        // 3 x 1s + 200ms = 3.2s: over the carrier's 2 s only.
        let v = judge_text(&text("1s"));
        assert_eq!(v.len(), 1, "{v:#?}");
        assert!(
            v[0].message
                .starts_with("on carrier -> sip -> dependency: sip waits 3.2s")
                || v[0]
                    .message
                    .starts_with("on carrier -> sip -> dependency: sip waits 3200ms"),
            "{}",
            v[0].message
        );
    }
}
