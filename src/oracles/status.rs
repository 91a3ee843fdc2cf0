//! `honest_status`: the code the API returns matches what the carrier saw.
//!
//! # The mapping table (the one place it is written down)
//!
//! | carrier outcome (`callee.outcome`) | code on the leg | sync API status |
//! |---|---|---|
//! | answered | 200 | 200 |
//! | busy | 486 | 486 |
//! | declined | 603 | 603 |
//! | unavailable | 480 | 480 |
//! | no-answer | the carrier's own code | the carrier's code, or 408 (at ringing_timeout) |
//! | cancelled (by the platform) | 487 | 408 |
//! | unreachable | the carrier's own code | the carrier's code, 503 or 408 |
//! | none known when the API answered | (none) | 408 (no answer in time) or 5xx (platform failure) |
//!
//! A 2xx that crossed the platform's CANCEL (sent before the 2xx reached
//! it) counts as "cancelled by the platform": the platform ACKs and hangs
//! up such an answer, so the call never connected and 408 is honest.
//!
//! "Known when the API answered" means the outcome reached the platform
//! ([`super::calls::CallView::outcome_learned_ms`]) no later than the
//! `api.response`. An answer that arrived after the API gave up is not
//! known to the API, so a 408 for it is honest here; whether giving up was
//! early is `ringing_timeout_respected`'s question, not this oracle's.
//! Async calls answer before any outcome exists: 200 (dialling started) or
//! 5xx, or what the table says if an outcome was already known.
//! Inbound calls are not judged: their `call.end` status is, by
//! CONTRACTS.md, the code the carrier itself received.
//!
//! The leg column is checked against the code the carrier recorded with
//! its outcome.

use super::calls::{calls, CallView};
use super::{OracleKind, Violation};
use crate::history::event::CalleeOutcome;
use crate::history::History;
use serde::Deserialize;

pub const NAME: &str = "honest_status";

/// What the API may answer for one row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiRule {
    /// Exactly this code.
    Code(u16),
    /// The callee's own code (recorded with the outcome), or one of these.
    CalleeCodeOr(&'static [u16]),
    /// 408 or any 5xx: a status that claims nothing about the callee.
    NoClaim,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// `None`: no outcome known when the API answered.
    pub outcome: Option<CalleeOutcome>,
    /// The code the carrier must record with this outcome, when fixed.
    pub leg: Option<u16>,
    /// What a sync API response may be.
    pub api: ApiRule,
}

/// The mapping table of the module docs, as data.
pub const TABLE: [Row; 8] = [
    Row {
        outcome: Some(CalleeOutcome::Answered),
        leg: Some(200),
        api: ApiRule::Code(200),
    },
    Row {
        outcome: Some(CalleeOutcome::Busy),
        leg: Some(486),
        api: ApiRule::Code(486),
    },
    Row {
        outcome: Some(CalleeOutcome::Declined),
        leg: Some(603),
        api: ApiRule::Code(603),
    },
    Row {
        outcome: Some(CalleeOutcome::Unavailable),
        leg: Some(480),
        api: ApiRule::Code(480),
    },
    Row {
        outcome: Some(CalleeOutcome::NoAnswer),
        leg: None,
        api: ApiRule::CalleeCodeOr(&[408]),
    },
    Row {
        outcome: Some(CalleeOutcome::Cancelled),
        leg: Some(487),
        api: ApiRule::Code(408),
    },
    Row {
        outcome: Some(CalleeOutcome::Unreachable),
        leg: None,
        api: ApiRule::CalleeCodeOr(&[503, 408]),
    },
    Row {
        outcome: None,
        leg: None,
        api: ApiRule::NoClaim,
    },
];

/// The row of an outcome (or of "none known").
pub fn row(outcome: Option<CalleeOutcome>) -> &'static Row {
    TABLE
        .iter()
        .find(|r| r.outcome == outcome)
        .expect("the table has a row for every outcome")
}

/// Whether a sync API `status` is honest for `outcome` (with the callee's
/// recorded `callee_code`).
pub fn api_accepts(outcome: Option<CalleeOutcome>, callee_code: u16, status: u16) -> bool {
    match row(outcome).api {
        ApiRule::Code(code) => status == code,
        ApiRule::CalleeCodeOr(others) => status == callee_code || others.contains(&status),
        ApiRule::NoClaim => status == 408 || (500..600).contains(&status),
    }
}

