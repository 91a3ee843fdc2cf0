//! `[workload]`: the traffic a scenario offers to the platform.

use crate::scenario::{FieldError, Topology};
use serde::{Deserialize, Serialize};

/// The calls the agent places and the carrier generates.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Workload {}

impl Workload {
    pub fn validate(&self, _topology: &Topology) -> Result<(), FieldError> {
        Ok(())
    }
}
