#!/usr/bin/env bash
# `are analyze` end to end on a small tinychat sweep (2 tasks x 2 LoRA ranks x 2 repeats, 2
# rounds each): the ablation tables' means and standard deviations against the same numbers
# computed here with awk from sweep.h5 (h5dump), one representation row per stored round and
# layer of every trial file, the report rendered by headless Chromium, byte-identical output
# from two runs, filters and grouping, a sweep killed mid-trial (its running trial's rounds so
# far analysed from the .tmp file), a folder of `are run` trials without sweep.h5, errors,
# unreadable trial files left out with warnings, and output replaced whole or not at all.
# usage: test_analyze.sh path/to/are SOURCE_DIR
set -u
are=$1
cd "$2" || exit 1 # the configs' paths are relative to the source tree
. "$(dirname "$0")/expect.sh"
. "$(dirname "$0")/sweep_fixture.sh"
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
sweep_require

sweep_config "$tmp/sweep.cfg" '
sweep = {
  method = "grid";
  seed = 3;
  repeats = 2;
  axes = (
    { paths = ["task", "are.generator.retain_weight"];
      values = ( ("jailbreak", 0.0), ("defense", 1.0) ); },
    { path = "are.generator.rank"; values = [4, 8]; }
  );
};'
run=$tmp/run
sweep_in 0 "$run" "$tmp/sweep.cfg" --set are.max_rounds=2 >"$tmp/sweep.log" 2>&1 ||
    { cat "$tmp/sweep.log"; exit 1; }

expect help 0 '^usage: are analyze RUN_DIR' '--where' '--by' -- "$are" analyze --help
expect no-dir 2 'RUN_DIR missing' -- "$are" analyze
expect bad-option 2 "unknown option '--frobnicate'" -- \
    "$are" analyze "$run" --frobnicate
expect missing-dir 1 "$tmp/nowhere: neither a sweep.h5 nor finished trial files" -- \
    "$are" analyze "$tmp/nowhere"
expect bad-axis 2 'are.generator.rnak' 'are.generator.rank' -- \
    "$are" analyze "$run" --where are.generator.rnak=4 --out "$tmp/bad"
expect empty-item 2 "--by expects a comma-separated list \(at most 8\), got 'task,'" -- \
    "$are" analyze "$run" --by task, --out "$tmp/bad"

expect analyze 0 '^## jailbreak: by are.generator.rank$' '^## defense: by are.generator.rank$' \
    '8 trials, all done' -- "$are" analyze "$run"
out=$run/analysis

# csv_value FILE KEY COLUMN: the COLUMN (header name) of the row whose first cell is KEY.
csv_value() {
    awk -F, -v key="$2" -v col="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        $1 == key { print $(c[col]) }' "$1"
}

# expected TASK RANK METRIC: "mean std n" of METRIC over the done trials of TASK with RANK,
# from sweep.h5's params and metrics columns.
expected() {
    { h5_values "$run/sweep.h5" /table/params; echo --; h5_values "$run/sweep.h5" /table/metric_names
      echo --; h5_values "$run/sweep.h5" /table/metrics; } |
        awk -v task="task=\"$1\"" -v rank="are.generator.rank=$2" -v metric="$3" '
            $0 == "--" { part++; next }
            part == 0 { params[n_rows++] = $0 }
            part == 1 { name[n_names++] = $0 }
            part == 2 { col = k % n_names; row = (k - col) / n_names; k++
                        if (name[col] == metric && index(params[row], task) &&
                            index(params[row], rank) && $0 != "nan") v[n++] = $0 }
            END { for (i = 0; i < n; i++) s += v[i]; m = s / n
                  for (i = 0; i < n; i++) q += (v[i] - m) ^ 2
                  printf "%.17g %.17g %d\n", m, sqrt(q / (n - 1)), n }'
}

# close A B: |A - B| <= 1e-12 (1 + |B|).
close() {
    awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b
                                     exit !(d <= 1e-12 * (1 + m)) }'
}

for task in jailbreak defense; do
    for rank in 4 8; do
        for metric in final_disc_acc edited.harmful.refusal_rate edited.held_out_text.perplexity; do
            read -r mean std n <<<"$(expected "$task" "$rank" "$metric")"
            csv=$out/ablation-$task-by-are.generator.rank.csv
            expect "mean-$task-$rank-$metric" 0 -- close "$(csv_value "$csv" "$rank" "${metric}_mean")" "$mean"
            expect "std-$task-$rank-$metric" 0 -- close "$(csv_value "$csv" "$rank" "${metric}_std")" "$std"
            expect "n-$task-$rank-$metric" 0 "^$n\$" -- csv_value "$csv" "$rank" "${metric}_n"
        done
    done
