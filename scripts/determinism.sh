#!/usr/bin/env bash
# Checks determinism of scenarios over many seeds: `callsim
# check-determinism` runs each seed twice and compares the histories event
# by event. Kept out of `cargo test` (20 seeds x 2 runs per scenario).
#
#   scripts/determinism.sh [SEEDS] [SCENARIO...]
#
# SEEDS defaults to 20; the scenarios default to every demo pair under
# fixtures/scenarios/mechanisms/. Prints one Markdown row per scenario and
# exits non-zero if any scenario is not deterministic.
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=${1:-20}
shift || true
if [ "$#" -eq 0 ]; then
  set -- fixtures/scenarios/mechanisms/*.toml
fi
cargo build --release --locked --quiet --bin callsim
bin=target/release/callsim

status=0
echo "| scenario | seeds | result | wall s |"
echo "|---|---|---|---|"
for scenario in "$@"; do
  start=$SECONDS
  if "$bin" check-determinism "$scenario" --seeds "$seeds" --start 1 >/dev/null 2>&1; then
    result="deterministic"
  else
    result="**NOT deterministic** (rerun: $bin check-determinism $scenario --seeds $seeds --start 1)"
    status=1
  fi
  echo "| $scenario | 1-$seeds | $result | $((SECONDS - start)) |"
done
exit $status
