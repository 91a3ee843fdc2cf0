//! An SBC pod's data plane: a back-to-back user agent (B2BUA) that keeps
//! INVITE transactions (to retry, time out and cancel), a dialog map of
//! the calls it bridges, and the media relay, run as one event loop over
//! the SIP socket, the media socket, its timers, the health checker and
//! the admission results of its workers.
//!
//! Each call through the pod is two dialogs ([`super::legs`]): upstream,
//! the pod is the UAS (its own To tag and Contact); downstream, the UAC (a
//! new Call-ID, From tag and CSeq, its own Via and Contact). Nothing of
//! one leg's dialog or route reaches the other: topology hiding. No
//! Record-Route either: the pod stays in each dialog as its Contact.
//!
//! An INVITE from upstream (RFC 3261 sections 13 and 17, with the server
//! and client transactions kept here in a compact form):
//! 1. gets 100 Trying at once, then is admitted on the pod's workers (a
//!    refusal is its final answer);
//! 2. gets its media anchored ([`super::anchoring`]): the SDP now names
//!    the anchor port that faces downstream;
//! 3. goes to a usable next hop (rendezvous order of its Call-ID, skipping
//!    hops already tried) as a new INVITE on a new downstream leg (one per
//!    hop tried), retransmitted on T1, 2*T1, ... until the hop answers;
//! 4. a hop silent for `next_hop_timeout`, or answering 503, is left for
//!    the next one while `attempts_max` allows; after that the caller gets
//!    `timeout_code` (or the 503). With `outlier` configured, a hop whose
//!    setups fail in a row is ejected for later calls too
//!    ([`crate::nodes::outlier`]);
//! 5. provisional responses and the 2xx are answered upstream with the
//!    downstream code, the pod's To tag and Contact and the SDP rewritten
//!    (the anchor learns the downstream media address); the first 2xx
//!    makes a bridge in the dialog map. A final failure is ACKed
//!    downstream and answered upstream, retransmitted on timer G until the
//!    caller's ACK;
//! 6. the caller's CANCEL gets 200; the next hop gets a CANCEL once it has
//!    answered anything, and its final answer (normally 487) is the one
//!    answered upstream. The pod makes the 487 itself only when nothing
//!    went downstream yet or the hop never answers (silent, or no final
//!    within `cancel_wait`);
//! 7. each INVITE gets exactly one final answer upstream: a 2xx that
//!    arrives after it (it crossed the CANCEL, or came after Timer C's 408
//!    or the timeout code), or a second 2xx from another leg, is not
//!    answered upstream but ACKed, and the pod sends BYE on the leg it
//!    came from.
//!
//! While the pod drains before a delete (admin `drain`), a new INVITE gets
//! 503 at once (after its 100) and the calls it bridges go on.
//!
//! In-dialog requests are mapped leg to leg by the dialog map
//! ([`super::in_dialog`]); out-of-dialog OPTIONS are answered here (health
//! checks), any other out-of-dialog request but INVITE gets 501.

use super::anchoring::{AnchorRx, AnchorSockets, Anchoring, MEDIA_DATAGRAM_MAX};
use super::dialog_map::{Bridge, DialogMap, OwnAnswer};
use super::legs::{self, Answer, Leg, Outgoing};
use super::relay::{self, RelayTable, Side};
use super::SbcConfig;
use crate::net::UdpEndpoint;
use crate::nodes::health::{HealthChecker, PROBE_BRANCH_PREFIX};
use crate::nodes::outlier::OutlierDetector;
use crate::nodes::ports;
use crate::nodes::sipproxy::edit::Edits;
use crate::nodes::sipproxy::timers::TimerQueue;
use crate::nodes::sipproxy::{self as px, DATAGRAM_MAX};
use crate::nodes::workers::{Pool, Refusal};
use crate::sim::time::now_ms;
use crate::sim::ControlHandle;
use crate::sim::NodeCtx;
use crate::sip::codec::{build_ack_for_non_2xx, build_cancel, raw_error_response};
use crate::sip::{parse, Message, Method};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use tokio::sync::mpsc;

/// A next hop: its name and its SIP address.
struct Hop {
    name: String,
    sip: SocketAddr,
}

