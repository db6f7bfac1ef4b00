#!/usr/bin/env bash
# A full disk under a sweep: `are sweep` into a small tmpfs filled to several points (no room
# for the first sweep.h5, room for part of the first trial, room for about two and a half
# trials) must exit 1 with the system's "No space left on device" on stderr, never crash, keep
# sweep.h5 readable and the trials finished before, and, once space is back, finish the sweep
# without running those trials again. The tmpfs needs root (CI runs as root); skipped without.
# usage: test_full_disk.sh path/to/are SOURCE_DIR
set -u
are=$1
cd "$2" || exit 1 # the configs' paths are relative to the source tree
. "$(dirname "$0")/expect.sh"
. "$(dirname "$0")/sweep_fixture.sh"
tmp=$(mktemp -d)
disk=$tmp/disk
mkdir "$disk"
trap 'umount "$disk" 2>/dev/null; rm -rf "$tmp"' EXIT
sweep_require
if ! mount -t tmpfs -o size=4m tmpfs "$disk" 2>/dev/null; then
    echo "skipped: cannot mount a tmpfs here (needs root)"
    exit 77
fi

sweep_config "$tmp/sweep.cfg" '
sweep = {
  seed = 3;
  repeats = 2;
  axes = ( { path = "are.generator.rank"; values = [4, 8]; } );
};'
small+=(--set are.max_rounds=2)

# What the whole sweep takes, in KiB.
sweep_in 0 "$disk/whole" "$tmp/sweep.cfg" >"$tmp/whole.log" 2>&1 || { cat "$tmp/whole.log"; exit 1; }
used=$(du -sk "$disk/whole" | cut -f1)
rm -rf "$disk/whole"

# leave KIB: fills the disk but KIB KiB.
leave() {
    local avail
    avail=$(df -k --output=avail "$disk" | tail -1)
    fallocate -l $(((avail - $1) * 1024)) "$disk/filler"
}

kept_somewhere=0
for free in 8 $((used / 8)) $((used * 5 / 8)); do
    run=$disk/run-$free
    leave "$free"
    expect "full-$free" 1 'No space left on device' -- sweep_in 0 "$run" "$tmp/sweep.cfg"
    if [ -f "$run/sweep.h5" ]; then
        expect "sweep.h5-readable-$free" 0 '^(pending|running|done|failed)$' -- \
            h5_values "$run/sweep.h5" /table/status
    fi
    before=$(trial_stamps "$run")
    [ -n "$before" ] && kept_somewhere=1
    rm "$disk/filler"
    expect "resumed-$free" 0 "4 done, 0 failed" -- sweep_in 0 "$run" "$tmp/sweep.cfg"
    expect "all-done-$free" 0 '^4$' -- sweep_count "$run" done
    # The trials finished before the disk filled are the same files, not run again.
    after=$(trial_stamps "$run")
    expect "kept-$free" 0 -- test -z "$(comm -23 <(sort <<<"$before") <(sort <<<"$after"))"
    rm -rf "$run"
done
expect some-trials-finished-before-a-full-disk 0 -- test "$kept_somewhere" -eq 1
expect_summary
