//! What the report's charts draw, read from a finished history and
//! nothing else: the run's timeline (fault intervals, alarm firings,
//! violations, health changes, ejections, deploys), call outcomes per
//! time window by status, the setup-time and call-duration samples, and
//! SIP messages sent per host per window.
//!
//! Everything is kept in `BTreeMap`s or in history order, so a page is
//! the same bytes for the same history.

use crate::history::History;
use crate::oracles::Violation;
use std::collections::BTreeMap;

/// The most windows a run is cut into (bars of the outcome chart,
/// columns of the host heat map).
pub const WINDOWS_MAX: u64 = 60;
/// The most rows a timeline or heat map draws; the rest are counted.
pub const ROWS_MAX: usize = 40;
/// The most marks one timeline row draws; the rest are counted.
pub const MARKS_MAX: usize = 400;

/// The 1-2-5 step at or above `at_least` (at least 1).
pub fn nice_step(at_least: u64) -> u64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if step * m >= at_least {
                return step * m;
            }
        }
        step *= 10;
    }
}

/// Consecutive windows `[k * width_ms, (k + 1) * width_ms)` from 0 that
/// cover a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub width_ms: u64,
    pub count: usize,
}

impl Windows {
    /// At most [`WINDOWS_MAX`] windows of a 1-2-5 width (100 ms at least)
    /// over `span_ms`.
    pub fn over(span_ms: u64) -> Windows {
        let width_ms = nice_step(span_ms.div_ceil(WINDOWS_MAX).max(100));
        let count = span_ms.div_ceil(width_ms).max(1) as usize;
        Windows { width_ms, count }
    }

    /// The window holding `t_ms` (the last one for times past the span).
    pub fn index(&self, t_ms: u64) -> usize {
        ((t_ms / self.width_ms) as usize).min(self.count - 1)
    }
}

/// A mark on a timeline row: an interval, or an instant when `to_ms` is
/// `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub from_ms: u64,
    pub to_ms: Option<u64>,
    /// The CSS class of the mark (`fault`, `alarm`, `violation`, ...).
    pub class: &'static str,
    /// Hover text.
    pub title: String,
}

/// One row of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: String,
    pub marks: Vec<Mark>,
    /// Marks left out past [`MARKS_MAX`].
    pub more: usize,
}

impl Row {
    fn new(label: String) -> Row {
        Row {
            label,
            marks: Vec::new(),
            more: 0,
        }
    }

    fn push(&mut self, mark: Mark) {
        if self.marks.len() < MARKS_MAX {
            self.marks.push(mark);
        } else {
            self.more += 1;
        }
    }
}

/// The run's timeline: one row per fault of the plan (its interval, open
/// to the run's end when it did not end), then a row per alarm monitor,
/// then violations, health changes, ejections and deploys, each only when
/// the run has some.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub span_ms: u64,
    pub rows: Vec<Row>,
    /// Rows left out past [`ROWS_MAX`].
    pub more_rows: usize,
}

