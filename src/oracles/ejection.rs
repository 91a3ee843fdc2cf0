//! `ejection_within` (opt-in): a next hop that fails `failures` setups in a
//! row stops getting new calls from the host that sent them, within
//! `within` (the detection time), for at least `hold`.
//!
//! It judges behaviour, not a mechanism: it reads only `sip.send` and
//! `sip.recv` at the forwarding hosts (the sections or hosts in `at`,
//! default the LBs). A setup is a new INVITE (no To tag, not a
//! retransmission) a host sent to a next hop; it failed when the first
//! final response the host received for it from that hop (same Call-ID and
//! CSeq) was a 5xx, or when no response at all came within
//! `setup_timeout`; it succeeded with any other final response, and one
//! that got only provisional responses is not judged. Outcomes are taken
//! in the order they became known. When a hop's run of failures reaches
//! `failures` at time t, any new INVITE the host sends it in
//! (t + within, t + within + hold] is a violation; the run then starts
//! over.
//!
//! With `no_media_within = T`, a setup answered 2xx is judged by its media
//! instead, as a node relaying the media would judge it: it failed when,
//! within T of the 2xx, fewer than two hosts recorded `media.rx` for its
//! call (the media did not reach both ends), known at 2xx + T; a call that
//! ended before then is not judged.

use super::{OracleKind, Violation};
use crate::history::{History, Record};
use crate::sim::topology::section_of;
use crate::sim::{check, Dur, FieldError};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

pub const NAME: &str = "ejection_within";

/// `ejection_within = { failures = 5, within = "2s", hold = "20s" }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Failed setups in a row after which the hop must be left alone.
    /// Default 5.
    #[serde(default = "default_failures")]
    pub failures: u32,
    /// The detection time allowed. Default 2s.
    #[serde(default = "default_within")]
    pub within: Dur,
    /// How long the hop must then get no new calls. Default 20s.
    #[serde(default = "default_hold")]
    pub hold: Dur,
    /// A setup with no response at all this long after it was sent failed.
    /// Default 8s.
    #[serde(default = "default_setup_timeout")]
    pub setup_timeout: Dur,
    /// The forwarding hosts judged: host or section names. Default
    /// `["lb"]`.
    #[serde(default = "default_at")]
    pub at: Vec<String>,
    /// Judge answered setups by their media within this long. Default off.
    #[serde(default)]
    pub no_media_within: Option<Dur>,
}

fn default_failures() -> u32 {
    5
}
fn default_within() -> Dur {
    Dur::from_secs(2)
}
fn default_hold() -> Dur {
    Dur::from_secs(20)
}
fn default_setup_timeout() -> Dur {
    Dur::from_secs(8)
}
fn default_at() -> Vec<String> {
    vec!["lb".to_string()]
}

impl Default for Params {
    fn default() -> Params {
        Params {
            failures: default_failures(),
            within: default_within(),
            hold: default_hold(),
            setup_timeout: default_setup_timeout(),
            at: default_at(),
            no_media_within: None,
        }
    }
}

impl Params {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        check::at_least_one(field, "failures", self.failures)?;
        check::positive(field, "hold", self.hold)?;
        check::positive(field, "setup_timeout", self.setup_timeout)?;
        if let Some(within) = self.no_media_within {
            check::positive(field, "no_media_within", within)?;
        }
        if self.at.is_empty() {
            return Err(FieldError::new(
                check::field(field, "at"),
                "names no host; e.g. [\"lb\"]",
            ));
        }
        Ok(())
    }

    fn judges(&self, host: &str) -> bool {
        self.at
            .iter()
            .any(|a| a == host || section_of(host) == a.as_str())
    }
}

/// One setup a host sent a hop: when, and how it ended (when known).
struct Setup<'h> {
    sent_ms: u64,
    call: Option<&'h str>,
    /// (known at, failed)
    outcome: Option<(u64, bool)>,
    /// Whether its final response came (an answered call whose media ended
    /// unjudged has none the less no outcome).
    judged: bool,
}

