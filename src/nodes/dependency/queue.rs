//! The dependency's queueing model: `workers` service slots, a FIFO queue
//! of at most `queue_max` waiting requests, a service time drawn per
//! request and stretched by lock contention, so that latency emerges from
//! the load the callers offer instead of being a formula of it.
//!
//! A request takes a free slot at once, or waits at the back of the queue,
//! or is refused when the queue is full. When a slot frees, the request at
//! the head of the queue takes it, unless its caller has gone (its RPC was
//! cancelled, or its propagated deadline passed) and the node's
//! `abandoned` policy is `drop`: then it is skipped at no cost. With
//! `serve`, it is served in full for nobody (wasted work, what makes a
//! slow dependency's backlog outlast the slowness).
//!
//! A request's service time is drawn from `service_time` when it takes its
//! slot, then multiplied by the host's `service_time_factor` (a `saturate`
//! fault) and by `1 + contention * (in_service - 1)`, where `in_service`
//! counts the requests holding a slot at that moment, itself included:
//! each other request in service stretches it by `contention` (locks held
//! across requests). A `saturate` fault's `capacity_factor` scales
//! `workers` (at least one remains) and `queue_max`; a change of either
//! takes effect as slots free. `gray = work` lets the request run its
//! service time, then fails it.
//!
//! Architecture invariant: the queue never spawns and never polls; a
//! waiting request is woken by the request that frees its slot (or by an
//! arrival, when a capacity change left a slot free).

use super::config::{Abandoned, DependencyConfig};
use crate::rpc::CancelToken;
use crate::sim::control::GrayMode;
use crate::sim::rng::SimRng;
use crate::sim::ControlHandle;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use tokio::sync::oneshot;

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served.
    Ok,
    /// Every slot busy and the queue full: refused at once.
    Rejected,
    /// Its caller had gone when it reached the head of the queue, and the
    /// policy is `drop`: skipped.
    Dropped,
    /// Served, then failed (a `gray = work` fault).
    Failed,
}

/// One request's way through the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    pub outcome: Outcome,
    /// Requests waiting when it arrived.
    pub depth: u64,
    /// Time from its arrival to its slot (or to being dropped).
    pub queued_ms: u64,
    /// Its service time, after the host's factor and contention.
    pub service_ms: u64,
}

/// What a waiting request is told when it leaves the queue.
enum Admit {
    Serve,
    Drop,
}

struct Waiter {
    admit: oneshot::Sender<Admit>,
    /// The caller's token: cancelled when the caller has gone.
    caller: CancelToken,
}

struct State {
    /// Requests holding a slot.
    busy: u32,
    /// Requests waiting for a slot, oldest first.
    waiting: VecDeque<Waiter>,
}

/// The queue and its slots. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Queue {
    state: Rc<RefCell<State>>,
    control: ControlHandle,
    rng: Rc<RefCell<SimRng>>,
}

/// Frees the slot when the request ends, however it ends, and hands it on.
struct SlotGuard<'a> {
    queue: &'a Queue,
    config: &'a DependencyConfig,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.queue.state.borrow_mut().busy -= 1;
        self.queue.fill(self.config);
    }
}

impl Queue {
    pub fn new(control: ControlHandle, rng: SimRng) -> Queue {
        Queue {
            state: Rc::new(RefCell::new(State {
                busy: 0,
                waiting: VecDeque::new(),
            })),
            control,
            rng: Rc::new(RefCell::new(rng)),
        }
    }

    /// Requests holding a slot now.
    pub fn busy(&self) -> u32 {
        self.state.borrow().busy
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.state.borrow().waiting.len()
    }

