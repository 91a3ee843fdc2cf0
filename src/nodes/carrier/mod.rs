//! The carrier (host `carrier`): the PSTN or a trunk.

pub mod callee;
