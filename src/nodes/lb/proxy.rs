//! The LB's data plane: a stateless SIP proxy on UDP 5060 with health
//! checks of its backends, run as one event loop (datagrams and the
//! checker's deadlines; nothing wakes an idle LB but its checks).
//!
//! Routing a request (RFC 3261 sections 16.4-16.6, 16.11):
//! - a top Route naming this LB is popped (loose routing);
//! - a remaining Route, or a Request-URI that names another host, is
//!   followed (in-dialog requests, the 2xx ACK);
//! - OPTIONS for this LB is answered 200 here: the LB health ping (also
//!   under `gray = work` and `rate_limit`: the ping stays green);
//! - any other request for this LB itself is routed by [`Router`]:
//!   1. a request of a transaction the LB remembers (same Call-ID and Via
//!      branch: a retransmitted INVITE, its CANCEL, the ACK of its non-2xx
//!      answer) goes where the transaction went, whatever that backend's
//!      health now, or gets the LB's own answer again (an ACK of it is
//!      absorbed, a CANCEL of it gets 200);
//!   2. a new out-of-dialog transaction other than CANCEL and ACK is
//!      refused 503 under `gray = work`, and while the LB drains before
//!      a delete (admin `drain`; no Retry-After: try another entry); under
//!      `gray = black_hole` every request but the LB's own health ping is
//!      dropped unanswered, and responses are not passed on either;
//!   3. a new out-of-dialog INVITE beyond `rate_limit.per_s` admitted in
//!      the current second of sim time is refused with the limit's code
//!      and `Retry-After: 1`;
//!   4. otherwise it goes to its call's backend while that one is usable,
//!      else to the first usable backend in a seeded rendezvous order of
//!      the Call-ID; none usable gives 503 with `Retry-After: 1` (and an
//!      ACK is dropped). A 416 is only for a Request-URI whose scheme the
//!      LB cannot route.
//!
//!   The LB's own answers carry a To tag drawn from its seeded salt
//!   ([`px::local_tag`]), never its name.
//!
//!   New transactions (all but CANCEL and ACK) are remembered with their
//!   outcome ([`super::sticky`]).
//!
//! Responses pop this LB's Via and go to the next Via's address.

use super::sticky::{Sticky, Verdict};
use super::LbConfig;
use crate::net::UdpEndpoint;
use crate::nodes::health::{HealthChecker, Probe, PROBE_BRANCH_PREFIX};
use crate::nodes::outlier::OutlierDetector;
use crate::nodes::ports;
use crate::nodes::sipproxy::edit::{self, Edits};
use crate::nodes::sipproxy::{self as px, DATAGRAM_MAX};
use crate::sim::buggify::{self, buggify, here};
use crate::sim::control::{GrayMode, NodeFaults, RateLimit};
use crate::sim::time::now_ms;
use crate::sim::ControlHandle;
use crate::sim::NodeCtx;
use crate::sip::codec::raw_error_response;
use crate::sip::{parse, Message, Method, Via};
use rand::RngCore;
use std::net::SocketAddr;

/// SIP port.
pub const SIP_PORT: u16 = ports::SIP;

struct Lb {
    name: String,
    me: SocketAddr,
    socket: UdpEndpoint,
    config: LbConfig,
    control: ControlHandle,
    backends: Vec<(String, SocketAddr)>,
    health: HealthChecker,
    /// Outlier ejection, when configured.
    outlier: Option<OutlierDetector>,
    router: Router,
    /// Seeds the To tags of the LB's own responses ([`px::local_tag`]).
    tag_salt: u64,
    /// The admin port's view: draining before a delete.
    liveness: crate::nodes::admin::Liveness,
}

