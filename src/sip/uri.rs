//! SIP and absolute URI syntax (RFC 3261 section 25.1, RFC 2396 for other schemes).
//!
//! The validating parser checks every URI it meets here, and the user agent resolves a
//! SIP URI's host and port through [`Uri::host_port`]. rsip's URI tokenizer rejects
//! URIs that RFC 3261 allows (RFC 4475 `esc01`, `semiuri`, `intmeth`), so this is our own.

use super::header::Param;

/// A validated URI. Non-SIP schemes (`tel:`, `http:`, `isbn:`, ...) are checked only for
/// the generic absoluteURI character set and carry no host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uri {
    /// The scheme, lower-cased (`sip`, `sips`, `tel`, ...).
    pub scheme: String,
    /// The parts of a `sip:`/`sips:` URI; `None` for other schemes.
    pub sip: Option<SipUri>,
}

/// The parts of a SIP or SIPS URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    /// The user part, still escaped, when present.
    pub user: Option<String>,
    /// The host (an IPv6 reference keeps its brackets).
    pub host: String,
    pub port: Option<u16>,
    /// The URI parameters (`;lr`, `;transport=udp`, ...).
    pub params: Vec<Param>,
    /// Whether the URI carries `?headers` (forbidden in a Request-URI).
    pub has_headers: bool,
    /// Whether the user part carries a `:password` (not kept in `user`).
    pub has_password: bool,
}

impl Uri {
    /// Host and port (5060 by default) of a SIP URI, for sending to it.
    pub fn host_port(&self) -> Option<(&str, u16)> {
        self.sip
            .as_ref()
            .map(|sip| (sip.host.as_str(), sip.port.unwrap_or(5060)))
    }

    /// Whether a SIP URI has the `lr` parameter (a loose router, RFC 3261 section 16.12).
    pub fn is_loose_router(&self) -> bool {
        self.sip
            .as_ref()
            .is_some_and(|sip| sip.params.iter().any(|p| p.name.eq_ignore_ascii_case("lr")))
    }
}

fn is_mark(b: u8) -> bool {
    matches!(
        b,
        b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
    )
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || is_mark(b)
}

fn is_reserved(b: u8) -> bool {
    matches!(
        b,
        b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b','
    )
}

fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

fn is_header_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

/// Checks that `s` is made of `allowed` characters and `%HH` escapes.
fn check_chars(s: &str, what: &str, allowed: impl Fn(u8) -> bool) -> Result<(), String> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3);
            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                return Err(format!("bad %-escape in URI {what}"));
            }
            i += 3;
        } else if allowed(b) {
            i += 1;
        } else {
            return Err(format!(
                "character {:?} not allowed in URI {what}",
                b as char
            ));
        }
    }
    Ok(())
}

/// Parses and validates a URI.
pub fn parse_uri(s: &str) -> Result<Uri, String> {
    let mut params = Vec::new();
    let view = scan_uri(s, |name, value| {
        params.push(Param {
            name: name.to_string(),
            value: value.map(str::to_string),
        })
    })?;
    Ok(Uri {
        scheme: view.scheme.to_ascii_lowercase(),
        sip: view.sip.map(|sip| SipUri {
            user: sip.user.map(str::to_string),
            host: sip.host.to_string(),
            port: sip.port,
            params,
            has_headers: sip.has_headers,
            has_password: sip.has_password,
        }),
    })
}

/// Validates a URI without keeping its parts (the grammar checks every URI in every
/// address it meets; most are not looked at again). Same rules as [`parse_uri`].
pub fn check_uri(s: &str) -> Result<UriView<'_>, String> {
    scan_uri(s, |_, _| {})
}

/// A validated URI's parts, borrowed from its text.
pub struct UriView<'a> {
    /// The scheme as written (compare case-insensitively).
    pub scheme: &'a str,
    pub sip: Option<SipView<'a>>,
}

/// The parts of a SIP or SIPS URI, borrowed; parameters went to the caller of
/// [`scan_uri`].
pub struct SipView<'a> {
    pub user: Option<&'a str>,
    pub host: &'a str,
    pub port: Option<u16>,
    pub has_headers: bool,
    pub has_password: bool,
}

/// The URI grammar: validates `s` and hands each SIP URI parameter to `on_param`.
fn scan_uri<'a>(
    s: &'a str,
    on_param: impl FnMut(&'a str, Option<&'a str>),
) -> Result<UriView<'a>, String> {
    if s.is_empty() {
        return Err("empty URI".into());
    }
    if s.starts_with('<') {
        return Err("URI must not be enclosed in <> here".into());
    }
    if s.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err("whitespace inside a URI".into());
    }
    let colon = s
        .find(':')
        .ok_or_else(|| format!("not a URI (no scheme): {s}"))?;
    let scheme = &s[..colon];
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err(format!("bad URI scheme {scheme:?}"));
    }
    let rest = &s[colon + 1..];
    if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        let sip = scan_sip_rest(rest, on_param)?;
        return Ok(UriView {
            scheme,
            sip: Some(sip),
        });
    }
    if rest.is_empty() {
        return Err(format!("empty {}: URI", scheme.to_ascii_lowercase()));
    }
    check_chars(rest, "", |b| is_reserved(b) || is_unreserved(b))?;
    Ok(UriView { scheme, sip: None })
}

