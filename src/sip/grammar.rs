//! The RFC 3261 section 25 grammar of the header field values that callsim interprets:
//! tokens, quoted strings, generic parameters, name-addr/addr-spec lists, Via, CSeq,
//! Call-ID, dates and media types.
//!
//! Values arrive unfolded (a fold is a single space by then) and trimmed. Every function
//! returns `Err(reason)` with a sentence a person can act on; none of them panics.

use super::header::{CSeq, Method, NameAddr, Param, Via};
use super::uri::{check_uri, parse_port};

/// `token` characters (RFC 3261 section 25.1).
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN_CHARS[b as usize]
}

/// [`is_token_char`] as a table: it runs for every byte of every header name
/// and of most header values.
const TOKEN_CHARS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        b += 1;
    }
    table
};

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// A cursor over one header field value.
pub(crate) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// Skips spaces and tabs; true when at least one was skipped.
    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Consumes `SWS c SWS` (the SEMI, COMMA, EQUAL, SLASH, COLON of the grammar).
    fn eat_sep(&mut self, c: u8) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            self.skip_ws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn token(&mut self) -> Option<&'a str> {
        let t = self.take_while(is_token_char);
        (!t.is_empty()).then_some(t)
    }

    /// A quoted-string, quotes included, with quoted-pairs.
    fn quoted_string(&mut self) -> Result<&'a str, String> {
        let start = self.pos;
        if self.peek() != Some(b'"') {
            return Err("expected a quoted string".into());
        }
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err("unterminated quoted string".into()),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(&self.text[start..self.pos]);
                }
                Some(b'\\') => {
                    // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                    match self.text.as_bytes().get(self.pos + 1) {
                        Some(&c) if c <= 0x7f && c != b'\n' && c != b'\r' => self.pos += 2,
                        _ => return Err("bad escape in quoted string".into()),
                    }
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }
}

/// `*( SEMI generic-param )` with `gen-value = token / host / quoted-string`.
fn params(c: &mut Cursor<'_>) -> Result<Vec<Param>, String> {
    let mut out = Vec::new();
    while c.eat_sep(b';') {
        let name = c
            .token()
            .ok_or_else(|| format!("empty or bad parameter before {:?}", clip(c.rest())))?;
        let value = if c.eat_sep(b'=') {
            let v = match c.peek() {
                Some(b'"') => c.quoted_string()?,
                Some(b'[') => {
                    let start = c.pos;
                    c.take_while(|b| b != b']');
                    if c.peek() != Some(b']') {
                        return Err("unterminated IPv6 reference in parameter".into());
                    }
                    c.pos += 1;
                    &c.text[start..c.pos]
                }
                _ => c
                    .token()
                    .ok_or_else(|| format!("parameter {name} has an empty or bad value"))?,
            };
            Some(v.to_string())
        } else {
            None
        };
        out.push(Param {
            name: name.to_string(),
            value,
        });
    }
    Ok(out)
}

fn clip(s: &str) -> String {
    s.chars().take(24).collect()
}

/// Which forms a name-addr list position accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddrForm {
    /// `name-addr / addr-spec` (From, To, Contact).
    Either,
    /// `name-addr` only (Route, Record-Route).
    NameAddrOnly,
}

/// One `( name-addr / addr-spec ) *( SEMI param )`.
fn name_addr(c: &mut Cursor<'_>, form: AddrForm) -> Result<NameAddr, String> {
    c.skip_ws();
    let (display_name, bracketed) = display_name(c)?;
    let uri = if bracketed {
        bracketed_uri(c)?
    } else {
        bare_uri(c, form)?
    };
    let params = params(c)?;
    Ok(NameAddr {
        display_name,
        uri: uri.to_string(),
        bracketed,
        params,
    })
}

/// The display name before an address, if any, and whether a `<URI>`
/// follows (a name-addr) or a bare URI does (an addr-spec).
fn display_name(c: &mut Cursor<'_>) -> Result<(Option<String>, bool), String> {
    let start = c.pos;
    match c.peek() {
        Some(b'"') => {
            let name = c.quoted_string()?.to_string();
            c.skip_ws();
            Ok((Some(name), true))
        }
        Some(b'<') => Ok((None, true)),
        Some(b) if is_token_char(b) => {
            // A token followed by ':' starts a URI scheme: an addr-spec. Otherwise tokens
            // separated by LWS form a display name that must be followed by '<'.
            c.token();
            if c.peek() == Some(b':') {
                c.pos = start;
                return Ok((None, false));
            }
            loop {
                c.skip_ws();
                match c.peek() {
                    Some(b'<') => break,
                    Some(b) if is_token_char(b) => {
                        c.token();
                    }
                    Some(b) => {
                        return Err(format!(
                            "display name must be a quoted string or tokens; found {:?}",
                            b as char
                        ))
                    }
                    None => return Err("display name without <URI>".into()),
                }
            }
            Ok((Some(c.text[start..c.pos].trim_end().to_string()), true))
        }
        Some(b) => Err(format!(
            "unexpected {:?} where an address was expected",
            b as char
        )),
        None => Err("empty address".into()),
    }
}

