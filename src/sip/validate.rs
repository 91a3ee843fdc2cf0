//! The validating layer in front of the message model: framing (start line, header lines,
//! folding, body by Content-Length), header-name normalisation (compact forms, case) and the
//! RFC 3261 rules that rsip does not enforce.
//!
//! Why our own: rsip 0.4's tokenizer accepts 7 of the 13 valid RFC 4475 torture messages
//! and rejects 8 of the 19 invalid ones (extension methods, compact forms, LWS around
//! colons and folding, scalar ranges, Content-Length and CSeq checks). This layer accepts
//! what RFC 3261 allows and rejects what it forbids, with a reason, and never panics.
//!
//! What it decides (documented choices where RFC 4475 leaves room):
//! - UDP framing (section 18.3): bytes after Content-Length are discarded; a Content-Length
//!   larger than the bytes present is an error; with no Content-Length the body is the rest.
//! - Required in every message: Via, From, To, Call-ID, CSeq. Max-Forwards may be absent
//!   (RFC 2543 peers omit it). Call-ID, CSeq, From, To, Max-Forwards, Content-Length and
//!   Content-Type may appear once only.
//! - Scalars: CSeq below 2**31, Max-Forwards at most 255, status code 100-699 with three
//!   digits; Expires and Retry-After are not range-checked (RFC 4475 section 3.1.2.4).

use super::grammar::{self, AddrForm};
use super::header::{CSeq, Method, NameAddr, Via};
use super::uri::check_uri;

/// The largest message accepted, in bytes: a UDP datagram's payload limit.
pub const MESSAGE_BYTES_MAX: usize = 65_535;
/// The most header lines accepted in one message.
pub const HEADER_LINES_MAX: usize = 512;

/// Why a message was rejected; its `Display` is the human-readable reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ParseError {
    kind: ParseErrorKind,
    reason: String,
}

/// The class of a parse error; a UAS answers `Version` with 505 and the others with 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Over [`MESSAGE_BYTES_MAX`] or [`HEADER_LINES_MAX`].
    TooLarge,
    /// No blank line after the headers, bare CR or LF, a header section that is not UTF-8.
    Framing,
    /// The request or status line.
    StartLine,
    /// A SIP version other than 2.0.
    Version,
    /// A header field value that breaks its grammar, or a duplicate single header.
    Header,
    /// A mandatory header is absent.
    MissingHeader,
    /// Content-Length does not fit the body.
    Body,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, reason: impl Into<String>) -> Self {
        ParseError {
            kind,
            reason: reason.into(),
        }
    }

    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}

fn header_err(name: &str, why: impl std::fmt::Display) -> ParseError {
    ParseError::new(ParseErrorKind::Header, format!("{name}: {why}"))
}

/// The start line of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, uri: String },
    Response { code: u16, reason: String },
}

/// One header field: canonical name, unfolded and trimmed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// A message split into its parts, before header validation.
pub(crate) struct Framed {
    pub start_line: String,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
    /// Byte range of this message in the input (leading CRLFs and trailing noise excluded).
    pub span: std::ops::Range<usize>,
}

/// The validated view of a message's core headers.
pub(crate) struct Core {
    pub start: StartLine,
    pub vias: Vec<Via>,
    pub from: NameAddr,
    pub to: NameAddr,
    pub call_id: String,
    pub cseq: CSeq,
    pub max_forwards: Option<u8>,
    pub contacts: Vec<NameAddr>,
    pub routes: Vec<NameAddr>,
    pub record_routes: Vec<NameAddr>,
}

