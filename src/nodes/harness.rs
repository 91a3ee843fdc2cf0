//! The harness self-test nodes: `pinger` sends numbered datagrams to `echo`
//! over simulated UDP and records what comes back.
//!
//! They prove the test-bed (seeded latency, scheduled partitions, history,
//! hash, determinism) before any SIP exists, and stay as the smallest
//! example of a node: config, control handle, sockets, events.
//!
//! They also honour the fault plan's node-side faults, as every node must,
//! so the fault demonstrations can use them: the pinger reads its
//! `interval` afresh before each datagram (a `set` takes effect at once);
//! the echo serves one datagram at a time with a simulated `service_time`
//! (multiplied by a saturation's `service_time_factor`, so a queue builds
//! in its socket), and refuses (does not answer) while it is deleted by
//! hand or gray, beyond a rate limit, or when its fault point
//! `harness.echo_drop` fires. It records `net.datagram` with `dir = echo`
//! for each datagram it answers and `dir = refuse` for each it refuses.

use crate::history::{emit, Event};
use crate::net::UdpEndpoint;
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::sim::NodeCtx;
use crate::sim::{Dur, FieldError, Topology};
use serde::{Deserialize, Serialize};

/// UDP port the echo node listens on.
pub const ECHO_PORT: u16 = 7000;
/// UDP port the pinger sends from.
pub const PINGER_PORT: u16 = 7001;
/// Largest datagram the harness sends or reads.
const DATAGRAM_MAX: usize = 64;

/// `[nodes.pinger]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PingerConfig {
    /// Datagrams to send. Default 100.
    #[serde(default = "default_count")]
    pub count: u32,
    /// Gap between datagrams. Default 100ms.
    #[serde(default = "default_interval")]
    pub interval: Dur,
    /// Host to ping. Default `echo`.
    #[serde(default = "default_target")]
    pub target: String,
}

fn default_count() -> u32 {
    100
}
fn default_interval() -> Dur {
    Dur::from_millis(100)
}
fn default_target() -> String {
    "echo".into()
}

impl NodeConfig for PingerConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        if self.count == 0 {
            return Err(FieldError::new(format!("{prefix}.count"), "must be >= 1"));
        }
        if self.interval.is_zero() {
            return Err(FieldError::new(format!("{prefix}.interval"), "must be > 0"));
        }
        if !topology.contains(&self.target) {
            return Err(crate::sim::check::unknown_node(
                format!("{prefix}.target"),
                &self.target,
                topology,
            ));
        }
        Ok(())
    }
}

/// `[nodes.echo]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EchoConfig {
    /// Simulated work per datagram before the answer; datagrams are
    /// served one at a time. Default 0ms (answer at once).
    #[serde(default, skip_serializing_if = "Dur::is_zero")]
    pub service_time: Dur,
}

impl NodeConfig for EchoConfig {
    fn validate(&self, _prefix: &str, _topology: &Topology) -> Result<(), FieldError> {
        Ok(())
    }
}

pub async fn run_pinger(ctx: NodeCtx) -> turmoil::Result {
    let config: PingerConfig = ctx.config();
    let socket = UdpEndpoint::bind(&ctx, PINGER_PORT).await?;
    let target = (config.target.as_str(), ECHO_PORT);
    let receiver = socket.clone();
    crate::sim::spawn(async move {
        let mut buf = [0u8; DATAGRAM_MAX];
        while let Ok((n, from)) = receiver.recv_from(&mut buf).await {
            let seq = parse_seq(&buf[..n]);
            let peer = turmoil::reverse_lookup(from.ip()).unwrap_or_default();
            emit(Event::Datagram {
                dir: "recv",
                seq,
                peer: &peer,
            });
        }
    });
    for seq in 1..=u64::from(config.count) {
        emit(Event::Datagram {
            dir: "send",
            seq,
            peer: &config.target,
        });
        socket.send_to(&seq.to_be_bytes(), target).await?;
        // Read afresh: a config override changes the pace from its time on.
        let interval = ctx.config::<PingerConfig>().interval;
        tokio::time::sleep(interval.0).await;
    }
    std::future::pending::<()>().await;
    Ok(())
}

pub async fn run_echo(ctx: NodeCtx) -> turmoil::Result {
    let socket = UdpEndpoint::bind(&ctx, ECHO_PORT).await?;
    let mut buf = [0u8; DATAGRAM_MAX];
    // Rate-limit window: its start and the datagrams accepted in it.
    let mut window = (tokio::time::Instant::now(), 0u32);
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        let seq = parse_seq(&buf[..n]);
        let peer = crate::net::host_of(from);
        let faults = ctx.control.faults();
        let now = tokio::time::Instant::now();
        if now.duration_since(window.0) >= std::time::Duration::from_secs(1) {
            window = (now, 0);
        }
        let over_limit = faults.rate_limit.is_some_and(|r| window.1 >= r.per_s);
        if !over_limit {
            window.1 += 1;
        }
        if faults.disabled
            || faults.gray.is_some()
            || over_limit
            || crate::sim::buggify::buggify(&ctx, crate::sim::buggify::HARNESS_ECHO_DROP)
        {
            emit(Event::Datagram {
                dir: "refuse",
                seq,
                peer: &peer,
            });
            continue;
        }
        let service = ctx.config::<EchoConfig>().service_time.0;
        if !service.is_zero() {
            tokio::time::sleep(service.mul_f64(faults.service_time_factor)).await;
        }
        emit(Event::Datagram {
            dir: "echo",
            seq,
            peer: &peer,
        });
        socket.send_to(&buf[..n], from).await?;
    }
}

fn parse_seq(bytes: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    let n = bytes.len().min(8);
    raw[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(raw)
}

/// The `PingerKind` node kind, as the registry lists it.
pub struct PingerKind;

impl crate::nodes::NodeKind for PingerKind {
    const ABOUT: &'static str =
        "Harness self-test: sends datagrams to `echo` and counts the replies.";
    type Config = PingerConfig;
    const FAULTS: &'static [FaultSupport] = &[];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run_pinger(ctx).await
    }
}

/// The `EchoKind` node kind, as the registry lists it.
pub struct EchoKind;

impl crate::nodes::NodeKind for EchoKind {
    const ABOUT: &'static str = "Harness self-test: echoes every datagram back.";
    type Config = EchoConfig;
    const FAULTS: &'static [FaultSupport] = &[
        FaultSupport::new("gray", &["work", "media"]),
        FaultSupport::new("saturate", &[]),
        FaultSupport::new("rate_limit", &[]),
    ];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run_echo(ctx).await
    }
}
