//! A connected call's life at the SIP service: media, call control, and
//! the end (a party hangs up, the duration bound, or silence).

use super::call_control::{run_flow, Verdict};
use super::Service;
use crate::history::EndOutcome;
use crate::nodes::media_stream::{MediaEndpoint, MediaStream};
use crate::sim::time::sleep;
use crate::sip::ua::{ActiveCall, EndReason, HangupOutcome};
use std::net::SocketAddr;
use std::time::Duration;

/// Which side placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Outbound,
    Inbound,
}

/// A call whose media runs.
pub(super) struct Connected {
    call: String,
    active: ActiveCall,
    /// Dropped (and so stopped) when the call ends.
    _media: Option<MediaStream>,
}

impl Connected {
    /// Starts media: for an outbound call (we offered) by latching onto the
    /// callee's media, for an inbound call towards `inbound_peer`, the
    /// address the INVITE offered (none offered: no media).
    pub(super) fn start(
        service: &Service,
        call: &str,
        active: ActiveCall,
        direction: Direction,
    ) -> Connected {
        Connected::start_to(service, call, active, direction, None)
    }

    pub(super) fn start_to(
        service: &Service,
        call: &str,
        active: ActiveCall,
        direction: Direction,
        inbound_peer: Option<SocketAddr>,
    ) -> Connected {
        let interval = service.config().media_interval.0;
        let media = match direction {
            Direction::Outbound => Some(service.media.latch(call, interval)),
            Direction::Inbound => inbound_peer.map(|p| service.media.start(call, p, interval)),
        };
        Connected {
            call: call.to_string(),
            _media: media,
            active,
        }
    }

    /// Runs call control, then waits for the end. Returns the status,
    /// reason and outcome the platform reports for the call: `completed`
    /// when a party hung up (or the duration limit ended it), `failed`
    /// when the platform tore it down (a failed call flow, a missing ACK,
    /// silence, or a BYE of ours that got no answer).
    pub(super) async fn run(self, service: &Service) -> (u16, String, EndOutcome) {
        self.run_until(service, std::future::pending(), "").await
    }

    /// [`Connected::run`], also hanging up (reason `stop_reason`, outcome
    /// `completed`) when `stop` resolves first.
    pub(super) async fn run_until(
        mut self,
        service: &Service,
        stop: impl std::future::Future<Output = ()>,
        stop_reason: &str,
    ) -> (u16, String, EndOutcome) {
        let config = service.config();
        if let Verdict::Drop { status, reason } = run_flow(
            &service.ctx,
            &self.call,
            &config.call_control,
            &config.verbs,
        )
        .await
        {
            let _ = self.active.hangup().await;
            service.media.forget(&self.call);
            return (status, reason, EndOutcome::Failed);
        }
        let (reason, outcome) = tokio::select! {
            reason = self.active.ended() => match reason {
                EndReason::RemoteHangup => ("completed", EndOutcome::Completed),
                EndReason::LocalHangup => ("hung up", EndOutcome::Completed),
                EndReason::NoAck => ("no ack", EndOutcome::Failed),
                EndReason::SessionExpired => ("session expired", EndOutcome::Failed),
            },
            _ = sleep(config.call_duration_max.0) => {
                match self.active.hangup().await {
                    HangupOutcome::Timeout => ("duration limit", EndOutcome::Failed),
                    _ => ("duration limit", EndOutcome::Completed),
                }
            }
            _ = silence(&service.media, &self.call, config.silence_timeout.map(|d| d.0)) => {
                let _ = self.active.hangup().await;
                ("silence timeout", EndOutcome::Failed)
            }
            _ = stop => {
                let _ = self.active.hangup().await;
                (stop_reason, EndOutcome::Completed)
            }
        };
        service.media.forget(&self.call);
        (200, reason.to_string(), outcome)
    }
}

/// Resolves once `call` has received no media for `timeout` (never when
/// `timeout` is `None`). Wakes once per `timeout` at most.
async fn silence(media: &MediaEndpoint, call: &str, timeout: Option<Duration>) {
    let Some(timeout) = timeout else {
        return std::future::pending().await;
    };
    let limit_ms = timeout.as_millis() as u64;
    loop {
        let silent_ms = media.silent_for_ms(call).unwrap_or(0);
        if silent_ms >= limit_ms {
            return;
        }
        sleep(Duration::from_millis(limit_ms - silent_ms)).await;
    }
}
