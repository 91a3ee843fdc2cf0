//! The wire tape: every message that crossed turmoil's network in one run,
//! with its sim time, real simulated addresses and fate, for the capture
//! writer (`pcap.rs`) and `--trace-sip-bodies`.
//!
//! A recorder made with [`crate::history::Recorder::capturing`] feeds it
//! from two sources, both tracing events that the recorder otherwise
//! refuses at callsite registration (so a run without a capture pays
//! nothing for them):
//! - turmoil's own trace events: `Send` for each message entering a link
//!   (UDP datagrams; TCP SYN, data, FIN and RST; the listener's SYN-ACK),
//!   `Drop` and `Hold` for what the link then does with it (a partition,
//!   a hold), and the destination host's `Dropped (...)` when nothing
//!   there takes a datagram (a crashed or unbound port);
//! - [`lost_by_rule`], which `net::UdpEndpoint` calls for a datagram its
//!   per-packet loss rule drops before it reaches turmoil: such a datagram
//!   is recorded at the sender and marked, so a reader tells "sent and
//!   lost" from "never sent".
//!
//! The tape never enters the history, and recording it changes nothing a
//! node sees: a capturing run has the same trace hash as a plain one.

use std::net::SocketAddr;
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata};

/// The tracing target of [`lost_by_rule`]'s event.
pub const WIRE_TARGET: &str = "callsim_wire";

/// Limit on the messages one tape keeps; a run that sends more keeps the
/// first ones and counts the rest in [`Tape::truncated`].
pub const TAPE_MESSAGES_MAX: usize = 4_000_000;

/// Records that `net` dropped a datagram from `src` to `dst` by a
/// per-packet loss rule, before it reached turmoil. Free unless a
/// capturing recorder is installed on this thread.
pub fn lost_by_rule(src: SocketAddr, dst: SocketAddr, bytes: &[u8]) {
    tracing::trace!(target: WIRE_TARGET, src = %src, dst = %dst, bytes = bytes, "lost");
}

/// What a message on the tape carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Udp(Vec<u8>),
    TcpSyn,
    TcpSynAck,
    TcpData(Vec<u8>),
    TcpFin,
    TcpRst,
}

/// What became of a message after its sender sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// turmoil put it on its link (it was delivered, unless a later fate
    /// says otherwise).
    Sent,
    /// The sender's per-packet loss rule (`net`) dropped it: it never
    /// reached a link.
    LostByRule,
    /// The link dropped it (a partition, or a link turmoil failed).
    DroppedByLink,
    /// The link held it (a `hold` fault); it is delivered when released.
    HeldByLink,
    /// It reached the destination host, where no socket took it (the
    /// port was unbound, the host down, or its buffer full).
    DroppedAtReceiver,
}

impl Fate {
    /// The pcapng comment a reader sees on the packet, if any.
    pub fn comment(self) -> Option<&'static str> {
        match self {
            Fate::Sent => None,
            Fate::LostByRule => Some(
                "lost: dropped at the sender by a per-packet loss rule (fault); never on the wire",
            ),
            Fate::DroppedByLink => Some("lost: dropped by the link (partition or link failure)"),
            Fate::HeldByLink => Some("held by the link (hold fault); delivered on release"),
            Fate::DroppedAtReceiver => {
                Some("lost: no socket at the destination took it (host down or port unbound)")
            }
        }
    }
}

/// One message as the sender put it on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireMessage {
    /// Sim time since the run's start, in microseconds.
    pub t_us: u64,
    /// The sending host's name, when sent from inside a host.
    pub host: Option<std::sync::Arc<str>>,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Payload,
    pub fate: Fate,
}

/// The messages of one run, in the order they were sent.
#[derive(Debug, Default)]
pub struct Tape {
    pub messages: Vec<WireMessage>,
    /// Messages past [`TAPE_MESSAGES_MAX`], not kept.
    pub truncated: u64,
}

/// A tape being filled by a run's recorder.
#[derive(Default)]
pub(super) struct TapeSink(Mutex<Tape>);

