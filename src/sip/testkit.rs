//! Hand-written requests for the SIP layer's and the nodes' unit tests: one
//! builder instead of a literal message per test module.

use super::codec::Message;

/// A valid request from `sip-1` at 192.168.0.2 (tag `a`) to `uri`: Via,
/// Max-Forwards, From, To (with `to_tag` if given), Call-ID `call_id`, CSeq
/// `1 <method>`, Contact, then `extra` header lines (each ending in CRLF)
/// and `body` (Content-Length computed).
pub(crate) fn request(
    method: &str,
    uri: &str,
    call_id: &str,
    to_tag: Option<&str>,
    extra: &str,
    body: &str,
) -> Message {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let to = uri.split(';').next().unwrap_or(uri);
    let text = format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.168.0.2:5060;branch=z9hG4bK-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:sip-1@192.168.0.2>;tag=a\r\n\
         To: <{to}>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:sip-1@192.168.0.2:5060>\r\n\
         {extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    super::parse(text.as_bytes()).unwrap_or_else(|e| panic!("a valid request: {e}\n{text}"))
}

/// An INVITE to `sip:+1@carrier` (Call-ID `c1`) with `extra` headers and
/// `body`.
pub(crate) fn invite(extra: &str, body: &str) -> Message {
    request("INVITE", "sip:+1@carrier", "c1", None, extra, body)
}
