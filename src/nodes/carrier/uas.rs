//! The carrier's callees: outbound calls from the platform, answered (or
//! not) as each call's drawn profile says.
//!
//! A callee whose profile names its `codecs` first reads the INVITE's
//! offer (RFC 3264): its SDP body, or, for an INVITE that offers media
//! only by header (the user agent sends no bodies yet; see
//! [`sip_glue`]), the default offer [`sdp::DEFAULT_OFFER_CODECS`]. With
//! no codec in common ([`sdp::answer`] fails) it rejects the call at once
//! with 488 Not Acceptable Here, before ringing, and records
//! `callee.outcome` `unreachable` with code 488 (the vocabulary has no
//! "not acceptable" outcome; `unreachable` is the row of `honest_status`
//! whose leg code is the carrier's own). RFC 3261 section 20.43 wants a
//! `Warning: 304 <host> "Media type not available"` on that 488
//! ([`sdp::warning_media_unavailable`]); [`IncomingCall::reject`] takes
//! no headers yet, so the 488 goes without it.

use super::callee::{self, Behaviour};
use super::Carrier;
use crate::history::event::CalleeOutcome;
use crate::history::{emit, Event};
use crate::nodes::{sdp, sip_glue};
use crate::sim::buggify::{self, buggify};
use crate::sim::time::sleep;
use crate::sip::codec::Message;
use crate::sip::ua::{ActiveCall, EndReason, IncomingCall, ReofferOutcome};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// 488 Not Acceptable Here: the offer has no codec the callee takes.
pub const NOT_ACCEPTABLE: u16 = 488;

impl Carrier {
    pub(super) async fn callee(&self, mut incoming: IncomingCall) {
        let config = self.config();
        let call = incoming.call().to_string();
        let to = dialled_number(incoming.invite().request_uri().unwrap_or_default());
        let callee = callee::draw(self.ctx.seed, &call, &to, &config.callees, &config.numbers);
        let outcome = |outcome: CalleeOutcome, code: u16| {
            emit(Event::CalleeOutcome {
                call: &call,
                outcome,
                code,
            })
        };
        // A phone that cannot take any offered codec says so at once.
        if unacceptable_offer(&callee, incoming.invite()).is_some() {
            outcome(CalleeOutcome::Unreachable, NOT_ACCEPTABLE);
            incoming.reject_with(
                NOT_ACCEPTABLE,
                vec![sdp::warning_media_unavailable("carrier")],
            );
            return;
        }
        // Everyone but an unreachable number rings first; a phone with
        // early media plays it with an SDP answer in a 183.
        let early = callee
            .early_media
            .then(|| {
                sip_glue::answer_sdp(
                    incoming.invite(),
                    &callee.capabilities(),
                    self.media.local_addr(),
                )
                .ok()
                .flatten()
            })
            .flatten();
        match (&early, callee.behaviour) {
            (_, Behaviour::Unreachable) => {}
            (Some(sdp), _) => incoming.early_media(183, sdp.clone()),
            (None, _) => incoming.ring(),
        }
        let mut wait = match callee.behaviour {
            Behaviour::NoAnswer => config.no_answer_limit.0,
            _ => callee.answer_after,
        };
        // Fault point: the callee answers (or rejects) late.
        if buggify(&self.ctx, buggify::CARRIER_ANSWER_LATE) {
            wait += super::ANSWER_LATE_DELAY;
        }
        tokio::select! {
            _ = sleep(wait) => {}
            _ = incoming.cancelled() => {
                outcome(CalleeOutcome::Cancelled, 487);
                return;
            }
        }
        let rejected = match callee.behaviour {
            Behaviour::Answer => None,
            Behaviour::Busy => Some(CalleeOutcome::Busy),
            Behaviour::Decline => Some(CalleeOutcome::Declined),
            Behaviour::NoAnswer => Some(CalleeOutcome::NoAnswer),
            Behaviour::Unavailable => Some(CalleeOutcome::Unavailable),
            Behaviour::Unreachable => Some(CalleeOutcome::Unreachable),
        };
        if let Some(kind) = rejected {
            outcome(kind, callee.code);
            incoming.reject(callee.code);
            return;
        }
        let peer = sip_glue::offered_media(incoming.invite());
        // The offer was acceptable (checked above), so the answer is built.
        let answer = sip_glue::answer_sdp(
            incoming.invite(),
            &callee.capabilities(),
            self.media.local_addr(),
        )
        .unwrap_or_default();
        let active = match incoming.answer_with(answer).await {
            Ok(active) => active,
            // The CANCEL crossed our 200, or the ACK never came.
            Err(_) => {
                outcome(CalleeOutcome::Cancelled, 487);
                return;
            }
        };
        outcome(CalleeOutcome::Answered, 200);
        // Fault point: the callee's media never starts (one-way audio).
        let peer = peer.filter(|_| !buggify(&self.ctx, buggify::CARRIER_MEDIA_SILENT));
        let _media = peer.map(|p| self.media.start(&call, p, config.media_interval.0));
        let ended = active.ended_signal();
        let hung_up_by_platform = tokio::select! {
            reason = ended => reason != EndReason::LocalHangup,
            _ = sleep(callee.hold) => false,
            _ = hold_and_resume(&active, callee.on_hold) => false,
        };
        if !hung_up_by_platform {
            let _ = active.hangup().await;
        }
        self.media.forget(&call);
    }
}

