#!/bin/sh
# Tears the test host down again.
#
#   tests/host/down.sh          destroy and undefine every aos_vm* guest, stop
#                               their disk servers (qemu-nbd) and delete
#                               their disk overlays
#   tests/host/down.sh --all    also stop the libvirtd and virtlogd that
#                               tests/host/up.sh started (never ones it found
#                               running)
#
# Idempotent: it does nothing for what is already gone.  Console logs stay in
# tests/host/state/ for a post-mortem.
set -eu

URI=qemu:///system
HERE=$(cd "$(dirname "$0")" && pwd)
STATE=$HERE/state
ALL=0
case "${1:-}" in
    "") ;;
    --all) ALL=1 ;;
    *)
        echo "usage: tests/host/down.sh [--all]" >&2
        exit 2
        ;;
esac

if virsh -c "$URI" version >/dev/null 2>&1; then
    for d in $(virsh -c "$URI" list --all --name | grep -E '^aos_vm[0-9]+$' || true); do
        virsh -c "$URI" destroy "$d" >/dev/null 2>&1 || true
        virsh -c "$URI" undefine "$d" >/dev/null 2>&1 || true
        echo "down: $d removed"
    done
fi
rm -f "$STATE"/aos_vm*.ctl

# Each guest's qemu-nbd, by its pid file, only if that pid is a qemu-nbd.
for pidfile in "$STATE"/aos_vm*.nbd.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = qemu-nbd ]; then
        kill "$pid"
        i=0
        while [ -d "/proc/$pid" ] && [ "$i" -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        echo "down: $(basename "$pidfile" .nbd.pid)'s disk server stopped"
    fi
    rm -f "$pidfile"
done
rm -f "$STATE"/aos_vm*.nbd "$STATE"/aos_vm*.disk.qcow2

stop_daemon() { # name: stop it if its pid file names a live process of that name
    pidfile=/var/run/$1.pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 0
    kill "$pid"
    i=0
    while [ -d "/proc/$pid" ] && [ "$i" -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if [ -d "/proc/$pid" ]; then
        echo "down: $1 (pid $pid) did not stop within 10 s" >&2
        return 1
    fi
    echo "down: $1 stopped"
}

if [ "$ALL" -eq 1 ] && [ -f "$STATE/daemons-started" ]; then
    # libvirtd before virtlogd, which serves it.
    if grep -qx libvirtd "$STATE/daemons-started"; then
        stop_daemon libvirtd
    fi
    if grep -qx virtlogd "$STATE/daemons-started"; then
        stop_daemon virtlogd
    fi
    rm -f "$STATE/daemons-started"
fi
