//! The admin port of resource nodes (LBs, SBC pods): how the deployer
//! creates and deletes them over the simulated network.
//!
//! CONTRACTS.md: "each resource node has an admin port; the deployer applies
//! its diff by calling it; a deleted resource stops serving (its data-plane
//! sockets are closed) until it is created again". This module is both
//! sides of that port:
//! - the wire protocol: one length-framed JSON request per exchange on TCP
//!   [`ADMIN_PORT`] (`{"op":"create"}`, `{"op":"delete"}`,
//!   `{"op":"status"}`, and `{"op":"drain"}`, a wave-2 addition: take no
//!   new work before a delete), answered by an [`AdminReply`] with the resource's
//!   liveness after the request. A connection may carry several exchanges.
//! - [`serve`]: the resource node's admin server. It returns a
//!   [`Liveness`] the node's data plane follows: open its sockets while
//!   live, close them while deleted.
//! - [`call`]: the client the deployer uses, bounded by a timeout.
//!
//! A resource is live when it was not deleted through this port AND the
//! fault plan has not disabled it (`NodeFaults::disabled`, a resource down
//! by hand). Create and delete are idempotent. The state lives in the
//! host's memory, so a restart with state loss brings the resource back in
//! its configured start state.

use crate::net::frame::{read_frame, write_frame};
use crate::sim::NodeCtx;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::watch;

/// TCP port of every resource node's admin server.
pub const ADMIN_PORT: u16 = 9000;

/// Most admin connections served at once; more are closed on accept. The
/// deployer opens one at a time, so this only bounds a misbehaving client.
pub const ADMIN_CONNECTIONS_MAX: usize = 8;

/// One admin request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AdminRequest {
    /// Bring the resource up (open its data plane). Idempotent.
    Create,
    /// Take the resource down (close its data plane). Idempotent.
    Delete,
    /// Report whether the resource exists.
    Status,
    /// Stop taking new work but finish what is under way (a deregistration
    /// delay before a delete): a draining LB refuses new calls with 503 so
    /// callers move to another entry, and keeps relaying the dialogs it is
    /// in. Cleared by a create or a delete. Idempotent.
    Drain,
}

/// The answer to every request: whether the resource exists afterwards
/// (as the deployer sees it: created and not deleted through this port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminReply {
    pub created: bool,
}

/// The data plane's view of a resource: live or not, with a way to wait
/// for a change. Cheap to clone.
#[derive(Clone)]
pub struct Liveness {
    rx: watch::Receiver<bool>,
    /// Draining: asked to take no new work (see [`AdminRequest::Drain`]).
    draining: Rc<Cell<bool>>,
}

impl Liveness {
    /// A resource that is always live (for nodes run without an admin
    /// port, and tests).
    pub fn always() -> Liveness {
        let (tx, rx) = watch::channel(true);
        // The sender is dropped: the value never changes, and `changed()`
        // reports an error that the waiters below treat as "forever".
        drop(tx);
        Liveness {
            rx,
            draining: Rc::default(),
        }
    }

