//! The two legs of a call through an SBC pod, each a dialog of its own
//! (the pod is a back-to-back user agent): what the pod keeps of a leg
//! ([`Leg`]), the identifiers it draws for a new downstream leg, and the
//! messages it writes on one leg from what arrived on the other.
//!
//! Topology hiding is done here, by construction: a message written on a
//! leg takes its Via, From, To, Call-ID, CSeq, Route, Record-Route and
//! Contact from that leg alone (the pod's own address where the pod is the
//! sender or the target), never from the other leg; only the headers that
//! name no hop (Session-Expires, Supported, Warning, the history label
//! `X-Callsim-Call`, ...) and the body (its media address already moved
//! to the pod's anchor by the caller) cross from one leg to the other.

use crate::nodes::sipproxy as px;
use crate::sim::rng::derive_seed;
use crate::sip::codec::{format_name_addr, format_via, AddrSpec, CALLSIM_CALL_HEADER};
use crate::sip::{Message, Method, ParseError, StartLine};
use std::net::SocketAddr;

/// Headers a leg owns: written from the leg (or the request being
/// answered), never copied from the other leg.
const LEG_HEADERS: &[&str] = &[
    "Via",
    "Max-Forwards",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Route",
    "Record-Route",
    "Contact",
    "Content-Length",
    CALLSIM_CALL_HEADER,
];

fn owned_by_leg(name: &str) -> bool {
    LEG_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// One side of a bridged call: the dialog the pod holds with the next
/// node on that side (RFC 3261 section 12), as a UA holds it.
#[derive(Debug, Clone)]
pub struct Leg {
    pub call_id: String,
    /// The pod's From (downstream) or To (upstream) URI and tag.
    pub local: AddrSpec,
    /// The peer's URI and tag.
    pub remote: AddrSpec,
    /// Where requests in the dialog go: the peer's Contact.
    pub remote_target: String,
    /// Route set, nearest hop first, as name-addrs.
    pub route_set: Vec<String>,
    /// The CSeq of the pod's latest request on this leg.
    pub local_cseq: u32,
}

impl Leg {
    /// The downstream leg of an INVITE that came from upstream, from the
    /// pod at `me` to the next hop at `hop`: a new Call-ID and From tag
    /// drawn from `salt` and the upstream INVITE (attempt `n`: each next
    /// hop tried is a dialog of its own), the user parts of the upstream
    /// From and To URIs with the pod's and the hop's addresses, no tags
    /// from upstream.
    pub fn downstream(
        salt: u64,
        upstream: &Message,
        n: usize,
        me: SocketAddr,
        hop: SocketAddr,
    ) -> Leg {
        let draw = |what: &str| {
            derive_seed(
                salt,
                &[
                    upstream.call_id(),
                    upstream.from_tag().unwrap_or_default(),
                    upstream.branch().unwrap_or_default(),
                    &n.to_string(),
                    what,
                ],
            )
        };
        Leg {
            call_id: format!("{:016x}{:08x}", draw("call-id"), draw("call-id2") as u32),
            local: AddrSpec {
                uri: px::retarget(&upstream.from().uri, me),
                tag: Some(format!("{:08x}", draw("from-tag") as u32)),
            },
            remote: AddrSpec {
                uri: px::retarget(&upstream.to().uri, hop),
                tag: None,
            },
            remote_target: px::retarget(upstream.request_uri().unwrap_or_default(), hop),
            route_set: Vec::new(),
            local_cseq: 1,
        }
    }

    /// The upstream leg once the pod answered `invite` with its own To
    /// tag `tag` (the pod is the UAS there): the route set is the
    /// INVITE's Record-Route in order (section 12.1.1).
    pub fn upstream(invite: &Message, tag: &str, from: SocketAddr) -> Leg {
        Leg {
            call_id: invite.call_id().to_string(),
            local: AddrSpec {
                uri: invite.to().uri.clone(),
                tag: Some(tag.to_string()),
            },
            remote: AddrSpec {
                uri: invite.from().uri.clone(),
                tag: invite.from_tag().map(str::to_string),
            },
            remote_target: invite
                .contacts()
                .first()
                .map(|c| c.uri.clone())
                .unwrap_or_else(|| format!("sip:{}:{}", from.ip(), from.port())),
            route_set: invite
                .record_routes()
                .iter()
                .map(format_name_addr)
                .collect(),
            local_cseq: 0,
        }
    }

    /// This (downstream) leg confirmed by `response`, a 2xx or 1xx with a
    /// To tag to its INVITE: the callee's tag, Contact and the route set
    /// (Record-Route reversed, section 12.1.2).
    pub fn answered(&self, response: &Message) -> Leg {
        let mut leg = self.clone();
        leg.remote.tag = response.to_tag().map(str::to_string);
        if let Some(contact) = response.contacts().first() {
            leg.remote_target = contact.uri.clone();
        }
        leg.route_set = response
            .record_routes()
            .iter()
            .rev()
            .map(format_name_addr)
            .collect();
        leg
    }

    /// The address a request on this leg goes to: its first route, else
    /// the remote target (IP literals only, as the proxies read them).
    pub fn next_hop(&self) -> Option<SocketAddr> {
        let first = self
            .route_set
            .first()
            .map_or(self.remote_target.as_str(), |r| {
                r.trim_start_matches(|c| c != '<')
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap_or(r)
            });
        crate::nodes::sipproxy::uri_addr(first)
    }

    /// The next CSeq of a request the pod makes on this leg.
    pub fn next_cseq(&mut self) -> u32 {
        self.local_cseq = self.local_cseq.saturating_add(1);
        self.local_cseq
    }
}

/// What a request written on a leg carries besides the leg's dialog.
pub struct Outgoing<'a> {
    pub method: &'a Method,
    pub cseq: u32,
    /// The pod's Via on this leg.
    pub via: String,
    pub max_forwards: u8,
    /// The pod's Contact (INVITE, UPDATE and other target refreshes).
    pub contact: Option<String>,
    pub label: &'a str,
}

