//! `ringing_timeout_respected`: a synchronous CreateSIPParticipant
//! (`call.start` with direction outbound, mode sync) ends before its
//! ringing_timeout only if the carrier recorded a final outcome for that
//! call first, and then only with that outcome's code.
//!
//! Exactly, for each sync outbound call started at `t0` with ringing
//! timeout `rt`, whose API request ended at `t_r` with `status` (the first
//! `api.response`, else the `call.end`):
//! 1. If `t_r + slack < t0 + rt` (the request ended early), there must be a
//!    `callee.outcome` recorded at or before `t_r` that is not `cancelled`
//!    (the platform's own CANCEL is not the callee's answer), and `status`
//!    must be what [`super::status`]'s table allows for it: 200 for an
//!    answer, the callee's code for a rejection. A 408 or any other code
//!    before `rt` with no such outcome is a violation whatever the code.
//! 2. An answer that reached the platform before `t0 + rt` (see
//!    [`super::calls::CallView::outcome_learned_ms`]) must yield 200, even
//!    when the API answered at or after `rt`.
//!
//! `t0` is the `call.start` time; the platform starts its own clock no
//! earlier than that, so measuring from `t0` never blames a platform that
//! waited its full ringing_timeout.

use super::calls::calls;
use super::status::{api_accepts, expected_text};
use super::{OracleKind, Violation};
use crate::history::event::CalleeOutcome;
use crate::history::History;
use crate::sim::Dur;
use serde::Deserialize;

pub const NAME: &str = "ringing_timeout_respected";

/// `ringing_timeout_respected = { slack = "0ms" }`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// How much earlier than ringing_timeout a request may end and still
    /// count as on time. Default 0ms: the platform controls its own timers.
    #[serde(default)]
    pub slack: Dur,
}

