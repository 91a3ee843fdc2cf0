//! `ack_received` and `dialogs_agree`: the two ends of an INVITE dialog
//! reach the same state, judged from the `sip.send` / `sip.recv` events
//! (host, peer, `sip_call_id`, `cseq`, `start_line`), as
//! [`super::sip`] reads them.
//!
//! `sip_conformance` judges what each UA does with what it received (the
//! receiver of a 2xx sends the ACK). These two judge what arrives: that
//! the ACK a UAC sends reaches the UAS, and that no end is left holding a
//! dialog the other end never set up (a ghost dialog: media ports, a
//! session timer and a billing record open on one side only).
//!
//! Words, as in `sip_conformance`: a *relay* is a host that passes a
//! message on (it received the same start line and CSeq on the same
//! Call-ID from another peer before sending it); a message a host sent
//! and did not relay *originates* there.
//!
//! # `ack_received`
//! Every 2xx to an INVITE that a host originated is ACK-*received* by that
//! host (a `sip.recv` of an ACK with the same Call-ID and CSeq number)
//! within `timer_h` (64*T1, RFC 3261 section 13.3.1.4 and timer H of
//! section 17.2.1). A 2xx sent less than `settle` before the run's end is
//! not judged; one sent earlier, in a run that ends before its `timer_h`
//! passed, is judged by the run's end.
//!
//! # `dialogs_agree`
//! A dialog is a SIP Call-ID: forking is not modelled (one INVITE gets at
//! most one dialog, so Call-ID, local and remote tags name the same
//! thing), nor are re-INVITEs (a final response >= 300 to any INVITE on
//! the Call-ID ends it). Its two ends are the host that originated the
//! INVITE (the UAC) and the host that originated the first 2xx to it (the
//! UAS); relays in between are not ends.
//! - *Confirmed* at the UAS: it sent the 2xx and received its ACK; at the
//!   UAC: it received the 2xx and sent the ACK.
//! - *Terminated* at an end: it sent or received a BYE or a response to
//!   one, or a final response >= 300 to an INVITE.
//!
//! Rules, each with the deadline `timer_h` + `slack` after its trigger
//! (`slack` covers a UAS whose timer H fires exactly at 64*T1 and the
//! tick it sends its BYE on):
//! 1. An end confirmed at `t` is matched by the other end being confirmed
//!    or terminated by the deadline.
//! 2. A UAS that sent a 2xx at `t` has, by the deadline, received its ACK
//!    or terminated the dialog (RFC 3261 section 13.3.1.4: a UAS whose
//!    2xx is never ACKed sends BYE). Otherwise it keeps a ghost dialog,
//!    whatever the UAC did (never received the 2xx, rejected it, ACKed it
//!    into a cut link).
//! 3. Each server transaction (a host, a Call-ID and the CSeq of an INVITE
//!    the host received and did not relay) sends exactly one distinct
//!    final status: retransmissions of that final are fine, a 487 and then
//!    a 200 to the same INVITE from the same host is not.
//!
//! Rules 1 and 2 are judged only once their deadline has passed within
//! the run; rule 3 always.
//!
//! # Excuses
//! The one excuse rule ([`super::excuse`]) leaves the calls a state loss
//! hit out of the history both oracles see. A message without a call
//! label is excused when the host that owed the next step (the UAS for
//! its ACK or BYE, the other end for rule 1, the answering host for rule
//! 3) lost its state between the trigger and the deadline.

use super::excuse::Excuses;
use super::sip::{by_call_id, relayed_from, relayed_on, Msg};
use super::{OracleKind, Violation};
use crate::history::History;
use crate::sim::{Dur, FieldError};
use serde::Deserialize;

pub const ACK_RECEIVED: &str = "ack_received";
pub const DIALOGS_AGREE: &str = "dialogs_agree";

/// `ack_received = { timer_h = "32s", settle = "5s" }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AckParams {
    /// How long after its 2xx a UAS may still receive the ACK (64*T1).
    /// Default 32s.
    #[serde(default = "default_timer_h")]
    pub timer_h: Dur,
    /// A 2xx sent within this time of the run's end is not judged.
    /// Default 5s.
    #[serde(default = "default_settle")]
    pub settle: Dur,
}

impl Default for AckParams {
    fn default() -> AckParams {
        AckParams {
            timer_h: default_timer_h(),
            settle: default_settle(),
        }
    }
}

