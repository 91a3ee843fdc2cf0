//! The test-bed: turns a [`Scenario`] into a turmoil `Sim` and runs it.
//!
//! A run is a pure function of (scenario, seed, code). The sim is always
//! built with `rng_seed(seed)` and the fixed [`EPOCH`]; every node gets RNGs
//! derived from the seed and its host name; the history recorder is
//! installed for this thread only. One explicit step loop
//! ([`run`]) is the whole scheduler: it applies the scheduled actions (the
//! fault plan) when sim time reaches them, advances the recorder's clock,
//! and steps turmoil, until the scenario's duration.
//!
//! The test-bed is the top of the simulation side: it assembles what
//! `sim` defines (node contexts, control handles, the world scheduled
//! actions see) from a validated scenario, starts each host through the
//! node registry, and applies the fault plan's schedule.

pub mod parallel;
pub mod supervisor;

use crate::history::wire::Tape;
use crate::history::{host_span, History, NetworkCounts, Recorder};
use crate::scenario::Scenario;
use crate::sim::{Control, NodeCtx, World};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// The fixed wall-clock epoch every simulation starts at
/// (2025-01-01T00:00:00Z), so nothing reads the real clock.
pub const EPOCH: Duration = Duration::from_secs(1_735_689_600);

/// Extra sim time turmoil is allowed past the scenario's duration before it
/// reports the budget exhausted (it never should: the step loop stops at
/// the duration).
const BUDGET_SLACK_TICKS: u32 = 16;

/// Why a run could not complete (exit code 5).
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    #[error("host software failed at t={t_ms}ms: {message}")]
    HostFailed { t_ms: u64, message: String },
    #[error("a scheduled action failed at t={t_ms}ms: {message}")]
    ActionFailed { t_ms: u64, message: String },
    /// The run budget (`[run] max_events`) ran out: the run is stopped,
    /// not judged.
    #[error("the run budget ran out at t={t_ms}ms: {events} events recorded, more than [run] max_events = {limit}; raise it, or shorten the run or its load")]
    BudgetExceeded { t_ms: u64, events: u64, limit: u64 },
    /// The config `[vary]` drew for this seed is not a valid scenario (each
    /// extreme was checked at load; a combination of draws can still clash).
    #[error("the config [vary] drew for seed {seed} is invalid: {field}: {message}")]
    DrawnConfigInvalid {
        seed: u64,
        field: String,
        message: String,
    },
}

/// The raw result of a run; [`crate::report::Report`] is built from it.
pub struct RunOutput {
    pub history: History,
    pub seed: u64,
    pub sim_ms: u64,
    pub hosts: usize,
    pub tick_ms: u64,
    /// Labels of the actions the step loop applied, in order.
    pub applied: Vec<String>,
}

/// Runs `scenario` with `seed`. The scenario must be validated.
pub fn run(scenario: &Scenario, seed: u64) -> Result<RunOutput, TestbedError> {
    run_with(Recorder::new(), scenario, seed)
}

/// [`run`], also counting the messages turmoil put on its links (UDP
/// datagrams and TCP segments). Slower than [`run`]: the benchmark uses it
/// to size its raw-turmoil floor, outside its timed runs.
pub fn run_counting_network(
    scenario: &Scenario,
    seed: u64,
) -> Result<(RunOutput, NetworkCounts), TestbedError> {
    let recorder = Recorder::counting_network();
    let output = run_with(recorder.clone(), scenario, seed)?;
    let counts = recorder
        .network_counts()
        .expect("a counting recorder has counts");
    Ok((output, counts))
}

/// [`run`], also keeping the wire tape (every message on turmoil's
/// network, with its fate; see [`crate::history::wire`]) for `--pcap`,
/// `--trace-sip-bodies` and failure bundles. The history is the same as
/// [`run`]'s: the tape only listens.
pub fn run_capturing(scenario: &Scenario, seed: u64) -> Result<(RunOutput, Tape), TestbedError> {
    let recorder = Recorder::new().capturing();
    let output = run_with(recorder.clone(), scenario, seed)?;
    let tape = recorder
        .take_tape()
        .expect("a capturing recorder has a tape");
    Ok((output, tape))
}

