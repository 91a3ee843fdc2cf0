//! `incidents --html DIR`: one self-contained page per incident
//! (`report::html::comparison_page`), `DIR/<id>.html`, with the
//! catalogue's figures against their bounds and the first seed of each
//! variant side by side, and `DIR/index.html` linking them. The rows of
//! each variant's first seed must carry their history
//! (`KeptHistories::FirstSeed`).

use super::exit;
use crate::incidents::runner::{Spread, Variant, VariantResult};
use crate::incidents::{Catalogue, Incident};
use crate::report::html::{self, Comparison, FigureCell, FigureRow, IndexEntry, RunView, Side};
use std::path::Path;

/// Writes every incident's page and the index into `dir` (created if
/// missing); an error names the path (exit 2).
pub fn write(dir: &Path, catalogue: &Catalogue, results: &[VariantResult]) -> Result<(), i32> {
    std::fs::create_dir_all(dir).map_err(|e| {
        eprintln!(
            "error: cannot create the HTML directory {}: {e}",
            dir.display()
        );
        exit::BAD_INPUT
    })?;
    let spreads = Spread::of(results);
    let mut entries = Vec::new();
    for incident in &catalogue.incidents {
        let rows: Vec<&VariantResult> = results
            .iter()
            .filter(|r| r.incident == incident.id)
            .collect();
        let (Some(buggy), Some(fixed)) =
            (first(&rows, Variant::Buggy), first(&rows, Variant::Fixed))
        else {
            continue;
        };
        let plans = [plan_of(incident, buggy), plan_of(incident, fixed)];
        let paths = [
            incident.path(Variant::Buggy).display().to_string(),
            incident.path(Variant::Fixed).display().to_string(),
        ];
        let spread = |variant| {
            spreads
                .iter()
                .find(|s| s.incident == incident.id && s.variant == variant)
        };
        let several_seeds = spread(Variant::Buggy).is_some_and(|s| s.seeds.len() > 1);
        let figures = incident
            .figures
            .iter()
            .map(|f| {
                let cell = |row: &VariantResult| FigureCell {
                    value: row.figures.get(&f.name).copied().unwrap_or(f64::NAN),
                    spread: several_seeds
                        .then(|| spread(row.variant).and_then(|s| s.figures.get(&f.name).copied()))
                        .flatten(),
                    bounds: row.bounds.get(&f.name).copied(),
                };
                FigureRow {
                    name: f.name.clone(),
                    about: f.about.clone(),
                    cells: [cell(buggy), cell(fixed)],
                }
            })
            .collect();
        let comparison = Comparison {
            id: &incident.id,
            title: &incident.title,
            reports: &incident.reports,
            figures,
            sides: [
                side(buggy, "buggy", &paths[0], &plans[0], spread(Variant::Buggy)),
                side(fixed, "fixed", &paths[1], &plans[1], spread(Variant::Fixed)),
            ],
        };
        let file = format!("{}.html", incident.id);
        super::run::write_html(&dir.join(&file), &html::comparison_page(&comparison))?;
        entries.push(IndexEntry {
            id: incident.id.clone(),
            title: incident.title.clone(),
            file,
            reproduced: rows.iter().all(|r| r.reproduced),
        });
    }
    super::run::write_html(&dir.join("index.html"), &html::index_page(&entries))?;
    eprintln!(
        "HTML report: {} ({} incident pages)",
        dir.join("index.html").display(),
        entries.len()
    );
    Ok(())
}

/// One variant's side: its first seed's run, and how many seeds did what
/// the catalogue expects.
fn side<'a>(
    row: &'a VariantResult,
    label: &'static str,
    scenario: &'a str,
    plan: &'a [String],
    spread: Option<&Spread>,
) -> Side<'a> {
    Side {
        label,
        expected: row.expected,
        reproduced: spread.map_or((0, 0), |s| (s.reproduced.len(), s.seeds.len())),
        misses: &row.misses,
        run: RunView {
            scenario,
            seed: row.seed,
            verdict: row.verdict,
            sim_ms: row.sim_ms,
            trace_hash: &row.trace_hash,
            plan,
            excused_calls: row.excused_calls,
            history: &row.history,
            violations: &row.violations,
        },
    }
}

/// The variant's first row (its first seed: rows are in seed order).
fn first<'a>(rows: &[&'a VariantResult], variant: Variant) -> Option<&'a VariantResult> {
    rows.iter().find(|r| r.variant == variant).copied()
}

/// The fault plan of a row's run, as expanded for its seed (the scenario
/// was loaded once already for the run; should it fail to load now, the
/// page shows no plan rather than no page).
fn plan_of(incident: &Incident, row: &VariantResult) -> Vec<String> {
    match crate::scenario::Scenario::load(incident.path(row.variant)) {
        Ok(scenario) => crate::report::expanded_plan(&scenario, row.seed),
        Err(_) => Vec::new(),
    }
}
