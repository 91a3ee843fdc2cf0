//! Call workers (hosts `call-worker-1`..`call-worker-N`, `pods = N`):
//! workers that take inbound calls from a dispatcher they register with.
//!
//! Each pod holds one persistent TCP connection to its `dispatcher`
//! (protocol in [`crate::nodes::registration`]): it connects (giving up
//! after `connect_timeout`), registers, and waits for the dispatcher's ack
//! (also within `connect_timeout`). Registered, it takes dispatches and
//! decides each as the agent does (`answer_after`, a seeded share
//! `reject_share` rejected with `reject_code`), and, with `keepalive`,
//! sends a keepalive every `interval` that must be acked within `timeout`.
//!
//! A session ends when the connection closes or resets, or a keepalive
//! goes unacked; the worker records `worker.lost {reason}` and, with
//! `reconnect`, registers again after `backoff`, multiplied by `factor`
//! for each further attempt in a row that did not register, up to `max`.
//! With `reconnect = false` a worker that is not registered never tries
//! again (its first attempt included). With `keepalive = false` a worker
//! only reads: a connection a partition silently broke (turmoil's TCP
//! does not retransmit a dropped segment, and a FIN sent across the cut
//! never arrives) looks open to it for ever, so it never registers again,
//! whatever the dispatcher decided meanwhile.
//!
//! Events: `worker.register {dispatcher, attempt}` at each attempt,
//! `worker.lost {reason}` when an attempt or a session ends, and
//! `dispatch.received {call}` for each dispatch taken.

use crate::history::{emit, Event};
use crate::net::frame::{read_frame, write_frame};
use crate::nodes::methods::{Decision, Dispatch};
use crate::nodes::ports;
use crate::nodes::registration::{self, Keepalive, Reconnect, ToDispatcher, ToWorker};
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::sim::rng::rng_for;
use crate::sim::time::{now_ms, sleep, sleep_until_ms};
use crate::sim::{check, Dur, FieldError, NodeCtx, Topology};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::rc::Rc;
use tokio::sync::{Mutex, Notify};
use turmoil::net::tcp::OwnedWriteHalf;
use turmoil::net::TcpStream;

/// `[nodes.call-worker]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallWorkerConfig {
    /// Number of worker pods. Default 1.
    #[serde(default = "default_pods")]
    pub pods: u32,
    /// The dispatcher the workers register with. Default `dispatcher`.
    #[serde(default = "default_dispatcher")]
    pub dispatcher: String,
    /// Keepalives: `{ interval = "5s", timeout = "2s" }` (the default),
    /// `true` for those defaults, or `false` for none.
    #[serde(
        default = "default_keepalive",
        deserialize_with = "registration::off_or",
        serialize_with = "registration::write_off_or"
    )]
    #[schemars(schema_with = "registration::off_or_schema::<Keepalive>")]
    pub keepalive: Option<Keepalive>,
    /// Registering again after a loss: `{ backoff = "1s", factor = 2.0,
    /// max = "30s" }` (the default), `true` for those defaults, or `false`
    /// to never try again.
    #[serde(
        default = "default_reconnect",
        deserialize_with = "registration::off_or",
        serialize_with = "registration::write_off_or"
    )]
    #[schemars(schema_with = "registration::off_or_schema::<Reconnect>")]
    pub reconnect: Option<Reconnect>,
    /// Longest wait for the connection, and then for the registration's
    /// ack. Default 2s.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Dur,
    /// Delay before the worker decides on a dispatched call. Default 500ms.
    #[serde(default = "default_answer_after")]
    pub answer_after: Dur,
    /// Share of dispatched calls rejected, drawn per call. Default 0.
    #[serde(default)]
    pub reject_share: f64,
    /// Code of a rejection. Default 603.
    #[serde(default = "default_reject_code")]
    pub reject_code: u16,
}

fn default_pods() -> u32 {
    1
}
fn default_dispatcher() -> String {
    "dispatcher".into()
}
fn default_keepalive() -> Option<Keepalive> {
    Some(Keepalive::default())
}
fn default_reconnect() -> Option<Reconnect> {
    Some(Reconnect::default())
}
fn default_connect_timeout() -> Dur {
    Dur::from_secs(2)
}
fn default_answer_after() -> Dur {
    Dur::from_millis(500)
}
fn default_reject_code() -> u16 {
    603
}

impl NodeConfig for CallWorkerConfig {
    fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        let dispatchers = topology
            .hosts
            .iter()
            .any(|h| h.name == self.dispatcher && h.kind == "dispatcher");
        if !dispatchers {
            if !topology.resolves(&self.dispatcher) {
                return Err(check::unknown_node(
                    check::field(prefix, "dispatcher"),
                    &self.dispatcher,
                    topology,
                ));
            }
            return Err(FieldError::new(
                check::field(prefix, "dispatcher"),
                format!("{:?} is not a dispatcher host", self.dispatcher),
            ));
        }
        if let Some(k) = &self.keepalive {
            k.validate(&check::field(prefix, "keepalive"))?;
        }
        if let Some(r) = &self.reconnect {
            r.validate(&check::field(prefix, "reconnect"))?;
        }
        check::positive(prefix, "connect_timeout", self.connect_timeout)?;
        check::share(prefix, "reject_share", self.reject_share)?;
        if !(300..=699).contains(&self.reject_code) {
            return Err(FieldError::new(
                check::field(prefix, "reject_code"),
                format!(
                    "{} is not a final SIP error code (300..699)",
                    self.reject_code
                ),
            ));
        }
        Ok(())
    }

    fn pods(&self) -> Option<u32> {
        Some(self.pods)
    }
}

pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let mut attempt = 0u64;
    // Attempts in a row that did not register.
    let mut failures = 0u32;
    loop {
        let config: CallWorkerConfig = ctx.config();
        attempt += 1;
        emit(Event::WorkerRegister {
            dispatcher: &config.dispatcher,
            attempt,
        });
        let registered = Cell::new(false);
        let reason = session(&ctx, &config, &registered).await;
        emit(Event::WorkerLost { reason });
        failures = if registered.get() { 0 } else { failures + 1 };
        let Some(reconnect) = ctx.config::<CallWorkerConfig>().reconnect else {
            // Stranded by design: nothing brings this worker back.
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes");
        };
        // `backoff` after a registered session; times `factor` for each
        // attempt in a row that did not register.
        sleep(std::time::Duration::from_millis(
            reconnect.delay_ms(failures),
        ))
        .await;
    }
}

type Writer = Rc<Mutex<OwnedWriteHalf>>;

/// Writes one frame, or fails (a write that blocks is the caller's to
/// time out).
async fn send(wr: &Writer, frame: &ToDispatcher) -> bool {
    write_frame(&mut *wr.lock().await, frame).await.is_ok()
}

/// One connection: register, then serve until it ends; returns why.
async fn session(
    ctx: &NodeCtx,
    config: &CallWorkerConfig,
    registered: &Cell<bool>,
) -> &'static str {
    let connect_timeout = config.connect_timeout.0;
    let stream = tokio::select! {
        r = TcpStream::connect((config.dispatcher.as_str(), ports::REGISTRATION)) => match r {
            Ok(s) => s,
            Err(_) => return "connect refused",
        },
        _ = sleep(connect_timeout) => return "connect timeout",
    };
    let (mut rd, wr) = stream.into_split();
    let wr: Writer = Rc::new(Mutex::new(wr));
    let register = ToDispatcher::Register {
        worker: ctx.name.to_string(),
        keepalive_ms: config.keepalive.map(|k| k.interval.as_millis()),
    };
    let acked = async {
        if !send(&wr, &register).await {
            return Err("write failed");
        }
        match read_frame::<_, ToWorker>(&mut rd).await {
            Ok(Some(ToWorker::Registered)) => Ok(()),
            Ok(Some(_)) => Err("protocol error"),
            Ok(None) => Err("connection closed"),
            Err(_) => Err("connection reset"),
        }
    };
    let acked = tokio::select! {
        r = acked => r,
        _ = sleep(connect_timeout) => Err("no registration ack"),
    };
    if let Err(reason) = acked {
        return reason;
    }
    registered.set(true);
    let last_ack = Rc::new(Cell::new(0u64));
    let ack_seen = Rc::new(Notify::new());
    let reader = async {
        loop {
            match read_frame::<_, ToWorker>(&mut rd).await {
                Ok(Some(ToWorker::Dispatch { id, dispatch })) => {
                    emit(Event::DispatchReceived {
                        call: &dispatch.call,
                    });
                    let (ctx, wr) = (ctx.clone(), wr.clone());
                    crate::sim::spawn(async move {
                        let decision = decide(&ctx, &dispatch).await;
                        // A decision for a connection that broke meanwhile
                        // is lost with it; the dispatcher times it out.
                        let frame = ToDispatcher::Decision { id, decision };
                        let _ = send(&wr, &frame).await;
                    });
                }
                Ok(Some(ToWorker::KeepaliveAck { seq })) => {
                    last_ack.set(last_ack.get().max(seq));
                    ack_seen.notify_one();
                }
                Ok(Some(ToWorker::Registered)) => {}
                Ok(None) => return "connection closed",
                Err(_) => return "connection reset",
            }
        }
    };
    let keepalives = async {
        let Some(keepalive) = config.keepalive else {
            return std::future::pending().await;
        };
        for seq in 1u64.. {
            sleep(keepalive.interval.0).await;
            let until = now_ms() + keepalive.timeout.as_millis();
            let exchange = async {
                if !send(&wr, &ToDispatcher::Keepalive { seq }).await {
                    return Some("write failed");
                }
                while last_ack.get() < seq {
                    ack_seen.notified().await;
                }
                None
            };
            let failed = tokio::select! {
                r = exchange => r,
                _ = sleep_until_ms(until) => Some("keepalive timeout"),
            };
            if let Some(reason) = failed {
                return reason;
            }
        }
        unreachable!("keepalive sequence numbers run out")
    };
    tokio::select! {
        reason = reader => reason,
        reason = keepalives => reason,
    }
}

/// Accept or reject a dispatched call after `answer_after`.
async fn decide(ctx: &NodeCtx, dispatch: &Dispatch) -> Decision {
    let config: CallWorkerConfig = ctx.config();
    sleep(config.answer_after.0).await;
    // Per call, so that the draw does not depend on arrival order.
    let mut rng = rng_for(ctx.seed, &["call-worker.reject", &dispatch.call]);
    if config.reject_share > 0.0 && rng.gen_bool(config.reject_share) {
        Decision::Reject {
            code: config.reject_code,
        }
    } else {
        Decision::Accept
    }
}

/// The `CallWorkerKind` node kind, as the registry lists it.
pub struct CallWorkerKind;

impl crate::nodes::NodeKind for CallWorkerKind {
    const ABOUT: &'static str =
        "Workers that register with a dispatcher over a persistent connection (keepalive, reconnect with backoff) and decide the calls it dispatches.";
    type Config = CallWorkerConfig;
    // Its keepalives, timeouts and answer delay read the host's clock.
    const FAULTS: &'static [FaultSupport] = &[FaultSupport::new("clock", &[])];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
