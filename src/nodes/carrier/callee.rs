//! Callee behaviour profiles: what the person (or machine) behind a dialled
//! number does, drawn per call with the run's seed.
//!
//! ```toml
//! [nodes.carrier]
//! callees = [
//!   { weight = 0.6, answer_after = "1s", hold = "30s" },
//!   { weight = 0.2, answer_after = { uniform = ["4s", "25s"] } },
//!   { weight = 0.1, outcome = "busy" },
//!   { weight = 0.1, outcome = "no_answer" },
//! ]
//! numbers = [{ to = "+15550000000", answer_after = "1s", hold = "5s" }]
//! ```
//!
//! A profile may name the codecs its callee's phone takes,
//! `codecs = ["PCMA", "G729"]` (names of [`crate::sip::sdp::CODECS`]); by
//! default it takes every codec. A callee whose codecs have none in common
//! with the INVITE's offer rejects it at once, 488 Not Acceptable Here
//! (RFC 3261 section 13.3.1.3, RFC 3264 section 6), whatever its outcome
//! would have been: see `uas.rs`.
//!
//! A call to a number listed in `numbers` gets that profile; any other call
//! draws from `callees` by weight. The draw uses a stream named by the call
//! id, so a call's callee is the same whatever else happens in the run (two
//! variants of a scenario face the same callees).

use crate::sim::check;
use crate::sim::rng::{rng_for, SimRng};
use crate::sim::{Dur, FieldError};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the callee does.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// Rings, then answers after `answer_after` and hangs up after `hold`.
    #[default]
    Answer,
    /// Busy: 486 after `answer_after`.
    Busy,
    /// Declines: 603 after `answer_after`.
    Decline,
    /// Rings until cancelled (or until the carrier's `no_answer_limit`).
    NoAnswer,
    /// Temporarily unavailable: 480 after `answer_after`.
    Unavailable,
    /// The number does not route: 404 after `answer_after`, no ringing.
    Unreachable,
}

impl Behaviour {
    /// The final code this behaviour answers with (`code` overrides it).
    pub fn default_code(self) -> u16 {
        match self {
            Behaviour::Answer => 200,
            Behaviour::Busy => 486,
            Behaviour::Decline => 603,
            Behaviour::NoAnswer => 480,
            Behaviour::Unavailable => 480,
            Behaviour::Unreachable => 404,
        }
    }
}

/// A delay: `"1s"` or `{ uniform = ["4s", "25s"] }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Delay {
    Fixed(Dur),
    Uniform {
        /// `[low, high]`: drawn uniformly for every call.
        uniform: [Dur; 2],
    },
}

impl Default for Delay {
    fn default() -> Delay {
        Delay::Fixed(Dur::from_secs(1))
    }
}

impl Delay {
    pub fn draw(&self, rng: &mut SimRng) -> Duration {
        match *self {
            Delay::Fixed(d) => d.0,
            Delay::Uniform { uniform: [lo, hi] } => {
                let (lo, hi) = (lo.as_millis(), hi.as_millis());
                Duration::from_millis(if hi > lo { rng.gen_range(lo..=hi) } else { lo })
            }
        }
    }

    fn validate(&self, prefix: &str, name: &str) -> Result<(), FieldError> {
        if let Delay::Uniform { uniform: [lo, hi] } = self {
            if hi < lo {
                return Err(FieldError::new(
                    check::field(prefix, name),
                    format!("uniform range [{lo}, {hi}] is empty"),
                ));
            }
        }
        Ok(())
    }
}

/// One callee profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Relative weight in the draw (`callees` only). Default 1.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// The number this profile is for (`numbers` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Default `answer`.
    #[serde(default)]
    pub outcome: Behaviour,
    /// Time from the INVITE to the answer or rejection. Default 1s.
    #[serde(default)]
    pub answer_after: Delay,
    /// How long an answered callee stays before hanging up. Default 30s.
    #[serde(default = "default_hold")]
    pub hold: Delay,
    /// Overrides the behaviour's final code (e.g. 503 for `unreachable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The codecs the callee takes (`PCMU`, `PCMA`, `G722`, `G729`,
    /// `opus`, case-insensitive). Default: every codec. An offer with
    /// none of them gets 488.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codecs: Option<Vec<String>>,
    /// Early media: the phone answers the offer in a 183 Session Progress
    /// (a ringback tone or announcement) instead of a 180, before its
    /// final answer. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub early_media: bool,
    /// The callee puts an answered call on hold `after` its answer (a
    /// re-INVITE offering `a=sendonly`, RFC 3264 section 8.4) and takes it
    /// off hold `lasting` later (`a=sendrecv`), e.g.
    /// `on_hold = { after = "5s", lasting = "10s" }`. A re-INVITE that
    /// crosses the platform's own is glare (491, then a retry). Default:
    /// never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_hold: Option<OnHold>,
}

