//! The SIP user agent for nodes: one per host, one UDP socket, one driver task that owns the
//! socket, the transactions, the dialogs and the timers.
//!
//! A node starts it with [`SipUa::start`] and gets a [`SipUa`] handle (to place calls) and
//! an [`IncomingCalls`] stream (to take calls). Handles talk to the driver over in-host
//! channels; the driver talks to peers only over the simulated network and records every
//! message it sends or receives as a `sip.send`/`sip.recv` history event.
//!
//! Outgoing: [`SipUa::place_call`] sends an INVITE and returns an [`OutgoingCall`] whose
//! events are provisional codes (180, 183) and one final [`CallOutcome`]: answered (with an
//! [`ActiveCall`]), rejected with a code, timed out (the ringing timeout sent a CANCEL),
//! cancelled (by [`OutgoingCall::cancel`]), or transport failure (timer B).
//!
//! Incoming: an [`IncomingCall`] can ring (180), answer (200, retransmitted until the ACK),
//! or reject; it notices a CANCEL. An [`ActiveCall`] hangs up (BYE) or notices the peer's,
//! and can change its session with a re-INVITE (hold, resume; a crossing re-INVITE is
//! glare: 491, and ours goes again after a random wait).
//!
//! Also answered by the driver without the node: OPTIONS (200, for health checks), BYE
//! outside a dialog (481), a re-INVITE (our answer to its offer; 491 while ours is in
//! progress, 500 while an earlier one awaits its ACK), other methods (405/501), a
//! Request-URI that is not sip:/sips: (416), a Require header (420), and bytes that do not
//! parse (400 or 505 when the request can be answered at all; otherwise dropped).

mod ack_memory;
mod driver;
mod reoffer;
pub mod session_timer;
mod sessions;
mod timer_wheel;
mod uac;
mod uas;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::net::UdpEndpoint;
use crate::sim::rng::SimRng;

use super::codec::Message;
use super::dialog::DialogId;
use super::sdp::Direction;
use super::timers::SipTimers;

/// Most incoming calls waiting for the node to take them; beyond it a new INVITE is
/// answered 503.
pub const INCOMING_QUEUE_MAX: usize = 1024;
/// Most transactions alive at once in one driver; beyond it new requests get 503 and new
/// calls fail with a transport failure.
pub const TRANSACTIONS_MAX: usize = 65_536;

/// How a host's user agent runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UaConfig {
    pub timers: SipTimers,
    /// The user part of our From and Contact URIs, e.g. the host name.
    pub user: String,
    /// Session timers (RFC 4028) this UA asks for and runs; `None`: it asks for none
    /// and honours only what its peers ask for.
    pub session_timer: Option<session_timer::SessionTimerConfig>,
    /// The address this UA writes as its own (Via sent-by, Contact, From
    /// URI), when it is not the bound one: an address behind NAT or a
    /// cloud elastic IP. Requests sent to it reach whatever host has it.
    /// `None`: the bound address.
    pub advertised: Option<SocketAddr>,
}

/// What to call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRequest {
    /// The platform-wide call id, sent as `X-Callsim-Call`.
    pub call: String,
    /// Where the INVITE goes (the next hop).
    pub target: SocketAddr,
    /// Request-URI and To, e.g. `sip:+15550100@carrier`.
    pub uri: String,
    /// After this long without a final response, CANCEL.
    pub ringing_timeout: Duration,
    /// More headers for the INVITE, such as a caller id.
    pub extra_headers: Vec<(String, String)>,
    /// The SDP offer the INVITE carries (`application/sdp`), if any.
    pub sdp: Option<String>,
}

/// How an outgoing call ended up.
#[derive(Debug)]
pub enum CallOutcome {
    /// 2xx; the ACK has been sent.
    Answered(ActiveCall),
    /// A 3xx-6xx final response other than the 487 to our own CANCEL.
    Rejected(u16),
    /// The ringing timeout passed: CANCEL sent, the INVITE ended (487 or silence).
    TimedOut,
    /// [`OutgoingCall::cancel`] was called: CANCEL sent, the INVITE ended.
    Cancelled,
    /// No response at all (timer B) or the transport failed.
    TransportFailure,
}