    /// Whether the resource is draining: live, but to take no new work.
    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }

    pub fn is_live(&self) -> bool {
        *self.rx.borrow()
    }

    /// Returns once the resource is live.
    pub async fn until_live(&mut self) {
        self.until(true).await
    }

    /// Returns once the resource is down (deleted or disabled); never, if
    /// it cannot change any more.
    pub async fn until_down(&mut self) {
        self.until(false).await
    }

    async fn until(&mut self, live: bool) {
        loop {
            if *self.rx.borrow_and_update() == live {
                return;
            }
            if self.rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Starts the admin server of a resource node and returns its liveness.
/// `start_created` is the resource's state at boot (false for a resource a
/// scenario lets the deployer create later).
pub fn serve(ctx: &NodeCtx, start_created: bool) -> Liveness {
    let created = Rc::new(watch::Sender::new(start_created));
    let (live_tx, live_rx) = watch::channel(false);

    // Liveness = created through the admin port AND not disabled by the
    // fault plan. One small task follows both inputs; it only wakes when
    // one of them changes.
    let mut created_rx = created.subscribe();
    let mut faults_rx = ctx.control.fault_changes();
    crate::sim::spawn(async move {
        loop {
            let live = *created_rx.borrow_and_update() && !faults_rx.borrow_and_update().disabled;
            live_tx.send_if_modified(|v| std::mem::replace(v, live) != live);
            tokio::select! {
                r = created_rx.changed() => if r.is_err() { return },
                r = faults_rx.changed() => if r.is_err() { return },
            }
        }
    });

    let name = ctx.name.clone();
    let draining: Rc<Cell<bool>> = Rc::default();
    let drain_flag = draining.clone();
    crate::sim::spawn(async move {
        if let Err(e) = accept_loop(created, drain_flag).await {
            // Binding the admin port only fails if the host reuses it,
            // which is a bug in the node, not an outcome to simulate.
            panic!("{name}: admin server failed: {e}");
        }
    });
    Liveness {
        rx: live_rx,
        draining,
    }
}

async fn accept_loop(created: Rc<watch::Sender<bool>>, draining: Rc<Cell<bool>>) -> io::Result<()> {
    let listener =
        turmoil::net::TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), ADMIN_PORT)).await?;
    let open = Rc::new(Cell::new(0usize));
    loop {
        let (stream, _) = listener.accept().await?;
        if open.get() >= ADMIN_CONNECTIONS_MAX {
            drop(stream);
            continue;
        }
        open.set(open.get() + 1);
        let (created, draining) = (created.clone(), draining.clone());
        let open = open.clone();
        crate::sim::spawn(async move {
            // A broken connection ends the exchange; the client sees it.
            let _ = serve_connection(stream, &created, &draining).await;
            open.set(open.get() - 1);
        });
    }
}

/// How much later a create or delete takes effect when `admin.apply_late`
/// fires.
pub const APPLY_LATE_DELAY: Duration = Duration::from_secs(2);

async fn serve_connection(
    mut stream: turmoil::net::TcpStream,
    created: &watch::Sender<bool>,
    draining: &Cell<bool>,
) -> io::Result<()> {
    while let Some(request) = read_frame::<_, AdminRequest>(&mut stream).await? {
        // Fault point: the change takes effect (and is acknowledged) late.
        if request != AdminRequest::Status
            && crate::sim::buggify::here(crate::sim::buggify::ADMIN_APPLY_LATE)
        {
            crate::sim::time::sleep(APPLY_LATE_DELAY).await;
        }
        match request {
            AdminRequest::Create => {
                draining.set(false);
                set(created, true)
            }
            AdminRequest::Delete => {
                draining.set(false);
                set(created, false)
            }
            AdminRequest::Drain => draining.set(*created.borrow()),
            AdminRequest::Status => {}
        }
        let reply = AdminReply {
            created: *created.borrow(),
        };
        write_frame(&mut stream, &reply).await?;
    }
    Ok(())
}

fn set(created: &watch::Sender<bool>, value: bool) {
    created.send_if_modified(|v| std::mem::replace(v, value) != value);
}

/// Why an admin call failed (the deployer reports it in `deploy.error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// No answer within the timeout (a partition, a held link).
    Timeout,
    /// Connection refused or reset (the host is down).
    Io(String),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::Timeout => f.write_str("timeout"),
            AdminError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Sends one request to `host`'s admin port and waits for the reply, at
/// most `timeout` in all (connect included).
pub async fn call(
    host: &str,
    request: AdminRequest,
    timeout: Duration,
) -> Result<AdminReply, AdminError> {
    let exchange = async {
        let mut stream = turmoil::net::TcpStream::connect((host, ADMIN_PORT)).await?;
        write_frame(&mut stream, &request).await?;
        read_frame::<_, AdminReply>(&mut stream)
            .await?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "admin server closed"))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Err(AdminError::Timeout),
        Ok(Err(e)) => Err(AdminError::Io(e.to_string())),
        Ok(Ok(reply)) => Ok(reply),
    }
}
