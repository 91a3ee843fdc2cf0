//! The node registry: every node kind, one line each, and what the
//! scenario and the test-bed derive from it.
//!
//! A node kind is one module plus one line in [`node_kinds!`]'s invocation
//! below: the module defines a unit type implementing [`NodeKind`] (its
//! config type with validation and docs, the faults it honours, its `run`),
//! and the line gives the kind's name, which is also its `[nodes.<name>]`
//! section and its hosts' prefix. From that one list come the typed
//! [`NodesConfig`] (serde, `deny_unknown_fields`), the sections in
//! host-registration order (so the run never depends on map order), the
//! [`Topology`], the fault support table ([`KINDS`]) that validation, docs
//! and `callsim kinds` read, and [`run`], which starts a host's software.

use super::*;
use crate::sim::{FieldError, HostSpec, NodeCtx, Topology};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// What one node kind provides. Implemented by a unit type in the kind's
/// module; listed once in the registry.
pub trait NodeKind {
    /// One line about the kind, for `callsim kinds` and the docs.
    const ABOUT: &'static str;
    /// Its `[nodes.<name>]` config: typed, validated, documented.
    type Config: NodeConfig + std::fmt::Debug + PartialEq;
    /// The node-level faults it honours besides those every host suffers
    /// ([`HOST_FAULTS`]); see [`FaultSupport`].
    const FAULTS: &'static [FaultSupport];
    /// Whether the deployer manages hosts of this kind as resources (they
    /// serve an admin port and can be created and deleted).
    const DEPLOYABLE: bool = false;
    /// Runs the software of one host of this kind until the simulation ends.
    fn run(ctx: NodeCtx) -> impl Future<Output = turmoil::Result>;
}

/// One row of a kind's fault support table: a fault kind (by its
/// `[[faults]]` name) that the node acts on, with the modes it honours
/// (empty for kinds without modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultSupport {
    pub fault: &'static str,
    pub modes: &'static [&'static str],
}

impl FaultSupport {
    pub const fn new(fault: &'static str, modes: &'static [&'static str]) -> FaultSupport {
        FaultSupport { fault, modes }
    }
}

/// Faults every host suffers whatever its kind: they act on turmoil's
/// links and hosts, or on the config every node reads (`set`).
pub const HOST_FAULTS: &[&str] = &[
    "latency",
    "jitter",
    "loss",
    "duplicate",
    "partition",
    "hold",
    "crash",
    "restart",
    "set",
];

/// What the registry knows of one kind, as data.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    /// The kind's name: its section and its hosts' prefix.
    pub name: &'static str,
    pub about: &'static str,
    pub faults: &'static [FaultSupport],
    pub deployable: bool,
}

impl KindInfo {
    const fn of<K: NodeKind>(name: &'static str) -> KindInfo {
        KindInfo {
            name,
            about: K::ABOUT,
            faults: K::FAULTS,
            deployable: K::DEPLOYABLE,
        }
    }

    /// Whether hosts of this kind act on `fault` in `mode` (`None` for a
    /// fault without modes).
    pub fn supports(&self, fault: &str, mode: Option<&str>) -> bool {
        if HOST_FAULTS.contains(&fault) {
            return true;
        }
        self.faults
            .iter()
            .any(|s| s.fault == fault && mode.is_none_or(|m| s.modes.contains(&m)))
    }
}

/// The registry entry of the kind named `name`.
pub fn kind(name: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.name == name)
}

/// The kinds whose hosts act on `fault` in `mode`, in registration order
/// (what a refusal names as the pairs that are supported).
pub fn kinds_supporting(fault: &str, mode: Option<&str>) -> Vec<&'static str> {
    KINDS
        .iter()
        .filter(|k| k.supports(fault, mode))
        .map(|k| k.name)
        .collect()
}

