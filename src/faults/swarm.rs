//! Swarm mode: the seed also picks which fault kinds are on, and how
//! strong each is, so that a sweep of seeds explores fault mixes rather
//! than one mix (Groce et al., "Swarm Testing", ISSTA 2012).
//!
//! ```toml
//! [fault_settings.swarm]
//! kind_probability = 0.5          # each kind is on in about half the seeds
//! at = "2s"                       # the window the swarm faults act in
//! until = "18s"
//! [fault_settings.swarm.kinds]
//! loss = { probability = [0.0, 0.3] }
//! latency = { latency = ["10ms", "200ms"], pairs = [["pinger", "echo"]] }
//! partition = { rate_per_min = [2, 10], duration = { uniform = ["200ms", "2s"] } }
//! crash = { targets = ["echo"], rate_per_min = [1, 4], duration = "1s" }
//! clock = { offset = ["-5s", "5s"], drift_ppm = [-50000, 50000] }
//! ```
//!
//! Config changes are swarm kinds too: `set` (or `set.<label>`, to have
//! several) with one target, a `field` and a `choice` of values or a
//! `uniform` range; when on, the drawn value is set over the window, as a
//! `set` fault would:
//!
//! ```toml
//! "set.timeout" = { targets = ["gateway"], field = "rpc_client.tracing_default_timeout", choice = ["3s", "20s"] }
//! "set.workers" = { targets = ["sip"], field = "pool.workers", uniform = [2, 16] }
//! ```
//!
//! For each kind (in name order, each with its own RNG stream derived from
//! the seed and the kind's name, so adding a kind never changes another's
//! draws): a coin with `kind_probability` says whether it is on; then each
//! range is drawn uniformly (probabilities to 3 decimals, factors and rates
//! to 2, durations and clock offsets to the millisecond, drifts to the
//! part per million). A kind with `rate_per_min` becomes
//! a fault process (episodes on one target at a time); without it, the
//! kind holds steadily over the window on all its targets. Targets default
//! to every host pair (link kinds) or every host whose kind acts on the
//! fault (node kinds; see the registry's support table).

use super::process::{all_link_candidates, host_candidates, link_candidates, Candidate};
use super::spec::{FaultKind, FaultSpec, LatencySpec, SwarmConfig, SwarmKind};
use crate::sim::rng::{rng_for, SimRng};
use crate::sim::{Dur, SignedDur, Topology};
use rand::Rng;

/// A kind the swarm switched on for this seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Picked {
    pub name: String,
    /// Steady: the kind itself with drawn parameters. Episodic: a
    /// `process` with `fault` = the kind and a drawn `rate_per_min`.
    pub spec: FaultSpec,
    pub config: SwarmKind,
}

/// The kinds on for `seed`, with their drawn strengths.
pub fn pick(config: &SwarmConfig, seed: u64) -> Vec<Picked> {
    let mut out = Vec::new();
    for (name, kind_config) in &config.kinds {
        let kind = kind_of(name).expect("validated: swarm kinds are fault kinds");
        let mut rng = rng_for(seed, &["faults", "swarm", name]);
        if !rng.gen_bool(config.kind_probability.clamp(0.0, 1.0)) {
            continue;
        }
        let mut spec = FaultSpec::new(kind, config.at);
        let c = kind_config;
        spec.probability = c.probability.map(|r| round(draw_f64(r, &mut rng), 1000.0));
        spec.latency = c.latency.map(|r| LatencySpec::Fixed(draw_dur(r, &mut rng)));
        spec.jitter = c.jitter.map(|r| draw_dur(r, &mut rng));
        spec.mode = c.mode;
        spec.service_time_factor = c
            .service_time_factor
            .map(|r| round(draw_f64(r, &mut rng), 100.0));
        spec.capacity_factor = c
            .capacity_factor
            .map(|r| round(draw_f64(r, &mut rng), 100.0));
        spec.per_s = c.per_s.map(|[a, b]| rng.gen_range(a..=b));
        spec.code = c.code;
        spec.offset = c.offset.map(|[a, b]| {
            let (lo, hi) = (a.as_millis(), b.as_millis().max(a.as_millis()));
            SignedDur::from_millis(rng.gen_range(lo..=hi))
        });
        spec.drift_ppm = c.drift_ppm.map(|[a, b]| rng.gen_range(a..=b.max(a)));
        if kind == FaultKind::Set {
            spec.node = c.targets.as_ref().and_then(|t| t.first().cloned());
            spec.field = c.field.clone();
            spec.value = draw_value(c, &mut rng);
        }
        if let Some(rate) = c.rate_per_min {
            spec.fault = Some(kind);
            spec.kind = FaultKind::Process;
            spec.rate_per_min = Some(round(draw_f64(rate, &mut rng), 100.0).max(0.01));
            spec.duration = c.duration;
            spec.pairs = c.pairs.clone();
            spec.targets = c.targets.clone();
        }
        out.push(Picked {
            name: name.clone(),
            spec,
            config: c.clone(),
        });
    }
    out
}

