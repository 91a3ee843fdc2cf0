//! Wire capture (`callsim run --pcap`), read back by Wireshark's own
//! dissectors through `tshark`:
//! - every example scenario with SIP traffic gives a capture with no
//!   malformed packet and no expert info of severity Warn or above on its
//!   UDP traffic (SIP, media);
//! - TCP (API, RPC, admin) is in the capture with synthesised sequence and
//!   acknowledgement numbers; its only Warn-level infos are on turmoil's
//!   own connection resets (`Connection reset (RST)`, real segments), so
//!   the check allows Warn on RST segments and nothing else on TCP;
//! - `tshark -z sip,stat` counts each request method and response code as
//!   the `sip` block of `run --json` does;
//! - a capturing run has the trace hash of a plain one;
//! - a datagram a loss rule dropped is in the capture, marked.
//!
//! Without `tshark` the tshark checks print a skip message and pass,
//! unless the environment variable `CI` is set (CI installs tshark in
//! `.ci/run`): then they fail.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

/// The example flows with SIP traffic: every fault-free example of
/// CONTRACTS.md (one through the SBC chain, one through the LB, one with
/// media, one across a deployment).
const SIP_EXAMPLES: &[&str] = &[
    "fixtures/scenarios/outbound-sync.toml",
    "fixtures/scenarios/outbound-async.toml",
    "fixtures/scenarios/inbound-lb.toml",
    "fixtures/scenarios/inbound-sbc.toml",
    "fixtures/scenarios/media-play.toml",
    "fixtures/scenarios/deploy-lb.toml",
];

/// Expert info severities as tshark's `_ws.expert.severity` holds them.
const SEVERITY_WARN: &str = "0x00600000";

fn callsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(args)
        .env_remove("CALLSIM_SEED")
        .env_remove("CALLSIM_GIT_COMMIT")
        .output()
        .expect("the binary runs")
}

/// Whether tshark runs here; when it does not, a skip message outside CI
/// and a failure in CI.
fn tshark_available(test: &str) -> bool {
    let found = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: tshark is not installed, and CI is set (.ci/run installs it)"
        );
        eprintln!("{test}: SKIPPED: tshark is not installed (apt-get install tshark)");
    }
    found
}

fn tshark(capture: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(capture)
        .args(args)
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark {args:?} on {}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tshark writes text")
}

/// The packets a display filter selects.
fn count(capture: &Path, filter: &str) -> usize {
    tshark(capture, &["-Y", filter]).lines().count()
}