impl TapeSink {
    pub(super) fn take(&self) -> Tape {
        std::mem::take(&mut *self.0.lock().expect("tape lock"))
    }

    /// Takes `event` (one [`is_wire_event`] accepted) at `t_us`, sent from
    /// inside `host` (if any).
    pub(super) fn record(&self, event: &Event<'_>, t_us: u64, host: Option<std::sync::Arc<str>>) {
        let mut v = WireVisitor::default();
        event.record(&mut v);
        let (Some(src), Some(dst)) = (v.src, v.dst) else {
            return;
        };
        let mut tape = self.0.lock().expect("tape lock");
        let fate = match v.message.as_str() {
            "Send" => Fate::Sent,
            "lost" => Fate::LostByRule,
            "Drop" => Fate::DroppedByLink,
            "Hold" => Fate::HeldByLink,
            m if m.starts_with("Dropped") => Fate::DroppedAtReceiver,
            _ => return,
        };
        if matches!(
            fate,
            Fate::DroppedByLink | Fate::HeldByLink | Fate::DroppedAtReceiver
        ) {
            // The fate of a message already on the tape: the latest one
            // from `src` to `dst` with the same payload.
            let payload = v.payload();
            if let Some(m) = tape.messages.iter_mut().rev().take(4096).find(|m| {
                m.src == src
                    && m.dst == dst
                    && m.fate == Fate::Sent
                    && Some(&m.payload) == payload.as_ref()
            }) {
                m.fate = fate;
            }
            return;
        }
        let Some(payload) = v.payload() else {
            return;
        };
        if tape.messages.len() >= TAPE_MESSAGES_MAX {
            tape.truncated += 1;
            return;
        }
        tape.messages.push(WireMessage {
            t_us,
            host,
            src,
            dst,
            payload,
            fate,
        });
    }
}

/// The events the tape reads: turmoil's link and delivery events (those
/// with `src`, `dst` and `protocol` fields) and [`lost_by_rule`]'s.
pub(super) fn is_wire_event(metadata: &Metadata<'_>) -> bool {
    if !metadata.is_event() {
        return false;
    }
    match metadata.target() {
        WIRE_TARGET => true,
        "turmoil" => {
            let fields = metadata.fields();
            fields.field("protocol").is_some()
                && fields.field("src").is_some()
                && fields.field("dst").is_some()
                && metadata.file().is_some_and(|f| {
                    f.ends_with("top.rs") || f.ends_with("listener.rs") || f.ends_with("host.rs")
                })
        }
        _ => false,
    }
}

#[derive(Default)]
struct WireVisitor {
    message: String,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    /// turmoil's `protocol` text (`UDP [0x53, ...]`, `TCP SYN`, ...).
    protocol: String,
    /// [`lost_by_rule`]'s datagram.
    bytes: Option<Vec<u8>>,
}

impl WireVisitor {
    fn payload(&self) -> Option<Payload> {
        if let Some(bytes) = &self.bytes {
            return Some(Payload::Udp(bytes.clone()));
        }
        let p = self.protocol.as_str();
        Some(match p {
            "TCP SYN" => Payload::TcpSyn,
            "TCP SYN-ACK" => Payload::TcpSynAck,
            "TCP FIN" => Payload::TcpFin,
            "TCP RST" => Payload::TcpRst,
            _ => {
                if let Some(hex) = p.strip_prefix("UDP [") {
                    Payload::Udp(parse_hex(hex.strip_suffix(']')?)?)
                } else if let Some(hex) = p.strip_prefix("TCP [") {
                    Payload::TcpData(parse_hex(hex.strip_suffix(']')?)?)
                } else {
                    return None;
                }
            }
        })
    }
}

/// turmoil's hex dump (`0x53, 0xA, ...`) back to bytes.
fn parse_hex(text: &str) -> Option<Vec<u8>> {
    text.split(", ")
        .filter(|b| !b.is_empty())
        .map(|b| u8::from_str_radix(b.trim_start_matches("0x"), 16).ok())
        .collect()
}

