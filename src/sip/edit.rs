//! Editing a parsed message, for the proxies of the platform (load balancers, SBC pods):
//! RFC 3261 section 16.6 (push our Via and Record-Route, decrement Max-Forwards, pop our
//! Route, retarget the Request-URI) and 16.7 (pop our Via from a response).
//!
//! An edit works on the validated header list and ends in [`MessageEdit::finish`], which
//! writes the message back out and validates it again. Unlike the builders in `codec`,
//! this writer is our own, not rsip's: a proxy forwards any method and any URI scheme,
//! and rsip's model holds neither extension methods nor most non-SIP URIs.

use super::codec::{format_name_addr, format_via, parse, BuildError, Message, ViaSpec};
use super::grammar::{self, AddrForm};
use super::header::{NameAddr, Param, Via};
use super::validate::{Header, StartLine};

/// A message being edited; [`Message::edit`] starts one.
#[derive(Clone, Debug)]
pub struct MessageEdit {
    start: StartLine,
    headers: Vec<Header>,
    body: Vec<u8>,
}

/// The request cannot be forwarded: Max-Forwards is 0 (answer 483 Too Many Hops).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Max-Forwards is 0")]
pub struct TooManyHops;

impl MessageEdit {
    pub(crate) fn new(start: StartLine, headers: Vec<Header>, body: Vec<u8>) -> Self {
        MessageEdit {
            start,
            headers,
            body,
        }
    }

