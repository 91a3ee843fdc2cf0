//! `[vary]`: node config and workload fields that the seed chooses.
//!
//! ```toml
//! [vary]
//! "nodes.gateway.rpc_client.tracing_default_timeout" = { uniform = ["1s", "10s"] }
//! "nodes.sip.ringing_timeout" = { choice = ["20s", "30s", "45s"] }
//! "workload.outbound.sync_share" = { choice = [0.0, 0.5, 1.0], weights = [1, 2, 1] }
//! ```
//!
//! Each key is the dotted path of one field under `nodes.<section>` or
//! `workload`, as written in the scenario file; each value is a
//! distribution:
//! - `{ uniform = [lo, hi] }`: integers give an integer, numbers a number
//!   (to 3 decimals), duration strings a duration (to the millisecond);
//! - `{ choice = [a, b, ..] }`: one of the values, each equally likely, or
//!   as likely as its entry in `weights = [..]`.
//!
//! The values are drawn **once per seed**, before the run starts: the seed
//! picks a configuration, and the run is that configuration's run. Each
//! path draws from its own stream, derived from the seed and the path, so
//! adding a path never changes what another draws. This is not the same as
//! a per-call draw such as a callee's `answer_after = { uniform = [..] }`,
//! which draws again for every call and keeps its meaning.
//!
//! At load time each path must name a field of a configured section, and
//! every extreme of its distribution (both ends of a range, every choice)
//! must give a valid scenario, so a seed can never draw a config that
//! fails to load. The drawn values are shown in the report (`varied`), the
//! `SEED=` block and failure bundles.

use crate::sim::rng::rng_for;
use crate::sim::{Dur, FieldError};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Paths that `[vary]` may set: where a scenario keeps node configs and
/// the workload.
pub const ROOTS: [&str; 2] = ["nodes.", "workload."];

/// Most entries in one `[vary]` table.
pub const ENTRIES_MAX: usize = 64;

/// One distribution, as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    /// A range `[lo, hi]`: integers give an integer, numbers a number (to
    /// 3 decimals), duration strings a duration (to the millisecond).
    /// Exactly one of `uniform` and `choice`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    #[schemars(schema_with = "crate::sim::schema::any_pair")]
    pub uniform: Option<[toml::Value; 2]>,
    /// The values to pick one of, each equally likely unless `weights`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::sim::schema::any_list")]
    pub choice: Option<Vec<toml::Value>>,
    /// With `choice`: how likely each entry is, in its order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
}

/// The kind of a uniform range, by its ends.
enum Range {
    Int(i64, i64),
    Float(f64, f64),
    Duration(Dur, Dur),
}