/// Full header names by compact form (RFC 3261 section 7.3.3 and the IANA registry).
const COMPACT: [(&str, &str); 20] = [
    ("a", "Accept-Contact"),
    ("b", "Referred-By"),
    ("c", "Content-Type"),
    ("d", "Request-Disposition"),
    ("e", "Content-Encoding"),
    ("f", "From"),
    ("i", "Call-ID"),
    ("j", "Reject-Contact"),
    ("k", "Supported"),
    ("l", "Content-Length"),
    ("m", "Contact"),
    ("n", "Identity-Info"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("s", "Subject"),
    ("t", "To"),
    ("u", "Allow-Events"),
    ("v", "Via"),
    ("x", "Session-Expires"),
    ("y", "Identity"),
];

/// Canonical spellings of the headers callsim reads or commonly sees.
const CANONICAL: [&str; 34] = [
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Expires",
    "From",
    "Max-Forwards",
    "Min-Expires",
    "Proxy-Require",
    "Record-Route",
    "Require",
    "Retry-After",
    "Route",
    "Server",
    "Subject",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "X-Callsim-Call",
];

/// The canonical name of a header: compact forms expanded, known names re-cased; unknown
/// names are kept as written (compare them case-insensitively).
pub(crate) fn canonical_name(name: &str) -> String {
    // Most names arrive already canonical (as callsim writes them): an exact
    // match first, before the case-insensitive scan.
    if let Some(c) = CANONICAL.iter().find(|c| **c == name) {
        return (*c).to_string();
    }
    if name.len() == 1 {
        if let Some((_, full)) = COMPACT.iter().find(|(c, _)| c.eq_ignore_ascii_case(name)) {
            return (*full).to_string();
        }
    }
    CANONICAL
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_string(), |c| (*c).to_string())
}

/// A line from `split_inclusive('\n')` without its CRLF (the last line of the
/// header section has no terminator), or `None` if it holds a bare CR or LF.
fn crlf_line(line: &str) -> Option<&str> {
    let line = match line.strip_suffix('\n') {
        Some(terminated) => terminated.strip_suffix('\r')?,
        None => line,
    };
    memchr::memchr(b'\r', line.as_bytes())
        .is_none()
        .then_some(line)
}

/// Where the first CRLF CRLF starts (SIMD substring search: this runs over
/// every datagram a host receives).
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes, b"\r\n\r\n")
}

/// Splits a datagram into start line, header fields and body (section 7 and 18.3).
pub(crate) fn frame(bytes: &[u8]) -> Result<Framed, ParseError> {
    use ParseErrorKind as K;
    if bytes.len() > MESSAGE_BYTES_MAX {
        return Err(ParseError::new(
            K::TooLarge,
            format!(
                "message of {} bytes exceeds {MESSAGE_BYTES_MAX}",
                bytes.len()
            ),
        ));
    }
    // Section 7.5: CRLFs before the start line are ignored (keep-alives).
    let mut offset = 0;
    while bytes[offset..].starts_with(b"\r\n") {
        offset += 2;
    }
    let input = &bytes[offset..];
    if input.is_empty() {
        return Err(ParseError::new(K::Framing, "empty message"));
    }
    let Some(head_len) = find_blank_line(input) else {
        return Err(missing_blank_line(input));
    };
    let head = std::str::from_utf8(&input[..head_len])
        .map_err(|_| ParseError::new(K::Framing, "header section is not valid UTF-8"))?;
    let (start_line, headers) = header_section(head)?;
    let body_start = head_len + 4;
    let body_len = body_len(&headers, input.len() - body_start)?;
    Ok(Framed {
        start_line,
        headers,
        body: input[body_start..body_start + body_len].to_vec(),
        span: offset..offset + body_start + body_len,
    })
}

/// The start line and header fields of a message, without judging its
/// body (Content-Length may be absent, duplicated, negative or too large):
/// what an element needs to answer a request it could not parse.
pub(crate) fn frame_head(bytes: &[u8]) -> Result<(String, Vec<Header>), ParseError> {
    use ParseErrorKind as K;
    if bytes.len() > MESSAGE_BYTES_MAX {
        return Err(ParseError::new(K::TooLarge, "message too large"));
    }
    let mut offset = 0;
    while bytes[offset..].starts_with(b"\r\n") {
        offset += 2;
    }
    let input = &bytes[offset..];
    // A datagram is one message: one that ends its last header line without the blank
    // line still has all its headers.
    let head_len = match find_blank_line(input) {
        Some(n) => n,
        None if input.ends_with(b"\r\n") => input.len() - 2,
        None => return Err(missing_blank_line(input)),
    };
    let head = std::str::from_utf8(&input[..head_len])
        .map_err(|_| ParseError::new(K::Framing, "header section is not valid UTF-8"))?;
    header_section(head)
}

