//! RFC 3665 basic call flows between two turmoil hosts, `alice` (caller) and `bob`
//! (callee), each pinned by an insta snapshot of its ladder diagram with sim times:
//! §3.1 successful session, §3.8 no answer (CANCEL, 487), §3.9 busy (486), §3.10 no
//! response (INVITE retransmissions, then timer B), §3.11 180 then 480. Then calls under
//! 30% packet loss each way, which complete through retransmission.
//!
//! Every link has a fixed 10 ms one-way latency and the tick is 1 ms, so the times in the
//! ladders read exactly. A `*` in a ladder marks a retransmission.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

use callsim::history::ladder::ladder;
use callsim::history::{emit, host_span, Event, History, Recorder};
use callsim::net::UdpEndpoint;
use callsim::nodes::NodeCtx;
use callsim::scenario::{Dur, NodeKind, RunConfig, Scenario, Topology};
use callsim::sip::ua::{
    CallEvent, CallOutcome, CallRequest, HangupOutcome, IncomingCalls, SipUa, UaConfig,
};
use callsim::sip::SipTimers;
use callsim::testbed::rng::rng_for;
use callsim::testbed::{Control, EPOCH};

const SIP_PORT: u16 = 5060;
const LATENCY: Duration = Duration::from_millis(10);

/// What a test-bed node would get; only the name, control handle and seed matter here.
fn node_ctx(name: &str, control: &Control, seed: u64) -> NodeCtx {
    NodeCtx {
        name: Arc::from(name),
        kind: NodeKind::Echo,
        pod: 0,
        section: "echo",
        seed,
        incarnation: 0,
        control: control.handle(),
        scenario: Arc::new(Scenario::new(RunConfig::new(Dur::from_secs(600)))),
        topology: Arc::new(Topology { hosts: Vec::new() }),
    }
}

async fn start_ua(name: &str, control: &Control, seed: u64) -> (SipUa, IncomingCalls) {
    let ctx = node_ctx(name, control, seed);
    let socket = UdpEndpoint::bind(&ctx, SIP_PORT).await.expect("bind 5060");
    let config = UaConfig {
        timers: SipTimers::default(),
        user: name.to_string(),
    };
    SipUa::start(socket, config, rng_for(seed, &[name, "sip"]))
}

fn bob_addr() -> SocketAddr {
    SocketAddr::new(turmoil::lookup("bob"), SIP_PORT)
}

fn call_request(call: &str, ringing_timeout: Duration) -> CallRequest {
    CallRequest {
        call: call.to_string(),
        target: bob_addr(),
        uri: format!("sip:bob@{}:{SIP_PORT}", bob_addr().ip()),
        ringing_timeout,
        extra_headers: Vec::new(),
    }
}

/// Packet loss on every datagram a host sends to its peer.
#[derive(Clone, Copy)]
struct Loss(f64);

/// Whether bob's host runs a SIP user agent at all.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BobSip {
    On,
    Off,
}

/// Runs `alice` as a client (the run ends when it returns) and `bob` as a host, records
/// the history.
fn run_flow<A, AF, B, BF>(seed: u64, loss: Loss, bob_sip: BobSip, alice: A, bob: B) -> History
where
    A: FnOnce(SipUa) -> AF + 'static,
    AF: Future<Output = ()> + 'static,
    B: Fn(Option<IncomingCalls>) -> BF + 'static,
    BF: Future<Output = ()> + 'static,
{
    let recorder = Recorder::new();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    tracing::subscriber::with_default(subscriber, || {
        let mut sim = turmoil::Builder::new()
            .rng_seed(seed)
            .epoch(UNIX_EPOCH + EPOCH)
            .tick_duration(Duration::from_millis(1))
            .simulation_duration(Duration::from_secs(600))
            .min_message_latency(LATENCY)
            .max_message_latency(LATENCY)
            .build();
        let bob_control = Control::new(toml::Value::Table(Default::default()));
        let bob = Rc::new(bob);
        sim.host("bob", move || {
            let control = bob_control.clone();
            let bob = bob.clone();
            async move {
                set_loss(&control, "alice", loss);
                if bob_sip == BobSip::On {
                    let (_ua, incoming) = start_ua("bob", &control, seed).await;
                    bob(Some(incoming)).await;
                    std::future::pending::<()>().await;
                }
                bob(None).await;
                std::future::pending::<()>().await;
                Ok(())
            }
            .instrument(host_span("bob"))
        });
        let alice_control = Control::new(toml::Value::Table(Default::default()));
        sim.client(
            "alice",
            async move {
                set_loss(&alice_control, "bob", loss);
                let (ua, _incoming) = start_ua("alice", &alice_control, seed).await;
                alice(ua).await;
                // Let the last transactions finish their wait timers on the wire.
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(())
            }
            .instrument(host_span("alice")),
        );
        sim.run().expect("the flow runs to completion");
    });
    recorder.take()
}

