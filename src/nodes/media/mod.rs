//! `media`: the caching proxy that fetches the audio of Play and Say verbs
//! (hosts `media-1`..`media-N`), after Twilio's (seed 004).
//!
//! Call control (in the SIP service, [`crate::nodes::call_control`]) sends
//! a [`protocol::FetchRequest`] over TCP with a deadline. The proxy:
//! 1. adds a telemetry record to its client buffer
//!    ([`telemetry_client`]), which may overflow into an error event whose
//!    processing costs CPU here;
//! 2. serves the request on its workers (the CPU model: `pool`, with
//!    `fetch_cpu` per request), queueing behind other jobs, error events
//!    included;
//! 3. looks the URL up in its LRU cache; a miss costs `miss_cpu` more and a
//!    download from the origin (bounded by `origin_timeout`);
//! 4. answers ok, or `overloaded` when its queue is full, or an origin
//!    error. A job still unfinished at the request's deadline is
//!    abandoned (its worker or queue place is freed) and the connection
//!    closed: the caller has timed out.

pub mod cache;
pub mod protocol;
pub mod telemetry_client;

use crate::net::frame::{read_frame, write_frame};
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::sim::NodeCtx;
use crate::sim::{Dur, FieldError, Topology};
use cache::Cache;
use protocol::{FetchReply, FetchRequest, OriginReply, OriginRequest, FETCH_PORT, ORIGIN_PORT};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use telemetry_client::{TelemetryClient, TelemetryClientConfig};

/// `[nodes.media]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Number of proxy hosts (`media-1`..). Default 1.
    #[serde(default = "default_pods")]
    pub pods: u32,
    /// Workers (cores) and queue bound of each proxy. Default 8 / 64.
    #[serde(default)]
    pub pool: super::workers::PoolConfig,
    /// CPU time of serving one fetch. Default 5ms.
    #[serde(default = "default_fetch_cpu")]
    pub fetch_cpu: Dur,
    /// Extra CPU time of a cache miss (storing the download). Default 5ms.
    #[serde(default = "default_miss_cpu")]
    pub miss_cpu: Dur,
    /// Cached URLs per proxy. Default 1024.
    #[serde(default = "default_cache_entries_max")]
    pub cache_entries_max: u32,
    /// The origin host. Default `origin`.
    #[serde(default = "default_origin")]
    pub origin: String,
    /// Bound on one origin download. Default 2s.
    #[serde(default = "default_origin_timeout")]
    pub origin_timeout: Dur,
    /// Fetch connections served at once; more are closed on accept.
    /// Default 1024.
    #[serde(default = "default_connections_max")]
    pub connections_max: u32,
    /// The telemetry client and error-event collector.
    #[serde(default)]
    pub telemetry: TelemetryClientConfig,
}

fn default_pods() -> u32 {
    1
}
fn default_fetch_cpu() -> Dur {
    Dur::from_millis(5)
}
fn default_miss_cpu() -> Dur {
    Dur::from_millis(5)
}
fn default_cache_entries_max() -> u32 {
    1024
}
fn default_origin() -> String {
    "origin".into()
}
fn default_origin_timeout() -> Dur {
    Dur::from_secs(2)
}
fn default_connections_max() -> u32 {
    1024
}

impl Default for MediaConfig {
    fn default() -> MediaConfig {
        MediaConfig {
            pods: default_pods(),
            pool: super::workers::PoolConfig::default(),
            fetch_cpu: default_fetch_cpu(),
            miss_cpu: default_miss_cpu(),
            cache_entries_max: default_cache_entries_max(),
            origin: default_origin(),
            origin_timeout: default_origin_timeout(),
            connections_max: default_connections_max(),
            telemetry: TelemetryClientConfig::default(),
        }
    }
}

impl NodeConfig for MediaConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        self.pool.validate(&format!("{prefix}.pool"))?;
        if self.cache_entries_max == 0 {
            return Err(FieldError::new(
                format!("{prefix}.cache_entries_max"),
                "must be >= 1",
            ));
        }
        if !topology.contains(&self.origin) {
            return Err(crate::sim::check::unknown_node(
                format!("{prefix}.origin"),
                &self.origin,
                topology,
            ));
        }
        if self.origin_timeout.is_zero() {
            return Err(FieldError::new(
                format!("{prefix}.origin_timeout"),
                "must be > 0",
            ));
        }
        if self.connections_max == 0 {
            return Err(FieldError::new(
                format!("{prefix}.connections_max"),
                "must be >= 1",
            ));
        }
        self.telemetry
            .validate(&format!("{prefix}.telemetry"), topology)
    }

    fn pods(&self) -> Option<u32> {
        Some(self.pods)
    }
}

