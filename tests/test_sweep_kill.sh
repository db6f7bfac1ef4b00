#!/usr/bin/env bash
# Resume after SIGKILL: a sweep under mpirun (rank 0 and two workers) is killed at several
# instants - a worker in the middle of writing a trial file, a worker whose trial file is in
# place before sweep.h5 knows, rank 0 right after marking a trial running or recording one,
# rank 0 inside a sweep.h5 update, the whole job at a random moment from outside, and mpirun
# alone (its ranks must die with it within 2 s) - then the same command is rerun until it
# finishes. Afterwards every trial finished exactly once (a
# trial file seen finished after a kill is never written again), every file reads, and the
# summary metrics equal those of an uninterrupted sweep.
# usage: test_sweep_kill.sh path/to/are SOURCE_DIR
set -u
are=$1
cd "$2" || exit 1 # the configs' paths are relative to the source tree
. "$(dirname "$0")/expect.sh"
. "$(dirname "$0")/sweep_fixture.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sweep_require

# Both directions x two LoRA ranks x two repeats: 8 trials of about a second.
sweep_config "$tmp/sweep.cfg" 'sweep = {
  seed = 7;
  repeats = 2;
  axes = (
    { path = "task"; values = ["jailbreak", "defense"]; },
    { path = "are.generator.rank"; values = [4, 8]; }
  );
};'
trials=8

# session_pids SID: the live processes of session SID, from /proc (procps may not be installed);
# zombies are dead already (a container's init may be slow to reap them).
session_pids() {
    local stat line fields
    for stat in /proc/[0-9]*/stat; do
        { read -r line <"$stat"; } 2>/dev/null || continue
        read -ra fields <<<"${line##*) }" # state ppid pgrp session ...
        [ "${fields[3]}" = "$1" ] && [ "${fields[0]}" != Z ] && basename "${stat%/stat}"
    done
}

