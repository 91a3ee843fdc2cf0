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

use super::exit;
use crate::incidents::runner::{fmt, Spread, VariantResult};
use crate::incidents::{Catalogue, CATALOGUE_PATH};
use std::path::Path;

/// Seeds per variant when `--seeds` is not given.
pub const SEEDS_DEFAULT: u64 = 5;

pub fn command(json: bool, catalogue: Option<&Path>, seeds: u64, jobs: Option<usize>) -> i32 {
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
        match crate::incidents::runner::run_incident_over(incident, Path::new("."), seeds, jobs) {
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
            let scenario = catalogue
                .incidents
                .iter()
                .find(|i| i.id == r.incident)
                .map(|i| i.path(r.variant).display().to_string())
                .unwrap_or_default();
            eprintln!(
                "  replay: {}",
                crate::report::replay_command(&scenario, r.seed)
            );
        }
        exit::SAFETY
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
