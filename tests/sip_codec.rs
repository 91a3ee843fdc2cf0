//! Codec checks, data-driven: what parsing accepts and normalises (compact forms, LWS,
//! folding, extension methods), what it rejects and why, and what the builders produce
//! (RFC 3261 reason phrases, copied headers, the `X-Callsim-Call` header).

use callsim::sip::codec::{
    build_ack_for_non_2xx, build_cancel, build_request, build_response, error_response_for, parse,
    AddrSpec, Message, RequestSpec, ResponseSpec, ViaSpec,
};
use callsim::sip::{Method, ParseErrorKind};

fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

fn check_ok(text: &str) -> Message {
    let bytes = crlf(text);
    match parse(&bytes) {
        Ok(m) => m,
        Err(e) => panic!("expected to parse, got {e}:\n{text}"),
    }
}

fn check_err(text: &str, reason_contains: &str) {
    let bytes = crlf(text);
    match parse(&bytes) {
        Ok(_) => panic!("expected rejection ({reason_contains}):\n{text}"),
        Err(e) => assert!(
            e.to_string().contains(reason_contains),
            "reason {e:?} lacks {reason_contains:?}"
        ),
    }
}

const OPTIONS: &str = "OPTIONS sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: c1@example.com
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

";

fn invite_spec() -> RequestSpec {
    RequestSpec {
        method: Method::Invite,
        uri: "sip:bob@10.0.0.2:5060".into(),
        via: ViaSpec {
            host: "10.0.0.1".into(),
            port: 5060,
            branch: "z9hG4bK0001".into(),
        },
        from: AddrSpec {
            uri: "sip:alice@10.0.0.1".into(),
            tag: Some("f1".into()),
        },
        to: AddrSpec {
            uri: "sip:bob@10.0.0.2".into(),
            tag: None,
        },
        call_id: "abc@agent".into(),
        cseq: 1,
        max_forwards: 70,
        contact: Some("sip:alice@10.0.0.1:5060".into()),
        routes: vec![],
        callsim_call: "out-1".into(),
        extra_headers: vec![("X-Test".into(), "yes".into())],
        content_type: Some("application/sdp".into()),
        body: b"v=0\r\n".to_vec(),
    }
}

/// A 486 to `invite` with our To tag.
fn busy_here(invite: &Message, to_tag: &str) -> Message {
    build_response(
        invite,
        486,
        &ResponseSpec {
            to_tag: Some(to_tag.into()),
            ..Default::default()
        },
    )
    .expect("builds")
}

#[test]
fn plain_request_parses_with_accessors() {
    let m = check_ok(OPTIONS);
    assert_eq!(m.method(), Some(&Method::Options));
    assert_eq!(m.start_label(), "OPTIONS");
    assert_eq!(m.cseq().seq, 1);
    assert_eq!(m.call_id(), "c1@example.com");
    assert_eq!(m.branch(), Some("z9hG4bKabc"));
    assert_eq!(m.from_tag(), Some("a1"));
    assert_eq!(m.to_tag(), None);
    assert_eq!(m.max_forwards(), Some(70));
}

#[test]
fn compact_forms_and_lws_normalise() {
    let m = check_ok(
        "INFO sip:bob@example.com SIP/2.0
v : SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx
f:<sip:alice@example.com>;tag=1
t:   sip:bob@example.com
i: compact@x
CSeq: 7
 INFO
X-Callsim-Call: in-3
l: 0

",
    );
    assert_eq!(m.header("Call-ID"), Some("compact@x"));
    assert_eq!(m.header("call-id"), Some("compact@x"));
    assert_eq!(m.cseq().method, Method::Info);
    assert_eq!(m.callsim_call(), Some("in-3"));
    assert_eq!(m.to().uri, "sip:bob@example.com");
}

#[test]
fn extension_method_is_kept() {
    let m = check_ok(
        &OPTIONS
            .replace("OPTIONS sip", "FROBNICATE sip")
            .replace("1 OPTIONS", "1 FROBNICATE"),
    );
    assert_eq!(m.method(), Some(&Method::Extension("FROBNICATE".into())));
}

