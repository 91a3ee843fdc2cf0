//! Scheduling: the expanded plan becomes the step loop's
//! [`ScheduledAction`]s, and an engine that applies them.
//!
//! Each fault gives a start action and an end action (instant kinds give
//! one action that does both); each emits `fault.start` / `fault.end` with
//! the fault's plan index, kind and target. The engine keeps the set of
//! active faults and, when one starts or ends, recomputes the state of
//! every link and host it touches from all active faults (see `link` and
//! `node`), so overlapping faults compose instead of undoing each other.
//!
//! The in-code fault points are installed by an action at 0 ms (before
//! the first step, so before any node runs). At the heal time a last
//! action ends whatever is still active, clears operator deletes and
//! switches every fault point off: after it, no fault of any origin acts.

use super::command::{deploy_command, revert_command};
use super::link::{self, pair_key, LinkStates};
use super::node;
use super::plan::{plan, PlannedFault};
use super::spec::{FaultKind, OperatorAction};
use super::PlanInputs;
use crate::history::{emit, Event};
use crate::sim::Topology;
use crate::sim::{ScheduledAction, World};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// The step loop's actions for the scenario's fault settings with `seed`.
pub fn schedule(scenario: &PlanInputs<'_>, seed: u64, topology: &Topology) -> Vec<ScheduledAction> {
    let plan = plan(scenario, topology, seed);
    let engine = Rc::new(RefCell::new(Engine::default()));
    let mut actions = Vec::new();

    if !plan.sites.is_empty() {
        let sites = plan.sites.clone();
        let names: Vec<&str> = sites.iter().map(|s| s.site.as_str()).collect();
        actions.push(ScheduledAction::new(
            0,
            format!("buggify: activate {}", names.join(", ")),
            move |world| {
                super::buggify::install(world, &sites, seed);
                Ok(())
            },
        ));
    }

    for fault in plan.faults {
        let fault = Rc::new(fault);
        let label = fault.describe();
        if fault.kind().is_instant() {
            let (f, e) = (fault.clone(), engine.clone());
            actions.push(ScheduledAction::new(fault.start_ms, label, move |world| {
                emit_start(&f);
                e.borrow_mut().instant(world, &f)?;
                emit_end(&f);
                Ok(())
            }));
            continue;
        }
        let (f, e) = (fault.clone(), engine.clone());
        actions.push(ScheduledAction::new(
            fault.start_ms,
            format!("start {label}"),
            move |world| {
                emit_start(&f);
                e.borrow_mut().start(world, f.clone())
            },
        ));
        if let Some(end_ms) = fault.end_ms {
            let (f, e) = (fault.clone(), engine.clone());
            actions.push(ScheduledAction::new(
                end_ms,
                format!("end {label}"),
                move |world| {
                    e.borrow_mut().end(world, &f)?;
                    emit_end(&f);
                    Ok(())
                },
            ));
        }
    }

    if let Some(heal_ms) = plan.heal_ms {
        let e = engine.clone();
        actions.push(ScheduledAction::new(heal_ms, "heal", move |world| {
            e.borrow_mut().heal(world)
        }));
    }
    actions
}

fn emit_start(f: &PlannedFault) {
    emit(Event::FaultStart {
        fault: f.index as u64,
        kind: f.kind().name(),
        target: &f.target,
    });
}

fn emit_end(f: &PlannedFault) {
    emit(Event::FaultEnd {
        fault: f.index as u64,
        kind: f.kind().name(),
        target: &f.target,
    });
}

/// The state the fault plan has put the world in.
#[derive(Default)]
struct Engine {
    /// Active faults with a duration, by plan index.
    active: BTreeMap<usize, Rc<PlannedFault>>,
    links: LinkStates,
    crashed: BTreeSet<String>,
    /// Hosts deleted by hand (`operator delete`).
    disabled: BTreeSet<String>,
}

impl Engine {
    fn start(&mut self, world: &mut World<'_, '_>, fault: Rc<PlannedFault>) -> Result<(), String> {
        self.active.insert(fault.index, fault.clone());
        self.refresh(world, &fault)
    }

    fn end(&mut self, world: &mut World<'_, '_>, fault: &PlannedFault) -> Result<(), String> {
        if self.active.remove(&fault.index).is_none() {
            // Already ended by the heal action.
            return Ok(());
        }
        self.refresh(world, fault)
    }

