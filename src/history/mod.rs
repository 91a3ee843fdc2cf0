//! The history of a run: every event of CONTRACTS.md's vocabulary, in order,
//! with its sim time and host.
//!
//! Nodes emit events through the typed API in [`event`] (never by typing
//! kind strings at call sites); the [`recorder::Recorder`] layer turns them
//! into [`Record`]s; oracles, monitors, reports and figures read only these.
//!
//! # Layout
//! - `event`: the typed event API ([`Event`]) and its vocabulary.
//! - `recorder`: the tracing-subscriber `Layer` that records, and the
//!   `host{name}` span the test-bed wraps around each host.
//! - `network`: the optional count of messages turmoil put on its links
//!   (for the benchmark's raw floor).
//! - `jsonl`: the JSON-lines writer (`--trace FILE.jsonl`).
//! - `ladder`: the text ladder (call-flow) diagram of one call, and the
//!   flow model (`Flow`) it shares with `mermaid`.
//! - `mermaid`: the same flow as a Mermaid `sequenceDiagram`.
//! - `wire`: the optional wire tape (every message on turmoil's network,
//!   with its fate), fed by a capturing recorder.
//! - `pcap`: the pcapng writer of a wire tape (`--pcap FILE`).

pub mod event;
pub mod jsonl;
pub mod ladder;
pub mod mermaid;
pub mod network;
pub mod pcap;
pub mod recorder;
pub mod wire;

pub use event::{emit, EndOutcome, Event};
pub use network::NetworkCounts;
pub use recorder::{current_host, host_span, Recorder};

use std::fmt::Write as _;
use std::sync::Arc;

/// A field value. Only these types reach the history, so that hashing and
/// writing are exact (no float formatting differences across runs). Every
/// variant is 8 bytes of payload, so a value is 16 bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(Text),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::U64(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Str(v) => f.write_str(v),
        }
    }
}

/// A string field value: a thin, shared pointer, so that the recorder can
/// keep one copy of a string that thousands of events carry (call ids,
/// hosts, start lines) and a value stays 16 bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(Arc<String>);

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self.0, f)
    }
}

impl Text {
    /// Whether two texts are one interned copy (not just equal).
    pub fn shares_storage_with(&self, other: &Text) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text(Arc::new(s.to_string()))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(Arc::new(s))
    }
}

/// An event's kind and the names of its fields, in emission order. Every
/// event of one kind has one shape, which the recorder shares between its
/// records instead of storing names with every value.
#[derive(Debug, PartialEq)]
pub struct Shape {
    pub kind: Box<str>,
    pub names: Box<[&'static str]>,
}

/// One recorded event: 48 bytes plus 16 per field value.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Sim time in milliseconds.
    pub t_ms: u64,
    /// The host that emitted it (`testbed` for the test-bed's own events).
    pub host: Arc<str>,
    shape: Arc<Shape>,
    values: Box<[Value]>,
}

impl Record {
    /// A record with its own shape (tests and synthetic events; the
    /// recorder shares shapes instead).
    pub fn new(t_ms: u64, host: &str, kind: &str, fields: Vec<(&'static str, Value)>) -> Record {
        let (names, values): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
        let shape = Arc::new(Shape {
            kind: kind.into(),
            names: names.into(),
        });
        Record::with_shape(t_ms, Arc::from(host), shape, values.into())
    }

    /// A record of an interned shape; `values` follow `shape.names`.
    pub fn with_shape(
        t_ms: u64,
        host: Arc<str>,
        shape: Arc<Shape>,
        values: Box<[Value]>,
    ) -> Record {
        debug_assert_eq!(shape.names.len(), values.len());
        Record {
            t_ms,
            host,
            shape,
            values,
        }
    }

    /// The event kind, e.g. `sip.send`.
    pub fn kind(&self) -> &str {
        &self.shape.kind
    }

    /// The fields other than the kind, in the order they were emitted.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &Value)> + '_ {
        self.shape.names.iter().copied().zip(self.values.iter())
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        let i = self.shape.names.iter().position(|n| *n == name)?;
        self.values.get(i)
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn u64(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            Value::U64(v) => Some(*v),
            Value::I64(v) if *v >= 0 => Some(*v as u64),
            _ => None,
        }
    }

    pub fn f64(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Value::F64(v) => Some(*v),
            Value::U64(v) => Some(*v as f64),
            Value::I64(v) => Some(*v as f64),
            _ => None,
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }

    /// The call id, for events that carry one.
    pub fn call(&self) -> Option<&str> {
        self.str("call")
    }

    pub fn is(&self, kind: &str) -> bool {
        self.kind() == kind
    }
}

/// All events of one run, in the order they happened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub records: Vec<Record>,
}

impl History {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Events of one kind, in order.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records.iter().filter(move |r| r.is(kind))
    }

    /// Events of one call, in order.
    pub fn of_call<'a>(&'a self, call: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records.iter().filter(move |r| r.call() == Some(call))
    }

    /// A stable 64-bit hash of the events in order, with their fields
    /// (FNV-1a over a canonical encoding; never over wall-clock figures).
    pub fn hash(&self) -> u64 {
        let mut h = Fnv::new();
        for r in &self.records {
            hash_record(&mut h, r);
        }
        h.0
    }

    /// [`History::hash`] as 16 hex digits.
    pub fn hash_hex(&self) -> String {
        format!("{:016x}", self.hash())
    }

    /// The first index at which two histories differ (for determinism
    /// checks that stop at the first divergence).
    pub fn first_divergence(&self, other: &History) -> Option<usize> {
        let n = self.records.len().min(other.records.len());
        (0..n)
            .find(|&i| self.records[i] != other.records[i])
            .or((self.records.len() != other.records.len()).then_some(n))
    }

    /// One event as a short line, for divergence and violation messages.
    pub fn describe(record: &Record) -> String {
        let mut s = format!("t={}ms {} {}", record.t_ms, record.host, record.kind());
        for (name, value) in record.fields() {
            let _ = write!(s, " {name}={value}");
        }
        s
    }
}

fn hash_record(h: &mut Fnv, r: &Record) {
    h.write(&r.t_ms.to_le_bytes());
    h.write(r.host.as_bytes());
    h.write(&[0]);
    h.write(r.kind().as_bytes());
    h.write(&[0]);
    for (name, value) in r.fields() {
        h.write(name.as_bytes());
        h.write(&[0]);
        match value {
            Value::U64(v) => h.write(&[1]).write(&v.to_le_bytes()),
            Value::I64(v) => h.write(&[2]).write(&v.to_le_bytes()),
            Value::F64(v) => h.write(&[3]).write(&v.to_bits().to_le_bytes()),
            Value::Bool(v) => h.write(&[4, *v as u8]),
            Value::Str(v) => h.write(&[5]).write(v.as_bytes()).write(&[0]),
        };
    }
    h.write(&[0xff]);
}

/// FNV-1a, 64 bit: small, fast, and the same on every platform and run.
pub struct Fnv(pub u64);

impl Fnv {
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub fn write(&mut self, bytes: &[u8]) -> &mut Fnv {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        Fnv::write(self, bytes);
    }
}

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv::new()
    }
}
