//! The fault plan: one vocabulary of faults, scheduled in sim time and
//! applied only by the test-bed.
//!
//! A `[[faults]]` entry names a kind (CONTRACTS.md's names), a start `at`,
//! an optional `until`, and a target: a link (`between = [a, b]` both ways,
//! or `from`/`to` one way) or a node (`node`, a host or a whole section).
//! `[fault_settings]` adds the heal time, in-code fault points (BUGGIFY)
//! and swarm mode. The kinds:
//!
//! | kind | target | parameters | acts through |
//! |---|---|---|---|
//! | `latency` | between | `latency` = "200ms" or { min, max } | turmoil link latency |
//! | `jitter` | between / from,to | `jitter` (extra delay in [0, jitter]) | sender's packet rule (UDP) |
//! | `loss` | between / from,to | `probability` | sender's packet rule (UDP) |
//! | `duplicate` | between / from,to | `probability` | sender's packet rule (UDP) |
//! | `partition` | between / from,to | | turmoil partition (one way or both) |
//! | `hold` | between | | turmoil hold; held messages delivered at `until` |
//! | `crash` | node | (`until` = restart) | turmoil crash, then bounce |
//! | `restart` | node | (instant) | turmoil bounce: software restarts, state lost |
//! | `gray` | node | `mode` = work / media | `NodeFaults.gray` |
//! | `saturate` | node | `service_time_factor`, `capacity_factor` | `NodeFaults` factors |
//! | `rate_limit` | node | `per_s`, `code` = 429 / 503 | `NodeFaults.rate_limit` |
//! | `set` | node | `field` (dotted), `value` | config watch channel |
//! | `deploy` | node (default `deployer`) | `steps`, `change`, `target_env`, `trigger`, `reviewed` | deployer command log |
//! | `operator` | node (revert: default `deployer`) | `action` = restart / revert / delete / recreate; `reviewed` (revert) | bounce / deployer command / `NodeFaults.disabled` |
//! | `clock` | node | `offset` (signed, "-2s"), `drift_ppm` | the host's clock (`sim::time`) |
//! | `process` | pairs / targets | `fault`, `rate_per_min`, `duration`, + the kind's parameters | expanded into occurrences |
//!
//! The deployer command shape (the contract with the deployer node) is in
//! [`command`]. Node-side, a node honours its control handle: `NodeFaults`
//! (gray, service-time and capacity factors, rate limit, disabled), config
//! changes, its command log, and [`buggify()`] at its fault point sites.
//!
//! Every fault that is applied emits `fault.start` and `fault.end` (fields
//! `fault` = index in the expanded plan, `fault_kind`, `target`; instant
//! kinds emit both at once; a process emits them for its window, and each
//! occurrence for itself). A fired fault point emits `fault.point`.
//!
//! # Layout
//! - `spec`: the plan as data ([`FaultSpec`], [`FaultSettingsConfig`]).
//! - `validate`: [`validate_plan`], every error with its field.
//! - `plan`: [`plan()`], the expanded plan for one seed (processes, swarm,
//!   fault points, heal), as reported in reports and the SEED block.
//! - `process`: fault processes (Poisson arrivals on seeded targets).
//! - `swarm`: swarm mode (the seed picks the fault mix).
//! - `buggify`: in-code fault points and their site names.
//! - `command`: the deployer's commands (deploy, revert).
//! - `schedule`: [`schedule`], the step loop's actions and the engine that
//!   applies them, composing overlapping faults.
//! - `link`, `node`: how link and node state follow the active faults.

pub mod buggify;
pub mod command;
pub mod coverage;
pub mod link;
pub mod node;
pub mod plan;
pub mod process;
pub mod schedule;
pub mod spec;
pub mod swarm;
pub mod validate;

pub use buggify::buggify;
pub use command::{deploy_command, revert_command, DEPLOYER};
pub use node::{apply_sets, set_path};
pub use plan::{plan, FaultPlan, Origin, PlannedFault};
pub use schedule::schedule;
pub use spec::{
    BuggifyConfig, DurationSpec, FaultKind, FaultSettingsConfig, FaultSpec, LatencySpec, ModeSpec,
    OperatorAction, SwarmConfig, SwarmKind, Trigger,
};
pub use validate::validate_plan;

/// What the fault plan reads of a scenario: the run settings, the node
/// sections (for `set` checks), the `[[faults]]` and `[fault_settings]`.
/// The scenario, one layer up, hands these over
/// (`Scenario::plan_inputs`); the field names are the scenario's own.
#[derive(Debug, Clone, Copy)]
pub struct PlanInputs<'a> {
    pub run: &'a crate::sim::RunConfig,
    pub nodes: &'a crate::nodes::NodesConfig,
    pub faults: &'a [FaultSpec],
    pub fault_settings: &'a FaultSettingsConfig,
}

impl PlanInputs<'_> {
    /// Whether some seed's plan may hold a `clock` fault (an entry, a
    /// process of clocks, or a swarm kind): the test-bed then installs the
    /// hosts' clocks (`sim::ambient`, for `sim::time`), and only then.
    pub fn may_skew_clocks(&self) -> bool {
        let entry = self
            .faults
            .iter()
            .any(|f| f.kind == FaultKind::Clock || f.fault == Some(FaultKind::Clock));
        let swarm = (self.fault_settings.swarm.as_ref())
            .is_some_and(|s| s.kinds.contains_key(FaultKind::Clock.name()));
        entry || swarm
    }
}
