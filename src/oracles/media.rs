//! Media oracles: `media_flows` (every connected call carries media both
//! ways) and `play_success` (enough Play/Say verbs succeed).

use super::availability::{check_positive, check_ratio};
use super::calls::calls;
use super::{OracleKind, Violation};
use crate::history::History;
use crate::sim::topology::in_endpoint;
use crate::sim::{Dur, FieldError};
use serde::Deserialize;

pub const MEDIA: &str = "media_flows";
pub const PLAY: &str = "play_success";

/// `media_flows = { endpoints = ["carrier", "sip"], connected_min = "2s" }`.
///
/// A call is connected from its first `call.answered` to its `call.end`
/// (or the end of the run). Every call connected for at least
/// `connected_min` must show, within that span, a `media.rx` at a host of
/// each endpoint group: both ends received media, so it flowed both ways.
/// An endpoint names a host (`carrier`) or a section (`sip` covers
/// `sip-1`, `sip-2`, ..). Relays (SBC pods) may record `media.rx` too;
/// they do not count, which is how a call whose media dies between two
/// relays is caught.
///
/// Media must also keep flowing: at each endpoint, the longest silence
/// between the answer and the end (before the first packet, between two,
/// after the last) must stay within `gap_max`, and, once the endpoint has
/// seen `gap_samples_min` packets, within `gap_factor` times its median
/// gap (so a call whose packets come every 20 ms is judged at that pace,
/// and one at 10 s at its own). One packet each way no longer passes a
/// call that then went silent for half a minute.
///
/// Loss on the path makes runs of missing packets by chance. With
/// `chance_min > 0` (default 0.001), a silence over the median rule is
/// still forgiven when the loss the endpoint saw over the run makes it
/// likely enough: with `E` packets expected at the median pace, `q` the
/// share of packets missing at that endpoint outside each stream's
/// longest silence, `k` packets missing in a row and `S` streams judged in
/// the run (calls times endpoints: each is another chance), a silence
/// with `S * E * q^k >= chance_min` is loss, not a media failure. On a run
/// with no loss outside the silences nothing is forgiven, and `gap_max`
/// always holds.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaParams {
    /// The two (or more) ends of a call's media. Default carrier and sip.
    #[serde(default = "default_endpoints")]
    pub endpoints: Vec<String>,
    /// Calls connected for less than this are not judged (media may not
    /// have started). Default 2s.
    #[serde(default = "default_connected_min")]
    pub connected_min: Dur,
    /// Longest silence allowed at an endpoint while connected. Default 30s.
    #[serde(default = "default_gap_max")]
    pub gap_max: Dur,
    /// A silence longer than this many median gaps is a violation too.
    /// Default 4.
    #[serde(default = "default_gap_factor")]
    pub gap_factor: f64,
    /// Packets an endpoint must have seen before `gap_factor` applies.
    /// Default 4.
    #[serde(default = "default_gap_samples_min")]
    pub gap_samples_min: usize,
    /// Least chance, from the loss seen outside it, at which a silence
    /// over the median rule is put down to loss. 0 switches it off.
    /// Default 0.001.
    #[serde(default = "default_chance_min")]
    pub chance_min: f64,
}

impl Default for MediaParams {
    fn default() -> MediaParams {
        MediaParams {
            endpoints: default_endpoints(),
            connected_min: default_connected_min(),
            gap_max: default_gap_max(),
            gap_factor: default_gap_factor(),
            gap_samples_min: default_gap_samples_min(),
            chance_min: default_chance_min(),
        }
    }
}

fn default_gap_max() -> Dur {
    Dur::from_secs(30)
}
fn default_gap_factor() -> f64 {
    4.0
}
fn default_chance_min() -> f64 {
    0.001
}

/// One stream's loss outside its longest silence: (packets missing,
/// positions), from `received` packets over `span` ms at `median` ms
/// apart with a longest silence of `gap` ms.
pub fn loss_outside(gap: u64, span: u64, received: usize, median: u64) -> (f64, f64) {
    if median == 0 {
        return (0.0, 0.0);
    }
    let expected = (span / median).max(1) as f64;
    let in_a_row = (gap / median).saturating_sub(1) as f64;
    let lost = (expected - received as f64).max(0.0);
    let lost_elsewhere = (lost - in_a_row).max(0.0);
    let elsewhere = (expected - in_a_row - 1.0).max(0.0);
    (lost_elsewhere, elsewhere)
}

