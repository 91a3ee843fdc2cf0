//! Fault demonstrations on the voice platform (agent, gateway, bus, SIP
//! service, LB, carrier), each on its scenario in
//! fixtures/scenarios/faults/platform-*.toml, with figures from the
//! history: call outcomes by start time, which SIP pod took each call,
//! health-check verdicts, retransmissions, post-dial delay.

use super::{load, run};
use callsim::history::History;
use std::collections::{BTreeMap, BTreeSet};

/// A call as the history saw it.
#[derive(Debug, Default, Clone)]
struct Call {
    start: u64,
    status: Option<u64>,
    answered: Option<u64>,
    /// SIP pods that received its INVITE.
    pods: BTreeSet<String>,
    /// First 180 the carrier heard.
    ringing: Option<u64>,
}

fn calls(history: &History) -> BTreeMap<String, Call> {
    let mut out: BTreeMap<String, Call> = BTreeMap::new();
    for r in &history.records {
        let Some(id) = r.call().filter(|c| !c.is_empty()) else {
            continue;
        };
        let call = out.entry(id.to_string()).or_default();
        match r.kind() {
            "call.start" => call.start = r.t_ms,
            "call.end" => call.status = r.u64("status"),
            "call.answered" => call.answered = Some(r.t_ms),
            "sip.recv" if r.host.starts_with("sip-") && r.str("start_line") == Some("INVITE") => {
                call.pods.insert(r.host.to_string());
            }
            "sip.recv"
                if &*r.host == "carrier"
                    && r.str("start_line") == Some("180")
                    && call.ringing.is_none() =>
            {
                call.ringing = Some(r.t_ms)
            }
            _ => {}
        }
    }
    out
}

fn started_in(calls: &BTreeMap<String, Call>, from: u64, to: u64) -> Vec<&Call> {
    calls
        .values()
        .filter(|c| (from..to).contains(&c.start))
        .collect()
}

fn share_ok(calls: &[&Call]) -> f64 {
    let ok = calls.iter().filter(|c| c.status == Some(200)).count();
    ok as f64 / calls.len().max(1) as f64
}

#[test]
fn carrier_lb_partition_fails_inbound_calls_then_they_recover() {
    let report = run(&load("platform-partition"), 1);
    let c = calls(&report.history);
    let (before, inside, after) = (
        started_in(&c, 0, 15_000),
        started_in(&c, 15_000, 23_000),
        started_in(&c, 25_000, 60_000),
    );
    let codes: BTreeSet<Option<u64>> = inside.iter().map(|c| c.status).collect();
    eprintln!(
        "carrier<->lb partition 15s..25s: calls started before {} ({:.2} ok), inside {} ({:.2} ok, codes {codes:?}), after {} ({:.2} ok)",
        before.len(), share_ok(&before), inside.len(), share_ok(&inside), after.len(), share_ok(&after)
    );
    assert!(inside.len() >= 4);
    assert_eq!(share_ok(&inside), 0.0);
    assert_eq!(codes, BTreeSet::from([Some(408)]));
    assert_eq!(share_ok(&before), 1.0, "calls connected before survive");
    assert!(after.len() >= 10);
    assert_eq!(share_ok(&after), 1.0, "recovery");
}

#[test]
fn loss_on_sip_shows_retransmissions_and_calls_still_connect() {
    let scenario = load("platform-loss");
    let report = run(&scenario, 1);
    let mut clean = scenario.clone();
    clean.faults.clear();
    let baseline = run(&clean, 1);
    let c = calls(&report.history);
    let setup = |calls: &[&Call]| -> u64 {
        calls
            .iter()
            .filter_map(|c| Some(c.answered? - c.start))
            .max()
            .unwrap_or(0)
    };
    let (inside, outside) = (started_in(&c, 10_000, 38_000), started_in(&c, 0, 9_000));
    eprintln!(
        "loss 0.3 sip<->carrier 10s..40s: sip.retransmissions {} (without the fault {}); calls {:?}; slowest answer inside {}ms, outside {}ms",
        report.sip.retransmissions,
        baseline.sip.retransmissions,
        report.calls.by_status,
        setup(&inside),
        setup(&outside)
    );
    assert_eq!(baseline.sip.retransmissions, 0);
    assert!(
        report.sip.retransmissions >= 30,
        "{}",
        report.sip.retransmissions
    );
    assert_eq!(
        report.calls.by_status.get("200"),
        Some(&40),
        "timers recover every call"
    );
    assert!(
        setup(&inside) >= setup(&outside) + 500,
        "a lost INVITE or 180 costs at least T1"
    );
}

