//! `callsim incidents [--json] [--catalogue PATH]`: runs the incident
//! catalogue (`PATH`, default `fixtures/incidents.toml`), prints a table
//! (incident, variant, verdict, key figures against bounds, sim and wall
//! time) and exits 0 only when every buggy variant reproduces and every
//! fixed variant holds.
//!
//! The catalogue's scenario paths (`fixtures/scenarios/<id>-*.toml`) are
//! relative to the working directory, the repository root, wherever the
//! catalogue itself is. No default catalogue, or one listing no incident,
//! is exit 5 (never a pass for nothing); a `--catalogue` file that cannot
//! be read is bad input (exit 2), like any file named on the command line.

use super::exit;
use crate::incidents::runner::{fmt, VariantResult};
use crate::incidents::{Catalogue, CATALOGUE_PATH};
use std::path::Path;

pub fn command(json: bool, catalogue: Option<&Path>) -> i32 {
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
        match crate::incidents::run_incident(incident, Path::new(".")) {
            Ok(r) => {
                for row in &r {
                    print_row(row);
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
    if failed.is_empty() {
        eprintln!(
            "\nall {} incident variants reproduced as expected",
            results.len()
        );
        exit::OK
    } else {
        for r in failed {
            eprintln!(
                "\nNOT REPRODUCED: {} {:?}: {}",
                r.incident,
                r.variant,
                r.misses.join("; ")
            );
            let scenario = format!(
                "fixtures/scenarios/{}-{}.toml",
                r.incident,
                format!("{:?}", r.variant).to_lowercase()
            );
            eprintln!(
                "  replay: {}",
                crate::report::replay_command(&scenario, r.seed)
            );
        }
        exit::SAFETY
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
