//! postmortem: Twilio, "Dropped phone calls", RFO #13002, 2025-03-31
//! (shared/seeds/004_cd37f979f06fae87.txt).
//!
//! - Symptom: for about 95 minutes, about 25% of `<Play>` and `<Say>` verbs
//!   failed with 11200, and about 13.3% of the calls whose flows use them
//!   dropped.
//! - Root cause: requests from the media caching proxy (which fetches the
//!   files to play) overflowed a telemetry buffer; every overflow made an
//!   error event, and the process collecting error events saturated the
//!   caching fleet's CPU, so fetches timed out.
//! - Fault sequence here (fixtures/scenarios/twilio-telemetry-overflow-*.toml):
//!   no injected fault at all. The trigger load (60 inbound calls a second,
//!   each playing one file through call control in the SIP service) and
//!   the telemetry client's sizes are inputs; each fetch adds a 4 KiB
//!   record to a 16 KiB buffer, overflows become error events processed on
//!   the proxies' two cores, and the fetches queue behind them until they
//!   are refused or time out. The share of call flows that hang up on a
//!   failed verb (0.53) is an input, as the report implies.
//! - The fix (config only, the report's remediation): a bigger buffer,
//!   smaller payloads, and no error-event collector on the proxies.
//! - Oracle that catches it: `play_success` (at least 99% of verbs play).
//! - Figures reproduced (fixtures/incidents.toml): verb failures about 25%,
//!   all 11200; dropped calls about 13%; under 0.5% of each once fixed.

use crate::common;

use callsim::incidents::runner::Variant;
use toml::Value;

const ID: &str = "twilio-telemetry-overflow";

#[test]
fn buggy_reproduces_and_fixed_holds() {
    let (buggy, fixed) = common::both_variants(ID);
    insta::assert_snapshot!("buggy", common::summary(&buggy));
    insta::assert_snapshot!("fixed", common::summary(&fixed));
}

/// The failures come from the collector's CPU, not from the overflow as
/// such: with the buffer still overflowing but no collector on the
/// proxies, the verbs play.
#[test]
fn the_collector_cpu_is_what_fails_the_verbs() {
    let result = common::run_edited(
        ID,
        Variant::Buggy,
        &[(
            "nodes.media.telemetry.error_collector",
            Value::Boolean(false),
        )],
    );
    assert!(
        result.figures["telemetry_overflow_flushes"] >= 10.0,
        "the buffer still overflows"
    );
    assert!(
        result.figures["verb_failure_share"] < 0.005,
        "verbs failed: {}",
        result.figures["verb_failure_share"]
    );
}

/// Below the trigger load the same buggy proxies keep up: the failure rate
/// is a product of load against CPU, not a constant of the model.
#[test]
fn below_the_trigger_load_the_buggy_proxies_keep_up() {
    let result = common::run_edited(
        ID,
        Variant::Buggy,
        &[("workload.inbound.rate_per_s", Value::Float(20.0))],
    );
    assert!(
        result.figures["verb_failure_share"] < 0.01,
        "verbs failed: {}",
        result.figures["verb_failure_share"]
    );
}

/// The dropped share follows the drop policy (an input): with every flow
/// hanging up on a failed verb, the dropped calls are the calls whose verb
/// failed.
#[test]
fn the_drop_policy_sets_the_dropped_share() {
    let result = common::run_edited(
        ID,
        Variant::Buggy,
        &[("nodes.sip.call_control.drop_share", Value::Float(1.0))],
    );
    let failed = result.figures["verb_failure_share"];
    let dropped = result.figures["dropped_call_share"];
    assert!(failed > 0.1, "verbs failed: {failed}");
    assert!(
        (dropped - failed).abs() < 0.01,
        "dropped {dropped} vs failed {failed}"
    );
}
