//! The driver's outgoing side (UAC): placing a call, provisional progress, CANCEL at the
//! ringing timeout or on request, the end-to-end ACK for a 2xx, BYE.
//!
//! Outcome rules: a 2xx answers the call (unless a CANCEL was already asked for: then the
//! 2xx is acknowledged and a BYE follows at once, and the outcome stays the cancellation);
//! a 487 after our CANCEL is the cancellation (timed out or cancelled); any other 3xx-6xx
//! is a rejection with its code; timer B without any response is a transport failure. A
//! CANCEL waits for the first provisional response (section 9.1), and 64*T1 after it the
//! call is given up even without a final response.

use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::driver::{resolve, CancelReason, DialogEntry, Driver, Outgoing, Owner};
use super::session_timer::{Refresher, Session};
use super::timer_wheel::{TimerKey, TxId};
use super::{
    ActiveCall, CallEvent, CallOutcome, CallRequest, DialogStatus, EndReason, HangupOutcome,
};
use crate::sip::codec::{build_cancel, build_request, AddrSpec, Message, RequestSpec};
use crate::sip::dialog::{Dialog, DialogId, MAX_FORWARDS};
use crate::sip::header::Method;
use crate::sip::ids::new_call_id;
use crate::sip::transaction::{Termination, Transaction, TransactionKey};

impl Driver {
    pub(super) fn place_call(
        &mut self,
        id: u64,
        request: CallRequest,
        events: mpsc::UnboundedSender<CallEvent>,
    ) {
        if self.txs.len() >= super::TRANSACTIONS_MAX {
            let _ = events.send(CallEvent::Final(CallOutcome::TransportFailure));
            return;
        }
        let via = self.via();
        let spec = RequestSpec {
            method: Method::Invite,
            uri: request.uri.clone(),
            via,
            from: AddrSpec {
                uri: format!("sip:{}@{}", self.config.user, self.local.ip()),
                tag: Some(self.new_tag()),
            },
            to: AddrSpec {
                uri: request.uri.clone(),
                tag: None,
            },
            call_id: new_call_id(&mut self.rng, &self.config.user),
            cseq: 1,
            max_forwards: MAX_FORWARDS,
            contact: Some(self.contact()),
            routes: Vec::new(),
            callsim_call: request.call.clone(),
            extra_headers: request
                .extra_headers
                .iter()
                .cloned()
                .chain(
                    self.config
                        .session_timer
                        .iter()
                        .flat_map(|c| c.invite_headers()),
                )
                .collect(),
            content_type: request
                .sdp
                .as_ref()
                .map(|_| crate::sip::sdp::CONTENT_TYPE.to_string()),
            body: request
                .sdp
                .clone()
                .map(String::into_bytes)
                .unwrap_or_default(),
        };
        // A URI that cannot be built is the node's configuration error; the call fails
        // without a message on the wire.
        let Ok(invite) = build_request(&spec) else {
            let _ = events.send(CallEvent::Final(CallOutcome::TransportFailure));
            return;
        };
        let key = TransactionKey::client(&invite);
        let (tx, actions) = Transaction::client(invite.clone(), self.config.timers);
        self.outgoing.insert(
            id,
            Outgoing {
                invite,
                tx: 0,
                peer: request.target,
                events,
                provisional: false,
                cancel: None,
                cancel_sent: false,
                retried_422: false,
            },
        );
        self.wheel.set(
            TimerKey::Ringing(id),
            Instant::now() + request.ringing_timeout,
        );
        let tx_id = self.start_tx(tx, actions, request.target, Owner::Outgoing(id), key);
        if let Some(out) = self.outgoing.get_mut(&id) {
            out.tx = tx_id;
        }
    }

    /// Asks for the call to be cancelled; the CANCEL goes out now or after the first
    /// provisional response.
    pub(super) fn cancel_outgoing(&mut self, id: u64, reason: CancelReason) {
        let Some(out) = self.outgoing.get_mut(&id) else {
            return;
        };
        if out.cancel.is_some() {
            return;
        }
        out.cancel = Some(reason);
        self.wheel.clear(TimerKey::Ringing(id));
        if out.provisional {
            self.send_cancel(id);
        }
    }

    fn send_cancel(&mut self, id: u64) {
        let Some(out) = self.outgoing.get_mut(&id) else {
            return;
        };
        if out.cancel_sent {
            return;
        }
        out.cancel_sent = true;
        let peer = out.peer;
        let Ok(cancel) = build_cancel(&out.invite) else {
            return;
        };
        let key = TransactionKey::client(&cancel);
        let (tx, actions) = Transaction::client(cancel, self.config.timers);
        self.start_tx(tx, actions, peer, Owner::Cancel, key);
        self.wheel.set(
            TimerKey::CancelGuard(id),
            Instant::now() + self.config.timers.t1 * 64,
        );
    }

