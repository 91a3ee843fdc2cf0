//! The HTML run report (`run --html FILE`, `incidents --html DIR`): one
//! self-contained page per run, or per incident with its buggy and fixed
//! runs side by side. No script, no stylesheet or font to fetch: the CSS
//! is inline and every chart is inline SVG drawn here, so a page renders
//! offline, and the same history gives the same bytes (no wall clock, no
//! map iteration order; see ARCHITECTURE.md for why SVG is drawn by hand
//! rather than through a plotting crate).
//!
//! # Layout
//! - `markup`: the escaping element writer every page goes through.
//! - `svg`: chart primitives (frame, scales, axes, legend, palette).
//! - `data`: what the charts draw, read from a history.
//! - `charts`: the timeline, outcome bars, histograms, host heat map and
//!   figure bullets.
//! - `page`: the document (head, CSS) and the sections of a run.

mod charts;
pub mod data;
pub mod markup;
mod page;
mod svg;

use crate::history::History;
use crate::oracles::Violation;
use crate::report::{Report, Verdict};

/// One run as the report shows it.
#[derive(Debug, Clone, Copy)]
pub struct RunView<'a> {
    /// The scenario path, as given.
    pub scenario: &'a str,
    pub seed: u64,
    pub verdict: Verdict,
    pub sim_ms: u64,
    pub trace_hash: &'a str,
    /// The fault plan as expanded for the seed, one line per fault.
    pub plan: &'a [String],
    /// Calls a state-losing fault hit, which no oracle judged.
    pub excused_calls: usize,
    pub history: &'a History,
    pub violations: &'a [Violation],
}

impl<'a> RunView<'a> {
    pub fn of_report(report: &'a Report) -> RunView<'a> {
        RunView {
            scenario: &report.scenario,
            seed: report.seed,
            verdict: report.verdict,
            sim_ms: report.sim_ms,
            trace_hash: &report.trace_hash,
            plan: &report.faults,
            excused_calls: report.excused_calls.len(),
            history: &report.history,
            violations: &report.violations,
        }
    }
}

/// The page of one run (`run --html`).
pub fn run_page(run: &RunView<'_>) -> String {
    let title = format!("callsim: {} seed {}", run.scenario, run.seed);
    page::document(&title, |m| {
        m.element("h1", &[], &title);
        page::run_sections(m, "", run);
    })
}

/// One incident variant's side of a comparison page.
#[derive(Debug, Clone)]
pub struct Side<'a> {
    /// `buggy` or `fixed`: the prefix of the side's element ids.
    pub label: &'static str,
    /// What the catalogue expects of it: `fail` (buggy) or `pass` (fixed).
    pub expected: Verdict,
    /// Seeds on which it did what the catalogue expects, of seeds run.
    pub reproduced: (usize, usize),
    /// Why the drawn run did not reproduce (empty when it did).
    pub misses: &'a [String],
    /// The run drawn: the variant's first seed.
    pub run: RunView<'a>,
}

/// One figure of the catalogue on a comparison page.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureRow {
    pub name: String,
    pub about: String,
    /// Buggy, then fixed.
    pub cells: [FigureCell; 2],
}

/// A figure's value in one variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FigureCell {
    /// In the drawn run (NaN when not measurable).
    pub value: f64,
    /// [min, median, max] over every seed run, when more than one.
    pub spread: Option<[f64; 3]>,
    /// The catalogue's bounds for the variant, when it judges it there.
    pub bounds: Option<[f64; 2]>,
}

impl FigureCell {
    /// Within its bounds (true when the variant does not judge it).
    pub fn holds(&self) -> bool {
        self.bounds
            .is_none_or(|[lo, hi]| self.value >= lo && self.value <= hi)
    }
}

/// An incident's page: buggy and fixed side by side.
#[derive(Debug, Clone)]
pub struct Comparison<'a> {
    pub id: &'a str,
    pub title: &'a str,
    /// The incident reports it reproduces.
    pub reports: &'a [String],
    pub figures: Vec<FigureRow>,
    /// Buggy, then fixed.
    pub sides: [Side<'a>; 2],
}

/// The page of one incident (`incidents --html DIR`).
pub fn comparison_page(c: &Comparison<'_>) -> String {
    let title = format!("callsim incident {}: {}", c.id, c.title);
    page::document(&title, |m| {
        m.element("h1", &[], &title);
        page::comparison(m, c);
    })
}

/// One line of the index of `incidents --html DIR`.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    pub id: String,
    pub title: String,
    /// The page's file name, relative to the index.
    pub file: String,
    /// Every seed of both variants did what the catalogue expects.
    pub reproduced: bool,
}

/// The index of `incidents --html DIR`: a link per incident page.
pub fn index_page(entries: &[IndexEntry]) -> String {
    page::document("callsim incidents", |m| {
        m.element("h1", &[], "callsim incidents");
        page::index(m, entries);
    })
}

#[cfg(test)]
mod tests;
