//! The RPC server: accepts connections, reads one request per connection,
//! runs the handler, writes the response.
//!
//! The server, not the handler, enforces what the request carries: when the
//! propagated deadline passes it answers `deadline_exceeded` and cancels the
//! handler; when the client sends `cancel` or closes the connection it
//! cancels the handler and answers nothing. A cancelled handler is still
//! run to its end (it sees its [`CancelToken`] fire and cleans up), so a
//! SIP leg is never abandoned half-way.

use super::cancel::CancelToken;
use super::wire::{ErrorCode, Frame, Request, Response, RpcError};
use crate::net::frame::{read_frame, write_frame};
use crate::sim::buggify::{self, here};
use crate::sim::time::{now_ms, sleep, sleep_until_ms};
use serde_json::Value;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use turmoil::net::{TcpListener, TcpStream};

/// One request as a handler sees it.
pub struct Incoming {
    pub id: u64,
    pub call: String,
    pub method: String,
    /// The propagated deadline, on this host's clock: its reading when the
    /// request arrived plus the budget the caller sent, if it sent one.
    pub deadline_ms: Option<u64>,
    pub body: Value,
    /// The host the request came from.
    pub peer: String,
    /// Fires when the caller gives up or the deadline passes.
    pub cancel: CancelToken,
}

/// How much later a handler starts when `rpc.slow_handler` fires.
pub const SLOW_HANDLER_DELAY: std::time::Duration = std::time::Duration::from_secs(2);

/// How much later a reply is written when `rpc.reply_late` fires.
pub const REPLY_LATE_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Serves RPCs on `port` until the host stops. Each connection runs in its
/// own task; `handler` is called once per request.
pub async fn serve<H, F>(port: u16, handler: H) -> io::Result<()>
where
    H: Fn(Incoming) -> F + 'static,
    F: Future<Output = Result<Value, RpcError>> + 'static,
{
    let listener = TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)).await?;
    let handler = Rc::new(handler);
    loop {
        let (stream, peer) = listener.accept().await?;
        let handler = handler.clone();
        crate::sim::spawn(async move {
            connection(stream, crate::net::host_of(peer), &*handler).await;
        });
    }
}

async fn connection<H, F>(stream: TcpStream, peer: String, handler: &H)
where
    H: Fn(Incoming) -> F,
    F: Future<Output = Result<Value, RpcError>>,
{
    let (mut rd, mut wr) = stream.into_split();
    let request: Request = match read_frame(&mut rd).await {
        Ok(Some(Frame::Request(r))) => r,
        // Anything else is a protocol error: drop the connection.
        _ => return,
    };
    // Fault point: the server resets the connection it just read from.
    if here(buggify::RPC_SERVER_RESET) {
        return;
    }
    let cancel = CancelToken::new();
    let id = request.id;
    let deadline = request.budget_ms.map(|b| now_ms() + b);
    let incoming = Incoming {
        id,
        call: request.call,
        method: request.method,
        deadline_ms: deadline,
        body: request.body,
        peer,
        cancel: cancel.clone(),
    };
    let work = async {
        // Fault point: the handler starts late (a paused process).
        if here(buggify::RPC_SLOW_HANDLER) {
            sleep(SLOW_HANDLER_DELAY).await;
        }
        handler(incoming).await
    };
    tokio::pin!(work);
    let caller_gone = async {
        // A cancel frame, the end of the stream or an error all mean the
        // caller is gone; any other frame is ignored.
        loop {
            match read_frame::<_, Frame>(&mut rd).await {
                Ok(Some(Frame::Cancel { .. })) | Ok(None) | Err(_) => return,
                Ok(Some(_)) => {}
            }
        }
    };
    let deadline_passed = async {
        match deadline {
            Some(at) => sleep_until_ms(at).await,
            None => std::future::pending().await,
        }
    };
    let answer = tokio::select! {
        result = &mut work => Some(result),
        _ = caller_gone => {
            cancel.cancel();
            None
        }
        _ = deadline_passed => {
            cancel.cancel();
            Some(Err(RpcError::new(ErrorCode::DeadlineExceeded, "deadline passed at the server")))
        }
    };
    // Fault points: the reply is lost (the caller waits until it gives
    // up), or written late.
    let answer = match answer {
        Some(_) if here(buggify::RPC_DROP_REPLY) => {
            while let Ok(Some(_)) = read_frame::<_, Frame>(&mut rd).await {}
            None
        }
        Some(result) if here(buggify::RPC_REPLY_LATE) => {
            sleep(REPLY_LATE_DELAY).await;
            Some(result)
        }
        other => other,
    };
    if let Some(result) = answer {
        let _ = write_frame(
            &mut wr,
            &Frame::Response(Response {
                id,
                result: result.into(),
            }),
        )
        .await;
    }
    if cancel.is_cancelled() {
        // Let the handler see the cancellation and clean up.
        let _ = work.await;
    }
}
