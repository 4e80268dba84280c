#!/bin/sh
# The hardened systemd units, checked without a running systemd (TAP).
#
# For every conf/*.service.in (installed as *.service):
#   verify      `systemd-analyze verify` prints nothing.  It resolves
#               ExecStart= and Documentation= inside a root made by
#               `make install DESTDIR=...`, so it also proves the install
#               puts the daemons and man pages where the units look.
#   directives  the hardening the issue asks for is there, Type=notify
#               with NotifyAccess=main, and a WatchdogSec= of at least twice
#               the interval of the shipped config (what the daemon needs).
#   comments    every run of [Service] directives follows a comment saying
#               why (STYLE.md: a comment saying why on each line).
#   exposure    `systemd-analyze security --offline=true` exposure is at
#               most AOS_EXPOSURE_MAX (default 1.6, see below).
#   syscalls    the daemon, traced with strace through --once runs and a
#               daemon-mode run that notifies (NOTIFY_SOCKET), makes no
#               system call the unit's filter would refuse.
#
# Why 1.6: the unit as shipped scores 1.4 (1.7 when it ran as root), an
# unhardened one 9.6.  Dropping CapabilityBoundingSet= (3.3),
# SystemCallFilter= (2.7), RestrictAddressFamilies= (2.1),
# RestrictNamespaces= (2.1), the ProtectKernel* lines (1.9), User= (1.7) or
# PrivateDevices= (1.7) each pushes the score past 1.6, so the threshold
# catches any one of those regressions.  Lines worth less than that
# (ProtectSystem=, NoNewPrivileges=) are checked by name instead.
set -u
cd "$(dirname "$0")/../.."

max=${AOS_EXPOSURE_MAX:-1.6}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
n=0
fail=0

