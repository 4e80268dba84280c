#!/usr/bin/python3
"""Both daemons as the unprivileged service user, on the real test host
(TAP).

The units run the daemons as the system user aos, a member of group
libvirt, with no capabilities; libvirtd (tests/host/up.sh) gives its
read-write socket to that group, mode 0770.  Here the user is made from
conf/aos.sysusers (with systemd-sysusers, as the package does) unless it
exists, and each daemon runs as it through
`setpriv --reuid aos --regid aos --init-groups`, from a copy of the binary
outside the source tree, with an empty environment:

  1. libvirtd's read-write socket belongs to group libvirt, mode 0770;
  2. the user aos exists in group libvirt, with no capabilities;
  3. memory_coordinator --once as aos sets balloon targets, and libvirt,
     read as root, shows each guest's balloon at the target it logged;
  4. vcpu_scheduler --once as aos pins vCPUs (all of them first allowed on
     every pCPU), and libvirt, read as root, shows each pin it logged;
  5. the metrics file aos wrote is mode 0644, parses with the Prometheus
     parser, and holds the targets and counts of that run;
  6. a metrics file in a directory aos may not write: exit 3, and why;
  7. a user outside group libvirt (nobody): exit 4, and a message naming
     the user and the group.

Every guest's balloon and vCPU affinity is put back as it was found, and
the user is removed again when this test made it.
"""
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

import libvirt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
from common import MIB, ROOT, URI, Tap  # noqa: E402

VCPU = os.environ.get("VCPU_SCHEDULER",
                      os.path.join(ROOT, "vcpu_scheduler", "vcpu_scheduler"))
MEM = os.environ.get("MEMORY_COORDINATOR", os.path.join(
    ROOT, "memory_coordinator", "memory_coordinator"))
SYSUSERS = os.path.join(ROOT, "conf", "aos.sysusers")
SOCK = "/run/libvirt/libvirt-sock"
USER = "aos"
GROUP = "libvirt"
TOL_KIB = 1024


def exists(db, name):
    try:
        db(name)
        return True
    except KeyError:
        return False


def members(group):
    try:
        return grp.getgrnam(group).gr_mem
    except KeyError:
        return []


