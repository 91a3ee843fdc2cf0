//! The SIP codec: [`parse`] bytes into a [`Message`], and build the requests and responses
//! callsim sends. This is the one module that knows rsip.
//!
//! Parsing goes through our validating layer (`validate`, `grammar`, `uri`), because rsip
//! 0.4's tokenizer alone accepts 7 of the 13 valid RFC 4475 messages, rejects 8 of the 19
//! invalid ones, and its closed `Method` enum cannot hold extension methods. Building goes
//! through rsip's message model (`rsip::Request`/`rsip::Response`, its `Method`, `Uri` and
//! `StatusCode`, and its headers, whose values we write) and its serialiser, one element
//! at a time ([`write_message`]): rsip's typed headers are formatted once into a string
//! and again into the message, and its message `Display` joins a `String` per header;
//! avoiding both saved about 6% of a load run. Every built message is then parsed back
//! through the validating layer, so we never send what we would reject. Status lines
//! carry RFC 3261 reason phrases ([`reason_phrase`]), not rsip's variant names, and every id
//! comes from the caller (see [`super::ids`]), never from rsip's uuid-based defaults.
//!
//! A parse never panics: the validating layer is plain slice code with no indexing that can
//! go out of bounds, and rsip is never asked to parse.

use std::fmt;

use super::header::{CSeq, Method, NameAddr, Param, Via};
pub use super::status::reason_phrase;
use super::uri::{check_uri, parse_uri};
use super::validate::{self, Header, StartLine};
pub use super::validate::{ParseError, ParseErrorKind, HEADER_LINES_MAX, MESSAGE_BYTES_MAX};

/// The header that carries callsim's platform-wide call id on every leg (CONTRACTS.md).
pub const CALLSIM_CALL_HEADER: &str = "X-Callsim-Call";

/// A parsed, validated SIP message, with the bytes it travels as. Immutable and
/// shared: transactions keep the request and last response for retransmission, dialogs
/// keep the INVITE and ACK, and a clone is a reference count, not a deep copy.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    p: std::sync::Arc<Parts>,
}

#[derive(PartialEq, Eq)]
struct Parts {
    start: StartLine,
    headers: Vec<Header>,
    body: Vec<u8>,
    vias: Vec<Via>,
    from: NameAddr,
    to: NameAddr,
    call_id: String,
    cseq: CSeq,
    max_forwards: Option<u8>,
    contacts: Vec<NameAddr>,
    routes: Vec<NameAddr>,
    record_routes: Vec<NameAddr>,
    wire: Vec<u8>,
}

/// Parses one SIP message from a datagram. Bytes after the body that Content-Length
/// announces are ignored (RFC 3261 section 18.3). Recent successful parses are
/// remembered per thread (see [`super::parse_memo`]): the same bytes give the same,
/// shared message without being parsed again.
pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
    super::parse_memo::parse_with(bytes, parse_uncached)
}

/// [`parse`] without the memo: always frames and validates.
pub fn parse_uncached(bytes: &[u8]) -> Result<Message, ParseError> {
    let framed = validate::frame(bytes)?;
    let core = validate::validate(&framed)?;
    let parts = Parts {
        start: core.start,
        vias: core.vias,
        from: core.from,
        to: core.to,
        call_id: core.call_id,
        cseq: core.cseq,
        max_forwards: core.max_forwards,
        contacts: core.contacts,
        routes: core.routes,
        record_routes: core.record_routes,
        wire: bytes[framed.span].to_vec(),
        headers: framed.headers,
        body: framed.body,
    };
    Ok(Message {
        p: std::sync::Arc::new(parts),
    })
}

impl Message {
    pub fn is_request(&self) -> bool {
        matches!(self.p.start, StartLine::Request { .. })
    }

    pub fn start_line(&self) -> &StartLine {
        &self.p.start
    }

