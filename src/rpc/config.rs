//! `rpc_client`: the middleware stack of an RPC client, as the CALLING
//! node's config composes it.
//!
//! ```toml
//! [nodes.gateway]
//! rpc_client = { middleware = ["tracing", "deadline_propagation", "retry"],
//!                tracing_default_timeout = "3s",
//!                retry = { attempts_max = 3, backoff = "100ms" } }
//! ```
//!
//! Every call a node makes carries the caller's own deadline (absolute sim
//! time: for a sync dial, the API request's ringing timeout plus a margin).
//! What each middleware does with it (order in the list does not change
//! the result; each effect is defined below):
//!
//! | middleware | effect |
//! |---|---|
//! | `tracing` | exports a trace of the call (no extra event); when `tracing_default_timeout` is set, the whole call is bounded by it, unless `deadline_propagation` is in the stack |
//! | `deadline_propagation` | the request carries the caller's deadline (`deadline_ms`) to the server, and every client-side timeout derives from that deadline: `tracing_default_timeout` and `timeout` no longer apply |
//! | `timeout` | a fixed per-attempt timeout (`timeout`), unless `deadline_propagation` is in the stack |
//! | `retry` | up to `retry.attempts_max` attempts, only after errors that prove the request was not handled (connection refused or timed out, `unavailable`), with exponential backoff from `retry.backoff` capped at `retry.backoff_max`; never past the deadline |
//!
//! Without any middleware a call still ends at the caller's deadline, and
//! the server is not told the deadline.

use crate::sim::check;
use crate::sim::{Dur, FieldError};
use serde::{Deserialize, Serialize};

/// One middleware of the client stack.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Middleware {
    Tracing,
    DeadlinePropagation,
    Retry,
    Timeout,
}

impl Middleware {
    pub fn as_str(self) -> &'static str {
        match self {
            Middleware::Tracing => "tracing",
            Middleware::DeadlinePropagation => "deadline_propagation",
            Middleware::Retry => "retry",
            Middleware::Timeout => "timeout",
        }
    }
}

/// `rpc_client = { ... }` of a calling node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RpcClientConfig {
    /// The stack, outermost first. Default
    /// `["tracing", "deadline_propagation", "retry"]`.
    #[serde(default = "default_middleware")]
    pub middleware: Vec<Middleware>,
    /// The timeout the `tracing` middleware imposes on every call. Default:
    /// none (tracing only exports traces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing_default_timeout: Option<Dur>,
    /// Per-attempt timeout of the `timeout` middleware. Default 5s.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// The `retry` middleware's settings.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Longest wait for a TCP connection to the server (a partitioned
    /// server never answers the SYN). Default 1s.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Dur,
}

/// `retry = { attempts_max = 3, backoff = "100ms", backoff_max = "1s" }`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included. Default 3.
    #[serde(default = "default_attempts_max")]
    pub attempts_max: u32,
    /// Wait before the second attempt; doubles after each retry. Default 100ms.
    #[serde(default = "default_backoff")]
    pub backoff: Dur,
    /// Cap on the wait between attempts. Default 1s.
    #[serde(default = "default_backoff_max")]
    pub backoff_max: Dur,
}

fn default_middleware() -> Vec<Middleware> {
    vec![
        Middleware::Tracing,
        Middleware::DeadlinePropagation,
        Middleware::Retry,
    ]
}
fn default_timeout() -> Dur {
    Dur::from_secs(5)
}
fn default_connect_timeout() -> Dur {
    Dur::from_secs(1)
}
fn default_attempts_max() -> u32 {
    3
}
fn default_backoff() -> Dur {
    Dur::from_millis(100)
}
fn default_backoff_max() -> Dur {
    Dur::from_secs(1)
}

impl Default for RetryConfig {
    fn default() -> RetryConfig {
        RetryConfig {
            attempts_max: default_attempts_max(),
            backoff: default_backoff(),
            backoff_max: default_backoff_max(),
        }
    }
}

impl Default for RpcClientConfig {
    fn default() -> RpcClientConfig {
        RpcClientConfig {
            middleware: default_middleware(),
            tracing_default_timeout: None,
            timeout: default_timeout(),
            retry: RetryConfig::default(),
            connect_timeout: default_connect_timeout(),
        }
    }
}

impl RpcClientConfig {
    pub fn has(&self, m: Middleware) -> bool {
        self.middleware.contains(&m)
    }

