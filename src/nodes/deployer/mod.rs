//! `deployer`: deployment automation that renders a desired state from
//! template steps, diffs it against the live state, and applies the diff by
//! calling each resource's admin port ([`super::admin`]).
//!
//! It models the LiveKit load-balancer deletion (seed 003) without knowing
//! about it: a deploy that runs without one of the template steps renders a
//! desired state that lacks that step's resources, and the prune of the
//! diff deletes them, in every environment (the diff is cluster-wide; see
//! [`plan`]). The optional [`plan::Guards`] are the postmortem's
//! remediations.
//!
//! # Where deploys come from
//! - The config schedule: `deploys = [{ at = "540s", steps = [...], ... }]`.
//! - Commands in the host's control handle (`Control::send_command`), which
//!   the fault plan's `deploy` and `operator` kinds send. A command is a
//!   TOML table of the same shape as a scheduled deploy, without `at`:
//!
//! ```toml
//! # run the automation (fields as in [`DeploySpec`]; all optional)
//! { action = "deploy", steps = ["helm", "kustomize"], target_env = "staging",
//!   trigger = "ci", reviewed = false,
//!   change = { jsonnet = ["production/lb-1", "production/lb-2", "production/lb-3"] } }
//! # revert: re-apply the desired state in force before the last applied deploy
//! { action = "revert", trigger = "manual", reviewed = true }
//! ```
//! Check a command with [`validate_command`] before sending it.
//!
//! # Every deploy
//! 1. resolve: `steps` defaults to every template step; `change` replaces
//!    the resource lists of the steps it names (a new revision of the
//!    repository);
//! 2. render the desired state (the resources of the steps run) and ask
//!    every resource of the desired and managed sets for its status;
//! 3. diff (create desired-but-absent, delete managed-present-undesired);
//! 4. the guards may abort; else apply: admin `create`s then `delete`s
//!    (each `delete` after a `drain` and `drain_before_delete`, when set);
//! 5. emit `deploy.apply {target_env, trigger, reviewed, created, deleted,
//!    aborted}`; an admin call that fails emits `deploy.error`.
//!
//! An applied deploy becomes the current revision (its source and desired
//! state); a revert pops back to the revision before it. At most
//! `revisions_max` revisions are kept.

pub mod plan;

use super::admin::{self, AdminRequest};
use crate::history::{emit, Event};
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::sim::buggify::{self, here};
use crate::sim::NodeCtx;
use crate::sim::{Dur, FieldError, Topology};
use plan::{Diff, Guards, Request, ResourceName, Source, Trigger, PRODUCTION};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// `[nodes.deployer]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployerConfig {
    /// The deploy repository at boot: template step name to the resources
    /// it renders (`<env>/<host>`), e.g.
    /// `{ helm = [], jsonnet = ["production/lb-1", "production/lb-2"] }`.
    /// Every resource of it is managed from the start. Default: empty.
    #[serde(default)]
    pub templates: Source,
    /// Environment of each resource host; hosts not listed are in
    /// `production`. E.g. `{ staging = ["lb-3"] }`. Default: empty.
    #[serde(default)]
    pub environments: BTreeMap<String, Vec<String>>,
    /// The remediations of the LiveKit postmortem; all off by default.
    #[serde(default)]
    pub guards: Guards,
    /// Deploys this deployer runs on its own, in sim time. Default: none.
    #[serde(default)]
    pub deploys: Vec<DeploySpec>,
    /// Bound on one admin call (connect, request, reply). Default 2s.
    #[serde(default = "default_admin_timeout")]
    pub admin_timeout: Dur,
    /// Revisions kept for reverts. Default 16.
    #[serde(default = "default_revisions_max")]
    pub revisions_max: u32,
    /// Drain each resource this long before deleting it (a deregistration
    /// delay): an admin `drain` first, so it takes no new calls and
    /// finishes the ones it carries, then the `delete`. Default: none
    /// (deleted at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_before_delete: Option<Dur>,
}

fn default_admin_timeout() -> Dur {
    Dur::from_secs(2)
}
fn default_revisions_max() -> u32 {
    16
}

impl Default for DeployerConfig {
    fn default() -> DeployerConfig {
        DeployerConfig {
            templates: Source::new(),
            environments: BTreeMap::new(),
            guards: Guards::default(),
            deploys: Vec::new(),
            admin_timeout: default_admin_timeout(),
            revisions_max: default_revisions_max(),
            drain_before_delete: None,
        }
    }
}

/// Deploy or revert.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Render, diff and apply.
    #[default]
    Deploy,
    /// Re-apply the desired state before the last applied deploy.
    Revert,
}