impl Visit for WireVisitor {
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        if field.name() == "bytes" {
            self.bytes = Some(value.to_vec());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.message = text,
            "src" => self.src = text.parse().ok(),
            "dst" => self.dst = text.parse().ok(),
            "protocol" => self.protocol = text,
            _ => {}
        }
    }
}

/// The SIP text of each `sip.send` record of `history` (by record index),
/// matched to the datagram its host sent: the first unmatched one from the
/// same host, at or after the record's time, with the same start line,
/// Call-ID and CSeq number. Records with no match (a send that failed
/// before the socket) are absent.
pub fn sip_texts(
    history: &super::History,
    tape: &Tape,
) -> std::collections::BTreeMap<usize, String> {
    use std::collections::{BTreeMap, VecDeque};
    // Per (host, start line, Call-ID, CSeq number): the datagrams in order.
    let mut pending: BTreeMap<SendKey, VecDeque<(u64, String)>> = BTreeMap::new();
    for m in &tape.messages {
        let (Some(host), Payload::Udp(bytes)) = (&m.host, &m.payload) else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        let Some(key) = sip_key(text) else {
            continue;
        };
        pending
            .entry((host.to_string(), key.0, key.1, key.2))
            .or_default()
            .push_back((m.t_us, text.to_string()));
    }
    let mut out = BTreeMap::new();
    for (i, r) in history.records.iter().enumerate() {
        if r.kind() != "sip.send" {
            continue;
        }
        let start = r.str("start_line").unwrap_or_default();
        let call_id = r.str("sip_call_id").unwrap_or_default();
        let cseq = r.get("cseq").map(|v| v.to_string()).unwrap_or_default();
        let cseq = cseq
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let key = (
            r.host.to_string(),
            start.to_string(),
            call_id.to_string(),
            cseq,
        );
        let Some(queue) = pending.get_mut(&key) else {
            continue;
        };
        let t_us = r.t_ms * 1000;
        if let Some(pos) = queue.iter().position(|(t, _)| *t + 1000 > t_us) {
            if let Some((_, text)) = queue.remove(pos) {
                out.insert(i, text);
            }
        }
    }
    out
}

/// A sent SIP message's (host, start line, Call-ID, CSeq number).
type SendKey = (String, String, String, String);

/// (start line: method or status code, Call-ID, CSeq number) of a SIP
/// message's text, read loosely (long or compact header names).
fn sip_key(text: &str) -> Option<(String, String, String)> {
    let mut lines = text.split("\r\n");
    let first = lines.next()?;
    let start = if let Some(rest) = first.strip_prefix("SIP/2.0 ") {
        rest.split_whitespace().next()?.to_string()
    } else if first.ends_with("SIP/2.0") {
        first.split_whitespace().next()?.to_string()
    } else {
        return None;
    };
    let (mut call_id, mut cseq) = (None, None);
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if name == "call-id" || name == "i" {
            call_id = Some(value.trim().to_string());
        } else if name == "cseq" {
            cseq = value.split_whitespace().next().map(str::to_string);
        }
    }
    Some((start, call_id?, cseq?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_dumps_read_back() {
        assert_eq!(parse_hex("0x53, 0xA, 0xFF"), Some(vec![0x53, 0x0a, 0xff]));
        assert_eq!(parse_hex(""), Some(vec![]));
        assert_eq!(parse_hex("0xZZ"), None);
    }

    #[test]
    fn sip_keys_read_requests_and_responses() {
        let req = "INVITE sip:a@b SIP/2.0\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\n\r\nbody";
        assert_eq!(
            sip_key(req),
            Some(("INVITE".into(), "c1".into(), "7".into()))
        );
        let resp = "SIP/2.0 180 Ringing\r\ni: c2\r\nCSeq: 1 INVITE\r\n\r\n";
        assert_eq!(sip_key(resp), Some(("180".into(), "c2".into(), "1".into())));
        assert_eq!(sip_key("GET / HTTP/1.1\r\n\r\n"), None);
    }
}
