//! Node faults: crash, restart (bounce), gray failure, saturation, rate
//! limits, config overrides (`set`), clock skew, name-server failures
//! (`dns`) and operator deletes.
//!
//! Crash and restart act on turmoil's hosts. Everything else is written
//! into the host's control handle, which the node reads: `NodeFaults`
//! (gray, service-time and capacity factors, rate limit, disabled) and the
//! config watch channel. As with links, a host's state is recomputed from
//! every fault active on it whenever one starts or ends: the gray mode is
//! the most recently started one's; service-time and capacity factors
//! multiply; the strictest rate limit wins; config overrides apply in start
//! order over the scenario's config, so ending one restores whatever the
//! others (or the scenario) say. A host is down while any crash covers it;
//! a restart of a host that is down does nothing (it comes back when the
//! crash ends). A host has one clock: the most recently started `clock`
//! fault on it sets its skew, with drift counted from that fault's start;
//! when the last one ends, the host's clock reads true time again (a step
//! back, as an NTP correction makes).

use super::plan::PlannedFault;
use super::spec::FaultKind;
use crate::sim::control::{DnsFault, NodeFaults, RateLimit};
use crate::sim::time::ClockSkew;
use crate::sim::World;

/// Default refusal code of a rate limit.
pub const RATE_LIMIT_CODE_DEFAULT: u16 = 429;

/// Whether the active faults want `host` down.
pub fn desired_crashed<'f>(active: impl Iterator<Item = &'f PlannedFault>, host: &str) -> bool {
    active
        .filter(|f| f.kind() == FaultKind::Crash)
        .any(|f| f.hosts.iter().any(|h| h == host))
}

/// The `NodeFaults` the active faults ask of `host`.
pub fn desired_faults<'f>(
    active: impl Iterator<Item = &'f PlannedFault>,
    host: &str,
    disabled: bool,
) -> NodeFaults {
    let mut faults = NodeFaults {
        disabled,
        ..NodeFaults::default()
    };
    let mut latest_gray: Option<(u64, usize)> = None;
    let mut dns: Vec<(u64, usize, DnsFault)> = Vec::new();
    for f in active.filter(|f| f.hosts.iter().any(|h| h == host)) {
        let spec = &f.spec;
        match f.kind() {
            FaultKind::Gray => {
                let key = (f.start_ms, f.index);
                if latest_gray.is_none_or(|l| key > l) {
                    latest_gray = Some(key);
                    faults.gray = spec.mode.unwrap_or(super::ModeSpec::Work).gray();
                }
            }
            FaultKind::Dns => dns.push((f.start_ms, f.index, dns_fault(spec))),
            FaultKind::Saturate => {
                faults.service_time_factor *= spec.service_time_factor.unwrap_or(1.0);
                faults.capacity_factor *= spec.capacity_factor.unwrap_or(1.0);
            }
            FaultKind::RateLimit => {
                let limit = RateLimit {
                    per_s: spec.per_s.expect("validated: rate_limit has per_s"),
                    code: spec.code.unwrap_or(RATE_LIMIT_CODE_DEFAULT),
                };
                if faults.rate_limit.is_none_or(|r| limit.per_s < r.per_s) {
                    faults.rate_limit = Some(limit);
                }
            }
            _ => {}
        }
    }
    dns.sort_by_key(|(start_ms, index, _)| (*start_ms, *index));
    faults.dns = dns.into_iter().map(|(_, _, f)| f).collect();
    faults
}

/// What a `dns` fault asks of the name server (`servfail` when `mode` is
/// not given).
fn dns_fault(spec: &super::FaultSpec) -> DnsFault {
    DnsFault {
        failure: (spec.mode.unwrap_or(super::ModeSpec::Servfail).dns())
            .expect("validated: a dns fault has a dns mode"),
        name: spec.name.clone(),
    }
}

/// The clock skew the active `clock` faults ask of `host`: the most
/// recently started one's (`None`: true time).
pub fn desired_clock<'f>(
    active: impl Iterator<Item = &'f PlannedFault>,
    host: &str,
) -> Option<ClockSkew> {
    active
        .filter(|f| f.kind() == FaultKind::Clock && f.hosts.iter().any(|h| h == host))
        .max_by_key(|f| (f.start_ms, f.index))
        .map(|f| ClockSkew {
            offset_ms: f.spec.offset.map_or(0, |o| o.as_millis()),
            drift_ppm: f.spec.drift_ppm.unwrap_or(0),
            since_ms: f.start_ms,
        })
}

/// The config the active `set` faults ask of `host`: the scenario's
/// section config with every active override applied in start order.
pub fn desired_config<'f>(
    world: &World<'_, '_>,
    active: impl Iterator<Item = &'f PlannedFault>,
    host: &str,
) -> Result<toml::Value, String> {
    let section = world
        .topology
        .host(host)
        .ok_or_else(|| format!("unknown host {host}"))?
        .section;
    let config = world
        .section_config(section)
        .ok_or_else(|| format!("host {host} has no config section"))?;
    apply_sets(config, active, |h| h == host)
}

/// `config` (a section's, as TOML) with the `set` faults among `active`
/// that target a host `targeted` accepts applied, in start order: what
/// that config is while they are active.
pub fn apply_sets<'f>(
    mut config: toml::Value,
    active: impl Iterator<Item = &'f PlannedFault>,
    targeted: impl Fn(&str) -> bool,
) -> Result<toml::Value, String> {
    let mut sets: Vec<&PlannedFault> = active
        .filter(|f| f.kind() == FaultKind::Set && f.hosts.iter().any(|h| targeted(h)))
        .collect();
    sets.sort_by_key(|f| (f.start_ms, f.index));
    for f in sets {
        config = set_path(
            config,
            f.spec.field.as_deref().expect("validated: set has field"),
            f.spec.value.clone().expect("validated: set has value"),
        )?;
    }
    Ok(config)
}

/// Brings `host` to the state the active faults ask.
pub fn apply_host<'f>(
    world: &mut World<'_, '_>,
    active: impl Iterator<Item = &'f PlannedFault> + Clone,
    host: &str,
    crashed: &mut std::collections::BTreeSet<String>,
    disabled: bool,
) -> Result<(), String> {
    let down = desired_crashed(active.clone(), host);
    if down && !crashed.contains(host) {
        world.sim.crash(host);
        world.control(host).set_held_down(true);
        crashed.insert(host.to_string());
    } else if !down && crashed.contains(host) {
        // A dormant pod (an autoscaler's spare) stays stopped: the
        // crash ended, but nobody asked for it.
        if !world.control(host).dormant() {
            world.sim.bounce(host);
        }
        world.control(host).set_held_down(false);
        crashed.remove(host);
    }
    let faults = desired_faults(active.clone(), host, disabled);
    let clock = desired_clock(active.clone(), host);
    let config = desired_config(world, active, host)?;
    let control = world.control(host);
    if control.faults() != faults {
        control.update_faults(|f| *f = faults);
    }
    if control.clock() != clock {
        control.set_clock(clock);
    }
    if control.config() != config {
        control.set_config(config);
    }
    Ok(())
}

/// Sets `path` (dotted) inside a TOML table to `value`, creating missing
/// intermediate tables. Validation checks the result against the node's
/// config type, so a wrong path is refused before the run.
pub fn set_path(
    mut root: toml::Value,
    path: &str,
    value: toml::Value,
) -> Result<toml::Value, String> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("`{path}` is not a dotted field path"));
    }
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