units=$(ls conf/*.service.in 2>/dev/null)
nunits=$(echo "$units" | grep -c .)
echo "1..$((nunits * 5 + 1))"

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $*"; }
indent() { sed 's/^/#   /'; }

missing=
for tool in systemd-analyze strace man python3; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
# Without these the checks cannot run, and that is a failure, not a skip.
if [ -n "$missing" ]; then
    notok "tools present (missing:$missing; make deps installs them)"
    while [ "$n" -lt $((nunits * 5 + 1)) ]; do
        notok "not run: missing$missing"
    done
    exit 1
fi
ok "systemd-analyze, strace, man and python3 present ($(systemd-analyze --version | head -n 1))"

# The install root: the project's files, plus what verify follows out of
# them on the host (the system's own units for sysinit.target and friends,
# and the absolute programs of Exec*= lines such as /bin/kill).
make_log=$tmp/install.log
# What an operator installs: the plain build, even when this runs inside
# `make check SANITIZE=1` (whose setting would reach this make through
# MAKEFLAGS, and which install refuses).
if ! env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory -s \
    install SANITIZE= DESTDIR="$root" >"$make_log" 2>&1; then
    indent <"$make_log" | tail -n 20
    while [ "$n" -lt $((nunits * 5 + 1)) ]; do
        notok "make install DESTDIR=$root failed"
    done
    exit 1
fi
mkdir -p "$root/usr/lib/systemd" "$root/usr/bin" "$root/usr/sbin"
[ -e "$root/bin" ] || ln -s usr/bin "$root/bin"
[ -e "$root/sbin" ] || ln -s usr/sbin "$root/sbin"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
man8=$(find "$root" -type d -name man8 | head -n 1)
MANPATH=${man8%/man8}
export MANPATH

for unit in $units; do
    name=$(basename "$unit" .in)
    installed=$(find "$root" -path "$root/usr/lib/systemd/system" -prune -o \
        -name "$name" -print | head -n 1)
    if [ -z "$installed" ]; then
        for c in verify directives comments exposure syscalls; do
            notok "$name $c: make install did not install the unit"
        done
        continue
    fi
    for prog in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$installed"); do
        case "$prog" in
        /*) [ -e "$root$prog" ] || { [ -x "$prog" ] && cp "$prog" "$root$prog"; } ;;
        esac
    done

    # verify: exit status 0 is not enough, as unknown keys and bad values
    # are warnings that verify reports and then ignores.
    out=$(systemd-analyze verify --root="$root" "$installed" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
        ok "$name verify: systemd-analyze verify is clean"
    else
        notok "$name verify: systemd-analyze verify exited $rc"
        printf '%s\n' "$out" | indent
    fi

    # directives the issue asks for, by exact line.
    absent=
    for want in 'ProtectSystem=strict' 'NoNewPrivileges=yes' \
        'CapabilityBoundingSet=' 'RestrictAddressFamilies=AF_UNIX' \
        'SystemCallFilter=@system-service' 'User=aos' \
        'SupplementaryGroups=libvirt' 'Type=notify' 'NotifyAccess=main'; do
        grep -qx -- "$want" "$unit" || absent="$absent $want"
    done
    # The watchdog against the interval of the config the unit reads: the
    # daemon refuses to start when WatchdogSec= is under twice the interval.
    conf=conf/$(basename "$name" .service).conf
    wd=$(sed -n 's/^WatchdogSec=\([0-9][0-9]*\)s$/\1/p' "$unit")
    iv=$(sed -n '/^\[daemon\]/,/^\[/s/^interval=\([0-9.][0-9.]*\)$/\1/p' "$conf")
    if [ -z "$wd" ] || [ -z "$iv" ]; then
        absent="$absent WatchdogSec=<seconds>s (with interval= in $conf)"
    elif ! awk -v w="$wd" -v i="$iv" 'BEGIN { exit !(w >= 2 * i) }'; then
        absent="$absent WatchdogSec=${wd}s below twice interval=$iv of $conf"
    fi
    if [ -z "$absent" ]; then
        ok "$name directives: strict file system, no new privileges, no capabilities, AF_UNIX only, @system-service, user aos in group libvirt, Type=notify from the main process, WatchdogSec=${wd}s >= 2 x interval $iv"
    else
        notok "$name directives: missing or changed:$absent"
    fi

    # comments: walking up from any directive over other directives must
    # reach a comment, not a blank line or a section header.
    # [Unit] and [Install] hold names and links that say what they are;
    # every line of [Service] changes behaviour and needs its why.
    bare=$(awk '
        /^\[/ { section = $0; commented = 0; next }
        /^[[:space:]]*#/ { commented = 1; next }
        /^[[:space:]]*$/ { commented = 0; next }
        section == "[Service]" && !commented { print FILENAME ":" FNR ": " $0 }
    ' "$unit")
    if [ -z "$bare" ]; then
        ok "$name comments: every [Service] directive follows a comment"
    else
        notok "$name comments: [Service] directives without a comment above them"
        printf '%s\n' "$bare" | indent
    fi

    # exposure
    sec=$(systemd-analyze security --offline=true --root="$root" "$installed" 2>&1)
    score=$(printf '%s\n' "$sec" |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    echo "# $name: systemd-analyze security --offline=true exposure ${score:-?}"
    printf '%s\n' "$sec" | grep '^✗' | sed 's/  */ /g' | indent
    if [ -n "$score" ] && awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }'; then
        ok "$name exposure: $score <= $max"
    else
        notok "$name exposure: ${score:-unknown} > $max"
        [ -z "$score" ] && printf '%s\n' "$sec" | tail -n 5 | indent
    fi

    # syscalls: the programs run as the unit runs them would, against the
    # in-process test driver (and, when a libvirtd is up, read-only against
    # it, as --dry-run does), under strace.
    daemon=$(basename "$(sed -n 's/^ExecStart=[-@:+!]*\([^ ]*\).*/\1/p' "$installed" | head -n 1)")
    bin=$root$(sed -n 's/^ExecStart=[-@:+!]*\([^ ]*\).*/\1/p' "$installed" | head -n 1)
    traces=
    i=0
    set -- "0.2 --once --uri test:///default --decision-log $tmp/$daemon.jsonl" \
        "0.2 --once --dry-run --uri test:///default"
    # A socket file can outlive its libvirtd (killed, or torn down by an
    # earlier run), so ask the daemon itself whether it answers.
    [ -S /run/libvirt/libvirt-sock-ro ] &&
        timeout 10 virsh -r -c qemu:///system version >/dev/null 2>&1 &&
        set -- "$@" "0.5 --once --dry-run --uri qemu:///system"
    runs_ok=1
    for args in "$@"; do
        i=$((i + 1))
        # LeakSanitizer cannot run under ptrace; with SANITIZE=1 builds,
        # leaks are the unit and plumbing suites' business, not this one's.
        # shellcheck disable=SC2086
        ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
            timeout 60 strace -f -qq -o "$tmp/$daemon.strace.$i" "$bin" $args \
            >"$tmp/$daemon.out.$i" 2>&1
        rc=$?
        if [ "$rc" -ne 0 ]; then
            runs_ok=0
            echo "#   $daemon $args exited $rc under strace"
            tail -n 3 "$tmp/$daemon.out.$i" | indent
        fi
        traces="$traces $tmp/$daemon.strace.$i"
    done
    # Daemon mode as Type=notify runs it: READY=1, STATUS=, WATCHDOG=1 and,
    # at SIGTERM, STOPPING=1 (to a socket nobody binds: the calls are made
    # all the same), stopped by SIGTERM to the daemon itself.
    i=$((i + 1))
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
        NOTIFY_SOCKET=$tmp/notify WATCHDOG_USEC=60000000 \
        strace -f -qq -o "$tmp/$daemon.strace.$i" "$bin" 0.2 --uri test:///default \
        >"$tmp/$daemon.out.$i" 2>&1 &
    spid=$!
    sleep 1.5
    dpid=$(pgrep -P "$spid" | head -n 1)
    [ -n "$dpid" ] && kill -TERM "$dpid"
    wait "$spid"
    rc=$?
    if [ -z "$dpid" ] || [ "$rc" -ne 0 ] ||
        ! grep -q 'sendmsg(.*"READY=1' "$tmp/$daemon.strace.$i"; then
        runs_ok=0
        echo "#   $daemon in daemon mode with NOTIFY_SOCKET: exit $rc, READY=1 sent: $(grep -c 'READY=1' "$tmp/$daemon.strace.$i")"
        tail -n 3 "$tmp/$daemon.out.$i" | indent
    fi
    traces="$traces $tmp/$daemon.strace.$i"
    # shellcheck disable=SC2086
    verdict=$(python3 - "$installed" $traces <<'EOF'
import re
import subprocess
import sys

# System calls a library makes on its own, whose refusal the daemons
# survive; each is allowed only when the unit turns refusals into an errno
# (SystemCallErrorNumber=) instead of killing the process.
TOLERATED = {
    # libnuma, loaded by libvirt, probes MPOL_PREFERRED_MANY from its ELF
    # constructor; on EPERM it just assumes the kernel lacks it.
    "set_mempolicy",
}

groups = {}
cur = None
for line in subprocess.run(["systemd-analyze", "syscall-filter"],
                           capture_output=True, text=True).stdout.splitlines():
    if line.startswith("@"):
        cur = line.split()[0]
        groups[cur] = []
    elif cur and line.strip() and not line.strip().startswith("#"):
        groups[cur].append(line.strip())


def expand(names, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for x in names:
        if x.startswith("@"):
            if x not in seen:
                seen.add(x)
                out |= expand(groups.get(x, []), seen)
        else:
            out.add(x)
    return out


allow_mode = None
chosen = set()
errno = None
implicit = []
for line in open(sys.argv[1]):
    key, _, val = line.strip().partition("=")
    if key == "SystemCallFilter":
        if not val:
            allow_mode, chosen = None, set()
            continue
        deny = val.startswith("~")
        names = expand(val.lstrip("~").split())
        if allow_mode is None:
            allow_mode = not deny
        if allow_mode != deny:
            chosen |= names
        else:
            chosen -= names
    elif key == "SystemCallErrorNumber" and val:
        errno = val
    elif key == "ProtectClock" and val == "yes":
        implicit.append("@clock")
    elif key == "ProtectKernelModules" and val == "yes":
        implicit.append("@module")
    elif key == "PrivateDevices" and val == "yes":
        implicit.append("@raw-io")
    elif key == "ProtectKernelLogs" and val == "yes":
        implicit.append("syslog")
    elif key == "ProtectHostname" and val == "yes":
        implicit += ["sethostname", "setdomainname"]


def refused(sc):
    if sc in expand(implicit):
        return True
    if allow_mode is None:
        return False
    return (sc not in chosen) if allow_mode else (sc in chosen)


used = set()
for path in sys.argv[2:]:
    for line in open(path):
        m = re.match(r"^\d+\s+([a-z_0-9]+)\(", line)
        if m:
            used.add(m.group(1))
bad = sorted(sc for sc in used if refused(sc))
fatal = [sc for sc in bad if sc not in TOLERATED or errno is None]
action = ("fail with " + errno) if errno else "kill the daemon with SIGSYS"
print("%d distinct system calls traced" % len(used))
if bad:
    print("refused by the unit's filter, which would %s: %s"
          % (action, " ".join(bad)))
print("FATAL" if fatal else "OK")
EOF
)
    printf '%s\n' "$verdict" | grep -v '^OK$\|^FATAL$' | sed "s/^/# $name: /"
    if [ "$runs_ok" -eq 1 ] && printf '%s\n' "$verdict" | grep -qx OK; then
        ok "$name syscalls: $daemon makes no system call its filter refuses"
    else
        notok "$name syscalls: $daemon would not survive its unit's SystemCallFilter"
    fi
done

[ "$fail" -eq 0 ]
