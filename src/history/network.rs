//! Counting what turmoil puts on its links, for the benchmark's raw-turmoil
//! floor: a recorder made with `Recorder::counting_network` listens to
//! turmoil's own `Send` trace events (one per message entering a link,
//! whether the link then delivers, holds or drops it) and counts UDP
//! datagrams and TCP segments apart. Loopback traffic never reaches a link.
//! The count never enters the history.

use std::sync::atomic::{AtomicU64, Ordering};
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata};

/// The messages turmoil put on its links during a run, by protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkCounts {
    pub udp_datagrams: u64,
    /// Every TCP segment: SYN, data, FIN and RST.
    pub tcp_segments: u64,
}

impl NetworkCounts {
    pub fn total(&self) -> u64 {
        self.udp_datagrams + self.tcp_segments
    }
}

/// The running count of one run.
#[derive(Default)]
pub(super) struct Tally {
    udp: AtomicU64,
    tcp: AtomicU64,
}

impl Tally {
    pub(super) fn counts(&self) -> NetworkCounts {
        NetworkCounts {
            udp_datagrams: self.udp.load(Ordering::Relaxed),
            tcp_segments: self.tcp.load(Ordering::Relaxed),
        }
    }

    /// Counts `event` (one that [`is_link_event`] accepted) if it is a `Send`.
    pub(super) fn record(&self, event: &Event<'_>) {
        let mut visitor = LinkEventVisitor::default();
        event.record(&mut visitor);
        if !visitor.is_send {
            return;
        }
        let counter = if visitor.protocol.as_str().starts_with("UDP") {
            &self.udp
        } else {
            &self.tcp
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// turmoil's trace events about a message entering a link: `Send`, and the
/// `Hold` and `Drop` that may follow it (all in its `top.rs`, all with a
/// `protocol` field). A turmoil upgrade that moves them shows as a zero
/// count in `tests/harness.rs`.
pub(super) fn is_link_event(metadata: &Metadata<'_>) -> bool {
    metadata.target() == "turmoil"
        && metadata.is_event()
        && metadata.file().is_some_and(|f| f.ends_with("top.rs"))
        && metadata.fields().field("protocol").is_some()
}

/// Reads a turmoil link event: is it a `Send`, and the first characters of
/// its protocol (`UDP ...`, `TCP ...`; the rest, a hex dump of the payload,
/// is cut off unformatted).
#[derive(Default)]
struct LinkEventVisitor {
    is_send: bool,
    protocol: Prefix,
}

impl Visit for LinkEventVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        match field.name() {
            "message" => {
                let mut message = Prefix::default();
                let _ = write!(message, "{value:?}");
                self.is_send = message.as_str() == "Send";
            }
            "protocol" => {
                let _ = write!(self.protocol, "{value:?}");
            }
            _ => {}
        }
    }
}

/// The first few bytes written to it; a longer write fails, which stops
/// the formatting.
#[derive(Default)]
struct Prefix {
    bytes: [u8; 8],
    len: usize,
}

impl Prefix {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for Prefix {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = self.bytes.len() - self.len;
        let take = s.len().min(room);
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        if take < s.len() {
            Err(std::fmt::Error)
        } else {
            Ok(())
        }
    }
}
