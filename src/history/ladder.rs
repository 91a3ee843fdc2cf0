//! The text ladder (call-flow) diagram of one call: a column per host, an
//! arrow per SIP message sent, and a note per call-level event, with sim
//! times. Joined by the platform-wide call id, so both legs of a B2BUA and
//! the carrier's view appear in one picture, like the figures of RFC 3665.

use super::{History, Record};

/// Width of one host column.
const COLUMN_WIDTH: usize = 16;

/// Event kinds drawn as notes beside the ladder.
const NOTE_KINDS: [&str; 9] = [
    "call.start",
    "api.request",
    "api.response",
    "rpc.request",
    "rpc.response",
    "callee.outcome",
    "call.answered",
    "verb.result",
    "call.end",
];

/// The ladder diagram of `call`, or an empty string when the history holds
/// no event of it.
pub fn ladder(history: &History, call: &str) -> String {
    let events: Vec<&Record> = history
        .of_call(call)
        .filter(|r| r.is("sip.send") || NOTE_KINDS.contains(&r.kind()))
        .collect();
    if events.is_empty() {
        return String::new();
    }
    let mut hosts: Vec<&str> = Vec::new();
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
    let mut out = format!("call {call}\n");
    out.push_str(&format!("{:>9}  ", "t"));
    for h in &hosts {
        out.push_str(&format!("{:^width$}", h, width = COLUMN_WIDTH));
    }
    out.push('\n');
    for r in events {
        out.push_str(&format!("{:>8.3}s  ", r.t_ms as f64 / 1000.0));
        let from = hosts
            .iter()
            .position(|h| *h == &*r.host)
            .expect("host listed");
        if r.is("sip.send") {
            let to = r
                .str("peer")
                .and_then(|p| hosts.iter().position(|h| *h == p))
                .unwrap_or(from);
            let mut label = r.str("start_line").unwrap_or("?").to_string();
            if r.bool("retransmission") == Some(true) {
                label.push('*');
            }
            out.push_str(&arrow_row(hosts.len(), from, to, &label));
            if let Some(sdp) = r.str("sdp").and_then(sdp_summary) {
                out.push('\n');
                out.push_str(&format!("{:>9}  ", ""));
                out.push_str(&note_row(hosts.len(), from, &sdp));
            }
        } else {
            out.push_str(&note_row(hosts.len(), from, &note_text(r)));
        }
        out.push('\n');
    }
    out.push_str(
        "(* = retransmission; sdp: the body's media line, address:port, formats, direction)\n",
    );
    out
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

fn note_row(columns: usize, at: usize, text: &str) -> String {
    let mut row = bars(columns);
    row[center(at)] = '*';
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
