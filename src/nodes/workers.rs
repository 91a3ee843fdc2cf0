//! The CPU and queue model: a bounded pool of simulated workers whose
//! service times pass in sim time, so that overload and saturation emerge
//! from load instead of being scripted.
//!
//! A node that does work per request (the gateway per API call, the SIP
//! service per dial or INVITE, the media proxy per fetch, the origin per
//! download) asks its [`Pool`]
//! to [`Pool::serve`] a job with a service time. A job takes a free worker
//! at once, or waits in a FIFO queue, or is refused when the queue is full.
//! Holding a worker is a `sleep` of the service time: no real CPU is spent,
//! and a pool of 8 workers with 5 ms jobs saturates at 1600 jobs/s of sim
//! time whatever the machine.
//!
//! The host's [`NodeFaults`] (from its control handle, set only by the fault
//! plan) shape the pool at every job:
//! - `service_time_factor` multiplies every service time (CPU saturation);
//! - `capacity_factor` multiplies workers and queue bound (a capacity cut;
//!   at least one worker always remains);
//! - `rate_limit` refuses jobs beyond `per_s` admitted in the current second
//!   of sim time, with the limit's code;
//! - `gray = work` lets the job run its service time, then fails it (the
//!   host looks alive, its work fails);
//! - `disabled` refuses every job at once.
//!
//! Architecture invariant: the pool never spawns, never polls; a waiting
//! job is woken by the job that frees its worker.

use crate::sim::buggify::{self, buggify};
use crate::sim::check;
use crate::sim::control::{GrayMode, NodeFaults};
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
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Jobs served at once. Default 8.
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
    /// `prefix` is the field path of the pool, e.g. `nodes.gateway.pool`.
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        check::at_least_one(prefix, "workers", self.workers)
    }
}

/// Why a job was not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every worker busy and the queue full.
    QueueFull,
    /// Over the host's rate limit; `code` is the limit's (429 or 503).
    RateLimited { code: u16 },
    /// Gray failure: the job ran its service time and failed.
    Gray,
    /// The host's data plane is disabled.
    Disabled,
}

impl Refusal {
    /// The SIP or HTTP-like status a node answers with for this refusal.
    pub fn status(self) -> u16 {
        match self {
            Refusal::QueueFull | Refusal::Gray | Refusal::Disabled => 503,
            Refusal::RateLimited { code } => code,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::QueueFull => "queue full",
            Refusal::RateLimited { .. } => "rate limited",
            Refusal::Gray => "gray failure",
            Refusal::Disabled => "disabled",
        }
    }
}

struct State {
    config: PoolConfig,
    busy: u32,
    /// Jobs waiting for a worker, oldest first. A job whose receiver was
    /// dropped (its caller gave up) is skipped when a worker frees.
    queue: VecDeque<oneshot::Sender<()>>,
    /// Second of sim time the rate counter covers, and jobs admitted in it.
    rate_second: u64,
    rate_admitted: u32,
}

/// A bounded pool of simulated workers. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Pool {
    state: Rc<RefCell<State>>,
    control: ControlHandle,
}

