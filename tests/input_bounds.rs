//! What a scenario may ask for is bounded, and what a run does is
//! budgeted: each hostile value that used to hang, exhaust memory or panic
//! (pods = 1000, rate_per_s = 10000, 10,000 faults, an endless file, a
//! flood of events) is refused at load naming its limit (exit 2), or ends
//! the run with exit 5 and a message, never a panic.

use callsim::scenario::{limits, Scenario};
use callsim::testbed::TestbedError;
use std::path::Path;
use std::process::Command;

const BASE: &str = r#"[run]
seed = 1
duration = "10s"

[nodes.pinger]
count = 5

[nodes.echo]
"#;

const PLATFORM: &str = r#"[run]
seed = 1
duration = "20s"

[nodes.gateway]
[nodes.bus]
[nodes.agent]
[nodes.sip]
[nodes.carrier]
"#;

fn refused(text: &str) -> callsim::scenario::ScenarioError {
    Scenario::from_toml(text, Path::new("bad.toml")).expect_err("refused")
}

#[test]
fn a_thousand_pods_are_refused_naming_the_limit() {
    let e = refused(&PLATFORM.replace("[nodes.sip]", "[nodes.sip]\npods = 1000"));
    assert_eq!(e.field, "nodes", "{e}");
    assert!(e.message.contains("HOSTS_MAX"), "{e}");
}

#[test]
fn a_call_rate_that_would_overflow_a_listen_backlog_is_refused() {
    // 10,000 calls/s used to panic inside turmoil ("server socket buffer
    // full"): more SYNs in one tick than the gateway's backlog holds.
    let text = format!(
        "{PLATFORM}\n[workload]\noutbound = {{ calls = 100, rate_per_s = 10000, ringing_timeout = \"5s\" }}\n"
    );
    let e = refused(&text);
    assert_eq!(e.field, "workload.outbound.rate_per_s", "{e}");
    assert!(e.message.contains("CALL_RATE_MAX"), "{e}");
    let text = format!(
        "{}\n[workload]\noutbound = {{ calls = 100, rate_per_s = 500, ringing_timeout = \"5s\" }}\n",
        PLATFORM.replace("duration = \"20s\"", "duration = \"20s\"\ntick = \"100ms\"")
    );
    let e = refused(&text);
    assert!(
        e.message.contains("ARRIVALS_PER_TICK_MAX"),
        "500/s at a 100 ms tick: {e}"
    );
}

#[test]
fn ten_thousand_faults_are_refused_before_anything_quadratic() {
    let mut text = BASE.to_string();
    for i in 0..(limits::FAULTS_MAX + 1) {
        text.push_str(&format!(
            "\n[[faults]]\nkind = \"crash\"\nnode = \"echo\"\nat = \"{}ms\"\nuntil = \"{}ms\"\n",
            i * 2,
            i * 2 + 1
        ));
    }
    let e = refused(&text);
    assert!(e.message.contains("FAULTS_MAX"), "{e}");
}

#[test]
fn too_many_steps_and_too_fine_media_are_refused() {
    let e = refused(&BASE.replace("duration = \"10s\"", "duration = \"24h\"\ntick = \"1ms\""));
    assert_eq!(e.field, "run.tick", "{e}");
    assert!(e.message.contains("STEPS_MAX"), "{e}");
    let e = refused(&PLATFORM.replace(
        "[nodes.carrier]",
        "[nodes.carrier]\nmedia_interval = \"1us\"",
    ));
    assert_eq!(e.field, "nodes.carrier.media_interval", "{e}");
}

#[test]
fn an_oversized_file_is_refused_without_reading_it_all() {
    let dir = callsim_scratch("bounds");
    let path = dir.join("huge.toml");
    let mut text = BASE.to_string();
    while (text.len() as u64) <= limits::FILE_BYTES_MAX {
        text.push_str("# padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&path, text).expect("write");
    let e = Scenario::load(&path).expect_err("refused");
    assert!(e.message.contains("FILE_BYTES_MAX"), "{e}");
}

#[test]
fn the_run_budget_ends_a_run_with_its_reason() {
    let text = BASE
        .replace("duration = \"10s\"", "duration = \"10s\"\nmax_events = 20")
        .replace("count = 5", "count = 50");
    let scenario = Scenario::from_toml(&text, Path::new("budget.toml")).expect("valid");
    match callsim::testbed::run(&scenario, 1) {
        Err(TestbedError::BudgetExceeded { events, limit, .. }) => {
            assert_eq!(limit, 20);
            assert!(events > 20);
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("the run ignored its budget"),
    }
    // The same run with the default budget completes.
    let scenario = Scenario::from_toml(BASE, Path::new("ok.toml")).expect("valid");
    callsim::testbed::run(&scenario, 1).expect("within the default budget");
}

#[test]
fn the_cli_exits_5_when_the_budget_runs_out() {
    let dir = callsim_scratch("budget");
    let path = dir.join("budget.toml");
    std::fs::write(
        &path,
        BASE.replace("duration = \"10s\"", "duration = \"10s\"\nmax_events = 20")
            .replace("count = 5", "count = 50"),
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(["run", path.to_str().expect("utf8")])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("run budget"), "{stderr}");
}

fn callsim_scratch(name: &str) -> std::path::PathBuf {
    crate::support::scratch_dir(name)
}
