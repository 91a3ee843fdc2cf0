//! The API edge (host `api-edge`): a front door (a CDN or API gateway of
//! the customer's provider) between the customer's clients and the
//! platform's API.
//!
//! It speaks the API's own wire format ([`crate::nodes::gateway::api`]) on
//! both sides: it accepts a client's connection on [`ports::API`], reads
//! its request, opens a connection of its own to the origin (the gateway),
//! forwards the request and relays the response. It has its own limits and
//! answers with statuses of its own when the origin fails it:
//!
//! | what happened | edge status |
//! |---|---|
//! | more than `connections_max` client connections open | 503 at once |
//! | origin refused or dropped the connection | 502 |
//! | no origin connection within `connect_timeout` | 522 |
//! | no origin response within `origin_timeout` | 524 |
//!
//! A client that goes away closes the edge's origin connection, so the
//! origin sees the request abandoned, as it would without the edge.
//!
//! The `gray` fault in mode `black_hole` does the same for its window
//! (`{ kind = "gray", node = "api-edge", mode = "black_hole", at, until }`).
//! `mode = "black_hole"` (default `serve`) makes the edge accept every
//! connection and read its request, then never answer and never forward
//! (it holds the connection until the client closes it). Set it for a
//! window with a `set` fault (`{ kind = "set", node = "api-edge", field =
//! "mode", value = "black_hole", at = "20s", until = "80s" }`): a
//! connection accepted while black-holed stays unanswered after the window.
//!
//! Point the agent at it with `[nodes.agent] gateway = "api-edge"`.

use crate::net::frame::{read_frame, write_frame};
use crate::nodes::gateway::api::{self, ApiOutcome, ApiRequest, ApiResponse};
use crate::nodes::ports;
use crate::nodes::{FaultSupport, NodeConfig};
use crate::sim::time::sleep;
use crate::sim::{check, Dur, FieldError, NodeCtx, Topology};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use turmoil::net::{TcpListener, TcpStream};

/// Most client connections an edge may be configured to hold.
pub const CONNECTIONS_MAX_LIMIT: u32 = 100_000;

/// How the edge treats requests.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EdgeMode {
    /// Forward to the origin and relay its answer.
    Serve,
    /// Accept and never answer.
    BlackHole,
}

/// `[nodes.api-edge]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// The origin: the API host behind the edge. Default `gateway`.
    #[serde(default = "default_origin")]
    pub origin: String,
    /// Longest wait for the origin connection, then 522. Default 5s.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Dur,
    /// Longest wait for the origin's response once connected, then 524.
    /// Default 100s.
    #[serde(default = "default_origin_timeout")]
    pub origin_timeout: Dur,
    /// Client connections held at once (1..=100000); one more gets 503 at
    /// once. Default 1024.
    #[serde(default = "default_connections_max")]
    pub connections_max: u32,
    /// `serve` or `black_hole`. Default `serve`.
    #[serde(default = "default_mode")]
    pub mode: EdgeMode,
}

fn default_origin() -> String {
    "gateway".into()
}
fn default_connect_timeout() -> Dur {
    Dur::from_secs(5)
}
fn default_origin_timeout() -> Dur {
    Dur::from_secs(100)
}
fn default_connections_max() -> u32 {
    1024
}
fn default_mode() -> EdgeMode {
    EdgeMode::Serve
}

impl NodeConfig for EdgeConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        check::known_node(prefix, "origin", &self.origin, topology)?;
        check::positive(prefix, "connect_timeout", self.connect_timeout)?;
        check::positive(prefix, "origin_timeout", self.origin_timeout)?;
        check::at_least_one(prefix, "connections_max", self.connections_max)?;
        if self.connections_max > CONNECTIONS_MAX_LIMIT {
            return Err(FieldError::new(
                check::field(prefix, "connections_max"),
                format!(
                    "{} connections; at most {CONNECTIONS_MAX_LIMIT} (limit edge::CONNECTIONS_MAX_LIMIT)",
                    self.connections_max
                ),
            ));
        }
        Ok(())
    }
}

/// Counts an open client connection while alive.
struct Open(Rc<Cell<u32>>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let open = Rc::new(Cell::new(0u32));
    let listener = TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), ports::API)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let mut config: EdgeConfig = ctx.config();
        // The `gray = black_hole` fault black-holes it as its own mode does.
        if ctx.control.faults().gray == Some(crate::sim::control::GrayMode::BlackHole) {
            config.mode = EdgeMode::BlackHole;
        }
        let over = open.get() >= config.connections_max;
        open.set(open.get() + 1);
        let guard = Open(open.clone());
        crate::sim::spawn(async move {
            connection(config, stream, over).await;
            drop(guard);
        });
    }
}

fn answer(status: u16, message: &str) -> ApiResponse {
    ApiResponse {
        status,
        message: message.to_string(),
    }
}

/// One client connection: one request, one response (or none).
async fn connection(config: EdgeConfig, stream: TcpStream, over_limit: bool) {
    let (mut rd, mut wr) = stream.into_split();
    if over_limit {
        let _ = write_frame(&mut wr, &answer(503, "edge connection limit")).await;
        return;
    }
    let request: ApiRequest = match read_frame(&mut rd).await {
        Ok(Some(r)) => r,
        _ => return,
    };
    let client_gone = async {
        // The client sends nothing more; anything read means it is gone.
        let mut byte = [0u8; 1];
        let _ = tokio::io::AsyncReadExt::read(&mut rd, &mut byte).await;
    };
    if config.mode == EdgeMode::BlackHole {
        client_gone.await;
        return;
    }
    let response = tokio::select! {
        r = forward(&config, &request) => r,
        _ = client_gone => return,
    };
    let _ = write_frame(&mut wr, &response).await;
}

/// The origin's answer to `request`, or the edge's own status.
async fn forward(config: &EdgeConfig, request: &ApiRequest) -> ApiResponse {
    let connect = tokio::select! {
        r = TcpStream::connect((config.origin.as_str(), ports::API)) => r,
        _ = sleep(config.connect_timeout.0) => return answer(522, "origin connect timeout"),
    };
    let Ok(stream) = connect else {
        return answer(502, "origin unreachable");
    };
    let until = crate::sim::time::now_ms() + config.origin_timeout.as_millis();
    match api::exchange(stream, request, Some(until)).await {
        ApiOutcome::Response(r) => r,
        ApiOutcome::TimedOut => answer(524, "origin timeout"),
        ApiOutcome::Unreachable(_) | ApiOutcome::Lost(_) => answer(502, "origin connection lost"),
    }
}

/// The `EdgeKind` node kind, as the registry lists it.
pub struct EdgeKind;

impl crate::nodes::NodeKind for EdgeKind {
    const ABOUT: &'static str =
        "An API front door: forwards API requests to the origin, with timeouts, statuses (502/522/524) and a connection limit of its own; black-holes in `mode = \"black_hole\"`.";
    type Config = EdgeConfig;
    const FAULTS: &'static [FaultSupport] = &[FaultSupport::new("gray", &["black_hole"])];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
