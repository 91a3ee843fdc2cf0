//! `sip_conformance`: transactions follow RFC 3261, judged from the
//! `sip.send` / `sip.recv` events (host, peer, `sip_call_id`, `cseq`,
//! `start_line`).
//!
//! Rules (a "relay" is a host that passes the message on: it sent the
//! same start line and CSeq on the same Call-ID to another peer after
//! receiving it; the obligation then passes to the next host):
//! 1. A final response >= 300 to an INVITE that a host received (and did
//!    not relay) is ACKed by it: it sends an ACK with the same Call-ID and
//!    CSeq number.
//! 2. A 2xx to an INVITE is ACKed end to end, by the same rule (the ACK for
//!    a 2xx carries the INVITE's CSeq number).
//! 3. A CANCEL that a host received (and did not relay) for an INVITE it
//!    had received and not yet answered with a final response leads it to
//!    answer that INVITE with 487. A back-to-back user agent that CANCELs
//!    its own INVITE of the same call on its other leg (another Call-ID,
//!    the same call label) passes the CANCEL on as a relay does: its
//!    answer is then the final response its other leg gives.
//! 4. A BYE is sent only within a confirmed dialog: the sender has sent or
//!    received a 2xx to an INVITE on that Call-ID before, and, when it was
//!    the one that sent the 2xx, it has received the ACK or waited
//!    `ack_wait` (64*T1) for it (RFC 3261 section 15).
//!
//! Obligations to act (rules 1-3) triggered less than `settle` before the
//! end of the run are not judged. A host that was restarted, crashed or
//! handled by an operator lost its transactions (the one excuse rule,
//! [`super::excuse`]): a CANCEL it receives for an INVITE from before that
//! owes nothing; and calls such a loss hit are not judged at all.

use super::{OracleKind, Violation};
use crate::history::{History, Record};
use crate::sim::Dur;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const NAME: &str = "sip_conformance";

/// `sip_conformance = { settle = "5s", ack_wait = "32s" }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Obligations triggered within this time of the run's end are not
    /// judged. Default 5s.
    #[serde(default = "default_settle")]
    pub settle: Dur,
    /// How long a UAS waits for the ACK of its 2xx before it may send BYE
    /// anyway (64*T1). Default 32s.
    #[serde(default = "default_ack_wait")]
    pub ack_wait: Dur,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            settle: default_settle(),
            ack_wait: default_ack_wait(),
        }
    }
}

fn default_settle() -> Dur {
    Dur::from_secs(5)
}

fn default_ack_wait() -> Dur {
    Dur::from_secs(32)
}

/// One SIP event, parsed (shared with [`super::dialog`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Msg<'h> {
    pub t_ms: u64,
    pub send: bool,
    pub host: &'h str,
    pub peer: &'h str,
    pub call: Option<&'h str>,
    pub start_line: &'h str,
    pub cseq_num: u64,
    pub cseq_method: &'h str,
    pub record: &'h Record,
}

impl Msg<'_> {
    pub fn code(&self) -> Option<u16> {
        self.start_line.parse().ok()
    }

    pub fn is_final_to_invite(&self) -> bool {
        self.cseq_method == "INVITE" && self.code().is_some_and(|c| c >= 200)
    }

    /// Same start line and CSeq (number and method) as `other`.
    pub fn same_message(&self, other: &Msg<'_>) -> bool {
        self.start_line == other.start_line
            && self.cseq_num == other.cseq_num
            && self.cseq_method == other.cseq_method
    }
}

/// The `sip.send` / `sip.recv` events of `history`, by SIP Call-ID, each
/// list in time order.
pub(super) fn by_call_id(history: &History) -> BTreeMap<&str, Vec<Msg<'_>>> {
    let mut by_id: BTreeMap<&str, Vec<Msg<'_>>> = BTreeMap::new();
    for r in &history.records {
        if let Some((id, msg)) = parse(r) {
            by_id.entry(id).or_default().push(msg);
        }
    }
    by_id
}

