//! Every fault point fires, and firing changes the run (STYLE.md, habit
//! 11: a BUGGIFY site that is never reached in simulation is deleted).
//!
//! For each entry of `sim::buggify::SITES`, [`TABLE`] names a scenario (a
//! fixture, shortened) in which the site is reached. The test runs it on
//! seed 1 twice: without buggify, and with only that site activated
//! (`activate_probability = 1`) at the row's fire probability. It checks
//! that the site fired (`fault.point` events with its name) and that the
//! history, with the `fault.point` events taken out, differs from the run
//! without buggify: the fault changed what crossed the network or when,
//! not only the record of itself.
//!
//! Runs go on two threads (each run has its own thread-local recorder);
//! the whole table takes about 7 s on two shared cores (test profile).

use callsim::faults::BuggifyConfig;
use callsim::history::History;
use callsim::scenario::Scenario;
use callsim::sim::buggify::{describe, SITES};
use callsim::sim::Dur;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// The scenarios the sites are reached in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Base {
    /// `outbound-sync.toml`: gateway, bus, SIP service, carrier, agent.
    Outbound,
    /// `outbound-sync.toml` losing 30% of the datagrams between `sip-1`
    /// and the carrier, so that transaction timers retransmit.
    OutboundLossy,
    /// `inbound-lb.toml` with `sip-2` crashed for good at 5 s, so that
    /// health checks eject it while calls go on.
    LbCrash,
    /// One inbound call through the LB held 120 s with session timers
    /// (the carrier refreshes every 45 s).
    Timers,
    /// `media-play.toml`: the Play/Say proxy, origin and telemetry.
    MediaPlay,
    /// `twilio-telemetry-overflow-buggy.toml`: a telemetry buffer that
    /// overflows.
    Telemetry,
    /// `deploy-lb.toml`: the deployer and the LB pods' admin ports.
    Deploy,
    /// `harness-selftest.toml`: pinger and echo.
    Harness,
}

impl Base {
    fn text(self) -> String {
        let file = |name: &str| {
            std::fs::read_to_string(format!("fixtures/scenarios/{name}"))
                .unwrap_or_else(|e| panic!("read fixtures/scenarios/{name}: {e}"))
        };
        match self {
            Base::Outbound => file("outbound-sync.toml"),
            Base::OutboundLossy => {
                file("outbound-sync.toml")
                    + "\n[[faults]]\nkind = \"loss\"\nbetween = [\"sip-1\", \"carrier\"]\nprobability = 0.3\nat = \"0s\"\n"
            }
            Base::LbCrash => {
                file("inbound-lb.toml") + "\n[[faults]]\nkind = \"crash\"\nnode = \"sip-2\"\nat = \"5s\"\n"
            }
            Base::Timers => TIMERS.to_string(),
            Base::MediaPlay => file("media-play.toml"),
            Base::Telemetry => file("twilio-telemetry-overflow-buggy.toml"),
            Base::Deploy => file("deploy-lb.toml"),
            Base::Harness => file("harness-selftest.toml"),
        }
    }

    /// How long the runs last: long enough to reach the sites.
    fn duration_s(self) -> u64 {
        match self {
            Base::Outbound | Base::OutboundLossy => 25,
            Base::LbCrash => 30,
            Base::Timers => 110,
            Base::MediaPlay => 20,
            Base::Telemetry => 8,
            Base::Deploy => 30,
            Base::Harness => 20,
        }
    }
}

const TIMERS: &str = r#"
[run]
seed = 1
duration = "110s"
tick = "10ms"

[nodes.gateway]
[nodes.bus]
[nodes.agent]
[nodes.sip]
session_timer = { expires = "90s" }
[nodes.lb]
backends = ["sip"]
[nodes.carrier]
inbound_entry = ["lb"]
session_timer = { expires = "90s" }

[workload]
inbound = { calls = 1, rate_per_s = 1, hold = "120s" }
"#;

