"""Shared helpers for the integration tests against the real test host.

(In lib/ so that `ls tests/integration/*.py` lists only tests.)

The tests need tests/host/up.sh to have started 4 guests (make check does
that).  They print TAP: a plan, "ok N - ..." / "not ok N - ...", and "# ..."
comment lines that say what was measured.
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "tests", "host"))

import libvirt  # noqa: E402
import guestctl  # noqa: E402

URI = os.environ.get("AOS_URI", "qemu:///system")
SNAPSHOT_DUMP = os.environ.get("SNAPSHOT_DUMP",
                               os.path.join(ROOT, "tools", "snapshot_dump"))
MIB = 1024  # KiB


class Tap:
    def __init__(self, plan):
        self.n = 0
        self.failed = 0
        print(f"1..{plan}", flush=True)

    def ok(self, cond, desc):
        self.n += 1
        if not cond:
            self.failed += 1
        print(f"{'ok' if cond else 'not ok'} {self.n} - {desc}", flush=True)
        return cond

    def note(self, text):
        for line in str(text).splitlines():
            print(f"# {line}", flush=True)

    def bail(self, why):
        print(f"Bail out! {why}", flush=True)
        sys.exit(1)

    def done(self):
        sys.exit(1 if self.failed else 0)


def snapshot():
    """One snapshot of every domain: {name: {...}} plus its monotonic time
    in seconds.  Uses the project's tools/snapshot_dump (our own snapshot
    code) when it is built, else libvirt's bulk stats directly."""
    if os.access(SNAPSHOT_DUMP, os.X_OK):
        out = subprocess.run([SNAPSHOT_DUMP, "--uri", URI], check=True,
                             capture_output=True, text=True, timeout=30).stdout
        doc = json.loads(out)
        doms = {}
        for d in doc["domains"]:
            b = d.get("balloon", {})
            doms[d["name"]] = {
                "time_ns": sum(v.get("time_ns", 0) for v in d.get("vcpus", [])),
                "delay_ns": sum(v.get("delay_ns", 0) for v in d.get("vcpus", [])),
                "actual_kib": b.get("actual_kib"),
                "unused_kib": b.get("unused_kib"),
            }
        return doc["mono_us"] / 1e6, doms, "tools/snapshot_dump"
    conn = libvirt.open(URI)
    try:
        t = time.monotonic()
        res = conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_VCPU
                                     | libvirt.VIR_DOMAIN_STATS_BALLOON)
        doms = {}
        for dom, st in res:
            n = st.get("vcpu.current", 0)
            doms[dom.name()] = {
                "time_ns": sum(st.get(f"vcpu.{i}.time", 0) for i in range(n)),
                "delay_ns": sum(st.get(f"vcpu.{i}.delay", 0) for i in range(n)),
                "actual_kib": st.get("balloon.current"),
                "unused_kib": st.get("balloon.unused"),
            }
        return t, doms, "libvirt bulk stats"
    finally:
        conn.close()


def open_guest(tap, name):
    """A Guest with a working control channel and no workloads, or bail."""
    try:
        g = guestctl.Guest(name, uri=URI)
        g.connect(timeout=30)
        g.stop()
        return g
    except (guestctl.GuestError, libvirt.libvirtError) as e:
        tap.bail(f"{name} is not usable (run tests/host/up.sh): {e}")
