//! The non-INVITE server transaction (RFC 3261 section 17.2.2, figure 8) over UDP.
//!
//! Trying: the request has passed up; retransmissions are absorbed. Proceeding: a
//! retransmission gets the latest provisional response again. Completed: it gets the final
//! response again, until timer J (64*T1).

use crate::sip::codec::Message;
use crate::sip::timers::SipTimers;

use super::{resend, send, Action, Termination, Timer};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonInviteServerState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Clone, Debug)]
pub struct NonInviteServer {
    state: NonInviteServerState,
    request: Message,
    timers: SipTimers,
    last_response: Option<Message>,
}

impl NonInviteServer {
    /// Takes a new request and passes it up.
    pub fn start(request: Message, timers: SipTimers) -> (Self, Vec<Action>) {
        let actions = vec![Action::PassUp(request.clone())];
        let t = NonInviteServer {
            state: NonInviteServerState::Trying,
            request,
            timers,
            last_response: None,
        };
        (t, actions)
    }

    pub fn state(&self) -> NonInviteServerState {
        self.state
    }

    pub fn request(&self) -> &Message {
        &self.request
    }

    /// A retransmission of the request.
    pub fn on_message(&mut self, request: Message) -> Vec<Action> {
        if !request.is_request() {
            return Vec::new();
        }
        match self.state {
            NonInviteServerState::Proceeding | NonInviteServerState::Completed => {
                self.last_response.iter().map(resend).collect()
            }
            NonInviteServerState::Trying | NonInviteServerState::Terminated => Vec::new(),
        }
    }

    /// The transaction user's response.
    pub fn respond(&mut self, response: Message) -> Vec<Action> {
        let Some(code) = response.status() else {
            return Vec::new();
        };
        if !matches!(
            self.state,
            NonInviteServerState::Trying | NonInviteServerState::Proceeding
        ) {
            return Vec::new();
        }
        self.last_response = Some(response.clone());
        if code < 200 {
            self.state = NonInviteServerState::Proceeding;
            return vec![send(response)];
        }
        self.state = NonInviteServerState::Completed;
        vec![
            send(response),
            Action::StartTimer(Timer::J, self.timers.timer_j),
        ]
    }

    pub fn on_timer(&mut self, timer: Timer) -> Vec<Action> {
        if self.state == NonInviteServerState::Completed && timer == Timer::J {
            self.state = NonInviteServerState::Terminated;
            return vec![Action::Terminated(Termination::Normal)];
        }
        Vec::new()
    }

    pub fn on_transport_error(&mut self) -> Vec<Action> {
        if self.state == NonInviteServerState::Terminated {
            return Vec::new();
        }
        self.state = NonInviteServerState::Terminated;
        vec![Action::Terminated(Termination::TransportError)]
    }
}
