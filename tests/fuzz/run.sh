#!/bin/sh
# make fuzz: runs every libFuzzer target for a fixed time, then every policy
# property test with a large number of cases.  Prints TAP and closes with
# "N passed, N failed".
#
#   run.sh [--fuzz-build DIR] [--unit-build DIR] [--seconds S] [--cases N]
#          [--only NAME]
#
# FUZZ_CASE_TIMEOUT (seconds, default 1800) bounds each property test.
#
# A libFuzzer target passes when it ran the whole time without a crash,
# leak, timeout or broken property; its runs, runs per second and coverage
# are printed as TAP comments, and its full log is kept in
# DIR/logs/<target>.log.  A crash leaves its input in DIR/crashes/.
set -u
cd "$(dirname "$0")/../.."

fuzz_build=build-fuzz
unit_build=build
seconds=60
cases=100000
# A property test that has not finished by then counts as hung.
case_timeout=${FUZZ_CASE_TIMEOUT:-1800}
only=
while [ $# -gt 0 ]; do
    case "$1" in
    --fuzz-build) fuzz_build=$2; shift 2 ;;
    --unit-build) unit_build=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --cases) cases=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

n=0
passed=0
failed=0
ok() { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }

# Seed directories of a target: what the daemons really read.
seeds_for() {
    case "$1" in
    fuzz_config) echo conf tests/fuzz/seeds/cli tests/fuzz/seeds/config ;;
    fuzz_hostcaps)
        find tests/fixtures -name '*.xml' -exec dirname {} \; | sort -u ;;
    esac
}

mkdir -p "$fuzz_build/logs" "$fuzz_build/crashes"
for bin in "$fuzz_build"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    [ -n "$only" ] && [ "$only" != "$name" ] && continue
    corpus="$fuzz_build/corpus/$name"
    log="$fuzz_build/logs/$name.log"
    dict="tests/fuzz/${name#fuzz_}.dict"
    mkdir -p "$corpus"
    set -- -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=4096 -max_len=16384 \
        -artifact_prefix="$fuzz_build/crashes/$name-"
    [ -f "$dict" ] && set -- "$@" -dict="$dict"
    echo "# $name: $seconds s, corpus $corpus, seeds $(seeds_for "$name" | tr '\n' ' ')"
    # shellcheck disable=SC2046
    "$bin" "$@" "$corpus" $(seeds_for "$name") >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9A-Za-z]*' "$log" |
        tail -n 1)
    echo "# $name: ${runs:-?} runs, ${rate:-?} runs/s, $cov"
    if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
        ok "$name ran $seconds s with no crash"
    else
        grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_[a-z]+: property|.*runtime error:)' \
            "$log" | head -n 5 | sed 's/^/# /'
        grep -o 'Test unit written to .*' "$log" | sed 's/^/# /'
        notok "$name exited with status $rc (log: $log)"
    fi
done

# Property tests: every unit test whose source reads a *_FUZZ_CASES
# variable gets that variable set to the requested number of cases.
if [ -z "$only" ]; then
    # Both policies must take a case count, or "as many as asked" is a lie.
    for family in mem vcpu; do
        if ! grep -lq '"[A-Z_]*_FUZZ_CASES"' tests/unit/test_"$family"*.c 2>/dev/null; then
            notok "no tests/unit/test_$family*.c property test reads a *_FUZZ_CASES variable"
        fi
    done
    for src in tests/unit/test_*.c; do
        vars=$(grep -o '"[A-Z_]*_FUZZ_CASES"' "$src" | tr -d '"' | sort -u)
        [ -n "$vars" ] || continue
        name=$(basename "$src" .c)
        bin="$unit_build/tests/$name"
        if [ ! -x "$bin" ]; then
            notok "$name: $bin was not built"
            continue
        fi
        envs=
        for v in $vars; do envs="$envs $v=$cases"; done
        log="$fuzz_build/logs/$name.log"
        start=$(date +%s)
        # shellcheck disable=SC2086
        timeout "$case_timeout" env $envs "$bin" --tap >"$log" 2>&1
        rc=$?
        [ "$rc" -eq 124 ] && echo "# $name: still running after $case_timeout s (FUZZ_CASE_TIMEOUT), stopped"

        took=$(($(date +%s) - start))
        p=$(grep -c '^ok ' "$log")
        f=$(grep -c '^not ok ' "$log")
        echo "# $name:$envs: $p ok, $f not ok in $took s"
        if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && [ "$p" -gt 0 ]; then
            ok "$name with$envs"
        else
            grep '^not ok\|^# .*[Ss]eed\|ERROR' "$log" | head -n 10 | sed 's/^/# /'
            notok "$name with$envs exited with status $rc (log: $log)"
        fi
    done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
