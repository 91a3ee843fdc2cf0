//! The SBC pods are back-to-back user agents: carrier -> sbc-edge ->
//! sbc-inbound -> sip is three dialogs, each with its own Call-ID, tags
//! and Via, and the carrier never sees an address of the platform's
//! inside (nor the inside the carrier's).
//!
//! The checks read the datagrams themselves, from a wire tap on turmoil's
//! links ([`crate::support::Harness::run_tapped`]), and the history.

use crate::support::{Answer, Calls, Harness, Tapped};
use callsim::history::History;
use callsim::sip::{parse, Message};
use std::net::IpAddr;
use std::time::Duration;

const NODES: &str = r#"
[sbc-edge]
pods = 1
health = { enabled = false }
[sbc-inbound]
pods = 1
health = { enabled = false }
"#;

fn harness(count: u32, answer_after_ms: u64, give_up_ms: u64) -> Harness {
    Harness {
        nodes: NODES.to_string(),
        answerers: 1,
        calls: Calls {
            count,
            gap: Duration::from_millis(700),
            targets: vec!["sbc-edge-1".into()],
            talk: Duration::from_secs(3),
            ringing_timeout: Duration::from_millis(give_up_ms),
        },
        answer: Answer {
            after: Duration::from_millis(answer_after_ms),
        },
        duration: Duration::from_secs(20),
        seed: 3,
        actions: Vec::new(),
    }
}

/// The SIP messages `to` received from `from` (host names), in order.
fn sip_between(tapped: &Tapped, from: &str, to: &str) -> Vec<Message> {
    tapped
        .wire
        .iter()
        .filter(|w| tapped.hosts.get(&w.from.ip()).map(String::as_str) == Some(from))
        .filter(|w| tapped.hosts.get(&w.to.ip()).map(String::as_str) == Some(to))
        .filter(|w| w.to.port() == 5060)
        .filter_map(|w| parse(&w.bytes).ok())
        .collect()
}

