//! `lb`: the SIP load balancer for inbound calls (hosts `lb-1`..`lb-N`).
//!
//! A stateless-ish SIP proxy on UDP 5060 (RFC 3261 section 16.11): it
//! forwards each new request to a healthy backend (`sip-N` by default),
//! adding its own Via (and, by default, a Record-Route so the whole dialog
//! crosses it), and routes responses back by Via. Its only state is a
//! bounded, expiring map Call-ID -> the transactions of that call by Via
//! branch and where each went, so that the retransmissions, the CANCEL and
//! the non-2xx ACK of a transaction reach the backend its INVITE went to,
//! whatever that backend's health since (only a new transaction consults
//! health). In-dialog requests (with a To tag) follow their Route header /
//! Request-URI.
//!
//! It health-checks each backend with SIP OPTIONS ([`crate::nodes::health`])
//! and answers OPTIONS addressed to itself with 200, which is the "LB
//! health ping" a carrier or monitor sends. With no healthy backend it
//! answers a new INVITE with 503.
//!
//! Faults it acts on (from its control handle, read per new request):
//! - `gray = work`: it keeps answering its ping 200 (monitors stay green)
//!   but answers every new out-of-dialog transaction for itself (a new
//!   INVITE) 503 instead of forwarding it;
//! - `gray = black_hole`: it keeps answering its ping 200 but takes in
//!   every other request and drops it, unanswered and not forwarded (in
//!   dialog or not), and passes no response on: a black hole;
//! - `rate_limit {per_s, code}`: new out-of-dialog INVITEs beyond `per_s`
//!   admitted in the current second of sim time get `code` (429 or 503)
//!   with `Retry-After: 1`. Retransmissions of a transaction already
//!   admitted, its CANCEL and ACK, and in-dialog requests are neither
//!   counted nor refused.
//!
//! With `outlier` configured it also ejects a backend whose new INVITEs
//! fail in a row ([`crate::nodes::outlier`]): the data plane's view, which
//! catches a backend that fails calls while its health checks pass.
//!
//! It is a deployable resource ([`crate::nodes::admin`]): the deployer
//! creates and deletes it over its admin port; while deleted its data-plane
//! socket is closed, so it neither forwards nor answers pings, and its
//! state (health, sticky map) is lost.

mod proxy;
mod sticky;

use super::admin;
use super::health::HealthCheckConfig;
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::sim::NodeCtx;
use crate::sim::{Dur, FieldError, Topology};
use serde::{Deserialize, Serialize};

/// `[nodes.lb]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LbConfig {
    /// Number of LB hosts (`lb-1`..). Default 1.
    #[serde(default = "default_pods")]
    pub pods: u32,
    /// Backends, as host or section names (`sip` means every `sip-N`).
    /// Default `["sip"]`.
    #[serde(default = "default_backends")]
    pub backends: Vec<String>,
    /// Health checks of the backends.
    #[serde(default)]
    pub health: HealthCheckConfig,
    /// Add a Record-Route, keeping in-dialog requests on this LB. Default
    /// true.
    #[serde(default = "default_true")]
    pub record_route: bool,
    /// How long a call's entry (its transactions by Via branch and where
    /// each went) is kept after its latest new transaction; it routes the
    /// retransmissions, CANCEL and non-2xx ACK of those transactions.
    /// Default 32s (64 * T1).
    #[serde(default = "default_sticky_ttl")]
    pub sticky_ttl: Dur,
    /// Most Call-IDs remembered; the oldest entry goes first. Default 4096.
    #[serde(default = "default_sticky_max")]
    pub sticky_max: u32,
    /// LB hosts that start deleted (the deployer may create them).
    /// Default: none.
    #[serde(default)]
    pub start_deleted: Vec<String>,
    /// Outlier ejection ([`crate::nodes::outlier`]): a backend whose new
    /// INVITEs fail (5xx, or no final response in time) this many times in
    /// a row gets no new calls for a while, even while it answers its
    /// health checks. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier: Option<crate::nodes::outlier::OutlierConfig>,
}