    /// The request method, for a request.
    pub fn method(&self) -> Option<&Method> {
        match &self.p.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI, for a request.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.p.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, for a response.
    pub fn status(&self) -> Option<u16> {
        match &self.p.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase, for a response.
    pub fn reason(&self) -> Option<&str> {
        match &self.p.start {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }

    /// `INVITE` for a request, `180` for a response: the `start_line` field of the
    /// `sip.send`/`sip.recv` events.
    pub fn start_label(&self) -> String {
        match &self.p.start {
            StartLine::Request { method, .. } => method.to_string(),
            StartLine::Response { code, .. } => code.to_string(),
        }
    }

    pub fn cseq(&self) -> &CSeq {
        &self.p.cseq
    }

    pub fn call_id(&self) -> &str {
        &self.p.call_id
    }

    /// Every Via entry, top first; never empty.
    pub fn vias(&self) -> &[Via] {
        &self.p.vias
    }

    pub fn top_via(&self) -> &Via {
        self.p
            .vias
            .first()
            .expect("the validating layer requires a Via")
    }

    /// The branch of the top Via: the transaction id.
    pub fn branch(&self) -> Option<&str> {
        self.top_via().branch()
    }

    pub fn from(&self) -> &NameAddr {
        &self.p.from
    }

    pub fn to(&self) -> &NameAddr {
        &self.p.to
    }

    pub fn from_tag(&self) -> Option<&str> {
        self.p.from.tag()
    }

    pub fn to_tag(&self) -> Option<&str> {
        self.p.to.tag()
    }

    pub fn max_forwards(&self) -> Option<u8> {
        self.p.max_forwards
    }

    /// Contact addresses in order (empty for `Contact: *` or none).
    pub fn contacts(&self) -> &[NameAddr] {
        &self.p.contacts
    }

    pub fn routes(&self) -> &[NameAddr] {
        &self.p.routes
    }

    pub fn record_routes(&self) -> &[NameAddr] {
        &self.p.record_routes
    }

    /// The `X-Callsim-Call` value: the platform-wide call id.
    pub fn callsim_call(&self) -> Option<&str> {
        self.header(CALLSIM_CALL_HEADER)
    }

    /// The first value of a header; names compare case-insensitively, compact forms are
    /// already expanded (`i` is found as `Call-ID`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.p
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every header field in order, with canonical names and unfolded values.
    pub fn headers(&self) -> &[Header] {
        &self.p.headers
    }

    pub fn body(&self) -> &[u8] {
        &self.p.body
    }

    /// The body as SDP text: when the Content-Type is `application/sdp` (parameters
    /// aside) and the body is non-empty UTF-8.
    pub fn sdp_body(&self) -> Option<&str> {
        let content_type = self.header("Content-Type")?;
        if !media_type_is(content_type, super::sdp::CONTENT_TYPE) || self.p.body.is_empty() {
            return None;
        }
        std::str::from_utf8(&self.p.body).ok()
    }

    /// The message's bytes: as received, or as built.
    pub fn as_bytes(&self) -> &[u8] {
        &self.p.wire
    }

    /// Starts an edit of this message, for a proxy (see [`super::edit`]).
    /// This request as a server transport keeps it (RFC 3261 section 18.2.1): its top
    /// Via stamped with `received` and `rport` for `source`
    /// ([`super::edit::MessageEdit::stamp_received`]); itself when nothing changes or the
    /// stamped message would not validate.
    pub fn received_from(self, source: std::net::SocketAddr) -> Message {
        // Most requests come from their sent-by: no copy of the headers for those.
        if !self.top_via().needs_received(source) {
            return self;
        }
        let mut edit = self.edit();
        if !edit.stamp_received(source) {
            return self;
        }
        edit.finish().unwrap_or(self)
    }

    /// Where the answers to this request go (RFC 3261 section 18.2.2, RFC 3581): its top
    /// Via's `received` and `rport`, else its sent-by; `fallback` (the source address)
    /// when the Via names a host rather than an address.
    pub fn reply_addr(&self, fallback: std::net::SocketAddr) -> std::net::SocketAddr {
        self.top_via().response_addr().unwrap_or(fallback)
    }

    pub fn edit(&self) -> super::edit::MessageEdit {
        super::edit::MessageEdit::new(
            self.p.start.clone(),
            self.p.headers.clone(),
            self.p.body.clone(),
        )
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.p.wire))
    }
}

/// Why a message could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("cannot build a {0} request (rsip knows only the RFC methods)")]
    UnsupportedMethod(String),
    #[error("cannot build with URI {uri:?}: {why}")]
    Uri { uri: String, why: String },
    #[error("the built message does not validate: {0}")]
    Invalid(ParseError),
}

/// Our sent-by address and the branch of the Via we add to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViaSpec {
    pub host: String,
    pub port: u16,
    pub branch: String,
}

/// A From or To address: URI and optional tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrSpec {
    pub uri: String,
    pub tag: Option<String>,
}

