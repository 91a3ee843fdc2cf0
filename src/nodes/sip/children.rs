//! Child legs: calls that a session starts and owns.
//!
//! With `children = { per_call = 2, after = "1s", to = "child",
//! ringing_timeout = "30s", end_with_parent = true }`, every inbound call
//! the pod answers is a session (a room, a conference) that dials out
//! `per_call` child legs to the trunk, `after` its answer, ids
//! `<parent>.child-<i>`. A child's `call.start`, `call.answered` and
//! `call.end` are recorded on the pod, and its `call.start` and `call.end`
//! carry `parent` (a contract addition). Children are async outbound legs:
//! their `call.end` status is their outcome (200 answered and hung up, the
//! callee's code, 408 no answer, 487 cancelled).
//!
//! When the parent ends, `end_with_parent = true` cancels every child
//! still ringing (CANCEL, 487) and hangs up every child connected (BYE,
//! reason `parent ended`); a child not yet started is never started.
//! `end_with_parent = false` breaks that link (a leak): the children live
//! on, with their media and session refreshes, until their own end (the
//! callee hangs up, `call_duration_max`, a session timer).

use super::connected::{Connected, Direction};
use super::Service;
use crate::history::event::Mode;
use crate::history::{emit, EndOutcome, Event};
use crate::nodes::{ports, sip_glue};
use crate::sim::time::sleep;
use crate::sim::{check, Dur, FieldError, Topology};
use crate::sip::status::reason_phrase;
use crate::sip::ua::{CallEvent, CallOutcome};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Most children one session may start.
pub const PER_CALL_MAX: u32 = 16;

/// `children = { per_call = 2, after = "1s", .. }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChildrenConfig {
    /// Child legs per session (1..=16). Required.
    pub per_call: u32,
    /// From the parent's answer to the dial-outs. Default 1s.
    #[serde(default = "default_after")]
    pub after: Dur,
    /// The number dialled (`sip:<to>@<trunk>`). Default `child`.
    #[serde(default = "default_to")]
    pub to: String,
    /// The trunk: the carrier's host name. Default `carrier`.
    #[serde(default = "default_trunk")]
    pub trunk: String,
    /// How long a child may ring. Default 30s.
    #[serde(default = "default_ringing_timeout")]
    pub ringing_timeout: Dur,
    /// End every child when the parent ends. Default true.
    #[serde(default = "default_end_with_parent")]
    pub end_with_parent: bool,
}

fn default_after() -> Dur {
    Dur::from_secs(1)
}
fn default_to() -> String {
    "child".into()
}
fn default_trunk() -> String {
    "carrier".into()
}
fn default_ringing_timeout() -> Dur {
    Dur::from_secs(30)
}
fn default_end_with_parent() -> bool {
    true
}

impl ChildrenConfig {
    pub fn validate(&self, prefix: &str, topology: &Topology) -> Result<(), FieldError> {
        check::at_least_one(prefix, "per_call", self.per_call)?;
        if self.per_call > PER_CALL_MAX {
            return Err(FieldError::new(
                check::field(prefix, "per_call"),
                format!(
                    "{} children; at most {PER_CALL_MAX} (limit children::PER_CALL_MAX)",
                    self.per_call
                ),
            ));
        }
        check::known_node(prefix, "trunk", &self.trunk, topology)?;
        check::positive(prefix, "ringing_timeout", self.ringing_timeout)
    }
}

/// A session's link to its children: set when the parent ends.
pub(super) struct Family {
    ended: watch::Sender<bool>,
}

impl Family {
    /// Starts the children of `parent` (answered now).
    pub(super) fn start(service: &Service, parent: &str, config: &ChildrenConfig) -> Family {
        let (ended, _) = watch::channel(false);
        for i in 1..=config.per_call {
            let (service, config) = (service.clone(), config.clone());
            let (parent, ended) = (parent.to_string(), ended.subscribe());
            crate::sim::spawn(async move { child(&service, &parent, i, &config, ended).await });
        }
        Family { ended }
    }

    /// The parent has ended.
    pub(super) fn parent_ended(self) {
        self.ended.send_replace(true);
    }
}

/// Resolves when the parent ends, if the link holds; never otherwise.
async fn parent_end(mut ended: watch::Receiver<bool>, linked: bool) {
    if !linked || ended.wait_for(|e| *e).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn child(
    service: &Service,
    parent: &str,
    i: u32,
    config: &ChildrenConfig,
    ended: watch::Receiver<bool>,
) {
    let linked = config.end_with_parent;
    tokio::select! {
        _ = sleep(config.after.0) => {}
        _ = parent_end(ended.clone(), linked) => return,
    }
    if linked && *ended.borrow() {
        return;
    }
    let call = format!("{parent}.child-{i}");
    emit(Event::Child {
        parent,
        event: Box::new(Event::CallStart {
            call: &call,
            direction: crate::history::event::Direction::Outbound,
            mode: Mode::Async,
            ringing_timeout_ms: config.ringing_timeout.as_millis(),
        }),
    });
    let mut leg = service.ua.place_call(sip_glue::call_request(
        &call,
        crate::net::addr(&config.trunk, ports::SIP),
        format!("sip:{}@{}", config.to, config.trunk),
        config.ringing_timeout.0,
        service.media_addr(),
    ));
    let outcome = loop {
        tokio::select! {
            event = leg.next_event() => {
                if let CallEvent::Final(outcome) = event {
                    break outcome;
                }
            }
            _ = parent_end(ended.clone(), linked) => {
                leg.cancel();
                break leg.outcome().await;
            }
        }
    };
    let (status, reason, outcome) = match outcome {
        CallOutcome::Answered(active) => {
            emit(Event::CallAnswered { call: &call });
            Connected::start(service, &call, active, Direction::Outbound)
                .run_until(service, parent_end(ended, linked), "parent ended")
                .await
        }
        CallOutcome::Rejected(code) => (
            code,
            reason_phrase(code).to_string(),
            EndOutcome::of_unanswered(code),
        ),
        CallOutcome::TimedOut => (408, "ringing timeout".into(), EndOutcome::NoAnswer),
        CallOutcome::Cancelled => (487, "parent ended".into(), EndOutcome::Cancelled),
        CallOutcome::TransportFailure => {
            (408, "no response from the trunk".into(), EndOutcome::Failed)
        }
    };
    emit(Event::Child {
        parent,
        event: Box::new(Event::CallEnd {
            call: &call,
            status,
            reason: &reason,
            outcome,
        }),
    });
}
