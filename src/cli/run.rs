//! `callsim run SCENARIO.toml [--seed N] [--json] [--trace FILE.jsonl]`.

use super::{exit, load_scenario, resolve_seed};
use crate::report::{seed_block, Report, Verdict};
use std::path::{Path, PathBuf};

pub struct RunArgs {
    pub scenario: PathBuf,
    pub seed: Option<u64>,
    pub json: bool,
    pub trace: Option<PathBuf>,
}

pub use crate::report::run_once;

pub fn command(args: RunArgs) -> i32 {
    let scenario = match load_scenario(&args.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = match resolve_seed(args.seed, &scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // A panic inside the simulation (a test-bed or turmoil bug) is an
    // incomplete run with its seed, never exit 101.
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_once(&scenario, seed)));
    let report = match run {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            eprintln!("error: the run could not complete: {e}");
            eprint!("{}", seed_block(&scenario, seed, None));
            return exit::INCOMPLETE;
        }
        Err(panic) => {
            let text = super::panic_text(&*panic);
            eprintln!(
                "error: the simulation panicked: {text}; this is a test-bed bug: please report it with the SEED= block"
            );
            eprint!("{}", seed_block(&scenario, seed, None));
            return exit::INCOMPLETE;
        }
    };
    if let Some(path) = &args.trace {
        if let Err(code) = write_trace(path, &report) {
            return code;
        }
    }
    print_summary(&report);
    if report.verdict == Verdict::Fail {
        eprint!("{}", seed_block(&scenario, seed, Some(&report.trace_hash)));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("reports serialise")
        );
    }
    report.exit_code()
}

fn write_trace(path: &Path, report: &Report) -> Result<(), i32> {
    let file = std::fs::File::create(path).map_err(|e| {
        eprintln!("error: cannot write trace {}: {e}", path.display());
        exit::BAD_INPUT
    })?;
    let mut out = std::io::BufWriter::new(file);
    crate::history::jsonl::write(&report.history, &mut out).map_err(|e| {
        eprintln!("error: cannot write trace {}: {e}", path.display());
        exit::BAD_INPUT
    })
}

/// Human summary on stderr.
pub fn print_summary(report: &Report) {
    let speed = report.sim_ms as f64 / report.wall_ms.max(1) as f64;
    eprintln!(
        "{}: seed {} {} | sim {} ms, wall {} ms ({speed:.0}x), {} hosts, tick {} ms | {} events, hash {}",
        report.scenario,
        report.seed,
        match report.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        },
        report.sim_ms,
        report.wall_ms,
        report.hosts,
        report.tick_ms,
        report.history.len(),
        report.trace_hash,
    );
    if report.calls.total > 0 {
        let statuses: Vec<String> = report
            .calls
            .by_status
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let outcomes: Vec<String> = report
            .calls
            .by_outcome
            .iter()
            .map(|(o, n)| format!("{o}: {n}"))
            .collect();
        eprintln!(
            "  calls: {} ({}; {})",
            report.calls.total,
            statuses.join(", "),
            outcomes.join(", ")
        );
    }
    if !report.excused_calls.is_empty() {
        eprintln!(
            "  excused: {} calls hit by a state-losing fault (not judged)",
            report.excused_calls.len()
        );
    }
    for alert in &report.alerts {
        eprintln!("  alert: {} at {} ms", alert.monitor, alert.at_ms);
    }
    for v in &report.violations {
        eprintln!("  violation [{:?}] {}", v.kind, v.line());
    }
    if let Some(first) = report.violations.iter().find(|v| !v.ladder.is_empty()) {
        eprintln!("{}", first.ladder);
    }
}
