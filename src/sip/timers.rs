//! RFC 3261 timer values (section 17 and table 4 of appendix A), each settable on its own.
//!
//! Defaults: T1 500 ms, T2 4 s, T4 5 s; B = F = H = J = 64*T1 (32 s); D = 32 s; I = K = T4.
//! In a scenario file the durations are strings with units (`"500ms"`, `"32s"`); a timer
//! left out follows the RFC relation to the T values given (B = 64*T1 of the file's T1).
//! Only unreliable transport (UDP) is modelled, so timers A, E and G retransmit and D, I,
//! J, K wait the full duration.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The timer values a transaction layer runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipTimers {
    /// RTT estimate: first retransmission interval (A, E, G start here). Default 500 ms.
    pub t1: Duration,
    /// Cap on non-INVITE request and INVITE response retransmission intervals. Default 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network. Default 5 s.
    pub t4: Duration,
    /// INVITE client transaction timeout. Default 64*T1.
    pub timer_b: Duration,
    /// Wait for response retransmissions after a non-2xx INVITE response. Default 32 s.
    pub timer_d: Duration,
    /// Non-INVITE client transaction timeout. Default 64*T1.
    pub timer_f: Duration,
    /// Wait for the ACK after a non-2xx INVITE response. Default 64*T1.
    pub timer_h: Duration,
    /// Wait for ACK retransmissions. Default T4.
    pub timer_i: Duration,
    /// Wait for non-INVITE request retransmissions. Default 64*T1.
    pub timer_j: Duration,
    /// Wait for non-INVITE response retransmissions. Default T4.
    pub timer_k: Duration,
}

impl SipTimers {
    /// The RFC relations derived from T1, T2 and T4.
    pub fn from_t(t1: Duration, t2: Duration, t4: Duration) -> Self {
        SipTimers {
            t1,
            t2,
            t4,
            timer_b: t1 * 64,
            timer_d: Duration::from_secs(32),
            timer_f: t1 * 64,
            timer_h: t1 * 64,
            timer_i: t4,
            timer_j: t1 * 64,
            timer_k: t4,
        }
    }

    /// Every timer with its name in scenario files, T values first.
    fn named(&self) -> [(&'static str, Duration); 10] {
        [
            ("t1", self.t1),
            ("t2", self.t2),
            ("t4", self.t4),
            ("timer_b", self.timer_b),
            ("timer_d", self.timer_d),
            ("timer_f", self.timer_f),
            ("timer_h", self.timer_h),
            ("timer_i", self.timer_i),
            ("timer_j", self.timer_j),
            ("timer_k", self.timer_k),
        ]
    }

    /// Checks the invariants the state machines rely on: every duration above zero,
    /// T1 <= T2.
    pub fn validate(&self) -> Result<(), String> {
        if let Some((name, _)) = self.named().iter().find(|(_, d)| d.is_zero()) {
            return Err(format!("sip timer {name} must be above zero"));
        }
        if self.t1 > self.t2 {
            return Err("sip timer t1 must not exceed t2".into());
        }
        Ok(())
    }
}

impl Default for SipTimers {
    fn default() -> Self {
        SipTimers::from_t(
            Duration::from_millis(500),
            Duration::from_secs(4),
            Duration::from_secs(5),
        )
    }
}

/// Parses `"500ms"`, `"32s"`, `"2m"`, `"1h"`, `"250us"` (an integer and a unit).
///
/// A local stand-in until the scenario's duration type exists; the lead will unify them.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {s:?} needs a unit (ms, s, m, h)"))?;
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("duration {s:?} must start with a whole number"))?;
    let d = match unit {
        "us" => Duration::from_micros(n),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => {
            return Err(format!(
                "duration {s:?}: unknown unit {unit:?} (us, ms, s, m, h)"
            ))
        }
    };
    Ok(d)
}

/// Formats a duration in the largest unit that keeps it whole (`"500ms"`, `"32s"`).
pub fn format_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us.is_multiple_of(1_000_000) {
        format!("{}s", us / 1_000_000)
    } else if us.is_multiple_of(1_000) {
        format!("{}ms", us / 1_000)
    } else {
        format!("{us}us")
    }
}

/// What [`parse_duration`] accepts, as a JSON Schema `pattern`: a whole
/// number and a unit, no space between.
pub const TIMER_PATTERN: &str = r"^\s*[0-9]+(us|ms|s|m|h)\s*$";

