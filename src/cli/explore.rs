//! `callsim explore SCENARIO.toml --seeds N [--start S] [--jobs J]
//! [--shard K/M] [--json] [--bundles DIR]`: runs many seeds of one
//! scenario, in parallel, and keeps every failure replayable.
//!
//! - Seeds S, S+1, .., S+N-1 (S: `--start`, else `CALLSIM_SEED`, else the
//!   scenario's seed; a list that would run past `u64::MAX` is bad input); `--shard K/M` keeps those whose position in that list
//!   is congruent to K-1 modulo M (CONTRACTS.md), so shards of a CI matrix
//!   or a Kubernetes Indexed Job split a sweep with no coordination.
//! - J OS threads (default: the machine's cores) each take the next seed;
//!   every run installs its own thread-local history recorder
//!   ([`crate::testbed::run`]), so threads never mix histories, and a run
//!   itself never uses threads. A progress bar (indicatif) is drawn on
//!   stderr when it is a terminal, and hidden otherwise.
//! - Each failing seed is saved, as soon as it is known and so before the
//!   command exits, to `<bundles>/<scenario-stem>/seed-<n>/` (default
//!   `callsim-failures/`): `scenario.toml` (a copy of the file),
//!   `SEED.txt` (the `SEED=` block: seed, scenario, fault plan, commit,
//!   trace hash, replay command, and the `callsim replay DIR` command),
//!   `violations.json`, `capture.pcap` (the run's wire capture, pcapng
//!   format, as `run --pcap` writes it: the failing seed runs once more
//!   with a capturing recorder, on its worker thread, and the capture is
//!   kept only if that run's trace hash is the first one's; a run that
//!   did not complete has no capture), `history.jsonl` (that rerun's
//!   history, as `run --trace` writes it), and `bundle.json` (all of it
//!   together). The replay
//!   command is printed for each failure; `callsim replay DIR` reruns a
//!   bundle and checks its trace hash.
//! - Exit: 1 if any seed broke a safety property; else 5 if any seed's run
//!   could not complete (or panicked: a panic is a bug, and its seed is
//!   bundled like a failure); else 3 if any broke a liveness property;
//!   else 0.
//! - `--json` prints CONTRACTS.md's `explore --json` document on stdout,
//!   with wave 2's `coverage`, `signatures` and (with `--baseline`)
//!   `baseline` and each failure's `differential`.
//! - Failures are grouped by signature ([`super::triage`]): the first seed
//!   of a signature is printed in full, later ones in one line, and the
//!   summary counts seeds per signature.
//! - `--baseline OTHER.toml`: differential mode. Each seed that fails on
//!   the scenario runs again on the baseline; it counts (is bundled,
//!   printed and in the exit code) only if it shows a signature the
//!   baseline's run of that seed does not.
//! - Coverage ([`crate::faults::coverage`]): after the runs, which rare
//!   states the sweep reached and which fault points fired.
//! - `--junit FILE`: the sweep as JUnit XML ([`super::junit`]), one suite
//!   named after the scenario (and shard): one test case per failing seed
//!   (a `failure` for a broken property, with the violations, replay
//!   command and bundle; an `error` for a run that did not complete), and
//!   one passing case for all the seeds that passed (or, in differential
//!   mode, failed only as the baseline did), when there are any. Shards
//!   write one file each; CI test reporters read several files as one.

use super::triage::{self, BaselineVerdict, Differential, Groups, Signature};
use super::{exit, load_scenario, resolve_seed};
use crate::faults::coverage::{RunCoverage, SweepCoverage};
use crate::oracles::{OracleKind, Violation};
use crate::report::{exit_code_for, git_commit, replay_command, seed_block};
use crate::scenario::Scenario;
use serde::Serialize;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Where failure bundles go by default, relative to the working directory.
pub const BUNDLES_DEFAULT: &str = "callsim-failures";

/// Most seeds one `explore` may run (a bound on everything).
pub const SEEDS_MAX: u64 = 10_000_000;

pub struct ExploreArgs {
    pub scenario: PathBuf,
    pub seeds: u64,
    pub start: Option<u64>,
    pub jobs: Option<usize>,
    pub shard: Option<String>,
    pub json: bool,
    pub bundles: Option<PathBuf>,
    /// `--baseline`: differential mode against this scenario.
    pub baseline: Option<PathBuf>,
    /// `--junit`: where the JUnit XML goes.
    pub junit: Option<PathBuf>,
}

