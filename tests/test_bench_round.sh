#!/usr/bin/env bash
# The round benchmark (bench/are-bench-round) end to end at toy sizes on one device: it must
# finish and print each of its figures, so that a broken benchmark shows here rather than in the
# few minutes a GPU machine is lent for. Its numbers are timings, checked by nobody.
# usage: test_bench_round.sh path/to/are-bench-round DEVICE (cpu, or cuda on the CUDA emulator)
set -u
bench=$1 device=$2
. "$(dirname "$0")/expect.sh"

# Medians of two runs on the CPU; one on the emulator, which runs the kernels ~1000x slower.
repeats=2
[ "$device" = cuda ] && repeats=1
toy=(--device "$device" --shape small --prompts 8 --test 4 --answers 2 --max-new 4 --batches 1,2
    --repeats $repeats)
expect round 0 "^medians of $repeats timed runs? each" '^measurement .* H100 est$' '^extract 12 prompts ' '^generator epoch, batch 1 ' '^generator epoch, batch 2 ' \
    '^round \(2 epochs at batch [12]\) ' '^round: [0-9.]+ s = 2 generator epochs' \
    '^memory of the trial \(allocated before round 0\): weights ' \
    '^generation: [0-9.]+ s per answer in a batch of 2' -- "$bench" "${toy[@]}"
expect plan-only 0 '^memory of the trial' -- "$bench" "${toy[@]}" --plan-only
expect bad-shape 2 "bad value '13b' for --shape" -- "$bench" --shape 13b
expect bad-repeats 2 "bad value '10' for --repeats" -- "$bench" --repeats 10
expect_summary
