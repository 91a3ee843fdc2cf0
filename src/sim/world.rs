//! The world a scheduled action acts on: turmoil's `Sim` (links, hosts)
//! and the hosts' control handles. The fault plan reaches a running
//! simulation only through this.

use super::{Control, RunConfig, Topology};
use std::collections::BTreeMap;

/// What the step loop hands to a scheduled action.
pub struct World<'s, 'a> {
    pub sim: &'s mut turmoil::Sim<'a>,
    pub controls: &'s BTreeMap<String, Control>,
    pub topology: &'s Topology,
    /// The run settings (duration, tick, link latency).
    pub run: &'s RunConfig,
    /// Each `[nodes.<section>]`'s config as loaded, before any `set` fault.
    pub sections: &'s BTreeMap<&'static str, toml::Value>,
}

impl World<'_, '_> {
    pub fn control(&self, host: &str) -> &Control {
        self.controls
            .get(host)
            .expect("validated plans only name existing hosts")
    }

    /// The config of `section` as the scenario loaded it.
    pub fn section_config(&self, section: &str) -> Option<toml::Value> {
        self.sections.get(section).cloned()
    }
}

type ApplyFn = Box<dyn FnOnce(&mut World<'_, '_>) -> Result<(), String>>;

/// Something the step loop does at a sim time (a fault starting or ending,
/// an operator action, a deploy).
pub struct ScheduledAction {
    pub at_ms: u64,
    /// Human-readable, for the SEED block and reports.
    pub label: String,
    pub apply: ApplyFn,
}

impl ScheduledAction {
    pub fn new(
        at_ms: u64,
        label: impl Into<String>,
        apply: impl FnOnce(&mut World<'_, '_>) -> Result<(), String> + 'static,
    ) -> ScheduledAction {
        ScheduledAction {
            at_ms,
            label: label.into(),
            apply: Box::new(apply),
        }
    }
}
