//! The carrier (host `carrier`): the PSTN, or a SIP trunk, and the people
//! on it.
//!
//! As a UAS ([`uas`]) it takes the platform's outbound calls: each call's
//! callee behaviour is drawn per call ([`callee`]): answer after a delay
//! and hang up after a hold, busy (486), decline (603), unavailable (480),
//! unreachable (404), or no answer (rings until cancelled, or 480 after
//! `no_answer_limit`). It emits `callee.outcome` with what the callee did
//! (`cancelled` when the platform gave up first).
//!
//! As a UAC ([`uac`]) it generates the `[workload] inbound` calls (`in-1`,
//! ..) towards its entry hosts (`inbound_entry`: LB pods, SBC edge pods, or
//! the SIP service itself), rotating the first entry per call and moving to
//! the next entry when one does not respond within `entry_timeout` or
//! answers 503, at most `entry_attempts_max` entries per call. It emits the
//! inbound calls' `call.start` and `call.end` (status: the final SIP code
//! it received; for an answered call 200, after it hung up at the end of
//! its hold, reason `completed`).
//!
//! Both sides send media on connected calls and record what they receive
//! (`media.rx`), so that oracles can compare what the platform reported
//! with what the outside world saw.

pub mod callee;
mod uac;
mod uas;

use crate::nodes::dns::{self, resolver::Resolver, resolver::ResolverConfig};
use crate::nodes::media_stream::MediaEndpoint;
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::sim::{check, NodeCtx};
use crate::sim::{Dur, FieldError, Topology};
use crate::sip::ua::session_timer::SessionTimerConfig;
use crate::sip::ua::SipUa;
use crate::sip::SipTimers;
use callee::Profile;
use serde::{Deserialize, Serialize};

/// `[nodes.carrier]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CarrierConfig {
    /// Callee profiles drawn by weight per call. Default: one profile that
    /// answers after 1s and holds 30s.
    #[serde(default = "default_callees")]
    pub callees: Vec<Profile>,
    /// Profiles for specific dialled numbers (`to`), e.g. an e2e probe's
    /// bot. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<Profile>,
    /// A `no_answer` callee rings this long, then the carrier answers 480.
    /// Default 180s.
    #[serde(default = "default_no_answer_limit")]
    pub no_answer_limit: Dur,
    /// Where inbound calls enter the platform: section or host names, or
    /// names the carrier resolves per call (see [`crate::nodes::dns`]), in
    /// order. Default `["sip"]`.
    #[serde(default = "default_inbound_entry")]
    pub inbound_entry: Vec<String>,
    /// Entries tried per inbound call. Default 2.
    #[serde(default = "default_entry_attempts_max")]
    pub entry_attempts_max: u32,
    /// An entry that sends no response at all within this time is left for
    /// the next. Default 2s.
    #[serde(default = "default_entry_timeout")]
    pub entry_timeout: Dur,
    /// The carrier's callers give up (CANCEL) after ringing this long.
    /// Default 60s.
    #[serde(default = "default_ringing_timeout")]
    pub inbound_ringing_timeout: Dur,
    /// Gap between media datagrams. Default 1s.
    #[serde(default = "default_media_interval")]
    pub media_interval: Dur,
    /// SIP timers. Default: RFC 3261's.
    #[serde(default)]
    pub sip_timers: SipTimers,
    /// Session timers (RFC 4028): `{ expires = "1800s", min_se = "90s" }`
    /// makes this node's calls ask for and run them, so a call whose far
    /// end is gone ends by itself ("session expired"). Default: none (it
    /// still honours a peer's ask).
    #[serde(default)]
    pub session_timer: Option<SessionTimerConfig>,
    /// How the carrier resolves the names in `inbound_entry`. Default:
    /// the resolver's defaults (server `dns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<ResolverConfig>,
}

