//! The autoscaler (host `autoscaler`): watches the load of a section's
//! pods and asks the runtime for more or fewer of them.
//!
//! Every `interval` it scrapes every pod of `target` at once, over the network
//! ([`crate::nodes::pod_metrics`]; a pod that does not answer within
//! `scrape_timeout` counts as not serving), sums the `metric` (`in_use`:
//! call slots held; `queued`: calls waiting for one; `load`: both), and
//! wants `ceil(sum / per_pod)` pods, within `[min, max]`:
//! - more than it has asked for: it records `scale.decision` and asks the
//!   runtime, `scale_up_delay` later (provisioning), for that many;
//! - fewer, for `scale_down_after` without a break: it asks for one fewer,
//!   and only when the pod that would go (the highest-numbered one asked
//!   for) reported no call and no queue (it never stops a busy pod on
//!   purpose; a call that arrives between the scrape and the stop is lost,
//!   as in real scale-ins without a drain).
//!
//! The request goes through the host's control handle to the step loop's
//! runtime (`testbed::supervisor`), which starts or stops pod hosts: pods
//! `min + 1 ..` of the section are dormant from the start (turmoil hosts
//! cannot be added cheaply mid-run, so every pod a scaler may use exists
//! as a host, its software stopped until asked for). A pod started by the
//! runtime is a fresh incarnation and warms up first if its section says
//! so (`[nodes.sip] warmup`). Events: `scale.decision {target, metric,
//! value, serving, from, to}` here; `scale.start {target}` and
//! `scale.stop {target}` from the runtime.

use crate::history::{emit, Event};
use crate::nodes::pod_metrics::{self, PodMetrics};
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::sim::time::{now_ms, sleep};
use crate::sim::{check, Dur, FieldError, NodeCtx, Topology};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::rc::Rc;

/// What the scaler sums over pods.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Call slots held.
    InUse,
    /// Calls waiting for a slot.
    Queued,
    /// Both.
    Load,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::InUse => "in_use",
            Metric::Queued => "queued",
            Metric::Load => "load",
        }
    }

    fn of(self, m: &PodMetrics) -> u64 {
        match self {
            Metric::InUse => m.in_use as u64,
            Metric::Queued => m.queued as u64,
            Metric::Load => m.in_use as u64 + m.queued as u64,
        }
    }
}

/// `[nodes.autoscaler]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoscalerConfig {
    /// The section whose pods it scales (one with `pods`). Required.
    pub target: String,
    /// What it sums over pods. Default `in_use`.
    #[serde(default = "default_metric")]
    pub metric: Metric,
    /// The metric one pod should carry (> 0). Required.
    pub per_pod: f64,
    /// Fewest pods (>= 1): those run from the start. Default 1.
    #[serde(default = "default_min")]
    pub min: u32,
    /// Most pods (<= the section's `pods`). Default: the section's `pods`.
    #[serde(default)]
    pub max: Option<u32>,
    /// Time between decisions. Default 15s.
    #[serde(default = "default_interval")]
    pub interval: Dur,
    /// From a decision to scale up to the pods being started. Default 0s.
    #[serde(default)]
    pub scale_up_delay: Dur,
    /// How long the load must want fewer pods before one goes. Default 60s.
    #[serde(default = "default_scale_down_after")]
    pub scale_down_after: Dur,
    /// How long a scrape waits for a pod's answer. Default 1s.
    #[serde(default = "default_scrape_timeout")]
    pub scrape_timeout: Dur,
}

fn default_metric() -> Metric {
    Metric::InUse
}
fn default_min() -> u32 {
    1
}
fn default_interval() -> Dur {
    Dur::from_secs(15)
}
fn default_scale_down_after() -> Dur {
    Dur::from_secs(60)
}
fn default_scrape_timeout() -> Dur {
    Dur::from_secs(1)
}

impl AutoscalerConfig {
    /// The most pods it may ask for, given the section's pod count.
    pub fn max_pods(&self, section_pods: u32) -> u32 {
        self.max.unwrap_or(section_pods)
    }
}

