//! Swarm mode: the seed picks the fault mix; a sweep explores mixes, and
//! each mix replays identically.

use super::{load, run, Pings};
use callsim::faults::plan;
use std::collections::BTreeSet;

#[test]
fn twenty_seeds_give_at_least_five_mixes_and_each_replays() {
    let scenario = load("swarm");
    let topology = scenario.topology();
    let mut kinds_on = BTreeSet::new();
    let mut mixes = BTreeSet::new();
    let mut outcomes = BTreeSet::new();
    for seed in 0..20 {
        let mix = plan(&scenario.plan_inputs(), &topology, seed).swarm_mix();
        let kinds: Vec<String> = mix
            .iter()
            .map(|l| l.split(' ').next().expect("kind").to_string())
            .collect();
        let a = run(&scenario, seed);
        let b = run(&scenario, seed);
        assert_eq!(
            a.history.first_divergence(&b.history),
            None,
            "seed {seed} ({mix:?}) replays"
        );
        assert_eq!(a.trace_hash, b.trace_hash);
        // The report shows the mix, and each picked kind acted.
        for line in &mix {
            let kind = line.split(' ').next().expect("kind");
            assert!(
                a.faults
                    .iter()
                    .any(|f| f.contains(kind) && f.ends_with("(swarm)")),
                "seed {seed}: {kind} missing from {:?}",
                a.faults
            );
        }
        let answered = Pings::of(&a.history).answered(1000, 9000);
        eprintln!("seed {seed:2}: answered {answered:.2} with {mix:?}");
        outcomes.insert((answered * 100.0).round() as u64);
        kinds_on.insert(kinds);
        mixes.insert(mix);
    }
    eprintln!(
        "{} kind sets, {} mixes over 20 seeds",
        kinds_on.len(),
        mixes.len()
    );
    assert!(kinds_on.len() >= 5, "{kinds_on:?}");
    assert!(
        mixes.len() >= 15,
        "strengths are drawn per seed: {}",
        mixes.len()
    );
    assert!(
        outcomes.len() >= 5,
        "the mixes change what happens: {outcomes:?}"
    );
}

#[test]
fn a_kind_draws_the_same_whatever_else_is_listed() {
    let full = load("swarm");
    let mut fewer = full.clone();
    let swarm = fewer.fault_settings.swarm.as_mut().expect("swarm");
    swarm.kinds.remove("jitter");
    swarm.kinds.remove("crash");
    let topology = full.topology();
    for seed in 0..10 {
        let with: Vec<String> = plan(&full.plan_inputs(), &topology, seed)
            .swarm_mix()
            .into_iter()
            .filter(|l| !l.starts_with("jitter") && !l.starts_with("crash"))
            .collect();
        let without = plan(&fewer.plan_inputs(), &topology, seed).swarm_mix();
        assert_eq!(with, without, "seed {seed}");
    }
}

#[test]
fn kind_probability_zero_and_one() {
    let mut scenario = load("swarm");
    let topology = scenario.topology();
    scenario
        .fault_settings
        .swarm
        .as_mut()
        .expect("swarm")
        .kind_probability = 0.0;
    assert!(plan(&scenario.plan_inputs(), &topology, 3)
        .faults
        .is_empty());
    scenario
        .fault_settings
        .swarm
        .as_mut()
        .expect("swarm")
        .kind_probability = 1.0;
    assert_eq!(
        plan(&scenario.plan_inputs(), &topology, 3)
            .swarm_mix()
            .len(),
        6
    );
}
