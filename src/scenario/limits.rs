//! What a scenario may ask for. Each bound is named in the error that
//! refuses it, so a user knows which knob to turn; each exists because a
//! hostile or mistaken value made a run hang, blow up its memory, or panic
//! inside turmoil (a listen backlog overflowing is a panic there, not a
//! dropped SYN).
//!
//! Node configs bound their own fields the same way (e.g.
//! `media_interval` >= `nodes::media_stream::INTERVAL_MIN`).
//!
//! Bounds on what a run *does*, rather than what it asks for, are the run
//! budget: `[run] max_events` ends a run that records more events than
//! that with exit 5, counted in events (never wall time, so the verdict
//! does not depend on the machine).

use super::Scenario;
use crate::sim::FieldError;

/// Largest scenario file read (bytes).
pub const FILE_BYTES_MAX: u64 = 4 << 20;
/// Most hosts (pods included) in one run.
pub const HOSTS_MAX: usize = 256;
/// Most steps (`duration / tick`) in one run.
pub const STEPS_MAX: u64 = 10_000_000;
/// Most `[[faults]]` entries.
pub const FAULTS_MAX: usize = 1_000;
/// Most calls per second of one workload stream.
pub const CALL_RATE_MAX: f64 = 1_000.0;
/// Most new calls per tick of one workload stream: each outbound call is a
/// new API connection, and turmoil's listen backlog holds 64 SYNs a tick.
pub const ARRIVALS_PER_TICK_MAX: f64 = 16.0;
/// Most calls of one workload stream.
pub const CALLS_MAX: u32 = 1_000_000;

/// Checks the bounds that do not belong to one node's config. Run before
/// the rest of validation, so that nothing quadratic meets a huge input.
pub fn check(scenario: &Scenario) -> Result<(), FieldError> {
    let run = &scenario.run;
    let steps = run.duration.as_millis() / run.tick.as_millis().max(1);
    if steps > STEPS_MAX {
        return Err(FieldError::new(
            "run.tick",
            format!(
                "{} / {} is {steps} steps; at most {STEPS_MAX} (limit STEPS_MAX): raise the tick or shorten the run",
                run.duration, run.tick
            ),
        ));
    }
    if run.max_events == 0 || run.max_events > crate::sim::MAX_EVENTS_CEILING {
        return Err(FieldError::new(
            "run.max_events",
            format!(
                "must be in [1, {}] (limit MAX_EVENTS_CEILING)",
                crate::sim::MAX_EVENTS_CEILING
            ),
        ));
    }
    // Counted from the sections, before any host is built: a pod count of
    // 4 billion must not allocate 4 billion host names first.
    let hosts: u64 = scenario
        .nodes
        .sections()
        .iter()
        .map(|s| u64::from(s.pods.unwrap_or(1)))
        .sum();
    if hosts > HOSTS_MAX as u64 {
        return Err(FieldError::new(
            "nodes",
            format!("{hosts} hosts (pods included); at most {HOSTS_MAX} (limit HOSTS_MAX)"),
        ));
    }
    if scenario.faults.len() > FAULTS_MAX {
        return Err(FieldError::new(
            format!("faults[{FAULTS_MAX}]"),
            format!(
                "{} [[faults]] entries; at most {FAULTS_MAX} (limit FAULTS_MAX): use a `process` for many occurrences",
                scenario.faults.len()
            ),
        ));
    }
    let tick_s = run.tick.as_millis() as f64 / 1000.0;
    let streams = [
        (
            "workload.outbound",
            scenario
                .workload
                .outbound
                .as_ref()
                .map(|o| (o.calls, o.rate_per_s)),
        ),
        (
            "workload.inbound",
            scenario
                .workload
                .inbound
                .as_ref()
                .map(|i| (i.calls, i.rate_per_s)),
        ),
    ];
    for (prefix, stream) in streams {
        let Some((calls, rate)) = stream else {
            continue;
        };
        if calls > CALLS_MAX {
            return Err(FieldError::new(
                format!("{prefix}.calls"),
                format!("{calls} calls; at most {CALLS_MAX} (limit CALLS_MAX)"),
            ));
        }
        if rate > CALL_RATE_MAX {
            return Err(FieldError::new(
                format!("{prefix}.rate_per_s"),
                format!("{rate} calls/s; at most {CALL_RATE_MAX} (limit CALL_RATE_MAX)"),
            ));
        }
        if rate * tick_s > ARRIVALS_PER_TICK_MAX {
            return Err(FieldError::new(
                format!("{prefix}.rate_per_s"),
                format!(
                    "{rate} calls/s is {:.0} new calls per {} tick; at most {ARRIVALS_PER_TICK_MAX} a tick (limit ARRIVALS_PER_TICK_MAX): lower the rate or the tick",
                    rate * tick_s,
                    run.tick
                ),
            ));
        }
    }
    Ok(())
}
