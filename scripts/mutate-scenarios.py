#!/usr/bin/env python3
# Mutates the scenario fixtures as a hostile user would and runs each mutant through
# the release binary, to find panics, hangs and runaway memory in `callsim run`.
#
# Deterministic: mutant N of seed S is always the same text (random.Random seeded with
# S and N), so a failure is reproduced with `--seed S --only N`, or by running the saved
# mutant. Each mutant picks a fixture under fixtures/scenarios/ and 1 to 3 hostile
# edits: delete, duplicate or swap lines; numbers to 0, -1, huge, fractions, NaN, inf;
# durations to "1us", "0s", huge; values swapped for another TOML type; truncation;
# random bytes; tiny ticks; pods = 1000; rate_per_s = 10000; every oracle `name = true`;
# `between` with three hosts; 10,000 [[faults]]; huge call counts and durations.
#
# Each mutant runs as `BINARY run FILE` under a wall-clock timeout (default 20 s) and
# an address-space cap (RLIMIT_AS, default 2 GiB). At the end it prints the exit-code
# histogram and the counts of panics (exit 101 or "panicked" on stderr), timeouts
# (hangs), over-memory (allocation failure under the cap, or killed), and other crashes
# (a signal); each such failing mutant is saved under OUT/ (gitignored) with its
# stderr and a line in OUT/failures.tsv.
#
# Usage (Python 3 standard library only):
#   cargo build --release
#   python3 scripts/mutate-scenarios.py [--seed 1] [--count 1000] [--timeout 20]
#       [--mem-mib 2048] [--binary target/release/callsim] [--out mutants-out]
#       [--only N] [--keep-all]

import argparse
import collections
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HUGE_NUMBERS = [
    "0", "-1", "18446744073709551615", "18446744073709551616", "9223372036854775807",
    "4294967296", "2147483648", "1e308", "0.5", "0.0001", "-0.5", "nan", "inf", "-inf",
    "1000000000", "65536",
]
HOSTILE_DURATIONS = [
    '"0s"', '"1us"', '"1ns"', '"-1s"', '"1.5s"', '""', '"s"', '"9999999h"',
    '"18446744073709551615ms"', '"1e30s"', '"nan s"', '"0.0001ms"', '"24h"', '"100000s"',
    '"1d"', '"10us"',
]
OTHER_TYPES = [
    "true", "false", '"text"', "[]", "{}", "[1, 2, 3]", '{ a = 1 }', "1979-05-27T07:32:00Z",
    "0", "-1", '["a", "b", "c"]', '[[1], ["x"]]',
]
NUMBER = re.compile(r"(?<![\w.\"-])-?\d+(\.\d+)?(?![\w.\"])")
DURATION = re.compile(r'"\d+(\.\d+)?(ns|us|ms|s|m|h)"')
KEY_VALUE = re.compile(r"^(\s*[A-Za-z_][\w-]*\s*=\s*)(.+)$")


def fixtures():
    files = sorted((ROOT / "fixtures" / "scenarios").rglob("*.toml"))
    if not files:
        sys.exit("no fixtures under fixtures/scenarios")
    return files


def node_names(text):
    return re.findall(r"^\[nodes\.([\w-]+)\]", text, re.M)


# Each mutation takes (rng, text) and returns (new_text, description).


def delete_line(rng, text):
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    del lines[i]
    return "\n".join(lines), f"delete line {i + 1}"


def duplicate_line(rng, text):
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    n = rng.choice([1, 2, 100])
    lines[i + 1:i + 1] = [lines[i]] * n
    return "\n".join(lines), f"repeat line {i + 1} x{n}"


