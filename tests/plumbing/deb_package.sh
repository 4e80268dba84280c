#!/bin/sh
# The Debian package on this machine (TAP): built by `make deb`, checked by
# lintian, installed with dpkg, run from its installed paths (as root and as
# its user aos, against libvirt's in-process test:///default driver),
# reinstalled over a changed conffile, removed, purged.  Then the machine is
# put back as it was and that is checked too: the user and groups the
# install made are deleted again (Debian's purge keeps system users, so the
# test does that part itself).
#
# Installing a package changes the machine for everyone on it, so this
# refuses to start (a failure, not a skip) when any of the package's files,
# /var/log/aos or the package itself is already there, and a trap undoes a
# run that fails halfway.  Needs root, like the rest of `make check`.
# Takes 50-90 s: the package build 20-55 s (2 cores, more when the machine
# is busy), lintian ~25 s, dpkg ~10 s.
set -u

# Two runs at once would install and purge under each other.
if [ -z "${AOS_DEB_TEST_LOCKED:-}" ]; then
    AOS_DEB_TEST_LOCKED=1 exec flock -w 900 /tmp/aos-deb-package.lock "$0" "$@"
fi
cd "$(dirname "$0")/../.." || exit 1

PKG=aos
DAEMONS="vcpu_scheduler memory_coordinator"
UNITS="vcpu-scheduler.service memory-coordinator.service"
CONFFILES="/etc/aos/vcpu-scheduler.conf /etc/aos/vcpu-scheduler.env
/etc/aos/memory-coordinator.conf /etc/aos/memory-coordinator.env"
WANTS=/etc/systemd/system/multi-user.target.wants
DSH_STATE=/var/lib/systemd/deb-systemd-helper-enabled
# Where the package puts things (or makes systemd, deb-systemd-helper and
# dpkg put them): compared before install and after purge.
TREES="/etc/aos /etc/systemd/system /lib/systemd/system /usr/lib/sysusers.d
$DSH_STATE /var/log/aos /usr/sbin /usr/bin /usr/share/man/man1
/usr/share/man/man8 /usr/share/doc/$PKG"
USERDB="passwd group shadow gshadow"
TOTAL=17

start=$(date +%s)
tmp=$(mktemp -d)
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $*"; }
indent() { sed 's/^/#   /'; }
check() { # check DESCRIPTION FILE-WITH-PROBLEMS
    if [ -s "$2" ]; then
        notok "$1"
        indent <"$2"
    else
        ok "$1"
    fi
    rm -f "$2"
}
bail() { # the rest cannot run: report each remaining point as failed
    notok "$1"
    while [ "$n" -lt "$TOTAL" ]; do
        notok "not run: $1"
    done
    exit 1
}

# The state of the machine this test may touch, without times.
trees() {
    for d in $TREES; do
        [ -e "$d" ] && find "$d" -printf '%p %y %u:%g %m %l\n'
    done | sort
    ls /var/lib/dpkg/info/"$PKG".* /var/lib/dpkg/info/"$PKG"-dbgsym.* 2>/dev/null
    grep -x "Package: $PKG" /var/lib/dpkg/status
    grep -x "Package: $PKG-dbgsym" /var/lib/dpkg/status
}
has_user() { getent passwd "$1" >/dev/null; }
has_group() { getent group "$1" >/dev/null; }
in_group() { getent group "$2" | cut -d: -f4 | tr , '\n' | grep -qx "$1"; }
pkg_status() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null; }
# A program running from the installed path, whoever started it.
running() {
    for exe in /proc/[0-9]*/exe; do
        readlink "$exe" 2>/dev/null
    done | grep -x "/usr/sbin/$1" >/dev/null
}

