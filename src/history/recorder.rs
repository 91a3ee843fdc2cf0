//! The history recorder: a tracing-subscriber `Layer` that keeps the events
//! of target `callsim` and nothing else.
//!
//! Install it per run with `tracing::subscriber::with_default` (a
//! thread-local default), so that runs on parallel threads never mix
//! histories. Its `register_callsite` says `never` to every other target,
//! which keeps turmoil's per-host, per-tick INFO span free.
//!
//! A recorder made with [`Recorder::counting_network`] also counts the
//! messages turmoil puts on its links (its `Send` trace events, UDP
//! datagrams and TCP segments apart), for the benchmark's raw-turmoil floor;
//! the count does not enter the history.
//!
//! Each event is stamped with `host` from the nearest enclosing `host{name}`
//! span and with `t_ms`, the sim time `turmoil::sim_elapsed()` gives inside
//! a host: read from the host's anchored tokio clock when the tick allows it
//! ([`Recorder::with_tick`]), else from turmoil; outside hosts (the
//! test-bed's own events), from the clock the test-bed's step loop advances.

use super::network::{self, NetworkCounts};
use super::wire::{self, Tape, TapeSink};
use super::{Fnv, History, Record, Shape, Text, Value};
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
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

/// The host whose software is running now: the name on the nearest
/// enclosing `host{name}` span, when the recorder is this thread's
/// subscriber (`None` outside a host or a run). Code deep in a library
/// layer (a SIP transaction, an RPC exchange) uses it to find its host's
/// fault points without carrying a context.
pub fn current_host() -> Option<Arc<str>> {
    tracing::Span::current().with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let span = registry.span(id)?;
        span.scope()
            .find_map(|s| s.extensions().get::<HostData>().map(|h| h.name.clone()))
    })?
}

/// Shared state of one run's recorder.
#[derive(Clone, Default)]
pub struct Recorder {
    store: Arc<Mutex<Store>>,
    /// Sim time in ms for events emitted outside any host.
    clock_ms: Arc<AtomicU64>,
    testbed_host: Arc<str>,
    /// Set by [`Recorder::counting_network`].
    network: Option<Arc<network::Tally>>,
    /// Whether events take their time from the host's anchored tokio clock
    /// (see [`HostData`]); set by [`Recorder::with_tick`].
    anchored_clock: bool,
    /// Set by [`Recorder::capturing`]: the wire tape of the run.
    tape: Option<Arc<TapeSink>>,
}

/// What the recorder keeps on a `host{name}` span: the name, and the
/// host's sim clock, anchored at the incarnation's first event.
struct HostData {
    name: Arc<str>,
    /// The host's tokio time and `turmoil::sim_elapsed()` at one moment.
    /// With a tick of whole milliseconds, turmoil advances a host's paused
    /// tokio clock by exactly the time it adds to the host's elapsed time
    /// (tokio rounds sleeps up to whole milliseconds, so other ticks drift),
    /// so sim time is this anchor plus the tokio time since: the value
    /// `turmoil::sim_elapsed()` gives, without its hashed lookup of the
    /// current host on every event. A restarted host runs a new runtime
    /// under a new span, with a new anchor.
    anchor: std::sync::OnceLock<(tokio::time::Instant, std::time::Duration)>,
}

impl HostData {
    /// Sim time now: from the anchored clock when `anchored` (the tick
    /// allows it, see [`Recorder::with_tick`]) and inside a runtime (an
    /// event from a drop outside one, a crashed host's tasks or the end of
    /// the run, would read the wall clock through tokio); else from turmoil.
    fn sim_elapsed(&self, anchored: bool) -> Option<std::time::Duration> {
        if !anchored || tokio::runtime::Handle::try_current().is_err() {
            return turmoil::sim_elapsed();
        }
        if let Some((instant, sim)) = self.anchor.get() {
            return Some(*sim + (tokio::time::Instant::now() - *instant));
        }
        let sim = turmoil::sim_elapsed()?;
        let _ = self.anchor.set((tokio::time::Instant::now(), sim));
        Some(sim)
    }
}

/// A fixed, fast hasher (FNV-1a) for the interning maps: they are only
/// looked up, never iterated, and their keys are short strings.
type Fixed = BuildHasherDefault<Fnv>;

/// The records and what they share: one copy of each string value and one
/// [`Shape`] per event kind. A load run's events repeat a few strings per
/// call (call id, SIP Call-ID, start lines, peers), so interning keeps
/// memory per event near its 48 bytes plus 16 per field.
#[derive(Default)]
struct Store {
    records: Vec<Record>,
    texts: HashSet<Text, Fixed>,
    shapes: HashMap<Box<str>, Vec<Arc<Shape>>, Fixed>,
    names: Vec<&'static str>,
    values: Vec<Value>,
}

