//! The SBC chain carrier -> sbc-edge -> sbc-inbound -> sip with stand-in
//! endpoints on the platform's user agent: signalling and media cross both
//! pods; a broken pod pair gives 480 without health checks and retries and
//! nothing with them; a pod that drops media leaves connected calls silent;
//! the caller's CANCEL gives 487.

use crate::support::{by_status, Answer, Calls, Harness};
use callsim::history::History;
use callsim::sim::control::GrayMode;
use std::time::Duration;

fn calls(count: u32, gap_ms: u64) -> Calls {
    Calls {
        count,
        gap: Duration::from_millis(gap_ms),
        targets: vec!["sbc-edge-1".into(), "sbc-edge-2".into()],
        talk: Duration::from_secs(3),
        ringing_timeout: Duration::from_secs(10),
    }
}

fn harness(nodes: &str, calls: Calls, duration_s: u64) -> Harness {
    Harness {
        nodes: nodes.to_string(),
        answerers: 2,
        calls,
        answer: Answer {
            after: Duration::from_millis(500),
        },
        duration: Duration::from_secs(duration_s),
        seed: 5,
        actions: Vec::new(),
    }
}

/// The pods as they were: no health checks, no retries.
const BUGGY: &str = r#"
[sbc-edge]
pods = 2
health = { enabled = false }
[sbc-inbound]
pods = 2
health = { enabled = false }
"#;

/// Health checks with ejection and a retry on another pod.
const FIXED: &str = r#"
[sbc-edge]
pods = 2
attempts_max = 2
health = { interval = "500ms", timeout = "200ms", failures_max = 2 }
[sbc-inbound]
pods = 2
attempts_max = 2
health = { interval = "500ms", timeout = "200ms", failures_max = 2 }
"#;

fn sent_by(history: &History, host: &str, start_line: &str) -> usize {
    history
        .of_kind("sip.send")
        .filter(|r| &*r.host == host && r.str("start_line") == Some(start_line))
        .count()
}

#[test]
fn calls_cross_both_pods_with_their_media() {
    let out = harness(BUGGY, calls(20, 200), 20).run();
    assert_eq!(
        by_status(&out.calls).get(&200),
        Some(&20),
        "{:?}",
        out.calls
    );
    for pod in ["sbc-edge-1", "sbc-edge-2"] {
        assert_eq!(sent_by(&out.history, pod, "INVITE"), 10, "{pod}");
    }
    let inbound: usize = ["sbc-inbound-1", "sbc-inbound-2"]
        .iter()
        .map(|p| sent_by(&out.history, p, "INVITE"))
        .sum();
    assert_eq!(inbound, 20);
    // The BYE follows the Record-Route through both pods.
    assert_eq!(
        sent_by(&out.history, "sbc-edge-1", "BYE") + sent_by(&out.history, "sbc-edge-2", "BYE"),
        20
    );
    // Media relayed both ways through the anchors.
    assert!(out.calls.iter().all(|c| c.media_in >= 2), "{:?}", out.calls);
    assert_eq!(out.answerer_media.len(), 20);
    assert!(out.answerer_media.values().all(|&n| n >= 1));
}

fn cut_pair(h: &mut Harness) {
    h.actions.push((
        0,
        Box::new(|sim, _| {
            sim.partition("sbc-edge-1", "sbc-inbound-1");
        }),
    ));
}

#[test]
fn a_broken_pod_pair_fails_calls_with_480_without_health_checks() {
    let mut h = harness(BUGGY, calls(30, 300), 25);
    cut_pair(&mut h);
    let out = h.run();
    let statuses = by_status(&out.calls);
    let failed = statuses.get(&480).copied().unwrap_or(0);
    assert!(failed >= 3, "{statuses:?}");
    assert_eq!(
        failed + statuses.get(&200).copied().unwrap_or(0),
        30,
        "{statuses:?}"
    );
    // The 480 comes from edge-1, after its next-hop timeout.
    assert_eq!(sent_by(&out.history, "sbc-edge-1", "480") as u32, failed);
}

#[test]
fn health_checks_and_retries_survive_the_same_broken_pair() {
    let mut h = harness(FIXED, calls(30, 300), 25);
    cut_pair(&mut h);
    let out = h.run();
    assert_eq!(
        by_status(&out.calls).get(&200),
        Some(&30),
        "{:?}",
        out.calls
    );
    let ejected = out
        .history
        .of_kind("health.change")
        .find(|r| &*r.host == "sbc-edge-1" && r.str("target") == Some("sbc-inbound-1"))
        .expect("edge-1 ejects inbound-1");
    assert_eq!(ejected.bool("healthy"), Some(false));
    assert!(ejected.t_ms < 2_000, "ejected at {}", ejected.t_ms);
    assert!(out.calls.iter().all(|c| c.media_in >= 2), "{:?}", out.calls);
}

#[test]
fn a_pod_that_drops_media_leaves_connected_calls_silent() {
    let mut h = harness(BUGGY, calls(20, 200), 20);
    h.actions.push((
        0,
        Box::new(|_, controls| {
            controls["sbc-inbound-2"].update_faults(|f| f.gray = Some(GrayMode::Media));
        }),
    ));
    let out = h.run();
    let statuses = by_status(&out.calls);
    assert_eq!(statuses.get(&200), Some(&20), "signalling survives");
    let silent = out.calls.iter().filter(|c| c.media_in == 0).count();
    let through_2 = sent_by(&out.history, "sbc-inbound-2", "INVITE");
    assert!(through_2 >= 3);
    assert_eq!(silent, through_2, "{:?}", out.calls);
}