/// One step of an outgoing call.
#[derive(Debug)]
pub enum CallEvent {
    /// A provisional response above 100 (180 Ringing, 183 Session Progress).
    Progress(u16),
    /// A provisional response carrying SDP: early media (RFC 3261 section 13.2.1;
    /// the callee's answer to our offer, as a 183 Session Progress carries it).
    EarlyMedia { code: u16, sdp: String },
    /// The end of the INVITE.
    Final(CallOutcome),
}

/// The result of hanging up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupOutcome {
    /// The BYE got a 2xx.
    Ok,
    /// The BYE got a non-2xx final response; the dialog is over anyway.
    Rejected(u16),
    /// No response to the BYE (timer F); the dialog is over anyway.
    Timeout,
    /// The dialog had already ended.
    AlreadyEnded,
}

/// How a re-INVITE of ours ([`ActiveCall::hold`], [`ActiveCall::resume`]) went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReofferOutcome {
    /// A 2xx, ACKed; the peer's answer, if its 2xx carried one.
    Accepted(Option<String>),
    /// A final failure (491 after the last retry among them); the session is as before
    /// unless the code was 408 or 481, which end the dialog (section 12.2.1.2). 0: the
    /// request could not be built.
    Rejected(u16),
    /// No final response at all (timer B): the dialog was ended.
    Timeout,
    /// Another re-INVITE of ours is in progress in this dialog.
    Busy,
    /// The dialog has no session description of ours to change.
    NoSession,
    /// The dialog had ended.
    Ended,
}

/// Why an answered call ended, as [`ActiveCall::ended`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The peer sent BYE.
    RemoteHangup,
    /// We hung up.
    LocalHangup,
    /// Our 2xx was never acknowledged (timer H); we sent BYE.
    NoAck,
    /// The session timer expired without a refresh, or our refresh failed (RFC 4028);
    /// we sent BYE.
    SessionExpired,
}

/// The state of a dialog, watched by its [`ActiveCall`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DialogStatus {
    Active,
    Ended(EndReason),
}

/// The state of an incoming call before it is answered, watched by its handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IncomingStatus {
    Pending,
    Cancelled,
    Finished,
}

/// Why answering failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the caller cancelled before the answer")]
    Cancelled,
    #[error("the 2xx was never acknowledged (timer H)")]
    NoAck,
    #[error("a final response was already sent")]
    AlreadyFinal,
    #[error("the user agent has stopped")]
    Stopped,
}

pub(crate) enum Command {
    Place {
        id: u64,
        request: CallRequest,
        events: mpsc::UnboundedSender<CallEvent>,
    },
    Cancel {
        id: u64,
    },
    Respond {
        id: u64,
        code: u16,
        /// More headers (a Warning with a 488).
        extra: Vec<(String, String)>,
        /// An SDP body (a 183 with early media).
        sdp: Option<String>,
    },
    Answer {
        id: u64,
        reply: oneshot::Sender<Result<ActiveCall, AnswerError>>,
        /// The SDP answer the 200 carries.
        sdp: Option<String>,
    },
    Hangup {
        dialog: DialogId,
        reply: oneshot::Sender<HangupOutcome>,
    },
    Reoffer {
        dialog: DialogId,
        direction: Direction,
        reply: oneshot::Sender<ReofferOutcome>,
    },
}

/// A host's user agent: places calls. Cheap to clone.
#[derive(Clone)]
pub struct SipUa {
    commands: mpsc::UnboundedSender<Command>,
    next_call: Rc<Cell<u64>>,
    local: SocketAddr,
}

/// The calls arriving at this host, in arrival order.
pub struct IncomingCalls {
    calls: mpsc::Receiver<IncomingCall>,
}

impl SipUa {
    /// Starts the driver task on `socket` (on the current host). `rng` supplies every id
    /// (branches, tags, Call-IDs).
    pub fn start(socket: UdpEndpoint, config: UaConfig, rng: SimRng) -> (SipUa, IncomingCalls) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (incoming_tx, incoming_rx) = mpsc::channel(INCOMING_QUEUE_MAX);
        let local = config.advertised.unwrap_or_else(|| socket.local_addr());
        let driver = driver::Driver::new(socket, config, rng, commands.clone(), incoming_tx);
        crate::sim::spawn(driver.run(command_rx));
        let ua = SipUa {
            commands,
            next_call: Rc::new(Cell::new(0)),
            local,
        };
        (ua, IncomingCalls { calls: incoming_rx })
    }

    /// Our address as we write it (sent-by, Contact): the advertised one
    /// when the config names one, else the bound one.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends an INVITE.
    pub fn place_call(&self, request: CallRequest) -> OutgoingCall {
        let id = self.next_call.get() + 1;
        self.next_call.set(id);
        let (events, events_rx) = mpsc::unbounded_channel();
        let call = request.call.clone();
        let delivered = self
            .commands
            .send(Command::Place {
                id,
                request,
                events,
            })
            .is_ok();
        OutgoingCall {
            id,
            call,
            events: events_rx,
            commands: self.commands.clone(),
            stopped: !delivered,
        }
    }
}

