//! `ack_received` and `dialogs_agree` (`callsim::oracles::dialog`) over
//! real runs: both hold as properties over the inbound SIP flows of
//! `callsim::props::inbound` (an LB tier or an SBC chain, calls answered,
//! rejected or given up on) on a clean network, and `dialogs_agree` under
//! mild loss and duplication too; and the two user-agent bugs these
//! oracles found (a 2xx crossing a CANCEL never ACKed; a retransmitted
//! 2xx not ACKed again after the caller hung up) stay fixed. The
//! hand-written histories that make each rule fail are the unit tests of
//! `oracles::dialog`.

use callsim::oracles::dialog::{ACK_RECEIVED, DIALOGS_AGREE};
use callsim::props::inbound::{Entry, InboundCase, Noise};
use callsim::props::{self, Case};

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/proptest-regressions/dialogs.txt"
);

fn holds(oracle: &str, noise: Noise) {
    crate::support::inbound_property_holds(oracle, noise, REGRESSIONS);
}

#[test]
fn ack_received_on_inbound_flows() {
    holds(ACK_RECEIVED, Noise::None);
}

#[test]
fn ack_received_on_inbound_flows_under_mild_loss_and_duplication() {
    holds(ACK_RECEIVED, Noise::Mild);
}

/// postmortem: found by `ack_received` as a property under mild loss.
///
/// - Symptom: `sip-1` retransmitted its 200 to the INVITE until timer H and
///   never received an ACK, though the caller did send one.
/// - Root cause: the caller's ACK was lost on the lossy carrier link, and
///   the caller had already ended the dialog (its CANCEL crossed the 200,
///   so it ACKed and sent BYE at once, as RFC 3261 section 15 asks). The
///   200's retransmissions that followed reached the caller, which dropped
///   them instead of ACKing each one (section 13.2.2.4).
/// - Fix: the UA keeps the ACKs of ended dialogs for 64*T1
///   (`sip::ua::ack_memory`) and repeats one for each retransmitted 2xx.
/// - `sip_conformance` did not see it: the caller sent an ACK once.
#[test]
fn a_caller_that_hung_up_acks_each_retransmitted_2xx() {
    let lossy = InboundCase {
        seed: 673,
        entry: Entry::Lb { pods: 1 },
        sip_pods: 1,
        calls: 2,
        gap_ms: 200,
        answer_after_ms: 0,
        reject_percent: 72,
        reject_code: 486,
        give_up_ms: 500,
        hold_ms: 500,
        latency_ms: 11,
        loss_percent: 7,
        duplicate_percent: 1,
        sip_t1_ms: None,
        cut: None,
    };
    let (history, _) =
        props::run_judged(&lossy.scenario(), ACK_RECEIVED).expect("the run completes");
    // Call in-2: the caller's first ACK of the 200 is lost on the lossy
    // link (the LB never gets it); the caller then receives a
    // retransmission of the 200 and ACKs it again.
    let of_in2 = |kind: &str, host: &str, line: &str| -> Vec<&callsim::history::Record> {
        history
            .records
            .iter()
            .filter(|r| {
                r.call() == Some("in-2")
                    && r.is(kind)
                    && &*r.host == host
                    && r.str("start_line") == Some(line)
            })
            .collect()
    };
    let acks = of_in2("sip.send", "carrier", "ACK");
    let retransmitted = of_in2("sip.recv", "carrier", "200")
        .into_iter()
        .find(|r| r.str("cseq") == Some("1 INVITE") && r.bool("retransmission") == Some(true))
        .expect("a retransmitted 200 reached the caller");
    assert!(
        acks.iter().any(|a| a.t_ms >= retransmitted.t_ms),
        "the retransmitted 200 is ACKed again: ACKs at {:?}, 200 again at {}",
        acks.iter().map(|a| a.t_ms).collect::<Vec<_>>(),
        retransmitted.t_ms
    );
    for oracle in [ACK_RECEIVED, callsim::oracles::sip::NAME, DIALOGS_AGREE] {
        assert_eq!(
            props::verdict(&lossy, oracle),
            Ok(()),
            "{oracle}: {}",
            props::explain(&lossy, oracle)
        );
    }
}

#[test]
fn dialogs_agree_on_inbound_flows() {
    holds(DIALOGS_AGREE, Noise::None);
}

#[test]
fn dialogs_agree_on_inbound_flows_under_mild_loss_and_duplication() {
    holds(DIALOGS_AGREE, Noise::Mild);
}

/// The case from `tests/props_sip.rs` that found a 2xx crossing the
/// caller's CANCEL at the edge SBC never ACKed, held long enough for timer
/// H (32 s) to pass after the 2xx.
fn crossing_at_the_sbc() -> InboundCase {
    InboundCase {
        seed: 10,
        entry: Entry::Sbc {
            edge: 1,
            inbound: 1,
        },
        sip_pods: 1,
        calls: 1,
        gap_ms: 1000,
        answer_after_ms: 2310,
        reject_percent: 0,
        reject_code: 486,
        give_up_ms: 2450,
        hold_ms: 40_000,
        latency_ms: 11,
        loss_percent: 0,
        duplicate_percent: 0,
        sip_t1_ms: None,
        cut: None,
    }
}

/// Before the UA passed a 2xx in `Completed` to its core, `ack_received`
/// flagged this case (`sip-1 sent 2xx 200 ... received no ACK`) while
/// `dialogs_agree` held (the UAS hung up at timer H). Both hold now,
/// through the SBC chain and through an LB.
#[test]
fn a_2xx_crossing_the_cancel_is_acked_through_an_sbc_chain_and_an_lb() {
    let bug = crossing_at_the_sbc();
    let through_lb = InboundCase {
        entry: Entry::Lb { pods: 1 },
        ..bug.clone()
    };
    for case in [bug, through_lb] {
        for oracle in [ACK_RECEIVED, DIALOGS_AGREE] {
            assert_eq!(
                props::verdict(&case, oracle),
                Ok(()),
                "{}",
                props::explain(&case, oracle)
            );
        }
    }
}
