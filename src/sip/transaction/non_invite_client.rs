//! The non-INVITE client transaction (RFC 3261 section 17.1.2, figure 6) over UDP.
//!
//! Trying: the request is retransmitted on timer E, starting at T1 and doubling up to T2,
//! until a response or timer F (64*T1). Proceeding: retransmitted every T2. Completed: the
//! final response has passed up; later copies are absorbed until timer K (T4).

use std::time::Duration;

use crate::sip::codec::Message;
use crate::sip::timers::SipTimers;

use super::{resend, send, Action, Termination, Timer};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonInviteClientState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Clone, Debug)]
pub struct NonInviteClient {
    state: NonInviteClientState,
    request: Message,
    timers: SipTimers,
    timer_e: Duration,
}

impl NonInviteClient {
    /// Sends `request` and arms timers E and F.
    pub fn start(request: Message, timers: SipTimers) -> (Self, Vec<Action>) {
        let actions = vec![
            send(request.clone()),
            Action::StartTimer(Timer::E, timers.t1),
            Action::StartTimer(Timer::F, timers.timer_f),
        ];
        let t = NonInviteClient {
            state: NonInviteClientState::Trying,
            request,
            timers,
            timer_e: timers.t1,
        };
        (t, actions)
    }

    pub fn state(&self) -> NonInviteClientState {
        self.state
    }

    pub fn request(&self) -> &Message {
        &self.request
    }

    fn terminate(&mut self, why: Termination) -> Action {
        self.state = NonInviteClientState::Terminated;
        Action::Terminated(why)
    }

    pub fn on_message(&mut self, response: Message) -> Vec<Action> {
        use NonInviteClientState::*;
        let Some(code) = response.status() else {
            return Vec::new();
        };
        match (self.state, code) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                vec![Action::PassUp(response)]
            }
            (Trying | Proceeding, _) => {
                self.state = Completed;
                vec![
                    Action::StopTimer(Timer::E),
                    Action::StopTimer(Timer::F),
                    Action::PassUp(response),
                    Action::StartTimer(Timer::K, self.timers.timer_k),
                ]
            }
            _ => Vec::new(),
        }
    }

    pub fn on_timer(&mut self, timer: Timer) -> Vec<Action> {
        use NonInviteClientState::*;
        match (self.state, timer) {
            (Trying, Timer::E) => {
                self.timer_e = (self.timer_e * 2).min(self.timers.t2);
                vec![
                    resend(&self.request),
                    Action::StartTimer(Timer::E, self.timer_e),
                ]
            }
            (Proceeding, Timer::E) => {
                self.timer_e = self.timers.t2;
                vec![
                    resend(&self.request),
                    Action::StartTimer(Timer::E, self.timer_e),
                ]
            }
            (Trying | Proceeding, Timer::F) => vec![
                Action::StopTimer(Timer::E),
                self.terminate(Termination::Timeout(Timer::F)),
            ],
            (Completed, Timer::K) => vec![self.terminate(Termination::Normal)],
            _ => Vec::new(),
        }
    }

    pub fn on_transport_error(&mut self) -> Vec<Action> {
        if self.state == NonInviteClientState::Terminated {
            return Vec::new();
        }
        vec![self.terminate(Termination::TransportError)]
    }
}
