//! One final answer per INVITE through an SBC chain, with 2 s of latency
//! between the edge and inbound pods, so the caller's CANCEL and the
//! agent's 2xx cross inside the chain:
//!
//! - a CANCEL that crosses the 2xx: the edge waits for the final answer
//!   from downstream instead of making a 487 itself, so the carrier gets
//!   the 2xx alone, ACKs it and hangs up (RFC 3261 sections 9.2, 16.10);
//! - a 2xx after the edge's own final answer (its Timer C 408): never
//!   relayed; the edge ACKs it and ends the downstream dialog with BYE,
//!   which is answered.
//!
//! Both run through the test-bed from callsim::props::inbound's case, with
//! the latency fault and the edge's timers added, and are judged by the
//! history and by `sip_conformance`.

use callsim::history::History;
use callsim::oracles::sip::NAME;
use callsim::props::inbound::{Entry, InboundCase};
use callsim::props::{self, Case};
use callsim::scenario::Scenario;

/// Latency between every edge and inbound pod (both ways).
const PAIR_LATENCY: &str = "2s";

/// Long enough for every dialog to end across the slow pair.
const DURATION: &str = "40s";

/// One call on `sbc x1/x1`, 10 ms links elsewhere, the agent answering
/// after `answer_after_ms` and the caller giving up after `give_up_ms`.
fn case(answer_after_ms: u64, give_up_ms: u64) -> InboundCase {
    InboundCase {
        seed: 1,
        entry: Entry::Sbc {
            edge: 1,
            inbound: 1,
        },
        sip_pods: 1,
        calls: 1,
        gap_ms: 1000,
        answer_after_ms,
        reject_percent: 0,
        reject_code: 486,
        give_up_ms,
        hold_ms: 500,
        latency_ms: 10,
        loss_percent: 0,
        duplicate_percent: 0,
        sip_t1_ms: None,
        cut: None,
    }
}

/// `case`'s scenario with the slow pod pair, `edge_config` added to
/// `[nodes.sbc-edge]` (its next-hop timeout always outlasts the pair's
/// round trip) and the run stretched to [`DURATION`].
fn scenario(case: &InboundCase, edge_config: &str) -> Scenario {
    let mut text = case.toml();
    let duration_line = text
        .lines()
        .find(|l| l.starts_with("duration = "))
        .expect("a duration")
        .to_string();
    text = text.replacen(&duration_line, &format!("duration = \"{DURATION}\""), 1);
    text = text.replacen(
        "[nodes.sbc-edge]\n",
        &format!("[nodes.sbc-edge]\nnext_hop_timeout = \"10s\"\n{edge_config}\n"),
        1,
    );
    // The carrier hears nothing but 100 Trying for 4 s: it must not take
    // the edge for silent and move on meanwhile.
    text = text.replacen(
        "[nodes.carrier]\n",
        "[nodes.carrier]\nentry_timeout = \"15s\"\n",
        1,
    );
    text = text.replacen(
        "[oracles]",
        &format!(
            "[[faults]]\nkind = \"latency\"\nbetween = [\"sbc-edge\", \"sbc-inbound\"]\nlatency = \"{PAIR_LATENCY}\"\nat = \"0ms\"\nuntil = \"{DURATION}\"\n\n[oracles]"
        ),
        1,
    );
    Scenario::from_toml(&text, "sbc-cancel.toml".as_ref())
        .unwrap_or_else(|e| panic!("a valid scenario: {e}\n{text}"))
}

/// The distinct final responses (codes, first-arrival order) `host`
/// received to INVITEs.
fn invite_finals(history: &History, host: &str) -> Vec<String> {
    let mut finals: Vec<String> = Vec::new();
    for r in history.of_kind("sip.recv").filter(|r| &*r.host == host) {
        let (Some(line), Some(cseq)) = (r.str("start_line"), r.str("cseq")) else {
            continue;
        };
        let is_final = line.parse::<u16>().is_ok_and(|c| c >= 200);
        if is_final && cseq.ends_with(" INVITE") && !finals.iter().any(|f| f == line) {
            finals.push(line.to_string());
        }
    }
    finals
}

/// How many messages `host` sent (`sent`) or received (`received`) to or
/// from a host whose name starts with `peer`, retransmissions not counted. `what` is a request's method
/// (`"BYE"`) or a response's code and method (`"200/BYE"`).
fn count(history: &History, kind: &str, host: &str, what: &str, peer: &str) -> usize {
    let (line, method) = what.split_once('/').unwrap_or((what, what));
    history
        .of_kind(kind)
        .filter(|r| &*r.host == host && r.str("start_line") == Some(line))
        .filter(|r| r.bool("retransmission") != Some(true))
        .filter(|r| {
            r.str("cseq")
                .is_some_and(|c| c.ends_with(&format!(" {method}")))
        })
        .filter(|r| r.str("peer").is_some_and(|p| p.starts_with(peer)))
        .count()
}

fn sent(history: &History, host: &str, what: &str, to: &str) -> usize {
    count(history, "sip.send", host, what, to)
}

fn received(history: &History, host: &str, what: &str, from: &str) -> usize {
    count(history, "sip.recv", host, what, from)
}

fn run(scenario: &Scenario) -> History {
    let (history, violations) = props::run_judged(scenario, NAME).expect("the run completes");
    let messages: Vec<&str> = violations.iter().map(|v| v.message.as_str()).collect();
    assert!(messages.is_empty(), "{NAME}: {messages:?}");
    history
}

