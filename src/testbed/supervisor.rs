//! The supervisor: takes down hosts that asked to exit, and restarts them
//! per their section's `supervisor` policy (see `nodes::lifecycle`).
//!
//! It is the container runtime, not a network participant, so it runs in
//! the step loop and acts on turmoil's hosts as a `crash` fault does: an
//! exit request made during a step takes the host down before the next
//! one, and a due restart bounces it (fresh memory, a new incarnation).
//! Hosts cannot be added to a turmoil sim cheaply mid-run, so a pod's
//! host exists from the start and only its software comes and goes.
//! A restart is skipped when someone else already acted: the fault plan
//! holds the host down (an active `crash`; its end restarts it) or a
//! `restart` fault brought it back first.
//!
//! It also runs the pods an autoscaler asks for (`nodes::autoscaler`):
//! the target section's pods above the scaler's `min` are dormant from
//! the first step (`scale.stop` at 0 ms), and a request for n pods starts
//! the dormant ones among pods 1..=n (`scale.start`) and stops the running
//! ones above n (`scale.stop`). A pod stopped for the scaler is not
//! restarted by the supervisor, nor started by the end of a `crash`
//! (`Control::dormant`); a pod that exited and awaits its restart keeps
//! its backoff even when the scaler asks for it.

use crate::history::{emit, Event};
use crate::nodes::autoscaler::AutoscalerConfig;
use crate::nodes::lifecycle::SupervisorConfig;
use crate::sim::{Control, Topology};
use std::collections::BTreeMap;

/// One host the supervisor has taken down.
struct Down {
    since_ms: u64,
    /// `None`: no supervisor; it stays down.
    restart_at_ms: Option<u64>,
    delay_ms: Option<u64>,
}

/// A host's restart history.
#[derive(Default)]
struct Record {
    restarts: u64,
    /// When it last came back, and the delay that preceded it.
    last_restart: Option<(u64, u64)>,
}

/// The step loop's supervisor.
pub struct Supervisor {
    /// Each section's policy (sections without one are absent).
    policies: BTreeMap<String, SupervisorConfig>,
    down: BTreeMap<String, Down>,
    records: BTreeMap<String, Record>,
    /// Pods to stop before the first step (the scaler's target above
    /// `min`); emptied by the first step.
    dormant_at_start: Vec<String>,
}

impl Supervisor {
    /// The supervisor for the sections' configs as loaded (a `set` fault
    /// does not change a policy: the runtime reads it once).
    pub fn new(sections: &BTreeMap<&'static str, toml::Value>, topology: &Topology) -> Supervisor {
        let policies = sections
            .iter()
            .filter_map(|(section, config)| {
                let policy = config.get("supervisor")?.clone();
                let policy: SupervisorConfig = policy
                    .try_into()
                    .expect("the supervisor policy was validated with its section");
                Some((section.to_string(), policy))
            })
            .collect();
        let dormant_at_start = sections
            .get("autoscaler")
            .map(|config| {
                let scaler: AutoscalerConfig = config
                    .clone()
                    .try_into()
                    .expect("the autoscaler was validated with its section");
                pods_of(topology, &scaler.target)
                    .filter(|(pod, _)| *pod > scaler.min)
                    .map(|(_, host)| host)
                    .collect()
            })
            .unwrap_or_default();
        Supervisor {
            policies,
            down: BTreeMap::new(),
            records: BTreeMap::new(),
            dormant_at_start,
        }
    }

    /// Takes down the hosts that asked to exit, and restarts those due.
    pub fn step(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        controls: &BTreeMap<String, Control>,
        topology: &Topology,
        now_ms: u64,
    ) {
        for host in std::mem::take(&mut self.dormant_at_start) {
            sim.crash(host.as_str());
            controls[&host].set_dormant(true);
            emit(Event::ScalePod {
                target: &host,
                up: false,
            });
        }
        for control in controls.values() {
            if let Some((section, count)) = control.take_pods_request() {
                self.scale(sim, controls, topology, &section, count);
            }
        }
        for (host, control) in controls {
            if control.take_exit_request().is_none() {
                continue;
            }
            if sim.is_host_running(host.as_str()) {
                sim.crash(host.as_str());
            }
            let section = topology.host(host).map(|h| h.section).unwrap_or_default();
            let delay_ms = self.policies.get(section).map(|policy| {
                let record = self.records.get(host);
                // A quick re-exit backs off; a pod that stayed up starts over.
                let previous = record
                    .and_then(|r| r.last_restart)
                    .filter(|(at, _)| now_ms - at < policy.reset_after.as_millis())
                    .map(|(_, delay)| delay);
                policy.next_delay_ms(previous)
            });
            self.down.insert(
                host.clone(),
                Down {
                    since_ms: now_ms,
                    restart_at_ms: delay_ms.map(|d| now_ms + d),
                    delay_ms,
                },
            );
        }
        let due: Vec<String> = self
            .down
            .iter()
            .filter(|(_, d)| d.restart_at_ms.is_some_and(|at| at <= now_ms))
            .map(|(host, _)| host.clone())
            .collect();
        for host in due {
            let down = self.down.remove(&host).expect("listed above");
            let held = controls.get(&host).is_some_and(|c| c.held_down());
            if held || sim.is_host_running(host.as_str()) {
                continue;
            }
            sim.bounce(host.as_str());
            let record = self.records.entry(host.clone()).or_default();
            record.restarts += 1;
            record.last_restart = Some((now_ms, down.delay_ms.unwrap_or(0)));
            emit(Event::NodeRestart {
                target: &host,
                restarts: record.restarts,
                down_ms: now_ms - down.since_ms,
            });
        }
    }

    /// Runs pods 1..=count of `section`: starts the dormant ones, stops
    /// the ones above.
    fn scale(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        controls: &BTreeMap<String, Control>,
        topology: &Topology,
        section: &str,
        count: u32,
    ) {
        for (pod, host) in pods_of(topology, section) {
            let control = &controls[&host];
            if pod <= count {
                if !control.dormant() {
                    continue;
                }
                // Asked for: no longer dormant, so a crash holding it down
                // starts it when it ends.
                control.set_dormant(false);
                if !control.held_down() && !sim.is_host_running(host.as_str()) {
                    sim.bounce(host.as_str());
                    emit(Event::ScalePod {
                        target: &host,
                        up: true,
                    });
                }
            } else if !control.dormant() {
                // Stopped for the scaler, whether running or awaiting a
                // supervisor's restart.
                self.down.remove(&host);
                if sim.is_host_running(host.as_str()) {
                    sim.crash(host.as_str());
                }
                control.set_dormant(true);
                emit(Event::ScalePod {
                    target: &host,
                    up: false,
                });
            }
        }
    }
}

/// `(pod number, host)` of every pod of `section`: the section's hosts
/// in their order, numbered from 1, as the autoscaler numbers them.
fn pods_of(topology: &Topology, section: &str) -> impl Iterator<Item = (u32, String)> {
    (1..).zip(topology.hosts_of(section))
}
