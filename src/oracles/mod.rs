//! Oracles: properties checked over a run's history. They only observe.
//!
//! Each oracle is fed the finished history and returns its violations.
//! Safety oracles must hold at every moment; liveness oracles are judged
//! after the faults heal. `[oracles]` in a scenario switches oracles on
//! (`name = { params }` or `name = true`) or, for the defaults of
//! CONTRACTS.md (`every_call_terminates`, `honest_status`,
//! `sip_conformance`) and `dialogs_agree` (a wave-2 addition), off
//! (`name = false`). A scenario with no oracle in
//! force is refused.
//!
//! # The catalogue
//! | oracle | kind | module |
//! |---|---|---|
//! | `ringing_timeout_respected` | safety | [`ringing`] |
//! | `honest_status` (default on) | safety | [`status`] (the mapping table) |
//! | `every_call_terminates` (default on) | safety | [`terminates`] |
//! | `sip_conformance` (default on) | safety | [`sip`] |
//! | `ack_received` | safety | [`dialog`] |
//! | `dialogs_agree` (default on) | safety | [`dialog`] |
//! | `inbound_availability` | safety | [`availability`] |
//! | `media_flows` | safety | [`media`] |
//! | `play_success` | safety | [`media`] |
//! | `ejection_within` | safety | [`ejection`] |
//! | `deploy_safety` | safety | [`deploy`] |
//! | `time_to_outcome` | safety | [`outcome_time`] |
//! | `retry_amplification` | safety | [`retries`] |
//! | `restarts_bounded` (default on) | safety | [`restarts`] |
//! | `children_end_with_parent` (default on) | safety | [`children`] |
//! | `established_calls_survive` | safety | [`survive`] |
//! | `recovery` | liveness | [`availability`] |
//! | `dispatch_after_heal` | liveness | [`dispatch`] |
//! | `datagrams_answered` (harness self-test) | liveness | [`harness`] |
//!
//! Parameters are typed structs (serde, `deny_unknown_fields`, documented
//! defaults); [`validate_config`] reports a bad name or parameter with its
//! field path `oracles.<name>.<param>`.
//!
//! # Layout
//! - `calls`: the per-call view (start, API response, end, callee outcome)
//!   and the shared "did this call succeed" rule.
//! - one module per oracle or small group, as in the table.
//! - `excuse`: what an injected fault excuses, one rule for every oracle:
//!   calls a state-losing fault (crash, restart, operator action) hit are
//!   left out of the history the oracles judge (see [`excuse`]).
//! - `monitors`: operator alarms (not oracles), which fill `alerts`.
//! - `offer_answer`: SDP offer/answer at both ends of a dialog, written
//!   against a proposed `sdp` field of `sip.send`/`sip.recv` and not
//!   registered until the user agent emits it (see [`offer_answer`]).
//! - `testkit`: hand-written histories for tests.

pub mod availability;
pub mod calls;
pub mod children;
pub mod deploy;
pub mod dialog;
pub mod dispatch;
pub mod ejection;
pub mod excuse;
pub mod harness;
pub mod media;
pub mod monitors;
pub mod offer_answer;
pub mod outcome_time;
pub mod restarts;
pub mod retries;
pub mod ringing;
pub mod sip;
pub mod status;
pub mod survive;
pub mod terminates;
pub mod testkit;
pub mod timeouts;

pub use harness::datagrams_answered;

use crate::history::{ladder::ladder, History};
use crate::sim::FieldError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Safety (must hold at every moment) or liveness (must hold after heal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OracleKind {
    Safety,
    Liveness,
}

/// One broken property.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub oracle: String,
    pub kind: OracleKind,
    pub at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    pub message: String,
    /// The ladder diagram of the offending call (empty for non-call
    /// properties).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ladder: String,
}

impl Violation {
    pub(crate) fn new(
        oracle: &str,
        kind: OracleKind,
        at_ms: u64,
        call: Option<&str>,
        message: String,
    ) -> Violation {
        Violation {
            oracle: oracle.to_string(),
            kind,
            at_ms,
            call: call.map(str::to_string),
            message,
            ladder: String::new(),
        }
    }

