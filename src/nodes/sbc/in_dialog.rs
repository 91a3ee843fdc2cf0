//! Requests inside a bridged call, mapped from one leg to the other by the
//! pod's dialog map ([`super::dialog_map`]), never by the history label.
//!
//! - ACK for a 2xx is end to end per leg. For the call's first INVITE the
//!   pod ACKs the callee's 2xx on its own, at once, and answers the caller
//!   as a UAS: its 2xx is retransmitted until the caller's ACK, which ends
//!   at the pod; without one within 64*T1 the pod ends both legs with BYE
//!   (RFC 3261 section 13.3.1.4). So a 2xx never waits on the far side of
//!   the pod for its ACK, whatever happens to the other leg. For a
//!   re-INVITE the pod's ACK follows the caller's: when the ACK for its
//!   2xx arrives on one leg, the pod sends its own ACK for the 2xx it got
//!   on the other (kept, and sent again for a retransmitted 2xx). An ACK
//!   for a non-2xx answer is hop by hop: the pod ACKs the failure it got
//!   and absorbs the one it gets.
//! - BYE on one leg: 200 on that leg at once, then the pod's own BYE on
//!   the other (retransmitted on timer E until answered or timer F), after
//!   its ACK of any 2xx on that leg; the call's media relay ends with it.
//! - Any other request (re-INVITE, UPDATE, INFO, a session-timer refresh,
//!   ...) is relayed to the other leg with that leg's dialog, a CSeq of
//!   the pod's own on it, and the SDP moved to the anchor; its responses
//!   are relayed back the same way. A target refresh (INVITE, UPDATE)
//!   carries the pod's Contact and updates the remote target of the leg it
//!   came from (and, with a 2xx, of the leg that answered).
//! - A request for a dialog the pod does not know gets 481 (RFC 3261
//!   section 12.2.2); one for a call that a BYE ended gets 481, and a
//!   repeated BYE gets 200.

use super::dialog_map::{other, Relayed};
use super::legs::{self, Answer, Outgoing};
use super::pod::{server_key, Sbc, Tm};
use super::relay::Side;
use crate::nodes::sipproxy::edit::Edits;
use crate::nodes::sipproxy::{self as px};
use crate::sim::time::now_ms;
use crate::sip::codec::build_ack_for_non_2xx;
use crate::sip::{Message, Method};
use std::net::SocketAddr;

impl Sbc {
    /// A request with a To tag.
    pub(super) async fn on_in_dialog(&mut self, request: Message, from: SocketAddr) {
        let method = request.method().cloned().expect("a request has a method");
        let is_ack = method == Method::Ack;
        let reply_to = request.reply_addr(from);
        let to_tag = request.to_tag().unwrap_or_default();
        let found = self
            .dialogs
            .find(request.call_id(), to_tag)
            .filter(|&(id, side)| {
                let leg = self.dialogs.get(id).expect("indexed").leg(side);
                leg.remote.tag.as_deref() == request.from_tag()
            });
        let Some((id, side)) = found else {
            if !is_ack {
                self.answer(&request, 481, reply_to).await;
            }
            return;
        };
        let key = server_key(&request);
        if let Some(relayed) = self.dialogs.relayed_for(&key) {
            if is_ack {
                // The ACK of a failure the pod answered: hop by hop.
                return;
            }
            // A retransmission: the final answer again, else the request.
            let (message, to) = match &relayed.last_final {
                Some(last) => (last.clone(), relayed.reply_to),
                None => (relayed.out.clone(), relayed.out_to),
            };
            px::send(&self.sip, &message, to, true).await;
            return;
        }
        if is_ack {
            self.on_2xx_ack(id, side, &request).await;
            return;
        }
        if self.dialogs.get(id).expect("present").ended {
            let code = if method == Method::Bye { 200 } else { 481 };
            self.answer(&request, code, reply_to).await;
            return;
        }
        if method == Method::Bye {
            self.on_bye(id, side, &request, reply_to).await;
        } else {
            self.relay_in_dialog(id, side, request, reply_to).await;
        }
    }

