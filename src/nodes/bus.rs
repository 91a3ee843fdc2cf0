//! The bus (host `bus`): the internal RPC broker between the gateway and
//! the SIP service instances (`sip-1`..`sip-N`).
//!
//! Each request for a `sip.*` method is forwarded, deadline and all (the
//! budget left when it is forwarded, on the bus's clock), to one
//! backend chosen round-robin among those believed alive, over a fresh
//! connection ([`rpc::exchange`]). A caller's `cancel` (or its closed
//! connection, or the carried deadline passing) is forwarded as a `cancel`
//! to the backend. The bus adds no timeout of its own beyond the carried
//! deadline, or `request_timeout_max` when none was carried.
//!
//! Liveness comes from the traffic itself, with no periodic probe: a
//! backend that refuses a connection (crashed, partitioned) or does not
//! accept it within `connect_timeout` (held) is ejected for `eject_for`
//! and the request goes to the next one, up to `forward_attempts_max`
//! backends. When every backend is ejected, the one due back first is
//! tried. A backend that answers `unavailable` (nothing done) is passed
//! over without ejection. Ejections and returns are `health.change` events
//! (target = the backend host). When no backend takes the request the bus
//! answers `unavailable`, which the gateway reports as 503.

use crate::history::{emit, Event};
use crate::nodes::ports;
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::rpc::{self, ErrorCode, Exchange, Incoming, RpcError};
use crate::sim::buggify::{self, buggify};
use crate::sim::time::now_ms;
use crate::sim::{check, NodeCtx};
use crate::sim::{Dur, FieldError, Topology};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

/// `[nodes.bus]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BusConfig {
    /// Section or host serving `sip.*` methods. Default `sip`.
    #[serde(default = "default_backends")]
    pub backends: String,
    /// Longest wait for a backend to accept a connection. Default 500ms.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Dur,
    /// Backends tried per request. Default 2.
    #[serde(default = "default_forward_attempts_max")]
    pub forward_attempts_max: u32,
    /// How long a backend that failed a connection is skipped. Default 5s.
    #[serde(default = "default_eject_for")]
    pub eject_for: Dur,
    /// Bound on a forwarded request that carries no deadline. Default 120s.
    #[serde(default = "default_request_timeout_max")]
    pub request_timeout_max: Dur,
}

fn default_backends() -> String {
    "sip".into()
}
fn default_connect_timeout() -> Dur {
    Dur::from_millis(500)
}
fn default_forward_attempts_max() -> u32 {
    2
}
fn default_eject_for() -> Dur {
    Dur::from_secs(5)
}
fn default_request_timeout_max() -> Dur {
    Dur::from_secs(120)
}

impl Default for BusConfig {
    fn default() -> BusConfig {
        toml::from_str("").expect("every field has a default")
    }
}

impl NodeConfig for BusConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        check::known_node(prefix, "backends", &self.backends, topology)?;
        check::positive(prefix, "connect_timeout", self.connect_timeout)?;
        check::at_least_one(prefix, "forward_attempts_max", self.forward_attempts_max)?;
        check::positive(prefix, "eject_for", self.eject_for)?;
        check::positive(prefix, "request_timeout_max", self.request_timeout_max)?;
        Ok(())
    }
}

/// How much later a request is forwarded when `bus.slow_forward` fires.
pub const SLOW_FORWARD_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// The bus's view of its backends.
#[derive(Clone)]
struct Bus {
    ctx: NodeCtx,
    /// Backend host -> sim ms until which it is ejected (absent: alive).
    ejected: Rc<RefCell<BTreeMap<String, u64>>>,
    next: Rc<Cell<usize>>,
    next_id: Rc<Cell<u64>>,
}

pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let bus = Bus {
        ctx,
        ejected: Rc::default(),
        next: Rc::default(),
        next_id: Rc::new(Cell::new(1)),
    };
    rpc::serve(ports::BUS_RPC, move |req| {
        let bus = bus.clone();
        async move { bus.forward(req).await }
    })
    .await?;
    Ok(())
}

