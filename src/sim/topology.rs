//! The [`Topology`]: the hosts of a run, in registration order.
//!
//! Host names are those of CONTRACTS.md: a node without pods is one host
//! named like its section (`gateway`); a node with `pods = N` is N hosts
//! numbered from 1 (`sip-1`, `sip-2`). A host's kind is the registry name of
//! its node kind, a plain string, so this layer knows no node kind.

/// The section a host name belongs to, by the naming above: `sip-2` is a
/// pod of `sip`; a name with no pod number is its own section.
pub fn section_of(host: &str) -> &str {
    match host.rsplit_once('-') {
        Some((section, n)) if is_pod_number(n) => section,
        _ => host,
    }
}

/// Whether `host` is `name`, or one of the pods of the section `name`.
pub fn in_endpoint(host: &str, name: &str) -> bool {
    host == name
        || host
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(is_pod_number)
}

fn is_pod_number(n: &str) -> bool {
    !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())
}

/// One host of the topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Host name, e.g. `sip-2`.
    pub name: String,
    /// The node kind's registry name (`sbc-edge`); see `nodes::registry`.
    pub kind: &'static str,
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
