//! The SIP service (hosts `sip-1`..`sip-N`, `pods = N`): a B2BUA between
//! the platform and the carrier.
//!
//! Outbound ([`outbound`]): a `sip.dial` RPC (from the gateway, through the
//! bus) costs a job on the worker pool, then places the SIP leg to the
//! trunk: an INVITE with an SDP offer. The user agent enforces the ringing
//! timeout with CANCEL. A sync dial is answered when the leg is answered,
//! rejected or timed out; an async one as soon as the INVITE is sent. When
//! the caller gives up (an RPC `cancel`, the connection closed, or the
//! propagated deadline passed), the leg is cancelled (CANCEL, so the callee
//! sees `cancelled`/487), or hung up if the answer crossed the cancel: a
//! call the API did not report as answered never stays up. Calls that the
//! API reported 200 for are followed to their end, which is reported to the
//! gateway (`gateway.call_ended`).
//!
//! Inbound ([`inbound`]): an INVITE (through an LB or an SBC) costs a job,
//! rings (180), and is dispatched to the agent through the gateway
//! (`gateway.dispatch`, with this service's own `rpc_client` stack and
//! `dispatch_timeout`); the agent's decision answers (200 with SDP) or
//! rejects the call. A dispatch that fails gives 480 (agent unreachable),
//! 408 (timed out) or 503 (overload).
//!
//! With `slots` ([`crate::nodes::slots`]), each call, outbound or inbound,
//! holds one of the pod's call slots from before its admission job until
//! it ends; a dial refused a slot fails with an overload error (the
//! gateway answers 503), an INVITE gets 503 with `Retry-After`.
//!
//! With `dependency` ([`crate::nodes::dependency::client`]), each new
//! call's setup, inbound after its admission job and before it rings,
//! outbound before the leg is placed, makes its lookups on the shared
//! dependency through the pod's pool; an inbound call whose lookups fail
//! gets the configured `failure_code`, a dial an overload error.
//!
//! A connected call ([`connected`]) gets a media stream (one datagram per
//! `media_interval` to the address of the peer's SDP), runs call control
//! ([`call_control`]), and lasts until a party hangs up, until
//! `call_duration_max`, or, when `silence_timeout` is set, until no media
//! came for that long. `call.answered` is emitted here for both directions.
//!
//! # Layout
//! - `outbound`: the `sip.dial` handler.
//! - `inbound`: incoming INVITEs.
//! - `connected`: a connected call's life.
//! - `call_control`: the verb hook (Play/Say).

pub mod call_control;
pub mod children;
mod connected;
mod inbound;
mod outbound;

use crate::nodes::call_control::{CallControlConfig, Verb};
use crate::nodes::dependency::client::{DependencyClient, DependencyClientConfig};
use crate::nodes::lifecycle::{ExitWhen, SelfShutdown, SupervisorConfig};
use crate::nodes::media_stream::MediaEndpoint;
use crate::nodes::pod_metrics::PodMetrics;
use crate::nodes::ports;
use crate::nodes::slots::{Slots, SlotsConfig, WhenFull};
use crate::nodes::workers::{Pool, PoolConfig};
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::rpc::{self, RpcClient, RpcClientConfig};
use crate::sim::{check, NodeCtx};
use crate::sim::{Dur, FieldError, Topology};
use crate::sip::ua::session_timer::SessionTimerConfig;
use crate::sip::ua::SipUa;
use crate::sip::SipTimers;
use children::ChildrenConfig;
use serde::{Deserialize, Serialize};