impl KindInfo {
    /// The node-level faults of this kind as text: `gray(work|media),
    /// saturate`, or `-` when it has none beyond [`HOST_FAULTS`].
    pub fn faults_text(&self) -> String {
        if self.faults.is_empty() {
            return "-".to_string();
        }
        self.faults
            .iter()
            .map(|f| {
                if f.modes.is_empty() {
                    f.fault.to_string()
                } else {
                    format!("{}({})", f.fault, f.modes.join("|"))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Declares the node kinds: `field: "name" => Type`, in host-registration
/// order. Generates [`NodesConfig`], its `sections`, [`KINDS`] and [`run`].
macro_rules! node_kinds {
    ($($field:ident: $name:literal => $kind:ty),* $(,)?) => {
        /// Every `[nodes.<name>]` section a scenario may have. A section
        /// that is absent means that node does not run.
        #[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct NodesConfig {
            $(
                #[serde(default, rename = $name, skip_serializing_if = "Option::is_none")]
                #[schemars(description = <$kind as NodeKind>::ABOUT)]
                pub $field: Option<<$kind as NodeKind>::Config>,
            )*
        }

        impl NodesConfig {
            /// Each configured section, in registration order: the one list
            /// that topology, validation and control handles derive from.
            pub fn sections(&self) -> Vec<Section<'_>> {
                let mut out = Vec::new();
                $(push(&mut out, $name, &self.$field);)*
                out
            }
        }

        /// Every node kind, in registration order.
        pub const KINDS: &[KindInfo] = &[$(KindInfo::of::<$kind>($name)),*];

        /// Runs the software of one host until the simulation ends.
        pub async fn run(ctx: NodeCtx) -> turmoil::Result {
            match ctx.kind {
                $($name => <$kind as NodeKind>::run(ctx).await,)*
                other => panic!("host {} has kind {other:?}, which is not in the registry", ctx.name),
            }
        }
    };
}

node_kinds! {
    pinger: "pinger" => harness::PingerKind,
    echo: "echo" => harness::EchoKind,
    gateway: "gateway" => gateway::GatewayKind,
    bus: "bus" => bus::BusKind,
    agent: "agent" => agent::AgentKind,
    sip: "sip" => sip::SipKind,
    carrier: "carrier" => carrier::CarrierKind,
    deployer: "deployer" => deployer::DeployerKind,
    lb: "lb" => lb::LbKind,
    sbc_edge: "sbc-edge" => sbc::SbcEdgeKind,
    sbc_inbound: "sbc-inbound" => sbc::SbcInboundKind,
    media: "media" => media::MediaKind,
    origin: "origin" => origin::OriginKind,
    telemetry: "telemetry" => telemetry::TelemetryKind,
    api_edge: "api-edge" => edge::EdgeKind,
    autoscaler: "autoscaler" => autoscaler::AutoscalerKind,
    dns: "dns" => dns::DnsKind,
    dispatcher: "dispatcher" => dispatcher::DispatcherKind,
    call_worker: "call-worker" => call_worker::CallWorkerKind,
    dependency: "dependency" => dependency::DependencyKind,
}

/// What every node config provides to the scenario.
pub trait NodeConfig: Serialize + for<'de> Deserialize<'de> + Clone + 'static {
    /// Checks field values; `prefix` is the section path, e.g.
    /// `nodes.gateway`, and goes in front of every field named in an error.
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError>;

    /// Number of pods (hosts) this node runs as; `None` for a single host
    /// named after the section.
    fn pods(&self) -> Option<u32> {
        None
    }
}

impl NodesConfig {
    /// Each configured section's config as TOML, by section name (what the
    /// hosts' control handles start from and what `set` faults edit).
    pub fn section_values(&self) -> std::collections::BTreeMap<&'static str, toml::Value> {
        self.sections()
            .into_iter()
            .map(|s| (s.name, s.value))
            .collect()
    }

    pub fn topology(&self) -> Topology {
        let mut hosts = Vec::new();
        for section in self.sections() {
            match section.pods {
                None => hosts.push(HostSpec {
                    name: section.name.to_string(),
                    kind: section.name,
                    pod: 0,
                    section: section.name,
                }),
                Some(n) => {
                    for pod in 1..=n {
                        hosts.push(HostSpec {
                            name: format!("{}-{pod}", section.name),
                            kind: section.name,
                            pod,
                            section: section.name,
                        })
                    }
                }
            }
        }
        Topology { hosts }
    }

    pub fn validate(&self, topology: &Topology) -> Result<(), FieldError> {
        let sections = self.sections();
        // Pod counts first: other sections' references are judged against
        // the topology those counts make.
        for section in &sections {
            if section.pods == Some(0) {
                return Err(FieldError::new(
                    format!("nodes.{}.pods", section.name),
                    "must be >= 1",
                ));
            }
        }
        // Every section is judged, so that all the nodes a config names and
        // the scenario lacks are reported at once, not one per attempt.
        // A section stops at its first error, so a missing node is added
        // to a scratch topology and the section judged again, until it
        // names no other missing node.
        let mut first: Option<FieldError> = None;
        let mut missing: Vec<String> = Vec::new();
        let mut scratch = topology.clone();
        for section in &sections {
            for _ in 0..MISSING_NODES_MAX {
                let Err(e) = (section.validate)(&scratch) else {
                    break;
                };
                let name = crate::sim::check::unknown_node_named(&e.message).map(str::to_string);
                if first.is_none() {
                    first = Some(e.clone());
                }
                let Some(name) = name else { break };
                missing.push(format!("{name} ({})", e.field));
                scratch.hosts.push(HostSpec {
                    name,
                    kind: "",
                    pod: 0,
                    section: "",
                });
            }
        }
        match first {
            None => Ok(()),
            Some(mut e)
                if missing.len() > 1
                    && crate::sim::check::unknown_node_named(&e.message).is_some() =>
            {
                e.message = format!(
                    "{}; every node the configs name and the scenario lacks: {}",
                    e.message,
                    missing.join(", ")
                );
                Err(e)
            }
            Some(e) => Err(e),
        }
    }

    /// The config of one section as a TOML value (what a host's control
    /// handle carries, and what a `set` fault edits).
    pub fn section_value(&self, name: &str) -> Option<toml::Value> {
        self.sections()
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| s.value)
    }

