//! SDP for the nodes: [`crate::sip::sdp`] (the model, offer/answer and
//! the text helpers `body`, `media_addr`, `rewrite`), re-exported here so
//! the nodes keep naming `nodes::sdp`. SDP is protocol, so it lives with
//! SIP on layer 3, where the oracles can read it too.

pub use crate::sip::sdp::*;