/// Runs `scenario` with `--json --pcap`, returning the capture and the
/// JSON document.
fn run_captured(scenario: &str, dir: &Path) -> (std::path::PathBuf, serde_json::Value) {
    let name = Path::new(scenario)
        .file_stem()
        .expect("a file name")
        .to_string_lossy();
    let pcap = dir.join(format!("{name}.pcapng"));
    let out = callsim(&[
        "run",
        scenario,
        "--json",
        "--pcap",
        pcap.to_str().expect("utf-8"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{scenario}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&out.stdout).expect("one JSON document");
    (pcap, json)
}

/// `tshark -z sip,stat`'s per-method request counts and per-code
/// response counts.
fn sip_stat(capture: &Path) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let text = tshark(capture, &["-q", "-z", "sip,stat"]);
    let (mut requests, mut responses) = (BTreeMap::new(), BTreeMap::new());
    for line in text.lines() {
        let Some((left, right)) = line.split_once(':') else {
            continue;
        };
        let Some(n) = right
            .trim()
            .strip_suffix("Packets")
            .and_then(|n| n.trim().parse::<u64>().ok())
        else {
            continue;
        };
        let left = left.trim();
        if let Some(status) = left.strip_prefix("SIP ") {
            let code = status.split_whitespace().next().expect("a code");
            responses.insert(code.to_string(), n);
        } else {
            requests.insert(left.to_string(), n);
        }
    }
    (requests, responses)
}

fn counts(json: &serde_json::Value, key: &str) -> BTreeMap<String, u64> {
    json["sip"][key]
        .as_object()
        .unwrap_or_else(|| panic!("sip.{key} in run --json"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("a count")))
        .collect()
}

#[test]
fn wireshark_reads_every_example_capture_cleanly_and_counts_what_run_json_counts() {
    if !tshark_available("capture::wireshark_reads_every_example_capture") {
        return;
    }
    let dir = crate::support::scratch_dir("capture-examples");
    for scenario in SIP_EXAMPLES {
        let (pcap, json) = run_captured(scenario, &dir);
        let packets = count(&pcap, "frame");
        assert!(packets > 100, "{scenario}: {packets} packets");
        assert_eq!(
            count(&pcap, "_ws.malformed"),
            0,
            "{scenario}: malformed packets"
        );
        let warn = format!("_ws.expert.severity >= {SEVERITY_WARN}");
        assert_eq!(
            count(&pcap, &format!("{warn} && udp")),
            0,
            "{scenario}: Warn-level expert infos on UDP: {}",
            tshark(&pcap, &["-Y", &format!("{warn} && udp")])
        );
        // TCP: Warn only on turmoil's resets, which proves the filter
        // sees expert infos at all.
        assert_eq!(
            count(&pcap, &format!("{warn} && tcp && !(tcp.flags.reset == 1)")),
            0,
            "{scenario}: Warn-level expert infos on TCP other than resets"
        );
        assert!(
            count(&pcap, &format!("{warn} && tcp.flags.reset == 1")) > 0,
            "{scenario}: the warn filter finds turmoil's resets"
        );
        let (requests, responses) = sip_stat(&pcap);
        assert!(
            !requests.is_empty(),
            "{scenario}: SIP requests in the capture"
        );
        assert_eq!(requests, counts(&json, "requests"), "{scenario}: requests");
        assert_eq!(
            responses,
            counts(&json, "responses"),
            "{scenario}: responses"
        );
    }
}

#[test]
fn a_datagram_lost_to_a_loss_rule_is_in_the_capture_and_marked() {
    if !tshark_available("capture::a_datagram_lost_to_a_loss_rule") {
        return;
    }
    let dir = crate::support::scratch_dir("capture-loss");
    let pcap = dir.join("loss.pcapng");
    let out = callsim(&[
        "run",
        "fixtures/scenarios/faults/loss.toml",
        "--pcap",
        pcap.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(3), "the loss demo breaks liveness");
    let lost = count(&pcap, "frame.comment contains \"lost\" && udp");
    let delivered = count(&pcap, "!frame.comment && udp");
    assert!(lost > 0, "lost datagrams are recorded at the sender");
    assert!(delivered > 0, "delivered datagrams carry no comment");
    assert_eq!(count(&pcap, "_ws.malformed"), 0);
}

#[test]
fn capturing_keeps_the_trace_hash_and_sip_bodies_match_the_wire() {
    let dir = crate::support::scratch_dir("capture-hash");
    let scenario = "fixtures/scenarios/inbound-sbc.toml";
    let plain = callsim(&["run", scenario, "--json"]);
    let trace = dir.join("trace.jsonl");
    let pcap = dir.join("c.pcapng");
    let captured = callsim(&[
        "run",
        scenario,
        "--json",
        "--pcap",
        pcap.to_str().expect("utf-8"),
        "--trace",
        trace.to_str().expect("utf-8"),
        "--trace-sip-bodies",
    ]);
    let hash = |o: &Output| {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        v["trace_hash"].as_str().expect("a hash").to_string()
    };
    assert_eq!(hash(&plain), hash(&captured), "the capture only listens");
    // Every sip.send line carries the text sent, whose start line is the
    // line's own.
    let text = std::fs::read_to_string(&trace).expect("the trace");
    let mut sends = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        if v["kind"] != "sip.send" {
            assert!(v.get("sip_text").is_none(), "only sip.send lines: {line}");
            continue;
        }
        sends += 1;
        let body = v["sip_text"]
            .as_str()
            .unwrap_or_else(|| panic!("sip_text on {line}"));
        let first = body.lines().next().expect("a start line");
        let start = v["start_line"].as_str().expect("start_line");
        assert!(
            first.starts_with(start) || first.starts_with(&format!("SIP/2.0 {start}")),
            "{first} is a {start}"
        );
        let call_id = v["sip_call_id"].as_str().expect("sip_call_id");
        assert!(body.contains(call_id), "{call_id} in {body}");
    }
    assert!(sends > 100, "{sends} sip.send lines");
    // The capture of the same seed is the same file.
    let again = dir.join("again.pcapng");
    callsim(&["run", scenario, "--pcap", again.to_str().expect("utf-8")]);
    assert_eq!(
        std::fs::read(&pcap).expect("capture"),
        std::fs::read(&again).expect("capture"),
        "a capture is a function of the seed"
    );
}
