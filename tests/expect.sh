# Shared by the shell tests: counters, `expect`, and the closing "N passed, N failed" line.
# Source it, then call expect ...; finish with expect_summary (its status is the script's).
passed=0 failed=0 skipped=0

# expect NAME CODE PATTERN... -- CMD...: CMD exits with CODE and every PATTERN matches a line
# of its output (stdout and stderr together).
expect() {
    local name=$1 code=$2
    shift 2
    local patterns=()
    while [ "$1" != "--" ]; do patterns+=("$1"); shift; done
    shift
    local out rc ok=1
    out=$("$@" 2>&1 </dev/null)
    rc=$?
    [ "$rc" -eq "$code" ] || ok=0
    for p in "${patterns[@]}"; do grep -qE -- "$p" <<<"$out" || ok=0; done
    if [ $ok -eq 1 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name: exit $rc (wanted $code), or no line matched one of: ${patterns[*]}" >&2
        sed 's/^/    /' <<<"$out" >&2
    fi
}

expect_summary() {
    if [ "$skipped" -gt 0 ]; then
        echo "$passed passed, $failed failed, $skipped skipped"
    else
        echo "$passed passed, $failed failed"
    fi
    [ "$failed" -eq 0 ]
}
