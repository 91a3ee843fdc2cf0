//! The text ladder (call-flow) diagram of one call: a column per host, an
//! arrow per SIP message sent, and a note per call-level event, with sim
//! times. Joined by the platform-wide call id, so both legs of a B2BUA and
//! the carrier's view appear in one picture, like the figures of RFC 3665.
//!
//! [`Flow`] is the call's flow as data (hosts, messages, notes, and the
//! plan's faults around it), which this text ladder and the Mermaid one
//! (`mermaid.rs`) both draw.

use super::{History, Record};

/// Width of one host column.
const COLUMN_WIDTH: usize = 16;

/// Event kinds drawn as notes beside the ladder.
const NOTE_KINDS: [&str; 10] = [
    "call.start",
    "dns.answer",
    "api.request",
    "api.response",
    "rpc.request",
    "rpc.response",
    "callee.outcome",
    "call.answered",
    "verb.result",
    "call.end",
];

/// The legend printed under every text ladder; each symbol it names is
/// one the ladder draws.
pub const LEGEND: &str =
    "legend: |--LABEL-->| a SIP message, from the sender's column to the peer's; \
LABEL* a retransmission; * on a column: an event at that host (its text on the right), \
or the dialog (Call-ID and tags, when first seen) and SDP body of the message above; \
! on a column: a fault starting, ending or \
active (its index in the plan, kind and target)";

/// One row of a call's flow, shared by the text and Mermaid ladders.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<'a> {
    /// A SIP message sent (`sip.send`) from `from` to `to` (hosts).
    Message {
        t_ms: u64,
        from: &'a str,
        to: &'a str,
        /// Method or status code.
        label: &'a str,
        retransmission: bool,
        /// One line for its SDP body, if it has one.
        sdp: Option<String>,
        /// Its dialog (Call-ID and tags) when this is the flow's first
        /// message to show that Call-ID with those tags: a new leg, or the
        /// To tag a response added.
        dialog: Option<String>,
    },
    /// A call-level event at `host`.
    Note {
        t_ms: u64,
        host: &'a str,
        text: String,
    },
    /// A fault of the plan: its start or end inside the call's span, or,
    /// at the top, one that was already active when the call began.
    Fault {
        t_ms: u64,
        index: u64,
        kind: &'a str,
        target: &'a str,
        phase: FaultPhase,
    },
}

/// Where a fault row stands in its interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPhase {
    Starts,
    Ends,
    /// Started at `t_ms` (before the call), still active when it began.
    ActiveSince,
}

impl FaultPhase {
    pub fn word(self) -> &'static str {
        match self {
            FaultPhase::Starts => "starts",
            FaultPhase::Ends => "ends",
            FaultPhase::ActiveSince => "active since",
        }
    }
}

/// A call's flow: its hosts in order of appearance and its rows in time
/// order. Faults (`fault.start`/`fault.end`, which name no call) join it
/// when they start or end within the call's first to last event, or were
/// active when it began.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow<'a> {
    pub call: &'a str,
    pub hosts: Vec<&'a str>,
    pub steps: Vec<Step<'a>>,
}

impl<'a> Flow<'a> {
    /// The flow of `call`; `None` when the history holds no event of it.
    pub fn of(history: &'a History, call: &'a str) -> Option<Flow<'a>> {
        let events: Vec<&Record> = history
            .of_call(call)
            .filter(|r| r.is("sip.send") || NOTE_KINDS.contains(&r.kind()))
            .collect();
        let (first, last) = (events.first()?.t_ms, events.last()?.t_ms);
        let mut hosts: Vec<&str> = Vec::new();
        let mut steps = Vec::new();
        for r in &events {
            let peer = if r.is("sip.send") {
                r.str("peer")
            } else {
                None
            };
            for h in std::iter::once(&*r.host).chain(peer) {
                if !hosts.contains(&h) {
                    hosts.push(h);
                }
            }
        }
        let mut dialogs_seen: Vec<(&str, Option<&str>, Option<&str>)> = Vec::new();
        for r in &events {
            if r.is("sip.send") {
                let id = (
                    r.str("sip_call_id").unwrap_or(""),
                    r.str("from_tag"),
                    r.str("to_tag"),
                );
                let dialog = (!dialogs_seen.contains(&id)).then(|| {
                    dialogs_seen.push(id);
                    dialog_text(id)
                });
                steps.push(Step::Message {
                    t_ms: r.t_ms,
                    from: &r.host,
                    to: r.str("peer").unwrap_or(&r.host),
                    label: r.str("start_line").unwrap_or("?"),
                    retransmission: r.bool("retransmission") == Some(true),
                    sdp: r.str("sdp").and_then(sdp_summary),
                    dialog,
                });
            } else {
                steps.push(Step::Note {
                    t_ms: r.t_ms,
                    host: &r.host,
                    text: note_text(r),
                });
            }
        }
        let faults = fault_steps(history, first, last);
        // Faults before the call's own rows of the same millisecond: a
        // fault applied at t acts on what is sent at t.
        let mut merged: Vec<Step> = faults;
        merged.extend(steps);
        merged.sort_by_key(|s| match s {
            Step::Fault {
                phase: FaultPhase::ActiveSince,
                ..
            } => first,
            Step::Message { t_ms, .. } | Step::Note { t_ms, .. } | Step::Fault { t_ms, .. } => {
                *t_ms
            }
        });
        Some(Flow {
            call,
            hosts,
            steps: merged,
        })
    }

    /// The columns a fault's target names: hosts equal to one of its
    /// names (`a<->b`, `a->b`, `a,b`), or of its section (`lb` names
    /// `lb-1`); every column when it names none of them.
    pub fn fault_columns(&self, target: &str) -> Vec<usize> {
        let names: Vec<&str> = target
            .split(|c: char| c == ',' || c == '<' || c == '>' || c.is_whitespace())
            .map(|n| n.trim_matches('-'))
            .filter(|n| !n.is_empty())
            .collect();
        let hit: Vec<usize> = (0..self.hosts.len())
            .filter(|&i| {
                let h = self.hosts[i];
                names
                    .iter()
                    .any(|n| h == *n || h.strip_prefix(n).is_some_and(|rest| rest.starts_with('-')))
            })
            .collect();
        if hit.is_empty() {
            (0..self.hosts.len()).collect()
        } else {
            hit
        }
    }
}

