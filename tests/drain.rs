//! Draining before a delete (`[nodes.deployer] drain_before_delete`, admin
//! `drain`): the demo pair in fixtures/scenarios/mechanisms/ differs only
//! in that line. Without it, the calls Record-Routed through the deleted
//! LB lose their BYE (outcome `failed`) and `inbound_availability` fails;
//! with it, the LB refuses new calls with 503 while it drains (the carrier
//! moves on at once), every call completes, and the run passes.

use callsim::report::Verdict;
use callsim::scenario::Scenario;

fn load(variant: &str) -> Scenario {
    let path = format!("fixtures/scenarios/mechanisms/lb-drain-{variant}.toml");
    Scenario::load(path.as_ref()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn outcome(report: &callsim::report::Report, name: &str) -> u64 {
    report.calls.by_outcome.get(name).copied().unwrap_or(0)
}

#[test]
fn deleting_at_once_loses_the_byes_of_calls_through_the_lb() {
    for seed in [1, 2, 3] {
        let report = crate::support::run(&load("failing"), seed);
        assert_eq!(report.verdict, Verdict::Fail, "seed {seed}");
        assert!(
            outcome(&report, "failed") >= 2,
            "seed {seed}: {:?}",
            report.calls
        );
        assert!(report
            .violations
            .iter()
            .all(|v| v.oracle == "inbound_availability"));
    }
}

#[test]
fn draining_first_keeps_every_call_and_refuses_new_ones_while_it_drains() {
    for seed in [1, 2, 3] {
        let report = crate::support::run(&load("passing"), seed);
        assert_eq!(
            report.verdict,
            Verdict::Pass,
            "seed {seed}: {:#?}",
            report.violations
        );
        assert_eq!(
            outcome(&report, "completed"),
            100,
            "seed {seed}: {:?}",
            report.calls
        );
        // lb-3 answered new INVITEs 503 only between the drain (60 s) and
        // its deletion (90 s), and still relayed in-dialog requests then.
        let h = &report.history;
        let refusals: Vec<u64> = h
            .of_kind("sip.send")
            .filter(|r| &*r.host == "lb-3" && r.str("start_line") == Some("503"))
            .map(|r| r.t_ms)
            .collect();
        assert!(
            refusals.iter().all(|t| (60_000..=91_000).contains(t)),
            "{refusals:?}"
        );
        let relayed_byes = h
            .of_kind("sip.send")
            .filter(|r| &*r.host == "lb-3" && r.str("start_line") == Some("BYE"))
            .filter(|r| (60_000..90_000).contains(&r.t_ms))
            .count();
        assert!(
            relayed_byes > 0,
            "seed {seed}: dialogs finish through the draining LB"
        );
    }
}

#[test]
fn a_zero_drain_is_refused_with_its_field() {
    let text = std::fs::read_to_string("fixtures/scenarios/mechanisms/lb-drain-passing.toml")
        .expect("readable");
    let bad = text.replace(
        r#"drain_before_delete = "30s""#,
        r#"drain_before_delete = "0s""#,
    );
    let err = Scenario::from_toml(&bad, "drain.toml".as_ref()).expect_err("zero drain");
    let shown = err.to_string();
    assert!(
        shown.contains("nodes.deployer.drain_before_delete"),
        "{shown}"
    );
    assert!(shown.contains("drain.toml:"), "{shown}");
}

/// The SBC pods drain the same way: edge pod 2 is created at 20 s and
/// deleted at 60 s while calls keep arriving until 90 s; with a 30 s drain
/// it refuses new INVITEs 503 only in between (the carrier moves on to
/// edge 1) and every call completes, without one some calls lose their BYE.
fn sbc_scenario(drain: &str) -> Scenario {
    let text = format!(
        r#"
[run]
seed = 1
duration = "150s"
tick = "10ms"

[nodes.gateway]
[nodes.bus]
[nodes.agent]
answer_after = "500ms"
[nodes.sip]
pods = 2
[nodes.sbc-edge]
pods = 2
start_deleted = ["sbc-edge-2"]
[nodes.sbc-inbound]
pods = 1
[nodes.carrier]
inbound_entry = ["sbc-edge"]

[nodes.deployer]
{drain}
templates = {{ helm = [], kustomize = [], jsonnet = ["production/sbc-edge-1"] }}
deploys = [
  {{ at = "20s", change = {{ jsonnet = ["production/sbc-edge-1", "production/sbc-edge-2"] }}, reviewed = true }},
  {{ at = "60s", change = {{ jsonnet = ["production/sbc-edge-1"] }}, reviewed = true }},
]

[workload]
inbound = {{ calls = 180, rate_per_s = 2, hold = "20s" }}

[oracles]
every_call_terminates = {{ bound = "60s" }}
"#
    );
    Scenario::from_toml(&text, "sbc-drain.toml".as_ref()).expect("valid")
}

#[test]
fn a_draining_sbc_pod_refuses_new_calls_and_keeps_its_bridged_ones() {
    for seed in [1, 2] {
        let without = crate::support::run(&sbc_scenario(""), seed);
        let with = crate::support::run(&sbc_scenario(r#"drain_before_delete = "30s""#), seed);
        assert!(
            outcome(&without, "failed") > 0,
            "seed {seed}: {:?}",
            without.calls
        );
        assert_eq!(
            outcome(&with, "completed"),
            180,
            "seed {seed}: {:?}",
            with.calls
        );
        let refusals: Vec<u64> = with
            .history
            .of_kind("sip.send")
            .filter(|r| &*r.host == "sbc-edge-2" && r.str("start_line") == Some("503"))
            .map(|r| r.t_ms)
            .collect();
        assert!(
            !refusals.is_empty(),
            "seed {seed}: new calls reached the draining pod"
        );
        assert!(
            refusals.iter().all(|t| (60_000..=91_000).contains(t)),
            "{refusals:?}"
        );
    }
}
