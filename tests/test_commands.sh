#!/usr/bin/env bash
# `are tokenize`, `are inspect` and `are generate` end to end on the tiny Hugging Face folder of
# tests/ref/make_hf_fixtures.py: token ids equal the HF tokenizer's, inspect reports the
# model's numbers, greedy generation prints exactly the tokens transformers' generate() chose
# (with and without the PEFT adapter); bad command lines exit 2, bad inputs exit 1 with a
# message on stderr.
# usage: test_commands.sh path/to/are [SOURCE_DIR]
set -u
are=$1
src=${2:-${ARE_SOURCE_DIR:-.}}
fixtures=$src/tests/ref/fixtures
model=$fixtures/hf_tiny
expect=$fixtures/hf_tiny_expect
. "$(dirname "$0")/expect.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
    failed=$((failed + 1))
    echo "FAIL $1" >&2
    [ -s "$work/stderr" ] && sed 's/^/    stderr: /' "$work/stderr" >&2
}

# same NAME EXPECTED_FILE CMD...: CMD exits 0 and its stdout is byte for byte the file's.
same() {
    local name=$1 want=$2
    shift 2
    if "$@" >"$work/stdout" 2>"$work/stderr" && cmp -s "$work/stdout" "$want"; then
        passed=$((passed + 1))
    else
        fail "$name: output differs from $want"
        echo "    got:      $(od -c "$work/stdout" | head -3)" >&2
        echo "    expected: $(od -c "$want" | head -3)" >&2
    fi
}

# --- tokenize --------------------------------------------------------------------------------
expect tokenize-help 0 '^usage: are tokenize SOURCE' -- "$are" tokenize --help
expect tokenize-no-source 2 'no SOURCE given' -- "$are" tokenize
expect tokenize-bad-arg 2 "unknown option '--eos'" -- "$are" tokenize "$model" --eos
expect tokenize-missing 1 '^are tokenize: .*nowhere' -- "$are" tokenize "$work/nowhere"
same tokenize-folder "$expect/tokenize.ids" "$are" tokenize "$model" <"$expect/tokenize.txt"
same tokenize-json "$expect/tokenize.ids" "$are" tokenize "$model/tokenizer.json" \
    <"$expect/tokenize.txt"
same tokenize-bos "$expect/tokenize_bos.ids" "$are" tokenize "$model" --bos <"$expect/tokenize.txt"
fill="s/{system}/$(cat "$expect/system.txt")/; s/{prompt}/$(cat "$expect/prompt.txt")/"
same tokenize-prompt "$expect/generate_prompt.ids" "$are" tokenize "$model" --bos \
    < <(sed -e "$fill" "$expect/template.txt")
printf '' >"$work/empty"
expect tokenize-empty 0 '^$' -- "$are" tokenize "$model" <"$work/empty"

# A .gguf vocabulary (llama.cpp's Llama-2 one, when ../shared is beside the checkout).
vocab=$src/../shared/data/tokenizers/ggml-vocab-llama-spm.gguf
if [ -f "$vocab" ]; then
    case=$(awk 'BEGIN { RS = "\n__ggml_vocab_test__\n" } $0 == " Hello world" { print NR; exit }' \
        "$vocab.inp")
    sed -n "${case}p" "$vocab.out" | sed 's/^ //' >"$work/hello.ids"
    same tokenize-gguf "$work/hello.ids" "$are" tokenize "$vocab" < <(printf ' Hello world')
else
    echo "skipped: tokenize from a .gguf file ($vocab not found)"
    skipped=$((skipped + 1))
fi

# --- inspect ---------------------------------------------------------------------------------
params=$(cat "$expect/parameters.txt")
expect inspect-help 0 '^usage: are inspect' -- "$are" inspect --help
expect inspect-no-model 2 'no MODEL given' -- "$are" inspect
expect inspect-folder 0 '^architecture: +LlamaForCausalLM$' '^layers: +2$' '^hidden size: +32$' \
    '^ffn size: +48$' '^heads: +4 \(head dim 8\)$' '^kv heads: +2$' '^vocab size: +359$' \
    '^context: +64$' "^parameters: +$params " '^dtypes: +BF16 21 tensors$' \
    '^tokenizer: +SentencePiece-style BPE with byte fallback, 359 tokens$' '^bos: +1$' \
    '^eos: +2$' \
    '^chat template: +not recognised \(.*hf_tiny/tokenizer_config.json: chat_template: a chat template of no family' \
    -- "$are" inspect "$model"
expect inspect-sharded 0 '^dtypes: +BF16 21 tensors$' '^tokenizer: +none' \
    '^chat template: +none \(prompts go in as they are\)$' -- "$are" inspect "$fixtures/hf_tiny_sharded"
expect inspect-not-a-model 1 '^are inspect: .*tokenizer.json: expected a model folder' -- \
    "$are" inspect "$model/tokenizer.json"
if [ -f "$fixtures/gguf_llama_gqa.gguf" ]; then
    expect inspect-gguf 0 '\(GGUF file\)$' '^architecture: +llama$' '^layers: +[0-9]+$' -- \
        "$are" inspect "$fixtures/gguf_llama_gqa.gguf"
fi

# --- generate --------------------------------------------------------------------------------
template=$(cat "$expect/template.txt")
system=$(cat "$expect/system.txt")
prompt=$(cat "$expect/prompt.txt")
chat=(--template "$template" --system "$system" --prompt "$prompt")
n_new=$(wc -w <"$expect/generate.ids")
expect generate-help 0 '^usage: are generate MODEL --prompt TEXT' -- "$are" generate --help
expect generate-no-prompt 2 '--prompt is required' -- "$are" generate "$model"
expect generate-no-model 2 'no MODEL given' -- "$are" generate --prompt hi
expect generate-bad-template 2 'chat template "User: \{question\}" has no \{prompt\}' -- \
    "$are" generate "$model" --prompt hi --template "User: {question}"
