//! The internal RPC methods of the reference platform and their bodies, in
//! one place, so that caller and server agree on them.
//!
//! | method | caller -> server | body -> reply |
//! |---|---|---|
//! | `sip.dial` | gateway -> bus -> sip-N | [`DialRequest`] -> [`DialReply`] |
//! | `gateway.call_ended` | sip-N -> gateway | [`CallEnded`] -> `{}` |
//! | `gateway.dispatch` | sip-N -> gateway | [`Dispatch`] -> [`Decision`] |
//! | `agent.dispatch` | gateway -> agent | [`Dispatch`] -> [`Decision`] |
//! | `dependency.lookup` | sip-N -> dependency | `{}` -> `{}` |
//!
//! A method's own outcomes (a callee's 486, a ringing timeout) are values of
//! its reply; RPC errors are for the RPC itself (nobody reachable, deadline
//! passed, overload).

use crate::rpc::{ErrorCode, RpcError};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub const DIAL: &str = "sip.dial";
pub const CALL_ENDED: &str = "gateway.call_ended";
pub const GATEWAY_DISPATCH: &str = "gateway.dispatch";
pub const AGENT_DISPATCH: &str = "agent.dispatch";
/// A lookup on the dependency (`nodes::dependency`); its body and reply
/// carry nothing: what matters is how long it takes and whether it fails.
pub const DEPENDENCY_LOOKUP: &str = "dependency.lookup";

/// `sip.dial`: place the outbound SIP leg of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DialRequest {
    pub call: String,
    /// The trunk's host name (the carrier).
    pub trunk: String,
    /// The dialled number.
    pub to: String,
    pub ringing_timeout_ms: u64,
    /// Sync: reply when the leg is answered, rejected or timed out. Async:
    /// reply as soon as the INVITE is sent.
    pub wait_until_answered: bool,
    /// The API request's attempt number, when the client sent one; echoed
    /// in [`CallEnded`] so that the gateway ends the right attempt. Absent
    /// on the wire when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// What `sip.dial` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DialReply {
    /// Async: the INVITE is on its way; the end comes as `gateway.call_ended`.
    Dialing,
    /// Sync: the callee answered; the end comes as `gateway.call_ended`.
    Answered,
    /// The callee (or the trunk) rejected the call with a final code.
    Rejected { code: u16, reason: String },
    /// `ringing_timeout` passed; the leg was cancelled.
    NoAnswer,
    /// The leg failed without a callee's answer (no response, transport
    /// error, overload): `code` is what the API should report.
    Failed { code: u16, reason: String },
}

/// `gateway.call_ended`: a call handed over to the platform has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEnded {
    pub call: String,
    /// The status the platform reports for the call.
    pub status: u16,
    pub reason: String,
    /// What became of the call (`call.end`'s `outcome`).
    pub outcome: crate::history::EndOutcome,
    /// The attempt of [`DialRequest::attempt`], echoed. Absent when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// `gateway.dispatch` and `agent.dispatch`: an inbound call to accept or
/// reject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispatch {
    pub call: String,
    pub from: String,
    pub to: String,
}

/// The agent's decision on an inbound call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Accept,
    Reject { code: u16 },
}

/// Serialises a body (never fails for these types).
pub fn to_body<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("method bodies serialise")
}

/// Reads a body, or the `invalid_argument` error a server replies with.
pub fn from_body<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, RpcError> {
    serde_json::from_value(value)
        .map_err(|e| RpcError::new(ErrorCode::InvalidArgument, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_on_the_wire() {
        let check = |reply: DialReply, json: &str| {
            assert_eq!(serde_json::to_string(&reply).expect("serialises"), json);
            assert_eq!(
                from_body::<DialReply>(serde_json::from_str(json).expect("json")),
                Ok(reply)
            );
        };
        check(DialReply::Answered, r#"{"outcome":"answered"}"#);
        check(
            DialReply::Rejected {
                code: 486,
                reason: "Busy Here".into(),
            },
            r#"{"outcome":"rejected","code":486,"reason":"Busy Here"}"#,
        );
        assert_eq!(
            serde_json::to_string(&Decision::Reject { code: 603 }).expect("serialises"),
            r#"{"decision":"reject","code":603}"#
        );
    }
}
