//! SDP (RFC 4566) and the offer/answer model (RFC 3264), as much as
//! callsim's calls need: a session with `v= o= s= c= t=` and audio `m=`
//! lines carrying several payload types (`a=rtpmap`), `RTP/AVP` or
//! `RTP/SAVP` with `a=crypto` (RFC 4568), and a direction attribute.
//!
//! ```text
//! v=0
//! o=- 0 0 IN IP4 192.168.0.3
//! s=callsim
//! c=IN IP4 192.168.0.3
//! t=0 0
//! m=audio 10000 RTP/AVP 0 8 111
//! a=rtpmap:0 PCMU/8000
//! a=rtpmap:8 PCMA/8000
//! a=rtpmap:111 opus/48000/2
//! a=sendrecv
//! ```
//!
//! - [`Sdp::parse`] / [`Sdp`]'s `Display`: the model, written back with
//!   `\r\n` line ends. Lines the model does not interpret (`b=`, `a=fmtp`,
//!   `a=ptime`, ..) are kept in place, so a parse and write keeps them.
//! - [`answer`]: the answerer's side of RFC 3264 section 6: each offered
//!   m-line, in order, accepted with the codecs both sides have (in the
//!   offerer's order) or rejected with port 0; [`check_answer`] judges an
//!   answer against its offer, for an oracle.
//! - [`body`], [`media_addr`], [`rewrite`]: the text-level helpers the
//!   nodes use (a UA's offer, the address it announces, an SBC anchoring
//!   media by rewriting `c=`/`m=` and nothing else).
//!
//! Codecs are named as in `a=rtpmap` (`PCMU`, `PCMA`, `G722`, `G729`,
//! `opus`; see [`CODECS`]), compared case-insensitively. Static payload
//! types (0, 8, 9, 18) need no `a=rtpmap`; dynamic ones (96-127) do.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The content type of an SDP body.
pub const CONTENT_TYPE: &str = "application/sdp";

/// Most m-lines a parsed body may hold (a bound on untrusted input).
pub const MEDIA_MAX: usize = 16;

/// Most payload types one m-line may list.
pub const FORMATS_MAX: usize = 32;

/// A codec as `a=rtpmap` names it: encoding, clock rate, channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    pub name: String,
    pub clock_hz: u32,
    /// Audio channels, when written (`opus/48000/2`).
    pub channels: Option<u8>,
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.clock_hz)?;
        if let Some(c) = self.channels {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

/// The codecs callsim knows: (payload type callsim offers it with, name,
/// clock rate, channels). 0, 8, 9 and 18 are static (RFC 3551); 111 is
/// the usual dynamic type for opus.
pub const CODECS: &[(u8, &str, u32, Option<u8>)] = &[
    (0, "PCMU", 8000, None),
    (8, "PCMA", 8000, None),
    (9, "G722", 8000, None),
    (18, "G729", 8000, None),
    (111, "opus", 48000, Some(2)),
];

/// The codec of a static payload type (RFC 3551), if callsim knows it.
pub fn static_codec(pt: u8) -> Option<Codec> {
    CODECS
        .iter()
        .find(|c| c.0 == pt && pt < 96)
        .map(|&(_, name, clock_hz, channels)| Codec {
            name: name.to_string(),
            clock_hz,
            channels,
        })
}

/// The payload type and codec callsim offers `name` with (`PCMU`, `opus`,
/// case-insensitive), if it knows it.
pub fn known_codec(name: &str) -> Option<(u8, Codec)> {
    CODECS
        .iter()
        .find(|c| c.1.eq_ignore_ascii_case(name))
        .map(|&(pt, name, clock_hz, channels)| {
            (
                pt,
                Codec {
                    name: name.to_string(),
                    clock_hz,
                    channels,
                },
            )
        })
}

/// The media transport of an m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proto {
    /// `RTP/AVP`: plain RTP.
    RtpAvp,
    /// `RTP/SAVP`: SRTP, keyed by `a=crypto` (RFC 4568).
    RtpSavp,
    /// Anything else, kept as written.
    Other(String),
}

impl Proto {
    fn parse(text: &str) -> Proto {
        match text {
            "RTP/AVP" => Proto::RtpAvp,
            "RTP/SAVP" => Proto::RtpSavp,
            other => Proto::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Proto::RtpAvp => "RTP/AVP",
            Proto::RtpSavp => "RTP/SAVP",
            Proto::Other(s) => s,
        }
    }
}

/// The direction attribute of an m-line (RFC 3264 section 5.1); absent
/// means `sendrecv`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn parse(text: &str) -> Option<Direction> {
        Some(match text {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The answer's direction to an offer's (RFC 3264 section 6.1): the
    /// mirror image, `inactive` staying `inactive`.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// Whether `answer` is an allowed answer to `self` (section 6.1: to
    /// `sendonly` only `recvonly` or `inactive`, to `recvonly` only
    /// `sendonly` or `inactive`, to `inactive` only `inactive`).
    pub fn allows_answer(self, answer: Direction) -> bool {
        answer == Direction::Inactive
            || match self {
                Direction::SendRecv => true,
                Direction::SendOnly => answer == Direction::RecvOnly,
                Direction::RecvOnly => answer == Direction::SendOnly,
                Direction::Inactive => false,
            }
    }
}

/// One `a=crypto:<tag> <suite> <key-params> [<session-params>]` line
/// (RFC 4568 section 9.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    pub tag: u32,
    /// e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub suite: String,
    /// e.g. `inline:<base64 key||salt>`, with any session parameters.
    pub params: String,
}

