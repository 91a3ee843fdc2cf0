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
use callsim::scenario::Topology;
use callsim::sim::rng::rng_for;
use callsim::sim::Control;
use callsim::sim::NodeCtx;
use callsim::sip::ua::{
    CallEvent, CallOutcome, CallRequest, HangupOutcome, IncomingCalls, SipUa, UaConfig,
};
use callsim::sip::SipTimers;
use callsim::testbed::EPOCH;

const SIP_PORT: u16 = 5060;
const LATENCY: Duration = Duration::from_millis(10);

/// What a test-bed node would get; only the name, control handle and seed matter here.
fn node_ctx(name: &str, control: &Control, seed: u64) -> NodeCtx {
    NodeCtx {
        name: Arc::from(name),
        kind: "echo",
        pod: 0,
        section: "echo",
        seed,
        incarnation: 0,
        control: control.handle(),
        workload: Arc::new(toml::Value::Table(Default::default())),
        topology: Arc::new(Topology { hosts: Vec::new() }),
    }
}

async fn start_ua(name: &str, control: &Control, seed: u64) -> (SipUa, IncomingCalls) {
    let ctx = node_ctx(name, control, seed);
    let socket = UdpEndpoint::bind(&ctx, SIP_PORT).await.expect("bind 5060");
    let config = UaConfig {
        timers: SipTimers::default(),
        user: name.to_string(),
        session_timer: None,
        advertised: None,
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
        sdp: None,
    }
}

