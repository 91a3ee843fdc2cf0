//! The SBC pods' media relay: anchors a call's media on a pod and forwards
//! its datagrams between the two sides, like an RTP proxy.
//!
//! Media datagrams are those of the platform's media sessions (one small
//! UDP datagram per second and direction, payload `MEDIA <call> <seq>`),
//! on the media port of every host. A pod relays a call's datagram from
//! its upstream side to its downstream side and back; what it does not
//! know (an unknown call, a sender that is neither side) it drops.
//!
//! Which pod anchors a call's media is the signalling pod's choice
//! (`media_anchor` in the SBC config): itself, or one pod of its section
//! picked by the call id, like a separate RTP-proxy pool. A remote anchor
//! is programmed with control datagrams on the same port:
//! `RELAY <call> up <ip:port>`, `RELAY <call> down <ip:port>`,
//! `RELAY <call> end`. With a remote anchor the call's media crosses a
//! different pod pair from its signalling, so a broken pair can silence a
//! call whose signalling went through.
//!
//! The offer: the signalling pod rewrites the media address of the INVITE
//! to the anchor's: the `c=`/`m=` (and `o=`) lines of an SDP body, and the
//! [`MEDIA_OFFER_HEADER`] that the platform's user agents use while they
//! carry no bodies. The answer: the SDP of a response when it has one, else
//! learned by latching on the first datagram from downstream.

/// The header that carries an INVITE's media offer when it has no SDP
/// body (the nodes' user-agent glue writes it; keep the two in step).
pub const MEDIA_OFFER_HEADER: &str = "X-Callsim-Media";

use crate::nodes::sdp;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

/// One call's relay: where each side's media comes from and goes to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relay {
    pub up: Option<SocketAddr>,
    pub down: Option<SocketAddr>,
}

/// A side of a call, as control messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Up,
    Down,
}

/// What a media-port datagram is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// A media datagram of `call`.
    Media { call: &'a str },
    /// Program one side of a call's relay.
    Set {
        call: &'a str,
        side: Side,
        addr: SocketAddr,
    },
    /// Forget a call.
    End { call: &'a str },
}

/// Parses a media-port datagram; `None` for anything else.
pub fn parse(bytes: &[u8]) -> Option<Datagram<'_>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut parts = text.split(' ');
    match parts.next()? {
        "MEDIA" => Some(Datagram::Media {
            call: parts.next().filter(|c| !c.is_empty())?,
        }),
        "RELAY" => {
            let call = parts.next().filter(|c| !c.is_empty())?;
            match parts.next()? {
                "end" => Some(Datagram::End { call }),
                side => {
                    let side = match side {
                        "up" => Side::Up,
                        "down" => Side::Down,
                        _ => return None,
                    };
                    let addr = parts.next()?.parse().ok()?;
                    Some(Datagram::Set { call, side, addr })
                }
            }
        }
        _ => None,
    }
}

/// The control datagram that sets one side of a call's relay.
pub fn set_message(call: &str, side: Side, addr: SocketAddr) -> String {
    let side = match side {
        Side::Up => "up",
        Side::Down => "down",
    };
    format!("RELAY {call} {side} {addr}")
}

/// The control datagram that ends a call's relay.
pub fn end_message(call: &str) -> String {
    format!("RELAY {call} end")
}

/// The relays of one pod, bounded: the oldest call is forgotten first.
#[derive(Debug)]
pub struct RelayTable {
    relays: BTreeMap<String, Relay>,
    order: VecDeque<String>,
    max: usize,
    /// Calls whose relay was ended, newest last (bounded by `max`): a late
    /// datagram of one must not bring its relay back.
    ended: VecDeque<String>,
}

impl RelayTable {
    pub fn new(max: usize) -> RelayTable {
        assert!(max > 0, "a relay table holds at least one call");
        RelayTable {
            relays: BTreeMap::new(),
            order: VecDeque::new(),
            max,
            ended: VecDeque::new(),
        }
    }