#[test]
fn udp_framing() {
    // Bytes after Content-Length are noise (RFC 3261 section 18.3).
    let mut bytes = crlf(OPTIONS);
    let len = bytes.len();
    bytes.extend_from_slice(b"garbage");
    let m = parse(&bytes).expect("trailing noise ignored");
    assert_eq!(m.as_bytes().len(), len);
    check_err(
        &OPTIONS.replace("Content-Length: 0", "Content-Length: 5"),
        "exceeds",
    );
    check_err(&OPTIONS.replace("\n\n", "\n"), "no empty line");
    assert_eq!(
        parse(OPTIONS.as_bytes()).expect_err("bare LF").to_string(),
        "lines must end in CRLF, not a bare LF"
    );
}

#[test]
fn rejections_say_why() {
    check_err(
        &OPTIONS.replace("Call-ID: c1@example.com\n", ""),
        "missing Call-ID",
    );
    check_err(&OPTIONS.replace("1 OPTIONS", "1 INVITE"), "does not match");
    check_err(
        &OPTIONS.replace("Max-Forwards: 70", "Max-Forwards: 256"),
        "0-255",
    );
    check_err(&OPTIONS.replace("SIP/2.0\n", "SIP/3.0\n"), "version");
    check_err(
        &OPTIONS.replace("sip:bob@example.com SIP", "sip:bob@example.com  SIP"),
        "single spaces",
    );
    check_err("SIP/2.0 099 Too Small\nVia: SIP/2.0/UDP h\n\n", "100-699");
    let e = parse(&crlf(&OPTIONS.replace("SIP/2.0\n", "SIP/3.0\n"))).expect_err("version");
    assert_eq!(e.kind(), ParseErrorKind::Version);
}

#[test]
fn built_request_carries_what_was_asked() {
    let m = build_request(&invite_spec()).expect("builds");
    let text = String::from_utf8(m.as_bytes().to_vec()).expect("utf8");
    assert!(
        text.starts_with("INVITE sip:bob@10.0.0.2:5060 SIP/2.0\r\n"),
        "{text}"
    );
    assert_eq!(m.branch(), Some("z9hG4bK0001"));
    assert_eq!(m.from_tag(), Some("f1"));
    assert_eq!(m.callsim_call(), Some("out-1"));
    assert_eq!(m.header("X-Test"), Some("yes"));
    assert_eq!(m.body(), b"v=0\r\n");
    assert_eq!(m.contacts()[0].uri, "sip:alice@10.0.0.1:5060");
    assert_eq!(parse(m.as_bytes()).expect("reparses"), m);
}

#[test]
fn responses_use_rfc3261_reason_phrases_and_copy_headers() {
    let invite = build_request(&invite_spec()).expect("builds");
    for (code, line) in [
        (100, "SIP/2.0 100 Trying\r\n"),
        (180, "SIP/2.0 180 Ringing\r\n"),
        (408, "SIP/2.0 408 Request Timeout\r\n"),
        (480, "SIP/2.0 480 Temporarily Unavailable\r\n"),
        (486, "SIP/2.0 486 Busy Here\r\n"),
        (487, "SIP/2.0 487 Request Terminated\r\n"),
        (503, "SIP/2.0 503 Service Unavailable\r\n"),
        (429, "SIP/2.0 429 Too Many Requests\r\n"),
    ] {
        let spec = ResponseSpec {
            to_tag: Some("t9".into()),
            ..Default::default()
        };
        let r = build_response(&invite, code, &spec).expect("builds");
        assert!(r.as_bytes().starts_with(line.as_bytes()), "{r:?}");
        assert_eq!(r.call_id(), invite.call_id());
        assert_eq!(r.cseq(), invite.cseq());
        assert_eq!(r.branch(), invite.branch());
        assert_eq!(r.callsim_call(), Some("out-1"));
        assert_eq!(r.to_tag(), if code == 100 { None } else { Some("t9") });
    }
}