def swap_lines(rng, text):
    lines = text.split("\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines), f"swap lines {i + 1} and {j + 1}"


def truncate(rng, text):
    at = rng.randrange(len(text) + 1)
    return text[:at], f"truncate at byte {at}"


def random_bytes(rng, text):
    at = rng.randrange(len(text) + 1)
    n = rng.choice([1, 4, 32])
    junk = "".join(chr(rng.choice([rng.randrange(0, 128), rng.randrange(128, 0x800)]))
                   for _ in range(n))
    return text[:at] + junk + text[at:], f"{n} random characters at byte {at}"


def change_number(rng, text):
    spans = [m.span() for m in NUMBER.finditer(text)]
    if not spans:
        return text, "no number"
    a, b = rng.choice(spans)
    new = rng.choice(HUGE_NUMBERS)
    return text[:a] + new + text[b:], f"number {text[a:b]!r} -> {new}"


def change_duration(rng, text):
    spans = [m.span() for m in DURATION.finditer(text)]
    if not spans:
        return text, "no duration"
    a, b = rng.choice(spans)
    new = rng.choice(HOSTILE_DURATIONS)
    return text[:a] + new + text[b:], f"duration {text[a:b]} -> {new}"


def swap_type(rng, text):
    lines = text.split("\n")
    candidates = [i for i, l in enumerate(lines) if KEY_VALUE.match(l)]
    if not candidates:
        return text, "no key = value"
    i = rng.choice(candidates)
    m = KEY_VALUE.match(lines[i])
    new = rng.choice(OTHER_TYPES)
    lines[i] = m.group(1) + new
    return "\n".join(lines), f"line {i + 1}: value -> {new}"


def set_run(rng, text, key, value):
    """Sets `key = value` in [run], replacing an existing line."""
    pattern = re.compile(rf"^{key}\s*=.*$", re.M)
    run = re.search(r"^\[run\]\s*$", text, re.M)
    if run is None:
        return "[run]\n" + f"{key} = {value}\n" + text
    section_end = re.search(r"^\[", text[run.end():], re.M)
    end = run.end() + (section_end.start() if section_end else len(text) - run.end())
    body = text[run.end():end]
    if pattern.search(body):
        body = pattern.sub(f"{key} = {value}", body, count=1)
    else:
        body = f"\n{key} = {value}" + body
    return text[:run.end()] + body + text[end:]


def tiny_tick(rng, text):
    tick = rng.choice(['"1ms"', '"1ms"', '"1us"', '"1ns"', '"100us"'])
    return set_run(rng, text, "tick", tick), f"tick = {tick}"


def huge_duration(rng, text):
    d = rng.choice(['"9999h"', '"100000s"', '"24h"', '"1000000h"', '"1ms"', '"3600s"'])
    return set_run(rng, text, "duration", d), f"duration = {d}"


def many_pods(rng, text):
    names = node_names(text)
    if not names:
        return text, "no node"
    # Mostly the kinds that have pods (lb, media, sip, sbc), sometimes any node.
    podded = [n for n in names if re.match(r"(lb|media|sip|sbc)\b", n)]
    name = rng.choice(podded if podded and rng.random() < 0.8 else names)
    pods = rng.choice([1000, 10000, 100, 4294967295])
    header = f"[nodes.{name}]"
    at = text.index(header) + len(header)
    # Replace the section's pods line if it has one, else add one.
    nxt = re.search(r"^\[", text[at:], re.M)
    end = at + (nxt.start() if nxt else len(text) - at)
    body = re.sub(r"^pods\s*=.*$\n?", "", text[at:end], flags=re.M)
    return text[:at] + f"\npods = {pods}" + body + text[end:], f"nodes.{name}.pods = {pods}"


def high_rate(rng, text):
    rate = rng.choice(["10000.0", "1000000.0", "1e9", "0.0001"])
    new, n = re.subn(r"rate_per_s\s*=\s*[\d.e+-]+", f"rate_per_s = {rate}", text)
    if n == 0:
        return text, "no rate_per_s"
    return new, f"rate_per_s = {rate}"


def many_calls(rng, text):
    calls = rng.choice(["100000", "1000000000", "4294967295"])
    new, n = re.subn(r"\bcalls\s*=\s*\d+", f"calls = {calls}", text)
    if n == 0:
        return text, "no calls"
    return new, f"calls = {calls}"


def oracles_true(rng, text):
    m = re.search(r"^\[oracles\]\s*$", text, re.M)
    if m is None:
        return text + "\n[oracles]\nevery_call_terminates = true\n", "oracles: name = true"
    nxt = re.search(r"^\[", text[m.end():], re.M)
    end = m.end() + (nxt.start() if nxt else len(text) - m.end())
    value = rng.choice(["true", "false", "1", '"yes"'])
    body = re.sub(r"^(\s*[\w-]+\s*=\s*).*$", rf"\g<1>{value}", text[m.end():end], flags=re.M)
    return text[:m.end()] + body + text[end:], f"every oracle = {value}"


def three_hosts(rng, text):
    new, n = re.subn(r"between\s*=\s*\[\s*(\"[^\"]*\")\s*,\s*(\"[^\"]*\")\s*\]",
                     r"between = [\1, \2, \1]", text, count=1)
    if n == 0:
        names = node_names(text) or ["sip"]
        hosts = ", ".join(f'"{rng.choice(names)}"' for _ in range(3))
        return (text + f'\n[[faults]]\nkind = "partition"\nbetween = [{hosts}]\nat = "1s"\n',
                "added a partition between 3 hosts")
    return new, "between with 3 hosts"


def many_faults(rng, text):
    names = node_names(text) or ["sip"]
    n = rng.choice([1000, 10000])
    kind = rng.choice(["latency", "crash", "loss", "partition"])
    blocks = []
    for k in range(n):
        at = f'"{k % 50}s"'
        a, b = rng.choice(names), rng.choice(names)
        if kind == "latency":
            blocks.append(f'[[faults]]\nkind = "latency"\nbetween = ["{a}", "{b}"]\n'
                          f'at = {at}\nextra = "100ms"\n')
        elif kind == "loss":
            blocks.append(f'[[faults]]\nkind = "loss"\nbetween = ["{a}", "{b}"]\n'
                          f'at = {at}\nprobability = 0.5\n')
        elif kind == "partition":
            blocks.append(f'[[faults]]\nkind = "partition"\nbetween = ["{a}", "{b}"]\n'
                          f'at = {at}\n')
        else:
            blocks.append(f'[[faults]]\nkind = "crash"\nnode = "{a}"\nat = {at}\n')
    # Array-of-tables must follow the top-level tables it does not belong to: append.
    return text + "\n" + "\n".join(blocks), f"{n} x [[faults]] kind = {kind}"


def drop_section(rng, text):
    headers = [m.start() for m in re.finditer(r"^\[", text, re.M)]
    if not headers:
        return text, "no section"
    i = rng.randrange(len(headers))
    end = headers[i + 1] if i + 1 < len(headers) else len(text)
    return text[:headers[i]] + text[end:], f"drop section at byte {headers[i]}"


def duplicate_section(rng, text):
    headers = [m.start() for m in re.finditer(r"^\[", text, re.M)]
    if not headers:
        return text, "no section"
    i = rng.randrange(len(headers))
    end = headers[i + 1] if i + 1 < len(headers) else len(text)
    return text + "\n" + text[headers[i]:end], f"duplicate section at byte {headers[i]}"


MUTATIONS = [
    (delete_line, 3), (duplicate_line, 2), (swap_lines, 1), (truncate, 1),
    (random_bytes, 1), (change_number, 4), (change_duration, 4), (swap_type, 2),
    (tiny_tick, 1), (huge_duration, 1), (many_pods, 2), (high_rate, 1), (many_calls, 1),
    (oracles_true, 1), (three_hosts, 1), (many_faults, 1), (drop_section, 1),
    (duplicate_section, 1),
]


def mutant(seed, index, files):
    rng = random.Random(f"{seed}:{index}")
    base = rng.choice(files)
    text = base.read_text()
    names, weights = zip(*MUTATIONS)
    steps = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        op = rng.choices(names, weights)[0]
        text, what = op(rng, text)
        steps.append(f"{op.__name__}: {what}")
    return base, text, steps


def cap_memory(limit_bytes):
    def apply():
        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def classify(rc, stderr, timed_out):
    if timed_out:
        return "timeout"
    if ("memory allocation of" in stderr or "out of memory" in stderr.lower()
            or "cannot allocate memory" in stderr.lower() or rc == -signal.SIGKILL):
        return "oom"
    if rc == 101 or "panicked" in stderr:
        return "panic"
    if rc < 0:
        return f"signal {-rc}"
    return "ok"


def run_one(binary, path, timeout, mem_bytes):
    start = time.monotonic()
    proc = subprocess.Popen([str(binary), "run", str(path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=cap_memory(mem_bytes))
    timed_out = False
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    return proc.returncode, err.decode("utf-8", "replace"), timed_out, time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per mutant")
    ap.add_argument("--mem-mib", type=int, default=2048, help="address-space cap")
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "callsim"))
    ap.add_argument("--out", default=str(ROOT / "mutants-out"))
    ap.add_argument("--only", type=int, help="run mutant N only")
    ap.add_argument("--keep-all", action="store_true", help="save every mutant")
    args = ap.parse_args()

    binary = Path(args.binary)
    if not binary.is_file():
        sys.exit(f"{binary} not found: run `cargo build --release` first")
    out = Path(args.out) / f"seed-{args.seed}"
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    files = fixtures()
    indices = [args.only] if args.only is not None else range(args.count)

    codes = collections.Counter()
    kinds = collections.Counter()
    failures = []
    started = time.monotonic()
    with open(out / "mutants.jsonl", "w") as log:
        for n in indices:
            base, text, steps = mutant(args.seed, n, files)
            path = work / f"mutant-{n:05}.toml"
            path.write_text(text, errors="surrogateescape")
            rc, err, timed_out, secs = run_one(binary, path, args.timeout,
                                               args.mem_mib << 20)
            kind = classify(rc, err, timed_out)
            codes["timeout" if timed_out else str(rc)] += 1
            kinds[kind] += 1
            record = {"mutant": n, "base": str(base.relative_to(ROOT)), "steps": steps,
                      "rc": None if timed_out else rc, "kind": kind, "secs": round(secs, 2)}
            log.write(json.dumps(record) + "\n")
            log.flush()
            if kind != "ok" or args.keep_all:
                keep = out / kind.replace(" ", "-")
                keep.mkdir(exist_ok=True)
                (keep / path.name).write_text(text, errors="surrogateescape")
                (keep / f"mutant-{n:05}.stderr").write_text(err[-20000:])
            if kind != "ok":
                failures.append(record)
                first = next((l for l in err.splitlines() if "panicked" in l), "")
                print(f"mutant {n}: {kind} rc={record['rc']} {secs:.1f}s "
                      f"[{base.name}] {'; '.join(steps)} {first}", flush=True)
            path.unlink()
            if (n + 1) % 50 == 0:
                print(f"... {n + 1} mutants, {time.monotonic() - started:.0f}s", flush=True)

    with open(out / "failures.tsv", "w") as f:
        f.write("mutant\tkind\trc\tsecs\tbase\tsteps\n")
        for r in failures:
            f.write(f"{r['mutant']}\t{r['kind']}\t{r['rc']}\t{r['secs']}\t{r['base']}\t"
                    f"{'; '.join(r['steps'])}\n")
    total = sum(codes.values())
    print(f"\n{total} mutants, seed {args.seed}, {time.monotonic() - started:.0f}s, "
          f"binary {binary}")
    print("exit codes: " + ", ".join(f"{k}: {v}" for k, v in
                                      sorted(codes.items(), key=lambda kv: kv[0])))
    print(f"panics: {kinds['panic']}, timeouts (hangs): {kinds['timeout']}, "
          f"over-memory: {kinds['oom']}, other crashes: "
          f"{sum(v for k, v in kinds.items() if k.startswith('signal'))}")
    print(f"failing mutants saved under {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
