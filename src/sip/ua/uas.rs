//! The driver's incoming side (UAS): new requests, ringing, answering (200 retransmitted
//! until the ACK, by the INVITE server transaction), rejecting, CANCEL (200 to it, 487 to
//! the INVITE), the peer's BYE, and the requests the driver answers by itself.
//!
//! An unclaimed handle: an [`super::IncomingCall`] dropped without a final response
//! rejects the call with 480 Temporarily Unavailable.

use tokio::sync::{oneshot, watch};

use super::driver::{resolve, DialogEntry, Driver, Incoming, Owner};
use super::session_timer::{uas_decision, Refresher, Session, SessionExpires, UasDecision};
use super::timer_wheel::TxId;
use super::{ActiveCall, AnswerError, DialogStatus, EndReason, IncomingCall, IncomingStatus};
use crate::sip::codec::{build_response, media_type_is, Message, ResponseSpec};
use crate::sip::dialog::{Dialog, DialogId, DialogRequestError};
use crate::sip::header::Method;
use crate::sip::sdp;
use crate::sip::transaction::{answer_cancel, cancelled_invite_key, Termination, Transaction};
use crate::sip::uri::parse_uri;

/// The methods the driver accepts, for Allow headers.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE";

/// The one body type the user agent takes and sends (RFC 3264 offers and answers).
const SDP: &str = sdp::CONTENT_TYPE;

/// Our answer to a re-INVITE's `offer` from the session we last described (`local`):
/// the same media, each stream's direction the answer to the offer's, the `o=` version
/// one up (RFC 3264 section 8). Without an offer, our last description as it was;
/// without one of ours, none.
fn answer_reoffer(local: Option<&str>, offer: Option<&str>) -> Option<String> {
    let mut ours = sdp::Sdp::parse(local?).ok()?;
    let Some(offer) = offer.and_then(|o| sdp::Sdp::parse(o).ok()) else {
        return Some(ours.to_string());
    };
    for (mine, theirs) in ours.media.iter_mut().zip(&offer.media) {
        // Written even when sendrecv, the default: a resume answers a hold.
        *mine = mine.clone().with_direction(theirs.direction.answer());
    }
    let version: u64 = ours.session_version.parse().unwrap_or(0);
    ours.session_version = (version + 1).to_string();
    Some(ours.to_string())
}

/// Puts `sdp`, if any, in a response as its `application/sdp` body.
fn with_sdp(spec: &mut ResponseSpec, sdp: Option<String>) {
    if let Some(sdp) = sdp {
        spec.content_type = Some(SDP.to_string());
        spec.body = sdp.into_bytes();
    }
}

/// Whether an `Accept` value (a comma-separated list of media ranges, section 20.1)
/// admits `wanted`: by its exact type, `type/*`, or `*/*`. An empty `Accept` admits no
/// body at all, which an INVITE's 2xx needs.
fn accepts(value: &str, wanted: &str) -> bool {
    let (kind, _) = wanted.split_once('/').unwrap_or((wanted, ""));
    value.split(',').any(|range| {
        let range = range.split(';').next().unwrap_or_default().trim();
        range.eq_ignore_ascii_case(wanted)
            || range == "*/*"
            || range
                .strip_suffix("/*")
                .is_some_and(|t| t.eq_ignore_ascii_case(kind))
    })
}

impl Driver {
    /// Answers server transaction `id` with `code`, built from its request.
    fn reply(&mut self, id: TxId, request: &Message, code: u16, extra: Vec<(String, String)>) {
        let spec = ResponseSpec {
            to_tag: Some(self.new_tag()),
            extra_headers: extra,
            ..Default::default()
        };
        if let Ok(response) = build_response(request, code, &spec) {
            self.respond_via(id, response);
        }
    }

