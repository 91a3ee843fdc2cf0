//! Swarm `set`: the seed picks config changes as it picks faults. A
//! `set.<label>` swarm entry draws one value (a `choice`, or from a
//! `uniform` range) and sets it on its target over the swarm's window; the
//! plan names the drawn value, and the value decides the run. Bad entries
//! are refused at load with their field.

use crate::support;
use callsim::scenario::Scenario;

fn scenario(entry: &str) -> Result<Scenario, String> {
    let text = format!(
        r#"
[run]
seed = 1
duration = "40s"
tick = "10ms"

[nodes.gateway]
rpc_client = {{ middleware = ["tracing", "retry"], tracing_default_timeout = "20s" }}
[nodes.bus]
[nodes.sip]
[nodes.carrier]
callees = [{{ weight = 1.0, outcome = "answer", answer_after = "5s", hold = "5s" }}]
[nodes.agent]

[workload]
outbound = {{ calls = 2, rate_per_s = 1.0, wait_until_answered = true, ringing_timeout = "30s" }}

[fault_settings.swarm]
kind_probability = 1.0
[fault_settings.swarm.kinds]
{entry}
"#
    );
    Scenario::from_toml(&text, "swarm-set.toml".as_ref()).map_err(|e| e.to_string())
}

const CHOICE: &str = r#""set.timeout" = { targets = ["gateway"], field = "rpc_client.tracing_default_timeout", choice = ["3s", "20s"] }"#;

#[test]
fn a_drawn_config_change_decides_the_run_and_the_plan_names_it() {
    let scenario = scenario(CHOICE).expect("valid");
    let (mut short, mut long) = (0, 0);
    for seed in 1..=10 {
        let report = support::run(&scenario, seed);
        let set: Vec<&String> = report.faults.iter().filter(|f| f.contains("set")).collect();
        assert_eq!(set.len(), 1, "seed {seed}: {:?}", report.faults);
        let ringing = report
            .violations
            .iter()
            .filter(|v| v.oracle == "ringing_timeout_respected")
            .count();
        if set[0].contains("\"3s\"") {
            short += 1;
            assert!(ringing > 0, "seed {seed} set 3s: {}", set[0]);
        } else {
            assert!(set[0].contains("\"20s\""), "seed {seed}: {}", set[0]);
            long += 1;
            assert_eq!(ringing, 0, "seed {seed} set 20s: {:?}", report.violations);
        }
    }
    assert!(
        short > 0 && long > 0,
        "both values drawn: {short} vs {long}"
    );
}

#[test]
fn a_uniform_duration_is_drawn_to_the_millisecond_within_its_range() {
    let entry = r#""set.timeout" = { targets = ["gateway"], field = "rpc_client.tracing_default_timeout", uniform = ["2s", "30s"] }"#;
    let scenario = scenario(entry).expect("valid");
    let mut drawn = std::collections::BTreeSet::new();
    for seed in 1..=6 {
        let report = support::run(&scenario, seed);
        let line = report
            .faults
            .iter()
            .find(|f| f.contains("set"))
            .expect("the set is planned")
            .clone();
        let ms: u64 = line
            .split('"')
            .nth(1)
            .and_then(|v| v.strip_suffix("ms"))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("a value in ms: {line}"));
        assert!((2_000..=30_000).contains(&ms), "{line}");
        drawn.insert(ms);
    }
    assert!(
        drawn.len() > 1,
        "different seeds draw different values: {drawn:?}"
    );
}

#[test]
fn bad_swarm_set_entries_are_refused_with_their_field() {
    let cases = [
        (
            r#""set.t" = { targets = ["gateway"], field = "rpc_client.tracing_default_timeout", choice = ["3s", "soon"] }"#,
            "fault_settings.swarm.kinds.set.t.choice",
        ),
        (
            r#""set.t" = { targets = ["gateway"], field = "rpc_client.tracing_default_timeout", uniform = ["9s", "2s"] }"#,
            "fault_settings.swarm.kinds.set.t.uniform",
        ),
        (
            r#"set = { targets = ["gateway", "bus"], field = "rpc_client.tracing_default_timeout", choice = ["3s"] }"#,
            "fault_settings.swarm.kinds.set.targets",
        ),
        (
            r#"set = { targets = ["gateway"], choice = ["3s"] }"#,
            "fault_settings.swarm.kinds.set.field",
        ),
        (
            r#"loss = { probability = [0.01, 0.02], choice = [1] }"#,
            "fault_settings.swarm.kinds.loss.choice",
        ),
    ];
    for (entry, field) in cases {
        let err = scenario(entry).expect_err(entry);
        assert!(err.contains(field), "{entry}: {err}");
        assert!(err.contains("swarm-set.toml:"), "{err}");
    }
}