#[test]
fn cancel_and_ack_reuse_the_invite_branch() {
    let invite = build_request(&invite_spec()).expect("builds");
    let cancel = build_cancel(&invite).expect("builds");
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(cancel.branch(), invite.branch());
    assert_eq!(cancel.cseq().seq, invite.cseq().seq);
    assert_eq!(cancel.request_uri(), invite.request_uri());
    let busy = busy_here(&invite, "t1");
    let ack = build_ack_for_non_2xx(&invite, &busy).expect("builds");
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.branch(), invite.branch());
    assert_eq!(ack.to_tag(), Some("t1"));
    assert_eq!(ack.cseq().method, Method::Ack);
    assert_eq!(ack.callsim_call(), Some("out-1"));
}

#[test]
fn unparsable_requests_get_400_when_answerable() {
    let bad = crlf(&OPTIONS.replace("1 OPTIONS", "1 INVITE"));
    let err = parse(&bad).expect_err("mismatch");
    let r = error_response_for(&bad, &err, "e1").expect("answerable");
    assert_eq!(r.status(), Some(400));
    assert_eq!(r.call_id(), "c1@example.com");
    assert_eq!(r.to_tag(), Some("e1"));
    let garbage = b"\x00\x01 not sip";
    let err = parse(garbage).expect_err("garbage");
    assert!(error_response_for(garbage, &err, "e1").is_none());
}

#[test]
fn a_proxy_edits_requests_and_responses() {
    let invite = build_request(&invite_spec()).expect("builds");
    // Forward: our Via on top, Record-Route, Max-Forwards down by one, retargeted.
    let mut edit = invite.edit();
    edit.push_via(&ViaSpec {
        host: "10.0.0.9".into(),
        port: 5060,
        branch: "z9hG4bKproxy".into(),
    });
    edit.push_record_route("sip:10.0.0.9:5060");
    edit.decrement_max_forwards().expect("70 hops left");
    edit.set_request_uri("sip:bob@10.0.0.3:5060");
    let forwarded = edit.finish().expect("valid");
    assert_eq!(forwarded.branch(), Some("z9hG4bKproxy"));
    assert_eq!(forwarded.vias().len(), 2);
    assert_eq!(forwarded.max_forwards(), Some(69));
    assert_eq!(forwarded.record_routes()[0].uri, "sip:10.0.0.9:5060;lr");
    assert_eq!(forwarded.request_uri(), Some("sip:bob@10.0.0.3:5060"));
    assert_eq!(forwarded.body(), invite.body());
    assert_eq!(forwarded.callsim_call(), Some("out-1"));
    // Back: the UAS answers the forwarded request; the proxy pops its Via.
    let ringing = build_response(&forwarded, 180, &ResponseSpec::default()).expect("builds");
    let mut edit = ringing.edit();
    let ours = edit.pop_via().expect("a Via");
    assert_eq!(ours.branch(), Some("z9hG4bKproxy"));
    let back = edit.finish().expect("valid");
    assert_eq!(back.branch(), invite.branch());
    assert_eq!(
        back.top_via().response_addr(),
        Some("10.0.0.1:5060".parse().expect("addr"))
    );
    assert_eq!(
        back.record_routes().len(),
        1,
        "kept for the UAC's route set"
    );
}

#[test]
fn a_proxy_refuses_exhausted_max_forwards_and_pops_routes() {
    let mut spec = invite_spec();
    spec.max_forwards = 0;
    spec.routes = vec!["<sip:10.0.0.9;lr>".into(), "<sip:10.0.0.8;lr>".into()];
    let invite = build_request(&spec).expect("builds");
    let mut edit = invite.edit();
    assert!(edit.decrement_max_forwards().is_err());
    let top = edit.pop_route().expect("a Route");
    assert_eq!(top.uri, "sip:10.0.0.9;lr");
    let rest = edit.finish().expect("valid");
    let routes: Vec<&str> = rest.routes().iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(routes, vec!["sip:10.0.0.8;lr"]);
}