    fn first(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h.name == name)
    }

    fn insert_before_first(&mut self, name: &str, fallback: usize, value: String) {
        let at = self.first(name).unwrap_or(fallback);
        self.headers.insert(
            at,
            Header {
                name: name.to_string(),
                value,
            },
        );
    }

    /// Index just after the last Via (where new non-Via headers go).
    fn after_vias(&self) -> usize {
        self.headers
            .iter()
            .rposition(|h| h.name == "Via")
            .map_or(0, |i| i + 1)
    }

    /// Adds our Via on top (a request we forward).
    pub fn push_via(&mut self, via: &ViaSpec) {
        let value = format!(
            "SIP/2.0/UDP {}:{};branch={}",
            via.host, via.port, via.branch
        );
        self.insert_before_first("Via", 0, value);
    }

    /// What a server transport does to a request it receives from `source` (RFC 3261
    /// section 18.2.1, RFC 3581 section 4): the top Via gains `received=<source IP>` when
    /// its sent-by host is not that address (or when it asks for `rport`), and an empty
    /// `rport` is filled with the source port. Responses are then routed by them
    /// ([`Via::response_addr`]). `false` when the top Via needs nothing.
    pub fn stamp_received(&mut self, source: std::net::SocketAddr) -> bool {
        let Some(i) = self.first("Via") else {
            return false;
        };
        let Ok(mut vias) = grammar::via_list(&self.headers[i].value) else {
            return false;
        };
        let top = &mut vias[0];
        if !top.needs_received(source) {
            return false;
        }
        let wants_rport = top.asks_rport();
        top.params
            .retain(|p| !p.name.eq_ignore_ascii_case("received"));
        top.params.push(Param {
            name: "received".into(),
            value: Some(source.ip().to_string()),
        });
        if wants_rport {
            for p in top.params.iter_mut() {
                if p.name.eq_ignore_ascii_case("rport") {
                    p.value = Some(source.port().to_string());
                }
            }
        }
        self.headers[i].value = vias.iter().map(format_via).collect::<Vec<_>>().join(", ");
        true
    }

    /// Removes the top Via entry (a response we pass back) and returns it.
    pub fn pop_via(&mut self) -> Option<Via> {
        let i = self.first("Via")?;
        let mut vias = grammar::via_list(&self.headers[i].value).ok()?;
        let top = vias.remove(0);
        if vias.is_empty() {
            self.headers.remove(i);
        } else {
            self.headers[i].value = vias.iter().map(format_via).collect::<Vec<_>>().join(", ");
        }
        Some(top)
    }

    /// Adds `<uri;lr>` on top of Record-Route, so the dialog's requests cross us.
    pub fn push_record_route(&mut self, uri: &str) {
        let fallback = self.after_vias();
        self.insert_before_first("Record-Route", fallback, format!("<{uri};lr>"));
    }

    /// Removes the top Route entry (ours, when we are a loose router) and returns it.
    pub fn pop_route(&mut self) -> Option<NameAddr> {
        let i = self.first("Route")?;
        let mut routes =
            grammar::address_list(&self.headers[i].value, AddrForm::NameAddrOnly).ok()?;
        let top = routes.remove(0);
        if routes.is_empty() {
            self.headers.remove(i);
        } else {
            self.headers[i].value = routes
                .iter()
                .map(format_name_addr)
                .collect::<Vec<_>>()
                .join(", ");
        }
        Some(top)
    }

    /// Decrements Max-Forwards (adding `Max-Forwards: 70` when absent).
    pub fn decrement_max_forwards(&mut self) -> Result<(), TooManyHops> {
        match self.first("Max-Forwards") {
            Some(i) => {
                let n: u8 = self.headers[i].value.parse().unwrap_or(0);
                if n == 0 {
                    return Err(TooManyHops);
                }
                self.headers[i].value = (n - 1).to_string();
            }
            None => {
                let at = self.after_vias();
                self.headers.insert(
                    at,
                    Header {
                        name: "Max-Forwards".into(),
                        value: "69".into(),
                    },
                );
            }
        }
        Ok(())
    }

    /// Replaces the Request-URI (a request only).
    pub fn set_request_uri(&mut self, new_uri: &str) {
        if let StartLine::Request { uri, .. } = &mut self.start {
            *uri = new_uri.to_string();
        }
    }

    /// Replaces every value of header `name` with one `value` (or adds it).
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.remove_header(name);
        self.headers.push(Header {
            name: name.to_string(),
            value: value.to_string(),
        });
    }

    /// Removes every value of header `name` (case-insensitive).
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
    }

    /// Writes the message out (Content-Length recomputed) and validates it.
    pub fn finish(self) -> Result<Message, BuildError> {
        let mut text = match &self.start {
            StartLine::Request { method, uri } => format!("{method} {uri} SIP/2.0\r\n"),
            StartLine::Response { code, reason } => format!("SIP/2.0 {code} {reason}\r\n"),
        };
        for h in self.headers.iter().filter(|h| h.name != "Content-Length") {
            text.push_str(&h.name);
            text.push_str(": ");
            text.push_str(&h.value);
            text.push_str("\r\n");
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut wire = text.into_bytes();
        wire.extend_from_slice(&self.body);
        parse(&wire).map_err(BuildError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    /// An OPTIONS whose only Via is `via`.
    fn options(via: &str) -> crate::sip::Message {
        let m = crate::sip::testkit::request("OPTIONS", "sip:b@192.168.0.7", "c1", None, "", "");
        let mut edit = m.edit();
        edit.set_header("Via", via);
        edit.finish().expect("valid")
    }

    fn source() -> SocketAddr {
        "192.168.0.7:40000".parse().expect("address")
    }

    #[test]
    fn received_is_stamped_when_the_sent_by_is_not_the_source() {
        let same = options("SIP/2.0/UDP 192.168.0.7:40000;branch=z9hG4bKa");
        assert_eq!(
            same.clone().received_from(source()).as_bytes(),
            same.as_bytes()
        );
        let nat = options("SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKa").received_from(source());
        let via = &nat.vias()[0];
        assert_eq!(via.param("received"), Some("192.168.0.7"));
        assert_eq!(via.param("rport"), None);
        assert_eq!(
            via.response_addr(),
            Some("192.168.0.7:5060".parse().unwrap())
        );
    }

    #[test]
    fn an_empty_rport_is_filled_and_received_added() {
        let m = options("SIP/2.0/UDP 192.168.0.7:5060;branch=z9hG4bKa;rport, SIP/2.0/UDP 10.0.0.1")
            .received_from(source());
        let via = &m.vias()[0];
        assert_eq!(via.param("rport"), Some("40000"));
        assert_eq!(via.param("received"), Some("192.168.0.7"));
        assert_eq!(via.response_addr(), Some(source()));
        assert_eq!(m.vias().len(), 2, "the other Via entries stay");
    }
}
