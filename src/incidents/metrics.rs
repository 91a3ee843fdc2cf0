//! Figures measured from a history: the generic metrics the incident
//! catalogue names. None knows about any incident; each is a question about
//! calls and events ("how many sync calls ended with 408 before their
//! ringing_timeout?", "when did the call-duration monitor first fire?").

use crate::history::History;
use crate::sim::Dur;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One call as the history tells it, joined by call id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallSummary {
    pub id: String,
    pub start_ms: Option<u64>,
    pub direction: String,
    pub mode: String,
    pub ringing_timeout_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub status: Option<u64>,
    pub reason: String,
    /// `call.end`'s outcome (or what its status implies).
    pub outcome: Option<String>,
    pub answered: bool,
    pub callee_outcome: Option<String>,
    /// When the carrier recorded the callee's outcome, ms after call.start.
    pub callee_outcome_after_ms: Option<u64>,
    /// Hosts that recorded `media.rx` for this call.
    pub media_rx_hosts: BTreeSet<String>,
}

impl CallSummary {
    pub fn duration_ms(&self) -> Option<u64> {
        Some(self.end_ms?.saturating_sub(self.start_ms?))
    }

    /// Connected (answered) but media missing in at least one direction:
    /// the carrier heard nothing, or no platform host did.
    pub fn is_silent(&self) -> bool {
        let carrier_heard = self.media_rx_hosts.contains("carrier");
        let platform_heard = self.media_rx_hosts.iter().any(|h| h != "carrier");
        self.answered && !(carrier_heard && platform_heard)
    }
}

/// Every call of the history, in order of first appearance.
pub fn calls(history: &History) -> Vec<CallSummary> {
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<CallSummary> = Vec::new();
    for r in &history.records {
        let Some(call) = r.call() else { continue };
        let i = *index.entry(call.to_string()).or_insert_with(|| {
            out.push(CallSummary {
                id: call.to_string(),
                ..Default::default()
            });
            out.len() - 1
        });
        let c = &mut out[i];
        match r.kind() {
            "call.start" => {
                c.start_ms = Some(r.t_ms);
                c.direction = r.str("direction").unwrap_or_default().to_string();
                c.mode = r.str("mode").unwrap_or_default().to_string();
                c.ringing_timeout_ms = r.u64("ringing_timeout_ms");
            }
            "call.end" if c.end_ms.is_none() => {
                c.end_ms = Some(r.t_ms);
                c.status = r.u64("status");
                c.reason = r.str("reason").unwrap_or_default().to_string();
                c.outcome = Some(
                    crate::history::EndOutcome::of_record(r)
                        .as_str()
                        .to_string(),
                );
            }
            "call.answered" => c.answered = true,
            "callee.outcome" if c.callee_outcome.is_none() => {
                c.callee_outcome = r.str("outcome").map(str::to_string);
                c.callee_outcome_after_ms = c.start_ms.map(|s| r.t_ms.saturating_sub(s));
            }
            "media.rx" => {
                c.media_rx_hosts.insert(r.host.to_string());
            }
            _ => {}
        }
    }
    out
}

/// Which calls a metric looks at. Every field is optional; all given must
/// match.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CallFilter {
    /// The call id starts with this (`out-`, `in-`, `probe-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_prefix: Option<String>,
    /// `outbound` or `inbound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// `sync` or `async`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The call ended with one of these statuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<u64>>,
    /// The call ended with none of these statuses (an unended call matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_not: Option<Vec<u64>>,
    /// The call was (not) answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<bool>,
    /// The callee outcome the carrier recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callee_outcome: Option<String>,
    /// The callee's outcome was recorded at least this long after start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callee_outcome_from: Option<Dur>,
    /// The callee's outcome was recorded less than this long after start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callee_outcome_before: Option<Dur>,
    /// The call ended before (true) or not before (false) its ringing_timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_before_ringing_timeout: Option<bool>,
    /// Started at or after this sim time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_from: Option<Dur>,
    /// Started before this sim time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_until: Option<Dur>,
    /// Connected but media missing in at least one direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent: Option<bool>,
    /// Has ended (a `call.end` was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<bool>,
    /// The first `call.end` gave one of these reasons (for an inbound call,
    /// the carrier's: `platform hung up` is a call the platform dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Vec<String>>,
    /// The call ended with one of these outcomes (`completed`,
    /// `no-answer`, `rejected`, `cancelled`, `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Vec<String>>,
    /// The call ended with none of these outcomes (an unended call
    /// matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_not: Option<Vec<String>>,
}

