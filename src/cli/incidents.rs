//! `callsim incidents [--json] [--catalogue PATH] [--seeds K] [--jobs J]`:
//! runs the incident catalogue (`PATH`, default `fixtures/incidents.toml`)
//! on K seeds per variant (default [`SEEDS_DEFAULT`]: S..S+K-1 from each
//! file's seed S, on J threads), prints per variant how many seeds
//! reproduced and each figure's median and range against its bounds (with
//! `--seeds 1`, the single run's table: verdict, figures, sim and wall
//! time), and exits 0 only when every buggy variant reproduces and every
//! fixed variant holds **on every seed**. `--json` prints one row per
//! variant and seed.
//!
//! The catalogue's scenario paths (`fixtures/scenarios/<id>-*.toml`) are
//! relative to the working directory, the repository root, wherever the
//! catalogue itself is. No default catalogue, or one listing no incident,
//! is exit 5 (never a pass for nothing); a `--catalogue` file that cannot
//! be read is bad input (exit 2), like any file named on the command line.
//!
//! `--junit FILE` also writes the results as JUnit XML ([`super::junit`]):
//! one test suite per incident, one test case per variant, failed when a
//! seed did not reproduce, with each such seed's misses and replay command.
//!
//! `--html DIR` writes one self-contained page per incident into DIR
//! ([`super::incident_pages`]): the catalogue's figures against their
//! bounds, and the first seed of the buggy and the fixed variant side by
//! side; plus `index.html` linking them.

use super::exit;
use super::junit::{Case, CaseOutcome, Suite};
use crate::incidents::runner::{fmt, KeptHistories, Spread, VariantResult};
use crate::incidents::{Catalogue, CATALOGUE_PATH};
use std::path::{Path, PathBuf};

/// Seeds per variant when `--seeds` is not given.
pub const SEEDS_DEFAULT: u64 = 5;

/// The command's arguments.
pub struct IncidentsArgs {
    pub json: bool,
    /// `--catalogue`.
    pub catalogue: Option<PathBuf>,
    /// Seeds per variant.
    pub seeds: u64,
    pub jobs: Option<usize>,
    /// `--junit`: where the JUnit XML goes.
    pub junit: Option<PathBuf>,
    /// `--html`: the directory the pages go into.
    pub html: Option<PathBuf>,
}

