//! `callsim schema` and the fields in `callsim kinds`: the JSON Schema of a
//! scenario file against the loader that reads it.
//!
//! - The committed schema (`fixtures/scenario.schema.json`, which every
//!   fixture's `#:schema` line points at) is what `callsim schema` prints;
//!   `CALLSIM_BLESS=1` rewrites it.
//! - Every scenario fixture, converted TOML -> JSON, is valid against it
//!   (the schema is not stricter than the loader), and carries the
//!   `#:schema` line.
//! - An unknown field, a wrong type and a bad duration are refused by the
//!   schema and by the loader alike (the schema is not looser than
//!   nothing); duration strings are judged alike by the schema's pattern
//!   and by the parser, sample by sample.
//! - Every property in the schema has a description (the field's doc).
//! - `callsim kinds` shows a kind's fields with the defaults of the code's
//!   `Default`, and each oracle's parameters with theirs.

use callsim::scenario::Scenario;
use std::path::Path;
use std::process::Command;

/// What `callsim schema` prints, from the binary.
fn printed_schema() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_callsim"))
        .arg("schema")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&callsim::cli::schema::document()).expect("the schema compiles")
}

/// A scenario file's text as the JSON value a TOML language server checks.
fn as_json(text: &str) -> serde_json::Value {
    let value: toml::Value = toml::from_str(text).expect("valid TOML");
    serde_json::to_value(value).expect("TOML converts to JSON")
}