    /// Checks that `value` is a valid config for section `name` (used by
    /// run-time config overrides before they reach a node).
    pub fn check_section_value(
        name: &str,
        value: &toml::Value,
        topology: &Topology,
    ) -> Result<(), FieldError> {
        let mut table = toml::Table::new();
        table.insert(name.to_string(), value.clone());
        let only: NodesConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| FieldError::new(format!("nodes.{name}"), e.message()))?;
        for section in only.sections() {
            (section.validate)(topology)?;
        }
        Ok(())
    }
}

/// One node a kind's config names by default: the section's `field`
/// names `node`, which must then be in the scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The field path, e.g. `nodes.gateway.bus`.
    pub field: String,
    /// The host or section it names, e.g. `bus`.
    pub node: String,
}

/// The nodes a `[nodes.<name>]` section with every field at its default
/// names, read from the section's own validation (as
/// [`NodesConfig::validate`] collects the missing nodes of a scenario): the
/// section is judged alone, and each node an error says is unknown is
/// recorded and added, until it passes. Empty for a kind whose defaults
/// name no other node, and for a kind with a required field (it has no
/// config made of defaults alone).
pub fn default_needs(name: &str) -> Vec<Need> {
    let mut table = toml::Table::new();
    table.insert(name.to_string(), toml::Value::Table(toml::Table::new()));
    let Ok(only) = toml::Value::Table(table).try_into::<NodesConfig>() else {
        return Vec::new();
    };
    let mut topology = only.topology();
    let mut out = Vec::new();
    for section in only.sections() {
        for _ in 0..MISSING_NODES_MAX {
            let Err(e) = (section.validate)(&topology) else {
                break;
            };
            let Some(node) = crate::sim::check::unknown_node_named(&e.message) else {
                break;
            };
            out.push(Need {
                field: e.field.clone(),
                node: node.to_string(),
            });
            topology.hosts.push(HostSpec {
                name: node.to_string(),
                kind: "",
                pod: 0,
                section: "",
            });
        }
    }
    out
}

/// Most missing nodes one section is judged again for.
const MISSING_NODES_MAX: usize = 32;

type SectionValidator<'a> = Box<dyn Fn(&Topology) -> Result<(), FieldError> + 'a>;

/// One configured `[nodes.<name>]` section (its name is its node kind's).
pub struct Section<'a> {
    pub name: &'static str,
    pub pods: Option<u32>,
    pub value: toml::Value,
    validate: SectionValidator<'a>,
}

fn push<'a, T: NodeConfig>(out: &mut Vec<Section<'a>>, name: &'static str, config: &'a Option<T>) {
    if let Some(config) = config {
        out.push(Section {
            name,
            pods: config.pods(),
            value: toml::Value::try_from(config).expect("node configs serialise to TOML"),
            validate: Box::new(move |topology| config.validate(&format!("nodes.{name}"), topology)),
        });
    }
}