fn default_callees() -> Vec<Profile> {
    toml::from_str::<toml::Table>("p = [{}]")
        .ok()
        .and_then(|t| t.get("p").cloned())
        .and_then(|v| v.try_into().ok())
        .expect("the default profile parses")
}
fn default_no_answer_limit() -> Dur {
    Dur::from_secs(180)
}
fn default_inbound_entry() -> Vec<String> {
    vec!["sip".into()]
}
fn default_entry_attempts_max() -> u32 {
    2
}
fn default_entry_timeout() -> Dur {
    Dur::from_secs(2)
}
fn default_ringing_timeout() -> Dur {
    Dur::from_secs(60)
}
fn default_media_interval() -> Dur {
    Dur::from_secs(1)
}

impl NodeConfig for CarrierConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        if self.callees.is_empty() {
            return Err(FieldError::new(
                check::field(prefix, "callees"),
                "needs at least one profile",
            ));
        }
        for (i, p) in self.callees.iter().enumerate() {
            p.validate(&format!("{prefix}.callees[{i}]"))?;
        }
        if self.callees.iter().map(|p| p.weight).sum::<f64>() <= 0.0 {
            return Err(FieldError::new(
                check::field(prefix, "callees"),
                "the weights sum to 0",
            ));
        }
        for (i, p) in self.numbers.iter().enumerate() {
            let field = format!("{prefix}.numbers[{i}]");
            p.validate(&field)?;
            if p.to.is_none() {
                return Err(FieldError::new(
                    format!("{field}.to"),
                    "a profile in `numbers` needs the number it is for",
                ));
            }
        }
        check::positive(prefix, "no_answer_limit", self.no_answer_limit)?;
        if self.inbound_entry.is_empty() {
            return Err(FieldError::new(
                check::field(prefix, "inbound_entry"),
                "needs at least one entry host or section",
            ));
        }
        for (i, entry) in self.inbound_entry.iter().enumerate() {
            let field = format!("inbound_entry[{i}]");
            dns::check_target(prefix, &field, entry, self.resolver.as_ref(), topology)?;
        }
        if let Some(r) = &self.resolver {
            r.validate(&check::field(prefix, "resolver"), topology)?;
        }
        check::at_least_one(prefix, "entry_attempts_max", self.entry_attempts_max)?;
        check::positive(prefix, "entry_timeout", self.entry_timeout)?;
        check::positive(
            prefix,
            "inbound_ringing_timeout",
            self.inbound_ringing_timeout,
        )?;
        crate::nodes::media_stream::check_interval(prefix, self.media_interval)?;
        self.sip_timers
            .validate()
            .map_err(|m| FieldError::new(check::field(prefix, "sip_timers"), m))?;
        if let Some(st) = &self.session_timer {
            st.validate(&check::field(prefix, "session_timer"))?;
        }
        Ok(())
    }
}

/// What the carrier's tasks share.
/// How much later a callee answers when `carrier.answer_late` fires.
pub const ANSWER_LATE_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Clone)]
struct Carrier {
    ctx: NodeCtx,
    ua: SipUa,
    media: MediaEndpoint,
    resolver: Resolver,
}

impl Carrier {
    fn config(&self) -> CarrierConfig {
        self.ctx.config()
    }
}

pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let config: CarrierConfig = ctx.config();
    let (ua, mut incoming) =
        crate::nodes::sip_glue::start_ua(&ctx, config.sip_timers, config.session_timer, None)
            .await?;
    let carrier = Carrier {
        media: MediaEndpoint::bind(&ctx).await?,
        resolver: Resolver::new(&ctx),
        ua,
        ctx,
    };
    let generator = carrier.clone();
    crate::sim::spawn(async move { generator.generate_inbound().await });
    while let Some(call) = incoming.next().await {
        let carrier = carrier.clone();
        crate::sim::spawn(async move { carrier.callee(call).await });
    }
    Ok(())
}

/// The `CarrierKind` node kind, as the registry lists it.
pub struct CarrierKind;

impl crate::nodes::NodeKind for CarrierKind {
    const ABOUT: &'static str = "The PSTN or trunk: callees and inbound callers.";
    type Config = CarrierConfig;
    const FAULTS: &'static [FaultSupport] = &[FaultSupport::new("clock", &[])];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
