//! `callsim run SCENARIO.toml [--seed N] [--json] [--trace FILE.jsonl
//! [--trace-sip-bodies]] [--pcap FILE.pcapng] [--ladder text|mermaid]
//! [--calls failed|all|ID,...] [--html FILE]`.
//!
//! Without `--ladder` and `--calls`, the summary on stderr ends with the
//! text ladder of the first violation's call, as before. With either, it
//! does not; the chosen calls' ladders are printed instead, on stdout (on
//! stderr with `--json`, which owns stdout): `--ladder` defaults to `text`,
//! `--calls` to `failed` (the calls the violations name, in order).
//!
//! `--pcap` and `--trace-sip-bodies` run with a capturing recorder
//! (`testbed::run_capturing`): the same history and trace hash, plus the
//! wire tape they are written from.
//!
//! `--html FILE` writes the run's self-contained HTML report
//! (`report::html`): the same scenario and seed give the same bytes.

use super::{exit, load_scenario, resolve_seed};
use crate::report::{seed_block, Report, Verdict};
use std::path::{Path, PathBuf};

pub struct RunArgs {
    pub scenario: PathBuf,
    pub seed: Option<u64>,
    pub json: bool,
    pub trace: Option<PathBuf>,
    /// `sip_text` on each `sip.send` line of the trace.
    pub trace_sip_bodies: bool,
    /// Where the pcapng capture goes.
    pub pcap: Option<PathBuf>,
    /// `--ladder`, as given.
    pub ladder: Option<String>,
    /// `--calls`, as given.
    pub calls: Option<String>,
    /// Where the HTML report goes.
    pub html: Option<PathBuf>,
}

/// How a ladder is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LadderFormat {
    /// `history::ladder`: columns of text.
    Text,
    /// `history::mermaid`: a `sequenceDiagram` in a Markdown fence.
    Mermaid,
}

/// Which calls get a ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallSelection {
    /// The calls the violations name, in order, each once.
    Failed,
    /// Every call of the run, in order of its first event.
    All,
    /// These call ids.
    Ids(Vec<String>),
}

/// `--ladder` and `--calls`, checked: `None` when neither was given.
pub fn ladder_choice(
    ladder: Option<&str>,
    calls: Option<&str>,
) -> Result<Option<(LadderFormat, CallSelection)>, String> {
    if ladder.is_none() && calls.is_none() {
        return Ok(None);
    }
    let format = match ladder.unwrap_or("text") {
        "text" => LadderFormat::Text,
        "mermaid" => LadderFormat::Mermaid,
        other => return Err(format!("--ladder {other:?}: write text or mermaid")),
    };
    let selection = match calls.unwrap_or("failed") {
        "failed" => CallSelection::Failed,
        "all" => CallSelection::All,
        list => {
            let ids: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_string)
                .collect();
            if ids.is_empty() {
                return Err(format!(
                    "--calls {list:?}: write failed, all or call ids separated by commas"
                ));
            }
            CallSelection::Ids(ids)
        }
    };
    Ok(Some((format, selection)))
}

/// The call ids `selection` picks from a finished run; an id that is not
/// in the run is an error naming it.
pub fn selected_calls(report: &Report, selection: &CallSelection) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    match selection {
        CallSelection::Failed => {
            for call in report.violations.iter().filter_map(|v| v.call.as_deref()) {
                if !out.iter().any(|c| c == call) {
                    out.push(call.to_string());
                }
            }
        }
        CallSelection::All => {
            let mut seen = std::collections::BTreeSet::new();
            for call in report.history.records.iter().filter_map(|r| r.call()) {
                if seen.insert(call) {
                    out.push(call.to_string());
                }
            }
        }
        CallSelection::Ids(ids) => {
            for id in ids {
                if report.history.of_call(id).next().is_none() {
                    return Err(format!("--calls: no call {id:?} in this run"));
                }
                out.push(id.clone());
            }
        }
    }
    Ok(out)
}

/// The ladders of `calls`, one after another.
pub fn render_ladders(report: &Report, calls: &[String], format: LadderFormat) -> String {
    let mut out = String::new();
    for call in calls {
        match format {
            LadderFormat::Text => {
                out.push_str(&crate::history::ladder::ladder(&report.history, call));
            }
            LadderFormat::Mermaid => {
                out.push_str("```mermaid\n");
                out.push_str(&crate::history::mermaid::sequence_diagram(
                    &report.history,
                    call,
                ));
                out.push_str("```\n");
            }
        }
        out.push('\n');
    }
    out
}

