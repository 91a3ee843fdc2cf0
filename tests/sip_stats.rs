//! `sip_stats` in `run --json` (report::stats) agrees with the rest of the
//! document on real runs: per-host sends add up to the `sip` block,
//! end reasons to the calls, setup counts to the answered calls, and the
//! post-dial delay comes before the answer.

use callsim::report::Report;
use callsim::scenario::Scenario;
use std::collections::BTreeMap;
use std::path::Path;

fn run(file: &str) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/scenarios")
        .join(file);
    let scenario = Scenario::load(&path).expect("valid scenario");
    crate::support::run(&scenario, scenario.run.seed)
}

fn add(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

#[test]
fn sip_stats_agree_with_the_counts() {
    for file in [
        "outbound-sync.toml",
        "inbound-sbc.toml",
        "inbound-lb.toml",
        "faults/platform-loss.toml",
    ] {
        let report = run(file);
        let stats = &report.sip_stats;
        // Every send, by host, adds up to the `sip` block.
        let (mut requests, mut responses, mut retransmissions) =
            (BTreeMap::new(), BTreeMap::new(), 0);
        for host in stats.by_host.values() {
            add(&mut requests, &host.requests_sent);
            for codes in host.responses_sent.values() {
                add(&mut responses, codes);
            }
            retransmissions += host.retransmissions;
        }
        assert_eq!(requests, report.sip.requests, "{file}");
        assert_eq!(responses, report.sip.responses, "{file}");
        assert_eq!(retransmissions, report.sip.retransmissions, "{file}");
        assert_eq!(
            stats.retransmissions_by_message.values().sum::<u64>(),
            retransmissions,
            "{file}"
        );
        // Calls: attempts, end reasons.
        assert_eq!(stats.call_attempts, report.calls.total, "{file}");
        assert_eq!(
            stats.calls_by_end_reason.values().sum::<u64>(),
            report.calls.total,
            "{file}"
        );
        assert!(stats.call_attempt_rate_per_s > 0.0, "{file}");
        assert!(stats.call_attempt_rate_per_s_max >= 1, "{file}");
        // Every answered call has a setup time; ringing precedes answer.
        let answered = report.calls.by_status.get("200").copied().unwrap_or(0);
        assert!(stats.setup_ms.count >= answered.min(1), "{file}");
        assert!(stats.setup_ms.count <= stats.call_attempts, "{file}");
        let (s, p) = (stats.setup_ms, stats.post_dial_delay_ms);
        assert!(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max);
        assert!(
            p.count > 0 && p.p50 < s.p50,
            "{file}: PDD {p:?} setup {s:?}"
        );
        // Legs: each group's INVITE answers are the leg count's at most.
        for (group, leg) in &stats.by_leg {
            let finals: u64 = leg
                .responses
                .get("INVITE")
                .map(|codes| {
                    codes
                        .iter()
                        .filter(|(c, _)| c.as_str() >= "200")
                        .map(|(_, n)| n)
                        .sum()
                })
                .unwrap_or(0);
            assert!(leg.legs > 0, "{file} {group}");
            assert!(leg.setup_ms.count <= leg.legs, "{file} {group}");
            assert!(finals >= leg.setup_ms.count, "{file} {group}");
        }
    }
}

#[test]
fn a_lossy_run_counts_retransmissions_by_message() {
    let report = run("faults/platform-loss.toml");
    let by_message = &report.sip_stats.retransmissions_by_message;
    assert!(
        by_message.get("INVITE").copied().unwrap_or(0) > 0,
        "{by_message:?}"
    );
    // The JSON document carries the block.
    let json = serde_json::to_value(&report).expect("serialises");
    assert!(json["sip_stats"]["setup_ms"]["p90"].is_u64());
    assert!(json["sip_stats"]["by_leg"]
        .as_object()
        .is_some_and(|o| !o.is_empty()));
}
