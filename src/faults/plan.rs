//! The expanded fault plan: what a run with a given seed will actually do.
//!
//! [`plan`] turns the scenario's `[[faults]]`, its swarm settings and its
//! in-code fault point settings into a list of concrete [`PlannedFault`]s
//! (each with resolved hosts or host pairs and resolved start and end
//! times) plus the active fault point sites. Everything the seed decides
//! (which swarm kinds are on and how strong, when a fault process strikes
//! and which target it picks, which fault points are active) is decided
//! here, once, before the run starts, from RNG streams derived from the
//! seed. The fault plan never reads the history.
//!
//! Indices: entry `i` of `[[faults]]` keeps index `i` (a `process` entry
//! stands for its window); swarm faults follow, then every process
//! occurrence. The `fault` field of `fault.start` / `fault.end` is this
//! index, and reports and the SEED block list the plan with it.

use super::process::{self, Candidate};
use super::spec::{FaultKind, FaultSpec, OperatorAction, ProcessEnd};
use super::PlanInputs;
use super::{buggify, swarm};
use crate::sim::rng::{rng_for, SimRng};
use crate::sim::topology::section_of;
use crate::sim::{Dur, Topology};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Where a planned fault comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `[[faults]]` entry with this index.
    Plan(usize),
    /// Swarm mode.
    Swarm,
    /// Occurrence `n` (from 1) of the process planned at index `of`.
    Process { of: usize, n: u32 },
}

/// One concrete fault of the expanded plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedFault {
    /// Index in the expanded plan: the `fault` field of its events.
    pub index: usize,
    pub origin: Origin,
    /// The fault with its parameters. For process occurrences, `kind` is
    /// the recurring kind and the target fields name the picked target;
    /// for swarm faults, the parameters are the drawn strengths.
    pub spec: FaultSpec,
    /// The `target` field of its events.
    pub target: String,
    /// Directed host pairs, for link kinds.
    pub links: Vec<(String, String)>,
    /// Hosts, for node kinds (and the deployer for deploys and reverts).
    pub hosts: Vec<String>,
    pub start_ms: u64,
    /// When it is lifted (clipped to the heal time); equal to `start_ms`
    /// for instant kinds; `None` when it lasts to the end of the run.
    pub end_ms: Option<u64>,
}

impl PlannedFault {
    pub fn kind(&self) -> FaultKind {
        self.spec.kind
    }

    /// One line for reports and the SEED block.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "[{}] {} {} at={}",
            self.index,
            self.spec.kind.name(),
            self.target,
            Dur::from_millis(self.start_ms)
        );
        if let Some(end) = self.end_ms.filter(|_| !self.spec.kind.is_instant()) {
            let _ = write!(s, " until={}", Dur::from_millis(end));
        }
        let params = self.spec.params_text();
        if !params.is_empty() {
            let _ = write!(s, " {params}");
        }
        match self.origin {
            Origin::Plan(_) => {}
            Origin::Swarm => s.push_str(" (swarm)"),
            Origin::Process { of, n } => {
                let _ = write!(s, " (process [{of}] #{n})");
            }
        }
        s
    }
}

/// An in-code fault point activated for this run.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveSite {
    pub site: String,
    pub fire_probability: f64,
}

/// Everything the fault plan will do in one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    pub faults: Vec<PlannedFault>,
    pub sites: Vec<ActiveSite>,
    pub heal_ms: Option<u64>,
}

impl FaultPlan {
    /// The plan as lines: faults by index, then active fault points.
    pub fn describe(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.faults.iter().map(PlannedFault::describe).collect();
        for site in &self.sites {
            lines.push(format!(
                "buggify {} fire_probability={}",
                site.site, site.fire_probability
            ));
        }
        if let Some(heal) = self.heal_ms {
            lines.push(format!("heal at={}", Dur::from_millis(heal)));
        }
        lines
    }

