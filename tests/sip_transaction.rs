//! The RFC 3261 section 17 state machines under a virtual clock: the retransmission and
//! timeout schedules (timer A at 0.5, 1.5, 3.5, 7.5 s..., timer B at 32 s, ...), ACK for
//! non-2xx inside the transaction, 2xx retransmission until the ACK, CANCEL and 487.
//!
//! The harness plays the driver: it keeps the armed timers, fires the earliest one, and
//! records what the transaction sent and passed up, with the virtual time.

use std::collections::BTreeMap;
use std::time::Duration;

use callsim::sip::codec::{
    build_request, build_response, AddrSpec, Message, RequestSpec, ResponseSpec, ViaSpec,
};
use callsim::sip::transaction::{
    answer_cancel, Action, InviteServer, InviteServerState, Termination, Timer, Transaction,
};
use callsim::sip::{Method, SipTimers};

fn request(method: Method, branch: &str) -> Message {
    build_request(&RequestSpec {
        method,
        uri: "sip:bob@10.0.0.2:5060".into(),
        via: ViaSpec {
            host: "10.0.0.1".into(),
            port: 5060,
            branch: branch.into(),
        },
        from: AddrSpec {
            uri: "sip:alice@10.0.0.1".into(),
            tag: Some("f1".into()),
        },
        to: AddrSpec {
            uri: "sip:bob@10.0.0.2".into(),
            tag: None,
        },
        call_id: "call-1@agent".into(),
        cseq: 1,
        max_forwards: 70,
        contact: Some("sip:alice@10.0.0.1:5060".into()),
        routes: vec![],
        callsim_call: "out-1".into(),
        extra_headers: vec![],
        content_type: None,
        body: vec![],
    })
    .expect("builds")
}

fn response(req: &Message, code: u16) -> Message {
    let spec = ResponseSpec {
        to_tag: Some("t1".into()),
        ..Default::default()
    };
    build_response(req, code, &spec).expect("builds")
}

/// The driver's view: armed timers, and a log of what happened when.
#[derive(Default)]
struct Harness {
    now: Duration,
    timers: BTreeMap<Timer, Duration>,
    /// (time in ms, start line label, retransmission)
    sent: Vec<(u128, String, bool)>,
    passed_up: Vec<(u128, String)>,
    terminated: Option<(u128, Termination)>,
}

impl Harness {
    fn apply(&mut self, actions: Vec<Action>) {
        for a in actions {
            let ms = self.now.as_millis();
            match a {
                Action::Send {
                    message,
                    retransmission,
                } => self.sent.push((ms, message.start_label(), retransmission)),
                Action::StartTimer(t, d) => {
                    self.timers.insert(t, self.now + d);
                }
                Action::StopTimer(t) => {
                    self.timers.remove(&t);
                }
                Action::PassUp(m) => self.passed_up.push((ms, m.start_label())),
                Action::Terminated(why) => {
                    assert!(self.terminated.is_none(), "terminated twice");
                    self.terminated = Some((ms, why));
                    self.timers.clear();
                }
            }
        }
    }

    /// Fires every timer due up to `until`, in deadline order, then sets the clock there.
    fn advance(&mut self, tx: &mut Transaction, until: Duration) {
        loop {
            let next = self
                .timers
                .iter()
                .map(|(t, d)| (*d, *t))
                .min()
                .filter(|(d, _)| *d <= until);
            let Some((deadline, timer)) = next else { break };
            self.timers.remove(&timer);
            self.now = deadline;
            let actions = tx.on_timer(timer);
            self.apply(actions);
        }
        self.now = until;
    }

    fn deliver(&mut self, tx: &mut Transaction, m: Message) {
        let actions = tx.on_message(m);
        self.apply(actions);
    }

