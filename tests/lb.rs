//! The SIP load balancer between a caller (`carrier`) and answerers
//! (`sip-N`) built on the platform's user agent: it spreads calls over its
//! backends, keeps the dialog (Record-Route), ejects a backend its health
//! checks lose, answers 503 with no backend left, keeps a transaction's
//! retransmissions on the backend its INVITE went to whatever that
//! backend's health since, and stops serving while the deployer has it
//! deleted.

use crate::support::{by_status, Answer, Calls, Harness};
use std::time::Duration;

fn calls(count: u32, gap_ms: u64) -> Calls {
    Calls {
        count,
        gap: Duration::from_millis(gap_ms),
        targets: vec!["lb-1".into()],
        talk: Duration::from_secs(3),
        ringing_timeout: Duration::from_secs(8),
    }
}

fn harness(nodes: &str, calls: Calls, duration_s: u64) -> Harness {
    Harness {
        nodes: nodes.to_string(),
        answerers: 2,
        calls,
        answer: Answer {
            after: Duration::from_millis(500),
        },
        duration: Duration::from_secs(duration_s),
        seed: 11,
        actions: Vec::new(),
    }
}

const LB: &str = r#"
[lb]
pods = 1
health = { interval = "500ms", timeout = "200ms", failures_max = 2 }
"#;

#[test]
fn calls_spread_over_backends_and_keep_the_lb_in_the_dialog() {
    let out = harness(LB, calls(20, 200), 20).run();
    assert_eq!(
        by_status(&out.calls).get(&200),
        Some(&20),
        "{:?}",
        out.calls
    );
    for backend in ["sip-1", "sip-2"] {
        let invites = out
            .history
            .of_kind("sip.recv")
            .filter(|r| &*r.host == backend && r.str("start_line") == Some("INVITE"))
            .count();
        assert!(invites >= 4, "{backend} got {invites} INVITEs");
    }
    // Record-Route: the carrier's ACK and BYE cross the LB.
    for method in ["ACK", "BYE"] {
        let relayed = out
            .history
            .of_kind("sip.send")
            .filter(|r| &*r.host == "lb-1" && r.str("start_line") == Some(method))
            .count();
        assert_eq!(relayed, 20, "{method} relayed by the LB");
    }
    // Media flowed both ways (it does not cross the LB).
    assert!(out.calls.iter().all(|c| c.media_in >= 1), "{:?}", out.calls);
    assert!(out.answerer_media.values().all(|&n| n >= 1));
}

#[test]
fn a_backend_cut_off_is_ejected_and_calls_go_to_the_other() {
    let mut h = harness(LB, calls(30, 200), 25);
    h.actions.push((
        0,
        Box::new(|sim, _| {
            sim.partition("lb-1", "sip-2");
        }),
    ));
    let out = h.run();
    let ejected = out
        .history
        .of_kind("health.change")
        .find(|r| r.str("target") == Some("sip-2") && r.bool("healthy") == Some(false))
        .expect("sip-2 ejected");
    assert!(ejected.t_ms <= 2_000, "ejected at {} ms", ejected.t_ms);
    let late: Vec<_> = out
        .calls
        .iter()
        .filter(|c| c.started_ms > ejected.t_ms)
        .collect();
    assert!(late.len() >= 20);
    assert!(late.iter().all(|c| c.status == 200), "{late:?}");
}

#[test]
fn no_backend_left_gives_503() {
    let mut h = harness(LB, calls(10, 300), 15);
    h.actions.push((
        0,
        Box::new(|sim, _| {
            sim.partition("lb-1", "sip-1");
            sim.partition("lb-1", "sip-2");
        }),
    ));
    let out = h.run();
    let after: Vec<_> = out.calls.iter().filter(|c| c.started_ms > 2_000).collect();
    assert!(!after.is_empty());
    assert!(after.iter().all(|c| c.status == 503), "{after:?}");
}

