//! RPC tests over a two-host turmoil sim: a server whose handler does what
//! a test says, and a client calling it through a middleware stack.

use super::*;
use crate::history::{History, Recorder};
use crate::sim::time::now_ms;
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;

const PORT: u16 = 9000;

/// What the server's handler saw, for assertions.
#[derive(Debug, Default, Clone, PartialEq)]
struct Seen {
    /// (method, deadline_ms: the server's local deadline) per request.
    requests: Vec<(String, Option<u64>)>,
    /// Sim times at which a handler saw its cancellation.
    cancelled_at: Vec<u64>,
}

/// The test handler: `sleep` sleeps the body's `ms` (or forever when
/// absent), then answers; `echo` answers the body at once.
async fn handler(req: Incoming, seen: Rc<RefCell<Seen>>) -> Result<serde_json::Value, RpcError> {
    seen.borrow_mut()
        .requests
        .push((req.method.clone(), req.deadline_ms));
    match req.method.as_str() {
        "echo" => Ok(req.body),
        "sleep" => {
            let work = async {
                match req.body.get("ms").and_then(|v| v.as_u64()) {
                    Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = work => Ok(json!({"slept": true})),
                _ = req.cancel.cancelled() => {
                    seen.borrow_mut().cancelled_at.push(now_ms());
                    Err(RpcError::new(ErrorCode::Cancelled, "cancelled"))
                }
            }
        }
        "busy" => Err(RpcError::new(ErrorCode::Unavailable, "draining")),
        _ => Err(RpcError::new(ErrorCode::NotFound, "no such method")),
    }
}

struct Outcome {
    history: History,
    seen: Seen,
    /// (finish time, result) of the client's call.
    result: (u64, Result<serde_json::Value, RpcError>),
}

/// A fault on the client-server link for the whole run.
#[derive(Clone, Copy, PartialEq)]
enum Link {
    Healthy,
    /// turmoil drops every segment: a SYN is refused at once.
    Partition,
    /// turmoil holds every segment: a SYN is never answered.
    Hold,
}

/// Runs one client call against the server. `server_starts_ms` delays the
/// server's listener.
fn run(
    stack: &str,
    method: &str,
    body: serde_json::Value,
    deadline_ms: u64,
    server_starts_ms: u64,
    link: Link,
) -> Outcome {
    let recorder = Recorder::new();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let config: RpcClientConfig = toml::from_str(stack).expect("valid stack");
    config.validate("rpc_client").expect("valid stack");
    let seen = Rc::new(RefCell::new(Seen::default()));
    let result = Rc::new(RefCell::new(None));
    tracing::subscriber::with_default(subscriber, || {
        let mut sim = turmoil::Builder::new()
            .tick_duration(Duration::from_millis(1))
            .min_message_latency(Duration::from_millis(1))
            .max_message_latency(Duration::from_millis(1))
            .simulation_duration(Duration::from_secs(120))
            .build();
        let server_seen = seen.clone();
        sim.host("server", move || {
            let seen = server_seen.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(server_starts_ms)).await;
                serve(PORT, move |req| handler(req, seen.clone())).await?;
                Ok(())
            }
        });
        let out = result.clone();
        let method = method.to_string();
        sim.client("client", async move {
            let client = RpcClient::new("server", PORT);
            let r = client
                .call(&config, "out-1", &method, body, deadline_ms)
                .await;
            *out.borrow_mut() = Some((now_ms(), r));
            // Give the server time to see a cancel.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(())
        });
        match link {
            Link::Healthy => {}
            Link::Partition => sim.partition("client", "server"),
            Link::Hold => sim.hold("client", "server"),
        }
        sim.run().expect("sim runs");
    });
    let result = result.borrow_mut().take().expect("client finished");
    let seen = seen.borrow().clone();
    Outcome {
        history: recorder.take(),
        seen,
        result,
    }
}

