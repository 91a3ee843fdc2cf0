//! `Dur`: a duration written with its unit in scenario files (`"30s"`,
//! `"250ms"`, `"14m"`, `"1h"`, `"1.5s"`).
//!
//! Plain numbers are refused: a bare `30` could be seconds or milliseconds,
//! and a scenario file must never leave that to the reader.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A non-negative duration parsed from a string with a unit.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    pub const ZERO: Dur = Dur(Duration::ZERO);

    pub fn from_millis(ms: u64) -> Dur {
        Dur(Duration::from_millis(ms))
    }

    pub fn from_secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }

    pub fn as_millis(&self) -> u64 {
        self.0.as_millis() as u64
    }

    /// Whether this is a whole number of milliseconds (sim time is counted
    /// in ms: a finer step would drift against it).
    pub fn is_whole_millis(&self) -> bool {
        self.0.subsec_nanos().is_multiple_of(1_000_000)
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// Parses `"<number><unit>"` with unit one of `us`, `ms`, `s`, `m`, `h`.
    pub fn parse(text: &str) -> Result<Dur, String> {
        let text = text.trim();
        if text.starts_with('-') {
            return Err(format!("duration {text:?} is negative; durations are >= 0"));
        }
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| {
                format!("duration {text:?} has no unit; write e.g. \"30s\", \"250ms\", \"14m\"")
            })?;
        let (number, unit) = text.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("duration {text:?} does not start with a number"))?;
        let unit_ns: f64 = match unit.trim() {
            "ns" => 1.0,
            "us" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" | "min" => 60e9,
            "h" => 3600e9,
            other => {
                return Err(format!(
                    "duration {text:?} has unknown unit {other:?}; allowed: ns, us, ms, s, m, h"
                ))
            }
        };
        let nanos = value * unit_ns;
        if !nanos.is_finite() || nanos > 1e18 {
            return Err(format!("duration {text:?} is too large"));
        }
        Ok(Dur(Duration::from_nanos(nanos.round() as u64)))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let sub_ms = self.0.as_nanos() % 1_000_000;
        if !self.0.as_nanos().is_multiple_of(1_000) {
            // Exact, so that what is written reads back the same.
            write!(f, "{}ns", self.0.as_nanos())
        } else if sub_ms != 0 {
            write!(f, "{}us", self.0.as_micros())
        } else if !ms.is_multiple_of(1000) || ms == 0 {
            write!(f, "{ms}ms")
        } else if ms.is_multiple_of(60_000) && ms >= 60_000 {
            write!(f, "{}m", ms / 60_000)
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

impl fmt::Debug for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl From<Duration> for Dur {
    fn from(d: Duration) -> Dur {
        Dur(d)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string with a unit, such as \"30s\" or \"250ms\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dur, E> {
                Dur::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// What [`Dur::parse`] accepts, as a JSON Schema `pattern`: a number
/// (digits, an optional decimal point) and a unit, with optional spaces
/// around and between; no sign. ("Too large" is judged by the loader.)
pub const DUR_PATTERN: &str = r"^\s*([0-9]+\.?[0-9]*|\.[0-9]+)\s*(ns|us|ms|s|m|min|h)\s*$";

/// What [`SignedDur::parse`] accepts: [`DUR_PATTERN`] after an optional
/// `+` or `-`.
pub const SIGNED_DUR_PATTERN: &str =
    r"^\s*[+-]?\s*([0-9]+\.?[0-9]*|\.[0-9]+)\s*(ns|us|ms|s|m|min|h)\s*$";

impl schemars::JsonSchema for Dur {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Dur".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DUR_PATTERN,
            "examples": ["30s", "250ms", "1.5s", "14m"],
        })
    }
}

/// A signed duration written with its unit and an optional sign
/// (`"-2s"`, `"+1500ms"`, `"2s"`): a clock's offset. Whole nanoseconds in
/// an `i64` (about 292 years either way, far beyond any bound validation
/// lets through).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct SignedDur {
    nanos: i64,
}

impl SignedDur {
    pub const ZERO: SignedDur = SignedDur { nanos: 0 };

    pub fn from_millis(ms: i64) -> SignedDur {
        SignedDur {
            nanos: ms.saturating_mul(1_000_000),
        }
    }

    /// Whole milliseconds, rounded toward zero.
    pub fn as_millis(&self) -> i64 {
        self.nanos / 1_000_000
    }

    /// The size without the sign.
    pub fn magnitude(&self) -> Dur {
        Dur(Duration::from_nanos(self.nanos.unsigned_abs()))
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// Parses an optional `+` or `-` followed by what [`Dur::parse`] takes.
    pub fn parse(text: &str) -> Result<SignedDur, String> {
        let text = text.trim();
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        if rest.starts_with(['+', '-']) {
            return Err(format!("duration {text:?} has two signs"));
        }
        let magnitude =
            Dur::parse(rest).map_err(|e| e.replace(&format!("{rest:?}"), &format!("{text:?}")))?;
        let nanos = i64::try_from(magnitude.0.as_nanos())
            .map_err(|_| format!("duration {text:?} is too large"))?;
        Ok(SignedDur {
            nanos: if negative { -nanos } else { nanos },
        })
    }
}

impl fmt::Display for SignedDur {
    /// `+2s`, `-1500ms`, `0ms`: the sign is always written, so an offset
    /// reads as one in a report.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.nanos {
            0 => "",
            n if n < 0 => "-",
            _ => "+",
        };
        write!(f, "{sign}{}", self.magnitude())
    }
}

impl fmt::Debug for SignedDur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl schemars::JsonSchema for SignedDur {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SignedDur".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": SIGNED_DUR_PATTERN,
            "examples": ["-2s", "+1500ms", "0ms"],
        })
    }
}

impl Serialize for SignedDur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for SignedDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SignedDur, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SignedDur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a signed duration string with a unit, such as \"-2s\" or \"+1500ms\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SignedDur, E> {
                SignedDur::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected_ms: Option<u64>) {
        assert_eq!(
            Dur::parse(text).ok().map(|d| d.as_millis()),
            expected_ms,
            "{text}"
        );
    }

    #[test]
    fn parses_units() {
        check("30s", Some(30_000));
        check("250ms", Some(250));
        check("14m", Some(840_000));
        check("1h", Some(3_600_000));
        check("1.5s", Some(1500));
        check("0s", Some(0));
    }

    #[test]
    fn refuses_bad_input() {
        check("30", None);
        check("-1s", None);
        check("3 parsecs", None);
        check("s", None);
        check("", None);
    }

    #[test]
    fn signed_durations_take_a_sign() {
        let ms = |t: &str| SignedDur::parse(t).ok().map(|d| d.as_millis());
        assert_eq!(ms("-2s"), Some(-2000));
        assert_eq!(ms("+1500ms"), Some(1500));
        assert_eq!(ms("2s"), Some(2000));
        assert_eq!(ms("0s"), Some(0));
        assert_eq!(ms("--2s"), None);
        assert_eq!(ms("-2"), None);
        for text in ["-2s", "+1500ms", "0ms", "-250ms"] {
            let d = SignedDur::parse(text).expect("valid");
            assert_eq!(d.to_string(), text);
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["30s", "250ms", "14m", "0ms", "1500ms"] {
            let d = Dur::parse(text).expect("valid");
            assert_eq!(Dur::parse(&d.to_string()).expect("display parses"), d);
        }
    }
}
