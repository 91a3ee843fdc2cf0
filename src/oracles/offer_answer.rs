//! `offer_answer` (on by default): every answered INVITE that carried an
//! SDP offer gets an RFC 3264 answer to it, at both ends, judged by
//! [`crate::sip::sdp::check_answer`].
//!
//! It reads the optional field [`SDP_FIELD`] (`sdp`) of `sip.send` and
//! `sip.recv`: the message's body, as sent or received, when its
//! Content-Type is `application/sdp` (absent otherwise). The user agent's
//! INVITEs carry offers and its 200s answers (`nodes::sip_glue`).
//!
//! Rules, for each Call-ID, with [`super::sip`]'s notion of a relay:
//! 1. At the UAS (the host that made the 2xx to an INVITE it received and
//!    did not relay): when the INVITE it received carried an offer, its
//!    2xx carries an answer, and the answer answers that offer (RFC 3261
//!    section 13.2.1: the answer goes in the first reliable non-failure
//!    response; RFC 3264 section 6).
//! 2. At the UAC (the host that made the INVITE): when its INVITE carried
//!    an offer, the 2xx it received carries an answer to that offer. With
//!    relays in between this checks them too: an SBC that anchors media
//!    may rewrite addresses, but a relay that drops or adds codecs or
//!    crypto breaks the UAC's offer/answer even when the UAS's holds.
//! 3. Every `sdp` value parses ([`crate::sip::sdp::Sdp::parse`]).
//! 4. Media flows between the endpoints the SDP names: every `media.rx`
//!    at a host comes from an address (`from_addr`) that an SDP body the
//!    host received for that call named (a `c=` address with its `m=`
//!    port, from an offer, an answer, early media or a re-INVITE). Media
//!    from anywhere else (a stale address, a relay that sends from a port
//!    it did not announce, another call's stream) is a violation. Hosts
//!    that received no SDP for a call are not judged by this rule.

use super::sip::{by_call_id, relayed_from, relayed_on, Msg};
use super::{OracleKind, Violation};
use crate::history::History;
use crate::sim::FieldError;
use crate::sip::sdp::{check_answer, Sdp};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// `offer_answer = {}`: no parameters.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {}

impl Params {
    pub fn validate(&self, _field: &str) -> Result<(), FieldError> {
        Ok(())
    }
}

pub const NAME: &str = "offer_answer";

/// The proposed optional field of `sip.send` / `sip.recv`: the message's
/// SDP body.
pub const SDP_FIELD: &str = "sdp";

fn is_2xx_to_invite(m: &Msg<'_>) -> bool {
    m.cseq_method == "INVITE" && m.code().is_some_and(|c| (200..300).contains(&c))
}

fn sdp_of<'h>(m: &Msg<'h>) -> Option<&'h str> {
    m.record.str(SDP_FIELD).filter(|s| !s.is_empty())
}

/// Judges a history whose SIP events carry [`SDP_FIELD`].
pub fn check(history: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    for (id, msgs) in &by_call_id(history) {
        let violation = |m: &Msg<'_>, message: String| {
            Violation::new(NAME, OracleKind::Safety, m.t_ms, m.call, message)
        };
        let parsed = |m: &Msg<'_>, out: &mut Vec<Violation>| -> Option<Sdp> {
            let text = sdp_of(m)?;
            match Sdp::parse(text) {
                Ok(sdp) => Some(sdp),
                Err(e) => {
                    out.push(violation(
                        m,
                        format!(
                            "{} {} {} on {id} with an unreadable body: {e}",
                            m.host,
                            if m.send { "sent" } else { "received" },
                            m.start_line
                        ),
                    ));
                    None
                }
            }
        };
        // Rule 1: at each UAS.
        let mut judged: Vec<(&str, u64)> = Vec::new();
        for ok in msgs {
            if !ok.send || !is_2xx_to_invite(ok) || relayed_from(msgs, ok) {
                continue;
            }
            if judged.contains(&(ok.host, ok.cseq_num)) {
                continue;
            }
            judged.push((ok.host, ok.cseq_num));
            let invite = msgs.iter().find(|m| {
                !m.send
                    && m.host == ok.host
                    && m.start_line == "INVITE"
                    && m.cseq_num == ok.cseq_num
                    && m.t_ms <= ok.t_ms
                    && !relayed_on(msgs, m)
            });
            let Some(offer) = invite.and_then(|i| parsed(i, &mut out)) else {
                continue;
            };
            judge(
                ok,
                &offer,
                parsed(ok, &mut out),
                "its own",
                &mut out,
                |m, s| violation(m, s),
            );
        }
        // Rule 2: at the UAC.
        let Some(invite) = msgs
            .iter()
            .find(|m| m.send && m.start_line == "INVITE" && !relayed_from(msgs, m))
        else {
            continue;
        };
        let Some(offer) = parsed(invite, &mut out) else {
            continue;
        };
        let got = msgs.iter().find(|m| {
            !m.send && m.host == invite.host && is_2xx_to_invite(m) && m.cseq_num == invite.cseq_num
        });
        if let Some(got) = got {
            judge(
                got,
                &offer,
                parsed(got, &mut out),
                "the",
                &mut out,
                |m, s| violation(m, s),
            );
        }
    }
    out.extend(media_from_named_addresses(history));
    out
}

