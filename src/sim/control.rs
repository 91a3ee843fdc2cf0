//! Control handles: the one channel from the test-bed to a node.
//!
//! Each host gets a [`ControlHandle`], made by the test-bed and handed to the
//! node's factory. Only the fault plan writes it; nodes only read it. It
//! carries the node's config (a watch channel, so a `set` fault reaches a
//! running node), the node's fault settings (gray failure, saturation, rate
//! limit, in-code fault points), the host's clock skew (a `clock` fault,
//! read by `sim::time`) and the per-packet rules the `net` wrapper applies
//! to what the host sends.

use super::time::ClockSkew;
use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Per-packet rules for datagrams a host sends to one destination.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PacketRule {
    /// Probability in [0, 1] that a datagram is dropped.
    pub loss: f64,
    /// Probability in [0, 1] that a datagram is sent twice.
    pub duplicate: f64,
    /// Extra delay drawn uniformly from [0, jitter_ms] per datagram, which
    /// also reorders datagrams.
    pub jitter_ms: u64,
}

impl PacketRule {
    pub fn is_clear(&self) -> bool {
        *self == PacketRule::default()
    }
}

/// What "gray failure" breaks while health checks keep passing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrayMode {
    /// Requests are accepted and fail (e.g. a 503 or an RPC error).
    Work,
    /// Calls connect but the node stops relaying media.
    Media,
    /// Requests are accepted and never answered nor passed on; health
    /// checks still pass.
    BlackHole,
}

/// How a name server fails its queries under a `dns` fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsFailure {
    /// Answers "no such name" (rcode NXDOMAIN), with its negative TTL.
    NxDomain,
    /// Answers "server failure" (rcode SERVFAIL).
    ServFail,
    /// Never answers.
    Timeout,
}

/// One active `dns` fault on a name server: how it fails, and for which
/// name (`None`: every name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsFault {
    pub failure: DnsFailure,
    pub name: Option<String>,
}

/// Fault settings inside one node, set by the fault plan.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFaults {
    pub gray: Option<GrayMode>,
    /// Active `dns` faults, most recently started last (a name server
    /// answers a query by the last one that covers its name).
    pub dns: Vec<DnsFault>,
    /// Multiplies every simulated service time (CPU saturation). 1.0 = none.
    pub service_time_factor: f64,
    /// Multiplies worker and queue capacity (a capacity cut). 1.0 = none.
    pub capacity_factor: f64,
    /// Requests beyond this many per second are refused with `code`.
    pub rate_limit: Option<RateLimit>,
    /// Deleted by the deployer or down by hand: data plane closed.
    pub disabled: bool,
}

impl Default for NodeFaults {
    fn default() -> NodeFaults {
        NodeFaults {
            gray: None,
            dns: Vec::new(),
            service_time_factor: 1.0,
            capacity_factor: 1.0,
            rate_limit: None,
            disabled: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_s: u32,
    /// 429 or 503.
    pub code: u16,
}

/// The test-bed's side: writes.
#[derive(Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

struct Inner {
    config: watch::Sender<toml::Value>,
    /// The config deserialised once per type and kept until the next
    /// `set_config`: nodes read their config on every call, and
    /// deserialising TOML each time was a measurable share of a load run.
    typed_config: Mutex<BTreeMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    faults: watch::Sender<NodeFaults>,
    packet_rules: Mutex<BTreeMap<IpAddr, PacketRule>>,
    /// Active fault points with how many times each was reached.
    fault_points: Mutex<BTreeMap<String, (FaultPoint, u64)>>,
    commands: watch::Sender<Vec<NodeCommand>>,
    /// The host's clock error while a `clock` fault holds.
    clock: watch::Sender<Option<ClockSkew>>,
    /// The host's life as its supervisor sees it (self-exits).
    lifecycle: Mutex<Lifecycle>,
}

/// What a host asked of its supervisor, and what the fault plan holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Lifecycle {
    /// The host's software asked to exit, with this reason, and the step
    /// loop has not taken it down yet.
    exit_request: Option<String>,
    /// The fault plan holds the host down (a `crash` is active): a
    /// supervisor must not bring it back.
    held_down: bool,
    /// An autoscaler on this host asks for this many pods of a section.
    pods_request: Option<(String, u32)>,
    /// The host is a dormant pod (stopped for an autoscaler): the end of
    /// a crash must not start it.
    dormant: bool,
}

/// A one-off instruction from the fault plan to a node (run a deploy,
/// revert one, restart a worker), as TOML the node interprets. Commands
/// form a log with increasing `seq`, so a node that restarts can tell
/// which it has already seen.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeCommand {
    pub seq: u64,
    pub command: toml::Value,
}

