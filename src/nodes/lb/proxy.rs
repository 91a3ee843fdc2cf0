//! The LB's data plane: a stateless SIP proxy on UDP 5060 with health
//! checks of its backends, run as one event loop (datagrams and the
//! checker's deadlines; nothing wakes an idle LB but its checks).
//!
//! Routing a request (RFC 3261 sections 16.4-16.6, 16.11):
//! - a top Route naming this LB is popped (loose routing);
//! - a remaining Route, or a Request-URI that names another host, is
//!   followed (in-dialog requests, the 2xx ACK);
//! - a request for this LB itself picks a backend: the one remembered for
//!   its Call-ID (so the CANCEL and non-2xx ACK follow their INVITE), else
//!   the first usable backend in a seeded rendezvous order of the Call-ID;
//!   none usable gives 503 (and an ACK is dropped);
//! - OPTIONS for this LB is answered 200 here: the LB health ping.
//!
//! Responses pop this LB's Via and go to the next Via's address.

use super::LbConfig;
use crate::net::UdpEndpoint;
use crate::nodes::health::{HealthChecker, Probe, PROBE_BRANCH_PREFIX};
use crate::nodes::ports;
use crate::nodes::sipproxy::edit::{self, Edits};
use crate::nodes::sipproxy::{self as px, DATAGRAM_MAX};
use crate::sim::time::now_ms;
use crate::sim::NodeCtx;
use crate::sip::codec::error_response_for;
use crate::sip::{parse, Message, Method};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

/// SIP port.
pub const SIP_PORT: u16 = ports::SIP;

struct Lb {
    name: String,
    me: SocketAddr,
    socket: UdpEndpoint,
    config: LbConfig,
    seed: u64,
    backends: Vec<(String, SocketAddr)>,
    health: HealthChecker,
    /// Call-ID -> (backend, expiry ms), and insertion order for eviction.
    sticky: BTreeMap<String, (usize, u64)>,
    sticky_order: VecDeque<String>,
}

pub async fn serve(ctx: &NodeCtx, config: LbConfig) -> turmoil::Result {
    let socket = UdpEndpoint::bind(ctx, SIP_PORT).await?;
    let me = socket.local_addr();
    let backends: Vec<(String, SocketAddr)> = config
        .backends
        .iter()
        .flat_map(|b| ctx.topology.expand(b))
        .map(|host| {
            let addr = crate::net::addr(&host, SIP_PORT);
            (host, addr)
        })
        .collect();
    let health = HealthChecker::new(config.health.clone(), &backends, now_ms());
    let mut lb = Lb {
        name: ctx.name.to_string(),
        me,
        socket,
        config,
        seed: ctx.seed,
        backends,
        health,
        sticky: BTreeMap::new(),
        sticky_order: VecDeque::new(),
    };
    let mut buf = vec![0u8; DATAGRAM_MAX];
    loop {
        let deadline = lb.health.next_deadline_ms();
        tokio::select! {
            received = lb.socket.recv_from(&mut buf) => {
                let (n, from) = received?;
                lb.on_datagram(&buf[..n], from).await;
            }
            _ = sleep_until(deadline) => {
                for probe in lb.health.on_timer(now_ms()) {
                    lb.send_probe(&probe).await;
                }
            }
        }
    }
}

async fn sleep_until(deadline_ms: Option<u64>) {
    match deadline_ms {
        Some(at) => crate::sim::time::sleep_until_ms(at).await,
        None => std::future::pending().await,
    }
}

