//! Pinned trace hashes: every scenario under `fixtures/` (the incident
//! catalogue aside) keeps its history, byte for byte, on seeds 1 to 5, as
//! `fixtures/trace-hashes.tsv` records it. A row is
//! `<scenario path from the repository root>\t<seed>\t<trace_hash>`, the
//! `trace_hash` of `callsim run FILE --seed N --json`; rows are sorted
//! bytewise (`LC_ALL=C sort`).
//!
//! - By default the test runs seed 1 of every scenario through the library
//!   and compares its report's `trace_hash` with the pinned one;
//!   `CALLSIM_TRACE_SEEDS=all` runs all five seeds. Every mismatch is
//!   printed with the file, the seed, both hashes and the replay command.
//!   The file must also cover every scenario on every seed, and name no
//!   file that is gone.
//! - `CALLSIM_BLESS=1` rewrites the rows it ran with the current code's
//!   hashes instead of failing (and drops rows of deleted files), e.g.
//!   `CALLSIM_BLESS=1 CALLSIM_TRACE_SEEDS=all cargo test --test
//!   integration trace_hashes`.
//! - `scripts/trace-hashes.sh` regenerates the whole file with the release
//!   binary.
//!
//! Every scenario runs here, none is left to the script: measured with the
//! test profile's binary, seed 1 of all 44 takes about 25 s of CPU (measured at 42) (the
//! slowest, the incident scenarios, 1 to 3.5 s each; `load.toml` 2 s), run
//! on every core.
//!
//! A change that moves histories on purpose says why in its commit and
//! updates this file in the same commit (STYLE.md, habit 13).

use callsim::scenario::Scenario;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The pinned hashes, relative to the repository root.
const PINNED: &str = "fixtures/trace-hashes.tsv";

/// The seeds every scenario is pinned on.
const SEEDS: std::ops::RangeInclusive<u64> = 1..=5;

/// The command that regenerates the whole file.
const REGENERATE: &str = "scripts/trace-hashes.sh";

type Key = (String, u64);

#[test]
fn every_scenario_keeps_its_pinned_trace_hash() {
    let bless = env_flag("CALLSIM_BLESS");
    let seeds: Vec<u64> = match std::env::var("CALLSIM_TRACE_SEEDS").as_deref() {
        Err(_) | Ok("1") => vec![1],
        Ok("all") => SEEDS.collect(),
        Ok(other) => panic!("CALLSIM_TRACE_SEEDS={other:?}: say `all` or leave it unset"),
    };
    let text = std::fs::read_to_string(PINNED).unwrap_or_else(|e| {
        assert!(
            bless,
            "cannot read {PINNED} ({e}): write it with `{REGENERATE}`"
        );
        String::new()
    });
    let mut pinned = parse(&text);
    let scenarios = crate::support::scenario_files();

    // What the file must cover, whatever this run checks.
    let mut problems = Vec::new();
    let present: BTreeSet<&str> = scenarios.iter().map(String::as_str).collect();
    for (path, seed) in pinned.keys() {
        if !present.contains(path.as_str()) {
            problems.push(format!("{path} seed {seed}: pinned, but the file is gone"));
        }
    }
    for path in &scenarios {
        for seed in SEEDS {
            if !pinned.contains_key(&(path.clone(), seed)) {
                problems.push(format!("{path} seed {seed}: no pinned hash"));
            }
        }
    }

    // The runs, shared among as many threads as the machine has.
    let jobs: Vec<Key> = scenarios
        .iter()
        .flat_map(|path| seeds.iter().map(move |seed| (path.clone(), *seed)))
        .collect();
    let hashes = run_all(&jobs);
    for (key, hash) in &hashes {
        let (path, seed) = key;
        match pinned.get(key) {
            Some(old) if old == hash => {}
            Some(old) => problems.push(format!(
                "{path} seed {seed}: pinned {old}, now {hash}\n    replay: {} --json",
                callsim::report::replay_command(path, *seed)
            )),
            None => {} // Already reported as missing.
        }
    }

    if bless {
        pinned.retain(|(path, _), _| present.contains(path.as_str()));
        pinned.extend(hashes);
        std::fs::write(PINNED, render(&pinned))
            .unwrap_or_else(|e| panic!("cannot write {PINNED}: {e}"));
        eprintln!(
            "trace_hashes: wrote {PINNED} ({} rows, seeds {seeds:?} run); it had found:\n{}",
            pinned.len(),
            problems.join("\n")
        );
        return;
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) with {PINNED}:\n{}\n\nIf the histories moved on purpose, regenerate the \
         file (`{REGENERATE}`, or `CALLSIM_BLESS=1 CALLSIM_TRACE_SEEDS=all cargo test --test \
         integration trace_hashes`) and say why in the commit.",
        problems.len(),
        problems.join("\n")
    );
}

/// True when the variable is `1`; unset, empty or `0` is false.
fn env_flag(name: &str) -> bool {
    match std::env::var(name).as_deref() {
        Err(_) | Ok("") | Ok("0") => false,
        Ok("1") => true,
        Ok(other) => panic!("{name}={other:?}: say 1 or leave it unset"),
    }
}

/// The rows of the file, keyed by (scenario, seed); blank lines and `#`
/// comments are skipped, anything else malformed fails with its line.
fn parse(text: &str) -> BTreeMap<Key, String> {
    let mut rows = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [path, seed, hash] = fields[..] else {
            panic!(
                "{PINNED}:{}: want `scenario<TAB>seed<TAB>hash`: {line:?}",
                n + 1
            );
        };
        let seed: u64 = seed
            .parse()
            .unwrap_or_else(|_| panic!("{PINNED}:{}: seed {seed:?}", n + 1));
        let old = rows.insert((path.to_string(), seed), hash.to_string());
        assert!(
            old.is_none(),
            "{PINNED}:{}: a second row for {path} seed {seed}",
            n + 1
        );
    }
    rows
}

/// The file's text: one row per line, sorted bytewise like `LC_ALL=C sort`.
fn render(rows: &BTreeMap<Key, String>) -> String {
    let mut lines: Vec<String> = rows
        .iter()
        .map(|((path, seed), hash)| format!("{path}\t{seed}\t{hash}\n"))
        .collect();
    lines.sort();
    lines.concat()
}

/// The trace hash of each (scenario, seed), run through the library on
/// every core the machine has.
fn run_all(jobs: &[Key]) -> BTreeMap<Key, String> {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(BTreeMap::new());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads.min(jobs.len()) {
            s.spawn(|| {
                while let Some((path, seed)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let scenario = Scenario::load(Path::new(path))
                        .unwrap_or_else(|e| panic!("{path} is a valid scenario: {e}"));
                    let hash = crate::support::run(&scenario, *seed).trace_hash;
                    done.lock()
                        .expect("no thread panics holding it")
                        .insert((path.clone(), *seed), hash);
                }
            });
        }
    });
    done.into_inner().expect("no thread panicked holding it")
}
