//! The INVITE server transaction (RFC 3261 section 17.2.1, figure 7) over UDP, with the
//! `Accepted` state of RFC 6026 for 2xx responses.
//!
//! Proceeding: the INVITE passes up and a 100 Trying goes out at once; a retransmitted
//! INVITE gets the latest provisional response again. Completed (300-699 sent): the final
//! response is retransmitted on timer G (T1 doubling to T2) until the ACK arrives or timer
//! H (64*T1) gives up. Confirmed: further ACKs are absorbed until timer I (T4).
//! Accepted (2xx sent): the 2xx is retransmitted on the same G/H schedule (the UAS core's
//! duty in RFC 3261 section 13.3.1.4) until the end-to-end ACK arrives through
//! [`InviteServer::on_2xx_ack`] (then Confirmed, as for a non-2xx, until timer I);
//! retransmitted INVITEs are absorbed.

use std::time::Duration;

use crate::sip::codec::{build_response, Message, ResponseSpec};
use crate::sip::header::Method;
use crate::sip::timers::SipTimers;

use super::{resend, send, Action, Termination, Timer};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteServerState {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

#[derive(Clone, Debug)]
pub struct InviteServer {
    state: InviteServerState,
    request: Message,
    timers: SipTimers,
    timer_g: Duration,
    /// The latest response sent: what a retransmitted INVITE or timer G re-sends.
    last_response: Option<Message>,
}

impl InviteServer {
    /// Takes a new INVITE: answers 100 Trying, then passes it up. In that order: a TU
    /// that answers at once (a 491, a 481) must not have its final response followed
    /// by the 100.
    pub fn start(request: Message, timers: SipTimers) -> (Self, Vec<Action>) {
        let trying = build_response(&request, 100, &ResponseSpec::default()).ok();
        let mut actions: Vec<Action> = trying.iter().map(|t| send(t.clone())).collect();
        actions.push(Action::PassUp(request.clone()));
        let t = InviteServer {
            state: InviteServerState::Proceeding,
            request,
            timers,
            timer_g: timers.t1,
            last_response: trying,
        };
        (t, actions)
    }

    pub fn state(&self) -> InviteServerState {
        self.state
    }

    pub fn request(&self) -> &Message {
        &self.request
    }

    /// The final response sent, once there is one.
    pub fn final_response(&self) -> Option<&Message> {
        self.last_response
            .as_ref()
            .filter(|r| r.status().is_some_and(|c| c >= 200))
    }

    fn terminate(&mut self, why: Termination) -> Action {
        self.state = InviteServerState::Terminated;
        Action::Terminated(why)
    }

    /// A request matched to this transaction: a retransmitted INVITE or the ACK of a
    /// non-2xx response.
    pub fn on_message(&mut self, request: Message) -> Vec<Action> {
        use InviteServerState::*;
        match (self.state, request.method()) {
            (Proceeding | Completed, Some(Method::Invite)) => {
                self.last_response.iter().map(resend).collect()
            }
            (Completed, Some(Method::Ack)) => {
                self.state = Confirmed;
                vec![
                    Action::StopTimer(Timer::G),
                    Action::StopTimer(Timer::H),
                    Action::StartTimer(Timer::I, self.timers.timer_i),
                ]
            }
            (Accepted, Some(Method::Ack)) => self.on_2xx_ack(request),
            _ => Vec::new(),
        }
    }

    /// The transaction user's response to the INVITE.
    pub fn respond(&mut self, response: Message) -> Vec<Action> {
        let Some(code) = response.status() else {
            return Vec::new();
        };
        if self.state != InviteServerState::Proceeding {
            return Vec::new();
        }
        self.last_response = Some(response.clone());
        if code < 200 {
            return vec![send(response)];
        }
        self.state = if code < 300 {
            InviteServerState::Accepted
        } else {
            InviteServerState::Completed
        };
        self.timer_g = self.timers.t1;
        vec![
            send(response),
            Action::StartTimer(Timer::G, self.timer_g),
            Action::StartTimer(Timer::H, self.timers.timer_h),
        ]
    }

    /// The end-to-end ACK of our 2xx (matched by the driver on the dialog, since it has a
    /// branch of its own): stops the 2xx retransmissions, passes the ACK up, and waits in
    /// Confirmed for timer I so that late INVITE copies (reordered by jitter) are absorbed
    /// rather than taken for a new call.
    pub fn on_2xx_ack(&mut self, ack: Message) -> Vec<Action> {
        if self.state != InviteServerState::Accepted {
            return Vec::new();
        }
        self.state = InviteServerState::Confirmed;
        vec![
            Action::StopTimer(Timer::G),
            Action::StopTimer(Timer::H),
            Action::PassUp(ack),
            Action::StartTimer(Timer::I, self.timers.timer_i),
        ]
    }

    pub fn on_timer(&mut self, timer: Timer) -> Vec<Action> {
        use InviteServerState::*;
        match (self.state, timer) {
            (Completed | Accepted, Timer::G) => {
                self.timer_g = (self.timer_g * 2).min(self.timers.t2);
                let mut out: Vec<Action> = self.last_response.iter().map(resend).collect();
                out.push(Action::StartTimer(Timer::G, self.timer_g));
                out
            }
            (Completed | Accepted, Timer::H) => vec![
                Action::StopTimer(Timer::G),
                self.terminate(Termination::Timeout(Timer::H)),
            ],
            (Confirmed, Timer::I) => vec![self.terminate(Termination::Normal)],
            _ => Vec::new(),
        }
    }

    pub fn on_transport_error(&mut self) -> Vec<Action> {
        if self.state == InviteServerState::Terminated {
            return Vec::new();
        }
        vec![self.terminate(Termination::TransportError)]
    }
}