/// The platform's `sip_conformance` oracle (ACKs, 487 after CANCEL, BYE only in a
/// confirmed dialog) finds nothing wrong with a flow.
fn assert_conformant(history: &History) {
    let end_ms = history.records.last().map_or(0, |r| r.t_ms);
    let params = callsim::oracles::sip::Params::default();
    let violations = callsim::oracles::sip::check(history, &params, end_ms + 60_000);
    assert!(violations.is_empty(), "{violations:#?}");
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
    let history = recorder.take();
    assert_conformant(&history);
    history
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
            CallEvent::EarlyMedia { code, .. } => note(notes, format!("early media {code}")),
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
        outcome: callsim::history::EndOutcome::of_status(status),
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
                callsim::sim::spawn(async move {
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

#[test]
fn callee_hangs_up_and_the_caller_notices() {
    let notes: Notes = Rc::default();
    let n = notes.clone();
    let history = run_flow(
        1,
        Loss(0.0),
        BobSip::On,
        move |ua| async move {
            let call = ua.place_call(call_request("out-1", Duration::from_secs(30)));
            let CallOutcome::Answered(mut active) = call.outcome().await else {
                note(&n, "not answered");
                return;
            };
            note(&n, format!("{:?}", active.ended().await));
            note(&n, format!("{:?}", active.hangup().await));
        },
        |incoming| async move {
            let mut incoming = incoming.expect("bob runs a user agent");
            let call = incoming.next().await.expect("a call arrives");
            let active = call.answer().await.expect("acknowledged");
            tokio::time::sleep(Duration::from_secs(3)).await;
            assert_eq!(active.hangup().await, HangupOutcome::Ok);
        },
    );
    assert_eq!(*notes.borrow(), vec!["RemoteHangup", "AlreadyEnded"]);
    let byes: Vec<&str> = history
        .of_kind("sip.send")
        .filter(|r| r.str("start_line") == Some("BYE"))
        .map(|r| &*r.host)
        .collect();
    assert_eq!(byes, vec!["bob"]);
}

#[test]
fn caller_cancel_before_any_provisional_waits_for_the_100() {
    let notes: Notes = Rc::default();
    let n = notes.clone();
    let history = run_flow(
        1,
        Loss(0.0),
        BobSip::On,
        move |ua| async move {
            let call = ua.place_call(call_request("out-1", Duration::from_secs(30)));
            call.cancel();
            note(&n, outcome_name(&call.outcome().await));
        },
        |incoming| async move {
            let mut incoming = incoming.expect("bob runs a user agent");
            let mut call = incoming.next().await.expect("a call arrives");
            call.cancelled().await;
        },
    );
    assert_eq!(*notes.borrow(), vec!["cancelled"]);
    let cancel_at = history
        .of_kind("sip.send")
        .find(|r| r.str("start_line") == Some("CANCEL"))
        .map(|r| r.t_ms);
    assert_eq!(
        cancel_at,
        Some(20),
        "the CANCEL leaves when the 100 arrives"
    );
}

#[test]
fn a_2xx_crossing_the_cancel_is_acked_then_hung_up() {
    let notes: Notes = Rc::default();
    let (n, m) = (notes.clone(), notes.clone());
    let history = run_flow(
        1,
        Loss(0.0),
        BobSip::On,
        move |ua| async move {
            let call = ua.place_call(call_request("out-1", Duration::from_secs(30)));
            tokio::time::sleep(Duration::from_millis(1005)).await;
            call.cancel();
            note(
                &n,
                format!("alice: {}", outcome_name(&call.outcome().await)),
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        },
        move |incoming| {
            let m = m.clone();
            async move {
                let mut incoming = incoming.expect("bob runs a user agent");
                let call = incoming.next().await.expect("a call arrives");
                tokio::time::sleep(Duration::from_millis(990)).await;
                let mut active = call.answer().await.expect("acknowledged");
                note(&m, format!("bob: {:?}", active.ended().await));
            }
        },
    );
    assert_eq!(
        *notes.borrow(),
        vec!["alice: cancelled", "bob: RemoteHangup"]
    );
    insta::assert_snapshot!("answer_crosses_cancel", ladder(&history, "out-1"));
}

#[test]
fn a_dropped_incoming_call_is_rejected_480() {
    let notes: Notes = Rc::default();
    let n = notes.clone();
    run_flow(
        1,
        Loss(0.0),
        BobSip::On,
        move |ua| async move {
            let call = ua.place_call(call_request("out-1", Duration::from_secs(30)));
            note(&n, outcome_name(&call.outcome().await));
        },
        |incoming| async move {
            let mut incoming = incoming.expect("bob runs a user agent");
            drop(incoming.next().await.expect("a call arrives"));
        },
    );
    assert_eq!(*notes.borrow(), vec!["rejected 480"]);
}

/// Sends raw bytes from alice's port 6000 to bob and collects what comes back within
/// `wait`, as (ms since the send, start line).
async fn raw_exchange(bytes: &[u8], wait: Duration) -> Vec<(u128, String)> {
    let socket = turmoil::net::UdpSocket::bind(("0.0.0.0", 6000))
        .await
        .expect("bind 6000");
    socket.send_to(bytes, bob_addr()).await.expect("sent");
    let start = tokio::time::Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok((n, _))) =
        tokio::time::timeout_at(start + wait, socket.recv_from(&mut buf)).await
    {
        let label = callsim::sip::parse(&buf[..n])
            .map(|m| m.start_label())
            .unwrap_or_else(|e| format!("unparsable: {e}"));
        got.push((start.elapsed().as_millis(), label));
    }
    got
}

fn raw_request(method: &str, cseq_method: &str) -> Vec<u8> {
    raw(
        method,
        cseq_method,
        &format!("raw-{method}"),
        None,
        "X-Callsim-Call: out-9\r\n",
        "",
    )
}

/// A request from alice's port 6000 to bob: `method` with CSeq `1
/// <cseq_method>`, Call-ID `<label>@alice`, To with `to_tag` if given, then
/// `extra` header lines (each ending in CRLF) and `body`.
fn raw(
    method: &str,
    cseq_method: &str,
    label: &str,
    to_tag: Option<&str>,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:bob@{bob} SIP/2.0\r\nVia: SIP/2.0/UDP {alice}:6000;branch=z9hG4bK{label}\r\n\
         From: <sip:alice@{alice}>;tag=r1\r\nTo: <sip:bob@{bob}>{to_tag}\r\nCall-ID: {label}@alice\r\n\
         CSeq: 1 {cseq_method}\r\nContact: <sip:alice@{alice}:6000>\r\nMax-Forwards: 70\r\n\
         {extra}Content-Length: {}\r\n\r\n{body}",
        body.len(),
        bob = bob_addr().ip(),
        alice = turmoil::lookup("alice"),
    )
    .into_bytes()
}

#[test]
fn malformed_requests_get_400_garbage_is_dropped_and_the_ua_keeps_working() {
    let notes: Notes = Rc::default();
    let n = notes.clone();
    run_flow(
        1,
        Loss(0.0),
        BobSip::On,
        move |ua| async move {
            let mismatch = raw_request("INVITE", "OPTIONS");
            note(
                &n,
                format!(
                    "{:?}",
                    raw_exchange(&mismatch, Duration::from_secs(1)).await
                ),
            );
            let garbage = b"\x16\x03\x01 hello? \x00\xff";
            note(
                &n,
                format!("{:?}", raw_exchange(garbage, Duration::from_secs(1)).await),
            );
            let options = raw_request("OPTIONS", "OPTIONS");
            note(
                &n,
                format!("{:?}", raw_exchange(&options, Duration::from_secs(1)).await),
            );
            let bye = raw_request("BYE", "BYE");
            note(
                &n,
                format!("{:?}", raw_exchange(&bye, Duration::from_secs(1)).await),
            );
            let call = ua.place_call(call_request("out-1", Duration::from_secs(30)));
            note(&n, outcome_name(&call.outcome().await));
        },
        |incoming| async move {
            let mut incoming = incoming.expect("bob runs a user agent");
            while let Some(call) = incoming.next().await {
                call.reject(603);
            }
        },
    );
    assert_eq!(
        *notes.borrow(),
        vec![
            "[(20, \"400\")]",
            "[]",
            "[(20, \"200\")]",
            "[(20, \"481\")]",
            "rejected 603"
        ]
    );
}

/// [`raw`] for a request whose CSeq names its own method.
fn raw_with(method: &str, label: &str, to_tag: Option<&str>, extra: &str, body: &str) -> Vec<u8> {
    raw(method, method, label, to_tag, extra, body)
}

/// RFC 3261 section 8.2 and 12.2.2, in the order a UAS applies them: a body of a type
/// it does not take gets 415, an INVITE whose `Accept` excludes the SDP its 2xx would
/// carry gets 406, an in-dialog request for a dialog it does not have gets 481. An
/// `Accept` of `application/*` and an SDP body pass: that INVITE reaches bob, who
/// rejects it 603.
#[test]
fn unsupported_bodies_unacceptable_accepts_and_unknown_dialogs_are_refused() {
    let notes: Notes = Rc::default();
    let n = notes.clone();
    run_flow(
        1,
        Loss(0.0),
        BobSip::On,
        move |_ua| async move {
            let sdp = "v=0\r\no=- 0 0 IN IP4 192.168.0.1\r\ns=-\r\nc=IN IP4 192.168.0.1\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0\r\n";
            let cases = [
                raw_with(
                    "INVITE",
                    "ct",
                    None,
                    "Content-Type: text/plain\r\n",
                    "hello",
                ),
                raw_with(
                    "INVITE",
                    "acc",
                    None,
                    "Accept: text/html, application/json\r\n",
                    "",
                ),
                raw_with("OPTIONS", "dlg", Some("nosuch"), "", ""),
                raw_with("INVITE", "reinv", Some("nosuch"), "", ""),
                raw_with(
                    "INVITE",
                    "ok",
                    None,
                    "Accept: application/*\r\nContent-Type: application/sdp\r\n",
                    sdp,
                ),
            ];
            for bytes in cases {
                // The first final answer; a rejected INVITE's final is retransmitted
                // (timer G) into the next exchange's window, since none is ACKed.
                let got = raw_exchange(&bytes, Duration::from_millis(400)).await;
                let first_final = got
                    .iter()
                    .map(|(_, label)| label.as_str())
                    .find(|l| !l.starts_with('1'))
                    .unwrap_or("nothing");
                note(&n, first_final.to_string());
            }
        },
        |incoming| async move {
            let mut incoming = incoming.expect("bob runs a user agent");
            while let Some(call) = incoming.next().await {
                call.reject(603);
            }
        },
    );
    assert_eq!(*notes.borrow(), vec!["415", "406", "481", "481", "603"]);
}

#[test]
fn an_unacknowledged_2xx_is_retransmitted_until_timer_h_then_bye() {
    let notes: Notes = Rc::default();
    let (n, m) = (notes.clone(), notes.clone());
    run_flow(
        1,
        Loss(0.0),
        BobSip::On,
        move |_ua| async move {
            // A caller that never ACKs.
            let invite = raw_request("INVITE", "INVITE");
            let got = raw_exchange(&invite, Duration::from_secs(40)).await;
            note(&n, format!("alice got {got:?}"));
        },
        move |incoming| {
            let m = m.clone();
            async move {
                let mut incoming = incoming.expect("bob runs a user agent");
                let call = incoming.next().await.expect("a call arrives");
                let result = call.answer().await.map(|_| ());
                note(&m, format!("bob: {result:?}"));
            }
        },
    );
    let expected_200s: Vec<String> = [
        20, 520, 1520, 3520, 7520, 11520, 15520, 19520, 23520, 27520, 31520,
    ]
    .iter()
    .map(|t| format!("({t}, \"200\")"))
    .collect();
    assert_eq!(
        *notes.borrow(),
        vec![
            "bob: Err(NoAck)".to_string(),
            // Timer H at 32 s, then a BYE, retransmitted on timer E since alice is silent.
            format!(
                "alice got [(20, \"100\"), {}, (32020, \"BYE\"), (32520, \"BYE\"), \
                 (33520, \"BYE\"), (35520, \"BYE\"), (39520, \"BYE\")]",
                expected_200s.join(", ")
            ),
        ]
    );
}

/// One raw in-dialog request from alice's port 6000 to bob, and the first final
/// answer back: (status, its SDP body).
async fn raw_transaction(socket: &turmoil::net::UdpSocket, bytes: String) -> (String, String) {
    socket
        .send_to(bytes.as_bytes(), bob_addr())
        .await
        .expect("sent");
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf))
            .await
            .expect("an answer within 2 s")
            .expect("received");
        let m = callsim::sip::parse(&buf[..n]).expect("a valid response");
        if m.status().is_some_and(|c| c >= 200) {
            let sdp = m.sdp_body().unwrap_or_default().to_string();
            return (m.start_label(), sdp);
        }
    }
}

