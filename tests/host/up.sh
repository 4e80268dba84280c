#!/bin/bash
# Brings up the real test host: libvirtd + N tiny TCG guests aos_vm1..aos_vmN.
#
#   tests/host/up.sh [N]        N guests (default: $AOS_GUESTS, else 4)
#
# Environment:
#   AOS_GUESTS        number of guests when no argument is given (default 4)
#   AOS_VCPUS         vCPUs per guest (default 1)
#   AOS_BOOT_TIMEOUT  seconds to wait for each guest's ready line (default 90)
#   AOS_MACHINE_CPU_SHARES  CPU weight of libvirt's machine cgroup (default
#                     10240, 10x a plain process; 0 leaves it alone)
#   AOS_DATA_MIB      size of the data file on the guests' disk (default 1280)
#
# Idempotent: it starts only what is not running, rebuilds the initramfs only
# when one of its inputs is newer, builds the disk image only when its
# specification changed, and leaves a running guest alone when its
# definition (kernel, initramfs content, disk, vCPUs) is unchanged.  A guest
# whose definition changed is destroyed and started again.
#
# Steps (facts from ../shared/TEST-HOST.md):
#   1. libvirtd: when `virsh -c qemu:///system version` does not answer,
#      create its directories and the libvirt-qemu user and group, write the
#      qemu.conf settings (root, no dynamic ownership, no security driver),
#      start virtlogd and libvirtd, and wait for the socket.
#   2. build/guest/initrd.img: busybox-static, our static workload programs
#      (build/guest/*, from `make guest`), the virtio modules of the newest
#      installed cloud kernel, and tests/guest/init.sh as /init.
#   3. build/guest/disk-<spec hash>.img: an ext4 image (mkfs.ext4 -d, no
#      loop device needed) holding stream.bin, AOS_DATA_MIB MiB of
#      random bytes, for the page-cache workloads (tests/guest/fileio.c).
#      Built once per specification (about 15 s); random, not zeros, so that
#      nothing on the way (ext4, qcow2, the host) can store it as a hole.
#   4. guests: TCG (qemu64), 512 MiB current of 2048 MiB maximum, balloon
#      stats every second, direct kernel boot, clocksource=tsc tsc=reliable
#      on every guest (see CLOCKSOURCE below).  Serial 0 (kernel console) is
#      logged to tests/host/state/<name>.console.log; serial 1 is the control
#      channel, a UNIX socket tests/host/state/<name>.ctl (guestctl.py).
#      Disk: vda, a qcow2 overlay of the image above, made afresh whenever
#      up.sh starts the guest (so every boot from up.sh sees the same disk)
#      and served by the guest's own qemu-nbd on a UNIX socket
#      tests/host/state/<name>.nbd.  The guest mounts it on /data; swap is a
#      file there that guestctl.py swap on makes, off by default.  A network
#      disk, not a file: libvirt refuses to live-migrate a guest whose disk
#      is a file on a local filesystem ("Migration without shared storage
#      is unsafe"), and the migration tests move these guests to a second
#      libvirtd on this machine, which reaches the same socket.
#   5. waits for "AOS-GUEST-READY" on each new guest's console, checks the
#      control channel, waits for the balloon to reach 512 MiB, and checks
#      that the guest runs the clocksource it was given with high-resolution
#      timers and has /data mounted (guestctl.py settle).  A guest that does
#      not boot is reported with the tail of its console; the script then
#      exits 1.
set -eu