pub async fn serve(
    ctx: &NodeCtx,
    config: LbConfig,
    liveness: crate::nodes::admin::Liveness,
) -> turmoil::Result {
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
    let health = HealthChecker::new(
        config.health.clone(),
        &backends,
        now_ms(),
        ctx.rng("health"),
        &ctx.name,
    );
    let outlier = config
        .outlier
        .map(|c| OutlierDetector::new(c, backends.iter().map(|(n, _)| n.clone())));
    let router = Router::new(
        ctx.seed,
        backends.iter().map(|(n, _)| n.clone()).collect(),
        Sticky::new(config.sticky_ttl.as_millis(), config.sticky_max as usize),
    );
    let mut lb = Lb {
        name: ctx.name.to_string(),
        me,
        socket,
        config,
        control: ctx.control.clone(),
        backends,
        health,
        outlier,
        router,
        tag_salt: ctx.rng("tags").next_u64(),
        liveness,
    };
    let mut buf = vec![0u8; DATAGRAM_MAX];
    loop {
        let outlier_deadline = lb.outlier.as_ref().and_then(|o| o.next_deadline_ms());
        let deadline = match (lb.health.next_deadline_ms(), outlier_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            received = lb.socket.recv_from(&mut buf) => {
                let (n, from) = received?;
                lb.on_datagram(&buf[..n], from).await;
            }
            _ = sleep_until(deadline) => {
                let now = now_ms();
                if let Some(outlier) = &mut lb.outlier {
                    outlier.on_timer(now);
                }
                for probe in lb.health.on_timer(now) {
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
                let tag = px::raw_tag(self.tag_salt, bytes);
                if let Some(answer) = raw_error_response(bytes, &e, &tag) {
                    px::send_raw(&self.socket, &answer, from).await;
                }
                return;
            }
        };
        px::record_recv(&message, from, false);
        if message.is_request() {
            // RFC 3261 section 18.2.1: stamp the top Via with where the request
            // came from, so that the answers (ours, and those the next hop sends
            // back through us) find the sender behind a NAT or a wrong sent-by.
            let request = message.received_from(from);
            let reply_to = request.reply_addr(from);
            self.on_request(request, reply_to).await;
        } else {
            self.on_response(message).await;
        }
    }

    async fn on_response(&mut self, response: Message) {
        let top = response.top_via();
        if !top.names(self.me) {
            return;
        }
        let is_probe_answer = top
            .branch()
            .is_some_and(|b| b.starts_with(PROBE_BRANCH_PREFIX));
        if !is_probe_answer && self.control.faults().gray == Some(GrayMode::BlackHole) {
            // A black hole passes nothing on, responses neither.
            return;
        }
        if let Some(branch) = top.branch().filter(|b| b.starts_with(PROBE_BRANCH_PREFIX)) {
            let code = response.status().unwrap_or(0);
            if code >= 200 {
                self.health.on_answer(branch, code < 500);
            }
            return;
        }
        if let (Some(outlier), Method::Invite) = (&mut self.outlier, &response.cseq().method) {
            let (code, key) = (
                response.status().unwrap_or(0),
                top.branch().unwrap_or_default(),
            );
            if code >= 200 {
                outlier.setup_finished(key, code, now_ms());
            } else {
                outlier.setup_progressed(key, now_ms());
            }
        }
        let Some(next) = response.vias().get(1).and_then(Via::response_addr) else {
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

    /// `from` is where answers to `request` go (its stamped top Via's address).
    async fn on_request(&mut self, request: Message, from: SocketAddr) {
        let method = request.method().cloned().expect("a request has a method");
        let is_ack = method == Method::Ack;
        // Fault point: the request is shed unanswered.
        if buggify(&self.control, buggify::LB_DROP_REQUEST) {
            return;
        }
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
        // The LB health ping: an out-of-dialog OPTIONS for the LB itself.
        let ping = for_me
            && next_route.is_none()
            && method == Method::Options
            && request.to_tag().is_none();
        let faults = self.control.faults();
        // `gray = black_hole`: everything but the ping is taken in and
        // dropped, unanswered and not passed on.
        if !ping && faults.gray == Some(GrayMode::BlackHole) {
            return;
        }

        // A new INVITE to backend `i`: a setup the outlier detector judges.
        let mut new_setup: Option<usize> = None;
        // (target, record-route it, retarget the Request-URI to it)
        let (target, record_route, retarget) = if let Some(route) = next_route {
            (px::uri_addr(&route.uri), false, false)
        } else if !for_me {
            (px::uri_addr(uri), false, false)
        } else if ping {
            self.answer(&request, 200, from).await;
            return;
        } else {
            let (health, backends, outlier) = (&self.health, &self.backends, &self.outlier);
            let now = now_ms();
            let routed = self.router.route(
                &RouteRequest {
                    call_id: request.call_id(),
                    branch: request.branch().unwrap_or_default(),
                    method: &method,
                    in_dialog: request.to_tag().is_some(),
                    draining: self.liveness.is_draining(),
                },
                now,
                &faults,
                |i| {
                    let name = &backends[i].0;
                    health.usable(name) && outlier.as_ref().is_none_or(|o| o.usable(name, now))
                },
            );
            match routed {
                Routed {
                    verdict: Verdict::Backend(i),
                    existing,
                } => {
                    if !existing && method == Method::Invite && request.to_tag().is_none() {
                        new_setup = Some(i);
                    }
                    (
                        Some(self.backends[i].1),
                        method == Method::Invite && self.config.record_route,
                        true,
                    )
                }
                Routed {
                    verdict: Verdict::Refused { code, retry_after },
                    existing,
                } => {
                    match method {
                        // Nothing answers an ACK; the LB's own answer was
                        // its transaction's end.
                        Method::Ack => {}
                        // The transaction it cancels already has its final
                        // answer (RFC 3261 section 9.2).
                        Method::Cancel if existing => self.answer(&request, 200, from).await,
                        _ => {
                            let retry_after = retry_after.then_some(("Retry-After", "1"));
                            self.answer_with(&request, code, from, retry_after).await;
                        }
                    }
                    return;
                }
            }
        };
        let Some(target) = target else {
            if !is_ack {
                // A sip: or sips: URI that names no address the LB can
                // reach is a failed next hop (RFC 3263 section 4.3: 503);
                // any other scheme is one it does not support (416).
                let unrouted = next_route.map_or(uri, |r| r.uri.as_str());
                let sip = ["sip:", "sips:"].iter().any(|scheme| {
                    unrouted
                        .get(..scheme.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
                });
                self.answer(&request, if sip { 503 } else { 416 }, from)
                    .await;
            }
            return;
        };
        let branch = px::derived_branch(request.branch().unwrap_or_default(), &self.name);
        if let (Some(outlier), Some(i)) = (&mut self.outlier, new_setup) {
            outlier.setup_started(&branch, &self.backends[i].0, None, now_ms());
        }
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

    async fn answer(&self, request: &Message, code: u16, to: SocketAddr) {
        self.answer_with(request, code, to, None).await;
    }

    async fn answer_with(
        &self,
        request: &Message,
        code: u16,
        to: SocketAddr,
        header: Option<(&str, &str)>,
    ) {
        let headers: Vec<(String, String)> = header
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let tag = px::local_tag(self.tag_salt, request);
        if let Some(response) = px::local_response_with(request, code, &tag, headers) {
            px::send(&self.socket, &response, to, false).await;
        }
    }

    async fn send_probe(&self, probe: &Probe) {
        if let Some(options) = px::probe_request(self.me, &self.name, probe) {
            px::send(&self.socket, &options, probe.addr, false).await;
        }
    }
}

/// What the router needs of a request for the LB itself.
struct RouteRequest<'a> {
    call_id: &'a str,
    /// The top Via's branch ("" when it has none).
    branch: &'a str,
    method: &'a Method,
    /// It has a To tag.
    in_dialog: bool,
    /// The LB is draining (admin `drain`): no new out-of-dialog work.
    draining: bool,
}

/// Where a request for the LB itself goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Routed {
    verdict: Verdict,
    /// It belongs to a transaction the LB remembers.
    existing: bool,
}

/// The routing decision of requests for the LB itself: transactions
/// remembered per call, the rendezvous order, and the rate-limit window.
/// Free of I/O; the LB hands it the time, its fault settings and which
/// backends are usable.
struct Router {
    seed: u64,
    names: Vec<String>,
    sticky: Sticky,
    /// Second of sim time the rate window covers, and new INVITEs
    /// admitted in it.
    rate_second: u64,
    rate_admitted: u32,
}

impl Router {
    fn new(seed: u64, names: Vec<String>, sticky: Sticky) -> Router {
        Router {
            seed,
            names,
            sticky,
            rate_second: 0,
            rate_admitted: 0,
        }
    }

    fn route(
        &mut self,
        request: &RouteRequest<'_>,
        now_ms: u64,
        faults: &NodeFaults,
        usable: impl Fn(usize) -> bool,
    ) -> Routed {
        // Fault point: the table loses the call's transactions.
        if self.sticky.knows(request.call_id, now_ms) && here(buggify::LB_FORGET_TRANSACTION) {
            self.sticky.forget(request.call_id);
        }
        if let Some(verdict) = self
            .sticky
            .transaction(request.call_id, request.branch, now_ms)
        {
            return Routed {
                verdict,
                existing: true,
            };
        }
        let opens = !matches!(request.method, Method::Ack | Method::Cancel);
        let new_invite = *request.method == Method::Invite && !request.in_dialog;
        let verdict = if opens && !request.in_dialog && faults.gray == Some(GrayMode::Work) {
            Verdict::Refused {
                code: 503,
                retry_after: false,
            }
        } else if opens && !request.in_dialog && request.draining {
            // Draining before a delete: the caller should try another
            // entry now (RFC 3261 section 21.5.4), not this LB later.
            Verdict::Refused {
                code: 503,
                retry_after: false,
            }
        } else if new_invite && !self.admit(faults.rate_limit, now_ms) {
            let code = faults.rate_limit.map_or(503, |l| l.code);
            Verdict::Refused {
                code,
                retry_after: true,
            }
        } else {
            match self.pick(request.call_id, now_ms, usable) {
                Some(i) => Verdict::Backend(i),
                // RFC 3261 section 21.5.4: the caller may try this LB
                // again after a while rather than giving up on it, or try
                // another (section 21.5.4 and RFC 3263).
                None => Verdict::Refused {
                    code: 503,
                    retry_after: true,
                },
            }
        };
        if opens {
            self.sticky
                .remember(request.call_id, request.branch, verdict, now_ms);
        }
        Routed {
            verdict,
            existing: false,
        }
    }

    /// Counts a new INVITE against the rate limit; false when it is over.
    fn admit(&mut self, limit: Option<RateLimit>, now_ms: u64) -> bool {
        let Some(limit) = limit else {
            return true;
        };
        let second = now_ms / 1000;
        if second != self.rate_second {
            self.rate_second = second;
            self.rate_admitted = 0;
        }
        if self.rate_admitted >= limit.per_s {
            return false;
        }
        self.rate_admitted += 1;
        true
    }

    /// The backend of a new transaction: its call's backend while that one
    /// is usable, else the first usable one in the Call-ID's rendezvous
    /// order.
    fn pick(&self, call_id: &str, now_ms: u64, usable: impl Fn(usize) -> bool) -> Option<usize> {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        // Fault point: a stale view routes by the rendezvous order alone.
        if here(buggify::LB_ROUTE_IGNORES_HEALTH) {
            return px::rendezvous(self.seed, call_id, &names).first().copied();
        }
        if let Some(i) = self.sticky.affinity(call_id, now_ms).filter(|&i| usable(i)) {
            return Some(i);
        }
        px::rendezvous(self.seed, call_id, &names)
            .into_iter()
            .find(|&i| usable(i))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new(
            1,
            vec!["sip-1".into(), "sip-2".into(), "sip-3".into()],
            Sticky::new(32_000, 64),
        )
    }

    fn request<'a>(call_id: &'a str, branch: &'a str, method: &'a Method) -> RouteRequest<'a> {
        RouteRequest {
            call_id,
            branch,
            method,
            in_dialog: false,
            draining: false,
        }
    }

    fn backend(routed: Routed) -> usize {
        match routed.verdict {
            Verdict::Backend(i) => i,
            other => panic!("expected a backend, got {other:?}"),
        }
    }

    const ALL: fn(usize) -> bool = |_| true;
    const NONE: fn(usize) -> bool = |_| false;

    #[test]
    fn a_retransmission_cancel_and_ack_follow_their_invite_whatever_its_health() {
        let mut r = router();
        let ok = NodeFaults::default();
        let first = backend(r.route(&request("c1", "z9hG4bKa", &Method::Invite), 0, &ok, ALL));
        let others = move |i: usize| i != first;
        // Its backend is now unhealthy: the transaction still goes there.
        for method in [Method::Invite, Method::Cancel, Method::Ack] {
            let routed = r.route(&request("c1", "z9hG4bKa", &method), 3_500, &ok, others);
            assert_eq!(
                routed,
                Routed {
                    verdict: Verdict::Backend(first),
                    existing: true
                },
                "{method:?}"
            );
            let routed = r.route(&request("c1", "z9hG4bKa", &method), 3_500, &ok, NONE);
            assert_eq!(
                routed.verdict,
                Verdict::Backend(first),
                "{method:?}, none usable"
            );
        }
        // A new transaction of the call (a new branch) consults health.
        let next = backend(r.route(
            &request("c1", "z9hG4bKb", &Method::Invite),
            4_000,
            &ok,
            others,
        ));
        assert_ne!(next, first);
        let routed = r.route(
            &request("c1", "z9hG4bKc", &Method::Invite),
            4_000,
            &ok,
            NONE,
        );
        assert_eq!(
            routed.verdict,
            Verdict::Refused {
                code: 503,
                retry_after: true
            },
            "no usable backend: 503 with Retry-After"
        );
        // Once the entry expires the branch is a stranger.
        let later = r.route(
            &request("c1", "z9hG4bKa", &Method::Invite),
            40_000,
            &ok,
            others,
        );
        assert!(!later.existing);
    }

    #[test]
    fn a_new_transaction_keeps_its_calls_backend_while_usable() {
        let mut r = router();
        let ok = NodeFaults::default();
        let first = backend(r.route(&request("c1", "a", &Method::Invite), 0, &ok, ALL));
        let again = backend(r.route(&request("c1", "b", &Method::Invite), 10, &ok, ALL));
        assert_eq!(again, first);
    }

    #[test]
    fn gray_work_refuses_new_transactions_but_not_existing_ones() {
        let mut r = router();
        let ok = NodeFaults::default();
        let gray = NodeFaults {
            gray: Some(GrayMode::Work),
            ..NodeFaults::default()
        };
        let first = backend(r.route(&request("c1", "a", &Method::Invite), 0, &ok, ALL));
        let routed = r.route(&request("c1", "a", &Method::Invite), 500, &gray, ALL);
        assert_eq!(routed.verdict, Verdict::Backend(first), "a retransmission");
        let refused = Verdict::Refused {
            code: 503,
            retry_after: false,
        };
        let routed = r.route(&request("c2", "a", &Method::Invite), 500, &gray, ALL);
        assert_eq!(routed.verdict, refused);
        // Its retransmission gets the same answer, its ACK is absorbed,
        // even after the fault ends.
        let routed = r.route(&request("c2", "a", &Method::Ack), 600, &ok, ALL);
        assert_eq!(
            routed,
            Routed {
                verdict: refused,
                existing: true
            }
        );
        // In-dialog requests are not refused.
        let in_dialog = RouteRequest {
            in_dialog: true,
            ..request("c3", "b", &Method::Bye)
        };
        assert!(matches!(
            r.route(&in_dialog, 700, &gray, ALL).verdict,
            Verdict::Backend(_)
        ));
    }

    #[test]
    fn rate_limit_counts_new_invites_per_second_only() {
        let mut r = router();
        let limited = NodeFaults {
            rate_limit: Some(RateLimit {
                per_s: 2,
                code: 429,
            }),
            ..NodeFaults::default()
        };
        let refused = Verdict::Refused {
            code: 429,
            retry_after: true,
        };
        let mut verdicts = Vec::new();
        for n in 0..4 {
            let call = format!("c{n}");
            verdicts.push(r.route(&request(&call, "a", &Method::Invite), 100, &limited, ALL));
        }
        assert!(matches!(verdicts[0].verdict, Verdict::Backend(_)));
        assert!(matches!(verdicts[1].verdict, Verdict::Backend(_)));
        assert_eq!(verdicts[2].verdict, refused);
        assert_eq!(verdicts[3].verdict, refused);
        // Retransmissions, CANCELs, ACKs and in-dialog requests are neither
        // counted nor refused.
        for method in [Method::Invite, Method::Cancel, Method::Ack] {
            let routed = r.route(&request("c0", "a", &method), 200, &limited, ALL);
            assert_eq!(routed.verdict, verdicts[0].verdict);
        }
        let in_dialog = RouteRequest {
            in_dialog: true,
            ..request("c9", "b", &Method::Invite)
        };
        assert!(matches!(
            r.route(&in_dialog, 300, &limited, ALL).verdict,
            Verdict::Backend(_)
        ));
        // The next second admits two more.
        let next = r.route(&request("c5", "a", &Method::Invite), 1_000, &limited, ALL);
        assert!(matches!(next.verdict, Verdict::Backend(_)));
    }
}
