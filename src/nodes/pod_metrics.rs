//! A pod's metrics endpoint: what an autoscaler scrapes.
//!
//! One exchange per TCP connection on [`ports::METRICS`]: the scraper
//! connects, the pod writes one frame with its [`PodMetrics`] and closes.
//! A pod serves it only when the run has an autoscaler (so runs without
//! one keep their histories), and only while its software runs: a dormant
//! or crashed pod does not answer, which is how a scraper tells it is not
//! serving.

use crate::net::frame::{read_frame, write_frame};
use crate::nodes::ports;
use crate::sim::time::sleep;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use turmoil::net::{TcpListener, TcpStream};

/// The node kinds whose pods serve this endpoint (an autoscaler may
/// target only their sections).
pub const SERVED_BY: &[&str] = &["sip"];

/// A pod's load as it reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodMetrics {
    /// Call slots held.
    pub in_use: u32,
    /// Calls waiting for a slot.
    pub queued: u32,
    /// Call slots in all.
    pub capacity: u32,
}

/// Serves `snapshot()` to every scraper until the host stops.
pub async fn serve(snapshot: impl Fn() -> PodMetrics + 'static) -> std::io::Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", ports::METRICS)).await?;
    loop {
        let (mut stream, _) = listener.accept().await?;
        // One small frame: written inline, never held open.
        let _ = write_frame(&mut stream, &snapshot()).await;
    }
}

/// Scrapes `host`, giving up after `timeout` (`None`: no answer: the pod is
/// down, dormant, or unreachable).
pub async fn scrape(host: &str, timeout: Duration) -> Option<PodMetrics> {
    let exchange = async {
        let mut stream = TcpStream::connect((host, ports::METRICS)).await.ok()?;
        read_frame::<_, PodMetrics>(&mut stream)
            .await
            .ok()
            .flatten()
    };
    tokio::select! {
        m = exchange => m,
        _ = sleep(timeout) => None,
    }
}
