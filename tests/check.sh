#!/bin/sh
# make check: every test, from the pure unit tests to the real guests.
# Prints TAP per test program and closes with "N passed, N failed".
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."

GUESTS=${AOS_GUESTS:-4}
export AOS_GUESTS="$GUESTS"

teardown() {
    if [ -z "${AOS_KEEP_HOST:-}" ]; then
        echo "# tearing the test host down"
        tests/host/down.sh --all >/dev/null 2>&1 || true
    fi
}
trap teardown EXIT INT TERM

start=$(date +%s)
set -- $(ls "$BUILD"/tests/test_* 2>/dev/null | grep -v '\.o$') \
    $(ls "$BUILD"/tests/plumbing/test_* 2>/dev/null | grep -v '\.o$') \
    tests/plumbing/*.sh tests/plumbing/*.py \
    tests/host/bringup.sh \
    $(ls tests/integration/*.py 2>/dev/null) \
    tests/scenarios/run.py
tests/run-tap "$@"
rc=$?
echo "# make check took $(( $(date +%s) - start )) s"
exit $rc