    fn send_times(&self, label: &str) -> Vec<u128> {
        self.sent
            .iter()
            .filter(|(_, l, _)| l == label)
            .map(|(t, _, _)| *t)
            .collect()
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn invite_retransmits_on_timer_a_until_timer_b() {
    let mut h = Harness::default();
    let (mut tx, actions) =
        Transaction::client(request(Method::Invite, "z9hG4bK1"), SipTimers::default());
    h.apply(actions);
    h.advance(&mut tx, secs(60.0));
    assert_eq!(
        h.send_times("INVITE"),
        vec![0, 500, 1500, 3500, 7500, 15500, 31500]
    );
    assert_eq!(
        h.sent.iter().filter(|s| s.2).count(),
        6,
        "six retransmissions"
    );
    assert_eq!(h.terminated, Some((32_000, Termination::Timeout(Timer::B))));
}

#[test]
fn timer_b_is_settable_alone() {
    let timers = SipTimers {
        timer_b: secs(5.0),
        ..SipTimers::default()
    };
    let mut h = Harness::default();
    let (mut tx, actions) = Transaction::client(request(Method::Invite, "z9hG4bK1"), timers);
    h.apply(actions);
    h.advance(&mut tx, secs(60.0));
    assert_eq!(h.send_times("INVITE"), vec![0, 500, 1500, 3500]);
    assert_eq!(h.terminated, Some((5_000, Termination::Timeout(Timer::B))));
}

#[test]
fn provisional_stops_retransmission_and_non_2xx_is_acked_inside() {
    let invite = request(Method::Invite, "z9hG4bK2");
    let mut h = Harness::default();
    let (mut tx, actions) = Transaction::client(invite.clone(), SipTimers::default());
    h.apply(actions);
    h.advance(&mut tx, secs(0.7));
    h.deliver(&mut tx, response(&invite, 180));
    h.advance(&mut tx, secs(10.0));
    assert_eq!(
        h.send_times("INVITE"),
        vec![0, 500],
        "no retransmission in Proceeding"
    );
    h.deliver(&mut tx, response(&invite, 486));
    h.advance(&mut tx, secs(11.0));
    h.deliver(&mut tx, response(&invite, 486)); // the UAS retransmits its final response
    h.advance(&mut tx, secs(100.0));
    assert_eq!(h.send_times("ACK"), vec![10_000, 11_000]);
    assert_eq!(
        h.passed_up,
        vec![(700, "180".to_string()), (10_000, "486".to_string())],
        "the retransmitted 486 is absorbed"
    );
    assert_eq!(
        h.terminated,
        Some((42_000, Termination::Normal)),
        "timer D = 32 s"
    );
}

#[test]
fn invite_2xx_passes_up_and_ends_without_ack() {
    let invite = request(Method::Invite, "z9hG4bK3");
    let mut h = Harness::default();
    let (mut tx, actions) = Transaction::client(invite.clone(), SipTimers::default());
    h.apply(actions);
    h.advance(&mut tx, secs(1.0));
    h.deliver(&mut tx, response(&invite, 200));
    assert!(h.send_times("ACK").is_empty(), "the 2xx ACK is end to end");
    assert_eq!(h.passed_up, vec![(1000, "200".to_string())]);
    assert_eq!(h.terminated, Some((1000, Termination::Normal)));
}

/// A 2xx that crossed a failure (a 487 after a CANCEL) reaches a transaction in Completed:
/// it passes up for the UA core to ACK and end (RFC 6026 section 7.2), it is not ACKed by
/// the transaction (a 2xx ACK is end to end) and does not restart anything.
#[test]
fn a_2xx_after_the_final_in_completed_passes_up() {
    let invite = request(Method::Invite, "z9hG4bK3c");
    let mut h = Harness::default();
    let (mut tx, actions) = Transaction::client(invite.clone(), SipTimers::default());
    h.apply(actions);
    h.advance(&mut tx, secs(0.2));
    h.deliver(&mut tx, response(&invite, 487));
    h.advance(&mut tx, secs(0.3));
    h.deliver(&mut tx, response(&invite, 200));
    assert_eq!(
        h.passed_up,
        vec![(200, "487".to_string()), (300, "200".to_string())]
    );
    assert_eq!(h.send_times("ACK"), vec![200], "only the 487 is ACKed here");
    h.advance(&mut tx, secs(100.0));
    assert_eq!(h.terminated, Some((32_200, Termination::Normal)));
}

#[test]
fn non_invite_retransmits_capped_at_t2_until_timer_f() {
    let mut h = Harness::default();
    let (mut tx, actions) =
        Transaction::client(request(Method::Bye, "z9hG4bK4"), SipTimers::default());
    h.apply(actions);
    h.advance(&mut tx, secs(60.0));
    assert_eq!(
        h.send_times("BYE"),
        vec![0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(h.terminated, Some((32_000, Termination::Timeout(Timer::F))));
}

#[test]
fn non_invite_final_waits_timer_k() {
    let bye = request(Method::Bye, "z9hG4bK5");
    let mut h = Harness::default();
    let (mut tx, actions) = Transaction::client(bye.clone(), SipTimers::default());
    h.apply(actions);
    h.advance(&mut tx, secs(0.2));
    h.deliver(&mut tx, response(&bye, 200));
    h.deliver(&mut tx, response(&bye, 200));
    h.advance(&mut tx, secs(30.0));
    assert_eq!(h.send_times("BYE"), vec![0]);
    assert_eq!(h.passed_up, vec![(200, "200".to_string())]);
    assert_eq!(
        h.terminated,
        Some((5_200, Termination::Normal)),
        "timer K = T4"
    );
}

#[test]
fn invite_server_sends_trying_and_retransmits_final_until_ack() {
    let invite = request(Method::Invite, "z9hG4bK6");
    let mut h = Harness::default();
    let (mut tx, actions) = Transaction::server(invite.clone(), SipTimers::default());
    h.apply(actions);
    assert_eq!(h.passed_up, vec![(0, "INVITE".to_string())]);
    assert_eq!(h.send_times("100"), vec![0]);
    h.deliver(&mut tx, invite.clone()); // retransmitted INVITE: the 100 again
    h.apply(tx.respond(response(&invite, 486)));
    h.advance(&mut tx, secs(8.0));
    assert_eq!(h.send_times("100"), vec![0, 0]);
    assert_eq!(h.send_times("486"), vec![0, 500, 1500, 3500, 7500]);
    let ack = callsim::sip::codec::build_ack_for_non_2xx(&invite, &response(&invite, 486))
        .expect("builds");
    h.deliver(&mut tx, ack);
    h.advance(&mut tx, secs(60.0));
    assert_eq!(h.send_times("486").len(), 5, "the ACK stops timer G");
    assert_eq!(
        h.terminated,
        Some((13_000, Termination::Normal)),
        "timer I = T4"
    );
}

#[test]
fn invite_server_gives_up_on_timer_h_without_ack() {
    let invite = request(Method::Invite, "z9hG4bK7");
    let mut h = Harness::default();
    let (mut tx, actions) = Transaction::server(invite.clone(), SipTimers::default());
    h.apply(actions);
    h.apply(tx.respond(response(&invite, 480)));
    h.advance(&mut tx, secs(60.0));
    assert_eq!(
        h.send_times("480"),
        vec![0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(h.terminated, Some((32_000, Termination::Timeout(Timer::H))));
}

#[test]
fn invite_server_retransmits_2xx_until_the_end_to_end_ack() {
    let invite = request(Method::Invite, "z9hG4bK8");
    let (mut server, actions) = InviteServer::start(invite.clone(), SipTimers::default());
    let mut h = Harness::default();
    h.apply(actions);
    h.apply(server.respond(response(&invite, 200)));
    assert_eq!(server.state(), InviteServerState::Accepted);
    let mut tx = Transaction::InviteServer(server);
    h.advance(&mut tx, secs(2.0));
    assert_eq!(h.send_times("200"), vec![0, 500, 1500]);
    let ack = request(Method::Ack, "z9hG4bKother");
    let Transaction::InviteServer(server) = &mut tx else {
        unreachable!()
    };
    let actions = server.on_2xx_ack(ack);
    h.apply(actions);
    assert_eq!(h.passed_up.last(), Some(&(2000, "ACK".to_string())));
    h.deliver(&mut tx, invite.clone()); // a late copy of the INVITE is absorbed
    h.advance(&mut tx, secs(60.0));
    assert_eq!(
        h.send_times("200"),
        vec![0, 500, 1500],
        "no 2xx after the ACK"
    );
    assert_eq!(
        h.terminated,
        Some((7000, Termination::Normal)),
        "timer I = T4"
    );
}

#[test]
fn cancel_gets_200_and_the_invite_487() {
    let invite = request(Method::Invite, "z9hG4bK9");
    let (mut server, _) = InviteServer::start(invite.clone(), SipTimers::default());
    let cancel = callsim::sip::codec::build_cancel(&invite).expect("builds");
    let (reply, actions) = answer_cancel(&cancel, Some(&mut server), "t1");
    assert_eq!(reply.expect("answered").status(), Some(200));
    let sent: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { message, .. } => Some(message.start_label()),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec!["487"]);
    assert_eq!(server.state(), InviteServerState::Completed);
    // Too late: a second CANCEL gets 200 but no second final response.
    let (reply, actions) = answer_cancel(&cancel, Some(&mut server), "t1");
    assert_eq!(reply.expect("answered").status(), Some(200));
    assert!(actions.is_empty());
    let (reply, _) = answer_cancel(&cancel, None, "t1");
    assert_eq!(reply.expect("answered").status(), Some(481));
}

#[test]
fn non_invite_server_answers_retransmissions_until_timer_j() {
    let bye = request(Method::Bye, "z9hG4bK10");
    let mut h = Harness::default();
    let (mut tx, actions) = Transaction::server(bye.clone(), SipTimers::default());
    h.apply(actions);
    h.deliver(&mut tx, bye.clone()); // absorbed in Trying
    h.apply(tx.respond(response(&bye, 200)));
    h.advance(&mut tx, secs(1.0));
    h.deliver(&mut tx, bye.clone());
    h.advance(&mut tx, secs(100.0));
    assert_eq!(h.passed_up, vec![(0, "BYE".to_string())]);
    assert_eq!(
        h.sent,
        vec![(0, "200".into(), false), (1000, "200".into(), true)]
    );
    assert_eq!(
        h.terminated,
        Some((32_000, Termination::Normal)),
        "timer J = 64*T1"
    );
}
