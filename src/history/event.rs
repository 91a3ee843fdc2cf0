//! The typed event API: the vocabulary of CONTRACTS.md as one enum.
//!
//! A node writes `emit(Event::CallEnd { call, status: 408, reason: "rpc timeout", outcome: EndOutcome::Failed })`;
//! this module turns it into a tracing event with target `callsim` and the
//! contract's field names, which the recorder stores. Keeping the field names
//! here, and only here, is what lets oracles rely on them.

use std::fmt;

/// Direction of a call, from the platform's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Outbound,
    Inbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }
}

/// Whether the API caller waits for the answer (`wait_until_answered`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sync,
    Async,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Async => "async",
        }
    }
}

/// What happened at the callee, as the carrier saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CalleeOutcome {
    Answered,
    Busy,
    Declined,
    NoAnswer,
    Unreachable,
    Cancelled,
    Unavailable,
}

impl CalleeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CalleeOutcome::Answered => "answered",
            CalleeOutcome::Busy => "busy",
            CalleeOutcome::Declined => "declined",
            CalleeOutcome::NoAnswer => "no-answer",
            CalleeOutcome::Unreachable => "unreachable",
            CalleeOutcome::Cancelled => "cancelled",
            CalleeOutcome::Unavailable => "unavailable",
        }
    }

    pub fn parse(text: &str) -> Option<CalleeOutcome> {
        Some(match text {
            "answered" => CalleeOutcome::Answered,
            "busy" => CalleeOutcome::Busy,
            "declined" => CalleeOutcome::Declined,
            "no-answer" => CalleeOutcome::NoAnswer,
            "unreachable" => CalleeOutcome::Unreachable,
            "cancelled" => CalleeOutcome::Cancelled,
            "unavailable" => CalleeOutcome::Unavailable,
            _ => return None,
        })
    }
}

impl fmt::Display for CalleeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of a call, as `call.end`'s `outcome` says (a wave-2
/// contract addition: `status` stays the final SIP or API code, which
/// cannot tell a call the callee hung up from one the platform tore down
/// after a 200).
///
/// | outcome | meaning |
/// |---|---|
/// | `completed` | answered, and ended by a party's hang-up or the platform's duration limit |
/// | `no-answer` | rang until its ringing timeout |
/// | `rejected` | the callee (or the API, for a bad request) declined it |
/// | `cancelled` | the caller gave up before the end (an API client that went away, a 487) |
/// | `failed` | the platform failed it: an error or overload status, no response, or an answered call torn down by the platform (a missing ACK, a BYE that got no answer, silence, a failed call flow) |
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum EndOutcome {
    Completed,
    NoAnswer,
    Rejected,
    Cancelled,
    Failed,
}