impl IncomingCalls {
    /// The next new call, or `None` once the user agent has stopped.
    pub async fn next(&mut self) -> Option<IncomingCall> {
        self.calls.recv().await
    }
}

/// An INVITE we sent.
#[derive(Debug)]
pub struct OutgoingCall {
    id: u64,
    call: String,
    events: mpsc::UnboundedReceiver<CallEvent>,
    commands: mpsc::UnboundedSender<Command>,
    stopped: bool,
}

impl OutgoingCall {
    pub fn call(&self) -> &str {
        &self.call
    }

    /// The next provisional code or the final outcome. After the final outcome, or if the
    /// user agent stopped, it reports a transport failure.
    pub async fn next_event(&mut self) -> CallEvent {
        if self.stopped {
            return CallEvent::Final(CallOutcome::TransportFailure);
        }
        match self.events.recv().await {
            Some(event) => event,
            None => {
                self.stopped = true;
                CallEvent::Final(CallOutcome::TransportFailure)
            }
        }
    }

    /// Waits for the final outcome, skipping provisional responses.
    pub async fn outcome(mut self) -> CallOutcome {
        loop {
            if let CallEvent::Final(outcome) = self.next_event().await {
                return outcome;
            }
        }
    }

    /// Gives up on the call: CANCEL (once a provisional response has arrived, as section
    /// 9.1 requires), or BYE right after the ACK if a 2xx crosses the CANCEL.
    pub fn cancel(&self) {
        let _ = self.commands.send(Command::Cancel { id: self.id });
    }
}

/// A new call offered to this host.
#[derive(Debug)]
pub struct IncomingCall {
    id: u64,
    call: String,
    invite: Message,
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<IncomingStatus>,
    /// Set once this handle sent (or handed on) a final response.
    finished: bool,
}

impl Drop for IncomingCall {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.commands.send(Command::Respond {
                id: self.id,
                code: 480,
                extra: Vec::new(),
                sdp: None,
            });
        }
    }
}

impl IncomingCall {
    /// The platform-wide call id from `X-Callsim-Call` (empty when the caller sent none).
    pub fn call(&self) -> &str {
        &self.call
    }

    pub fn invite(&self) -> &Message {
        &self.invite
    }

    /// Sends 180 Ringing.
    pub fn ring(&self) {
        self.provisional(180);
    }

    /// Sends a provisional response (180-199).
    pub fn provisional(&self, code: u16) {
        assert!(
            (101..200).contains(&code),
            "provisional responses are 101-199"
        );
        let _ = self.commands.send(Command::Respond {
            id: self.id,
            code,
            extra: Vec::new(),
            sdp: None,
        });
    }

    /// Sends a provisional response carrying `sdp` (183 Session Progress with early
    /// media: RFC 3261 section 13.2.1, RFC 3264's answer in a reliable-enough 1xx).
    pub fn early_media(&self, code: u16, sdp: String) {
        assert!(
            (101..200).contains(&code),
            "provisional responses are 101-199"
        );
        let _ = self.commands.send(Command::Respond {
            id: self.id,
            code,
            extra: Vec::new(),
            sdp: Some(sdp),
        });
    }

    /// Sends 200 OK and waits for the ACK (the 200 is retransmitted until it comes).
    pub async fn answer(self) -> Result<ActiveCall, AnswerError> {
        self.answer_with(None).await
    }

