//! Failure triage for sweeps: signatures, grouping and the differential
//! verdict of `explore --baseline`.
//!
//! A **signature** names a failure's kind so that a thousand seeds that
//! break the same way read as one finding: the oracle, its message with
//! every number, call id and pod index replaced by `N`, and the **flow
//! shape** of the violating call (its SIP start lines in order, repeats
//! collapsed, so "INVITE 100 180 408" and "INVITE 100 200 ACK BYE" differ
//! even when the message does not). Its id is a short FNV hash of the
//! three, stable across runs and commits that keep the wording.
//!
//! **Differential mode** runs each failing seed again on a baseline
//! scenario (the same platform without the change under test, or with a
//! known-good config): a candidate failure counts only if the baseline's
//! run of that seed does not show the same signature. Faults drawn by the
//! seed then fail both sides alike and cancel out, and what is left is
//! what the candidate changed.

use crate::history::{Fnv, History};
use crate::oracles::Violation;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What kind of failure a violation is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Signature {
    /// A short stable id: 8 hex digits of FNV over the fields below.
    pub id: String,
    pub oracle: String,
    /// The message with numbers, call ids and pod indexes as `N`.
    pub message: String,
    /// The violating call's SIP start lines, repeats collapsed (empty for
    /// a violation about no call).
    pub flow: String,
}

impl Signature {
    pub fn of(violation: &Violation, history: &History) -> Signature {
        let message = normalise(&violation.message);
        let flow = violation
            .call
            .as_deref()
            .map(|call| flow_shape(history, call))
            .unwrap_or_default();
        let mut h = Fnv::new();
        for part in [&violation.oracle, &message, &flow] {
            h.write(part.as_bytes()).write(&[0]);
        }
        Signature {
            id: format!("{:08x}", h.0 as u32),
            oracle: violation.oracle.clone(),
            message,
            flow,
        }
    }

    /// One line: `id oracle: message [flow]`.
    pub fn line(&self) -> String {
        if self.flow.is_empty() {
            format!("{} {}: {}", self.id, self.oracle, self.message)
        } else {
            format!(
                "{} {}: {} [flow: {}]",
                self.id, self.oracle, self.message, self.flow
            )
        }
    }
}

/// The distinct signatures of a run's violations, in order.
pub fn signatures(violations: &[Violation], history: &History) -> Vec<Signature> {
    let set: BTreeSet<Signature> = violations
        .iter()
        .map(|v| Signature::of(v, history))
        .collect();
    set.into_iter().collect()
}

/// Every word that holds a digit becomes `N` (a word: a run of letters
/// and digits), so times, counts, addresses, call ids (`out-17`), pods
/// (`sip-2`) and hex Call-IDs compare equal; words without digits stay.
pub fn normalise(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.chars().any(|c| c.is_ascii_digit()) {
            out.push('N');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in message.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A call's SIP flow as its hosts sent it: each start line once, in the
/// order it first appeared (a platform call spans several dialogs and
/// hops, so the full sequence would make every call its own signature;
/// which messages occurred, and in what first order, is what tells one
/// failure kind from another: "INVITE 100 180 CANCEL 487" against
/// "INVITE 100 180 200 ACK BYE").
pub fn flow_shape(history: &History, call: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for r in history.of_call(call).filter(|r| r.is("sip.send")) {
        let line = r.str("start_line").unwrap_or("?");
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines.join(" ")
}

/// How the baseline judged a seed that failed on the candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum BaselineVerdict {
    Pass,
    Fail { signatures: Vec<String> },
    Incomplete { error: String },
}

/// The differential verdict on one failing seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Differential {
    pub baseline: BaselineVerdict,
    /// The candidate's signatures that the baseline's run does not show.
    pub new_signatures: Vec<String>,
}

impl Differential {
    /// Compares a failing candidate with the baseline's run of the seed.
    /// An incomplete candidate is new unless the baseline is incomplete
    /// too.
    pub fn judge(
        candidate: &[Signature],
        candidate_incomplete: bool,
        baseline: BaselineVerdict,
    ) -> Differential {
        let known: BTreeSet<&str> = match &baseline {
            BaselineVerdict::Fail { signatures } => signatures.iter().map(String::as_str).collect(),
            _ => BTreeSet::new(),
        };
        let mut new_signatures: Vec<String> = candidate
            .iter()
            .filter(|s| !known.contains(s.id.as_str()))
            .map(|s| s.id.clone())
            .collect();
        if candidate_incomplete && !matches!(baseline, BaselineVerdict::Incomplete { .. }) {
            new_signatures.push("incomplete".into());
        }
        Differential {
            baseline,
            new_signatures,
        }
    }

    /// Whether the candidate failed in a way the baseline did not.
    pub fn is_new(&self) -> bool {
        !self.new_signatures.is_empty()
    }
}

/// Failures grouped by signature, for the sweep's summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Groups {
    pub groups: BTreeMap<String, Group>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub signature: Signature,
    pub seeds: Vec<u64>,
}

