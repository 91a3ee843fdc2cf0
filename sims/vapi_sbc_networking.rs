//! postmortem: Vapi, "SIP call failures to connect", February to April
//! (shared/seeds/002_d159acba6f36ca06.txt).
//!
//! - Symptom: calls to Vapi's SIP URIs and numbers failed to connect with
//!   480, 487 or 503, around 1% of calls and up to 10% at times; some
//!   inbound calls connected with no audio (silence timeouts); each time a
//!   person deleted the faulty SBC pod to restore service.
//! - Root cause: networking between SBC pods on Kubernetes ("SBC pod not
//!   able to connect to sbc inbound pod") broke now and then.
//! - Fault sequence here (fixtures/scenarios/vapi-sbc-networking-*.toml):
//!   inbound calls at 1/s cross carrier -> sbc-edge-i -> sbc-inbound-j ->
//!   sip for signalling and media. A fault process breaks one edge/inbound
//!   pod pair now and then; each break lasts until an operator restarts the
//!   faulty edge pod by hand (`ends_with = "operator_restart"`). The rate
//!   and how long an operator takes are inputs; failures, codes, bursts and
//!   silent calls emerge. In the buggy variant the pods do not health-check
//!   their next hops, a call gets one next hop, and media is anchored by a
//!   pool picked per call, so it can cross a broken pair its signalling
//!   never touched.
//! - The fix (config only; the same fault process runs): health checks that
//!   eject a silent next hop, a second next hop per call, 503 instead of
//!   480 when every next hop stayed silent (so the caller tries the other
//!   edge), media anchored on the signalling pods, relays rebuilt from the
//!   calls' datagrams after a restart, and a drained (graceful) restart.
//! - Oracles that catch it: `inbound_availability` (calls failing while a
//!   healthy path existed) and `media_flows` (connected, silent).
//! - Figures reproduced (fixtures/incidents.toml): the failure share over
//!   the run and its worst minute, the codes, silent calls, failures right
//!   up to each restart; in the fixed variant, ejection within 5 s.
//! - What even the fix cannot save: a call whose 200 OK is in flight on the
//!   pair at the instant it breaks (0-2 per run; the caller gives up with
//!   CANCEL and gets 487).

mod common;

use callsim::faults::plan::plan;
use callsim::incidents::runner::Variant;
use toml::Value;

const ID: &str = "vapi-sbc-networking";

#[test]
fn buggy_reproduces_and_fixed_holds() {
    let (buggy, fixed) = common::both_variants(ID);
    insta::assert_snapshot!("buggy", common::summary(&buggy));
    insta::assert_snapshot!("fixed", common::summary(&fixed));
}

/// The pair breaks (targets and times) are the same in both variants: the
/// fix survives the fault rather than removing it. Only the operator's way
/// of restarting (drained first, in the fixed variant) differs.
#[test]
fn the_same_fault_process_runs_in_both_variants() {
    let incident = common::incident(ID);
    let breaks = |variant| {
        let scenario = common::scenario(&incident, variant);
        let plan = plan(&scenario, &scenario.topology(), scenario.run.seed);
        plan.faults
            .iter()
            .filter(|f| f.spec.kind.name() == "partition" || f.spec.kind.name() == "operator")
            .map(|f| (f.spec.kind.name(), f.target.clone(), f.start_ms, f.end_ms))
            .collect::<Vec<_>>()
    };
    let buggy = breaks(Variant::Buggy);
    assert!(
        buggy.iter().any(|b| b.0 == "partition"),
        "the buggy plan breaks a pair: {buggy:?}"
    );
    assert_eq!(buggy, breaks(Variant::Fixed));
}

/// Health checks and retries alone fix the failed calls but not the silent
/// ones while media may cross another pod pair than the signalling: the
/// media anchor is part of the fix.
#[test]
fn health_checks_without_the_media_anchor_leave_silent_calls() {
    let incident = common::incident(ID);
    let fixed = common::scenario(&incident, Variant::Fixed);
    let scenario = common::edited(
        &fixed,
        &[
            ("nodes.sbc-edge.media_anchor", Value::String("pool".into())),
            (
                "nodes.sbc-inbound.media_anchor",
                Value::String("pool".into()),
            ),
        ],
    );
    let result = common::run_as(&incident, Variant::Fixed, &scenario);
    assert!(
        result.figures["silent_calls"] >= 1.0,
        "silent calls: {}",
        result.figures["silent_calls"]
    );
    assert!(
        result.figures["inbound_failure_share"] <= 0.001,
        "failures: {}",
        result.figures["inbound_failure_share"]
    );
}
