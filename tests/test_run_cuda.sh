#!/usr/bin/env bash
# A whole tinychat ARE trial on the GPU reaches the CPU's outcome: the jailbreak edit takes the
# harmful refusal rate from the base model's to near zero on both, with fp32 and with bf16
# matrices, and the base model measures the same on every device. Without a GPU only the
# refusal of --device cuda is checked and the test reports skipped.
# usage: test_run_cuda.sh path/to/are SOURCE_DIR [--emulated]
# --emulated: `are` is built on the CUDA emulator (tests/cuda_emulator), which runs the kernels
# on the CPU some thousand times slower than a GPU, so the trial is cut down: an eighth of the
# training prompts and a quarter of the test prompts, one round at twice the learning rate, 16
# prompts per evaluated set, shorter answers.
set -u
are=$1
emulated=false
[ "${3:-}" = --emulated ] && emulated=true
cd "$2" || exit 1 # the config's paths are relative to the source tree
. "$(dirname "$0")/expect.sh"
. "$(dirname "$0")/h5_dump.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cfg=configs/tinychat.cfg
if [ ! -f models/tinychat/model.safetensors ]; then
    echo "skipped: models/tinychat is not there"
    exit 77
fi

gpus=$("$are" info 2>/dev/null | sed -n 's/^cuda devices on this node: //p')
if [ "${gpus:-0}" -eq 0 ]; then
    expect no-gpu 1 'device cuda: (no CUDA device on this node|this build of are has no CUDA)' \
        -- "$are" run "$cfg" --device cuda --set "output.dir=\"$tmp/none\""
    expect_summary >/dev/null
    [ "$failed" -eq 0 ] || exit 1
    echo "skipped: no CUDA device (--device cuda is refused as it should be)"
    exit 77
fi

# The jailbreak task on the CPU, and on the GPU with fp32 and bf16 matrices.
settings=(--set are.max_rounds=3 --set evaluation.max_prompts=64)
if $emulated; then
    awk 'NR % 8 == 1' data/refusal_train.jsonl >"$tmp/train.jsonl"
    awk 'NR % 4 == 1' data/refusal_test.jsonl >"$tmp/test.jsonl"
    settings=(--set "tasks.jailbreak.data=[\"$tmp/train.jsonl\", \"$tmp/test.jsonl\"]"
        --set are.max_rounds=1 --set are.generator.lr=2e-3 --set evaluation.max_prompts=16
        --set evaluation.max_new_tokens=24 --set evaluation.perplexity_docs=20)
fi
run() { # NAME ARGS...: the trial's printed table into $tmp/NAME.out, its exit code NAME.rc
    local name=$1
    shift
    "$are" run "$cfg" "${settings[@]}" --set "output.dir=\"$tmp/$name\"" "$@" \
        >"$tmp/$name.out" 2>"$tmp/$name.err"
    echo $? >"$tmp/$name.rc"
}
if $emulated; then
    # The emulator is a CPU program: its two trials side by side, a core each.
    run cpu --device cpu
    run cuda_fp32 --device cuda --set 'base_weights="fp32"' &
    run cuda_bf16 --device cuda --set 'base_weights="bf16"' &
    wait
else
    # One GPU process at a time: a GPU in Exclusive_Process mode refuses a second context (and
    # a Prohibited one any). The CPU trial needs no GPU and runs beside them.
    mode=$(nvidia-smi --query-gpu=compute_mode --format=csv,noheader 2>/dev/null | head -1)
    echo "GPU compute mode: ${mode:-unknown (no nvidia-smi)}"
    if [ "$mode" = Prohibited ]; then
        echo "skipped: the GPU's compute mode is Prohibited: no process may use it"
        exit 77
    fi
    run cpu --device cpu &
    run cuda_fp32 --device cuda --set 'base_weights="fp32"'
    run cuda_bf16 --device cuda --set 'base_weights="bf16"'
    wait
fi
for name in cpu cuda_fp32 cuda_bf16; do
    if [ "$(cat "$tmp/$name.rc")" = 0 ]; then passed=$((passed + 1)); else
        echo "FAIL $name: the trial did not finish" >&2
        sed 's/^/    /' "$tmp/$name.err" >&2
        failed=$((failed + 1))
    fi
done
grep -q 'memory on cuda:' "$tmp/cuda_bf16.err" && passed=$((passed + 1)) ||
    { echo "FAIL: no memory plan printed for the GPU trial" >&2; failed=$((failed + 1)); }

