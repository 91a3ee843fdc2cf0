//! An SBC pod's data plane: a SIP proxy that keeps INVITE transactions
//! (to retry, time out and cancel) and relays media, run as one event loop
//! over the SIP socket, the media socket, its timers, the health checker
//! and the admission results of its workers.
//!
//! An INVITE from upstream (RFC 3261 section 16, with the server and client
//! transactions kept here in a compact form):
//! 1. gets 100 Trying at once, then is admitted on the pod's workers (a
//!    refusal is its final answer);
//! 2. gets its media anchored: a pair of anchor ports
//!    opened for the leg (keyed by its SIP Call-ID), and the SDP now names
//!    the port that faces downstream;
//! 3. goes to a usable next hop (rendezvous order of its Call-ID, skipping
//!    hops already tried), retargeted, with this pod's Via and
//!    Record-Route, retransmitted on T1, 2*T1, ... until the hop answers;
//! 4. a hop silent for `next_hop_timeout`, or answering 503, is left for
//!    the next one while `attempts_max` allows; after that the caller gets
//!    `timeout_code` (or the 503);
//! 5. provisional responses and the 2xx go upstream with the SDP rewritten
//!    (the anchor learns the downstream media address); a final failure is
//!    ACKed downstream and goes upstream, retransmitted on timer G until
//!    the caller's ACK;
//! 6. the caller's CANCEL gets 200; the next hop gets a CANCEL once it has
//!    answered anything, and its final answer (normally 487) is the one
//!    relayed upstream. The SBC makes the 487 itself only when nothing
//!    went downstream yet or the hop never answers (silent, or no final
//!    within `cancel_wait`);
//! 7. each INVITE gets exactly one final answer upstream: a 2xx that
//!    arrives after it (it crossed the CANCEL, or came after Timer C's 408
//!    or the timeout code) is not relayed but ACKed, and the SBC sends BYE
//!    on the leg it came from.
//!
//! Every other request and response (the 2xx ACK, BYE, their answers) is
//! forwarded statelessly, by Route and Request-URI for requests and by Via
//! for responses; a BYE also ends its leg's media relay (by Call-ID).

use super::relay::{self, RelayTable, Side};
use super::{MediaAnchor, SbcConfig};
use crate::net::UdpEndpoint;
use crate::nodes::health::{HealthChecker, PROBE_BRANCH_PREFIX};
use crate::nodes::ports;
use crate::nodes::sipproxy::edit::{self, Edits};
use crate::nodes::sipproxy::timers::TimerQueue;
use crate::nodes::sipproxy::{self as px, DATAGRAM_MAX};
use crate::nodes::workers::{Pool, Refusal};
use crate::sim::time::now_ms;
use crate::sim::NodeCtx;

use crate::sim::control::GrayMode;
use crate::sim::ControlHandle;
use crate::sip::codec::{
    build_ack_for_non_2xx, build_cancel, build_request, format_name_addr, raw_error_response,
    AddrSpec, BuildError, RequestSpec, ViaSpec,
};
use crate::sip::dialog::MAX_FORWARDS;
use crate::sip::{parse, Message, Method, NameAddr, Via};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use tokio::sync::mpsc;

/// The dialog a 2xx made on a downstream leg, as the SBC sees it when it
/// must end that leg itself: the INVITE it forwarded and the 2xx.
struct DownstreamLeg {
    /// The 2xx's Contact: the Request-URI of requests in the dialog.
    target: String,
    /// Record-Route entries added below this pod, nearest first (the
    /// route set of the downstream leg, section 12.1.2).
    routes: Vec<NameAddr>,
    from: AddrSpec,
    to: AddrSpec,
    call_id: String,
    call: String,
}

impl DownstreamLeg {
    fn of(forwarded: &Message, response: &Message, me: SocketAddr) -> DownstreamLeg {
        // A response lists Record-Route farthest hop first; the entries
        // before this pod's own are the downstream leg's.
        let mut routes: Vec<NameAddr> = response
            .record_routes()
            .iter()
            .take_while(|r| !px::uri_is(&r.uri, me))
            .cloned()
            .collect();
        routes.reverse();
        DownstreamLeg {
            target: response
                .contacts()
                .first()
                .map(|c| c.uri.clone())
                .or_else(|| forwarded.request_uri().map(str::to_string))
                .unwrap_or_default(),
            routes,
            from: AddrSpec {
                uri: forwarded.from().uri.clone(),
                tag: forwarded.from_tag().map(str::to_string),
            },
            to: AddrSpec {
                uri: response.to().uri.clone(),
                tag: response.to_tag().map(str::to_string),
            },
            call_id: forwarded.call_id().to_string(),
            call: forwarded.callsim_call().unwrap_or_default().to_string(),
        }
    }

    /// Where a request in the dialog goes: its first route, else the target.
    fn next_hop(&self) -> Option<SocketAddr> {
        px::uri_addr(self.routes.first().map_or(&self.target, |r| &r.uri))
    }

    fn request(&self, method: Method, cseq: u32, via: ViaSpec) -> Result<Message, BuildError> {
        build_request(&RequestSpec {
            method,
            uri: self.target.clone(),
            via,
            from: self.from.clone(),
            to: self.to.clone(),
            call_id: self.call_id.clone(),
            cseq,
            max_forwards: MAX_FORWARDS,
            contact: None,
            routes: self.routes.iter().map(format_name_addr).collect(),
            callsim_call: self.call.clone(),
            extra_headers: Vec::new(),
            content_type: None,
            body: Vec::new(),
        })
    }
}

/// A next hop: its name and its SIP address.
struct Hop {
    name: String,
    sip: SocketAddr,
}