    /// The swarm's fault mix: the swarm faults and processes as lines
    /// (empty when swarm mode is off or picked nothing).
    pub fn swarm_mix(&self) -> Vec<String> {
        self.faults
            .iter()
            .filter(|f| f.origin == Origin::Swarm)
            .map(|f| {
                let kind = f.spec.fault.unwrap_or(f.spec.kind);
                format!("{} {}", kind.name(), f.spec.params_text())
            })
            .collect()
    }
}

/// Expands the scenario's fault settings for one seed. The scenario must
/// be validated.
pub fn plan(scenario: &PlanInputs<'_>, topology: &Topology, seed: u64) -> FaultPlan {
    let duration_ms = scenario.run.duration.as_millis();
    let heal_ms = scenario.fault_settings.heal.map(|h| h.as_millis());
    let horizon_ms = heal_ms.unwrap_or(duration_ms);
    let mut faults = Vec::new();
    let mut processes = Vec::new();
    plan_entries(
        scenario.faults,
        duration_ms,
        heal_ms,
        topology,
        seed,
        &mut faults,
        &mut processes,
    );
    if let Some(config) = &scenario.fault_settings.swarm {
        plan_swarm(
            config,
            topology,
            seed,
            horizon_ms,
            &mut faults,
            &mut processes,
        );
    }
    for pending in processes {
        plan_occurrences(pending, &mut faults);
    }
    FaultPlan {
        faults,
        sites: buggify::activate(scenario.fault_settings, seed),
        heal_ms,
    }
}

/// The `[[faults]]` entries (`specs`), entry `i` at index `i`, with their
/// ends clipped to the heal time; a `process` entry stands for its window
/// (to the run's end without an `until` or a heal time) and is also queued
/// in `processes`.
fn plan_entries(
    specs: &[FaultSpec],
    duration_ms: u64,
    heal_ms: Option<u64>,
    topology: &Topology,
    seed: u64,
    faults: &mut Vec<PlannedFault>,
    processes: &mut Vec<Pending>,
) {
    for (i, spec) in specs.iter().enumerate() {
        let start_ms = spec.at.as_millis();
        let end_ms = if spec.kind.is_instant() {
            Some(start_ms)
        } else {
            match (spec.until, heal_ms) {
                (Some(u), h) => Some(u.as_millis().min(h.unwrap_or(u64::MAX))),
                (None, h) => h,
            }
        };
        if spec.kind == FaultKind::Process {
            let window = (start_ms, end_ms.unwrap_or(duration_ms));
            processes.push(Pending {
                of: i,
                spec: spec.clone(),
                window,
                rng: rng_for(seed, &["faults", "process", &i.to_string()]),
                candidates: process::candidates(spec, topology),
            });
        }
        faults.push(PlannedFault {
            index: i,
            origin: Origin::Plan(i),
            spec: spec.clone(),
            target: spec.target_text(),
            links: resolve_links(spec, topology),
            hosts: resolve_hosts(spec, topology),
            start_ms,
            end_ms,
        });
    }
}

/// The kinds swarm mode picks for this seed, each over the swarm's window
/// (clipped to `horizon_ms`, the heal time or the run's end); a picked
/// process is also queued in `processes`.
fn plan_swarm(
    config: &super::spec::SwarmConfig,
    topology: &Topology,
    seed: u64,
    horizon_ms: u64,
    faults: &mut Vec<PlannedFault>,
    processes: &mut Vec<Pending>,
) {
    let window = (
        config.at.as_millis(),
        config
            .until
            .map(|u| u.as_millis().min(horizon_ms))
            .unwrap_or(horizon_ms),
    );
    for picked in swarm::pick(config, seed) {
        let index = faults.len();
        let kind = picked.spec.fault.unwrap_or(picked.spec.kind);
        let candidates = swarm::candidates(&picked.config, kind, topology);
        let is_process = picked.spec.kind == FaultKind::Process;
        let (links, hosts) = if is_process {
            let rng = rng_for(seed, &["faults", "swarm", &picked.name, "process"]);
            processes.push(Pending {
                of: index,
                spec: picked.spec.clone(),
                window,
                rng,
                candidates,
            });
            (Vec::new(), Vec::new())
        } else {
            (
                candidates.iter().flat_map(|c| c.links.clone()).collect(),
                candidates.iter().flat_map(|c| c.hosts.clone()).collect(),
            )
        };
        faults.push(PlannedFault {
            index,
            origin: Origin::Swarm,
            spec: FaultSpec {
                at: Dur::from_millis(window.0),
                until: Some(Dur::from_millis(window.1)),
                ..picked.spec
            },
            target: swarm::target_text(&picked.config, kind),
            links,
            hosts,
            start_ms: window.0,
            end_ms: Some(window.1),
        });
    }
}

