//! Health checks of next hops with SIP OPTIONS, shared by the LB (its
//! backends) and the SBC pods (the next pod of the chain).
//!
//! A checker sends OPTIONS to each target every `interval`; a target that
//! misses `failures_max` checks in a row (no final response within
//! `timeout`, or a 5xx) turns unhealthy, and one that answers
//! `successes_min` in a row turns healthy again. Each turn emits
//! `health.change {target, healthy}` from the checking host. With `eject`,
//! unhealthy targets get no new traffic; without it the checks only report.

use crate::history::{emit, Event};
use crate::sim::buggify::{self, here};
use crate::sim::rng::SimRng;
use crate::sim::{Dur, FieldError};
use crate::sip::ids::{new_call_id, new_tag};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// `health = { ... }` of a node that checks its next hops.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Run the checks at all. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Steer new traffic away from unhealthy targets. Default true.
    #[serde(default = "default_true")]
    pub eject: bool,
    /// Gap between two checks of one target. Default 1s.
    #[serde(default = "default_interval")]
    pub interval: Dur,
    /// How long a check waits for its answer. Default 500ms.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Failed checks in a row that make a target unhealthy. Default 3.
    #[serde(default = "default_failures_max")]
    pub failures_max: u32,
    /// Passed checks in a row that make it healthy again. Default 2.
    #[serde(default = "default_successes_min")]
    pub successes_min: u32,
}

fn default_true() -> bool {
    true
}
fn default_interval() -> Dur {
    Dur::from_secs(1)
}
fn default_timeout() -> Dur {
    Dur::from_millis(500)
}
fn default_failures_max() -> u32 {
    3
}
fn default_successes_min() -> u32 {
    2
}

impl Default for HealthCheckConfig {
    fn default() -> HealthCheckConfig {
        HealthCheckConfig {
            enabled: true,
            eject: true,
            interval: default_interval(),
            timeout: default_timeout(),
            failures_max: default_failures_max(),
            successes_min: default_successes_min(),
        }
    }
}

impl HealthCheckConfig {
    /// `prefix` is the field path of this table, e.g. `nodes.lb.health`.
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        if self.interval.is_zero() {
            return Err(FieldError::new(format!("{prefix}.interval"), "must be > 0"));
        }
        if self.timeout.is_zero() {
            return Err(FieldError::new(format!("{prefix}.timeout"), "must be > 0"));
        }
        if self.timeout > self.interval {
            return Err(FieldError::new(
                format!("{prefix}.timeout"),
                "must not exceed `interval` (one check at a time per target)",
            ));
        }
        if self.failures_max == 0 {
            return Err(FieldError::new(
                format!("{prefix}.failures_max"),
                "must be >= 1",
            ));
        }
        if self.successes_min == 0 {
            return Err(FieldError::new(
                format!("{prefix}.successes_min"),
                "must be >= 1",
            ));
        }
        Ok(())
    }
}

/// The branch prefix of health-check OPTIONS, so that their responses are
/// told apart from forwarded traffic.
pub const PROBE_BRANCH_PREFIX: &str = "z9hG4bKhealth";

/// One check to send now. Its ids are drawn from the checker's seeded
/// stream (which a restart renews, see [`HealthChecker::new`]): every
/// check is a new request with a Call-ID, From tag and branch of its own,
/// never one reused from an earlier check or an earlier incarnation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub target: String,
    pub addr: SocketAddr,
    /// The Via branch of the OPTIONS (and the key its answer comes back by).
    pub branch: String,
    pub call_id: String,
    pub from_tag: String,
    pub seq: u64,
}

#[derive(Debug, Clone)]
struct Target {
    addr: SocketAddr,
    healthy: bool,
    failures: u32,
    successes: u32,
    /// The check in flight: its branch and when it times out.
    pending: Option<(String, u64)>,
    next_check_ms: u64,
}

/// Health of a node's next hops, as a pure state machine: the node's
/// event loop feeds it time and answers and sends the probes it returns.
/// Targets start healthy (a freshly started node trusts its config).
#[derive(Debug, Clone)]
pub struct HealthChecker {
    config: HealthCheckConfig,
    targets: BTreeMap<String, Target>,
    seq: u64,
    /// The checks' ids: Call-IDs, tags, branches.
    ids: SimRng,
    /// The checking host's name, for the Call-IDs.
    host: String,
}

