//! The fault plan as data: `[[faults]]` entries ([`FaultSpec`]) and
//! `[fault_settings]` ([`FaultSettingsConfig`]: heal time, in-code fault
//! points, swarm mode).
//!
//! A `FaultSpec` is one flat struct for every kind, as the scenario file
//! writes it; which fields a kind takes is judged by `validate`, which
//! refuses the rest, so a typo such as `probability` on a partition is an
//! error with its line rather than a silently ignored field.

use crate::sim::control::{DnsFailure, GrayMode};
use crate::sim::{Dur, SignedDur};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What `at` reads as when a `[[faults]]` entry leaves it out; validation
/// refuses it, naming the entry's `at`.
pub const AT_UNSET: Dur = Dur(std::time::Duration::MAX);

fn at_unset() -> Dur {
    AT_UNSET
}

/// The fault kinds, by CONTRACTS.md's names.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Latency,
    Jitter,
    Loss,
    Duplicate,
    Partition,
    Hold,
    Crash,
    Restart,
    Gray,
    Saturate,
    RateLimit,
    Set,
    Deploy,
    Operator,
    Process,
    Clock,
    Dns,
}

impl FaultKind {
    pub const ALL: [FaultKind; 17] = [
        FaultKind::Latency,
        FaultKind::Jitter,
        FaultKind::Loss,
        FaultKind::Duplicate,
        FaultKind::Partition,
        FaultKind::Hold,
        FaultKind::Crash,
        FaultKind::Restart,
        FaultKind::Gray,
        FaultKind::Saturate,
        FaultKind::RateLimit,
        FaultKind::Set,
        FaultKind::Deploy,
        FaultKind::Operator,
        FaultKind::Process,
        FaultKind::Clock,
        FaultKind::Dns,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Latency => "latency",
            FaultKind::Jitter => "jitter",
            FaultKind::Loss => "loss",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Partition => "partition",
            FaultKind::Hold => "hold",
            FaultKind::Crash => "crash",
            FaultKind::Restart => "restart",
            FaultKind::Gray => "gray",
            FaultKind::Saturate => "saturate",
            FaultKind::RateLimit => "rate_limit",
            FaultKind::Set => "set",
            FaultKind::Deploy => "deploy",
            FaultKind::Operator => "operator",
            FaultKind::Process => "process",
            FaultKind::Clock => "clock",
            FaultKind::Dns => "dns",
        }
    }

    pub fn parse(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Kinds that act on a link (a pair of hosts) rather than a node.
    pub fn targets_link(self) -> bool {
        matches!(
            self,
            FaultKind::Latency
                | FaultKind::Jitter
                | FaultKind::Loss
                | FaultKind::Duplicate
                | FaultKind::Partition
                | FaultKind::Hold
        )
    }

    /// Kinds that happen at one instant and take no `until`.
    pub fn is_instant(self) -> bool {
        matches!(
            self,
            FaultKind::Restart | FaultKind::Deploy | FaultKind::Operator
        )
    }

    /// Kinds a `process` (and swarm mode) can repeat. Not `dns`: its
    /// `name` is not among the fields a process or swarm kind carries.
    pub fn repeatable(self) -> bool {
        !matches!(
            self,
            FaultKind::Set
                | FaultKind::Deploy
                | FaultKind::Operator
                | FaultKind::Process
                | FaultKind::Dns
        )
    }

    /// Link kinds that turmoil can only apply to both directions at once
    /// (its link latency and hold are per host pair, not per direction).
    pub fn both_ways_only(self) -> bool {
        matches!(self, FaultKind::Latency | FaultKind::Hold)
    }

    /// The parameter fields (besides the target and `at`/`until`) this
    /// kind takes.
    pub fn params(self) -> &'static [&'static str] {
        match self {
            FaultKind::Latency => &["latency"],
            FaultKind::Jitter => &["jitter"],
            FaultKind::Loss | FaultKind::Duplicate => &["probability"],
            FaultKind::Partition | FaultKind::Hold | FaultKind::Crash | FaultKind::Restart => &[],
            FaultKind::Gray => &["mode"],
            FaultKind::Saturate => &["service_time_factor", "capacity_factor"],
            FaultKind::RateLimit => &["per_s", "code"],
            FaultKind::Set => &["field", "value"],
            FaultKind::Clock => &["offset", "drift_ppm"],
            FaultKind::Dns => &["mode", "name"],
            FaultKind::Deploy => &["steps", "change", "target_env", "trigger", "reviewed"],
            FaultKind::Operator => &["action", "reviewed"],
            FaultKind::Process => &[
                "fault",
                "pairs",
                "targets",
                "rate_per_min",
                "duration",
                "ends_with",
                "drain",
            ],
        }
    }
}

