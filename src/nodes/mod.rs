//! The nodes of the simulated voice platform, one turmoil host each.
//!
//! Every node is `async fn run(ctx: NodeCtx) -> turmoil::Result`: it reads
//! its config through its control handle, talks to other nodes only over
//! `turmoil::net` sockets, and reports what happens through the history
//! event API. [`run`] picks the node's code by its kind.
//!
//! # Layout
//! - `harness`: the `pinger`/`echo` pair that proves the harness itself.
//! - `gateway`: the public API and inbound dispatch (host `gateway`).
//! - `bus`: the RPC broker in front of the SIP service (host `bus`).
//! - `agent`: the customer's application (host `agent`).
//! - `methods`: the internal RPC methods and their bodies.
//! - `sdp`: the minimal SDP body (media addresses) calls exchange.
//! - `media_stream`: one datagram per second each way per connected call.
//! - `sip_glue`: how calls carry media addresses over the SIP user agent.
//! - `sip`: the SIP service, a B2BUA (hosts `sip-1`..).
//! - `carrier`: the PSTN/trunk: callees and inbound callers (host `carrier`).
//! - `workload`: the `[workload]` section (calls the agent and carrier make).
//! - `workers`: the CPU and queue model (a bounded pool of simulated workers).
//! - `time`: sim time for node code (`now_ms`, sleeping until a deadline).
//! - `ports`: the platform's well-known ports.
//! - `check`: validation helpers that name the field.
//! - `admin`: the admin port of deployable resources (create/delete).
//! - `deployer`: deployment automation (render, diff, guards, apply).
//! - `health`: SIP OPTIONS health checks of next hops (LB, SBC).
//! - `sipproxy`: what the SIP proxies (LB, SBC) share: edits, addressing, timers.
//! - `lb`: the SIP load balancer.
//! - `sbc`: the edge and inbound SBC pods (stateful proxies anchoring media).
//! - `media`, `origin`, `telemetry`: the Play/Say caching proxy, where it
//!   downloads from, and the collector of its telemetry.
//! - `call_control`: the verb executor (Play/Say) the SIP service runs.

pub mod admin;
pub mod agent;
pub mod bus;
pub mod call_control;
pub mod carrier;
pub mod check;
pub mod deployer;
pub mod gateway;
pub mod harness;
pub mod health;
pub mod lb;
pub mod media;
pub mod media_stream;
pub mod methods;
pub mod origin;
pub mod ports;
pub mod sbc;
pub mod sdp;
pub mod sip;
pub mod sip_glue;
pub mod sipproxy;
pub mod telemetry;
pub mod time;
pub mod workers;
pub mod workload;

use crate::scenario::{NodeKind, Scenario, Topology};
use crate::testbed::rng::{rng_for, SimRng};
use crate::testbed::ControlHandle;
use std::sync::Arc;

/// Everything a node gets from the test-bed when it starts.
#[derive(Clone)]
pub struct NodeCtx {
    /// Host name, e.g. `sip-2`.
    pub name: Arc<str>,
    pub kind: NodeKind,
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
    /// The whole scenario, read-only (workload, other nodes' names).
    pub scenario: Arc<Scenario>,
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
}

/// Runs the software of one host until the simulation ends.
pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    match ctx.kind {
        NodeKind::Pinger => harness::run_pinger(ctx).await,
        NodeKind::Echo => harness::run_echo(ctx).await,
        NodeKind::Gateway => gateway::run(ctx).await,
        NodeKind::Bus => bus::run(ctx).await,
        NodeKind::Agent => agent::run(ctx).await,
        NodeKind::Sip => sip::run(ctx).await,
        NodeKind::Carrier => carrier::run(ctx).await,
        NodeKind::Deployer => deployer::run(ctx).await,
        NodeKind::Lb => lb::run(ctx).await,
        NodeKind::SbcEdge | NodeKind::SbcInbound => sbc::run(ctx).await,
        NodeKind::Media => media::run(ctx).await,
        NodeKind::Origin => origin::run(ctx).await,
        NodeKind::Telemetry => telemetry::run(ctx).await,
    }
}
