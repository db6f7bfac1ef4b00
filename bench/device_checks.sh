#!/bin/bash
# The GPU checks of issue 9, as one command on a lent GPU machine, from the project's root with
# .devdeps/ carried along (../shared/device/README.md):
#
#     bench/device_checks.sh                 # logs into $OUT, or ./out when OUT is unset
#
# Steps, each timestamped, each under a time limit, each log teed into $OUT:
#   versions.log       nvcc, the driver and the CUDA version it supports, the host compilers;
#                      fails when the driver is older than the toolkit (the static cudart that
#                      are links needs a driver at least as new, so nothing built here would run)
#   machine.log        GPU (compute mode included), CMake, pkg-config
#   build.log          configure Release with CUDA into build-gpu, build everything
#   ctest.log          ctest -R 'cuda|gpu' -E emulated: every CUDA test on the GPU (the
#                      tinychat trial are_run_cuda too), not the emulated ones that CI runs;
#                      no matching test is a failure
#   bench-small.log    are-bench-round --device cuda --shape small: end to end in seconds
#   bench-7b-bf16.log  are-bench-round --device cuda --shape 7b (bf16 matrices, the default)
#   bench-7b-fp32.log  the same with --matrices fp32, one timed run per figure; optional:
#                      skipped when time runs short
#   summary.txt        one line per step: ok / FAILED (exit code) / skipped, and its seconds
# A failed step does not stop the later ones (those that need the build fail fast without it);
# the exit status is 1 when any required step failed or was skipped, else 0.
#
# Time: the device budget is 15 minutes in all, starting the machine (1-2 minutes) included, so
# the script keeps within DEADLINE seconds (default 540): a step's limit is cut to what is left,
# and a step that would get under 30 s is skipped. The limits come from times measured on the
# 2-core CI machine: are_run_cuda's CPU trial (the reference its GPU trials are checked
# against, running beside them) took 244 s of CPU there, so the ctest step gets 300 s and each
# test 280; nvcc built compute/cuda for two architectures in 4.4 minutes on 2 loaded cores, and
# the build here is for one, on all cores.
# shellcheck disable=SC2317 # the step functions below run through bash -c
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-./out}
DEADLINE=${DEADLINE:-540}
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
# "A B": whether version A is older than version B (sort -V order).
version_older() {
    [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$1" ]
}

versions() {
    local toolkit driver driver_cuda
    toolkit=$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\),.*/\1/p')
    driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
    driver_cuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -1)
    echo "nvcc (toolkit)  ${toolkit:-MISSING}"
    echo "driver          ${driver:-MISSING}, supports CUDA ${driver_cuda:-?}"
    echo "c++ (nvcc host) $(c++ --version 2>/dev/null | head -1)"
    echo "cc              $(cc --version 2>/dev/null | head -1)"
    if [ -z "$toolkit" ] || [ -z "$driver_cuda" ]; then
        echo "device_checks: no nvcc or no driver: cannot build or run CUDA code here"
        return 1
    fi
    if version_older "$driver_cuda" "$toolkit"; then
        echo "device_checks: THE DRIVER IS OLDER THAN THE TOOLKIT: the driver supports CUDA" \
            "$driver_cuda, nvcc is $toolkit. are links the static cudart of the toolkit, which" \
            "needs a driver at least as new: every CUDA program built here will fail with" \
            "'CUDA driver version is insufficient'. Use a toolkit <= $driver_cuda."
        return 1
    fi
    echo "driver CUDA $driver_cuda >= toolkit $toolkit: the static cudart can run"
}

machine() {
    uname -a
    nproc
    free -g | head -2
    for tool in nvcc cc cmake ninja pkg-config; do
        printf '%-10s %s\n' "$tool" "$(command -v "$tool" || echo MISSING)"
    done
    cmake --version | head -1
    pkg-config --modversion openblas jansson libconfig hdf5 2>&1
    # Exclusive_Process takes one GPU process at a time (the tests run them one by one);
    # Prohibited takes none.
    nvidia-smi --query-gpu=name,compute_mode,memory.total --format=csv
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
    ctest --test-dir "$BUILD" -R 'cuda|gpu' -E emulated --output-on-failure --no-tests=error --timeout 280 |
        tee "$out"
    local rc=${PIPESTATUS[0]}
    if grep -q '(Skipped)' "$out"; then
        echo "device_checks: CUDA tests SKIPPED on a GPU machine (listed above): not verified"
        return 1
    fi
    return "$rc"
}
export -f version_older versions machine build cuda_tests

step versions versions.log 20 required bash -c versions
step machine machine.log 30 required bash -c machine
step build build.log 240 required bash -c build
step ctest ctest.log 300 required bash -c cuda_tests

bench=$BUILD/bench/are-bench-round
step bench-small bench-small.log 60 required "$bench" --device cuda --shape small
step bench-7b-bf16 bench-7b-bf16.log 200 required "$bench" --device cuda --shape 7b
# fp32 runs at 67 TFLOP/s, not 989: one timed run per figure.
step bench-7b-fp32 bench-7b-fp32.log 200 optional "$bench" --device cuda --shape 7b \
    --matrices fp32 --repeats 1

echo "== $(date +%T) +${SECONDS}s done"
cat "$summary"
exit "$failed"
