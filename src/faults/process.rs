//! Fault processes: a fault kind that recurs at a seeded rate over a
//! window, on targets picked by the seed.
//!
//! `{ kind = "process", fault = "partition", pairs = [["sbc-edge",
//! "sbc-inbound"]], rate_per_min = 2, duration = { uniform = ["5s", "30s"] },
//! at = "10s", until = "110s" }` is the VAPI incident's pod-networking
//! failures: occurrences arrive as a Poisson process (exponential gaps with
//! mean `60s / rate_per_min`), each lasts a drawn duration, and each hits
//! one candidate (a host pair of `pairs`, or a host of `targets`) picked
//! uniformly among those not already hit by this process. An arrival that
//! finds every candidate busy is skipped. Occurrences are clipped to the
//! window, so nothing from a process outlives its `until` (or the heal
//! time). The expansion happens once, before the run, with an RNG derived
//! from the seed and the process's index; the expanded occurrences are part
//! of the reported plan.
//!
//! `ends_with = "operator_restart"` makes each occurrence last until an
//! operator restarts its host (a pair's first host): `duration` is then how
//! long the operator takes, a restart ends every occurrence under way on
//! that host, and an occurrence clipped to the window ends with a restart at
//! the window's end. `drain = "20s"` has the operator drain the host first
//! (503 to new work for that long). `plan.rs` does the expansion.

use super::plan::pair_links;
use super::spec::{DurationSpec, FaultKind, FaultSpec};
use crate::sim::rng::SimRng;
use crate::sim::Topology;
use rand::Rng;
use std::collections::BTreeSet;

/// Most occurrences one process may generate; validation refuses a rate
/// and window that would expect more.
pub const OCCURRENCES_MAX: usize = 1000;

/// One target a process may hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Event target text (`a<->b` or a host).
    pub target: String,
    /// Directed host pairs (link kinds): both ways.
    pub links: Vec<(String, String)>,
    /// Hosts (node kinds).
    pub hosts: Vec<String>,
}

/// One drawn occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub start_ms: u64,
    /// Equal to `start_ms` for instant kinds.
    pub end_ms: u64,
    /// Index into the candidates.
    pub candidate: usize,
}

/// Every unordered host pair of the given (host or section) pairs.
pub fn link_candidates(pairs: &[[String; 2]], topology: &Topology) -> Vec<Candidate> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for [a, b] in pairs {
        for (x, y) in pair_links(a, b, topology) {
            // pair_links lists both directions; keep the one that reads
            // from the first name of the pair.
            if !topology.expand(a).contains(&x) {
                continue;
            }
            let key = if x < y {
                (x.clone(), y.clone())
            } else {
                (y.clone(), x.clone())
            };
            if seen.insert(key) {
                out.push(Candidate {
                    target: format!("{x}<->{y}"),
                    links: vec![(x.clone(), y.clone()), (y, x)],
                    hosts: Vec::new(),
                });
            }
        }
    }
    out
}

/// Every unordered pair of hosts of the topology.
pub fn all_link_candidates(topology: &Topology) -> Vec<Candidate> {
    let names = topology.names();
    let mut out = Vec::new();
    for (i, x) in names.iter().enumerate() {
        for y in &names[i + 1..] {
            out.push(Candidate {
                target: format!("{x}<->{y}"),
                links: vec![
                    (x.to_string(), y.to_string()),
                    (y.to_string(), x.to_string()),
                ],
                hosts: Vec::new(),
            });
        }
    }
    out
}

/// Every host of the given (host or section) names.
pub fn host_candidates(targets: &[String], topology: &Topology) -> Vec<Candidate> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for t in targets {
        for host in topology.expand(t) {
            if seen.insert(host.clone()) {
                out.push(Candidate {
                    target: host.clone(),
                    links: Vec::new(),
                    hosts: vec![host],
                });
            }
        }
    }
    out
}

/// The candidates of a `process` entry (validated).
pub fn candidates(spec: &FaultSpec, topology: &Topology) -> Vec<Candidate> {
    let inner = spec.fault.expect("validated: a process names its fault");
    if inner.targets_link() {
        link_candidates(spec.pairs.as_deref().unwrap_or_default(), topology)
    } else {
        host_candidates(spec.targets.as_deref().unwrap_or_default(), topology)
    }
}

/// Draws the occurrences of a process over `window` (ms, start and end).
pub fn occurrences(
    spec: &FaultSpec,
    window: (u64, u64),
    candidates: usize,
    rng: &mut SimRng,
) -> Vec<Occurrence> {
    let inner = spec.fault.expect("validated: a process names its fault");
    let rate = spec.rate_per_min.expect("validated: a process has a rate");
    let mut out = Vec::new();
    if candidates == 0 || rate <= 0.0 {
        return out;
    }
    let mean_ms = 60_000.0 / rate;
    let mut busy_until = vec![0u64; candidates];
    let mut t = window.0 as f64;
    while out.len() < OCCURRENCES_MAX {
        let u: f64 = rng.gen();
        t += -(1.0 - u).ln() * mean_ms;
        let start_ms = t.round() as u64;
        if start_ms >= window.1 {
            break;
        }
        let length_ms = if inner.is_instant() {
            0
        } else {
            draw(
                spec.duration.expect("validated: a process has a duration"),
                rng,
            )
        };
        let free: Vec<usize> = (0..candidates)
            .filter(|&c| busy_until[c] <= start_ms)
            .collect();
        if free.is_empty() {
            continue;
        }
        let candidate = free[rng.gen_range(0..free.len())];
        let end_ms = (start_ms + length_ms).min(window.1);
        if !inner.is_instant() && end_ms <= start_ms {
            continue;
        }
        busy_until[candidate] = end_ms.max(start_ms + 1);
        out.push(Occurrence {
            start_ms,
            end_ms,
            candidate,
        });
    }
    out
}

/// A duration drawn in whole milliseconds.
pub fn draw(spec: DurationSpec, rng: &mut SimRng) -> u64 {
    match spec {
        DurationSpec::Fixed(d) => d.as_millis(),
        DurationSpec::Uniform { uniform: [a, b] } => rng.gen_range(a.as_millis()..=b.as_millis()),
    }
}

/// The concrete fault of one occurrence: the process's parameters on the
/// picked target (times are set by the caller).
pub fn occurrence_spec(process: &FaultSpec, inner: FaultKind, candidate: &Candidate) -> FaultSpec {
    let mut spec = FaultSpec {
        latency: process.latency,
        jitter: process.jitter,
        probability: process.probability,
        mode: process.mode,
        service_time_factor: process.service_time_factor,
        capacity_factor: process.capacity_factor,
        per_s: process.per_s,
        code: process.code,
        ..FaultSpec::new(inner, process.at)
    };
    if inner.targets_link() {
        let (a, b) = candidate.links[0].clone();
        spec.between = Some([a, b]);
    } else {
        spec.node = Some(candidate.hosts[0].clone());
    }
    spec
}
