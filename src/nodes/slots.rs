//! Call slots: a concurrency limit held for the whole life of a call.
//!
//! A worker pool ([`crate::nodes::workers`]) models the work of admitting a
//! request; a slot models what a call holds while it lasts (a media
//! session, a licence, a process per call). A node with `slots = {
//! capacity = 4, .. }` takes one slot per call before serving it and gives
//! it back when the call ends, however it ends. When every slot is held,
//! per `when_full`:
//! - `reject` (the default): refuse at once, with a `Retry-After` hint of
//!   `retry_after` (a SIP 503 with the header; over RPC, an overload error
//!   the gateway answers 503);
//! - `queue`: wait, at most `queue_max` calls and each at most
//!   `queue_timeout`, for a slot; a call that times out in the queue, or
//!   finds it full, is refused as above, only later.
//!
//! Every change is recorded as `slot.occupancy {slots, in_use, queued,
//! capacity}` on the node, the figure to plot (slot occupancy). A node
//! without `slots` records nothing and limits nothing.
//!
//! Architecture invariant: like the pool, slots never spawn and never
//! poll; a waiting call is woken by the call that frees its slot.

use crate::history::{emit, Event};
use crate::sim::{check, Dur, FieldError};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use tokio::sync::oneshot;

/// Most slots one node may declare.
pub const CAPACITY_MAX: u32 = 100_000;

/// What a node does with a call when every slot is held.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Refuse at once.
    Reject,
    /// Wait in a bounded queue, with a timeout.
    Queue,
}

/// `slots = { capacity = 4, when_full = "queue", queue_max = 16,
/// queue_timeout = "10s", retry_after = "5s" }`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotsConfig {
    /// Calls held at once (1..=100000). Required.
    pub capacity: u32,
    /// `reject` or `queue`. Default `reject`.
    #[serde(default = "default_when_full")]
    pub when_full: WhenFull,
    /// Calls that may wait (with `queue`); one more is refused. Default 16.
    #[serde(default = "default_queue_max")]
    pub queue_max: u32,
    /// Longest wait in the queue. Default 10s.
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout: Dur,
    /// The hint a refusal carries (`Retry-After`, whole seconds, >= 1s).
    /// Default 5s.
    #[serde(default = "default_retry_after")]
    pub retry_after: Dur,
}

fn default_when_full() -> WhenFull {
    WhenFull::Reject
}
fn default_queue_max() -> u32 {
    16
}
fn default_queue_timeout() -> Dur {
    Dur::from_secs(10)
}
fn default_retry_after() -> Dur {
    Dur::from_secs(5)
}

impl SlotsConfig {
    /// `prefix` is the field path of the slots, e.g. `nodes.sip.slots`.
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        check::at_least_one(prefix, "capacity", self.capacity)?;
        if self.capacity > CAPACITY_MAX {
            return Err(FieldError::new(
                check::field(prefix, "capacity"),
                format!(
                    "{} slots; at most {CAPACITY_MAX} (limit slots::CAPACITY_MAX)",
                    self.capacity
                ),
            ));
        }
        check::at_least_one(prefix, "queue_max", self.queue_max)?;
        check::positive(prefix, "queue_timeout", self.queue_timeout)?;
        if self.retry_after.as_millis() < 1000 || !self.retry_after.as_millis().is_multiple_of(1000)
        {
            return Err(FieldError::new(
                check::field(prefix, "retry_after"),
                format!(
                    "{} is not a whole number of seconds >= 1s (Retry-After counts seconds)",
                    self.retry_after
                ),
            ));
        }
        Ok(())
    }

    /// The `Retry-After` value, in seconds.
    pub fn retry_after_s(&self) -> u64 {
        self.retry_after.as_millis() / 1000
    }
}

/// Why a call got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRefusal {
    /// Every slot held (`reject`), or the queue full (`queue`).
    Full,
    /// It waited `queue_timeout` in the queue.
    QueueTimeout,
}

impl SlotRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotRefusal::Full => "call slots full",
            SlotRefusal::QueueTimeout => "timed out waiting for a call slot",
        }
    }
}

struct State {
    config: SlotsConfig,
    in_use: u32,
    /// Waiting calls, oldest first, each with its ticket.
    queue: VecDeque<(u64, oneshot::Sender<()>)>,
    next_ticket: u64,
    /// Told the queue's length at every change (a self-shutdown trigger).
    queue_observer: Option<Box<dyn Fn(u32)>>,
}

impl State {
    fn record(&self, name: &str) {
        emit(Event::SlotOccupancy {
            slots: name,
            in_use: self.in_use as u64,
            queued: self.queue.len() as u64,
            capacity: self.config.capacity as u64,
        });
        if let Some(observe) = &self.queue_observer {
            observe(self.queue.len() as u32);
        }
    }
}

/// A node's call slots. Cheap to clone; clones share them.
#[derive(Clone)]
pub struct Slots {
    name: &'static str,
    state: Rc<RefCell<State>>,
}