/// Whether `text` names `ip` (not as the prefix of a longer address).
fn names_ip(text: &str, ip: IpAddr) -> bool {
    let ip = ip.to_string();
    text.match_indices(&ip).any(|(at, _)| {
        !text[at + ip.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

fn ips_of(tapped: &Tapped, inside: impl Fn(&str) -> bool) -> Vec<(IpAddr, String)> {
    tapped
        .hosts
        .iter()
        .filter(|(_, name)| inside(name))
        .map(|(ip, name)| (*ip, name.clone()))
        .collect()
}

#[test]
fn the_carrier_never_sees_an_inside_address_nor_the_inside_the_carriers() {
    // Setup: three answered calls, hung up by the carrier.
    let (out, tapped) = harness(3, 500, 10_000).run_tapped();
    assert!(out.calls.iter().all(|c| c.status == 200), "{:?}", out.calls);
    let inside = |name: &str| name.starts_with("sbc-inbound") || name.starts_with("sip-");
    let inside_ips = ips_of(&tapped, inside);
    let carrier_ip = *tapped
        .hosts
        .iter()
        .find(|(_, n)| *n == "carrier")
        .expect("a carrier")
        .0;
    let mut to_carrier = 0;
    let mut to_inside = 0;
    for w in &tapped.wire {
        let (Some(from), Some(to)) = (tapped.hosts.get(&w.from.ip()), tapped.hosts.get(&w.to.ip()))
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&w.bytes);
        if to == "carrier" {
            // Expectation: everything the carrier gets (SIP and media)
            // comes from an edge pod and names no host inside.
            to_carrier += 1;
            assert!(from.starts_with("sbc-edge"), "{from} -> carrier: {text}");
            for (ip, name) in &inside_ips {
                assert!(
                    !names_ip(&text, *ip),
                    "the carrier got {name}'s address: {text}"
                );
            }
            for name in ["sbc-inbound", "sip-"] {
                assert!(!text.contains(name), "the carrier got {name}: {text}");
            }
        }
        if inside(to) {
            // Expectation: nothing inside names the carrier.
            to_inside += 1;
            assert!(!from.starts_with("carrier"), "{from} -> {to}");
            assert!(
                !names_ip(&text, carrier_ip),
                "{to} got the carrier's address: {text}"
            );
        }
    }
    assert!(
        to_carrier > 20 && to_inside > 20,
        "{to_carrier} {to_inside}"
    );
    // Every SIP message the carrier got has exactly its own Via, and an
    // answer to its INVITE names the edge as Contact, without a
    // Record-Route.
    let carrier_sip = sip_between(&tapped, "sbc-edge-1", "carrier");
    assert!(!carrier_sip.is_empty());
    for m in &carrier_sip {
        assert!(m.record_routes().is_empty(), "{m:?}");
        if !m.is_request() {
            assert_eq!(m.vias().len(), 1, "{m:?}");
        }
    }
}

/// The SIP Call-ID, From tag and answering To tag of each leg of call
/// `call`, from the INVITE and 2xx seen between `a` and `b`.
fn leg_ids(tapped: &Tapped, a: &str, b: &str, call: &str) -> (String, String, String) {
    let ours = |m: &&Message| m.header("X-Callsim-Call") == Some(call);
    let invite = sip_between(tapped, a, b)
        .into_iter()
        .find(|m| m.is_request() && m.start_label() == "INVITE" && ours(&m))
        .unwrap_or_else(|| panic!("{a} -> {b}: an INVITE of {call}"));
    let ok = sip_between(tapped, b, a)
        .into_iter()
        .find(|m| m.status() == Some(200) && m.call_id() == invite.call_id())
        .unwrap_or_else(|| panic!("{b} -> {a}: a 200 of {call}"));
    (
        invite.call_id().to_string(),
        invite.from_tag().unwrap_or_default().to_string(),
        ok.to_tag().unwrap_or_default().to_string(),
    )
}

#[test]
fn each_leg_has_its_own_call_id_and_tags() {
    let (_, tapped) = harness(2, 500, 10_000).run_tapped();
    for call in ["in-1", "in-2"] {
        let legs = [
            leg_ids(&tapped, "carrier", "sbc-edge-1", call),
            leg_ids(&tapped, "sbc-edge-1", "sbc-inbound-1", call),
            leg_ids(&tapped, "sbc-inbound-1", "sip-1", call),
        ];
        for (i, a) in legs.iter().enumerate() {
            for b in &legs[i + 1..] {
                assert_ne!(a.0, b.0, "{call}: Call-IDs {legs:?}");
                assert_ne!(a.1, b.1, "{call}: From tags {legs:?}");
                assert_ne!(a.2, b.2, "{call}: To tags {legs:?}");
            }
        }
        // The INVITE on the inner leg carries the inbound pod's Via only.
        let inner = sip_between(&tapped, "sbc-inbound-1", "sip-1");
        let invite = inner
            .iter()
            .find(|m| m.start_label() == "INVITE" && m.call_id() == legs[2].0)
            .expect("the inner INVITE");
        assert_eq!(invite.vias().len(), 1);
    }
}

/// The records `host` sent (`sip.send`) or received of `line` on SIP
/// Call-ID `call_id`, with CSeq method `method`.
fn on(history: &History, kind: &str, host: &str, line: &str, call_id: &str, method: &str) -> usize {
    history
        .of_kind(kind)
        .filter(|r| &*r.host == host && r.str("start_line") == Some(line))
        .filter(|r| r.str("sip_call_id") == Some(call_id))
        .filter(|r| r.str("cseq").is_some_and(|c| c.ends_with(method)))
        .count()
}

/// The SIP Call-ID on which `host` received the INVITE of `call`.
fn invite_call_id(history: &History, host: &str, call: &str) -> String {
    history
        .of_kind("sip.recv")
        .find(|r| {
            &*r.host == host && r.call() == Some(call) && r.str("start_line") == Some("INVITE")
        })
        .and_then(|r| r.str("sip_call_id"))
        .unwrap_or_else(|| panic!("{host} received {call}'s INVITE"))
        .to_string()
}

#[test]
fn the_carriers_bye_reaches_sip_in_the_inner_dialog_and_is_answered() {
    // Setup: one answered call; the carrier hangs up after 3 s.
    let out = harness(1, 500, 10_000).run();
    let h = &out.history;
    let outer = invite_call_id(h, "sbc-edge-1", "in-1");
    let inner = invite_call_id(h, "sip-1", "in-1");
    assert_ne!(outer, inner);
    // The carrier's BYE is answered on its own leg.
    assert_eq!(on(h, "sip.send", "carrier", "BYE", &outer, "BYE"), 1);
    assert!(on(h, "sip.recv", "carrier", "200", &outer, "BYE") >= 1);
    // sip-1 gets a BYE in its own dialog, and its 200 returns to the pod
    // that sent it.
    assert!(on(h, "sip.recv", "sip-1", "BYE", &inner, "BYE") >= 1);
    assert!(on(h, "sip.send", "sip-1", "200", &inner, "BYE") >= 1);
    assert!(on(h, "sip.recv", "sbc-inbound-1", "200", &inner, "BYE") >= 1);
    // No BYE ever crossed a pod on the carrier's Call-ID.
    assert_eq!(on(h, "sip.recv", "sip-1", "BYE", &outer, "BYE"), 0);
}

#[test]
fn a_cancel_through_the_b2bua_ends_in_one_final_answer() {
    // Setup: sip-1 answers after 5 s; the carrier gives up after 1 s.
    let out = harness(1, 5_000, 1_000).run();
    let h = &out.history;
    let outer = invite_call_id(h, "sbc-edge-1", "in-1");
    let inner = invite_call_id(h, "sip-1", "in-1");
    assert_ne!(outer, inner);
    // The CANCEL reaches sip-1 in its own dialog, which answers it 487.
    assert!(on(h, "sip.recv", "sip-1", "CANCEL", &inner, "CANCEL") >= 1);
    assert!(on(h, "sip.send", "sip-1", "487", &inner, "INVITE") >= 1);
    // Expectation: the carrier's INVITE has one final answer, a 487 (sent
    // again only as retransmissions), and no 2xx.
    let finals: Vec<&str> = h
        .of_kind("sip.recv")
        .filter(|r| &*r.host == "carrier" && r.str("sip_call_id") == Some(outer.as_str()))
        .filter(|r| r.str("cseq").is_some_and(|c| c.ends_with("INVITE")))
        .filter(|r| r.bool("retransmission") != Some(true))
        .filter_map(|r| r.str("start_line"))
        .filter(|l| l.parse::<u16>().is_ok_and(|c| c >= 200))
        .collect();
    assert_eq!(finals, ["487"]);
}
