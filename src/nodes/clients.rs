//! API client profiles: the customer's SDKs, as the agent runs them.
//!
//! `[nodes.agent] clients = [ .. ]` lists profiles that place the
//! workload's outbound calls side by side, each with its `share` of the
//! calls (drawn per call from the seed), its own timeouts, retry policy and
//! patience. Think of the SDKs in different languages that one platform's
//! customers use: one retries 503s with backoff and jitter, another
//! retries at once, a third has no connect timeout and hangs on a dead
//! origin.
//!
//! One call (one platform call id, `out-<n>`) is a series of attempts, each
//! one API request that carries `attempt` (1, 2, ..) on the wire, so the
//! gateway's events of each attempt stay apart in the history (README,
//! "Contract additions (wave 2)"). A retried request is served again by the
//! platform: a second job on the gateway's pool, a second dial, possibly a
//! second leg to the callee (the duplicate work retries cost).
//!
//! What the customer saw is recorded on the agent:
//!
//! | event | when |
//! |---|---|
//! | `client.attempt {call, client, attempt}` | an attempt starts |
//! | `client.connected {call, attempt}` | its connection is up |
//! | `client.response {call, attempt, status, ms}` | it got a response, `ms` after it started |
//! | `client.error {call, attempt, reason, ms}` | it ended without one (`connect timeout`, `request timeout`, `unreachable`, `connection lost`) |
//! | `client.gave_up {call, attempt, reason}` | the client stopped: `abandoned` (its `abandon_after` passed) or the last attempt's error reason when no retry follows |
//!
//! A call's outcome, as the customer saw it, is its last `client.response`
//! (no attempt after it) or its `client.gave_up`. A call with neither is
//! one the client is still waiting on: a hung client.
//!
//! Without `clients` the agent places calls as it always did, and no event
//! or random draw of this module happens.

use crate::history::{emit, Event};
use crate::nodes::agent::AgentConfig;
use crate::nodes::dns::{self, resolver::Resolver};
use crate::nodes::gateway::api::{self, ApiOutcome, ApiRequest, CreateSipParticipant};
use crate::nodes::ports;
use crate::sim::rng::rng_for;
use crate::sim::time::{now_ms, sleep, sleep_until_ms};
use crate::sim::{check, Dur, FieldError, NodeCtx};
use rand::Rng;
use serde::{Deserialize, Serialize};
use turmoil::net::TcpStream;

/// Most profiles one agent runs.
pub const PROFILES_MAX: usize = 16;
/// Most retries one profile may ask for per call.
pub const RETRY_COUNT_MAX: u32 = 100;

/// One profile: `{ name = "py", share = 0.5, connect_timeout = "3s",
/// request_timeout = "45s", retry = { .. }, abandon_after = "60s" }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientProfile {
    /// The profile's name, recorded in `client.attempt`. Required, unique.
    pub name: String,
    /// Its share of the outbound calls. The shares of all profiles sum to
    /// 1. Required.
    pub share: f64,
    /// Longest wait for the API connection. Default: none (the client
    /// waits for ever: a dead origin hangs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Dur>,
    /// Longest wait for the response once connected. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<Dur>,
    /// When and how to try again. Default: never.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// The client gives up (and closes its connection, which cancels the
    /// request) this long after the call's first attempt started, whatever
    /// attempt it is on. Default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandon_after: Option<Dur>,
}

/// `retry = { count_max = 3, backoff = "1s", backoff_factor = 2.0,
/// backoff_max = "30s", jitter = 0.5, statuses = [429, 503], on_error =
/// true }`.
///
/// The delay before retry k (1, 2, ..) is `backoff * backoff_factor^(k-1)`,
/// at most `backoff_max`, then shortened by a share drawn uniformly from
/// `[0, jitter)` (from the seed, per call).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Retries after the first attempt (at most 100). Default 0.
    #[serde(default)]
    pub count_max: u32,
    /// Delay before the first retry; may be `"0s"`. Default 1s.
    #[serde(default = "default_backoff")]
    pub backoff: Dur,
    /// Growth of the delay per retry, >= 1. Default 2.
    #[serde(default = "default_backoff_factor")]
    pub backoff_factor: f64,
    /// Longest delay. Default 30s.
    #[serde(default = "default_backoff_max")]
    pub backoff_max: Dur,
    /// Share of the delay jitter may remove, in [0, 1]. Default 0.
    #[serde(default)]
    pub jitter: f64,
    /// Response statuses that are retried. Default `[429, 503]`.
    #[serde(default = "default_statuses")]
    pub statuses: Vec<u16>,
    /// Retry an attempt that ended without a response (a timeout, a lost or
    /// refused connection). Default true.
    #[serde(default = "default_on_error")]
    pub on_error: bool,
}

