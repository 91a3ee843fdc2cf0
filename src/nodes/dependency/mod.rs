//! The dependency (host `dependency`): a database, cache or lookup service
//! that several nodes call over RPC, whose latency grows with the load
//! they offer it.
//!
//! It serves `dependency.lookup` on [`ports::DEPENDENCY`] with the RPC
//! server (`rpc::serve`: one connection per request, the caller's budget
//! turned into a deadline, a cancellation when the caller gives up).
//! Each request goes through the queueing model of [`queue`]: service
//! slots, a bounded FIFO queue, a service time drawn per request and
//! stretched by contention and saturation. A request refused at a full
//! queue is answered `resource_exhausted`; one skipped because its caller
//! had gone, `deadline_exceeded` (nobody reads it); one a gray fault
//! failed, `internal`. Each request it finished with is recorded as
//! `dep.serve {call, peer, outcome, depth, queued_ms, service_ms}`, with
//! `outcome` `abandoned` for one served in full after its caller left.
//!
//! Callers use [`client`]: a connection pool per caller pod, a timeout
//! per attempt, bounded retries with a fixed backoff, all config
//! (`[nodes.sip] dependency = {..}`), recorded as `dep.request`.
//!
//! # Layout
//! - `config`: `[nodes.dependency]`.
//! - `queue`: the queueing model.
//! - `client`: the caller side: its config, pool, timeouts and retries.

pub mod client;
pub mod config;
pub mod queue;

pub use config::{Abandoned, DependencyConfig};

use crate::history::{emit, Event};
use crate::nodes::{methods, ports, FaultSupport};
use crate::rpc::{self, ErrorCode, Incoming, RpcError};
use crate::sim::NodeCtx;
use queue::{Outcome, Queue};

/// Serves lookups until the host stops.
pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let queue = Queue::new(ctx.control.clone(), ctx.rng("service_time"));
    rpc::serve(ports::DEPENDENCY, move |req| {
        let queue = queue.clone();
        let ctx = ctx.clone();
        async move { lookup(&ctx, &queue, req).await }
    })
    .await?;
    Ok(())
}

/// One `dependency.lookup`.
async fn lookup(
    ctx: &NodeCtx,
    queue: &Queue,
    req: Incoming,
) -> Result<serde_json::Value, RpcError> {
    if req.method != methods::DEPENDENCY_LOOKUP {
        return Err(RpcError::new(
            ErrorCode::NotFound,
            format!("no method {:?}", req.method),
        ));
    }
    let config: DependencyConfig = ctx.config();
    let served = queue.serve(&config, &req.cancel).await;
    let outcome = match served.outcome {
        Outcome::Ok if req.cancel.is_cancelled() => "abandoned",
        Outcome::Ok => "ok",
        Outcome::Rejected => "rejected",
        Outcome::Dropped => "dropped",
        Outcome::Failed => "failed",
    };
    emit(Event::DepServe {
        call: &req.call,
        peer: &req.peer,
        outcome,
        depth: served.depth,
        queued_ms: served.queued_ms,
        service_ms: served.service_ms,
    });
    match served.outcome {
        Outcome::Ok => Ok(serde_json::json!({})),
        Outcome::Rejected => Err(RpcError::new(ErrorCode::ResourceExhausted, "queue full")),
        Outcome::Dropped => Err(RpcError::new(
            ErrorCode::DeadlineExceeded,
            "dropped: the caller had gone",
        )),
        Outcome::Failed => Err(RpcError::new(ErrorCode::Internal, "gray failure")),
    }
}

/// The `dependency` node kind, as the registry lists it.
pub struct DependencyKind;

impl crate::nodes::NodeKind for DependencyKind {
    const ABOUT: &'static str =
        "A database, cache or lookup service that callers query over RPC; its latency emerges from a queueing model.";
    type Config = DependencyConfig;
    /// `gray = work` fails requests after their service time; `saturate`
    /// scales service time and slots; `clock` moves its deadlines and
    /// stretches its service times (`sim::time`).
    const FAULTS: &'static [FaultSupport] = &[
        FaultSupport::new("gray", &["work"]),
        FaultSupport::new("saturate", &[]),
        FaultSupport::new("clock", &[]),
    ];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
