//! The integration tests, as one test binary (`cargo test --test
//! integration`): one module per subject, each opening with what it
//! proves. One binary links the crate once instead of once per file, which
//! is most of what a cold `cargo test` used to spend.
//!
//! The modules share a process and run on parallel threads, so a test
//! never changes the process's environment or current directory, and
//! writes files only under its own [`support::scratch_dir`]. A module's
//! tests are selected by its name: `cargo test --test integration
//! sip_codec::`.
//!
//! insta names a snapshot after the module path, so the snapshots of
//! `tests/X.rs` are `tests/snapshots/integration__X__NAME.snap` (and
//! `tests/faults/snapshots/integration__faults__...` for the fault
//! submodules).

mod autoscale;
mod registration;
mod supervision;
mod support;
mod swarm_set;

mod advertised;
mod callee_hold;
mod capture;
mod children;
mod cli;
mod clients;
mod dependency;
mod deployer;
mod dialogs;
mod dns;
mod drain;
mod explore;
mod false_positives;
mod fault_points;
mod fault_support;
mod faults;
mod flows;
mod fuzz_smoke;
mod gateway_bus;
mod harness;
mod html_report;
mod input_bounds;
mod junit;
mod ladders;
mod layering;
mod lb;
mod livekit_mechanics;
mod mechanisms;
mod media;
mod node_configs;
mod outlier;
mod props_outbound;
mod props_ringing;
mod props_sip;
mod rfc4475_answers;
mod sbc;
mod sbc_b2bua;
mod sbc_cancel;
mod sbc_media;
mod scenario_errors;
mod schema;
mod sdp;
mod session_timers;
mod shard_merge;
mod sip_codec;
mod sip_codec_props;
mod sip_conformance;
mod sip_crossing;
mod sip_dialog;
mod sip_flows;
mod sip_lint;
mod sip_stats;
mod sip_transaction;
mod trace_hashes;
mod vary;
mod workload_restart;