impl Crypto {
    fn parse(text: &str) -> Option<Crypto> {
        let mut parts = text.splitn(3, ' ');
        let tag = parts.next()?.parse().ok()?;
        let suite = parts.next()?.to_string();
        let params = parts.next()?.trim().to_string();
        if suite.is_empty() || params.is_empty() {
            return None;
        }
        Some(Crypto { tag, suite, params })
    }
}

/// The SRTP crypto suites callsim's answerers accept, in preference order.
pub const CRYPTO_SUITES: &[&str] = &["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"];

/// One media description (`m=` and its lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, ..
    pub kind: String,
    /// 0 rejects the stream (RFC 3264 section 6).
    pub port: u16,
    pub proto: Proto,
    /// Payload types in preference order.
    pub formats: Vec<u8>,
    /// `a=rtpmap` per payload type that has one.
    pub rtpmaps: Vec<(u8, Codec)>,
    pub crypto: Vec<Crypto>,
    pub direction: Direction,
    /// Whether the direction was written (absent means sendrecv).
    direction_written: bool,
    /// A media-level `c=` address.
    pub connection: Option<IpAddr>,
    /// Lines kept as written (`b=`, `a=fmtp:..`, `a=ptime:..`).
    pub other: Vec<String>,
}

impl Media {
    /// An audio m-line at `port` offering `codecs` (names from [`CODECS`];
    /// unknown names are skipped), over `proto`.
    pub fn audio(port: u16, codecs: &[&str], proto: Proto) -> Media {
        let mut media = Media {
            kind: "audio".to_string(),
            port,
            proto,
            formats: Vec::new(),
            rtpmaps: Vec::new(),
            crypto: Vec::new(),
            direction: Direction::SendRecv,
            direction_written: false,
            connection: None,
            other: Vec::new(),
        };
        for name in codecs {
            if let Some((pt, codec)) = known_codec(name) {
                media.formats.push(pt);
                media.rtpmaps.push((pt, codec));
            }
        }
        media
    }

    /// Sets the direction attribute (written out).
    pub fn with_direction(mut self, direction: Direction) -> Media {
        self.direction = direction;
        self.direction_written = true;
        self
    }

    /// The codec of payload type `pt`: its `a=rtpmap`, else the static
    /// assignment.
    pub fn codec(&self, pt: u8) -> Option<Codec> {
        self.rtpmaps
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, c)| c.clone())
            .or_else(|| static_codec(pt))
    }

    /// The codec names this m-line offers, in order (unknown payload
    /// types are left out).
    pub fn codec_names(&self) -> Vec<String> {
        self.formats
            .iter()
            .filter_map(|&pt| self.codec(pt).map(|c| c.name))
            .collect()
    }

    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// `o=` username, session id and version, and address.
    pub origin_user: String,
    pub session_id: String,
    pub session_version: String,
    pub origin_addr: IpAddr,
    /// `s=`.
    pub session_name: String,
    /// The session-level `c=` address.
    pub connection: Option<IpAddr>,
    /// `t=` as written (`0 0`).
    pub timing: String,
    /// Session-level lines kept as written (`b=`, `a=` before any `m=`).
    pub other: Vec<String>,
    pub media: Vec<Media>,
}

/// Why a body is not a session description callsim can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SDP line {line}: {reason}")]
pub struct SdpError {
    /// 1-based line number (0: the body as a whole).
    pub line: usize,
    pub reason: String,
}

fn err(line: usize, reason: impl Into<String>) -> SdpError {
    SdpError {
        line,
        reason: reason.into(),
    }
}

fn parse_addr(text: &str, line: usize) -> Result<IpAddr, SdpError> {
    let mut p = text.split_whitespace();
    let (net, kind, addr) = (p.next(), p.next(), p.next());
    if net != Some("IN") || !matches!(kind, Some("IP4" | "IP6")) {
        return Err(err(line, format!("`{text}` is not `IN IP4|IP6 <address>`")));
    }
    addr.and_then(|a| a.parse().ok())
        .ok_or_else(|| err(line, format!("`{text}` has no usable address")))
}

fn addr_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => format!("IN IP4 {a}"),
        IpAddr::V6(a) => format!("IN IP6 {a}"),
    }
}

