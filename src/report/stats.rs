//! SIPp-style statistics of a run, the `sip_stats` block of `run --json`,
//! read from the history (`call.start`, `call.end`, `sip.send`,
//! `sip.recv`) and nothing else.
//!
//! - A *leg* is one SIP dialog's transaction path: the messages of one
//!   Call-ID. Legs are grouped by who sent their first INVITE to whom
//!   (`carrier->sbc-edge-1`), so a B2BUA's two sides are two groups.
//! - Setup time is, on a leg, from the first (not retransmitted) INVITE
//!   its caller sent to the first 2xx to that INVITE the caller received;
//!   post-dial delay the same to the first 180 or 183. A call's figures
//!   are those of its first leg (the originator's).
//! - Percentiles are nearest-rank over the legs or calls that reached the
//!   event (`count` of them); a distribution with no sample is all zeros.

use crate::history::History;
use serde::Serialize;
use std::collections::BTreeMap;

/// Counts by method, then by status code.
pub type CodesByMethod = BTreeMap<String, BTreeMap<String, u64>>;

/// `sip_stats` in `run --json`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SipStats {
    /// Calls started (`call.start`).
    pub call_attempts: u64,
    /// `call_attempts` over the run's sim duration, per second.
    pub call_attempt_rate_per_s: f64,
    /// The most calls started within one second of sim time
    /// (`[k s, k+1 s)`).
    pub call_attempt_rate_per_s_max: u64,
    /// Per call: INVITE to 2xx on its first leg, in ms.
    pub setup_ms: Percentiles,
    /// Per call: INVITE to 180/183 on its first leg, in ms.
    pub post_dial_delay_ms: Percentiles,
    /// Calls by their `call.end` reason.
    pub calls_by_end_reason: BTreeMap<String, u64>,
    /// Retransmitted sends, by start line (method or status code).
    pub retransmissions_by_message: BTreeMap<String, u64>,
    /// Per host, what it sent and received.
    pub by_host: BTreeMap<String, HostStats>,
    /// Per leg group (`caller->callee`), over its legs.
    pub by_leg: BTreeMap<String, LegStats>,
}

/// One host's SIP traffic.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HostStats {
    /// Requests sent, by method (retransmissions included).
    pub requests_sent: BTreeMap<String, u64>,
    /// Responses sent, by the method they answer, then status code.
    pub responses_sent: CodesByMethod,
    pub requests_received: BTreeMap<String, u64>,
    pub responses_received: CodesByMethod,
    /// Sends marked as retransmissions.
    pub retransmissions: u64,
}

/// One group of legs.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LegStats {
    /// Legs (Call-IDs) whose first INVITE went this way.
    pub legs: u64,
    /// Responses sent on these legs (by either side: a BYE's 200 comes
    /// from whoever did not hang up), by method and status code.
    pub responses: CodesByMethod,
    /// INVITE to 2xx on each leg that got one, in ms.
    pub setup_ms: Percentiles,
    /// INVITE to 180/183 on each leg that got one, in ms.
    pub post_dial_delay_ms: Percentiles,
}

