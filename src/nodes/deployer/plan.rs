//! The deployer's pure part: render a desired state from template steps,
//! diff it against the live state, and judge the diff with the guards.
//!
//! No I/O here, so every rule is a unit test. The model follows the
//! LiveKit postmortem (seed 003): the deployment software renders the
//! configuration of every cluster from several template steps (helm,
//! kustomize, jsonnet, ...), and applies what changed, pruning what it
//! applied before and no longer renders. A step that the automation fails
//! to run leaves its resources out of the desired state, so the prune
//! deletes them. The diff is cluster-wide: a deploy's `target_env` labels
//! the change for the review policy and the guards, but the renderer does
//! not confine the diff to it. In a correct pipeline that costs nothing,
//! because a staging change only changes staging resources; with a
//! missing step, a staging-targeted deploy deletes production resources.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A resource's name: `<env>/<host>`, e.g. `production/lb-1`.
pub type ResourceName = String;

/// The environment of a resource name (`production` of `production/lb-1`).
pub fn env_of(resource: &str) -> &str {
    resource.split_once('/').map(|(env, _)| env).unwrap_or("")
}

/// The host of a resource name (`lb-1` of `production/lb-1`).
pub fn host_of(resource: &str) -> &str {
    resource
        .split_once('/')
        .map(|(_, host)| host)
        .unwrap_or(resource)
}

/// The deploy repository: each template step and the resources it renders.
/// Ordered by step name, so rendering never depends on map order.
pub type Source = BTreeMap<String, Vec<ResourceName>>;

/// What triggered a deploy.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A CI pipeline, on a merge.
    Ci,
    /// A person.
    #[default]
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Ci => "ci",
            Trigger::Manual => "manual",
        }
    }
}

/// The optional safety checks of the LiveKit remediations. All off by
/// default (the pipeline as it was before the incident).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Guards {
    /// Abort when a template step the source declares was not rendered:
    /// the resources of a missing dependency would otherwise be pruned.
    /// Default false.
    #[serde(default)]
    pub abort_on_missing_dependency: bool,
    /// A CI-triggered deploy may only touch non-production resources; one
    /// whose diff touches production is aborted. Default false.
    #[serde(default)]
    pub ci_non_production: bool,
    /// A deploy whose diff touches production needs `reviewed = true`.
    /// Default false.
    #[serde(default)]
    pub production_requires_review: bool,
    /// A deploy deleting more than this many resources needs
    /// `reviewed = true`. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_review_max: Option<u32>,
}

/// The environment every resource is in unless configured otherwise.
pub const PRODUCTION: &str = "production";

/// What a deploy asks for, after the deployer resolved its defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The steps the automation runs.
    pub steps: Vec<String>,
    pub target_env: String,
    pub trigger: Trigger,
    pub reviewed: bool,
}

/// A diff to apply: resources to create and to delete, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub create: Vec<ResourceName>,
    pub delete: Vec<ResourceName>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.delete.is_empty()
    }

    /// Every resource the diff touches.
    pub fn touched(&self) -> impl Iterator<Item = &ResourceName> {
        self.create.iter().chain(self.delete.iter())
    }
}

/// The desired state: the resources of every step the automation ran.
pub fn render(source: &Source, steps: &[String]) -> BTreeSet<ResourceName> {
    steps
        .iter()
        .filter_map(|step| source.get(step))
        .flatten()
        .cloned()
        .collect()
}

/// Steps the source declares (with at least one resource) that were not
/// rendered: missing dependencies.
pub fn missing_steps(source: &Source, steps: &[String]) -> Vec<String> {
    source
        .iter()
        .filter(|(step, resources)| !resources.is_empty() && !steps.contains(step))
        .map(|(step, _)| step.clone())
        .collect()
}

/// The cluster-wide diff: create what is desired and absent; delete what
/// the deployer manages (it applied it before, `managed`) and is present
/// but no longer desired. `live` holds the resources that exist.
pub fn diff(
    desired: &BTreeSet<ResourceName>,
    managed: &BTreeSet<ResourceName>,
    live: &BTreeSet<ResourceName>,
) -> Diff {
    Diff {
        create: desired.difference(live).cloned().collect(),
        delete: managed
            .intersection(live)
            .filter(|r| !desired.contains(*r))
            .cloned()
            .collect(),
    }
}