/// The start line and header fields of a header section (without its
/// closing blank line), folded continuation lines joined to their field.
fn header_section(head: &str) -> Result<(String, Vec<Header>), ParseError> {
    use ParseErrorKind as K;
    // Lines end in CRLF: split after each LF; a line ending in LF must end
    // in CRLF, and no line may hold another CR (a bare CR or LF). The last
    // line has no terminator (the blank line's CRLF CRLF is not in `head`).
    let mut lines = head.split_inclusive('\n');
    let start_line = crlf_line(lines.next().unwrap_or_default())
        .ok_or_else(|| ParseError::new(K::Framing, "bare CR or LF in the start line"))?
        .to_string();
    let mut headers: Vec<Header> = Vec::with_capacity(16);
    for line in lines {
        let line = crlf_line(line)
            .ok_or_else(|| ParseError::new(K::Framing, "bare CR or LF in the header section"))?;
        if line.starts_with([' ', '\t']) {
            // A folded continuation line: equivalent to a single space (section 7.3.1).
            let last = headers.last_mut().ok_or_else(|| {
                ParseError::new(K::Framing, "continuation line before the first header")
            })?;
            let more = line.trim_matches([' ', '\t']);
            if !more.is_empty() {
                if !last.value.is_empty() {
                    last.value.push(' ');
                }
                last.value.push_str(more);
            }
            continue;
        }
        if headers.len() >= HEADER_LINES_MAX {
            return Err(ParseError::new(
                K::TooLarge,
                format!("more than {HEADER_LINES_MAX} header fields"),
            ));
        }
        headers.push(header_field(line)?);
    }
    Ok((start_line, headers))
}

/// One `name: value` header line, its name a token (made canonical) and
/// its value trimmed.
fn header_field(line: &str) -> Result<Header, ParseError> {
    let colon = memchr::memchr(b':', line.as_bytes())
        .ok_or_else(|| header_err(clip(line), "header line without ':'"))?;
    let name = line[..colon].trim_end_matches([' ', '\t']);
    if !grammar::is_token(name) {
        return Err(ParseError::new(
            ParseErrorKind::Header,
            format!("bad header name {:?}", clip(name)),
        ));
    }
    Ok(Header {
        name: canonical_name(name),
        value: line[colon + 1..].trim_matches([' ', '\t']).to_string(),
    })
}

/// The body's length: its one Content-Length, at most the `available`
/// bytes; without one, all of them (UDP framing, section 18.3).
fn body_len(headers: &[Header], available: usize) -> Result<usize, ParseError> {
    use ParseErrorKind as K;
    let lengths: Vec<&Header> = headers
        .iter()
        .filter(|h| h.name == "Content-Length")
        .collect();
    match lengths.as_slice() {
        [] => Ok(available),
        [one] => {
            let n =
                grammar::parse_bounded(&one.value, MESSAGE_BYTES_MAX as u64).ok_or_else(|| {
                    ParseError::new(
                        K::Body,
                        format!(
                            "Content-Length {:?} is not a valid length",
                            clip(&one.value)
                        ),
                    )
                })?;
            let n = usize::try_from(n).expect("bounded by MESSAGE_BYTES_MAX");
            if n > available {
                return Err(ParseError::new(
                    K::Body,
                    format!("Content-Length {n} exceeds the {available} body bytes present"),
                ));
            }
            Ok(n)
        }
        _ => Err(ParseError::new(
            K::Body,
            format!("{} Content-Length headers", lengths.len()),
        )),
    }
}

