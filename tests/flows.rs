//! The example flows of fixtures/scenarios (outbound sync, outbound async,
//! inbound through the LB): each passes every oracle it names, ends every
//! call with a sensible status, and the ladder of a representative call is
//! pinned by a snapshot.

use callsim::history::ladder::ladder;
use callsim::history::History;
use callsim::report::Report;
use callsim::scenario::Scenario;
use std::collections::BTreeMap;
use std::path::Path;

fn run(file: &str) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/scenarios")
        .join(file);
    let scenario = Scenario::load(&path).expect("valid scenario");
    let output = callsim::testbed::run(&scenario, scenario.run.seed).expect("run completes");
    let report = Report::build(&scenario, output, 0);
    assert!(
        report.violations.is_empty(),
        "{file}: {:#?}",
        report.violations
    );
    report
}

fn by_status(report: &Report) -> BTreeMap<String, u64> {
    report.calls.by_status.clone()
}

/// The first call whose `call.end` has `status`.
fn first_ending(history: &History, status: u64) -> String {
    history
        .of_kind("call.end")
        .find(|r| r.u64("status") == Some(status))
        .and_then(|r| r.call())
        .expect("a call with that status")
        .to_string()
}

#[test]
fn outbound_sync() {
    let report = run("outbound-sync.toml");
    assert_eq!(report.calls.total, 100);
    let statuses = by_status(&report);
    // Answers, rejections with the callee's own codes, and no-answers at
    // ringing_timeout: nothing else.
    for status in statuses.keys() {
        assert!(
            ["200", "408", "486", "603"].contains(&status.as_str()),
            "{statuses:?}"
        );
    }
    assert!(statuses["200"] >= 50, "{statuses:?}");
    insta::assert_snapshot!("outbound_sync_answered", ladder(&report.history, "out-1"));
    let no_answer = first_ending(&report.history, 408);
    insta::assert_snapshot!(
        "outbound_sync_no_answer",
        ladder(&report.history, &no_answer)
    );
}

#[test]
fn outbound_async() {
    let report = run("outbound-async.toml");
    assert_eq!(report.calls.total, 100);
    // The API answered 200 to every request (dialling started)...
    assert!(report
        .history
        .of_kind("api.response")
        .all(|r| r.u64("status") == Some(200)));
    // ...and the call ends report what became of each call.
    let statuses = by_status(&report);
    for status in statuses.keys() {
        assert!(
            ["200", "408", "480", "486", "603"].contains(&status.as_str()),
            "{statuses:?}"
        );
    }
    insta::assert_snapshot!("outbound_async_answered", ladder(&report.history, "out-1"));
}

#[test]
fn inbound_lb() {
    let report = run("inbound-lb.toml");
    assert_eq!(report.calls.total, 100);
    let statuses = by_status(&report);
    assert_eq!(
        statuses.keys().collect::<Vec<_>>(),
        vec!["200", "603"],
        "{statuses:?}"
    );
    // Every INVITE entered through an LB pod, never straight to the service.
    assert!(report
        .history
        .of_kind("sip.send")
        .filter(|r| r.host.as_ref() == "carrier" && r.str("start_line") == Some("INVITE"))
        .all(|r| r.str("peer").is_some_and(|p| p.starts_with("lb-"))));
    insta::assert_snapshot!("inbound_lb_answered", ladder(&report.history, "in-1"));
}
