#!/bin/sh
# Every bad input of both daemons: one clear message on stderr, the
# documented exit code, and no action (all runs use libvirt's test driver
# or no libvirt at all).  Prints TAP.
set -u
cd "$(dirname "$0")/../.."
VCPU=${VCPU_SCHEDULER:-vcpu_scheduler/vcpu_scheduler}
MEM=${MEMORY_COORDINATOR:-memory_coordinator/memory_coordinator}
# The tools under test: the sanitized ones under make check SANITIZE=1.
tool_path() {
    case "$1" in
    migrate_request) echo "${MIGRATE_REQUEST:-tools/migrate_request}" ;;
    snapshot_dump) echo "${SNAPSHOT_DUMP:-tools/snapshot_dump}" ;;
    tsc_calc) echo "${TSC_CALC:-tools/tsc_calc}" ;;
    tick_bench) echo "${TICK_BENCH:-tools/tick_bench}" ;;
    esac
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'not a key file\n' >"$tmp/malformed.conf"
printf '[daemon]\nintervall=2\n' >"$tmp/unknown-key.conf"
printf '[memory]\nhost_reserve_mib=lots\n' >"$tmp/bad-value.conf"
printf '[vcpu]\nsd_threshold=lots\n' >"$tmp/bad-vcpu-value.conf"
printf '[vcpu]\nexclude_cpus=1-\n' >"$tmp/bad-exclude.conf"
printf '[vcpu]\ngranularity=socket\n' >"$tmp/bad-granularity.conf"
printf '[memory]\npolicy=idle-tax\nhost_reserve_mib=300\n' >"$tmp/memory.conf"
printf '[daemon]\ninterval=0.2\nuri=test:///default\n' >"$tmp/good.conf"
printf '[daemon]\ninterval=1\n' >"$tmp/unreadable.conf"
printf '[daemon]\nmetrics_file=%s/gone/d.prom\n' "$tmp" >"$tmp/metrics-gone.conf"
chmod 000 "$tmp/unreadable.conf"

# daemon|expected exit|needle on stdout+stderr|arguments...
cases="
both|2|missing interval|
both|2|is not a number of seconds|abc
both|2|must be greater than zero|0
both|2|must be greater than zero|-1
both|2|must be greater than zero|-- -5
both|2|is not a number of seconds|2s
both|2|is not a number of seconds|nan
both|2|out of range|0.001
both|2|is not a number of seconds|0x10
both|2|expected one interval argument|1 2
both|2|not both|1 --interval 2
both|2|Unknown option --frobnicate|1 --frobnicate
both|2|Missing argument for --uri|1 --uri
both|3|cannot read config|1 --config $tmp/nonexistent.conf
both|3|malformed.conf|1 --config $tmp/malformed.conf
both|3|unknown key 'intervall' in [daemon]|1 --config $tmp/unknown-key.conf
both|3|cannot write metrics file $tmp/gone/d.prom: cannot create a file in directory $tmp/gone|1 --config $tmp/metrics-gone.conf
both|3|cannot write metrics file $tmp/gone/d.prom|0.1 --once --uri test:///default --metrics-file $tmp/gone/d.prom
both|3|metrics file $tmp is a directory|1 --metrics-file $tmp
memory|3|[memory] host_reserve_mib|1 --config $tmp/bad-value.conf
vcpu|3|unknown group [memory]|1 --config $tmp/bad-value.conf
vcpu|3|[vcpu] sd_threshold|1 --config $tmp/bad-vcpu-value.conf
memory|3|unknown group [vcpu]|1 --config $tmp/bad-vcpu-value.conf
both|2|expected off, advise or execute|1 --migration sometimes
both|2|needs at least one peer|1 --migration advise
both|2|is reached over plain TCP|1 --migration execute --peer qemu+tcp://b/system=4c4c4544-0042-4a10-8051-b2c04f4e3232
both|4|bogus:///nowhere|1 --once --uri bogus:///nowhere
both|4|test:///nonexistent.xml|1 --dry-run --uri test:///nonexistent.xml
both|0|plan:|0.1 --once --dry-run --uri test:///default
both|0|plan:|--once --dry-run --config $tmp/good.conf
both|0|Usage:|--help
both|0|0.1.0|--version
memory|2|expected course or idle-tax|1 --policy greedy
memory|2|is not a whole number|1 --budget-mib lots
memory|2|out of range|1 --reserve-mib 99999999999
memory|2|[memory] guest_budget_mib = '-5' is not a whole number|1 --budget-mib -5
vcpu|2|[vcpu] sd_threshold|1 --threshold much
vcpu|2|[vcpu] exclude_cpus: 'x': expected a CPU id|1 --exclude-cpus x
vcpu|3|[vcpu] exclude_cpus: '1-': bad range|1 --config $tmp/bad-exclude.conf
vcpu|3|exclude_cpus names CPU 64, but this host's CPUs are 0-7|0.1 --once --uri test:///default --exclude-cpus 0,64
vcpu|3|exclude_cpus '0-7' leaves no online CPU|0.1 --uri test:///default --exclude-cpus 0-7
vcpu|0|plan:|0.1 --once --dry-run --uri test:///default --exclude-cpus 0,7
vcpu|2|expected auto, cpu, core, cache or node|1 --granularity thread
vcpu|3|expected auto, cpu, core, cache or node|1 --config $tmp/bad-granularity.conf
vcpu|3|granularity cache is not possible here: the host's capabilities list no cache banks|0.1 --once --uri test:///default --granularity cache
vcpu|0|plan:|0.1 --once --dry-run --uri test:///default --granularity node
"
# root reads every file whatever its mode, so the unreadable case only
# means something for other users.
if [ "$(id -u)" -ne 0 ]; then
    cases="$cases