/// RFC 3261 section 14 and RFC 3264 section 8: a re-INVITE in an established dialog
/// puts the call on hold (`a=sendonly` offered, `a=recvonly` answered) and resumes it
/// (`a=sendrecv` both ways), each answer a new version of the same session; a re-INVITE
/// while the previous one's 2xx still awaits its ACK gets 500 with Retry-After; one for
/// a dialog bob does not have gets 481.
#[test]
fn a_reinvite_holds_and_resumes_the_call() {
    let notes: Notes = Rc::default();
    let n = notes.clone();
    run_flow(
        1,
        Loss(0.0),
        BobSip::On,
        move |_ua| async move {
            let socket = turmoil::net::UdpSocket::bind(("0.0.0.0", 6000))
                .await
                .expect("bind 6000");
            let alice = turmoil::lookup("alice");
            let bob = bob_addr().ip();
            let offer = |dir: &str, version: u32| {
                format!(
                    "v=0\r\no=- 7 {version} IN IP4 {alice}\r\ns=-\r\nc=IN IP4 {alice}\r\nt=0 0\r\n\
                     m=audio 10000 RTP/AVP 0\r\na={dir}\r\n"
                )
            };
            let request = |method: &str, cseq: u32, to_tag: &str, branch: &str, body: &str| {
                let (ct, len) = if body.is_empty() {
                    (String::new(), 0)
                } else {
                    ("Content-Type: application/sdp\r\n".to_string(), body.len())
                };
                let to_tag = if to_tag.is_empty() {
                    String::new()
                } else {
                    format!(";tag={to_tag}")
                };
                format!(
                    "{method} sip:bob@{bob}:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {alice}:6000;branch=z9hG4bK{branch}\r\n\
                     From: <sip:alice@{alice}>;tag=a1\r\nTo: <sip:bob@{bob}>{to_tag}\r\nCall-ID: hold-1@alice\r\n\
                     CSeq: {cseq} {method}\r\nContact: <sip:alice@{alice}:6000>\r\nMax-Forwards: 70\r\n\
                     {ct}Content-Length: {len}\r\n\r\n{body}"
                )
            };
            // The call: INVITE, 200, ACK. The To tag comes from bob's 200.
            socket
                .send_to(
                    request("INVITE", 1, "", "c1", &offer("sendrecv", 1)).as_bytes(),
                    bob_addr(),
                )
                .await
                .expect("sent");
            let mut buf = vec![0u8; 65536];
            let to_tag = loop {
                let (len, _) = socket.recv_from(&mut buf).await.expect("answer");
                let m = callsim::sip::parse(&buf[..len]).expect("valid");
                if m.status() == Some(200) {
                    break m.to_tag().expect("a To tag").to_string();
                }
            };
            let ack = |cseq: u32, branch: &str| request("ACK", cseq, &to_tag, branch, "");
            socket
                .send_to(ack(1, "a1").as_bytes(), bob_addr())
                .await
                .expect("sent");
            let direction = |sdp: &str| {
                ["sendonly", "recvonly", "inactive", "sendrecv"]
                    .into_iter()
                    .find(|d| sdp.lines().any(|l| l.trim() == format!("a={d}")))
                    .unwrap_or("sendrecv")
                    .to_string()
            };
            let version = |sdp: &str| {
                sdp.lines()
                    .find_map(|l| l.strip_prefix("o="))
                    .and_then(|o| o.split(' ').nth(2))
                    .unwrap_or("?")
                    .to_string()
            };
            for (cseq, dir) in [(2, "sendonly"), (3, "sendrecv")] {
                let reinvite = request(
                    "INVITE",
                    cseq,
                    &to_tag,
                    &format!("r{cseq}"),
                    &offer(dir, cseq),
                );
                let (status, sdp) = raw_transaction(&socket, reinvite).await;
                note(
                    &n,
                    format!("{dir}: {status} {} v{}", direction(&sdp), version(&sdp)),
                );
                socket
                    .send_to(ack(cseq, &format!("ra{cseq}")).as_bytes(), bob_addr())
                    .await
                    .expect("sent");
            }
            // A re-INVITE whose 2xx is not ACKed, then another: 500.
            let (status, _) = raw_transaction(
                &socket,
                request("INVITE", 4, &to_tag, "r4", &offer("sendonly", 4)),
            )
            .await;
            note(&n, format!("unacked: {status}"));
            let (status, _) = raw_transaction(
                &socket,
                request("INVITE", 5, &to_tag, "r5", &offer("sendonly", 5)),
            )
            .await;
            note(&n, format!("overlapping: {status}"));
            let (status, _) = raw_transaction(
                &socket,
                request("INVITE", 6, "nosuch", "r6", &offer("sendonly", 6)),
            )
            .await;
            note(&n, format!("unknown dialog: {status}"));
        },
        |incoming| async move {
            let mut incoming = incoming.expect("bob runs a user agent");
            while let Some(call) = incoming.next().await {
                let answer = call.invite().sdp_body().map(|offer| {
                    let offer = callsim::sip::sdp::Sdp::parse(offer).expect("an offer");
                    let at: SocketAddr = "192.168.0.2:20000".parse().expect("addr");
                    callsim::sip::sdp::answer(&offer, &Default::default(), at)
                        .expect("acceptable")
                        .to_string()
                });
                callsim::sim::spawn(async move {
                    if let Ok(mut active) = call.answer_with(answer).await {
                        active.ended().await;
                    }
                });
            }
        },
    );
    assert_eq!(
        *notes.borrow(),
        vec![
            "sendonly: 200 recvonly v1",
            "sendrecv: 200 sendrecv v2",
            "unacked: 200",
            "overlapping: 500",
            "unknown dialog: 481",
        ]
    );
}

