//! The gateway's public API: its wire format and the client the agent uses.
//!
//! Length-framed JSON over TCP (`net::frame`: a 4-byte big-endian length,
//! then the JSON), one request per connection, on port [`ports::API`]:
//!
//! ```text
//! agent -> gateway  {"method":"CreateSIPParticipant","call":"out-1","trunk":"carrier",
//!                    "to":"+15550000001","wait_until_answered":true,"ringing_timeout":"30s"}
//! gateway -> agent  {"status":200,"message":"answered"}
//! ```
//!
//! `status` is HTTP-like: 200, 400 (bad request), 408 (ringing timeout, or
//! an internal RPC that timed out), the callee's own code on rejection (486,
//! 603, 480, ...), 429 (rate limited), 500, 503 (no SIP service reachable,
//! overload). The caller closing the connection before the response
//! abandons the request (a pending sync dial is cancelled).
//!
//! [`ports::API`]: crate::nodes::ports::API

use crate::net::frame::{read_frame, write_frame};
use crate::nodes::ports;
use crate::sim::time::sleep_until_ms;
use crate::sim::Dur;
use serde::{Deserialize, Serialize};
use turmoil::net::TcpStream;

/// Method names, as written on the wire.
pub const CREATE_SIP_PARTICIPANT: &str = "CreateSIPParticipant";

/// A request to the public API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method")]
pub enum ApiRequest {
    #[serde(rename = "CreateSIPParticipant")]
    CreateSipParticipant(CreateSipParticipant),
}

/// `CreateSIPParticipant`: dial a number through a trunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSipParticipant {
    /// The platform call id the caller chose (`out-<n>`).
    pub call: String,
    /// The trunk (the carrier's host name).
    pub trunk: String,
    /// The number to dial.
    pub to: String,
    /// Hold the request until the callee answers. Default false.
    #[serde(default)]
    pub wait_until_answered: bool,
    /// How long the callee may ring. Default 30s.
    #[serde(default = "default_ringing_timeout")]
    pub ringing_timeout: Dur,
    /// The client's attempt number (1, 2, .. for retries of one call id),
    /// sent by client profiles (`[nodes.agent] clients`). Absent on the
    /// wire when `None`; the gateway's events then carry no `attempt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

fn default_ringing_timeout() -> Dur {
    Dur::from_secs(30)
}

/// The API's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiResponse {
    pub status: u16,
    pub message: String,
}

/// How a client-side API call ended (the agent's view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiOutcome {
    Response(ApiResponse),
    /// No connection to the gateway.
    Unreachable(String),
    /// The connection broke before a response.
    Lost(String),
    /// No response by the client's own deadline.
    TimedOut,
}

/// Sends one API request to `gateway` and waits until `until_ms` (sim ms)
/// at the latest.
pub async fn call(gateway: &str, request: &ApiRequest, until_ms: u64) -> ApiOutcome {
    let connect = tokio::select! {
        r = TcpStream::connect((gateway, ports::API)) => r,
        _ = sleep_until_ms(until_ms) => return ApiOutcome::TimedOut,
    };
    let stream = match connect {
        Ok(s) => s,
        Err(e) => return ApiOutcome::Unreachable(e.to_string()),
    };
    exchange(stream, request, Some(until_ms)).await
}

/// Sends `request` on a connected `stream` and waits for the response until
/// `until_ms` (sim ms) at the latest, or for ever when `None`.
pub async fn exchange(
    stream: TcpStream,
    request: &ApiRequest,
    until_ms: Option<u64>,
) -> ApiOutcome {
    let (mut rd, mut wr) = stream.into_split();
    if let Err(e) = write_frame(&mut wr, request).await {
        return ApiOutcome::Unreachable(e.to_string());
    }
    tokio::select! {
        r = read_frame::<_, ApiResponse>(&mut rd) => match r {
            Ok(Some(resp)) => ApiOutcome::Response(resp),
            Ok(None) => ApiOutcome::Lost("gateway closed the connection".into()),
            Err(e) => ApiOutcome::Lost(e.to_string()),
        },
        _ = until(until_ms) => ApiOutcome::TimedOut,
    }
}

/// Waits until `at_ms`, or for ever when there is none.
async fn until(at_ms: Option<u64>) {
    match at_ms {
        Some(at) => sleep_until_ms(at).await,
        None => std::future::pending::<()>().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_on_the_wire() {
        let json = r#"{"method":"CreateSIPParticipant","call":"out-1","trunk":"carrier","to":"+1","wait_until_answered":true,"ringing_timeout":"30s"}"#;
        let req: ApiRequest = serde_json::from_str(json).expect("parses");
        assert_eq!(serde_json::to_string(&req).expect("serialises"), json);
        let minimal: ApiRequest = serde_json::from_str(
            r#"{"method":"CreateSIPParticipant","call":"out-2","trunk":"carrier","to":"+1"}"#,
        )
        .expect("parses");
        let ApiRequest::CreateSipParticipant(c) = minimal;
        assert!(!c.wait_until_answered);
        assert_eq!(c.ringing_timeout, Dur::from_secs(30));
    }
}
