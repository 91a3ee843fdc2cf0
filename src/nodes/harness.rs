//! The harness self-test nodes: `pinger` sends numbered datagrams to `echo`
//! over simulated UDP and records what comes back.
//!
//! They prove the test-bed (seeded latency, scheduled partitions, history,
//! hash, determinism) before any SIP exists, and stay as the smallest
//! example of a node: config, control handle, sockets, events.

use super::NodeCtx;
use crate::history::{emit, Event};
use crate::net::UdpEndpoint;
use crate::scenario::nodes::NodeConfig;
use crate::scenario::{Dur, FieldError, Topology};
use serde::{Deserialize, Serialize};

/// UDP port the echo node listens on.
pub const ECHO_PORT: u16 = 7000;
/// UDP port the pinger sends from.
pub const PINGER_PORT: u16 = 7001;
/// Largest datagram the harness sends or reads.
const DATAGRAM_MAX: usize = 64;

/// `[nodes.pinger]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
            return Err(FieldError::new(
                format!("{prefix}.target"),
                format!(
                    "unknown node {:?}; known: {}",
                    self.target,
                    topology.names().join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// `[nodes.echo]`: no settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EchoConfig {}

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
    crate::testbed::spawn(async move {
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
        tokio::time::sleep(config.interval.0).await;
    }
    std::future::pending::<()>().await;
    Ok(())
}

pub async fn run_echo(ctx: NodeCtx) -> turmoil::Result {
    let socket = UdpEndpoint::bind(&ctx, ECHO_PORT).await?;
    let mut buf = [0u8; DATAGRAM_MAX];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        socket.send_to(&buf[..n], from).await?;
    }
}

fn parse_seq(bytes: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    let n = bytes.len().min(8);
    raw[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(raw)
}
