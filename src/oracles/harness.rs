//! `datagrams_answered` (harness self-test): the share of pinger datagrams
//! whose echo came back. It proves the test-bed before any SIP runs, and
//! gives `explore` and the CLI a scenario that fails on demand
//! (`fixtures/scenarios/harness-selftest.toml`).

use super::{OracleKind, Violation};
use crate::history::History;
use crate::sim::FieldError;
use serde::Deserialize;

pub const NAME: &str = "datagrams_answered";

/// `datagrams_answered = { ratio_min = 0.95 }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Least share of datagrams answered. Required.
    pub ratio_min: f64,
}

impl Params {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        super::availability::check_ratio(self.ratio_min, &format!("{field}.ratio_min"))
    }
}

/// The share of datagrams the pinger sent whose echo came back is at least
/// `ratio_min` (liveness: judged over the whole run). No datagram at all
/// is a violation.
pub fn datagrams_answered(history: &History, ratio_min: f64) -> Vec<Violation> {
    let sent = history
        .of_kind("net.datagram")
        .filter(|r| r.str("dir") == Some("send"))
        .count();
    let received = history
        .of_kind("net.datagram")
        .filter(|r| r.str("dir") == Some("recv"))
        .count();
    if sent == 0 {
        return vec![Violation::new(
            NAME,
            OracleKind::Liveness,
            0,
            None,
            "no datagram was sent".into(),
        )];
    }
    let ratio = received as f64 / sent as f64;
    if ratio < ratio_min {
        let at_ms = history.records.last().map(|r| r.t_ms).unwrap_or(0);
        return vec![Violation::new(
            NAME,
            OracleKind::Liveness,
            at_ms,
            None,
            format!("{received} of {sent} datagrams answered ({ratio:.3}), below {ratio_min}"),
        )];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    fn pings(answered: u64) -> History {
        let mut s = Script::new();
        for seq in 0..4 {
            s.at(
                seq * 100,
                "pinger",
                Event::Datagram {
                    dir: "send",
                    seq,
                    peer: "echo",
                },
            );
            if seq < answered {
                s.at(
                    seq * 100 + 2,
                    "pinger",
                    Event::Datagram {
                        dir: "recv",
                        seq,
                        peer: "echo",
                    },
                );
            }
        }
        s.history()
    }

    #[test]
    fn answered_enough_is_quiet() {
        assert_eq!(datagrams_answered(&pings(4), 1.0), vec![]);
        assert_eq!(datagrams_answered(&pings(3), 0.75), vec![]);
    }

    #[test]
    fn too_few_answers_or_none_sent_fires() {
        let v = datagrams_answered(&pings(2), 0.75);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].kind, OracleKind::Liveness);
        assert_eq!(datagrams_answered(&History::default(), 0.5).len(), 1);
    }
}
