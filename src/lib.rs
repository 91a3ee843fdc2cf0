//! callsim: a deterministic simulation and fault-injection test-bed for
//! voice and SIP platforms.
//!
//! A simulated network (turmoil) hosts the nodes of a voice platform under
//! a virtual clock. A [`scenario::Scenario`] says what runs, what load it
//! gets and which faults hit it; [`testbed::run`] runs it with a seed and
//! returns the history; [`oracles`] check properties over that history. A
//! run is a pure function of (scenario, seed, code), so every failure
//! replays from its seed.
//!
//! # Layout
//! Bottom to top (a module imports only from those above it in this list;
//! ARCHITECTURE.md has the table and `tests/layering.rs` enforces it):
//! - [`history`]: the event vocabulary, the recorder, hash and writers.
//! - [`sim`]: the context a node runs in (config access, control handles,
//!   seeded RNGs, spawn, sim time, topology) and the world faults act on.
//! - [`net`]: UDP with per-packet faults; framed JSON over TCP.
//! - [`sip`]: SIP on rsip: codec, RFC 3261 transactions, dialogs, lint.
//! - [`rpc`]: internal RPC (framed JSON over TCP) and its client middleware.
//! - [`nodes`]: the node registry and the simulated nodes, one host each.
//! - [`faults`]: the fault plan and its application.
//! - [`oracles`]: properties over the history.
//! - [`incidents`]: the incident catalogue and its generic figures.
//! - [`scenario`]: the scenario type, TOML loading and validation.
//! - [`testbed`]: the turmoil harness and the step loop.
//! - [`report`]: verdicts, figures, the `SEED=` block, the HTML report.
//! - [`props`]: proptest strategies over scenarios (property cases).
//! - [`cli`]: the commands of the `callsim` binary.
//!
//! # Example
//! ```
//! use callsim::scenario::Scenario;
//! let text = r#"
//! [run]
//! seed = 7
//! duration = "5s"
//! [nodes.pinger]
//! count = 10
//! [nodes.echo]
//! [oracles]
//! datagrams_answered = { ratio_min = 1.0 }
//! "#;
//! let scenario = Scenario::from_toml(text, "example.toml".as_ref()).unwrap();
//! let output = callsim::testbed::run(&scenario, 7).unwrap();
//! let report = callsim::report::Report::build(&scenario, output, 0);
//! assert_eq!(report.exit_code(), 0);
//! ```

pub mod cli;
pub mod faults;
pub mod history;
pub mod incidents;
pub mod net;
pub mod nodes;
pub mod oracles;
pub mod props;
pub mod report;
pub mod rpc;
pub mod scenario;
pub mod sim;
pub mod sip;
pub mod testbed;