impl Sdp {
    /// An offer from `addr` with one audio m-line offering `codecs` (names
    /// from [`CODECS`]) over `proto`; a `RTP/SAVP` offer carries one
    /// `a=crypto` line with `key` (base64 key and salt).
    pub fn offer(addr: SocketAddr, codecs: &[&str], proto: Proto, key: &str) -> Sdp {
        let mut media = Media::audio(addr.port(), codecs, proto);
        if media.proto == Proto::RtpSavp {
            media.crypto.push(Crypto {
                tag: 1,
                suite: CRYPTO_SUITES[0].to_string(),
                params: format!("inline:{key}"),
            });
        }
        Sdp {
            origin_user: "-".to_string(),
            session_id: "0".to_string(),
            session_version: "0".to_string(),
            origin_addr: addr.ip(),
            session_name: "callsim".to_string(),
            connection: Some(addr.ip()),
            timing: "0 0".to_string(),
            other: Vec::new(),
            media: vec![media],
        }
    }

    /// Parses a body. Needs `v=0`, `o=`, `s=` and `t=`; every m-line
    /// needs a connection address (its own `c=` or the session's).
    pub fn parse(text: &str) -> Result<Sdp, SdpError> {
        let mut sdp = Sdp {
            origin_user: String::new(),
            session_id: String::new(),
            session_version: String::new(),
            origin_addr: IpAddr::from([0, 0, 0, 0]),
            session_name: String::new(),
            connection: None,
            timing: String::new(),
            other: Vec::new(),
            media: Vec::new(),
        };
        let (mut seen_v, mut seen_o, mut seen_s, mut seen_t) = (false, false, false, false);
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let Some((kind, value)) = line.split_once('=') else {
                return Err(err(n, format!("`{line}` is not `<type>=<value>`")));
            };
            if kind.len() != 1 {
                return Err(err(n, format!("`{kind}` is not a one-letter type")));
            }
            if !seen_v && kind != "v" {
                return Err(err(n, "the first line must be `v=0`"));
            }
            let in_media = !sdp.media.is_empty();
            match kind {
                "v" => {
                    if value != "0" || seen_v {
                        return Err(err(n, "`v=0` must come once, first"));
                    }
                    seen_v = true;
                }
                "o" => {
                    let p: Vec<&str> = value.split_whitespace().collect();
                    if p.len() != 6 {
                        return Err(err(n, "`o=` needs 6 fields"));
                    }
                    sdp.origin_user = p[0].to_string();
                    sdp.session_id = p[1].to_string();
                    sdp.session_version = p[2].to_string();
                    sdp.origin_addr = parse_addr(&p[3..].join(" "), n)?;
                    seen_o = true;
                }
                "s" => {
                    sdp.session_name = value.to_string();
                    seen_s = true;
                }
                "t" => {
                    sdp.timing = value.to_string();
                    seen_t = true;
                }
                "c" => {
                    let addr = parse_addr(value, n)?;
                    match sdp.media.last_mut() {
                        Some(m) => m.connection = Some(addr),
                        None => sdp.connection = Some(addr),
                    }
                }
                "m" => {
                    if sdp.media.len() >= MEDIA_MAX {
                        return Err(err(n, format!("more than {MEDIA_MAX} m-lines")));
                    }
                    sdp.media.push(parse_m(value, n)?);
                }
                "a" if in_media => {
                    let m = sdp.media.last_mut().expect("in a media section");
                    parse_media_attribute(m, value, line, n)?;
                }
                _ => {
                    let keep = line.to_string();
                    match sdp.media.last_mut() {
                        Some(m) => m.other.push(keep),
                        None => sdp.other.push(keep),
                    }
                }
            }
        }
        if !(seen_v && seen_o && seen_s && seen_t) {
            return Err(err(0, "a session needs v=, o=, s= and t="));
        }
        for (i, m) in sdp.media.iter().enumerate() {
            if m.connection.is_none() && sdp.connection.is_none() {
                return Err(err(0, format!("m-line {} has no c= address", i + 1)));
            }
        }
        Ok(sdp)
    }

    /// The address media for m-line `i` goes to (its `c=`, else the
    /// session's) and its port.
    pub fn media_addr_of(&self, i: usize) -> Option<SocketAddr> {
        let m = self.media.get(i)?;
        Some(SocketAddr::new(m.connection.or(self.connection)?, m.port))
    }

    /// The first audio m-line that is not rejected.
    pub fn first_audio(&self) -> Option<usize> {
        self.media
            .iter()
            .position(|m| m.kind == "audio" && !m.is_rejected())
    }
}

fn parse_m(value: &str, n: usize) -> Result<Media, SdpError> {
    let p: Vec<&str> = value.split_whitespace().collect();
    if p.len() < 4 {
        return Err(err(
            n,
            "`m=` needs <media> <port> <proto> and at least one format",
        ));
    }
    let port = p[1]
        .split('/')
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err(n, format!("`{}` is not a port", p[1])))?;
    if p.len() - 3 > FORMATS_MAX {
        return Err(err(n, format!("more than {FORMATS_MAX} formats")));
    }
    let mut formats = Vec::new();
    for f in &p[3..] {
        formats.push(
            f.parse::<u8>()
                .ok()
                .filter(|pt| *pt < 128)
                .ok_or_else(|| err(n, format!("`{f}` is not an RTP payload type")))?,
        );
    }
    Ok(Media {
        kind: p[0].to_string(),
        port,
        proto: Proto::parse(p[2]),
        formats,
        rtpmaps: Vec::new(),
        crypto: Vec::new(),
        direction: Direction::SendRecv,
        direction_written: false,
        connection: None,
        other: Vec::new(),
    })
}

