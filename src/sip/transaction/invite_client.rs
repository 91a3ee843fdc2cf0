//! The INVITE client transaction (RFC 3261 section 17.1.1, figure 5) over UDP.
//!
//! Calling: the INVITE is retransmitted on timer A (T1, doubling without cap: 0.5, 1.5,
//! 3.5, 7.5, 15.5, 31.5 s with defaults) until a response or timer B (64*T1). Proceeding:
//! provisional responses pass up, no retransmission. Completed: after a 300-699 the ACK is
//! sent here, re-sent for each retransmitted final response, until timer D. A 2xx passes
//! up and ends the transaction at once: its ACK is end to end, the dialog's job. A 2xx
//! that arrives in Completed (it crossed a CANCEL or a failure somewhere downstream) also
//! passes up, so that the UA core ACKs it and ends the unwanted dialog with a BYE (RFC
//! 3261 section 13.2.2.4, RFC 6026 section 7.2): dropping it would leave the far end
//! retransmitting a 2xx nobody ACKs, and a dialog up that the caller never sees.

use crate::sip::codec::{build_ack_for_non_2xx, Message};
use crate::sip::timers::SipTimers;

use super::{resend, send, Action, Termination, Timer};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteClientState {
    Calling,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Clone, Debug)]
pub struct InviteClient {
    state: InviteClientState,
    request: Message,
    timers: SipTimers,
    /// The next timer A interval.
    timer_a: std::time::Duration,
    ack: Option<Message>,
}

impl InviteClient {
    /// Sends `request` (an INVITE) and arms timers A and B.
    pub fn start(request: Message, timers: SipTimers) -> (Self, Vec<Action>) {
        let actions = vec![
            send(request.clone()),
            Action::StartTimer(Timer::A, timers.t1),
            Action::StartTimer(Timer::B, timers.timer_b),
        ];
        let t = InviteClient {
            state: InviteClientState::Calling,
            request,
            timers,
            timer_a: timers.t1,
            ack: None,
        };
        (t, actions)
    }

    pub fn state(&self) -> InviteClientState {
        self.state
    }

    pub fn request(&self) -> &Message {
        &self.request
    }

    fn terminate(&mut self, why: Termination) -> Action {
        self.state = InviteClientState::Terminated;
        Action::Terminated(why)
    }

    /// A response matched to this transaction (requests are ignored).
    pub fn on_message(&mut self, response: Message) -> Vec<Action> {
        use InviteClientState::*;
        let Some(code) = response.status() else {
            return Vec::new();
        };
        match (self.state, code) {
            (Calling | Proceeding, 100..=199) => {
                let mut out = Vec::new();
                if self.state == Calling {
                    self.state = Proceeding;
                    out.push(Action::StopTimer(Timer::A));
                    out.push(Action::StopTimer(Timer::B));
                }
                out.push(Action::PassUp(response));
                out
            }
            (Calling | Proceeding, 200..=299) => {
                vec![
                    Action::StopTimer(Timer::A),
                    Action::StopTimer(Timer::B),
                    Action::PassUp(response),
                    self.terminate(Termination::Normal),
                ]
            }
            (Calling | Proceeding, _) => {
                self.state = Completed;
                let mut out = vec![Action::StopTimer(Timer::A), Action::StopTimer(Timer::B)];
                // The ACK is built from our own INVITE and the response's validated To; if
                // it could not be built the response still passes up.
                if let Ok(ack) = build_ack_for_non_2xx(&self.request, &response) {
                    out.push(send(ack.clone()));
                    self.ack = Some(ack);
                }
                out.push(Action::PassUp(response));
                out.push(Action::StartTimer(Timer::D, self.timers.timer_d));
                out
            }
            (Completed, 300..) => self.ack.iter().map(resend).collect(),
            (Completed, 200..=299) => vec![Action::PassUp(response)],
            _ => Vec::new(),
        }
    }

    pub fn on_timer(&mut self, timer: Timer) -> Vec<Action> {
        use InviteClientState::*;
        match (self.state, timer) {
            (Calling, Timer::A) => {
                self.timer_a *= 2;
                vec![
                    resend(&self.request),
                    Action::StartTimer(Timer::A, self.timer_a),
                ]
            }
            (Calling, Timer::B) => vec![
                Action::StopTimer(Timer::A),
                self.terminate(Termination::Timeout(Timer::B)),
            ],
            (Completed, Timer::D) => vec![self.terminate(Termination::Normal)],
            _ => Vec::new(),
        }
    }

    pub fn on_transport_error(&mut self) -> Vec<Action> {
        if self.state == InviteClientState::Terminated {
            return Vec::new();
        }
        vec![self.terminate(Termination::TransportError)]
    }
}
