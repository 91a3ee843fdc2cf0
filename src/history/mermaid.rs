//! The Mermaid ladder: a call's flow ([`super::ladder::Flow`]) as a
//! Mermaid `sequenceDiagram`, which GitHub renders in issues, pull
//! requests and Markdown files.
//!
//! - One participant per host, declared before any message, in order of
//!   appearance (ids `h0`, `h1`, .. aliased to the host name, since host
//!   names hold `-`, which Mermaid's arrows use).
//! - A request is a solid arrow (`->>`), a response a dotted one (`-->>`),
//!   each labelled with the method or status code and the sim time; a
//!   retransmission says so in its label.
//! - Call-level events are notes over their host; an SDP body is a note
//!   over its sender.
//! - A fault is a note over the hosts it targets (or all of them) where it
//!   starts and where it ends, and, for one that began before the call, a
//!   note at the top with its start time; what happened while it was
//!   active is inside a shaded `rect` block (when faults overlap without
//!   nesting, the later-ending one keeps its notes only, as `rect` blocks
//!   nest).
//!
//! Text in labels and notes is kept to characters Mermaid reads literally
//! (`#`, `;`, `<`, `>` become Mermaid's entity codes, line breaks spaces), so every line is one of
//! `sequenceDiagram`, `participant ID as NAME`, `A->>B: text`,
//! `A-->>B: text`, `Note over A[,B]: text`, `rect rgba(..)`, `end` or a
//! `%%` comment.

use super::ladder::{fault_text, FaultPhase, Flow, Step};
use super::History;

/// The Mermaid `sequenceDiagram` of `call` (no Markdown fence), or an
/// empty string when the history holds no event of it.
pub fn sequence_diagram(history: &History, call: &str) -> String {
    let Some(flow) = Flow::of(history, call) else {
        return String::new();
    };
    let id = |host: &str| {
        let i = flow
            .hosts
            .iter()
            .position(|h| *h == host)
            .expect("host listed");
        format!("h{i}")
    };
    let mut out = String::from("sequenceDiagram\n");
    out.push_str(&format!("    %% call {}\n", clean(call)));
    for (i, host) in flow.hosts.iter().enumerate() {
        out.push_str(&format!("    participant h{i} as {}\n", clean(host)));
    }
    let first_ms = flow.steps.iter().find_map(|s| match s {
        Step::Message { t_ms, .. } | Step::Note { t_ms, .. } => Some(*t_ms),
        Step::Fault { .. } => None,
    });
    let span = |columns: &[usize]| {
        let (lo, hi) = (
            columns.iter().min().copied().unwrap_or(0),
            columns.iter().max().copied().unwrap_or(0),
        );
        if lo == hi {
            format!("h{lo}")
        } else {
            format!("h{lo},h{hi}")
        }
    };
    let shaded = shaded_faults(&flow.steps);
    let mut open: Vec<u64> = Vec::new();
    for step in &flow.steps {
        match step {
            Step::Message {
                t_ms,
                from,
                to,
                label,
                retransmission,
                sdp,
                dialog,
            } => {
                let arrow = if label.chars().all(|c| c.is_ascii_digit()) {
                    "-->>"
                } else {
                    "->>"
                };
                let again = if *retransmission {
                    " (retransmission)"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "    {}{arrow}{}: {}{again} at {}\n",
                    id(from),
                    id(to),
                    clean(label),
                    seconds(*t_ms)
                ));
                for line in [dialog, sdp].into_iter().flatten() {
                    out.push_str(&format!("    Note over {}: {}\n", id(from), clean(line)));
                }
            }
            Step::Note { t_ms, text, host } => {
                out.push_str(&format!(
                    "    Note over {}: {} at {}\n",
                    id(host),
                    clean(text),
                    seconds(*t_ms)
                ));
            }
            Step::Fault {
                t_ms,
                index,
                kind,
                target,
                phase,
            } => {
                let text = fault_text(*index, kind, target, *phase, *t_ms);
                let at = match phase {
                    FaultPhase::ActiveSince => first_ms.unwrap_or(*t_ms),
                    _ => *t_ms,
                };
                let opens = *phase != FaultPhase::Ends && shaded.contains(index);
                if opens {
                    out.push_str(&format!("    {RECT}\n"));
                    open.push(*index);
                }
                out.push_str(&format!(
                    "    Note over {}: {} at {}\n",
                    span(&flow.fault_columns(target)),
                    clean(&text),
                    seconds(at)
                ));
                if *phase == FaultPhase::Ends && open.last() == Some(index) {
                    out.push_str("    end\n");
                    open.pop();
                }
            }
        }
    }
    // Faults still active when the call's last event was drawn.
    for _ in open {
        out.push_str("    end\n");
    }
    out
}

/// The shaded region of a fault: a `rect` from its start (or the top, when
/// it was active before the call) to its end (or the bottom).
const RECT: &str = "rect rgba(255, 0, 0, 0.08)";

/// The faults drawn as shaded regions: Mermaid's `rect` blocks nest, so a
/// fault whose end would close a region opened after its own keeps its
/// notes only. Every fault that starts or is active in the flow is tried;
/// one that breaks the nesting is left out and the rest tried again.
fn shaded_faults(steps: &[Step]) -> std::collections::BTreeSet<u64> {
    let mut shaded: std::collections::BTreeSet<u64> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Fault { index, phase, .. } if *phase != FaultPhase::Ends => Some(*index),
            _ => None,
        })
        .collect();
    'again: loop {
        let mut open: Vec<u64> = Vec::new();
        for s in steps {
            let Step::Fault { index, phase, .. } = s else {
                continue;
            };
            if !shaded.contains(index) {
                continue;
            }
            if *phase != FaultPhase::Ends {
                open.push(*index);
            } else if open.last() == Some(index) {
                open.pop();
            } else {
                shaded.remove(index);
                continue 'again;
            }
        }
        return shaded;
    }
}

fn seconds(t_ms: u64) -> String {
    format!("{:.3}s", t_ms as f64 / 1000.0)
}

/// Text Mermaid shows as written: `#`, `;`, `<` and `>` as Mermaid's
/// numeric entity codes (`#35;` ..), line breaks as spaces.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' | ';' | '<' | '>' => out.push_str(&format!("#{};", c as u32)),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{shaded_faults, FaultPhase, Step};

    fn fault(t_ms: u64, index: u64, phase: FaultPhase) -> Step<'static> {
        Step::Fault {
            t_ms,
            index,
            kind: "partition",
            target: "a<->b",
            phase,
        }
    }

    #[test]
    fn overlapping_faults_shade_only_what_nests() {
        use FaultPhase::*;
        // Nested: both shaded.
        let nested = [
            fault(1, 0, Starts),
            fault(2, 1, Starts),
            fault(3, 1, Ends),
            fault(4, 0, Ends),
        ];
        assert_eq!(
            shaded_faults(&nested).into_iter().collect::<Vec<_>>(),
            [0, 1]
        );
        // Crossed: the one whose end would close the other's block is not.
        let crossed = [
            fault(1, 0, Starts),
            fault(2, 1, Starts),
            fault(3, 0, Ends),
            fault(4, 1, Ends),
        ];
        assert_eq!(shaded_faults(&crossed).into_iter().collect::<Vec<_>>(), [1]);
        // Active before the call and never ending in it: shaded to the bottom.
        let open = [fault(0, 2, ActiveSince)];
        assert_eq!(shaded_faults(&open).into_iter().collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn clean_keeps_mermaid_literal() {
        assert_eq!(super::clean("a;b#c<->d\n"), "a#59;b#35;c#60;-#62;d ");
    }
}
