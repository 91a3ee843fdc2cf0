//! Bad fault plans: each is refused with the file, the line and the field
//! (exit 2 from the CLI), never a panic. Messages are pinned by snapshots.

use callsim::scenario::{Scenario, ScenarioError};
use proptest::prelude::*;
use std::path::Path;

/// Nine lines; what a case appends starts at line 10.
const BASE: &str = r#"[run]
seed = 1
duration = "10s"

[nodes.pinger]
count = 5

[nodes.echo]

"#;

fn check(extra: &str) -> ScenarioError {
    let text = format!("{BASE}{extra}");
    Scenario::from_toml(&text, Path::new("bad.toml")).expect_err("the plan is refused")
}

fn accept(extra: &str) -> Scenario {
    let text = format!("{BASE}{extra}");
    Scenario::from_toml(&text, Path::new("ok.toml"))
        .unwrap_or_else(|e| panic!("valid, but refused: {e}"))
}

/// Asserts the field and line, and snapshots the whole message. A missing
/// field is reported on the first line of its entry.
macro_rules! refused {
    ($name:ident, $extra:expr, $field:expr, $line:expr) => {
        #[test]
        fn $name() {
            let e = check($extra);
            assert_eq!((e.field.as_str(), e.line), ($field, $line), "{e}");
            assert_eq!(e.file, Path::new("bad.toml"));
            insta::assert_snapshot!(e.to_string());
        }
    };
}

refused!(
    unknown_link_name,
    "[[faults]]\nkind = \"partition\"\nbetween = [\"pinger\", \"nowhere\"]\nat = \"1s\"\n",
    "faults[0].between",
    12
);
refused!(
    unknown_node_name,
    "[[faults]]\nkind = \"crash\"\nnode = \"ghost\"\nat = \"1s\"\n",
    "faults[0].node",
    12
);
refused!(
    until_before_at,
    "[[faults]]\nkind = \"crash\"\nnode = \"echo\"\nat = \"5s\"\nuntil = \"2s\"\n",
    "faults[0].until",
    14
);
refused!(
    at_past_the_duration,
    "[[faults]]\nkind = \"crash\"\nnode = \"echo\"\nat = \"11s\"\n",
    "faults[0].at",
    13
);
refused!(
    until_past_the_duration,
    "[[faults]]\nkind = \"crash\"\nnode = \"echo\"\nat = \"1s\"\nuntil = \"12s\"\n",
    "faults[0].until",
    14
);
refused!(
    start_at_or_after_heal,
    "[fault_settings]\nheal = \"5s\"\n\n[[faults]]\nkind = \"gray\"\nnode = \"echo\"\nat = \"6s\"\n",
    "faults[0].at",
    16
);
refused!(
    until_on_an_instant_kind,
    "[[faults]]\nkind = \"restart\"\nnode = \"echo\"\nat = \"1s\"\nuntil = \"2s\"\n",
    "faults[0].until",
    14
);
refused!(
    a_field_the_kind_does_not_take,
    "[[faults]]\nkind = \"partition\"\nbetween = [\"pinger\", \"echo\"]\nprobability = 0.5\n",
    "faults[0].probability",
    13
);
refused!(
    latency_is_both_ways_only,
    "[[faults]]\nkind = \"latency\"\nfrom = \"pinger\"\nto = \"echo\"\nlatency = \"100ms\"\n",
    "faults[0].from",
    12
);
refused!(
    link_to_itself,
    "[[faults]]\nkind = \"loss\"\nbetween = [\"echo\", \"echo\"]\nprobability = 0.5\n",
    "faults[0].between",
    12
);
refused!(
    probability_out_of_range,
    "[[faults]]\nkind = \"loss\"\nbetween = [\"pinger\", \"echo\"]\nprobability = 1.5\n",
    "faults[0].probability",
    13
);
refused!(
    rate_limit_code_must_be_429_or_503,
    "[[faults]]\nkind = \"rate_limit\"\nnode = \"echo\"\nper_s = 10\ncode = 404\n",
    "faults[0].code",
    14
);
refused!(
    saturate_needs_a_factor,
    "[[faults]]\nkind = \"saturate\"\nnode = \"echo\"\nat = \"1s\"\n",
    "faults[0].service_time_factor",
    11
);
refused!(
    set_of_an_unknown_field,
    "[[faults]]\nkind = \"set\"\nnode = \"pinger\"\nfield = \"colour\"\nvalue = \"red\"\n",
    "faults[0].value",
    14
);
refused!(
    set_to_an_invalid_value,
    "[[faults]]\nkind = \"set\"\nnode = \"pinger\"\nfield = \"count\"\nvalue = 0\n",
    "faults[0].value",
    14
);
refused!(
    two_sets_of_one_field_at_once,
    "[[faults]]\nkind = \"set\"\nnode = \"pinger\"\nfield = \"interval\"\nvalue = \"1s\"\nat = \"2s\"\n\n[[faults]]\nkind = \"set\"\nnode = \"pinger\"\nfield = \"interval\"\nvalue = \"2s\"\nat = \"2s\"\n",
    "faults[1].value",
    21
);
refused!(
    overlapping_partitions_starting_together,
    "[[faults]]\nkind = \"partition\"\nbetween = [\"pinger\", \"echo\"]\nat = \"2s\"\nuntil = \"4s\"\n\n[[faults]]\nkind = \"partition\"\nfrom = \"echo\"\nto = \"pinger\"\nat = \"2s\"\nuntil = \"3s\"\n",
    "faults[1].at",
    20
);
refused!(
    crash_and_restart_at_the_same_instant,
    "[[faults]]\nkind = \"crash\"\nnode = \"echo\"\nat = \"2s\"\nuntil = \"4s\"\n\n[[faults]]\nkind = \"restart\"\nnode = \"echo\"\nat = \"4s\"\n",
    "faults[1].at",
    19
);
refused!(
    restart_while_crashed,
    "[[faults]]\nkind = \"crash\"\nnode = \"echo\"\nat = \"2s\"\nuntil = \"6s\"\n\n[[faults]]\nkind = \"operator\"\naction = \"restart\"\nnode = \"echo\"\nat = \"4s\"\n",
    "faults[1].at",
    20
);
refused!(
    process_without_a_rate,
    "[[faults]]\nkind = \"process\"\nfault = \"partition\"\npairs = [[\"pinger\", \"echo\"]]\nduration = \"1s\"\n",
    "faults[0].rate_per_min",
    11
);
refused!(
    process_with_too_many_occurrences,
    "[[faults]]\nkind = \"process\"\nfault = \"crash\"\ntargets = [\"echo\"]\nrate_per_min = 10000\nduration = \"1ms\"\n",
    "faults[0].rate_per_min",
    14
);
refused!(
    process_of_a_link_kind_with_targets,
    "[[faults]]\nkind = \"process\"\nfault = \"loss\"\ntargets = [\"echo\"]\nrate_per_min = 1\nduration = \"1s\"\nprobability = 0.5\n",
    "faults[0].targets",
    13
);
refused!(
    process_of_a_set,
    "[[faults]]\nkind = \"process\"\nfault = \"set\"\ntargets = [\"echo\"]\nrate_per_min = 1\n",
    "faults[0].fault",
    12
);
refused!(
    swarm_kind_that_cannot_be_swarmed,
    "[fault_settings.swarm.kinds]\ndeploy = {}\n",
    "fault_settings.swarm.kinds.deploy",
    11
);
refused!(
    swarm_range_upside_down,
    "[fault_settings.swarm.kinds]\nloss = { probability = [0.5, 0.1] }\n",
    "fault_settings.swarm.kinds.loss.probability",
    11
);
refused!(
    swarm_unknown_pair,
    "[fault_settings.swarm.kinds]\npartition = { pairs = [[\"pinger\", \"ghost\"]], rate_per_min = [1, 2], duration = \"1s\" }\n",
    "fault_settings.swarm.kinds.partition.pairs",
    11
);
refused!(
    buggify_unknown_site,
    "[fault_settings]\nbuggify = { sites = [\"sip.drop_181\"] }\n",
    "fault_settings.buggify.sites",
    11
);
refused!(
    deploy_without_a_deployer,
    "[[faults]]\nkind = \"deploy\"\nsteps = [\"helm\"]\nat = \"1s\"\n",
    "faults[0].node",
    11
);
const DEPLOYER: &str = "[nodes.lb]\npods = 1\nbackends = [\"echo\"]\n[nodes.deployer]\ntemplates = { helm = [], jsonnet = [\"production/lb-1\"] }\n\n";

