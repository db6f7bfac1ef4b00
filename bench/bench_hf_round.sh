#!/usr/bin/env bash
# One ARE round, `are run` (bench/MODEL_round.cfg) against transformers + PEFT
# (bench/hf_round.py) in the published code's style (batch 1) and batched, on the CPU with the
# same threads, the same prompts, template, layers, LoRA and discriminator. Each side runs
# round 0 (extraction, discriminator) and round 1 (one generator epoch, extraction, a fresh
# discriminator); round 1's phases are compared. `are` runs its generator at batch 1 (the
# published setting) and at --batch B, and at batch B with bf16 frozen matrices. The sides
# alternate (are, python, are, python, ...) so that load from other work hits all of them; each
# phase's best over the runs is shown, since load only ever makes a run slower.
#
# usage: bench/bench_hf_round.sh [path/to/are] [--model smollm2|qwen] [--train N] [--test N]
#                                [--threads N] [--batch B] [--runs R] [--python PATH]
# defaults: build/are, smollm2, 64 train and 32 test prompts (half of each class, the first rows
# of the refusal sets: data/refusal_*.jsonl for smollm2, data/smollm2/refusal_*.jsonl for qwen),
# 2 threads, B = 16 (smollm2) or 4 (qwen, issue 19's probe), 2 runs, the python of
# .venv-torch (torch 2.x, transformers >= 4.56, peft) or else .venv-smol.
# Needs the GGUF (scripts/fetch-model.sh smollm2 | qwen-1.5b), a python with transformers and
# peft (bench/README.md) and h5dump; exits 77 ("skipped") without them. Qwen2.5-Coder-1.5B
# needs about 7 GB of memory on the are side (fp32) and 10 GB on the Python side.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
are=$src/build/are
model=smollm2 train=64 test=32 threads=2 batch= runs=2 python=
while [ $# -gt 0 ]; do
    case $1 in
    --model | --train | --test | --threads | --batch | --runs | --python)
        [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; }
        declare "${1#--}=$2"
        shift 2
        ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) are=$1; shift ;;
    esac
done
case $model in
smollm2)
    gguf=models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf fetch=smollm2
    sets=data title="SmolLM2-135M-Instruct (Q4_1 GGUF, run in fp32)"
    shape="ChatML; hidden_states 10..14, LoRA r8 up/down blocks 8..12, MLP D 512 x 30 epochs"
    batch=${batch:-16}
    ;;
qwen)
    gguf=models/qwen2.5-coder-1.5b-instruct/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
    fetch=qwen-1.5b sets=data/smollm2 title="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF)"
    shape="ChatML + Qwen's system text; hidden_states 10..13, LoRA r8 up/down blocks 8..11,"
    shape="$shape MLP D 512 x 30 epochs on standardised features"
    batch=${batch:-4}
    ;;
*) echo "unknown model '$model'; one of smollm2, qwen" >&2; exit 2 ;;
esac
are=$(realpath -m "$are")
cd "$src" || exit 1
. tests/sweep_fixture.sh # h5_values
if [ -z "$python" ]; then
    python=$src/.venv-torch/bin/python
    [ -x "$python" ] || python=$src/.venv-smol/bin/python
fi
if [ ! -f "$gguf" ]; then
    echo "skipped: run scripts/fetch-model.sh $fetch"
    exit 77
fi
if ! [ -x "$python" ] || ! "$python" -c 'import peft, transformers' 2>/dev/null; then
    echo "skipped: no python with transformers and peft (.venv-torch or --python; bench/README.md)"
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
first_rows "$sets/refusal_train.jsonl" "$train" >"$tmp/prompts.jsonl"
first_rows "$sets/refusal_test.jsonl" "$test" >>"$tmp/prompts.jsonl"

# measured OUT CMD...: runs CMD (its output into OUT.log) and writes "peak_rss_mib wall_s" to OUT,
# the peak resident set of the process (ru_maxrss of the waited-for child), the same for all.
measured() {
    local out=$1
    shift
    "$python" -c 'import resource, subprocess, sys, time
start = time.perf_counter()
with open(sys.argv[1] + ".log", "w") as log:
    rc = subprocess.call(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as f:
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, wall, file=f)
sys.exit(rc)' "$out" "$@"
}

