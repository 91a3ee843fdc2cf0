//! The dispatcher (host `dispatcher`): a registry of call workers, and the
//! door through which the gateway's inbound dispatches reach them.
//!
//! Workers ([`crate::nodes::call_worker`]) register over persistent TCP
//! connections on [`ports::REGISTRATION`] (protocol in
//! [`crate::nodes::registration`]). A registration is dropped, recorded as
//! `worker.expired {worker, reason}`, when:
//! - `expiry`: the worker promised keepalives and nothing came from it for
//!   `expiry` (any frame counts: a keepalive, a decision);
//! - `connection closed` / `connection reset`: its connection ended;
//! - `no answer`: a dispatch to it got no decision within
//!   `worker_timeout` (the dispatcher closes the connection);
//! - `replaced`: the same worker registered again on a new connection.
//!
//! A worker registered without keepalives is held as long as its
//! connection, as a WebSocket without pings is.
//!
//! The dispatcher serves `agent.dispatch` on [`ports::AGENT`], the same
//! protocol the agent serves, so a gateway whose `agent` names it passes
//! its inbound calls here. Each dispatch goes to the next registered
//! worker **round robin** (by host name, after the last one chosen),
//! recorded as `dispatch.sent {call, worker}`; a worker that gives no
//! decision within `worker_timeout`, or whose connection fails, is dropped
//! and the call goes to the next one not yet tried, within the request's
//! deadline. With no worker (left) to try, it records `dispatch.none
//! {call}` and answers the RPC error `unavailable` ("no worker
//! registered"), which the gateway passes on and the SIP service turns into
//! a 480.

use crate::history::{emit, Event};
use crate::net::frame::{read_frame, write_frame};
use crate::nodes::methods::{self, Decision, Dispatch};
use crate::nodes::ports;
use crate::nodes::registration::{ToDispatcher, ToWorker};
use crate::nodes::FaultSupport;
use crate::nodes::NodeConfig;
use crate::rpc::{self, ErrorCode, Incoming, RpcError};
use crate::sim::time::{now_ms, sleep_until_ms};
use crate::sim::{check, Dur, FieldError, NodeCtx, Topology};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use tokio::sync::{oneshot, Mutex, Notify};
use turmoil::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use turmoil::net::{TcpListener, TcpStream};

/// `[nodes.dispatcher]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatcherConfig {
    /// A worker that promised keepalives and is not heard from for this
    /// long is expired. Default 15s.
    #[serde(default = "default_expiry")]
    pub expiry: Dur,
    /// Longest wait for a worker's decision on one dispatch (also for
    /// writing a frame to it); past it the worker is dropped and the call
    /// tried on the next. Default 2s.
    #[serde(default = "default_worker_timeout")]
    pub worker_timeout: Dur,
}

fn default_expiry() -> Dur {
    Dur::from_secs(15)
}
fn default_worker_timeout() -> Dur {
    Dur::from_secs(2)
}

impl NodeConfig for DispatcherConfig {
    fn validate(&self, prefix: &str, _topology: &Topology) -> Result<(), FieldError> {
        check::positive(prefix, "expiry", self.expiry)?;
        check::positive(prefix, "worker_timeout", self.worker_timeout)
    }
}

type Writer = Rc<Mutex<OwnedWriteHalf>>;

/// One registration.
struct Registration {
    /// The connection it lives on (a worker that registers again gets a
    /// new one).
    conn: u64,
    writer: Writer,
    /// Dispatches awaiting this worker's decision, by id.
    pending: BTreeMap<u64, oneshot::Sender<Decision>>,
    /// Tells the connection's task to close it.
    close: Rc<Notify>,
}

#[derive(Default)]
struct Registry {
    workers: BTreeMap<String, Registration>,
    /// The worker chosen last (round robin goes on after it).
    last: Option<String>,
    next_conn: u64,
    next_id: u64,
}

#[derive(Clone)]
struct Dispatcher {
    ctx: NodeCtx,
    registry: Rc<RefCell<Registry>>,
}