impl EndOutcome {
    pub const ALL: [EndOutcome; 5] = [
        EndOutcome::Completed,
        EndOutcome::NoAnswer,
        EndOutcome::Rejected,
        EndOutcome::Cancelled,
        EndOutcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EndOutcome::Completed => "completed",
            EndOutcome::NoAnswer => "no-answer",
            EndOutcome::Rejected => "rejected",
            EndOutcome::Cancelled => "cancelled",
            EndOutcome::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<EndOutcome> {
        EndOutcome::ALL.into_iter().find(|o| o.as_str() == text)
    }

    /// The outcome of a `call.end` record: its `outcome` field, or what
    /// its `status` implies in a history that has none.
    pub fn of_record(record: &super::Record) -> EndOutcome {
        record
            .str("outcome")
            .and_then(EndOutcome::parse)
            .unwrap_or_else(|| EndOutcome::of_status(record.u64("status").unwrap_or(0) as u16))
    }

    /// The outcome a final `status` implies when nothing else is known
    /// (a history written before `outcome` existed): 2xx is `completed`,
    /// anything else as [`EndOutcome::of_unanswered`].
    pub fn of_status(status: u16) -> EndOutcome {
        if (200..300).contains(&status) {
            EndOutcome::Completed
        } else {
            EndOutcome::of_unanswered(status)
        }
    }

    /// The outcome of a call that ended, unanswered, with a final `code`
    /// from the far end: 487 is a cancel, 408 and 5xx are failures (no
    /// response, or a server that could not serve), any other 3xx-6xx a
    /// rejection by the callee.
    pub fn of_unanswered(code: u16) -> EndOutcome {
        match code {
            487 => EndOutcome::Cancelled,
            408 | 500..=599 => EndOutcome::Failed,
            _ => EndOutcome::Rejected,
        }
    }
}

impl fmt::Display for EndOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event of the vocabulary. Field meanings are CONTRACTS.md's.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    CallStart {
        call: &'a str,
        direction: Direction,
        mode: Mode,
        ringing_timeout_ms: u64,
    },
    ApiRequest {
        call: &'a str,
        method: &'a str,
    },
    ApiResponse {
        call: &'a str,
        method: &'a str,
        status: u16,
    },
    RpcRequest {
        call: &'a str,
        method: &'a str,
        deadline_ms: u64,
        /// The host the request is sent to (wave 2): the bus, or a server.
        peer: &'a str,
    },
    /// An RPC relay (the bus) passed a call's request on to `peer` (wave
    /// 2): the relay keeps no other record of the call, so this is how a
    /// fault on the relay's next hop is traced to the calls it cut off.
    RpcForward {
        call: &'a str,
        method: &'a str,
        peer: &'a str,
    },
    RpcResponse {
        call: &'a str,
        method: &'a str,
        deadline_ms: u64,
        /// `ok`, `timeout`, or an error code.
        outcome: &'a str,
    },
    SipSend(SipFields<'a>),
    SipRecv(SipFields<'a>),
    CalleeOutcome {
        call: &'a str,
        outcome: CalleeOutcome,
        code: u16,
    },
    CallAnswered {
        call: &'a str,
    },
    CallEnd {
        call: &'a str,
        status: u16,
        reason: &'a str,
        outcome: EndOutcome,
    },
    MediaRx {
        call: &'a str,
        /// The host it came from.
        from: &'a str,
        /// The address it came from, `ip:port`.
        from_addr: &'a str,
    },
    VerbResult {
        call: &'a str,
        verb: &'a str,
        ok: bool,
        code: u16,
    },
    HealthChange {
        target: &'a str,
        healthy: bool,
    },
    /// A node ejected a next hop after failed setups in a row
    /// (`nodes::outlier`): for `ejected_ms` it gets no new calls.
    OutlierEjected {
        target: &'a str,
        /// `5xx`, `timeout` or `no_media`: how the last setup failed.
        reason: &'a str,
        failures: u64,
        ejected_ms: u64,
    },
    DeployApply {
        target_env: &'a str,
        trigger: &'a str,
        reviewed: bool,
        /// Resource names, each `<env>/<name>`, comma-separated.
        created: &'a str,
        deleted: &'a str,
        /// Empty when the deploy was applied.
        aborted: &'a str,
    },
    /// An admin call of the deployer failed (`op` = status / create /
    /// delete); the resource is left as it was.
    DeployError {
        resource: &'a str,
        op: &'a str,
        error: &'a str,
    },
    /// The media proxy's telemetry buffer overflowed: `dropped` records
    /// since its last flush (one event per flush, not per record).
    TelemetryOverflow {
        dropped: u64,
    },
    FaultStart {
        fault: u64,
        kind: &'a str,
        target: &'a str,
    },
    FaultEnd {
        fault: u64,
        kind: &'a str,
        target: &'a str,
    },
    /// An in-code fault point (BUGGIFY) fired on this host.
    FaultPoint {
        site: &'a str,
    },
    AlertFire {
        monitor: &'a str,
        value: f64,
        threshold: f64,
    },
    /// Harness self-test: a datagram sent or received (`dir` = send/recv).
    Datagram {
        dir: &'a str,
        seq: u64,
        peer: &'a str,
    },
    // --- Client profiles and call slots (issue 18, wave 2) ---
    /// A client profile starts attempt `attempt` (1, 2, ..) of `call`.
    ClientAttempt {
        call: &'a str,
        /// The profile's name.
        client: &'a str,
        attempt: u32,
    },
    /// The attempt's connection to the API is up.
    ClientConnected {
        call: &'a str,
        attempt: u32,
    },
    /// The attempt got an API response, `ms` after the attempt started.
    ClientResponse {
        call: &'a str,
        attempt: u32,
        status: u16,
        ms: u64,
    },
    /// The attempt ended without a response (`reason`: `connect timeout`,
    /// `request timeout`, `unreachable`, `connection lost`), `ms` after it
    /// started.
    ClientError {
        call: &'a str,
        attempt: u32,
        reason: &'a str,
        ms: u64,
    },
    /// The client stopped trying (`reason`: `abandoned`, `retries
    /// exhausted`), during or after attempt `attempt`.
    ClientGaveUp {
        call: &'a str,
        attempt: u32,
        reason: &'a str,
    },
    /// One of the gateway's `call.start`, `api.request`, `api.response`
    /// or `call.end`, for an API request that carried an attempt number:
    /// the same kind and fields, plus `attempt`. Other kinds are emitted
    /// as they are.
    Attempted {
        attempt: u32,
        event: Box<Event<'a>>,
    },
    /// A node's call slots changed: `in_use` of `capacity` held, `queued`
    /// waiting (`slots` names the pool, e.g. `dial`).
    SlotOccupancy {
        slots: &'a str,
        in_use: u64,
        queued: u64,
        capacity: u64,
    },
    /// The host's own code decided to exit (a self-shutdown, see
    /// `nodes::lifecycle`): `reason` says which trigger tripped. The step
    /// loop takes the host down after the current step.
    NodeExit {
        reason: &'a str,
    },
    /// A child leg's `call.start` or `call.end` (the same kind and fields,
    /// plus `parent`: the session that started it; see
    /// `nodes::sip::children`). Other kinds are emitted as they are.
    Child {
        parent: &'a str,
        event: Box<Event<'a>>,
    },
    /// An autoscaler changed how many pods of `target` it asks for, from
    /// `from` to `to`, having summed `value` of `metric` over the
    /// `serving` pods that answered its scrape.
    ScaleDecision {
        target: &'a str,
        metric: &'a str,
        value: u64,
        serving: u64,
        from: u64,
        to: u64,
    },
    /// The runtime started (`up`) or stopped a pod host `target` for an
    /// autoscaler (a dormant pod at the start is stopped at 0 ms).
    ScalePod {
        target: &'a str,
        up: bool,
    },
    /// A supervisor brought the exited host `target` back: its
    /// `restarts`-th restart, after `down_ms` down. Emitted by the
    /// test-bed (the supervisor is not a host).
    NodeRestart {
        target: &'a str,
        restarts: u64,
        down_ms: u64,
    },
    /// A resolver sent a query for `name` to the name server `peer`
    /// (`attempt` from 1), for `call` when a call's setup asked for it.
    DnsQuery {
        call: Option<&'a str>,
        name: &'a str,
        peer: &'a str,
        attempt: u32,
    },
    /// A resolver's answer for `name`: `rcode` `NOERROR`, `NXDOMAIN`,
    /// `SERVFAIL` or `timeout`; `ttl_ms` how long it is cached from now
    /// (0: not cached); `cached` whether it came from the cache;
    /// `hosts` the answer's hosts, comma-separated (empty unless NOERROR).
    DnsAnswer {
        call: Option<&'a str>,
        name: &'a str,
        rcode: &'a str,
        ttl_ms: u64,
        cached: bool,
        hosts: &'a str,
    },
    /// A worker starts its `attempt`-th attempt to register with
    /// `dispatcher` (a connection and a register frame; see
    /// `nodes::call_worker`).
    WorkerRegister {
        dispatcher: &'a str,
        attempt: u64,
    },
    /// A worker is not, or no longer, registered: its attempt or its
    /// session ended for `reason` (`connect timeout`, `keepalive
    /// timeout`, `connection closed`, ...).
    WorkerLost {
        reason: &'a str,
    },
    /// A dispatcher took the registration of `worker`.
    WorkerRegistered {
        worker: &'a str,
    },
    /// A dispatcher dropped the registration of `worker` for `reason`
    /// (`expiry`, `connection closed`, `no answer`).
    WorkerExpired {
        worker: &'a str,
        reason: &'a str,
    },
    /// A dispatcher sent `call` to `worker`.
    DispatchSent {
        call: &'a str,
        worker: &'a str,
    },
    /// A worker received the dispatch of `call`.
    DispatchReceived {
        call: &'a str,
    },
    /// A dispatcher had no registered worker (left) for `call`.
    DispatchNone {
        call: &'a str,
    },
    /// A caller's attempt at a lookup on the dependency `peer` for `call`
    /// ended (see `nodes::dependency::client`): `attempt` from 1 per
    /// lookup, `ms` from the attempt's start (its wait for a pooled
    /// connection included), `outcome` `ok`, `pool_timeout` (no pooled
    /// connection came within the timeout), `timeout`, `unavailable`,
    /// `connection_lost`, `cancelled` (the call went away) or the
    /// server's error code.
    DepRequest {
        call: &'a str,
        peer: &'a str,
        attempt: u32,
        ms: u64,
        outcome: &'a str,
    },
    /// The dependency finished with one request for `call` from `peer`
    /// (see `nodes::dependency`): `outcome` `ok`, `abandoned` (served in
    /// full after its caller had gone: wasted work), `dropped` (skipped at
    /// the head of the queue because its caller had gone), `rejected`
    /// (queue full) or `failed` (gray); `depth` requests were waiting when
    /// it arrived, it waited `queued_ms` and was served for `service_ms`.
    DepServe {
        call: &'a str,
        peer: &'a str,
        outcome: &'a str,
        depth: u64,
        queued_ms: u64,
        service_ms: u64,
    },
}

/// The fields of `sip.send` and `sip.recv`.
#[derive(Debug, Clone)]
pub struct SipFields<'a> {
    pub call: &'a str,
    pub sip_call_id: &'a str,
    /// Method (`INVITE`) or status code (`180`).
    pub start_line: &'a str,
    /// CSeq as written, e.g. `1 INVITE`.
    pub cseq: &'a str,
    /// The other host.
    pub peer: &'a str,
    pub retransmission: bool,
    /// The From tag; absent from the event when the message has none (a
    /// malformed request answered from its parts may lack it).
    pub from_tag: Option<&'a str>,
    /// The To tag; absent before the dialog has one (an INVITE, a 100).
    pub to_tag: Option<&'a str>,
    /// The message's SDP body (Content-Type `application/sdp`), recorded as the
    /// field `sdp`; absent from the event when the message carries none.
    pub sdp: Option<&'a str>,
}

