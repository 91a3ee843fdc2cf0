//! Validation of the fault plan: every way a `[[faults]]` entry or
//! `[fault_settings]` can be wrong ends here as a [`FieldError`] naming the
//! field (the scenario loader adds the file and line; the CLI exits 2).
//!
//! Checked: times (`until` after `at`, nothing past the run's duration,
//! nothing starting at or after the heal time, no `until` on instant
//! kinds); targets (known hosts or sections, the right target form for the
//! kind, a link joining two different hosts); each kind's parameters and
//! ranges, and no field the kind does not take; `set` values against the
//! node's config type; processes, swarm kinds and fault point sites; and
//! contradictions between entries (see [`contradictions`]).

use super::buggify::SITES;
use super::command::{deploy_command, revert_command, DEPLOYER};
use super::node::set_path;
use super::plan::{resolve_hosts, resolve_links};
use super::process::{self, OCCURRENCES_MAX};
use super::spec::{
    DurationSpec, FaultKind, FaultSpec, LatencySpec, ModeSpec, OperatorAction, SwarmKind, AT_UNSET,
};
use super::PlanInputs;
use crate::nodes::NodesConfig;
use crate::sim::{Dur, FieldError, Topology};
use std::collections::BTreeSet;

/// The largest `service_time_factor`: a thousand times slower is a node
/// that does nothing; larger values only overflow a duration.
pub const SERVICE_TIME_FACTOR_MAX: f64 = 1000.0;

/// The largest clock `offset` either way: an hour. Larger steps test
/// nothing a call platform's timeouts (seconds to minutes) would not
/// already show, and keep clock arithmetic far from overflow.
pub const CLOCK_OFFSET_MAX: Dur = Dur(std::time::Duration::from_secs(3600));

/// The largest clock drift either way, in parts per million: half speed
/// to one and a half times speed. A clock must always move forward.
pub const CLOCK_DRIFT_PPM_MAX: i64 = 500_000;

/// Checks the fault plan and fault settings against the scenario.
pub fn validate_plan(scenario: &PlanInputs<'_>, topology: &Topology) -> Result<(), FieldError> {
    let duration = scenario.run.duration;
    let settings = &scenario.fault_settings;
    if let Some(heal) = settings.heal {
        if heal > duration {
            return Err(FieldError::new(
                "fault_settings.heal",
                format!("{heal} is past the run's duration {duration}"),
            ));
        }
    }
    for (i, f) in scenario.faults.iter().enumerate() {
        validate_fault(scenario, topology, i, f)?;
    }
    validate_buggify(scenario)?;
    validate_swarm(scenario, topology)?;
    contradictions(scenario, topology)
}

/// One `[[faults]]` entry, in the order its errors are reported: times,
/// fields the kind does not take, the target, the kind's parameters, then
/// a missing `at`.
fn validate_fault(
    scenario: &PlanInputs<'_>,
    topology: &Topology,
    i: usize,
    f: &FaultSpec,
) -> Result<(), FieldError> {
    let field = |name: &str| format!("faults[{i}].{name}");
    let heal = scenario.fault_settings.heal;
    check_times(scenario.run.duration, heal, f, &field)?;
    check_fields(f, &field)?;
    if f.kind.targets_link() {
        check_link_target(topology, f, &field)?;
    } else if f.kind != FaultKind::Process {
        check_node_target(topology, f, &field)?;
    }
    // Deploys and operator actions have their own checks (the deployer
    // must accept them; restart, delete and recreate act on any host).
    let own_check = matches!(
        f.kind,
        FaultKind::Process | FaultKind::Deploy | FaultKind::Operator
    );
    if !f.kind.targets_link() && !own_check {
        check_mode_of_kind(f.kind, f.mode, field("mode"))?;
        check_support(
            topology,
            f.kind,
            f.mode,
            &resolve_hosts(f, topology),
            field("node"),
        )?;
    }
    let deployer_accepts =
        |command: &toml::Value| check_deployer_command(scenario, topology, f, command, &field);
    match f.kind {
        FaultKind::Set => check_set(scenario, topology, f, &field),
        FaultKind::Deploy => check_deploy(f, &field, &deployer_accepts),
        FaultKind::Operator => check_operator(f, &field, &deployer_accepts),
        FaultKind::Process => check_process(scenario, topology, f, &field),
        FaultKind::Dns => check_dns(scenario, f, &field),
        kind => check_params(kind, f, &field),
    }?;
    if f.at == AT_UNSET {
        return Err(FieldError::new(
            field("at"),
            "a fault needs `at`, when it starts (e.g. at = \"10s\"; \"0s\" for the start of the run)",
        ));
    }
    Ok(())
}

/// `at` and `until`: inside the run's `duration`, before the `heal` time,
/// and `until` only on a kind that lasts, after `at`.
fn check_times(
    duration: Dur,
    heal: Option<Dur>,
    f: &FaultSpec,
    field: &dyn Fn(&str) -> String,
) -> Result<(), FieldError> {
    if f.at == AT_UNSET {
        // Refused once the rest of the entry is judged (see validate_fault).
        return Ok(());
    }
    if f.at > duration {
        return Err(FieldError::new(
            field("at"),
            format!("{} is past the run's duration {duration}", f.at),
        ));
    }
    if let Some(heal) = heal {
        if f.at >= heal {
            return Err(FieldError::new(
                field("at"),
                format!(
                    "{} is at or after the heal time {heal} (fault_settings.heal), when every fault is lifted",
                    f.at
                ),
            ));
        }
    }
    if let Some(until) = f.until {
        if f.kind.is_instant() {
            return Err(FieldError::new(
                field("until"),
                format!(
                    "a {} happens at one instant and takes no `until`",
                    f.kind.name()
                ),
            ));
        }
        check_until(until, f.at, duration, field("until"))?;
    }
    Ok(())
}

/// An `until` after `at` and not past the run's `duration`.
fn check_until(until: Dur, at: Dur, duration: Dur, field: String) -> Result<(), FieldError> {
    if until <= at {
        return Err(FieldError::new(
            field,
            format!("{until} is not after at = {at}"),
        ));
    }
    if until > duration {
        return Err(FieldError::new(
            field,
            format!("{until} is past the run's duration {duration}"),
        ));
    }
    Ok(())
}

