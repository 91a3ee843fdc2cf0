//! The report of one run: verdict, figures and violations, as the `run
//! --json` document of CONTRACTS.md, plus the `SEED=` block printed on every
//! failure so that it replays. `stats` holds the SIPp-style statistics,
//! `html` the self-contained HTML report of a run (`run --html`).

pub mod html;
pub mod stats;

pub use stats::SipStats;

use crate::history::{EndOutcome, History};
use crate::oracles::{OracleKind, Violation};
use crate::scenario::Scenario;
use crate::testbed::RunOutput;
use serde::Serialize;
use std::collections::BTreeMap;

/// Calls counted once each, by their `call.end` status and by their
/// outcome (`completed`, `no-answer`, `rejected`, `cancelled`, `failed`:
/// a 200 the platform later tore down counts under 200 and `failed`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CallCounts {
    pub total: u64,
    pub by_status: BTreeMap<String, u64>,
    pub by_outcome: BTreeMap<String, u64>,
}

/// Every SIP message sent by every host, retransmissions included.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SipCounts {
    pub requests: BTreeMap<String, u64>,
    pub responses: BTreeMap<String, u64>,
    pub retransmissions: u64,
}

/// An alarm that fired.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alert {
    pub monitor: String,
    pub at_ms: u64,
}

/// `run --json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub verdict: Verdict,
    pub sim_ms: u64,
    /// Wall time of the run; reported, never hashed.
    pub wall_ms: u64,
    pub trace_hash: String,
    pub hosts: usize,
    pub tick_ms: u64,
    pub calls: CallCounts,
    pub sip: SipCounts,
    /// SIPp-style statistics (`report::stats`; a wave-3 addition to the
    /// contract's document): attempts and rates, setup time and post-dial
    /// delay percentiles, end reasons, retransmissions by message, and
    /// traffic per host and per leg.
    pub sip_stats: SipStats,
    /// The expanded fault plan for this seed, one line per fault (process
    /// occurrences and swarm picks included), then active fault points.
    pub faults: Vec<String>,
    /// The config `[vary]` drew for this seed, by path, as written in a
    /// scenario file (empty without `[vary]`; a wave-2 contract addition).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub varied: BTreeMap<String, String>,
    /// Calls a state-losing fault hit, which no oracle judged
    /// (`oracles::excuse`): a run that excused everything shows it here.
    pub excused_calls: Vec<String>,
    pub violations: Vec<Violation>,
    pub alerts: Vec<Alert>,
    /// The history itself, for writers and deeper checks (not in JSON).
    #[serde(skip)]
    pub history: History,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
}

impl Report {
    /// Judges a finished run: the monitors' `alert.fire` records are merged
    /// into the history (host `monitor`, in time order), then the oracles
    /// judge it. `alerts` lists every `alert.fire` of the result.
    pub fn build(scenario: &Scenario, output: RunOutput, wall_ms: u64) -> Report {
        let mut output = output;
        let varied = varied_text(scenario, output.seed);
        // The run ran the drawn scenario: its plan is the drawn one's.
        let drawn = scenario.for_seed(output.seed);
        let scenario = drawn.as_deref().unwrap_or(scenario);
        let firings = crate::oracles::monitors::evaluate_with(
            &scenario.monitors,
            &output.history,
            scenario.run.duration.as_millis(),
        );
        crate::oracles::monitors::merge(&mut output.history, &firings);
        let crate::oracles::Judgement {
            violations,
            excused_calls,
        } = crate::oracles::judge_run(
            &scenario.oracles,
            &scenario.oracle_context_for(output.seed),
            &output.history,
        );
        let alerts = output
            .history
            .of_kind("alert.fire")
            .map(|r| Alert {
                monitor: r.str("monitor").unwrap_or_default().to_string(),
                at_ms: r.t_ms,
            })
            .collect();
        Report {
            scenario: scenario.source.display().to_string(),
            seed: output.seed,
            verdict: if violations.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            sim_ms: output.sim_ms,
            wall_ms,
            trace_hash: output.history.hash_hex(),
            hosts: output.hosts,
            tick_ms: output.tick_ms,
            calls: call_counts(&output.history),
            sip: sip_counts(&output.history),
            sip_stats: stats::sip_stats(&output.history, output.sim_ms),
            faults: crate::faults::plan(&scenario.plan_inputs(), &scenario.topology(), output.seed)
                .describe(),
            varied,
            excused_calls,
            violations,
            alerts,
            history: output.history,
        }
    }

