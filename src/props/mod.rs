//! Property cases: proptest strategies over scenarios, and the runner that
//! judges one case.
//!
//! A case is a small value (a ringing timeout, an answer delay, an RPC
//! middleware stack, a link latency, a fault plan) with a one-line `Debug`,
//! turned into a real [`Scenario`] by [`ringing::RingingCase::scenario`]
//! and run through the test-bed like any scenario file. A failing case
//! shrinks to a small one whose scenario prints as TOML
//! ([`Scenario::to_toml`]) that anyone can save and `callsim run`.
//!
//! # Layout
//! - `ringing`: the outbound sync call case behind the
//!   `ringing_timeout_respected` properties (tests/props_ringing.rs).

pub mod ringing;

use crate::history::History;
use crate::oracles::Violation;
use crate::scenario::Scenario;
use std::collections::BTreeMap;

/// Runs `scenario` with its own seed and judges it with only the named
/// oracle (default parameters), returning that oracle's violations. An
/// incomplete run is reported as `Err` with the reason.
pub fn judge_with(scenario: &Scenario, oracle: &str) -> Result<Vec<Violation>, String> {
    run_judged(scenario, oracle).map(|(_, violations)| violations)
}

/// [`judge_with`], also returning the run's history.
pub fn run_judged(scenario: &Scenario, oracle: &str) -> Result<(History, Vec<Violation>), String> {
    let output = crate::testbed::run(scenario, scenario.run.seed).map_err(|e| e.to_string())?;
    let mut only = BTreeMap::new();
    only.insert(
        oracle.to_string(),
        toml::Value::Table(toml::map::Map::new()),
    );
    let violations =
        crate::oracles::evaluate_with(&only, &output.history, &scenario.oracle_context());
    Ok((output.history, violations))
}