    /// A new request passed up by a new server transaction `id`.
    pub(super) fn new_request(&mut self, id: TxId, request: Message) {
        let method = request.method().cloned().unwrap_or(Method::Ack);
        let scheme_ok = request
            .request_uri()
            .and_then(|u| parse_uri(u).ok())
            .is_some_and(|u| u.sip.is_some());
        if !scheme_ok {
            self.reply(id, &request, 416, Vec::new());
            return;
        }
        if method != Method::Cancel {
            if let Some(required) = request.header("Require") {
                let unsupported = vec![("Unsupported".to_string(), required.to_string())];
                self.reply(id, &request, 420, unsupported);
                return;
            }
        }
        if let Some((code, headers)) = self.refusal(&method, &request) {
            self.reply(id, &request, code, headers);
            return;
        }
        match method {
            Method::Invite => self.new_invite(id, request),
            Method::Cancel => self.cancel_request(id, &request),
            Method::Bye => self.bye_request(id, &request),
            Method::Update => self.update_request(id, &request),
            Method::Options => {
                let allow = vec![("Allow".to_string(), ALLOW.to_string())];
                self.reply(id, &request, 200, allow);
            }
            Method::Extension(_) => self.reply(id, &request, 501, Vec::new()),
            _ => {
                let allow = vec![("Allow".to_string(), ALLOW.to_string())];
                self.reply(id, &request, 405, allow);
            }
        }
    }

    /// Why a request is refused before its method is handled, RFC 3261 section 8.2 in
    /// order after the Require check: a body of a type we do not take (415, with what we
    /// accept), an `Accept` that excludes the SDP our answer would carry (406), and an
    /// in-dialog request (a To tag) for a dialog we do not have (481, section 12.2.2).
    fn refusal(&self, method: &Method, request: &Message) -> Option<(u16, Vec<(String, String)>)> {
        let accept = || vec![("Accept".to_string(), SDP.to_string())];
        if !request.body().is_empty() {
            let content_type = request.header("Content-Type").unwrap_or_default();
            if !media_type_is(content_type, SDP) {
                return Some((415, accept()));
            }
        }
        if *method == Method::Invite {
            if let Some(accepted) = request.header("Accept") {
                if !accepts(accepted, SDP) {
                    return Some((406, Vec::new()));
                }
            }
        }
        let in_dialog = request.to_tag().is_some()
            && !matches!(method, Method::Cancel | Method::Ack | Method::Bye);
        if in_dialog
            && !self
                .dialogs
                .contains_key(&DialogId::of_incoming_request(request))
        {
            return Some((481, Vec::new()));
        }
        None
    }

    fn new_invite(&mut self, id: TxId, invite: Message) {
        if invite.to_tag().is_some() {
            self.reinvite(id, invite);
            return;
        }
        if let UasDecision::TooSmall { min_se } =
            uas_decision(&invite, self.config.session_timer.as_ref())
        {
            let min_se = vec![("Min-SE".to_string(), min_se.to_string())];
            self.reply(id, &invite, 422, min_se);
            return;
        }
        let peer = self.txs.get(&id).map(|e| e.peer).unwrap_or(self.local);
        let to_tag = self.new_tag();
        let call_id = self.next_incoming + 1;
        let (status, status_rx) = watch::channel(IncomingStatus::Pending);
        let call = invite.callsim_call().unwrap_or_default().to_string();
        let handle = IncomingCall {
            id: call_id,
            call: call.clone(),
            invite: invite.clone(),
            commands: self.commands.clone(),
            status: status_rx,
            finished: false,
        };
        // Fault point: the UA core is overloaded and refuses the call.
        if crate::sim::buggify::here(crate::sim::buggify::SIP_UAS_OVERLOADED) {
            let retry = vec![("Retry-After".to_string(), "1".to_string())];
            self.reply(id, &invite, 503, retry);
            return;
        }
        if self.incoming_tx.try_send(handle).is_err() {
            // The node is not taking calls fast enough (or at all).
            self.reply(id, &invite, 503, Vec::new());
            return;
        }
        self.next_incoming = call_id;
        if let Some(entry) = self.txs.get_mut(&id) {
            entry.owner = Owner::Incoming(call_id);
        }
        self.incoming.insert(
            call_id,
            Incoming {
                call,
                tx: id,
                to_tag,
                invite,
                peer,
                status,
                answer: None,
                final_sent: false,
            },
        );
    }

