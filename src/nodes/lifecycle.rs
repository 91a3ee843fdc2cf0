//! Self-shutdown and supervision: a pod that exits on its own, and the
//! policy that brings it back.
//!
//! A node section may say when its pods give up and exit, as a process
//! does when a health watchdog or a fail-fast check trips:
//!
//! `exit_when = { dependency_failures = 5, queue_over = 20, queue_for = "10s" }`
//! - `dependency_failures = k`: after k failed calls in a row to the pod's
//!   dependency (for the SIP service, its dispatch RPC to the gateway: a
//!   timeout, an unreachable or overloaded callee; a callee's decision is a
//!   success). A success resets the count.
//! - `queue_over = n` with `queue_for = T`: when more than n calls have
//!   waited in the pod's call-slot queue ([`crate::nodes::slots`]) without
//!   a break for T (needs `slots` with `when_full = "queue"`).
//!
//! A tripped trigger records `node.exit {reason}` on the pod and asks the
//! step loop (through the control handle) to take the host down after the
//! current step, as `crash` does: sockets closed, memory lost.
//!
//! `supervisor = { restart_after = "5s", backoff = 2.0, max_delay = "60s",
//! reset_after = "60s" }` is who restarts it: the container runtime, not a
//! network participant, so it lives in the step loop
//! (`testbed::supervisor`), which brings the host back after the delay and
//! records `node.restart {target, restarts, down_ms}`. Each restart of a
//! pod that exits again within `reset_after` of coming back multiplies the
//! delay by `backoff`, up to `max_delay` (a crash loop backs off); a pod
//! that stayed up that long starts again from `restart_after`. Without a
//! supervisor an exited pod stays down. A supervisor never restarts a host
//! the fault plan holds down (an active `crash`): the crash's end does.
//!
//! Both are off unless configured, so scenarios without them keep their
//! histories.

use crate::history::{emit, Event};
use crate::sim::control::ControlHandle;
use crate::sim::time::now_ms;
use crate::sim::{check, Dur, FieldError};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;

/// `exit_when = { dependency_failures = 5, queue_over = 20, queue_for = "10s" }`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExitWhen {
    /// Exit after this many failed dependency calls in a row (>= 1).
    #[serde(default)]
    pub dependency_failures: Option<u32>,
    /// Exit when more than this many calls wait in the slot queue ...
    #[serde(default)]
    pub queue_over: Option<u32>,
    /// ... for this long without a break. Default 5s.
    #[serde(default = "default_queue_for")]
    pub queue_for: Dur,
}

fn default_queue_for() -> Dur {
    Dur::from_secs(5)
}

impl ExitWhen {
    /// `prefix` is the field path, e.g. `nodes.sip.exit_when`;
    /// `queues` whether the node's slots can queue at all.
    pub fn validate(&self, prefix: &str, queues: bool) -> Result<(), FieldError> {
        if self.dependency_failures.is_none() && self.queue_over.is_none() {
            return Err(FieldError::new(
                prefix,
                "names no trigger: set dependency_failures, queue_over, or both",
            ));
        }
        if let Some(k) = self.dependency_failures {
            check::at_least_one(prefix, "dependency_failures", k)?;
        }
        if let Some(n) = self.queue_over {
            if !queues {
                return Err(FieldError::new(
                    check::field(prefix, "queue_over"),
                    format!(
                        "{n}: this node has no call-slot queue (set slots with when_full = \"queue\")"
                    ),
                ));
            }
        }
        check::positive(prefix, "queue_for", self.queue_for)
    }
}

/// `supervisor = { restart_after = "5s", backoff = 2.0, max_delay = "60s",
/// reset_after = "60s" }`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupervisorConfig {
    /// Delay before the first restart. Required.
    pub restart_after: Dur,
    /// Factor applied to the delay per quick re-exit (>= 1). Default 1.
    #[serde(default = "default_backoff")]
    pub backoff: f64,
    /// Longest delay. Default 300s.
    #[serde(default = "default_max_delay")]
    pub max_delay: Dur,
    /// A pod up this long since its restart starts again from
    /// `restart_after`. Default 60s.
    #[serde(default = "default_reset_after")]
    pub reset_after: Dur,
}

fn default_backoff() -> f64 {
    1.0
}
fn default_max_delay() -> Dur {
    Dur::from_secs(300)
}
fn default_reset_after() -> Dur {
    Dur::from_secs(60)
}

impl SupervisorConfig {
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        check::positive(prefix, "restart_after", self.restart_after)?;
        if !(self.backoff >= 1.0 && self.backoff <= 100.0) {
            return Err(FieldError::new(
                check::field(prefix, "backoff"),
                format!("{} is not in [1, 100]", self.backoff),
            ));
        }
        check::at_least(
            prefix,
            "max_delay",
            self.max_delay,
            self.restart_after,
            "restart_after",
        )?;
        check::positive(prefix, "reset_after", self.reset_after)
    }

    /// The delay before a restart, given the one before it (`None`: the
    /// first, or the pod had stayed up `reset_after`).
    pub fn next_delay_ms(&self, previous_ms: Option<u64>) -> u64 {
        let first = self.restart_after.as_millis();
        match previous_ms {
            None => first,
            Some(p) => ((p as f64 * self.backoff) as u64).clamp(first, self.max_delay.as_millis()),
        }
    }
}

/// A pod's exit triggers at run time. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct SelfShutdown {
    state: Rc<RefCell<State>>,
}

struct State {
    config: ExitWhen,
    control: ControlHandle,
    failures_in_a_row: u32,
    /// When the slot queue went over `queue_over`, with a generation
    /// number that a break bumps (the timer checks it is still its own).
    over_since: Option<(u64, u64)>,
    generation: u64,
    tripped: bool,
}

