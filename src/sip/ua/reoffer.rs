//! The driver's re-INVITEs (RFC 3261 section 14.1): a new offer in an established
//! dialog, such as hold (`a=sendonly`) and resume (`a=sendrecv`).
//!
//! One re-INVITE per dialog at a time. It waits while the dialog has another INVITE in
//! progress either way (an incoming re-INVITE whose 2xx awaits its ACK). Glare: a
//! re-INVITE that arrives while ours is in progress gets 491 (`uas.rs`), and a 491 to
//! ours sends it again after a random wait, 2.1-4 s when we own the dialog's Call-ID and
//! 0-2 s when we do not, in units of 10 ms. A 2xx is ACKed (again when retransmitted:
//! the dialog keeps that ACK) and its answer becomes the session; a 408, a 481 or no
//! answer at all ends the dialog with a BYE (section 12.2.1.2); any other failure
//! leaves the session as it was.

use std::time::Duration;

use rand::Rng;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::driver::{Driver, Owner};
use super::timer_wheel::{TimerKey, TxId};
use super::{EndReason, ReofferOutcome};
use crate::sip::codec::Message;
use crate::sip::dialog::{DialogId, DialogRole};
use crate::sip::sdp::{Direction, Sdp};
use crate::sip::transaction::{Termination, Transaction, TransactionKey};

/// Most 491s one re-INVITE takes before it gives up.
pub(super) const GLARE_RETRIES_MAX: u32 = 5;

/// A re-INVITE the node asked for, by its number.
pub(crate) struct Pending {
    pub(super) dialog: DialogId,
    /// The offer it carries.
    offer: String,
    /// Its INVITE client transaction, while one is in progress.
    pub(super) tx: Option<TxId>,
    /// 491s taken so far.
    glare: u32,
    reply: Option<oneshot::Sender<ReofferOutcome>>,
}

/// Our last session description with every stream's direction set to `direction` and
/// the `o=` version one up (RFC 3264 section 8).
fn reoffer_of(local: &str, direction: Direction) -> Option<String> {
    let mut sdp = Sdp::parse(local).ok()?;
    for media in &mut sdp.media {
        *media = media.clone().with_direction(direction);
    }
    let version: u64 = sdp.session_version.parse().unwrap_or(0);
    sdp.session_version = (version + 1).to_string();
    Some(sdp.to_string())
}

/// The wait before a re-INVITE goes again after a 491 (section 14.1).
fn glare_wait(rng: &mut impl Rng, owns_call_id: bool) -> Duration {
    let tens_of_ms = if owns_call_id {
        rng.gen_range(210..=400)
    } else {
        rng.gen_range(0..=200)
    };
    Duration::from_millis(tens_of_ms * 10)
}

impl Driver {
    /// The node asks to change the direction of every stream of `dialog`.
    pub(super) fn reoffer(
        &mut self,
        dialog: DialogId,
        direction: Direction,
        reply: oneshot::Sender<ReofferOutcome>,
    ) {
        let offer = self
            .dialogs
            .get(&dialog)
            .and_then(|entry| entry.local_sdp.as_deref())
            .and_then(|local| reoffer_of(local, direction));
        let Some(offer) = offer else {
            let outcome = if self.dialogs.contains_key(&dialog) {
                ReofferOutcome::NoSession
            } else {
                ReofferOutcome::Ended
            };
            let _ = reply.send(outcome);
            return;
        };
        if self.reoffers.values().any(|p| p.dialog == dialog) {
            let _ = reply.send(ReofferOutcome::Busy);
            return;
        }
        self.next_reoffer += 1;
        let id = self.next_reoffer;
        self.reoffers.insert(
            id,
            Pending {
                dialog,
                offer,
                tx: None,
                glare: 0,
                reply: Some(reply),
            },
        );
        self.send_reoffer(id);
    }

    /// Sends pending re-INVITE `id` now, or after the dialog's other INVITE.
    pub(super) fn send_reoffer(&mut self, id: u64) {
        let Some(pending) = self.reoffers.get(&id) else {
            return;
        };
        let (dialog, offer) = (pending.dialog.clone(), pending.offer.clone());
        if !self.dialogs.contains_key(&dialog) {
            self.finish_reoffer(id, ReofferOutcome::Ended);
            return;
        }
        if self.accepted.contains_key(&dialog) {
            // The peer's re-INVITE awaits its ACK: ours goes once it has come.
            let wait = self.config.timers.t1 * 2;
            self.wheel.set(TimerKey::Reoffer(id), Instant::now() + wait);
            return;
        }
        let via = self.via();
        let contact = self.contact();
        let Some(entry) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        let peer = entry.peer;
        let Ok(invite) = entry.dialog.new_reinvite(via, contact, Some(&offer)) else {
            self.finish_reoffer(id, ReofferOutcome::Rejected(0));
            return;
        };
        let key = TransactionKey::client(&invite);
        let (tx, actions) = Transaction::client(invite, self.config.timers);
        let tx_id = self.start_tx(tx, actions, peer, Owner::Reoffer(id), key);
        if let Some(pending) = self.reoffers.get_mut(&id) {
            pending.tx = Some(tx_id);
        }
    }