fn set_loss(control: &Control, peer: &str, loss: Loss) {
    if loss.0 > 0.0 {
        control.update_packet_rule(turmoil::lookup(peer), |r| r.loss = loss.0);
    }
}

/// A shared slot the caller writes its observations into.
type Notes = Rc<RefCell<Vec<String>>>;

fn note(notes: &Notes, text: impl Into<String>) {
    notes.borrow_mut().push(text.into());
}

async fn follow(notes: &Notes, mut call: callsim::sip::ua::OutgoingCall) -> CallOutcome {
    loop {
        match call.next_event().await {
            CallEvent::Progress(code) => note(notes, format!("progress {code}")),
            CallEvent::Final(outcome) => return outcome,
        }
    }
}

/// Records the caller's view of the end of the INVITE as a `call.end` note in the ladder:
/// the code a platform would report (answered 200, timer B 408) and why.
fn note_end(call: &str, outcome: &CallOutcome) {
    let status = match outcome {
        CallOutcome::Answered(_) => 200,
        CallOutcome::Rejected(code) => *code,
        CallOutcome::TimedOut | CallOutcome::Cancelled => 487,
        CallOutcome::TransportFailure => 408,
    };
    emit(Event::CallEnd {
        call,
        status,
        reason: &outcome_name(outcome),
    });
}

fn outcome_name(outcome: &CallOutcome) -> String {
    match outcome {
        CallOutcome::Answered(_) => "answered".into(),
        CallOutcome::Rejected(code) => format!("rejected {code}"),
        CallOutcome::TimedOut => "timed out".into(),
        CallOutcome::Cancelled => "cancelled".into(),
        CallOutcome::TransportFailure => "transport failure".into(),
    }
}

#[test]
fn rfc3665_3_1_successful_session() {
    let notes: Notes = Rc::default();
    let n = notes.clone();
    let history = run_flow(
        1,
        Loss(0.0),
        BobSip::On,
        move |ua| async move {
            let call = ua.place_call(call_request("out-1", Duration::from_secs(30)));
            let outcome = follow(&n, call).await;
            note_end("out-1", &outcome);
            note(&n, outcome_name(&outcome));
            let CallOutcome::Answered(active) = outcome else {
                return;
            };
            tokio::time::sleep(Duration::from_secs(5)).await;
            note(&n, format!("hangup {:?}", active.hangup().await));
        },
        |incoming| async move {
            let mut incoming = incoming.expect("bob runs a user agent");
            let call = incoming.next().await.expect("a call arrives");
            call.ring();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let mut active = call.answer().await.expect("acknowledged");
            active.ended().await;
        },
    );
    assert_eq!(
        *notes.borrow(),
        vec!["progress 180", "answered", "hangup Ok"]
    );
    insta::assert_snapshot!("rfc3665_3_1_successful_session", ladder(&history, "out-1"));
}

#[test]
fn rfc3665_3_8_no_answer_cancel_487() {
    let notes: Notes = Rc::default();
    let n = notes.clone();
    let history = run_flow(
        1,
        Loss(0.0),
        BobSip::On,
        move |ua| async move {
            let call = ua.place_call(call_request("out-1", Duration::from_secs(10)));
            let outcome = follow(&n, call).await;
            note_end("out-1", &outcome);
            note(&n, outcome_name(&outcome));
        },
        |incoming| async move {
            let mut incoming = incoming.expect("bob runs a user agent");
            let mut call = incoming.next().await.expect("a call arrives");
            call.ring();
            call.cancelled().await;
        },
    );
    assert_eq!(*notes.borrow(), vec!["progress 180", "timed out"]);
    insta::assert_snapshot!("rfc3665_3_8_no_answer", ladder(&history, "out-1"));
}

#[test]
fn rfc3665_3_9_busy_486() {
    let notes: Notes = Rc::default();
    let n = notes.clone();
    let history = run_flow(
        1,
        Loss(0.0),
        BobSip::On,
        move |ua| async move {
            let call = ua.place_call(call_request("out-1", Duration::from_secs(30)));
            let outcome = follow(&n, call).await;
            note_end("out-1", &outcome);
            note(&n, outcome_name(&outcome));
        },
        |incoming| async move {
            let mut incoming = incoming.expect("bob runs a user agent");
            let call = incoming.next().await.expect("a call arrives");
            call.reject(486);
        },
    );
    assert_eq!(*notes.borrow(), vec!["rejected 486"]);
    insta::assert_snapshot!("rfc3665_3_9_busy", ladder(&history, "out-1"));
}