done

# change.X is edited.X - base.X, trial by trial.
expect change-is-difference 0 -- awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { d = $(c["edited.harmful.refusal_rate"]) - $(c["base.harmful.refusal_rate"]) - $(c["change.harmful.refusal_rate"])
      if (d > 1e-12 || d < -1e-12) bad = 1 }
    END { exit bad }' "$out/trials.csv"
expect trials-csv-rows 0 '^9$' -- awk 'END { print NR }' "$out/trials.csv"
expect latex-booktabs 0 'toprule' 'midrule' 'bottomrule' '\$\\pm\$' -- \
    cat "$out/ablation-jailbreak-by-are.generator.rank.tex"

# One representation row per trial, stored round and layer; accuracies are fractions.
rows=0
for f in "$run"/trials/*.h5; do
    stored=$(h5_values "$f" /stored_rounds | wc -l)
    layers=$(h5_values "$f" /layers | wc -l)
    rows=$((rows + stored * layers))
done
expect representation-rows 0 "^$((rows + 1))\$" -- awk 'END { print NR }' "$out/representations.csv"
expect probe-fractions 0 -- awk -F, 'NR > 1 && ($5 < 0 || $5 > 1 || $6 < 0 || $6 > 1) { bad = 1 }
    END { exit bad }' "$out/representations.csv"
# Round 0 is the base model, where the classes are linearly separable (tinychat refuses
# harmful requests and answers harmless ones), and which no trial's settings change: its rows
# of one layer are the same in every trial.
expect base-separable 0 -- awk -F, 'NR > 1 && $3 == 0 && $6 < 0.85 { bad = 1 } END { exit bad }' \
    "$out/representations.csv"
expect base-same 0 -- awk -F, 'NR > 1 && $3 == 0 { v = $5 "," $6 "," $7 "," $8 "," $9
        if (($4 in seen) && seen[$4] != v) bad = 1; seen[$4] = v } END { exit bad }' \
    "$out/representations.csv"

# Everything the report links is there, and Chromium shows its tables and plots: the task
# table, the trials table, and per task the rank table and the round table; bars per ablation
# table, and per task 3 round plots and 3 PCA rounds (0, 1, 2).
report_check=(python3 tests/check_report.py "$out/report.html" --tables 6 --svgs 15
    --text "Task jailbreak" --text "Task defense" --text "jailbreak: by are.generator.rank"
    --text "Linear-probe accuracy per round and layer" --color "#D55E00")
if command -v chromium >/dev/null && command -v python3 >/dev/null; then
    expect report-renders 0 -- "${report_check[@]}"
else
    echo "skipped: report rendering (chromium or python3 not installed)"
    skipped=$((skipped + 1))
fi

# The same input gives the same bytes.
"$are" analyze "$run" --out "$tmp/again" >"$tmp/again.md" 2>/dev/null
expect deterministic 0 -- diff -r "$out" "$tmp/again"

expect where 0 '^## by are.generator.rank$' -- \
    "$are" analyze "$run" --where task=defense --out "$tmp/defense"
expect where-only-defense 1 -- grep -l jailbreak "$tmp/defense/trials.csv"
expect where-no-value 2 'jailbreak' 'defense' -- "$are" analyze "$run" --where task=truthful --out "$tmp/x"
expect by 0 '^## jailbreak: by are.generator.rank × repeat$' -- \
    "$are" analyze "$run" --by are.generator.rank,repeat --no-representations --out "$tmp/by"

# The PCA plots of another captured layer; one the trials do not store is the caller's mistake.
expect pca-layer 0 -- "$are" analyze "$run" --pca-layer 3 --out "$tmp/pca3"
expect pca-layer-files 0 'jailbreak-pca-[0-9a-f]{16}-layer3-round2.svg' -- ls "$tmp/pca3/plots"
expect pca-layer-missing 2 'pca-layer 9: trial [0-9a-f]{16} \(task [a-z]+\) stores hidden states 2..3, not 9' \
    -- "$are" analyze "$run" --pca-layer 9 --out "$tmp/pca9"

# A sweep killed during its third trial's second round: sweep.h5 says running, the trial's
# .tmp holds its rounds so far, and analyze reads them.
killed=$tmp/killed
ARE_FAULT=trial_round:8 sweep_in 0 "$killed" "$tmp/sweep.cfg" --set are.max_rounds=2 \
    >"$tmp/killed.log" 2>&1
expect killed-running 0 '^1$' -- sweep_count "$killed" running
expect killed-analyze 0 'running' '2 done counted' -- "$are" analyze "$killed"
tmp_trial=$(basename "$(ls "$killed"/trials/*.h5.tmp)" .h5.tmp)
expect killed-rounds 0 "^$tmp_trial," -- grep "^$tmp_trial," "$killed/analysis/representations.csv"

# A folder of `are run` trials: no sweep.h5, the finished files analysed.
mkdir -p "$tmp/runs/trials" && cp "$run"/trials/*.h5 "$tmp/runs/trials/"
expect no-sweep 0 'has no sweep.h5: analysing its 8 finished trial files' -- \
    "$are" analyze "$tmp/runs"

# Output that cannot be written is an error naming the file.
mkdir -p "$tmp/ro" && touch "$tmp/ro/plots"
expect unwritable 1 "$tmp/ro/plots" -- "$are" analyze "$run" --out "$tmp/ro"

# Unreadable trial files of done trials: one cut short, one text, one gone. Each is named with
# what is wrong and left out of the tables with a warning; the rest is written.
bad=$tmp/bad
cp -r "$run" "$bad" && rm -rf "$bad/analysis"
mapfile -t ids < <(h5_values "$bad/sweep.h5" /table/id)
head -c 5000 "$run/trials/${ids[0]}.h5" >"$bad/trials/${ids[0]}.h5"
echo 'task = "jailbreak";' >"$bad/trials/${ids[1]}.h5"
rm "$bad/trials/${ids[2]}.h5"
expect unreadable 0 "^warning: .*/trials/${ids[0]}.h5: truncated: 5000 bytes of the [0-9]+ its superblock records; left out of the tables" \
    "^warning: .*/trials/${ids[1]}.h5: not an HDF5 file" "^warning: .*/trials/${ids[2]}.h5: missing" \
    '5 trials, all done' -- "$are" analyze "$bad"
