//! The media proxy's telemetry client: a bounded buffer of records that a
//! flusher ships to the `telemetry` collector, and the error-event
//! collector that costs CPU on the proxy itself.
//!
//! This is the mechanism of the Twilio outage (seed 004), with every size
//! an input: each fetch adds one record of `payload_bytes` to a buffer of
//! `buffer_bytes`. The flusher waits `flush_interval` after the buffer
//! turns non-empty (batching), takes everything, and sends it to the
//! collector, waiting for the ack before the next batch; so the buffer
//! drains at most `buffer_bytes` per cycle (interval + round trip + the
//! collector's ingest time). A record that does not fit overflows: it is
//! dropped and becomes an error event. With `error_collector` on, each
//! error event is processed by a collector process on the proxy's own
//! workers (`error_event_cpu` each), competing with the fetches for CPU.
//! Under the trigger load that competition, not a scripted failure rate,
//! is what makes fetches time out.
//!
//! History: `telemetry.overflow {dropped}` once per flush in which records
//! were dropped (not once per record, to keep the history small).

use super::protocol::{TelemetryAck, TelemetryBatch, TELEMETRY_PORT};
use crate::history::{emit, Event};
use crate::net::frame::{read_frame, write_frame};
use crate::sim::buggify::{self, here};
use crate::sim::NodeCtx;
use crate::sim::{Dur, FieldError, Topology};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use tokio::sync::Notify;

/// `telemetry = { ... }` of `[nodes.media]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryClientConfig {
    /// Record telemetry at all. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The collector host. Default `telemetry`.
    #[serde(default = "default_collector")]
    pub collector: String,
    /// Capacity of the client buffer. Default 65536.
    #[serde(default = "default_buffer_bytes")]
    pub buffer_bytes: u64,
    /// Size of one record (one per fetch). Default 256.
    #[serde(default = "default_payload_bytes")]
    pub payload_bytes: u64,
    /// Batching delay after the buffer turns non-empty. Default 100ms.
    #[serde(default = "default_flush_interval")]
    pub flush_interval: Dur,
    /// Bound on one batch's send and ack. Default 1s.
    #[serde(default = "default_send_timeout")]
    pub send_timeout: Dur,
    /// Process each overflow's error event on this host's workers.
    /// Default true (the process the Twilio remediation disabled).
    #[serde(default = "default_true")]
    pub error_collector: bool,
    /// CPU time of processing one error event. Default 2ms.
    #[serde(default = "default_error_event_cpu")]
    pub error_event_cpu: Dur,
}

fn default_true() -> bool {
    true
}
fn default_collector() -> String {
    "telemetry".into()
}
fn default_buffer_bytes() -> u64 {
    65536
}
fn default_payload_bytes() -> u64 {
    256
}
fn default_flush_interval() -> Dur {
    Dur::from_millis(100)
}
fn default_send_timeout() -> Dur {
    Dur::from_secs(1)
}
fn default_error_event_cpu() -> Dur {
    Dur::from_millis(2)
}

impl Default for TelemetryClientConfig {
    fn default() -> TelemetryClientConfig {
        TelemetryClientConfig {
            enabled: true,
            collector: default_collector(),
            buffer_bytes: default_buffer_bytes(),
            payload_bytes: default_payload_bytes(),
            flush_interval: default_flush_interval(),
            send_timeout: default_send_timeout(),
            error_collector: true,
            error_event_cpu: default_error_event_cpu(),
        }
    }
}

impl TelemetryClientConfig {
    pub fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        if !self.enabled {
            return Ok(());
        }
        if !topology.contains(&self.collector) {
            return Err(FieldError::new(
                format!("{prefix}.collector"),
                format!(
                    "unknown node {:?}; add [nodes.telemetry] or set enabled = false",
                    self.collector
                ),
            ));
        }
        if self.payload_bytes == 0 {
            return Err(FieldError::new(
                format!("{prefix}.payload_bytes"),
                "must be >= 1",
            ));
        }
        if self.buffer_bytes < self.payload_bytes {
            return Err(FieldError::new(
                format!("{prefix}.buffer_bytes"),
                "must hold at least one record (>= payload_bytes)",
            ));
        }
        if self.flush_interval.is_zero() {
            return Err(FieldError::new(
                format!("{prefix}.flush_interval"),
                "must be > 0",
            ));
        }
        if self.send_timeout.is_zero() {
            return Err(FieldError::new(
                format!("{prefix}.send_timeout"),
                "must be > 0",
            ));
        }
        Ok(())
    }
}

