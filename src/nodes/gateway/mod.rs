//! The gateway (host `gateway`): the platform's public API, and the door
//! through which inbound calls reach the customer's agent.
//!
//! Outbound: `CreateSIPParticipant` (wire format in [`api`]) costs a job on
//! the gateway's worker pool, then becomes a `sip.dial` RPC through the bus,
//! made with the gateway's own `rpc_client` stack and a deadline of its
//! own: `ringing_timeout + dial_margin` for a sync request,
//! `async_dial_timeout` for an async one. The reply maps to the API status:
//!
//! | dial outcome | API status |
//! |---|---|
//! | dialing (async) / answered (sync) | 200 |
//! | rejected by the callee | the callee's code (486, 603, 480, ...) |
//! | ringing timeout | 408 |
//! | leg failed | the code the SIP service gives (503, 408, ...) |
//! | RPC timed out (the client stack's own timeout) or deadline exceeded | 408 |
//! | RPC unavailable (no SIP service reachable), overload, lost | 503 |
//!
//! The gateway emits `api.request`, `call.start` (outbound) and
//! `api.response`. A call that ends at the API (any status but 200) gets its
//! `call.end` here at once; a call the API answered 200 for gets its
//! `call.end` when the SIP service reports the end (`gateway.call_ended`).
//! So `call.end.status` is the API status for sync calls; for async calls,
//! whose API status (200, dialing started) says nothing about the call, it
//! is the outcome the platform reports at the end (200 answered and hung up,
//! the callee's rejection code, 408 no answer).
//!
//! An API request may carry the client's `attempt` number (client profiles
//! send it; see `nodes::clients`). Each attempt of one call id is then its
//! own request here: `call.start`, `api.request`, `api.response` and
//! `call.end` carry `attempt`, the call book keeps attempts apart, and the
//! dial (and the SIP service's end notice) carries it too. A retried
//! request is served again in full. A request without one is handled, and
//! recorded, exactly as before.
//!
//! With `slots` ([`crate::nodes::slots`]), each outbound API call holds one
//! of the gateway's call slots from its request until its `call.end` (per
//! attempt); a request that gets none (full, or timed out in the slots'
//! queue) is answered 503 "call slots full; retry after Ns" (503, not 429:
//! `honest_status`'s table reads 429 as a claim about the callee).
//!
//! When the gateway gives up on a dial (its RPC timed out, or the API
//! client went away), the RPC client sends `cancel`, and the SIP service
//! cancels the SIP leg: the callee sees the call cancelled.
//!
//! Inbound: `gateway.dispatch` from the SIP service costs a job, then is
//! passed to the agent (`agent.dispatch`), whose decision is the reply.

pub mod api;

use crate::history::event::{Direction, Mode};
use crate::history::{emit, EndOutcome, Event};
use crate::net::frame::{read_frame, write_frame};
use crate::nodes::dns::{self, resolver::Resolver, resolver::ResolverConfig};
use crate::nodes::methods::{self, CallEnded, DialReply, DialRequest, Dispatch};
use crate::nodes::ports;
use crate::nodes::slots::{SlotGuard, Slots, SlotsConfig};
use crate::nodes::workers::{Pool, PoolConfig};
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::rpc::{self, ErrorCode, Incoming, RpcClient, RpcClientConfig, RpcError};
use crate::sim::buggify::{self, buggify};
use crate::sim::time::now_ms;
use crate::sim::{check, NodeCtx};
use crate::sim::{Dur, FieldError, Topology};
use api::{ApiRequest, ApiResponse, CreateSipParticipant};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use turmoil::net::{TcpListener, TcpStream};

/// `[nodes.gateway]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// The RPC broker dials go through: a host, or a name the gateway
    /// resolves per dial (see [`crate::nodes::dns`]). Default `bus`.
    #[serde(default = "default_bus")]
    pub bus: String,
    /// How the gateway resolves `bus` when it is a name. Default: the
    /// resolver's defaults (server `dns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<ResolverConfig>,
    /// The customer's agent, which takes inbound dispatches. Default `agent`.
    #[serde(default = "default_agent")]
    pub agent: String,
    /// The gateway's RPC client stack (see `rpc::config`).
    #[serde(default)]
    pub rpc_client: RpcClientConfig,
    /// The gateway's workers.
    #[serde(default)]
    pub pool: PoolConfig,
    /// Worker time per API request. Default 1ms.
    #[serde(default = "default_api_service_time")]
    pub api_service_time: Dur,
    /// Worker time per inbound dispatch. Default 1ms.
    #[serde(default = "default_dispatch_service_time")]
    pub dispatch_service_time: Dur,
    /// A sync dial's deadline is `ringing_timeout + dial_margin` after the
    /// request: room for the SIP service's own ringing timeout and its
    /// CANCEL to win. Default 5s.
    #[serde(default = "default_dial_margin")]
    pub dial_margin: Dur,
    /// Deadline of an async dial (its reply comes once the INVITE is sent).
    /// Default 5s.
    #[serde(default = "default_async_dial_timeout")]
    pub async_dial_timeout: Dur,
    /// Longest wait for the agent's decision on an inbound call. Default 10s.
    #[serde(default = "default_agent_timeout")]
    pub agent_timeout: Dur,
    /// Call slots for outbound API calls, each held from the request until
    /// the call (the attempt) ends (see [`crate::nodes::slots`]); a request
    /// that gets none is answered 503 with "retry after Ns". Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<SlotsConfig>,
}