/// No field the kind does not take (for a process, its fields and those of
/// the kind it repeats), and no one-way link on a kind turmoil applies both
/// ways.
fn check_fields(f: &FaultSpec, field: &dyn Fn(&str) -> String) -> Result<(), FieldError> {
    let kind = f.kind;
    let mut allowed: Vec<&str> = target_fields(kind).to_vec();
    allowed.extend_from_slice(kind.params());
    if kind == FaultKind::Process {
        if let Some(inner) = f.fault {
            allowed.extend_from_slice(inner.params());
        }
    }
    for name in f.present_fields() {
        if kind.both_ways_only() && (name == "from" || name == "to") {
            return Err(FieldError::new(
                field(name),
                format!(
                    "turmoil applies {} to both directions of a link at once: use `between`",
                    kind.name()
                ),
            ));
        }
        if !allowed.contains(&name) {
            return Err(FieldError::new(
                field(name),
                format!(
                    "`{name}` does not apply to a {} fault; it takes: {}",
                    kind.name(),
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// A link kind's target: `between = [a, b]` or `from` and `to`, naming
/// known hosts or sections that give at least one link.
fn check_link_target(
    topology: &Topology,
    f: &FaultSpec,
    field: &dyn Fn(&str) -> String,
) -> Result<(), FieldError> {
    let known = |name: &str, key: &str| known_name(topology, name, field(key));
    match (&f.between, &f.from, &f.to) {
        (Some([a, b]), None, None) => {
            known(a, "between")?;
            known(b, "between")?;
        }
        (None, Some(a), Some(b)) => {
            known(a, "from")?;
            known(b, "to")?;
        }
        (None, Some(_), None) => {
            return Err(FieldError::new(field("to"), "a one-way link fault needs `to` as well as `from`"))
        }
        (None, None, Some(_)) => {
            return Err(FieldError::new(field("from"), "a one-way link fault needs `from` as well as `to`"))
        }
        _ => {
            return Err(FieldError::new(
                field("between"),
                "a link fault needs `between = [a, b]` (both ways) or `from` and `to` (one way), not both",
            ))
        }
    }
    if resolve_links(f, topology).is_empty() {
        return Err(FieldError::new(
            field(if f.between.is_some() { "between" } else { "to" }),
            format!("{} joins no two different hosts", f.target_text()),
        ));
    }
    Ok(())
}

/// A node kind's target: `node`, a known host or section; a deploy or a
/// revert may leave it out when the scenario has the deployer.
fn check_node_target(
    topology: &Topology,
    f: &FaultSpec,
    field: &dyn Fn(&str) -> String,
) -> Result<(), FieldError> {
    let kind = f.kind;
    let defaults_to_deployer = kind == FaultKind::Deploy
        || (kind == FaultKind::Operator && f.action == Some(OperatorAction::Revert));
    match &f.node {
        Some(node) => known_name(topology, node, field("node"))?,
        None if defaults_to_deployer => {
            if !topology.resolves(DEPLOYER) {
                return Err(FieldError::new(
                    field("node"),
                    format!(
                        "a {} goes to the deployer, and this scenario has no `{DEPLOYER}` node; add [nodes.{DEPLOYER}] or name one with `node`",
                        kind.name()
                    ),
                ));
            }
        }
        None => {
            return Err(FieldError::new(
                field("node"),
                format!("a {} fault needs `node` (a host or a section)", kind.name()),
            ))
        }
    }
    if resolve_hosts(f, topology).is_empty() {
        return Err(FieldError::new(field("node"), "names no host"));
    }
    Ok(())
}

/// The mode a fault acts in, as the support table names it: `gray`'s
/// mode (`work` when not given), `None` for kinds without modes.
pub fn support_mode(kind: FaultKind, mode: Option<ModeSpec>) -> Option<&'static str> {
    match kind {
        FaultKind::Gray => Some(mode.unwrap_or(ModeSpec::Work).name()),
        FaultKind::Dns => Some(mode.unwrap_or(ModeSpec::Servfail).name()),
        _ => None,
    }
}

/// A `mode` is one of its kind's (`gray`: work, media, black_hole; `dns`:
/// nxdomain, servfail, timeout), named at the entry's `mode`.
fn check_mode_of_kind(
    kind: FaultKind,
    mode: Option<ModeSpec>,
    field: String,
) -> Result<(), FieldError> {
    let Some(mode) = mode else { return Ok(()) };
    let modes = ModeSpec::of_kind(kind);
    if modes.is_empty() || modes.contains(&mode) {
        return Ok(());
    }
    Err(FieldError::new(
        field,
        format!(
            "`{}` is not a mode of a {} fault; its modes: {}",
            mode.name(),
            kind.name(),
            modes
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// `dns`: `name`, when given, is a name of the `dns` node's `records`
/// (a fault on a name nobody resolves would change nothing).
fn check_dns(
    scenario: &PlanInputs<'_>,
    f: &FaultSpec,
    field: &dyn Fn(&str) -> String,
) -> Result<(), FieldError> {
    let Some(name) = &f.name else { return Ok(()) };
    crate::nodes::dns::check_name(name).map_err(|m| FieldError::new(field("name"), m))?;
    let known = scenario
        .nodes
        .dns
        .as_ref()
        .map(|d| d.records.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    if !known.contains(name) {
        return Err(FieldError::new(
            field("name"),
            format!(
                "`{name}` is not a name of [nodes.dns] records; known: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    Ok(())
}

/// Whether hosts of `host`'s kind act on `kind` in `mode` (see
/// [`support_mode`]): the registry's support table, read for one host.
pub fn acts_on(host: &crate::sim::HostSpec, kind: FaultKind, mode: Option<&str>) -> bool {
    crate::nodes::kind(host.kind).is_some_and(|k| k.supports(kind.name(), mode))
}

/// Every host a node fault reaches acts on it: the pair (fault kind and
/// mode, node kind) is in the registry's support table
/// ([`crate::nodes::KINDS`]), or the fault is refused here, naming the
/// kinds that do act on it. A fault that would be accepted and do nothing
/// gives a green run that means nothing.
fn check_support(
    topology: &Topology,
    kind: FaultKind,
    mode: Option<ModeSpec>,
    hosts: &[String],
    field: String,
) -> Result<(), FieldError> {
    let mode = support_mode(kind, mode);
    for host in hosts {
        let Some(spec) = topology.host(host) else {
            continue;
        };
        if !acts_on(spec, kind, mode) {
            let what = match mode {
                Some(m) => format!("{} (mode {m})", kind.name()),
                None => kind.name().to_string(),
            };
            let supported = crate::nodes::kinds_supporting(kind.name(), mode);
            let takes = crate::nodes::kind(spec.kind)
                .map(|k| k.faults_text())
                .unwrap_or_default();
            return Err(FieldError::new(
                field,
                format!(
                    "a `{what}` fault does nothing on {host} (kind {}, which acts on: {takes}, besides the host faults); `{what}` acts on: {}",
                    spec.kind,
                    if supported.is_empty() { "no node kind".to_string() } else { supported.join(", ") }
                ),
            ));
        }
    }
    Ok(())
}

/// `deploy`: a non-empty `target_env`, named template steps, `change` as
/// lists of resources, and a command the deployer accepts
/// (`deployer_accepts`, [`check_deployer_command`]).
fn check_deploy(
    f: &FaultSpec,
    field: &dyn Fn(&str) -> String,
    deployer_accepts: &dyn Fn(&toml::Value) -> Result<(), FieldError>,
) -> Result<(), FieldError> {
    if let Some(env) = &f.target_env {
        if env.trim().is_empty() {
            return Err(FieldError::new(field("target_env"), "must not be empty"));
        }
    }
    if let Some(steps) = &f.steps {
        if let Some(i) = steps.iter().position(|t| t.trim().is_empty()) {
            return Err(FieldError::new(
                field(&format!("steps[{i}]")),
                "a template step needs a name",
            ));
        }
    }
    for (step, resources) in f.change.iter().flatten() {
        let ok = resources
            .as_array()
            .is_some_and(|a| a.iter().all(|r| r.is_str()));
        if !ok {
            return Err(FieldError::new(
                field(&format!("change.{step}")),
                "must be a list of resources, e.g. [\"production/lb-1\"]",
            ));
        }
    }
    deployer_accepts(&deploy_command(f))
}

/// `operator`: an `action`; a revert is a deploy by hand (the deployer
/// must accept it: `deployer_accepts`), any other action needs `node` and
/// takes no `reviewed`.
fn check_operator(
    f: &FaultSpec,
    field: &dyn Fn(&str) -> String,
    deployer_accepts: &dyn Fn(&toml::Value) -> Result<(), FieldError>,
) -> Result<(), FieldError> {
    match f.action {
        None => Err(FieldError::new(
            field("action"),
            "an operator fault needs `action`: restart, revert, delete or recreate",
        )),
        Some(OperatorAction::Revert) => deployer_accepts(&revert_command(f)),
        Some(_) if f.reviewed.is_some() => Err(FieldError::new(
            field("reviewed"),
            "`reviewed` goes with a revert (a deploy by hand)",
        )),
        Some(_) if f.node.is_none() => Err(FieldError::new(
            field("node"),
            "this operator action needs `node`",
        )),
        Some(_) => Ok(()),
    }
}

/// A deploy or revert goes to deployer hosts, and the deployer must accept
/// the command: its own check (template steps it knows, resources that
/// exist) runs here, before the run.
fn check_deployer_command(
    scenario: &PlanInputs<'_>,
    topology: &Topology,
    f: &FaultSpec,
    command: &toml::Value,
    field: &dyn Fn(&str) -> String,
) -> Result<(), FieldError> {
    for host in resolve_hosts(f, topology) {
        let kind = topology.host(&host).map(|h| h.kind);
        if kind != Some("deployer") {
            return Err(FieldError::new(
                field("node"),
                format!(
                    "{host} is not a deployer; deploys and reverts go to a [nodes.deployer] host"
                ),
            ));
        }
    }
    let config =
        scenario.nodes.deployer.as_ref().ok_or_else(|| {
            FieldError::new(field("node"), "this scenario has no [nodes.deployer]")
        })?;
    // The deployer names fields from `field("")` on, e.g. `faults[0].steps[1]`.
    let prefix = field("");
    crate::nodes::deployer::validate_command(
        prefix.trim_end_matches('.'),
        command,
        config,
        topology,
    )
    .map(|_| ())
}

/// The target fields a kind takes.
fn target_fields(kind: FaultKind) -> &'static [&'static str] {
    if kind.both_ways_only() {
        &["between"]
    } else if kind.targets_link() {
        &["between", "from", "to"]
    } else if kind == FaultKind::Process {
        &[]
    } else {
        &["node"]
    }
}

fn known_name(topology: &Topology, name: &str, field: String) -> Result<(), FieldError> {
    if topology.resolves(name) {
        Ok(())
    } else {
        Err(crate::sim::check::unknown_node(field, name, topology))
    }
}

/// The parameters of a link or node kind (also those a process repeats).
fn check_params(
    kind: FaultKind,
    f: &FaultSpec,
    field: &dyn Fn(&str) -> String,
) -> Result<(), FieldError> {
    match kind {
        FaultKind::Latency => check_latency(f, field),
        FaultKind::Jitter => check_jitter(f, field),
        FaultKind::Loss | FaultKind::Duplicate => check_probability(kind, f, field),
        FaultKind::Saturate => check_saturate(f, field),
        FaultKind::RateLimit => check_rate_limit(f, field),
        FaultKind::Clock => check_clock(f, field),
        _ => Ok(()),
    }
}

/// `clock`: an `offset` and/or a `drift_ppm`, not both zero, each within
/// its bound; an offset of whole milliseconds.
fn check_clock(f: &FaultSpec, field: &dyn Fn(&str) -> String) -> Result<(), FieldError> {
    let offset = f.offset.unwrap_or_default();
    let drift = f.drift_ppm.unwrap_or(0);
    if offset.is_zero() && drift == 0 {
        return Err(FieldError::new(
            field("offset"),
            "a clock fault needs a non-zero `offset` (e.g. \"-2s\") and/or `drift_ppm` (e.g. 50000 for 5% fast)",
        ));
    }
    check_clock_offset(offset, field("offset"))?;
    check_clock_drift(drift, field("drift_ppm"))
}

fn check_clock_offset(offset: crate::sim::SignedDur, field: String) -> Result<(), FieldError> {
    if offset.magnitude() > CLOCK_OFFSET_MAX {
        return Err(FieldError::new(
            field,
            format!("{offset} is more than {CLOCK_OFFSET_MAX} either way (limit CLOCK_OFFSET_MAX)"),
        ));
    }
    if !offset.magnitude().is_whole_millis() {
        return Err(FieldError::new(
            field,
            format!("{offset} is not a whole number of milliseconds (sim time counts in ms)"),
        ));
    }
    Ok(())
}

fn check_clock_drift(drift_ppm: i64, field: String) -> Result<(), FieldError> {
    if drift_ppm.abs() > CLOCK_DRIFT_PPM_MAX {
        return Err(FieldError::new(
            field,
            format!(
                "{drift_ppm} is more than {CLOCK_DRIFT_PPM_MAX} either way (limit CLOCK_DRIFT_PPM_MAX: half to one and a half times speed)"
            ),
        ));
    }
    Ok(())
}

/// `latency`: a `latency`, fixed or a range with min <= max.
fn check_latency(f: &FaultSpec, field: &dyn Fn(&str) -> String) -> Result<(), FieldError> {
    match f.latency {
        None => Err(FieldError::new(
            field("latency"),
            "a latency fault needs `latency`: \"200ms\", or { min = \"50ms\", max = \"300ms\" }",
        )),
        Some(LatencySpec::Range { min, max }) if min > max => Err(FieldError::new(
            field("latency"),
            format!("min {min} is above max {max}"),
        )),
        Some(_) => Ok(()),
    }
}

/// `jitter`: a `jitter` above zero.
fn check_jitter(f: &FaultSpec, field: &dyn Fn(&str) -> String) -> Result<(), FieldError> {
    if f.jitter.is_none_or(|j| j.is_zero()) {
        return Err(FieldError::new(
            field("jitter"),
            "a jitter fault needs `jitter` > 0, e.g. \"50ms\"",
        ));
    }
    Ok(())
}

/// `loss` and `duplicate`: a `probability` in [0, 1].
fn check_probability(
    kind: FaultKind,
    f: &FaultSpec,
    field: &dyn Fn(&str) -> String,
) -> Result<(), FieldError> {
    match f.probability {
        Some(p) if (0.0..=1.0).contains(&p) => Ok(()),
        _ => Err(FieldError::new(
            field("probability"),
            format!("a {} fault needs `probability` in [0, 1]", kind.name()),
        )),
    }
}

/// `saturate`: a `service_time_factor` > 0 and/or a `capacity_factor` in
/// (0, 1].
fn check_saturate(f: &FaultSpec, field: &dyn Fn(&str) -> String) -> Result<(), FieldError> {
    if f.service_time_factor.is_none() && f.capacity_factor.is_none() {
        return Err(FieldError::new(
            field("service_time_factor"),
            "a saturate fault needs `service_time_factor` (> 0, e.g. 4.0) and/or `capacity_factor` (in (0, 1])",
        ));
    }
    if let Some(x) = f.service_time_factor {
        if !(x.is_finite() && x > 0.0 && x <= SERVICE_TIME_FACTOR_MAX) {
            return Err(FieldError::new(
                field("service_time_factor"),
                format!("must be > 0 and at most {SERVICE_TIME_FACTOR_MAX} (limit SERVICE_TIME_FACTOR_MAX)"),
            ));
        }
    }
    if let Some(x) = f.capacity_factor {
        if !(x > 0.0 && x <= 1.0) {
            return Err(FieldError::new(
                field("capacity_factor"),
                "must be in (0, 1]",
            ));
        }
    }
    Ok(())
}

/// `rate_limit`: `per_s` >= 1 and a refusal `code` of 429 or 503.
fn check_rate_limit(f: &FaultSpec, field: &dyn Fn(&str) -> String) -> Result<(), FieldError> {
    if f.per_s.is_none_or(|n| n == 0) {
        return Err(FieldError::new(
            field("per_s"),
            "a rate_limit fault needs `per_s` >= 1 (requests accepted per second)",
        ));
    }
    check_code(f.code, field("code"))
}

/// A rate limit's refusal code, when given: 429 or 503.
fn check_code(code: Option<u16>, field: String) -> Result<(), FieldError> {
    match code {
        Some(code) if code != 429 && code != 503 => {
            Err(FieldError::new(field, "must be 429 or 503"))
        }
        _ => Ok(()),
    }
}

fn check_set(
    scenario: &PlanInputs<'_>,
    topology: &Topology,
    f: &FaultSpec,
    field: &dyn Fn(&str) -> String,
) -> Result<(), FieldError> {
    let node = f.node.as_deref().unwrap_or_default();
    let path = f.field.as_deref().ok_or_else(|| {
        FieldError::new(field("field"), "a set fault needs `field`, a dotted path")
    })?;
    let value = f
        .value
        .as_ref()
        .ok_or_else(|| FieldError::new(field("value"), "a set fault needs `value`"))?;
    let section = topology.host(node).map(|h| h.section).unwrap_or(node);
    let current = scenario
        .nodes
        .section_value(section)
        .ok_or_else(|| FieldError::new(field("node"), format!("{node:?} has no config section")))?;
    let edited =
        set_path(current, path, value.clone()).map_err(|m| FieldError::new(field("field"), m))?;
    NodesConfig::check_section_value(section, &edited, topology)
        .map_err(|e| FieldError::new(field("value"), format!("{}: {}", e.field, e.message)))
}

fn check_duration(
    duration: Option<DurationSpec>,
    inner: FaultKind,
    field: String,
) -> Result<(), FieldError> {
    match duration {
        None if inner.is_instant() => Ok(()),
        Some(_) if inner.is_instant() => Err(FieldError::new(
            field,
            format!("a {} happens at one instant; drop `duration`", inner.name()),
        )),
        None => Err(FieldError::new(
            field,
            "needs `duration`: \"2s\", or { uniform = [\"1s\", \"5s\"] }",
        )),
        Some(d) => {
            let (lo, hi) = d.bounds();
            if lo.is_zero() {
                Err(FieldError::new(field, "must be > 0"))
            } else if lo > hi {
                Err(FieldError::new(field, format!("{lo} is above {hi}")))
            } else {
                Ok(())
            }
        }
    }
}

/// `process`: the kind it repeats, its targets, a `rate_per_min` that
/// stays under [`OCCURRENCES_MAX`], occurrence durations, how occurrences
/// end, and the repeated kind's parameters.
fn check_process(
    scenario: &PlanInputs<'_>,
    topology: &Topology,
    f: &FaultSpec,
    field: &dyn Fn(&str) -> String,
) -> Result<(), FieldError> {
    let inner = f.fault.ok_or_else(|| {
        FieldError::new(
            field("fault"),
            "a process needs `fault`, the kind that recurs",
        )
    })?;
    if !inner.repeatable() {
        return Err(FieldError::new(
            field("fault"),
            format!("a process cannot repeat {} faults", inner.name()),
        ));
    }
    check_process_targets(topology, f, inner, field)?;
    let rate = f.rate_per_min.ok_or_else(|| {
        FieldError::new(field("rate_per_min"), "a process needs `rate_per_min` > 0")
    })?;
    if !(rate.is_finite() && rate > 0.0) {
        return Err(FieldError::new(field("rate_per_min"), "must be > 0"));
    }
    let end = f
        .until
        .or(scenario.fault_settings.heal)
        .unwrap_or(scenario.run.duration);
    // A missing `at` is refused later; judge the rate from the start.
    let at = if f.at == AT_UNSET {
        Dur::default()
    } else {
        f.at
    };
    check_expected(rate, at, end, field("rate_per_min"))?;
    check_duration(f.duration, inner, field("duration"))?;
    if f.ends_with.is_some() && inner.is_instant() {
        return Err(FieldError::new(
            field("ends_with"),
            format!(
                "a {} occurrence is instant: nothing lasts for an operator to end",
                inner.name()
            ),
        ));
    }
    if f.drain.is_some() && f.ends_with.is_none() {
        return Err(FieldError::new(
            field("drain"),
            "`drain` goes with `ends_with = \"operator_restart\"`: it is how the operator restarts",
        ));
    }
    check_params(inner, f, field)
}

/// A process's targets: `pairs` of known names when it repeats a link
/// kind, `targets` when it repeats a node kind, giving at least one target.
fn check_process_targets(
    topology: &Topology,
    f: &FaultSpec,
    inner: FaultKind,
    field: &dyn Fn(&str) -> String,
) -> Result<(), FieldError> {
    if inner.targets_link() {
        if f.targets.is_some() {
            return Err(FieldError::new(
                field("targets"),
                format!("{} is a link fault: give `pairs`", inner.name()),
            ));
        }
        let pairs = f.pairs.as_deref().ok_or_else(|| {
            FieldError::new(
                field("pairs"),
                format!(
                    "a process of {} needs `pairs = [[a, b], ...]`",
                    inner.name()
                ),
            )
        })?;
        for [a, b] in pairs {
            known_name(topology, a, field("pairs"))?;
            known_name(topology, b, field("pairs"))?;
        }
    } else {
        if f.pairs.is_some() {
            return Err(FieldError::new(
                field("pairs"),
                format!("{} is a node fault: give `targets`", inner.name()),
            ));
        }
        let targets = f.targets.as_deref().ok_or_else(|| {
            FieldError::new(
                field("targets"),
                format!("a process of {} needs `targets = [...]`", inner.name()),
            )
        })?;
        for name in targets {
            known_name(topology, name, field("targets"))?;
        }
    }
    let candidates = process::candidates(f, topology);
    if !inner.targets_link() {
        let hosts: Vec<String> = candidates.iter().flat_map(|c| c.hosts.clone()).collect();
        check_mode_of_kind(inner, f.mode, field("mode"))?;
        check_support(topology, inner, f.mode, &hosts, field("targets"))?;
    }
    if candidates.is_empty() {
        let key = if inner.targets_link() {
            "pairs"
        } else {
            "targets"
        };
        return Err(FieldError::new(
            field(key),
            "gives no target (no two different hosts)",
        ));
    }
    Ok(())
}

fn check_expected(rate_per_min: f64, at: Dur, end: Dur, field: String) -> Result<(), FieldError> {
    let window_min = end.as_millis().saturating_sub(at.as_millis()) as f64 / 60_000.0;
    let expected = rate_per_min * window_min;
    if expected > OCCURRENCES_MAX as f64 {
        return Err(FieldError::new(
            field,
            format!(
                "would give about {expected:.0} occurrences over the window; at most {OCCURRENCES_MAX}"
            ),
        ));
    }
    Ok(())
}

fn validate_buggify(scenario: &PlanInputs<'_>) -> Result<(), FieldError> {
    let Some(config) = &scenario.fault_settings.buggify else {
        return Ok(());
    };
    for (name, p) in [
        ("activate_probability", config.activate_probability),
        ("fire_probability", config.fire_probability),
    ] {
        if !(0.0..=1.0).contains(&p) {
            return Err(FieldError::new(
                format!("fault_settings.buggify.{name}"),
                "must be in [0, 1]",
            ));
        }
    }
    if let Some(sites) = &config.sites {
        let field = "fault_settings.buggify.sites";
        if sites.is_empty() {
            return Err(FieldError::new(
                field,
                "lists no site; drop it to allow every site",
            ));
        }
        let mut seen = BTreeSet::new();
        for site in sites {
            if !SITES.contains(&site.as_str()) {
                return Err(FieldError::new(
                    field,
                    format!(
                        "unknown fault point site {site:?}; known: {}",
                        SITES.join(", ")
                    ),
                ));
            }
            if !seen.insert(site) {
                return Err(FieldError::new(field, format!("{site:?} is listed twice")));
            }
        }
    }
    Ok(())
}

fn validate_swarm(scenario: &PlanInputs<'_>, topology: &Topology) -> Result<(), FieldError> {
    let Some(config) = &scenario.fault_settings.swarm else {
        return Ok(());
    };
    let prefix = "fault_settings.swarm";
    let duration = scenario.run.duration;
    let horizon = scenario.fault_settings.heal.unwrap_or(duration);
    if !(0.0..=1.0).contains(&config.kind_probability) {
        return Err(FieldError::new(
            format!("{prefix}.kind_probability"),
            "must be in [0, 1]",
        ));
    }
    if config.at >= horizon {
        return Err(FieldError::new(
            format!("{prefix}.at"),
            format!(
                "{} is not before {horizon} (the heal time, or the run's duration)",
                config.at
            ),
        ));
    }
    if let Some(until) = config.until {
        check_until(until, config.at, duration, format!("{prefix}.until"))?;
    }
    if config.kinds.is_empty() {
        return Err(FieldError::new(
            format!("{prefix}.kinds"),
            "lists no fault kind",
        ));
    }
    let end = config.until.unwrap_or(horizon).min(horizon);
    for (name, k) in &config.kinds {
        let field = |n: &str| format!("{prefix}.kinds.{name}.{n}");
        let repeatable: Vec<&str> = FaultKind::ALL
            .into_iter()
            .filter(|k| k.repeatable())
            .map(FaultKind::name)
            .collect();
        if super::swarm::kind_of(name) == Some(FaultKind::Set) {
            check_swarm_set(scenario, topology, k, &field)?;
            continue;
        }
        let kind = FaultKind::parse(name)
            .filter(|k| k.repeatable())
            .ok_or_else(|| {
                FieldError::new(
                    format!("{prefix}.kinds.{name}"),
                    format!(
                        "not a kind swarm mode can pick; it takes: {}, set (or set.<label>)",
                        repeatable.join(", ")
                    ),
                )
            })?;
        check_swarm_kind(kind, k, &field, topology, config.at, end)?;
    }
    Ok(())
}

/// A `set` swarm entry: one target, a `field`, and either a `choice` of
/// values or a `uniform` range of two of one type (integers, numbers or
/// durations); nothing else. Every value it can draw (each choice, both
/// ends of the range) must make a valid `set` fault on its target.
fn check_swarm_set(
    scenario: &PlanInputs<'_>,
    topology: &Topology,
    k: &SwarmKind,
    field: &dyn Fn(&str) -> String,
) -> Result<(), FieldError> {
    check_swarm_fields(FaultKind::Set, k, field)?;
    let node = match k.targets.as_deref() {
        Some([one]) => one.clone(),
        _ => {
            return Err(FieldError::new(
                field("targets"),
                "set in swarm mode needs exactly one target, e.g. [\"gateway\"]",
            ))
        }
    };
    known_name(topology, &node, field("targets"))?;
    if k.field.is_none() {
        return Err(FieldError::new(
            field("field"),
            "set in swarm mode needs `field`, a dotted path in the target's config",
        ));
    }
    let values: Vec<(toml::Value, String)> = match (&k.choice, &k.uniform) {
        (Some(choice), None) if !choice.is_empty() => choice
            .iter()
            .map(|v| (v.clone(), field("choice")))
            .collect(),
        (None, Some([lo, hi])) => {
            use toml::Value::{Float, Integer, String as Text};
            let ordered = match (lo, hi) {
                (Integer(a), Integer(b)) => a <= b,
                (Float(a), Float(b)) => a <= b,
                (Text(a), Text(b)) => match (Dur::parse(a), Dur::parse(b)) {
                    (Ok(a), Ok(b)) => a <= b,
                    _ => false,
                },
                _ => false,
            };
            if !ordered {
                return Err(FieldError::new(
                    field("uniform"),
                    "needs [low, high] of one type, low <= high: integers, numbers or durations (\"2s\")",
                ));
            }
            vec![
                (lo.clone(), field("uniform")),
                (hi.clone(), field("uniform")),
            ]
        }
        _ => {
            return Err(FieldError::new(
                field("choice"),
                "set in swarm mode needs either a non-empty `choice` or a `uniform` range",
            ))
        }
    };
    for (value, at) in values {
        let mut spec = FaultSpec::new(FaultKind::Set, Dur::ZERO);
        spec.node = Some(node.clone());
        spec.field = k.field.clone();
        spec.value = Some(value);
        check_set(scenario, topology, &spec, &|n: &str| {
            if n == "value" {
                at.clone()
            } else {
                field(n)
            }
        })?;
    }
    Ok(())
}

/// One kind of `[fault_settings.swarm.kinds]`: the fields it takes, its
/// targets, its ranges, the range it cannot do without, its code, and its
/// episodes (`rate_per_min` and `duration`) within the swarm's window.
fn check_swarm_kind(
    kind: FaultKind,
    k: &SwarmKind,
    field: &dyn Fn(&str) -> String,
    topology: &Topology,
    at: Dur,
    end: Dur,
) -> Result<(), FieldError> {
    check_swarm_fields(kind, k, field)?;
    check_mode_of_kind(kind, k.mode, field("mode"))?;
    check_swarm_targets(k, field, topology)?;
    if let Some(targets) = &k.targets {
        let hosts: Vec<String> = process::host_candidates(targets, topology)
            .into_iter()
            .flat_map(|c| c.hosts)
            .collect();
        check_support(topology, kind, k.mode, &hosts, field("targets"))?;
    } else if !kind.targets_link() && super::swarm::candidates(k, kind, topology).is_empty() {
        return Err(FieldError::new(
            field("targets"),
            format!(
                "no host in this scenario acts on {}; kinds that do: {}",
                kind.name(),
                crate::nodes::kinds_supporting(kind.name(), support_mode(kind, k.mode)).join(", ")
            ),
        ));
    }
    check_swarm_ranges(k, field)?;
    check_swarm_required(kind, k, field)?;
    check_code(k.code, field("code"))?;
    match k.rate_per_min {
        Some([_, hi]) => {
            check_expected(hi, at, end, field("rate_per_min"))?;
            check_duration(k.duration, kind, field("duration"))?;
        }
        None if k.duration.is_some() => {
            return Err(FieldError::new(
                field("duration"),
                "`duration` goes with `rate_per_min` (episodes); without it the kind holds over the whole window",
            ))
        }
        None => {}
    }
    Ok(())
}

/// No field a swarm kind does not take: its target form, its parameters,
/// `rate_per_min` and `duration` (for `set`: `targets`, `field`, and a
/// `choice` or `uniform`).
fn check_swarm_fields(
    kind: FaultKind,
    k: &SwarmKind,
    field: &dyn Fn(&str) -> String,
) -> Result<(), FieldError> {
    let present = [
        ("pairs", k.pairs.is_some()),
        ("targets", k.targets.is_some()),
        ("probability", k.probability.is_some()),
        ("latency", k.latency.is_some()),
        ("jitter", k.jitter.is_some()),
        ("mode", k.mode.is_some()),
        ("service_time_factor", k.service_time_factor.is_some()),
        ("capacity_factor", k.capacity_factor.is_some()),
        ("per_s", k.per_s.is_some()),
        ("code", k.code.is_some()),
        ("rate_per_min", k.rate_per_min.is_some()),
        ("duration", k.duration.is_some()),
        ("offset", k.offset.is_some()),
        ("drift_ppm", k.drift_ppm.is_some()),
        ("field", k.field.is_some()),
        ("choice", k.choice.is_some()),
        ("uniform", k.uniform.is_some()),
    ];
    let allowed: Vec<&str> = if kind == FaultKind::Set {
        // A config change drawn from a choice or a range, held over the
        // window: no episodes.
        vec!["targets", "field", "choice", "uniform"]
    } else {
        let mut allowed = vec![if kind.targets_link() {
            "pairs"
        } else {
            "targets"
        }];
        allowed.extend_from_slice(kind.params());
        allowed.extend_from_slice(&["rate_per_min", "duration"]);
        allowed
    };
    for (name, is) in present {
        if is && !allowed.contains(&name) {
            return Err(FieldError::new(
                field(name),
                format!(
                    "`{name}` does not apply to {} in swarm mode; it takes: {}",
                    kind.name(),
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// A swarm kind's `pairs` (known names, at least one link) or `targets`
/// (known names, at least one).
fn check_swarm_targets(
    k: &SwarmKind,
    field: &dyn Fn(&str) -> String,
    topology: &Topology,
) -> Result<(), FieldError> {
    if let Some(pairs) = &k.pairs {
        for [a, b] in pairs {
            known_name(topology, a, field("pairs"))?;
            known_name(topology, b, field("pairs"))?;
        }
        if process::link_candidates(pairs, topology).is_empty() {
            return Err(FieldError::new(
                field("pairs"),
                "gives no two different hosts",
            ));
        }
    }
    if let Some(targets) = &k.targets {
        for t in targets {
            known_name(topology, t, field("targets"))?;
        }
        if targets.is_empty() {
            return Err(FieldError::new(field("targets"), "lists no node"));
        }
    }
    Ok(())
}

/// Every `[low, high]` range a swarm kind gives: low <= high, and both
/// ends in the parameter's domain.
fn check_swarm_ranges(k: &SwarmKind, field: &dyn Fn(&str) -> String) -> Result<(), FieldError> {
    check_range(
        k.probability,
        field("probability"),
        |p| (0.0..=1.0).contains(&p),
        "in [0, 1]",
    )?;
    check_range(k.latency, field("latency"), |_| true, "durations")?;
    check_range(k.jitter, field("jitter"), |_| true, "durations")?;
    check_range(
        k.service_time_factor,
        field("service_time_factor"),
        |x| x.is_finite() && x > 0.0 && x <= SERVICE_TIME_FACTOR_MAX,
        "> 0 and at most SERVICE_TIME_FACTOR_MAX (1000)",
    )?;
    check_range(
        k.capacity_factor,
        field("capacity_factor"),
        |x| x > 0.0 && x <= 1.0,
        "in (0, 1]",
    )?;
    check_range(k.per_s, field("per_s"), |n| n >= 1, ">= 1")?;
    if let Some(range) = k.offset {
        for end in range {
            check_clock_offset(end, field("offset"))?;
        }
    }
    check_range(k.offset, field("offset"), |_| true, "signed durations")?;
    check_range(
        k.drift_ppm,
        field("drift_ppm"),
        |x| x.abs() <= CLOCK_DRIFT_PPM_MAX,
        "within CLOCK_DRIFT_PPM_MAX (500000) either way",
    )?;
    check_range(
        k.rate_per_min,
        field("rate_per_min"),
        |x| x.is_finite() && x > 0.0,
        "> 0",
    )
}

/// A `[low, high]` range, when given: low <= high and both ends `ok`
/// (`what` says what ok means).
fn check_range<T: PartialOrd + std::fmt::Display + Copy>(
    r: Option<[T; 2]>,
    field: String,
    ok: impl Fn(T) -> bool,
    what: &str,
) -> Result<(), FieldError> {
    if let Some([lo, hi]) = r {
        if lo > hi {
            return Err(FieldError::new(
                field,
                format!("low {lo} is above high {hi}"),
            ));
        }
        if !ok(lo) || !ok(hi) {
            return Err(FieldError::new(field, format!("both ends must be {what}")));
        }
    }
    Ok(())
}

/// The range a swarm kind cannot do without (a jitter range must reach
/// above zero; a saturation needs either factor).
fn check_swarm_required(
    kind: FaultKind,
    k: &SwarmKind,
    field: &dyn Fn(&str) -> String,
) -> Result<(), FieldError> {
    let required = match kind {
        FaultKind::Loss | FaultKind::Duplicate => Some(("probability", k.probability.is_some())),
        FaultKind::Latency => Some(("latency", k.latency.is_some())),
        FaultKind::Jitter => Some(("jitter", k.jitter.is_some_and(|[_, hi]| !hi.is_zero()))),
        FaultKind::Saturate => Some((
            "service_time_factor",
            k.service_time_factor.is_some() || k.capacity_factor.is_some(),
        )),
        FaultKind::RateLimit => Some(("per_s", k.per_s.is_some())),
        FaultKind::Clock => Some(("drift_ppm", k.drift_ppm.is_some() || k.offset.is_some())),
        _ => None,
    };
    if let Some((name, false)) = required {
        return Err(FieldError::new(
            field(name),
            format!(
                "{} in swarm mode needs a `{name}` range [low, high]",
                kind.name()
            ),
        ));
    }
    Ok(())
}

/// What an entry touches: directed host pairs and hosts.
type Footprint = (BTreeSet<(String, String)>, BTreeSet<String>);

/// Host-lifecycle events of an entry: (time, host, what).
fn lifecycle(f: &FaultSpec, topology: &Topology) -> Vec<(Dur, String, &'static str)> {
    let mut out = Vec::new();
    let hosts = resolve_hosts(f, topology);
    match (f.kind, f.action) {
        (FaultKind::Crash, _) => {
            for h in &hosts {
                out.push((f.at, h.clone(), "crash"));
                if let Some(until) = f.until {
                    out.push((until, h.clone(), "restart after a crash"));
                }
            }
        }
        (FaultKind::Restart, _) => {
            for h in &hosts {
                out.push((f.at, h.clone(), "restart"));
            }
        }
        (FaultKind::Operator, Some(OperatorAction::Restart)) => {
            for h in &hosts {
                out.push((f.at, h.clone(), "operator restart"));
            }
        }
        _ => {}
    }
    out
}

/// Contradictory entries, judged pairwise over `[[faults]]` (not over
/// process occurrences, which never overlap on one target within a
/// process, and compose with everything else):
/// - two faults of one kind on a common link or host starting at the same
///   instant (for `set`: the same or a nested field with different values);
/// - two host-lifecycle events (crash, restart after a crash, restart,
///   operator restart) on one host at the same instant;
/// - a restart of a host while a crash has it down.
pub fn contradictions(scenario: &PlanInputs<'_>, topology: &Topology) -> Result<(), FieldError> {
    let faults = &scenario.faults;
    let footprints: Vec<Footprint> = faults
        .iter()
        .map(|f| {
            (
                resolve_links(f, topology).into_iter().collect(),
                resolve_hosts(f, topology).into_iter().collect(),
            )
        })
        .collect();
    for j in 0..faults.len() {
        for i in 0..j {
            let (a, b) = (&faults[i], &faults[j]);
            same_kind_same_instant(i, a, &footprints[i], j, b, &footprints[j])?;
            lifecycle_same_instant(i, a, j, b, topology)?;
            for (crash, crash_ix, other, other_ix) in [(a, i, b, j), (b, j, a, i)] {
                restart_while_crashed(
                    crash,
                    crash_ix,
                    &footprints[crash_ix],
                    other,
                    other_ix,
                    topology,
                )?;
            }
        }
    }
    Ok(())
}

/// Entries `i` < `j` of one kind (not processes) on a common link or host
/// starting at the same instant; two `set`s clash only on the same or a
/// nested field with different values.
fn same_kind_same_instant(
    i: usize,
    a: &FaultSpec,
    (links_a, hosts_a): &Footprint,
    j: usize,
    b: &FaultSpec,
    (links_b, hosts_b): &Footprint,
) -> Result<(), FieldError> {
    if a.kind != b.kind || a.at != b.at || a.kind == FaultKind::Process {
        return Ok(());
    }
    let common: Vec<String> = links_a
        .intersection(links_b)
        .map(|(x, y)| format!("{x}->{y}"))
        .chain(hosts_a.intersection(hosts_b).cloned())
        .collect();
    if common.is_empty() {
        return Ok(());
    }
    if a.kind == FaultKind::Set {
        let (fa, fb) = (
            a.field.as_deref().unwrap_or(""),
            b.field.as_deref().unwrap_or(""),
        );
        let nested =
            fa == fb || fa.starts_with(&format!("{fb}.")) || fb.starts_with(&format!("{fa}."));
        if nested && a.value != b.value {
            return Err(FieldError::new(
                format!("faults[{j}].value"),
                format!(
                    "contradicts faults[{i}]: both set `{fb}` on {} at {} with different values",
                    common.join(", "),
                    b.at
                ),
            ));
        }
        return Ok(());
    }
    Err(FieldError::new(
        format!("faults[{j}].at"),
        format!(
            "contradicts faults[{i}]: two {} faults on {} start at the same instant {}; merge them or move one",
            b.kind.name(),
            common.join(", "),
            b.at
        ),
    ))
}

/// Two host-lifecycle events of entries `i` < `j` on one host at the same
/// instant.
fn lifecycle_same_instant(
    i: usize,
    a: &FaultSpec,
    j: usize,
    b: &FaultSpec,
    topology: &Topology,
) -> Result<(), FieldError> {
    for (ta, ha, wa) in lifecycle(a, topology) {
        for (tb, hb, wb) in lifecycle(b, topology) {
            if ta == tb && ha == hb {
                return Err(FieldError::new(
                    format!("faults[{j}].at"),
                    format!(
                        "contradicts faults[{i}] ({wa} of {ha}): {wb} of {hb} at the same instant {tb}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A restart (by `other`) of a host while `crash`, when it is one, has it
/// down.
fn restart_while_crashed(
    crash: &FaultSpec,
    crash_ix: usize,
    (_, crashed_hosts): &Footprint,
    other: &FaultSpec,
    other_ix: usize,
    topology: &Topology,
) -> Result<(), FieldError> {
    if crash.kind != FaultKind::Crash {
        return Ok(());
    }
    let end = crash.until.unwrap_or(Dur(std::time::Duration::MAX));
    for (t, h, what) in lifecycle(other, topology) {
        let is_restart = what == "restart" || what == "operator restart";
        if is_restart && t > crash.at && t < end && crashed_hosts.contains(&h) {
            return Err(FieldError::new(
                format!("faults[{other_ix}].at"),
                format!(
                    "contradicts faults[{crash_ix}]: {what} of {h} at {t} while that crash has it down{}",
                    crash.until.map(|u| format!(" (until {u})")).unwrap_or_default()
                ),
            ));
        }
    }
    Ok(())
}
