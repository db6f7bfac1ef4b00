#!/usr/bin/env bash
# Runs every fuzz harness for SECONDS each, starting from a copy of its committed seed corpus
# (new inputs stay in the copy). usage: tests/fuzz/run.sh SECONDS [BUILD_DIR]
set -euo pipefail
seconds=${1:?usage: run.sh SECONDS [BUILD_DIR]}
build=${2:-build-fuzz}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for harness in safetensors gguf hf_config tokenizer_json prompt_set are_config peft; do
    mkdir -p "$work/$harness"
    cp -r "$here/corpus/$harness/." "$work/$harness/" 2>/dev/null || true
    echo "== fuzz_$harness for ${seconds}s"
    if ! "$build/tests/fuzz/fuzz_$harness" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$work/$harness-" "$work/$harness" 2>"$work/$harness.log"; then
        status=1
        tail -40 "$work/$harness.log"
        mkdir -p fuzz-artifacts && cp "$work/$harness"-* fuzz-artifacts/ 2>/dev/null || true
    fi
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$work/$harness.log" || true
done
exit $status
