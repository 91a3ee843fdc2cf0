//! The command-line interface: raw arguments become a validated request in
//! one place, each command returns its exit code (CONTRACTS.md), and human
//! text goes to stderr while `--json` documents go to stdout.

pub mod determinism;
pub mod explore;
pub mod incidents;
pub mod kinds;
pub mod run;
pub mod sip_lint;

use crate::scenario::{Scenario, ScenarioError};
use std::path::Path;

/// Exit codes of every command (CONTRACTS.md).
pub mod exit {
    pub const OK: i32 = 0;
    pub const SAFETY: i32 = 1;
    pub const BAD_INPUT: i32 = 2;
    pub const LIVENESS: i32 = 3;
    pub const NONDETERMINISM: i32 = 4;
    pub const INCOMPLETE: i32 = 5;
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
