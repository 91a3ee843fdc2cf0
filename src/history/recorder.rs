//! The history recorder: a tracing-subscriber `Layer` that keeps the events
//! of target `callsim` and nothing else.
//!
//! Install it per run with `tracing::subscriber::with_default` (a
//! thread-local default), so that runs on parallel threads never mix
//! histories. Its `register_callsite` says `never` to every other target,
//! which keeps turmoil's per-host, per-tick INFO span free.
//!
//! Each event is stamped with `t_ms` from `turmoil::sim_elapsed()` (which
//! works inside a host) or, outside hosts (the test-bed's own events), from
//! the clock the test-bed's step loop advances; and with `host` from the
//! nearest enclosing `host{name}` span.

use super::{History, Record, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Name of the span that marks a host's software.
pub const HOST_SPAN: &str = "host";

/// The span the test-bed wraps around each host's software.
pub fn host_span(name: &str) -> tracing::Span {
    tracing::info_span!(target: "callsim", "host", name = name)
}

/// Shared state of one run's recorder.
#[derive(Clone, Default)]
pub struct Recorder {
    records: Arc<Mutex<Vec<Record>>>,
    /// Sim time in ms for events emitted outside any host.
    clock_ms: Arc<AtomicU64>,
    testbed_host: Arc<str>,
}

struct HostName(Arc<str>);

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            records: Arc::default(),
            clock_ms: Arc::default(),
            testbed_host: Arc::from("testbed"),
        }
    }

    /// Advances the clock used for events emitted outside hosts.
    pub fn set_clock_ms(&self, t_ms: u64) {
        self.clock_ms.store(t_ms, Ordering::Relaxed);
    }

    /// Takes the recorded history, leaving the recorder empty.
    pub fn take(&self) -> History {
        let records = std::mem::take(&mut *self.records.lock().expect("recorder lock"));
        History { records }
    }

    /// Number of events recorded so far.
    pub fn len(&self) -> usize {
        self.records.lock().expect("recorder lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn is_ours(metadata: &Metadata<'_>) -> bool {
    metadata.target() == super::event::TARGET
}

impl<S> Layer<S> for Recorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if is_ours(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        is_ours(metadata)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != HOST_SPAN || !is_ours(attrs.metadata()) {
            return;
        }
        let mut visitor = NameVisitor(None);
        attrs.record(&mut visitor);
        if let (Some(name), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(HostName(Arc::from(name)));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !is_ours(event.metadata()) {
            return;
        }
        let host = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope
                    .into_iter()
                    .find_map(|span| span.extensions().get::<HostName>().map(|h| h.0.clone()))
            })
            .unwrap_or_else(|| self.testbed_host.clone());
        let t_ms = turmoil::sim_elapsed()
            .map(|d| d.as_millis() as u64)
            .unwrap_or_else(|| self.clock_ms.load(Ordering::Relaxed));
        let mut visitor = FieldVisitor {
            kind: None,
            fields: Vec::with_capacity(8),
        };
        event.record(&mut visitor);
        let record = Record {
            t_ms,
            host,
            kind: visitor.kind.unwrap_or_else(|| "unknown".into()),
            fields: visitor.fields,
        };
        self.records.lock().expect("recorder lock").push(record);
    }
}

struct NameVisitor(Option<String>);

impl Visit for NameVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "name" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "name" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

struct FieldVisitor {
    kind: Option<Box<str>>,
    fields: Vec<(&'static str, Value)>,
}

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "kind" {
            self.kind = Some(value.into());
        } else {
            self.fields.push((field.name(), Value::Str(value.into())));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.push((field.name(), Value::U64(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.push((field.name(), Value::I64(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.push((field.name(), Value::F64(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.push((field.name(), Value::Bool(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            return;
        }
        self.fields
            .push((field.name(), Value::Str(format!("{value:?}").into())));
    }
}