/// The error for a header section without its closing empty line. When the input ends
/// in CRLF, the headers are checked as if the empty line were there, so that a message
/// that is also malformed elsewhere (RFC 4475 `baddn`) names that error first.
fn missing_blank_line(input: &[u8]) -> ParseError {
    if input.contains(&b'\n') && !input.windows(2).any(|w| w == b"\r\n") {
        return ParseError::new(
            ParseErrorKind::Framing,
            "lines must end in CRLF, not a bare LF",
        );
    }
    let missing = ParseError::new(
        ParseErrorKind::Framing,
        "no empty line after the header fields",
    );
    if !input.ends_with(b"\r\n") || input.len() + 2 > MESSAGE_BYTES_MAX {
        return missing;
    }
    let mut patched = input.to_vec();
    patched.extend_from_slice(b"\r\n");
    match frame(&patched).and_then(|f| validate(&f)) {
        Err(e) => e,
        Ok(_) => missing,
    }
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn is_sip_version(s: &str) -> bool {
    s.eq_ignore_ascii_case("SIP/2.0")
}

fn looks_like_version(s: &str) -> bool {
    // Bytes, not `&s[..4]`: the start line is any UTF-8, and byte 4 may fall inside a
    // character (`Sть ...` panicked here; fixtures/fuzz-regressions/sip/).
    s.as_bytes()
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
}

/// Parses the start line (section 7.1 and 7.2): single spaces, no extra whitespace.
pub(crate) fn start_line(line: &str) -> Result<StartLine, ParseError> {
    if looks_like_version(line) {
        status_line(line)
    } else {
        request_line(line)
    }
}

/// `SIP-Version SP Status-Code SP Reason-Phrase` (section 7.2).
fn status_line(line: &str) -> Result<StartLine, ParseError> {
    use ParseErrorKind as K;
    let (version, rest) = line.split_once(' ').unwrap_or((line, ""));
    if !is_sip_version(version) {
        return Err(ParseError::new(
            K::Version,
            format!("unsupported SIP version {:?}", clip(version)),
        ));
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::new(
            K::StartLine,
            format!("status code {:?} is not three digits", clip(code)),
        ));
    }
    let code: u16 = code.parse().expect("three ASCII digits");
    if !(100..=699).contains(&code) {
        return Err(ParseError::new(
            K::StartLine,
            format!("status code {code} is outside 100-699"),
        ));
    }
    if reason.bytes().any(|b| b < 0x20 && b != b'\t') {
        return Err(ParseError::new(
            K::StartLine,
            "control character in the reason phrase",
        ));
    }
    Ok(StartLine::Response {
        code,
        reason: reason.to_string(),
    })
}

/// `Method SP Request-URI SP SIP-Version` (section 7.1).
fn request_line(line: &str) -> Result<StartLine, ParseError> {
    use ParseErrorKind as K;
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri, version] = parts.as_slice() else {
        return Err(ParseError::new(
            K::StartLine,
            "request line must be METHOD SP Request-URI SP SIP/2.0 with single spaces",
        ));
    };
    if !grammar::is_token(method) {
        return Err(ParseError::new(
            K::StartLine,
            format!("bad method {:?}", clip(method)),
        ));
    }
    if !is_sip_version(version) {
        let kind = if looks_like_version(version) {
            K::Version
        } else {
            K::StartLine
        };
        return Err(ParseError::new(
            kind,
            format!("unsupported SIP version {:?}", clip(version)),
        ));
    }
    if uri.starts_with('<') {
        return Err(ParseError::new(
            K::StartLine,
            "Request-URI must not be enclosed in <>",
        ));
    }
    let parsed = check_uri(uri)
        .map_err(|why| ParseError::new(K::StartLine, format!("Request-URI: {why}")))?;
    if parsed.sip.as_ref().is_some_and(|s| s.has_headers) {
        return Err(ParseError::new(
            K::StartLine,
            "Request-URI must not contain headers ('?')",
        ));
    }
    Ok(StartLine::Request {
        method: Method::from_token(method),
        uri: uri.to_string(),
    })
}

/// Headers that may appear at most once.
const SINGLE: [&str; 7] = [
    "Call-ID",
    "CSeq",
    "From",
    "To",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
];

