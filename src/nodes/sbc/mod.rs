//! `sbc-edge` and `sbc-inbound`: the session border controller pods of an
//! inbound SIP platform on Kubernetes, after Vapi's (seed 002). Inbound
//! calls go carrier -> `sbc-edge-i` -> `sbc-inbound-j` -> `sip-k`, for
//! signalling and for media.
//!
//! Each pod is a back-to-back user agent ([`pod`]): a call through it is
//! two dialogs ([`legs`]), the upstream one where the pod is the UAS and
//! the downstream one where it is the UAC, each with its own Call-ID, tags,
//! CSeq, Via and Contact, so the carrier never sees an address of the
//! inside (topology hiding). The pod stays in both dialogs as their
//! Contact and maps in-dialog requests leg to leg by its dialog map
//! ([`dialog_map`], `in_dialog`). It anchors media (`anchoring`,
//! [`relay`]): it rewrites the SDP on each leg to a pair of anchor ports on
//! a pod of its section, and relays the media datagrams between them by
//! address (never by what they carry). Every pod pair is its own turmoil
//! link, so a fault can break one pair.
//!
//! What the pods do when the next hop fails (all config):
//! - no response at all from the next hop within `next_hop_timeout`:
//!   another next hop when `attempts_max` allows, else `timeout_code`
//!   (480) upstream;
//! - a 503 from the next hop: another next hop when allowed, else the 503;
//! - no usable next hop: 503;
//! - the caller's CANCEL: 200, CANCEL downstream, and the next hop's final
//!   answer (normally 487) upstream; a 487 made here only when the next hop
//!   never answers (within `cancel_wait`);
//! - a 2xx after the caller already had its final answer: ACK and BYE on
//!   the downstream leg, never relayed (one final answer per INVITE);
//! - admission on the pod's workers (`pool`, `invite_cpu`), which carry the
//!   host's fault settings: a rate limit answers its code (429), a gray or
//!   saturated pod 503;
//! - health checks of the next hops with SIP OPTIONS ([`crate::nodes::health`]);
//!   with `eject`, unhealthy next hops get no new calls.
//!
//! Under `NodeFaults.gray = media` a pod keeps signalling and drops the
//! media it should relay. Pods are deployable resources with an admin port,
//! like the LB ([`crate::nodes::admin`]).

mod anchoring;
pub mod dialog_map;
mod in_dialog;
pub mod legs;
pub mod pod;
pub mod relay;

use super::admin;
use super::health::HealthCheckConfig;
use super::workers::PoolConfig;
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::sim::NodeCtx;
use crate::sim::{Dur, FieldError, Topology};
use crate::sip::SipTimers;
use serde::{Deserialize, Serialize};

/// Which pod anchors a call's media.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MediaAnchor {
    /// The pod that carries the call's signalling (media and signalling
    /// cross the same pod pairs).
    #[default]
    Signalling,
    /// A pod of the section picked by the SIP Call-ID, as a separate
    /// RTP-proxy pool would be: media may cross other pod pairs than
    /// signalling.
    Pool,
}