/// A `<URI>` with nothing but the URI between the brackets.
fn bracketed_uri<'a>(c: &mut Cursor<'a>) -> Result<&'a str, String> {
    if c.peek() != Some(b'<') {
        return Err("expected '<' after the display name".into());
    }
    c.pos += 1;
    let uri = c.take_while(|b| b != b'>');
    if c.peek() != Some(b'>') {
        return Err("unterminated <URI>".into());
    }
    c.pos += 1;
    if uri.starts_with([' ', '\t']) || uri.ends_with([' ', '\t']) {
        return Err("whitespace inside <URI>".into());
    }
    check_uri(uri)?;
    Ok(uri)
}

/// A bare addr-spec, where `form` allows one.
fn bare_uri<'a>(c: &mut Cursor<'a>, form: AddrForm) -> Result<&'a str, String> {
    if form == AddrForm::NameAddrOnly {
        return Err("address must be enclosed in <>".into());
    }
    // RFC 3261 section 20.10: a URI with a comma, question mark or semicolon must be
    // enclosed in <>, so a bare addr-spec ends at the first ';' or ','.
    let uri = c.take_while(|b| !matches!(b, b';' | b',' | b' ' | b'\t'));
    if uri.contains('?') {
        return Err("a URI with headers ('?') must be enclosed in <>".into());
    }
    check_uri(uri)?;
    Ok(uri)
}

/// A single address (From, To).
pub(crate) fn single_address(value: &str) -> Result<NameAddr, String> {
    let mut c = Cursor::new(value);
    let addr = name_addr(&mut c, AddrForm::Either)?;
    c.skip_ws();
    if !c.at_end() {
        return Err(format!("unexpected {:?} after the address", clip(c.rest())));
    }
    Ok(addr)
}

/// A comma-separated address list (Contact, Route, Record-Route). `Contact: *` gives an
/// empty list.
pub(crate) fn address_list(value: &str, form: AddrForm) -> Result<Vec<NameAddr>, String> {
    if value == "*" && form == AddrForm::Either {
        return Ok(Vec::new());
    }
    let mut c = Cursor::new(value);
    let mut out = Vec::new();
    loop {
        out.push(name_addr(&mut c, form)?);
        if c.eat_sep(b',') {
            continue;
        }
        c.skip_ws();
        if !c.at_end() {
            return Err(format!("unexpected {:?} in address list", clip(c.rest())));
        }
        return Ok(out);
    }
}

/// A Via header field value: one or more comma-separated via-parms.
pub(crate) fn via_list(value: &str) -> Result<Vec<Via>, String> {
    let mut c = Cursor::new(value);
    let mut out = Vec::new();
    loop {
        c.skip_ws();
        let name = c.token().ok_or("expected SIP/2.0/transport")?;
        if !c.eat_sep(b'/') {
            return Err("expected '/' after the protocol name".into());
        }
        let version = c.token().ok_or("missing protocol version")?;
        if !c.eat_sep(b'/') {
            return Err("expected '/' after the protocol version".into());
        }
        let transport = c.token().ok_or("missing transport")?;
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return Err(format!("unsupported protocol {name}/{version}"));
        }
        if !c.skip_ws() {
            return Err("expected whitespace before sent-by".into());
        }
        let host = if c.peek() == Some(b'[') {
            let h = c.take_while(|b| b != b']');
            if c.peek() != Some(b']') {
                return Err("unterminated IPv6 reference".into());
            }
            c.pos += 1;
            format!("{h}]")
        } else {
            let h = c.take_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if h.is_empty() {
                return Err("missing sent-by host".into());
            }
            h.to_string()
        };
        let port = if c.eat_sep(b':') {
            Some(parse_port(c.take_while(|b| b.is_ascii_digit()))?)
        } else {
            None
        };
        let params = params(&mut c)?;
        out.push(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params,
        });
        if c.eat_sep(b',') {
            continue;
        }
        c.skip_ws();
        if !c.at_end() {
            return Err(format!("unexpected {:?}", clip(c.rest())));
        }
        return Ok(out);
    }
}

/// The CSeq value: `1*DIGIT LWS Method`, the number below 2**31 (section 8.1.1.5).
pub(crate) fn cseq(value: &str) -> Result<CSeq, String> {
    let mut c = Cursor::new(value);
    let digits = c.take_while(|b| b.is_ascii_digit());
    if digits.is_empty() {
        return Err("expected a sequence number".into());
    }
    let seq = parse_bounded(digits, (1 << 31) - 1)
        .ok_or_else(|| format!("sequence number {} is not below 2**31", clip(digits)))?;
    if !c.skip_ws() {
        return Err("expected whitespace before the method".into());
    }
    let method = c.token().ok_or("missing method")?;
    if !c.at_end() {
        return Err(format!("unexpected {:?}", clip(c.rest())));
    }
    Ok(CSeq {
        seq: u32::try_from(seq).expect("bounded below 2**31"),
        method: Method::from_token(method),
    })
}

