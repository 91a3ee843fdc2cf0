//! The node side of in-code fault points (FoundationDB's BUGGIFY): the
//! site names and [`buggify`], which node code calls where real stacks
//! break. Which sites are active in a run, and with what probability they
//! fire, is the fault plan's business (`faults::buggify`, which documents
//! the scheme); it reaches a node only through the host's control handle.

use crate::history::{emit, Event};
use crate::sim::rng::derive_seed;
use crate::sim::{ControlHandle, NodeCtx};

/// SIP: drop a `180 Ringing` instead of sending it (the caller never hears
/// ringing; its timers must cope).
pub const SIP_DROP_180: &str = "sip.drop_180";
/// SIP: delay an ACK (for example by one T1) before sending it.
pub const SIP_DELAY_ACK: &str = "sip.delay_ack";
/// RPC: a handler takes much longer than its normal service time.
pub const RPC_SLOW_HANDLER: &str = "rpc.slow_handler";
/// RPC: the reply of a handled request is lost.
pub const RPC_DROP_REPLY: &str = "rpc.drop_reply";
/// Health checks: a health-check reply is lost (a false failure).
pub const HEALTH_LOSE_REPLY: &str = "health.lose_reply";
/// Media: a relayed media packet is dropped.
pub const MEDIA_DROP_PACKET: &str = "media.drop_packet";
/// Harness self-test: the echo node does not answer a datagram.
pub const HARNESS_ECHO_DROP: &str = "harness.echo_drop";

/// Every site name, in a fixed order.
pub const SITES: [&str; 7] = [
    SIP_DROP_180,
    SIP_DELAY_ACK,
    RPC_SLOW_HANDLER,
    RPC_DROP_REPLY,
    HEALTH_LOSE_REPLY,
    MEDIA_DROP_PACKET,
    HARNESS_ECHO_DROP,
];

/// Anything that carries a host's control handle.
pub trait FaultPoints {
    fn control_handle(&self) -> &ControlHandle;
}

impl FaultPoints for NodeCtx {
    fn control_handle(&self) -> &ControlHandle {
        &self.control
    }
}

impl FaultPoints for ControlHandle {
    fn control_handle(&self) -> &ControlHandle {
        self
    }
}

thread_local! {
    /// The run's hosts and their control handles, while the run on this
    /// thread has any fault point active (`None` otherwise, so a run
    /// without buggify pays one thread-local read per reached site).
    static AMBIENT: std::cell::RefCell<Option<std::collections::BTreeMap<std::sync::Arc<str>, ControlHandle>>> =
        const { std::cell::RefCell::new(None) };
}

/// Makes [`here`] find the hosts' fault points on this thread until the
/// guard drops (the test-bed holds it for a run with active sites).
pub fn install_ambient(
    hosts: impl IntoIterator<Item = (std::sync::Arc<str>, ControlHandle)>,
) -> AmbientGuard {
    AMBIENT.with(|a| *a.borrow_mut() = Some(hosts.into_iter().collect()));
    AmbientGuard(())
}

/// Clears the ambient fault points when dropped.
pub struct AmbientGuard(());

impl Drop for AmbientGuard {
    fn drop(&mut self) {
        AMBIENT.with(|a| *a.borrow_mut() = None);
    }
}

/// [`buggify`] at `site` for the host whose code is running now, found by
/// its `host{name}` span: for code in a library layer (SIP transactions,
/// the user agent, RPC exchanges) that has no node context at hand.
/// False outside a run, outside a host, or when no site is active.
pub fn here(site: &str) -> bool {
    debug_assert!(SITES.contains(&site), "unknown fault point site {site:?}");
    let active = AMBIENT.with(|a| a.borrow().is_some());
    if !active {
        return false;
    }
    let Some(host) = crate::history::current_host() else {
        return false;
    };
    let control = AMBIENT.with(|a| a.borrow().as_ref().and_then(|m| m.get(&host).cloned()));
    control.is_some_and(|control| buggify(&control, site))
}

/// Whether the fault point `site` fires now. False unless the run
/// activated the site; then true with its fire probability, drawn
/// deterministically. Emits `fault.point` when it fires.
pub fn buggify(at: &impl FaultPoints, site: &str) -> bool {
    debug_assert!(SITES.contains(&site), "unknown fault point site {site:?}");
    let Some((point, reached)) = at.control_handle().reach_fault_point(site) else {
        return false;
    };
    let fired = unit(derive_seed(point.seed, &[&reached.to_string()])) < point.fire_probability;
    if fired {
        emit(Event::FaultPoint { site });
    }
    fired
}

/// A uniform draw in [0, 1) from 64 random bits.
pub fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}
