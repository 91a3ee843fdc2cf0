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
    generator.into_root_schema_for::<Scenario>().to_value()
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