/// Decimal digits (leading zeros allowed) whose value is at most `max`.
pub(crate) fn parse_bounded(digits: &str, max: u64) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 19 {
        return None;
    }
    let value = if significant.is_empty() {
        0
    } else {
        significant.parse::<u64>().ok()?
    };
    (value <= max).then_some(value)
}

fn is_word_char(b: u8) -> bool {
    is_token_char(b)
        || matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        )
}

/// Call-ID: `word [ "@" word ]`.
pub(crate) fn call_id(value: &str) -> Result<(), String> {
    let (left, right) = match value.split_once('@') {
        Some((l, r)) => (l, Some(r)),
        None => (value, None),
    };
    let word = |w: &str| !w.is_empty() && w.bytes().all(is_word_char);
    if word(left) && right.is_none_or(word) {
        Ok(())
    } else {
        Err(format!("Call-ID {:?} is not word[@word]", clip(value)))
    }
}

/// Date: `rfc1123-date`, which must end in GMT (RFC 3261 section 20.17).
pub(crate) fn date(value: &str) -> Result<(), String> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = value.split(' ').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let ok = parts.len() == 6
        && parts[0]
            .strip_suffix(',')
            .is_some_and(|d| DAYS.contains(&d))
        && digits(parts[1], 2)
        && MONTHS.contains(&parts[2])
        && digits(parts[3], 4)
        && parts[4].split(':').count() == 3
        && parts[4].split(':').all(|p| digits(p, 2));
    if !ok {
        return Err(format!("Date {:?} is not an RFC 1123 date", clip(value)));
    }
    if parts[5] != "GMT" {
        return Err(format!("Date must be in GMT, not {:?}", clip(parts[5])));
    }
    Ok(())
}

/// Content-Type: `m-type SLASH m-subtype *( SEMI m-parameter )`.
pub(crate) fn media_type(value: &str) -> Result<(), String> {
    let mut c = Cursor::new(value);
    c.token().ok_or("missing media type")?;
    if !c.eat_sep(b'/') {
        return Err("expected type/subtype".into());
    }
    c.token().ok_or("missing media subtype")?;
    params(&mut c)?;
    c.skip_ws();
    if !c.at_end() {
        return Err(format!("unexpected {:?}", clip(c.rest())));
    }
    Ok(())
}

/// A comma-separated token list (Require, Proxy-Require, Supported, Allow); empty allowed
/// only when `allow_empty`.
pub(crate) fn token_list(value: &str, allow_empty: bool) -> Result<(), String> {
    if value.is_empty() {
        return if allow_empty {
            Ok(())
        } else {
            Err("empty list".into())
        };
    }
    if value
        .split(',')
        .all(|t| is_token(t.trim_matches([' ', '\t'])))
    {
        Ok(())
    } else {
        Err(format!("{:?} is not a list of tokens", clip(value)))
    }
}

/// Warning: each warning-value starts with a three-digit code and a space.
pub(crate) fn warning(value: &str) -> Result<(), String> {
    let b = value.as_bytes();
    if b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ' {
        Ok(())
    } else {
        Err(format!(
            "Warning {:?} lacks a three-digit code",
            clip(value)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        let a = single_address("token1~` token2'+_ <sip:mundane@example.com>;tag=x").expect("ok");
        assert_eq!(a.display_name.as_deref(), Some("token1~` token2'+_"));
        assert_eq!(a.tag(), Some("x"));
        let a = single_address("caller<sip:caller@example.com>;tag=323").expect("ok");
        assert_eq!(a.uri, "sip:caller@example.com");
        assert!(single_address("Bell, Alexander <sip:a@example.com>").is_err());
        assert!(single_address("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(single_address("< sip:t.watson@example.org >").is_err());
    }

    #[test]
    fn bare_addr_spec_params_belong_to_the_header() {
        let a = single_address("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
            .expect("ok");
        assert_eq!(a.uri, "sip:vivekg@chair-dnrc.example.com");
        assert_eq!(a.tag(), Some("1918181833n"));
        assert!(single_address("sip:user@example.com?Route=%3Csip:x%3E").is_err());
    }

    #[test]
    fn vias() {
        let v = via_list(
            "SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  , SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
        )
        .expect("ok");
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].branch(), Some("z9hG4bK9ikj8"));
        assert_eq!(v[1].host, "192.168.255.111");
        assert!(via_list("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
        assert!(via_list("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw").is_err());
    }

    #[test]
    fn cseq_bounds() {
        assert_eq!(cseq("0009 INVITE").expect("ok").seq, 9);
        assert!(cseq("36893488147419103232 REGISTER").is_err());
        assert!(cseq("2147483648 INVITE").is_err());
        assert_eq!(cseq("2147483647 INVITE").expect("ok").seq, 2147483647);
    }

    #[test]
    fn dates() {
        assert!(date("Sat, 15 Oct 2005 04:44:56 GMT").is_ok());
        assert!(date("Fri, 01 Jan 2010 16:00:00 EST").is_err());
    }
}