impl AckParams {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        super::availability::check_positive(self.timer_h, &format!("{field}.timer_h"))
    }
}

/// `dialogs_agree = { timer_h = "32s", slack = "1s" }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreeParams {
    /// How long one end may wait for the other to catch up (64*T1).
    /// Default 32s.
    #[serde(default = "default_timer_h")]
    pub timer_h: Dur,
    /// Added to `timer_h` for the tick on which a UAS gives up on its ACK
    /// and sends BYE. Default 1s.
    #[serde(default = "default_slack")]
    pub slack: Dur,
}

impl Default for AgreeParams {
    fn default() -> AgreeParams {
        AgreeParams {
            timer_h: default_timer_h(),
            slack: default_slack(),
        }
    }
}

impl AgreeParams {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        super::availability::check_positive(self.timer_h, &format!("{field}.timer_h"))
    }
}

fn default_timer_h() -> Dur {
    Dur::from_secs(32)
}

fn default_settle() -> Dur {
    Dur::from_secs(5)
}

fn default_slack() -> Dur {
    Dur::from_secs(1)
}

fn is_2xx_to_invite(m: &Msg<'_>) -> bool {
    m.cseq_method == "INVITE" && m.code().is_some_and(|c| (200..300).contains(&c))
}

/// The first `sip.recv` of an ACK with CSeq number `num` by `host` in
/// `[from, until]`.
fn ack_received<'a, 'h>(
    msgs: &'a [Msg<'h>],
    host: &str,
    num: u64,
    from: u64,
    until: u64,
) -> Option<&'a Msg<'h>> {
    msgs.iter().find(|a| {
        !a.send
            && a.host == host
            && a.start_line == "ACK"
            && a.cseq_num == num
            && (from..=until).contains(&a.t_ms)
    })
}

/// `ack_received`: see the module doc.
pub fn check_ack_received(history: &History, params: &AckParams, end_ms: u64) -> Vec<Violation> {
    let losses = Excuses::from_history(history, end_ms);
    let judge_until = end_ms.saturating_sub(params.settle.as_millis());
    let timer_h = params.timer_h.as_millis();
    let mut out = Vec::new();
    for (id, msgs) in &by_call_id(history) {
        let mut judged: Vec<(&str, u64)> = Vec::new();
        for m in msgs {
            if !m.send || !is_2xx_to_invite(m) || m.t_ms > judge_until {
                continue;
            }
            let key = (m.host, m.cseq_num);
            if judged.contains(&key) {
                continue;
            }
            judged.push(key);
            if relayed_from(msgs, m) {
                continue;
            }
            let deadline = m.t_ms.saturating_add(timer_h).min(end_ms);
            if ack_received(msgs, m.host, m.cseq_num, m.t_ms, deadline).is_some()
                || losses.lost_state(m.host, m.t_ms, deadline)
            {
                continue;
            }
            let late = ack_received(msgs, m.host, m.cseq_num, m.t_ms, u64::MAX)
                .map(|a| format!(" (it came at {} ms)", a.t_ms))
                .unwrap_or_default();
            out.push(Violation::new(
                ACK_RECEIVED,
                OracleKind::Safety,
                deadline,
                m.call,
                format!(
                    "{} sent 2xx {} to INVITE (CSeq {}) on {id} to {} at {} ms and received no ACK for it within {timer_h} ms{late}",
                    m.host, m.start_line, m.cseq_num, m.peer, m.t_ms
                ),
            ));
        }
    }
    out
}

/// `dialogs_agree`: see the module doc.
pub fn check_dialogs_agree(history: &History, params: &AgreeParams, end_ms: u64) -> Vec<Violation> {
    let losses = Excuses::from_history(history, end_ms);
    let wait_ms = params.timer_h.as_millis() + params.slack.as_millis();
    let mut out = Vec::new();
    for (id, msgs) in &by_call_id(history) {
        let d = Dialog {
            id,
            msgs,
            losses: &losses,
            wait_ms,
            end_ms,
        };
        d.one_final_per_invite(&mut out);
        d.ends_agree(&mut out);
    }
    out
}

struct Dialog<'a, 'h> {
    id: &'a str,
    msgs: &'a [Msg<'h>],
    losses: &'a Excuses,
    wait_ms: u64,
    end_ms: u64,
}

