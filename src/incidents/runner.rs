//! Runs an incident's buggy and fixed variants and judges each against the
//! catalogue: the buggy one must break the expected oracles with every
//! figure inside its bounds; the fixed one must hold every property with
//! every figure inside its bounds.

use super::{metrics, Incident};
use crate::history::History;
use crate::oracles::Violation;
use crate::report::{Report, Verdict};
use crate::scenario::Scenario;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Buggy,
    Fixed,
}

/// One row of `incidents --json`.
#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    pub incident: String,
    pub variant: Variant,
    pub verdict: Verdict,
    pub expected: Verdict,
    pub reproduced: bool,
    pub figures: BTreeMap<String, f64>,
    pub bounds: BTreeMap<String, [f64; 2]>,
    pub violations: Vec<Violation>,
    pub sim_ms: u64,
    pub wall_ms: u64,
    pub seed: u64,
    pub trace_hash: String,
    /// Why `reproduced` is false (empty when it is true).
    pub misses: Vec<String>,
    /// The run's notable moments: faults, deploys, health changes, alerts.
    pub timeline: Vec<String>,
    /// How many calls a state-losing fault hit, which no oracle judged.
    #[serde(skip)]
    pub excused_calls: usize,
    #[serde(skip)]
    pub history: History,
}

/// Runs both variants at their files' seeds. `root` is the repository
/// root the catalogue's paths are relative to. An `Err` is a test-bed
/// failure (exit 5) or a bad scenario (exit 2), with its message.
pub fn run_incident(incident: &Incident, root: &Path) -> Result<Vec<VariantResult>, (i32, String)> {
    run_incident_over(incident, root, 1, 1, KeptHistories::FirstSeed)
}

/// Which rows of [`run_incident_over`] keep their run's history (a
/// catalogue over many seeds would otherwise hold every run's history at
/// once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptHistories {
    /// Each variant's first seed (what `incidents --html` draws).
    FirstSeed,
    /// Every row when there is one seed, none when there are several.
    OnlyWithOneSeed,
}

impl Incident {
    /// The scenario file of a variant.
    pub fn path(&self, variant: Variant) -> &Path {
        match variant {
            Variant::Buggy => &self.buggy,
            Variant::Fixed => &self.fixed,
        }
    }
}

/// Runs both variants on `seeds` seeds each, S..S+seeds-1 from each file's
/// own seed S, on `jobs` threads; rows in (variant, seed) order. Which
/// rows keep their history is `kept`.
pub fn run_incident_over(
    incident: &Incident,
    root: &Path,
    seeds: u64,
    jobs: usize,
    kept: KeptHistories,
) -> Result<Vec<VariantResult>, (i32, String)> {
    let mut work = Vec::new();
    for variant in [Variant::Buggy, Variant::Fixed] {
        let scenario =
            Scenario::load(&root.join(incident.path(variant))).map_err(|e| (2, e.to_string()))?;
        for offset in 0..seeds.max(1) {
            let keep = match kept {
                KeptHistories::FirstSeed => offset == 0,
                KeptHistories::OnlyWithOneSeed => seeds <= 1,
            };
            work.push((
                variant,
                scenario.clone(),
                scenario.run.seed.wrapping_add(offset),
                keep,
            ));
        }
    }
    let run = |(variant, scenario, seed, keep): &(Variant, Scenario, u64, bool)| {
        crate::report::run_once(scenario, *seed)
            .map_err(|e| (5, format!("{} {variant:?} seed {seed}: {e}", incident.id)))
            .map(|report| {
                let mut row = judge(incident, *variant, report);
                if !keep {
                    row.history = History::default();
                }
                row
            })
    };
    crate::testbed::parallel::map(&work, jobs, run, |_| {})
        .into_iter()
        .collect()
}

/// One variant of an incident over its seeds: how many reproduced, and
/// each figure's spread.
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    pub incident: String,
    pub variant: Variant,
    pub seeds: Vec<u64>,
    /// Seeds on which the variant did what the catalogue expects.
    pub reproduced: Vec<u64>,
    /// Per figure: [min, median, max] over the seeds.
    pub figures: BTreeMap<String, [f64; 3]>,
    pub bounds: BTreeMap<String, [f64; 2]>,
}

