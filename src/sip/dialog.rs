//! SIP dialogs (RFC 3261 section 12): the state a UAC or UAS keeps for an INVITE dialog,
//! and the in-dialog requests built from it (BYE, the end-to-end ACK for a 2xx).
//!
//! A dialog is identified by Call-ID, local tag and remote tag. It is early after a
//! provisional response with a To tag, confirmed after a 2xx, terminated after a BYE. The
//! route set is fixed when the dialog is created (from Record-Route, reversed at the UAC)
//! and recomputed from the 2xx at the UAC (section 12.1.2); every in-dialog request re-uses
//! it, with loose routing when the first route has `;lr`, strict routing otherwise.

use super::codec::{
    build_request, format_name_addr, AddrSpec, BuildError, Message, RequestSpec, ViaSpec,
};
use super::header::{Method, NameAddr};
use super::uri::parse_uri;

/// Max-Forwards on the requests we originate.
pub const MAX_FORWARDS: u8 = 70;

/// Call-ID, local tag and remote tag (section 12).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog an incoming request belongs to, seen from us: our tag is in To.
    pub fn of_incoming_request(request: &Message) -> DialogId {
        DialogId {
            call_id: request.call_id().to_string(),
            local_tag: request.to_tag().unwrap_or_default().to_string(),
            remote_tag: request.from_tag().unwrap_or_default().to_string(),
        }
    }

    /// The dialog a response to our request belongs to: our tag is in From.
    pub fn of_response(response: &Message) -> DialogId {
        DialogId {
            call_id: response.call_id().to_string(),
            local_tag: response.from_tag().unwrap_or_default().to_string(),
            remote_tag: response.to_tag().unwrap_or_default().to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogRole {
    Uac,
    Uas,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
    Terminated,
}

/// Why an in-dialog request was refused (section 12.2.2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialogRequestError {
    /// Its CSeq is not above the last one seen: answer 500.
    #[error("CSeq {got} is not above the last remote CSeq {last}")]
    OutOfOrder { got: u32, last: u32 },
    /// It does not belong to this dialog: answer 481.
    #[error("request does not belong to this dialog")]
    Mismatch,
}

/// One INVITE dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    id: DialogId,
    role: DialogRole,
    state: DialogState,
    local_seq: u32,
    remote_seq: Option<u32>,
    /// The CSeq number of the INVITE that created the dialog (its 2xx ACK reuses it).
    invite_seq: u32,
    local_uri: String,
    remote_uri: String,
    remote_target: String,
    route_set: Vec<NameAddr>,
    callsim_call: String,
}

fn contact_uri(message: &Message) -> Option<String> {
    message.contacts().first().map(|c| c.uri.clone())
}

impl Dialog {
    /// The UAC side, from our INVITE and a 101-299 response carrying a To tag.
    pub fn uac(invite: &Message, response: &Message) -> Option<Dialog> {
        let code = response.status()?;
        let remote_tag = response.to_tag()?;
        if !(101..300).contains(&code) {
            return None;
        }
        let mut route_set = response.record_routes().to_vec();
        route_set.reverse();
        Some(Dialog {
            id: DialogId {
                call_id: invite.call_id().to_string(),
                local_tag: invite.from_tag().unwrap_or_default().to_string(),
                remote_tag: remote_tag.to_string(),
            },
            role: DialogRole::Uac,
            state: if code < 200 {
                DialogState::Early
            } else {
                DialogState::Confirmed
            },
            local_seq: invite.cseq().seq,
            remote_seq: None,
            invite_seq: invite.cseq().seq,
            local_uri: invite.from().uri.clone(),
            remote_uri: invite.to().uri.clone(),
            remote_target: contact_uri(response)
                .or_else(|| invite.request_uri().map(str::to_string))
                .unwrap_or_default(),
            route_set,
            callsim_call: invite.callsim_call().unwrap_or_default().to_string(),
        })
    }

    /// The UAS side, from the INVITE and the tag we put in our responses. It starts early;
    /// [`Dialog::confirm`] when the 2xx goes out.
    pub fn uas(invite: &Message, local_tag: &str) -> Dialog {
        Dialog {
            id: DialogId {
                call_id: invite.call_id().to_string(),
                local_tag: local_tag.to_string(),
                remote_tag: invite.from_tag().unwrap_or_default().to_string(),
            },
            role: DialogRole::Uas,
            state: DialogState::Early,
            local_seq: 0,
            remote_seq: Some(invite.cseq().seq),
            invite_seq: invite.cseq().seq,
            local_uri: invite.to().uri.clone(),
            remote_uri: invite.from().uri.clone(),
            remote_target: contact_uri(invite).unwrap_or_else(|| invite.from().uri.clone()),
            route_set: invite.record_routes().to_vec(),
            callsim_call: invite.callsim_call().unwrap_or_default().to_string(),
        }
    }

    pub fn id(&self) -> &DialogId {
        &self.id
    }

    pub fn role(&self) -> DialogRole {
        self.role
    }

    pub fn state(&self) -> DialogState {
        self.state
    }

    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    pub fn route_set(&self) -> &[NameAddr] {
        &self.route_set
    }

