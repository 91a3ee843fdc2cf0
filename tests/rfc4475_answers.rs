//! The 49 RFC 4475 torture messages sent over the simulated network to a
//! user agent (a `sip-N` pod, the platform's UA) and to a proxy (an
//! `lb-N` pod, the LB), a pod of each per message, each answer checked
//! against [`EXPECTED`]: the status each element sends back first (a 1xx
//! aside), with the RFC section that asks for it.
//!
//! A UA and a proxy differ on purpose: the proxy does not own the
//! Request-URIs of these messages (they name `example.com` hosts it cannot
//! resolve), so a well-formed request that it would forward gets 503 (RFC
//! 3263 section 4.3: no reachable next hop), where the UA answers for
//! itself. Messages neither element can answer (no parsable Via, From, To,
//! Call-ID or CSeq; an ACK; a response) get nothing (`-`).
//!
//! The corpus lives outside the repository (see `sip_conformance.rs`);
//! without it the test prints a skipped line, unless `CI` is set.

use crate::support::{Answer, Calls, Harness};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

/// (file, the UA's answer, the proxy's answer, the RFC 4475 section and why).
const EXPECTED: &[(&str, &str, &str, &str)] = &[
    (
        "badaspec.dat",
        "400",
        "400",
        "3.1.2.14: unquoted LWS inside <> in To: 400 built from the parts that frame",
    ),
    (
        "badbranch.dat",
        "200",
        "503",
        "3.2.1: a branch without the cookie is an RFC 2543 transaction, processed",
    ),
    (
        "baddate.dat",
        "400",
        "400",
        "3.1.2.12: a Date not in GMT is malformed",
    ),
    (
        "baddn.dat",
        "400",
        "400",
        "3.1.2.15: unquoted ',' in display names; the datagram also lacks its final blank line",
    ),
    (
        "badinv01.dat",
        "400",
        "400",
        "3.1.2.1: ';,;,,' in Via",
    ),
    (
        "badvers.dat",
        "505",
        "505",
        "3.1.2.16: SIP/7.0 gets 505 Version Not Supported",
    ),
    (
        "bcast.dat",
        "-",
        "-",
        "3.3.10: a 200 response whose Via is not ours is dropped (RFC 3261 18.1.2)",
    ),
    (
        "bext01.dat",
        "420",
        "503",
        "3.3.5: a UAS refuses Require: nothingSupportedHere (420); a proxy ignores Require and cannot reach example.com",
    ),
    (
        "bigcode.dat",
        "-",
        "-",
        "3.1.2.19: a response; nothing answers a response",
    ),
    (
        "clerr.dat",
        "400",
        "400",
        "3.1.2.2: Content-Length beyond the datagram",
    ),
    (
        "cparam01.dat",
        "405",
        "503",
        "3.3.12: a valid REGISTER; not a registrar (405); the proxy cannot reach example.com",
    ),
    (
        "cparam02.dat",
        "405",
        "503",
        "3.3.13: as cparam01, Contact parameters aside",
    ),
    (
        "dblreq.dat",
        "405",
        "503",
        "3.1.1.8: only the first request of the datagram counts (a REGISTER)",
    ),
    (
        "esc01.dat",
        "200",
        "503",
        "3.1.1.3: escaped characters, a valid INVITE the UA answers",
    ),
    (
        "esc02.dat",
        "501",
        "503",
        "3.1.1.5: RE%47IST%45R is an extension method, not REGISTER",
    ),
    (
        "escnull.dat",
        "405",
        "503",
        "3.1.1.4: %00 in a URI is valid; a REGISTER",
    ),
    (
        "escruri.dat",
        "400",
        "400",
        "3.1.2.11: unescaped headers in a Request-URI",
    ),
    (
        "insuf.dat",
        "-",
        "-",
        "3.3.1: no Call-ID, From or To: nothing to build a response from",
    ),
    (
        "intmeth.dat",
        "501",
        "503",
        "3.1.1.2: an unknown (extension) method",
    ),
    (
        "inv2543.dat",
        "200",
        "503",
        "3.4.1: RFC 2543 syntax is still processed",
    ),
    (
        "invut.dat",
        "415",
        "503",
        "3.3.6: Content-Type application/unknownformat",
    ),
    (
        "longreq.dat",
        "200",
        "503",
        "3.1.1.7: long values, a valid INVITE",
    ),
    (
        "ltgtruri.dat",
        "400",
        "400",
        "3.1.2.7: a Request-URI in <>",
    ),
    (
        "lwsdisp.dat",
        "200",
        "503",
        "3.1.1.6: no LWS between display name and <, valid",
    ),
    (
        "lwsruri.dat",
        "400",
        "400",
        "3.1.2.8: LWS inside the Request-URI",
    ),
    (
        "lwsstart.dat",
        "400",
        "400",
        "3.1.2.9: several SP between start-line elements",
    ),
    (
        "mcl01.dat",
        "400",
        "400",
        "3.3.9: two Content-Length values",
    ),
    (
        "mismatch01.dat",
        "400",
        "400",
        "3.1.2.17: CSeq method does not match the request's",
    ),
    (
        "mismatch02.dat",
        "400",
        "400",
        "3.1.2.18: an unknown method whose CSeq names another",
    ),
    (
        "mpart01.dat",
        "415",
        "-",
        "3.1.1.11: a multipart body the UA does not take (415); the proxy forwards it to its Route, 127.0.0.1:5080, where nothing listens",
    ),
    (
        "multi01.dat",
        "400",
        "400",
        "3.3.8: several values in single-value headers",
    ),
    (
        "ncl.dat",
        "400",
        "400",
        "3.1.2.3: a negative Content-Length",
    ),
    (
        "noreason.dat",
        "-",
        "-",
        "3.1.1.13: a response",
    ),
    (
        "novelsc.dat",
        "416",
        "416",
        "3.3.3: the soap.beep scheme is not supported",
    ),
    (
        "quotbal.dat",
        "400",
        "400",
        "3.1.2.6: an unterminated quoted string in To",
    ),
    (
        "regaut01.dat",
        "405",
        "503",
        "3.3.7: a REGISTER with an unknown auth scheme; not a registrar",
    ),
    (
        "regbadct.dat",
        "400",
        "400",
        "3.1.2.13: an unescaped '?' in a Contact's URI outside <>",
    ),
    (
        "regescrt.dat",
        "405",
        "503",
        "3.3.14: a REGISTER with an escaped header in Contact",
    ),
    (
        "scalar02.dat",
        "400",
        "400",
        "3.1.2.4: an overlarge CSeq, echoed as it came",
    ),
    (
        "scalarlg.dat",
        "-",
        "-",
        "3.1.2.5: a response",
    ),
    (
        "sdp01.dat",
        "406",
        "503",
        "3.3.15: Accept excludes the SDP the answer would carry",
    ),
    (
        "semiuri.dat",
        "200",
        "503",
        "3.1.1.9: ';' in a Request-URI user part, valid",
    ),
    (
        "transports.dat",
        "200",
        "503",
        "3.1.1.10: unknown Via transports, valid",
    ),
    (
        "trws.dat",
        "400",
        "400",
        "3.1.2.10: trailing whitespace after the version",
    ),
    (
        "unkscm.dat",
        "416",
        "416",
        "3.3.2: an unknown Request-URI scheme",
    ),
    (
        "unksm2.dat",
        "405",
        "503",
        "3.3.4: an unknown scheme in To of a REGISTER: To is not routed on",
    ),
    (
        "unreason.dat",
        "-",
        "-",
        "3.1.1.12: a response (its Via is not ours)",
    ),
    (
        "wsinv.dat",
        "481",
        "503",
        "3.1.1.1: valid; its To tag names a dialog the UA does not have (RFC 3261 12.2.2)",
    ),
    (
        "zeromf.dat",
        "200",
        "483",
        "3.3.11: Max-Forwards 0: a UAS processes it, a proxy answers 483",
    ),
];

