//! Call control's verb executor: runs the Play and Say verbs of a call's
//! flow (TwiML-like) by fetching their audio from a media proxy.
//!
//! The SIP service calls [`CallControl::run_verbs`] for a connected call;
//! its config embeds [`CallControlConfig`] (e.g. `[nodes.sip].call_control`).
//! Each verb asks one proxy ([`crate::nodes::media`]) over TCP with a
//! deadline of `verb_timeout`; no answer in time, a refused connection or
//! an error reply is a failed verb: `verb.result {call, verb, ok=false,
//! code=11200}` (Twilio's "HTTP retrieval failure"). A verb that succeeds
//! gives `verb.result {ok=true, code=200}` and then plays for the audio's
//! length (`size_bytes / audio_bytes_per_s`).
//!
//! Whether a failed verb drops the call is the customer's flow, not the
//! platform's: `drop_share` is the share of call flows that hang up on a
//! failed verb (an input of the scenario, as the Twilio report gives it).
//! A call's choice is drawn once per call from the seed and the call id, so
//! it does not depend on which verb failed or on the order of calls.

use super::media::protocol::{FetchReply, FetchRequest, FETCH_PORT};
use crate::history::{emit, Event};
use crate::net::frame::{read_frame, write_frame};
use crate::sim::rng::derive_seed;
use crate::sim::NodeCtx;
use crate::sim::{Dur, FieldError, Topology};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The status code of a failed verb (Twilio 11200).
pub const VERB_FAILED: u16 = 11200;
/// The status code of a verb that played.
pub const VERB_OK: u16 = 200;

/// A verb of a call flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "verb", rename_all = "snake_case", deny_unknown_fields)]
pub enum Verb {
    /// Play an audio file.
    Play {
        /// The audio file the media proxy fetches.
        url: String,
    },
    /// Speak a text (the proxy fetches the rendered speech).
    Say {
        /// The text to speak.
        text: String,
    },
}

impl Verb {
    pub fn name(&self) -> &'static str {
        match self {
            Verb::Play { .. } => "play",
            Verb::Say { .. } => "say",
        }
    }

    /// What the proxy is asked for.
    pub fn url(&self) -> String {
        match self {
            Verb::Play { url } => url.clone(),
            Verb::Say { text } => format!("tts:{text}"),
        }
    }
}

/// `call_control = { ... }` of the node that runs call flows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallControlConfig {
    /// Media proxies to ask, as hosts or sections. Default `["media"]`.
    #[serde(default = "default_media")]
    pub media: Vec<String>,
    /// How long a verb waits for its audio. Default 3s.
    #[serde(default = "default_verb_timeout")]
    pub verb_timeout: Dur,
    /// Share of call flows that hang up when a verb fails, in [0, 1].
    /// Default 1 (every flow drops).
    #[serde(default = "default_drop_share")]
    pub drop_share: f64,
    /// Playback speed, to turn an audio size into a playing time. Default
    /// 8000 (8 kHz, 8 bit).
    #[serde(default = "default_audio_bytes_per_s")]
    pub audio_bytes_per_s: u64,
}

fn default_media() -> Vec<String> {
    vec!["media".into()]
}
fn default_verb_timeout() -> Dur {
    Dur::from_secs(3)
}
fn default_drop_share() -> f64 {
    1.0
}
fn default_audio_bytes_per_s() -> u64 {
    8000
}

impl Default for CallControlConfig {
    fn default() -> CallControlConfig {
        CallControlConfig {
            media: default_media(),
            verb_timeout: default_verb_timeout(),
            drop_share: default_drop_share(),
            audio_bytes_per_s: default_audio_bytes_per_s(),
        }
    }
}