/// Did `m`'s host pass `m` (which it received) on to another peer? The
/// obligations `m` brings then pass to the next host.
pub(super) fn relayed_on(msgs: &[Msg<'_>], m: &Msg<'_>) -> bool {
    msgs.iter().any(|s| {
        s.send && s.host == m.host && s.peer != m.peer && s.t_ms >= m.t_ms && s.same_message(m)
    })
}

/// Was `m` (which its host sent) passed on from another peer, rather than
/// made by its host? A relay received the same start line and CSeq on the
/// same Call-ID from a peer other than `m`'s before sending it.
pub(super) fn relayed_from(msgs: &[Msg<'_>], m: &Msg<'_>) -> bool {
    msgs.iter().any(|r| {
        !r.send && r.host == m.host && r.peer != m.peer && r.t_ms <= m.t_ms && r.same_message(m)
    })
}

fn parse(r: &Record) -> Option<(&str, Msg<'_>)> {
    let send = r.is("sip.send");
    if !send && !r.is("sip.recv") {
        return None;
    }
    let mut cseq = r.str("cseq")?.split_whitespace();
    let cseq_num = cseq.next()?.parse().ok()?;
    let cseq_method = cseq.next()?;
    Some((
        r.str("sip_call_id")?,
        Msg {
            t_ms: r.t_ms,
            send,
            host: &r.host,
            peer: r.str("peer").unwrap_or(""),
            call: r.call().filter(|c| !c.is_empty()),
            start_line: r.str("start_line")?,
            cseq_num,
            cseq_method,
            record: r,
        },
    ))
}

/// The CANCELs each host sent, by (host, call label): (time, peer).
type CancelsSent<'h> = BTreeMap<(&'h str, &'h str), Vec<(u64, &'h str)>>;

pub fn check(history: &History, params: &Params, end_ms: u64) -> Vec<Violation> {
    let by_dialog = by_call_id(history);
    let state_losses = super::excuse::Excuses::from_history(history, end_ms);
    let judge_until = end_ms.saturating_sub(params.settle.as_millis());
    let mut cancels_sent: CancelsSent<'_> = BTreeMap::new();
    for m in by_dialog.values().flatten() {
        if let (true, "CANCEL", Some(call)) = (m.send, m.start_line, m.call) {
            cancels_sent
                .entry((m.host, call))
                .or_default()
                .push((m.t_ms, m.peer));
        }
    }
    let mut out = Vec::new();
    for (id, msgs) in &by_dialog {
        let d = Dialog {
            id,
            msgs,
            state_losses: &state_losses,
            cancels_sent: &cancels_sent,
        };
        d.acks(judge_until, &mut out);
        d.cancels(judge_until, &mut out);
        d.byes(params.ack_wait.as_millis(), &mut out);
    }
    out
}

struct Dialog<'a, 'h> {
    id: &'a str,
    msgs: &'a [Msg<'h>],
    /// When each host lost its state (the one excuse rule: `excuse`).
    state_losses: &'a super::excuse::Excuses,
    cancels_sent: &'a CancelsSent<'h>,
}