URI=qemu:///system
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STATE=$HERE/state
GUEST_BUILD=$ROOT/build/guest
INITRD=$GUEST_BUILD/initrd.img
N=${1:-${AOS_GUESTS:-4}}
VCPUS=${AOS_VCPUS:-1}
BOOT_TIMEOUT=${AOS_BOOT_TIMEOUT:-90}
MAX_MIB=2048
CUR_MIB=512
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_balloon virtio_blk"
DATA_MIB=${AOS_DATA_MIB:-1280}
# The filesystem leaves room beside the data file for the writer's files.
DISK_MIB=$((DATA_MIB + 768))
# Every guest must keep time the same way: guests booted together from one
# image came up some on tsc and some on refined-jiffies, whose 4 ms timer
# turns the burner's 400 us sleeps into 4 ms ones (measured: burner 3000
# used 2-3 % of a pCPU on jiffies against 17-45 % on tsc).  Under TCG the
# guest's TSC is the host's TSC, which runs at a constant rate here, and it
# is read without leaving the vDSO: clock_gettime took 115-195 ns on tsc
# against 1.6 us on acpi_pm and 2.1 us on hpet.  tsc=reliable turns off the
# kernel's watchdog on it: the watchdog compares the TSC with the emulated
# HPET, whose reads stall whenever the host deschedules the vCPU thread.
CLOCKSOURCE=tsc

die() {
    echo "up: $*" >&2
    exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

case "$N" in
    '' | *[!0-9]*) die "guest count must be a positive integer, not '$N'" ;;
esac
[ "$N" -ge 1 ] || die "guest count must be at least 1"
case "$VCPUS" in
    '' | *[!0-9]*) die "AOS_VCPUS must be a positive integer, not '$VCPUS'" ;;
esac
case "$DATA_MIB" in
    '' | *[!0-9]*) die "AOS_DATA_MIB must be a positive integer, not '$DATA_MIB'" ;;
esac
[ "$DATA_MIB" -ge 1 ] || die "AOS_DATA_MIB must be at least 1"
for tool in mkfs.ext4 qemu-img qemu-nbd; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "$tool is missing (tests/host/deps.sh installs e2fsprogs and qemu-utils)"
done
[ "$(id -u)" -eq 0 ] || die "must run as root (it starts libvirtd and guests)"
mkdir -p "$STATE"

# ---------------------------------------------------------------- libvirtd
virsh_ok() { virsh -c "$URI" version >/dev/null 2>&1; }

set_qemu_conf() { # key value
    f=/etc/libvirt/qemu.conf
    if grep -qE "^[[:space:]]*$1[[:space:]]*=" "$f"; then
        sed -i -E "s|^[[:space:]]*$1[[:space:]]*=.*|$1 = $2|" "$f"
    else
        echo "$1 = $2" >>"$f"
    fi
}

