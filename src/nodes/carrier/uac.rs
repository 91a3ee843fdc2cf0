//! The carrier's callers: the `[workload] inbound` calls, sent into the
//! platform through its entry hosts.

use super::Carrier;
use crate::history::event::{Direction, Mode};
use crate::history::{emit, EndOutcome, Event};
use crate::nodes::workload::{arrival_times, InboundLoad};
use crate::nodes::{dns, ports, sip_glue};
use crate::sim::time::{sleep, sleep_until_ms};
use crate::sip::ua::{ActiveCall, CallEvent, CallOutcome, EndReason, HangupOutcome, OutgoingCall};

/// How one attempt through one entry ended.
enum Attempt {
    Final(CallOutcome),
    /// No response at all within `entry_timeout`, or a 503: try the next.
    NextEntry(CallOutcome),
}

impl Carrier {
    pub(super) async fn generate_inbound(&self) {
        let Some(load) = self
            .ctx
            .workload::<crate::nodes::workload::Workload>()
            .inbound
        else {
            return;
        };
        let mut rng = self.ctx.rng("workload.inbound.arrivals");
        let times = arrival_times(
            load.calls,
            load.rate_per_s,
            load.arrivals,
            load.start,
            &mut rng,
        );
        // A restarted carrier does not replay the calls whose time passed
        // (see the agent's workload): no burst of overdue calls, no reused
        // call ids.
        let started_ms = crate::sim::time::now_ms();
        for (i, at) in times.into_iter().enumerate() {
            if self.ctx.incarnation > 0 && at < started_ms {
                continue;
            }
            sleep_until_ms(at).await;
            let carrier = self.clone();
            let load = load.clone();
            crate::sim::spawn(async move { carrier.inbound_call(i as u32 + 1, &load).await });
        }
    }

    async fn inbound_call(&self, n: u32, load: &InboundLoad) {
        let config = self.config();
        let call = format!("in-{n}");
        emit(Event::CallStart {
            call: &call,
            direction: Direction::Inbound,
            mode: Mode::Sync,
            ringing_timeout_ms: config.inbound_ringing_timeout.as_millis(),
        });
        // Entries named by a name are resolved now, once per call; an
        // entry whose name does not resolve is left out.
        let mut entries: Vec<String> = Vec::new();
        let mut unresolved: Option<String> = None;
        for entry in &config.inbound_entry {
            let resolver = config.resolver.as_ref();
            match dns::hosts_of(&self.ctx, &self.resolver, resolver, entry, Some(&call)).await {
                Ok(hosts) => entries.extend(hosts),
                Err(failed) => unresolved = Some(format!("dns {} for {entry}", failed.rcode())),
            }
        }
        if entries.is_empty() {
            // Nowhere to send the INVITE: the call fails before any SIP.
            let reason = unresolved.unwrap_or_else(|| "no entry host".into());
            emit(Event::CallEnd {
                call: &call,
                status: 503,
                reason: &reason,
                outcome: EndOutcome::Failed,
            });
            return;
        }
        let first = (n as usize - 1) % entries.len().max(1);
        let tries = (config.entry_attempts_max as usize).min(entries.len());
        let mut outcome = CallOutcome::TransportFailure;
        for k in 0..tries {
            let entry = &entries[(first + k) % entries.len()];
            match self.attempt(&call, entry, load).await {
                Attempt::Final(o) => {
                    outcome = o;
                    break;
                }
                Attempt::NextEntry(o) => outcome = o,
            }
        }
        let (status, reason, outcome) = match outcome {
            CallOutcome::Answered(active) => self.talk(&call, active, load).await,
            CallOutcome::Rejected(code) => (
                code,
                "rejected".to_string(),
                EndOutcome::of_unanswered(code),
            ),
            CallOutcome::TimedOut => (487, "ringing timeout".into(), EndOutcome::NoAnswer),
            CallOutcome::Cancelled => (487, "no response from entry".into(), EndOutcome::Failed),
            CallOutcome::TransportFailure => (408, "no response".into(), EndOutcome::Failed),
        };
        emit(Event::CallEnd {
            call: &call,
            status,
            reason: &reason,
            outcome,
        });
    }

    /// One INVITE through one entry host.
    async fn attempt(&self, call: &str, entry: &str, load: &InboundLoad) -> Attempt {
        let config = self.config();
        let mut leg = self.ua.place_call(sip_glue::call_request(
            call,
            crate::net::addr(entry, ports::SIP),
            format!("sip:{}@{entry}", load.to),
            config.inbound_ringing_timeout.0,
            self.media.local_addr(),
        ));
        // Wait for a first response (100 Trying is not reported, so the
        // first event may already be the final outcome).
        let first = tokio::select! {
            event = leg.next_event() => Some(event),
            _ = sleep(config.entry_timeout.0) => None,
        };
        let outcome = match first {
            Some(CallEvent::Final(o)) => o,
            Some(CallEvent::Progress(_) | CallEvent::EarlyMedia { .. }) => {
                final_outcome(&mut leg).await
            }
            None => {
                // Silent entry: give up on it (CANCEL once it responds at
                // all) and move on.
                leg.cancel();
                crate::sim::spawn(async move {
                    if let CallOutcome::Answered(active) = leg.outcome().await {
                        let _ = active.hangup().await;
                    }
                });
                return Attempt::NextEntry(CallOutcome::TransportFailure);
            }
        };
        match outcome {
            CallOutcome::Rejected(503) | CallOutcome::TransportFailure => {
                Attempt::NextEntry(outcome)
            }
            other => Attempt::Final(other),
        }
    }

    /// An answered inbound call: media for `hold`, then hang up. Its
    /// outcome is `completed` when the caller's BYE was answered, `failed`
    /// when the platform hung up first (in an inbound call the platform
    /// hangs up only to tear the call down: a failed flow, silence, its
    /// duration limit), when the 2xx was never ACKed, or when the BYE got
    /// no 2xx (the platform had lost the call).
    async fn talk(
        &self,
        call: &str,
        mut active: ActiveCall,
        load: &InboundLoad,
    ) -> (u16, String, EndOutcome) {
        let config = self.config();
        let _media = self.media.latch(call, config.media_interval.0);
        let (reason, outcome) = tokio::select! {
            reason = active.ended() => match reason {
                EndReason::RemoteHangup => ("platform hung up", EndOutcome::Failed),
                EndReason::NoAck => ("no ack", EndOutcome::Failed),
                EndReason::SessionExpired => ("session expired", EndOutcome::Failed),
                EndReason::LocalHangup => ("completed", EndOutcome::Completed),
            },
            _ = sleep(load.hold.0) => {
                match active.hangup().await {
                    HangupOutcome::Ok | HangupOutcome::AlreadyEnded => ("completed", EndOutcome::Completed),
                    HangupOutcome::Timeout => ("completed", EndOutcome::Failed),
                    HangupOutcome::Rejected(_) => ("completed", EndOutcome::Failed),
                }
            }
        };
        self.media.forget(call);
        (200, reason.to_string(), outcome)
    }
}

async fn final_outcome(leg: &mut OutgoingCall) -> CallOutcome {
    loop {
        if let CallEvent::Final(o) = leg.next_event().await {
            return o;
        }
    }
}
