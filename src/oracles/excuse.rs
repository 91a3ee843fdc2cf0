//! What an injected fault excuses: one rule, applied the same way to every
//! oracle (issue: oracles that cry wolf after an injected crash).
//!
//! A fault that destroys a host's state (a `crash` while the host is down,
//! a `restart`, an `operator` action on it) excuses:
//! - **calls whose host it hit**: every call with a record on that host, or
//!   a record naming it as `peer` (a SIP message to or from it, an RPC
//!   request sent to it, a relay's `rpc.forward` to it), alive during the
//!   loss or touching it within `window` after
//!   it (calls routed there before health checks could notice). Their
//!   records are left out of the history every call-level oracle judges,
//!   so a call the crash left without an end, a 503 from a pod that crashed
//!   mid-dial, or a 2xx that reached a restarted pod is not a violation;
//! - **calls a cut link stranded**, for the oracles that judge whether
//!   calls worked (`media_flows`, `inbound_availability`, `recovery`): a
//!   `partition` or `hold` excuses the calls that were already up across
//!   that link (they touched both of its ends) when it started, since
//!   nothing carries an established path's media across a cut. Their
//!   signalling is still judged (a stranded call must still end), and
//!   calls set up after the cut started are judged in full, since the
//!   platform should route them around it;
//! - **transactions it lost**: [`Excuses::lost_state`], which
//!   `sip_conformance` asks about messages without a call label (a
//!   restarted pod owes no 487 for an INVITE it has forgotten).
//!
//! Not excused: degraded links (latency, jitter, loss), calls set up
//! across a cut after it started, `gray`, `saturate`, `rate_limit`, `set`
//! and deploys. The platform is expected
//! to route around those or report them honestly, which is what the
//! oracles are there to judge; `inbound_availability` can still excuse
//! chosen faults by index (`excused_faults`). The report counts the
//! excused calls, so a run that excused everything shows it.

use crate::history::History;
use crate::sim::topology::in_endpoint;
use std::collections::{BTreeMap, BTreeSet};

/// The fault kinds (`fault.start`'s `fault_kind`) that destroy state.
pub const STATE_LOSS_KINDS: &[&str] = &["crash", "restart", "operator"];

/// Default `window` after a loss: calls that reach the host this soon
/// after are excused too (about two health-check intervals).
pub const WINDOW_MS_DEFAULT: u64 = 10_000;

/// The link fault kinds that cut a path outright (`loss`, `latency` and
/// `jitter` degrade it, which the platform must cope with).
pub const PATH_CUT_KINDS: &[&str] = &["partition", "hold"];

/// One state loss: a target (host or section) and when, `[from, to]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Loss {
    target: String,
    from_ms: u64,
    to_ms: u64,
}

/// One path cut: the two ends (hosts or sections) and when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cut {
    a: String,
    b: String,
    at_ms: u64,
}

/// The state losses and path cuts of one history.
#[derive(Debug, Default)]
pub struct Excuses {
    losses: Vec<Loss>,
    cuts: Vec<Cut>,
}

impl Excuses {
    /// Reads the `fault.start`/`fault.end` pairs of state-losing kinds; a
    /// crash that never ends lasts to `end_ms`.
    pub fn from_history(history: &History, end_ms: u64) -> Excuses {
        let mut open: BTreeMap<u64, usize> = BTreeMap::new();
        let mut losses = Vec::new();
        let mut cuts = Vec::new();
        for r in &history.records {
            let (Some(kind), Some(index), Some(target)) =
                (r.str("fault_kind"), r.u64("fault"), r.str("target"))
            else {
                continue;
            };
            if PATH_CUT_KINDS.contains(&kind) && r.is("fault.start") {
                let ends = target.split_once("<->").or_else(|| target.split_once("->"));
                if let Some((a, b)) = ends {
                    cuts.push(Cut {
                        a: a.to_string(),
                        b: b.to_string(),
                        at_ms: r.t_ms,
                    });
                }
            }
            if !STATE_LOSS_KINDS.contains(&kind) {
                continue;
            }
            if r.is("fault.start") {
                open.insert(index, losses.len());
                losses.push(Loss {
                    target: target.to_string(),
                    from_ms: r.t_ms,
                    // A crash lasts to its end (or the run's); the others
                    // are instants.
                    to_ms: if kind == "crash" { end_ms } else { r.t_ms },
                });
            } else if r.is("fault.end") {
                if let Some(i) = open.remove(&index) {
                    losses[i].to_ms = r.t_ms.max(losses[i].from_ms);
                }
            }
        }
        Excuses { losses, cuts }
    }

    pub fn is_empty(&self) -> bool {
        self.losses.is_empty() && self.cuts.is_empty()
    }