/// Everything a new request needs. The codec adds Max-Forwards, Content-Type and
/// Content-Length; Via is the single hop we send from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    pub method: Method,
    pub uri: String,
    pub via: ViaSpec,
    pub from: AddrSpec,
    pub to: AddrSpec,
    pub call_id: String,
    pub cseq: u32,
    pub max_forwards: u8,
    /// Our Contact URI (dialog-creating requests need one).
    pub contact: Option<String>,
    /// Route header values in order, each a complete name-addr (`<sip:p;lr>`).
    pub routes: Vec<String>,
    pub callsim_call: String,
    pub extra_headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// The optional parts of a response; the rest is copied from the request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseSpec {
    /// Our To tag, added when the request's To has none (never to a 100).
    pub to_tag: Option<String>,
    pub contact: Option<String>,
    pub extra_headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

fn rsip_method(method: &Method) -> Result<rsip::Method, BuildError> {
    Ok(match method {
        Method::Invite => rsip::Method::Invite,
        Method::Ack => rsip::Method::Ack,
        Method::Bye => rsip::Method::Bye,
        Method::Cancel => rsip::Method::Cancel,
        Method::Options => rsip::Method::Options,
        Method::Register => rsip::Method::Register,
        Method::Info => rsip::Method::Info,
        Method::Message => rsip::Method::Message,
        Method::Notify => rsip::Method::Notify,
        Method::Prack => rsip::Method::PRack,
        Method::Publish => rsip::Method::Publish,
        Method::Refer => rsip::Method::Refer,
        Method::Subscribe => rsip::Method::Subscribe,
        Method::Update => rsip::Method::Update,
        Method::Extension(token) => return Err(BuildError::UnsupportedMethod(token.clone())),
    })
}

fn host_port(host: &str, port: Option<u16>) -> rsip::HostWithPort {
    rsip::HostWithPort {
        host: rsip::Host::from(host),
        port: port.map(rsip::Port::from),
    }
}

/// Why a URI cannot be built into a message, from its SIP parts (`None` for another
/// scheme) as (has URI headers, has a password): callsim builds SIP and SIPS URIs without
/// URI headers or passwords (From, To and Contact must not carry headers, RFC 3261
/// Table 1, and no callsim URI has a password).
fn refusal(sip: Option<(bool, bool)>) -> Option<&'static str> {
    match sip {
        None => Some("not a sip: or sips: URI"),
        Some((true, _)) => Some("URI headers cannot be built"),
        Some((_, true)) => Some("URI passwords cannot be built"),
        Some(_) => None,
    }
}

fn uri_error(uri: &str, why: impl Into<String>) -> BuildError {
    BuildError::Uri {
        uri: uri.to_string(),
        why: why.into(),
    }
}

/// Checks a From, To or Contact URI (see [`refusal`]) without copying it.
fn check_buildable(uri: &str) -> Result<(), BuildError> {
    let view = check_uri(uri).map_err(|why| uri_error(uri, why))?;
    match refusal(view.sip.map(|s| (s.has_headers, s.has_password))) {
        Some(why) => Err(uri_error(uri, why)),
        None => Ok(()),
    }
}

/// Our URI (validated, see [`refusal`]) in rsip's model.
fn rsip_uri(uri: &str) -> Result<rsip::Uri, BuildError> {
    let parsed = parse_uri(uri).map_err(|why| uri_error(uri, why))?;
    if let Some(why) = refusal(parsed.sip.as_ref().map(|s| (s.has_headers, s.has_password))) {
        return Err(uri_error(uri, why));
    }
    let sip = parsed.sip.expect("refusal checked the scheme");
    let scheme = if parsed.scheme == "sips" {
        rsip::Scheme::Sips
    } else {
        rsip::Scheme::Sip
    };
    let auth = sip.user.map(|user| rsip::Auth {
        user,
        password: None,
    });
    Ok(rsip::Uri {
        scheme: Some(scheme),
        auth,
        host_with_port: host_port(&sip.host, sip.port),
        params: sip
            .params
            .into_iter()
            .map(|p| {
                rsip::Param::Other(
                    rsip::param::OtherParam::new(p.name),
                    p.value.map(rsip::param::OtherParamValue::new),
                )
            })
            .collect(),
        headers: Vec::new(),
    })
}

