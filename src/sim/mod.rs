//! The context a node runs in, and the primitives every layer above shares.
//!
//! This is the ground floor of the node side: it knows turmoil, tokio and the
//! history, and no node kind, protocol or scenario section. A node gets a
//! [`NodeCtx`] (its name, typed config through its control handle, seeded
//! RNGs, the topology) and uses [`spawn`], [`time`] and the history's
//! `emit`; the fault plan reaches nodes only through [`Control`] handles and
//! the [`World`] the step loop hands to scheduled actions.
//!
//! # Layout
//! - `duration`: [`Dur`], durations written with units (`"30s"`).
//! - `field_error`: [`FieldError`], a wrong value named by its field path.
//! - `buggify`: in-code fault points (site names, `buggify`).
//! - `check`: validation helpers that name the field.
//! - `pair`: serde readers for lists of exactly two.
//! - `run_config`: [`RunConfig`], the `[run]` settings.
//! - `schema`: JSON Schema pieces for config fields kept as raw TOML.
//! - `topology`: [`Topology`] and [`HostSpec`], the hosts of a run.
//! - `control`: the control handles (test-bed to node), the only channel
//!   into a node besides the simulated network.
//! - `rng`: seed derivation.
//! - `time`: sim time for node code (`now_ms`, sleeping until a deadline).
//! - `world`: [`World`] and [`ScheduledAction`], what the step loop applies.

pub mod ambient;
pub mod buggify;
pub mod check;
pub mod control;
pub mod duration;
pub mod field_error;
pub mod pair;
pub mod rng;
pub mod run_config;
pub mod schema;
pub mod time;
pub mod topology;
pub mod world;

pub use control::{Control, ControlHandle};
pub use duration::{Dur, SignedDur};
pub use field_error::FieldError;
pub use run_config::{RunConfig, DURATION_MAX, MAX_EVENTS_CEILING};
pub use topology::{HostSpec, Topology};
pub use world::{ScheduledAction, World};

use rng::{rng_for, SimRng};
use std::sync::Arc;
use tracing::Instrument;

/// Everything a node gets from the test-bed when it starts.
#[derive(Clone)]
pub struct NodeCtx {
    /// Host name, e.g. `sip-2`.
    pub name: Arc<str>,
    /// The node kind's registry name, e.g. `sbc-edge`.
    pub kind: &'static str,
    /// Pod number from 1; 0 for single hosts.
    pub pod: u32,
    /// The `[nodes.<section>]` this host's config comes from.
    pub section: &'static str,
    /// The run's seed.
    pub seed: u64,
    /// How many times this host's software started before (0 on first
    /// start; a restart with state loss increments it).
    pub incarnation: u32,
    pub control: ControlHandle,
    /// The scenario's `[workload]` section as loaded (the calls the agent
    /// and the carrier generate), read with [`NodeCtx::workload`].
    pub workload: Arc<toml::Value>,
    pub topology: Arc<Topology>,
}

impl NodeCtx {
    /// A seeded RNG for one purpose of this host and incarnation.
    pub fn rng(&self, purpose: &str) -> SimRng {
        rng_for(
            self.seed,
            &[&self.name, purpose, &self.incarnation.to_string()],
        )
    }

    /// This node's current config, typed.
    pub fn config<T>(&self) -> T
    where
        T: for<'de> serde::Deserialize<'de> + Clone + Send + Sync + 'static,
    {
        self.control.config()
    }

    /// The scenario's `[workload]`, typed (validated when the scenario
    /// loaded, so it always deserialises).
    pub fn workload<T>(&self) -> T
    where
        T: for<'de> serde::Deserialize<'de>,
    {
        T::deserialize((*self.workload).clone()).expect("the workload was validated at load")
    }
}

/// Spawns a task on the current host, keeping the `host{name}` span so
/// its events are attributed to the host. Use this, not `tokio::spawn`,
/// inside node code.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + 'static,
    F::Output: 'static,
{
    tokio::task::spawn_local(future.in_current_span())
}

/// Runs `body` inside a one-host turmoil sim, for its virtual clock (unit
/// tests of parts that sleep or read sim time).
#[cfg(test)]
pub(crate) fn in_sim<F, Fut>(body: F)
where
    F: Fn() -> Fut + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let mut sim = turmoil::Builder::new()
        .tick_duration(std::time::Duration::from_millis(1))
        .simulation_duration(std::time::Duration::from_secs(60))
        .build();
    sim.client("test", async move {
        body().await;
        Ok(())
    });
    sim.run().expect("sim runs");
}
