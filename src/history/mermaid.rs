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
//!   note at the top with its start time.
//!
//! Text in labels and notes is kept to characters Mermaid reads literally
//! (`#`, `;`, `<`, `>` become Mermaid's entity codes, line breaks spaces), so every line is one of
//! `sequenceDiagram`, `participant ID as NAME`, `A->>B: text`,
//! `A-->>B: text`, `Note over A[,B]: text` or a `%%` comment.

use super::ladder::{fault_text, Flow, Step};
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
    for step in &flow.steps {
        match step {
            Step::Message {
                t_ms,
                from,
                to,
                label,
                retransmission,
                sdp,
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
                if let Some(sdp) = sdp {
                    out.push_str(&format!("    Note over {}: {}\n", id(from), clean(sdp)));
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
                    super::ladder::FaultPhase::ActiveSince => first_ms.unwrap_or(*t_ms),
                    _ => *t_ms,
                };
                out.push_str(&format!(
                    "    Note over {}: {} at {}\n",
                    span(&flow.fault_columns(target)),
                    clean(&text),
                    seconds(at)
                ));
            }
        }
    }
    out
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
    #[test]
    fn clean_keeps_mermaid_literal() {
        assert_eq!(super::clean("a;b#c<->d\n"), "a#59;b#35;c#60;-#62;d ");
    }
}