impl Store {
    fn text(&mut self, value: &str) -> Text {
        if let Some(text) = self.texts.get(value) {
            return text.clone();
        }
        let text = Text::from(value);
        self.texts.insert(text.clone());
        text
    }

    /// The shared shape of `kind` with the field names collected so far.
    fn shape(&mut self, kind: &str) -> Arc<Shape> {
        let names = &self.names;
        if let Some(shape) = self
            .shapes
            .get(kind)
            .and_then(|shapes| shapes.iter().find(|s| *s.names == **names))
        {
            return shape.clone();
        }
        let shape = Arc::new(Shape {
            kind: kind.into(),
            names: names.as_slice().into(),
        });
        self.shapes
            .entry(kind.into())
            .or_default()
            .push(shape.clone());
        shape
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            store: Arc::default(),
            clock_ms: Arc::default(),
            testbed_host: Arc::from("testbed"),
            network: None,
            anchored_clock: false,
            tape: None,
        }
    }

    /// A recorder that also keeps the wire tape (see [`super::wire`]):
    /// every message turmoil put on a link and every datagram a loss rule
    /// dropped at its sender. It costs a dispatch and a hex dump per
    /// message, so only `--pcap`, `--trace-sip-bodies` and failure bundles
    /// use it; the history (and its hash) is the same as without it.
    pub fn capturing(self) -> Recorder {
        Recorder {
            tape: Some(Arc::default()),
            ..self
        }
    }

    /// Takes the wire tape recorded so far; `None` unless made with
    /// [`Recorder::capturing`].
    pub fn take_tape(&self) -> Option<Tape> {
        self.tape.as_deref().map(TapeSink::take)
    }

    fn captures(&self, metadata: &Metadata<'_>) -> bool {
        self.tape.is_some() && wire::is_wire_event(metadata)
    }

    /// Takes event times from each host's anchored tokio clock (see
    /// [`HostData`]) when `tick` is a whole number of milliseconds, the
    /// only case where it equals `turmoil::sim_elapsed()`; otherwise every
    /// event asks turmoil.
    pub fn with_tick(self, tick: std::time::Duration) -> Recorder {
        Recorder {
            anchored_clock: tick.subsec_nanos().is_multiple_of(1_000_000),
            ..self
        }
    }

    /// A recorder that also counts turmoil's link messages (see
    /// [`Recorder::network_counts`]). It costs a dispatch per message, so
    /// only the benchmark uses it, outside its timed runs.
    pub fn counting_network() -> Recorder {
        Recorder {
            network: Some(Arc::default()),
            ..Recorder::new()
        }
    }

    /// The link messages counted so far; `None` unless made with
    /// [`Recorder::counting_network`].
    pub fn network_counts(&self) -> Option<NetworkCounts> {
        self.network.as_deref().map(network::Tally::counts)
    }

    fn counts_network(&self, metadata: &Metadata<'_>) -> bool {
        self.network.is_some() && network::is_link_event(metadata)
    }

    /// Advances the clock used for events emitted outside hosts.
    pub fn set_clock_ms(&self, t_ms: u64) {
        self.clock_ms.store(t_ms, Ordering::Relaxed);
    }

    /// Takes the recorded history, leaving the recorder empty, in time
    /// order: each host stamps its events with its own view of sim time,
    /// so two hosts stepped in the same tick can record out of order (a
    /// host's timer at 3521 ms before another's event at 3520 ms). The sort
    /// is stable (the recorded order stays among events of the same
    /// millisecond) and cheap, as the records are nearly sorted already.
    pub fn take(&self) -> History {
        let mut records = {
            let mut store = self.store.lock().expect("recorder lock");
            store.texts.clear();
            store.shapes.clear();
            std::mem::take(&mut store.records)
        };
        records.sort_by_key(|r| r.t_ms);
        History { records }
    }

    /// Number of events recorded so far.
    pub fn len(&self) -> usize {
        self.store.lock().expect("recorder lock").records.len()
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
        if is_ours(metadata) || self.counts_network(metadata) || self.captures(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        is_ours(metadata) || self.counts_network(metadata) || self.captures(metadata)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != HOST_SPAN || !is_ours(attrs.metadata()) {
            return;
        }
        let mut visitor = NameVisitor(None);
        attrs.record(&mut visitor);
        if let (Some(name), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(HostData {
                name: Arc::from(name),
                anchor: Default::default(),
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !is_ours(event.metadata()) {
            if let Some(tally) = &self.network {
                if network::is_link_event(event.metadata()) {
                    tally.record(event);
                }
            }
            if let Some(tape) = &self.tape {
                if wire::is_wire_event(event.metadata()) {
                    let (host, elapsed) = self.stamp(event, &ctx);
                    // turmoil's link events fire while it holds its world,
                    // where it cannot tell the time: the step loop's clock.
                    let t_us = elapsed
                        .map(|d| d.as_micros() as u64)
                        .unwrap_or_else(|| self.clock_ms.load(Ordering::Relaxed) * 1000);
                    tape.record(event, t_us, host);
                }
            }
            return;
        }
        let (host, elapsed) = self.stamp(event, &ctx);
        let host = host.unwrap_or_else(|| self.testbed_host.clone());
        let t_ms = elapsed
            .map(|d| d.as_millis() as u64)
            .unwrap_or_else(|| self.clock_ms.load(Ordering::Relaxed));
        let mut store = self.store.lock().expect("recorder lock");
        let store = &mut *store;
        store.names.clear();
        store.values.clear();
        let mut visitor = FieldVisitor { store, kind: None };
        event.record(&mut visitor);
        let kind = visitor.kind.take();
        let shape = store.shape(kind.as_deref().unwrap_or("unknown"));
        let values = store.values.as_slice().into();
        store
            .records
            .push(Record::with_shape(t_ms, host, shape, values));
    }
}

impl Recorder {
    /// The host an event comes from (its nearest `host{name}` span) and
    /// the sim time there, when it can be read (else the caller falls back
    /// on the step loop's clock).
    fn stamp<S>(
        &self,
        event: &Event<'_>,
        ctx: &Context<'_, S>,
    ) -> (Option<Arc<str>>, Option<std::time::Duration>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let anchored = self.anchored_clock;
        let stamp = ctx.event_scope(event).and_then(|scope| {
            scope.into_iter().find_map(|span| {
                span.extensions()
                    .get::<HostData>()
                    .map(|h| (h.name.clone(), h.sim_elapsed(anchored)))
            })
        });
        match stamp {
            Some((host, elapsed)) => (Some(host), elapsed),
            // Outside host spans: a host's own clock if one is running,
            // else the test-bed's.
            None => (None, turmoil::sim_elapsed()),
        }
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

struct FieldVisitor<'a> {
    store: &'a mut Store,
    kind: Option<Text>,
}

impl FieldVisitor<'_> {
    fn push(&mut self, field: &Field, value: Value) {
        self.store.names.push(field.name());
        self.store.values.push(value);
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let text = self.store.text(value);
        if field.name() == "kind" {
            self.kind = Some(text);
        } else {
            self.push(field, Value::Str(text));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::U64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            return;
        }
        let text = self.store.text(&format!("{value:?}"));
        self.push(field, Value::Str(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{emit, Event};
    use tracing_subscriber::layer::SubscriberExt;

    /// Records `events` (time, host, call) outside any turmoil host, as the
    /// test-bed's step loop would stamp them.
    fn record(events: &[(u64, &str, &str)]) -> History {
        let recorder = Recorder::new();
        let subscriber = tracing_subscriber::registry().with(recorder.clone());
        tracing::subscriber::with_default(subscriber, || {
            for (t_ms, host, call) in events {
                recorder.set_clock_ms(*t_ms);
                let _entered = host_span(host).entered();
                emit(Event::MediaRx {
                    call,
                    from: "carrier",
                    from_addr: "192.168.0.9:10000",
                });
            }
        });
        recorder.take()
    }

    #[test]
    fn records_share_their_strings_and_their_shape() {
        let history = record(&[(1, "sip-1", "out-1"), (2, "sip-2", "out-1")]);
        let [a, b] = &history.records[..] else {
            panic!("two records, got {}", history.len());
        };
        let (Some(Value::Str(call_a)), Some(Value::Str(call_b))) = (a.get("call"), b.get("call"))
        else {
            panic!("both carry a call");
        };
        assert!(call_a.shares_storage_with(call_b), "one copy of `out-1`");
        assert!(Arc::ptr_eq(&a.shape, &b.shape), "one shape for media.rx");
        assert_eq!(a.kind(), "media.rx");
        assert_eq!(
            a.fields().map(|(n, _)| n).collect::<Vec<_>>(),
            ["call", "from", "from_addr"]
        );
    }

    #[test]
    fn take_sorts_by_time_and_keeps_the_recorded_order_within_a_millisecond() {
        let history = record(&[
            (20, "sip-1", "late"),
            (10, "sip-2", "first"),
            (10, "sip-1", "second"),
        ]);
        let order: Vec<(u64, &str)> = history
            .records
            .iter()
            .map(|r| (r.t_ms, r.call().expect("call")))
            .collect();
        assert_eq!(order, [(10, "first"), (10, "second"), (20, "late")]);
    }
}