impl SelfShutdown {
    pub fn new(config: ExitWhen, control: ControlHandle) -> SelfShutdown {
        SelfShutdown {
            state: Rc::new(RefCell::new(State {
                config,
                control,
                failures_in_a_row: 0,
                over_since: None,
                generation: 0,
                tripped: false,
            })),
        }
    }

    /// Records a call to the pod's dependency and whether it worked.
    pub fn dependency(&self, ok: bool) {
        let tripped = {
            let mut s = self.state.borrow_mut();
            if ok {
                s.failures_in_a_row = 0;
                None
            } else {
                s.failures_in_a_row += 1;
                let k = s.config.dependency_failures;
                k.filter(|k| s.failures_in_a_row >= *k)
            }
        };
        if let Some(k) = tripped {
            self.trip(&format!("dependency failed {k} times in a row"));
        }
    }

    /// Records the slot queue's length after a change.
    pub fn queue(&self, queued: u32) {
        let mut s = self.state.borrow_mut();
        let Some(bound) = s.config.queue_over else {
            return;
        };
        if queued <= bound {
            s.over_since = None;
            return;
        }
        if s.over_since.is_some() {
            return;
        }
        s.generation += 1;
        let generation = s.generation;
        s.over_since = Some((now_ms(), generation));
        let wait = s.config.queue_for;
        drop(s);
        let me = self.clone();
        crate::sim::spawn(async move {
            crate::sim::time::sleep(wait.0).await;
            let still = me
                .state
                .borrow()
                .over_since
                .is_some_and(|(_, g)| g == generation);
            if still {
                me.trip(&format!("more than {bound} calls queued for {wait}"));
            }
        });
    }

    /// Whether a trigger has tripped (the pod is on its way down).
    pub fn tripped(&self) -> bool {
        self.state.borrow().tripped
    }

    fn trip(&self, reason: &str) {
        let mut s = self.state.borrow_mut();
        if s.tripped {
            return;
        }
        s.tripped = true;
        emit(Event::NodeExit { reason });
        s.control.request_exit(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Control;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    fn exit_when(dependency_failures: Option<u32>, queue_over: Option<u32>) -> ExitWhen {
        ExitWhen {
            dependency_failures,
            queue_over,
            queue_for: Dur::from_secs(5),
        }
    }

    #[test]
    fn failures_in_a_row_trip_and_a_success_resets_the_count() {
        let control = Control::new(toml::Value::Table(Default::default()));
        let s = SelfShutdown::new(exit_when(Some(3), None), control.handle());
        s.dependency(false);
        s.dependency(false);
        s.dependency(true);
        s.dependency(false);
        s.dependency(false);
        assert!(!s.tripped());
        assert_eq!(control.take_exit_request(), None);
        s.dependency(false);
        assert!(s.tripped());
        assert_eq!(
            control.take_exit_request().as_deref(),
            Some("dependency failed 3 times in a row")
        );
        // Once: a later failure asks nothing more.
        s.dependency(false);
        assert_eq!(control.take_exit_request(), None);
    }

    #[test]
    fn a_queue_over_its_bound_trips_only_after_an_unbroken_stretch() {
        block_on(async {
            let control = Control::new(toml::Value::Table(Default::default()));
            let s = SelfShutdown::new(exit_when(None, Some(2)), control.handle());
            s.queue(3);
            tokio::time::sleep(std::time::Duration::from_secs(4)).await;
            // A break at 4 s: the first stretch does not count.
            s.queue(2);
            s.queue(3);
            tokio::time::sleep(std::time::Duration::from_secs(4)).await;
            assert!(!s.tripped(), "4 s over the bound is not 5 s");
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            assert!(s.tripped());
            assert_eq!(
                control.take_exit_request().as_deref(),
                Some("more than 2 calls queued for 5s")
            );
        });
    }

    #[test]
    fn backoff_multiplies_up_to_the_cap() {
        let c = SupervisorConfig {
            restart_after: Dur::from_secs(5),
            backoff: 2.0,
            max_delay: Dur::from_secs(30),
            reset_after: Dur::from_secs(60),
        };
        assert_eq!(c.next_delay_ms(None), 5000);
        assert_eq!(c.next_delay_ms(Some(5000)), 10_000);
        assert_eq!(c.next_delay_ms(Some(20_000)), 30_000);
        assert_eq!(c.next_delay_ms(Some(30_000)), 30_000);
    }

    #[test]
    fn bad_configs_name_their_field() {
        let e = exit_when(None, None).validate("nodes.sip.exit_when", true);
        assert_eq!(e.expect_err("no trigger").field, "nodes.sip.exit_when");
        let e = exit_when(Some(0), None).validate("nodes.sip.exit_when", true);
        assert_eq!(
            e.expect_err("0").field,
            "nodes.sip.exit_when.dependency_failures"
        );
        let e = exit_when(None, Some(3)).validate("nodes.sip.exit_when", false);
        assert_eq!(
            e.expect_err("no queue").field,
            "nodes.sip.exit_when.queue_over"
        );
        let mut c = SupervisorConfig {
            restart_after: Dur::from_secs(5),
            backoff: 0.5,
            max_delay: Dur::from_secs(30),
            reset_after: Dur::from_secs(60),
        };
        let e = c.validate("nodes.sip.supervisor");
        assert_eq!(e.expect_err("0.5").field, "nodes.sip.supervisor.backoff");
        c.backoff = 2.0;
        c.max_delay = Dur::from_secs(1);
        let e = c.validate("nodes.sip.supervisor");
        assert_eq!(e.expect_err("1s").field, "nodes.sip.supervisor.max_delay");
    }
}