/// Early media (RFC 3261 section 13.2.1, RFC 3264): the callee answers the
/// offer in a 183 before its 200; the caller's UA reports it as early media
/// with that SDP, and the 200's answer reaches `ActiveCall::remote_sdp`.
#[test]
fn a_183_with_sdp_is_early_media_and_the_200_answer_reaches_the_caller() {
    let notes: Notes = Rc::default();
    let n = notes.clone();
    run_flow(
        1,
        Loss(0.0),
        BobSip::On,
        move |ua| async move {
            let alice: SocketAddr = SocketAddr::new(turmoil::lookup("alice"), 10_000);
            let mut request = call_request("out-1", Duration::from_secs(30));
            request.sdp = Some(callsim::sip::sdp::body(alice));
            let mut call = ua.place_call(request);
            let outcome = loop {
                match call.next_event().await {
                    CallEvent::EarlyMedia { code, sdp } => {
                        let at = callsim::sip::sdp::media_addr(&sdp);
                        note(
                            &n,
                            format!("early media {code} at {:?}", at.map(|a| a.port())),
                        );
                    }
                    CallEvent::Progress(code) => note(&n, format!("progress {code}")),
                    CallEvent::Final(outcome) => break outcome,
                }
            };
            let CallOutcome::Answered(active) = outcome else {
                note(&n, outcome_name(&outcome));
                return;
            };
            let answer = active.remote_sdp().and_then(callsim::sip::sdp::media_addr);
            note(&n, format!("answered at {:?}", answer.map(|a| a.port())));
            let _ = active.hangup().await;
        },
        |incoming| async move {
            let mut incoming = incoming.expect("bob runs a user agent");
            let call = incoming.next().await.expect("a call arrives");
            let bob: SocketAddr = SocketAddr::new(turmoil::lookup("bob"), 20_000);
            let offer = callsim::sip::sdp::Sdp::parse(call.invite().sdp_body().expect("an offer"))
                .expect("valid SDP");
            let answer = callsim::sip::sdp::answer(&offer, &Default::default(), bob)
                .expect("acceptable")
                .to_string();
            call.early_media(183, answer.clone());
            tokio::time::sleep(Duration::from_secs(2)).await;
            let mut active = call.answer_with(Some(answer)).await.expect("acknowledged");
            active.ended().await;
        },
    );
    assert_eq!(
        *notes.borrow(),
        vec!["early media 183 at Some(20000)", "answered at Some(20000)"]
    );
}

