//! The name server (host `dns`) and name resolution for the nodes that
//! are configured with a name instead of a host.
//!
//! Opt-in: `[nodes.dns] records = { "sip.platform" = ["lb-1", "lb-2"] }`
//! runs one host that answers queries ([`protocol`]) over UDP port 53
//! from its `records` (names to hosts or sections, expanded to hosts at
//! answer time), with `ttl` on positive answers and `negative_ttl` (the
//! zone's SOA minimum, RFC 2308) on NXDOMAIN. Records are config, so a
//! `set` fault replaces them for a window (`{ kind = "set", node = "dns",
//! field = "records", value = { .. } }`).
//!
//! A node field that names a target (a host, a section, or a name) holds a
//! name when the value has a dot in it (`sip.platform`): host and section
//! names never do. Such a node resolves the name through its
//! [`resolver::Resolver`] at setup time (per new call or connection), with
//! the client-side cache of [`cache`]. The fields that take names:
//! `[nodes.carrier] inbound_entry` (the platform's entry point, per
//! inbound call), `[nodes.gateway] bus` (the SIP service's RPC address,
//! per dial) and `[nodes.agent] gateway` (the API address, per API
//! request); each such node takes `resolver = { .. }`.
//!
//! The `dns` fault (`{ kind = "dns", node = "dns", mode = "nxdomain" |
//! "servfail" | "timeout", name = "sip.platform", at, until }`) makes the
//! server answer NXDOMAIN (with its negative TTL), SERVFAIL (TTL 0), or
//! nothing, for one name or (without `name`) every name.
//!
//! # Layout
//! - `protocol`: the query and answer datagrams.
//! - `cache`: the resolver's positive and negative cache (no I/O).
//! - `resolver`: the client: cache, queries, timeouts, `dns.*` events.

pub mod cache;
pub mod protocol;
pub mod resolver;

use crate::net::UdpEndpoint;
use crate::nodes::{ports, FaultSupport, NodeConfig};
use crate::sim::control::{DnsFailure, DnsFault};
use crate::sim::{check, Dur, FieldError, NodeCtx, Topology};
use cache::Outcome;
use protocol::{decode, encode, Answer, Query, Rcode, DATAGRAM_MAX};
use resolver::{Resolver, ResolverConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most names in `records`.
pub const RECORDS_MAX: usize = 1024;
/// Most hosts or sections per name.
pub const HOSTS_PER_NAME_MAX: usize = 64;
/// Longest name.
pub const NAME_LEN_MAX: usize = 253;
/// Longest TTL the server may be configured with: a day.
pub const TTL_MAX: Dur = Dur(std::time::Duration::from_secs(86_400));

/// `[nodes.dns]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Names to the hosts (or sections, every pod of one) they resolve
    /// to, in answer order. A name not listed gets NXDOMAIN. Default:
    /// none.
    #[serde(default)]
    pub records: BTreeMap<String, Vec<String>>,
    /// TTL of a positive answer (0: not to be cached). Default 30s.
    #[serde(default = "default_ttl")]
    pub ttl: Dur,
    /// TTL of an NXDOMAIN answer, the zone's negative TTL (RFC 2308).
    /// Default 30s.
    #[serde(default = "default_ttl")]
    pub negative_ttl: Dur,
}

fn default_ttl() -> Dur {
    Dur::from_secs(30)
}

impl NodeConfig for DnsConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        if self.records.len() > RECORDS_MAX {
            return Err(FieldError::new(
                check::field(prefix, "records"),
                format!("{} names; at most {RECORDS_MAX}", self.records.len()),
            ));
        }
        for (name, hosts) in &self.records {
            let field = format!("{prefix}.records.{name:?}");
            check_name(name).map_err(|m| FieldError::new(field.clone(), m))?;
            if hosts.is_empty() || hosts.len() > HOSTS_PER_NAME_MAX {
                return Err(FieldError::new(
                    field,
                    format!(
                        "needs 1 to {HOSTS_PER_NAME_MAX} hosts or sections (leave the name out for NXDOMAIN)"
                    ),
                ));
            }
            for (i, host) in hosts.iter().enumerate() {
                if !topology.resolves(host) {
                    return Err(check::unknown_node(format!("{field}[{i}]"), host, topology));
                }
            }
        }
        for (name, value) in [("ttl", self.ttl), ("negative_ttl", self.negative_ttl)] {
            if value > TTL_MAX {
                return Err(FieldError::new(
                    check::field(prefix, name),
                    format!("{value}; at most {TTL_MAX}"),
                ));
            }
        }
        Ok(())
    }
}

/// Whether a target as written (a host, a section or a name) is a name.
pub fn is_name(target: &str) -> bool {
    target.contains('.')
}