    /// Did `host` lose its state in `(after, until]`? A fault's target may
    /// name the host or its section (`sip` for `sip-1`, `sip-2`, ..).
    pub fn lost_state(&self, host: &str, after: u64, until: u64) -> bool {
        self.losses
            .iter()
            .any(|l| in_endpoint(host, &l.target) && l.to_ms > after && l.from_ms <= until)
    }

    /// The calls these faults excuse, in one pass over the history. A call
    /// counts as having touched a host when it has a record on it or a SIP
    /// message to or from it, and as alive from its first record to its
    /// `call.end` (to the end, if it never ended).
    /// - `state_loss`: it touched a host of a loss while alive during
    ///   `[from, to + window_ms]`;
    /// - `stranded` (and not `state_loss`): it was alive across a cut
    ///   link's start and touched both of its ends.
    pub fn excused<'h>(&self, history: &'h History, window_ms: u64) -> Excused<'h> {
        let mut out = Excused::default();
        if self.is_empty() {
            return out;
        }
        // Per call: hosts touched, first record, end (if any).
        let mut seen: BTreeMap<&'h str, (BTreeSet<&'h str>, u64, Option<u64>)> = BTreeMap::new();
        for r in &history.records {
            let Some(call) = r.call().filter(|c| !c.is_empty()) else {
                continue;
            };
            let entry = seen.entry(call).or_insert((BTreeSet::new(), r.t_ms, None));
            entry.0.insert(&r.host);
            if let Some(peer) = r.str("peer") {
                entry.0.insert(peer);
            }
            if r.is("call.end") && entry.2.is_none() {
                entry.2 = Some(r.t_ms);
            }
        }
        for (call, (hosts, first, end)) in seen {
            let last = end.unwrap_or(u64::MAX);
            let touches = |end: &str| hosts.iter().any(|h| in_endpoint(h, end));
            let lost = self.losses.iter().any(|l| {
                first <= l.to_ms.saturating_add(window_ms)
                    && last >= l.from_ms
                    && touches(&l.target)
            });
            // A call already up across a link when the link was cut:
            // nothing routes an established path around a cut.
            let stranded = || {
                self.cuts
                    .iter()
                    .any(|c| first < c.at_ms && last >= c.at_ms && touches(&c.a) && touches(&c.b))
            };
            if lost {
                out.state_loss.insert(call);
            } else if stranded() {
                out.stranded.insert(call);
            }
        }
        out
    }
}

/// The calls one history's faults excuse, by reason.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Excused<'h> {
    /// Hit by a state loss: no oracle judges them.
    pub state_loss: BTreeSet<&'h str>,
    /// Up across a cut link when it was cut (and not in `state_loss`):
    /// only the oracles of whether calls worked excuse them.
    pub stranded: BTreeSet<&'h str>,
}

impl<'h> Excused<'h> {
    /// Every excused call, for any reason.
    pub fn all(&self) -> BTreeSet<&'h str> {
        self.state_loss.union(&self.stranded).copied().collect()
    }
}