/// How likely a silence of `gap` ms is from loss alone on one of
/// `streams` streams, this one `span` ms long at `median` ms apart, when
/// a share `q` of packets goes missing: `streams * E * q^k`, with `E` the
/// packets expected and `k` those missing in a row.
pub fn loss_chance(gap: u64, span: u64, median: u64, q: f64, streams: usize) -> f64 {
    if median == 0 {
        return 0.0;
    }
    let expected = (span / median).max(1) as f64;
    let in_a_row = (gap / median).saturating_sub(1) as i32;
    streams as f64 * expected * q.min(1.0).powi(in_a_row)
}

fn default_gap_samples_min() -> usize {
    4
}

/// One endpoint's packet times while a call was connected, with their
/// [`silences`].
type Stream<'e> = (&'e str, Vec<u64>, (u64, u64, Option<u64>));

/// The longest silence in `[from, to]` given the packet times `at`
/// (sorted), and the median gap between packets (`None` with fewer than
/// two packets).
fn silences(at: &[u64], from: u64, to: u64) -> (u64, u64, Option<u64>) {
    let mut longest = (0, from);
    let mut last = from;
    let mut gaps = Vec::new();
    for (i, &t) in at.iter().enumerate() {
        if t - last > longest.0 {
            longest = (t - last, last);
        }
        if i > 0 {
            gaps.push(t - last);
        }
        last = t;
    }
    if to - last > longest.0 {
        longest = (to - last, last);
    }
    gaps.sort_unstable();
    let median = (!gaps.is_empty()).then(|| gaps[gaps.len() / 2]);
    (longest.0, longest.1, median)
}

fn default_endpoints() -> Vec<String> {
    vec!["carrier".into(), "sip".into()]
}
fn default_connected_min() -> Dur {
    Dur::from_secs(2)
}

impl MediaParams {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if self.endpoints.len() < 2 {
            return Err(FieldError::new(
                format!("{field}.endpoints"),
                "name at least two endpoints (media flows both ways)",
            ));
        }
        check_positive(self.connected_min, &format!("{field}.connected_min"))?;
        check_positive(self.gap_max, &format!("{field}.gap_max"))?;
        if !(self.chance_min.is_finite() && (0.0..=1.0).contains(&self.chance_min)) {
            return Err(FieldError::new(
                format!("{field}.chance_min"),
                "must be in [0, 1] (0 switches it off)",
            ));
        }
        if !(self.gap_factor.is_finite() && self.gap_factor >= 1.0) {
            return Err(FieldError::new(
                format!("{field}.gap_factor"),
                "must be >= 1 (a multiple of the median gap)",
            ));
        }
        Ok(())
    }
}