/// One forwarding of an INVITE to a next hop.
struct Attempt {
    hop: usize,
    /// The INVITE as sent to the hop.
    request: Message,
    /// Whether the hop answered anything (a 100 Trying will do).
    responded: bool,
    /// Current retransmission interval.
    interval_ms: u64,
    /// Left for another hop or cancelled: no more retransmissions.
    abandoned: bool,
    /// A 2xx of this attempt came after the caller had its final answer:
    /// the SBC ACKed it and sent BYE on this leg (once; a retransmitted
    /// 2xx is only ACKed again).
    hung_up: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the workers to admit it.
    Admitting,
    /// Forwarded, no final response yet.
    Proceeding,
    /// A final failure sent upstream, waiting for the ACK.
    Completed,
    /// A 2xx forwarded upstream.
    Accepted,
    /// The caller ACKed the final failure.
    Confirmed,
}

/// An INVITE server transaction and its client side.
struct Invite {
    /// The INVITE as received.
    request: Message,
    /// Where responses go (the top Via's address).
    reply_to: SocketAddr,
    phase: Phase,
    /// The latest response sent upstream (answered again to a
    /// retransmitted INVITE; retransmitted on timer G when final).
    last_response: Option<Message>,
    attempts: Vec<Attempt>,
    cancelled: bool,
    g_interval_ms: u64,
}

impl Invite {
    fn current(&mut self) -> Option<&mut Attempt> {
        self.attempts.last_mut()
    }
}

enum Tm {
    /// Timer A of attempt `n`.
    Retransmit { key: String, n: usize },
    /// The next hop of attempt `n` stayed silent.
    NextHop { key: String, n: usize },
    /// Timer C: no final response in time.
    Proceeding { key: String },
    /// Timer G: retransmit the final failure upstream.
    Final { key: String },
    /// A CANCELled INVITE still has no final response from downstream
    /// after timer B (64*T1): the SBC answers 487 itself.
    CancelWait { key: String },
    /// Drop the transaction's state.
    Forget { key: String },
    /// Timer E of a BYE this pod sent itself (by its branch).
    ByeRetransmit { branch: String },
}

/// A BYE this pod sent itself on a downstream leg, retransmitted on timer
/// E (T1, 2*T1, ... at most T2) until any response, or until timer F.
struct OwnBye {
    request: Message,
    to: SocketAddr,
    interval_ms: u64,
    give_up_at_ms: u64,
}

/// Where one call leg's media is anchored: a pair of ports on a pod of
/// the section, keyed by the leg's SIP Call-ID at the signalling pod.
#[derive(Debug, Clone, Copy)]
struct Anchoring {
    /// Index of the anchoring pod in `pool_media`.
    anchor: usize,
    pair: u32,
}

/// Datagrams that arrived at anchor ports: (port, bytes, sender).
type AnchorRx = mpsc::UnboundedReceiver<(u16, Vec<u8>, SocketAddr)>;

/// This pod's bound anchor ports, each with a task that hands its
/// datagrams to the event loop; dropping it stops the tasks (and so
/// releases the sockets, for the next incarnation of the data plane).
struct AnchorSockets {
    sockets: BTreeMap<u16, UdpEndpoint>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    tx: mpsc::UnboundedSender<(u16, Vec<u8>, SocketAddr)>,
}