    /// The ACK for a 2xx, from `side`: the pod's ACK for the 2xx it got on
    /// the other leg (the same one again for a repeated ACK).
    async fn on_2xx_ack(&mut self, id: u64, side: Side, ack: &Message) {
        let bridge = self.dialogs.get_mut(id).expect("present");
        let Some(map) = bridge.invite_from(side, ack.cseq().seq) else {
            return;
        };
        if let Some(own) = &mut map.own {
            // The caller's ACK of the pod's own 2xx: it ends there.
            own.acked = true;
            return;
        }
        if let Some((sent, to)) = map.ack.clone() {
            px::send(&self.sip, &sent, to, true).await;
            return;
        }
        let cseq = map.cseq_out;
        let leg = bridge.leg(other(side)).clone();
        let (label, media_key) = (bridge.label.clone(), bridge.media_key.clone());
        // An ACK carries the answer when the INVITE carried no offer.
        let media = if ack.body().is_empty() {
            Edits::default()
        } else {
            self.anchor_media(&media_key, ack, side).await
        };
        let branch = px::derived_branch(&server_key(ack), &self.name);
        let out = Outgoing {
            method: &Method::Ack,
            cseq,
            via: px::via_line(self.me, &branch),
            max_forwards: ack.max_forwards().unwrap_or(70).saturating_sub(1),
            contact: None,
            label: &label,
        };
        let built = legs::request(
            &leg,
            &leg.remote_target,
            &out,
            Some(ack),
            &media.set_headers,
            media.body.as_deref(),
        );
        let (Ok(sent), Some(to)) = (built, leg.next_hop()) else {
            return;
        };
        px::send(&self.sip, &sent, to, false).await;
        let bridge = self.dialogs.get_mut(id).expect("present");
        if let Some(map) = bridge.invite_from(side, ack.cseq().seq) {
            map.ack = Some((sent, to));
        }
    }

    /// The ACK the pod owes for each 2xx it got on `side`'s leg and has
    /// not yet ACKed (its caller's ACK never came): sent before a BYE, so
    /// the leg is confirmed before it ends (RFC 3261 section 15).
    async fn ack_owed(&mut self, id: u64, side: Side) {
        let bridge = self.dialogs.get(id).expect("present");
        let leg = bridge.leg(side).clone();
        let owed: Vec<u32> = bridge
            .invites
            .iter()
            .filter(|m| other(m.from) == side && m.answered && m.ack.is_none())
            .map(|m| m.cseq_out)
            .collect();
        let (label, media_key) = (bridge.label.clone(), bridge.media_key.clone());
        for cseq in owed {
            let ack = self.own_request(&leg, &Method::Ack, cseq, &media_key, "owed-ack", &label);
            if let (Some(ack), Some(to)) = (ack, leg.next_hop()) {
                px::send(&self.sip, &ack, to, false).await;
                let bridge = self.dialogs.get_mut(id).expect("present");
                if let Some(map) = bridge.invite_to(side, cseq) {
                    map.ack = Some((ack, to));
                }
            }
        }
    }

    /// A BYE from `side`: 200 on that leg, the pod's BYE on the other, the
    /// media relay ended, the bridge forgotten after 64*T1.
    async fn on_bye(&mut self, id: u64, side: Side, bye: &Message, reply_to: SocketAddr) {
        self.answer(bye, 200, reply_to).await;
        let far = other(side);
        self.ack_owed(id, far).await;
        self.bye_leg(id, far, &server_key(bye)).await;
        self.close_bridge(id).await;
    }

    /// Ends a bridged call from the pod itself (its caller never ACKed):
    /// a BYE on each leg.
    pub(super) async fn end_bridge(&mut self, id: u64) {
        let media_key = self.dialogs.get(id).expect("present").media_key.clone();
        for side in [Side::Up, Side::Down] {
            self.ack_owed(id, side).await;
            self.bye_leg(id, side, &media_key).await;
        }
        self.close_bridge(id).await;
    }

    /// The pod's own BYE on `side`'s leg, retransmitted until answered.
    async fn bye_leg(&mut self, id: u64, side: Side, seed_branch: &str) {
        let bridge = self.dialogs.get_mut(id).expect("present");
        let label = bridge.label.clone();
        let leg = bridge.leg_mut(side);
        let cseq = leg.next_cseq();
        let leg = leg.clone();
        let own = self.own_request(&leg, &Method::Bye, cseq, seed_branch, "bye", &label);
        if let (Some(own), Some(to)) = (own, leg.next_hop()) {
            self.send_own_bye(own, to).await;
        }
    }

    /// Marks a bridge ended, ends its media relay and forgets it after
    /// 64*T1.
    async fn close_bridge(&mut self, id: u64) {
        let bridge = self.dialogs.get_mut(id).expect("present");
        bridge.ended = true;
        let media_key = bridge.media_key.clone();
        self.end_relay(&media_key).await;
        let forget = now_ms() + self.config.timers.timer_h.as_millis() as u64;
        self.timers.push(forget, Tm::ForgetBridge { id });
    }