impl CallControlConfig {
    /// `prefix` is this table's path, e.g. `nodes.sip.call_control`.
    pub fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        if self.media.is_empty() {
            return Err(FieldError::new(
                format!("{prefix}.media"),
                "needs at least one media proxy, e.g. [\"media\"]",
            ));
        }
        for (i, m) in self.media.iter().enumerate() {
            if !topology.resolves(m) {
                return Err(crate::sim::check::unknown_node(
                    format!("{prefix}.media[{i}]"),
                    m,
                    topology,
                ));
            }
        }
        if self.verb_timeout.is_zero() {
            return Err(FieldError::new(
                format!("{prefix}.verb_timeout"),
                "must be > 0",
            ));
        }
        if !(0.0..=1.0).contains(&self.drop_share) {
            return Err(FieldError::new(
                format!("{prefix}.drop_share"),
                format!("{} is not in [0, 1]", self.drop_share),
            ));
        }
        if self.audio_bytes_per_s == 0 {
            return Err(FieldError::new(
                format!("{prefix}.audio_bytes_per_s"),
                "must be >= 1",
            ));
        }
        Ok(())
    }
}

/// How a call's flow ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowOutcome {
    /// Every verb ran (some may have failed, and the flow went on).
    Completed,
    /// A verb failed and the flow hung up: the caller should end the call.
    Dropped { verb: &'static str },
}

/// The verb executor of one host.
#[derive(Clone)]
pub struct CallControl {
    config: CallControlConfig,
    media: Vec<String>,
    seed: u64,
}

impl CallControl {
    pub fn new(ctx: &NodeCtx, config: CallControlConfig) -> CallControl {
        let media = config
            .media
            .iter()
            .flat_map(|m| ctx.topology.expand(m))
            .collect();
        CallControl {
            config,
            media,
            seed: ctx.seed,
        }
    }

    /// Runs `verbs` in order for `call`; emits one `verb.result` per verb.
    pub async fn run_verbs(&self, call: &str, verbs: &[Verb]) -> FlowOutcome {
        for (index, verb) in verbs.iter().enumerate() {
            let reply = self.fetch(call, index, verb).await;
            match reply {
                Some(size_bytes) => {
                    emit(Event::VerbResult {
                        call,
                        verb: verb.name(),
                        ok: true,
                        code: VERB_OK,
                    });
                    let secs = size_bytes as f64 / self.config.audio_bytes_per_s as f64;
                    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                }
                None => {
                    emit(Event::VerbResult {
                        call,
                        verb: verb.name(),
                        ok: false,
                        code: VERB_FAILED,
                    });
                    if self.flow_drops_on_failure(call) {
                        return FlowOutcome::Dropped { verb: verb.name() };
                    }
                }
            }
        }
        FlowOutcome::Completed
    }

    /// Whether this call's flow hangs up on a failed verb.
    pub fn flow_drops_on_failure(&self, call: &str) -> bool {
        let draw = derive_seed(self.seed, &["call-control:drop", call]);
        (draw as f64 / u64::MAX as f64) < self.config.drop_share
    }

    /// The proxy for a call's verb: spread by (call, verb index).
    fn proxy_for(&self, call: &str, index: usize) -> &str {
        let h = derive_seed(self.seed, &["call-control:media", call, &index.to_string()]);
        &self.media[(h % self.media.len() as u64) as usize]
    }

    /// The audio size, or `None` when the verb failed.
    async fn fetch(&self, call: &str, index: usize, verb: &Verb) -> Option<u64> {
        let proxy = self.proxy_for(call, index).to_string();
        let timeout = self.config.verb_timeout.0;
        let request = FetchRequest {
            call: call.to_string(),
            url: verb.url(),
            deadline_ms: super::media::now_ms() + timeout.as_millis() as u64,
        };
        let exchange = async {
            let mut stream = turmoil::net::TcpStream::connect((proxy.as_str(), FETCH_PORT)).await?;
            write_frame(&mut stream, &request).await?;
            read_frame::<_, FetchReply>(&mut stream).await
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(Some(reply))) if reply.ok => Some(reply.size_bytes),
            _ => None,
        }
    }
}
