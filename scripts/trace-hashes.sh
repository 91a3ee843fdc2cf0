#!/usr/bin/env bash
# Regenerates fixtures/trace-hashes.tsv, the trace hashes that
# tests/trace_hashes.rs pins: one row `<scenario>\t<seed>\t<trace_hash>` for
# every scenario under fixtures/ (the incident catalogue aside) and seeds 1
# to 5, from `callsim run FILE --seed N --json` with the release binary,
# sorted bytewise (LC_ALL=C). A scenario that fails its oracles still prints
# its report (exit 1 or 3) and is pinned like any other; a run with no
# report (bad input, exit 2; incomplete, exit 5) stops the script and leaves
# the file as it was.
#
# Usage: scripts/trace-hashes.sh [OUTPUT]   (default fixtures/trace-hashes.tsv)
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-fixtures/trace-hashes.tsv}"
seeds="1 2 3 4 5"

cargo build --release --locked --bin callsim
bin=target/release/callsim

tmp="$(mktemp)"
trap 'rm -f "$tmp" "$tmp.list"' EXIT

find fixtures -name '*.toml' ! -path fixtures/incidents.toml | LC_ALL=C sort >"$tmp.list"
while read -r scenario; do
    for seed in $seeds; do
        code=0
        json="$("$bin" run "$scenario" --seed "$seed" --json 2>/dev/null)" || code=$?
        # The report's top-level field, as serde_json's pretty printer
        # writes it (two spaces in).
        hash="$(printf '%s\n' "$json" | sed -n 's/^  "trace_hash": "\([0-9a-f]*\)",\{0,1\}$/\1/p')"
        if [ -z "$hash" ]; then
            echo "error: $scenario seed $seed: exit $code and no trace_hash;" \
                "see: $bin run $scenario --seed $seed --json" >&2
            exit 1
        fi
        printf '%s\t%s\t%s\n' "$scenario" "$seed" "$hash" >>"$tmp"
        echo "$scenario seed $seed: $hash (exit $code)" >&2
    done
done <"$tmp.list"

LC_ALL=C sort "$tmp" >"$out"
echo "wrote $out: $(wc -l <"$out") rows" >&2