/// Rule 4: each `(host, call)` that received SDP takes media only from
/// the addresses that SDP named; one violation per unexpected source.
fn media_from_named_addresses(history: &History) -> Vec<Violation> {
    let mut named: BTreeMap<(&str, &str), BTreeSet<SocketAddr>> = BTreeMap::new();
    for r in history.of_kind("sip.recv") {
        let (Some(call), Some(body)) = (r.str("call"), r.str(SDP_FIELD)) else {
            continue;
        };
        let Ok(sdp) = Sdp::parse(body) else {
            continue;
        };
        let addrs = named.entry((&*r.host, call)).or_default();
        addrs.extend((0..sdp.media.len()).filter_map(|i| sdp.media_addr_of(i)));
    }
    let mut reported: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    let mut out = Vec::new();
    for r in history.of_kind("media.rx") {
        let (Some(call), Some(from)) = (r.str("call"), r.str("from_addr")) else {
            continue;
        };
        let Some(addrs) = named.get(&(&*r.host, call)) else {
            continue;
        };
        let known = from
            .parse::<SocketAddr>()
            .is_ok_and(|from| addrs.contains(&from));
        if known || !reported.insert((&*r.host, call, from)) {
            continue;
        }
        let list: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
        out.push(Violation::new(
            NAME,
            OracleKind::Safety,
            r.t_ms,
            Some(call),
            format!(
                "{} received media for {call} from {from}, an address no SDP it received named \
                 (named: {})",
                r.host,
                if list.is_empty() {
                    "none".to_string()
                } else {
                    list.join(", ")
                }
            ),
        ));
    }
    out
}