/// A distribution in whole milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Percentiles {
    pub count: u64,
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples`.
    pub fn of(mut samples: Vec<u64>) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let n = samples.len();
        let rank = |p: usize| samples[(p * n).div_ceil(100).clamp(1, n) - 1];
        Percentiles {
            count: n as u64,
            min: samples[0],
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max: samples[n - 1],
        }
    }
}

/// The first leg of a Call-ID: who sent the INVITE to whom, when, and the
/// first 18x and 2xx its caller received.
struct Leg<'a> {
    call: &'a str,
    caller: &'a str,
    callee: &'a str,
    invite_ms: u64,
    ringing_ms: Option<u64>,
    answered_ms: Option<u64>,
}

fn cseq_method(cseq: Option<&str>) -> String {
    cseq.and_then(|c| c.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_string()
}

fn is_response(start_line: &str) -> bool {
    !start_line.is_empty() && start_line.chars().all(|c| c.is_ascii_digit())
}

/// The statistics of `history`, over `sim_ms` of sim time.
pub fn sip_stats(history: &History, sim_ms: u64) -> SipStats {
    let mut stats = SipStats::default();
    let mut starts_per_s: BTreeMap<u64, u64> = BTreeMap::new();
    let legs = legs_of(history);
    for r in &history.records {
        match r.kind() {
            "call.start" => {
                stats.call_attempts += 1;
                *starts_per_s.entry(r.t_ms / 1000).or_default() += 1;
            }
            "call.end" => {
                let reason = r.str("reason").unwrap_or("?").to_string();
                *stats.calls_by_end_reason.entry(reason).or_default() += 1;
            }
            kind @ ("sip.send" | "sip.recv") => {
                let start = r.str("start_line").unwrap_or("?");
                let host = stats.by_host.entry(r.host.to_string()).or_default();
                let sent = kind == "sip.send";
                if is_response(start) {
                    let method = cseq_method(r.str("cseq"));
                    let table = if sent {
                        &mut host.responses_sent
                    } else {
                        &mut host.responses_received
                    };
                    *table
                        .entry(method)
                        .or_default()
                        .entry(start.to_string())
                        .or_default() += 1;
                } else {
                    let table = if sent {
                        &mut host.requests_sent
                    } else {
                        &mut host.requests_received
                    };
                    *table.entry(start.to_string()).or_default() += 1;
                }
                if sent && r.bool("retransmission") == Some(true) {
                    host.retransmissions += 1;
                    *stats
                        .retransmissions_by_message
                        .entry(start.to_string())
                        .or_default() += 1;
                }
            }
            _ => {}
        }
    }
    // Responses per leg group: the responses either side sent on a leg.
    let group_of: BTreeMap<&str, String> = legs
        .iter()
        .map(|(id, leg)| (*id, format!("{}->{}", leg.caller, leg.callee)))
        .collect();
    for r in history.of_kind("sip.send") {
        let start = r.str("start_line").unwrap_or("?");
        let (Some(id), true) = (r.str("sip_call_id"), is_response(start)) else {
            continue;
        };
        let Some(group) = group_of.get(id) else {
            continue;
        };
        *stats
            .by_leg
            .entry(group.clone())
            .or_default()
            .responses
            .entry(cseq_method(r.str("cseq")))
            .or_default()
            .entry(start.to_string())
            .or_default() += 1;
    }
    let mut samples: BTreeMap<String, (Vec<u64>, Vec<u64>)> = BTreeMap::new();
    for (id, leg) in &legs {
        let group = &group_of[id];
        stats.by_leg.entry(group.clone()).or_default().legs += 1;
        let (setup, pdd) = samples.entry(group.clone()).or_default();
        setup.extend(leg.answered_ms.map(|t| t - leg.invite_ms));
        pdd.extend(leg.ringing_ms.map(|t| t - leg.invite_ms));
    }
    let first_leg_of_call = first_leg_of_each_call(&legs);
    for (group, (setup, pdd)) in samples {
        let entry = stats.by_leg.entry(group).or_default();
        entry.setup_ms = Percentiles::of(setup);
        entry.post_dial_delay_ms = Percentiles::of(pdd);
    }
    stats.setup_ms = Percentiles::of(
        first_leg_of_call
            .values()
            .filter_map(|l| l.answered_ms.map(|t| t - l.invite_ms))
            .collect(),
    );
    stats.post_dial_delay_ms = Percentiles::of(
        first_leg_of_call
            .values()
            .filter_map(|l| l.ringing_ms.map(|t| t - l.invite_ms))
            .collect(),
    );
    stats.call_attempt_rate_per_s = if sim_ms == 0 {
        0.0
    } else {
        // Three decimals, so the document reads the same on every machine.
        (stats.call_attempts as f64 * 1_000_000.0 / sim_ms as f64).round() / 1000.0
    };
    stats.call_attempt_rate_per_s_max = starts_per_s.values().copied().max().unwrap_or(0);
    stats
}

/// Per call, INVITE to 2xx on its first leg, in ms, in call-id order:
/// the samples `setup_ms` summarises (the HTML report draws them).
pub fn call_setup_samples_ms(history: &History) -> Vec<u64> {
    let legs = legs_of(history);
    first_leg_of_each_call(&legs)
        .values()
        .filter_map(|l| l.answered_ms.map(|t| t - l.invite_ms))
        .collect()
}

/// Every leg of `history`, by Call-ID.
fn legs_of(history: &History) -> BTreeMap<&str, Leg<'_>> {
    let mut legs = BTreeMap::new();
    for r in &history.records {
        let sent = match r.kind() {
            "sip.send" => true,
            "sip.recv" => false,
            _ => continue,
        };
        read_leg(&mut legs, r, sent, r.str("start_line").unwrap_or("?"));
    }
    legs
}

/// Each call's first leg (its earliest INVITE; the originator's).
fn first_leg_of_each_call<'l, 'a>(
    legs: &'l BTreeMap<&'a str, Leg<'a>>,
) -> BTreeMap<&'a str, &'l Leg<'a>> {
    let mut first_leg_of_call: BTreeMap<&str, &Leg> = BTreeMap::new();
    for leg in legs.values() {
        if !leg.call.is_empty() {
            let first = first_leg_of_call.entry(leg.call).or_insert(leg);
            if leg.invite_ms < first.invite_ms {
                *first = leg;
            }
        }
    }
    first_leg_of_call
}

/// Reads one SIP record into the legs: a first INVITE opens a leg; the
/// caller's first 18x and 2xx to an INVITE close its delays.
fn read_leg<'a>(
    legs: &mut BTreeMap<&'a str, Leg<'a>>,
    r: &'a crate::history::Record,
    sent: bool,
    start: &str,
) {
    let Some(id) = r.str("sip_call_id") else {
        return;
    };
    if sent && start == "INVITE" && r.bool("retransmission") != Some(true) {
        legs.entry(id).or_insert_with(|| Leg {
            call: r.call().unwrap_or(""),
            caller: &r.host,
            callee: r.str("peer").unwrap_or("?"),
            invite_ms: r.t_ms,
            ringing_ms: None,
            answered_ms: None,
        });
        return;
    }
    if sent || cseq_method(r.str("cseq")) != "INVITE" {
        return;
    }
    let Some(leg) = legs.get_mut(id) else {
        return;
    };
    if &*r.host != leg.caller {
        return;
    }
    if matches!(start, "180" | "183") && leg.ringing_ms.is_none() {
        leg.ringing_ms = Some(r.t_ms);
    } else if start.starts_with('2') && start.len() == 3 && leg.answered_ms.is_none() {
        leg.answered_ms = Some(r.t_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).collect());
        assert_eq!(
            (p.count, p.min, p.p50, p.p90, p.p99, p.max),
            (100, 1, 50, 90, 99, 100)
        );
        let one = Percentiles::of(vec![7]);
        assert_eq!((one.p50, one.p99), (7, 7));
        assert_eq!(Percentiles::of(vec![]), Percentiles::default());
    }
}
