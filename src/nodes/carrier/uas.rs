//! The carrier's callees: outbound calls from the platform, answered (or
//! not) as each call's drawn profile says.

use super::callee::{self, Behaviour};
use super::Carrier;
use crate::history::event::CalleeOutcome;
use crate::history::{emit, Event};
use crate::nodes::sip_glue;
use crate::sim::time::sleep;
use crate::sip::ua::{EndReason, IncomingCall};

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
        // Everyone but an unreachable number rings first.
        if callee.behaviour != Behaviour::Unreachable {
            incoming.ring();
        }
        let wait = match callee.behaviour {
            Behaviour::NoAnswer => config.no_answer_limit.0,
            _ => callee.answer_after,
        };
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
        let mut active = match incoming.answer().await {
            Ok(active) => active,
            // The CANCEL crossed our 200, or the ACK never came.
            Err(_) => {
                outcome(CalleeOutcome::Cancelled, 487);
                return;
            }
        };
        outcome(CalleeOutcome::Answered, 200);
        let _media = peer.map(|p| self.media.start(&call, p, config.media_interval.0));
        let hung_up_by_platform = tokio::select! {
            reason = active.ended() => reason != EndReason::LocalHangup,
            _ = sleep(callee.hold) => false,
        };
        if !hung_up_by_platform {
            let _ = active.hangup().await;
        }
        self.media.forget(&call);
    }
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
    #[test]
    fn dialled_numbers() {
        assert_eq!(super::dialled_number("sip:+1555@carrier"), "+1555");
        assert_eq!(super::dialled_number("sips:42@x;user=phone"), "42");
        assert_eq!(super::dialled_number("sip:carrier"), "carrier");
    }
}