/// `[nodes.sip]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// Instances (hosts `sip-1`..`sip-N`). Default 1.
    #[serde(default = "default_pods")]
    pub pods: u32,
    /// Where inbound dispatches and call-ended notices go. Default `gateway`.
    #[serde(default = "default_gateway")]
    pub gateway: String,
    /// This service's RPC client stack (dispatches and notices).
    #[serde(default)]
    pub rpc_client: RpcClientConfig,
    /// The service's workers.
    #[serde(default)]
    pub pool: PoolConfig,
    /// Worker time per dial. Default 5ms.
    #[serde(default = "default_service_time")]
    pub dial_service_time: Dur,
    /// Worker time per incoming INVITE. Default 5ms.
    #[serde(default = "default_service_time")]
    pub invite_service_time: Dur,
    /// Deadline of an inbound dispatch to the agent. Default 10s.
    #[serde(default = "default_dispatch_timeout")]
    pub dispatch_timeout: Dur,
    /// Deadline of a call-ended notice to the gateway. Default 10s.
    #[serde(default = "default_notice_timeout")]
    pub notice_timeout: Dur,
    /// Gap between media datagrams of a connected call. Default 1s.
    #[serde(default = "default_media_interval")]
    pub media_interval: Dur,
    /// Hang up a connected call that received no media for this long.
    /// Default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence_timeout: Option<Dur>,
    /// Hang up a connected call after this long. Default 1h.
    #[serde(default = "default_call_duration_max")]
    pub call_duration_max: Dur,
    /// SIP timers (T1, T2, T4, B, ...). Default: RFC 3261's.
    #[serde(default)]
    pub sip_timers: SipTimers,
    /// Session timers (RFC 4028): `{ expires = "1800s", min_se = "90s" }`
    /// makes this node's calls ask for and run them, so a call whose far
    /// end is gone ends by itself ("session expired"). Default: none (it
    /// still honours a peer's ask).
    #[serde(default)]
    pub session_timer: Option<SessionTimerConfig>,
    /// The verb executor's settings (media proxies, verb timeout, drop
    /// share). Default: none (no call control).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_control: Option<CallControlConfig>,
    /// The flow every connected call runs, e.g.
    /// `[{ verb = "play", url = "hold.wav" }]`. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verbs: Vec<Verb>,
    /// Call slots per pod, held for a call's whole life
    /// (`{ capacity = 4, when_full = "queue", .. }`, see
    /// [`crate::nodes::slots`]). Default: none (no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<SlotsConfig>,
    /// When a pod exits on its own (`{ dependency_failures = 5 }`: its
    /// dispatch RPC to the gateway failed 5 times in a row; `{ queue_over
    /// = 20, queue_for = "10s" }`: its slot queue stayed that long), see
    /// [`crate::nodes::lifecycle`]. Default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_when: Option<ExitWhen>,
    /// Who restarts an exited pod, and after how long
    /// (`{ restart_after = "5s", backoff = 2.0 }`). Default: nobody (an
    /// exited pod stays down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<SupervisorConfig>,
    /// How long a pod started or restarted during the run refuses new
    /// calls while it warms up (503 with `Retry-After: 1` to an INVITE, an
    /// overload error to a dial). Pods up from the start are warm.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<Dur>,
    /// Child legs each answered inbound call (a session) dials out and
    /// owns (`{ per_call = 2, end_with_parent = true, .. }`, see
    /// [`children`]). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<ChildrenConfig>,
    /// The host whose address each pod advertises as its own (in Via,
    /// Contact, its From URI and its SDP's media address), one per pod in
    /// pod order, when that is
    /// not the address it binds: an address behind NAT or an elastic IP.
    /// A stale entry (another pod's, or a host with no SIP) sends the
    /// ACKs and in-dialog requests of that pod's dialogs there, and the
    /// caller's media (one-way media). Read when
    /// the pod starts, so a `set` takes effect at its next restart.
    /// Default: none (each pod advertises its bound address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advertised: Vec<String>,
    /// Lookups on a dependency each new call's setup makes before it
    /// proceeds (`{ target = "dependency", lookups = 1, timeout = "1s",
    /// retries = 0, retry_backoff = "0s", pool = 8, failure_code = 503 }`,
    /// see [`crate::nodes::dependency::client`]): an inbound call whose
    /// lookups fail gets `failure_code`, a dial an overload error.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency: Option<DependencyClientConfig>,
}

