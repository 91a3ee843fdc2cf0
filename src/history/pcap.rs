//! The capture writer: a wire tape ([`super::wire::Tape`]) as a pcapng
//! file that Wireshark, tshark and sngrep open.
//!
//! - One interface, raw IPv4 (`LINKTYPE_RAW`), nanosecond timestamps:
//!   the fixed epoch of the simulation plus the message's sim time, so a
//!   capture of the same seed is the same file.
//! - Packets are built with `etherparse` (IPv4 with checksums, UDP with
//!   checksums, TCP with synthesised sequence and acknowledgement
//!   numbers: turmoil's TCP has segments, not numbers, and no ACK-only
//!   segments; every segment carries ACK for what the other side has sent
//!   so far). A TCP data segment longer than one IPv4 packet is split.
//! - A message whose fate is not plain delivery carries a pcapng comment
//!   (`frame.comment` in Wireshark) saying what happened to it: lost at
//!   the sender by a loss rule, dropped or held by the link, or dropped at
//!   the receiver. A reader filters them with `frame.comment contains "lost"`.
//! - A name resolution block maps each host's IP to its name.
//!
//! Packets appear in send order, stably sorted by time (each host stamps
//! its own sends; two hosts stepped in one tick may interleave).

use super::wire::{Payload, Tape, WireMessage};
use etherparse::PacketBuilder;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::name_resolution::{Ipv4Record, NameResolutionBlock, Record};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The largest TCP payload in one synthesised IPv4 packet (65535 minus
/// 20 bytes of IPv4 header and 20 of TCP header).
const TCP_PAYLOAD_MAX: usize = 65_495;

/// The TCP window every synthesised segment advertises.
const TCP_WINDOW: u16 = 65_535;

/// Writes `tape` as pcapng to `out`; `epoch` is the wall-clock time the
/// simulation starts at (since the Unix epoch).
pub fn write(tape: &Tape, epoch: Duration, out: impl Write) -> std::io::Result<()> {
    let mut writer = PcapNgWriter::new(out).map_err(io_error)?;
    writer
        .write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: 0,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Borrowed("turmoil")),
                InterfaceDescriptionOption::IfDescription(Cow::Borrowed(
                    "every message on callsim's simulated network, recorded at its sender",
                )),
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        })
        .map_err(io_error)?;
    let names = host_names(tape);
    if !names.is_empty() {
        let records = names
            .iter()
            .map(|(ip, name)| {
                Record::Ipv4(Ipv4Record {
                    ip_addr: Cow::Owned(ip.octets().to_vec()),
                    names: vec![Cow::Owned(name.clone())],
                })
            })
            .collect();
        writer
            .write_pcapng_block(NameResolutionBlock {
                records,
                options: vec![],
            })
            .map_err(io_error)?;
    }
    let mut order: Vec<&WireMessage> = tape.messages.iter().collect();
    order.sort_by_key(|m| m.t_us);
    let mut tcp = TcpNumbers::default();
    for m in order {
        let comment = m.fate.comment();
        for packet in packets(m, &mut tcp) {
            let options = comment
                .map(|c| vec![EnhancedPacketOption::Comment(Cow::Borrowed(c))])
                .unwrap_or_default();
            writer
                .write_pcapng_block(EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp: epoch + Duration::from_micros(m.t_us),
                    original_len: packet.len() as u32,
                    data: Cow::Owned(packet),
                    options,
                })
                .map_err(io_error)?;
        }
    }
    Ok(())
}

fn io_error(e: pcap_file::PcapError) -> std::io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => std::io::Error::other(other.to_string()),
    }
}

/// Each sending host's IPv4 address and name, from the tape.
fn host_names(tape: &Tape) -> BTreeMap<std::net::Ipv4Addr, String> {
    let mut names = BTreeMap::new();
    for m in &tape.messages {
        if let (Some(host), IpAddr::V4(ip)) = (&m.host, m.src.ip()) {
            if !ip.is_unspecified() {
                names.entry(ip).or_insert_with(|| host.to_string());
            }
        }
    }
    names
}

/// Synthesised TCP numbers: the next sequence number of each direction of
/// each connection, and the server address of each accepted connection
/// (turmoil's SYN-ACK event names the listener's address, which may be
/// unspecified).
#[derive(Default)]
struct TcpNumbers {
    next_seq: BTreeMap<(SocketAddr, SocketAddr), u32>,
    /// (client, server port) to the server's address, from the SYN.
    servers: BTreeMap<(SocketAddr, u16), SocketAddr>,
}