    /// Any other request from `side`: relayed to the other leg.
    async fn relay_in_dialog(
        &mut self,
        id: u64,
        side: Side,
        request: Message,
        reply_to: SocketAddr,
    ) {
        let method = request.method().cloned().expect("a request has a method");
        let refresh = matches!(method, Method::Invite | Method::Update);
        let far = other(side);
        let bridge = self.dialogs.get_mut(id).expect("present");
        if let Some(contact) = request.contacts().first().filter(|_| refresh) {
            bridge.leg_mut(side).remote_target = contact.uri.clone();
        }
        let cseq = bridge.leg_mut(far).next_cseq();
        if method == Method::Invite {
            bridge.relayed_invite(side, request.cseq().seq, cseq);
        }
        let leg = bridge.leg(far).clone();
        let (label, media_key) = (bridge.label.clone(), bridge.media_key.clone());
        let media = if request.body().is_empty() {
            Edits::default()
        } else {
            self.anchor_media(&media_key, &request, side).await
        };
        let key = server_key(&request);
        let branch = px::derived_branch(&key, &self.name);
        let out = Outgoing {
            method: &method,
            cseq,
            via: px::via_line(self.me, &branch),
            max_forwards: request.max_forwards().unwrap_or(70).saturating_sub(1),
            contact: refresh.then(|| self.contact.clone()),
            label: &label,
        };
        let built = legs::request(
            &leg,
            &leg.remote_target,
            &out,
            Some(&request),
            &media.set_headers,
            media.body.as_deref(),
        );
        let (Ok(sent), Some(to)) = (built, leg.next_hop()) else {
            self.answer(&request, 500, reply_to).await;
            return;
        };
        px::send(&self.sip, &sent, to, false).await;
        let relayed = Relayed {
            bridge: id,
            from: side,
            incoming: request,
            reply_to,
            out: sent,
            out_to: to,
            last_final: None,
        };
        self.dialogs.relay(branch.clone(), key, relayed);
        let forget = now_ms() + self.config.timers.timer_h.as_millis() as u64;
        self.timers.push(forget, Tm::ForgetRelayed { branch });
    }

    /// A response to a request the pod relayed (by the branch of its Via),
    /// answered on the leg the request came from.
    pub(super) async fn on_relayed_response(&mut self, branch: &str, response: Message) {
        let code = response.status().unwrap_or(0);
        let Some(relayed) = self.dialogs.relayed(branch).cloned() else {
            self.on_stray_response(&response).await;
            return;
        };
        let method = relayed.out.method().cloned().expect("a request");
        let invite = method == Method::Invite;
        let answering = other(relayed.from);
        if code == 100 {
            return;
        }
        if invite && code >= 300 {
            if let Ok(ack) = build_ack_for_non_2xx(&relayed.out, &response) {
                px::send(&self.sip, &ack, relayed.out_to, false).await;
            }
        }
        if let Some(last) = relayed.last_final.as_ref().filter(|_| code >= 200) {
            // The final answer again: a 2xx to an INVITE gets the pod's
            // ACK again once it was sent, else the answer goes on again.
            if !invite || code >= 300 {
                return;
            }
            let ack = self
                .dialogs
                .get_mut(relayed.bridge)
                .and_then(|b| b.invite_to(answering, relayed.out.cseq().seq)?.ack.clone());
            match ack {
                Some((ack, to)) => px::send(&self.sip, &ack, to, true).await,
                None => px::send(&self.sip, last, relayed.reply_to, true).await,
            }
            return;
        }
        let refresh = matches!(method, Method::Invite | Method::Update);
        let Some(bridge) = self.dialogs.get_mut(relayed.bridge) else {
            return;
        };
        if (200..300).contains(&code) {
            if let Some(contact) = response.contacts().first().filter(|_| refresh) {
                bridge.leg_mut(answering).remote_target = contact.uri.clone();
            }
            if let Some(map) = bridge.invite_to(answering, relayed.out.cseq().seq) {
                map.answered = invite;
            }
        }
        let (label, media_key) = (bridge.label.clone(), bridge.media_key.clone());
        let media = if response.body().is_empty() {
            Edits::default()
        } else {
            self.anchor_media(&media_key, &response, answering).await
        };
        let answer = Answer {
            code,
            reason: legs::reason(&response),
            to_tag: None,
            contact: (refresh && code < 300).then(|| self.contact.clone()),
            label: &label,
        };
        let built = legs::response(
            &relayed.incoming,
            &answer,
            Some(&response),
            &media.set_headers,
            media.body.as_deref(),
        );
        let Ok(back) = built else {
            return;
        };
        px::send(&self.sip, &back, relayed.reply_to, false).await;
        if code >= 200 {
            if let Some(r) = self.dialogs.relayed(branch) {
                r.last_final = Some(back);
            }
        }
    }

    /// A response that matches nothing the pod still keeps: a 2xx to an
    /// INVITE of a known leg whose transaction is forgotten gets the
    /// pod's ACK again (or its first); anything else is dropped.
    async fn on_stray_response(&mut self, response: &Message) {
        let is_2xx = response.status().is_some_and(|c| (200..300).contains(&c));
        if !is_2xx || response.cseq().method != Method::Invite {
            return;
        }
        let from_tag = response.from_tag().unwrap_or_default();
        let Some((id, side)) = self.dialogs.find(response.call_id(), from_tag) else {
            return;
        };
        let bridge = self.dialogs.get_mut(id).expect("indexed");
        let ack = bridge
            .invite_to(side, response.cseq().seq)
            .and_then(|m| m.ack.clone());
        if let Some((ack, to)) = ack {
            px::send(&self.sip, &ack, to, true).await;
        }
    }
}
