//! A stand-in for the platform's CPU and queue model (`nodes/workers.rs`
//! on the `nodes` branch), with the same interface subset: a bounded pool
//! of simulated workers whose service times pass in sim time.
//!
//! The media proxy is written against `Pool::new(ctx, PoolConfig)` and
//! `Pool::serve(service_time)`, so adopting the shared model is a change
//! of `use` line. Like the shared one, it honours the host's `NodeFaults`
//! service-time and capacity factors and `disabled`, and a caller that
//! gives up (drops the future) frees its queue place or its worker.

use crate::sim::ControlHandle;
use crate::sim::FieldError;
use crate::sim::NodeCtx;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::oneshot;

/// A pool's size, as a node config field (`pool = { workers = 8, queue_max = 64 }`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Jobs served at once (cores). Default 8.
    #[serde(default = "default_workers")]
    pub workers: u32,
    /// Jobs that may wait for a worker; one more is refused. Default 64.
    #[serde(default = "default_queue_max")]
    pub queue_max: u32,
}

fn default_workers() -> u32 {
    8
}
fn default_queue_max() -> u32 {
    64
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            workers: default_workers(),
            queue_max: default_queue_max(),
        }
    }
}

impl PoolConfig {
    /// `prefix` is the field path of the pool, e.g. `nodes.media.pool`.
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        if self.workers == 0 {
            return Err(FieldError::new(format!("{prefix}.workers"), "must be >= 1"));
        }
        Ok(())
    }
}

/// Why a job was not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every worker busy and the queue full.
    QueueFull,
    /// The host's data plane is disabled.
    Disabled,
}

struct State {
    config: PoolConfig,
    busy: u32,
    queue: VecDeque<oneshot::Sender<()>>,
}

/// A bounded pool of simulated workers. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Pool {
    state: Rc<RefCell<State>>,
    control: ControlHandle,
}

struct WorkerGuard {
    state: Rc<RefCell<State>>,
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let mut state = self.state.borrow_mut();
        while let Some(waiter) = state.queue.pop_front() {
            if waiter.send(()).is_ok() {
                return;
            }
        }
        state.busy -= 1;
    }
}

impl Pool {
    pub fn new(ctx: &NodeCtx, config: PoolConfig) -> Pool {
        Pool {
            state: Rc::new(RefCell::new(State {
                config,
                busy: 0,
                queue: VecDeque::new(),
            })),
            control: ctx.control.clone(),
        }
    }

    /// Serves one job of `service_time` (before the host's factors).
    pub async fn serve(&self, service_time: Duration) -> Result<(), Refusal> {
        let faults = self.control.faults();
        if faults.disabled {
            return Err(Refusal::Disabled);
        }
        let factor = |f: f64, lo: f64| if f.is_finite() { f.max(lo) } else { 1.0 };
        let admission = {
            let mut state = self.state.borrow_mut();
            let capacity = factor(faults.capacity_factor, 0.0);
            let workers = ((state.config.workers as f64 * capacity).floor() as u32).max(1);
            let queue_max = (state.config.queue_max as f64 * capacity).floor() as usize;
            if state.busy < workers && state.queue.is_empty() {
                state.busy += 1;
                None
            } else if state.queue.len() < queue_max {
                let (tx, rx) = oneshot::channel();
                state.queue.push_back(tx);
                Some(rx)
            } else {
                return Err(Refusal::QueueFull);
            }
        };
        if let Some(rx) = admission {
            if rx.await.is_err() {
                return Err(Refusal::Disabled);
            }
        }
        let _worker = WorkerGuard {
            state: self.state.clone(),
        };
        let time = service_time.mul_f64(factor(faults.service_time_factor, 0.0));
        if !time.is_zero() {
            tokio::time::sleep(time).await;
        }
        Ok(())
    }
}