pub fn check_media(history: &History, params: &MediaParams, end_ms: u64) -> Vec<Violation> {
    let connected_min_ms = params.connected_min.as_millis();
    let mut out = Vec::new();
    let mut media: std::collections::BTreeMap<&str, Vec<&crate::history::Record>> =
        Default::default();
    for r in history.of_kind("media.rx") {
        if let Some(call) = r.call() {
            media.entry(call).or_default().push(r);
        }
    }
    let all = calls(history);
    // Each judged call with each endpoint's packet times while connected,
    // read once for both rules below.
    let mut judged = Vec::new();
    for call in all.values() {
        let Some(answered) = call.answered else {
            continue;
        };
        let from = answered.t_ms;
        let to = call.end.map(|r| r.t_ms).unwrap_or(end_ms);
        if to < from + connected_min_ms {
            continue;
        }
        let arrivals: Vec<Stream> = params
            .endpoints
            .iter()
            .map(|endpoint| {
                let mut at: Vec<u64> = media
                    .get(call.id)
                    .into_iter()
                    .flatten()
                    .filter(|r| r.t_ms >= from && r.t_ms <= to && in_endpoint(&r.host, endpoint))
                    .map(|r| r.t_ms)
                    .collect();
                at.sort_unstable();
                let silence = silences(&at, from, to);
                (endpoint.as_str(), at, silence)
            })
            .collect();
        judged.push((call.id, from, to, arrivals));
    }
    // Every stream judged is one more chance of a run of losses: the
    // chance that loss explains a silence is over the whole run. The loss
    // rate is each endpoint's over the run, outside every stream's longest
    // silence (so the silences being judged never excuse themselves).
    let streams = judged.len() * params.endpoints.len();
    let mut outside: std::collections::BTreeMap<&str, (f64, f64)> = Default::default();
    for (_, from, to, arrivals) in &judged {
        for (endpoint, at, silence) in arrivals {
            if let &(gap, _, Some(median)) = silence {
                let (lost, positions) = loss_outside(gap, to - from, at.len(), median);
                let sum = outside.entry(endpoint).or_default();
                sum.0 += lost;
                sum.1 += positions;
            }
        }
    }
    let loss_rate = |endpoint: &str| {
        outside
            .get(endpoint)
            .filter(|(_, positions)| *positions > 0.0)
            .map_or(0.0, |(lost, positions)| lost / positions)
    };
    for (id, from, to, arrivals) in judged {
        let silent: Vec<&str> = arrivals
            .iter()
            .filter(|(_, at, _)| at.is_empty())
            .map(|(endpoint, _, _)| *endpoint)
            .collect();
        if !silent.is_empty() {
            out.push(Violation::new(
                MEDIA,
                OracleKind::Safety,
                to,
                Some(id),
                format!(
                    "call connected from {from} to {to} ms but {} received no media",
                    silent.join(" and ")
                ),
            ));
            continue;
        }
        for (endpoint, at, silence) in &arrivals {
            let &(gap, since, median) = silence;
            let relative = median
                .filter(|_| at.len() >= params.gap_samples_min)
                .map(|m| ((m as f64 * params.gap_factor) as u64).max(connected_min_ms));
            let bound = relative.map_or(params.gap_max.as_millis(), |r| {
                r.min(params.gap_max.as_millis())
            });
            let by_chance = relative.is_some()
                && gap <= params.gap_max.as_millis()
                && params.chance_min > 0.0
                && median.is_some_and(|m| {
                    let q = loss_rate(endpoint);
                    loss_chance(gap, to - from, m, q, streams) >= params.chance_min
                });
            if gap > bound && !by_chance {
                out.push(Violation::new(
                    MEDIA,
                    OracleKind::Safety,
                    since + gap,
                    Some(id),
                    format!(
                        "{endpoint} received no media for {gap} ms (from {since} ms) while the call was connected ({from} to {to} ms); at most {bound} ms{}",
                        median.filter(|_| relative.is_some()).map(|m| format!(" ({}x its median gap of {m} ms, capped at gap_max)", params.gap_factor)).unwrap_or_default()
                    ),
                ));
                break;
            }
        }
    }
    out
}

/// `play_success = { ratio_min = 0.99, verbs_min = 1 }`: at least
/// `ratio_min` of the `verb.result`s of the run are ok. A run with fewer
/// than `verbs_min` verb results cannot show the property and is a
/// violation too (a scenario that names this oracle should play media).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlayParams {
    /// Least share of verbs that succeed. Default 0.99.
    #[serde(default = "default_play_ratio")]
    pub ratio_min: f64,
    /// Fewest verbs for the property to be shown. Default 1.
    #[serde(default = "default_verbs_min")]
    pub verbs_min: u64,
}

impl Default for PlayParams {
    fn default() -> PlayParams {
        PlayParams {
            ratio_min: default_play_ratio(),
            verbs_min: default_verbs_min(),
        }
    }
}

fn default_play_ratio() -> f64 {
    0.99
}
fn default_verbs_min() -> u64 {
    1
}

impl PlayParams {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        check_ratio(self.ratio_min, &format!("{field}.ratio_min"))
    }
}

