#!/usr/bin/env bash
# The sample report of test_svg_report rendered by headless Chromium: the tables, plots and
# texts are in the rendered page and the screenshot shows the plots' colours. The report and
# its files stay in OUT_DIR for a look in a browser. Skipped (77) without chromium or python3.
# usage: test_report_render.sh path/to/test_svg_report OUT_DIR
set -u
test_program=$1
out=$2
if ! command -v python3 >/dev/null; then
    echo "skipped: python3 not installed"
    exit 77
fi
rm -rf "$out" && mkdir -p "$out" || exit 1
"$test_program" "$out/report.html" >"$out/test_svg_report.log" || {
    cat "$out/test_svg_report.log"
    exit 1
}
# Counts and texts of the sample in tests/test_svg_report.c; #0072B2 and #D55E00 are the
# first two palette colours, filling the bars of the first figure.
exec python3 "$(dirname "$0")/check_report.py" "$out/report.html" --tables 3 --svgs 4 \
    --text "ARE sweep report: demo <sweep>" --text "jailbreak: by are.generator.rank" \
    --text "0.837 ± 0.032" --text "Second paragraph: a<b & c." \
    --text "Discriminator accuracy per round" --text "PCA of layer 4, round 5" \
    --text "Figure 4: PCA, round 5." --color "#0072B2" --color "#D55E00"