fn default_backoff() -> Dur {
    Dur::from_secs(1)
}
fn default_backoff_factor() -> f64 {
    2.0
}
fn default_backoff_max() -> Dur {
    Dur::from_secs(30)
}
fn default_statuses() -> Vec<u16> {
    vec![429, 503]
}
fn default_on_error() -> bool {
    true
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        toml::from_str("").expect("every field has a default")
    }
}

impl RetryPolicy {
    /// The delay before retry `k` (1-based), without jitter, in ms.
    pub fn delay_ms(&self, k: u32) -> u64 {
        let base = self.backoff.as_millis() as f64;
        let grown = base * self.backoff_factor.powi(k.saturating_sub(1).min(64) as i32);
        (grown.min(self.backoff_max.as_millis() as f64)) as u64
    }
}

/// Checks `clients` (`prefix` is `nodes.agent`): each profile's fields,
/// unique names, shares summing to 1.
pub fn validate(prefix: &str, clients: &[ClientProfile]) -> Result<(), FieldError> {
    if clients.is_empty() {
        return Ok(());
    }
    let list = check::field(prefix, "clients");
    if clients.len() > PROFILES_MAX {
        return Err(FieldError::new(
            list,
            format!(
                "{} profiles; at most {PROFILES_MAX} (limit clients::PROFILES_MAX)",
                clients.len()
            ),
        ));
    }
    let mut total = 0.0;
    for (i, c) in clients.iter().enumerate() {
        let p = format!("{list}[{i}]");
        if c.name.is_empty() {
            return Err(FieldError::new(
                check::field(&p, "name"),
                "must not be empty",
            ));
        }
        if clients[..i].iter().any(|o| o.name == c.name) {
            return Err(FieldError::new(
                check::field(&p, "name"),
                format!("{:?} names two profiles", c.name),
            ));
        }
        if !(c.share > 0.0 && c.share <= 1.0) {
            return Err(FieldError::new(
                check::field(&p, "share"),
                format!("{} is not in (0, 1]", c.share),
            ));
        }
        total += c.share;
        if let Some(t) = c.connect_timeout {
            check::positive(&p, "connect_timeout", t)?;
        }
        if let Some(t) = c.request_timeout {
            check::positive(&p, "request_timeout", t)?;
        }
        if let Some(t) = c.abandon_after {
            check::positive(&p, "abandon_after", t)?;
        }
        let r = check::field(&p, "retry");
        if c.retry.count_max > RETRY_COUNT_MAX {
            return Err(FieldError::new(
                check::field(&r, "count_max"),
                format!(
                    "{} retries; at most {RETRY_COUNT_MAX} (limit clients::RETRY_COUNT_MAX)",
                    c.retry.count_max
                ),
            ));
        }
        if !(c.retry.backoff_factor >= 1.0 && c.retry.backoff_factor <= 100.0) {
            return Err(FieldError::new(
                check::field(&r, "backoff_factor"),
                format!("{} is not in [1, 100]", c.retry.backoff_factor),
            ));
        }
        if c.retry.backoff_max < c.retry.backoff {
            return Err(FieldError::new(
                check::field(&r, "backoff_max"),
                format!(
                    "{} is below backoff {}",
                    c.retry.backoff_max, c.retry.backoff
                ),
            ));
        }
        check::share(&r, "jitter", c.retry.jitter)?;
        if let Some(bad) = c.retry.statuses.iter().find(|s| !(100..=599).contains(*s)) {
            return Err(FieldError::new(
                check::field(&r, "statuses"),
                format!("{bad} is not an HTTP-like status (100..599)"),
            ));
        }
    }
    if (total - 1.0).abs() > 1e-6 {
        return Err(FieldError::new(
            list,
            format!("the profiles' shares sum to {total}, not 1"),
        ));
    }
    Ok(())
}

/// The profile that places `call`: drawn from the seed and the call id,
/// so it does not depend on arrival order.
pub fn profile_for<'p>(seed: u64, call: &str, clients: &'p [ClientProfile]) -> &'p ClientProfile {
    let mut rng = rng_for(seed, &["agent.client", call]);
    let draw: f64 = rng.gen();
    let mut acc = 0.0;
    for c in clients {
        acc += c.share;
        if draw < acc {
            return c;
        }
    }
    clients.last().expect("validated: at least one profile")
}