/// A header with a value we already hold as text, in rsip's model.
fn raw_header(name: &str, value: &str) -> rsip::Header {
    use rsip::headers::UntypedHeader;
    use rsip::headers::*;
    let value = value.to_string();
    match name {
        "Via" => Via::new(value).into(),
        "From" => From::new(value).into(),
        "To" => To::new(value).into(),
        "Call-ID" => CallId::new(value).into(),
        "CSeq" => rsip::headers::CSeq::new(value).into(),
        "Contact" => Contact::new(value).into(),
        "Route" => Route::new(value).into(),
        "Record-Route" => RecordRoute::new(value).into(),
        "Max-Forwards" => MaxForwards::new(value).into(),
        "Content-Type" => ContentType::new(value).into(),
        _ => rsip::Header::Other(name.to_string(), value),
    }
}

enum Start {
    Request(rsip::Method, rsip::Uri),
    Response(u16),
}

/// Builds the rsip message, serialises it ([`write_message`]), appends the body as raw
/// bytes (rsip would re-encode a non-UTF-8 body lossily) and validates the result.
fn assemble(
    start: Start,
    mut headers: Vec<rsip::Header>,
    extra: &[(String, String)],
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Message, BuildError> {
    use rsip::headers::UntypedHeader;
    for (name, value) in extra {
        headers.push(raw_header(&validate::canonical_name(name), value));
    }
    if let Some(ct) = content_type {
        headers.push(rsip::headers::ContentType::new(ct).into());
    }
    headers.push(rsip::headers::ContentLength::new(body.len().to_string()).into());
    let message: rsip::SipMessage = match start {
        Start::Request(method, uri) => rsip::Request {
            method,
            uri,
            version: rsip::Version::V2,
            headers: headers.into(),
            body: Vec::new(),
        }
        .into(),
        Start::Response(code) => rsip::Response {
            status_code: rsip::StatusCode::Other(code, reason_phrase(code).to_string()),
            version: rsip::Version::V2,
            headers: headers.into(),
            body: Vec::new(),
        }
        .into(),
    };
    let mut wire = write_message(&message).into_bytes();
    wire.extend_from_slice(body);
    parse(&wire).map_err(BuildError::Invalid)
}

/// A body-less rsip message as text (the caller appends the body as bytes), through
/// rsip's `Display` for each element: the start line's method, URI, version and status,
/// and each header. The same bytes as the message's own `Display`, which formats every
/// header into a `String` of its own and joins them; this writes them into one buffer.
pub fn write_message(message: &rsip::SipMessage) -> String {
    use std::fmt::Write as _;
    debug_assert!(
        message.body().is_empty(),
        "write_message writes no body; the caller appends it as bytes"
    );
    let mut text = String::with_capacity(512);
    let headers = match message {
        rsip::SipMessage::Request(r) => {
            let _ = write!(text, "{} {} {}\r\n", r.method, r.uri, r.version);
            &r.headers
        }
        rsip::SipMessage::Response(r) => {
            let _ = write!(text, "{} {}\r\n", r.version, r.status_code);
            &r.headers
        }
    };
    for header in headers.iter() {
        let _ = write!(text, "{header}\r\n");
    }
    text.push_str("\r\n");
    text
}

/// Builds a new request (out of dialog, or in dialog from [`super::dialog::Dialog`]).
/// The Request-URI goes through rsip's URI model; the From, To and Contact URIs are
/// checked as buildable ([`refusal`]) and their header values written here (`<uri>;tag=...`,
/// as rsip's typed From and To would write them) and carried in rsip's headers; the
/// whole is checked by parsing it back.
pub fn build_request(spec: &RequestSpec) -> Result<Message, BuildError> {
    let method = rsip_method(&spec.method)?;
    let via = format!(
        "SIP/2.0/UDP {}:{};branch={}",
        spec.via.host, spec.via.port, spec.via.branch
    );
    let mut headers: Vec<rsip::Header> = vec![
        raw_header("Via", &via),
        raw_header("Max-Forwards", &spec.max_forwards.to_string()),
        raw_header("From", &addr_value(&spec.from)?),
        raw_header("To", &addr_value(&spec.to)?),
        raw_header("Call-ID", &spec.call_id),
        raw_header("CSeq", &format!("{} {}", spec.cseq, method)),
    ];
    if let Some(contact) = &spec.contact {
        check_buildable(contact)?;
        headers.push(raw_header("Contact", &format!("<{contact}>")));
    }
    for route in &spec.routes {
        headers.push(raw_header("Route", route));
    }
    headers.push(raw_header(CALLSIM_CALL_HEADER, &spec.callsim_call));
    assemble(
        Start::Request(method, rsip_uri(&spec.uri)?),
        headers,
        &spec.extra_headers,
        spec.content_type.as_deref(),
        &spec.body,
    )
}

/// A From or To value: `<uri>`, then `;tag=` and the tag if there is one.
fn addr_value(addr: &AddrSpec) -> Result<String, BuildError> {
    check_buildable(&addr.uri)?;
    let mut value = String::with_capacity(addr.uri.len() + 24);
    value.push('<');
    value.push_str(&addr.uri);
    value.push('>');
    if let Some(tag) = &addr.tag {
        value.push_str(";tag=");
        value.push_str(tag);
    }
    Ok(value)
}

/// Builds a response to `request` (section 8.2.6): Via, From, Call-ID, CSeq and
/// `X-Callsim-Call` copied, To copied with our tag added, Record-Route copied into
/// dialog-creating responses (101-299, section 12.1.1).
pub fn build_response(
    request: &Message,
    code: u16,
    spec: &ResponseSpec,
) -> Result<Message, BuildError> {
    let mut headers = Vec::new();
    for h in &request.p.headers {
        match h.name.as_str() {
            "Via" | "From" | "Call-ID" | "CSeq" => headers.push(raw_header(&h.name, &h.value)),
            "To" => {
                let mut to = h.value.clone();
                if code > 100 && request.to_tag().is_none() {
                    if let Some(tag) = &spec.to_tag {
                        to.push_str(";tag=");
                        to.push_str(tag);
                    }
                }
                headers.push(raw_header("To", &to));
            }
            "Record-Route" if (101..300).contains(&code) => {
                headers.push(raw_header(&h.name, &h.value))
            }
            name if name.eq_ignore_ascii_case(CALLSIM_CALL_HEADER) => {
                headers.push(raw_header(CALLSIM_CALL_HEADER, &h.value))
            }
            _ => {}
        }
    }
    if let Some(contact) = &spec.contact {
        headers.push(raw_header("Contact", &format!("<{contact}>")));
    }
    assemble(
        Start::Response(code),
        headers,
        &spec.extra_headers,
        spec.content_type.as_deref(),
        &spec.body,
    )
}

/// A Via entry as text, for the single-Via requests (ACK, CANCEL) that reuse a branch.
pub fn format_via(via: &Via) -> String {
    let mut out = format!("SIP/2.0/{} {}", via.transport, via.sent_by());
    push_params(&mut out, &via.params);
    out
}

/// A name-addr as text (always with `<>`), for Route headers built from a route set.
pub fn format_name_addr(addr: &NameAddr) -> String {
    let mut out = String::new();
    if let Some(name) = &addr.display_name {
        out.push_str(name);
        out.push(' ');
    }
    out.push('<');
    out.push_str(&addr.uri);
    out.push('>');
    push_params(&mut out, &addr.params);
    out
}

/// Appends `;name` or `;name=value` for each parameter.
fn push_params(out: &mut String, params: &[Param]) {
    for p in params {
        out.push(';');
        out.push_str(&p.name);
        if let Some(v) = &p.value {
            out.push('=');
            out.push_str(v);
        }
    }
}

/// A request that shares the INVITE's Request-URI, top Via (so its branch), From, Call-ID,
/// CSeq number and Route set: the CANCEL of section 9.1 and the non-2xx ACK of 17.1.1.3.
fn same_transaction_request(
    invite: &Message,
    method: Method,
    to_value: &str,
) -> Result<Message, BuildError> {
    let rsip_m = rsip_method(&method)?;
    let uri = invite.request_uri().ok_or_else(|| BuildError::Uri {
        uri: String::new(),
        why: "the original is not a request".into(),
    })?;
    let mut headers = vec![
        raw_header("Via", &format_via(invite.top_via())),
        raw_header("Max-Forwards", "70"),
        raw_header("From", invite.header("From").unwrap_or_default()),
        raw_header("To", to_value),
        raw_header("Call-ID", invite.call_id()),
        raw_header("CSeq", &format!("{} {}", invite.cseq().seq, method)),
    ];
    for h in invite.p.headers.iter().filter(|h| h.name == "Route") {
        headers.push(raw_header("Route", &h.value));
    }
    if let Some(call) = invite.callsim_call() {
        headers.push(raw_header(CALLSIM_CALL_HEADER, call));
    }
    assemble(
        Start::Request(rsip_m, rsip_uri(uri)?),
        headers,
        &[],
        None,
        &[],
    )
}

/// The CANCEL for a pending INVITE (section 9.1).
pub fn build_cancel(invite: &Message) -> Result<Message, BuildError> {
    same_transaction_request(
        invite,
        Method::Cancel,
        invite.header("To").unwrap_or_default(),
    )
}

/// The ACK for a non-2xx final response, sent inside the INVITE client transaction
/// (section 17.1.1.3): To comes from the response, so it carries the UAS's tag.
pub fn build_ack_for_non_2xx(invite: &Message, response: &Message) -> Result<Message, BuildError> {
    same_transaction_request(
        invite,
        Method::Ack,
        response.header("To").unwrap_or_default(),
    )
}

/// Whether a Content-Type value names `wanted` (type/subtype, case-insensitive,
/// parameters aside).
pub fn media_type_is(value: &str, wanted: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(wanted))
}

