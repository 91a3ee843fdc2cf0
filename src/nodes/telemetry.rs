//! `telemetry`: the collector the media proxies ship telemetry batches to.
//!
//! It ingests one batch at a time per connection, taking `batch_time` plus
//! `time_per_kb` per KiB of payload, then acks; the clients wait for the
//! ack before sending the next batch, so this ingest time is what bounds
//! how fast a proxy's buffer drains.

use super::media::protocol::{TelemetryAck, TelemetryBatch, TELEMETRY_PORT};
use crate::net::frame::{read_frame, write_frame};
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::sim::NodeCtx;
use crate::sim::{Dur, FieldError, Topology};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

/// `[nodes.telemetry]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Fixed ingest time of one batch. Default 5ms.
    #[serde(default = "default_batch_time")]
    pub batch_time: Dur,
    /// Ingest time per KiB of payload. Default 1ms.
    #[serde(default = "default_time_per_kb")]
    pub time_per_kb: Dur,
    /// Client connections served at once; more are closed. Default 64.
    #[serde(default = "default_connections_max")]
    pub connections_max: u32,
}

fn default_batch_time() -> Dur {
    Dur::from_millis(5)
}
fn default_time_per_kb() -> Dur {
    Dur::from_millis(1)
}
fn default_connections_max() -> u32 {
    64
}

impl Default for TelemetryConfig {
    fn default() -> TelemetryConfig {
        TelemetryConfig {
            batch_time: default_batch_time(),
            time_per_kb: default_time_per_kb(),
            connections_max: default_connections_max(),
        }
    }
}

impl NodeConfig for TelemetryConfig {
    fn validate(&self, prefix: &str, _topology: &Topology) -> Result<(), FieldError> {
        if self.connections_max == 0 {
            return Err(FieldError::new(
                format!("{prefix}.connections_max"),
                "must be >= 1",
            ));
        }
        Ok(())
    }
}

pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let config: TelemetryConfig = ctx.config();
    let listener =
        turmoil::net::TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), TELEMETRY_PORT))
            .await?;
    let open = Rc::new(Cell::new(0u32));
    loop {
        let (mut stream, _) = listener.accept().await?;
        if open.get() >= config.connections_max {
            continue;
        }
        open.set(open.get() + 1);
        let (open, config) = (open.clone(), config.clone());
        crate::sim::spawn(async move {
            while let Ok(Some(batch)) = read_frame::<_, TelemetryBatch>(&mut stream).await {
                let mut ingest =
                    config.batch_time.0 + config.time_per_kb.0.mul_f64(batch.bytes as f64 / 1024.0);
                // Fault point: this batch's ingest is ten times slower.
                if crate::sim::buggify::here(crate::sim::buggify::TELEMETRY_INGEST_SLOW) {
                    ingest *= 10;
                }
                tokio::time::sleep(ingest).await;
                let ack = TelemetryAck {
                    records: batch.records,
                };
                if write_frame(&mut stream, &ack).await.is_err() {
                    break;
                }
            }
            open.set(open.get() - 1);
        });
    }
}

/// The `TelemetryKind` node kind, as the registry lists it.
pub struct TelemetryKind;

impl crate::nodes::NodeKind for TelemetryKind {
    const ABOUT: &'static str = "Telemetry collector of the media proxies.";
    type Config = TelemetryConfig;
    const FAULTS: &'static [FaultSupport] = &[];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