/// The fault rows for a call seen from `first` to `last` ms.
fn fault_steps(history: &History, first: u64, last: u64) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    let mut started: std::collections::BTreeMap<u64, &Record> = Default::default();
    for r in history
        .records
        .iter()
        .filter(|r| r.is("fault.start") || r.is("fault.end"))
    {
        let index = r.u64("fault").unwrap_or(0);
        let kind = r.str("fault_kind").or_else(|| r.str("kind")).unwrap_or("?");
        let target = r.str("target").unwrap_or("?");
        let step = |t_ms, phase| Step::Fault {
            t_ms,
            index,
            kind,
            target,
            phase,
        };
        if r.is("fault.start") {
            started.insert(index, r);
            if (first..=last).contains(&r.t_ms) {
                out.push(step(r.t_ms, FaultPhase::Starts));
            }
        } else {
            let start = started.remove(&index);
            if (first..=last).contains(&r.t_ms) {
                if let Some(s) = start.filter(|s| s.t_ms < first) {
                    out.push(step(s.t_ms, FaultPhase::ActiveSince));
                }
                out.push(step(r.t_ms, FaultPhase::Ends));
            } else if r.t_ms > last {
                if let Some(s) = start.filter(|s| s.t_ms < first) {
                    out.push(step(s.t_ms, FaultPhase::ActiveSince));
                }
            }
        }
    }
    // Started before the call and never ended.
    for s in started.values().filter(|s| s.t_ms < first) {
        out.push(Step::Fault {
            t_ms: s.t_ms,
            index: s.u64("fault").unwrap_or(0),
            kind: s.str("fault_kind").or_else(|| s.str("kind")).unwrap_or("?"),
            target: s.str("target").unwrap_or("?"),
            phase: FaultPhase::ActiveSince,
        });
    }
    out
}

/// The text of a fault row.
pub fn fault_text(index: u64, kind: &str, target: &str, phase: FaultPhase, t_ms: u64) -> String {
    match phase {
        FaultPhase::ActiveSince => format!(
            "fault #{index} {kind} {target} active since {:.3}s",
            t_ms as f64 / 1000.0
        ),
        _ => format!("fault #{index} {kind} {target} {}", phase.word()),
    }
}

/// The ladder diagram of `call`, or an empty string when the history holds
/// no event of it.
pub fn ladder(history: &History, call: &str) -> String {
    let Some(flow) = Flow::of(history, call) else {
        return String::new();
    };
    let hosts = &flow.hosts;
    let column = |h: &str| hosts.iter().position(|x| *x == h).expect("host listed");
    let mut out = format!("call {call}\n");
    out.push_str(&format!("{:>9}  ", "t"));
    for h in hosts {
        out.push_str(&format!("{:^width$}", h, width = COLUMN_WIDTH));
    }
    out.push('\n');
    let first_ms = flow.steps.iter().find_map(|s| match s {
        Step::Message { t_ms, .. } | Step::Note { t_ms, .. } => Some(*t_ms),
        Step::Fault { .. } => None,
    });
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
                out.push_str(&format!("{:>8.3}s  ", *t_ms as f64 / 1000.0));
                let (from, to) = (column(from), column(to));
                let mut label = label.to_string();
                if *retransmission {
                    label.push('*');
                }
                out.push_str(&arrow_row(hosts.len(), from, to, &label));
                for line in [dialog, sdp].into_iter().flatten() {
                    out.push('\n');
                    out.push_str(&format!("{:>9}  ", ""));
                    out.push_str(&note_row(hosts.len(), &[from], '*', line));
                }
            }
            Step::Note { t_ms, host, text } => {
                out.push_str(&format!("{:>8.3}s  ", *t_ms as f64 / 1000.0));
                out.push_str(&note_row(hosts.len(), &[column(host)], '*', text));
            }
            Step::Fault {
                t_ms,
                index,
                kind,
                target,
                phase,
            } => {
                let row_ms = match phase {
                    FaultPhase::ActiveSince => first_ms.unwrap_or(*t_ms),
                    _ => *t_ms,
                };
                out.push_str(&format!("{:>8.3}s  ", row_ms as f64 / 1000.0));
                let text = fault_text(*index, kind, target, *phase, *t_ms);
                out.push_str(&note_row(
                    hosts.len(),
                    &flow.fault_columns(target),
                    '!',
                    &text,
                ));
            }
        }
        out.push('\n');
    }
    out.push('(');
    out.push_str(LEGEND);
    out.push_str(")\n");
    out
}