impl Distribution {
    /// Checks the distribution's own shape; `field` names it in errors.
    pub fn check(&self, field: &str) -> Result<(), FieldError> {
        match (&self.uniform, &self.choice) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(FieldError::new(
                    field,
                    "write exactly one of `uniform = [lo, hi]` or `choice = [..]`",
                ))
            }
            (Some(ends), None) => {
                if self.weights.is_some() {
                    return Err(FieldError::new(
                        field,
                        "`weights` goes with `choice`, not `uniform`",
                    ));
                }
                let range = range(ends).map_err(|m| FieldError::new(field, m))?;
                let ordered = match range {
                    Range::Int(a, b) => a <= b,
                    Range::Float(a, b) => a <= b,
                    Range::Duration(a, b) => a <= b,
                };
                if !ordered {
                    return Err(FieldError::new(field, "uniform = [lo, hi] needs lo <= hi"));
                }
            }
            (None, Some(choices)) => {
                if choices.is_empty() {
                    return Err(FieldError::new(field, "`choice` needs at least one value"));
                }
                if let Some(weights) = &self.weights {
                    if weights.len() != choices.len() {
                        return Err(FieldError::new(
                            field,
                            format!(
                                "`weights` has {} entries for {} choices; give one weight per choice",
                                weights.len(),
                                choices.len()
                            ),
                        ));
                    }
                    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
                        return Err(FieldError::new(field, "weights must be finite and >= 0"));
                    }
                    if weights.iter().sum::<f64>() <= 0.0 {
                        return Err(FieldError::new(field, "at least one weight must be > 0"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every value the distribution can give at its edges: both ends of a
    /// range, every choice. Checking these checks the whole distribution
    /// for fields whose validity is a range.
    pub fn extremes(&self) -> Vec<toml::Value> {
        match (&self.uniform, &self.choice) {
            (Some(ends), _) => ends.to_vec(),
            (None, Some(choices)) => choices.clone(),
            (None, None) => Vec::new(),
        }
    }

    /// One draw for `path` under `seed`.
    pub fn draw(&self, seed: u64, path: &str) -> toml::Value {
        let mut rng = rng_for(seed, &["vary", path]);
        if let Some(ends) = &self.uniform {
            return match range(ends).expect("checked at load") {
                Range::Int(a, b) => toml::Value::Integer(rng.gen_range(a..=b)),
                Range::Float(a, b) if a >= b => toml::Value::Float(a),
                Range::Float(a, b) => {
                    toml::Value::Float((rng.gen_range(a..=b) * 1000.0).round() / 1000.0)
                }
                Range::Duration(a, b) => toml::Value::String(
                    Dur::from_millis(rng.gen_range(a.as_millis()..=b.as_millis())).to_string(),
                ),
            };
        }
        let choices = self.choice.as_deref().unwrap_or_default();
        let index = match &self.weights {
            None => rng.gen_range(0..choices.len()),
            Some(weights) => {
                let total: f64 = weights.iter().sum();
                let mut x = rng.gen_range(0.0..total);
                let mut pick = weights.len() - 1;
                for (i, w) in weights.iter().enumerate() {
                    if x < *w {
                        pick = i;
                        break;
                    }
                    x -= w;
                }
                pick
            }
        };
        choices[index].clone()
    }
}

fn range(ends: &[toml::Value; 2]) -> Result<Range, String> {
    use toml::Value::{Float, Integer, String as Text};
    match (&ends[0], &ends[1]) {
        (Integer(a), Integer(b)) => Ok(Range::Int(*a, *b)),
        (Float(a), Float(b)) => Ok(Range::Float(*a, *b)),
        (Integer(a), Float(b)) => Ok(Range::Float(*a as f64, *b)),
        (Float(a), Integer(b)) => Ok(Range::Float(*a, *b as f64)),
        (Text(a), Text(b)) => match (Dur::parse(a), Dur::parse(b)) {
            (Ok(a), Ok(b)) if a.is_whole_millis() && b.is_whole_millis() => {
                Ok(Range::Duration(a, b))
            }
            (Ok(_), Ok(_)) => Err(
                "uniform durations are drawn to the millisecond: write whole milliseconds".into(),
            ),
            _ => Err(format!(
                "uniform = [{a:?}, {b:?}]: strings in a range must be durations such as \"250ms\""
            )),
        },
        (a, b) => Err(format!(
            "uniform = [{a}, {b}]: both ends must be integers, numbers or durations of one kind"
        )),
    }
}

/// Checks the path's form (not yet that it names a field).
pub fn check_path(path: &str) -> Result<(), String> {
    if !ROOTS.iter().any(|root| path.starts_with(root)) {
        return Err(format!(
            "{path:?}: a [vary] path starts with `nodes.<section>.` or `workload.`"
        ));
    }
    if path.split('.').any(str::is_empty) {
        return Err(format!("{path:?}: a path has no empty segment"));
    }
    if path.starts_with("nodes.") && path.split('.').count() < 3 {
        return Err(format!(
            "{path:?}: name a field of the section, e.g. `nodes.sip.ringing_timeout`"
        ));
    }
    Ok(())
}

/// Sets the field at `path` in `doc` (a scenario as a TOML value). Tables
/// on the way are made when missing, except a node section: a `[vary]`
/// path never configures a node that the file does not run.
pub fn set_path(doc: &mut toml::Value, path: &str, value: toml::Value) -> Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    let (last, tables) = parts.split_last().expect("a checked path has segments");
    let mut node = doc;
    for (depth, part) in tables.iter().enumerate() {
        let table = node
            .as_table_mut()
            .ok_or_else(|| format!("{path:?}: `{part}` is inside a value that is not a table"))?;
        let must_exist = depth < 2 && parts[0] == "nodes";
        if must_exist && !table.contains_key(*part) {
            return Err(format!(
                "{path:?}: the scenario has no `[nodes.{part}]` section; [vary] only changes sections the file configures"
            ));
        }
        node = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    let table = node
        .as_table_mut()
        .ok_or_else(|| format!("{path:?}: its parent is not a table"))?;
    table.insert(last.to_string(), value);
    Ok(())
}

/// The values drawn for `seed`, by path.
pub fn draw_all(vary: &BTreeMap<String, Distribution>, seed: u64) -> BTreeMap<String, toml::Value> {
    vary.iter()
        .map(|(path, d)| (path.clone(), d.draw(seed, path)))
        .collect()
}

/// A drawn value as written in a scenario file (`"3s"`, `0.5`, `"x"`).
pub fn shown(value: &toml::Value) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(text: &str) -> Distribution {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn uniform_durations_stay_in_range_and_vary_with_the_seed() {
        let d = dist(r#"uniform = ["1s", "10s"]"#);
        d.check("vary.x").unwrap();
        let drawn: std::collections::BTreeSet<u64> = (0..200)
            .map(|seed| {
                let v = d.draw(seed, "nodes.a.b");
                Dur::parse(v.as_str().unwrap()).unwrap().as_millis()
            })
            .collect();
        assert!(drawn.iter().all(|ms| (1_000..=10_000).contains(ms)));
        assert!(
            drawn.len() > 150,
            "200 seeds gave only {} values",
            drawn.len()
        );
        // One seed, one path: one value.
        assert_eq!(d.draw(7, "nodes.a.b"), d.draw(7, "nodes.a.b"));
    }

    #[test]
    fn integer_and_float_ranges_keep_their_type() {
        let ints = dist("uniform = [2, 5]");
        let floats = dist("uniform = [0.1, 0.2]");
        for seed in 0..50 {
            let i = ints.draw(seed, "p").as_integer().unwrap();
            assert!((2..=5).contains(&i));
            let f = floats.draw(seed, "p").as_float().unwrap();
            assert!((0.1..=0.2).contains(&f), "{f}");
        }
    }

    #[test]
    fn weighted_choice_follows_its_weights() {
        let d = dist(
            r#"choice = ["a", "b", "c"]
weights = [1, 0, 3]"#,
        );
        d.check("vary.x").unwrap();
        let mut counts = BTreeMap::new();
        for seed in 0..4000 {
            *counts
                .entry(d.draw(seed, "p").as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        assert_eq!(counts.get("b"), None, "a zero weight is never drawn");
        let (a, c) = (counts["a"] as f64, counts["c"] as f64);
        assert!((2.5..3.5).contains(&(c / a)), "c/a = {}", c / a);
    }

    #[test]
    fn paths_draw_independently() {
        let d = dist("uniform = [0, 1000000]");
        let same = (0..100)
            .filter(|&s| d.draw(s, "nodes.a.x") == d.draw(s, "nodes.a.y"))
            .count();
        assert!(same < 3);
    }

    #[test]
    fn malformed_distributions_are_refused() {
        for bad in [
            r#"uniform = ["1s", 3]"#,
            r#"uniform = ["5s", "1s"]"#,
            r#"uniform = ["x", "y"]"#,
            "uniform = [3, 1]",
            "choice = []",
            "choice = [1, 2]\nweights = [1]",
            "choice = [1, 2]\nweights = [0, 0]",
            "choice = [1, 2]\nweights = [-1, 2]",
            "uniform = [1, 2]\nchoice = [1]",
            "uniform = [1, 2]\nweights = [1, 1]",
            "",
        ] {
            assert!(dist(bad).check("vary.p").is_err(), "{bad}");
        }
    }

    #[test]
    fn set_path_refuses_an_unconfigured_section_and_makes_sub_tables() {
        let mut doc: toml::Value =
            toml::from_str("[nodes.sip]\nringing_timeout = \"30s\"").unwrap();
        set_path(&mut doc, "nodes.sip.timers.t1", "1s".into()).unwrap();
        assert_eq!(doc["nodes"]["sip"]["timers"]["t1"].as_str(), Some("1s"));
        assert!(set_path(&mut doc, "nodes.lb.x", 1.into()).is_err());
        set_path(&mut doc, "workload.rate", 2.into()).unwrap();
        assert_eq!(doc["workload"]["rate"].as_integer(), Some(2));
    }

    #[test]
    fn paths_are_rooted_at_nodes_or_workload() {
        check_path("nodes.sip.ringing_timeout").unwrap();
        check_path("workload.outbound.rate").unwrap();
        for bad in ["run.seed", "nodes.sip", "nodes..x", "oracles.x", ""] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}