/// A held slot; dropping it frees the slot (to the oldest waiter first).
pub struct SlotGuard {
    name: &'static str,
    state: Rc<RefCell<State>>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut state = self.state.borrow_mut();
        // Hand the slot to the oldest waiter still waiting; `in_use` stays.
        while let Some((_, waiter)) = state.queue.pop_front() {
            if waiter.send(()).is_ok() {
                state.record(self.name);
                return;
            }
        }
        state.in_use -= 1;
        state.record(self.name);
    }
}

impl Slots {
    /// `name` tells a node's slot pools apart in `slot.occupancy`.
    pub fn new(name: &'static str, config: SlotsConfig) -> Slots {
        Slots {
            name,
            state: Rc::new(RefCell::new(State {
                config,
                in_use: 0,
                queue: VecDeque::new(),
                next_ticket: 0,
                queue_observer: None,
            })),
        }
    }

    /// The config these slots run with.
    pub fn config(&self) -> SlotsConfig {
        self.state.borrow().config
    }

    /// Has `observe` told the queue's length after every change.
    pub fn observe_queue(&self, observe: impl Fn(u32) + 'static) {
        self.state.borrow_mut().queue_observer = Some(Box::new(observe));
    }

    /// Calls waiting for a slot now.
    pub fn queued(&self) -> u32 {
        self.state.borrow().queue.len() as u32
    }

    /// Slots held now.
    pub fn in_use(&self) -> u32 {
        self.state.borrow().in_use
    }

    /// Takes a slot: at once when one is free, else per `when_full`.
    pub async fn acquire(&self) -> Result<SlotGuard, SlotRefusal> {
        let (ticket, waiter, timeout) = {
            let mut state = self.state.borrow_mut();
            if state.in_use < state.config.capacity {
                state.in_use += 1;
                state.record(self.name);
                return Ok(self.guard());
            }
            if state.config.when_full == WhenFull::Reject
                || state.queue.len() >= state.config.queue_max as usize
            {
                return Err(SlotRefusal::Full);
            }
            let (tx, rx) = oneshot::channel();
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            state.queue.push_back((ticket, tx));
            state.record(self.name);
            (ticket, rx, state.config.queue_timeout.0)
        };
        tokio::select! {
            handed = waiter => {
                handed.expect("a queued call's sender is only dropped after sending");
                Ok(self.guard())
            }
            _ = crate::sim::time::sleep(timeout) => {
                let mut state = self.state.borrow_mut();
                state.queue.retain(|(t, _)| *t != ticket);
                state.record(self.name);
                Err(SlotRefusal::QueueTimeout)
            }
        }
    }

    fn guard(&self) -> SlotGuard {
        SlotGuard {
            name: self.name,
            state: self.state.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(capacity: u32, when_full: WhenFull) -> SlotsConfig {
        SlotsConfig {
            capacity,
            when_full,
            queue_max: 1,
            queue_timeout: Dur::from_secs(2),
            retry_after: Dur::from_secs(5),
        }
    }

    /// Runs `f` on a current-thread runtime with paused time.
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    #[test]
    fn reject_refuses_at_once_when_full_and_frees_on_drop() {
        block_on(async {
            let slots = Slots::new("t", config(1, WhenFull::Reject));
            let held = slots.acquire().await.expect("free");
            assert_eq!(slots.acquire().await.err(), Some(SlotRefusal::Full));
            drop(held);
            assert_eq!(slots.in_use(), 0);
            assert!(slots.acquire().await.is_ok());
        });
    }

    #[test]
    fn queue_hands_the_slot_over_or_times_out() {
        block_on(async {
            let slots = Slots::new("t", config(1, WhenFull::Queue));
            let held = slots.acquire().await.expect("free");
            let waiting = {
                let slots = slots.clone();
                tokio::task::spawn_local(async move { slots.acquire().await.map(|_| ()) })
            };
            tokio::task::yield_now().await;
            // The queue holds one; a second waiter is refused at once.
            assert_eq!(slots.acquire().await.err(), Some(SlotRefusal::Full));
            drop(held);
            assert_eq!(waiting.await.expect("joins"), Ok(()));
            // Nobody frees this one: the waiter times out.
            let _held = slots.acquire().await.expect("free again");
            assert_eq!(slots.acquire().await.err(), Some(SlotRefusal::QueueTimeout));
            assert_eq!(slots.state.borrow().queue.len(), 0);
        });
    }

    #[test]
    fn bad_configs_name_their_field() {
        let mut c = config(0, WhenFull::Reject);
        assert_eq!(
            c.validate("nodes.sip.slots").expect_err("0").field,
            "nodes.sip.slots.capacity"
        );
        c.capacity = 1;
        c.retry_after = Dur::from_millis(1500);
        assert_eq!(
            c.validate("nodes.sip.slots").expect_err("1.5s").field,
            "nodes.sip.slots.retry_after"
        );
        c.retry_after = Dur::from_secs(1);
        c.queue_timeout = Dur::from_millis(0);
        assert_eq!(
            c.validate("nodes.sip.slots").expect_err("0s").field,
            "nodes.sip.slots.queue_timeout"
        );
    }
}