    /// Recomputes what `fault` touches.
    fn refresh(&mut self, world: &mut World<'_, '_>, fault: &PlannedFault) -> Result<(), String> {
        match fault.kind() {
            FaultKind::Partition | FaultKind::Hold | FaultKind::Latency => {
                let pairs: BTreeSet<(String, String)> =
                    fault.links.iter().map(|(x, y)| pair_key(x, y)).collect();
                for (a, b) in pairs {
                    self.refresh_pair(world, &a, &b);
                }
            }
            FaultKind::Loss | FaultKind::Duplicate | FaultKind::Jitter => {
                for (src, dst) in &fault.links {
                    let rule = link::desired_rule(self.active.values().map(|f| &**f), src, dst);
                    link::apply_rule(world, src, dst, rule);
                }
            }
            FaultKind::Crash
            | FaultKind::Gray
            | FaultKind::Saturate
            | FaultKind::RateLimit
            | FaultKind::Set
            | FaultKind::Clock
            | FaultKind::Dns => {
                for host in &fault.hosts {
                    self.refresh_host(world, host)?;
                }
            }
            // A process window has no effect of its own: its occurrences do.
            FaultKind::Process => {}
            FaultKind::Restart | FaultKind::Deploy | FaultKind::Operator => {
                return Err(format!("{} is an instant fault", fault.kind().name()))
            }
        }
        Ok(())
    }

    fn refresh_pair(&mut self, world: &mut World<'_, '_>, a: &str, b: &str) {
        let key = (a.to_string(), b.to_string());
        let applied = self.links.get(&key).copied().unwrap_or_default();
        let desired = link::desired_link(self.active.values().map(|f| &**f), a, b);
        link::apply_link(world, a, b, applied, desired);
        if desired == link::LinkState::default() {
            self.links.remove(&key);
        } else {
            self.links.insert(key, desired);
        }
    }

    fn refresh_host(&mut self, world: &mut World<'_, '_>, host: &str) -> Result<(), String> {
        let disabled = self.disabled.contains(host);
        node::apply_host(
            world,
            self.active.values().map(|f| &**f),
            host,
            &mut self.crashed,
            disabled,
        )
    }

    /// Restart, deploy, operator: they happen at one instant.
    fn instant(&mut self, world: &mut World<'_, '_>, fault: &PlannedFault) -> Result<(), String> {
        match (fault.kind(), fault.spec.action) {
            (FaultKind::Restart, _) | (FaultKind::Operator, Some(OperatorAction::Restart)) => {
                for host in &fault.hosts {
                    // A host that is not running (held down by a crash,
                    // exited, or a dormant pod of an autoscaler) is left
                    // to whoever stopped it.
                    if !self.crashed.contains(host) && world.sim.is_host_running(host.as_str()) {
                        world.sim.bounce(host.as_str());
                    }
                }
            }
            (FaultKind::Deploy, _) => {
                let command = deploy_command(&fault.spec);
                for host in &fault.hosts {
                    world.control(host).send_command(command.clone());
                }
            }
            (FaultKind::Operator, Some(OperatorAction::Revert)) => {
                let command = revert_command(&fault.spec);
                for host in &fault.hosts {
                    world.control(host).send_command(command.clone());
                }
            }
            (FaultKind::Operator, Some(OperatorAction::Delete)) => {
                for host in &fault.hosts {
                    self.disabled.insert(host.clone());
                    self.refresh_host(world, host)?;
                }
            }
            (FaultKind::Operator, Some(OperatorAction::Recreate)) => {
                for host in &fault.hosts {
                    self.disabled.remove(host);
                    self.refresh_host(world, host)?;
                }
            }
            (kind, action) => {
                return Err(format!(
                    "{} (action {action:?}) is not an instant fault",
                    kind.name()
                ))
            }
        }
        Ok(())
    }

    /// Lifts everything: ends the faults still active (in plan order),
    /// clears operator deletes and switches the fault points off.
    fn heal(&mut self, world: &mut World<'_, '_>) -> Result<(), String> {
        let still: Vec<Rc<PlannedFault>> = self.active.values().cloned().collect();
        for fault in still {
            self.end(world, &fault)?;
            emit_end(&fault);
        }
        let disabled: Vec<String> = std::mem::take(&mut self.disabled).into_iter().collect();
        for host in disabled {
            self.refresh_host(world, &host)?;
        }
        for control in world.controls.values() {
            control.clear_fault_points();
        }
        Ok(())
    }
}
