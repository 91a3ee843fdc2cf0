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
//!   faulty edge pod by hand, after draining it for 20 s
//!   (`ends_with = "operator_restart"`, `drain`). The rate
//!   and how long an operator takes are inputs; failures, codes, bursts and
//!   silent calls emerge. In the buggy variant the pods do not health-check
//!   their next hops, a call gets one next hop, and media is anchored by a
//!   pool picked per call, so it can cross a broken pair its signalling
//!   never touched.
//! - The fix (SBC config only; the same fault process, with the same
//!   drained restarts, runs): health checks that eject a silent next hop,
//!   a second next hop per call, 503 instead of 480 when every next hop
//!   stayed silent (so the caller tries the other edge), media anchored on
//!   the signalling pods, and relays rebuilt from the calls' datagrams
//!   after a restart.
//! - Oracles that catch it: `inbound_availability` (calls failing while a
//!   healthy path existed) and `media_flows` (connected, silent).
//! - Figures reproduced (fixtures/incidents.toml): the failure share over
//!   the run and its worst minute, the codes, silent calls, failures right
//!   up to each restart; in the fixed variant, ejection within 5 s.
//! - What even the fix cannot save: a call whose 200 OK is in flight on the
//!   pair at the instant it breaks (0-2 per run). The SBC pods are B2BUAs
//!   that ACK the callee's 2xx at once, so the callee counts such a call
//!   answered and it stays silent (the `silent_calls` figure, 0-2 on seeds
//!   1-11), where the caller either gets the 2xx and no media or gives up
//!   with CANCEL and gets 487.

use crate::common;

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

/// The fault plan, as expanded for the seed (pair breaks, the operator's
/// drains and restarts), is the same in both variants: the fix survives
/// the fault rather than removing it.
#[test]
fn the_same_fault_process_runs_in_both_variants() {
    let incident = common::incident(ID);
    let expanded = |variant| {
        let scenario = common::scenario(&incident, variant);
        plan(
            &scenario.plan_inputs(),
            &scenario.topology(),
            scenario.run.seed,
        )
        .faults
        .iter()
        .map(|f| f.describe())
        .collect::<Vec<_>>()
    };
    let buggy = expanded(Variant::Buggy);
    assert!(
        buggy.iter().any(|f| f.contains("partition sbc-edge-")),
        "the plan breaks a pair: {buggy:?}"
    );
    assert!(buggy.iter().any(|f| f.contains("action=restart")));
    assert_eq!(buggy, expanded(Variant::Fixed));
}

/// In the fixed variant, every pair break is followed within 5 s by the
/// edge pod of that pair marking that inbound pod unhealthy: the ejection
/// the catalogue bounds, matched pair by pair.
#[test]
fn each_broken_pair_is_ejected_by_its_own_edge_pod() {
    let (_, fixed) = common::both_variants(ID);
    let history = &fixed.history;
    let breaks: Vec<(u64, String, String)> = history
        .of_kind("fault.start")
        .filter(|r| r.str("fault_kind") == Some("partition"))
        .filter_map(|r| {
            let (edge, inbound) = r.str("target")?.split_once("<->")?;
            Some((r.t_ms, edge.to_string(), inbound.to_string()))
        })
        .collect();
    assert!(!breaks.is_empty());
    for (at, edge, inbound) in &breaks {
        let ejected = history
            .of_kind("health.change")
            .find(|r| {
                r.t_ms >= *at
                    && *r.host == **edge
                    && r.str("target") == Some(inbound.as_str())
                    && r.bool("healthy") == Some(false)
            })
            .unwrap_or_else(|| panic!("{edge} never ejected {inbound} after {at} ms"));
        assert!(
            ejected.t_ms - at <= 5_000,
            "{edge} ejected {inbound} {} ms after the break",
            ejected.t_ms - at
        );
    }
}

/// Health checks and retries alone fix the failed calls but not the silent
/// ones while media may cross another pod pair than the signalling: the
/// media anchor is part of the fix.
#[test]
fn health_checks_without_the_media_anchor_leave_silent_calls() {
    let result = common::run_edited(
        ID,
        Variant::Fixed,
        &[
            ("nodes.sbc-edge.media_anchor", Value::String("pool".into())),
            (
                "nodes.sbc-inbound.media_anchor",
                Value::String("pool".into()),
            ),
        ],
    );
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
