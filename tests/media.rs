//! The media path on its own: call flows run Play/Say through the verb
//! executor against real media, origin and telemetry hosts, and the verb
//! failure rate comes out of the proxies' CPU, not out of a setting.
//!
//! The harness builds the turmoil sim by hand (the SIP service that will
//! run call flows in scenarios is another node's work), with a `driver`
//! host that starts call flows at a seeded Poisson rate.

use callsim::history::{host_span, History, Recorder};
use callsim::nodes::call_control::{CallControl, CallControlConfig, FlowOutcome, Verb};
use callsim::scenario::Scenario;
use callsim::sim::Control;
use callsim::sim::NodeCtx;
use rand::Rng;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

struct Load {
    calls: u32,
    rate_per_s: f64,
    verbs: Vec<Verb>,
    call_control: CallControlConfig,
}

struct Outcome {
    history: History,
    dropped: u32,
}

fn run(nodes: &str, load: Load) -> Outcome {
    let text = format!("[run]\nduration = \"600s\"\n{nodes}");
    let scenario = Scenario::from_toml(&text, "media-test.toml".as_ref()).expect("valid");
    let recorder = Recorder::new();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let dropped = Rc::new(RefCell::new(0u32));
    tracing::subscriber::with_default(subscriber, || {
        let mut sim = turmoil::Builder::new()
            .rng_seed(scenario.run.seed)
            .tick_duration(Duration::from_millis(10))
            .simulation_duration(Duration::from_secs(600))
            .build();
        let topology = Arc::new(scenario.topology());
        let shared = Arc::new(toml::Value::try_from(&scenario.workload).expect("workload as TOML"));
        let ctx_for = |name: &str, kind: &'static str, section: &'static str| {
            let config = scenario
                .nodes
                .section_value(section)
                .unwrap_or(toml::Value::Table(Default::default()));
            NodeCtx {
                name: Arc::from(name),
                kind,
                pod: 0,
                section,
                seed: scenario.run.seed,
                incarnation: 0,
                control: Control::new(config).handle(),
                workload: shared.clone(),
                topology: topology.clone(),
            }
        };
        for host in &topology.hosts {
            let ctx = ctx_for(&host.name, host.kind, host.section);
            sim.host(host.name.as_str(), move || {
                let ctx = ctx.clone();
                let span = host_span(&ctx.name);
                async move { callsim::nodes::run(ctx).instrument(span).await }
            });
        }
        let driver = ctx_for("driver", "echo", "echo");
        let dropped_in = dropped.clone();
        sim.client(
            "driver",
            async move {
                let control = CallControl::new(&driver, load.call_control.clone());
                let mut rng = driver.rng("arrivals");
                let mut flows = Vec::new();
                for n in 1..=load.calls {
                    let (control, verbs, dropped) =
                        (control.clone(), load.verbs.clone(), dropped_in.clone());
                    flows.push(tokio::task::spawn_local(
                        async move {
                            let call = format!("in-{n}");
                            if let FlowOutcome::Dropped { .. } =
                                control.run_verbs(&call, &verbs).await
                            {
                                *dropped.borrow_mut() += 1;
                            }
                        }
                        .in_current_span(),
                    ));
                    let gap: f64 = -rng.gen::<f64>().max(1e-9).ln() / load.rate_per_s;
                    tokio::time::sleep(Duration::from_secs_f64(gap)).await;
                }
                for f in flows {
                    f.await.expect("flow task");
                }
                Ok(())
            }
            .instrument(host_span("driver")),
        );
        sim.run().expect("sim completes");
    });
    let dropped = *dropped.borrow();
    Outcome {
        history: recorder.take(),
        dropped,
    }
}

/// (verbs, failed verbs).
fn verb_counts(h: &History) -> (usize, usize) {
    let all: Vec<_> = h.of_kind("verb.result").collect();
    let failed = all.iter().filter(|r| r.bool("ok") == Some(false)).count();
    (all.len(), failed)
}

fn play_and_say() -> Vec<Verb> {
    vec![
        Verb::Play {
            url: "https://assets/greeting.wav".into(),
        },
        Verb::Say {
            text: "your call is important".into(),
        },
    ]
}

const NODES: &str = r#"
[nodes.media]
pods = 2
pool = { workers = 2, queue_max = 200 }
fetch_cpu = "20ms"
miss_cpu = "10ms"
telemetry = { buffer_bytes = 16384, payload_bytes = 4096, flush_interval = "200ms", error_event_cpu = "60ms" }
[nodes.origin]
[nodes.telemetry]
"#;

fn load(calls: u32, rate_per_s: f64) -> Load {
    Load {
        calls,
        rate_per_s,
        verbs: play_and_say(),
        call_control: CallControlConfig {
            media: vec!["media".into()],
            verb_timeout: callsim::scenario::Dur::from_secs(2),
            drop_share: 0.5,
            audio_bytes_per_s: 8000,
        },
    }
}

#[test]
fn light_load_plays_every_verb() {
    let out = run(NODES, load(100, 5.0));
    let (verbs, failed) = verb_counts(&out.history);
    assert_eq!(verbs, 200);
    assert_eq!(failed, 0);
    assert_eq!(out.dropped, 0);
}

#[test]
fn trigger_load_overflows_telemetry_and_the_collector_starves_fetches() {
    let out = run(NODES, load(1000, 40.0));
    let (verbs, failed) = verb_counts(&out.history);
    let rate = failed as f64 / verbs as f64;
    eprintln!(
        "verbs {verbs}, failed {failed} ({rate:.3}), dropped {}",
        out.dropped
    );
    assert!(out.history.of_kind("telemetry.overflow").count() > 0);
    assert!(rate > 0.05 && rate < 0.6, "failure rate {rate}");
    assert!(out.dropped > 0);
}

#[test]
fn same_load_without_the_collector_and_with_a_bigger_buffer_holds() {
    let fixed = NODES.replace(
        "telemetry = { buffer_bytes = 16384, payload_bytes = 4096,",
        "telemetry = { buffer_bytes = 262144, payload_bytes = 256, error_collector = false,",
    );
    let out = run(&fixed, load(1000, 40.0));
    let (verbs, failed) = verb_counts(&out.history);
    eprintln!("verbs {verbs}, failed {failed}, dropped {}", out.dropped);
    assert_eq!(out.history.of_kind("telemetry.overflow").count(), 0);
    assert!((failed as f64) < 0.005 * verbs as f64);
}
