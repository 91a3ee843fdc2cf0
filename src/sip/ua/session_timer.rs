//! Session timers (RFC 4028): a dialog is kept alive by periodic refreshes, so that a
//! dialog whose other end is gone (crashed, or cut off by a partition) ends by itself
//! instead of living forever.
//!
//! What the user agent does, when [`SessionTimerConfig`] is set:
//! - Its INVITE says `Supported: timer` and asks for `Session-Expires: <expires>` with
//!   `Min-SE: <min_se>`.
//! - As UAS, an INVITE asking for less than its `min_se` gets 422 with its `Min-SE`
//!   (section 9); otherwise its 2xx fixes the interval (the smaller of the two asks) and
//!   the refresher (the one the INVITE named, else the UAC when it supports timers, else
//!   itself), with `Require: timer` when the UAC supports them (section 9).
//! - As UAC, the interval and refresher come from the 2xx's `Session-Expires`.
//! - The refresher sends an in-dialog UPDATE carrying `Session-Expires` at half the
//!   interval (section 10); a refresh that fails (no 2xx) ends the dialog with a BYE.
//! - The other end expects a refresh within the interval less min(32 s, interval/3)
//!   (section 10); without one it sends BYE, and the call ends with
//!   [`super::EndReason::SessionExpired`].
//!
//! - A caller refused 422 sends its INVITE again, once, asking for the `Min-SE` the 422
//!   named (section 7.4).
//!
//! Not modelled: refreshes by re-INVITE from this UA (it answers them), and the
//! `Min-SE` of a proxy.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sim::{Dur, FieldError};
use crate::sip::codec::Message;

/// RFC 4028's smallest `Min-SE` (section 4).
pub const MIN_SE_FLOOR: Duration = Duration::from_secs(90);

/// `session_timer = { expires = "1800s", min_se = "90s" }` on a node that runs a user
/// agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionTimerConfig {
    /// The interval this UA asks for (and accepts at most). Default 1800s.
    #[serde(default = "default_expires")]
    pub expires: Dur,
    /// The smallest interval it accepts; at least 90s (RFC 4028). Default 90s.
    #[serde(default = "default_min_se")]
    pub min_se: Dur,
}

fn default_expires() -> Dur {
    Dur::from_secs(1800)
}

fn default_min_se() -> Dur {
    Dur::from_secs(90)
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig {
            expires: default_expires(),
            min_se: default_min_se(),
        }
    }
}

impl SessionTimerConfig {
    /// `min_se` is at least 90s (whole seconds, as the header carries them) and
    /// `expires` at least `min_se`.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        let min_se: Duration = self.min_se.0;
        let expires: Duration = self.expires.0;
        if min_se < MIN_SE_FLOOR || min_se.subsec_nanos() != 0 {
            return Err(FieldError::new(
                format!("{field}.min_se"),
                "must be a whole number of seconds, at least 90s (RFC 4028 section 4)",
            ));
        }
        if expires < min_se || expires.subsec_nanos() != 0 {
            return Err(FieldError::new(
                format!("{field}.expires"),
                "must be a whole number of seconds, at least min_se",
            ));
        }
        Ok(())
    }

    pub(super) fn expires_s(&self) -> u64 {
        self.expires.0.as_secs()
    }

    pub(super) fn min_se_s(&self) -> u64 {
        self.min_se.0.as_secs()
    }

    /// The headers of an INVITE asking for a session timer.
    pub(super) fn invite_headers(&self) -> Vec<(String, String)> {
        vec![
            ("Supported".to_string(), "timer".to_string()),
            ("Session-Expires".to_string(), self.expires_s().to_string()),
            ("Min-SE".to_string(), self.min_se_s().to_string()),
        ]
    }
}

/// Which end refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

impl Refresher {
    fn as_str(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

/// A `Session-Expires` value: seconds and the refresher, if named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires {
    pub secs: u64,
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// Reads a message's `Session-Expires` (compact form `x` is expanded by the codec);
    /// `None` when absent or malformed.
    pub fn of(message: &Message) -> Option<SessionExpires> {
        let value = message.header("Session-Expires")?;
        let mut parts = value.split(';');
        let secs = parts.next()?.trim().parse().ok()?;
        let mut refresher = None;
        for p in parts {
            if let Some((name, v)) = p.split_once('=') {
                if name.trim().eq_ignore_ascii_case("refresher") {
                    refresher = match v.trim().to_ascii_lowercase().as_str() {
                        "uac" => Some(Refresher::Uac),
                        "uas" => Some(Refresher::Uas),
                        _ => None,
                    };
                }
            }
        }
        Some(SessionExpires { secs, refresher })
    }

    pub fn header_value(&self) -> String {
        match self.refresher {
            Some(r) => format!("{};refresher={}", self.secs, r.as_str()),
            None => self.secs.to_string(),
        }
    }
}

/// Whether a message lists `timer` in its `Supported` (or `Require`).
pub fn supports_timer(message: &Message) -> bool {
    ["Supported", "Require"].iter().any(|name| {
        message
            .header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("timer")))
    })
}