    /// One line for people: the oracle, when, the call if any, and what it
    /// says (`ringing at 31000 ms (out-3): ...`).
    pub fn line(&self) -> String {
        let call = self
            .call
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        format!(
            "{} at {} ms{call}: {}",
            self.oracle, self.at_ms, self.message
        )
    }
}

/// What an oracle is judged against besides the history.
#[derive(Debug, Clone)]
pub struct Context {
    /// The run's duration.
    pub end_ms: u64,
    /// `[fault_settings] heal`, when set.
    pub heal_ms: Option<u64>,
    /// How long after a state loss a call reaching that host is still
    /// excused (`[fault_settings] excuse_window`; see [`excuse`]).
    pub excuse_window_ms: u64,
    /// The effective request timeouts over the run, for
    /// `timeouts_ordered` (empty unless it is on; see [`timeouts`]).
    pub timeouts: std::sync::Arc<Vec<timeouts::Epoch>>,
}

impl Context {
    /// A context with the default excuse window.
    pub fn new(end_ms: u64, heal_ms: Option<u64>) -> Context {
        Context {
            end_ms,
            heal_ms,
            excuse_window_ms: excuse::WINDOW_MS_DEFAULT,
            timeouts: Default::default(),
        }
    }
}

type Check = fn(&toml::Value, &History, &Context) -> Vec<Violation>;
type Validate = fn(&toml::Value, &str) -> Result<(), FieldError>;
type ParamsSchema = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

/// The schema of one oracle's parameters, inlined (every oracle has its
/// own `Params` type, so a shared definition name would mean nothing).
fn params_schema<T: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    T::json_schema(generator)
}

/// Oracles that are on unless switched off by name (`name = false`).
/// `dialogs_agree`, `ack_received` and `offer_answer` joined them in wave 2
/// (README, "Contract additions"), and so did `ringing_timeout_respected`:
/// it judges only synchronous outbound calls, so it is silent where there
/// are none, and a user need not know it exists to be told their sync
/// calls end early. `restarts_bounded` judges only pods that shut
/// themselves down (`node.exit`), so it too is silent where none do, and
/// `children_end_with_parent` only child legs (`call.start` with `parent`).
pub const DEFAULT_ORACLES: [&str; 9] = [
    "every_call_terminates",
    "honest_status",
    "sip_conformance",
    "dialogs_agree",
    "ack_received",
    "offer_answer",
    "ringing_timeout_respected",
    "restarts_bounded",
    "children_end_with_parent",
];

/// One entry of the registry.
pub struct OracleDef {
    pub name: &'static str,
    pub kind: OracleKind,
    /// Judges whether calls worked (media, availability), which a cut link
    /// decides for the calls already up across it: those are excused too.
    /// Oracles of protocol hygiene (every call ends, SIP conformance,
    /// honest statuses, ringing timeouts) still judge them (see
    /// [`excuse`]).
    pub excuse_stranded: bool,
    /// The JSON Schema of its parameters table (what `callsim schema`
    /// and `callsim kinds` show).
    pub params: ParamsSchema,
    validate: Validate,
    check: Check,
}

/// Parses an oracle's parameters (`true` means all defaults).
pub fn params<T: DeserializeOwned>(value: &toml::Value, field: &str) -> Result<T, FieldError> {
    let value = match value {
        toml::Value::Boolean(true) => toml::Value::Table(Default::default()),
        other => other.clone(),
    };
    value.try_into::<T>().map_err(|e| {
        let message = e.message().trim().to_string();
        let named = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|p| message.strip_prefix(p))
            .and_then(|rest| rest.split('`').next());
        let field = match named {
            Some(name) => format!("{field}.{name}"),
            None => field.to_string(),
        };
        FieldError::new(field, message)
    })
}