/// One forwarding of an INVITE to a next hop.
struct Attempt {
    hop: usize,
    /// The downstream leg this attempt opened (its own Call-ID and tag).
    leg: Leg,
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
    /// A 2xx answered upstream (the call is bridged).
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
    /// The pod's To tag on the upstream leg (every answer carries it).
    tag: String,
    /// The call's history label (`X-Callsim-Call`), copied to every
    /// message of both legs and never read for anything else.
    label: String,
    /// The bridge the first 2xx made.
    bridge: Option<u64>,
}

impl Invite {
    fn current(&mut self) -> Option<&mut Attempt> {
        self.attempts.last_mut()
    }
}

pub(super) enum Tm {
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
    /// Forget an ended bridge (64*T1 after its BYE).
    ForgetBridge { id: u64 },
    /// Timer G of the pod's 2xx to the caller of bridge `id`: again until
    /// the caller's ACK, or timer H, when the pod ends the call.
    Answer2xx {
        id: u64,
        interval_ms: u64,
        give_up_at_ms: u64,
    },
    /// Forget an in-dialog request relayed between legs (by the pod's
    /// branch), 64*T1 after it was relayed.
    ForgetRelayed { branch: String },
}

/// A BYE this pod sent itself on a leg, retransmitted on timer E (T1,
/// 2*T1, ... at most T2) until any response, or until timer F.
pub(super) struct OwnBye {
    request: Message,
    to: SocketAddr,
    interval_ms: u64,
    give_up_at_ms: u64,
}

pub(super) struct Sbc {
    pub(super) ctx: NodeCtx,
    pub(super) name: String,
    /// Seeds the To tags of the pod's own answers ([`px::local_tag`]) and
    /// the Call-IDs and From tags of its downstream legs.
    pub(super) tag_salt: u64,
    pub(super) seed: u64,
    pub(super) config: SbcConfig,
    pub(super) control: ControlHandle,
    pub(super) sip: UdpEndpoint,
    /// The pod's media port: control datagrams from the signalling pods
    /// of a pool.
    pub(super) media: UdpEndpoint,
    pub(super) me: SocketAddr,
    /// The pod's Contact on both legs.
    pub(super) contact: String,
    hops: Vec<Hop>,
    /// Media (control) addresses of the pods of this section (the anchor
    /// pool), and this pod's index among them.
    pub(super) pool_media: Vec<(String, SocketAddr)>,
    pub(super) my_index: usize,
    health: HealthChecker,
    /// Outlier ejection of next hops, when configured.
    pub(super) outlier: Option<OutlierDetector>,
    /// With media outlier judging: the down anchor ports of answered calls
    /// whose first media from the callee's side is awaited, to their
    /// media keys.
    pub(super) media_watch: BTreeMap<u16, String>,
    pub(super) timers: TimerQueue<Tm>,
    invites: BTreeMap<String, Invite>,
    /// Downstream branch -> (transaction key, attempt index).
    branches: BTreeMap<String, (String, usize)>,
    /// The calls this pod bridges, and the requests it relays in them.
    pub(super) dialogs: DialogMap,
    /// The anchor ports this pod relays between.
    pub(super) relays: RelayTable,
    pub(super) anchor_sockets: AnchorSockets,
    /// The calls whose media this pod anchors, by media key, with the
    /// order they came in (at most `relays_max`, the oldest forgotten
    /// first).
    pub(super) anchorings: BTreeMap<String, Anchoring>,
    pub(super) anchoring_order: VecDeque<String>,
    /// BYEs this pod sent itself and not yet answered, by branch.
    pub(super) own_byes: BTreeMap<String, OwnBye>,
    /// Per anchoring pod: how many pairs this pod has handed out there.
    pub(super) pairs_handed: BTreeMap<usize, u32>,
    workers: Pool,
    admitted_tx: mpsc::UnboundedSender<(String, Result<(), Refusal>)>,
    /// The admin port's view: draining before a delete.
    liveness: crate::nodes::admin::Liveness,
}