/// A process's occurrences, drawn from its own stream, each followed by
/// the operator's drain and restart that end it when the process asks.
fn plan_occurrences(mut pending: Pending, faults: &mut Vec<PlannedFault>) {
    let inner = pending
        .spec
        .fault
        .expect("validated: a process names its fault");
    let drawn = process::occurrences(
        &pending.spec,
        pending.window,
        pending.candidates.len(),
        &mut pending.rng,
    );
    let by_restart = pending.spec.ends_with == Some(ProcessEnd::OperatorRestart);
    let (drawn, restarts) = if by_restart {
        ended_by_restarts(drawn, &pending.candidates)
    } else {
        (drawn, BTreeSet::new())
    };
    for (n, occ) in drawn.into_iter().enumerate() {
        let candidate = &pending.candidates[occ.candidate];
        let mut concrete = process::occurrence_spec(&pending.spec, inner, candidate);
        concrete.at = Dur::from_millis(occ.start_ms);
        concrete.until = (!inner.is_instant()).then(|| Dur::from_millis(occ.end_ms));
        let origin = Origin::Process {
            of: pending.of,
            n: n as u32 + 1,
        };
        faults.push(PlannedFault {
            index: faults.len(),
            origin,
            spec: concrete,
            target: candidate.target.clone(),
            links: candidate.links.clone(),
            hosts: candidate.hosts.clone(),
            start_ms: occ.start_ms,
            end_ms: Some(occ.end_ms),
        });
        if restarts.contains(&(n, occ.end_ms)) {
            if let Some(drain) = pending.spec.drain {
                let from = occ
                    .end_ms
                    .saturating_sub(drain.as_millis())
                    .max(occ.start_ms);
                // One drain at a time per section, as a disruption budget
                // of one pod would allow: a drain that would overlap
                // another pod's starts when that one's restart is done.
                let from =
                    after_section_drains(faults, restarted_host(candidate), from, occ.end_ms);
                if from < occ.end_ms {
                    faults.push(operator_drain(
                        faults.len(),
                        origin,
                        candidate,
                        from,
                        occ.end_ms,
                    ));
                }
            }
            faults.push(operator_restart(
                faults.len(),
                origin,
                candidate,
                occ.end_ms,
            ));
        }
    }
}

/// The earliest start from `from_ms` for a drain until `until_ms` that
/// overlaps no operator drain of another pod of `host`'s section (a start
/// at or after `until_ms` means no drain at all).
fn after_section_drains(faults: &[PlannedFault], host: &str, from_ms: u64, until_ms: u64) -> u64 {
    let section = section_of(host);
    let mut from = from_ms;
    loop {
        let busy = faults
            .iter()
            .filter(|f| f.spec.kind == FaultKind::RateLimit && f.spec.per_s == Some(0))
            .filter(|f| matches!(f.origin, Origin::Process { .. }))
            .filter(|f| {
                f.hosts
                    .iter()
                    .any(|h| h != host && section_of(h) == section)
            })
            .filter_map(|f| f.end_ms.map(|end| (f.start_ms, end)))
            .find(|&(start, end)| start < until_ms && from < end);
        match busy {
            Some((_, end)) => from = end,
            None => return from,
        }
    }
}