/// `--shard K/M`: 1 <= K <= M.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: u64,
    pub m: u64,
}

impl Shard {
    /// Parses `K/M`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, m) = text
            .split_once('/')
            .ok_or_else(|| format!("--shard {text:?}: write K/M, e.g. 2/4"))?;
        let k: u64 = k
            .trim()
            .parse()
            .map_err(|_| format!("--shard {text:?}: K is not a number"))?;
        let m: u64 = m
            .trim()
            .parse()
            .map_err(|_| format!("--shard {text:?}: M is not a number"))?;
        if m == 0 || k == 0 || k > m {
            return Err(format!("--shard {text:?}: need 1 <= K <= M"));
        }
        Ok(Shard { k, m })
    }
}

/// The seeds `start..start+count` that belong to `shard` (all of them
/// without a shard): position i is kept when i mod M == K-1.
pub fn seeds(start: u64, count: u64, shard: Option<Shard>) -> Vec<u64> {
    (0..count)
        .filter(|i| shard.is_none_or(|s| i % s.m == s.k - 1))
        .map(|i| start.wrapping_add(i))
        .collect()
}

/// What one seed gave.
#[derive(Debug, Clone)]
pub enum Outcome {
    Pass,
    Fail(Vec<Violation>),
    /// The run could not complete (or panicked): the message says why.
    Incomplete(String),
}

/// One explored seed.
#[derive(Debug, Clone)]
pub struct SeedResult {
    pub seed: u64,
    pub outcome: Outcome,
    /// The history hash of the run (`None` when it did not complete).
    pub trace_hash: Option<String>,
    /// The distinct signatures of its violations.
    pub signatures: Vec<Signature>,
    /// What the run covered (empty when it did not complete).
    pub coverage: RunCoverage,
    /// With `--baseline`, for a seed that failed: the baseline's verdict.
    pub differential: Option<Differential>,
    /// For a failure that completed: its wire capture (pcapng bytes),
    /// until [`write_bundle`] takes it.
    pub capture: CaptureSlot,
}

/// A failing seed's capture, or why it has none; taken once.
#[derive(Debug, Clone, Default)]
pub struct CaptureSlot(std::sync::Arc<std::sync::Mutex<Option<Capture>>>);

/// A failing seed's capture (pcapng bytes) and history (JSON lines), or
/// why it has none.
pub type Capture = Result<Evidence, String>;

/// What a capturing rerun of a failed seed keeps for its bundle.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The wire capture, pcapng.
    pub pcap: Vec<u8>,
    /// The history, as `run --trace` writes it.
    pub history: Vec<u8>,
}

impl CaptureSlot {
    fn put(&self, capture: Capture) {
        *self.0.lock().expect("capture slot") = Some(capture);
    }

    fn take(&self) -> Option<Capture> {
        self.0.lock().expect("capture slot").take()
    }
}

/// Runs a failed seed again with a capturing recorder and returns its
/// capture as pcapng bytes and its history as JSON lines, or why there
/// are none (the rerun gave another history: nondeterminism; or it did
/// not complete).
pub fn capture_seed(scenario: &Scenario, seed: u64, trace_hash: &str) -> Capture {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::report::run_once_capturing(scenario, seed)
    }));
    let (report, tape) = match run {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return Err(format!("the capturing rerun could not complete: {e}")),
        Err(_) => return Err("the capturing rerun panicked".into()),
    };
    if report.trace_hash != trace_hash {
        return Err(format!(
            "the capturing rerun gave trace hash {}, not {trace_hash}: nondeterminism (check-determinism)",
            report.trace_hash
        ));
    }
    let mut pcap = Vec::new();
    crate::history::pcap::write(&tape, crate::testbed::EPOCH, &mut pcap)
        .map_err(|e| format!("the capture could not be encoded: {e}"))?;
    let mut history = Vec::new();
    crate::history::jsonl::write(&report.history, &mut history)
        .map_err(|e| format!("the history could not be encoded: {e}"))?;
    Ok(Evidence { pcap, history })
}