impl HealthChecker {
    /// `targets` are (host, address) pairs. The first checks are spread
    /// over one interval so that checks of many targets do not align.
    /// `ids` draws the checks' Call-IDs, tags and branches: give it a
    /// stream of the host's incarnation ([`crate::sim::NodeCtx::rng`]), so
    /// that a restarted host does not repeat its first life's ids.
    pub fn new(
        config: HealthCheckConfig,
        targets: &[(String, SocketAddr)],
        now_ms: u64,
        ids: SimRng,
        host: &str,
    ) -> Self {
        let n = targets.len().max(1) as u64;
        let interval = config.interval.as_millis();
        let targets = targets
            .iter()
            .enumerate()
            .map(|(i, (host, addr))| {
                (
                    host.clone(),
                    Target {
                        addr: *addr,
                        healthy: true,
                        failures: 0,
                        successes: 0,
                        pending: None,
                        next_check_ms: now_ms + interval * (i as u64 + 1) / n,
                    },
                )
            })
            .collect();
        HealthChecker {
            config,
            targets,
            seq: 0,
            ids,
            host: host.to_string(),
        }
    }

    /// Whether new traffic may go to `target`: always, unless checks are
    /// on, ejection is on, and the target is unhealthy.
    pub fn usable(&self, target: &str) -> bool {
        !self.config.enabled
            || !self.config.eject
            || self.targets.get(target).is_none_or(|t| t.healthy)
    }

    /// The target's health as the checks last judged it.
    pub fn is_healthy(&self, target: &str) -> bool {
        self.targets.get(target).is_none_or(|t| t.healthy)
    }

