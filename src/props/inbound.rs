//! The inbound case: a few calls from the carrier into the platform through
//! its SIP edge, an LB tier (`carrier -> lb-i -> sip-j`, as
//! fixtures/scenarios/inbound-lb.toml) or an SBC chain (`carrier ->
//! sbc-edge-i -> sbc-inbound-j -> sip-k`, as inbound-sbc.toml). The agent
//! answers after a drawn delay or rejects a drawn share of calls with a
//! drawn code; the carrier's callers give up (CANCEL) after a drawn time,
//! so some calls are answered, some rejected and some cancelled while
//! ringing, and answered calls are hung up by the caller. Every RFC 3261
//! obligation `sip_conformance` judges (ACK of every final response, 487
//! after CANCEL, BYE only in a confirmed dialog) arises, across proxies
//! that relay them (tests/props_sip.rs).
//!
//! [`Noise`] adds mild seeded loss and duplication on the carrier's link to
//! the edge tier, where SIP retransmissions must cope. The hand-built
//! knobs [`InboundCase::sip_t1_ms`] and [`Cut`] (never drawn) let a test
//! break the property on purpose.

use super::{ms, Case, Cut};
use proptest::prelude::*;
use std::fmt;
use std::fmt::Write as _;

/// The tick of every generated scenario.
pub const TICK_MS: u64 = 10;

/// When the carrier sends the first call (the workload's default start).
pub const FIRST_CALL_MS: u64 = 500;

/// `sip_conformance`'s default `settle`: obligations this close to the end
/// are not judged. Each run lasts long enough that none of the case's is.
pub const SETTLE_MS: u64 = 5000;

/// The platform's SIP edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `[nodes.lb]` with this many pods.
    Lb { pods: u32 },
    /// `[nodes.sbc-edge]` and `[nodes.sbc-inbound]` with these many pods.
    Sbc { edge: u32, inbound: u32 },
}

impl Entry {
    /// The section the carrier sends to.
    pub fn section(self) -> &'static str {
        match self {
            Entry::Lb { .. } => "lb",
            Entry::Sbc { .. } => "sbc-edge",
        }
    }
}

/// Packet faults on the carrier's link to the edge tier, for the whole
/// run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noise {
    /// A clean network.
    None,
    /// Up to 10% loss and 10% duplication, both ways.
    Mild,
}

/// One generated case.
#[derive(Clone, PartialEq)]
pub struct InboundCase {
    pub seed: u64,
    pub entry: Entry,
    pub sip_pods: u32,
    pub calls: u32,
    /// Fixed gap between calls.
    pub gap_ms: u64,
    /// The agent's `answer_after`.
    pub answer_after_ms: u64,
    /// The agent's `reject_share`, in percent.
    pub reject_percent: u32,
    pub reject_code: u16,
    /// The carrier's `inbound_ringing_timeout`: its callers CANCEL then.
    pub give_up_ms: u64,
    /// How long the caller stays on an answered call.
    pub hold_ms: u64,
    /// One-way latency of every link.
    pub latency_ms: u64,
    /// Loss and duplication percent on the carrier's link to the edge.
    pub loss_percent: u32,
    pub duplicate_percent: u32,
    /// The SIP pods' T1; only hand-built cases set it (default 500 ms).
    pub sip_t1_ms: Option<u64>,
    /// A partition to the end of the run; only hand-built cases have one.
    pub cut: Option<Cut>,
}

impl fmt::Debug for InboundCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entry = match self.entry {
            Entry::Lb { pods } => format!("lb x{pods}"),
            Entry::Sbc { edge, inbound } => format!("sbc x{edge}/x{inbound}"),
        };
        write!(
            f,
            "seed={} {entry} sip x{} {} calls every {}ms agent={}ms/reject {}%->{} give_up={}ms hold={}ms lat={}ms",
            self.seed,
            self.sip_pods,
            self.calls,
            self.gap_ms,
            self.answer_after_ms,
            self.reject_percent,
            self.reject_code,
            self.give_up_ms,
            self.hold_ms,
            self.latency_ms
        )?;
        if self.loss_percent > 0 || self.duplicate_percent > 0 {
            write!(
                f,
                " loss={}% dup={}%",
                self.loss_percent, self.duplicate_percent
            )?;
        }
        if let Some(t1) = self.sip_t1_ms {
            write!(f, " sip_t1={t1}ms")?;
        }
        if let Some(cut) = &self.cut {
            write!(f, " cut={cut:?}")?;
        }
        Ok(())
    }
}

impl InboundCase {
    /// The latest a call can start (arrivals are fixed, `gap_ms` apart).
    pub fn last_call_ms(&self) -> u64 {
        FIRST_CALL_MS + u64::from(self.calls) * self.gap_ms
    }

    /// Long enough for the last call to ring, be answered or given up,
    /// hold, hang up, and settle, with room for retransmissions.
    pub fn duration_ms(&self) -> u64 {
        let ringing = self.give_up_ms.max(self.answer_after_ms);
        self.last_call_ms() + ringing + self.hold_ms + SETTLE_MS + 5000
    }
}