impl SeedResult {
    /// Whether the seed counts as a failure: it failed, and (in
    /// differential mode) in a way the baseline did not.
    pub fn failed(&self) -> bool {
        !matches!(self.outcome, Outcome::Pass)
            && self.differential.as_ref().is_none_or(Differential::is_new)
    }

    /// Failed on this scenario, whatever the baseline said.
    pub fn failed_here(&self) -> bool {
        !matches!(self.outcome, Outcome::Pass)
    }

    /// Runs the seed on the baseline when it failed here, and records the
    /// comparison.
    pub fn compare_with(&mut self, baseline: &Scenario) {
        if !self.failed_here() {
            return;
        }
        let other = run_seed(baseline, self.seed);
        let verdict = match &other.outcome {
            Outcome::Pass => BaselineVerdict::Pass,
            Outcome::Fail(_) => BaselineVerdict::Fail {
                signatures: other.signatures.iter().map(|s| s.id.clone()).collect(),
            },
            Outcome::Incomplete(e) => BaselineVerdict::Incomplete { error: e.clone() },
        };
        let incomplete = matches!(self.outcome, Outcome::Incomplete(_));
        self.differential = Some(Differential::judge(&self.signatures, incomplete, verdict));
    }
}

/// Runs one seed: never panics (a panic becomes `Incomplete`).
pub fn run_seed(scenario: &Scenario, seed: u64) -> SeedResult {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        super::run::run_once(scenario, seed)
    }));
    let trace_hash = match &run {
        Ok(Ok(report)) => Some(report.trace_hash.clone()),
        _ => None,
    };
    let (signatures, coverage) = match &run {
        Ok(Ok(report)) => {
            // `[vary]` draws node config and workload only, never
            // `[fault_settings]`: the file's own settings say which sites
            // this seed activated.
            let active = crate::faults::buggify::activate(&scenario.fault_settings, seed)
                .into_iter()
                .map(|a| a.site);
            (
                triage::signatures(&report.violations, &report.history),
                RunCoverage::of(&report.history, active),
            )
        }
        _ => Default::default(),
    };
    let outcome = match run {
        Ok(Ok(report)) if report.violations.is_empty() => Outcome::Pass,
        Ok(Ok(report)) => Outcome::Fail(report.violations),
        Ok(Err(e)) => Outcome::Incomplete(format!("the run could not complete: {e}")),
        Err(panic) => Outcome::Incomplete(format!(
            "the run panicked (a bug): {}",
            super::panic_text(&*panic)
        )),
    };
    SeedResult {
        seed,
        outcome,
        trace_hash,
        signatures,
        coverage,
        differential: None,
        capture: CaptureSlot::default(),
    }
}

/// Runs `seeds` on `jobs` threads, calling `each` on the calling thread as
/// results arrive (in completion order); returns them in seed-list order.
pub fn explore(
    scenario: &Scenario,
    baseline: Option<&Scenario>,
    seeds: &[u64],
    jobs: usize,
    each: impl FnMut(&SeedResult),
) -> Vec<SeedResult> {
    let run = |&seed: &u64| {
        let mut result = run_seed(scenario, seed);
        if let Some(baseline) = baseline {
            result.compare_with(baseline);
        }
        if let (true, Some(hash)) = (result.failed(), &result.trace_hash) {
            result.capture.put(capture_seed(scenario, seed, hash));
        }
        result
    };
    crate::testbed::parallel::map(seeds, jobs, run, each)
}

/// `bundle.json`. `callsim replay` reads it back ([`super::replay`]).
#[derive(Debug, Serialize)]
pub struct Bundle<'a> {
    pub seed: u64,
    /// The scenario's path as given (the bundle's `scenario.toml` is its copy).
    pub scenario: String,
    pub fault_plan: Vec<String>,
    /// The config `[vary]` drew for this seed (absent without `[vary]`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub varied: std::collections::BTreeMap<String, String>,
    pub commit: String,
    /// The run's history hash; `None` when the run did not complete.
    pub trace_hash: Option<&'a str>,
    /// Reruns the seed on the scenario's file, from any directory.
    pub replay: String,
    /// Reruns the bundle itself (its copy of the scenario) and checks the
    /// hash: `callsim replay DIR`.
    pub replay_bundle: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    pub violations: &'a [Violation],
    /// The failure's signatures (`triage`), which `callsim shrink` keeps.
    pub signatures: &'a [Signature],
    /// With `--baseline`: what the baseline's run of the seed gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differential: Option<&'a Differential>,
    /// The bundle's wire capture (`capture.pcap`, pcapng), when written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<&'static str>,
    /// The bundle's history (`history.jsonl`, as `run --trace` writes
    /// it), when written: `callsim replay` shows where a rerun departs
    /// from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<&'static str>,
    /// Why the bundle has no capture (nor history), when a rerun could not
    /// make one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_error: Option<&'a str>,
}