/// One 2xx `ok` and the `offer` it answers: it carries an answer, and a
/// conforming one.
fn judge(
    ok: &Msg<'_>,
    offer: &Sdp,
    answer: Option<Sdp>,
    whose: &str,
    out: &mut Vec<Violation>,
    violation: impl Fn(&Msg<'_>, String) -> Violation,
) {
    let how = if ok.send { "sent" } else { "received" };
    match answer {
        None => out.push(violation(
            ok,
            format!(
                "{} {how} 2xx {} to an INVITE (CSeq {}) whose offer it had {} with no SDP answer",
                ok.host,
                ok.start_line,
                ok.cseq_num,
                if ok.send { "received" } else { "sent" }
            ),
        )),
        Some(answer) => {
            if let Err(why) = check_answer(offer, &answer) {
                out.push(violation(
                    ok,
                    format!(
                        "{} {how} 2xx {} (CSeq {}) whose SDP does not answer {whose} offer: {why}",
                        ok.host, ok.start_line, ok.cseq_num
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Record, Value};
    use crate::sip::sdp::{answer, Capabilities, Proto};

    /// `a` sends `line` (with `sdp`, if any) to `b` at `t`; `b` receives
    /// it 1 ms later.
    fn msg(
        h: &mut History,
        t: u64,
        (a, b): (&str, &str),
        line: &str,
        cseq: &str,
        sdp: Option<&str>,
    ) {
        for (t, host, peer, kind) in [(t, a, b, "sip.send"), (t + 1, b, a, "sip.recv")] {
            let mut fields = vec![
                ("call", Value::Str("out-1".into())),
                ("sip_call_id", Value::Str("leg-1".into())),
                ("start_line", Value::Str(line.into())),
                ("cseq", Value::Str(cseq.into())),
                ("peer", Value::Str(peer.into())),
                ("retransmission", Value::Bool(false)),
            ];
            if let Some(sdp) = sdp {
                fields.push((SDP_FIELD, Value::Str(sdp.into())));
            }
            h.records.push(Record::new(t, host, kind, fields));
        }
    }

    fn offer() -> Sdp {
        let at = "10.0.0.1:4000".parse().expect("addr");
        Sdp::offer(at, &["PCMA", "PCMU"], Proto::RtpAvp, "")
    }

    fn answer_to(offer: &Sdp, codecs: &[&str]) -> String {
        let caps = Capabilities {
            codecs: Some(codecs.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        let at = "10.0.0.2:5000".parse().expect("addr");
        answer(offer, &caps, at).expect("acceptable").to_string()
    }

    fn call(answer: Option<&str>) -> History {
        let mut h = History::default();
        let offer = offer().to_string();
        msg(
            &mut h,
            0,
            ("sip-1", "carrier"),
            "INVITE",
            "1 INVITE",
            Some(&offer),
        );
        msg(&mut h, 100, ("carrier", "sip-1"), "200", "1 INVITE", answer);
        msg(&mut h, 110, ("sip-1", "carrier"), "ACK", "1 ACK", None);
        h
    }

    #[test]
    fn a_conforming_answer_holds() {
        let a = answer_to(&offer(), &["PCMU"]);
        assert_eq!(check(&call(Some(&a))), vec![]);
    }

    #[test]
    fn a_2xx_without_an_answer_fires_at_both_ends() {
        let v = check(&call(None));
        assert_eq!(v.len(), 2, "{v:#?}");
        assert!(
            v[0].message.contains("carrier sent 2xx 200"),
            "{}",
            v[0].message
        );
        assert!(
            v[1].message.contains("sip-1 received 2xx 200"),
            "{}",
            v[1].message
        );
    }

    #[test]
    fn an_answer_with_a_codec_never_offered_fires() {
        let mut bad = Sdp::parse(&answer_to(&offer(), &["PCMU"])).expect("valid");
        bad.media[0].formats.push(18);
        let v = check(&call(Some(&bad.to_string())));
        assert_eq!(v.len(), 2, "{v:#?}");
        assert!(v[0].message.contains("payload type 18 was not offered"));
    }

    #[test]
    fn an_unreadable_body_fires() {
        let v = check(&call(Some("v=0\r\nm=audio x\r\n")));
        assert!(
            v.iter().any(|v| v.message.contains("unreadable body")),
            "{v:#?}"
        );
    }

    #[test]
    fn a_relay_that_adds_a_codec_breaks_the_uacs_offer_answer_only() {
        // sip-1 offers PCMA PCMU; the SBC passes on PCMA PCMU G729; the
        // carrier answers G729, which answers the offer it got but not
        // sip-1's.
        let mut h = History::default();
        let offer = offer();
        let mut widened = offer.clone();
        widened.media[0].formats.push(18);
        let answer = answer_to(&widened, &["G729"]);
        let (offer, widened) = (offer.to_string(), widened.to_string());
        let hop = |h: &mut History, t, a, b, line, cseq, sdp: Option<&str>| {
            msg(h, t, (a, b), line, cseq, sdp)
        };
        hop(
            &mut h,
            0,
            "sip-1",
            "sbc-edge-1",
            "INVITE",
            "1 INVITE",
            Some(&offer),
        );
        hop(
            &mut h,
            2,
            "sbc-edge-1",
            "carrier",
            "INVITE",
            "1 INVITE",
            Some(&widened),
        );
        hop(
            &mut h,
            100,
            "carrier",
            "sbc-edge-1",
            "200",
            "1 INVITE",
            Some(&answer),
        );
        hop(
            &mut h,
            102,
            "sbc-edge-1",
            "sip-1",
            "200",
            "1 INVITE",
            Some(&answer),
        );
        let v = check(&h);
        assert_eq!(v.len(), 1, "{v:#?}");
        assert!(
            v[0].message.contains("sip-1 received 2xx 200"),
            "{}",
            v[0].message
        );
        assert!(v[0].message.contains("payload type 18 was not offered"));
    }

    #[test]
    fn messages_without_sdp_are_not_judged() {
        let mut h = History::default();
        msg(&mut h, 0, ("sip-1", "carrier"), "INVITE", "1 INVITE", None);
        msg(&mut h, 100, ("carrier", "sip-1"), "200", "1 INVITE", None);
        assert_eq!(check(&h), vec![]);
    }

    fn media_rx(h: &mut History, t: u64, host: &str, from_addr: &str) {
        let fields = vec![
            ("call", Value::Str("out-1".into())),
            ("from", Value::Str("peer".into())),
            ("from_addr", Value::Str(from_addr.into())),
        ];
        h.records.push(Record::new(t, host, "media.rx", fields));
    }

    #[test]
    fn media_must_come_from_an_address_the_received_sdp_named() {
        let offer = offer();
        let answer = answer_to(&offer, &["PCMA"]);
        let answer_addr = Sdp::parse(&answer).expect("parses").media_addr_of(0);
        let answer_addr = answer_addr.expect("an address").to_string();
        let mut h = History::default();
        msg(
            &mut h,
            0,
            ("uac", "uas"),
            "INVITE",
            "1 INVITE",
            Some(&offer.to_string()),
        );
        msg(&mut h, 10, ("uas", "uac"), "200", "1 INVITE", Some(&answer));
        // The UAS hears the offerer's address; the UAC the answerer's.
        media_rx(&mut h, 20, "uas", "10.0.0.1:4000");
        media_rx(&mut h, 21, "uac", &answer_addr);
        assert!(check(&h).is_empty(), "{:#?}", check(&h));
        // A stream from elsewhere, twice: one violation, naming both ends.
        media_rx(&mut h, 30, "uac", "10.9.9.9:5000");
        media_rx(&mut h, 31, "uac", "10.9.9.9:5000");
        let v = check(&h);
        assert_eq!(v.len(), 1, "{v:#?}");
        assert!(v[0].message.contains("10.9.9.9:5000"), "{}", v[0].message);
        assert!(v[0].message.contains(&answer_addr), "{}", v[0].message);
        // A host that received no SDP for the call is not judged.
        media_rx(&mut h, 40, "bystander", "10.9.9.9:5000");
        assert_eq!(check(&h).len(), 1);
    }
}
