//! The name-service protocol on the wire: one query datagram, one answer
//! datagram, JSON over UDP on [`crate::nodes::ports::DNS`].
//!
//! A compact stand-in for DNS (RFC 1035) with the parts that matter to a
//! call platform: a query id the resolver matches answers by, the name
//! (address records only), a response code, the hosts of a positive
//! answer and a TTL: the record's for a positive answer, the zone's
//! negative TTL for NXDOMAIN (RFC 2308), 0 for SERVFAIL. Host names stand
//! for addresses, as everywhere in the simulation.

use serde::{Deserialize, Serialize};

/// Largest datagram either side reads.
pub const DATAGRAM_MAX: usize = 4096;

/// A response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rcode {
    /// The name exists; the answer holds its hosts.
    #[serde(rename = "NOERROR")]
    NoError,
    /// No such name.
    #[serde(rename = "NXDOMAIN")]
    NxDomain,
    /// The server could not answer.
    #[serde(rename = "SERVFAIL")]
    ServFail,
}

impl Rcode {
    pub fn as_str(self) -> &'static str {
        match self {
            Rcode::NoError => "NOERROR",
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::ServFail => "SERVFAIL",
        }
    }
}

/// A query: the address records of `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    pub id: u16,
    pub name: String,
}

/// The answer to the query with the same `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub id: u16,
    pub name: String,
    pub rcode: Rcode,
    /// How long the answer may be cached, in ms.
    pub ttl_ms: u64,
    /// The name's hosts (empty unless `NOERROR`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    serde_json::to_vec(message).expect("protocol messages serialise")
}

/// A message read from a datagram; `None` when it is not one.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Option<T> {
    serde_json::from_slice(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_survives_the_wire() {
        let answer = Answer {
            id: 7,
            name: "sip.platform".into(),
            rcode: Rcode::NoError,
            ttl_ms: 30_000,
            hosts: vec!["lb-1".into(), "lb-2".into()],
        };
        let bytes = encode(&answer);
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"id":7,"name":"sip.platform","rcode":"NOERROR","ttl_ms":30000,"hosts":["lb-1","lb-2"]}"#
        );
        assert_eq!(decode::<Answer>(&bytes), Some(answer));
        assert_eq!(decode::<Answer>(b"not json"), None);
    }
}