impl Groups {
    /// Adds a failing seed's signatures; returns those seen for the first
    /// time (their seed is printed in full, later ones in one line).
    pub fn add(&mut self, seed: u64, signatures: &[Signature]) -> Vec<Signature> {
        let mut first = Vec::new();
        for s in signatures {
            let group = self.groups.entry(s.id.clone()).or_insert_with(|| {
                first.push(s.clone());
                Group {
                    signature: s.clone(),
                    seeds: Vec::new(),
                }
            });
            group.seeds.push(seed);
        }
        first
    }

    /// The summary: one line per signature, most seeds first.
    pub fn render(&self) -> String {
        let mut groups: Vec<&Group> = self.groups.values().collect();
        groups.sort_by(|a, b| {
            b.seeds
                .len()
                .cmp(&a.seeds.len())
                .then(a.signature.cmp(&b.signature))
        });
        let mut out = format!("{} failure signatures:\n", groups.len());
        for g in groups {
            let mut seeds = g.seeds.clone();
            seeds.sort_unstable();
            let shown: Vec<String> = seeds.iter().take(5).map(u64::to_string).collect();
            out.push_str(&format!(
                "  {:>5} seeds  {}  (seeds {}{})\n",
                seeds.len(),
                g.signature.line(),
                shown.join(", "),
                if seeds.len() > 5 { ", .." } else { "" }
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracles::OracleKind;

    fn v(oracle: &str, message: &str) -> Violation {
        Violation {
            oracle: oracle.into(),
            kind: OracleKind::Safety,
            at_ms: 0,
            call: None,
            message: message.into(),
            ladder: String::new(),
        }
    }

    #[test]
    fn numbers_ids_and_pods_normalise_away() {
        assert_eq!(
            normalise("call out-17 ended 408 at 3004ms on sip-2 (2.5s early) 3fa9c0@carrier 2xx"),
            "call out-N ended N at N on sip-N (N.N early) N@carrier N"
        );
    }

    #[test]
    fn the_same_failure_on_other_calls_has_one_signature() {
        let h = History::default();
        let a = Signature::of(
            &v("ringing_timeout_respected", "out-3 ended 408 at 3000ms"),
            &h,
        );
        let b = Signature::of(
            &v("ringing_timeout_respected", "out-9 ended 408 at 3010ms"),
            &h,
        );
        let c = Signature::of(&v("honest_status", "out-9 ended 408 at 3010ms"), &h);
        assert_eq!(a, b);
        assert_ne!(a.id, c.id);
    }

    #[test]
    fn the_baseline_cancels_what_it_shares() {
        let h = History::default();
        let shared = Signature::of(&v("every_call_terminates", "x"), &h);
        let new = Signature::of(&v("ringing_timeout_respected", "y"), &h);
        let only_shared = Differential::judge(
            std::slice::from_ref(&shared),
            false,
            BaselineVerdict::Fail {
                signatures: vec![shared.id.clone()],
            },
        );
        assert!(!only_shared.is_new());
        let both = Differential::judge(
            &[shared.clone(), new.clone()],
            false,
            BaselineVerdict::Fail {
                signatures: vec![shared.id.clone()],
            },
        );
        assert_eq!(both.new_signatures, vec![new.id.clone()]);
        assert!(
            Differential::judge(std::slice::from_ref(&shared), false, BaselineVerdict::Pass)
                .is_new()
        );
        let incomplete_both =
            Differential::judge(&[], true, BaselineVerdict::Incomplete { error: "x".into() });
        assert!(!incomplete_both.is_new());
        assert!(Differential::judge(&[], true, BaselineVerdict::Pass).is_new());
    }

    #[test]
    fn groups_report_each_signature_once_first() {
        let h = History::default();
        let s = Signature::of(&v("o", "m 1"), &h);
        let mut g = Groups::default();
        assert_eq!(g.add(4, std::slice::from_ref(&s)).len(), 1);
        assert!(g.add(9, std::slice::from_ref(&s)).is_empty());
        let text = g.render();
        assert!(
            text.contains("1 failure signatures") && text.contains("seeds 4, 9"),
            "{text}"
        );
    }
}
