//! The harness self-test: proves the test-bed (seeding, step loop, fault
//! scheduling, history, hash, determinism) with two plain UDP nodes, before
//! any SIP runs.

use crate::support::run;
use callsim::history::jsonl;
use callsim::scenario::Scenario;
use std::path::Path;
use std::process::Command;

const SELFTEST: &str = "fixtures/scenarios/harness-selftest.toml";

fn load() -> Scenario {
    Scenario::load(Path::new(SELFTEST)).expect("the self-test scenario is valid")
}

#[test]
fn same_seed_same_hash_other_seed_other_hash() {
    let scenario = load();
    let a = run(&scenario, 7);
    let b = run(&scenario, 7);
    let c = run(&scenario, 8);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.history, b.history);
    assert_ne!(
        a.trace_hash, c.trace_hash,
        "another seed draws other latencies"
    );
}

#[test]
fn twenty_seeds_replay_identically() {
    let scenario = load();
    for seed in 0..20 {
        let a = callsim::testbed::run(&scenario, seed).expect("run");
        let b = callsim::testbed::run(&scenario, seed).expect("run");
        assert_eq!(a.history.first_divergence(&b.history), None, "seed {seed}");
    }
}

#[test]
fn partition_window_loses_the_echoes_and_recovery_follows() {
    let scenario = load();
    let report = run(&scenario, 7);
    let recv_seqs: Vec<u64> = report
        .history
        .of_kind("net.datagram")
        .filter(|r| r.str("dir") == Some("recv"))
        .filter_map(|r| r.u64("seq"))
        .collect();
    // Datagram n is sent at (n-1)*100ms. The partition covers 5s..8s, so
    // datagrams 52..=80 (sent inside it) never come back, and the ones
    // around its edges may or may not, depending on the drawn latency.
    for seq in 52..=80 {
        assert!(
            !recv_seqs.contains(&seq),
            "datagram {seq} crossed the partition"
        );
    }
    for seq in (1..=45).chain(86..=150) {
        assert!(
            recv_seqs.contains(&seq),
            "datagram {seq} was lost without a fault"
        );
    }
    let starts: Vec<u64> = report
        .history
        .of_kind("fault.start")
        .map(|r| r.t_ms)
        .collect();
    let ends: Vec<u64> = report
        .history
        .of_kind("fault.end")
        .map(|r| r.t_ms)
        .collect();
    assert_eq!(starts, vec![5000]);
    assert_eq!(ends, vec![8000]);
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn a_tighter_oracle_fails_with_liveness_exit_code() {
    let mut scenario = load();
    scenario.oracles.insert(
        "datagrams_answered".into(),
        toml::Value::try_from(toml::toml! { ratio_min = 0.95 }).expect("toml"),
    );
    let report = run(&scenario, 7);
    assert_eq!(report.violations.len(), 1);
    assert_eq!(
        report.exit_code(),
        3,
        "datagrams_answered is a liveness oracle"
    );
}

#[test]
fn history_of_a_small_run_is_pinned() {
    let text = r#"
[run]
seed = 3
duration = "1s"
tick = "1ms"
latency_min = "2ms"
latency_max = "9ms"
[nodes.pinger]
count = 4
interval = "200ms"
[nodes.echo]
[[faults]]
kind = "partition"
from = "echo"
to = "pinger"
at = "350ms"
until = "500ms"
[oracles]
datagrams_answered = { ratio_min = 0.5 }
"#;
    let scenario = Scenario::from_toml(text, Path::new("small.toml")).expect("valid");
    let report = run(&scenario, 3);
    insta::assert_snapshot!("small_run_jsonl", jsonl::to_string(&report.history));
}

fn callsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(args)
        .env_remove("CALLSIM_SEED")
        .output()
        .expect("the binary runs")
}