/// Link latency: fixed, or drawn per message between `min` and `max`
/// (turmoil's seeded draw, which favours the low end along an
/// exponential curve).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum LatencySpec {
    Fixed(Dur),
    Range {
        /// The lowest one-way latency drawn.
        min: Dur,
        /// The highest one-way latency drawn.
        max: Dur,
    },
}

impl std::fmt::Display for LatencySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LatencySpec::Fixed(d) => write!(f, "{d}"),
            LatencySpec::Range { min, max } => write!(f, "{min}..{max}"),
        }
    }
}

/// A duration: fixed (`"2s"`) or drawn uniformly (`{ uniform = ["1s", "5s"] }`)
/// with the seeded RNG.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum DurationSpec {
    Fixed(Dur),
    Uniform {
        /// `[low, high]`: the duration is drawn uniformly between them.
        #[serde(deserialize_with = "crate::sim::pair::exact")]
        uniform: [Dur; 2],
    },
}

impl DurationSpec {
    /// The smallest and largest value it can take.
    pub fn bounds(&self) -> (Dur, Dur) {
        match *self {
            DurationSpec::Fixed(d) => (d, d),
            DurationSpec::Uniform { uniform: [a, b] } => (a, b),
        }
    }
}

impl std::fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DurationSpec::Fixed(d) => write!(f, "{d}"),
            DurationSpec::Uniform { uniform: [a, b] } => write!(f, "uniform({a}..{b})"),
        }
    }
}

/// A fault's `mode`. For `gray`, what breaks while health checks keep
/// passing (`work`, `media`, `black_hole`); for `dns`, how the name server
/// fails (`nxdomain`, `servfail`, `timeout`). Which node kinds act on
/// which (kind, mode) pair is the registry's support table; any other
/// pair is refused at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModeSpec {
    /// Requests are accepted and fail.
    Work,
    /// Calls connect but media goes silent.
    Media,
    /// Requests are accepted and never answered nor passed on (a black
    /// hole), while health checks still pass.
    BlackHole,
    /// `dns`: the name server answers NXDOMAIN (no such name).
    Nxdomain,
    /// `dns`: the name server answers SERVFAIL.
    Servfail,
    /// `dns`: the name server never answers.
    Timeout,
}

impl ModeSpec {
    pub fn name(self) -> &'static str {
        match self {
            ModeSpec::Work => "work",
            ModeSpec::Media => "media",
            ModeSpec::BlackHole => "black_hole",
            ModeSpec::Nxdomain => "nxdomain",
            ModeSpec::Servfail => "servfail",
            ModeSpec::Timeout => "timeout",
        }
    }

    /// The gray mode it names (`None` for a `dns` mode, which validation
    /// refuses on a `gray` fault).
    pub fn gray(self) -> Option<GrayMode> {
        match self {
            ModeSpec::Work => Some(GrayMode::Work),
            ModeSpec::Media => Some(GrayMode::Media),
            ModeSpec::BlackHole => Some(GrayMode::BlackHole),
            ModeSpec::Nxdomain | ModeSpec::Servfail | ModeSpec::Timeout => None,
        }
    }

    /// The name-server failure it names (`None` for a `gray` mode, which
    /// validation refuses on a `dns` fault).
    pub fn dns(self) -> Option<DnsFailure> {
        match self {
            ModeSpec::Nxdomain => Some(DnsFailure::NxDomain),
            ModeSpec::Servfail => Some(DnsFailure::ServFail),
            ModeSpec::Timeout => Some(DnsFailure::Timeout),
            ModeSpec::Work | ModeSpec::Media | ModeSpec::BlackHole => None,
        }
    }

    /// The modes of `kind`, as the fault support table names them.
    pub fn of_kind(kind: FaultKind) -> &'static [ModeSpec] {
        match kind {
            FaultKind::Gray => &[ModeSpec::Work, ModeSpec::Media, ModeSpec::BlackHole],
            FaultKind::Dns => &[ModeSpec::Nxdomain, ModeSpec::Servfail, ModeSpec::Timeout],
            _ => &[],
        }
    }
}