refused!(
    deploy_of_a_step_the_deployer_does_not_know,
    &format!(
        "{DEPLOYER}[[faults]]\nkind = \"deploy\"\nsteps = [\"helm\", \"jsonet\"]\nat = \"1s\"\n"
    ),
    "faults[0].steps[1]",
    18
);
refused!(
    deploy_to_a_node_that_is_not_a_deployer,
    &format!("{DEPLOYER}[[faults]]\nkind = \"deploy\"\nnode = \"lb-1\"\nat = \"1s\"\n"),
    "faults[0].node",
    18
);
refused!(
    operator_without_an_action,
    "[[faults]]\nkind = \"operator\"\nnode = \"echo\"\nat = \"1s\"\n",
    "faults[0].action",
    11
);
refused!(
    unknown_kind,
    "[[faults]]\nkind = \"meteor\"\nnode = \"echo\"\n",
    "faults[0].kind",
    11
);

#[test]
fn overlapping_faults_that_start_apart_compose_and_are_accepted() {
    accept(
        "[[faults]]\nkind = \"partition\"\nbetween = [\"pinger\", \"echo\"]\nat = \"2s\"\nuntil = \"4s\"\n\n[[faults]]\nkind = \"partition\"\nfrom = \"echo\"\nto = \"pinger\"\nat = \"3s\"\nuntil = \"5s\"\n",
    );
    accept(
        "[[faults]]\nkind = \"set\"\nnode = \"pinger\"\nfield = \"interval\"\nvalue = \"1s\"\nat = \"2s\"\n\n[[faults]]\nkind = \"set\"\nnode = \"pinger\"\nfield = \"count\"\nvalue = 9\nat = \"2s\"\n",
    );
}

