//! The typed values of the SIP header fields that callsim interprets: methods, parameters,
//! name-addr values (From, To, Contact, Route), Via entries and CSeq.
//!
//! These are plain data, produced by the validating parser (`grammar`) and read by the
//! transaction, dialog and user-agent layers. They deliberately do not come from rsip: the
//! codec is the one module that knows rsip, so the rest of the SIP layer sees only these.

use std::fmt;

/// A SIP request method. Methods are case-sensitive (RFC 3261 section 7.1): `invite` is an
/// extension method, not INVITE.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Info,
    Message,
    Notify,
    Prack,
    Publish,
    Refer,
    Subscribe,
    Update,
    /// Any other method token (RFC 3261 `extension-method`).
    Extension(String),
}

impl Method {
    /// Maps a method token (already checked to be a `token`) to a method.
    pub fn from_token(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "MESSAGE" => Method::Message,
            "NOTIFY" => Method::Notify,
            "PRACK" => Method::Prack,
            "PUBLISH" => Method::Publish,
            "REFER" => Method::Refer,
            "SUBSCRIBE" => Method::Subscribe,
            "UPDATE" => Method::Update,
            other => Method::Extension(other.to_string()),
        }
    }

    /// The method as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Message => "MESSAGE",
            Method::Notify => "NOTIFY",
            Method::Prack => "PRACK",
            Method::Publish => "PUBLISH",
            Method::Refer => "REFER",
            Method::Subscribe => "SUBSCRIBE",
            Method::Update => "UPDATE",
            Method::Extension(token) => token,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `;name[=value]` parameter of a header field value. The value is kept as written,
/// so a quoted-string value keeps its quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
}

/// Finds a parameter by name; parameter names compare case-insensitively.
pub(crate) fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a Param> {
    params.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// A `name-addr` or `addr-spec` with its header parameters: the value of From, To, Contact,
/// Route, Record-Route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name as written (a quoted-string keeps its quotes), if any.
    pub display_name: Option<String>,
    /// The URI, without the angle brackets.
    pub uri: String,
    /// Whether the URI was enclosed in `<>` (a `name-addr`).
    pub bracketed: bool,
    /// The header parameters after the URI (`;tag=...`, `;expires=...`).
    pub params: Vec<Param>,
}

impl NameAddr {
    /// The `tag` parameter (From and To).
    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }

    /// The value of a header parameter, or `None` when absent or valueless.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name).and_then(|p| p.value.as_deref())
    }
}

/// One `via-parm`: a hop that a request traversed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// The transport token (`UDP`, `TCP`, ...), upper-cased.
    pub transport: String,
    /// The sent-by host (an IPv6 reference keeps its brackets).
    pub host: String,
    /// The sent-by port, when given.
    pub port: Option<u16>,
    pub params: Vec<Param>,
}

impl Via {
    /// The value of a Via parameter (`received`, `rport`, ...), or `None` when absent or
    /// valueless.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name).and_then(|p| p.value.as_deref())
    }

    /// Whether this Via's sent-by is `addr` (an IP literal and its port, 5060 when
    /// absent): the check a client transport makes on a response's top Via (RFC 3261
    /// section 18.1.2) and a proxy on the Via it pops (section 16.7).
    pub fn names(&self, addr: std::net::SocketAddr) -> bool {
        self.host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .ok()
            == Some(addr.ip())
            && self.port.unwrap_or(5060) == addr.port()
    }

    /// Whether the sender asked for `rport` (RFC 3581): the parameter, without a value.
    pub fn asks_rport(&self) -> bool {
        find_param(&self.params, "rport").is_some_and(|p| p.value.is_none())
    }

    /// Whether a server transport that received this request from `source` stamps this
    /// Via (RFC 3261 section 18.2.1, RFC 3581 section 4): its sent-by host is not the
    /// source's address, or it asks for `rport`.
    pub fn needs_received(&self, source: std::net::SocketAddr) -> bool {
        self.asks_rport()
            || self
                .host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .ok()
                != Some(source.ip())
    }

    /// The `branch` parameter, the transaction id of RFC 3261 section 17.
    pub fn branch(&self) -> Option<&str> {
        find_param(&self.params, "branch").and_then(|p| p.value.as_deref())
    }

    /// Where a response to this hop goes (section 18.2.2, with RFC 3581 `rport`): the
    /// `received` address or the sent-by host, when it is an IP literal, and the `rport`
    /// value or the sent-by port (5060 by default). `None` for a host name: names from the
    /// wire are not looked up.
    pub fn response_addr(&self) -> Option<std::net::SocketAddr> {
        let host = find_param(&self.params, "received")
            .and_then(|p| p.value.as_deref())
            .unwrap_or(&self.host);
        let ip: std::net::IpAddr = host.trim_matches(['[', ']']).parse().ok()?;
        let port = find_param(&self.params, "rport")
            .and_then(|p| p.value.as_deref())
            .and_then(|v| v.parse().ok())
            .or(self.port)
            .unwrap_or(5060);
        Some(std::net::SocketAddr::new(ip, port))
    }

    /// `host[:port]` as written, used to match server transactions (section 17.2.3).
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{}", self.host, port),
            None => self.host.clone(),
        }
    }
}

/// The CSeq header: a sequence number below 2**31 and the method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}