impl NodeConfig for AutoscalerConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        let pods = topology.hosts_of(&self.target);
        let scrapeable = topology.hosts.iter().any(|h| {
            h.section == self.target && h.pod > 0 && pod_metrics::SERVED_BY.contains(&h.kind)
        });
        if !scrapeable {
            return Err(FieldError::new(
                check::field(prefix, "target"),
                format!(
                    "{:?} is not a section of this scenario whose pods serve metrics (kinds: {})",
                    self.target,
                    pod_metrics::SERVED_BY.join(", ")
                ),
            ));
        }
        if !(self.per_pod > 0.0 && self.per_pod.is_finite()) {
            return Err(FieldError::new(
                check::field(prefix, "per_pod"),
                format!("{} is not a number > 0", self.per_pod),
            ));
        }
        check::at_least_one(prefix, "min", self.min)?;
        let max = self.max_pods(pods.len() as u32);
        if max as usize > pods.len() {
            return Err(FieldError::new(
                check::field(prefix, "max"),
                format!(
                    "{max}: {} has only {} pods (hosts exist from the start; raise its `pods`)",
                    self.target,
                    pods.len()
                ),
            ));
        }
        if self.min > max {
            return Err(FieldError::new(
                check::field(prefix, "min"),
                format!("{} is above max = {max}", self.min),
            ));
        }
        check::positive(prefix, "interval", self.interval)?;
        check::positive(prefix, "scale_down_after", self.scale_down_after)?;
        check::positive(prefix, "scrape_timeout", self.scrape_timeout)
    }
}

/// The pods `ceil(total / per_pod)` asks for, within `[min, max]`.
pub fn wanted(total: u64, per_pod: f64, min: u32, max: u32) -> u32 {
    let want = (total as f64 / per_pod).ceil() as u32;
    want.clamp(min, max)
}

pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let config: AutoscalerConfig = ctx.config();
    let pods = ctx.topology.hosts_of(&config.target);
    let max = config.max_pods(pods.len() as u32);
    // What it has asked for (the runtime starts with `min`).
    let asked = Rc::new(Cell::new(config.min));
    let mut low_since: Option<u64> = None;
    loop {
        sleep(config.interval.0).await;
        // Every pod at once: a dormant one costs its timeout, not a turn.
        let scrapes: Vec<_> = pods
            .iter()
            .map(|host| {
                let (host, timeout) = (host.clone(), config.scrape_timeout.0);
                crate::sim::spawn(async move { pod_metrics::scrape(&host, timeout).await })
            })
            .collect();
        let mut total = 0u64;
        let mut serving = 0u32;
        let mut last_asked_idle = false;
        for (i, scrape) in scrapes.into_iter().enumerate() {
            let Some(m) = scrape.await.ok().flatten() else {
                continue;
            };
            serving += 1;
            total += config.metric.of(&m);
            if i + 1 == asked.get() as usize {
                last_asked_idle = m.in_use == 0 && m.queued == 0;
            }
        }
        let from = asked.get();
        let want = wanted(total, config.per_pod, config.min, max);
        let to = if want > from {
            low_since = None;
            want
        } else if want < from {
            let since = *low_since.get_or_insert(now_ms());
            // Saturating: a clock fault may step the host's clock back.
            if now_ms().saturating_sub(since) >= config.scale_down_after.as_millis()
                && last_asked_idle
            {
                low_since = None;
                from - 1
            } else {
                from
            }
        } else {
            low_since = None;
            from
        };
        if to == from {
            continue;
        }
        emit(Event::ScaleDecision {
            target: &config.target,
            metric: config.metric.as_str(),
            value: total,
            serving: serving as u64,
            from: from as u64,
            to: to as u64,
        });
        asked.set(to);
        if to > from && !config.scale_up_delay.is_zero() {
            // Provisioning: the request reaches the runtime later, with
            // whatever the scaler asks for by then.
            let (ctx, asked, target, delay) = (
                ctx.clone(),
                asked.clone(),
                config.target.clone(),
                config.scale_up_delay,
            );
            crate::sim::spawn(async move {
                sleep(delay.0).await;
                ctx.control.request_pods(&target, asked.get());
            });
        } else {
            ctx.control.request_pods(&config.target, to);
        }
    }
}

/// The `AutoscalerKind` node kind, as the registry lists it.
pub struct AutoscalerKind;

impl crate::nodes::NodeKind for AutoscalerKind {
    const ABOUT: &'static str =
        "Scales a section's pods on their scraped load (slots in use or queued), with an interval, a provisioning delay, a scale-down window and min/max.";
    type Config = AutoscalerConfig;
    // Its interval and windows read the host's clock.
    const FAULTS: &'static [FaultSupport] = &[FaultSupport::new("clock", &[])];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_rounds_up_and_stays_in_bounds() {
        assert_eq!(wanted(0, 3.0, 1, 4), 1);
        assert_eq!(wanted(3, 3.0, 1, 4), 1);
        assert_eq!(wanted(4, 3.0, 1, 4), 2);
        assert_eq!(wanted(9, 3.0, 1, 4), 3);
        assert_eq!(wanted(100, 3.0, 1, 4), 4);
        assert_eq!(wanted(0, 3.0, 2, 4), 2);
    }
}