/// A name as the records and the `dns` fault write it: dot-separated
/// labels of letters, digits and hyphens (RFC 1035 section 2.3.1), at
/// least two, none empty or starting or ending with a hyphen.
pub fn check_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "{name:?} is not a name ({why}), e.g. \"sip.platform\""
        ))
    };
    if name.len() > NAME_LEN_MAX {
        return bad(&format!("longer than {NAME_LEN_MAX} characters"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return bad("a name has at least two labels");
    }
    for label in labels {
        if label.is_empty() || label.len() > 63 {
            return bad("each label has 1 to 63 characters");
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return bad("labels take letters, digits and hyphens");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label neither starts nor ends with a hyphen");
        }
    }
    Ok(())
}

/// Checks a node field that names a target: a known host or section, or a
/// name (see [`is_name`]), which needs the node's resolver to name a
/// server the scenario has.
pub fn check_target(
    prefix: &str,
    field: &str,
    value: &str,
    resolver: Option<&ResolverConfig>,
    topology: &Topology,
) -> Result<(), FieldError> {
    if !is_name(value) {
        return check::known_node(prefix, field, value, topology);
    }
    check_name(value).map_err(|m| FieldError::new(check::field(prefix, field), m))?;
    let server = resolver.map_or_else(|| ResolverConfig::default().server, |r| r.server.clone());
    if !topology.contains(&server) {
        return Err(FieldError::new(
            check::field(prefix, field),
            format!(
                "{value:?} is a name, and this scenario has no name server `{server}` to resolve it; add [nodes.dns] with records, or name a host"
            ),
        ));
    }
    Ok(())
}

/// The hosts a target stands for at this moment: a host or section as the
/// topology expands it, or a name as the resolver answers it (for `call`'s
/// setup). A name that resolves to nothing is the failed [`Outcome`].
pub async fn hosts_of(
    ctx: &NodeCtx,
    resolver: &Resolver,
    config: Option<&ResolverConfig>,
    target: &str,
    call: Option<&str>,
) -> Result<Vec<String>, Outcome> {
    if !is_name(target) {
        return Ok(ctx.topology.expand(target));
    }
    let default = ResolverConfig::default();
    match resolver
        .resolve(config.unwrap_or(&default), target, call)
        .await
    {
        Outcome::Hosts(names) => Ok(names),
        failed => Err(failed),
    }
}

/// The host to connect to for `target` (the first of [`hosts_of`]), or
/// why there is none, as a `call.end` or client reason would say it
/// (`dns NXDOMAIN for api.platform`).
pub async fn first_host(
    ctx: &NodeCtx,
    resolver: &Resolver,
    config: Option<&ResolverConfig>,
    target: &str,
    call: Option<&str>,
) -> Result<String, String> {
    match hosts_of(ctx, resolver, config, target, call).await {
        Ok(hosts) => hosts
            .into_iter()
            .next()
            .ok_or_else(|| format!("dns: no host for {target}")),
        Err(failed) => Err(format!("dns {} for {target}", failed.rcode())),
    }
}

/// The answer the server gives to a query for `name` under the active
/// `faults` (the last one covering the name wins); `None`: no answer.
fn answer_for(
    ctx: &NodeCtx,
    config: &DnsConfig,
    faults: &[DnsFault],
    query: Query,
) -> Option<Answer> {
    let fault = faults
        .iter()
        .rev()
        .find(|f| f.name.as_deref().is_none_or(|n| n == query.name));
    let (rcode, ttl_ms, hosts) = match fault.map(|f| f.failure) {
        Some(DnsFailure::Timeout) => return None,
        Some(DnsFailure::ServFail) => (Rcode::ServFail, 0, Vec::new()),
        Some(DnsFailure::NxDomain) => {
            (Rcode::NxDomain, config.negative_ttl.as_millis(), Vec::new())
        }
        None => match config.records.get(&query.name) {
            None => (Rcode::NxDomain, config.negative_ttl.as_millis(), Vec::new()),
            Some(targets) => {
                let hosts: Vec<String> = targets
                    .iter()
                    .flat_map(|t| ctx.topology.expand(t))
                    .collect();
                (Rcode::NoError, config.ttl.as_millis(), hosts)
            }
        },
    };
    Some(Answer {
        id: query.id,
        name: query.name,
        rcode,
        ttl_ms,
        hosts,
    })
}

/// The name server: answers each query from the current records and
/// faults. It records no event of its own: the resolvers record what
/// they asked and got.
pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let socket = UdpEndpoint::bind(&ctx, ports::DNS).await?;
    let mut buf = vec![0u8; DATAGRAM_MAX];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        let Some(query) = decode::<Query>(&buf[..n]) else {
            continue;
        };
        let config: DnsConfig = ctx.config();
        let faults = ctx.control.faults().dns;
        if let Some(answer) = answer_for(&ctx, &config, &faults, query) {
            let _ = socket.send_to(&encode(&answer), from).await;
        }
    }
}

/// The `DnsKind` node kind, as the registry lists it.
pub struct DnsKind;

impl crate::nodes::NodeKind for DnsKind {
    const ABOUT: &'static str =
        "A name server: answers name queries over UDP from its records (names to hosts), with TTLs; fails them under the `dns` fault.";
    type Config = DnsConfig;
    const FAULTS: &'static [FaultSupport] = &[FaultSupport::new(
        "dns",
        &["nxdomain", "servfail", "timeout"],
    )];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dotted_labels() {
        assert!(check_name("sip.platform").is_ok());
        assert!(check_name("a-1.b2.example").is_ok());
        for bad in [
            "sip",
            "sip..platform",
            ".sip",
            "sip.",
            "-a.b",
            "a-.b",
            "a_b.c",
            "a b.c",
        ] {
            assert!(check_name(bad).is_err(), "{bad} accepted");
        }
        assert!(is_name("sip.platform"));
        assert!(!is_name("sip-1"));
    }
}