# finished RUN_DIR: how many trial files are finished.
finished() {
    local files=("$1"/trials/*.h5)
    [ -e "${files[0]}" ] && echo "${#files[@]}" || echo 0
}

# job LOG FAULT RUN_DIR: the sweep under mpirun -np 3 into RUN_DIR, in a session of its own,
# output in LOG. FAULT is a crash point for ARE_FAULT ("trial_done:2"), or "outside:K:MS": once
# K more trials have finished, wait MS milliseconds, then SIGKILL every process of the job at
# once, as a batch system or a power cut would; or "mpirun:K:MS": the same, but SIGKILL mpirun
# alone (its ranks must die with it). Returns mpirun's exit status once no process of the job is
# left, and sets `outlived` to the tenths of a second that some process of the job outlived
# mpirun. Open MPI's session folder goes under $tmp (TMPDIR): a killed mpirun leaves it behind.
job() {
    local log=$1 fault=$2 dir=$3 env=(env "TMPDIR=$tmp") outside=0 k ms goal pid rc tenths=0
    case $fault in
    outside:* | mpirun:*)
        outside=1
        IFS=: read -r _ k ms <<<"$fault"
        goal=$(($(finished "$dir") + k))
        ;;
    *) env+=("ARE_FAULT=$fault") ;;
    esac
    setsid "${env[@]}" "${mpirun_cmd[@]}" -np 3 "$are" sweep "$tmp/sweep.cfg" "${small[@]}" \
        --set "output.dir=\"$dir\"" >"$log" 2>&1 &
    pid=$! # setsid execs mpirun in place, so the session's id is mpirun's pid
    if [ $outside -eq 1 ]; then
        while [ "$(finished "$dir")" -lt "$goal" ] && [ -n "$(session_pids "$pid")" ]; do
            sleep 0.05
        done
        sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
        if [ "${fault%%:*}" = mpirun ]; then
            kill -9 "$pid"
        else
            kill -9 $(session_pids "$pid") 2>/dev/null
        fi
    fi
    wait "$pid" 2>/dev/null # no "Killed" notice: the status says it
    rc=$?
    while [ -n "$(session_pids "$pid")" ] && [ $((tenths += 1)) -le 100 ]; do sleep 0.1; done
    outlived=$tenths
    kill -9 $(session_pids "$pid") 2>/dev/null # ranks that outlived mpirun by 10 s
    return "$rc"
}

# readable RUN_DIR: h5dump reads sweep.h5 (when there is one) and every finished trial file.
readable() {
    local f
    for f in "$1"/sweep.h5 "$1"/trials/*.h5; do
        [ -e "$f" ] || continue
        h5dump "$f" >/dev/null 2>&1 || { echo "unreadable: $f"; return 1; }
    done
}

# The reference: the same sweep, never interrupted.
expect reference 0 "^$trials done, 0 failed, 0 not run" -- sweep_in 3 "$tmp/ref" "$tmp/sweep.cfg"
sweep_metrics "$tmp/ref" >"$tmp/ref.metrics"
expect reference-metrics 0 "^$trials\$" -- sh -c "cut -d' ' -f1 '$tmp/ref.metrics' | uniq | wc -l"

# scenario NAME FAULT...: a fresh sweep killed at each FAULT in turn (each run resuming what the
# one before left), rerun until it finishes, then checked against the reference.
scenario() {
    local name=$1 dir=$tmp/$1 fault
    shift
    : >"$tmp/$name.stamps"
    for fault in "$@"; do
        job "$tmp/$name.log" "$fault" "$dir"
        expect "$name $fault: killed" 0 -- test $? -eq 137
        case ${fault%%:*} in
        outside) ;;
        mpirun)
            echo "$name $fault: its last rank ended $outlived tenths of a second after mpirun"
            expect "$name $fault: ranks died with mpirun" 0 -- test "$outlived" -le 20
            ;;
        *) expect "$name $fault: at the point" 0 'exited on signal 9' -- cat "$tmp/$name.log" ;;
        esac
        expect "$name $fault: readable" 0 -- readable "$dir"
        # The trials finished so far, as the kill left them: none may ever change again.
        trial_stamps "$dir" >>"$tmp/$name.stamps"
    done
    for _ in 1 2 3; do
        sweep_in 3 "$dir" "$tmp/sweep.cfg" >"$tmp/$name.log" 2>&1 && break
    done
    echo "$name: $(sort -u "$tmp/$name.stamps" | wc -l) trials finished before the last kill"
    expect "$name: finished" 0 "^$trials done, 0 failed, 0 not run" -- cat "$tmp/$name.log"
    expect "$name: each trial once" 1 \
        -- grep . <(comm -23 <(sort -u "$tmp/$name.stamps") <(trial_stamps "$dir" | sort))
    expect "$name: every trial file" 0 -- cmp <(ls "$tmp/ref/trials") <(ls "$dir/trials")
    expect "$name: every adapter" 0 "^$((2 * trials))\$" -- sh -c \
        "ls '$dir'/adapters/*/adapter_config.json '$dir'/adapters/*/adapter_model.safetensors |
         wc -l"
    expect "$name: no leftovers" 1 -- grep '\.tmp$' <(ls "$dir" "$dir/trials")
    expect "$name: readable" 0 -- readable "$dir"
    expect "$name: all done" 0 "^$trials\$" -- sweep_count "$dir" "done"
    expect "$name: same metrics" 0 -- cmp "$tmp/ref.metrics" <(sweep_metrics "$dir")
}

# Crash points count per process: a worker's Nth round written (its second trial's file half
# written), a worker's Nth trial file in place (sweep.h5 not yet told), rank 0's Nth trial
# marked running or Nth result recorded, rank 0's Nth sweep.h5 update between the .tmp file's
# fsync and the rename (the first has no sweep.h5 yet).
scenario mid-trial-file trial_round:3
scenario file-before-table trial_done:2
scenario marked-running trial_started:5
scenario recorded trial_recorded:3
scenario sweep-write sweep_write:1 sweep_write:6
# From outside at a random moment, mid-sweep: after 1 to 4 of the 8 trials and up to 250 ms
# more (printed, so that a failure can be replayed).
outside=outside:$((1 + RANDOM % 4)):$((RANDOM % 250))
echo "random kill: $outside (K trials finished, then MS milliseconds)"
scenario outside "$outside"
# mpirun alone killed mid-trial: its ranks die with it (within 2 s) instead of computing on.
scenario mpirun "mpirun:1:$((RANDOM % 250))"
# Kill after kill on one folder, each run resuming what the run before left. Each comes early
# in its run, so that trials are left for the next; the kill from outside first, as it lets the
# most trials finish (up to three; had it come last, the runs before could have finished all
# eight, and the sweep would have ended before the kill).
outside=outside:1:$((RANDOM % 250))
echo "chain, first kill: $outside"
scenario chain "$outside" trial_started:2 sweep_write:2 trial_round:2 trial_done:1 trial_recorded:1
expect_summary