/// (site, scenario, fire probability). Sites reached rarely (once per
/// call or per refresh) fire every time.
const TABLE: &[(&str, Base, f64)] = &[
    ("sip.drop_180", Base::Outbound, 0.5),
    ("sip.delay_ack", Base::Outbound, 0.5),
    ("sip.send_lost", Base::Outbound, 0.2),
    ("sip.recv_lost", Base::Outbound, 0.2),
    ("sip.send_twice", Base::Outbound, 0.2),
    ("sip.uas_overloaded", Base::Outbound, 0.3),
    ("sip.timer_late", Base::OutboundLossy, 0.3),
    ("sip.refresh_skipped", Base::Timers, 1.0),
    ("rpc.slow_handler", Base::Outbound, 0.3),
    ("rpc.drop_reply", Base::Outbound, 0.2),
    ("rpc.server_reset", Base::Outbound, 0.2),
    ("rpc.reply_late", Base::Outbound, 0.3),
    ("rpc.connect_refused", Base::Outbound, 0.2),
    ("bus.drop_forward", Base::Outbound, 0.2),
    ("bus.slow_forward", Base::Outbound, 0.3),
    ("health.lose_reply", Base::LbCrash, 0.5),
    ("health.round_skipped", Base::LbCrash, 0.5),
    ("health.probe_late", Base::LbCrash, 0.5),
    ("lb.route_ignores_health", Base::LbCrash, 1.0),
    ("lb.drop_request", Base::LbCrash, 0.2),
    ("lb.forget_transaction", Base::LbCrash, 1.0),
    ("proxy.send_lost", Base::LbCrash, 0.2),
    ("media.drop_packet", Base::Outbound, 0.3),
    ("media.stall", Base::Outbound, 0.2),
    ("media.cache_miss", Base::MediaPlay, 0.5),
    ("telemetry.drop_record", Base::Telemetry, 0.5),
    ("telemetry.flush_late", Base::Telemetry, 0.5),
    ("telemetry.ingest_slow", Base::Telemetry, 0.5),
    ("workers.stall", Base::Outbound, 0.3),
    ("workers.spurious_reject", Base::Outbound, 0.2),
    ("deploy.step_failed", Base::Deploy, 1.0),
    ("deploy.step_slow", Base::Deploy, 1.0),
    ("admin.apply_late", Base::Deploy, 1.0),
    ("gateway.api_slow", Base::Outbound, 0.3),
    ("sip_service.dial_slow", Base::Outbound, 0.3),
    ("agent.answer_late", Base::LbCrash, 0.3),
    ("carrier.answer_late", Base::Outbound, 0.3),
    ("carrier.media_silent", Base::Outbound, 0.5),
    ("harness.echo_drop", Base::Harness, 0.3),
];

/// `base` with only `site` active, or with buggify off.
fn scenario(base: Base, site: Option<(&str, f64)>) -> Scenario {
    let name = format!("{base:?}.toml");
    let mut scenario =
        Scenario::from_toml(&base.text(), Path::new(&name)).expect("the base scenario is valid");
    scenario.run.duration = Dur::from_secs(base.duration_s());
    scenario.fault_settings.buggify = site.map(|(site, fire)| BuggifyConfig {
        enabled: true,
        activate_probability: 1.0,
        fire_probability: fire,
        sites: Some(vec![site.to_string()]),
    });
    scenario
}

fn history(scenario: &Scenario) -> History {
    callsim::testbed::run(scenario, 1)
        .expect("the run stays in its budget")
        .history
}

/// The history's hash without the `fault.point` records.
fn hash_without_points(history: &History) -> u64 {
    History {
        records: (history.records.iter())
            .filter(|r| !r.is("fault.point"))
            .cloned()
            .collect(),
    }
    .hash()
}

/// Runs `jobs` on two threads; results in the jobs' order.
fn on_two_threads<J: Sync, R: Send>(jobs: &[J], work: impl Fn(&J) -> R + Sync) -> Vec<R> {
    let next = Mutex::new(0usize);
    let results: Mutex<BTreeMap<usize, R>> = Mutex::default();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = {
                    let mut next = next.lock().expect("job counter");
                    *next += 1;
                    *next - 1
                };
                let Some(job) = jobs.get(i) else { return };
                let r = work(job);
                results.lock().expect("results").insert(i, r);
            });
        }
    });
    results
        .into_inner()
        .expect("results")
        .into_values()
        .collect()
}

#[test]
fn every_site_fires_and_changes_the_run() {
    // Setup: one run without buggify per scenario.
    let mut bases: Vec<Base> = TABLE.iter().map(|(_, b, _)| *b).collect();
    bases.sort();
    bases.dedup();
    let baselines: BTreeMap<Base, u64> = bases
        .iter()
        .copied()
        .zip(on_two_threads(&bases, |b| {
            hash_without_points(&history(&scenario(*b, None)))
        }))
        .collect();

    // Each site alone, on the same seed.
    let outcomes = on_two_threads(TABLE, |&(site, base, fire)| {
        let h = history(&scenario(base, Some((site, fire))));
        let fired = h
            .of_kind("fault.point")
            .filter(|r| r.str("site") == Some(site))
            .count();
        let changed = hash_without_points(&h) != baselines[&base];
        (site, base, fired, changed)
    });

    // Expect: every site fired at least once, and changed the history.
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|(_, _, fired, changed)| *fired == 0 || !changed)
        .map(|(site, base, fired, changed)| {
            format!("{site} on {base:?} (seed 1): fired {fired} times, history changed: {changed}")
        })
        .collect();
    for (site, base, fired, _) in &outcomes {
        eprintln!("{site:<26} {base:?}: fired {fired}");
    }
    assert!(
        failures.is_empty(),
        "fault points that did not fire or change the run:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_table_covers_every_site_once_and_every_site_is_described() {
    let listed: Vec<&str> = TABLE.iter().map(|(site, _, _)| *site).collect();
    for site in SITES {
        let rows = listed.iter().filter(|s| *s == site).count();
        assert_eq!(rows, 1, "{site}: {rows} rows in TABLE, want one");
        let about = describe(site).unwrap_or_else(|| panic!("{site} has no description"));
        assert!(about.len() > 20, "{site}: {about:?}");
    }
    for site in &listed {
        assert!(SITES.contains(site), "{site} in TABLE is not a site");
    }
    assert_eq!(describe("sip.drop_181"), None);
}
