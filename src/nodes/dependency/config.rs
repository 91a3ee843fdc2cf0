//! `[nodes.dependency]`: the dependency's queueing model as config.

use crate::nodes::carrier::callee::Delay;
use crate::nodes::NodeConfig;
use crate::sim::{check, Dur, FieldError, Topology};
use serde::{Deserialize, Serialize};

/// Most service slots or queued requests a dependency may have.
pub const CAPACITY_MAX: u32 = 100_000;

/// What the dependency does with a request whose caller has gone (it
/// cancelled, closed its connection, or its propagated deadline passed)
/// when it reaches the head of the queue.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Abandoned {
    /// Serve it in full anyway (most servers do not notice: wasted work).
    #[default]
    Serve,
    /// Skip it at no cost (the server honours its callers' deadlines).
    Drop,
}

/// `[nodes.dependency]` (host `dependency`): a database, cache or lookup
/// service that callers (`[nodes.sip] dependency = {..}`) query over RPC,
/// e.g. `workers = 4, queue_max = 64, service_time = { uniform = ["10ms",
/// "30ms"] }, contention = 0.1, abandoned = "serve"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DependencyConfig {
    /// Requests served at once (service slots). Default 4.
    #[serde(default = "default_workers")]
    pub workers: u32,
    /// Requests that may wait for a slot; one more is refused at once
    /// (`resource_exhausted`). Default 64.
    #[serde(default = "default_queue_max")]
    pub queue_max: u32,
    /// Service time of one request, before contention and saturation:
    /// `"20ms"` or `{ uniform = ["10ms", "30ms"] }` (drawn per request
    /// from the seed). Default 20ms.
    #[serde(default = "default_service_time")]
    pub service_time: Delay,
    /// Lock contention: each other request in service when a request
    /// takes its slot stretches its service time by this share (0.1: 4
    /// in service take 1.3 times as long each). Default 0 (none).
    #[serde(default)]
    pub contention: f64,
    /// `serve` or `drop` a request whose caller has gone by the time it
    /// reaches the head of the queue. Default `serve`.
    #[serde(default)]
    pub abandoned: Abandoned,
}

fn default_workers() -> u32 {
    4
}
fn default_queue_max() -> u32 {
    64
}
fn default_service_time() -> Delay {
    Delay::Fixed(Dur::from_millis(20))
}

impl Default for DependencyConfig {
    fn default() -> DependencyConfig {
        DependencyConfig {
            workers: default_workers(),
            queue_max: default_queue_max(),
            service_time: default_service_time(),
            contention: 0.0,
            abandoned: Abandoned::default(),
        }
    }
}

impl NodeConfig for DependencyConfig {
    fn validate(&self, prefix: &str, _topology: &Topology) -> Result<(), FieldError> {
        check::at_least_one(prefix, "workers", self.workers)?;
        for (name, value) in [("workers", self.workers), ("queue_max", self.queue_max)] {
            if value > CAPACITY_MAX {
                return Err(FieldError::new(
                    check::field(prefix, name),
                    format!("{value} is above {CAPACITY_MAX}"),
                ));
            }
        }
        let (lo, hi) = match self.service_time {
            Delay::Fixed(d) => (d, d),
            Delay::Uniform { uniform: [lo, hi] } => (lo, hi),
        };
        if hi < lo {
            return Err(FieldError::new(
                check::field(prefix, "service_time"),
                format!("uniform range [{lo}, {hi}] is empty"),
            ));
        }
        check::positive(prefix, "service_time", hi)?;
        if !(self.contention.is_finite() && (0.0..=10.0).contains(&self.contention)) {
            return Err(FieldError::new(
                check::field(prefix, "contention"),
                format!("{} is not in [0, 10]", self.contention),
            ));
        }
        Ok(())
    }
}