/// The statuses [`api_accepts`] allows, as text for messages.
pub fn expected_text(outcome: Option<CalleeOutcome>, callee_code: u16) -> String {
    match row(outcome).api {
        ApiRule::Code(code) => code.to_string(),
        ApiRule::CalleeCodeOr(others) => {
            let mut codes = vec![callee_code.to_string()];
            codes.extend(others.iter().map(u16::to_string));
            codes.join(" or ")
        }
        ApiRule::NoClaim => "408 or 5xx".into(),
    }
}

/// `honest_status = {}` takes no parameters.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {}

pub fn check(history: &History, _params: &Params) -> Vec<Violation> {
    let mut out = Vec::new();
    for call in calls(history).values() {
        check_leg(call, &mut out);
        if call.direction() == Some("outbound") {
            check_api(call, &mut out);
        }
    }
    out
}

fn check_leg(call: &CallView<'_>, out: &mut Vec<Violation>) {
    let Some((outcome, code, t_ms)) = call.callee_outcome() else {
        return;
    };
    if let Some(leg) = row(Some(outcome)).leg {
        if code != leg {
            out.push(Violation::new(
                NAME,
                OracleKind::Safety,
                t_ms,
                Some(call.id),
                format!("the carrier recorded {outcome} with code {code} on the leg; the table says {leg}"),
            ));
        }
    }
}

/// Did the platform send a CANCEL for the call's INVITE before the
/// callee's 2xx reached it?
fn answer_crossed_cancel(call: &CallView<'_>) -> bool {
    let (Some(learned), Some(carrier)) = (call.outcome_learned_ms(), call.outcome) else {
        return false;
    };
    call.sip.iter().any(|s| {
        s.is("sip.send")
            && *s.host != *carrier.host
            && s.str("start_line") == Some("CANCEL")
            && s.t_ms <= learned
    })
}