fn scan_sip_rest<'a>(
    rest: &'a str,
    on_param: impl FnMut(&'a str, Option<&'a str>),
) -> Result<SipView<'a>, String> {
    let (user, has_password, hostpart) = scan_userinfo(rest)?;
    let host_end = scan_host(hostpart)?;
    let host = &hostpart[..host_end];
    let mut rest = &hostpart[host_end..];
    let mut port = None;
    if let Some(after) = rest.strip_prefix(':') {
        let end = after.find([';', '?']).unwrap_or(after.len());
        port = Some(parse_port(&after[..end])?);
        rest = &after[end..];
    }
    rest = scan_params(rest, on_param)?;
    let mut has_headers = false;
    if let Some(headers) = rest.strip_prefix('?') {
        has_headers = true;
        scan_headers(headers)?;
        rest = "";
    }
    if !rest.is_empty() {
        return Err(format!("unexpected {rest:?} in SIP URI"));
    }
    Ok(SipView {
        user,
        host,
        port,
        has_headers,
        has_password,
    })
}

/// The userinfo of a SIP URI, if any: (user, whether a password follows
/// it, what comes after the '@').
fn scan_userinfo(rest: &str) -> Result<(Option<&str>, bool, &str), String> {
    // No valid character after the host part may be '@', so the first '@' ends the userinfo.
    let Some(at) = rest.find('@') else {
        return Ok((None, false, rest));
    };
    let userinfo = &rest[..at];
    let (user, password) = split_first(userinfo, ':');
    if user.is_empty() {
        return Err("empty user part in SIP URI".into());
    }
    check_chars(user, "user part", is_user_char)?;
    if let Some(password) = password {
        check_chars(password, "password", is_password_char)?;
    }
    Ok((Some(user), password.is_some(), &rest[at + 1..]))
}

/// Where the host (an IPv6 reference or a hostname/IPv4 address) of
/// `hostpart` ends.
fn scan_host(hostpart: &str) -> Result<usize, String> {
    if hostpart.as_bytes().first() == Some(&b'[') {
        let close = hostpart
            .find(']')
            .ok_or("unterminated IPv6 reference in SIP URI")?;
        let inner = &hostpart[1..close];
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
        {
            return Err("bad IPv6 reference in SIP URI".into());
        }
        return Ok(close + 1);
    }
    let end = hostpart.find([':', ';', '?']).unwrap_or(hostpart.len());
    let host = &hostpart[..end];
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
        && !host.starts_with(['-', '.']);
    if !ok {
        return Err(format!("bad host {host:?} in SIP URI"));
    }
    Ok(end)
}

/// The `;name[=value]` parameters at the start of `rest`, each handed to
/// `on_param`; returns what follows them.
fn scan_params<'a>(
    mut rest: &'a str,
    mut on_param: impl FnMut(&'a str, Option<&'a str>),
) -> Result<&'a str, String> {
    while let Some(after) = rest.strip_prefix(';') {
        let end = after.find([';', '?']).unwrap_or(after.len());
        let param = &after[..end];
        let (name, value) = split_first(param, '=');
        if name.is_empty() {
            return Err("empty URI parameter".into());
        }
        check_chars(name, "parameter", is_param_char)?;
        if let Some(value) = value {
            if value.is_empty() {
                return Err(format!("empty value for URI parameter {name}"));
            }
            check_chars(value, "parameter", is_param_char)?;
        }
        on_param(name, value);
        rest = &after[end..];
    }
    Ok(rest)
}

/// `s` split at its first `sep`: what comes before it, and what comes
/// after it when it is there.
fn split_first(s: &str, sep: char) -> (&str, Option<&str>) {
    match s.split_once(sep) {
        Some((before, after)) => (before, Some(after)),
        None => (s, None),
    }
}

/// The `name=value&...` headers after a SIP URI's '?'.
fn scan_headers(headers: &str) -> Result<(), String> {
    for header in headers.split('&') {
        let (name, value) = header.split_once('=').ok_or("URI header without '='")?;
        if name.is_empty() {
            return Err("empty URI header name".into());
        }
        check_chars(name, "header", is_header_char)?;
        check_chars(value, "header", is_header_char)?;
    }
    Ok(())
}

/// A port: 1 to 5 digits, at most 65535.
pub(crate) fn parse_port(s: &str) -> Result<u16, String> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad port {s:?}"));
    }
    s.parse::<u16>()
        .map_err(|_| format!("port {s} out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) {
        assert!(parse_uri(s).is_ok(), "{s}: {:?}", parse_uri(s));
    }

    fn bad(s: &str) {
        assert!(parse_uri(s).is_err(), "{s} should be rejected");
    }

    #[test]
    fn accepts_rfc4475_uris() {
        ok("sip:sips%3Auser%40example.com@example.net");
        ok("sip:user;par=u%40example.net@example.com");
        ok("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        ok("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
        ok("sip:user@example.com?Route=%3Csip:sip.example.com%3E");
        ok("soap.beep://192.0.2.103:3002");
        ok("nobodyKnowsThisScheme:totallyopaquecontent");
        ok("sip:[2001:db8::1]:5070;lr");
    }

    #[test]
    fn rejects_malformed_uris() {
        bad("<sip:user@example.com>");
        bad(" sip:user@example.com");
        bad("sip:user@example.com;;lr");
        bad("sip:@example.com");
        bad("sip:user@exa mple.com");
        bad("sip:user@host:99999");
        bad("sip:user@host:-1");
        bad("user@example.com");
        bad("sip:us%zzer@host");
    }

    #[test]
    fn host_port_defaults_to_5060() {
        let uri = parse_uri("sip:bob@carrier").expect("valid");
        assert_eq!(uri.host_port(), Some(("carrier", 5060)));
        let uri = parse_uri("sip:bob@10.0.0.2:5070;lr").expect("valid");
        assert_eq!(uri.host_port(), Some(("10.0.0.2", 5070)));
        assert!(uri.is_loose_router());
    }
}