/// `[nodes.sbc-edge]` and `[nodes.sbc-inbound]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SbcConfig {
    /// Pods of this section. Default 1.
    #[serde(default = "default_pods")]
    pub pods: u32,
    /// Next hops, as hosts or sections. Default: `sbc-inbound` for the
    /// edge, `sip` for the inbound pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hops: Option<Vec<String>>,
    /// Health checks of the next hops.
    #[serde(default)]
    pub health: HealthCheckConfig,
    /// Outlier ejection of next hops from failed setups
    /// ([`crate::nodes::outlier`]): a hop whose new INVITEs fail (a 5xx,
    /// or no response at all within `setup_timeout`) this many times in a
    /// row gets no new calls for a while, even while it answers its health
    /// checks. With `no_media_within`, an answered call with no media from
    /// the hop's side within that long fails too (the pod must anchor its
    /// calls' media itself: `media_anchor = "signalling"`). Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier: Option<crate::nodes::outlier::OutlierConfig>,
    /// How long a next hop may stay silent (not even a 100 Trying) before
    /// it is given up. Default 2s.
    #[serde(default = "default_next_hop_timeout")]
    pub next_hop_timeout: Dur,
    /// How long the pod waits, after CANCELling a next hop, for that hop's
    /// final answer before answering the caller 487 itself. Keep it below
    /// the callers' 64*T1 (32 s with RFC timers): a caller abandons its
    /// INVITE then (RFC 3261 section 9.1), and a later 487 goes unACKed.
    /// Default 8s.
    #[serde(default = "default_cancel_wait")]
    pub cancel_wait: Dur,
    /// Next hops a new call may try, the first included (1: no retry).
    /// Default 1.
    #[serde(default = "default_attempts_max")]
    pub attempts_max: u32,
    /// The final response when every next hop tried stayed silent.
    /// Default 480.
    #[serde(default = "default_timeout_code")]
    pub timeout_code: u16,
    /// How long an INVITE may stay unanswered after the next hop's first
    /// response (timer C) before it is cancelled with 408. Default 180s.
    #[serde(default = "default_proceeding_timeout")]
    pub proceeding_timeout: Dur,
    /// Which pod anchors a call's media. Default `signalling`.
    #[serde(default)]
    pub media_anchor: MediaAnchor,
    /// Call legs whose media one pod relays at once (anchor port pairs,
    /// handed out round-robin: the oldest is reused beyond it). At most
    /// [`relay::PAIRS_MAX`], and [`relay::RELEARN_PAIRS_MAX`] with
    /// `relearn_media`. Default 4096.
    #[serde(default = "default_relays_max")]
    pub relays_max: u32,
    /// Workers that admit new INVITEs (they carry the host's rate limit,
    /// gray and saturation faults). Default 8 / 64.
    #[serde(default)]
    pub pool: PoolConfig,
    /// CPU time of admitting one INVITE. Default 1ms.
    #[serde(default = "default_invite_cpu")]
    pub invite_cpu: Dur,
    /// SIP timers (T1 paces INVITE retransmissions to the next hop and
    /// final-response retransmissions upstream). Default RFC 3261.
    #[serde(default)]
    pub timers: SipTimers,
    /// Pods that start deleted (the deployer may create them). Default:
    /// none.
    #[serde(default)]
    pub start_deleted: Vec<String>,
    /// Rebuild the relay of a leg this pod does not know (lost with a
    /// restart) from the leg's own datagrams: the pod binds every anchor
    /// port from the start, and a port latches to whoever sends to it
    /// (symmetric media latching; the port says which side it faces).
    /// Default false: such datagrams are dropped.
    #[serde(default)]
    pub relearn_media: bool,
}

fn default_pods() -> u32 {
    1
}
fn default_next_hop_timeout() -> Dur {
    Dur::from_secs(2)
}
fn default_cancel_wait() -> Dur {
    Dur::from_secs(8)
}
fn default_attempts_max() -> u32 {
    1
}
fn default_timeout_code() -> u16 {
    480
}
fn default_proceeding_timeout() -> Dur {
    Dur::from_secs(180)
}
fn default_relays_max() -> u32 {
    4096
}
fn default_invite_cpu() -> Dur {
    Dur::from_millis(1)
}

impl Default for SbcConfig {
    fn default() -> SbcConfig {
        SbcConfig {
            pods: default_pods(),
            next_hops: None,
            health: HealthCheckConfig::default(),
            outlier: None,
            next_hop_timeout: default_next_hop_timeout(),
            cancel_wait: default_cancel_wait(),
            attempts_max: default_attempts_max(),
            timeout_code: default_timeout_code(),
            proceeding_timeout: default_proceeding_timeout(),
            media_anchor: MediaAnchor::default(),
            relays_max: default_relays_max(),
            pool: PoolConfig::default(),
            invite_cpu: default_invite_cpu(),
            timers: SipTimers::default(),
            start_deleted: Vec::new(),
            relearn_media: false,
        }
    }
}

impl SbcConfig {
    /// The next hops of a pod of `section`, with the section's default.
    pub fn next_hops(&self, section: &str) -> Vec<String> {
        match &self.next_hops {
            Some(hops) => hops.clone(),
            None if section == "sbc-edge" => vec!["sbc-inbound".into()],
            None => vec!["sip".into()],
        }
    }
}

