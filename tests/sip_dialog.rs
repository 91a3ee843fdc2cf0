//! Dialog state (RFC 3261 section 12): early and confirmed dialogs at the UAC and UAS,
//! route set re-use with loose and strict routing, CSeq rules, BYE and the 2xx ACK.

use callsim::sip::codec::{
    build_request, build_response, AddrSpec, Message, RequestSpec, ResponseSpec, ViaSpec,
};
use callsim::sip::dialog::{Dialog, DialogId, DialogRequestError, DialogRole, DialogState};
use callsim::sip::Method;

fn via(branch: &str) -> ViaSpec {
    ViaSpec {
        host: "10.0.0.1".into(),
        port: 5060,
        branch: branch.into(),
    }
}

/// An INVITE as it reaches the UAS through two record-routing proxies.
fn invite(record_route: Option<&str>) -> Message {
    build_request(&RequestSpec {
        method: Method::Invite,
        uri: "sip:bob@10.0.0.2:5060".into(),
        via: via("z9hG4bKinv"),
        from: AddrSpec {
            uri: "sip:alice@10.0.0.1".into(),
            tag: Some("alice-tag".into()),
        },
        to: AddrSpec {
            uri: "sip:bob@10.0.0.2".into(),
            tag: None,
        },
        call_id: "dlg-1@agent".into(),
        cseq: 10,
        max_forwards: 70,
        contact: Some("sip:alice@10.0.0.1:5060".into()),
        routes: vec![],
        callsim_call: "out-7".into(),
        extra_headers: record_route
            .map(|rr| vec![("Record-Route".to_string(), rr.to_string())])
            .unwrap_or_default(),
        content_type: None,
        body: vec![],
    })
    .expect("builds")
}

fn answer(invite: &Message, code: u16) -> Message {
    build_response(
        invite,
        code,
        &ResponseSpec {
            to_tag: Some("bob-tag".into()),
            contact: Some("sip:bob@10.0.0.2:5070".into()),
            ..Default::default()
        },
    )
    .expect("builds")
}

#[test]
fn uac_dialog_goes_early_then_confirmed() {
    let inv = invite(None);
    let mut d = Dialog::uac(&inv, &answer(&inv, 180)).expect("180 with a tag makes a dialog");
    assert_eq!(d.state(), DialogState::Early);
    assert_eq!(d.role(), DialogRole::Uac);
    d.on_response(&answer(&inv, 200));
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.remote_target(), "sip:bob@10.0.0.2:5070");
    assert_eq!(
        d.id(),
        &DialogId {
            call_id: "dlg-1@agent".into(),
            local_tag: "alice-tag".into(),
            remote_tag: "bob-tag".into()
        }
    );
    assert!(Dialog::uac(
        &inv,
        &build_response(&inv, 100, &ResponseSpec::default()).expect("100")
    )
    .is_none());
}

#[test]
fn bye_goes_to_the_remote_target_with_a_rising_cseq() {
    let inv = invite(None);
    let mut d = Dialog::uac(&inv, &answer(&inv, 200)).expect("dialog");
    let bye = d
        .new_request(Method::Bye, via("z9hG4bKbye"))
        .expect("builds");
    assert_eq!(bye.request_uri(), Some("sip:bob@10.0.0.2:5070"));
    assert_eq!(bye.cseq().seq, 11);
    assert_eq!(bye.from_tag(), Some("alice-tag"));
    assert_eq!(bye.to_tag(), Some("bob-tag"));
    assert_eq!(bye.callsim_call(), Some("out-7"));
    assert!(bye.routes().is_empty());
    let ack = d.ack_for_2xx(via("z9hG4bKack")).expect("builds");
    assert_eq!(
        (ack.cseq().seq, ack.cseq().method.clone()),
        (10, Method::Ack)
    );
    assert_eq!(
        ack.branch(),
        Some("z9hG4bKack"),
        "the 2xx ACK has a branch of its own"
    );
}

#[test]
fn loose_route_set_is_reversed_at_the_uac_and_reused() {
    let inv = invite(Some("<sip:p2.example.com;lr>, <sip:p1.example.com;lr>"));
    let mut d = Dialog::uac(&inv, &answer(&inv, 200)).expect("dialog");
    assert_eq!(d.next_hop(), "sip:p1.example.com;lr");
    let bye = d.new_request(Method::Bye, via("z9hG4bKb")).expect("builds");
    assert_eq!(bye.request_uri(), Some("sip:bob@10.0.0.2:5070"));
    let routes: Vec<&str> = bye.routes().iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        routes,
        vec!["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    );
}

#[test]
fn strict_router_becomes_the_request_uri() {
    let inv = invite(Some("<sip:p2.example.com;lr>, <sip:p1.example.com>"));
    let mut d = Dialog::uac(&inv, &answer(&inv, 200)).expect("dialog");
    let bye = d.new_request(Method::Bye, via("z9hG4bKb")).expect("builds");
    assert_eq!(bye.request_uri(), Some("sip:p1.example.com"));
    let routes: Vec<&str> = bye.routes().iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        routes,
        vec!["sip:p2.example.com;lr", "sip:bob@10.0.0.2:5070"]
    );
}

#[test]
fn uas_dialog_keeps_record_route_order_and_checks_cseq() {
    let inv = invite(Some("<sip:p2.example.com;lr>, <sip:p1.example.com;lr>"));
    let mut d = Dialog::uas(&inv, "bob-tag");
    assert_eq!(d.state(), DialogState::Early);
    d.confirm();
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.next_hop(), "sip:p2.example.com;lr");
    assert_eq!(d.remote_target(), "sip:alice@10.0.0.1:5060");
    // The peer's BYE: From alice-tag, To bob-tag, CSeq above the INVITE's.
    let mut peer = Dialog::uac(&inv, &answer(&inv, 200)).expect("peer view");
    let bye = peer
        .new_request(Method::Bye, via("z9hG4bKpeer"))
        .expect("builds");
    assert_eq!(d.on_request(&bye), Ok(()));
    assert_eq!(
        d.on_request(&bye),
        Err(DialogRequestError::OutOfOrder { got: 11, last: 11 })
    );
    let mut stranger = Dialog::uas(&inv, "other-tag");
    assert_eq!(stranger.on_request(&bye), Err(DialogRequestError::Mismatch));
    let our_bye = d
        .new_request(Method::Bye, via("z9hG4bKours"))
        .expect("builds");
    assert_eq!(our_bye.cseq().seq, 1);
    assert_eq!(our_bye.request_uri(), Some("sip:alice@10.0.0.1:5060"));
    assert_eq!(our_bye.from_tag(), Some("bob-tag"));
}
