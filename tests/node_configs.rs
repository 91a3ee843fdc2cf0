//! Every node config refuses bad values (a zero capacity, a timeout of 0, a
//! reference to an unknown node) with an error that names the field and the
//! line it was written on, which the CLI turns into exit code 2.
//!
//! Each case puts one line into one section of a valid base scenario and
//! checks the error's field and line.

use callsim::scenario::{Scenario, ScenarioError};
use std::path::Path;

/// A valid platform; `#<SECTION>` marks the line each case replaces.
const BASE: &str = r#"[run]
seed = 1
duration = "10s"
[nodes.gateway]
#GATEWAY
[nodes.bus]
#BUS
[nodes.agent]
#AGENT
[nodes.sip]
#SIP
[nodes.carrier]
#CARRIER
[workload]
#WORKLOAD
"#;

/// The line of each marker in [`BASE`].
fn marker_line(marker: &str) -> usize {
    BASE.lines()
        .position(|l| l == marker)
        .expect("marker in BASE")
        + 1
}

fn load(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_toml(text, Path::new("bad.toml"))
}

/// Puts `line` at `marker`; the scenario must be refused for `field`,
/// located on that line.
fn check(marker: &str, line: &str, field: &str) {
    let text = BASE.replace(marker, line);
    let e = load(&text).expect_err(line);
    assert_eq!(
        (e.field.as_str(), e.line),
        (field, marker_line(marker)),
        "{line}: {e}"
    );
}

#[test]
fn the_base_is_valid() {
    load(BASE).expect("valid");
    load(&BASE.replace("#WORKLOAD", "outbound = { calls = 1, rate_per_s = 1 }")).expect("valid");
}

