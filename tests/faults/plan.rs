//! The expanded plan: processes drawn from the seed, reported in reports
//! and the SEED block, and replayed: same seed and plan, same trace_hash.

use super::{load, run};
use callsim::faults::{plan, Origin};
use callsim::report::seed_block;
use callsim::scenario::Scenario;
use std::path::Path;

#[test]
fn same_seed_same_plan_same_trace_hash() {
    for name in ["heal", "process", "buggify", "saturate"] {
        let scenario = load(name);
        let a = run(&scenario, 5);
        let b = run(&scenario, 5);
        assert_eq!(a.trace_hash, b.trace_hash, "{name}");
        assert_eq!(a.history.first_divergence(&b.history), None, "{name}");
        assert_eq!(a.faults, b.faults, "{name}");
    }
    // Another seed draws another process.
    let scenario = load("process");
    let (a, c) = (run(&scenario, 5), run(&scenario, 6));
    assert_ne!(a.faults, c.faults);
    assert_ne!(a.trace_hash, c.trace_hash);
}

#[test]
fn the_report_and_seed_block_show_the_expanded_plan() {
    let scenario = load("process");
    let report = run(&scenario, 1);
    let expanded = plan(&scenario.plan_inputs(), &scenario.topology(), 1).describe();
    assert_eq!(report.faults, expanded);
    assert!(report.faults[0]
        .starts_with("[0] process pinger<->echo at=1s until=9s fault=partition rate_per_min=12"));
    let block = seed_block(&scenario, 1, Some(&report.trace_hash));
    for line in &expanded {
        assert!(block.contains(line.as_str()), "{line} not in\n{block}");
    }
    insta::assert_snapshot!(expanded.join("\n"));
}

fn long_process(targets: &str) -> Scenario {
    let text = format!(
        r#"[run]
duration = "60m"
[nodes.pinger]
count = 1
[nodes.echo]
[[faults]]
kind = "process"
fault = "crash"
targets = {targets}
rate_per_min = 10
duration = {{ uniform = ["1s", "20s"] }}
at = "1m"
until = "51m"
[oracles]
datagrams_answered = {{ ratio_min = 0.0 }}
"#
    );
    Scenario::from_toml(&text, Path::new("long.toml")).expect("valid")
}

#[test]
fn process_arrivals_follow_the_rate_inside_the_window() {
    let scenario = long_process("[\"echo\"]");
    let p = plan(&scenario.plan_inputs(), &scenario.topology(), 11);
    let occ: Vec<_> = p
        .faults
        .iter()
        .filter(|f| matches!(f.origin, Origin::Process { .. }))
        .collect();
    // 10 a minute over 50 minutes, but an arrival that finds the one
    // target busy is skipped: an episode lasts 10.5s on average, then the
    // next arrival comes 6s later on average (memoryless), so one
    // occurrence per 16.5s: about 182.
    eprintln!("{} occurrences over 50 min at 10/min", occ.len());
    assert!((150..=215).contains(&occ.len()), "{}", occ.len());
    for (i, f) in occ.iter().enumerate() {
        let end = f.end_ms.expect("ends");
        assert!(f.start_ms >= 60_000 && end <= 51 * 60_000 && end > f.start_ms);
        assert!(end - f.start_ms <= 20_000 && (end - f.start_ms >= 1000 || end == 51 * 60_000));
        if let Some(next) = occ.get(i + 1) {
            assert!(next.start_ms >= end, "one target, never two at once");
        }
    }
}

#[test]
fn process_picks_targets_with_the_seed_and_never_doubles_one() {
    let scenario = long_process("[\"echo\", \"pinger\"]");
    let p = plan(&scenario.plan_inputs(), &scenario.topology(), 4);
    let mut by_target = std::collections::BTreeMap::<String, Vec<(u64, u64)>>::new();
    for f in p
        .faults
        .iter()
        .filter(|f| matches!(f.origin, Origin::Process { .. }))
    {
        by_target
            .entry(f.target.clone())
            .or_default()
            .push((f.start_ms, f.end_ms.expect("ends")));
    }
    assert_eq!(by_target.len(), 2, "both targets are picked");
    for (target, windows) in &by_target {
        for w in windows.windows(2) {
            assert!(w[1].0 >= w[0].1, "{target}: {w:?} overlap");
        }
    }
    assert_ne!(
        plan(&scenario.plan_inputs(), &scenario.topology(), 4).describe(),
        plan(&scenario.plan_inputs(), &scenario.topology(), 5).describe()
    );
}