/// Frees the worker when the job ends, however it ends (a caller that
/// drops the job future mid-service still frees its worker).
struct WorkerGuard {
    state: Rc<RefCell<State>>,
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let mut state = self.state.borrow_mut();
        // Hand the worker to the oldest waiter still waiting; `busy` stays.
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
        Pool::with_control(ctx.control.clone(), config)
    }

    pub fn with_control(control: ControlHandle, config: PoolConfig) -> Pool {
        Pool {
            state: Rc::new(RefCell::new(State {
                config,
                busy: 0,
                queue: VecDeque::new(),
                rate_second: 0,
                rate_admitted: 0,
            })),
            control,
        }
    }

    /// Adopts a new size (a `set` fault on the node's pool). Jobs already
    /// admitted keep their place.
    pub fn set_config(&self, config: PoolConfig) {
        self.state.borrow_mut().config = config;
    }

    /// Jobs holding a worker now.
    pub fn busy(&self) -> u32 {
        self.state.borrow().busy
    }

    /// Jobs waiting for a worker now.
    pub fn queued(&self) -> usize {
        self.state.borrow().queue.len()
    }

    /// Serves one job of `service_time` (before the host's factors). Returns
    /// when the job is done, or at once when it is refused.
    pub async fn serve(&self, service_time: Duration) -> Result<(), Refusal> {
        let faults = self.control.faults();
        if faults.disabled {
            return Err(Refusal::Disabled);
        }
        let (workers, queue_max) = self.limits(&faults);
        let admission = {
            let mut state = self.state.borrow_mut();
            if let Some(limit) = faults.rate_limit {
                let second = crate::sim::time::now_ms() / 1000;
                if second != state.rate_second {
                    state.rate_second = second;
                    state.rate_admitted = 0;
                }
                if state.rate_admitted >= limit.per_s {
                    return Err(Refusal::RateLimited { code: limit.code });
                }
                state.rate_admitted += 1;
            }
            // Fault point: a refusal as if the queue were full.
            if buggify(&self.control, buggify::WORKERS_SPURIOUS_REJECT) {
                return Err(Refusal::QueueFull);
            }
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
            // The sender is only dropped after being sent to, or when the
            // pool itself is gone (the host is shutting down).
            if rx.await.is_err() {
                return Err(Refusal::Disabled);
            }
        }
        let _worker = WorkerGuard {
            state: self.state.clone(),
        };
        let mut factor = if faults.service_time_factor.is_finite() {
            faults.service_time_factor.max(0.0)
        } else {
            1.0
        };
        // Fault point: the job stalls (a page fault storm, a GC pause).
        if buggify(&self.control, buggify::WORKERS_STALL) {
            factor *= 10.0;
        }
        crate::sim::time::sleep(service_time.mul_f64(factor)).await;
        if faults.gray == Some(GrayMode::Work) || self.control.faults().gray == Some(GrayMode::Work)
        {
            return Err(Refusal::Gray);
        }
        Ok(())
    }

    /// Workers and queue bound after the host's capacity factor.
    fn limits(&self, faults: &NodeFaults) -> (u32, usize) {
        let config = self.state.borrow().config;
        let factor = if faults.capacity_factor.is_finite() {
            faults.capacity_factor.clamp(0.0, 1e6)
        } else {
            1.0
        };
        let workers = ((config.workers as f64 * factor).floor() as u32).max(1);
        let queue_max = (config.queue_max as f64 * factor).floor() as usize;
        (workers, queue_max)
    }
}

/// The faults a host acts on through its worker pool: `gray = work` fails
/// jobs after their service time, `saturate` scales service time and
/// capacity, `rate_limit` refuses jobs beyond the limit. Every kind whose
/// work goes through a [`Pool`] lists these in its fault support table.
pub const POOL_FAULTS: &[crate::nodes::FaultSupport] = &[
    crate::nodes::FaultSupport::new("gray", &["work"]),
    crate::nodes::FaultSupport::new("saturate", &[]),
    crate::nodes::FaultSupport::new("rate_limit", &[]),
];

