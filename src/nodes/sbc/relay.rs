//! The SBC pods' media relay: anchors each call leg's media on a pair of
//! ports of a pod and forwards datagrams between the two sides by address,
//! like an RTP proxy.
//!
//! A relay never reads what a datagram carries (the platform's media
//! payloads name their call, but only for the history's media events).
//! It forwards by where a datagram arrives and where it comes from:
//! - each anchored leg has a *pair* of anchor ports on one pod: the *up*
//!   port faces the caller's side, the *down* port the callee's side
//!   ([`anchor_port`]); the signalling pod rewrites the INVITE's SDP to
//!   name the down port and the answer's SDP to name the up port;
//! - each port knows its side's media address, from that side's SDP (the
//!   offer for the up port, the answer for the down port), or, when the
//!   signalling carried none, from the first datagram to arrive at it
//!   (latching, as symmetric-media relays do);
//! - a datagram at one port from its side's address goes out of the
//!   pair's other port to the other side's address; from any other sender
//!   it is dropped (with `relearn_media`, the port latches to it instead).
//!
//! Pairs are numbered `0..relays_max` per pod and handed out round-robin,
//! so a pod relays at most `relays_max` legs and the oldest is reused
//! first. Which pod anchors a leg is the signalling pod's choice
//! (`media_anchor`): itself, or one pod of its section picked by the SIP
//! Call-ID, like a separate RTP-proxy pool; in a pool each signalling pod
//! hands out its own residue of the pair numbers, so two never collide. A
//! remote anchor is programmed with control datagrams on its media port
//! ([`crate::nodes::ports::MEDIA`]): `RELAY <pair> open <up-addr>`,
//! `RELAY <port> peer <addr>`, `RELAY <pair> end`. With a remote anchor
//! the media crosses a different pod pair from the signalling, so a broken
//! pair can silence a call whose signalling went through.
//!
//! The offer's media address is the SDP body's `c=`/`m=` (and `o=`) lines,
//! or the [`MEDIA_OFFER_HEADER`] that the platform's user agents use while
//! they carry no bodies; the answer's is its SDP when it has one.

/// The header that carries an INVITE's media offer when it has no SDP
/// body (the nodes' user-agent glue writes it; keep the two in step).
pub const MEDIA_OFFER_HEADER: &str = "X-Callsim-Media";

/// The first anchor port: pair `k` is ports `BASE + 2k` (up) and
/// `BASE + 2k + 1` (down). Even, so a port's partner is `port ^ 1`.
pub const ANCHOR_PORT_BASE: u16 = 20_000;

/// Most pairs a pod may have (`relays_max`): the ports must fit under 65536.
pub const PAIRS_MAX: u32 = (u16::MAX as u32 - ANCHOR_PORT_BASE as u32) / 2;

/// Most pairs a pod with `relearn_media` may have: it binds every anchor
/// port when it starts (a restarted pod must hear the datagrams of the
/// legs it lost), and a socket per port has a cost.
pub const RELEARN_PAIRS_MAX: u32 = 1024;

use crate::nodes::sdp;
use std::collections::BTreeMap;
use std::net::SocketAddr;

const _: () = assert!(
    ANCHOR_PORT_BASE.is_multiple_of(2),
    "a pair starts on an even port"
);

/// A side of an anchored leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Towards the caller (the INVITE came from there).
    Up,
    /// Towards the callee (the INVITE went there).
    Down,
}

/// The anchor port of `side` of pair `pair`.
pub fn anchor_port(pair: u32, side: Side) -> u16 {
    assert!(pair < PAIRS_MAX, "pair {pair} beyond the port space");
    let up = ANCHOR_PORT_BASE + 2 * pair as u16;
    match side {
        Side::Up => up,
        Side::Down => up + 1,
    }
}

/// The pair and side of an anchor port, if it is one.
pub fn pair_of(port: u16) -> Option<(u32, Side)> {
    let offset = port.checked_sub(ANCHOR_PORT_BASE)?;
    let side = if offset.is_multiple_of(2) {
        Side::Up
    } else {
        Side::Down
    };
    Some((u32::from(offset / 2), side))
}

/// A control datagram, sent by a signalling pod to a remote anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Start a leg on `pair`: both ports forget any older leg; the up side
    /// is at `up`, the down side not known yet.
    Open { pair: u32, up: SocketAddr },
    /// The side of anchor port `port` is at `addr` (the answer's SDP).
    Peer { port: u16, addr: SocketAddr },
    /// The leg on `pair` ended.
    End { pair: u32 },
}

