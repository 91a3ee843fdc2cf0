//! Every fault acts or is refused (issue: "faults accepted that do
//! nothing"). The node registry's support table (`nodes::KINDS`) is the one
//! source: validation refuses a (fault kind, mode, node kind) pair outside
//! it, naming the kinds that do act; and **fault efficacy**: every pair it
//! lists, injected into a small scenario that runs that kind, changes the
//! history (fault markers aside) against the same run without it. A row
//! added to the table without an exercise here fails this test, so the
//! table cannot grow a fault that does nothing.
//!
//! Also the input-shape refusals that used to change the run silently: a
//! `between` of three hosts, a fault with no `at`, a sub-millisecond tick.

use callsim::history::{History, Record};
use callsim::nodes::{FaultSupport, KINDS};
use callsim::scenario::Scenario;
use std::path::Path;

/// The harness pair with a service time at the echo (the self-test
/// fixture's echo answers at once, so a saturation has nothing to scale).
const ECHO_BASE: &str = "inline:echo";
const ECHO_TEXT: &str = r#"[run]
seed = 1
duration = "10s"
tick = "1ms"

[nodes.pinger]
count = 100
interval = "50ms"

[nodes.echo]
service_time = "20ms"
"#;

/// Base scenarios, tried in order: the first that runs a kind exercises
/// its faults.
const BASES: &[&str] = &[
    ECHO_BASE,
    // Sync calls: a clock that runs fast on the gateway, the bus or a SIP
    // pod shows in when their deadlines and ringing timeouts fire.
    "fixtures/scenarios/outbound-sync.toml",
    "fixtures/scenarios/inbound-lb.toml",
    "fixtures/scenarios/inbound-sbc.toml",
    "fixtures/scenarios/media-play.toml",
    "fixtures/scenarios/faults/deploy.toml",
    // The API front door (its black-hole mode).
    "fixtures/scenarios/mechanisms/edge-black-hole-passing.toml",
    // The autoscaler (a fast clock makes it decide sooner).
    "fixtures/scenarios/mechanisms/autoscale-burst-passing.toml",
    // Workers that register with a dispatcher (keepalives on the clock).
    "fixtures/scenarios/mechanisms/stranded-workers-passing.toml",
    // The name server: the carrier resolves its entry through it.
    "fixtures/scenarios/mechanisms/dns-ttl-recovery-passing.toml",
    // The shared dependency, looked up on each inbound call's setup.
    "fixtures/scenarios/mechanisms/dependency-cascade-passing.toml",
];

fn load_text(path: &str) -> String {
    if path == ECHO_BASE {
        return ECHO_TEXT.to_string();
    }
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn load(path: &str) -> Scenario {
    Scenario::from_toml(&load_text(path), Path::new(path)).expect("bases are valid")
}

fn base_for(kind: &str) -> Option<&'static str> {
    BASES
        .iter()
        .copied()
        .find(|path| load(path).topology().hosts.iter().any(|h| h.kind == kind))
}

/// The history without the test-bed's fault markers, as comparable lines.
fn behaviour(history: &History) -> Vec<String> {
    history
        .records
        .iter()
        .filter(|r: &&Record| !r.kind().starts_with("fault."))
        .map(|r| format!("{r:?}"))
        .collect()
}

fn run_text(text: &str, name: &str) -> Vec<String> {
    let scenario = Scenario::from_toml(text, Path::new(name))
        .unwrap_or_else(|e| panic!("{name}: the exercise is refused: {e}"));
    let output = callsim::testbed::run(&scenario, scenario.run.seed)
        .unwrap_or_else(|e| panic!("{name}: the run completes: {e}"));
    behaviour(&output.history)
}