/// A dialog as a ladder shows it: the Call-ID's local part (up to 12
/// characters) and the tags it has so far.
fn dialog_text((call_id, from_tag, to_tag): (&str, Option<&str>, Option<&str>)) -> String {
    let local = call_id.split('@').next().unwrap_or(call_id);
    let short: String = local.chars().take(12).collect();
    let mut text = format!("dialog {short}");
    if let Some(tag) = from_tag {
        text.push_str(&format!(" from-tag {tag}"));
    }
    if let Some(tag) = to_tag {
        text.push_str(&format!(" to-tag {tag}"));
    }
    text
}

/// One line for an SDP body: each `m=` line's media, the address (its own
/// `c=` or the session's) and port, transport and formats, and the
/// direction attribute when there is one. Read as text, so the history
/// layer needs no SDP model.
fn sdp_summary(body: &str) -> Option<String> {
    let mut session_addr = None;
    let mut media: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for line in body.lines().map(str::trim) {
        if let Some(c) = line.strip_prefix("c=") {
            let addr = c.split_whitespace().nth(2).map(str::to_string);
            match media.last_mut() {
                Some(m) => m.1 = addr,
                None => session_addr = addr,
            }
        } else if let Some(m) = line.strip_prefix("m=") {
            media.push((m.to_string(), None, None));
        } else if let Some(dir @ ("sendrecv" | "sendonly" | "recvonly" | "inactive")) =
            line.strip_prefix("a=")
        {
            if let Some(m) = media.last_mut() {
                m.2 = Some(dir.to_string());
            }
        }
    }
    if media.is_empty() {
        return None;
    }
    let parts: Vec<String> = media
        .iter()
        .map(|(m, addr, dir)| {
            let mut words = m.split_whitespace();
            let kind = words.next().unwrap_or("?");
            let port = words.next().unwrap_or("?");
            let rest: Vec<&str> = words.collect();
            let addr = addr.as_deref().or(session_addr.as_deref()).unwrap_or("?");
            let mut s = format!("{kind} {addr}:{port} {}", rest.join(" "));
            if let Some(dir) = dir {
                s.push(' ');
                s.push_str(dir);
            }
            s
        })
        .collect();
    Some(format!("sdp {}", parts.join("; ")))
}

fn center(i: usize) -> usize {
    i * COLUMN_WIDTH + COLUMN_WIDTH / 2
}

fn bars(columns: usize) -> Vec<char> {
    let mut row = vec![' '; columns * COLUMN_WIDTH];
    for i in 0..columns {
        row[center(i)] = '|';
    }
    row
}

fn arrow_row(columns: usize, from: usize, to: usize, label: &str) -> String {
    let mut row = bars(columns);
    if from == to {
        let text = format!("<{label}>");
        write_at(&mut row, center(from) + 1, &text);
        return trim(row);
    }
    let (lo, hi) = (center(from.min(to)), center(from.max(to)));
    for c in row.iter_mut().take(hi).skip(lo + 1) {
        *c = '-';
    }
    if to > from {
        row[hi - 1] = '>';
    } else {
        row[lo + 1] = '<';
    }
    let span = hi - lo;
    let start = lo + 1 + span.saturating_sub(label.len() + 2) / 2;
    write_at(&mut row, start, label);
    trim(row)
}

fn note_row(columns: usize, at: &[usize], mark: char, text: &str) -> String {
    let mut row = bars(columns);
    for &i in at {
        row[center(i)] = mark;
    }
    let mut s = trim(row);
    s.push_str("   ");
    s.push_str(text);
    s
}

fn write_at(row: &mut Vec<char>, start: usize, text: &str) {
    for (i, ch) in text.chars().enumerate() {
        if start + i < row.len() {
            row[start + i] = ch;
        } else {
            row.push(ch);
        }
    }
}

fn trim(row: Vec<char>) -> String {
    row.into_iter().collect::<String>().trim_end().to_string()
}

fn note_text(r: &Record) -> String {
    let mut s = format!("{} {}", r.host, r.kind());
    for (name, value) in r.fields() {
        if name != "call" {
            s.push_str(&format!(" {name}={value}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_sdp_body_reads_as_one_line() {
        let body = "v=0\r\no=- 0 0 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n";
        assert_eq!(
            super::sdp_summary(body).as_deref(),
            Some("sdp audio 10.0.0.1:40000 RTP/AVP 0 8 sendonly")
        );
        assert_eq!(super::sdp_summary("v=0\r\n"), None);
    }
}