impl Lb {
    async fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        let message = match parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                if let Some(answer) = error_response_for(bytes, &e, "lb") {
                    px::send(&self.socket, &answer, from, false).await;
                }
                return;
            }
        };
        px::record_recv(&message, from, false);
        if message.is_request() {
            self.on_request(message, from).await;
        } else {
            self.on_response(message).await;
        }
    }

    async fn on_response(&mut self, response: Message) {
        let top = response.top_via();
        if !px::via_is(top, self.me) {
            return;
        }
        if let Some(branch) = top.branch().filter(|b| b.starts_with(PROBE_BRANCH_PREFIX)) {
            let code = response.status().unwrap_or(0);
            if code >= 200 {
                self.health.on_answer(branch, code < 500);
            }
            return;
        }
        let Some(next) = response.vias().get(1).and_then(px::via_addr) else {
            return;
        };
        let edits = Edits {
            pop_via: true,
            ..Edits::default()
        };
        if let Ok(forwarded) = edit::apply(&response, &edits) {
            px::send(&self.socket, &forwarded, next, false).await;
        }
    }

    async fn on_request(&mut self, request: Message, from: SocketAddr) {
        let method = request.method().cloned().expect("a request has a method");
        let is_ack = method == Method::Ack;
        if request.max_forwards() == Some(0) {
            self.answer(&request, 483, from).await;
            return;
        }
        let pop_route = request
            .routes()
            .first()
            .is_some_and(|r| px::uri_is(&r.uri, self.me));
        let next_route = request.routes().get(usize::from(pop_route));
        let uri = request.request_uri().unwrap_or_default();
        let for_me = uri_host_is_me(uri, self.me, &self.name);

        // (target, record-route it, retarget the Request-URI to it)
        let (target, record_route, retarget) = if let Some(route) = next_route {
            (px::uri_addr(&route.uri), false, false)
        } else if !for_me {
            (px::uri_addr(uri), false, false)
        } else if method == Method::Options && request.to_tag().is_none() {
            // The LB health ping.
            self.answer(&request, 200, from).await;
            return;
        } else {
            match self.pick_backend(&request) {
                Some(i) => (
                    Some(self.backends[i].1),
                    method == Method::Invite && self.config.record_route,
                    true,
                ),
                None => {
                    if !is_ack {
                        self.answer(&request, 503, from).await;
                    }
                    return;
                }
            }
        };
        let Some(target) = target else {
            if !is_ack {
                self.answer(&request, 416, from).await;
            }
            return;
        };
        let branch = px::derived_branch(request.branch().unwrap_or_default(), &self.name);
        let edits = Edits {
            request_uri: retarget.then(|| px::retarget(uri, target)),
            push_via: Some(px::via_line(self.me, &branch)),
            pop_route,
            push_record_route: record_route.then(|| px::record_route_line(self.me)),
            decrement_max_forwards: true,
            ..Edits::default()
        };
        if let Ok(forwarded) = edit::apply(&request, &edits) {
            px::send(&self.socket, &forwarded, target, false).await;
        }
    }

    /// The backend of a new request: the one its Call-ID already went to
    /// (while that entry lives and the backend is usable), else the first
    /// usable backend in the Call-ID's rendezvous order.
    fn pick_backend(&mut self, request: &Message) -> Option<usize> {
        let now = now_ms();
        let call_id = request.call_id().to_string();
        if let Some(&(i, expires)) = self.sticky.get(&call_id) {
            if expires > now && self.health.usable(&self.backends[i].0) {
                return Some(i);
            }
        }
        let names: Vec<&str> = self.backends.iter().map(|(n, _)| n.as_str()).collect();
        let chosen = px::rendezvous(self.seed, &call_id, &names)
            .into_iter()
            .find(|&i| self.health.usable(&self.backends[i].0))?;
        self.remember(call_id, chosen, now);
        Some(chosen)
    }

    fn remember(&mut self, call_id: String, backend: usize, now: u64) {
        let expires = now + self.config.sticky_ttl.as_millis();
        if self
            .sticky
            .insert(call_id.clone(), (backend, expires))
            .is_none()
        {
            self.sticky_order.push_back(call_id);
        }
        // Forget expired entries from the front, and the oldest beyond the
        // bound.
        while let Some(oldest) = self.sticky_order.front() {
            let expired = self.sticky.get(oldest).is_none_or(|&(_, e)| e <= now);
            if expired || self.sticky.len() > self.config.sticky_max as usize {
                let oldest = self.sticky_order.pop_front().expect("front exists");
                self.sticky.remove(&oldest);
            } else {
                break;
            }
        }
    }

    async fn answer(&self, request: &Message, code: u16, to: SocketAddr) {
        if let Some(response) = px::local_response(request, code, &self.name) {
            px::send(&self.socket, &response, to, false).await;
        }
    }

    async fn send_probe(&self, probe: &Probe) {
        if let Some(options) = px::probe_request(self.me, &self.name, probe) {
            px::send(&self.socket, &options, probe.addr, false).await;
        }
    }
}

/// Whether a Request-URI's host is this LB: its IP (any port) or its
/// host name.
fn uri_host_is_me(uri: &str, me: SocketAddr, name: &str) -> bool {
    px::uri_addr(uri).is_some_and(|a| a.ip() == me.ip())
        || crate::sip::uri::parse_uri(uri)
            .ok()
            .and_then(|u| u.sip)
            .is_some_and(|sip| sip.host.eq_ignore_ascii_case(name))
}