fn parsed<T: DeserializeOwned>(value: &toml::Value) -> T {
    params(value, "").expect("oracle parameters are validated when the scenario loads")
}

/// The registry: every oracle this build knows, in report order.
pub const REGISTRY: [OracleDef; 21] = [
    OracleDef {
        name: ringing::NAME,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<ringing::Params>,
        validate: |v, f| params::<ringing::Params>(v, f).map(|_| ()),
        check: |v, h, _| ringing::check(h, &parsed(v)),
    },
    OracleDef {
        name: status::NAME,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<status::Params>,
        validate: |v, f| params::<status::Params>(v, f).map(|_| ()),
        check: |v, h, _| status::check(h, &parsed(v)),
    },
    OracleDef {
        name: terminates::NAME,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<terminates::Params>,
        validate: |v, f| {
            let p = params::<terminates::Params>(v, f)?;
            availability::check_positive(p.bound, &format!("{f}.bound"))
        },
        check: |v, h, c| terminates::check(h, &parsed(v), c.end_ms),
    },
    OracleDef {
        name: sip::NAME,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<sip::Params>,
        validate: |v, f| params::<sip::Params>(v, f).map(|_| ()),
        check: |v, h, c| sip::check(h, &parsed(v), c.end_ms),
    },
    OracleDef {
        name: dialog::ACK_RECEIVED,
        kind: OracleKind::Safety,
        excuse_stranded: true,
        params: params_schema::<dialog::AckParams>,
        validate: |v, f| params::<dialog::AckParams>(v, f)?.validate(f),
        check: |v, h, c| dialog::check_ack_received(h, &parsed(v), c.end_ms),
    },
    OracleDef {
        name: dialog::DIALOGS_AGREE,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<dialog::AgreeParams>,
        validate: |v, f| params::<dialog::AgreeParams>(v, f)?.validate(f),
        check: |v, h, c| dialog::check_dialogs_agree(h, &parsed(v), c.end_ms),
    },
    OracleDef {
        name: offer_answer::NAME,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<offer_answer::Params>,
        validate: |v, f| params::<offer_answer::Params>(v, f)?.validate(f),
        check: |_, h, _| offer_answer::check(h),
    },
    OracleDef {
        name: availability::INBOUND,
        kind: OracleKind::Safety,
        excuse_stranded: true,
        params: params_schema::<availability::InboundParams>,
        validate: |v, f| params::<availability::InboundParams>(v, f)?.validate(f),
        check: |v, h, c| availability::check_inbound(h, &parsed(v), c.end_ms),
    },
    OracleDef {
        name: media::MEDIA,
        kind: OracleKind::Safety,
        excuse_stranded: true,
        params: params_schema::<media::MediaParams>,
        validate: |v, f| params::<media::MediaParams>(v, f)?.validate(f),
        check: |v, h, c| media::check_media(h, &parsed(v), c.end_ms),
    },
    OracleDef {
        name: media::PLAY,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<media::PlayParams>,
        validate: |v, f| params::<media::PlayParams>(v, f)?.validate(f),
        check: |v, h, c| media::check_play(h, &parsed(v), c.end_ms),
    },
    OracleDef {
        name: ejection::NAME,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<ejection::Params>,
        validate: |v, f| params::<ejection::Params>(v, f)?.validate(f),
        check: |v, h, _| ejection::check(h, &parsed(v)),
    },
    OracleDef {
        name: timeouts::NAME,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<timeouts::Params>,
        validate: |v, f| params::<timeouts::Params>(v, f)?.validate(f),
        check: |v, _, c| timeouts::check(&parsed(v), c),
    },
    OracleDef {
        name: deploy::NAME,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<deploy::Params>,
        validate: |v, f| params::<deploy::Params>(v, f).map(|_| ()),
        check: |v, h, _| deploy::check(h, &parsed(v)),
    },
    OracleDef {
        name: outcome_time::NAME,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<outcome_time::Params>,
        validate: |v, f| params::<outcome_time::Params>(v, f)?.validate(f),
        check: |v, h, c| outcome_time::check(h, &parsed(v), c.end_ms),
    },
    OracleDef {
        name: retries::NAME,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<retries::Params>,
        validate: |v, f| params::<retries::Params>(v, f)?.validate(f),
        check: |v, h, _| retries::check(h, &parsed(v)),
    },
    OracleDef {
        name: restarts::NAME,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<restarts::Params>,
        validate: |v, f| params::<restarts::Params>(v, f)?.validate(f),
        check: |v, h, _| restarts::check(h, &parsed(v)),
    },
    OracleDef {
        name: children::NAME,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<children::Params>,
        validate: |v, f| params::<children::Params>(v, f)?.validate(f),
        check: |v, h, c| children::check(h, &parsed(v), c.end_ms),
    },
    OracleDef {
        name: survive::NAME,
        kind: OracleKind::Safety,
        excuse_stranded: false,
        params: params_schema::<survive::Params>,
        validate: |v, f| params::<survive::Params>(v, f)?.validate(f),
        check: |v, h, c| survive::check(h, &parsed(v), c.end_ms),
    },
    OracleDef {
        name: availability::RECOVERY,
        kind: OracleKind::Liveness,
        excuse_stranded: true,
        params: params_schema::<availability::RecoveryParams>,
        validate: |v, f| params::<availability::RecoveryParams>(v, f)?.validate(f),
        check: |v, h, c| {
            let heal = availability::heal_ms(h, c.heal_ms);
            availability::check_recovery(h, &parsed(v), heal, c.end_ms)
        },
    },
    OracleDef {
        name: dispatch::NAME,
        kind: OracleKind::Liveness,
        excuse_stranded: false,
        params: params_schema::<dispatch::Params>,
        validate: |v, f| params::<dispatch::Params>(v, f)?.validate(f),
        check: |v, h, c| dispatch::check(h, &parsed(v), c.heal_ms, c.end_ms),
    },
    OracleDef {
        name: harness::NAME,
        kind: OracleKind::Liveness,
        excuse_stranded: false,
        params: params_schema::<harness::Params>,
        validate: |v, f| params::<harness::Params>(v, f)?.validate(f),
        check: |v, h, _| {
            let p: harness::Params = parsed(v);
            datagrams_answered(h, p.ratio_min)
        },
    },
];

