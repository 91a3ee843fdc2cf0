//! `callsim shrink BUNDLE_DIR [--budget N]`: minimises a failing run of
//! `explore` while it still fails with the same signature, and writes a
//! small scenario anyone can read and rerun.
//!
//! The bundle's scenario is first fixed to this seed's draws (`[vary]`
//! collapsed to the values the seed drew), then reduced greedily, one
//! change at a time, each kept only if the run at the bundle's seed still
//! shows one of the bundle's failure signatures ([`super::triage`]):
//! 1. switch off swarm mode, else drop its kinds one by one;
//! 2. switch off fault points, else drop the active sites one by one;
//! 3. drop `[[faults]]` entries one by one;
//! 4. narrow each fault's window (its later half, then its earlier half);
//! 5. halve each workload's `calls`;
//! 6. shorten the run toward the first violation.
//!
//! Passes repeat until none changes anything or `--budget` runs (default
//! 200) are spent. The result goes to `BUNDLE_DIR/shrunk.toml`, headed by
//! what was removed, and its replay command is printed. Exit 0 when a
//! shrunk scenario was written; 2 when the bundle cannot be read; 5 when
//! the bundle's seed no longer fails with its signature (the code changed;
//! the commit mismatch is warned about).

use super::exit;
use super::explore::{run_seed, Outcome, SeedResult};
use super::replay::{load_bundle, SCENARIO_FILE};
use crate::report::{git_commit, replay_command};
use crate::scenario::Scenario;
use crate::sim::Dur;
use std::collections::BTreeSet;
use std::path::Path;

/// Runs at most, when `--budget` is not given.
pub const BUDGET_DEFAULT: u32 = 200;

/// The file `shrink` writes in the bundle.
pub const SHRUNK_FILE: &str = "shrunk.toml";

/// What `shrink` reads of `bundle.json` besides `replay`'s fields.
#[derive(Debug, serde::Deserialize)]
struct Signatures {
    #[serde(default)]
    signatures: Vec<SignatureId>,
}

#[derive(Debug, serde::Deserialize)]
struct SignatureId {
    id: String,
}

/// A shrink's result.
#[derive(Debug)]
pub struct Shrunk {
    pub scenario: Scenario,
    /// What each accepted step changed, in order.
    pub steps: Vec<String>,
    /// Runs spent.
    pub runs: u32,
}

/// Whether `result` fails with one of `targets`.
fn keeps(result: &SeedResult, targets: &BTreeSet<String>) -> bool {
    !matches!(result.outcome, Outcome::Pass)
        && result.signatures.iter().any(|s| targets.contains(&s.id))
}

