#!/bin/bash
# The GPU checks of issue 9, as one command on a lent GPU machine, from the project's root with
# .devdeps/ carried along (../shared/device/README.md):
#
#     bench/device_checks.sh                 # logs into $OUT, or ./out when OUT is unset
#
# Steps, each timestamped, each under a time limit, each log teed into $OUT:
#   machine.log        GPU, driver, compilers, CMake, pkg-config
#   build.log          configure Release with CUDA into build-gpu, build everything
#   ctest.log          ctest -R 'cuda|gpu' -E emulated: every CUDA test on the GPU (the
#                      tinychat trial are_run_cuda too), not the emulated ones that CI runs;
#                      no matching test is a failure
#   bench-small.log    are-bench-round --device cuda --shape small: end to end in seconds
#   bench-7b-bf16.log  are-bench-round --device cuda --shape 7b (bf16 matrices, the default)
#   bench-7b-fp32.log  the same with --matrices fp32; optional: skipped when time runs short
#   summary.txt        one line per step: ok / FAILED (exit code) / skipped, and its seconds
# A failed step does not stop the later ones (those that need the build fail fast without it);
# the exit status is 1 when any required step failed or was skipped, else 0.
#
# Time: the device budget is 15 minutes in all, starting the machine and a possible rerun
# included, so the script keeps within DEADLINE seconds (default 480): a step's limit is cut to
# what is left, and a step that would get under 30 s is skipped.
# shellcheck disable=SC2317 # the step functions below run through bash -c
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-./out}
DEADLINE=${DEADLINE:-480}
BUILD=${BUILD:-build-gpu}
mkdir -p "$OUT"
summary=$OUT/summary.txt
: >"$summary"
failed=0

# step NAME LOG LIMIT required|optional COMMAND...: runs COMMAND (an executable, not a shell
# function) under `timeout`, its output teed into $OUT/LOG, and records the outcome.
step() {
    local name=$1 log=$OUT/$2 limit=$3 need=$4
    shift 4
    local left=$((DEADLINE - SECONDS))
    if [ "$left" -lt 30 ]; then
        echo "== $(date +%T) +${SECONDS}s $name: skipped, ${left}s left of ${DEADLINE}s" |
            tee -a "$log"
        printf '%-14s %4ss  %s\n' "$name" 0 "skipped: no time left" >>"$summary"
        [ "$need" = required ] && failed=1
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "== $(date +%T) +${SECONDS}s $name (limit ${limit}s): $*" | tee -a "$log"
    local start=$SECONDS
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]} took=$((SECONDS - start))
    local what=ok
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        what="FAILED (timed out after ${limit}s)"
    elif [ "$rc" -ne 0 ]; then
        what="FAILED (exit $rc)"
    fi
    [ "$what" = ok ] || failed=1
    echo "== $(date +%T) +${SECONDS}s $name: $what in ${took}s" | tee -a "$log"
    printf '%-14s %4ss  %s\n' "$name" "$took" "$what" >>"$summary"
}

# The Debian libraries the machine lacks (OpenBLAS, Open MPI, HDF5, libconfig, JSON).
if [ -f .devdeps/env.sh ]; then
    # shellcheck source=/dev/null
    . .devdeps/env.sh
else
    echo "device_checks: no .devdeps/env.sh: carry .devdeps (../shared/device/README.md)" |
        tee -a "$OUT/machine.log"
fi
# nvcc where CUDA installs it, when it is not on the PATH.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export CUDACXX=/usr/local/cuda/bin/nvcc PATH=/usr/local/cuda/bin:$PATH
fi
# Build for this GPU only (one architecture compiles in half the time): 9.0 -> 90.
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
export ARCH=${arch:-90} BUILD

# The steps that are more than one command, as functions that `step` runs through bash -c.
machine() {
    uname -a
    nproc
    free -g | head -2
    for tool in nvcc cc cmake ninja pkg-config; do
        printf '%-10s %s\n' "$tool" "$(command -v "$tool" || echo MISSING)"
    done
    nvcc --version | tail -2
    cc --version | head -1
    cmake --version | head -1
    pkg-config --modversion openblas jansson libconfig hdf5 2>&1
    nvidia-smi # last, so that a machine without a working GPU fails this step
}

build() {
    local generator=()
    [ ! -f "$BUILD/CMakeCache.txt" ] && command -v ninja >/dev/null && generator=(-G Ninja)
    cmake -S . -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DARE_CUDA_ARCHITECTURES="$ARCH" || return 1
    if ! grep -Eq '^CMAKE_CUDA_COMPILER:[A-Z]*=/' "$BUILD/CMakeCache.txt"; then
        echo "device_checks: configured WITHOUT CUDA (no nvcc found)"
        return 1
    fi
    cmake --build "$BUILD" -j "$(nproc)"
}

# A CUDA test that skips on a GPU machine checked nothing: that fails the step too.
cuda_tests() {
    local out=$BUILD/device_checks_ctest.out
    ctest --test-dir "$BUILD" -R 'cuda|gpu' -E emulated --output-on-failure --no-tests=error --timeout 120 |
        tee "$out"
    local rc=${PIPESTATUS[0]}
    if grep -q '(Skipped)' "$out"; then
        echo "device_checks: CUDA tests SKIPPED on a GPU machine (listed above): not verified"
        return 1
    fi
    return "$rc"
}
export -f machine build cuda_tests

step machine machine.log 30 required bash -c machine
step build build.log 300 required bash -c build
step ctest ctest.log 150 required bash -c cuda_tests

bench=$BUILD/bench/are-bench-round
step bench-small bench-small.log 60 required "$bench" --device cuda --shape small
step bench-7b-bf16 bench-7b-bf16.log 200 required "$bench" --device cuda --shape 7b
step bench-7b-fp32 bench-7b-fp32.log 200 optional "$bench" --device cuda --shape 7b \
    --matrices fp32

echo "== $(date +%T) +${SECONDS}s done"
cat "$summary"
exit "$failed"