#[test]
fn cli_run_json_is_stable_per_seed() {
    let hash = |seed: &str| {
        let out = callsim(&["run", SELFTEST, "--seed", seed, "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("one JSON document");
        assert_eq!(doc["seed"], seed.parse::<u64>().expect("seed"));
        assert_eq!(doc["verdict"], "pass");
        doc["trace_hash"].as_str().expect("hash").to_string()
    };
    assert_eq!(hash("7"), hash("7"));
    assert_ne!(hash("7"), hash("11"));
}

#[test]
fn cli_check_determinism_passes_twenty_seeds() {
    let out = callsim(&["check-determinism", SELFTEST, "--seeds", "20"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("20 seeds replayed identically"));
}

#[test]
fn seed_precedence_flag_over_env_over_file() {
    let seed_of = |args: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_callsim"));
        cmd.args(args).env_remove("CALLSIM_SEED");
        if let Some(v) = env {
            cmd.env("CALLSIM_SEED", v);
        }
        let out = cmd.output().expect("runs");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        doc["seed"].as_u64().expect("seed")
    };
    assert_eq!(
        seed_of(&["run", SELFTEST, "--json"], None),
        7,
        "the file's seed"
    );
    assert_eq!(
        seed_of(&["run", SELFTEST, "--json"], Some("9")),
        9,
        "env over file"
    );
    assert_eq!(
        seed_of(&["run", SELFTEST, "--json", "--seed", "4"], Some("9")),
        4,
        "flag over env"
    );
}

#[test]
fn a_failing_run_prints_the_seed_block() {
    let dir = crate::support::scratch_dir("seedblock");
    let path = dir.join("strict.toml");
    let text = std::fs::read_to_string(SELFTEST)
        .expect("read")
        .replace("ratio_min = 0.75", "ratio_min = 0.99");
    std::fs::write(&path, text).expect("write");
    let out = callsim(&["run", path.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SEED=7"), "{stderr}");
    // The replay command works from any directory: the binary's absolute
    // path and the scenario's (tests/cli.rs checks quoting and running it).
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_callsim")).expect("exe");
    assert!(
        stderr.contains(&format!(
            "replay: {} run {} --seed 7",
            exe.display(),
            path.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("partition pinger<->echo at=5s until=8s"),
        "{stderr}"
    );
}

/// The benchmark's network count sees every datagram the self-test puts on
/// a link, those the partition drops included (150 pings, 120 echoes), and
/// counting does not change the history.
#[test]
fn counting_the_network_sees_every_datagram_and_changes_nothing() {
    let scenario = load();
    let (counted, network) =
        callsim::testbed::run_counting_network(&scenario, scenario.run.seed).expect("run");
    let sends = counted
        .history
        .of_kind("net.datagram")
        .filter(|r| matches!(r.str("dir"), Some("send") | Some("echo")))
        .count() as u64;
    assert_eq!(sends, 270);
    assert_eq!(network.udp_datagrams, sends);
    assert_eq!(network.tcp_segments, 0);
    let plain = callsim::testbed::run(&scenario, scenario.run.seed).expect("run");
    assert_eq!(counted.history.hash(), plain.history.hash());
}

/// RPC goes over TCP: an outbound call's API request and bus dial add
/// segments (a connection is at least a SYN, a request, a response and a
/// FIN), and every SIP message is a datagram.
#[test]
fn counting_the_network_sees_tcp_segments_and_sip_datagrams() {
    let scenario =
        Scenario::load(Path::new("fixtures/scenarios/outbound-sync.toml")).expect("valid scenario");
    let (output, network) =
        callsim::testbed::run_counting_network(&scenario, scenario.run.seed).expect("run");
    let requests = output.history.of_kind("rpc.request").count() as u64;
    let sip_sends = output.history.of_kind("sip.send").count() as u64;
    assert!(requests > 0 && sip_sends > 0);
    assert!(
        network.tcp_segments >= 4 * requests,
        "{network:?} for {requests} RPC requests"
    );
    assert!(
        network.udp_datagrams >= sip_sends,
        "{network:?} for {sip_sends} SIP sends"
    );
}

/// With a tick that is not a whole number of milliseconds, tokio's clock
/// (which rounds sleeps up to whole milliseconds) ran ahead of turmoil's:
/// every timer fired early (a 20 s hold lasted 10 s at 0.5 ms). Such a
/// tick is now refused at load, naming `run.tick`.
#[test]
fn a_sub_millisecond_tick_is_refused() {
    let text = std::fs::read_to_string(SELFTEST)
        .expect("readable")
        .replace("tick = \"1ms\"", "tick = \"1500us\"");
    assert!(text.contains("1500us"), "the self-test sets its tick");
    let e = Scenario::from_toml(&text, Path::new(SELFTEST)).expect_err("refused");
    assert_eq!(e.field, "run.tick", "{e}");
}