#[test]
fn crashing_one_sip_pod_moves_calls_to_the_other_after_health_checks() {
    let report = run(&load("platform-crash-sip-pod"), 1);
    let c = calls(&report.history);
    let health: Vec<(u64, bool)> = report
        .history
        .of_kind("health.change")
        .filter(|r| r.str("target") == Some("sip-1"))
        .map(|r| (r.t_ms, r.bool("healthy").expect("healthy")))
        .collect();
    let down_at = health
        .iter()
        .find(|h| !h.1)
        .expect("sip-1 marked unhealthy")
        .0;
    let up_at = health
        .iter()
        .find(|h| h.1 && h.0 > down_at)
        .expect("sip-1 back")
        .0;
    let pods = |calls: &[&Call]| -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for call in calls {
            for p in &call.pods {
                *m.entry(p.clone()).or_default() += 1;
            }
        }
        m
    };
    let before = started_in(&c, 0, 20_000);
    let gap = started_in(&c, 20_000, down_at);
    let ejected = started_in(&c, down_at, 40_000);
    let back = started_in(&c, up_at + 1000, 90_000);
    eprintln!(
        "crash sip-1 20s..40s: unhealthy at {down_at}ms ({}ms after), healthy again at {up_at}ms; pods before {:?}, after ejection {:?} ({:.2} ok), after recovery {:?}; {} calls started before ejection ({:.2} ok)",
        down_at - 20_000,
        pods(&before),
        pods(&ejected),
        share_ok(&ejected),
        pods(&back),
        gap.len(),
        share_ok(&gap),
    );
    assert!(
        (22_000..=24_000).contains(&down_at),
        "3 missed checks: {down_at}"
    );
    assert!(up_at > 40_000 && up_at <= 44_000, "{up_at}");
    assert!(pods(&before).len() == 2, "both pods take calls");
    assert_eq!(pods(&ejected).keys().collect::<Vec<_>>(), vec!["sip-2"]);
    assert!(ejected.len() >= 25);
    assert_eq!(share_ok(&ejected), 1.0);
    assert!(pods(&back).contains_key("sip-1"), "sip-1 takes calls again");
}

#[test]
fn cpu_saturation_shows_queueing_delay() {
    let report = run(&load("platform-saturate"), 1);
    let c = calls(&report.history);
    let pdd = |calls: &[&Call]| -> Vec<u64> {
        let mut v: Vec<u64> = calls
            .iter()
            .filter_map(|c| Some(c.ringing? - c.start))
            .collect();
        v.sort_unstable();
        v
    };
    let before = pdd(&started_in(&c, 0, 10_000));
    let inside = pdd(&started_in(&c, 10_000, 17_500));
    let after = pdd(&started_in(&c, 22_000, 50_000));
    let failed = started_in(&c, 0, 50_000)
        .iter()
        .filter(|c| c.status != Some(200))
        .count();
    eprintln!(
        "saturate sip x4 10s..15s: INVITE->180 median before {}ms, max inside {}ms, median after {}ms; {failed} calls failed (INVITE queued past the entry timeout)",
        before[before.len() / 2],
        inside.last().unwrap(),
        after[after.len() / 2]
    );
    assert!(before[before.len() / 2] <= 100);
    assert!(*inside.last().unwrap() >= 1000, "a queue builds");
    assert!(after[after.len() / 2] <= 100, "and drains");
    assert!(failed > 0);
    assert_eq!(
        started_in(&c, 0, 10_000)
            .iter()
            .filter(|c| c.status != Some(200))
            .count(),
        0
    );
}

