//! The incident catalogue: real incidents, each reproduced by a buggy
//! scenario that fails the way production failed and a fixed scenario that
//! holds the property.
//!
//! `fixtures/incidents.toml` is the one source of truth: per incident, its
//! id, the seed report it comes from, its two scenario files, the oracles
//! expected to fire in the buggy variant, and the figures with their bounds
//! per variant. Figures are measured from the history by the generic
//! metrics of [`metrics`]; nothing is typed in.
//!
//! # Layout
//! - `metrics`: figures computed from a history (call counts and shares,
//!   durations, alerts, event delays, windowed failure rates).
//! - `runner`: runs both variants of an incident and judges them.

pub mod metrics;
pub mod runner;

pub use runner::{run_incident, VariantResult};

use crate::scenario::ScenarioError;
use crate::sim::FieldError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `fixtures/incidents.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    #[serde(default, rename = "incident")]
    pub incidents: Vec<Incident>,
}

/// One incident of the catalogue.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// CONTRACTS.md's incident id, e.g. `livekit-ringing-timeout`.
    pub id: String,
    pub title: String,
    /// The incident report(s) in `shared/seeds/` this reproduces.
    pub reports: Vec<String>,
    /// `fixtures/scenarios/<id>-buggy.toml`.
    pub buggy: PathBuf,
    /// `fixtures/scenarios/<id>-fixed.toml`.
    pub fixed: PathBuf,
    /// Oracles that must fire in the buggy variant.
    pub buggy_violations: Vec<String>,
    /// Figures, each with bounds per variant.
    #[serde(default, rename = "figure")]
    pub figures: Vec<Figure>,
}

/// A figure: a metric over the history, with bounds for each variant.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    pub name: String,
    /// What it measures, in words (printed in reports).
    #[serde(default)]
    pub about: String,
    /// The metric and its parameters (see [`metrics::Metric`]).
    pub metric: metrics::Metric,
    /// `[min, max]` in the buggy variant; absent means not judged there.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    pub buggy: Option<[f64; 2]>,
    /// `[min, max]` in the fixed variant.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    pub fixed: Option<[f64; 2]>,
}

/// The catalogue's path, relative to the repository root.
pub const CATALOGUE_PATH: &str = "fixtures/incidents.toml";

/// The incident ids of CONTRACTS.md.
pub const INCIDENT_IDS: [&str; 4] = [
    "livekit-ringing-timeout",
    "vapi-sbc-networking",
    "livekit-lb-deletion",
    "twilio-telemetry-overflow",
];

impl Catalogue {
    /// Reads and validates the catalogue (errors name file, line, field).
    pub fn load(path: &Path) -> Result<Catalogue, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            line: 0,
            field: String::new(),
            message: format!("cannot read the incident catalogue: {e}"),
        })?;
        let locator = crate::scenario::error::Locator::new(&text);
        let catalogue: Catalogue = toml::from_str(&text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            ScenarioError {
                file: path.to_path_buf(),
                line: locator.line_of(offset),
                field: locator.path_at(offset),
                message: e.message().trim().to_string(),
            }
        })?;
        catalogue.validate().map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            line: locator.line_of_path(&e.field),
            field: e.field,
            message: e.message,
        })?;
        Ok(catalogue)
    }

    fn validate(&self) -> Result<(), FieldError> {
        for (i, incident) in self.incidents.iter().enumerate() {
            let field = |name: &str| format!("incident[{i}].{name}");
            if !INCIDENT_IDS.contains(&incident.id.as_str()) {
                return Err(FieldError::new(
                    field("id"),
                    format!("unknown incident id; known: {}", INCIDENT_IDS.join(", ")),
                ));
            }
            let expected =
                |variant: &str| format!("fixtures/scenarios/{}-{variant}.toml", incident.id);
            if incident.buggy != Path::new(&expected("buggy")) {
                return Err(FieldError::new(
                    field("buggy"),
                    format!("must be {}", expected("buggy")),
                ));
            }
            if incident.fixed != Path::new(&expected("fixed")) {
                return Err(FieldError::new(
                    field("fixed"),
                    format!("must be {}", expected("fixed")),
                ));
            }
            if incident.buggy_violations.is_empty() {
                return Err(FieldError::new(
                    field("buggy_violations"),
                    "name at least one oracle the buggy variant must break",
                ));
            }
            for (j, figure) in incident.figures.iter().enumerate() {
                for (name, filter) in figure.metric.call_filters() {
                    filter.validate(&format!("incident[{i}].figure[{j}].metric.{name}"))?;
                }
                for (variant, bounds) in [("buggy", figure.buggy), ("fixed", figure.fixed)] {
                    if let Some([lo, hi]) = bounds {
                        if lo > hi || lo.is_nan() || hi.is_nan() {
                            return Err(FieldError::new(
                                format!("incident[{i}].figure[{j}].{variant}"),
                                "bounds must be [min, max] with min <= max",
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
