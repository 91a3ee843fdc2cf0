//! A caller's CANCEL crossing the callee's 200 at every SIP hop, over a
//! sweep of link latencies, through an LB tier and through an SBC chain:
//! no ghost call, and the SIP contract holds.
//!
//! One call per run. The agent answers at `ANSWER_MS`; the caller gives up
//! at `ANSWER_MS + offset`, and the offset sweeps from 0 to 16 link
//! latencies, in half-latency steps, so
//! the CANCEL meets the 200 on each link in turn (carrier to the first
//! proxy, between proxies, last proxy to the SIP pod).
//!
//! Per run it checks:
//! - `sip_conformance` holds (every final response ACKed, a 487 for each
//!   CANCEL honoured, no BYE outside a confirmed dialog), and so do
//!   `dialogs_agree` and `ack_received`;
//! - no ghost call: at both ends (the carrier and the SIP pod), every
//!   dialog a 2xx made is ACKed by the caller and then ended with a BYE
//!   that is answered, before the run ends.
//!
//! A crossing at a hop A -> B is counted when A sent the CANCEL to B before
//! the 200 from B reached it, and B sent that 200 before the CANCEL reached
//! it. The sweep must produce at least one crossing on every hop of each
//! topology (else it proves nothing about that hop); the counts are printed.

use callsim::history::{History, Record};
use callsim::oracles::dialog::{ACK_RECEIVED, DIALOGS_AGREE};
use callsim::oracles::sip::NAME;
use callsim::props::inbound::{Entry, InboundCase};
use callsim::props::{self, Case};
use std::collections::BTreeMap;

/// When the agent answers, after the call reaches it.
const ANSWER_MS: u64 = 2000;

/// The link latencies swept, one way, every link alike.
const LATENCIES_MS: [u64; 3] = [3, 20, 70];

fn case(entry: Entry, latency_ms: u64, give_up_ms: u64) -> InboundCase {
    InboundCase {
        seed: 7,
        entry,
        sip_pods: 1,
        calls: 1,
        gap_ms: 1000,
        answer_after_ms: ANSWER_MS,
        reject_percent: 0,
        reject_code: 486,
        give_up_ms,
        hold_ms: 500,
        latency_ms,
        loss_percent: 0,
        duplicate_percent: 0,
        sip_t1_ms: None,
        cut: None,
    }
}

fn sip<'a>(history: &'a History) -> impl Iterator<Item = &'a Record> + 'a {
    history
        .records
        .iter()
        .filter(|r| r.is("sip.send") || r.is("sip.recv"))
}

fn field<'a>(r: &'a Record, name: &str) -> &'a str {
    r.str(name).unwrap_or_default()
}

/// The kind of a host: its name without the pod number (`sbc-edge-1` ->
/// `sbc-edge`).
fn kind(host: &str) -> &str {
    host.trim_end_matches(|c: char| c.is_ascii_digit())
        .trim_end_matches('-')
}

/// The hops (`"carrier->sbc-edge"`) on which a CANCEL crossed a 200.
fn crossings(history: &History) -> Vec<String> {
    let mut out = Vec::new();
    let sends: Vec<&Record> = sip(history)
        .filter(|r| r.is("sip.send") && field(r, "start_line") == "CANCEL")
        .collect();
    for cancel in sends {
        let (a, b) = (&*cancel.host, field(cancel, "peer"));
        let call_id = field(cancel, "sip_call_id");
        let is_200 = |r: &&Record| {
            field(r, "sip_call_id") == call_id
                && field(r, "start_line") == "200"
                && field(r, "cseq").ends_with("INVITE")
        };
        let ok_at_a = sip(history)
            .find(|r| r.is("sip.recv") && &*r.host == a && field(r, "peer") == b && is_200(r));
        let ok_from_b = sip(history)
            .find(|r| r.is("sip.send") && &*r.host == b && field(r, "peer") == a && is_200(r));
        let cancel_at_b = sip(history).find(|r| {
            r.is("sip.recv")
                && &*r.host == b
                && field(r, "peer") == a
                && field(r, "sip_call_id") == call_id
                && field(r, "start_line") == "CANCEL"
        });
        if let (Some(ok_at_a), Some(ok_from_b), Some(cancel_at_b)) =
            (ok_at_a, ok_from_b, cancel_at_b)
        {
            if cancel.t_ms < ok_at_a.t_ms && ok_from_b.t_ms < cancel_at_b.t_ms {
                out.push(format!("{}->{}", kind(a), kind(b)));
            }
        }
    }
    out
}

