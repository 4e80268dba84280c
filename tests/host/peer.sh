#!/bin/bash
# A second libvirtd on this machine, to be a migration peer of the test host.
#
#   tests/host/peer.sh up       start it (idempotent)
#   tests/host/peer.sh down     destroy its guests and stop it (idempotent)
#   tests/host/peer.sh status   say whether it answers; exit 0 when it does
#
# It listens on qemu+tcp://127.0.0.1:16599/system (auth none, loopback only)
# and, for a third host's encrypted migrations, on
#   qemu+tls://127.0.0.1:16615/system?pkipath=tests/host/state/pki/libvirt
# With AOS_PEER=tls it is another peer, with its own state, host UUID and
# daemons, that listens only on
#   qemu+tls://127.0.0.1:16614/system?pkipath=tests/host/state/pki/libvirt
# with the certificates of tests/host/tls.sh (the test host's own), and
# whose qemu.conf refuses any migration without TLS (migrate_tls_force), so
# a migration it accepts was encrypted.
#
# How (facts from ../shared/TEST-HOST.md):
#   - it runs in its own mount namespace (unshare -m, private propagation),
#     with a tmpfs on /run, so its sockets and pid files do not meet those of
#     the main libvirtd, and private directories from tests/host/state/peer/
#     bind-mounted over /var/lib/libvirt, /var/log/libvirt,
#     /var/cache/libvirt and /etc/libvirt;
#   - its libvirtd.conf has its own host_uuid, because libvirt refuses to
#     migrate between two hosts with the same UUID, and listens on TCP;
#   - it has its own virtlogd, which its QEMU processes log through;
#   - its qemu.conf has the main host's settings (root, no dynamic
#     ownership, no security driver) and its own range of incoming
#     migration ports: all three libvirtds share one network namespace,
#     and two migrations arriving at two of them in the same instant
#     picked the same free port (QEMU's 'migrate-incoming': "Failed to
#     find an available port: Address already in use"), which hosts of
#     their own never do.
# Every other path (/work, /boot, /dev, cgroups) is shared, so a guest
# migrated here finds its kernel, initramfs and console paths.
#
# The main libvirtd must already be set up (tests/host/up.sh creates the
# libvirt-qemu user and group the QEMU driver looks up at start).
#
# Environment:
#   AOS_PEER        empty: the TCP peer; tls: the TLS peer
#   AOS_PEER_PORT   its port (default 16599; 16614 for tls)
#   AOS_PEER_TLS_PORT  the TCP peer's TLS port (default 16615)
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
PKI=$HERE/state/pki
ADDR=127.0.0.1
case "${AOS_PEER:-}" in
    "")
        STATE=$HERE/state/peer
        PORT=${AOS_PEER_PORT:-16599}
        TLS_PORT=${AOS_PEER_TLS_PORT:-16615}
        MIGRATION_PORT_MIN=49216
        URI=qemu+tcp://$ADDR:$PORT/system
        ;;
    tls)
        STATE=$HERE/state/peer-tls
        PORT=${AOS_PEER_PORT:-16614}
        MIGRATION_PORT_MIN=49280
        URI="qemu+tls://$ADDR:$PORT/system?pkipath=$PKI/libvirt"
        ;;
    *)
        echo "peer: AOS_PEER='$AOS_PEER': expected nothing or tls" >&2
        exit 2
        ;;
esac

die() {
    echo "peer: $*" >&2
    exit 1
}

answers() { virsh -c "$URI" version >/dev/null 2>&1; }

# A pid recorded by `up` that still names a live process of that name.
live_pid() { # name
    f=$STATE/$1.pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
    echo "$pid"
}

write_config() {
    mkdir -p "$STATE/lib/qemu" "$STATE/log/qemu" "$STATE/cache" \
        "$STATE/etc/qemu"
    # Definitions left from an earlier run would come back as inactive
    # guests on the peer; a peer starts empty.
    rm -f "$STATE/etc/qemu/"*.xml
    if [ ! -s "$STATE/host_uuid" ]; then
        cat /proc/sys/kernel/random/uuid >"$STATE/host_uuid"
    fi
    "$HERE/tls.sh" "$PKI" || die "could not make the TLS certificates"
    if [ -z "${AOS_PEER:-}" ]; then
        cat >"$STATE/etc/libvirtd.conf" <<EOF
# Written by tests/host/peer.sh: the migration peer of the test host.
host_uuid = "$(cat "$STATE/host_uuid")"
listen_tls = 1
listen_tcp = 1
tcp_port = "$PORT"
tls_port = "$TLS_PORT"
listen_addr = "$ADDR"
auth_tcp = "none"
auth_tls = "none"
key_file = "$PKI/libvirt/private/serverkey.pem"
cert_file = "$PKI/libvirt/servercert.pem"
ca_file = "$PKI/libvirt/cacert.pem"
EOF
    else
        cat >"$STATE/etc/libvirtd.conf" <<EOF
# Written by tests/host/peer.sh: the TLS migration peer of the test host.
host_uuid = "$(cat "$STATE/host_uuid")"
listen_tls = 1
listen_tcp = 0
tls_port = "$PORT"
listen_addr = "$ADDR"
auth_tls = "none"
key_file = "$PKI/libvirt/private/serverkey.pem"
cert_file = "$PKI/libvirt/servercert.pem"
ca_file = "$PKI/libvirt/cacert.pem"
EOF
    fi
    # Both peers hold QEMU's TLS certificates, as sources and as
    # destinations of encrypted migrations; only the TLS peer refuses the
    # rest.
    cat >"$STATE/etc/qemu.conf" <<EOF
# Written by tests/host/peer.sh: the main test host's settings.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
migrate_tls_x509_cert_dir = "$PKI/qemu"
migrate_tls_x509_verify = 1
migration_port_min = $MIGRATION_PORT_MIN
migration_port_max = $((MIGRATION_PORT_MIN + 63))
EOF
    if [ -n "${AOS_PEER:-}" ]; then
        echo "migrate_tls_force = 1" >>"$STATE/etc/qemu.conf"
    fi
}

