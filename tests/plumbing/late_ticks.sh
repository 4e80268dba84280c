#!/bin/sh
# A daemon the host does not run on time says so: stopped (SIGSTOP) for
# ten intervals, each daemon logs a "late" line saying how late (a busy
# machine may add another, so at least one of a second or more is asked
# for), and "on time again" once it runs freely.  Prints TAP.
set -u
cd "$(dirname "$0")/../.."
VCPU=${VCPU_SCHEDULER:-vcpu_scheduler/vcpu_scheduler}
MEM=${MEMORY_COORDINATOR:-memory_coordinator/memory_coordinator}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
echo "1..4"
for d in "$VCPU" "$MEM"; do
    name=$(basename "$d")
    "$d" 0.2 --uri test:///default --dry-run >"$tmp/$name.log" 2>&1 &
    pid=$!
    sleep 1
    kill -STOP "$pid"
    sleep 2
    kill -CONT "$pid"
    sleep 1.5
    kill -INT "$pid"
    wait "$pid"
    rc=$?
    late=$(grep -c 'tick [1-9]\.[0-9]* s late (interval 0.2 s)' "$tmp/$name.log")
    again=$(grep -c 'ticks on time again' "$tmp/$name.log")
    n=$((n + 1))
    if [ "$rc" -eq 0 ] && [ "$late" -ge 1 ]; then
        echo "ok $n - $name: a tick of 1 s or more late logged after 2 s stopped at 0.2 s ticks"
    else
        echo "not ok $n - $name: exit $rc, $late lines of a tick 1 s or more late"
        sed 's/^/# /' "$tmp/$name.log"
    fi
    grep 's late (interval' "$tmp/$name.log" | sed 's/^/# /'
    n=$((n + 1))
    if [ "$again" -ge 1 ]; then
        echo "ok $n - $name: 'ticks on time again' once it ran freely"
    else
        echo "not ok $n - $name: no 'on time again' line"
    fi
done
