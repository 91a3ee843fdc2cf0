//! Fault injection: validation (exit 2 with file, line and field), one
//! demonstration per fault kind with figures (fixtures/scenarios/faults/),
//! processes, swarm mode, fault points, the heal time, clock skew, and
//! replay.
//!
//! The demonstrations run on the harness self-test nodes (pinger and
//! echo): the pinger sends numbered datagrams, the echo answers them, and
//! both record `net.datagram`, so every fault's effect shows as figures
//! over those events. Run with `--nocapture` to see the figures.

mod clock;
mod control;
mod demos;
mod plan;
mod platform;
mod swarm;
mod validation;

use callsim::history::History;
use callsim::scenario::Scenario;
use std::path::Path;

/// Loads `fixtures/scenarios/faults/<name>.toml`.
pub fn load(name: &str) -> Scenario {
    let path = format!("fixtures/scenarios/faults/{name}.toml");
    Scenario::load(Path::new(&path)).unwrap_or_else(|e| panic!("{path} is valid: {e}"))
}

pub use crate::support::run;

/// The harness's datagrams, by direction: (t_ms, seq).
#[derive(Debug, Default)]
pub struct Pings {
    pub sent: Vec<(u64, u64)>,
    pub recv: Vec<(u64, u64)>,
    /// Answered by the echo.
    pub echoed: Vec<(u64, u64)>,
    /// Refused by the echo.
    pub refused: Vec<(u64, u64)>,
}

impl Pings {
    pub fn of(history: &History) -> Pings {
        let mut p = Pings::default();
        for r in history.of_kind("net.datagram") {
            let entry = (r.t_ms, r.u64("seq").expect("seq"));
            match r.str("dir") {
                Some("send") => p.sent.push(entry),
                Some("recv") => p.recv.push(entry),
                Some("echo") => p.echoed.push(entry),
                Some("refuse") => p.refused.push(entry),
                other => panic!("unknown dir {other:?}"),
            }
        }
        p
    }

    /// Datagrams sent in [from, to).
    pub fn sent_in(&self, from: u64, to: u64) -> Vec<(u64, u64)> {
        self.sent
            .iter()
            .copied()
            .filter(|(t, _)| (from..to).contains(t))
            .collect()
    }

    /// Round trip of a datagram sent at `t`: its first answer after `t`
    /// and before the same number is sent again (a restarted pinger starts
    /// over from 1).
    pub fn rtt(&self, t: u64, seq: u64) -> Option<u64> {
        let next = self
            .sent
            .iter()
            .find(|(st, s)| *s == seq && *st > t)
            .map_or(u64::MAX, |(st, _)| *st);
        self.recv
            .iter()
            .find(|(rt, s)| *s == seq && *rt >= t && *rt < next)
            .map(|(rt, _)| rt - t)
    }

    /// Share of the datagrams sent in [from, to) that were answered.
    pub fn answered(&self, from: u64, to: u64) -> f64 {
        let sent = self.sent_in(from, to);
        let answered = sent
            .iter()
            .filter(|(t, s)| self.rtt(*t, *s).is_some())
            .count();
        answered as f64 / sent.len().max(1) as f64
    }

    /// Round trips of the datagrams sent in [from, to) that came back.
    pub fn rtts(&self, from: u64, to: u64) -> Vec<u64> {
        self.sent_in(from, to)
            .iter()
            .filter_map(|(t, s)| self.rtt(*t, *s))
            .collect()
    }

    /// Events of a list within [from, to).
    pub fn count_in(list: &[(u64, u64)], from: u64, to: u64) -> usize {
        list.iter().filter(|(t, _)| (from..to).contains(t)).count()
    }
}

/// Median of a non-empty list.
pub fn median(mut xs: Vec<u64>) -> u64 {
    assert!(!xs.is_empty(), "median of nothing");
    xs.sort_unstable();
    xs[xs.len() / 2]
}

/// (t_ms, fault, fault_kind, target) of every fault.start or fault.end.
pub fn fault_events(history: &History, kind: &str) -> Vec<(u64, u64, String, String)> {
    history
        .of_kind(kind)
        .map(|r| {
            (
                r.t_ms,
                r.u64("fault").expect("fault"),
                r.str("fault_kind").expect("fault_kind").to_string(),
                r.str("target").expect("target").to_string(),
            )
        })
        .collect()
}
