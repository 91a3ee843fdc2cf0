//! `every_call_terminates` and `honest_status` as properties over a few
//! outbound calls (callsim::props::outbound: sync, async or mixed calls,
//! a drawn callee mix, one or two SIP pods, link latency; no fault), run
//! through the test-bed: on a healthy platform every call ends within the
//! longest a healthy call takes and no leg leaks, and every API status is
//! what the carrier said.
//!
//! Each property is shown able to fail by a hand-built case whose network
//! breaks where the property is owed, and the same case without the break
//! holding:
//! - a partition between `sip-1` and the carrier just before the callee
//!   hangs up: its BYE never arrives, the SIP service has no silence
//!   timeout, and the call stays up past the bound;
//! - a partition between `sip-1` and the bus once the INVITE is out: the
//!   pod hears the callee's 486, its dial reply never reaches the gateway,
//!   and the API answers 408 for a busy callee.
//!
//! Failures are persisted in `fixtures/proptest-regressions/outbound.txt`
//! and replayed first. `PROPTEST_CASES` new cases per property (default
//! 64).

use callsim::nodes::carrier::callee::Behaviour;
use callsim::oracles::{status, terminates};
use callsim::props::outbound::{case, CallMode, Callee, OutboundCase};
use callsim::props::{self, Cut};

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/proptest-regressions/outbound.txt"
);

fn holds(oracle: &str) {
    let search = props::search(&case(), oracle, props::config(Some(REGRESSIONS)));
    if let Some((case, why)) = &search.counterexample {
        panic!(
            "{oracle} fails on a healthy platform: {why}\n{}",
            props::explain(case, oracle)
        );
    }
    assert_eq!(
        search.cases_judged,
        search.regressions as u32 + props::cases()
    );
}

/// One sync call to a callee who does `outcome` after 1 s and holds 2 s.
fn one_call(outcome: Behaviour, cut: Option<Cut>) -> OutboundCase {
    OutboundCase {
        seed: 1,
        calls: 1,
        gap_ms: 1000,
        mode: CallMode::Sync,
        ringing_timeout_ms: 10_000,
        callees: vec![Callee {
            outcome,
            answer_after_ms: 1000,
            hold_ms: 2000,
        }],
        no_answer_limit_ms: 15_000,
        latency_ms: 5,
        sip_pods: 1,
        cut,
    }
}

/// The oracle's verdict on `case`: `Ok` or its violations' messages.
fn check(case: &OutboundCase, oracle: &str, expected: Result<(), &str>) {
    let verdict = props::verdict(case, oracle);
    match expected {
        Ok(()) => assert_eq!(verdict, Ok(()), "{}", props::explain(case, oracle)),
        Err(part) => {
            let why = verdict.expect_err(&format!("{oracle} flags {case:?}"));
            assert!(why.contains(part), "{why}");
        }
    }
}

#[test]
fn every_call_terminates_on_a_healthy_platform() {
    holds(terminates::NAME);
}

#[test]
fn honest_status_on_a_healthy_platform() {
    holds(status::NAME);
}

#[test]
fn a_lost_bye_leaves_the_call_up_past_its_bound() {
    // The callee answers at about 1.6 s and hangs up at about 3.6 s.
    let healthy = one_call(Behaviour::Answer, None);
    check(&healthy, terminates::NAME, Ok(()));
    // Cut the SIP link at 3 s: the BYE and its retransmissions are lost.
    let cut = Cut {
        from: "sip-1",
        to: "carrier",
        both_ways: true,
        at_ms: 3000,
    };
    let broken = one_call(Behaviour::Answer, Some(cut));
    check(&broken, terminates::NAME, Err("had not ended"));
}

#[test]
fn a_lost_dial_reply_turns_a_busy_callee_into_a_408() {
    // The callee is busy at about 1.6 s; the API answers 486.
    let healthy = one_call(Behaviour::Busy, None);
    check(&healthy, status::NAME, Ok(()));
    // Cut sip-1 from the bus at 1 s, after the INVITE went out: the pod
    // hears the 486, the gateway does not, and answers 408 at its deadline.
    let cut = Cut {
        from: "sip-1",
        to: "bus",
        both_ways: true,
        at_ms: 1000,
    };
    let broken = one_call(Behaviour::Busy, Some(cut));
    check(&broken, status::NAME, Err("honest would be 486"));
}
