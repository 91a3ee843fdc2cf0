//! Minimal media sessions: one small UDP datagram per second (by default)
//! each way per connected call, enough to tell "connected but silent" from
//! a working call without costing a tick per packet.
//!
//! Each host that terminates media (the SIP service, the carrier) binds
//! one [`MediaEndpoint`] on [`ports::MEDIA`] and multiplexes every call on
//! it: the payload names the call (`MEDIA <call> <seq>`), a label for the
//! history only (an SBC relaying media forwards by address and never reads
//! it). Every datagram received is
//! a `media.rx {call, from, from_addr}` event, `from` being the host it came
//! from (the last relay, when there is one) and `from_addr` its `ip:port`. The endpoint also remembers when each
//! call last received media, for silence detection.
//!
//! A stream either knows its peer ([`MediaEndpoint::start`], the answerer,
//! which read the offered address) or learns it by latching
//! ([`MediaEndpoint::latch`], the offerer: it sends back to wherever the
//! call's first datagram came from, as symmetric-media endpoints do).
//!
//! Sending goes through `net::UdpEndpoint`, so per-packet faults (loss,
//! jitter) apply to media as to signalling.
//!
//! [`ports::MEDIA`]: crate::nodes::ports::MEDIA

/// Shortest media packet interval a config may ask for: RTP sends every
/// 20 ms, and 5 ms is already four times that rate (a `media_interval` of
/// 1 us made a run's memory grow without bound).
pub const INTERVAL_MIN: crate::sim::Dur = crate::sim::Dur(std::time::Duration::from_millis(5));

/// A config's `media_interval`: at least [`INTERVAL_MIN`].
pub fn check_interval(prefix: &str, value: crate::sim::Dur) -> Result<(), crate::sim::FieldError> {
    crate::sim::check::at_least(
        prefix,
        "media_interval",
        value,
        INTERVAL_MIN,
        "media_stream::INTERVAL_MIN",
    )
}

use crate::history::{emit, Event};
use crate::net::UdpEndpoint;
use crate::nodes::ports;
use crate::sim::buggify::{self, here};
use crate::sim::time::now_ms;
use crate::sim::NodeCtx;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Largest media datagram read.
const DATAGRAM_MAX: usize = 256;

/// The payload of media datagram `seq` of `call`.
pub fn payload(call: &str, seq: u64) -> String {
    format!("MEDIA {call} {seq}")
}

/// The call a media payload names, if it is one.
pub fn call_of(payload: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.split(' ');
    if parts.next()? != "MEDIA" {
        return None;
    }
    let call = parts.next()?;
    parts.next()?.parse::<u64>().ok()?;
    Some(call)
}

/// A host's media socket. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct MediaEndpoint {
    socket: UdpEndpoint,
    /// Tracked call -> sim ms of the last datagram received (or of the
    /// stream's start). Only calls with a stream are tracked.
    last_rx: Rc<RefCell<BTreeMap<String, u64>>>,
    /// Latching streams waiting for their call's first datagram.
    latches: Rc<RefCell<BTreeMap<String, oneshot::Sender<SocketAddr>>>>,
}

/// A running outgoing stream; dropping it stops the stream.
pub struct MediaStream {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MediaStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MediaEndpoint {
    /// Binds the media port and starts receiving.
    pub async fn bind(ctx: &NodeCtx) -> io::Result<MediaEndpoint> {
        let socket = UdpEndpoint::bind(ctx, ports::MEDIA).await?;
        let endpoint = MediaEndpoint {
            socket,
            last_rx: Rc::default(),
            latches: Rc::default(),
        };
        let receiver = endpoint.clone();
        crate::sim::spawn(async move { receiver.receive().await });
        Ok(endpoint)
    }

    /// The address to announce in SDP.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr()
    }

    async fn receive(&self) {
        let mut buf = [0u8; DATAGRAM_MAX];
        while let Ok((n, from)) = self.socket.recv_from(&mut buf).await {
            let Some(call) = call_of(&buf[..n]) else {
                continue;
            };
            let host = crate::net::host_of(from);
            let from_addr = from.to_string();
            emit(Event::MediaRx {
                call,
                from: &host,
                from_addr: &from_addr,
            });
            if let Some(t) = self.last_rx.borrow_mut().get_mut(call) {
                *t = now_ms();
            }
            if let Some(latch) = self.latches.borrow_mut().remove(call) {
                let _ = latch.send(from);
            }
        }
    }

    /// Starts sending one datagram per `interval` for `call` to `peer`,
    /// the first at once. Also starts tracking the call's received media.
    pub fn start(&self, call: &str, peer: SocketAddr, interval: Duration) -> MediaStream {
        self.last_rx
            .borrow_mut()
            .entry(call.to_string())
            .or_insert_with(now_ms);
        let socket = self.socket.clone();
        let call = call.to_string();
        let task =
            crate::sim::spawn(async move { send_every(&socket, &call, peer, interval).await });
        MediaStream { task }
    }

    /// Starts sending for `call` to the source of the call's first
    /// datagram received from now on (symmetric media), one per
    /// `interval`. Sends nothing until that datagram comes.
    pub fn latch(&self, call: &str, interval: Duration) -> MediaStream {
        let (tx, rx) = oneshot::channel();
        self.latches.borrow_mut().insert(call.to_string(), tx);
        self.last_rx
            .borrow_mut()
            .entry(call.to_string())
            .or_insert_with(now_ms);
        let socket = self.socket.clone();
        let call = call.to_string();
        let task = crate::sim::spawn(async move {
            let Ok(peer) = rx.await else { return };
            send_every(&socket, &call, peer, interval).await;
        });
        MediaStream { task }
    }

    /// Sim ms since `call` last received media (since its stream started
    /// when nothing came yet); `None` for an unknown call.
    pub fn silent_for_ms(&self, call: &str) -> Option<u64> {
        self.last_rx
            .borrow()
            .get(call)
            .map(|t| now_ms().saturating_sub(*t))
    }

    /// Forgets a finished call.
    pub fn forget(&self, call: &str) {
        self.last_rx.borrow_mut().remove(call);
        self.latches.borrow_mut().remove(call);
    }
}

/// Intervals a stream sends nothing when `media.stall` fires.
pub const STALL_INTERVALS: u32 = 5;

/// Sends `call`'s datagrams to `peer` until the task is aborted.
async fn send_every(socket: &UdpEndpoint, call: &str, peer: SocketAddr, interval: Duration) {
    for seq in 1u64.. {
        // Fault points: this datagram is not sent, or the stream stalls.
        if here(buggify::MEDIA_DROP_PACKET) {
            tokio::time::sleep(interval).await;
            continue;
        }
        if here(buggify::MEDIA_STALL) {
            tokio::time::sleep(interval * STALL_INTERVALS).await;
        }
        // A failed send (socket closed as the host stops) ends the
        // stream; media is best effort.
        if socket
            .send_to(payload(call, seq).as_bytes(), peer)
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_their_call() {
        assert_eq!(call_of(payload("out-17", 3).as_bytes()), Some("out-17"));
        assert_eq!(call_of(b"MEDIA in-1 x"), None);
        assert_eq!(call_of(b"INVITE sip:a"), None);
        assert_eq!(call_of(&[0xff, 0xfe]), None);
    }
}
