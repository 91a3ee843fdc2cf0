//! Session timers (RFC 4028) over the test-bed: one inbound call through
//! an LB, held 300 s; at 60 s the LB is cut off from the SIP pod both ways
//! for good.
//!
//! - With `session_timer = { expires = "90s" }` on the carrier and the SIP
//!   service: before the cut the carrier (the UAC, which supports timers,
//!   so the refresher) refreshes with an UPDATE every 45 s and the pod
//!   answers 200; after it, the pod, hearing no refresh, sends BYE at
//!   90 - 30 = 60 s after the last one, and the carrier's refresh fails
//!   (timer F) and ends the call "session expired".
//! - Without: the pod never ends its side of the call, and the carrier's
//!   BYE at the end of the hold is lost: a dialog stranded for good.
//!
//! And a UAS whose `min_se` is above what the caller asks refuses with 422
//! and its `Min-SE` (section 9); the caller asks again with that interval
//! (section 7.4).

use crate::support::history_of;
use callsim::history::{History, Record};

fn scenario(carrier: &str, sip: &str) -> String {
    format!(
        r#"
[run]
seed = 3
duration = "400s"
tick = "10ms"

[nodes.gateway]
[nodes.bus]
[nodes.agent]
[nodes.sip]
{sip}
[nodes.lb]
backends = ["sip"]
[nodes.carrier]
inbound_entry = ["lb"]
{carrier}

[workload]
inbound = {{ calls = 1, rate_per_s = 1, hold = "300s" }}

[[faults]]
kind = "partition"
between = ["lb", "sip-1"]
at = "60s"

[oracles]
every_call_terminates = false
sip_conformance = false
dialogs_agree = false
ack_received = false
"#
    )
}

const TIMERS: &str = r#"session_timer = { expires = "90s" }"#;

fn sent<'h>(history: &'h History, host: &'h str, line: &'h str) -> Vec<&'h Record> {
    history
        .of_kind("sip.send")
        .filter(|r| &*r.host == host && r.str("start_line") == Some(line))
        .collect()
}

#[test]
fn a_call_stranded_by_a_partition_ends_by_its_session_timer() {
    let history = history_of(&scenario(TIMERS, TIMERS), "timers.toml");
    let updates: Vec<u64> = sent(&history, "carrier", "UPDATE")
        .iter()
        .filter(|r| r.bool("retransmission") == Some(false))
        .map(|r| r.t_ms)
        .collect();
    assert!(updates.len() >= 2, "refreshes every 45 s: {updates:?}");
    let answered: Vec<u64> = sent(&history, "sip-1", "200")
        .iter()
        .filter(|r| r.str("cseq").is_some_and(|c| c.ends_with("UPDATE")))
        .map(|r| r.t_ms)
        .collect();
    assert!(
        !answered.is_empty(),
        "the pod answers refreshes before the cut"
    );
    let last_refresh = *answered
        .iter()
        .filter(|t| **t < 60_000)
        .max()
        .expect("one before the cut");
    let pod_bye = sent(&history, "sip-1", "BYE")
        .first()
        .map(|r| r.t_ms)
        .expect("the pod ends its side");
    assert!(
        pod_bye.abs_diff(last_refresh + 60_000) <= 1_000,
        "the pod's BYE at {pod_bye} ms, 60 s after the last refresh at {last_refresh} ms"
    );
    let end = history
        .of_kind("call.end")
        .find(|r| r.call() == Some("in-1"))
        .expect("the call ends");
    assert_eq!(end.str("reason"), Some("session expired"), "{end:?}");
    assert!(
        end.t_ms < 300_000,
        "before its hold was over: {} ms",
        end.t_ms
    );
}

#[test]
fn without_session_timers_the_pod_keeps_the_stranded_dialog() {
    let history = history_of(&scenario("", ""), "no-timers.toml");
    assert!(sent(&history, "carrier", "UPDATE").is_empty());
    assert!(
        sent(&history, "sip-1", "BYE").is_empty(),
        "nothing ends the pod's side"
    );
}

#[test]
fn an_interval_under_the_uas_min_se_gets_422_and_the_caller_asks_again() {
    let history = history_of(
        &scenario(
            TIMERS,
            r#"session_timer = { expires = "1800s", min_se = "120s" }"#,
        ),
        "422.toml",
    );
    assert_eq!(sent(&history, "sip-1", "422").len(), 1);
    // The carrier ACKs the 422 and sends the INVITE again, CSeq 2, asking
    // for the pod's Min-SE; that one is answered.
    let invites: Vec<Option<&str>> = sent(&history, "carrier", "INVITE")
        .iter()
        .filter(|r| r.bool("retransmission") == Some(false))
        .map(|r| r.str("cseq"))
        .collect();
    assert_eq!(invites, vec![Some("1 INVITE"), Some("2 INVITE")]);
    assert!(sent(&history, "sip-1", "200")
        .iter()
        .any(|r| r.str("cseq") == Some("2 INVITE")));
    // The session runs at 120 s, not the 90 s first asked: the carrier
    // refreshes 60 s after the 2xx, not 45 s.
    let ok = sent(&history, "sip-1", "200")
        .iter()
        .find(|r| r.str("cseq") == Some("2 INVITE"))
        .map(|r| r.t_ms)
        .expect("the 200");
    let first_update = sent(&history, "carrier", "UPDATE")
        .first()
        .map(|r| r.t_ms)
        .expect("a refresh");
    assert!(
        (59_000..=61_500).contains(&(first_update - ok)),
        "first refresh {} ms after the 200",
        first_update - ok
    );
}