/// RFC 3261 timers, each a whole number with a unit (`"500ms"`, `"32s"`);
/// a timer left out follows the RFC relation to the T values given.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SipTimers")]
struct RawTimers {
    /// RTT estimate: first retransmission interval (A, E, G start here). Default 500ms.
    #[schemars(regex(pattern = TIMER_PATTERN))]
    t1: Option<String>,
    /// Cap on non-INVITE request and INVITE response retransmission intervals. Default 4s.
    #[schemars(regex(pattern = TIMER_PATTERN))]
    t2: Option<String>,
    /// Maximum time a message stays in the network. Default 5s.
    #[schemars(regex(pattern = TIMER_PATTERN))]
    t4: Option<String>,
    /// INVITE client transaction timeout. Default 64*T1.
    #[schemars(regex(pattern = TIMER_PATTERN))]
    timer_b: Option<String>,
    /// Wait for response retransmissions after a non-2xx INVITE response. Default 32s.
    #[schemars(regex(pattern = TIMER_PATTERN))]
    timer_d: Option<String>,
    /// Non-INVITE client transaction timeout. Default 64*T1.
    #[schemars(regex(pattern = TIMER_PATTERN))]
    timer_f: Option<String>,
    /// Wait for the ACK after a non-2xx INVITE response. Default 64*T1.
    #[schemars(regex(pattern = TIMER_PATTERN))]
    timer_h: Option<String>,
    /// Wait for ACK retransmissions. Default T4.
    #[schemars(regex(pattern = TIMER_PATTERN))]
    timer_i: Option<String>,
    /// Wait for non-INVITE request retransmissions. Default 64*T1.
    #[schemars(regex(pattern = TIMER_PATTERN))]
    timer_j: Option<String>,
    /// Wait for non-INVITE response retransmissions. Default T4.
    #[schemars(regex(pattern = TIMER_PATTERN))]
    timer_k: Option<String>,
}

/// The file form is [`RawTimers`]' (strings with units), which the
/// hand-written `Deserialize` below reads.
impl schemars::JsonSchema for SipTimers {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        RawTimers::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        RawTimers::json_schema(generator)
    }
}

impl<'de> Deserialize<'de> for SipTimers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawTimers::deserialize(deserializer)?;
        let get = |name: &str, v: &Option<String>| -> Result<Option<Duration>, D::Error> {
            v.as_deref()
                .map(|s| parse_duration(s).map_err(|e| D::Error::custom(format!("{name}: {e}"))))
                .transpose()
        };
        let d = SipTimers::default();
        let base = SipTimers::from_t(
            get("t1", &raw.t1)?.unwrap_or(d.t1),
            get("t2", &raw.t2)?.unwrap_or(d.t2),
            get("t4", &raw.t4)?.unwrap_or(d.t4),
        );
        let timers = SipTimers {
            timer_b: get("timer_b", &raw.timer_b)?.unwrap_or(base.timer_b),
            timer_d: get("timer_d", &raw.timer_d)?.unwrap_or(base.timer_d),
            timer_f: get("timer_f", &raw.timer_f)?.unwrap_or(base.timer_f),
            timer_h: get("timer_h", &raw.timer_h)?.unwrap_or(base.timer_h),
            timer_i: get("timer_i", &raw.timer_i)?.unwrap_or(base.timer_i),
            timer_j: get("timer_j", &raw.timer_j)?.unwrap_or(base.timer_j),
            timer_k: get("timer_k", &raw.timer_k)?.unwrap_or(base.timer_k),
            ..base
        };
        timers.validate().map_err(D::Error::custom)?;
        Ok(timers)
    }
}

impl Serialize for SipTimers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("SipTimers", 10)?;
        for (name, d) in self.named() {
            s.serialize_field(name, &format_duration(d))?;
        }
        s.end()
    }
}

impl fmt::Display for SipTimers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "T1={} T2={} T4={} B={} D={} F={} H={} I={} J={} K={}",
            format_duration(self.t1),
            format_duration(self.t2),
            format_duration(self.t4),
            format_duration(self.timer_b),
            format_duration(self.timer_d),
            format_duration(self.timer_f),
            format_duration(self.timer_h),
            format_duration(self.timer_i),
            format_duration(self.timer_j),
            format_duration(self.timer_k),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_rfc3261() {
        let t = SipTimers::default();
        assert_eq!(t.timer_b, Duration::from_secs(32));
        assert_eq!(t.timer_f, Duration::from_secs(32));
        assert_eq!(t.timer_d, Duration::from_secs(32));
        assert_eq!(t.timer_i, Duration::from_secs(5));
        assert_eq!(t.timer_k, Duration::from_secs(5));
    }

    #[test]
    fn toml_sets_each_timer_alone_and_derives_the_rest() {
        let t: SipTimers = toml::from_str("t1 = \"100ms\"\ntimer_b = \"10s\"").expect("valid");
        assert_eq!(t.t1, Duration::from_millis(100));
        assert_eq!(t.timer_b, Duration::from_secs(10));
        assert_eq!(t.timer_f, Duration::from_millis(6400));
        assert_eq!(t.t2, Duration::from_secs(4));
        let back = toml::to_string(&t).expect("serialises");
        let again: SipTimers = toml::from_str(&back).expect("round trip");
        assert_eq!(t, again);
    }

    #[test]
    fn bad_values_are_refused_with_the_field_name() {
        let err = toml::from_str::<SipTimers>("t1 = \"5 parsecs\"").expect_err("bad unit");
        assert!(err.to_string().contains("t1"), "{err}");
        assert!(toml::from_str::<SipTimers>("timer_q = \"1s\"").is_err());
        assert!(toml::from_str::<SipTimers>("t1 = \"0ms\"").is_err());
    }
}
