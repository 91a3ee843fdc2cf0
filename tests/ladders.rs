//! Ladders people paste: the Mermaid `sequenceDiagram` of each example
//! flow is pinned by an insta snapshot; every diagram (every call of the
//! example runs, and calls under a fault) passes a structural check of
//! Mermaid's sequence syntax; fault markers appear in both the text and
//! the Mermaid ladder; and `run --ladder/--calls` picks the calls.

use callsim::history::ladder::ladder;
use callsim::history::mermaid::sequence_diagram;
use callsim::report::Report;
use callsim::scenario::Scenario;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn run(file: &str) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/scenarios")
        .join(file);
    let scenario = Scenario::load(&path).expect("valid scenario");
    crate::support::run(&scenario, scenario.run.seed)
}

/// Every call id of a run, in order of first event.
fn calls(report: &Report) -> Vec<String> {
    let mut seen = BTreeSet::new();
    report
        .history
        .records
        .iter()
        .filter_map(|r| r.call())
        .filter(|c| seen.insert(c.to_string()))
        .map(str::to_string)
        .collect()
}

/// Checks that `diagram` is a Mermaid sequence diagram callsim's way:
/// the header, `%%` comments, participants (declared before any use,
/// each once), messages (`A->>B: text`, `A-->>B: text`) and notes
/// (`Note over A: text`, `Note over A,B: text`) between declared
/// participants, with text free of Mermaid's separators. Returns the
/// number of messages.
fn check_mermaid(diagram: &str) -> usize {
    let mut lines = diagram.lines();
    assert_eq!(lines.next(), Some("sequenceDiagram"), "{diagram}");
    let mut declared: Vec<String> = Vec::new();
    let mut messages = 0;
    let mut used = false;
    // Open `rect` blocks.
    let mut depth = 0usize;
    let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    // Text: non-empty, and `#` and `;` only in entity codes (`#35;`).
    let text_ok = |t: &str| {
        let mut rest = t;
        let mut plain = String::new();
        while let Some(i) = rest.find('#') {
            plain.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            match after.split_once(';') {
                Some((code, tail))
                    if !code.is_empty() && code.chars().all(|c| c.is_ascii_digit()) =>
                {
                    rest = tail;
                }
                _ => return false,
            }
        }
        plain.push_str(rest);
        !t.trim().is_empty() && !plain.contains(';')
    };
    for line in lines {
        let l = line
            .strip_prefix("    ")
            .unwrap_or_else(|| panic!("indented: {line:?}"));
        if l.starts_with("%%") {
            continue;
        }
        if let Some(rest) = l.strip_prefix("participant ") {
            assert!(!used, "participant declared after use: {line}");
            let (id, alias) = rest.split_once(" as ").expect("participant ID as NAME");
            assert!(ident(id), "{line}");
            assert!(!alias.trim().is_empty(), "{line}");
            assert!(!declared.iter().any(|d| d == id), "declared twice: {line}");
            declared.push(id.to_string());
            continue;
        }
        used = true;
        if l.starts_with("rect rgba(") && l.ends_with(')') {
            depth += 1;
            continue;
        }
        if l == "end" {
            assert!(depth > 0, "`end` closes no block: {diagram}");
            depth -= 1;
            continue;
        }
        let known = |id: &str| declared.iter().any(|d| d == id);
        if let Some(rest) = l.strip_prefix("Note over ") {
            let (who, text) = rest.split_once(": ").expect("Note over A: text");
            for id in who.split(',') {
                assert!(known(id), "undeclared {id}: {line}");
            }
            assert!(who.split(',').count() <= 2, "{line}");
            assert!(text_ok(text), "{line}");
            continue;
        }
        let (arrow_part, text) = l
            .split_once(": ")
            .unwrap_or_else(|| panic!("not Mermaid: {line}"));
        let (from, to) = arrow_part
            .split_once("-->>")
            .or_else(|| arrow_part.split_once("->>"))
            .unwrap_or_else(|| panic!("not a message: {line}"));
        assert!(known(from) && known(to), "undeclared participant: {line}");
        assert!(text_ok(text), "{line}");
        messages += 1;
    }
    assert!(!declared.is_empty(), "{diagram}");
    assert_eq!(depth, 0, "every rect block is closed: {diagram}");
    messages
}

/// Each example flow (the calls tests/flows.rs pins as text), as Mermaid.
#[test]
fn example_flows_as_mermaid() {
    for (file, call, name) in [
        ("outbound-sync.toml", "out-1", "outbound_sync_answered"),
        ("outbound-async.toml", "out-1", "outbound_async_answered"),
        ("inbound-lb.toml", "in-1", "inbound_lb_answered"),
        ("inbound-sbc.toml", "in-1", "inbound_sbc_answered"),
        ("media-play.toml", "in-1", "media_play_answered"),
    ] {
        let report = run(file);
        let diagram = sequence_diagram(&report.history, call);
        assert!(check_mermaid(&diagram) > 3, "{file}");
        insta::assert_snapshot!(name, diagram);
    }
}

