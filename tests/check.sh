#!/bin/sh
# make check: every test, from the pure unit tests to the real guests.
# Prints TAP per test program and closes with "N passed, N failed".
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."
# The binaries under test: the sanitized ones with SANITIZE=1.
export VCPU_SCHEDULER=${2:-vcpu_scheduler/vcpu_scheduler}
export MEMORY_COORDINATOR=${3:-memory_coordinator/memory_coordinator}
if [ "$BUILD" = build-san ]; then
    export TSC_CALC=$BUILD/bin/tsc_calc SNAPSHOT_DUMP=$BUILD/bin/snapshot_dump \
        MIGRATE_REQUEST=$BUILD/bin/migrate_request TICK_BENCH=$BUILD/bin/tick_bench
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

# Property tests of both policies run 10,000 random hosts each.
export VCPU_FUZZ_CASES=${VCPU_FUZZ_CASES:-10000}
export MEM_FUZZ_CASES=${MEM_FUZZ_CASES:-10000}

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
# The real guests serve one test at a time; hold the host for the run.
flock -o /tmp/aos-testhost.lock tests/run-tap "$@"
rc=$?
echo "# make check took $(( $(date +%s) - start )) s"
exit $rc