/// What every fetch shares on one proxy host.
struct Proxy {
    config: MediaConfig,
    pool: super::workers::Pool,
    cache: RefCell<Cache>,
    telemetry: TelemetryClient,
}

pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let config: MediaConfig = ctx.config();
    let pool = super::workers::Pool::new(&ctx, config.pool);
    let telemetry = TelemetryClient::start(&ctx, config.telemetry.clone(), pool.clone());
    let proxy = Rc::new(Proxy {
        cache: RefCell::new(Cache::new(config.cache_entries_max as usize)),
        config,
        pool,
        telemetry,
    });
    let listener =
        turmoil::net::TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), FETCH_PORT)).await?;
    let open = Rc::new(Cell::new(0u32));
    loop {
        let (stream, _) = listener.accept().await?;
        if open.get() >= proxy.config.connections_max {
            drop(stream);
            continue;
        }
        open.set(open.get() + 1);
        let proxy = proxy.clone();
        let open = open.clone();
        crate::sim::spawn(async move {
            // A broken connection is the caller's failure to see.
            let _ = serve_connection(stream, &proxy).await;
            open.set(open.get() - 1);
        });
    }
}

async fn serve_connection(
    mut stream: turmoil::net::TcpStream,
    proxy: &Proxy,
) -> std::io::Result<()> {
    let Some(request) = read_frame::<_, FetchRequest>(&mut stream).await? else {
        return Ok(());
    };
    proxy.telemetry.record();
    let now = now_ms();
    let budget = std::time::Duration::from_millis(request.deadline_ms.saturating_sub(now));
    match tokio::time::timeout(budget, fetch(proxy, &request.url)).await {
        Ok(reply) => write_frame(&mut stream, &reply).await,
        // Past the deadline: the job is abandoned and the caller gone.
        Err(_) => Ok(()),
    }
}

async fn fetch(proxy: &Proxy, url: &str) -> FetchReply {
    let fail = |error: &str| FetchReply {
        ok: false,
        size_bytes: 0,
        error: error.to_string(),
    };
    if proxy.pool.serve(proxy.config.fetch_cpu.0).await.is_err() {
        return fail("overloaded");
    }
    // Fault point: the cache misses an entry it holds.
    let cached = match crate::sim::buggify::here(crate::sim::buggify::MEDIA_CACHE_MISS) {
        true => None,
        false => proxy.cache.borrow_mut().get(url),
    };
    let size_bytes = match cached {
        Some(size) => size,
        None => {
            let download = tokio::time::timeout(
                proxy.config.origin_timeout.0,
                download(&proxy.config.origin, url),
            )
            .await;
            let size = match download {
                Ok(Ok(reply)) if reply.ok => reply.size_bytes,
                Ok(Ok(_)) => return fail("origin: not found"),
                Ok(Err(e)) => return fail(&format!("origin: {e}")),
                Err(_) => return fail("origin: timeout"),
            };
            if proxy.pool.serve(proxy.config.miss_cpu.0).await.is_err() {
                return fail("overloaded");
            }
            proxy.cache.borrow_mut().insert(url, size);
            size
        }
    };
    FetchReply {
        ok: true,
        size_bytes,
        error: String::new(),
    }
}

async fn download(origin: &str, url: &str) -> std::io::Result<OriginReply> {
    let mut stream = turmoil::net::TcpStream::connect((origin, ORIGIN_PORT)).await?;
    write_frame(
        &mut stream,
        &OriginRequest {
            url: url.to_string(),
        },
    )
    .await?;
    read_frame(&mut stream)
        .await?
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "origin closed"))
}

/// Sim time in ms since the start (the clock deadlines are written in).
pub fn now_ms() -> u64 {
    turmoil::sim_elapsed()
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The `MediaKind` node kind, as the registry lists it.
pub struct MediaKind;

impl crate::nodes::NodeKind for MediaKind {
    const ABOUT: &'static str = "Caching proxy for Play/Say audio, with a telemetry client.";
    type Config = MediaConfig;
    const FAULTS: &'static [FaultSupport] = crate::nodes::workers::POOL_FAULTS;
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