/// One deploy: an entry of `deploys`, or a command (without `at`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploySpec {
    /// When it runs (schedule entries only; refused in commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Dur>,
    /// Default `deploy`.
    #[serde(default)]
    pub action: Action,
    /// The template steps the automation runs. Default: every step of the
    /// source (after `change`). Leaving one out is the LiveKit bug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<String>>,
    /// The change being deployed: new resource lists for the steps named
    /// (a step not in the source is added). Default: no change.
    #[serde(default, skip_serializing_if = "Source::is_empty")]
    pub change: Source,
    /// The environment the change is meant for. Default `production`.
    #[serde(default = "default_env")]
    pub target_env: String,
    /// `ci` or `manual`. Default `manual`.
    #[serde(default)]
    pub trigger: Trigger,
    /// Whether an engineer reviewed the diff. Default false.
    #[serde(default)]
    pub reviewed: bool,
}

fn default_env() -> String {
    PRODUCTION.to_string()
}

/// Kinds whose hosts have an admin port and so can be deployed.
pub fn is_resource_kind(kind: &str) -> bool {
    crate::nodes::kind(kind).is_some_and(|k| k.deployable)
}

impl DeployerConfig {
    /// The environment of a resource host.
    pub fn env_of_host(&self, host: &str) -> &str {
        self.environments
            .iter()
            .find(|(_, hosts)| hosts.iter().any(|h| h == host))
            .map(|(env, _)| env.as_str())
            .unwrap_or(PRODUCTION)
    }

    fn check_resources(
        &self,
        field: &str,
        source: &Source,
        topology: &Topology,
    ) -> Result<(), FieldError> {
        for (step, resources) in source {
            let field = format!("{field}.{step}");
            if step.is_empty() {
                return Err(FieldError::new(field, "a step needs a name"));
            }
            for r in resources {
                self.check_resource(&field, r, topology)?;
            }
        }
        Ok(())
    }

    fn check_resource(&self, field: &str, r: &str, topology: &Topology) -> Result<(), FieldError> {
        let Some((env, host)) = r.split_once('/') else {
            return Err(FieldError::new(
                field,
                format!("{r:?} is not `<env>/<host>`, e.g. \"production/lb-1\""),
            ));
        };
        check_resource_host(field, host, topology)?;
        let expected = self.env_of_host(host);
        if env != expected {
            return Err(FieldError::new(
                field,
                format!("{r:?}: host {host} is in environment {expected:?} (see `environments`)"),
            ));
        }
        Ok(())
    }

