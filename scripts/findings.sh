#!/usr/bin/env bash
# Reproduces the sweeps behind FINDINGS.md: the unpinned incident scenarios
# (seeds to the first failure with the incident's signature, differential
# mode against the fixed variant; false alarms of the fixed variant), and
# swarm faults over the example scenarios (failures with no bug in them).
#
#   scripts/findings.sh [SEEDS] [SWARM_SEEDS]      # defaults 200 and 50
#
# Long sweeps stay out of `cargo test`. Each sweep's `explore --json`
# document is kept in target/findings/; the summary is printed as Markdown
# tables on stdout (paste into FINDINGS.md). Needs python3 for the summary.
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=${1:-200}
swarm_seeds=${2:-50}
out=target/findings
mkdir -p "$out/scenarios"
cargo build --release --locked --quiet
callsim=target/release/callsim

sweep() { # name, then explore arguments
  local name=$1
  shift
  local start=$SECONDS
  "$callsim" explore "$@" --json --bundles "$out/bundles" >"$out/$name.json" 2>"$out/$name.log" || true
  echo "$name $((SECONDS - start))" >>"$out/times.txt"
}

: >"$out/times.txt"
for buggy in fixtures/scenarios/unpinned/*-buggy.toml; do
  fixed=${buggy%-buggy.toml}-fixed.toml
  name=$(basename "${buggy%-buggy.toml}")
  sweep "unpinned-$name-buggy" "$buggy" --seeds "$seeds" --start 1 --baseline "$fixed"
  sweep "unpinned-$name-fixed" "$fixed" --seeds "$seeds" --start 1
done

# Swarm faults over every example scenario that has no bug in it.
for scenario in fixtures/scenarios/{outbound-sync,outbound-async,inbound-lb,inbound-sbc,media-play,deploy-lb,load}.toml \
  fixtures/scenarios/*-fixed.toml; do
  name=$(basename "${scenario%.toml}")
  duration_s=$(python3 -c "
import re,sys
t=open(sys.argv[1]).read()
m=re.search(r'^duration\s*=\s*\"(\d+)(s|m)\"',t,re.M)
n=int(m.group(1))*(60 if m.group(2)=='m' else 1)
print(n)" "$scenario")
  until_s=$((duration_s * 6 / 10))
  copy="$out/scenarios/swarm-$name.toml"
  cat "$scenario" - >"$copy" <<EOF

# Added by scripts/findings.sh: generic swarm faults, no bug.
[fault_settings.swarm]
kind_probability = 0.4
at = "10s"
until = "${until_s}s"

[fault_settings.swarm.kinds]
loss = { probability = [0.01, 0.05] }
latency = { latency = ["10ms", "150ms"] }
jitter = { jitter = ["5ms", "50ms"] }
restart = { rate_per_min = [0.2, 1.0] }
EOF
  sweep "swarm-$name" "$copy" --seeds "$swarm_seeds" --start 1
done

python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
times = dict(l.split() for l in open(os.path.join(out, "times.txt")))
def load(name):
    try:
        return json.load(open(os.path.join(out, name + ".json")))
    except Exception as e:
        return None
print("## Unpinned incidents\n")
print("| scenario | seeds | first failing seed | failing seeds | signatures | also failed on baseline | fixed variant failures | wall s (buggy / fixed) |")
print("|---|---|---|---|---|---|---|---|")
for f in sorted(os.listdir(out)):
    if not (f.startswith("unpinned-") and f.endswith("-buggy.json")):
        continue
    name = f[len("unpinned-"):-len("-buggy.json")]
    b, x = load(f"unpinned-{name}-buggy"), load(f"unpinned-{name}-fixed")
    if b is None or x is None:
        print(f"| {name} | (sweep failed: see target/findings) |")
        continue
    failed = sorted(s["seed"] for s in b["failed"])
    sigs = "; ".join(f'{g["signature"]["oracle"]} x{len(g["seeds"])}' for g in b["signatures"]["groups"].values())
    print(f'| {name} | {b["seeds_run"]} | {failed[0] if failed else "none"} | {len(failed)} | {sigs} | {b.get("also_fail_on_baseline")} | {len(x["failed"])} / {x["seeds_run"]} | {times.get("unpinned-"+name+"-buggy")} / {times.get("unpinned-"+name+"-fixed")} |')
print("\n## Swarm faults over example scenarios with no bug\n")
print("| scenario | seeds | failing seeds | signatures (oracle x seeds) | wall s |")
print("|---|---|---|---|---|")
for f in sorted(os.listdir(out)):
    if not (f.startswith("swarm-") and f.endswith(".json")):
        continue
    name = f[:-5]
    d = load(name)
    if d is None:
        print(f"| {name} | (sweep failed: see target/findings/{name}.log) |")
        continue
    sigs = "; ".join(f'{g["signature"]["oracle"]} x{len(g["seeds"])}' for g in d["signatures"]["groups"].values()) or "-"
    print(f'| {name[6:]} | {d["seeds_run"]} | {len(d["failed"])} | {sigs} | {times.get(name)} |')
print("\n## Coverage of the unpinned ringing sweep (buggy variant)\n")
d = load("unpinned-livekit-ringing-timeout-buggy")
if d:
    for state, n in d["coverage"]["states"].items():
        print(f"- `{state}`: {n} of {d['coverage']['runs']} runs")
PY