/// The file name of a bundle's wire capture (pcapng content; Wireshark,
/// tshark and libpcap tell the format by its first bytes).
pub const CAPTURE_FILE: &str = "capture.pcap";

/// The file name of a bundle's history (JSON lines, one event each).
pub const HISTORY_FILE: &str = "history.jsonl";

/// The bundle directory of one seed.
pub fn bundle_dir(root: &Path, scenario: &Scenario, seed: u64) -> PathBuf {
    let stem = scenario
        .source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into());
    root.join(stem).join(format!("seed-{seed}"))
}

/// Writes a failing seed's bundle; returns its directory.
pub fn write_bundle(
    root: &Path,
    scenario: &Scenario,
    result: &SeedResult,
) -> std::io::Result<PathBuf> {
    let dir = bundle_dir(root, scenario, result.seed);
    std::fs::create_dir_all(&dir)?;
    let (violations, error): (&[Violation], Option<&str>) = match &result.outcome {
        Outcome::Pass => (&[], None),
        Outcome::Fail(v) => (v, None),
        Outcome::Incomplete(e) => (&[], Some(e)),
    };
    let text = std::fs::read_to_string(&scenario.source).unwrap_or_else(|_| scenario.to_toml());
    std::fs::write(dir.join("scenario.toml"), text)?;
    let replay_bundle = super::replay::replay_bundle_command(&dir);
    let trace_hash = result.trace_hash.as_deref();
    std::fs::write(
        dir.join("SEED.txt"),
        format!(
            "{}  replay bundle: {replay_bundle}\n",
            seed_block(scenario, result.seed, trace_hash)
        ),
    )?;
    std::fs::write(dir.join("violations.json"), pretty(&violations))?;
    let capture_error = match result.capture.take() {
        Some(Ok(evidence)) => {
            std::fs::write(dir.join(CAPTURE_FILE), evidence.pcap)?;
            std::fs::write(dir.join(HISTORY_FILE), evidence.history)?;
            None
        }
        Some(Err(why)) => Some(why),
        None => None,
    };
    let bundle = Bundle {
        seed: result.seed,
        scenario: scenario.source.display().to_string(),
        // As expanded for this seed: process occurrences, swarm picks.
        fault_plan: crate::report::expanded_plan(scenario, result.seed),
        varied: crate::report::varied_text(scenario, result.seed),
        commit: git_commit(),
        trace_hash,
        replay: replay_command(&scenario.source.display().to_string(), result.seed),
        replay_bundle,
        error,
        violations,
        signatures: &result.signatures,
        differential: result.differential.as_ref(),
        capture: dir.join(CAPTURE_FILE).is_file().then_some(CAPTURE_FILE),
        history: dir.join(HISTORY_FILE).is_file().then_some(HISTORY_FILE),
        capture_error: capture_error.as_deref(),
    };
    std::fs::write(dir.join("bundle.json"), pretty(&bundle))?;
    Ok(dir)
}

fn pretty<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("bundles serialise")
}

/// `explore --json`.
#[derive(Debug, Serialize)]
pub struct ExploreDoc<'a> {
    pub scenario: String,
    pub seeds_run: usize,
    pub failed: Vec<FailedSeed<'a>>,
    pub wall_ms: u64,
    /// `--baseline`'s path, in differential mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Seeds that failed here and also, with the same signatures, on the
    /// baseline (not counted as failures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub also_fail_on_baseline: Option<usize>,
    /// Counted failures by signature.
    pub signatures: &'a Groups,
    pub coverage: &'a SweepCoverage,
}

#[derive(Debug, Serialize)]
pub struct FailedSeed<'a> {
    pub seed: u64,
    pub violations: &'a [Violation],
    pub replay: String,
    pub bundle: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    pub signatures: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differential: Option<&'a Differential>,
}

