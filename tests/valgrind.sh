#!/bin/sh
# Runs unit test binaries under valgrind's memcheck and prints TAP:
#   ok N - <test> valgrind clean
# A test fails when valgrind reports any memory error or a definitely or
# indirectly lost block, or when the test itself fails.
#
#   tests/valgrind.sh [test binary...]     (default: build/tests/test_*)
#
# GLib keeps caches, type registrations and per-thread data alive until the
# process ends; they are "still reachable" or "possibly lost" and are not
# leaks of ours.  So:
#   - G_SLICE=always-malloc makes GSlice use malloc, so memcheck sees every
#     block (GSlice would otherwise hand out memory from its own magazines);
#   - G_DEBUG=gc-friendly clears freed memory so stale pointers are not
#     taken for live ones;
#   - GLib's own suppression file covers its one-time allocations;
#   - only definite and indirect leaks count as errors.
# VALGRIND_TIMEOUT (seconds, default 900) bounds each test.
# Randomised property tests run fewer cases here (VALGRIND_FUZZ_CASES,
# default 300): memcheck is some 30 times slower, and the cases exercise
# the same code paths.
set -u
cd "$(dirname "$0")/.."

fuzz_cases=${VALGRIND_FUZZ_CASES:-300}
glib_supp=/usr/share/glib-2.0/valgrind/glib.supp
log_dir=${VALGRIND_LOG_DIR:-build/valgrind}
# A test still running under valgrind after this many seconds counts as hung.
limit=${VALGRIND_TIMEOUT:-900}

if ! command -v valgrind >/dev/null 2>&1; then
    echo "not ok 1 - valgrind is not installed (make deps installs it)"
    echo "0 passed, 1 failed"
    exit 1
fi
if [ $# -eq 0 ]; then
    set -- $(ls build/tests/test_* 2>/dev/null | grep -v '\.o$')
fi
if [ $# -eq 0 ]; then
    echo "not ok 1 - no unit test binaries (run make unit first)"
    echo "0 passed, 1 failed"
    exit 1
fi

mkdir -p "$log_dir"
supp=
[ -f "$glib_supp" ] && supp="--suppressions=$glib_supp"

echo "1..$#"
n=0
passed=0
failed=0
for t in "$@"; do
    n=$((n + 1))
    name=$(basename "$t")
    out="$log_dir/$name.out"
    vlog="$log_dir/$name.valgrind"
    # Every *_FUZZ_CASES variable the test's source reads gets the smaller
    # count (see above).
    envs=
    src="tests/unit/$name.c"
    if [ -f "$src" ]; then
        for v in $(grep -o '"[A-Z_]*_FUZZ_CASES"' "$src" | tr -d '"' | sort -u); do
            envs="$envs $v=$fuzz_cases"
        done
    fi
    # shellcheck disable=SC2086
    timeout "$limit" env G_SLICE=always-malloc G_DEBUG=gc-friendly $envs \
        valgrind --tool=memcheck --leak-check=full \
        --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect \
        --track-origins=yes --num-callers=30 --error-exitcode=99 \
        $supp --log-file="$vlog" "$t" --tap >"$out" 2>&1
    rc=$?
    [ "$rc" -eq 124 ] && echo "# $name: still running after $limit s, stopped"
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$vlog" | tail -n 1)
    notok=$(grep -c '^not ok ' "$out")
    if [ "$rc" -eq 0 ] && [ "${errors:-x}" = 0 ] && [ "$notok" -eq 0 ]; then
        passed=$((passed + 1))
        echo "ok $n - $name valgrind clean"
    else
        failed=$((failed + 1))
        echo "not ok $n - $name: exit $rc, ${errors:-?} valgrind errors, $notok failing cases (see $vlog)"
        grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Mismatched|[0-9,]+ .*(definitely|indirectly) lost| +(at|by) 0x)' \
            "$vlog" | head -n 20 | sed 's/^/# /'
        grep '^not ok ' "$out" | head -n 5 | sed 's/^/# /'
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
