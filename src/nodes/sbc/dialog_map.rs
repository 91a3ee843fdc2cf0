//! An SBC pod's dialog map: each answered call is a [`Bridge`] of two
//! legs (the upstream dialog, where the pod is the UAS, and the
//! downstream one, where it is the UAC), found from either leg by that
//! leg's Call-ID and the pod's own tag on it, which every in-dialog
//! request carries in its To header. Nothing here reads the history label
//! `X-Callsim-Call`.
//!
//! The map also keeps the in-dialog requests the pod relays from one leg
//! to the other ([`Relayed`]), by the branch of the pod's own Via, so
//! that their responses map back; and, per bridge, which INVITE on one
//! leg became which on the other ([`InviteMap`]), so that the ACK for a
//! 2xx (end to end per leg, RFC 3261 section 13.2.2.4) maps too.
//!
//! Bounded: at most [`BRIDGES_MAX`] bridges, the oldest forgotten first;
//! relayed requests are forgotten on a timer by their owner.

use super::legs::Leg;
use super::relay::Side;
use crate::sip::Message;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

/// Most bridges a pod keeps; beyond it the oldest is forgotten (its legs
/// then get 481 for their in-dialog requests).
pub const BRIDGES_MAX: usize = 1 << 16;

/// INVITEs remembered per bridge for their ACKs (the initial one and the
/// latest re-INVITEs).
const INVITES_KEPT: usize = 4;

/// The other side of a bridge.
pub fn other(side: Side) -> Side {
    match side {
        Side::Up => Side::Down,
        Side::Down => Side::Up,
    }
}

/// An INVITE relayed from `from`'s leg (CSeq `cseq_in` there) to the other
/// leg (CSeq `cseq_out`), whether that leg answered it 2xx, and the ACK the
/// pod sent there for the 2xx (sent again for a retransmitted 2xx).
#[derive(Debug, Clone)]
pub struct InviteMap {
    pub from: Side,
    pub cseq_in: u32,
    pub cseq_out: u32,
    pub answered: bool,
    pub ack: Option<(Message, SocketAddr)>,
    /// The initial INVITE: the pod ACKed the callee's 2xx on its own and
    /// answers the caller as a UAS, retransmitting its 2xx until the
    /// caller's ACK.
    pub own: Option<OwnAnswer>,
}

/// The 2xx the pod answered the caller's INVITE with, and whether the
/// caller's ACK came.
#[derive(Debug, Clone)]
pub struct OwnAnswer {
    pub response: Message,
    pub to: SocketAddr,
    pub acked: bool,
}

/// One answered call: its two legs.
#[derive(Debug, Clone)]
pub struct Bridge {
    pub up: Leg,
    pub down: Leg,
    /// The key of the call's media anchoring (the upstream Call-ID).
    pub media_key: String,
    /// The history label, copied to both legs.
    pub label: String,
    pub invites: VecDeque<InviteMap>,
    /// A BYE ended it: its legs get 200 for a repeated BYE, 481 otherwise,
    /// until it is forgotten.
    pub ended: bool,
}

impl Bridge {
    pub fn leg(&self, side: Side) -> &Leg {
        match side {
            Side::Up => &self.up,
            Side::Down => &self.down,
        }
    }

    pub fn leg_mut(&mut self, side: Side) -> &mut Leg {
        match side {
            Side::Up => &mut self.up,
            Side::Down => &mut self.down,
        }
    }

    /// Remembers an INVITE relayed from `from` (its ACK may follow).
    pub fn relayed_invite(&mut self, from: Side, cseq_in: u32, cseq_out: u32) {
        self.invites.push_back(InviteMap {
            from,
            cseq_in,
            cseq_out,
            answered: false,
            ack: None,
            own: None,
        });
        while self.invites.len() > INVITES_KEPT {
            self.invites.pop_front();
        }
    }

    /// The INVITE that came from `from` with CSeq `cseq_in`.
    pub fn invite_from(&mut self, from: Side, cseq_in: u32) -> Option<&mut InviteMap> {
        self.invites
            .iter_mut()
            .find(|m| m.from == from && m.cseq_in == cseq_in)
    }

    /// The INVITE the pod sent on `to`'s leg with CSeq `cseq_out`.
    pub fn invite_to(&mut self, to: Side, cseq_out: u32) -> Option<&mut InviteMap> {
        self.invites
            .iter_mut()
            .find(|m| other(m.from) == to && m.cseq_out == cseq_out)
    }
}

/// An in-dialog request relayed from `from`'s leg of `bridge` to the
/// other leg: the request as it came and where its answers go, the
/// request as sent and where, and the latest final answer (sent again to
/// a retransmission).
#[derive(Debug, Clone)]
pub struct Relayed {
    pub bridge: u64,
    pub from: Side,
    pub incoming: Message,
    pub reply_to: SocketAddr,
    pub out: Message,
    pub out_to: SocketAddr,
    pub last_final: Option<Message>,
}