impl Drop for AnchorSockets {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl AnchorSockets {
    /// Binds the two ports of `pair`, if not yet bound. A port that cannot
    /// be bound stays unbound: its media is lost, as on a real host.
    async fn bind_pair(&mut self, ctx: &NodeCtx, pair: u32) {
        for side in [Side::Up, Side::Down] {
            let port = relay::anchor_port(pair, side);
            if self.sockets.contains_key(&port) {
                continue;
            }
            let Ok(socket) = UdpEndpoint::bind(ctx, port).await else {
                continue;
            };
            let (receiver, tx) = (socket.clone(), self.tx.clone());
            self.tasks.push(crate::sim::spawn(async move {
                let mut buf = vec![0u8; MEDIA_DATAGRAM_MAX];
                while let Ok((n, from)) = receiver.recv_from(&mut buf).await {
                    if tx.send((port, buf[..n].to_vec(), from)).is_err() {
                        return;
                    }
                }
            }));
            self.sockets.insert(port, socket);
        }
    }
}

/// Largest media or control datagram read.
const MEDIA_DATAGRAM_MAX: usize = 512;

struct Sbc {
    ctx: NodeCtx,
    name: String,
    /// Seeds the To tags of the pod's own answers ([`px::local_tag`]).
    tag_salt: u64,
    seed: u64,
    config: SbcConfig,
    control: ControlHandle,
    sip: UdpEndpoint,
    /// The pod's media port: control datagrams from the signalling pods
    /// of a pool.
    media: UdpEndpoint,
    me: SocketAddr,
    hops: Vec<Hop>,
    /// Media (control) addresses of the pods of this section (the anchor
    /// pool), and this pod's index among them.
    pool_media: Vec<(String, SocketAddr)>,
    my_index: usize,
    health: HealthChecker,
    timers: TimerQueue<Tm>,
    invites: BTreeMap<String, Invite>,
    /// Downstream branch -> (transaction key, attempt index).
    branches: BTreeMap<String, (String, usize)>,
    /// The anchor ports this pod relays between.
    relays: RelayTable,
    anchor_sockets: AnchorSockets,
    /// The legs this pod signals, by SIP Call-ID, with the order they came
    /// in (at most `relays_max`, the oldest forgotten first).
    anchorings: BTreeMap<String, Anchoring>,
    anchoring_order: VecDeque<String>,
    /// BYEs this pod sent itself and not yet answered, by branch.
    own_byes: BTreeMap<String, OwnBye>,
    /// Per anchoring pod: how many pairs this pod has handed out there.
    pairs_handed: BTreeMap<usize, u32>,
    workers: Pool,
    admitted_tx: mpsc::UnboundedSender<(String, Result<(), Refusal>)>,
}

pub async fn serve(ctx: &NodeCtx, config: SbcConfig) -> turmoil::Result {
    let sip = UdpEndpoint::bind(ctx, ports::SIP).await?;
    let media = UdpEndpoint::bind(ctx, ports::MEDIA).await?;
    let hops: Vec<Hop> = config
        .next_hops(ctx.section)
        .iter()
        .flat_map(|h| ctx.topology.expand(h))
        .map(|name| Hop {
            sip: crate::net::addr(&name, ports::SIP),
            name,
        })
        .collect();
    let targets: Vec<(String, SocketAddr)> = hops.iter().map(|h| (h.name.clone(), h.sip)).collect();
    let pool_media: Vec<(String, SocketAddr)> = ctx
        .topology
        .hosts_of(ctx.section)
        .into_iter()
        .map(|h| {
            let addr = crate::net::addr(&h, ports::MEDIA);
            (h, addr)
        })
        .collect();
    let my_index = pool_media
        .iter()
        .position(|(_, a)| *a == media.local_addr())
        .expect("a pod is one of its section's hosts");
    let (admitted_tx, mut admitted_rx) = mpsc::unbounded_channel();
    let (anchor_tx, mut anchor_rx): (_, AnchorRx) = mpsc::unbounded_channel();
    let mut sbc = Sbc {
        ctx: ctx.clone(),
        name: ctx.name.to_string(),
        tag_salt: rand::RngCore::next_u64(&mut ctx.rng("tags")),
        seed: ctx.seed,
        control: ctx.control.clone(),
        me: sip.local_addr(),
        sip,
        media,
        hops,
        pool_media,
        my_index,
        health: HealthChecker::new(
            config.health.clone(),
            &targets,
            now_ms(),
            ctx.rng("health"),
            &ctx.name,
        ),
        timers: TimerQueue::default(),
        invites: BTreeMap::new(),
        branches: BTreeMap::new(),
        relays: RelayTable::new(config.relays_max),
        anchor_sockets: AnchorSockets {
            sockets: BTreeMap::new(),
            tasks: Vec::new(),
            tx: anchor_tx,
        },
        anchorings: BTreeMap::new(),
        anchoring_order: VecDeque::new(),
        own_byes: BTreeMap::new(),
        pairs_handed: BTreeMap::new(),
        workers: Pool::new(ctx, config.pool),
        admitted_tx,
        config,
    };
    debug_assert!(matches!(ctx.kind, "sbc-edge" | "sbc-inbound"));
    if sbc.config.relearn_media {
        // A restarted pod must hear the datagrams of the legs it lost to
        // rebuild them: every anchor port is bound from the start.
        assert!(
            sbc.config.relays_max <= relay::RELEARN_PAIRS_MAX,
            "validated"
        );
        for pair in 0..sbc.config.relays_max {
            sbc.anchor_sockets.bind_pair(ctx, pair).await;
        }
    }
    let mut sip_buf = vec![0u8; DATAGRAM_MAX];
    let mut media_buf = vec![0u8; MEDIA_DATAGRAM_MAX];
    loop {
        let deadline = [sbc.timers.next_deadline_ms(), sbc.health.next_deadline_ms()]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            received = sbc.sip.recv_from(&mut sip_buf) => {
                let (n, from) = received?;
                sbc.on_sip(&sip_buf[..n], from).await;
            }
            received = sbc.media.recv_from(&mut media_buf) => {
                let (n, _) = received?;
                sbc.on_control(&media_buf[..n]).await;
            }
            Some((port, bytes, from)) = anchor_rx.recv() => {
                sbc.on_media(port, &bytes, from).await;
            }
            Some((key, admitted)) = admitted_rx.recv() => {
                sbc.on_admitted(&key, admitted).await;
            }
            _ = sleep_until(deadline) => {
                sbc.on_timers().await;
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

/// The key of the server transaction of a request (INVITE, its CANCEL and
/// its non-2xx ACK share it): top Via branch and sent-by.
fn server_key(request: &Message) -> String {
    let via = request.top_via();
    format!("{}|{}", via.branch().unwrap_or_default(), via.sent_by())
}

impl Sbc {
    fn t1_ms(&self) -> u64 {
        self.config.timers.t1.as_millis() as u64
    }

    // ---- media ----

    /// A datagram at anchor `port`: out of the pair's other port to the
    /// other side, by address only (its payload is never read).
    async fn on_media(&mut self, port: u16, bytes: &[u8], from: SocketAddr) {
        if self.control.faults().gray == Some(GrayMode::Media) {
            return;
        }
        let relearn = self.config.relearn_media;
        let Some(forward) = self.relays.forward(port, from, relearn) else {
            return;
        };
        if let Some(socket) = self.anchor_sockets.sockets.get(&forward.from_port) {
            let _ = socket.send_to(bytes, forward.to).await;
        }
    }

    /// A control datagram from a signalling pod of the section.
    async fn on_control(&mut self, bytes: &[u8]) {
        if let Some(control) = relay::Control::parse(bytes) {
            self.apply_control(control).await;
        }
    }

    async fn apply_control(&mut self, control: relay::Control) {
        if let relay::Control::Open { pair, .. } = control {
            if pair < self.config.relays_max {
                self.anchor_sockets.bind_pair(&self.ctx, pair).await;
            }
        }
        self.relays.apply(control);
    }

    /// The pod that anchors the media of the leg with SIP Call-ID
    /// `call_id`: this pod, or one of the pool picked by the Call-ID.
    fn anchor_of(&self, call_id: &str) -> usize {
        match self.config.media_anchor {
            MediaAnchor::Signalling => self.my_index,
            MediaAnchor::Pool => {
                // Keyed apart from the next-hop choice (the same Call-ID
                // over the same pod names would always pick the
                // signalling pod itself): a pool is its own service.
                let names: Vec<&str> = self.pool_media.iter().map(|(n, _)| n.as_str()).collect();
                px::rendezvous(self.seed, &format!("media:{call_id}"), &names)[0]
            }
        }
    }

    /// The next pair this pod hands out on `anchor`: round-robin over the
    /// anchor's pairs, over this pod's residue of them when the section
    /// shares anchors (so two signalling pods never hand out one pair).
    fn next_pair(&mut self, anchor: usize) -> u32 {
        let max = self.config.relays_max;
        let handed = self.pairs_handed.entry(anchor).or_insert(0);
        let n = *handed;
        *handed = handed.wrapping_add(1);
        match self.config.media_anchor {
            MediaAnchor::Signalling => n % max,
            MediaAnchor::Pool => {
                let pods = self.pool_media.len() as u32;
                let slots = (max / pods).max(1);
                (self.my_index as u32 + pods * (n % slots)).min(max - 1)
            }
        }
    }

    /// Programs the anchor of a leg: applied here, or sent to the pool pod.
    async fn program(&mut self, anchor: usize, control: relay::Control) {
        if anchor == self.my_index {
            self.apply_control(control).await;
        } else {
            let to = self.pool_media[anchor].1;
            let _ = self.media.send_to(control.message().as_bytes(), to).await;
        }
    }

    /// Ends the media of the leg with SIP Call-ID `call_id`, if anchored.
    async fn end_relay(&mut self, call_id: &str) {
        if let Some(anchoring) = self.anchorings.remove(call_id) {
            self.anchoring_order.retain(|c| c != call_id);
            let end = relay::Control::End {
                pair: anchoring.pair,
            };
            self.program(anchoring.anchor, end).await;
        }
    }

    /// Moves a message's media address (SDP body, or the offer header) to
    /// the leg's anchor port facing the message's receiver, after telling
    /// the anchor where `side`'s media is: an INVITE (`Side::Up`) opens a
    /// pair (or re-points its up side, for another attempt of the same
    /// leg), a response (`Side::Down`) names the callee's media. Returns
    /// the edits that do it (none when the message names no media
    /// address, or a response belongs to no anchored leg).
    async fn anchor_media(&mut self, message: &Message, side: Side) -> Edits {
        let body_addr = relay::sdp_media_addr(message.body());
        let header_addr = message
            .header(relay::MEDIA_OFFER_HEADER)
            .and_then(|v| v.trim().parse::<SocketAddr>().ok());
        let Some(theirs) = body_addr.or(header_addr) else {
            return Edits::default();
        };
        let call_id = message.call_id().to_string();
        let anchoring = match (side, self.anchorings.get(&call_id).copied()) {
            (Side::Up, Some(anchoring)) => {
                let port = relay::anchor_port(anchoring.pair, Side::Up);
                let peer = relay::Control::Peer { port, addr: theirs };
                self.program(anchoring.anchor, peer).await;
                anchoring
            }
            (Side::Up, None) => {
                let anchor = self.anchor_of(&call_id);
                let pair = self.next_pair(anchor);
                let anchoring = Anchoring { anchor, pair };
                self.remember(call_id.clone(), anchoring);
                let open = relay::Control::Open { pair, up: theirs };
                self.program(anchor, open).await;
                anchoring
            }
            (Side::Down, Some(anchoring)) => {
                let port = relay::anchor_port(anchoring.pair, Side::Down);
                let peer = relay::Control::Peer { port, addr: theirs };
                self.program(anchoring.anchor, peer).await;
                anchoring
            }
            (Side::Down, None) => return Edits::default(),
        };
        // The receiver of the message sends its media to the port that
        // faces it: the callee to the down port, the caller to the up port.
        let facing = match side {
            Side::Up => Side::Down,
            Side::Down => Side::Up,
        };
        let ip = self.pool_media[anchoring.anchor].1.ip();
        let ours = SocketAddr::new(ip, relay::anchor_port(anchoring.pair, facing));
        let mut edits = Edits::default();
        if body_addr.is_some() {
            edits.body = relay::sdp_rewrite(message.body(), ours);
        } else {
            edits.set_headers = vec![(relay::MEDIA_OFFER_HEADER.to_string(), ours.to_string())];
        }
        edits
    }

    /// Keeps the anchoring of a new leg, forgetting the oldest beyond
    /// `relays_max` (its pair is handed out again by then).
    fn remember(&mut self, call_id: String, anchoring: Anchoring) {
        self.anchoring_order.push_back(call_id.clone());
        self.anchorings.insert(call_id, anchoring);
        while self.anchoring_order.len() > self.config.relays_max as usize {
            let oldest = self.anchoring_order.pop_front().expect("over the bound");
            self.anchorings.remove(&oldest);
        }
    }

    // ---- SIP ----

    async fn on_sip(&mut self, bytes: &[u8], from: SocketAddr) {
        let message = match parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                let tag = px::raw_tag(self.tag_salt, bytes);
                if let Some(answer) = raw_error_response(bytes, &e, &tag) {
                    px::send_raw(&self.sip, &answer, from).await;
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

    async fn answer(&self, request: &Message, code: u16, to: SocketAddr) {
        let tag = px::local_tag(self.tag_salt, request);
        if let Some(response) = px::local_response(request, code, &tag) {
            px::send(&self.sip, &response, to, false).await;
        }
    }

    async fn on_request(&mut self, request: Message, from: SocketAddr) {
        let method = request.method().cloned().expect("a request has a method");
        if request.max_forwards() == Some(0) {
            if method != Method::Ack {
                self.answer(&request, 483, from).await;
            }
            return;
        }
        let initial = request.to_tag().is_none();
        let routed = request
            .routes()
            .iter()
            .any(|r| !px::uri_is(&r.uri, self.me));
        match method {
            Method::Invite if initial && !routed => self.on_invite(request, from).await,
            Method::Cancel => self.on_cancel(request, from).await,
            Method::Ack if self.invites.contains_key(&server_key(&request)) => {
                self.on_non_2xx_ack(&request)
            }
            Method::Options if initial && !routed && self.is_for_me(&request) => {
                self.answer(&request, 200, from).await
            }
            _ => self.forward_stateless(request, from, method).await,
        }
    }

    fn is_for_me(&self, request: &Message) -> bool {
        let uri = request.request_uri().unwrap_or_default();
        px::uri_addr(uri).is_some_and(|a| a.ip() == self.me.ip())
            || crate::sip::uri::parse_uri(uri)
                .ok()
                .and_then(|u| u.sip)
                .is_some_and(|sip| sip.host.eq_ignore_ascii_case(&self.name))
    }

    /// Forwards a request by its Route set or Request-URI; an initial
    /// request for this pod goes to a usable next hop.
    async fn forward_stateless(&mut self, request: Message, from: SocketAddr, method: Method) {
        let pop_route = request
            .routes()
            .first()
            .is_some_and(|r| px::uri_is(&r.uri, self.me));
        let uri = request.request_uri().unwrap_or_default().to_string();
        let next_route = request.routes().get(usize::from(pop_route));
        let (target, retarget) = match next_route {
            Some(route) => (px::uri_addr(&route.uri), false),
            None if self.is_for_me(&request) => (
                self.pick_hop(request.call_id(), &[])
                    .map(|h| self.hops[h].sip),
                true,
            ),
            None => (px::uri_addr(&uri), false),
        };
        let Some(target) = target else {
            if method != Method::Ack {
                self.answer(&request, 503, from).await;
            }
            return;
        };
        if method == Method::Bye {
            self.end_relay(request.call_id()).await;
        }
        let branch = px::derived_branch(request.branch().unwrap_or_default(), &self.name);
        let edits = Edits {
            request_uri: retarget.then(|| px::retarget(&uri, target)),
            push_via: Some(px::via_line(self.me, &branch)),
            pop_route,
            decrement_max_forwards: true,
            ..Edits::default()
        };
        if let Ok(forwarded) = edit::apply(&request, &edits) {
            px::send(&self.sip, &forwarded, target, false).await;
        }
    }

    /// A usable next hop not in `tried`, first in the Call-ID's order.
    fn pick_hop(&self, call_id: &str, tried: &[usize]) -> Option<usize> {
        let names: Vec<&str> = self.hops.iter().map(|h| h.name.as_str()).collect();
        px::rendezvous(self.seed, call_id, &names)
            .into_iter()
            .find(|i| !tried.contains(i) && self.health.usable(&self.hops[*i].name))
    }

    async fn on_invite(&mut self, request: Message, from: SocketAddr) {
        let key = server_key(&request);
        if let Some(invite) = self.invites.get(&key) {
            // A retransmission: answer with the latest response, if any.
            if let Some(last) = &invite.last_response {
                px::send(&self.sip, last, invite.reply_to, true).await;
            }
            return;
        }
        let reply_to = request.reply_addr(from);
        // RFC 3261 section 16.2 / 17.2.1: 100 Trying at once, before the
        // INVITE waits for the pod's workers, so the caller stops
        // retransmitting whatever the queue holds.
        let trying = px::local_response(&request, 100, "");
        if let Some(trying) = &trying {
            px::send(&self.sip, trying, reply_to, false).await;
        }
        self.invites.insert(
            key.clone(),
            Invite {
                request,
                reply_to,
                phase: Phase::Admitting,
                last_response: trying,
                attempts: Vec::new(),
                cancelled: false,
                g_interval_ms: self.t1_ms(),
            },
        );
        // Admission costs CPU on the pod's workers; the loop goes on while
        // it runs and hears the result through the channel.
        let (workers, cpu, tx) = (
            self.workers.clone(),
            self.config.invite_cpu.0,
            self.admitted_tx.clone(),
        );
        crate::sim::spawn(async move {
            let admitted = workers.serve(cpu).await;
            let _ = tx.send((key, admitted));
        });
    }

    async fn on_admitted(&mut self, key: &str, admitted: Result<(), Refusal>) {
        let Some(invite) = self.invites.get(key) else {
            return;
        };
        if invite.phase != Phase::Admitting {
            return;
        }
        if let Err(refusal) = admitted {
            self.finish(key, refusal.status()).await;
            return;
        }
        self.invites.get_mut(key).expect("present").phase = Phase::Proceeding;
        self.start_attempt(key).await;
    }

    /// Forwards the INVITE to the next usable hop, or gives up.
    async fn start_attempt(&mut self, key: &str) {
        let (call_id, request, tried, last_code) = {
            let invite = &self.invites[key];
            (
                invite.request.call_id().to_string(),
                invite.request.clone(),
                invite.attempts.iter().map(|a| a.hop).collect::<Vec<_>>(),
                invite.attempts.len(),
            )
        };
        let Some(hop) = self.pick_hop(&call_id, &tried) else {
            // Nothing (more) to try: no usable hop at all is a 503; hops
            // that stayed silent give the timeout code.
            let code = if last_code == 0 {
                503
            } else {
                self.config.timeout_code
            };
            self.finish(key, code).await;
            return;
        };
        let media = self.anchor_media(&request, Side::Up).await;
        let n = tried.len();
        let branch = px::derived_branch(
            &format!("{}:{n}", request.branch().unwrap_or_default()),
            &self.name,
        );
        let target = self.hops[hop].sip;
        let uri = request.request_uri().unwrap_or_default();
        let pop_route = request
            .routes()
            .first()
            .is_some_and(|r| px::uri_is(&r.uri, self.me));
        let edits = Edits {
            request_uri: Some(px::retarget(uri, target)),
            push_via: Some(px::via_line(self.me, &branch)),
            pop_route,
            push_record_route: Some(px::record_route_line(self.me)),
            decrement_max_forwards: true,
            ..media
        };
        let Ok(forwarded) = edit::apply(&request, &edits) else {
            self.finish(key, 500).await;
            return;
        };
        px::send(&self.sip, &forwarded, target, false).await;
        self.track_attempt(key, n, branch, hop, forwarded);
    }

    /// Keeps attempt `n` of `key`, sent to `hop` with the downstream
    /// `branch`, and starts its timers: A (retransmit) and the hop's
    /// silence (`next_hop_timeout`).
    fn track_attempt(
        &mut self,
        key: &str,
        n: usize,
        branch: String,
        hop: usize,
        forwarded: Message,
    ) {
        let now = now_ms();
        let t1 = self.t1_ms();
        self.branches.insert(branch, (key.to_string(), n));
        let invite = self.invites.get_mut(key).expect("present");
        invite.attempts.push(Attempt {
            hop,
            request: forwarded,
            responded: false,
            interval_ms: t1,
            abandoned: false,
            hung_up: false,
        });
        let key = key.to_string();
        self.timers.push(
            now + t1,
            Tm::Retransmit {
                key: key.clone(),
                n,
            },
        );
        self.timers.push(
            now + self.config.next_hop_timeout.as_millis(),
            Tm::NextHop { key, n },
        );
    }

    /// Sends a final failure upstream (the transaction is then Completed).
    async fn finish(&mut self, key: &str, code: u16) {
        let Some(invite) = self.invites.get_mut(key) else {
            return;
        };
        if !matches!(invite.phase, Phase::Admitting | Phase::Proceeding) {
            return;
        }
        let tag = px::local_tag(self.tag_salt, &invite.request);
        let Some(response) = px::local_response(&invite.request, code, &tag) else {
            return;
        };
        self.complete(key, response).await;
    }

    /// Sends `response` (a final failure) upstream and keeps retransmitting
    /// it on timer G until the ACK, or timer H.
    async fn complete(&mut self, key: &str, response: Message) {
        let now = now_ms();
        let (t1, timer_h) = (self.t1_ms(), self.config.timers.timer_h.as_millis() as u64);
        let invite = self.invites.get_mut(key).expect("present");
        invite.phase = Phase::Completed;
        invite.g_interval_ms = t1;
        for attempt in &mut invite.attempts {
            attempt.abandoned = true;
        }
        let reply_to = invite.reply_to;
        invite.last_response = Some(response.clone());
        px::send(&self.sip, &response, reply_to, false).await;
        let key = key.to_string();
        self.timers.push(now + t1, Tm::Final { key: key.clone() });
        self.timers.push(now + timer_h, Tm::Forget { key });
    }

    fn on_non_2xx_ack(&mut self, ack: &Message) {
        let key = server_key(ack);
        if let Some(invite) = self.invites.get_mut(&key) {
            if invite.phase == Phase::Completed {
                // Absorb the ACK and stop timer G (it checks the phase).
                // The transaction stays until timer H from its final
                // answer (not timer I): a 2xx that comes late from
                // downstream must still find it, to be ACKed and hung up
                // rather than relayed as a stray response.
                invite.phase = Phase::Confirmed;
            }
        }
    }

    /// The caller's CANCEL (RFC 3261 sections 9.2 and 16.10): 200 at once;
    /// the INVITE's final answer is the one the next hop gives to the
    /// CANCEL it now gets (normally 487), relayed when it comes. Only an
    /// INVITE not yet forwarded, or a next hop that never answers (silent,
    /// or no final within `cancel_wait`), gets a 487 made here.
    async fn on_cancel(&mut self, cancel: Message, from: SocketAddr) {
        let key = server_key(&cancel);
        if !self.invites.contains_key(&key) {
            self.answer(&cancel, 481, from).await;
            return;
        }
        self.answer(&cancel, 200, from).await;
        let invite = self.invites.get_mut(&key).expect("present");
        if invite.cancelled || !matches!(invite.phase, Phase::Admitting | Phase::Proceeding) {
            return;
        }
        invite.cancelled = true;
        if invite.phase == Phase::Admitting {
            // Nothing went downstream yet.
            self.finish(&key, 487).await;
            return;
        }
        let pending = invite
            .current()
            .filter(|a| !a.abandoned)
            .map(|a| (a.responded, a.request.clone(), a.hop));
        match pending {
            // A hop that has answered is CANCELled now; one that has not
            // yet is CANCELled on its first provisional response (section
            // 9.1), or given up on when it stays silent.
            Some((true, forwarded, hop)) => {
                self.cancel_downstream(&forwarded, self.hops[hop].sip).await
            }
            Some((false, _, _)) => {}
            None => {
                self.finish(&key, 487).await;
                return;
            }
        }
        let wait = self.config.cancel_wait.as_millis();
        self.timers.push(now_ms() + wait, Tm::CancelWait { key });
    }

    /// Sends a CANCEL of `forwarded` (an INVITE sent downstream) to `to`.
    async fn cancel_downstream(&self, forwarded: &Message, to: SocketAddr) {
        if let Ok(cancel) = build_cancel(forwarded) {
            px::send(&self.sip, &cancel, to, false).await;
        }
    }

    async fn on_response(&mut self, response: Message) {
        let top = response.top_via();
        if !top.names(self.me) {
            return;
        }
        let branch = top.branch().unwrap_or_default().to_string();
        if branch.starts_with(PROBE_BRANCH_PREFIX) {
            let code = response.status().unwrap_or(0);
            if code >= 200 {
                self.health.on_answer(&branch, code < 500);
            }
            return;
        }
        if self.own_byes.remove(&branch).is_some() {
            // The answer to a BYE this pod sent: the leg is over.
            return;
        }
        match self.branches.get(&branch).cloned() {
            Some((key, n)) if response.cseq().method == Method::Invite => {
                self.on_invite_response(&key, n, response).await
            }
            _ => self.forward_response(&response).await,
        }
    }

    /// A response to something forwarded statelessly: back by Via.
    async fn forward_response(&self, response: &Message) {
        let Some(next) = response.vias().get(1).and_then(Via::response_addr) else {
            return;
        };
        let edits = Edits {
            pop_via: true,
            ..Edits::default()
        };
        if let Ok(forwarded) = edit::apply(response, &edits) {
            px::send(&self.sip, &forwarded, next, false).await;
        }
    }

    async fn on_invite_response(&mut self, key: &str, n: usize, response: Message) {
        let code = response.status().unwrap_or(0);
        let Some(invite) = self.invites.get_mut(key) else {
            return;
        };
        let phase = invite.phase;
        let cancelled = invite.cancelled;
        let current = invite.attempts.len().saturating_sub(1);
        let attempt = &mut invite.attempts[n];
        let first_response = !attempt.responded;
        attempt.responded = true;
        let (hop, forwarded) = (attempt.hop, attempt.request.clone());
        let abandoned = attempt.abandoned;
        let hung_up = attempt.hung_up;
        let hop_addr = self.hops[hop].sip;

        if code >= 300 {
            // Every final failure is ACKed to the hop (hop by hop).
            if let Ok(ack) = build_ack_for_non_2xx(&forwarded, &response) {
                px::send(&self.sip, &ack, hop_addr, false).await;
            }
        }
        if first_response && !abandoned && n == current {
            self.timers.push(
                now_ms() + self.config.proceeding_timeout.as_millis(),
                Tm::Proceeding {
                    key: key.to_string(),
                },
            );
        }
        let answered_upstream = matches!(phase, Phase::Completed | Phase::Confirmed);
        if (200..300).contains(&code) {
            if answered_upstream || hung_up {
                // The caller already has its final answer (a 487, a 408, the
                // timeout code): this 2xx must not follow it. The leg it
                // came from is ended here instead.
                self.hang_up_downstream(key, n, &response).await;
            } else {
                self.on_invite_2xx(key, &response).await;
            }
            return;
        }
        if code < 200 && first_response && (cancelled || abandoned) {
            // A hop that answers only now, for an INVITE the caller
            // cancelled (or that the SBC gave up on): CANCEL it (section 9.1).
            self.cancel_downstream(&forwarded, hop_addr).await;
        }
        let live = phase == Phase::Proceeding && n == current && !abandoned;
        match code {
            101..=199 if live && !cancelled => {
                let media = self.anchor_media(&response, Side::Down).await;
                self.relay_up(key, &response, media, false).await;
            }
            300..=699 if live => self.on_invite_failure(key, n, code, &response).await,
            _ => {}
        }
    }

    /// A 2xx on attempt `n` after the caller had its final answer: ACK it
    /// (every retransmission too) and, once, BYE the dialog it made on the
    /// downstream leg, so that leg ends rather than waiting for an ACK
    /// that will never come (RFC 3261 section 13.2.2.4 / 15: the answer to
    /// a late 2xx is ACK then BYE).
    async fn hang_up_downstream(&mut self, key: &str, n: usize, response: &Message) {
        let invite = self.invites.get_mut(key).expect("present");
        let attempt = &mut invite.attempts[n];
        let first = !attempt.hung_up;
        attempt.hung_up = true;
        let forwarded = attempt.request.clone();
        let hop_addr = self.hops[attempt.hop].sip;
        let leg = DownstreamLeg::of(&forwarded, response, self.me);
        let to = leg.next_hop().unwrap_or(hop_addr);
        let branch = forwarded.branch().unwrap_or_default().to_string();
        let ack = leg.request(Method::Ack, forwarded.cseq().seq, self.via(&branch, "ack"));
        if let Ok(ack) = ack {
            px::send(&self.sip, &ack, to, !first).await;
        }
        if !first {
            return;
        }
        let bye = leg.request(
            Method::Bye,
            forwarded.cseq().seq.saturating_add(1),
            self.via(&branch, "bye"),
        );
        if let Ok(bye) = bye {
            px::send(&self.sip, &bye, to, false).await;
            let (now, t1) = (now_ms(), self.t1_ms());
            let branch = bye.branch().unwrap_or_default().to_string();
            let give_up_at_ms = now + self.config.timers.timer_f.as_millis() as u64;
            self.timers.push(
                now + t1,
                Tm::ByeRetransmit {
                    branch: branch.clone(),
                },
            );
            let own = OwnBye {
                request: bye,
                to,
                interval_ms: t1,
                give_up_at_ms,
            };
            self.own_byes.insert(branch, own);
        }
        self.end_relay(response.call_id()).await;
    }

    /// This pod's Via for a request it makes on a downstream leg: a branch
    /// derived from the INVITE's and `what`.
    fn via(&self, invite_branch: &str, what: &str) -> ViaSpec {
        ViaSpec {
            host: self.me.ip().to_string(),
            port: self.me.port(),
            branch: px::derived_branch(&format!("{invite_branch}:{what}"), &self.name),
        }
    }

    /// A 2xx (the first or a retransmission) goes upstream with its media
    /// anchored; the first accepts the transaction, which is forgotten
    /// after timer H.
    async fn on_invite_2xx(&mut self, key: &str, response: &Message) {
        let media = self.anchor_media(response, Side::Down).await;
        let invite = self.invites.get_mut(key).expect("present");
        let retransmission = invite.phase == Phase::Accepted;
        if !retransmission {
            invite.phase = Phase::Accepted;
            for a in &mut invite.attempts {
                a.abandoned = true;
            }
            let forget = now_ms() + self.config.timers.timer_h.as_millis() as u64;
            self.timers.push(
                forget,
                Tm::Forget {
                    key: key.to_string(),
                },
            );
        }
        self.relay_up(key, response, media, retransmission).await;
    }

    /// A final failure of the current attempt `n`: a 503 leaves the hop
    /// for the next one while `attempts_max` allows; any other failure
    /// goes upstream.
    async fn on_invite_failure(&mut self, key: &str, n: usize, code: u16, response: &Message) {
        let retry = code == 503 && !self.invites[key].cancelled && self.may_retry(key);
        if retry {
            self.invites.get_mut(key).expect("present").attempts[n].abandoned = true;
            self.start_attempt(key).await;
        } else {
            let edits = Edits {
                pop_via: true,
                ..Edits::default()
            };
            if let Ok(up) = edit::apply(response, &edits) {
                self.complete(key, up).await;
            }
        }
    }

    fn may_retry(&self, key: &str) -> bool {
        self.invites[key].attempts.len() < self.config.attempts_max as usize
    }

    /// Sends a downstream response upstream, with its media address moved
    /// to the anchor (`media`) when it carried one.
    async fn relay_up(
        &mut self,
        key: &str,
        response: &Message,
        media: Edits,
        retransmission: bool,
    ) {
        let edits = Edits {
            pop_via: true,
            ..media
        };
        let Ok(up) = edit::apply(response, &edits) else {
            return;
        };
        let invite = self.invites.get_mut(key).expect("present");
        let reply_to = invite.reply_to;
        invite.last_response = Some(up.clone());
        px::send(&self.sip, &up, reply_to, retransmission).await;
    }

    // ---- timers ----

    async fn on_timers(&mut self) {
        let now = now_ms();
        for probe in self.health.on_timer(now) {
            if let Some(options) = px::probe_request(self.me, &self.name, &probe) {
                px::send(&self.sip, &options, probe.addr, false).await;
            }
        }
        while let Some(timer) = self.timers.pop_due(now) {
            self.on_timer(timer, now).await;
        }
    }

    async fn on_timer(&mut self, timer: Tm, now: u64) {
        match timer {
            Tm::Retransmit { key, n } => self.retransmit(key, n, now).await,
            Tm::NextHop { key, n } => self.on_silent_hop(&key, n).await,
            Tm::Proceeding { key } => self.on_proceeding_timeout(&key).await,
            Tm::Final { key } => self.retransmit_final(key, now).await,
            Tm::CancelWait { key } => self.finish(&key, 487).await,
            Tm::ByeRetransmit { branch } => self.retransmit_bye(branch, now).await,
            Tm::Forget { key } => {
                if self.invites.remove(&key).is_some() {
                    self.branches.retain(|_, (k, _)| *k != key);
                }
            }
        }
    }

    /// Timer A: attempt `n` is sent again until its hop answers, each time
    /// after twice the wait.
    async fn retransmit(&mut self, key: String, n: usize, now: u64) {
        let Some(invite) = self.invites.get_mut(&key) else {
            return;
        };
        let attempt = &mut invite.attempts[n];
        if attempt.responded || attempt.abandoned {
            return;
        }
        attempt.interval_ms *= 2;
        let (request, hop, interval) = (attempt.request.clone(), attempt.hop, attempt.interval_ms);
        px::send(&self.sip, &request, self.hops[hop].sip, true).await;
        self.timers.push(now + interval, Tm::Retransmit { key, n });
    }

    /// The hop of attempt `n` stayed silent: the next hop, while
    /// `attempts_max` allows, else the timeout code upstream.
    async fn on_silent_hop(&mut self, key: &str, n: usize) {
        let Some(invite) = self.invites.get_mut(key) else {
            return;
        };
        let attempt = &mut invite.attempts[n];
        if attempt.responded || attempt.abandoned || invite.phase != Phase::Proceeding {
            return;
        }
        attempt.abandoned = true;
        if invite.cancelled {
            // Nothing to CANCEL (the hop never answered) and no reason to
            // try another: the caller gave up.
            self.finish(key, 487).await;
        } else if self.may_retry(key) {
            self.start_attempt(key).await;
        } else {
            let code = self.config.timeout_code;
            self.finish(key, code).await;
        }
    }

    /// Timer C: no final response in time; the current attempt is
    /// cancelled and the caller gets 408 (487 when it had cancelled). A 2xx
    /// that still comes is ACKed and hung up, not relayed.
    async fn on_proceeding_timeout(&mut self, key: &str) {
        let Some(invite) = self.invites.get_mut(key) else {
            return;
        };
        if invite.phase != Phase::Proceeding {
            return;
        }
        let pending = invite.current().filter(|a| !a.abandoned).map(|a| {
            a.abandoned = true;
            (a.request.clone(), a.hop)
        });
        let code = if invite.cancelled { 487 } else { 408 };
        if let Some((forwarded, hop)) = pending {
            self.cancel_downstream(&forwarded, self.hops[hop].sip).await;
        }
        self.finish(key, code).await;
    }

    /// Timer E of a BYE this pod sent: again, after twice the wait (at
    /// most T2), until a response or timer F.
    async fn retransmit_bye(&mut self, branch: String, now: u64) {
        let t2 = self.config.timers.t2.as_millis() as u64;
        let Some(own) = self.own_byes.get_mut(&branch) else {
            return;
        };
        if now >= own.give_up_at_ms {
            self.own_byes.remove(&branch);
            return;
        }
        own.interval_ms = (own.interval_ms * 2).min(t2);
        let (request, to, interval) = (own.request.clone(), own.to, own.interval_ms);
        px::send(&self.sip, &request, to, true).await;
        self.timers
            .push(now + interval, Tm::ByeRetransmit { branch });
    }

    /// Timer G: the final failure goes upstream again until the ACK, each
    /// time after twice the wait, at most T2.
    async fn retransmit_final(&mut self, key: String, now: u64) {
        let t2 = self.config.timers.t2.as_millis() as u64;
        let Some(invite) = self.invites.get_mut(&key) else {
            return;
        };
        if invite.phase != Phase::Completed {
            return;
        }
        invite.g_interval_ms = (invite.g_interval_ms * 2).min(t2);
        let (response, to, interval) = (
            invite.last_response.clone(),
            invite.reply_to,
            invite.g_interval_ms,
        );
        if let Some(response) = response {
            px::send(&self.sip, &response, to, true).await;
        }
        self.timers.push(now + interval, Tm::Final { key });
    }
}