pub async fn run(ctx: NodeCtx) -> turmoil::Result {
    let dispatcher = Dispatcher {
        ctx,
        registry: Rc::default(),
    };
    let rpc_side = dispatcher.clone();
    crate::sim::spawn(async move {
        let _ = rpc::serve(ports::AGENT, move |req| {
            let d = rpc_side.clone();
            async move { d.dispatch(req).await }
        })
        .await;
    });
    let listener =
        TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), ports::REGISTRATION)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let d = dispatcher.clone();
        crate::sim::spawn(async move { d.connection(stream).await });
    }
}

impl Dispatcher {
    fn config(&self) -> DispatcherConfig {
        self.ctx.config()
    }

    /// Drops `worker`'s registration if it still lives on `conn`, and
    /// records why; its pending dispatches fail, its connection closes.
    fn drop_worker(&self, worker: &str, conn: u64, reason: &str) {
        let removed = {
            let mut registry = self.registry.borrow_mut();
            match registry.workers.get(worker) {
                Some(r) if r.conn == conn => registry.workers.remove(worker),
                _ => None,
            }
        };
        if let Some(r) = removed {
            r.close.notify_one();
            emit(Event::WorkerExpired { worker, reason });
        }
    }

    /// One worker's connection: its registration, then its frames until it
    /// ends or is dropped.
    async fn connection(&self, stream: TcpStream) {
        let config = self.config();
        let (mut rd, wr) = stream.into_split();
        // The first frame must come soon and be a registration.
        let first = tokio::select! {
            f = read_frame::<_, ToDispatcher>(&mut rd) => f,
            _ = crate::sim::time::sleep(config.worker_timeout.0) => return,
        };
        let Ok(Some(ToDispatcher::Register {
            worker,
            keepalive_ms,
        })) = first
        else {
            return;
        };
        let writer: Writer = Rc::new(Mutex::new(wr));
        let close = Rc::new(Notify::new());
        let (conn, replaced) = {
            let mut registry = self.registry.borrow_mut();
            registry.next_conn += 1;
            let conn = registry.next_conn;
            let replaced = registry.workers.insert(
                worker.clone(),
                Registration {
                    conn,
                    writer: writer.clone(),
                    pending: BTreeMap::new(),
                    close: close.clone(),
                },
            );
            (conn, replaced)
        };
        if let Some(old) = replaced {
            old.close.notify_one();
            emit(Event::WorkerExpired {
                worker: &worker,
                reason: "replaced",
            });
        }
        emit(Event::WorkerRegistered { worker: &worker });
        if !self.write(&writer, &ToWorker::Registered).await {
            self.drop_worker(&worker, conn, "connection reset");
            return;
        }
        self.serve_worker(
            &worker,
            conn,
            keepalive_ms.is_some(),
            &mut rd,
            &writer,
            &close,
        )
        .await;
    }

    async fn serve_worker(
        &self,
        worker: &str,
        conn: u64,
        keepalives: bool,
        rd: &mut OwnedReadHalf,
        writer: &Writer,
        close: &Notify,
    ) {
        loop {
            let expires_at = keepalives.then(|| now_ms() + self.config().expiry.as_millis());
            let expired = async {
                match expires_at {
                    Some(at) => sleep_until_ms(at).await,
                    None => std::future::pending().await,
                }
            };
            let frame = tokio::select! {
                f = read_frame::<_, ToDispatcher>(rd) => f,
                _ = expired => {
                    self.drop_worker(worker, conn, "expiry");
                    return;
                }
                _ = close.notified() => return,
            };
            match frame {
                Ok(Some(ToDispatcher::Keepalive { seq })) => {
                    if !self.write(writer, &ToWorker::KeepaliveAck { seq }).await {
                        self.drop_worker(worker, conn, "no answer");
                        return;
                    }
                }
                Ok(Some(ToDispatcher::Decision { id, decision })) => {
                    let waiting = self
                        .registry
                        .borrow_mut()
                        .workers
                        .get_mut(worker)
                        .filter(|r| r.conn == conn)
                        .and_then(|r| r.pending.remove(&id));
                    if let Some(tx) = waiting {
                        let _ = tx.send(decision);
                    }
                }
                Ok(Some(ToDispatcher::Register { .. })) => {}
                Ok(None) => {
                    self.drop_worker(worker, conn, "connection closed");
                    return;
                }
                Err(_) => {
                    self.drop_worker(worker, conn, "connection reset");
                    return;
                }
            }
        }
    }