installed_by_us=0
masked_by_us=0
restored=0
undo() {
    [ "$restored" = 1 ] && return
    restored=1
    if [ "$installed_by_us" = 1 ] && [ -n "$(pkg_status "$PKG")" ]; then
        echo "# undo: purging $PKG"
        dpkg --purge "$PKG" </dev/null >"$tmp/undo.log" 2>&1 ||
            indent <"$tmp/undo.log"
    fi
    if [ "$masked_by_us" = 1 ]; then
        # shellcheck disable=SC2086
        systemctl --runtime unmask $UNITS >/dev/null 2>&1
    fi
    # What the package's sysusers.d file made, and only that.
    [ "${had_user:-1}" = 0 ] && has_user aos && userdel aos
    [ "${had_group_aos:-1}" = 0 ] && has_group aos && groupdel aos
    [ "${had_group_libvirt:-1}" = 0 ] && has_group libvirt && groupdel libvirt
    if [ "${aos_in_libvirt:-1}" = 0 ] && has_group libvirt && in_group aos libvirt; then
        gpasswd -d aos libvirt >/dev/null
    fi
    # The user database is then as it was; its tools also rewrote their
    # backups (passwd- ...) and the files' times, which are put back when
    # nobody else changed the database meanwhile.
    if [ -d "$tmp/userdb" ]; then
        same=1
        for f in $USERDB; do
            cmp -s "/etc/$f" "$tmp/userdb/$f" || same=0
        done
        if [ "$same" = 1 ]; then
            for f in $USERDB; do
                touch -r "$tmp/userdb/$f" "/etc/$f"
                [ -f "$tmp/userdb/$f-" ] && cp -p "$tmp/userdb/$f-" "/etc/$f-"
            done
        fi
    fi
}
finish() {
    undo
    rm -rf "$tmp"
}
trap finish EXIT
trap 'exit 1' INT TERM HUP

echo "1..$TOTAL"

# 1: tools.  Without them nothing here can run, and that is a failure.
missing=
for tool in git make dpkg-buildpackage dh lintian dpkg dpkg-deb dpkg-query \
    systemd-sysusers deb-systemd-helper runuser userdel groupdel gpasswd \
    man flock; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -n "$missing" ] && bail "tools present (missing:$missing; make deps installs them)"
[ "$(id -u)" -ne 0 ] && bail "running as root (installing a package needs it)"
ok "tools present, running as root (debhelper $(dpkg-query -W -f='${Version}' debhelper), lintian $(dpkg-query -W -f='${Version}' lintian))"

# 2: a machine the test can give back as it found it.
had_user=0; has_user aos && had_user=1
had_group_aos=0; has_group aos && had_group_aos=1
had_group_libvirt=0; has_group libvirt && had_group_libvirt=1
aos_in_libvirt=0; [ "$had_group_libvirt" = 1 ] && in_group aos libvirt && aos_in_libvirt=1
mkdir -p "$tmp/userdb"
for f in $USERDB; do
    cp -p "/etc/$f" "$tmp/userdb/"
    [ -f "/etc/$f-" ] && cp -p "/etc/$f-" "$tmp/userdb/"
done
trees >"$tmp/trees.before"
st=$(pkg_status "$PKG")
if [ -n "$st" ] && [ "$st" != "un " ] && [ "$st" != "pn " ]; then
    bail "$PKG is already on this machine (dpkg status '$st'); the test would replace it"
fi
if [ -e /var/log/aos ]; then
    bail "/var/log/aos exists; a purge would delete it"
fi
ok "machine clean: $PKG not installed, no /var/log/aos (user aos existed: $had_user, group libvirt existed: $had_group_libvirt)"

# 3: make deb, in a directory of its own so the tree's build/deb is left
# alone.  The unit tests ran in their own suite, so the package build skips
# them; the caller's make settings (SANITIZE=, -j) are not the package's.
b0=$(date +%s)
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL DEB_BUILD_OPTIONS=nocheck \
    make --no-print-directory deb SANITIZE= DEB_OUT="$tmp/deb" >"$tmp/build.log" 2>&1; then
    build_ok=1
else
    build_ok=0
fi
arch=$(dpkg --print-architecture)
version=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
deb=$tmp/deb/${PKG}_${version}_$arch.deb
dbg=$tmp/deb/${PKG}-dbgsym_${version}_$arch.deb
if [ "$build_ok" = 0 ] || [ ! -f "$deb" ]; then
    tail -n 20 "$tmp/build.log" | indent
    bail "make deb built $deb"
fi
# The changelog's version is the one the packaged programs print.
: >"$tmp/p"
[ -f "$dbg" ] || echo "no $dbg" >>"$tmp/p"
mkdir -p "$tmp/x"
dpkg-deb -x "$deb" "$tmp/x"
for d in $DAEMONS; do
    v=$("$tmp/x/usr/sbin/$d" --version 2>&1 | head -n 1)
    [ "$v" = "$d $version" ] || echo "$d --version says '$v', debian/changelog $version" >>"$tmp/p"
done
check "make deb built $(basename "$deb") and $(basename "$dbg") in $(( $(date +%s) - b0 )) s, version $version as the daemons print" "$tmp/p"