fn parse_media_attribute(m: &mut Media, value: &str, line: &str, n: usize) -> Result<(), SdpError> {
    if let Some(d) = Direction::parse(value) {
        m.direction = d;
        m.direction_written = true;
    } else if let Some(rest) = value.strip_prefix("rtpmap:") {
        let (pt, codec) = rest
            .split_once(' ')
            .ok_or_else(|| err(n, "`a=rtpmap:` needs <pt> <name>/<clock>"))?;
        let pt: u8 = pt
            .parse()
            .map_err(|_| err(n, format!("`{pt}` is not a payload type")))?;
        let mut p = codec.trim().split('/');
        let name = p.next().unwrap_or_default().to_string();
        let clock_hz = p
            .next()
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| err(n, format!("`{codec}` has no clock rate")))?;
        let channels = p.next().and_then(|c| c.parse().ok());
        m.rtpmaps.push((
            pt,
            Codec {
                name,
                clock_hz,
                channels,
            },
        ));
    } else if let Some(rest) = value.strip_prefix("crypto:") {
        m.crypto.push(
            Crypto::parse(rest)
                .ok_or_else(|| err(n, "`a=crypto:` needs <tag> <suite> <key-params>"))?,
        );
    } else {
        m.other.push(line.to_string());
    }
    Ok(())
}

impl fmt::Display for Sdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "v=0\r\no={} {} {} {}\r\ns={}\r\n",
            self.origin_user,
            self.session_id,
            self.session_version,
            addr_text(self.origin_addr),
            self.session_name
        )?;
        if let Some(c) = self.connection {
            write!(f, "c={}\r\n", addr_text(c))?;
        }
        write!(f, "t={}\r\n", self.timing)?;
        for line in &self.other {
            write!(f, "{line}\r\n")?;
        }
        for m in &self.media {
            write!(f, "m={} {} {}", m.kind, m.port, m.proto.as_str())?;
            for pt in &m.formats {
                write!(f, " {pt}")?;
            }
            f.write_str("\r\n")?;
            if let Some(c) = m.connection {
                write!(f, "c={}\r\n", addr_text(c))?;
            }
            for (pt, codec) in &m.rtpmaps {
                write!(f, "a=rtpmap:{pt} {codec}\r\n")?;
            }
            for c in &m.crypto {
                write!(f, "a=crypto:{} {} {}\r\n", c.tag, c.suite, c.params)?;
            }
            for line in &m.other {
                write!(f, "{line}\r\n")?;
            }
            if m.direction_written {
                write!(f, "a={}\r\n", m.direction.as_str())?;
            }
        }
        Ok(())
    }
}

/// What an answerer can take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Codec names it accepts (case-insensitive); `None` accepts every
    /// codec offered.
    pub codecs: Option<Vec<String>>,
    /// Whether it does SRTP (`RTP/SAVP` with a suite of [`CRYPTO_SUITES`]).
    pub srtp: bool,
    /// The key (base64 key and salt) of its `a=crypto` answers.
    pub srtp_key: String,
}

impl Capabilities {
    fn accepts(&self, codec: &Codec) -> bool {
        self.codecs
            .as_ref()
            .is_none_or(|list| list.iter().any(|c| c.eq_ignore_ascii_case(&codec.name)))
    }
}

/// Why no answer accepts any stream (the answerer then rejects the
/// INVITE, 488 Not Acceptable Here, RFC 3261 section 13.3.1.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no offered stream is acceptable: {0}")]
pub struct NotAcceptable(pub String);

/// The answer to `offer` from an answerer at `addr` that can take `caps`
/// (RFC 3264 section 6): one m-line per offered m-line, in order. An
/// audio m-line over `RTP/AVP` (or `RTP/SAVP` when the answerer does SRTP
/// and shares a crypto suite) with at least one codec the answerer takes
/// is accepted: port `addr`'s, the common payload types in the offerer's
/// order with their `a=rtpmap`, the mirrored direction, and for SRTP one
/// `a=crypto` with the offer's tag and suite and the answerer's key. Any
/// other m-line is rejected: port 0, the offer's formats (section 6: a
/// rejected stream keeps at least one). No stream accepted at all is
/// [`NotAcceptable`].
pub fn answer(offer: &Sdp, caps: &Capabilities, addr: SocketAddr) -> Result<Sdp, NotAcceptable> {
    let mut media = Vec::with_capacity(offer.media.len());
    let mut why = Vec::new();
    for (i, o) in offer.media.iter().enumerate() {
        match answer_media(o, caps, addr.port()) {
            Ok(m) => media.push(m),
            Err(reason) => {
                why.push(format!("m-line {}: {reason}", i + 1));
                media.push(Media {
                    port: 0,
                    rtpmaps: Vec::new(),
                    crypto: Vec::new(),
                    connection: None,
                    other: Vec::new(),
                    direction_written: false,
                    direction: Direction::SendRecv,
                    ..o.clone()
                });
            }
        }
    }
    if media.iter().all(Media::is_rejected) {
        return Err(NotAcceptable(if why.is_empty() {
            "the offer has no m-line".to_string()
        } else {
            why.join("; ")
        }));
    }
    Ok(Sdp {
        origin_user: "-".to_string(),
        session_id: "0".to_string(),
        session_version: "0".to_string(),
        origin_addr: addr.ip(),
        session_name: "callsim".to_string(),
        connection: Some(addr.ip()),
        timing: "0 0".to_string(),
        other: Vec::new(),
        media,
    })
}