/// Most commands a node's log keeps; older ones are dropped.
pub const COMMAND_LOG_MAX: usize = 256;

/// An in-code fault point (BUGGIFY style) as decided for this run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultPoint {
    /// Probability that the site fires each time it is reached.
    pub fire_probability: f64,
    /// Seed of this site's draws on this host (derived by the test-bed
    /// from the run's seed, the site and the host).
    pub seed: u64,
}

/// The node's side: reads. Cheap to clone.
#[derive(Clone)]
pub struct ControlHandle {
    inner: Arc<Inner>,
}

impl Control {
    pub fn new(config: toml::Value) -> Control {
        Control {
            inner: Arc::new(Inner {
                config: watch::Sender::new(config),
                typed_config: Mutex::new(BTreeMap::new()),
                faults: watch::Sender::new(NodeFaults::default()),
                packet_rules: Mutex::new(BTreeMap::new()),
                fault_points: Mutex::new(BTreeMap::new()),
                commands: watch::Sender::new(Vec::new()),
                clock: watch::Sender::new(None),
                lifecycle: Mutex::new(Lifecycle::default()),
            }),
        }
    }

    pub fn handle(&self) -> ControlHandle {
        ControlHandle {
            inner: self.inner.clone(),
        }
    }

    /// Replaces the node's config (already validated by the caller).
    pub fn set_config(&self, value: toml::Value) {
        // Replace, then forget the typed copies: a read between the two
        // steps can only cache the new value or be recomputed after.
        self.inner.config.send_replace(value);
        self.inner
            .typed_config
            .lock()
            .expect("control lock")
            .clear();
    }

    pub fn config(&self) -> toml::Value {
        self.inner.config.borrow().clone()
    }

    /// Edits the node's fault settings.
    pub fn update_faults(&self, edit: impl FnOnce(&mut NodeFaults)) {
        self.inner.faults.send_modify(edit);
    }

    pub fn faults(&self) -> NodeFaults {
        self.inner.faults.borrow().clone()
    }

    /// Edits the packet rule towards `dst`.
    pub fn update_packet_rule(&self, dst: IpAddr, edit: impl FnOnce(&mut PacketRule)) {
        let mut rules = self.inner.packet_rules.lock().expect("control lock");
        let rule = rules.entry(dst).or_default();
        edit(rule);
        if rule.is_clear() {
            rules.remove(&dst);
        }
    }

    /// Appends a command to the node's command log.
    pub fn send_command(&self, command: toml::Value) {
        self.inner.commands.send_modify(|log| {
            let seq = log.last().map(|c| c.seq + 1).unwrap_or(1);
            log.push(NodeCommand { seq, command });
            if log.len() > COMMAND_LOG_MAX {
                log.remove(0);
            }
        });
    }

    pub fn set_fault_point(&self, site: &str, point: Option<FaultPoint>) {
        let mut points = self.inner.fault_points.lock().expect("control lock");
        match point {
            Some(p) => points.insert(site.to_string(), (p, 0)),
            None => points.remove(site),
        };
    }

    /// Sets (or, with `None`, clears) the host's clock skew.
    pub fn set_clock(&self, skew: Option<ClockSkew>) {
        self.inner.clock.send_replace(skew);
    }

    pub fn clock(&self) -> Option<ClockSkew> {
        *self.inner.clock.borrow()
    }

    /// The reason the host's software gave when it asked to exit, taken
    /// (a second call returns `None` until the host asks again).
    pub fn take_exit_request(&self) -> Option<String> {
        self.lifecycle().exit_request.take()
    }

    /// The pod count an autoscaler on this host asked for, taken.
    pub fn take_pods_request(&self) -> Option<(String, u32)> {
        self.lifecycle().pods_request.take()
    }

    /// Marks the host held down (or released) by the fault plan.
    pub fn set_held_down(&self, held: bool) {
        self.lifecycle().held_down = held;
    }

    /// Marks the host a dormant pod (or no longer one).
    pub fn set_dormant(&self, dormant: bool) {
        self.lifecycle().dormant = dormant;
    }

    /// Whether the host is a dormant pod.
    pub fn dormant(&self) -> bool {
        self.lifecycle().dormant
    }

    /// Whether the fault plan holds the host down.
    pub fn held_down(&self) -> bool {
        self.lifecycle().held_down
    }