# 4: lintian, on both packages through the .changes.
if lintian --fail-on error,warning "$tmp/deb/${PKG}_${version}_$arch.changes" \
    >"$tmp/lintian.log" 2>&1; then
    grep -v 'root privileges is not recommended' "$tmp/lintian.log" | indent
    ok "lintian: no errors or warnings"
else
    notok "lintian reports errors or warnings"
    grep -v 'root privileges is not recommended' "$tmp/lintian.log" | indent
fi

# 5: the contents, before anything is installed.
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' >"$tmp/contents"
: >"$tmp/p"
for f in /usr/sbin/vcpu_scheduler /usr/sbin/memory_coordinator \
    /usr/sbin/migrate_request /usr/bin/tsc_calc /usr/bin/snapshot_dump \
    /lib/systemd/system/vcpu-scheduler.service \
    /lib/systemd/system/memory-coordinator.service \
    /usr/lib/sysusers.d/aos.conf $CONFFILES \
    /usr/share/man/man8/vcpu_scheduler.8.gz \
    /usr/share/man/man8/memory_coordinator.8.gz \
    /usr/share/man/man8/migrate_request.8.gz \
    /usr/share/man/man1/tsc_calc.1.gz /usr/share/man/man1/snapshot_dump.1.gz \
    /usr/share/doc/aos/copyright; do
    grep -qx "$f" "$tmp/contents" || echo "missing $f" >>"$tmp/p"
done
grep -e '^/usr/local' -e 'tick_bench' "$tmp/contents" | sed 's/^/unexpected /' >>"$tmp/p"
# The notify protocol's library, found by dpkg-shlibdeps in the binaries.
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libsystemd0 libvirt0; do
    printf '%s\n' "$depends" | tr ',' '\n' | grep -q "^ *$lib\b" ||
        echo "Depends lacks $lib: $depends" >>"$tmp/p"
done
for u in $UNITS; do
    d=$(echo "$u" | sed 's/\.service$//; s/-/_/')
    grep -qx "ExecStart=/usr/sbin/$d .*" "$tmp/x/lib/systemd/system/$u" ||
        echo "$u: ExecStart= is not /usr/sbin/$d: $(grep ExecStart= "$tmp/x/lib/systemd/system/$u")" >>"$tmp/p"
done
check "contents: daemons and migrate_request in /usr/sbin, tools in /usr/bin, units run /usr/sbin, configs, sysusers.d, man pages; nothing in /usr/local; Depends has libsystemd0 and libvirt0 from the binaries" "$tmp/p"

# Where systemd runs, the postinst would start the daemons on this
# machine's guests: a runtime mask keeps them from starting.
systemd_runs=0
if [ -d /run/systemd/system ]; then
    systemd_runs=1
    # shellcheck disable=SC2086
    systemctl --runtime mask $UNITS >/dev/null 2>&1 && masked_by_us=1
fi

# 6: install.  No terminal: a question from dpkg would fail the install.
installed_by_us=1
if LC_ALL=C dpkg -i "$deb" </dev/null >"$tmp/install.log" 2>&1 &&
    [ "$(pkg_status "$PKG")" = "ii " ]; then
    ok "dpkg -i $(basename "$deb"): status ii"
    indent <"$tmp/install.log"
else
    indent <"$tmp/install.log"
    bail "dpkg -i $(basename "$deb")"
fi

# 7: the user, as sysusers.d/aos.conf describes it.
: >"$tmp/p"
if ! has_user aos; then
    echo "no user aos" >>"$tmp/p"
else
    IFS=: read -r _ _ uid gid _ home shell <<EOF
$(getent passwd aos)
EOF
    sys_max=$(awk '$1 == "SYS_UID_MAX" { print $2 }' /etc/login.defs)
    [ "$uid" -le "${sys_max:-999}" ] || echo "UID $uid is not a system UID" >>"$tmp/p"
    [ "$(getent group "$gid" | cut -d: -f1)" = aos ] || echo "primary group $gid is not aos" >>"$tmp/p"
    in_group aos libvirt || echo "aos is not in group libvirt" >>"$tmp/p"
    [ "$shell" = /usr/sbin/nologin ] || echo "shell $shell" >>"$tmp/p"
    [ "$home" = /nonexistent ] || echo "home $home" >>"$tmp/p"
    [ -e /nonexistent ] && echo "/nonexistent was created" >>"$tmp/p"
fi
check "user aos: system UID, group aos, member of libvirt, shell nologin, no home ($(id aos 2>&1))" "$tmp/p"

