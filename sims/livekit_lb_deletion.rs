//! postmortem: LiveKit, "Issues with SIP inbound calls", 2025-10-28
//! (shared/seeds/003_4e940055253bfa36.txt).
//!
//! - Symptom: inbound SIP failed globally for about 14 minutes, then for
//!   about 5 more when a second CI deploy hit the same bug.
//! - Root cause: a change to the deployment automation dropped its Jsonnet
//!   generation step. The SIP load balancers are Jsonnet resources, so the
//!   rendered desired state lacked them and the apply pruned them, although
//!   the deploy was a CI deploy aimed at staging.
//! - Fault sequence here (fixtures/scenarios/livekit-lb-deletion-*.toml):
//!   inbound calls at 1/s through two LBs; at 2m a CI deploy to staging runs
//!   without the `jsonnet` step; an operator reverts at 16m; a second such
//!   deploy at 21m; a second revert at 26m. The deploy and revert times are
//!   inputs from the timeline; which calls fail, how, and for how long
//!   emerge from the deployer deleting the LBs over their admin ports and
//!   the carrier's INVITEs going unanswered.
//! - The fix: the deployer's guards (the report's remediations): abort on a
//!   missing template dependency, keep CI deploys off production, review
//!   production changes and large deletions. Each one stops this deploy on
//!   its own, as a test below shows.
//! - Oracles that catch it: `inbound_availability` (calls failing while a
//!   healthy path existed) and `deploy_safety` (a CI deploy to staging
//!   changed production); the `inbound_success` monitor pages like the
//!   report's on-call alert did.
//! - Figures reproduced (fixtures/incidents.toml): failed inbound calls per
//!   window, the span of each outage as callers saw it (about 14 and 5
//!   minutes), the failures' code (408: no LB answers the INVITE), recovery
//!   between the outages, and when the alarm fired.

use crate::common;

use callsim::incidents::runner::Variant;
use callsim::report::Report;
use toml::Value;

const ID: &str = "livekit-lb-deletion";

#[test]
fn buggy_reproduces_and_fixed_holds() {
    let (buggy, fixed) = common::both_variants(ID);
    insta::assert_snapshot!("buggy", common::summary(&buggy));
    insta::assert_snapshot!("fixed", common::summary(&fixed));
}

/// The first deploy alone, in a 6-minute run: a shorter scenario for the
/// checks below (the catalogue runs the whole timeline).
fn first_deploy_only(variant: Variant, revert_at: &str) -> callsim::scenario::Scenario {
    let base = common::scenario(&common::incident(ID), variant);
    let plan = toml::Value::try_from(&base.faults[..2]).expect("faults serialise");
    common::edited(
        &base,
        &[
            ("run.duration", Value::String("6m".into())),
            ("workload.inbound.calls", Value::Integer(330)),
            ("faults", plan),
            ("faults[1].at", Value::String(revert_at.into())),
        ],
    )
}

/// (first start, last start, count) of the inbound calls that did not end
/// 200, in ms.
fn failed_span(report: &Report) -> (u64, u64, usize) {
    let calls = callsim::incidents::metrics::calls(&report.history);
    let failed: Vec<u64> = calls
        .iter()
        .filter(|c| c.id.starts_with("in-") && c.status != Some(200))
        .filter_map(|c| c.start_ms)
        .collect();
    (
        *failed.iter().min().unwrap_or(&0),
        *failed.iter().max().unwrap_or(&0),
        failed.len(),
    )
}

/// Moving the revert moves the end of the outage: the figure comes from
/// the model (LBs deleted, then re-created by the revert), not from the
/// catalogue.
#[test]
fn the_revert_time_moves_the_outage() {
    let mut ends = Vec::new();
    for revert_at in ["3m", "270s"] {
        let report = common::run(&first_deploy_only(Variant::Buggy, revert_at));
        let (first, last, n) = failed_span(&report);
        assert!(n > 0, "revert at {revert_at}: calls failed");
        assert!(
            (110_000..125_000).contains(&first),
            "revert at {revert_at}: the first failure starts around the 2m deploy (a call in setup then may fail too), at {first}"
        );
        ends.push(last);
    }
    // Calls keep failing until the LBs are back (a call started a few
    // seconds before the revert may still fail: its INVITEs went nowhere).
    assert!((170_000..=180_000).contains(&ends[0]), "{ends:?}");
    assert!((260_000..=270_000).contains(&ends[1]), "{ends:?}");
}

/// Each of the remediations that apply to this deploy stops it on its own,
/// with the reason the deployer records, and no inbound call fails.
#[test]
fn each_guard_alone_stops_the_deploy() {
    let guards = [
        (
            "abort_on_missing_dependency",
            Value::Boolean(true),
            "missing dependency",
        ),
        ("ci_non_production", Value::Boolean(true), "CI-triggered"),
        (
            "production_requires_review",
            Value::Boolean(true),
            "needs review",
        ),
        ("deletion_review_max", Value::Integer(1), "needs review"),
    ];
    for (guard, value, reason) in guards {
        let base = first_deploy_only(Variant::Buggy, "4m");
        let mut table = toml::Table::new();
        table.insert(guard.to_string(), value);
        let scenario = common::edited(&base, &[("nodes.deployer.guards", Value::Table(table))]);
        let report = common::run(&scenario);
        let first = report
            .history
            .of_kind("deploy.apply")
            .next()
            .expect("the deploy ran");
        let aborted = first.str("aborted").unwrap_or_default();
        assert!(aborted.contains(reason), "{guard}: aborted = {aborted:?}");
        assert_eq!(first.str("deleted"), Some(""), "{guard}");
        assert_eq!(failed_span(&report).2, 0, "{guard}: no inbound call failed");
    }
}

/// A deploy that runs every template step deletes nothing, even triggered
/// by CI with no guards: the bug is the missing step, not the deploy.
#[test]
fn a_deploy_with_every_step_deletes_nothing() {
    let base = first_deploy_only(Variant::Buggy, "4m");
    let steps = Value::Array(vec![
        Value::String("helm".into()),
        Value::String("kustomize".into()),
        Value::String("jsonnet".into()),
    ]);
    let scenario = common::edited(&base, &[("faults[0].steps", steps)]);
    let report = common::run(&scenario);
    assert!(report
        .history
        .of_kind("deploy.apply")
        .all(|r| r.str("deleted") == Some("")));
    assert_eq!(failed_span(&report).2, 0);
}
