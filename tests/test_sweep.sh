#!/usr/bin/env bash
# `are sweep` end to end on tinychat: the dry-run table (ids the same for any number of ranks,
# seeds derived from the sweep seed and the id), a sweep under mpirun (rank 0 and two workers)
# into trial files and sweep.h5, a rerun that skips everything, a changed config refused unless
# --force, failing trials recorded with their reason while the others finish, --fail-fast and
# --max-failures, and the same trials and numbers from one process without mpirun.
# usage: test_sweep.sh path/to/are SOURCE_DIR
set -u
are=$1
cd "$2" || exit 1 # the configs' paths are relative to the source tree
. "$(dirname "$0")/expect.sh"
. "$(dirname "$0")/sweep_fixture.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sweep_require

# fnv1a TEXT: 64-bit FNV-1a of TEXT's bytes (ASCII here) as an unsigned decimal; bash's integers
# wrap at 64 bits as the hash does.
fnv1a() {
    local h=$((0xcbf29ce484222325)) i c
    for ((i = 0; i < ${#1}; i++)); do
        printf -v c '%d' "'${1:i:1}"
        h=$(((h ^ c) * 0x100000001b3))
    done
    printf '%u\n' "$h"
}

# table_ids TABLE: the ids of a --dry-run table, sorted.
table_ids() {
    grep -E '^[0-9]+ +[0-9a-f]{16} ' "$1" | awk '{ print $2 }' | sort
}

# distinct DIR DATASET: sweep.h5's distinct values of a column, on one line.
distinct() {
    h5_values "$1/sweep.h5" "$2" | sort -u | tr '\n' ' '
}

# The demo sweep's trial table: 24 rows, the same from every launch, each seed
# FNV-1a("7:" id) (from the sweep seed and the id, never from the order).
demo=configs/demo-sweep.cfg
expect help 0 '^usage: are sweep CONFIG' '--dry-run' '--fail-fast' -- "$are" sweep --help
expect no-config 2 'no CONFIG given' -- "$are" sweep
expect second-device 2 'a second --device' -- "$are" sweep "$demo" --device cpu --device cpu
expect bad-max-failures 2 "--max-failures expects a positive integer, got '0'" -- \
    "$are" sweep "$demo" --max-failures 0
expect dry-run 0 '^# grid sweep: 12 combinations x 2 repeats = 24 trials, sweep seed 7$' \
    '^19 +[0-9a-f]{16} +1 +[0-9]+ +"defense" +1.0 +"are" +\[3\] +\[0, 1, 2\] +8$' \
    '^23 +[0-9a-f]{16} +1 +[0-9]+ +"defense" +1.0 +"direction_ablation" +\[3\] +\[0, 1, 2\] +4$' \
    -- "$are" sweep "$demo" --dry-run
"$are" sweep "$demo" --dry-run >"$tmp/table" 2>&1
"$are" sweep "$demo" --dry-run >"$tmp/table-again" 2>&1
mpi 1 sweep "$demo" --dry-run >"$tmp/table-np1" 2>&1
mpi 3 sweep "$demo" --dry-run >"$tmp/table-np3" 2>&1
expect twenty-four-ids 0 '^24$' -- grep -cE '^[0-9]+ +[0-9a-f]{16} ' "$tmp/table"
expect distinct-ids 0 -- cmp <(table_ids "$tmp/table") <(table_ids "$tmp/table" | uniq)
for t in table-again table-np1 table-np3; do
    expect "same-$t" 0 -- cmp "$tmp/table" "$tmp/$t"
done
wrong=0
while read -r _ id _ seed _; do
    [ "$(fnv1a "7:$id")" = "$seed" ] || wrong=$((wrong + 1))
done < <(grep -E '^[0-9]+ +[0-9a-f]{16} ' "$tmp/table")
expect seeds-from-ids 0 -- test "$wrong" -eq 0

# The demo's axes on short trials, under mpirun: rank 0 and two workers. Where the trials
# are written does not change their ids.
sweep_config "$tmp/sweep.cfg" 'sweep = {
  seed = 7;
  repeats = 2;
  axes = (
    { path = "task"; values = ["jailbreak", "defense"]; },
    { paths = ["are.layers", "are.generator.layers"];
      values = ( ([2], [0, 1]), ([3], [0, 1, 2]) ); },
    { path = "are.generator.rank"; values = [4, 8]; }
  );
};'
run=$tmp/run
"$are" sweep "$tmp/sweep.cfg" "${small[@]}" --dry-run >"$tmp/plan" 2>&1
"$are" sweep "$tmp/sweep.cfg" "${small[@]}" --dry-run --set 'output.dir="elsewhere"' \
    >"$tmp/plan-dir" 2>&1
expect same-ids-elsewhere 0 -- cmp "$tmp/plan" "$tmp/plan-dir"
expect sweep 0 "^16 done, 0 failed, 0 not run; sweep.h5 and trial files in $run$" \
    '^\[16/16 done, 0 running, 0 failed, ETA 0m00s\]' \
    'trial [0-9]+ [0-9a-f]{16} done in [0-9]+s +harmful.refusal_rate [01]\.[0-9]{3}' \
    -- sweep_in 3 "$run" "$tmp/sweep.cfg"
expect files-are-the-plan 0 -- cmp <(table_ids "$tmp/plan") <(ls "$run/trials" | sed 's/\.h5$//')
expect adapters 0 '^16$' -- sh -c "ls '$run'/adapters/*/adapter_model.safetensors | wc -l"
expect all-done 0 '^16$' -- sweep_count "$run" "done"
expect links 0 '^16$' -- sh -c "h5dump -n '$run/sweep.h5' |
    grep -c 'ext link   /trials/[0-9a-f]\{16\} -> trials/[0-9a-f]\{16\}.h5 /'"
# Rank 0 only orchestrates: both workers ran trials, rank 0 none.
expect workers 0 -- test "$(distinct "$run" /table/rank)" = "1 2 "
# Each trial file is the trial its row names: its id, and the seed the row records.
wrong=0
while read -r id seed; do
    [ "$(h5_attr "$run/trials/$id.h5" trial_id)" = "$id" ] || wrong=$((wrong + 1))
    stored=$(h5dump -a /seed "$run/trials/$id.h5" | sed -n 's/^ *(0): //p')
    [ "$(printf '%u' "$stored")" = "$seed" ] || wrong=$((wrong + 1))
done < <(paste -d' ' <(h5_values "$run/sweep.h5" /table/id) \
    <(h5_values "$run/sweep.h5" /table/seed))
expect files-match-rows 0 -- test "$wrong" -eq 0

# The same command again: everything is done, nothing runs, no file changes.
trial_stamps "$run" >"$tmp/stamps"
h5_values "$run/sweep.h5" /table/start_time >"$tmp/starts"
expect rerun 0 '16 trials in .*, 16 already done, 0 to run$' '^16 done, 0 failed, 0 not run' \
    -- sweep_in 3 "$run" "$tmp/sweep.cfg"
expect rerun-ran-nothing 0 -- cmp "$tmp/stamps" <(trial_stamps "$run")
expect rerun-kept-rows 0 -- cmp "$tmp/starts" <(h5_values "$run/sweep.h5" /table/start_time)

# Another config on that folder is refused, naming both files, and changes nothing; --force
# takes it (its trials are the same, so they stay done), and then the old one is the stranger.
{ cat "$tmp/sweep.cfg"; echo "# changed"; } >"$tmp/changed.cfg"
expect refused 1 "$run/sweep.h5 was written for another sweep config than $tmp/changed.cfg" \
    -- sweep_in 3 "$run" "$tmp/changed.cfg"
expect refused-changed-nothing 0 -- cmp "$tmp/stamps" <(trial_stamps "$run")
expect force 0 'going on as --force says' '16 already done, 0 to run$' \
    -- sweep_in 0 "$run" "$tmp/changed.cfg" --force
expect forced-config-kept 1 'was written for another sweep config' \
    -- sweep_in 0 "$run" "$tmp/sweep.cfg"

# The defense trials fail at run time (their data file is missing): each is recorded with the
# reason, the jailbreak trials finish, the exit code says a trial failed.
missing=(--set "tasks.defense.data=[\"$tmp/missing.jsonl\"]")
expect failing 1 '^8 done, 8 failed, 0 not run' \
    "trial [0-9]+ [0-9a-f]{16} FAILED in 0s: $tmp/missing.jsonl: cannot open" \
    -- sweep_in 3 "$tmp/fail" "$tmp/sweep.cfg" "${missing[@]}"
expect failed-rows 0 '^8$' -- sweep_count "$tmp/fail" failed
expect failed-reasons 0 '^8$' -- sh -c "h5dump -d /table/error '$tmp/fail/sweep.h5' |
    grep -o 'missing.jsonl: cannot open' | wc -l"
expect done-files-only 0 '^8$' -- sh -c "ls '$tmp/fail/trials' | wc -l"
# A rerun tries the failed trials again, and only them; --fail-fast and --max-failures stop
# handing out trials (with two workers one more may be running when the limit is reached).
cp -r "$tmp/fail" "$tmp/fail-fast"
cp -r "$tmp/fail" "$tmp/max-failures"
expect retry 1 '8 already done, 8 to run$' '^8 done, 8 failed, 0 not run' \
    -- sweep_in 3 "$tmp/fail" "$tmp/sweep.cfg" "${missing[@]}"
expect fail-fast 1 '^8 done, [12] failed, [67] not run' \
    -- sweep_in 3 "$tmp/fail-fast" "$tmp/sweep.cfg" "${missing[@]}" --fail-fast
expect max-failures 1 '^8 done, [34] failed, [45] not run' \
    -- sweep_in 3 "$tmp/max-failures" "$tmp/sweep.cfg" "${missing[@]}" --max-failures 3

# Alone (no mpirun) the one process runs every trial: the same ids and the same numbers.
expect alone 0 '^16 done, 0 failed, 0 not run' -- sweep_in 0 "$tmp/alone" "$tmp/sweep.cfg"
expect alone-rank-0 0 -- test "$(distinct "$tmp/alone" /table/rank)" = "0 "
sweep_metrics "$run" >"$tmp/metrics-mpi"
sweep_metrics "$tmp/alone" >"$tmp/metrics-alone"
expect metrics-of-16 0 '^16$' -- sh -c "cut -d' ' -f1 '$tmp/metrics-mpi' | uniq | wc -l"
expect alone-same-metrics 0 -- cmp "$tmp/metrics-mpi" "$tmp/metrics-alone"
expect_summary
