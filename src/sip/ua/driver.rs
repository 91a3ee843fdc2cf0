//! The driver task of a host's user agent: it owns the socket, the transactions, the
//! dialogs and the timers, and is the only code that touches them.
//!
//! One loop waits on three things, in this fixed order when several are ready: a datagram,
//! a command from a handle, the earliest timer deadline. Handling is synchronous: it
//! updates state and queues datagrams in an outbox, which is flushed (and each datagram
//! recorded as a `sip.send` event) before the loop waits again. With no timer armed the
//! loop sleeps until a datagram or a command arrives: nothing polls.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::history::event::SipFields;
use crate::history::{emit, Event};
use crate::net::{host_of, UdpEndpoint};
use crate::sim::buggify::{self, here};
use crate::sim::rng::SimRng;

use super::ack_memory::AckMemory;
use super::timer_wheel::{TimerKey, TimerWheel, TxId};
use super::{
    ActiveCall, AnswerError, CallEvent, Command, DialogStatus, HangupOutcome, IncomingCall,
    IncomingStatus, UaConfig,
};
use crate::sip::codec::{
    parse, raw_error_response, Message, RawResponse, ViaSpec, MESSAGE_BYTES_MAX,
};
use crate::sip::dialog::{Dialog, DialogId};
use crate::sip::header::Method;
use crate::sip::ids::{new_branch, new_tag};
use crate::sip::transaction::{Action, Termination, Transaction, TransactionKey};
use crate::sip::uri::parse_uri;

/// Who a transaction works for.
pub(super) enum Owner {
    /// The INVITE of outgoing call `id`.
    Outgoing(u64),
    /// The CANCEL of an outgoing call.
    Cancel,
    /// The INVITE of incoming call `id`.
    Incoming(u64),
    /// A re-INVITE we answered with a 2xx in an established dialog, awaiting its ACK.
    ReInvite(DialogId),
    /// Our session refresh (an UPDATE) in the dialog of session `id`.
    Refresh(u64),
    /// Our re-INVITE number `n` (see `reoffer.rs`).
    Reoffer(u64),
    /// Our BYE in a dialog; `reply` goes to the handle that hung up, if any.
    Bye {
        reply: Option<oneshot::Sender<HangupOutcome>>,
    },
    /// A server transaction the driver answers itself (OPTIONS, BYE, CANCEL, ...), or one
    /// not claimed yet.
    Local,
}

pub(super) struct TxEntry {
    pub(super) key: TransactionKey,
    pub(super) tx: Transaction,
    pub(super) peer: SocketAddr,
    pub(super) owner: Owner,
    /// Response codes received (client) or already seen requests (server), to mark
    /// retransmissions in `sip.recv` events.
    pub(super) seen: BTreeSet<u16>,
}

/// Why an outgoing call is being cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CancelReason {
    RingingTimeout,
    User,
}

pub(super) struct Outgoing {
    pub(super) invite: Message,
    pub(super) tx: TxId,
    pub(super) peer: SocketAddr,
    pub(super) events: mpsc::UnboundedSender<CallEvent>,
    pub(super) provisional: bool,
    pub(super) cancel: Option<CancelReason>,
    pub(super) cancel_sent: bool,
    /// The INVITE was already sent again after a 422 (RFC 4028 section 7.4: once).
    pub(super) retried_422: bool,
}

pub(super) struct Incoming {
    pub(super) call: String,
    pub(super) tx: TxId,
    pub(super) to_tag: String,
    pub(super) invite: Message,
    pub(super) peer: SocketAddr,
    pub(super) status: watch::Sender<IncomingStatus>,
    pub(super) answer: Option<oneshot::Sender<Result<ActiveCall, AnswerError>>>,
    pub(super) final_sent: bool,
}

pub(super) struct DialogEntry {
    pub(super) dialog: Dialog,
    /// Where in-dialog requests go.
    pub(super) peer: SocketAddr,
    /// Our ACK for the peer's 2xx (UAC), re-sent when the 2xx is retransmitted.
    pub(super) ack: Option<Message>,
    pub(super) status: watch::Sender<DialogStatus>,
    /// The session description we last gave in this dialog (our offer, or our
    /// answer), the base of our answer to a re-INVITE's offer.
    pub(super) local_sdp: Option<String>,
    /// The dialog's session timer (RFC 4028), by its number in `sessions`.
    pub(super) session: Option<u64>,
}

/// What a datagram carries: a message we built, or the raw answer to one we could not
/// parse ([`RawResponse`]).
enum Wire {
    Message(Message),
    Raw(RawResponse),
}