/// How one attempt ended.
enum Ended {
    Status(u16),
    Error(&'static str),
}

/// Where a client sends its API requests: the agent's `gateway` (a host,
/// or a name resolved per attempt through `resolver`).
pub struct ApiTarget<'a> {
    pub ctx: &'a NodeCtx,
    pub resolver: &'a Resolver,
    pub config: &'a AgentConfig,
}

/// Places `request` as `profile` does: attempts, retries, abandon.
pub async fn place(target: &ApiTarget<'_>, profile: &ClientProfile, request: CreateSipParticipant) {
    let ctx = target.ctx;
    let call = request.call.clone();
    let started = now_ms();
    let abandon_at = profile.abandon_after.map(|d| started + d.as_millis());
    let mut jitter_rng = rng_for(ctx.seed, &["agent.client.jitter", &call]);
    let attempts = profile.retry.count_max + 1;
    for attempt in 1..=attempts {
        emit(Event::ClientAttempt {
            call: &call,
            client: &profile.name,
            attempt,
        });
        let request = ApiRequest::CreateSipParticipant(CreateSipParticipant {
            attempt: Some(attempt),
            ..request.clone()
        });
        let ended = tokio::select! {
            ended = one_attempt(target, profile, &call, attempt, &request) => ended,
            _ = until(abandon_at) => {
                emit(Event::ClientGaveUp { call: &call, attempt, reason: "abandoned" });
                return;
            }
        };
        let retryable = match ended {
            Ended::Status(status) => profile.retry.statuses.contains(&status),
            Ended::Error(_) => profile.retry.on_error,
        };
        if !retryable || attempt == attempts {
            if let Ended::Error(reason) = ended {
                emit(Event::ClientGaveUp {
                    call: &call,
                    attempt,
                    reason,
                });
            }
            return;
        }
        let delay = profile.retry.delay_ms(attempt);
        let cut = if profile.retry.jitter > 0.0 {
            (delay as f64 * profile.retry.jitter * jitter_rng.gen::<f64>()) as u64
        } else {
            0
        };
        tokio::select! {
            _ = sleep(std::time::Duration::from_millis(delay - cut.min(delay))) => {}
            _ = until(abandon_at) => {
                emit(Event::ClientGaveUp { call: &call, attempt, reason: "abandoned" });
                return;
            }
        }
    }
}

/// One API request: connect, send, wait; records what the client saw.
async fn one_attempt(
    target: &ApiTarget<'_>,
    profile: &ClientProfile,
    call: &str,
    attempt: u32,
    request: &ApiRequest,
) -> Ended {
    let t0 = now_ms();
    let connect_until = profile.connect_timeout.map(|d| t0 + d.as_millis());
    let error = |reason: &'static str| {
        emit(Event::ClientError {
            call,
            attempt,
            reason,
            ms: now_ms() - t0,
        });
        Ended::Error(reason)
    };
    // Resolving a named gateway is part of connecting (its time counts
    // against the connect timeout, as a client library's does).
    let connect = async {
        let resolving = target.config.resolver.as_ref();
        let gateway = &target.config.gateway;
        let Ok(host) =
            dns::first_host(target.ctx, target.resolver, resolving, gateway, Some(call)).await
        else {
            return Err("name not resolved");
        };
        TcpStream::connect((host.as_str(), ports::API))
            .await
            .map_err(|_| "unreachable")
    };
    let connected = tokio::select! {
        r = connect => r,
        _ = until(connect_until) => return error("connect timeout"),
    };
    let stream = match connected {
        Ok(stream) => stream,
        Err(reason) => return error(reason),
    };
    emit(Event::ClientConnected { call, attempt });
    let response_until = profile.request_timeout.map(|d| now_ms() + d.as_millis());
    let outcome = api::exchange(stream, request, response_until).await;
    match outcome {
        ApiOutcome::Response(r) => {
            emit(Event::ClientResponse {
                call,
                attempt,
                status: r.status,
                ms: now_ms() - t0,
            });
            Ended::Status(r.status)
        }
        ApiOutcome::TimedOut => error("request timeout"),
        ApiOutcome::Unreachable(_) => error("unreachable"),
        ApiOutcome::Lost(_) => error("connection lost"),
    }
}

/// Waits until `at_ms`, or for ever when there is none.
async fn until(at_ms: Option<u64>) {
    match at_ms {
        Some(at) => sleep_until_ms(at).await,
        None => std::future::pending::<()>().await,
    }
}