both|3|cannot read config|1 --config $tmp/unreadable.conf"
fi

n=0
fail=0
total=0
while IFS='|' read -r who rc needle args; do
    [ -z "$who" ] && continue
    case "$who" in both) total=$((total + 2)) ;; *) total=$((total + 1)) ;; esac
done <<EOF2
$cases
EOF2
# The tools exit with the same table (aos-exit-status(7)).
# tool|expected exit|needle|arguments...
tool_cases="
migrate_request|4|bogus:///nowhere|--guest g --uri bogus:///nowhere --peer test:///default
migrate_request|3|cannot read config|--guest g --config $tmp/nonexistent.conf
migrate_request|3|unknown key 'intervall' in [daemon]|--guest g --config $tmp/unknown-key.conf --peer test:///default
migrate_request|3|[memory] host_reserve_mib|--guest g --config $tmp/bad-value.conf --peer test:///default
migrate_request|4|test:///nonexistent.xml|--guest g --config $tmp/memory.conf --uri test:///nonexistent.xml --peer test:///default
migrate_request|2|--guest is required|--uri test:///default
migrate_request|2|expected advise or execute|--guest g --mode sometimes
migrate_request|2|names no host UUID, which mode=execute needs|--guest g --uri test:///default --mode execute --peer test:///default
migrate_request|2|is reached over plain TCP|--guest g --uri test:///default --mode execute --peer qemu+tcp://b/system=4c4c4544-0042-4a10-8051-b2c04f4e3232
migrate_request|2|no_verify turns off the check|--guest g --uri test:///default --peer qemu+tls://b/system?no_verify=1
migrate_request|1|no running guest called g|--guest g --uri test:///default --peer test:///default
snapshot_dump|4|bogus:///nowhere|--uri bogus:///nowhere
snapshot_dump|2|unexpected argument|extra
snapshot_dump|0|npcpus|--uri test:///default
snapshot_dump|0|2 NUMA nodes, 2 sockets, 16 cores, 16 CPUs|--uri test:///default
tsc_calc|2|--guest-hz|--guest-hz 12x
tsc_calc|1|does not fit in 64 bits|--guest-tsc 18446744073709551615 --guest-hz 1000000000 --delta-ns 1000000000
tick_bench|2|--ticks must be >= 1|--ticks 0
tick_bench|4|bogus:///nowhere|--uri bogus:///nowhere
"
while IFS='|' read -r tool rc needle args; do
    [ -n "$tool" ] && total=$((total + 1))
