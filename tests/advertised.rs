//! Advertised vs bound address (`[nodes.sip] advertised`): a SIP pod that
//! writes another host's address in its Via and Contact gets its ACKs and
//! in-dialog requests delivered there, by the network, and its calls fail;
//! the demo pair `mechanisms/stale-advertised-address` shows it.

use crate::support;
use callsim::history::History;
use callsim::report::Report;
use callsim::scenario::Scenario;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn run_at(name: &str, seed: u64) -> Report {
    let path = format!("fixtures/scenarios/mechanisms/{name}.toml");
    let scenario = Scenario::load(Path::new(&path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    support::run(&scenario, seed)
}

/// ACKs a SIP pod received on a dialog whose 200 another pod sent.
fn misdelivered_acks(h: &History) -> usize {
    let answered_by: BTreeMap<&str, &str> = h
        .of_kind("sip.send")
        .filter(|r| r.host.starts_with("sip-") && r.str("start_line") == Some("200"))
        .filter(|r| r.str("cseq").is_some_and(|c| c.ends_with("INVITE")))
        .filter_map(|r| Some((r.str("sip_call_id")?, r.host.as_ref())))
        .collect();
    h.of_kind("sip.recv")
        .filter(|r| r.host.starts_with("sip-") && r.str("start_line") == Some("ACK"))
        .filter(|r| {
            r.str("sip_call_id")
                .and_then(|id| answered_by.get(id))
                .is_some_and(|pod| *pod != r.host.as_ref())
        })
        .count()
}

fn completed(h: &History) -> usize {
    h.of_kind("call.end")
        .filter(|r| r.str("outcome") == Some("completed"))
        .count()
}

/// Swapped advertised addresses: every ACK goes to the other pod, every
/// call fails after its 200 (`ack_received`, exit 1); each pod its own
/// address: every call completes (exit 0). Seeds 1-3.
#[test]
fn a_stale_advertised_address_sends_the_acks_to_another_pod() {
    for seed in 1..=3 {
        let failing = run_at("stale-advertised-address-failing", seed);
        let passing = run_at("stale-advertised-address-passing", seed);
        assert_eq!(failing.exit_code(), 1, "seed {seed}");
        let fired: BTreeSet<&str> = failing
            .violations
            .iter()
            .map(|v| v.oracle.as_str())
            .collect();
        assert_eq!(fired, BTreeSet::from(["ack_received"]), "seed {seed}");
        let lines: Vec<String> = passing.violations.iter().map(|v| v.line()).collect();
        assert_eq!(passing.exit_code(), 0, "seed {seed}: {lines:?}");
        let (f, p) = (&failing.history, &passing.history);
        let wrong = misdelivered_acks(f);
        assert!(wrong >= 50, "seed {seed}: {wrong} ACKs at the other pod");
        assert_eq!(misdelivered_acks(p), 0, "seed {seed}");
        assert_eq!(completed(f), 0, "seed {seed}");
        assert_eq!(completed(p), 60, "seed {seed}");
        eprintln!(
            "seed {seed}: ACKs delivered to the other pod: failing {wrong}, passing 0; calls completed: failing 0/60, passing 60/60"
        );
    }
}

/// The media address in a pod's SDP is its advertised host's too: with
/// each pod its own address, each pod's 200s offer media at one IP of its
/// own; with the addresses swapped, each pod's 200s offer it at the other
/// pod's IP, so the caller's media would go there.
#[test]
fn the_sdp_media_address_follows_the_advertised_host() {
    // Pod -> the IPs in the `c=` lines of the 200s it sent to INVITEs.
    let offered = |name: &str| {
        let report = run_at(name, 1);
        let mut by_pod: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in report.history.of_kind("sip.send").filter(|r| {
            r.host.starts_with("sip-")
                && r.str("start_line") == Some("200")
                && r.str("cseq").is_some_and(|c| c.ends_with("INVITE"))
        }) {
            let sdp = r.str("sdp").expect("a 200 to an INVITE carries SDP");
            let ip = sdp
                .lines()
                .find_map(|l| l.strip_prefix("c=IN IP4 "))
                .unwrap_or_else(|| panic!("{name}: no c= line in {sdp}"));
            by_pod
                .entry(r.host.to_string())
                .or_default()
                .insert(ip.trim().to_string());
        }
        by_pod
    };
    let own = offered("stale-advertised-address-passing");
    let swapped = offered("stale-advertised-address-failing");
    let ip_of = |pod: &str| {
        let ips = &own[pod];
        assert_eq!(ips.len(), 1, "{pod}: {ips:?}");
        ips.iter().next().expect("one").clone()
    };
    assert_ne!(ip_of("sip-1"), ip_of("sip-2"));
    assert_eq!(swapped["sip-1"], BTreeSet::from([ip_of("sip-2")]));
    assert_eq!(swapped["sip-2"], BTreeSet::from([ip_of("sip-1")]));
}

#[test]
fn bad_advertised_addresses_are_refused_by_field() {
    let text = |line: &str| {
        format!("[run]\nseed = 1\nduration = \"10s\"\n[nodes.sip]\npods = 2\n{line}\n[nodes.gateway]\n[nodes.bus]\n[nodes.agent]\n[nodes.carrier]\n")
    };
    Scenario::from_toml(
        &text(r#"advertised = ["sip-2", "sip-1"]"#),
        Path::new("ok.toml"),
    )
    .expect("valid");
    for (line, field) in [
        (r#"advertised = ["sip-1"]"#, "nodes.sip.advertised"),
        (
            r#"advertised = ["sip-1", "nowhere"]"#,
            "nodes.sip.advertised[1]",
        ),
    ] {
        let e = Scenario::from_toml(&text(line), Path::new("bad.toml")).expect_err(line);
        assert_eq!((e.field.as_str(), e.line), (field, 6), "{line}: {e}");
    }
}