# Whether this mount namespace's daemon `name` runs: its pid file names a
# live process of that name.  Not pidof, which also sees the migration
# peer's daemons (tests/host/peer.sh), whose pid files are on their own /run.
main_daemon_runs() { # name
    pid=$(cat "/run/$1.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}

start_libvirtd() {
    mkdir -p /var/log/libvirt /var/run/libvirt /var/lib/libvirt/qemu \
        /var/cache/libvirt /etc/libvirt
    # The QEMU driver looks both up at start, even when qemu.conf says root.
    getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
    getent passwd libvirt-qemu >/dev/null ||
        useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin \
            libvirt-qemu
    [ -f /etc/libvirt/qemu.conf ] ||
        echo "# Written by tests/host/up.sh (the project's test host)." \
            >/etc/libvirt/qemu.conf
    set_qemu_conf user '"root"'
    set_qemu_conf group '"root"'
    set_qemu_conf dynamic_ownership 0
    set_qemu_conf remember_owner 0
    set_qemu_conf security_driver '"none"'
    # The daemons run as the user aos of group libvirt (conf/aos.sysusers),
    # which Debian's libvirt admits through polkit; with no polkit here the
    # read-write socket's group and mode admit that group alone.
    getent group libvirt >/dev/null || groupadd -r libvirt
    for kv in 'unix_sock_group "libvirt"' 'unix_sock_rw_perms "0770"' 'auth_unix_rw "none"'; do
        key=${kv%% *}
        sed -i -E "/^[[:space:]]*$key[[:space:]]*=/d" /etc/libvirt/libvirtd.conf 2>/dev/null || true
        echo "$key = ${kv#* }" >>/etc/libvirt/libvirtd.conf
    done

    started=""
    if ! main_daemon_runs virtlogd; then
        # Inherited descriptors are closed: a daemon must not keep a caller's
        # lock (flock /tmp/aos-testhost.lock) for the rest of its life.
        virtlogd -d 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
        started="$started virtlogd"
    fi
    if ! main_daemon_runs libvirtd; then
        LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/libvirtd.log" \
            libvirtd -d 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
        started="$started libvirtd"
    fi
    # Remember what we started, so that `down.sh --all` stops only that.
    for d in $started; do
        echo "$d" >>"$STATE/daemons-started"
    done
    t0=$(now)
    i=0
    while ! virsh_ok; do
        i=$((i + 1))
        if [ "$i" -ge 300 ]; then
            echo "up: libvirtd did not answer on $URI within 30 s;" \
                "tail of /var/log/libvirt/libvirtd.log:" >&2
            tail -n 30 /var/log/libvirt/libvirtd.log >&2 2>/dev/null || true
            exit 1
        fi
        sleep 0.1
    done
    echo "up: libvirtd answers on $URI (${started:+started$started, }$(elapsed "$t0") s)"
}

# TLS migration (to the TLS peer, tests/host/peer.sh with AOS_PEER=tls):
# QEMU encrypts with these certificates when a migration asks for TLS, and
# checks the other side's, so they must be this tree's, whose CA the peer
# trusts, also when libvirtd already runs.  libvirtd refuses to start when
# the directory is missing, so the certificates come first.
"$HERE/tls.sh" "$STATE/pki" || die "could not make the TLS certificates"
mkdir -p /etc/libvirt
touch /etc/libvirt/qemu.conf
conf_was=$(cat /etc/libvirt/qemu.conf)
set_qemu_conf migrate_tls_x509_cert_dir "\"$STATE/pki/qemu\""
set_qemu_conf migrate_tls_x509_verify 1
if [ "$conf_was" != "$(cat /etc/libvirt/qemu.conf)" ] && virsh_ok; then
    # It read the old settings: start it again (its guests keep running,
    # and it finds them when it starts).
    main_daemon_runs libvirtd ||
        die "qemu.conf changed, but the libvirtd that runs has no pid file here to restart it by"
    echo "up: qemu.conf changed; restarting libvirtd"
    kill "$(cat /run/libvirtd.pid)"
    n=0
    while main_daemon_runs libvirtd && [ "$n" -lt 100 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    ! main_daemon_runs libvirtd || die "libvirtd did not stop within 10 s"
fi
if ! virsh_ok; then
    start_libvirtd
fi

# ---------------------------------------------------------------- initramfs
KERNEL=$(find /boot -maxdepth 1 -name 'vmlinuz-*-cloud-amd64' | sort -V | tail -n 1)
[ -n "$KERNEL" ] || die "no /boot/vmlinuz-*-cloud-amd64 (install linux-image-cloud-amd64)"
KVER=${KERNEL#/boot/vmlinuz-}
MODDIR=/lib/modules/$KVER
[ -d "$MODDIR" ] || die "no module tree $MODDIR for $KERNEL"
BUSYBOX=/bin/busybox
file_is_static() { ! LC_ALL=C ldd "$1" >/dev/null 2>&1; }
if [ ! -x "$BUSYBOX" ] || ! file_is_static "$BUSYBOX"; then
    die "$BUSYBOX is missing or not static (install busybox-static)"
fi

make -C "$ROOT" --no-print-directory -s guest
WORKLOADS=$(find "$GUEST_BUILD" -maxdepth 1 -type f -perm -u+x ! -name '*.img' | sort)
[ -n "$WORKLOADS" ] || die "no workload programs in $GUEST_BUILD (make guest)"

module_file() { # name -> path of name.ko[.xz|.zst|.gz] in $MODDIR
    find "$MODDIR" -name "$1.ko" -o -name "$1.ko.*" | head -n 1
}
MODFILES=""
for m in $MODULES; do
    f=$(module_file "$m")
    [ -n "$f" ] || die "module $m not found under $MODDIR"
    MODFILES="$MODFILES $f"
done

INPUTS="$ROOT/tests/guest/init.sh $BUSYBOX $WORKLOADS $MODFILES"
need_build=0
if [ ! -s "$INITRD" ]; then
    need_build=1
else
    for f in $INPUTS; do
        if [ "$f" -nt "$INITRD" ]; then
            need_build=1
            break
        fi
    done
fi
if [ "$need_build" -eq 1 ]; then
    t0=$(now)
    tree=$(mktemp -d)
    trap 'rm -rf "$tree"' EXIT
    mkdir -p "$tree/bin" "$tree/lib/modules" "$tree/proc" "$tree/sys" \
        "$tree/dev" "$tree/tmp" "$tree/run"
    cp "$BUSYBOX" "$tree/bin/busybox"
    ln -s busybox "$tree/bin/sh"
    for w in $WORKLOADS; do
        file_is_static "$w" || die "$w is not static"
        cp "$w" "$tree/bin/"
    done
    for f in $MODFILES; do
        base=$(basename "$f")
        case "$base" in
            *.ko) cp "$f" "$tree/lib/modules/$base" ;;
            *.ko.xz) xz -dc "$f" >"$tree/lib/modules/${base%.xz}" ;;
            *.ko.zst) zstd -q -dc "$f" >"$tree/lib/modules/${base%.zst}" ;;
            *.ko.gz) gzip -dc "$f" >"$tree/lib/modules/${base%.gz}" ;;
            *) die "unknown module compression: $f" ;;
        esac
    done
    cp "$ROOT/tests/guest/init.sh" "$tree/init"
    chmod 0755 "$tree/init"
    mkdir -p "$GUEST_BUILD"
    # Uncompressed: under TCG, unpacking is faster than decompressing.
    (cd "$tree" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) \
        >"$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    rm -rf "$tree"
    trap - EXIT
    echo "up: built $INITRD ($(du -k "$INITRD" | cut -f1) KiB, kernel $KVER, $(elapsed "$t0") s)"
