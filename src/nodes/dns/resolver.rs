//! The client side of name resolution: what a node that is configured
//! with a name (rather than a host) runs to turn it into hosts, at setup
//! time: per new call or connection, never per packet.
//!
//! A [`Resolver`] belongs to one incarnation of one host (a restart
//! empties its cache, as a process restart does). It binds its UDP socket
//! (an ephemeral port) on first use, so a node whose config names no name
//! opens nothing and its history is unchanged. Each resolution looks in
//! the [`Cache`] first; on a miss it sends a query to the name server
//! (`server`, port 53) and waits `timeout` for the answer, `attempts`
//! times, then caches what it got by the rules of [`super::cache`].
//!
//! Events (host: the resolving node): `dns.query {call, name, peer,
//! attempt}` per query sent, and one `dns.answer {call, name, rcode,
//! ttl_ms, cached, hosts}` per resolution, from the cache (`cached =
//! true`, `ttl_ms` what the entry has left) or from the server or its
//! silence (`cached = false`, `ttl_ms` how long it is now kept). `call` is
//! the call whose setup asked, when there is one.

use super::cache::{Cache, Caps, Outcome};
use super::protocol::{decode, encode, Answer, Query, Rcode, DATAGRAM_MAX};
use crate::history::{emit, Event};
use crate::net::UdpEndpoint;
use crate::nodes::ports;
use crate::sim::time::{now_ms, sleep};
use crate::sim::{check, Dur, FieldError, NodeCtx, Topology};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use tokio::sync::oneshot;

/// Most attempts per resolution.
pub const ATTEMPTS_MAX: u32 = 10;
/// Longest cache cap: a day.
pub const TTL_CAP_MAX: Dur = Dur(std::time::Duration::from_secs(86_400));

/// `resolver = { .. }` on a node that resolves names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolverConfig {
    /// The name server's host. Default `dns`.
    #[serde(default = "default_server")]
    pub server: String,
    /// Wait for an answer per query. Default 1s.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Queries per resolution before it counts as a timeout (1..=10).
    /// Default 2.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Longest a positive answer is kept, whatever its TTL. Default 1h.
    #[serde(default = "default_ttl_cap")]
    pub max_ttl: Dur,
    /// Longest an NXDOMAIN is kept, whatever its negative TTL. Default 1h.
    #[serde(default = "default_ttl_cap")]
    pub negative_ttl_max: Dur,
    /// How long a SERVFAIL, or a resolution that got no answer, is kept
    /// (0: not at all). Default 5s.
    #[serde(default = "default_failure_ttl")]
    pub failure_ttl: Dur,
}

fn default_server() -> String {
    "dns".into()
}
fn default_timeout() -> Dur {
    Dur::from_secs(1)
}
fn default_attempts() -> u32 {
    2
}
fn default_ttl_cap() -> Dur {
    Dur::from_secs(3600)
}
fn default_failure_ttl() -> Dur {
    Dur::from_secs(5)
}

impl Default for ResolverConfig {
    fn default() -> ResolverConfig {
        toml::from_str("").expect("every field has a default")
    }
}

impl ResolverConfig {
    /// `prefix` is the field path of the `resolver` table.
    pub fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        if !topology.contains(&self.server) {
            return Err(FieldError::new(
                check::field(prefix, "server"),
                format!(
                    "{:?} is no host of this scenario; a name server is one host, e.g. [nodes.dns] (host `dns`)",
                    self.server
                ),
            ));
        }
        check::positive(prefix, "timeout", self.timeout)?;
        check::at_least_one(prefix, "attempts", self.attempts)?;
        if self.attempts > ATTEMPTS_MAX {
            return Err(FieldError::new(
                check::field(prefix, "attempts"),
                format!("{}; at most {ATTEMPTS_MAX}", self.attempts),
            ));
        }
        for (name, value) in [
            ("max_ttl", self.max_ttl),
            ("negative_ttl_max", self.negative_ttl_max),
            ("failure_ttl", self.failure_ttl),
        ] {
            if value > TTL_CAP_MAX {
                return Err(FieldError::new(
                    check::field(prefix, name),
                    format!("{value}; at most {TTL_CAP_MAX}"),
                ));
            }
        }
        Ok(())
    }

    fn caps(&self) -> Caps {
        Caps {
            max_ttl_ms: self.max_ttl.as_millis(),
            negative_ttl_max_ms: self.negative_ttl_max.as_millis(),
            failure_ttl_ms: self.failure_ttl.as_millis(),
        }
    }
}

/// A node's resolver; cheap to clone (clones share the socket and cache).
#[derive(Clone)]
pub struct Resolver {
    ctx: NodeCtx,
    bound: Rc<RefCell<Option<Rc<Bound>>>>,
}

