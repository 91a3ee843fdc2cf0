//! The well-known ports of the reference platform, in one place.
//!
//! Every node listens on fixed ports of its own host; a caller needs only
//! the host name. SIP and media are UDP, the API and RPC are TCP.

/// Gateway: the public API (`CreateSIPParticipant`), TCP framed JSON.
pub const API: u16 = 8080;
/// Gateway: internal RPC server (inbound dispatches and call-ended notices
/// from the SIP service).
pub const GATEWAY_RPC: u16 = 7100;
/// Bus: the RPC broker's listening port.
pub const BUS_RPC: u16 = 7200;
/// SIP service: its internal RPC server (dial requests from the bus).
pub const SIP_RPC: u16 = 7300;
/// Agent: inbound-call dispatches from the gateway, TCP framed JSON.
pub const AGENT: u16 = 8090;
/// SIP signalling, UDP, on every SIP-speaking host.
pub const SIP: u16 = 5060;
/// Media (one small datagram per second per call and direction), UDP.
pub const MEDIA: u16 = 10000;
/// A pod's metrics endpoint (slot occupancy), scraped by an autoscaler,
/// TCP framed JSON. Served only when the run has an autoscaler.
pub const METRICS: u16 = 9100;
/// Name server: DNS-like queries and answers, UDP.
pub const DNS: u16 = 53;
/// Dispatcher: the persistent connections call workers register on, TCP
/// framed JSON (see `nodes::registration`).
pub const REGISTRATION: u16 = 9200;
/// Dependency (a database, cache or lookup service): its RPC server
/// (`dependency.lookup`), TCP framed JSON.
pub const DEPENDENCY: u16 = 7400;