/// Minimises `scenario` at `seed` while it fails with one of `targets`.
pub fn shrink(scenario: &Scenario, seed: u64, targets: &BTreeSet<String>, budget: u32) -> Shrunk {
    let mut current = match scenario.for_seed(seed) {
        Ok(drawn) => drawn.into_owned(),
        Err(_) => scenario.clone(),
    };
    let mut steps = Vec::new();
    if !scenario.vary.is_empty() {
        steps.push(format!(
            "fixed [vary] to this seed's draws: {}",
            crate::report::varied_text(scenario, seed)
                .iter()
                .map(|(p, v)| format!("{p} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut runs = 0;
    let mut first = first_violation(&run_seed(&current, seed));
    runs += 1;
    'passes: loop {
        for (what, candidate) in candidates(&current, seed, first) {
            if runs >= budget {
                steps.push(format!("stopped: the budget of {budget} runs is spent"));
                break 'passes;
            }
            if candidate.validate().is_err() {
                continue;
            }
            runs += 1;
            let result = run_seed(&candidate, seed);
            if keeps(&result, targets) {
                first = first_violation(&result).or(first);
                steps.push(what);
                current = candidate;
                continue 'passes;
            }
        }
        break;
    }
    Shrunk {
        scenario: current,
        steps,
        runs,
    }
}

/// The first violation: its time, and the workload index of its call
/// (`out-33` is the 33rd outbound call), when it names one.
#[derive(Debug, Clone, Copy)]
struct First {
    at_ms: u64,
    call_index: Option<(bool, u32)>,
}

fn first_violation(result: &SeedResult) -> Option<First> {
    let Outcome::Fail(violations) = &result.outcome else {
        return None;
    };
    let v = violations.iter().min_by_key(|v| v.at_ms)?;
    let call_index = v.call.as_deref().and_then(|call| {
        let (prefix, n) = call.rsplit_once('-')?;
        let outbound = match prefix {
            "out" => true,
            "in" => false,
            _ => return None,
        };
        Some((outbound, n.parse().ok()?))
    });
    Some(First {
        at_ms: v.at_ms,
        call_index,
    })
}

/// The one-change reductions of `s`, most drastic first.
fn candidates(s: &Scenario, seed: u64, first: Option<First>) -> Vec<(String, Scenario)> {
    let mut out = Vec::new();
    let mut with = |what: String, change: &dyn Fn(&mut Scenario)| {
        let mut c = s.clone();
        change(&mut c);
        if c != *s {
            out.push((what, c));
        }
    };
    if let Some(swarm) = &s.fault_settings.swarm {
        with("switched off swarm mode".into(), &|c| {
            c.fault_settings.swarm = None
        });
        for kind in swarm.kinds.keys() {
            with(format!("dropped swarm kind {kind}"), &|c| {
                if let Some(sw) = c.fault_settings.swarm.as_mut() {
                    sw.kinds.remove(kind);
                }
            });
        }
    }
    if s.fault_settings.buggify.as_ref().is_some_and(|b| b.enabled) {
        with("switched off fault points".into(), &|c| {
            c.fault_settings.buggify = None
        });
        let active: Vec<String> = crate::faults::buggify::activate(&s.fault_settings, seed)
            .into_iter()
            .map(|a| a.site)
            .collect();
        let listed = s
            .fault_settings
            .buggify
            .as_ref()
            .and_then(|b| b.sites.clone())
            .unwrap_or_else(|| {
                crate::sim::buggify::SITES
                    .iter()
                    .map(|x| x.to_string())
                    .collect()
            });
        // Only an active site matters: activation is per site, so dropping
        // an inactive one changes nothing.
        for site in listed.iter().filter(|x| active.contains(x)) {
            with(format!("dropped fault point {site}"), &|c| {
                if let Some(b) = c.fault_settings.buggify.as_mut() {
                    b.sites = Some(listed.iter().filter(|x| *x != site).cloned().collect());
                }
            });
        }
    }
    for i in 0..s.faults.len() {
        let f = &s.faults[i];
        with(format!("dropped fault {i} ({})", f.kind.name()), &|c| {
            c.faults.remove(i);
        });
    }
    for i in 0..s.faults.len() {
        let f = &s.faults[i];
        if let Some(until) = f.until {
            let (at, until) = (f.at.as_millis(), until.as_millis());
            if until > at + 1 {
                let mid = Dur::from_millis(at + (until - at) / 2);
                with(
                    format!("narrowed fault {i} to its later half (from {mid})"),
                    &|c| c.faults[i].at = mid,
                );
                with(
                    format!("narrowed fault {i} to its earlier half (until {mid})"),
                    &|c| c.faults[i].until = Some(mid),
                );
            }
        }
    }
    // Calls after the failing one cannot have caused it: stop the workload
    // there (arrivals are drawn in order, so the calls before keep their
    // times).
    if let Some((outbound, n)) = first.and_then(|f| f.call_index) {
        let load_calls = if outbound {
            s.workload.outbound.as_ref().map(|o| o.calls)
        } else {
            s.workload.inbound.as_ref().map(|i| i.calls)
        };
        if load_calls.is_some_and(|calls| calls > n && n >= 1) {
            with(
                format!("stopped the workload at the failing call ({n} calls)"),
                &|c| {
                    if outbound {
                        if let Some(o) = c.workload.outbound.as_mut() {
                            o.calls = n;
                        }
                    } else if let Some(i) = c.workload.inbound.as_mut() {
                        i.calls = n;
                    }
                },
            );
        }
    }
    if let Some(out_load) = &s.workload.outbound {
        if out_load.calls > 1 {
            let half = out_load.calls.div_ceil(2);
            with(format!("halved the outbound calls to {half}"), &|c| {
                if let Some(o) = c.workload.outbound.as_mut() {
                    o.calls = half;
                }
            });
        }
    }
    if let Some(in_load) = &s.workload.inbound {
        if in_load.calls > 1 {
            let half = in_load.calls.div_ceil(2);
            with(format!("halved the inbound calls to {half}"), &|c| {
                if let Some(i) = c.workload.inbound.as_mut() {
                    i.calls = half;
                }
            });
        }
    }
    if let Some(at) = first.map(|f| f.at_ms) {
        let now = s.run.duration.as_millis();
        // Halfway to just past the first violation, in whole seconds.
        let floor = at + 1_000;
        if now > floor + 1_000 {
            let target = (floor + (now - floor) / 2).div_ceil(1_000) * 1_000;
            with(
                format!("shortened the run to {}", Dur::from_millis(target)),
                &|c| c.run.duration = Dur::from_millis(target),
            );
        }
    }
    out
}

pub fn command(dir: &Path, budget: u32) -> i32 {
    let (recorded, scenario) = match load_bundle(dir) {
        Ok(bundle) => bundle,
        Err(code) => return code,
    };
    if recorded.commit != git_commit() {
        eprintln!(
            "warning: the bundle was recorded at commit {} and this binary is built from {}; \
             the seed may no longer fail the same way",
            recorded.commit,
            git_commit()
        );
    }
    let seed = recorded.seed;
    let text = std::fs::read_to_string(dir.join(super::replay::BUNDLE_FILE)).unwrap_or_default();
    let mut targets: BTreeSet<String> = serde_json::from_str::<Signatures>(&text)
        .map(|s| s.signatures.into_iter().map(|s| s.id).collect())
        .unwrap_or_default();
    let original = run_seed(&scenario, seed);
    if targets.is_empty() {
        // A bundle from before signatures: shrink toward what it shows now.
        targets = original.signatures.iter().map(|s| s.id.clone()).collect();
    }
    if !keeps(&original, &targets) {
        eprintln!(
            "error: seed {seed} of {} no longer fails with signature {}: nothing to shrink",
            dir.join(SCENARIO_FILE).display(),
            targets.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        return exit::INCOMPLETE;
    }
    let shrunk = shrink(&scenario, seed, &targets, budget);
    let path = dir.join(SHRUNK_FILE);
    let mut header = format!(
        "# Shrunk by `callsim shrink` from {} (seed {seed}, signature {}) in {} runs.\n",
        dir.display(),
        targets.iter().cloned().collect::<Vec<_>>().join(", "),
        shrunk.runs
    );
    for step in &shrunk.steps {
        header.push_str(&format!("# - {step}\n"));
    }
    let mut shrunk_scenario = shrunk.scenario.clone();
    shrunk_scenario.run.seed = seed;
    if let Err(e) = std::fs::write(&path, format!("{header}\n{}", shrunk_scenario.to_toml())) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return exit::BAD_INPUT;
    }
    eprint!("{header}");
    eprintln!(
        "wrote {}\n  replay: {}",
        path.display(),
        replay_command(&path.display().to_string(), seed)
    );
    exit::OK
}
