//! `[vary]`: the seed draws node config and workload once per run.
//!
//! - A drawn RPC timeout decides the run: seeds that draw a timeout below
//!   the callee's answer delay break `ringing_timeout_respected`, the others
//!   pass, and the report names what each seed drew.
//! - A drawn workload size is the number of calls the run makes.
//! - The same seed draws the same config and gives the same history.
//! - A bad `[vary]` entry is refused at load with its line and field.

use crate::support;
use callsim::scenario::Scenario;

const TIMEOUT_VARIED: &str = r#"
[run]
seed = 1
duration = "40s"
tick = "10ms"

[nodes.gateway]
rpc_client = { middleware = ["tracing", "retry"], tracing_default_timeout = "20s" }

[nodes.bus]

[nodes.sip]

[nodes.carrier]
callees = [{ weight = 1.0, outcome = "answer", answer_after = "5s", hold = "5s" }]

[nodes.agent]

[workload]
outbound = { calls = 2, rate_per_s = 1.0, wait_until_answered = true, ringing_timeout = "30s" }

[vary]
"nodes.gateway.rpc_client.tracing_default_timeout" = { choice = ["3s", "20s"] }
"workload.outbound.calls" = { uniform = [1, 3] }
"#;

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "vary.toml".as_ref()).expect("a valid scenario")
}

#[test]
fn a_drawn_rpc_timeout_decides_the_run_and_the_report_names_it() {
    let scenario = scenario(TIMEOUT_VARIED);
    let (mut short, mut long) = (0, 0);
    for seed in 1..=8 {
        let report = support::run(&scenario, seed);
        let timeout = report
            .varied
            .get("nodes.gateway.rpc_client.tracing_default_timeout")
            .expect("the report names the drawn timeout")
            .clone();
        let ringing = report
            .violations
            .iter()
            .filter(|v| v.oracle == "ringing_timeout_respected")
            .count();
        match timeout.as_str() {
            "\"3s\"" => {
                short += 1;
                assert!(
                    ringing > 0,
                    "seed {seed} drew 3s: the 5 s answer is cut at 3 s"
                );
            }
            "\"20s\"" => {
                long += 1;
                assert_eq!(ringing, 0, "seed {seed} drew 20s: {:?}", report.violations);
            }
            other => panic!("seed {seed} drew {other}, not one of the choices"),
        }
        let calls: u64 = report.varied["workload.outbound.calls"].parse().unwrap();
        assert_eq!(
            report.calls.total, calls,
            "seed {seed}: the drawn call count"
        );
    }
    assert!(
        short > 0 && long > 0,
        "8 seeds drew both: {short} short, {long} long"
    );
}

#[test]
fn one_seed_draws_one_config_and_one_history() {
    let scenario = scenario(TIMEOUT_VARIED);
    let a = support::run(&scenario, 5);
    let b = support::run(&scenario, 5);
    assert_eq!(a.varied, b.varied);
    assert_eq!(a.trace_hash, b.trace_hash);
    let block = callsim::report::seed_block(&scenario, 5, Some(&a.trace_hash));
    assert!(block.contains("varied:"), "{block}");
    assert!(block.contains("nodes.gateway.rpc_client.tracing_default_timeout = "));
}

#[test]
fn a_scenario_without_vary_runs_itself() {
    let text = TIMEOUT_VARIED.split("[vary]").next().unwrap();
    let scenario = scenario(text);
    assert!(scenario.varied(3).is_empty());
    assert!(matches!(
        scenario.for_seed(3),
        Ok(std::borrow::Cow::Borrowed(_))
    ));
    assert!(support::run(&scenario, 3).varied.is_empty());
}

