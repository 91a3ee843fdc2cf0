//! The RPC wire format: three kinds of frame, each one length-framed JSON
//! value (`net::frame`), over one TCP connection per request.
//!
//! ```text
//! client -> server  {"type":"request","id":7,"call":"out-3","method":"sip.dial",
//!                    "budget_ms":30000,"body":{...}}
//! server -> client  {"type":"response","id":7,"result":{"ok":{...}}}
//!                   {"type":"response","id":7,"result":{"err":{"code":"unavailable","message":"..."}}}
//! client -> server  {"type":"cancel","id":7}
//! ```
//!
//! `budget_ms` is the time left until the caller's deadline when the
//! request is written, in milliseconds on the caller's clock, or absent
//! when the caller's middleware does not propagate deadlines. The receiver
//! turns it into a deadline on its own clock on arrival (its clock reading
//! plus the budget), so hosts whose clocks disagree (a `clock` fault) still
//! agree on how long a request may take; an absolute time would be read
//! against a different clock at each end. The budget does not count the
//! request's time in flight, as gRPC's `grpc-timeout` does not. A `cancel` is what the
//! client sends when it gives up (gRPC's RST_STREAM): the server's handler is
//! told and may clean up (the SIP service cancels the SIP leg). Closing the
//! connection before a response means the same.
//!
//! One connection per request (HTTP/1.0 style) is a deliberate choice:
//! turmoil's TCP has no retransmission, so a segment lost to a partition
//! wedges a connection for good; a fresh connection per request keeps one
//! lost request from poisoning the next.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One frame on an RPC connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", try_from = "FlatFrame")]
pub enum Frame {
    Request(Request),
    Response(Response),
    Cancel { id: u64 },
}

/// Every field a frame can have, read in one pass: serde's internally
/// tagged enums buffer the whole value before choosing a variant, which was
/// a visible share of an RPC-heavy run. [`Frame`] is read through this and
/// checked; it is still written by the derived, tagged form.
#[derive(Deserialize)]
struct FlatFrame {
    #[serde(rename = "type")]
    kind: FrameKind,
    id: u64,
    call: Option<String>,
    method: Option<String>,
    budget_ms: Option<u64>,
    body: Option<serde_json::Value>,
    result: Option<RpcResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum FrameKind {
    Request,
    Response,
    Cancel,
}

impl TryFrom<FlatFrame> for Frame {
    type Error = String;

    fn try_from(f: FlatFrame) -> Result<Frame, String> {
        let missing = |field: &str| format!("missing field `{field}`");
        Ok(match f.kind {
            FrameKind::Request => Frame::Request(Request {
                id: f.id,
                call: f.call.ok_or_else(|| missing("call"))?,
                method: f.method.ok_or_else(|| missing("method"))?,
                budget_ms: f.budget_ms,
                body: f.body.unwrap_or_default(),
            }),
            FrameKind::Response => Frame::Response(Response {
                id: f.id,
                result: f.result.ok_or_else(|| missing("result"))?,
            }),
            FrameKind::Cancel => Frame::Cancel { id: f.id },
        })
    }
}

/// A request: the platform call it belongs to, the method, the time left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Unique per client host; echoed in the response and a cancel.
    pub id: u64,
    /// The platform-wide call id (`out-3`, `in-7`), for the history.
    pub call: String,
    pub method: String,
    /// The time left until the caller's deadline, in ms, when the caller
    /// propagates one. `exchange` takes off the time it spent before
    /// writing the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_ms: Option<u64>,
    #[serde(default)]
    pub body: serde_json::Value,
}

/// A response to request `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: u64,
    pub result: RpcResult,
}

/// The outcome a server reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RpcResult {
    Ok(serde_json::Value),
    Err(RpcError),
}

impl From<Result<serde_json::Value, RpcError>> for RpcResult {
    fn from(r: Result<serde_json::Value, RpcError>) -> RpcResult {
        match r {
            Ok(v) => RpcResult::Ok(v),
            Err(e) => RpcResult::Err(e),
        }
    }
}

