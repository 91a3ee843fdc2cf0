//! The SIP service (hosts `sip-1`..`sip-N`): a B2BUA.

pub mod call_control;