/// Validates the start line and the headers callsim interprets.
pub(crate) fn validate(framed: &Framed) -> Result<Core, ParseError> {
    use ParseErrorKind as K;
    let start = start_line(&framed.start_line)?;
    check_single(&framed.headers)?;
    let one = |name: &str| framed.headers.iter().find(|h| h.name == name);
    let required = |name: &str| {
        one(name).ok_or_else(|| ParseError::new(K::MissingHeader, format!("missing {name} header")))
    };
    let from =
        grammar::single_address(&required("From")?.value).map_err(|e| header_err("From", e))?;
    let to = grammar::single_address(&required("To")?.value).map_err(|e| header_err("To", e))?;
    let call_id = required("Call-ID")?.value.clone();
    grammar::call_id(&call_id).map_err(|e| header_err("Call-ID", e))?;
    let cseq = grammar::cseq(&required("CSeq")?.value).map_err(|e| header_err("CSeq", e))?;
    if let StartLine::Request { method, .. } = &start {
        if *method != cseq.method {
            return Err(ParseError::new(
                K::Header,
                format!(
                    "CSeq method {} does not match the request method {}",
                    cseq.method, method
                ),
            ));
        }
    }
    let max_forwards = one("Max-Forwards").map(max_forwards).transpose()?;
    let lists = header_lists(&framed.headers)?;
    if lists.vias.is_empty() {
        return Err(ParseError::new(K::MissingHeader, "missing Via header"));
    }
    Ok(Core {
        start,
        vias: lists.vias,
        from,
        to,
        call_id,
        cseq,
        max_forwards,
        contacts: lists.contacts,
        routes: lists.routes,
        record_routes: lists.record_routes,
    })
}

/// No header of [`SINGLE`] more than once.
fn check_single(headers: &[Header]) -> Result<(), ParseError> {
    for name in SINGLE {
        let n = headers.iter().filter(|h| h.name == name).count();
        if n > 1 {
            return Err(ParseError::new(
                ParseErrorKind::Header,
                format!("{n} {name} headers"),
            ));
        }
    }
    Ok(())
}

/// Max-Forwards: 0 to 255.
fn max_forwards(h: &Header) -> Result<u8, ParseError> {
    let n = grammar::parse_bounded(&h.value, 255)
        .ok_or_else(|| header_err("Max-Forwards", format!("{:?} is not 0-255", clip(&h.value))))?;
    Ok(u8::try_from(n).expect("bounded by 255"))
}

/// The headers that may come as lists, in message order.
struct Lists {
    vias: Vec<Via>,
    contacts: Vec<NameAddr>,
    routes: Vec<NameAddr>,
    record_routes: Vec<NameAddr>,
}

/// Parses Via, Contact, Route and Record-Route, and checks the grammar of
/// the other headers callsim reads (Date, Content-Type, option tags,
/// Warning, Expires).
fn header_lists(headers: &[Header]) -> Result<Lists, ParseError> {
    let mut lists = Lists {
        vias: Vec::new(),
        contacts: Vec::new(),
        routes: Vec::new(),
        record_routes: Vec::new(),
    };
    for h in headers {
        let value = h.value.as_str();
        let name = h.name.as_str();
        let err = |e: String| header_err(name, e);
        match name {
            "Via" => lists.vias.extend(grammar::via_list(value).map_err(err)?),
            "Contact" => lists
                .contacts
                .extend(grammar::address_list(value, AddrForm::Either).map_err(err)?),
            "Route" => lists
                .routes
                .extend(grammar::address_list(value, AddrForm::NameAddrOnly).map_err(err)?),
            "Record-Route" => lists
                .record_routes
                .extend(grammar::address_list(value, AddrForm::NameAddrOnly).map_err(err)?),
            "Date" => grammar::date(value).map_err(err)?,
            "Content-Type" => grammar::media_type(value).map_err(err)?,
            "Require" | "Proxy-Require" | "Allow" | "Unsupported" => {
                grammar::token_list(value, false).map_err(err)?
            }
            "Supported" => grammar::token_list(value, true).map_err(err)?,
            "Warning" => grammar::warning(value).map_err(err)?,
            "Expires" if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(err("expected delta-seconds".into()))
            }
            _ => {}
        }
    }
    Ok(lists)
}