/// A request on `leg`: the leg's dialog, then `source`'s other headers and
/// body (when `source` is the request that came on the other leg), with
/// `set` replacing header values and `body` the body.
pub fn request(
    leg: &Leg,
    request_uri: &str,
    out: &Outgoing<'_>,
    source: Option<&Message>,
    set: &[(String, String)],
    body: Option<&[u8]>,
) -> Result<Message, ParseError> {
    let mut h: Vec<(String, String)> = vec![
        ("Via".into(), out.via.clone()),
        ("Max-Forwards".into(), out.max_forwards.to_string()),
        ("From".into(), addr_value(&leg.local)),
        ("To".into(), addr_value(&leg.remote)),
        ("Call-ID".into(), leg.call_id.clone()),
        ("CSeq".into(), format!("{} {}", out.cseq, out.method)),
    ];
    h.extend(
        leg.route_set
            .iter()
            .map(|r| ("Route".to_string(), r.clone())),
    );
    if let Some(contact) = &out.contact {
        h.push(("Contact".into(), format!("<{contact}>")));
    }
    if !out.label.is_empty() {
        h.push((CALLSIM_CALL_HEADER.into(), out.label.to_string()));
    }
    let start = format!("{} {request_uri} SIP/2.0", out.method);
    write(start, h, source, set, body)
}

/// The start line and dialog parts of a response the pod writes.
pub struct Answer<'a> {
    pub code: u16,
    pub reason: &'a str,
    pub to_tag: Option<&'a str>,
    pub contact: Option<String>,
    /// The call's history label (the same on both legs).
    pub label: &'a str,
}

