//! `ringing_timeout_respected` as a property over one synchronous outbound
//! call (callsim::props::ringing), run through the test-bed:
//!
//! - on every RPC stack with `deadline_propagation` it holds for every
//!   drawn ringing timeout, answer delay, latency, stack order and SIP-link
//!   fault;
//! - on the LiveKit stack (`tracing` with its 3 s default timeout, no
//!   deadline propagation) proptest finds a counterexample, and it shrinks
//!   to the 3 s boundary: a ringing timeout just over 3 s and a callee who
//!   answers just too late for the 3 s RPC, on the plainest stack, with no
//!   fault and the lowest latency. That the search fails is what shows the
//!   property can fail.
//!
//! The failure file `fixtures/proptest-regressions/ringing.txt` holds the
//! seed of the first counterexample found on the buggy stack; both
//! searches replay it before drawing new cases. One seed draws the same
//! call for both stack families (`props::ringing`'s unit test), so on the
//! fixed stacks it replays the bug's own call against the fix.
//!
//! `PROPTEST_CASES` new cases per search (default 64).

use callsim::oracles::ringing::NAME;
use callsim::props::ringing::{case, RingingCase, Stacks, TICK_MS, TRACING_TIMEOUT_MS};
use callsim::props::{self, Case};
use callsim::rpc::config::Middleware;
use proptest::test_runner::RngSeed;

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/proptest-regressions/ringing.txt"
);

/// The RNG seed of the fresh search on the buggy stack, unless
/// `PROPTEST_RNG_SEED` gives one: the search is deterministic, so a
/// failure to find the bug replays.
const FRESH_SEARCH_SEED: u64 = 17;

#[test]
fn holds_on_every_stack_with_deadline_propagation() {
    let search = props::search(
        &case(Stacks::WithDeadlinePropagation),
        NAME,
        props::config(Some(REGRESSIONS)),
    );
    if let Some((case, why)) = &search.counterexample {
        panic!(
            "{NAME} fails on a fixed stack: {why}\n{}",
            props::explain(case, NAME)
        );
    }
    assert!(
        search.regressions >= 1,
        "the committed regression in {REGRESSIONS} is replayed"
    );
    assert_eq!(
        search.cases_judged,
        search.regressions as u32 + props::cases(),
        "every replayed and new case was judged"
    );
}

#[test]
fn the_committed_regression_still_breaks_the_tracing_timeout_stack() {
    let search = props::search(
        &case(Stacks::TracingTimeout),
        NAME,
        props::config(Some(REGRESSIONS)),
    );
    assert!(
        search.regressions >= 1,
        "{REGRESSIONS} holds the committed counterexample"
    );
    assert!(
        search.failed_on_a_regression(),
        "the replayed regression fails first: {search:?}"
    );
    check_shrunk_to_the_boundary(&search);
}

#[test]
fn a_fresh_search_finds_the_tracing_timeout_bug() {
    let mut config = props::config(None);
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(FRESH_SEARCH_SEED);
    }
    let rng_seed = config.rng_seed;
    let search = props::search(&case(Stacks::TracingTimeout), NAME, config);
    assert!(
        search.counterexample.is_some(),
        "no counterexample in {} cases on the buggy stack (PROPTEST_RNG_SEED={rng_seed})",
        search.cases_judged
    );
    check_shrunk_to_the_boundary(&search);
}

/// The shrunk case is the LiveKit bug at its edge: the plainest buggy
/// stack, no fault, a ringing timeout just over the 3 s RPC timeout, and a
/// callee who answers just under 3 s after the INVITE, too late for the
/// answer to travel back before the RPC gives up; one millisecond earlier
/// and the property holds. The API's 408 comes at the 3 s timeout.
fn check_shrunk_to_the_boundary(search: &props::Search<RingingCase>) {
    let (shrunk, why) = search.counterexample.as_ref().expect("a counterexample");
    let context = || format!("{why}\n{}", props::explain(shrunk, NAME));
    assert_eq!(
        (&shrunk.middleware[..], shrunk.tracing_timeout_ms),
        (&[Middleware::Tracing][..], Some(TRACING_TIMEOUT_MS)),
        "the stack shrinks to tracing alone: {}",
        context()
    );
    assert!(shrunk.faults.is_empty(), "no fault needed: {}", context());
    assert!(
        (TRACING_TIMEOUT_MS + 1..=TRACING_TIMEOUT_MS + TICK_MS)
            .contains(&shrunk.ringing_timeout_ms),
        "the ringing timeout shrinks to just over 3 s: {}",
        context()
    );
    assert!(
        shrunk.answer_after_ms < TRACING_TIMEOUT_MS,
        "the answer shrinks to just under 3 s: {}",
        context()
    );
    let earlier = RingingCase {
        answer_after_ms: shrunk.answer_after_ms - 1,
        ..shrunk.clone()
    };
    assert_eq!(
        props::verdict(&earlier, NAME),
        Ok(()),
        "one millisecond earlier the answer wins the race: {}",
        context()
    );
    let (history, _) = props::run_judged(&shrunk.scenario(), NAME).expect("the run completes");
    let at = |kind: &str| {
        history
            .of_kind(kind)
            .next()
            .map(|r| r.t_ms)
            .unwrap_or_else(|| panic!("the run has a {kind}: {}", context()))
    };
    let response = history
        .of_kind("api.response")
        .next()
        .expect("the API answered");
    assert_eq!(response.u64("status"), Some(408), "{}", context());
    let waited_ms = at("api.response") - at("call.start");
    assert!(
        (TRACING_TIMEOUT_MS..=TRACING_TIMEOUT_MS + TICK_MS).contains(&waited_ms),
        "the 408 comes at the 3 s RPC timeout, after {waited_ms} ms: {}",
        context()
    );
}
