# Merges the `explore --json` documents of sharded sweeps (explore --shard K/M)
# into one, as the unsharded sweep would have written it (wall_ms aside: the
# longest shard's). Usage: jq -s -f scripts/merge-explore.jq explore-*.json
# Checked by tests/shard_merge.rs; README.md, "Merging sharded explore runs".
def sum_counts: reduce (.[] | to_entries[]) as $e ({}; .[$e.key] += $e.value);
{
  scenario: .[0].scenario,
  seeds_run: (map(.seeds_run) | add),
  failed: (map(.failed) | add | sort_by(.seed)),
  wall_ms: (map(.wall_ms) | max),
  signatures: {groups: (reduce (.[].signatures.groups | to_entries[]) as $g ({};
    .[$g.key] = {signature: $g.value.signature,
                 seeds: ((.[$g.key].seeds // []) + $g.value.seeds | sort)}))},
  coverage: {
    runs: (map(.coverage.runs) | add),
    sites: (map(.coverage.sites | to_entries) | add | group_by(.key)
            | map({key: .[0].key, value: (map(.value) | sum_counts)}) | from_entries),
    states: (map(.coverage.states) | sum_counts)
  }
}
# Differential mode (--baseline): the baseline, and the seeds that failed
# only as it did, added up.
+ (if .[0].baseline then
     {baseline: .[0].baseline, also_fail_on_baseline: (map(.also_fail_on_baseline) | add)}
   else {} end)