/// What a UAS does with an INVITE's session-timer ask (RFC 4028 section 9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UasDecision {
    /// No session timer in this dialog.
    None,
    /// 422 Session Interval Too Small, with our `Min-SE`.
    TooSmall { min_se: u64 },
    /// The 2xx carries this `Session-Expires` (and `Require: timer` when `require`).
    Accept {
        expires: SessionExpires,
        require: bool,
    },
}

/// The UAS's decision for `invite` given its own `config` (none: it only honours what
/// the UAC asks for, with RFC 4028's 90 s floor).
pub fn uas_decision(invite: &Message, config: Option<&SessionTimerConfig>) -> UasDecision {
    let asked = SessionExpires::of(invite);
    let uac_supports = supports_timer(invite);
    let min_se = config.map_or(MIN_SE_FLOOR.as_secs(), SessionTimerConfig::min_se_s);
    let secs = match (asked, config) {
        (Some(a), Some(c)) => a.secs.min(c.expires_s()),
        (Some(a), None) => a.secs,
        (None, Some(c)) => c.expires_s(),
        (None, None) => return UasDecision::None,
    };
    if asked.is_some_and(|a| a.secs < min_se) {
        return UasDecision::TooSmall { min_se };
    }
    let refresher = match asked.and_then(|a| a.refresher) {
        Some(r) => r,
        None if uac_supports => Refresher::Uac,
        None => Refresher::Uas,
    };
    UasDecision::Accept {
        expires: SessionExpires {
            secs,
            refresher: Some(refresher),
        },
        require: uac_supports,
    }
}

/// A dialog's session timer once the 2xx fixed it: who we are to it and its interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub interval: Duration,
    /// Whether this end sends the refreshes.
    pub we_refresh: bool,
}

impl Session {
    /// From the 2xx's `Session-Expires`, at the end playing `our_role`.
    pub fn from_2xx(response: &Message, our_role: Refresher) -> Option<Session> {
        let se = SessionExpires::of(response)?;
        let refresher = se.refresher.unwrap_or(Refresher::Uas);
        Some(Session {
            interval: Duration::from_secs(se.secs),
            we_refresh: refresher == our_role,
        })
    }

    /// When the refresher sends its refresh: half the interval (section 10).
    pub fn refresh_after(&self) -> Duration {
        self.interval / 2
    }

    /// When the other end gives up without a refresh: the interval less
    /// min(32 s, interval / 3) (section 10).
    pub fn expire_after(&self) -> Duration {
        self.interval - (self.interval / 3).min(Duration::from_secs(32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(extra: &str) -> Message {
        crate::sip::testkit::invite(extra, "")
    }

    fn config(expires: u64, min_se: u64) -> SessionTimerConfig {
        SessionTimerConfig {
            expires: Dur::from_secs(expires),
            min_se: Dur::from_secs(min_se),
        }
    }

    #[test]
    fn the_uas_takes_the_smaller_interval_and_the_named_or_supporting_refresher() {
        let asked = invite("Supported: timer\r\nSession-Expires: 1800\r\n");
        assert_eq!(
            uas_decision(&asked, Some(&config(600, 90))),
            UasDecision::Accept {
                expires: SessionExpires {
                    secs: 600,
                    refresher: Some(Refresher::Uac)
                },
                require: true
            }
        );
        let named = invite("Session-Expires: 300;refresher=uas\r\n");
        assert_eq!(
            uas_decision(&named, None),
            UasDecision::Accept {
                expires: SessionExpires {
                    secs: 300,
                    refresher: Some(Refresher::Uas)
                },
                require: false
            }
        );
        assert_eq!(uas_decision(&invite(""), None), UasDecision::None);
        let unsupported = uas_decision(&invite(""), Some(&config(600, 90)));
        assert!(matches!(
            unsupported,
            UasDecision::Accept {
                expires: SessionExpires {
                    refresher: Some(Refresher::Uas),
                    ..
                },
                require: false
            }
        ));
    }

    #[test]
    fn too_small_an_interval_gets_422_with_our_min_se() {
        let small = invite("Supported: timer\r\nSession-Expires: 60\r\n");
        assert_eq!(
            uas_decision(&small, None),
            UasDecision::TooSmall { min_se: 90 }
        );
        let under_ours = invite("Session-Expires: 120\r\n");
        assert_eq!(
            uas_decision(&under_ours, Some(&config(1800, 300))),
            UasDecision::TooSmall { min_se: 300 }
        );
    }

    #[test]
    fn refresh_at_half_and_expiry_before_the_end() {
        let s = Session {
            interval: Duration::from_secs(90),
            we_refresh: true,
        };
        assert_eq!(s.refresh_after(), Duration::from_secs(45));
        assert_eq!(s.expire_after(), Duration::from_secs(60));
        let long = Session {
            interval: Duration::from_secs(1800),
            we_refresh: false,
        };
        assert_eq!(long.expire_after(), Duration::from_secs(1768));
    }

    #[test]
    fn config_needs_whole_seconds_and_the_rfc_floor() {
        assert!(config(1800, 90).validate("s").is_ok());
        assert_eq!(
            config(1800, 60).validate("s").unwrap_err().field,
            "s.min_se"
        );
        assert_eq!(
            config(100, 120).validate("s").unwrap_err().field,
            "s.expires"
        );
    }
}