# run_are NAME B WEIGHTS: one `are run` with generator batch B and frozen matrices WEIGHTS;
# writes NAME.phases, round 1's "extract generator discriminator" seconds from the trial file.
run_are() {
    local name=$tmp/$1
    measured "$name" "$are" run "bench/${model}_round.cfg" --threads "$threads" \
        --set "tasks.bench.data=[\"$tmp/prompts.jsonl\"]" --set "output.dir=\"$name.out\"" \
        --set are.max_rounds=1 --set are.generator.epochs=1 --set "are.generator.batch_size=$2" \
        --set "base_weights=\"$3\"" ||
        { echo "are run failed:" >&2; cat "$name.log" >&2; exit 1; }
    grep '^memory' "$name.log" | head -1 >"$name.plan"
    local trial
    trial=$(ls "$name".out/trials/*.h5)
    for phase in extract generator discriminator; do
        h5_values "$trial" "/metrics/seconds_$phase" | sed -n 2p
    done | paste -sd' ' >"$name.phases"
}

# run_python NAME STYLE: bench/hf_round.py in STYLE (batch1 or batched).
run_python() {
    local name=$tmp/$1
    OPENBLAS_NUM_THREADS=$threads measured "$name" "$python" bench/hf_round.py --model "$model" \
        --style "$2" --data "$tmp/prompts.jsonl" --threads "$threads" ||
        { echo "bench/hf_round.py failed:" >&2; cat "$name.log" >&2; exit 1; }
    sed -n 's/^result //p' "$name.log" | tr ' ' '\n' |
        sed -n 's/^extract=//p; s/^generator=//p; s/^discriminator=//p' | paste -sd' ' \
        >"$name.phases"
    grep '^generator loss' "$name.log" >"$name.accuracy"
}

# show NAME LABEL RUN: one line of a run's figures.
show() {
    read -r e g d <"$tmp/$1.phases"
    read -r rss wall <"$tmp/$1"
    awk -v l="$2" -v r="$3" -v e="$e" -v g="$g" -v d="$d" -v rss="$rss" -v w="$wall" 'BEGIN {
        printf "run %d  %-22s extract %7.2f  generator %7.2f  discriminator %6.2f  round %7.2f" \
               "  process %6.1f s  peak RSS %5.0f MiB\n", r, l, e, g, d, e + g + d, w, rss }'
}

echo "bench_hf_round: $title, $threads threads"
echo "cpu: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(nproc) cores;" \
    "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo "are: $are; $("$are" info 2>/dev/null | grep '^blas:')"
echo "python: $("$python" -c 'import torch, transformers, peft
print("torch", torch.__version__, "transformers", transformers.__version__,
      "peft", peft.__version__)')"
echo "prompts: $train train + $test test (first rows of each class of $sets/refusal_*.jsonl), $shape"
echo
sides="are1 areB areBbf16 py1 pyB"
label_are1="are b=1" label_areB="are b=$batch" label_areBbf16="are b=$batch bf16"
label_py1="transformers+PEFT b=1" label_pyB="transformers+PEFT b=$batch"
for r in $(seq 1 "$runs"); do
    run_are "are1.$r" 1 fp32 && show "are1.$r" "$label_are1" "$r"
    run_python "py1.$r" batch1 && show "py1.$r" "$label_py1" "$r"
    run_are "areB.$r" "$batch" fp32 && show "areB.$r" "$label_areB" "$r"
    run_python "pyB.$r" batched && show "pyB.$r" "$label_pyB" "$r"
    run_are "areBbf16.$r" "$batch" bf16 && show "areBbf16.$r" "$label_areBbf16" "$r"
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
echo "best of $runs runs, round 1 (seconds):"
for s in $sides; do
    eval "l=\$label_$s"
    echo "$l|$(best "$s")"
done | awk -F'|' '
    { name[NR] = $1; split($2, v, " "); for (i = 1; i <= 6; i++) x[NR, i] = v[i] }
    END {
        printf "%-24s %9s %10s %8s %9s %9s %9s\n", "side", "extract", "generator", "D",
               "round", "peak MiB", "process s"
        for (s = 1; s <= NR; s++)
            printf "%-24s %9.2f %10.2f %8.2f %9.2f %9.0f %9.1f\n", name[s], x[s, 1], x[s, 2],
                   x[s, 3], x[s, 4], x[s, 5], x[s, 6]
        # sides: 1 are b=1, 2 are b=B, 3 are b=B bf16, 4 python b=1, 5 python batched
        print "\nratios, round (and generator epoch): transformers+PEFT / are"
        printf "  published style b=1 / are b=1:   %5.1fx (%5.1fx)\n", x[4, 4] / x[1, 4], x[4, 2] / x[1, 2]
        printf "  published style b=1 / are b=B:   %5.1fx (%5.1fx)\n", x[4, 4] / x[2, 4], x[4, 2] / x[2, 2]
        printf "  batched PyTorch / are b=B:       %5.1fx (%5.1fx)\n", x[5, 4] / x[2, 4], x[5, 2] / x[2, 2]
        printf "  batched PyTorch / are b=B bf16:  %5.1fx (%5.1fx)\n", x[5, 4] / x[3, 4], x[5, 2] / x[3, 2]
    }'
echo "fresh discriminator after the round: $(cat "$tmp/py1.1.accuracy") (python b=1);" \
    "$(cat "$tmp/pyB.1.accuracy") (python batched)"
echo "memory plans: fp32: $(cat "$tmp/areB.1.plan"); bf16: $(cat "$tmp/areBbf16.1.plan")"
echo "process wall: the whole command (load, tokenizing; are also its held-out perplexity and"
echo "trial file); peak RSS: the process's maximum resident set."
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
