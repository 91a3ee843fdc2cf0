//! postmortem: LiveKit, "SIP outbound call issues", 2026-01-08/09
//! (shared/seeds/001_32121e31adfd3ceb.txt; 000_2c6aae4f649fe36c.txt is a
//! garbled copy).
//!
//! - Symptom: synchronous `CreateSIPParticipant` calls
//!   (`wait_until_answered=true`) whose callee did not answer within 3 s
//!   returned 408 after 3 s instead of ringing up to `ringing_timeout`
//!   (30 s). Fast answers and async calls were fine. Over two hours of
//!   impact.
//! - Root cause: enabling tracing on internal RPCs brought a 3 s default
//!   timeout into the RPC client stack. The internal RPC timed out and the
//!   API answered 408 (a 4xx, so no 5xx alarm).
//! - Fault sequence here: a healthy platform for 5 minutes; at t=5m a config
//!   override puts `tracing` (with `tracing_default_timeout = "3s"`) into the
//!   gateway's RPC client stack (`fixtures/scenarios/livekit-ringing-timeout-*.toml`).
//!   The fixed variant deploys the same change with `deadline_propagation`,
//!   so internal timeouts derive from the request's own deadline.
//! - Oracle that catches it: `ringing_timeout_respected` (a sync call ended
//!   before its ringing_timeout with no final callee outcome first).
//! - Why the tests and alarms missed it, reproduced below: the e2e probe's
//!   bot answers in 1 s; only a small share of traffic was sync, so the RPC
//!   error alarm stayed under its threshold; 408 is not a 5xx; call duration
//!   dropped but was not monitored.
//! - Figures reproduced (fixtures/incidents.toml): sync 408s at 3 s within
//!   a tick; 100% success of fast answers, async calls and the probe; 5xx
//!   and RPC-error alarms silent; the call-duration monitor fires after the
//!   deploy.

use crate::common;

use callsim::incidents::runner::Variant;
use toml::Value;

const ID: &str = "livekit-ringing-timeout";

#[test]
fn buggy_reproduces_and_fixed_holds() {
    let (buggy, fixed) = common::both_variants(ID);
    insta::assert_snapshot!("buggy", common::summary(&buggy));
    insta::assert_snapshot!("fixed", common::summary(&fixed));
}

/// Moving the bug's knob from 3 s to 5 s moves the premature 408s to 5 s:
/// the figure comes from the model, not from the catalogue.
#[test]
fn the_knob_moves_the_figure() {
    let incident = common::incident(ID);
    let base = common::scenario(&incident, Variant::Buggy);
    let knob = base
        .faults
        .iter()
        .position(|f| f.field.as_deref() == Some("rpc_client.tracing_default_timeout"))
        .expect("the buggy scenario sets the tracing timeout");
    let moved = common::edited(
        &base,
        &[(&format!("faults[{knob}].value"), Value::String("5s".into()))],
    );
    let result = common::run_as(&incident, Variant::Buggy, &moved);
    let min = result.figures["premature_408_end_ms_min"];
    let max = result.figures["premature_408_end_ms_max"];
    assert!(
        (5000.0..=5030.0).contains(&min),
        "earliest premature 408 at {min} ms"
    );
    assert!(
        (5000.0..=5030.0).contains(&max),
        "latest premature 408 at {max} ms"
    );
}

/// With the fix, a callee answering at 25 s gets 200, and an unanswered
/// call gets 408 at ringing_timeout, not before.
#[test]
fn fixed_rings_until_ringing_timeout() {
    let scenario = common::edited_variant(
        ID,
        Variant::Fixed,
        &[
            ("run.duration", Value::String("4m".into())),
            ("workload.outbound.calls", Value::Integer(20)),
            ("workload.outbound.sync_share", Value::Float(1.0)),
            ("faults[0].at", Value::String("0s".into())),
            ("faults[1].at", Value::String("0s".into())),
            (
                "nodes.carrier.callees",
                toml::from_str::<toml::Table>(
                    r#"v = [
                      { weight = 1.0, outcome = "answer", answer_after = "25s", hold = "30s" },
                      { weight = 1.0, outcome = "no_answer" },
                    ]"#,
                )
                .expect("toml")["v"]
                    .clone(),
            ),
        ],
    );
    let report = common::run(&scenario);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    let calls = callsim::incidents::metrics::calls(&report.history);
    let mut answered = 0;
    let mut unanswered = 0;
    for c in calls.iter().filter(|c| c.id.starts_with("out-")) {
        let duration = c.duration_ms().expect("every call ended");
        match c.callee_outcome.as_deref() {
            Some("answered") => {
                answered += 1;
                assert_eq!(c.status, Some(200), "{}", c.id);
                assert!(c.answered);
            }
            _ => {
                unanswered += 1;
                assert_eq!(c.status, Some(408), "{}", c.id);
                assert!(
                    (30_000..=30_100).contains(&duration),
                    "{} ended after {duration} ms",
                    c.id
                );
            }
        }
    }
    assert!(
        answered > 0 && unanswered > 0,
        "both kinds of callee were drawn"
    );
}

/// Why the e2e tests missed it: a suite whose bot answers within 1 s sees
/// nothing wrong even with the bug deployed.
#[test]
fn a_fast_answering_probe_stays_green_under_the_bug() {
    let scenario = common::edited_variant(
        ID,
        Variant::Buggy,
        &[
            ("run.duration", Value::String("10m".into())),
            ("workload.outbound.calls", Value::Integer(1)),
        ],
    );
    let report = common::run(&scenario);
    let calls = callsim::incidents::metrics::calls(&report.history);
    let probes: Vec<_> = calls
        .iter()
        .filter(|c| c.id.starts_with("probe-"))
        .collect();
    assert!(probes.len() >= 8, "a probe a minute: {}", probes.len());
    assert!(
        probes.iter().all(|c| c.status == Some(200)),
        "every probe call got 200"
    );
    assert!(
        !report
            .violations
            .iter()
            .any(|v| v.call.as_deref().is_some_and(|c| c.starts_with("probe-"))),
        "the probe's calls never break the property"
    );
}

/// Why monitoring missed it: without a call-duration monitor, the alarms
/// that did exist (5xx rate, internal RPC errors) stay silent while the
/// property is violated.
#[test]
fn without_a_duration_monitor_nothing_fires() {
    let incident = common::incident(ID);
    let mut scenario = common::scenario(&incident, Variant::Buggy);
    scenario.monitors.remove("call_duration");
    let report = common::run(&scenario);
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.oracle == "ringing_timeout_respected"),
        "the bug is there"
    );
    assert!(
        report.alerts.is_empty(),
        "no alarm fired: {:?}",
        report.alerts
    );
}
