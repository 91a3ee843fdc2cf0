//! The one place where the nodes meet the SIP user agent's call API
//! ([`crate::sip::ua`]) for what a call carries besides signalling: its
//! media addresses.
//!
//! The ideal is an SDP offer in the INVITE's body and an answer in the
//! 200's body ([`crate::nodes::sdp`]). The user agent does not carry bodies
//! yet (its `CallRequest` has no body, `answer` sends none, and an
//! `ActiveCall` does not expose the 200), so, until it does:
//! - the offer is the header `X-Callsim-Media: <ip>:<port>` on the INVITE
//!   ([`MEDIA_HEADER`]); a relay that anchors media (an SBC) rewrites it to
//!   its own address, as it would rewrite SDP. An INVITE that does carry
//!   an SDP body is read from the body first.
//! - the answer is learned by symmetric media (latching, as SBCs and
//!   "comedia" endpoints do): the answerer sends to the offered address at
//!   once, and the offerer sends back to wherever that call's media comes
//!   from ([`crate::nodes::media_stream::MediaEndpoint::latch`]).
//!
//! When the user agent gains bodies, only this module changes.
//!
//! It also starts the user agent of a node that ends calls (the carrier,
//! the SIP service): [`start_ua`].

use crate::net::UdpEndpoint;
use crate::nodes::{ports, sdp};
use crate::sim::NodeCtx;
use crate::sip::codec::Message;
use crate::sip::ua::{CallRequest, IncomingCalls, SipUa, UaConfig};
use crate::sip::SipTimers;
use std::net::SocketAddr;
use std::time::Duration;

/// The INVITE header that carries the offered media address.
pub const MEDIA_HEADER: &str = "X-Callsim-Media";

/// Binds the host's SIP port and starts its user agent there, with
/// `timers`, the host's name as its user, and its ids (branches, tags,
/// Call-IDs) from the host's `sip.ua` stream.
pub async fn start_ua(ctx: &NodeCtx, timers: SipTimers) -> std::io::Result<(SipUa, IncomingCalls)> {
    let socket = UdpEndpoint::bind(ctx, ports::SIP).await?;
    Ok(SipUa::start(
        socket,
        UaConfig {
            timers,
            user: ctx.name.to_string(),
        },
        ctx.rng("sip.ua"),
    ))
}

/// An INVITE request for `call` to `target` (the next hop), offering media
/// at `media`.
pub fn call_request(
    call: &str,
    target: SocketAddr,
    uri: String,
    ringing_timeout: Duration,
    media: SocketAddr,
) -> CallRequest {
    CallRequest {
        call: call.to_string(),
        target,
        uri,
        ringing_timeout,
        extra_headers: vec![(MEDIA_HEADER.to_string(), media.to_string())],
    }
}

/// The media address an INVITE offers: its SDP body's, else its
/// [`MEDIA_HEADER`]'s; `None` when it offers none.
pub fn offered_media(invite: &Message) -> Option<SocketAddr> {
    let body = String::from_utf8_lossy(invite.body());
    sdp::media_addr(&body).or_else(|| invite.header(MEDIA_HEADER)?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_is_read_from_the_header() {
        let raw = "INVITE sip:+1@carrier SIP/2.0\r\n\
            Via: SIP/2.0/UDP 192.168.0.2:5060;branch=z9hG4bK-1\r\n\
            Max-Forwards: 70\r\n\
            From: <sip:sip-1@192.168.0.2>;tag=a\r\n\
            To: <sip:+1@carrier>\r\n\
            Call-ID: c1\r\n\
            CSeq: 1 INVITE\r\n\
            Contact: <sip:sip-1@192.168.0.2:5060>\r\n\
            X-Callsim-Call: out-1\r\n\
            X-Callsim-Media: 192.168.0.2:10000\r\n\
            Content-Length: 0\r\n\r\n";
        let invite = crate::sip::parse(raw.as_bytes()).expect("valid INVITE");
        assert_eq!(
            offered_media(&invite),
            Some("192.168.0.2:10000".parse().expect("addr"))
        );
    }
}
