//! Link faults: latency, jitter, loss, duplication, partitions and holds.
//!
//! Partitions, holds and latency act on turmoil's links (so they affect TCP
//! and UDP alike); loss, duplication and jitter are per-datagram rules in
//! the sending host's control handle, applied by `net::UdpEndpoint` (UDP
//! only: turmoil's TCP has no retransmission, so it could not survive a
//! lost segment).
//!
//! Faults compose: the state of a link is recomputed from every fault
//! active on it whenever one starts or ends, so overlapping faults on one
//! link are well defined. A direction is partitioned while any partition
//! covers it; a pair is held while any hold covers it (turmoil holds both
//! directions at once); latency is the most recently started latency
//! fault's; loss and duplication combine as independent draws
//! (1 - (1-p1)(1-p2)); jitter is the largest.

use super::plan::PlannedFault;
use super::spec::{FaultKind, LatencySpec};
use crate::sim::control::PacketRule;
use crate::sim::World;
use std::collections::BTreeMap;

/// What the test-bed has applied to one host pair (named in order:
/// `a < b`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LinkState {
    pub hold: bool,
    /// a -> b partitioned.
    pub cut_ab: bool,
    /// b -> a partitioned.
    pub cut_ba: bool,
    pub latency: Option<LatencySpec>,
}

/// The unordered key of a host pair.
pub fn pair_key(x: &str, y: &str) -> (String, String) {
    if x < y {
        (x.to_string(), y.to_string())
    } else {
        (y.to_string(), x.to_string())
    }
}

/// The state the active faults ask of pair `(a, b)` (`a < b`).
pub fn desired_link<'f>(
    active: impl Iterator<Item = &'f PlannedFault>,
    a: &str,
    b: &str,
) -> LinkState {
    let mut state = LinkState::default();
    let mut latest: Option<(u64, usize)> = None;
    for f in active {
        let ab = f.links.iter().any(|(x, y)| x == a && y == b);
        let ba = f.links.iter().any(|(x, y)| x == b && y == a);
        if !ab && !ba {
            continue;
        }
        match f.kind() {
            FaultKind::Partition => {
                state.cut_ab |= ab;
                state.cut_ba |= ba;
            }
            FaultKind::Hold => state.hold = true,
            FaultKind::Latency => {
                let key = (f.start_ms, f.index);
                if latest.is_none_or(|l| key > l) {
                    latest = Some(key);
                    state.latency = f.spec.latency;
                }
            }
            _ => {}
        }
    }
    state
}

/// Brings turmoil's link `(a, b)` (`a < b`) from `applied` to `desired`.
pub fn apply_link(
    world: &mut World<'_, '_>,
    a: &str,
    b: &str,
    applied: LinkState,
    desired: LinkState,
) {
    let sim = &mut *world.sim;
    let cuts_changed = (applied.hold, applied.cut_ab, applied.cut_ba)
        != (desired.hold, desired.cut_ab, desired.cut_ba);
    if cuts_changed {
        // turmoil keeps one state per direction; hold sets both, release
        // heals both (delivering what was held), partition_oneway and
        // repair_oneway set one. Rebuild the whole pair from the desired
        // state in that order.
        if desired.hold {
            sim.hold(a, b);
        } else if applied.hold {
            sim.release(a, b);
        }
        for (from, to, cut) in [(a, b, desired.cut_ab), (b, a, desired.cut_ba)] {
            if cut {
                sim.partition_oneway(from, to);
            } else if !desired.hold {
                sim.repair_oneway(from, to);
            }
        }
    }
    if applied.latency != desired.latency {
        let run = &world.run;
        let (min, max) = match desired.latency {
            Some(LatencySpec::Fixed(d)) => (d, d),
            Some(LatencySpec::Range { min, max }) => (min, max),
            None => (run.latency_min, run.latency_max),
        };
        sim.set_link_latency(a, b, min.0);
        sim.set_link_max_message_latency(a, b, max.0);
    }
}

/// The packet rule the active faults ask of datagrams `src -> dst`.
pub fn desired_rule<'f>(
    active: impl Iterator<Item = &'f PlannedFault>,
    src: &str,
    dst: &str,
) -> PacketRule {
    let mut keep = 1.0; // probability a datagram survives every loss
    let mut single = 1.0; // probability it is not duplicated by any
    let mut rule = PacketRule::default();
    for f in active {
        if !f.links.iter().any(|(x, y)| x == src && y == dst) {
            continue;
        }
        match f.kind() {
            FaultKind::Loss => keep *= 1.0 - f.spec.probability.unwrap_or(0.0),
            FaultKind::Duplicate => single *= 1.0 - f.spec.probability.unwrap_or(0.0),
            FaultKind::Jitter => {
                let j = f.spec.jitter.map(|j| j.as_millis()).unwrap_or(0);
                rule.jitter_ms = rule.jitter_ms.max(j);
            }
            _ => {}
        }
    }
    rule.loss = 1.0 - keep;
    rule.duplicate = 1.0 - single;
    rule
}

/// Sets the packet rule `src -> dst` in `src`'s control handle.
pub fn apply_rule(world: &World<'_, '_>, src: &str, dst: &str, rule: PacketRule) {
    let dst_ip = world.sim.lookup(dst);
    world
        .control(src)
        .update_packet_rule(dst_ip, |current| *current = rule);
}

/// Applied link states, by unordered host pair.
pub type LinkStates = BTreeMap<(String, String), LinkState>;