/// When an answered callee holds the call, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnHold {
    /// From the answer to the hold's re-INVITE.
    pub after: Delay,
    /// From the hold's answer to the resume's re-INVITE.
    pub lasting: Delay,
}

fn default_weight() -> f64 {
    1.0
}
fn default_hold() -> Delay {
    Delay::Fixed(Dur::from_secs(30))
}

impl Profile {
    pub fn code(&self) -> u16 {
        self.code.unwrap_or(self.outcome.default_code())
    }

    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return Err(FieldError::new(
                check::field(prefix, "weight"),
                format!("{} is not a weight >= 0", self.weight),
            ));
        }
        self.answer_after.validate(prefix, "answer_after")?;
        self.hold.validate(prefix, "hold")?;
        if let Some(on_hold) = &self.on_hold {
            let at = check::field(prefix, "on_hold");
            on_hold.after.validate(&at, "after")?;
            on_hold.lasting.validate(&at, "lasting")?;
        }
        if let Some(codecs) = &self.codecs {
            if codecs.is_empty() {
                return Err(FieldError::new(
                    check::field(prefix, "codecs"),
                    "an empty list takes no call; leave `codecs` out to take every codec",
                ));
            }
            for (i, name) in codecs.iter().enumerate() {
                if crate::sip::sdp::known_codec(name).is_none() {
                    let known: Vec<&str> = crate::sip::sdp::CODECS.iter().map(|c| c.1).collect();
                    return Err(FieldError::new(
                        format!("{}[{i}]", check::field(prefix, "codecs")),
                        format!("unknown codec `{name}`; known: {}", known.join(", ")),
                    ));
                }
            }
        }
        if let Some(code) = self.code {
            let ok = match self.outcome {
                Behaviour::Answer => (200..300).contains(&code),
                _ => (300..700).contains(&code),
            };
            if !ok {
                return Err(FieldError::new(
                    check::field(prefix, "code"),
                    format!("{code} does not fit outcome {:?}", self.outcome),
                ));
            }
        }
        Ok(())
    }
}

/// What one call's callee will do, drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Callee {
    pub behaviour: Behaviour,
    pub code: u16,
    pub answer_after: Duration,
    pub hold: Duration,
    /// The codecs it takes; `None`: every codec.
    pub codecs: Option<Vec<String>>,
    /// It sends 183 with an SDP answer instead of 180.
    pub early_media: bool,
    /// Hold after this long from the answer, resume this long after the hold.
    pub on_hold: Option<(Duration, Duration)>,
}

impl Callee {
    /// What the callee's phone can take, for [`crate::sip::sdp::answer`]
    /// (plain RTP only: the carrier does no SRTP).
    pub fn capabilities(&self) -> crate::sip::sdp::Capabilities {
        crate::sip::sdp::Capabilities {
            codecs: self.codecs.clone(),
            srtp: false,
            srtp_key: String::new(),
        }
    }
}

/// Draws the callee of `call` (dialling `to`).
pub fn draw(seed: u64, call: &str, to: &str, callees: &[Profile], numbers: &[Profile]) -> Callee {
    let mut rng = rng_for(seed, &["carrier.callee", call]);
    let profile = numbers
        .iter()
        .find(|p| p.to.as_deref() == Some(to))
        .or_else(|| pick(callees, &mut rng));
    match profile {
        Some(p) => Callee {
            behaviour: p.outcome,
            code: p.code(),
            answer_after: p.answer_after.draw(&mut rng),
            hold: p.hold.draw(&mut rng),
            codecs: p.codecs.clone(),
            early_media: p.early_media,
            on_hold: p
                .on_hold
                .map(|h| (h.after.draw(&mut rng), h.lasting.draw(&mut rng))),
        },
        // No profile at all: answer at once and stay the default hold.
        None => Callee {
            behaviour: Behaviour::Answer,
            code: 200,
            answer_after: Duration::ZERO,
            hold: Duration::from_secs(30),
            codecs: None,
            early_media: false,
            on_hold: None,
        },
    }
}