/// Both ends put the call on hold at the same instant (RFC 3261 section 14.1): the two
/// re-INVITEs cross, each end answers the other's with 491 (section 14.2), and each
/// sends its own again after its random wait, alice (who owns the Call-ID) after
/// 2.1-4 s and bob after 0-2 s, so bob's goes first and alice's after it; both succeed.
#[test]
fn crossing_reinvites_are_glare_491_then_both_succeed_in_turn() {
    for seed in 1..=8 {
        let history = glare_flow(seed);
        if seed == 1 {
            insta::assert_snapshot!("reinvite_glare_491", ladder(&history, "out-1"));
        }
    }
}

/// One glare flow on `seed`, checked; its history.
fn glare_flow(seed: u64) -> History {
    let notes: Notes = Rc::default();
    let (n_alice, n_bob) = (notes.clone(), notes.clone());
    let history = run_flow(
        seed,
        Loss(0.0),
        BobSip::On,
        move |ua| async move {
            let alice: SocketAddr = SocketAddr::new(turmoil::lookup("alice"), 10_000);
            let mut request = call_request("out-1", Duration::from_secs(30));
            request.sdp = Some(callsim::sip::sdp::body(alice));
            let outcome = follow(&n_alice, ua.place_call(request)).await;
            let CallOutcome::Answered(active) = outcome else {
                note(&n_alice, outcome_name(&outcome));
                return;
            };
            // The 200 left bob 10 ms ago: both re-INVITEs leave at bob's answer + 1 s.
            tokio::time::sleep(Duration::from_millis(990)).await;
            let held = active.hold().await;
            note(&n_alice, format!("alice hold {}", reoffer_name(&held)));
            tokio::time::sleep(Duration::from_secs(5)).await;
            let _ = active.hangup().await;
        },
        move |incoming| {
            let n = n_bob.clone();
            async move {
                let Some(mut incoming) = incoming else {
                    return;
                };
                let call = incoming.next().await.expect("a call arrives");
                let bob: SocketAddr = SocketAddr::new(turmoil::lookup("bob"), 20_000);
                let offer =
                    callsim::sip::sdp::Sdp::parse(call.invite().sdp_body().expect("an offer"))
                        .expect("valid SDP");
                let answer = callsim::sip::sdp::answer(&offer, &Default::default(), bob)
                    .expect("acceptable")
                    .to_string();
                let mut active = call.answer_with(Some(answer)).await.expect("acknowledged");
                // answer_with returns at the ACK, 20 ms after the 200 left.
                tokio::time::sleep(Duration::from_millis(980)).await;
                let held = active.hold().await;
                note(&n, format!("bob hold {}", reoffer_name(&held)));
                active.ended().await;
            }
        },
    );
    let notes = notes.borrow().clone();
    assert!(
        notes.contains(&"alice hold accepted recvonly".to_string()),
        "{notes:?}"
    );
    assert!(
        notes.contains(&"bob hold accepted recvonly".to_string()),
        "{notes:?}"
    );
    // Bob (not the Call-ID's owner) waits 0-2 s, so his hold is done first.
    assert_eq!(
        notes.last().map(String::as_str),
        Some("alice hold accepted recvonly")
    );
    let sent = |host: &str, line: &str| -> Vec<u64> {
        history
            .of_kind("sip.send")
            .filter(|r| &*r.host == host && r.str("start_line") == Some(line))
            .filter(|r| r.bool("retransmission") == Some(false))
            .filter(|r| r.str("cseq").is_some_and(|c| c.ends_with("INVITE")))
            .map(|r| r.t_ms)
            .collect()
    };
    assert_eq!(
        sent("alice", "491").len(),
        1,
        "alice refuses bob's first re-INVITE"
    );
    assert_eq!(
        sent("bob", "491").len(),
        1,
        "bob refuses alice's first re-INVITE"
    );
    let (alice_invites, bob_invites) = (sent("alice", "INVITE"), sent("bob", "INVITE"));
    assert_eq!(alice_invites.len(), 3, "the call, the re-INVITE, its retry");
    assert_eq!(bob_invites.len(), 2, "the re-INVITE and its retry");
    let alice_wait = alice_invites[2] - alice_invites[1];
    let bob_wait = bob_invites[1] - bob_invites[0];
    // Each waits from the 491's arrival, 20 ms (a round trip) after its re-INVITE left.
    assert!(
        (2_120..=4_020).contains(&alice_wait),
        "alice waited {alice_wait} ms (seed {seed})"
    );
    assert!(
        (20..=2_020).contains(&bob_wait),
        "bob waited {bob_wait} ms (seed {seed})"
    );
    history
}

fn reoffer_name(outcome: &callsim::sip::ua::ReofferOutcome) -> String {
    use callsim::sip::ua::ReofferOutcome;
    match outcome {
        ReofferOutcome::Accepted(answer) => {
            let direction = answer
                .as_deref()
                .and_then(|a| callsim::sip::sdp::Sdp::parse(a).ok())
                .and_then(|s| s.media.first().map(|m| m.direction.as_str()))
                .unwrap_or("none");
            format!("accepted {direction}")
        }
        other => format!("{other:?}"),
    }
}
