//! Histories written by hand, for oracle and monitor tests.
//!
//! A [`Script`] emits typed [`Event`]s through the real recorder, at the sim
//! time and on the host the test names, so a scripted history has exactly
//! the field names and types that nodes produce. Oracle tests build a
//! history that violates a property and one that keeps it, and check the
//! verdict of each; nothing runs a simulation.
//!
//! ```
//! use callsim::history::Event;
//! use callsim::oracles::testkit::Script;
//! let mut s = Script::new();
//! s.at(0, "gateway", Event::CallAnswered { call: "out-1" });
//! assert_eq!(s.history().len(), 1);
//! ```

use crate::history::event::{CalleeOutcome, Direction, Mode};
use crate::history::{emit, host_span, Event, History, Record, Recorder};
use tracing_subscriber::layer::SubscriberExt;

/// A history being written event by event.
pub struct Script {
    recorder: Recorder,
    dispatch: tracing::Dispatch,
    records: Vec<Record>,
}

impl Default for Script {
    fn default() -> Script {
        Script::new()
    }
}

impl Script {
    pub fn new() -> Script {
        let recorder = Recorder::new();
        let dispatch =
            tracing::Dispatch::new(tracing_subscriber::registry().with(recorder.clone()));
        Script {
            recorder,
            dispatch,
            records: Vec::new(),
        }
    }

    /// Records `event` at `t_ms` on `host`. Events may be written out of
    /// time order; [`Script::history`] sorts them (stably) as a run would
    /// have recorded them.
    pub fn at(&mut self, t_ms: u64, host: &str, event: Event<'_>) -> &mut Script {
        self.recorder.set_clock_ms(t_ms);
        tracing::dispatcher::with_default(&self.dispatch, || {
            let _entered = host_span(host).entered();
            emit(event);
        });
        self.records.extend(self.recorder.take().records);
        self
    }

    /// `call.start` of the outbound API call `call`, on the gateway.
    pub fn outbound_start(
        &mut self,
        t_ms: u64,
        call: &str,
        mode: Mode,
        ringing_timeout_ms: u64,
    ) -> &mut Script {
        self.at(
            t_ms,
            "gateway",
            Event::CallStart {
                call,
                direction: Direction::Outbound,
                mode,
                ringing_timeout_ms,
            },
        )
    }

    /// `callee.outcome` of `call`, as the carrier records it.
    pub fn callee_outcome(
        &mut self,
        t_ms: u64,
        call: &str,
        outcome: CalleeOutcome,
        code: u16,
    ) -> &mut Script {
        self.at(
            t_ms,
            "carrier",
            Event::CalleeOutcome {
                call,
                outcome,
                code,
            },
        )
    }

    /// The gateway's `api.response` to `call`'s `CreateSIPParticipant`.
    pub fn api_response(&mut self, t_ms: u64, call: &str, status: u16) -> &mut Script {
        self.at(
            t_ms,
            "gateway",
            Event::ApiResponse {
                call,
                method: "CreateSIPParticipant",
                status,
            },
        )
    }

    /// The history written so far, in time order.
    pub fn history(&self) -> History {
        let mut records = self.records.clone();
        records.sort_by_key(|r| r.t_ms);
        History { records }
    }
}