impl TcpNumbers {
    /// The initial sequence number of a direction: fixed, so captures of
    /// one seed are equal, and distinct per direction.
    fn isn(src: SocketAddr, dst: SocketAddr) -> u32 {
        (u32::from(src.port()) << 16) ^ u32::from(dst.port()).wrapping_mul(7919)
    }

    /// Starts a direction (a SYN or SYN-ACK) and returns its ISN.
    fn open(&mut self, src: SocketAddr, dst: SocketAddr) -> u32 {
        let isn = Self::isn(src, dst);
        self.next_seq.insert((src, dst), isn.wrapping_add(1));
        isn
    }

    /// The sequence number of `len` more bytes (plus one for a FIN) from
    /// `src` to `dst`, advancing the direction.
    fn advance(&mut self, src: SocketAddr, dst: SocketAddr, len: u32) -> u32 {
        let next = self
            .next_seq
            .entry((src, dst))
            .or_insert_with(|| Self::isn(src, dst).wrapping_add(1));
        let seq = *next;
        *next = next.wrapping_add(len);
        seq
    }

    /// What `src` acknowledges: everything `dst` has sent so far.
    fn ack(&self, src: SocketAddr, dst: SocketAddr) -> Option<u32> {
        self.next_seq.get(&(dst, src)).copied()
    }
}

