//! What the fuzz targets assert, one function per parser that faces untrusted input.
//!
//! - [`sip`]: any bytes through the SIP codec. Parsing never panics; a message it accepts
//!   parses again from its own bytes into the same message (the memo's promise: a parse is
//!   a pure function of the bytes), a proxy's no-op edit writes it back out into a message
//!   with the same start line, headers and body, and what callsim does next with it
//!   (lint, the 400 for what it rejects, the responses and CANCEL it builds, a server or
//!   client transaction through every event) never panics either.
//! - [`scenario`]: any bytes as a scenario file. Loading (TOML, serde, then
//!   `Scenario::validate`) never panics, only returns an error that names file, line and
//!   field; a scenario it accepts serialises (`Scenario::to_toml`, what failure bundles
//!   hold) into text that loads again to the same text, and its fault plan expands for
//!   its seed. The simulation itself is never run.
//!
//! The cargo fuzz targets in `fuzz_targets/` call these; so does the short smoke run in
//! `cargo test` (`tests/fuzz_smoke.rs` includes this file), so both assert the same.

use std::path::Path;

use callsim::scenario::Scenario;
use callsim::sip::codec::{
    build_cancel, build_response, error_response_for, parse, parse_uncached, Message, ResponseSpec,
};
use callsim::sip::lint::lint_bytes;
use callsim::sip::transaction::{Timer, Transaction};
use callsim::sip::{Method, SipTimers};

/// The SIP codec on untrusted bytes (see the module doc).
pub fn sip(bytes: &[u8]) {
    let message = match parse(bytes) {
        Ok(m) => {
            // A memoised parse gives exactly what a full parse gives.
            assert_eq!(
                parse_uncached(bytes).as_ref(),
                Ok(&m),
                "memo and parse differ"
            );
            assert!(lint_bytes(bytes).ok);
            m
        }
        Err(e) => {
            let _ = e.to_string();
            if let Some(answer) = error_response_for(bytes, &e, "fuzz") {
                assert_eq!(answer.status().map(|c| c == 400 || c == 505), Some(true));
            }
            return;
        }
    };
    accessors(&message);

    // The bytes a message travels as parse back into the same message.
    let again = parse_uncached(message.as_bytes()).expect("a message's own bytes parse");
    assert_eq!(again, message, "re-parsing a message's bytes changed it");

    // A proxy that changes nothing forwards what it received.
    let forwarded = message
        .edit()
        .finish()
        .unwrap_or_else(|e| panic!("a no-op edit of an accepted message fails: {e}"));
    assert_eq!(forwarded.start_line(), message.start_line());
    assert_eq!(forwarded.body(), message.body());
    let headers = |m: &Message| {
        m.headers()
            .iter()
            .filter(|h| h.name != "Content-Length")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(headers(&forwarded), headers(&message));
    assert_eq!(
        parse_uncached(forwarded.as_bytes()).as_ref(),
        Ok(&forwarded)
    );

    // What a UA or proxy does next with it.
    let mut edit = message.edit();
    let _ = edit.pop_via();
    let _ = edit.pop_route();
    let _ = edit.decrement_max_forwards();
    let _ = edit.finish();
    if message.is_request() {
        let spec = ResponseSpec {
            to_tag: Some("fuzz".into()),
            ..Default::default()
        };
        let responses: Vec<Message> = [100, 180, 200, 487]
            .into_iter()
            .filter_map(|code| build_response(&message, code, &spec).ok())
            .collect();
        if message.method() == Some(&Method::Invite) {
            let _ = build_cancel(&message);
        }
        // An ACK starts no transaction (RFC 3261 section 17).
        if message.method() != Some(&Method::Ack) {
            let (mut tx, _) = Transaction::server(message.clone(), SipTimers::default());
            tx.on_message(message.clone());
            for r in &responses {
                tx.on_message(r.clone());
                tx.respond(r.clone());
            }
            all_timers(&mut tx);
            tx.on_transport_error();
            let (mut tx, _) = Transaction::client(message.clone(), SipTimers::default());
            for r in &responses {
                tx.on_message(r.clone());
            }
            all_timers(&mut tx);
            tx.on_transport_error();
        }
    }
}

fn accessors(m: &Message) {
    let _ = (m.method(), m.request_uri(), m.status(), m.reason());
    let _ = (
        m.start_label(),
        m.cseq(),
        m.call_id(),
        m.top_via(),
        m.branch(),
    );
    let _ = (m.from(), m.to(), m.from_tag(), m.to_tag(), m.max_forwards());
    let _ = (
        m.contacts(),
        m.routes(),
        m.record_routes(),
        m.callsim_call(),
    );
    let _ = format!("{m:?}");
    assert!(!m.vias().is_empty(), "an accepted message has a Via");
}

fn all_timers(tx: &mut Transaction) {
    use Timer::*;
    for t in [A, B, D, E, F, G, H, I, J, K] {
        tx.on_timer(t);
    }
}

/// The scenario loader on untrusted bytes (see the module doc).
pub fn scenario(bytes: &[u8]) {
    // `Scenario::load` reads the file as UTF-8 and refuses anything else.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let file = Path::new("fuzz.toml");
    let scenario = match Scenario::from_toml(text, file) {
        Ok(s) => s,
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with("fuzz.toml:"), "an error names the file");
            return;
        }
    };
    let written = scenario.to_toml();
    let reloaded = Scenario::from_toml(&written, file)
        .unwrap_or_else(|e| panic!("a valid scenario, written back out, does not load: {e}"));
    assert_eq!(reloaded.to_toml(), written, "to_toml is not stable");
    let topology = scenario.topology();
    let plan = callsim::faults::plan(&scenario.plan_inputs(), &topology, scenario.run.seed);
    let _ = plan.describe();
}
