//! `callsim replay BUNDLE_DIR`: reruns a failure bundle written by
//! `explore` and checks that it replays.
//!
//! It reads the bundle's `bundle.json` (seed, commit, expanded fault plan,
//! `trace_hash`, and the error when the run did not complete) and reruns
//! the bundle's own copy of the scenario, `scenario.toml`, at that seed, so
//! it works from any directory and whatever became of the original file.
//! Exit codes:
//! - 0: the rerun's history hash (and fault plan) equals the recorded one
//!   (for a bundle of a run that did not complete: the rerun fails the same
//!   way);
//! - 4 (nondeterminism): it differs, on the commit the bundle was recorded
//!   at;
//! - 6 (another commit): the binary is built from another commit than the
//!   bundle's: the code changed, so a different history would say nothing
//!   about determinism. The seed is still rerun and what it gave is
//!   printed, but the exit is 6 whatever it gave;
//! - 2: the bundle cannot be read (no such directory, a missing or bad
//!   `bundle.json` or `scenario.toml`).
//!
//! When neither the bundle nor the binary knows its commit (`unknown`, a
//! build outside git), the commits cannot be compared; the replay is judged
//! as if they were equal, and a warning says so.

use super::{exit, load_scenario};
use crate::report::{absolute, callsim_command, git_commit, shell_quote};
use serde::Deserialize;
use std::path::Path;

/// The bundle's description of the run.
pub const BUNDLE_FILE: &str = "bundle.json";
/// The bundle's copy of the scenario.
pub const SCENARIO_FILE: &str = "scenario.toml";

/// What `replay` reads of `bundle.json` (other fields are ignored).
#[derive(Debug, Deserialize)]
pub struct Recorded {
    pub seed: u64,
    pub commit: String,
    /// `None` (or absent) when the recorded run did not complete.
    #[serde(default)]
    pub trace_hash: Option<String>,
    #[serde(default)]
    pub fault_plan: Vec<String>,
    /// Why the recorded run did not complete.
    #[serde(default)]
    pub error: Option<String>,
}

/// The command that replays a bundle directory, from any directory.
pub fn replay_bundle_command(dir: &Path) -> String {
    format!(
        "{} replay {}",
        callsim_command(),
        shell_quote(&absolute(dir).display().to_string())
    )
}

/// Reads `dir/bundle.json`; the error names the file (and line).
pub fn read_recorded(dir: &Path) -> Result<Recorded, String> {
    let path = dir.join(BUNDLE_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: cannot read the bundle: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}:{}: {e}", path.display(), e.line()))
}

/// Reads a bundle: `bundle.json` and its copy of the scenario. On bad
/// input the error is on stderr and the result is `Err(2)`.
pub fn load_bundle(dir: &Path) -> Result<(Recorded, crate::scenario::Scenario), i32> {
    let recorded = read_recorded(dir).map_err(|message| {
        eprintln!("error: {message}");
        exit::BAD_INPUT
    })?;
    let scenario = load_scenario(&dir.join(SCENARIO_FILE))?;
    Ok((recorded, scenario))
}