/// The fault kind a swarm entry names: its key, or the part before a
/// `.` (`set.timeout` is a `set`).
pub fn kind_of(name: &str) -> Option<FaultKind> {
    FaultKind::parse(name).or_else(|| FaultKind::parse(name.split('.').next()?))
}

/// The value a `set` entry draws: one of its `choice`, or from its
/// `uniform` range (integers, numbers to 3 decimals, durations to the
/// millisecond, written back as `"<n>ms"`).
pub fn draw_value(k: &SwarmKind, rng: &mut SimRng) -> Option<toml::Value> {
    if let Some(choice) = &k.choice {
        return (!choice.is_empty()).then(|| choice[rng.gen_range(0..choice.len())].clone());
    }
    let [lo, hi] = k.uniform.as_ref()?;
    use toml::Value::{Float, Integer, String as Text};
    match (lo, hi) {
        (Integer(a), Integer(b)) => Some(Integer(rng.gen_range(*a..=(*b).max(*a)))),
        (Float(a), Float(b)) => Some(Float(round(draw_f64([*a, *b], rng), 1000.0))),
        (Text(a), Text(b)) => {
            let (a, b) = (Dur::parse(a).ok()?, Dur::parse(b).ok()?);
            Some(Text(format!("{}ms", draw_dur([a, b], rng).as_millis())))
        }
        _ => None,
    }
}

/// The candidates of a kind: its pairs or targets, or every host pair or
/// host by default.
pub fn candidates(config: &SwarmKind, kind: FaultKind, topology: &Topology) -> Vec<Candidate> {
    if kind.targets_link() {
        match &config.pairs {
            Some(pairs) => link_candidates(pairs, topology),
            None => all_link_candidates(topology),
        }
    } else {
        match &config.targets {
            Some(targets) => host_candidates(targets, topology),
            // By default, every host whose kind acts on the fault (a fault
            // on a host that ignores it would only dilute the draws).
            None => {
                let mode = super::validate::support_mode(kind, config.mode);
                let acting: Vec<String> = topology
                    .hosts
                    .iter()
                    .filter(|h| super::validate::acts_on(h, kind, mode))
                    .map(|h| h.name.clone())
                    .collect();
                host_candidates(&acting, topology)
            }
        }
    }
}

/// The target text of a swarm kind.
pub fn target_text(config: &SwarmKind, kind: FaultKind) -> String {
    if kind.targets_link() {
        match &config.pairs {
            Some(pairs) => pairs
                .iter()
                .map(|[a, b]| format!("{a}<->{b}"))
                .collect::<Vec<_>>()
                .join(","),
            None => "all links".into(),
        }
    } else {
        match &config.targets {
            Some(targets) => targets.join(","),
            None => "every host that acts on it".into(),
        }
    }
}

fn draw_f64([a, b]: [f64; 2], rng: &mut SimRng) -> f64 {
    if a >= b {
        a
    } else {
        rng.gen_range(a..=b)
    }
}

fn draw_dur([a, b]: [Dur; 2], rng: &mut SimRng) -> Dur {
    Dur::from_millis(rng.gen_range(a.as_millis()..=b.as_millis().max(a.as_millis())))
}

fn round(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}