impl<'h> Dialog<'_, 'h> {
    /// Did `host` lose its state in `(after, until]`? A fault's target may
    /// name the host or its section (`sip` for `sip-1`, `sip-2`, ..).
    fn lost_state(&self, host: &str, after: u64, until: u64) -> bool {
        self.state_losses.lost_state(host, after, until)
    }

    /// Did `host` pass `m` (which it received) on to another peer?
    fn relayed(&self, m: &Msg<'h>) -> bool {
        relayed_on(self.msgs, m)
    }

    /// Did `m`'s host (a B2BUA) CANCEL the same call on its other leg, to
    /// another peer, once `m` (a CANCEL) came?
    fn cancel_passed_on(&self, m: &Msg<'h>) -> bool {
        let Some(call) = m.call else {
            return false;
        };
        self.cancels_sent
            .get(&(m.host, call))
            .is_some_and(|sent| sent.iter().any(|&(t, peer)| t >= m.t_ms && peer != m.peer))
    }

    /// Did `host` send `start_line` with CSeq number `num` at or after `t`?
    fn sent_after(&self, host: &str, start_line: &str, method: &str, num: u64, t: u64) -> bool {
        self.msgs.iter().any(|s| {
            s.send
                && s.host == host
                && s.t_ms >= t
                && s.start_line == start_line
                && s.cseq_method == method
                && s.cseq_num == num
        })
    }

    fn violation(&self, m: &Msg<'h>, message: String) -> Violation {
        Violation::new(NAME, OracleKind::Safety, m.t_ms, m.call, message)
    }

    /// Rules 1 and 2: final responses to INVITE are ACKed by their receiver.
    fn acks(&self, judge_until: u64, out: &mut Vec<Violation>) {
        let mut judged: Vec<(&str, u64, &str)> = Vec::new();
        for m in self.msgs {
            if m.send || !m.is_final_to_invite() || m.t_ms > judge_until {
                continue;
            }
            let key = (m.host, m.cseq_num, m.start_line);
            if judged.contains(&key) {
                continue;
            }
            judged.push(key);
            if self.relayed(m) {
                continue;
            }
            if !self.sent_after(m.host, "ACK", "ACK", m.cseq_num, m.t_ms) {
                let what = if m.start_line.starts_with('2') {
                    "2xx"
                } else {
                    "final response"
                };
                out.push(self.violation(
                    m,
                    format!(
                        "{} received {what} {} to INVITE (CSeq {}) on {} from {} at {} ms and never sent the ACK",
                        m.host, m.start_line, m.cseq_num, self.id, m.peer, m.t_ms
                    ),
                ));
            }
        }
    }

    /// Rule 3: a CANCEL of a pending INVITE leads to 487.
    fn cancels(&self, judge_until: u64, out: &mut Vec<Violation>) {
        let mut judged: Vec<(&str, u64)> = Vec::new();
        for m in self.msgs {
            if m.send || m.start_line != "CANCEL" || m.t_ms > judge_until {
                continue;
            }
            if judged.contains(&(m.host, m.cseq_num)) {
                continue;
            }
            judged.push((m.host, m.cseq_num));
            if self.relayed(m) || self.cancel_passed_on(m) {
                continue;
            }
            let invited = self.msgs.iter().any(|s| {
                !s.send
                    && s.host == m.host
                    && s.start_line == "INVITE"
                    && s.cseq_num == m.cseq_num
                    && s.t_ms <= m.t_ms
                    && !self.lost_state(m.host, s.t_ms, m.t_ms)
            });
            let answered_before = self.msgs.iter().any(|s| {
                s.send
                    && s.host == m.host
                    && s.is_final_to_invite()
                    && s.cseq_num == m.cseq_num
                    && s.t_ms <= m.t_ms
            });
            if !invited || answered_before {
                continue;
            }
            let final_after = self.msgs.iter().find(|s| {
                s.send
                    && s.host == m.host
                    && s.is_final_to_invite()
                    && s.cseq_num == m.cseq_num
                    && s.t_ms >= m.t_ms
            });
            match final_after {
                Some(f) if f.start_line == "487" => {}
                Some(f) => out.push(self.violation(
                    m,
                    format!(
                        "{} received CANCEL on {} at {} ms for a pending INVITE and answered the INVITE {} at {} ms instead of 487",
                        m.host, self.id, m.t_ms, f.start_line, f.t_ms
                    ),
                )),
                None => out.push(self.violation(
                    m,
                    format!(
                        "{} received CANCEL on {} at {} ms for a pending INVITE and never answered the INVITE with 487",
                        m.host, self.id, m.t_ms
                    ),
                )),
            }
        }
    }

    /// Rule 4: BYE only within a confirmed dialog.
    fn byes(&self, ack_wait_ms: u64, out: &mut Vec<Violation>) {
        for m in self.msgs {
            if !m.send || m.start_line != "BYE" || m.record.bool("retransmission") == Some(true) {
                continue;
            }
            let relay = self.msgs.iter().any(|r| {
                !r.send
                    && r.host == m.host
                    && r.start_line == "BYE"
                    && r.peer != m.peer
                    && r.t_ms <= m.t_ms
            });
            if relay {
                continue;
            }
            let two_xx = |send: bool| {
                self.msgs.iter().find(|s| {
                    s.send == send
                        && s.host == m.host
                        && s.cseq_method == "INVITE"
                        && s.start_line.starts_with('2')
                        && s.t_ms <= m.t_ms
                })
            };
            let received_2xx = two_xx(false);
            let sent_2xx = two_xx(true);
            let confirmed = match (received_2xx, sent_2xx) {
                (Some(_), _) => true,
                (None, Some(sent)) => {
                    let acked = self.msgs.iter().any(|s| {
                        !s.send
                            && s.host == m.host
                            && s.start_line == "ACK"
                            && s.cseq_num == sent.cseq_num
                            && s.t_ms <= m.t_ms
                    });
                    acked || m.t_ms >= sent.t_ms + ack_wait_ms
                }
                (None, None) => false,
            };
            if !confirmed {
                let why = if sent_2xx.is_some() {
                    "its 2xx had not been ACKed yet"
                } else {
                    "no 2xx to an INVITE was ever exchanged on it by then"
                };
                out.push(self.violation(
                    m,
                    format!(
                        "{} sent BYE on {} to {} at {} ms outside a confirmed dialog: {why}",
                        m.host, self.id, m.peer, m.t_ms
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

    /// `a` sends `line` to `b` at `t`, and `b` receives it 1 ms later.
    fn msg(
        s: &mut Script,
        t: u64,
        a: &'static str,
        b: &'static str,
        line: &'static str,
        cseq: &'static str,
    ) {
        msg_on(s, "leg-1", t, a, b, line, cseq)
    }

    /// [`msg`] on the SIP Call-ID `leg` (a B2BUA's other leg).
    fn msg_on(
        s: &mut Script,
        leg: &'static str,
        t: u64,
        a: &'static str,
        b: &'static str,
        line: &'static str,
        cseq: &'static str,
    ) {
        let f = SipFields {
            call: "out-1",
            sip_call_id: leg,
            start_line: line,
            cseq,
            peer: b,
            retransmission: false,
            from_tag: None,
            to_tag: None,
            sdp: None,
        };
        s.at(t, a, Event::SipSend(f.clone()));
        s.at(t + 1, b, Event::SipRecv(SipFields { peer: a, ..f }));
    }

    fn run(s: &Script) -> Vec<Violation> {
        check(&s.history(), &Params::default(), 600_000)
    }

    /// RFC 3665 3.1, between two hosts.
    fn answered_call(s: &mut Script) {
        msg(s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(s, 5, "carrier", "sip-1", "180", "1 INVITE");
        msg(s, 4000, "carrier", "sip-1", "200", "1 INVITE");
        msg(s, 4010, "sip-1", "carrier", "ACK", "1 ACK");
    }

    #[test]
    fn basic_call_is_conformant() {
        let mut s = Script::new();
        answered_call(&mut s);
        msg(&mut s, 9000, "carrier", "sip-1", "BYE", "1 BYE");
        msg(&mut s, 9010, "sip-1", "carrier", "200", "1 BYE");
        assert_eq!(run(&s), vec![]);
    }

    #[test]
    fn unacked_2xx_fires() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 4000, "carrier", "sip-1", "200", "1 INVITE");
        let v = run(&s);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("never sent the ACK"));
    }

    #[test]
    fn busy_is_acked_and_unacked_busy_fires() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 100, "carrier", "sip-1", "486", "1 INVITE");
        assert_eq!(run(&s).len(), 1);
        msg(&mut s, 102, "sip-1", "carrier", "ACK", "1 ACK");
        assert_eq!(run(&s), vec![]);
    }

    #[test]
    fn relay_passes_the_ack_obligation_on() {
        // carrier <- sbc <- sip: the sbc relays the 486 and later the ACK.
        let mut s = Script::new();
        msg(&mut s, 0, "carrier", "sbc-edge-1", "INVITE", "1 INVITE");
        msg(&mut s, 2, "sbc-edge-1", "sip-1", "INVITE", "1 INVITE");
        msg(&mut s, 100, "sip-1", "sbc-edge-1", "486", "1 INVITE");
        msg(&mut s, 102, "sbc-edge-1", "carrier", "486", "1 INVITE");
        msg(&mut s, 104, "carrier", "sbc-edge-1", "ACK", "1 ACK");
        msg(&mut s, 106, "sbc-edge-1", "sip-1", "ACK", "1 ACK");
        assert_eq!(run(&s), vec![]);
    }

    /// carrier -> sbc-edge-1 (a B2BUA) -> sip-1: the caller's CANCEL on
    /// one leg, the SBC's own CANCEL on the other, and a 2xx crossing it
    /// there, answered upstream: the SBC passed the CANCEL on and owes no
    /// 487 of its own. Without its CANCEL downstream it does.
    #[test]
    fn a_b2bua_passes_a_cancel_on_to_its_other_leg() {
        let call = |s: &mut Script, passes_on: bool| {
            msg_on(s, "up", 0, "carrier", "sbc-edge-1", "INVITE", "1 INVITE");
            msg_on(s, "down", 2, "sbc-edge-1", "sip-1", "INVITE", "1 INVITE");
            msg_on(s, "up", 1000, "carrier", "sbc-edge-1", "CANCEL", "1 CANCEL");
            msg_on(s, "up", 1002, "sbc-edge-1", "carrier", "200", "1 CANCEL");
            msg_on(s, "down", 1001, "sip-1", "sbc-edge-1", "200", "1 INVITE");
            if passes_on {
                msg_on(s, "down", 1003, "sbc-edge-1", "sip-1", "CANCEL", "1 CANCEL");
            }
            msg_on(s, "down", 1004, "sbc-edge-1", "sip-1", "ACK", "1 ACK");
            msg_on(s, "up", 1004, "sbc-edge-1", "carrier", "200", "1 INVITE");
            msg_on(s, "up", 1006, "carrier", "sbc-edge-1", "ACK", "1 ACK");
        };
        let mut s = Script::new();
        call(&mut s, true);
        assert_eq!(run(&s), vec![]);
        let mut s = Script::new();
        call(&mut s, false);
        let v = run(&s);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("instead of 487"), "{}", v[0].message);
    }

    #[test]
    fn cancel_leads_to_487() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 30_000, "sip-1", "carrier", "CANCEL", "1 CANCEL");
        msg(&mut s, 30_002, "carrier", "sip-1", "200", "1 CANCEL");
        msg(&mut s, 30_003, "carrier", "sip-1", "487", "1 INVITE");
        msg(&mut s, 30_005, "sip-1", "carrier", "ACK", "1 ACK");
        assert_eq!(run(&s), vec![]);
    }

    #[test]
    fn cancel_answered_with_other_code_fires() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 30_000, "sip-1", "carrier", "CANCEL", "1 CANCEL");
        msg(&mut s, 30_003, "carrier", "sip-1", "486", "1 INVITE");
        msg(&mut s, 30_005, "sip-1", "carrier", "ACK", "1 ACK");
        let v = run(&s);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("instead of 487"));
    }

    #[test]
    fn cancel_never_answered_fires() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 30_000, "sip-1", "carrier", "CANCEL", "1 CANCEL");
        assert_eq!(run(&s).len(), 1);
    }

    /// A host restarted between the INVITE and the CANCEL lost the
    /// transaction: it owes no 487. A restart before the INVITE, or of
    /// another host, forgives nothing. A section target covers its pods.
    #[test]
    fn a_restart_between_invite_and_cancel_forgives_the_487() {
        let restart = |s: &mut Script, t: u64, target: &'static str| {
            s.at(
                t,
                "testbed",
                Event::FaultStart {
                    fault: 0,
                    kind: "restart",
                    target,
                },
            );
        };
        for (at, target, forgiven) in [
            (10_000, "carrier", true),
            (10_000, "carrier-1", false),
            (10_000, "sip-1", false),
            (0, "carrier", false),
        ] {
            let mut s = Script::new();
            restart(&mut s, at, target);
            msg(&mut s, 5, "sip-1", "carrier", "INVITE", "1 INVITE");
            msg(&mut s, 30_000, "sip-1", "carrier", "CANCEL", "1 CANCEL");
            assert_eq!(run(&s).is_empty(), forgiven, "restart of {target} at {at}");
        }
        let mut s = Script::new();
        restart(&mut s, 10_000, "sbc-edge");
        msg(&mut s, 5, "carrier", "sbc-edge-2", "INVITE", "1 INVITE");
        msg(
            &mut s,
            30_000,
            "carrier",
            "sbc-edge-2",
            "CANCEL",
            "1 CANCEL",
        );
        assert_eq!(run(&s), vec![], "the section's restart covers its pods");
    }

    #[test]
    fn cancel_crossing_a_200_is_fine() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 29_999, "carrier", "sip-1", "200", "1 INVITE");
        msg(&mut s, 29_999, "sip-1", "carrier", "CANCEL", "1 CANCEL");
        msg(&mut s, 30_001, "sip-1", "carrier", "ACK", "1 ACK");
        msg(&mut s, 30_002, "sip-1", "carrier", "BYE", "2 BYE");
        assert_eq!(run(&s), vec![]);
    }

    #[test]
    fn bye_before_any_2xx_fires() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 5, "carrier", "sip-1", "180", "1 INVITE");
        msg(&mut s, 3000, "sip-1", "carrier", "BYE", "2 BYE");
        let v = run(&s);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("outside a confirmed dialog"));
    }

    #[test]
    fn uas_bye_before_the_ack_fires() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 4000, "carrier", "sip-1", "200", "1 INVITE");
        msg(&mut s, 4001, "carrier", "sip-1", "BYE", "1 BYE");
        msg(&mut s, 4010, "sip-1", "carrier", "ACK", "1 ACK");
        let v = run(&s);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("not been ACKed"));
    }

    #[test]
    fn obligations_near_the_end_are_not_judged() {
        let mut s = Script::new();
        msg(&mut s, 0, "sip-1", "carrier", "INVITE", "1 INVITE");
        msg(&mut s, 598_000, "carrier", "sip-1", "200", "1 INVITE");
        assert_eq!(run(&s), vec![]);
    }
}
