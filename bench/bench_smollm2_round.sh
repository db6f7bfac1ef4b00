#!/usr/bin/env bash
# One ARE round on SmolLM2-135M-Instruct, `are run` (bench/smollm2_round.cfg) against the
# published code's stack, transformers + PEFT at batch 1 (bench/smollm2_round.py), on the CPU
# with the same threads, the same prompts, template, layers, LoRA and discriminator. Each side
# runs round 0 (extraction, discriminator) and round 1 (one generator epoch, extraction, a fresh
# discriminator); round 1's phases are compared. `are` runs its generator at batch 1 (the
# published setting) and at --batch B. The sides alternate (are, python, are, python, ...) so
# that load from other work hits both; each phase's best over the runs is shown, since load
# only ever makes a run slower.
#
# usage: bench/bench_smollm2_round.sh [path/to/are] [--train N] [--test N] [--threads N]
#                                     [--batch B] [--runs R]
# defaults: build/are, 64 train and 32 test prompts (half of each class, the first rows of
# data/refusal_train.jsonl and data/refusal_test.jsonl), 2 threads, B = 16, 2 runs.
# Needs the GGUF (scripts/fetch-smollm2.sh), .venv-smol with peft (bench/README.md) and h5dump;
# exits 77 ("skipped") without them.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
are=$src/build/are
train=64 test=32 threads=2 batch=16 runs=2
while [ $# -gt 0 ]; do
    case $1 in
    --train | --test | --threads | --batch | --runs)
        [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; }
        declare "${1#--}=$2"
        shift 2
        ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) are=$1; shift ;;
    esac
