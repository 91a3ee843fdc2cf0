//! Bad scenario input: every error names the file, the line and the field,
//! exits 2, and never panics. The messages are pinned by snapshots.

use callsim::scenario::{Scenario, ScenarioError};
use std::path::Path;
use std::process::Command;

const VALID: &str = r#"[run]
seed = 1
duration = "10s"

[nodes.pinger]
count = 5

[nodes.echo]
"#;

fn check(text: &str) -> ScenarioError {
    Scenario::from_toml(text, Path::new("bad.toml")).expect_err("the scenario is refused")
}

#[test]
fn the_valid_base_loads() {
    Scenario::from_toml(VALID, Path::new("ok.toml")).expect("valid");
}

#[test]
fn toml_syntax_error() {
    let e = check(&VALID.replace("count = 5", "count = = 5"));
    assert_eq!(e.line, 6);
    insta::assert_snapshot!(e.to_string());
}

#[test]
fn unknown_field() {
    let e = check(&VALID.replace("count = 5", "count = 5\ncolour = \"red\""));
    assert_eq!((e.line, e.field.as_str()), (7, "nodes.pinger.colour"));
    insta::assert_snapshot!(e.to_string());
}

#[test]
fn wrong_type() {
    let e = check(&VALID.replace("count = 5", "count = \"five\""));
    assert_eq!((e.line, e.field.as_str()), (6, "nodes.pinger.count"));
    insta::assert_snapshot!(e.to_string());
}

#[test]
fn zero_duration() {
    let e = check(&VALID.replace("duration = \"10s\"", "duration = \"0s\""));
    assert_eq!((e.line, e.field.as_str()), (3, "run.duration"));
    insta::assert_snapshot!(e.to_string());
}

#[test]
fn negative_duration() {
    let e = check(&VALID.replace("count = 5", "count = 5\ninterval = \"-100ms\""));
    assert_eq!((e.line, e.field.as_str()), (7, "nodes.pinger.interval"));
    insta::assert_snapshot!(e.to_string());
}

#[test]
fn duration_without_unit() {
    let e = check(&VALID.replace("duration = \"10s\"", "duration = \"10\""));
    assert_eq!((e.line, e.field.as_str()), (3, "run.duration"));
    insta::assert_snapshot!(e.to_string());
}

#[test]
fn zero_count_in_a_node() {
    let e = check(&VALID.replace("count = 5", "count = 0"));
    assert_eq!((e.line, e.field.as_str()), (6, "nodes.pinger.count"));
}

#[test]
fn unknown_node_reference() {
    let e = check(&VALID.replace("count = 5", "count = 5\ntarget = \"nowhere\""));
    assert_eq!((e.line, e.field.as_str()), (7, "nodes.pinger.target"));
    assert!(e.message.contains("nowhere"));
}

#[test]
fn missing_required_field() {
    let e = check(&VALID.replace("duration = \"10s\"\n", ""));
    assert_eq!(e.field, "run.duration");
    assert_eq!(e.line, 1, "reported where its table is");
}

#[test]
fn fault_until_before_at() {
    let text = format!(
        "{VALID}\n[[faults]]\nkind = \"partition\"\nbetween = [\"pinger\", \"echo\"]\nat = \"5s\"\nuntil = \"2s\"\n"
    );
    let e = check(&text);
    assert_eq!((e.line, e.field.as_str()), (14, "faults[0].until"));
    insta::assert_snapshot!(e.to_string());
}

#[test]
fn fault_unknown_node() {
    let text = format!(
        "{VALID}\n[[faults]]\nkind = \"partition\"\nbetween = [\"pinger\", \"gateway\"]\nat = \"5s\"\n"
    );
    let e = check(&text);
    assert_eq!(e.field, "faults[0].between");
    assert_eq!(e.line, 12);
    assert!(e.message.contains("gateway"));
}

#[test]
fn fault_past_the_duration() {
    let text = format!("{VALID}\n[[faults]]\nkind = \"crash\"\nnode = \"echo\"\nat = \"11s\"\n");
    let e = check(&text);
    assert_eq!((e.line, e.field.as_str()), (13, "faults[0].at"));
}

#[test]
fn all_oracles_switched_off_is_refused() {
    let text = format!(
        "{VALID}\n[oracles]\nevery_call_terminates = false\nhonest_status = false\nsip_conformance = false\ndialogs_agree = false\nack_received = false\noffer_answer = false\nringing_timeout_respected = false\nrestarts_bounded = false\nchildren_end_with_parent = false\n"
    );
    let e = check(&text);
    assert_eq!(e.field, "oracles");
}

#[test]
fn unknown_oracle() {
    let e = check(&format!("{VALID}\n[oracles]\nbe_nice = {{}}\n"));
    assert_eq!((e.line, e.field.as_str()), (11, "oracles.be_nice"));
}

#[test]
fn cli_exits_2_with_file_line_and_field() {
    let dir = crate::support::scratch_dir("errors");
    let path = dir.join("bad.toml");
    std::fs::write(&path, VALID.replace("count = 5", "count = \"five\"")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(["run", path.to_str().expect("utf8")])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:6: field `nodes.pinger.count`"),
        "{stderr}"
    );
}

#[test]
fn cli_missing_file_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(["run", "fixtures/scenarios/does-not-exist.toml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does-not-exist.toml: cannot read"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot read the scenario file"), "{stderr}");
}

#[test]
fn cli_incidents_without_a_catalogue_never_passes() {
    let dir = crate::support::scratch_dir("nocat");
    let out = Command::new(env!("CARGO_BIN_EXE_callsim"))
        .arg("incidents")
        .current_dir(&dir)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(5));
}

/// Error messages that used to mislead (issue 15, item 11).
#[test]
fn a_leading_comment_is_never_named_as_the_field() {
    let e = check("# a comment first\n[nodes.echo]\n");
    assert_eq!(e.field, "run", "{e}");
    assert!(!e.to_string().contains('#'), "{e}");
}

#[test]
fn an_empty_value_gets_a_reason() {
    let e = check(&VALID.replace("duration = \"10s\"", "duration = \"10s\"\ntick =# x"));
    assert!(!e.message.trim().is_empty(), "{e}");
}

#[test]
fn cr_only_line_endings_are_named_not_quoted() {
    let e = check(&VALID.replace("\n# ", "\n").replace('\n', "\r"));
    assert!(e.message.contains("bare CR"), "{e}");
    assert!(!e.field.contains('['), "{e}");
}

#[test]
fn a_missing_file_is_not_a_field() {
    let e = Scenario::load(Path::new("fixtures/scenarios/does-not-exist.toml")).unwrap_err();
    let text = e.to_string();
    assert!(
        !text.contains("(document)") && !text.contains(":0:"),
        "{text}"
    );
}

#[test]
fn every_missing_node_is_named_at_once_with_the_default_that_named_it() {
    let e = check("[run]\nduration = \"10s\"\n[nodes.gateway]\n");
    assert_eq!(e.field, "nodes.gateway.bus", "{e}");
    for part in [
        "bus (nodes.gateway.bus)",
        "agent (nodes.gateway.agent)",
        "is not in the file",
    ] {
        assert!(e.message.contains(part), "{part}: {e}");
    }
}