    /// A re-INVITE in a dialog we have (RFC 3261 section 14.2; an unknown dialog got 481
    /// already): 491 while a re-INVITE of ours is in progress in it (glare), 500 with `Retry-After` while an earlier INVITE of the dialog still awaits
    /// its ACK, 500 for a CSeq out of order; otherwise 200 with our answer to its offer
    /// (RFC 3264 section 8: the same session, each stream's direction answered to the
    /// offer's, so `a=sendonly` puts the call on hold and `a=sendrecv` resumes it) or,
    /// without an offer, our last session description. Its ACK is awaited like the first
    /// one's; no ACK by timer H ends the dialog.
    fn reinvite(&mut self, id: TxId, invite: Message) {
        let dialog_id = DialogId::of_incoming_request(&invite);
        if self.reoffer_in_progress(&dialog_id) && self.dialogs.contains_key(&dialog_id) {
            // Glare: ours is on the wire (section 14.2).
            self.reply(id, &invite, 491, Vec::new());
            return;
        }
        if self.accepted.contains_key(&dialog_id) {
            let retry = vec![("Retry-After".to_string(), "1".to_string())];
            self.reply(id, &invite, 500, retry);
            return;
        }
        if self.in_dialog(id, &invite).is_none() {
            return;
        }
        let contact = self.contact();
        let entry = self
            .dialogs
            .get_mut(&dialog_id)
            .expect("in_dialog found it");
        let refresh = SessionExpires::of(&invite);
        let answer = answer_reoffer(entry.local_sdp.as_deref(), invite.sdp_body());
        if answer.is_some() {
            entry.local_sdp.clone_from(&answer);
        }
        let mut spec = ResponseSpec {
            contact: Some(contact),
            ..Default::default()
        };
        with_sdp(&mut spec, answer);
        if let Some(refresh) = refresh {
            spec.extra_headers
                .push(("Session-Expires".to_string(), refresh.header_value()));
            self.session_refreshed(&dialog_id);
        }
        let Ok(ok) = build_response(&invite, 200, &spec) else {
            return;
        };
        if let Some(tx) = self.txs.get_mut(&id) {
            tx.owner = Owner::ReInvite(dialog_id.clone());
        }
        self.accepted.insert(dialog_id, id);
        self.respond_via(id, ok);
    }

    /// An UPDATE in a dialog we have (RFC 3311; here a session refresh, RFC 4028 section
    /// 10): 200 echoing its `Session-Expires`, and the session's expiry starts over. One
    /// out of CSeq order gets 500.
    fn update_request(&mut self, id: TxId, update: &Message) {
        let Some(dialog_id) = self.in_dialog(id, update) else {
            return;
        };
        let echo: Vec<(String, String)> = SessionExpires::of(update)
            .map(|se| ("Session-Expires".to_string(), se.header_value()))
            .into_iter()
            .collect();
        self.session_refreshed(&dialog_id);
        self.reply(id, update, 200, echo);
    }

    fn response_spec(&self, incoming: &Incoming, code: u16) -> ResponseSpec {
        ResponseSpec {
            to_tag: Some(incoming.to_tag.clone()),
            contact: (code < 300).then(|| self.contact()),
            ..Default::default()
        }
    }

