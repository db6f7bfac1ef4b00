#!/usr/bin/env bash
# The `are` command line: help, exit codes, and `are info` placement alone and under mpirun.
# usage: test_cli.sh path/to/are
set -u
are=$1
. "$(dirname "$0")/expect.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

expect help 0 '^usage: are <command>' -- "$are" --help
expect no-command 2 '^usage: are <command>' -- "$are"
expect unknown-command 2 "unknown command 'frobnicate'" -- "$are" frobnicate
expect version 0 '^are [0-9]+\.[0-9]+\.[0-9]+$' -- "$are" --version
expect info-help 0 '^usage: are info' -- "$are" info --help
expect info-bad-threads 2 'expects an integer in 1..4096' -- "$are" info --threads 0
expect info-unknown-arg 2 "unknown option '--bogus'" -- "$are" info --bogus
expect info-operand 2 "unexpected argument 'now'" -- "$are" info now
expect info-alone 0 'rank 0/1 on .*\(node rank 0/1\): [0-9]+ cpu threads' -- "$are" info
expect info-threads 0 'rank 0/1 .*: 3 cpu threads' -- "$are" info --threads 3
if command -v mpirun >/dev/null; then
    # Two ranks on one node split its cores; rank 0 takes the odd one out.
    cores=$(nproc --all)
    share=$(((cores + 1) / 2))
    expect info-mpi 0 "^rank 0/2 .*node rank 0/2\): $share cpu threads" \
        "^rank 1/2 .*node rank 1/2\): $((cores / 2 > 0 ? cores / 2 : 1)) cpu threads" \
        -- mpirun -np 2 "$are" info
else
    echo "skipped: mpirun not found"
    skipped=$((skipped + 1))
fi
expect_summary