/// The target every history event uses; the recorder keeps only these.
pub const TARGET: &str = "callsim";

/// Emits one event into the run's history.
pub fn emit(event: Event<'_>) {
    use tracing::info;
    match event {
        Event::CallStart {
            call,
            direction,
            mode,
            ringing_timeout_ms,
        } => {
            info!(target: "callsim", kind = "call.start", call, direction = direction.as_str(), mode = mode.as_str(), ringing_timeout_ms)
        }
        Event::ApiRequest { call, method } => {
            info!(target: "callsim", kind = "api.request", call, method)
        }
        Event::ApiResponse {
            call,
            method,
            status,
        } => info!(target: "callsim", kind = "api.response", call, method, status = status as u64),
        Event::RpcRequest {
            call,
            method,
            deadline_ms,
            peer,
        } => info!(target: "callsim", kind = "rpc.request", call, method, deadline_ms, peer),
        Event::RpcForward { call, method, peer } => {
            info!(target: "callsim", kind = "rpc.forward", call, method, peer)
        }
        Event::RpcResponse {
            call,
            method,
            deadline_ms,
            outcome,
        } => info!(target: "callsim", kind = "rpc.response", call, method, deadline_ms, outcome),
        Event::SipSend(f) => {
            info!(target: "callsim", kind = "sip.send", call = f.call, sip_call_id = f.sip_call_id, start_line = f.start_line, cseq = f.cseq, peer = f.peer, retransmission = f.retransmission, from_tag = f.from_tag, to_tag = f.to_tag, sdp = f.sdp)
        }
        Event::SipRecv(f) => {
            info!(target: "callsim", kind = "sip.recv", call = f.call, sip_call_id = f.sip_call_id, start_line = f.start_line, cseq = f.cseq, peer = f.peer, retransmission = f.retransmission, from_tag = f.from_tag, to_tag = f.to_tag, sdp = f.sdp)
        }
        Event::CalleeOutcome {
            call,
            outcome,
            code,
        } => {
            info!(target: "callsim", kind = "callee.outcome", call, outcome = outcome.as_str(), code = code as u64)
        }
        Event::CallAnswered { call } => info!(target: "callsim", kind = "call.answered", call),
        Event::CallEnd {
            call,
            status,
            reason,
            outcome,
        } => {
            info!(target: "callsim", kind = "call.end", call, status = status as u64, reason, outcome = outcome.as_str())
        }
        Event::MediaRx {
            call,
            from,
            from_addr,
        } => info!(target: "callsim", kind = "media.rx", call, from, from_addr),
        Event::VerbResult {
            call,
            verb,
            ok,
            code,
        } => info!(target: "callsim", kind = "verb.result", call, verb, ok, code = code as u64),
        Event::HealthChange { target, healthy } => {
            info!(target: "callsim", kind = "health.change", target, healthy)
        }
        Event::OutlierEjected {
            target,
            reason,
            failures,
            ejected_ms,
        } => {
            info!(target: "callsim", kind = "outlier.ejected", target, reason, failures, ejected_ms)
        }
        Event::DeployApply {
            target_env,
            trigger,
            reviewed,
            created,
            deleted,
            aborted,
        } => {
            info!(target: "callsim", kind = "deploy.apply", target_env, trigger, reviewed, created, deleted, aborted)
        }
        Event::DeployError {
            resource,
            op,
            error,
        } => info!(target: "callsim", kind = "deploy.error", resource, op, error),
        Event::TelemetryOverflow { dropped } => {
            info!(target: "callsim", kind = "telemetry.overflow", dropped)
        }
        Event::FaultStart {
            fault,
            kind,
            target,
        } => info!(target: "callsim", kind = "fault.start", fault, fault_kind = kind, target),
        Event::FaultEnd {
            fault,
            kind,
            target,
        } => info!(target: "callsim", kind = "fault.end", fault, fault_kind = kind, target),
        Event::FaultPoint { site } => info!(target: "callsim", kind = "fault.point", site),
        Event::AlertFire {
            monitor,
            value,
            threshold,
        } => info!(target: "callsim", kind = "alert.fire", monitor, value, threshold),
        Event::Datagram { dir, seq, peer } => {
            info!(target: "callsim", kind = "net.datagram", dir, seq, peer)
        }
        Event::ClientAttempt {
            call,
            client,
            attempt,
        } => {
            info!(target: "callsim", kind = "client.attempt", call, client, attempt = attempt as u64)
        }
        Event::ClientConnected { call, attempt } => {
            info!(target: "callsim", kind = "client.connected", call, attempt = attempt as u64)
        }
        Event::ClientResponse {
            call,
            attempt,
            status,
            ms,
        } => {
            info!(target: "callsim", kind = "client.response", call, attempt = attempt as u64, status = status as u64, ms)
        }
        Event::ClientError {
            call,
            attempt,
            reason,
            ms,
        } => {
            info!(target: "callsim", kind = "client.error", call, attempt = attempt as u64, reason, ms)
        }
        Event::ClientGaveUp {
            call,
            attempt,
            reason,
        } => {
            info!(target: "callsim", kind = "client.gave_up", call, attempt = attempt as u64, reason)
        }
        Event::Attempted { attempt, event } => emit_attempted(attempt as u64, *event),
        Event::SlotOccupancy {
            slots,
            in_use,
            queued,
            capacity,
        } => {
            info!(target: "callsim", kind = "slot.occupancy", slots, in_use, queued, capacity)
        }
        Event::DnsQuery {
            call,
            name,
            peer,
            attempt,
        } => {
            info!(target: "callsim", kind = "dns.query", call, name, peer, attempt = attempt as u64)
        }
        Event::DnsAnswer {
            call,
            name,
            rcode,
            ttl_ms,
            cached,
            hosts,
        } => {
            info!(target: "callsim", kind = "dns.answer", call, name, rcode, ttl_ms, cached, hosts)
        }
        Event::NodeExit { reason } => info!(target: "callsim", kind = "node.exit", reason),
        Event::Child { parent, event } => emit_child(parent, *event),
        Event::ScaleDecision {
            target,
            metric,
            value,
            serving,
            from,
            to,
        } => {
            info!(target: "callsim", kind = "scale.decision", target, metric, value, serving, from, to)
        }
        Event::ScalePod { target, up: true } => {
            info!(target: "callsim", kind = "scale.start", target)
        }
        Event::ScalePod { target, up: false } => {
            info!(target: "callsim", kind = "scale.stop", target)
        }
        Event::NodeRestart {
            target,
            restarts,
            down_ms,
        } => {
            info!(target: "callsim", kind = "node.restart", target, restarts, down_ms)
        }
        Event::WorkerRegister {
            dispatcher,
            attempt,
        } => {
            info!(target: "callsim", kind = "worker.register", dispatcher, attempt)
        }
        Event::WorkerLost { reason } => info!(target: "callsim", kind = "worker.lost", reason),
        Event::WorkerRegistered { worker } => {
            info!(target: "callsim", kind = "worker.registered", worker)
        }
        Event::WorkerExpired { worker, reason } => {
            info!(target: "callsim", kind = "worker.expired", worker, reason)
        }
        Event::DispatchSent { call, worker } => {
            info!(target: "callsim", kind = "dispatch.sent", call, worker)
        }
        Event::DispatchReceived { call } => {
            info!(target: "callsim", kind = "dispatch.received", call)
        }
        Event::DispatchNone { call } => info!(target: "callsim", kind = "dispatch.none", call),
        Event::DepRequest {
            call,
            peer,
            attempt,
            ms,
            outcome,
        } => {
            info!(target: "callsim", kind = "dep.request", call, peer, attempt = attempt as u64, ms, outcome)
        }
        Event::DepServe {
            call,
            peer,
            outcome,
            depth,
            queued_ms,
            service_ms,
        } => {
            info!(target: "callsim", kind = "dep.serve", call, peer, outcome, depth, queued_ms, service_ms)
        }
    }
}

