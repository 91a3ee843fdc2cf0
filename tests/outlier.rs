//! Outlier ejection at the LB (`[nodes.lb] outlier`), judged by the
//! generic `ejection_within` oracle: the demo pair in
//! fixtures/scenarios/mechanisms/ differs only in the LB's `outlier` line.
//! A gray pod answers its health checks and refuses every call; without
//! outlier ejection the LB keeps sending it calls (exit 1), with it the
//! pod is ejected after 3 failed setups (exit 0), on several seeds.

use crate::support;
use callsim::report::Verdict;
use callsim::scenario::Scenario;

fn load(variant: &str) -> Scenario {
    let path = format!("fixtures/scenarios/mechanisms/outlier-ejection-{variant}.toml");
    Scenario::load(path.as_ref()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn failed_calls(report: &callsim::report::Report) -> u64 {
    report
        .calls
        .by_status
        .iter()
        .filter(|(status, _)| status.parse::<u16>().is_ok_and(|s| s >= 300))
        .map(|(_, n)| *n)
        .sum()
}

#[test]
fn without_outlier_ejection_the_gray_pod_keeps_getting_calls() {
    let scenario = load("failing");
    for seed in [1, 2, 3] {
        let report = crate::support::run(&scenario, seed);
        assert_eq!(report.verdict, Verdict::Fail, "seed {seed}");
        let ejection: Vec<_> = report
            .violations
            .iter()
            .filter(|v| v.oracle == "ejection_within")
            .collect();
        assert!(ejection.len() >= 5, "seed {seed}: {ejection:#?}");
        assert!(ejection.iter().all(|v| v.message.contains("to sip-1")));
        assert!(
            failed_calls(&report) >= 40,
            "seed {seed}: {:?}",
            report.calls
        );
    }
}

#[test]
fn with_outlier_ejection_the_gray_pod_is_ejected_and_the_run_passes() {
    let scenario = load("passing");
    for seed in [1, 2, 3] {
        let report = crate::support::run(&scenario, seed);
        assert_eq!(
            report.verdict,
            Verdict::Pass,
            "seed {seed}: {:#?}",
            report.violations
        );
        // 3 failed setups per return of the pod: at 10 s, at +30 s, +60 s.
        let failed = failed_calls(&report);
        assert!((3..=12).contains(&failed), "seed {seed}: {failed} failed");
        let history = &report.history;
        let ejections: Vec<(u64, u64)> = history
            .of_kind("outlier.ejected")
            .map(|r| (r.t_ms, r.u64("ejected_ms").unwrap_or(0)))
            .collect();
        assert!(ejections.len() >= 2, "seed {seed}: {ejections:?}");
        assert_eq!(
            ejections[0].1, 30_000,
            "the first ejection lasts base_ejection"
        );
        assert_eq!(ejections[1].1, 60_000, "the second twice that");
        assert!(history
            .of_kind("outlier.ejected")
            .all(|r| r.str("target") == Some("sip-1") && &*r.host == "lb-1"));
    }
}

#[test]
fn outlier_fields_are_validated_with_file_line_and_field() {
    let text =
        std::fs::read_to_string("fixtures/scenarios/mechanisms/outlier-ejection-passing.toml")
            .expect("readable");
    let bad = text.replace(r#"max_ejection = "120s""#, r#"max_ejection = "5s""#);
    let err = Scenario::from_toml(&bad, "outlier.toml".as_ref()).expect_err("max below base");
    let shown = err.to_string();
    assert!(shown.contains("nodes.lb.outlier.max_ejection"), "{shown}");
    assert!(shown.contains("outlier.toml:"), "{shown}");
}

/// The SBC's inbound pods eject a gray SIP pod the same way: same
/// detector, judged by `ejection_within` at the `sbc-inbound` section.
fn sbc_scenario(outlier: &str) -> Scenario {
    let text = format!(
        r#"
[run]
seed = 1
duration = "90s"
tick = "10ms"

[nodes.gateway]
[nodes.bus]
[nodes.agent]
answer_after = "500ms"
[nodes.sip]
pods = 2
[nodes.sbc-edge]
pods = 1
[nodes.sbc-inbound]
pods = 1
{outlier}
[nodes.carrier]
inbound_entry = ["sbc-edge"]

[workload]
inbound = {{ calls = 100, rate_per_s = 2, hold = "5s" }}

[[faults]]
kind = "gray"
node = "sip-1"
mode = "work"
at = "10s"

[oracles]
ejection_within = {{ failures = 3, within = "2s", hold = "20s", at = ["sbc-inbound"] }}
every_call_terminates = {{ bound = "60s" }}
"#
    );
    Scenario::from_toml(&text, "sbc-outlier.toml".as_ref()).expect("valid")
}

#[test]
fn sbc_inbound_pods_eject_a_gray_sip_pod_only_with_outlier_on() {
    for seed in [1, 2] {
        let without = crate::support::run(&sbc_scenario(""), seed);
        assert_eq!(without.verdict, Verdict::Fail, "seed {seed}");
        assert!(without
            .violations
            .iter()
            .any(|v| v.oracle == "ejection_within" && v.message.contains("sbc-inbound-1")));
        let with = crate::support::run(
            &sbc_scenario(r#"outlier = { consecutive_failures = 3, base_ejection = "30s" }"#),
            seed,
        );
        assert_eq!(
            with.verdict,
            Verdict::Pass,
            "seed {seed}: {:#?}",
            with.violations
        );
        assert!(failed_calls(&with) < failed_calls(&without), "seed {seed}");
        assert!(with
            .history
            .of_kind("outlier.ejected")
            .any(|r| &*r.host == "sbc-inbound-1"));
    }
}

/// `gray = black_hole` on the LB: from its start the LB takes in every
/// INVITE and answers nothing nor forwards it, while its health ping
/// (OPTIONS to the LB itself) is still answered 200.
#[test]
fn a_black_holed_lb_answers_its_ping_and_nothing_else() {
    let text = std::fs::read_to_string("fixtures/scenarios/inbound-lb.toml").expect("readable");
    let text = format!(
        "{text}\n[[faults]]\nkind = \"gray\"\nnode = \"lb-1\"\nmode = \"black_hole\"\nat = \"30s\"\n"
    );
    let scenario = Scenario::from_toml(&text, "black-hole.toml".as_ref()).expect("valid");
    let report = crate::support::run(&scenario, 1);
    let sent: Vec<(u64, &str, &str)> = report
        .history
        .of_kind("sip.send")
        .filter(|r| &*r.host == "lb-1")
        .map(|r| {
            let line = r.str("start_line").unwrap_or("");
            (r.t_ms, line, r.str("cseq").unwrap_or(""))
        })
        .collect();
    assert!(
        sent.iter().any(|(t, l, _)| *t < 30_000 && *l == "INVITE"),
        "it forwarded before"
    );
    let after: Vec<_> = sent.iter().filter(|(t, _, _)| *t >= 30_000).collect();
    assert!(!after.is_empty(), "it still answers its pings");
    // Only its own probes of the backends and 200s to pings leave it.
    assert!(
        after
            .iter()
            .all(|(_, l, cseq)| cseq.ends_with("OPTIONS") && (*l == "200" || *l == "OPTIONS")),
        "{after:?}"
    );
    let invites_in = report
        .history
        .of_kind("sip.recv")
        .filter(|r| &*r.host == "lb-1" && r.t_ms >= 30_000)
        .filter(|r| r.str("start_line") == Some("INVITE"))
        .count();
    assert!(invites_in > 0, "INVITEs still arrive, into the hole");
}

/// Media outlier ejection at the SBC's edge pods: a hop that passes every
/// call's signalling but relays no media (`gray` mode `media`) is ejected
/// only when answered calls are judged by their media too. Seeds 1-3.
#[test]
fn edge_pods_eject_a_media_dead_hop_only_when_media_judges_setups() {
    let failing = support::mechanism("media-outlier-ejection-failing");
    let passing = support::mechanism("media-outlier-ejection-passing");
    for seed in 1..=3 {
        let (f, p) = support::demo_pair(&failing, &passing, seed, "ejection_within");
        let ejections = |r: &callsim::report::Report| {
            r.history
                .of_kind("outlier.ejected")
                .filter(|e| e.str("target") == Some("sbc-inbound-2"))
                .map(|e| e.str("reason").unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        };
        assert!(ejections(&f).is_empty(), "seed {seed}: setups never fail");
        let reasons = ejections(&p);
        assert!(
            !reasons.is_empty() && reasons.iter().all(|r| r == "no_media"),
            "seed {seed}: {reasons:?}"
        );
        // Calls sent into the media-dead hop after the fault began.
        let sent = |r: &callsim::report::Report| {
            r.history
                .of_kind("sip.send")
                .filter(|s| {
                    s.t_ms > 10_000
                        && s.host.starts_with("sbc-edge")
                        && s.str("peer") == Some("sbc-inbound-2")
                        && s.str("start_line") == Some("INVITE")
                        && s.str("to_tag").is_none()
                        && s.bool("retransmission") != Some(true)
                })
                .count()
        };
        let (f_sent, p_sent) = (sent(&f), sent(&p));
        assert!(
            p_sent * 3 < f_sent,
            "seed {seed}: {p_sent} calls into the silent hop with media ejection vs {f_sent} without"
        );
    }
}

#[test]
fn media_judging_is_refused_where_the_node_sees_no_media() {
    let path = "fixtures/scenarios/mechanisms/media-outlier-ejection-passing.toml";
    support::assert_field_errors(
        path,
        &[(
            r#"max_ejected_share = 0.5, no_media_within = "3s""#,
            r#"max_ejected_share = 0.5, no_media_within = "0s""#,
            "nodes.sbc-edge.outlier.no_media_within",
        )],
    );
    let base = std::fs::read_to_string(path).expect("readable");
    for (from, to, field) in [
        // An LB relays no media.
        (
            "[nodes.carrier]",
            "[nodes.lb]\nbackends = [\"sip\"]\noutlier = { no_media_within = \"3s\" }\n[nodes.carrier]",
            "nodes.lb.outlier.no_media_within",
        ),
        // A pool's anchor is another pod: the signalling pod sees no media.
        (
            "[nodes.sbc-edge]\npods = 2",
            "[nodes.sbc-edge]\npods = 2\nmedia_anchor = \"pool\"",
            "nodes.sbc-edge.outlier.no_media_within",
        ),
    ] {
        let text = base.replace(from, to);
        assert_ne!(text, base, "{path} has no {from}");
        let e = Scenario::from_toml(&text, "bad.toml".as_ref()).expect_err(to);
        assert_eq!(e.field, field, "{e}");
    }
}
