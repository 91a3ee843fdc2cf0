//! A callee that holds and resumes (carrier `on_hold`): over the whole
//! outbound path, each answered call gets a re-INVITE offering
//! `a=sendonly`, which the SIP service pod answers `a=recvonly`, and a
//! second offering `a=sendrecv`, answered `a=sendrecv`; every default
//! oracle (SIP conformance, dialogs agree, ACKs, offer/answer) holds, on
//! more than one seed.

use callsim::history::{History, Record};
use callsim::report::Verdict;
use callsim::scenario::Scenario;

const SCENARIO: &str = r#"
[run]
seed = 1
duration = "60s"
tick = "10ms"

[nodes.gateway]
[nodes.bus]
[nodes.sip]
pods = 2
[nodes.carrier]
callees = [{ outcome = "answer", answer_after = "1s", hold = "20s", on_hold = { after = "3s", lasting = { uniform = ["2s", "6s"] } } }]
[nodes.agent]

[workload]
outbound = { calls = 10, rate_per_s = 2.0, wait_until_answered = true, ringing_timeout = "30s" }

[oracles]
every_call_terminates = { bound = "60s" }
"#;

fn direction(record: &Record) -> Option<&'static str> {
    let sdp = record.str("sdp")?;
    ["sendonly", "recvonly", "inactive", "sendrecv"]
        .into_iter()
        .find(|d| sdp.contains(&format!("a={d}")))
}

/// The directions in the re-INVITEs the carrier sent, and in the 200s it
/// got for them, in order, for one call.
fn reoffers(history: &History, call: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    let of = |kind: &str, line: &str| -> Vec<&'static str> {
        history
            .of_kind(kind)
            .filter(|r| &*r.host == "carrier" && r.str("call") == Some(call))
            .filter(|r| r.str("start_line") == Some(line))
            .filter(|r| r.bool("retransmission") == Some(false))
            .filter(|r| r.str("cseq").is_some_and(|c| c.ends_with("INVITE")))
            .filter_map(direction)
            .collect()
    };
    (of("sip.send", "INVITE"), of("sip.recv", "200"))
}

#[test]
fn every_answered_call_is_held_then_resumed_and_the_run_passes() {
    let scenario = Scenario::from_toml(SCENARIO, "hold.toml".as_ref()).expect("valid");
    for seed in [1, 2, 3] {
        let report = crate::support::run(&scenario, seed);
        assert_eq!(report.verdict, Verdict::Pass, "seed {seed}: {report:?}");
        let history = callsim::testbed::run(&scenario, seed)
            .expect("runs")
            .history;
        for n in 1..=10 {
            let call = format!("out-{n}");
            let (offers, answers) = reoffers(&history, &call);
            assert_eq!(offers, ["sendonly", "sendrecv"], "seed {seed} {call}");
            assert_eq!(answers, ["recvonly", "sendrecv"], "seed {seed} {call}");
        }
    }
}

#[test]
fn on_hold_ranges_are_validated_with_their_field() {
    let bad = SCENARIO.replace(
        r#"lasting = { uniform = ["2s", "6s"] }"#,
        r#"lasting = { uniform = ["6s", "2s"] }"#,
    );
    let err = Scenario::from_toml(&bad, "hold.toml".as_ref()).expect_err("an empty range");
    let text = err.to_string();
    assert!(text.contains("on_hold.lasting"), "{text}");
    assert!(text.contains("hold.toml:"), "{text}");
}