/// A response to `request` (which came on one leg), with `answer`'s code
/// and the other headers and body of `source` (the response that came on
/// the other leg, if any): Via, From, Call-ID and CSeq copied from
/// `request`, the call's label, To with `to_tag` added when it has none, the request's
/// Record-Route in a dialog-creating response (section 12.1.1) and the
/// pod's `contact`.
pub fn response(
    request: &Message,
    answer: &Answer<'_>,
    source: Option<&Message>,
    set: &[(String, String)],
    body: Option<&[u8]>,
) -> Result<Message, ParseError> {
    let mut h: Vec<(String, String)> = request
        .vias()
        .iter()
        .map(|v| ("Via".to_string(), format_via(v)))
        .collect();
    let to = request.header("To").unwrap_or_default();
    let to = match (request.to_tag(), answer.to_tag) {
        (None, Some(tag)) if answer.code > 100 => format!("{to};tag={tag}"),
        _ => to.to_string(),
    };
    h.push((
        "From".into(),
        request.header("From").unwrap_or_default().into(),
    ));
    h.push(("To".into(), to));
    h.push(("Call-ID".into(), request.call_id().to_string()));
    h.push(("CSeq".into(), request.cseq().to_string()));
    let invite = request.method() == Some(&Method::Invite);
    if invite && (101..300).contains(&answer.code) {
        h.extend(
            request
                .record_routes()
                .iter()
                .map(|r| ("Record-Route".to_string(), format_name_addr(r))),
        );
    }
    if let Some(contact) = &answer.contact {
        h.push(("Contact".into(), format!("<{contact}>")));
    }
    if !answer.label.is_empty() {
        h.push((CALLSIM_CALL_HEADER.into(), answer.label.to_string()));
    }
    let start = format!("SIP/2.0 {} {}", answer.code, answer.reason);
    write(start, h, source, set, body)
}

/// The reason phrase of a response (empty for a request).
pub fn reason(message: &Message) -> &str {
    match message.start_line() {
        StartLine::Response { reason, .. } => reason,
        StartLine::Request { .. } => "",
    }
}

fn addr_value(addr: &AddrSpec) -> String {
    match &addr.tag {
        Some(tag) => format!("<{}>;tag={tag}", addr.uri),
        None => format!("<{}>", addr.uri),
    }
}

