//! The ACKs a UAC sent for 2xx responses whose dialog it has since ended, kept for 64*T1
//! so that a retransmitted 2xx is ACKed again (RFC 3261 section 13.2.2.4: the UAC ACKs
//! every retransmission of the 2xx, whether or not it still wants the dialog).
//!
//! Without it, a UAC that hangs up (or rejects an unwanted 2xx with a BYE) before its
//! first ACK reached the far end would leave that end retransmitting its 2xx until timer
//! H, with the dialog up there and gone here.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::sip::codec::Message;
use crate::sip::dialog::DialogId;

/// Ended dialogs' ACKs, oldest first, each forgotten `keep` after it was stored.
pub(super) struct AckMemory {
    keep: Duration,
    acks: BTreeMap<DialogId, (Message, SocketAddr)>,
    expiry: VecDeque<(Instant, DialogId)>,
}

impl AckMemory {
    pub(super) fn new(keep: Duration) -> AckMemory {
        AckMemory {
            keep,
            acks: BTreeMap::new(),
            expiry: VecDeque::new(),
        }
    }

    /// Keeps `ack` (sent to `peer`) for dialog `id` until `now + keep`.
    pub(super) fn remember(&mut self, now: Instant, id: DialogId, ack: Message, peer: SocketAddr) {
        self.forget_expired(now);
        if self.acks.insert(id.clone(), (ack, peer)).is_none() {
            self.expiry.push_back((now + self.keep, id));
        }
    }

    /// The ACK to repeat for dialog `id`, if it ended less than `keep` ago.
    pub(super) fn get(&mut self, now: Instant, id: &DialogId) -> Option<(Message, SocketAddr)> {
        self.forget_expired(now);
        self.acks.get(id).cloned()
    }

    fn forget_expired(&mut self, now: Instant) {
        while let Some((deadline, _)) = self.expiry.front() {
            if *deadline > now {
                break;
            }
            if let Some((_, id)) = self.expiry.pop_front() {
                self.acks.remove(&id);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.acks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse;

    fn ack() -> Message {
        parse(
            b"ACK sip:a@192.168.0.2:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.0.1:5060;branch=z9hG4bKa1\r\n\
Max-Forwards: 70\r\n\
From: <sip:c@192.168.0.1>;tag=f\r\n\
To: <sip:a@192.168.0.2>;tag=t\r\n\
Call-ID: c1\r\n\
CSeq: 1 ACK\r\n\
Content-Length: 0\r\n\r\n",
        )
        .expect("valid ACK")
    }

    fn id(call: &str) -> DialogId {
        DialogId {
            call_id: call.into(),
            local_tag: "f".into(),
            remote_tag: "t".into(),
        }
    }

    #[test]
    fn an_ack_is_kept_for_its_time_then_forgotten() {
        let peer: SocketAddr = "192.168.0.2:5060".parse().expect("address");
        let t0 = Instant::now();
        let mut memory = AckMemory::new(Duration::from_secs(32));
        memory.remember(t0, id("c1"), ack(), peer);
        memory.remember(t0 + Duration::from_secs(10), id("c2"), ack(), peer);
        assert!(memory
            .get(t0 + Duration::from_secs(31), &id("c1"))
            .is_some());
        assert!(memory
            .get(t0 + Duration::from_secs(32), &id("c1"))
            .is_none());
        assert!(memory
            .get(t0 + Duration::from_secs(41), &id("c2"))
            .is_some());
        assert_eq!(memory.len(), 1);
        assert!(memory
            .get(t0 + Duration::from_secs(42), &id("c2"))
            .is_none());
        assert_eq!(memory.len(), 0);
    }
}