fn corpus() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/rfc4475");
    let Ok(manifest) = std::fs::read_to_string(dir.join("MANIFEST.tsv")) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the RFC 4475 corpus is missing at {}",
            dir.display()
        );
        println!("skipped: RFC 4475 corpus not found at {}", dir.display());
        return None;
    };
    Some(
        manifest
            .lines()
            .skip(1)
            .map(|line| {
                let file = line.split('\t').next().expect("a file name").to_string();
                let bytes = std::fs::read(dir.join(&file)).expect("readable message");
                (file, bytes)
            })
            .collect(),
    )
}

/// The first non-1xx status each target sent back to a fresh port within
/// `WAIT`, or `-`.
type Answers = BTreeMap<(String, &'static str), String>;

const WAIT: Duration = Duration::from_millis(300);

/// Sends `bytes` to `target` from `socket` (port 5060: an element answers a
/// request without `rport` at its Via's sent-by port, RFC 3261 section
/// 18.2.2, and these name 5060 or none) and returns the status of the first
/// non-1xx answer from that host within `WAIT`, or `-`. Answers from other
/// hosts (retransmissions of earlier finals) are skipped.
async fn send_and_listen(socket: &turmoil::net::UdpSocket, bytes: &[u8], target: &str) -> String {
    let to = callsim::net::addr(target, 5060);
    socket.send_to(bytes, to).await.expect("sent");
    let start = tokio::time::Instant::now();
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok((n, from))) =
        tokio::time::timeout_at(start + WAIT, socket.recv_from(&mut buf)).await
    {
        if from.ip() != to.ip() {
            continue;
        }
        // The status from the start line: an answer to a broken request may echo
        // what our own parser refuses (an overlarge CSeq).
        let text = String::from_utf8_lossy(&buf[..n]);
        let label = text
            .strip_prefix("SIP/2.0 ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or("request")
            .to_string();
        if !label.starts_with('1') {
            return label;
        }
    }
    "-".into()
}

#[test]
fn every_torture_message_gets_its_expected_answer_from_a_ua_and_a_proxy() {
    let Some(messages) = corpus() else { return };
    assert_eq!(messages.len(), 49);
    let answers: Rc<RefCell<Answers>> = Rc::default();
    let sink = answers.clone();
    let mut harness = Harness {
        nodes: "[lb]\npods = 49\nhealth = { enabled = false }\n".into(),
        answerers: 49,
        calls: Calls {
            count: 0,
            gap: Duration::from_secs(1),
            targets: vec!["lb-1".into()],
            talk: Duration::from_secs(1),
            ringing_timeout: Duration::from_secs(1),
        },
        answer: Answer {
            after: Duration::from_millis(100),
        },
        duration: Duration::from_secs(2 + 49 * 2 * 3 / 10),
        seed: 1,
        actions: Vec::new(),
    };
    harness.actions.push((
        1000,
        Box::new(move |sim, _| {
            sim.client("torture", async move {
                // Each message to a UA and an LB pod of its own: many reuse one
                // branch and sent-by, so one element would take them for
                // retransmissions of one transaction (RFC 3261 section 17.2.3).
                let socket = turmoil::net::UdpSocket::bind(("0.0.0.0", 5060))
                    .await
                    .expect("bind 5060");
                for (i, (file, bytes)) in messages.iter().enumerate() {
                    for kind in ["sip", "lb"] {
                        let target = format!("{kind}-{}", i + 1);
                        let got = send_and_listen(&socket, bytes, &target).await;
                        sink.borrow_mut().insert((file.clone(), kind), got);
                    }
                }
                Ok(())
            });
        }),
    ));
    harness.run();
    let answers = answers.borrow();
    let mut table = String::new();
    let mut wrong = Vec::new();
    let expected: BTreeMap<&str, (&str, &str, &str)> = EXPECTED
        .iter()
        .map(|(f, ua, px, why)| (*f, (*ua, *px, *why)))
        .collect();
    for (file, _) in answers.keys().filter(|(_, t)| *t == "sip") {
        let ua = &answers[&(file.clone(), "sip")];
        let px = &answers[&(file.clone(), "lb")];
        table.push_str(&format!("    (\"{file}\", \"{ua}\", \"{px}\", \"\"),\n"));
        match expected.get(file.as_str()) {
            Some((want_ua, want_px, why)) if (ua.as_str(), px.as_str()) != (*want_ua, *want_px) => {
                wrong.push(format!(
                    "{file}: UA {ua} (want {want_ua}), proxy {px} (want {want_px}): {why}"
                ))
            }
            Some(_) => {}
            None => wrong.push(format!("{file}: not in EXPECTED")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of 49 messages answered otherwise:\n{}\nactual table:\n{table}",
        wrong.len(),
        wrong.join("\n")
    );
}
