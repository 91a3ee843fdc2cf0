#!/usr/bin/env bash
# The demo pairs of the platform mechanisms (fixtures/scenarios/mechanisms/):
# each scenario's exit code at its own seed (failing: 1, or 3 when a
# liveness oracle catches it; passing: 0), then
# `check-determinism` over 20 seeds (exit 0: every seed replayed
# identically). Outside `cargo test` on purpose: 20 seeds of every demo
# scenario (28 files), each run twice, take about 10 minutes of CPU with
# the release binary (8-35 s per scenario).
#
# Usage: scripts/mechanisms.sh [SEEDS]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."

seeds="${1:-20}"
cargo build --release --locked --bin callsim
bin=target/release/callsim

status=0
for scenario in fixtures/scenarios/mechanisms/*.toml; do
    code=0
    "$bin" run "$scenario" >/dev/null 2>&1 || code=$?
    case "$scenario" in
        # Caught by a liveness oracle (dispatch_after_heal): exit 3.
        *stranded-workers-failing.toml) want=3 ;;
        *-failing.toml) want=1 ;;
        *) want=0 ;;
    esac
    det=0
    "$bin" check-determinism "$scenario" --seeds "$seeds" >/dev/null 2>&1 || det=$?
    printf '%-60s run exit %s (want %s)  check-determinism over %s seeds exit %s\n' \
        "$scenario" "$code" "$want" "$seeds" "$det"
    if [ "$code" != "$want" ] || [ "$det" != 0 ]; then
        status=1
    fi
done
exit "$status"
