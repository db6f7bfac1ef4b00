#!/usr/bin/env bash
# The baselines of `method` end to end on tinychat with a small task:
#   none: one stored round (the base model), the edited evaluation equal to the base one, no
#     adapter, and ARE's trial ids unchanged by the field's existence;
#   direction_ablation: rounds 0 and 1, the direction group; every prompt ends in the same
#     template token, whose embedding no block changes along r once the model is ablated, so
#     the edited projections on r coincide (to rounding) where the base ones spread by the
#     class difference; the harmful prompts' refusal rate falls; the exported rank-1 adapter
#     (o_proj, down_proj and embed_tokens), evaluated by `are evaluate --adapter`, gives the
#     trial's edited refusal rate; baseline.layers fixes r's layer, and one that is not in
#     are.layers is refused at its line;
#   activation_addition: alpha = 0 leaves every metric and generated text as the base model's,
#     bit for bit; at alpha 8 the stored steering vector, applied by `are evaluate --steer`,
#     gives the trial's edited refusal rate, and `are generate --steer` runs with it; a trial
#     file without one is refused by name.
# usage: test_baselines.sh path/to/are SOURCE_DIR
set -u
are=$1
cd "$2" || exit 1 # the config's paths are relative to the source tree
here=$(dirname "$0")
. "$here/expect.sh"
. "$here/h5_dump.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cfg=configs/tinychat.cfg
if [ ! -f models/tinychat/model.safetensors ]; then
    echo "skipped: models/tinychat is not there"
    exit 77
fi
{ grep '"label": 1' data/refusal_train.jsonl | head -24; grep '"label": 0' data/refusal_train.jsonl | head -24
  grep '"label": 1' data/refusal_test.jsonl | head -12; grep '"label": 0' data/refusal_test.jsonl | head -12; } >"$tmp/task.jsonl"
small=(--set "tasks.jailbreak.data=[\"$tmp/task.jsonl\"]" --set evaluation.max_prompts=8
    --set evaluation.perplexity_docs=16 --set "output.dir=\"$tmp/run\"")

expect bad-method 1 "--set method=ablate: field 'method' is \"ablate\", expected one of .*direction_ablation" \
    -- "$are" run "$cfg" "${small[@]}" --set method=ablate

# method = "are" is the default and leaves the trial ids as they were; a baseline has ids of its own.
cat >"$tmp/sweep.cfg" <<'CFG'
@include "configs/tinychat.cfg"
sweep = {
  seed = 7;
  axes = (
    { path = "task"; values = ["jailbreak", "defense"]; },
    { path = "are.generator.rank"; values = [4, 8]; }
  );
};
CFG
ids() { "$are" sweep "$tmp/sweep.cfg" "$@" --dry-run 2>&1 | grep -oE '[0-9a-f]{16}' | sort; }
default_ids=$(ids) are_ids=$(ids --set method=are) none_ids=$(ids --set method=none)
expect same-ids 0 '^same$' -- bash -c "[ -n '$default_ids' ] && [ '$default_ids' = '$are_ids' ] &&
    [ '$default_ids' != '$none_ids' ] && echo same"
# baseline.layers names a trial only where a direction is taken, in are.layers' order
are_layer_ids=$(ids --set 'baseline.layers=[3]') ablation_ids=$(ids --set method=direction_ablation)
both_ids=$(ids --set method=direction_ablation --set 'baseline.layers=[2, 3]')
both_reversed_ids=$(ids --set method=direction_ablation --set 'baseline.layers=[3, 2]')
expect layer-ids 0 '^same$' -- bash -c "[ '$default_ids' = '$are_layer_ids' ] &&
    [ '$both_ids' = '$both_reversed_ids' ] && [ '$both_ids' != '$ablation_ids' ] && echo same"

# The edited evaluation equals the base one, metrics and texts alike; only the edited side has
# the preservation measures (its answers against the base's), and they must all be exactly 1.
edited_is_base() {
    local without_preserved='/(ATTRIBUTE|DATASET) "preserved_/ { skip = 1; end = substr($0, 1, index($0, $1) - 1) "}" }
        skip { if ($0 == end) skip = 0; next } { print }'
    cmp -s <(h5dump -m %.17g -g /evaluation/edited "$1" | awk "$without_preserved" | sed 's|/edited|/base|') \
        <(h5dump -m %.17g -g /evaluation/base "$1") || return
    h5dump -m %.17g -g /evaluation/edited "$1" | awk '/(ATTRIBUTE|DATASET) "preserved_/ { p = 1 }
        p && /\([0-9]+\): / { sub(/.*\([0-9]+\): /, ""); n = split($0, v, ","); for (i = 1; i <= n; i++)
            if (v[i] != "" && v[i] + 0 != 1) bad = 1; seen = 1 }
        /^ *}$/ { p = 0 } END { if (seen && !bad) print "equal" }'
}

