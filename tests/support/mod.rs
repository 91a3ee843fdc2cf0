//! What the integration tests share: running a scenario ([`run`],
//! [`history_of`]), a private directory per test ([`scratch_dir`]), and a
//! small harness for the infrastructure nodes (LB, SBC pods, deployer)
//! with stand-in endpoints: a caller (`carrier`) and answerers (`sip-N`)
//! built on the platform's SIP user agent, with media sessions (one
//! datagram per second each way: the offer in `X-Callsim-Media`, the answer
//! by latching, as the platform's endpoints do).
//!
//! The harness builds the turmoil sim by hand, like the test-bed does, so
//! a test can reach the control handles (fault settings, deployer
//! commands) and turmoil's links at scheduled times, and read what the
//! endpoints saw.

#![allow(dead_code)]

use callsim::history::{emit, host_span, Event, History, Recorder};
use callsim::net::UdpEndpoint;
use callsim::report::Report;
use callsim::scenario::{HostSpec, NodesConfig, Scenario};
use callsim::sim::Control;
use callsim::sim::NodeCtx;
use callsim::sip::sdp;
use callsim::sip::ua::{CallOutcome, CallRequest, SipUa, UaConfig};
use callsim::sip::SipTimers;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

pub const SIP_PORT: u16 = 5060;
pub const MEDIA_PORT: u16 = 10000;

/// What the caller saw of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSeen {
    pub call: String,
    pub started_ms: u64,
    /// 200, a rejection code, 408 for the caller's own timeout, 0 for no
    /// response at all.
    pub status: u16,
    pub ended_ms: u64,
    /// Media datagrams the caller received while connected.
    pub media_in: u32,
}

/// The calls the caller places.
#[derive(Debug, Clone)]
pub struct Calls {
    pub count: u32,
    pub gap: Duration,
    /// Hosts the caller sends INVITEs to, round robin.
    pub targets: Vec<String>,
    /// How long an answered call lasts before the caller hangs up.
    pub talk: Duration,
    /// The caller's CANCEL after this long without an answer.
    pub ringing_timeout: Duration,
}

/// How the answerers behave.
#[derive(Debug, Clone)]
pub struct Answer {
    pub after: Duration,
}