impl Control {
    /// The datagram's text.
    pub fn message(&self) -> String {
        match self {
            Control::Open { pair, up } => format!("RELAY {pair} open {up}"),
            Control::Peer { port, addr } => format!("RELAY {port} peer {addr}"),
            Control::End { pair } => format!("RELAY {pair} end"),
        }
    }

    /// Parses a control datagram; `None` for anything else.
    pub fn parse(bytes: &[u8]) -> Option<Control> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.split(' ');
        if parts.next()? != "RELAY" {
            return None;
        }
        let number: u32 = parts.next()?.parse().ok()?;
        let control = match parts.next()? {
            "open" => Control::Open {
                pair: number,
                up: parts.next()?.parse().ok()?,
            },
            "peer" => Control::Peer {
                port: u16::try_from(number).ok()?,
                addr: parts.next()?.parse().ok()?,
            },
            "end" => Control::End { pair: number },
            _ => return None,
        };
        parts.next().is_none().then_some(control)
    }
}

/// One anchor port's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Port {
    /// Where this port's side sends from and receives at.
    peer: Option<SocketAddr>,
    /// The leg ended: a late datagram neither latches nor passes.
    ended: bool,
}

/// The anchor ports of one pod, `pairs_max` pairs at most.
#[derive(Debug)]
pub struct RelayTable {
    ports: BTreeMap<u16, Port>,
    pairs_max: u32,
}

/// What to do with a datagram: send it out of anchor port `from_port` to
/// `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub from_port: u16,
    pub to: SocketAddr,
}

impl RelayTable {
    pub fn new(pairs_max: u32) -> RelayTable {
        assert!(
            (1..=PAIRS_MAX).contains(&pairs_max),
            "a relay table holds 1..={PAIRS_MAX} pairs"
        );
        RelayTable {
            ports: BTreeMap::new(),
            pairs_max,
        }
    }

    /// Whether `port` is one of this table's anchor ports.
    pub fn holds(&self, port: u16) -> bool {
        pair_of(port).is_some_and(|(pair, _)| pair < self.pairs_max)
    }

    /// Applies a control datagram (or the signalling pod's own decision).
    /// Ports outside the table are ignored.
    pub fn apply(&mut self, control: Control) {
        match control {
            Control::Open { pair, up } if pair < self.pairs_max => {
                let peer = Some(up);
                self.ports
                    .insert(anchor_port(pair, Side::Up), Port { peer, ended: false });
                self.ports
                    .insert(anchor_port(pair, Side::Down), Port::default());
            }
            Control::Peer { port, addr } if self.holds(port) => {
                let state = self.ports.entry(port).or_default();
                if !state.ended {
                    state.peer = Some(addr);
                }
            }
            Control::End { pair } if pair < self.pairs_max => {
                for side in [Side::Up, Side::Down] {
                    let ended = Port {
                        peer: None,
                        ended: true,
                    };
                    self.ports.insert(anchor_port(pair, side), ended);
                }
            }
            _ => {}
        }
    }

    /// Where a datagram that arrived at anchor `port` from `from` goes.
    /// An unknown side latches to its first sender; a sender that is not
    /// the port's side is dropped, unless `relearn` (a restarted pod
    /// rebuilding what it lost, or a side that moved): then the port
    /// latches to it.
    pub fn forward(&mut self, port: u16, from: SocketAddr, relearn: bool) -> Option<Forward> {
        if !self.holds(port) {
            return None;
        }
        let state = match self.ports.get_mut(&port) {
            Some(state) => state,
            None if relearn => self.ports.entry(port).or_default(),
            None => return None,
        };
        if state.ended {
            return None;
        }
        match state.peer {
            Some(peer) if peer == from => {}
            Some(_) if !relearn => return None,
            _ => state.peer = Some(from),
        }
        let other = port ^ 1;
        let to = self.ports.get(&other)?.peer?;
        Some(Forward {
            from_port: other,
            to,
        })
    }

    /// The side addresses of `port`'s pair: (up, down).
    pub fn sides(&self, pair: u32) -> (Option<SocketAddr>, Option<SocketAddr>) {
        let peer = |side| {
            self.ports
                .get(&anchor_port(pair, side))
                .and_then(|p| p.peer)
        };
        (peer(Side::Up), peer(Side::Down))
    }
}

/// The media address an SDP body announces ([`crate::nodes::sdp::media_addr`]
/// on the raw body).
pub fn sdp_media_addr(body: &[u8]) -> Option<SocketAddr> {
    sdp::media_addr(std::str::from_utf8(body).ok()?)
}