struct Datagram {
    message: Wire,
    peer: SocketAddr,
    retransmission: bool,
    tx: Option<TxId>,
}

pub(crate) struct Driver {
    pub(super) socket: UdpEndpoint,
    pub(super) local: SocketAddr,
    pub(super) config: UaConfig,
    pub(super) rng: SimRng,
    pub(super) commands: mpsc::UnboundedSender<Command>,
    pub(super) incoming_tx: mpsc::Sender<IncomingCall>,
    pub(super) txs: BTreeMap<TxId, TxEntry>,
    pub(super) tx_index: BTreeMap<TransactionKey, TxId>,
    next_tx: TxId,
    pub(super) wheel: TimerWheel,
    pub(super) outgoing: BTreeMap<u64, Outgoing>,
    pub(super) incoming: BTreeMap<u64, Incoming>,
    pub(super) next_incoming: u64,
    pub(super) dialogs: BTreeMap<DialogId, DialogEntry>,
    /// INVITE server transactions whose 2xx awaits its ACK, by dialog.
    pub(super) accepted: BTreeMap<DialogId, TxId>,
    /// ACKs of 2xx responses whose dialog has ended, re-sent if the 2xx comes again.
    pub(super) ended_acks: AckMemory,
    /// Dialogs with a session timer, by session number (see `sessions.rs`).
    pub(super) sessions: BTreeMap<u64, super::sessions::Running>,
    pub(super) next_session: u64,
    /// Re-INVITEs the node asked for, by number (see `reoffer.rs`).
    pub(super) reoffers: BTreeMap<u64, super::reoffer::Pending>,
    pub(super) next_reoffer: u64,
    outbox: VecDeque<Datagram>,
}

enum Wake {
    Datagram(usize, SocketAddr),
    Command(Command),
    Timer,
    SocketClosed,
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Where to send to a URI: its host when that is an IP literal, else `fallback` (the
/// address the peer's message came from). Names from the wire are never looked up.
pub(super) fn resolve(uri: &str, fallback: SocketAddr) -> SocketAddr {
    parse_uri(uri)
        .ok()
        .and_then(|u| {
            let (host, port) = u.host_port()?;
            let ip: IpAddr = host.trim_matches(['[', ']']).parse().ok()?;
            Some(SocketAddr::new(ip, port))
        })
        .unwrap_or(fallback)
}

fn sip_fields<'a>(
    message: &'a Message,
    label: &'a str,
    cseq: &'a str,
    peer: &'a str,
    retransmission: bool,
) -> SipFields<'a> {
    SipFields {
        call: message.callsim_call().unwrap_or(""),
        sip_call_id: message.call_id(),
        start_line: label,
        cseq,
        peer,
        retransmission,
        from_tag: message.from_tag(),
        to_tag: message.to_tag(),
        sdp: message.sdp_body(),
    }
}

impl Driver {
    pub(super) fn new(
        socket: UdpEndpoint,
        config: UaConfig,
        rng: SimRng,
        commands: mpsc::UnboundedSender<Command>,
        incoming_tx: mpsc::Sender<IncomingCall>,
    ) -> Driver {
        // What the UA writes as its own address (and recognises in a
        // response's Via): the advertised one when configured.
        let local = config.advertised.unwrap_or_else(|| socket.local_addr());
        let ack_keep = config.timers.t1 * 64;
        Driver {
            socket,
            local,
            config,
            rng,
            commands,
            incoming_tx,
            txs: BTreeMap::new(),
            tx_index: BTreeMap::new(),
            next_tx: 0,
            wheel: TimerWheel::default(),
            outgoing: BTreeMap::new(),
            incoming: BTreeMap::new(),
            next_incoming: 0,
            dialogs: BTreeMap::new(),
            accepted: BTreeMap::new(),
            ended_acks: AckMemory::new(ack_keep),
            sessions: BTreeMap::new(),
            next_session: 0,
            reoffers: BTreeMap::new(),
            next_reoffer: 0,
            outbox: VecDeque::new(),
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let socket = self.socket.clone();
        let mut buf = vec![0u8; MESSAGE_BYTES_MAX + 1];
        loop {
            let deadline = self.wheel.next_deadline();
            let wake = tokio::select! {
                biased;
                r = socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => Wake::Datagram(n, from),
                    Err(_) => Wake::SocketClosed,
                },
                Some(command) = commands.recv() => Wake::Command(command),
                () = sleep_until(deadline) => Wake::Timer,
            };
            match wake {
                // Fault point: a full socket buffer loses the datagram.
                Wake::Datagram(_, _) if here(buggify::SIP_RECV_LOST) => {}
                Wake::Datagram(n, from) => {
                    let bytes = buf[..n].to_vec();
                    self.on_datagram(&bytes, from);
                }
                Wake::Command(command) => self.on_command(command),
                Wake::Timer => self.on_timers(Instant::now()),
                Wake::SocketClosed => return,
            }
            self.flush().await;
        }
    }

