//! The typed event API: the vocabulary of CONTRACTS.md as one enum.
//!
//! A node writes `emit(Event::CallEnd { call, status: 408, reason: "rpc timeout" })`;
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
    },
    MediaRx {
        call: &'a str,
        from: &'a str,
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
        } => info!(target: "callsim", kind = "rpc.request", call, method, deadline_ms),
        Event::RpcResponse {
            call,
            method,
            deadline_ms,
            outcome,
        } => info!(target: "callsim", kind = "rpc.response", call, method, deadline_ms, outcome),
        Event::SipSend(f) => {
            info!(target: "callsim", kind = "sip.send", call = f.call, sip_call_id = f.sip_call_id, start_line = f.start_line, cseq = f.cseq, peer = f.peer, retransmission = f.retransmission)
        }
        Event::SipRecv(f) => {
            info!(target: "callsim", kind = "sip.recv", call = f.call, sip_call_id = f.sip_call_id, start_line = f.start_line, cseq = f.cseq, peer = f.peer, retransmission = f.retransmission)
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
        } => info!(target: "callsim", kind = "call.end", call, status = status as u64, reason),
        Event::MediaRx { call, from } => info!(target: "callsim", kind = "media.rx", call, from),
        Event::VerbResult {
            call,
            verb,
            ok,
            code,
        } => info!(target: "callsim", kind = "verb.result", call, verb, ok, code = code as u64),
        Event::HealthChange { target, healthy } => {
            info!(target: "callsim", kind = "health.change", target, healthy)
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
    }
}