impl Bus {
    /// Backends to try for one request, in order.
    fn candidates(&self, config: &BusConfig) -> Vec<String> {
        let backends = self.ctx.topology.expand(&config.backends);
        if backends.is_empty() {
            return Vec::new();
        }
        let start = self.next.get() % backends.len();
        self.next.set(start + 1);
        let now = now_ms();
        let ejected = self.ejected.borrow();
        let rotated = backends[start..].iter().chain(&backends[..start]);
        let alive: Vec<String> = rotated
            .filter(|b| ejected.get(*b).is_none_or(|until| *until <= now))
            .cloned()
            .collect();
        let limit = config.forward_attempts_max as usize;
        if !alive.is_empty() {
            return alive.into_iter().take(limit).collect();
        }
        // All ejected: try the one due back first.
        let soonest = backends
            .iter()
            .min_by_key(|b| ejected.get(*b).copied().unwrap_or(0))
            .cloned();
        soonest.into_iter().collect()
    }

    fn eject(&self, backend: &str, config: &BusConfig) {
        let until = now_ms() + config.eject_for.as_millis();
        let was_alive = self
            .ejected
            .borrow_mut()
            .insert(backend.to_string(), until)
            .is_none();
        if was_alive {
            emit(Event::HealthChange {
                target: backend,
                healthy: false,
            });
        }
    }

    fn restore(&self, backend: &str) {
        if self.ejected.borrow_mut().remove(backend).is_some() {
            emit(Event::HealthChange {
                target: backend,
                healthy: true,
            });
        }
    }

    async fn forward(&self, req: Incoming) -> Result<serde_json::Value, RpcError> {
        if !req.method.starts_with("sip.") {
            return Err(RpcError::new(
                ErrorCode::NotFound,
                format!("the bus routes sip.* methods only, not {:?}", req.method),
            ));
        }
        let config: BusConfig = self.ctx.config();
        let until = req
            .deadline_ms
            .unwrap_or_else(|| now_ms() + config.request_timeout_max.as_millis());
        // Fault points: the request is lost inside the bus (the caller
        // waits to its deadline), or forwarded late.
        if buggify(&self.ctx, buggify::BUS_DROP_FORWARD) {
            tokio::select! {
                _ = crate::sim::time::sleep_until_ms(until) => {}
                _ = req.cancel.cancelled() => {}
            }
            return Err(RpcError::new(
                ErrorCode::DeadlineExceeded,
                "the bus did not forward the request",
            ));
        }
        if buggify(&self.ctx, buggify::BUS_SLOW_FORWARD) {
            crate::sim::time::sleep(SLOW_FORWARD_DELAY).await;
        }
        let mut last_refusal = String::from("no SIP service configured");
        for backend in self.candidates(&config) {
            if req.cancel.is_cancelled() {
                break;
            }
            let id = self.next_id.get();
            self.next_id.set(id + 1);
            let request = rpc::Request {
                id,
                call: req.call.clone(),
                method: req.method.clone(),
                // The time left now, on the bus's clock: the next hop
                // turns it into a deadline on its own.
                budget_ms: req.deadline_ms.map(|d| d.saturating_sub(now_ms())),
                body: req.body.clone(),
            };
            emit(Event::RpcForward {
                call: &req.call,
                method: &req.method,
                peer: &backend,
            });
            let outcome = rpc::exchange(
                &backend,
                ports::SIP_RPC,
                &request,
                until,
                config.connect_timeout.0,
                Some(&req.cancel),
            )
            .await;
            match outcome {
                Exchange::ConnectFailed(m) => {
                    self.eject(&backend, &config);
                    last_refusal = m;
                }
                Exchange::Reply(Err(e)) if e.code == ErrorCode::Unavailable => {
                    self.restore(&backend);
                    last_refusal = format!("{backend}: {}", e.message);
                }
                Exchange::TimedOut => {
                    return Err(RpcError::new(
                        ErrorCode::DeadlineExceeded,
                        format!("{backend} did not answer by the deadline"),
                    ))
                }
                other => {
                    self.restore(&backend);
                    return other.into_result();
                }
            }
        }
        Err(RpcError::new(
            ErrorCode::Unavailable,
            format!("no SIP service reachable ({last_refusal})"),
        ))
    }
}

/// The `BusKind` node kind, as the registry lists it.
pub struct BusKind;

impl crate::nodes::NodeKind for BusKind {
    const ABOUT: &'static str = "The internal RPC broker in front of the SIP service.";
    type Config = BusConfig;
    const FAULTS: &'static [FaultSupport] = &[FaultSupport::new("clock", &[])];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