    pub fn set(&mut self, call: &str, side: Side, addr: SocketAddr) {
        if !self.relays.contains_key(call) {
            self.order.push_back(call.to_string());
            while self.order.len() > self.max {
                let oldest = self.order.pop_front().expect("over the bound");
                self.relays.remove(&oldest);
            }
        }
        let relay = self.relays.entry(call.to_string()).or_default();
        match side {
            Side::Up => relay.up = Some(addr),
            Side::Down => relay.down = Some(addr),
        }
    }

    pub fn end(&mut self, call: &str) {
        if self.relays.remove(call).is_some() {
            self.order.retain(|c| c != call);
        }
        if !self.ended.iter().any(|c| c == call) {
            self.ended.push_back(call.to_string());
            if self.ended.len() > self.max {
                self.ended.pop_front();
            }
        }
    }

    /// Was `call`'s relay ended here (recently: the last `max` ended)?
    pub fn has_ended(&self, call: &str) -> bool {
        self.ended.iter().any(|c| c == call)
    }

    /// Where a datagram of `call` from `from` goes. A downstream side not
    /// programmed yet is learned from the first datagram that does not come
    /// from upstream (latching, as symmetric-media relays do: the answer
    /// carries no address when the signalling has no SDP).
    pub fn forward(&mut self, call: &str, from: SocketAddr) -> Option<SocketAddr> {
        let relay = self.relays.get_mut(call)?;
        if Some(from) == relay.up {
            relay.down
        } else if relay.down.is_none() || Some(from) == relay.down {
            relay.down = Some(from);
            relay.up
        } else {
            None
        }
    }

    /// The (upstream, downstream) addresses of `call`'s relay, if any.
    pub fn sides(&self, call: &str) -> Option<(Option<SocketAddr>, Option<SocketAddr>)> {
        self.relays.get(call).map(|r| (r.up, r.down))
    }

    pub fn len(&self) -> usize {
        self.relays.len()
    }

    pub fn is_empty(&self) -> bool {
        self.relays.is_empty()
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
        let set = set_message("in-7", Side::Down, a);
        assert_eq!(
            parse(set.as_bytes()),
            Some(Datagram::Set {
                call: "in-7",
                side: Side::Down,
                addr: a
            })
        );
        assert_eq!(
            parse(end_message("in-7").as_bytes()),
            Some(Datagram::End { call: "in-7" })
        );
        assert_eq!(
            parse(b"MEDIA in-7 12"),
            Some(Datagram::Media { call: "in-7" })
        );
        assert_eq!(parse(b"RELAY in-7 sideways 1.2.3.4:5"), None);
        assert_eq!(parse(b"\xff"), None);
    }

    #[test]
    fn relays_between_the_two_sides_only() {
        let (up, down, other) = (
            addr("10.0.0.1:10000"),
            addr("10.0.0.2:10000"),
            addr("10.0.0.3:10000"),
        );
        let mut t = RelayTable::new(2);
        t.set("in-1", Side::Up, up);
        assert_eq!(t.forward("in-1", up), None, "no downstream yet");
        assert_eq!(t.forward("in-1", down), Some(up), "latched");
        assert_eq!(t.forward("in-1", up), Some(down));
        assert_eq!(t.forward("in-1", other), None);
        t.set("in-1", Side::Down, other);
        assert_eq!(t.forward("in-1", up), Some(other), "programmed wins");
        t.set("in-2", Side::Up, up);
        t.set("in-3", Side::Up, up);
        assert_eq!(t.len(), 2);
        assert_eq!(t.forward("in-1", down), None, "oldest forgotten");
        t.end("in-2");
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn sdp_is_rewritten_to_the_anchor() {
        let body = b"v=0\r\no=- 0 0 IN IP4 10.0.0.1\r\ns=callsim\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0\r\n";
        assert_eq!(sdp_media_addr(body), Some(addr("10.0.0.1:10000")));
        let moved = sdp_rewrite(body, addr("10.0.0.9:10000")).expect("has media");
        assert_eq!(sdp_media_addr(&moved), Some(addr("10.0.0.9:10000")));
        assert!(!String::from_utf8(moved).unwrap().contains("10.0.0.1"));
        assert_eq!(sdp_rewrite(b"v=0\r\n", addr("10.0.0.9:1")), None);
    }
}
