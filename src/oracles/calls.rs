//! The per-call view of a history that several oracles and monitors share:
//! for each platform-wide call id, its `call.start`, its first
//! `api.response`, its `call.end`, what the carrier recorded
//! (`callee.outcome`) and when the platform learned that outcome.
//!
//! "The carrier recorded it" is the earlier of its `callee.outcome` and its
//! sending that final response on the wire.
//! "The platform learned it" is the first `sip.recv` of the callee's final
//! response to the INVITE on a host other than the carrier's. When the
//! history holds no SIP event for the call (hand-written histories, or a
//! model without SIP detail), the carrier's own record time stands in.

use crate::history::event::CalleeOutcome;
use crate::history::EndOutcome;
use crate::history::{History, Record};
use std::collections::BTreeMap;

/// The status the gateway records on `call.end` when the API client went
/// away before the response (nginx's "client closed request").
pub const CLIENT_LEFT: u16 = 499;

/// Everything the call-level oracles need about one call.
#[derive(Debug, Clone, Default)]
pub struct CallView<'h> {
    pub id: &'h str,
    /// The first `call.start`.
    pub start: Option<&'h Record>,
    /// The first `api.response`.
    pub api_response: Option<&'h Record>,
    /// The first `call.end`.
    pub end: Option<&'h Record>,
    /// The first `call.answered`.
    pub answered: Option<&'h Record>,
    /// The first `callee.outcome` (the carrier's record).
    pub outcome: Option<&'h Record>,
    /// SIP events of this call, in order.
    pub sip: Vec<&'h Record>,
}

impl<'h> CallView<'h> {
    pub fn direction(&self) -> Option<&'h str> {
        self.start.and_then(|r| r.str("direction"))
    }

    pub fn mode(&self) -> Option<&'h str> {
        self.start.and_then(|r| r.str("mode"))
    }

    pub fn is_outbound_sync(&self) -> bool {
        self.direction() == Some("outbound") && self.mode() == Some("sync")
    }

    pub fn is_inbound(&self) -> bool {
        self.direction() == Some("inbound")
    }

    pub fn start_ms(&self) -> Option<u64> {
        self.start.map(|r| r.t_ms)
    }

    pub fn ringing_timeout_ms(&self) -> Option<u64> {
        self.start.and_then(|r| r.u64("ringing_timeout_ms"))
    }

    /// The response that ended the API request: the first `api.response`,
    /// or the `call.end` when the history has no API response. `None` when
    /// the API client went away before any response (a `call.end` with
    /// [`CLIENT_LEFT`] and no `api.response`): the API answered nothing,
    /// so there is no status to judge (a client profile's own request
    /// timeout or abandon, `nodes::clients`, does this as a matter of
    /// course).
    pub fn response(&self) -> Option<(u64, u16)> {
        let client_left = |r: &&Record| r.u64("status") == Some(CLIENT_LEFT as u64);
        self.api_response
            .or(self.end.filter(|r| !client_left(r)))
            .map(|r| (r.t_ms, r.u64("status").unwrap_or(0) as u16))
    }

    /// What became of the call: its `call.end`'s `outcome` (or what the
    /// status implies in a history without one).
    pub fn end_outcome(&self) -> Option<EndOutcome> {
        self.end.map(EndOutcome::of_record)
    }

    /// The `call.end` status and time.
    pub fn end_status(&self) -> Option<(u64, u16)> {
        self.end
            .map(|r| (r.t_ms, r.u64("status").unwrap_or(0) as u16))
    }

    /// The carrier's outcome, its code and when the carrier recorded it:
    /// the earlier of its `callee.outcome` and its first `sip.send` of that
    /// code as a final response to the INVITE (a carrier may write its
    /// record only once the dialog is confirmed, after it answered on the
    /// wire; the answer is what counts).
    pub fn callee_outcome(&self) -> Option<(CalleeOutcome, u16, u64)> {
        let r = self.outcome?;
        let outcome = CalleeOutcome::parse(r.str("outcome")?)?;
        let code = r.u64("code").unwrap_or(0) as u16;
        let code_text = code.to_string();
        let on_wire = self
            .sip
            .iter()
            .find(|s| {
                s.is("sip.send")
                    && *s.host == *r.host
                    && s.str("start_line") == Some(code_text.as_str())
                    && s.str("cseq")
                        .is_some_and(|c| c.split_whitespace().nth(1) == Some("INVITE"))
            })
            .map(|s| s.t_ms);
        Some((outcome, code, on_wire.map_or(r.t_ms, |t| t.min(r.t_ms))))
    }

    /// When the platform learned the carrier's outcome: the first
    /// `sip.recv` of the outcome's code, as a response to an INVITE, on a
    /// host other than the carrier's. Falls back to the carrier's record
    /// time when the call has no SIP event at all. `None` when SIP events
    /// exist but the response never reached the platform.
    pub fn outcome_learned_ms(&self) -> Option<u64> {
        let r = self.outcome?;
        let code = r.u64("code")?.to_string();
        if self.sip.is_empty() {
            return Some(r.t_ms);
        }
        self.sip
            .iter()
            .find(|s| {
                s.is("sip.recv")
                    && *s.host != *r.host
                    && s.str("start_line") == Some(code.as_str())
                    && s.str("cseq")
                        .is_some_and(|c| c.split_whitespace().nth(1) == Some("INVITE"))
            })
            .map(|s| s.t_ms)
    }
}

