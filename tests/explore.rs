//! `callsim explore` over the harness self-test scenario: exit codes,
//! shards, bundles and the JSON document. A tightened copy of the
//! scenario fails the liveness oracle `datagrams_answered` (exit 3); a
//! copy that also asks for `play_success` (a safety oracle that no verb can
//! satisfy in a scenario without calls) fails safety (exit 1).

use callsim::cli::explore::{sweep, ExploreArgs, Outcome};
use std::path::{Path, PathBuf};

const SELFTEST: &str = "fixtures/scenarios/harness-selftest.toml";

/// A fresh directory for this test.
fn scratch(name: &str) -> PathBuf {
    crate::support::scratch_dir(&format!("explore-{name}"))
}

/// The self-test scenario with its oracles replaced.
fn variant(dir: &Path, name: &str, oracles: &str) -> PathBuf {
    let text = std::fs::read_to_string(SELFTEST).expect("self-test scenario");
    let head = text.split("[oracles]").next().expect("has oracles");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, format!("{head}[oracles]\n{oracles}\n")).expect("write");
    path
}

fn doc(done: &callsim::cli::explore::Sweep) -> serde_json::Value {
    serde_json::from_str(&done.json).expect("one JSON document")
}

fn args(scenario: &Path, seeds: u64, bundles: &Path) -> ExploreArgs {
    ExploreArgs {
        scenario: scenario.to_path_buf(),
        seeds,
        start: Some(1),
        jobs: Some(2),
        shard: None,
        json: true,
        bundles: Some(bundles.to_path_buf()),
        baseline: None,
        junit: None,
    }
}

#[test]
fn passing_scenario_exits_0_and_writes_no_bundle() {
    let dir = scratch("pass");
    let done = sweep(&args(Path::new(SELFTEST), 4, &dir.join("b"))).expect("valid");
    assert_eq!(done.code, 0);
    assert_eq!(doc(&done)["seeds_run"], 4);
    assert_eq!(doc(&done)["failed"], serde_json::json!([]));
    assert_eq!(doc(&done)["scenario"], SELFTEST);
    assert!(doc(&done)["wall_ms"].is_u64());
    assert!(!dir.join("b").exists());
}