pub async fn serve(
    ctx: &NodeCtx,
    config: SbcConfig,
    liveness: crate::nodes::admin::Liveness,
) -> turmoil::Result {
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
        contact: format!("sip:{}:{}", sip.local_addr().ip(), sip.local_addr().port()),
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
        outlier: config
            .outlier
            .map(|c| OutlierDetector::new(c, targets.iter().map(|(n, _)| n.clone()))),
        media_watch: BTreeMap::new(),
        timers: TimerQueue::default(),
        invites: BTreeMap::new(),
        branches: BTreeMap::new(),
        dialogs: DialogMap::default(),
        relays: RelayTable::new(config.relays_max),
        anchor_sockets: AnchorSockets::new(anchor_tx),
        anchorings: BTreeMap::new(),
        anchoring_order: VecDeque::new(),
        own_byes: BTreeMap::new(),
        pairs_handed: BTreeMap::new(),
        workers: Pool::new(ctx, config.pool),
        admitted_tx,
        config,
        liveness,
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
        let outlier_deadline = sbc.outlier.as_ref().and_then(|o| o.next_deadline_ms());
        let deadline = [
            sbc.timers.next_deadline_ms(),
            sbc.health.next_deadline_ms(),
            outlier_deadline,
        ]
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
pub(super) fn server_key(request: &Message) -> String {
    let via = request.top_via();
    format!("{}|{}", via.branch().unwrap_or_default(), via.sent_by())
}

impl Sbc {
    pub(super) fn t1_ms(&self) -> u64 {
        self.config.timers.t1.as_millis() as u64
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

    pub(super) async fn answer(&self, request: &Message, code: u16, to: SocketAddr) {
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
        match method {
            Method::Invite if initial => self.on_invite(request, from).await,
            Method::Cancel => self.on_cancel(request, from).await,
            Method::Ack if self.is_non_2xx_ack(&request) => self.on_non_2xx_ack(&request),
            // A health check, or any OPTIONS outside a dialog: the pod
            // answers for itself (a B2BUA ends every request it gets).
            Method::Options if initial => self.answer(&request, 200, from).await,
            _ if !initial => self.on_in_dialog(request, from).await,
            Method::Ack => {}
            _ => self.answer(&request, 501, from).await,
        }
    }

    /// An ACK in an INVITE server transaction that answered a final
    /// failure (the ACK of a 2xx is a request of its own, in the dialog).
    fn is_non_2xx_ack(&self, ack: &Message) -> bool {
        self.invites
            .get(&server_key(ack))
            .is_some_and(|i| matches!(i.phase, Phase::Completed | Phase::Confirmed))
    }

    /// A usable next hop not in `tried`, first in the Call-ID's order.
    fn pick_hop(&self, call_id: &str, tried: &[usize]) -> Option<usize> {
        let names: Vec<&str> = self.hops.iter().map(|h| h.name.as_str()).collect();
        let now = now_ms();
        let usable = |name: &str| {
            self.health.usable(name) && self.outlier.as_ref().is_none_or(|o| o.usable(name, now))
        };
        px::rendezvous(self.seed, call_id, &names)
            .into_iter()
            .find(|i| !tried.contains(i) && usable(&self.hops[*i].name))
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
        let tag = px::local_tag(self.tag_salt, &request);
        // The one read of the history label: a copy for the other leg.
        let label = request.callsim_call().unwrap_or_default().to_string();
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
                tag,
                label,
                bridge: None,
            },
        );
        if self.liveness.is_draining() {
            // Draining before a delete: the caller should try another
            // entry now; calls already bridged go on.
            self.finish(&key, 503).await;
            return;
        }
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
        let media = self.anchor_media(&call_id, &request, Side::Up).await;
        let n = tried.len();
        let branch = px::derived_branch(
            &format!("{}:{n}", request.branch().unwrap_or_default()),
            &self.name,
        );
        let target = self.hops[hop].sip;
        let leg = Leg::downstream(self.tag_salt, &request, n, self.me, target);
        let uri = leg.remote_target.clone();
        let out = Outgoing {
            method: &Method::Invite,
            cseq: leg.local_cseq,
            via: px::via_line(self.me, &branch),
            max_forwards: request.max_forwards().unwrap_or(70).saturating_sub(1),
            contact: Some(self.contact.clone()),
            label: &self.invites[key].label,
        };
        let built = legs::request(
            &leg,
            &uri,
            &out,
            Some(&request),
            &media.set_headers,
            media.body.as_deref(),
        );
        let Ok(forwarded) = built else {
            self.finish(key, 500).await;
            return;
        };
        px::send(&self.sip, &forwarded, target, false).await;
        self.track_attempt(key, n, branch, hop, leg, forwarded);
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
        leg: Leg,
        forwarded: Message,
    ) {
        let now = now_ms();
        let t1 = self.t1_ms();
        if let Some(outlier) = &mut self.outlier {
            let media_key = self.invites[key].request.call_id();
            let media_key = outlier.judges_media().then_some(media_key);
            outlier.setup_started(&branch, &self.hops[hop].name, media_key, now);
        }
        self.branches.insert(branch, (key.to_string(), n));
        let invite = self.invites.get_mut(key).expect("present");
        invite.attempts.push(Attempt {
            hop,
            leg,
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
        let invite_response = response.cseq().method == Method::Invite;
        if let (Some(outlier), true) = (&mut self.outlier, invite_response) {
            let code = response.status().unwrap_or(0);
            if code >= 200 {
                outlier.setup_finished(&branch, code, now_ms());
            } else {
                outlier.setup_progressed(&branch, now_ms());
            }
        }
        match self.branches.get(&branch).cloned() {
            Some((key, n)) if invite_response => self.on_invite_response(&key, n, response).await,
            _ => self.on_relayed_response(&branch, response).await,
        }
    }

    async fn on_invite_response(&mut self, key: &str, n: usize, response: Message) {
        let code = response.status().unwrap_or(0);
        let Some(invite) = self.invites.get_mut(key) else {
            return;
        };
        let phase = invite.phase;
        let cancelled = invite.cancelled;
        let bridge = invite.bridge;
        let current = invite.attempts.len().saturating_sub(1);
        let attempt = &mut invite.attempts[n];
        let first_response = !attempt.responded;
        attempt.responded = true;
        let (hop, forwarded) = (attempt.hop, attempt.request.clone());
        let abandoned = attempt.abandoned;
        let hung_up = attempt.hung_up;
        let hop_addr = self.hops[hop].sip;

        if code >= 300 {
            // Every final failure is ACKed to the hop (section 17.1.1.3).
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
            let bridged_leg = bridge
                .and_then(|id| self.dialogs.get(id))
                .map(|b| (b.down.call_id.clone(), b.down.remote.tag.clone()));
            let this_leg = (
                response.call_id().to_string(),
                response.to_tag().map(str::to_string),
            );
            match bridged_leg {
                // A retransmission of the 2xx that made the bridge.
                Some(leg) if leg == this_leg => self.on_2xx_again(key, bridge, &response).await,
                // Another 2xx after the caller's final answer (a 487, a
                // 408, the timeout code, or the 2xx of another leg): this
                // one must not follow it. Its leg is ended here instead.
                Some(_) => self.hang_up_downstream(key, n, &response).await,
                None if answered_upstream || hung_up => {
                    self.hang_up_downstream(key, n, &response).await
                }
                None => self.on_invite_2xx(key, n, &response).await,
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
                let media_key = self.invites[key].request.call_id().to_string();
                let media = self.anchor_media(&media_key, &response, Side::Down).await;
                self.answer_up(key, &response, media, false).await;
            }
            300..=699 if live => self.on_invite_failure(key, n, code, &response).await,
            _ => {}
        }
    }

    /// The 2xx that made the bridge, again (its ACK was lost or not yet
    /// sent): the ACK again if the caller's ACK already came and the pod
    /// sent its own, else the 2xx upstream again, whose ACK will come.
    async fn on_2xx_again(&mut self, key: &str, bridge: Option<u64>, response: &Message) {
        let resend = bridge.and_then(|id| {
            let b = self.dialogs.get_mut(id)?;
            b.invite_to(Side::Down, response.cseq().seq)?.ack.clone()
        });
        match resend {
            Some((ack, to)) => px::send(&self.sip, &ack, to, true).await,
            None => {
                let invite = &self.invites[key];
                if let Some(last) = &invite.last_response {
                    px::send(&self.sip, last, invite.reply_to, true).await;
                }
            }
        }
    }

    /// A 2xx on attempt `n` that must not be answered upstream: ACK it
    /// (every retransmission too) and, once, BYE the dialog it made on the
    /// downstream leg, so that leg ends rather than waiting for an ACK
    /// that will never come (RFC 3261 section 13.2.2.4 / 15: the answer to
    /// an unwanted 2xx is ACK then BYE).
    async fn hang_up_downstream(&mut self, key: &str, n: usize, response: &Message) {
        let invite = self.invites.get_mut(key).expect("present");
        let bridged = invite.bridge.is_some();
        let media_key = invite.request.call_id().to_string();
        let label = invite.label.clone();
        let attempt = &mut invite.attempts[n];
        let first = !attempt.hung_up;
        attempt.hung_up = true;
        let forwarded = attempt.request.clone();
        let hop_addr = self.hops[attempt.hop].sip;
        let mut leg = attempt.leg.answered(response);
        let to = leg.next_hop().unwrap_or(hop_addr);
        let branch = forwarded.branch().unwrap_or_default().to_string();
        let seq = forwarded.cseq().seq;
        let ack = self.own_request(&leg, &Method::Ack, seq, &branch, "ack", &label);
        if let Some(ack) = ack {
            px::send(&self.sip, &ack, to, !first).await;
        }
        if !first {
            return;
        }
        leg.local_cseq = forwarded.cseq().seq;
        let cseq = leg.next_cseq();
        if let Some(bye) = self.own_request(&leg, &Method::Bye, cseq, &branch, "bye", &label) {
            self.send_own_bye(bye, to).await;
        }
        if !bridged {
            // The call never connected: its media anchoring goes too (a
            // bridged call keeps it for the leg that did connect).
            self.end_relay(&media_key).await;
        }
    }

    /// A request the pod makes itself on `leg` (an ACK, a BYE), with a
    /// Via branch derived from `seed_branch` and `what`.
    pub(super) fn own_request(
        &self,
        leg: &Leg,
        method: &Method,
        cseq: u32,
        seed_branch: &str,
        what: &str,
        label: &str,
    ) -> Option<Message> {
        let branch = px::derived_branch(&format!("{seed_branch}:{what}"), &self.name);
        let out = Outgoing {
            method,
            cseq,
            via: px::via_line(self.me, &branch),
            max_forwards: crate::sip::dialog::MAX_FORWARDS,
            contact: None,
            label,
        };
        legs::request(leg, &leg.remote_target, &out, None, &[], None).ok()
    }

    /// Sends a BYE the pod made and retransmits it on timer E until any
    /// answer or timer F.
    pub(super) async fn send_own_bye(&mut self, bye: Message, to: SocketAddr) {
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

    /// The first 2xx (of attempt `n`): the call is bridged, the 2xx
    /// answered upstream with its media anchored, and the transaction
    /// forgotten after timer H.
    async fn on_invite_2xx(&mut self, key: &str, n: usize, response: &Message) {
        let media_key = self.invites[key].request.call_id().to_string();
        let media = self.anchor_media(&media_key, response, Side::Down).await;
        self.watch_media(&media_key);
        let invite = self.invites.get_mut(key).expect("present");
        invite.phase = Phase::Accepted;
        for a in &mut invite.attempts {
            a.abandoned = true;
        }
        let attempt = &invite.attempts[n];
        let mut bridge = Bridge {
            up: Leg::upstream(&invite.request, &invite.tag, invite.reply_to),
            down: attempt.leg.answered(response),
            media_key,
            label: invite.label.clone(),
            invites: VecDeque::new(),
            ended: false,
        };
        let (cseq_in, cseq_out) = (invite.request.cseq().seq, attempt.request.cseq().seq);
        bridge.relayed_invite(Side::Up, cseq_in, cseq_out);
        let branch = attempt.request.branch().unwrap_or_default().to_string();
        let down = bridge.down.clone();
        let label = invite.label.clone();
        let id = self.dialogs.insert(bridge);
        self.invites.get_mut(key).expect("present").bridge = Some(id);
        let forget = now_ms() + self.config.timers.timer_h.as_millis() as u64;
        self.timers.push(
            forget,
            Tm::Forget {
                key: key.to_string(),
            },
        );
        // The callee's 2xx is ACKed here and now (the pod is its UAC).
        let ack = self.own_request(&down, &Method::Ack, cseq_out, &branch, "ack", &label);
        let ack = ack.zip(down.next_hop());
        if let Some((ack, to)) = &ack {
            px::send(&self.sip, ack, *to, false).await;
        }
        self.answer_up(key, response, media, false).await;
        // The caller's 2xx is the pod's own (it is the caller's UAS): sent
        // again on timer G until the caller's ACK.
        let invite = &self.invites[key];
        let own = invite.last_response.clone().map(|response| OwnAnswer {
            response,
            to: invite.reply_to,
            acked: false,
        });
        let map = self
            .dialogs
            .get_mut(id)
            .and_then(|b| b.invite_from(Side::Up, cseq_in));
        if let Some(map) = map {
            map.answered = true;
            map.ack = ack;
            map.own = own;
        }
        let (now, t1) = (now_ms(), self.t1_ms());
        self.timers.push(
            now + t1,
            Tm::Answer2xx {
                id,
                interval_ms: t1,
                give_up_at_ms: forget,
            },
        );
    }

    /// Timer G of the pod's 2xx to a caller: again, after twice the wait
    /// (at most T2), until the caller's ACK; none by timer H ends the call
    /// with a BYE on each leg (RFC 3261 section 13.3.1.4).
    async fn retransmit_2xx(&mut self, id: u64, interval_ms: u64, give_up_at_ms: u64, now: u64) {
        // A BYE does not stop it: the caller's ACK may have been lost
        // just before its BYE, and it ACKs each retransmission.
        let Some(bridge) = self.dialogs.get_mut(id) else {
            return;
        };
        let ended = bridge.ended;
        let own = bridge
            .invites
            .iter()
            .find_map(|m| m.own.as_ref())
            .filter(|own| !own.acked)
            .cloned();
        let Some(own) = own else {
            return;
        };
        if now >= give_up_at_ms {
            if !ended {
                self.end_bridge(id).await;
            }
            return;
        }
        px::send(&self.sip, &own.response, own.to, true).await;
        let t2 = self.config.timers.t2.as_millis() as u64;
        let interval_ms = (interval_ms * 2).min(t2);
        self.timers.push(
            (now + interval_ms).min(give_up_at_ms),
            Tm::Answer2xx {
                id,
                interval_ms,
                give_up_at_ms,
            },
        );
    }

    /// A final failure of the current attempt `n`: a 503 leaves the hop
    /// for the next one while `attempts_max` allows; any other failure
    /// is answered upstream.
    async fn on_invite_failure(&mut self, key: &str, n: usize, code: u16, response: &Message) {
        let retry = code == 503 && !self.invites[key].cancelled && self.may_retry(key);
        if retry {
            self.invites.get_mut(key).expect("present").attempts[n].abandoned = true;
            self.start_attempt(key).await;
            return;
        }
        let invite = &self.invites[key];
        let answer = Answer {
            code,
            reason: legs::reason(response),
            to_tag: Some(&invite.tag),
            contact: None,
            label: &invite.label,
        };
        if let Ok(up) = legs::response(&invite.request, &answer, Some(response), &[], None) {
            self.complete(key, up).await;
        }
    }

    fn may_retry(&self, key: &str) -> bool {
        self.invites[key].attempts.len() < self.config.attempts_max as usize
    }

    /// Answers the caller with a downstream provisional response or 2xx:
    /// its code and hop-free headers, the pod's To tag and Contact, and
    /// its media address moved to the anchor (`media`) when it carried one.
    async fn answer_up(
        &mut self,
        key: &str,
        response: &Message,
        media: Edits,
        retransmission: bool,
    ) {
        let invite = self.invites.get_mut(key).expect("present");
        let answer = Answer {
            code: response.status().unwrap_or(0),
            reason: legs::reason(response),
            to_tag: Some(&invite.tag),
            contact: Some(self.contact.clone()),
            label: &invite.label,
        };
        let built = legs::response(
            &invite.request,
            &answer,
            Some(response),
            &media.set_headers,
            media.body.as_deref(),
        );
        let Ok(up) = built else {
            return;
        };
        let reply_to = invite.reply_to;
        invite.last_response = Some(up.clone());
        px::send(&self.sip, &up, reply_to, retransmission).await;
    }

    // ---- timers ----

    async fn on_timers(&mut self) {
        let now = now_ms();
        if let Some(outlier) = &mut self.outlier {
            outlier.on_timer(now);
        }
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
            Tm::ForgetBridge { id } => self.dialogs.remove(id),
            Tm::Answer2xx {
                id,
                interval_ms,
                give_up_at_ms,
            } => {
                self.retransmit_2xx(id, interval_ms, give_up_at_ms, now)
                    .await
            }
            Tm::ForgetRelayed { branch } => self.dialogs.forget_relayed(&branch),
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
