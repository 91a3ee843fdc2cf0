//! The caller's side of the dependency: `dependency = { target =
//! "dependency", lookups = 1, timeout = "1s", retries = 0, retry_backoff =
//! "0s", pool = 8, failure_code = 503 }` in a caller's section (those are
//! the defaults).
//!
//! A call's setup makes `lookups` lookups one after the other. Each is up
//! to `1 + retries` attempts, `retry_backoff` apart; every failure is
//! retried (a refusal, a timeout, a lost connection). An attempt first
//! takes a connection from the caller pod's pool (at most `pool` requests
//! in flight from the pod; the rest wait in line), then sends the request
//! over a fresh connection (`rpc::exchange`) carrying the time left as its
//! budget. `timeout` covers both the wait for a pooled connection and the
//! answer: an attempt that times out closes its connection (the server
//! sees the caller gone) and frees its pool slot at once. Each attempt is
//! recorded as `dep.request {call, peer, attempt, ms, outcome}` when it
//! ends, also when the call goes away mid-attempt (`cancelled`).
//!
//! With a `timeout` times attempts above the caller's own deadline, and
//! retries with no backoff, a slow dependency gets more load the slower it
//! is: that is the cascade this config can build, or contain.
//!
//! The pool hands its connections out in arrival order, and an attempt
//! holds one at most until its own deadline, so with one `timeout` the
//! attempts ahead in line always end before a waiter's deadline: a
//! `pool_timeout` takes a `set` fault that lengthened the timeout of the
//! attempts ahead (or two deadlines falling in one tick). The pool's wait
//! still counts against the attempt's timeout.
//!
//! The pool's size is read when the pod starts; the other fields at each
//! lookup (a `set` fault changes them).

use crate::history::{emit, Event};
use crate::nodes::{methods, ports};
use crate::rpc::{exchange, Exchange, Request};
use crate::sim::time::{now_ms, sleep, sleep_until_ms};
use crate::sim::{check, Dur, FieldError, Topology};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::rc::Rc;
use tokio::sync::Semaphore;

/// Most lookups per call setup.
pub const LOOKUPS_MAX: u32 = 16;
/// Most retries per lookup.
pub const RETRIES_MAX: u32 = 100;
/// Largest pool per caller pod.
pub const POOL_MAX: u32 = 10_000;

/// `dependency = {..}` in a caller's section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DependencyClientConfig {
    /// The dependency host. Default `dependency`.
    #[serde(default = "default_target")]
    pub target: String,
    /// Lookups per call setup, one after the other. Default 1.
    #[serde(default = "default_lookups")]
    pub lookups: u32,
    /// How long one attempt may take, its wait for a pooled connection
    /// included. Default 1s.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Attempts after the first per lookup. Default 0.
    #[serde(default)]
    pub retries: u32,
    /// Wait before each retry. Default 0s.
    #[serde(default)]
    pub retry_backoff: Dur,
    /// Requests in flight from one caller pod at most. Default 8.
    #[serde(default = "default_pool")]
    pub pool: u32,
    /// The SIP final code an inbound call gets when a lookup fails every
    /// attempt (400-699). Default 503.
    #[serde(default = "default_failure_code")]
    pub failure_code: u16,
}

fn default_target() -> String {
    "dependency".into()
}
fn default_lookups() -> u32 {
    1
}
fn default_timeout() -> Dur {
    Dur::from_secs(1)
}
fn default_pool() -> u32 {
    8
}
fn default_failure_code() -> u16 {
    503
}

impl DependencyClientConfig {
    /// `prefix` is the field's path, e.g. `nodes.sip.dependency`.
    pub fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        match topology.host(&self.target) {
            None => {
                return Err(check::unknown_node(
                    check::field(prefix, "target"),
                    &self.target,
                    topology,
                ))
            }
            Some(host) if host.kind != "dependency" && !host.kind.is_empty() => {
                return Err(FieldError::new(
                    check::field(prefix, "target"),
                    format!(
                        "{:?} is a {} host; the target must be a dependency",
                        self.target, host.kind
                    ),
                ))
            }
            Some(_) => {}
        }
        check::at_least_one(prefix, "lookups", self.lookups)?;
        at_most(prefix, "lookups", self.lookups, LOOKUPS_MAX)?;
        check::positive(prefix, "timeout", self.timeout)?;
        at_most(prefix, "retries", self.retries, RETRIES_MAX)?;
        check::at_least_one(prefix, "pool", self.pool)?;
        at_most(prefix, "pool", self.pool, POOL_MAX)?;
        if !(400..700).contains(&self.failure_code) {
            return Err(FieldError::new(
                check::field(prefix, "failure_code"),
                format!("{} is not a SIP failure code (400-699)", self.failure_code),
            ));
        }
        Ok(())
    }
}