    pub fn callsim_call(&self) -> &str {
        &self.callsim_call
    }

    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// A later response to the INVITE at the UAC: a 2xx confirms the dialog and fixes its
    /// route set and remote target from that response (sections 12.1.2 and 12.2.1.2).
    pub fn on_response(&mut self, response: &Message) {
        if self.role != DialogRole::Uac || self.state == DialogState::Terminated {
            return;
        }
        let Some(code) = response.status() else {
            return;
        };
        if let Some(target) = contact_uri(response) {
            self.remote_target = target;
        }
        if (200..300).contains(&code) && self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
            let mut route_set = response.record_routes().to_vec();
            route_set.reverse();
            self.route_set = route_set;
        }
    }

    /// The UAS sent its 2xx.
    pub fn confirm(&mut self) {
        if self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
        }
    }

    /// BYE sent or received, or the INVITE failed.
    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }

    /// An in-dialog request from the peer (section 12.2.2): checks that it belongs here and
    /// that its CSeq rises (ACK and CANCEL reuse an earlier number and are not checked).
    pub fn on_request(&mut self, request: &Message) -> Result<(), DialogRequestError> {
        if DialogId::of_incoming_request(request) != self.id {
            return Err(DialogRequestError::Mismatch);
        }
        let seq = request.cseq().seq;
        if matches!(request.method(), Some(Method::Ack | Method::Cancel)) {
            return Ok(());
        }
        if let Some(last) = self.remote_seq {
            if seq <= last {
                return Err(DialogRequestError::OutOfOrder { got: seq, last });
            }
        }
        self.remote_seq = Some(seq);
        Ok(())
    }

    /// The URI a request in this dialog is sent to: the first route, else the remote
    /// target.
    pub fn next_hop(&self) -> &str {
        self.route_set
            .first()
            .map_or(self.remote_target.as_str(), |r| r.uri.as_str())
    }

    /// Request-URI and Route values (section 12.2.1.1).
    fn request_uri_and_routes(&self) -> (String, Vec<String>) {
        let Some(first) = self.route_set.first() else {
            return (self.remote_target.clone(), Vec::new());
        };
        let loose = parse_uri(&first.uri).is_ok_and(|u| u.is_loose_router());
        if loose {
            let routes = self.route_set.iter().map(format_name_addr).collect();
            return (self.remote_target.clone(), routes);
        }
        // Strict routing: the first route becomes the Request-URI (without parameters
        // not allowed there, which our own routes never carry), the remote target the
        // last Route.
        let mut routes: Vec<String> = self.route_set[1..].iter().map(format_name_addr).collect();
        routes.push(format!("<{}>", self.remote_target));
        (first.uri.clone(), routes)
    }

    fn request_spec(&self, method: Method, cseq: u32, via: ViaSpec) -> RequestSpec {
        let (uri, routes) = self.request_uri_and_routes();
        RequestSpec {
            method,
            uri,
            via,
            from: AddrSpec {
                uri: self.local_uri.clone(),
                tag: Some(self.id.local_tag.clone()),
            },
            to: AddrSpec {
                uri: self.remote_uri.clone(),
                tag: Some(self.id.remote_tag.clone()).filter(|t| !t.is_empty()),
            },
            call_id: self.id.call_id.clone(),
            cseq,
            max_forwards: MAX_FORWARDS,
            contact: None,
            routes,
            callsim_call: self.callsim_call.clone(),
            extra_headers: Vec::new(),
            content_type: None,
            body: Vec::new(),
        }
    }

    /// A new in-dialog request (BYE, INFO, ...): the local CSeq rises by one. `via`
    /// carries a fresh branch.
    pub fn new_request(&mut self, method: Method, via: ViaSpec) -> Result<Message, BuildError> {
        let seq = self.local_seq.saturating_add(1);
        let message = build_request(&self.request_spec(method, seq, via))?;
        self.local_seq = seq;
        Ok(message)
    }

    /// A re-INVITE (section 14.1): a new INVITE in this dialog, CSeq one up, with our
    /// `contact` (section 12.2.1.1: a target refresh request carries one) and an SDP
    /// offer. Its 2xx is ACKed by [`Dialog::ack_for_2xx`] with its CSeq number.
    pub fn new_reinvite(
        &mut self,
        via: ViaSpec,
        contact: String,
        sdp: Option<&str>,
    ) -> Result<Message, BuildError> {
        let seq = self.local_seq.saturating_add(1);
        let mut spec = self.request_spec(Method::Invite, seq, via);
        spec.contact = Some(contact);
        if let Some(sdp) = sdp {
            spec.content_type = Some(crate::sip::sdp::CONTENT_TYPE.to_string());
            spec.body = sdp.as_bytes().to_vec();
        }
        let message = build_request(&spec)?;
        self.local_seq = seq;
        self.invite_seq = seq;
        Ok(message)
    }

    /// The end-to-end ACK for the 2xx (section 13.2.2.4): the INVITE's CSeq number, a new
    /// branch, the dialog's route set.
    pub fn ack_for_2xx(&self, via: ViaSpec) -> Result<Message, BuildError> {
        build_request(&self.request_spec(Method::Ack, self.invite_seq, via))
    }
}