pub fn check(history: &History, params: &Params) -> Vec<Violation> {
    let slack_ms = params.slack.as_millis();
    let mut out = Vec::new();
    for call in calls(history).values() {
        if !call.is_outbound_sync() {
            continue;
        }
        let (Some(t0), Some(rt)) = (call.start_ms(), call.ringing_timeout_ms()) else {
            continue;
        };
        let Some((t_r, status)) = call.response() else {
            continue;
        };
        let deadline = t0 + rt;
        let carrier = call.callee_outcome();
        // Rule 1: an early end needs a callee outcome first, and its code.
        if t_r + slack_ms < deadline {
            let first = carrier.filter(|(o, _, at)| *o != CalleeOutcome::Cancelled && *at <= t_r);
            let allowed = first.is_some_and(|(o, code, _)| api_accepts(Some(o), code, status));
            if !allowed {
                let why = match (first, carrier) {
                    (Some((o, code, at)), _) => format!(
                        "the carrier recorded {o} ({code}) at {at} ms, so the API owed {}",
                        expected_text(Some(o), code)
                    ),
                    (None, Some((o, code, at))) => format!(
                        "the carrier recorded no callee outcome before it (its record: {o} ({code}) at {at} ms)"
                    ),
                    (None, None) => "the carrier recorded no callee outcome at all".to_string(),
                };
                out.push(Violation::new(
                    NAME,
                    OracleKind::Safety,
                    t_r,
                    Some(call.id),
                    format!(
                        "sync call answered {status} at {t_r} ms, {} ms before its ringing_timeout of {rt} ms (started {t0} ms); {why}",
                        deadline - t_r
                    ),
                ));
                continue;
            }
        }
        // Rule 2: an answer that reached the platform in time yields 200.
        if let Some((CalleeOutcome::Answered, _, _)) = carrier {
            if let Some(learned) = call.outcome_learned_ms() {
                if learned < deadline && status != 200 {
                    out.push(Violation::new(
                        NAME,
                        OracleKind::Safety,
                        t_r,
                        Some(call.id),
                        format!(
                            "the callee's answer reached the platform at {learned} ms, before the ringing_timeout ended at {deadline} ms, but the API answered {status} at {t_r} ms"
                        ),
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::Mode;
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    const RT: u64 = 30_000;

    fn run(s: &Script) -> Vec<Violation> {
        check(&s.history(), &Params::default())
    }

    #[test]
    fn livekit_408_at_3s_with_no_outcome_fires() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, RT);
        s.api_response(3000, "out-1", 408);
        s.callee_outcome(8000, "out-1", CalleeOutcome::Answered, 200);
        let v = run(&s);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].at_ms, 3000);
        assert_eq!(v[0].kind, OracleKind::Safety);
        assert!(v[0].message.contains("27000 ms before"), "{}", v[0].message);
    }

    #[test]
    fn any_code_before_the_timeout_without_outcome_fires() {
        for status in [408, 480, 500, 503, 200] {
            let mut s = Script::new();
            s.outbound_start(0, "out-1", Mode::Sync, RT);
            s.api_response(3000, "out-1", status);
            assert_eq!(run(&s).len(), 1, "status {status}");
        }
    }

    #[test]
    fn cancelled_by_the_platform_is_not_a_callee_outcome() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, RT);
        s.callee_outcome(2999, "out-1", CalleeOutcome::Cancelled, 487);
        s.api_response(3000, "out-1", 408);
        assert_eq!(run(&s).len(), 1);
    }

    #[test]
    fn answer_recorded_first_but_408_fires() {
        // The boundary case of the tracing-timeout bug: the carrier answered
        // just before the 3 s RPC timeout, the answer lost the race.
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, RT);
        s.callee_outcome(2995, "out-1", CalleeOutcome::Answered, 200);
        s.api_response(3000, "out-1", 408);
        assert_eq!(run(&s).len(), 1);
    }

    #[test]
    fn rejection_first_must_carry_the_callee_code() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, RT);
        s.callee_outcome(2000, "out-1", CalleeOutcome::Busy, 486);
        s.api_response(2003, "out-1", 486);
        assert_eq!(run(&s), vec![]);
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, RT);
        s.callee_outcome(2000, "out-1", CalleeOutcome::Busy, 486);
        s.api_response(2003, "out-1", 408);
        assert_eq!(run(&s).len(), 1);
    }

    #[test]
    fn the_answer_on_the_wire_counts_even_if_the_record_comes_later() {
        // The carrier writes callee.outcome once the ACK arrives, after the
        // API already answered 200: its 200 on the wire came first.
        let sip = |start_line, cseq| crate::history::event::SipFields {
            call: "out-1",
            sip_call_id: "c1",
            start_line,
            cseq,
            peer: "sip-1",
            retransmission: false,
            from_tag: None,
            to_tag: None,
            sdp: None,
        };
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, RT);
        s.at(6730, "carrier", Event::SipSend(sip("200", "1 INVITE")));
        s.api_response(6820, "out-1", 200);
        s.callee_outcome(6890, "out-1", CalleeOutcome::Answered, 200);
        assert_eq!(run(&s), vec![]);
        // Without the wire evidence the record alone is too late.
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, RT);
        s.api_response(6820, "out-1", 200);
        s.callee_outcome(6890, "out-1", CalleeOutcome::Answered, 200);
        assert_eq!(run(&s).len(), 1);
    }

    #[test]
    fn answered_then_200_before_the_timeout_is_fine() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, RT);
        s.callee_outcome(12_000, "out-1", CalleeOutcome::Answered, 200);
        s.api_response(12_004, "out-1", 200);
        assert_eq!(run(&s), vec![]);
    }

    #[test]
    fn no_answer_408_at_the_timeout_is_fine() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, RT);
        s.callee_outcome(RT, "out-1", CalleeOutcome::Cancelled, 487);
        s.api_response(RT, "out-1", 408);
        assert_eq!(run(&s), vec![]);
    }

    #[test]
    fn answer_in_time_but_408_after_the_timeout_fires() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, RT);
        s.callee_outcome(RT - 10, "out-1", CalleeOutcome::Answered, 200);
        s.api_response(RT + 5, "out-1", 408);
        let v = run(&s);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("reached the platform"));
    }

    #[test]
    fn async_calls_are_not_judged() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Async, RT);
        s.api_response(5, "out-1", 200);
        assert_eq!(run(&s), vec![]);
    }

    #[test]
    fn slack_forgives_a_little_earliness() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, RT);
        s.api_response(RT - 20, "out-1", 408);
        assert_eq!(run(&s).len(), 1);
        let p = Params {
            slack: Dur::from_millis(50),
        };
        assert_eq!(check(&s.history(), &p), vec![]);
    }
}
