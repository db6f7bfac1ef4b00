#!/usr/bin/env bash
# `are sweep` orchestration on tinychat: (a) the cost per trial of the sweep machinery alone,
# with trials that fail at once (their data file is missing), so that only handing out,
# recording (two sweep.h5 updates per trial) and messages remain; (b) throughput of tiny trials
# (about a second each) with 1, 2 and 4 workers; (c) in both, the CPU time of every rank and of
# mpirun, to show that rank 0 sleeps while it waits (Open MPI's blocking receive would spin a
# core at 100%) and the workers get the cores.
# usage: bench/bench_sweep.sh [path/to/are] [--quick]     (needs mpirun and h5dump)
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
are=$(realpath "${1:-$src/build/are}")
quick=0
[ "${2:-}" = --quick ] && quick=1
cd "$src" || exit 1
. tests/sweep_fixture.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sweep_require >&2 || exit 1

# cpu_seconds TIMES_FILE: user + system seconds of the children in the output of bash's `times`
# (its second line, "0m1.234s 0m0.010s").
cpu_seconds() {
    sed -n '2s/[ms]/ /gp' "$1" | awk '{ printf "%.2f\n", $1 * 60 + $2 + $3 * 60 + $4 }'
}

# Each rank runs under this wrapper, which writes "rank cpu_seconds" to cpu.RANK beside it.
{
    echo '#!/usr/bin/env bash'
    declare -f cpu_seconds
    cat <<'EOF'
"$@"
rc=$?
out=$(dirname "$0")/cpu.$OMPI_COMM_WORLD_RANK
times >"$out.times"
echo "$OMPI_COMM_WORLD_RANK $(cpu_seconds "$out.times")" >"$out"
exit $rc
EOF
} >"$tmp/cpu.sh"
chmod +x "$tmp/cpu.sh"

# timed NP RUN_DIR CONFIG ARGS...: the sweep under mpirun with NP ranks, each in the wrapper.
# Prints "wall rank0_cpu workers_cpu mpirun_cpu" in seconds: rank 0's CPU time, the workers'
# together, and mpirun's own (every descendant's minus the ranks'; meaningful only when the
# sweep exits 0: after a failed trial mpirun aborts the job, and the figure came out negative).
timed() {
    local np=$1 dir=$2 config=$3 start end
    shift 3
    rm -f "$tmp"/cpu.[0-9]*
    start=$(date +%s%N)
    "${mpirun_cmd[@]}" -np "$np" "$tmp/cpu.sh" "$are" sweep "$config" "${small[@]}" \
        --set "output.dir=\"$dir\"" "$@" >"$dir.log" 2>&1
    end=$(date +%s%N)
    times >"$tmp/all.times" # in a subshell of its own: only this mpirun's descendants
    cat "$tmp"/cpu.[0-9] "$tmp"/cpu.[0-9][0-9] 2>/dev/null |
        awk -v wall=$(((end - start) / 1000000)) -v all="$(cpu_seconds "$tmp/all.times")" '
            $1 == 0 { rank0 = $2 } $1 > 0 { workers += $2 }
            END { printf "%.2f %.2f %.2f %.2f\n", wall / 1000, rank0, workers,
                         all - rank0 - workers }'
}

# sweep_of N: a sweep block of N trials, repeats of one combination (their ids differ by repeat).
sweep_of() {
    printf 'sweep = { seed = 7; repeats = %d;
                      axes = ( { path = "are.generator.rank"; values = [4]; } ); };' "$1"
}

echo "bench_sweep: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo "are: $are"

# (a) One worker: rank 0 and the worker pass each trial back and forth, nothing overlaps.
echo
echo "(a) orchestration: trials that fail at once (missing data file), -np 2 (1 worker)"
printf '%7s %7s %9s %12s %13s %13s\n' trials "wall s" ms/trial "marginal ms" "rank 0 cpu ms" \
    "worker cpu ms"
printf '%7s %7s %9s %12s %13s %13s\n' "" "" "" "per trial" "per trial" "per trial"
sizes=(32 128 512)
[ $quick -eq 1 ] && sizes=(8 32)
last_n=0 last_wall=0
for n in "${sizes[@]}"; do
    sweep_config "$tmp/instant$n.cfg" "$(sweep_of "$n")"
    read -r wall rank0 workers _ < <(timed 2 "$tmp/instant$n" "$tmp/instant$n.cfg" \
        --set "tasks.jailbreak.data=[\"$tmp/missing.jsonl\"]")
    failed=$(sweep_count "$tmp/instant$n" failed)
    [ "$failed" -eq "$n" ] || echo "warning: $failed of $n trials failed as meant" >&2
    awk -v n="$n" -v wall="$wall" -v n0="$last_n" -v w0="$last_wall" -v r0="$rank0" \
        -v w="$workers" 'BEGIN {
        marginal = n0 ? sprintf("%.1f", 1000 * (wall - w0) / (n - n0)) : "-"
        printf "%7d %7.2f %9.1f %12s %13.1f %13.1f\n", n, wall, 1000 * wall / n, marginal,
            1000 * r0 / n, 1000 * w / n }'
    last_n=$n last_wall=$wall
done
echo "marginal: the wall time each trial added since the row above (the start-up left out)."

# (b) Tiny trials, --threads 1 per rank; more workers than cores oversubscribe them.
n=16
[ $quick -eq 1 ] && n=8
echo
echo "(b) throughput: $n tiny trials (1 round, short evaluations), --threads 1 per rank"
sweep_config "$tmp/tiny.cfg" "$(sweep_of "$n")"
printf '%7s %5s %7s %10s %12s %12s %12s %12s %11s\n' workers ranks "wall s" trials/min \
    "rank 0 cpu" "rank 0 cpu" "workers cpu" "workers'" "mpirun cpu"
printf '%7s %5s %7s %10s %12s %12s %12s %12s %11s\n' "" "" "" "" s "% of wall" s cores s
for workers in 1 2 4; do
    read -r wall rank0 cpu mpirun < <(timed $((workers + 1)) "$tmp/tiny$workers" "$tmp/tiny.cfg")
    finished=$(sweep_count "$tmp/tiny$workers" "done")
    [ "$finished" -eq "$n" ] || echo "warning: only $finished of $n trials done" >&2
    awk -v k="$workers" -v n="$n" -v wall="$wall" -v r0="$rank0" -v w="$cpu" -v m="$mpirun" '
        BEGIN { printf "%7d %5d %7.2f %10.1f %12.2f %11.1f%% %12.2f %12.2f %11.2f\n", k, k + 1,
                       wall, 60 * n / wall, r0, 100 * r0 / wall, w, w / wall, m }'
done
echo "workers' cores: the workers' CPU time over the wall time, the cores they got."
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
