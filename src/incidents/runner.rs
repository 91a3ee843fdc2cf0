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
    #[serde(skip)]
    pub history: History,
}

/// Runs both variants. `root` is the repository root the catalogue's paths
/// are relative to. An `Err` is a test-bed failure (exit 5) or a bad
/// scenario (exit 2), with its message.
pub fn run_incident(incident: &Incident, root: &Path) -> Result<Vec<VariantResult>, (i32, String)> {
    let mut out = Vec::new();
    for (variant, path) in [
        (Variant::Buggy, &incident.buggy),
        (Variant::Fixed, &incident.fixed),
    ] {
        let scenario = Scenario::load(&root.join(path)).map_err(|e| (2, e.to_string()))?;
        let seed = scenario.run.seed;
        let report = crate::report::run_once(&scenario, seed)
            .map_err(|e| (5, format!("{} {:?}: {e}", incident.id, variant)))?;
        out.push(judge(incident, variant, report));
    }
    Ok(out)
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