pub fn check_play(history: &History, params: &PlayParams, end_ms: u64) -> Vec<Violation> {
    let (mut total, mut ok) = (0u64, 0u64);
    let mut first_failed = None;
    for r in history.of_kind("verb.result") {
        total += 1;
        if r.bool("ok") == Some(true) {
            ok += 1;
        } else if first_failed.is_none() {
            first_failed = Some(r);
        }
    }
    if total < params.verbs_min {
        return vec![Violation::new(
            PLAY,
            OracleKind::Safety,
            end_ms,
            None,
            format!(
                "only {total} Play/Say verbs ran, fewer than verbs_min {}",
                params.verbs_min
            ),
        )];
    }
    let ratio = if total == 0 {
        1.0
    } else {
        ok as f64 / total as f64
    };
    if ratio < params.ratio_min {
        let first = first_failed.expect("a ratio below 1 has a failure");
        return vec![Violation::new(
            PLAY,
            OracleKind::Safety,
            end_ms,
            first.call(),
            format!(
                "{ok} of {total} Play/Say verbs succeeded ({:.1}%), below {:.1}%; the first failure: {} at {} ms, code {}",
                ratio * 100.0,
                params.ratio_min * 100.0,
                first.call().unwrap_or("?"),
                first.t_ms,
                first.u64("code").unwrap_or(0)
            ),
        )];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    fn connected(s: &mut Script, call: &'static str, from: u64, to: u64) {
        s.at(from, "sip-1", Event::CallAnswered { call });
        s.at(
            to,
            "gateway",
            Event::CallEnd {
                call,
                status: 200,
                reason: "hangup",
                outcome: crate::history::EndOutcome::of_status(200),
            },
        );
    }

    #[test]
    fn endpoint_names_match_hosts_and_sections() {
        assert!(in_endpoint("carrier", "carrier"));
        assert!(in_endpoint("sip-12", "sip"));
        assert!(!in_endpoint("sbc-edge-1", "sbc"));
        assert!(in_endpoint("sbc-edge-1", "sbc-edge"));
        assert!(!in_endpoint("sipx", "sip"));
    }

    #[test]
    fn media_both_ways_is_quiet() {
        let mut s = Script::new();
        s.at(1000, "sip-1", Event::CallAnswered { call: "in-1" });
        s.at(
            2000,
            "carrier",
            Event::MediaRx {
                call: "in-1",
                from: "sbc-edge-1",
                from_addr: "192.0.2.1:10000",
            },
        );
        s.at(
            2001,
            "sip-1",
            Event::MediaRx {
                call: "in-1",
                from: "sbc-inbound-1",
                from_addr: "192.0.2.1:10000",
            },
        );
        s.at(
            9000,
            "carrier",
            Event::CallEnd {
                call: "in-1",
                status: 200,
                reason: "hangup",
                outcome: crate::history::EndOutcome::of_status(200),
            },
        );
        assert_eq!(
            check_media(&s.history(), &MediaParams::default(), 60_000),
            vec![]
        );
    }

    #[test]
    fn media_one_way_fires() {
        let mut s = Script::new();
        s.at(1000, "sip-1", Event::CallAnswered { call: "in-1" });
        s.at(
            2000,
            "carrier",
            Event::MediaRx {
                call: "in-1",
                from: "sbc-edge-1",
                from_addr: "192.0.2.1:10000",
            },
        );
        // The relay got media from the carrier, the sip service never did.
        s.at(
            2001,
            "sbc-edge-1",
            Event::MediaRx {
                call: "in-1",
                from: "carrier",
                from_addr: "192.0.2.1:10000",
            },
        );
        s.at(
            9000,
            "carrier",
            Event::CallEnd {
                call: "in-1",
                status: 200,
                reason: "silence",
                outcome: crate::history::EndOutcome::of_status(200),
            },
        );
        let v = check_media(&s.history(), &MediaParams::default(), 60_000);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("sip received no media"),
            "{}",
            v[0].message
        );
    }

    /// Media every `every` ms at both ends over `[from, to]`, except in
    /// `[quiet_from, quiet_to)`.
    fn media_with_a_gap(every: u64, from: u64, to: u64, quiet: (u64, u64)) -> Vec<Violation> {
        let mut s = Script::new();
        connected(&mut s, "in-1", from, to);
        let mut t = from + every;
        while t < to {
            if !(quiet.0..quiet.1).contains(&t) {
                for host in ["carrier", "sip-1"] {
                    s.at(
                        t,
                        host,
                        Event::MediaRx {
                            call: "in-1",
                            from: "x",
                            from_addr: "192.0.2.1:10000",
                        },
                    );
                }
            }
            t += every;
        }
        check_media(&s.history(), &MediaParams::default(), 200_000)
    }

    #[test]
    fn a_long_silence_after_media_started_fires() {
        // One packet each way, then 40 s of silence: it used to pass.
        let v = media_with_a_gap(1000, 1000, 60_000, (3_000, 45_000));
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("received no media for"),
            "{}",
            v[0].message
        );
        // A 6 s silence at a 1 s pace is 6 median gaps: it fires too.
        let v = media_with_a_gap(1000, 1000, 60_000, (10_000, 15_000));
        assert_eq!(v.len(), 1, "{v:?}");
        // Steady media, even slow (every 10 s), is quiet.
        assert_eq!(media_with_a_gap(1000, 1000, 60_000, (0, 0)), vec![]);
        assert_eq!(media_with_a_gap(10_000, 1000, 100_000, (0, 0)), vec![]);
    }

    /// Media every second over 1..60 s at both ends, missing the packets
    /// at the seconds `lost` names.
    fn media_losing(lost: impl Fn(u64) -> bool, params: &MediaParams) -> Vec<Violation> {
        let mut s = Script::new();
        connected(&mut s, "in-1", 1000, 60_000);
        for second in 2..60 {
            if lost(second) {
                continue;
            }
            for host in ["carrier", "sip-1"] {
                let media = Event::MediaRx {
                    call: "in-1",
                    from: "x",
                    from_addr: "192.0.2.1:10000",
                };
                s.at(second * 1000, host, media);
            }
        }
        check_media(&s.history(), params, 200_000)
    }

    #[test]
    fn a_silence_that_the_loss_elsewhere_explains_is_forgiven() {
        let defaults = MediaParams::default();
        // One packet in five lost (20%), plus 5 in a row at 30-34 s: a 6 s
        // silence, 6 median gaps. 59 * 0.2^5 = 0.019: likely by chance.
        let lossy = |t: u64| t.is_multiple_of(5) || (30..35).contains(&t);
        assert_eq!(media_losing(lossy, &defaults), vec![]);
        // Switched off, the median rule alone fires.
        let off = MediaParams {
            chance_min: 0.0,
            ..MediaParams::default()
        };
        assert_eq!(media_losing(lossy, &off).len(), 1);
        // The same silence on a lossless stream is not forgiven (the
        // silence does not count towards the loss that would excuse it).
        assert_eq!(media_losing(|t| (30..35).contains(&t), &defaults).len(), 1);
        // Nor is a long one on the lossy stream: 15 in a row at 20%.
        let long = |t: u64| t.is_multiple_of(5) || (20..35).contains(&t);
        assert_eq!(media_losing(long, &defaults).len(), 1);
    }

    #[test]
    fn loss_is_counted_outside_the_longest_silence() {
        // 60 expected, 48 received, a 6 s silence (5 missing in a row):
        // 7 of the other 54 positions missing.
        assert_eq!(loss_outside(6_000, 60_000, 48, 1000), (7.0, 54.0));
        assert_eq!(loss_outside(6_000, 60_000, 55, 1000), (0.0, 54.0));
        assert_eq!(loss_outside(6_000, 60_000, 48, 0), (0.0, 0.0));
        let c = loss_chance(6_000, 60_000, 1000, 0.1, 2);
        assert!((c - 2.0 * 60.0 * 0.1f64.powi(5)).abs() < 1e-12, "{c}");
        assert_eq!(loss_chance(6_000, 60_000, 1000, 0.0, 100), 0.0);
    }

    #[test]
    fn short_or_unanswered_calls_are_not_judged() {
        let mut s = Script::new();
        connected(&mut s, "out-1", 1000, 1500);
        s.at(
            2000,
            "gateway",
            Event::CallEnd {
                call: "out-2",
                status: 486,
                reason: "busy",
                outcome: crate::history::EndOutcome::of_status(486),
            },
        );
        assert_eq!(
            check_media(&s.history(), &MediaParams::default(), 60_000),
            vec![]
        );
        let mut s = Script::new();
        connected(&mut s, "out-1", 1000, 5000);
        assert_eq!(
            check_media(&s.history(), &MediaParams::default(), 60_000).len(),
            1
        );
    }

    fn verbs(s: &mut Script, failed: usize) {
        const CALLS: [&str; 4] = ["in-1", "in-2", "in-3", "in-4"];
        for (i, call) in CALLS.iter().enumerate() {
            let ok = i >= failed;
            s.at(
                i as u64 * 100,
                "sip-1",
                Event::VerbResult {
                    call,
                    verb: "play",
                    ok,
                    code: if ok { 0 } else { 11200 },
                },
            );
        }
    }

    #[test]
    fn play_all_ok_is_quiet_and_failures_fire() {
        let mut s = Script::new();
        verbs(&mut s, 0);
        assert_eq!(
            check_play(&s.history(), &PlayParams::default(), 10_000),
            vec![]
        );
        let mut s = Script::new();
        verbs(&mut s, 1);
        let v = check_play(&s.history(), &PlayParams::default(), 10_000);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("3 of 4"));
        assert!(v[0].message.contains("11200"));
        let lenient = PlayParams {
            ratio_min: 0.75,
            verbs_min: 1,
        };
        assert_eq!(check_play(&s.history(), &lenient, 10_000), vec![]);
    }

    #[test]
    fn play_with_no_verbs_cannot_be_shown() {
        let s = Script::new();
        assert_eq!(
            check_play(&s.history(), &PlayParams::default(), 10_000).len(),
            1
        );
        let none_needed = PlayParams {
            ratio_min: 0.99,
            verbs_min: 0,
        };
        assert_eq!(check_play(&s.history(), &none_needed, 10_000), vec![]);
    }
}