expect none 0 'baseline after 0 rounds' 'adapter: +\(none' -- "$are" run "$cfg" "${small[@]}" --set method=none
file=$(ls "$tmp"/run/trials/*.h5)
expect none-rounds 0 '^0$' -- h5_values "$file" stored_rounds
expect none-stop 0 '"baseline"' -- h5dump -a /result/stop "$file"
# metrics and generated texts alike
expect none-edited-is-base 0 '^equal$' -- edited_is_base "$file"
[ -z "$(ls "$tmp/run/adapters")" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL none wrote an adapter" >&2; }
rm -f "$file"

expect ablation 0 'baseline after 1 rounds \(direction ablation along hidden_states\[[0-9-]+\]' \
    -- "$are" run "$cfg" "${small[@]}" --set method=direction_ablation
file=$(ls "$tmp"/run/trials/*.h5)
expect ablation-rounds 0 '^1$' -- h5_values "$file" stored_rounds
spread() { h5_values "$file" "direction/$1" | sort -g | sed -n '1p;$p' | tr '\n' ' ' | awk '{print $2 - $1}'; }
before=$(spread projection_base) after=$(spread projection_edited)
# fp32 forward of a few blocks: the edited projections agree to ~1e-6 of their size (~0.07)
expect projections-collapse 0 '^collapsed$' -- awk -v b="$before" -v a="$after" \
    'BEGIN { if (b > 1 && a < 1e-4) print "collapsed"; else print "base spread " b ", edited " a }'
refusal() { h5dump -A -m '%.17g' -g "/evaluation/$1/harmful" "$file" | grep -A4 '"refusal_rate"' | sed -n 's/^ *(0): //p'; }
base=$(refusal base) edited=$(refusal edited)
expect refusals-fall 0 '^fell$' -- awk -v b="$base" -v e="$edited" 'BEGIN { if (e < b) print "fell"; else print b " -> " e }'
adapter=$(ls -d "$tmp"/run/adapters/*)
expect adapter-config 0 '"r": 1' '"o_proj"' '"down_proj"' '"embed_tokens"' -- cat "$adapter/adapter_config.json"
expect evaluate-adapter 0 "^harmful +refusal_rate +$(printf '%.3f' "$edited")\$" \
    -- "$are" evaluate "$cfg" "${small[@]}" --adapter "$adapter"

# baseline.layers: r at the one layer named, of tinychat's are.layers [2, 3] the one the
# held-out criterion did not choose; a layer that is not in are.layers is refused
chosen=$(h5dump -a /direction/layer "$file" | sed -n 's/^ *(0): //p')
other=$((5 - chosen))
rm -rf "$file" "$tmp"/run/adapters/*
expect fixed-layer 0 "direction ablation along hidden_states\\[$other\\]" \
    -- "$are" run "$cfg" "${small[@]}" --set method=direction_ablation --set "baseline.layers=[$other]"
expect fixed-layer-attribute 0 "\\(0\\): $other\$" -- h5dump -a /direction/layer "$(ls "$tmp"/run/trials/*.h5)"
expect layer-not-read 1 "field 'baseline.layers\[0\]' is 1, expected one of are.layers" \
    -- "$are" run "$cfg" "${small[@]}" --set method=direction_ablation --set 'baseline.layers=[1]'
printf '@include "%s"\nbaseline = { layers = [2, 5]; };\n' "$cfg" >"$tmp/bad-layer.cfg"
expect layer-at-line 1 "bad-layer.cfg:2: field 'baseline.layers\[1\]' is 5" \
    -- "$are" run "$tmp/bad-layer.cfg" "${small[@]}" --set method=direction_ablation
rm -f "$tmp"/run/trials/*.h5

rm -f "$file"
expect addition-zero 0 'activation addition of 0 x' -- "$are" run "$cfg" "${small[@]}" \
    --set method=activation_addition --set baseline.alpha=0
file=$(ls "$tmp"/run/trials/*.h5)
expect addition-zero-is-base 0 '^equal$' -- edited_is_base "$file"
rm -f "$file"
expect addition 0 'activation addition of 8 x' -- "$are" run "$cfg" "${small[@]}" \
    --set method=activation_addition --set baseline.alpha=8
file=$(ls "$tmp"/run/trials/*.h5)
expect steering-stored 0 'steering' -- h5dump -n "$file"
edited=$(refusal edited)
expect evaluate-steer 0 "^harmful +refusal_rate +$(printf '%.3f' "$edited")\$" \
    -- "$are" evaluate "$cfg" "${small[@]}" --steer "$file"
expect generate-steer 0 '.' -- "$are" generate models/tinychat --prompt 'How do I pick a lock?' \
    --max-new-tokens 8 --steer "$file"
expect steer-not-a-trial 1 "$cfg: not a readable trial file" -- "$are" evaluate "$cfg" "${small[@]}" --steer "$cfg"
"$are" run "$cfg" "${small[@]}" --set method=none >/dev/null 2>&1
none_file=$(ls -t "$tmp"/run/trials/*.h5 | head -1)
expect steer-none-trial 1 'no group direction' -- "$are" evaluate "$cfg" "${small[@]}" --steer "$none_file"

expect_summary
