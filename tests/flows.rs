//! The example flows of fixtures/scenarios (outbound sync, outbound async,
//! inbound through the LB, inbound through the SBC chain, Play/Say media,
//! a deployment that adds and removes an LB): each passes every oracle it names, ends every
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
    let report = crate::support::run(&scenario, scenario.run.seed);
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

#[test]
fn inbound_sbc() {
    let report = run("inbound-sbc.toml");
    assert_eq!(report.calls.total, 100);
    let statuses = by_status(&report);
    assert_eq!(
        statuses.keys().collect::<Vec<_>>(),
        vec!["200", "603"],
        "{statuses:?}"
    );
    // Every INVITE crossed an edge pod and then an inbound pod.
    let invites_from = |host_prefix: &str, peer_prefix: &str| {
        report
            .history
            .of_kind("sip.send")
            .filter(|r| r.host.starts_with(host_prefix) && r.str("start_line") == Some("INVITE"))
            .filter(|r| r.bool("retransmission") != Some(true))
            .filter(|r| r.str("peer").is_some_and(|p| p.starts_with(peer_prefix)))
            .count()
    };
    assert_eq!(invites_from("carrier", "sbc-edge-"), 100);
    assert_eq!(invites_from("sbc-edge-", "sbc-inbound-"), 100);
    assert_eq!(invites_from("sbc-inbound-", "sip-"), 100);
    insta::assert_snapshot!("inbound_sbc_answered", ladder(&report.history, "in-1"));
}

#[test]
fn media_play() {
    let report = run("media-play.toml");
    assert_eq!(report.calls.total, 100);
    let results: Vec<_> = report.history.of_kind("verb.result").collect();
    // Two verbs (Play, Say) per answered call, all played.
    assert_eq!(results.len(), 200);
    assert!(results.iter().all(|r| r.bool("ok") == Some(true)));
    assert_eq!(by_status(&report).get("200"), Some(&100));
    insta::assert_snapshot!("media_play_answered", ladder(&report.history, "in-1"));
}

#[test]
fn deploy_lb() {
    let report = run("deploy-lb.toml");
    assert_eq!(report.calls.total, 100);
    assert_eq!(by_status(&report).get("200"), Some(&100));
    // Every call connected; those whose dialog went through lb-3 when it
    // was deleted lost their BYE, so the platform failed them.
    let failed: Vec<&str> = report
        .history
        .of_kind("call.end")
        .filter(|r| r.str("outcome") == Some("failed"))
        .filter_map(|r| r.call())
        .collect();
    assert!(
        !failed.is_empty(),
        "deleting lb-3 under live dialogs fails some"
    );
    for call in &failed {
        let via_lb3 = report
            .history
            .records
            .iter()
            .any(|r| r.call() == Some(*call) && &*r.host == "lb-3");
        assert!(via_lb3, "{call} failed without crossing lb-3");
    }
    assert_eq!(
        report
            .calls
            .by_outcome
            .get("completed")
            .copied()
            .unwrap_or(0)
            + failed.len() as u64,
        100
    );
    let applies: Vec<(String, String)> = report
        .history
        .of_kind("deploy.apply")
        .map(|r| {
            (
                r.str("created").unwrap_or_default().to_string(),
                r.str("deleted").unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        applies,
        vec![
            ("production/lb-3".to_string(), String::new()),
            (String::new(), "production/lb-3".to_string()),
        ]
    );
    // lb-3 carried calls while it existed, and only then.
    let lb3_invites: Vec<u64> = report
        .history
        .of_kind("sip.recv")
        .filter(|r| &*r.host == "lb-3" && r.str("start_line") == Some("INVITE"))
        .map(|r| r.t_ms)
        .collect();
    assert!(!lb3_invites.is_empty());
    assert!(lb3_invites.iter().all(|t| (20_000..60_200).contains(t)));
    let first_through_lb3 = report
        .history
        .of_kind("sip.recv")
        .find(|r| &*r.host == "lb-3" && r.str("start_line") == Some("INVITE"))
        .and_then(|r| r.call())
        .expect("a call through lb-3")
        .to_string();
    insta::assert_snapshot!(
        "deploy_lb_call_through_the_new_lb",
        ladder(&report.history, &first_through_lb3)
    );
}
