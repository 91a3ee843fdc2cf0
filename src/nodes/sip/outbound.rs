//! `sip.dial`: the outbound leg of a call, from the RPC to the SIP outcome.

use super::connected::{Connected, Direction};
use super::Service;
use crate::history::{emit, EndOutcome, Event};
use crate::nodes::methods::{self, CallEnded, DialReply, DialRequest};
use crate::nodes::workers::Refusal;
use crate::nodes::{ports, sip_glue};
use crate::rpc::{ErrorCode, Incoming, RpcError};
use crate::sim::buggify::{self, buggify};
use crate::sim::time::now_ms;
use crate::sip::status::reason_phrase;
use crate::sip::ua::{CallEvent, CallOutcome, OutgoingCall};
use std::time::Duration;

/// What became of a leg that nobody waits for any more.
enum Watched {
    /// The RPC's caller cancelled (or its deadline passed).
    CallerGone,
    Outcome(CallOutcome),
}

impl Service {
    /// The RPC server's handler.
    pub(super) async fn dial(&self, req: Incoming) -> Result<serde_json::Value, RpcError> {
        if req.method != methods::DIAL {
            return Err(RpcError::new(
                ErrorCode::NotFound,
                format!("no method {:?}", req.method),
            ));
        }
        let dial: DialRequest = methods::from_body(req.body)?;
        let config = self.config();
        if self.warming_up() {
            return Err(RpcError::new(
                ErrorCode::ResourceExhausted,
                "warming up; retry after 1s",
            ));
        }
        // A call slot for the call's whole life, taken before any work.
        let slot = match &self.slots {
            None => None,
            Some(slots) => match tokio::select! {
                r = slots.acquire() => r,
                _ = req.cancel.cancelled() => {
                    return Err(RpcError::new(ErrorCode::Cancelled, "cancelled waiting for a call slot"));
                }
            } {
                Ok(guard) => Some(guard),
                Err(refusal) => {
                    return Err(RpcError::new(
                        ErrorCode::ResourceExhausted,
                        format!(
                            "{}; retry after {}s",
                            refusal.as_str(),
                            slots.config().retry_after_s()
                        ),
                    ))
                }
            },
        };
        match self.pool.serve(config.dial_service_time.0).await {
            Ok(()) => {}
            // A disabled instance did nothing: the bus may try another.
            Err(Refusal::Disabled) => {
                return Err(RpcError::new(ErrorCode::Unavailable, "instance disabled"))
            }
            Err(r) => return Err(RpcError::new(ErrorCode::ResourceExhausted, r.as_str())),
        }
        if let Some((client, dependency)) = self.lookups(&config) {
            let looked = tokio::select! {
                r = client.lookups(&dependency, &dial.call) => r,
                _ = req.cancel.cancelled() => {
                    return Err(RpcError::new(ErrorCode::Cancelled, "cancelled during the dependency lookups"));
                }
            };
            if let Err(failed) = looked {
                return Err(RpcError::new(
                    ErrorCode::ResourceExhausted,
                    format!("dependency lookup failed: {}", failed.outcome),
                ));
            }
        }
        if req.cancel.is_cancelled() {
            return Err(RpcError::new(
                ErrorCode::Cancelled,
                "cancelled before dialling",
            ));
        }
        // Fault point: the call is placed late.
        if buggify(&self.ctx, buggify::SIP_SERVICE_DIAL_SLOW) {
            crate::sim::time::sleep(super::DIAL_SLOW_DELAY).await;
        }
        let mut leg = self.ua.place_call(sip_glue::call_request(
            &dial.call,
            crate::net::addr(&dial.trunk, ports::SIP),
            format!("sip:{}@{}", dial.to, dial.trunk),
            Duration::from_millis(dial.ringing_timeout_ms),
            self.media_addr(),
        ));
        if !dial.wait_until_answered {
            // Async: the API answers now; the call is followed to its end.
            let service = self.clone();
            crate::sim::spawn(async move {
                let outcome = leg.outcome().await;
                service.after_api(&dial.call, dial.attempt, outcome).await;
                drop(slot);
            });
            return Ok(methods::to_body(&DialReply::Dialing));
        }
        match watch(&mut leg, &req.cancel).await {
            Watched::CallerGone => {
                // The API gave up: the leg must not outlive it.
                leg.cancel();
                if let CallOutcome::Answered(active) = leg.outcome().await {
                    let _ = active.hangup().await;
                }
                Err(RpcError::new(ErrorCode::Cancelled, "the caller gave up"))
            }
            Watched::Outcome(CallOutcome::Answered(active)) => {
                emit(Event::CallAnswered { call: &dial.call });
                let connected = Connected::start(self, &dial.call, active, Direction::Outbound);
                let service = self.clone();
                crate::sim::spawn(async move {
                    let (status, reason, outcome) = connected.run(&service).await;
                    drop(slot);
                    service
                        .notice_end(&dial.call, dial.attempt, status, &reason, outcome)
                        .await;
                });
                Ok(methods::to_body(&DialReply::Answered))
            }
            Watched::Outcome(other) => Ok(methods::to_body(&reply_for(other))),
        }
    }