# A template's \n is a newline, as in a config: the same continuation as with a real newline.
expect generate-template-escapes 0 -- cmp \
    <("$are" generate "$model" --prompt hi --template $'U: {prompt}\nA:' --max-new-tokens 8) \
    <("$are" generate "$model" --prompt hi --template 'U: {prompt}\nA:' --max-new-tokens 8)
expect generate-bad-escape 2 "--template: unknown escape '\\\\q'" -- \
    "$are" generate "$model" --prompt hi --template 'U: {prompt}\q'
expect generate-system-nowhere 2 'has no \{system\}' -- \
    "$are" generate "$model" --prompt hi --template "User: {prompt}" --system "Be brief."
# Without --template the model's own is used: hf_tiny's is of no known family.
expect generate-unknown-template 1 'chat_template: a chat template of no family .*--template' -- \
    "$are" generate "$model" --prompt hi --system "Be brief."
expect generate-bad-temperature 2 "--temperature expects a number >= 0, got '-1'" -- \
    "$are" generate "$model" --prompt hi --temperature -1
expect generate-bad-count 2 "--max-new-tokens expects an integer in 1..1048576, got '2.5'" -- \
    "$are" generate "$model" --prompt hi --max-new-tokens 2.5
expect generate-unknown 2 "unknown option '--beam'" -- "$are" generate "$model" --prompt hi --beam 4
expect generate-too-long 1 \
    'the prompt has 48 tokens: with 17 new ones that exceeds the model.s context of 64' -- \
    "$are" generate "$model" "${chat[@]}" --max-new-tokens 17
expect generate-no-tokenizer 1 'tokenizer.json' -- \
    "$are" generate "$fixtures/hf_tiny_sharded" --prompt hi
expect generate-bad-adapter 1 '^are generate: .*adapter_config.json' -- \
    "$are" generate "$model" --prompt hi --adapter "$model"
same generate-greedy "$expect/generate.out" \
    "$are" generate "$model" "${chat[@]}" --max-new-tokens "$n_new" --threads 1
same generate-greedy-lora "$expect/generate_lora.out" \
    "$are" generate "$model" "${chat[@]}" --max-new-tokens "$n_new" \
    --adapter "$fixtures/hf_tiny_lora"
# Sampling is seeded: the same seed prints the same text, whatever the thread count.
"$are" generate "$model" --prompt "the sky" --template '{prompt}' --temperature 0.9 --top-p 0.95 --seed 5 \
    --max-new-tokens 20 --threads 1 >"$work/sample1" 2>"$work/stderr" ||
    fail "generate-sample: exit $?"
[ "$(wc -c <"$work/sample1")" -gt 1 ] || fail "generate-sample: printed nothing"
same generate-seeded "$work/sample1" "$are" generate "$model" --prompt "the sky" --template '{prompt}' \
    --temperature 0.9 --top-p 0.95 --seed 5 --max-new-tokens 20 --threads 2

# --- the model's own chat template -------------------------------------------------------------
# tinychat carries none: without --template its prompt goes in alone, as with '{prompt}'.
tinychat=$src/models/tinychat
expect own-template-none 0 -- cmp \
    <("$are" generate "$tinychat" --prompt hi --max-new-tokens 6 --threads 1) \
    <("$are" generate "$tinychat" --prompt hi --template '{prompt}' --max-new-tokens 6 --threads 1)
# SmolLM2's ChatML template with its default system text: recognised, shown, and used by
# generate without --template (the same continuation as with the template written out, and an
# answer: the prompt alone gives an empty one).
smol=$src/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -f "$smol" ]; then
    smol_template='<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n'
    expect own-template-inspect 0 '^chat template: +ChatML with a default system text$' \
        "^template: +\"$(sed 's/[][\\|{}()]/\\&/g' <<<"$smol_template")\"$" \
        '^with system: +"<\|im_start\|>system\\n\{system\}<\|im_end\|>\\n<\|im_start\|>user\\n' \
        -- "$are" inspect "$smol"
    ask=(--prompt "What is the capital of France?" --max-new-tokens 8 --threads 2)
    "$are" generate "$smol" "${ask[@]}" >"$work/own" 2>"$work/stderr" || fail "own-template: exit $?"
    grep -q Paris "$work/own" || fail "own-template: no answer: '$(cat "$work/own")'"
    same own-template-same "$work/own" "$are" generate "$smol" "${ask[@]}" --template "$smol_template"
    expect own-template-system 0 '[a-z]' -- "$are" generate "$smol" "${ask[@]}" --system 'Answer in French.'
    # A config's template = "auto": the same prompts as the template written out.
    evaluate=(evaluate configs/smollm2-jailbreak.cfg --threads 2 --show 1
        --set evaluation.max_prompts=1 --set evaluation.max_new_tokens=4
        --set evaluation.perplexity_docs=1
        --set 'tasks.jailbreak.evaluate=({ name = "harmless"; data = "data/smollm2/refusal_test.jsonl"; label = 0; })')
    (cd "$src" && "$are" "${evaluate[@]}" --set template=auto) >"$work/auto" 2>"$work/stderr" ||
        fail "own-template-config: exit $?"
    grep -q '^harmless .*answer_rate' "$work/auto" || fail "own-template-config: no answer rate"
    same own-template-config "$work/auto" \
        bash -c 'cd "$1" && shift && exec "$@"' _ "$src" "$are" "${evaluate[@]}" \
        --set "template=\"$smol_template\""
else
    echo "skipped: SmolLM2's own template ($smol not found: scripts/fetch-smollm2.sh)"
    skipped=$((skipped + 1))
fi

expect_summary