#[test]
fn liveness_failure_exits_3_with_bundles_and_replay_commands() {
    let dir = scratch("liveness");
    let scenario = variant(&dir, "tight", "datagrams_answered = { ratio_min = 0.99 }");
    let bundles = dir.join("bundles");
    let done = sweep(&args(&scenario, 3, &bundles)).expect("valid");
    assert_eq!(done.code, 3);
    let doc = doc(&done);
    let failed = doc["failed"].as_array().expect("array");
    assert_eq!(failed.len(), 3);
    for (f, seed) in failed.iter().zip(1u64..) {
        assert_eq!(f["seed"], seed);
        assert_eq!(f["violations"][0]["oracle"], "datagrams_answered");
        assert_eq!(f["violations"][0]["kind"], "liveness");
        let replay = f["replay"].as_str().expect("replay");
        assert!(
            replay.ends_with(&format!("run {} --seed {seed}", scenario.display())),
            "{replay}"
        );
        let bundle = PathBuf::from(f["bundle"].as_str().expect("bundle"));
        assert_eq!(bundle, bundles.join("tight").join(format!("seed-{seed}")));
        for file in [
            "scenario.toml",
            "SEED.txt",
            "violations.json",
            "capture.pcap",
            "history.jsonl",
            "bundle.json",
        ] {
            assert!(
                bundle.join(file).is_file(),
                "{file} in {}",
                bundle.display()
            );
        }
        let b: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(bundle.join("bundle.json")).expect("read"),
        )
        .expect("json");
        assert_eq!(b["seed"], seed);
        assert_eq!(b["replay"], f["replay"]);
        // The plan as expanded for the seed (index, then the fault).
        assert_eq!(
            b["fault_plan"][0],
            "[0] partition pinger<->echo at=5s until=8s"
        );
        assert!(b["commit"].is_string());
        assert_eq!(b["violations"], f["violations"]);
        let copy = std::fs::read_to_string(bundle.join("scenario.toml")).expect("read");
        assert_eq!(copy, std::fs::read_to_string(&scenario).expect("read"));
        let seed_txt = std::fs::read_to_string(bundle.join("SEED.txt")).expect("read");
        assert!(
            seed_txt.starts_with(&format!("SEED={seed}\n")),
            "{seed_txt}"
        );
        // The capture holds the datagrams, and marks those the partition
        // dropped (sent, then lost on the link).
        assert_eq!(b["capture"], "capture.pcap");
        assert_eq!(b["history"], "history.jsonl");
        // The history is the failing run's: its hash is the recorded one.
        let lines = std::fs::read_to_string(bundle.join("history.jsonl")).expect("read");
        assert!(lines.lines().count() > 10, "{lines}");
        assert!(lines.contains(r#""kind":"fault.start""#), "{lines}");
        let (sent, dropped) = capture_counts(&bundle.join("capture.pcap"));
        assert!(sent > 0 && dropped > 0, "sent {sent}, dropped {dropped}");
    }
    // The bundle replays: the same seed fails the same way.
    let again = callsim::cli::explore::run_seed(
        &callsim::scenario::Scenario::load(&scenario).expect("valid"),
        2,
    );
    match (&again.outcome, &done.results[1].outcome) {
        (Outcome::Fail(a), Outcome::Fail(b)) => assert_eq!(a, b),
        other => panic!("expected two failures, got {other:?}"),
    }
}

#[test]
fn safety_failure_exits_1() {
    let dir = scratch("safety");
    let scenario = variant(
        &dir,
        "no-verbs",
        "datagrams_answered = { ratio_min = 0.5 }\nplay_success = {}",
    );
    let done = sweep(&args(&scenario, 2, &dir.join("b"))).expect("valid");
    assert_eq!(done.code, 1);
    assert_eq!(
        doc(&done)["failed"][0]["violations"][0]["oracle"],
        "play_success"
    );
}

#[test]
fn shards_split_the_sweep() {
    let dir = scratch("shards");
    let scenario = variant(&dir, "tight", "datagrams_answered = { ratio_min = 0.99 }");
    let mut seen = Vec::new();
    for k in 1..=3 {
        let mut a = args(&scenario, 5, &dir.join("b"));
        a.shard = Some(format!("{k}/3"));
        let done = sweep(&a).expect("valid");
        let seeds: Vec<u64> = done.results.iter().map(|r| r.seed).collect();
        assert_eq!(doc(&done)["seeds_run"], seeds.len());
        seen.push(seeds);
    }
    assert_eq!(seen, vec![vec![1, 4], vec![2, 5], vec![3]]);
}

#[test]
fn bad_arguments_exit_2() {
    let dir = scratch("bad");
    let mut a = args(Path::new(SELFTEST), 2, &dir);
    a.shard = Some("4/3".into());
    assert_eq!(sweep(&a).err(), Some(2));
    let mut a = args(Path::new(SELFTEST), 0, &dir);
    a.shard = None;
    assert_eq!(sweep(&a).err(), Some(2));
    let mut a = args(Path::new(SELFTEST), 2, &dir);
    a.jobs = Some(0);
    assert_eq!(sweep(&a).err(), Some(2));
    let a = args(&dir.join("missing.toml"), 2, &dir);
    assert_eq!(sweep(&a).err(), Some(2));
}

#[test]
fn threads_never_mix_runs() {
    // The same seeds on one thread and on three give the same verdicts,
    // message for message (the messages carry the datagram counts).
    let dir = scratch("threads");
    let scenario = variant(&dir, "tight", "datagrams_answered = { ratio_min = 0.99 }");
    let verdicts = |jobs| {
        let mut a = args(&scenario, 6, &dir.join(format!("b{jobs}")));
        a.jobs = Some(jobs);
        let done = sweep(&a).expect("valid");
        done.results
            .iter()
            .map(|r| format!("{} {:?}", r.seed, r.outcome))
            .collect::<Vec<_>>()
    };
    let one = verdicts(1);
    assert_eq!(one.len(), 6);
    assert_eq!(one, verdicts(3));
}

// ---- differential mode, signatures and coverage (issue 17) ----

const UNPINNED_BUGGY: &str = "fixtures/scenarios/unpinned/livekit-ringing-timeout-buggy.toml";
const UNPINNED_FIXED: &str = "fixtures/scenarios/unpinned/livekit-ringing-timeout-fixed.toml";

fn differential(scenario: &str, baseline: &str, start: u64, seeds: u64, dir: &Path) -> ExploreArgs {
    ExploreArgs {
        start: Some(start),
        baseline: Some(PathBuf::from(baseline)),
        ..args(Path::new(scenario), seeds, &dir.join("bundles"))
    }
}

#[test]
fn differential_mode_reports_what_the_baseline_does_not_fail() {
    // Seed 10 of the unpinned scenario draws a stack with `tracing` and no
    // deadline propagation (found by a 40-seed sweep); seeds 9 and 11 pass.
    let dir = scratch("differential");
    let done = sweep(&differential(UNPINNED_BUGGY, UNPINNED_FIXED, 9, 3, &dir)).expect("valid");
    let doc = doc(&done);
    assert_eq!(done.code, 1, "{doc:#}");
    let failed = doc["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{doc:#}");
    assert_eq!(failed[0]["seed"], 10);
    assert_eq!(failed[0]["differential"]["baseline"]["verdict"], "pass");
    let id = failed[0]["signatures"][0].as_str().unwrap();
    let group = &doc["signatures"]["groups"][id]["signature"];
    assert_eq!(group["oracle"], "ringing_timeout_respected");
    assert!(
        group["flow"].as_str().unwrap().starts_with("INVITE"),
        "{group}"
    );
    assert_eq!(doc["also_fail_on_baseline"], 0);
    let bundle: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            failed[0]["bundle"].as_str().unwrap().to_string() + "/bundle.json",
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(bundle["signatures"][0]["id"], id);
    assert!(
        bundle["varied"]["nodes.gateway.rpc_client.middleware"]
            .as_str()
            .unwrap()
            .contains("tracing"),
        "{bundle:#}"
    );
}

#[test]
fn a_failure_the_baseline_shares_does_not_count() {
    // The same scenario as its own baseline: seed 10 fails on both sides
    // with the same signature, so nothing is new and the sweep passes.
    let dir = scratch("differential-same");
    let done = sweep(&differential(UNPINNED_BUGGY, UNPINNED_BUGGY, 10, 1, &dir)).expect("valid");
    let doc = doc(&done);
    assert_eq!(done.code, 0, "{doc:#}");
    assert_eq!(doc["failed"], serde_json::json!([]));
    assert_eq!(doc["also_fail_on_baseline"], 1);
    assert!(
        !dir.join("bundles").exists(),
        "no bundle for a shared failure"
    );
    assert!(matches!(done.results[0].outcome, Outcome::Fail(_)));
    assert!(!done.results[0].failed());
}

#[test]
fn a_sweep_reports_the_states_it_reached_and_the_sites_that_fired() {
    let dir = scratch("coverage");
    let done = sweep(&args(
        Path::new("fixtures/scenarios/faults/buggify.toml"),
        2,
        &dir.join("b"),
    ))
    .expect("valid");
    let coverage = &doc(&done)["coverage"];
    assert_eq!(coverage["runs"], 2);
    let echo = &coverage["sites"]["harness.echo_drop"];
    assert_eq!(echo["runs_active"], 2);
    assert_eq!(echo["runs_fired"], 2);
    assert!(echo["firings"].as_u64().unwrap() > 10, "{coverage:#}");
    // Every state is listed, reached or not.
    for state in callsim::faults::coverage::STATES {
        assert!(coverage["states"][state.name].is_u64(), "{}", state.name);
    }
    let unpinned = sweep(&args(Path::new(UNPINNED_FIXED), 2, &dir.join("c"))).expect("valid");
    let states = &doc(&unpinned)["coverage"]["states"];
    assert_eq!(states["call.ringing_timeout"], 2, "{states:#}");
}

#[test]
fn shrink_keeps_the_signature_and_drops_what_did_not_cause_it() {
    let dir = scratch("shrink");
    let done = sweep(&differential(UNPINNED_BUGGY, UNPINNED_FIXED, 10, 1, &dir)).expect("valid");
    let bundle = PathBuf::from(doc(&done)["failed"][0]["bundle"].as_str().unwrap());
    let signature = done.results[0].signatures[0].id.clone();
    assert_eq!(callsim::cli::shrink::command(&bundle, 60), 0);
    let path = bundle.join(callsim::cli::shrink::SHRUNK_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let shrunk = callsim::scenario::Scenario::from_toml(&text, &path).expect("a valid scenario");
    assert!(shrunk.vary.is_empty(), "the drawn config is fixed");
    assert!(shrunk.fault_settings.swarm.is_none(), "{text}");
    let calls = shrunk.workload.outbound.as_ref().unwrap().calls;
    assert!(
        calls < 40,
        "fewer calls than the 40 of the original: {calls}"
    );
    assert!(shrunk.run.duration.as_millis() < 150_000);
    assert!(text.starts_with("# Shrunk by `callsim shrink`"), "{text}");
    let again = callsim::cli::explore::run_seed(&shrunk, 10);
    assert!(
        again.signatures.iter().any(|s| s.id == signature),
        "the shrunk scenario fails with {signature}: {:?}",
        again.signatures
    );
}

/// The packets of a pcapng capture, and those marked as dropped by a link.
fn capture_counts(path: &std::path::Path) -> (usize, usize) {
    let bytes = std::fs::read(path).expect("the capture");
    let mut reader = pcap_file::pcapng::PcapNgReader::new(&bytes[..]).expect("pcapng");
    let (mut sent, mut dropped) = (0, 0);
    while let Some(block) = reader.next_block() {
        if let pcap_file::pcapng::Block::EnhancedPacket(p) = block.expect("a block") {
            sent += 1;
            let marked = p.options.iter().any(|o| {
                matches!(o, pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption::Comment(c) if c.contains("dropped by the link"))
            });
            dropped += usize::from(marked);
        }
    }
    (sent, dropped)
}