/// The exact bytes callsim writes for an INVITE, its 180 and 200, a CANCEL
/// and a non-2xx ACK: pinned, so a change in how messages are serialised
/// shows here.
#[test]
fn built_messages_have_the_pinned_bytes() {
    let invite = build_request(&invite_spec()).expect("builds");
    let mut out = String::new();
    let mut add = |m: &Message| {
        out.push_str(&String::from_utf8_lossy(m.as_bytes()).replace("\r\n", "\\r\\n\n"));
        out.push_str("----\n");
    };
    add(&invite);
    for (code, tag) in [(180, Some("t9")), (200, Some("t9")), (486, Some("t9"))] {
        let spec = ResponseSpec {
            to_tag: tag.map(String::from),
            contact: Some("sip:bob@10.0.0.2:5060".into()),
            ..Default::default()
        };
        add(&build_response(&invite, code, &spec).expect("builds"));
    }
    add(&build_cancel(&invite).expect("builds"));
    let busy = busy_here(&invite, "t9");
    add(&build_ack_for_non_2xx(&invite, &busy).expect("builds"));
    let mut bye = invite_spec();
    bye.method = Method::Bye;
    bye.cseq = 2;
    bye.to.tag = Some("t9".into());
    bye.contact = None;
    bye.routes = vec!["<sip:proxy.example;lr>".into()];
    bye.extra_headers.clear();
    bye.content_type = None;
    bye.body.clear();
    add(&build_request(&bye).expect("builds"));
    insta::assert_snapshot!("built_messages", out);
}

/// `write_message` writes what rsip's own `Display` writes for a whole
/// message (request and response), one buffer instead of a string a header.
#[test]
fn write_message_matches_rsips_display() {
    use rsip::headers::UntypedHeader;
    let headers: Vec<rsip::Header> = vec![
        rsip::headers::Via::new("SIP/2.0/UDP h:5060;branch=z9hG4bKx").into(),
        rsip::headers::From::new("<sip:a@h>;tag=1").into(),
        rsip::headers::CallId::new("c@h").into(),
        rsip::Header::Other("X-Callsim-Call".into(), "out-7".into()),
        rsip::headers::ContentLength::new("0").into(),
    ];
    let request: rsip::SipMessage = rsip::Request {
        method: rsip::Method::Options,
        uri: rsip::Uri {
            scheme: Some(rsip::Scheme::Sip),
            host_with_port: rsip::HostWithPort::from(rsip::Host::from("example.com")),
            ..Default::default()
        },
        version: rsip::Version::V2,
        headers: headers.clone().into(),
        body: Vec::new(),
    }
    .into();
    let response: rsip::SipMessage = rsip::Response {
        status_code: rsip::StatusCode::Other(404, "Not Found".into()),
        version: rsip::Version::V2,
        headers: headers.into(),
        body: Vec::new(),
    }
    .into();
    for message in [request, response] {
        assert_eq!(
            callsim::sip::codec::write_message(&message),
            message.to_string()
        );
    }
}

/// What `build_request` refuses to build, with the URI and the reason: URI
/// headers in From/To/Contact, other schemes there, passwords (in any URI,
/// the Request-URI included: they used to be dropped silently), and text
/// that is not one URI.
#[test]
fn unbuildable_uris_are_refused_by_name() {
    use callsim::sip::codec::BuildError;
    type Edit = fn(&mut RequestSpec);
    let cases: [(&str, Edit, &str); 4] = [
        (
            "sip:alice@10.0.0.1?Subject=hi",
            |s| s.from.uri = "sip:alice@10.0.0.1?Subject=hi".into(),
            "URI headers cannot be built",
        ),
        (
            "tel:+15551234567",
            |s| s.to.uri = "tel:+15551234567".into(),
            "not a sip: or sips: URI",
        ),
        (
            "sip:bob:secret@10.0.0.2",
            |s| s.uri = "sip:bob:secret@10.0.0.2".into(),
            "URI passwords cannot be built",
        ),
        (
            "sip:a@h>\r\nX-Injected: y",
            |s| s.contact = Some("sip:a@h>\r\nX-Injected: y".into()),
            "whitespace inside a URI",
        ),
    ];
    for (uri, edit, why) in cases {
        let mut spec = invite_spec();
        edit(&mut spec);
        match build_request(&spec) {
            Err(BuildError::Uri {
                uri: got,
                why: reason,
            }) => {
                assert_eq!(got, uri);
                assert_eq!(reason, why, "{uri}");
            }
            other => panic!("{uri}: expected a URI error, got {other:?}"),
        }
    }
}