#[derive(Default)]
struct Buffer {
    bytes: u64,
    records: u64,
    /// Records dropped since the last flush.
    dropped: u64,
}

/// The client; cheap to clone.
#[derive(Clone)]
pub struct TelemetryClient {
    config: Rc<TelemetryClientConfig>,
    buffer: Rc<RefCell<Buffer>>,
    filled: Rc<Notify>,
    pool: crate::nodes::workers::Pool,
}

impl TelemetryClient {
    /// Starts the flusher; `pool` is the host's workers, which the error
    /// collector shares.
    pub fn start(
        ctx: &NodeCtx,
        config: TelemetryClientConfig,
        pool: crate::nodes::workers::Pool,
    ) -> TelemetryClient {
        let client = TelemetryClient {
            config: Rc::new(config),
            buffer: Rc::default(),
            filled: Rc::new(Notify::new()),
            pool,
        };
        if client.config.enabled {
            let flusher = client.clone();
            let _ = ctx;
            crate::sim::spawn(async move { flusher.flush_loop().await });
        }
        client
    }

    /// Adds one record; on overflow, drops it and raises an error event.
    pub fn record(&self) {
        // Fault point: the record is lost before the buffer.
        if !self.config.enabled || here(buggify::TELEMETRY_DROP_RECORD) {
            return;
        }
        let payload = self.config.payload_bytes;
        let overflow = {
            let mut b = self.buffer.borrow_mut();
            if b.bytes + payload > self.config.buffer_bytes {
                b.dropped += 1;
                true
            } else {
                let was_empty = b.records == 0;
                b.bytes += payload;
                b.records += 1;
                if was_empty {
                    self.filled.notify_one();
                }
                false
            }
        };
        if overflow && self.config.error_collector {
            // The collector process handles the error event on this host's
            // CPU. When the workers' queue is full the event is lost, which
            // bounds the collector's backlog.
            let pool = self.pool.clone();
            let cpu = self.config.error_event_cpu.0;
            crate::sim::spawn(async move {
                let _ = pool.serve(cpu).await;
            });
        }
    }

    async fn flush_loop(self) {
        let mut connection: Option<turmoil::net::TcpStream> = None;
        loop {
            self.filled.notified().await;
            tokio::time::sleep(self.config.flush_interval.0).await;
            // Fault point: the flush starts one interval late.
            if here(buggify::TELEMETRY_FLUSH_LATE) {
                tokio::time::sleep(self.config.flush_interval.0).await;
            }
            let (records, bytes, dropped) = {
                let mut b = self.buffer.borrow_mut();
                let taken = (b.records, b.bytes, b.dropped);
                *b = Buffer::default();
                taken
            };
            if dropped > 0 {
                emit(Event::TelemetryOverflow { dropped });
            }
            if records == 0 {
                continue;
            }
            let batch = TelemetryBatch { records, bytes };
            let sent = tokio::time::timeout(
                self.config.send_timeout.0,
                send(&mut connection, &self.config.collector, &batch),
            )
            .await;
            if !matches!(sent, Ok(Ok(()))) {
                // The batch is lost; reconnect for the next one.
                connection = None;
            }
            // Records that arrived during the send are waiting.
            if self.buffer.borrow().records > 0 {
                self.filled.notify_one();
            }
        }
    }
}

async fn send(
    connection: &mut Option<turmoil::net::TcpStream>,
    collector: &str,
    batch: &TelemetryBatch,
) -> std::io::Result<()> {
    if connection.is_none() {
        *connection = Some(turmoil::net::TcpStream::connect((collector, TELEMETRY_PORT)).await?);
    }
    let stream = connection.as_mut().expect("just connected");
    write_frame(stream, batch).await?;
    match read_frame::<_, TelemetryAck>(stream).await? {
        Some(_) => Ok(()),
        None => Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "collector closed",
        )),
    }
}