    /// Whether `dialog` has a re-INVITE of ours on the wire (the peer's own gets 491).
    pub(super) fn reoffer_in_progress(&self, dialog: &DialogId) -> bool {
        self.reoffers
            .values()
            .any(|p| &p.dialog == dialog && p.tx.is_some())
    }

    /// A response to our re-INVITE `id`.
    pub(super) fn reoffer_response(&mut self, id: u64, response: &Message) {
        let code = response.status().unwrap_or_default();
        let Some(pending) = self.reoffers.get_mut(&id) else {
            return;
        };
        match code {
            100..=199 => {}
            200..=299 => {
                pending.tx = None;
                let (dialog, offer) = (pending.dialog.clone(), pending.offer.clone());
                let via = self.via();
                let Some(entry) = self.dialogs.get_mut(&dialog) else {
                    self.finish_reoffer(id, ReofferOutcome::Ended);
                    return;
                };
                entry.dialog.on_response(response);
                let Ok(ack) = entry.dialog.ack_for_2xx(via) else {
                    return;
                };
                entry.ack = Some(ack.clone());
                entry.local_sdp = Some(offer);
                let peer = entry.peer;
                self.queue(ack, peer, false, None);
                let answer = response.sdp_body().map(str::to_string);
                self.finish_reoffer(id, ReofferOutcome::Accepted(answer));
            }
            491 if pending.glare < GLARE_RETRIES_MAX => {
                pending.tx = None;
                pending.glare += 1;
                let owns_call_id = self
                    .dialogs
                    .get(&pending.dialog)
                    .is_some_and(|d| d.dialog.role() == DialogRole::Uac);
                let wait = glare_wait(&mut self.rng, owns_call_id);
                self.wheel.set(TimerKey::Reoffer(id), Instant::now() + wait);
            }
            408 | 481 => {
                let dialog = pending.dialog.clone();
                self.finish_reoffer(id, ReofferOutcome::Rejected(code));
                self.end_dialog(&dialog, EndReason::LocalHangup, None);
            }
            _ => self.finish_reoffer(id, ReofferOutcome::Rejected(code)),
        }
    }

    /// Our re-INVITE's transaction ended; without any final response (timer B), the
    /// dialog is over (section 12.2.1.2).
    pub(super) fn reoffer_tx_ended(&mut self, id: u64, tx: TxId, why: Termination) {
        let Some(pending) = self.reoffers.get(&id) else {
            return;
        };
        if pending.tx != Some(tx) || why == Termination::Normal {
            return;
        }
        let dialog = pending.dialog.clone();
        self.finish_reoffer(id, ReofferOutcome::Timeout);
        self.end_dialog(&dialog, EndReason::LocalHangup, None);
    }

    fn finish_reoffer(&mut self, id: u64, outcome: ReofferOutcome) {
        self.wheel.clear(TimerKey::Reoffer(id));
        if let Some(mut pending) = self.reoffers.remove(&id) {
            if let Some(reply) = pending.reply.take() {
                let _ = reply.send(outcome);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::rng_for;

    #[test]
    fn a_reoffer_sets_every_direction_and_raises_the_version() {
        let local = "v=0\r\no=- 7 3 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                     m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
        let held = reoffer_of(local, Direction::SendOnly).expect("parses");
        let sdp = Sdp::parse(&held).expect("reparses");
        assert_eq!(sdp.session_version, "4");
        assert_eq!(sdp.media[0].direction, Direction::SendOnly);
        assert!(held.contains("a=sendonly"), "{held}");
        assert_eq!(reoffer_of("not sdp", Direction::SendOnly), None);
    }

    #[test]
    fn glare_waits_follow_section_14_1() {
        let mut rng = rng_for(1, &["glare"]);
        for _ in 0..500 {
            let owner = glare_wait(&mut rng, true);
            assert!(owner >= Duration::from_millis(2100) && owner <= Duration::from_secs(4));
            assert_eq!(owner.as_millis() % 10, 0);
            let other = glare_wait(&mut rng, false);
            assert!(other <= Duration::from_secs(2), "{other:?}");
            assert_eq!(other.as_millis() % 10, 0);
        }
    }
}