impl Case for InboundCase {
    fn toml(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# generated by callsim::props::inbound: {self:?}");
        let _ = writeln!(
            s,
            "[run]\nseed = {}\nduration = {}\ntick = {}",
            self.seed,
            ms(self.duration_ms()),
            ms(TICK_MS)
        );
        let _ = writeln!(
            s,
            "latency_min = {0}\nlatency_max = {0}\n",
            ms(self.latency_ms)
        );
        let _ = writeln!(s, "[nodes.gateway]\n\n[nodes.bus]\n");
        let _ = writeln!(
            s,
            "[nodes.agent]\nanswer_after = {}\nreject_share = {}\nreject_code = {}\n",
            ms(self.answer_after_ms),
            f64::from(self.reject_percent) / 100.0,
            self.reject_code
        );
        let _ = writeln!(s, "[nodes.sip]\npods = {}", self.sip_pods);
        if let Some(t1) = self.sip_t1_ms {
            let _ = writeln!(s, "sip_timers = {{ t1 = {} }}", ms(t1));
        }
        s.push('\n');
        match self.entry {
            Entry::Lb { pods } => {
                let _ = writeln!(s, "[nodes.lb]\npods = {pods}\n");
            }
            Entry::Sbc { edge, inbound } => {
                let _ = writeln!(
                    s,
                    "[nodes.sbc-edge]\npods = {edge}\n\n[nodes.sbc-inbound]\npods = {inbound}\n"
                );
            }
        }
        let _ = writeln!(
            s,
            "[nodes.carrier]\ninbound_entry = [\"{}\"]\ninbound_ringing_timeout = {}\n",
            self.entry.section(),
            ms(self.give_up_ms)
        );
        let _ = writeln!(
            s,
            "[workload]\ninbound = {{ calls = {}, rate_per_s = {}, arrivals = \"fixed\", start = {}, hold = {} }}\n",
            self.calls,
            1000.0 / self.gap_ms as f64,
            ms(FIRST_CALL_MS),
            ms(self.hold_ms)
        );
        let link = format!("between = [\"carrier\", \"{}\"]", self.entry.section());
        for (kind, percent) in [
            ("loss", self.loss_percent),
            ("duplicate", self.duplicate_percent),
        ] {
            if percent > 0 {
                let _ = writeln!(
                    s,
                    "[[faults]]\nkind = \"{kind}\"\n{link}\nprobability = {}\nat = \"0ms\"\nuntil = {}\n",
                    f64::from(percent) / 100.0,
                    ms(self.duration_ms())
                );
            }
        }
        if let Some(cut) = &self.cut {
            s.push_str(&cut.toml(self.duration_ms()));
        }
        let _ = writeln!(s, "[oracles]\nsip_conformance = {{}}");
        s
    }
}

/// Inbound cases: an LB tier of 1-2 pods or an SBC chain of 1-2 by 1-2
/// pods, 1-2 SIP pods, 1-4 calls 0.2-2 s apart, the agent answering
/// within 5 s and rejecting 0-100% of calls (486, 603 or 480), callers
/// giving up after 0.5-8 s, holding 0.5-4 s, latency 1-30 ms, and the
/// `noise` asked for, including callers that give up just as the agent
/// answers (the CANCEL crosses the 2xx). Numbers shrink towards their lower bounds, the entry
/// towards one LB pod.
pub fn case(noise: Noise) -> impl Strategy<Value = InboundCase> {
    let entry = prop_oneof![
        (1u32..=2).prop_map(|pods| Entry::Lb { pods }),
        (1u32..=2, 1u32..=2).prop_map(|(edge, inbound)| Entry::Sbc { edge, inbound }),
    ];
    let noise_max = match noise {
        Noise::None => 0u32,
        Noise::Mild => 10,
    };
    let agent = (
        0u64..=5000,
        0u32..=100,
        prop_oneof![Just(486u16), Just(603u16), Just(480u16)],
    );
    (
        (1u64..=1000, entry, 1u32..=2, 1u32..=4, 200u64..=2000),
        agent,
        (500u64..=8000, 500u64..=4000, 1u64..=30),
        (0..=noise_max, 0..=noise_max),
    )
        .prop_map(
            |(
                (seed, entry, sip_pods, calls, gap_ms),
                (answer_after_ms, reject_percent, reject_code),
                (give_up_ms, hold_ms, latency_ms),
                (loss_percent, duplicate_percent),
            )| InboundCase {
                seed,
                entry,
                sip_pods,
                calls,
                gap_ms,
                answer_after_ms,
                reject_percent,
                reject_code,
                give_up_ms,
                hold_ms,
                latency_ms,
                loss_percent,
                duplicate_percent,
                sip_t1_ms: None,
                cut: None,
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_topologies_are_valid_scenarios_with_one_line_debug() {
        let mut case = InboundCase {
            seed: 1,
            entry: Entry::Sbc {
                edge: 2,
                inbound: 1,
            },
            sip_pods: 1,
            calls: 2,
            gap_ms: 500,
            answer_after_ms: 800,
            reject_percent: 30,
            reject_code: 603,
            give_up_ms: 2000,
            hold_ms: 3000,
            latency_ms: 5,
            loss_percent: 5,
            duplicate_percent: 0,
            sip_t1_ms: Some(50),
            cut: None,
        };
        assert_eq!(
            format!("{case:?}"),
            "seed=1 sbc x2/x1 sip x1 2 calls every 500ms agent=800ms/reject 30%->603 give_up=2000ms hold=3000ms lat=5ms loss=5% dup=0% sip_t1=50ms"
        );
        let scenario = case.scenario();
        assert_eq!(scenario.faults.len(), 1);
        case.entry = Entry::Lb { pods: 2 };
        case.loss_percent = 0;
        assert!(case.scenario().faults.is_empty());
    }
}
