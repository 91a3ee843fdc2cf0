//! What the SIP proxies of the platform (the LB, the SBC pods) share:
//! message edits, addressing, history events for what they send and
//! receive, and a timer queue for their event loops.
//!
//! Addressing follows the platform's user agent: Via sent-by and
//! Record-Route carry IP literals, and a proxy only sends to IP literals
//! it reads from the wire (names from the wire are never looked up).

pub mod edit;
pub mod timers;

use crate::history::event::SipFields;
use crate::history::{emit, Event};
use crate::net::{host_of, UdpEndpoint};
use crate::nodes::health::Probe;
use crate::sim::rng::derive_seed;
use crate::sip::codec::{
    build_request, build_response, AddrSpec, Message, RawResponse, RequestSpec, ResponseSpec,
    ViaSpec,
};
use crate::sip::uri::parse_uri;
use crate::sip::Method;
use std::net::{IpAddr, SocketAddr};

/// Largest datagram a proxy reads.
pub const DATAGRAM_MAX: usize = 65_535;

/// Where to send to a SIP URI: its host and port, when the host is an IP
/// literal.
pub fn uri_addr(uri: &str) -> Option<SocketAddr> {
    let uri = parse_uri(uri).ok()?;
    let (host, port) = uri.host_port()?;
    let ip: IpAddr = host.trim_matches(['[', ']']).parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

/// Whether a URI names `me` (host and port).
pub fn uri_is(uri: &str, me: SocketAddr) -> bool {
    uri_addr(uri) == Some(me)
}

/// Our Via for a forwarded request.
pub fn via_line(me: SocketAddr, branch: &str) -> String {
    format!("SIP/2.0/UDP {}:{};branch={branch}", me.ip(), me.port())
}

/// The Request-URI of a request retargeted to `target`: the user part of
/// `uri` kept, the host and port replaced.
pub fn retarget(uri: &str, target: SocketAddr) -> String {
    let user = parse_uri(uri)
        .ok()
        .and_then(|u| u.sip)
        .and_then(|sip| sip.user);
    match user {
        Some(user) => format!("sip:{user}@{}:{}", target.ip(), target.port()),
        None => format!("sip:{}:{}", target.ip(), target.port()),
    }
}

/// Our Record-Route (a loose router).
pub fn record_route_line(me: SocketAddr) -> String {
    format!("<sip:{}:{};lr>", me.ip(), me.port())
}

/// Sends one message, recording `sip.send`.
pub async fn send(socket: &UdpEndpoint, message: &Message, to: SocketAddr, retransmission: bool) {
    with_fields(message, to, retransmission, |f| emit(Event::SipSend(f)));
    // Fault point: recorded as sent, lost in the proxy's stack.
    if crate::sim::buggify::here(crate::sim::buggify::PROXY_SEND_LOST) {
        return;
    }
    // A send error on UDP is a lost datagram, as on a real network.
    let _ = socket.send_to(message.as_bytes(), to).await;
}

/// Sends the raw answer to a request that failed to parse, recorded as
/// `sip.send` like any other.
pub async fn send_raw(socket: &UdpEndpoint, answer: &RawResponse, to: SocketAddr) {
    let (label, peer) = (answer.code.to_string(), host_of(to));
    emit(Event::SipSend(SipFields {
        call: &answer.call,
        sip_call_id: &answer.call_id,
        start_line: &label,
        cseq: &answer.cseq,
        peer: &peer,
        retransmission: false,
        from_tag: None,
        to_tag: None,
        sdp: None,
    }));
    let _ = socket.send_to(&answer.bytes, to).await;
}

/// Records `sip.recv` for a message that arrived from `from`.
pub fn record_recv(message: &Message, from: SocketAddr, retransmission: bool) {
    with_fields(message, from, retransmission, |f| emit(Event::SipRecv(f)));
}

/// Hands `record` the `sip.send` / `sip.recv` fields of `message`,
/// exchanged with the host at `peer`.
fn with_fields(
    message: &Message,
    peer: SocketAddr,
    retransmission: bool,
    record: impl FnOnce(SipFields<'_>),
) {
    let label = message.start_label();
    let cseq = message.cseq().to_string();
    let peer = host_of(peer);
    record(SipFields {
        call: message.callsim_call().unwrap_or(""),
        sip_call_id: message.call_id(),
        start_line: &label,
        cseq: &cseq,
        peer: &peer,
        retransmission,
        from_tag: message.from_tag(),
        to_tag: message.to_tag(),
        sdp: message.sdp_body(),
    });
}

/// A response this proxy generates itself (a 503, a 483, 200 to a ping),
/// with `to_tag` for codes above 100.
pub fn local_response(request: &Message, code: u16, to_tag: &str) -> Option<Message> {
    local_response_with(request, code, to_tag, Vec::new())
}

/// [`local_response`] with extra headers (e.g. `Retry-After`).
pub fn local_response_with(
    request: &Message,
    code: u16,
    to_tag: &str,
    extra_headers: Vec<(String, String)>,
) -> Option<Message> {
    build_response(
        request,
        code,
        &ResponseSpec {
            to_tag: (code > 100).then(|| to_tag.to_string()),
            extra_headers,
            ..ResponseSpec::default()
        },
    )
    .ok()
}

/// The To tag of a response a proxy makes itself (a 503, a 483, a 100's
/// final): drawn from the host's `salt` (a seeded value of its
/// incarnation) and the request's Call-ID, From tag and branch. A
/// stateless server gives a retransmitted request the same tag (RFC 3261
/// section 8.2.7) and two dialogs different ones (section 19.3), and never
/// writes its host name there.
pub fn local_tag(salt: u64, request: &Message) -> String {
    let id = derive_seed(
        salt,
        &[
            request.call_id(),
            request.from_tag().unwrap_or_default(),
            request.branch().unwrap_or_default(),
        ],
    );
    format!("{:08x}", id as u32)
}

/// [`local_tag`] for a request that did not parse: drawn from the salt and
/// the datagram's bytes (a retransmission gets the same tag).
pub fn raw_tag(salt: u64, bytes: &[u8]) -> String {
    format!(
        "{:08x}",
        derive_seed(salt, &[&String::from_utf8_lossy(bytes)]) as u32
    )
}

/// The OPTIONS of a health check from `me` (host `name`) to a target.
pub fn probe_request(me: SocketAddr, name: &str, probe: &Probe) -> Option<Message> {
    let uri = format!("sip:{}:{}", probe.addr.ip(), probe.addr.port());
    let spec = RequestSpec {
        method: Method::Options,
        uri: uri.clone(),
        via: ViaSpec {
            host: me.ip().to_string(),
            port: me.port(),
            branch: probe.branch.clone(),
        },
        from: AddrSpec {
            uri: format!("sip:{name}@{}", me.ip()),
            tag: Some(probe.from_tag.clone()),
        },
        to: AddrSpec { uri, tag: None },
        call_id: probe.call_id.clone(),
        cseq: 1,
        max_forwards: 70,
        contact: None,
        routes: Vec::new(),
        callsim_call: String::new(),
        extra_headers: Vec::new(),
        content_type: None,
        body: Vec::new(),
    };
    build_request(&spec).ok()
}

/// Rendezvous order of `candidates` for a key: the same key always ranks
/// them the same way, and removing one candidate moves only its keys.
///
/// Each candidate's score is a strong 64-bit finaliser (splitmix64's) of
/// the key's hash (FNV-1a over the seed and the key) combined with the
/// candidate's own mixed hash. FNV alone is not enough: names that differ
/// in their last byte (`sip-1`, `sip-2`, ...) changed only the low bits of
/// its product, so the ranking by score favoured one candidate (sip-1 took
/// 80 to 108 of 180 calls among three on seeds 1 to 5).
pub fn rendezvous(seed: u64, key: &str, candidates: &[&str]) -> Vec<usize> {
    let mut key_hash = crate::history::Fnv::new();
    key_hash.write(&seed.to_le_bytes()).write(key.as_bytes());
    let key_hash = key_hash.0;
    let mut order: Vec<(u64, usize)> = candidates
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut name_hash = crate::history::Fnv::new();
            name_hash.write(name.as_bytes());
            (splitmix64(key_hash ^ splitmix64(name_hash.0)), i)
        })
        .collect();
    order.sort();
    order.into_iter().map(|(_, i)| i).collect()
}

