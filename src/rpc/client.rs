//! The RPC client: one call through the caller's middleware stack, and
//! [`exchange`], the single request/response over one connection that both
//! the client and the bus's forwarding are built on.
//!
//! The client emits `rpc.request` and `rpc.response` for every attempt
//! (so retries are visible in the history). `deadline_ms` in those events
//! is the deadline the request carried to the server, on the caller's own
//! clock (the wire carries it as the budget left, `wire::Request`), 0 when
//! the stack does not propagate one; `outcome` is `ok`, `timeout` (the
//! client's own timeout fired) or the error code's name.

use super::cancel::CancelToken;
use super::config::RpcClientConfig;
use super::wire::{ErrorCode, Frame, Request, RpcError};
use crate::history::{emit, Event};
use crate::net::frame::{read_frame, write_frame};
use crate::sim::time::{now_ms, sleep, sleep_until_ms};
use serde_json::Value;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use turmoil::net::TcpStream;

/// How one exchange ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Exchange {
    /// The server answered (with a result or an RPC error).
    Reply(Result<Value, RpcError>),
    /// No connection: refused, or no SYN-ACK in time. Nothing was sent.
    ConnectFailed(String),
    /// The connection broke after the request was sent.
    Lost(String),
    /// `until_ms` passed first; a `cancel` was sent.
    TimedOut,
    /// The caller's token was cancelled first; a `cancel` was sent.
    Cancelled,
}

impl Exchange {
    /// The client-side view as a result.
    pub fn into_result(self) -> Result<Value, RpcError> {
        match self {
            Exchange::Reply(r) => r,
            Exchange::ConnectFailed(m) => Err(RpcError::new(ErrorCode::Unavailable, m)),
            Exchange::Lost(m) => Err(RpcError::new(ErrorCode::ConnectionLost, m)),
            Exchange::TimedOut => Err(RpcError::new(ErrorCode::Timeout, "client timeout")),
            Exchange::Cancelled => Err(RpcError::new(ErrorCode::Cancelled, "cancelled by caller")),
        }
    }
}

/// One request over a fresh connection to `host:port`: connect (giving up
/// after `connect_timeout` or at `until_ms`, on this host's clock), send,
/// await the response until `until_ms` or until `cancel` fires. On giving
/// up it sends a `cancel` frame, best effort, and closes. The request's
/// `budget_ms` is what it was at the call; the time spent connecting is
/// taken off it when it is written.
pub async fn exchange(
    host: &str,
    port: u16,
    request: &Request,
    until_ms: u64,
    connect_timeout: Duration,
    cancel: Option<&CancelToken>,
) -> Exchange {
    // Fault point: the connection is refused at once.
    if crate::sim::buggify::here(crate::sim::buggify::RPC_CONNECT_REFUSED) {
        return Exchange::ConnectFailed(format!("connect to {host}: connection refused"));
    }
    let started_ms = now_ms();
    let connect_until = until_ms.min(started_ms + connect_timeout.as_millis() as u64);
    let connect = async {
        tokio::select! {
            r = TcpStream::connect((host, port)) => Some(r),
            _ = sleep_until_ms(connect_until) => None,
        }
    };
    let stream = tokio::select! {
        r = connect => r,
        _ = wait_cancel(cancel) => return Exchange::Cancelled,
    };
    let stream = match stream {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Exchange::ConnectFailed(format!("connect to {host}: {e}")),
        None if connect_until >= until_ms => return Exchange::TimedOut,
        None => return Exchange::ConnectFailed(format!("connect to {host}: timed out")),
    };
    let (mut rd, mut wr) = stream.into_split();
    let mut sent = request.clone();
    // A clock stepped back while connecting spent no time.
    let spent_ms = now_ms().saturating_sub(started_ms);
    sent.budget_ms = sent.budget_ms.map(|b| b.saturating_sub(spent_ms));
    if let Err(e) = write_frame(&mut wr, &Frame::Request(sent)).await {
        return Exchange::ConnectFailed(format!("send to {host}: {e}"));
    }
    let give_up = tokio::select! {
        frame = read_frame::<_, Frame>(&mut rd) => {
            return match frame {
                Ok(Some(Frame::Response(r))) if r.id == request.id => Exchange::Reply(r.result.into()),
                Ok(Some(other)) => Exchange::Reply(Err(RpcError::new(
                    ErrorCode::Internal,
                    format!("unexpected frame from {host}: {other:?}"),
                ))),
                Ok(None) => Exchange::Lost(format!("{host} closed the connection")),
                Err(e) => Exchange::Lost(format!("{host}: {e}")),
            };
        }
        _ = sleep_until_ms(until_ms) => Exchange::TimedOut,
        _ = wait_cancel(cancel) => Exchange::Cancelled,
    };
    // Best effort: a broken connection makes the server see the end of
    // the stream, which means the same.
    let _ = write_frame(&mut wr, &Frame::Cancel { id: request.id }).await;
    give_up
}