/// The IPv4 packets of one message (none for IPv6, which callsim's hosts
/// do not use).
fn packets(m: &WireMessage, tcp: &mut TcpNumbers) -> Vec<Vec<u8>> {
    let (mut src, dst) = (m.src, m.dst);
    if let Payload::TcpSynAck = m.payload {
        if src.ip().is_unspecified() {
            match tcp.servers.get(&(dst, src.port())) {
                Some(server) => src = *server,
                None => return vec![],
            }
        }
    }
    let (IpAddr::V4(src_ip), IpAddr::V4(dst_ip)) = (src.ip(), dst.ip()) else {
        return vec![];
    };
    let ip = || PacketBuilder::ipv4(src_ip.octets(), dst_ip.octets(), 64);
    let tcp_header = |seq: u32| ip().tcp(src.port(), dst.port(), seq, TCP_WINDOW);
    let mut out = Vec::new();
    let mut push = |result: Result<(), etherparse::err::packet::BuildWriteError>,
                    bytes: Vec<u8>| {
        if result.is_ok() {
            out.push(bytes);
        }
    };
    match &m.payload {
        Payload::Udp(data) => {
            let mut bytes = Vec::new();
            push(
                ip().udp(src.port(), dst.port()).write(&mut bytes, data),
                bytes,
            );
        }
        Payload::TcpSyn => {
            tcp.servers.insert((src, dst.port()), dst);
            let seq = tcp.open(src, dst);
            let mut bytes = Vec::new();
            push(tcp_header(seq).syn().write(&mut bytes, &[]), bytes);
        }
        Payload::TcpSynAck => {
            let seq = tcp.open(src, dst);
            let ack = tcp.ack(src, dst).unwrap_or(0);
            let mut bytes = Vec::new();
            push(tcp_header(seq).syn().ack(ack).write(&mut bytes, &[]), bytes);
        }
        Payload::TcpData(data) => {
            for chunk in data.chunks(TCP_PAYLOAD_MAX) {
                let seq = tcp.advance(src, dst, chunk.len() as u32);
                let ack = tcp.ack(src, dst).unwrap_or(0);
                let mut bytes = Vec::new();
                push(
                    tcp_header(seq).psh().ack(ack).write(&mut bytes, chunk),
                    bytes,
                );
            }
        }
        Payload::TcpFin => {
            let seq = tcp.advance(src, dst, 1);
            let ack = tcp.ack(src, dst).unwrap_or(0);
            let mut bytes = Vec::new();
            push(tcp_header(seq).fin().ack(ack).write(&mut bytes, &[]), bytes);
        }
        Payload::TcpRst => {
            let seq = tcp.advance(src, dst, 0);
            let ack = tcp.ack(src, dst).unwrap_or(0);
            let mut bytes = Vec::new();
            push(tcp_header(seq).rst().ack(ack).write(&mut bytes, &[]), bytes);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::wire::{Fate, WireMessage};

    fn message(t_us: u64, src: &str, dst: &str, payload: Payload, fate: Fate) -> WireMessage {
        WireMessage {
            t_us,
            host: Some("a".into()),
            src: src.parse().expect("addr"),
            dst: dst.parse().expect("addr"),
            payload,
            fate,
        }
    }

    fn read_back(tape: &Tape) -> Vec<(Duration, Vec<u8>, Option<String>)> {
        let mut bytes = Vec::new();
        write(tape, Duration::from_secs(100), &mut bytes).expect("writes");
        let mut reader =
            pcap_file::pcapng::PcapNgReader::new(&bytes[..]).expect("a pcapng section");
        let mut out = Vec::new();
        while let Some(block) = reader.next_block() {
            if let pcap_file::pcapng::Block::EnhancedPacket(p) = block.expect("a block") {
                let comment = p.options.iter().find_map(|o| match o {
                    EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                    _ => None,
                });
                out.push((p.timestamp, p.data.to_vec(), comment));
            }
        }
        out
    }

    #[test]
    fn udp_datagrams_keep_addresses_time_and_fate() {
        let tape = Tape {
            messages: vec![
                message(
                    2_500,
                    "192.168.0.1:5060",
                    "192.168.0.2:5060",
                    Payload::Udp(b"hi".to_vec()),
                    Fate::Sent,
                ),
                message(
                    1_000,
                    "192.168.0.1:5060",
                    "192.168.0.2:5060",
                    Payload::Udp(b"lo".to_vec()),
                    Fate::LostByRule,
                ),
            ],
            truncated: 0,
        };
        let packets = read_back(&tape);
        assert_eq!(packets.len(), 2);
        // Sorted by time: the lost one first, with its comment.
        let (t, data, comment) = &packets[0];
        assert_eq!(*t, Duration::from_secs(100) + Duration::from_micros(1_000));
        let parsed = etherparse::SlicedPacket::from_ip(data).expect("an IP packet");
        let Some(etherparse::TransportSlice::Udp(udp)) = parsed.transport else {
            panic!("UDP");
        };
        assert_eq!((udp.source_port(), udp.destination_port()), (5060, 5060));
        assert_eq!(udp.payload(), b"lo");
        assert!(comment.as_deref().is_some_and(|c| c.starts_with("lost")));
        assert_eq!(
            packets[1].2, None,
            "a delivered datagram carries no comment"
        );
    }

    #[test]
    fn tcp_numbers_follow_each_direction() {
        let (c, s) = ("10.0.0.1:40000", "10.0.0.2:80");
        let tape = Tape {
            messages: vec![
                message(1, c, s, Payload::TcpSyn, Fate::Sent),
                message(2, "0.0.0.0:80", c, Payload::TcpSynAck, Fate::Sent),
                message(3, c, s, Payload::TcpData(vec![1; 10]), Fate::Sent),
                message(4, s, c, Payload::TcpData(vec![2; 5]), Fate::Sent),
                message(5, c, s, Payload::TcpFin, Fate::Sent),
            ],
            truncated: 0,
        };
        let packets = read_back(&tape);
        let tcp: Vec<(String, u32, u32, bool)> = packets
            .iter()
            .map(|(_, data, _)| {
                let parsed = etherparse::SlicedPacket::from_ip(data).expect("IP");
                let Some(etherparse::TransportSlice::Tcp(t)) = parsed.transport else {
                    panic!("TCP");
                };
                let src = match parsed.net {
                    Some(etherparse::NetSlice::Ipv4(v4)) => v4.header().source_addr().to_string(),
                    _ => panic!("IPv4"),
                };
                (src, t.sequence_number(), t.acknowledgment_number(), t.ack())
            })
            .collect();
        let isn_c = TcpNumbers::isn(c.parse().expect("c"), s.parse().expect("s"));
        let isn_s = TcpNumbers::isn(s.parse().expect("s"), c.parse().expect("c"));
        assert_eq!(
            tcp,
            [
                ("10.0.0.1".into(), isn_c, 0, false),
                // The SYN-ACK comes from the server's real address.
                ("10.0.0.2".into(), isn_s, isn_c + 1, true),
                ("10.0.0.1".into(), isn_c + 1, isn_s + 1, true),
                ("10.0.0.2".into(), isn_s + 1, isn_c + 11, true),
                ("10.0.0.1".into(), isn_c + 11, isn_s + 6, true),
            ]
        );
    }
}