/// [`POOL_FAULTS`] and `clock`, for a pool kind whose own timers and
/// deadlines read the host's clock (`sim::time`): the gateway and the SIP
/// service. The media proxy and the origin keep their deadlines on
/// `tokio::time`, where a clock fault would change nothing; they do not
/// list it.
pub const POOL_AND_CLOCK_FAULTS: &[crate::nodes::FaultSupport] = &[
    crate::nodes::FaultSupport::new("gray", &["work"]),
    crate::nodes::FaultSupport::new("saturate", &[]),
    crate::nodes::FaultSupport::new("rate_limit", &[]),
    crate::nodes::FaultSupport::new("clock", &[]),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::control::{Control, RateLimit};
    use crate::sim::in_sim;
    use std::cell::Cell;

    fn pool(control: &Control, workers: u32, queue_max: u32) -> Pool {
        Pool::with_control(control.handle(), PoolConfig { workers, queue_max })
    }

    /// Starts `n` jobs of `ms` at once; returns (finish time, result) per job.
    async fn burst(pool: &Pool, n: usize, ms: u64) -> Vec<(u64, Result<(), Refusal>)> {
        let results = Rc::new(RefCell::new(Vec::new()));
        let mut handles = Vec::new();
        for _ in 0..n {
            let pool = pool.clone();
            let results = results.clone();
            handles.push(tokio::task::spawn_local(async move {
                let r = pool.serve(Duration::from_millis(ms)).await;
                results.borrow_mut().push((crate::sim::time::now_ms(), r));
            }));
        }
        for h in handles {
            h.await.expect("job task");
        }
        let mut out = results.borrow().clone();
        out.sort_by_key(|(t, _)| *t);
        out
    }

    #[test]
    fn serves_in_waves_and_refuses_beyond_the_queue() {
        in_sim(|| async {
            let control = Control::new(toml::Value::Table(Default::default()));
            let pool = pool(&control, 2, 3);
            let out = burst(&pool, 6, 100).await;
            let ok: Vec<u64> = out
                .iter()
                .filter(|(_, r)| r.is_ok())
                .map(|(t, _)| *t)
                .collect();
            // 2 at once, 3 queued, 1 refused at once.
            assert_eq!(out[0], (0, Err(Refusal::QueueFull)));
            assert_eq!(ok, vec![100, 100, 200, 200, 300]);
            assert_eq!(pool.busy(), 0);
            assert_eq!(pool.queued(), 0);
        });
    }

    #[test]
    fn host_factors_shape_the_pool() {
        in_sim(|| async {
            let control = Control::new(toml::Value::Table(Default::default()));
            let pool = pool(&control, 4, 0);
            control.update_faults(|f| {
                f.service_time_factor = 3.0;
                f.capacity_factor = 0.5;
            });
            let out = burst(&pool, 3, 100).await;
            let refused = out.iter().filter(|(_, r)| r.is_err()).count();
            assert_eq!(refused, 1, "{out:?}");
            assert!(out
                .iter()
                .filter(|(_, r)| r.is_ok())
                .all(|(t, _)| *t == 300));
        });
    }

    #[test]
    fn rate_limit_gray_and_disabled() {
        in_sim(|| async {
            let control = Control::new(toml::Value::Table(Default::default()));
            let pool = pool(&control, 8, 8);
            control.update_faults(|f| {
                f.rate_limit = Some(RateLimit {
                    per_s: 2,
                    code: 429,
                })
            });
            let out = burst(&pool, 3, 10).await;
            assert_eq!(out.iter().filter(|(_, r)| r.is_ok()).count(), 2, "{out:?}");
            assert!(out.contains(&(0, Err(Refusal::RateLimited { code: 429 }))));
            control.update_faults(|f| {
                f.rate_limit = None;
                f.gray = Some(GrayMode::Work);
            });
            let started = crate::sim::time::now_ms();
            assert_eq!(
                pool.serve(Duration::from_millis(50)).await,
                Err(Refusal::Gray)
            );
            assert_eq!(crate::sim::time::now_ms() - started, 50);
            control.update_faults(|f| {
                f.gray = None;
                f.disabled = true;
            });
            assert_eq!(
                pool.serve(Duration::from_millis(50)).await,
                Err(Refusal::Disabled)
            );
        });
    }

    #[test]
    fn a_caller_that_gives_up_frees_its_place() {
        in_sim(|| async {
            let control = Control::new(toml::Value::Table(Default::default()));
            let pool = pool(&control, 1, 4);
            let done = Rc::new(Cell::new(0u32));
            let first = {
                let pool = pool.clone();
                tokio::task::spawn_local(
                    async move { pool.serve(Duration::from_millis(100)).await },
                )
            };
            tokio::task::yield_now().await;
            // A waiter that gives up after 10 ms, then one that stays.
            let quitter = {
                let pool = pool.clone();
                tokio::task::spawn_local(async move {
                    tokio::time::timeout(
                        Duration::from_millis(10),
                        pool.serve(Duration::from_millis(100)),
                    )
                    .await
                })
            };
            let stayer = {
                let pool = pool.clone();
                let done = done.clone();
                tokio::task::spawn_local(async move {
                    let r = pool.serve(Duration::from_millis(100)).await;
                    done.set(crate::sim::time::now_ms() as u32);
                    r
                })
            };
            assert_eq!(first.await.expect("task"), Ok(()));
            assert!(quitter.await.expect("task").is_err());
            assert_eq!(stayer.await.expect("task"), Ok(()));
            assert_eq!(done.get(), 200);
            assert_eq!(pool.busy(), 0);
        });
    }
}
