//! Worker registration: the protocol between call workers
//! ([`crate::nodes::call_worker`]) and a dispatcher
//! ([`crate::nodes::dispatcher`]), and the worker's keepalive and
//! reconnect policies.
//!
//! A worker holds one persistent TCP connection to its dispatcher
//! ([`ports::REGISTRATION`](crate::nodes::ports::REGISTRATION)), length-framed
//! JSON ([`crate::net::frame`]), one [`ToDispatcher`] or [`ToWorker`] per
//! frame:
//!
//! | worker -> dispatcher | dispatcher -> worker |
//! |---|---|
//! | `register {worker, keepalive_ms}` | `registered` |
//! | `keepalive {seq}` | `keepalive_ack {seq}` |
//! | `decision {id, decision}` | `dispatch {id, dispatch}` |
//!
//! A registration lasts as long as the dispatcher keeps it: a worker that
//! promised keepalives (`keepalive_ms`) and is not heard from for the
//! dispatcher's `expiry` is expired; any worker is dropped when its
//! connection closes or when a dispatch to it gets no decision in time.
//! turmoil's TCP does not retransmit: a segment a partition drops leaves
//! the connection silently broken in that direction (later segments wait
//! for it forever), and a FIN or RST sent across a cut never arrives. A
//! worker without keepalives therefore never notices a broken connection
//! (it only reads); with keepalives it notices an unanswered keepalive and
//! registers again, with backoff.

use crate::nodes::methods::{Decision, Dispatch};
use crate::sim::{check, Dur, FieldError};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// A frame from a worker to its dispatcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "frame", rename_all = "snake_case")]
pub enum ToDispatcher {
    /// The first frame of a connection: the worker's host name and the
    /// keepalive interval it promises (`None`: no keepalives).
    Register {
        worker: String,
        keepalive_ms: Option<u64>,
    },
    Keepalive {
        seq: u64,
    },
    /// The worker's answer to dispatch `id`.
    Decision {
        id: u64,
        decision: Decision,
    },
}

/// A frame from a dispatcher to a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "frame", rename_all = "snake_case")]
pub enum ToWorker {
    Registered,
    KeepaliveAck { seq: u64 },
    Dispatch { id: u64, dispatch: Dispatch },
}

/// `keepalive = { interval = "5s", timeout = "2s" }`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Keepalive {
    /// Time between keepalives. Default 5s.
    #[serde(default = "default_interval")]
    pub interval: Dur,
    /// How long a keepalive may wait for its ack before the worker holds
    /// the connection lost. Default 2s.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
}

fn default_interval() -> Dur {
    Dur::from_secs(5)
}
fn default_timeout() -> Dur {
    Dur::from_secs(2)
}

impl Default for Keepalive {
    fn default() -> Keepalive {
        Keepalive {
            interval: default_interval(),
            timeout: default_timeout(),
        }
    }
}

impl Keepalive {
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        check::positive(prefix, "interval", self.interval)?;
        check::positive(prefix, "timeout", self.timeout)?;
        if self.timeout > self.interval {
            return Err(FieldError::new(
                check::field(prefix, "timeout"),
                format!(
                    "{} is longer than interval = {} (one keepalive at a time)",
                    self.timeout, self.interval
                ),
            ));
        }
        Ok(())
    }
}

/// `reconnect = { backoff = "1s", factor = 2.0, max = "30s" }`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reconnect {
    /// Wait before the first attempt after a loss. Default 1s.
    #[serde(default = "default_backoff")]
    pub backoff: Dur,
    /// Each further failed attempt in a row multiplies the wait (>= 1).
    /// Default 2.
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// The longest wait. Default 30s.
    #[serde(default = "default_max")]
    pub max: Dur,
}

fn default_backoff() -> Dur {
    Dur::from_secs(1)
}
fn default_factor() -> f64 {
    2.0
}
fn default_max() -> Dur {
    Dur::from_secs(30)
}

impl Default for Reconnect {
    fn default() -> Reconnect {
        Reconnect {
            backoff: default_backoff(),
            factor: default_factor(),
            max: default_max(),
        }
    }
}

/// Most failed attempts in a row the backoff is multiplied for (the wait
/// is at `max` long before).
const BACKOFF_STEPS_MAX: u32 = 64;

impl Reconnect {
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        check::positive(prefix, "backoff", self.backoff)?;
        if !(self.factor >= 1.0 && self.factor.is_finite()) {
            return Err(FieldError::new(
                check::field(prefix, "factor"),
                format!("{} is not a number >= 1", self.factor),
            ));
        }
        if self.max < self.backoff {
            return Err(FieldError::new(
                check::field(prefix, "max"),
                format!("{} is below backoff = {}", self.max, self.backoff),
            ));
        }
        Ok(())
    }

    /// The wait in ms before the next attempt, after `failures` attempts
    /// in a row that did not register (0 right after a loss):
    /// `backoff * factor^failures`, at most `max`.
    pub fn delay_ms(&self, failures: u32) -> u64 {
        let scaled = self.backoff.as_millis() as f64
            * self.factor.powi(failures.min(BACKOFF_STEPS_MAX) as i32);
        (scaled.round() as u64).min(self.max.as_millis())
    }
}

/// A policy that can be switched off: `name = false`, `name = true` (the
/// defaults) or `name = { .. }`. `None` is off.
pub fn off_or<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    struct Switch<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for Switch<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("false, true (the defaults) or a table")
        }
        fn visit_bool<E: de::Error>(self, on: bool) -> Result<Option<T>, E> {
            Ok(on.then(T::default))
        }
        fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Option<T>, M::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    deserializer.deserialize_any(Switch(std::marker::PhantomData))
}

/// The JSON Schema of what [`off_or`] reads: a boolean or `T`'s table.
pub fn off_or_schema<T: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    let table = generator.subschema_for::<T>().to_value();
    schemars::json_schema!({ "anyOf": [ { "type": "boolean" }, table ] })
}

/// Writes what [`off_or`] reads: `false`, or the table.
pub fn write_off_or<S, T>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: Serialize,
{
    match value {
        None => serializer.serialize_bool(false),
        Some(t) => t.serialize(serializer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_its_factor_up_to_max() {
        let r = Reconnect {
            backoff: Dur::from_secs(1),
            factor: 2.0,
            max: Dur::from_secs(30),
        };
        let waits: Vec<u64> = (0..7).map(|n| r.delay_ms(n)).collect();
        assert_eq!(waits, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(r.delay_ms(u32::MAX), 30000);
        let flat = Reconnect {
            factor: 1.0,
            ..Reconnect::default()
        };
        assert_eq!(flat.delay_ms(9), 1000);
    }

    #[test]
    fn frames_on_the_wire() {
        let check = |frame: ToDispatcher, json: &str| {
            assert_eq!(serde_json::to_string(&frame).expect("serialises"), json);
        };
        check(
            ToDispatcher::Register {
                worker: "call-worker-1".into(),
                keepalive_ms: Some(5000),
            },
            r#"{"frame":"register","worker":"call-worker-1","keepalive_ms":5000}"#,
        );
        check(
            ToDispatcher::Decision {
                id: 3,
                decision: Decision::Reject { code: 603 },
            },
            r#"{"frame":"decision","id":3,"decision":{"decision":"reject","code":603}}"#,
        );
        assert_eq!(
            serde_json::to_string(&ToWorker::KeepaliveAck { seq: 2 }).expect("serialises"),
            r#"{"frame":"keepalive_ack","seq":2}"#
        );
    }
}
