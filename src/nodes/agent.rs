//! The agent (host `agent`): the customer's application.
//!
//! - Places the `[workload] outbound` calls through the gateway's API, ids
//!   `out-1`, `out-2`, .. in creation order, at seeded arrival times, each
//!   sync or async as the workload says (drawn per call with `sync_share`).
//! - Optionally runs an end-to-end `probe`: a sync call every `interval`
//!   to a number whose callee the carrier answers quickly (as LiveKit's e2e
//!   bot did), ids `probe-1`, `probe-2`, .. (a sequence of their own, so
//!   that adding a probe does not renumber the workload's calls).
//! - Answers inbound dispatches (`agent.dispatch`, RPC framing on
//!   [`ports::AGENT`]) after `answer_after`, rejecting a seeded share
//!   `reject_share` of them with `reject_code`.
//!
//! - With `clients` (API client profiles, [`crate::nodes::clients`]), the
//!   workload's outbound calls are placed by the profiles instead, each
//!   with its timeouts, retries and patience.
//!
//! Without `clients` the agent emits no event of its own: what the
//! platform did is recorded by the platform's nodes, and what the outside
//! world saw by the carrier. With them, it records what each client saw
//! (`client.*` events).

use crate::nodes::clients::{self, ClientProfile};
use crate::nodes::dial;
use crate::nodes::dns::{self, resolver::Resolver, resolver::ResolverConfig};
use crate::nodes::gateway::api::{self, ApiRequest, CreateSipParticipant};
use crate::nodes::methods::{self, Decision, Dispatch};
use crate::nodes::ports;
use crate::nodes::workload::arrival_times;
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::rpc::{self, ErrorCode, Incoming, RpcError};
use crate::sim::buggify::{self, buggify};
use crate::sim::rng::rng_for;
use crate::sim::time::{now_ms, sleep, sleep_until_ms};
use crate::sim::{check, NodeCtx};
use crate::sim::{Dur, FieldError, Topology};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// `[nodes.agent]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The API host, or a name the agent resolves per API request (see
    /// [`crate::nodes::dns`]). Default `gateway`.
    #[serde(default = "default_gateway")]
    pub gateway: String,
    /// How the agent resolves `gateway` when it is a name. Default: the
    /// resolver's defaults (server `dns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<ResolverConfig>,
    /// The agent waits `ringing_timeout + api_margin` for a sync response
    /// and `api_margin` for an async one, then gives up (closing the
    /// connection). Default 10s.
    #[serde(default = "default_api_margin")]
    pub api_margin: Dur,
    /// Delay before the agent decides on an inbound call. Default 500ms.
    #[serde(default = "default_answer_after")]
    pub answer_after: Dur,
    /// Share of inbound calls rejected, drawn per call. Default 0.
    #[serde(default)]
    pub reject_share: f64,
    /// Code of a rejection. Default 603.
    #[serde(default = "default_reject_code")]
    pub reject_code: u16,
    /// The end-to-end probe. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeConfig>,
    /// API client profiles that place the outbound workload side by side
    /// (see [`crate::nodes::clients`]). Default: none (the agent places
    /// each call once and waits `api_margin` past its ringing timeout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientProfile>,
}

/// `probe = { interval = "60s", to = "+15550000000" }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Time between probe calls. Default 60s.
    #[serde(default = "default_probe_interval")]
    pub interval: Dur,
    /// Sim time of the first probe. Default 1s.
    #[serde(default = "default_probe_start")]
    pub start: Dur,
    /// The number dialled; the carrier should answer it quickly (see the
    /// carrier's `numbers`). Default `+15550000000`.
    #[serde(default = "default_probe_to")]
    pub to: String,
    /// Trunk dialled. Default `carrier`.
    #[serde(default = "default_trunk")]
    pub trunk: String,
    /// The probe's `ringing_timeout`. Default 30s.
    #[serde(default = "default_probe_ringing_timeout")]
    pub ringing_timeout: Dur,
}

