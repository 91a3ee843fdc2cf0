//! `callsim incidents [--json]`: runs the incident catalogue
//! (`fixtures/incidents.toml`), prints a table (incident, variant, verdict,
//! key figures against bounds, sim and wall time) and exits 0 only when
//! every buggy variant reproduces and every fixed variant holds.

use super::exit;
use crate::incidents::runner::{fmt, VariantResult};
use crate::incidents::{Catalogue, CATALOGUE_PATH};
use std::path::Path;

pub fn command(json: bool) -> i32 {
    let path = Path::new(CATALOGUE_PATH);
    if !path.exists() {
        eprintln!(
            "error: no incident catalogue at {CATALOGUE_PATH}: there are no incidents to run (exit 5, never a pass for nothing)"
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
        eprintln!("error: the incident catalogue {CATALOGUE_PATH} lists no incident (exit 5)");
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
            eprintln!(
                "  replay: cargo run --release -- run fixtures/scenarios/{}-{}.toml --seed {}",
                r.incident,
                format!("{:?}", r.variant).to_lowercase(),
                r.seed
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