    /// Our Via for a new request.
    pub(super) fn via(&mut self) -> ViaSpec {
        ViaSpec {
            host: self.local.ip().to_string(),
            port: self.local.port(),
            branch: new_branch(&mut self.rng),
        }
    }

    pub(super) fn new_tag(&mut self) -> String {
        new_tag(&mut self.rng)
    }

    /// Our Contact URI.
    pub(super) fn contact(&self) -> String {
        format!(
            "sip:{}@{}:{}",
            self.config.user,
            self.local.ip(),
            self.local.port()
        )
    }

    /// Queues a datagram; `tx` hears of a transport error.
    pub(super) fn queue(
        &mut self,
        message: Message,
        peer: SocketAddr,
        retransmission: bool,
        tx: Option<TxId>,
    ) {
        self.outbox.push_back(Datagram {
            message: Wire::Message(message),
            peer,
            retransmission,
            tx,
        });
    }

    async fn flush(&mut self) {
        while let Some(d) = self.outbox.pop_front() {
            let peer = host_of(d.peer);
            let bytes = match &d.message {
                Wire::Message(message) => {
                    let label = message.start_label();
                    let cseq = message.cseq().to_string();
                    emit(Event::SipSend(sip_fields(
                        message,
                        &label,
                        &cseq,
                        &peer,
                        d.retransmission,
                    )));
                    message.as_bytes()
                }
                Wire::Raw(raw) => {
                    let label = raw.code.to_string();
                    emit(Event::SipSend(SipFields {
                        call: &raw.call,
                        sip_call_id: &raw.call_id,
                        start_line: &label,
                        cseq: &raw.cseq,
                        peer: &peer,
                        retransmission: false,
                        from_tag: None,
                        to_tag: None,
                        sdp: None,
                    }));
                    &raw.bytes[..]
                }
            };
            // Fault points: the datagram is recorded as sent but lost in
            // the host's stack, or a retrying transport sends it twice.
            if here(buggify::SIP_SEND_LOST) {
                continue;
            }
            let mut sent = self.socket.send_to(bytes, d.peer).await;
            if sent.is_ok() && here(buggify::SIP_SEND_TWICE) {
                sent = self.socket.send_to(bytes, d.peer).await;
            }
            if sent.is_err() {
                if let Some(id) = d.tx {
                    if let Some(entry) = self.txs.get_mut(&id) {
                        let actions = entry.tx.on_transport_error();
                        self.apply(id, actions);
                    }
                }
            }
        }
    }

    fn emit_recv(message: &Message, from: SocketAddr, retransmission: bool) {
        let peer = host_of(from);
        let label = message.start_label();
        let cseq = message.cseq().to_string();
        emit(Event::SipRecv(sip_fields(
            message,
            &label,
            &cseq,
            &peer,
            retransmission,
        )));
    }

    /// Starts a transaction (client or server) and carries out its first actions.
    pub(super) fn start_tx(
        &mut self,
        tx: Transaction,
        actions: Vec<Action>,
        peer: SocketAddr,
        owner: Owner,
        key: TransactionKey,
    ) -> TxId {
        self.next_tx += 1;
        let id = self.next_tx;
        self.tx_index.insert(key.clone(), id);
        self.txs.insert(
            id,
            TxEntry {
                key,
                tx,
                peer,
                owner,
                seen: BTreeSet::new(),
            },
        );
        self.apply(id, actions);
        id
    }

