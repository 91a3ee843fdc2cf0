//! Commands the fault plan sends to the deployer through its control
//! handle's command log (`Control::send_command`): a deploy, and the
//! operator's revert of the last deploy.
//!
//! # The command shape (the contract with the deployer node)
//!
//! A command is a TOML table of the deployer's `DeploySpec` shape (the
//! shape of its own `deploys` schedule entries) without `at`: the command
//! runs when it is sent. Absent fields take the deployer's defaults.
//!
//! ```toml
//! # [[faults]] kind = "deploy", at = "540s", steps = ["helm", "kustomize"],
//! #             target_env = "staging", trigger = "ci", reviewed = false
//! action = "deploy"
//! steps = ["helm", "kustomize"]   # template steps run (default: all); leaving
//!                                 # one out is the LiveKit bug
//! change = { jsonnet = ["production/lb-1"] }   # optional: new resource lists
//! target_env = "staging"          # default "production"
//! trigger = "ci"                  # "ci" | "manual" (default "manual")
//! reviewed = false                # default false
//! ```
//!
//! ```toml
//! # [[faults]] kind = "operator", action = "revert", at = "1380s"
//! action = "revert"               # re-apply the state before the last applied deploy
//! trigger = "manual"              # always: an operator acts by hand
//! reviewed = true                 # only when the fault says `reviewed`
//! ```
//!
//! The deployer reads its log with `ControlHandle::commands()`, checks
//! each entry against its config, and owns what happens next (rendering,
//! guards, the diff, admin-port calls, `deploy.apply`). The fault plan only
//! says when and with what inputs; `fault.start` / `fault.end` of the
//! deploy (same tick) precede the deployer's `deploy.apply`. A deploy is
//! not undone at the heal time: only a revert undoes it.

use super::spec::{FaultSpec, Trigger};

/// The host that receives deploy and revert commands by default.
pub const DEPLOYER: &str = "deployer";

/// The command of a `deploy` fault.
pub fn deploy_command(spec: &FaultSpec) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert("action".into(), "deploy".into());
    if let Some(steps) = &spec.steps {
        t.insert(
            "steps".into(),
            toml::Value::Array(steps.iter().map(|s| s.as_str().into()).collect()),
        );
    }
    if let Some(change) = &spec.change {
        t.insert("change".into(), toml::Value::Table(change.clone()));
    }
    if let Some(env) = &spec.target_env {
        t.insert("target_env".into(), env.as_str().into());
    }
    if let Some(trigger) = spec.trigger {
        t.insert("trigger".into(), trigger.name().into());
    }
    if let Some(reviewed) = spec.reviewed {
        t.insert("reviewed".into(), reviewed.into());
    }
    toml::Value::Table(t)
}

/// The command of an `operator` `revert` fault.
pub fn revert_command(spec: &FaultSpec) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert("action".into(), "revert".into());
    t.insert("trigger".into(), Trigger::Manual.name().into());
    if let Some(reviewed) = spec.reviewed {
        t.insert("reviewed".into(), reviewed.into());
    }
    toml::Value::Table(t)
}