done
are=$(realpath -m "$are")
cd "$src" || exit 1
. tests/sweep_fixture.sh # h5_values
py=$src/.venv-smol/bin/python
if [ ! -f models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
    echo "skipped: run scripts/fetch-smollm2.sh"
    exit 77
fi
if ! [ -x "$py" ] || ! "$py" -c 'import peft, transformers' 2>/dev/null; then
    echo "skipped: .venv-smol with transformers and peft is missing (see bench/README.md)"
    exit 77
fi
if ! command -v h5dump >/dev/null; then
    echo "skipped: h5dump not found"
    exit 77
fi
[ -x "$are" ] || { echo "no are binary at $are" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The prompts both sides read: the first N/2 rows of each class of each split.
first_rows() { for label in 0 1; do grep "\"label\": $label" "$1" | head -n $(($2 / 2)); done; }
first_rows data/refusal_train.jsonl "$train" >"$tmp/prompts.jsonl"
first_rows data/refusal_test.jsonl "$test" >>"$tmp/prompts.jsonl"

# measured OUT CMD...: runs CMD (its output into OUT.log) and writes "peak_rss_mib wall_s" to OUT,
# the peak resident set of the process (ru_maxrss of the waited-for child), the same for both.
measured() {
    local out=$1
    shift
    "$py" -c 'import resource, subprocess, sys, time
start = time.perf_counter()
with open(sys.argv[1] + ".log", "w") as log:
    rc = subprocess.call(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as f:
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, wall, file=f)
sys.exit(rc)' "$out" "$@"
}

# run_are NAME B: one `are run` with generator batch B; writes NAME.phases, round 1's
# "extract generator discriminator" seconds from the trial file.
run_are() {
    local name=$tmp/$1
    measured "$name" "$are" run bench/smollm2_round.cfg --threads "$threads" \
        --set "tasks.bench.data=[\"$tmp/prompts.jsonl\"]" --set "output.dir=\"$name.out\"" \
        --set are.max_rounds=1 --set are.generator.epochs=1 --set "are.generator.batch_size=$2" ||
        { echo "are run failed:" >&2; cat "$name.log" >&2; exit 1; }
    local trial
    trial=$(ls "$name".out/trials/*.h5)
    for phase in extract generator discriminator; do
        h5_values "$trial" "/metrics/seconds_$phase" | sed -n 2p
    done | paste -sd' ' >"$name.phases"
}

run_python() {
    local name=$tmp/$1
    OPENBLAS_NUM_THREADS=$threads measured "$name" "$py" bench/smollm2_round.py \
        --data "$tmp/prompts.jsonl" --threads "$threads" ||
        { echo "bench/smollm2_round.py failed:" >&2; cat "$name.log" >&2; exit 1; }
    sed -n 's/^result //p' "$name.log" | tr ' ' '\n' |
        sed -n 's/^extract=//p; s/^generator=//p; s/^discriminator=//p' | paste -sd' ' \
        >"$name.phases"
}

# show NAME LABEL RUN: one line of a run's figures.
show() {
    read -r e g d <"$tmp/$1.phases"
    read -r rss wall <"$tmp/$1"
    awk -v l="$2" -v r="$3" -v e="$e" -v g="$g" -v d="$d" -v rss="$rss" -v w="$wall" 'BEGIN {
        printf "run %d  %-22s extract %7.2f  generator %7.2f  discriminator %6.2f  round %7.2f" \
               "  process %6.1f s  peak RSS %5.0f MiB\n", r, l, e, g, d, e + g + d, w, rss }'
}

echo "bench_smollm2_round: SmolLM2-135M-Instruct (Q4_1 GGUF, run in fp32), $threads threads"
echo "cpu: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(nproc) cores;" \
    "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo "are: $are; $("$are" info 2>/dev/null | grep '^blas:')"
echo "python: $("$py" -c 'import torch, transformers, peft
print("torch", torch.__version__, "transformers", transformers.__version__,
      "peft", peft.__version__)')"
echo "prompts: $train train + $test test (first rows of each class of data/refusal_*.jsonl)," \
    "ChatML; hidden_states 10..14, LoRA r8 up/down blocks 8..12, MLP D 512 x 30 epochs"
echo
for r in $(seq 1 "$runs"); do
    run_are "are1.$r" 1 && show "are1.$r" "are b=1" "$r"
    run_are "areB.$r" "$batch" && show "areB.$r" "are b=$batch" "$r"
    run_python "py.$r" && show "py.$r" "transformers+PEFT b=1" "$r"
done

# best SIDE: the smallest of each column over the runs: extract generator discriminator round
# peak_rss wall.
best() {
    for r in $(seq 1 "$runs"); do
        echo "$(cat "$tmp/$1.$r.phases") $(cat "$tmp/$1.$r")"
    done | awk 'NR == 1 { for (i = 1; i <= 6; i++) m[i] = 1e30 }
        { v[1] = $1; v[2] = $2; v[3] = $3; v[4] = $1 + $2 + $3; v[5] = $4; v[6] = $5
          for (i = 1; i <= 6; i++) if (v[i] < m[i]) m[i] = v[i] }
        END { for (i = 1; i <= 6; i++) printf "%s ", m[i]; print "" }'
}
echo
echo "best of $runs runs, round 1 (seconds; ratio = transformers+PEFT / are):"
paste -d' ' <(best are1) <(best areB) <(best py) | awk -v b="$batch" '{
    split("extract|generator epoch|discriminator|round|peak RSS MiB|process wall s", name, "|")
    printf "%-16s %9s %9s %12s %10s %10s\n", "phase", "are b=1", "are b=" b, "transf+PEFT",
           "ratio b=1", "ratio b=" b
    for (i = 1; i <= 6; i++) {
        a1 = $i; ab = $(i + 6); p = $(i + 12)
        ratio1 = i <= 4 ? sprintf("%.1fx", p / a1) : "-"
        ratiob = i <= 4 ? sprintf("%.1fx", p / ab) : "-"
        f = i == 5 ? "%-16s %9.0f %9.0f %12.0f %10s %10s\n" : "%-16s %9.2f %9.2f %12.2f %10s %10s\n"
        printf f, name[i], a1, ab, p, ratio1, ratiob
        if (i == 4) { g1 = p / a1; gb = p / ab }
    }
    printf "goal: are >= 10x faster per round: b=1 %.1fx (%s), b=%d %.1fx (%s)\n", g1,
           (g1 >= 10 ? "met" : "not met"), b, gb, (gb >= 10 ? "met" : "not met")
}'
echo "process wall: the whole command (load, tokenizing; are also its held-out perplexity and"
echo "trial file); peak RSS: the process's maximum resident set."
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
