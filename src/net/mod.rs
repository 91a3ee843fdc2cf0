//! Thin wrappers over `turmoil::net` that add what turmoil lacks.
//!
//! turmoil's `fail_rate` takes a whole link down; real networks lose,
//! duplicate, delay and reorder single datagrams. [`UdpEndpoint`] applies
//! those per-packet rules (set per destination through the host's control
//! handle, the very mechanism the fault plan schedules) with the host's
//! seeded RNG, on send. It is the only place that knows which socket type
//! is underneath, so nodes could later run on real tokio sockets.
//!
//! TCP (for RPC and the API) goes through turmoil's `TcpStream` directly:
//! turmoil's TCP has no retransmission, so per-packet loss belongs to UDP;
//! TCP sees latency, hold, partition and resets.

pub mod frame;

use crate::sim::rng::SimRng;
use crate::sim::ControlHandle;
use crate::sim::NodeCtx;
use rand::Rng;
use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

/// Resolves a host name (or section-less name) to a socket address.
pub fn addr(host: &str, port: u16) -> SocketAddr {
    SocketAddr::new(turmoil::lookup(host), port)
}

/// The host name of an address, or its IP as text when unknown.
pub fn host_of(addr: SocketAddr) -> String {
    turmoil::reverse_lookup(addr.ip()).unwrap_or_else(|| addr.ip().to_string())
}

/// A destination: a resolved address or a `(host, port)` pair.
pub trait Dest {
    fn resolve(self) -> SocketAddr;
}

impl Dest for SocketAddr {
    fn resolve(self) -> SocketAddr {
        self
    }
}

impl Dest for (&str, u16) {
    fn resolve(self) -> SocketAddr {
        addr(self.0, self.1)
    }
}

/// A UDP socket with seeded per-packet faults. Cheap to clone; clones share
/// the socket and the RNG.
#[derive(Clone)]
pub struct UdpEndpoint {
    inner: Rc<Inner>,
}

struct Inner {
    socket: turmoil::net::UdpSocket,
    control: ControlHandle,
    rng: RefCell<SimRng>,
    local: SocketAddr,
}

impl UdpEndpoint {
    /// Binds `port` on the host's address.
    pub async fn bind(ctx: &NodeCtx, port: u16) -> io::Result<UdpEndpoint> {
        let socket =
            turmoil::net::UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)).await?;
        let local = SocketAddr::new(turmoil::lookup(&*ctx.name), port);
        Ok(UdpEndpoint {
            inner: Rc::new(Inner {
                socket,
                control: ctx.control.clone(),
                rng: RefCell::new(ctx.rng(&format!("net:{port}"))),
                local,
            }),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Sends one datagram, subject to the packet rule towards `dst`: it may
    /// be dropped, duplicated, or delayed by jitter (and so reordered).
    /// A dropped datagram still reports success, as UDP does.
    pub async fn send_to(&self, buf: &[u8], dst: impl Dest) -> io::Result<usize> {
        let dst = dst.resolve();
        let rule = self.inner.control.packet_rule(dst.ip());
        if rule.is_clear() {
            return self.inner.socket.send_to(buf, dst).await;
        }
        let (lost, copies, delay_ms) = {
            let mut rng = self.inner.rng.borrow_mut();
            let lost = rule.loss > 0.0 && rng.gen_bool(rule.loss.clamp(0.0, 1.0));
            let copies = if rule.duplicate > 0.0 && rng.gen_bool(rule.duplicate.clamp(0.0, 1.0)) {
                2
            } else {
                1
            };
            let delay_ms = if rule.jitter_ms > 0 {
                rng.gen_range(0..=rule.jitter_ms)
            } else {
                0
            };
            (lost, copies, delay_ms)
        };
        if lost {
            // Recorded at the sender when the run keeps a wire capture.
            crate::history::wire::lost_by_rule(self.inner.local, dst, buf);
            return Ok(buf.len());
        }
        if delay_ms == 0 {
            for _ in 0..copies {
                self.inner.socket.send_to(buf, dst).await?;
            }
            return Ok(buf.len());
        }
        let this = self.clone();
        let bytes = buf.to_vec();
        crate::sim::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            for _ in 0..copies {
                // A send on a closed socket after a crash is not an error
                // worth reporting: the datagram is simply lost.
                let _ = this.inner.socket.send_to(&bytes, dst).await;
            }
        });
        Ok(buf.len())
    }

    /// Receives one datagram.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.socket.recv_from(buf).await
    }
}