# 8: files where they belong, conffiles known to dpkg, man pages found.
: >"$tmp/p"
for f in /usr/sbin/vcpu_scheduler /usr/sbin/memory_coordinator \
    /usr/sbin/migrate_request /usr/bin/tsc_calc /usr/bin/snapshot_dump; do
    [ -x "$f" ] || echo "$f not executable" >>"$tmp/p"
done
for u in $UNITS; do
    [ -f "/lib/systemd/system/$u" ] || echo "no /lib/systemd/system/$u" >>"$tmp/p"
done
dpkg-query -W -f='${Conffiles}\n' "$PKG" | awk 'NF { print $1 }' | sort >"$tmp/conffiles"
# shellcheck disable=SC2086 # one path a word
printf '%s\n' $CONFFILES | sort | diff "$tmp/conffiles" - | sed 's/^/conffiles: /' >>"$tmp/p"
for f in $CONFFILES; do
    [ -f "$f" ] || echo "no $f" >>"$tmp/p"
done
for page in vcpu_scheduler memory_coordinator migrate_request tsc_calc snapshot_dump; do
    w=$(man -w "$page" 2>/dev/null)
    case "$w" in
    /usr/share/man/man[18]/"$page".[18].gz) ;;
    *) echo "man -w $page: '$w'" >>"$tmp/p" ;;
    esac
done
check "installed: programs, units in /lib/systemd/system, 4 conffiles registered in /etc/aos, man -w finds 5 pages" "$tmp/p"

# 9: enabled the Debian way, and not started.  Without systemd the
# postinst's start (deb-systemd-invoke, only when /run/systemd/system
# exists) is skipped; deb-systemd-helper still makes the links and records
# them, so that purge removes them.
: >"$tmp/p"
for u in $UNITS; do
    [ "$(readlink "$WANTS/$u")" = "/lib/systemd/system/$u" ] ||
        echo "$WANTS/$u -> '$(readlink "$WANTS/$u")'" >>"$tmp/p"
    [ -e "$DSH_STATE/multi-user.target.wants/$u" ] ||
        echo "deb-systemd-helper has no record of $u" >>"$tmp/p"
done
for d in $DAEMONS; do
    running "$d" && echo "/usr/sbin/$d is running" >>"$tmp/p"
done
if [ "$systemd_runs" = 1 ]; then
    how="systemd runs here: masked at runtime for the test"
else
    how="systemd not running: postinst skipped the start"
fi
check "units enabled (multi-user.target.wants links, deb-systemd-helper state) and not started ($how)" "$tmp/p"