/// The first guard that refuses the deploy, as the `aborted` reason; `None`
/// when the deploy may go ahead. `missing` are the unrendered steps (empty
/// for a revert, which renders nothing).
pub fn check_guards(
    guards: &Guards,
    request: &Request,
    missing: &[String],
    diff: &Diff,
) -> Option<String> {
    if guards.abort_on_missing_dependency && !missing.is_empty() {
        return Some(format!(
            "missing dependency: template step(s) {} not rendered",
            missing.join(", ")
        ));
    }
    let touches_production = diff.touched().any(|r| env_of(r) == PRODUCTION);
    if guards.ci_non_production && request.trigger == Trigger::Ci && touches_production {
        return Some("a CI-triggered deploy may not touch production resources".into());
    }
    if guards.production_requires_review && touches_production && !request.reviewed {
        return Some("a production change needs review".into());
    }
    if let Some(max) = guards.deletion_review_max {
        if diff.delete.len() > max as usize && !request.reviewed {
            return Some(format!(
                "deleting {} resources (more than {max}) needs review",
                diff.delete.len()
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<ResourceName> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn source() -> Source {
        let mut s = Source::new();
        s.insert("helm".into(), vec!["production/sbc-edge-1".into()]);
        s.insert("kustomize".into(), vec![]);
        s.insert(
            "jsonnet".into(),
            vec!["production/lb-1".into(), "production/lb-2".into()],
        );
        s
    }

    fn steps(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn request(trigger: Trigger, reviewed: bool) -> Request {
        Request {
            steps: steps(&["helm", "kustomize"]),
            target_env: "staging".into(),
            trigger,
            reviewed,
        }
    }

    #[test]
    fn render_unions_the_steps_run() {
        let all = render(&source(), &steps(&["helm", "kustomize", "jsonnet"]));
        assert_eq!(
            all,
            set(&[
                "production/lb-1",
                "production/lb-2",
                "production/sbc-edge-1"
            ])
        );
        let partial = render(&source(), &steps(&["helm", "kustomize"]));
        assert_eq!(partial, set(&["production/sbc-edge-1"]));
    }

    #[test]
    fn a_missing_step_is_reported_only_if_it_declares_resources() {
        assert_eq!(
            missing_steps(&source(), &steps(&["helm"])),
            vec!["jsonnet".to_string()]
        );
        assert!(missing_steps(&source(), &steps(&["helm", "jsonnet"])).is_empty());
    }

    #[test]
    fn the_prune_deletes_managed_resources_the_render_lost() {
        let managed = set(&[
            "production/lb-1",
            "production/lb-2",
            "production/sbc-edge-1",
        ]);
        let live = managed.clone();
        let desired = render(&source(), &steps(&["helm", "kustomize"]));
        let d = diff(&desired, &managed, &live);
        assert!(d.create.is_empty());
        assert_eq!(d.delete, vec!["production/lb-1", "production/lb-2"]);
    }

    #[test]
    fn unmanaged_live_resources_are_left_alone() {
        let d = diff(
            &set(&["production/lb-1"]),
            &set(&["production/lb-1"]),
            &set(&["production/lb-1", "production/lb-9"]),
        );
        assert!(d.is_empty());
    }

    #[test]
    fn create_is_desired_minus_live() {
        let d = diff(
            &set(&["production/lb-1", "production/lb-3"]),
            &set(&["production/lb-1"]),
            &set(&["production/lb-1"]),
        );
        assert_eq!(d.create, vec!["production/lb-3"]);
        assert!(d.delete.is_empty());
    }

    fn lb_deletion() -> Diff {
        Diff {
            create: vec![],
            delete: vec!["production/lb-1".into(), "production/lb-2".into()],
        }
    }

    #[test]
    fn without_guards_everything_goes_through() {
        let missing = steps(&["jsonnet"]);
        let r = request(Trigger::Ci, false);
        assert_eq!(
            check_guards(&Guards::default(), &r, &missing, &lb_deletion()),
            None
        );
    }

    #[test]
    fn each_guard_stops_the_livekit_deploy_on_its_own() {
        let missing = steps(&["jsonnet"]);
        let r = request(Trigger::Ci, false);
        let guards = [
            Guards {
                abort_on_missing_dependency: true,
                ..Guards::default()
            },
            Guards {
                ci_non_production: true,
                ..Guards::default()
            },
            Guards {
                production_requires_review: true,
                ..Guards::default()
            },
            Guards {
                deletion_review_max: Some(1),
                ..Guards::default()
            },
        ];
        for g in guards {
            let reason = check_guards(&g, &r, &missing, &lb_deletion());
            assert!(reason.is_some(), "{g:?} let the deploy through");
        }
    }

    #[test]
    fn guards_let_a_reviewed_manual_change_through() {
        let g = Guards {
            ci_non_production: true,
            production_requires_review: true,
            deletion_review_max: Some(1),
            abort_on_missing_dependency: true,
        };
        let r = request(Trigger::Manual, true);
        assert_eq!(check_guards(&g, &r, &[], &lb_deletion()), None);
    }

    #[test]
    fn ci_may_touch_staging() {
        let g = Guards {
            ci_non_production: true,
            ..Guards::default()
        };
        let d = Diff {
            create: vec!["staging/lb-3".into()],
            delete: vec![],
        };
        assert_eq!(
            check_guards(&g, &request(Trigger::Ci, false), &[], &d),
            None
        );
    }

    #[test]
    fn names_split_into_env_and_host() {
        assert_eq!(env_of("production/lb-1"), "production");
        assert_eq!(host_of("production/lb-1"), "lb-1");
        assert_eq!(env_of("lb-1"), "");
    }
}
