//! `[run]`: the settings that pin a run (seed, duration, tick, link
//! latency, the event budget), read by the test-bed's step loop and by the fault plan.

use super::Dur;
use serde::{Deserialize, Serialize};

/// `[run]`: the settings that pin a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Seed of every random choice in the run. Default 1. Overridden by
    /// `CALLSIM_SEED`, which `--seed` overrides in turn.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Sim time the run lasts. Required.
    pub duration: Dur,
    /// turmoil's tick: the resolution of sim time. Default 10ms. Ringing and
    /// RPC timeouts in seconds do not need 1 ms; races might.
    #[serde(default = "default_tick")]
    pub tick: Dur,
    /// Minimum one-way latency of every link. Default 1ms.
    #[serde(default = "default_latency")]
    pub latency_min: Dur,
    /// Maximum one-way latency of every link (turmoil draws between min and
    /// max with the seeded RNG). Default 1ms, i.e. fixed.
    #[serde(default = "default_latency")]
    pub latency_max: Dur,
    /// The run budget: a run that records more events than this ends with
    /// exit 5 (incomplete) and says so, instead of running on for hours or
    /// filling the memory. Counted in events, never in wall time, so the
    /// verdict does not depend on the machine. Default 5,000,000 (about
    /// 600 MB of history); at most [`MAX_EVENTS_CEILING`].
    #[serde(default = "default_max_events")]
    pub max_events: u64,
}

/// The largest `max_events` a scenario may set.
pub const MAX_EVENTS_CEILING: u64 = 50_000_000;

fn default_max_events() -> u64 {
    5_000_000
}

fn default_seed() -> u64 {
    1
}
fn default_tick() -> Dur {
    Dur::from_millis(10)
}
fn default_latency() -> Dur {
    Dur::from_millis(1)
}

impl RunConfig {
    pub fn new(duration: Dur) -> RunConfig {
        RunConfig {
            seed: default_seed(),
            duration,
            tick: default_tick(),
            latency_min: default_latency(),
            latency_max: default_latency(),
            max_events: default_max_events(),
        }
    }
}

/// The longest run a scenario may ask for: a bound on everything.
pub const DURATION_MAX: Dur = Dur(std::time::Duration::from_secs(24 * 3600));
