//! `callsim check-determinism SCENARIO.toml [--seeds N]`: runs each seed
//! twice and compares the histories, stopping at the first divergence.
//! It judges replay only: exit 0 when every seed replayed identically,
//! whatever the properties said; 4 when one did not.

use super::{exit, load_scenario, resolve_seed};
use crate::history::History;
use std::path::PathBuf;

pub struct DeterminismArgs {
    pub scenario: PathBuf,
    pub seeds: u64,
    pub start: Option<u64>,
}

pub fn command(args: DeterminismArgs) -> i32 {
    let scenario = match load_scenario(&args.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let start = match resolve_seed(args.start, &scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    for seed in start..start.saturating_add(args.seeds) {
        let (a, b) = match (
            crate::testbed::run(&scenario, seed),
            crate::testbed::run(&scenario, seed),
        ) {
            (Ok(a), Ok(b)) => (a.history, b.history),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("error: seed {seed}: the run could not complete: {e}");
                return exit::INCOMPLETE;
            }
        };
        if let Some(i) = a.first_divergence(&b) {
            eprintln!("NONDETERMINISM: seed {seed} diverged at event {i}");
            eprintln!("  first run:  {}", describe_at(&a, i));
            eprintln!("  second run: {}", describe_at(&b, i));
            eprint!("{}", crate::report::seed_block(&scenario, seed));
            return exit::NONDETERMINISM;
        }
        eprintln!(
            "seed {seed}: {} events, hash {} (replayed identically)",
            a.len(),
            a.hash_hex()
        );
    }
    eprintln!("{} seeds replayed identically", args.seeds);
    exit::OK
}

fn describe_at(history: &History, i: usize) -> String {
    history
        .records
        .get(i)
        .map(History::describe)
        .unwrap_or_else(|| "(history ended)".into())
}
