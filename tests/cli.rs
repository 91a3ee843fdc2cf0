//! The `callsim` binary as a user runs it, one process per command:
//! `check-determinism` refuses seed ranges that would replay nothing (or
//! other seeds than asked for); two processes give one history; replay
//! commands work from any directory (absolute, shell-quoted paths) and
//! `callsim replay` judges a bundle (0 replayed, 4 nondeterminism, 6 another
//! commit); `incidents --catalogue`; `sip-lint`'s verdicts on stdout.
//!
//! Every command runs without `CALLSIM_SEED` and `CALLSIM_GIT_COMMIT` from
//! the test's environment, so the seed and commit are the ones the test
//! means.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SELFTEST: &str = "fixtures/scenarios/harness-selftest.toml";

fn callsim_in(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_callsim"));
    cmd.args(args)
        .env_remove("CALLSIM_SEED")
        .env_remove("CALLSIM_GIT_COMMIT");
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    cmd.output().expect("the binary runs")
}

fn callsim(args: &[&str]) -> Output {
    callsim_in(None, args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

// ---- check-determinism: a check that ran nothing never passes ----

#[test]
fn check_determinism_refuses_a_seed_range_past_u64_max() {
    let out = callsim(&[
        "check-determinism",
        SELFTEST,
        "--start",
        "18446744073709551615",
        "--seeds",
        "2",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("would run past 18446744073709551615"),
        "{stderr}"
    );
    assert!(!stderr.contains("replayed identically"), "{stderr}");
}

#[test]
fn check_determinism_refuses_zero_seeds() {
    let out = callsim(&["check-determinism", SELFTEST, "--seeds", "0"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--seeds 0"), "{stderr}");
}

#[test]
fn check_determinism_runs_the_last_seed_and_counts_what_it_replayed() {
    // u64::MAX itself is a seed: one seed from it fits.
    let out = callsim(&[
        "check-determinism",
        SELFTEST,
        "--start",
        "18446744073709551615",
        "--seeds",
        "1",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("seed 18446744073709551615: "),
        "the seed ran: {stderr}"
    );
    assert!(
        stderr.contains(
            "1 seed replayed identically (seeds 18446744073709551615..=18446744073709551615)"
        ),
        "{stderr}"
    );
}

#[test]
fn explore_refuses_a_seed_range_past_u64_max() {
    let dir = crate::support::scratch_dir("cli-explore-overflow");
    let out = callsim(&[
        "explore",
        SELFTEST,
        "--start",
        "18446744073709551615",
        "--seeds",
        "2",
        "--bundles",
        utf8(&dir),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("would run past 18446744073709551615"),
        "{stderr}"
    );
}

// ---- determinism across processes ----

/// The trace hash `run --json` prints for `scenario` at `seed`.
fn trace_hash_of_a_process(scenario: &str, seed: &str) -> String {
    let out = callsim(&["run", scenario, "--seed", seed, "--json"]);
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 3)),
        "{}",
        text(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    doc["trace_hash"].as_str().expect("trace_hash").to_string()
}

/// Two processes (two address spaces, two allocators' layouts, two
/// hash-map seeds) give one history, and so does a run in this process:
/// nothing outside (scenario, seed, code) reaches the history. The SIP
/// flow exercises the UA, the RPC bus and their `select!`s, which
/// `tokio_unstable` lets turmoil seed.
#[test]
fn two_processes_give_the_same_trace_hash() {
    let scenario = "fixtures/scenarios/outbound-sync.toml";
    let first = trace_hash_of_a_process(scenario, "3");
    let second = trace_hash_of_a_process(scenario, "3");
    assert_eq!(first, second, "two processes, one seed, two histories");
    let here = callsim::report::run_once(
        &callsim::scenario::Scenario::load(Path::new(scenario)).expect("valid"),
        3,
    )
    .expect("the run completes");
    assert_eq!(
        here.trace_hash, first,
        "this process differs from the binary"
    );
}

// ---- replay commands and `callsim replay` ----

/// A scenario that fails (liveness, exit 3) at every seed, in a directory
/// whose name has a space and a quote in it.
fn failing_scenario(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(SELFTEST).expect("self-test scenario");
    let head = text.split("[oracles]").next().expect("has oracles");
    let sub = dir.join("my scenarios' dir");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let path = sub.join("tight.toml");
    std::fs::write(
        &path,
        format!("{head}[oracles]\ndatagrams_answered = {{ ratio_min = 0.99 }}\n"),
    )
    .expect("write");
    path
}

/// Runs `explore` on the failing scenario for seed 2; returns the bundle
/// directory and the explore JSON document's entry for the seed.
fn explored_bundle(dir: &Path) -> (PathBuf, serde_json::Value) {
    let scenario = failing_scenario(dir);
    let bundles = dir.join("bundles here");
    let out = callsim(&[
        "explore",
        utf8(&scenario),
        "--seeds",
        "1",
        "--start",
        "2",
        "--jobs",
        "1",
        "--json",
        "--bundles",
        utf8(&bundles),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let failed = doc["failed"][0].clone();
    let bundle = PathBuf::from(failed["bundle"].as_str().expect("bundle"));
    assert!(bundle.join("bundle.json").is_file(), "{}", bundle.display());
    (bundle, failed)
}

/// `bundle.json` of `bundle` copied to a new bundle with `edit` applied.
fn edited_copy(bundle: &Path, to: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    std::fs::create_dir_all(to).expect("mkdir");
    for file in [
        "scenario.toml",
        "SEED.txt",
        "violations.json",
        "history.jsonl",
    ] {
        std::fs::copy(bundle.join(file), to.join(file)).expect("copy");
    }
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("bundle.json")).expect("read"))
            .expect("json");
    edit(&mut doc);
    std::fs::write(to.join("bundle.json"), doc.to_string()).expect("write");
    to.to_path_buf()
}

fn sh_from_root(command: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir("/")
        .env_remove("CALLSIM_SEED")
        .env_remove("CALLSIM_GIT_COMMIT")
        .output()
        .expect("sh runs")
}

#[test]
fn bundles_carry_the_trace_hash_and_replay_from_any_directory() {
    let dir = crate::support::scratch_dir("cli-replay");
    let (bundle, failed) = explored_bundle(&dir);
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("bundle.json")).expect("read"))
            .expect("json");
    // The bundle's hash is the run's: what `run --json` prints.
    let scenario = failing_scenario(&dir);
    assert_eq!(
        recorded["trace_hash"].as_str().expect("trace_hash"),
        trace_hash_of_a_process(utf8(&scenario), "2")
    );
    let seed_txt = std::fs::read_to_string(bundle.join("SEED.txt")).expect("read");
    assert!(
        seed_txt.contains(&format!(
            "  trace_hash: {}\n",
            recorded["trace_hash"].as_str().expect("hash")
        )),
        "{seed_txt}"
    );

    // The run command: the binary's absolute path (or `callsim` on PATH),
    // the scenario's absolute path in single quotes (it has a space and a
    // quote), and it works from `/`.
    let replay = failed["replay"].as_str().expect("replay");
    assert_eq!(replay, recorded["replay"].as_str().expect("replay"));
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_callsim")).expect("exe");
    assert!(
        replay.starts_with(&format!("{} run ", exe.display()))
            || replay.starts_with("callsim run "),
        "{replay}"
    );
    let quoted = format!("'{}'", utf8(&scenario).replace('\'', "'\\''"));
    assert!(
        replay.ends_with(&format!("run {quoted} --seed 2")),
        "{replay}"
    );
    assert!(
        seed_txt.contains(&format!("  replay: {replay}\n")),
        "{seed_txt}"
    );
    let out = sh_from_root(replay);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("SEED=2"));

    // The bundle's own replay command, from `/` too: it replays.
    let replay_bundle = recorded["replay_bundle"].as_str().expect("replay_bundle");
    assert!(replay_bundle.contains(" replay '/"), "{replay_bundle}");
    assert!(
        seed_txt.contains(&format!("  replay bundle: {replay_bundle}\n")),
        "{seed_txt}"
    );
    let out = sh_from_root(replay_bundle);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("REPLAYED: seed 2"), "{stderr}");
}

#[test]
fn replay_exits_0_on_a_fresh_bundle_4_on_another_hash_6_on_another_commit() {
    let dir = crate::support::scratch_dir("cli-replay-codes");
    let (bundle, _) = explored_bundle(&dir);
    // Moved elsewhere and run from elsewhere: the bundle is self-contained.
    let moved = dir.join("moved bundle");
    std::fs::rename(&bundle, &moved).expect("move");
    std::fs::remove_file(failing_scenario(&dir)).expect("the original goes");
    let out = callsim_in(Some(Path::new("/")), &["replay", utf8(&moved)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let other_hash = edited_copy(&moved, &dir.join("other hash"), |doc| {
        doc["trace_hash"] = "0123456789abcdef".into();
    });
    let out = callsim(&["replay", utf8(&other_hash)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("NONDETERMINISM"), "{stderr}");
    assert!(
        stderr.contains("trace_hash: recorded 0123456789abcdef, now "),
        "{stderr}"
    );
    // The bundle keeps the history: a replay names the first event where
    // the rerun departs from it (here the recorded one is altered).
    let history = other_hash.join("history.jsonl");
    let recorded = std::fs::read_to_string(&history).expect("the bundle has its history");
    assert!(!stderr.contains("departs"), "the same history: {stderr}");
    let mut lines: Vec<&str> = recorded.lines().collect();
    assert!(lines.len() > 3, "{recorded}");
    let real = lines[2].to_string();
    lines[2] = "{\"t_ms\":0,\"host\":\"x\",\"kind\":\"altered\"}";
    std::fs::write(&history, lines.join("\n") + "\n").expect("write");
    let out = callsim(&["replay", utf8(&other_hash)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("history.jsonl departs at event 3")
            && stderr.contains(r#"recorded: {"t_ms":0,"host":"x","kind":"altered"}"#)
            && stderr.contains(&format!("now:      {real}")),
        "{stderr}"
    );

    let other_commit = edited_copy(&moved, &dir.join("other commit"), |doc| {
        doc["commit"] = "000000000000".into();
    });
    let out = callsim(&["replay", utf8(&other_commit)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("recorded at commit 000000000000"),
        "{stderr}"
    );
    assert!(stderr.contains("the code changed"), "{stderr}");
    assert!(!stderr.contains("NONDETERMINISM"), "{stderr}");
}

#[test]
fn replay_of_a_missing_bundle_is_bad_input() {
    let dir = crate::support::scratch_dir("cli-replay-missing");
    let out = callsim(&["replay", utf8(&dir.join("nothing"))]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bundle.json"), "{stderr}");
}

#[test]
fn a_failing_run_prints_an_absolute_quoted_replay_command_and_its_hash() {
    let dir = crate::support::scratch_dir("cli-seed-block");
    let scenario = failing_scenario(&dir);
    let out = callsim(&["run", utf8(&scenario), "--seed", "4", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "  trace_hash: {}\n",
            doc["trace_hash"].as_str().expect("hash")
        )),
        "{stderr}"
    );
    let replay = stderr
        .lines()
        .find_map(|l| l.strip_prefix("  replay: "))
        .expect("a replay line");
    assert!(replay.contains(" run '/"), "{replay}");
    let again = sh_from_root(&format!("{replay} --json"));
    let redo: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(redo["trace_hash"], doc["trace_hash"]);
}

// ---- incidents --catalogue ----

#[test]
fn incidents_reads_the_catalogue_it_is_given() {
    let dir = crate::support::scratch_dir("cli-catalogue");
    // An empty catalogue: nothing to run is never a pass, and the message
    // names the file it read.
    let empty = dir.join("empty.toml");
    std::fs::write(&empty, "# no incident\n").expect("write");
    let out = callsim(&["incidents", "--catalogue", utf8(&empty)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains(utf8(&empty)), "{stderr}");
    // A bad one: file, line and field.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[incident]]\nid = \"no-such-incident\"\n").expect("write");
    let out = callsim(&["incidents", "--catalogue", utf8(&bad)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:", utf8(&bad))), "{stderr}");
    // A file that is not there is a usage error, not an empty catalogue.
    let out = callsim(&["incidents", "--catalogue", utf8(&dir.join("none.toml"))]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn incidents_judges_by_the_given_catalogues_bounds() {
    // The first incident of the real catalogue, with its first figure's
    // buggy bounds moved out of reach: the run is the same, the judgement
    // follows the catalogue given.
    let dir = crate::support::scratch_dir("cli-catalogue-bounds");
    let mut catalogue: toml::Value = toml::from_str(
        &std::fs::read_to_string(callsim::incidents::CATALOGUE_PATH).expect("catalogue"),
    )
    .expect("toml");
    let incidents = catalogue["incident"].as_array_mut().expect("incidents");
    incidents.truncate(1);
    let id = incidents[0]["id"].as_str().expect("id").to_string();
    let figure = &mut incidents[0]["figure"][0];
    let name = figure["name"].as_str().expect("name").to_string();
    figure["buggy"] = toml::Value::Array(vec![(-2.0).into(), (-1.0).into()]);
    let path = dir.join("one incident.toml");
    std::fs::write(&path, toml::to_string(&catalogue).expect("toml")).expect("write");
    // Two seeds per variant: every figure must hold on each.
    let out = callsim(&[
        "incidents",
        "--catalogue",
        utf8(&path),
        "--json",
        "--seeds",
        "2",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for seed in [1, 2] {
        assert!(
            stderr.contains(&format!(
                "NOT REPRODUCED: {id} Buggy seed {seed}: {name} = "
            )),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains("NOT REPRODUCED on 0/2 seeds (1..=2)"),
        "the spread line: {stderr}"
    );
    assert!(stderr.contains("REPRODUCED     on 2/2 seeds"), "{stderr}");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 4, "one incident, two variants, two seeds");
    let seeds: Vec<u64> = rows.iter().map(|r| r["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, vec![1, 2, 1, 2]);
    assert_eq!(rows[0]["bounds"][&name], serde_json::json!([-2.0, -1.0]));
    let replay = stderr
        .lines()
        .find_map(|l| l.strip_prefix("  replay: "))
        .expect("a replay line");
    assert!(
        replay.contains(&format!(
            "{}/fixtures/scenarios/{id}-buggy.toml",
            env!("CARGO_MANIFEST_DIR")
        )),
        "{replay}"
    );
}

// ---- sip-lint: the verdicts are the result ----

#[test]
fn sip_lint_prints_its_verdicts_on_stdout() {
    let dir = crate::support::scratch_dir("cli-sip-lint");
    let valid = dir.join("valid.sip");
    std::fs::write(
        &valid,
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKabc\r\n\
         From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n\
         Call-ID: c1@example.com\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    )
    .expect("write");
    let invalid = dir.join("invalid.sip");
    std::fs::write(&invalid, "SIP/2.0 486 Busy Here\r\n\r\n").expect("write");
    let out = callsim(&["sip-lint", utf8(&valid), utf8(&invalid)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        format!(
            "{}: ok OPTIONS\n{}: invalid: missing From header\n",
            valid.display(),
            invalid.display()
        )
    );
    assert!(!text(&out.stderr).contains("ok OPTIONS"));
    // With --json, stdout is the one JSON document.
    let out = callsim(&["sip-lint", utf8(&valid), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc[0]["kind"], "OPTIONS");
}
