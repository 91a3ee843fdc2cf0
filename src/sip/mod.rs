//! SIP over (simulated) UDP: the codec, RFC 3261 transactions, dialogs and the lint
//! library behind `callsim sip-lint`.
//!
//! # Layout
//! - [`codec`]: parse and build messages; the only module that knows rsip. In front of it,
//!   the validating layer: `validate` (framing, header names, required headers, scalar
//!   ranges), `grammar` (header value syntax) and [`uri`].
//! - [`edit`]: editing a parsed message for proxies (Via, Record-Route, Route,
//!   Max-Forwards, Request-URI).
//! - [`header`]: the typed header values the other layers read (Method, Via, CSeq, ...).
//! - [`ids`]: branches, tags and Call-IDs from the caller's seeded RNG.
//! - [`timers`]: T1, T2, T4 and timers B, D, F, H, I, J, K, each settable.
//! - [`transaction`]: the four RFC 3261 section 17 state machines, free of I/O.
//! - [`dialog`]: UAC and UAS dialog state and in-dialog requests.
//! - [`lint`]: the library side of `callsim sip-lint`.
//! - [`sdp`]: SDP bodies (RFC 4566) and offer/answer (RFC 3264): codecs, SRTP crypto
//!   lines, directions; the answerer's side and a judge of answers.
//! - `parse_memo`: recent parses per thread, so the same bytes are validated once.
//! - [`ua`]: the user agent nodes use: a driver task per host over the simulated UDP
//!   network, placing and taking calls.
//!
//! Architecture invariant: nothing outside [`ua`] reads a clock, a socket or OS
//! randomness. Time enters the transaction layer only as timer expiries, ids only through
//! an `RngCore`; [`ua`] supplies both from the simulation (tokio time, seeded RNG).

pub mod codec;
pub mod dialog;
pub mod edit;
mod grammar;
pub mod header;
pub mod ids;
pub mod lint;
mod parse_memo;
pub mod sdp;
pub mod status;
#[cfg(test)]
pub(crate) mod testkit;
pub mod timers;
pub mod transaction;
pub mod ua;
pub mod uri;
mod validate;

pub use codec::{parse, Message, ParseError, ParseErrorKind};
pub use header::{CSeq, Method, NameAddr, Param, Via};
pub use timers::SipTimers;
pub use validate::{Header, StartLine};
