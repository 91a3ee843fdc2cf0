//! Call control after answer: the hook where a connected call runs its
//! flow of verbs (Play, Say) through the verb executor of
//! [`crate::nodes::call_control`], which fetches audio from the media
//! caching proxy.
//!
//! `[nodes.sip]` carries the flow (`verbs`, run in order on every connected
//! call, inbound or outbound) and the executor's settings (`call_control`:
//! which proxies, the verb timeout, the share of flows that hang up when a
//! verb fails). With no verbs (the default) [`run_flow`] returns
//! [`Verdict::Continue`] at once and costs nothing.

use crate::nodes::call_control::{CallControl, CallControlConfig, FlowOutcome, Verb};
use crate::sim::NodeCtx;
use crate::sim::{FieldError, Topology};

/// Checks `call_control` and `verbs` of `[nodes.sip]` (`prefix`).
pub fn validate(
    prefix: &str,
    call_control: &Option<CallControlConfig>,
    verbs: &[Verb],
    topology: &Topology,
) -> Result<(), FieldError> {
    if let Some(config) = call_control {
        config.validate(&format!("{prefix}.call_control"), topology)?;
    }
    if !verbs.is_empty() && call_control.is_none() {
        return Err(FieldError::new(
            format!("{prefix}.verbs"),
            "verbs need `call_control = { media = [...] }` (the proxies to fetch from)",
        ));
    }
    Ok(())
}

/// What call control decided for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The call goes on until a party hangs up.
    Continue,
    /// Drop the call; `status` and `reason` go into its end report.
    Drop { status: u16, reason: String },
}

/// Runs the call's flow. `call` is the platform call id.
pub async fn run_flow(
    ctx: &NodeCtx,
    call: &str,
    call_control: &Option<CallControlConfig>,
    verbs: &[Verb],
) -> Verdict {
    let Some(config) = call_control else {
        return Verdict::Continue;
    };
    if verbs.is_empty() {
        return Verdict::Continue;
    }
    match CallControl::new(ctx, config.clone())
        .run_verbs(call, verbs)
        .await
    {
        FlowOutcome::Completed => Verdict::Continue,
        // The call was answered (200); the flow hung up on a failed verb.
        FlowOutcome::Dropped { verb } => Verdict::Drop {
            status: 200,
            reason: format!("dropped: {verb} failed"),
        },
    }
}
