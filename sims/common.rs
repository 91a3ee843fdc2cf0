//! Helpers shared by the incident simulations in `sims/`: load the
//! catalogue entry, run a variant, and derive variants of a scenario by
//! editing its TOML (a knob moved), so the tests never copy scenario data.
//!
//! Every test of an incident starts the same way, from one of the
//! catalogue's two scenarios, and differs in the knobs it moves:
//! [`edited_variant`] and [`run_edited`] are that setup. The catalogue's own
//! runs of both variants are made once per process ([`both_variants`]), as
//! several tests of an incident check them.

use callsim::incidents::runner::{judge, Variant, VariantResult};
use callsim::incidents::{Catalogue, Incident, CATALOGUE_PATH};
use callsim::report::Report;
use callsim::scenario::Scenario;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// The catalogue entry of `id`.
pub fn incident(id: &str) -> Incident {
    let catalogue = Catalogue::load(Path::new(CATALOGUE_PATH)).expect("the catalogue is valid");
    catalogue
        .incidents
        .into_iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("incident {id} is in the catalogue"))
}

/// The scenario of one variant, as the catalogue names it.
pub fn scenario(incident: &Incident, variant: Variant) -> Scenario {
    let path = match variant {
        Variant::Buggy => &incident.buggy,
        Variant::Fixed => &incident.fixed,
    };
    Scenario::load(path).expect("incident scenarios are valid")
}

/// Runs a scenario at its own seed and judges it as `variant` of `incident`.
pub fn run_as(incident: &Incident, variant: Variant, scenario: &Scenario) -> VariantResult {
    let report = run(scenario);
    judge(incident, variant, report)
}

/// The scenario of `variant` of `id`, with TOML `edits` applied (see
/// [`edited`]).
pub fn edited_variant(id: &str, variant: Variant, edits: &[(&str, toml::Value)]) -> Scenario {
    edited(&scenario(&incident(id), variant), edits)
}

/// Runs [`edited_variant`] at its own seed and judges it as `variant` of
/// `id`: the catalogue's figures, measured on a moved knob.
pub fn run_edited(id: &str, variant: Variant, edits: &[(&str, toml::Value)]) -> VariantResult {
    let incident = incident(id);
    let scenario = edited(&scenario(&incident, variant), edits);
    run_as(&incident, variant, &scenario)
}

/// Runs both variants of `id` as the catalogue gives them and checks the
/// catalogue's expectations: the buggy variant reproduces, the fixed one
/// holds with no violation. Returns (buggy, fixed) for snapshots and
/// deeper checks.
///
/// The runs are made once per process and id: a second caller (another
/// test of the same incident, maybe on another thread) waits for the first
/// and gets the same results, which a run being a function of (scenario,
/// seed, code) makes equal to running them again. If the first caller
/// panics, the next one runs them itself.
pub fn both_variants(id: &str) -> (VariantResult, VariantResult) {
    type Both = Arc<OnceLock<(VariantResult, VariantResult)>>;
    static DONE: Mutex<BTreeMap<String, Both>> = Mutex::new(BTreeMap::new());
    let cell = DONE
        .lock()
        .expect("no test panics while holding the lock")
        .entry(id.to_string())
        .or_default()
        .clone();
    cell.get_or_init(|| run_both_variants(id)).clone()
}

fn run_both_variants(id: &str) -> (VariantResult, VariantResult) {
    let incident = incident(id);
    let buggy = run_as(
        &incident,
        Variant::Buggy,
        &scenario(&incident, Variant::Buggy),
    );
    assert!(buggy.reproduced, "buggy variant: {:?}", buggy.misses);
    let fixed = run_as(
        &incident,
        Variant::Fixed,
        &scenario(&incident, Variant::Fixed),
    );
    assert!(fixed.reproduced, "fixed variant: {:?}", fixed.misses);
    assert!(fixed.violations.is_empty(), "{:?}", fixed.violations);
    (buggy, fixed)
}

/// Runs a scenario at its own seed.
pub fn run(scenario: &Scenario) -> Report {
    callsim::report::run_once(scenario, scenario.run.seed).unwrap_or_else(|e| {
        panic!(
            "the run completes: {e}\n{}",
            callsim::report::seed_block(scenario, scenario.run.seed, None)
        )
    })
}

/// `scenario` with TOML edits applied (`path` dotted, e.g.
/// `faults[1].value` or `workload.outbound.sync_share`).
pub fn edited(scenario: &Scenario, edits: &[(&str, toml::Value)]) -> Scenario {
    let mut value: toml::Value = toml::from_str(&scenario.to_toml()).expect("scenarios are TOML");
    for (path, new) in edits {
        set(&mut value, path, new.clone());
    }
    let text = toml::to_string(&value).expect("serialises");
    Scenario::from_toml(&text, &scenario.source)
        .unwrap_or_else(|e| panic!("the edited scenario is valid: {e}\n{text}"))
}

fn set(root: &mut toml::Value, path: &str, new: toml::Value) {
    let mut cur = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let (key, index) = match part.find('[') {
            Some(b) => (
                &part[..b],
                Some(part[b + 1..part.len() - 1].parse::<usize>().expect("index")),
            ),
            None => (*part, None),
        };
        let last = i + 1 == parts.len();
        let table = cur.as_table_mut().expect("a table on the path");
        if last && index.is_none() {
            table.insert(key.to_string(), new);
            return;
        }
        let entry = table
            .entry(key.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
        cur = match index {
            Some(i) => &mut entry.as_array_mut().expect("an array on the path")[i],
            None => entry,
        };
        if last {
            *cur = new;
            return;
        }
    }
}

/// A compact, stable summary of a judged variant for snapshots: figures
/// (with bounds), violations by oracle, and the timeline.
pub fn summary(result: &VariantResult) -> String {
    use callsim::incidents::runner::fmt;
    use std::collections::BTreeMap;
    let mut s = format!(
        "{} {:?}: verdict {:?}, reproduced {}, seed {}, sim {} ms\n",
        result.incident,
        result.variant,
        result.verdict,
        result.reproduced,
        result.seed,
        result.sim_ms
    );
    s.push_str("figures:\n");
    for (name, value) in &result.figures {
        let bounds = result
            .bounds
            .get(name)
            .map(|[lo, hi]| format!("[{}, {}]", fmt(*lo), fmt(*hi)))
            .unwrap_or_else(|| "-".into());
        s.push_str(&format!("  {name} = {} {bounds}\n", fmt(*value)));
    }
    let mut by_oracle: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &result.violations {
        *by_oracle.entry(&v.oracle).or_default() += 1;
    }
    s.push_str("violations:\n");
    for (oracle, n) in by_oracle {
        s.push_str(&format!("  {oracle}: {n}\n"));
    }
    s.push_str("timeline:\n");
    for line in &result.timeline {
        s.push_str(&format!("  {line}\n"));
    }
    s
}