def as_user(user, argv, cwd="/"):
    """argv run as user (its groups from the group database, or none) as
    the unit runs it: no capability even in the bounding set, no new
    privileges, from /, with nothing of this process's environment."""
    groups = "--init-groups" if user == USER else "--clear-groups"
    pw = pwd.getpwnam(user)
    cmd = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
           groups, "--bounding-set=-all", "--no-new-privs", "env", "-i",
           "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/nonexistent"] + argv
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def decisions(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def guests(conn):
    return {d.name(): d for d in conn.listAllDomains(
        libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}


def actual_kib(dom):
    return dom.memoryStats().get("actual", 0)


def wait_actual(dom, target, limit=15.0):
    t0 = time.monotonic()
    while True:
        a = actual_kib(dom)
        if abs(a - target) <= TOL_KIB or time.monotonic() - t0 > limit:
            return a
        time.sleep(0.2)


class UserMade:
    """The user aos from conf/aos.sysusers, and undoing exactly that."""

    def __init__(self):
        self.had_user = exists(pwd.getpwnam, USER)
        self.had_group = exists(grp.getgrnam, USER)
        self.had_libvirt = exists(grp.getgrnam, GROUP)
        self.was_member = USER in members(GROUP)

    def make(self):
        return subprocess.run(["systemd-sysusers", SYSUSERS],
                              capture_output=True, text=True, timeout=60)

    def undo(self):
        if not self.had_user and exists(pwd.getpwnam, USER):
            subprocess.run(["userdel", USER], check=False)
        if not self.had_group and exists(grp.getgrnam, USER):
            subprocess.run(["groupdel", USER], check=False)
        if self.had_user and not self.was_member and USER in members(GROUP):
            subprocess.run(["gpasswd", "-d", USER, GROUP], check=False,
                           capture_output=True)
        if not self.had_libvirt and exists(grp.getgrnam, GROUP):
            subprocess.run(["groupdel", GROUP], check=False)


def main():
    tap = Tap(7)
    if os.geteuid() != 0:
        tap.bail("must run as root (it makes a user and runs as others)")
    st = os.stat(SOCK) if os.path.exists(SOCK) else None
    sock_group = grp.getgrgid(st.st_gid).gr_name if st else None
    mode = st.st_mode & 0o777 if st else 0
    if not tap.ok(sock_group == GROUP and mode == 0o770,
                  f"{SOCK}: group {sock_group}, mode {mode:o} "
                  f"(libvirtd.conf unix_sock_group, unix_sock_rw_perms)"):
        tap.bail(f"libvirtd's socket is not group {GROUP} 0770: start "
                 f"libvirtd with tests/host/up.sh (stop an older one first)")

    conn = libvirt.open(URI)
    doms = guests(conn)
    if len(doms) < 2:
        tap.bail(f"{len(doms)} guests running; run tests/host/up.sh")
    npcpus = conn.getInfo()[2]
    mem_before = {n: d.info()[2] for n, d in doms.items()}
    pins_before = {n: d.vcpuPinInfo(libvirt.VIR_DOMAIN_AFFECT_LIVE)
                   for n, d in doms.items()}
    user = UserMade()
    tmp = tempfile.mkdtemp(prefix="aos-unpriv-")
    try:
        run(tap, conn, doms, npcpus, user, tmp)
    finally:
        # The host as it was found: balloons, affinity, the user database.
        for n, d in doms.items():
            for v, cpus in enumerate(pins_before[n]):
                d.pinVcpuFlags(v, cpus, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            d.setMemoryFlags(mem_before[n], libvirt.VIR_DOMAIN_AFFECT_LIVE)
        for n, d in doms.items():
            a = wait_actual(d, mem_before[n])
            if abs(a - mem_before[n]) > TOL_KIB:
                tap.note(f"{n}: balloon at {a} KiB, was {mem_before[n]} KiB")
        user.undo()
        shutil.rmtree(tmp, ignore_errors=True)
        conn.close()
    tap.done()


def run(tap, conn, doms, npcpus, user, tmp):
    made = user.make()
    try:
        pw = pwd.getpwnam(USER)
        in_group = USER in members(GROUP) or \
            grp.getgrgid(pw.pw_gid).gr_name == GROUP
    except KeyError:
        pw, in_group = None, False
    caps = {}
    if pw:
        r = as_user(USER, ["grep", "^Cap", "/proc/self/status"])
        caps = dict(line.split(":\t") for line in r.stdout.splitlines())
    tap.ok(pw is not None and in_group and pw.pw_uid < 1000
           and len(caps) == 5
           and set(caps.values()) == {"0000000000000000"},
           f"user {USER} (system UID {pw.pw_uid if pw else '?'}) in group "
           f"{GROUP}, made by systemd-sysusers: {'no' if user.had_user else 'yes'}; "
           f"capabilities as run: "
           f"{' '.join(f'{k} {v}' for k, v in sorted(caps.items())) or '?'}")
    if not pw:
        tap.note(made.stderr)
        tap.bail(f"no user {USER}")

    # The programs outside the source tree, readable by everyone; the
    # files they write in a directory of the user's.
    os.chmod(tmp, 0o755)
    bindir = os.path.join(tmp, "bin")
    out = os.path.join(tmp, "out")
    os.makedirs(bindir)
    os.makedirs(out)
    os.chown(out, pw.pw_uid, pw.pw_gid)
    vcpu = shutil.copy(VCPU, bindir)
    mem = shutil.copy(MEM, bindir)

    # 3: balloon targets.  A need above what the guests have makes every
    # guest grow, which no guest can come to harm from.
    mconf = os.path.join(tmp, "mem.conf")
    mlog = os.path.join(out, "mem.jsonl")
    mprom = os.path.join(out, "mem.prom")
    with open(mconf, "w") as f:
        f.write(f"[daemon]\nuri={URI}\ninterval=1\ndecision_log={mlog}\n"
                f"metrics_file={mprom}\n[memory]\nmin_unused_mib=600\n")
    r = as_user(USER, [mem, "--config", mconf, "--once"])
    grown = [d for d in decisions(mlog)
             if d.get("action") == "balloon" and d.get("ok")]
    reached = {}
    for d in grown:
        dom = doms.get(d["domain"])
        if dom:
            reached[d["domain"]] = (wait_actual(dom, d["new_kib"]),
                                    d["new_kib"])
    tap.note(f"memory_coordinator as {USER}: exit {r.returncode}; "
             + "; ".join(f"{n} {a // MIB} MiB (target {t // MIB})"
                         for n, (a, t) in sorted(reached.items())))
    tap.ok(r.returncode == 0 and len(grown) >= 1 and all(
        abs(a - t) <= TOL_KIB for a, t in reached.values())
        and len(reached) == len(grown),
        f"memory_coordinator --once as {USER}: {len(grown)} balloon "
        f"targets set, each reached as libvirt shows it to root",
    ) or tap.note(r.stderr[-2000:])

    # 4: pins.  Every vCPU allowed everywhere first, so there is a pin to
    # make; the policy pins on a host it does not call idle.
    for d in doms.values():
        for v in range(len(d.vcpuPinInfo(libvirt.VIR_DOMAIN_AFFECT_LIVE))):
            d.pinVcpuFlags(v, (True,) * npcpus, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    vconf = os.path.join(tmp, "vcpu.conf")
    vlog = os.path.join(out, "vcpu.jsonl")
    vprom = os.path.join(out, "vcpu.prom")
    with open(vconf, "w") as f:
        f.write(f"[daemon]\nuri={URI}\ninterval=1\ndecision_log={vlog}\n"
                f"metrics_file={vprom}\n[vcpu]\nidle_util=0\n")
    r = as_user(USER, [vcpu, "--config", vconf, "--once"])
    pins = [d for d in decisions(vlog) if d.get("action") == "pin"
            and d.get("ok")]
    held = []
    for d in pins:
        info = doms[d["domain"]].vcpuPinInfo(libvirt.VIR_DOMAIN_AFFECT_LIVE)
        allowed = [c for c, on in enumerate(info[d["vcpu"]]) if on]
        held.append(allowed == [d["to"]])
        tap.note(f"{d['domain']} vCPU {d['vcpu']} -> pCPU {d['to']}: "
                 f"libvirt shows affinity {allowed}")
    tap.ok(r.returncode == 0 and len(pins) >= 1 and all(held),
           f"vcpu_scheduler --once as {USER}: {len(pins)} pins made, each "
           f"as libvirt shows it to root") or tap.note(r.stderr[-2000:])

    # 5: the metrics file of the memory run, as aos wrote it.
    try:
        from prometheus_client.parser import text_string_to_metric_families
        st = os.stat(mprom)
        with open(mprom) as f:
            text = f.read()
        samples = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                samples[(s.name, s.labels.get("domain"))] = s.value
        tap.note("metrics file of the memory run (excerpt):")
        tap.note("\n".join(line for line in text.splitlines()
                           if not line.startswith("#"))[:3000])
        applied = sum(1 for d in decisions(mlog) if d.get("ok"))
        targets_ok = all(
            samples.get(("memory_coordinator_balloon_target_bytes",
                         d["domain"])) == d["new_kib"] * 1024 for d in grown)
        ok = (st.st_uid == pw.pw_uid and st.st_mode & 0o777 == 0o644
              and targets_ok
              and samples.get(("memory_coordinator_guests_running", None))
              == len(doms)
              and samples.get(("memory_coordinator_actions_applied_total",
                               None)) == applied)
        detail = f"owner uid {st.st_uid}, mode {st.st_mode & 0o777:o}"
    except (OSError, ValueError) as e:
        ok, detail = False, repr(e)
    tap.ok(ok, f"metrics file written by {USER}: {detail}; balloon targets, "
           f"guests running and actions applied as the run logged them")

    # 6: a metrics directory the user may not write.
    r = as_user(USER, [mem, "1", "--once", "--metrics-file",
                       os.path.join(tmp, "bin", "m.prom")])
    tap.ok(r.returncode == 3 and "cannot write metrics file" in r.stderr
           and "Permission denied" in r.stderr,
           f"metrics file in a directory {USER} may not write: exit "
           f"{r.returncode}: {r.stderr.strip()}")

    # 7: a user outside the group.
    r = as_user("nobody", [vcpu, "1", "--once"])
    want = "user nobody may not use libvirtd's socket"
    tap.ok(r.returncode == 4 and "Permission denied" in r.stderr
           and want in r.stderr,
           f"as nobody (not in {GROUP}): exit {r.returncode}: "
           f"{r.stderr.strip()}")


if __name__ == "__main__":
    main()