fn pick<'a>(callees: &'a [Profile], rng: &mut SimRng) -> Option<&'a Profile> {
    let total: f64 = callees.iter().map(|p| p.weight).sum();
    if total <= 0.0 {
        return callees.first();
    }
    let mut x = rng.gen::<f64>() * total;
    for p in callees {
        if x < p.weight {
            return Some(p);
        }
        x -= p.weight;
    }
    callees.last()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiles(text: &str) -> Vec<Profile> {
        #[derive(Deserialize)]
        struct T {
            p: Vec<Profile>,
        }
        toml::from_str::<T>(text).expect("profiles").p
    }

    #[test]
    fn the_draw_follows_the_weights_and_is_per_call() {
        let callees = profiles(
            r#"p = [{ weight = 3, answer_after = { uniform = ["4s", "25s"] } },
                    { weight = 1, outcome = "busy" }]"#,
        );
        let mut busy = 0;
        for n in 0..2000 {
            let c = draw(9, &format!("out-{n}"), "+1", &callees, &[]);
            match c.behaviour {
                Behaviour::Busy => {
                    busy += 1;
                    assert_eq!(c.code, 486);
                }
                Behaviour::Answer => {
                    assert!((4000..=25_000).contains(&(c.answer_after.as_millis() as u64)))
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!((420..580).contains(&busy), "{busy}");
        // The same call draws the same callee.
        assert_eq!(
            draw(9, "out-5", "+1", &callees, &[]),
            draw(9, "out-5", "+1", &callees, &[])
        );
    }

    #[test]
    fn listed_numbers_win_and_codes_can_be_overridden() {
        let callees = profiles(r#"p = [{ outcome = "unreachable", code = 503 }]"#);
        let numbers = profiles(r#"p = [{ to = "+1999", answer_after = "1s", hold = "5s" }]"#);
        let probe = draw(1, "probe-1", "+1999", &callees, &numbers);
        assert_eq!(probe.behaviour, Behaviour::Answer);
        assert_eq!(probe.answer_after, Duration::from_secs(1));
        let other = draw(1, "out-1", "+1000", &callees, &numbers);
        assert_eq!((other.behaviour, other.code), (Behaviour::Unreachable, 503));
    }

    #[test]
    fn bad_profiles_name_their_field() {
        let bad = |text: &str, field: &str| {
            let p = &profiles(text)[0];
            assert_eq!(p.validate("c").expect_err(text).field, field);
        };
        bad("p = [{ weight = -1 }]", "c.weight");
        bad(
            r#"p = [{ answer_after = { uniform = ["5s", "1s"] } }]"#,
            "c.answer_after",
        );
        bad(r#"p = [{ outcome = "busy", code = 200 }]"#, "c.code");
        bad(r#"p = [{ codecs = [] }]"#, "c.codecs");
        bad(r#"p = [{ codecs = ["PCMA", "AMR"] }]"#, "c.codecs[1]");
    }

    #[test]
    fn codecs_are_drawn_with_the_profile_and_default_to_all() {
        let callees = profiles(r#"p = [{ codecs = ["pcma", "G729"] }]"#);
        assert_eq!(callees[0].validate("c"), Ok(()));
        let c = draw(1, "out-1", "+1", &callees, &[]);
        assert_eq!(
            c.capabilities().codecs,
            Some(vec!["pcma".into(), "G729".into()])
        );
        let all = draw(1, "out-1", "+1", &profiles("p = [{}]"), &[]);
        assert_eq!(all.capabilities().codecs, None);
        // Naming codecs draws nothing more: the rest of the callee is the
        // same as without them.
        let plain = draw(1, "out-1", "+1", &profiles("p = [{}]"), &[]);
        assert_eq!((c.answer_after, c.hold), (plain.answer_after, plain.hold));
    }
}
