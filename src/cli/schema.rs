//! `callsim schema`: the JSON Schema of a scenario file, generated from the
//! config types (`schemars::JsonSchema` on `Scenario` and everything it
//! holds), so it cannot drift from what the loader reads. Every field's
//! `///` doc is its `description`.
//!
//! It is JSON Schema draft 7, which TOML language servers (taplo, Even
//! Better TOML) read; the committed copy, [`SCHEMA_PATH`], is what the
//! fixtures' first line (`#:schema ../scenario.schema.json`) points at, and
//! `tests/schema.rs` checks it against this output.
//!
//! The schema judges shape (names, types, duration strings, closed sets
//! of words); what the loader judges beyond that (ranges, references to
//! other nodes, times within the run) is still the loader's: a file the
//! schema accepts can be refused, with file, line and field, by
//! `Scenario::validate`.

use super::exit;
use crate::scenario::Scenario;
use schemars::generate::SchemaSettings;

/// Where the repository keeps the generated schema.
pub const SCHEMA_PATH: &str = "fixtures/scenario.schema.json";

/// The schema as a JSON value.
pub fn document() -> serde_json::Value {
    let generator = SchemaSettings::draft07().into_generator();
    let mut schema = generator.into_root_schema_for::<Scenario>().to_value();
    describe_tags(&mut schema);
    schema
}

/// An internally tagged enum (`verb = "play"`, `url = ..`) has one schema
/// per variant, whose tag property is a constant with no doc of its own:
/// it gets its variant's, so that every property has a description.
fn describe_tags(schema: &mut serde_json::Value) {
    use serde_json::Value;
    match schema {
        Value::Object(map) => {
            for key in ["oneOf", "anyOf"] {
                if let Some(Value::Array(variants)) = map.get_mut(key) {
                    for variant in variants.iter_mut() {
                        let Some(doc) = variant.get("description").cloned() else {
                            continue;
                        };
                        let Some(Value::Object(props)) = variant.get_mut("properties") else {
                            continue;
                        };
                        for (name, prop) in props.iter_mut() {
                            let Some(tag) = prop.get("const").cloned() else {
                                continue;
                            };
                            if prop.get("description").is_none() {
                                let text =
                                    format!("`{name} = {tag}`: {}", doc.as_str().unwrap_or(""));
                                prop["description"] = Value::String(text);
                            }
                        }
                    }
                }
            }
            for value in map.values_mut() {
                describe_tags(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(describe_tags),
        _ => {}
    }
}

/// The schema as printed: pretty JSON and a final newline.
pub fn text() -> String {
    let mut out = serde_json::to_string_pretty(&document()).expect("a schema serialises");
    out.push('\n');
    out
}

pub fn command() -> i32 {
    print!("{}", text());
    exit::OK
}