    /// The exit code of CONTRACTS.md: 0 pass, 1 safety, 3 liveness only.
    pub fn exit_code(&self) -> i32 {
        exit_code_for(&self.violations)
    }
}

/// 0 when there is no violation, 1 when any is a safety violation, else 3.
pub fn exit_code_for(violations: &[Violation]) -> i32 {
    if violations.is_empty() {
        0
    } else if violations.iter().any(|v| v.kind == OracleKind::Safety) {
        1
    } else {
        3
    }
}

pub fn call_counts(history: &History) -> CallCounts {
    let mut counts = CallCounts::default();
    for r in history.of_kind("call.end") {
        counts.total += 1;
        let status = r.u64("status").unwrap_or(0).to_string();
        *counts.by_status.entry(status).or_default() += 1;
        let outcome = EndOutcome::of_record(r).as_str().to_string();
        *counts.by_outcome.entry(outcome).or_default() += 1;
    }
    counts
}

pub fn sip_counts(history: &History) -> SipCounts {
    let mut counts = SipCounts::default();
    for r in history.of_kind("sip.send") {
        let start = r.str("start_line").unwrap_or("?");
        let bucket = if start.chars().all(|c| c.is_ascii_digit()) {
            &mut counts.responses
        } else {
            &mut counts.requests
        };
        *bucket.entry(start.to_string()).or_default() += 1;
        if r.bool("retransmission") == Some(true) {
            counts.retransmissions += 1;
        }
    }
    counts
}

/// The fault plan as expanded for `seed` (process occurrences, swarm
/// picks, active fault points), one line per fault, on the scenario as
/// `[vary]` draws it for that seed (the topology may depend on it).
pub fn expanded_plan(scenario: &Scenario, seed: u64) -> Vec<String> {
    let drawn = scenario.for_seed(seed);
    let drawn = drawn.as_deref().unwrap_or(scenario);
    crate::faults::plan(&drawn.plan_inputs(), &drawn.topology(), seed).describe()
}

/// What `[vary]` drew for `seed`, by path, as scenario-file text.
pub fn varied_text(scenario: &Scenario, seed: u64) -> BTreeMap<String, String> {
    scenario
        .varied(seed)
        .iter()
        .map(|(path, value)| (path.clone(), crate::scenario::vary::shown(value)))
        .collect()
}

/// The `SEED=` block: everything needed to replay a run: the seed, the
/// scenario (absolute path), the fault plan as expanded for the seed, the
/// commit, the run's history hash (`trace_hash`, what `callsim replay`
/// compares; `none` when the run did not complete) and the command that
/// replays it from any directory.
pub fn seed_block(scenario: &Scenario, seed: u64, trace_hash: Option<&str>) -> String {
    let mut s = format!("SEED={seed}\n");
    s.push_str(&format!(
        "  scenario: {}\n",
        absolute(&scenario.source).display()
    ));
    // The expanded plan: what this seed's processes, swarm and fault
    // points decided, not just what the file says.
    let varied = varied_text(scenario, seed);
    if !varied.is_empty() {
        s.push_str("  varied:\n");
        for (path, value) in &varied {
            s.push_str(&format!("    {path} = {value}\n"));
        }
    }
    let plan = expanded_plan(scenario, seed);
    if plan.is_empty() {
        s.push_str("  fault plan: (none)\n");
    } else {
        s.push_str("  fault plan:\n");
        for line in plan {
            s.push_str(&format!("    {line}\n"));
        }
    }
    s.push_str(&format!("  commit: {}\n", git_commit()));
    s.push_str(&format!(
        "  trace_hash: {}\n",
        trace_hash.unwrap_or("none (the run did not complete)")
    ));
    s.push_str(&format!(
        "  replay: {}\n",
        replay_command(&scenario.source.display().to_string(), seed)
    ));
    s
}