fn check_api(call: &CallView<'_>, out: &mut Vec<Violation>) {
    let Some((t_ms, status)) = call.response() else {
        return;
    };
    let carrier = call.callee_outcome();
    let known = carrier.filter(|_| {
        call.outcome_learned_ms()
            .is_some_and(|learned| learned <= t_ms)
    });
    let mut outcome = known.map(|(o, _, _)| o);
    let callee_code = known.map(|(_, c, _)| c).unwrap_or(0);
    // An answer that crossed the platform's CANCEL (its ringing timeout
    // fired before the 2xx reached it) was ACKed and hung up: the call was
    // never connected, and the table's row is "cancelled by the platform".
    if outcome == Some(CalleeOutcome::Answered) && answer_crossed_cancel(call) {
        outcome = Some(CalleeOutcome::Cancelled);
    }
    let sync = call.mode() == Some("sync");
    let honest =
        api_accepts(outcome, callee_code, status) || (!sync && outcome.is_none() && status == 200);
    if honest {
        return;
    }
    let seen = match carrier {
        Some((o, c, at)) if known.is_some() => {
            format!("the carrier recorded {o} ({c}) at {at} ms, known to the platform by then")
        }
        Some((o, c, at)) => {
            format!("the carrier recorded {o} ({c}) at {at} ms, which had not reached the platform")
        }
        None => "the carrier recorded no outcome".to_string(),
    };
    out.push(Violation::new(
        NAME,
        OracleKind::Safety,
        t_ms,
        Some(call.id),
        format!(
            "{} API answered {status} at {t_ms} ms; {seen}; honest would be {}",
            call.mode().unwrap_or("?"),
            expected_text(outcome, callee_code)
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::Mode;
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    fn run(s: &Script) -> Vec<Violation> {
        check(&s.history(), &Params {})
    }

    /// The verdict on sync call out-1 whose callee's outcome (`code`) the
    /// carrier records at `outcome_ms` and that the API answers `status`
    /// at `api_ms`.
    fn judge(
        outcome_ms: u64,
        o: CalleeOutcome,
        code: u16,
        api_ms: u64,
        status: u16,
    ) -> Vec<Violation> {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, 30_000);
        s.callee_outcome(outcome_ms, "out-1", o, code);
        s.api_response(api_ms, "out-1", status);
        run(&s)
    }

    #[test]
    fn table_has_one_row_per_outcome_and_none() {
        for o in [
            CalleeOutcome::Answered,
            CalleeOutcome::Busy,
            CalleeOutcome::Declined,
            CalleeOutcome::NoAnswer,
            CalleeOutcome::Unreachable,
            CalleeOutcome::Cancelled,
            CalleeOutcome::Unavailable,
        ] {
            assert_eq!(
                TABLE.iter().filter(|r| r.outcome == Some(o)).count(),
                1,
                "{o}"
            );
        }
        assert_eq!(TABLE.iter().filter(|r| r.outcome.is_none()).count(), 1);
    }

    /// The callee answers at 7200 ms (it reaches sip-1 at 7231 ms); the
    /// platform's ringing timeout sent CANCEL at 7230 ms and the API says
    /// 408 at 7320 ms. Found by the outbound property test: the platform
    /// ACKed and hung up that answer, so 408 is honest. Without the CANCEL
    /// first, 408 for a known answer is still a lie.
    #[test]
    fn an_answer_that_crossed_the_platforms_cancel_may_be_408() {
        let sip = |s: &mut Script, t, host, send, start_line: &'static str, cseq: &'static str| {
            let fields = crate::history::event::SipFields {
                call: "out-1",
                sip_call_id: "c1",
                start_line,
                cseq,
                peer: if host == "carrier" {
                    "sip-1"
                } else {
                    "carrier"
                },
                retransmission: false,
                from_tag: None,
                to_tag: None,
                sdp: None,
            };
            s.at(
                t,
                host,
                if send {
                    Event::SipSend(fields)
                } else {
                    Event::SipRecv(fields)
                },
            );
        };
        let base = |cancel_first: bool| {
            let mut s = Script::new();
            s.outbound_start(0, "out-1", Mode::Sync, 6_465);
            sip(&mut s, 765, "sip-1", true, "INVITE", "1 INVITE");
            sip(&mut s, 7_200, "carrier", true, "200", "1 INVITE");
            if cancel_first {
                sip(&mut s, 7_230, "sip-1", true, "CANCEL", "1 CANCEL");
            }
            sip(&mut s, 7_231, "sip-1", false, "200", "1 INVITE");
            s.callee_outcome(7_280, "out-1", CalleeOutcome::Answered, 200);
            s.api_response(7_320, "out-1", 408);
            run(&s)
        };
        assert_eq!(base(true), vec![]);
        assert_eq!(base(false).len(), 1);
    }

    #[test]
    fn busy_reported_as_busy_is_honest() {
        assert_eq!(judge(4000, CalleeOutcome::Busy, 486, 4005, 486), vec![]);
    }

    #[test]
    fn busy_reported_as_500_fires() {
        let v = judge(4000, CalleeOutcome::Busy, 486, 4005, 500);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].call.as_deref(), Some("out-1"));
        assert!(
            v[0].message.contains("honest would be 486"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn answered_known_but_408_fires() {
        assert_eq!(
            judge(2990, CalleeOutcome::Answered, 200, 3000, 408).len(),
            1
        );
    }

    #[test]
    fn answer_that_never_reached_the_platform_allows_408() {
        // SIP detail present: the 200 was sent by the carrier but the
        // platform only received it after the API had answered.
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Sync, 30_000);
        let sip = |start_line| crate::history::event::SipFields {
            call: "out-1",
            sip_call_id: "c1",
            start_line,
            cseq: "1 INVITE",
            peer: "sip-1",
            retransmission: false,
            from_tag: None,
            to_tag: None,
            sdp: None,
        };
        s.at(10, "carrier", Event::SipRecv(sip("INVITE")));
        s.callee_outcome(30_000, "out-1", CalleeOutcome::Answered, 200);
        s.at(30_000, "carrier", Event::SipSend(sip("200")));
        s.api_response(30_001, "out-1", 408);
        s.at(
            30_002,
            "sip-1",
            Event::SipRecv(crate::history::event::SipFields {
                peer: "carrier",
                ..sip("200")
            }),
        );
        assert_eq!(run(&s), vec![]);
    }

    #[test]
    fn cancelled_leg_must_carry_487() {
        let v = judge(30_000, CalleeOutcome::Cancelled, 200, 30_001, 408);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("table says 487"));
    }

    #[test]
    fn cancelled_by_platform_is_408_at_the_api() {
        let cancelled = |status| judge(30_000, CalleeOutcome::Cancelled, 487, 30_001, status);
        assert_eq!(cancelled(408), vec![]);
        assert_eq!(cancelled(487).len(), 1);
    }

    #[test]
    fn no_outcome_may_not_claim_answer_or_busy() {
        for (status, bad) in [
            (200, true),
            (486, true),
            (603, true),
            (408, false),
            (503, false),
        ] {
            let mut s = Script::new();
            s.outbound_start(0, "out-1", Mode::Sync, 30_000);
            s.api_response(3000, "out-1", status);
            assert_eq!(run(&s).len(), bad as usize, "status {status}");
        }
    }

    #[test]
    fn async_200_before_any_outcome_is_honest() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Async, 30_000);
        s.api_response(5, "out-1", 200);
        s.callee_outcome(4000, "out-1", CalleeOutcome::Busy, 486);
        assert_eq!(run(&s), vec![]);
    }
}