/// What started a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "FaultDeployTrigger")]
pub enum Trigger {
    Ci,
    Manual,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Ci => "ci",
            Trigger::Manual => "manual",
        }
    }
}

/// `operator`: an action by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperatorAction {
    /// Restart a pod (bounce: its software restarts with state loss).
    Restart,
    /// Revert the last deploy (a command to the deployer).
    Revert,
    /// Delete a resource by hand: its data plane closes
    /// (`NodeFaults.disabled`) until `recreate` or the heal time.
    Delete,
    /// Recreate a resource deleted by hand.
    Recreate,
}

impl OperatorAction {
    pub fn name(self) -> &'static str {
        match self {
            OperatorAction::Restart => "restart",
            OperatorAction::Revert => "revert",
            OperatorAction::Delete => "delete",
            OperatorAction::Recreate => "recreate",
        }
    }
}

/// One `[[faults]]` entry. Which fields a kind needs, and which it
/// refuses, is checked by `validate_plan`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// The fault kind (`latency`, `loss`, `partition`, `crash`, `set`,
    /// `deploy`, `process`, ..); which other fields it takes is
    /// [`FaultKind::params`]'s list.
    pub kind: FaultKind,
    /// When it starts. Required: a fault that silently started at 0 hid
    /// a forgotten `at`. Absent, it reads as [`AT_UNSET`], which
    /// validation refuses.
    #[serde(default = "at_unset")]
    pub at: Dur,
    /// When it is lifted; absent means it lasts to the heal time, or to the
    /// end of the run. Refused for instant kinds (restart, deploy, operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Dur>,
    /// A link, both directions: hosts or whole sections (`["sbc-edge",
    /// "sbc-inbound"]` covers every pod pair).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    pub between: Option<[String; 2]>,
    /// A link, one direction: from...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// ...to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// A node: a host (`sip-1`) or a whole section (`sip`). `deploy` and
    /// `operator` `revert` default to `deployer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `latency`: `"200ms"` (fixed) or `{ min = "50ms", max = "300ms" }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    /// `jitter`: extra per-datagram delay, drawn from [0, jitter] (UDP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Dur>,
    /// `loss` / `duplicate`: probability per datagram in [0, 1] (UDP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// `gray`: `work` (default), `media` or `black_hole`; `dns`:
    /// `servfail` (default), `nxdomain` or `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ModeSpec>,
    /// `dns`: the one name the name server fails (e.g. `"sip.platform"`);
    /// absent, every name. It must be a name of the `dns` node's
    /// `records`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `saturate`: multiplies every service time (> 0; 4.0 = four times
    /// slower).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_time_factor: Option<f64>,
    /// `saturate`: multiplies worker and queue capacity, in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_factor: Option<f64>,
    /// `rate_limit`: requests accepted per second (>= 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_s: Option<u32>,
    /// `rate_limit`: the refusal code, 429 (default) or 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// `set`: dotted field path inside the node's config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `set`: the new value, written as in the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::sim::schema::any_value")]
    pub value: Option<toml::Value>,
    /// `deploy`: the template steps the automation runs. Default: every
    /// step the deployer knows. Leaving one out is the LiveKit bug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<String>>,
    /// `deploy`: the change being deployed: new resource lists for the
    /// template steps named, e.g. `{ jsonnet = ["production/lb-1"] }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::sim::schema::any_table")]
    pub change: Option<toml::Table>,
    /// `deploy`: target environment. Default (the deployer's) `production`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_env: Option<String>,
    /// `deploy`: `ci` or `manual` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// `deploy`, `operator` revert: whether a person reviewed it. Default:
    /// the deployer's (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed: Option<bool>,
    /// `operator`: restart, revert, delete or recreate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<OperatorAction>,
    /// `process`: the kind that recurs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultKind>,
    /// `process` of a link kind: the candidate links, each both ways; the
    /// seed picks one host pair per occurrence.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option_list"
    )]
    pub pairs: Option<Vec<[String; 2]>>,
    /// `process` of a node kind: the candidate nodes; the seed picks one
    /// host per occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    /// `process`: mean occurrences per minute (a Poisson process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_min: Option<f64>,
    /// `process`: how long each occurrence lasts (not for `restart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationSpec>,
    /// `process`: what ends each occurrence besides its clock. With
    /// `operator_restart`, an operator restarts the occurrence's first host
    /// (of a pair, the one from the pair's first name) at the occurrence's
    /// end: the fault lasts until someone bounces the pod by hand, and
    /// `duration` is how long that takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_with: Option<ProcessEnd>,
    /// `process` with `ends_with = "operator_restart"`: the operator
    /// drains the host first, as a graceful pod deletion does: for this
    /// long before the restart it refuses new work with 503 (a rate limit
    /// of 0 per second), so calls in setup finish or go elsewhere. Default:
    /// none, a hard restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<Dur>,
    /// `clock`: a step of the host's clock at `at`, signed (`"-2s"`,
    /// `"+1500ms"`); at most an hour either way. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<SignedDur>,
    /// `clock`: how fast the host's clock runs, in parts per million
    /// (50000 = 5% fast, negative = slow); at most 500000 either way.
    /// Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_ppm: Option<i64>,
}