    /// Serves one request under `config` (the node's current config);
    /// `caller` is cancelled when the request's caller goes away.
    pub async fn serve(&self, config: &DependencyConfig, caller: &CancelToken) -> Served {
        let arrived = crate::sim::time::now_ms();
        let (workers, queue_max) = self.limits(config);
        let (depth, admitted) = {
            let mut state = self.state.borrow_mut();
            let depth = state.waiting.len();
            if state.busy >= workers && depth >= queue_max {
                return Served {
                    outcome: Outcome::Rejected,
                    depth: depth as u64,
                    queued_ms: 0,
                    service_ms: 0,
                };
            }
            let (tx, rx) = oneshot::channel();
            state.waiting.push_back(Waiter {
                admit: tx,
                caller: caller.clone(),
            });
            (depth as u64, rx)
        };
        self.fill(config);
        let admit = admitted.await;
        let queued_ms = crate::sim::time::now_ms().saturating_sub(arrived);
        // The sender is dropped unsent only when the queue itself is gone
        // (the host is going down): nothing was served.
        let Ok(Admit::Serve) = admit else {
            return Served {
                outcome: Outcome::Dropped,
                depth,
                queued_ms,
                service_ms: 0,
            };
        };
        let _slot = SlotGuard {
            queue: self,
            config,
        };
        let service = self.service_time(config);
        crate::sim::time::sleep(service).await;
        let outcome = if self.control.faults().gray == Some(GrayMode::Work) {
            Outcome::Failed
        } else {
            Outcome::Ok
        };
        Served {
            outcome,
            depth,
            queued_ms,
            service_ms: service.as_millis() as u64,
        }
    }

    /// Hands free slots to the requests at the head of the queue, skipping
    /// (with `drop`) those whose caller has gone.
    fn fill(&self, config: &DependencyConfig) {
        let (workers, _) = self.limits(config);
        let mut state = self.state.borrow_mut();
        while state.busy < workers {
            let Some(waiter) = state.waiting.pop_front() else {
                return;
            };
            if config.abandoned == Abandoned::Drop && waiter.caller.is_cancelled() {
                let _ = waiter.admit.send(Admit::Drop);
                continue;
            }
            if waiter.admit.send(Admit::Serve).is_ok() {
                state.busy += 1;
            }
        }
    }

    /// This request's service time: drawn, times the host's saturation,
    /// times the contention of the requests in service with it.
    fn service_time(&self, config: &DependencyConfig) -> std::time::Duration {
        let drawn = config.service_time.draw(&mut self.rng.borrow_mut());
        let faults = self.control.faults();
        let saturation = if faults.service_time_factor.is_finite() {
            faults.service_time_factor.max(0.0)
        } else {
            1.0
        };
        let others = self.busy().saturating_sub(1) as f64;
        drawn.mul_f64(saturation * (1.0 + config.contention * others))
    }

