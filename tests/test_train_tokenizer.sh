#!/usr/bin/env bash
# `are train-tokenizer` end to end: help and exit codes; the committed corpus of
# tests/ref/make_trained_tokenizer_fixture.py gives the committed tokenizer.json byte for byte;
# a JSONL corpus trains one document per line, and `are tokenize` reads the result.
# usage: test_train_tokenizer.sh path/to/are [SOURCE_DIR]
set -u
are=$1
src=${2:-${ARE_SOURCE_DIR:-.}}
trained=$src/tests/ref/fixtures/tokenizers/trained
. "$(dirname "$0")/expect.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
specials='<|user|>,<|assistant|>,<|end|>'

expect help 0 '^usage: are train-tokenizer' -- "$are" train-tokenizer --help
expect listed 0 '^  train-tokenizer' -- "$are" --help
expect no-input 2 '--input, --vocab-size and --out are needed' -- \
    "$are" train-tokenizer --vocab-size 400 --out "$work/x"
expect bad-size 2 "--vocab-size expects an integer in 1..1000000, got 'lots'" -- \
    "$are" train-tokenizer --input "$trained/corpus.txt" --vocab-size lots --out "$work/x"
expect bad-special 2 "--special expects one comma-separated list of at most 64 non-empty names, got 'a,,b'" -- \
    "$are" train-tokenizer --input "$trained/corpus.txt" --vocab-size 400 --out "$work/x" \
    --special a,,b
expect too-small 1 'no room beyond' -- \
    "$are" train-tokenizer --input "$trained/corpus.txt" --vocab-size 100 --out "$work/x"
expect missing 1 "^are train-tokenizer: $work/nowhere.txt: cannot read" -- \
    "$are" train-tokenizer --input "$work/nowhere.txt" --vocab-size 400 --out "$work/x"

expect train 0 'wrote .*tokenizer.json: 400 tokens' -- "$are" train-tokenizer \
    --input "$trained/corpus.txt" --vocab-size 400 --out "$work/txt" --special "$specials"
for f in tokenizer.json tokenizer_config.json; do
    if cmp -s "$work/txt/$f" "$trained/$f"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL same-$f: $work/txt/$f differs from $trained/$f" >&2
    fi
done

printf '{"text": "Why the cat likes bread?"}\n\n{"text": "Why the robot needs bread?"}\n' \
    >"$work/corpus.jsonl"
for i in 1 2 3; do cat "$work/corpus.jsonl"; done >"$work/corpus3.jsonl"
# Seven words ("▁Why", "▁the", ...): the documents' text, not the JSON around it.
expect train-jsonl 0 '^7 distinct words' -- "$are" train-tokenizer \
    --input "$work/corpus3.jsonl" --vocab-size 300 --out "$work/jsonl" --bos '<bos>' \
    --eos '<eos>'
expect tokenize-trained 0 '^1( [0-9]+){3,}$' -- \
    bash -c "printf 'Why the cat' | '$are' tokenize '$work/jsonl' --bos"
expect_summary