#[test]
fn a_config_override_changes_behaviour_from_its_time_on() {
    let report = run(&load("platform-set"), 1);
    let c = calls(&report.history);
    let responses: BTreeMap<&str, (u64, u64)> = report
        .history
        .of_kind("api.response")
        .map(|r| {
            (
                r.call().expect("call"),
                (r.t_ms, r.u64("status").expect("status")),
            )
        })
        .collect();
    let outcome = |from: u64, to: u64| -> BTreeMap<u64, usize> {
        let mut m = BTreeMap::new();
        for (id, call) in &c {
            if (from..to).contains(&call.start) {
                *m.entry(responses[id.as_str()].1).or_default() += 1;
            }
        }
        m
    };
    let (before, after) = (outcome(0, 15_000), outcome(15_000, 60_000));
    let cut: Vec<u64> = c
        .iter()
        .filter(|(id, call)| call.start >= 15_000 && responses[id.as_str()].1 == 408)
        .map(|(id, call)| responses[id.as_str()].0 - call.start)
        .collect();
    eprintln!(
        "set gateway rpc_client.middleware += tracing at 15s: API statuses before {before:?}, after {after:?}; 408s after {}..{}ms",
        cut.iter().min().unwrap(),
        cut.iter().max().unwrap()
    );
    assert_eq!(before.keys().collect::<Vec<_>>(), vec![&200]);
    assert_eq!(after.keys().collect::<Vec<_>>(), vec![&408]);
    assert!(cut.iter().all(|d| (3000..=3030).contains(d)), "{cut:?}");
    assert!(report
        .violations
        .iter()
        .any(|v| v.oracle == "ringing_timeout_respected"));
}

#[test]
fn gray_failure_passes_health_checks_while_its_calls_fail() {
    let report = run(&load("platform-gray"), 1);
    let c = calls(&report.history);
    let inside = started_in(&c, 15_000, 35_000);
    let on =
        |pod: &str| -> Vec<&&Call> { inside.iter().filter(|c| c.pods.contains(pod)).collect() };
    let (sip1, sip2) = (on("sip-1"), on("sip-2"));
    let sip1_failed = sip1.iter().filter(|c| c.status == Some(503)).count();
    let health_changes = report.history.of_kind("health.change").count();
    let pings_answered = report
        .history
        .of_kind("sip.send")
        .filter(|r| &*r.host == "sip-1" && r.str("start_line") == Some("200"))
        .filter(|r| r.str("cseq").is_some_and(|s| s.ends_with("OPTIONS")))
        .filter(|r| (15_000..35_000).contains(&r.t_ms))
        .count();
    eprintln!(
        "gray sip-1 15s..35s: {pings_answered} health checks answered 200, {health_changes} health changes; sip-1 took {} calls ({sip1_failed} got 503), sip-2 {} ({:.2} ok)",
        sip1.len(),
        sip2.len(),
        share_ok(&sip2.iter().map(|c| **c).collect::<Vec<_>>())
    );
    assert_eq!(health_changes, 0, "the health checks never notice");
    assert!(pings_answered >= 15);
    assert!(sip1.len() >= 10, "the LB keeps sending sip-1 its share");
    assert_eq!(sip1_failed, sip1.len());
    assert!(sip2.iter().all(|c| c.status == Some(200)));
    let after = started_in(&c, 36_000, 60_000);
    assert!(after.len() >= 10);
    assert_eq!(share_ok(&after), 1.0, "sip-1 works again");
}

#[test]
fn rate_limit_refuses_calls_beyond_the_limit_with_its_code() {
    let report = run(&load("platform-rate-limit"), 1);
    let c = calls(&report.history);
    let per_second = |from: u64, to: u64| -> (usize, usize) {
        let calls = started_in(&c, from, to);
        let ok = calls.iter().filter(|c| c.status == Some(200)).count();
        let refused = calls.iter().filter(|c| c.status == Some(503)).count();
        (ok, refused)
    };
    let (ok, refused) = per_second(5_000, 15_000);
    eprintln!(
        "rate_limit 2/s (503) 5s..15s against 8/s offered: inside {ok} ok, {refused} refused; before {:?}, after {:?}",
        per_second(0, 5_000),
        per_second(15_000, 40_000)
    );
    assert_eq!((ok, refused), (20, 60));
    assert_eq!(per_second(0, 5_000).1, 0);
    assert_eq!(per_second(15_000, 40_000).1, 0);
}

/// The scenario without its faults: the baseline a fault's figures are
/// read against.
fn without_faults(mut scenario: callsim::scenario::Scenario) -> callsim::scenario::Scenario {
    scenario.faults.clear();
    scenario
}