fn at_most(prefix: &str, name: &str, value: u32, max: u32) -> Result<(), FieldError> {
    if value > max {
        return Err(FieldError::new(
            check::field(prefix, name),
            format!("{value} is above {max}"),
        ));
    }
    Ok(())
}

/// Why a call's lookups failed: the last attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupFailed {
    pub outcome: &'static str,
}

/// One caller pod's client: its pool and request ids. Cheap to clone;
/// clones share them.
#[derive(Clone)]
pub struct DependencyClient {
    pool: Rc<Semaphore>,
    next_id: Rc<Cell<u64>>,
}

impl DependencyClient {
    pub fn new(config: &DependencyClientConfig) -> DependencyClient {
        DependencyClient {
            pool: Rc::new(Semaphore::new(config.pool as usize)),
            next_id: Rc::new(Cell::new(1)),
        }
    }

    /// The lookups of one call's setup, under `config` (the caller's
    /// current one).
    pub async fn lookups(
        &self,
        config: &DependencyClientConfig,
        call: &str,
    ) -> Result<(), LookupFailed> {
        for _ in 0..config.lookups {
            self.lookup(config, call).await?;
        }
        Ok(())
    }

    async fn lookup(
        &self,
        config: &DependencyClientConfig,
        call: &str,
    ) -> Result<(), LookupFailed> {
        let mut attempt = 1;
        loop {
            let outcome = self.attempt(config, call, attempt).await;
            if outcome == "ok" {
                return Ok(());
            }
            if attempt > config.retries {
                return Err(LookupFailed { outcome });
            }
            attempt += 1;
            sleep(config.retry_backoff.0).await;
        }
    }

    /// One attempt: a pooled connection, the request, its answer, all
    /// within `timeout`. Returns its outcome as recorded.
    async fn attempt(
        &self,
        config: &DependencyClientConfig,
        call: &str,
        attempt: u32,
    ) -> &'static str {
        let mut record = Attempt {
            call,
            peer: &config.target,
            attempt,
            started_ms: now_ms(),
            outcome: "cancelled",
        };
        let until = record.started_ms + config.timeout.as_millis();
        let _permit = tokio::select! {
            permit = self.pool.acquire() => permit.expect("the pool is never closed"),
            _ = sleep_until_ms(until) => {
                record.outcome = "pool_timeout";
                return record.outcome;
            }
        };
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let request = Request {
            id,
            call: call.to_string(),
            method: methods::DEPENDENCY_LOOKUP.to_string(),
            budget_ms: Some(until.saturating_sub(now_ms())),
            body: serde_json::json!({}),
        };
        let answer = exchange(
            &config.target,
            ports::DEPENDENCY,
            &request,
            until,
            config.timeout.0,
            None,
        )
        .await;
        record.outcome = match answer {
            Exchange::Reply(Ok(_)) => "ok",
            Exchange::Reply(Err(e)) => e.code.as_str(),
            Exchange::ConnectFailed(_) => "unavailable",
            Exchange::Lost(_) => "connection_lost",
            Exchange::TimedOut => "timeout",
            Exchange::Cancelled => "cancelled",
        };
        record.outcome
    }
}

/// Records an attempt's `dep.request` when it ends, however it ends (an
/// attempt dropped because its call went away records `cancelled`), as
/// long as it ends on its host: the tasks of a crashed host are dropped
/// outside it, and record nothing.
struct Attempt<'a> {
    call: &'a str,
    peer: &'a str,
    attempt: u32,
    started_ms: u64,
    outcome: &'static str,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if crate::history::current_host().is_none() {
            return;
        }
        emit(Event::DepRequest {
            call: self.call,
            peer: self.peer,
            attempt: self.attempt,
            ms: now_ms().saturating_sub(self.started_ms),
            outcome: self.outcome,
        });
    }
}