impl<'h> Dialog<'_, 'h> {
    fn violation(&self, at_ms: u64, call: Option<&str>, message: String) -> Violation {
        Violation::new(DIALOGS_AGREE, OracleKind::Safety, at_ms, call, message)
    }

    /// When `host` first terminated the dialog at or after `after`, and how.
    fn terminated(&self, host: &str, after: u64) -> Option<(u64, String)> {
        self.msgs
            .iter()
            .find(|m| {
                m.host == host
                    && m.t_ms >= after
                    && (m.start_line == "BYE"
                        || m.cseq_method == "BYE"
                        || (m.is_final_to_invite() && m.code().is_some_and(|c| c >= 300)))
            })
            .map(|m| {
                let how = if m.send { "sent" } else { "received" };
                (
                    m.t_ms,
                    format!("{how} {} ({})", m.start_line, m.cseq_method),
                )
            })
    }

    /// Rule 3: one distinct final status per server transaction.
    fn one_final_per_invite(&self, out: &mut Vec<Violation>) {
        let mut judged: Vec<(&str, u64)> = Vec::new();
        for m in self.msgs {
            if m.send || m.start_line != "INVITE" {
                continue;
            }
            let key = (m.host, m.cseq_num);
            if judged.contains(&key) {
                continue;
            }
            judged.push(key);
            if relayed_on(self.msgs, m) {
                continue;
            }
            let mut finals = self.msgs.iter().filter(|s| {
                s.send
                    && s.host == m.host
                    && s.is_final_to_invite()
                    && s.cseq_num == m.cseq_num
                    && s.t_ms >= m.t_ms
            });
            let Some(first) = finals.next() else {
                continue;
            };
            let other = finals.find(|s| {
                s.start_line != first.start_line
                    && !self.losses.lost_state(m.host, first.t_ms, s.t_ms)
            });
            if let Some(other) = other {
                out.push(self.violation(
                    other.t_ms,
                    other.call.or(m.call),
                    format!(
                        "{} answered INVITE (CSeq {}) on {} with {} at {} ms and then with {} at {} ms: one server transaction, two final responses",
                        m.host, m.cseq_num, self.id, first.start_line, first.t_ms, other.start_line, other.t_ms
                    ),
                ));
            }
        }
    }

    /// Rules 1 and 2: the two ends agree within the wait.
    fn ends_agree(&self, out: &mut Vec<Violation>) {
        let msgs = self.msgs;
        let Some(invite) = msgs
            .iter()
            .find(|m| m.send && m.start_line == "INVITE" && !relayed_from(msgs, m))
        else {
            return;
        };
        let Some(ok) = msgs
            .iter()
            .find(|m| m.send && is_2xx_to_invite(m) && !relayed_from(msgs, m))
        else {
            return;
        };
        let (uac, uas, num) = (invite.host, ok.host, ok.cseq_num);
        if uac == uas {
            return;
        }
        let call = ok.call.or(invite.call);
        let uas_confirmed = ack_received(msgs, uas, num, ok.t_ms, u64::MAX).map(|a| a.t_ms);
        let uac_got = msgs
            .iter()
            .find(|m| !m.send && m.host == uac && is_2xx_to_invite(m) && m.cseq_num == num);
        let uac_confirmed = uac_got.and_then(|got| {
            msgs.iter()
                .find(|a| {
                    a.send
                        && a.host == uac
                        && a.start_line == "ACK"
                        && a.cseq_num == num
                        && a.t_ms >= got.t_ms
                })
                .map(|a| a.t_ms)
        });
        let uas_ended = self.terminated(uas, ok.t_ms);
        let uac_ended = self.terminated(uac, 0);
        let by = |at: Option<u64>, deadline: u64| at.is_some_and(|t| t <= deadline);
        let uac_state = || match (uac_got, uac_confirmed, &uac_ended) {
            (_, Some(t), _) => format!("{uac} ACKed it at {t} ms"),
            (_, None, Some((t, how))) => format!("{uac} {how} at {t} ms"),
            (Some(got), None, None) => {
                format!("{uac} received it at {} ms and never ACKed it", got.t_ms)
            }
            (None, None, None) => format!("{uac} never received it"),
        };

        // Rule 2 (and rule 1 for a confirmed UAC): the UAS, from its 2xx.
        let deadline = ok.t_ms + self.wait_ms;
        if deadline <= self.end_ms
            && !by(uas_confirmed, deadline)
            && !by(uas_ended.as_ref().map(|e| e.0), deadline)
            && !self.losses.lost_state(uas, ok.t_ms, deadline)
        {
            out.push(self.violation(
                deadline,
                call,
                format!(
                    "ghost dialog {}: {uas} sent 2xx {} to {uac}'s INVITE (CSeq {num}) at {} ms and {} ms later had neither received its ACK nor ended the dialog; {}",
                    self.id, ok.start_line, ok.t_ms, self.wait_ms, uac_state()
                ),
            ));
            return;
        }
        // Rule 1, each way.
        if let Some(t) = uas_confirmed {
            let deadline = t + self.wait_ms;
            if deadline <= self.end_ms
                && !by(uac_confirmed, deadline)
                && !by(uac_ended.as_ref().map(|e| e.0), deadline)
                && !self.losses.lost_state(uac, t, deadline)
            {
                out.push(self.violation(
                    deadline,
                    call,
                    format!(
                        "dialogs disagree on {}: {uas} confirmed it at {t} ms (2xx sent at {} ms, ACK received) but {} ms later {}, and had not ended it",
                        self.id, ok.t_ms, self.wait_ms, uac_state()
                    ),
                ));
                return;
            }
        }
        if let Some(t) = uac_confirmed {
            let deadline = t + self.wait_ms;
            if deadline <= self.end_ms
                && !by(uas_confirmed, deadline)
                && !by(uas_ended.as_ref().map(|e| e.0), deadline)
                && !self.losses.lost_state(uas, t, deadline)
            {
                out.push(self.violation(
                    deadline,
                    call,
                    format!(
                        "dialogs disagree on {}: {uac} confirmed it at {t} ms (ACK sent) but {} ms later {uas} had neither received the ACK nor ended the dialog",
                        self.id, self.wait_ms
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::SipFields;
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    const END_MS: u64 = 600_000;

    /// `a` sends `line` to `b` at `t`, and `b` receives it 1 ms later.
    fn msg(
        s: &mut Script,
        t: u64,
        a: &'static str,
        b: &'static str,
        line: &'static str,
        cseq: &'static str,
    ) {
        sent(s, t, a, b, line, cseq);
        s.at(
            t + 1,
            b,
            Event::SipRecv(SipFields {
                call: "out-1",
                sip_call_id: "leg-1",
                start_line: line,
                cseq,
                peer: a,
                retransmission: false,
                from_tag: None,
                to_tag: None,
                sdp: None,
            }),
        );
    }

    /// `a` sends `line` to `b` at `t`, and it is lost.
    fn sent(
        s: &mut Script,
        t: u64,
        a: &'static str,
        b: &'static str,
        line: &'static str,
        cseq: &'static str,
    ) {
        s.at(
            t,
            a,
            Event::SipSend(SipFields {
                call: "out-1",
                sip_call_id: "leg-1",
                start_line: line,
                cseq,
                peer: b,
                retransmission: false,
                from_tag: None,
                to_tag: None,
                sdp: None,
            }),
        );
    }

    fn restart(s: &mut Script, t: u64, target: &'static str) {
        s.at(
            t,
            "testbed",
            Event::FaultStart {
                fault: 0,
                kind: "restart",
                target,
            },
        );
    }

    fn acks(s: &Script) -> Vec<Violation> {
        check_ack_received(&s.history(), &AckParams::default(), END_MS)
    }

    fn agree(s: &Script) -> Vec<Violation> {
        check_dialogs_agree(&s.history(), &AgreeParams::default(), END_MS)
    }

    /// RFC 3665 3.1 between two hosts, hung up by the callee.
    fn answered_call(s: &mut Script) {
        msg(s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(s, 5, "carrier", "sip-1", "180", "1 INVITE");
        msg(s, 4000, "carrier", "sip-1", "200", "1 INVITE");
        msg(s, 4010, "sip-1", "carrier", "ACK", "1 ACK");
        msg(s, 9000, "carrier", "sip-1", "BYE", "1 BYE");
        msg(s, 9010, "sip-1", "carrier", "200", "1 BYE");
    }

    /// carrier -> sbc-edge-1 -> sip-1, answered by sip-1, up to its 200
    /// reaching the carrier.
    fn through_a_relay(s: &mut Script) {
        msg(s, 0, "carrier", "sbc-edge-1", "INVITE", "1 INVITE");
        msg(s, 2, "sbc-edge-1", "sip-1", "INVITE", "1 INVITE");
        msg(s, 1000, "sip-1", "sbc-edge-1", "200", "1 INVITE");
        msg(s, 1002, "sbc-edge-1", "carrier", "200", "1 INVITE");
    }

    fn one(v: Vec<Violation>, says: &str) -> Violation {
        assert_eq!(v.len(), 1, "{v:#?}");
        assert!(v[0].message.contains(says), "{}", v[0].message);
        v.into_iter().next().expect("one")
    }

    #[test]
    fn an_answered_call_keeps_both() {
        let mut s = Script::new();
        answered_call(&mut s);
        assert_eq!(acks(&s), vec![]);
        assert_eq!(agree(&s), vec![]);
    }

    #[test]
    fn an_ack_that_never_arrives_fires_at_timer_h() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 4000, "carrier", "sip-1", "200", "1 INVITE");
        sent(&mut s, 4010, "sip-1", "carrier", "ACK", "1 ACK");
        let v = one(acks(&s), "carrier sent 2xx 200");
        assert_eq!(v.at_ms, 36_000);
        assert_eq!(v.oracle, ACK_RECEIVED);
    }

    #[test]
    fn an_ack_later_than_timer_h_fires() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 4000, "carrier", "sip-1", "200", "1 INVITE");
        msg(&mut s, 40_000, "sip-1", "carrier", "ACK", "1 ACK");
        one(acks(&s), "it came at 40001 ms");
    }

    #[test]
    fn the_ack_is_owed_to_the_host_that_made_the_2xx_not_to_a_relay() {
        // The ACK reaches the SBC and goes no further: sip-1 made the 200
        // and never got its ACK; the SBC only relayed it.
        let mut s = Script::new();
        through_a_relay(&mut s);
        msg(&mut s, 1004, "carrier", "sbc-edge-1", "ACK", "1 ACK");
        let v = one(acks(&s), "sip-1 sent 2xx 200");
        assert!(v.message.contains("to sbc-edge-1"), "{}", v.message);
        // Relayed on, it is received by the host that owes it.
        msg(&mut s, 1006, "sbc-edge-1", "sip-1", "ACK", "1 ACK");
        assert_eq!(acks(&s), vec![]);
    }

    #[test]
    fn a_2xx_near_the_end_is_not_judged_and_one_before_is_judged_by_the_end() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, END_MS - 4000, "carrier", "sip-1", "200", "1 INVITE");
        assert_eq!(acks(&s), vec![]);
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(
            &mut s,
            END_MS - 10_000,
            "carrier",
            "sip-1",
            "200",
            "1 INVITE",
        );
        assert_eq!(one(acks(&s), "received no ACK").at_ms, END_MS);
    }

    #[test]
    fn a_restart_of_the_uas_before_its_ack_excuses_it() {
        for (at, target, excused) in [
            (5_000, "carrier", true),
            (5_000, "sip-1", false),
            (1_000, "carrier", false),
        ] {
            let mut s = Script::new();
            restart(&mut s, at, target);
            msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
            msg(&mut s, 4000, "carrier", "sip-1", "200", "1 INVITE");
            assert_eq!(acks(&s).is_empty(), excused, "restart of {target} at {at}");
        }
    }

    #[test]
    fn a_uas_that_keeps_an_unacked_2xx_holds_a_ghost_dialog() {
        // The 200 never reaches the caller; the callee keeps the dialog.
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        sent(&mut s, 4000, "carrier", "sip-1", "200", "1 INVITE");
        let v = one(agree(&s), "ghost dialog leg-1");
        assert!(
            v.message.contains("sip-1 never received it"),
            "{}",
            v.message
        );
        assert_eq!(v.at_ms, 4000 + 33_000);
        // A UAS that gives up at timer H and hangs up keeps no ghost.
        sent(&mut s, 36_000, "carrier", "sip-1", "BYE", "1 BYE");
        assert_eq!(agree(&s), vec![]);
    }

    #[test]
    fn an_ack_into_a_cut_confirms_the_uac_only() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 4000, "carrier", "sip-1", "200", "1 INVITE");
        sent(&mut s, 4010, "sip-1", "carrier", "ACK", "1 ACK");
        one(agree(&s), "sip-1 ACKed it at 4010 ms");
    }

    #[test]
    fn a_relay_that_acks_for_the_caller_leaves_the_caller_without_the_dialog() {
        // The SBC ACKs sip-1's 200 itself and never passes the 200 on.
        let mut s = Script::new();
        msg(&mut s, 0, "carrier", "sbc-edge-1", "INVITE", "1 INVITE");
        msg(&mut s, 2, "sbc-edge-1", "sip-1", "INVITE", "1 INVITE");
        msg(&mut s, 1000, "sip-1", "sbc-edge-1", "200", "1 INVITE");
        msg(&mut s, 1002, "sbc-edge-1", "sip-1", "ACK", "1 ACK");
        let v = one(agree(&s), "sip-1 confirmed it at 1003 ms");
        assert!(
            v.message.contains("carrier never received it"),
            "{}",
            v.message
        );
        // A caller that gave up meanwhile (487) has ended its side.
        msg(&mut s, 3000, "sbc-edge-1", "carrier", "487", "1 INVITE");
        assert_eq!(agree(&s), vec![]);
    }

    /// The shape of the known SBC bug (tests/props_sip.rs): the caller's
    /// CANCEL crosses the 200; the edge SBC answers 487 itself, then
    /// relays the 200, which the caller (done with its INVITE) drops.
    #[test]
    fn a_2xx_crossing_a_cancel_the_relay_answered_leaves_a_ghost_until_the_uas_gives_up() {
        let mut s = Script::new();
        msg(&mut s, 0, "carrier", "sbc-edge-1", "INVITE", "1 INVITE");
        msg(&mut s, 2, "sbc-edge-1", "sip-1", "INVITE", "1 INVITE");
        msg(&mut s, 2000, "carrier", "sbc-edge-1", "CANCEL", "1 CANCEL");
        msg(&mut s, 2002, "sbc-edge-1", "carrier", "487", "1 INVITE");
        msg(&mut s, 2004, "carrier", "sbc-edge-1", "ACK", "1 ACK");
        msg(&mut s, 1999, "sip-1", "sbc-edge-1", "200", "1 INVITE");
        msg(&mut s, 2010, "sbc-edge-1", "carrier", "200", "1 INVITE");
        one(agree(&s), "carrier received 487 (INVITE) at 2003 ms");
        one(acks(&s), "sip-1 sent 2xx 200");
        // The relay's own 487 is not a server transaction of its own
        // (rule 3 judges the hosts that answer, not relays).
        // sip-1 giving up at timer H ends the ghost.
        sent(&mut s, 1999 + 32_000, "sip-1", "sbc-edge-1", "BYE", "2 BYE");
        assert_eq!(agree(&s), vec![]);
    }

    #[test]
    fn a_server_transaction_sends_one_final_status() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 3000, "carrier", "sip-1", "487", "1 INVITE");
        msg(&mut s, 3002, "sip-1", "carrier", "ACK", "1 ACK");
        assert_eq!(agree(&s), vec![]);
        // Retransmissions of the same final are fine.
        msg(&mut s, 3500, "carrier", "sip-1", "487", "1 INVITE");
        assert_eq!(agree(&s), vec![]);
        // Another final to the same INVITE is not.
        msg(&mut s, 3600, "carrier", "sip-1", "200", "1 INVITE");
        msg(&mut s, 3602, "sip-1", "carrier", "ACK", "1 ACK");
        let v = one(
            agree(&s),
            "with 487 at 3000 ms and then with 200 at 3600 ms",
        );
        assert_eq!(v.at_ms, 3600);
    }

    #[test]
    fn a_new_final_after_a_restart_is_excused() {
        let mut s = Script::new();
        restart(&mut s, 3300, "carrier");
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 3000, "carrier", "sip-1", "487", "1 INVITE");
        msg(&mut s, 3600, "carrier", "sip-1", "500", "1 INVITE");
        assert_eq!(agree(&s), vec![]);
    }

    #[test]
    fn deadlines_past_the_end_are_not_judged() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        sent(
            &mut s,
            END_MS - 20_000,
            "carrier",
            "sip-1",
            "200",
            "1 INVITE",
        );
        assert_eq!(agree(&s), vec![]);
    }
}