#[test]
fn gateway() {
    let g = "#GATEWAY";
    check(g, "pool = { workers = 0 }", "nodes.gateway.pool.workers");
    check(
        g,
        r#"api_service_time = "0s""#,
        "nodes.gateway.api_service_time",
    );
    check(g, r#"dial_margin = "0ms""#, "nodes.gateway.dial_margin");
    check(
        g,
        r#"async_dial_timeout = "0s""#,
        "nodes.gateway.async_dial_timeout",
    );
    check(g, r#"agent_timeout = "0s""#, "nodes.gateway.agent_timeout");
    check(g, r#"bus = "bsu""#, "nodes.gateway.bus");
    check(g, r#"agent = "nobody""#, "nodes.gateway.agent");
    check(
        g,
        r#"rpc_client = { timeout = "0s" }"#,
        "nodes.gateway.rpc_client.timeout",
    );
    check(
        g,
        r#"rpc_client = { tracing_default_timeout = "0s" }"#,
        "nodes.gateway.rpc_client.tracing_default_timeout",
    );
    check(
        g,
        "rpc_client = { retry = { attempts_max = 0 } }",
        "nodes.gateway.rpc_client.retry.attempts_max",
    );
    check(
        g,
        r#"rpc_client = { middleware = ["tracing", "tracing"] }"#,
        "nodes.gateway.rpc_client.middleware",
    );
}

#[test]
fn bus() {
    let b = "#BUS";
    check(b, r#"backends = "sipp""#, "nodes.bus.backends");
    check(b, r#"connect_timeout = "0s""#, "nodes.bus.connect_timeout");
    check(
        b,
        "forward_attempts_max = 0",
        "nodes.bus.forward_attempts_max",
    );
    check(b, r#"eject_for = "0s""#, "nodes.bus.eject_for");
    check(
        b,
        r#"request_timeout_max = "0s""#,
        "nodes.bus.request_timeout_max",
    );
}

#[test]
fn agent() {
    let a = "#AGENT";
    check(a, r#"gateway = "gw""#, "nodes.agent.gateway");
    check(a, r#"api_margin = "0s""#, "nodes.agent.api_margin");
    check(a, "reject_share = 1.5", "nodes.agent.reject_share");
    check(a, "reject_code = 200", "nodes.agent.reject_code");
    check(
        a,
        r#"probe = { interval = "0s" }"#,
        "nodes.agent.probe.interval",
    );
    check(
        a,
        r#"probe = { ringing_timeout = "0s" }"#,
        "nodes.agent.probe.ringing_timeout",
    );
    check(
        a,
        r#"probe = { trunk = "pstn" }"#,
        "nodes.agent.probe.trunk",
    );
    check(a, r#"probe = { to = "+1 555" }"#, "nodes.agent.probe.to");
}

#[test]
fn sip() {
    let s = "#SIP";
    check(s, "pods = 0", "nodes.sip.pods");
    check(s, "pool = { workers = 0 }", "nodes.sip.pool.workers");
    check(s, r#"gateway = "gw""#, "nodes.sip.gateway");
    check(
        s,
        r#"dial_service_time = "0s""#,
        "nodes.sip.dial_service_time",
    );
    check(
        s,
        r#"invite_service_time = "0s""#,
        "nodes.sip.invite_service_time",
    );
    check(
        s,
        r#"dispatch_timeout = "0s""#,
        "nodes.sip.dispatch_timeout",
    );
    check(s, r#"notice_timeout = "0s""#, "nodes.sip.notice_timeout");
    check(s, r#"media_interval = "0s""#, "nodes.sip.media_interval");
    check(s, r#"silence_timeout = "0s""#, "nodes.sip.silence_timeout");
    check(
        s,
        r#"call_duration_max = "0s""#,
        "nodes.sip.call_duration_max",
    );
    check(
        s,
        r#"rpc_client = { connect_timeout = "0s" }"#,
        "nodes.sip.rpc_client.connect_timeout",
    );
    check(s, r#"sip_timers = { t1 = "0s" }"#, "nodes.sip.sip_timers");
}

#[test]
fn carrier() {
    let c = "#CARRIER";
    check(c, "callees = []", "nodes.carrier.callees");
    check(c, "callees = [{ weight = 0 }]", "nodes.carrier.callees");
    check(
        c,
        "callees = [{ weight = 1 }, { weight = -1 }]",
        "nodes.carrier.callees[1].weight",
    );
    check(
        c,
        r#"callees = [{ answer_after = { uniform = ["9s", "1s"] } }]"#,
        "nodes.carrier.callees[0].answer_after",
    );
    check(
        c,
        r#"callees = [{ outcome = "busy", code = 200 }]"#,
        "nodes.carrier.callees[0].code",
    );
    check(
        c,
        r#"numbers = [{ answer_after = "1s" }]"#,
        "nodes.carrier.numbers[0].to",
    );
    check(
        c,
        r#"no_answer_limit = "0s""#,
        "nodes.carrier.no_answer_limit",
    );
    check(c, "inbound_entry = []", "nodes.carrier.inbound_entry");
    check(
        c,
        r#"inbound_entry = ["lb"]"#,
        "nodes.carrier.inbound_entry[0]",
    );
    check(
        c,
        "entry_attempts_max = 0",
        "nodes.carrier.entry_attempts_max",
    );
    check(c, r#"entry_timeout = "0s""#, "nodes.carrier.entry_timeout");
    check(
        c,
        r#"inbound_ringing_timeout = "0s""#,
        "nodes.carrier.inbound_ringing_timeout",
    );
    check(
        c,
        r#"media_interval = "0s""#,
        "nodes.carrier.media_interval",
    );
}

#[test]
fn workload() {
    let w = "#WORKLOAD";
    check(
        w,
        "outbound = { calls = 0, rate_per_s = 1 }",
        "workload.outbound.calls",
    );
    check(
        w,
        "outbound = { calls = 5, rate_per_s = 0 }",
        "workload.outbound.rate_per_s",
    );
    check(
        w,
        r#"outbound = { calls = 5, rate_per_s = 1, ringing_timeout = "0s" }"#,
        "workload.outbound.ringing_timeout",
    );
    check(
        w,
        r#"outbound = { calls = 5, rate_per_s = 1, trunk = "pstn" }"#,
        "workload.outbound.trunk",
    );
    check(
        w,
        "outbound = { calls = 5, rate_per_s = 1, sync_share = 2.0 }",
        "workload.outbound.sync_share",
    );
    check(
        w,
        "outbound = { calls = 5, rate_per_s = 1, sync_share = 0.5, wait_until_answered = true }",
        "workload.outbound.sync_share",
    );
    check(
        w,
        "inbound = { calls = 0, rate_per_s = 1 }",
        "workload.inbound.calls",
    );
    check(
        w,
        r#"inbound = { calls = 3, rate_per_s = 1, hold = "0s" }"#,
        "workload.inbound.hold",
    );
}

/// A dialled number becomes a SIP URI's user part: one that cannot (a ':'
/// would read as a password, a space is not allowed) is refused with its
/// field and the reason, not left to fail every call at run time.
#[test]
fn numbers_that_cannot_be_dialled() {
    let w = "#WORKLOAD";
    for (number, why) in [
        ("+1:555", "would read as a URI password"),
        ("+1 555", "whitespace inside a URI"),
        ("+1@555", "bad host"),
    ] {
        let line = format!("outbound = {{ calls = 1, rate_per_s = 1, to_prefix = {number:?} }}");
        check(w, &line, "workload.outbound.to_prefix");
        let e = load(&BASE.replace(w, &line)).expect_err("refused");
        assert!(e.to_string().contains(why), "{e}");
    }
    check(
        w,
        r#"inbound = { calls = 3, rate_per_s = 1, to = "1:2" }"#,
        "workload.inbound.to",
    );
    load(&BASE.replace(
        w,
        r#"outbound = { calls = 1, rate_per_s = 1, to_prefix = "" }"#,
    ))
    .expect("an empty prefix dials the bare 7-digit number");
}

#[test]
fn a_workload_without_its_nodes_is_refused() {
    let text = "[run]\nduration = \"5s\"\n[nodes.carrier]\ninbound_entry = [\"carrier\"]\n[workload]\noutbound = { calls = 1, rate_per_s = 1 }\n";
    let e = load(text).expect_err("no agent");
    assert_eq!((e.field.as_str(), e.line), ("workload.outbound", 6));
}

/// A platform with the resource and media nodes; `#<SECTION>` marks the
/// line each case replaces.
const RESOURCES: &str = r#"[run]
seed = 1
duration = "10s"
[nodes.gateway]
[nodes.bus]
[nodes.agent]
[nodes.sip]
[nodes.carrier]
[nodes.lb]
#LB
[nodes.sbc-edge]
#EDGE
[nodes.sbc-inbound]
[nodes.media]
#MEDIA
[nodes.origin]
#ORIGIN
[nodes.telemetry]
#TELEMETRY
"#;

/// [`check`] on [`RESOURCES`].
fn check_resources(marker: &str, line: &str, field: &str) {
    let text = RESOURCES.replace(marker, line);
    let e = load(&text).expect_err(line);
    let at = RESOURCES
        .lines()
        .position(|l| l == marker)
        .expect("marker in RESOURCES")
        + 1;
    assert_eq!((e.field.as_str(), e.line), (field, at), "{line}: {e}");
}

#[test]
fn the_resources_base_is_valid() {
    load(RESOURCES).expect("valid");
}

#[test]
fn lb() {
    check_resources("#LB", "pods = 0", "nodes.lb.pods");
    check_resources("#LB", "backends = [\"nowhere\"]", "nodes.lb.backends[0]");
    check_resources(
        "#LB",
        "health = { interval = \"0s\" }",
        "nodes.lb.health.interval",
    );
    check_resources("#LB", "sticky_max = 0", "nodes.lb.sticky_max");
}

#[test]
fn sbc() {
    check_resources("#EDGE", "pods = 0", "nodes.sbc-edge.pods");
    check_resources(
        "#EDGE",
        "next_hops = [\"nowhere\"]",
        "nodes.sbc-edge.next_hops[0]",
    );
    check_resources(
        "#EDGE",
        "next_hop_timeout = \"0s\"",
        "nodes.sbc-edge.next_hop_timeout",
    );
}

#[test]
fn media() {
    check_resources(
        "#MEDIA",
        "pool = { workers = 0 }",
        "nodes.media.pool.workers",
    );
    check_resources(
        "#MEDIA",
        "origin_timeout = \"0s\"",
        "nodes.media.origin_timeout",
    );
    check_resources("#MEDIA", "origin = \"nowhere\"", "nodes.media.origin");
    check_resources(
        "#MEDIA",
        "telemetry = { buffer_bytes = 0 }",
        "nodes.media.telemetry.buffer_bytes",
    );
}

#[test]
fn origin_and_telemetry() {
    check_resources(
        "#ORIGIN",
        "connections_max = 0",
        "nodes.origin.connections_max",
    );
    check_resources(
        "#TELEMETRY",
        "connections_max = 0",
        "nodes.telemetry.connections_max",
    );
}
