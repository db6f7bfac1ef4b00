#!/usr/bin/env bash
# What a rerun of `are sweep` trusts, on a sweep of two short trials run alone (no mpirun): a
# truncated trial file runs again and is named; a file that sweep.h5 says is done but is gone
# runs again; a sweep seed changed under --force runs every trial again (their files then hold
# the new seeds) instead of keeping results of the old ones; --force lists the files of trials
# no longer in the sweep and keeps them; a trial that was running when the sweep was killed is
# marked "interrupted" and counted on the next start; a folder is refused while a rank of an
# earlier sweep holds it; rank 0 failing mid-sweep ends the whole MPI job; an error in the
# config's own sweep.set is reported at its line.
# usage: test_sweep_resume.sh path/to/are SOURCE_DIR
set -u
are=$1
cd "$2" || exit 1 # the configs' paths are relative to the source tree
. "$(dirname "$0")/expect.sh"
. "$(dirname "$0")/sweep_fixture.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sweep_require

# sweep_with SEED VALUES: writes $cfg, the two-trial sweep (a task axis of VALUES) with sweep
# seed SEED (and sets `small`).
sweep_with() {
    cfg=$tmp/sweep-$1-${2//[^a-z]/}.cfg
    sweep_config "$cfg" "sweep = {
  seed = $1;
  axes = ( { path = \"task\"; values = [$2]; } );
};"
}
both='"jailbreak", "defense"'
sweep_with 7 "$both"
first=$cfg
run=$tmp/run
expect first 0 '^2 done, 0 failed, 0 not run' -- sweep_in 0 "$run" "$first"
ids=($(h5_values "$run/sweep.h5" /table/id))

# A truncated trial file: named with the reason, run again, readable afterwards.
truncate -s 2000 "$run/trials/${ids[1]}.h5"
expect truncated 0 "trial ${ids[1]}: $run/trials/${ids[1]}.h5: truncated: .*: it runs again" \
    '2 trials in .*, 1 already done, 1 to run$' '^2 done, 0 failed, 0 not run' \
    -- sweep_in 0 "$run" "$first"
expect truncated-rerun-readable 0 -- h5dump -a /trial_id "$run/trials/${ids[1]}.h5"

# A file that sweep.h5 says is done, gone: said, and run again.
rm "$run/trials/${ids[0]}.h5"
expect gone 0 "trial ${ids[0]}: sweep.h5 says done, but trials/${ids[0]}.h5 is gone" \
    '1 already done, 1 to run$' -- sweep_in 0 "$run" "$first"

# seeds RUN_DIR: "id seed" of every row of sweep.h5, and "id seed" from every trial file.
seeds() {
    paste -d' ' <(h5_values "$1/sweep.h5" /table/id) <(h5_values "$1/sweep.h5" /table/seed)
    echo --
    local f
    for f in "$1"/trials/*.h5; do
        echo "$(basename "$f" .h5) $(printf '%u' "$(h5dump -a /seed "$f" | sed -n 's/^ *(0): //p')")"
    done
}

# Another sweep seed under --force: the same ids, other seeds, so every trial runs again, and
# each file then holds the seed its row names.
h5_values "$run/sweep.h5" /table/seed | sort >"$tmp/old-seeds"
sweep_with 8 "$both"
expect reseeded 0 'going on as --force says' \
    "trial ${ids[0]}: .* holds the trial run with seed [0-9]+, and the sweep gives it seed [0-9]+ now" \
    '0 already done, 2 to run$' '^2 done, 0 failed, 0 not run' \
    -- sweep_in 0 "$run" "$cfg" --force
seeds "$run" >"$tmp/seeds"
sed -n '1,/^--$/p' "$tmp/seeds" | sed '$d' | sort >"$tmp/row-seeds"
expect files-hold-row-seeds 0 -- cmp "$tmp/row-seeds" <(sed '1,/^--$/d' "$tmp/seeds" | sort)
expect seeds-changed 1 -- grep -qxFf "$tmp/old-seeds" <(cut -d' ' -f2 "$tmp/row-seeds")

# --force with a trial dropped: its file and adapter are listed, and kept.
sweep_with 8 '"jailbreak"'
one=$cfg
kept=$(h5_values "$run/sweep.h5" /table/id | grep -vx "$(sweep_in 0 "$run" "$one" --dry-run |
    awk '/^0 / { print $2 }')")
expect strays 0 "entries in $run belong to trials that are no longer in the sweep; they are kept" \
    "^  trials/$kept.h5$" "^  adapters/$kept$" '1 already done, 0 to run$' \
    -- sweep_in 0 "$run" "$one" --force
expect strays-kept 0 -- test -f "$run/trials/$kept.h5" -a -d "$run/adapters/$kept"

# Killed while a trial runs (sweep.h5 says running): the next start counts it and marks it.
# The rerun is killed at its second sweep.h5 update (the first trial's start, before its
# rename), so sweep.h5 keeps what the start wrote.
ARE_FAULT=trial_started:1 sweep_in 0 "$tmp/killed" "$first" >/dev/null 2>&1
expect killed-running 0 '^1$' -- sweep_count "$tmp/killed" running
ARE_FAULT=sweep_write:2 sweep_in 0 "$tmp/killed" "$first" >"$tmp/killed.log" 2>&1
expect interrupted-counted 0 '1 trial was interrupted when the sweep last stopped' \
    -- cat "$tmp/killed.log"
expect interrupted-marked 0 '^1$' -- sh -c "h5dump -d /table/error '$tmp/killed/sweep.h5' |
    grep -c 'interrupted: the sweep stopped while rank 0 on '"
expect interrupted-rerun 0 '^2 done, 0 failed, 0 not run' -- sweep_in 0 "$tmp/killed" "$first"

# A folder that a rank of another sweep still holds (here flock(1) in its place) is refused.
if command -v flock >/dev/null; then
    flock -s "$run/sweep.ranks.lock" sleep 30 &
    holder=$!
    sleep 0.2
    expect ranks-lock 1 "$run/sweep.ranks.lock: ranks of an earlier sweep still work in this folder" \
        -- sweep_in 0 "$run" "$one"
    flock -x "$run/sweep.lock" sleep 30 &
    holder2=$!
    sleep 0.2
    expect sweep-lock 1 "$run/sweep.lock: another sweep is running on this folder" \
        -- sweep_in 0 "$run" "$one"
    kill "$holder" "$holder2"
    wait "$holder" "$holder2" 2>/dev/null
else
    echo "skipped: flock(1) not found, the lock checks"
    skipped=$((skipped + 1))
fi

# Rank 0 failing mid-sweep (sweep.h5 cannot be updated: its .tmp name is taken by a folder)
# aborts the job at once (exit 1), rather than leave it hanging on the workers that wait for
# rank 0's answers (timeout's 124).
timeout 120 "${mpirun_cmd[@]}" -np 3 "$are" sweep "$first" "${small[@]}" \
    --set "output.dir=\"$tmp/abort\"" >"$tmp/abort.log" 2>&1 &
job=$!
until ls "$tmp"/abort/trials/*.tmp >/dev/null 2>&1 || ! kill -0 "$job" 2>/dev/null; do
    sleep 0.05
done
mkdir -p "$tmp/abort/sweep.h5.tmp/taken"
wait "$job"
expect rank0-fails 0 '^1$' -- echo $?
expect rank0-fails-said 0 "sweep.h5.tmp: cannot create" -- cat "$tmp/abort.log"

# An error in the config's own sweep.set is the file's, at its line (not a --set's).
sweep_config "$tmp/bad-set.cfg" 'sweep = {
  axes = ( { path = "task"; values = ["jailbreak"]; } );
  set = ["are.max_rounds=0"];
};'
line=$(grep -n 'set = \["are.max_rounds=0"\]' "$tmp/bad-set.cfg" | cut -d: -f1)
expect bad-set 1 "^are sweep: $tmp/bad-set.cfg:$line: sweep.set sets are.max_rounds=0: field" \
    -- "$are" sweep "$tmp/bad-set.cfg" --dry-run
expect_summary