fn default_gateway() -> String {
    "gateway".into()
}
fn default_api_margin() -> Dur {
    Dur::from_secs(10)
}
fn default_answer_after() -> Dur {
    Dur::from_millis(500)
}
fn default_reject_code() -> u16 {
    603
}
fn default_probe_interval() -> Dur {
    Dur::from_secs(60)
}
fn default_probe_start() -> Dur {
    Dur::from_secs(1)
}
fn default_probe_to() -> String {
    "+15550000000".into()
}
fn default_trunk() -> String {
    "carrier".into()
}
fn default_probe_ringing_timeout() -> Dur {
    Dur::from_secs(30)
}

impl NodeConfig for AgentConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        dns::check_target(
            prefix,
            "gateway",
            &self.gateway,
            self.resolver.as_ref(),
            topology,
        )?;
        if let Some(r) = &self.resolver {
            r.validate(&check::field(prefix, "resolver"), topology)?;
        }
        check::positive(prefix, "api_margin", self.api_margin)?;
        check::share(prefix, "reject_share", self.reject_share)?;
        if !(300..=699).contains(&self.reject_code) {
            return Err(FieldError::new(
                check::field(prefix, "reject_code"),
                format!(
                    "{} is not a final SIP error code (300..699)",
                    self.reject_code
                ),
            ));
        }
        if let Some(probe) = &self.probe {
            let p = check::field(prefix, "probe");
            check::positive(&p, "interval", probe.interval)?;
            check::positive(&p, "ringing_timeout", probe.ringing_timeout)?;
            check::known_node(&p, "trunk", &probe.trunk, topology)?;
            dial::dial_number(&p, "to", &probe.to, "")?;
        }
        clients::validate(prefix, &self.clients)?;
        Ok(())
    }
}

pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let dispatch_ctx = ctx.clone();
    crate::sim::spawn(async move {
        let _ = rpc::serve(ports::AGENT, move |req| {
            let ctx = dispatch_ctx.clone();
            async move { decide(&ctx, req).await }
        })
        .await;
    });
    let config: AgentConfig = ctx.config();
    let resolver = Resolver::new(&ctx);
    if let Some(probe) = config.probe.clone() {
        let ctx = ctx.clone();
        let resolver = resolver.clone();
        crate::sim::spawn(async move { run_probe(&ctx, &resolver, &probe).await });
    }
    place_outbound(&ctx, &resolver).await;
    std::future::pending::<()>().await;
    Ok(())
}

/// Places the workload's outbound calls at their arrival times.
async fn place_outbound(ctx: &NodeCtx, resolver: &Resolver) {
    let Some(load) = ctx.workload::<crate::nodes::workload::Workload>().outbound else {
        return;
    };
    // The customer's demand is one script whatever happens to the agent:
    // every incarnation draws it from the first one's streams, so a
    // restarted agent skips exactly the calls its predecessor placed and
    // never reuses their ids for other calls.
    let script_rng = |purpose: &str| crate::sim::rng::rng_for(ctx.seed, &[&ctx.name, purpose, "0"]);
    let mut arrivals_rng = script_rng("workload.outbound.arrivals");
    let mut mode_rng = script_rng("workload.outbound.mode");
    let times = arrival_times(
        load.calls,
        load.rate_per_s,
        load.arrivals,
        load.start,
        &mut arrivals_rng,
    );
    let share = load.sync_share();
    // A restarted agent (a customer's client that came back) does not
    // replay the calls whose time passed while it was down or before: they
    // were placed by its earlier incarnation, or lost with it. Replaying
    // them would send every overdue call at once, under ids already used.
    let started_ms = now_ms();
    for (i, at) in times.into_iter().enumerate() {
        let n = i as u32 + 1;
        let sync = share >= 1.0 || (share > 0.0 && mode_rng.gen_bool(share));
        if ctx.incarnation > 0 && at < started_ms {
            continue;
        }
        sleep_until_ms(at).await;
        let request = CreateSipParticipant {
            call: format!("out-{n}"),
            trunk: load.trunk.clone(),
            to: load.to(n),
            wait_until_answered: sync,
            ringing_timeout: load.ringing_timeout,
            attempt: None,
        };
        let ctx = ctx.clone();
        let resolver = resolver.clone();
        let config: AgentConfig = ctx.config();
        if config.clients.is_empty() {
            crate::sim::spawn(async move { place(&ctx, &resolver, request).await });
        } else {
            crate::sim::spawn(async move {
                let profile = clients::profile_for(ctx.seed, &request.call, &config.clients);
                let target = clients::ApiTarget {
                    ctx: &ctx,
                    resolver: &resolver,
                    config: &config,
                };
                clients::place(&target, profile, request).await
            });
        }
    }
}

