//! The fault plan: one vocabulary of faults, scheduled in sim time and
//! applied only by the test-bed.
//!
//! A `[[faults]]` entry names a kind (CONTRACTS.md's names), a start `at`,
//! an optional `until`, and a target: a link (`between = [a, b]` both ways,
//! or `from`/`to` one way) or a node (`node`, a host or a whole section).
//! [`validate_plan`] judges a plan once; [`schedule`] turns it into the
//! step loop's [`ScheduledAction`]s, which act on turmoil's `Sim` (links,
//! hosts) or on hosts' control handles (everything inside a node), and
//! emit `fault.start` / `fault.end`.

use crate::history::{emit, Event};
use crate::scenario::{Dur, FieldError, Scenario, Topology};
use crate::testbed::{ScheduledAction, World};
use serde::{Deserialize, Serialize};

/// The fault kinds, by CONTRACTS.md's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Latency,
    Jitter,
    Loss,
    Duplicate,
    Partition,
    Hold,
    Crash,
    Restart,
    Gray,
    Saturate,
    RateLimit,
    Set,
    Deploy,
    Operator,
    Process,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Latency => "latency",
            FaultKind::Jitter => "jitter",
            FaultKind::Loss => "loss",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Partition => "partition",
            FaultKind::Hold => "hold",
            FaultKind::Crash => "crash",
            FaultKind::Restart => "restart",
            FaultKind::Gray => "gray",
            FaultKind::Saturate => "saturate",
            FaultKind::RateLimit => "rate_limit",
            FaultKind::Set => "set",
            FaultKind::Deploy => "deploy",
            FaultKind::Operator => "operator",
            FaultKind::Process => "process",
        }
    }

    fn targets_link(self) -> bool {
        matches!(
            self,
            FaultKind::Latency
                | FaultKind::Jitter
                | FaultKind::Loss
                | FaultKind::Duplicate
                | FaultKind::Partition
                | FaultKind::Hold
        )
    }
}

/// One `[[faults]]` entry. Which fields a kind needs is checked by
/// [`validate_plan`]; unused fields are refused there too.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// When it starts. Default 0s.
    #[serde(default)]
    pub at: Dur,
    /// When it is lifted; absent means it lasts to the end of the run (or
    /// the heal time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Dur>,
    /// A link, both directions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<[String; 2]>,
    /// A link, one direction: from...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// ...to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// A node: a host (`sip-1`) or a whole section (`sip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `latency`: the one-way latency to set (fixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Dur>,
    /// `jitter`: extra per-datagram delay, drawn from [0, jitter].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Dur>,
    /// `loss` / `duplicate`: probability per datagram in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// `set`: dotted field path inside the node's config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `set`: the new value, written as in the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<toml::Value>,
}

/// `[fault_settings]`: fault settings that are not a single fault.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultSettingsConfig {
    /// After this sim time every fault is lifted, and liveness oracles
    /// judge recovery. Default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal: Option<Dur>,
}

impl FaultSpec {
    /// The fault's target as text (`a<->b`, `a->b`, or a node name).
    pub fn target_text(&self) -> String {
        if let Some([a, b]) = &self.between {
            format!("{a}<->{b}")
        } else if let (Some(a), Some(b)) = (&self.from, &self.to) {
            format!("{a}->{b}")
        } else {
            self.node.clone().unwrap_or_default()
        }
    }

    /// One line for the SEED block and reports.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {} at={}", self.kind.name(), self.target_text(), self.at);
        if let Some(until) = self.until {
            s.push_str(&format!(" until={until}"));
        }
        s
    }
}

