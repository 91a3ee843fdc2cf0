//! The autoscaler (issue 18, `nodes::autoscaler` and the runtime in
//! `testbed::supervisor`): spare pods are dormant hosts until it asks for
//! them, a scaler too slow for the load is caught by a generic oracle,
//! and load that goes away gives idle pods back.

use crate::support;
use callsim::history::History;

/// `(time, target)` of every `scale.start` (`up`) or `scale.stop`.
fn scaled(h: &History, up: bool) -> Vec<(u64, String)> {
    let kind = if up { "scale.start" } else { "scale.stop" };
    h.of_kind(kind)
        .map(|r| (r.t_ms, r.str("target").expect("target").to_string()))
        .collect()
}

/// Inbound calls the SIP pods refused with 503.
fn refused(h: &History) -> usize {
    h.of_kind("call.end")
        .filter(|r| r.host.as_ref() == "carrier" && r.u64("status") == Some(503))
        .count()
}

#[test]
fn a_scaler_too_slow_for_the_load_loses_calls_that_a_quick_one_carries() {
    let failing = support::mechanism("autoscale-burst-failing");
    let passing = support::mechanism("autoscale-burst-passing");
    for seed in 1..=3 {
        let (f, p) = support::demo_pair(&failing, &passing, seed, "inbound_availability");
        assert!(f
            .violations
            .iter()
            .all(|v| v.oracle == "inbound_availability"));
        for (report, name) in [(&f, "failing"), (&p, "passing")] {
            // Pods 2-4 are dormant from 0 ms, and silent until started.
            let stopped = scaled(&report.history, false);
            let dormant: Vec<(u64, &str)> = stopped.iter().map(|(t, h)| (*t, h.as_str())).collect();
            assert_eq!(
                &dormant[..3],
                &[(0, "sip-2"), (0, "sip-3"), (0, "sip-4")],
                "{name} seed {seed}"
            );
            for (t_up, host) in scaled(&report.history, true) {
                let early = report
                    .history
                    .records
                    .iter()
                    .find(|r| r.host.as_ref() == host && r.t_ms < t_up);
                assert!(
                    early.is_none(),
                    "{name} seed {seed}: {host} ran before {t_up}: {early:?}"
                );
            }
        }
        // The figure: when the first spare pod starts, and what it cost.
        let first_up = |h: &History| scaled(h, true).first().map(|(t, _)| *t);
        let f_up = first_up(&f.history).expect("the slow scaler scales too");
        let p_up = first_up(&p.history).expect("the quick scaler scales");
        assert!(f_up >= 30_000 + 20_000, "seed {seed}: {f_up}");
        assert!(p_up < 20_000, "seed {seed}: {p_up}");
        assert!(
            refused(&f.history) >= 10,
            "seed {seed}: {}",
            refused(&f.history)
        );
        assert!(
            refused(&p.history) <= 3,
            "seed {seed}: {}",
            refused(&p.history)
        );
    }
}

const SCALE_DOWN: &str = r#"
[run]
seed = 1
duration = "200s"
tick = "10ms"

[nodes.gateway]
[nodes.bus]
[nodes.agent]
[nodes.sip]
pods = 3
slots = { capacity = 20 }
[nodes.lb]
pods = 1
backends = ["sip"]
[nodes.carrier]
inbound_entry = ["lb"]
[nodes.autoscaler]
target = "sip"
per_pod = 5.0
min = 1
interval = "2s"
scale_down_after = "20s"

[workload]
inbound = { calls = 40, rate_per_s = 1, hold = "20s", start = "5s" }

[[faults]]
kind = "restart"
node = "sip-3"
at = "2s"

[[faults]]
kind = "crash"
node = "sip-3"
at = "3s"
until = "6s"
"#;

#[test]
fn load_that_goes_away_gives_idle_pods_back_one_at_a_time_and_never_below_min() {
    let h = support::history_of(SCALE_DOWN, "scale-down.toml");
    let decisions: Vec<(u64, u64, u64, u64)> = h
        .of_kind("scale.decision")
        .map(|r| {
            let n = |f| r.u64(f).expect(f);
            (r.t_ms, n("from"), n("to"), n("value"))
        })
        .collect();
    let ups: Vec<_> = decisions.iter().filter(|d| d.2 > d.1).collect();
    let downs: Vec<_> = decisions.iter().filter(|d| d.2 < d.1).collect();
    assert!(!ups.is_empty(), "{decisions:?}");
    assert!(!downs.is_empty(), "{decisions:?}");
    // Down one pod at a time, to min and no further, each at least
    // scale_down_after (20 s) after the last decision.
    let last_up = ups.last().map(|d| d.0).expect("ups");
    let mut previous = last_up;
    for (t, from, to, _) in &downs {
        assert_eq!(*to, from - 1, "{decisions:?}");
        assert!(*to >= 1);
        assert!(*t >= previous + 20_000, "{decisions:?}");
        previous = *t;
    }
    assert_eq!(decisions.last().map(|d| d.2), Some(1), "{decisions:?}");
    // Each pod stopped in a scale-in was idle: no call it answered was
    // still up.
    for (t_stop, host) in scaled(&h, false).into_iter().filter(|(t, _)| *t > 0) {
        let answered: Vec<&str> = h
            .of_kind("call.answered")
            .filter(|r| r.host.as_ref() == host)
            .filter_map(|r| r.call())
            .collect();
        for call in answered {
            let ended = h
                .of_call(call)
                .any(|r| r.is("call.end") && r.t_ms <= t_stop);
            assert!(ended, "{host} stopped at {t_stop} with {call} up");
        }
    }
    // The restart fault at 2 s and the crash from 3 s to 6 s found sip-3
    // dormant and left it so (the crash's end does not start it): it first
    // runs when the scaler starts it.
    let sip3_up = scaled(&h, true)
        .into_iter()
        .find(|(_, host)| host == "sip-3")
        .map(|(t, _)| t);
    let first_sip3 = h
        .records
        .iter()
        .find(|r| r.host.as_ref() == "sip-3")
        .map(|r| r.t_ms);
    match (sip3_up, first_sip3) {
        (Some(up), Some(first)) => assert!(first >= up, "sip-3 ran at {first}, started at {up}"),
        (None, first) => assert_eq!(first, None, "sip-3 ran without being started"),
        (Some(_), None) => {}
    }
}

#[test]
fn bad_autoscaler_settings_name_their_line_and_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "target = \"sip\"",
            "target = \"lb\"",
            "nodes.autoscaler.target",
        ),
        (
            "target = \"sip\"",
            "target = \"gateway\"",
            "nodes.autoscaler.target",
        ),
        ("per_pod = 5.0", "per_pod = 0.0", "nodes.autoscaler.per_pod"),
        ("max = 4", "max = 5", "nodes.autoscaler.max"),
        ("min = 1", "min = 0", "nodes.autoscaler.min"),
        (
            "metric = \"in_use\"",
            "metric = \"cpu\"",
            "nodes.autoscaler.metric",
        ),
        ("warmup = \"10s\"", "warmup = \"0s\"", "nodes.sip.warmup"),
    ];
    support::assert_field_errors(
        "fixtures/scenarios/mechanisms/autoscale-burst-failing.toml",
        cases,
    );
}