pub fn timeline(history: &History, violations: &[Violation], span_ms: u64) -> Timeline {
    // Faults by plan index: kind, target, and their intervals.
    let mut faults: BTreeMap<u64, Row> = BTreeMap::new();
    let mut open: BTreeMap<u64, u64> = BTreeMap::new();
    let mut alarms: BTreeMap<String, Row> = BTreeMap::new();
    let mut health = Row::new("health checks".into());
    let mut ejections = Row::new("outlier ejections".into());
    let mut deploys = Row::new("deploys".into());
    for r in &history.records {
        match r.kind() {
            "fault.start" | "fault.end" => {
                let index = r.u64("fault").unwrap_or(0);
                let kind = r.str("fault_kind").unwrap_or("?");
                let target = r.str("target").unwrap_or("?");
                let row = faults
                    .entry(index)
                    .or_insert_with(|| Row::new(format!("#{index} {kind} {target}")));
                if r.is("fault.start") {
                    open.insert(index, r.t_ms);
                } else if let Some(from_ms) = open.remove(&index) {
                    row.push(fault_mark(index, kind, target, from_ms, Some(r.t_ms)));
                }
            }
            "alert.fire" => {
                let monitor = r.str("monitor").unwrap_or("?");
                let value = r.f64("value").unwrap_or(f64::NAN);
                let threshold = r.f64("threshold").unwrap_or(f64::NAN);
                alarms
                    .entry(monitor.to_string())
                    .or_insert_with(|| Row::new(format!("alarm {monitor}")))
                    .push(Mark {
                        from_ms: r.t_ms,
                        to_ms: None,
                        class: "alarm",
                        title: format!(
                            "{monitor} fired at {} (value {}, threshold {})",
                            time_text(r.t_ms),
                            short(value),
                            short(threshold)
                        ),
                    });
            }
            "health.change" => {
                let target = r.str("target").unwrap_or("?");
                let healthy = r.bool("healthy") == Some(true);
                health.push(Mark {
                    from_ms: r.t_ms,
                    to_ms: None,
                    class: if healthy { "healthy" } else { "unhealthy" },
                    title: format!(
                        "{} marks {target} {} at {}",
                        r.host,
                        if healthy { "healthy" } else { "unhealthy" },
                        time_text(r.t_ms)
                    ),
                });
            }
            "outlier.ejected" => {
                let target = r.str("target").unwrap_or("?");
                let ejected_ms = r.u64("ejected_ms").unwrap_or(0);
                ejections.push(Mark {
                    from_ms: r.t_ms,
                    to_ms: Some(r.t_ms.saturating_add(ejected_ms).min(span_ms)),
                    class: "ejection",
                    title: format!(
                        "{} ejects {target} at {} for {}",
                        r.host,
                        time_text(r.t_ms),
                        time_text(ejected_ms)
                    ),
                });
            }
            "deploy.apply" => {
                let aborted = r.str("aborted").unwrap_or("");
                deploys.push(Mark {
                    from_ms: r.t_ms,
                    to_ms: None,
                    class: if aborted.is_empty() {
                        "deploy"
                    } else {
                        "deploy-aborted"
                    },
                    title: format!(
                        "deploy to {} at {}: created [{}] deleted [{}]{}",
                        r.str("target_env").unwrap_or("?"),
                        time_text(r.t_ms),
                        r.str("created").unwrap_or(""),
                        r.str("deleted").unwrap_or(""),
                        if aborted.is_empty() {
                            String::new()
                        } else {
                            format!(", aborted: {aborted}")
                        }
                    ),
                });
            }
            _ => {}
        }
    }
    // Faults still active at the end run to the end of the span.
    for (index, from_ms) in open {
        let row = faults.get_mut(&index).expect("started faults have a row");
        let (kind, target) = row_kind_target(&row.label);
        let mark = fault_mark(index, &kind, &target, from_ms, None);
        row.push(Mark {
            to_ms: Some(span_ms.max(from_ms)),
            class: "fault open",
            ..mark
        });
    }
    let mut violation_row = Row::new("violations".into());
    for v in violations {
        violation_row.push(Mark {
            from_ms: v.at_ms,
            to_ms: None,
            class: "violation",
            title: format!("{} at {}: {}", v.oracle, time_text(v.at_ms), v.message),
        });
    }
    let mut rows: Vec<Row> = faults.into_values().collect();
    rows.extend(alarms.into_values());
    for row in [violation_row, health, ejections, deploys] {
        if !row.marks.is_empty() {
            rows.push(row);
        }
    }
    let more_rows = rows.len().saturating_sub(ROWS_MAX);
    rows.truncate(ROWS_MAX);
    Timeline {
        span_ms,
        rows,
        more_rows,
    }
}