/// [`Event::Child`]: a child leg's start and end with `parent`.
fn emit_child(parent: &str, event: Event<'_>) {
    use tracing::info;
    match event {
        Event::CallStart {
            call,
            direction,
            mode,
            ringing_timeout_ms,
        } => {
            info!(target: "callsim", kind = "call.start", call, direction = direction.as_str(), mode = mode.as_str(), ringing_timeout_ms, parent)
        }
        Event::CallEnd {
            call,
            status,
            reason,
            outcome,
        } => {
            info!(target: "callsim", kind = "call.end", call, status = status as u64, reason, outcome = outcome.as_str(), parent)
        }
        other => emit(other),
    }
}

/// [`Event::Attempted`]: the gateway's per-request kinds with `attempt`.
fn emit_attempted(attempt: u64, event: Event<'_>) {
    use tracing::info;
    match event {
        Event::CallStart {
            call,
            direction,
            mode,
            ringing_timeout_ms,
        } => {
            info!(target: "callsim", kind = "call.start", call, direction = direction.as_str(), mode = mode.as_str(), ringing_timeout_ms, attempt)
        }
        Event::ApiRequest { call, method } => {
            info!(target: "callsim", kind = "api.request", call, method, attempt)
        }
        Event::ApiResponse {
            call,
            method,
            status,
        } => {
            info!(target: "callsim", kind = "api.response", call, method, status = status as u64, attempt)
        }
        Event::CallEnd {
            call,
            status,
            reason,
            outcome,
        } => {
            info!(target: "callsim", kind = "call.end", call, status = status as u64, reason, outcome = outcome.as_str(), attempt)
        }
        other => emit(other),
    }
}