    /// Writes a frame within `worker_timeout` (a broken connection can
    /// block a write for ever); false when it failed or timed out.
    async fn write(&self, writer: &Writer, frame: &ToWorker) -> bool {
        let timeout = self.config().worker_timeout.0;
        let write = async { write_frame(&mut *writer.lock().await, frame).await.is_ok() };
        tokio::select! {
            ok = write => ok,
            _ = crate::sim::time::sleep(timeout) => false,
        }
    }

    /// The next registered worker after the last one chosen, round robin,
    /// among those not `tried`: its name, connection and writer, and a
    /// dispatch id whose decision arrives on the receiver.
    fn next_worker(
        &self,
        tried: &BTreeSet<String>,
    ) -> Option<(String, u64, Writer, u64, oneshot::Receiver<Decision>)> {
        let mut registry = self.registry.borrow_mut();
        let after = registry.last.clone().unwrap_or_default();
        let name = {
            let untried = registry
                .workers
                .keys()
                .filter(|w| !tried.contains(*w))
                .cloned();
            let (later, earlier): (Vec<String>, Vec<String>) = untried.partition(|w| *w > after);
            later.into_iter().chain(earlier).next()?
        };
        registry.last = Some(name.clone());
        registry.next_id += 1;
        let id = registry.next_id;
        let (tx, rx) = oneshot::channel();
        let r = registry
            .workers
            .get_mut(&name)
            .expect("chosen from the map");
        r.pending.insert(id, tx);
        Some((name, r.conn, r.writer.clone(), id, rx))
    }

    /// `agent.dispatch`: the decision of a registered worker.
    async fn dispatch(&self, req: Incoming) -> Result<serde_json::Value, RpcError> {
        if req.method != methods::AGENT_DISPATCH {
            return Err(RpcError::new(ErrorCode::NotFound, req.method));
        }
        let dispatch: Dispatch = methods::from_body(req.body)?;
        let call = dispatch.call.as_str();
        let mut tried = BTreeSet::new();
        loop {
            let Some((worker, conn, writer, id, rx)) = self.next_worker(&tried) else {
                emit(Event::DispatchNone { call });
                let message = if tried.is_empty() {
                    "no worker registered"
                } else {
                    "no registered worker answered"
                };
                return Err(RpcError::new(ErrorCode::Unavailable, message));
            };
            tried.insert(worker.clone());
            emit(Event::DispatchSent {
                call,
                worker: &worker,
            });
            let timeout_at = now_ms() + self.config().worker_timeout.as_millis();
            let frame = ToWorker::Dispatch {
                id,
                dispatch: dispatch.clone(),
            };
            let answered = async {
                if write_frame(&mut *writer.lock().await, &frame)
                    .await
                    .is_err()
                {
                    return Err("connection reset");
                }
                // A closed sender: the registration went meanwhile.
                rx.await.map_err(|_| "connection closed")
            };
            let outcome = tokio::select! {
                r = answered => r,
                _ = sleep_until_ms(timeout_at) => Err("no answer"),
                _ = req.cancel.cancelled() => {
                    self.forget(&worker, conn, id);
                    return Err(RpcError::new(ErrorCode::Cancelled, "cancelled"));
                }
            };
            match outcome {
                Ok(decision) => return Ok(methods::to_body(&decision)),
                Err(reason) => self.drop_worker(&worker, conn, reason),
            }
        }
    }

    /// Forgets a dispatch no one waits for any more.
    fn forget(&self, worker: &str, conn: u64, id: u64) {
        if let Some(r) = self
            .registry
            .borrow_mut()
            .workers
            .get_mut(worker)
            .filter(|r| r.conn == conn)
        {
            r.pending.remove(&id);
        }
    }
}

/// The `DispatcherKind` node kind, as the registry lists it.
pub struct DispatcherKind;

impl crate::nodes::NodeKind for DispatcherKind {
    const ABOUT: &'static str =
        "Keeps the registrations of call workers (expiry) and dispatches inbound calls to them round robin (`agent.dispatch`).";
    type Config = DispatcherConfig;
    // Expiry and the per-worker timeout read the host's clock.
    const FAULTS: &'static [FaultSupport] = &[FaultSupport::new("clock", &[])];
    async fn run(ctx: NodeCtx) -> turmoil::Result {
        run(ctx).await
    }
}