/// The resolver once its socket is open.
struct Bound {
    socket: UdpEndpoint,
    cache: RefCell<Cache>,
    pending: RefCell<BTreeMap<u16, oneshot::Sender<Answer>>>,
    next_id: Cell<u16>,
}

impl Resolver {
    /// A resolver for the node of `ctx`; it opens nothing until used.
    pub fn new(ctx: &NodeCtx) -> Resolver {
        Resolver {
            ctx: ctx.clone(),
            bound: Rc::default(),
        }
    }

    async fn bound(&self) -> std::io::Result<Rc<Bound>> {
        if let Some(b) = self.bound.borrow().clone() {
            return Ok(b);
        }
        let socket = UdpEndpoint::bind(&self.ctx, 0).await?;
        let first_id = self.ctx.rng("dns.query_id").gen::<u16>();
        let fresh = Rc::new(Bound {
            socket,
            cache: RefCell::default(),
            pending: RefCell::default(),
            next_id: Cell::new(first_id),
        });
        // Another task may have bound while this one awaited: keep theirs.
        let bound = self.bound.borrow_mut().get_or_insert(fresh).clone();
        let receiver = bound.clone();
        crate::sim::spawn(async move { receiver.receive().await });
        Ok(bound)
    }

    /// Resolves `name` (for `call`'s setup, when given).
    pub async fn resolve(
        &self,
        config: &ResolverConfig,
        name: &str,
        call: Option<&str>,
    ) -> Outcome {
        let Ok(bound) = self.bound().await else {
            return Outcome::Timeout;
        };
        let cached = bound.cache.borrow_mut().get(name, now_ms());
        if let Some((outcome, left_ms)) = cached {
            answered(call, name, &outcome, left_ms, true);
            return outcome;
        }
        for attempt in 1..=config.attempts {
            let Some(answer) = bound.ask(config, name, call, attempt).await else {
                continue;
            };
            let outcome = match answer.rcode {
                Rcode::NoError => Outcome::Hosts(answer.hosts),
                Rcode::NxDomain => Outcome::NxDomain,
                Rcode::ServFail => Outcome::ServFail,
            };
            let kept_ms = (bound.cache.borrow_mut()).put(
                name,
                outcome.clone(),
                answer.ttl_ms,
                config.caps(),
                now_ms(),
            );
            answered(call, name, &outcome, kept_ms, false);
            return outcome;
        }
        let kept_ms =
            (bound.cache.borrow_mut()).put(name, Outcome::Timeout, 0, config.caps(), now_ms());
        answered(call, name, &Outcome::Timeout, kept_ms, false);
        Outcome::Timeout
    }
}

fn answered(call: Option<&str>, name: &str, outcome: &Outcome, ttl_ms: u64, cached: bool) {
    let hosts = match outcome {
        Outcome::Hosts(h) => h.join(","),
        _ => String::new(),
    };
    emit(Event::DnsAnswer {
        call,
        name,
        rcode: outcome.rcode(),
        ttl_ms,
        cached,
        hosts: &hosts,
    });
}

impl Bound {
    /// One query and its answer, or `None` after `timeout`.
    async fn ask(
        &self,
        config: &ResolverConfig,
        name: &str,
        call: Option<&str>,
        attempt: u32,
    ) -> Option<Answer> {
        let id = self.fresh_id();
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, tx);
        emit(Event::DnsQuery {
            call,
            name,
            peer: &config.server,
            attempt,
        });
        let query = encode(&Query {
            id,
            name: name.to_string(),
        });
        let _ = self
            .socket
            .send_to(&query, (config.server.as_str(), ports::DNS))
            .await;
        let answer = tokio::select! {
            a = rx => a.ok(),
            _ = sleep(config.timeout.0) => None,
        };
        self.pending.borrow_mut().remove(&id);
        answer.filter(|a| a.name == name)
    }

    /// The next query id no pending query holds.
    fn fresh_id(&self) -> u16 {
        let pending = self.pending.borrow();
        let mut id = self.next_id.get();
        while pending.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        self.next_id.set(id.wrapping_add(1));
        id
    }

    /// Hands each answer to the query with its id (a late or unknown one
    /// is dropped, as a stub resolver drops it).
    async fn receive(&self) {
        let mut buf = vec![0u8; DATAGRAM_MAX];
        loop {
            let Ok((n, _)) = self.socket.recv_from(&mut buf).await else {
                return;
            };
            let Some(answer) = decode::<Answer>(&buf[..n]) else {
                continue;
            };
            if let Some(waiting) = self.pending.borrow_mut().remove(&answer.id) {
                let _ = waiting.send(answer);
            }
        }
    }
}