/// Which hosts received a call's media when, and when each call ended.
#[derive(Default)]
struct MediaSeen<'h> {
    rx: BTreeMap<&'h str, Vec<(u64, &'h str)>>,
    ended: BTreeMap<&'h str, u64>,
}

impl<'h> MediaSeen<'h> {
    fn new(history: &'h History) -> MediaSeen<'h> {
        let mut seen = MediaSeen::default();
        for r in history.of_kind("media.rx") {
            if let Some(call) = r.str("call") {
                seen.rx.entry(call).or_default().push((r.t_ms, &r.host));
            }
        }
        for r in history.of_kind("call.end") {
            if let Some(call) = r.str("call") {
                seen.ended.entry(call).or_insert(r.t_ms);
            }
        }
        seen
    }

    /// The outcome of `call`, answered at `at`, judged by its media within
    /// `within_ms`: failed unless two hosts received its media by then;
    /// none if it ended first.
    fn judge(&self, call: &str, at: u64, within_ms: u64) -> Option<(u64, bool)> {
        let due = at + within_ms;
        if self.ended.get(call).is_some_and(|&end| end < due) {
            return None;
        }
        let hosts: BTreeSet<&str> = self
            .rx
            .get(call)
            .into_iter()
            .flatten()
            .filter(|(t, _)| *t > at && *t <= due)
            .map(|(_, host)| *host)
            .collect();
        Some((due, hosts.len() < 2))
    }
}

fn is_new_invite(r: &Record) -> bool {
    r.str("start_line") == Some("INVITE")
        && r.str("to_tag").is_none()
        && r.bool("retransmission") != Some(true)
}

pub fn check(history: &History, params: &Params) -> Vec<Violation> {
    let timeout = params.setup_timeout.as_millis();
    // (host, hop) -> setups by (Call-ID, CSeq).
    type Key<'h> = (&'h str, &'h str);
    let mut setups: BTreeMap<Key<'_>, BTreeMap<Key<'_>, Setup<'_>>> = BTreeMap::new();
    for r in history
        .of_kind("sip.send")
        .filter(|r| params.judges(&r.host))
    {
        let (Some(peer), Some(id), Some(cseq)) =
            (r.str("peer"), r.str("sip_call_id"), r.str("cseq"))
        else {
            continue;
        };
        if is_new_invite(r) {
            setups
                .entry((&*r.host, peer))
                .or_default()
                .entry((id, cseq))
                .or_insert(Setup {
                    sent_ms: r.t_ms,
                    call: r.str("call"),
                    outcome: None,
                    judged: false,
                });
        }
    }
    let media = MediaSeen::new(history);
    // Responses: the first final judges; any response at all rules out a
    // timeout.
    let mut answered: BTreeSet<(&str, &str, &str, &str)> = BTreeSet::new();
    for r in history
        .of_kind("sip.recv")
        .filter(|r| params.judges(&r.host))
    {
        let (Some(peer), Some(id), Some(cseq), Some(line)) = (
            r.str("peer"),
            r.str("sip_call_id"),
            r.str("cseq"),
            r.str("start_line"),
        ) else {
            continue;
        };
        let Ok(code) = line.parse::<u16>() else {
            continue;
        };
        let Some(setup) = setups
            .get_mut(&(&*r.host, peer))
            .and_then(|s| s.get_mut(&(id, cseq)))
        else {
            continue;
        };
        answered.insert((&r.host, peer, id, cseq));
        if code >= 200 && !setup.judged {
            setup.outcome = match (params.no_media_within, setup.call) {
                (Some(within), Some(call)) if (200..300).contains(&code) => {
                    media.judge(call, r.t_ms, within.as_millis())
                }
                _ => Some((r.t_ms, code >= 500)),
            };
            setup.judged = true;
        }
    }
    let end_ms = history.records.last().map_or(0, |r| r.t_ms);
    let mut out = Vec::new();
    for (&(host, hop), by_id) in &setups {
        let mut outcomes: Vec<(u64, bool, Option<&str>)> = Vec::new();
        for (&(id, cseq), setup) in by_id {
            let outcome = setup.outcome.or_else(|| {
                let silent = !answered.contains(&(host, hop, id, cseq));
                let due = setup.sent_ms + timeout;
                (silent && due <= end_ms).then_some((due, true))
            });
            if let Some((at, failed)) = outcome {
                outcomes.push((at, failed, setup.call));
            }
        }
        outcomes.sort_by_key(|o| o.0);
        let mut windows: Vec<(u64, u64, u64)> = Vec::new();
        let mut run = 0;
        for (at, failed, _) in &outcomes {
            run = if *failed { run + 1 } else { 0 };
            if run >= params.failures {
                let from = at + params.within.as_millis();
                windows.push((*at, from, from + params.hold.as_millis()));
                run = 0;
            }
        }
        let mut reported: Option<u64> = None;
        for (failed_at, from, to) in windows {
            let offending = by_id
                .values()
                .filter(|s| s.sent_ms > from && s.sent_ms <= to)
                .min_by_key(|s| s.sent_ms);
            // One violation per offending INVITE, however many runs it
            // follows.
            if let Some(s) = offending.filter(|s| reported != Some(s.sent_ms)) {
                reported = Some(s.sent_ms);
                out.push(Violation::new(
                    NAME,
                    OracleKind::Safety,
                    s.sent_ms,
                    s.call,
                    format!(
                        "{host} sent a new INVITE to {hop} at {} ms, after {hop} failed {} setups \
                         in a row (the last known at {failed_at} ms): not ejected within {} \
                         for {}",
                        s.sent_ms, params.failures, params.within, params.hold
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Value;

    fn sip(h: &mut History, t: u64, kind: &str, peer: &str, id: &str, line: &str, to_tag: bool) {
        let mut fields = vec![
            ("call", Value::Str(id.into())),
            ("sip_call_id", Value::Str(id.into())),
            ("start_line", Value::Str(line.into())),
            ("cseq", Value::Str("1 INVITE".into())),
            ("peer", Value::Str(peer.into())),
            ("retransmission", Value::Bool(false)),
        ];
        if to_tag {
            fields.push(("to_tag", Value::Str("t".into())));
        }
        h.records.push(Record::new(t, "lb-1", kind, fields));
    }

    /// Setup `id` at `t` to `hop`, answered `code` 10 ms later (0: never).
    fn setup(h: &mut History, t: u64, hop: &str, id: &str, code: u16) {
        sip(h, t, "sip.send", hop, id, "INVITE", false);
        if code > 0 {
            sip(h, t + 10, "sip.recv", hop, id, &code.to_string(), true);
        }
    }

    fn params() -> Params {
        Params {
            failures: 3,
            within: Dur::from_secs(1),
            hold: Dur::from_secs(10),
            ..Params::default()
        }
    }

    fn judge(mut h: History) -> Vec<Violation> {
        h.records.sort_by_key(|r| r.t_ms);
        check(&h, &params())
    }

    #[test]
    fn a_hop_that_keeps_getting_calls_after_failing_in_a_row_is_a_violation() {
        let mut h = History::default();
        for (i, t) in [0, 100, 200].into_iter().enumerate() {
            setup(&mut h, t, "sip-1", &format!("c{i}"), 503);
        }
        setup(&mut h, 5_000, "sip-1", "late", 200);
        let v = judge(h);
        assert_eq!(v.len(), 1, "{v:#?}");
        assert!(v[0]
            .message
            .contains("lb-1 sent a new INVITE to sip-1 at 5000 ms"));
        assert_eq!(v[0].call.as_deref(), Some("late"));
    }

    #[test]
    fn calls_within_the_detection_time_or_after_the_hold_are_fine() {
        let mut h = History::default();
        for (i, t) in [0, 100, 200].into_iter().enumerate() {
            setup(&mut h, t, "sip-1", &format!("c{i}"), 503);
        }
        setup(&mut h, 1_000, "sip-1", "in-flight", 200); // within 1 s of 210
        setup(&mut h, 11_300, "sip-1", "after", 200); // after 210 + 1 s + 10 s
        setup(&mut h, 5_000, "sip-2", "other-hop", 200);
        assert!(judge(h).is_empty());
    }

    #[test]
    fn successes_break_the_run_and_other_finals_are_successes() {
        let mut h = History::default();
        let codes = [503, 503, 486, 500, 200, 503, 503];
        for (i, code) in codes.into_iter().enumerate() {
            setup(&mut h, i as u64 * 100, "sip-1", &format!("c{i}"), code);
        }
        setup(&mut h, 5_000, "sip-1", "later", 200);
        assert!(judge(h).is_empty());
    }

    #[test]
    fn silence_past_the_setup_timeout_is_a_failure_and_a_100_is_not() {
        let mut h = History::default();
        for i in 0..3 {
            setup(&mut h, i * 100, "sip-1", &format!("silent{i}"), 0);
        }
        setup(&mut h, 9_500, "sip-1", "after", 200);
        let v = judge(h);
        assert_eq!(v.len(), 1, "timeouts known at 8.0-8.2 s: {v:#?}");
        let mut h = History::default();
        for i in 0..3 {
            setup(&mut h, i * 100, "sip-1", &format!("ringing{i}"), 100);
        }
        setup(&mut h, 9_500, "sip-1", "after", 200);
        assert!(
            judge(h).is_empty(),
            "a hop that answered 100 did not time out"
        );
    }

    #[test]
    fn only_the_named_forwarding_hosts_are_judged() {
        let p = params();
        assert!(p.judges("lb-1") && p.judges("lb"));
        assert!(!p.judges("sbc-1") && !p.judges("carrier"));
        assert!(Params {
            at: Vec::new(),
            ..params()
        }
        .validate("oracles.ejection_within")
        .is_err());
    }

    fn media_rx(h: &mut History, t: u64, host: &str, call: &str) {
        let fields = vec![("call", Value::Str(call.into()))];
        h.records.push(Record::new(t, host, "media.rx", fields));
    }

    fn media_params() -> Params {
        Params {
            no_media_within: Some(Dur::from_secs(3)),
            ..params()
        }
    }

    #[test]
    fn answered_calls_without_media_at_both_ends_fail_when_media_judges() {
        // Three calls answered 200 by sip-1; only the first has media at
        // both ends, the next two at one end only, the last two none.
        let mut h = History::default();
        for (i, t) in [0u64, 100, 200, 300, 400].into_iter().enumerate() {
            let call = format!("c{i}");
            setup(&mut h, t, "sip-1", &call, 200);
            let ends: &[&str] = match i {
                0 => &["carrier", "sip-1"],
                1 | 2 => &["carrier"],
                _ => &[],
            };
            for end in ends {
                media_rx(&mut h, t + 500, end, &call);
            }
        }
        // The run of 4 silent calls is known at 410 + 3000; a new call
        // 2 s (within) later is a violation.
        setup(&mut h, 6_000, "sip-1", "late", 200);
        h.records.sort_by_key(|r| r.t_ms);
        let v = check(&h, &media_params());
        assert_eq!(v.len(), 1, "{v:#?}");
        assert_eq!(v[0].call.as_deref(), Some("late"));
        assert!(
            check(&h, &params()).is_empty(),
            "without no_media_within a 200 is a success"
        );
    }

    #[test]
    fn a_call_that_ends_before_its_media_is_due_is_not_judged() {
        let mut h = History::default();
        for i in 0..3u64 {
            let call = format!("short{i}");
            setup(&mut h, i * 100, "sip-1", &call, 200);
            h.records.push(Record::new(
                i * 100 + 1_000,
                "carrier",
                "call.end",
                vec![("call", Value::Str(call.into()))],
            ));
        }
        setup(&mut h, 6_000, "sip-1", "late", 200);
        h.records.sort_by_key(|r| r.t_ms);
        assert!(check(&h, &media_params()).is_empty(), "short calls");
        let bad = Params {
            no_media_within: Some(Dur::from_millis(0)),
            ..params()
        };
        assert!(bad.validate("oracles.ejection_within").is_err());
    }
}