/// The `[[faults]]` entry that exercises `row` in `mode` on `kind`'s
/// section over most of the run; `None` for kinds exercised by their base
/// (deploy, operator).
fn exercise(
    row: &FaultSupport,
    mode: Option<&str>,
    kind: &str,
    duration_ms: u64,
) -> Option<String> {
    let params = match row.fault {
        "gray" => format!("mode = \"{}\"", mode.expect("gray has modes")),
        "dns" => format!("mode = \"{}\"", mode.expect("dns has modes")),
        "saturate" => "service_time_factor = 50.0\ncapacity_factor = 0.1".to_string(),
        "rate_limit" => "per_s = 1\ncode = 503".to_string(),
        // Fast, and stepped ahead: every timer of the node fires early.
        "clock" => "offset = \"+3s\"\ndrift_ppm = 300000".to_string(),
        "deploy" | "operator" => return None,
        other => panic!(
            "the support table lists {other:?} for {kind}, and this test has no exercise for it: add one, so the row is proven to act"
        ),
    };
    // From the start: a cache in front of a node (origin behind media)
    // may never ask it again once warm.
    let (at, until) = (0, duration_ms * 9 / 10);
    Some(format!(
        "\n[[faults]]\nkind = \"{}\"\nnode = \"{kind}\"\nat = \"{at}ms\"\nuntil = \"{until}ms\"\n{params}\n",
        row.fault
    ))
}

/// `text` with the `[[faults]]` entry appended: TOML tables may come in
/// any order, so the end of the file is as good a place as any.
fn with_fault(text: &str, entry: &str) -> String {
    format!("{text}\n{entry}")
}

/// The base text without its `[[faults]]` entries of `fault`.
fn without_kind(text: &str, fault: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    let blocks: Vec<&str> = text.split("\n[").collect();
    for (i, block) in blocks.iter().enumerate() {
        let block = if i == 0 {
            block.to_string()
        } else {
            format!("\n[{block}")
        };
        if block.starts_with("\n[[faults]]") {
            skipping = block.contains(&format!("kind = \"{fault}\""));
        } else if block.starts_with("\n[") {
            skipping = false;
        }
        if !skipping {
            out.push_str(&block);
        }
    }
    out
}

#[test]
fn every_supported_pair_changes_the_history() {
    let mut checked = Vec::new();
    for kind in KINDS {
        for row in kind.faults {
            let modes: Vec<Option<&str>> = if row.modes.is_empty() {
                vec![None]
            } else {
                row.modes.iter().map(|m| Some(*m)).collect()
            };
            let base = base_for(kind.name).unwrap_or_else(|| {
                panic!(
                    "no base scenario runs a {} node: add one to BASES",
                    kind.name
                )
            });
            let text = load_text(base);
            let duration = load(base).run.duration.as_millis();
            for mode in modes {
                let label = format!(
                    "{} {}{}",
                    kind.name,
                    row.fault,
                    mode.map(|m| format!("({m})")).unwrap_or_default()
                );
                let (without, with) = match exercise(row, mode, kind.name, duration) {
                    Some(entry) => (text.clone(), with_fault(&text, &entry)),
                    None => {
                        assert!(
                            text.contains(&format!("kind = \"{}\"", row.fault)),
                            "{label}: the base {base} has no {} fault to remove",
                            row.fault
                        );
                        (without_kind(&text, row.fault), text.clone())
                    }
                };
                let a = run_text(&without, &format!("{label} (without)"));
                let b = run_text(&with, &format!("{label} (with)"));
                assert!(
                    a != b,
                    "{label}: the fault is accepted and changes nothing on {base} ({} events either way)",
                    a.len()
                );
                checked.push(label);
            }
        }
    }
    eprintln!(
        "fault efficacy: {} pairs act: {}",
        checked.len(),
        checked.join(", ")
    );
    assert!(
        checked.len() >= 10,
        "the table lists too few pairs: {checked:?}"
    );
}

const PINGER: &str = r#"[run]
seed = 1
duration = "10s"

[nodes.pinger]
count = 5

[nodes.echo]

[nodes.gateway]
[nodes.bus]
[nodes.agent]
[nodes.sip]
[nodes.carrier]
"#;