fn answer_media(o: &Media, caps: &Capabilities, port: u16) -> Result<Media, String> {
    if o.is_rejected() {
        return Err("rejected in the offer".to_string());
    }
    if o.kind != "audio" {
        return Err(format!("{} is not audio", o.kind));
    }
    let crypto = match &o.proto {
        Proto::RtpAvp => None,
        Proto::RtpSavp if !caps.srtp => return Err("RTP/SAVP and no SRTP here".to_string()),
        Proto::RtpSavp => {
            let offered = o
                .crypto
                .iter()
                .find(|c| CRYPTO_SUITES.contains(&c.suite.as_str()))
                .ok_or("no a=crypto suite in common")?;
            Some(Crypto {
                tag: offered.tag,
                suite: offered.suite.clone(),
                params: format!("inline:{}", caps.srtp_key),
            })
        }
        Proto::Other(p) => return Err(format!("transport {p} not supported")),
    };
    let mut m = Media::audio(port, &[], o.proto.clone());
    for &pt in &o.formats {
        if let Some(codec) = o.codec(pt).filter(|c| caps.accepts(c)) {
            m.formats.push(pt);
            m.rtpmaps.push((pt, codec));
        }
    }
    if m.formats.is_empty() {
        return Err(format!(
            "no codec in common (offered {})",
            o.codec_names().join(" ")
        ));
    }
    m.crypto.extend(crypto);
    Ok(m.with_direction(o.direction.answer()))
}

/// Judges `answer` against `offer` (RFC 3264 section 6, RFC 4568 section
/// 7.1.2): as many m-lines, in the same order and of the same media type
/// and transport; an accepted m-line lists only offered payload types
/// (mapped to the same codecs), a direction allowed for the offer's, and,
/// over `RTP/SAVP`, exactly one `a=crypto` with an offered tag and suite;
/// at least one m-line accepted. `Err` says the first rule broken.
pub fn check_answer(offer: &Sdp, answer: &Sdp) -> Result<(), String> {
    if offer.media.len() != answer.media.len() {
        return Err(format!(
            "the offer has {} m-lines and the answer {}",
            offer.media.len(),
            answer.media.len()
        ));
    }
    for (i, (o, a)) in offer.media.iter().zip(&answer.media).enumerate() {
        let n = i + 1;
        if o.kind != a.kind || o.proto != a.proto {
            return Err(format!(
                "m-line {n}: offered {} {}, answered {} {}",
                o.kind,
                o.proto.as_str(),
                a.kind,
                a.proto.as_str()
            ));
        }
        if a.is_rejected() {
            continue;
        }
        if o.is_rejected() {
            return Err(format!("m-line {n}: accepts a stream the offer rejected"));
        }
        for &pt in &a.formats {
            let offered = o.formats.contains(&pt) && o.codec(pt) == a.codec(pt);
            if !offered {
                return Err(format!(
                    "m-line {n}: payload type {pt} was not offered as {}",
                    a.codec(pt).map(|c| c.to_string()).unwrap_or_default()
                ));
            }
        }
        if !o.direction.allows_answer(a.direction) {
            return Err(format!(
                "m-line {n}: {} does not answer {}",
                a.direction.as_str(),
                o.direction.as_str()
            ));
        }
        if a.proto == Proto::RtpSavp {
            let [c] = a.crypto.as_slice() else {
                return Err(format!(
                    "m-line {n}: an SRTP answer carries exactly one a=crypto, not {}",
                    a.crypto.len()
                ));
            };
            if !o
                .crypto
                .iter()
                .any(|x| x.tag == c.tag && x.suite == c.suite)
            {
                return Err(format!(
                    "m-line {n}: a=crypto {} {} was not offered",
                    c.tag, c.suite
                ));
            }
        }
    }
    if answer.media.iter().all(Media::is_rejected) {
        return Err("the answer rejects every stream; that is a 488, not a 2xx".to_string());
    }
    Ok(())
}