/// Responses `host` sent with `code`, to requests of `method`, in [from, to).
fn answers(history: &History, host: &str, code: &str, method: &str, from: u64, to: u64) -> usize {
    history
        .of_kind("sip.send")
        .filter(|r| &*r.host == host && r.str("start_line") == Some(code))
        .filter(|r| r.str("cseq").is_some_and(|s| s.ends_with(method)))
        .filter(|r| (from..to).contains(&r.t_ms))
        .count()
}

#[test]
fn a_gray_lb_keeps_answering_its_ping_while_it_refuses_new_calls() {
    let scenario = load("platform-lb-gray");
    let baseline = run(&without_faults(scenario.clone()), 1);
    let report = run(&scenario, 1);
    let (c, base) = (calls(&report.history), calls(&baseline.history));
    // Calls started well inside the window (their INVITE reaches lb-1
    // after 10 s and before 25 s).
    let inside = started_in(&c, 10_500, 24_500);
    let codes: BTreeSet<Option<u64>> = inside.iter().map(|c| c.status).collect();
    let pings = answers(&report.history, "lb-1", "200", "OPTIONS", 10_000, 25_000);
    let refused = answers(&report.history, "lb-1", "503", "INVITE", 10_000, 25_000);
    let lb_changes = report
        .history
        .of_kind("health.change")
        .filter(|r| r.str("target") == Some("lb-1"))
        .count();
    let after = started_in(&c, 26_000, 60_000);
    eprintln!(
        "gray lb-1 10s..25s: {pings} pings answered 200, {lb_changes} health changes of lb-1; {} calls started inside (codes {codes:?}, {refused} INVITEs refused 503); baseline inside {:.2} ok; after {} calls, {:.2} ok",
        inside.len(),
        share_ok(&started_in(&base, 10_500, 24_500)),
        after.len(),
        share_ok(&after)
    );
    assert!(pings >= 10, "the SBC's checks of lb-1 are answered 200");
    assert_eq!(lb_changes, 0, "the health checks never notice");
    assert!(inside.len() >= 20);
    assert_eq!(codes, BTreeSet::from([Some(503)]), "refused by the LB");
    assert!(
        inside.iter().all(|c| c.pods.is_empty()),
        "no INVITE reached a SIP pod"
    );
    assert!(refused >= inside.len(), "{refused} refusals");
    assert_eq!(
        share_ok(&started_in(&base, 10_500, 24_500)),
        1.0,
        "baseline"
    );
    // Calls connected before the fault still end well; calls after it work.
    assert_eq!(share_ok(&started_in(&c, 0, 6_000)), 1.0);
    assert!(after.len() >= 10);
    assert_eq!(share_ok(&after), 1.0);
}

#[test]
fn an_lb_rate_limit_refuses_new_calls_beyond_it_with_its_code() {
    let scenario = load("platform-lb-rate-limit");
    let baseline = run(&without_faults(scenario.clone()), 1);
    let report = run(&scenario, 1);
    let (c, base) = (calls(&report.history), calls(&baseline.history));
    let per_window = |calls: &BTreeMap<String, Call>, from: u64, to: u64| -> (usize, usize) {
        let calls = started_in(calls, from, to);
        let ok = calls.iter().filter(|c| c.status == Some(200)).count();
        let refused = calls.iter().filter(|c| c.status == Some(429)).count();
        (ok, refused)
    };
    let (ok, refused) = per_window(&c, 5_000, 15_000);
    let retry_after = report
        .history
        .of_kind("sip.send")
        .filter(|r| &*r.host == "lb-1" && r.str("start_line") == Some("429"))
        .count();
    eprintln!(
        "lb-1 rate_limit 2/s (429) 5s..15s against 8/s offered: inside {ok} ok, {refused} refused ({retry_after} 429s sent); baseline inside {:?}; before {:?}, after {:?}",
        per_window(&base, 5_000, 15_000),
        per_window(&c, 0, 5_000),
        per_window(&c, 15_000, 40_000)
    );
    assert_eq!(per_window(&base, 5_000, 15_000), (80, 0), "baseline");
    assert_eq!((ok, refused), (20, 60));
    assert_eq!(retry_after, 60, "one refusal per refused call");
    assert_eq!(per_window(&c, 0, 5_000).1, 0);
    assert_eq!(per_window(&c, 15_000, 40_000).1, 0);
    // Calls admitted before the window were not cut (their in-dialog
    // requests are not counted).
    assert!(c
        .values()
        .all(|c| c.status == Some(200) || c.status == Some(429)));
}
