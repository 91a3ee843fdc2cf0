//! The nodes of the simulated voice platform, one turmoil host each.
//!
//! Every node kind implements [`NodeKind`]: its config, the faults it
//! honours, and `run(ctx: NodeCtx) -> turmoil::Result`, which reads the
//! config through the host's control handle, talks to other nodes only over
//! `turmoil::net` sockets, and reports what happens through the history
//! event API. `registry` lists the kinds, one line each; [`run`] starts a
//! host's software by its kind.
//!
//! # Layout
//! - `registry`: the node kinds, [`NodesConfig`], the fault support table.
//! - `dial`: dialled numbers checked as SIP user parts.
//! - `harness`: the `pinger`/`echo` pair that proves the harness itself.
//! - `gateway`: the public API and inbound dispatch (host `gateway`).
//! - `edge`: the API front door (host `api-edge`): timeouts, 502/522/524, a
//!   connection limit, black-hole mode.
//! - `dns`: the name server (host `dns`, opt-in) and the client-side
//!   resolver and cache of nodes configured with a name.
//! - `bus`: the RPC broker in front of the SIP service (host `bus`).
//! - `agent`: the customer's application (host `agent`).
//! - `clients`: API client profiles the agent runs (timeouts, retries, abandon).
//! - `slots`: call slots, a concurrency limit held for a call's whole life.
//! - `methods`: the internal RPC methods and their bodies.
//! - `sdp`: the minimal SDP body (media addresses) calls exchange.
//! - `media_stream`: one datagram per second each way per connected call.
//! - `sip_glue`: how calls carry media addresses over the SIP user agent.
//! - `sip`: the SIP service, a B2BUA (hosts `sip-1`..).
//! - `carrier`: the PSTN/trunk: callees and inbound callers (host `carrier`).
//! - `workload`: the `[workload]` section (calls the agent and carrier make).
//! - `workers`: the CPU and queue model (a bounded pool of simulated workers).
//! - `ports`: the platform's well-known ports.
//! - `admin`: the admin port of deployable resources (create/delete).
//! - `deployer`: deployment automation (render, diff, guards, apply).
//! - `health`: SIP OPTIONS health checks of next hops (LB, SBC).
//! - `sipproxy`: what the SIP proxies (LB, SBC) share: edits, addressing, timers.
//! - `lb`: the SIP load balancer.
//! - `sbc`: the edge and inbound SBC pods (stateful proxies anchoring media).
//! - `media`, `origin`, `telemetry`: the Play/Say caching proxy, where it
//!   downloads from, and the collector of its telemetry.
//! - `call_control`: the verb executor (Play/Say) the SIP service runs.
//! - `registration`: how call workers register with a dispatcher (frames,
//!   keepalive and reconnect policies).
//! - `dispatcher`: the registry of call workers (expiry) that dispatches
//!   inbound calls to them (host `dispatcher`).
//! - `call_worker`: workers that register, keep alive, reconnect with
//!   backoff and decide dispatched calls (hosts `call-worker-1`..).
//! - `dependency`: a database, cache or lookup service with a queueing
//!   model (host `dependency`), and the caller side its callers use.

pub mod admin;
pub mod agent;
pub mod autoscaler;
pub mod bus;
pub mod call_control;
pub mod call_worker;
pub mod carrier;
pub mod clients;
pub mod dependency;
pub mod deployer;
pub mod dial;
pub mod dispatcher;
pub mod dns;
pub mod edge;
pub mod gateway;
pub mod harness;
pub mod health;
pub mod lb;
pub mod lifecycle;
pub mod media;
pub mod media_stream;
pub mod methods;
pub mod origin;
pub mod outlier;
pub mod pod_metrics;
pub mod ports;
pub mod registration;
pub mod registry;
pub mod sbc;
pub mod sdp;
pub mod sip;
pub mod sip_glue;
pub mod sipproxy;
pub mod slots;
pub mod telemetry;
pub mod workers;
pub mod workload;

pub use registry::{
    default_needs, kind, kinds_supporting, run, FaultSupport, KindInfo, Need, NodeConfig, NodeKind,
    NodesConfig, Section, HOST_FAULTS, KINDS,
};