    /// Slots and queue bound after the host's capacity factor.
    fn limits(&self, config: &DependencyConfig) -> (u32, usize) {
        let faults = self.control.faults();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::carrier::callee::Delay;
    use crate::sim::control::Control;
    use crate::sim::in_sim;
    use crate::sim::Dur;

    fn config(workers: u32, queue_max: u32, ms: u64, contention: f64) -> DependencyConfig {
        DependencyConfig {
            workers,
            queue_max,
            service_time: Delay::Fixed(Dur::from_millis(ms)),
            contention,
            abandoned: Abandoned::Serve,
        }
    }

    fn queue(control: &Control) -> Queue {
        Queue::new(control.handle(), crate::sim::rng::rng_for(1, &["test"]))
    }

    /// Starts one request per token at once; returns each one's finish
    /// time and what it got, in the order they were started.
    async fn burst(
        queue: &Queue,
        config: &DependencyConfig,
        callers: Vec<CancelToken>,
    ) -> Vec<(u64, Served)> {
        let mut handles = Vec::new();
        for caller in callers {
            let queue = queue.clone();
            let config = config.clone();
            handles.push(tokio::task::spawn_local(async move {
                let served = queue.serve(&config, &caller).await;
                (crate::sim::time::now_ms(), served)
            }));
            // Arrivals in a known order.
            tokio::task::yield_now().await;
        }
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.expect("request task"));
        }
        out
    }

    fn tokens(n: usize) -> Vec<CancelToken> {
        (0..n).map(|_| CancelToken::new()).collect()
    }

    #[test]
    fn one_slot_serves_in_order_and_the_kth_waits_k_service_times() {
        in_sim(|| async {
            let control = Control::new(toml::Value::Table(Default::default()));
            let q = queue(&control);
            let c = config(1, 3, 100, 0.0);
            let out = burst(&q, &c, tokens(5)).await;
            // One served at once, three queued, the fifth refused.
            let finish: Vec<u64> = out.iter().map(|(t, _)| *t).collect();
            assert_eq!(finish, vec![100, 200, 300, 400, 0]);
            let waits: Vec<u64> = out.iter().map(|(_, s)| s.queued_ms).collect();
            assert_eq!(waits, vec![0, 100, 200, 300, 0]);
            let depths: Vec<u64> = out.iter().map(|(_, s)| s.depth).collect();
            assert_eq!(depths, vec![0, 0, 1, 2, 3]);
            assert_eq!(out[4].1.outcome, Outcome::Rejected);
            assert_eq!((q.busy(), q.waiting()), (0, 0));
        });
    }

    #[test]
    fn contention_stretches_service_with_the_requests_in_service() {
        in_sim(|| async {
            let control = Control::new(toml::Value::Table(Default::default()));
            let q = queue(&control);
            // Three slots, 0.5 per other request in service: the first
            // alone (100), the second with one other (150), the third
            // with two (200).
            let c = config(3, 0, 100, 0.5);
            let out = burst(&q, &c, tokens(3)).await;
            let service: Vec<u64> = out.iter().map(|(_, s)| s.service_ms).collect();
            assert_eq!(service, vec![100, 150, 200]);
        });
    }

    #[test]
    fn abandoned_requests_are_dropped_or_served_by_policy() {
        for (policy, want, last_done_ms) in [
            (Abandoned::Drop, Outcome::Dropped, 200),
            (Abandoned::Serve, Outcome::Ok, 300),
        ] {
            in_sim(move || async move {
                let control = Control::new(toml::Value::Table(Default::default()));
                let q = queue(&control);
                let mut c = config(1, 8, 100, 0.0);
                c.abandoned = policy;
                let callers = tokens(3);
                // The second caller leaves while it waits.
                callers[1].cancel();
                let out = burst(&q, &c, callers).await;
                assert_eq!(out[1].1.outcome, want);
                assert_eq!(out[2].1.outcome, Outcome::Ok);
                assert_eq!(out[2].0, last_done_ms);
            });
        }
    }

    #[test]
    fn saturation_scales_service_and_capacity_and_gray_fails_the_work() {
        in_sim(|| async {
            let control = Control::new(toml::Value::Table(Default::default()));
            let q = queue(&control);
            let c = config(4, 4, 100, 0.0);
            control.update_faults(|f| {
                f.service_time_factor = 3.0;
                f.capacity_factor = 0.5;
            });
            // Two slots and a queue of two: the fifth is refused, the
            // rest take 300 each, two at a time.
            let out = burst(&q, &c, tokens(5)).await;
            let finish: Vec<u64> = out.iter().map(|(t, _)| *t).collect();
            assert_eq!(finish, vec![300, 300, 600, 600, 0]);
            control.update_faults(|f| {
                f.service_time_factor = 1.0;
                f.capacity_factor = 1.0;
                f.gray = Some(GrayMode::Work);
            });
            let started = crate::sim::time::now_ms();
            let served = q.serve(&c, &CancelToken::new()).await;
            assert_eq!(served.outcome, Outcome::Failed);
            assert_eq!(crate::sim::time::now_ms() - started, 100);
        });
    }

    #[test]
    fn slots_restored_after_a_capacity_cut_are_used_again() {
        in_sim(|| async {
            let control = Control::new(toml::Value::Table(Default::default()));
            let q = queue(&control);
            let c = config(2, 8, 100, 0.0);
            control.update_faults(|f| f.capacity_factor = 0.5);
            let first = burst(&q, &c, tokens(2)).await;
            assert_eq!(first[1].0, 200, "one slot: in series");
            control.update_faults(|f| f.capacity_factor = 1.0);
            let started = crate::sim::time::now_ms();
            let second = burst(&q, &c, tokens(2)).await;
            assert!(
                second.iter().all(|(t, _)| *t == started + 100),
                "{second:?}"
            );
        });
    }
}
