//! An SBC pod's media anchoring: which pod and which pair of anchor ports
//! carry a call's media, the SDP (or offer header) rewrite that points
//! each side at the port facing it, the control datagrams that program a
//! remote anchor of the pool, and the relay of the datagrams themselves
//! (by address, never by what they carry; see [`super::relay`]).
//!
//! A call's anchoring is keyed by its *media key*, the upstream leg's
//! SIP Call-ID at the signalling pod; the downstream leg's Call-ID (the
//! pod's own) never names it.

use super::pod::Sbc;
use super::relay::{self, Side};
use super::MediaAnchor;
use crate::net::UdpEndpoint;
use crate::nodes::sipproxy::edit::Edits;
use crate::nodes::sipproxy::{self as px};
use crate::sim::control::GrayMode;
use crate::sim::NodeCtx;
use crate::sip::Message;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio::sync::mpsc;

/// Where one call's media is anchored: a pair of ports on a pod of the
/// section, keyed by the call's media key at the signalling pod.
#[derive(Debug, Clone, Copy)]
pub(super) struct Anchoring {
    /// Index of the anchoring pod in `pool_media`.
    anchor: usize,
    pair: u32,
}

/// Datagrams that arrived at anchor ports: (port, bytes, sender).
pub(super) type AnchorRx = mpsc::UnboundedReceiver<(u16, Vec<u8>, SocketAddr)>;

/// This pod's bound anchor ports, each with a task that hands its
/// datagrams to the event loop; dropping it stops the tasks (and so
/// releases the sockets, for the next incarnation of the data plane).
pub(super) struct AnchorSockets {
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
    pub(super) fn new(tx: mpsc::UnboundedSender<(u16, Vec<u8>, SocketAddr)>) -> AnchorSockets {
        AnchorSockets {
            sockets: BTreeMap::new(),
            tasks: Vec::new(),
            tx,
        }
    }

    /// Binds the two ports of `pair`, if not yet bound. A port that cannot
    /// be bound stays unbound: its media is lost, as on a real host.
    pub(super) async fn bind_pair(&mut self, ctx: &NodeCtx, pair: u32) {
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
pub(super) const MEDIA_DATAGRAM_MAX: usize = 512;

impl Sbc {
    // ---- media ----

    /// A datagram at anchor `port`: out of the pair's other port to the
    /// other side, by address only (its payload is never read).
    pub(super) async fn on_media(&mut self, port: u16, bytes: &[u8], from: SocketAddr) {
        if self.control.faults().gray == Some(GrayMode::Media) {
            return;
        }
        let relearn = self.config.relearn_media;
        let Some(forward) = self.relays.forward(port, from, relearn) else {
            return;
        };
        if let Some(media_key) = self.media_watch.remove(&port) {
            if let Some(outlier) = &mut self.outlier {
                outlier.media_arrived(&media_key, crate::sim::time::now_ms());
            }
        }
        if let Some(socket) = self.anchor_sockets.sockets.get(&forward.from_port) {
            let _ = socket.send_to(bytes, forward.to).await;
        }
    }

    /// A control datagram from a signalling pod of the section.
    pub(super) async fn on_control(&mut self, bytes: &[u8]) {
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

    /// With media outlier judging, watches the down port of the answered
    /// call `key` for its first media from the callee's side, if the
    /// detector awaits it and this pod anchors it (the only media a pod
    /// sees).
    pub(super) fn watch_media(&mut self, key: &str) {
        let awaited = self.outlier.as_ref().is_some_and(|o| o.awaits_media(key));
        match self.anchorings.get(key) {
            Some(a) if awaited && a.anchor == self.my_index => {
                let port = relay::anchor_port(a.pair, Side::Down);
                self.media_watch.insert(port, key.to_string());
            }
            // Not anchored here (or not at all): its media cannot judge it.
            _ if awaited => self.outlier.as_mut().expect("awaits").call_ended(key),
            _ => {}
        }
    }

    /// Ends the media of the call with media key `key`, if anchored.
    pub(super) async fn end_relay(&mut self, key: &str) {
        if let Some(outlier) = &mut self.outlier {
            outlier.call_ended(key);
        }
        if let Some(anchoring) = self.anchorings.get(key) {
            self.media_watch
                .remove(&relay::anchor_port(anchoring.pair, Side::Down));
        }
        if let Some(anchoring) = self.anchorings.remove(key) {
            self.anchoring_order.retain(|c| c != key);
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
    pub(super) async fn anchor_media(&mut self, key: &str, message: &Message, side: Side) -> Edits {
        let body_addr = relay::sdp_media_addr(message.body());
        let header_addr = message
            .header(relay::MEDIA_OFFER_HEADER)
            .and_then(|v| v.trim().parse::<SocketAddr>().ok());
        let Some(theirs) = body_addr.or(header_addr) else {
            return Edits::default();
        };
        let call_id = key.to_string();
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
}