    fn lifecycle(&self) -> std::sync::MutexGuard<'_, Lifecycle> {
        self.inner.lifecycle.lock().expect("control lock")
    }

    /// Switches every fault point off (the heal time).
    pub fn clear_fault_points(&self) {
        self.inner
            .fault_points
            .lock()
            .expect("control lock")
            .clear();
    }
}

impl ControlHandle {
    /// The node's current config, typed. Panics only if the test-bed let an
    /// invalid config through, which validation prevents.
    pub fn config<T>(&self) -> T
    where
        T: for<'de> serde::Deserialize<'de> + Clone + Send + Sync + 'static,
    {
        let mut cache = self.inner.typed_config.lock().expect("control lock");
        let typed = cache.entry(TypeId::of::<T>()).or_insert_with(|| {
            let value: T = self
                .inner
                .config
                .borrow()
                .clone()
                .try_into()
                .expect("node config was validated before it reached the node");
            Arc::new(value)
        });
        typed
            .downcast_ref::<T>()
            .expect("the cache is keyed by type")
            .clone()
    }

    /// A receiver that wakes when the config changes.
    pub fn config_changes(&self) -> watch::Receiver<toml::Value> {
        self.inner.config.subscribe()
    }

    pub fn faults(&self) -> NodeFaults {
        self.inner.faults.borrow().clone()
    }

    pub fn fault_changes(&self) -> watch::Receiver<NodeFaults> {
        self.inner.faults.subscribe()
    }

    /// The host's clock skew, if a `clock` fault holds on it.
    pub fn clock(&self) -> Option<ClockSkew> {
        *self.inner.clock.borrow()
    }

    /// A receiver that wakes when the host's clock skew changes.
    pub fn clock_changes(&self) -> watch::Receiver<Option<ClockSkew>> {
        self.inner.clock.subscribe()
    }

    /// The packet rule for datagrams to `dst` (clear when none is set).
    pub fn packet_rule(&self, dst: IpAddr) -> PacketRule {
        self.inner
            .packet_rules
            .lock()
            .expect("control lock")
            .get(&dst)
            .copied()
            .unwrap_or_default()
    }

    /// The command log; await `changed()` and act on entries with a `seq`
    /// above the last one handled.
    pub fn commands(&self) -> watch::Receiver<Vec<NodeCommand>> {
        self.inner.commands.subscribe()
    }

    /// Asks the supervisor to take this host down (a self-shutdown): the
    /// step loop crashes the host after the current step, and restarts it
    /// if its section has a supervisor. The first reason wins.
    pub fn request_exit(&self, reason: &str) {
        let mut lifecycle = self.inner.lifecycle.lock().expect("control lock");
        if lifecycle.exit_request.is_none() {
            lifecycle.exit_request = Some(reason.to_string());
        }
    }

    /// Asks the runtime to run `count` pods of `section` (pods 1..=count;
    /// an autoscaler's request). The latest request wins.
    pub fn request_pods(&self, section: &str, count: u32) {
        let mut lifecycle = self.inner.lifecycle.lock().expect("control lock");
        lifecycle.pods_request = Some((section.to_string(), count));
    }

    /// The in-code fault point `site`, if the run activated it.
    pub fn fault_point(&self, site: &str) -> Option<FaultPoint> {
        self.inner
            .fault_points
            .lock()
            .expect("control lock")
            .get(site)
            .map(|(p, _)| *p)
    }

    /// Marks the fault point `site` reached: its settings and how many
    /// times it was reached before (0 the first time), if the run
    /// activated it. Used by `faults::buggify`.
    pub fn reach_fault_point(&self, site: &str) -> Option<(FaultPoint, u64)> {
        let mut points = self.inner.fault_points.lock().expect("control lock");
        let (point, count) = points.get_mut(site)?;
        let before = *count;
        *count += 1;
        Some((*point, before))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, serde::Deserialize)]
    struct Knob {
        timeout_ms: u64,
    }

    #[test]
    fn a_typed_config_is_kept_until_set_config_replaces_it() {
        let control = Control::new(toml::toml! { timeout_ms = 3000 }.into());
        let handle = control.handle();
        assert_eq!(handle.config::<Knob>(), Knob { timeout_ms: 3000 });
        assert_eq!(handle.config::<Knob>(), Knob { timeout_ms: 3000 });
        control.set_config(toml::toml! { timeout_ms = 30000 }.into());
        assert_eq!(handle.config::<Knob>(), Knob { timeout_ms: 30000 });
    }
}
