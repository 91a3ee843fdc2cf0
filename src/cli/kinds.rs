//! `callsim kinds`: the registries as people read them. Each node kind
//! with its one-line description, whether the deployer manages it, and the
//! fault support table (what validation and the docs read too), from
//! `nodes::KINDS`; then each oracle, safety or liveness, and whether it is
//! on by default, from `oracles::REGISTRY`. `--json` prints the same as one
//! document on stdout.

use super::exit;
use crate::nodes::{HOST_FAULTS, KINDS};
use crate::oracles::{OracleKind, DEFAULT_ORACLES, REGISTRY};
use serde_json::json;

fn kind_word(kind: OracleKind) -> &'static str {
    match kind {
        OracleKind::Safety => "safety",
        OracleKind::Liveness => "liveness",
    }
}

/// The registries as JSON: `{ "host_faults": [..], "kinds": [ { "name",
/// "about", "deployable", "faults": [ { "fault", "modes" } ] } ],
/// "oracles": [ { "name", "kind", "default" } ] }`.
pub fn document() -> serde_json::Value {
    let kinds: Vec<_> = KINDS
        .iter()
        .map(|k| {
            json!({
                "name": k.name,
                "about": k.about,
                "deployable": k.deployable,
                "faults": k.faults.iter().map(|f| json!({ "fault": f.fault, "modes": f.modes })).collect::<Vec<_>>(),
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
            })
        })
        .collect();
    json!({ "host_faults": HOST_FAULTS, "kinds": kinds, "oracles": oracles })
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
    out.push_str(
        "\noracles ([oracles] in a scenario; parameters in the callsim::oracles rustdoc):\n",
    );
    for oracle in REGISTRY {
        out.push_str(&format!(
            "{:<28} {:<9} {}\n",
            oracle.name,
            kind_word(oracle.kind),
            if DEFAULT_ORACLES.contains(&oracle.name) {
                "on by default"
            } else {
                "opt-in"
            }
        ));
    }
    out
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

pub fn command(json: bool) -> i32 {
    if json {
        println!("{}", document());
    } else {
        print!("{}", text());
    }
    exit::OK
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
    }
}
