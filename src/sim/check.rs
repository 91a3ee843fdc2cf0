//! Small validation helpers shared by node configs: every error names the
//! dotted field it is about, so the loader can point at the file's line.

use super::{Dur, FieldError, Topology};

/// `prefix.name` as a field path.
pub fn field(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A duration that must be > 0.
pub fn positive(prefix: &str, name: &str, value: Dur) -> Result<(), FieldError> {
    if value.is_zero() {
        return Err(FieldError::new(
            field(prefix, name),
            "must be > 0, e.g. \"500ms\"",
        ));
    }
    Ok(())
}

/// A duration that must be at least `min` (the limit's name goes in the
/// message).
pub fn at_least(
    prefix: &str,
    name: &str,
    value: Dur,
    min: Dur,
    limit: &str,
) -> Result<(), FieldError> {
    if value < min {
        return Err(FieldError::new(
            field(prefix, name),
            format!("{value} is below {min} (limit {limit})"),
        ));
    }
    Ok(())
}

/// A count that must be >= 1.
pub fn at_least_one(prefix: &str, name: &str, value: u32) -> Result<(), FieldError> {
    if value == 0 {
        return Err(FieldError::new(field(prefix, name), "must be >= 1"));
    }
    Ok(())
}

/// A probability or share in [0, 1].
pub fn share(prefix: &str, name: &str, value: f64) -> Result<(), FieldError> {
    if !(0.0..=1.0).contains(&value) {
        return Err(FieldError::new(
            field(prefix, name),
            format!("{value} is not in [0, 1]"),
        ));
    }
    Ok(())
}

/// A name that must be a host or a section of the topology.
pub fn known_node(
    prefix: &str,
    name: &str,
    value: &str,
    topology: &Topology,
) -> Result<(), FieldError> {
    if topology.resolves(value) {
        return Ok(());
    }
    Err(unknown_node(field(prefix, name), value, topology))
}

/// How every "this names no node" message starts: [`unknown_node`] writes
/// it and [`unknown_node_named`] reads the name back (the scenario loader
/// uses that to report every missing node at once).
const UNKNOWN_NODE: &str = "unknown node ";

/// The error for a field that names `name`, which is no host or section of
/// `topology`.
pub fn unknown_node(field: impl Into<String>, name: &str, topology: &Topology) -> FieldError {
    FieldError::new(
        field,
        format!(
            "{UNKNOWN_NODE}{name:?}; known: {}",
            topology.names().join(", ")
        ),
    )
}

/// The node an [`unknown_node`] message names, if it is one.
pub fn unknown_node_named(message: &str) -> Option<&str> {
    message
        .strip_prefix(UNKNOWN_NODE)?
        .strip_prefix('"')?
        .split('"')
        .next()
}