/// Installs `recorder` (set to the scenario's tick) for the run, and runs
/// the scenario as `[vary]` draws it for `seed`.
fn run_with(recorder: Recorder, scenario: &Scenario, seed: u64) -> Result<RunOutput, TestbedError> {
    let scenario = scenario
        .for_seed(seed)
        .map_err(|e| TestbedError::DrawnConfigInvalid {
            seed,
            field: e.field,
            message: e.message,
        })?;
    let scenario = scenario.as_ref();
    let recorder = recorder.with_tick(scenario.run.tick.0);
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    tracing::subscriber::with_default(subscriber, || run_recorded(scenario, seed, &recorder))
}

fn run_recorded(
    scenario: &Scenario,
    seed: u64,
    recorder: &Recorder,
) -> Result<RunOutput, TestbedError> {
    let run = &scenario.run;
    let duration = run.duration.0;
    let tick = run.tick.0;
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + EPOCH)
        .tick_duration(tick)
        .simulation_duration(duration + tick * BUDGET_SLACK_TICKS)
        .min_message_latency(run.latency_min.0)
        .max_message_latency(run.latency_max.0)
        .build();

    let topology = Arc::new(scenario.topology());
    let workload = Arc::new(
        toml::Value::try_from(&scenario.workload).expect("the workload serialises to TOML"),
    );
    let sections: BTreeMap<&'static str, toml::Value> = scenario.nodes.section_values();
    let mut controls = BTreeMap::new();
    for host in &topology.hosts {
        let config = sections
            .get(host.section)
            .cloned()
            .expect("every host comes from a configured section");
        let control = Control::new(config);
        let incarnation = Rc::new(std::cell::Cell::new(0u32));
        let ctx = NodeCtx {
            name: Arc::from(host.name.as_str()),
            kind: host.kind,
            pod: host.pod,
            section: host.section,
            seed,
            incarnation: 0,
            control: control.handle(),
            workload: workload.clone(),
            topology: topology.clone(),
        };
        controls.insert(host.name.clone(), control);
        sim.host(host.name.as_str(), move || {
            let mut ctx = ctx.clone();
            ctx.incarnation = incarnation.get();
            incarnation.set(ctx.incarnation + 1);
            let span = host_span(&ctx.name);
            async move { crate::nodes::run(ctx).instrument(span).await }
        });
    }

    // Library code (SIP transactions, RPC exchanges, `sim::time`) reaches
    // its host's control handle through one ambient map, installed only
    // for what the run uses: fault points, and clocks a plan may skew.
    let _ambient = crate::sim::ambient::install(
        controls
            .iter()
            .map(|(name, control)| (Arc::from(name.as_str()), control.handle())),
        crate::sim::ambient::Uses {
            fault_points: (scenario.fault_settings.buggify.as_ref()).is_some_and(|b| b.enabled),
            clocks: scenario.plan_inputs().may_skew_clocks(),
        },
    );

    let mut schedule = crate::faults::schedule(&scenario.plan_inputs(), seed, &topology);
    // Stable: actions at the same time keep the plan's order.
    schedule.sort_by_key(|a| a.at_ms);
    let mut schedule = schedule.into_iter().peekable();
    let mut applied = Vec::new();
    let mut supervisor = supervisor::Supervisor::new(&sections, &topology);

    let duration_ms = duration.as_millis() as u64;
    loop {
        let now_ms = sim.elapsed().as_millis() as u64;
        recorder.set_clock_ms(now_ms);
        while let Some(action) = schedule.next_if(|a| a.at_ms <= now_ms) {
            let mut world = World {
                sim: &mut sim,
                controls: &controls,
                topology: &topology,
                run: &scenario.run,
                sections: &sections,
            };
            (action.apply)(&mut world).map_err(|message| TestbedError::ActionFailed {
                t_ms: now_ms,
                message: format!("{}: {message}", action.label),
            })?;
            applied.push(format!("t={now_ms}ms {}", action.label));
        }
        supervisor.step(&mut sim, &controls, &topology, now_ms);
        if now_ms >= duration_ms {
            break;
        }
        let events = recorder.len() as u64;
        if events > run.max_events {
            return Err(TestbedError::BudgetExceeded {
                t_ms: now_ms,
                events,
                limit: run.max_events,
            });
        }
        sim.step().map_err(|e| TestbedError::HostFailed {
            t_ms: now_ms,
            message: e.to_string(),
        })?;
    }
    let sim_ms = sim.elapsed().as_millis() as u64;
    drop(sim);
    Ok(RunOutput {
        history: recorder.take(),
        seed,
        sim_ms,
        hosts: topology.hosts.len(),
        tick_ms: tick.as_millis() as u64,
        applied,
    })
}
