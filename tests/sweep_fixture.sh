# Shared by the sweep tests (test_sweep.sh, test_sweep_kill.sh): the skip checks, a small sweep
# of short trials, MPI launches, and sweep.h5 and trial files read through h5dump (CI has no
# Python). Source it after expect.sh, with $are and $tmp set and the source tree as the working
# directory (the configs' paths are relative to it).
. "$(dirname "${BASH_SOURCE[0]}")/h5_dump.sh"

# Exits 77 (skipped) when the model or a tool the sweep tests need is missing.
sweep_require() {
    if [ ! -f models/tinychat/model.safetensors ]; then
        echo "skipped: models/tinychat is not there"
        exit 77
    fi
    local tool
    for tool in mpirun h5dump; do
        if ! command -v "$tool" >/dev/null; then
            echo "skipped: $tool not found"
            exit 77
        fi
    done
}

# sweep_config OUT BLOCK: writes OUT, configs/tinychat.cfg followed by BLOCK (a sweep block).
# A copy rather than an @include, so that editing tinychat.cfg while a test runs cannot change
# the trials behind ids already planned. Also writes $tmp/task.jsonl, 48 train and 24 test
# prompts with both classes in each split, and sets `small`, the overrides that make a trial
# take about a second: that task for both directions, one round, short evaluations.
sweep_config() {
    { cat configs/tinychat.cfg; printf "%s\n" "$2"; } >"$1"
    local label
    { for label in 1 0; do grep "\"label\": $label" data/refusal_train.jsonl | head -24; done
      for label in 1 0; do grep "\"label\": $label" data/refusal_test.jsonl | head -12; done
    } >"$tmp/task.jsonl"
    small=(--set "tasks.jailbreak.data=[\"$tmp/task.jsonl\"]"
        --set "tasks.defense.data=[\"$tmp/task.jsonl\"]"
        --set are.max_rounds=1 --set are.discriminator.epochs=5 --set are.generator.epochs=1
        --set evaluation.max_prompts=4 --set evaluation.perplexity_docs=4
        --set evaluation.max_new_tokens=8 --threads 1)
}

# mpirun_cmd: mpirun allowing more ranks than cores, and root (CI runs as root). Open MPI keeps
# its allocations until exit by design, so leak checks are off under mpirun; ASan still checks
# every access.
mpirun_cmd=(env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" mpirun --oversubscribe)

# mpi NP ARGS...: `are ARGS` under mpirun with NP ranks.
mpi() {
    local np=$1
    shift
    "${mpirun_cmd[@]}" -np "$np" "$are" "$@"
}

# sweep_metrics RUN_DIR: "id metric value" for every summary metric of every trial in sweep.h5,
# sorted, so that two sweeps compare whatever order their trials finished in; the trial's wall
# time ("seconds") is left out as the one metric that differs between runs.
sweep_metrics() {
    { h5_values "$1/sweep.h5" /table/id; echo --; h5_values "$1/sweep.h5" /table/metric_names
      echo --; h5_values "$1/sweep.h5" /table/metrics; } |
        awk '$0 == "--" { part++; next }
             part == 0 { id[n_ids++] = $0 }
             part == 1 { name[n_names++] = $0 }
             part == 2 { col = k % n_names; row = (k - col) / n_names; k++
                         if (name[col] != "seconds") print id[row], name[col], $0 }' | sort
}

# sweep_count RUN_DIR STATUS: how many rows of sweep.h5 have that status.
sweep_count() {
    h5_values "$1/sweep.h5" /table/status | grep -cx "$2"
}

# trial_stamps RUN_DIR: "id start_time inode mtime" for each finished trial file. A trial that
# ran again would have a later start time and a new file (a new inode).
trial_stamps() {
    local f
    for f in "$1"/trials/*.h5; do
        [ -e "$f" ] || continue
        echo "$(basename "$f" .h5) $(h5_attr "$f" start_time) $(stat -c '%i %y' "$f")"
    done
}

# sweep_in NP RUN_DIR CONFIG ARGS...: `are sweep CONFIG` with the small overrides into RUN_DIR,
# under mpirun with NP ranks, or alone (no mpirun) when NP is 0.
sweep_in() {
    local np=$1 dir=$2 config=$3
    shift 3
    local args=(sweep "$config" "${small[@]}" --set "output.dir=\"$dir\"" "$@")
    if [ "$np" -eq 0 ]; then "$are" "${args[@]}"; else mpi "$np" "${args[@]}"; fi
}