# Runs inside the new mount namespace; its daemons keep the namespace alive
# after this shell exits.
ns_body() {
    mount -t tmpfs -o mode=0755 tmpfs /run
    mkdir -p /run/libvirt /run/lock
    mount --bind "$STATE/lib" /var/lib/libvirt
    mount --bind "$STATE/log" /var/log/libvirt
    mount --bind "$STATE/cache" /var/cache/libvirt
    mount --bind "$STATE/etc" /etc/libvirt
    # Inherited descriptors are closed: a daemon must not keep a caller's
    # lock (flock /tmp/aos-testhost.lock) for the rest of its life.
    virtlogd -d 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
    LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/libvirtd.log" \
        libvirtd -d --listen 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
    i=0
    while [ ! -s /run/libvirtd.pid ] || [ ! -s /run/virtlogd.pid ]; do
        i=$((i + 1))
        [ "$i" -lt 100 ] || break
        sleep 0.1
    done
    cp /run/virtlogd.pid "$STATE/virtlogd.pid" 2>/dev/null || true
    cp /run/libvirtd.pid "$STATE/libvirtd.pid" 2>/dev/null || true
}

do_up() {
    if answers; then
        echo "peer: already up on $URI"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    getent passwd libvirt-qemu >/dev/null ||
        die "no libvirt-qemu user: run tests/host/up.sh first"
    # A half-started peer from an earlier run would hold the port.
    (do_down) >/dev/null 2>&1 || true
    write_config
    main_uuid=$(virsh -c qemu:///system capabilities 2>/dev/null |
        sed -n 's|.*<uuid>\(.*\)</uuid>.*|\1|p' | head -n 1)
    [ "$main_uuid" != "$(cat "$STATE/host_uuid")" ] ||
        die "peer host_uuid equals the main host's; remove $STATE/host_uuid"
    export STATE
    export -f ns_body
    unshare -m --propagation private /bin/bash -c ns_body ||
        die "could not start libvirtd in a new mount namespace"
    i=0
    while ! answers; do
        i=$((i + 1))
        if [ "$i" -ge 300 ]; then
            echo "peer: libvirtd did not answer on $URI within 30 s;" \
                "tail of $STATE/log/libvirtd.log:" >&2
            tail -n 20 "$STATE/log/libvirtd.log" >&2 2>/dev/null || true
            exit 1
        fi
        sleep 0.1
    done
    echo "peer: up on $URI (libvirtd pid $(cat "$STATE/libvirtd.pid" 2>/dev/null || echo '?'))"
}

stop_pid() { # name
    pid=$(live_pid "$1") || {
        rm -f "$STATE/$1.pid"
        return 0
    }
    kill "$pid"
    i=0
    while [ -d "/proc/$pid" ] && [ "$i" -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    [ ! -d "/proc/$pid" ] || die "$1 (pid $pid) did not stop within 10 s"
    rm -f "$STATE/$1.pid"
    echo "peer: $1 stopped"
}

do_down() {
    if answers; then
        for d in $(virsh -c "$URI" list --name 2>/dev/null); do
            virsh -c "$URI" destroy "$d" >/dev/null 2>&1 || true
            echo "peer: $d destroyed"
        done
    fi
    # libvirtd before virtlogd, which serves it.
    stop_pid libvirtd
    stop_pid virtlogd
}

do_status() {
    if answers; then
        echo "peer: up on $URI (libvirtd pid $(live_pid libvirtd || echo '?'))"
        return 0
    fi
    echo "peer: down"
    return 1
}

case "${1:-}" in
    up) do_up ;;
    down) do_down ;;
    status) do_status ;;
    *)
        echo "usage: tests/host/peer.sh up|down|status" >&2
        exit 2
        ;;
esac