pub type Action = Box<dyn FnOnce(&mut turmoil::Sim<'_>, &BTreeMap<String, Control>)>;

pub struct Harness {
    pub nodes: String,
    pub answerers: u32,
    pub calls: Calls,
    pub answer: Answer,
    pub duration: Duration,
    pub seed: u64,
    /// Done at sim times (ms).
    pub actions: Vec<(u64, Action)>,
}

pub struct Outcome {
    pub history: History,
    pub calls: Vec<CallSeen>,
    /// Media datagrams each answerer host received per call.
    pub answerer_media: BTreeMap<String, u32>,
}

/// Runs `scenario` at `seed` through the test-bed, as `callsim run` does,
/// and builds its report (with a wall time of 0, so that two reports of
/// one run compare equal).
pub fn run(scenario: &Scenario, seed: u64) -> Report {
    let output = callsim::testbed::run(scenario, seed).unwrap_or_else(|e| {
        panic!(
            "the run completes: {e}\n{}",
            callsim::report::seed_block(scenario, seed, None)
        )
    });
    Report::build(scenario, output, 0)
}

/// The history of the scenario written in `text` (`name` is the file name
/// its errors give), run at its own seed.
pub fn history_of(text: &str, name: &str) -> History {
    let scenario = Scenario::from_toml(text, name.as_ref())
        .unwrap_or_else(|e| panic!("{name} is a valid scenario: {e}"));
    callsim::testbed::run(&scenario, scenario.run.seed)
        .unwrap_or_else(|e| panic!("{name}: the run completes: {e}"))
        .history
}

fn ms() -> u64 {
    turmoil::sim_elapsed()
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One UDP datagram turmoil put on a link (a wire tap).
#[derive(Debug, Clone)]
pub struct Wire {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// A tracing layer that keeps every UDP datagram turmoil puts on a link,
/// from its `Send` trace events (the recorder lets them through when it
/// counts the network, [`Recorder::counting_network`]).
#[derive(Clone, Default)]
struct Tap(Arc<std::sync::Mutex<Vec<Wire>>>);

#[derive(Default)]
struct TapVisitor {
    send: bool,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    protocol: String,
}

impl tracing::field::Visit for TapVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.send = text == "Send",
            "src" => self.src = text.parse().ok(),
            "dst" => self.dst = text.parse().ok(),
            "protocol" => self.protocol = text,
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Tap {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "turmoil" {
            return;
        }
        let mut v = TapVisitor::default();
        event.record(&mut v);
        let (true, Some(from), Some(to)) = (v.send, v.src, v.dst) else {
            return;
        };
        let Some(hex) = v
            .protocol
            .strip_prefix("UDP [")
            .and_then(|r| r.strip_suffix(']'))
        else {
            return;
        };
        let bytes = hex
            .split(", ")
            .filter(|b| !b.is_empty())
            .map(|b| u8::from_str_radix(b.trim_start_matches("0x"), 16).expect("a hex byte"))
            .collect();
        self.0.lock().expect("tap").push(Wire { from, to, bytes });
    }
}

/// What a tapped run saw on the wire: every UDP datagram, and each
/// host's IP address.
pub struct Tapped {
    pub wire: Vec<Wire>,
    pub hosts: BTreeMap<std::net::IpAddr, String>,
}

impl Harness {
    pub fn run(self) -> Outcome {
        self.run_with(None).0
    }

    /// [`Harness::run`] with a wire tap.
    pub fn run_tapped(self) -> (Outcome, Tapped) {
        let tap = Tap::default();
        let (outcome, hosts) = self.run_with(Some(tap.clone()));
        let wire = tap.0.lock().expect("tap").clone();
        (outcome, Tapped { wire, hosts })
    }

    fn run_with(self, tap: Option<Tap>) -> (Outcome, BTreeMap<std::net::IpAddr, String>) {
        let nodes: NodesConfig = toml::from_str(&self.nodes).expect("nodes TOML");
        let mut topology = nodes.topology();
        for pod in 1..=self.answerers {
            topology.hosts.push(HostSpec {
                name: format!("sip-{pod}"),
                kind: "echo",
                pod,
                section: "sip",
            });
        }
        topology.hosts.push(HostSpec {
            name: "carrier".into(),
            kind: "echo",
            pod: 0,
            section: "carrier",
        });
        for section in nodes.sections() {
            let name = section.name;
            let prefix = format!("nodes.{name}");
            // Each section's own checks, against the stand-in topology.
            NodesConfig::check_section_value(name, &section.value, &topology)
                .unwrap_or_else(|e| panic!("{prefix}: {}: {}", e.field, e.message));
        }
        let mut scenario = Scenario::new(callsim::scenario::RunConfig::new(self.duration.into()));
        scenario.nodes = nodes.clone();
        scenario.run.seed = self.seed;
        let recorder = match tap {
            Some(_) => Recorder::counting_network(),
            None => Recorder::new(),
        };
        let subscriber = tracing_subscriber::registry()
            .with(recorder.clone())
            .with(tap);
        let mut hosts_by_ip = BTreeMap::new();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let answerer_media = Rc::new(RefCell::new(BTreeMap::new()));
        tracing::subscriber::with_default(subscriber, || {
            let mut sim = turmoil::Builder::new()
                .rng_seed(self.seed)
                .tick_duration(Duration::from_millis(10))
                .simulation_duration(self.duration + Duration::from_secs(1))
                .build();
            let topology = Arc::new(topology.clone());
            let shared =
                Arc::new(toml::Value::try_from(&scenario.workload).expect("workload as TOML"));
            let mut controls = BTreeMap::new();
            for host in topology.hosts.iter() {
                let value = nodes
                    .section_value(host.section)
                    .unwrap_or(toml::Value::Table(Default::default()));
                let control = Control::new(value);
                let ctx = NodeCtx {
                    name: Arc::from(host.name.as_str()),
                    kind: host.kind,
                    pod: host.pod,
                    section: host.section,
                    seed: self.seed,
                    incarnation: 0,
                    control: control.handle(),
                    workload: shared.clone(),
                    topology: topology.clone(),
                };
                controls.insert(host.name.clone(), control);
                match host.section {
                    "sip" => {
                        let (answer, media) = (self.answer.clone(), answerer_media.clone());
                        sim.host(host.name.as_str(), move || {
                            let ctx = ctx.clone();
                            let (answer, media) = (answer.clone(), media.clone());
                            let span = host_span(&ctx.name);
                            async move { answerer(ctx, answer, media).await }.instrument(span)
                        });
                    }
                    "carrier" => {
                        let (calls, seen) = (self.calls.clone(), seen.clone());
                        sim.client(
                            host.name.as_str(),
                            caller(ctx, calls, seen).instrument(host_span(&host.name)),
                        );
                    }
                    _ => {
                        sim.host(host.name.as_str(), move || {
                            let ctx = ctx.clone();
                            let span = host_span(&ctx.name);
                            async move { callsim::nodes::run(ctx).await }.instrument(span)
                        });
                    }
                }
            }
            let mut actions = self.actions;
            actions.sort_by_key(|(at, _)| *at);
            let mut actions = actions.into_iter().peekable();
            let end_ms = self.duration.as_millis() as u64;
            loop {
                let now = sim.elapsed().as_millis() as u64;
                recorder.set_clock_ms(now);
                while let Some((_, action)) = actions.next_if(|(at, _)| *at <= now) {
                    action(&mut sim, &controls);
                }
                if now >= end_ms {
                    break;
                }
                match sim.step() {
                    Ok(_) => {}
                    Err(e) => panic!("sim failed at {now} ms: {e}"),
                }
            }
            for host in topology.hosts.iter() {
                hosts_by_ip.insert(sim.lookup(host.name.as_str()), host.name.clone());
            }
        });
        let calls = seen.borrow().clone();
        let answerer_media = answerer_media.borrow().clone();
        let outcome = Outcome {
            history: recorder.take(),
            calls,
            answerer_media,
        };
        (outcome, hosts_by_ip)
    }
}

fn ua_config(user: &str) -> UaConfig {
    UaConfig {
        timers: SipTimers::default(),
        user: user.to_string(),
        session_timer: None,
        advertised: None,
    }
}

/// Per call: datagrams received, and the first sender.
type ReceivedByCall = BTreeMap<String, (u32, Option<SocketAddr>)>;

/// Media of one host: one socket, datagrams `MEDIA <call> <seq>`; counts
/// what arrives per call and remembers each call's first sender.
#[derive(Clone)]
struct Media {
    socket: UdpEndpoint,
    received: Rc<RefCell<ReceivedByCall>>,
}

impl Media {
    async fn bind(ctx: &NodeCtx) -> Media {
        let socket = UdpEndpoint::bind(ctx, MEDIA_PORT)
            .await
            .expect("media port");
        let media = Media {
            socket,
            received: Rc::default(),
        };
        let rx = media.clone();
        callsim::sim::spawn(async move {
            let mut buf = [0u8; 256];
            while let Ok((n, from)) = rx.socket.recv_from(&mut buf).await {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let mut parts = text.split(' ');
                if parts.next() != Some("MEDIA") {
                    continue;
                }
                let Some(call) = parts.next() else { continue };
                emit(Event::MediaRx {
                    call,
                    from: &callsim::net::host_of(from),
                    from_addr: &from.to_string(),
                });
                let mut received = rx.received.borrow_mut();
                let entry = received.entry(call.to_string()).or_insert((0, None));
                entry.0 += 1;
                entry.1.get_or_insert(from);
            }
        });
        media
    }

    fn count(&self, call: &str) -> u32 {
        self.received.borrow().get(call).map_or(0, |e| e.0)
    }

    fn first_sender(&self, call: &str) -> Option<SocketAddr> {
        self.received.borrow().get(call).and_then(|e| e.1)
    }

    /// Sends one datagram per second for `call` to `to` until `stop`.
    fn stream(&self, call: String, to: SocketAddr, stop: Rc<std::cell::Cell<bool>>) {
        let socket = self.socket.clone();
        callsim::sim::spawn(async move {
            let mut seq = 0u64;
            while !stop.get() {
                seq += 1;
                let _ = socket
                    .send_to(format!("MEDIA {call} {seq}").as_bytes(), to)
                    .await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

async fn answerer(
    ctx: NodeCtx,
    answer: Answer,
    media_seen: Rc<RefCell<BTreeMap<String, u32>>>,
) -> turmoil::Result {
    let socket = UdpEndpoint::bind(&ctx, SIP_PORT).await?;
    let media = Media::bind(&ctx).await;
    let my_media = media.socket.local_addr();
    let (_ua, mut incoming) = SipUa::start(socket, ua_config(&ctx.name), ctx.rng("ua"));
    while let Some(call) = incoming.next().await {
        let (media, media_seen, after) = (media.clone(), media_seen.clone(), answer.after);
        callsim::sim::spawn(async move {
            let id = call.call().to_string();
            let offer: Option<SocketAddr> = call.invite().sdp_body().and_then(sdp::media_addr);
            let answer = call
                .invite()
                .sdp_body()
                .and_then(|b| sdp::Sdp::parse(b).ok())
                .and_then(|o| sdp::answer(&o, &sdp::Capabilities::default(), my_media).ok())
                .map(|a| a.to_string());
            call.ring();
            tokio::time::sleep(after).await;
            let Ok(mut active) = call.answer_with(answer).await else {
                return;
            };
            let stop = Rc::new(std::cell::Cell::new(false));
            if let Some(offer) = offer {
                media.stream(id.clone(), offer, stop.clone());
            }
            active.ended().await;
            stop.set(true);
            *media_seen.borrow_mut().entry(id.clone()).or_default() += media.count(&id);
        });
    }
    Ok(())
}

async fn caller(ctx: NodeCtx, calls: Calls, seen: Rc<RefCell<Vec<CallSeen>>>) -> turmoil::Result {
    let socket = UdpEndpoint::bind(&ctx, SIP_PORT).await?;
    let media = Media::bind(&ctx).await;
    let my_media = media.socket.local_addr();
    let (ua, _incoming) = SipUa::start(socket, ua_config("carrier"), ctx.rng("ua"));
    let mut tasks = Vec::new();
    for n in 1..=calls.count {
        let target_host = &calls.targets[(n as usize - 1) % calls.targets.len()];
        let target = callsim::net::addr(target_host, SIP_PORT);
        let request = CallRequest {
            call: format!("in-{n}"),
            target,
            uri: format!("sip:+1555{n:04}@{target_host}"),
            ringing_timeout: calls.ringing_timeout,
            extra_headers: Vec::new(),
            sdp: Some(sdp::body(my_media)),
        };
        let (ua, media, seen, talk) = (ua.clone(), media.clone(), seen.clone(), calls.talk);
        tasks.push(callsim::sim::spawn(async move {
            let call = request.call.clone();
            let started_ms = ms();
            let outcome = ua.place_call(request).outcome().await;
            let (status, media_in) = match outcome {
                CallOutcome::Answered(active) => {
                    let stop = Rc::new(std::cell::Cell::new(false));
                    // Latching: answer to whoever sends this call's media.
                    let latch_media = media.clone();
                    let (latch_call, latch_stop) = (call.clone(), stop.clone());
                    callsim::sim::spawn(async move {
                        while !latch_stop.get() {
                            if let Some(peer) = latch_media.first_sender(&latch_call) {
                                latch_media.stream(latch_call, peer, latch_stop);
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    });
                    tokio::time::sleep(talk).await;
                    stop.set(true);
                    active.hangup().await;
                    (200, media.count(&call))
                }
                CallOutcome::Rejected(code) => (code, 0),
                CallOutcome::TimedOut | CallOutcome::Cancelled => (408, 0),
                CallOutcome::TransportFailure => (0, 0),
            };
            seen.borrow_mut().push(CallSeen {
                call,
                started_ms,
                status,
                ended_ms: ms(),
                media_in,
            });
        }));
        tokio::time::sleep(calls.gap).await;
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

/// Counts of the caller's outcomes by status.
pub fn by_status(calls: &[CallSeen]) -> BTreeMap<u16, u32> {
    let mut out = BTreeMap::new();
    for c in calls {
        *out.entry(c.status).or_default() += 1;
    }
    out
}

/// Every scenario under `fixtures/`, the incident catalogue aside, as a
/// path from the repository root, sorted.
pub fn scenario_files() -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "toml")
                && path != std::path::Path::new(callsim::incidents::CATALOGUE_PATH)
            {
                out.push(path.to_str().expect("fixture paths are UTF-8").to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(std::path::Path::new("fixtures"), &mut out);
    out.sort();
    assert!(!out.is_empty(), "scenarios under fixtures/");
    out
}

/// A fresh, empty directory for one test's files, under cargo's temporary
/// directory for integration tests. Its name carries `name`, the process
/// id and a counter, so tests running at once in this binary, and other
/// `cargo test` runs at the same time, never share one.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("scratch")
        .join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("scratch dir {}: {e}", dir.display()));
    dir
}

/// Runs `oracle` as a property over the inbound SIP flows of
/// `callsim::props::inbound` with `noise`, replaying the failures persisted
/// in `regressions` first, and panics with the shrunk counterexample
/// explained; checks every case was judged (`PROPTEST_CASES` new ones).
pub fn inbound_property_holds(
    oracle: &str,
    noise: callsim::props::inbound::Noise,
    regressions: &'static str,
) {
    use callsim::props;
    let strategy = props::inbound::case(noise);
    let search = props::search(&strategy, oracle, props::config(Some(regressions)));
    if let Some((case, why)) = &search.counterexample {
        panic!(
            "{oracle} fails ({noise:?} noise): {why}\n{}",
            props::explain(case, oracle)
        );
    }
    assert_eq!(
        search.cases_judged,
        search.regressions as u32 + props::cases()
    );
}

/// A mechanism demo scenario, `fixtures/scenarios/mechanisms/<name>.toml`.
pub fn mechanism(name: &str) -> Scenario {
    let path = format!("fixtures/scenarios/mechanisms/{name}.toml");
    Scenario::load(std::path::Path::new(&path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs a demo pair at `seed` and checks its verdicts: the failing one
/// exits 1 with `oracle` among the oracles that fired, the passing one
/// exits 0. Returns both reports for the figures.
pub fn demo_pair(
    failing: &Scenario,
    passing: &Scenario,
    seed: u64,
    oracle: &str,
) -> (Report, Report) {
    let lines = |r: &Report| r.violations.iter().map(|v| v.line()).collect::<Vec<_>>();
    let f = run(failing, seed);
    let p = run(passing, seed);
    assert_eq!(f.exit_code(), 1, "seed {seed}: {:?}", lines(&f));
    assert!(
        f.violations.iter().any(|v| v.oracle == oracle),
        "seed {seed}: {oracle} did not fire: {:?}",
        lines(&f)
    );
    assert_eq!(p.exit_code(), 0, "seed {seed}: {:?}", lines(&p));
    (f, p)
}

/// For each `(from, to, field)`: the scenario file at `path` with `from`
/// replaced by `to` is refused, naming `field` and the line `to` is on.
pub fn assert_field_errors(path: &str, cases: &[(&str, &str, &str)]) {
    let base = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (from, to, field) in cases {
        let text = base.replace(from, to);
        assert_ne!(text, base, "{path} has no {from}");
        let e = Scenario::from_toml(&text, std::path::Path::new("bad.toml")).expect_err(to);
        assert_eq!(e.field, *field, "{to}: {e}");
        let line = text.lines().position(|l| l.contains(to)).expect("the line") + 1;
        assert_eq!(e.line, line, "{to}: {e}");
    }
}