#[test]
fn the_cli_exits_2_naming_file_line_and_field() {
    let dir = crate::support::scratch_dir("faults-validation");
    let path = dir.join("bad-plan.toml");
    std::fs::write(
        &path,
        format!(
            "{BASE}[[faults]]\nkind = \"crash\"\nnode = \"echo\"\nat = \"5s\"\nuntil = \"2s\"\n"
        ),
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(["run", path.to_str().expect("utf8")])
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad-plan.toml:14: field `faults[0].until`"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

const KINDS: [&str; 15] = [
    "latency",
    "jitter",
    "loss",
    "duplicate",
    "partition",
    "hold",
    "crash",
    "restart",
    "gray",
    "saturate",
    "rate_limit",
    "set",
    "deploy",
    "operator",
    "process",
];
const NAMES: [&str; 4] = ["pinger", "echo", "ghost", "echo"];

/// One `[[faults]]` entry from a small vocabulary, right or wrong.
fn entry() -> impl Strategy<Value = String> {
    (
        0..KINDS.len(),
        0..NAMES.len(),
        0..NAMES.len(),
        0u64..12,
        proptest::option::of(0u64..12),
        0..6usize,
        prop::bool::ANY,
    )
        .prop_map(|(k, a, b, at, until, param, oneway)| {
            let mut s = format!("[[faults]]\nkind = \"{}\"\nat = \"{at}s\"\n", KINDS[k]);
            if let Some(u) = until {
                s.push_str(&format!("until = \"{u}s\"\n"));
            }
            match KINDS[k] {
                "latency" | "jitter" | "loss" | "duplicate" | "partition" | "hold" if oneway => {
                    s.push_str(&format!("from = \"{}\"\nto = \"{}\"\n", NAMES[a], NAMES[b]))
                }
                "latency" | "jitter" | "loss" | "duplicate" | "partition" | "hold" => {
                    s.push_str(&format!("between = [\"{}\", \"{}\"]\n", NAMES[a], NAMES[b]))
                }
                "process" => s.push_str(&format!(
                    "fault = \"{}\"\npairs = [[\"{}\", \"{}\"]]\nrate_per_min = {}\nduration = \"300ms\"\n",
                    KINDS[param], NAMES[a], NAMES[b], param * 7
                )),
                _ => s.push_str(&format!("node = \"{}\"\n", NAMES[a])),
            }
            s.push_str(match (KINDS[k], param) {
                ("latency", _) => "latency = \"20ms\"\n",
                ("jitter", _) => "jitter = \"20ms\"\n",
                ("loss" | "duplicate", p) => ["probability = 0.3\n", "probability = 2.0\n"][p % 2],
                ("saturate", _) => "service_time_factor = 3.0\n",
                ("rate_limit", _) => "per_s = 3\n",
                ("set", p) => ["field = \"interval\"\nvalue = \"20ms\"\n", "field = \"count\"\nvalue = -1\n"][p % 2],
                ("operator", p) => ["action = \"restart\"\n", "action = \"delete\"\n", "action = \"recreate\"\n"][p % 3],
                ("process", p) if KINDS[p] == "loss" => "probability = 0.5\n",
                _ => "",
            });
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Any plan from the vocabulary is refused with a located field, or
    /// accepted, expanded and run to the end: never a panic.
    #[test]
    fn any_plan_is_refused_with_a_field_or_runs(entries in prop::collection::vec(entry(), 0..5), seed in 0u64..1000) {
        let mut text = BASE.replace("duration = \"10s\"", "duration = \"10s\"\ntick = \"10ms\"");
        text.push_str("[fault_settings]\nheal = \"9s\"\n\n");
        for e in &entries {
            text.push_str(e);
            text.push('\n');
        }
        match Scenario::from_toml(&text, Path::new("prop.toml")) {
            Err(e) => {
                prop_assert!(!e.field.is_empty(), "{e}");
                prop_assert!(e.line > 0, "{e}\n{text}");
            }
            Ok(scenario) => {
                let output = callsim::testbed::run(&scenario, seed);
                prop_assert!(output.is_ok(), "{:?}\n{text}", output.err());
            }
        }
    }
}
refused!(
    operator_restart_ending_an_instant_fault,
    "[[faults]]\nkind = \"process\"\nfault = \"restart\"\ntargets = [\"echo\"]\nrate_per_min = 1\nends_with = \"operator_restart\"\n",
    "faults[0].ends_with",
    15
);
refused!(
    drain_without_an_operator_restart,
    "[[faults]]\nkind = \"process\"\nfault = \"partition\"\npairs = [[\"pinger\", \"echo\"]]\nrate_per_min = 1\nduration = \"1s\"\ndrain = \"1s\"\n",
    "faults[0].drain",
    16
);