/// The command that replays one seed of a scenario, from any directory:
/// [`callsim_command`], then `run`, the scenario's absolute path (shell
/// quoted) and the seed.
pub fn replay_command(scenario_path: &str, seed: u64) -> String {
    format!(
        "{} run {} --seed {seed}",
        callsim_command(),
        shell_quote(
            &absolute(std::path::Path::new(scenario_path))
                .display()
                .to_string()
        )
    )
}

/// How a printed command starts the `callsim` binary, from any directory:
/// `callsim` when the running binary is the `callsim` found on `PATH`, its
/// absolute path (shell quoted) when it is another `callsim`, and, when the
/// caller is not the binary at all (a test or a crate using callsim as a
/// library), `cargo run --release --manifest-path <this crate's
/// Cargo.toml> --`.
pub fn callsim_command() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(&p).ok().or(Some(p)));
    match exe {
        Some(exe) if exe.file_stem().is_some_and(|s| s == "callsim") => {
            if on_path("callsim").is_some_and(|p| p == exe) {
                "callsim".to_string()
            } else {
                shell_quote(&exe.display().to_string())
            }
        }
        _ => format!(
            "cargo run --release --manifest-path {} --",
            shell_quote(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        ),
    }
}

/// The file `name` resolves to on `PATH`, canonicalised.
fn on_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// `path` made absolute against the working directory (unchanged when it
/// already is, or when the working directory is unknown).
pub fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `text` as one POSIX shell word: unchanged when it holds only characters
/// no shell treats specially, else in single quotes (a `'` inside becomes
/// `'\''`).
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The commit the binary was built from, when known at build time or from
/// `CALLSIM_GIT_COMMIT`; `unknown` otherwise. (Never runs git: a report
/// must not depend on the working directory.)
pub fn git_commit() -> String {
    std::env::var("CALLSIM_GIT_COMMIT")
        .ok()
        .or_else(|| option_env!("CALLSIM_GIT_COMMIT").map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Runs a scenario once and judges it; the wall time is measured here, at
/// the edge, and never enters the history.
pub fn run_once(scenario: &Scenario, seed: u64) -> Result<Report, crate::testbed::TestbedError> {
    let wall_start = std::time::Instant::now();
    let output = crate::testbed::run(scenario, seed)?;
    let wall_ms = wall_start.elapsed().as_millis() as u64;
    Ok(Report::build(scenario, output, wall_ms))
}

/// [`run_once`] with a capturing recorder: the same report, and the run's
/// wire tape (`--pcap`, `--trace-sip-bodies`, failure bundles).
pub fn run_once_capturing(
    scenario: &Scenario,
    seed: u64,
) -> Result<(Report, crate::history::wire::Tape), crate::testbed::TestbedError> {
    let wall_start = std::time::Instant::now();
    let (output, tape) = crate::testbed::run_capturing(scenario, seed)?;
    let wall_ms = wall_start.elapsed().as_millis() as u64;
    Ok((Report::build(scenario, output, wall_ms), tape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("/a/b-c_d.toml"), "/a/b-c_d.toml");
        assert_eq!(shell_quote("/a b/c.toml"), "'/a b/c.toml'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$HOME;rm"), "'$HOME;rm'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn replay_commands_are_absolute() {
        let cmd = replay_command("fixtures/x y.toml", 9);
        let cwd = std::env::current_dir().expect("cwd");
        assert!(
            cmd.ends_with(&format!(
                " run '{}/fixtures/x y.toml' --seed 9",
                cwd.display()
            )),
            "{cmd}"
        );
        // Not the binary (a unit test): cargo, on this crate's manifest.
        assert!(
            cmd.starts_with(&format!(
                "cargo run --release --manifest-path {}/Cargo.toml -- ",
                env!("CARGO_MANIFEST_DIR")
            )),
            "{cmd}"
        );
    }
}