/// An answer to a request that failed to parse, as bytes: the text of what it would be
/// is all a sender of a broken request can be given, and the broken parts it must echo
/// (an overlarge CSeq, a Via of another version) would not pass our own parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    pub code: u16,
    /// The request's Call-ID, CSeq and `X-Callsim-Call` values, as they came.
    pub call_id: String,
    pub cseq: String,
    pub call: String,
    pub bytes: Vec<u8>,
}

/// The 400 (505 for a bad version) that answers a request that failed to parse with
/// `error` (RFC 3261 section 8.2; RFC 4475 section 3.1.2), built only from the parts that
/// frame: every Via, and the first From, To, Call-ID and CSeq, copied as they came, To
/// with `to_tag` added when it has none. `None` for what cannot be answered: an ACK, a
/// response, a message without a blank line after its headers, or one missing any of
/// those headers (RFC 4475 section 3.1.2.11 `insuf` is dropped: a response without its
/// Call-ID, From or To would match nothing).
pub fn raw_error_response(bytes: &[u8], error: &ParseError, to_tag: &str) -> Option<RawResponse> {
    let (start_line, headers) = validate::frame_head(bytes).ok()?;
    let method = start_line.split(' ').next()?;
    if method.is_empty() || method.eq_ignore_ascii_case("ACK") || method.starts_with("SIP/") {
        return None;
    }
    let code = if error.kind() == ParseErrorKind::Version {
        505
    } else {
        400
    };
    // A value is copied only if it is one line of visible text.
    let clean = |v: &str| !v.is_empty() && !v.chars().any(|c| c.is_control() && c != '\t');
    let first = |name: &str| {
        headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.as_str())
            .filter(|v| clean(v))
    };
    let vias: Vec<&str> = headers
        .iter()
        .filter(|h| h.name == "Via")
        .map(|h| h.value.as_str())
        .collect();
    if vias.is_empty() || !vias.iter().all(|v| clean(v)) {
        return None;
    }
    let (from, to, call_id, cseq) = (
        first("From")?,
        first("To")?,
        first("Call-ID")?,
        first("CSeq")?,
    );
    let has_tag = to
        .to_ascii_lowercase()
        .split(';')
        .skip(1)
        .any(|p| p.trim_start().starts_with("tag"));
    let mut text = format!("SIP/2.0 {code} {}\r\n", reason_phrase(code));
    for via in vias {
        text.push_str(&format!("Via: {via}\r\n"));
    }
    text.push_str(&format!("From: {from}\r\n"));
    if has_tag {
        text.push_str(&format!("To: {to}\r\n"));
    } else {
        text.push_str(&format!("To: {to};tag={to_tag}\r\n"));
    }
    text.push_str(&format!("Call-ID: {call_id}\r\nCSeq: {cseq}\r\n"));
    let call = first(CALLSIM_CALL_HEADER).unwrap_or_default();
    if !call.is_empty() {
        text.push_str(&format!("{CALLSIM_CALL_HEADER}: {call}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    Some(RawResponse {
        code,
        call_id: call_id.to_string(),
        cseq: cseq.to_string(),
        call: call.to_string(),
        bytes: text.into_bytes(),
    })
}

/// [`raw_error_response`] when the answer is itself a message our parser accepts (the
/// broken part was not one it echoes); `None` otherwise.
pub fn error_response_for(bytes: &[u8], error: &ParseError, to_tag: &str) -> Option<Message> {
    parse(&raw_error_response(bytes, error, to_tag)?.bytes).ok()
}
