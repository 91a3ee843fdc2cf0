//! `[nodes.<name>]`: which nodes a scenario runs, their config, and the
//! host names (the [`Topology`]) that follow from it.
//!
//! Host names are those of CONTRACTS.md: a node without pods is one host
//! named like its section (`gateway`); a node with `pods = N` is N hosts
//! numbered from 1 (`sip-1`, `sip-2`). The order of [`Topology::hosts`] is
//! fixed (the order of the fields below, then pod number), so host
//! registration, and with it the run, never depends on map order.

use super::FieldError;
use crate::nodes;
use serde::{Deserialize, Serialize};

/// The kinds of node callsim knows how to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// Harness self-test: sends datagrams to `echo` and counts the replies.
    Pinger,
    /// Harness self-test: echoes every datagram back.
    Echo,
    /// The public API (`CreateSIPParticipant`) and inbound dispatch.
    Gateway,
    /// The internal RPC broker in front of the SIP service.
    Bus,
    /// The customer's application: places and answers calls.
    Agent,
    /// The SIP service: a B2BUA between the platform and the carrier.
    Sip,
    /// The PSTN or trunk: callees and inbound callers.
    Carrier,
    /// Deployment automation: renders, diffs and applies resources.
    Deployer,
    /// SIP load balancer for inbound calls (a deployable resource).
    Lb,
    /// Caching proxy for Play/Say audio, with a telemetry client.
    Media,
    /// Where the media proxies download audio from.
    Origin,
    /// Telemetry collector of the media proxies.
    Telemetry,
}

/// One host of the topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Host name, e.g. `sip-2`.
    pub name: String,
    pub kind: NodeKind,
    /// Pod number from 1, for nodes with pods; 0 for single hosts.
    pub pod: u32,
    /// The `[nodes.<section>]` the host's config comes from.
    pub section: &'static str,
}

/// The hosts of a scenario, in registration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    pub hosts: Vec<HostSpec>,
}

impl Topology {
    pub fn contains(&self, name: &str) -> bool {
        self.hosts.iter().any(|h| h.name == name)
    }

    pub fn host(&self, name: &str) -> Option<&HostSpec> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Host names of one section (`sip` gives `sip-1`, `sip-2`, ...).
    pub fn hosts_of(&self, section: &str) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|h| h.section == section)
            .map(|h| h.name.clone())
            .collect()
    }

    /// Whether `name` is a host or a section name (a fault may target a
    /// whole section, e.g. `sip` for every SIP pod).
    pub fn resolves(&self, name: &str) -> bool {
        self.contains(name) || self.hosts.iter().any(|h| h.section == name)
    }

    /// Expands a host or section name to host names.
    pub fn expand(&self, name: &str) -> Vec<String> {
        if self.contains(name) {
            vec![name.to_string()]
        } else {
            self.hosts_of(name)
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.hosts.iter().map(|h| h.name.as_str()).collect()
    }
}

/// Every `[nodes.<name>]` section a scenario may have. A section that is
/// absent means that node does not run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodesConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinger: Option<nodes::harness::PingerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<nodes::harness::EchoConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<nodes::gateway::GatewayConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<nodes::bus::BusConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<nodes::agent::AgentConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip: Option<nodes::sip::SipConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<nodes::carrier::CarrierConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployer: Option<nodes::deployer::DeployerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb: Option<nodes::lb::LbConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<nodes::media::MediaConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<nodes::origin::OriginConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<nodes::telemetry::TelemetryConfig>,
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
    /// Each configured section: (section name, kind, pods, config as TOML).
    /// The one list of sections; topology, validation and control handles
    /// are all derived from it.
    pub fn sections(&self) -> Vec<Section<'_>> {
        let mut out = Vec::new();
        push(&mut out, "pinger", NodeKind::Pinger, &self.pinger);
        push(&mut out, "echo", NodeKind::Echo, &self.echo);
        push(&mut out, "gateway", NodeKind::Gateway, &self.gateway);
        push(&mut out, "bus", NodeKind::Bus, &self.bus);
        push(&mut out, "agent", NodeKind::Agent, &self.agent);
        push(&mut out, "sip", NodeKind::Sip, &self.sip);
        push(&mut out, "carrier", NodeKind::Carrier, &self.carrier);
        push(&mut out, "deployer", NodeKind::Deployer, &self.deployer);
        push(&mut out, "lb", NodeKind::Lb, &self.lb);
        push(&mut out, "media", NodeKind::Media, &self.media);
        push(&mut out, "origin", NodeKind::Origin, &self.origin);
        push(&mut out, "telemetry", NodeKind::Telemetry, &self.telemetry);
        out
    }

    pub fn topology(&self) -> Topology {
        let mut hosts = Vec::new();
        for section in self.sections() {
            match section.pods {
                None => hosts.push(HostSpec {
                    name: section.name.to_string(),
                    kind: section.kind,
                    pod: 0,
                    section: section.name,
                }),
                Some(n) => {
                    for pod in 1..=n {
                        hosts.push(HostSpec {
                            name: format!("{}-{pod}", section.name),
                            kind: section.kind,
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
        for section in &sections {
            (section.validate)(topology)?;
        }
        Ok(())
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

type SectionValidator<'a> = Box<dyn Fn(&Topology) -> Result<(), FieldError> + 'a>;

/// One configured `[nodes.<name>]` section.
pub struct Section<'a> {
    pub name: &'static str,
    pub kind: NodeKind,
    pub pods: Option<u32>,
    pub value: toml::Value,
    validate: SectionValidator<'a>,
}

fn push<'a, T: NodeConfig>(
    out: &mut Vec<Section<'a>>,
    name: &'static str,
    kind: NodeKind,
    config: &'a Option<T>,
) {
    if let Some(config) = config {
        out.push(Section {
            name,
            kind,
            pods: config.pods(),
            value: toml::Value::try_from(config).expect("node configs serialise to TOML"),
            validate: Box::new(move |topology| config.validate(&format!("nodes.{name}"), topology)),
        });
    }
}