#[test]
fn a_cancel_crossing_the_2xx_gets_the_2xx_alone() {
    // Setup: the agent answers 1 s after the INVITE reaches sip-1 (about
    // 2.5 s into the call); the caller gives up at 3 s, while the edge
    // still waits for the inbound pod's first answer (2 s each way), so
    // its CANCEL reaches sip-1 after the 2xx left.
    let history = run(&scenario(&case(1000, 3000), ""));
    // The carrier CANCELled, and the edge answered the CANCEL.
    assert_eq!(sent(&history, "carrier", "CANCEL", "sbc-edge"), 1);
    assert_eq!(received(&history, "carrier", "200/CANCEL", "sbc-edge"), 1);
    // Expectation: the carrier's INVITE has one final answer, the 2xx
    // from downstream; the edge made no 487.
    assert_eq!(invite_finals(&history, "carrier"), ["200"]);
    assert_eq!(sent(&history, "sbc-edge-1", "487/INVITE", "carrier"), 0);
    // The carrier ACKs the 2xx and hangs up; the BYE is answered.
    assert_eq!(sent(&history, "carrier", "ACK", "sbc-edge"), 1);
    assert!(received(&history, "carrier", "200/BYE", "sbc-edge") >= 1);
}

#[test]
fn a_cancel_before_the_answer_gets_the_487_from_downstream() {
    // Setup: the agent answers 8 s after the INVITE; the caller gives up
    // at 3 s.
    let history = run(&scenario(&case(8000, 3000), ""));
    // Expectation: one final answer, the 487 sip-1 gave to the CANCEL,
    // relayed by both pods: the edge sends its 487 only after the inbound
    // pod's came.
    assert_eq!(invite_finals(&history, "carrier"), ["487"]);
    assert!(sent(&history, "sip-1", "487/INVITE", "sbc-inbound-1") >= 1);
    let first = |kind: &str, peer: &str| {
        history
            .of_kind(kind)
            .filter(|r| &*r.host == "sbc-edge-1" && r.str("start_line") == Some("487"))
            .find(|r| r.str("peer") == Some(peer))
            .map(|r| r.t_ms)
            .unwrap_or_else(|| panic!("sbc-edge-1 {kind} 487 with {peer}"))
    };
    assert!(first("sip.send", "carrier") >= first("sip.recv", "sbc-inbound-1"));
}

#[test]
fn a_2xx_after_the_edges_timer_c_408_is_acked_and_hung_up_downstream() {
    // Setup: the edge's Timer C is 3 s after the inbound pod's 100 Trying
    // (which takes 4 s to come back); the agent answers 5 s after the
    // INVITE; the caller would wait 20 s.
    let history = run(&scenario(
        &case(5000, 20_000),
        "proceeding_timeout = \"3s\"",
    ));
    // Expectation: the carrier gets the 408 alone, never the 2xx.
    assert_eq!(invite_finals(&history, "carrier"), ["408"]);
    // The 2xx reached the edge, which ACKed it and sent BYE downstream,
    // and the BYE was answered: the downstream dialog ended.
    assert!(received(&history, "sbc-edge-1", "200/INVITE", "sbc-inbound") >= 1);
    assert!(sent(&history, "sbc-edge-1", "ACK", "sbc-inbound") >= 1);
    assert_eq!(sent(&history, "sbc-edge-1", "BYE", "sbc-inbound"), 1);
    assert!(received(&history, "sip-1", "BYE", "sbc-inbound") >= 1);
    assert!(received(&history, "sbc-edge-1", "200/BYE", "sbc-inbound") >= 1);
    // The edge retransmits its BYE across the slow pair (timer E) and
    // stops once it is answered.
    let edge = |kind: &str, line: &str| {
        history
            .of_kind(kind)
            .filter(|r| &*r.host == "sbc-edge-1" && r.str("start_line") == Some(line))
            .filter(|r| r.str("cseq").is_some_and(|c| c.ends_with(" BYE")))
            .map(|r| r.t_ms)
            .collect::<Vec<_>>()
    };
    let (byes, answers) = (edge("sip.send", "BYE"), edge("sip.recv", "200"));
    assert!(byes.len() >= 2, "retransmitted: {byes:?}");
    assert!(byes.last() <= answers.first(), "{byes:?} {answers:?}");
}

/// A CANCEL over a broken pod pair: the edge gave the silent inbound pod
/// timer B (32 s) for its 487, so its own 487 reached the carrier just as
/// the carrier abandoned its INVITE (64*T1 after its CANCEL, RFC 3261
/// section 9.1) and went unACKed: `sip_conformance` failed the fixed vapi
/// scenario on seeds 2, 5, 7, 8 and 9. The edge now waits `cancel_wait`
/// (8 s) and answers 487 well inside the caller's 32 s.
#[test]
fn the_edge_answers_a_cancelled_invite_before_the_caller_abandons_it() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/scenarios/vapi-sbc-networking-fixed.toml"
    );
    let text = std::fs::read_to_string(path).expect("the fixture");
    let scenario = Scenario::from_toml(&text, path.as_ref()).expect("valid");
    let report = crate::support::run(&scenario, 2);
    assert_eq!(
        report.verdict,
        callsim::report::Verdict::Pass,
        "{:#?}",
        report.violations
    );
}