fn fault_mark(index: u64, kind: &str, target: &str, from_ms: u64, to_ms: Option<u64>) -> Mark {
    Mark {
        from_ms,
        to_ms,
        class: "fault",
        title: format!(
            "fault #{index} {kind} on {target}: {} to {}",
            time_text(from_ms),
            to_ms.map_or("the end".to_string(), time_text)
        ),
    }
}

/// The kind and target back from a fault row's label `#i kind target`.
fn row_kind_target(label: &str) -> (String, String) {
    let mut words = label.splitn(3, ' ').skip(1);
    let kind = words.next().unwrap_or("?").to_string();
    let target = words.next().unwrap_or("?").to_string();
    (kind, target)
}

/// Calls ended per window, by final status (`call.end`'s `status`,
/// ordered numerically).
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeWindows {
    pub windows: Windows,
    /// Per status, the calls that ended with it in each window.
    pub by_status: BTreeMap<u64, Vec<u64>>,
}

impl OutcomeWindows {
    pub fn total(&self) -> u64 {
        self.by_status.values().flatten().sum()
    }
}

pub fn outcome_windows(history: &History, windows: Windows) -> OutcomeWindows {
    let mut by_status: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for r in history.of_kind("call.end") {
        let status = r.u64("status").unwrap_or(0);
        by_status
            .entry(status)
            .or_insert_with(|| vec![0; windows.count])[windows.index(r.t_ms)] += 1;
    }
    OutcomeWindows { windows, by_status }
}

/// Per call, `call.start` to its first `call.end`, in ms, in call-id
/// order (calls that never ended are left out).
pub fn call_durations_ms(history: &History) -> Vec<u64> {
    let mut started: BTreeMap<&str, u64> = BTreeMap::new();
    let mut ended: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &history.records {
        let Some(call) = r.call() else { continue };
        match r.kind() {
            "call.start" => {
                started.entry(call).or_insert(r.t_ms);
            }
            "call.end" => {
                ended.entry(call).or_insert(r.t_ms);
            }
            _ => {}
        }
    }
    ended
        .iter()
        .filter_map(|(call, end)| started.get(call).map(|start| end.saturating_sub(*start)))
        .collect()
}

/// Samples counted in bins of a 1-2-5 width from 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    pub bin_ms: u64,
    pub counts: Vec<u64>,
}

/// The most bins a histogram has.
pub const BINS_MAX: u64 = 30;

pub fn histogram(samples: &[u64]) -> Histogram {
    let max = samples.iter().copied().max().unwrap_or(0);
    let bin_ms = nice_step((max + 1).div_ceil(BINS_MAX));
    let mut counts = vec![0; (max / bin_ms + 1) as usize];
    for s in samples {
        counts[(s / bin_ms) as usize] += 1;
    }
    Histogram { bin_ms, counts }
}

/// SIP messages each host sent (`sip.send`, retransmissions included)
/// per window, hosts by name.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRates {
    pub windows: Windows,
    pub hosts: Vec<(String, Vec<u64>)>,
    /// Hosts left out past [`ROWS_MAX`] (the busiest are kept).
    pub more_hosts: usize,
}

pub fn host_rates(history: &History, windows: Windows) -> HostRates {
    let mut by_host: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for r in history.of_kind("sip.send") {
        by_host
            .entry(&r.host)
            .or_insert_with(|| vec![0; windows.count])[windows.index(r.t_ms)] += 1;
    }
    let mut hosts: Vec<(String, Vec<u64>)> = by_host
        .into_iter()
        .map(|(h, counts)| (h.to_string(), counts))
        .collect();
    let more_hosts = hosts.len().saturating_sub(ROWS_MAX);
    if more_hosts > 0 {
        // Keep the busiest, then put them back in name order.
        hosts.sort_by(|a, b| {
            let (sa, sb) = (a.1.iter().sum::<u64>(), b.1.iter().sum::<u64>());
            sb.cmp(&sa).then_with(|| a.0.cmp(&b.0))
        });
        hosts.truncate(ROWS_MAX);
        hosts.sort_by(|a, b| a.0.cmp(&b.0));
    }
    HostRates {
        windows,
        hosts,
        more_hosts,
    }
}