async fn wait_cancel(cancel: Option<&CancelToken>) {
    match cancel {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

/// An RPC client towards one server (`host:port`). Cheap to clone; clones
/// share the request-id counter.
#[derive(Clone)]
pub struct RpcClient {
    host: Rc<str>,
    port: u16,
    next_id: Rc<Cell<u64>>,
}

impl RpcClient {
    pub fn new(host: &str, port: u16) -> RpcClient {
        RpcClient {
            host: Rc::from(host),
            port,
            next_id: Rc::new(Cell::new(1)),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The same client (request ids shared) towards another host: what a
    /// caller that resolves its server's name per call uses.
    pub fn with_host(&self, host: &str) -> RpcClient {
        RpcClient {
            host: Rc::from(host),
            port: self.port,
            next_id: self.next_id.clone(),
        }
    }

    /// Calls `method` for platform call `call`, through the stack `config`
    /// (read by the caller from its own current config), with the caller's
    /// deadline `deadline_ms` (on this host's clock, `sim::time::now_ms`).
    pub async fn call(
        &self,
        config: &RpcClientConfig,
        call: &str,
        method: &str,
        body: Value,
        deadline_ms: u64,
    ) -> Result<Value, RpcError> {
        let plan = config.plan(now_ms(), deadline_ms);
        let mut request = Request {
            id: 0,
            call: call.to_string(),
            method: method.to_string(),
            budget_ms: None,
            body,
        };
        let mut attempt = 1;
        loop {
            request.id = self.next_id.get();
            self.next_id.set(request.id + 1);
            let started = now_ms();
            let until = match plan.attempt_timeout_ms {
                Some(t) => plan.local_deadline_ms.min(started + t),
                None => plan.local_deadline_ms,
            };
            request.budget_ms = plan.carried_deadline_ms.map(|d| d.saturating_sub(started));
            let carried = plan.carried_deadline_ms.unwrap_or(0);
            emit(Event::RpcRequest {
                call,
                method,
                deadline_ms: carried,
                peer: &self.host,
            });
            let result = if started >= until {
                Err(RpcError::new(ErrorCode::Timeout, "deadline already passed"))
            } else {
                exchange(
                    &self.host,
                    self.port,
                    &request,
                    until,
                    config.connect_timeout.0,
                    None,
                )
                .await
                .into_result()
            };
            emit(Event::RpcResponse {
                call,
                method,
                deadline_ms: carried,
                outcome: match &result {
                    Ok(_) => "ok",
                    Err(e) => e.code.as_str(),
                },
            });
            let retryable = matches!(&result, Err(e) if e.code == ErrorCode::Unavailable);
            if !retryable || attempt >= plan.attempts_max {
                return result;
            }
            attempt += 1;
            let wait = plan.backoff_before(attempt);
            if now_ms() + wait >= plan.local_deadline_ms {
                return result;
            }
            sleep(Duration::from_millis(wait)).await;
        }
    }
}