    fn cancelled_outcome(reason: CancelReason) -> CallOutcome {
        match reason {
            CancelReason::RingingTimeout => CallOutcome::TimedOut,
            CancelReason::User => CallOutcome::Cancelled,
        }
    }

    /// Reports the final outcome and forgets the call.
    fn finish(&mut self, id: u64, outcome: CallOutcome) {
        self.wheel.clear(TimerKey::Ringing(id));
        self.wheel.clear(TimerKey::CancelGuard(id));
        if let Some(out) = self.outgoing.remove(&id) {
            let _ = out.events.send(CallEvent::Final(outcome));
        }
    }

    pub(super) fn cancel_guard_expired(&mut self, id: u64) {
        let Some(out) = self.outgoing.get(&id) else {
            return;
        };
        let reason = out.cancel.unwrap_or(CancelReason::User);
        let tx = out.tx;
        // The INVITE transaction is abandoned along with the call.
        self.wheel.clear_tx(tx);
        if let Some(entry) = self.txs.remove(&tx) {
            self.tx_index.remove(&entry.key);
        }
        self.finish(id, Self::cancelled_outcome(reason));
    }

    /// A response passed up by the INVITE client transaction.
    pub(super) fn outgoing_response(&mut self, id: u64, response: Message) {
        let Some(out) = self.outgoing.get_mut(&id) else {
            return;
        };
        let code = response.status().unwrap_or_default();
        match code {
            100..=199 => {
                out.provisional = true;
                if code > 100 {
                    let event = match response.sdp_body() {
                        Some(sdp) => CallEvent::EarlyMedia {
                            code,
                            sdp: sdp.to_string(),
                        },
                        None => CallEvent::Progress(code),
                    };
                    let _ = out.events.send(event);
                }
                if out.cancel.is_some() {
                    self.send_cancel(id);
                }
            }
            200..=299 => {
                let invite = out.invite.clone();
                let cancel = out.cancel;
                let peer = out.peer;
                let Some(active) = self.start_uac_dialog(&invite, &response, peer) else {
                    self.finish(id, CallOutcome::TransportFailure);
                    return;
                };
                match cancel {
                    None => self.finish(id, CallOutcome::Answered(active)),
                    Some(reason) => {
                        self.hangup(active.dialog(), None);
                        self.finish(id, Self::cancelled_outcome(reason));
                    }
                }
            }
            422 if out.cancel.is_none() && !out.retried_422 => {
                if !self.retry_after_422(id, &response) {
                    self.finish(id, CallOutcome::Rejected(code));
                }
            }
            _ => {
                let outcome = match out.cancel {
                    Some(reason) if code == 487 => Self::cancelled_outcome(reason),
                    _ => CallOutcome::Rejected(code),
                };
                self.finish(id, outcome);
            }
        }
    }

    /// A 422 Session Interval Too Small: the INVITE goes again, once, asking for the
    /// callee's `Min-SE` (RFC 4028 section 7.4), as a new transaction (CSeq one up, a new
    /// branch) of the same call. `false` when it cannot (no `Min-SE`, or it would not
    /// build).
    fn retry_after_422(&mut self, id: u64, response: &Message) -> bool {
        let Some(min_se) = response
            .header("Min-SE")
            .and_then(|v| v.split(';').next()?.trim().parse::<u64>().ok())
        else {
            return false;
        };
        let via = self.via();
        let Some(out) = self.outgoing.get_mut(&id) else {
            return false;
        };
        let mut edit = out.invite.edit();
        edit.set_header(
            "Via",
            &format!(
                "SIP/2.0/UDP {}:{};branch={}",
                via.host, via.port, via.branch
            ),
        );
        edit.set_header("CSeq", &format!("{} INVITE", out.invite.cseq().seq + 1));
        edit.set_header("Session-Expires", &min_se.to_string());
        edit.set_header("Min-SE", &min_se.to_string());
        let Ok(invite) = edit.finish() else {
            return false;
        };
        out.invite = invite.clone();
        out.retried_422 = true;
        out.provisional = false;
        let peer = out.peer;
        let key = TransactionKey::client(&invite);
        let (tx, actions) = Transaction::client(invite, self.config.timers);
        let tx_id = self.start_tx(tx, actions, peer, Owner::Outgoing(id), key);
        if let Some(out) = self.outgoing.get_mut(&id) {
            out.tx = tx_id;
        }
        true
    }

