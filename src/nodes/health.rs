//! Health checks of next hops with SIP OPTIONS, shared by the LB (its
//! backends) and the SBC pods (the next pod of the chain).
//!
//! A checker sends OPTIONS to each target every `interval`; a target that
//! misses `failures_max` checks in a row (no final response within
//! `timeout`, or a 5xx) turns unhealthy, and one that answers
//! `successes_min` in a row turns healthy again. Each turn emits
//! `health.change {target, healthy}` from the checking host. With `eject`,
//! unhealthy targets get no new traffic; without it the checks only report.

use crate::scenario::{Dur, FieldError};
use serde::{Deserialize, Serialize};

/// `health = { ... }` of a node that checks its next hops.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Run the checks at all. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Steer new traffic away from unhealthy targets. Default true.
    #[serde(default = "default_true")]
    pub eject: bool,
    /// Gap between two checks of one target. Default 1s.
    #[serde(default = "default_interval")]
    pub interval: Dur,
    /// How long a check waits for its answer. Default 500ms.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Failed checks in a row that make a target unhealthy. Default 3.
    #[serde(default = "default_failures_max")]
    pub failures_max: u32,
    /// Passed checks in a row that make it healthy again. Default 2.
    #[serde(default = "default_successes_min")]
    pub successes_min: u32,
}

fn default_true() -> bool {
    true
}
fn default_interval() -> Dur {
    Dur::from_secs(1)
}
fn default_timeout() -> Dur {
    Dur::from_millis(500)
}
fn default_failures_max() -> u32 {
    3
}
fn default_successes_min() -> u32 {
    2
}

impl Default for HealthCheckConfig {
    fn default() -> HealthCheckConfig {
        HealthCheckConfig {
            enabled: true,
            eject: true,
            interval: default_interval(),
            timeout: default_timeout(),
            failures_max: default_failures_max(),
            successes_min: default_successes_min(),
        }
    }
}

impl HealthCheckConfig {
    /// `prefix` is the field path of this table, e.g. `nodes.lb.health`.
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        if self.interval.is_zero() {
            return Err(FieldError::new(format!("{prefix}.interval"), "must be > 0"));
        }
        if self.timeout.is_zero() {
            return Err(FieldError::new(format!("{prefix}.timeout"), "must be > 0"));
        }
        if self.timeout > self.interval {
            return Err(FieldError::new(
                format!("{prefix}.timeout"),
                "must not exceed `interval` (one check at a time per target)",
            ));
        }
        if self.failures_max == 0 {
            return Err(FieldError::new(
                format!("{prefix}.failures_max"),
                "must be >= 1",
            ));
        }
        if self.successes_min == 0 {
            return Err(FieldError::new(
                format!("{prefix}.successes_min"),
                "must be >= 1",
            ));
        }
        Ok(())
    }
}