# metric NAME SET METRIC COLUMN (3 = base, 4 = edited)
metric() { awk -v s="$2" -v m="$3" -v c="$4" '$1 == s && $2 == m { print $c }' "$tmp/$1.out"; }
close() { # A B TOL: |A - B| <= TOL
    awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= t) }'
}
check() { # NAME CONDITION-COMMAND...
    local name=$1
    shift
    if "$@"; then passed=$((passed + 1)); else
        echo "FAIL $name: $*" >&2
        failed=$((failed + 1))
    fi
}
base_cpu=$(metric cpu harmful refusal_rate 3)
for dev in cuda_fp32 cuda_bf16; do
    # The base model's greedy answers: fp32 on the GPU sums in another order, bf16 rounds the
    # weights; either may flip a rare near-tie token, not the refusal rate.
    check "$dev base refusal" close "$(metric $dev harmful refusal_rate 3)" "$base_cpu" 0.05
    check "$dev base harmless answers" close "$(metric $dev harmless answer_rate 3)" \
        "$(metric cpu harmless answer_rate 3)" 0.05
    # Held-out perplexity averages thousands of tokens: rounding moves it by well under 1%.
    check "$dev base perplexity" close "$(metric $dev held_out_text perplexity 3)" \
        "$(metric cpu held_out_text perplexity 3)" 0.02
    # The edit's outcome: the harmful refusal rate falls from ~1 to near 0 on every device.
    check "$dev edited refusal" close "$(metric $dev harmful refusal_rate 4)" 0 0.25
done

# The base model element by element, from the trial files: its representations (round 0) and
# its greedy answers on the device against the CPU's.
trial_file() { ls "$tmp/$1"/trials/*.h5; }
representation_error() { # NAME: max |device - cpu| / max |cpu| over round 0
    local cpu dev rounds
    cpu=$(trial_file cpu) dev=$(trial_file "$1")
    rounds=$(h5dump -H -d /representations "$cpu" | sed -n 's/.*SIMPLE { ( \([0-9]*\),.*/\1/p')
    paste <(h5_values "$cpu" /representations) <(h5_values "$dev" /representations) |
        awk -v rounds="$rounds" '{ c[NR] = $1; d[NR] = $2 }
            END { n = NR / rounds
                  for (i = 1; i <= n; i++) {
                      a = c[i] < 0 ? -c[i] : c[i]; e = c[i] - d[i]; e = e < 0 ? -e : e
                      if (a > m) m = a; if (e > x) x = e }
                  if (n > 0 && m > 0) printf "%.6f\n", x / m }'
}
answers_differing() { # NAME: "DIFFERING TOTAL" base answers, over the three sets
    local set
    for set in harmful harmless wrapped_harmful; do
        paste -d '\n' <(h5_texts "$(trial_file cpu)" "/evaluation/base/$set/texts") \
            <(h5_texts "$(trial_file "$1")" "/evaluation/base/$set/texts")
    done | awk 'NR % 2 { a = $0; next } { n++; if (a != $0) d++ } END { print d + 0, n + 0 }'
}
# Tolerances: the trial files hold representations in fp16, which alone moves a value by up to
# 2^-10 of the largest; fp32 matrices add only summation order, bf16 ones their 2^-9 relative
# rounding of every weight (measured 0.0005 and 0.004 under the emulator, while a 3% error in
# one kernel gives 0.02). Greedy answers flip only at near ties of the two best tokens.
if command -v h5dump >/dev/null; then
    for dev in cuda_fp32 cuda_bf16; do
        error=$(representation_error $dev)
        read -r differing answers < <(answers_differing $dev)
        echo "$dev: base representations within $error of the largest; $differing of $answers base answers differ from the CPU's"
        if [ $dev = cuda_fp32 ]; then tol=0.002 flips=$((answers / 50)); else
            tol=0.01 flips=$((answers / 10)); fi
        check "$dev base representations" close "$error" 0 $tol
        check "$dev base answers" test "$answers" -gt 0 -a "$differing" -le "$((flips > 1 ? flips : 1))"
    done
else
    echo "skipped: the element-by-element checks (no h5dump)"
    skipped=$((skipped + 1))
fi
check "cpu edited refusal" close "$(metric cpu harmful refusal_rate 4)" 0 0.25
for dev in cpu cuda_fp32 cuda_bf16; do sed "s/^/$dev: /" "$tmp/$dev.out" | grep -E 'refusal_rate|answer_rate'; done
expect_summary