    fn check_spec(
        &self,
        field: &str,
        spec: &DeploySpec,
        topology: &Topology,
    ) -> Result<(), FieldError> {
        if spec.target_env.is_empty() {
            return Err(FieldError::new(
                format!("{field}.target_env"),
                "must not be empty",
            ));
        }
        match spec.action {
            Action::Revert => {
                if spec.steps.is_some() {
                    return Err(FieldError::new(
                        format!("{field}.steps"),
                        "a revert renders nothing; remove `steps`",
                    ));
                }
                if !spec.change.is_empty() {
                    return Err(FieldError::new(
                        format!("{field}.change"),
                        "a revert carries no change; remove `change`",
                    ));
                }
            }
            Action::Deploy => {
                self.check_resources(&format!("{field}.change"), &spec.change, topology)?;
                if let Some(steps) = &spec.steps {
                    for (i, step) in steps.iter().enumerate() {
                        let known =
                            self.templates.contains_key(step) || spec.change.contains_key(step);
                        if !known {
                            return Err(FieldError::new(
                                format!("{field}.steps[{i}]"),
                                format!(
                                    "unknown template step {step:?}; known: {}",
                                    self.templates
                                        .keys()
                                        .map(String::as_str)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn check_resource_host(field: &str, host: &str, topology: &Topology) -> Result<(), FieldError> {
    match topology.host(host) {
        Some(h) if is_resource_kind(h.kind) => Ok(()),
        Some(_) => Err(FieldError::new(
            field,
            format!("{host} has no admin port (only lb and sbc pods are resources)"),
        )),
        None => Err(crate::sim::check::unknown_node(field, host, topology)),
    }
}

impl NodeConfig for DeployerConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        if self.admin_timeout.is_zero() {
            return Err(FieldError::new(
                format!("{prefix}.admin_timeout"),
                "must be > 0",
            ));
        }
        if let Some(drain) = self.drain_before_delete {
            crate::sim::check::positive(prefix, "drain_before_delete", drain)?;
        }
        if self.revisions_max == 0 {
            return Err(FieldError::new(
                format!("{prefix}.revisions_max"),
                "must be >= 1",
            ));
        }
        let mut seen = BTreeSet::new();
        for (env, hosts) in &self.environments {
            for (i, host) in hosts.iter().enumerate() {
                let field = format!("{prefix}.environments.{env}[{i}]");
                check_resource_host(&field, host, topology)?;
                if !seen.insert(host.as_str()) {
                    return Err(FieldError::new(
                        field,
                        format!("{host} is listed in two environments"),
                    ));
                }
            }
        }
        self.check_resources(&format!("{prefix}.templates"), &self.templates, topology)?;
        for (i, spec) in self.deploys.iter().enumerate() {
            let field = format!("{prefix}.deploys[{i}]");
            if spec.at.is_none() {
                return Err(FieldError::new(
                    format!("{field}.at"),
                    "a scheduled deploy needs `at`, e.g. \"60s\"",
                ));
            }
            self.check_spec(&field, spec, topology)?;
        }
        Ok(())
    }
}

/// Checks a deploy command (the fault plan's `deploy` / `operator` kinds
/// call this at plan validation) against the deployer's config.
pub fn validate_command(
    field: &str,
    command: &toml::Value,
    config: &DeployerConfig,
    topology: &Topology,
) -> Result<DeploySpec, FieldError> {
    let spec: DeploySpec = command
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| FieldError::new(field, e.message().to_string()))?;
    if spec.at.is_some() {
        return Err(FieldError::new(
            format!("{field}.at"),
            "a command runs when it is sent; use the fault's own `at`",
        ));
    }
    config.check_spec(field, &spec, topology)?;
    Ok(spec)
}

/// One applied state: the repository and what it rendered.
#[derive(Debug, Clone)]
struct Revision {
    source: Source,
    desired: BTreeSet<ResourceName>,
}

/// The deployer's state in memory.
struct Deployer {
    ctx: NodeCtx,
    /// Applied revisions, oldest first; never empty.
    revisions: Vec<Revision>,
}

pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let config: DeployerConfig = ctx.config();
    let all_steps: Vec<String> = config.templates.keys().cloned().collect();
    let mut deployer = Deployer {
        revisions: vec![Revision {
            source: config.templates.clone(),
            desired: plan::render(&config.templates, &all_steps),
        }],
        ctx: ctx.clone(),
    };

    // Sim time zero as a tokio instant, to wait for scheduled deploys.
    let now = tokio::time::Instant::now();
    let origin = now - turmoil::sim_elapsed().unwrap_or_default();
    let mut schedule = upcoming(&config, origin, now).into_iter().peekable();

    // A restarted deployer does not replay commands its previous
    // incarnation received.
    let mut commands = ctx.control.commands();
    let mut last_seq = if ctx.incarnation > 0 {
        commands.borrow_and_update().last().map_or(0, |c| c.seq)
    } else {
        0
    };

    loop {
        let next_at = schedule.peek().map(|d| origin + d.at.expect("validated").0);
        tokio::select! {
            _ = sleep_until_opt(next_at) => {
                let spec = schedule.next().expect("peeked");
                deployer.handle(&spec).await;
            }
            changed = commands.changed() => {
                if changed.is_err() {
                    // The test-bed is gone: only scheduled deploys remain.
                    for spec in schedule.by_ref() {
                        tokio::time::sleep_until(origin + spec.at.expect("validated").0).await;
                        deployer.handle(&spec).await;
                    }
                    std::future::pending::<()>().await;
                }
                let new: Vec<_> = commands
                    .borrow_and_update()
                    .iter()
                    .filter(|c| c.seq > last_seq)
                    .cloned()
                    .collect();
                for command in new {
                    last_seq = command.seq;
                    deployer.on_command(&command.command).await;
                }
            }
        }
    }
}

/// The scheduled deploys still to come at `now` (a restarted deployer
/// skips those already past), in time order; deploys at the same time
/// keep their order in the file.
fn upcoming(
    config: &DeployerConfig,
    origin: tokio::time::Instant,
    now: tokio::time::Instant,
) -> Vec<DeploySpec> {
    let mut schedule: Vec<DeploySpec> = config
        .deploys
        .iter()
        .filter(|d| origin + d.at.expect("validated").0 >= now)
        .cloned()
        .collect();
    // Stable: deploys at the same time keep their order in the file.
    schedule.sort_by_key(|d| d.at);
    schedule
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Deployer {
    /// A command the fault plan sent: a deploy or revert the deployer
    /// accepts, else an aborted apply that says why not.
    async fn on_command(&mut self, command: &toml::Value) {
        let config: DeployerConfig = self.ctx.config();
        match validate_command("command", command, &config, &self.ctx.topology) {
            Ok(spec) => self.handle(&spec).await,
            Err(e) => emit(Event::DeployApply {
                target_env: "",
                trigger: "",
                reviewed: false,
                created: "",
                deleted: "",
                aborted: &format!("invalid command: {}: {}", e.field, e.message),
            }),
        }
    }

    async fn handle(&mut self, spec: &DeploySpec) {
        // Guards and timeouts are read per deploy, so a `set` fault on the
        // deployer's config takes effect at the next deploy.
        let config: DeployerConfig = self.ctx.config();
        let current = self.revisions.last().expect("never empty").clone();
        let (target, missing) = self.target(spec, &current);
        let request = Request {
            steps: spec.steps.clone().unwrap_or_default(),
            target_env: spec.target_env.clone(),
            trigger: spec.trigger,
            reviewed: spec.reviewed,
        };

        // What the deployer manages: what it applied last, and what it is
        // about to apply.
        let managed: BTreeSet<ResourceName> =
            current.desired.union(&target.desired).cloned().collect();
        let live = self.live_state(&managed, &config).await;
        let diff = plan::diff(&target.desired, &managed, &live.created);
        // Resources whose state is unknown are left alone this time.
        let diff = Diff {
            create: diff
                .create
                .into_iter()
                .filter(|r| !live.unknown.contains(r))
                .collect(),
            delete: diff.delete,
        };

        if let Some(reason) = plan::check_guards(&config.guards, &request, &missing, &diff) {
            self.emit_apply(spec, &[], &[], &reason);
            return;
        }
        let created = self
            .apply(&diff.create, AdminRequest::Create, &config)
            .await;
        if let (Some(drain), false) = (config.drain_before_delete, diff.delete.is_empty()) {
            self.apply(&diff.delete, AdminRequest::Drain, &config).await;
            crate::sim::time::sleep(drain.0).await;
        }
        let deleted = self
            .apply(&diff.delete, AdminRequest::Delete, &config)
            .await;
        self.emit_apply(spec, &created, &deleted, "");
        match spec.action {
            Action::Deploy => {
                self.revisions.push(target);
                if self.revisions.len() > config.revisions_max as usize {
                    self.revisions.remove(0);
                }
            }
            Action::Revert => {
                if self.revisions.len() > 1 {
                    self.revisions.pop();
                }
            }
        }
    }

    /// The revision `spec` moves to from `current`, and the template steps
    /// it names that the source lacks. A deploy renders the current source
    /// with its changes; a revert targets the revision before the current
    /// one (or the current one, when there is nothing to go back to).
    fn target(&self, spec: &DeploySpec, current: &Revision) -> (Revision, Vec<String>) {
        match spec.action {
            Action::Deploy => {
                let mut source = current.source.clone();
                for (step, resources) in &spec.change {
                    source.insert(step.clone(), resources.clone());
                }
                let steps = spec
                    .steps
                    .clone()
                    .unwrap_or_else(|| source.keys().cloned().collect());
                let desired = plan::render(&source, &steps);
                let missing = plan::missing_steps(&source, &steps);
                (Revision { source, desired }, missing)
            }
            Action::Revert => {
                let n = self.revisions.len();
                (self.revisions[n.saturating_sub(2)].clone(), Vec::new())
            }
        }
    }

    /// Asks every resource for its status, all at once.
    async fn live_state(
        &self,
        resources: &BTreeSet<ResourceName>,
        config: &DeployerConfig,
    ) -> LiveState {
        let replies = call_all(resources.iter(), AdminRequest::Status, config).await;
        let mut live = LiveState::default();
        for (r, reply) in replies {
            match reply {
                Ok(reply) if reply.created => {
                    live.created.insert(r);
                }
                Ok(_) => {}
                Err(_) => {
                    live.unknown.insert(r);
                }
            }
        }
        live
    }

    /// Sends `op` to every resource at once; returns those that
    /// acknowledged, in name order.
    async fn apply(
        &self,
        resources: &[ResourceName],
        op: AdminRequest,
        config: &DeployerConfig,
    ) -> Vec<ResourceName> {
        call_all(resources.iter(), op, config)
            .await
            .into_iter()
            .filter(|(_, reply)| reply.is_ok())
            .map(|(r, _)| r)
            .collect()
    }

    fn emit_apply(
        &self,
        spec: &DeploySpec,
        created: &[ResourceName],
        deleted: &[ResourceName],
        aborted: &str,
    ) {
        emit(Event::DeployApply {
            target_env: &spec.target_env,
            trigger: spec.trigger.as_str(),
            reviewed: spec.reviewed,
            created: &created.join(","),
            deleted: &deleted.join(","),
            aborted,
        });
    }
}

/// How much later an admin call starts when `deploy.step_slow` fires.
pub const STEP_SLOW_DELAY: std::time::Duration = std::time::Duration::from_secs(3);

/// Calls every resource's admin port concurrently (a deploy touching many
/// resources takes one round trip, not one per resource); reports each
/// failure as `deploy.error`. Results are in resource-name order.
async fn call_all<'a>(
    resources: impl Iterator<Item = &'a ResourceName>,
    op: AdminRequest,
    config: &DeployerConfig,
) -> BTreeMap<ResourceName, Result<admin::AdminReply, admin::AdminError>> {
    let timeout = config.admin_timeout.0;
    let calls: Vec<_> = resources
        .map(|r| {
            let r = r.clone();
            crate::sim::spawn(async move {
                // Fault points: the call starts late, or its reply is lost
                // after the resource handled it.
                if here(buggify::DEPLOY_STEP_SLOW) {
                    tokio::time::sleep(STEP_SLOW_DELAY).await;
                }
                let mut reply = admin::call(plan::host_of(&r), op, timeout).await;
                if reply.is_ok() && here(buggify::DEPLOY_STEP_FAILED) {
                    reply = Err(admin::AdminError::Io("connection reset by peer".into()));
                }
                (r, reply)
            })
        })
        .collect();
    let mut out = BTreeMap::new();
    for call in calls {
        let (r, reply) = call.await.expect("admin call task is never aborted");
        if let Err(e) = &reply {
            emit(Event::DeployError {
                resource: &r,
                op: op_name(op),
                error: &e.to_string(),
            });
        }
        out.insert(r, reply);
    }
    out
}

fn op_name(op: AdminRequest) -> &'static str {
    match op {
        AdminRequest::Create => "create",
        AdminRequest::Delete => "delete",
        AdminRequest::Status => "status",
        AdminRequest::Drain => "drain",
    }
}

#[derive(Default)]
struct LiveState {
    created: BTreeSet<ResourceName>,
    unknown: BTreeSet<ResourceName>,
}

/// The `DeployerKind` node kind, as the registry lists it.
pub struct DeployerKind;

impl crate::nodes::NodeKind for DeployerKind {
    const ABOUT: &'static str = "Deployment automation: renders, diffs and applies resources.";
    type Config = DeployerConfig;
    const FAULTS: &'static [FaultSupport] = &[
        FaultSupport::new("deploy", &[]),
        FaultSupport::new("operator", &["revert"]),
    ];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::NodesConfig;

    fn topology() -> (DeployerConfig, Topology) {
        let nodes: NodesConfig = toml::from_str(
            r#"
            [echo]
            [lb]
            pods = 2
            backends = ["echo"]
            [deployer]
            templates = { helm = [], jsonnet = ["production/lb-1", "production/lb-2"] }
            "#,
        )
        .expect("nodes");
        (nodes.deployer.clone().expect("deployer"), nodes.topology())
    }

    fn command(text: &str) -> toml::Value {
        toml::from_str::<toml::Table>(text).expect("toml").into()
    }

    #[test]
    fn commands_parse_and_are_checked_like_scheduled_deploys() {
        let (config, topology) = topology();
        let ok = validate_command(
            "faults[0].command",
            &command("steps = [\"helm\"]\ntarget_env = \"staging\"\ntrigger = \"ci\""),
            &config,
            &topology,
        )
        .expect("valid");
        assert_eq!(ok.trigger, Trigger::Ci);
        assert_eq!(ok.action, Action::Deploy);
        let revert = validate_command(
            "c",
            &command("action = \"revert\"\nreviewed = true"),
            &config,
            &topology,
        )
        .expect("valid");
        assert_eq!(revert.action, Action::Revert);
        for (text, field) in [
            ("at = \"1s\"", "c.at"),
            ("steps = [\"jsonet\"]", "c.steps[0]"),
            ("action = \"revert\"\nchange = { helm = [] }", "c.change"),
            ("bogus = 1", "c"),
        ] {
            let err = validate_command("c", &command(text), &config, &topology).expect_err(text);
            assert_eq!(err.field, field, "{text}: {}", err.message);
        }
    }

    #[test]
    fn hosts_default_to_production() {
        let (mut config, _) = topology();
        config
            .environments
            .insert("staging".into(), vec!["lb-2".into()]);
        assert_eq!(config.env_of_host("lb-1"), "production");
        assert_eq!(config.env_of_host("lb-2"), "staging");
    }
}