/// The pod's bridges and relayed requests.
#[derive(Default)]
pub struct DialogMap {
    bridges: BTreeMap<u64, Bridge>,
    /// (Call-ID, the pod's tag on the leg) -> (bridge, side of the leg).
    index: BTreeMap<(String, String), (u64, Side)>,
    next_id: u64,
    /// Relayed requests by the branch of the pod's Via on them.
    relayed: BTreeMap<String, Relayed>,
    /// The incoming request's transaction key -> the pod's branch.
    by_incoming: BTreeMap<String, String>,
}

impl DialogMap {
    /// Adds a bridge and returns its id, forgetting the oldest beyond
    /// [`BRIDGES_MAX`].
    pub fn insert(&mut self, bridge: Bridge) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        for side in [Side::Up, Side::Down] {
            let leg = bridge.leg(side);
            let tag = leg.local.tag.clone().unwrap_or_default();
            self.index.insert((leg.call_id.clone(), tag), (id, side));
        }
        self.bridges.insert(id, bridge);
        while self.bridges.len() > BRIDGES_MAX {
            let oldest = *self.bridges.keys().next().expect("over the bound");
            self.remove(oldest);
        }
        id
    }

    /// The bridge and side of the leg with `call_id` on which the pod's
    /// tag is `local_tag`.
    pub fn find(&self, call_id: &str, local_tag: &str) -> Option<(u64, Side)> {
        self.index
            .get(&(call_id.to_string(), local_tag.to_string()))
            .copied()
    }

    pub fn get(&self, id: u64) -> Option<&Bridge> {
        self.bridges.get(&id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut Bridge> {
        self.bridges.get_mut(&id)
    }

    pub fn remove(&mut self, id: u64) {
        if let Some(bridge) = self.bridges.remove(&id) {
            for side in [Side::Up, Side::Down] {
                let leg = bridge.leg(side);
                let tag = leg.local.tag.clone().unwrap_or_default();
                self.index.remove(&(leg.call_id.clone(), tag));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.bridges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bridges.is_empty()
    }

    /// Keeps a relayed request under the pod's `branch`, found again by
    /// the incoming transaction's `incoming_key`.
    pub fn relay(&mut self, branch: String, incoming_key: String, relayed: Relayed) {
        self.by_incoming.insert(incoming_key, branch.clone());
        self.relayed.insert(branch, relayed);
    }

    /// The relayed request an incoming request (a retransmission, or the
    /// ACK of a non-2xx final answer) belongs to.
    pub fn relayed_for(&mut self, incoming_key: &str) -> Option<&mut Relayed> {
        let branch = self.by_incoming.get(incoming_key)?;
        self.relayed.get_mut(branch)
    }

    pub fn relayed(&mut self, branch: &str) -> Option<&mut Relayed> {
        self.relayed.get_mut(branch)
    }

    pub fn forget_relayed(&mut self, branch: &str) {
        self.relayed.remove(branch);
        self.by_incoming.retain(|_, b| b != branch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::codec::AddrSpec;

    fn leg(call_id: &str, tag: &str) -> Leg {
        Leg {
            call_id: call_id.into(),
            local: AddrSpec {
                uri: "sip:a@192.168.0.1".into(),
                tag: Some(tag.into()),
            },
            remote: AddrSpec {
                uri: "sip:b@192.168.0.2".into(),
                tag: Some("r".into()),
            },
            remote_target: "sip:b@192.168.0.2:5060".into(),
            route_set: Vec::new(),
            local_cseq: 1,
        }
    }

    fn bridge(n: u32) -> Bridge {
        Bridge {
            up: leg(&format!("up-{n}"), "u"),
            down: leg(&format!("down-{n}"), "d"),
            media_key: format!("up-{n}"),
            label: "in-1".into(),
            invites: VecDeque::new(),
            ended: false,
        }
    }

    /// Each leg finds its bridge by its own Call-ID and the pod's tag; a
    /// label or the other leg's tag finds nothing.
    #[test]
    fn each_leg_finds_its_bridge_by_its_own_dialog_id() {
        let mut map = DialogMap::default();
        let id = map.insert(bridge(1));
        assert_eq!(map.find("up-1", "u"), Some((id, Side::Up)));
        assert_eq!(map.find("down-1", "d"), Some((id, Side::Down)));
        assert_eq!(map.find("up-1", "d"), None);
        assert_eq!(map.find("in-1", "u"), None);
        map.remove(id);
        assert_eq!(map.find("up-1", "u"), None);
        assert!(map.is_empty());
    }

    #[test]
    fn the_acks_of_relayed_invites_map_by_cseq() {
        let mut b = bridge(1);
        for n in 0..10 {
            b.relayed_invite(Side::Up, 7 + n, 1 + n);
        }
        assert_eq!(b.invites.len(), INVITES_KEPT, "bounded");
        assert_eq!(b.invite_from(Side::Up, 16).map(|m| m.cseq_out), Some(10));
        assert!(b.invite_from(Side::Down, 16).is_none());
        assert_eq!(b.invite_to(Side::Down, 10).map(|m| m.cseq_in), Some(16));
    }
}