    /// `prefix` is the field path of this table, e.g.
    /// `nodes.gateway.rpc_client`.
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        for (i, m) in self.middleware.iter().enumerate() {
            if self.middleware[..i].contains(m) {
                return Err(FieldError::new(
                    check::field(prefix, "middleware"),
                    format!("{:?} is listed twice", m.as_str()),
                ));
            }
        }
        if let Some(t) = self.tracing_default_timeout {
            check::positive(prefix, "tracing_default_timeout", t)?;
        }
        check::positive(prefix, "timeout", self.timeout)?;
        check::positive(prefix, "connect_timeout", self.connect_timeout)?;
        let retry = check::field(prefix, "retry");
        check::at_least_one(&retry, "attempts_max", self.retry.attempts_max)?;
        check::positive(&retry, "backoff", self.retry.backoff)?;
        check::positive(&retry, "backoff_max", self.retry.backoff_max)?;
        if self.retry.backoff_max < self.retry.backoff {
            return Err(FieldError::new(
                check::field(&retry, "backoff_max"),
                "must be >= retry.backoff",
            ));
        }
        Ok(())
    }

    /// What the stack makes of one call started at `now_ms` with the
    /// caller's `deadline_ms`.
    pub fn plan(&self, now_ms: u64, deadline_ms: u64) -> Plan {
        let propagate = self.has(Middleware::DeadlinePropagation);
        let mut local_deadline_ms = deadline_ms;
        if !propagate && self.has(Middleware::Tracing) {
            if let Some(t) = self.tracing_default_timeout {
                local_deadline_ms = local_deadline_ms.min(now_ms + t.as_millis());
            }
        }
        let attempt_timeout_ms =
            (!propagate && self.has(Middleware::Timeout)).then(|| self.timeout.as_millis());
        let retry = self.has(Middleware::Retry);
        Plan {
            local_deadline_ms,
            carried_deadline_ms: propagate.then_some(local_deadline_ms),
            attempt_timeout_ms,
            attempts_max: if retry { self.retry.attempts_max } else { 1 },
            backoff_ms: self.retry.backoff.as_millis(),
            backoff_max_ms: self.retry.backoff_max.as_millis(),
        }
    }
}

/// The effect of a client stack on one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The client gives up at this sim time, whatever happens.
    pub local_deadline_ms: u64,
    /// The deadline written into the request, when propagated.
    pub carried_deadline_ms: Option<u64>,
    /// Each attempt gives up this long after it started.
    pub attempt_timeout_ms: Option<u64>,
    pub attempts_max: u32,
    pub backoff_ms: u64,
    pub backoff_max_ms: u64,
}

impl Plan {
    /// The wait before attempt `next` (2 for the first retry).
    pub fn backoff_before(&self, next: u32) -> u64 {
        let doublings = next.saturating_sub(2).min(20);
        (self.backoff_ms << doublings).min(self.backoff_max_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(text: &str) -> RpcClientConfig {
        toml::from_str(text).expect("valid rpc_client")
    }

    /// (local deadline, carried deadline, attempt timeout, attempts) of a
    /// call at t=1000 with a deadline at t=33000.
    fn check(text: &str, expected: (u64, Option<u64>, Option<u64>, u32)) {
        let p = stack(text).plan(1000, 33_000);
        assert_eq!(
            (
                p.local_deadline_ms,
                p.carried_deadline_ms,
                p.attempt_timeout_ms,
                p.attempts_max
            ),
            expected,
            "{text}"
        );
    }

    #[test]
    fn what_each_stack_does_to_a_call() {
        check("middleware = []", (33_000, None, None, 1));
        check(r#"middleware = ["tracing"]"#, (33_000, None, None, 1));
        check(
            r#"middleware = ["tracing"]
               tracing_default_timeout = "3s""#,
            (4000, None, None, 1),
        );
        check(
            r#"middleware = ["tracing", "deadline_propagation"]
               tracing_default_timeout = "3s""#,
            (33_000, Some(33_000), None, 1),
        );
        check(
            r#"middleware = ["timeout", "retry"]
               timeout = "2s""#,
            (33_000, None, Some(2000), 3),
        );
        check(
            r#"middleware = ["deadline_propagation", "timeout", "retry"]
               timeout = "2s""#,
            (33_000, Some(33_000), None, 3),
        );
        check(
            r#"middleware = ["retry", "tracing"]
               tracing_default_timeout = "5s"
               retry = { attempts_max = 5 }"#,
            (6000, None, None, 5),
        );
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let p = stack(r#"retry = { backoff = "100ms", backoff_max = "350ms" }"#).plan(0, 1);
        let waits: Vec<u64> = (2..=6).map(|n| p.backoff_before(n)).collect();
        assert_eq!(waits, vec![100, 200, 350, 350, 350]);
    }

    fn invalid(text: &str, field: &str) {
        let err = stack(text).validate("rpc").expect_err(text);
        assert_eq!(err.field, field, "{text}: {}", err.message);
    }

    #[test]
    fn bad_values_name_their_field() {
        invalid(r#"timeout = "0s""#, "rpc.timeout");
        invalid(
            r#"tracing_default_timeout = "0ms""#,
            "rpc.tracing_default_timeout",
        );
        invalid(r#"connect_timeout = "0s""#, "rpc.connect_timeout");
        invalid("retry = { attempts_max = 0 }", "rpc.retry.attempts_max");
        invalid(r#"retry = { backoff = "0s" }"#, "rpc.retry.backoff");
        invalid(
            r#"retry = { backoff = "2s", backoff_max = "1s" }"#,
            "rpc.retry.backoff_max",
        );
        invalid(r#"middleware = ["retry", "retry"]"#, "rpc.middleware");
        assert!(toml::from_str::<RpcClientConfig>(r#"middleware = ["tracingg"]"#).is_err());
    }
}
