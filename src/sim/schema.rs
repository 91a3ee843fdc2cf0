//! JSON Schema pieces shared by the config types (what `callsim schema`
//! prints): the schemas of values a config keeps as raw TOML, for
//! `#[schemars(schema_with = "..")]` on such fields.
//!
//! The config types derive `schemars::JsonSchema`, so a field's `///` doc
//! is its description; a type with a hand-written `Deserialize` (`Dur`,
//! `SignedDur`, `SipTimers`) has a hand-written schema next to it that
//! accepts what that `Deserialize` accepts.

use schemars::{json_schema, Schema, SchemaGenerator};

/// Any TOML value (a `set` fault's value, a distribution's ends): the
/// loader judges it against the field it lands on, not by its shape.
pub fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({})
}

/// A TOML table of any keys (a `deploy` fault's resource change).
pub fn any_table(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object" })
}

/// A list of any TOML values (a `choice`).
pub fn any_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "array" })
}

/// A list of exactly two TOML values (a `uniform` range's ends).
pub fn any_pair(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "array", "minItems": 2, "maxItems": 2 })
}