fn default_pods() -> u32 {
    1
}
fn default_backends() -> Vec<String> {
    vec!["sip".into()]
}
fn default_true() -> bool {
    true
}
fn default_sticky_ttl() -> Dur {
    Dur::from_secs(32)
}
fn default_sticky_max() -> u32 {
    4096
}

impl Default for LbConfig {
    fn default() -> LbConfig {
        LbConfig {
            pods: default_pods(),
            backends: default_backends(),
            health: HealthCheckConfig::default(),
            record_route: true,
            sticky_ttl: default_sticky_ttl(),
            sticky_max: default_sticky_max(),
            start_deleted: Vec::new(),
            outlier: None,
        }
    }
}

impl NodeConfig for LbConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        if self.backends.is_empty() {
            return Err(FieldError::new(
                format!("{prefix}.backends"),
                "needs at least one backend, e.g. [\"sip\"]",
            ));
        }
        for (i, b) in self.backends.iter().enumerate() {
            if !topology.resolves(b) {
                return Err(crate::sim::check::unknown_node(
                    format!("{prefix}.backends[{i}]"),
                    b,
                    topology,
                ));
            }
        }
        self.health.validate(&format!("{prefix}.health"))?;
        if let Some(outlier) = &self.outlier {
            outlier.validate(&format!("{prefix}.outlier"))?;
            if outlier.no_media_within.is_some() {
                return Err(FieldError::new(
                    format!("{prefix}.outlier.no_media_within"),
                    "an LB relays no media, so it cannot judge a backend by it; \
                     set it on an SBC that anchors the media",
                ));
            }
        }
        if self.sticky_ttl.is_zero() {
            return Err(FieldError::new(
                format!("{prefix}.sticky_ttl"),
                "must be > 0",
            ));
        }
        if self.sticky_max == 0 {
            return Err(FieldError::new(
                format!("{prefix}.sticky_max"),
                "must be >= 1",
            ));
        }
        check_own_hosts(prefix, "start_deleted", &self.start_deleted, "lb", topology)
    }

    fn pods(&self) -> Option<u32> {
        Some(self.pods)
    }
}

/// Checks that every name in `hosts` is a host of `section`.
pub(crate) fn check_own_hosts(
    prefix: &str,
    name: &str,
    hosts: &[String],
    section: &str,
    topology: &Topology,
) -> Result<(), FieldError> {
    let own = topology.hosts_of(section);
    for (i, h) in hosts.iter().enumerate() {
        if !own.contains(h) {
            return Err(FieldError::new(
                format!("{prefix}.{name}[{i}]"),
                format!(
                    "{h:?} is not a host of [nodes.{section}]; hosts: {}",
                    own.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Runs one LB host: the admin server, and the data plane while live.
pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let config: LbConfig = ctx.config();
    let start_created = !config.start_deleted.iter().any(|h| **h == *ctx.name);
    let mut liveness = admin::serve(&ctx, start_created);
    loop {
        liveness.until_live().await;
        // The data plane runs until the resource goes down; dropping it
        // closes its socket and forgets its state.
        let config: LbConfig = ctx.config();
        tokio::select! {
            r = proxy::serve(&ctx, config, liveness.clone()) => r?,
            _ = liveness.until_down() => {}
        }
    }
}

/// The `LbKind` node kind, as the registry lists it.
pub struct LbKind;

impl crate::nodes::NodeKind for LbKind {
    const DEPLOYABLE: bool = true;
    const ABOUT: &'static str = "SIP load balancer for inbound calls (a deployable resource).";
    type Config = LbConfig;
    const FAULTS: &'static [FaultSupport] = &[
        FaultSupport::new("gray", &["work", "black_hole"]),
        FaultSupport::new("rate_limit", &[]),
        FaultSupport::new("clock", &[]),
    ];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
