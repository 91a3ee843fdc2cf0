//! The node side of in-code fault points (FoundationDB's BUGGIFY): the
//! site names and [`buggify`], which node code calls where real stacks
//! break. Which sites are active in a run, and with what probability they
//! fire, is the fault plan's business (`faults::buggify`, which documents
//! the scheme); it reaches a node only through the host's control handle.
//!
//! Node code calls `buggify(&ctx, SITE)`; library code with no node
//! context (the SIP user agent, the RPC layer, health checks, the LB's
//! router) calls [`here`]. Each site is one such call where it breaks,
//! plus the least code that makes the break happen on the wire: a
//! datagram not sent, a reply late, a timer slipped. [`SITES`] lists them
//! grouped by layer, and [`describe`] says what each breaks;
//! `tests/fault_points.rs` proves every one fires and changes a run.

use crate::history::{emit, Event};
use crate::sim::rng::derive_seed;
use crate::sim::{ControlHandle, NodeCtx};

/// Declares the sites: one constant per site with its doc, [`SITES`] in
/// the order written, and [`describe`] (the doc as one line).
macro_rules! sites {
    ($( $(#[doc = $doc:literal])+ $name:ident = $site:literal; )+) => {
        $( $(#[doc = $doc])+ pub const $name: &str = $site; )+

        /// Every site name, in a fixed order, grouped by the layer or node
        /// kind that reaches it.
        pub const SITES: &[&str] = &[$($name),+];

        /// What breaks when `site` fires (its doc comment, as one line);
        /// `None` for an unknown name.
        pub fn describe(site: &str) -> Option<&'static str> {
            match site {
                $($site => Some(concat!($($doc),+).trim_start()),)+
                _ => None,
            }
        }
    };
}

sites! {
    // The SIP user agent (`sip::ua`), reached through [`here`].

    /// SIP UA: the UAS's `180 Ringing` is not sent (the caller hears no
    /// ringing; its INVITE transaction still runs to the final answer).
    SIP_DROP_180 = "sip.drop_180";
    /// SIP UA: the UAC's first ACK for a 2xx is not sent; the UAS's 2xx
    /// retransmission (after T1) is ACKed from the dialog's stored ACK.
    SIP_DELAY_ACK = "sip.delay_ack";
    /// SIP UA: a datagram is recorded as sent (`sip.send`) but never leaves
    /// the host; transaction timers must retransmit or give up.
    SIP_SEND_LOST = "sip.send_lost";
    /// SIP UA: a received datagram is dropped before parsing (a full
    /// socket buffer); the peer's retransmissions must cover it.
    SIP_RECV_LOST = "sip.recv_lost";
    /// SIP UA: a datagram is sent twice (a retrying transport); the peer
    /// must absorb the copy.
    SIP_SEND_TWICE = "sip.send_twice";
    /// SIP UA: a new incoming INVITE is refused by the UA core with `503`
    /// and `Retry-After` (an overloaded UAS) before any node sees it.
    SIP_UAS_OVERLOADED = "sip.uas_overloaded";
    /// SIP UA: a transaction timer that falls due is handled one T1 late
    /// (a busy event loop): retransmissions and timeouts slip.
    SIP_TIMER_LATE = "sip.timer_late";
    /// SIP UA: a session-timer refresh (RFC 4028 UPDATE) is not sent; the
    /// next one is due a refresh interval later, so the peer may expire
    /// the session first.
    SIP_REFRESH_SKIPPED = "sip.refresh_skipped";

    // The RPC layer (`rpc`), reached through [`here`].

    /// RPC server: a handler starts only after an extra delay
    /// (`rpc::server::SLOW_HANDLER_DELAY`), as under GC or lock contention.
    RPC_SLOW_HANDLER = "rpc.slow_handler";
    /// RPC server: the reply of a handled request is never written; the
    /// connection stays open until the caller gives up (its deadline).
    RPC_DROP_REPLY = "rpc.drop_reply";
    /// RPC server: the server closes the connection right after reading a
    /// request, without running the handler (a reset).
    RPC_SERVER_RESET = "rpc.server_reset";
    /// RPC server: a handled request's reply is written only after an
    /// extra delay (`rpc::server::REPLY_LATE_DELAY`).
    RPC_REPLY_LATE = "rpc.reply_late";
    /// RPC client: a connection attempt fails at once (refused), nothing
    /// sent; the caller's retry or failover must cope.
    RPC_CONNECT_REFUSED = "rpc.connect_refused";

    // The bus (`nodes::bus`).

    /// Bus: a request is never forwarded; the caller waits to its deadline
    /// and gets `deadline_exceeded`.
    BUS_DROP_FORWARD = "bus.drop_forward";
    /// Bus: a request is forwarded only after an extra delay
    /// (`nodes::bus::SLOW_FORWARD_DELAY`).
    BUS_SLOW_FORWARD = "bus.slow_forward";

    // Health checks (`nodes::health`, used by the LB and the SBC pods).

    /// Health checks: an answer to a check is lost, so the check times
    /// out and counts as failed (a false failure).
    HEALTH_LOSE_REPLY = "health.lose_reply";
    /// Health checks: a due check of one target is skipped this round;
    /// the next goes one interval later.
    HEALTH_ROUND_SKIPPED = "health.round_skipped";
    /// Health checks: a due check of one target goes out half an interval
    /// late (a late timer).
    HEALTH_PROBE_LATE = "health.probe_late";

    // The LB (`nodes::lb`) and the shared proxy helpers (`nodes::sipproxy`).

    /// LB: a new transaction is routed by the rendezvous order alone,
    /// ignoring backend health and the call's backend (a stale view).
    LB_ROUTE_IGNORES_HEALTH = "lb.route_ignores_health";
    /// LB: a received request is dropped unanswered (shed under load); the
    /// sender's retransmissions must cover it.
    LB_DROP_REQUEST = "lb.drop_request";
    /// LB: the sticky table loses a call's transactions, so a
    /// retransmission, CANCEL or ACK of them routes afresh.
    LB_FORGET_TRANSACTION = "lb.forget_transaction";
    /// SIP proxies: a forwarded or locally answered datagram is recorded
    /// as sent but never leaves the proxy.
    PROXY_SEND_LOST = "proxy.send_lost";

    // Media: the endpoints' streams (`nodes::media_stream`) and the
    // Play/Say caching proxy (`nodes::media`).

    /// Media: one media datagram of a stream is not sent.
    MEDIA_DROP_PACKET = "media.drop_packet";
    /// Media: a stream stops sending for `nodes::media_stream::STALL_INTERVALS`
    /// intervals (an endpoint that stalls), then goes on.
    MEDIA_STALL = "media.stall";
    /// Media proxy: a cached entry is missed, so the file is fetched from
    /// the origin again.
    MEDIA_CACHE_MISS = "media.cache_miss";

    // Telemetry: the media proxy's client and the collector.

    /// Telemetry client: a record is lost before it reaches the buffer.
    TELEMETRY_DROP_RECORD = "telemetry.drop_record";
    /// Telemetry client: a flush starts one extra flush interval late.
    TELEMETRY_FLUSH_LATE = "telemetry.flush_late";
    /// Telemetry collector: one batch takes ten times its ingest time.
    TELEMETRY_INGEST_SLOW = "telemetry.ingest_slow";

    // The worker pools (`nodes::workers`) of the gateway, SIP service,
    // media proxy and origin.

    /// Workers: an admitted job takes ten times its service time.
    WORKERS_STALL = "workers.stall";
    /// Workers: a job is refused as if the queue were full while there is
    /// room.
    WORKERS_SPURIOUS_REJECT = "workers.spurious_reject";

    // Deployment: the deployer and the admin ports.

    /// Deployer: an admin call's reply is lost after the resource handled
    /// it: the deployer reports it failed (`deploy.error`).
    DEPLOY_STEP_FAILED = "deploy.step_failed";
    /// Deployer: an admin call starts only after an extra delay
    /// (`nodes::deployer::STEP_SLOW_DELAY`).
    DEPLOY_STEP_SLOW = "deploy.step_slow";
    /// Admin port: a create or delete takes effect, and is acknowledged,
    /// only after `nodes::admin::APPLY_LATE_DELAY`.
    ADMIN_APPLY_LATE = "admin.apply_late";

    // The call path's nodes.

    /// Gateway: an API request is handled only after an extra delay
    /// (`nodes::gateway::API_SLOW_DELAY`).
    GATEWAY_API_SLOW = "gateway.api_slow";
    /// SIP service: an outbound dial places its call only after an extra
    /// delay (`nodes::sip::DIAL_SLOW_DELAY`).
    SIP_SERVICE_DIAL_SLOW = "sip_service.dial_slow";
    /// Agent: a dispatched inbound call is answered only after an extra
    /// delay (`nodes::agent::ANSWER_LATE_DELAY`).
    AGENT_ANSWER_LATE = "agent.answer_late";
    /// Carrier: a callee answers (or rejects) only after an extra delay
    /// (`nodes::carrier::ANSWER_LATE_DELAY`).
    CARRIER_ANSWER_LATE = "carrier.answer_late";
    /// Carrier: an answered callee sends no media (one-way audio).
    CARRIER_MEDIA_SILENT = "carrier.media_silent";

    // The harness's self-test.

    /// Harness self-test: the echo node does not answer a datagram.
    HARNESS_ECHO_DROP = "harness.echo_drop";
}

/// Anything that carries a host's control handle.
pub trait FaultPoints {
    fn control_handle(&self) -> &ControlHandle;
}

impl FaultPoints for NodeCtx {
    fn control_handle(&self) -> &ControlHandle {
        &self.control
    }
}

impl FaultPoints for ControlHandle {
    fn control_handle(&self) -> &ControlHandle {
        self
    }
}

/// [`buggify`] at `site` for the host whose code is running now, found by
/// its `host{name}` span: for code in a library layer (SIP transactions,
/// the user agent, RPC exchanges) that has no node context at hand.
/// False outside a run, outside a host, or when no site is active.
pub fn here(site: &str) -> bool {
    debug_assert!(SITES.contains(&site), "unknown fault point site {site:?}");
    super::ambient::current_control(super::ambient::Use::FaultPoints)
        .is_some_and(|control| buggify(&control, site))
}

/// Whether the fault point `site` fires now. False unless the run
/// activated the site; then true with its fire probability, drawn
/// deterministically. Emits `fault.point` when it fires.
pub fn buggify(at: &impl FaultPoints, site: &str) -> bool {
    debug_assert!(SITES.contains(&site), "unknown fault point site {site:?}");
    let Some((point, reached)) = at.control_handle().reach_fault_point(site) else {
        return false;
    };
    let fired = unit(derive_seed(point.seed, &[&reached.to_string()])) < point.fire_probability;
    if fired {
        emit(Event::FaultPoint { site });
    }
    fired
}

/// A uniform draw in [0, 1) from 64 random bits.
pub fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}
