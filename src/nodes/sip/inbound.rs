//! Incoming INVITEs: ring, ask the agent (through the gateway), then answer
//! or reject.

use super::children::Family;
use super::connected::{Connected, Direction};
use super::Service;
use crate::history::{emit, Event};
use crate::nodes::methods::{self, Decision, Dispatch};
use crate::nodes::sip_glue;
use crate::rpc::ErrorCode;
use crate::sim::time::now_ms;
use crate::sip::sdp::{warning_media_unavailable, Capabilities};
use crate::sip::ua::IncomingCall;

impl Service {
    pub(super) async fn inbound(&self, mut incoming: IncomingCall) {
        let config = self.config();
        let call = incoming.call().to_string();
        if self.warming_up() {
            incoming.reject_with(503, vec![("Retry-After".to_string(), "1".to_string())]);
            return;
        }
        // A call slot for the call's whole life, taken before any work.
        let _slot = match &self.slots {
            None => None,
            Some(slots) => match slots.acquire().await {
                Ok(guard) => Some(guard),
                Err(_) => {
                    let retry_after = slots.config().retry_after_s().to_string();
                    incoming.reject_with(503, vec![("Retry-After".to_string(), retry_after)]);
                    return;
                }
            },
        };
        if let Err(refusal) = self.pool.serve(config.invite_service_time.0).await {
            incoming.reject(refusal.status());
            return;
        }
        if let Some((client, dependency)) = self.lookups(&config) {
            let looked = tokio::select! {
                r = client.lookups(&dependency, &call) => r,
                _ = incoming.cancelled() => return,
            };
            if looked.is_err() {
                incoming.reject(dependency.failure_code);
                return;
            }
        }
        incoming.ring();
        let invite = incoming.invite();
        let dispatch = Dispatch {
            call: call.clone(),
            from: invite.from().uri.clone(),
            to: invite.to().uri.clone(),
        };
        let peer = sip_glue::offered_media(invite);
        let deadline = now_ms() + config.dispatch_timeout.as_millis();
        let asked = self.gateway.call(
            &config.rpc_client,
            &call,
            methods::GATEWAY_DISPATCH,
            methods::to_body(&dispatch),
            deadline,
        );
        let decision = tokio::select! {
            result = asked => result,
            // The caller gave up; the user agent has answered 487.
            _ = incoming.cancelled() => return,
        };
        if let Some(exit) = &self.exit {
            // A decision, even a rejection, is the dependency working.
            let failed = decision.as_ref().is_err_and(|e| {
                matches!(
                    e.code,
                    ErrorCode::Timeout
                        | ErrorCode::DeadlineExceeded
                        | ErrorCode::Unavailable
                        | ErrorCode::ConnectionLost
                        | ErrorCode::ResourceExhausted
                )
            });
            exit.dependency(!failed);
        }
        let code = match decision.and_then(methods::from_body::<Decision>) {
            Ok(Decision::Accept) => None,
            Ok(Decision::Reject { code }) => Some(code),
            Err(e) => Some(match e.code {
                ErrorCode::Timeout | ErrorCode::DeadlineExceeded => 408,
                ErrorCode::ResourceExhausted => 503,
                _ => 480,
            }),
        };
        if let Some(code) = code {
            incoming.reject(code);
            return;
        }
        let answer = match sip_glue::answer_sdp(
            incoming.invite(),
            &Capabilities::default(),
            self.media_addr(),
        ) {
            Ok(answer) => answer,
            Err(_) => {
                // RFC 3261 section 13.3.1.3: no offered stream it can take.
                incoming.reject_with(488, vec![warning_media_unavailable(&self.ctx.name)]);
                return;
            }
        };
        let Ok(active) = incoming.answer_with(answer).await else {
            // Cancelled at the last moment, or never acknowledged.
            return;
        };
        emit(Event::CallAnswered { call: &call });
        let family = config
            .children
            .as_ref()
            .map(|c| Family::start(self, &call, c));
        // The carrier reports the call's end; the service only follows it.
        let _ = Connected::start_to(self, &call, active, Direction::Inbound, peer)
            .run(self)
            .await;
        if let Some(family) = family {
            family.parent_ended();
        }
    }
}
