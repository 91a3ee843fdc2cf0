//! Oracles that cry wolf: every demonstration in fixtures/scenarios/faults/
//! runs on a platform with no planted bug, with every oracle that has
//! defaults switched on besides the scenario's own. The one excuse rule
//! (`oracles::excuse`) must keep the faults themselves from reading as
//! bugs: the only violations allowed are those a scenario declares below,
//! each with the reason it is a real finding rather than noise. The table
//! of what fired is printed (`--nocapture`).

use callsim::oracles::known;
use callsim::scenario::Scenario;
use std::collections::BTreeSet;
use std::path::Path;

/// (scenario, oracle, why this violation is expected).
const EXPECTED: &[(&str, &str, &str)] = &[
    (
        "buggify",
        "datagrams_answered",
        "the demo's own measure: fired fault points drop datagrams",
    ),
    (
        "crash",
        "datagrams_answered",
        "the demo's own measure: nothing answers while the echo is down",
    ),
    (
        "gray",
        "datagrams_answered",
        "the demo's own measure: a gray echo drops its answers",
    ),
    (
        "heal",
        "datagrams_answered",
        "the demo's own measure: the faults before the heal drop datagrams",
    ),
    (
        "loss",
        "datagrams_answered",
        "the demo's own measure: the link loses datagrams",
    ),
    (
        "operator",
        "datagrams_answered",
        "the demo's own measure: the deleted echo answers nothing",
    ),
    (
        "partition",
        "datagrams_answered",
        "the demo's own measure: the partition drops both ways",
    ),
    (
        "partition-oneway",
        "datagrams_answered",
        "the demo's own measure: the answers are cut",
    ),
    (
        "process",
        "datagrams_answered",
        "the demo's own measure: recurring crashes drop datagrams",
    ),
    (
        "rate-limit",
        "datagrams_answered",
        "the demo's own measure: the limit refuses datagrams",
    ),
    (
        "deploy",
        "deploy_safety",
        "the demo's deploy is unsafe on purpose: a CI deploy to staging changes production",
    ),
    (
        "platform-loss",
        "media_flows",
        "the demo's link loss drops media packets too: a call heard nothing for over 4 of its media intervals",
    ),
    (
        "clock",
        "ringing_timeout_respected",
        "the demo's gateway clock runs 20% fast, so its dial deadline ends sync calls before their ringing timeout",
    ),
    (
        "platform-set",
        "ringing_timeout_respected",
        "the demo injects the 3 s RPC timeout misconfiguration, a real bug",
    ),
];

/// Call-level oracles that judge any scenario with calls (vacuous without
/// them), switched on besides the defaults (`honest_status`,
/// `every_call_terminates`, `sip_conformance`) and the scenario's own.
/// Oracles that need a particular setup (`play_success` needs verbs,
/// `recovery` a heal time and calls after it, `datagrams_answered` a
/// threshold) stay as each scenario configures them.
const EXTRA: &[&str] = &["ringing_timeout_respected", "media_flows"];

fn with_extra_oracles(scenario: &mut Scenario) {
    for name in known().filter(|n| EXTRA.contains(n)) {
        if scenario.oracles.contains_key(name) {
            continue;
        }
        let mut trial = scenario.clone();
        trial
            .oracles
            .insert(name.to_string(), toml::Value::Table(Default::default()));
        // An oracle that needs parameters, or does not fit this scenario's
        // nodes, stays as the scenario has it.
        if trial.validate().is_ok() {
            *scenario = trial;
        }
    }
}

#[test]
fn fault_demos_raise_only_the_violations_they_declare() {
    let mut paths: Vec<_> = std::fs::read_dir("fixtures/scenarios/faults")
        .expect("the demos")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut unexpected = Vec::new();
    for path in &paths {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let mut scenario = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        with_extra_oracles(&mut scenario);
        let report = crate::support::run(&scenario, scenario.run.seed);
        let fired: BTreeSet<&str> = report
            .violations
            .iter()
            .map(|v| v.oracle.as_str())
            .collect();
        eprintln!(
            "{name:<24} {} excused calls; fired: {:?}",
            report.excused_calls.len(),
            fired
        );
        for v in &report.violations {
            let declared = EXPECTED
                .iter()
                .any(|(s, o, _)| *s == name && *o == v.oracle);
            if !declared {
                unexpected.push(format!("{name}: {}", v.line()));
            }
        }
    }
    assert!(
        unexpected.is_empty(),
        "undeclared violations on a platform with no bug:\n{}",
        unexpected.join("\n")
    );
    assert!(paths.len() >= 20, "the demos are there: {}", paths.len());
}

/// The excuse rule at work: outbound sync calls while `sip-1` crashes
/// mid-dial (20 s to 30 s). Without the rule the oracles flag the calls
/// the crash took down (503s from the dead pod, calls it left without an
/// end, transactions it lost); with it, none, and the report lists the
/// calls it did not judge. A pod that stays up judges every call.
#[test]
fn a_crash_mid_dial_is_excused_and_only_its_calls_are() {
    let text = std::fs::read_to_string("fixtures/scenarios/outbound-sync.toml")
        .expect("fixture")
        .replace(
            "[oracles]",
            "[[faults]]\nkind = \"crash\"\nnode = \"sip-1\"\nat = \"20s\"\nuntil = \"30s\"\n\n[oracles]",
        );
    let scenario = Scenario::from_toml(&text, Path::new("crash-mid-dial.toml")).expect("valid");
    let report = crate::support::run(&scenario, scenario.run.seed);
    let active = callsim::oracles::active(&scenario.oracles);
    let unexcused =
        callsim::oracles::evaluate_unexcused(&active, &report.history, &scenario.oracle_context());
    let oracles: BTreeSet<&str> = unexcused.iter().map(|v| v.oracle.as_str()).collect();
    eprintln!(
        "crash mid-dial: {} violations without the rule ({oracles:?}), {} with it; {} of {} calls excused",
        unexcused.len(),
        report.violations.len(),
        report.excused_calls.len(),
        report.calls.total
    );
    assert!(
        !unexcused.is_empty(),
        "the crash hurts no call: the test proves nothing"
    );
    assert_eq!(
        report.violations,
        vec![],
        "the crash's own calls are excused"
    );
    assert!(report.excused_calls.len() < report.calls.total as usize / 2);
    // Every excused call touched sip-1.
    for call in &report.excused_calls {
        let touched = report.history.records.iter().any(|r| {
            r.call() == Some(call.as_str())
                && (&*r.host == "sip-1" || r.str("peer") == Some("sip-1"))
        });
        assert!(touched, "{call} was excused without touching sip-1");
    }
}
