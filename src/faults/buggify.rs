//! In-code fault points, in the style of FoundationDB's BUGGIFY.
//!
//! Node code marks the places where real stacks break, with its
//! `NodeCtx` or control handle (the node side lives in `sim::buggify`):
//!
//! ```
//! use callsim::sim::buggify::{buggify, SIP_DROP_180};
//! use callsim::sim::Control;
//! let control = Control::new(toml::Value::Table(Default::default()));
//! let ctx = control.handle(); // in a node: `&ctx`, its NodeCtx
//! if buggify(&ctx, SIP_DROP_180) {
//!     // ... skip sending the 180
//! }
//! // Sites are off unless the run activated them.
//! assert!(!buggify(&ctx, SIP_DROP_180));
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
pub use crate::sim::buggify::{buggify, unit, FaultPoints, SITES};
use crate::sim::control::FaultPoint;
use crate::sim::rng::derive_seed;
use crate::sim::World;

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