/// The exit code over all seeds: 1 safety, else 5 incomplete, else 3
/// liveness, else 0.
pub fn exit_code(results: &[SeedResult]) -> i32 {
    let any =
        |f: &dyn Fn(&Outcome) -> bool| results.iter().filter(|r| r.failed()).any(|r| f(&r.outcome));
    if any(&|o| matches!(o, Outcome::Fail(v) if v.iter().any(|v| v.kind == OracleKind::Safety))) {
        exit::SAFETY
    } else if any(&|o| matches!(o, Outcome::Incomplete(_))) {
        exit::INCOMPLETE
    } else if any(&|o| matches!(o, Outcome::Fail(_))) {
        exit::LIVENESS
    } else {
        exit::OK
    }
}

fn progress_bar(len: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len as u64),
        if std::io::stderr().is_terminal() {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} seeds {msg} (eta {eta})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar
}

/// A failing seed in full: its violations, replay command and bundle.
fn describe_failure(result: &SeedResult, replay: &str, bundle: &str) -> String {
    let mut s = match &result.outcome {
        Outcome::Pass => return String::new(),
        Outcome::Fail(v) => {
            let safety = v.iter().any(|v| v.kind == OracleKind::Safety);
            let mut s = format!(
                "seed {}: FAIL ({}, {} violation{})\n",
                result.seed,
                if safety { "safety" } else { "liveness" },
                v.len(),
                if v.len() == 1 { "" } else { "s" }
            );
            for v in v.iter().take(3) {
                s.push_str(&format!("  {}\n", v.line()));
            }
            if v.len() > 3 {
                s.push_str(&format!("  .. and {} more\n", v.len() - 3));
            }
            s
        }
        Outcome::Incomplete(e) => format!("seed {}: INCOMPLETE: {e}\n", result.seed),
    };
    for sig in &result.signatures {
        s.push_str(&format!("  signature {}\n", sig.line()));
    }
    if let Some(d) = &result.differential {
        s.push_str(&format!(
            "  baseline: {} (new here: {})\n",
            match &d.baseline {
                BaselineVerdict::Pass => "passes".to_string(),
                BaselineVerdict::Fail { signatures } =>
                    format!("fails with {}", signatures.join(", ")),
                BaselineVerdict::Incomplete { error } => format!("incomplete: {error}"),
            },
            d.new_signatures.join(", ")
        ));
    }
    s.push_str(&format!("  replay: {replay}\n  bundle: {bundle}"));
    s
}

/// A failing seed whose signatures were all printed before: one line.
fn describe_repeat(result: &SeedResult, bundle: &str) -> String {
    let ids: Vec<&str> = result.signatures.iter().map(|s| s.id.as_str()).collect();
    format!(
        "seed {}: FAIL again with signature {} (bundle: {bundle})",
        result.seed,
        ids.join(", ")
    )
}

pub fn command(args: ExploreArgs) -> i32 {
    match sweep(&args) {
        Ok(done) => {
            if args.json {
                println!("{}", done.json);
            }
            done.code
        }
        Err(code) => code,
    }
}

/// A finished sweep.
#[derive(Debug)]
pub struct Sweep {
    /// The command's exit code.
    pub code: i32,
    /// Every seed's result, in seed-list order.
    pub results: Vec<SeedResult>,
    /// The `explore --json` document, as printed.
    pub json: String,
}

/// The command's arguments, checked once: what a sweep runs.
struct SweepPlan {
    scenario: Scenario,
    /// The first seed of the list (before sharding).
    start: u64,
    shard: Option<Shard>,
    jobs: usize,
    /// Where failure bundles go.
    root: PathBuf,
    /// The seeds this sweep (this shard) runs, in order.
    seeds: Vec<u64>,
    /// `--baseline`, loaded and validated.
    baseline: Option<Scenario>,
}