expect unreadable-rows 0 '^6$' -- awk 'END { print NR }' "$bad/analysis/trials.csv"
expect unreadable-left-out 1 -- grep -E "^(${ids[0]}|${ids[1]}|${ids[2]})," "$bad/analysis/trials.csv"
expect unreadable-in-report 0 "Unreadable trial files: .*${ids[0]}.h5: truncated" -- \
    cat "$bad/analysis/report.html"
# The same files without sweep.h5.
mkdir -p "$tmp/bad-runs/trials" && cp "$bad"/trials/*.h5 "$tmp/bad-runs/trials/"
expect unreadable-no-sweep 0 'analysing its 5 finished trial files' \
    "^warning: .*/trials/${ids[0]}.h5: truncated" "^warning: .*/trials/${ids[1]}.h5: not an HDF5" -- \
    "$are" analyze "$tmp/bad-runs"

# An analysis that fails late (the report's PCA layer) leaves the earlier one as it was, and
# no temporary folder; one that succeeds replaces it whole (a stale plot of the old one goes).
fingerprint() { (cd "$1" && find . -type f -exec md5sum {} + | sort); }
before=$(fingerprint "$out")
expect late-failure 2 'pca-layer 9' -- "$are" analyze "$run" --pca-layer 9
expect late-failure-kept 0 -- test "$before" = "$(fingerprint "$out")"
expect no-temporary-left 0 '^$' -- find "$run" -maxdepth 1 -name 'analysis.tmp-*'
touch "$out/plots/stale.svg"
expect replaced 0 -- "$are" analyze "$run" --no-representations
expect stale-gone 1 -- test -e "$out/plots/stale.svg"
# A folder that holds other files is never replaced.
mkdir -p "$tmp/mine" && echo notes >"$tmp/mine/notes.txt"
expect not-replaced 1 "$tmp/mine holds notes.txt, which are analyze does not write" -- \
    "$are" analyze "$run" --out "$tmp/mine"
expect notes-kept 0 '^notes$' -- cat "$tmp/mine/notes.txt"

expect_summary