/// Places the probe's calls until the run ends.
async fn run_probe(ctx: &NodeCtx, resolver: &Resolver, probe: &ProbeConfig) {
    let (start, interval) = (probe.start.as_millis(), probe.interval.as_millis().max(1));
    // A restarted agent goes on with the next probe number: the ids its
    // predecessor used belong to the calls it placed.
    let first = match now_ms().checked_sub(start) {
        Some(since) if ctx.incarnation > 0 => since / interval + 2,
        _ => 1,
    };
    sleep_until_ms(start).await;
    for n in first.. {
        let request = CreateSipParticipant {
            call: format!("probe-{n}"),
            trunk: probe.trunk.clone(),
            to: probe.to.clone(),
            wait_until_answered: true,
            ringing_timeout: probe.ringing_timeout,
            attempt: None,
        };
        let ctx = ctx.clone();
        let resolver = resolver.clone();
        crate::sim::spawn(async move { place(&ctx, &resolver, request).await });
        sleep(probe.interval.0).await;
    }
}

/// One API call; the agent only waits for it (the platform records it).
/// A gateway named by a name is resolved first: when that fails, the
/// request is never sent (the resolver's `dns.answer` records why).
async fn place(ctx: &NodeCtx, resolver: &Resolver, request: CreateSipParticipant) {
    let config: AgentConfig = ctx.config();
    let mut wait = config.api_margin.as_millis();
    if request.wait_until_answered {
        wait += request.ringing_timeout.as_millis();
    }
    let until = now_ms() + wait;
    let call = Some(request.call.as_str());
    let resolving = config.resolver.as_ref();
    let Ok(gateway) = dns::first_host(ctx, resolver, resolving, &config.gateway, call).await else {
        return;
    };
    let _ = api::call(&gateway, &ApiRequest::CreateSipParticipant(request), until).await;
}

/// How much later the agent answers when `agent.answer_late` fires.
pub const ANSWER_LATE_DELAY: std::time::Duration = std::time::Duration::from_secs(3);

/// `agent.dispatch`: accept or reject an inbound call after `answer_after`.
async fn decide(ctx: &NodeCtx, req: Incoming) -> Result<serde_json::Value, RpcError> {
    if req.method != methods::AGENT_DISPATCH {
        return Err(RpcError::new(ErrorCode::NotFound, req.method));
    }
    let dispatch: Dispatch = methods::from_body(req.body)?;
    let config: AgentConfig = ctx.config();
    // Fault point: the agent answers late.
    let mut wait = config.answer_after.0;
    if buggify(ctx, buggify::AGENT_ANSWER_LATE) {
        wait += ANSWER_LATE_DELAY;
    }
    tokio::select! {
        _ = sleep(wait) => {}
        _ = req.cancel.cancelled() => {
            return Err(RpcError::new(ErrorCode::Cancelled, "cancelled"));
        }
    }
    // Per call, so that the draw does not depend on arrival order.
    let mut rng = rng_for(ctx.seed, &["agent.reject", &dispatch.call]);
    let reject = config.reject_share > 0.0 && rng.gen_bool(config.reject_share);
    let decision = if reject {
        Decision::Reject {
            code: config.reject_code,
        }
    } else {
        Decision::Accept
    };
    Ok(methods::to_body(&decision))
}

/// The `AgentKind` node kind, as the registry lists it.
pub struct AgentKind;

impl crate::nodes::NodeKind for AgentKind {
    const ABOUT: &'static str = "The customer's application: places and answers calls.";
    type Config = AgentConfig;
    const FAULTS: &'static [FaultSupport] = &[FaultSupport::new("clock", &[])];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
