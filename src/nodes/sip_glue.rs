//! The one place where the nodes meet the SIP user agent's call API
//! ([`crate::sip::ua`]) for what a call carries besides signalling: its
//! media, as RFC 3264 offers and answers in SDP bodies
//! ([`crate::sip::sdp`]).
//! - The INVITE carries the offer: [`call_request`] (the default codec
//!   list over `RTP/AVP`, at the caller's media address).
//! - The 200 carries the answer: [`answer_sdp`], from the offer and what
//!   the answerer can take; an offer it can take nothing of is
//!   [`sdp::NotAcceptable`] (the node answers 488).
//! - Media endpoints come from the SDP ([`offered_media`]), which a relay
//!   that anchors media (an SBC) rewrites to its own address. Media still
//!   latches symmetrically as well (the offerer sends back to wherever the
//!   call's media comes from, as SBCs and "comedia" endpoints do,
//!   [`crate::nodes::media_stream::MediaEndpoint::latch`]).
//! - Until a release drops it, an INVITE without SDP may still offer by
//!   the header `X-Callsim-Media: <ip>:<port>` ([`MEDIA_HEADER`]); no node
//!   of this platform sends it any more.
//!
//! It also starts the user agent of a node that ends calls (the carrier,
//! the SIP service): [`start_ua`].

use crate::net::UdpEndpoint;
use crate::nodes::ports;
use crate::sim::NodeCtx;
use crate::sip::codec::Message;
use crate::sip::sdp;
use crate::sip::ua::session_timer::SessionTimerConfig;
use crate::sip::ua::{CallRequest, IncomingCalls, SipUa, UaConfig};
use crate::sip::SipTimers;
use std::net::SocketAddr;
use std::time::Duration;

/// The INVITE header that carried the offered media address before SDP
/// bodies; read, never sent.
pub const MEDIA_HEADER: &str = "X-Callsim-Media";

/// Binds the host's SIP port and starts its user agent there, with
/// `timers`, its session timers (RFC 4028, if any), the host's name as its
/// user, and its ids (branches, tags, Call-IDs) from the host's `sip.ua`
/// stream.
pub async fn start_ua(
    ctx: &NodeCtx,
    timers: SipTimers,
    session_timer: Option<SessionTimerConfig>,
    advertised: Option<SocketAddr>,
) -> std::io::Result<(SipUa, IncomingCalls)> {
    let socket = UdpEndpoint::bind(ctx, ports::SIP).await?;
    Ok(SipUa::start(
        socket,
        UaConfig {
            timers,
            user: ctx.name.to_string(),
            session_timer,
            advertised,
        },
        ctx.rng("sip.ua"),
    ))
}

/// An INVITE request for `call` to `target` (the next hop), offering media
/// at `media` in its SDP body.
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
        extra_headers: Vec::new(),
        sdp: Some(sdp::body(media)),
    }
}

/// The SDP answer to `invite`'s offer from an answerer at `media` that
/// can take `caps`: `Ok(None)` when the INVITE carries no SDP offer (the
/// 200 then carries none), `Err` when no offered stream is acceptable.
pub fn answer_sdp(
    invite: &Message,
    caps: &sdp::Capabilities,
    media: SocketAddr,
) -> Result<Option<String>, sdp::NotAcceptable> {
    let Some(offer) = invite.sdp_body().and_then(|b| sdp::Sdp::parse(b).ok()) else {
        return Ok(None);
    };
    sdp::answer(&offer, caps, media).map(|answer| Some(answer.to_string()))
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
        let invite = crate::sip::testkit::invite("X-Callsim-Media: 192.168.0.2:10000\r\n", "");
        assert_eq!(
            offered_media(&invite),
            Some("192.168.0.2:10000".parse().expect("addr"))
        );
    }
}
