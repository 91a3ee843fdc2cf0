//! Internal RPC: framed JSON requests over TCP, with the caller's deadline
//! carried in the request and a client middleware stack that the calling
//! node's config composes.
//!
//! A caller (the gateway dialling through the bus, the SIP service
//! dispatching an inbound call to the gateway) holds an [`RpcClient`] per
//! server and calls it with its current [`RpcClientConfig`] and its own
//! deadline. A server runs [`serve`] with a handler. The bus forwards with
//! [`exchange`]. Which timeouts apply is the stack's business alone
//! (see [`config`]): one setting of it is a tracing middleware whose
//! default timeout cuts every call short; another derives every timeout
//! from the request's deadline.
//!
//! # Layout
//! - `wire`: the frames (request, response, cancel) and error codes.
//! - `config`: `rpc_client = {...}`, the middleware stack and its plan.
//! - `client`: [`RpcClient`] and [`exchange`]; emits `rpc.request` and
//!   `rpc.response`.
//! - `server`: [`serve`] and [`Incoming`].
//! - `cancel`: [`CancelToken`], how a handler learns its caller gave up.

pub mod cancel;
pub mod client;
pub mod config;
pub mod server;
pub mod wire;

pub use cancel::CancelToken;
pub use client::{exchange, Exchange, RpcClient};
pub use config::{Middleware, RpcClientConfig};
pub use server::{serve, Incoming};
pub use wire::{ErrorCode, Frame, Request, Response, RpcError, RpcResult};

#[cfg(test)]
mod tests;