/// Holds the call and resumes it on the callee's schedule, then waits for good.
async fn hold_and_resume(active: &ActiveCall, on_hold: Option<(Duration, Duration)>) {
    if let Some((after, lasting)) = on_hold {
        sleep(after).await;
        if matches!(active.hold().await, ReofferOutcome::Accepted(_)) {
            sleep(lasting).await;
            let _ = active.resume().await;
        }
    }
    std::future::pending::<()>().await
}

/// The offer `invite` makes: its SDP body, else the default offer at the
/// address it announces (by header) or, announcing none, at 0.0.0.0:0.
fn offer(invite: &Message) -> sdp::Sdp {
    let body = String::from_utf8_lossy(invite.body());
    sdp::Sdp::parse(&body).unwrap_or_else(|_| {
        let at = sip_glue::offered_media(invite)
            .unwrap_or(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0));
        sdp::Sdp::offer(at, sdp::DEFAULT_OFFER_CODECS, sdp::Proto::RtpAvp, "")
    })
}

/// Why `callee` cannot take `invite`'s offer, or `None` when it can (a
/// callee that takes every codec takes every offer, unread).
fn unacceptable_offer(callee: &callee::Callee, invite: &Message) -> Option<sdp::NotAcceptable> {
    callee.codecs.as_ref()?;
    let here = SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 1);
    sdp::answer(&offer(invite), &callee.capabilities(), here).err()
}

/// The user part of a Request-URI (`sip:+15550000001@carrier` gives
/// `+15550000001`).
fn dialled_number(uri: &str) -> String {
    let rest = uri
        .strip_prefix("sips:")
        .or_else(|| uri.strip_prefix("sip:"))
        .unwrap_or(uri);
    rest.split(['@', ';'])
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::carrier::callee::{Behaviour, Callee};
    use std::time::Duration;

    /// An INVITE offering `body` (SDP), or, without one, by the header
    /// an older caller would send.
    fn invite(body: &str) -> Message {
        let extra = if body.is_empty() {
            "X-Callsim-Media: 192.168.0.2:10000\r\n"
        } else {
            "Content-Type: application/sdp\r\n"
        };
        crate::sip::testkit::invite(extra, body)
    }

    fn callee(codecs: Option<&[&str]>) -> Callee {
        Callee {
            behaviour: Behaviour::Answer,
            code: 200,
            answer_after: Duration::ZERO,
            hold: Duration::ZERO,
            codecs: codecs.map(|c| c.iter().map(|s| s.to_string()).collect()),
            early_media: false,
            on_hold: None,
        }
    }

    #[test]
    fn a_callee_with_no_codec_in_common_finds_the_offer_unacceptable() {
        let addr = "192.168.0.2:10000".parse().expect("addr");
        let pcma_opus = sdp::Sdp::offer(addr, &["PCMA", "opus"], sdp::Proto::RtpAvp, "");
        let with_body = invite(&pcma_opus.to_string());
        assert_eq!(offer(&with_body), pcma_opus);
        assert!(unacceptable_offer(&callee(None), &with_body).is_none());
        assert!(unacceptable_offer(&callee(Some(&["opus"])), &with_body).is_none());
        let e = unacceptable_offer(&callee(Some(&["G729", "PCMU"])), &with_body)
            .expect("nothing in common");
        assert!(e.0.contains("offered PCMA opus"), "{e}");
        // A header-only INVITE offers the default codecs (PCMU).
        let header_only = invite("");
        assert_eq!(sip_glue::offered_media(&header_only), Some(addr));
        assert_eq!(offer(&header_only).media[0].codec_names(), ["PCMU"]);
        assert!(unacceptable_offer(&callee(Some(&["PCMU"])), &header_only).is_none());
        assert!(unacceptable_offer(&callee(Some(&["G722"])), &header_only).is_some());
    }

    #[test]
    fn dialled_numbers() {
        assert_eq!(super::dialled_number("sip:+1555@carrier"), "+1555");
        assert_eq!(super::dialled_number("sips:42@x;user=phone"), "42");
        assert_eq!(super::dialled_number("sip:carrier"), "carrier");
    }
}
