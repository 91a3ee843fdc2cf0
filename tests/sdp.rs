//! Offer/answer at the carrier over real runs (`nodes::carrier`,
//! `sip::sdp`): a callee whose phone takes none of the offered codecs
//! rejects the INVITE at once with 488 Not Acceptable Here, before
//! ringing, and the platform reports it honestly (the API status is the
//! 488, every default oracle holds); a callee whose codecs include the
//! offer's answers as before; and a carrier whose profiles name no codecs
//! runs exactly as it did before codecs existed (the same history).

use callsim::history::History;
use callsim::report::Verdict;
use callsim::scenario::Scenario;

/// Outbound sync calls to one callee profile; `codecs` is its TOML line.
fn scenario(codecs: &str) -> Scenario {
    let text = format!(
        r#"[run]
seed = 3
duration = "60s"

[nodes.gateway]

[nodes.bus]

[nodes.sip]

[nodes.carrier]
callees = [{{ answer_after = "1s", hold = "5s" {codecs} }}]

[nodes.agent]

[workload]
outbound = {{ calls = 4, rate_per_s = 1.0, wait_until_answered = true, ringing_timeout = "20s" }}

[oracles]
ringing_timeout_respected = {{}}
ack_received = {{}}
"#
    );
    Scenario::from_toml(&text, "sdp.toml".as_ref()).expect("valid scenario")
}

fn run(codecs: &str) -> callsim::report::Report {
    let s = scenario(codecs);
    let output = callsim::testbed::run(&s, s.run.seed).expect("the run completes");
    callsim::report::Report::build(&s, output, 0)
}

fn carrier_sent(history: &History, line: &str) -> usize {
    history
        .records
        .iter()
        .filter(|r| r.is("sip.send") && &*r.host == "carrier" && r.str("start_line") == Some(line))
        .count()
}

#[test]
fn no_codec_in_common_is_488_before_ringing_and_reported_honestly() {
    // The platform's INVITEs offer PCMU (sip::sdp::DEFAULT_OFFER_CODECS).
    let r = run(r#", codecs = ["G729", "opus"]"#);
    assert_eq!(r.verdict, Verdict::Pass, "{:#?}", r.violations);
    assert_eq!(r.calls.total, 4);
    assert_eq!(r.calls.by_status.get("488"), Some(&4), "{:?}", r.calls);
    assert_eq!(carrier_sent(&r.history, "488"), 4);
    assert_eq!(
        carrier_sent(&r.history, "180"),
        0,
        "rejected before ringing"
    );
    assert_eq!(carrier_sent(&r.history, "200"), 0);
    let outcomes: Vec<_> = r
        .history
        .of_kind("callee.outcome")
        .map(|e| (e.str("outcome").map(str::to_string), e.u64("code")))
        .collect();
    assert!(
        outcomes
            .iter()
            .all(|o| *o == (Some("unreachable".to_string()), Some(488))),
        "{outcomes:?}"
    );
}

#[test]
fn a_codec_in_common_answers_and_no_codecs_keeps_the_history() {
    let takes_pcmu = run(r#", codecs = ["g722", "pcmu"]"#);
    assert_eq!(takes_pcmu.verdict, Verdict::Pass);
    assert_eq!(takes_pcmu.calls.by_status.get("200"), Some(&4));
    let any = run("");
    assert_eq!(any.calls.by_status.get("200"), Some(&4));
    // A profile naming codecs the offer has changes nothing on the wire.
    assert_eq!(takes_pcmu.trace_hash, any.trace_hash);
}

/// Early media end to end: a callee profile with `early_media = true`
/// answers the platform's offer in a 183 Session Progress before its 200;
/// the SIP pod receives that 183 with the SDP answer (recorded in the
/// event's `sdp`), the same session its 200 then carries, and every
/// default oracle, `offer_answer` among them, holds.
#[test]
fn a_183_with_sdp_carries_early_media_to_the_platform() {
    let s = scenario(", early_media = true");
    let output = callsim::testbed::run(&s, s.run.seed).expect("the run completes");
    let history = &output.history;
    let sdp_of = |host: &str, kind: &str, line: &str| -> Vec<String> {
        history
            .records
            .iter()
            .filter(|r| r.is(kind) && &*r.host == host && r.str("start_line") == Some(line))
            .filter(|r| r.str("cseq").is_some_and(|c| c.ends_with("INVITE")))
            .filter_map(|r| r.str("sdp").map(str::to_string))
            .collect()
    };
    let early = sdp_of("sip-1", "sip.recv", "183");
    assert_eq!(early.len(), 4, "one 183 with SDP per call");
    assert!(carrier_sent(history, "180") == 0, "no plain ringing");
    let answers = sdp_of("sip-1", "sip.recv", "200");
    for (early, answer) in early.iter().zip(&answers) {
        let early = callsim::sip::sdp::Sdp::parse(early).expect("an SDP answer");
        let answer = callsim::sip::sdp::Sdp::parse(answer).expect("an SDP answer");
        assert_eq!(early.media_addr_of(0), answer.media_addr_of(0));
    }
    let report = callsim::report::Report::build(&s, output, 0);
    assert_eq!(report.verdict, Verdict::Pass, "{:#?}", report.violations);
}
