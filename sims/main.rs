//! The incident simulations, as one test binary (`cargo test --test sims`):
//! one module per entry of the incident catalogue
//! (`fixtures/incidents.toml`), named after its id, each opening with the
//! incident's postmortem. `cargo test --test sims livekit_ringing_timeout`
//! runs one incident.
//!
//! The modules share `common` (load an entry, run and judge a variant,
//! move a knob by editing the scenario's TOML), so no test copies scenario
//! data: it lives only in `fixtures/`. insta names a snapshot after the
//! module path: `sims/snapshots/sims__<module>__{buggy,fixed}.snap`.

mod common;

mod livekit_lb_deletion;
mod livekit_ringing_timeout;
mod twilio_telemetry_overflow;
mod vapi_sbc_networking;