impl From<RpcResult> for Result<serde_json::Value, RpcError> {
    fn from(r: RpcResult) -> Self {
        match r {
            RpcResult::Ok(v) => Ok(v),
            RpcResult::Err(e) => Err(e),
        }
    }
}

/// An RPC-level failure (the method's own outcomes, such as a callee's
/// 486, are values in the `ok` body, not errors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: ErrorCode,
    pub message: String,
}

impl RpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// RPC error codes (gRPC's vocabulary, as far as callsim needs it). The
/// `rpc.response` event's `outcome` is `ok`, or one of these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The client's own timeout fired before a response (never sent by a
    /// server; the `rpc.response` outcome is then `timeout`).
    Timeout,
    /// The request reached no handler: nothing was done, a retry is safe
    /// (connection refused or timed out, no backend alive, draining).
    Unavailable,
    /// The connection broke after the request was sent: the handler may
    /// have acted, the outcome is unknown. Never retried.
    ConnectionLost,
    /// The server saw the request's propagated deadline pass.
    DeadlineExceeded,
    /// The server is overloaded (queue full, rate limited).
    ResourceExhausted,
    /// The caller cancelled.
    Cancelled,
    /// Unknown method.
    NotFound,
    /// Malformed body.
    InvalidArgument,
    /// Anything else that went wrong inside the server.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::ConnectionLost => "connection_lost",
            ErrorCode::DeadlineExceeded => "deadline_exceeded",
            ErrorCode::ResourceExhausted => "resource_exhausted",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::Internal => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(frame: Frame, json: &str) {
        assert_eq!(serde_json::to_string(&frame).expect("serialises"), json);
        let back: Frame = serde_json::from_str(json).expect("parses");
        assert_eq!(back, frame);
    }

    #[test]
    fn frames_on_the_wire() {
        check(
            Frame::Request(Request {
                id: 7,
                call: "out-3".into(),
                method: "sip.dial".into(),
                budget_ms: Some(30000),
                body: serde_json::json!({"to": "+1"}),
            }),
            r#"{"type":"request","id":7,"call":"out-3","method":"sip.dial","budget_ms":30000,"body":{"to":"+1"}}"#,
        );
        check(
            Frame::Request(Request {
                id: 1,
                call: "in-1".into(),
                method: "m".into(),
                budget_ms: None,
                body: serde_json::Value::Null,
            }),
            r#"{"type":"request","id":1,"call":"in-1","method":"m","body":null}"#,
        );
        check(
            Frame::Response(Response {
                id: 7,
                result: RpcResult::Ok(serde_json::json!({"outcome": "answered"})),
            }),
            r#"{"type":"response","id":7,"result":{"ok":{"outcome":"answered"}}}"#,
        );
        check(
            Frame::Response(Response {
                id: 7,
                result: RpcResult::Err(RpcError::new(ErrorCode::Unavailable, "no backend")),
            }),
            r#"{"type":"response","id":7,"result":{"err":{"code":"unavailable","message":"no backend"}}}"#,
        );
        check(Frame::Cancel { id: 7 }, r#"{"type":"cancel","id":7}"#);
    }

    #[test]
    fn a_frame_missing_what_its_type_needs_is_refused() {
        for (json, field) in [
            (r#"{"type":"request","id":1,"method":"m"}"#, "call"),
            (r#"{"type":"request","id":1,"call":"c"}"#, "method"),
            (r#"{"type":"response","id":1}"#, "result"),
            (r#"{"type":"cancel"}"#, "id"),
        ] {
            let err = serde_json::from_str::<Frame>(json)
                .expect_err(json)
                .to_string();
            assert!(err.contains(field), "{json}: {err}");
        }
        assert!(serde_json::from_str::<Frame>(r#"{"type":"ping","id":1}"#).is_err());
    }
}