fn refused(extra: &str) -> callsim::scenario::ScenarioError {
    Scenario::from_toml(&format!("{PINGER}{extra}"), Path::new("bad.toml"))
        .expect_err("the scenario is refused")
}

#[test]
fn a_fault_a_node_kind_ignores_is_refused_naming_the_kinds_that_act() {
    for (extra, node, names) in [
        (
            "kind = \"gray\"\nnode = \"sip\"\nmode = \"media\"",
            "sip-1",
            "sbc-edge",
        ),
        ("kind = \"gray\"\nnode = \"carrier\"", "carrier", "gateway"),
        (
            "kind = \"saturate\"\nnode = \"bus\"\nservice_time_factor = 4.0",
            "bus",
            "gateway",
        ),
    ] {
        let e = refused(&format!("\n[[faults]]\n{extra}\nat = \"1s\"\n"));
        assert_eq!(e.field, "faults[0].node", "{e}");
        assert!(
            e.message.contains("does nothing on") && e.message.contains(node),
            "{e}"
        );
        assert!(e.message.contains(names), "{e}");
    }
}

#[test]
fn a_process_or_swarm_kind_on_ignoring_hosts_is_refused() {
    let e = refused(
        "\n[[faults]]\nkind = \"process\"\nfault = \"gray\"\ntargets = [\"carrier\"]\nrate_per_min = 1\nduration = \"1s\"\nat = \"1s\"\n",
    );
    assert_eq!(e.field, "faults[0].targets", "{e}");
    let e = refused(
        "\n[fault_settings.swarm]\nkinds = { saturate = { targets = [\"bus\"], service_time_factor = [2.0, 4.0] } }\n",
    );
    assert!(e.field.ends_with("saturate.targets"), "{e}");
}

#[test]
fn between_takes_exactly_two_hosts() {
    let e = refused("\n[[faults]]\nkind = \"partition\"\nbetween = [\"pinger\", \"echo\", \"sip\"]\nat = \"1s\"\n");
    assert!(e.field.starts_with("faults[0]"), "{e}");
    assert!(e.message.contains("exactly 2"), "{e}");
}

#[test]
fn a_fault_needs_at() {
    let e = refused("\n[[faults]]\nkind = \"partition\"\nbetween = [\"pinger\", \"echo\"]\n");
    assert!(e.field.ends_with("at"), "{e}");
    assert!(e.message.contains("`at`"), "{e}");
}

#[test]
fn a_tick_finer_than_a_millisecond_is_refused() {
    for tick in ["500us", "250us", "1500us", "1ns"] {
        let text = PINGER.replace(
            "duration = \"10s\"",
            &format!("duration = \"10s\"\ntick = \"{tick}\""),
        );
        let e = Scenario::from_toml(&text, Path::new("bad.toml")).expect_err(tick);
        assert_eq!(e.field, "run.tick", "{tick}: {e}");
        assert!(e.message.contains("whole number of milliseconds"), "{e}");
    }
    let ok = PINGER.replace("duration = \"10s\"", "duration = \"10s\"\ntick = \"2ms\"");
    Scenario::from_toml(&ok, Path::new("ok.toml")).expect("a 2 ms tick is fine");
}

/// README.md's fault support table is `callsim kinds`' table: regenerate it
/// with `CALLSIM_BLESS=1`.
#[test]
fn the_readme_support_table_is_the_registrys() {
    let (begin, end) = (
        "<!-- fault-support:begin -->\n",
        "<!-- fault-support:end -->",
    );
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let from = readme.find(begin).expect("begin marker") + begin.len();
    let to = readme.find(end).expect("end marker");
    let table = callsim::cli::kinds::markdown();
    if std::env::var_os("CALLSIM_BLESS").is_some() {
        let updated = format!("{}{}{}", &readme[..from], table, &readme[to..]);
        std::fs::write("README.md", updated).expect("write README.md");
        return;
    }
    assert_eq!(
        &readme[from..to],
        table,
        "README.md's fault support table is stale: run with CALLSIM_BLESS=1"
    );
}