#[test]
fn bad_vary_entries_are_refused_with_their_line_and_field() {
    let base = TIMEOUT_VARIED.split("[vary]").next().unwrap();
    let line = base.lines().count() + 2;
    for (entry, needle) in [
        (
            r#""nodes.gateway.rpc_client.no_such_field" = { choice = [1] }"#,
            "no_such_field",
        ),
        (
            r#""nodes.lb.eject" = { choice = [true] }"#,
            "no `[nodes.lb]`",
        ),
        (r#""run.seed" = { choice = [1] }"#, "starts with"),
        (
            r#""workload.outbound.calls" = { uniform = [0, 3] }"#,
            "workload.outbound.calls = 0",
        ),
        (
            r#""nodes.gateway.rpc_client.tracing_default_timeout" = { uniform = ["1s", 3] }"#,
            "one kind",
        ),
        (
            r#""nodes.sip.pods" = { choice = [1, 2], weights = [1] }"#,
            "weights",
        ),
    ] {
        let text = format!("{base}[vary]\n{entry}\n");
        let err = Scenario::from_toml(&text, "vary.toml".as_ref())
            .expect_err(entry)
            .to_string();
        assert!(err.contains(needle), "{entry}: {err}");
        assert!(err.contains(&format!("vary.toml:{line}")), "{entry}: {err}");
        assert!(err.contains("vary."), "{entry}: {err}");
    }
}

#[test]
fn the_expanded_plan_is_the_drawn_scenarios_which_replay_compares() {
    // Three SIP pods drawn where the file says two: a restart process
    // picks among the drawn pods, so the plan names hosts only the drawn
    // scenario has. Bundles record this plan and `callsim replay` checks
    // it, so both must expand the drawn scenario.
    let text =
        std::fs::read_to_string("fixtures/scenarios/unpinned/livekit-ringing-timeout-buggy.toml")
            .unwrap()
            .replace(
                "[vary]\n",
                "[vary]\n\"nodes.sip.pods\" = { choice = [3] }\n",
            )
            .replace("kind_probability = 0.3", "kind_probability = 1.0")
            .replace(
                "restart = { targets = [\"sip\"], rate_per_min = [0.5, 2] }",
                "restart = { rate_per_min = [2, 4] }",
            );
    let scenario = scenario(&text);
    let mut differs = 0;
    for seed in 1..=6 {
        let plan = callsim::report::expanded_plan(&scenario, seed);
        assert_eq!(plan, support::run(&scenario, seed).faults, "seed {seed}");
        let mut file_only = scenario.clone();
        file_only.vary.clear();
        let undrawn =
            callsim::faults::plan(&file_only.plan_inputs(), &file_only.topology(), seed).describe();
        differs += usize::from(plan != undrawn);
    }
    assert!(
        differs > 0,
        "some seed restarts sip-3, which only the drawn scenario has"
    );
}

/// A range is two items: a third is refused with its field and line, not
/// dropped (serde's `[T; 2]` would read two and ignore the rest).
#[test]
fn a_range_of_three_items_is_refused_not_truncated() {
    crate::support::assert_field_errors(
        "fixtures/scenarios/unpinned/livekit-ringing-timeout-fixed.toml",
        &[(
            r#""workload.outbound.ringing_timeout" = { uniform = ["10s", "60s"] }"#,
            r#""workload.outbound.ringing_timeout" = { uniform = ["10s", "60s", "90s"] }"#,
            "vary.workload.outbound.ringing_timeout.uniform",
        )],
    );
    let base = r#"
[run]
duration = "10s"
[nodes.gateway]
[nodes.bus]
[nodes.agent]
[nodes.sip]
[nodes.carrier]
[workload]
outbound = { calls = 2, rate_per_s = 1 }
[fault_settings.swarm]
at = "1s"
until = "5s"
[fault_settings.swarm.kinds]
"set.timeout" = { targets = ["gateway"], field = "rpc_client.tracing_default_timeout", uniform = ["1s", "2s"] }
"#;
    callsim::scenario::Scenario::from_toml(base, "ok.toml".as_ref()).expect("two items load");
    let three = base.replace(r#"["1s", "2s"]"#, r#"["1s", "2s", "3s"]"#);
    let e = callsim::scenario::Scenario::from_toml(&three, "bad.toml".as_ref())
        .expect_err("three items");
    assert!(e.to_string().contains("exactly 2 items, found 3"), "{e}");
}