#[test]
fn a_deleted_lb_serves_nothing_until_it_is_created_again() {
    let nodes = format!(
        "{LB}
[deployer]
templates = {{ jsonnet = [\"production/lb-1\"] }}
deploys = [
  {{ at = \"6s\", steps = [], trigger = \"ci\" }},
  {{ at = \"14s\", action = \"revert\", reviewed = true }},
]
"
    );
    let out = harness(&nodes, calls(45, 500), 40).run();
    let applies: Vec<_> = out.history.of_kind("deploy.apply").collect();
    assert_eq!(applies.len(), 2);
    assert_eq!(applies[0].str("deleted"), Some("production/lb-1"));
    assert_eq!(applies[1].str("created"), Some("production/lb-1"));
    for c in &out.calls {
        let deleted = (6_000..14_000).contains(&c.started_ms);
        let settled = c.started_ms < 5_000 || c.started_ms > 15_000;
        if deleted {
            // The caller retransmits its INVITE (T1, 2*T1, ...): a call
            // may still get through once the LB is back at 14 s, never
            // before (answered + 3 s of talk).
            assert!(c.status != 200 || c.ended_ms >= 17_000, "{c:?}");
            if c.started_ms < 9_000 {
                assert_ne!(
                    c.status, 200,
                    "{c:?}: its last retransmission fell in the outage"
                );
            }
        } else if settled {
            assert_eq!(c.status, 200, "{c:?}");
        }
    }
    // While deleted (from the first apply, stamped by the deployer once its
    // admin call returned, to the revert's start at 14 s), the LB sent
    // nothing.
    let (deleted_at, created_at) = (applies[0].t_ms, 14_000);
    let sent_while_deleted = out
        .history
        .of_kind("sip.send")
        .filter(|r| &*r.host == "lb-1" && (deleted_at..created_at).contains(&r.t_ms))
        .count();
    assert_eq!(sent_while_deleted, 0);
}

#[test]
fn a_retransmitted_invite_follows_its_transaction_after_its_backend_is_ejected() {
    // The caller hears nothing from the LB (one-way partition), so it
    // retransmits its INVITE at 0.5, 1.5, 3.5 and 7.5 s; from 0.2 s the LB
    // is cut off from both backends, whose health checks fail by 1.5 s.
    // Each retransmission belongs to the transaction already on its
    // backend: no second INVITE elsewhere, no 503.
    let mut h = harness(LB, calls(1, 1_000), 12);
    h.actions.push((
        0,
        Box::new(|sim, _| sim.partition_oneway("lb-1", "carrier")),
    ));
    h.actions.push((
        200,
        Box::new(|sim, _| {
            sim.partition("lb-1", "sip-1");
            sim.partition("lb-1", "sip-2");
        }),
    ));
    let out = h.run();
    let ejected: Vec<u64> = out
        .history
        .of_kind("health.change")
        .filter(|r| r.bool("healthy") == Some(false))
        .map(|r| r.t_ms)
        .collect();
    assert_eq!(ejected.len(), 2, "both backends ejected");
    let all_ejected = *ejected.iter().max().expect("two");
    let sent: Vec<(u64, String, String)> = out
        .history
        .of_kind("sip.send")
        .filter(|r| &*r.host == "lb-1" && r.str("sip_call_id").is_some())
        .filter(|r| !r.str("cseq").unwrap_or("").ends_with("OPTIONS"))
        .map(|r| {
            (
                r.t_ms,
                r.str("start_line").unwrap_or("").to_string(),
                r.str("peer").unwrap_or("").to_string(),
            )
        })
        .collect();
    // Once cut off from the backends, the LB relays no response: any it
    // sends is its own answer (a 503).
    let (requests, responses): (Vec<_>, Vec<_>) = sent
        .iter()
        .partition(|(_, line, _)| line.parse::<u16>().is_err());
    assert!(
        responses.iter().all(|(t, _, _)| *t < 200),
        "the LB answered the call itself: {sent:?}"
    );
    // Its requests (a CANCEL may follow the INVITE) all go to one backend.
    let peers: std::collections::BTreeSet<&str> =
        requests.iter().map(|(_, _, peer)| peer.as_str()).collect();
    assert_eq!(peers.len(), 1, "one backend for the transaction: {sent:?}");
    let late_invites = requests
        .iter()
        .filter(|(t, line, _)| *t > all_ejected && line == "INVITE")
        .count();
    assert!(
        late_invites >= 2,
        "retransmissions after the ejection went to the same backend: {sent:?} (ejected at {ejected:?})"
    );
}

/// RFC 3261 section 18.2.1 and RFC 3581: a caller whose Via names an
/// address it cannot be reached at (behind a NAT: `10.9.9.9`, a port it
/// does not listen on) still gets every answer to its INVITE, because the
/// LB stamps `received` and `rport` on the Via and routes the responses
/// coming back from the SIP pod by them. Without the stamp they go to
/// 10.9.9.9 and are lost.
#[test]
fn responses_reach_a_caller_behind_a_nat_by_received_and_rport() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let got: Rc<RefCell<Vec<String>>> = Rc::default();
    let sink = got.clone();
    let mut h = harness(LB, calls(0, 1000), 6);
    h.actions.push((
        1000,
        Box::new(move |sim, _| {
            sim.client("natted", async move {
                let socket = turmoil::net::UdpSocket::bind(("0.0.0.0", 40_000))
                    .await
                    .expect("bind");
                sink.borrow_mut()
                    .push(turmoil::lookup("natted").to_string());
                let invite = "INVITE sip:+15550001@lb-1 SIP/2.0\r\n\
                    Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKnat1;rport\r\n\
                    Max-Forwards: 70\r\n\
                    From: <sip:caller@10.9.9.9>;tag=n1\r\n\
                    To: <sip:+15550001@lb-1>\r\n\
                    Call-ID: nat-1@10.9.9.9\r\n\
                    CSeq: 1 INVITE\r\n\
                    Contact: <sip:caller@10.9.9.9:5060>\r\n\
                    X-Callsim-Call: in-nat\r\n\
                    Content-Length: 0\r\n\r\n";
                socket
                    .send_to(invite.as_bytes(), callsim::net::addr("lb-1", 5060))
                    .await
                    .expect("sent");
                let mut buf = vec![0u8; 65536];
                let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
                while let Ok(Ok((n, _))) =
                    tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
                {
                    let m = callsim::sip::parse(&buf[..n]).expect("a valid response");
                    let top = m.vias()[0].clone();
                    sink.borrow_mut().push(format!(
                        "{} received={} rport={}",
                        m.start_label(),
                        top.param("received").unwrap_or("-"),
                        top.param("rport").unwrap_or("-")
                    ));
                }
                Ok(())
            });
        }),
    ));
    h.run();
    let got = got.borrow();
    let natted = got.first().cloned().unwrap_or_default();
    let got = &got[1..];
    assert!(
        got.iter().any(|l| l.starts_with("200 ")),
        "the 200 reached the caller: {got:?}"
    );
    assert!(
        got.iter()
            .all(|l| l.ends_with(&format!("received={natted} rport=40000"))),
        "{got:?}"
    );
}