    /// A provisional or rejecting response from the node.
    pub(super) fn respond_incoming(
        &mut self,
        id: u64,
        code: u16,
        extra: Vec<(String, String)>,
        sdp: Option<String>,
    ) {
        let Some(incoming) = self.incoming.get(&id) else {
            return;
        };
        if incoming.final_sent || *incoming.status.borrow() != IncomingStatus::Pending {
            return;
        }
        // Fault point: the 180 is lost before it is sent.
        if code == 180 && crate::sim::buggify::here(crate::sim::buggify::SIP_DROP_180) {
            return;
        }
        let mut spec = self.response_spec(incoming, code);
        spec.extra_headers.extend(extra);
        with_sdp(&mut spec, sdp);
        let Ok(response) = build_response(&incoming.invite, code, &spec) else {
            return;
        };
        let tx = incoming.tx;
        if code >= 200 {
            if let Some(incoming) = self.incoming.get_mut(&id) {
                incoming.final_sent = true;
                let _ = incoming.status.send(IncomingStatus::Finished);
            }
        }
        self.respond_via(tx, response);
    }

    /// 200 OK from the node: the dialog starts; the ACK completes the answer.
    pub(super) fn answer_incoming(
        &mut self,
        id: u64,
        reply: oneshot::Sender<Result<ActiveCall, AnswerError>>,
        sdp: Option<String>,
    ) {
        let Some(incoming) = self.incoming.get(&id) else {
            let _ = reply.send(Err(AnswerError::Cancelled));
            return;
        };
        if *incoming.status.borrow() == IncomingStatus::Cancelled {
            let _ = reply.send(Err(AnswerError::Cancelled));
            return;
        }
        if incoming.final_sent {
            let _ = reply.send(Err(AnswerError::AlreadyFinal));
            return;
        }
        let mut spec = self.response_spec(incoming, 200);
        let local_sdp = sdp.clone();
        with_sdp(&mut spec, sdp);
        let session = match uas_decision(&incoming.invite, self.config.session_timer.as_ref()) {
            UasDecision::Accept { expires, require } => {
                spec.extra_headers
                    .push(("Session-Expires".to_string(), expires.header_value()));
                if require {
                    spec.extra_headers
                        .push(("Require".to_string(), "timer".to_string()));
                }
                Some(Session {
                    interval: std::time::Duration::from_secs(expires.secs),
                    we_refresh: expires.refresher == Some(Refresher::Uas),
                })
            }
            _ => None,
        };
        let Ok(ok) = build_response(&incoming.invite, 200, &spec) else {
            let _ = reply.send(Err(AnswerError::Stopped));
            return;
        };
        let mut dialog = Dialog::uas(&incoming.invite, &incoming.to_tag);
        dialog.confirm();
        // Without a Contact (which RFC 3261 requires) the source address is the best
        // remote target we have.
        let peer = if incoming.invite.contacts().is_empty() && dialog.route_set().is_empty() {
            incoming.peer
        } else {
            resolve(dialog.next_hop(), incoming.peer)
        };
        let dialog_id = dialog.id().clone();
        let tx = incoming.tx;
        let (status, _) = watch::channel(DialogStatus::Active);
        self.dialogs.insert(
            dialog_id.clone(),
            DialogEntry {
                dialog,
                peer,
                ack: None,
                status,
                local_sdp,
                session: None,
            },
        );
        if let Some(session) = session {
            self.start_session(&dialog_id, session, Refresher::Uas);
        }
        self.accepted.insert(dialog_id, tx);
        if let Some(incoming) = self.incoming.get_mut(&id) {
            incoming.final_sent = true;
            incoming.answer = Some(reply);
            let _ = incoming.status.send(IncomingStatus::Finished);
        }
        self.respond_via(tx, ok);
    }

    /// The ACK of our 2xx arrived (passed up by the INVITE server transaction).
    pub(super) fn answered_call_acked(&mut self, id: u64) {
        let Some(incoming) = self.incoming.get_mut(&id) else {
            return;
        };
        let Some(reply) = incoming.answer.take() else {
            return;
        };
        let dialog_id = DialogId {
            call_id: incoming.invite.call_id().to_string(),
            local_tag: incoming.to_tag.clone(),
            remote_tag: incoming.invite.from_tag().unwrap_or_default().to_string(),
        };
        let call = incoming.call.clone();
        self.accepted.remove(&dialog_id);
        let Some(entry) = self.dialogs.get(&dialog_id) else {
            let _ = reply.send(Err(AnswerError::Stopped));
            return;
        };
        let active = ActiveCall {
            call,
            dialog: dialog_id,
            commands: self.commands.clone(),
            status: entry.status.subscribe(),
            remote_sdp: None,
        };
        let _ = reply.send(Ok(active));
    }