/// Sim time for people: `0s`, `1.5s`, `90s`, `2m`, `2m30s`.
pub fn time_text(ms: u64) -> String {
    if ms >= 60_000 && ms.is_multiple_of(1000) {
        let (m, s) = (ms / 60_000, ms / 1000 % 60);
        return if s == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{s}s")
        };
    }
    if ms.is_multiple_of(1000) {
        return format!("{}s", ms / 1000);
    }
    let mut s = format!("{}.{:03}", ms / 1000, ms % 1000);
    while s.ends_with('0') {
        s.pop();
    }
    s.push('s');
    s
}

/// A figure for people: integers without decimals, else four at most;
/// NaN as `-`.
pub fn short(value: f64) -> String {
    if value.is_nan() {
        "-".into()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let mut s = format!("{value:.4}");
        while s.ends_with('0') {
            s.pop();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Record, Value};

    #[test]
    fn steps_are_1_2_5() {
        let steps: Vec<u64> = [0, 1, 2, 3, 6, 11, 150, 4000].map(nice_step).to_vec();
        assert_eq!(steps, vec![1, 1, 2, 5, 10, 20, 200, 5000]);
    }

    #[test]
    fn windows_cover_the_span_with_60_at_most() {
        assert_eq!(
            Windows::over(10_000),
            Windows {
                width_ms: 200,
                count: 50
            }
        );
        assert_eq!(
            Windows::over(1_200_000),
            Windows {
                width_ms: 20_000,
                count: 60
            }
        );
        assert_eq!(
            Windows::over(0),
            Windows {
                width_ms: 100,
                count: 1
            }
        );
        let w = Windows::over(1000);
        assert_eq!(w.index(5000), w.count - 1);
    }

    #[test]
    fn time_text_reads_like_a_scenario_file() {
        let texts: Vec<String> = [0, 1500, 90_000, 120_000, 150_000, 250]
            .map(time_text)
            .to_vec();
        assert_eq!(texts, vec!["0s", "1.5s", "1m30s", "2m", "2m30s", "0.25s"]);
    }

    #[test]
    fn histogram_bins_hold_every_sample() {
        let h = histogram(&[0, 1, 2, 59, 60, 61]);
        assert_eq!(h.bin_ms, 5);
        assert_eq!(h.counts.iter().sum::<u64>(), 6);
        assert_eq!(h.counts.len(), 13);
        assert_eq!((h.counts[0], h.counts[11], h.counts[12]), (3, 1, 2));
        assert_eq!(histogram(&[]).counts, vec![0]);
    }

    fn rec(t_ms: u64, kind: &str, fields: Vec<(&'static str, Value)>) -> Record {
        Record::new(t_ms, "testbed", kind, fields)
    }

    #[test]
    fn fault_intervals_pair_start_and_end_and_open_ones_run_to_the_end() {
        let fault = |t, kind: &str, i| {
            rec(
                t,
                kind,
                vec![
                    ("fault", Value::U64(i)),
                    ("fault_kind", Value::Str("loss".into())),
                    ("target", Value::Str("sip".into())),
                ],
            )
        };
        let history = History {
            records: vec![
                fault(100, "fault.start", 0),
                fault(200, "fault.start", 1),
                fault(300, "fault.end", 0),
            ],
        };
        let t = timeline(&history, &[], 1000);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].label, "#0 loss sip");
        assert_eq!(
            (t.rows[0].marks[0].from_ms, t.rows[0].marks[0].to_ms),
            (100, Some(300))
        );
        assert_eq!(
            (t.rows[1].marks[0].from_ms, t.rows[1].marks[0].to_ms),
            (200, Some(1000))
        );
        assert_eq!(t.rows[1].marks[0].class, "fault open");
    }
}