    /// Carries out a transaction's actions.
    pub(super) fn apply(&mut self, id: TxId, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send {
                    message,
                    retransmission,
                } => {
                    if let Some(peer) = self.txs.get(&id).map(|e| e.peer) {
                        self.queue(message, peer, retransmission, Some(id));
                    }
                }
                Action::StartTimer(timer, after) => {
                    self.wheel
                        .set(TimerKey::Tx(id, timer), Instant::now() + after);
                }
                Action::StopTimer(timer) => self.wheel.clear(TimerKey::Tx(id, timer)),
                Action::PassUp(message) => self.pass_up(id, message),
                Action::Terminated(why) => self.terminated(id, why),
            }
        }
    }

    fn pass_up(&mut self, id: TxId, message: Message) {
        let Some(entry) = self.txs.get(&id) else {
            return;
        };
        match &entry.owner {
            Owner::Outgoing(call) => {
                let call = *call;
                let peer = entry.peer;
                if self.outgoing.contains_key(&call) {
                    self.outgoing_response(call, message);
                } else if message.status().is_some_and(|c| (200..300).contains(&c)) {
                    // The call already has its final outcome (a 487 or a failure came
                    // first): this 2xx crossed it.
                    self.unwanted_2xx(&message, peer);
                }
            }
            Owner::Bye { .. } => self.bye_response(id, &message),
            Owner::Refresh(session) => {
                let session = *session;
                self.refresh_answered(session, &message);
            }
            Owner::Reoffer(n) => {
                let n = *n;
                self.reoffer_response(n, &message);
            }
            Owner::Incoming(call) => {
                let call = *call;
                if message.method() == Some(&Method::Ack) {
                    self.answered_call_acked(call);
                }
            }
            Owner::ReInvite(dialog) => {
                if message.method() == Some(&Method::Ack) {
                    let dialog = dialog.clone();
                    self.accepted.remove(&dialog);
                }
            }
            Owner::Cancel => {}
            Owner::Local => {
                if message.is_request() {
                    self.new_request(id, message);
                }
            }
        }
    }

    fn terminated(&mut self, id: TxId, why: Termination) {
        self.wheel.clear_tx(id);
        let Some(entry) = self.txs.remove(&id) else {
            return;
        };
        self.tx_index.remove(&entry.key);
        match entry.owner {
            Owner::Outgoing(call) => self.outgoing_tx_ended(call, why),
            Owner::Incoming(call) => self.incoming_tx_ended(call, why),
            Owner::Bye { reply } => {
                if let Some(reply) = reply {
                    if why != Termination::Normal {
                        let _ = reply.send(HangupOutcome::Timeout);
                    }
                }
            }
            Owner::ReInvite(dialog) => {
                // A 2xx to a re-INVITE never ACKed: end the dialog (section 14.2,
                // 13.3.1.4).
                if self.accepted.get(&dialog) == Some(&id) {
                    self.accepted.remove(&dialog);
                    if why != Termination::Normal {
                        self.end_dialog(&dialog, super::EndReason::NoAck, None);
                    }
                }
            }
            Owner::Refresh(session) => {
                if why != Termination::Normal {
                    self.refresh_failed(session);
                }
            }
            Owner::Reoffer(n) => self.reoffer_tx_ended(n, id, why),
            Owner::Cancel | Owner::Local => {}
        }
    }

    fn on_timers(&mut self, now: Instant) {
        while let Some(key) = self.wheel.pop_due(now) {
            match key {
                // Fault point: a busy loop handles the timer one T1 late.
                TimerKey::Tx(id, timer) if here(buggify::SIP_TIMER_LATE) => {
                    let late = now + self.config.timers.t1;
                    self.wheel.set(TimerKey::Tx(id, timer), late);
                }
                TimerKey::Tx(id, timer) => {
                    if let Some(entry) = self.txs.get_mut(&id) {
                        let actions = entry.tx.on_timer(timer);
                        self.apply(id, actions);
                    }
                }
                TimerKey::Ringing(call) => self.cancel_outgoing(call, CancelReason::RingingTimeout),
                TimerKey::CancelGuard(call) => self.cancel_guard_expired(call),
                TimerKey::Session(id) => self.session_due(id),
                TimerKey::Reoffer(n) => self.send_reoffer(n),
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Place {
                id,
                request,
                events,
            } => self.place_call(id, request, events),
            Command::Cancel { id } => self.cancel_outgoing(id, CancelReason::User),
            Command::Respond {
                id,
                code,
                extra,
                sdp,
            } => self.respond_incoming(id, code, extra, sdp),
            Command::Answer { id, reply, sdp } => self.answer_incoming(id, reply, sdp),
            Command::Hangup { dialog, reply } => self.hangup(&dialog, Some(reply)),
            Command::Reoffer {
                dialog,
                direction,
                reply,
            } => self.reoffer(dialog, direction, reply),
        }
    }

    fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        let message = match parse(bytes) {
            Ok(m) => m,
            Err(error) => {
                let tag = self.new_tag();
                if let Some(answer) = raw_error_response(bytes, &error, &tag) {
                    self.outbox.push_back(Datagram {
                        message: Wire::Raw(answer),
                        peer: from,
                        retransmission: false,
                        tx: None,
                    });
                }
                return;
            }
        };
        if message.is_request() {
            self.on_request(message, from);
        } else {
            self.on_response(message, from);
        }
    }

    fn on_response(&mut self, response: Message, from: SocketAddr) {
        let code = response.status().unwrap_or_default();
        let key = TransactionKey::client(&response);
        if let Some(&id) = self.tx_index.get(&key) {
            let entry = self.txs.get_mut(&id).expect("indexed transactions exist");
            let retransmission = !entry.seen.insert(code);
            Self::emit_recv(&response, from, retransmission);
            let actions = entry.tx.on_message(response);
            self.apply(id, actions);
            return;
        }
        // No transaction: a 2xx to an INVITE whose transaction ended. A retransmission in
        // a dialog we have is ACKed again; any other is passed to the UA core, which ACKs
        // it and, since no call wants it, ends its dialog (section 13.2.2.4, RFC 6026
        // section 7.2). Other stray responses are dropped (section 18.1.2).
        let is_2xx_invite = (200..300).contains(&code) && response.cseq().method == Method::Invite;
        // A client transport drops a response whose top Via is not ours (section
        // 18.1.2), so a stray response is never taken for one of ours.
        if !is_2xx_invite || !response.top_via().names(self.local) {
            Self::emit_recv(&response, from, true);
            return;
        }
        let dialog = DialogId::of_response(&response);
        let ack = self
            .dialogs
            .get(&dialog)
            .map(|d| d.ack.clone().map(|ack| (ack, d.peer)));
        match ack {
            Some(ack) => {
                Self::emit_recv(&response, from, true);
                if let Some((ack, peer)) = ack {
                    self.queue(ack, peer, true, None);
                }
            }
            None => {
                let repeat = self.ended_acks.get(Instant::now(), &dialog).is_some();
                Self::emit_recv(&response, from, repeat);
                self.unwanted_2xx(&response, from);
            }
        }
    }

    fn on_request(&mut self, request: Message, from: SocketAddr) {
        // Section 18.2.1: the server transport stamps the top Via with where the request
        // came from; responses go by it (section 18.2.2, RFC 3581).
        let request = request.received_from(from);
        let reply_to = request.reply_addr(from);
        let key = TransactionKey::server(&request);
        let is_ack = request.method() == Some(&Method::Ack);
        if let Some(&id) = self.tx_index.get(&key) {
            let entry = self.txs.get_mut(&id).expect("indexed transactions exist");
            // An ACK with the INVITE's branch is new once; any other match is a copy.
            let first_ack = is_ack && entry.seen.insert(0);
            Self::emit_recv(&request, from, !first_ack);
            let actions = entry.tx.on_message(request);
            self.apply(id, actions);
            return;
        }
        if is_ack {
            // The end-to-end ACK of a 2xx has a branch of its own.
            let dialog = DialogId::of_incoming_request(&request);
            match self.accepted.get(&dialog).copied() {
                Some(id) => {
                    Self::emit_recv(&request, from, false);
                    if let Some(Transaction::InviteServer(server)) =
                        self.txs.get_mut(&id).map(|e| &mut e.tx)
                    {
                        let actions = server.on_2xx_ack(request);
                        self.apply(id, actions);
                    }
                }
                None => Self::emit_recv(&request, from, true),
            }
            return;
        }
        Self::emit_recv(&request, from, false);
        if self.txs.len() >= super::TRANSACTIONS_MAX {
            self.stateless_reply(&request, reply_to, 503);
            return;
        }
        let (tx, actions) = Transaction::server(request, self.config.timers);
        self.start_tx(tx, actions, reply_to, Owner::Local, key);
    }

    /// Answers without a transaction (overload).
    fn stateless_reply(&mut self, request: &Message, to: SocketAddr, code: u16) {
        let spec = crate::sip::codec::ResponseSpec {
            to_tag: Some(self.new_tag()),
            ..Default::default()
        };
        if let Ok(response) = crate::sip::codec::build_response(request, code, &spec) {
            self.queue(response, to, false, None);
        }
    }

    /// Sends the transaction user's response through server transaction `id`.
    pub(super) fn respond_via(&mut self, id: TxId, response: Message) {
        if let Some(entry) = self.txs.get_mut(&id) {
            let actions = entry.tx.respond(response);
            self.apply(id, actions);
        }
    }
}