/// The host an operator restarts to end an occurrence on `candidate`.
fn restarted_host(candidate: &Candidate) -> &str {
    candidate
        .hosts
        .first()
        .or_else(|| candidate.links.first().map(|(a, _)| a))
        .expect("a candidate has a host or a link")
}

/// Occurrences that end with an operator restart of their host: a restart
/// ends every occurrence on that host under way at that moment, so an
/// occurrence ends at its drawn end or at an earlier restart of its host,
/// whichever comes first. Returns the occurrences with their ends so cut,
/// and which (occurrence number, time) carry the restart itself.
fn ended_by_restarts(
    mut drawn: Vec<process::Occurrence>,
    candidates: &[Candidate],
) -> (Vec<process::Occurrence>, BTreeSet<(usize, u64)>) {
    let mut order: Vec<usize> = (0..drawn.len()).collect();
    order.sort_by_key(|&i| (drawn[i].end_ms, i));
    let mut restarts_of: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
    let mut restarts = BTreeSet::new();
    for i in order {
        let occ = &mut drawn[i];
        let host = restarted_host(&candidates[occ.candidate]);
        let earlier = restarts_of.get(host).and_then(|ts| {
            ts.iter()
                .copied()
                .find(|&t| t > occ.start_ms && t <= occ.end_ms)
        });
        match earlier {
            Some(t) => occ.end_ms = t,
            None => {
                restarts_of.entry(host).or_default().push(occ.end_ms);
                restarts.insert((i, occ.end_ms));
            }
        }
    }
    (drawn, restarts)
}

/// The operator's restart that ends a process occurrence: of the
/// candidate's host, or of the first host of its pair.
fn operator_restart(
    index: usize,
    origin: Origin,
    candidate: &Candidate,
    at_ms: u64,
) -> PlannedFault {
    let host = restarted_host(candidate).to_string();
    let spec = FaultSpec {
        node: Some(host.clone()),
        action: Some(OperatorAction::Restart),
        ..FaultSpec::new(FaultKind::Operator, Dur::from_millis(at_ms))
    };
    on_host(index, origin, host, spec, at_ms, at_ms)
}

/// The drain before an operator's restart: the host refuses new work with
/// 503 from `from_ms` to the restart.
fn operator_drain(
    index: usize,
    origin: Origin,
    candidate: &Candidate,
    from_ms: u64,
    to_ms: u64,
) -> PlannedFault {
    let host = restarted_host(candidate).to_string();
    let spec = FaultSpec {
        node: Some(host.clone()),
        per_s: Some(0),
        code: Some(503),
        until: Some(Dur::from_millis(to_ms)),
        ..FaultSpec::new(FaultKind::RateLimit, Dur::from_millis(from_ms))
    };
    on_host(index, origin, host, spec, from_ms, to_ms)
}

/// A planned fault on one host, from `start_ms` to `end_ms`.
fn on_host(
    index: usize,
    origin: Origin,
    host: String,
    spec: FaultSpec,
    start_ms: u64,
    end_ms: u64,
) -> PlannedFault {
    PlannedFault {
        index,
        origin,
        spec,
        target: host.clone(),
        links: Vec::new(),
        hosts: vec![host],
        start_ms,
        end_ms: Some(end_ms),
    }
}

/// A process waiting for its occurrences to be drawn.
struct Pending {
    /// Its index in the plan.
    of: usize,
    spec: FaultSpec,
    window: (u64, u64),
    rng: SimRng,
    candidates: Vec<Candidate>,
}

/// Directed host pairs between two names (hosts or sections), both ways,
/// without a host paired with itself, in a fixed order.
pub fn pair_links(a: &str, b: &str, topology: &Topology) -> Vec<(String, String)> {
    let mut set = BTreeSet::new();
    for x in topology.expand(a) {
        for y in topology.expand(b) {
            if x != y {
                set.insert((x.clone(), y.clone()));
                set.insert((y, x.clone()));
            }
        }
    }
    set.into_iter().collect()
}