impl CallFilter {
    /// Checks the names a filter compares against (`outcome`,
    /// `outcome_not`): a misspelt outcome would match nothing, silently.
    pub fn validate(&self, field: &str) -> Result<(), crate::sim::FieldError> {
        for (name, list) in [
            ("outcome", &self.outcome),
            ("outcome_not", &self.outcome_not),
        ] {
            for o in list.iter().flatten() {
                if crate::history::EndOutcome::parse(o).is_none() {
                    let known: Vec<&str> = crate::history::EndOutcome::ALL
                        .iter()
                        .map(|o| o.as_str())
                        .collect();
                    return Err(crate::sim::FieldError::new(
                        format!("{field}.{name}"),
                        format!("unknown outcome {o:?}; known: {}", known.join(", ")),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether `c` belongs in the base of a share: it matches, and it has
    /// ended unless the filter asks about `ended` itself. A call still in
    /// progress when the run stops has no outcome yet, so it counts neither
    /// for nor against a share (an answered call that is still talking at
    /// the end is not a failed one).
    pub fn judges(&self, c: &CallSummary) -> bool {
        self.matches(c) && (self.ended.is_some() || c.end_ms.is_some())
    }

    pub fn matches(&self, c: &CallSummary) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let start = c.start_ms.unwrap_or(0);
        self.id_prefix
            .as_ref()
            .is_none_or(|p| c.id.starts_with(p.as_str()))
            && eq(&self.direction, &c.direction)
            && eq(&self.mode, &c.mode)
            && self
                .status
                .as_ref()
                .is_none_or(|s| c.status.is_some_and(|st| s.contains(&st)))
            && self
                .status_not
                .as_ref()
                .is_none_or(|s| c.status.is_none_or(|st| !s.contains(&st)))
            && self.answered.is_none_or(|a| a == c.answered)
            && self
                .callee_outcome
                .as_ref()
                .is_none_or(|o| c.callee_outcome.as_deref() == Some(o.as_str()))
            && self.callee_outcome_from.is_none_or(|f| {
                c.callee_outcome_after_ms
                    .is_some_and(|t| t >= f.as_millis())
            })
            && self
                .callee_outcome_before
                .is_none_or(|b| c.callee_outcome_after_ms.is_some_and(|t| t < b.as_millis()))
            && self.ended_before_ringing_timeout.is_none_or(|want| {
                let before = match (c.duration_ms(), c.ringing_timeout_ms) {
                    (Some(d), Some(rt)) => d < rt,
                    _ => false,
                };
                want == before
            })
            && self.started_from.is_none_or(|f| start >= f.as_millis())
            && self.started_until.is_none_or(|u| start < u.as_millis())
            && self.silent.is_none_or(|s| s == c.is_silent())
            && self.ended.is_none_or(|e| e == c.end_ms.is_some())
            && self
                .reason
                .as_ref()
                .is_none_or(|rs| c.end_ms.is_some() && rs.contains(&c.reason))
            && self
                .outcome
                .as_ref()
                .is_none_or(|os| c.outcome.as_ref().is_some_and(|o| os.contains(o)))
            && self
                .outcome_not
                .as_ref()
                .is_none_or(|os| c.outcome.as_ref().is_none_or(|o| !os.contains(o)))
    }
}

/// Which events a metric looks at: a kind and field values that must match.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    pub event: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, toml::Value>,
    /// Emitted by a host whose name starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_prefix: Option<String>,
}

impl EventFilter {
    pub fn matches(&self, r: &crate::history::Record) -> bool {
        use crate::history::Value;
        if r.kind() != &*self.event {
            return false;
        }
        if let Some(p) = &self.host_prefix {
            if !r.host.starts_with(p.as_str()) {
                return false;
            }
        }
        self.fields
            .iter()
            .all(|(name, want)| match (r.get(name), want) {
                (Some(Value::Str(s)), toml::Value::String(w)) => **s == **w,
                (Some(Value::Bool(b)), toml::Value::Boolean(w)) => b == w,
                (Some(Value::U64(v)), toml::Value::Integer(w)) => *w >= 0 && *v == *w as u64,
                (Some(Value::I64(v)), toml::Value::Integer(w)) => v == w,
                _ => false,
            })
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    Min,
    Max,
    Mean,
    /// Max - min: how long a run of events or calls lasted.
    Span,
}

fn stat(values: &[f64], s: Stat) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    match s {
        Stat::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Stat::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Stat::Mean => values.iter().sum::<f64>() / values.len() as f64,
        Stat::Span => stat(values, Stat::Max) - stat(values, Stat::Min),
    }
}

impl Metric {
    /// The call filters of this metric, by field name.
    pub fn call_filters(&self) -> Vec<(&'static str, &CallFilter)> {
        match self {
            Metric::Calls { filter }
            | Metric::CallDurationMs { filter, .. }
            | Metric::CallStartMs { filter, .. }
            | Metric::CallsBefore { filter, .. } => vec![("filter", filter)],
            Metric::CallShare { filter, of } | Metric::WindowCallShareMax { filter, of, .. } => {
                vec![("filter", filter), ("of", of)]
            }
            Metric::AlertAtMs { .. }
            | Metric::Alerts { .. }
            | Metric::Events { .. }
            | Metric::EventShare { .. }
            | Metric::EventField { .. }
            | Metric::DelayMs { .. } => Vec::new(),
        }
    }
}

/// A figure's definition. NaN (printed `-`) means "no data", which is
/// outside every bound.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Metric {
    /// Number of calls matching `filter`.
    Calls {
        #[serde(default)]
        filter: CallFilter,
    },
    /// Calls matching `filter` among calls matching `of` (0 when `of` is
    /// empty).
    CallShare {
        #[serde(default)]
        filter: CallFilter,
        #[serde(default)]
        of: CallFilter,
    },
    /// A statistic of call durations (end - start), in ms.
    CallDurationMs {
        #[serde(default)]
        filter: CallFilter,
        stat: Stat,
    },
    /// A statistic of the start times of calls matching `filter`, in ms of
    /// sim time (`span`: from the first such start to the last).
    CallStartMs {
        #[serde(default)]
        filter: CallFilter,
        stat: Stat,
    },
    /// For each event matching `event`, the calls matching `filter` that
    /// started in the `window` before it; a statistic of those counts
    /// ("did calls keep failing right up to each restart?").
    CallsBefore {
        #[serde(default)]
        filter: CallFilter,
        event: EventFilter,
        window: Dur,
        stat: Stat,
    },
    /// Sim time of the monitor's first alert; -1 when it never fired.
    AlertAtMs { monitor: String },
    /// Number of alerts the monitor fired.
    Alerts { monitor: String },
    /// Number of events matching.
    Events { filter: EventFilter },
    /// Events matching `filter` among events matching `of`.
    EventShare {
        filter: EventFilter,
        of: EventFilter,
    },
    /// The largest share of `filter` calls among `of` calls started in any
    /// window of length `window` (windows with fewer than `min_calls` calls
    /// are skipped): bursts.
    WindowCallShareMax {
        #[serde(default)]
        filter: CallFilter,
        #[serde(default)]
        of: CallFilter,
        window: Dur,
        #[serde(default = "default_min_calls")]
        min_calls: usize,
    },
    /// A statistic of the numeric `field` over the events matching
    /// `filter` (events without it are skipped; none at all is NaN):
    /// peak slot occupancy (`slot.occupancy`, `in_use`, max), the time to
    /// a response as the client saw it (`client.response`, `ms`, mean).
    EventField {
        filter: EventFilter,
        field: String,
        stat: Stat,
    },
    /// For each `from` event, the delay to the next `to` event (ms); a
    /// statistic of those delays. A `from` with no later `to` counts as
    /// "never" and makes the result NaN.
    DelayMs {
        from: EventFilter,
        to: EventFilter,
        stat: Stat,
    },
}

fn default_min_calls() -> usize {
    5
}

impl Metric {
    pub fn measure(&self, history: &History, calls: &[CallSummary]) -> f64 {
        match self {
            Metric::Calls { filter } => calls.iter().filter(|c| filter.matches(c)).count() as f64,
            Metric::CallShare { filter, of } => {
                share(calls, |c| of.judges(c), |c| filter.matches(c))
            }
            Metric::CallDurationMs { filter, stat: s } => {
                call_stat(calls, filter, CallSummary::duration_ms, *s)
            }
            Metric::CallStartMs { filter, stat: s } => call_stat(calls, filter, |c| c.start_ms, *s),
            Metric::CallsBefore {
                filter,
                event,
                window,
                stat: s,
            } => calls_before(history, calls, filter, event, *window, *s),
            Metric::AlertAtMs { monitor } => history
                .of_kind("alert.fire")
                .find(|r| r.str("monitor") == Some(monitor.as_str()))
                .map(|r| r.t_ms as f64)
                .unwrap_or(-1.0),
            Metric::Alerts { monitor } => history
                .of_kind("alert.fire")
                .filter(|r| r.str("monitor") == Some(monitor.as_str()))
                .count() as f64,
            Metric::Events { filter } => {
                history.records.iter().filter(|r| filter.matches(r)).count() as f64
            }
            Metric::EventShare { filter, of } => {
                share(&history.records, |r| of.matches(r), |r| filter.matches(r))
            }
            Metric::EventField {
                filter,
                field,
                stat: s,
            } => {
                let values: Vec<f64> = history
                    .records
                    .iter()
                    .filter(|r| filter.matches(r))
                    .filter_map(|r| r.f64(field))
                    .collect();
                stat(&values, *s)
            }
            Metric::WindowCallShareMax {
                filter,
                of,
                window,
                min_calls,
            } => window_call_share_max(calls, filter, of, *window, *min_calls),
            Metric::DelayMs { from, to, stat: s } => delay_ms(history, from, to, *s),
        }
    }
}

/// The share of the items matching `of` that also match `filter`; 0 when
/// none matches `of`.
fn share<T>(items: &[T], of: impl Fn(&T) -> bool, filter: impl Fn(&T) -> bool) -> f64 {
    let base: Vec<&T> = items.iter().filter(|x| of(x)).collect();
    if base.is_empty() {
        return 0.0;
    }
    base.iter().filter(|x| filter(x)).count() as f64 / base.len() as f64
}

/// A statistic of `value` over the calls matching `filter` that have one.
fn call_stat(
    calls: &[CallSummary],
    filter: &CallFilter,
    value: impl Fn(&CallSummary) -> Option<u64>,
    s: Stat,
) -> f64 {
    let values: Vec<f64> = calls
        .iter()
        .filter(|c| filter.matches(c))
        .filter_map(value)
        .map(|v| v as f64)
        .collect();
    stat(&values, s)
}

/// For each event matching `event`, the calls matching `filter` that
/// started in the `window` before it; a statistic of those counts.
fn calls_before(
    history: &History,
    calls: &[CallSummary],
    filter: &CallFilter,
    event: &EventFilter,
    window: Dur,
    s: Stat,
) -> f64 {
    let counts: Vec<f64> = history
        .records
        .iter()
        .filter(|r| event.matches(r))
        .map(|r| {
            let from = r.t_ms.saturating_sub(window.as_millis());
            calls
                .iter()
                .filter(|c| c.start_ms.is_some_and(|t| t >= from && t < r.t_ms))
                .filter(|c| filter.matches(c))
                .count() as f64
        })
        .collect();
    stat(&counts, s)
}

/// The largest share of `filter` calls among `of` calls started in one
/// window of `window` (of those with at least `min_calls` calls).
fn window_call_share_max(
    calls: &[CallSummary],
    filter: &CallFilter,
    of: &CallFilter,
    window: Dur,
    min_calls: usize,
) -> f64 {
    let w = window.as_millis().max(1);
    let mut buckets: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for c in calls.iter().filter(|c| of.judges(c)) {
        let b = buckets.entry(c.start_ms.unwrap_or(0) / w).or_default();
        b.1 += 1;
        if filter.matches(c) {
            b.0 += 1;
        }
    }
    buckets
        .values()
        .filter(|(_, n)| *n >= min_calls)
        .map(|(k, n)| *k as f64 / *n as f64)
        .fold(0.0, f64::max)
}

/// A statistic of the delays from each `from` event to the next `to`
/// event; NaN when a `from` has no later `to`.
fn delay_ms(history: &History, from: &EventFilter, to: &EventFilter, s: Stat) -> f64 {
    let mut delays = Vec::new();
    for (i, r) in history.records.iter().enumerate() {
        if !from.matches(r) {
            continue;
        }
        match history.records[i + 1..].iter().find(|t| to.matches(t)) {
            Some(t) => delays.push((t.t_ms - r.t_ms) as f64),
            None => return f64::NAN,
        }
    }
    stat(&delays, s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::{Direction, Mode};
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    #[test]
    fn a_misspelt_outcome_in_a_filter_is_refused() {
        let metric: Metric = toml::from_str(
            "kind = \"call_share\"\nfilter = { outcome = [\"complete\"] }\nof = { outcome_not = [\"failed\"] }",
        )
        .expect("parses");
        let errors: Vec<_> = metric
            .call_filters()
            .into_iter()
            .filter_map(|(name, f)| f.validate(name).err())
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "filter.outcome");
        assert!(
            errors[0].message.contains("known: completed"),
            "{}",
            errors[0].message
        );
    }

    /// Three inbound calls: in-1 completes, in-2 and in-3 are dropped by
    /// the platform; a restart comes at 70 s.
    fn history() -> History {
        let mut s = Script::new();
        for (id, start, end, reason) in [
            ("in-1", 1_000, 20_000, "completed"),
            ("in-2", 30_000, 40_000, "platform hung up"),
            ("in-3", 65_000, 80_000, "platform hung up"),
        ] {
            s.at(
                start,
                "carrier",
                Event::CallStart {
                    call: id,
                    direction: Direction::Inbound,
                    mode: Mode::Sync,
                    ringing_timeout_ms: 60_000,
                },
            );
            s.at(
                end,
                "carrier",
                Event::CallEnd {
                    call: id,
                    status: 200,
                    reason,
                    outcome: crate::history::EndOutcome::of_status(200),
                },
            );
        }
        s.at(
            70_000,
            "testbed",
            Event::FaultStart {
                fault: 1,
                kind: "operator",
                target: "sbc-edge-1",
            },
        );
        s.history()
    }

    fn measure(metric: &str) -> f64 {
        let h = history();
        let m: Metric = toml::from_str::<toml::Table>(&format!("m = {metric}")).expect("toml")["m"]
            .clone()
            .try_into()
            .expect("a metric");
        m.measure(&h, &calls(&h))
    }

    #[test]
    fn a_call_still_in_progress_at_the_end_counts_neither_way_in_a_share() {
        let mut h = history();
        h.records.push(crate::history::Record::new(
            90_000,
            "carrier",
            "call.start",
            vec![("call", crate::history::Value::Str("in-4".into()))],
        ));
        let all = calls(&h);
        let share = |of: &str| {
            let m: Metric = toml::from_str::<toml::Table>(&format!(
                r#"m = {{ kind = "call_share", filter = {{ status = [200] }}, of = {of} }}"#
            ))
            .expect("toml")["m"]
                .clone()
                .try_into()
                .expect("a metric");
            m.measure(&h, &all)
        };
        // in-4 has no end: the three ended calls all ended 200.
        assert_eq!(share(r#"{ id_prefix = "in-" }"#), 1.0);
        // A base that asks about `ended` keeps its own meaning.
        assert_eq!(share(r#"{ id_prefix = "in-", ended = false }"#), 0.0);
    }

    #[test]
    fn event_field_takes_a_statistic_of_a_numeric_field() {
        // The fault's plan index is the only numeric `fault` field.
        let m = |stat: &str, field: &str| {
            measure(&format!(
                r#"{{ kind = "event_field", filter = {{ event = "call.end" }}, field = "{field}", stat = "{stat}" }}"#
            ))
        };
        assert_eq!(m("max", "status"), 200.0);
        assert_eq!(m("mean", "status"), 200.0);
        // A field no matching event has gives no data.
        assert!(m("max", "in_use").is_nan());
        let fault = measure(
            r#"{ kind = "event_field", filter = { event = "fault.start" }, field = "fault", stat = "max" }"#,
        );
        assert_eq!(fault, 1.0);
        let starts = measure(
            r#"{ kind = "event_field", filter = { event = "call.start", host_prefix = "carrier" }, field = "ringing_timeout_ms", stat = "min" }"#,
        );
        assert_eq!(starts, 60_000.0);
    }

    #[test]
    fn reason_filter_and_start_span() {
        let dropped = r#"{ reason = ["platform hung up"] }"#;
        assert_eq!(
            measure(&format!(r#"{{ kind = "calls", filter = {dropped} }}"#)),
            2.0
        );
        assert_eq!(
            measure(&format!(
                r#"{{ kind = "call_start_ms", stat = "span", filter = {dropped} }}"#
            )),
            35_000.0
        );
        assert_eq!(
            measure(r#"{ kind = "call_start_ms", stat = "min", filter = { id_prefix = "in-" } }"#),
            1_000.0
        );
        assert!(measure(
            r#"{ kind = "call_start_ms", stat = "span", filter = { id_prefix = "out-" } }"#
        )
        .is_nan());
    }

    #[test]
    fn calls_before_counts_per_event_in_the_window() {
        let before = |window: &str| {
            measure(&format!(
                r#"{{ kind = "calls_before", filter = {{ reason = ["platform hung up"] }}, event = {{ event = "fault.start", fields = {{ fault_kind = "operator" }} }}, window = "{window}", stat = "min" }}"#
            ))
        };
        // in-3 started 5 s before the restart, in-2 40 s before.
        assert_eq!(before("10s"), 1.0);
        assert_eq!(before("60s"), 2.0);
        assert_eq!(before("1s"), 0.0);
    }
}
