#!/bin/sh
# Installs the Debian packages the project needs, and only those missing.
# Prints nothing when everything is already there.
set -eu

PACKAGES="
build-essential pkg-config clang-format
libvirt-dev libglib2.0-dev libxml2-dev libjson-glib-dev libsystemd-dev
libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
qemu-system-x86 qemu-utils gnutls-bin
busybox-static linux-image-cloud-amd64 cpio kmod e2fsprogs
python3 python3-libvirt python3-prometheus-client
gnuplot-nox
clang libclang-rt-14-dev llvm valgrind systemd strace man-db
debhelper dpkg-dev lintian
"

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages:$missing (run as root to install them)" >&2
    exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
echo "deps: done"