/// `history` without the records of `calls`.
pub fn without_calls(history: &History, calls: &BTreeSet<&str>) -> History {
    History {
        records: history
            .records
            .iter()
            .filter(|r| r.call().is_none_or(|c| !calls.contains(c)))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::{Direction, Mode};
    use crate::history::{EndOutcome, Event};
    use crate::oracles::testkit::Script;

    fn call(s: &mut Script, id: &'static str, host: &'static str, from: u64, to: u64) {
        s.at(
            from,
            host,
            Event::CallStart {
                call: id,
                direction: Direction::Inbound,
                mode: Mode::Async,
                ringing_timeout_ms: 0,
            },
        );
        s.at(
            to,
            host,
            Event::CallEnd {
                call: id,
                status: 503,
                reason: "",
                outcome: EndOutcome::Failed,
            },
        );
    }

    fn crash(s: &mut Script, from: u64, to: u64) {
        let (fault, kind, target) = (0, "crash", "sip");
        s.at(
            from,
            "testbed",
            Event::FaultStart {
                fault,
                kind,
                target,
            },
        );
        s.at(
            to,
            "testbed",
            Event::FaultEnd {
                fault,
                kind,
                target,
            },
        );
    }

    /// An RPC relay (the bus) keeps no call-labelled record of its own; a
    /// call whose RPC was sent to it (`rpc.request`'s `peer`) touched it,
    /// so a restart of the relay excuses the call it cut off.
    #[test]
    fn a_restarted_rpc_relay_excuses_the_calls_whose_rpc_it_carried() {
        let mut s = Script::new();
        let (fault, kind) = (0, "restart");
        s.at(
            30_000,
            "testbed",
            Event::FaultStart {
                fault,
                kind,
                target: "bus",
            },
        );
        s.at(
            30_000,
            "testbed",
            Event::FaultEnd {
                fault,
                kind,
                target: "bus",
            },
        );
        call(&mut s, "through-bus", "gateway", 1_000, 30_500);
        s.at(
            1_000,
            "gateway",
            Event::RpcRequest {
                call: "through-bus",
                method: "sip.dial",
                deadline_ms: 0,
                peer: "bus",
            },
        );
        call(&mut s, "no-rpc", "gateway", 1_000, 30_500);
        let history = s.history();
        let excused = Excuses::from_history(&history, 60_000)
            .excused(&history, 10_000)
            .all();
        assert_eq!(excused, BTreeSet::from(["through-bus"]));
    }

    /// A restart of the server an RPC relay forwarded a call to excuses the
    /// call, though the call never reached that server (`rpc.forward`).
    #[test]
    fn a_restarted_server_behind_a_relay_excuses_the_calls_forwarded_to_it() {
        let mut s = Script::new();
        crash(&mut s, 30_000, 30_000);
        call(&mut s, "forwarded", "gateway", 1_000, 30_500);
        s.at(
            29_990,
            "bus",
            Event::RpcForward {
                call: "forwarded",
                method: "sip.dial",
                peer: "sip-2",
            },
        );
        call(&mut s, "not-forwarded", "gateway", 1_000, 30_500);
        let history = s.history();
        let excused = Excuses::from_history(&history, 60_000)
            .excused(&history, 10_000)
            .all();
        assert_eq!(excused, BTreeSet::from(["forwarded"]));
    }

    #[test]
    fn a_crash_excuses_the_calls_on_its_host_during_it_and_its_window() {
        let mut s = Script::new();
        crash(&mut s, 10_000, 20_000);
        call(&mut s, "during", "sip-1", 9_000, 15_000);
        call(&mut s, "just-after", "sip-2", 25_000, 26_000);
        call(&mut s, "long-after", "sip-1", 40_000, 41_000);
        call(&mut s, "elsewhere", "lb-1", 12_000, 13_000);
        let history = s.history();
        let excuses = Excuses::from_history(&history, 60_000);
        let excused = excuses.excused(&history, 10_000).all();
        assert_eq!(excused, BTreeSet::from(["during", "just-after"]));
        assert!(excuses.lost_state("sip-1", 5_000, 12_000));
        assert!(!excuses.lost_state("sip-1", 21_000, 30_000));
        // The interval is (after, until]: a loss that ended exactly at
        // `after` is not in it (a mutant `>=` survived without this).
        assert!(!excuses.lost_state("sip-1", 20_000, 30_000));
        assert!(excuses.lost_state("sip-1", 19_999, 30_000));
        assert!(!excuses.lost_state("lb-1", 5_000, 12_000));
        let judged = without_calls(&history, &excused);
        assert!(judged
            .records
            .iter()
            .all(|r| !matches!(r.call(), Some("during" | "just-after"))));
    }

    #[test]
    fn a_cut_excuses_calls_already_up_across_it_and_no_others() {
        let mut s = Script::new();
        let (fault, kind, target) = (0, "partition", "sip-1<->carrier");
        s.at(
            10_000,
            "testbed",
            Event::FaultStart {
                fault,
                kind,
                target,
            },
        );
        // Up across the link before the cut: excused.
        call(&mut s, "up", "sip-1", 5_000, 30_000);
        s.at(6_000, "carrier", Event::CallAnswered { call: "up" });
        // Set up after the cut, or not across it: judged.
        call(&mut s, "after", "sip-1", 11_000, 30_000);
        s.at(12_000, "carrier", Event::CallAnswered { call: "after" });
        call(&mut s, "one-side", "sip-1", 5_000, 30_000);
        // Loss degrades a link; it excuses nothing.
        let (fault, kind, target) = (1, "loss", "sip-2<->carrier");
        s.at(
            10_000,
            "testbed",
            Event::FaultStart {
                fault,
                kind,
                target,
            },
        );
        call(&mut s, "lossy", "sip-2", 5_000, 30_000);
        s.at(6_000, "carrier", Event::CallAnswered { call: "lossy" });
        let history = s.history();
        let excused = Excuses::from_history(&history, 60_000).excused(&history, 10_000);
        assert_eq!(excused.stranded, BTreeSet::from(["up"]));
        // Only oracles of whether calls worked excuse it: its signalling is
        // still judged.
        assert_eq!(excused.state_loss, BTreeSet::new());
    }
}
