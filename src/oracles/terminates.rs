//! `every_call_terminates`: every call ends within a bound, and no leg or
//! dialog leaks.
//!
//! - Every `call.start` has a `call.end` no later than `bound` after it. A
//!   call that started less than `bound` before the end of the run is only
//!   judged if it ended (late).
//! - Every dialog (a SIP Call-ID) in which a 2xx to an INVITE was sent got
//!   a BYE sent on it by the end of the run: a leg left up is a leaked
//!   leg. Dialogs confirmed less than `bound` before the end of the run are
//!   not judged (the call may legitimately still be up).

use super::{OracleKind, Violation};
use crate::history::History;
use crate::sim::Dur;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const NAME: &str = "every_call_terminates";

/// `every_call_terminates = { bound = "300s" }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Longest a call may last from `call.start` to `call.end`, and longest
    /// a dialog may stay up without a BYE. Default 300s.
    #[serde(default = "default_bound")]
    pub bound: Dur,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            bound: default_bound(),
        }
    }
}

fn default_bound() -> Dur {
    Dur::from_secs(300)
}

pub fn check(history: &History, params: &Params, end_ms: u64) -> Vec<Violation> {
    let mut out = calls_end(history, params.bound.as_millis(), end_ms);
    out.extend(dialogs_end(history, params.bound.as_millis(), end_ms));
    out
}

/// Every `call.start` has a `call.end` within `bound_ms`.
fn calls_end(history: &History, bound_ms: u64, end_ms: u64) -> Vec<Violation> {
    let mut open: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for r in &history.records {
        let Some(call) = r.call() else { continue };
        if r.is("call.start") {
            open.entry(call).or_insert(r.t_ms);
        } else if r.is("call.end") {
            if let Some(start) = open.remove(call) {
                if r.t_ms - start > bound_ms {
                    out.push(Violation::new(
                        NAME,
                        OracleKind::Safety,
                        r.t_ms,
                        Some(call),
                        format!(
                            "call lasted {} ms, more than the bound {bound_ms} ms",
                            r.t_ms - start
                        ),
                    ));
                }
            }
        }
    }
    for (call, start) in open {
        if start + bound_ms <= end_ms {
            out.push(Violation::new(
                NAME,
                OracleKind::Safety,
                start + bound_ms,
                Some(call),
                format!("call started at {start} ms and had not ended {bound_ms} ms later"),
            ));
        }
    }
    out
}

/// Every dialog with a 2xx to an INVITE got a BYE.
fn dialogs_end(history: &History, bound_ms: u64, end_ms: u64) -> Vec<Violation> {
    struct Dialog<'h> {
        call: Option<&'h str>,
        confirmed_ms: u64,
        host: &'h str,
        bye: bool,
    }
    let mut dialogs: BTreeMap<&str, Dialog<'_>> = BTreeMap::new();
    for r in history.of_kind("sip.send") {
        let Some(id) = r.str("sip_call_id") else {
            continue;
        };
        let start_line = r.str("start_line").unwrap_or("");
        let is_invite_2xx = start_line.starts_with('2')
            && r.str("cseq").and_then(|c| c.split_whitespace().nth(1)) == Some("INVITE");
        if is_invite_2xx {
            dialogs.entry(id).or_insert(Dialog {
                call: r.call().filter(|c| !c.is_empty()),
                confirmed_ms: r.t_ms,
                host: &r.host,
                bye: false,
            });
        } else if start_line == "BYE" {
            if let Some(d) = dialogs.get_mut(id) {
                d.bye = true;
            }
        }
    }
    let mut out = Vec::new();
    for (id, d) in dialogs {
        if !d.bye && d.confirmed_ms + bound_ms <= end_ms {
            out.push(Violation::new(
                NAME,
                OracleKind::Safety,
                d.confirmed_ms + bound_ms,
                d.call,
                format!(
                    "leaked leg: dialog {id} was answered (2xx sent by {}) at {} ms and no BYE was ever sent on it",
                    d.host, d.confirmed_ms
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::{Mode, SipFields};
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    fn p(bound_s: u64) -> Params {
        Params {
            bound: Dur::from_secs(bound_s),
        }
    }

    fn end(s: &mut Script, t: u64, call: &'static str) {
        s.at(
            t,
            "gateway",
            Event::CallEnd {
                call,
                status: 200,
                reason: "hangup",
                outcome: crate::history::EndOutcome::of_status(200),
            },
        );
    }

    fn sip(start_line: &'static str, cseq: &'static str) -> SipFields<'static> {
        SipFields {
            call: "out-1",
            sip_call_id: "leg-1",
            start_line,
            cseq,
            peer: "sip-1",
            retransmission: false,
            from_tag: None,
            to_tag: None,
            sdp: None,
        }
    }

    #[test]
    fn ended_calls_and_closed_dialogs_are_quiet() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, 30_000);
        s.at(5000, "carrier", Event::SipSend(sip("200", "1 INVITE")));
        s.at(9000, "carrier", Event::SipSend(sip("BYE", "1 BYE")));
        end(&mut s, 9005, "out-1");
        assert_eq!(check(&s.history(), &p(60), 120_000), vec![]);
    }

    #[test]
    fn a_call_without_end_fires() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, 30_000);
        let v = check(&s.history(), &p(60), 120_000);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].at_ms, 60_000);
    }

    #[test]
    fn a_call_too_recent_to_judge_is_quiet() {
        let mut s = Script::new();
        s.outbound_start(100_000, "out-1", Mode::Sync, 30_000);
        assert_eq!(check(&s.history(), &p(60), 120_000), vec![]);
    }

    #[test]
    fn a_call_longer_than_the_bound_fires() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, 30_000);
        end(&mut s, 70_000, "out-1");
        assert_eq!(check(&s.history(), &p(60), 120_000).len(), 1);
    }

    #[test]
    fn an_answered_dialog_without_bye_fires() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, 30_000);
        s.at(5000, "carrier", Event::SipSend(sip("200", "1 INVITE")));
        end(&mut s, 9005, "out-1");
        let v = check(&s.history(), &p(60), 120_000);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("leaked leg"));
        assert_eq!(v[0].call.as_deref(), Some("out-1"));
    }
}
