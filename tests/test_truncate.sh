#!/usr/bin/env bash
# `are truncate` end to end: help and exit codes (bad arguments, models it cannot cut, the model
# as its own output), nothing left behind by a refusal, the two-block fixture model cut to one
# block, and SmolLM2-135M-Instruct cut to the default 7 blocks in under 48 MB (skipped without
# scripts/fetch-smollm2.sh). Where a Python with the `gguf` package is found (.venv-smol,
# .venv-ref, python3), llama.cpp's own reader checks each copy: every field and kept tensor
# equal to the source's but the three set keys.
# usage: test_truncate.sh path/to/are [SOURCE_DIR]
set -u
are=$1
src=${2:-${ARE_SOURCE_DIR:-.}}
fixtures=$src/tests/ref/fixtures
gqa=$fixtures/gguf_llama_gqa.gguf
smollm2=$src/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
. "$(dirname "$0")/expect.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$work/out.gguf

expect help 0 '^usage: are truncate MODEL.gguf -o OUT.gguf' '--layers N' -- "$are" truncate --help
expect listed 0 '^  truncate' -- "$are" --help
expect no-model 2 'no MODEL given' -- "$are" truncate -o "$out"
expect no-out 2 'no -o OUT.gguf given' -- "$are" truncate "$gqa"
expect bad-layers 2 "--layers expects a whole number of at least 1, got 'two'" -- \
    "$are" truncate "$gqa" --layers two -o "$out"
expect zero-layers 2 "--layers expects a whole number of at least 1, got '0'" -- \
    "$are" truncate "$gqa" --layers 0 -o "$out"
expect unknown 2 "unknown option '--fast'" -- "$are" truncate "$gqa" --fast -o "$out"
expect too-many 2 "--layers 2: .*gguf_llama_gqa.gguf has 2 blocks, so N must be 1..1" -- \
    "$are" truncate "$gqa" --layers 2 -o "$out"
expect default-too-many 2 '--layers 7 \(the default\): .* has 2 blocks' -- \
    "$are" truncate "$gqa" -o "$out"
expect one-block 2 'gguf_llama_tied.gguf has a single block: there is nothing to cut' -- \
    "$are" truncate "$fixtures/gguf_llama_tied.gguf" -o "$out"
expect not-llama 1 'gguf_quants.gguf.*general.architecture' -- \
    "$are" truncate "$fixtures/gguf_quants.gguf" --layers 1 -o "$out"
expect missing 1 "$work/nowhere.gguf" -- "$are" truncate "$work/nowhere.gguf" --layers 1 -o "$out"
cp "$gqa" "$work/gqa.gguf"
expect itself 2 'is the model itself' -- \
    "$are" truncate "$work/gqa.gguf" --layers 1 -o "$work/./gqa.gguf"
expect itself-intact 0 '' -- cmp "$gqa" "$work/gqa.gguf"
expect no-folder 1 "cannot write $work/no/out.gguf.tmp" -- \
    "$are" truncate "$gqa" --layers 1 -o "$work/no/out.gguf"
if [ -e "$out" ] || [ -e "$out.tmp" ]; then
    failed=$((failed + 1))
    echo "FAIL nothing-written: a refused command left $out or $out.tmp" >&2
else
    passed=$((passed + 1))
fi

expect cut 0 "^wrote $out: 1 of 2 blocks, 12 tensors, [0-9]+ bytes" -- \
    "$are" truncate "$gqa" --layers 1 -o "$out"
expect inspect-cut 0 '^layers: +1$' 'tied lm_head: +no' -- "$are" inspect "$out"
# A second run replaces the file (here with an older, different one first).
cp "$gqa" "$out"
expect overwrite 0 "^wrote $out: 1 of 2 blocks" -- "$are" truncate "$gqa" --layers 1 -o "$out"
expect overwritten 0 '^layers: +1$' -- "$are" inspect "$out"

# The Python check: python SOURCE COPY N.
python=
for p in "$src/.venv-smol/bin/python" "$src/.venv-ref/bin/python" python3; do
    if "$p" -c 'import gguf' 2>/dev/null; then
        python=$p
        break
    fi
done
cat >"$work/check.py" <<'EOF'
import os, sys
import gguf
src_path, cut_path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
src, cut = gguf.GGUFReader(src_path), gguf.GGUFReader(cut_path)
def raw(f):
    return [t.name for t in f.types], [f.parts[i].tobytes() for i in f.data]
def scalar(r, key):
    f = r.fields[key]
    return f.contents() if hasattr(f, "contents") else f.parts[f.data[0]].tolist()[0]
header = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"}
set_keys = {"llama.block_count", "are.truncated.source", "are.truncated.source_block_count"}
assert set(cut.fields) == set(src.fields) | set_keys, set(cut.fields) ^ set(src.fields)
same = [k for k in src.fields if k not in header | set_keys and raw(src.fields[k]) == raw(cut.fields[k])]
assert len(same) == len(set(src.fields) - header - set_keys), "fields differ"
assert scalar(cut, "llama.block_count") == n
assert scalar(cut, "are.truncated.source_block_count") == scalar(src, "llama.block_count")
f = cut.fields["are.truncated.source"]
assert bytes(f.parts[f.data[0]]).decode() == os.path.basename(src_path)
kept = [t for t in src.tensors if not t.name.startswith("blk.") or int(t.name.split(".")[1]) < n]
assert [t.name for t in cut.tensors] == [t.name for t in kept]
for a, b in zip(kept, cut.tensors):
    assert a.tensor_type == b.tensor_type and list(a.shape) == list(b.shape), a.name
    assert a.data.tobytes() == b.data.tobytes(), a.name
print(f"gguf {gguf.__version__ if hasattr(gguf, '__version__') else ''}: {len(same)} fields "
      f"and {len(kept)} tensors equal the source's, block_count {n}")
EOF
python_check() {
    if [ -z "$python" ]; then
        skipped=$((skipped + 1))
        echo "skipped: $1: no Python with the gguf package"
    else
        expect "$1" 0 '^gguf .*tensors equal the source' -- "$python" "$work/check.py" "$2" "$3" "$4"
    fi
}
python_check gguf-python-gqa "$gqa" "$out" 1

if [ -r "$smollm2" ]; then
    small=$work/smollm2-7.gguf
    expect smollm2-cut 0 "^wrote $small: 7 of 30 blocks, 65 tensors" -- \
        "$are" truncate "$smollm2" -o "$small"
    size=$(stat -c %s "$small" 2>/dev/null || echo 0)
    echo "SmolLM2 cut to 7 blocks: $size bytes"
    if [ "$size" -gt 0 ] && [ "$size" -lt 48000000 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL smollm2-size: $size bytes, expected under 48 MB" >&2
    fi
    expect smollm2-inspect 0 '^layers: +7$' '^tokenizer: +byte-level BPE, 49152 tokens' -- \
        "$are" inspect "$small"
    python_check gguf-python-smollm2 "$smollm2" "$small" 7
else
    skipped=$((skipped + 1))
    echo "skipped: SmolLM2: run scripts/fetch-smollm2.sh"
fi
expect_summary
