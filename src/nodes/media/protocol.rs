//! Wire formats of the media path, all length-framed JSON over TCP
//! ([`crate::net::frame`]), one request and one reply per connection:
//! - call control -> media proxy: [`FetchRequest`] / [`FetchReply`] on
//!   [`FETCH_PORT`];
//! - media proxy -> origin: [`OriginRequest`] / [`OriginReply`] on
//!   [`ORIGIN_PORT`];
//! - media proxy -> telemetry collector: [`TelemetryBatch`] /
//!   [`TelemetryAck`] on [`TELEMETRY_PORT`] (a connection carries batches
//!   until it breaks).

use serde::{Deserialize, Serialize};

/// Media proxy: fetch requests for Play/Say audio.
pub const FETCH_PORT: u16 = 8400;
/// Origin: file downloads.
pub const ORIGIN_PORT: u16 = 8500;
/// Telemetry collector: batches of records.
pub const TELEMETRY_PORT: u16 = 8600;

/// Fetch the audio of one verb.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// The platform-wide call id (for the proxy's telemetry).
    pub call: String,
    /// What to fetch: a file URL for Play, `tts:<text>` for Say.
    pub url: String,
    /// Sim time (ms since the start) after which the caller no longer
    /// waits: the proxy abandons the job then.
    pub deadline_ms: u64,
}

/// The proxy's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchReply {
    pub ok: bool,
    /// Audio size when ok.
    pub size_bytes: u64,
    /// Why not, when not ok (`overloaded`, `origin: ...`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// Download one file from the origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginRequest {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginReply {
    pub ok: bool,
    pub size_bytes: u64,
}

/// A batch of telemetry records, as the proxy's client flushes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelemetryBatch {
    pub records: u64,
    /// Total payload of the records.
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelemetryAck {
    pub records: u64,
}