fn default_pods() -> u32 {
    1
}
fn default_gateway() -> String {
    "gateway".into()
}
fn default_service_time() -> Dur {
    Dur::from_millis(5)
}
fn default_dispatch_timeout() -> Dur {
    Dur::from_secs(10)
}
fn default_notice_timeout() -> Dur {
    Dur::from_secs(10)
}
fn default_media_interval() -> Dur {
    Dur::from_secs(1)
}
fn default_call_duration_max() -> Dur {
    Dur::from_secs(3600)
}

impl NodeConfig for SipConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        check::known_node(prefix, "gateway", &self.gateway, topology)?;
        if !self.advertised.is_empty() && self.advertised.len() != self.pods as usize {
            return Err(FieldError::new(
                check::field(prefix, "advertised"),
                format!(
                    "{} addresses for {} pods: one host per pod, in pod order",
                    self.advertised.len(),
                    self.pods
                ),
            ));
        }
        for (i, host) in self.advertised.iter().enumerate() {
            if !topology.contains(host) {
                return Err(check::unknown_node(
                    format!("{prefix}.advertised[{i}]"),
                    host,
                    topology,
                ));
            }
        }
        self.rpc_client
            .validate(&check::field(prefix, "rpc_client"))?;
        self.pool.validate(&check::field(prefix, "pool"))?;
        check::positive(prefix, "dial_service_time", self.dial_service_time)?;
        check::positive(prefix, "invite_service_time", self.invite_service_time)?;
        check::positive(prefix, "dispatch_timeout", self.dispatch_timeout)?;
        check::positive(prefix, "notice_timeout", self.notice_timeout)?;
        crate::nodes::media_stream::check_interval(prefix, self.media_interval)?;
        if let Some(t) = self.silence_timeout {
            check::positive(prefix, "silence_timeout", t)?;
        }
        check::positive(prefix, "call_duration_max", self.call_duration_max)?;
        self.sip_timers
            .validate()
            .map_err(|m| FieldError::new(check::field(prefix, "sip_timers"), m))?;
        if let Some(st) = &self.session_timer {
            st.validate(&check::field(prefix, "session_timer"))?;
        }
        call_control::validate(prefix, &self.call_control, &self.verbs, topology)?;
        if let Some(slots) = &self.slots {
            slots.validate(&check::field(prefix, "slots"))?;
        }
        if let Some(exit_when) = &self.exit_when {
            let queues = self.slots.is_some_and(|s| s.when_full == WhenFull::Queue);
            exit_when.validate(&check::field(prefix, "exit_when"), queues)?;
        }
        if let Some(supervisor) = &self.supervisor {
            supervisor.validate(&check::field(prefix, "supervisor"))?;
        }
        if let Some(warmup) = self.warmup {
            check::positive(prefix, "warmup", warmup)?;
        }
        if let Some(children) = &self.children {
            children.validate(&check::field(prefix, "children"), topology)?;
        }
        if let Some(dependency) = &self.dependency {
            dependency.validate(&check::field(prefix, "dependency"), topology)?;
        }
        Ok(())
    }

    fn pods(&self) -> Option<u32> {
        Some(self.pods)
    }
}

/// What the service's tasks share.
/// How much later an outbound call is placed when `sip_service.dial_slow`
/// fires.
pub const DIAL_SLOW_DELAY: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Clone)]
struct Service {
    ctx: NodeCtx,
    ua: SipUa,
    media: MediaEndpoint,
    pool: Pool,
    gateway: RpcClient,
    /// Call slots, when configured.
    slots: Option<Slots>,
    /// Exit triggers, when configured.
    exit: Option<SelfShutdown>,
    /// Until when (host clock, ms) this incarnation refuses new calls.
    warm_at_ms: u64,
    /// The host this pod advertises as its own, read when it started.
    advertised: Option<String>,
    /// The pod's dependency client (its pool), when configured.
    dependency: Option<DependencyClient>,
}

impl Service {
    fn config(&self) -> SipConfig {
        self.ctx.config()
    }