    /// Follows an async call after the API answered: an answered call runs
    /// to its end; either way the end is reported to the gateway.
    async fn after_api(&self, call: &str, attempt: Option<u32>, outcome: CallOutcome) {
        let (status, reason, outcome) = match outcome {
            CallOutcome::Answered(active) => {
                emit(Event::CallAnswered { call });
                Connected::start(self, call, active, Direction::Outbound)
                    .run(self)
                    .await
            }
            other => match reply_for(other) {
                DialReply::Rejected { code, reason } => {
                    (code, reason, EndOutcome::of_unanswered(code))
                }
                DialReply::Failed { code, reason } => (code, reason, EndOutcome::Failed),
                DialReply::NoAnswer => (408, "ringing timeout".into(), EndOutcome::NoAnswer),
                DialReply::Dialing | DialReply::Answered => {
                    unreachable!("reply_for never maps a non-answer to these")
                }
            },
        };
        self.notice_end(call, attempt, status, &reason, outcome)
            .await;
    }

    /// `gateway.call_ended`, through this service's stack; a notice that
    /// cannot be delivered is lost (the call then never ends in the
    /// gateway's view, which the `every_call_terminates` oracle reports).
    pub(super) async fn notice_end(
        &self,
        call: &str,
        attempt: Option<u32>,
        status: u16,
        reason: &str,
        outcome: EndOutcome,
    ) {
        let config = self.config();
        let body = methods::to_body(&CallEnded {
            call: call.to_string(),
            status,
            reason: reason.to_string(),
            outcome,
            attempt,
        });
        let deadline = now_ms() + config.notice_timeout.as_millis();
        let _ = self
            .gateway
            .call(
                &config.rpc_client,
                call,
                methods::CALL_ENDED,
                body,
                deadline,
            )
            .await;
    }
}

/// Waits for the leg's final outcome or the caller's cancellation.
async fn watch(leg: &mut OutgoingCall, cancel: &crate::rpc::CancelToken) -> Watched {
    loop {
        tokio::select! {
            event = leg.next_event() => match event {
                CallEvent::Progress(_) | CallEvent::EarlyMedia { .. } => {}
                CallEvent::Final(outcome) => return Watched::Outcome(outcome),
            },
            _ = cancel.cancelled() => return Watched::CallerGone,
        }
    }
}

/// The dial reply for an outcome other than an answer.
fn reply_for(outcome: CallOutcome) -> DialReply {
    match outcome {
        CallOutcome::Answered(_) => DialReply::Answered,
        CallOutcome::Rejected(code) => DialReply::Rejected {
            code,
            reason: reason_phrase(code).to_string(),
        },
        CallOutcome::TimedOut => DialReply::NoAnswer,
        CallOutcome::Cancelled => DialReply::Failed {
            code: 487,
            reason: "cancelled".into(),
        },
        CallOutcome::TransportFailure => DialReply::Failed {
            code: 408,
            reason: "no response from the trunk".into(),
        },
    }
}
