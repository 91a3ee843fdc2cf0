//! The command-line interface: raw arguments become a validated request in
//! one place, each command returns its exit code (CONTRACTS.md), and human
//! text goes to stderr while `--json` documents go to stdout.
//!
//! One module per command: `run`, `determinism` (`check-determinism`),
//! `explore` (with `triage`, `junit`), `replay`, `shrink`, `sip_lint`,
//! `incidents` (with `incident_pages`), `kinds` (the registries: node
//! kinds with their fields, defaults and needs, the fault support table,
//! the oracles with their parameters) and `schema` (`callsim schema`: the
//! JSON Schema of a scenario file, generated from the config types, which
//! `fixtures/scenario.schema.json` keeps a copy of).

pub mod determinism;
pub mod explore;
pub mod incident_pages;
pub mod incidents;
pub mod junit;
pub mod kinds;
pub mod replay;
pub mod run;
pub mod schema;
pub mod shrink;
pub mod sip_lint;
pub mod triage;

use crate::scenario::{Scenario, ScenarioError};
use std::path::Path;

/// Exit codes of every command (CONTRACTS.md, and 6 for `replay`).
///
/// | code | meaning |
/// |---|---|
/// | 0 | every property held; `check-determinism`, `replay`: it replayed |
/// | 1 | a safety property was violated (an incident expectation not met) |
/// | 2 | bad input or usage |
/// | 3 | only liveness properties were violated |
/// | 4 | nondeterminism: the same seed (on the same commit) gave another history |
/// | 5 | the run could not complete |
/// | 6 | `replay` only: the bundle was recorded at another commit than the binary's, so a different history says nothing about determinism |
pub mod exit {
    pub const OK: i32 = 0;
    pub const SAFETY: i32 = 1;
    pub const BAD_INPUT: i32 = 2;
    pub const LIVENESS: i32 = 3;
    pub const NONDETERMINISM: i32 = 4;
    pub const INCOMPLETE: i32 = 5;
    /// `replay`: the bundle's commit is not the binary's (the code changed).
    pub const OTHER_COMMIT: i32 = 6;
}

/// The message of a caught panic (a `String` or `&str` payload).
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".into())
}

/// The environment variable that overrides a scenario's seed.
pub const SEED_ENV: &str = "CALLSIM_SEED";

/// Loads a scenario, printing the error (file, line, field) on failure.
pub fn load_scenario(path: &Path) -> Result<Scenario, i32> {
    Scenario::load(path).map_err(|e: ScenarioError| {
        eprintln!("error: {e}");
        exit::BAD_INPUT
    })
}

/// Seed precedence: `--seed`, then `CALLSIM_SEED`, then the file.
pub fn resolve_seed(flag: Option<u64>, scenario: &Scenario) -> Result<u64, i32> {
    if let Some(seed) = flag {
        return Ok(seed);
    }
    match std::env::var(SEED_ENV) {
        Ok(text) => text.trim().parse().map_err(|_| {
            eprintln!("error: {SEED_ENV}={text:?} is not an unsigned integer seed");
            exit::BAD_INPUT
        }),
        Err(_) => Ok(scenario.run.seed),
    }
}

/// The seeds `start, start+1, .., start+count-1` of `explore` and
/// `check-determinism`, or why there are none to run: `count` is 0, or the
/// last seed would be past `u64::MAX` (a range that wrapped or saturated
/// would run other seeds, or none, than those asked for).
pub fn seed_range(start: u64, count: u64) -> Result<std::ops::RangeInclusive<u64>, String> {
    if count == 0 {
        return Err("--seeds 0: a run over no seed proves nothing; ask for at least 1".into());
    }
    let last = start.checked_add(count - 1).ok_or_else(|| {
        format!(
            "--start {start} --seeds {count}: the seeds would run past {} (the largest seed); from {start} at most {} seeds fit",
            u64::MAX,
            // start > 0 here: from 0 every count fits.
            u64::MAX - start + 1
        )
    })?;
    Ok(start..=last)
}

#[cfg(test)]
mod tests {
    use super::seed_range;

    #[test]
    fn seed_range_runs_exactly_the_seeds_asked_for() {
        assert_eq!(seed_range(5, 3), Ok(5..=7));
        assert_eq!(seed_range(u64::MAX, 1), Ok(u64::MAX..=u64::MAX));
        assert_eq!(seed_range(0, u64::MAX), Ok(0..=u64::MAX - 1));
        assert_eq!(seed_range(1, u64::MAX), Ok(1..=u64::MAX));
    }

    #[test]
    fn seed_range_refuses_nothing_and_overflow() {
        assert!(seed_range(7, 0).unwrap_err().contains("--seeds 0"));
        let e = seed_range(u64::MAX, 2).unwrap_err();
        assert!(e.contains("at most 1 seeds"), "{e}");
        let e = seed_range(u64::MAX - 9, 11).unwrap_err();
        assert!(e.contains("at most 10 seeds"), "{e}");
        assert!(seed_range(2, u64::MAX).is_err());
    }
}
