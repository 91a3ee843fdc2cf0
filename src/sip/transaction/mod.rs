//! RFC 3261 section 17 transactions, free of I/O: the INVITE and non-INVITE client and
//! server state machines.
//!
//! A transaction is fed events (`on_message`, `on_timer`, `on_transport_error`, and for
//! servers `respond`) and answers with [`Action`]s for its driver to carry out: send a
//! message, (re)arm or stop a timer, pass a message up to the transaction user, or report
//! that it terminated. No clock is read here: a timer is a duration handed to the driver,
//! which calls `on_timer` when it expires. That keeps the state machines testable alone and
//! usable over real sockets later.
//!
//! Only unreliable transport (UDP) is modelled: A, E and G retransmit, and D, I, J and K
//! run their full durations.
//!
//! Two points where RFC 3261 leaves the work to the transaction user are handled here:
//! - INVITE server, 2xx: RFC 3261 section 13.3.1.4 makes the UAS core retransmit a 2xx
//!   until the ACK arrives, on timer G's schedule, giving up after 64*T1 (timer H's
//!   duration). Our INVITE server keeps that job in an `Accepted` state (as RFC 6026 names
//!   it), re-using timers G and H; the end-to-end ACK, which has its own branch, is handed
//!   to it by the driver through [`InviteServer::on_2xx_ack`].
//! - CANCEL: [`answer_cancel`] gives the CANCEL its 200 (or 481) and the INVITE its 487.

mod invite_client;
mod invite_server;
mod non_invite_client;
mod non_invite_server;

use std::time::Duration;

pub use invite_client::{InviteClient, InviteClientState};
pub use invite_server::{InviteServer, InviteServerState};
pub use non_invite_client::{NonInviteClient, NonInviteClientState};
pub use non_invite_server::{NonInviteServer, NonInviteServerState};

use super::codec::{build_response, Message, ResponseSpec};
use super::header::Method;
use super::ids::BRANCH_MAGIC_COOKIE;

/// The RFC 3261 timers (table 4 of appendix A).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// INVITE request retransmission.
    A,
    /// INVITE transaction timeout.
    B,
    /// Wait for response retransmissions (INVITE client, non-2xx).
    D,
    /// Non-INVITE request retransmission.
    E,
    /// Non-INVITE transaction timeout.
    F,
    /// INVITE response retransmission.
    G,
    /// Wait for the ACK.
    H,
    /// Wait for ACK retransmissions.
    I,
    /// Wait for non-INVITE request retransmissions.
    J,
    /// Wait for non-INVITE response retransmissions.
    K,
}

/// Why a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    /// Its work is done (final response exchanged, wait timers run out).
    Normal,
    /// A timeout timer fired: B or F (no final response), H (no ACK).
    Timeout(Timer),
    /// The transport reported a failure to send.
    TransportError,
}

/// What a transaction asks its driver to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this message to the transaction's peer. `retransmission` marks a copy of a
    /// message already sent (for the `sip.send` event).
    Send {
        message: Message,
        retransmission: bool,
    },
    /// Arm `Timer` to fire after the duration, replacing any pending one of that kind.
    StartTimer(Timer, Duration),
    /// Disarm `Timer` if pending.
    StopTimer(Timer),
    /// Hand this message to the transaction user (UA core).
    PassUp(Message),
    /// The transaction is over; the driver drops it and its timers.
    Terminated(Termination),
}

pub(crate) fn send(message: Message) -> Action {
    Action::Send {
        message,
        retransmission: false,
    }
}

pub(crate) fn resend(message: &Message) -> Action {
    Action::Send {
        message: message.clone(),
        retransmission: true,
    }
}

/// Which transactions a message belongs to (sections 17.1.3 and 17.2.3).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransactionKey {
    /// A client transaction: our branch and the request method.
    Client { branch: String, method: String },
    /// A server transaction for an RFC 3261 branch: branch, sent-by and method (ACK
    /// counts as INVITE).
    Server {
        branch: String,
        sent_by: String,
        method: String,
    },
    /// A server transaction for a peer without the magic cookie (RFC 2543): matched on
    /// Call-ID, From tag, CSeq number, top Via and method (ACK counts as INVITE).
    Rfc2543 {
        call_id: String,
        from_tag: String,
        cseq: u32,
        via: String,
        method: String,
    },
}

impl TransactionKey {
    /// The client transaction a request starts, or a response belongs to.
    pub fn client(message: &Message) -> TransactionKey {
        TransactionKey::Client {
            branch: message.branch().unwrap_or_default().to_string(),
            method: message.cseq().method.to_string(),
        }
    }

    /// The server transaction a request belongs to.
    pub fn server(request: &Message) -> TransactionKey {
        let method = match &request.cseq().method {
            Method::Ack => Method::Invite.to_string(),
            other => other.to_string(),
        };
        let via = request.top_via();
        match via.branch() {
            Some(branch)
                if branch.starts_with(BRANCH_MAGIC_COOKIE)
                    && branch.len() > BRANCH_MAGIC_COOKIE.len() =>
            {
                TransactionKey::Server {
                    branch: branch.to_string(),
                    sent_by: via.sent_by(),
                    method,
                }
            }
            _ => TransactionKey::Rfc2543 {
                call_id: request.call_id().to_string(),
                from_tag: request.from_tag().unwrap_or_default().to_string(),
                cseq: request.cseq().seq,
                via: super::codec::format_via(via),
                method,
            },
        }
    }
}

