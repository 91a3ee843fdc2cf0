//! JSON-lines writer: one object per event, `t_ms`, `host`, `kind`, then the
//! event's fields in the order they were emitted.

use super::{History, Record, Value};
use std::io::{self, Write};

/// One event as a JSON object on one line (no trailing newline).
pub fn record_line(record: &Record) -> String {
    let mut out = String::with_capacity(160);
    out.push_str("{\"t_ms\":");
    out.push_str(&record.t_ms.to_string());
    out.push_str(",\"host\":");
    out.push_str(&json_str(&record.host));
    out.push_str(",\"kind\":");
    out.push_str(&json_str(record.kind()));
    for (name, value) in record.fields() {
        out.push(',');
        out.push_str(&json_str(name));
        out.push(':');
        match value {
            Value::Str(s) => out.push_str(&json_str(s)),
            Value::F64(v) => out.push_str(
                &serde_json::Number::from_f64(*v)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "null".into()),
            ),
            other => out.push_str(&other.to_string()),
        }
    }
    out.push('}');
    out
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// Writes the whole history, one line per event.
pub fn write(history: &History, out: &mut impl Write) -> io::Result<()> {
    for record in &history.records {
        writeln!(out, "{}", record_line(record))?;
    }
    Ok(())
}

/// [`write`], with `sip_text` (the message as sent, from the wire tape:
/// [`super::wire::sip_texts`]) added last to the lines of the records
/// `texts` names by index (`--trace-sip-bodies`).
pub fn write_with_sip_texts(
    history: &History,
    texts: &std::collections::BTreeMap<usize, String>,
    out: &mut impl Write,
) -> io::Result<()> {
    for (i, record) in history.records.iter().enumerate() {
        let mut line = record_line(record);
        if let Some(text) = texts.get(&i) {
            line.pop();
            line.push_str(",\"sip_text\":");
            line.push_str(&json_str(text));
            line.push('}');
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The whole history as a string (for snapshots).
pub fn to_string(history: &History) -> String {
    let mut out = String::new();
    for record in &history.records {
        out.push_str(&record_line(record));
        out.push('\n');
    }
    out
}