/// `body` announcing `addr` instead ([`crate::nodes::sdp::rewrite`] on the
/// raw body); `None` when it announces no media.
pub fn sdp_rewrite(body: &[u8], addr: SocketAddr) -> Option<Vec<u8>> {
    sdp::rewrite(std::str::from_utf8(body).ok()?, addr).map(String::into_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("address")
    }

    #[test]
    fn control_messages_round_trip() {
        let a = addr("10.0.0.1:10000");
        for control in [
            Control::Open { pair: 7, up: a },
            Control::Peer {
                port: 20_015,
                addr: a,
            },
            Control::End { pair: 7 },
        ] {
            assert_eq!(Control::parse(control.message().as_bytes()), Some(control));
        }
        assert_eq!(Control::parse(b"RELAY 7 sideways 1.2.3.4:5"), None);
        assert_eq!(Control::parse(b"RELAY 7 end extra"), None);
        assert_eq!(Control::parse(b"MEDIA in-7 12"), None);
        assert_eq!(Control::parse(b"\xff"), None);
    }

    #[test]
    fn ports_pair_up() {
        assert_eq!(anchor_port(0, Side::Up), ANCHOR_PORT_BASE);
        assert_eq!(anchor_port(3, Side::Down), ANCHOR_PORT_BASE + 7);
        assert_eq!(pair_of(ANCHOR_PORT_BASE + 7), Some((3, Side::Down)));
        assert_eq!(pair_of(10_000), None);
        assert_eq!(anchor_port(3, Side::Up) ^ 1, anchor_port(3, Side::Down));
    }

    #[test]
    fn forwards_by_port_and_address_only() {
        let (caller, callee, other) = (
            addr("10.0.0.1:10000"),
            addr("10.0.0.2:10000"),
            addr("10.0.0.3:10000"),
        );
        let (up, down) = (anchor_port(1, Side::Up), anchor_port(1, Side::Down));
        let mut t = RelayTable::new(2);
        t.apply(Control::Open {
            pair: 1,
            up: caller,
        });
        assert_eq!(t.forward(up, caller, false), None, "no callee yet");
        assert_eq!(
            t.forward(down, callee, false),
            Some(Forward {
                from_port: up,
                to: caller
            }),
            "latched"
        );
        assert_eq!(
            t.forward(up, caller, false),
            Some(Forward {
                from_port: down,
                to: callee
            })
        );
        assert_eq!(t.forward(up, other, false), None, "not the up side");
        assert_eq!(t.forward(anchor_port(0, Side::Up), caller, false), None);
        assert_eq!(t.forward(anchor_port(2, Side::Up), caller, true), None);
        t.apply(Control::Peer {
            port: down,
            addr: other,
        });
        assert_eq!(t.forward(up, caller, false).map(|f| f.to), Some(other));
        // A new leg on the pair forgets the old one.
        t.apply(Control::Open { pair: 1, up: other });
        assert_eq!(t.sides(1), (Some(other), None));
        t.apply(Control::End { pair: 1 });
        assert_eq!(t.forward(up, other, true), None, "ended: no relearning");
    }

    #[test]
    fn relearning_rebuilds_a_lost_pair_from_its_datagrams() {
        let (caller, callee) = (addr("10.0.0.1:10000"), addr("10.0.0.2:10000"));
        let (up, down) = (anchor_port(0, Side::Up), anchor_port(0, Side::Down));
        let mut t = RelayTable::new(1);
        assert_eq!(
            t.forward(up, caller, false),
            None,
            "unknown without relearn"
        );
        assert_eq!(
            t.forward(up, caller, true),
            None,
            "the callee is not known yet"
        );
        assert_eq!(t.forward(down, callee, true).map(|f| f.to), Some(caller));
        assert_eq!(t.forward(up, caller, true).map(|f| f.to), Some(callee));
    }

    #[test]
    fn sdp_is_rewritten_to_the_anchor() {
        let body = b"v=0\r\no=- 0 0 IN IP4 10.0.0.1\r\ns=callsim\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0\r\n";
        assert_eq!(sdp_media_addr(body), Some(addr("10.0.0.1:10000")));
        let moved = sdp_rewrite(body, addr("10.0.0.9:20001")).expect("has media");
        assert_eq!(sdp_media_addr(&moved), Some(addr("10.0.0.9:20001")));
        assert!(!String::from_utf8(moved).unwrap().contains("10.0.0.1"));
        assert_eq!(sdp_rewrite(b"v=0\r\n", addr("10.0.0.9:1")), None);
    }
}
