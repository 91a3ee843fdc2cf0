//! Call control after answer: the hook where a connected call runs its
//! verbs (TwiML-like `play` and `say`).
//!
//! [`run_verbs`] is called by the SIP service once per connected call,
//! inbound or outbound, right after the call is connected and its media
//! started. It runs the configured verbs in order and says whether the call
//! goes on or must be dropped (and with what status). With no verbs
//! configured (the default) it returns [`Verdict::Continue`] at once and
//! costs nothing.
//!
//! The verbs themselves (fetching audio through the media caching proxy,
//! with a timeout, an 11200-style error on failure, and a drop policy) are
//! the media part of the platform: they are filled in here, against the
//! media proxy's API, by whoever builds that proxy. Until then a configured
//! verb is refused by validation, so no scenario can believe it ran one.

use crate::nodes::NodeCtx;
use crate::scenario::FieldError;
use serde::{Deserialize, Serialize};

/// `call_control = { verbs = [...] }` in `[nodes.sip]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CallControlConfig {
    /// Verbs run on every connected call, in order. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verbs: Vec<VerbSpec>,
}

/// One verb.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VerbSpec {
    pub verb: VerbKind,
    /// What to play (a file name) or say (a text).
    pub media: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VerbKind {
    Play,
    Say,
}

impl CallControlConfig {
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        if !self.verbs.is_empty() {
            return Err(FieldError::new(
                format!("{prefix}.verbs"),
                "verbs need the media proxy, which this build does not have yet",
            ));
        }
        Ok(())
    }
}

/// What call control decided for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The call goes on until a party hangs up.
    Continue,
    /// Drop the call; `status` and `reason` go into its `call.end`.
    Drop { status: u16, reason: String },
}

/// Runs the call's verbs. `call` is the platform call id.
pub async fn run_verbs(_ctx: &NodeCtx, _call: &str, config: &CallControlConfig) -> Verdict {
    debug_assert!(config.verbs.is_empty(), "validation refuses verbs");
    Verdict::Continue
}