    /// The INVITE server transaction ended.
    pub(super) fn incoming_tx_ended(&mut self, id: u64, why: Termination) {
        let Some(incoming) = self.incoming.remove(&id) else {
            return;
        };
        let dialog_id = DialogId {
            call_id: incoming.invite.call_id().to_string(),
            local_tag: incoming.to_tag.clone(),
            remote_tag: incoming.invite.from_tag().unwrap_or_default().to_string(),
        };
        self.accepted.remove(&dialog_id);
        if let Some(reply) = incoming.answer {
            // Still waiting for the ACK: timer H fired, or the transport failed. Section
            // 13.3.1.4: the dialog is confirmed but the session should end, with a BYE.
            let _ = reply.send(Err(AnswerError::NoAck));
            if why != Termination::Normal {
                self.end_dialog(&dialog_id, EndReason::NoAck, None);
            }
        }
    }

    fn cancel_request(&mut self, id: TxId, cancel: &Message) {
        let invite_tx = self.tx_index.get(&cancelled_invite_key(cancel)).copied();
        let (incoming_id, to_tag) = match invite_tx.and_then(|t| self.txs.get(&t)).map(|e| &e.owner)
        {
            Some(Owner::Incoming(call)) => (
                Some(*call),
                self.incoming
                    .get(call)
                    .map(|i| i.to_tag.clone())
                    .unwrap_or_default(),
            ),
            _ => (None, self.new_tag()),
        };
        let server = invite_tx.and_then(|t| match self.txs.get_mut(&t).map(|e| &mut e.tx) {
            Some(Transaction::InviteServer(s)) => Some(s),
            _ => None,
        });
        let (answer, invite_actions) = answer_cancel(cancel, server, &to_tag);
        if let Some(answer) = answer {
            self.respond_via(id, answer);
        }
        let terminated_invite = !invite_actions.is_empty();
        if let Some(t) = invite_tx {
            self.apply(t, invite_actions);
        }
        if let (Some(call), true) = (incoming_id, terminated_invite) {
            if let Some(incoming) = self.incoming.get_mut(&call) {
                incoming.final_sent = true;
                let _ = incoming.status.send(IncomingStatus::Cancelled);
            }
        }
    }

    /// The dialog of an in-dialog request we answer (RFC 3261 section 12.2.2): its id
    /// once the dialog takes the request's CSeq; otherwise the request is answered here,
    /// 481 for a dialog we do not have (or that does not match), 500 for a CSeq out of
    /// order, and `None`.
    fn in_dialog(&mut self, id: TxId, request: &Message) -> Option<DialogId> {
        let dialog_id = DialogId::of_incoming_request(request);
        let code = match self
            .dialogs
            .get_mut(&dialog_id)
            .map(|e| e.dialog.on_request(request))
        {
            Some(Ok(())) => return Some(dialog_id),
            Some(Err(DialogRequestError::OutOfOrder { .. })) => 500,
            Some(Err(DialogRequestError::Mismatch)) | None => 481,
        };
        self.reply(id, request, code, Vec::new());
        None
    }

    fn bye_request(&mut self, id: TxId, bye: &Message) {
        let Some(dialog_id) = self.in_dialog(id, bye) else {
            return;
        };
        let mut entry = self.dialogs.remove(&dialog_id).expect("just found");
        entry.dialog.terminate();
        self.stop_session(entry.session);
        let _ = entry
            .status
            .send(DialogStatus::Ended(EndReason::RemoteHangup));
        self.reply(id, bye, 200, Vec::new());
    }
}
