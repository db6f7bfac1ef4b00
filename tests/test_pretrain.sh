#!/usr/bin/env bash
# `are pretrain` end to end on configs/pretrain-smoke.cfg: the loss falls by a large factor,
# the folder holds a loadable model, a run stopped and resumed ends bit-identical to a straight
# one, --set overrides change the run and are recorded, and bad command lines and configs are
# refused with their messages.
# usage: test_pretrain.sh path/to/are SOURCE_DIR
set -u
are=$1
cd "$2" || exit 1 # the smoke config's paths are relative to the source tree
. "$(dirname "$0")/expect.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cfg=configs/pretrain-smoke.cfg

# logged LOG CMD...: runs CMD with its output also kept in LOG, and CMD's exit code.
logged() {
    local log=$1
    shift
    "$@" >"$log" 2>&1
    local rc=$?
    cat "$log"
    return $rc
}

expect help 0 '^usage: are pretrain CONFIG' -- "$are" pretrain --help
expect no-config 2 'no CONFIG given' -- "$are" pretrain
expect bad-stop 2 "--stop-at expects an integer in 1..1073741824, got '0'" -- "$are" pretrain "$cfg" --stop-at 0
expect unknown-option 2 "unknown option '--bogus'" -- "$are" pretrain "$cfg" --bogus
expect no-file 1 'nonexistent.cfg: cannot read the file' -- "$are" pretrain "$tmp/nonexistent.cfg"

# Training: every progress field, a validation loss, a checkpoint, and the loss falling to
# under 0.3 of its first value. One thread: the shared CI cores make more of them slower.
expect train 0 '^step 1/100  loss [0-9.]+  lr [0-9.e+-]+  grad norm [0-9.]+  [0-9]+ tok/s  ETA ' \
    '^step 100/100  validation loss [0-9.]+$' '^step 100/100  checkpoint written to ' \
    -- logged "$tmp/straight.log" "$are" pretrain "$cfg" --threads 1 --output "$tmp/straight"
first=$(grep -m1 -oE '^step 1/100  loss [0-9.]+' "$tmp/straight.log" | awk '{print $4}')
last=$(grep -oE '^step 100/100  loss [0-9.]+' "$tmp/straight.log" | awk '{print $4}')
if awk -v a="$first" -v b="$last" 'BEGIN { exit !(a > 4 && b < 0.3 * a) }'; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    echo "FAIL loss-falls: first loss '$first', last '$last' (wanted last < 0.3 first)" >&2
fi

# The folder: a Hugging Face model that `are inspect` reads, with its tokenizer and config.
expect folder 0 '' -- test -s "$tmp/straight/tokenizer.json" -a -s "$tmp/straight/pretrain.cfg"
expect inspect 0 'LlamaForCausalLM' -- "$are" inspect "$tmp/straight"

# Stopped at step 50 and resumed: the same final weights and optimiser state, bit for bit.
expect stop 0 '^step 50/100  checkpoint written' -- \
    "$are" pretrain "$cfg" --threads 1 --output "$tmp/resumed" --stop-at 50
expect refuse-overwrite 1 'already holds a checkpoint: pass --resume' -- \
    "$are" pretrain "$cfg" --threads 1 --output "$tmp/resumed"
sed 's/min_lr = 1e-3;/min_lr = 2e-3;/' "$cfg" >"$tmp/changed.cfg"
expect resume-changed 1 'was made with another config .*resumed/pretrain.cfg' -- \
    "$are" pretrain "$tmp/changed.cfg" --threads 1 --output "$tmp/resumed" --resume
expect resume 0 '^step 51/100  loss ' '^step 100/100  checkpoint written' -- \
    "$are" pretrain "$cfg" --threads 1 --output "$tmp/resumed" --resume
expect resume-weights 0 '' -- cmp "$tmp/straight/model.safetensors" "$tmp/resumed/model.safetensors"
expect resume-state 0 '' -- \
    cmp "$tmp/straight/checkpoint.safetensors" "$tmp/resumed/checkpoint.safetensors"
expect resume-nothing 1 'no checkpoint to resume from' -- \
    "$are" pretrain "$cfg" --output "$tmp/empty" --resume

# --set: an override changes the run, is what pretrain.cfg and the checkpoint record, and a
# resume must resolve to the same settings (the file alone is another config); the recorded
# copy resumes it. A misspelt override is refused, named.
expect set-steps 0 '^step 3/6  checkpoint written' -- \
    "$are" pretrain "$cfg" --threads 1 --output "$tmp/set" --set train.steps=6 \
    --set train.warmup_steps=2 --stop-at 3
expect set-recorded 0 '^    steps = 6;$' -- cat "$tmp/set/pretrain.cfg"
expect set-resume-without 1 'was made with another config .*set/pretrain.cfg' -- \
    "$are" pretrain "$cfg" --threads 1 --output "$tmp/set" --resume
expect set-resume-copy 0 '^step 4/6  loss ' '^step 6/6  checkpoint written' -- \
    "$are" pretrain "$tmp/set/pretrain.cfg" --threads 1 --output "$tmp/set" --resume
expect set-misspelt 1 "--set train.stpes=6: unknown field 'train.stpes' \(did you mean 'steps'\?\)" \
    -- "$are" pretrain "$cfg" --set train.stpes=6
expect set-no-value 2 "--set expects PATH=VALUE, got 'train.steps'" -- \
    "$are" pretrain "$cfg" --set train.steps

# Bad configs: each message names the file, the line and the field.
printf 'output = "x";\nmodel = { dim = 64; colour = 3; };\n' >"$tmp/unknown.cfg"
expect unknown-key 1 "unknown.cfg:2: unknown field 'model.colour'" -- "$are" pretrain "$tmp/unknown.cfg"
sed 's/steps = 100;/steps = "many";/' "$cfg" >"$tmp/type.cfg"
expect wrong-type 1 "type.cfg:[0-9]+: field 'train.steps' must be an integer in \[1..1073741824\], got a string" \
    -- "$are" pretrain "$tmp/type.cfg"
sed 's/lr = 2e-2;/lr = 2.0;/' "$cfg" >"$tmp/range.cfg"
expect out-of-range 1 "range.cfg:[0-9]+: field 'train.lr' is 2, expected a number in \(0..1\]" \
    -- "$are" pretrain "$tmp/range.cfg"
expect_summary