pub fn command(dir: &Path) -> i32 {
    let (recorded, scenario) = match load_bundle(dir) {
        Ok(bundle) => bundle,
        Err(code) => return code,
    };
    let binary = git_commit();
    let same_commit = recorded.commit == binary;
    if !same_commit {
        eprintln!(
            "ANOTHER COMMIT: the bundle was recorded at commit {} and this binary is built from {}: \
             the code changed, so a different history would not mean nondeterminism (exit {}). \
             To replay it, build callsim at commit {} (`git checkout {} && cargo build --release`). \
             Rerunning the seed on this commit anyway, for information:",
            recorded.commit,
            binary,
            exit::OTHER_COMMIT,
            recorded.commit,
            recorded.commit,
        );
    } else if binary == "unknown" {
        eprintln!(
            "warning: neither the bundle nor this binary knows its commit: \
             a difference below may be a code change rather than nondeterminism"
        );
    }
    let seed = recorded.seed;
    let plan = crate::report::expanded_plan(&scenario, seed);
    let rerun = super::explore::run_seed(&scenario, seed);
    let mut differences = Vec::new();
    if plan != recorded.fault_plan {
        differences.push(format!(
            "fault plan: recorded {:?}, now {:?}",
            recorded.fault_plan, plan
        ));
    }
    let now_error = match &rerun.outcome {
        super::explore::Outcome::Incomplete(e) => Some(e.as_str()),
        _ => None,
    };
    match (&recorded.trace_hash, &rerun.trace_hash) {
        (Some(before), Some(now)) if before == now => {}
        (Some(before), Some(now)) => {
            differences.push(format!("trace_hash: recorded {before}, now {now}"))
        }
        (Some(before), None) => differences.push(format!(
            "trace_hash: recorded {before}, now the run did not complete: {}",
            now_error.unwrap_or("(no error)")
        )),
        (None, Some(now)) => differences.push(format!(
            "the recorded run did not complete ({}), now it does (trace_hash {now})",
            recorded.error.as_deref().unwrap_or("no error recorded")
        )),
        (None, None) => {
            if recorded.error.as_deref() != now_error {
                differences.push(format!(
                    "the run did not complete, recorded: {}; now: {}",
                    recorded.error.as_deref().unwrap_or("(no error recorded)"),
                    now_error.unwrap_or("(no error)")
                ));
            }
        }
    }
    if !differences.is_empty() {
        differences.extend(departure(dir, &scenario, seed));
    }
    eprintln!(
        "seed {seed} of {}: {}",
        dir.join(SCENARIO_FILE).display(),
        describe(&rerun)
    );
    if !same_commit {
        eprintln!(
            "  on this commit the history is {} the recorded one",
            if differences.is_empty() {
                "the same as"
            } else {
                "not"
            }
        );
        for d in &differences {
            eprintln!("  {d}");
        }
        return exit::OTHER_COMMIT;
    }
    if differences.is_empty() {
        eprintln!(
            "REPLAYED: seed {seed} gave the recorded history (trace_hash {}) at commit {binary}",
            recorded
                .trace_hash
                .as_deref()
                .unwrap_or("none: it fails the same way")
        );
        exit::OK
    } else {
        eprintln!("NONDETERMINISM: seed {seed} did not replay on the bundle's own commit {binary}");
        for d in &differences {
            eprintln!("  {d}");
        }
        exit::NONDETERMINISM
    }
}

/// One line on what the rerun gave.
fn describe(rerun: &super::explore::SeedResult) -> String {
    use super::explore::Outcome;
    match &rerun.outcome {
        Outcome::Pass => format!(
            "PASS, trace_hash {}",
            rerun.trace_hash.as_deref().unwrap_or("?")
        ),
        Outcome::Fail(v) => {
            let mut s = format!(
                "FAIL ({} violation{}), trace_hash {}",
                v.len(),
                if v.len() == 1 { "" } else { "s" },
                rerun.trace_hash.as_deref().unwrap_or("?")
            );
            for v in v.iter().take(3) {
                s.push_str(&format!("\n  {}", v.line()));
            }
            s
        }
        Outcome::Incomplete(e) => format!("INCOMPLETE: {e}"),
    }
}

/// Where the rerun's history first departs from the bundle's
/// `history.jsonl`, when the bundle has one: the event's line number and
/// both versions of it.
fn departure(dir: &Path, scenario: &crate::scenario::Scenario, seed: u64) -> Option<String> {
    let recorded = std::fs::read_to_string(dir.join(super::explore::HISTORY_FILE)).ok()?;
    let report = super::run::run_once(scenario, seed).ok()?;
    let mut now = Vec::new();
    crate::history::jsonl::write(&report.history, &mut now).ok()?;
    let now = String::from_utf8(now).ok()?;
    first_difference(&recorded, &now)
}

/// The first line where two histories differ, described.
fn first_difference(recorded: &str, now: &str) -> Option<String> {
    let (mut a, mut b) = (recorded.lines(), now.lines());
    let mut line = 0;
    loop {
        line += 1;
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (None, None) => return None,
            (x, y) => {
                return Some(format!(
                    "history.jsonl departs at event {line}:\n    recorded: {}\n    now:      {}",
                    x.unwrap_or("(the recorded history ended)"),
                    y.unwrap_or("(the rerun's history ended)")
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::first_difference;

    #[test]
    fn the_first_departure_is_named_with_both_lines() {
        assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
        let d = first_difference("a\nb\nc\n", "a\nx\nc\n").expect("differs");
        assert!(d.contains("event 2") && d.contains("recorded: b") && d.contains("now:      x"));
        let d = first_difference("a\n", "a\nb\n").expect("longer");
        assert!(d.contains("event 2") && d.contains("the recorded history ended"));
    }
}