/// Every call of the history, by id (ordered, so iteration is stable).
pub fn calls(history: &History) -> BTreeMap<&str, CallView<'_>> {
    let mut out: BTreeMap<&str, CallView<'_>> = BTreeMap::new();
    for r in &history.records {
        let Some(id) = r.call() else { continue };
        if id.is_empty() {
            continue;
        }
        let view = out.entry(id).or_insert_with(|| CallView {
            id,
            ..CallView::default()
        });
        let slot = match r.kind() {
            "call.start" => &mut view.start,
            "api.response" => &mut view.api_response,
            "call.end" => &mut view.end,
            "call.answered" => &mut view.answered,
            "callee.outcome" => &mut view.outcome,
            "sip.send" | "sip.recv" => {
                view.sip.push(r);
                continue;
            }
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(r);
        }
    }
    out
}

/// Did the platform serve this call well? `None` when it cannot be judged
/// yet (no `call.end`). A call succeeded when it ended 2xx and its outcome
/// is `completed` (a 200 the platform later tore down, with outcome
/// `failed`, is a failure whatever its status), or when the
/// platform faithfully reported what the callee did (the API status is the
/// code of the carrier's non-cancelled outcome), or when a sync call with
/// no answer got its 408 no earlier than its ringing_timeout. Inbound calls
/// succeed only with 2xx (their callee is the platform's own agent).
pub fn succeeded(call: &CallView<'_>) -> Option<bool> {
    let (end_ms, status) = call.end_status()?;
    if (200..300).contains(&status) {
        return Some(call.end_outcome() == Some(EndOutcome::Completed));
    }
    if call.is_inbound() {
        return Some(false);
    }
    if let Some((outcome, code, _)) = call.callee_outcome() {
        if outcome != CalleeOutcome::Cancelled && code == status {
            return Some(true);
        }
    }
    let no_answer = matches!(
        call.callee_outcome(),
        None | Some((CalleeOutcome::NoAnswer | CalleeOutcome::Cancelled, _, _))
    );
    if status == 408 && no_answer {
        if let (Some(start), Some(rt)) = (call.start_ms(), call.ringing_timeout_ms()) {
            let answered_at = call.response().map(|(t, _)| t).unwrap_or(end_ms);
            return Some(answered_at >= start + rt);
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::Mode;
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    fn end(s: &mut Script, t: u64, status: u16, outcome: EndOutcome) {
        s.at(
            t,
            "gateway",
            Event::CallEnd {
                call: "out-1",
                status,
                reason: "r",
                outcome,
            },
        );
    }

    #[test]
    fn a_client_that_left_got_no_response_to_judge() {
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Async, 30_000);
        end(&mut s, 10, CLIENT_LEFT, EndOutcome::Cancelled);
        let h = s.history();
        assert_eq!(calls(&h)["out-1"].response(), None);
        // Any other end without an API response stands in for it.
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Async, 30_000);
        end(&mut s, 10, 503, EndOutcome::Failed);
        let h = s.history();
        assert_eq!(calls(&h)["out-1"].response(), Some((10, 503)));
        // An API response comes first whatever the end says.
        let mut s = Script::new();
        s.outbound_start(0, "out-1", Mode::Async, 30_000);
        s.api_response(5, "out-1", 200);
        end(&mut s, 10, CLIENT_LEFT, EndOutcome::Cancelled);
        let h = s.history();
        assert_eq!(calls(&h)["out-1"].response(), Some((5, 200)));
    }
}