/// The names this build knows, in registry order.
pub fn known() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|d| d.name)
}

/// The registry entry of `name`.
pub fn def(name: &str) -> Option<&'static OracleDef> {
    REGISTRY.iter().find(|d| d.name == name)
}

/// The oracles in force: the defaults unless switched off, plus those named.
pub fn active(configured: &BTreeMap<String, toml::Value>) -> BTreeMap<String, toml::Value> {
    let mut out = BTreeMap::new();
    for name in DEFAULT_ORACLES {
        out.insert(name.to_string(), toml::Value::Table(Default::default()));
    }
    for (name, value) in configured {
        match value {
            toml::Value::Boolean(false) => {
                out.remove(name);
            }
            toml::Value::Boolean(true) => {
                out.insert(name.clone(), toml::Value::Table(Default::default()));
            }
            other => {
                out.insert(name.clone(), other.clone());
            }
        }
    }
    out
}

/// Checks `[oracles]`: known names, valid parameters, at least one oracle.
pub fn validate_config(configured: &BTreeMap<String, toml::Value>) -> Result<(), FieldError> {
    for (name, value) in configured {
        let field = format!("oracles.{name}");
        let Some(def) = def(name) else {
            return Err(FieldError::new(
                field,
                format!(
                    "unknown oracle; known: {}",
                    known().collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        match value {
            toml::Value::Boolean(false) => {}
            // `true` means "on with the defaults", so the defaults must do:
            // an oracle with a required parameter refuses it here rather
            // than panicking when the run is judged.
            toml::Value::Boolean(true) => (def.validate)(value, &field)
                .map_err(|e| FieldError::new(e.field, format!("{}; `true` switches it on with the defaults, and this oracle has none for that", e.message)))?,
            toml::Value::Table(_) => (def.validate)(value, &field)?,
            _ => {
                return Err(FieldError::new(
                    field,
                    "write `{ param = value, .. }` to switch it on, `true` for the defaults, or `false` to switch it off",
                ))
            }
        }
    }
    if active(configured).is_empty() {
        return Err(FieldError::new(
            "oracles",
            "every oracle is switched off; a scenario must check at least one property",
        ));
    }
    Ok(())
}

/// Runs every active oracle over the history, attaches each offending
/// call's ladder, and orders the violations by time.
pub fn evaluate(
    configured: &BTreeMap<String, toml::Value>,
    context: &Context,
    history: &History,
) -> Vec<Violation> {
    judge_run(configured, context, history).violations
}

/// [`evaluate`] with the oracles and context given explicitly.
pub fn evaluate_with(
    oracles: &BTreeMap<String, toml::Value>,
    history: &History,
    context: &Context,
) -> Vec<Violation> {
    judge(oracles, history, context, true).violations
}

/// [`evaluate_with`] with no call excused: what the oracles would say if
/// injected crashes and restarts excused nothing (to show what the excuse
/// rule removes).
pub fn evaluate_unexcused(
    oracles: &BTreeMap<String, toml::Value>,
    history: &History,
    context: &Context,
) -> Vec<Violation> {
    judge(oracles, history, context, false).violations
}

/// What the oracles say of one run, and which calls the excuse rule left
/// out of their judgement (by any reason; see [`excuse`]).
#[derive(Debug)]
pub struct Judgement {
    pub violations: Vec<Violation>,
    pub excused_calls: Vec<String>,
}

/// Judges a run: [`evaluate`], also naming the excused calls.
pub fn judge_run(
    configured: &BTreeMap<String, toml::Value>,
    context: &Context,
    history: &History,
) -> Judgement {
    judge(&active(configured), history, context, true)
}

fn judge(
    oracles: &BTreeMap<String, toml::Value>,
    history: &History,
    context: &Context,
    excusing: bool,
) -> Judgement {
    let history = &*time_ordered(history);
    // One excuse rule for every oracle: the calls an injected state loss
    // hit are not judged, and the calls a cut stranded are not judged by
    // the oracles of whether calls worked (their ladders below still come
    // from the whole history).
    let excused = if excusing {
        excuse::Excuses::from_history(history, context.end_ms)
            .excused(history, context.excuse_window_ms)
    } else {
        excuse::Excused::default()
    };
    let without = |calls: BTreeSet<&str>| {
        if calls.is_empty() {
            std::borrow::Cow::Borrowed(history)
        } else {
            std::borrow::Cow::Owned(excuse::without_calls(history, &calls))
        }
    };
    let signalling = without(excused.state_loss.clone());
    let worked = without(excused.all());
    let mut violations = Vec::new();
    for def in &REGISTRY {
        if let Some(value) = oracles.get(def.name) {
            let judged = if def.excuse_stranded {
                &worked
            } else {
                &signalling
            };
            violations.extend((def.check)(value, judged, context));
        }
    }
    for v in &mut violations {
        if let Some(call) = &v.call {
            v.ladder = ladder(history, call);
        }
    }
    violations.sort_by(|a, b| (a.at_ms, &a.oracle).cmp(&(b.at_ms, &b.oracle)));
    Judgement {
        violations,
        excused_calls: excused.all().into_iter().map(str::to_string).collect(),
    }
}

/// The history in time order. A recorded history already is (see
/// `Recorder::take`), so this borrows it; a history built by hand or read
/// back from elsewhere is sorted (stably) into a copy.
pub fn time_ordered(history: &History) -> std::borrow::Cow<'_, History> {
    if history.records.windows(2).all(|w| w[0].t_ms <= w[1].t_ms) {
        return std::borrow::Cow::Borrowed(history);
    }
    let mut sorted = history.clone();
    sorted.records.sort_by_key(|r| r.t_ms);
    std::borrow::Cow::Owned(sorted)
}

/// The JSON Schema of `[oracles]`, built from [`REGISTRY`]: one property
/// per oracle, each `true` (on with the defaults), `false` (off) or its
/// parameters table, and no other name ([`validate_config`] refuses
/// unknown oracles).
pub fn config_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut properties = serde_json::Map::new();
    for def in &REGISTRY {
        let kind = match def.kind {
            OracleKind::Safety => "safety",
            OracleKind::Liveness => "liveness",
        };
        let default = if DEFAULT_ORACLES.contains(&def.name) {
            "on by default"
        } else {
            "opt-in"
        };
        let params = (def.params)(generator).to_value();
        let description = format!(
            "`{}` ({kind}, {default}): `true` switches it on with its defaults, `false` off, a table sets its parameters.",
            def.name
        );
        properties.insert(
            def.name.to_string(),
            serde_json::json!({
                "description": description,
                "anyOf": [ { "type": "boolean" }, params ],
            }),
        );
    }
    schemars::json_schema!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn scenario(oracles: &str) -> Result<Scenario, crate::scenario::ScenarioError> {
        let text = format!(
            "[run]\nduration = \"5s\"\n[nodes.pinger]\n[nodes.echo]\n[oracles]\n{oracles}\n"
        );
        Scenario::from_toml(&text, "t.toml".as_ref())
    }

    fn field_of(oracles: &str) -> String {
        scenario(oracles).expect_err("must be refused").field
    }

    #[test]
    fn true_is_judged_as_the_defaults_and_never_panics() {
        // `datagrams_answered` needs `ratio_min`: `true` used to pass
        // validation and panic when the run was judged.
        for name in known() {
            match scenario(&format!("{name} = true")) {
                Ok(s) => {
                    let history = crate::history::History::default();
                    let _ = evaluate(&s.oracles, &s.oracle_context(), &history);
                }
                Err(e) => assert!(e.field.starts_with(&format!("oracles.{name}")), "{e}"),
            }
        }
        let e = scenario("datagrams_answered = true")
            .map(|_| ())
            .unwrap_err();
        assert!(e.message.contains("`true` switches it on"), "{e}");
    }

    #[test]
    fn every_registered_oracle_accepts_its_defaults() {
        for name in known() {
            let line = if name == harness::NAME {
                format!("{name} = {{ ratio_min = 0.5 }}")
            } else {
                format!("{name} = {{}}")
            };
            assert!(
                scenario(&line).is_ok(),
                "{name}: {:?}",
                scenario(&line).err()
            );
        }
    }

    #[test]
    fn defaults_are_on_unless_switched_off() {
        let s = scenario("ringing_timeout_respected = {}").expect("valid");
        let names: Vec<String> = active(&s.oracles).into_keys().collect();
        assert_eq!(
            names,
            [
                "ack_received",
                "children_end_with_parent",
                "dialogs_agree",
                "every_call_terminates",
                "honest_status",
                "offer_answer",
                "restarts_bounded",
                "ringing_timeout_respected",
                "sip_conformance",
            ]
        );
        let s = scenario("honest_status = false").expect("valid");
        assert!(!active(&s.oracles).contains_key("honest_status"));
        assert!(active(&s.oracles).contains_key("sip_conformance"));
    }

    /// The README's oracle table is the registry's: every oracle once, with
    /// its kind and whether it is on by default.
    #[test]
    fn the_readme_lists_the_registry() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("| oracle | kind | on by default |")
            .nth(1)
            .expect("README has the oracle table");
        let rows: Vec<(String, String, bool)> = table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (
                    cells[1].trim_matches('`').to_string(),
                    cells[2].to_string(),
                    cells[3].starts_with("yes"),
                )
            })
            .collect();
        let mut expected: Vec<(String, String, bool)> = REGISTRY
            .iter()
            .map(|d| {
                let kind = match d.kind {
                    OracleKind::Safety => "safety",
                    OracleKind::Liveness => "liveness",
                };
                (
                    d.name.to_string(),
                    kind.to_string(),
                    DEFAULT_ORACLES.contains(&d.name),
                )
            })
            .collect();
        let mut listed = rows.clone();
        listed.sort();
        expected.sort();
        assert_eq!(listed, expected);
    }

    #[test]
    fn no_oracle_at_all_is_refused() {
        let e = scenario(
            "every_call_terminates = false\nhonest_status = false\nsip_conformance = false\ndialogs_agree = false\nack_received = false\noffer_answer = false\nringing_timeout_respected = false\nrestarts_bounded = false\nchildren_end_with_parent = false",
        )
        .expect_err("refused");
        assert_eq!(e.field, "oracles");
        assert!(e.message.contains("at least one"));
    }

    #[test]
    fn violations_carry_the_ladder_of_their_call_in_time_order() {
        use crate::history::event::{Direction, Mode, SipFields};
        use crate::history::Event;
        let mut s = testkit::Script::new();
        s.at(
            0,
            "gateway",
            Event::CallStart {
                call: "out-7",
                direction: Direction::Outbound,
                mode: Mode::Sync,
                ringing_timeout_ms: 30_000,
            },
        );
        s.at(
            5,
            "sip-1",
            Event::SipSend(SipFields {
                call: "out-7",
                sip_call_id: "c7",
                start_line: "INVITE",
                cseq: "1 INVITE",
                peer: "carrier",
                retransmission: false,
                from_tag: None,
                to_tag: None,
                sdp: None,
            }),
        );
        s.at(
            3000,
            "gateway",
            Event::ApiResponse {
                call: "out-7",
                method: "CreateSIPParticipant",
                status: 408,
            },
        );
        s.at(
            3000,
            "gateway",
            Event::CallEnd {
                call: "out-7",
                status: 408,
                reason: "rpc timeout",
                outcome: crate::history::EndOutcome::of_status(408),
            },
        );
        let mut oracles = BTreeMap::new();
        oracles.insert(
            ringing::NAME.to_string(),
            toml::Value::Table(Default::default()),
        );
        oracles.insert(
            deploy::NAME.to_string(),
            toml::Value::Table(Default::default()),
        );
        let v = evaluate_with(&oracles, &s.history(), &Context::new(60_000, None));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].oracle, ringing::NAME);
        assert_eq!(v[0].kind, OracleKind::Safety);
        assert_eq!((v[0].at_ms, v[0].call.as_deref()), (3000, Some("out-7")));
        assert!(v[0].ladder.starts_with("call out-7\n"), "{}", v[0].ladder);
        assert!(v[0].ladder.contains("INVITE"), "{}", v[0].ladder);
        assert!(v[0].ladder.contains("status=408"), "{}", v[0].ladder);
    }

    #[test]
    fn bad_names_and_params_name_their_field() {
        assert_eq!(field_of("ringing_timeout = {}"), "oracles.ringing_timeout");
        assert_eq!(
            field_of("ringing_timeout_respected = { slak = \"1s\" }"),
            "oracles.ringing_timeout_respected.slak"
        );
        assert_eq!(
            field_of("inbound_availability = { ratio_min = 1.5 }"),
            "oracles.inbound_availability.ratio_min"
        );
        assert_eq!(
            field_of("media_flows = { endpoints = [\"carrier\"] }"),
            "oracles.media_flows.endpoints"
        );
        assert_eq!(
            field_of("datagrams_answered = {}"),
            "oracles.datagrams_answered.ratio_min"
        );
        assert_eq!(
            field_of("every_call_terminates = { bound = \"0s\" }"),
            "oracles.every_call_terminates.bound"
        );
        assert_eq!(field_of("recovery = 3"), "oracles.recovery");
        let e = scenario("play_success = { ratio_min = \"high\" }").expect_err("refused");
        assert!(e.field.starts_with("oracles.play_success"), "{}", e.field);
        assert!(e.line > 0, "{e}");
    }
}
