//! `callsim check-determinism SCENARIO.toml [--seeds N] [--start S]`: runs
//! each of the seeds S, S+1, .., S+N-1 twice and compares the histories,
//! stopping at the first divergence. It judges replay only: exit 0 when
//! every seed asked for replayed identically, whatever the properties said;
//! 4 when one did not. A check that replays nothing proves nothing: `--seeds
//! 0` and a range that would run past `u64::MAX` are bad input (exit 2), and
//! the closing line counts the seeds that were actually replayed (fewer
//! than asked is never a pass).

use super::{exit, load_scenario, resolve_seed, seed_range};
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
    let range = match seed_range(start, args.seeds) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::BAD_INPUT;
        }
    };
    let (first, last) = (*range.start(), *range.end());
    let mut replayed: u64 = 0;
    for seed in range {
        let (a, b) = match (
            crate::testbed::run(&scenario, seed),
            crate::testbed::run(&scenario, seed),
        ) {
            (Ok(a), Ok(b)) => (a.history, b.history),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("error: seed {seed}: the run could not complete: {e}");
                eprint!("{}", crate::report::seed_block(&scenario, seed, None));
                return exit::INCOMPLETE;
            }
        };
        if let Some(i) = a.first_divergence(&b) {
            eprintln!("NONDETERMINISM: seed {seed} diverged at event {i}");
            eprintln!("  first run:  {}", describe_at(&a, i));
            eprintln!("  second run: {}", describe_at(&b, i));
            eprintln!("  second run's trace_hash: {}", b.hash_hex());
            eprint!(
                "{}",
                crate::report::seed_block(&scenario, seed, Some(&a.hash_hex()))
            );
            return exit::NONDETERMINISM;
        }
        eprintln!(
            "seed {seed}: {} events, hash {} (replayed identically)",
            a.len(),
            a.hash_hex()
        );
        replayed += 1;
    }
    if replayed != args.seeds {
        eprintln!(
            "error: only {replayed} of the {} seeds asked for were replayed: not a pass",
            args.seeds
        );
        return exit::INCOMPLETE;
    }
    eprintln!(
        "{replayed} seed{} replayed identically (seeds {first}..={last})",
        if replayed == 1 { "" } else { "s" }
    );
    exit::OK
}

fn describe_at(history: &History, i: usize) -> String {
    history
        .records
        .get(i)
        .map(History::describe)
        .unwrap_or_else(|| "(history ended)".into())
}
