//! In-code fault points, in the style of FoundationDB's BUGGIFY.
//!
//! Node code marks the places where real stacks break:
//!
//! ```text
//! if faults::buggify(&ctx, faults::buggify::SIP_DROP_180) {
//!     return; // the 180 is lost
//! }
//! ```
//!
//! Each named site is activated once per run, with probability
//! `activate_probability`, decided from the seed and the site name alone
//! (so adding a site never changes whether another is active). An active
//! site then fires with probability `fire_probability` each time it is
//! reached; the n-th reach on a host fires or not from a draw derived from
//! (seed, site, host, n), so a run replays exactly. Sites are off unless a
//! scenario enables them:
//!
//! ```toml
//! [fault_settings]
//! buggify = { enabled = true, activate_probability = 0.25, fire_probability = 0.1 }
//! # optional: sites = ["sip.drop_180", "rpc.slow_handler"]
//! ```
//!
//! The test-bed installs the active sites in every host's control handle
//! before the first step, and switches them all off at the heal time. A
//! site that fires emits `fault.point` (field `site`), so every firing is
//! in the history. A site name used in code must be one of [`SITES`]
//! (checked by a debug assertion); scenarios may only name these.

use super::plan::ActiveSite;
use super::spec::FaultSettingsConfig;
use crate::history::{emit, Event};
use crate::nodes::NodeCtx;
use crate::testbed::control::FaultPoint;
use crate::testbed::rng::derive_seed;
use crate::testbed::{ControlHandle, World};

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

/// The sites active in a run with `seed` (empty when buggify is off).
pub fn activate(settings: &FaultSettingsConfig, seed: u64) -> Vec<ActiveSite> {
    let Some(config) = settings.buggify.as_ref().filter(|c| c.enabled) else {
        return Vec::new();
    };
    let candidates: Vec<&str> = match &config.sites {
        Some(sites) => sites.iter().map(String::as_str).collect(),
        None => SITES.to_vec(),
    };
    candidates
        .into_iter()
        .filter(|site| {
            unit(derive_seed(seed, &["faults", "buggify", site])) < config.activate_probability
        })
        .map(|site| ActiveSite {
            site: site.to_string(),
            fire_probability: config.fire_probability,
        })
        .collect()
}

/// Installs the active sites in every host's control handle.
pub fn install(world: &World<'_, '_>, sites: &[ActiveSite], seed: u64) {
    for (host, control) in world.controls {
        for site in sites {
            control.set_fault_point(
                &site.site,
                Some(FaultPoint {
                    fire_probability: site.fire_probability,
                    seed: derive_seed(seed, &["faults", "buggify", &site.site, host]),
                }),
            );
        }
    }
}

/// A uniform draw in [0, 1) from 64 random bits.
pub fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}