#[test]
fn rfc3665_3_10_no_response_retransmits_then_times_out() {
    let notes: Notes = Rc::default();
    let n = notes.clone();
    let history = run_flow(
        1,
        Loss(0.0),
        BobSip::Off,
        move |ua| async move {
            let call = ua.place_call(call_request("out-1", Duration::from_secs(60)));
            let outcome = follow(&n, call).await;
            note_end("out-1", &outcome);
            note(&n, outcome_name(&outcome));
        },
        // Bob's host is up but runs no SIP: the INVITEs fall on a closed port.
        |_| async move {},
    );
    assert_eq!(*notes.borrow(), vec!["transport failure"]);
    let invites: Vec<(u64, bool)> = history
        .of_kind("sip.send")
        .map(|r| (r.t_ms, r.bool("retransmission").expect("flag")))
        .collect();
    assert_eq!(
        invites,
        vec![
            (0, false),
            (500, true),
            (1500, true),
            (3500, true),
            (7500, true),
            (15500, true),
            (31500, true)
        ]
    );
    insta::assert_snapshot!("rfc3665_3_10_no_response", ladder(&history, "out-1"));
}

#[test]
fn rfc3665_3_11_ringing_then_480() {
    let notes: Notes = Rc::default();
    let n = notes.clone();
    let history = run_flow(
        1,
        Loss(0.0),
        BobSip::On,
        move |ua| async move {
            let call = ua.place_call(call_request("out-1", Duration::from_secs(30)));
            let outcome = follow(&n, call).await;
            note_end("out-1", &outcome);
            note(&n, outcome_name(&outcome));
        },
        |incoming| async move {
            let mut incoming = incoming.expect("bob runs a user agent");
            let call = incoming.next().await.expect("a call arrives");
            call.ring();
            tokio::time::sleep(Duration::from_secs(3)).await;
            call.reject(480);
        },
    );
    assert_eq!(*notes.borrow(), vec!["progress 180", "rejected 480"]);
    insta::assert_snapshot!(
        "rfc3665_3_11_temporarily_unavailable",
        ladder(&history, "out-1")
    );
}

/// Twenty calls, one after the other, with 30% of the datagrams lost in each direction.
fn lossy_calls(seed: u64) -> (Vec<String>, History) {
    let notes: Notes = Rc::default();
    let n = notes.clone();
    let history = run_flow(
        seed,
        Loss(0.3),
        BobSip::On,
        move |ua| async move {
            for i in 1..=20 {
                let call =
                    ua.place_call(call_request(&format!("out-{i}"), Duration::from_secs(30)));
                let outcome = call.outcome().await;
                let CallOutcome::Answered(active) = outcome else {
                    note(&n, format!("out-{i} {}", outcome_name(&outcome)));
                    continue;
                };
                tokio::time::sleep(Duration::from_secs(2)).await;
                let hangup = active.hangup().await;
                note(&n, format!("out-{i} answered, hangup {hangup:?}"));
            }
        },
        |incoming| async move {
            let mut incoming = incoming.expect("bob runs a user agent");
            while let Some(call) = incoming.next().await {
                callsim::testbed::spawn(async move {
                    call.ring();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if let Ok(mut active) = call.answer().await {
                        active.ended().await;
                    }
                });
            }
        },
    );
    let notes = notes.borrow().clone();
    (notes, history)
}

#[test]
fn calls_complete_under_30_percent_loss_each_way() {
    let (notes, history) = lossy_calls(7);
    let expected: Vec<String> = (1..=20)
        .map(|i| format!("out-{i} answered, hangup {:?}", HangupOutcome::Ok))
        .collect();
    assert_eq!(notes, expected);
    let sends = history.of_kind("sip.send").count();
    let retransmissions = history
        .of_kind("sip.send")
        .filter(|r| r.bool("retransmission") == Some(true))
        .count();
    println!("30% loss: {sends} SIP sends, {retransmissions} retransmissions");
    assert!(
        retransmissions >= 10,
        "loss must show as retransmissions, got {retransmissions} of {sends}"
    );
}

#[test]
fn same_seed_same_history() {
    let (_, a) = lossy_calls(11);
    let (_, b) = lossy_calls(11);
    assert_eq!(a.first_divergence(&b), None);
    assert_eq!(a.hash(), b.hash());
}
