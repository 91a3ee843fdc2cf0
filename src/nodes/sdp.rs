//! A minimal SDP body (RFC 4566): just enough to exchange media addresses
//! in an INVITE and its 200, so that an SBC can anchor media by rewriting
//! the `c=` and `m=` lines.
//!
//! ```text
//! v=0
//! o=- 0 0 IN IP4 192.168.0.3
//! s=callsim
//! c=IN IP4 192.168.0.3
//! t=0 0
//! m=audio 10000 RTP/AVP 0
//! ```

use std::net::{IpAddr, SocketAddr};

/// The content type of an SDP body.
pub const CONTENT_TYPE: &str = "application/sdp";

/// An SDP body announcing media at `addr`.
pub fn body(addr: SocketAddr) -> String {
    let ip = addr.ip();
    format!(
        "v=0\r\no=- 0 0 IN IP4 {ip}\r\ns=callsim\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\n",
        addr.port()
    )
}

/// The media address an SDP body announces (`c=` address, `m=audio`
/// port), or `None` when either is missing or malformed.
pub fn media_addr(body: &str) -> Option<SocketAddr> {
    let mut ip: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    for line in body.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("c=") {
            ip = rest.split_whitespace().nth(2).and_then(|a| a.parse().ok());
        } else if let Some(rest) = line.strip_prefix("m=audio ") {
            port = rest.split_whitespace().next().and_then(|p| p.parse().ok());
        }
    }
    Some(SocketAddr::new(ip?, port?))
}

/// `body` with its media address replaced by `addr` (what an SBC does to
/// anchor media); `None` when `body` announces no media address.
pub fn rewrite(body: &str, addr: SocketAddr) -> Option<String> {
    media_addr(body)?;
    let ip = addr.ip();
    let mut out = String::with_capacity(body.len() + 8);
    for line in body.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("c=") {
            out.push_str(&format!("c=IN IP4 {ip}"));
        } else if line.starts_with("o=") {
            out.push_str(&format!("o=- 0 0 IN IP4 {ip}"));
        } else if let Some(rest) = line.strip_prefix("m=audio ") {
            let tail: Vec<&str> = rest.split_whitespace().skip(1).collect();
            out.push_str(&format!("m=audio {} {}", addr.port(), tail.join(" ")));
        } else {
            out.push_str(line);
        }
        out.push_str("\r\n");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("socket address")
    }

    #[test]
    fn round_trip_and_rewrite() {
        let a = addr("192.168.0.3:10000");
        let b = body(a);
        assert_eq!(media_addr(&b), Some(a));
        let moved = rewrite(&b, addr("192.168.0.9:10002")).expect("has media");
        assert_eq!(media_addr(&moved), Some(addr("192.168.0.9:10002")));
        assert!(moved.contains("m=audio 10002 RTP/AVP 0\r\n"));
        assert!(!moved.contains("192.168.0.3"));
    }

    #[test]
    fn missing_or_malformed_lines_give_none() {
        assert_eq!(media_addr(""), None);
        assert_eq!(media_addr("v=0\r\nc=IN IP4 10.0.0.1\r\n"), None);
        assert_eq!(
            media_addr("c=IN IP4 nonsense\r\nm=audio 5 RTP/AVP 0\r\n"),
            None
        );
        assert_eq!(rewrite("v=0\r\n", addr("10.0.0.1:1")), None);
    }
}