/// The schema's errors for `text`, one line each.
fn schema_errors(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    let instance = as_json(text);
    validator
        .iter_errors(&instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_committed_schema_is_what_callsim_schema_prints() {
    let printed = printed_schema();
    assert_eq!(printed, callsim::cli::schema::text());
    let path = callsim::cli::schema::SCHEMA_PATH;
    if std::env::var_os("CALLSIM_BLESS").is_some() {
        std::fs::write(path, &printed).unwrap_or_else(|e| panic!("{path}: {e}"));
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(
        committed == printed,
        "{path} is stale: run `CALLSIM_BLESS=1 cargo test --test integration schema::`"
    );
}

#[test]
fn every_fixture_is_valid_against_the_schema_and_points_at_it() {
    let validator = validator();
    let files = crate::support::scenario_files();
    for subfolder in ["mechanisms", "faults", "unpinned"] {
        let prefix = format!("fixtures/scenarios/{subfolder}/");
        assert!(
            files.iter().any(|f| f.starts_with(&prefix)),
            "no fixture under {prefix}"
        );
    }
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        // The loader takes it (the schema is judged on files that load).
        Scenario::from_toml(&text, Path::new(file)).unwrap_or_else(|e| panic!("{e}"));
        let errors = schema_errors(&validator, &text);
        assert!(errors.is_empty(), "{file}: {}", errors.join("\n"));
        // The first line points a TOML language server at the schema.
        let depth = Path::new(file).components().count() - 2;
        let expected = format!("#:schema {}scenario.schema.json", "../".repeat(depth));
        assert_eq!(text.lines().next(), Some(expected.as_str()), "{file}");
        let target = Path::new(file)
            .parent()
            .expect("a folder")
            .join(&expected["#:schema ".len()..]);
        assert_eq!(
            std::fs::canonicalize(&target).expect("the schema file"),
            std::fs::canonicalize(callsim::cli::schema::SCHEMA_PATH).expect("the schema file"),
            "{file}"
        );
    }
}

/// `fixtures/scenarios/outbound-sync.toml` with one line changed: `(from,
/// to, what the schema and the loader must both refuse)`.
const REFUSED: &[(&str, &str, &str)] = &[
    ("seed = 1", "seeds = 1", "an unknown field in [run]"),
    (
        "[nodes.sip]",
        "[nodes.sip]\nbogus = true",
        "an unknown field in a node",
    ),
    (
        "[oracles]",
        "[oracles]\nno_such_oracle = true",
        "an unknown oracle",
    ),
    (
        "ringing_timeout_respected = {}",
        "ringing_timeout_respected = { bogus = 1 }",
        "an unknown oracle parameter",
    ),
    ("seed = 1", "seed = \"one\"", "a string where a number goes"),
    ("pods = 2", "pods = \"two\"", "a string where a count goes"),
    (
        "duration = \"150s\"",
        "duration = 150",
        "a number where a duration goes",
    ),
    (
        "duration = \"150s\"",
        "duration = \"150 seconds\"",
        "a duration with a word for its unit",
    ),
    ("tick = \"10ms\"", "tick = \"-10ms\"", "a negative duration"),
    (
        "bound = \"90s\"",
        "bound = \"90\"",
        "a duration without a unit in an oracle",
    ),
    (
        "outcome = \"busy\"",
        "outcome = \"engaged\"",
        "a word outside a closed set",
    ),
];

#[test]
fn the_schema_and_the_loader_refuse_the_same_mistakes() {
    let base_path = "fixtures/scenarios/outbound-sync.toml";
    let base = std::fs::read_to_string(base_path).expect("the fixture");
    let validator = validator();
    assert!(schema_errors(&validator, &base).is_empty());
    Scenario::from_toml(&base, Path::new(base_path)).expect("the base loads");
    for (from, to, what) in REFUSED {
        assert!(base.contains(from), "{base_path} has no {from:?}");
        let text = base.replacen(from, to, 1);
        assert!(
            !schema_errors(&validator, &text).is_empty(),
            "the schema takes {what}"
        );
        assert!(
            Scenario::from_toml(&text, Path::new("bad.toml")).is_err(),
            "the loader takes {what}"
        );
    }
}

/// Duration strings: the schema's pattern and the parser agree on each.
#[test]
fn duration_patterns_agree_with_the_parsers() {
    use callsim::sim::duration::{DUR_PATTERN, SIGNED_DUR_PATTERN};
    use callsim::sim::{Dur, SignedDur};
    use callsim::sip::timers::{parse_duration, TIMER_PATTERN};
    let samples = [
        "30s",
        "250ms",
        "1.5s",
        ".5s",
        "5.s",
        "14m",
        "2min",
        "1h",
        "3us",
        "7ns",
        " 5 s ",
        "5 s",
        "-1s",
        "+1s",
        "- 2s",
        "30",
        "s",
        "1.2.3s",
        "30 seconds",
        "1e3ms",
        "",
        "5d",
        "0ms",
        "2S",
        "++1s",
        "1.5ms",
        "10000h",
    ];
    let check = |pattern: &str, accepts: &dyn Fn(&str) -> bool| {
        let schema = serde_json::json!({ "type": "string", "pattern": pattern });
        let v = jsonschema::validator_for(&schema).expect("a pattern");
        for s in samples {
            assert_eq!(
                v.is_valid(&serde_json::json!(s)),
                accepts(s),
                "{pattern} on {s:?}"
            );
        }
    };
    check(DUR_PATTERN, &|s| Dur::parse(s).is_ok());
    check(SIGNED_DUR_PATTERN, &|s| SignedDur::parse(s).is_ok());
    check(TIMER_PATTERN, &|s| parse_duration(s).is_ok());
}

/// Every `properties` entry anywhere in `schema`, as `(path, property)`.
fn properties<'a>(
    schema: &'a serde_json::Value,
    path: String,
    out: &mut Vec<(String, &'a serde_json::Value)>,
) {
    match schema {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                for (name, prop) in props {
                    out.push((format!("{path}.{name}"), prop));
                }
            }
            for (key, value) in map {
                properties(value, format!("{path}/{key}"), out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                properties(item, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_property_in_the_schema_has_a_description() {
    let schema = callsim::cli::schema::document();
    let mut all = Vec::new();
    properties(&schema, String::new(), &mut all);
    let bare: Vec<&str> = all
        .iter()
        .filter(|(_, p)| {
            p.get("description")
                .and_then(|d| d.as_str())
                .is_none_or(|d| d.trim().is_empty())
        })
        .map(|(path, _)| path.as_str())
        .collect();
    assert!(all.len() > 300, "only {} properties", all.len());
    assert!(
        bare.is_empty(),
        "properties without a description:\n{}",
        bare.join("\n")
    );
}

/// `callsim kinds` as a user runs it: its stdout, after a 0 exit.
fn kinds(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_callsim"))
        .arg("kinds")
        .args(args)
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Every field `kinds --json` gives a default for has the default of the
/// config's `Default` impl (what a section with nothing in it runs with),
/// and `kinds NAME` shows it.
#[test]
fn kinds_shows_each_field_with_the_default_the_code_uses() {
    let doc: serde_json::Value = serde_json::from_str(&kinds(&["--json"])).expect("JSON");
    let defaults = [
        (
            "gateway",
            serde_json::to_value(callsim::nodes::gateway::GatewayConfig::default()),
        ),
        (
            "lb",
            serde_json::to_value(callsim::nodes::lb::LbConfig::default()),
        ),
        (
            "sbc-edge",
            serde_json::to_value(callsim::nodes::sbc::SbcConfig::default()),
        ),
    ];
    for (kind, from_code) in defaults {
        let from_code = from_code.expect("a config serialises");
        let entry = doc["kinds"]
            .as_array()
            .and_then(|k| k.iter().find(|k| k["name"] == kind))
            .unwrap_or_else(|| panic!("{kind} in kinds --json"));
        let fields = entry["fields"].as_array().expect("fields");
        let mut compared = 0;
        for field in fields {
            let name = field["name"].as_str().expect("a name");
            assert!(
                !field["doc"].as_str().unwrap_or("").is_empty(),
                "{kind}.{name} has no doc"
            );
            if field["default"].is_null() {
                continue;
            }
            assert_eq!(
                field["default"], from_code[name],
                "{kind}.{name}: kinds says one default, the code's Default another"
            );
            compared += 1;
        }
        assert!(compared >= 5, "{kind}: only {compared} defaults compared");
    }
    // The text shows the same default, as written in a scenario file.
    let gateway = callsim::nodes::gateway::GatewayConfig::default();
    let text = kinds(&["gateway"]);
    let line = format!("agent_timeout = \"{}\"", gateway.agent_timeout);
    assert!(text.contains(&line), "no {line:?} in:\n{text}");
}

/// Each oracle's parameters in `kinds` carry the defaults the oracle
/// runs with (`true`, i.e. an empty table, parsed by the oracle itself).
#[test]
fn kinds_shows_each_oracle_parameter_with_its_default() {
    use callsim::oracles::availability::RecoveryParams;
    let doc: serde_json::Value = serde_json::from_str(&kinds(&["--json"])).expect("JSON");
    let recovery = doc["oracles"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["name"] == "recovery"))
        .expect("recovery in kinds --json");
    let param = |name: &str| {
        recovery["params"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == name))
            .unwrap_or_else(|| panic!("recovery.{name}"))["default"]
            .clone()
    };
    let defaults: RecoveryParams =
        callsim::oracles::params(&toml::Value::Boolean(true), "oracles.recovery")
            .expect("defaults");
    assert_eq!(
        param("within"),
        serde_json::json!(defaults.within.to_string())
    );
    assert_eq!(param("ratio_min"), serde_json::json!(defaults.ratio_min));
    assert_eq!(param("calls_min"), serde_json::json!(defaults.calls_min));
    let text = kinds(&[]);
    let line = format!("within = \"{}\"", defaults.within);
    let row = text
        .lines()
        .find(|l| l.starts_with("recovery "))
        .expect("a recovery row");
    assert!(row.contains(&line), "{row}");
}

/// What `kinds` says a kind needs is what the loader refuses without it:
/// a scenario with that one section at its defaults names every node the
/// kind's `needs` lists.
#[test]
fn kinds_needs_are_what_the_loader_asks_for() {
    let doc: serde_json::Value = serde_json::from_str(&kinds(&["--json"])).expect("JSON");
    let mut checked = 0;
    for kind in doc["kinds"].as_array().expect("kinds") {
        let needs = kind["needs"].as_array().expect("needs");
        if needs.is_empty() {
            continue;
        }
        let name = kind["name"].as_str().expect("a name");
        let text = format!("[run]\nduration = \"1s\"\n\n[nodes.{name}]\n");
        let e = Scenario::from_toml(&text, Path::new("alone.toml"))
            .expect_err("a section without the nodes it names");
        for need in needs {
            let node = need["node"].as_str().expect("a node");
            assert!(e.to_string().contains(node), "{name} needs {node}: {e}");
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} kinds need another");
    assert!(kinds(&["gateway"]).contains("needs, with its defaults: bus (nodes.gateway.bus)"));
}