impl Spread {
    /// The spreads of each (incident, variant) among `rows`, in order.
    pub fn of(rows: &[VariantResult]) -> Vec<Spread> {
        let mut out: Vec<Spread> = Vec::new();
        for row in rows {
            let found = out
                .iter()
                .position(|s| s.incident == row.incident && s.variant == row.variant);
            let i = found.unwrap_or_else(|| {
                out.push(Spread {
                    incident: row.incident.clone(),
                    variant: row.variant,
                    seeds: Vec::new(),
                    reproduced: Vec::new(),
                    figures: BTreeMap::new(),
                    bounds: row.bounds.clone(),
                });
                out.len() - 1
            });
            let spread = &mut out[i];
            spread.seeds.push(row.seed);
            if row.reproduced {
                spread.reproduced.push(row.seed);
            }
        }
        for spread in &mut out {
            let mine: Vec<&VariantResult> = rows
                .iter()
                .filter(|r| r.incident == spread.incident && r.variant == spread.variant)
                .collect();
            let names: Vec<String> = mine
                .first()
                .map(|r| r.figures.keys().cloned().collect())
                .unwrap_or_default();
            for name in names {
                let mut values: Vec<f64> = mine
                    .iter()
                    .filter_map(|r| r.figures.get(&name).copied())
                    .filter(|v| !v.is_nan())
                    .collect();
                if values.is_empty() {
                    spread.figures.insert(name, [f64::NAN; 3]);
                    continue;
                }
                values.sort_by(f64::total_cmp);
                let median = values[values.len() / 2];
                spread
                    .figures
                    .insert(name, [values[0], median, values[values.len() - 1]]);
            }
        }
        out
    }

    pub fn all_reproduced(&self) -> bool {
        self.reproduced.len() == self.seeds.len()
    }
}

/// Judges one finished run of one variant.
pub fn judge(incident: &Incident, variant: Variant, report: Report) -> VariantResult {
    let calls = metrics::calls(&report.history);
    let mut figures = BTreeMap::new();
    let mut bounds = BTreeMap::new();
    let mut misses = Vec::new();
    for figure in &incident.figures {
        let value = figure.metric.measure(&report.history, &calls);
        figures.insert(figure.name.clone(), value);
        let b = match variant {
            Variant::Buggy => figure.buggy,
            Variant::Fixed => figure.fixed,
        };
        if let Some([lo, hi]) = b {
            bounds.insert(figure.name.clone(), [lo, hi]);
            if !(value >= lo && value <= hi) {
                misses.push(format!(
                    "{} = {} outside [{lo}, {hi}]",
                    figure.name,
                    fmt(value)
                ));
            }
        }
    }
    let expected = match variant {
        Variant::Buggy => {
            for oracle in &incident.buggy_violations {
                if !report.violations.iter().any(|v| &v.oracle == oracle) {
                    misses.push(format!("expected oracle {oracle} to fire; it held"));
                }
            }
            Verdict::Fail
        }
        Variant::Fixed => {
            if report.verdict == Verdict::Fail {
                misses.push(format!(
                    "{} violations in the fixed variant",
                    report.violations.len()
                ));
            }
            Verdict::Pass
        }
    };
    VariantResult {
        incident: incident.id.clone(),
        variant,
        verdict: report.verdict,
        expected,
        reproduced: misses.is_empty(),
        figures,
        bounds,
        violations: report.violations,
        sim_ms: report.sim_ms,
        wall_ms: report.wall_ms,
        seed: report.seed,
        trace_hash: report.trace_hash,
        misses,
        timeline: timeline(&report.history),
        excused_calls: report.excused_calls.len(),
        history: report.history,
    }
}

/// A figure for humans: integers without decimals, NaN as `-`.
pub fn fmt(value: f64) -> String {
    if value.is_nan() {
        "-".into()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}

/// Event kinds that make a run's timeline.
const TIMELINE_KINDS: [&str; 5] = [
    "fault.start",
    "fault.end",
    "deploy.apply",
    "health.change",
    "alert.fire",
];

/// The notable moments of a run, one line each (capped, so a flapping
/// health check cannot flood a report).
pub fn timeline(history: &History) -> Vec<String> {
    const LINES_MAX: usize = 60;
    let mut lines: Vec<String> = history
        .records
        .iter()
        .filter(|r| TIMELINE_KINDS.contains(&r.kind()))
        .map(|r| {
            let mut s = format!("{:>9} ms {} {}", r.t_ms, r.host, r.kind());
            for (name, value) in r.fields() {
                let text = value.to_string();
                if !text.is_empty() {
                    s.push_str(&format!(" {name}={text}"));
                }
            }
            s
        })
        .collect();
    if lines.len() > LINES_MAX {
        let more = lines.len() - LINES_MAX;
        lines.truncate(LINES_MAX);
        lines.push(format!("... {more} more"));
    }
    lines
}
