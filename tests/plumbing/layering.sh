#!/bin/sh
# The layering of the tree (README, "Layout"), checked (TAP):
#   common-knows-no-daemon  no file of common/ includes a header of a
#                           daemon's folder;
#   common-knows-no-migration  no file of common/ includes a header of
#                           migration/ (the daemons wire it in through a
#                           hook of their DaemonOps);
#   migration-knows-no-daemon  no file of migration/ includes a header of
#                           a daemon's folder;
#   daemons-apart           a daemon includes no header of the other;
#   policies-pure           a policy file (pure by design: policy*.c,
#                           assign.c, estimate.c, bounds.c, stats_period.c,
#                           domain_rules.c, slots.c, cpuset.c,
#                           topology.c, xml_read.c, and migration's
#                           migrate.c, migrate_history.c, tsc.c)
#                           calls no vir* function, reads no clock and
#                           includes none of the I/O modules (conn.h,
#                           collect.h, daemon.h).
# Then every check is run on copies of the tree with a violation planted,
# and must find it, so none of them passes by finding nothing to look at.
#
#   layering.sh [ROOT]     ROOT defaults to the tree this script is in
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
DAEMONS="vcpu_scheduler memory_coordinator"

# The headers of folder $2 that common/ does not have too.
daemon_headers() {
    for h in "$1/$2"/*.h; do
        [ -e "$h" ] || continue
        b=$(basename "$h")
        [ -e "$1/common/$b" ] || echo "$b"
    done
}

# Prints the lines of files in folder $2 that include a header of one of
# the folders after it.
includes_of() {
    root=$1
    from=$2
    shift 2
    for d in "$@"; do
        grep -Hn "^#include.*$d/" "$root/$from"/*.[ch] 2>/dev/null
        for h in $(daemon_headers "$root" "$d"); do
            grep -Hn "^#include \"$h\"" "$root/$from"/*.[ch] 2>/dev/null
        done
    done
}

# Prints "file: what" for each violation of check $2 under root $1.
violations() {
    root=$1
    case "$2" in
    common-knows-no-daemon)
        includes_of "$root" common $DAEMONS
        ;;
    common-knows-no-migration)
        includes_of "$root" common migration
        ;;
    migration-knows-no-daemon)
        includes_of "$root" migration $DAEMONS
        ;;
    daemons-apart)
        for d in $DAEMONS; do
            for o in $DAEMONS; do
                [ "$d" = "$o" ] && continue
                grep -Hn "^#include.*$o/" "$root/$d"/*.[ch] 2>/dev/null
            done
        done
        ;;
    policies-pure)
        for f in "$root"/*/policy*.c "$root"/*/assign.c "$root"/*/estimate.c \
            "$root"/*/bounds.c "$root"/*/stats_period.c \
            "$root"/*/domain_rules.c "$root"/*/slots.c "$root"/*/cpuset.c \
            "$root"/*/topology.c "$root"/*/xml_read.c \
            "$root"/migration/migrate.c "$root"/migration/migrate_history.c \
            "$root"/migration/tsc.c; do
            [ -e "$f" ] || continue
            case "$f" in "$root"/tests/*|"$root"/tools/*) continue ;; esac
            # A call is a name followed by "(": VIR_* constants are fine.
            grep -Hn '\bvir[A-Z][A-Za-z0-9_]*[[:space:]]*(' "$f"
            grep -HnE '\b(g_get_monotonic_time|g_get_real_time|clock_gettime|gettimeofday|time)[[:space:]]*\(' "$f"
            grep -HnE '^#include "(conn|collect|daemon)\.h"' "$f"
        done
        ;;
    esac
}

checks="common-knows-no-daemon common-knows-no-migration migration-knows-no-daemon daemons-apart policies-pure"
plants="common-knows-no-daemon:common/plan.c:#include \"../memory_coordinator/policy.h\"
common-knows-no-daemon:common/plan.c:#include \"vcpu_config.h\"
common-knows-no-migration:common/daemon.c:#include \"migrate_exec.h\"
common-knows-no-migration:common/config.c:#include \"../migration/peer_entry.h\"
migration-knows-no-daemon:migration/migrate.c:#include \"mem_config.h\"
daemons-apart:vcpu_scheduler/apply.c:#include \"../memory_coordinator/bounds.h\"
policies-pure:memory_coordinator/policy_course.c:static void f(void) { virDomainFree(NULL); }
policies-pure:vcpu_scheduler/assign.c:static gint64 f(void) { return g_get_monotonic_time(); }
policies-pure:memory_coordinator/stats_period.c:#include \"conn.h\"
policies-pure:migration/migrate.c:static gint64 f(void) { return g_get_real_time(); }"

nchecks=$(echo "$checks" | wc -w)
nplants=$(echo "$plants" | grep -c .)
echo "1..$((nchecks + nplants))"
root=${1:-$here}
n=0
fail=0
for c in $checks; do
    n=$((n + 1))
    found=$(violations "$root" "$c")
    if [ -z "$found" ]; then
        echo "ok $n - $c"
    else
        fail=$((fail + 1))
        echo "not ok $n - $c"
        echo "$found" | sed "s|$root/||; s/^/#   /"
    fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "$plants" | while IFS=: read -r c file line; do
    n=$((n + 1))
    rm -rf "$tmp/tree"
    mkdir -p "$tmp/tree"
    for d in common migration $DAEMONS; do
        cp -r "$root/$d" "$tmp/tree/$d"
    done
    printf '%s\n' "$line" >>"$tmp/tree/$file"
    if violations "$tmp/tree" "$c" | grep -q "$file"; then
        echo "ok $n - $c finds a planted violation in $file"
    else
        echo "not ok $n - $c misses a planted violation in $file: $line"
        exit 1
    fi
done || fail=$((fail + 1))
[ "$fail" -eq 0 ]