/// Every call of every example run is a well-formed diagram, with one
/// message per `sip.send` of the call.
#[test]
fn every_call_of_the_examples_is_valid_mermaid() {
    for file in [
        "outbound-sync.toml",
        "inbound-lb.toml",
        "inbound-sbc.toml",
        "deploy-lb.toml",
        "faults/platform-partition.toml",
    ] {
        let report = run(file);
        let calls = calls(&report);
        assert!(!calls.is_empty(), "{file}");
        for call in calls {
            let sends = report
                .history
                .of_call(&call)
                .filter(|r| r.is("sip.send"))
                .count();
            let diagram = sequence_diagram(&report.history, &call);
            assert_eq!(check_mermaid(&diagram), sends, "{file} {call}:\n{diagram}");
        }
    }
}

/// A call that lived through a partition shows it: active when the call
/// began, then its end, in both ladders, over the hosts it cut.
#[test]
fn faults_show_in_both_ladders() {
    let report = run("faults/platform-partition.toml");
    // The first call whose span holds the partition's end.
    let (start, end) = {
        let t = |kind| {
            report
                .history
                .of_kind(kind)
                .next()
                .map(|r| r.t_ms)
                .expect("the partition starts and ends")
        };
        (t("fault.start"), t("fault.end"))
    };
    let call = calls(&report)
        .into_iter()
        .find(|c| {
            let ts: Vec<u64> = report.history.of_call(c).map(|r| r.t_ms).collect();
            ts.first().is_some_and(|f| *f > start)
                && ts.last().is_some_and(|l| *l > end)
                && ts.first().is_some_and(|f| *f < end)
        })
        .expect("a call that began during the partition");
    let text = ladder(&report.history, &call);
    let active = format!(
        "fault #0 partition carrier<->lb active since {:.3}s",
        start as f64 / 1000.0
    );
    assert!(text.contains(&active), "{text}");
    assert!(
        text.contains("fault #0 partition carrier<->lb ends"),
        "{text}"
    );
    // The fault rows mark the two cut columns (carrier, lb-1), not sip-1.
    let row = text
        .lines()
        .find(|l| l.contains("ends"))
        .expect("an end row");
    assert_eq!(row.matches('!').count(), 2, "{row}");
    assert!(
        text.contains("! on a column: a fault"),
        "the legend names `!`"
    );
    let diagram = sequence_diagram(&report.history, &call);
    check_mermaid(&diagram);
    assert!(
        diagram.contains("partition carrier#60;-#62;lb ends at"),
        "{diagram}"
    );
    // The partition's interval is one shaded block, from the note that it
    // is active to the note that it ends.
    let lines: Vec<&str> = diagram.lines().collect();
    let rect = lines
        .iter()
        .position(|l| l.trim().starts_with("rect "))
        .expect("a rect");
    let end = lines
        .iter()
        .position(|l| l.trim() == "end")
        .expect("an end");
    assert!(lines[rect + 1].contains("active since"), "{diagram}");
    assert!(lines[end - 1].contains(" ends at "), "{diagram}");
    insta::assert_snapshot!("partition_mermaid", diagram);
    insta::assert_snapshot!("partition_text", text);
}

fn callsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(args)
        .env_remove("CALLSIM_SEED")
        .output()
        .expect("the binary runs")
}

#[test]
fn run_prints_the_chosen_calls_ladders() {
    let scenario = "fixtures/scenarios/inbound-sbc.toml";
    // Two named calls, as Mermaid, on stdout.
    let out = callsim(&[
        "run",
        scenario,
        "--ladder",
        "mermaid",
        "--calls",
        "in-2,in-5",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(stdout.matches("```mermaid\n").count(), 2, "{stdout}");
    assert!(stdout.contains("%% call in-2") && stdout.contains("%% call in-5"));
    // All calls, as text.
    let out = callsim(&["run", scenario, "--calls", "all"]);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        stdout.matches("\ncall in-").count() + 1,
        100,
        "one ladder per call"
    );
    // A passing run has no failed call: nothing drawn, said on stderr.
    let out = callsim(&["run", scenario, "--ladder", "text"]);
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no call to draw"));
    // Bad input: exit 2, naming what is wrong.
    let out = callsim(&["run", scenario, "--ladder", "svg"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ladder \"svg\""));
    let out = callsim(&["run", scenario, "--calls", "in-999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no call \"in-999\""));
}

#[test]
fn run_draws_the_failed_calls_of_a_failing_run() {
    // The liveness demo of a partition strands calls; each named call gets
    // one diagram.
    let out = callsim(&[
        "run",
        "fixtures/scenarios/livekit-ringing-timeout-buggy.toml",
        "--ladder",
        "mermaid",
        "--json",
    ]);
    assert_ne!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let failed: BTreeSet<&str> = doc["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|v| v["call"].as_str())
        .collect();
    assert!(!failed.is_empty());
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(
        stderr.matches("```mermaid\n").count(),
        failed.len(),
        "with --json, on stderr"
    );
    for call in failed {
        assert!(stderr.contains(&format!("%% call {call}\n")), "{call}");
    }
}