fi
# What the guests boot from, by content (cpio bytes change with mtimes).
# shellcheck disable=SC2086
INITRD_SUM=$(cat $INPUTS | sha256sum | cut -c1-16)

# ---------------------------------------------------------------- disk image
# The image is named by its specification: a new specification is a new
# file, so guests still running on the old one keep a consistent disk until
# they are redefined below.  Bump the version when the build changes.
DISK_SPEC="aos-disk v1 ext4 fs=${DISK_MIB}MiB stream.bin=${DATA_MIB}MiB random"
DISK_SUM=$(echo "$DISK_SPEC" | sha256sum | cut -c1-16)
BASE=$GUEST_BUILD/disk-$DISK_SUM.img
if [ ! -s "$BASE" ]; then
    t0=$(now)
    mkdir -p "$GUEST_BUILD"
    src=$(mktemp -d "$GUEST_BUILD/disk-src.XXXXXX")
    trap 'rm -rf "$src" "$BASE.tmp"' EXIT
    dd if=/dev/urandom of="$src/stream.bin" bs=1M count="$DATA_MIB" \
        iflag=fullblock status=none ||
        die "could not write $DATA_MIB MiB of random data to $src"
    rm -f "$BASE.tmp"
    truncate -s "${DISK_MIB}M" "$BASE.tmp"
    # Inode tables and journal written now, not by the guest's ext4lazyinit
    # thread in the background of the first scenarios.  -m 0: no blocks
    # reserved for root, everything here is root.
    mkfs.ext4 -q -F -L aosdata -m 0 -E lazy_itable_init=0,lazy_journal_init=0 \
        -d "$src" "$BASE.tmp" ||
        die "mkfs.ext4 -d could not build $BASE"
    mv "$BASE.tmp" "$BASE"
    rm -rf "$src"
    trap - EXIT
    echo "up: built $BASE ($DISK_MIB MiB ext4, stream.bin $DATA_MIB MiB, $(elapsed "$t0") s)"
fi

