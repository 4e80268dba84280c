#!/bin/busybox sh
# shellcheck shell=dash disable=SC2016,SC2013
# /init of the test guests' initramfs (built by tests/host/up.sh).
#
# - mounts proc, sys, dev;
# - loads the virtio modules in the order that works (virtio_ring first:
#   loading virtio first fails with unknown symbols; virtio_blk after
#   virtio_pci, which finds the devices);
# - mounts the ext4 filesystem on /dev/vda (built by up.sh) on /data, so the
#   guest has a page cache as real guests do; ext4 is built into Debian's
#   cloud kernel.  No swap: the scenarios rely on the OOM killer, and a test
#   that wants swap turns on a swap file there (guestctl.py swap on);
# - prints "AOS-GUEST-READY <name> <uptime>" on the console (ttyS0), which
#   up.sh waits for;
# - serves a non-interactive command loop on ttyS1, the control channel
#   (a UNIX socket on the host; tests/host/guestctl.py speaks to it).
#   Busybox's interactive shell would send terminal queries and edit lines,
#   so the loop is plain "read a line, eval it", with echo off.
#
# init and the loop are shielded from the OOM killer (oom_score_adj -1000);
# guestctl.py runs every command in a child that sets its own back to 0, so
# workloads stay killable.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/tmp

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo -1000 >/proc/self/oom_score_adj

name=aos_guest
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        aos.name=*) name=${arg#aos.name=} ;;
    esac
done
hostname "$name"

for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev \
         virtio_pci virtio_balloon virtio_blk; do
    insmod "/lib/modules/$m.ko" || echo "aos-init: insmod $m failed"
done

# The disk's device node appears once the driver has probed it; that is
# usually done when insmod returns, but not promised.
mkdir -p /data
i=0
while [ ! -b /dev/vda ] && [ "$i" -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
if mount -t ext4 /dev/vda /data; then
    echo "aos-init: /dev/vda mounted on /data"
else
    echo "aos-init: could not mount /dev/vda on /data"
fi

echo "AOS-GUEST-READY $name $(cut -d' ' -f1 /proc/uptime)"

# The control loop.  If it ever dies, it comes back.
while :; do
    setsid sh -c '
        exec </dev/ttyS1 >/dev/ttyS1 2>&1
        stty 115200 -echo -onlcr
        echo AOS-CTL-READY
        while read -r l; do eval "$l"; done'
    echo "aos-init: control loop exited, restarting"
    sleep 1
done