/// Every dialog a 2xx made at an end host (the carrier, a SIP pod) is
/// ACKed and ended by an answered BYE; the reasons it is not.
fn ghosts(history: &History) -> Vec<String> {
    let mut out = Vec::new();
    let ends = |host: &str| host == "carrier" || kind(host) == "sip";
    let mut dialogs: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in sip(history) {
        if ends(&r.host) && field(r, "start_line") == "200" && field(r, "cseq").ends_with("INVITE")
        {
            dialogs
                .entry((r.host.to_string(), field(r, "sip_call_id").to_string()))
                .or_insert(r.t_ms);
        }
    }
    for ((host, call_id), since) in dialogs {
        let on = |start: &str, kind_: &str| {
            sip(history).any(|r| {
                r.is(kind_)
                    && *r.host == *host
                    && field(r, "sip_call_id") == call_id
                    && field(r, "start_line") == start
                    && r.t_ms >= since
            })
        };
        let acked = on("ACK", "sip.send") || on("ACK", "sip.recv");
        let bye = on("BYE", "sip.send") || on("BYE", "sip.recv");
        let bye_answered = sip(history).any(|r| {
            *r.host == *host
                && field(r, "sip_call_id") == call_id
                && field(r, "start_line") == "200"
                && field(r, "cseq").ends_with("BYE")
        });
        if !(acked && bye && bye_answered) {
            out.push(format!(
                "{host}: the dialog of Call-ID {call_id} (2xx at {since} ms): acked={acked} bye={bye} bye_answered={bye_answered}"
            ));
        }
    }
    out
}

fn sweep(entry: Entry, hops: &[&str]) {
    let mut by_hop: BTreeMap<String, u32> = BTreeMap::new();
    let mut runs = 0;
    let mut ghost_runs = 0;
    let mut failures = Vec::new();
    for latency in LATENCIES_MS {
        // The caller's ringing timeout runs from its INVITE, the agent's
        // answer from the call's arrival: the 200 leaves the SIP pod some
        // link latencies after `ANSWER_MS`, and reaches the caller as many
        // again later.
        let step = (latency / 2).max(1);
        let mut give_up = ANSWER_MS;
        while give_up <= ANSWER_MS + 16 * latency {
            let case = case(entry, latency, give_up);
            let scenario = case.scenario();
            let (history, mut violations) =
                props::run_judged(&scenario, NAME).expect("the run completes");
            let dialog_oracles: BTreeMap<String, toml::Value> = [ACK_RECEIVED, DIALOGS_AGREE]
                .into_iter()
                .map(|name| (name.to_string(), toml::Value::Table(Default::default())))
                .collect();
            violations.extend(callsim::oracles::evaluate_with(
                &dialog_oracles,
                &history,
                &scenario.oracle_context(),
            ));
            runs += 1;
            let messages: Vec<&str> = violations.iter().map(|v| v.message.as_str()).collect();
            if !messages.is_empty() {
                failures.push(format!("{case:?}: {}", messages.join("; ")));
            }
            let ghosts = ghosts(&history);
            if !ghosts.is_empty() {
                ghost_runs += 1;
                failures.push(format!("{case:?}: {}", ghosts.join("; ")));
            }
            for hop in crossings(&history) {
                *by_hop.entry(hop).or_default() += 1;
            }
            give_up += step;
        }
    }
    eprintln!(
        "{entry:?}: {runs} runs, {} failing, {ghost_runs} with a ghost call; CANCEL/200 crossings by hop: {by_hop:?}",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {runs} runs fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for hop in hops {
        assert!(
            by_hop.get(*hop).copied().unwrap_or(0) > 0,
            "the sweep never crossed CANCEL and 200 on {hop}: {by_hop:?}"
        );
    }
}

#[test]
fn cancel_crossing_the_200_through_an_lb_leaves_no_ghost_call() {
    sweep(Entry::Lb { pods: 1 }, &["carrier->lb", "lb->sip"]);
}

#[test]
fn cancel_crossing_the_200_through_an_sbc_chain_leaves_no_ghost_call() {
    sweep(
        Entry::Sbc {
            edge: 1,
            inbound: 1,
        },
        &[
            "carrier->sbc-edge",
            "sbc-edge->sbc-inbound",
            "sbc-inbound->sip",
        ],
    );
}