# A guest's disk server: its qemu-nbd, found by pid file and process name.
nbd_runs() { # name
    pid=$(cat "$STATE/$1.nbd.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = qemu-nbd ]
}

stop_nbd() { # name
    # local: it runs inside the guests' loop, whose i it must not change
    # (that turned aos_vm1 into "aos_vm14 stopped while booting").
    local pid n
    if nbd_runs "$1"; then
        pid=$(cat "$STATE/$1.nbd.pid")
        kill "$pid"
        n=0
        while [ -d "/proc/$pid" ] && [ "$n" -lt 50 ]; do
            sleep 0.1
            n=$((n + 1))
        done
    fi
    rm -f "$STATE/$1.nbd.pid" "$STATE/$1.nbd"
}

# A guest's own disk, made afresh when up.sh starts it: a copy-on-write
# overlay of the image (what the guest writes stays in the overlay; sparse,
# it costs nothing until written), served over NBD.  Two clients: during a
# live migration the destination connects before the source lets go.
# cache=unsafe: the overlay is scratch, so the host need not flush it when
# the guest does.
make_guest_disk() { # name
    stop_nbd "$1"
    rm -f "$STATE/$1.disk.qcow2"
    qemu-img create -q -f qcow2 -b "$BASE" -F raw "$STATE/$1.disk.qcow2" ||
        die "qemu-img could not create $STATE/$1.disk.qcow2"
    # Inherited descriptors are closed, as for libvirtd: the server must not
    # keep a caller's lock (flock /tmp/aos-testhost.lock).
    qemu-nbd --fork --persistent --shared=2 --format=qcow2 --cache=unsafe \
        --socket="$STATE/$1.nbd" --pid-file="$STATE/$1.nbd.pid" \
        "$STATE/$1.disk.qcow2" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- ||
        die "qemu-nbd could not serve $STATE/$1.disk.qcow2"
}

# ---------------------------------------------------------------- guests
domain_xml() { # name
    cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <description>$DESC</description>
  <memory unit='MiB'>$MAX_MIB</memory>
  <currentMemory unit='MiB'>$CUR_MIB</currentMemory>
  <vcpu placement='static'>$VCPUS</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$KERNEL</kernel>
    <initrd>$INITRD</initrd>
    <cmdline>console=ttyS0 aos.name=$1 panic=-1 mitigations=off clocksource=$CLOCKSOURCE tsc=reliable</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='nbd'>
        <host transport='unix' socket='$STATE/$1.nbd'/>
      </source>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='$STATE/$1.console.log'/>
      <target port='0'/>
    </serial>
    <serial type='unix'>
      <source mode='bind' path='$STATE/$1.ctl'/>
      <target port='1'/>
    </serial>
    <video><model type='none'/></video>
    <memballoon model='virtio'><stats period='1'/></memballoon>
  </devices>
</domain>
EOF
}

dom_exists() { virsh -c "$URI" dominfo "$1" >/dev/null 2>&1; }
dom_running() { [ "$(virsh -c "$URI" domstate "$1" 2>/dev/null | head -n 1)" = running ]; }

started=""
for i in $(seq 1 "$N"); do
    name=aos_vm$i
    # The description names a hash of everything that defines the guest, so
    # a changed template or initramfs content is seen as a new definition.
    DESC=""
    want="aos-test $( (domain_xml "$name"; echo "$INITRD_SUM $BASE") | sha256sum | cut -c1-16)"
    DESC=$want
    if dom_exists "$name"; then
        have=$(virsh -c "$URI" desc "$name" 2>/dev/null | head -n 1)
        if [ "$have" != "$want" ]; then
            echo "up: $name has an old definition; redefining it"
            virsh -c "$URI" destroy "$name" >/dev/null 2>&1 || true
            virsh -c "$URI" undefine "$name" >/dev/null
        elif dom_running "$name"; then
            if ! nbd_runs "$name"; then
                # Its disk is gone from under it: boot it on a new one.
                echo "up: $name runs without its disk server; starting it again"
                virsh -c "$URI" destroy "$name" >/dev/null 2>&1 || true
            elif grep -q 'AOS-GUEST-READY' "$STATE/$name.console.log" 2>/dev/null; then
                continue
            else
                # Running, but it never said it was ready: boot it again.
                echo "up: $name runs but never booted; starting it again"
                virsh -c "$URI" destroy "$name" >/dev/null 2>&1 || true
            fi
        fi
    fi
    if ! dom_exists "$name"; then
        xml=$STATE/$name.xml
        domain_xml "$name" >"$xml"
        virsh -c "$URI" define "$xml" >/dev/null
    fi
    rm -f "$STATE/$name.ctl"
    make_guest_disk "$name"
    : >"$STATE/$name.console.log"
    echo "booting $name ..."
    # Started in parallel: each `virsh start` takes about a second.
    eval "t0_$i=\$(now)"
    virsh -c "$URI" start "$name" >"$STATE/$name.start.log" 2>&1 &
    eval "startpid_$i=\$!"
    started="$started $i"
done
for i in $started; do
    p=""
    eval "p=\$startpid_$i"
    if ! wait "$p"; then
        echo "up: aos_vm$i did not start:" >&2
        cat "$STATE/aos_vm$i.start.log" >&2
        exit 1
    fi
done

# The guests are this machine's workload: give libvirt's machine cgroup a
# large CPU weight, so that other programs on the machine (builds, fuzzers,
# other checkouts' tests) take little pCPU time from busy vCPUs and the
# measured vCPU times show the guests' own demand.  Set
# AOS_MACHINE_CPU_SHARES=0 to leave the weight alone.
SHARES=${AOS_MACHINE_CPU_SHARES:-10240}
if [ "$SHARES" != 0 ]; then
    if [ -w /sys/fs/cgroup/cpu/machine/cpu.shares ]; then
        echo "$SHARES" >/sys/fs/cgroup/cpu/machine/cpu.shares
    elif [ -w /sys/fs/cgroup/machine/cpu.weight ]; then
        # cgroup v2: weight 1..10000, default 100 (shares 1024).
        w=$((SHARES * 100 / 1024))
        [ "$w" -le 10000 ] || w=10000
        echo "$w" >/sys/fs/cgroup/machine/cpu.weight
    fi
fi

# Disk images of older specifications, once no served overlay is backed
# by them (guests beyond N may still run on one).
for old in "$GUEST_BUILD"/disk-*.img; do
    if [ "$old" = "$BASE" ] || [ ! -e "$old" ]; then
        continue
    fi
    in_use=0
    for ov in "$STATE"/aos_vm*.disk.qcow2; do
        [ -e "$ov" ] || continue
        g=$(basename "$ov" .disk.qcow2)
        # -U: the overlay is open (and locked) by its qemu-nbd.
        if nbd_runs "$g" && qemu-img info -U "$ov" 2>/dev/null | grep -qF "$old"; then
            in_use=1
        fi
    done
    if [ "$in_use" -eq 0 ]; then
        rm -f "$old"
        echo "up: removed $old (an older disk specification)"
    fi
done

if [ -z "$started" ]; then
    echo "up: $N guests already running (aos_vm1..aos_vm$N)"
    exit 0
fi

# Watch all new guests at once, so each one's boot time is its own.
fail=0
booted=""
pending=$started
while [ -n "$pending" ]; do
    still=""
    for i in $pending; do
        name=aos_vm$i
        log=$STATE/$name.console.log
        eval "t0=\$t0_$i"
        if grep -q 'AOS-GUEST-READY' "$log" 2>/dev/null; then
            echo "booting $name ... up in $(elapsed "$t0") s"
            booted="$booted $name"
        elif ! dom_running "$name"; then
            echo "up: $name stopped while booting; tail of its console:" >&2
            tail -n 25 "$log" >&2 || true
            fail=1
        elif awk -v a="$t0" -v b="$(now)" -v t="$BOOT_TIMEOUT" 'BEGIN { exit !(b - a > t) }'; then
            echo "up: $name did not boot within $BOOT_TIMEOUT s; tail of its console:" >&2
            tail -n 25 "$log" >&2 || true
            fail=1
        else
            still="$still $i"
        fi
    done
    pending=$still
    [ -z "$pending" ] || sleep 0.2
done
[ "$fail" -eq 0 ] || exit 1

# The control channel answers, and the balloon reaches its 512 MiB target.
# shellcheck disable=SC2086
/usr/bin/python3 "$HERE/guestctl.py" --uri "$URI" settle $booted ||
    die "guests booted, but did not settle (see above)"
echo "up: $N guests running (aos_vm1..aos_vm$N)"