impl SweepPlan {
    /// Loads the scenario and checks the arguments; on bad input the error
    /// is on stderr and the result is `Err(2)`.
    fn from_args(args: &ExploreArgs) -> Result<SweepPlan, i32> {
        let scenario = load_scenario(&args.scenario)?;
        let start = resolve_seed(args.start, &scenario)?;
        if args.seeds == 0 || args.seeds > SEEDS_MAX {
            eprintln!("error: --seeds must be in 1..={SEEDS_MAX}");
            return Err(exit::BAD_INPUT);
        }
        if let Err(message) = super::seed_range(start, args.seeds) {
            eprintln!("error: {message}");
            return Err(exit::BAD_INPUT);
        }
        let shard = args
            .shard
            .as_deref()
            .map(Shard::parse)
            .transpose()
            .map_err(|e| {
                eprintln!("error: {e}");
                exit::BAD_INPUT
            })?;
        let jobs = match args.jobs {
            Some(0) => {
                eprintln!("error: --jobs must be >= 1");
                return Err(exit::BAD_INPUT);
            }
            Some(j) => j,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let root = args
            .bundles
            .clone()
            .unwrap_or_else(|| PathBuf::from(BUNDLES_DEFAULT));
        let baseline = match &args.baseline {
            Some(path) => Some(load_scenario(path)?),
            None => None,
        };
        Ok(SweepPlan {
            baseline,
            seeds: seeds(start, args.seeds, shard),
            scenario,
            start,
            shard,
            jobs,
            root,
        })
    }
}

/// What the runs of a sweep left.
struct Ran {
    /// Every seed's result, in seed-list order.
    results: Vec<SeedResult>,
    /// Each failing seed's bundle directory, or why it was not written.
    bundles: std::collections::BTreeMap<u64, String>,
    failures: usize,
    bundle_errors: usize,
    wall_ms: u64,
    /// Counted failures by signature.
    groups: Groups,
    coverage: SweepCoverage,
}

/// Runs the seeds with a progress bar; saves each failure's bundle and
/// prints its replay command as soon as it is known.
fn run_and_bundle(plan: &SweepPlan, path: &str) -> Ran {
    let wall_start = std::time::Instant::now();
    let bar = progress_bar(plan.seeds.len());
    let mut bundles: std::collections::BTreeMap<u64, String> = Default::default();
    let mut bundle_errors = 0;
    let mut failures = 0;
    let mut groups = Groups::default();
    let mut coverage = SweepCoverage::new();
    let baseline = plan.baseline.as_ref();
    let results = explore(&plan.scenario, baseline, &plan.seeds, plan.jobs, |result| {
        bar.inc(1);
        coverage.add(&result.coverage);
        if !result.failed() {
            return;
        }
        failures += 1;
        bar.set_message(format!("{failures} failed"));
        let bundle = match write_bundle(&plan.root, &plan.scenario, result) {
            Ok(dir) => dir.display().to_string(),
            Err(e) => {
                bundle_errors += 1;
                format!("(not written: {e})")
            }
        };
        let replay = replay_command(path, result.seed);
        // In differential mode only the signatures new to the candidate
        // count; an incomplete run counts as its own.
        let counted: Vec<Signature> = match &result.differential {
            Some(d) => result
                .signatures
                .iter()
                .filter(|s| d.new_signatures.contains(&s.id))
                .cloned()
                .collect(),
            None => result.signatures.clone(),
        };
        let first = groups.add(result.seed, &counted);
        let incomplete = matches!(result.outcome, Outcome::Incomplete(_));
        let text = if first.is_empty() && !incomplete && !counted.is_empty() {
            describe_repeat(result, &bundle)
        } else {
            describe_failure(result, &replay, &bundle)
        };
        bar.suspend(|| eprintln!("{text}"));
        bundles.insert(result.seed, bundle);
    });
    bar.finish_and_clear();
    Ran {
        results,
        bundles,
        failures,
        bundle_errors,
        wall_ms: wall_start.elapsed().as_millis() as u64,
        groups,
        coverage,
    }
}

/// The closing line on stderr: how many seeds ran where, and how many failed.
fn summary(plan: &SweepPlan, path: &str, ran: &Ran) -> String {
    let shard_text = plan
        .shard
        .map(|s| format!(" (shard {}/{})", s.k, s.m))
        .unwrap_or_default();
    let baseline_text = match &plan.baseline {
        Some(b) => format!(
            " ({} more failed the same way on the baseline {})",
            also_fail(ran),
            b.source.display()
        ),
        None => String::new(),
    };
    format!(
        "{path}: explored {} seeds from {}{shard_text} on {} threads in {} ms: {} failed{baseline_text}{}",
        plan.seeds.len(),
        plan.start,
        plan.jobs,
        ran.wall_ms,
        ran.failures,
        if ran.bundle_errors > 0 {
            format!(", {} bundles could not be written", ran.bundle_errors)
        } else {
            String::new()
        }
    )
}

/// Seeds that failed here but only as the baseline did.
fn also_fail(ran: &Ran) -> usize {
    ran.results
        .iter()
        .filter(|r| r.failed_here() && !r.failed())
        .count()
}

/// The JUnit suite of a finished sweep (see the module doc).
fn junit_suite(plan: &SweepPlan, path: &str, ran: &Ran) -> super::junit::Suite {
    use super::junit::{Case, CaseOutcome, Suite};
    let shard_text = plan
        .shard
        .map(|s| format!(" shard {}/{}", s.k, s.m))
        .unwrap_or_default();
    let classname = format!("explore.{}", stem(&plan.scenario));
    let mut cases = Vec::new();
    for r in ran.results.iter().filter(|r| r.failed()) {
        let replay = replay_command(path, r.seed);
        let bundle = ran.bundles.get(&r.seed).cloned().unwrap_or_default();
        let outcome = match &r.outcome {
            Outcome::Fail(violations) => {
                let mut text: String = violations
                    .iter()
                    .map(|v| format!("[{:?}] {}\n", v.kind, v.line()))
                    .collect();
                text.push_str(&format!("replay: {replay}\nbundle: {bundle}\n"));
                CaseOutcome::Failure {
                    kind: match exit_code_for(violations) {
                        exit::SAFETY => "safety".into(),
                        _ => "liveness".into(),
                    },
                    message: violations.first().map(|v| v.line()).unwrap_or_default(),
                    text,
                }
            }
            Outcome::Incomplete(e) => CaseOutcome::Error {
                kind: "incomplete".into(),
                message: e.clone(),
                text: format!("{e}\nreplay: {replay}\nbundle: {bundle}\n"),
            },
            Outcome::Pass => continue,
        };
        cases.push(Case {
            classname: classname.clone(),
            name: format!("seed {}", r.seed),
            time_s: 0.0,
            outcome,
            system_out: String::new(),
        });
    }
    let passed: Vec<u64> = ran
        .results
        .iter()
        .filter(|r| !r.failed())
        .map(|r| r.seed)
        .collect();
    if !passed.is_empty() {
        cases.push(Case {
            classname,
            name: format!("{} passing seeds", passed.len()),
            time_s: 0.0,
            outcome: CaseOutcome::Passed,
            system_out: format!(
                "seeds: {}\n",
                passed
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        });
    }
    // The sweep's wall time, on its first case (runs overlap on threads,
    // so per-seed times would not add up).
    if let Some(first) = cases.first_mut() {
        first.time_s = ran.wall_ms as f64 / 1000.0;
    }
    Suite {
        name: format!("{path}{shard_text}"),
        cases,
    }
}

fn stem(scenario: &Scenario) -> String {
    scenario
        .source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into())
}

/// The `explore --json` document of a finished sweep.
fn explore_json(plan: &SweepPlan, path: &str, ran: &Ran) -> String {
    let failed = ran
        .results
        .iter()
        .filter(|r| r.failed())
        .map(|r| {
            let (violations, error): (&[Violation], _) = match &r.outcome {
                Outcome::Fail(v) => (v, None),
                Outcome::Incomplete(e) => (&[], Some(e.as_str())),
                Outcome::Pass => (&[], None),
            };
            FailedSeed {
                seed: r.seed,
                violations,
                replay: replay_command(path, r.seed),
                bundle: ran.bundles.get(&r.seed).cloned().unwrap_or_default(),
                error,
                signatures: r.signatures.iter().map(|s| s.id.as_str()).collect(),
                differential: r.differential.as_ref(),
            }
        })
        .collect();
    let doc = ExploreDoc {
        scenario: path.to_string(),
        seeds_run: ran.results.len(),
        failed,
        wall_ms: ran.wall_ms,
        baseline: plan
            .baseline
            .as_ref()
            .map(|b| b.source.display().to_string()),
        also_fail_on_baseline: plan.baseline.as_ref().map(|_| also_fail(ran)),
        signatures: &ran.groups,
        coverage: &ran.coverage,
    };
    serde_json::to_string_pretty(&doc).expect("the explore document serialises")
}

/// The whole command but printing the JSON document: validates the
/// arguments (`Err(2)` on bad input), runs the seeds, writes the bundles
/// and prints the human text on stderr.
pub fn sweep(args: &ExploreArgs) -> Result<Sweep, i32> {
    let plan = SweepPlan::from_args(args)?;
    let path = plan.scenario.source.display().to_string();
    let ran = run_and_bundle(&plan, &path);
    if !ran.groups.groups.is_empty() {
        eprint!("{}", ran.groups.render());
    }
    eprint!("{}", ran.coverage.render());
    eprintln!("{}", summary(&plan, &path, &ran));
    let json = explore_json(&plan, &path, &ran);
    if let Some(file) = &args.junit {
        let document = super::junit::render("callsim explore", &[junit_suite(&plan, &path, &ran)]);
        super::junit::write_file(file, &document)?;
    }
    Ok(Sweep {
        code: exit_code(&ran.results),
        results: ran.results,
        json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shard_parsing() {
        assert_eq!(Shard::parse("1/1"), Ok(Shard { k: 1, m: 1 }));
        assert_eq!(Shard::parse("3/4"), Ok(Shard { k: 3, m: 4 }));
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "1/x", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shard_examples() {
        assert_eq!(seeds(10, 5, None), vec![10, 11, 12, 13, 14]);
        assert_eq!(seeds(10, 5, Some(Shard { k: 1, m: 2 })), vec![10, 12, 14]);
        assert_eq!(seeds(10, 5, Some(Shard { k: 2, m: 2 })), vec![11, 13]);
        assert_eq!(seeds(0, 2, Some(Shard { k: 3, m: 3 })), Vec::<u64>::new());
    }

    proptest! {
        /// The shards of a sweep partition it: every seed in exactly one
        /// shard, in order, the shards' sizes within one of each other,
        /// and shard K holding exactly the positions congruent to K-1.
        #[test]
        fn shards_partition_the_seed_list(start in 0u64..1_000_000, count in 0u64..500, m in 1u64..12) {
            let all = seeds(start, count, None);
            prop_assert_eq!(all.len() as u64, count);
            let mut union = Vec::new();
            let mut sizes = Vec::new();
            for k in 1..=m {
                let shard = seeds(start, count, Some(Shard { k, m }));
                for s in &shard {
                    let position = s - start;
                    prop_assert_eq!(position % m, k - 1);
                }
                prop_assert!(shard.windows(2).all(|w| w[0] < w[1]));
                sizes.push(shard.len());
                union.extend(shard);
            }
            union.sort_unstable();
            prop_assert_eq!(union, all);
            let (lo, hi) = (sizes.iter().min().copied().unwrap_or(0), sizes.iter().max().copied().unwrap_or(0));
            prop_assert!(hi - lo <= 1);
        }
    }

    fn v(kind: OracleKind) -> Violation {
        Violation {
            oracle: "x".into(),
            kind,
            at_ms: 0,
            call: None,
            message: String::new(),
            ladder: String::new(),
        }
    }

    #[test]
    fn exit_code_precedence() {
        let r = |seed, outcome| SeedResult {
            seed,
            outcome,
            trace_hash: None,
            signatures: Vec::new(),
            coverage: Default::default(),
            differential: None,
            capture: CaptureSlot::default(),
        };
        let pass = r(1, Outcome::Pass);
        let live = r(2, Outcome::Fail(vec![v(OracleKind::Liveness)]));
        let safe = r(
            3,
            Outcome::Fail(vec![v(OracleKind::Liveness), v(OracleKind::Safety)]),
        );
        let inc = r(4, Outcome::Incomplete("budget".into()));
        assert_eq!(exit_code(std::slice::from_ref(&pass)), 0);
        assert_eq!(exit_code(&[pass.clone(), live.clone()]), 3);
        assert_eq!(exit_code(&[live.clone(), inc.clone()]), 5);
        assert_eq!(exit_code(&[live, inc, safe, pass]), 1);
        assert_eq!(exit_code(&[]), 0);
    }
}