done <<EOF2
$tool_cases
EOF2

# --once stopped by SIGTERM or SIGINT has not done what it was asked: it
# must not report success.
signal_cases="TERM INT"
for sig in $signal_cases; do total=$((total + 2)); done
# A user libvirtd's socket does not admit (a socket in a directory only
# root may enter): exit 4, and the message says what the user lacks.
total=$((total + 2))
echo "1..$total"
while IFS='|' read -r who rc needle args; do
    [ -z "$who" ] && continue
    for prog in "$VCPU" "$MEM"; do
        case "$who:$(basename "$prog")" in
            memory:vcpu*|vcpu:memory*) continue ;;
        esac
        n=$((n + 1))
        # shellcheck disable=SC2086
        out=$(timeout 20 "$prog" $args 2>&1)
        got=$?
        if [ "$got" -eq "$rc" ] && printf '%s' "$out" | grep -qF -- "$needle"; then
            echo "ok $n - $(basename "$prog") $args -> exit $got"
        else
            fail=$((fail + 1))
            echo "not ok $n - $(basename "$prog") $args -> exit $got (want $rc, '$needle')"
            printf '%s\n' "$out" | sed 's/^/#   /' | head -5
        fi
    done
done <<EOF2
$cases
EOF2
while IFS='|' read -r tool rc needle args; do
    [ -z "$tool" ] && continue
    n=$((n + 1))
    # shellcheck disable=SC2086
    out=$(timeout 20 "$(tool_path "$tool")" $args 2>&1)
    got=$?
    if [ "$got" -eq "$rc" ] && printf '%s' "$out" | grep -qF -- "$needle"; then
        echo "ok $n - $tool $args -> exit $got"
    else
        fail=$((fail + 1))
        echo "not ok $n - $tool $args -> exit $got (want $rc, '$needle')"
        printf '%s\n' "$out" | sed 's/^/#   /' | head -5
    fi
done <<EOF2
$tool_cases
EOF2

for sig in $signal_cases; do
    for prog in "$VCPU" "$MEM"; do
        n=$((n + 1))
        "$prog" 3 --once --uri test:///default >"$tmp/out" 2>&1 &
        pid=$!
        sleep 1
        kill -"$sig" "$pid"
        wait "$pid"
        got=$?
        if [ "$got" -eq 1 ] && grep -qF "interrupted" "$tmp/out"; then
            echo "ok $n - $(basename "$prog") --once stopped by SIG$sig -> exit $got"
        else
            fail=$((fail + 1))
            echo "not ok $n - $(basename "$prog") --once stopped by SIG$sig -> exit $got (want 1, 'interrupted')"
            sed 's/^/#   /' "$tmp/out" | head -5
        fi
    done
done
mkdir -m 0700 "$tmp/private"
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen()
time.sleep(30)' "$tmp/private/sock" &
listener=$!
for i in $(seq 50); do [ -S "$tmp/private/sock" ] && break; sleep 0.1; done
for prog in "$VCPU" "$MEM"; do
    n=$((n + 1))
    out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$prog" 1 --once --uri "qemu+unix:///system?socket=$tmp/private/sock" 2>&1)
    got=$?
    needle="Permission denied (user nobody may not use libvirtd's socket: make it a member of the socket's group"
    if [ "$got" -eq 4 ] && printf '%s' "$out" | grep -qF -- "$needle"; then
        echo "ok $n - $(basename "$prog") as nobody on a socket it may not use -> exit 4, says why"
    else
        fail=$((fail + 1))
        echo "not ok $n - $(basename "$prog") as nobody on a socket it may not use -> exit $got (want 4, '$needle')"
        printf '%s\n' "$out" | sed 's/^/#   /' | head -5
    fi
done
kill "$listener" 2>/dev/null
wait "$listener" 2>/dev/null
[ "$fail" -eq 0 ]