/// Checks the fault plan against the scenario: names exist, times are
/// inside the run, each kind has the fields it needs.
pub fn validate_plan(scenario: &Scenario, topology: &Topology) -> Result<(), FieldError> {
    let duration = scenario.run.duration;
    if let Some(heal) = scenario.fault_settings.heal {
        if heal > duration {
            return Err(FieldError::new(
                "fault_settings.heal",
                format!("{heal} is past the run's duration {duration}"),
            ));
        }
    }
    for (i, f) in scenario.faults.iter().enumerate() {
        let field = |name: &str| format!("faults[{i}].{name}");
        if f.at > duration {
            return Err(FieldError::new(
                field("at"),
                format!("{} is past the run's duration {duration}", f.at),
            ));
        }
        if let Some(until) = f.until {
            if until <= f.at {
                return Err(FieldError::new(
                    field("until"),
                    format!("{until} is not after at = {}", f.at),
                ));
            }
            if until > duration {
                return Err(FieldError::new(
                    field("until"),
                    format!("{until} is past the run's duration {duration}"),
                ));
            }
        }
        let known = |name: &str, key: &str| -> Result<(), FieldError> {
            if topology.resolves(name) {
                Ok(())
            } else {
                Err(FieldError::new(
                    field(key),
                    format!(
                        "unknown node {name:?}; known: {}",
                        topology.names().join(", ")
                    ),
                ))
            }
        };
        if f.kind.targets_link() {
            match (&f.between, &f.from, &f.to) {
                (Some([a, b]), None, None) => {
                    known(a, "between")?;
                    known(b, "between")?;
                }
                (None, Some(a), Some(b)) => {
                    known(a, "from")?;
                    known(b, "to")?;
                }
                _ => {
                    return Err(FieldError::new(
                        field("between"),
                        "a link fault needs `between = [a, b]` or both `from` and `to`",
                    ))
                }
            }
        } else if let Some(node) = &f.node {
            known(node, "node")?;
        } else {
            return Err(FieldError::new(
                field("node"),
                format!("a {} fault needs `node`", f.kind.name()),
            ));
        }
        match f.kind {
            FaultKind::Latency if f.latency.is_none() => {
                return Err(FieldError::new(
                    field("latency"),
                    "a latency fault needs `latency`, e.g. \"200ms\"",
                ))
            }
            FaultKind::Jitter if f.jitter.is_none_or(|j| j.is_zero()) => {
                return Err(FieldError::new(
                    field("jitter"),
                    "a jitter fault needs `jitter` > 0",
                ))
            }
            FaultKind::Loss | FaultKind::Duplicate => match f.probability {
                Some(p) if (0.0..=1.0).contains(&p) => {}
                _ => {
                    return Err(FieldError::new(
                        field("probability"),
                        "needs `probability` in [0, 1]",
                    ))
                }
            },
            FaultKind::Set => {
                let node = f.node.as_deref().unwrap_or_default();
                let path = f.field.as_deref().ok_or_else(|| {
                    FieldError::new(field("field"), "a set fault needs `field`, a dotted path")
                })?;
                let value = f
                    .value
                    .as_ref()
                    .ok_or_else(|| FieldError::new(field("value"), "a set fault needs `value`"))?;
                let section = topology.host(node).map(|h| h.section).unwrap_or(node);
                let current = scenario.nodes.section_value(section).ok_or_else(|| {
                    FieldError::new(field("node"), format!("{node:?} has no config section"))
                })?;
                let edited = set_path(current, path, value.clone())
                    .map_err(|m| FieldError::new(field("field"), m))?;
                crate::scenario::NodesConfig::check_section_value(section, &edited, topology)
                    .map_err(|e| {
                        FieldError::new(field("value"), format!("{}: {}", e.field, e.message))
                    })?;
            }
            FaultKind::Gray
            | FaultKind::Saturate
            | FaultKind::RateLimit
            | FaultKind::Deploy
            | FaultKind::Operator
            | FaultKind::Process => {
                return Err(FieldError::new(
                    field("kind"),
                    format!(
                        "fault kind {:?} is not supported by this build yet",
                        f.kind.name()
                    ),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Sets `path` (dotted) inside a TOML table to `value`. The path must name
/// an existing field or a field of an existing table.
pub fn set_path(
    mut root: toml::Value,
    path: &str,
    value: toml::Value,
) -> Result<toml::Value, String> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = &mut root;
    for (i, part) in parts.iter().enumerate() {
        let table = cur
            .as_table_mut()
            .ok_or_else(|| format!("`{}` is not a table", parts[..i].join(".")))?;
        if i + 1 == parts.len() {
            table.insert(part.to_string(), value);
            return Ok(root);
        }
        cur = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    Err("empty field path".into())
}

/// The step loop's actions for the scenario's fault plan.
pub fn schedule(scenario: &Scenario, _seed: u64, _topology: &Topology) -> Vec<ScheduledAction> {
    let end = scenario
        .fault_settings
        .heal
        .unwrap_or(scenario.run.duration);
    let mut actions = Vec::new();
    for (index, spec) in scenario.faults.iter().enumerate() {
        let until = spec.until.unwrap_or(end).min(end);
        let start = spec.clone();
        actions.push(ScheduledAction::new(
            spec.at.as_millis(),
            format!("fault[{index}] start {}", spec.describe()),
            move |world| {
                emit(Event::FaultStart {
                    fault: index as u64,
                    kind: start.kind.name(),
                    target: &start.target_text(),
                });
                apply(world, &start, Phase::Start)
            },
        ));
        if until < scenario.run.duration || spec.until.is_some() {
            let stop = spec.clone();
            actions.push(ScheduledAction::new(
                until.as_millis(),
                format!("fault[{index}] end {}", spec.describe()),
                move |world| {
                    apply(world, &stop, Phase::End)?;
                    emit(Event::FaultEnd {
                        fault: index as u64,
                        kind: stop.kind.name(),
                        target: &stop.target_text(),
                    });
                    Ok(())
                },
            ));
        }
    }
    actions
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    End,
}

/// The directed host pairs a link fault covers.
fn link_pairs(world: &World<'_, '_>, spec: &FaultSpec) -> Vec<(String, String)> {
    let expand = |n: &str| world.topology.expand(n);
    let mut pairs = Vec::new();
    if let Some([a, b]) = &spec.between {
        for x in expand(a) {
            for y in expand(b) {
                pairs.push((x.clone(), y.clone()));
                pairs.push((y, x.clone()));
            }
        }
    } else if let (Some(a), Some(b)) = (&spec.from, &spec.to) {
        for x in expand(a) {
            for y in expand(b) {
                pairs.push((x.clone(), y));
            }
        }
    }
    pairs
}

fn apply(world: &mut World<'_, '_>, spec: &FaultSpec, phase: Phase) -> Result<(), String> {
    let start = phase == Phase::Start;
    match spec.kind {
        FaultKind::Partition => {
            for (a, b) in link_pairs(world, spec) {
                if start {
                    world.sim.partition_oneway(a.as_str(), b.as_str());
                } else {
                    world.sim.repair_oneway(a.as_str(), b.as_str());
                }
            }
        }
        FaultKind::Hold => {
            // turmoil holds both directions of a link at once.
            for (a, b) in link_pairs(world, spec) {
                if start {
                    world.sim.hold(a.as_str(), b.as_str());
                } else {
                    world.sim.release(a.as_str(), b.as_str());
                }
            }
        }
        FaultKind::Latency => {
            let run = &world.scenario.run;
            for (a, b) in link_pairs(world, spec) {
                if start {
                    let latency = spec.latency.expect("validated").0;
                    world.sim.set_link_latency(a.as_str(), b.as_str(), latency);
                } else {
                    world
                        .sim
                        .set_link_latency(a.as_str(), b.as_str(), run.latency_min.0);
                    world.sim.set_link_max_message_latency(
                        a.as_str(),
                        b.as_str(),
                        run.latency_max.0,
                    );
                }
            }
        }
        FaultKind::Loss | FaultKind::Duplicate | FaultKind::Jitter => {
            for (a, b) in link_pairs(world, spec) {
                let dst = world.sim.lookup(b.as_str());
                let probability = if start {
                    spec.probability.unwrap_or(0.0)
                } else {
                    0.0
                };
                let jitter_ms = if start {
                    spec.jitter.map(|j| j.as_millis()).unwrap_or(0)
                } else {
                    0
                };
                world
                    .control(&a)
                    .update_packet_rule(dst, |rule| match spec.kind {
                        FaultKind::Loss => rule.loss = probability,
                        FaultKind::Duplicate => rule.duplicate = probability,
                        _ => rule.jitter_ms = jitter_ms,
                    });
            }
        }
        FaultKind::Crash => {
            for host in world
                .topology
                .expand(spec.node.as_deref().unwrap_or_default())
            {
                if start {
                    world.sim.crash(host.as_str());
                } else {
                    world.sim.bounce(host.as_str());
                }
            }
        }
        FaultKind::Restart => {
            if start {
                for host in world
                    .topology
                    .expand(spec.node.as_deref().unwrap_or_default())
                {
                    world.sim.bounce(host.as_str());
                }
            }
        }
        FaultKind::Set => {
            let node = spec.node.as_deref().unwrap_or_default();
            for host in world.topology.expand(node) {
                let control = world.control(&host);
                if start {
                    let edited = set_path(
                        control.config(),
                        spec.field.as_deref().expect("validated"),
                        spec.value.clone().expect("validated"),
                    )?;
                    control.set_config(edited);
                } else {
                    let section = world.topology.host(&host).expect("host").section;
                    let original = world
                        .scenario
                        .nodes
                        .section_value(section)
                        .expect("validated");
                    control.set_config(original);
                }
            }
        }
        other => return Err(format!("fault kind {} cannot be applied", other.name())),
    }
    Ok(())
}
