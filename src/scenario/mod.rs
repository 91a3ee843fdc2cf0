//! The scenario: what to simulate, in one typed value.
//!
//! A `Scenario` says which nodes run (and how many pods each), every node's
//! config, the workload, the fault plan, the oracles and monitors, and the
//! run settings (seed, duration, tick, link latency). It is built in Rust or
//! loaded from TOML, and validated in one place: [`Scenario::from_toml`] and
//! [`Scenario::validate`]. Every error names the file, the line and the
//! field (see [`ScenarioError`]).
//!
//! # Layout
//! - `error`: [`ScenarioError`] and the [`error::Locator`] that maps a field
//!   path to its line.
//! - `limits`: what a scenario may ask for (hosts, steps, faults, call
//!   rates, file size), each bound named in its error.
//!
//! The scenario is the top of the configuration side: it assembles what the
//! layers below define (the `[nodes.*]` sections from the node registry,
//! the fault plan from `faults`, oracles and monitors from `oracles`) and
//! validates each through its owner. The building blocks a scenario is
//! written with ([`Dur`], [`RunConfig`], [`Topology`], [`FieldError`]) live
//! in `sim` and are re-exported here, as the scenario's own vocabulary.

pub mod error;
pub mod limits;
pub mod vary;

pub use crate::nodes::NodesConfig;
pub use crate::oracles::DEFAULT_ORACLES;
pub use crate::sim::{Dur, FieldError, HostSpec, RunConfig, Topology, DURATION_MAX};
pub use error::ScenarioError;

use crate::faults::FaultSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A whole scenario, as loaded from a file or built in code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Run settings: seed, duration, tick, latency.
    pub run: RunConfig,
    /// `[nodes.<name>]`: which nodes run and their config.
    #[serde(default)]
    pub nodes: NodesConfig,
    /// `[workload]`: the calls the agent and carrier generate.
    #[serde(default)]
    pub workload: crate::nodes::workload::Workload,
    /// `[[faults]]`: the fault plan, in sim time.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// `[fault_settings]`: heal time, in-code fault points, swarm mode.
    #[serde(default)]
    pub fault_settings: crate::faults::FaultSettingsConfig,
    /// `[oracles]`: properties checked over the history, by name.
    #[serde(default)]
    #[schemars(schema_with = "crate::oracles::config_schema")]
    pub oracles: BTreeMap<String, toml::Value>,
    /// `[monitors]`: operator alarms evaluated over the history, by name.
    #[serde(default)]
    #[schemars(schema_with = "crate::oracles::monitors::config_schema")]
    pub monitors: BTreeMap<String, toml::Value>,
    /// `[vary]`: node config and workload fields the seed draws, by dotted
    /// path ([`vary`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vary: BTreeMap<String, vary::Distribution>,
    /// Where the scenario came from (`<inline>` when built in code).
    #[serde(skip)]
    pub source: PathBuf,
}