/// What ends a process occurrence (`ends_with`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcessEnd {
    /// An operator restarts the faulty host by hand.
    OperatorRestart,
}

impl ProcessEnd {
    pub fn name(self) -> &'static str {
        match self {
            ProcessEnd::OperatorRestart => "operator_restart",
        }
    }
}

impl FaultSpec {
    /// A fault of `kind` at `at` with every other field absent; fill in the
    /// target and parameters with struct update syntax.
    pub fn new(kind: FaultKind, at: Dur) -> FaultSpec {
        FaultSpec {
            kind,
            at,
            until: None,
            between: None,
            from: None,
            to: None,
            node: None,
            latency: None,
            jitter: None,
            probability: None,
            mode: None,
            name: None,
            service_time_factor: None,
            capacity_factor: None,
            per_s: None,
            code: None,
            field: None,
            value: None,
            steps: None,
            change: None,
            target_env: None,
            trigger: None,
            reviewed: None,
            action: None,
            fault: None,
            pairs: None,
            targets: None,
            rate_per_min: None,
            duration: None,
            ends_with: None,
            drain: None,
            offset: None,
            drift_ppm: None,
        }
    }

    /// The names of the target and parameter fields that are set (for
    /// refusing fields a kind does not take).
    pub fn present_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut add = |name: &'static str, present: bool| {
            if present {
                out.push(name)
            }
        };
        add("between", self.between.is_some());
        add("from", self.from.is_some());
        add("to", self.to.is_some());
        add("node", self.node.is_some());
        add("latency", self.latency.is_some());
        add("jitter", self.jitter.is_some());
        add("probability", self.probability.is_some());
        add("mode", self.mode.is_some());
        add("name", self.name.is_some());
        add("service_time_factor", self.service_time_factor.is_some());
        add("capacity_factor", self.capacity_factor.is_some());
        add("per_s", self.per_s.is_some());
        add("code", self.code.is_some());
        add("field", self.field.is_some());
        add("value", self.value.is_some());
        add("steps", self.steps.is_some());
        add("change", self.change.is_some());
        add("target_env", self.target_env.is_some());
        add("trigger", self.trigger.is_some());
        add("reviewed", self.reviewed.is_some());
        add("action", self.action.is_some());
        add("fault", self.fault.is_some());
        add("pairs", self.pairs.is_some());
        add("targets", self.targets.is_some());
        add("rate_per_min", self.rate_per_min.is_some());
        add("duration", self.duration.is_some());
        add("ends_with", self.ends_with.is_some());
        add("drain", self.drain.is_some());
        add("offset", self.offset.is_some());
        add("drift_ppm", self.drift_ppm.is_some());
        out
    }

    /// The fault's target as written (`a<->b`, `a->b`, a node, or the
    /// candidates of a process).
    pub fn target_text(&self) -> String {
        if let Some([a, b]) = &self.between {
            format!("{a}<->{b}")
        } else if let (Some(a), Some(b)) = (&self.from, &self.to) {
            format!("{a}->{b}")
        } else if let Some(pairs) = &self.pairs {
            pairs
                .iter()
                .map(|[a, b]| format!("{a}<->{b}"))
                .collect::<Vec<_>>()
                .join(",")
        } else if let Some(targets) = &self.targets {
            targets.join(",")
        } else if let Some(node) = &self.node {
            node.clone()
        } else if matches!(self.kind, FaultKind::Deploy | FaultKind::Operator) {
            super::command::DEPLOYER.to_string()
        } else {
            String::new()
        }
    }

    /// The kind-specific parameters as `name=value` words, in a fixed
    /// order (for reports and the SEED block).
    pub fn params_text(&self) -> String {
        fn shown<T: ToString>(value: &Option<T>) -> Option<String> {
            value.as_ref().map(ToString::to_string)
        }
        let words: [(&str, Option<String>); 24] = [
            ("fault", self.fault.map(|v| v.name().to_string())),
            ("latency", shown(&self.latency)),
            ("jitter", shown(&self.jitter)),
            ("probability", shown(&self.probability)),
            ("mode", self.mode.map(|v| v.name().to_string())),
            ("name", self.name.clone()),
            ("service_time_factor", shown(&self.service_time_factor)),
            ("capacity_factor", shown(&self.capacity_factor)),
            ("per_s", shown(&self.per_s)),
            ("code", shown(&self.code)),
            ("field", self.field.clone()),
            ("value", shown(&self.value)),
            (
                "steps",
                self.steps.as_ref().map(|v| format!("[{}]", v.join(","))),
            ),
            (
                "change",
                self.change
                    .clone()
                    .map(|v| toml::Value::Table(v).to_string()),
            ),
            ("target_env", self.target_env.clone()),
            ("trigger", self.trigger.map(|v| v.name().to_string())),
            ("reviewed", shown(&self.reviewed)),
            ("action", self.action.map(|v| v.name().to_string())),
            ("rate_per_min", shown(&self.rate_per_min)),
            ("duration", shown(&self.duration)),
            ("ends_with", self.ends_with.map(|v| v.name().to_string())),
            ("drain", shown(&self.drain)),
            ("offset", shown(&self.offset)),
            ("drift_ppm", shown(&self.drift_ppm)),
        ];
        let present: Vec<String> = words
            .into_iter()
            .filter_map(|(name, value)| Some(format!("{name}={}", value?)))
            .collect();
        present.join(" ")
    }

    /// One line for the SEED block and reports.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {} at={}", self.kind.name(), self.target_text(), self.at);
        if let Some(until) = self.until {
            let _ = write!(s, " until={until}");
        }
        let params = self.params_text();
        if !params.is_empty() {
            let _ = write!(s, " {params}");
        }
        s
    }
}