/// splitmix64's output function: a bijection of 64-bit words in which
/// every input bit flips each output bit with probability close to 1/2.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stateless proxy's branch for a request it forwards (RFC 3261 section
/// 16.11): a function of the incoming branch and the proxy, so that a
/// retransmission, the CANCEL and the non-2xx ACK of a transaction get the
/// same branch as its INVITE.
pub fn derived_branch(incoming: &str, me: &str) -> String {
    let mut h = crate::history::Fnv::new();
    h.write(incoming.as_bytes())
        .write(&[0])
        .write(me.as_bytes());
    format!("{}{:016x}", crate::sip::ids::BRANCH_MAGIC_COOKIE, h.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_from_ip_literals_only() {
        assert_eq!(
            uri_addr("sip:+1555@192.168.0.4:5070"),
            Some("192.168.0.4:5070".parse().unwrap())
        );
        assert_eq!(
            uri_addr("sip:192.168.0.4;lr"),
            Some("192.168.0.4:5060".parse().unwrap())
        );
        assert_eq!(uri_addr("sip:+1555@lb-1"), None);
        let target = "192.168.0.9:5060".parse().unwrap();
        assert_eq!(
            retarget("sip:+1555@lb-1", target),
            "sip:+1555@192.168.0.9:5060"
        );
        assert_eq!(retarget("sip:lb-1", target), "sip:192.168.0.9:5060");
    }

    fn invite(call_id: &str, branch: &str) -> Message {
        let m = crate::sip::testkit::request("INVITE", "sip:+1555@lb-1", call_id, None, "", "");
        let mut edit = m.edit();
        edit.set_header(
            "Via",
            &format!("SIP/2.0/UDP 192.168.0.1:5060;branch={branch}"),
        );
        edit.finish().expect("valid")
    }

    /// A proxy's own answers: the same tag for a retransmission (a
    /// stateless server has no other way to keep it), a different one for
    /// another call or another host (another salt), never the host's name.
    #[test]
    fn local_tags_are_stable_per_request_unique_per_dialog_and_never_a_name() {
        let a = invite("c1", "z9hG4bKa");
        let tag = local_tag(7, &a);
        assert_eq!(tag, local_tag(7, &invite("c1", "z9hG4bKa")));
        assert_ne!(tag, local_tag(7, &invite("c2", "z9hG4bKa")));
        assert_ne!(tag, local_tag(7, &invite("c1", "z9hG4bKb")));
        assert_ne!(tag, local_tag(8, &a));
        assert_eq!(tag.len(), 8);
        assert!(tag.chars().all(|c| c.is_ascii_hexdigit()), "{tag}");
        let answer = local_response(&a, 503, &tag).expect("builds");
        assert_eq!(answer.to_tag(), Some(tag.as_str()));
    }

    #[test]
    fn a_call_less_options_builds_and_branches_are_stable() {
        let spec = RequestSpec {
            method: Method::Options,
            uri: "sip:192.168.0.4:5060".into(),
            via: ViaSpec {
                host: "192.168.0.2".into(),
                port: 5060,
                branch: "z9hG4bKhealth1".into(),
            },
            from: AddrSpec {
                uri: "sip:lb-1@192.168.0.2".into(),
                tag: Some("hc1".into()),
            },
            to: AddrSpec {
                uri: "sip:192.168.0.4:5060".into(),
                tag: None,
            },
            call_id: "health-lb-1-1@192.168.0.2".into(),
            cseq: 1,
            max_forwards: 70,
            contact: None,
            routes: vec![],
            callsim_call: String::new(),
            extra_headers: vec![],
            content_type: None,
            body: vec![],
        };
        let options = build_request(&spec).expect("builds");
        let via = options.top_via();
        let refusal = local_response_with(
            &options,
            429,
            "lb-1",
            vec![("Retry-After".into(), "1".into())],
        )
        .expect("builds");
        let text = String::from_utf8_lossy(refusal.as_bytes()).to_string();
        assert!(text.starts_with("SIP/2.0 429"), "{text}");
        assert!(text.contains("\r\nRetry-After: 1\r\n"), "{text}");
        assert!(via.names("192.168.0.2:5060".parse().unwrap()));
        assert_eq!(
            via.response_addr(),
            Some("192.168.0.2:5060".parse().unwrap())
        );
        assert_eq!(
            derived_branch("z9hG4bKa", "lb-1"),
            derived_branch("z9hG4bKa", "lb-1")
        );
        assert_ne!(
            derived_branch("z9hG4bKa", "lb-1"),
            derived_branch("z9hG4bKa", "lb-2")
        );
    }

    /// Pearson's statistic of how often each of `backends` came first
    /// over `keys` Call-IDs, against an even spread.
    fn chi_square(seed: u64, backends: usize, keys: usize) -> (f64, Vec<usize>) {
        let names: Vec<String> = (1..=backends).map(|i| format!("sip-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut rng = crate::sim::rng::rng_for(seed, &["carrier", "ua", "0"]);
        let mut firsts = vec![0usize; backends];
        for _ in 0..keys {
            let call_id = crate::sip::ids::new_call_id(&mut rng, "carrier");
            firsts[rendezvous(seed, &call_id, &names)[0]] += 1;
        }
        let expected = keys as f64 / backends as f64;
        let stat = firsts
            .iter()
            .map(|&n| (n as f64 - expected).powi(2) / expected)
            .sum();
        (stat, firsts)
    }

    #[test]
    fn rendezvous_spreads_call_ids_evenly() {
        // 99.9% critical values of chi-square with 2 and 4 degrees of
        // freedom.
        for (backends, critical) in [(3, 13.816), (5, 18.467)] {
            for seed in 1..=5 {
                let (stat, firsts) = chi_square(seed, backends, 10_000);
                eprintln!("seed {seed}, {backends} backends: chi-square {stat:.2} {firsts:?}");
                assert!(
                    stat < critical,
                    "seed {seed}, {backends} backends: chi-square {stat:.2} >= {critical} ({firsts:?})"
                );
            }
        }
    }

    #[test]
    fn rendezvous_ranks_calls_and_ids_alike_evenly() {
        // Sequential, nearly identical keys (in-1, in-2, ...) too.
        let names = ["sip-1", "sip-2", "sip-3"];
        for seed in 1..=5 {
            let mut firsts = [0usize; 3];
            for n in 1..=3_000 {
                firsts[rendezvous(seed, &format!("in-{n}@carrier"), &names)[0]] += 1;
            }
            let stat: f64 = firsts
                .iter()
                .map(|&n| (n as f64 - 1_000.0).powi(2) / 1_000.0)
                .sum();
            assert!(stat < 13.816, "seed {seed}: {stat:.2} ({firsts:?})");
        }
    }

    #[test]
    fn removing_a_candidate_moves_only_its_keys() {
        let all = ["sip-1", "sip-2", "sip-3", "sip-4", "sip-5"];
        let mut rng = crate::sim::rng::rng_for(3, &["removal"]);
        for gone in 0..all.len() {
            let rest: Vec<&str> = all
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != gone)
                .map(|(_, n)| *n)
                .collect();
            for _ in 0..2_000 {
                let key = crate::sip::ids::new_call_id(&mut rng, "carrier");
                let before: Vec<&str> = rendezvous(3, &key, &all)
                    .into_iter()
                    .map(|i| all[i])
                    .filter(|n| *n != all[gone])
                    .collect();
                let after: Vec<&str> = rendezvous(3, &key, &rest)
                    .into_iter()
                    .map(|i| rest[i])
                    .collect();
                // The survivors keep their relative order: a key whose
                // first choice survives keeps it, and a key of the removed
                // candidate moves to its second choice.
                assert_eq!(before, after, "{key} without {}", all[gone]);
            }
        }
    }
}
