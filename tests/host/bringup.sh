#!/bin/sh
# TAP test for make check: brings the real test host up (tests/host/up.sh,
# $AOS_GUESTS guests, default 4) and measures it.
#   1. up.sh succeeds (boot times are printed as comments);
#   2. every guest's control channel answers;
#   3. every guest's balloon is at 512 MiB;
#   4. every guest runs the clocksource its kernel command line names (the
#      same on all: up.sh gives every guest one), with 1 ns hrtimers, and
#      has its ext4 data disk on /data (guestctl.py check);
#   5. the idle guests cost little host CPU (QEMU processes' CPU time over
#      10 s, from /proc/<pid>/stat): under 25 % of one pCPU in all.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
N=${AOS_GUESTS:-4}
GUESTCTL="/usr/bin/python3 $HERE/guestctl.py"

echo "1..5"
t0=$(date +%s.%N)
out=$("$HERE/up.sh" "$N" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if [ "$rc" -eq 0 ]; then
    echo "ok 1 - up.sh brings up $N guests ($took s)"
else
    echo "not ok 1 - up.sh failed with status $rc after $took s"
    echo "Bail out! no test host"
    exit 1
fi

fail=0
pings=$($GUESTCTL all ping 2>&1)
prc=$?
echo "$pings" | sed 's/^/# /'
count=$(echo "$pings" | grep -c ': pong in')
if [ "$prc" -eq 0 ] && [ "$count" -ge "$N" ]; then
    echo "ok 2 - $count guests answer on their control channels"
else
    echo "not ok 2 - control channels: $count of $N answer"
    fail=1
fi

actual=$($GUESTCTL all stats 2>&1 | awk '$2 == "actual"')
echo "$actual" | sed 's/^/# balloon /'
bad=$(echo "$actual" | awk '$3 != 524288' | wc -l)
if [ -n "$actual" ] && [ "$bad" -eq 0 ]; then
    echo "ok 3 - every guest's balloon is at 512 MiB"
else
    echo "not ok 3 - $bad guests' balloons are not at 512 MiB"
    fail=1
fi

checks=$($GUESTCTL all check 2>&1)
crc=$?
echo "$checks" | sed 's/^/# /'
sources=$(echo "$checks" | sed -n 's/^aos_vm[0-9]*: clocksource \([^,]*\),.*/\1/p' | sort -u)
nsrc=$(echo "$sources" | grep -c .)
if [ "$crc" -eq 0 ] && [ "$nsrc" -eq 1 ]; then
    echo "ok 4 - every guest runs clocksource $sources with 1 ns timers and has /data"
else
    bad=$(echo "$checks" | grep '^guestctl: ' | sed 's/^guestctl: //' | tr '\n' ';')
    echo "not ok 4 - guest clock or disk: ${bad:-clocksources differ: $(echo $sources)}"
    fail=1
fi

# Idle cost: sum of utime+stime of the QEMU processes over 10 s.
pids=""
for i in $(seq 1 "$N"); do
    f=/run/libvirt/qemu/aos_vm$i.pid
    [ -f "$f" ] && pids="$pids $(cat "$f")"
done
ticks() {
    t=0
    for p in $pids; do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
hz=$(getconf CLK_TCK)
a=$(ticks)
sleep 10
b=$(ticks)
pct=$(awk -v d="$((b - a))" -v hz="$hz" 'BEGIN { printf "%.1f", d / hz / 10 * 100 }')
echo "# $N idle guests used $pct % of one pCPU over 10 s (load average $(cut -d' ' -f1 /proc/loadavg))"
if awk -v p="$pct" 'BEGIN { exit !(p < 25) }'; then
    echo "ok 5 - idle guests cost $pct % of one pCPU (< 25 %)"
else
    echo "not ok 5 - idle guests cost $pct % of one pCPU (>= 25 %)"
    fail=1
fi
exit "$fail"