pub fn command(args: IncidentsArgs) -> i32 {
    let IncidentsArgs {
        json,
        catalogue,
        seeds,
        jobs,
        junit,
        html,
    } = args;
    let catalogue = catalogue.as_deref();
    if seeds == 0 || seeds > 10_000 {
        eprintln!("error: --seeds must be in 1..=10000");
        return exit::BAD_INPUT;
    }
    let jobs = match jobs {
        Some(0) => {
            eprintln!("error: --jobs must be >= 1");
            return exit::BAD_INPUT;
        }
        Some(j) => j,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let path = catalogue.unwrap_or(Path::new(CATALOGUE_PATH));
    let shown = path.display();
    if catalogue.is_none() && !path.exists() {
        eprintln!(
            "error: no incident catalogue at {shown}: there are no incidents to run (exit 5, never a pass for nothing)"
        );
        return exit::INCOMPLETE;
    }
    let catalogue = match Catalogue::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    if catalogue.incidents.is_empty() {
        eprintln!("error: the incident catalogue {shown} lists no incident (exit 5)");
        return exit::INCOMPLETE;
    }
    let mut results = Vec::new();
    for incident in &catalogue.incidents {
        let kept = if html.is_some() {
            KeptHistories::FirstSeed
        } else {
            KeptHistories::OnlyWithOneSeed
        };
        match crate::incidents::runner::run_incident_over(
            incident,
            Path::new("."),
            seeds,
            jobs,
            kept,
        ) {
            Ok(r) => {
                if seeds == 1 {
                    for row in &r {
                        print_row(row);
                    }
                } else {
                    for spread in Spread::of(&r) {
                        print_spread(&spread);
                    }
                }
                results.extend(r);
            }
            Err((code, message)) => {
                eprintln!("error: {message}");
                return code;
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&results).expect("results serialise")
        );
    }
    if let Some(path) = &junit {
        let document =
            super::junit::render("callsim incidents", &junit_suites(&catalogue, &results));
        if let Err(code) = super::junit::write_file(path, &document) {
            return code;
        }
    }
    if let Some(dir) = &html {
        if let Err(code) = super::incident_pages::write(dir, &catalogue, &results) {
            return code;
        }
    }
    let failed: Vec<&VariantResult> = results.iter().filter(|r| !r.reproduced).collect();
    let variants = Spread::of(&results).len();
    if failed.is_empty() {
        eprintln!(
            "\nall {variants} incident variants reproduced as expected on {seeds} seed{} each",
            if seeds == 1 { "" } else { "s" }
        );
        exit::OK
    } else {
        for r in failed {
            eprintln!(
                "\nNOT REPRODUCED: {} {:?} seed {}: {}",
                r.incident,
                r.variant,
                r.seed,
                r.misses.join("; ")
            );
            eprintln!("  replay: {}", replay_of(&catalogue, r));
        }
        exit::SAFETY
    }
}

/// The command that replays one row's run.
fn replay_of(catalogue: &Catalogue, r: &VariantResult) -> String {
    let scenario = catalogue
        .incidents
        .iter()
        .find(|i| i.id == r.incident)
        .map(|i| i.path(r.variant).display().to_string())
        .unwrap_or_default();
    crate::report::replay_command(&scenario, r.seed)
}

/// The JUnit suites of a catalogue run: one per incident (in catalogue
/// order), one case per variant over its seeds.
pub fn junit_suites(catalogue: &Catalogue, results: &[VariantResult]) -> Vec<Suite> {
    let spreads = Spread::of(results);
    catalogue
        .incidents
        .iter()
        .map(|incident| Suite {
            name: incident.id.clone(),
            cases: spreads
                .iter()
                .filter(|s| s.incident == incident.id)
                .map(|s| {
                    let rows: Vec<&VariantResult> = results
                        .iter()
                        .filter(|r| r.incident == s.incident && r.variant == s.variant)
                        .collect();
                    junit_case(catalogue, s, &rows)
                })
                .collect(),
        })
        .collect()
}

/// One variant's case: failed unless every seed reproduced; the text
/// lists each seed that did not, with its misses and replay command.
fn junit_case(catalogue: &Catalogue, s: &Spread, rows: &[&VariantResult]) -> Case {
    let variant = format!("{:?}", s.variant).to_lowercase();
    let failed: Vec<&&VariantResult> = rows.iter().filter(|r| !r.reproduced).collect();
    let outcome = if failed.is_empty() {
        CaseOutcome::Passed
    } else {
        let mut text = String::new();
        for r in &failed {
            text.push_str(&format!(
                "seed {}: {}\n  replay: {}\n",
                r.seed,
                r.misses.join("; "),
                replay_of(catalogue, r)
            ));
        }
        CaseOutcome::Failure {
            kind: "not reproduced".into(),
            message: format!(
                "{} {variant}: not reproduced on {} of {} seeds",
                s.incident,
                failed.len(),
                rows.len()
            ),
            text,
        }
    };
    let mut system_out = format!(
        "reproduced on {}/{} seeds\n",
        s.reproduced.len(),
        s.seeds.len()
    );
    for (name, [lo, median, hi]) in &s.figures {
        let bounds = s
            .bounds
            .get(name)
            .map(|[a, b]| format!("[{}, {}]", fmt(*a), fmt(*b)))
            .unwrap_or_else(|| "(not judged)".into());
        system_out.push_str(&format!(
            "{name}: median {} range {} .. {} bounds {bounds}\n",
            fmt(*median),
            fmt(*lo),
            fmt(*hi)
        ));
    }
    Case {
        classname: format!("incidents.{}", s.incident),
        name: variant,
        time_s: rows.iter().map(|r| r.wall_ms).sum::<u64>() as f64 / 1000.0,
        outcome,
        system_out,
    }
}

/// One variant over its seeds: reproduced count, then each figure's
/// median and range against its bounds.
fn print_spread(s: &Spread) {
    let first = s.seeds.first().copied().unwrap_or(0);
    let last = s.seeds.last().copied().unwrap_or(0);
    eprintln!(
        "{:<28} {:<6} {:<14} on {}/{} seeds ({first}..={last})",
        s.incident,
        format!("{:?}", s.variant).to_lowercase(),
        if s.all_reproduced() {
            "REPRODUCED"
        } else {
            "NOT REPRODUCED"
        },
        s.reproduced.len(),
        s.seeds.len(),
    );
    for (name, [lo, median, hi]) in &s.figures {
        let bounds = s
            .bounds
            .get(name)
            .map(|[a, b]| format!("[{}, {}]", fmt(*a), fmt(*b)))
            .unwrap_or_else(|| "(not judged)".into());
        eprintln!(
            "    {name:<40} median {:>10}  range {:>10} .. {:<10} {bounds}",
            fmt(*median),
            fmt(*lo),
            fmt(*hi)
        );
    }
}

fn print_row(r: &VariantResult) {
    eprintln!(
        "{:<28} {:<6} verdict={:<4} expected={:<4} {:<14} sim {:>7} ms  wall {:>5} ms",
        r.incident,
        format!("{:?}", r.variant).to_lowercase(),
        format!("{:?}", r.verdict).to_lowercase(),
        format!("{:?}", r.expected).to_lowercase(),
        if r.reproduced {
            "REPRODUCED"
        } else {
            "NOT REPRODUCED"
        },
        r.sim_ms,
        r.wall_ms
    );
    for (name, value) in &r.figures {
        let bounds = r
            .bounds
            .get(name)
            .map(|[lo, hi]| format!("[{}, {}]", fmt(*lo), fmt(*hi)))
            .unwrap_or_else(|| "(not judged)".into());
        eprintln!("    {name:<40} {:>12}  {bounds}", fmt(*value));
    }
}