    /// The media address this pod writes in its SDP: its media socket's,
    /// at its advertised host when `advertised` is configured (so a stale
    /// advertised address misdirects the media too, as it would behind a
    /// NAT or an elastic IP that moved).
    fn media_addr(&self) -> std::net::SocketAddr {
        let local = self.media.local_addr();
        match &self.advertised {
            Some(host) => crate::net::addr(host, local.port()),
            None => local,
        }
    }

    /// The pod's dependency client and its current config, when the pod
    /// makes lookups. Without them a setup takes no other path than it
    /// did before lookups existed (not even a `select!`, whose branch
    /// draw would move the history).
    fn lookups(&self, config: &SipConfig) -> Option<(DependencyClient, DependencyClientConfig)> {
        Some((self.dependency.clone()?, config.dependency.clone()?))
    }

    /// Whether this pod is still warming up (see `warmup`).
    fn warming_up(&self) -> bool {
        crate::sim::time::now_ms() < self.warm_at_ms
    }

    /// What this pod reports to an autoscaler's scrape.
    fn metrics(&self) -> PodMetrics {
        match &self.slots {
            Some(slots) => PodMetrics {
                in_use: slots.in_use(),
                queued: slots.queued(),
                capacity: slots.config().capacity,
            },
            None => PodMetrics::default(),
        }
    }
}

pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let config: SipConfig = ctx.config();
    // This pod's advertised host, when configured.
    let advertised = config.advertised.get(ctx.pod.max(1) as usize - 1).cloned();
    let (ua, mut incoming) = crate::nodes::sip_glue::start_ua(
        &ctx,
        config.sip_timers,
        config.session_timer,
        advertised
            .as_deref()
            .map(|host| crate::net::addr(host, ports::SIP)),
    )
    .await?;
    let service = Service {
        media: MediaEndpoint::bind(&ctx).await?,
        pool: Pool::new(&ctx, config.pool),
        gateway: RpcClient::new(&config.gateway, ports::GATEWAY_RPC),
        slots: config.slots.map(|c| Slots::new("calls", c)),
        exit: config
            .exit_when
            .map(|c| SelfShutdown::new(c, ctx.control.clone())),
        warm_at_ms: match config.warmup {
            Some(w) if ctx.incarnation > 0 => crate::sim::time::now_ms() + w.as_millis(),
            _ => 0,
        },
        advertised,
        dependency: config.dependency.as_ref().map(DependencyClient::new),
        ua,
        ctx,
    };
    if let (Some(slots), Some(exit)) = (&service.slots, &service.exit) {
        let exit = exit.clone();
        slots.observe_queue(move |queued| exit.queue(queued));
    }
    if ctx_has_autoscaler(&service.ctx) {
        let scraped = service.clone();
        crate::sim::spawn(async move {
            let _ = crate::nodes::pod_metrics::serve(move || scraped.metrics()).await;
        });
    }
    let dialer = service.clone();
    crate::sim::spawn(async move {
        let _ = rpc::serve(ports::SIP_RPC, move |req| {
            let service = dialer.clone();
            async move { service.dial(req).await }
        })
        .await;
    });
    while let Some(call) = incoming.next().await {
        let service = service.clone();
        crate::sim::spawn(async move { service.inbound(call).await });
    }
    Ok(())
}

/// Whether the run has an autoscaler, which scrapes pods' metrics (only
/// then do pods serve them, so other runs keep their histories).
fn ctx_has_autoscaler(ctx: &NodeCtx) -> bool {
    ctx.topology.hosts.iter().any(|h| h.kind == "autoscaler")
}

/// The `SipKind` node kind, as the registry lists it.
pub struct SipKind;

impl crate::nodes::NodeKind for SipKind {
    const ABOUT: &'static str = "The SIP service: a B2BUA between the platform and the carrier.";
    type Config = SipConfig;
    const FAULTS: &'static [FaultSupport] = crate::nodes::workers::POOL_AND_CLOCK_FAULTS;
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
