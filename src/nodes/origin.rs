//! `origin`: where the media proxies download Play/Say audio from (an
//! object store, say). It serves [`OriginRequest`]s over TCP on its own
//! workers, so a cold cache fleet can overload it too.

use super::media::protocol::{OriginReply, OriginRequest, ORIGIN_PORT};
use crate::net::frame::{read_frame, write_frame};
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::sim::NodeCtx;
use crate::sim::{Dur, FieldError, Topology};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

/// `[nodes.origin]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OriginConfig {
    /// Time to serve one download (disk and transfer). Default 50ms.
    #[serde(default = "default_serve_time")]
    pub serve_time: Dur,
    /// Size of every file. Default 32000 (2 s of 8 kHz audio).
    #[serde(default = "default_file_bytes")]
    pub file_bytes: u64,
    /// Concurrent downloads and queue bound. Default 8 / 64.
    #[serde(default)]
    pub pool: super::workers::PoolConfig,
    /// Connections served at once; more are closed. Default 256.
    #[serde(default = "default_connections_max")]
    pub connections_max: u32,
}

fn default_serve_time() -> Dur {
    Dur::from_millis(50)
}
fn default_file_bytes() -> u64 {
    32_000
}
fn default_connections_max() -> u32 {
    256
}

impl Default for OriginConfig {
    fn default() -> OriginConfig {
        OriginConfig {
            serve_time: default_serve_time(),
            file_bytes: default_file_bytes(),
            pool: super::workers::PoolConfig::default(),
            connections_max: default_connections_max(),
        }
    }
}

impl NodeConfig for OriginConfig {
    fn validate(&self, prefix: &str, _topology: &Topology) -> Result<(), FieldError> {
        self.pool.validate(&format!("{prefix}.pool"))?;
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
    let config: OriginConfig = ctx.config();
    let pool = super::workers::Pool::new(&ctx, config.pool);
    let listener =
        turmoil::net::TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), ORIGIN_PORT)).await?;
    let open = Rc::new(Cell::new(0u32));
    loop {
        let (mut stream, _) = listener.accept().await?;
        if open.get() >= config.connections_max {
            continue;
        }
        open.set(open.get() + 1);
        let (pool, open, config) = (pool.clone(), open.clone(), config.clone());
        crate::sim::spawn(async move {
            if let Ok(Some(_request)) = read_frame::<_, OriginRequest>(&mut stream).await {
                let ok = pool.serve(config.serve_time.0).await.is_ok();
                let reply = OriginReply {
                    ok,
                    size_bytes: if ok { config.file_bytes } else { 0 },
                };
                let _ = write_frame(&mut stream, &reply).await;
            }
            open.set(open.get() - 1);
        });
    }
}

/// The `OriginKind` node kind, as the registry lists it.
pub struct OriginKind;

impl crate::nodes::NodeKind for OriginKind {
    const ABOUT: &'static str = "Where the media proxies download audio from.";
    type Config = OriginConfig;
    const FAULTS: &'static [FaultSupport] = crate::nodes::workers::POOL_FAULTS;
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