/// Any of the four transactions, for drivers that keep them in one map.
#[derive(Clone, Debug)]
pub enum Transaction {
    InviteClient(InviteClient),
    NonInviteClient(NonInviteClient),
    InviteServer(InviteServer),
    NonInviteServer(NonInviteServer),
}

impl Transaction {
    /// Starts a client transaction for `request` (INVITE or not).
    pub fn client(request: Message, timers: super::SipTimers) -> (Transaction, Vec<Action>) {
        if request.method() == Some(&Method::Invite) {
            let (t, a) = InviteClient::start(request, timers);
            (Transaction::InviteClient(t), a)
        } else {
            let (t, a) = NonInviteClient::start(request, timers);
            (Transaction::NonInviteClient(t), a)
        }
    }

    /// Starts a server transaction for a new `request` (not an ACK).
    pub fn server(request: Message, timers: super::SipTimers) -> (Transaction, Vec<Action>) {
        if request.method() == Some(&Method::Invite) {
            let (t, a) = InviteServer::start(request, timers);
            (Transaction::InviteServer(t), a)
        } else {
            let (t, a) = NonInviteServer::start(request, timers);
            (Transaction::NonInviteServer(t), a)
        }
    }

    pub fn on_message(&mut self, message: Message) -> Vec<Action> {
        match self {
            Transaction::InviteClient(t) => t.on_message(message),
            Transaction::NonInviteClient(t) => t.on_message(message),
            Transaction::InviteServer(t) => t.on_message(message),
            Transaction::NonInviteServer(t) => t.on_message(message),
        }
    }

    pub fn on_timer(&mut self, timer: Timer) -> Vec<Action> {
        match self {
            Transaction::InviteClient(t) => t.on_timer(timer),
            Transaction::NonInviteClient(t) => t.on_timer(timer),
            Transaction::InviteServer(t) => t.on_timer(timer),
            Transaction::NonInviteServer(t) => t.on_timer(timer),
        }
    }

    pub fn on_transport_error(&mut self) -> Vec<Action> {
        match self {
            Transaction::InviteClient(t) => t.on_transport_error(),
            Transaction::NonInviteClient(t) => t.on_transport_error(),
            Transaction::InviteServer(t) => t.on_transport_error(),
            Transaction::NonInviteServer(t) => t.on_transport_error(),
        }
    }

    /// The transaction user's response, for a server transaction; a client ignores it.
    pub fn respond(&mut self, response: Message) -> Vec<Action> {
        match self {
            Transaction::InviteServer(t) => t.respond(response),
            Transaction::NonInviteServer(t) => t.respond(response),
            Transaction::InviteClient(_) | Transaction::NonInviteClient(_) => Vec::new(),
        }
    }

    /// The request the transaction was created for.
    pub fn request(&self) -> &Message {
        match self {
            Transaction::InviteClient(t) => t.request(),
            Transaction::NonInviteClient(t) => t.request(),
            Transaction::InviteServer(t) => t.request(),
            Transaction::NonInviteServer(t) => t.request(),
        }
    }
}

/// Answers a CANCEL (section 9.2): `invite` is the INVITE server transaction it matches
/// (same key but for the method), if any. Returns the response to the CANCEL (200, or 481
/// when nothing matches) and the INVITE transaction's actions: a 487 with `to_tag` when it
/// had not sent a final response yet. The caller sends the CANCEL's response through the
/// CANCEL's own non-INVITE server transaction.
pub fn answer_cancel(
    cancel: &Message,
    invite: Option<&mut InviteServer>,
    to_tag: &str,
) -> (Option<Message>, Vec<Action>) {
    let spec = ResponseSpec {
        to_tag: Some(to_tag.to_string()),
        ..Default::default()
    };
    let Some(invite) = invite else {
        return (build_response(cancel, 481, &spec).ok(), Vec::new());
    };
    let ok = build_response(cancel, 200, &spec).ok();
    if invite.state() != InviteServerState::Proceeding {
        return (ok, Vec::new());
    }
    let actions = match build_response(invite.request(), 487, &spec) {
        Ok(terminated) => invite.respond(terminated),
        Err(_) => Vec::new(),
    };
    (ok, actions)
}

/// The key of the INVITE server transaction a CANCEL targets.
pub fn cancelled_invite_key(cancel: &Message) -> TransactionKey {
    match TransactionKey::server(cancel) {
        TransactionKey::Server {
            branch, sent_by, ..
        } => TransactionKey::Server {
            branch,
            sent_by,
            method: Method::Invite.to_string(),
        },
        TransactionKey::Rfc2543 {
            call_id,
            from_tag,
            cseq,
            via,
            ..
        } => TransactionKey::Rfc2543 {
            call_id,
            from_tag,
            cseq,
            via,
            method: Method::Invite.to_string(),
        },
        client @ TransactionKey::Client { .. } => client,
    }
}