/// (kind, deadline_ms, outcome) of the client's rpc events.
fn rpc_events(h: &History) -> Vec<(String, u64, String)> {
    h.records
        .iter()
        .filter(|r| r.is("rpc.request") || r.is("rpc.response"))
        .map(|r| {
            (
                r.kind().to_string(),
                r.u64("deadline_ms").expect("deadline_ms"),
                r.str("outcome").unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn code(r: &Result<serde_json::Value, RpcError>) -> Option<ErrorCode> {
    r.as_ref().err().map(|e| e.code)
}

#[test]
fn a_call_returns_the_servers_answer() {
    let o = run(
        "middleware = []",
        "echo",
        json!({"x": 1}),
        10_000,
        0,
        Link::Healthy,
    );
    assert_eq!(o.result.1, Ok(json!({"x": 1})));
    assert_eq!(o.seen.requests, vec![("echo".to_string(), None)]);
    assert_eq!(
        rpc_events(&o.history),
        vec![
            ("rpc.request".into(), 0, "".into()),
            ("rpc.response".into(), 0, "ok".into())
        ]
    );
}

#[test]
fn the_tracing_default_timeout_cuts_a_long_call_and_cancels_the_handler() {
    let o = run(
        r#"middleware = ["tracing"]
           tracing_default_timeout = "3s""#,
        "sleep",
        json!({"ms": 10_000}),
        33_000,
        0,
        Link::Healthy,
    );
    assert_eq!(code(&o.result.1), Some(ErrorCode::Timeout));
    assert_eq!(o.result.0, 3000);
    // The server learns within a few ms (one hop) and was never told a deadline.
    assert_eq!(o.seen.requests, vec![("sleep".to_string(), None)]);
    assert_eq!(o.seen.cancelled_at.len(), 1);
    assert!(
        (3000..=3005).contains(&o.seen.cancelled_at[0]),
        "{:?}",
        o.seen
    );
    assert_eq!(rpc_events(&o.history)[1].2, "timeout");
}

#[test]
fn with_deadline_propagation_the_same_call_completes() {
    let o = run(
        r#"middleware = ["tracing", "deadline_propagation"]
           tracing_default_timeout = "3s""#,
        "sleep",
        json!({"ms": 10_000}),
        33_000,
        0,
        Link::Healthy,
    );
    assert_eq!(o.result.1, Ok(json!({"slept": true})));
    assert!((10_000..10_010).contains(&o.result.0), "{}", o.result.0);
    // The wire carries the budget left; the server's deadline is its
    // arrival time plus that budget: the caller's, plus the request's
    // time in flight (1 ms a hop here).
    let (method, deadline) = &o.seen.requests[0];
    assert_eq!((o.seen.requests.len(), method.as_str()), (1, "sleep"));
    assert!(
        deadline.is_some_and(|d| (33_000..=33_002).contains(&d)),
        "{deadline:?}"
    );
    assert_eq!(rpc_events(&o.history)[0].1, 33_000);
}

#[test]
fn the_server_enforces_a_propagated_deadline() {
    let o = run(
        r#"middleware = ["deadline_propagation"]"#,
        "sleep",
        json!({}),
        2000,
        0,
        Link::Healthy,
    );
    // The client's own wait ends at the same deadline; whichever side
    // notices first, the call fails no later than a hop after it and the
    // handler is cancelled.
    let c = code(&o.result.1).expect("an error");
    assert!(
        c == ErrorCode::DeadlineExceeded || c == ErrorCode::Timeout,
        "{c:?}"
    );
    assert!((2000..=2005).contains(&o.result.0), "{}", o.result.0);
    assert_eq!(o.seen.cancelled_at.len(), 1, "{:?}", o.seen);
    assert!(
        (2000..=2002).contains(&o.seen.cancelled_at[0]),
        "{:?}",
        o.seen
    );
}

#[test]
fn a_fixed_timeout_applies_per_attempt_unless_deadlines_propagate() {
    let fixed = run(
        r#"middleware = ["timeout"]
           timeout = "1500ms""#,
        "sleep",
        json!({"ms": 5000}),
        33_000,
        0,
        Link::Healthy,
    );
    assert_eq!(code(&fixed.result.1), Some(ErrorCode::Timeout));
    assert_eq!(fixed.result.0, 1500);
    let derived = run(
        r#"middleware = ["timeout", "deadline_propagation"]
           timeout = "1500ms""#,
        "sleep",
        json!({"ms": 5000}),
        33_000,
        0,
        Link::Healthy,
    );
    assert!(derived.result.1.is_ok());
}

#[test]
fn retry_rides_out_a_server_that_is_not_listening_yet() {
    let o = run(
        r#"middleware = ["retry"]
           retry = { attempts_max = 4, backoff = "100ms" }"#,
        "echo",
        json!(1),
        10_000,
        250,
        Link::Healthy,
    );
    assert_eq!(o.result.1, Ok(json!(1)));
    let outcomes: Vec<String> = rpc_events(&o.history)
        .into_iter()
        .filter(|e| e.0 == "rpc.response")
        .map(|e| e.2)
        .collect();
    // Refused at ~0 and ~100 ms, then served after the 200 ms backoff.
    assert_eq!(outcomes, vec!["unavailable", "unavailable", "ok"]);
}

#[test]
fn retry_is_bounded_and_never_follows_a_timeout() {
    let o = run(
        r#"middleware = ["retry"]
           retry = { attempts_max = 3, backoff = "100ms" }"#,
        "busy",
        json!(null),
        10_000,
        0,
        Link::Healthy,
    );
    assert_eq!(code(&o.result.1), Some(ErrorCode::Unavailable));
    assert_eq!(o.seen.requests.len(), 3);
    let o = run(
        r#"middleware = ["retry", "timeout"]
           timeout = "1s""#,
        "sleep",
        json!({"ms": 5000}),
        10_000,
        0,
        Link::Healthy,
    );
    assert_eq!(code(&o.result.1), Some(ErrorCode::Timeout));
    assert_eq!(o.seen.requests.len(), 1);
}

fn unreachable(link: Link) -> Outcome {
    run(
        r#"middleware = ["retry"]
           connect_timeout = "500ms"
           retry = { attempts_max = 2, backoff = "100ms" }"#,
        "echo",
        json!(1),
        10_000,
        0,
        link,
    )
}

#[test]
fn a_partitioned_server_is_unavailable_at_once() {
    let o = unreachable(Link::Partition);
    assert_eq!(code(&o.result.1), Some(ErrorCode::Unavailable));
    // Two refused attempts with a 100 ms backoff between them.
    assert_eq!(o.result.0, 100);
    assert!(o.seen.requests.is_empty());
}

#[test]
fn a_held_server_is_unavailable_after_the_connect_timeout() {
    let o = unreachable(Link::Hold);
    assert_eq!(code(&o.result.1), Some(ErrorCode::Unavailable));
    // Two attempts of 500 ms with a 100 ms backoff between them.
    assert_eq!(o.result.0, 1100);
    assert!(o.seen.requests.is_empty());
}