    /// When [`HealthChecker::on_timer`] next has work; `None` when checks
    /// are off.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        if !self.config.enabled {
            return None;
        }
        self.targets
            .values()
            .map(|t| match &t.pending {
                Some((_, deadline)) => (*deadline).min(t.next_check_ms),
                None => t.next_check_ms,
            })
            .min()
    }

    /// Times out overdue checks and returns the checks to send now.
    pub fn on_timer(&mut self, now_ms: u64) -> Vec<Probe> {
        if !self.config.enabled {
            return Vec::new();
        }
        let mut probes = Vec::new();
        let hosts: Vec<String> = self.targets.keys().cloned().collect();
        for host in hosts {
            let overdue = self.targets[&host]
                .pending
                .as_ref()
                .is_some_and(|(_, deadline)| *deadline <= now_ms);
            if overdue {
                self.record(&host, false);
            }
            let interval = self.config.interval.as_millis();
            let timeout = self.config.timeout.as_millis();
            let target = self.targets.get_mut(&host).expect("listed");
            let due = target.next_check_ms <= now_ms && target.pending.is_none();
            // Fault points: this round's check is skipped, or goes out
            // half an interval late.
            if due && here(buggify::HEALTH_ROUND_SKIPPED) {
                target.next_check_ms = now_ms + interval;
                continue;
            }
            if due && here(buggify::HEALTH_PROBE_LATE) {
                target.next_check_ms = now_ms + (interval / 2).max(1);
                continue;
            }
            if due {
                self.seq += 1;
                let seq = self.seq;
                let branch = format!("{PROBE_BRANCH_PREFIX}{:016x}", self.ids.next_u64());
                target.pending = Some((branch.clone(), now_ms + timeout));
                target.next_check_ms = now_ms + interval;
                probes.push(Probe {
                    target: host.clone(),
                    addr: target.addr,
                    branch,
                    call_id: new_call_id(&mut self.ids, &self.host),
                    from_tag: new_tag(&mut self.ids),
                    seq,
                });
            }
        }
        probes
    }

    /// An answer to a check: `ok` when the target answered well. Returns
    /// false when `branch` is no check in flight (a late answer).
    pub fn on_answer(&mut self, branch: &str, ok: bool) -> bool {
        let host = self.targets.iter().find_map(|(host, t)| {
            t.pending
                .as_ref()
                .filter(|(b, _)| b == branch)
                .map(|_| host.clone())
        });
        match host {
            // Fault point: the answer is lost; the check will time out.
            Some(_) if here(buggify::HEALTH_LOSE_REPLY) => true,
            Some(host) => {
                self.record(&host, ok);
                true
            }
            None => false,
        }
    }

    fn record(&mut self, host: &str, ok: bool) {
        let config = &self.config;
        let target = self.targets.get_mut(host).expect("listed");
        target.pending = None;
        if ok {
            target.failures = 0;
            target.successes += 1;
            if !target.healthy && target.successes >= config.successes_min {
                target.healthy = true;
                emit(Event::HealthChange {
                    target: host,
                    healthy: true,
                });
            }
        } else {
            target.successes = 0;
            target.failures += 1;
            if target.healthy && target.failures >= config.failures_max {
                target.healthy = false;
                emit(Event::HealthChange {
                    target: host,
                    healthy: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::rng_for;
    use std::collections::BTreeSet;

    fn config() -> HealthCheckConfig {
        HealthCheckConfig {
            failures_max: 2,
            successes_min: 2,
            ..HealthCheckConfig::default()
        }
    }

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, n], 5060))
    }

    /// A checker at time 0 for `lb-1` in incarnation `incarnation`.
    fn checker(
        config: HealthCheckConfig,
        targets: &[(String, SocketAddr)],
        incarnation: u32,
    ) -> HealthChecker {
        let ids = rng_for(1, &["lb-1", "health", &incarnation.to_string()]);
        HealthChecker::new(config, targets, 0, ids, "lb-1")
    }

    /// Each check is a new request: its Call-ID, From tag and branch are
    /// its own, and a restarted host (a new incarnation) does not repeat
    /// the ids of its first life.
    #[test]
    fn every_check_has_ids_of_its_own_also_across_restarts() {
        let targets = vec![("sip-1".to_string(), addr(1))];
        let mut ids = BTreeSet::new();
        for incarnation in [0, 1] {
            let mut hc = checker(config(), &targets, incarnation);
            for t in 1..=5 {
                for p in hc.on_timer(t * 1000) {
                    assert!(p.branch.starts_with(PROBE_BRANCH_PREFIX));
                    assert!(p.call_id.ends_with("@lb-1"), "{}", p.call_id);
                    for id in [p.branch, p.call_id, p.from_tag] {
                        assert!(ids.insert(id.clone()), "{id} repeated");
                    }
                }
            }
        }
        assert_eq!(ids.len(), 2 * 5 * 3);
    }

    #[test]
    fn a_target_turns_unhealthy_after_missed_checks_and_back_after_answers() {
        let targets = vec![("sip-1".to_string(), addr(1))];
        let mut hc = checker(config(), &targets, 1);
        assert_eq!(hc.next_deadline_ms(), Some(1000));
        let p = hc.on_timer(1000);
        assert_eq!(p.len(), 1);
        // Timeout at 1500, next check at 2000.
        assert_eq!(hc.next_deadline_ms(), Some(1500));
        assert!(hc.on_timer(1500).is_empty());
        assert!(hc.usable("sip-1"), "one miss is not enough");
        let p = hc.on_timer(2000);
        assert!(hc.on_timer(2500).is_empty());
        assert!(!hc.usable("sip-1"));
        assert!(
            !hc.on_answer(&p[0].branch, true),
            "late answers do not count"
        );
        let p = hc.on_timer(3000);
        assert!(hc.on_answer(&p[0].branch, true));
        assert!(!hc.usable("sip-1"), "needs two answers");
        let p = hc.on_timer(4000);
        assert!(hc.on_answer(&p[0].branch, true));
        assert!(hc.usable("sip-1"));
    }

    #[test]
    fn without_ejection_unhealthy_targets_stay_usable() {
        let targets = vec![("sip-1".to_string(), addr(1))];
        let mut hc = HealthChecker::new(
            HealthCheckConfig {
                eject: false,
                failures_max: 1,
                ..HealthCheckConfig::default()
            },
            &targets,
            0,
            rng_for(1, &["lb-1", "health", "0"]),
            "lb-1",
        );
        hc.on_timer(1000);
        hc.on_timer(1500);
        assert!(!hc.is_healthy("sip-1"));
        assert!(hc.usable("sip-1"));
    }

    #[test]
    fn first_checks_are_spread_over_an_interval() {
        let targets: Vec<_> = (1..=4).map(|i| (format!("sip-{i}"), addr(i))).collect();
        let mut hc = checker(config(), &targets, 1);
        assert_eq!(hc.on_timer(250).len(), 1);
        assert_eq!(hc.on_timer(500).len(), 1);
        assert_eq!(hc.on_timer(1000).len(), 2);
    }
}