impl NodeConfig for SbcConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        let section = prefix.rsplit('.').next().unwrap_or(prefix);
        let hops = self.next_hops(section);
        if hops.is_empty() {
            return Err(FieldError::new(
                format!("{prefix}.next_hops"),
                "needs at least one next hop",
            ));
        }
        for (i, hop) in hops.iter().enumerate() {
            if !topology.resolves(hop) {
                let field = match self.next_hops {
                    Some(_) => format!("{prefix}.next_hops[{i}]"),
                    None => format!("{prefix}.next_hops"),
                };
                return Err(crate::sim::check::unknown_node(field, hop, topology));
            }
        }
        self.health.validate(&format!("{prefix}.health"))?;
        if let Some(outlier) = &self.outlier {
            outlier.validate(&format!("{prefix}.outlier"))?;
            if outlier.no_media_within.is_some() && self.media_anchor != MediaAnchor::Signalling {
                return Err(FieldError::new(
                    format!("{prefix}.outlier.no_media_within"),
                    "judges media this pod relays, so it needs media_anchor = \"signalling\" \
                     (a pool's anchor is another pod)",
                ));
            }
        }
        for (name, value) in [
            ("next_hop_timeout", self.next_hop_timeout),
            ("cancel_wait", self.cancel_wait),
            ("proceeding_timeout", self.proceeding_timeout),
        ] {
            if value.is_zero() {
                return Err(FieldError::new(format!("{prefix}.{name}"), "must be > 0"));
            }
        }
        if self.attempts_max == 0 {
            return Err(FieldError::new(
                format!("{prefix}.attempts_max"),
                "must be >= 1 (1 means no retry)",
            ));
        }
        if !(400..700).contains(&self.timeout_code) {
            return Err(FieldError::new(
                format!("{prefix}.timeout_code"),
                "must be a final failure code, 400-699",
            ));
        }
        if self.relays_max == 0 || self.relays_max > relay::PAIRS_MAX {
            return Err(FieldError::new(
                format!("{prefix}.relays_max"),
                format!("must be 1..={} (relay::PAIRS_MAX)", relay::PAIRS_MAX),
            ));
        }
        if self.relearn_media && self.relays_max > relay::RELEARN_PAIRS_MAX {
            return Err(FieldError::new(
                format!("{prefix}.relays_max"),
                format!(
                    "must be <= {} (relay::RELEARN_PAIRS_MAX) with relearn_media: the pod binds every anchor port",
                    relay::RELEARN_PAIRS_MAX
                ),
            ));
        }
        self.pool.validate(&format!("{prefix}.pool"))?;
        super::lb::check_own_hosts(
            prefix,
            "start_deleted",
            &self.start_deleted,
            section,
            topology,
        )
    }

    fn pods(&self) -> Option<u32> {
        Some(self.pods)
    }
}

/// Runs one SBC pod: the admin server, and the data plane while live.
pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let config: SbcConfig = ctx.config();
    let start_created = !config.start_deleted.iter().any(|h| **h == *ctx.name);
    let mut liveness = admin::serve(&ctx, start_created);
    loop {
        liveness.until_live().await;
        let config: SbcConfig = ctx.config();
        tokio::select! {
            r = pod::serve(&ctx, config, liveness.clone()) => r?,
            _ = liveness.until_down() => {}
        }
    }
}

/// What both SBC kinds honour: the worker pool's faults, and gray
/// `media` (signalling works, the relay drops media).
const SBC_FAULTS: &[FaultSupport] = &[
    FaultSupport::new("gray", &["work", "media"]),
    FaultSupport::new("saturate", &[]),
    FaultSupport::new("rate_limit", &[]),
    FaultSupport::new("clock", &[]),
];

/// The `SbcEdgeKind` node kind, as the registry lists it.
pub struct SbcEdgeKind;

impl crate::nodes::NodeKind for SbcEdgeKind {
    const DEPLOYABLE: bool = true;
    const ABOUT: &'static str = "Edge SBC pod: first hop of inbound calls (a deployable resource).";
    type Config = SbcConfig;
    const FAULTS: &'static [FaultSupport] = SBC_FAULTS;
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}

/// The `SbcInboundKind` node kind, as the registry lists it.
pub struct SbcInboundKind;

impl crate::nodes::NodeKind for SbcInboundKind {
    const DEPLOYABLE: bool = true;
    const ABOUT: &'static str = "Inbound SBC pod: between the edge and the SIP service.";
    type Config = SbcConfig;
    const FAULTS: &'static [FaultSupport] = SBC_FAULTS;
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