    /// Creates the UAC dialog for a 2xx and sends its ACK.
    fn start_uac_dialog(
        &mut self,
        invite: &Message,
        response: &Message,
        fallback: SocketAddr,
    ) -> Option<ActiveCall> {
        let dialog = Dialog::uac(invite, response)?;
        let peer = resolve(dialog.next_hop(), fallback);
        let via = self.via();
        let ack = dialog.ack_for_2xx(via).ok()?;
        // Fault point: the first ACK is not sent; the 2xx retransmission
        // gets the stored one (`on_response`).
        if !crate::sim::buggify::here(crate::sim::buggify::SIP_DELAY_ACK) {
            self.queue(ack.clone(), peer, false, None);
        }
        let id = dialog.id().clone();
        let call = dialog.callsim_call().to_string();
        let (status, status_rx) = watch::channel(DialogStatus::Active);
        self.dialogs.insert(
            id.clone(),
            DialogEntry {
                dialog,
                peer,
                ack: Some(ack),
                status,
                local_sdp: invite.sdp_body().map(str::to_string),
                session: None,
            },
        );
        if let Some(session) = Session::from_2xx(response, Refresher::Uac) {
            self.start_session(&id, session, Refresher::Uac);
        }
        Some(ActiveCall {
            call,
            dialog: id,
            commands: self.commands.clone(),
            status: status_rx,
            remote_sdp: response.sdp_body().map(str::to_string),
        })
    }

    /// A 2xx to one of our INVITEs that no call is waiting for: it crossed our CANCEL or
    /// a failure on its way, or its transaction and call are gone. It is ACKed (again,
    /// if we ACKed it before and it was retransmitted) and a dialog it makes is ended at
    /// once with a BYE (RFC 3261 section 13.2.2.4, RFC 6026 section 7.2), so that no end
    /// keeps a dialog the other has not got.
    pub(super) fn unwanted_2xx(&mut self, response: &Message, from: SocketAddr) {
        let id = DialogId::of_response(response);
        if let Some((ack, peer)) = self.ended_acks.get(Instant::now(), &id) {
            self.queue(ack, peer, true, None);
            return;
        }
        // The 2xx alone has what the dialog needs: our From and tag, the peer's To tag,
        // the Call-ID, the INVITE's CSeq, the Contact and the Record-Route.
        let Some(dialog) = Dialog::uac(response, response) else {
            return;
        };
        let peer = resolve(dialog.next_hop(), from);
        let via = self.via();
        let Ok(ack) = dialog.ack_for_2xx(via) else {
            return;
        };
        self.queue(ack.clone(), peer, false, None);
        let (status, _) = watch::channel(DialogStatus::Active);
        self.dialogs.insert(
            id.clone(),
            DialogEntry {
                dialog,
                peer,
                ack: Some(ack),
                status,
                local_sdp: None,
                session: None,
            },
        );
        self.end_dialog(&id, EndReason::LocalHangup, None);
    }

    /// The INVITE client transaction ended.
    pub(super) fn outgoing_tx_ended(&mut self, id: u64, why: Termination) {
        let Some(out) = self.outgoing.get(&id) else {
            return;
        };
        let outcome = match (why, out.cancel) {
            (Termination::Normal, _) => return,
            (_, Some(reason)) => Self::cancelled_outcome(reason),
            (_, None) => CallOutcome::TransportFailure,
        };
        self.finish(id, outcome);
    }

    /// Sends BYE in a dialog; `reply` hears how it went.
    pub(super) fn hangup(
        &mut self,
        dialog: &DialogId,
        reply: Option<oneshot::Sender<HangupOutcome>>,
    ) {
        self.end_dialog(dialog, EndReason::LocalHangup, reply);
    }

    /// Ends a dialog from our side with a BYE.
    pub(super) fn end_dialog(
        &mut self,
        dialog: &DialogId,
        reason: EndReason,
        reply: Option<oneshot::Sender<HangupOutcome>>,
    ) {
        let Some(mut entry) = self.dialogs.remove(dialog) else {
            if let Some(reply) = reply {
                let _ = reply.send(HangupOutcome::AlreadyEnded);
            }
            return;
        };
        entry.dialog.terminate();
        self.stop_session(entry.session);
        let _ = entry.status.send(DialogStatus::Ended(reason));
        if let Some(ack) = entry.ack.take() {
            self.ended_acks
                .remember(Instant::now(), dialog.clone(), ack, entry.peer);
        }
        let via = self.via();
        let Ok(bye) = entry.dialog.new_request(Method::Bye, via) else {
            if let Some(reply) = reply {
                let _ = reply.send(HangupOutcome::AlreadyEnded);
            }
            return;
        };
        let key = TransactionKey::client(&bye);
        let (tx, actions) = Transaction::client(bye, self.config.timers);
        self.start_tx(tx, actions, entry.peer, Owner::Bye { reply }, key);
    }

    /// A response to our BYE.
    pub(super) fn bye_response(&mut self, id: TxId, response: &Message) {
        let code = response.status().unwrap_or_default();
        if code < 200 {
            return;
        }
        let Some(entry) = self.txs.get_mut(&id) else {
            return;
        };
        if let super::driver::Owner::Bye { reply } = &mut entry.owner {
            if let Some(reply) = reply.take() {
                let outcome = if code < 300 {
                    HangupOutcome::Ok
                } else {
                    HangupOutcome::Rejected(code)
                };
                let _ = reply.send(outcome);
            }
        }
    }
}