    /// [`IncomingCall::answer`] with `sdp` as the 200's body: the RFC 3264 answer to
    /// the INVITE's offer.
    pub async fn answer_with(mut self, sdp: Option<String>) -> Result<ActiveCall, AnswerError> {
        self.finished = true;
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::Answer {
                id: self.id,
                reply,
                sdp,
            })
            .is_err()
        {
            return Err(AnswerError::Stopped);
        }
        answer.await.unwrap_or(Err(AnswerError::Stopped))
    }

    /// Sends a final response 300-699 (486 busy, 603 decline, 480, ...).
    pub fn reject(self, code: u16) {
        self.reject_with(code, Vec::new());
    }

    /// [`IncomingCall::reject`] with more headers (a 488's `Warning`, a 503's
    /// `Retry-After`).
    pub fn reject_with(mut self, code: u16, extra: Vec<(String, String)>) {
        assert!((300..700).contains(&code), "rejections are 300-699");
        self.finished = true;
        let _ = self.commands.send(Command::Respond {
            id: self.id,
            code,
            extra,
            sdp: None,
        });
    }

    /// Whether the caller has cancelled.
    pub fn is_cancelled(&self) -> bool {
        *self.status.borrow() == IncomingStatus::Cancelled
    }

    /// Waits until the caller cancels (returns at once if it already has). Never returns
    /// for a call that is answered or rejected instead.
    pub async fn cancelled(&mut self) {
        let result = self
            .status
            .wait_for(|s| *s == IncomingStatus::Cancelled)
            .await;
        if result.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// An established dialog: hang up or wait for the peer to.
#[derive(Debug)]
pub struct ActiveCall {
    call: String,
    dialog: DialogId,
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<DialogStatus>,
    /// The peer's SDP from the 2xx (the answer to our offer), for a call we placed.
    remote_sdp: Option<String>,
}

impl ActiveCall {
    pub fn call(&self) -> &str {
        &self.call
    }

    /// The SDP answer the callee's 2xx carried, for a call we placed; `None` for one
    /// we answered (its offer is in the INVITE) or a 2xx without SDP.
    pub fn remote_sdp(&self) -> Option<&str> {
        self.remote_sdp.as_deref()
    }

    pub fn dialog(&self) -> &DialogId {
        &self.dialog
    }

    /// Sends BYE and waits for its final response or timeout.
    pub async fn hangup(self) -> HangupOutcome {
        let (reply, outcome) = oneshot::channel();
        let sent = self.commands.send(Command::Hangup {
            dialog: self.dialog.clone(),
            reply,
        });
        if sent.is_err() {
            return HangupOutcome::AlreadyEnded;
        }
        outcome.await.unwrap_or(HangupOutcome::AlreadyEnded)
    }

    /// Puts the call on hold: a re-INVITE whose offer sends only (`a=sendonly`, RFC 3264
    /// section 8.4), answered with `recvonly` by a peer that honours it.
    pub async fn hold(&self) -> ReofferOutcome {
        self.set_direction(Direction::SendOnly).await
    }

    /// Takes the call off hold: a re-INVITE whose offer is `a=sendrecv` again.
    pub async fn resume(&self) -> ReofferOutcome {
        self.set_direction(Direction::SendRecv).await
    }

    /// A re-INVITE offering our session with every stream's direction set to
    /// `direction` (RFC 3261 section 14.1, with glare handling: see the driver).
    pub async fn set_direction(&self, direction: Direction) -> ReofferOutcome {
        let (reply, outcome) = oneshot::channel();
        let sent = self.commands.send(Command::Reoffer {
            dialog: self.dialog.clone(),
            direction,
            reply,
        });
        if sent.is_err() {
            return ReofferOutcome::Ended;
        }
        outcome.await.unwrap_or(ReofferOutcome::Ended)
    }

    /// Whether the dialog has ended, and why.
    pub fn ended_reason(&self) -> Option<EndReason> {
        match *self.status.borrow() {
            DialogStatus::Active => None,
            DialogStatus::Ended(reason) => Some(reason),
        }
    }

    /// A future that resolves when the dialog ends, without borrowing the call (so
    /// the call can hold or resume meanwhile).
    pub fn ended_signal(&self) -> impl std::future::Future<Output = EndReason> + 'static {
        let mut status = self.status.clone();
        async move {
            match status
                .wait_for(|s| matches!(s, DialogStatus::Ended(_)))
                .await
                .map(|s| *s)
            {
                Ok(DialogStatus::Ended(reason)) => reason,
                _ => EndReason::LocalHangup,
            }
        }
    }

    /// Waits until the dialog ends (the peer's BYE, typically).
    pub async fn ended(&mut self) -> EndReason {
        let result = self
            .status
            .wait_for(|s| matches!(s, DialogStatus::Ended(_)))
            .await
            .map(|s| *s);
        match result {
            Ok(DialogStatus::Ended(reason)) => reason,
            _ => EndReason::LocalHangup,
        }
    }
}