/// `[fault_settings]`: fault settings that are not a single fault.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSettingsConfig {
    /// After this sim time every fault is lifted (links repaired, crashed
    /// hosts restarted, node faults and config overrides cleared, in-code
    /// fault points switched off), and liveness oracles judge recovery.
    /// Default: never. No fault may start at or after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal: Option<Dur>,
    /// In-code fault points (BUGGIFY). Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buggify: Option<BuggifyConfig>,
    /// Swarm mode: the seed picks which fault kinds are on and how strong.
    /// Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<SwarmConfig>,
    /// How long after a state-losing fault (crash, restart, operator
    /// action) a call that reaches the host is still excused by every
    /// oracle (`oracles::excuse`). Default 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excuse_window: Option<Dur>,
}

/// `[fault_settings] buggify = { ... }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuggifyConfig {
    /// Default true (writing the table switches it on).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Chance that a site is active in a run, decided once per run from
    /// the seed and the site name. Default 0.25.
    #[serde(default = "default_activate")]
    pub activate_probability: f64,
    /// Chance that an active site fires each time it is reached.
    /// Default 0.1.
    #[serde(default = "default_fire")]
    pub fire_probability: f64,
    /// The sites that may be activated (names from
    /// `faults::buggify::SITES`). Default: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sites: Option<Vec<String>>,
}