# 10, 11: the daemons from /usr/sbin, as root, one dry tick each.
for d in memory_coordinator vcpu_scheduler; do
    out=$("/usr/sbin/$d" 0.2 --once --dry-run --uri test:///default 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q '^plan: '; then
        ok "/usr/sbin/$d 0.2 --once --dry-run --uri test:///default: exit 0, $(printf '%s\n' "$out" | grep '^plan: ' | head -n 1)"
    else
        notok "/usr/sbin/$d --once --dry-run --uri test:///default: exit $rc, no plan"
        printf '%s\n' "$out" | indent
    fi
done

# 12: as the unit runs them: user aos, the installed configs, no home, an
# empty environment; the tools from /usr/bin likewise.
: >"$tmp/p"
as_aos() { (cd / && runuser -u aos -- env -i HOME=/nonexistent PATH=/usr/sbin:/usr/bin "$@"); }
for d in $DAEMONS; do
    conf=/etc/aos/$(echo "$d" | tr _ -).conf
    out=$(as_aos "/usr/sbin/$d" --config "$conf" --once --dry-run --uri test:///default 2>&1)
    rc=$?
    if [ "$rc" -ne 0 ] || ! printf '%s\n' "$out" | grep -q '^plan: '; then
        echo "$d --config $conf as aos: exit $rc" >>"$tmp/p"
        printf '%s\n' "$out" | sed 's/^/  /' >>"$tmp/p"
    fi
done
out=$(as_aos /usr/bin/snapshot_dump -c test:///default 2>/dev/null)
printf '%s\n' "$out" | grep -q '"domains"' || echo "snapshot_dump as aos: no domains in '$out'" >>"$tmp/p"
out=$(as_aos /usr/bin/tsc_calc --guest-hz 1000000000 --guest-tsc 0 --delta-ns 1000 2>&1)
printf '%s\n' "$out" | grep -q '^new_guest_tsc  *1000 ' || echo "tsc_calc as aos: '$out'" >>"$tmp/p"
check "as user aos: both daemons with /etc/aos configs (dry tick), snapshot_dump and tsc_calc" "$tmp/p"

# 13: a changed conffile survives reinstalling the same package.  dpkg is
# given no --force-conf* option and no terminal: it must keep the file on
# its own, since only the operator changed it.
conf=/etc/aos/vcpu-scheduler.conf
: >"$tmp/p"
sed -i 's/^interval=2$/interval=7/' "$conf"
grep -qx 'interval=7' "$conf" || echo "could not change $conf" >>"$tmp/p"
if ! LC_ALL=C dpkg -i "$deb" </dev/null >"$tmp/reinstall.log" 2>&1; then
    echo "reinstall failed:" >>"$tmp/p"
    sed 's/^/  /' "$tmp/reinstall.log" >>"$tmp/p"
fi
grep -qx 'interval=7' "$conf" || echo "the change was lost: $(grep '^interval=' "$conf")" >>"$tmp/p"
find /etc/aos -name '*.dpkg-*' | sed 's/^/left by dpkg: /' >>"$tmp/p"
[ "$(pkg_status "$PKG")" = "ii " ] || echo "status after reinstall: '$(pkg_status "$PKG")'" >>"$tmp/p"
check "conffile: interval=7 in $conf kept by dpkg -i of the same package (no --force-conf*)" "$tmp/p"

# A decision log as the daemon writes it under its unit (LogsDirectory=
# makes /var/log/aos for user aos), for purge to remove.
install -d -o aos -g aos -m 0755 /var/log/aos
as_aos /usr/sbin/memory_coordinator 0.2 --once --uri test:///default \
    --decision-log /var/log/aos/memory-coordinator.jsonl >/dev/null 2>&1

# 14: remove keeps the configuration (and the enabled links), as Debian does.
: >"$tmp/p"
LC_ALL=C dpkg -r "$PKG" </dev/null >"$tmp/remove.log" 2>&1 ||
    sed 's/^/  /' "$tmp/remove.log" >>"$tmp/p"
[ "$(pkg_status "$PKG")" = "rc " ] || echo "status after remove: '$(pkg_status "$PKG")'" >>"$tmp/p"
for f in /usr/sbin/vcpu_scheduler /usr/sbin/memory_coordinator /usr/bin/tsc_calc \
    /lib/systemd/system/vcpu-scheduler.service; do
    [ -e "$f" ] && echo "$f still there" >>"$tmp/p"
done
for f in $CONFFILES; do
    [ -f "$f" ] || echo "$f gone" >>"$tmp/p"
done
check "dpkg -r: status rc, programs and units gone, conffiles kept" "$tmp/p"

# 15: purge leaves nothing: every tree as before the install.
[ -f /var/log/aos/memory-coordinator.jsonl ] && had_log=yes || had_log=no
: >"$tmp/p"
LC_ALL=C dpkg --purge "$PKG" </dev/null >"$tmp/purge.log" 2>&1 ||
    sed 's/^/  /' "$tmp/purge.log" >>"$tmp/p"
[ -z "$(pkg_status "$PKG")" ] || echo "dpkg still knows $PKG: '$(pkg_status "$PKG")'" >>"$tmp/p"
trees >"$tmp/trees.after"
diff "$tmp/trees.before" "$tmp/trees.after" | grep '^[<>]' >>"$tmp/p"
check "dpkg --purge: no dpkg status, /etc/aos, units, enable links, /usr files or /var/log/aos (it held a decision log: $had_log) left" "$tmp/p"

# 16: purge keeps the system user, as Debian does (see debian/aos.postrm).
if has_user aos; then
    ok "purge kept the system user aos (Debian practice; this test deletes it next)"
else
    notok "purge deleted the user aos"
fi

# 17: the machine as before: the test's own undo, then the user database.
undo
: >"$tmp/p"
for f in $USERDB; do
    cmp -s "/etc/$f" "$tmp/userdb/$f" || echo "/etc/$f differs from before the test" >>"$tmp/p"
done
trees >"$tmp/trees.end"
diff "$tmp/trees.before" "$tmp/trees.end" | grep '^[<>]' >>"$tmp/p"
check "machine as before: user database and package trees unchanged" "$tmp/p"

echo "# deb_package took $(( $(date +%s) - start )) s"
[ "$fail" -eq 0 ]
