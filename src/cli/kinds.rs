//! `callsim kinds`: the registries as people read them. Each node kind
//! with its one-line description, whether the deployer manages it, and the
//! fault support table (what validation and the docs read too), from
//! `nodes::KINDS`; then each oracle, safety or liveness, whether it is on
//! by default, and its parameters with their defaults, from
//! `oracles::REGISTRY`. `callsim kinds NAME` shows one kind (or oracle) in
//! detail: every field with its type, default and doc, and the nodes its
//! defaults name. `--json` prints the same as one document on stdout.
//!
//! Fields, types, defaults and docs are read from the scenario's JSON
//! Schema ([`super::schema::document`]), so `kinds`, `schema` and the
//! loader cannot disagree; "which need which" is
//! [`crate::nodes::default_needs`], read from each kind's validation.

use super::exit;
use crate::nodes::{default_needs, HOST_FAULTS, KINDS};
use crate::oracles::{OracleKind, DEFAULT_ORACLES, REGISTRY};
use serde_json::{json, Value};

fn kind_word(kind: OracleKind) -> &'static str {
    match kind {
        OracleKind::Safety => "safety",
        OracleKind::Liveness => "liveness",
    }
}

/// The registries as JSON: `{ "host_faults": [..], "kinds": [ { "name",
/// "about", "deployable", "faults": [ { "fault", "modes" } ], "fields":
/// [ { "name", "type", "default", "doc" } ], "needs": [ { "field", "node" }
/// ] } ], "oracles": [ { "name", "kind", "default", "params": [ { "name",
/// "type", "default", "doc" } ] } ] }`. A field's `default` is `null` when
/// the field is required or has no default value.
pub fn document() -> Value {
    let schema = super::schema::document();
    let kinds: Vec<_> = KINDS
        .iter()
        .map(|k| {
            json!({
                "name": k.name,
                "about": k.about,
                "deployable": k.deployable,
                "faults": k.faults.iter().map(|f| json!({ "fault": f.fault, "modes": f.modes })).collect::<Vec<_>>(),
                "fields": kind_fields(&schema, k.name),
                "needs": default_needs(k.name).iter().map(|n| json!({ "field": n.field, "node": n.node })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let oracles: Vec<_> = REGISTRY
        .iter()
        .map(|o| {
            json!({
                "name": o.name,
                "kind": kind_word(o.kind),
                "default": DEFAULT_ORACLES.contains(&o.name),
                "params": oracle_params(&schema, o.name),
            })
        })
        .collect();
    json!({ "host_faults": HOST_FAULTS, "kinds": kinds, "oracles": oracles })
}

/// The fields of `[nodes.<kind>]`, from the schema: `[{ name, type,
/// default, doc }]` in name order.
pub fn kind_fields(schema: &Value, kind: &str) -> Vec<Value> {
    let section = &schema["definitions"]["NodesConfig"]["properties"][kind];
    fields(schema, resolve(schema, section))
}

/// The parameters of oracle `name`, from the schema, as [`kind_fields`].
pub fn oracle_params(schema: &Value, name: &str) -> Vec<Value> {
    let oracle = &schema["properties"]["oracles"]["properties"][name];
    let table = oracle["anyOf"]
        .as_array()
        .and_then(|v| v.iter().find(|s| s.get("properties").is_some()))
        .unwrap_or(&Value::Null);
    fields(schema, table)
}

fn fields(schema: &Value, object: &Value) -> Vec<Value> {
    let required: Vec<&str> = object["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = object["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, prop)| {
            json!({
                "name": name,
                "type": type_text(schema, prop),
                "required": required.contains(&name.as_str()),
                "default": prop.get("default").cloned().unwrap_or(Value::Null),
                "doc": prop["description"].as_str().unwrap_or(""),
            })
        })
        .collect()
}

/// The schema a `$ref` (or a one-item `allOf`/`anyOf` with `null`, as an
/// `Option` gives) points at.
fn resolve<'a>(schema: &'a Value, s: &'a Value) -> &'a Value {
    if let Some(reference) = s["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or("");
        return resolve(schema, &schema["definitions"][name]);
    }
    for key in ["allOf", "anyOf"] {
        if let Some(list) = s[key].as_array() {
            let not_null: Vec<&Value> = list.iter().filter(|v| v["type"] != "null").collect();
            if let [one] = not_null[..] {
                return resolve(schema, one);
            }
        }
    }
    s
}

/// A field's type in a few words: `duration`, `integer`, `list of
/// string`, `one of a|b|c`, `table (RpcClientConfig)`, ..
fn type_text(schema: &Value, s: &Value) -> String {
    if let Some(reference) = s["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or("");
        let target = &schema["definitions"][name];
        let tables = |list: &Value| {
            list.as_array()
                .is_some_and(|l| l.iter().all(|v| v["type"] == "object"))
        };
        return match words(target) {
            Some(words) => words,
            None if target["type"] == "object" || tables(&target["oneOf"]) => {
                format!("table ({name})")
            }
            None => format!("{} ({name})", type_text(schema, target)),
        };
    }
    if let Some(words) = words(s) {
        return words;
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(list) = s[key].as_array() {
            let parts: Vec<String> = list
                .iter()
                .filter(|v| v["type"] != "null")
                .map(|v| type_text(schema, v))
                .collect();
            return parts.join(" or ");
        }
    }
    // An `Option` of an inlined type reads `"type": [T, "null"]`.
    let ty = match &s["type"] {
        Value::String(t) => Some(t.as_str()),
        Value::Array(types) => {
            let not_null: Vec<&str> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            match not_null[..] {
                [one] => Some(one),
                _ => return not_null.join(" or "),
            }
        }
        _ => None,
    };
    match ty {
        Some("string") => match s["pattern"].as_str() {
            Some(p) if p == crate::sim::duration::DUR_PATTERN => "duration".into(),
            Some(p) if p == crate::sim::duration::SIGNED_DUR_PATTERN => "signed duration".into(),
            Some(p) if p == crate::sip::timers::TIMER_PATTERN => "duration".into(),
            _ => "string".into(),
        },
        Some("array") => match s.get("items") {
            Some(items) if items.is_object() => format!("list of {}", type_text(schema, items)),
            _ => "list".into(),
        },
        Some("object") => match s.get("additionalProperties") {
            Some(values) if values.is_object() => {
                format!("map of {}", type_text(schema, values))
            }
            _ => "table".into(),
        },
        Some(t) => t.to_string(),
        None => "any".into(),
    }
}

/// The words of a closed set (`enum`, or `oneOf` of constants), as `one
/// of a|b|c`.
fn words(s: &Value) -> Option<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(values) = s["enum"].as_array() {
        out.extend(values.iter().filter_map(|v| v.as_str().map(str::to_string)));
    } else if let Some(list) = s["oneOf"].as_array() {
        for v in list {
            if let Some(c) = v["const"].as_str() {
                out.push(c.to_string());
            } else if let Some(values) = v["enum"].as_array() {
                out.extend(values.iter().filter_map(|v| v.as_str().map(str::to_string)));
            } else {
                return None;
            }
        }
    }
    (!out.is_empty()).then(|| format!("one of {}", out.join("|")))
}

/// A default as written in a scenario file (`"30s"`, `2`, `true`), or
/// `required` / `-`.
fn default_text(field: &Value) -> String {
    match &field["default"] {
        Value::Null if field["required"] == true => "required".into(),
        Value::Null => "-".into(),
        // As written in a scenario file: TOML, inline.
        other => toml::Value::try_from(other)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| other.to_string()),
    }
}

/// One line per kind: name, node-level faults (with modes), description.
pub fn text() -> String {
    let mut out = format!(
        "every kind: {} (links, hosts, config)\n\n",
        HOST_FAULTS.join(", ")
    );
    for kind in KINDS {
        out.push_str(&format!(
            "{:<12} {:<40} {}{}\n",
            kind.name,
            kind.faults_text(),
            kind.about,
            if kind.deployable { " [deployable]" } else { "" }
        ));
    }
    out.push_str("\noracles ([oracles] in a scenario), with their parameters' defaults:\n");
    let schema = super::schema::document();
    for oracle in REGISTRY {
        let params: Vec<String> = oracle_params(&schema, oracle.name)
            .iter()
            .map(|p| format!("{} = {}", p["name"].as_str().unwrap_or(""), default_text(p)))
            .collect();
        let line = format!(
            "{:<28} {:<9} {:<14} {}",
            oracle.name,
            kind_word(oracle.kind),
            if DEFAULT_ORACLES.contains(&oracle.name) {
                "on by default"
            } else {
                "opt-in"
            },
            params.join(", ")
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str("\nfields and defaults of one kind or oracle: callsim kinds NAME\n");
    out
}

/// One kind or oracle in detail: its fields (or parameters), each with its
/// type, default and doc; for a kind, its faults and the nodes its
/// defaults name. `None` when `name` is neither.
pub fn detail_text(name: &str) -> Option<String> {
    let schema = super::schema::document();
    let (mut out, fields) = if let Some(kind) = crate::nodes::kind(name) {
        let mut head = format!(
            "[nodes.{name}]: {}{}\nnode-level faults: {}\n",
            kind.about,
            if kind.deployable { " [deployable]" } else { "" },
            kind.faults_text()
        );
        let needs = default_needs(name);
        if !needs.is_empty() {
            let list: Vec<String> = needs
                .iter()
                .map(|n| format!("{} ({})", n.node, n.field))
                .collect();
            head.push_str(&format!("needs, with its defaults: {}\n", list.join(", ")));
        }
        (head, kind_fields(&schema, name))
    } else if let Some(oracle) = crate::oracles::def(name) {
        let head = format!(
            "[oracles] {name}: {}, {}\n",
            kind_word(oracle.kind),
            if DEFAULT_ORACLES.contains(&name) {
                "on by default"
            } else {
                "opt-in"
            }
        );
        (head, oracle_params(&schema, name))
    } else {
        return None;
    };
    out.push('\n');
    for field in &fields {
        out.push_str(&format!(
            "{} = {}    ({})\n",
            field["name"].as_str().unwrap_or(""),
            default_text(field),
            field["type"].as_str().unwrap_or("")
        ));
        for line in field["doc"].as_str().unwrap_or("").lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    Some(out)
}

/// [`document`]'s entry for one kind or oracle.
fn detail_json(name: &str) -> Option<Value> {
    let doc = document();
    ["kinds", "oracles"].iter().find_map(|list| {
        doc[list]
            .as_array()
            .and_then(|l| l.iter().find(|e| e["name"] == name))
            .cloned()
    })
}

/// The fault support table as Markdown, one row per kind: what README.md
/// carries between its `fault-support` markers.
pub fn markdown() -> String {
    let mut out =
        String::from("| node kind | node-level faults (modes) | deployable |\n|---|---|---|\n");
    for kind in KINDS {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            kind.name,
            kind.faults_text().replace('|', "\\|"),
            if kind.deployable { "yes" } else { "no" }
        ));
    }
    out
}

/// `callsim kinds [NAME] [--json]`.
pub fn command(name: Option<&str>, json: bool) -> i32 {
    let Some(name) = name else {
        if json {
            println!("{}", document());
        } else {
            print!("{}", text());
        }
        return exit::OK;
    };
    let found = if json {
        detail_json(name).map(|v| format!("{v}\n"))
    } else {
        detail_text(name)
    };
    match found {
        Some(out) => {
            print!("{out}");
            exit::OK
        }
        None => {
            let kinds: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
            eprintln!(
                "error: {name:?} is no node kind or oracle; kinds: {}; oracles: {}",
                kinds.join(", "),
                crate::oracles::known().collect::<Vec<_>>().join(", ")
            );
            exit::BAD_INPUT
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_kind_is_listed_with_its_faults() {
        let text = text();
        for kind in KINDS {
            assert!(text.contains(kind.name), "{} missing", kind.name);
        }
        assert!(text.contains("gray(work|media)"), "{text}");
        let doc = document();
        assert_eq!(doc["kinds"].as_array().map(Vec::len), Some(KINDS.len()));
        assert_eq!(doc["kinds"][0]["name"], "pinger");
        assert_eq!(
            doc["oracles"].as_array().map(Vec::len),
            Some(REGISTRY.len())
        );
        for oracle in REGISTRY {
            assert!(text.contains(oracle.name), "{} missing", oracle.name);
        }
        let defaults = doc["oracles"]
            .as_array()
            .expect("a list")
            .iter()
            .filter(|o| o["default"] == true)
            .count();
        assert_eq!(defaults, DEFAULT_ORACLES.len());
        assert!(
            text.contains("recovery                     liveness  opt-in"),
            "{text}"
        );
        assert!(detail_text("no-such-kind").is_none());
    }
}