impl Scenario {
    /// A scenario with the given run settings and nothing else; add nodes,
    /// workload, faults and oracles, then call [`Scenario::validate`].
    pub fn new(run: RunConfig) -> Scenario {
        Scenario {
            run,
            nodes: NodesConfig::default(),
            workload: Default::default(),
            faults: Vec::new(),
            fault_settings: Default::default(),
            oracles: BTreeMap::new(),
            monitors: BTreeMap::new(),
            vary: BTreeMap::new(),
            source: PathBuf::from("<inline>"),
        }
    }

    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let unreadable = |message: String| ScenarioError {
            file: path.to_path_buf(),
            line: 0,
            field: String::new(),
            message,
        };
        let mut bytes = Vec::new();
        let file = std::fs::File::open(path)
            .map_err(|e| unreadable(format!("cannot read the scenario file: {e}")))?;
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, limits::FILE_BYTES_MAX + 1),
            &mut bytes,
        )
        .map_err(|e| unreadable(format!("cannot read the scenario file: {e}")))?;
        if bytes.len() as u64 > limits::FILE_BYTES_MAX {
            return Err(unreadable(format!(
                "the scenario file is larger than {} bytes (limit FILE_BYTES_MAX)",
                limits::FILE_BYTES_MAX
            )));
        }
        let text = String::from_utf8(bytes)
            .map_err(|e| unreadable(format!("the scenario file is not UTF-8: {e}")))?;
        Scenario::from_toml(&text, path)
    }

    /// Parses and validates TOML text; `file` is only used in errors.
    pub fn from_toml(text: &str, file: &Path) -> Result<Scenario, ScenarioError> {
        let locator = error::Locator::new(text);
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let mut field = locator.path_at(offset);
            if field.is_empty() {
                field = error::field_on_line(text, offset);
            }
            let mut message = e.message().trim().to_string();
            if message.is_empty() {
                message = "this is not valid TOML: a value is missing or malformed here (write e.g. `key = \"10ms\"`)".into();
            }
            if has_bare_cr(text) {
                message.push_str(
                    " (this file ends lines with a bare CR; TOML needs LF or CRLF line endings)",
                );
            }
            // serde names an unknown or missing field in its message; the
            // span points at the table, so add the name to the path.
            if let Some(name) = backticked(&message) {
                let named =
                    message.starts_with("unknown field") || message.starts_with("missing field");
                let already = field == name || field.ends_with(&format!(".{name}"));
                if named && !already {
                    if !field.is_empty() {
                        field.push('.');
                    }
                    field.push_str(name);
                }
            }
            ScenarioError {
                file: file.to_path_buf(),
                line: e.span().map(|s| locator.line_of(s.start)).unwrap_or(0),
                field,
                message,
            }
        })?;
        scenario.source = file.to_path_buf();
        scenario.validate().map_err(|e| {
            let mut message = e.message;
            // A default the file does not write is why a name is there.
            let names_a_node = crate::sim::check::unknown_node_named(&message).is_some();
            if names_a_node && !locator.has_path(&e.field) {
                message.push_str(&format!(
                    " (`{}` is not in the file: its default names that node; set it, or add the node's section)",
                    e.field
                ));
            }
            // A [vary] key is a quoted dotted path: find its line by text.
            let line = match e.field.strip_prefix("vary.") {
                Some(path) => line_of_text(text, &format!("\"{path}\"")),
                None => locator.line_of_path(&e.field),
            };
            ScenarioError {
                file: file.to_path_buf(),
                line,
                field: e.field,
                message,
            }
        })?;
        Ok(scenario)
    }

    /// Checks everything serde cannot: ranges, names, times, consistency.
    /// The one place a scenario is judged runnable.
    pub fn validate(&self) -> Result<(), FieldError> {
        let run = &self.run;
        if run.duration.is_zero() {
            return Err(FieldError::new(
                "run.duration",
                "must be > 0, e.g. \"120s\"",
            ));
        }
        if run.duration > DURATION_MAX {
            return Err(FieldError::new(
                "run.duration",
                format!("must be at most {DURATION_MAX}"),
            ));
        }
        if run.tick.is_zero() {
            return Err(FieldError::new("run.tick", "must be > 0, e.g. \"10ms\""));
        }
        if !run.tick.is_whole_millis() {
            return Err(FieldError::new(
                "run.tick",
                format!(
                    "{} is not a whole number of milliseconds; sim time is counted in ms, so a finer tick would run every timer fast (use \"1ms\" or more)",
                    run.tick
                ),
            ));
        }
        if run.tick > run.duration {
            return Err(FieldError::new("run.tick", "must not exceed run.duration"));
        }
        if run.latency_max < run.latency_min {
            return Err(FieldError::new(
                "run.latency_max",
                "must be >= run.latency_min",
            ));
        }
        limits::check(self)?;
        let topology = self.topology();
        if topology.hosts.is_empty() {
            return Err(FieldError::new(
                "nodes",
                "no node is configured; add at least one [nodes.<name>] section",
            ));
        }
        self.nodes.validate(&topology)?;
        self.workload.validate(&topology)?;
        crate::faults::validate_plan(&self.plan_inputs(), &topology)?;
        crate::oracles::validate_config(&self.oracles)?;
        crate::oracles::monitors::validate_config(&self.monitors)?;
        self.validate_vary()?;
        Ok(())
    }

    /// Each `[vary]` path names a field of a configured section, and every
    /// extreme of its distribution gives a valid scenario.
    fn validate_vary(&self) -> Result<(), FieldError> {
        if self.vary.is_empty() {
            return Ok(());
        }
        if self.vary.len() > vary::ENTRIES_MAX {
            return Err(FieldError::new(
                "vary",
                format!(
                    "{} entries; at most {} (limit vary::ENTRIES_MAX)",
                    self.vary.len(),
                    vary::ENTRIES_MAX
                ),
            ));
        }
        for (path, distribution) in &self.vary {
            let field = format!("vary.{path}");
            vary::check_path(path).map_err(|m| FieldError::new(&field, m))?;
            distribution.check(&field)?;
            for value in distribution.extremes() {
                let shown = vary::shown(&value);
                self.with_values([(path.clone(), value)].into_iter().collect())
                    .map_err(|e| {
                        FieldError::new(&field, format!("with {path} = {shown}: {}", e.message))
                    })?;
            }
        }
        Ok(())
    }

    /// The values `[vary]` draws for `seed`, by path (empty without one).
    pub fn varied(&self, seed: u64) -> BTreeMap<String, toml::Value> {
        vary::draw_all(&self.vary, seed)
    }

    /// The scenario a run with `seed` runs: `[vary]`'s draws written into
    /// its fields (itself, borrowed, when it has no `[vary]`). The error
    /// names the drawn field when a combination of draws is invalid.
    pub fn for_seed(&self, seed: u64) -> Result<std::borrow::Cow<'_, Scenario>, FieldError> {
        if self.vary.is_empty() {
            return Ok(std::borrow::Cow::Borrowed(self));
        }
        let drawn = self.with_values(self.varied(seed))?;
        Ok(std::borrow::Cow::Owned(drawn))
    }

    /// This scenario, without `[vary]`, with `values` set at their paths,
    /// validated.
    fn with_values(&self, values: BTreeMap<String, toml::Value>) -> Result<Scenario, FieldError> {
        let mut base = self.clone();
        base.vary.clear();
        let mut doc = toml::Value::try_from(&base).expect("a Scenario always serialises to TOML");
        for (path, value) in values {
            vary::set_path(&mut doc, &path, value)
                .map_err(|m| FieldError::new(format!("vary.{path}"), m))?;
        }
        let mut drawn: Scenario = doc.try_into().map_err(|e: toml::de::Error| {
            FieldError::new("vary", e.message().trim().to_string())
        })?;
        drawn.source = self.source.clone();
        drawn.validate()?;
        Ok(drawn)
    }

    /// What the fault plan reads of this scenario.
    pub fn plan_inputs(&self) -> crate::faults::PlanInputs<'_> {
        crate::faults::PlanInputs {
            run: &self.run,
            nodes: &self.nodes,
            faults: &self.faults,
            fault_settings: &self.fault_settings,
        }
    }

    /// What the oracles need to know of the run besides its history.
    pub fn oracle_context(&self) -> crate::oracles::Context {
        let mut context = crate::oracles::Context::new(
            self.run.duration.as_millis(),
            self.fault_settings.heal.map(|d| d.as_millis()),
        );
        if let Some(window) = self.fault_settings.excuse_window {
            context.excuse_window_ms = window.as_millis();
        }
        context
    }

    /// [`Scenario::oracle_context`] for the run of `seed`: with
    /// `timeouts_ordered` on, also the effective request timeouts over the
    /// run, from the config and the `set` faults of the seed's plan.
    pub fn oracle_context_for(&self, seed: u64) -> crate::oracles::Context {
        use crate::oracles::timeouts;
        let mut context = self.oracle_context();
        let on = self
            .oracles
            .get(timeouts::NAME)
            .is_some_and(|v| v.as_bool() != Some(false));
        if on {
            context.timeouts = std::sync::Arc::new(self.timeout_epochs(seed));
        }
        context
    }

    /// The request paths' timeouts from 0 ms, and again at each start and
    /// end of a `set` fault of the seed's plan.
    fn timeout_epochs(&self, seed: u64) -> Vec<crate::oracles::timeouts::Epoch> {
        use crate::faults::FaultKind;
        use crate::oracles::timeouts::{paths, Epoch};
        let topology = self.topology();
        let plan = crate::faults::plan(&self.plan_inputs(), &topology, seed);
        let sets: Vec<_> = plan
            .faults
            .iter()
            .filter(|f| f.kind() == FaultKind::Set)
            .collect();
        let mut times: std::collections::BTreeSet<u64> = [0].into();
        for f in &sets {
            times.insert(f.start_ms);
            times.extend(f.end_ms);
        }
        let mut epochs = Vec::new();
        for t in times {
            let active: Vec<&crate::faults::PlannedFault> = sets
                .iter()
                .copied()
                .filter(|f| f.start_ms <= t && f.end_ms.is_none_or(|end| t < end))
                .collect();
            // A section's timeouts as the sets on any of its hosts make
            // them (a host's own config, `faults::node::desired_config`).
            let values = self
                .nodes
                .section_values()
                .into_iter()
                .map(|(section, value)| {
                    let in_section =
                        |h: &str| topology.host(h).is_some_and(|x| x.section == section);
                    let edited = crate::faults::apply_sets(
                        value.clone(),
                        active.iter().copied(),
                        in_section,
                    );
                    (section, edited.unwrap_or(value))
                });
            let table: toml::map::Map<String, toml::Value> =
                values.map(|(k, v)| (k.to_string(), v)).collect();
            // Validated at load: every set value makes a valid section.
            let Ok(nodes) = toml::Value::Table(table).try_into() else {
                continue;
            };
            let why = active
                .iter()
                .map(|f| format!("set fault #{} on {}", f.index, f.target))
                .collect::<Vec<_>>()
                .join(", ");
            epochs.push(Epoch {
                at_ms: t,
                why: if why.is_empty() { "config".into() } else { why },
                paths: paths(&nodes, &self.workload),
            });
        }
        epochs
    }

    /// The hosts this scenario runs, in a fixed order.
    pub fn topology(&self) -> Topology {
        self.nodes.topology()
    }

    /// The scenario as TOML text (used by shrunk property-test cases and
    /// failure bundles, so that anyone can `callsim run` them).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a Scenario always serialises to TOML")
    }
}

/// The 1-based line of the first occurrence of `needle` (0 if absent).
fn line_of_text(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map(|offset| text[..offset].matches('\n').count() + 1)
        .unwrap_or(0)
}

/// Whether `text` has a CR not followed by LF (old Mac line endings).
fn has_bare_cr(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}
