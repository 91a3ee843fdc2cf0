//! The edits a SIP proxy makes to a message it forwards (RFC 3261 section
//! 16.6 and 16.7): push or pop a Via, pop its own Route, push a
//! Record-Route, decrement Max-Forwards, replace the body (an SBC's SDP
//! rewrite).
//!
//! Built on the codec's parsed view ([`Message::headers`], [`Message::vias`],
//! [`Message::routes`]): the header list is written back out as text with
//! the edits applied and parsed again through [`crate::sip::parse`], so a
//! proxy never forwards what the platform would reject. rsip is not used
//! here (only `src/sip/` knows it).

use crate::sip::codec::{format_name_addr, format_via, Message};
use crate::sip::{parse, ParseError, StartLine};

/// What to change in a forwarded message.
#[derive(Debug, Default, Clone)]
pub struct Edits {
    /// A new Request-URI (a proxy responsible for the domain retargets the
    /// request to the next hop it chose, RFC 3261 section 16.5).
    pub request_uri: Option<String>,
    /// A Via to push on top (requests).
    pub push_via: Option<String>,
    /// Remove the top Via (responses).
    pub pop_via: bool,
    /// Remove the top Route (it named this proxy).
    pub pop_route: bool,
    /// A Record-Route to push on top (dialog-creating requests).
    pub push_record_route: Option<String>,
    /// Decrement Max-Forwards (requests).
    pub decrement_max_forwards: bool,
    /// A new body (the Content-Type stays as it was).
    pub body: Option<Vec<u8>>,
    /// New values for headers already present (name, value).
    pub set_headers: Vec<(String, String)>,
}

/// `message` with `edits` applied, validated.
pub fn apply(message: &Message, edits: &Edits) -> Result<Message, ParseError> {
    let mut text = match message.start_line() {
        StartLine::Request { method, uri } => {
            let uri = edits.request_uri.as_deref().unwrap_or(uri);
            format!("{method} {uri} SIP/2.0\r\n")
        }
        StartLine::Response { code, reason } => format!("SIP/2.0 {code} {reason}\r\n"),
    };
    let line = |text: &mut String, name: &str, value: &str| {
        text.push_str(name);
        text.push_str(": ");
        text.push_str(value);
        text.push_str("\r\n");
    };
    let mut vias_written = false;
    let mut routes_written = false;
    for h in message.headers() {
        match h.name.as_str() {
            // All Via entries are rewritten at the place of the first Via
            // header (they may share one header line, comma-separated).
            "Via" => {
                if vias_written {
                    continue;
                }
                vias_written = true;
                if let Some(via) = &edits.push_via {
                    line(&mut text, "Via", via);
                }
                let skip = usize::from(edits.pop_via);
                for via in message.vias().iter().skip(skip) {
                    line(&mut text, "Via", &format_via(via));
                }
                if let Some(rr) = &edits.push_record_route {
                    line(&mut text, "Record-Route", rr);
                }
            }
            "Route" => {
                if routes_written {
                    continue;
                }
                routes_written = true;
                let skip = usize::from(edits.pop_route);
                for route in message.routes().iter().skip(skip) {
                    line(&mut text, "Route", &format_name_addr(route));
                }
            }
            "Max-Forwards" if edits.decrement_max_forwards => {
                let hops = message.max_forwards().unwrap_or(70).saturating_sub(1);
                line(&mut text, "Max-Forwards", &hops.to_string());
            }
            "Content-Length" => {}
            name => match edits
                .set_headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                Some((_, value)) => line(&mut text, name, value),
                None => line(&mut text, name, &h.value),
            },
        }
    }
    let body = edits.body.as_deref().unwrap_or(message.body());
    with_body(text, body)
}

/// A message from its start line and headers (each ending in CRLF, no
/// Content-Length) and its body: the Content-Length, the blank line and
/// the body are added, and the whole is parsed as received messages are.
pub fn with_body(head: String, body: &[u8]) -> Result<Message, ParseError> {
    let mut text = head;
    text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut wire = text.into_bytes();
    wire.extend_from_slice(body);
    parse(&wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:+15550100@192.168.0.5 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.0.2:5060;branch=z9hG4bKaaa, SIP/2.0/UDP 192.168.0.1:5060;branch=z9hG4bKbbb\r\n\
Max-Forwards: 70\r\n\
Route: <sip:192.168.0.5:5060;lr>\r\n\
Route: <sip:192.168.0.6:5060;lr>\r\n\
From: <sip:carrier@192.168.0.1>;tag=1\r\n\
To: <sip:+15550100@192.168.0.5>\r\n\
Call-ID: abc@carrier\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:carrier@192.168.0.1:5060>\r\n\
X-Callsim-Call: in-1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    fn invite() -> Message {
        parse(INVITE.as_bytes()).expect("valid INVITE")
    }

    #[test]
    fn forwarding_a_request_pushes_via_and_record_route_and_pops_our_route() {
        let out = apply(
            &invite(),
            &Edits {
                push_via: Some("SIP/2.0/UDP 192.168.0.5:5060;branch=z9hG4bKccc".into()),
                pop_route: true,
                push_record_route: Some("<sip:192.168.0.5:5060;lr>".into()),
                decrement_max_forwards: true,
                body: Some(b"v=0\r\nc=IN IP4 1.2.3.4\r\n".to_vec()),
                ..Edits::default()
            },
        )
        .expect("valid");
        let branches: Vec<_> = out.vias().iter().map(|v| v.branch().unwrap()).collect();
        assert_eq!(branches, ["z9hG4bKccc", "z9hG4bKaaa", "z9hG4bKbbb"]);
        assert_eq!(out.routes().len(), 1);
        assert_eq!(out.routes()[0].uri, "sip:192.168.0.6:5060;lr");
        assert_eq!(out.record_routes()[0].uri, "sip:192.168.0.5:5060;lr");
        assert_eq!(out.max_forwards(), Some(69));
        assert_eq!(out.body(), b"v=0\r\nc=IN IP4 1.2.3.4\r\n");
        assert_eq!(out.callsim_call(), Some("in-1"));
        assert_eq!(out.call_id(), "abc@carrier");
    }

    #[test]
    fn forwarding_a_response_pops_the_top_via() {
        let response = crate::sip::codec::build_response(
            &invite(),
            180,
            &crate::sip::codec::ResponseSpec {
                to_tag: Some("t".into()),
                ..Default::default()
            },
        )
        .expect("180");
        let out = apply(
            &response,
            &Edits {
                pop_via: true,
                ..Edits::default()
            },
        )
        .expect("valid");
        assert_eq!(out.vias().len(), 1);
        assert_eq!(out.top_via().branch(), Some("z9hG4bKbbb"));
        assert_eq!(out.status(), Some(180));
        assert_eq!(out.to_tag(), Some("t"));
    }

    #[test]
    fn no_edit_round_trips() {
        let out = apply(&invite(), &Edits::default()).expect("valid");
        assert_eq!(out.vias(), invite().vias());
        assert_eq!(out.routes(), invite().routes());
        assert_eq!(out.body(), invite().body());
    }
}