fn default_bus() -> String {
    "bus".into()
}
fn default_agent() -> String {
    "agent".into()
}
fn default_api_service_time() -> Dur {
    Dur::from_millis(1)
}
fn default_dispatch_service_time() -> Dur {
    Dur::from_millis(1)
}
fn default_dial_margin() -> Dur {
    Dur::from_secs(5)
}
fn default_async_dial_timeout() -> Dur {
    Dur::from_secs(5)
}
fn default_agent_timeout() -> Dur {
    Dur::from_secs(10)
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        toml::from_str("").expect("every field has a default")
    }
}

impl NodeConfig for GatewayConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        dns::check_target(prefix, "bus", &self.bus, self.resolver.as_ref(), topology)?;
        if let Some(r) = &self.resolver {
            r.validate(&check::field(prefix, "resolver"), topology)?;
        }
        check::known_node(prefix, "agent", &self.agent, topology)?;
        self.rpc_client
            .validate(&check::field(prefix, "rpc_client"))?;
        self.pool.validate(&check::field(prefix, "pool"))?;
        check::positive(prefix, "api_service_time", self.api_service_time)?;
        check::positive(prefix, "dispatch_service_time", self.dispatch_service_time)?;
        check::positive(prefix, "dial_margin", self.dial_margin)?;
        check::positive(prefix, "async_dial_timeout", self.async_dial_timeout)?;
        check::positive(prefix, "agent_timeout", self.agent_timeout)?;
        if let Some(slots) = &self.slots {
            slots.validate(&check::field(prefix, "slots"))?;
        }
        Ok(())
    }
}

/// How many ended calls the gateway remembers (to ignore a late or repeated
/// end notice); the oldest are forgotten first.
const ENDED_CALLS_MAX: usize = 65_536;

/// The gateway's view of the outbound calls it answered 200 for.
#[derive(Default)]
struct CallBook {
    /// Calls whose end is awaited from the SIP service.
    /// The call slot each holds, when the gateway has slots.
    live: BTreeMap<String, Option<SlotGuard>>,
    ended: BTreeMap<String, ()>,
    ended_order: VecDeque<String>,
}

impl CallBook {
    fn is_ended(&self, call: &str) -> bool {
        self.ended.contains_key(call)
    }

    /// Marks `call` ended; false when it already was.
    fn end(&mut self, call: &str) -> bool {
        self.live.remove(call);
        if self.ended.insert(call.to_string(), ()).is_some() {
            return false;
        }
        self.ended_order.push_back(call.to_string());
        while self.ended_order.len() > ENDED_CALLS_MAX {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended.remove(&old);
            }
        }
        true
    }
}

/// Emits `event`, with `attempt` when the API request carried one.
fn emit_for(attempt: Option<u32>, event: Event<'_>) {
    match attempt {
        None => emit(event),
        Some(attempt) => emit(Event::Attempted {
            attempt,
            event: Box::new(event),
        }),
    }
}

/// The call book's key of an attempt: the call id alone for a request
/// without an attempt number.
fn book_key(call: &str, attempt: Option<u32>) -> std::borrow::Cow<'_, str> {
    match attempt {
        None => call.into(),
        Some(n) => format!("{call}#{n}").into(),
    }
}

/// State shared by the gateway's tasks.
/// How much later an API request is handled when `gateway.api_slow` fires.
pub const API_SLOW_DELAY: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Clone)]
struct Gateway {
    ctx: NodeCtx,
    pool: Pool,
    bus: RpcClient,
    resolver: Resolver,
    book: Rc<RefCell<CallBook>>,
    slots: Option<Slots>,
}

pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let config: GatewayConfig = ctx.config();
    let gateway = Gateway {
        pool: Pool::new(&ctx, config.pool),
        bus: RpcClient::new(&config.bus, ports::BUS_RPC),
        resolver: Resolver::new(&ctx),
        book: Rc::default(),
        slots: config.slots.map(|c| Slots::new("api", c)),
        ctx,
    };
    let rpc_side = gateway.clone();
    crate::sim::spawn(async move {
        let _ = rpc::serve(ports::GATEWAY_RPC, move |req| {
            let gateway = rpc_side.clone();
            async move { gateway.internal(req).await }
        })
        .await;
    });
    let listener = TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), ports::API)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let gateway = gateway.clone();
        crate::sim::spawn(async move { gateway.api_connection(stream).await });
    }
}

impl Gateway {
    fn config(&self) -> GatewayConfig {
        self.ctx.config()
    }

    /// One API connection: one request, one response. The client closing
    /// the connection first abandons the request.
    async fn api_connection(&self, stream: TcpStream) {
        let (mut rd, mut wr) = stream.into_split();
        let request: ApiRequest = match read_frame(&mut rd).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                let _ = write_frame(
                    &mut wr,
                    &ApiResponse {
                        status: 400,
                        message: format!("bad request: {e}"),
                    },
                )
                .await;
                return;
            }
        };
        let ApiRequest::CreateSipParticipant(create) = request;
        let handling = self.create_sip_participant(&create);
        tokio::pin!(handling);
        let client_gone = async {
            // The client sends nothing more; anything read means it is gone.
            let mut byte = [0u8; 1];
            let _ = tokio::io::AsyncReadExt::read(&mut rd, &mut byte).await;
        };
        let response = tokio::select! {
            r = &mut handling => r,
            _ = client_gone => {
                self.end_call(&create.call, create.attempt, 499, "api client went away", EndOutcome::Cancelled);
                return;
            }
        };
        let _ = write_frame(&mut wr, &response).await;
    }

    async fn create_sip_participant(&self, req: &CreateSipParticipant) -> ApiResponse {
        let config = self.config();
        let call = req.call.as_str();
        let attempt = req.attempt;
        let method = api::CREATE_SIP_PARTICIPANT;
        emit_for(attempt, Event::ApiRequest { call, method });
        let mode = if req.wait_until_answered {
            Mode::Sync
        } else {
            Mode::Async
        };
        emit_for(
            attempt,
            Event::CallStart {
                call,
                direction: Direction::Outbound,
                mode,
                ringing_timeout_ms: req.ringing_timeout.as_millis(),
            },
        );
        // Fault point: the API request is handled late.
        if buggify(&self.ctx, buggify::GATEWAY_API_SLOW) {
            crate::sim::time::sleep(API_SLOW_DELAY).await;
        }
        // A call slot for the call's whole life, taken before any work.
        let (slot, refused) = match &self.slots {
            None => (None, None),
            Some(slots) => match slots.acquire().await {
                Ok(guard) => (Some(guard), None),
                Err(refusal) => (
                    None,
                    Some(format!(
                        "{}; retry after {}s",
                        refusal.as_str(),
                        slots.config().retry_after_s()
                    )),
                ),
            },
        };
        let (status, message, ended) = match refused {
            Some(message) => (503, message, Some(EndOutcome::Failed)),
            None => self.dial(&config, req).await,
        };
        emit_for(
            attempt,
            Event::ApiResponse {
                call,
                method,
                status,
            },
        );
        match ended {
            None => {
                let mut book = self.book.borrow_mut();
                let key = book_key(call, attempt);
                if !book.is_ended(&key) {
                    book.live.insert(key.into_owned(), slot);
                }
            }
            Some(outcome) => self.end_call(call, attempt, status, &message, outcome),
        }
        ApiResponse { status, message }
    }

    /// (status, message, the call's outcome when the response ends it;
    /// `None` when the call goes on after the response).
    async fn dial(
        &self,
        config: &GatewayConfig,
        req: &CreateSipParticipant,
    ) -> (u16, String, Option<EndOutcome>) {
        if req.ringing_timeout.is_zero() {
            return (
                400,
                "ringing_timeout must be > 0".into(),
                Some(EndOutcome::Rejected),
            );
        }
        if let Err(refusal) = self.pool.serve(config.api_service_time.0).await {
            return (
                refusal.status(),
                refusal.as_str().into(),
                Some(EndOutcome::Failed),
            );
        }
        let now = now_ms();
        let deadline = if req.wait_until_answered {
            now + req.ringing_timeout.as_millis() + config.dial_margin.as_millis()
        } else {
            now + config.async_dial_timeout.as_millis()
        };
        let body = methods::to_body(&DialRequest {
            call: req.call.clone(),
            trunk: req.trunk.clone(),
            to: req.to.clone(),
            ringing_timeout_ms: req.ringing_timeout.as_millis(),
            wait_until_answered: req.wait_until_answered,
            attempt: req.attempt,
        });
        // A bus configured by name is resolved per dial (from the cache
        // while its answer lasts); the first host answered takes the dial.
        let bus = if dns::is_name(&config.bus) {
            let resolver = config.resolver.as_ref();
            let call = Some(req.call.as_str());
            match dns::first_host(&self.ctx, &self.resolver, resolver, &config.bus, call).await {
                Ok(host) => self.bus.with_host(&host),
                Err(reason) => return (503, reason, Some(EndOutcome::Failed)),
            }
        } else {
            self.bus.clone()
        };
        let result = bus
            .call(&config.rpc_client, &req.call, methods::DIAL, body, deadline)
            .await;
        match result.and_then(methods::from_body::<DialReply>) {
            Ok(DialReply::Dialing) => (200, "dialing".into(), None),
            Ok(DialReply::Answered) => (200, "answered".into(), None),
            Ok(DialReply::Rejected { code, reason }) => {
                (code, reason, Some(EndOutcome::of_unanswered(code)))
            }
            Ok(DialReply::NoAnswer) => (408, "ringing timeout".into(), Some(EndOutcome::NoAnswer)),
            Ok(DialReply::Failed { code, reason }) => (code, reason, Some(EndOutcome::Failed)),
            Err(e) => {
                let status = match e.code {
                    ErrorCode::Timeout | ErrorCode::DeadlineExceeded => 408,
                    ErrorCode::Unavailable
                    | ErrorCode::ResourceExhausted
                    | ErrorCode::ConnectionLost => 503,
                    ErrorCode::InvalidArgument => 400,
                    _ => 500,
                };
                (
                    status,
                    format!("rpc {}", e.code.as_str()),
                    Some(EndOutcome::Failed),
                )
            }
        }
    }

    /// Emits `call.end` once per call (once per attempt, for requests
    /// that carried one).
    fn end_call(
        &self,
        call: &str,
        attempt: Option<u32>,
        status: u16,
        reason: &str,
        outcome: EndOutcome,
    ) {
        if self.book.borrow_mut().end(&book_key(call, attempt)) {
            emit_for(
                attempt,
                Event::CallEnd {
                    call,
                    status,
                    reason,
                    outcome,
                },
            );
        }
    }

    /// The gateway's internal RPC methods.
    async fn internal(&self, req: Incoming) -> Result<serde_json::Value, RpcError> {
        match req.method.as_str() {
            methods::CALL_ENDED => {
                let ended: CallEnded = methods::from_body(req.body)?;
                self.end_call(
                    &ended.call,
                    ended.attempt,
                    ended.status,
                    &ended.reason,
                    ended.outcome,
                );
                Ok(serde_json::json!({}))
            }
            methods::GATEWAY_DISPATCH => {
                let dispatch: Dispatch = methods::from_body(req.body)?;
                self.dispatch(dispatch, req.deadline_ms, &req.cancel).await
            }
            other => Err(RpcError::new(
                ErrorCode::NotFound,
                format!("no method {other:?}"),
            )),
        }
    }

    /// Passes an inbound call to the agent and returns its decision.
    async fn dispatch(
        &self,
        dispatch: Dispatch,
        deadline_ms: Option<u64>,
        cancel: &rpc::CancelToken,
    ) -> Result<serde_json::Value, RpcError> {
        let config = self.config();
        self.pool
            .serve(config.dispatch_service_time.0)
            .await
            .map_err(|r| RpcError::new(ErrorCode::ResourceExhausted, r.as_str()))?;
        let mut until = now_ms() + config.agent_timeout.as_millis();
        if let Some(d) = deadline_ms {
            until = until.min(d);
        }
        let request = rpc::Request {
            id: 1,
            call: dispatch.call.clone(),
            method: methods::AGENT_DISPATCH.into(),
            budget_ms: Some(until.saturating_sub(now_ms())),
            body: methods::to_body(&dispatch),
        };
        rpc::exchange(
            &config.agent,
            ports::AGENT,
            &request,
            until,
            config.rpc_client.connect_timeout.0,
            Some(cancel),
        )
        .await
        .into_result()
    }
}

/// The `GatewayKind` node kind, as the registry lists it.
pub struct GatewayKind;

impl crate::nodes::NodeKind for GatewayKind {
    const ABOUT: &'static str = "The public API (`CreateSIPParticipant`) and inbound dispatch.";
    type Config = GatewayConfig;
    const FAULTS: &'static [FaultSupport] = crate::nodes::workers::POOL_AND_CLOCK_FAULTS;
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