/// The header a 488 to an offer with no acceptable media carries (RFC 3261
/// section 20.43, warn-code 304 "Media type not available"), from the
/// host named `agent`: `Warning: 304 carrier "Media type not available"`.
pub fn warning_media_unavailable(agent: &str) -> (String, String) {
    (
        "Warning".to_string(),
        format!("304 {agent} \"Media type not available\""),
    )
}

/// The codecs a UA offers when nothing says otherwise: [`body`]'s.
pub const DEFAULT_OFFER_CODECS: &[&str] = &["PCMU"];

/// An SDP body announcing media at `addr`: one audio m-line offering
/// [`DEFAULT_OFFER_CODECS`] over `RTP/AVP`.
pub fn body(addr: SocketAddr) -> String {
    Sdp::offer(addr, DEFAULT_OFFER_CODECS, Proto::RtpAvp, "").to_string()
}

/// The media address an SDP body announces (the first audio m-line that
/// is not rejected, at its `c=` address or the session's), or `None` when
/// there is none or the body is not SDP.
pub fn media_addr(body: &str) -> Option<SocketAddr> {
    let sdp = Sdp::parse(body).ok()?;
    sdp.media_addr_of(sdp.first_audio()?)
}

/// `body` with its media address replaced by `addr` (what an SBC does to
/// anchor media): every `c=` and the `o=` address become `addr`'s, the
/// port of the first audio m-line that is not rejected becomes `addr`'s;
/// every other line (codecs, `a=rtpmap`, `a=crypto`, direction,
/// `a=fmtp`, ..) is kept as written. `None` when `body` announces no
/// media address.
pub fn rewrite(body: &str, addr: SocketAddr) -> Option<String> {
    let sdp = Sdp::parse(body).ok()?;
    let target = sdp.first_audio()?;
    sdp.media_addr_of(target)?;
    let ip = addr_text(addr.ip());
    let mut out = String::with_capacity(body.len() + 16);
    let mut m_index: Option<usize> = None;
    for raw in body.lines() {
        let line = raw.trim_end_matches('\r');
        if line.starts_with("c=") {
            out.push_str(&format!("c={ip}"));
        } else if let Some(rest) = line.strip_prefix("o=") {
            let fields: Vec<&str> = rest.split_whitespace().take(3).collect();
            out.push_str(&format!("o={} {ip}", fields.join(" ")));
        } else if let Some(rest) = line.strip_prefix("m=") {
            let i = m_index.map_or(0, |i| i + 1);
            m_index = Some(i);
            let mut p: Vec<&str> = rest.split(' ').collect();
            let port = addr.port().to_string();
            if i == target && p.len() > 1 {
                p[1] = &port;
            }
            out.push_str(&format!("m={}", p.join(" ")));
        } else if line.is_empty() {
            continue;
        } else {
            out.push_str(line);
        }
        out.push_str("\r\n");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("socket address")
    }

    const RICH: &str = "v=0\r\n\
        o=alice 2890844526 2890844527 IN IP4 10.0.0.1\r\n\
        s=-\r\n\
        c=IN IP4 10.0.0.1\r\n\
        t=0 0\r\n\
        m=audio 49170 RTP/SAVP 111 0 8 9 18 101\r\n\
        a=rtpmap:111 opus/48000/2\r\n\
        a=rtpmap:101 telephone-event/8000\r\n\
        a=fmtp:101 0-15\r\n\
        a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r\n\
        a=sendonly\r\n\
        m=video 51372 RTP/AVP 96\r\n\
        a=rtpmap:96 H264/90000\r\n";

    fn caps(codecs: Option<&[&str]>, srtp: bool) -> Capabilities {
        Capabilities {
            codecs: codecs.map(|c| c.iter().map(|s| s.to_string()).collect()),
            srtp,
            srtp_key: "KEY".to_string(),
        }
    }

    #[test]
    fn round_trip_and_rewrite() {
        let a = addr("192.168.0.3:10000");
        let b = body(a);
        assert_eq!(media_addr(&b), Some(a));
        let moved = rewrite(&b, addr("192.168.0.9:10002")).expect("has media");
        assert_eq!(media_addr(&moved), Some(addr("192.168.0.9:10002")));
        assert!(moved.contains("m=audio 10002 RTP/AVP 0\r\n"));
        assert!(!moved.contains("192.168.0.3"));
    }

    #[test]
    fn missing_or_malformed_lines_give_none() {
        assert_eq!(media_addr(""), None);
        assert_eq!(media_addr("v=0\r\nc=IN IP4 10.0.0.1\r\n"), None);
        assert_eq!(
            media_addr("c=IN IP4 nonsense\r\nm=audio 5 RTP/AVP 0\r\n"),
            None
        );
        assert_eq!(rewrite("v=0\r\n", addr("10.0.0.1:1")), None);
    }

    #[test]
    fn a_rich_body_parses_and_writes_back_every_line() {
        let sdp = Sdp::parse(RICH).expect("valid");
        assert_eq!(sdp.media.len(), 2);
        let audio = &sdp.media[0];
        assert_eq!(audio.proto, Proto::RtpSavp);
        assert_eq!(audio.formats, vec![111, 0, 8, 9, 18, 101]);
        assert_eq!(
            audio.codec_names(),
            ["opus", "PCMU", "PCMA", "G722", "G729", "telephone-event"]
        );
        assert_eq!(audio.direction, Direction::SendOnly);
        assert_eq!(audio.crypto[0].suite, "AES_CM_128_HMAC_SHA1_80");
        assert_eq!(audio.other, ["a=fmtp:101 0-15"]);
        let again = Sdp::parse(&sdp.to_string()).expect("its own output parses");
        assert_eq!(again, sdp);
        assert_eq!(media_addr(RICH), Some(addr("10.0.0.1:49170")));
    }

    #[test]
    fn rewrite_moves_only_the_address_and_keeps_codecs_and_crypto() {
        let moved = rewrite(RICH, addr("192.168.0.9:20000")).expect("has media");
        let (before, after) = (
            Sdp::parse(RICH).expect("valid"),
            Sdp::parse(&moved).expect("valid"),
        );
        assert_eq!(media_addr(&moved), Some(addr("192.168.0.9:20000")));
        assert_eq!(after.origin_user, "alice");
        assert_eq!(after.session_version, "2890844527");
        assert_eq!(after.media[0].formats, before.media[0].formats);
        assert_eq!(after.media[0].rtpmaps, before.media[0].rtpmaps);
        assert_eq!(after.media[0].crypto, before.media[0].crypto);
        assert_eq!(after.media[0].direction, Direction::SendOnly);
        assert_eq!(after.media[1].port, 51372, "other m-lines keep their port");
        assert!(moved.contains("a=fmtp:101 0-15\r\n"));
    }

    #[test]
    fn bad_bodies_say_which_line() {
        let bad = |text: &str, line: usize| {
            assert_eq!(Sdp::parse(text).expect_err(text).line, line, "{text}");
        };
        bad("o=- 0 0 IN IP4 1.2.3.4\r\n", 1);
        bad(
            "v=0\r\no=- 0 0 IN IP4 1.2.3.4\r\ns=x\r\nt=0 0\r\nm=audio x RTP/AVP 0\r\n",
            5,
        );
        bad(
            "v=0\r\no=- 0 0 IN IP4 1.2.3.4\r\ns=x\r\nt=0 0\r\nm=audio 1 RTP/AVP 300\r\n",
            5,
        );
        bad(
            "v=0\r\no=- 0 0 IN IP4 1.2.3.4\r\ns=x\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n",
            0,
        );
        bad("v=0\r\ns=x\r\nt=0 0\r\n", 0);
    }

    #[test]
    fn the_answer_keeps_the_offerers_order_restricted_to_the_answerers_codecs() {
        let offer = Sdp::offer(
            addr("10.0.0.1:4000"),
            &["opus", "G722", "PCMA", "PCMU"],
            Proto::RtpAvp,
            "",
        );
        let here = addr("10.0.0.2:5000");
        let a =
            answer(&offer, &caps(Some(&["pcmu", "G722", "G729"]), false), here).expect("in common");
        assert_eq!(a.media[0].formats, vec![9, 0]);
        assert_eq!(a.media[0].port, 5000);
        assert_eq!(a.media[0].direction, Direction::SendRecv);
        assert_eq!(media_addr(&a.to_string()), Some(here));
        assert_eq!(check_answer(&offer, &a), Ok(()));
        // Accept-all takes the whole offer, in order.
        let all = answer(&offer, &caps(None, false), here).expect("in common");
        assert_eq!(all.media[0].formats, vec![111, 9, 8, 0]);
    }

    #[test]
    fn no_codec_in_common_is_not_acceptable() {
        let offer = Sdp::offer(addr("10.0.0.1:4000"), &["PCMU"], Proto::RtpAvp, "");
        let e = answer(&offer, &caps(Some(&["G729"]), false), addr("10.0.0.2:5000"))
            .expect_err("nothing in common");
        assert!(e.0.contains("no codec in common (offered PCMU)"), "{e}");
    }

    #[test]
    fn srtp_is_answered_only_by_an_answerer_that_does_it() {
        let here = addr("10.0.0.2:5000");
        let offer = Sdp::parse(RICH).expect("valid");
        let e = answer(&offer, &caps(None, false), here).expect_err("no SRTP here");
        assert!(e.0.contains("RTP/SAVP"), "{e}");
        assert!(e.0.contains("video is not audio"), "{e}");
        let a = answer(&offer, &caps(Some(&["PCMA", "opus"]), true), here).expect("SRTP");
        let m = &a.media[0];
        assert_eq!(
            (m.proto.clone(), m.formats.clone()),
            (Proto::RtpSavp, vec![111, 8])
        );
        assert_eq!(m.crypto.len(), 1);
        assert_eq!(m.crypto[0].params, "inline:KEY");
        assert_eq!(m.direction, Direction::RecvOnly, "mirrors sendonly");
        assert!(a.media[1].is_rejected(), "video is rejected with port 0");
        assert_eq!(a.media[1].formats, vec![96]);
        assert_eq!(check_answer(&offer, &a), Ok(()));
        let written = a.to_string();
        assert!(written.contains("m=video 0 RTP/AVP 96\r\n"), "{written}");
        assert!(written.contains("a=recvonly\r\n"), "{written}");
    }

    #[test]
    fn a_488_with_the_warning_builds_and_parses() {
        use crate::sip::codec::{build_response, ResponseSpec};
        let invite = crate::sip::testkit::invite("", "");
        let spec = ResponseSpec {
            to_tag: Some("t".to_string()),
            extra_headers: vec![warning_media_unavailable("carrier")],
            ..Default::default()
        };
        let response = build_response(&invite, 488, &spec).expect("builds");
        let again = crate::sip::parse(response.as_bytes()).expect("parses");
        assert_eq!(again.status(), Some(488));
        assert_eq!(
            again.header("Warning"),
            Some("304 carrier \"Media type not available\"")
        );
    }

    /// SDP-like lines, well-formed or not, for the robustness property.
    fn line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just("v=0".to_string()),
            Just("o=- 1 2 IN IP4 10.0.0.1".to_string()),
            Just("s=x".to_string()),
            Just("t=0 0".to_string()),
            Just("c=IN IP4 10.0.0.2".to_string()),
            Just("c=IN IP6 ::1".to_string()),
            (
                0u16..3,
                prop::bool::ANY,
                prop::collection::vec(0u8..130, 0..4)
            )
                .prop_map(|(port, savp, pts)| {
                    let pts: Vec<String> = pts.iter().map(u8::to_string).collect();
                    let proto = if savp { "RTP/SAVP" } else { "RTP/AVP" };
                    format!("m=audio {port} {proto} {}", pts.join(" "))
                }),
            (0u8..130).prop_map(|pt| format!("a=rtpmap:{pt} opus/48000/2")),
            Just("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:abc".to_string()),
            Just("a=sendonly".to_string()),
            Just("a=fmtp:101 0-15".to_string()),
            "[a-z]=[ -~]{0,12}",
            "[ -~]{0,16}",
        ]
    }

    proptest::proptest! {
        /// Any body: parsing, `media_addr` and `rewrite` return, never
        /// panic; a body that parses writes out as one that parses back to
        /// the same model, and `rewrite` keeps its codecs and crypto.
        #[test]
        fn any_body_is_read_without_panic_and_round_trips(
            header in proptest::bool::ANY,
            lines in proptest::collection::vec(line(), 0..12)
        ) {
            let mut text = lines.join("\r\n");
            if header {
                text = format!("v=0\r\no=- 0 0 IN IP4 10.0.0.1\r\ns=x\r\nt=0 0\r\nc=IN IP4 10.0.0.2\r\n{text}");
            }
            let to = addr("192.168.0.9:20000");
            let _ = media_addr(&text);
            let moved = rewrite(&text, to);
            if let Ok(sdp) = Sdp::parse(&text) {
                proptest::prop_assert_eq!(Sdp::parse(&sdp.to_string()), Ok(sdp.clone()));
                if let Some(moved) = moved {
                    let after = Sdp::parse(&moved).expect("a rewrite parses");
                    proptest::prop_assert_eq!(media_addr(&moved), Some(to));
                    for (a, b) in after.media.iter().zip(&sdp.media) {
                        proptest::prop_assert_eq!(&a.formats, &b.formats);
                        proptest::prop_assert_eq!(&a.rtpmaps, &b.rtpmaps);
                        proptest::prop_assert_eq!(&a.crypto, &b.crypto);
                    }
                }
            }
        }
    }

    #[test]
    fn check_answer_names_the_broken_rule() {
        let offer = Sdp::offer(addr("10.0.0.1:4000"), &["PCMU", "PCMA"], Proto::RtpAvp, "");
        let good = answer(&offer, &caps(None, false), addr("10.0.0.2:5000")).expect("ok");
        let broken = |edit: &dyn Fn(&mut Sdp), says: &str| {
            let mut a = good.clone();
            edit(&mut a);
            let e = check_answer(&offer, &a).expect_err(says);
            assert!(e.contains(says), "{e}");
        };
        broken(
            &|a| a.media[0].formats.push(18),
            "payload type 18 was not offered",
        );
        broken(
            &|a| a.media.push(a.media[0].clone()),
            "1 m-lines and the answer 2",
        );
        broken(
            &|a| a.media[0].proto = Proto::RtpSavp,
            "answered audio RTP/SAVP",
        );
        broken(&|a| a.media[0].port = 0, "rejects every stream");
        let sendonly = Sdp {
            media: vec![offer.media[0].clone().with_direction(Direction::SendOnly)],
            ..offer.clone()
        };
        let mut same = good.clone();
        same.media[0] = same.media[0].clone().with_direction(Direction::SendOnly);
        let e = check_answer(&sendonly, &same).expect_err("sendonly to sendonly");
        assert!(e.contains("sendonly does not answer sendonly"), "{e}");
    }
}
