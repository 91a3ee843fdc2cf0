#!/usr/bin/env bash
# Runs one cargo fuzz target (fuzz/, README "Fuzzing") on the stable toolchain, on one
# core, until SECONDS have passed; crashes are saved and the run goes on.
#
#   scripts/fuzz.sh sip_parse|scenario_load [SECONDS] [more libFuzzer flags]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo fuzz passes -Z flags to rustc,
# which RUSTC_BOOTSTRAP=1 lets the stable compiler accept; it sets RUSTFLAGS itself, so
# the project's `--cfg tokio_unstable` (.cargo/config.toml) is passed here again.
# `--sanitizer none`: the code under test is safe Rust, and AddressSanitizer costs
# about half the executions (an ASan build, the default, works as well).
#
# Seeds are read where they are, never copied into the repository: the RFC 4475
# messages in ../shared/conformance/rfc4475 (when present) and fixtures/scenarios/.
# New corpus entries go to fuzz/corpus/TARGET, crashes to fuzz/artifacts/TARGET, the
# log to fuzz/logs/TARGET.log (all gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:?usage: scripts/fuzz.sh sip_parse|scenario_load [SECONDS] [libFuzzer flags]}
secs=${2:-600}
shift $(($# < 2 ? $# : 2))

seeds=()
case $target in
sip_parse)
  if [ -d ../shared/conformance/rfc4475 ]; then
    seeds+=(../shared/conformance/rfc4475)
  else
    echo "note: ../shared/conformance/rfc4475 not found; starting from an empty corpus" >&2
  fi
  ;;
scenario_load) seeds+=(fixtures/scenarios) ;;
*)
  echo "unknown target $target (sip_parse, scenario_load)" >&2
  exit 2
  ;;
esac

export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="--cfg tokio_unstable${RUSTFLAGS:+ $RUSTFLAGS}"
cargo fuzz build -O --sanitizer none "$target"

mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target" fuzz/logs
# -fork=1: one worker process (one core) that is restarted after a crash, a timeout
# or running out of memory, so a long run records every failure instead of stopping
# at the first; the lines starting with # in the log count the executions.
"fuzz/target/x86_64-unknown-linux-gnu/release/$target" \
  "fuzz/corpus/$target" "${seeds[@]}" \
  -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
  -rss_limit_mb=2048 -timeout=10 -max_total_time="$secs" \
  -dict="fuzz/dict/${target%%_*}.dict" -artifact_prefix="fuzz/artifacts/$target/" "$@" \
  2>&1 | tee "fuzz/logs/$target.log"