#[test]
fn a_media_pool_anchor_puts_media_on_other_pairs_than_signalling() {
    let nodes = BUGGY.replace(
        "[sbc-inbound]\npods = 2",
        "[sbc-inbound]\npods = 2\nmedia_anchor = \"pool\"",
    );
    let mut h = harness(&nodes, calls(30, 200), 20);
    // Signalling edge-1 <-> inbound-1 works; only the media pair is cut.
    h.actions.push((
        0,
        Box::new(|sim, _| {
            sim.partition("sbc-edge-1", "sbc-inbound-2");
        }),
    ));
    let out = h.run();
    let statuses = by_status(&out.calls);
    let silent = out
        .calls
        .iter()
        .filter(|c| c.status == 200 && c.media_in == 0)
        .count();
    assert!(silent >= 1, "{statuses:?} {:?}", out.calls);
    assert!(
        statuses.get(&480).copied().unwrap_or(0) >= 1,
        "{statuses:?}"
    );
}

#[test]
fn the_callers_cancel_gives_487_from_the_edge() {
    let mut h = harness(BUGGY, calls(4, 500), 20);
    h.answer.after = Duration::from_secs(15);
    h.calls.ringing_timeout = Duration::from_secs(3);
    let out = h.run();
    assert_eq!(by_status(&out.calls).get(&408), Some(&4), "{:?}", out.calls);
    let edge_487 =
        sent_by(&out.history, "sbc-edge-1", "487") + sent_by(&out.history, "sbc-edge-2", "487");
    assert!(edge_487 >= 4, "487 from the edge: {edge_487}");
    // The CANCEL went on down the chain.
    let cancels: usize = ["sbc-inbound-1", "sbc-inbound-2"]
        .iter()
        .map(|p| sent_by(&out.history, p, "CANCEL"))
        .sum();
    assert_eq!(cancels, 4);
}

#[test]
fn bad_sbc_config_names_the_field() {
    use callsim::scenario::Scenario;
    let base =
        "[run]\nduration = \"10s\"\n[nodes.echo]\n[nodes.sbc-inbound]\nnext_hops = [\"echo\"]\n";
    for (line, field) in [
        ("attempts_max = 0", "nodes.sbc-inbound.attempts_max"),
        (
            "next_hop_timeout = \"0s\"",
            "nodes.sbc-inbound.next_hop_timeout",
        ),
        ("timeout_code = 200", "nodes.sbc-inbound.timeout_code"),
        ("relays_max = 0", "nodes.sbc-inbound.relays_max"),
        ("pool = { workers = 0 }", "nodes.sbc-inbound.pool.workers"),
        (
            "health = { interval = \"0s\" }",
            "nodes.sbc-inbound.health.interval",
        ),
        (
            "start_deleted = [\"sbc-inbound-9\"]",
            "nodes.sbc-inbound.start_deleted[0]",
        ),
    ] {
        let text = format!("{base}{line}\n");
        let err = Scenario::from_toml(&text, "bad.toml".as_ref()).expect_err(line);
        assert_eq!(err.field, field, "{line}: {err}");
        assert!(err.line > 0);
    }
    let text = "[run]\nduration = \"10s\"\n[nodes.echo]\n[nodes.sbc-edge]\n";
    let err = Scenario::from_toml(text, "bad.toml".as_ref()).expect_err("no next hop");
    assert_eq!(err.field, "nodes.sbc-edge.next_hops");
}

/// RFC 3261 section 17.2.1: a pod whose workers take 3 s to admit an
/// INVITE still sends 100 Trying within 200 ms of receiving it (before
/// the queue), so the caller stops retransmitting at once; the INVITE goes
/// on only after admission.
#[test]
fn a_slow_admission_still_sends_100_trying_at_once() {
    let nodes = r#"
[sbc-edge]
pods = 2
invite_cpu = "3s"
health = { enabled = false }
[sbc-inbound]
pods = 2
health = { enabled = false }
"#;
    let out = harness(nodes, calls(4, 500), 20).run();
    let history = &out.history;
    let mut checked = 0;
    for invite in history
        .of_kind("sip.recv")
        .filter(|r| r.host.starts_with("sbc-edge") && r.str("start_line") == Some("INVITE"))
        .filter(|r| r.bool("retransmission") == Some(false))
    {
        let call_id = invite.str("sip_call_id");
        let on_call = |kind: &'static str, line: &'static str| {
            history
                .of_kind(kind)
                .filter(move |r| {
                    r.host == invite.host
                        && r.str("sip_call_id") == call_id
                        && r.str("start_line") == Some(line)
                })
                .map(|r| r.t_ms)
                .min()
        };
        let trying = on_call("sip.send", "100").expect("a 100 Trying");
        assert!(
            trying - invite.t_ms <= 200,
            "100 Trying {} ms after the INVITE",
            trying - invite.t_ms
        );
        // The pod's INVITE on its downstream leg (a dialog of its own,
        // found by the call's label).
        let forwarded = history
            .of_kind("sip.send")
            .filter(|r| {
                r.host == invite.host
                    && r.str("call") == invite.str("call")
                    && r.str("start_line") == Some("INVITE")
            })
            .map(|r| r.t_ms)
            .min()
            .expect("forwarded after admission");
        assert!(forwarded - invite.t_ms >= 3000, "admitted after its 3 s");
        checked += 1;
    }
    assert!(checked >= 4, "{checked} INVITEs checked");
}
