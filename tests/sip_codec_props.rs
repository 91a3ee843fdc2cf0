//! Property tests for the codec and the server transactions: build-then-parse round trips
//! on generated messages, and no panic on arbitrary or mutated bytes.
//!
//! 64 cases per property by default; `PROPTEST_CASES` overrides it.

use proptest::prelude::*;

use callsim::sip::codec::{
    build_request, build_response, error_response_for, parse, reason_phrase, AddrSpec, Message,
    RequestSpec, ResponseSpec, ViaSpec,
};
use callsim::sip::lint::lint_bytes;
use callsim::sip::transaction::{Timer, Transaction};
use callsim::sip::{Method, SipTimers};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Bye),
        Just(Method::Options),
        Just(Method::Register),
        Just(Method::Info),
        Just(Method::Message),
        Just(Method::Update),
        Just(Method::Cancel),
    ]
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,6}){0,2}",
        (1u8..=254, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
    ]
}

fn sip_uri() -> impl Strategy<Value = String> {
    (
        proptest::option::of("[a-zA-Z0-9_.!~*'()+-]{1,12}"),
        host(),
        proptest::option::of(1u16..),
    )
        .prop_map(|(user, host, port)| {
            let mut s = String::from("sip:");
            if let Some(u) = user {
                s.push_str(&u);
                s.push('@');
            }
            s.push_str(&host);
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            s
        })
}

const TOKEN: &str = "[a-zA-Z0-9.!%*_+`'~-]{1,16}";

prop_compose! {
    fn request_spec()(
        method in method(),
        uri in sip_uri(),
        via_host in host(),
        via_port in 1u16..,
        branch in "[a-zA-Z0-9]{1,20}",
        from in sip_uri(),
        from_tag in TOKEN,
        to in sip_uri(),
        to_tag in proptest::option::of(TOKEN),
        call_id in "[a-zA-Z0-9.!%*_+`'~-]{1,24}(@[a-z0-9.-]{1,12})?",
        cseq in 0u32..(1u32 << 31),
        max_forwards in any::<u8>(),
        contact in proptest::option::of(sip_uri()),
        routes in proptest::collection::vec(sip_uri(), 0..3),
        callsim_call in "(out|in)-[1-9][0-9]{0,5}",
        extra in proptest::collection::vec(("X-[A-Za-z]{1,10}", "[ -~]{0,30}"), 0..3),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) -> RequestSpec {
        RequestSpec {
            method,
            uri,
            via: ViaSpec { host: via_host, port: via_port, branch: format!("z9hG4bK{branch}") },
            from: AddrSpec { uri: from, tag: Some(from_tag) },
            to: AddrSpec { uri: to, tag: to_tag },
            call_id,
            cseq,
            max_forwards,
            contact,
            routes: routes.into_iter().map(|r| format!("<{r};lr>")).collect(),
            callsim_call,
            // Extension header values are trimmed by the parser, like any header value.
            extra_headers: extra.into_iter().map(|(n, v)| (n, v.trim().to_string())).collect(),
            content_type: (!body.is_empty()).then(|| "application/octet-stream".to_string()),
            body,
        }
    }
}

/// Runs a server transaction through everything a peer and the TU can do to it.
fn exercise_server(request: Message, follow_ups: &[Message]) {
    if request.method() == Some(&Method::Ack) {
        return;
    }
    let timers = SipTimers::default();
    let (mut tx, _) = Transaction::server(request.clone(), timers);
    for m in follow_ups {
        tx.on_message(m.clone());
    }
    for code in [180, 486, 200] {
        if let Ok(r) = build_response(&request, code, &ResponseSpec::default()) {
            tx.respond(r);
        }
    }
    for m in follow_ups {
        tx.on_message(m.clone());
    }
    for t in [Timer::G, Timer::H, Timer::I, Timer::J, Timer::A, Timer::K] {
        tx.on_timer(t);
    }
    tx.on_transport_error();
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn built_requests_parse_back_identically(spec in request_spec()) {
        let built = build_request(&spec).expect("a generated spec builds");
        let parsed = parse(built.as_bytes()).expect("what we build, we accept");
        prop_assert_eq!(&parsed, &built);
        prop_assert_eq!(parsed.method(), Some(&spec.method));
        prop_assert_eq!(parsed.request_uri(), Some(spec.uri.as_str()));
        prop_assert_eq!(parsed.branch(), Some(spec.via.branch.as_str()));
        prop_assert_eq!(parsed.call_id(), spec.call_id.as_str());
        prop_assert_eq!(parsed.cseq().seq, spec.cseq);
        prop_assert_eq!(parsed.from_tag(), spec.from.tag.as_deref());
        prop_assert_eq!(parsed.to_tag(), spec.to.tag.as_deref());
        prop_assert_eq!(parsed.max_forwards(), Some(spec.max_forwards));
        prop_assert_eq!(parsed.callsim_call(), Some(spec.callsim_call.as_str()));
        prop_assert_eq!(parsed.body(), spec.body.as_slice());
        prop_assert_eq!(parsed.routes().len(), spec.routes.len());
        for (name, value) in &spec.extra_headers {
            prop_assert_eq!(parsed.header(name), Some(value.as_str()));
        }
    }

    #[test]
    fn built_responses_parse_back_with_rfc_phrases(spec in request_spec(), code in 100u16..700) {
        let request = build_request(&spec).expect("builds");
        let response = build_response(&request, code, &ResponseSpec {
            to_tag: Some("t".into()),
            ..Default::default()
        }).expect("builds");
        let parsed = parse(response.as_bytes()).expect("accepted");
        prop_assert_eq!(parsed.status(), Some(code));
        prop_assert_eq!(parsed.reason(), Some(reason_phrase(code)));
        prop_assert_eq!(parsed.cseq(), request.cseq());
        prop_assert_eq!(parsed.branch(), request.branch());
        prop_assert_eq!(parsed.callsim_call(), request.callsim_call());
    }

    #[test]
    fn proxy_push_then_pop_via_restores_the_hops(spec in request_spec(), host in host(), port in 1u16..) {
        let request = build_request(&spec).expect("builds");
        let mut edit = request.edit();
        edit.push_via(&ViaSpec { host, port, branch: "z9hG4bKp".into() });
        edit.push_record_route("sip:proxy.example.com");
        let _ = edit.decrement_max_forwards();
        let forwarded = edit.finish().expect("a forwarded request validates");
        prop_assert_eq!(forwarded.vias().len(), 2);
        prop_assert_eq!(forwarded.body(), request.body());
        let response = build_response(&forwarded, 200, &ResponseSpec::default()).expect("builds");
        let mut edit = response.edit();
        prop_assert_eq!(edit.pop_via().and_then(|v| v.branch().map(str::to_string)), Some("z9hG4bKp".to_string()));
        let back = edit.finish().expect("validates");
        prop_assert_eq!(back.vias(), request.vias());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let result = parse(&bytes);
        if let Err(e) = &result {
            let _ = error_response_for(&bytes, e, "t");
        }
        let _ = lint_bytes(&bytes);
        if let Ok(m) = result {
            exercise_server(m.clone(), &[m]);
        }
    }

    #[test]
    fn mutated_messages_never_panic_codec_or_server(
        spec in request_spec(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let original = build_request(&spec).expect("builds");
        let mut bytes = original.as_bytes().to_vec();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
        }
        match parse(&bytes) {
            Ok(m) if m.is_request() => exercise_server(m.clone(), &[m, original]),
            Ok(_) => {}
            Err(e) => { let _ = error_response_for(&bytes, &e, "t"); }
        }
    }
}