/// The directed host pairs a link fault covers.
pub fn resolve_links(spec: &FaultSpec, topology: &Topology) -> Vec<(String, String)> {
    if !spec.kind.targets_link() {
        return Vec::new();
    }
    if let Some([a, b]) = &spec.between {
        pair_links(a, b, topology)
    } else if let (Some(a), Some(b)) = (&spec.from, &spec.to) {
        let mut set = BTreeSet::new();
        for x in topology.expand(a) {
            for y in topology.expand(b) {
                if x != y {
                    set.insert((x.clone(), y));
                }
            }
        }
        set.into_iter().collect()
    } else {
        Vec::new()
    }
}

/// The hosts a node fault covers (`deploy` and `operator revert` act on
/// the deployer).
pub fn resolve_hosts(spec: &FaultSpec, topology: &Topology) -> Vec<String> {
    match spec.kind {
        FaultKind::Crash
        | FaultKind::Restart
        | FaultKind::Gray
        | FaultKind::Saturate
        | FaultKind::RateLimit
        | FaultKind::Set
        | FaultKind::Clock
        | FaultKind::Dns
        | FaultKind::Deploy
        | FaultKind::Operator => {
            let node = spec
                .node
                .clone()
                .unwrap_or_else(|| super::command::DEPLOYER.to_string());
            topology.expand(&node)
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: &str, b: &str) -> Candidate {
        Candidate {
            target: format!("{a}<->{b}"),
            links: vec![(a.into(), b.into()), (b.into(), a.into())],
            hosts: Vec::new(),
        }
    }

    fn occ(start_ms: u64, end_ms: u64, candidate: usize) -> process::Occurrence {
        process::Occurrence {
            start_ms,
            end_ms,
            candidate,
        }
    }

    /// A restart of a host ends every occurrence under way on it; an
    /// occurrence on another host keeps its own end and restart.
    #[test]
    fn a_restart_ends_every_occurrence_on_its_host() {
        let candidates = [
            pair("edge-1", "in-1"),
            pair("edge-1", "in-2"),
            pair("edge-2", "in-1"),
        ];
        let drawn = vec![
            occ(100, 900, 0),
            occ(200, 500, 1),
            occ(300, 800, 2),
            occ(950, 990, 0),
        ];
        let (cut, restarts) = ended_by_restarts(drawn, &candidates);
        let ends: Vec<u64> = cut.iter().map(|o| o.end_ms).collect();
        assert_eq!(ends, vec![500, 500, 800, 990]);
        assert_eq!(
            restarts.into_iter().collect::<Vec<_>>(),
            vec![(1, 500), (2, 800), (3, 990)]
        );
    }

    /// Operator drains are one at a time per section: a drain that would
    /// overlap another pod's starts when that pod's drain ends (its
    /// restart), or is left out when that is after its own restart.
    #[test]
    fn drains_of_one_section_never_overlap() {
        let drain = |host: &str, from: u64, to: u64| {
            operator_drain(
                0,
                Origin::Process { of: 0, n: 1 },
                &pair(host, "in-1"),
                from,
                to,
            )
        };
        let placed = vec![drain("sbc-edge-2", 730_340, 750_340)];
        for (host, from, until, start, why) in [
            (
                "sbc-edge-1",
                737_480,
                757_480,
                750_340,
                "waits for sbc-edge-2's restart",
            ),
            (
                "sbc-edge-1",
                700_000,
                720_000,
                700_000,
                "ends before the other starts",
            ),
            (
                "sbc-edge-1",
                735_000,
                745_000,
                750_340,
                "inside the other: no drain",
            ),
            (
                "sbc-inbound-1",
                737_480,
                757_480,
                737_480,
                "another section",
            ),
            ("sbc-edge-2", 737_480, 757_480, 737_480, "the same pod"),
        ] {
            assert_eq!(
                after_section_drains(&placed, host, from, until),
                start,
                "{why}"
            );
        }
        assert_eq!(section_of("sbc-edge-12"), "sbc-edge");
        assert_eq!(section_of("gateway"), "gateway");
    }
}