pub use crate::report::{run_once, run_once_capturing};

pub fn command(args: RunArgs) -> i32 {
    let scenario = match load_scenario(&args.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = match resolve_seed(args.seed, &scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let ladders = match ladder_choice(args.ladder.as_deref(), args.calls.as_deref()) {
        Ok(choice) => choice,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::BAD_INPUT;
        }
    };
    // A panic inside the simulation (a test-bed or turmoil bug) is an
    // incomplete run with its seed, never exit 101.
    let capture = args.pcap.is_some() || args.trace_sip_bodies;
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if capture {
            run_once_capturing(&scenario, seed).map(|(r, tape)| (r, Some(tape)))
        } else {
            run_once(&scenario, seed).map(|r| (r, None))
        }
    }));
    let (report, tape) = match run {
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
        let texts = match (&tape, args.trace_sip_bodies) {
            (Some(tape), true) => crate::history::wire::sip_texts(&report.history, tape),
            _ => Default::default(),
        };
        if let Err(code) = write_trace(path, &report, &texts) {
            return code;
        }
    }
    if let (Some(path), Some(tape)) = (&args.pcap, &tape) {
        if let Err(code) = write_pcap(path, tape) {
            return code;
        }
    }
    if let Some(path) = &args.html {
        let page = crate::report::html::run_page(&crate::report::html::RunView::of_report(&report));
        if let Err(code) = write_html(path, &page) {
            return code;
        }
    }
    print_summary(&report, ladders.is_none());
    if report.verdict == Verdict::Fail {
        eprint!("{}", seed_block(&scenario, seed, Some(&report.trace_hash)));
    }
    if let Some((format, selection)) = &ladders {
        let calls = match selected_calls(&report, selection) {
            Ok(calls) => calls,
            Err(message) => {
                eprintln!("error: {message}");
                return exit::BAD_INPUT;
            }
        };
        if calls.is_empty() {
            eprintln!("(no call to draw: no violation names a call)");
        }
        let text = render_ladders(&report, &calls, *format);
        if args.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("reports serialise")
        );
    }
    report.exit_code()
}

fn write_trace(
    path: &Path,
    report: &Report,
    sip_texts: &std::collections::BTreeMap<usize, String>,
) -> Result<(), i32> {
    let file = std::fs::File::create(path).map_err(|e| {
        eprintln!("error: cannot write trace {}: {e}", path.display());
        exit::BAD_INPUT
    })?;
    let mut out = std::io::BufWriter::new(file);
    crate::history::jsonl::write_with_sip_texts(&report.history, sip_texts, &mut out).map_err(|e| {
        eprintln!("error: cannot write trace {}: {e}", path.display());
        exit::BAD_INPUT
    })
}

/// Writes an HTML page to `path`; an error names the file (exit 2).
pub fn write_html(path: &Path, page: &str) -> Result<(), i32> {
    std::fs::write(path, page).map_err(|e| {
        eprintln!("error: cannot write HTML report {}: {e}", path.display());
        exit::BAD_INPUT
    })
}

/// Writes the run's wire tape as pcapng to `path`.
pub fn write_pcap(path: &Path, tape: &crate::history::wire::Tape) -> Result<(), i32> {
    let written = std::fs::File::create(path).and_then(|file| {
        let mut out = std::io::BufWriter::new(file);
        crate::history::pcap::write(tape, crate::testbed::EPOCH, &mut out)?;
        std::io::Write::flush(&mut out)
    });
    written.map_err(|e| {
        eprintln!("error: cannot write capture {}: {e}", path.display());
        exit::BAD_INPUT
    })?;
    if tape.truncated > 0 {
        eprintln!(
            "warning: the capture {} keeps the first {} messages; {} more were not kept",
            path.display(),
            tape.messages.len(),
            tape.truncated
        );
    }
    Ok(())
}

/// Human summary on stderr; with `first_ladder`, ending with the text
/// ladder of the first violation that has one.
pub fn print_summary(report: &Report, first_ladder: bool) {
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
    if !first_ladder {
        return;
    }
    if let Some(first) = report.violations.iter().find(|v| !v.ladder.is_empty()) {
        eprintln!("{}", first.ladder);
    }
}