/// Writes the start line, the leg's headers `h`, the headers of `source`
/// no leg owns (with `set` replacing values of the same name), and the
/// body, and parses the result: the pod never sends what the platform
/// would reject.
fn write(
    start: String,
    mut h: Vec<(String, String)>,
    source: Option<&Message>,
    set: &[(String, String)],
    body: Option<&[u8]>,
) -> Result<Message, ParseError> {
    if let Some(source) = source {
        for header in source.headers() {
            if owned_by_leg(&header.name)
                || set
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case(&header.name))
            {
                continue;
            }
            h.push((header.name.clone(), header.value.clone()));
        }
    }
    h.extend(set.iter().cloned());
    let body = body.unwrap_or_else(|| source.map_or(&[][..], Message::body));
    if body.is_empty() {
        h.retain(|(n, _)| !n.eq_ignore_ascii_case("Content-Type"));
    }
    let mut text = start;
    text.push_str("\r\n");
    for (name, value) in &h {
        text.push_str(name);
        text.push_str(": ");
        text.push_str(value);
        text.push_str("\r\n");
    }
    px::edit::with_body(text, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse;

    fn invite() -> Message {
        let text = "INVITE sip:+1555@192.168.0.9:5060 SIP/2.0\r\n\
            Via: SIP/2.0/UDP 192.168.0.1:5060;branch=z9hG4bKcarrier1\r\n\
            Max-Forwards: 70\r\n\
            From: <sip:+1666@192.168.0.1>;tag=c1\r\n\
            To: <sip:+1555@192.168.0.9>\r\n\
            Call-ID: in-1-abc@192.168.0.1\r\n\
            CSeq: 7 INVITE\r\n\
            Contact: <sip:carrier@192.168.0.1:5060>\r\n\
            Record-Route: <sip:192.168.0.5:5060;lr>\r\n\
            X-Callsim-Call: in-1\r\n\
            Session-Expires: 1800\r\n\
            Content-Length: 0\r\n\r\n";
        parse(text.as_bytes()).expect("valid")
    }

    /// A downstream INVITE keeps nothing of the upstream dialog but the
    /// URIs, the label and the hop-free headers.
    #[test]
    fn a_downstream_request_carries_only_its_own_leg() {
        let up = invite();
        let me: SocketAddr = "192.168.0.9:5060".parse().unwrap();
        let hop: SocketAddr = "192.168.0.20:5060".parse().unwrap();
        let leg = Leg::downstream(3, &up, 0, me, hop);
        assert_eq!(leg.remote_target, "sip:+1555@192.168.0.20:5060");
        let out = Outgoing {
            method: &Method::Invite,
            cseq: 1,
            via: crate::nodes::sipproxy::via_line(me, "z9hG4bKpod"),
            max_forwards: 69,
            contact: Some("sip:192.168.0.9:5060".into()),
            label: "in-1",
        };
        let down =
            request(&leg, &leg.remote_target.clone(), &out, Some(&up), &[], None).expect("valid");
        assert_ne!(down.call_id(), up.call_id());
        assert_ne!(down.from_tag(), up.from_tag());
        assert_eq!(down.to_tag(), None);
        assert_eq!(down.vias().len(), 1);
        assert!(down.top_via().names(me));
        assert!(down.record_routes().is_empty());
        assert_eq!(down.contacts()[0].uri, "sip:192.168.0.9:5060");
        assert_eq!(down.header("Session-Expires"), Some("1800"));
        assert_eq!(down.header(CALLSIM_CALL_HEADER), Some("in-1"));
        let text = String::from_utf8_lossy(down.as_bytes()).to_string();
        assert!(!text.contains("192.168.0.1"), "{text}");
        assert!(!text.contains("192.168.0.5"), "{text}");
        // Another attempt is another dialog; the same attempt the same.
        let again = Leg::downstream(3, &up, 0, me, hop);
        assert_eq!(again.call_id, leg.call_id);
        assert_ne!(Leg::downstream(3, &up, 1, me, hop).call_id, leg.call_id);
    }

    /// An upstream answer is the pod's: the upstream Vias, the pod's tag
    /// and Contact, the downstream code and hop-free headers.
    #[test]
    fn an_upstream_response_carries_the_pods_tag_and_contact() {
        let up = invite();
        let downstream = parse(
            "SIP/2.0 486 Busy Here\r\n\
            Via: SIP/2.0/UDP 192.168.0.9:5060;branch=z9hG4bKpod\r\n\
            From: <sip:+1666@192.168.0.1>;tag=d1\r\n\
            To: <sip:+1555@192.168.0.9>;tag=s1\r\n\
            Call-ID: other\r\n\
            CSeq: 1 INVITE\r\n\
            Contact: <sip:sip-1@192.168.0.20:5060>\r\n\
            Warning: 399 callee \"busy\"\r\n\
            Content-Length: 0\r\n\r\n"
                .as_bytes(),
        )
        .expect("valid");
        let answer = Answer {
            code: 486,
            reason: reason(&downstream),
            to_tag: Some("0badcafe"),
            contact: Some("sip:192.168.0.9:5060".into()),
            label: "in-1",
        };
        let r = response(&up, &answer, Some(&downstream), &[], None).expect("valid");
        assert_eq!(r.status(), Some(486));
        assert_eq!(r.to_tag(), Some("0badcafe"));
        assert_eq!(r.call_id(), up.call_id());
        assert_eq!(r.cseq().seq, 7);
        assert_eq!(r.top_via().branch(), Some("z9hG4bKcarrier1"));
        assert_eq!(r.header("Warning"), Some("399 callee \"busy\""));
        let text = String::from_utf8_lossy(r.as_bytes()).to_string();
        assert!(!text.contains("192.168.0.20"), "{text}");
    }
}
