//! [`FieldError`]: a config value that is wrong, named by its dotted field
//! path (`nodes.gateway.rpc_client.timeout`). Every layer's validation
//! returns it; the scenario loader turns the path into a file line.

/// A problem found by validation, before it is located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}