fn default_true() -> bool {
    true
}
fn default_activate() -> f64 {
    0.25
}
fn default_fire() -> f64 {
    0.1
}

/// `[fault_settings.swarm]`: for each seed, each listed kind is on with
/// `kind_probability`, and its strength is drawn from its ranges.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwarmConfig {
    /// Chance that each listed kind is on in a run. Default 0.5.
    #[serde(default = "default_half")]
    pub kind_probability: f64,
    /// Start of the window the swarm faults act in. Default 0s.
    #[serde(default)]
    pub at: Dur,
    /// End of the window. Default: the heal time, else the end of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Dur>,
    /// The kinds, by name, with their ranges.
    pub kinds: BTreeMap<String, SwarmKind>,
}

fn default_half() -> f64 {
    0.5
}

/// One kind in swarm mode. Ranges are `[low, high]`, drawn uniformly.
/// With `rate_per_min` the kind recurs as a `process` (episodes of
/// `duration` on one target at a time); without it, it holds steadily over
/// the window on all its targets.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwarmKind {
    /// Link kinds: the links, each both ways. Default: every host pair.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option_list"
    )]
    pub pairs: Option<Vec<[String; 2]>>,
    /// Node kinds: the nodes. Default: every host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    /// `loss` / `duplicate`: the range the probability per datagram is drawn from.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    pub probability: Option<[f64; 2]>,
    /// `latency`: the range the fixed one-way latency is drawn from.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    pub latency: Option<[Dur; 2]>,
    /// `jitter`: the range the jitter bound is drawn from.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    pub jitter: Option<[Dur; 2]>,
    /// `gray` / `dns`: the mode, as a fault's `mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ModeSpec>,
    /// `saturate`: the range the service time factor is drawn from.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    pub service_time_factor: Option<[f64; 2]>,
    /// `saturate`: the range the capacity factor is drawn from.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    pub capacity_factor: Option<[f64; 2]>,
    /// `rate_limit`: the range the allowed requests per second is drawn from.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    pub per_s: Option<[u32; 2]>,
    /// `rate_limit`: the refusal code, as a fault's `code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The range the episode rate is drawn from; with it the kind recurs
    /// as a `process` (one target at a time), without it it holds
    /// steadily over the window.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    pub rate_per_min: Option<[f64; 2]>,
    /// With `rate_per_min`: how long each episode lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationSpec>,
    /// `clock`: the offset range, e.g. `["-5s", "5s"]`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    pub offset: Option<[SignedDur; 2]>,
    /// `clock`: the drift range in parts per million, e.g. `[-50000, 50000]`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    pub drift_ppm: Option<[i64; 2]>,
    /// `set`: the dotted path in the target's config, as a `set` fault's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `set`: the values to pick one of, each equally likely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::sim::schema::any_list")]
    pub choice: Option<Vec<toml::Value>>,
    /// `set`: a range `[low, high]` to draw the value from: integers,
    /// numbers (to 3 decimals) or durations (to the millisecond).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::sim::pair::option"
    )]
    #[schemars(schema_with = "crate::sim::schema::any_pair")]
    pub uniform: Option<[toml::Value; 2]>,
}
